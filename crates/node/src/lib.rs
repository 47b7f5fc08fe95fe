//! # evpnd-node: one EVPN router, sans-I/O
//!
//! A [`Node`] is a whole router: the BGP sessions of its neighbours (`evpnd_bgp::session`),
//! its RIB (`evpnd_bgp::rib`) and, on an NVE, its EVPN engine (`evpnd_evpn`). Every protocol
//! decision that ties them together lives here and nowhere else:
//!
//! * the RIB ⇄ engine exchange (best-path changes in, engine routes out) with the route
//!   attributes of locally originated routes (ORIGIN IGP, empty AS_PATH, RFC 4271 §5.1.1–5.1.2);
//! * graceful restart on the restarting side: R bit and deferred selection until every
//!   End-of-RIB or the select-defer time (RFC 4724 §4.1);
//! * ROUTE-REFRESH dispatch, plain and enhanced (RFC 2918, RFC 7313 §4);
//! * the prefix limit and its Cease NOTIFICATION (RFC 4486 §4);
//! * RT-Constraint memberships for the route targets we import (RFC 4684 §4), kept in step
//!   with the EVIs;
//! * dynamic neighbours: peer groups whose listen ranges accept sessions from addresses that are
//!   no configured neighbour, within a per-group limit, their slots freed when they end;
//! * validation of every command (a bad VNI, MAC, IP or neighbour is a typed [`CommandError`]).
//!
//! The shape is quinn-proto's `Endpoint`: the driver feeds inputs ([`Node::accept`],
//! [`Node::handle`], [`Node::handle_timeout`], [`Node::command`]) with the current time, then
//! drains outputs ([`Node::poll_output`]: connections to open, bytes to write, connections to
//! close; [`Node::poll_intent`]: data-plane deltas; [`Node::poll_event`]: what happened, for
//! logs and metrics) and arms one timer ([`Node::poll_timeout`]). The node never reads a clock,
//! opens a socket or spawns a thread. The `evpnd` daemon drives it with tokio; the fabric
//! simulator (crate `evpnd-sim`) drives hundreds of them over a virtual network and clock; the
//! whole-receive-path fuzzer drives one with arbitrary bytes.
//!
//! Queries ([`Node::neighbors`], [`Node::routes`], [`Node::vnis`], [`Node::macs`],
//! [`Node::flood`], [`Node::arp`]) answer in plain types; rendering them for gRPC or a CLI is the
//! driver's business.

#![forbid(unsafe_code)]

mod command;
mod config;
mod counters;
mod dataplane;
mod dynamic;
mod error;
mod event;
mod evpn;
mod explain;
mod intent_pages;
mod node;
mod pages;
mod peer;
mod pump;
mod query;
mod restart;
mod route_feed;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dynamic;
#[cfg(test)]
mod tests_l3;
mod transmit;
pub mod validate;

pub use command::{Command, EndpointSpec, Reply, ResetKind, VniSpec, VrfSpec};
pub use config::{
    EvpnConfig, NeighborConfig, NodeConfig, PeerGroupConfig, RemoteAsn, StaticRoute, Transport,
    DEFAULT_PEER_GROUP_LIMIT,
};
pub use counters::{RouteCountKey, SessionCounters};
pub use dynamic::PeerGroupView;
pub use error::{CommandError, ErrorKind};
pub use event::{DataplaneFeedback, NodeEvent};
pub use evpn::EvpnCounters;
pub use explain::{ExplainedRoute, IpExplain, MacExplain};
pub use intent_pages::HostIntentCursor;
pub use node::{Accepted, Input, Node, Output, Refused};
pub use pages::{EndpointView, Page, RouteCursor};
pub use peer::peer_address;
pub use query::{
    EvpnStatus, NeighborView, NotificationView, PathSource, PathView, RouteFilter, RouteView,
};
pub use route_feed::RouteChange;

pub use evpnd_bgp::session::ConnId;
pub use evpnd_bgp::PeerId;
