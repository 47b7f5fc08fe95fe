//! The whole receive path of one router (`evpnd_node::Node`: session FSM, RIB, EVPN engine and
//! data plane together) under arbitrary bytes from an established neighbour.
//!
//! An input is a [`Setup`] (the first [`SETUP_LEN`] bytes, one byte per field, see
//! [`Setup::from_bytes`]) followed by a stream of operations ([`Op`]): raw bytes from the peer
//! split where the fuzzer likes, time passing, UPDATEs from a small generator of valid EVPN,
//! RT-Constraint and unicast routes, the peer closing and reconnecting, and local MACs coming
//! and going. [`run`] builds the node, brings the session to Established with a valid OPEN and
//! KEEPALIVE (asserted), plays the operations and after each one drains every output and checks
//! the invariants ([`Harness::check`]):
//!
//! * every data-plane intent applies cleanly to a `MemoryDataplane`, and its tables equal
//!   `Node::expected_dataplane`;
//! * every remote MAC of the engine is backed by a best type-2 path of the Loc-RIB for that MAC
//!   and VNI whose next hop is that VTEP (unless frozen as a duplicate, RFC 7432 §15.1), and
//!   every remote flood entry by a best type-3 path;
//!   every imported best type-2 path from the peer has a MAC entry;
//! * while the session is not Established, the peer's paths are all stale (graceful restart,
//!   RFC 4724 §4.2) or gone;
//! * every message we send decodes, accepted, with the peer's codec context;
//! * the bytes received are framed and decoded alongside the session by a shadow decoder: a
//!   message the codec refuses (or an OPEN, or a NOTIFICATION) must end the connection, with a
//!   NOTIFICATION of ours unless the peer sent one (RFC 4271 §6); and a connection never ends
//!   on received bytes the shadow found nothing wrong with (except a prefix limit, RFC 4486);
//! * a session that goes down went down with its connection closed.
//!
//! The harness is split by concept: the [`Setup`] derived from the first bytes
//! (`setup.rs`); what the peer sends, its OPEN and the UPDATE generator (`peer.rs`); the
//! operations ([`Op`], `ops.rs`); the [`Harness`] that drives the node (`harness.rs`); the
//! invariants ([`Harness::check`], `invariants.rs`); the shadow decoder (`shadow.rs`); and
//! the seed corpus ([`seeds`], `corpus.rs`, with the replay of a crashing input).

mod corpus;
mod harness;
mod invariants;
mod ops;
mod peer;
mod setup;
mod shadow;

pub use corpus::seeds;
pub use harness::Harness;
pub use ops::{wait_duration, Op};
pub use peer::{keepalive, malformed_update};
pub use setup::Setup;

use arbitrary::Unstructured;
use evpnd_wire::{Family, MacAddress, Vni};
use std::net::Ipv4Addr;

/// Bytes of the [`Setup`] at the front of every input.
pub const SETUP_LEN: usize = 13;

/// The families of the bit masks of [`Setup::from_bytes`], bit 0 first.
pub const FAMILIES: [Family; 4] = [
    Family::L2VPN_EVPN,
    Family::RT_CONSTRAINT,
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
];

/// Our BGP identifier (and the router id of the auto-derived RDs).
pub const OUR_ID: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The neighbour's address and BGP identifier.
pub const PEER_ID: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Our VTEP.
pub const OUR_VTEP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The VNIs of the EVIs, in order (the generator also names 300, which has no EVI).
pub const VNIS: [u32; 2] = [100, 200];

/// MAC `n` of the small pool shared by local endpoints and generated routes.
pub fn pool_mac(n: u8) -> MacAddress {
    MacAddress([0x02, 0, 0, 0, 0, 1 + (n & 7)])
}

/// The VTEP the generator names with `n` (index 2 is our own).
pub fn pool_vtep(n: u8) -> Ipv4Addr {
    [
        Ipv4Addr::new(198, 19, 0, 2),
        Ipv4Addr::new(198, 19, 0, 3),
        OUR_VTEP,
        Ipv4Addr::new(198, 19, 0, 4),
    ][usize::from(n & 3)]
}

/// VNI `n` of the harness; only called with the constants of this module, all valid 24-bit
/// VNIs.
fn vni_of(n: u32) -> Vni {
    Vni::new(n).unwrap_or_else(|_| panic!("harness VNI {n}"))
}

/// Runs one input: setup, Established, then every operation.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let setup = Setup::take(&mut u);
    let mut h = Harness::new(setup);
    while let Some(op) = Op::take(&mut u) {
        h.step(op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_input_establishes_an_evpn_session() {
        run(&[]);
        let h = Harness::new(Setup::from_bytes(&[0; SETUP_LEN]));
        assert!(h.is_established());
        assert!(h.node().engine().is_none());
    }
}
