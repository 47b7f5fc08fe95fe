//! `[[neighbor]]`: BGP neighbours, turned into the node's [`NeighborConfig`] and checked with
//! the same rules as a neighbour added at run time ([`evpnd_node::validate::neighbor`]).

use super::{err, ConfigError};
use evpnd_bgp::config::{GracefulRestartConfig, MaxPrefix, PeerConfig};
use evpnd_node::{validate, NeighborConfig, Transport};
use evpnd_wire::capability::BgpRole;
use evpnd_wire::Family;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// One `[[neighbor]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawNeighbor {
    address: IpAddr,
    remote_asn: u32,
    port: Option<u16>,
    local_address: Option<IpAddr>,
    passive: Option<bool>,
    route_reflector_client: Option<bool>,
    hold_time: Option<u16>,
    families: Option<Vec<String>>,
    md5_password: Option<String>,
    ttl_security: Option<u8>,
    multihop: Option<u8>,
    max_prefix: Option<u32>,
    max_prefix_restart: Option<u64>,
    graceful_restart: Option<bool>,
    restart_time: Option<u16>,
    role: Option<String>,
    role_strict: Option<bool>,
}

/// Settings of `[bgp]` that every neighbour inherits.
pub(super) struct Defaults {
    /// Our AS.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// `bgp.hold-time`.
    pub hold_time: u16,
    /// `bgp.connect-retry`.
    pub connect_retry: Duration,
}

/// The families a neighbour may negotiate, by their configuration names.
fn parse_family(s: &str) -> Option<Family> {
    Some(match s {
        "l2vpn-evpn" | "evpn" => Family::L2VPN_EVPN,
        "ipv4-unicast" => Family::IPV4_UNICAST,
        "ipv6-unicast" => Family::IPV6_UNICAST,
        "ipv4-rtc" | "rtc" | "rt-constraint" => Family::RT_CONSTRAINT,
        _ => return None,
    })
}

/// The BGP Roles we may have towards a neighbour (RFC 9234 §4.1), by their configuration
/// names, which are those of [`BgpRole::name`].
fn parse_role(s: &str) -> Option<BgpRole> {
    [
        BgpRole::PROVIDER,
        BgpRole::RS,
        BgpRole::RS_CLIENT,
        BgpRole::CUSTOMER,
        BgpRole::PEER,
    ]
    .into_iter()
    .find(|r| r.name() == s)
}

/// The session options a `[[neighbor]]` and a `[[peer-group]]` share, as written.
pub(super) struct SessionOptions {
    pub port: Option<u16>,
    pub local_address: Option<IpAddr>,
    pub route_reflector_client: Option<bool>,
    pub hold_time: Option<u16>,
    pub families: Option<Vec<String>>,
    pub md5_password: Option<String>,
    pub ttl_security: Option<u8>,
    pub multihop: Option<u8>,
    pub max_prefix: Option<u32>,
    pub max_prefix_restart: Option<u64>,
    pub graceful_restart: Option<bool>,
    pub restart_time: Option<u16>,
    pub role: Option<String>,
    pub role_strict: Option<bool>,
}

impl SessionOptions {
    /// Applies the options to `peer` (made with the `[bgp]` defaults `d`) and returns the
    /// transport; errors name `key.option`.
    pub(super) fn apply(
        self,
        key: &str,
        peer: &mut PeerConfig,
        d: &Defaults,
    ) -> Result<Transport, ConfigError> {
        peer.hold_time = self.hold_time.unwrap_or(d.hold_time);
        peer.route_reflector_client = self.route_reflector_client.unwrap_or(false);
        peer.connect_retry = d.connect_retry;
        peer.connect_retry_max = peer.connect_retry_max.max(d.connect_retry);
        if let Some(fams) = self.families {
            let mut list = Vec::new();
            for f in fams {
                let fam = parse_family(&f).ok_or_else(|| {
                    ConfigError(format!(
                        "{key}.families: unknown family {f:?} (l2vpn-evpn, ipv4-rtc, ipv4-unicast, ipv6-unicast)"
                    ))
                })?;
                if !list.contains(&fam) {
                    list.push(fam);
                }
            }
            peer.families = list;
        }
        if let Some(limit) = self.max_prefix {
            peer.max_prefix = vec![MaxPrefix {
                family: Family::L2VPN_EVPN,
                limit,
                restart_after: self.max_prefix_restart.map(Duration::from_secs),
            }];
        }
        if self.graceful_restart.unwrap_or(false) {
            peer.graceful_restart = Some(GracefulRestartConfig {
                restart_time: self.restart_time.unwrap_or(120),
                stale_routes_time: Duration::from_secs(360),
            });
        }
        if let Some(r) = self.role {
            peer.role = Some(parse_role(&r).ok_or_else(|| {
                ConfigError(format!(
                    "{key}.role: unknown role {r:?} (provider, rs, rs-client, customer, peer)"
                ))
            })?);
        }
        peer.strict_role = self.role_strict.unwrap_or(false);
        Ok(Transport {
            port: self.port.unwrap_or(179),
            local_address: self.local_address,
            md5_password: self.md5_password,
            ttl_security: self.ttl_security,
            multihop: self.multihop,
        })
    }
}

/// The neighbours of `raw`, each checked; the error names `neighbor[i] (address).key`.
pub(super) fn neighbors(
    raw: Vec<RawNeighbor>,
    d: &Defaults,
) -> Result<Vec<NeighborConfig>, ConfigError> {
    let mut out: Vec<NeighborConfig> = Vec::new();
    for (i, n) in raw.into_iter().enumerate() {
        let key = format!("neighbor[{i}] ({})", n.address);
        if out.iter().any(|o| o.peer.address == n.address) {
            return err(format!("{key}: duplicate neighbor address"));
        }
        let mut peer = PeerConfig::new(n.address, n.remote_asn, d.asn, d.router_id);
        peer.passive = n.passive.unwrap_or(false);
        let options = SessionOptions {
            port: n.port,
            local_address: n.local_address,
            route_reflector_client: n.route_reflector_client,
            hold_time: n.hold_time,
            families: n.families,
            md5_password: n.md5_password,
            ttl_security: n.ttl_security,
            multihop: n.multihop,
            max_prefix: n.max_prefix,
            max_prefix_restart: n.max_prefix_restart,
            graceful_restart: n.graceful_restart,
            restart_time: n.restart_time,
            role: n.role,
            role_strict: n.role_strict,
        };
        let transport = options.apply(&key, &mut peer, d)?;
        let neighbor = NeighborConfig { peer, transport };
        validate::neighbor(&neighbor)
            .map_err(|e| ConfigError(format!("{key}.{}: {}", e.field, e.message)))?;
        out.push(neighbor);
    }
    Ok(out)
}
