//! `[[static-route]]`: EVPN routes originated as written (test routes, interop tests), each
//! checked before it reaches the RIB.

use super::{err, ConfigError};
use evpnd_node::StaticRoute;
use evpnd_wire::community::RouteTarget;
use evpnd_wire::{Family, IpPrefix, MacAddress, RouteDistinguisher};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};

/// One `[[static-route]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawStaticRoute {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) rd: String,
    #[serde(default)]
    pub(super) route_targets: Vec<String>,
    pub(super) vni: Option<u32>,
    pub(super) mac: Option<String>,
    pub(super) ip: Option<IpAddr>,
    pub(super) prefix: Option<String>,
    pub(super) gateway: Option<IpAddr>,
    pub(super) router_mac: Option<String>,
    pub(super) next_hop: Option<IpAddr>,
    pub(super) mac_mobility_sequence: Option<u32>,
    pub(super) sticky: Option<bool>,
}

/// The route of `s`, its next hop defaulting to `vtep`.
pub(super) fn static_route(s: &RawStaticRoute, vtep: IpAddr) -> Result<StaticRoute, ConfigError> {
    use evpnd_wire::community::ExtCommunityKind;
    use evpnd_wire::{
        Esi, EvpnRoute, ExtendedCommunity, InclusiveMulticastRoute, IpPrefixRoute, MacIpRoute,
        Nlri, PmsiTunnel, Route, Vni,
    };
    let rd: RouteDistinguisher = s.rd.parse().map_err(|e| ConfigError(format!("rd: {e}")))?;
    let vni = s.vni.ok_or_else(|| ConfigError("vni: required".into()))?;
    let label = Vni::new(vni)
        .map_err(|e| ConfigError(format!("vni: {e}")))?
        .label();
    let next_hop = s.next_hop.unwrap_or(vtep);
    let mut communities = Vec::new();
    for rt in &s.route_targets {
        let rt: RouteTarget = rt
            .parse()
            .map_err(|e| ConfigError(format!("route-targets: {e}")))?;
        communities.push(ExtendedCommunity::route_target(rt));
    }
    if communities.is_empty() {
        return err("route-targets: at least one is required");
    }
    communities.push(ExtendedCommunity::vxlan_encapsulation());
    let mac = |field: &str, v: &Option<String>| -> Result<Option<MacAddress>, ConfigError> {
        v.as_deref()
            .map(|m| {
                m.parse::<MacAddress>()
                    .map_err(|e| ConfigError(format!("{field}: {e}")))
            })
            .transpose()
    };
    let (route, pmsi) = match s.kind.as_str() {
        "mac-ip" => {
            let mac = mac("mac", &s.mac)?
                .ok_or_else(|| ConfigError("mac: required for mac-ip".into()))?;
            if mac.is_multicast() {
                return err("mac: must be a unicast MAC");
            }
            if s.mac_mobility_sequence.is_some() || s.sticky.unwrap_or(false) {
                communities.push(ExtendedCommunity::new(ExtCommunityKind::MacMobility {
                    sequence: s.mac_mobility_sequence.unwrap_or(0),
                    sticky: s.sticky.unwrap_or(false),
                }));
            }
            (
                EvpnRoute::MacIp(MacIpRoute {
                    rd,
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    mac,
                    ip: s.ip,
                    label1: label,
                    label2: None,
                }),
                None,
            )
        }
        "inclusive-multicast" => (
            EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd,
                ethernet_tag: 0,
                originator: next_hop,
            }),
            Some(PmsiTunnel::ingress_replication(next_hop, label)),
        ),
        "ip-prefix" => {
            let p: IpPrefix = s
                .prefix
                .as_deref()
                .ok_or_else(|| ConfigError("prefix: required for ip-prefix".into()))?
                .parse()
                .map_err(|e| ConfigError(format!("prefix: {e}")))?;
            let gateway = s.gateway.unwrap_or(match p.addr() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            });
            if gateway.is_ipv4() != p.addr().is_ipv4() {
                return err("gateway: must be of the prefix's family (RFC 9136 §3.1)");
            }
            if let Some(m) = mac("router-mac", &s.router_mac)? {
                communities.push(ExtendedCommunity::new(ExtCommunityKind::RouterMac(m)));
            }
            (
                EvpnRoute::IpPrefix(IpPrefixRoute {
                    rd,
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    prefix_len: p.len(),
                    prefix: p.addr(),
                    gateway,
                    label,
                }),
                None,
            )
        }
        k => {
            return err(format!(
                "type: unknown {k:?} (mac-ip, inclusive-multicast, ip-prefix)"
            ))
        }
    };
    Ok(StaticRoute {
        family: Family::L2VPN_EVPN,
        nlri: Nlri::new(Route::Evpn(route)),
        communities,
        pmsi,
        next_hop,
    })
}
