//! The NVE engine: local endpoints → routes, imported best paths → dataplane intents, with MAC
//! mobility, duplicate detection and proxy ARP/ND bindings.
//!
//! ## Data structures (why every route costs O(1))
//! * One [`MacRecord`] per `(vni, mac)` holds *every* claim on the MAC: the local attachment (if
//!   any) and the imported routes that name it (normally one or two: the MAC-only and MAC+IP
//!   routes of one VTEP; a few more only while a move is in flight). The winner is computed
//!   from that record alone ([`Engine::decide`]), so a route update never scans a table.
//! * One [`IpRecord`] per `(vni, ip)` does the same for IP↔MAC bindings; `local_ips` maps a
//!   locally bound IP to its MAC.
//! * Imported routes are remembered by route key (`imported`) with only the VNI they went to
//!   (and, for type 3, the flood VTEP); the rest of a type-2 route's contribution is its claim in
//!   the MAC record, so a withdrawal or a new best path undoes exactly that contribution without
//!   storing the route twice.
//! * Move history is a short deque per record (at most N timestamps); freeze expiries sit in a
//!   binary heap ordered by deadline, checked lazily.
//!
//! ## Mobility rules (RFC 7432 §15)
//! Sticky claims win over non-sticky ones. Between non-sticky claims the higher sequence number
//! wins and, on equal numbers, the lower VTEP address. A local claim that loses to a non-sticky
//! remote route is *dropped* (the MAC moved away: its routes are withdrawn, §15); a local claim
//! that loses to a sticky route is kept dormant and raises a sticky conflict (§15.2). A local
//! learn of a MAC held remotely is advertised with the remote sequence number + 1.

use crate::config::{EngineConfig, EviConfig, Freeze, ResolvedEvi};
use crate::types::{
    is_host_address, Attachment, DataplaneIntent, DuplicateState, EngineError, EngineEvent,
    Location, MacEntry, NeighborEntry, RouteChange, Subject, VniSummary,
};
use evpnd_bgp::rib::{BestChange, Path};
use evpnd_wire::{
    Esi, EvpnRoute, ExtCommunityKind, ExtendedCommunity, Family, InclusiveMulticastRoute,
    MacAddress, MacIpRoute, NextHop, Nlri, PathAttribute, PmsiTunnel, PmsiTunnelId, Route,
    RouteDistinguisher, RouteTarget, Vni,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// The route key of an imported EVPN route (the NLRI without its labels/ESI, as the RIB keys
/// it), so that a withdrawal finds what its announcement installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum ImportKey {
    MacIp {
        rd: RouteDistinguisher,
        ethernet_tag: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
    },
    Imet {
        rd: RouteDistinguisher,
        ethernet_tag: u32,
        originator: IpAddr,
    },
}

/// What one imported route contributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Imported {
    Mac {
        vni: Vni,
        mac: MacAddress,
        ip: Option<IpAddr>,
        vtep: IpAddr,
        sequence: u32,
        sticky: bool,
        router: bool,
        immutable: bool,
    },
    Flood {
        vni: Vni,
        vtep: IpAddr,
    },
}

/// What the engine keeps per imported route key: where to find its contribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    /// A type-2 route: its claim sits in the MAC record `(vni, key's MAC)`.
    Mac { vni: Vni },
    /// A type-3 route: one reference on the flood entry `(vni, vtep)`.
    Flood { vni: Vni, vtep: IpAddr },
}

impl Stored {
    fn of(imp: &Imported) -> Stored {
        match *imp {
            Imported::Mac { vni, .. } => Stored::Mac { vni },
            Imported::Flood { vni, vtep } => Stored::Flood { vni, vtep },
        }
    }

    fn vni(&self) -> Vni {
        match *self {
            Stored::Mac { vni } | Stored::Flood { vni, .. } => vni,
        }
    }
}

/// One imported route claiming a MAC (or an IP, with the MAC it binds the IP to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Claim {
    key: ImportKey,
    vtep: IpAddr,
    sequence: u32,
    sticky: bool,
    mac: MacAddress,
    router: bool,
    immutable: bool,
}

impl Claim {
    /// Preference among remote claims on one MAC: sticky first, then higher sequence, then
    /// lower VTEP address (RFC 7432 §15; sticky: §15.2), then the route key (determinism).
    fn mac_rank(&self) -> (bool, Reverse<u32>, IpAddr, ImportKey) {
        (!self.sticky, Reverse(self.sequence), self.vtep, self.key)
    }

    /// Preference among remote claims on one IP: immutable bindings first (RFC 9047 §3.1),
    /// then as for MACs.
    fn ip_rank(&self) -> (bool, Reverse<u32>, IpAddr, ImportKey) {
        (!self.immutable, Reverse(self.sequence), self.vtep, self.key)
    }
}

/// Flags of a locally bound IP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct IpFlags {
    router: bool,
    static_binding: bool,
}

/// A local attachment of a MAC with the IPs bound to it.
#[derive(Clone, Debug)]
struct LocalMac {
    sticky: bool,
    ips: BTreeMap<IpAddr, IpFlags>,
}

/// The installed location of a MAC with the attributes of the claim that won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Winner {
    at: Location,
    sequence: u32,
    sticky: bool,
}

/// What the engine advertises for a local MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Advertised {
    sequence: u32,
    sticky: bool,
}

/// Move counting and freeze state, shared by MACs and IPs. Allocated on the first counted move
/// (most MACs never move), so it costs one pointer per record until then.
#[derive(Clone, Debug, Default)]
struct Detection(Option<Box<DetectionState>>);

#[derive(Clone, Debug)]
struct DetectionState {
    moves: VecDeque<Instant>,
    state: DuplicateState,
}

impl Detection {
    fn new() -> Self {
        Detection(None)
    }

    fn state(&self) -> DuplicateState {
        self.0.as_ref().map_or(DuplicateState::Normal, |d| d.state)
    }

    fn frozen(&self) -> bool {
        matches!(self.state(), DuplicateState::Frozen { .. })
    }

    /// Moves counted so far.
    fn moves(&self) -> usize {
        self.0.as_ref().map_or(0, |d| d.moves.len())
    }

    fn get_or_create(&mut self) -> &mut DetectionState {
        self.0.get_or_insert_with(|| {
            Box::new(DetectionState {
                moves: VecDeque::new(),
                state: DuplicateState::Normal,
            })
        })
    }

    /// Back to normal with no moves counted.
    fn clear(&mut self) {
        self.0 = None;
    }
}

/// Every claim on one MAC of one VNI.
#[derive(Clone, Debug)]
struct MacRecord {
    local: Option<Box<LocalMac>>,
    remotes: Vec<Claim>,
    installed: Option<Winner>,
    advertised: Option<Advertised>,
    /// The sequence number of the local claim (kept while the record lives).
    local_seq: u32,
    detection: Detection,
    conflict: bool,
    since: Instant,
}

impl MacRecord {
    fn new(now: Instant) -> Self {
        MacRecord {
            local: None,
            remotes: Vec::new(),
            installed: None,
            advertised: None,
            local_seq: 0,
            detection: Detection::new(),
            conflict: false,
            since: now,
        }
    }

    fn best_remote(&self) -> Option<&Claim> {
        self.remotes.iter().min_by_key(|c| c.mac_rank())
    }

    fn max_remote_seq(&self) -> Option<u32> {
        self.remotes.iter().map(|c| c.sequence).max()
    }

    fn unused(&self) -> bool {
        self.local.is_none()
            && self.remotes.is_empty()
            && self.installed.is_none()
            && self.advertised.is_none()
            && !self.detection.frozen()
    }
}

/// The installed binding of an IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Binding {
    mac: MacAddress,
    at: Location,
    router: bool,
    immutable: bool,
}

/// Every claim on one IP of one VNI.
#[derive(Clone, Debug)]
struct IpRecord {
    remotes: Vec<Claim>,
    installed: Option<Binding>,
    detection: Detection,
}

impl IpRecord {
    fn new() -> Self {
        IpRecord {
            remotes: Vec::new(),
            installed: None,
            detection: Detection::new(),
        }
    }

    fn best_remote(&self) -> Option<&Claim> {
        self.remotes.iter().min_by_key(|c| c.ip_rank())
    }
}

/// A pending freeze expiry (checked against the record when it fires).
type TimerKey = (Vni, Subject);

/// The EVPN NVE engine of one router (sans-I/O).
///
/// Inputs: EVI configuration ([`Engine::add_evi`], [`Engine::remove_evi`]), local endpoint
/// events ([`Engine::local_attach`], [`Engine::local_detach`]), the speaker's EVPN best-path
/// changes ([`Engine::remote_best_change`]), time ([`Engine::handle_timeout`]) and operator
/// commands ([`Engine::clear_duplicate`]). Outputs, drained by the driver: routes for the
/// speaker ([`Engine::poll_route`]), data-plane deltas ([`Engine::poll_intent`]) and events
/// ([`Engine::poll_event`]).
///
/// Every endpoint event and every best-path change costs O(1) (module notes); only EVI
/// configuration changes walk the tables. After [`Engine::add_evi`] adds an EVI or changes its
/// import rules, the driver must replay the speaker's current EVPN best paths (the engine keeps
/// no routes that matched no EVI).
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    evis: BTreeMap<Vni, ResolvedEvi>,
    macs: HashMap<(Vni, MacAddress), MacRecord>,
    ips: HashMap<(Vni, IpAddr), IpRecord>,
    local_ips: HashMap<(Vni, IpAddr), MacAddress>,
    imported: HashMap<ImportKey, Stored>,
    flood: HashMap<Vni, BTreeMap<IpAddr, u32>>,
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    routes: VecDeque<RouteChange>,
    intents: VecDeque<DataplaneIntent>,
    events: VecDeque<EngineEvent>,
}

impl Engine {
    /// An engine with no EVI.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            config,
            evis: BTreeMap::new(),
            macs: HashMap::new(),
            ips: HashMap::new(),
            local_ips: HashMap::new(),
            imported: HashMap::new(),
            flood: HashMap::new(),
            timers: BinaryHeap::new(),
            routes: VecDeque::new(),
            intents: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The EVI of `vni` with its resolved RD and route targets.
    pub fn evi(&self, vni: Vni) -> Option<&ResolvedEvi> {
        self.evis.get(&vni)
    }

    /// Every EVI, by VNI.
    pub fn evis(&self) -> impl Iterator<Item = &ResolvedEvi> {
        self.evis.values()
    }

    // ----- configuration -----

    /// Adds (or reconfigures) an EVI and originates its type-3 route (RFC 7432 §11.1, RFC 8365
    /// §9). Reconfiguring re-originates the EVI's routes (withdrawing them first when the RD
    /// changes); see [`Engine`] for the replay the driver owes after import changes.
    pub fn add_evi(&mut self, evi: EviConfig) {
        let resolved = ResolvedEvi::resolve(&self.config, &evi);
        let vni = evi.vni;
        if let Some(old) = self.evis.get(&vni) {
            if *old == resolved {
                return;
            }
            if old.rd != resolved.rd {
                self.withdraw_evi_routes(vni);
            }
        }
        self.evis.insert(vni, resolved);
        self.originate_imet(vni);
        let mut macs: Vec<MacAddress> = self
            .macs
            .iter()
            .filter(|((v, _), r)| *v == vni && r.advertised.is_some())
            .map(|((_, m), _)| *m)
            .collect();
        macs.sort();
        for mac in macs {
            self.originate_mac_routes(vni, mac);
        }
    }

    /// Removes an EVI: withdraws every route it originated, forgets its local endpoints and
    /// removes its remote MACs, neighbours and flood entries (with the removal intents).
    pub fn remove_evi(&mut self, vni: Vni) {
        if !self.evis.contains_key(&vni) {
            return;
        }
        self.withdraw_evi_routes(vni);
        let mut macs: Vec<(MacAddress, MacRecord)> = Vec::new();
        self.macs.retain(|(v, m), r| {
            if *v == vni {
                macs.push((*m, r.clone()));
                false
            } else {
                true
            }
        });
        macs.sort_by_key(|(m, _)| *m);
        for (mac, r) in macs {
            if let Some(w) = r.installed {
                if matches!(w.at, Location::Remote { .. }) {
                    self.intents
                        .push_back(DataplaneIntent::RemoveRemoteMac { vni, mac });
                }
                self.events.push_back(EngineEvent::Removed { vni, mac });
            }
        }
        let mut ips: Vec<(IpAddr, IpRecord)> = Vec::new();
        self.ips.retain(|(v, ip), r| {
            if *v == vni {
                ips.push((*ip, r.clone()));
                false
            } else {
                true
            }
        });
        ips.sort_by_key(|(ip, _)| *ip);
        for (ip, r) in ips {
            if r.installed.is_some() {
                self.intents
                    .push_back(DataplaneIntent::RemoveNeighbor { vni, ip });
            }
        }
        self.local_ips.retain(|(v, _), _| *v != vni);
        self.imported.retain(|_, st| st.vni() != vni);
        if let Some(list) = self.flood.remove(&vni) {
            for vtep in list.into_keys() {
                self.intents
                    .push_back(DataplaneIntent::RemoveFlood { vni, vtep });
            }
        }
        self.evis.remove(&vni);
    }

    // ----- local endpoints -----

    /// A local endpoint appeared (RFC 7432 §9.1): `a.mac` (and `a.ip`) in `a.vni`. Originates
    /// the MAC-only type-2 route and, with an IP, the MAC+IP one (label 1 = VNI, RFC 8365
    /// §5.1.3), unless a remote claim wins (sticky, or the MAC is frozen as duplicate). A MAC
    /// held remotely is advertised with the remote sequence number + 1 (RFC 7432 §15) and
    /// counts as a move. Attaching again with the same values emits nothing; with other flags
    /// it re-advertises.
    pub fn local_attach(&mut self, a: &Attachment, now: Instant) -> Result<(), EngineError> {
        if !self.evis.contains_key(&a.vni) {
            return Err(EngineError::UnknownVni(a.vni));
        }
        if a.mac.is_multicast() || a.mac.is_zero() {
            return Err(EngineError::InvalidMac(a.mac));
        }
        if let Some(ip) = a.ip {
            if !is_host_address(ip) {
                return Err(EngineError::InvalidIp(ip));
            }
        }
        let key = (a.vni, a.mac);
        let rec = self.macs.entry(key).or_insert_with(|| MacRecord::new(now));
        let was_local = rec.local.is_some();
        let remote_seq = rec.max_remote_seq();
        let local = rec.local.get_or_insert_with(|| {
            Box::new(LocalMac {
                sticky: a.sticky,
                ips: BTreeMap::new(),
            })
        });
        local.sticky = a.sticky;
        let flags = IpFlags {
            router: a.router,
            static_binding: a.static_binding,
        };
        let ip_changed = match a.ip {
            Some(ip) => local.ips.insert(ip, flags) != Some(flags),
            None => false,
        };
        if !was_local {
            // A local learn of a MAC held remotely: advertise above the remote sequence.
            if let Some(seq) = remote_seq {
                rec.local_seq = rec.local_seq.max(seq.saturating_add(1));
            }
        }
        self.settle_mac(a.vni, a.mac, now, true);
        if let Some(ip) = a.ip {
            let previous = self.local_ips.insert((a.vni, ip), a.mac);
            if previous.is_some_and(|m| m != a.mac) {
                // Another local MAC had the IP: its binding moves to this MAC.
                if let Some(old) = previous.and_then(|m| self.macs.get_mut(&(a.vni, m))) {
                    if let Some(l) = old.local.as_mut() {
                        l.ips.remove(&ip);
                    }
                }
                if let Some(m) = previous {
                    self.withdraw_ip_route(a.vni, m, ip);
                }
            }
            let conflicting = self
                .ips
                .get(&(a.vni, ip))
                .and_then(|r| r.best_remote())
                .is_some_and(|c| c.mac != a.mac);
            if ip_changed || previous != Some(a.mac) {
                if conflicting {
                    self.count_ip_move(a.vni, ip, now);
                }
                if self.mac_advertised(a.vni, a.mac) && !self.ip_frozen(a.vni, ip) {
                    self.originate_one(a.vni, a.mac, Some(ip));
                }
            }
            self.settle_ip(a.vni, ip);
        }
        Ok(())
    }

    /// A local endpoint went away. With `ip`, only that MAC+IP binding goes; without, the MAC
    /// and all its IP bindings do. A remote claim on the MAC, if any, is installed in its place.
    /// Detaching what is not attached is a no-op.
    pub fn local_detach(
        &mut self,
        vni: Vni,
        mac: MacAddress,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), EngineError> {
        if !self.evis.contains_key(&vni) {
            return Err(EngineError::UnknownVni(vni));
        }
        let Some(local) = self
            .macs
            .get_mut(&(vni, mac))
            .and_then(|r| r.local.as_mut())
        else {
            return Ok(());
        };
        match ip {
            Some(ip) => {
                if local.ips.remove(&ip).is_some() {
                    self.withdraw_ip_route(vni, mac, ip);
                    self.unbind_local_ip(vni, mac, ip);
                }
            }
            None => self.drop_local(vni, mac, now),
        }
        Ok(())
    }

    // ----- remote routes -----

    /// A best-path change of the speaker's EVPN table. Type-2 and type-3 routes whose best path
    /// carries a route target imported by the EVI of their VNI (label 1 for type 2, the PMSI
    /// label for type 3: RFC 8365 §5.1.3) and whose VTEP is not ours update the MAC table,
    /// neighbour table and flood list; `best = None` (or a new best path that no longer
    /// qualifies) undoes what the route installed. Everything else is ignored.
    pub fn remote_best_change(&mut self, change: &BestChange, now: Instant) {
        if change.family != Family::L2VPN_EVPN {
            return;
        }
        let Route::Evpn(route) = &change.route else {
            return;
        };
        let Some(key) = import_key(route) else {
            return;
        };
        let new = change.best.as_ref().and_then(|p| self.classify(p));
        let old = self
            .imported
            .remove(&key)
            .and_then(|st| self.contribution(key, st));
        if let Some(n) = &new {
            self.imported.insert(key, Stored::of(n));
        }
        if old == new {
            return;
        }
        // The old and new contributions are swapped before anything is settled, so only the
        // net difference reaches the data plane: a new best path from another VTEP re-points
        // the FDB entry instead of removing and re-adding it (no transient black hole).
        if let Some(o) = old {
            self.remove_claim(key, o);
        }
        if let Some(n) = new {
            self.add_claim(key, n, now);
        }
        // (Flood entries are reference counted: add/remove_claim emitted their intents.)
        for imp in old.iter().chain(new.iter()) {
            if let Imported::Mac { vni, mac, ip, .. } = *imp {
                self.settle_mac(vni, mac, now, true);
                if let Some(ip) = ip {
                    self.settle_ip(vni, ip);
                }
            }
        }
    }

    /// The full contribution of the imported route `key`, rebuilt from where it is kept.
    fn contribution(&self, key: ImportKey, st: Stored) -> Option<Imported> {
        match (st, key) {
            (Stored::Flood { vni, vtep }, _) => Some(Imported::Flood { vni, vtep }),
            (Stored::Mac { vni }, ImportKey::MacIp { mac, ip, .. }) => {
                let ip = ip.filter(|ip| is_host_address(*ip));
                let c = self
                    .macs
                    .get(&(vni, mac))?
                    .remotes
                    .iter()
                    .find(|c| c.key == key)?;
                Some(Imported::Mac {
                    vni,
                    mac,
                    ip,
                    vtep: c.vtep,
                    sequence: c.sequence,
                    sticky: c.sticky,
                    router: c.router,
                    immutable: c.immutable,
                })
            }
            (Stored::Mac { .. }, ImportKey::Imet { .. }) => None,
        }
    }

    // ----- time and operator -----

    /// When [`Engine::handle_timeout`] should next be called (the earliest freeze expiry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Ends the freezes that expired by `now` (RFC 7432 §15.1: the MAC is processed again).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((t, key))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let (vni, subject) = key;
            if self.frozen_until(vni, subject) == Some(Some(t)) {
                self.unfreeze(vni, subject, false, now);
            }
        }
    }

    /// Operator clear of duplicate state: `subject` in `vni`, or every frozen MAC and IP of
    /// `vni` with `None`. Returns how many were cleared; each is processed again at once.
    pub fn clear_duplicate(
        &mut self,
        vni: Vni,
        subject: Option<Subject>,
        now: Instant,
    ) -> Result<usize, EngineError> {
        if !self.evis.contains_key(&vni) {
            return Err(EngineError::UnknownVni(vni));
        }
        let subjects: Vec<Subject> = match subject {
            Some(s) => vec![s],
            None => {
                let mut v: Vec<Subject> = self
                    .macs
                    .iter()
                    .filter(|((v, _), r)| *v == vni && r.detection.frozen())
                    .map(|((_, m), _)| Subject::Mac(*m))
                    .chain(
                        self.ips
                            .iter()
                            .filter(|((v, _), r)| *v == vni && r.detection.frozen())
                            .map(|((_, ip), _)| Subject::Ip(*ip)),
                    )
                    .collect();
                v.sort_by_key(subject_order);
                v
            }
        };
        let mut n = 0;
        for s in subjects {
            if self.frozen_until(vni, s).is_some() {
                self.unfreeze(vni, s, true, now);
                n += 1;
            } else if let Some(r) = self.detection_mut(vni, s) {
                // Not frozen: clearing forgets the moves counted so far.
                r.clear();
            }
        }
        Ok(n)
    }

    // ----- outputs -----

    /// The next route for the speaker, in the order the inputs produced them.
    pub fn poll_route(&mut self) -> Option<RouteChange> {
        pop_and_trim(&mut self.routes)
    }

    /// The next data-plane delta, in the order the inputs produced them.
    pub fn poll_intent(&mut self) -> Option<DataplaneIntent> {
        pop_and_trim(&mut self.intents)
    }

    /// The next event (learned, moved, removed, duplicate, unfrozen, sticky conflict).
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        pop_and_trim(&mut self.events)
    }

    // ----- tables -----

    /// One summary row per EVI (`evpnctl show vnis`).
    pub fn vni_summaries(&self) -> Vec<VniSummary> {
        let mut rows: BTreeMap<Vni, VniSummary> = self
            .evis
            .values()
            .map(|e| {
                (
                    e.vni,
                    VniSummary {
                        evi: e.clone(),
                        local_macs: 0,
                        remote_macs: 0,
                        flood_vteps: self.flood.get(&e.vni).map_or(0, |f| f.len()),
                        neighbors: 0,
                        duplicates: 0,
                    },
                )
            })
            .collect();
        for ((vni, _), r) in &self.macs {
            if let Some(row) = rows.get_mut(vni) {
                match r.installed.map(|w| w.at) {
                    Some(Location::Local) => row.local_macs += 1,
                    Some(Location::Remote { .. }) => row.remote_macs += 1,
                    None => {}
                }
                row.duplicates += usize::from(r.detection.frozen());
            }
        }
        for ((vni, _), r) in &self.ips {
            if let Some(row) = rows.get_mut(vni) {
                row.neighbors += usize::from(r.installed.is_some());
                row.duplicates += usize::from(r.detection.frozen());
            }
        }
        rows.into_values().collect()
    }

    /// The MAC table of `vni`, one row per MAC, sorted by MAC (`evpnctl show macs`).
    pub fn mac_table(&self, vni: Vni) -> Vec<MacEntry> {
        let mut out: Vec<MacEntry> = self
            .macs
            .iter()
            .filter(|((v, _), _)| *v == vni)
            .filter_map(|((_, mac), r)| {
                let w = r.installed?;
                let ips: Vec<IpAddr> = match w.at {
                    Location::Local => r
                        .local
                        .as_ref()
                        .map(|l| l.ips.keys().copied().collect())
                        .unwrap_or_default(),
                    Location::Remote { vtep } => {
                        let mut v: Vec<IpAddr> = r
                            .remotes
                            .iter()
                            .filter(|c| c.vtep == vtep)
                            .filter_map(|c| match c.key {
                                ImportKey::MacIp { ip, .. } => ip.filter(|ip| is_host_address(*ip)),
                                ImportKey::Imet { .. } => None,
                            })
                            .collect();
                        v.sort();
                        v.dedup();
                        v
                    }
                };
                Some(MacEntry {
                    vni,
                    mac: *mac,
                    origin: w.at,
                    sequence: w.sequence,
                    sticky: w.sticky,
                    ips,
                    since: r.since,
                    moves: u32::try_from(r.detection.moves()).unwrap_or(u32::MAX),
                    duplicate: r.detection.state(),
                    sticky_conflict: r.conflict,
                })
            })
            .collect();
        out.sort_by_key(|e| e.mac);
        out
    }

    /// The remote VTEPs in the flood list of `vni`, sorted (`evpnctl show flood`).
    pub fn flood_list(&self, vni: Vni) -> Vec<IpAddr> {
        self.flood
            .get(&vni)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The IP↔MAC bindings of `vni` (local and remote), sorted by IP (`evpnctl show arp`).
    pub fn neighbors(&self, vni: Vni) -> Vec<NeighborEntry> {
        let mut v: Vec<NeighborEntry> = self
            .ips
            .iter()
            .filter(|((v, _), _)| *v == vni)
            .filter_map(|((_, ip), r)| {
                let b = r.installed?;
                Some(NeighborEntry {
                    vni,
                    ip: *ip,
                    mac: b.mac,
                    origin: b.at,
                    router: b.router,
                    immutable: b.immutable,
                    duplicate: r.detection.state(),
                })
            })
            .collect();
        v.sort_by_key(|e| e.ip);
        v
    }

    // ----- MAC decisions -----

    /// Who holds the MAC now, from its record alone. Returns the winner, whether the local
    /// claim must be dropped (it lost to a non-sticky remote route: the MAC moved away) and
    /// whether a sticky conflict exists.
    fn decide(&self, r: &MacRecord) -> (Option<Winner>, bool, bool) {
        let remote = r.best_remote().map(|c| Winner {
            at: Location::Remote { vtep: c.vtep },
            sequence: c.sequence,
            sticky: c.sticky,
        });
        let Some(local) = &r.local else {
            return (remote, false, false);
        };
        let mine = Winner {
            at: Location::Local,
            sequence: r.local_seq,
            sticky: local.sticky,
        };
        let Some(other) = remote else {
            return (Some(mine), false, false);
        };
        if local.sticky {
            // A static MAC never moves; any remote claim on it is a conflict (§15.2).
            return (Some(mine), false, true);
        }
        if other.sticky {
            return (Some(other), false, true);
        }
        let local_wins = match mine.sequence.cmp(&other.sequence) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => match other.at {
                Location::Remote { vtep } => self.config.vtep < vtep,
                Location::Local => true,
            },
        };
        if local_wins {
            (Some(mine), false, false)
        } else {
            (Some(other), true, false)
        }
    }

    /// Brings the MAC's installed location, advertisement, events and intents in line with its
    /// claims. The single place where a MAC changes state. `count_moves` is false when the
    /// change is not a claim (a detach, the end of a freeze).
    fn settle_mac(&mut self, vni: Vni, mac: MacAddress, now: Instant, count_moves: bool) {
        let key = (vni, mac);
        let Some(rec) = self.macs.get(&key) else {
            return;
        };
        if rec.detection.frozen() {
            // Frozen: the location stays where it was and nothing is advertised.
            self.set_advertised(vni, mac, false);
            return;
        }
        let (winner, drop_local, conflict) = self.decide(rec);
        let before = rec.installed;
        let had_conflict = rec.conflict;
        if drop_local {
            // The MAC moved to a remote VTEP with a better claim: the old owner withdraws.
            self.set_advertised(vni, mac, false);
            let ips: Vec<IpAddr> = self
                .macs
                .get_mut(&key)
                .and_then(|r| r.local.take())
                .map(|l| l.ips.into_keys().collect())
                .unwrap_or_default();
            for ip in ips {
                self.unbind_local_ip(vni, mac, ip);
            }
        }
        if conflict && !had_conflict {
            if let Some(r) = self.macs.get(&key) {
                let local_sticky = r.local.as_ref().is_some_and(|l| l.sticky);
                let remote_at = r.best_remote().map(|c| Location::Remote { vtep: c.vtep });
                if let Some(remote_at) = remote_at {
                    let (sticky_at, claimed_at) = if local_sticky {
                        (Location::Local, remote_at)
                    } else {
                        (remote_at, Location::Local)
                    };
                    self.events.push_back(EngineEvent::StickyConflict {
                        vni,
                        mac,
                        sticky_at,
                        claimed_at,
                    });
                }
            }
        }
        if let Some(r) = self.macs.get_mut(&key) {
            r.conflict = conflict;
            r.installed = winner;
        }
        // Data plane and events for a change of the installed value.
        if before != winner {
            match winner {
                Some(Winner {
                    at: Location::Remote { vtep },
                    sticky,
                    ..
                }) => {
                    let same = before
                        .is_some_and(|b| b.at == Location::Remote { vtep } && b.sticky == sticky);
                    if !same {
                        self.intents.push_back(DataplaneIntent::RemoteMac {
                            vni,
                            mac,
                            vtep,
                            sticky,
                        });
                    }
                }
                Some(Winner {
                    at: Location::Local,
                    ..
                })
                | None => {
                    if matches!(before.map(|b| b.at), Some(Location::Remote { .. })) {
                        self.intents
                            .push_back(DataplaneIntent::RemoveRemoteMac { vni, mac });
                    }
                }
            }
            let from = before.map(|b| b.at);
            let to = winner.map(|w| w.at);
            match (from, to) {
                (None, Some(at)) => self.events.push_back(EngineEvent::Learned { vni, mac, at }),
                (Some(_), None) => self.events.push_back(EngineEvent::Removed { vni, mac }),
                (Some(f), Some(t)) if f != t => {
                    self.events.push_back(EngineEvent::Moved {
                        vni,
                        mac,
                        from: f,
                        to: t,
                        sequence: winner.map_or(0, |w| w.sequence),
                    });
                    // Moves are counted where they involve this NVE (RFC 7432 §15.1).
                    if count_moves && (f == Location::Local || t == Location::Local) {
                        self.count_mac_move(vni, mac, now);
                    }
                }
                _ => {}
            }
            if from != to {
                if let Some(r) = self.macs.get_mut(&key) {
                    r.since = now;
                }
            }
        }
        let frozen_now = self.macs.get(&key).is_some_and(|r| r.detection.frozen());
        let advertise = !frozen_now
            && winner.is_some_and(|w| w.at == Location::Local)
            && self.macs.get(&key).is_some_and(|r| r.local.is_some());
        self.set_advertised(vni, mac, advertise);
        if self.macs.get(&key).is_some_and(|r| r.unused()) {
            self.macs.remove(&key);
        }
    }

    /// Starts or stops advertising the local MAC's routes; re-advertises when the sequence
    /// number or sticky flag changed.
    fn set_advertised(&mut self, vni: Vni, mac: MacAddress, on: bool) {
        let Some(r) = self.macs.get(&(vni, mac)) else {
            return;
        };
        let want = match (&r.local, on) {
            (Some(l), true) => Some(Advertised {
                sequence: r.local_seq,
                sticky: l.sticky,
            }),
            _ => None,
        };
        if r.advertised == want {
            return;
        }
        let had = r.advertised.is_some();
        if let Some(r) = self.macs.get_mut(&(vni, mac)) {
            r.advertised = want;
        }
        if want.is_some() {
            self.originate_mac_routes(vni, mac);
        } else if had {
            self.withdraw_mac_routes(vni, mac);
        }
    }

    fn mac_advertised(&self, vni: Vni, mac: MacAddress) -> bool {
        self.macs
            .get(&(vni, mac))
            .is_some_and(|r| r.advertised.is_some())
    }

    /// The local claim on the MAC ends (detach or move away): routes withdrawn, IP bindings
    /// released, a remote claim installed in its place.
    fn drop_local(&mut self, vni: Vni, mac: MacAddress, now: Instant) {
        self.set_advertised(vni, mac, false);
        let ips: Vec<IpAddr> = self
            .macs
            .get_mut(&(vni, mac))
            .and_then(|r| r.local.take())
            .map(|l| l.ips.into_keys().collect())
            .unwrap_or_default();
        for ip in ips {
            self.unbind_local_ip(vni, mac, ip);
        }
        self.settle_mac(vni, mac, now, false);
    }

    // ----- duplicate detection -----

    fn count_mac_move(&mut self, vni: Vni, mac: MacAddress, now: Instant) {
        if self.count_move(vni, Subject::Mac(mac), now) {
            let at = self
                .macs
                .get(&(vni, mac))
                .and_then(|r| r.installed)
                .map_or(Location::Local, |w| w.at);
            self.freeze(vni, Subject::Mac(mac), at, now);
            self.set_advertised(vni, mac, false);
        }
    }

    fn count_ip_move(&mut self, vni: Vni, ip: IpAddr, now: Instant) {
        if self.count_move(vni, Subject::Ip(ip), now) {
            let at = if self.local_ips.contains_key(&(vni, ip)) {
                Location::Local
            } else {
                self.ips
                    .get(&(vni, ip))
                    .and_then(|r| r.best_remote())
                    .map_or(Location::Local, |c| Location::Remote { vtep: c.vtep })
            };
            self.freeze(vni, Subject::Ip(ip), at, now);
            // Stop advertising the local MAC+IP route of the IP.
            if let Some(mac) = self.local_ips.get(&(vni, ip)).copied() {
                if self.mac_advertised(vni, mac) {
                    self.withdraw_ip_route(vni, mac, ip);
                }
            }
        }
    }

    /// Records a move; true when it is the N-th inside the window (the subject becomes a
    /// duplicate).
    fn count_move(&mut self, vni: Vni, subject: Subject, now: Instant) -> bool {
        let dd = self.config.duplicate_detection;
        if !dd.enabled {
            return false;
        }
        let Some(d) = self.detection_mut(vni, subject) else {
            return false;
        };
        if d.frozen() {
            return false;
        }
        let d = d.get_or_create();
        // Only moves strictly inside the window count: one exactly M seconds old has left it.
        while d
            .moves
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= dd.window)
        {
            d.moves.pop_front();
        }
        d.moves.push_back(now);
        let n = usize::try_from(dd.max_moves.max(1)).unwrap_or(usize::MAX);
        while d.moves.len() > n {
            d.moves.pop_front();
        }
        d.moves.len() >= n
    }

    fn freeze(&mut self, vni: Vni, subject: Subject, at: Location, now: Instant) {
        let until = match self.config.duplicate_detection.freeze {
            Freeze::For(d) => Some(now + d),
            Freeze::Permanent => None,
        };
        if let Some(d) = self.detection_mut(vni, subject) {
            d.get_or_create().state = DuplicateState::Frozen { until };
        }
        if let Some(t) = until {
            self.timers.push(Reverse((t, (vni, subject))));
        }
        self.events.push_back(EngineEvent::Duplicate {
            vni,
            subject,
            at,
            until,
        });
    }

    fn unfreeze(&mut self, vni: Vni, subject: Subject, by_operator: bool, now: Instant) {
        if let Some(d) = self.detection_mut(vni, subject) {
            d.clear();
        }
        self.events.push_back(EngineEvent::Unfrozen {
            vni,
            subject,
            by_operator,
        });
        match subject {
            Subject::Mac(mac) => {
                // Processed again: if the MAC is still ours it is advertised above every
                // remote sequence number, so that the fabric converges on it (as FRR does).
                if let Some(r) = self.macs.get_mut(&(vni, mac)) {
                    if r.local.is_some() {
                        if let Some(seq) = r.max_remote_seq() {
                            r.local_seq = r.local_seq.max(seq.saturating_add(1));
                        }
                    }
                }
                self.settle_mac(vni, mac, now, false);
            }
            Subject::Ip(ip) => {
                if let Some(mac) = self.local_ips.get(&(vni, ip)).copied() {
                    if self.mac_advertised(vni, mac) {
                        self.originate_one(vni, mac, Some(ip));
                    }
                }
                self.settle_ip(vni, ip);
            }
        }
    }

    fn detection_mut(&mut self, vni: Vni, subject: Subject) -> Option<&mut Detection> {
        match subject {
            Subject::Mac(mac) => self.macs.get_mut(&(vni, mac)).map(|r| &mut r.detection),
            Subject::Ip(ip) => self.ips.get_mut(&(vni, ip)).map(|r| &mut r.detection),
        }
    }

    /// `Some(until)` when the subject is frozen.
    fn frozen_until(&self, vni: Vni, subject: Subject) -> Option<Option<Instant>> {
        let d = match subject {
            Subject::Mac(mac) => self.macs.get(&(vni, mac)).map(|r| &r.detection),
            Subject::Ip(ip) => self.ips.get(&(vni, ip)).map(|r| &r.detection),
        }?;
        match d.state() {
            DuplicateState::Frozen { until } => Some(until),
            DuplicateState::Normal => None,
        }
    }

    fn ip_frozen(&self, vni: Vni, ip: IpAddr) -> bool {
        self.ips
            .get(&(vni, ip))
            .is_some_and(|r| r.detection.frozen())
    }

    // ----- IP bindings (proxy ARP/ND, RFC 9161) -----

    /// Releases the local binding of `ip` to `mac` and settles the IP.
    fn unbind_local_ip(&mut self, vni: Vni, mac: MacAddress, ip: IpAddr) {
        if self.local_ips.get(&(vni, ip)) == Some(&mac) {
            self.local_ips.remove(&(vni, ip));
        }
        self.settle_ip(vni, ip);
    }

    /// Brings the installed binding of the IP in line with its claims: a local binding wins
    /// unless a remote immutable binding names another MAC (RFC 9047 §3.1); otherwise the
    /// best remote claim.
    fn settle_ip(&mut self, vni: Vni, ip: IpAddr) {
        let local = self.local_ips.get(&(vni, ip)).copied().and_then(|mac| {
            let flags = self
                .macs
                .get(&(vni, mac))
                .and_then(|r| r.local.as_ref())
                .and_then(|l| l.ips.get(&ip))
                .copied()?;
            Some(Binding {
                mac,
                at: Location::Local,
                router: flags.router,
                immutable: flags.static_binding,
            })
        });
        let rec = self.ips.entry((vni, ip)).or_insert_with(IpRecord::new);
        if rec.detection.frozen() {
            return;
        }
        let remote = rec.best_remote().map(|c| Binding {
            mac: c.mac,
            at: Location::Remote { vtep: c.vtep },
            router: c.router,
            immutable: c.immutable,
        });
        let winner = match (local, remote) {
            (Some(l), Some(r)) if r.immutable && !l.immutable && r.mac != l.mac => Some(r),
            (Some(l), _) => Some(l),
            (None, r) => r,
        };
        let before = rec.installed;
        rec.installed = winner;
        if before != winner {
            match winner {
                Some(b) => self.intents.push_back(DataplaneIntent::Neighbor {
                    vni,
                    ip,
                    mac: b.mac,
                    router: b.router,
                    local: b.at == Location::Local,
                }),
                None => self
                    .intents
                    .push_back(DataplaneIntent::RemoveNeighbor { vni, ip }),
            }
        }
        if self
            .ips
            .get(&(vni, ip))
            .is_some_and(|r| r.remotes.is_empty() && r.installed.is_none() && !r.detection.frozen())
            && !self.local_ips.contains_key(&(vni, ip))
        {
            self.ips.remove(&(vni, ip));
        }
    }

    // ----- claims -----

    fn add_claim(&mut self, key: ImportKey, imp: Imported, now: Instant) {
        match imp {
            Imported::Flood { vni, vtep } => {
                let n = self.flood.entry(vni).or_default().entry(vtep).or_insert(0);
                *n += 1;
                if *n == 1 {
                    self.intents.push_back(DataplaneIntent::Flood { vni, vtep });
                }
            }
            Imported::Mac {
                vni,
                mac,
                ip,
                vtep,
                sequence,
                sticky,
                router,
                immutable,
            } => {
                let c = Claim {
                    key,
                    vtep,
                    sequence,
                    sticky,
                    mac,
                    router,
                    immutable,
                };
                self.macs
                    .entry((vni, mac))
                    .or_insert_with(|| MacRecord::new(now))
                    .remotes
                    .push(c);
                if let Some(ip) = ip {
                    let conflicting = self.local_ips.get(&(vni, ip)).is_some_and(|m| *m != mac);
                    self.ips
                        .entry((vni, ip))
                        .or_insert_with(IpRecord::new)
                        .remotes
                        .push(c);
                    if conflicting {
                        self.count_ip_move(vni, ip, now);
                    }
                }
            }
        }
    }

    fn remove_claim(&mut self, key: ImportKey, imp: Imported) {
        match imp {
            Imported::Flood { vni, vtep } => {
                let Some(list) = self.flood.get_mut(&vni) else {
                    return;
                };
                if let Some(n) = list.get_mut(&vtep) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        list.remove(&vtep);
                        self.intents
                            .push_back(DataplaneIntent::RemoveFlood { vni, vtep });
                    }
                }
                if list.is_empty() {
                    self.flood.remove(&vni);
                }
            }
            Imported::Mac { vni, mac, ip, .. } => {
                if let Some(r) = self.macs.get_mut(&(vni, mac)) {
                    r.remotes.retain(|c| c.key != key);
                }
                if let Some(ip) = ip {
                    if let Some(r) = self.ips.get_mut(&(vni, ip)) {
                        r.remotes.retain(|c| c.key != key);
                    }
                }
            }
        }
    }

    /// What the best path `p` would install, if it qualifies for import.
    fn classify(&self, p: &Path) -> Option<Imported> {
        let Route::Evpn(route) = &p.route else {
            return None;
        };
        let rts: Vec<RouteTarget> = p
            .attrs
            .route_targets()
            .filter_map(|c| match c.kind() {
                ExtCommunityKind::RouteTarget(rt) => Some(rt),
                _ => None,
            })
            .collect();
        match route {
            EvpnRoute::MacIp(r) => {
                let vni = Vni::from_label(r.label1)?;
                let evi = self.evis.get(&vni)?;
                if !evi.imports(rts.iter()) {
                    return None;
                }
                let vtep = p.attrs.next_hop.ip()?;
                if vtep == self.config.vtep || r.mac.is_multicast() {
                    return None;
                }
                let mut sequence = 0;
                let mut sticky = false;
                let mut router = false;
                let mut immutable = false;
                for c in &p.attrs.ext_communities {
                    match c.kind() {
                        ExtCommunityKind::MacMobility {
                            sequence: s,
                            sticky: st,
                        } => {
                            sequence = s;
                            sticky = st;
                        }
                        ExtCommunityKind::ArpNd {
                            router: r,
                            immutable: i,
                            ..
                        } => {
                            router = r;
                            immutable = i;
                        }
                        _ => {}
                    }
                }
                Some(Imported::Mac {
                    vni,
                    mac: r.mac,
                    // A binding of a multicast, broadcast or unspecified address is never
                    // installed as a neighbour: the route counts for its MAC only.
                    ip: r.ip.filter(|ip| is_host_address(*ip)),
                    vtep,
                    sequence,
                    sticky,
                    router,
                    immutable,
                })
            }
            EvpnRoute::InclusiveMulticast(_) => {
                let pmsi = p.attrs.pmsi_tunnel.as_ref()?;
                let PmsiTunnelId::IngressReplication(vtep) = pmsi.tunnel else {
                    return None;
                };
                let vni = Vni::from_label(pmsi.label)?;
                let evi = self.evis.get(&vni)?;
                if !evi.imports(rts.iter()) || vtep == self.config.vtep {
                    return None;
                }
                Some(Imported::Flood { vni, vtep })
            }
            _ => None,
        }
    }

    // ----- origination -----

    /// Extended communities of a route of `vni`: export RTs and the VXLAN encapsulation
    /// (RFC 8365 §5.1.3); MAC mobility when the sequence is above 0 or the MAC is sticky
    /// (RFC 7432 §7.7); ARP/ND flags for IPv6 bindings and static bindings (RFC 9047 §3.1).
    fn communities(
        &self,
        vni: Vni,
        mobility: Option<Advertised>,
        arp_nd: Option<(IpAddr, IpFlags)>,
    ) -> Vec<ExtendedCommunity> {
        let mut v: Vec<ExtendedCommunity> = self
            .evis
            .get(&vni)
            .map(|e| {
                e.export
                    .iter()
                    .map(|rt| ExtendedCommunity::route_target(*rt))
                    .collect()
            })
            .unwrap_or_default();
        v.push(ExtendedCommunity::vxlan_encapsulation());
        if let Some(m) = mobility {
            if m.sequence > 0 || m.sticky {
                v.push(ExtendedCommunity::new(ExtCommunityKind::MacMobility {
                    sequence: m.sequence,
                    sticky: m.sticky,
                }));
            }
        }
        if let Some((ip, flags)) = arp_nd {
            if ip.is_ipv6() || flags.static_binding {
                v.push(ExtendedCommunity::new(ExtCommunityKind::ArpNd {
                    router: flags.router && ip.is_ipv6(),
                    override_flag: ip.is_ipv6(),
                    proxy: false,
                    immutable: flags.static_binding,
                }));
            }
        }
        v
    }

    fn originate_imet(&mut self, vni: Vni) {
        let Some(evi) = self.evis.get(&vni) else {
            return;
        };
        let nlri = imet_nlri(evi.rd, self.config.vtep);
        let attributes = vec![
            PathAttribute::ExtendedCommunities(self.communities(vni, None, None)),
            PathAttribute::PmsiTunnel(PmsiTunnel::ingress_replication(
                self.config.vtep,
                vni.label(),
            )),
        ];
        self.routes.push_back(RouteChange::Originate {
            nlri,
            attributes,
            next_hop: NextHop::from_ip(self.config.vtep),
        });
    }

    /// (Re-)originates the MAC-only route and every MAC+IP route of a local MAC (except IPs
    /// frozen as duplicates).
    fn originate_mac_routes(&mut self, vni: Vni, mac: MacAddress) {
        let Some(ips) = self
            .macs
            .get(&(vni, mac))
            .and_then(|r| r.local.as_ref())
            .map(|l| l.ips.keys().copied().collect::<Vec<_>>())
        else {
            return;
        };
        self.originate_one(vni, mac, None);
        for ip in ips {
            if !self.ip_frozen(vni, ip) && self.local_ips.get(&(vni, ip)) == Some(&mac) {
                self.originate_one(vni, mac, Some(ip));
            }
        }
    }

    fn originate_one(&mut self, vni: Vni, mac: MacAddress, ip: Option<IpAddr>) {
        let Some(evi) = self.evis.get(&vni) else {
            return;
        };
        let Some(r) = self.macs.get(&(vni, mac)) else {
            return;
        };
        let (Some(local), Some(adv)) = (&r.local, r.advertised) else {
            return;
        };
        let arp_nd = ip.and_then(|ip| local.ips.get(&ip).map(|f| (ip, *f)));
        let nlri = mac_ip_nlri(evi.rd, vni, mac, ip);
        let attributes = vec![PathAttribute::ExtendedCommunities(self.communities(
            vni,
            Some(adv),
            arp_nd,
        ))];
        self.routes.push_back(RouteChange::Originate {
            nlri,
            attributes,
            next_hop: NextHop::from_ip(self.config.vtep),
        });
    }

    fn withdraw(&mut self, nlri: Nlri) {
        self.routes.push_back(RouteChange::Withdraw { nlri });
    }

    /// Withdraws the MAC+IP route of `ip`, if the MAC's routes are advertised.
    fn withdraw_ip_route(&mut self, vni: Vni, mac: MacAddress, ip: IpAddr) {
        if !self.mac_advertised(vni, mac) {
            return;
        }
        if let Some(rd) = self.evis.get(&vni).map(|e| e.rd) {
            self.withdraw(mac_ip_nlri(rd, vni, mac, Some(ip)));
        }
    }

    /// Withdraws every route of a local MAC (its IPs first, then the MAC-only route).
    fn withdraw_mac_routes(&mut self, vni: Vni, mac: MacAddress) {
        let Some(rd) = self.evis.get(&vni).map(|e| e.rd) else {
            return;
        };
        let ips: Vec<IpAddr> = self
            .macs
            .get(&(vni, mac))
            .and_then(|r| r.local.as_ref())
            .map(|l| l.ips.keys().copied().collect())
            .unwrap_or_default();
        for ip in ips {
            self.withdraw(mac_ip_nlri(rd, vni, mac, Some(ip)));
        }
        self.withdraw(mac_ip_nlri(rd, vni, mac, None));
    }

    /// Withdraws the type-3 route and every type-2 route the EVI advertises.
    fn withdraw_evi_routes(&mut self, vni: Vni) {
        let Some(rd) = self.evis.get(&vni).map(|e| e.rd) else {
            return;
        };
        let mut macs: Vec<MacAddress> = self
            .macs
            .iter()
            .filter(|((v, _), r)| *v == vni && r.advertised.is_some())
            .map(|((_, m), _)| *m)
            .collect();
        macs.sort();
        for mac in macs {
            self.withdraw_mac_routes(vni, mac);
        }
        self.withdraw(imet_nlri(rd, self.config.vtep));
    }
}

/// Output queues keep at most this capacity once drained.
const QUEUE_KEEP: usize = 1024;

/// Pops the next output; once the queue is drained after a burst (a full table arriving at
/// start-up), gives the burst's memory back instead of keeping it for the daemon's lifetime.
fn pop_and_trim<T>(q: &mut VecDeque<T>) -> Option<T> {
    let next = q.pop_front();
    if next.is_none() && q.capacity() > QUEUE_KEEP {
        q.shrink_to(QUEUE_KEEP);
    }
    next
}

fn subject_order(s: &Subject) -> (u8, [u8; 16]) {
    match s {
        Subject::Mac(m) => {
            let mut b = [0; 16];
            b[..6].copy_from_slice(&m.0);
            (0, b)
        }
        Subject::Ip(IpAddr::V4(a)) => (1, a.to_ipv6_mapped().octets()),
        Subject::Ip(IpAddr::V6(a)) => (2, a.octets()),
    }
}

/// The type-3 route of an EVI: Ethernet tag 0, originator = the local VTEP (RFC 7432 §7.3).
fn imet_nlri(rd: RouteDistinguisher, vtep: IpAddr) -> Nlri {
    Nlri::new(Route::Evpn(EvpnRoute::InclusiveMulticast(
        InclusiveMulticastRoute {
            rd,
            ethernet_tag: 0,
            originator: vtep,
        },
    )))
}

/// The type-2 route of a local MAC (and IP): ESI 0 (single-homed), Ethernet tag 0
/// (VLAN-based service, RFC 7432 §6.1), label 1 = VNI (RFC 8365 §5.1.3).
fn mac_ip_nlri(rd: RouteDistinguisher, vni: Vni, mac: MacAddress, ip: Option<IpAddr>) -> Nlri {
    Nlri::new(Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd,
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac,
        ip,
        label1: vni.label(),
        label2: None,
    })))
}

fn import_key(route: &EvpnRoute) -> Option<ImportKey> {
    match route {
        EvpnRoute::MacIp(r) => Some(ImportKey::MacIp {
            rd: r.rd,
            ethernet_tag: r.ethernet_tag,
            mac: r.mac,
            ip: r.ip,
        }),
        EvpnRoute::InclusiveMulticast(r) => Some(ImportKey::Imet {
            rd: r.rd,
            ethernet_tag: r.ethernet_tag,
            originator: r.originator,
        }),
        _ => None,
    }
}
