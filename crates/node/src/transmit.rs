//! Moving a peer's Adj-RIB-Out into its session: copied into one buffer per peer
//! ([`crate::Output::Send`], the default) or handed over as the update group's shared chunks
//! ([`crate::Output::SendShared`], [`Node::set_shared_transmit`]), so that a route reflector writes
//! one encoding to every client without copying it once per client.

use crate::node::Node;
use crate::peer::PeerSlot;
use evpnd_bgp::rib::Rib;
use evpnd_bgp::PeerId;
use std::time::Instant;

impl Node {
    /// UPDATEs leave as [`crate::Output::SendShared`] (`on`: the RIB's chunks, shared by the peers of
    /// an update group) or as [`crate::Output::Send`] (`off`, the default: one buffer per peer, up to
    /// 64 KiB of whole messages each). The bytes each connection receives are the same either
    /// way; only how they are handed over differs. A driver that writes to sockets turns it
    /// on; the simulator keeps the default.
    pub fn set_shared_transmit(&mut self, on: bool) {
        self.shared_transmit = on;
    }
}

/// Takes the next chunk of `peer`'s Adj-RIB-Out from the RIB into its session, counting it in
/// flight; `false` when nothing is waiting.
pub(crate) fn transmit_one(
    rib: &mut Rib,
    p: &mut PeerSlot,
    peer: PeerId,
    shared: bool,
    now: Instant,
) -> bool {
    if shared {
        let Some(bytes) = rib.poll_transmit_shared(peer) else {
            return false;
        };
        p.inflight += bytes.len();
        p.session.send_updates_shared(bytes, now);
    } else {
        let Some(bytes) = rib.poll_transmit(peer) else {
            return false;
        };
        p.inflight += bytes.len();
        p.session.send_updates(bytes, now);
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::*;
    use evpnd_evpn::{EngineConfig, EviConfig};
    use evpnd_wire::{MacAddress, Vni};
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Instant;

    const ASN: u32 = 65000;

    fn addr(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, n))
    }

    fn rid(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 0, n)
    }

    /// Node `n` (198.18.0.n) with neighbours `peers`, one EVI (VNI 100).
    fn node(n: u8, peers: &[u8], now: Instant) -> Node {
        let mut c = NodeConfig::new(ASN, rid(n));
        for &p in peers {
            let mut nc = NeighborConfig::new(addr(p), ASN, ASN, rid(n));
            nc.peer.passive = n != 1;
            nc.peer.route_reflector_client = n == 1;
            c.neighbors.push(nc);
        }
        c.evpn = Some(EvpnConfig {
            vrfs: Vec::new(),
            engine: EngineConfig::new(ASN, rid(n), IpAddr::V4(rid(n))),
            evis: vec![EviConfig::new(Vni::new(100).unwrap())],
            endpoints: Vec::new(),
        });
        Node::new(c, now).unwrap()
    }

    /// Runs node 1 (which connects) against nodes 2..=k (passive) until quiet, with `mac`
    /// endpoints attached on node 1; returns what node 1 wrote on each connection, in order.
    fn run(shared: bool, k: u8, macs: u16) -> Vec<Vec<u8>> {
        let now = Instant::now();
        let others: Vec<u8> = (2..=k).collect();
        let mut a = node(1, &others, now);
        a.set_shared_transmit(shared);
        let mut bs: Vec<Node> = others.iter().map(|&n| node(n, &[1], now)).collect();
        for i in 0..macs {
            let [hi, lo] = i.to_be_bytes();
            let mac = MacAddress([2, 0, 0, 0, hi, lo]);
            a.command(Command::Attach(EndpointSpec::new(100, mac, None)), now)
                .unwrap();
        }
        // conn of node 1 -> (index of the other node, its conn)
        let mut links: HashMap<ConnId, (usize, ConnId)> = HashMap::new();
        let mut written: HashMap<ConnId, Vec<u8>> = HashMap::new();
        let mut order: Vec<ConnId> = Vec::new();
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(o) = a.poll_output() {
                moved = true;
                match o {
                    Output::Connect { conn, remote, .. } => {
                        let b = others.iter().position(|&n| addr(n) == remote.ip()).unwrap();
                        let acc = bs[b].accept(addr(1), now).unwrap();
                        links.insert(conn, (b, acc.conn));
                        order.push(conn);
                        a.handle(Input::Connected { conn }, now);
                    }
                    Output::Send { conn, bytes } => {
                        written.entry(conn).or_default().extend_from_slice(&bytes);
                        let (b, bc) = links[&conn];
                        bs[b].handle(
                            Input::Received {
                                conn: bc,
                                bytes: &bytes,
                            },
                            now,
                        );
                        a.handle(Input::Drained { conn }, now);
                    }
                    Output::SendShared { conn, bytes } => {
                        assert!(shared, "shared chunks only when asked for");
                        written.entry(conn).or_default().extend_from_slice(&bytes);
                        let (b, bc) = links[&conn];
                        bs[b].handle(
                            Input::Received {
                                conn: bc,
                                bytes: &bytes,
                            },
                            now,
                        );
                        a.handle(Input::Drained { conn }, now);
                    }
                    _ => {}
                }
            }
            for (b, node) in bs.iter_mut().enumerate() {
                while let Some(o) = node.poll_output() {
                    moved = true;
                    if let Output::Send { conn, bytes } = o {
                        let ac = links
                            .iter()
                            .find(|(_, &(ob, oc))| ob == b && oc == conn)
                            .map(|(ac, _)| *ac)
                            .unwrap();
                        a.handle(
                            Input::Received {
                                conn: ac,
                                bytes: &bytes,
                            },
                            now,
                        );
                    }
                }
            }
            if !moved {
                break;
            }
        }
        // Every session came up and every peer holds node 1's routes.
        let held = |n: &Node| n.rib().route_count(evpnd_wire::Family::L2VPN_EVPN);
        for b in &bs {
            assert!(held(b) >= usize::from(macs), "{} < {macs}", held(b));
        }
        order.iter().map(|c| written.remove(c).unwrap()).collect()
    }

    #[test]
    fn shared_chunks_carry_the_same_bytes_as_copies() {
        let copied = run(false, 4, 3000);
        let shared = run(true, 4, 3000);
        assert_eq!(copied.len(), 3);
        assert_eq!(copied, shared);
        // The three clients got the same UPDATEs (one encoding for the update group).
        assert!(shared.iter().all(|w| w.len() > 3000 * 30));
    }
}
