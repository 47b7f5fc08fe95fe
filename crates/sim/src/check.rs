//! Convergence checks: what a converged fabric must look like, with a precise account of
//! every difference (the first few of them, and how many).
//!
//! [`Sim::check`] (exact): every NVE runs; every session between two running nodes that reach
//! each other is Established; every data plane refused no delta and holds exactly what its
//! node's tables call for ([`evpnd_node::Node::expected_dataplane`]); and every NVE's tables
//! equal the orchestrator's record ([`crate::Endpoints`]): each attached MAC is Local at its
//! owner and Remote at the owner's VTEP everywhere else in its VNI, with the same MAC
//! mobility sequence number everywhere, and nothing else; each bound IP answers with its MAC;
//! each flood list holds every other NVE that serves the VNI.
//!
//! [`Sim::check_agreement`] (weaker, for workloads whose outcome depends on timing): the same
//! sessions, data planes and flood lists, and for the MACs: at most one NVE holds each MAC
//! locally, the orchestrator did attach it there, and every other NVE of the VNI points at it.

use crate::config::vtep;
use crate::endpoints::Endpoints;
use crate::sim::Sim;
use evpnd_bgp::session::State;
use evpnd_evpn::Location;
use evpnd_wire::MacAddress;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// An attached MAC of a VNI: its owner and the IPs bound to it there.
type Owned<'a> = (MacAddress, usize, &'a BTreeSet<IpAddr>);

/// Most differences spelled out in an error.
const SHOWN: usize = 12;

/// Differences found, the first [`SHOWN`] kept.
#[derive(Default)]
struct Findings {
    shown: Vec<String>,
    total: usize,
}

impl Findings {
    fn add(&mut self, f: impl FnOnce() -> String) {
        self.total += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(f());
        }
    }

    fn result(self) -> Result<(), String> {
        if self.total == 0 {
            return Ok(());
        }
        let mut s = format!("{} difference(s):", self.total);
        for f in &self.shown {
            let _ = write!(s, "\n  {f}");
        }
        if self.total > self.shown.len() {
            let _ = write!(s, "\n  ...");
        }
        Err(s)
    }
}

fn place(l: Location) -> String {
    match l {
        Location::Local => "local".into(),
        Location::Remote { vtep } => format!("at {vtep}"),
    }
}

impl Sim {
    /// The exact convergence check against the orchestrator's record (see the module
    /// documentation).
    pub fn check(&self) -> Result<(), String> {
        self.check_with(self.endpoints())
    }

    /// The exact convergence check against `expected` (a record built by the test itself).
    pub fn check_with(&self, expected: &Endpoints) -> Result<(), String> {
        let mut f = Findings::default();
        self.check_common(&mut f);
        // (vni, mac) -> owner's sequence number, from the owner's own table.
        let mut sequences: BTreeMap<(u32, MacAddress), u32> = BTreeMap::new();
        let mut remote_sequences: Vec<(usize, u32, MacAddress, u32)> = Vec::new();
        // VNI -> (MAC, owner, IPs), computed once.
        let mut by_vni: BTreeMap<u32, Vec<Owned<'_>>> = BTreeMap::new();
        for ((v, mac), c) in expected.owners() {
            by_vni.entry(v).or_default().push((mac, c.nve, &c.ips));
        }
        let at = |i: usize, owner: usize| {
            if owner == i {
                Location::Local
            } else {
                Location::Remote { vtep: vtep(owner) }
            }
        };
        for i in 0..self.nve_count() {
            let Some(node) = self.node(i) else {
                continue;
            };
            for v in self.served_vnis(i) {
                let owned = by_vni.get(&v).map_or(&[][..], Vec::as_slice);
                let want: BTreeMap<MacAddress, Location> = owned
                    .iter()
                    .map(|(mac, owner, _)| (*mac, at(i, *owner)))
                    .collect();
                let table = node.macs(v).unwrap_or_default();
                let have: BTreeMap<MacAddress, Location> =
                    table.iter().map(|e| (e.mac, e.origin)).collect();
                for e in &table {
                    if e.origin == Location::Local {
                        sequences.insert((v, e.mac), e.sequence);
                    } else {
                        remote_sequences.push((i, v, e.mac, e.sequence));
                    }
                }
                for (mac, w) in &want {
                    match have.get(mac) {
                        Some(h) if h == w => {}
                        Some(h) => f.add(|| {
                            format!(
                                "NVE {i} VNI {v}: MAC {mac} is {}, expected {}",
                                place(*h),
                                place(*w)
                            )
                        }),
                        None => f.add(|| {
                            format!("NVE {i} VNI {v}: MAC {mac} missing, expected {}", place(*w))
                        }),
                    }
                }
                for (mac, h) in &have {
                    if !want.contains_key(mac) {
                        f.add(|| {
                            format!(
                                "NVE {i} VNI {v}: stale MAC {mac} {}, attached nowhere",
                                place(*h)
                            )
                        });
                    }
                }
                let want_arp: BTreeMap<IpAddr, (MacAddress, Location)> = owned
                    .iter()
                    .flat_map(|(mac, owner, ips)| {
                        ips.iter().map(move |ip| (*ip, (*mac, at(i, *owner))))
                    })
                    .collect();
                let have_arp: BTreeMap<IpAddr, (MacAddress, Location)> = node
                    .arp(v)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| (n.ip, (n.mac, n.origin)))
                    .collect();
                if want_arp != have_arp {
                    for (ip, w) in &want_arp {
                        if have_arp.get(ip) != Some(w) {
                            f.add(|| {
                                format!(
                                    "NVE {i} VNI {v}: IP {ip} is {:?}, expected {} {}",
                                    have_arp.get(ip).map(|(m, l)| format!("{m} {}", place(*l))),
                                    w.0,
                                    place(w.1)
                                )
                            });
                        }
                    }
                    for ip in have_arp.keys().filter(|ip| !want_arp.contains_key(ip)) {
                        f.add(|| format!("NVE {i} VNI {v}: stale IP binding {ip}"));
                    }
                }
            }
        }
        for (i, v, mac, seq) in remote_sequences {
            if let Some(owner) = sequences.get(&(v, mac)) {
                if *owner != seq {
                    f.add(|| {
                        format!("NVE {i} VNI {v}: MAC {mac} has sequence {seq}, its owner {owner}")
                    });
                }
            }
        }
        f.result()
    }

    /// True when the fabric is quiet and the exact check passes.
    pub fn converged(&self) -> bool {
        self.is_quiet() && self.check().is_ok()
    }

    /// The weaker check (see the module documentation).
    pub fn check_agreement(&self) -> Result<(), String> {
        let mut f = Findings::default();
        self.check_common(&mut f);
        // (vni, mac) -> per NVE of the VNI: its entry.
        let mut rows: BTreeMap<(u32, MacAddress), Vec<(usize, Location)>> = BTreeMap::new();
        let mut members: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for i in 0..self.nve_count() {
            let Some(node) = self.node(i) else {
                continue;
            };
            for v in self.served_vnis(i) {
                members.entry(v).or_default().push(i);
                for e in node.macs(v).unwrap_or_default() {
                    rows.entry((v, e.mac)).or_default().push((i, e.origin));
                }
            }
        }
        for ((v, mac), row) in &rows {
            let owners: Vec<usize> = row
                .iter()
                .filter(|(_, l)| *l == Location::Local)
                .map(|(i, _)| *i)
                .collect();
            let [owner] = owners[..] else {
                f.add(|| format!("VNI {v}: MAC {mac} is local at NVEs {owners:?}"));
                continue;
            };
            if !self.endpoints().is_attached(owner, *v, *mac) {
                f.add(|| {
                    format!("VNI {v}: MAC {mac} is local at NVE {owner}, never attached there")
                });
            }
            let want = Location::Remote { vtep: vtep(owner) };
            for i in members
                .get(v)
                .into_iter()
                .flatten()
                .filter(|i| **i != owner)
            {
                let have = row.iter().find(|(j, _)| j == i).map(|(_, l)| *l);
                if have != Some(want) {
                    f.add(|| {
                        format!(
                            "NVE {i} VNI {v}: MAC {mac} is {:?}, expected {}",
                            have.map(place),
                            place(want)
                        )
                    });
                }
            }
        }
        f.result()
    }

    /// The VNIs NVE `i` has an EVI for.
    pub fn served_vnis(&self, i: usize) -> Vec<u32> {
        self.node(i)
            .and_then(|n| n.engine())
            .map(|e| e.evis().map(|x| x.vni.get()).collect())
            .unwrap_or_default()
    }

    /// What both checks share: nodes up, sessions, data planes, flood lists.
    fn check_common(&self, f: &mut Findings) {
        let now = self.instant();
        for i in 0..self.nve_count() {
            if !self.is_alive(i) {
                f.add(|| format!("NVE {i} is not running"));
            }
        }
        for a in 0..self.node_count() {
            let Some(node) = self.node(a) else {
                continue;
            };
            for n in node.neighbors(now) {
                let Some(b) = self.node_at(n.address) else {
                    continue;
                };
                if self.is_alive(b) && self.reachable(a, b) && n.state != State::Established {
                    f.add(|| {
                        format!(
                            "session {} -> {} is {:?}",
                            self.address(a),
                            n.address,
                            n.state
                        )
                    });
                }
            }
            if !self.refused(a).is_empty() {
                f.add(|| format!("node {a}: data plane refused {:?}", self.refused(a)));
            }
            let want = node.expected_dataplane();
            let have = self.dataplane(a);
            if want.fdb != have.fdb || want.flood != have.flood || want.neigh != have.neigh {
                f.add(|| {
                    format!(
                        "node {a}: data plane differs from its tables: fdb {}/{}, flood {}/{}, neigh {}/{} (have/want)",
                        have.fdb.len(),
                        want.fdb.len(),
                        have.flood.len(),
                        want.flood.len(),
                        have.neigh.len(),
                        want.neigh.len()
                    )
                });
            }
        }
        for (a, b) in self.dead_connections() {
            f.add(|| {
                format!(
                    "a lost connection between {} and {} is still held",
                    self.address(a),
                    self.address(b)
                )
            });
        }
        let served: Vec<BTreeSet<u32>> = (0..self.nve_count())
            .map(|i| self.served_vnis(i).into_iter().collect())
            .collect();
        for i in 0..self.nve_count() {
            let Some(node) = self.node(i) else {
                continue;
            };
            for v in &served[i] {
                let want: Vec<IpAddr> = (0..self.nve_count())
                    .filter(|j| *j != i && served[*j].contains(v))
                    .map(vtep)
                    .collect();
                let have = node
                    .flood(*v)
                    .ok()
                    .and_then(|l| l.into_iter().next())
                    .map(|(_, l)| l)
                    .unwrap_or_default();
                if have != want {
                    f.add(|| format!("NVE {i} VNI {v}: flood list {have:?}, expected {want:?}"));
                }
            }
        }
    }
}
