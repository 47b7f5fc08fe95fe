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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::parse;
    use evpnd_bgp::rib::RibConfig;
    use evpnd_evpn::types::{Attachment, Location};
    use evpnd_wire::{NextHop, Nlri, Route};

    fn node(vtep: &str, endpoints: &str) -> (EvpnNode, Rib, EvpnConfig) {
        let text = format!(
            "asn = 65000\nrouter-id = \"{vtep}\"\n[evpn]\nvtep = \"{vtep}\"\n[[vni]]\nvni = 100\n[dataplane]\nkind = \"memory\"\n{endpoints}"
        );
        let c = parse(&text).unwrap();
        let rib = Rib::new(RibConfig::new(65000, c.router_id));
        let e = c.evpn.unwrap();
        let n = EvpnNode::start(&e, c.dataplane, &rib, Instant::now());
        (n, rib, e)
    }

    /// Copies `from`'s local EVPN routes into `to` as an iBGP peer would deliver them (same
    /// attributes and next hop), so two engines can talk without sockets.
    fn carry(from: &Rib, to: &mut Rib) {
        for (route, paths) in from.loc_rib(Family::L2VPN_EVPN) {
            let p = &paths[0];
            let mut attrs = vec![PathAttribute::ExtendedCommunities(
                p.attrs.ext_communities.clone(),
            )];
            if let Some(t) = &p.attrs.pmsi_tunnel {
                attrs.push(PathAttribute::PmsiTunnel(t.clone()));
            }
            to.originate(
                Family::L2VPN_EVPN,
                Nlri::new(route),
                attrs,
                p.attrs.next_hop.clone(),
            );
        }
    }

    #[test]
    fn step_originates_with_origin_igp_and_the_vtep_as_next_hop() {
        let (mut n, mut rib, cfg) = node(
            "198.19.0.1",
            "[[endpoint]]\nvni = 100\nmac = \"02:00:00:00:00:01\"\nip = \"192.0.2.1\"\n",
        );
        assert!(n.step(&mut rib, Instant::now()));
        let routes: Vec<(Route, Vec<evpnd_bgp::rib::Path>)> =
            rib.loc_rib(Family::L2VPN_EVPN).collect();
        // Type 3 for the VNI, type 2 for the MAC and for MAC+IP (RFC 7432 §9.1, §11.1).
        assert_eq!(routes.len(), 3);
        for (_, paths) in &routes {
            let a = &paths[0].attrs;
            assert_eq!(a.origin, Origin::Igp);
            assert_eq!(a.as_path, AsPath::default());
            assert_eq!(a.next_hop, NextHop::from_ip("198.19.0.1".parse().unwrap()));
        }
        assert_eq!(n.counters.routes_originated, 3);
        // Settled: a second step moves nothing (our own routes are not imported).
        assert!(!n.step(&mut rib, Instant::now()));
        // RT-Constraint gets the auto-derived import target ASN:VNI.
        assert_eq!(
            import_route_targets(&cfg),
            vec![RouteTarget::As2 {
                asn: 65000,
                value: 100
            }]
        );
        assert!(!has_wildcard_import(&cfg));
    }

    #[test]
    fn routes_of_one_engine_reach_the_other_and_its_memory_dataplane() {
        let now = Instant::now();
        let (mut a, mut rib_a, _) = node("198.19.0.1", "");
        let (mut b, mut rib_b, _) = node("198.19.0.2", "");
        let mac = "02:00:00:00:00:01".parse().unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        a.engine
            .local_attach(&Attachment::new(100, mac, Some(ip)), now)
            .unwrap();
        a.step(&mut rib_a, now);
        carry(&rib_a, &mut rib_b);
        b.step(&mut rib_b, now);
        let vtep_a: IpAddr = "198.19.0.1".parse().unwrap();
        let macs = b.engine.mac_table(100);
        assert_eq!(macs.len(), 1);
        assert_eq!(macs[0].origin, Location::Remote { vtep: vtep_a });
        assert_eq!(b.engine.flood_list(100), vec![vtep_a]);
        let m = b.dataplane.memory().unwrap();
        assert_eq!(m.fdb[&(100, mac)].vtep, vtep_a);
        assert_eq!(
            m.flood[&100].iter().copied().collect::<Vec<_>>(),
            vec![vtep_a]
        );
        assert_eq!(m.neigh[&(100, ip)].mac, mac);
        assert!(!m.neigh[&(100, ip)].local);
        assert_eq!(m.errors, 0);
        assert_eq!(b.counters.learned, 1);

        // A detaches; B's withdrawal of the route empties its table and data plane.
        a.engine.local_detach(100, mac, None, now).unwrap();
        a.step(&mut rib_a, now);
        for (route, _) in rib_b.loc_rib(Family::L2VPN_EVPN).collect::<Vec<_>>() {
            if rib_a.best(Family::L2VPN_EVPN, &route).is_none() {
                rib_b.withdraw_local(Family::L2VPN_EVPN, &Nlri::new(route));
            }
        }
        b.step(&mut rib_b, now);
        let m = b.dataplane.memory().unwrap();
        assert!(m.fdb.is_empty() && m.neigh.is_empty());
        assert_eq!(m.flood.len(), 1, "A still serves VNI 100");
        assert_eq!(m.errors, 0);
        assert!(b.engine.mac_table(100).is_empty());
    }
}
