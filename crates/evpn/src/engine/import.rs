//! Import of the speaker's EVPN best paths: type-2 routes (remote learning, RFC 7432 §9.2) and
//! type-3 routes (the flood list of ingress replication, RFC 7432 §11.2, RFC 8365 §9).
//!
//! A best path qualifies when it carries a route target imported by the EVI of its VNI (label 1
//! of type 2, the PMSI label of type 3: RFC 8365 §5.1.3) and its VTEP is not ours. What it
//! contributes is a claim in the MAC (and IP) record, or one reference on a flood entry; the
//! engine remembers only where that contribution sits, by route key, so that a withdrawal or a
//! new best path undoes exactly it. Old and new contributions are swapped before anything is
//! settled, so only the net difference reaches the data plane.

use super::explain::ImportVerdict;
use super::mobility::{Claim, MacRecord, Stamp};
use super::proxy_arp_nd::IpRecord;
use super::Engine;
use crate::types::{is_host_address, DataplaneIntent};
use evpnd_bgp::rib::{BestChange, Path};
use evpnd_wire::{
    EvpnRoute, ExtCommunityKind, Family, MacAddress, PmsiTunnelId, Route, RouteDistinguisher,
    RouteTarget, Vni,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// The route key of an imported EVPN route (the NLRI without its labels/ESI, as the RIB keys
/// it), so that a withdrawal finds what its announcement installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum ImportKey {
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
    /// An IP prefix route (RFC 9136 §3.1: RD, Ethernet tag, prefix length and prefix).
    IpPrefix {
        rd: RouteDistinguisher,
        ethernet_tag: u32,
        prefix_len: u8,
        prefix: IpAddr,
    },
}

/// What one imported route contributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Imported {
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
pub(super) enum Stored {
    /// A type-2 route: its claim sits in the MAC record `(vni, key's MAC)`.
    Mac { vni: Vni },
    /// A type-3 route: one reference on the flood entry `(vni, vtep)`.
    Flood { vni: Vni, vtep: IpAddr },
}

impl Stored {
    pub(super) fn of(imp: &Imported) -> Stored {
        match *imp {
            Imported::Mac { vni, .. } => Stored::Mac { vni },
            Imported::Flood { vni, vtep } => Stored::Flood { vni, vtep },
        }
    }

    pub(super) fn vni(&self) -> Vni {
        match *self {
            Stored::Mac { vni } | Stored::Flood { vni, .. } => vni,
        }
    }
}

/// The VNIs each (RD, Ethernet tag) of imported type-2 routes feeds, with how many routes it
/// feeds each with: what finds an imported type-2 route's claim again from its key alone. An
/// RD identifies one MAC-VRF of the PE that originates it (RFC 7432 §7.9), so there is one
/// entry per remote MAC-VRF, not per route.
#[derive(Debug, Default)]
pub(super) struct RouteSources(HashMap<(RouteDistinguisher, u32), Vec<(Vni, u32)>>);

impl RouteSources {
    /// One more route of (`rd`, `tag`) imported into `vni`.
    fn add(&mut self, rd: RouteDistinguisher, tag: u32, vni: Vni) {
        let vnis = self.0.entry((rd, tag)).or_default();
        match vnis.iter_mut().find(|(v, _)| *v == vni) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => vnis.push((vni, 1)),
        }
    }

    /// One route of (`rd`, `tag`) no longer imported into `vni`.
    fn remove(&mut self, rd: RouteDistinguisher, tag: u32, vni: Vni) {
        let Some(vnis) = self.0.get_mut(&(rd, tag)) else {
            return;
        };
        if let Some(i) = vnis.iter().position(|(v, _)| *v == vni) {
            vnis[i].1 = vnis[i].1.saturating_sub(1);
            if vnis[i].1 == 0 {
                vnis.swap_remove(i);
            }
        }
        if vnis.is_empty() {
            self.0.remove(&(rd, tag));
        }
    }

    /// The VNIs routes of (`rd`, `tag`) are imported into.
    fn vnis(&self, rd: RouteDistinguisher, tag: u32) -> impl Iterator<Item = Vni> + '_ {
        self.0
            .get(&(rd, tag))
            .into_iter()
            .flat_map(|v| v.iter().map(|(vni, _)| *vni))
    }

    /// Forgets every route imported into `vni` (the EVI is removed with its MAC records).
    pub(super) fn forget_vni(&mut self, vni: Vni) {
        self.0.retain(|_, vnis| {
            vnis.retain(|(v, _)| *v != vni);
            !vnis.is_empty()
        });
    }
}

impl Engine {
    /// A best-path change of the speaker's EVPN table. Type-2 and type-3 routes whose best path
    /// carries a route target imported by the EVI of their VNI (label 1 for type 2, the PMSI
    /// label for type 3: RFC 8365 §5.1.3) and whose VTEP is not ours update the MAC table,
    /// neighbour table and flood list; `best = None` (or a new best path that no longer
    /// qualifies) undoes what the route installed. Then the layer-3 part: MAC/IP routes with
    /// label 2 (symmetric IRB host routes, RFC 9135 §5.2) and IP prefix routes (RFC 9136) go
    /// into the VRF of their L3VNI (`l3_import` notes). Everything else is ignored.
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
        self.l2_best_change(key, change, now);
        self.l3_best_change(key, change.best.as_ref());
    }

    /// The layer-2 part of a best-path change: MAC, IP binding and flood entries.
    fn l2_best_change(&mut self, key: ImportKey, change: &BestChange, now: Instant) {
        let new = change.best.as_ref().and_then(|p| self.classify(p));
        let old = self
            .forget_import(key)
            .and_then(|st| self.contribution(key, st));
        if let Some(n) = &new {
            self.remember_import(key, Stored::of(n));
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

    /// Remembers where the contribution of the imported route `key` is kept. A type-2 route
    /// costs no entry of its own: its claim in the MAC record is found again through the VNIs
    /// its (RD, Ethernet tag) feeds ([`RouteSources`]); a type-3 route is kept by key.
    fn remember_import(&mut self, key: ImportKey, st: Stored) {
        match (key, st) {
            (
                ImportKey::MacIp {
                    rd, ethernet_tag, ..
                },
                Stored::Mac { vni },
            ) => self.sources.add(rd, ethernet_tag, vni),
            _ => {
                self.imported.insert(key, st);
            }
        }
    }

    /// Forgets where the contribution of the imported route `key` is kept and returns it
    /// (`None`: the route contributed nothing). O(VNIs fed by the route's RD and Ethernet
    /// tag), one in practice: an RD names one MAC-VRF of its PE (RFC 7432 §7.9).
    fn forget_import(&mut self, key: ImportKey) -> Option<Stored> {
        let ImportKey::MacIp {
            rd,
            ethernet_tag,
            mac,
            ..
        } = key
        else {
            return self.imported.remove(&key);
        };
        let vni = self.sources.vnis(rd, ethernet_tag).find(|vni| {
            self.macs
                .get(&(*vni, mac))
                .is_some_and(|r| r.remotes.view(mac).iter().any(|c| c.key == key))
        })?;
        self.sources.remove(rd, ethernet_tag, vni);
        Some(Stored::Mac { vni })
    }

    /// The full contribution of the imported route `key`, rebuilt from where it is kept.
    pub(super) fn contribution(&self, key: ImportKey, st: Stored) -> Option<Imported> {
        match (st, key) {
            (Stored::Flood { vni, vtep }, _) => Some(Imported::Flood { vni, vtep }),
            (Stored::Mac { vni }, ImportKey::MacIp { mac, ip, .. }) => {
                let ip = ip.filter(|ip| is_host_address(*ip) && !self.is_own_gateway(vni, *ip));
                let claims = self.macs.get(&(vni, mac))?.remotes.view(mac);
                let c = claims.iter().find(|c| c.key == key)?;
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
            (Stored::Mac { .. }, ImportKey::Imet { .. } | ImportKey::IpPrefix { .. }) => None,
        }
    }

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
                let since = Stamp::new(self.epoch, now);
                let rec = self
                    .macs
                    .get_or_insert_with((vni, mac), || MacRecord::new(since));
                rec.saw_sequence(sequence);
                rec.remotes.push(mac, c);
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
                    r.remotes.remove(mac, key);
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
        self.judge(p).ok()
    }

    /// Whether the engine imports the best path `p` and, if not, why (`evpnctl explain`):
    /// the same rules [`Engine::remote_best_change`] applies.
    ///
    /// A route with a layer-3 part (a MAC/IP route with label 2 and an IP, an IP prefix
    /// route) is judged for both: [`ImportVerdict::ImportedIntoVrf`] when a VRF imports it
    /// (with the VNI when the EVI imports it too), [`ImportVerdict::BridgedOnly`] when only the
    /// EVI does (with the layer-3 refusal), else the layer-3 refusal. Use
    /// [`ImportVerdict::is_imported`] to ask whether anything imported it.
    pub fn import_verdict(&self, p: &Path) -> ImportVerdict {
        let l2 = match self.judge(p) {
            Ok(Imported::Mac { vni, .. } | Imported::Flood { vni, .. }) => Ok(vni),
            Err(v) => Err(v),
        };
        // Without VRFs there is no layer 3 to judge: the layer-2 verdict stands alone.
        let l3 = if self.vrfs.is_empty() {
            Err(ImportVerdict::NotImportable)
        } else {
            self.judge_l3(p)
        };
        match (l2, l3) {
            (l2, Err(ImportVerdict::NotImportable)) => match l2 {
                Ok(vni) => ImportVerdict::Imported { vni },
                Err(v) => v,
            },
            (l2, Ok(r)) => ImportVerdict::ImportedIntoVrf {
                vrf: r.vrf(),
                vni: l2.ok(),
            },
            (Ok(vni), Err(why)) => ImportVerdict::BridgedOnly {
                vni,
                routed: Box::new(self.refine_l3_verdict(p, why)),
            },
            (Err(_), Err(why)) => self.refine_l3_verdict(p, why),
        }
    }

    /// The import rules: what `p` contributes, or the rule it fails.
    fn judge(&self, p: &Path) -> Result<Imported, ImportVerdict> {
        let Route::Evpn(route) = &p.route else {
            return Err(ImportVerdict::NotImportable);
        };
        let rts = route_targets_of(p);
        let evi_of = |label: u32| -> Result<Vni, ImportVerdict> {
            let vni = Vni::new(label)
                .ok()
                .ok_or(ImportVerdict::BadLabel { label })?;
            let evi = self.evis.get(&vni).ok_or(ImportVerdict::NoEvi { vni })?;
            if !evi.imports(rts.iter()) {
                return Err(ImportVerdict::RouteTargetNotImported {
                    vni,
                    route_targets: rts.clone(),
                });
            }
            Ok(vni)
        };
        match route {
            EvpnRoute::MacIp(r) => {
                let vni = evi_of(r.label1.vni())?;
                let vtep = p.attrs.next_hop.ip().ok_or(ImportVerdict::NoNextHop)?;
                if vtep == self.config.vtep {
                    return Err(ImportVerdict::OwnVtep { vtep });
                }
                if r.mac.is_multicast() {
                    return Err(ImportVerdict::MulticastMac);
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
                Ok(Imported::Mac {
                    vni,
                    mac: r.mac,
                    // A binding of a multicast, broadcast or unspecified address, or of one of
                    // our own gateway addresses (`irb` notes), is never installed as a
                    // neighbour: the route counts for its MAC only.
                    ip: r
                        .ip
                        .filter(|ip| is_host_address(*ip) && !self.is_own_gateway(vni, *ip)),
                    vtep,
                    sequence,
                    sticky,
                    router,
                    immutable,
                })
            }
            EvpnRoute::InclusiveMulticast(_) => {
                let pmsi = p
                    .attrs
                    .pmsi_tunnel
                    .as_ref()
                    .ok_or(ImportVerdict::NoIngressReplication)?;
                let PmsiTunnelId::IngressReplication(vtep) = pmsi.tunnel else {
                    return Err(ImportVerdict::NoIngressReplication);
                };
                let vni = evi_of(pmsi.label.vni())?;
                if vtep == self.config.vtep {
                    return Err(ImportVerdict::OwnVtep { vtep });
                }
                Ok(Imported::Flood { vni, vtep })
            }
            _ => Err(ImportVerdict::NotImportable),
        }
    }
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
        EvpnRoute::IpPrefix(r) => Some(ImportKey::IpPrefix {
            rd: r.rd,
            ethernet_tag: r.ethernet_tag,
            prefix_len: r.prefix_len,
            prefix: r.prefix,
        }),
        _ => None,
    }
}

/// The route targets a path carries (RFC 4360 §4), in order.
pub(super) fn route_targets_of(p: &Path) -> Vec<RouteTarget> {
    p.attrs
        .route_targets()
        .filter_map(|c| match c.kind() {
            ExtCommunityKind::RouteTarget(rt) => Some(rt),
            _ => None,
        })
        .collect()
}
