//! Origination of IP prefix routes (type 5, RFC 9136 §3.1) in the interface-less
//! IP-VRF-to-IP-VRF model (RFC 9136 §4.4.1), symmetric IRB only: per tenant VRF with an
//! L3VNI, one route per connected subnet (when `advertise_connected`), per `advertise` prefix
//! and per configured route: RD = the VRF's, ESI 0 and GW IP 0 (no overlay index), Ethernet
//! tag 0, label = L3VNI (RFC 8365 §5.1.3), the VRF's export route targets, the VXLAN
//! encapsulation (RFC 8365 §5.1.3) and the Router's MAC (RFC 9135 §8.1), next hop the local
//! VTEP. The set is recomputed on configuration changes only, and only the difference is
//! advertised or withdrawn. Import: `l3_import`.

use super::Engine;
use crate::config::{IrbMode, ResolvedVrf};
use crate::types::{RouteChange, VrfName};
use evpnd_wire::{
    Esi, EvpnRoute, ExtCommunityKind, ExtendedCommunity, IpPrefix, IpPrefixRoute, NextHop, Nlri,
    PathAttribute, Route, RouteDistinguisher, Vni,
};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl Engine {
    /// The prefixes `vrf` advertises under its current configuration (none without symmetric
    /// IRB and an L3VNI). Walks the EVIs: configuration changes only.
    fn wanted_prefixes(&self, vrf: &ResolvedVrf) -> BTreeSet<IpPrefix> {
        let mut want = BTreeSet::new();
        if self.config.irb != IrbMode::Symmetric || vrf.l3vni.is_none() {
            return want;
        }
        if vrf.advertise_connected {
            for evi in self.evis.values().filter(|e| e.vrf == Some(vrf.name)) {
                want.extend(evi.gateways.iter().filter_map(|g| g.subnet()));
            }
        }
        want.extend(vrf.advertise.iter().copied());
        want.extend(vrf.routes.iter().map(|r| r.prefix));
        want
    }

    /// Brings the IP prefix routes of `name` in line with its configuration: withdraws the
    /// ones no longer wanted, originates the new ones, and with `all` re-originates every
    /// wanted one (its attributes changed).
    pub(super) fn sync_prefix_routes(&mut self, name: VrfName, all: bool) {
        let Some(vrf) = self.vrfs.get(&name) else {
            return;
        };
        let want = self.wanted_prefixes(vrf);
        let rd = vrf.rd;
        let have = self.l3.originated.remove(&name).unwrap_or_default();
        for prefix in have.difference(&want) {
            self.routes.push_back(RouteChange::Withdraw {
                nlri: prefix_nlri(rd, *prefix, None),
            });
        }
        let fresh: Vec<IpPrefix> = if all {
            want.iter().copied().collect()
        } else {
            want.difference(&have).copied().collect()
        };
        for prefix in fresh {
            self.originate_prefix(name, prefix);
        }
        if !want.is_empty() {
            self.l3.originated.insert(name, want);
        }
    }

    /// Withdraws every IP prefix route of `name`, advertised with `rd`.
    pub(super) fn withdraw_prefix_routes(&mut self, name: VrfName, rd: RouteDistinguisher) {
        for prefix in self.l3.originated.remove(&name).unwrap_or_default() {
            self.routes.push_back(RouteChange::Withdraw {
                nlri: prefix_nlri(rd, prefix, None),
            });
        }
    }

    fn originate_prefix(&mut self, name: VrfName, prefix: IpPrefix) {
        let Some(vrf) = self.vrfs.get(&name) else {
            return;
        };
        let Some(l3vni) = vrf.l3vni else {
            return;
        };
        let mut communities: Vec<ExtendedCommunity> = vrf
            .export
            .iter()
            .map(|rt| ExtendedCommunity::route_target(*rt))
            .collect();
        communities.push(ExtendedCommunity::vxlan_encapsulation());
        communities.push(ExtendedCommunity::new(ExtCommunityKind::RouterMac(
            vrf.router_mac,
        )));
        self.routes.push_back(RouteChange::Originate {
            nlri: prefix_nlri(vrf.rd, prefix, Some(l3vni)),
            attributes: vec![PathAttribute::ExtendedCommunities(communities)],
            next_hop: NextHop::from_ip(self.config.vtep),
        });
    }
}

/// The type-5 route of `prefix` (RFC 9136 §3.1): ESI 0, Ethernet tag 0, GW IP 0 of the
/// prefix's family, label = the L3VNI (0 in withdrawals: not part of the route key).
fn prefix_nlri(rd: RouteDistinguisher, prefix: IpPrefix, l3vni: Option<Vni>) -> Nlri {
    let gateway = match prefix.addr() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Nlri::new(Route::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
        rd,
        esi: Esi::ZERO,
        ethernet_tag: 0,
        prefix_len: prefix.len(),
        prefix: prefix.addr(),
        gateway,
        label: l3vni.map_or(evpnd_wire::Label::from_raw(0), Vni::label),
    })))
}
