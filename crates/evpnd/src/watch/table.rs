//! The desired data-plane state as the intents describe it, for the intent stream's snapshots:
//! one entry per key, set by an add and cleared by its removal. Every intent is a set or a
//! removal of exactly one key, so the state after a sequence of intents depends, per key, only
//! on the last intent for that key: a snapshot read page by page while deltas keep arriving,
//! then the deltas after the snapshot's starting sequence applied over it, give the current
//! state (see the convergence test).
//!
//! The table keeps only the keys that do not grow with the hosts (VRFs, VNIs, gateways, ports,
//! flood entries, router MACs, routes). The per-host keys (remote FDB entries and proxy ARP/ND
//! bindings, one per remote MAC or host IP: a million on a large NVE) are read from the node
//! itself ([`evpnd_node::Node::host_intent_page`]) instead of a second copy here. The argument
//! above still holds for them: each node page reflects the node's state at its reading, which is
//! after the snapshot's starting sequence, and the node's state is what every intent it has
//! produced describes (the invariant the simulator checks); an intent produced but not yet in
//! the log is published after the starting sequence, so the consumer applies it anyway.
//! [`SnapshotWalk`] strings the three parts together in key order.

use evpnd_dataplane::{DataplaneIntent, PortName};
use evpnd_evpn::VrfName;
use evpnd_node::{HostIntentCursor, Page};
use evpnd_wire::{IpPrefix, MacAddress, Vni};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The key an intent sets or removes. The order puts every VRF before any VNI, every VNI
/// before any entry, a VNI's gateways before the routes through them and a remote router MAC
/// before the routes through its VTEP, so a snapshot replayed in order never names a VRF, a
/// VNI or a router MAC before creating it (the order of `DataplaneIntent`'s contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IntentKey {
    /// A tenant VRF.
    Vrf(VrfName),
    /// A broadcast domain.
    Vni(Vni),
    /// An anycast gateway address of a VNI's IRB interface, with its prefix length.
    Gateway(Vni, IpAddr, u8),
    /// A tenant port in a VNI.
    Port(Vni, PortName),
    /// A flood entry.
    Flood(Vni, IpAddr),
    /// A remote FDB entry.
    RemoteMac(Vni, MacAddress),
    /// A proxy ARP/ND binding.
    Neighbor(Vni, IpAddr),
    /// The router MAC of a remote VTEP in a VRF.
    RouterMac(VrfName, IpAddr),
    /// A VRF route's path to a remote VTEP.
    RemoteRoute(VrfName, IpPrefix, IpAddr),
    /// A VRF route's path through a next hop on a local subnet.
    GatewayRoute(VrfName, IpPrefix, IpAddr),
}

/// What a key holds beyond its presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Present,
    Vni {
        vrf: Option<VrfName>,
    },
    Vrf {
        l3vni: Option<Vni>,
        router_mac: MacAddress,
    },
    Mac(MacAddress),
    Fdb {
        vtep: IpAddr,
        sticky: bool,
    },
    Neigh {
        mac: MacAddress,
        router: bool,
        local: bool,
    },
}

/// The table (see the module notes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntentTable {
    entries: BTreeMap<IntentKey, Value>,
}

impl IntentKey {
    /// A per-host key (a remote FDB entry or a proxy ARP/ND binding): served from the node,
    /// not kept in the table.
    pub fn is_host(&self) -> bool {
        matches!(self, IntentKey::RemoteMac(..) | IntentKey::Neighbor(..))
    }

    /// Sorts before every per-host key.
    fn before_hosts(&self) -> bool {
        matches!(
            self,
            IntentKey::Vrf(_)
                | IntentKey::Vni(_)
                | IntentKey::Gateway(..)
                | IntentKey::Port(..)
                | IntentKey::Flood(..)
        )
    }
}

/// What one intent does: sets its key to a value (`Some`) or clears it (`None`);
/// [`DataplaneIntent::Synced`] has no key.
fn effect(intent: &DataplaneIntent) -> Option<(IntentKey, Option<Value>)> {
    use DataplaneIntent as I;
    let set = |k, v| Some((k, Some(v)));
    let clear = |k| Some((k, None));
    match *intent {
        I::Vni { vni, vrf } => set(IntentKey::Vni(vni), Value::Vni { vrf }),
        I::RemoveVni { vni } => clear(IntentKey::Vni(vni)),
        I::Port { vni, port } => set(IntentKey::Port(vni, port), Value::Present),
        I::RemovePort { vni, port } => clear(IntentKey::Port(vni, port)),
        I::Synced => None,
        I::RemoteMac {
            vni,
            mac,
            vtep,
            sticky,
        } => set(IntentKey::RemoteMac(vni, mac), Value::Fdb { vtep, sticky }),
        I::RemoveRemoteMac { vni, mac } => clear(IntentKey::RemoteMac(vni, mac)),
        I::Flood { vni, vtep } => set(IntentKey::Flood(vni, vtep), Value::Present),
        I::RemoveFlood { vni, vtep } => clear(IntentKey::Flood(vni, vtep)),
        I::Neighbor {
            vni,
            ip,
            mac,
            router,
            local,
        } => set(
            IntentKey::Neighbor(vni, ip),
            Value::Neigh { mac, router, local },
        ),
        I::RemoveNeighbor { vni, ip } => clear(IntentKey::Neighbor(vni, ip)),
        I::Vrf {
            vrf,
            l3vni,
            router_mac,
        } => set(IntentKey::Vrf(vrf), Value::Vrf { l3vni, router_mac }),
        I::RemoveVrf { vrf } => clear(IntentKey::Vrf(vrf)),
        I::Gateway {
            vni,
            address,
            prefix_len,
            mac,
        } => set(
            IntentKey::Gateway(vni, address, prefix_len),
            Value::Mac(mac),
        ),
        I::RemoveGateway {
            vni,
            address,
            prefix_len,
        } => clear(IntentKey::Gateway(vni, address, prefix_len)),
        I::RouterMac { vrf, vtep, mac } => set(IntentKey::RouterMac(vrf, vtep), Value::Mac(mac)),
        I::RemoveRouterMac { vrf, vtep } => clear(IntentKey::RouterMac(vrf, vtep)),
        I::RemoteRoute { vrf, prefix, vtep } => {
            set(IntentKey::RemoteRoute(vrf, prefix, vtep), Value::Present)
        }
        I::RemoveRemoteRoute { vrf, prefix, vtep } => {
            clear(IntentKey::RemoteRoute(vrf, prefix, vtep))
        }
        I::GatewayRoute { vrf, prefix, via } => {
            set(IntentKey::GatewayRoute(vrf, prefix, via), Value::Present)
        }
        I::RemoveGatewayRoute { vrf, prefix, via } => {
            clear(IntentKey::GatewayRoute(vrf, prefix, via))
        }
    }
}

/// Which keys a table page returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Those sorting before the per-host keys (VRFs, VNIs, gateways, ports, flood entries).
    BeforeHosts,
    /// Those sorting after them (router MACs, routes).
    AfterHosts,
}

impl IntentTable {
    /// Applies one intent: an add sets its key, a removal clears it ([`DataplaneIntent::Synced`]
    /// and per-host keys change nothing: see the module notes). Idempotent, and never refuses.
    pub fn apply(&mut self, intent: &DataplaneIntent) {
        match effect(intent) {
            Some((key, _)) if key.is_host() => {}
            Some((key, Some(value))) => self.set(key, value),
            Some((key, None)) => self.clear(key),
            None => {}
        }
    }

    fn set(&mut self, key: IntentKey, value: Value) {
        self.entries.insert(key, value);
    }

    fn clear(&mut self, key: IntentKey) {
        self.entries.remove(&key);
    }

    /// Entries held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Up to `limit` entries of `part` after `cursor` (`None`: from the start), in key order,
    /// as the add intents that create them, with the key to continue from.
    pub fn page(
        &self,
        cursor: Option<IntentKey>,
        limit: usize,
        part: Part,
    ) -> (Vec<DataplaneIntent>, Option<IntentKey>) {
        use std::ops::Bound;
        let from = match cursor {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        let mut last = cursor;
        let page = self
            .entries
            .range((from, Bound::Unbounded))
            .skip_while(|(k, _)| part == Part::AfterHosts && k.before_hosts())
            .take_while(|(k, _)| part == Part::AfterHosts || k.before_hosts())
            .take(limit)
            .map(|(k, v)| {
                last = Some(*k);
                intent_of(*k, *v)
            })
            .collect();
        (page, last)
    }

    /// Every entry as add intents, in key order (tests and small tables).
    #[cfg(test)]
    pub fn intents(&self) -> Vec<DataplaneIntent> {
        let mut v = self.page(None, usize::MAX, Part::BeforeHosts).0;
        v.extend(self.page(None, usize::MAX, Part::AfterHosts).0);
        v
    }
}

/// The add intent that creates `key` with `value`.
fn intent_of(key: IntentKey, value: Value) -> DataplaneIntent {
    use DataplaneIntent as I;
    match (key, value) {
        (IntentKey::Vni(vni), Value::Vni { vrf }) => I::Vni { vni, vrf },
        (IntentKey::Vni(vni), _) => I::Vni { vni, vrf: None },
        (IntentKey::Vrf(vrf), Value::Vrf { l3vni, router_mac }) => I::Vrf {
            vrf,
            l3vni,
            router_mac,
        },
        (IntentKey::Gateway(vni, address, prefix_len), Value::Mac(mac)) => I::Gateway {
            vni,
            address,
            prefix_len,
            mac,
        },
        (IntentKey::RouterMac(vrf, vtep), Value::Mac(mac)) => I::RouterMac { vrf, vtep, mac },
        (IntentKey::RemoteRoute(vrf, prefix, vtep), _) => I::RemoteRoute { vrf, prefix, vtep },
        (IntentKey::GatewayRoute(vrf, prefix, via), _) => I::GatewayRoute { vrf, prefix, via },
        (IntentKey::Port(vni, port), _) => I::Port { vni, port },
        (IntentKey::Flood(vni, vtep), _) => I::Flood { vni, vtep },
        (IntentKey::RemoteMac(vni, mac), Value::Fdb { vtep, sticky }) => I::RemoteMac {
            vni,
            mac,
            vtep,
            sticky,
        },
        (IntentKey::Neighbor(vni, ip), Value::Neigh { mac, router, local }) => I::Neighbor {
            vni,
            ip,
            mac,
            router,
            local,
        },
        // A key is only ever stored with its own kind of value (see `apply`); this arm keeps
        // the match total without a panic.
        (IntentKey::RemoteMac(vni, mac), _) => I::RemoveRemoteMac { vni, mac },
        (IntentKey::Neighbor(vni, ip), _) => I::RemoveNeighbor { vni, ip },
        (IntentKey::Vrf(vrf), _) => I::RemoveVrf { vrf },
        (IntentKey::Gateway(vni, address, prefix_len), _) => I::RemoveGateway {
            vni,
            address,
            prefix_len,
        },
        (IntentKey::RouterMac(vrf, vtep), _) => I::RemoveRouterMac { vrf, vtep },
    }
}

/// Where a snapshot walk stands: the table's keys before the per-host ones, the node's
/// per-host entries, then the table's keys after them (see the module notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    BeforeHosts(Option<IntentKey>),
    Hosts(Option<HostIntentCursor>),
    AfterHosts(Option<IntentKey>),
    Done,
}

/// One snapshot read page by page, in key order, from the table and the node. The caller
/// asks [`SnapshotWalk::host_cursor`] whether the next page comes from the node (read it with
/// [`evpnd_node::Node::host_intent_page`] and hand it to [`SnapshotWalk::hosts`]) or from the
/// table ([`SnapshotWalk::table_page`]), until [`SnapshotWalk::is_done`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotWalk {
    stage: Stage,
}

impl Default for SnapshotWalk {
    fn default() -> Self {
        SnapshotWalk {
            stage: Stage::BeforeHosts(None),
        }
    }
}

impl SnapshotWalk {
    /// Every page has been read.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// `Some(cursor)`: the next page is the node's per-host page after `cursor`.
    pub fn host_cursor(&self) -> Option<Option<HostIntentCursor>> {
        match self.stage {
            Stage::Hosts(c) => Some(c),
            _ => None,
        }
    }

    /// The next page from the table (empty while the node's pages are due or when done).
    pub fn table_page(&mut self, table: &IntentTable, limit: usize) -> Vec<DataplaneIntent> {
        let limit = limit.max(1);
        match self.stage {
            Stage::BeforeHosts(cursor) => {
                let (page, next) = table.page(cursor, limit, Part::BeforeHosts);
                self.stage = if page.len() < limit {
                    Stage::Hosts(None)
                } else {
                    Stage::BeforeHosts(next)
                };
                page
            }
            Stage::AfterHosts(cursor) => {
                let (page, next) = table.page(cursor, limit, Part::AfterHosts);
                self.stage = if page.len() < limit {
                    Stage::Done
                } else {
                    Stage::AfterHosts(next)
                };
                page
            }
            Stage::Hosts(_) | Stage::Done => Vec::new(),
        }
    }

    /// Takes the node's page; returns its entries.
    pub fn hosts(&mut self, page: Page<DataplaneIntent, HostIntentCursor>) -> Vec<DataplaneIntent> {
        if let Stage::Hosts(_) = self.stage {
            self.stage = match page.next {
                Some(c) => Stage::Hosts(Some(c)),
                None => Stage::AfterHosts(None),
            };
        }
        page.items
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use evpnd_dataplane::{Dataplane, MemoryDataplane};

    fn vni(n: u32) -> Vni {
        Vni::new(n).unwrap()
    }

    fn mac(n: u32) -> MacAddress {
        let b = n.to_be_bytes();
        MacAddress([2, 0, b[0], b[1], b[2], b[3]])
    }

    fn vtep(n: u8) -> IpAddr {
        IpAddr::from([198, 18, 0, n])
    }

    /// A deterministic pseudo-random stream of consistent intents over a few VNIs: MACs
    /// added, moved and removed, flood entries, bindings.
    fn workload(seed: u64, n: usize) -> Vec<DataplaneIntent> {
        let mut x = seed | 1;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut model = MemoryDataplane::default();
        let mut out = Vec::new();
        for v in [100, 200] {
            let i = DataplaneIntent::Vni {
                vni: vni(v),
                vrf: None,
            };
            model.apply(&i).unwrap();
            out.push(i);
        }
        while out.len() < n {
            let r = rnd();
            let v = vni(if r & 1 == 0 { 100 } else { 200 });
            let m = mac((r >> 8) as u32 % 500);
            let t = vtep((r >> 20) as u8 % 4 + 1);
            let ip = IpAddr::from([192, 0, 2, (r >> 30) as u8 % 200 + 1]);
            let i = match (r >> 40) % 6 {
                0 | 1 => DataplaneIntent::RemoteMac {
                    vni: v,
                    mac: m,
                    vtep: t,
                    sticky: r & 2 != 0,
                },
                2 if model.fdb.contains_key(&(v, m)) => {
                    DataplaneIntent::RemoveRemoteMac { vni: v, mac: m }
                }
                3 if !model.flood.get(&v).is_some_and(|s| s.contains(&t)) => {
                    DataplaneIntent::Flood { vni: v, vtep: t }
                }
                3 => DataplaneIntent::RemoveFlood { vni: v, vtep: t },
                4 => DataplaneIntent::Neighbor {
                    vni: v,
                    ip,
                    mac: m,
                    router: false,
                    local: r & 4 != 0,
                },
                5 if model.neigh.contains_key(&(v, ip)) => {
                    DataplaneIntent::RemoveNeighbor { vni: v, ip }
                }
                _ => continue,
            };
            model.apply(&i).unwrap();
            out.push(i);
        }
        out
    }

    fn memory_of(intents: &[DataplaneIntent]) -> MemoryDataplane {
        let mut d = MemoryDataplane::default();
        for i in intents {
            d.apply(i).unwrap();
        }
        d.tables()
    }

    /// Every key's value, per-host keys included: the state the intents describe (the
    /// consumer's copy, and what the node plus the table stand for).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Full(BTreeMap<IntentKey, Value>);

    impl Full {
        fn apply(&mut self, i: &DataplaneIntent) {
            match effect(i) {
                Some((k, Some(v))) => {
                    self.0.insert(k, v);
                }
                Some((k, None)) => {
                    self.0.remove(&k);
                }
                None => {}
            }
        }

        fn intents(&self) -> Vec<DataplaneIntent> {
            self.0.iter().map(|(k, v)| intent_of(*k, *v)).collect()
        }

        /// The node's per-host page (a stand-in for `Node::host_intent_page`).
        fn host_page(
            &self,
            after: Option<HostIntentCursor>,
            limit: usize,
        ) -> Page<DataplaneIntent, HostIntentCursor> {
            let cursor = |k: &IntentKey| match *k {
                IntentKey::RemoteMac(v, m) => Some(HostIntentCursor::RemoteMac(v, m)),
                IntentKey::Neighbor(v, ip) => Some(HostIntentCursor::Neighbor(v, ip)),
                _ => None,
            };
            let mut rows: Vec<(HostIntentCursor, DataplaneIntent)> = self
                .0
                .iter()
                .filter_map(|(k, v)| Some((cursor(k)?, intent_of(*k, *v))))
                .filter(|(c, _)| after.is_none_or(|a| *c > a))
                .take(limit + 1)
                .collect();
            let more = rows.len() > limit;
            rows.truncate(limit);
            Page {
                next: if more { rows.last().map(|r| r.0) } else { None },
                items: rows.into_iter().map(|r| r.1).collect(),
            }
        }
    }

    /// The daemon's side: the table and the node (its per-host entries).
    #[derive(Default)]
    struct Source {
        table: IntentTable,
        node: Full,
    }

    impl Source {
        fn apply(&mut self, i: &DataplaneIntent) {
            self.table.apply(i);
            self.node.apply(i);
        }

        /// One snapshot page, as the intent stream reads it.
        fn page(&self, w: &mut SnapshotWalk, limit: usize) -> Vec<DataplaneIntent> {
            match w.host_cursor() {
                Some(c) => w.hosts(self.node.host_page(c, limit)),
                None => w.table_page(&self.table, limit),
            }
        }
    }

    #[test]
    fn the_table_keeps_no_per_host_key_and_a_snapshot_holds_every_key() {
        let intents = workload(7, 5_000);
        let mut src = Source::default();
        for i in &intents {
            src.apply(i);
        }
        assert!(src.table.entries.keys().all(|k| !k.is_host()));
        assert!(src.table.len() < 20, "{} entries", src.table.len());
        let mut w = SnapshotWalk::default();
        let mut snapshot = Vec::new();
        while !w.is_done() {
            snapshot.extend(src.page(&mut w, 37));
        }
        // The snapshot is in key order, and replayed into an empty strict data plane it gives
        // the same tables as the intents.
        assert_eq!(snapshot, src.node.intents());
        assert_eq!(memory_of(&snapshot), memory_of(&intents));
    }

    #[test]
    fn a_snapshot_read_in_pages_during_deltas_plus_the_later_deltas_converges() {
        for seed in [1, 2, 3, 99, 12345] {
            let intents = workload(seed, 6_000);
            let (before, during) = intents.split_at(2_000);
            let mut src = Source::default();
            for i in before {
                src.apply(i);
            }
            // The snapshot starts after delta 2000; between pages of 37 entries, 50 more
            // deltas arrive.
            let mut consumer = Full::default();
            let mut w = SnapshotWalk::default();
            let mut pending = during.chunks(50);
            while !w.is_done() {
                for i in &src.page(&mut w, 37) {
                    consumer.apply(i);
                }
                if let Some(chunk) = pending.next() {
                    for i in chunk {
                        src.apply(i);
                    }
                }
            }
            for chunk in pending {
                for i in chunk {
                    src.apply(i);
                }
            }
            // The consumer then applies every delta after the snapshot's start, in order.
            for i in during {
                consumer.apply(i);
            }
            assert_eq!(consumer, src.node, "seed {seed}");
            assert_eq!(memory_of(&consumer.intents()), memory_of(&intents));
        }
    }

    #[test]
    fn vnis_come_first_and_removals_clear_keys() {
        let mut t = IntentTable::default();
        let m = DataplaneIntent::RemoteMac {
            vni: vni(5),
            mac: mac(1),
            vtep: vtep(1),
            sticky: true,
        };
        t.apply(&m);
        t.apply(&DataplaneIntent::Vni {
            vni: vni(9),
            vrf: None,
        });
        t.apply(&DataplaneIntent::Synced);
        // The remote MAC is a per-host key: the node serves it, the table keeps none.
        assert_eq!(
            t.intents(),
            vec![DataplaneIntent::Vni {
                vni: vni(9),
                vrf: None
            }]
        );
        t.apply(&DataplaneIntent::RemoveRemoteMac {
            vni: vni(5),
            mac: mac(1),
        });
        t.apply(&DataplaneIntent::RemoveRemoteMac {
            vni: vni(5),
            mac: mac(1),
        });
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_snapshot_names_vrfs_before_vnis_before_entries() {
        use evpnd_evpn::VrfName;
        let red = VrfName::new("red").unwrap();
        let prefix: IpPrefix = "203.0.113.0/24".parse().unwrap();
        let gw: IpAddr = "192.0.2.254".parse().unwrap();
        let intents = [
            DataplaneIntent::Vrf {
                vrf: red,
                l3vni: Some(vni(5000)),
                router_mac: mac(9),
            },
            DataplaneIntent::Vni {
                vni: vni(100),
                vrf: Some(red),
            },
            DataplaneIntent::Gateway {
                vni: vni(100),
                address: gw,
                prefix_len: 24,
                mac: mac(1),
            },
            DataplaneIntent::RouterMac {
                vrf: red,
                vtep: vtep(2),
                mac: mac(2),
            },
            DataplaneIntent::RemoteRoute {
                vrf: red,
                prefix,
                vtep: vtep(2),
            },
            DataplaneIntent::GatewayRoute {
                vrf: red,
                prefix,
                via: "192.0.2.20".parse().unwrap(),
            },
        ];
        let mut t = IntentTable::default();
        // Applied in reverse: the snapshot's order is the key order, not the arrival order.
        for i in intents.iter().rev() {
            t.apply(i);
        }
        assert_eq!(t.intents(), intents.to_vec());
        // The snapshot, replayed, is a valid sequence for the memory data plane.
        memory_of(&t.intents());
        for i in [
            DataplaneIntent::RemoveGatewayRoute {
                vrf: red,
                prefix,
                via: "192.0.2.20".parse().unwrap(),
            },
            DataplaneIntent::RemoveRemoteRoute {
                vrf: red,
                prefix,
                vtep: vtep(2),
            },
            DataplaneIntent::RemoveRouterMac {
                vrf: red,
                vtep: vtep(2),
            },
            DataplaneIntent::RemoveGateway {
                vni: vni(100),
                address: gw,
                prefix_len: 24,
            },
            DataplaneIntent::RemoveVni { vni: vni(100) },
            DataplaneIntent::RemoveVrf { vrf: red },
        ] {
            t.apply(&i);
        }
        assert_eq!(t.len(), 0);
    }
}
