//! The NVE engine: local endpoints → routes, imported best paths → dataplane intents.

use crate::config::{EngineConfig, EviConfig, ResolvedEvi};
use evpnd_bgp::rib::{BestChange, Path};
use evpnd_wire::{
    Esi, EvpnRoute, ExtCommunityKind, ExtendedCommunity, Family, InclusiveMulticastRoute, Label,
    MacAddress, MacIpRoute, NextHop, Nlri, PathAttribute, PmsiTunnel, PmsiTunnelId, Route,
    RouteDistinguisher, RouteTarget,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

/// A route for the BGP speaker to advertise or withdraw (family L2VPN EVPN). The daemon hands
/// it to `evpnd_bgp::rib::Rib::originate` / `Rib::withdraw_local`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteChange {
    /// Advertise `nlri` (replacing any earlier route with the same route key).
    Originate {
        /// The EVPN route.
        nlri: Nlri,
        /// Its path attributes: EXTENDED_COMMUNITIES (export RTs, VXLAN encapsulation, MAC
        /// mobility when sticky) and, for type 3, PMSI_TUNNEL.
        attributes: Vec<PathAttribute>,
        /// The next hop: the local VTEP (RFC 8365 §5.1.3).
        next_hop: NextHop,
    },
    /// Withdraw the route with the route key of `nlri`.
    Withdraw {
        /// The EVPN route as it was advertised.
        nlri: Nlri,
    },
}

/// A change the data plane must apply (a delta: each add is matched by one removal later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataplaneIntent {
    /// Forward frames for `mac` in `vni` to the remote `vtep` (FDB entry; replaces an earlier
    /// entry for the same `(vni, mac)`).
    RemoteMac {
        /// The VNI.
        vni: u32,
        /// The MAC address.
        mac: MacAddress,
        /// The remote VTEP.
        vtep: IpAddr,
    },
    /// Remove the remote FDB entry for `(vni, mac)`.
    RemoveRemoteMac {
        /// The VNI.
        vni: u32,
        /// The MAC address.
        mac: MacAddress,
    },
    /// Add `vtep` to the ingress-replication flood list of `vni` (RFC 8365 §9).
    Flood {
        /// The VNI.
        vni: u32,
        /// The remote VTEP.
        vtep: IpAddr,
    },
    /// Remove `vtep` from the flood list of `vni`.
    RemoveFlood {
        /// The VNI.
        vni: u32,
        /// The remote VTEP.
        vtep: IpAddr,
    },
    /// A remote IP↔MAC binding for ARP/ND (replaces an earlier binding of `(vni, ip)`).
    Neighbor {
        /// The VNI.
        vni: u32,
        /// The IP address.
        ip: IpAddr,
        /// Its MAC address.
        mac: MacAddress,
    },
    /// Remove the binding of `(vni, ip)`.
    RemoveNeighbor {
        /// The VNI.
        vni: u32,
        /// The IP address.
        ip: IpAddr,
    },
}

/// Where a MAC table entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacOrigin {
    /// Attached locally (orchestrator or kernel learning).
    Local,
    /// Learned from a type-2 route of a remote VTEP.
    Remote {
        /// The VTEP (the best path's next hop).
        vtep: IpAddr,
    },
}

/// One row of the MAC table (`evpnctl show macs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacEntry {
    /// The VNI.
    pub vni: u32,
    /// The MAC address.
    pub mac: MacAddress,
    /// Local or remote (with its VTEP).
    pub origin: MacOrigin,
    /// MAC mobility sequence number (RFC 7432 §15): as received for remote entries, as
    /// advertised (0 in this slice) for local ones.
    pub sequence: u32,
    /// Static (sticky) MAC (RFC 7432 §15.2).
    pub sticky: bool,
    /// IP addresses bound to the MAC (from MAC+IP routes or local attachments).
    pub ips: Vec<IpAddr>,
    /// When the entry last changed (the `now` of that input).
    pub since: Instant,
}

/// An input the engine refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The VNI does not fit in 24 bits (RFC 7348 §5).
    InvalidVni(u32),
    /// No EVI is configured for the VNI.
    UnknownVni(u32),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::InvalidVni(v) => write!(f, "VNI {v} does not fit in 24 bits"),
            EngineError::UnknownVni(v) => write!(f, "no EVI configured for VNI {v}"),
        }
    }
}

impl std::error::Error for EngineError {}

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
        vni: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
        vtep: IpAddr,
        sequence: u32,
        sticky: bool,
    },
    Flood {
        vni: u32,
        vtep: IpAddr,
    },
}

/// One route backing a remote MAC or neighbour entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Support {
    key: ImportKey,
    vtep: IpAddr,
    sequence: u32,
    sticky: bool,
    mac: MacAddress,
}

impl Support {
    /// Preference among routes for one MAC: higher sequence, then lower VTEP address
    /// (RFC 7432 §15.1), then the route key (determinism).
    fn rank(&self) -> (std::cmp::Reverse<u32>, IpAddr, ImportKey) {
        (std::cmp::Reverse(self.sequence), self.vtep, self.key)
    }
}

/// A remote entry (MAC or IP) with every imported route that backs it. Usually one or two
/// routes (the MAC-only and MAC+IP routes of one VTEP): updates are O(1) per route.
#[derive(Clone, Debug)]
struct Remote {
    supports: Vec<Support>,
    since: Instant,
}

impl Remote {
    fn chosen(&self) -> Option<&Support> {
        self.supports.iter().min_by_key(|s| s.rank())
    }
}

/// A locally attached MAC and the IPs attached with it.
#[derive(Clone, Debug)]
struct LocalMac {
    sticky: bool,
    ips: BTreeSet<IpAddr>,
    since: Instant,
}

/// The EVPN NVE engine of one router (sans-I/O).
///
/// Inputs: EVI configuration ([`Engine::add_evi`], [`Engine::remove_evi`]), local endpoint
/// events ([`Engine::local_attach`], [`Engine::local_detach`]) and the speaker's EVPN best-path
/// changes ([`Engine::remote_best_change`]). Outputs, drained by the driver: routes for the
/// speaker ([`Engine::poll_route`]) and data-plane deltas ([`Engine::poll_intent`]).
///
/// State is kept in hash maps keyed by `(vni, mac)`, `(vni, ip)` and the imported route's key,
/// so every endpoint event and every best-path change costs O(1); only EVI configuration
/// changes ([`Engine::add_evi`], [`Engine::remove_evi`]) walk the endpoint tables.
///
/// **Not yet done (issue #4, next slices):** MAC mobility (local learn of a remote MAC
/// advertised with sequence + 1, take-over by higher sequences, withdrawal by the old owner,
/// sticky conflicts; the per-entry `sequence`/`sticky` fields and the ranking of the routes
/// backing one MAC — higher sequence, then lower VTEP, RFC 7432 §15.1 — are the hooks),
/// duplicate MAC/IP detection with freeze, proxy ARP/ND (ARP/ND extended community,
/// local neighbour entries), events for metrics/API, label2/L3VNI. Until mobility lands, a
/// remote route for a MAC that is also attached locally is installed as remote as well
/// (both rows show in [`Engine::mac_table`]). After [`Engine::add_evi`] changes import rules
/// or adds an EVI, the driver must replay the speaker's current EVPN best paths (the engine
/// keeps no routes that matched no EVI).
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    evis: BTreeMap<u32, ResolvedEvi>,
    local: HashMap<(u32, MacAddress), LocalMac>,
    imported: HashMap<ImportKey, Imported>,
    remote_macs: HashMap<(u32, MacAddress), Remote>,
    remote_ips: HashMap<(u32, IpAddr), Remote>,
    flood: HashMap<u32, BTreeMap<IpAddr, u32>>,
    routes: VecDeque<RouteChange>,
    intents: VecDeque<DataplaneIntent>,
}

impl Engine {
    /// An engine with no EVI.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            config,
            evis: BTreeMap::new(),
            local: HashMap::new(),
            imported: HashMap::new(),
            remote_macs: HashMap::new(),
            remote_ips: HashMap::new(),
            flood: HashMap::new(),
            routes: VecDeque::new(),
            intents: VecDeque::new(),
        }
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The EVI of `vni` with its resolved RD and route targets.
    pub fn evi(&self, vni: u32) -> Option<&ResolvedEvi> {
        self.evis.get(&vni)
    }

    /// Adds (or reconfigures) an EVI and originates its type-3 route (RFC 7432 §11.1, RFC 8365
    /// §9). Reconfiguring re-originates the EVI's routes (withdrawing them first when the RD
    /// changes); see [`Engine`] for the replay the driver owes after import changes.
    pub fn add_evi(&mut self, evi: EviConfig) -> Result<(), EngineError> {
        if Label::from_vni(evi.vni).is_none() {
            return Err(EngineError::InvalidVni(evi.vni));
        }
        let resolved = ResolvedEvi::resolve(&self.config, &evi);
        if let Some(old) = self.evis.get(&evi.vni) {
            if *old == resolved {
                return Ok(());
            }
            if old.rd != resolved.rd {
                self.withdraw_evi_routes(evi.vni);
            }
        }
        self.evis.insert(evi.vni, resolved);
        self.originate_imet(evi.vni);
        let macs: Vec<MacAddress> = self
            .local
            .keys()
            .filter(|(v, _)| *v == evi.vni)
            .map(|(_, m)| *m)
            .collect();
        for mac in macs {
            self.originate_mac_routes(evi.vni, mac);
        }
        Ok(())
    }

    /// Removes an EVI: withdraws every route it originated, forgets its local endpoints and
    /// removes its remote MACs, neighbours and flood entries (with the removal intents).
    pub fn remove_evi(&mut self, vni: u32) {
        if !self.evis.contains_key(&vni) {
            return;
        }
        self.withdraw_evi_routes(vni);
        self.local.retain(|(v, _), _| *v != vni);
        let mut keys: Vec<ImportKey> = self
            .imported
            .iter()
            .filter(|(_, imp)| match imp {
                Imported::Mac { vni: v, .. } | Imported::Flood { vni: v, .. } => *v == vni,
            })
            .map(|(k, _)| *k)
            .collect();
        keys.sort();
        for k in keys {
            if let Some(imp) = self.imported.remove(&k) {
                self.transition(k, Some(imp), None);
            }
        }
        self.evis.remove(&vni);
    }

    /// A local endpoint appeared: `mac` (and `ip`, if given) in `vni`. Originates the MAC-only
    /// type-2 route and, with an IP, the MAC+IP one (RFC 7432 §9.1, label 1 = VNI per RFC 8365
    /// §5.1.3). `sticky` marks a static MAC: its routes carry the MAC mobility community with
    /// the sticky bit (RFC 7432 §7.7, §15.2). Attaching again updates the sticky flag.
    pub fn local_attach(
        &mut self,
        vni: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
        sticky: bool,
        now: Instant,
    ) -> Result<(), EngineError> {
        if !self.evis.contains_key(&vni) {
            return Err(EngineError::UnknownVni(vni));
        }
        let is_new = !self.local.contains_key(&(vni, mac));
        let entry = self.local.entry((vni, mac)).or_insert(LocalMac {
            sticky,
            ips: BTreeSet::new(),
            since: now,
        });
        let sticky_changed = entry.sticky != sticky;
        entry.sticky = sticky;
        let new_ip = ip.is_some_and(|ip| entry.ips.insert(ip));
        if sticky_changed || new_ip {
            entry.since = now;
        }
        // Only what is new or changed is (re-)originated: an unchanged attach emits nothing.
        if is_new || sticky_changed {
            self.originate_mac_routes(vni, mac);
        } else if new_ip {
            self.originate_one(vni, mac, ip);
        }
        Ok(())
    }

    /// A local endpoint went away. With `ip`, only that MAC+IP binding is withdrawn; without,
    /// the MAC and all its IP bindings are.
    pub fn local_detach(&mut self, vni: u32, mac: MacAddress, ip: Option<IpAddr>) {
        let Some(rd) = self.evis.get(&vni).map(|e| e.rd) else {
            return;
        };
        let Some(entry) = self.local.get_mut(&(vni, mac)) else {
            return;
        };
        match ip {
            Some(ip) => {
                if entry.ips.remove(&ip) {
                    self.withdraw(mac_ip_nlri(rd, vni, mac, Some(ip)));
                }
            }
            None => {
                let ips = std::mem::take(&mut entry.ips);
                self.local.remove(&(vni, mac));
                for ip in ips {
                    self.withdraw(mac_ip_nlri(rd, vni, mac, Some(ip)));
                }
                self.withdraw(mac_ip_nlri(rd, vni, mac, None));
            }
        }
    }

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
        let old = self.imported.remove(&key);
        if old == new {
            if let Some(n) = new {
                self.imported.insert(key, n);
            }
            return;
        }
        // Old and new contributions are swapped in one step and only the net difference is
        // emitted: a new best path from another VTEP re-points the FDB entry instead of
        // removing and re-adding it (no transient black hole).
        self.transition(key, old, new.map(|n| (n, now)));
        if let Some(n) = new {
            self.imported.insert(key, n);
        }
    }

    /// The next route for the speaker, in the order the inputs produced them.
    pub fn poll_route(&mut self) -> Option<RouteChange> {
        self.routes.pop_front()
    }

    /// The next data-plane delta, in the order the inputs produced them.
    pub fn poll_intent(&mut self) -> Option<DataplaneIntent> {
        self.intents.pop_front()
    }

    /// The MAC table of `vni` (local and remote entries, sorted by MAC, local first), for
    /// `evpnctl show macs`.
    pub fn mac_table(&self, vni: u32) -> Vec<MacEntry> {
        let mut out: Vec<MacEntry> = Vec::new();
        for ((v, mac), l) in &self.local {
            if *v == vni {
                out.push(MacEntry {
                    vni,
                    mac: *mac,
                    origin: MacOrigin::Local,
                    sequence: 0,
                    sticky: l.sticky,
                    ips: l.ips.iter().copied().collect(),
                    since: l.since,
                });
            }
        }
        for ((v, mac), r) in &self.remote_macs {
            if *v != vni {
                continue;
            }
            let Some(c) = r.chosen() else {
                continue;
            };
            let mut ips: Vec<IpAddr> = r
                .supports
                .iter()
                .filter(|s| s.vtep == c.vtep)
                .filter_map(|s| match s.key {
                    ImportKey::MacIp { ip, .. } => ip,
                    ImportKey::Imet { .. } => None,
                })
                .collect();
            ips.sort();
            ips.dedup();
            out.push(MacEntry {
                vni,
                mac: *mac,
                origin: MacOrigin::Remote { vtep: c.vtep },
                sequence: c.sequence,
                sticky: c.sticky,
                ips,
                since: r.since,
            });
        }
        out.sort_by_key(|e| (e.mac, matches!(e.origin, MacOrigin::Remote { .. })));
        out
    }

    /// The remote VTEPs in the flood list of `vni`, sorted, for `evpnctl show flood`.
    pub fn flood_list(&self, vni: u32) -> Vec<IpAddr> {
        self.flood
            .get(&vni)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The remote IP↔MAC bindings of `vni`, sorted by IP (for `evpnctl show arp`).
    pub fn neighbors(&self, vni: u32) -> Vec<(IpAddr, MacAddress)> {
        let mut v: Vec<(IpAddr, MacAddress)> = self
            .remote_ips
            .iter()
            .filter(|((v, _), _)| *v == vni)
            .filter_map(|((_, ip), r)| r.chosen().map(|c| (*ip, c.mac)))
            .collect();
        v.sort();
        v
    }

    // ----- origination -----

    fn export_communities(&self, vni: u32, sticky: bool) -> Vec<ExtendedCommunity> {
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
        if sticky {
            v.push(ExtendedCommunity::new(ExtCommunityKind::MacMobility {
                sequence: 0,
                sticky: true,
            }));
        }
        v
    }

    fn originate_imet(&mut self, vni: u32) {
        let (Some(evi), Some(label)) = (self.evis.get(&vni), Label::from_vni(vni)) else {
            return;
        };
        let nlri = Nlri::new(Route::Evpn(EvpnRoute::InclusiveMulticast(
            InclusiveMulticastRoute {
                rd: evi.rd,
                ethernet_tag: 0,
                originator: self.config.vtep,
            },
        )));
        let attributes = vec![
            PathAttribute::ExtendedCommunities(self.export_communities(vni, false)),
            PathAttribute::PmsiTunnel(PmsiTunnel::ingress_replication(self.config.vtep, label)),
        ];
        self.routes.push_back(RouteChange::Originate {
            nlri,
            attributes,
            next_hop: NextHop::from_ip(self.config.vtep),
        });
    }

    /// (Re-)originates the MAC-only route and every MAC+IP route of a local MAC.
    fn originate_mac_routes(&mut self, vni: u32, mac: MacAddress) {
        let Some(ips) = self
            .local
            .get(&(vni, mac))
            .map(|l| l.ips.iter().copied().collect::<Vec<_>>())
        else {
            return;
        };
        self.originate_one(vni, mac, None);
        for ip in ips {
            self.originate_one(vni, mac, Some(ip));
        }
    }

    fn originate_one(&mut self, vni: u32, mac: MacAddress, ip: Option<IpAddr>) {
        let (Some(evi), Some(local)) = (self.evis.get(&vni), self.local.get(&(vni, mac))) else {
            return;
        };
        let nlri = mac_ip_nlri(evi.rd, vni, mac, ip);
        let attributes = vec![PathAttribute::ExtendedCommunities(
            self.export_communities(vni, local.sticky),
        )];
        self.routes.push_back(RouteChange::Originate {
            nlri,
            attributes,
            next_hop: NextHop::from_ip(self.config.vtep),
        });
    }

    fn withdraw(&mut self, nlri: Nlri) {
        self.routes.push_back(RouteChange::Withdraw { nlri });
    }

    /// Withdraws the type-3 route and every type-2 route the EVI originated.
    fn withdraw_evi_routes(&mut self, vni: u32) {
        let Some(rd) = self.evis.get(&vni).map(|e| e.rd) else {
            return;
        };
        let mut macs: Vec<(MacAddress, Vec<IpAddr>)> = self
            .local
            .iter()
            .filter(|((v, _), _)| *v == vni)
            .map(|((_, m), l)| (*m, l.ips.iter().copied().collect()))
            .collect();
        macs.sort();
        for (mac, ips) in macs {
            for ip in ips {
                self.withdraw(mac_ip_nlri(rd, vni, mac, Some(ip)));
            }
            self.withdraw(mac_ip_nlri(rd, vni, mac, None));
        }
        self.withdraw(Nlri::new(Route::Evpn(EvpnRoute::InclusiveMulticast(
            InclusiveMulticastRoute {
                rd,
                ethernet_tag: 0,
                originator: self.config.vtep,
            },
        ))));
    }

    // ----- import -----

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
                let vni = r.label1.vni();
                let evi = self.evis.get(&vni)?;
                if !evi.imports(rts.iter()) {
                    return None;
                }
                let vtep = p.attrs.next_hop.ip()?;
                if vtep == self.config.vtep {
                    return None;
                }
                let (sequence, sticky) = p
                    .attrs
                    .ext_communities
                    .iter()
                    .find_map(|c| match c.kind() {
                        ExtCommunityKind::MacMobility { sequence, sticky } => {
                            Some((sequence, sticky))
                        }
                        _ => None,
                    })
                    .unwrap_or((0, false));
                Some(Imported::Mac {
                    vni,
                    mac: r.mac,
                    ip: r.ip,
                    vtep,
                    sequence,
                    sticky,
                })
            }
            EvpnRoute::InclusiveMulticast(_) => {
                let pmsi = p.attrs.pmsi_tunnel.as_ref()?;
                let PmsiTunnelId::IngressReplication(vtep) = pmsi.tunnel else {
                    return None;
                };
                let vni = pmsi.label.vni();
                let evi = self.evis.get(&vni)?;
                if !evi.imports(rts.iter()) || vtep == self.config.vtep {
                    return None;
                }
                Some(Imported::Flood { vni, vtep })
            }
            _ => None,
        }
    }

    /// Replaces the contribution `old` of the imported route `key` by `new` and emits the
    /// intents for the entries whose installed value changed.
    fn transition(
        &mut self,
        key: ImportKey,
        old: Option<Imported>,
        new: Option<(Imported, Instant)>,
    ) {
        let now = new.map(|(_, t)| t);
        let touched: Vec<Touched> = old
            .iter()
            .chain(new.iter().map(|(n, _)| n))
            .flat_map(touches)
            .collect();
        let before: Vec<Installed> = touched.iter().map(|t| self.installed(t)).collect();
        if let Some(o) = old {
            self.remove_support(key, o);
        }
        if let Some((n, now)) = new {
            self.add_support(key, n, now);
        }
        let mut done: Vec<Touched> = Vec::new();
        for (t, b) in touched.iter().zip(before) {
            if done.contains(t) {
                continue;
            }
            done.push(*t);
            let a = self.installed(t);
            if a == b {
                continue;
            }
            if let Some(now) = now {
                self.touch_since(t, now);
            }
            let intent = match (*t, a) {
                (Touched::Mac(vni, mac), Installed::Mac(Some(vtep))) => {
                    DataplaneIntent::RemoteMac { vni, mac, vtep }
                }
                (Touched::Mac(vni, mac), _) => DataplaneIntent::RemoveRemoteMac { vni, mac },
                (Touched::Ip(vni, ip), Installed::Ip(Some(mac))) => {
                    DataplaneIntent::Neighbor { vni, ip, mac }
                }
                (Touched::Ip(vni, ip), _) => DataplaneIntent::RemoveNeighbor { vni, ip },
                (Touched::Flood(vni, vtep), Installed::Flood(true)) => {
                    DataplaneIntent::Flood { vni, vtep }
                }
                (Touched::Flood(vni, vtep), _) => DataplaneIntent::RemoveFlood { vni, vtep },
            };
            self.intents.push_back(intent);
        }
    }

    /// What the data plane has for one entry.
    fn installed(&self, t: &Touched) -> Installed {
        match *t {
            Touched::Mac(vni, mac) => Installed::Mac(
                self.remote_macs
                    .get(&(vni, mac))
                    .and_then(|r| r.chosen())
                    .map(|c| c.vtep),
            ),
            Touched::Ip(vni, ip) => Installed::Ip(
                self.remote_ips
                    .get(&(vni, ip))
                    .and_then(|r| r.chosen())
                    .map(|c| c.mac),
            ),
            Touched::Flood(vni, vtep) => {
                Installed::Flood(self.flood.get(&vni).is_some_and(|m| m.contains_key(&vtep)))
            }
        }
    }

    fn touch_since(&mut self, t: &Touched, now: Instant) {
        let r = match *t {
            Touched::Mac(vni, mac) => self.remote_macs.get_mut(&(vni, mac)),
            Touched::Ip(vni, ip) => self.remote_ips.get_mut(&(vni, ip)),
            Touched::Flood(..) => None,
        };
        if let Some(r) = r {
            r.since = now;
        }
    }

    fn add_support(&mut self, key: ImportKey, imp: Imported, now: Instant) {
        match imp {
            Imported::Flood { vni, vtep } => {
                *self.flood.entry(vni).or_default().entry(vtep).or_insert(0) += 1;
            }
            Imported::Mac {
                vni,
                mac,
                ip,
                vtep,
                sequence,
                sticky,
            } => {
                let s = Support {
                    key,
                    vtep,
                    sequence,
                    sticky,
                    mac,
                };
                let r = self.remote_macs.entry((vni, mac)).or_insert(Remote {
                    supports: Vec::new(),
                    since: now,
                });
                r.supports.push(s);
                if let Some(ip) = ip {
                    let r = self.remote_ips.entry((vni, ip)).or_insert(Remote {
                        supports: Vec::new(),
                        since: now,
                    });
                    r.supports.push(s);
                }
            }
        }
    }

    fn remove_support(&mut self, key: ImportKey, imp: Imported) {
        match imp {
            Imported::Flood { vni, vtep } => {
                let Some(list) = self.flood.get_mut(&vni) else {
                    return;
                };
                if let Some(n) = list.get_mut(&vtep) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        list.remove(&vtep);
                    }
                }
                if list.is_empty() {
                    self.flood.remove(&vni);
                }
            }
            Imported::Mac { vni, mac, ip, .. } => {
                if let Some(r) = self.remote_macs.get_mut(&(vni, mac)) {
                    r.supports.retain(|s| s.key != key);
                    if r.supports.is_empty() {
                        self.remote_macs.remove(&(vni, mac));
                    }
                }
                if let Some(ip) = ip {
                    if let Some(r) = self.remote_ips.get_mut(&(vni, ip)) {
                        r.supports.retain(|s| s.key != key);
                        if r.supports.is_empty() {
                            self.remote_ips.remove(&(vni, ip));
                        }
                    }
                }
            }
        }
    }
}

/// A data-plane entry an imported route contributes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Touched {
    Mac(u32, MacAddress),
    Ip(u32, IpAddr),
    Flood(u32, IpAddr),
}

/// The installed value of a [`Touched`] entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Installed {
    Mac(Option<IpAddr>),
    Ip(Option<MacAddress>),
    Flood(bool),
}

fn touches(imp: &Imported) -> Vec<Touched> {
    match *imp {
        Imported::Flood { vni, vtep } => vec![Touched::Flood(vni, vtep)],
        Imported::Mac { vni, mac, ip, .. } => {
            let mut v = vec![Touched::Mac(vni, mac)];
            if let Some(ip) = ip {
                v.push(Touched::Ip(vni, ip));
            }
            v
        }
    }
}

/// The type-2 route of a local MAC (and IP): ESI 0 (single-homed), Ethernet tag 0
/// (VLAN-based service, RFC 7432 §6.1), label 1 = VNI (RFC 8365 §5.1.3).
fn mac_ip_nlri(rd: RouteDistinguisher, vni: u32, mac: MacAddress, ip: Option<IpAddr>) -> Nlri {
    Nlri::new(Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd,
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac,
        ip,
        label1: Label::from_raw(vni),
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
