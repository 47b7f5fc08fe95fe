//! The remote claims of one MAC record, stored for the common case.
//!
//! Nearly every remote MAC has exactly one claim: a MAC-only route (no IP) from one IPv4 VTEP.
//! That claim is kept inline in 24 bytes ([`PackedClaim`]: RD, Ethernet tag, VTEP, sequence
//! number and flags; the MAC is the record's own, so it is not repeated). Anything else — a
//! second claim while a move is in flight, a MAC+IP route, an IPv6 VTEP — spills the record's
//! claims into a vector of full [`Claim`]s. Readers always see full claims ([`ClaimsView`]),
//! so the mobility decision (RFC 7432 §15) reads one record as before and stays O(1).

use super::import::ImportKey;
use super::mobility::Claim;
use evpnd_wire::{MacAddress, RouteDistinguisher};
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Deref;

const STICKY: u8 = 1;
const ROUTER: u8 = 2;
const IMMUTABLE: u8 = 4;

/// One MAC-only claim from an IPv4 VTEP, without its MAC (the record's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PackedClaim {
    rd: RouteDistinguisher,
    ethernet_tag: u32,
    vtep: [u8; 4],
    sequence: u32,
    flags: u8,
}

impl PackedClaim {
    /// `c` packed, when it is the common case: a MAC-only route of `mac` from an IPv4 VTEP.
    fn pack(c: &Claim) -> Option<PackedClaim> {
        let ImportKey::MacIp {
            rd,
            ethernet_tag,
            mac,
            ip: None,
        } = c.key
        else {
            return None;
        };
        let IpAddr::V4(vtep) = c.vtep else {
            return None;
        };
        if mac != c.mac {
            return None;
        }
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        let flags = flag(c.sticky, STICKY) | flag(c.router, ROUTER) | flag(c.immutable, IMMUTABLE);
        Some(PackedClaim {
            rd,
            ethernet_tag,
            vtep: vtep.octets(),
            sequence: c.sequence,
            flags,
        })
    }

    /// The full claim on `mac`.
    fn unpack(&self, mac: MacAddress) -> Claim {
        Claim {
            key: ImportKey::MacIp {
                rd: self.rd,
                ethernet_tag: self.ethernet_tag,
                mac,
                ip: None,
            },
            vtep: IpAddr::V4(Ipv4Addr::from(self.vtep)),
            sequence: self.sequence,
            sticky: self.flags & STICKY != 0,
            mac,
            router: self.flags & ROUTER != 0,
            immutable: self.flags & IMMUTABLE != 0,
        }
    }
}

/// The remote claims on one MAC (module notes).
#[derive(Clone, Debug, Default)]
pub(super) enum Claims {
    /// No remote claim.
    #[default]
    Empty,
    /// The common case, packed.
    One(PackedClaim),
    /// Anything else (never empty, never a single packable claim after a removal).
    Many(Vec<Claim>),
}

/// The claims of a record as full [`Claim`]s (a slice).
pub(super) enum ClaimsView<'a> {
    /// The packed claim, unpacked.
    One([Claim; 1]),
    /// The spilled claims (or none).
    Slice(&'a [Claim]),
}

impl Deref for ClaimsView<'_> {
    type Target = [Claim];

    fn deref(&self) -> &[Claim] {
        match self {
            ClaimsView::One(c) => c,
            ClaimsView::Slice(s) => s,
        }
    }
}

impl Claims {
    /// The claims on `mac` (the record's MAC).
    pub(super) fn view(&self, mac: MacAddress) -> ClaimsView<'_> {
        match self {
            Claims::Empty => ClaimsView::Slice(&[]),
            Claims::One(p) => ClaimsView::One([p.unpack(mac)]),
            Claims::Many(v) => ClaimsView::Slice(v),
        }
    }

    /// Whether there is no claim.
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Claims::Empty => true,
            Claims::One(_) => false,
            Claims::Many(v) => v.is_empty(),
        }
    }

    /// Adds a claim on `mac` (the record's MAC).
    pub(super) fn push(&mut self, mac: MacAddress, c: Claim) {
        *self = match std::mem::take(self) {
            Claims::Empty => match PackedClaim::pack(&c) {
                Some(p) if c.mac == mac => Claims::One(p),
                _ => Claims::Many(vec![c]),
            },
            Claims::One(p) => Claims::Many(vec![p.unpack(mac), c]),
            Claims::Many(mut v) => {
                v.push(c);
                Claims::Many(v)
            }
        };
    }

    /// Removes the claims of the route `key` on `mac` (the record's MAC); a single packable
    /// claim left is packed again.
    pub(super) fn remove(&mut self, mac: MacAddress, key: ImportKey) {
        *self = match std::mem::take(self) {
            Claims::Empty => Claims::Empty,
            Claims::One(p) if p.unpack(mac).key == key => Claims::Empty,
            Claims::One(p) => Claims::One(p),
            Claims::Many(mut v) => {
                v.retain(|c| c.key != key);
                match v.as_slice() {
                    [] => Claims::Empty,
                    [c] => match PackedClaim::pack(c) {
                        Some(p) if c.mac == mac => Claims::One(p),
                        _ => Claims::Many(v),
                    },
                    _ => Claims::Many(v),
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const MAC: MacAddress = MacAddress([2, 0, 0, 0, 0, 1]);

    fn claim(vtep: IpAddr, ip: Option<IpAddr>, sequence: u32) -> Claim {
        Claim {
            key: ImportKey::MacIp {
                rd: RouteDistinguisher([0, 1, 198, 19, 0, 2, 0, 100]),
                ethernet_tag: 0,
                mac: MAC,
                ip,
            },
            vtep,
            sequence,
            sticky: true,
            mac: MAC,
            router: false,
            immutable: true,
        }
    }

    #[test]
    fn the_common_claim_is_packed_and_reads_back_whole() {
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        let c = claim(v4, None, 7);
        let mut cs = Claims::default();
        cs.push(MAC, c);
        assert!(matches!(cs, Claims::One(_)));
        assert_eq!(&*cs.view(MAC), &[c]);
        assert!(std::mem::size_of::<Claims>() <= 32);
    }

    #[test]
    fn other_claims_spill_and_a_last_packable_one_packs_again() {
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let ip = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        let ip2 = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
        let (a, b, c) = (claim(v4, None, 1), claim(v4, ip, 1), claim(v6, ip2, 2));
        let mut cs = Claims::default();
        cs.push(MAC, a);
        cs.push(MAC, b);
        assert_eq!(&*cs.view(MAC), &[a, b]);
        cs.push(MAC, c);
        cs.remove(MAC, c.key);
        cs.remove(MAC, b.key);
        assert!(matches!(cs, Claims::One(_)));
        assert_eq!(&*cs.view(MAC), &[a]);
        cs.remove(MAC, a.key);
        assert!(cs.is_empty());
        let mut only_v6 = Claims::default();
        let d = claim(v6, None, 3);
        only_v6.push(MAC, d);
        assert!(matches!(only_v6, Claims::Many(_)));
        assert_eq!(&*only_v6.view(MAC), &[d]);
    }
}
