//! BGP Roles and the Only-to-Customer attribute (RFC 9234), as pure rules on roles, AS numbers
//! and the OTC value: which role pairs may peer (§4.2, used by the session's OPEN check) and
//! what happens to a route's OTC when it is received from or sent to a neighbour of a given
//! role (§5, used by the RIB). Nothing here knows about sessions or tables.
//!
//! Every rule is written from our side: `local` is the role we have on the session (the value
//! of our BGP Role capability). The neighbour's relation to us follows from it: our role
//! Provider means the neighbour is our Customer, RS means it is an RS-Client, and so on
//! ([`corresponding_role`]).

use evpnd_wire::capability::BgpRole;
use evpnd_wire::Family;

/// The role a neighbour must announce when ours is `local` (RFC 9234 §4.2, Table 2):
/// Provider–Customer, RS–RS-Client and Peer–Peer, each both ways. `None` for an unassigned
/// value, which corresponds to no role.
pub fn corresponding_role(local: BgpRole) -> Option<BgpRole> {
    Some(match local {
        BgpRole::PROVIDER => BgpRole::CUSTOMER,
        BgpRole::CUSTOMER => BgpRole::PROVIDER,
        BgpRole::RS => BgpRole::RS_CLIENT,
        BgpRole::RS_CLIENT => BgpRole::RS,
        BgpRole::PEER => BgpRole::PEER,
        _ => return None,
    })
}

/// True when our role `local` and the neighbour's role `peer` form an allowed pair (RFC 9234
/// §4.2); otherwise the OPEN is refused with Role Mismatch.
pub fn roles_correspond(local: BgpRole, peer: BgpRole) -> bool {
    corresponding_role(local) == Some(peer)
}

/// True for the families the OTC procedures apply to: IPv4 and IPv6 unicast (AFI 1 and 2,
/// SAFI 1). RFC 9234 §5 says they must not be applied to other families by default; there,
/// OTC is carried unchanged like any optional transitive attribute.
pub fn otc_applies(family: Family) -> bool {
    family == Family::IPV4_UNICAST || family == Family::IPV6_UNICAST
}

/// What the ingress procedure of RFC 9234 §5 does with a route received on a session where
/// our role is `local`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtcIngress {
    /// Use the route as received.
    Keep,
    /// Use the route with OTC set to this AS (the neighbour's): it came from a Provider, a
    /// Peer or an RS without OTC.
    Mark(u32),
    /// A route leak: the route is ineligible. The text says which rule.
    Leak(&'static str),
}

/// The ingress procedure of RFC 9234 §5 for a route carrying `otc` (its OTC value, if any)
/// received from the neighbour of AS `peer_asn`, our role being `local`:
/// * OTC from a Customer or an RS-Client (our role Provider or RS): a leak;
/// * OTC from a Peer (our role Peer) with a value other than the Peer's AS: a leak;
/// * no OTC from a Provider, a Peer or an RS (our role Customer, Peer or RS-Client): OTC is
///   added with the neighbour's AS.
///
/// An unassigned role applies no rule.
pub fn otc_ingress(local: BgpRole, peer_asn: u32, otc: Option<u32>) -> OtcIngress {
    match (local, otc) {
        (BgpRole::PROVIDER, Some(_)) => {
            OtcIngress::Leak("OTC received from a Customer (RFC 9234 §5)")
        }
        (BgpRole::RS, Some(_)) => OtcIngress::Leak("OTC received from an RS-Client (RFC 9234 §5)"),
        (BgpRole::PEER, Some(v)) if v != peer_asn => {
            OtcIngress::Leak("OTC from a Peer is not the Peer's AS (RFC 9234 §5)")
        }
        (BgpRole::CUSTOMER | BgpRole::PEER | BgpRole::RS_CLIENT, None) => {
            OtcIngress::Mark(peer_asn)
        }
        _ => OtcIngress::Keep,
    }
}

/// The egress filter of RFC 9234 §5: false when a route carrying `otc` must not be sent on a
/// session where our role is `local`, i.e. a route with OTC to a Provider, a Peer or an RS
/// (our role Customer, Peer or RS-Client).
pub fn otc_egress_allowed(local: BgpRole, otc: Option<u32>) -> bool {
    otc.is_none()
        || !matches!(
            local,
            BgpRole::CUSTOMER | BgpRole::PEER | BgpRole::RS_CLIENT
        )
}

/// The OTC value a route carrying `otc` is sent with on a session where our role is `local`
/// and our AS is `local_asn` (RFC 9234 §5 egress): the route's own OTC, unchanged, when it has
/// one; otherwise our AS when the neighbour is a Customer, a Peer or an RS-Client (our role
/// Provider, Peer or RS), else none.
pub fn otc_egress_value(local: BgpRole, local_asn: u32, otc: Option<u32>) -> Option<u32> {
    otc.or_else(|| {
        matches!(local, BgpRole::PROVIDER | BgpRole::PEER | BgpRole::RS).then_some(local_asn)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [BgpRole; 6] = [
        BgpRole::PROVIDER,
        BgpRole::RS,
        BgpRole::RS_CLIENT,
        BgpRole::CUSTOMER,
        BgpRole::PEER,
        BgpRole(5),
    ];

    #[test]
    fn allowed_pairs_are_exactly_table_2_of_rfc_9234() {
        let allowed = [
            (BgpRole::PROVIDER, BgpRole::CUSTOMER),
            (BgpRole::CUSTOMER, BgpRole::PROVIDER),
            (BgpRole::RS, BgpRole::RS_CLIENT),
            (BgpRole::RS_CLIENT, BgpRole::RS),
            (BgpRole::PEER, BgpRole::PEER),
        ];
        for l in ALL {
            for p in ALL {
                assert_eq!(
                    roles_correspond(l, p),
                    allowed.contains(&(l, p)),
                    "{} / {}",
                    l.name(),
                    p.name()
                );
            }
        }
    }

    #[test]
    fn otc_applies_to_unicast_only() {
        assert!(otc_applies(Family::IPV4_UNICAST));
        assert!(otc_applies(Family::IPV6_UNICAST));
        assert!(!otc_applies(Family::L2VPN_EVPN));
        assert!(!otc_applies(Family::RT_CONSTRAINT));
    }

    #[test]
    fn ingress_rules_per_role() {
        let peer_as = 65002;
        // (our role, OTC received, expected: None = keep, Some(Some(v)) = mark v,
        // Some(None) = leak)
        let cases: [(BgpRole, Option<u32>, Option<Option<u32>>); 12] = [
            (BgpRole::PROVIDER, Some(65009), Some(None)),
            (BgpRole::PROVIDER, None, None),
            (BgpRole::RS, Some(65002), Some(None)),
            (BgpRole::RS, None, None),
            (BgpRole::PEER, Some(65009), Some(None)),
            (BgpRole::PEER, Some(65002), None),
            (BgpRole::PEER, None, Some(Some(65002))),
            (BgpRole::CUSTOMER, None, Some(Some(65002))),
            (BgpRole::CUSTOMER, Some(65009), None),
            (BgpRole::RS_CLIENT, None, Some(Some(65002))),
            (BgpRole::RS_CLIENT, Some(65009), None),
            (BgpRole(5), Some(65009), None),
        ];
        for (role, otc, want) in cases {
            let got = otc_ingress(role, peer_as, otc);
            let got = match got {
                OtcIngress::Keep => None,
                OtcIngress::Mark(v) => Some(Some(v)),
                OtcIngress::Leak(_) => Some(None),
            };
            assert_eq!(got, want, "{} with {otc:?}", role.name());
        }
    }

    #[test]
    fn egress_rules_per_role() {
        let us = 65001;
        for role in ALL {
            let upward = matches!(role, BgpRole::CUSTOMER | BgpRole::PEER | BgpRole::RS_CLIENT);
            let downward = matches!(role, BgpRole::PROVIDER | BgpRole::PEER | BgpRole::RS);
            assert!(otc_egress_allowed(role, None), "{}", role.name());
            assert_eq!(
                otc_egress_allowed(role, Some(65009)),
                !upward,
                "{}",
                role.name()
            );
            // A route's own OTC is never changed.
            assert_eq!(otc_egress_value(role, us, Some(65009)), Some(65009));
            assert_eq!(
                otc_egress_value(role, us, None),
                downward.then_some(us),
                "{}",
                role.name()
            );
        }
    }
}
