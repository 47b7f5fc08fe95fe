//! Test fixture: several engines joined by an in-memory BGP fabric on a virtual clock.
//!
//! Each engine has its own speaker RIB (`evpnd_bgp::rib::Rib`): its originations go in there
//! exactly as the daemon puts them, and the RIB's best-path changes for locally originated
//! routes are delivered to every *other* engine as remote best changes. Route keys carry the
//! originator's RD, so each route has one originator and this is what a full iBGP mesh (or a
//! route reflector) delivers. Delivery can be held back to model BGP propagation delay.
//!
//! Every engine's intents are applied to a [`MemoryDataplane`] that refuses inconsistent
//! deltas (a removal of something absent), so tests can check that the intents add up to the
//! engine's tables with nothing left over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::*;
use evpnd_bgp::rib::{BestChange, Rib, RibConfig};
use evpnd_wire::{Family, MacAddress, Vni};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// The AS of every simulated NVE (iBGP).
pub const ASN: u32 = 65001;

/// The VNI most tests use.
pub const VNI: Vni = vni(100);

/// `n` as a VNI; tests only name valid ones.
pub const fn vni(n: u32) -> Vni {
    match Vni::new(n) {
        Ok(v) => v,
        Err(_) => panic!("not a valid VNI"),
    }
}

/// What a data plane holds after applying intents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryDataplane {
    /// (vni, mac) → (vtep, sticky).
    pub fdb: BTreeMap<(Vni, MacAddress), (IpAddr, bool)>,
    /// vni → VTEPs.
    pub flood: BTreeMap<Vni, BTreeSet<IpAddr>>,
    /// (vni, ip) → (mac, router, local).
    pub neigh: BTreeMap<(Vni, IpAddr), (MacAddress, bool, bool)>,
}

impl MemoryDataplane {
    /// Applies one delta; panics on an inconsistent one (the property under test).
    pub fn apply(&mut self, i: DataplaneIntent) {
        match i {
            DataplaneIntent::RemoteMac {
                vni,
                mac,
                vtep,
                sticky,
            } => {
                self.fdb.insert((vni, mac), (vtep, sticky));
            }
            DataplaneIntent::RemoveRemoteMac { vni, mac } => {
                assert!(
                    self.fdb.remove(&(vni, mac)).is_some(),
                    "removal of absent FDB entry {vni}/{mac}"
                );
            }
            DataplaneIntent::Flood { vni, vtep } => {
                assert!(
                    self.flood.entry(vni).or_default().insert(vtep),
                    "duplicate flood entry {vni}/{vtep}"
                );
            }
            DataplaneIntent::RemoveFlood { vni, vtep } => {
                let set = self.flood.get_mut(&vni).expect("flood list of vni");
                assert!(set.remove(&vtep), "removal of absent flood {vni}/{vtep}");
                if set.is_empty() {
                    self.flood.remove(&vni);
                }
            }
            DataplaneIntent::Neighbor {
                vni,
                ip,
                mac,
                router,
                local,
            } => {
                self.neigh.insert((vni, ip), (mac, router, local));
            }
            DataplaneIntent::RemoveNeighbor { vni, ip } => {
                assert!(
                    self.neigh.remove(&(vni, ip)).is_some(),
                    "removal of absent neighbour {vni}/{ip}"
                );
            }
        }
    }
}

/// One simulated NVE.
pub struct Node {
    /// Its engine.
    pub engine: Engine,
    /// Its speaker RIB.
    pub rib: Rib,
    /// Its data plane.
    pub dp: MemoryDataplane,
    /// Every event the engine raised.
    pub events: Vec<EngineEvent>,
    /// Every route change the engine emitted.
    pub routes: Vec<RouteChange>,
}

/// The fabric.
pub struct Fabric {
    /// The NVEs; node `i` has VTEP 198.18.0.(i+1) and router id 198.19.0.(i+1).
    pub nodes: Vec<Node>,
    /// Best changes not yet delivered: (from node, change).
    pending: VecDeque<(usize, BestChange)>,
    /// The virtual clock's origin.
    pub t0: Instant,
    /// The current virtual time.
    pub now: Instant,
}

/// VTEP of node `i`.
pub fn vtep(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 18, 0, u8::try_from(i + 1).unwrap()))
}

/// A locally administered MAC.
pub fn mac(last: u8) -> MacAddress {
    MacAddress([0x02, 0, 0, 0, 0, last])
}

impl Fabric {
    /// `n` nodes with `config` applied to each (VTEP/router id filled in).
    pub fn new(n: usize, dd: DuplicateDetection) -> Fabric {
        let t0 = Instant::now();
        let nodes = (0..n)
            .map(|i| {
                let rid = Ipv4Addr::new(198, 19, 0, u8::try_from(i + 1).unwrap());
                let mut cfg = EngineConfig::new(ASN, rid, vtep(i));
                cfg.duplicate_detection = dd;
                Node {
                    engine: Engine::new(cfg),
                    rib: Rib::new(RibConfig::new(ASN, rid)),
                    dp: MemoryDataplane::default(),
                    events: Vec::new(),
                    routes: Vec::new(),
                }
            })
            .collect();
        Fabric {
            nodes,
            pending: VecDeque::new(),
            t0,
            now: t0,
        }
    }

    /// Moves the virtual clock to `t0 + secs` (never backwards) and fires engine timers.
    pub fn at(&mut self, secs: f64) {
        let t = self.t0 + Duration::from_secs_f64(secs);
        assert!(t >= self.now, "virtual time goes forward");
        self.now = t;
        for n in &mut self.nodes {
            n.engine.handle_timeout(t);
        }
        self.collect();
    }

    /// Adds VNI `vni` (auto RD/RT) on node `i`.
    pub fn add_vni(&mut self, i: usize, vni: Vni) {
        self.nodes[i].engine.add_evi(EviConfig::new(vni));
        // The driver replays the current best paths of the other nodes' routes.
        let replay: Vec<BestChange> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, n)| {
                n.rib
                    .loc_rib(Family::L2VPN_EVPN)
                    .filter_map(|(route, paths)| {
                        paths.first().map(|p| BestChange {
                            family: Family::L2VPN_EVPN,
                            route,
                            best: Some(p.clone()),
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let now = self.now;
        for c in &replay {
            self.nodes[i].engine.remote_best_change(c, now);
        }
        self.collect();
    }

    /// Removes VNI `vni` from node `i`.
    pub fn remove_vni(&mut self, i: usize, vni: Vni) {
        self.nodes[i].engine.remove_evi(vni);
        self.collect();
    }

    /// Attaches on node `i`.
    pub fn attach(&mut self, i: usize, a: Attachment) {
        let now = self.now;
        self.nodes[i].engine.local_attach(&a, now).unwrap();
        self.collect();
    }

    /// Attaches `mac` (no IP, not sticky) in `vni` on node `i`.
    pub fn attach_mac(&mut self, i: usize, vni: Vni, m: MacAddress) {
        self.attach(i, Attachment::new(vni, m, None));
    }

    /// Detaches on node `i`.
    pub fn detach(&mut self, i: usize, vni: Vni, m: MacAddress, ip: Option<IpAddr>) {
        let now = self.now;
        self.nodes[i].engine.local_detach(vni, m, ip, now).unwrap();
        self.collect();
    }

    /// Drains every engine's outputs: routes into its RIB (and its RIB's best changes into
    /// the pending queue), intents into its data plane, events into its log.
    pub fn collect(&mut self) {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            while let Some(r) = n.engine.poll_route() {
                n.routes.push(r.clone());
                match r {
                    RouteChange::Originate {
                        nlri,
                        attributes,
                        next_hop,
                    } => n
                        .rib
                        .originate(Family::L2VPN_EVPN, nlri, attributes, next_hop),
                    RouteChange::Withdraw { nlri } => {
                        n.rib.withdraw_local(Family::L2VPN_EVPN, &nlri)
                    }
                }
            }
            for c in n.rib.poll_best_changes() {
                self.pending.push_back((i, c));
            }
            while let Some(x) = n.engine.poll_intent() {
                n.dp.apply(x);
            }
            while let Some(e) = n.engine.poll_event() {
                n.events.push(e);
            }
        }
    }

    /// Delivers up to `max` pending changes (in order); returns how many it delivered.
    pub fn deliver(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some((from, c)) = self.pending.pop_front() else {
                break;
            };
            let now = self.now;
            for (j, node) in self.nodes.iter_mut().enumerate() {
                if j != from {
                    node.engine.remote_best_change(&c, now);
                }
            }
            n += 1;
            self.collect();
        }
        n
    }

    /// Delivers until nothing is pending (bounded: panics on a livelock).
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            if self.deliver(usize::MAX) == 0 {
                return;
            }
        }
        panic!("fabric did not settle");
    }

    /// True when changes are waiting for delivery.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Where node `i` has `mac` of `vni`.
    pub fn location(&self, i: usize, vni: Vni, m: MacAddress) -> Option<MacEntry> {
        self.nodes[i]
            .engine
            .mac_table(vni)
            .into_iter()
            .find(|e| e.mac == m)
    }

    /// Checks that node `i`'s data plane equals its tables for `vnis` (no leftover intents).
    pub fn check_dataplane(&self, i: usize, vnis: &[Vni]) {
        let n = &self.nodes[i];
        let mut want = MemoryDataplane::default();
        for &vni in vnis {
            for e in n.engine.mac_table(vni) {
                if let Location::Remote { vtep } = e.origin {
                    want.fdb.insert((vni, e.mac), (vtep, e.sticky));
                }
            }
            let fl: BTreeSet<IpAddr> = n.engine.flood_list(vni).into_iter().collect();
            if !fl.is_empty() {
                want.flood.insert(vni, fl);
            }
            for b in n.engine.neighbors(vni) {
                want.neigh
                    .insert((vni, b.ip), (b.mac, b.router, b.origin == Location::Local));
            }
        }
        assert_eq!(n.dp, want, "node {i}: data plane differs from the tables");
    }

    /// Node `i`'s events, cleared.
    pub fn take_events(&mut self, i: usize) -> Vec<EngineEvent> {
        std::mem::take(&mut self.nodes[i].events)
    }
}
