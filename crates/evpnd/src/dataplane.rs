//! The data-plane edge: where the EVPN engine's [`DataplaneIntent`] deltas go.
//!
//! The engine emits deltas (each add is matched by one removal later), so a data plane only
//! applies changes; it never has to diff tables. [`Dataplane`] is the seam the Linux data plane
//! (netlink: vxlan FDB, bridge neighbours, neigh_suppress) plugs into later. Two kinds exist now:
//!
//! * [`NoDataplane`] (`kind = "none"`): logs each intent at debug level and drops it.
//! * [`MemoryDataplane`] (`kind = "memory"`): keeps the FDB, flood lists and neighbour table in
//!   memory and applies the deltas exactly, counting inconsistent ones (a removal of something
//!   absent) as errors. Tests compare it with the engine's tables; `evpnctl show dataplane`
//!   prints it.

use evpnd_evpn::types::DataplaneIntent;
use evpnd_wire::MacAddress;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A data plane: applies the engine's intents in the order they were emitted.
pub trait Dataplane: Send {
    /// Applies one delta.
    fn apply(&mut self, intent: &DataplaneIntent);
    /// The in-memory tables, for data planes that keep them (`None`: nothing to show).
    fn memory(&self) -> Option<&MemoryDataplane> {
        None
    }
    /// A short name for logs and the API ("none", "memory").
    fn kind(&self) -> &'static str;
}

/// Builds the data plane `kind` names.
pub fn build(kind: crate::config::DataplaneKind) -> Box<dyn Dataplane> {
    match kind {
        crate::config::DataplaneKind::None => Box::new(NoDataplane),
        crate::config::DataplaneKind::Memory => Box::<MemoryDataplane>::default(),
    }
}

/// `kind = "none"`: intents are dropped (the daemon is a pure control plane).
#[derive(Debug, Default)]
pub struct NoDataplane;

impl Dataplane for NoDataplane {
    fn apply(&mut self, intent: &DataplaneIntent) {
        tracing::debug!(?intent, "data plane none: intent dropped");
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}

/// A remote FDB entry: where frames for a MAC go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// The remote VTEP.
    pub vtep: IpAddr,
    /// Static at that VTEP: local learning must not override it.
    pub sticky: bool,
}

/// A proxy ARP/ND binding (RFC 9161 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighEntry {
    /// The MAC the IP resolves to.
    pub mac: MacAddress,
    /// ND router flag (RFC 9047).
    pub router: bool,
    /// Attached locally rather than learned from a remote route.
    pub local: bool,
}

/// `kind = "memory"`: the tables a kernel data plane would hold, kept in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryDataplane {
    /// Remote FDB: (VNI, MAC) → VTEP.
    pub fdb: BTreeMap<(u32, MacAddress), FdbEntry>,
    /// Ingress-replication flood lists: VNI → remote VTEPs (RFC 8365 §9).
    pub flood: BTreeMap<u32, BTreeSet<IpAddr>>,
    /// Proxy ARP/ND: (VNI, IP) → MAC.
    pub neigh: BTreeMap<(u32, IpAddr), NeighEntry>,
    /// Intents applied.
    pub applied: u64,
    /// Inconsistent intents: a removal of an absent entry, or an add of a flood entry that is
    /// already there (each flood add must be matched by one removal).
    pub errors: u64,
}

impl Dataplane for MemoryDataplane {
    fn apply(&mut self, intent: &DataplaneIntent) {
        self.applied += 1;
        let ok = match *intent {
            DataplaneIntent::RemoteMac {
                vni,
                mac,
                vtep,
                sticky,
            } => {
                // Replaces an earlier entry for the same MAC (a move re-points it).
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
        };
        if !ok {
            self.errors += 1;
            tracing::warn!(?intent, "memory data plane: inconsistent intent");
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

    fn mac(n: u8) -> MacAddress {
        MacAddress([2, 0, 0, 0, 0, n])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn memory_applies_deltas_exactly() {
        let mut d = MemoryDataplane::default();
        let (a, b) = (ip("198.19.0.2"), ip("198.19.0.3"));
        d.apply(&DataplaneIntent::RemoteMac {
            vni: 100,
            mac: mac(1),
            vtep: a,
            sticky: false,
        });
        // A move re-points the entry in place.
        d.apply(&DataplaneIntent::RemoteMac {
            vni: 100,
            mac: mac(1),
            vtep: b,
            sticky: true,
        });
        assert_eq!(
            d.fdb.get(&(100, mac(1))),
            Some(&FdbEntry {
                vtep: b,
                sticky: true
            })
        );
        d.apply(&DataplaneIntent::Flood { vni: 100, vtep: a });
        d.apply(&DataplaneIntent::Flood { vni: 100, vtep: b });
        assert_eq!(d.flood[&100].len(), 2);
        d.apply(&DataplaneIntent::Neighbor {
            vni: 100,
            ip: ip("192.0.2.1"),
            mac: mac(1),
            router: false,
            local: false,
        });
        assert_eq!(d.errors, 0);
        d.apply(&DataplaneIntent::RemoveRemoteMac {
            vni: 100,
            mac: mac(1),
        });
        d.apply(&DataplaneIntent::RemoveFlood { vni: 100, vtep: a });
        d.apply(&DataplaneIntent::RemoveFlood { vni: 100, vtep: b });
        d.apply(&DataplaneIntent::RemoveNeighbor {
            vni: 100,
            ip: ip("192.0.2.1"),
        });
        assert!(d.fdb.is_empty() && d.flood.is_empty() && d.neigh.is_empty());
        assert_eq!((d.applied, d.errors), (9, 0));
    }

    #[test]
    fn memory_counts_inconsistent_deltas() {
        let mut d = MemoryDataplane::default();
        let a = ip("198.19.0.2");
        d.apply(&DataplaneIntent::RemoveRemoteMac {
            vni: 100,
            mac: mac(1),
        });
        d.apply(&DataplaneIntent::RemoveFlood { vni: 100, vtep: a });
        d.apply(&DataplaneIntent::RemoveNeighbor {
            vni: 100,
            ip: ip("192.0.2.1"),
        });
        d.apply(&DataplaneIntent::Flood { vni: 100, vtep: a });
        d.apply(&DataplaneIntent::Flood { vni: 100, vtep: a });
        assert_eq!(d.errors, 4);
        // Removal in another VNI does not touch this one.
        d.apply(&DataplaneIntent::RemoveFlood { vni: 200, vtep: a });
        assert_eq!(d.errors, 5);
        assert_eq!(d.flood[&100].len(), 1);
    }

    #[test]
    fn none_keeps_nothing() {
        let mut d = build(crate::config::DataplaneKind::None);
        d.apply(&DataplaneIntent::Flood {
            vni: 1,
            vtep: ip("198.19.0.2"),
        });
        assert!(d.memory().is_none());
        assert_eq!(d.kind(), "none");
        assert!(build(crate::config::DataplaneKind::Memory)
            .memory()
            .is_some());
    }
}
