//! The EVPN engine inside the daemon: moves EVPN best-path changes from the RIB into the engine,
//! the engine's routes back into the RIB, its data-plane intents into the data plane and its
//! events into the log and counters. The engine itself (crate `evpnd-evpn`) is sans-I/O; this
//! module is the glue the core task runs on every pump (DESIGN.md §2).
//!
//! Order of one [`EvpnNode::step`]: best-path changes → engine → routes → RIB, repeated until
//! both sides are quiet (a bounded number of rounds), then intents and events are drained. The
//! RIB reports our own originations as best-path changes too; the engine ignores routes whose
//! VTEP is its own, so the loop settles after one extra round.

use crate::config::{DataplaneKind, EvpnConfig};
use crate::dataplane::{self, Dataplane};
use evpnd_bgp::rib::{BestChange, Rib};
use evpnd_evpn::types::{EngineEvent, RouteChange, Subject};
use evpnd_evpn::{Engine, EviConfig, ImportTarget, ResolvedEvi};
use evpnd_wire::community::RouteTarget;
use evpnd_wire::{AsPath, Family, Origin, PathAttribute};
use std::net::IpAddr;
use std::time::Instant;
use tracing::{info, warn};

/// Rounds of RIB ⇄ engine exchange per step before giving the rest of the daemon a turn.
const MAX_ROUNDS: usize = 64;

/// Events by kind and traffic through the engine since the daemon started (`ListVnis`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
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
    /// Intents applied to the data plane.
    pub intents: u64,
}

/// The engine with its data plane and counters.
pub struct EvpnNode {
    /// The sans-I/O engine.
    pub engine: Engine,
    /// Where intents go.
    pub dataplane: Box<dyn Dataplane>,
    /// Counters for the API.
    pub counters: Counters,
    /// The local VTEP.
    pub vtep: IpAddr,
}

impl EvpnNode {
    /// An engine with the EVIs and static endpoints of `cfg`, routes and intents queued; the
    /// RIB (empty at start) is replayed into it, so this also works on a running RIB.
    pub fn start(cfg: &EvpnConfig, kind: DataplaneKind, rib: &Rib, now: Instant) -> Self {
        let mut node = EvpnNode {
            engine: Engine::new(cfg.engine.clone()),
            dataplane: dataplane::build(kind),
            counters: Counters::default(),
            vtep: cfg.engine.vtep,
        };
        for evi in &cfg.evis {
            if let Err(e) = node.engine.add_evi(evi.clone()) {
                warn!(vni = evi.vni, "cannot add EVI: {e}");
            }
        }
        node.replay(rib, now);
        for a in &cfg.endpoints {
            if let Err(e) = node.engine.local_attach(a, now) {
                warn!(vni = a.vni, mac = %a.mac, "cannot attach configured endpoint: {e}");
            }
        }
        info!(vtep = %node.vtep, evis = cfg.evis.len(), endpoints = cfg.endpoints.len(), dataplane = node.dataplane.kind(), "EVPN engine running");
        node
    }

    /// Feeds every current EVPN best path to the engine: owed after an EVI is added, since the
    /// engine keeps no route that matched no EVI.
    fn replay(&mut self, rib: &Rib, now: Instant) {
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
    /// applies intents and records events. True when anything moved.
    pub fn step(&mut self, rib: &mut Rib, now: Instant) -> bool {
        let mut progress = false;
        for _ in 0..MAX_ROUNDS {
            let mut moved = false;
            for change in rib.poll_best_changes() {
                moved = true;
                // Other families' changes are drained too, so they do not pile up.
                if change.family == Family::L2VPN_EVPN {
                    self.engine.remote_best_change(&change, now);
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
        while let Some(intent) = self.engine.poll_intent() {
            progress = true;
            self.counters.intents += 1;
            self.dataplane.apply(&intent);
        }
        while let Some(ev) = self.engine.poll_event() {
            progress = true;
            self.record(&ev, now);
        }
        progress
    }

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

    fn record(&mut self, ev: &EngineEvent, now: Instant) {
        let c = &mut self.counters;
        match *ev {
            EngineEvent::Learned { vni, mac, at } => {
                c.learned += 1;
                info!(vni, %mac, %at, "MAC learned");
            }
            EngineEvent::Moved {
                vni,
                mac,
                from,
                to,
                sequence,
            } => {
                c.moved += 1;
                info!(vni, %mac, %from, %to, sequence, "MAC moved");
            }
            EngineEvent::Removed { vni, mac } => {
                c.removed += 1;
                info!(vni, %mac, "MAC removed");
            }
            EngineEvent::Duplicate {
                vni,
                subject,
                at,
                until,
            } => {
                c.duplicate += 1;
                let secs = until.map(|u| u.saturating_duration_since(now).as_secs());
                warn!(vni, subject = %subject_text(&subject), %at, freeze_seconds = ?secs, "duplicate detected: frozen (None = until cleared)");
            }
            EngineEvent::Unfrozen {
                vni,
                subject,
                by_operator,
            } => {
                c.unfrozen += 1;
                info!(vni, subject = %subject_text(&subject), by_operator, "duplicate freeze ended");
            }
            EngineEvent::StickyConflict {
                vni,
                mac,
                sticky_at,
                claimed_at,
            } => {
                c.sticky_conflict += 1;
                warn!(vni, %mac, %sticky_at, %claimed_at, "sticky MAC claimed elsewhere: claim ignored");
            }
        }
    }

    /// The next freeze expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Ends freezes that expired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.engine.poll_timeout().is_some_and(|d| d <= now) {
            self.engine.handle_timeout(now);
        }
    }
}

/// The exact route targets the EVIs of `cfg` import (the auto-derived one when an EVI lists
/// none): originated as RT-Constraint memberships (RFC 4684 §4). A wildcard `*:VNI` import
/// cannot be expressed as a membership; such an EVI needs `[bgp] import-route-targets` or a
/// peer without RTC.
pub fn import_route_targets(cfg: &EvpnConfig) -> Vec<RouteTarget> {
    let mut out = Vec::new();
    for evi in &cfg.evis {
        for rule in ResolvedEvi::resolve(&cfg.engine, evi).import {
            if let ImportTarget::Exact(rt) = rule {
                if !out.contains(&rt) {
                    out.push(rt);
                }
            }
        }
    }
    out
}

/// True when some EVI of `cfg` imports with a wildcard (which RT-Constraint cannot carry).
pub fn has_wildcard_import(cfg: &EvpnConfig) -> bool {
    cfg.evis
        .iter()
        .any(|e: &EviConfig| e.import.iter().any(|i| matches!(i, ImportTarget::AnyAs(_))))
}

/// A subject as text: the MAC or the IP.
pub fn subject_text(s: &Subject) -> String {
    match s {
        Subject::Mac(m) => m.to_string(),
        Subject::Ip(ip) => ip.to_string(),
    }
}

/// Import rules as the API shows them: the route target, or `*:VNI`.
pub fn import_text(i: &ImportTarget) -> String {
    match i {
        ImportTarget::Exact(rt) => rt.to_string(),
        ImportTarget::AnyAs(vni) => format!("*:{vni}"),
    }
}
