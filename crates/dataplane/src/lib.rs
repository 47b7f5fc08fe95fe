//! # evpnd-dataplane: where the EVPN engine's intents go
//!
//! The engine (crate `evpnd-evpn`) emits [`DataplaneIntent`] *deltas*: each add is matched by
//! exactly one removal later, and a replacement (a MAC that moves) is an add over an existing
//! entry. A data plane therefore only applies changes; it never diffs tables.
//!
//! * [`Dataplane`] is the backend interface the daemon drives (the Linux netlink backend plugs
//!   in here).
//! * [`MemoryDataplane`] keeps the tables a kernel would hold (remote FDB, flood lists, proxy
//!   ARP/ND bindings) and applies deltas exactly, refusing inconsistent ones (a removal of an
//!   absent entry, a flood entry added twice). It is the one in-memory data plane: the daemon's
//!   `kind = "memory"`, the fabric simulator and every test use it.
//! * [`NoDataplane`] (`kind = "none"`) drops intents: a route reflector or pure control plane.

#![forbid(unsafe_code)]

mod memory;

pub use memory::{FdbEntry, Inconsistent, MemoryDataplane, NeighEntry};

pub use evpnd_evpn::DataplaneIntent;

/// A data plane backend: applies the engine's intents in the order they were emitted.
pub trait Dataplane: Send {
    /// Applies one delta. An error is a delta that does not fit the backend's state (the
    /// engine and the backend disagree); the backend stays usable.
    fn apply(&mut self, intent: &DataplaneIntent) -> Result<(), Inconsistent>;
    /// The in-memory tables, for backends that keep them (`None`: nothing to show).
    fn memory(&self) -> Option<&MemoryDataplane> {
        None
    }
    /// A short name for logs and the API ("none", "memory").
    fn kind(&self) -> &'static str;
}

/// `kind = "none"`: intents are dropped (the speaker is a pure control plane).
#[derive(Debug, Default)]
pub struct NoDataplane;

impl Dataplane for NoDataplane {
    fn apply(&mut self, _intent: &DataplaneIntent) -> Result<(), Inconsistent> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}
