//! The orchestrator's record: which endpoints it attached where, and therefore where every
//! MAC must end up once the fabric has converged. It is the expectation [`crate::Sim::check`]
//! compares every NVE's tables with, kept apart from the nodes so that a bug in a node cannot
//! bend it.
//!
//! Each `(VNI, MAC)` keeps its claims (the NVEs it is attached to), oldest first. The owner the
//! fabric must agree on follows RFC 7432 §15:
//!
//! * a new non-sticky claim wins over every other non-sticky claim (it is advertised with a
//!   higher MAC mobility sequence number); an NVE whose claim loses withdraws its route but
//!   keeps the claim dormant, with its IPs, until the orchestrator detaches it there;
//! * a sticky claim wins over any non-sticky one; a non-sticky claim made while a sticky one
//!   exists stays dormant too;
//! * when the owner is detached, the newest remaining claim takes over: a dormant claim whose
//!   rival went away is advertised again above every sequence number seen.
//!
//! This holds when the new owner heard of the old claim before it was made (or the old claim
//! was detached first). Two claims made before either NVE heard of the other are decided by
//! the lower VTEP with equal sequence numbers, and so are two or more dormant claims that
//! come back at once when the owner is detached; tests that make such claims use
//! [`crate::Sim::check_agreement`] instead of the exact check.

use evpnd_node::EndpointSpec;
use evpnd_wire::MacAddress;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// One NVE's claim on a MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The NVE (index).
    pub nve: usize,
    /// The IPs bound to the MAC there.
    pub ips: BTreeSet<IpAddr>,
    /// A static MAC (RFC 7432 §15.2).
    pub sticky: bool,
    /// The attachment as last given (flags kept for re-attaching after a restart).
    pub spec: EndpointSpec,
}

/// Every claim of the fabric, by `(VNI, MAC)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    claims: BTreeMap<(u32, MacAddress), Vec<Claim>>,
    /// Every (NVE, VNI, MAC) attached and not detached, whoever won.
    attached: BTreeSet<(usize, u32, MacAddress)>,
}

impl Endpoints {
    /// Records an attachment accepted by NVE `nve`.
    pub fn attach(&mut self, nve: usize, spec: EndpointSpec) {
        self.attached.insert((nve, spec.vni, spec.mac));
        let claims = self.claims.entry((spec.vni, spec.mac)).or_default();
        let mut claim = match claims.iter().position(|c| c.nve == nve) {
            Some(i) => claims.remove(i),
            None => Claim {
                nve,
                ips: BTreeSet::new(),
                sticky: false,
                spec,
            },
        };
        if let Some(ip) = spec.ip {
            claim.ips.insert(ip);
        }
        claim.sticky |= spec.sticky;
        claim.spec = spec;
        // The newest claim: it wins unless a sticky one exists; the others stay dormant.
        claims.push(claim);
    }

    /// Records a detach accepted by NVE `nve`: one IP binding, or the MAC with all of them.
    pub fn detach(&mut self, nve: usize, vni: u32, mac: MacAddress, ip: Option<IpAddr>) {
        if ip.is_none() {
            self.attached.remove(&(nve, vni, mac));
        }
        let Some(claims) = self.claims.get_mut(&(vni, mac)) else {
            return;
        };
        match ip {
            Some(ip) => {
                if let Some(c) = claims.iter_mut().find(|c| c.nve == nve) {
                    c.ips.remove(&ip);
                }
            }
            None => claims.retain(|c| c.nve != nve),
        }
        if claims.is_empty() {
            self.claims.remove(&(vni, mac));
        }
    }

    /// Forgets NVE `nve`'s claims in `vni` (the VNI was removed there).
    pub fn forget_vni(&mut self, nve: usize, vni: u32) {
        self.attached.retain(|(n, v, _)| (*n, *v) != (nve, vni));
        self.claims.retain(|(v, _), claims| {
            if *v == vni {
                claims.retain(|c| c.nve != nve);
            }
            !claims.is_empty()
        });
    }

    /// The claim every NVE must agree on for `(vni, mac)`.
    pub fn owner(&self, vni: u32, mac: MacAddress) -> Option<&Claim> {
        owner_of(self.claims.get(&(vni, mac))?)
    }

    /// Every `(VNI, MAC)` with its owner, in order.
    pub fn owners(&self) -> impl Iterator<Item = ((u32, MacAddress), &Claim)> + '_ {
        self.claims
            .iter()
            .filter_map(|(k, claims)| owner_of(claims).map(|c| (*k, c)))
    }

    /// Every claim of `(vni, mac)`, oldest first.
    pub fn claims(&self, vni: u32, mac: MacAddress) -> &[Claim] {
        self.claims.get(&(vni, mac)).map_or(&[], Vec::as_slice)
    }

    /// The attachments NVE `nve` holds (what the orchestrator gives it again after a
    /// restart), in `(VNI, MAC)` order: one per MAC and one per further IP.
    pub fn attachments_of(&self, nve: usize) -> Vec<EndpointSpec> {
        let mut out = Vec::new();
        for claims in self.claims.values() {
            for c in claims.iter().filter(|c| c.nve == nve) {
                let mut ips = c.ips.iter();
                let mut first = c.spec;
                first.ip = ips.next().copied();
                first.sticky = c.sticky;
                // Flags that need an IP stay with the IP they were given with.
                if first.ip != c.spec.ip {
                    first.router = false;
                    first.static_binding = false;
                }
                out.push(first);
                for ip in ips {
                    let mut more = EndpointSpec::new(c.spec.vni, c.spec.mac, Some(*ip));
                    more.sticky = c.sticky;
                    if Some(*ip) == c.spec.ip {
                        more.router = c.spec.router;
                        more.static_binding = c.spec.static_binding;
                    }
                    out.push(more);
                }
            }
        }
        out
    }

    /// True when the orchestrator attached `mac` in `vni` on NVE `nve` and did not detach it
    /// there (whether or not that claim won).
    pub fn is_attached(&self, nve: usize, vni: u32, mac: MacAddress) -> bool {
        self.attached.contains(&(nve, vni, mac))
    }

    /// Number of `(VNI, MAC)` with at least one claim.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// True when nothing is attached anywhere.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }
}

/// The newest sticky claim, or else the newest claim.
fn owner_of(claims: &[Claim]) -> Option<&Claim> {
    claims
        .iter()
        .rev()
        .find(|c| c.sticky)
        .or_else(|| claims.last())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mac(n: u8) -> MacAddress {
        MacAddress([2, 0, 0, 0, 0, n])
    }

    fn spec(ip: Option<&str>, sticky: bool) -> EndpointSpec {
        let mut s = EndpointSpec::new(100, mac(1), ip.map(|i| i.parse().unwrap()));
        s.sticky = sticky;
        s
    }

    #[test]
    fn the_last_claim_wins_and_a_late_detach_at_the_old_owner_changes_nothing() {
        let mut e = Endpoints::default();
        e.attach(0, spec(Some("192.0.2.1"), false));
        e.attach(1, spec(Some("192.0.2.1"), false));
        assert_eq!(e.owner(100, mac(1)).unwrap().nve, 1);
        // The losing claim is dormant, not gone (RFC 7432 §15 withdraws the route only).
        assert_eq!(e.claims(100, mac(1)).len(), 2);
        e.detach(0, 100, mac(1), None);
        assert_eq!(e.owner(100, mac(1)).unwrap().nve, 1);
        assert!(e.attachments_of(0).is_empty());
        e.detach(1, 100, mac(1), None);
        assert!(e.is_empty());
    }

    #[test]
    fn a_dormant_claim_keeps_its_ips_and_takes_over_when_the_owner_is_detached() {
        let mut e = Endpoints::default();
        e.attach(0, spec(Some("192.0.2.1"), false));
        e.attach(1, spec(None, false));
        assert_eq!(e.attachments_of(0).len(), 1, "given again after a restart");
        e.detach(1, 100, mac(1), None);
        let c = e.owner(100, mac(1)).unwrap();
        assert_eq!(c.nve, 0);
        assert_eq!(c.ips.len(), 1);
        // Attached again, the dormant claim is the newest: it wins.
        e.attach(1, spec(None, false));
        e.attach(0, spec(None, false));
        assert_eq!(e.owner(100, mac(1)).unwrap().nve, 0);
    }

    #[test]
    fn a_sticky_claim_keeps_the_mac_and_a_dormant_one_takes_over_after_it() {
        let mut e = Endpoints::default();
        e.attach(0, spec(None, true));
        e.attach(1, spec(None, false));
        assert_eq!(e.owner(100, mac(1)).unwrap().nve, 0);
        e.detach(0, 100, mac(1), None);
        assert_eq!(e.owner(100, mac(1)).unwrap().nve, 1);
    }

    #[test]
    fn ip_bindings_come_and_go_and_are_given_again_one_by_one() {
        let mut e = Endpoints::default();
        e.attach(0, spec(Some("192.0.2.1"), false));
        e.attach(0, spec(Some("192.0.2.2"), false));
        let again = e.attachments_of(0);
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].ip, Some("192.0.2.1".parse().unwrap()));
        e.detach(0, 100, mac(1), Some("192.0.2.1".parse().unwrap()));
        let c = e.owner(100, mac(1)).unwrap();
        assert_eq!(c.ips.len(), 1);
        e.forget_vni(0, 100);
        assert!(e.is_empty());
    }
}
