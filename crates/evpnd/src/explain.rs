//! `Explain`: the walk from the routes received for a MAC or IP to what the kernel holds,
//! stopping at the first link that breaks.
//!
//! Three places hold the facts, each read where it lives: the node ([`evpnd_node::MacExplain`]:
//! routes, import verdicts, the engine's claims and decision, the intent that decision calls
//! for) and the data plane's own record (the memory data plane's tables) are read on the
//! driver task by [`gather`], cheaply; the kernel (`kind = "linux"`) is read by [`kernel`], a
//! blocking netlink dump that the API runs on a blocking thread, never on the driver task.
//! [`walk`] then judges the links in order.

use evpnd_dataplane::{Backend, DataplaneIntent, FdbEntry, NeighEntry};
use evpnd_evpn::{DuplicateState, Location};
use evpnd_node::{CommandError, IpExplain, MacExplain, Node};
use evpnd_wire::MacAddress;
use std::net::IpAddr;

/// What is explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A MAC (its FDB entry).
    Mac(MacAddress),
    /// An IP (its proxy ARP/ND binding).
    Ip(IpAddr),
}

/// The node's chain for the subject.
#[derive(Clone, Debug)]
pub enum NodeChain {
    /// For a MAC.
    Mac(MacExplain),
    /// For an IP.
    Ip(IpExplain),
}

/// The data plane's own record of the subject's entry, when it keeps one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// The remote-MAC FDB entry (`None`: absent).
    Fdb(Option<FdbEntry>),
    /// The proxy ARP/ND binding (`None`: absent).
    Neigh(Option<NeighEntry>),
}

/// Everything the driver task contributes.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The node's chain.
    pub chain: NodeChain,
    /// The data plane kind ("none", "memory", "linux").
    pub dataplane: &'static str,
    /// The data plane's record (`None`: it keeps none that can be read).
    pub record: Option<Record>,
    /// Intents waiting for a retry in the data plane.
    pub pending_retries: u64,
}

/// What the kernel holds, as read by [`kernel`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// No kernel data plane (`memory`, `none`).
    NotUsed,
    /// The kernel's entries (Linux only).
    #[cfg(target_os = "linux")]
    Read(evpnd_dataplane::linux::KernelEntries),
    /// The kernel could not be read.
    Unreadable(String),
}

/// Reads the node's chain and the data plane's record (on the driver task: no I/O).
pub fn gather(
    node: &Node,
    dataplane: &dyn Backend,
    vni: u32,
    subject: Subject,
) -> Result<Facts, CommandError> {
    let memory = dataplane.memory();
    let (chain, record) = match subject {
        Subject::Mac(mac) => {
            let x = node.explain_mac(vni, mac)?;
            let record = memory.map(|m| Record::Fdb(m.fdb.get(&(x.vni, mac)).copied()));
            (NodeChain::Mac(x), record)
        }
        Subject::Ip(ip) => {
            let x = node.explain_ip(vni, ip)?;
            let record = memory.map(|m| Record::Neigh(m.neigh.get(&(x.vni, ip)).copied()));
            (NodeChain::Ip(x), record)
        }
    };
    Ok(Facts {
        chain,
        dataplane: dataplane.kind(),
        record,
        pending_retries: dataplane.stats().pending_retries,
    })
}

/// Reads what the kernel holds for the subject (blocking; `kind` names the data plane).
pub fn kernel(kind: &str, vni: u32, subject: Subject) -> Kernel {
    if kind != "linux" {
        return Kernel::NotUsed;
    }
    #[cfg(target_os = "linux")]
    {
        let (mac, ip) = match subject {
            Subject::Mac(m) => (Some(m), None),
            Subject::Ip(i) => (None, Some(i)),
        };
        match evpnd_dataplane::linux::inspect(vni, mac, ip) {
            Ok(k) => Kernel::Read(k),
            Err(e) => Kernel::Unreadable(e.to_string()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (vni, subject);
        Kernel::Unreadable("the Linux data plane runs on Linux only".into())
    }
}

/// One link of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// routes, import, decision, intent, dataplane, kernel.
    pub link: &'static str,
    /// The link holds.
    pub ok: bool,
    /// What it holds, or why it breaks.
    pub detail: String,
}

/// The judged chain: the links up to and including the first that breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walk {
    /// The links in order.
    pub steps: Vec<Step>,
}

impl Walk {
    /// The first link that breaks.
    pub fn broken(&self) -> Option<&Step> {
        self.steps.iter().find(|s| !s.ok)
    }

    fn push(&mut self, link: &'static str, ok: bool, detail: String) -> bool {
        self.steps.push(Step { link, ok, detail });
        ok
    }
}

fn at(l: Location) -> String {
    match l {
        Location::Local => "local".into(),
        Location::Remote { vtep } => format!("VTEP {vtep}"),
    }
}

/// Judges the links in order and stops at the first that breaks.
pub fn walk(facts: &Facts, kernel: &Kernel) -> Walk {
    let mut w = Walk { steps: Vec::new() };
    match &facts.chain {
        NodeChain::Mac(x) => walk_mac(&mut w, x, facts, kernel),
        NodeChain::Ip(x) => walk_ip(&mut w, x, facts, kernel),
    }
    w
}

/// The routes and import links, shared by MACs and IPs. Returns false when a link broke.
fn routes_and_import(
    w: &mut Walk,
    what: &str,
    routes: &[evpnd_node::ExplainedRoute],
    local: bool,
) -> bool {
    // Routes originated here are listed but not received: they do not count.
    let routes: Vec<&evpnd_node::ExplainedRoute> =
        routes.iter().filter(|r| r.verdict.is_some()).collect();
    if routes.is_empty() {
        return if local {
            w.push(
                "routes",
                true,
                format!("no route received for {what}; attached here"),
            )
        } else {
            w.push("routes", false, format!("no route received for {what}"))
        };
    }
    let paths: usize = routes.iter().map(|r| r.route.paths.len()).sum();
    w.push(
        "routes",
        true,
        format!("{} route(s) received with {paths} path(s)", routes.len()),
    );
    let imported = routes
        .iter()
        .filter(|r| r.verdict.as_ref().is_some_and(|v| v.is_imported()))
        .count();
    if imported == 0 && !local {
        let why = routes
            .iter()
            .find_map(|r| r.verdict.as_ref())
            .map_or_else(|| "no best path".to_string(), |v| v.to_string());
        return w.push("import", false, format!("route rejected: {why}"));
    }
    w.push(
        "import",
        true,
        format!("{imported} of {} route(s) imported", routes.len()),
    )
}

fn frozen(d: DuplicateState) -> bool {
    matches!(d, DuplicateState::Frozen { .. })
}

fn walk_mac(w: &mut Walk, x: &MacExplain, facts: &Facts, kernel: &Kernel) {
    let local = x.engine.as_ref().is_some_and(|e| e.local.is_some());
    if !routes_and_import(
        w,
        &format!("MAC {} in VNI {}", x.mac, x.vni),
        &x.routes,
        local,
    ) {
        return;
    }
    let Some(e) = &x.engine else {
        w.push(
            "decision",
            false,
            "a route was imported but the engine holds no entry for the MAC".into(),
        );
        return;
    };
    if frozen(e.duplicate) {
        let where_ = e.installed.map_or("nowhere".into(), |i| at(i.0));
        w.push(
            "decision",
            false,
            format!("frozen as a duplicate at {where_}: not advertised, location pinned (evpnctl clear duplicate)"),
        );
        return;
    }
    let Some(winner) = e.winner else {
        w.push("decision", false, "no claim wins".into());
        return;
    };
    let dormant = if e.local_dormant {
        "; the local claim is dormant"
    } else {
        ""
    };
    if !w.push(
        "decision",
        e.installed.map(|i| i.0) == Some(winner),
        format!(
            "best: {} ({}){dormant}; MAC table holds {}",
            at(winner),
            e.decision,
            e.installed.map_or("nothing".into(), |i| at(i.0))
        ),
    ) {
        return;
    }
    let want = match (winner, x.intent) {
        (Location::Local, _) => {
            w.push(
                "intent",
                true,
                "local MAC: no FDB intent (the bridge forwards it by its own learning)".into(),
            );
            None
        }
        (Location::Remote { vtep }, Some(DataplaneIntent::RemoteMac { sticky, .. })) => {
            w.push(
                "intent",
                true,
                format!(
                    "remote MAC at VTEP {vtep}{}",
                    if sticky { " (sticky)" } else { "" }
                ),
            );
            Some(FdbEntry { vtep, sticky })
        }
        (Location::Remote { vtep }, _) => {
            w.push(
                "intent",
                false,
                format!("best path is from VTEP {vtep} but no intent follows from it"),
            );
            return;
        }
    };
    let ok = match facts.record {
        Some(Record::Fdb(have)) => match (want, have) {
            (None, None) => w.push("dataplane", true, "no remote entry (local MAC)".into()),
            (None, Some(h)) => w.push(
                "dataplane",
                false,
                format!(
                    "the data plane still holds a remote entry at VTEP {}",
                    h.vtep
                ),
            ),
            (Some(v), None) => w.push(
                "dataplane",
                false,
                format!(
                    "best path is from VTEP {} but the intent is missing from the data plane",
                    v.vtep
                ),
            ),
            (Some(v), Some(h)) if v == h => {
                w.push("dataplane", true, format!("FDB entry → VTEP {}", h.vtep))
            }
            (Some(v), Some(h)) => w.push(
                "dataplane",
                false,
                format!(
                    "the data plane's entry points to VTEP {} (sticky {}), not VTEP {} (sticky {})",
                    h.vtep, h.sticky, v.vtep, v.sticky
                ),
            ),
        },
        _ => w.push("dataplane", true, submitted(facts)),
    };
    if !ok {
        return;
    }
    match kernel {
        Kernel::NotUsed => {
            w.push(
                "kernel",
                true,
                format!("no kernel data plane (kind = \"{}\")", facts.dataplane),
            );
        }
        Kernel::Unreadable(e) => {
            w.push("kernel", false, format!("cannot read the kernel: {e}"));
        }
        #[cfg(target_os = "linux")]
        Kernel::Read(k) => {
            if !k.devices {
                w.push(
                    "kernel",
                    false,
                    format!("VNI {}'s devices are missing from the kernel", x.vni),
                );
                return;
            }
            match (want, k.fdb) {
                (None, None) => w.push(
                    "kernel",
                    true,
                    "local MAC: no remote entry (the bridge learns it on the tenant port)".into(),
                ),
                (None, Some(_)) => w.push(
                    "kernel",
                    false,
                    "the kernel holds a remote FDB entry for a local MAC".into(),
                ),
                (Some(v), None) => w.push(
                    "kernel",
                    false,
                    format!(
                        "intent submitted but the kernel has no FDB entry for {} on VNI {}'s VXLAN device (want VTEP {})",
                        x.mac, x.vni, v.vtep
                    ),
                ),
                (Some(_), Some(None)) => w.push(
                    "kernel",
                    false,
                    "the kernel's VXLAN and bridge FDB entries are incomplete or disagree".into(),
                ),
                (Some(v), Some(Some(h))) if v.vtep == h.vtep => w.push(
                    "kernel",
                    true,
                    format!("FDB entry on the VXLAN device → VTEP {}", h.vtep),
                ),
                (Some(v), Some(Some(h))) => w.push(
                    "kernel",
                    false,
                    format!(
                        "the kernel's FDB entry points to VTEP {}, not VTEP {}",
                        h.vtep, v.vtep
                    ),
                ),
            };
        }
    }
}

fn submitted(facts: &Facts) -> String {
    match facts.dataplane {
        "none" => "no data plane: intents are dropped (kind = \"none\")".into(),
        kind => format!(
            "submitted to the {kind} data plane ({} intent(s) waiting for a retry)",
            facts.pending_retries
        ),
    }
}

fn walk_ip(w: &mut Walk, x: &IpExplain, facts: &Facts, kernel: &Kernel) {
    let local = x.engine.as_ref().is_some_and(|e| e.local.is_some());
    if !routes_and_import(
        w,
        &format!("IP {} in VNI {}", x.ip, x.vni),
        &x.routes,
        local,
    ) {
        return;
    }
    let Some(e) = &x.engine else {
        w.push(
            "decision",
            false,
            "a route was imported but the engine holds no binding for the IP".into(),
        );
        return;
    };
    if frozen(e.duplicate) {
        w.push(
            "decision",
            false,
            "frozen as a duplicate IP: binding pinned (evpnctl clear duplicate)".into(),
        );
        return;
    }
    let Some((mac, winner)) = e.winner else {
        w.push("decision", false, "no claim wins".into());
        return;
    };
    if !w.push(
        "decision",
        e.installed.map(|b| (b.mac, b.location)) == Some((mac, winner)),
        format!("best: {mac} at {} ({})", at(winner), e.decision),
    ) {
        return;
    }
    let Some(DataplaneIntent::Neighbor {
        mac: want_mac,
        local: want_local,
        ..
    }) = x.intent
    else {
        w.push(
            "intent",
            false,
            format!("the binding to {mac} calls for no intent"),
        );
        return;
    };
    w.push(
        "intent",
        true,
        format!(
            "ARP/ND binding → {want_mac} ({})",
            if want_local { "local" } else { "remote" }
        ),
    );
    let ok = match facts.record {
        Some(Record::Neigh(have)) => match have {
            None => w.push(
                "dataplane",
                false,
                format!("the binding to {want_mac} is missing from the data plane"),
            ),
            Some(h) if h.mac == want_mac => {
                w.push("dataplane", true, format!("binding → {}", h.mac))
            }
            Some(h) => w.push(
                "dataplane",
                false,
                format!("the data plane binds the IP to {}, not {want_mac}", h.mac),
            ),
        },
        _ => w.push("dataplane", true, submitted(facts)),
    };
    if !ok {
        return;
    }
    match kernel {
        Kernel::NotUsed => {
            w.push(
                "kernel",
                true,
                format!("no kernel data plane (kind = \"{}\")", facts.dataplane),
            );
        }
        Kernel::Unreadable(e) => {
            w.push("kernel", false, format!("cannot read the kernel: {e}"));
        }
        #[cfg(target_os = "linux")]
        Kernel::Read(k) => {
            match k.neigh {
                None => w.push(
                    "kernel",
                    false,
                    format!(
                        "intent submitted but the kernel has no neighbour entry for {} in VNI {}",
                        x.ip, x.vni
                    ),
                ),
                Some(h) if h.mac == want_mac => {
                    w.push("kernel", true, format!("neighbour entry → {}", h.mac))
                }
                Some(h) => w.push(
                    "kernel",
                    false,
                    format!("the kernel binds the IP to {}, not {want_mac}", h.mac),
                ),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use evpnd_evpn::{ClaimView, Decision, MacExplanation};
    use evpnd_wire::Vni;

    const MAC: MacAddress = MacAddress([2, 0, 0, 0, 0, 1]);

    fn vtep(n: u8) -> IpAddr {
        IpAddr::from([198, 19, 0, n])
    }

    /// A MAC held at VTEP 198.19.0.2 by the engine (no route listed: the routes and import
    /// links are exercised against real daemons).
    fn remote_mac() -> MacExplain {
        let at = Location::Remote { vtep: vtep(2) };
        MacExplain {
            vni: Vni::new(100).unwrap(),
            mac: MAC,
            routes: Vec::new(),
            engine: Some(MacExplanation {
                local: Some(ClaimView {
                    location: Location::Local,
                    rd: None,
                    ip: None,
                    mac: MAC,
                    sequence: 0,
                    sticky: false,
                    router: false,
                    immutable: false,
                }),
                local_dormant: true,
                remotes: Vec::new(),
                winner: Some(at),
                decision: Decision::HigherSequence {
                    winner: 2,
                    loser: 0,
                },
                installed: Some((at, 2, false)),
                duplicate: DuplicateState::Normal,
                sticky_conflict: false,
            }),
            intent: Some(DataplaneIntent::RemoteMac {
                vni: Vni::new(100).unwrap(),
                mac: MAC,
                vtep: vtep(2),
                sticky: false,
            }),
        }
    }

    fn facts(kind: &'static str, record: Option<Record>) -> Facts {
        Facts {
            chain: NodeChain::Mac(remote_mac()),
            dataplane: kind,
            record,
            pending_retries: 0,
        }
    }

    fn entry(n: u8) -> FdbEntry {
        FdbEntry {
            vtep: vtep(n),
            sticky: false,
        }
    }

    #[test]
    fn a_complete_memory_chain_holds_at_every_link() {
        let w = walk(
            &facts("memory", Some(Record::Fdb(Some(entry(2))))),
            &Kernel::NotUsed,
        );
        assert_eq!(w.broken(), None, "{w:?}");
        let links: Vec<&str> = w.steps.iter().map(|s| s.link).collect();
        assert_eq!(
            links,
            ["routes", "decision", "intent", "dataplane", "kernel"]
        );
        assert!(w.steps[1].detail.contains("higher sequence number (2 > 0)"));
        assert!(w.steps[1].detail.contains("dormant"));
    }

    #[test]
    fn the_data_plane_link_breaks_on_a_missing_or_wrong_entry() {
        let w = walk(&facts("memory", Some(Record::Fdb(None))), &Kernel::NotUsed);
        let b = w.broken().unwrap();
        assert_eq!(b.link, "dataplane");
        assert!(b
            .detail
            .contains("best path is from VTEP 198.19.0.2 but the intent is missing"));
        let w = walk(
            &facts("memory", Some(Record::Fdb(Some(entry(3))))),
            &Kernel::NotUsed,
        );
        assert!(w
            .broken()
            .unwrap()
            .detail
            .contains("points to VTEP 198.19.0.3"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_link_breaks_on_a_missing_or_wrong_entry() {
        use evpnd_dataplane::linux::KernelEntries;
        let kernel = |fdb| {
            Kernel::Read(KernelEntries {
                devices: true,
                fdb,
                neigh: None,
            })
        };
        let w = walk(&facts("linux", None), &kernel(Some(Some(entry(2)))));
        assert_eq!(w.broken(), None, "{w:?}");
        let w = walk(&facts("linux", None), &kernel(None));
        assert_eq!(w.broken().unwrap().link, "kernel");
        assert!(w
            .broken()
            .unwrap()
            .detail
            .contains("the kernel has no FDB entry"));
        let w = walk(&facts("linux", None), &kernel(Some(Some(entry(4)))));
        assert!(w
            .broken()
            .unwrap()
            .detail
            .contains("points to VTEP 198.19.0.4, not VTEP 198.19.0.2"));
        let w = walk(
            &facts("linux", None),
            &Kernel::Read(KernelEntries::default()),
        );
        assert!(w.broken().unwrap().detail.contains("devices are missing"));
    }

    #[test]
    fn a_frozen_mac_breaks_at_the_decision() {
        let mut f = facts("memory", Some(Record::Fdb(Some(entry(2)))));
        if let NodeChain::Mac(x) = &mut f.chain {
            if let Some(e) = x.engine.as_mut() {
                e.duplicate = DuplicateState::Frozen { until: None };
            }
        }
        let w = walk(&f, &Kernel::NotUsed);
        assert_eq!(w.broken().unwrap().link, "decision");
        assert!(w.broken().unwrap().detail.contains("frozen as a duplicate"));
    }
}
