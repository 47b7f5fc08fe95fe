//! Local endpoints and the routes they originate.
//!
//! * Local learning (RFC 7432 §9.1): [`Engine::local_attach`] and [`Engine::local_detach`].
//! * The MAC/IP Advertisement route (type 2, RFC 7432 §7.2) of each local MAC and MAC+IP, with
//!   ESI 0 and Ethernet tag 0 (VLAN-based service, RFC 7432 §6.1) and label 1 = VNI
//!   (RFC 8365 §5.1.3).
//! * The Inclusive Multicast Ethernet Tag route (type 3, RFC 7432 §7.3, §11.1) of each EVI,
//!   with a PMSI tunnel of type ingress replication to the local VTEP, label = VNI
//!   (RFC 8365 §9).
//! * The extended communities of every route: export route targets and the VXLAN
//!   encapsulation (RFC 8365 §5.1.3), MAC mobility (RFC 7432 §7.7), ARP/ND flags
//!   (RFC 9047 §3.1); and the matching withdrawals.

use super::mobility::{Advertised, LocalMac, MacRecord, Stamp};
use super::proxy_arp_nd::IpFlags;
use super::Engine;
use crate::types::{is_host_address, Attachment, EngineError, RouteChange};
use evpnd_wire::{
    Esi, EvpnRoute, ExtCommunityKind, ExtendedCommunity, InclusiveMulticastRoute, MacAddress,
    MacIpRoute, NextHop, Nlri, PathAttribute, PmsiTunnel, Route, RouteDistinguisher, Vni,
};
use std::net::IpAddr;
use std::time::Instant;

impl Engine {
    /// A local endpoint appeared (RFC 7432 §9.1): `a.mac` (and `a.ip`) in `a.vni`. Originates
    /// the MAC-only type-2 route and, with an IP, the MAC+IP one (label 1 = VNI, RFC 8365
    /// §5.1.3), unless a remote claim wins (sticky, or the MAC is frozen as duplicate). A MAC
    /// held remotely is advertised above the highest sequence number of its remote routes
    /// (RFC 7432 §15) and counts as a move; that includes attaching again a MAC whose local claim is
    /// dormant behind a remote one. Attaching again an active MAC with the same values emits
    /// nothing; with other flags it re-advertises.
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
        let since = Stamp::new(self.epoch, now);
        let rec = self.macs.get_or_insert_with(key, || MacRecord::new(since));
        // A learn: the MAC is not attached here, or only dormant behind a remote claim (being
        // told again that it is here is a new learn of a MAC held remotely).
        let learn = !rec.local_active();
        let remotes = rec.remotes.view(a.mac);
        let local = rec
            .local
            .get_or_insert_with(|| Box::new(LocalMac::new(a.sticky, &remotes)));
        local.sticky = a.sticky;
        let flags = IpFlags {
            router: a.router,
            static_binding: a.static_binding,
        };
        let ip_changed = match a.ip {
            Some(ip) => local.ips.insert(ip, flags) != Some(flags),
            None => false,
        };
        if learn {
            // A local learn of a MAC held remotely: advertise above every sequence it saw.
            rec.outbid();
        }
        self.use_port(a.vni, a.mac, a.port);
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
    /// and all its IP bindings do, whether its claim is active or dormant (then nothing
    /// visible changes, and the MAC no longer comes back here when the remote claim goes). A
    /// remote claim on the MAC, if any, is installed in its place. Detaching what is not
    /// attached is a no-op.
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
            None => {
                self.drop_local(vni, mac, now);
                self.drop_port_of(vni, mac);
            }
        }
        Ok(())
    }

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

    pub(super) fn originate_imet(&mut self, vni: Vni) {
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
    pub(super) fn originate_mac_routes(&mut self, vni: Vni, mac: MacAddress) {
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

    pub(super) fn originate_one(&mut self, vni: Vni, mac: MacAddress, ip: Option<IpAddr>) {
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
        // Symmetric IRB (RFC 9135 §5.1): MAC+IP routes carry the L3VNI and the VRF's RTs and
        // router MAC too.
        let l3 = ip.and_then(|_| self.symmetric_attributes(vni));
        let nlri = mac_ip_nlri(evi.rd, vni, mac, ip, l3.as_ref().map(|(l3vni, _)| *l3vni));
        let mut communities = self.communities(vni, Some(adv), arp_nd);
        if let Some((_, extra)) = l3 {
            communities.extend(extra);
        }
        let attributes = vec![PathAttribute::ExtendedCommunities(communities)];
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
    pub(super) fn withdraw_ip_route(&mut self, vni: Vni, mac: MacAddress, ip: IpAddr) {
        if !self.mac_advertised(vni, mac) {
            return;
        }
        if let Some(rd) = self.evis.get(&vni).map(|e| e.rd) {
            self.withdraw(mac_ip_nlri(rd, vni, mac, Some(ip), None));
        }
    }

    /// Withdraws every route of a local MAC (its IPs first, then the MAC-only route).
    pub(super) fn withdraw_mac_routes(&mut self, vni: Vni, mac: MacAddress) {
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
            self.withdraw(mac_ip_nlri(rd, vni, mac, Some(ip), None));
        }
        self.withdraw(mac_ip_nlri(rd, vni, mac, None, None));
    }

    /// The MACs of `vni` whose routes are advertised, in order (EVI changes walk them; an
    /// order keeps the routes they emit deterministic).
    pub(super) fn advertised_macs(&self, vni: Vni) -> Vec<MacAddress> {
        let mut macs: Vec<MacAddress> = self
            .macs
            .iter()
            .filter(|((v, _), r)| *v == vni && r.advertised.is_some())
            .map(|((_, m), _)| *m)
            .collect();
        macs.sort();
        macs
    }

    /// Withdraws the type-3 route and every type-2 route the EVI advertises.
    pub(super) fn withdraw_evi_routes(&mut self, vni: Vni) {
        let Some(rd) = self.evis.get(&vni).map(|e| e.rd) else {
            return;
        };
        for mac in self.advertised_macs(vni) {
            self.withdraw_mac_routes(vni, mac);
        }
        self.withdraw(imet_nlri(rd, self.config.vtep));
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
/// (VLAN-based service, RFC 7432 §6.1), label 1 = VNI (RFC 8365 §5.1.3), label 2 = the L3VNI
/// under symmetric IRB (RFC 9135 §5.1). Withdrawals need no label 2 (not part of the key).
fn mac_ip_nlri(
    rd: RouteDistinguisher,
    vni: Vni,
    mac: MacAddress,
    ip: Option<IpAddr>,
    l3vni: Option<Vni>,
) -> Nlri {
    Nlri::new(Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd,
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac,
        ip,
        label1: vni.label(),
        label2: l3vni.map(Vni::label),
    })))
}
