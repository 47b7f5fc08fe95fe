//! Seeded workloads: endpoints attached, detached and moved by an orchestrator, and faults
//! (connection resets, partitions, crashes) with their repair, all drawn from one
//! [`ChaCha8Rng`] so that a seed names a whole run.
//!
//! A *move* is what an orchestrator does when a VM migrates: detach from the old NVE, attach
//! on the new one. Its outcome does not depend on timing (the old claim is gone), so the exact
//! check ([`Sim::check`]) holds after any number of them, under any fault. A *hot move*
//! attaches on the new NVE while the old one still holds the MAC (the old NVE withdraws when
//! it hears of the higher sequence number, RFC 7432 §15); made before the new NVE heard of the
//! old claim it is a simultaneous learn decided by the lower VTEP, so workloads with hot moves
//! are checked with [`Sim::check_agreement`].

use crate::sim::{Fault, Sim};
use evpnd_node::EndpointSpec;
use evpnd_wire::MacAddress;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The tenant ranges IPs are drawn from, in order (TEST-NET-1, -2, -3: RFC 5737).
const TENANT_NETS: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];

/// Host addresses per VNI the tenant ranges offer (.1 to .254 of each).
pub const IPS_PER_VNI: u32 = 3 * 254;

/// One orchestrator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Attach a new endpoint.
    Attach {
        /// The NVE.
        nve: usize,
        /// The endpoint.
        spec: EndpointSpec,
    },
    /// Detach an endpoint (the MAC with its IPs).
    Detach {
        /// The NVE.
        nve: usize,
        /// The VNI.
        vni: u32,
        /// The MAC.
        mac: MacAddress,
    },
    /// Detach from `from`, then attach on `to` (a VM migration).
    Move {
        /// The old NVE.
        from: usize,
        /// The new NVE.
        to: usize,
        /// The endpoint as attached on `to`.
        spec: EndpointSpec,
    },
    /// Attach on `to` while the MAC is still attached elsewhere.
    HotMove {
        /// The new NVE.
        to: usize,
        /// The endpoint as attached on `to`.
        spec: EndpointSpec,
    },
}

/// How a random run is shaped ([`Workload::chaos`]).
#[derive(Clone, Debug)]
pub struct Chaos {
    /// Faults injected one after the other.
    pub rounds: usize,
    /// Orchestrator actions during each fault.
    pub ops_per_round: usize,
    /// Time between two actions, drawn from this range.
    pub op_gap: (Duration, Duration),
    /// How long a fault lasts before it is repaired, drawn from this range.
    pub fault_duration: (Duration, Duration),
    /// Make hot moves too (then only [`Sim::check_agreement`] holds).
    pub hot_moves: bool,
    /// Crash route reflectors as well as NVEs.
    pub crash_reflectors: bool,
    /// After each repair, run until the exact check passes (at most this long) before the
    /// next fault; `None` (the default) lets faults follow each other on a fabric still
    /// recovering.
    ///
    /// Overlapping faults once lost endpoints for good: after a silent partition a reflector
    /// keeps the old owner's route until its hold timer expires, and a new owner that attached
    /// the MAC meanwhile without hearing of the move lost to that route and forgot its claim.
    /// The engine now keeps such a claim dormant and advertises it again once the old route
    /// is gone (RFC 7432 §15), so the exact check holds after overlapping faults too; waiting
    /// between faults remains available to isolate one fault's recovery.
    pub converge_between: Option<Duration>,
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos {
            rounds: 6,
            ops_per_round: 10,
            op_gap: (Duration::from_millis(0), Duration::from_millis(800)),
            fault_duration: (Duration::from_secs(2), Duration::from_secs(15)),
            hot_moves: false,
            crash_reflectors: true,
            converge_between: None,
        }
    }
}

/// A seeded source of endpoints, actions and faults.
#[derive(Debug)]
pub struct Workload {
    rng: ChaCha8Rng,
    next_mac: u32,
    next_ip: BTreeMap<u32, u32>,
    /// Probability that a new endpoint has an IP (while its VNI has IPs left).
    pub ip_ratio: f64,
}

impl Workload {
    /// A workload from `seed` (its own stream: the network's draws do not shift it).
    pub fn new(seed: u64) -> Self {
        Workload {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0057_0a4c_10ad_5eed),
            next_mac: 0,
            next_ip: BTreeMap::new(),
            ip_ratio: 0.5,
        }
    }

    /// A MAC never handed out before: locally administered `02:00:..`.
    pub fn fresh_mac(&mut self) -> MacAddress {
        self.next_mac += 1;
        let n = self.next_mac.to_be_bytes();
        MacAddress([0x02, 0x00, n[0], n[1], n[2], n[3]])
    }

    /// An IP of `vni` never handed out before, while the tenant ranges last.
    pub fn fresh_ip(&mut self, vni: u32) -> Option<IpAddr> {
        let k = self.next_ip.entry(vni).or_insert(0);
        if *k >= IPS_PER_VNI {
            return None;
        }
        let (net, host) = ((*k / 254) as usize, (*k % 254) as u8 + 1);
        *k += 1;
        let [a, b, c] = TENANT_NETS[net];
        Some(IpAddr::V4(Ipv4Addr::new(a, b, c, host)))
    }

    fn new_endpoint(&mut self, vni: u32) -> EndpointSpec {
        let mac = self.fresh_mac();
        let ip = if self.rng.random_bool(self.ip_ratio) {
            self.fresh_ip(vni)
        } else {
            None
        };
        EndpointSpec::new(vni, mac, ip)
    }

    /// Attaches `per_nve` new endpoints on every running NVE, spread over its VNIs.
    pub fn populate(&mut self, sim: &mut Sim, per_nve: usize) -> Result<(), String> {
        for i in 0..sim.nve_count() {
            let vnis = sim.served_vnis(i);
            if vnis.is_empty() {
                continue;
            }
            for k in 0..per_nve {
                let spec = self.new_endpoint(vnis[k % vnis.len()]);
                sim.attach(i, spec)
                    .map_err(|e| format!("NVE {i}: attach {spec:?}: {e}"))?;
            }
        }
        Ok(())
    }

    /// A random index below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// A random duration in `range`.
    pub fn duration(&mut self, range: (Duration, Duration)) -> Duration {
        let (lo, hi) = (range.0.as_nanos() as u64, range.1.as_nanos() as u64);
        Duration::from_nanos(self.rng.random_range(lo..=hi.max(lo)))
    }

    /// The next action, on running NVEs only (an orchestrator cannot reach a crashed one, and
    /// leaves the endpoints of a crashed NVE alone until it is back). `None` when there is
    /// nothing to act on.
    pub fn next_op(&mut self, sim: &Sim, hot_moves: bool) -> Option<Op> {
        let alive: Vec<usize> = (0..sim.nve_count()).filter(|i| sim.is_alive(*i)).collect();
        if alive.is_empty() {
            return None;
        }
        let owned: Vec<(u32, MacAddress, usize, Option<IpAddr>)> = sim
            .endpoints()
            .owners()
            .filter(|(_, c)| sim.is_alive(c.nve))
            .map(|((v, m), c)| (v, m, c.nve, c.ips.iter().next().copied()))
            .collect();
        let roll = self.rng.random_range(0..100u32);
        if owned.is_empty() || roll < 35 {
            let nve = alive[self.below(alive.len())];
            let vnis = sim.served_vnis(nve);
            if vnis.is_empty() {
                return None;
            }
            let vni = vnis[self.below(vnis.len())];
            let spec = self.new_endpoint(vni);
            return Some(Op::Attach { nve, spec });
        }
        let (vni, mac, owner, ip) = owned[self.below(owned.len())];
        if roll < 60 {
            return Some(Op::Detach {
                nve: owner,
                vni,
                mac,
            });
        }
        let targets: Vec<usize> = alive
            .iter()
            .copied()
            .filter(|j| *j != owner && sim.served_vnis(*j).contains(&vni))
            .collect();
        if targets.is_empty() {
            return None;
        }
        let to = targets[self.below(targets.len())];
        let spec = EndpointSpec::new(vni, mac, ip);
        if hot_moves && roll >= 85 {
            Some(Op::HotMove { to, spec })
        } else {
            Some(Op::Move {
                from: owner,
                to,
                spec,
            })
        }
    }

    /// Carries out `op` on `sim` (both halves of a move at the same instant).
    pub fn apply(sim: &mut Sim, op: &Op) -> Result<(), String> {
        let fail = |e: evpnd_node::CommandError| format!("{op:?}: {e}");
        match op {
            Op::Attach { nve, spec } | Op::HotMove { to: nve, spec } => {
                sim.attach(*nve, *spec).map_err(fail)?;
            }
            Op::Detach { nve, vni, mac } => {
                sim.detach(*nve, *vni, *mac, None).map_err(fail)?;
            }
            Op::Move { from, to, spec } => {
                sim.detach(*from, spec.vni, spec.mac, None).map_err(fail)?;
                sim.attach(*to, *spec).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// A random fault and the fault that repairs it (none for a reset: sessions come back by
    /// themselves), among those the fabric allows: a reset between a running NVE and a
    /// reflector (or another NVE in a full mesh); a partition cutting off a tenth to a third of
    /// the NVEs, with or without one route reflector; a crash of a running NVE or (with
    /// `reflectors`) of a running route reflector. `None` when no fault applies.
    pub fn next_fault(&mut self, sim: &Sim, reflectors: bool) -> Option<(Fault, Option<Fault>)> {
        let nves = sim.nve_count();
        let rrs = sim.node_count() - nves;
        let alive_nve: Vec<usize> = (0..nves).filter(|i| sim.is_alive(*i)).collect();
        let alive_rr: Vec<usize> = (0..rrs)
            .map(|j| sim.rr(j))
            .filter(|r| sim.is_alive(*r))
            .collect();
        #[derive(Clone, Copy)]
        enum Kind {
            Cut,
            Partition,
            CrashReflector,
            CrashNve,
        }
        let mut kinds = Vec::new();
        if !alive_nve.is_empty() && (rrs > 0 || nves > 1) {
            kinds.push(Kind::Cut);
        }
        if nves > 1 {
            kinds.push(Kind::Partition);
        }
        if reflectors && !alive_rr.is_empty() {
            kinds.push(Kind::CrashReflector);
        }
        if !alive_nve.is_empty() {
            kinds.push(Kind::CrashNve);
        }
        if kinds.is_empty() {
            return None;
        }
        Some(match kinds[self.below(kinds.len())] {
            Kind::Cut => {
                let i = alive_nve[self.below(alive_nve.len())];
                let peer = if rrs > 0 {
                    sim.rr(self.below(rrs))
                } else {
                    (i + 1 + self.below(nves - 1)) % nves
                };
                (Fault::Cut(i, peer), None)
            }
            Kind::Partition => {
                let size = ((nves / 10).max(1) + self.below((nves / 4).max(1))).min(nves - 1);
                let mut side: Vec<usize> = Vec::new();
                while side.len() < size {
                    let i = self.below(nves);
                    if !side.contains(&i) {
                        side.push(i);
                    }
                }
                if rrs > 1 && self.rng.random_bool(0.5) {
                    side.push(sim.rr(self.below(rrs)));
                }
                side.sort_unstable();
                (Fault::Partition(vec![side]), Some(Fault::Heal))
            }
            Kind::CrashReflector => {
                let r = alive_rr[self.below(alive_rr.len())];
                (Fault::Crash(r), Some(Fault::Restart(r)))
            }
            Kind::CrashNve => {
                let i = alive_nve[self.below(alive_nve.len())];
                (Fault::Crash(i), Some(Fault::Restart(i)))
            }
        })
    }

    /// Runs `chaos` on `sim`: each round injects a fault, carries out actions while it lasts,
    /// then repairs it (and, with [`Chaos::converge_between`], waits for the exact check).
    /// Every action error is returned (none is expected: actions only touch running NVEs).
    pub fn chaos(&mut self, sim: &mut Sim, chaos: &Chaos) -> Result<(), String> {
        for round in 0..chaos.rounds {
            let Some((fault, repair)) = self.next_fault(sim, chaos.crash_reflectors) else {
                break;
            };
            sim.inject(fault.clone())?;
            let end = sim.now() + self.duration(chaos.fault_duration);
            for _ in 0..chaos.ops_per_round {
                let gap = self.duration(chaos.op_gap);
                sim.run_for(gap);
                if let Some(op) = self.next_op(sim, chaos.hot_moves) {
                    Workload::apply(sim, &op)?;
                }
            }
            sim.run_until(end.max(sim.now()));
            if let Some(r) = repair {
                sim.inject(r)?;
            }
            if let Some(limit) = chaos.converge_between {
                sim.run_until_converged(limit)
                    .map_err(|e| format!("round {round} ({fault:?}): {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_and_ips_are_never_handed_out_twice() {
        let mut w = Workload::new(7);
        let a = w.fresh_mac();
        let b = w.fresh_mac();
        assert_ne!(a, b);
        assert!(!a.is_multicast() && !a.is_zero());
        let ips: Vec<IpAddr> = std::iter::from_fn(|| w.fresh_ip(100)).collect();
        assert_eq!(ips.len(), IPS_PER_VNI as usize);
        let mut sorted = ips.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ips.len());
        assert_eq!(ips[0].to_string(), "192.0.2.1");
        assert_eq!(ips[254].to_string(), "198.51.100.1");
        // Another VNI has its own range.
        assert_eq!(
            w.fresh_ip(200).map(|i| i.to_string()).as_deref(),
            Some("192.0.2.1")
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_durations() {
        let r = (Duration::from_millis(1), Duration::from_millis(100));
        let mut a = Workload::new(3);
        let mut b = Workload::new(3);
        let xs: Vec<Duration> = (0..8).map(|_| a.duration(r)).collect();
        let ys: Vec<Duration> = (0..8).map(|_| b.duration(r)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|d| *d >= r.0 && *d <= r.1));
    }
}
