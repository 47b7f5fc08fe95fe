//! Three real evpnd processes with the EVPN engine and the memory data plane, in an iBGP full
//! mesh on loopback (issue #4, process level): endpoints attached through the API converge in
//! every MAC table, flood lists follow VNI membership, ARP/ND tables carry the IP bindings,
//! the memory data planes equal the tables; a MAC move wins with sequence 1 (RFC 7432 §15), a
//! sticky MAC is not moved by a claim elsewhere (§15.2), and detaching everything leaves no
//! leftovers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{endpoint, free_port, wait_until, wait_until_every, Daemon, EvpnApi, TempDir};
use evpnd_api::v1;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const ASN: u32 = 65000;

/// One node of the fabric: its BGP address, VTEP and VNIs.
struct Node {
    ip: &'static str,
    vtep: &'static str,
    vnis: &'static [u32],
}

const NODES: [Node; 3] = [
    Node {
        ip: "127.0.0.31",
        vtep: "198.19.0.1",
        vnis: &[100, 200],
    },
    Node {
        ip: "127.0.0.32",
        vtep: "198.19.0.2",
        vnis: &[100, 200],
    },
    Node {
        ip: "127.0.0.33",
        vtep: "198.19.0.3",
        vnis: &[100],
    },
];

fn config(i: usize, ports: &[u16], state_dir: &std::path::Path) -> String {
    let me = &NODES[i];
    let mut s = format!(
        "asn = {ASN}\nrouter-id = \"{vtep}\"\n[bgp]\nlisten = \"{ip}:{port}\"\nhold-time = 9\nconnect-retry = 0.2\nstate-dir = \"{dir}\"\n",
        vtep = me.vtep,
        ip = me.ip,
        port = ports[i],
        dir = state_dir.display()
    );
    for (j, n) in NODES.iter().enumerate().filter(|(j, _)| *j != i) {
        s.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nremote-asn = {ASN}\nport = {}\nlocal-address = \"{}\"\n",
            n.ip, ports[j], me.ip
        ));
    }
    s.push_str(&format!("[evpn]\nvtep = \"{}\"\n", me.vtep));
    for v in me.vnis {
        s.push_str(&format!("[[vni]]\nvni = {v}\n"));
    }
    s.push_str("[dataplane]\nkind = \"memory\"\n");
    s
}

/// Where the test expects one endpoint: its VNI, MAC, IP, home node and sequence number.
#[derive(Clone, Debug)]
struct Expect {
    vni: u32,
    mac: &'static str,
    ip: &'static str,
    home: usize,
    seq: u32,
}

/// A MAC row as compared: (vni, mac, location, sequence).
type MacRow = (u32, String, String, u32);
/// An ARP row as compared: (vni, ip, mac, location).
type ArpRow = (u32, String, String, String);

fn location(viewer: usize, home: usize) -> String {
    if viewer == home {
        "local".into()
    } else {
        NODES[home].vtep.into()
    }
}

fn expected_macs(viewer: usize, model: &[Expect]) -> BTreeSet<MacRow> {
    model
        .iter()
        .filter(|e| NODES[viewer].vnis.contains(&e.vni))
        .map(|e| (e.vni, e.mac.into(), location(viewer, e.home), e.seq))
        .collect()
}

fn expected_arp(viewer: usize, model: &[Expect]) -> BTreeSet<ArpRow> {
    model
        .iter()
        .filter(|e| NODES[viewer].vnis.contains(&e.vni) && !e.ip.is_empty())
        .map(|e| (e.vni, e.ip.into(), e.mac.into(), location(viewer, e.home)))
        .collect()
}

/// The flood lists a node must have: per VNI of its own, the other nodes' VTEPs in that VNI.
fn expected_flood(viewer: usize) -> BTreeSet<(u32, Vec<String>)> {
    NODES[viewer]
        .vnis
        .iter()
        .map(|v| {
            let mut vteps: Vec<String> = NODES
                .iter()
                .enumerate()
                .filter(|(j, n)| *j != viewer && n.vnis.contains(v))
                .map(|(_, n)| n.vtep.to_string())
                .collect();
            vteps.sort();
            (*v, vteps)
        })
        .collect()
}

fn mac_rows(d: &Daemon) -> BTreeSet<MacRow> {
    d.macs(0)
        .into_iter()
        .map(|m| (m.vni, m.mac, m.location, m.sequence))
        .collect()
}

fn arp_rows(d: &Daemon) -> BTreeSet<ArpRow> {
    d.arp(0)
        .into_iter()
        .map(|n| (n.vni, n.ip, n.mac, n.location))
        .collect()
}

fn flood_rows(d: &Daemon) -> BTreeSet<(u32, Vec<String>)> {
    d.flood(0).into_iter().map(|f| (f.vni, f.vteps)).collect()
}

/// The memory data plane holds exactly the engine's remote MACs, flood lists and bindings,
/// and never saw an inconsistent delta.
fn dataplane_matches_tables(d: &Daemon) -> Result<(), String> {
    let dp = d.dataplane().map_err(|s| s.to_string())?;
    if dp.errors != 0 {
        return Err(format!("{} inconsistent intents", dp.errors));
    }
    let fdb: BTreeSet<(u32, String, String, bool)> = dp
        .macs
        .iter()
        .map(|m| (m.vni, m.mac.clone(), m.vtep.clone(), m.sticky))
        .collect();
    let remote: BTreeSet<(u32, String, String, bool)> = d
        .macs(0)
        .into_iter()
        .filter(|m| m.location != "local")
        .map(|m| (m.vni, m.mac, m.location, m.sticky))
        .collect();
    if fdb != remote {
        return Err(format!("FDB {fdb:?} != remote MACs {remote:?}"));
    }
    let flood: BTreeSet<(u32, Vec<String>)> =
        dp.flood.iter().map(|f| (f.vni, f.vteps.clone())).collect();
    let tables: BTreeSet<(u32, Vec<String>)> = flood_rows(d)
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if flood != tables {
        return Err(format!("flood {flood:?} != {tables:?}"));
    }
    let neigh: BTreeSet<(u32, String, String, bool)> = dp
        .neighbors
        .iter()
        .map(|n| (n.vni, n.ip.clone(), n.mac.clone(), n.local))
        .collect();
    let arp: BTreeSet<(u32, String, String, bool)> = d
        .arp(0)
        .into_iter()
        .map(|n| (n.vni, n.ip, n.mac, n.location == "local"))
        .collect();
    if neigh != arp {
        return Err(format!("neighbours {neigh:?} != ARP table {arp:?}"));
    }
    Ok(())
}

/// Every node's MAC, ARP and flood tables equal the model, and its data plane equals them.
fn converged(ds: &[Daemon], model: &[Expect]) -> Result<(), String> {
    for (i, d) in ds.iter().enumerate() {
        let macs = mac_rows(d);
        let want = expected_macs(i, model);
        if macs != want {
            return Err(format!("{}: MACs {macs:?}, want {want:?}", d.name));
        }
        let arp = arp_rows(d);
        let want = expected_arp(i, model);
        if arp != want {
            return Err(format!("{}: ARP {arp:?}, want {want:?}", d.name));
        }
        let flood = flood_rows(d);
        let want = expected_flood(i);
        if flood != want {
            return Err(format!("{}: flood {flood:?}, want {want:?}", d.name));
        }
        dataplane_matches_tables(d).map_err(|e| format!("{}: {e}", d.name))?;
    }
    Ok(())
}

/// Waits (bounded) for `converged`, returning how long it took (polled every 2 ms, so the
/// figure is the convergence time plus at most one round of API queries); panics with the
/// last mismatch and the logs.
fn wait_converged(ds: &[Daemon], model: &[Expect], what: &str) -> Duration {
    let start = Instant::now();
    let mut last = String::new();
    let mut rounds = 0u32;
    let ok = wait_until_every(WAIT, Duration::from_millis(2), || {
        match converged(ds, model) {
            Ok(()) => true,
            Err(e) => {
                rounds += 1;
                last = e;
                false
            }
        }
    });
    if ok.is_err() {
        let logs: Vec<String> = ds
            .iter()
            .map(|d| format!("--- {} ---\n{}", d.name, d.log_text()))
            .collect();
        panic!(
            "{what}: not converged in {WAIT:?}: {last}\n{}",
            logs.join("\n")
        );
    }
    let took = start.elapsed();
    eprintln!("{what}: converged in {took:?} ({rounds} checks failed first)");
    took
}

#[test]
fn three_daemons_converge_move_sticky_and_clean_up() {
    let state = TempDir::new("evpn-state").unwrap();
    let ports: Vec<u16> = NODES.iter().map(|n| free_port(n.ip)).collect();
    let names = ["evpn-a", "evpn-b", "evpn-c"];
    let ds: Vec<Daemon> = (0..3)
        .map(|i| Daemon::start(names[i], &config(i, &ports, state.path())))
        .collect();
    wait_until(WAIT, || ds.iter().all(Daemon::all_established))
        .unwrap_or_else(|e| panic!("{e}: the iBGP mesh did not come up"));
    // Before any endpoint: type-3 routes alone build the flood lists.
    wait_converged(&ds, &[], "flood lists");

    let mut model = vec![
        Expect {
            vni: 100,
            mac: "02:00:00:00:01:01",
            ip: "192.0.2.11",
            home: 0,
            seq: 0,
        },
        Expect {
            vni: 100,
            mac: "02:00:00:00:02:01",
            ip: "192.0.2.21",
            home: 1,
            seq: 0,
        },
        Expect {
            vni: 200,
            mac: "02:00:00:00:02:02",
            ip: "198.51.100.22",
            home: 1,
            seq: 0,
        },
        Expect {
            vni: 100,
            mac: "02:00:00:00:03:01",
            ip: "192.0.2.31",
            home: 2,
            seq: 0,
        },
        Expect {
            vni: 100,
            mac: "02:00:00:00:03:02",
            ip: "",
            home: 2,
            seq: 0,
        },
    ];
    for e in &model {
        ds[e.home].attach(endpoint(e.vni, e.mac, e.ip)).unwrap();
    }
    wait_converged(&ds, &model, "5 endpoints on 3 daemons");

    // The API refuses bad input with INVALID_ARGUMENT / NOT_FOUND, and the engine is intact.
    let bad = ds[0]
        .attach(endpoint(100, "01:00:5e:00:00:01", ""))
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    let bad = ds[0].attach(endpoint(100, "nonsense", "")).unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    let bad = ds[0]
        .attach(endpoint(100, "02:00:00:00:09:09", "224.0.0.5"))
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    let bad = ds[2]
        .attach(endpoint(200, "02:00:00:00:09:09", ""))
        .unwrap_err();
    assert_eq!(
        bad.code(),
        tonic::Code::NotFound,
        "C has no VNI 200: {bad:?}"
    );
    let bad = ds[2]
        .call(|mut c| async move {
            c.list_macs(v1::ListMacsRequest {
                vni: 200,
                ..Default::default()
            })
            .await
        })
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::NotFound);

    // ListVnis: one row per EVI with the auto-derived RD (router-id:VNI, RFC 7432 §7.9) and
    // route target (ASN:VNI).
    let v = ds[0].vnis();
    let rows: Vec<(u32, &str, &[String])> = v
        .vnis
        .iter()
        .map(|x| (x.vni, x.rd.as_str(), x.export_route_targets.as_slice()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (100, "198.19.0.1:100", &["65000:100".to_string()][..]),
            (200, "198.19.0.1:200", &["65000:200".to_string()][..]),
        ]
    );
    let status = v.status.unwrap();
    assert_eq!(status.vtep, "198.19.0.1");
    assert_eq!(status.dataplane, "memory");
    // A's row for VNI 100: its MAC local; B's and C's three remote; two flood VTEPs.
    assert_eq!(
        (
            v.vnis[0].local_macs,
            v.vnis[0].remote_macs,
            v.vnis[0].flood_vteps
        ),
        (1, 3, 2)
    );

    // MOVE: the MAC of A shows up on C (same IP, as a migrated VM keeps it). C advertises it
    // with sequence 1 (RFC 7432 §15.1); A's route loses and A withdraws it.
    ds[2]
        .attach(endpoint(100, "02:00:00:00:01:01", "192.0.2.11"))
        .unwrap();
    // The first figure: how soon the old owner sees the move (one ListMacs per poll).
    let t = Instant::now();
    wait_until_every(WAIT, Duration::from_millis(1), || {
        ds[0]
            .macs(100)
            .iter()
            .any(|m| m.mac == "02:00:00:00:01:01" && m.location == "198.19.0.3" && m.sequence == 1)
    })
    .expect("A did not see the move");
    eprintln!("MAC move A -> C: seen on A after {:?}", t.elapsed());
    model[0].home = 2;
    model[0].seq = 1;
    wait_converged(&ds, &model, "MAC move A -> C");
    let a_rows = ds[0].macs(100);
    let moved = a_rows
        .iter()
        .find(|m| m.mac == "02:00:00:00:01:01")
        .unwrap();
    assert_eq!(moved.location, "198.19.0.3", "A no longer holds it locally");
    assert!(ds[0].vnis().status.unwrap().moved >= 1);

    // STICKY: a static MAC on A; a claim on B is refused there and moves nothing.
    let mut sticky = endpoint(100, "02:00:00:00:0a:01", "");
    sticky.sticky = true;
    ds[0].attach(sticky).unwrap();
    model.push(Expect {
        vni: 100,
        mac: "02:00:00:00:0a:01",
        ip: "",
        home: 0,
        seq: 0,
    });
    wait_converged(&ds, &model, "sticky MAC on A");
    ds[1]
        .attach(endpoint(100, "02:00:00:00:0a:01", ""))
        .unwrap();
    wait_until(WAIT, || {
        ds[1]
            .macs(100)
            .iter()
            .any(|m| m.mac == "02:00:00:00:0a:01" && m.sticky_conflict)
    })
    .unwrap_or_else(|e| panic!("{e}: B reports no sticky conflict\n{}", ds[1].log_text()));
    assert!(ds[1].vnis().status.unwrap().sticky_conflict >= 1);
    // Give a wrong move time to spread, then check nobody moved it.
    std::thread::sleep(Duration::from_millis(1500));
    converged(&ds, &model).unwrap();
    for d in &ds {
        let row = d
            .macs(100)
            .into_iter()
            .find(|m| m.mac == "02:00:00:00:0a:01")
            .unwrap();
        assert!(row.sticky, "{}: sticky bit lost", d.name);
    }

    // Detach everything, where each endpoint is attached (B's refused claim too).
    ds[1].detach(100, "02:00:00:00:0a:01", "").unwrap();
    ds[0].detach(100, "02:00:00:00:0a:01", "").unwrap();
    // A's original attachment lost to C's: detaching it on A is a harmless no-op.
    ds[0].detach(100, "02:00:00:00:01:01", "").unwrap();
    for e in &model[..5] {
        ds[e.home].detach(e.vni, e.mac, "").unwrap();
    }
    wait_converged(&ds, &[], "everything detached");
    for d in &ds {
        let dp = d.dataplane().unwrap();
        assert!(
            dp.macs.is_empty() && dp.neighbors.is_empty(),
            "{}: leftovers {dp:?}",
            d.name
        );
    }
}

/// Without `[evpn]` the EVPN calls answer FAILED_PRECONDITION; with the `none` data plane,
/// ListDataplane does.
#[test]
fn evpn_calls_without_engine_or_memory_dataplane() {
    let port = free_port("127.0.0.34");
    let base =
        format!("asn = {ASN}\nrouter-id = \"198.19.0.4\"\n[bgp]\nlisten = \"127.0.0.34:{port}\"\n");
    let plain = Daemon::start("evpn-off", &base);
    // Only the daemon's user may use the API socket.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&plain.api).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "API socket mode {mode:o}");
    }
    let e = plain
        .call(|mut c| async move { c.list_vnis(v1::ListVnisRequest::default()).await })
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    let e = plain
        .attach(endpoint(100, "02:00:00:00:00:01", ""))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    drop(plain);

    let port = free_port("127.0.0.34");
    let with_engine = format!(
        "asn = {ASN}\nrouter-id = \"198.19.0.4\"\n[bgp]\nlisten = \"127.0.0.34:{port}\"\n[evpn]\nvtep = \"198.19.0.4\"\n[[vni]]\nvni = 100\n[[endpoint]]\nvni = 100\nmac = \"02:00:00:00:04:01\"\nip = \"192.0.2.41\"\n"
    );
    let d = Daemon::start("evpn-none", &with_engine);
    let e = d.dataplane().unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    // The configured endpoint is attached at startup and originated into the RIB.
    let macs = d.macs(100);
    assert_eq!(macs.len(), 1);
    assert_eq!(
        (macs[0].mac.as_str(), macs[0].location.as_str()),
        ("02:00:00:00:04:01", "local")
    );
    assert_eq!(macs[0].ips, vec!["192.0.2.41".to_string()]);
    let routes = d.evpn_routes();
    let types: BTreeSet<(u32, String)> = routes
        .iter()
        .filter_map(|r| r.evpn.as_ref())
        .map(|e| (e.route_type, e.ip.clone()))
        .collect();
    // Type 3 for the VNI, type 2 for the MAC and for MAC+IP (RFC 7432 §9.1).
    assert_eq!(
        types,
        BTreeSet::from([
            (2, String::new()),
            (2, "192.0.2.41".to_string()),
            (3, String::new())
        ])
    );
    // The EVI's auto-derived import target ASN:VNI is an RT-Constraint membership (RFC 4684).
    let rtc = common::api_routes(&d.api, "ipv4-rtc");
    let prefixes: Vec<&str> = rtc.iter().map(|r| r.prefix.as_str()).collect();
    assert_eq!(prefixes.len(), 1, "{prefixes:?}");
    assert!(prefixes[0].contains("65000:100"), "{prefixes:?}");
}

/// Endpoints attached through the API survive a crash and a restart of the daemon (the
/// endpoint journal in the state directory); a detached one does not come back.
#[test]
fn api_endpoints_survive_a_restart() {
    let port = free_port("127.0.0.37");
    let config = format!(
        "asn = {ASN}\nrouter-id = \"198.19.0.7\"\n[bgp]\nlisten = \"127.0.0.37:{port}\"\n[evpn]\nvtep = \"198.19.0.7\"\n[[vni]]\nvni = 100\n[dataplane]\nkind = \"memory\"\n"
    );
    let mut d = Daemon::start("evpn-journal", &config);
    d.attach(endpoint(100, "02:00:00:00:07:01", "192.0.2.71"))
        .unwrap();
    d.attach(endpoint(100, "02:00:00:00:07:02", "")).unwrap();
    d.call(|mut c| async move {
        c.detach_endpoint(v1::DetachEndpointRequest {
            vni: 100,
            mac: "02:00:00:00:07:02".into(),
            ip: String::new(),
        })
        .await
    })
    .unwrap();
    d.kill(libc::SIGKILL);
    d.spawn();
    let macs = d.macs(100);
    let local: Vec<(&str, &str)> = macs
        .iter()
        .map(|m| (m.mac.as_str(), m.location.as_str()))
        .collect();
    assert_eq!(local, vec![("02:00:00:00:07:01", "local")], "{macs:?}");
    assert_eq!(macs[0].ips, vec!["192.0.2.71".to_string()]);
}

/// Duplicate detection through the daemon (RFC 7432 §15.1): with N = 2 moves, a MAC flapping
/// between two VTEPs is frozen by the router that sees the second move. On A the freeze is
/// permanent and ClearDuplicate ends it; on B it lasts 2 s and the daemon's timer ends it
/// (hold time 60 s: no keepalive wakes the daemon before that).
#[test]
fn duplicate_freeze_ends_by_timer_or_by_clear() {
    let state = TempDir::new("evpn-dup-state").unwrap();
    let ips = ["127.0.0.35", "127.0.0.36"];
    let vteps = ["198.19.0.5", "198.19.0.6"];
    let freeze = ["\"permanent\"", "2"];
    let ports: Vec<u16> = ips.iter().map(|ip| free_port(ip)).collect();
    let ds: Vec<Daemon> = (0..2)
        .map(|i| {
            let j = 1 - i;
            Daemon::start(
                ["dup-a", "dup-b"][i],
                &format!(
                    "asn = {ASN}\nrouter-id = \"{v}\"\n[bgp]\nlisten = \"{ip}:{p}\"\nhold-time = 60\nconnect-retry = 0.2\nstate-dir = \"{dir}\"\n\
                     [[neighbor]]\naddress = \"{oip}\"\nremote-asn = {ASN}\nport = {op}\nlocal-address = \"{ip}\"\n\
                     [evpn]\nvtep = \"{v}\"\ndup-max-moves = 2\ndup-window = 60\ndup-freeze = {f}\n[[vni]]\nvni = 100\n[dataplane]\nkind = \"memory\"\n",
                    v = vteps[i],
                    ip = ips[i],
                    p = ports[i],
                    dir = state.path().display(),
                    oip = ips[j],
                    op = ports[j],
                    f = freeze[i],
                ),
            )
        })
        .collect();
    wait_until(WAIT, || ds.iter().all(Daemon::all_established)).expect("session not up");
    let row = |d: &Daemon, mac: &str| d.macs(100).into_iter().find(|m| m.mac == mac);
    let frozen =
        |d: &Daemon, mac: &str| row(d, mac).is_some_and(|m| m.duplicate.is_some_and(|x| x.frozen));
    // Attach `mac` on daemon `i` and wait until the other one sees it there.
    let attach_on = |i: usize, mac: &str| {
        ds[i].attach(endpoint(100, mac, "")).unwrap();
        let j = 1 - i;
        wait_until(WAIT, || {
            row(&ds[j], mac).is_some_and(|m| m.location == vteps[i]) || frozen(&ds[i], mac)
        })
        .unwrap_or_else(|e| panic!("{e}: {mac} not seen at {}", vteps[i]));
    };

    // M1 flaps A -> B -> A: A's second move freezes it, permanently.
    let m1 = "02:00:00:00:05:01";
    attach_on(0, m1);
    attach_on(1, m1);
    attach_on(0, m1);
    wait_until(WAIT, || frozen(&ds[0], m1)).unwrap_or_else(|e| {
        panic!(
            "{e}: A did not freeze {m1}: {:?}\n{}",
            row(&ds[0], m1),
            ds[0].log_text()
        )
    });
    let r = row(&ds[0], m1).unwrap();
    assert!(r.duplicate.unwrap().permanent, "{r:?}");
    let v = ds[0].vnis();
    assert!(v.status.unwrap().duplicate >= 1);
    assert!(v.vnis[0].duplicates >= 1);
    // The operator's view of it: `evpnctl show duplicates`.
    let listed = ds[0].evpnctl(&["show", "duplicates", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "mac" && e["mac"] == m1)
        .unwrap_or_else(|| panic!("{m1} not in show duplicates: {listed}"));
    assert_eq!(entry["vni"], 100);
    assert_eq!(entry["duplicate"]["permanent"], true, "{entry}");
    let table = ds[0].evpnctl(&["show", "duplicates"]);
    assert!(
        table.contains(m1) && table.contains("until cleared"),
        "{table}"
    );
    let clear = |d: &Daemon, mac: &str| {
        let req = v1::ClearDuplicateRequest {
            vni: 100,
            mac: mac.into(),
            ip: String::new(),
        };
        d.call(|mut c| async move { c.clear_duplicate(req).await })
            .unwrap()
            .cleared
    };
    assert_eq!(clear(&ds[0], m1), 1);
    assert!(!frozen(&ds[0], m1), "{:?}", row(&ds[0], m1));
    assert!(ds[0].vnis().status.unwrap().unfrozen >= 1);
    assert_eq!(clear(&ds[0], m1), 0, "nothing left to clear");

    // M2 flaps B -> A -> B: B freezes it for 2 s and its timer ends the freeze.
    let m2 = "02:00:00:00:05:02";
    attach_on(1, m2);
    attach_on(0, m2);
    attach_on(1, m2);
    wait_until(WAIT, || frozen(&ds[1], m2)).unwrap_or_else(|e| {
        panic!(
            "{e}: B did not freeze {m2}: {:?}\n{}",
            row(&ds[1], m2),
            ds[1].log_text()
        )
    });
    let d = row(&ds[1], m2).unwrap().duplicate.unwrap();
    assert!(!d.permanent && (1..=2).contains(&d.seconds_left), "{d:?}");
    let t = Instant::now();
    wait_until(Duration::from_secs(5), || !frozen(&ds[1], m2)).unwrap_or_else(|e| {
        panic!(
            "{e}: the freeze did not expire on time\n{}",
            ds[1].log_text()
        )
    });
    eprintln!("2 s freeze ended after {:?} of waiting", t.elapsed());
    assert!(ds[1].vnis().status.unwrap().unfrozen >= 1);
    for d in &ds {
        dataplane_matches_tables(d).unwrap_or_else(|e| panic!("{}: {e}", d.name));
    }
}
