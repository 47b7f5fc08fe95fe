//! The peer-comparison benchmark (issue #3, item 9): the same scenario against several
//! devices under test (DUT) in network namespaces, measured the same way.
//!
//! Topology: a lab of two namespaces. The DUT runs in `dut` (198.18.0.1, AS 65000, route
//! reflector). Our raw speakers run in `tester`, each on its own address 198.18.0.10+i and in
//! the same AS, listening passively on port 179 so the DUT opens every session. Generators
//! are plain iBGP peers that announce pre-encoded UPDATEs; sinks are route-reflector clients
//! that count what the DUT reflects to them.
//!
//! Measurement: once every session is Established and the DUT has settled, the clock starts
//! as the generators begin writing; it stops when the last sink holds exactly the expected
//! routes (the instant its reader saw the count reach the target). Memory is the DUT process's
//! VmHWM (peak RSS) from /proc, sampled during the run, minus its VmRSS just before the load.
//!
//! The pieces: the scenarios (here), the devices under test (`dut`), running and measuring
//! a scenario (`run`), and the result table (`report`); the kernel data-plane scenario
//! (`kernel`, FDB entries installed per second, against the floor program) and its clock
//! (`fdb_watch`).

mod dut;
mod fdb_watch;
mod kernel;
mod kernel_type5;
mod report;
mod route_watch;
mod run;

pub use dut::{DutKind, EvpndDut, FrrDut, GobgpDut, Neighbor, RunningDut, Topology};
pub use fdb_watch::{FdbWatch, FillTimes};
pub use kernel::{
    create_vni_devices, floor, kernel_install, kernel_report, FrrKernelDut, KernelOptions,
    KernelResult,
};
pub use kernel_type5::{
    kernel_install_type5, parse_floor_report, route_floor, type5_report, BENCH_VRF, ROUTE_FLOOR,
    ROUTE_FLOOR_UNWATCHED,
};
pub use report::{report, BenchResult};
pub use route_watch::RouteWatch;
pub use run::{calibrate, calibrate_fanout, load_avg, run, BenchOptions};

/// The AS of the DUT and of every raw speaker (iBGP, the DUT reflects).
pub const BENCH_AS: u32 = 65000;
/// First host number of the raw speakers on the tester side (198.18.0.10).
const FIRST_SPEAKER: usize = 10;

/// One benchmark scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// (a) One generator sends `routes` routes; one sink must receive them all from the DUT.
    Ingest {
        /// Routes announced.
        routes: usize,
    },
    /// (b) One generator sends `routes` routes; the DUT reflects them to `clients` sinks.
    FanOut {
        /// Routes announced.
        routes: usize,
        /// Route-reflector clients receiving them.
        clients: usize,
    },
    /// (c) `peers` generators send `routes_per_peer` distinct routes each; one sink receives
    /// all of them.
    ManyPeers {
        /// Generator sessions.
        peers: usize,
        /// Routes per generator.
        routes_per_peer: usize,
    },
}

impl Scenario {
    /// Generator sessions.
    pub fn generators(&self) -> usize {
        match *self {
            Scenario::ManyPeers { peers, .. } => peers,
            _ => 1,
        }
    }

    /// Routes per generator.
    pub fn routes_per_generator(&self) -> usize {
        match *self {
            Scenario::Ingest { routes } | Scenario::FanOut { routes, .. } => routes,
            Scenario::ManyPeers {
                routes_per_peer, ..
            } => routes_per_peer,
        }
    }

    /// Sink sessions.
    pub fn sinks(&self) -> usize {
        match *self {
            Scenario::FanOut { clients, .. } => clients,
            _ => 1,
        }
    }

    /// Distinct routes the DUT must hold (and every sink must receive).
    pub fn total_routes(&self) -> usize {
        self.generators() * self.routes_per_generator()
    }

    /// A short label, e.g. "fanout 10000x10".
    pub fn label(&self) -> String {
        match *self {
            Scenario::Ingest { routes } => format!("(a) ingest {routes}"),
            Scenario::FanOut { routes, clients } => format!("(b) fan-out {routes}x{clients}"),
            Scenario::ManyPeers {
                peers,
                routes_per_peer,
            } => format!("(c) {peers} peers x {routes_per_peer}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn scenario_arithmetic() {
        let c = Scenario::ManyPeers {
            peers: 100,
            routes_per_peer: 10_000,
        };
        assert_eq!(
            (c.generators(), c.sinks(), c.total_routes()),
            (100, 1, 1_000_000)
        );
        let b = Scenario::FanOut {
            routes: 10,
            clients: 7,
        };
        assert_eq!((b.generators(), b.sinks(), b.total_routes()), (1, 7, 10));
    }
}
