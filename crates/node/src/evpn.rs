//! The EVPN engine inside the node: the exchange of best-path changes and routes between the
//! RIB and the engine, the attributes every engine route gets before it enters the RIB, and the
//! route targets the EVIs import (for RT-Constraint).
//!
//! One [`EvpnPart::step`]: the RIB's best-path changes go to the engine, the engine's routes go
//! to the RIB, repeated until both are quiet (at most [`MAX_ROUNDS`] rounds; the node's pump
//! calls again if work is left). The RIB reports our own originations as best-path changes
//! too; the engine ignores routes whose VTEP is its own, so the loop settles after one extra
//! round.

use crate::event::NodeEvent;
use evpnd_bgp::rib::{BestChange, Rib};
use evpnd_evpn::{Engine, EngineEvent, ImportTarget, RouteChange};
use evpnd_wire::{AsPath, Family, Origin, PathAttribute, RouteTarget};
use evpnd_wire::{MacAddress, Vni};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// Rounds of RIB ⇄ engine exchange per step before the rest of the node gets a turn.
pub const MAX_ROUNDS: usize = 64;

/// Events by kind and traffic through the engine since the node started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvpnCounters {
    /// [`EngineEvent::Learned`].
    pub learned: u64,
    /// [`EngineEvent::Moved`].
    pub moved: u64,
    /// [`EngineEvent::Removed`].
    pub removed: u64,
    /// [`EngineEvent::Duplicate`].
    pub duplicate: u64,
    /// [`EngineEvent::Unfrozen`].
    pub unfrozen: u64,
    /// [`EngineEvent::StickyConflict`].
    pub sticky_conflict: u64,
    /// Routes handed to the speaker.
    pub routes_originated: u64,
    /// Routes withdrawn from the speaker.
    pub routes_withdrawn: u64,
    /// Data-plane intents handed to the driver.
    pub intents: u64,
    /// Intents the data plane reported it could not apply.
    pub intent_failures: u64,
}

/// Who says a local MAC is here: the orchestrator or configuration (an attach), the data plane
/// (kernel learning), or both. A bridge entry ageing out detaches the MAC only when nobody
/// attached it, so it never withdraws an endpoint the orchestrator attached; the
/// orchestrator's detach always detaches it (and releases its port).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalOrigin {
    /// Attached through a command or the configuration.
    pub attached: bool,
    /// Learned by the data plane.
    pub learned: bool,
}

/// The engine and its counters.
#[derive(Debug)]
pub struct EvpnPart {
    /// The sans-I/O engine.
    pub engine: Engine,
    /// Counters for `show vnis`.
    pub counters: EvpnCounters,
    /// Why each local MAC is attached.
    pub origins: HashMap<(Vni, MacAddress), LocalOrigin>,
    /// The data plane's word on each VNI's devices (absent: nothing reported).
    pub links: BTreeMap<Vni, (bool, Option<String>)>,
}

impl EvpnPart {
    /// The engine, with no local endpoint yet.
    pub fn new(engine: Engine) -> Self {
        EvpnPart {
            engine,
            counters: EvpnCounters::default(),
            origins: HashMap::new(),
            links: BTreeMap::new(),
        }
    }

    /// Records one more reason for `mac` of `vni` to be here; true when it is the first.
    pub fn add_origin(&mut self, vni: Vni, mac: MacAddress, learned: bool) -> bool {
        let o = self.origins.entry((vni, mac)).or_default();
        let first = !o.attached && !o.learned;
        if learned {
            o.learned = true;
        } else {
            o.attached = true;
        }
        first
    }

    /// Drops one reason for `mac` of `vni` to be here; true when none is left (detach it).
    pub fn drop_origin(&mut self, vni: Vni, mac: MacAddress, learned: bool) -> bool {
        let Some(o) = self.origins.get_mut(&(vni, mac)) else {
            return true;
        };
        if learned {
            o.learned = false;
        } else {
            o.attached = false;
        }
        if o.attached || o.learned {
            return false;
        }
        self.origins.remove(&(vni, mac));
        true
    }

    /// Forgets why `mac` of `vni` was here (an explicit detach).
    pub fn forget_origin(&mut self, vni: Vni, mac: MacAddress) {
        self.origins.remove(&(vni, mac));
    }

    /// Forgets the local origins of `vni` (the EVI goes).
    pub fn forget_vni(&mut self, vni: Vni) {
        self.origins.retain(|(v, _), _| *v != vni);
        self.links.remove(&vni);
    }
    /// The local VTEP.
    pub fn vtep(&self) -> IpAddr {
        self.engine.config().vtep
    }

    /// Feeds every current EVPN best path to the engine: owed after an EVI is added, since the
    /// engine keeps no route that matched no EVI.
    pub fn replay(&mut self, rib: &Rib, now: Instant) {
        let changes: Vec<BestChange> = rib
            .loc_rib(Family::L2VPN_EVPN)
            .filter_map(|(route, paths)| {
                paths.into_iter().next().map(|best| BestChange {
                    family: Family::L2VPN_EVPN,
                    route,
                    best: Some(best),
                })
            })
            .collect();
        for c in &changes {
            self.engine.remote_best_change(c, now);
        }
    }

    /// Exchanges best-path changes and routes with `rib` until both are quiet (bounded), then
    /// records the engine's events into `events`. Every best-path change is also kept in
    /// `feed` when a watcher asked for them. True when anything moved.
    pub fn step(
        &mut self,
        rib: &mut Rib,
        now: Instant,
        events: &mut VecDeque<NodeEvent>,
        feed: &mut Option<VecDeque<BestChange>>,
    ) -> bool {
        let mut progress = false;
        for _ in 0..MAX_ROUNDS {
            let mut moved = false;
            for change in rib.poll_best_changes() {
                moved = true;
                // Other families' changes are drained too, so they do not pile up.
                if change.family == Family::L2VPN_EVPN {
                    self.engine.remote_best_change(&change, now);
                }
                if let Some(f) = feed {
                    f.push_back(change);
                }
            }
            while let Some(r) = self.engine.poll_route() {
                moved = true;
                self.hand_to_rib(rib, r);
            }
            if !moved {
                break;
            }
            progress = true;
        }
        while let Some(ev) = self.engine.poll_event() {
            progress = true;
            self.count(&ev);
            events.push_back(NodeEvent::Engine(ev));
        }
        progress
    }

    /// An engine route enters the RIB as a locally originated path: ORIGIN IGP and an empty
    /// AS_PATH (RFC 4271 §5.1.1–5.1.2; the AS is prepended towards eBGP peers), then the
    /// engine's own attributes (communities, PMSI tunnel) and the VTEP as next hop.
    fn hand_to_rib(&mut self, rib: &mut Rib, r: RouteChange) {
        match r {
            RouteChange::Originate {
                nlri,
                attributes,
                next_hop,
            } => {
                self.counters.routes_originated += 1;
                let mut attrs = Vec::with_capacity(attributes.len() + 2);
                attrs.push(PathAttribute::Origin(Origin::Igp));
                attrs.push(PathAttribute::AsPath(AsPath::default()));
                attrs.extend(attributes);
                rib.originate(Family::L2VPN_EVPN, nlri, attrs, next_hop);
            }
            RouteChange::Withdraw { nlri } => {
                self.counters.routes_withdrawn += 1;
                rib.withdraw_local(Family::L2VPN_EVPN, &nlri);
            }
        }
    }

    fn count(&mut self, ev: &EngineEvent) {
        let c = &mut self.counters;
        match ev {
            EngineEvent::Learned { .. } => c.learned += 1,
            EngineEvent::Moved { .. } => c.moved += 1,
            EngineEvent::Removed { .. } => c.removed += 1,
            EngineEvent::Duplicate { .. } => c.duplicate += 1,
            EngineEvent::Unfrozen { .. } => c.unfrozen += 1,
            EngineEvent::StickyConflict { .. } => c.sticky_conflict += 1,
        }
    }

    /// The exact route targets the EVIs and then the VRFs import (the auto-derived one when
    /// one lists none), in EVI then VRF order, without repeats: each becomes an RT-Constraint
    /// membership (RFC 4684 §4).
    pub fn import_route_targets(&self) -> Vec<RouteTarget> {
        let mut out = Vec::new();
        // A set beside the list: thousands of EVIs must not cost a scan per target.
        let mut seen = std::collections::HashSet::new();
        let rules = self
            .engine
            .evis()
            .map(|e| &e.import)
            .chain(self.engine.vrfs().map(|v| &v.import));
        for import in rules {
            for rule in import {
                if let ImportTarget::Exact(rt) = rule {
                    if seen.insert(*rt) {
                        out.push(*rt);
                    }
                }
            }
        }
        out
    }

    /// True when some EVI or VRF imports with a wildcard (which RT-Constraint cannot carry).
    pub fn has_wildcard_import(&self) -> bool {
        let wildcard =
            |rules: &[ImportTarget]| rules.iter().any(|i| matches!(i, ImportTarget::AnyAs(_)));
        self.engine.evis().any(|e| wildcard(&e.import))
            || self.engine.vrfs().any(|v| wildcard(&v.import))
    }
}
