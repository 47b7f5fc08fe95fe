//! What a simulated fabric is built from: its size and topology, the network's behaviour, the
//! protocol timers, and the addressing plan that turns a node index into the configuration of
//! a real [`NodeConfig`].
//!
//! Addressing (documentation and benchmarking ranges only):
//!
//! * NVE `i` (from 0) is host `n = i + 1`: BGP address `198.18.(n / 256).(n % 256)`, router id
//!   and VTEP `198.19.(n / 256).(n % 256)`. Up to [`MAX_NVES`] NVEs.
//! * Route reflector `j` (from 0): BGP address `198.18.255.(j + 1)`, router id and cluster id
//!   `198.19.255.(j + 1)`. Up to [`MAX_RRS`].
//! * Every router is in AS 65000 (iBGP). NVEs are clients of every route reflector; route
//!   reflectors are full-meshed among themselves as ordinary iBGP neighbours (so that NVEs
//!   that reach different reflectors still hear of each other). In the full-mesh topology every
//!   NVE peers with every other NVE and there is no reflector.

use evpnd_bgp::config::GracefulRestartConfig;
use evpnd_evpn::{auto_route_target, DuplicateDetection, EngineConfig, EviConfig};
use evpnd_node::{EvpnConfig, NeighborConfig, NodeConfig};
use evpnd_wire::{Family, Vni};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The AS of every simulated router.
pub const ASN: u32 = 65000;

/// Most NVEs the addressing plan has room for (hosts 1 to 65279 below `198.18.255.0`).
pub const MAX_NVES: usize = 255 * 256 - 1;

/// Most route reflectors the addressing plan has room for.
pub const MAX_RRS: usize = 254;

/// How the NVEs exchange routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// NVEs are clients of this many route reflectors (RFC 4456), which carry no EVPN engine.
    RouteReflectors(usize),
    /// Every NVE peers with every other NVE.
    FullMesh,
}

/// Everything a run is built from. [`SimConfig::new`] gives small timers so that every fault
/// resolves within seconds of virtual time.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of every random choice (link latencies, read splits, workloads).
    pub seed: u64,
    /// Number of NVEs.
    pub nves: usize,
    /// Route reflectors or full mesh.
    pub topology: Topology,
    /// The L2VNIs of the fabric (auto RD and route targets, RFC 7432 §7.9 / RFC 8365 §5.1.2).
    pub vnis: Vec<u32>,
    /// How many of `vnis` each NVE serves: NVE `i` serves `vnis_per_nve` consecutive entries
    /// of `vnis` starting at `i mod vnis.len()` (`None`: every NVE serves every VNI).
    pub vnis_per_nve: Option<usize>,
    /// One-way latency of each link, drawn once per pair of nodes from this range.
    pub latency: (Duration, Duration),
    /// Egress bandwidth of each node in bytes per second (`None`: writes take no time).
    pub egress_bandwidth: Option<u64>,
    /// How long a connection attempt to an unreachable address takes to fail.
    pub connect_timeout: Duration,
    /// Split some deliveries in two at a random byte (BGP framing must not care).
    pub split_reads: bool,
    /// Hold time proposed on every session (keepalives every third of it).
    pub hold_time: u16,
    /// First connect-retry interval.
    pub connect_retry: Duration,
    /// Longest connect-retry interval after repeated failures.
    pub connect_retry_max: Duration,
    /// Graceful restart on every session (RFC 4724), `None` to disable.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Longest a restarting node defers advertising while waiting for End-of-RIB.
    pub select_defer_time: Duration,
    /// Duplicate MAC/IP detection of every NVE (RFC 7432 §15.1).
    pub duplicate_detection: DuplicateDetection,
    /// Route reflectors peer with each other (as ordinary iBGP neighbours), so that NVEs that
    /// reach different reflectors during a partition still hear of each other. On by default,
    /// as in real fabrics. (`evpnd-bgp` once ranked a stale path below a fresh one before
    /// comparing ORIGINATOR_ID and CLUSTER_LIST, which made meshed reflectors trade a
    /// gracefully restarting client's routes back and forth forever; the test
    /// `meshed_reflectors_with_a_restarting_client` in tests/fabric.rs keeps that fixed.)
    pub reflector_mesh: bool,
    /// Negotiate RT-Constraint (RFC 4684) on every session: each NVE receives only the routes
    /// of the VNIs it serves.
    pub rt_constraint: bool,
    /// Route reflectors originate an RT-Constraint membership for the route target of every
    /// VNI of [`SimConfig::vnis`] (`import_route_targets`), and so receive every route. Off by
    /// default: reflectors import nothing, and each NVE sends them only the routes some other
    /// router imports (RFC 4684 §3.2 reflection of memberships, in `evpnd-bgp`; the test
    /// `rt_constraint_through_route_reflectors` in tests/fabric.rs covers it).
    pub reflectors_import_all: bool,
    /// Keep every node's events ([`crate::Sim::events`]); off for big runs.
    pub keep_events: bool,
    /// Keep every trace record ([`crate::Sim::trace_records`]); off for big runs.
    pub keep_trace: bool,
}

impl SimConfig {
    /// `nves` NVEs in `topology`, one VNI (100), links of 1 to 5 ms, hold time 9 s,
    /// connect-retry 1 s backing off to 4 s, graceful restart (restart time 30 s, stale
    /// routes kept at most 60 s), select-defer time 30 s, default duplicate detection,
    /// RT-Constraint on with reflectors that import nothing, reflectors meshed, unlimited
    /// bandwidth, reads split at random.
    pub fn new(seed: u64, nves: usize, topology: Topology) -> Self {
        SimConfig {
            seed,
            nves,
            topology,
            vnis: vec![100],
            vnis_per_nve: None,
            latency: (Duration::from_millis(1), Duration::from_millis(5)),
            egress_bandwidth: None,
            connect_timeout: Duration::from_secs(3),
            split_reads: true,
            hold_time: 9,
            connect_retry: Duration::from_secs(1),
            connect_retry_max: Duration::from_secs(4),
            graceful_restart: Some(GracefulRestartConfig {
                restart_time: 30,
                stale_routes_time: Duration::from_secs(60),
            }),
            select_defer_time: Duration::from_secs(30),
            duplicate_detection: DuplicateDetection::default(),
            rt_constraint: true,
            reflectors_import_all: false,
            reflector_mesh: true,
            keep_events: false,
            keep_trace: false,
        }
    }

    /// Number of route reflectors.
    pub fn rrs(&self) -> usize {
        match self.topology {
            Topology::RouteReflectors(n) => n,
            Topology::FullMesh => 0,
        }
    }

    /// Number of nodes (NVEs, then route reflectors).
    pub fn nodes(&self) -> usize {
        self.nves + self.rrs()
    }

    /// The VNIs NVE `i` serves at start.
    pub fn vnis_of(&self, i: usize) -> Vec<u32> {
        match self.vnis_per_nve {
            None => self.vnis.clone(),
            // `k.min(n)` is 0 when there is no VNI: no division by zero.
            Some(k) => {
                let n = self.vnis.len();
                (0..k.min(n)).map(|o| self.vnis[(i + o) % n]).collect()
            }
        }
    }

    /// Checks what the addressing plan and the node configuration cannot take.
    pub fn validate(&self) -> Result<(), String> {
        if self.nves > MAX_NVES {
            return Err(format!("at most {MAX_NVES} NVEs, not {}", self.nves));
        }
        if self.rrs() > MAX_RRS {
            return Err(format!("at most {MAX_RRS} route reflectors"));
        }
        if self.latency.0 > self.latency.1 {
            return Err("latency range is empty".into());
        }
        if self.egress_bandwidth == Some(0) {
            return Err("egress bandwidth 0 would never write".into());
        }
        for v in &self.vnis {
            Vni::new(*v).map_err(|e| format!("vni {v}: {e}"))?;
        }
        Ok(())
    }
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// NVE number `i` (an EVPN engine and a data plane).
    Nve(usize),
    /// Route reflector number `j` (no engine).
    RouteReflector(usize),
}

fn host(prefix: [u8; 2], n: usize) -> Ipv4Addr {
    Ipv4Addr::new(prefix[0], prefix[1], (n >> 8) as u8, (n & 0xff) as u8)
}

/// The BGP address of a node.
pub fn bgp_address(role: Role) -> IpAddr {
    IpAddr::V4(match role {
        Role::Nve(i) => host([198, 18], i + 1),
        Role::RouteReflector(j) => host([198, 18], 255 * 256 + j + 1),
    })
}

/// The router id of a node (the VTEP of an NVE).
pub fn router_id(role: Role) -> Ipv4Addr {
    match role {
        Role::Nve(i) => host([198, 19], i + 1),
        Role::RouteReflector(j) => host([198, 19], 255 * 256 + j + 1),
    }
}

/// The VTEP of NVE `i`.
pub fn vtep(i: usize) -> IpAddr {
    IpAddr::V4(router_id(Role::Nve(i)))
}

/// The neighbour `peer` as `role` configures it, with the run's timers and families.
fn neighbor(config: &SimConfig, role: Role, peer: Role) -> NeighborConfig {
    let mut n = NeighborConfig::new(bgp_address(peer), ASN, ASN, router_id(role));
    n.peer.hold_time = config.hold_time;
    n.peer.connect_retry = config.connect_retry;
    n.peer.connect_retry_max = config.connect_retry_max;
    n.peer.graceful_restart = config.graceful_restart;
    if config.rt_constraint {
        n.peer.families = vec![Family::L2VPN_EVPN, Family::RT_CONSTRAINT];
    }
    n.peer.route_reflector_client =
        matches!(role, Role::RouteReflector(_)) && matches!(peer, Role::Nve(_));
    n.transport.local_address = Some(bgp_address(role));
    n
}

/// The configuration of a node at its first start (`restarting` false).
pub fn node_config(config: &SimConfig, role: Role) -> Result<NodeConfig, String> {
    let rid = router_id(role);
    let mut c = NodeConfig::new(ASN, rid);
    c.select_defer_time = config.select_defer_time;
    let rrs = config.rrs();
    match role {
        Role::Nve(i) => {
            let peers: Vec<Role> = match config.topology {
                Topology::RouteReflectors(n) => (0..n).map(Role::RouteReflector).collect(),
                Topology::FullMesh => (0..config.nves)
                    .filter(|j| *j != i)
                    .map(Role::Nve)
                    .collect(),
            };
            c.neighbors = peers.iter().map(|p| neighbor(config, role, *p)).collect();
            let mut engine = EngineConfig::new(ASN, rid, vtep(i));
            engine.duplicate_detection = config.duplicate_detection;
            let mut evis = Vec::new();
            for v in config.vnis_of(i) {
                let vni = Vni::new(v).map_err(|e| format!("vni {v}: {e}"))?;
                evis.push(EviConfig::new(vni));
            }
            c.evpn = Some(EvpnConfig {
                engine,
                vrfs: Vec::new(),
                evis,
                endpoints: Vec::new(),
            });
        }
        Role::RouteReflector(j) => {
            let others = if config.reflector_mesh { rrs } else { 0 };
            let peers = (0..config.nves)
                .map(Role::Nve)
                .chain((0..others).filter(|k| *k != j).map(Role::RouteReflector));
            c.neighbors = peers.map(|p| neighbor(config, role, p)).collect();
            if config.rt_constraint && config.reflectors_import_all {
                for v in &config.vnis {
                    let vni = Vni::new(*v).map_err(|e| format!("vni {v}: {e}"))?;
                    c.import_route_targets.push(auto_route_target(ASN, vni));
                }
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_addressing_plan_keeps_nves_and_reflectors_apart() {
        assert_eq!(bgp_address(Role::Nve(0)).to_string(), "198.18.0.1");
        assert_eq!(bgp_address(Role::Nve(255)).to_string(), "198.18.1.0");
        assert_eq!(vtep(999).to_string(), "198.19.3.232");
        assert_eq!(
            bgp_address(Role::Nve(MAX_NVES - 1)).to_string(),
            "198.18.254.255"
        );
        assert_eq!(
            bgp_address(Role::RouteReflector(0)).to_string(),
            "198.18.255.1"
        );
        assert_eq!(
            router_id(Role::RouteReflector(1)).to_string(),
            "198.19.255.2"
        );
    }

    #[test]
    fn configurations_are_valid_nodes() {
        let mut c = SimConfig::new(1, 3, Topology::RouteReflectors(2));
        c.reflector_mesh = true;
        c.vnis = vec![100, 200, 300];
        c.vnis_per_nve = Some(2);
        assert_eq!(c.vnis_of(0), vec![100, 200]);
        assert_eq!(c.vnis_of(2), vec![300, 100]);
        let nve = node_config(&c, Role::Nve(1)).unwrap();
        nve.validate().unwrap();
        assert_eq!(nve.neighbors.len(), 2);
        assert!(!nve.neighbors[0].peer.route_reflector_client);
        let rr = node_config(&c, Role::RouteReflector(0)).unwrap();
        rr.validate().unwrap();
        assert!(rr.evpn.is_none());
        assert_eq!(rr.neighbors.len(), 4);
        assert!(rr.neighbors[0].peer.route_reflector_client);
        assert!(!rr.neighbors[3].peer.route_reflector_client);
        let mesh = SimConfig::new(1, 4, Topology::FullMesh);
        assert_eq!(node_config(&mesh, Role::Nve(0)).unwrap().neighbors.len(), 3);
        assert!(SimConfig::new(1, MAX_NVES + 1, Topology::FullMesh)
            .validate()
            .is_err());
    }
}
