//! The checks every value passes before it reaches a session, the RIB or the engine: one
//! function per kind of value, used by [`crate::Node::command`], [`crate::NodeConfig::validate`]
//! and the daemon's configuration parser alike, so a value is judged the same way whichever
//! door it comes in by. Each refusal names the field (configuration key / API field).

use crate::config::{NeighborConfig, PeerGroupConfig};
use crate::error::CommandError;
use evpnd_evpn::{
    is_host_address, Attachment, EngineConfig, EviConfig, GatewayAddress, IrbMode, ResolvedEvi,
    ResolvedVrf, VrfConfig, VrfName,
};
use evpnd_wire::{IpPrefix, MacAddress, Vni};
use std::net::IpAddr;

/// Longest TCP-MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// Largest restart time the graceful restart capability carries (12 bits, RFC 4724 §3).
pub const MAX_RESTART_TIME: u16 = 4095;

/// Adds `context` to the message of `e` (which entry of a list was at fault).
pub fn within(mut e: CommandError, context: &str) -> CommandError {
    e.message = format!("{context}: {}", e.message);
    e
}

/// A VNI as a number from the outside: 1..=2^24-1 (RFC 7348 §5).
pub fn vni(n: u32) -> Result<Vni, CommandError> {
    Vni::new(n).map_err(|e| CommandError::invalid("vni", e.to_string()))
}

/// An AS number: AS 0 is reserved and never valid on a session (RFC 7607 §2).
pub fn asn(field: &'static str, asn: u32) -> Result<(), CommandError> {
    if asn == 0 {
        return Err(CommandError::invalid(field, "AS 0 is reserved (RFC 7607)"));
    }
    Ok(())
}

/// A hold time: 0 (no keepalives) or at least 3 seconds (RFC 4271 §4.2).
pub fn hold_time(h: u16) -> Result<(), CommandError> {
    if matches!(h, 1 | 2) {
        return Err(CommandError::invalid(
            "hold-time",
            format!("{h} seconds (must be 0 or at least 3, RFC 4271 §4.2)"),
        ));
    }
    Ok(())
}

/// The MAC of an endpoint: unicast and not all zeros.
pub fn endpoint_mac(mac: MacAddress) -> Result<(), CommandError> {
    if mac.is_multicast() || mac.is_zero() {
        return Err(CommandError::invalid(
            "mac",
            format!("{mac} is not a unicast MAC address (group or all-zero)"),
        ));
    }
    Ok(())
}

/// The IP of an endpoint: a host address ([`is_host_address`]).
pub fn endpoint_ip(ip: IpAddr) -> Result<(), CommandError> {
    if !is_host_address(ip) {
        return Err(CommandError::invalid(
            "ip",
            format!("{ip} is not a unicast host address"),
        ));
    }
    Ok(())
}

/// A local endpoint: a unicast MAC, a host IP, the router flag only with an IPv6 address (the
/// ND R flag, RFC 9047 §3.1), a static binding only with an IP.
pub fn attachment(a: &Attachment) -> Result<(), CommandError> {
    endpoint_mac(a.mac)?;
    if let Some(ip) = a.ip {
        endpoint_ip(ip)?;
    }
    if a.router && !a.ip.is_some_and(|ip| ip.is_ipv6()) {
        return Err(CommandError::invalid(
            "router",
            "the router flag needs an IPv6 ip (ND R flag, RFC 9047 §3.1)",
        ));
    }
    if a.static_binding && a.ip.is_none() {
        return Err(CommandError::invalid("static-binding", "needs an ip"));
    }
    Ok(())
}

/// The local VTEP: a host address the fabric can reach (next hop of every route we originate,
/// RFC 8365 §5.1.3).
pub fn vtep(ip: IpAddr) -> Result<(), CommandError> {
    if !is_host_address(ip) {
        return Err(CommandError::invalid(
            "vtep",
            format!("{ip} is not a unicast host address"),
        ));
    }
    Ok(())
}

/// An EVI to add next to `existing`: its VNI is not configured yet and its RD (explicit or
/// auto-derived, RFC 7432 §7.9) differs from every other EVI's, so that each route names its
/// EVI.
pub fn evi(
    engine: &EngineConfig,
    existing: impl IntoIterator<Item = ResolvedEvi>,
    evi: &EviConfig,
) -> Result<(), CommandError> {
    let new = ResolvedEvi::resolve(engine, evi);
    for other in existing {
        if other.vni == evi.vni {
            return Err(CommandError::exists(
                "vni",
                format!("VNI {} is configured already", evi.vni),
            ));
        }
        if other.rd == new.rd {
            return Err(CommandError::invalid(
                "rd",
                format!(
                    "{} is also the RD of VNI {} (give one of them an explicit rd)",
                    new.rd, other.vni
                ),
            ));
        }
    }
    Ok(())
}

/// A VRF name from the outside (`field` names where it came from: `name` of a VRF, `vrf` of a
/// VNI): the interface-name rules of [`VrfName::new`].
pub fn vrf_name(field: &'static str, name: &str) -> Result<VrfName, CommandError> {
    VrfName::new(name).map_err(|e| CommandError::invalid(field, e))
}

/// The L3VNI of a VRF (RFC 9135 §5): a VNI, required with symmetric IRB (it carries every
/// routed packet between NVEs), optional with asymmetric IRB (which never uses it).
pub fn l3vni(irb: IrbMode, n: Option<u32>) -> Result<Option<Vni>, CommandError> {
    match n {
        Some(n) => Vni::new(n)
            .map(Some)
            .map_err(|e| CommandError::invalid("l3vni", e.to_string())),
        None if irb == IrbMode::Symmetric => Err(CommandError::invalid(
            "l3vni",
            "required with symmetric IRB (RFC 9135 §5)",
        )),
        None => Ok(None),
    }
}

/// A router MAC (the Router's MAC extended community, RFC 9135 §8.1) or the anycast gateway
/// MAC (`field`): unicast and not all zeros, since it is the destination of routed frames.
pub fn router_mac(field: &'static str, mac: MacAddress) -> Result<(), CommandError> {
    if mac.is_multicast() || mac.is_zero() {
        return Err(CommandError::invalid(
            field,
            format!("{mac} is not a unicast MAC address (group or all-zero)"),
        ));
    }
    Ok(())
}

/// A gateway address (RFC 9135 §4.1): a host address inside its subnet, neither the subnet's
/// own address nor (IPv4) its broadcast address, with a prefix length that leaves room for
/// tenants (IPv4 1..=30, IPv6 1..=127).
pub fn gateway(g: &GatewayAddress) -> Result<IpPrefix, CommandError> {
    let bad = |why: String| {
        CommandError::invalid("gateway", format!("{}/{}: {why}", g.address, g.prefix_len))
    };
    let max = if g.address.is_ipv4() { 30 } else { 127 };
    if g.prefix_len == 0 || g.prefix_len > max {
        return Err(bad(format!("the prefix length must be 1 to {max}")));
    }
    if !is_host_address(g.address) {
        return Err(bad("not a unicast host address".into()));
    }
    let subnet = g
        .subnet()
        .ok_or_else(|| bad("the prefix length exceeds the address".into()))?;
    if subnet.addr() == g.address {
        return Err(bad("the subnet's own address is not a host address".into()));
    }
    if let IpAddr::V4(a) = g.address {
        let host_bits = 32 - u32::from(g.prefix_len);
        let host_mask = u32::MAX.checked_shr(32 - host_bits).unwrap_or(0);
        if u32::from(a) & host_mask == host_mask {
            return Err(bad(
                "the subnet's broadcast address is not a host address".into()
            ));
        }
    }
    Ok(subnet)
}

/// A gateway address as text, `ADDRESS/LENGTH` (`192.0.2.254/24`): parsed and judged by
/// [`gateway`]. The configuration file, the API and the CLI all read gateways with it.
pub fn gateway_text(text: &str) -> Result<GatewayAddress, CommandError> {
    let bad = || {
        CommandError::invalid(
            "gateway",
            format!("{text:?} is not ADDRESS/LENGTH (like 192.0.2.254/24)"),
        )
    };
    let (a, l) = text.split_once('/').ok_or_else(bad)?;
    let g = GatewayAddress {
        address: a.parse().map_err(|_| bad())?,
        prefix_len: l.parse().map_err(|_| bad())?,
    };
    gateway(&g)?;
    Ok(g)
}

/// True when the two prefixes share an address (one holds the other).
pub fn prefixes_overlap(a: IpPrefix, b: IpPrefix) -> bool {
    let len = a.len().min(b.len());
    a.addr().is_ipv4() == b.addr().is_ipv4()
        && IpPrefix::new(a.addr(), len) == IpPrefix::new(b.addr(), len)
}

/// True when `ip` lies inside `prefix`.
pub fn prefix_holds(prefix: IpPrefix, ip: IpAddr) -> bool {
    IpPrefix::new(ip, prefix.len()) == Some(prefix)
}

/// A tenant VRF to add next to the `vrfs` already there and the L2VNIs `l2vnis` (RFC 9135 §3):
/// a name not taken, an L3VNI when the IRB mode needs one that is neither an L2VNI nor another
/// VRF's L3VNI, a unicast router MAC, an RD no other VRF uses. Its configured routes are judged
/// by [`vrf_routes`] once its VNIs are known.
pub fn vrf<'a>(
    engine: &EngineConfig,
    vrfs: impl IntoIterator<Item = &'a ResolvedVrf>,
    l2vnis: impl IntoIterator<Item = Vni>,
    vrf: &VrfConfig,
) -> Result<(), CommandError> {
    l3vni(engine.irb, vrf.l3vni.map(Vni::get))?;
    if let Some(mac) = vrf.router_mac {
        router_mac("router-mac", mac)?;
    }
    if let Some(l3) = vrf.l3vni {
        if l2vnis.into_iter().any(|v| v == l3) {
            return Err(CommandError::invalid(
                "l3vni",
                format!("{l3} is an L2VNI already (an L3VNI is a VNI of its own)"),
            ));
        }
    }
    let new = ResolvedVrf::resolve(engine, vrf);
    for other in vrfs {
        if other.name == vrf.name {
            return Err(CommandError::exists(
                "name",
                format!("VRF {} is configured already", vrf.name),
            ));
        }
        if vrf.l3vni.is_some() && other.l3vni == vrf.l3vni {
            return Err(CommandError::invalid(
                "l3vni",
                format!(
                    "{} is also the L3VNI of VRF {}",
                    vrf.l3vni.map(Vni::get).unwrap_or(0),
                    other.name
                ),
            ));
        }
        if other.rd == new.rd {
            return Err(CommandError::invalid(
                "rd",
                format!(
                    "{} is also the RD of VRF {} (give one of them an explicit rd)",
                    new.rd, other.name
                ),
            ));
        }
    }
    Ok(())
}

/// The configured routes of a VRF: each `via` lies inside the subnet of one of the VRF's
/// gateway addresses (`subnets`), since it is a tenant router on a local subnet (RFC 9136
/// §4.4.1, interface-less model).
pub fn vrf_routes(vrf: &VrfConfig, subnets: &[IpPrefix]) -> Result<(), CommandError> {
    for r in &vrf.routes {
        if !subnets.iter().any(|s| prefix_holds(*s, r.via)) {
            return Err(CommandError::invalid(
                "route",
                format!(
                    "{} via {}: the next hop is on no gateway subnet of VRF {}",
                    r.prefix, r.via, vrf.name
                ),
            ));
        }
    }
    Ok(())
}

/// The layer-3 part of an EVI (RFC 9135 §3, §4.2): gateways only with a VRF, a VRF that
/// exists (`vrfs`), a VNI that is no VRF's L3VNI, valid gateway addresses, and subnets that
/// overlap neither each other nor those of the other VNIs of the same VRF (`others`).
pub fn evi_layer3<'a>(
    vrfs: impl IntoIterator<Item = &'a ResolvedVrf>,
    others: impl IntoIterator<Item = &'a ResolvedEvi>,
    evi: &EviConfig,
) -> Result<(), CommandError> {
    let mut exists = false;
    for v in vrfs {
        if v.l3vni == Some(evi.vni) {
            return Err(CommandError::invalid(
                "vni",
                format!("{} is the L3VNI of VRF {}", evi.vni, v.name),
            ));
        }
        exists |= Some(v.name) == evi.vrf;
    }
    let Some(name) = evi.vrf else {
        if !evi.gateways.is_empty() {
            return Err(CommandError::invalid(
                "gateway",
                "gateway addresses need a vrf (RFC 9135 §3)",
            ));
        }
        return Ok(());
    };
    if !exists {
        return Err(CommandError::not_found(
            "vrf",
            format!("no VRF {name} is configured"),
        ));
    }
    let mut mine: Vec<IpPrefix> = Vec::with_capacity(evi.gateways.len());
    for g in &evi.gateways {
        let s = gateway(g)?;
        if mine.iter().any(|m| prefixes_overlap(*m, s)) {
            return Err(CommandError::invalid(
                "gateway",
                format!("{s} overlaps another gateway subnet of VNI {}", evi.vni),
            ));
        }
        mine.push(s);
    }
    for other in others {
        if other.vni == evi.vni || other.vrf != Some(name) {
            continue;
        }
        for g in &other.gateways {
            let Some(s) = g.subnet() else { continue };
            if let Some(m) = mine.iter().find(|m| prefixes_overlap(**m, s)) {
                return Err(CommandError::invalid(
                    "gateway",
                    format!("{m} overlaps {s} of VNI {} in VRF {name}", other.vni),
                ));
            }
        }
    }
    Ok(())
}

/// A neighbour's settings: a unicast address, a non-zero AS, a usable hold time, route
/// reflection only over iBGP (RFC 4456), at least one family, a TCP-MD5 key Linux accepts,
/// GTSM or multihop but not both, a source address of the neighbour's family, and a restart
/// time that fits the capability (RFC 4724 §3).
pub fn neighbor(n: &NeighborConfig) -> Result<(), CommandError> {
    let p = &n.peer;
    let a = p.address;
    let unicast = match a {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    };
    if !unicast {
        return Err(CommandError::invalid(
            "address",
            format!("{a} is not a unicast address"),
        ));
    }
    if !p.accept_any_external_asn {
        asn("remote-asn", p.remote_asn)?;
    }
    asn("local-asn", p.local_asn)?;
    hold_time(p.hold_time)?;
    if p.route_reflector_client && p.is_external() {
        return Err(CommandError::invalid(
            "route-reflector-client",
            "needs an iBGP neighbor (RFC 4456)",
        ));
    }
    if p.families.is_empty() {
        return Err(CommandError::invalid("families", "empty"));
    }
    if let Some(f) = p.add_path_receive.iter().find(|f| !p.families.contains(f)) {
        return Err(CommandError::invalid(
            "add-path-receive",
            format!("{} is not one of the neighbor's families", f.name()),
        ));
    }
    // RFC 9234 §3.1: roles are relations between ASes.
    if p.role.is_some() && !p.is_external() {
        return Err(CommandError::invalid(
            "role",
            "needs an eBGP neighbor (RFC 9234 §3.1: roles are relations between ASes)",
        ));
    }
    if p.strict_role && p.role.is_none() {
        return Err(CommandError::invalid(
            "role-strict",
            "needs a role (RFC 9234 §4.2)",
        ));
    }
    if p.connect_retry.is_zero() || p.connect_retry > p.connect_retry_max {
        return Err(CommandError::invalid(
            "connect-retry",
            "must be above 0 and at most the backoff maximum",
        ));
    }
    if let Some(gr) = &p.graceful_restart {
        if gr.restart_time > MAX_RESTART_TIME {
            return Err(CommandError::invalid(
                "restart-time",
                format!(
                    "{} exceeds {MAX_RESTART_TIME} seconds (RFC 4724 §3)",
                    gr.restart_time
                ),
            ));
        }
    }
    if let Some(m) = p.max_prefix.iter().find(|m| m.limit == 0) {
        return Err(CommandError::invalid(
            "max-prefix",
            format!("0 for {} (leave it out for no limit)", m.family.name()),
        ));
    }
    let t = &n.transport;
    if t.port == 0 {
        return Err(CommandError::invalid("port", "0 is not a TCP port"));
    }
    if let Some(key) = &t.md5_password {
        if key.is_empty() || key.len() > MD5_MAX_KEY_LEN {
            return Err(CommandError::invalid(
                "md5-password",
                format!("1 to {MD5_MAX_KEY_LEN} bytes (TCP_MD5SIG_MAXKEYLEN)"),
            ));
        }
    }
    if t.ttl_security.is_some() && t.multihop.is_some() {
        return Err(CommandError::invalid(
            "ttl-security",
            "ttl-security and multihop exclude each other",
        ));
    }
    if t.ttl_security == Some(0) || t.multihop == Some(0) {
        return Err(CommandError::invalid(
            if t.multihop == Some(0) {
                "multihop"
            } else {
                "ttl-security"
            },
            "0 hops",
        ));
    }
    if let Some(local) = t.local_address {
        if local.is_ipv4() != a.is_ipv4() {
            return Err(CommandError::invalid(
                "local-address",
                format!("{local} is not of the neighbor's address family"),
            ));
        }
    }
    Ok(())
}

/// A peer group on its own: a name, at least one listen range, a limit of at least one
/// session, and the settings of its neighbours as [`neighbor`] judges them (with a stand-in
/// address of the first range's family; dynamic neighbours are passive).
pub fn peer_group(g: &PeerGroupConfig) -> Result<(), CommandError> {
    if g.name.is_empty() || g.name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CommandError::invalid(
            "name",
            format!(
                "{:?} is not a peer group name (non-empty, no spaces)",
                g.name
            ),
        ));
    }
    let Some(first) = g.listen_ranges.first() else {
        return Err(CommandError::invalid("listen-range", "at least one prefix"));
    };
    for (i, r) in g.listen_ranges.iter().enumerate() {
        if g.listen_ranges[..i].contains(r) {
            return Err(CommandError::invalid(
                "listen-range",
                format!("{r} is listed twice"),
            ));
        }
    }
    if g.limit == 0 {
        return Err(CommandError::invalid(
            "limit",
            "0 sessions (at least 1; leave it out for the default 100)",
        ));
    }
    if !g.template.peer.passive {
        return Err(CommandError::invalid(
            "passive",
            "dynamic neighbors are always passive",
        ));
    }
    let mut probe = g.template.clone();
    probe.peer.address = if first.addr().is_ipv4() {
        IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1))
    } else {
        IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
    };
    neighbor(&probe)
}

/// Every peer group ([`peer_group`]) and the groups together: unique names, and no listen
/// range in two groups (the longest range holding an address picks its group, so two equal
/// ranges would leave the choice open). Errors name the group (`peer-group NAME: ...`).
pub fn peer_groups(groups: &[PeerGroupConfig]) -> Result<(), CommandError> {
    for (i, g) in groups.iter().enumerate() {
        peer_group(g).map_err(|e| within(e, &format!("peer-group {}", g.name)))?;
        for other in &groups[..i] {
            if other.name == g.name {
                return Err(CommandError::exists(
                    "name",
                    format!("peer-group {} is configured twice", g.name),
                ));
            }
            if let Some(r) = g
                .listen_ranges
                .iter()
                .find(|r| other.listen_ranges.contains(r))
            {
                return Err(CommandError::invalid(
                    "listen-range",
                    format!(
                        "peer-group {}: {r} is also a listen range of peer-group {} (the longest range picks the group; equal ranges are ambiguous)",
                        g.name, other.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::net::Ipv4Addr;

    fn nb() -> NeighborConfig {
        NeighborConfig::new(
            "198.18.0.2".parse().unwrap(),
            65000,
            65001,
            Ipv4Addr::new(198, 19, 0, 1),
        )
    }

    #[test]
    fn neighbours_are_checked_field_by_field() {
        assert!(nb().validate().is_ok());
        let field = |f: &dyn Fn(&mut NeighborConfig)| {
            let mut n = nb();
            f(&mut n);
            n.validate().unwrap_err().field
        };
        assert_eq!(field(&|n| n.peer.remote_asn = 0), "remote-asn");
        assert_eq!(field(&|n| n.peer.hold_time = 2), "hold-time");
        assert_eq!(field(&|n| n.peer.families.clear()), "families");
        assert_eq!(
            field(&|n| n.peer.route_reflector_client = true),
            "route-reflector-client"
        );
        assert_eq!(
            field(&|n| n.peer.address = "224.0.0.1".parse().unwrap()),
            "address"
        );
        assert_eq!(
            field(&|n| n.transport.md5_password = Some("x".repeat(81))),
            "md5-password"
        );
        assert_eq!(
            field(&|n| {
                n.transport.ttl_security = Some(1);
                n.transport.multihop = Some(2);
            }),
            "ttl-security"
        );
        assert_eq!(
            field(&|n| n.transport.local_address = Some("::1".parse().unwrap())),
            "local-address"
        );
        assert_eq!(field(&|n| n.transport.port = 0), "port");
        assert_eq!(field(&|n| n.peer.strict_role = true), "role-strict");
        assert_eq!(
            field(&|n| n.peer.add_path_receive = vec![evpnd_wire::Family::IPV4_UNICAST]),
            "add-path-receive"
        );
        assert_eq!(
            field(&|n| {
                n.peer.remote_asn = 65001;
                n.peer.role = Some(evpnd_wire::capability::BgpRole::PEER);
            }),
            "role"
        );
    }

    #[test]
    fn endpoints_follow_one_host_address_rule() {
        let mac = MacAddress([2, 0, 0, 0, 0, 1]);
        let ok = Attachment::new(vni(100).unwrap(), mac, Some("192.0.2.1".parse().unwrap()));
        assert!(attachment(&ok).is_ok());
        for bad in [
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "127.0.0.1",
            "::1",
            "ff02::1",
        ] {
            let a = Attachment {
                ip: Some(bad.parse().unwrap()),
                ..ok
            };
            assert_eq!(attachment(&a).unwrap_err().field, "ip", "{bad}");
        }
        for bad in [
            "ff:ff:ff:ff:ff:ff",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
        ] {
            let a = Attachment {
                mac: bad.parse().unwrap(),
                ..ok
            };
            assert_eq!(attachment(&a).unwrap_err().field, "mac", "{bad}");
        }
        let a = Attachment { router: true, ..ok };
        assert_eq!(attachment(&a).unwrap_err().field, "router");
        let a = Attachment {
            ip: None,
            static_binding: true,
            ..ok
        };
        assert_eq!(attachment(&a).unwrap_err().field, "static-binding");
        assert_eq!(
            vtep("127.0.0.1".parse().unwrap()).unwrap_err().field,
            "vtep"
        );
        let e = vni(1 << 24).unwrap_err();
        assert_eq!((e.kind, e.field), (ErrorKind::InvalidArgument, "vni"));
    }
}
