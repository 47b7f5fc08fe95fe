//! What a [`crate::Node`] is built from: the router's identity, its neighbours, static routes,
//! RT-Constraint imports, graceful-restart state and the EVPN engine settings. The daemon
//! builds it from its TOML file, the simulator and the fuzzer directly; both go through the
//! same validation ([`NodeConfig::validate`]).

use crate::error::CommandError;
use crate::validate;
use evpnd_bgp::config::PeerConfig;
use evpnd_evpn::{Attachment, EngineConfig, EviConfig, ResolvedEvi, ResolvedVrf, VrfConfig};
use evpnd_wire::{ExtendedCommunity, Family, IpPrefix, Nlri, PmsiTunnel, RouteTarget};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How the driver reaches a neighbour. The node decides nothing with it: it hands it back with
/// every connection to open or accept, so that a neighbour added at run time is one command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transport {
    /// TCP port of the neighbour (179).
    pub port: u16,
    /// Source address of outgoing connections.
    pub local_address: Option<IpAddr>,
    /// TCP-MD5 password (RFC 2385), 1 to 80 bytes.
    pub md5_password: Option<String>,
    /// GTSM (RFC 5082): accept only packets with TTL ≥ 255 - (hops - 1), send with TTL 255.
    pub ttl_security: Option<u8>,
    /// eBGP multihop: TTL of our packets.
    pub multihop: Option<u8>,
}

impl Transport {
    /// Port 179, no options.
    pub fn bgp() -> Self {
        Transport {
            port: 179,
            ..Transport::default()
        }
    }
}

/// One neighbour: the session settings and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    /// The session and RIB settings (address, AS numbers, timers, families, limits).
    pub peer: PeerConfig,
    /// How the driver connects.
    pub transport: Transport,
}

impl NeighborConfig {
    /// A neighbour with the defaults of [`PeerConfig::new`] on port 179.
    pub fn new(address: IpAddr, remote_asn: u32, local_asn: u32, router_id: Ipv4Addr) -> Self {
        NeighborConfig {
            peer: PeerConfig::new(address, remote_asn, local_asn, router_id),
            transport: Transport::bgp(),
        }
    }

    /// Checks the settings a session cannot work with (see [`validate::neighbor`]).
    pub fn validate(&self) -> Result<(), CommandError> {
        validate::neighbor(self)
    }
}

/// The AS a peer group's dynamic neighbours must announce in their OPEN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAsn {
    /// Our own AS (iBGP).
    Internal,
    /// Any AS but ours (eBGP); an OPEN with our AS gets Bad Peer AS (RFC 4271 §6.2).
    External,
    /// Exactly this AS.
    Number(u32),
}

impl RemoteAsn {
    /// Sets the session's expected AS in `peer` (whose `local_asn` is ours).
    pub fn apply(self, peer: &mut PeerConfig) {
        let (asn, any) = match self {
            RemoteAsn::Internal => (peer.local_asn, false),
            RemoteAsn::External => (0, true),
            RemoteAsn::Number(n) => (n, false),
        };
        peer.remote_asn = asn;
        peer.accept_any_external_asn = any;
    }

    /// What `peer` expects, read back.
    pub fn of(peer: &PeerConfig) -> RemoteAsn {
        if peer.accept_any_external_asn {
            RemoteAsn::External
        } else if peer.remote_asn == peer.local_asn {
            RemoteAsn::Internal
        } else {
            RemoteAsn::Number(peer.remote_asn)
        }
    }
}

impl std::fmt::Display for RemoteAsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteAsn::Internal => f.write_str("internal"),
            RemoteAsn::External => f.write_str("external"),
            RemoteAsn::Number(n) => write!(f, "{n}"),
        }
    }
}

/// Default most dynamic sessions of a peer group at once (FRR's `bgp listen limit`).
pub const DEFAULT_PEER_GROUP_LIMIT: u32 = 100;

/// A peer group: connections from its listen ranges that match no configured neighbour become
/// dynamic neighbours with the group's settings (passive, the template's session options),
/// up to `limit` at once. The longest listen range holding the address picks the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerGroupConfig {
    /// Its name (unique).
    pub name: String,
    /// Where its neighbours may connect from.
    pub listen_ranges: Vec<IpPrefix>,
    /// Most dynamic sessions of the group at once; further connections are refused before
    /// OPEN.
    pub limit: u32,
    /// The settings of every dynamic neighbour (its address is filled in on accept; passive).
    pub template: NeighborConfig,
}

impl PeerGroupConfig {
    /// A group with the defaults of [`PeerConfig::new`], passive, expecting `remote`.
    pub fn new(
        name: &str,
        listen_ranges: Vec<IpPrefix>,
        remote: RemoteAsn,
        local_asn: u32,
        router_id: Ipv4Addr,
    ) -> Self {
        let mut template = NeighborConfig::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            local_asn,
            local_asn,
            router_id,
        );
        template.peer.passive = true;
        remote.apply(&mut template.peer);
        PeerGroupConfig {
            name: name.to_string(),
            listen_ranges,
            limit: DEFAULT_PEER_GROUP_LIMIT,
            template,
        }
    }

    /// The AS its neighbours must announce.
    pub fn remote_asn(&self) -> RemoteAsn {
        RemoteAsn::of(&self.template.peer)
    }

    /// Checks the group on its own (see [`validate::peer_group`]).
    pub fn validate(&self) -> Result<(), CommandError> {
        validate::peer_group(self)
    }
}

/// A route to originate as it is written (static routes of the configuration, test routes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    /// The family.
    pub family: Family,
    /// The route.
    pub nlri: Nlri,
    /// Extended communities to attach (route targets, encapsulation, ...).
    pub communities: Vec<ExtendedCommunity>,
    /// PMSI tunnel attribute (type-3 routes).
    pub pmsi: Option<PmsiTunnel>,
    /// Next hop (the VTEP).
    pub next_hop: IpAddr,
}

/// The EVPN engine settings: present on an NVE, absent on a pure route reflector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvpnConfig {
    /// The local VTEP, duplicate detection, route-target derivation, the IRB mode and the
    /// anycast gateway MAC.
    pub engine: EngineConfig,
    /// Tenant VRFs (IP-VRFs, RFC 9135 §3), added to the engine before the EVIs that name them.
    pub vrfs: Vec<VrfConfig>,
    /// One EVI per L2VNI (RFC 7432 §6.1, VLAN-based service).
    pub evis: Vec<EviConfig>,
    /// Endpoints attached at start.
    pub endpoints: Vec<Attachment>,
}

/// Everything a node starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Our AS.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Route reflector cluster id (RFC 4456 §7); usually the router id.
    pub cluster_id: Ipv4Addr,
    /// The neighbours.
    pub neighbors: Vec<NeighborConfig>,
    /// Peer groups whose listen ranges accept dynamic neighbours.
    pub peer_groups: Vec<PeerGroupConfig>,
    /// Routes to originate as written.
    pub static_routes: Vec<StaticRoute>,
    /// Route targets imported besides the EVIs' own: originated as RT-Constraint memberships
    /// (RFC 4684 §4).
    pub import_route_targets: Vec<RouteTarget>,
    /// After an unclean stop, the longest we defer advertising while waiting for the peers'
    /// End-of-RIB (RFC 4724 §4.1; FRR's select-defer-time).
    pub select_defer_time: Duration,
    /// How long EVPN routes wait for a peer's RT-Constraint End-of-RIB before its filtered
    /// table is sent anyway (RFC 4684 §6; zero: no wait). Default 30 s.
    pub rtc_end_of_rib_wait: Duration,
    /// This start follows an unclean stop with forwarding state kept: the graceful-restart
    /// neighbours get the R bit and advertising waits for their End-of-RIB (RFC 4724 §4.1). The
    /// driver knows it (a marker left behind); the node decides what it means.
    pub restarting: bool,
    /// The EVPN engine (`None`: a route reflector or pure speaker).
    pub evpn: Option<EvpnConfig>,
}

impl NodeConfig {
    /// A router with no neighbour, no route and no engine.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        NodeConfig {
            asn,
            router_id,
            cluster_id: router_id,
            neighbors: Vec::new(),
            peer_groups: Vec::new(),
            static_routes: Vec::new(),
            import_route_targets: Vec::new(),
            select_defer_time: Duration::from_secs(360),
            rtc_end_of_rib_wait: evpnd_bgp::rib::RibConfig::DEFAULT_RTC_END_OF_RIB_WAIT,
            restarting: false,
            evpn: None,
        }
    }

    /// Checks the whole configuration with the rules commands obey at run time: each
    /// neighbour, each VRF against the ones before it, each EVI against the ones before it and
    /// the VRFs, each VRF's routes against its gateway subnets, each endpoint against its EVI.
    /// The error's message says which entry (`neighbor 198.18.0.2`, `vrf red`, `vni 100`,
    /// `endpoint 3`).
    pub fn validate(&self) -> Result<(), CommandError> {
        validate::asn("asn", self.asn)?;
        if self.router_id.is_unspecified() {
            return Err(CommandError::invalid(
                "router-id",
                "0.0.0.0 is not a valid BGP identifier (RFC 6286 §2.1)",
            ));
        }
        for (i, n) in self.neighbors.iter().enumerate() {
            n.validate()
                .map_err(|e| validate::within(e, &format!("neighbor {}", n.peer.address)))?;
            if self.neighbors[..i]
                .iter()
                .any(|o| o.peer.address == n.peer.address)
            {
                return Err(CommandError::exists(
                    "address",
                    format!("neighbor {} is configured twice", n.peer.address),
                ));
            }
        }
        validate::peer_groups(&self.peer_groups)?;
        if let Some(e) = &self.evpn {
            validate::vtep(e.engine.vtep)?;
            validate::router_mac("anycast-gateway-mac", e.engine.anycast_gateway_mac)?;
            let l2vnis: Vec<_> = e.evis.iter().map(|v| v.vni).collect();
            let mut vrfs: Vec<ResolvedVrf> = Vec::with_capacity(e.vrfs.len());
            for vrf in &e.vrfs {
                validate::vrf(&e.engine, &vrfs, l2vnis.iter().copied(), vrf)
                    .map_err(|x| validate::within(x, &format!("vrf {}", vrf.name)))?;
                vrfs.push(ResolvedVrf::resolve(&e.engine, vrf));
            }
            let mut evis: Vec<ResolvedEvi> = Vec::with_capacity(e.evis.len());
            for evi in &e.evis {
                validate::evi(&e.engine, evis.iter().cloned(), evi)
                    .and_then(|()| validate::evi_layer3(&vrfs, &evis, evi))
                    .map_err(|x| validate::within(x, &format!("vni {}", evi.vni)))?;
                evis.push(ResolvedEvi::resolve(&e.engine, evi));
            }
            for vrf in &e.vrfs {
                let subnets: Vec<_> = evis
                    .iter()
                    .filter(|v| v.vrf == Some(vrf.name))
                    .flat_map(|v| v.gateways.iter().filter_map(|g| g.subnet()))
                    .collect();
                validate::vrf_routes(vrf, &subnets)
                    .map_err(|x| validate::within(x, &format!("vrf {}", vrf.name)))?;
            }
            for (i, a) in e.endpoints.iter().enumerate() {
                if !e.evis.iter().any(|v| v.vni == a.vni) {
                    return Err(CommandError::not_found(
                        "vni",
                        format!("endpoint {i}: VNI {} has no EVI", a.vni),
                    ));
                }
                validate::attachment(a)
                    .map_err(|x| validate::within(x, &format!("endpoint {i}")))?;
            }
        }
        Ok(())
    }
}
