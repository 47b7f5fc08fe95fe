//! Network Layer Reachability Information of the families evpnd speaks: IPv4/IPv6 unicast
//! (RFC 4271 §4.3, RFC 4760 §5), Route Target membership (RFC 4684 §4) and EVPN (RFC 7432
//! §7), each optionally preceded by an ADD-PATH path identifier (RFC 7911 §3).

use crate::error::Malformation;
use crate::evpn::{decode_evpn, EvpnDecoded, EvpnRoute};
use crate::reader::Reader;
use crate::types::{Family, IpPrefix};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Route Target membership NLRI (RFC 4684 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RtMembership {
    /// The default route (prefix length 0): "send me every route".
    Default,
    /// `origin_as` wants routes carrying route targets that match the first `rt_len` bits of
    /// `route_target` (bits beyond `rt_len` are zero).
    Target {
        /// The AS of the speaker that originated the membership.
        origin_as: u32,
        /// Number of significant bits of `route_target`, 0..=64.
        rt_len: u8,
        /// The route target extended community, masked to `rt_len` bits.
        route_target: [u8; 8],
    },
}

impl RtMembership {
    /// Membership of `origin_as` in the full route target `route_target`.
    pub fn exact(origin_as: u32, route_target: [u8; 8]) -> Self {
        RtMembership::Target {
            origin_as,
            rt_len: 64,
            route_target,
        }
    }

    /// Membership with only the first `rt_len` bits of `route_target` significant; `None` when
    /// `rt_len` exceeds 64.
    pub fn partial(origin_as: u32, rt_len: u8, route_target: [u8; 8]) -> Option<Self> {
        if rt_len > 64 {
            return None;
        }
        let mask = u64::MAX.checked_shl(64 - u32::from(rt_len)).unwrap_or(0);
        let rt = (u64::from_be_bytes(route_target) & mask).to_be_bytes();
        Some(RtMembership::Target {
            origin_as,
            rt_len,
            route_target: rt,
        })
    }

    /// The NLRI length in bits (0 or 32..=96).
    pub fn prefix_len(&self) -> u8 {
        match self {
            RtMembership::Default => 0,
            RtMembership::Target { rt_len, .. } => 32 + rt_len,
        }
    }

    /// True when a route carrying route target `rt` matches this membership.
    pub fn matches(&self, rt: &[u8; 8]) -> bool {
        match self {
            RtMembership::Default => true,
            RtMembership::Target {
                rt_len,
                route_target,
                ..
            } => {
                let mask = u64::MAX.checked_shl(64 - u32::from(*rt_len)).unwrap_or(0);
                u64::from_be_bytes(*rt) & mask == u64::from_be_bytes(*route_target)
            }
        }
    }
}

/// A route of one of the families this codec parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// An IPv4 unicast prefix.
    Ipv4(IpPrefix),
    /// An IPv6 unicast prefix.
    Ipv6(IpPrefix),
    /// A Route Target membership (RFC 4684).
    RtConstraint(RtMembership),
    /// An EVPN route (RFC 7432).
    Evpn(EvpnRoute),
}

impl Route {
    /// The address family the route belongs to.
    pub fn family(&self) -> Family {
        match self {
            Route::Ipv4(_) => Family::IPV4_UNICAST,
            Route::Ipv6(_) => Family::IPV6_UNICAST,
            Route::RtConstraint(_) => Family::RT_CONSTRAINT,
            Route::Evpn(_) => Family::L2VPN_EVPN,
        }
    }
}

/// One NLRI: a route and, with ADD-PATH, its path identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    /// ADD-PATH path identifier (RFC 7911), present when negotiated for the family.
    pub path_id: Option<u32>,
    /// The route.
    pub route: Route,
}

impl Nlri {
    /// An NLRI without path identifier.
    pub fn new(route: Route) -> Self {
        Nlri {
            path_id: None,
            route,
        }
    }

    /// Bytes this NLRI takes on the wire.
    pub fn encoded_len(&self) -> usize {
        let id = if self.path_id.is_some() { 4 } else { 0 };
        id + match &self.route {
            Route::Ipv4(p) | Route::Ipv6(p) => 1 + usize::from(p.len()).div_ceil(8),
            Route::RtConstraint(m) => 1 + usize::from(m.prefix_len()).div_ceil(8),
            Route::Evpn(r) => 2 + r.value_len(),
        }
    }

    /// Appends the NLRI to `out`. The path identifier is written when present; the encoder of
    /// the enclosing message makes sure that matches the session's ADD-PATH state.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(id) = self.path_id {
            out.extend_from_slice(&id.to_be_bytes());
        }
        match &self.route {
            Route::Ipv4(p) | Route::Ipv6(p) => encode_prefix(p, out),
            Route::RtConstraint(m) => {
                out.push(m.prefix_len());
                if let RtMembership::Target {
                    origin_as,
                    rt_len,
                    route_target,
                } = m
                {
                    out.extend_from_slice(&origin_as.to_be_bytes());
                    let n = usize::from(*rt_len).div_ceil(8);
                    out.extend_from_slice(&route_target[..n]);
                }
            }
            Route::Evpn(r) => r.encode(out),
        }
    }
}

fn encode_prefix(p: &IpPrefix, out: &mut Vec<u8>) {
    out.push(p.len());
    let n = usize::from(p.len()).div_ceil(8);
    match p.addr() {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n]),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n]),
    }
}

/// NLRI decoded from one field or attribute.
#[derive(Debug, Default)]
pub(crate) struct NlriList {
    pub routes: Vec<Nlri>,
    /// EVPN routes of unimplemented types skipped by length (RFC 7606 §5.4).
    pub skipped: u32,
    /// Routes that parsed but must be treated as withdrawn (RFC 9136 §3.2), with why.
    pub semantic_errors: Vec<Malformation>,
}

/// Decodes a whole NLRI field of `family` from `r`.
pub(crate) fn decode_nlri_list(
    r: &mut Reader<'_>,
    family: Family,
    add_path: bool,
    field: &'static str,
) -> Result<NlriList, Malformation> {
    let mut out = NlriList {
        routes: Vec::with_capacity(estimate(family, r.remaining())),
        ..NlriList::default()
    };
    while !r.is_empty() {
        let path_id = if add_path {
            let at = r.offset();
            Some(r.u32().ok_or_else(|| {
                Malformation::new(at, field, "path identifier overruns the NLRI field")
            })?)
        } else {
            None
        };
        let route = match family {
            Family::IPV4_UNICAST => Route::Ipv4(decode_prefix(r, false, field)?),
            Family::IPV6_UNICAST => Route::Ipv6(decode_prefix(r, true, field)?),
            Family::RT_CONSTRAINT => Route::RtConstraint(decode_rtc(r, field)?),
            Family::L2VPN_EVPN => {
                let at = r.offset();
                match decode_evpn(r)? {
                    EvpnDecoded::Route(route) => {
                        if let Some(why) = route.semantic_error() {
                            out.semantic_errors.push(Malformation::new(at, field, why));
                        }
                        Route::Evpn(route)
                    }
                    EvpnDecoded::Skipped => {
                        out.skipped = out.skipped.saturating_add(1);
                        continue;
                    }
                }
            }
            _ => {
                return Err(Malformation::new(
                    r.offset(),
                    field,
                    format!("family {family} is not parsed by this codec"),
                ))
            }
        };
        out.routes.push(Nlri { path_id, route });
    }
    Ok(out)
}

fn estimate(family: Family, bytes: usize) -> usize {
    let per_route = match family {
        Family::L2VPN_EVPN => 35,
        Family::RT_CONSTRAINT => 13,
        _ => 4,
    };
    (bytes / per_route).min(16_384)
}

fn decode_prefix(
    r: &mut Reader<'_>,
    v6: bool,
    field: &'static str,
) -> Result<IpPrefix, Malformation> {
    let at = r.offset();
    let len = r
        .u8()
        .ok_or_else(|| Malformation::new(at, field, "missing prefix length"))?;
    let max = if v6 { 128 } else { 32 };
    if len > max {
        return Err(Malformation::new(
            at,
            field,
            format!("prefix length {len} exceeds {max}"),
        ));
    }
    let n = usize::from(len).div_ceil(8);
    let bytes = r.take(n).ok_or_else(|| {
        Malformation::new(
            at,
            field,
            format!("prefix of length {len} overruns the field"),
        )
    })?;
    let addr = if v6 {
        let mut b = [0u8; 16];
        b[..n].copy_from_slice(bytes);
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        let mut b = [0u8; 4];
        b[..n].copy_from_slice(bytes);
        IpAddr::V4(Ipv4Addr::from(b))
    };
    IpPrefix::new(addr, len).ok_or_else(|| Malformation::new(at, field, "invalid prefix"))
}

fn decode_rtc(r: &mut Reader<'_>, field: &'static str) -> Result<RtMembership, Malformation> {
    let at = r.offset();
    let len = r
        .u8()
        .ok_or_else(|| Malformation::new(at, field, "missing prefix length"))?;
    if len == 0 {
        return Ok(RtMembership::Default);
    }
    if !(32..=96).contains(&len) {
        return Err(Malformation::new(
            at,
            field,
            format!("RT membership prefix length {len} (must be 0 or 32..=96, RFC 4684 §4)"),
        ));
    }
    let origin_as = r.u32().ok_or_else(|| {
        Malformation::new(at, field, "RT membership origin AS overruns the field")
    })?;
    let rt_len = len - 32;
    let n = usize::from(rt_len).div_ceil(8);
    let bytes = r.take(n).ok_or_else(|| {
        Malformation::new(at, field, "RT membership route target overruns the field")
    })?;
    let mut rt = [0u8; 8];
    rt[..n].copy_from_slice(bytes);
    RtMembership::partial(origin_as, rt_len, rt)
        .ok_or_else(|| Malformation::new(at, field, "invalid RT membership"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(family: Family, add_path: bool, bytes: &[u8]) -> Result<NlriList, Malformation> {
        decode_nlri_list(&mut Reader::new(bytes, 0), family, add_path, "test")
    }

    #[test]
    fn ipv4_prefixes_decode_and_reject_bad_lengths() {
        let l = decode(
            Family::IPV4_UNICAST,
            false,
            &[24, 192, 0, 2, 0, 32, 198, 51, 100, 1],
        )
        .unwrap();
        // 192.0.2.0/24, the default route 0.0.0.0/0, 198.51.100.1/32.
        assert_eq!(l.routes.len(), 3);
        assert!(matches!(l.routes[1].route, Route::Ipv4(p) if p.is_default()));
        assert!(decode(Family::IPV4_UNICAST, false, &[33, 1, 2, 3, 4, 5]).is_err());
        assert!(decode(Family::IPV4_UNICAST, false, &[24, 192, 0]).is_err());
    }

    #[test]
    fn add_path_ids_are_read() {
        let l = decode(Family::IPV4_UNICAST, true, &[0, 0, 0, 7, 8, 192]).unwrap();
        assert_eq!(l.routes[0].path_id, Some(7));
        assert!(decode(Family::IPV4_UNICAST, true, &[0, 0, 0]).is_err());
    }

    #[test]
    fn rtc_lengths() {
        let l = decode(Family::RT_CONSTRAINT, false, &[0]).unwrap();
        assert_eq!(
            l.routes[0].route,
            Route::RtConstraint(RtMembership::Default)
        );
        let full = [96, 0, 0, 0xfd, 0xe8, 0, 2, 0xfd, 0xe8, 0, 0, 0, 100];
        let l = decode(Family::RT_CONSTRAINT, false, &full).unwrap();
        let m = match l.routes[0].route {
            Route::RtConstraint(m) => m,
            _ => unreachable!(),
        };
        assert!(m.matches(&[0, 2, 0xfd, 0xe8, 0, 0, 0, 100]));
        assert!(!m.matches(&[0, 2, 0xfd, 0xe8, 0, 0, 0, 101]));
        assert!(decode(Family::RT_CONSTRAINT, false, &[16, 0, 1]).is_err());
        assert!(decode(
            Family::RT_CONSTRAINT,
            false,
            &[97, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        )
        .is_err());
    }
}
