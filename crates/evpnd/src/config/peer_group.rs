//! `[[peer-group]]`: dynamic neighbours. Connections from a group's listen ranges that match no
//! `[[neighbor]]` become passive sessions with the group's settings, up to its limit; they are
//! checked with the node's own rules ([`evpnd_node::validate::peer_groups`]), the same ones a
//! reload obeys.

use super::neighbor::{Defaults, SessionOptions};
use super::ConfigError;
use evpnd_bgp::config::PeerConfig;
use evpnd_node::{validate, NeighborConfig, PeerGroupConfig, RemoteAsn, DEFAULT_PEER_GROUP_LIMIT};
use evpnd_wire::IpPrefix;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};

/// One prefix or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `remote-asn`: a number, `"internal"` or `"external"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRemoteAsn {
    Number(u32),
    Word(String),
}

/// One `[[peer-group]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPeerGroup {
    name: String,
    listen_range: OneOrMany,
    remote_asn: RawRemoteAsn,
    limit: Option<u32>,
    port: Option<u16>,
    local_address: Option<IpAddr>,
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

/// The peer groups of `raw`, each checked, then together (unique names, no range in two
/// groups); errors name `peer-group[i] (name).key`.
pub(super) fn peer_groups(
    raw: Vec<RawPeerGroup>,
    d: &Defaults,
) -> Result<Vec<PeerGroupConfig>, ConfigError> {
    let mut out: Vec<PeerGroupConfig> = Vec::new();
    for (i, g) in raw.into_iter().enumerate() {
        let key = format!("peer-group[{i}] ({})", g.name);
        let texts = match g.listen_range {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        };
        let mut ranges = Vec::new();
        for t in texts {
            ranges.push(t.parse::<IpPrefix>().map_err(|_| {
                ConfigError(format!(
                    "{key}.listen-range: {t:?} is not a prefix (ADDRESS/LENGTH)"
                ))
            })?);
        }
        let remote = match g.remote_asn {
            RawRemoteAsn::Number(n) => RemoteAsn::Number(n),
            RawRemoteAsn::Word(w) if w == "internal" => RemoteAsn::Internal,
            RawRemoteAsn::Word(w) if w == "external" => RemoteAsn::External,
            RawRemoteAsn::Word(w) => {
                return Err(ConfigError(format!(
                    "{key}.remote-asn: {w:?} (a number, \"internal\" or \"external\")"
                )))
            }
        };
        let mut peer = PeerConfig::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, d.asn, d.router_id);
        peer.passive = true;
        remote.apply(&mut peer);
        let options = SessionOptions {
            port: g.port,
            local_address: g.local_address,
            route_reflector_client: g.route_reflector_client,
            hold_time: g.hold_time,
            families: g.families,
            md5_password: g.md5_password,
            ttl_security: g.ttl_security,
            multihop: g.multihop,
            max_prefix: g.max_prefix,
            max_prefix_restart: g.max_prefix_restart,
            graceful_restart: g.graceful_restart,
            restart_time: g.restart_time,
            role: g.role,
            role_strict: g.role_strict,
        };
        let transport = options.apply(&key, &mut peer, d)?;
        let group = PeerGroupConfig {
            name: g.name,
            listen_ranges: ranges,
            limit: g.limit.unwrap_or(DEFAULT_PEER_GROUP_LIMIT),
            template: NeighborConfig { peer, transport },
        };
        validate::peer_group(&group)
            .map_err(|e| ConfigError(format!("{key}.{}: {}", e.field, e.message)))?;
        out.push(group);
    }
    validate::peer_groups(&out)
        .map_err(|e| ConfigError(format!("peer-group.{}: {}", e.field, e.message)))?;
    Ok(out)
}
