//! The per-host part of the desired data plane, read page by page as add intents: remote FDB
//! entries, then proxy ARP/ND bindings, in key order. The daemon's intent stream serves the
//! per-host part of its snapshots from here instead of keeping a second copy of the FDB (one
//! entry per remote MAC) beside the engine's own tables.

use crate::node::Node;
use crate::pages::{finish, Page};
use evpnd_dataplane::DataplaneIntent;
use evpnd_evpn::Location;
use evpnd_wire::{MacAddress, Vni};
use std::net::IpAddr;

/// Where [`Node::host_intent_page`] resumes: the last entry returned. Remote FDB entries sort
/// before proxy ARP/ND bindings, each by VNI then MAC or IP (the order of the intent stream's
/// snapshot keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostIntentCursor {
    /// After this remote FDB entry.
    RemoteMac(Vni, MacAddress),
    /// After this proxy ARP/ND binding.
    Neighbor(Vni, IpAddr),
}

impl Node {
    /// One page of the per-host entries of [`Node::expected_dataplane`] after `after` (`None`:
    /// from the start), as the add intents that create them: every remote FDB entry
    /// ([`DataplaneIntent::RemoteMac`], RFC 7432 §9.2.2) by (VNI, MAC), then every proxy
    /// ARP/ND binding ([`DataplaneIntent::Neighbor`], RFC 7432 §10) by (VNI, IP).
    ///
    /// Each page reflects the node's state when it is read. Entries present during the whole
    /// walk are returned exactly once; an entry added or removed during the walk may or may
    /// not be. A page costs one pass over the engine's MAC or IP table (more when local MACs
    /// fill a page) and holds at most `limit` + 1 entries. An engineless node has no entries.
    pub fn host_intent_page(
        &self,
        after: Option<HostIntentCursor>,
        limit: usize,
    ) -> Page<DataplaneIntent, HostIntentCursor> {
        let key = |(k, _): &(HostIntentCursor, DataplaneIntent)| *k;
        let Some(e) = &self.evpn else {
            return strip(finish(Vec::new(), limit, key));
        };
        let want = limit.saturating_add(1);
        let mut rows: Vec<(HostIntentCursor, DataplaneIntent)> = Vec::new();
        if !matches!(after, Some(HostIntentCursor::Neighbor(..))) {
            let mut cursor = match after {
                Some(HostIntentCursor::RemoteMac(v, m)) => Some((v, m)),
                _ => None,
            };
            loop {
                // Local MACs are in the engine's table but not in the FDB: skip them, fetching
                // again while they fill the page.
                let fetched = e.engine.mac_page(None, cursor, want, false);
                let complete = fetched.len() < want;
                for m in fetched {
                    cursor = Some((m.vni, m.mac));
                    if let Location::Remote { vtep } = m.origin {
                        rows.push((
                            HostIntentCursor::RemoteMac(m.vni, m.mac),
                            DataplaneIntent::RemoteMac {
                                vni: m.vni,
                                mac: m.mac,
                                vtep,
                                sticky: m.sticky,
                            },
                        ));
                    }
                }
                if complete || rows.len() >= want {
                    break;
                }
            }
        }
        if rows.len() < want {
            let after_ip = match after {
                Some(HostIntentCursor::Neighbor(v, ip)) => Some((v, ip)),
                _ => None,
            };
            let room = want.saturating_sub(rows.len());
            rows.extend(
                e.engine
                    .neighbor_page(None, after_ip, room)
                    .into_iter()
                    .map(|n| {
                        (
                            HostIntentCursor::Neighbor(n.vni, n.ip),
                            DataplaneIntent::Neighbor {
                                vni: n.vni,
                                ip: n.ip,
                                mac: n.mac,
                                router: n.router,
                                local: n.origin == Location::Local,
                            },
                        )
                    }),
            );
        }
        strip(finish(rows, limit, key))
    }
}

/// The page without the keys kept for the cursor.
fn strip(
    p: Page<(HostIntentCursor, DataplaneIntent), HostIntentCursor>,
) -> Page<DataplaneIntent, HostIntentCursor> {
    Page {
        items: p.items.into_iter().map(|(_, i)| i).collect(),
        next: p.next,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::*;
    use evpnd_dataplane::{Dataplane, DataplaneIntent, MemoryDataplane};
    use evpnd_evpn::{EngineConfig, EviConfig};
    use evpnd_wire::capability::Capability;
    use evpnd_wire::{
        encode_message, AsPath, CodecContext, Esi, EvpnRoute, ExtendedCommunity, Family,
        MacAddress, MacIpRoute, Message, MpReach, MpUnreach, NextHop, Nlri, Open, Origin,
        PathAttribute, Route, RouteDistinguisher, RouteTarget, Update, Vni,
    };
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Instant;

    const ASN: u32 = 65000;
    const PEER: &str = "198.18.0.2";

    fn vni(n: u32) -> Vni {
        Vni::new(n).unwrap()
    }

    fn mac(n: u32) -> MacAddress {
        let b = n.to_be_bytes();
        MacAddress([2, 0, b[0], b[1], b[2], b[3]])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// An NVE with VNIs 100 and 200 and one iBGP neighbour.
    fn nve() -> Node {
        let rid = Ipv4Addr::new(198, 19, 0, 1);
        let mut c = NodeConfig::new(ASN, rid);
        c.neighbors
            .push(NeighborConfig::new(ip(PEER), ASN, ASN, rid));
        c.evpn = Some(EvpnConfig {
            vrfs: Vec::new(),
            engine: EngineConfig::new(ASN, rid, IpAddr::V4(rid)),
            evis: vec![EviConfig::new(vni(100)), EviConfig::new(vni(200))],
            endpoints: Vec::new(),
        });
        Node::new(c, Instant::now()).unwrap()
    }

    fn encode(m: &Message) -> Vec<u8> {
        let ctx = CodecContext {
            four_octet_as: true,
            ..CodecContext::default()
        };
        let mut b = Vec::new();
        encode_message(&ctx, m, &mut b).unwrap();
        b
    }

    /// Accepts the neighbour's connection and brings it to Established (EVPN only).
    fn establish(n: &mut Node, now: Instant) -> ConnId {
        let a = n.accept(ip(PEER), now).unwrap();
        let caps = vec![
            Capability::Multiprotocol(Family::L2VPN_EVPN),
            Capability::FourOctetAs(ASN),
        ];
        let mut b = encode(&Message::Open(Open::new(
            ASN,
            90,
            Ipv4Addr::new(198, 18, 0, 2),
            caps,
        )));
        b.extend(encode(&Message::Keepalive));
        n.handle(
            Input::Received {
                conn: a.conn,
                bytes: &b,
            },
            now,
        );
        a.conn
    }

    fn type2(v: Vni, m: MacAddress, host: Option<IpAddr>) -> Nlri {
        Nlri::new(Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
            rd: RouteDistinguisher::ipv4(Ipv4Addr::new(198, 18, 0, 2), v.get() as u16),
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: m,
            ip: host,
            label1: v.label(),
            label2: None,
        })))
    }

    /// An UPDATE announcing `routes` of VNI `v` from VTEP `vtep`, or withdrawing `gone`.
    fn update(v: Vni, vtep: &str, routes: Vec<Nlri>, gone: Vec<Nlri>) -> Vec<u8> {
        let rt = ExtendedCommunity::route_target(RouteTarget::As2 {
            asn: ASN as u16,
            value: v.get(),
        });
        let u = Update {
            mp_reach: (!routes.is_empty())
                .then(|| MpReach::new(Family::L2VPN_EVPN, NextHop::from_ip(ip(vtep)), routes)),
            mp_unreach: (!gone.is_empty()).then(|| MpUnreach::new(Family::L2VPN_EVPN, gone)),
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::default()),
                PathAttribute::LocalPref(100),
                PathAttribute::ExtendedCommunities(vec![
                    rt,
                    ExtendedCommunity::vxlan_encapsulation(),
                ]),
            ],
            ..Update::default()
        };
        encode(&Message::Update(u))
    }

    fn send(n: &mut Node, conn: ConnId, bytes: &[u8]) {
        n.handle(Input::Received { conn, bytes }, Instant::now());
        while n.poll_output().is_some() {}
        while n.poll_event().is_some() {}
    }

    /// Every page from the start, `limit` entries each, with `between` run after each page.
    fn walk(
        n: &mut Node,
        limit: usize,
        mut between: impl FnMut(&mut Node),
    ) -> Vec<DataplaneIntent> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let p = n.host_intent_page(after, limit);
            assert!(p.items.len() <= limit);
            out.extend(p.items);
            between(n);
            match p.next {
                Some(c) => after = Some(c),
                None => return out,
            }
        }
    }

    /// The per-host tables of `d` (FDB and proxy ARP/ND) alone.
    fn hosts(d: &MemoryDataplane) -> MemoryDataplane {
        MemoryDataplane {
            fdb: d.fdb.clone(),
            neigh: d.neigh.clone(),
            ..MemoryDataplane::default()
        }
    }

    fn replay(intents: &[DataplaneIntent]) -> MemoryDataplane {
        let mut d = MemoryDataplane::default();
        for v in [100, 200] {
            d.apply(&DataplaneIntent::Vni {
                vni: vni(v),
                vrf: None,
            })
            .unwrap();
        }
        for i in intents {
            d.apply(i).unwrap();
        }
        hosts(&d.tables())
    }

    /// A node holding remote MACs in two VNIs (some with an IP: a binding too) and a local
    /// MAC with an IP.
    fn loaded() -> (Node, ConnId) {
        let now = Instant::now();
        let mut n = nve();
        let conn = establish(&mut n, now);
        for (v, vtep) in [(100, "198.18.0.2"), (200, "198.18.0.3")] {
            for chunk in 0..3u32 {
                let routes = (chunk * 100..chunk * 100 + 100)
                    .map(|i| {
                        let host = (i % 7 == 0).then(|| IpAddr::from([192, 0, 2, (i % 250) as u8]));
                        type2(vni(v), mac(v * 1000 + i), host)
                    })
                    .collect();
                send(&mut n, conn, &update(vni(v), vtep, routes, Vec::new()));
            }
        }
        let c = n.command(
            Command::Attach(EndpointSpec {
                vni: 100,
                mac: mac(100_005_000),
                ip: Some(ip("198.51.100.7")),
                sticky: false,
                router: false,
                static_binding: false,
                port: None,
            }),
            now,
        );
        assert!(c.is_ok(), "{c:?}");
        while n.poll_intent().is_some() {}
        (n, conn)
    }

    #[test]
    fn pages_concatenated_are_the_expected_host_entries_in_key_order() {
        let (mut n, _) = loaded();
        let want = hosts(&n.expected_dataplane());
        assert!(want.fdb.len() >= 600, "{} remote MACs", want.fdb.len());
        assert!(!want.neigh.is_empty());
        for limit in [1, 7, 64, 10_000] {
            let got = walk(&mut n, limit, |_| {});
            assert_eq!(
                got.len(),
                want.fdb.len() + want.neigh.len(),
                "limit {limit}"
            );
            // Key order: every FDB entry by (VNI, MAC), then every binding by (VNI, IP).
            assert!(got.iter().all(|i| order(i).0 < 2), "only host entries");
            assert!(
                got.windows(2).all(|w| order(&w[0]) < order(&w[1])),
                "limit {limit}"
            );
            assert_eq!(replay(&got), want, "limit {limit}");
        }
        // No engine, no entries.
        let plain = Node::new(
            NodeConfig::new(ASN, Ipv4Addr::new(198, 19, 0, 9)),
            Instant::now(),
        )
        .unwrap();
        let p = plain.host_intent_page(None, 10);
        assert!(p.items.is_empty() && p.next.is_none());
    }

    /// The sort key of a page entry.
    fn order(i: &DataplaneIntent) -> (u8, Vni, [u8; 6], Option<IpAddr>) {
        match *i {
            DataplaneIntent::RemoteMac { vni, mac, .. } => (0, vni, mac.0, None),
            DataplaneIntent::Neighbor { vni, ip, .. } => (1, vni, [0; 6], Some(ip)),
            _ => (2, vni(1), [0; 6], None),
        }
    }

    #[test]
    fn a_walk_during_changes_plus_the_later_intents_gives_the_final_tables() {
        let (mut n, conn) = loaded();
        // The consumer's side: a snapshot read page by page while routes come and go, then
        // every intent the node produced after the walk started, applied over it.
        let mut later: Vec<DataplaneIntent> = Vec::new();
        let mut step = 0u32;
        let snapshot = walk(&mut n, 50, |n| {
            step += 1;
            let v = vni(if step % 2 == 0 { 100 } else { 200 });
            let gone: Vec<Nlri> = (0..20)
                .map(|i| type2(v, mac(v.get() * 1000 + step * 20 + i), None))
                .collect();
            let fresh: Vec<Nlri> = (0..15)
                .map(|i| type2(v, mac(v.get() * 1000 + 5000 + step * 15 + i), None))
                .collect();
            send(n, conn, &update(v, "198.18.0.4", fresh, gone));
            later.extend(std::iter::from_fn(|| n.poll_intent()));
        });
        // The snapshot's adds land on keys a later removal may clear: apply leniently, as
        // a watcher does (an add sets, a removal clears).
        let mut table = std::collections::BTreeMap::new();
        for i in snapshot.iter().chain(&later) {
            match *i {
                DataplaneIntent::RemoteMac { vni, mac, .. } => {
                    table.insert((0, vni, mac.0, None), *i);
                }
                DataplaneIntent::RemoveRemoteMac { vni, mac } => {
                    table.remove(&(0, vni, mac.0, None));
                }
                DataplaneIntent::Neighbor { vni, ip, .. } => {
                    table.insert((1, vni, [0; 6], Some(ip)), *i);
                }
                DataplaneIntent::RemoveNeighbor { vni, ip } => {
                    table.remove(&(1, vni, [0; 6], Some(ip)));
                }
                _ => {}
            }
        }
        assert!(!later.is_empty());
        let got: Vec<DataplaneIntent> = table.into_values().collect();
        assert_eq!(replay(&got), hosts(&n.expected_dataplane()));
        // And a fresh walk now gives the same.
        assert_eq!(walk(&mut n, 64, |_| {}), got);
    }
}
