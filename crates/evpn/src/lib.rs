//! # evpnd-evpn: the EVPN NVE engine of evpnd (sans-I/O)
//!
//! The engine turns local endpoints into EVPN routes and imported EVPN best paths into
//! data-plane deltas, for VLAN-based service over VXLAN (RFC 7432, RFC 8365):
//!
//! * **EVIs / MAC-VRFs**, one per L2VNI ([`EviConfig`]), with the RD and route targets
//!   auto-derived ([`config`] explains the rules) or given explicitly, wildcard import `*:VNI`.
//! * **Origination**: one type-3 (Inclusive Multicast Ethernet Tag) route per EVI with a PMSI
//!   tunnel of type ingress replication, tunnel id = local VTEP, label = VNI (RFC 8365 §9); one
//!   type-2 route per local MAC and per local MAC+IP (label 1 = VNI, RFC 8365 §5.1.3). Every
//!   route carries the export route targets and the BGP encapsulation community VXLAN
//!   (RFC 8365 §5.1.3); sticky MACs carry the MAC mobility community with the sticky bit.
//! * **Import**: type-2 → MAC table and IP↔MAC (proxy ARP/ND) table, type-3 → per-VNI flood
//!   list, emitted as [`DataplaneIntent`] deltas.
//! * **Layer 3** (tenant VRFs): the distributed anycast gateway (RFC 9135 §4.1), symmetric IRB
//!   (MAC+IP routes with label 2 = L3VNI and the Router's MAC, host routes on import: RFC 9135
//!   §5.1–5.2, §8.1), asymmetric IRB (RFC 9135 §6: the ARP/ND entries of bridging), IP prefix
//!   routes in the interface-less model with GW-IP overlay-index recursion (RFC 9136 §3.2,
//!   §4.4.1), ECMP across VTEPs; see the `engine` module notes.
//! * **MAC mobility, sticky MACs, duplicate detection** (RFC 7432 §15, RFC 9161): see the
//!   `engine` module notes for the rules and the data structures that keep them O(1) per route.
//!
//! Nothing here reads a clock or does I/O: time comes in as `now: Instant`, outputs are
//! drained with [`Engine::poll_route`], [`Engine::poll_intent`] and [`Engine::poll_event`];
//! freezes expire through [`Engine::poll_timeout`] / [`Engine::handle_timeout`].

#![forbid(unsafe_code)]

pub mod config;
mod engine;
#[cfg(test)]
mod tests;
pub mod types;

pub use config::{
    auto_rd, auto_route_target, auto_router_mac, rfc8365_route_target, DuplicateDetection,
    EngineConfig, EviConfig, Freeze, GatewayAddress, ImportTarget, IrbMode, ResolvedEvi,
    ResolvedVrf, RtDerivation, VrfConfig, VrfStaticRoute, DEFAULT_ANYCAST_GATEWAY_MAC,
};
pub use engine::{
    BindingView, ClaimView, Decision, Engine, ImportVerdict, IpExplanation, MacExplanation,
    OverlayResolution, RouteContribution, RouteExplanation,
};
pub use types::{
    is_host_address, Attachment, DataplaneIntent, DuplicateState, EngineError, EngineEvent,
    Location, MacEntry, MacOrigin, NeighborEntry, PortName, RouteChange, Subject, VniSummary,
    VrfName, VrfRoute, VrfRouteOrigin, VrfRoutePath, VrfSummary,
};
