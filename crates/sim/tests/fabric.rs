//! Whole fabrics under faults: a hundred NVEs behind two route reflectors (and a full mesh)
//! converge to exactly what the orchestrator attached after churn with faults, a partition
//! heals with no stale entry, a reflector crash and restart loses no endpoint, and the same
//! seed gives the same run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evpnd_dataplane::FdbEntry;
use evpnd_sim::{Chaos, Fault, Sim, SimConfig, Topology, Workload};
use evpnd_wire::{MacAddress, Vni};
use std::collections::BTreeMap;
use std::time::Duration;

const NVES: usize = 100;

/// A hundred NVEs behind two route reflectors, four VNIs (each NVE serves two), five
/// endpoints per NVE, converged. Duplicate detection is off: the churn moves MACs far more
/// often than it allows.
fn hundred(seed: u64) -> (Sim, Workload) {
    let mut c = SimConfig::new(seed, NVES, Topology::RouteReflectors(2));
    c.vnis = vec![100, 200, 300, 400];
    c.vnis_per_nve = Some(2);
    c.duplicate_detection.enabled = false;
    let mut sim = Sim::new(c).unwrap();
    let mut w = Workload::new(seed);
    w.populate(&mut sim, 5).unwrap();
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
    assert_eq!(sim.endpoints().len(), NVES * 5);
    (sim, w)
}

/// Converges, then stays converged: a minute later (keepalives, stale timers, freezes
/// expiring) the exact check still holds.
fn converges_and_stays(sim: &mut Sim, limit: Duration) {
    sim.run_until_converged(limit).unwrap();
    sim.run_for(Duration::from_secs(60));
    sim.check().unwrap();
}

type Fdbs = Vec<BTreeMap<(Vni, MacAddress), FdbEntry>>;

fn fdbs(sim: &Sim) -> Fdbs {
    (0..sim.nve_count())
        .map(|i| sim.dataplane(i).fdb.clone())
        .collect()
}

/// `ops` random moves, attaches and detaches, each followed by `gap`.
fn churn(sim: &mut Sim, w: &mut Workload, ops: usize, gap: Duration) {
    for _ in 0..ops {
        if let Some(op) = w.next_op(sim, false) {
            Workload::apply(sim, &op).unwrap();
        }
        sim.run_for(gap);
    }
}

#[test]
fn a_hundred_nves_behind_two_reflectors_converge_after_churn_with_faults() {
    let (mut sim, mut w) = hundred(1);
    let chaos = Chaos {
        rounds: 12,
        ops_per_round: 10,
        ..Chaos::default()
    };
    w.chaos(&mut sim, &chaos).unwrap();
    converges_and_stays(&mut sim, Duration::from_secs(120));
    assert!(
        sim.stats().connects > 2 * 2 * NVES as u64,
        "faults broke sessions"
    );
}

#[test]
fn a_full_mesh_converges_after_churn_with_faults() {
    let mut c = SimConfig::new(2, 24, Topology::FullMesh);
    c.vnis = vec![100, 200];
    c.duplicate_detection.enabled = false;
    let mut sim = Sim::new(c).unwrap();
    let mut w = Workload::new(2);
    w.populate(&mut sim, 4).unwrap();
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
    let chaos = Chaos {
        rounds: 8,
        ops_per_round: 8,
        ..Chaos::default()
    };
    w.chaos(&mut sim, &chaos).unwrap();
    converges_and_stays(&mut sim, Duration::from_secs(120));
}

#[test]
fn a_partition_heals_with_no_stale_entry() {
    let (mut sim, mut w) = hundred(3);
    let (rr0, rr1) = (sim.rr(0), sim.rr(1));
    // Split brain: a third of the NVEs with one reflector, the rest with the other. Both
    // sides keep working (attach, detach, move within and across the cut) while the sessions
    // across it die by hold timer.
    let mut side: Vec<usize> = (0..NVES / 3).collect();
    side.push(rr1);
    sim.partition(&[side]);
    churn(&mut sim, &mut w, 40, Duration::from_millis(500));
    sim.run_for(Duration::from_secs(10));
    assert!(
        sim.check().is_err(),
        "the sides disagree during the partition"
    );
    sim.heal();
    converges_and_stays(&mut sim, Duration::from_secs(60));
    // Isolation: ten NVEs lose both reflectors; the rest drop their routes (no graceful
    // restart after a hold timer expiry), the ten keep changing their endpoints.
    let isolated: Vec<usize> = (NVES - 10..NVES).collect();
    sim.partition(std::slice::from_ref(&isolated));
    sim.run_for(Duration::from_secs(12));
    for (k, i) in isolated.iter().enumerate() {
        let vnis = sim.served_vnis(*i);
        let v = vnis[k % vnis.len()];
        let mac = w.fresh_mac();
        sim.attach_mac(*i, v, mac, None).unwrap();
    }
    churn(&mut sim, &mut w, 30, Duration::from_millis(300));
    sim.heal();
    converges_and_stays(&mut sim, Duration::from_secs(60));
    // Both reflectors on one side, the NVEs on the other: nothing reaches anyone.
    sim.partition(&[vec![rr0, rr1]]);
    churn(&mut sim, &mut w, 20, Duration::from_millis(500));
    sim.run_for(Duration::from_secs(10));
    sim.heal();
    converges_and_stays(&mut sim, Duration::from_secs(60));
}

#[test]
fn a_reflector_crash_and_restart_loses_no_endpoint() {
    let (mut sim, mut w) = hundred(4);
    let (rr0, rr1) = (sim.rr(0), sim.rr(1));
    let before = fdbs(&sim);
    // One reflector down: the other carries everything; graceful restart keeps the down
    // one's routes meanwhile. No NVE's forwarding table changes, not even for a moment.
    sim.crash(rr0);
    for _ in 0..50 {
        sim.run_for(Duration::from_millis(100));
        assert_eq!(
            fdbs(&sim),
            before,
            "an NVE's FDB changed at {:?}",
            sim.now()
        );
    }
    sim.restart(rr0).unwrap();
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
    assert_eq!(fdbs(&sim), before);
    // Both reflectors down at once: every NVE keeps forwarding on the stale routes until the
    // reflectors are back (within the 30 s restart time).
    sim.crash(rr0);
    sim.crash(rr1);
    for _ in 0..20 {
        sim.run_for(Duration::from_millis(500));
        assert_eq!(
            fdbs(&sim),
            before,
            "an NVE's FDB changed at {:?}",
            sim.now()
        );
    }
    sim.restart(rr0).unwrap();
    sim.restart(rr1).unwrap();
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
    assert_eq!(fdbs(&sim), before);
    // The endpoints keep moving while a reflector is down; the fabric converges through the
    // other one, then again once it is back.
    sim.crash(rr1);
    churn(&mut sim, &mut w, 30, Duration::from_millis(200));
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
    sim.restart(rr1).unwrap();
    converges_and_stays(&mut sim, Duration::from_secs(60));
}

/// A faulty run of a small fabric, returning its trace hash, trace length and counters.
fn faulty_run(seed: u64, topology: Topology) -> (u64, u64, evpnd_sim::Stats) {
    let mut c = SimConfig::new(seed, 16, topology);
    c.vnis = vec![100, 200];
    c.duplicate_detection.enabled = false;
    let mut sim = Sim::new(c).unwrap();
    let mut w = Workload::new(seed);
    w.populate(&mut sim, 3).unwrap();
    let chaos = Chaos {
        rounds: 6,
        ops_per_round: 6,
        hot_moves: true,
        converge_between: None,
        ..Chaos::default()
    };
    w.chaos(&mut sim, &chaos).unwrap();
    sim.run_for(Duration::from_secs(60));
    (sim.trace_hash(), sim.trace_len(), sim.stats())
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for topology in [Topology::RouteReflectors(2), Topology::FullMesh] {
        let a = faulty_run(7, topology);
        let b = faulty_run(7, topology);
        assert_eq!(a, b, "{topology:?}: two runs of seed 7 differ");
        assert!(a.1 > 10_000, "a busy run: {} records", a.1);
        let c = faulty_run(8, topology);
        assert_ne!(a.0, c.0, "{topology:?}: seeds 7 and 8 ran alike");
    }
}

#[test]
fn the_crashed_nodes_state_is_gone_and_comes_back_from_the_fabric() {
    let mut c = SimConfig::new(5, 4, Topology::RouteReflectors(2));
    c.keep_events = true;
    let mut sim = Sim::new(c).unwrap();
    let mut w = Workload::new(5);
    w.populate(&mut sim, 2).unwrap();
    sim.run_until_converged(Duration::from_secs(30)).unwrap();
    sim.crash(1);
    assert!(sim.node(1).is_none());
    assert!(sim.attach_mac(1, 100, w.fresh_mac(), None).is_err());
    assert!(sim.check().unwrap_err().contains("NVE 1 is not running"));
    sim.run_for(Duration::from_secs(5));
    sim.restart(1).unwrap();
    // The restart defers advertising until both reflectors sent End-of-RIB (RFC 4724 §4.1).
    let deferred = sim
        .events(1)
        .iter()
        .any(|(_, e)| matches!(e, evpnd_node::NodeEvent::DeferralStarted { .. }));
    assert!(deferred);
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
    assert!(sim
        .events(1)
        .iter()
        .any(|(_, e)| matches!(e, evpnd_node::NodeEvent::DeferralEnded { timed_out: false })));
    // The restarted node's data plane was rebuilt from scratch, without a refused delta.
    assert!(sim.refused(1).is_empty());
    assert!(!sim.dataplane(1).fdb.is_empty());
}

/// An endpoint attached while another NVE's claim on the MAC lingers (its withdrawal lost in a
/// partition, its route alive at a reflector until the hold timer) loses to that claim and
/// withdraws its route (RFC 7432 §15), but stays attached as a dormant claim: once the
/// lingering route expires it is advertised again above every sequence number seen, and the
/// fabric converges on it. (Once a finding: the engine used to forget the losing claim, and
/// the MAC was gone from the whole fabric although the orchestrator never detached it.)
#[test]
fn an_endpoint_attached_while_a_partitioned_owner_lingers_is_kept() {
    let c = SimConfig::new(6, 3, Topology::RouteReflectors(2));
    let mut sim = Sim::new(c).unwrap();
    sim.run_until_converged(Duration::from_secs(30)).unwrap();
    let m = MacAddress([2, 0, 0, 0, 0, 0x42]);
    sim.attach_mac(0, 100, m, None).unwrap();
    sim.run_until_converged(Duration::from_secs(30)).unwrap();
    // NVE 1 loses its sessions, then NVE 0 is cut off just as NVE 1 comes back.
    sim.partition(&[vec![1]]);
    sim.run_for(Duration::from_secs(12));
    sim.heal();
    sim.partition(&[vec![0]]);
    // The VM moves from NVE 0 to NVE 1: NVE 0's withdrawal is lost, NVE 1 knows no route of
    // the MAC yet and advertises sequence 0, ties with NVE 0's lingering route and loses to
    // the lower VTEP.
    sim.detach(0, 100, m, None).unwrap();
    sim.attach_mac(1, 100, m, None).unwrap();
    sim.run_for(Duration::from_secs(15));
    sim.heal();
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
}

/// Was a finding: with RT-Constraint behind route reflectors, the client whose membership
/// route was the reflector's best path never received a membership for its route target (the
/// reflector does not send a route back to the peer it came from), so it withheld its EVPN
/// routes from the reflectors. Fixed in `evpnd-bgp` by RFC 4684 §3.2: each internal peer is
/// offered the best membership path that does not come from it. Reflectors import nothing
/// here (the default), so every route an NVE gets passed through that mechanism.
#[test]
fn rt_constraint_through_route_reflectors() {
    let mut c = SimConfig::new(1, 4, Topology::RouteReflectors(2));
    c.reflectors_import_all = false;
    let mut sim = Sim::new(c).unwrap();
    let mut w = Workload::new(1);
    w.populate(&mut sim, 3).unwrap();
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
}

/// Was a finding: two meshed reflectors and a client that restarts gracefully. Each reflector
/// ranked the client's stale path below the fresh copy the other reflector sent (the stale
/// tie-break came before ORIGINATOR_ID and CLUSTER_LIST), so it withdrew its own copy from the
/// other, which then fell back to its stale path and advertised it again: the routes went back
/// and forth for as long as they were stale. Fixed in `evpnd-bgp` (best_path.rs: staleness
/// ranks after CLUSTER_LIST).
#[test]
fn meshed_reflectors_with_a_restarting_client() {
    let mut c = SimConfig::new(1, 4, Topology::RouteReflectors(2));
    c.reflector_mesh = true;
    let mut sim = Sim::new(c).unwrap();
    let mut w = Workload::new(1);
    w.populate(&mut sim, 3).unwrap();
    sim.run_until_converged(Duration::from_secs(60)).unwrap();
    let before = sim.stats().sends;
    sim.inject(Fault::Crash(0)).unwrap();
    sim.run_for(Duration::from_secs(5));
    // Keepalives for 5 s: a few dozen writes. The oscillation made hundreds of thousands.
    let sends = sim.stats().sends - before;
    assert!(sends < 1_000, "{sends} writes in 5 s");
}
