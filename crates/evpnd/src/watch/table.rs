//! The desired data-plane state as the intents describe it, for the intent stream's snapshots:
//! one entry per key, set by an add and cleared by its removal. Every intent is a set or a
//! removal of exactly one key, so the state after a sequence of intents depends, per key, only
//! on the last intent for that key: a snapshot read page by page while deltas keep arriving,
//! then the deltas after the snapshot's starting sequence applied over it, give the current
//! state (see the convergence test).

use evpnd_dataplane::{DataplaneIntent, PortName};
use evpnd_evpn::VrfName;
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

impl IntentTable {
    /// Applies one intent: an add sets its key, a removal clears it ([`DataplaneIntent::Synced`]
    /// changes nothing). Idempotent, and never refuses.
    pub fn apply(&mut self, intent: &DataplaneIntent) {
        use DataplaneIntent as I;
        match *intent {
            I::Vni { vni, vrf } => self.set(IntentKey::Vni(vni), Value::Vni { vrf }),
            I::RemoveVni { vni } => self.clear(IntentKey::Vni(vni)),
            I::Port { vni, port } => self.set(IntentKey::Port(vni, port), Value::Present),
            I::RemovePort { vni, port } => self.clear(IntentKey::Port(vni, port)),
            I::Synced => {}
            I::RemoteMac {
                vni,
                mac,
                vtep,
                sticky,
            } => self.set(IntentKey::RemoteMac(vni, mac), Value::Fdb { vtep, sticky }),
            I::RemoveRemoteMac { vni, mac } => self.clear(IntentKey::RemoteMac(vni, mac)),
            I::Flood { vni, vtep } => self.set(IntentKey::Flood(vni, vtep), Value::Present),
            I::RemoveFlood { vni, vtep } => self.clear(IntentKey::Flood(vni, vtep)),
            I::Neighbor {
                vni,
                ip,
                mac,
                router,
                local,
            } => self.set(
                IntentKey::Neighbor(vni, ip),
                Value::Neigh { mac, router, local },
            ),
            I::RemoveNeighbor { vni, ip } => self.clear(IntentKey::Neighbor(vni, ip)),
            I::Vrf {
                vrf,
                l3vni,
                router_mac,
            } => self.set(IntentKey::Vrf(vrf), Value::Vrf { l3vni, router_mac }),
            I::RemoveVrf { vrf } => self.clear(IntentKey::Vrf(vrf)),
            I::Gateway {
                vni,
                address,
                prefix_len,
                mac,
            } => self.set(
                IntentKey::Gateway(vni, address, prefix_len),
                Value::Mac(mac),
            ),
            I::RemoveGateway {
                vni,
                address,
                prefix_len,
            } => self.clear(IntentKey::Gateway(vni, address, prefix_len)),
            I::RouterMac { vrf, vtep, mac } => {
                self.set(IntentKey::RouterMac(vrf, vtep), Value::Mac(mac))
            }
            I::RemoveRouterMac { vrf, vtep } => self.clear(IntentKey::RouterMac(vrf, vtep)),
            I::RemoteRoute { vrf, prefix, vtep } => {
                self.set(IntentKey::RemoteRoute(vrf, prefix, vtep), Value::Present)
            }
            I::RemoveRemoteRoute { vrf, prefix, vtep } => {
                self.clear(IntentKey::RemoteRoute(vrf, prefix, vtep))
            }
            I::GatewayRoute { vrf, prefix, via } => {
                self.set(IntentKey::GatewayRoute(vrf, prefix, via), Value::Present)
            }
            I::RemoveGatewayRoute { vrf, prefix, via } => {
                self.clear(IntentKey::GatewayRoute(vrf, prefix, via))
            }
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

    /// Up to `limit` entries after `cursor` (`None`: from the start), in key order, as the
    /// add intents that create them, with the key to continue from.
    pub fn page(
        &self,
        cursor: Option<IntentKey>,
        limit: usize,
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
        self.page(None, usize::MAX).0
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

    #[test]
    fn the_table_holds_what_a_data_plane_applying_the_intents_holds() {
        let intents = workload(7, 5_000);
        let mut t = IntentTable::default();
        for i in &intents {
            t.apply(i);
        }
        // Replaying the snapshot into an empty strict data plane gives the same tables.
        assert_eq!(memory_of(&t.intents()), memory_of(&intents));
    }

    #[test]
    fn a_snapshot_read_in_pages_during_deltas_plus_the_later_deltas_converges() {
        for seed in [1, 2, 3, 99, 12345] {
            let intents = workload(seed, 6_000);
            let (before, during) = intents.split_at(2_000);
            let mut t = IntentTable::default();
            for i in before {
                t.apply(i);
            }
            // The snapshot starts after delta 2000; between pages of 37 entries, 50 more
            // deltas arrive.
            let mut consumer = IntentTable::default();
            let mut cursor = None;
            let mut pending = during.chunks(50);
            loop {
                let (page, next) = t.page(cursor, 37);
                if page.is_empty() {
                    break;
                }
                cursor = next;
                for i in &page {
                    consumer.apply(i);
                }
                if let Some(chunk) = pending.next() {
                    for i in chunk {
                        t.apply(i);
                    }
                }
            }
            for chunk in pending {
                for i in chunk {
                    t.apply(i);
                }
            }
            // The consumer then applies every delta after the snapshot's start, in order.
            for i in during {
                consumer.apply(i);
            }
            assert_eq!(consumer, t, "seed {seed}");
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
        assert_eq!(
            t.intents(),
            vec![
                DataplaneIntent::Vni {
                    vni: vni(9),
                    vrf: None
                },
                m
            ]
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
