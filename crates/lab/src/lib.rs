//! # evpnd-lab: a test lab of real BGP peers in network namespaces
//!
//! Integration tests and the peer-comparison benchmark (issue #3, item 9) share these pieces:
//!
//! * [`Netns`] and [`Lab`]: uniquely named network namespaces (`evl-PID-N`), veth links and a
//!   shared underlay segment in 198.18.0.0/24 with /32 loopbacks 198.19.0.N on `lo` (the
//!   kernel here has no `dummy` devices). Everything is deleted on drop.
//! * [`Frr`], [`Gobgp`], [`Exabgp`]: launchers for the Debian builds of FRR bgpd (with or
//!   without zebra), gobgpd and ExaBGP inside a namespace, each owning only its own processes.
//! * [`Capture`]: a packet capture on an interface of a namespace, plus [`tshark_errors`], the
//!   independent check that every captured BGP message decodes cleanly in Wireshark.
//! * [`Fabric`]: an EVPN-VXLAN fabric with a kernel data plane: an underlay switch, hosts
//!   (VTEPs), a route reflector and tenant namespaces behind host ports, with readers of the
//!   kernel's FDB and neighbour tables and tenant pings, moves and announcements; with
//!   [`fabric::l3`], tenant VRFs as namespaces per host, dual-stack routed tenants behind the
//!   anycast gateway, the layer-3 host configuration, a routed ping matrix and readers of a
//!   VRF's routes, links, neighbours and FDB (issue 11).
//! * [`speaker`]: a raw BGP speaker built on `evpnd_wire` (OPEN/KEEPALIVE handshake,
//!   keepalives, message framing), with two faces: [`Session`] (a route table fed by
//!   `decode_message`, or cheaper counts), the benchmark's load generator and sink, and
//!   [`RawPeer`], the conformance peer of evpnd's integration tests (every message as an
//!   [`Event`](speaker::Event), any bytes sent as they are).
//! * [`routes`]: distinct EVPN routes of types 2, 3 and 5, pre-encoded with `UpdatePacker`.
//! * [`bench`](mod@bench): the scenarios of the benchmark and the pluggable device-under-test kinds.
//! * [`scale`]: the session-scale harness (thousands of RT-Constraint route-reflector clients
//!   on loopback, each checking it receives exactly its VNIs' routes).
//!
//! Every wait is bounded ([`wait_until`]); tests call [`require_root_and_tools`] first, which
//! skips politely on a developer machine and fails loudly under CI.

pub mod bench;
pub mod capture;
pub mod env;
pub mod error;
pub mod exabgp;
pub mod fabric;
pub mod frr;
pub mod gobgp;
pub mod netns;
pub mod process;
pub mod routes;
pub mod scale;
pub mod speaker;
pub mod wait;

pub use capture::{tshark_errors, Capture};
pub use env::{is_root, report_skip, require_root_and_tools, tool_path};
pub use error::{LabError, Result};
pub use exabgp::Exabgp;
pub use fabric::{
    Fabric, FabricNode, FabricOptions, FdbEntry, FdbMonitor, NeighborEntry, PingOptions, PingStats,
    Tenant, TenantSpec, UnderlayFamily,
};
pub use frr::{Frr, FrrOptions, TempDir};
pub use gobgp::{EvpnMacAdv, EvpnMulticast, EvpnPrefix, Gobgp};
pub use netns::{cleanup_stale_namespaces, Host, Lab, Netns};
pub use process::{run_with_timeout, Daemon};
pub use speaker::{RawPeer, Session, SessionStats, SpeakerConfig, Tracking};
pub use wait::{wait_for, wait_until};

/// The underlay segment of a lab: host N has 198.18.0.N/24 (RFC 2544 benchmarking space, which
/// the project reserves for underlay, VTEP and next-hop addresses in tests).
pub const UNDERLAY_PREFIX: [u8; 3] = [198, 18, 0];
/// Loopbacks (VTEP addresses) of lab hosts: host N has 198.19.0.N/32.
pub const LOOPBACK_PREFIX: [u8; 3] = [198, 19, 0];
