//! The invariants checked after every operation (listed in the documentation of
//! [`crate::node_receive`]), and the check of every message we send.

use super::{Harness, FAMILIES, OUR_VTEP};
use evpnd_bgp::rib::{Path, RouteSource};
use evpnd_bgp::PeerId;
use evpnd_evpn::{auto_route_target, DuplicateState, Location};
use evpnd_wire::{
    decode_all, CodecContext, DecodeError, EvpnRoute, ExtendedCommunity, Family, MacAddress,
    Message, Outcome, Route, Vni,
};
use std::collections::HashSet;
use std::net::IpAddr;

impl Harness {
    /// The invariants (see [`crate::node_receive`]).
    pub fn check(&self) {
        assert_eq!(
            self.dp.tables(),
            self.node.expected_dataplane(),
            "the data plane and the engine's tables disagree"
        );
        let rib = self.node.rib();
        let peer = RouteSource::Peer(PeerId(0));
        if !self.established {
            for f in FAMILIES {
                for (route, paths) in rib.loc_rib(f) {
                    for p in paths.iter().filter(|p| p.source == peer) {
                        assert!(
                            p.stale && !self.down_hard,
                            "a path of a neighbour that is down is not stale: {route:?}"
                        );
                    }
                }
            }
        }
        let Some(engine) = self.node.engine() else {
            return;
        };
        // Best type-2 and type-3 paths by (VNI, MAC, VTEP) and (VNI, VTEP).
        let mut macs: HashSet<(Vni, MacAddress, IpAddr)> = HashSet::new();
        let mut floods: HashSet<(Vni, IpAddr)> = HashSet::new();
        let mut imported: Vec<(Vni, MacAddress)> = Vec::new();
        for (_, paths) in rib.loc_rib(Family::L2VPN_EVPN) {
            let Some(best) = paths.first() else {
                continue;
            };
            match &best.route {
                Route::Evpn(EvpnRoute::MacIp(r)) => {
                    let (Some(vni), Some(vtep)) =
                        (Vni::from_label(r.label1), best.attrs.next_hop.ip())
                    else {
                        continue;
                    };
                    macs.insert((vni, r.mac, vtep));
                    if best.source == peer
                        && vtep != IpAddr::V4(OUR_VTEP)
                        && !r.mac.is_multicast()
                        && imports(best, self.setup.local_asn, vni)
                    {
                        imported.push((vni, r.mac));
                    }
                }
                Route::Evpn(EvpnRoute::InclusiveMulticast(_)) => {
                    if let Some(pmsi) = &best.attrs.pmsi_tunnel {
                        if let (evpnd_wire::PmsiTunnelId::IngressReplication(vtep), Some(vni)) =
                            (&pmsi.tunnel, Vni::from_label(pmsi.label))
                        {
                            floods.insert((vni, *vtep));
                        }
                    }
                }
                _ => {}
            }
        }
        for evi in engine.evis() {
            let vni = evi.vni;
            let table = engine.mac_table(vni);
            for m in &table {
                // A duplicate is frozen where it was detected (RFC 7432 §15.1: MAC/IP routes
                // for it are not processed until the freeze ends), route or no route.
                if matches!(m.duplicate, DuplicateState::Frozen { .. }) {
                    continue;
                }
                if let Location::Remote { vtep } = m.origin {
                    assert!(
                        macs.contains(&(vni, m.mac, vtep)),
                        "remote MAC {} in VNI {vni} at {vtep} has no best type-2 path",
                        m.mac
                    );
                }
            }
            for vtep in engine.flood_list(vni) {
                assert!(
                    floods.contains(&(vni, vtep)),
                    "flood entry {vtep} in VNI {vni} has no best type-3 path"
                );
            }
            for (v, mac) in &imported {
                if *v == vni {
                    assert!(
                        table.iter().any(|m| m.mac == *mac),
                        "imported best path of {mac} in VNI {vni} has no MAC entry"
                    );
                }
            }
        }
    }
}

/// True when the path carries the auto route target of `vni` (what the harness's EVIs import).
fn imports(p: &Path, asn: u32, vni: Vni) -> bool {
    let want = ExtendedCommunity::route_target(auto_route_target(asn, vni));
    p.attrs.route_targets().any(|rt| *rt == want)
}

/// Every message we send must decode with the peer's context, and UPDATEs be accepted as they
/// are (we never send a malformed message, RFC 7606 §1). Returns true when `bytes` hold a
/// NOTIFICATION.
pub(super) fn check_sent(ctx: &CodecContext, bytes: &[u8]) -> bool {
    let (msgs, err) = decode_all(ctx, bytes);
    if let Some((at, e)) = err {
        if !matches!(e, DecodeError::Incomplete { .. }) {
            panic!("we sent a message the peer cannot decode (at {at}): {e}");
        }
        panic!("we sent a partial message (at {at})");
    }
    let mut notified = false;
    for d in msgs {
        match d.message {
            Message::Update(_) => assert_eq!(
                d.outcome,
                Outcome::Accept,
                "we sent an UPDATE the peer would not accept as it is"
            ),
            Message::Notification(_) => notified = true,
            _ => {}
        }
    }
    notified
}
