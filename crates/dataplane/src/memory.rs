//! The in-memory data plane: the tables a kernel VTEP would hold, applied from deltas exactly.

use crate::{Dataplane, DataplaneIntent};
use evpnd_evpn::PortName;
use evpnd_wire::{MacAddress, Vni};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// A remote FDB entry: where frames for a MAC go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// The remote VTEP.
    pub vtep: IpAddr,
    /// Static at that VTEP (RFC 7432 §15.2): local learning must not override it.
    pub sticky: bool,
}

/// A proxy ARP/ND binding (RFC 9161 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighEntry {
    /// The MAC the IP resolves to.
    pub mac: MacAddress,
    /// ND router flag (RFC 9047 §3.1).
    pub router: bool,
    /// Attached locally rather than learned from a remote route.
    pub local: bool,
}

/// A delta that does not fit the tables: the engine and the data plane disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inconsistent {
    /// The refused intent.
    pub intent: DataplaneIntent,
}

impl fmt::Display for Inconsistent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.intent {
            DataplaneIntent::Flood { .. } => {
                "a flood entry that is already there, or of an unknown VNI"
            }
            DataplaneIntent::Vni { .. } => "a VNI that is already there",
            DataplaneIntent::RemoveVni { .. } => "a VNI that is not there or still holds entries",
            DataplaneIntent::Port { .. } => "a port already plugged in, or of an unknown VNI",
            _ => "an entry that is not there, or of an unknown VNI",
        };
        write!(f, "inconsistent data-plane delta {:?}: {what}", self.intent)
    }
}

impl std::error::Error for Inconsistent {}

/// The tables a kernel data plane would hold, kept in memory (see the crate notes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryDataplane {
    /// The broadcast domains: VNI → the tenant ports plugged into it.
    pub vnis: BTreeMap<Vni, BTreeSet<PortName>>,
    /// Remote FDB: (VNI, MAC) → VTEP.
    pub fdb: BTreeMap<(Vni, MacAddress), FdbEntry>,
    /// Ingress-replication flood lists: VNI → remote VTEPs (RFC 8365 §9).
    pub flood: BTreeMap<Vni, BTreeSet<IpAddr>>,
    /// Proxy ARP/ND: (VNI, IP) → MAC.
    pub neigh: BTreeMap<(Vni, IpAddr), NeighEntry>,
    /// Intents applied (refused ones included).
    pub applied: u64,
    /// Intents refused as inconsistent.
    pub errors: u64,
}

impl MemoryDataplane {
    /// True when the tables hold nothing.
    pub fn is_empty(&self) -> bool {
        self.vnis.is_empty()
            && self.fdb.is_empty()
            && self.flood.is_empty()
            && self.neigh.is_empty()
    }

    /// The same tables without the counters: two data planes that hold the same entries
    /// compare equal through this whatever their history.
    pub fn tables(&self) -> MemoryDataplane {
        MemoryDataplane {
            vnis: self.vnis.clone(),
            fdb: self.fdb.clone(),
            flood: self.flood.clone(),
            neigh: self.neigh.clone(),
            applied: 0,
            errors: 0,
        }
    }

    /// True when `vni` holds no entry and no port.
    fn vni_is_empty(&self, vni: Vni) -> bool {
        let in_vni = |(v, _): &(Vni, _)| *v == vni;
        self.vnis.get(&vni).is_none_or(BTreeSet::is_empty)
            && !self.fdb.keys().any(in_vni)
            && !self.flood.contains_key(&vni)
            && !self.neigh.keys().any(|(v, _)| *v == vni)
    }

    fn apply_delta(&mut self, intent: &DataplaneIntent) -> bool {
        if let Some(vni) = entry_vni(intent) {
            if !self.vnis.contains_key(&vni) {
                return false;
            }
        }
        match *intent {
            DataplaneIntent::Vni { vni } => self.vnis.insert(vni, BTreeSet::new()).is_none(),
            DataplaneIntent::RemoveVni { vni } => {
                self.vnis.contains_key(&vni)
                    && self.vni_is_empty(vni)
                    && self.vnis.remove(&vni).is_some()
            }
            DataplaneIntent::Port { vni, port } => {
                self.vnis.get_mut(&vni).is_some_and(|p| p.insert(port))
            }
            DataplaneIntent::RemovePort { vni, port } => {
                self.vnis.get_mut(&vni).is_some_and(|p| p.remove(&port))
            }
            DataplaneIntent::Synced => true,
            DataplaneIntent::RemoteMac {
                vni,
                mac,
                vtep,
                sticky,
            } => {
                // Replaces an earlier entry for the same MAC: a move re-points it.
                self.fdb.insert((vni, mac), FdbEntry { vtep, sticky });
                true
            }
            DataplaneIntent::RemoveRemoteMac { vni, mac } => self.fdb.remove(&(vni, mac)).is_some(),
            DataplaneIntent::Flood { vni, vtep } => self.flood.entry(vni).or_default().insert(vtep),
            DataplaneIntent::RemoveFlood { vni, vtep } => {
                let removed = self.flood.get_mut(&vni).is_some_and(|s| s.remove(&vtep));
                if self.flood.get(&vni).is_some_and(BTreeSet::is_empty) {
                    self.flood.remove(&vni);
                }
                removed
            }
            DataplaneIntent::Neighbor {
                vni,
                ip,
                mac,
                router,
                local,
            } => {
                self.neigh
                    .insert((vni, ip), NeighEntry { mac, router, local });
                true
            }
            DataplaneIntent::RemoveNeighbor { vni, ip } => self.neigh.remove(&(vni, ip)).is_some(),
        }
    }
}

/// The VNI an entry or port intent belongs to (`None` for the VNI intents themselves and
/// [`DataplaneIntent::Synced`]).
fn entry_vni(intent: &DataplaneIntent) -> Option<Vni> {
    match *intent {
        DataplaneIntent::RemoteMac { vni, .. }
        | DataplaneIntent::RemoveRemoteMac { vni, .. }
        | DataplaneIntent::Flood { vni, .. }
        | DataplaneIntent::RemoveFlood { vni, .. }
        | DataplaneIntent::Neighbor { vni, .. }
        | DataplaneIntent::RemoveNeighbor { vni, .. }
        | DataplaneIntent::Port { vni, .. }
        | DataplaneIntent::RemovePort { vni, .. } => Some(vni),
        DataplaneIntent::Vni { .. }
        | DataplaneIntent::RemoveVni { .. }
        | DataplaneIntent::Synced => None,
    }
}

impl Dataplane for MemoryDataplane {
    fn apply(&mut self, intent: &DataplaneIntent) -> Result<(), Inconsistent> {
        self.applied += 1;
        if self.apply_delta(intent) {
            Ok(())
        } else {
            self.errors += 1;
            Err(Inconsistent { intent: *intent })
        }
    }

    fn memory(&self) -> Option<&MemoryDataplane> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::NoDataplane;

    fn mac(n: u8) -> MacAddress {
        MacAddress([2, 0, 0, 0, 0, n])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn vni(n: u32) -> Vni {
        Vni::new(n).unwrap()
    }

    #[test]
    fn deltas_apply_exactly_and_a_move_re_points_in_place() {
        let mut d = MemoryDataplane::default();
        let (a, b) = (ip("198.19.0.2"), ip("198.19.0.3"));
        let v = vni(100);
        d.apply(&DataplaneIntent::Vni { vni: v }).unwrap();
        d.apply(&DataplaneIntent::RemoteMac {
            vni: v,
            mac: mac(1),
            vtep: a,
            sticky: false,
        })
        .unwrap();
        d.apply(&DataplaneIntent::RemoteMac {
            vni: v,
            mac: mac(1),
            vtep: b,
            sticky: true,
        })
        .unwrap();
        assert_eq!(
            d.fdb.get(&(v, mac(1))),
            Some(&FdbEntry {
                vtep: b,
                sticky: true
            })
        );
        d.apply(&DataplaneIntent::Flood { vni: v, vtep: a })
            .unwrap();
        d.apply(&DataplaneIntent::Flood { vni: v, vtep: b })
            .unwrap();
        assert_eq!(d.flood[&v].len(), 2);
        d.apply(&DataplaneIntent::Neighbor {
            vni: v,
            ip: ip("192.0.2.1"),
            mac: mac(1),
            router: false,
            local: false,
        })
        .unwrap();
        for i in [
            DataplaneIntent::RemoveRemoteMac {
                vni: v,
                mac: mac(1),
            },
            DataplaneIntent::RemoveFlood { vni: v, vtep: a },
            DataplaneIntent::RemoveFlood { vni: v, vtep: b },
            DataplaneIntent::RemoveNeighbor {
                vni: v,
                ip: ip("192.0.2.1"),
            },
        ] {
            d.apply(&i).unwrap();
        }
        d.apply(&DataplaneIntent::RemoveVni { vni: v }).unwrap();
        assert!(d.is_empty());
        assert_eq!((d.applied, d.errors), (11, 0));
    }

    #[test]
    fn inconsistent_deltas_are_refused_and_counted() {
        let mut d = MemoryDataplane::default();
        let a = ip("198.19.0.2");
        let v = vni(100);
        let flood = DataplaneIntent::Flood { vni: v, vtep: a };
        assert!(d.apply(&flood).is_err(), "an entry of an unknown VNI");
        d.apply(&DataplaneIntent::Vni { vni: v }).unwrap();
        assert!(d.apply(&DataplaneIntent::Vni { vni: v }).is_err());
        let refused = [
            DataplaneIntent::RemoveRemoteMac {
                vni: v,
                mac: mac(1),
            },
            DataplaneIntent::RemoveFlood { vni: v, vtep: a },
            DataplaneIntent::RemoveNeighbor {
                vni: v,
                ip: ip("192.0.2.1"),
            },
        ];
        for i in refused {
            assert_eq!(d.apply(&i), Err(Inconsistent { intent: i }));
        }
        d.apply(&DataplaneIntent::Flood { vni: v, vtep: a })
            .unwrap();
        let twice = DataplaneIntent::Flood { vni: v, vtep: a };
        let e = d.apply(&twice).unwrap_err();
        assert!(e.to_string().contains("already there"), "{e}");
        assert_eq!(d.errors, 6);
        let port = PortName::new("veth-a").unwrap();
        d.apply(&DataplaneIntent::Port { vni: v, port }).unwrap();
        assert!(d.apply(&DataplaneIntent::Port { vni: v, port }).is_err());
        assert!(
            d.apply(&DataplaneIntent::RemoveVni { vni: v }).is_err(),
            "a VNI that still holds a port and a flood entry"
        );
        d.apply(&DataplaneIntent::RemovePort { vni: v, port })
            .unwrap();
        assert_eq!(d.errors, 8);
        // A removal in another VNI leaves this one alone.
        assert!(d
            .apply(&DataplaneIntent::RemoveFlood {
                vni: vni(200),
                vtep: a
            })
            .is_err());
        assert_eq!(d.flood[&v].len(), 1);
        assert_eq!(d.tables().errors, 0, "tables() drops the counters");
    }

    #[test]
    fn none_keeps_nothing() {
        let mut d = NoDataplane;
        d.apply(&DataplaneIntent::Flood {
            vni: vni(1),
            vtep: ip("198.19.0.2"),
        })
        .unwrap();
        assert!(d.memory().is_none());
        assert_eq!(d.kind(), "none");
    }
}
