//! End-to-end tests of evpnctl against a real evpnd over its unix socket: the run-time
//! management commands (`vni`, `neighbor`, `reload`), the paged `show` commands, exit codes
//! (0 done, 1 refused, 2 usage, 3 unreachable), completions, and every JSON output checked
//! against the shapes documented in docs/evpnctl-json.md. The large test lists 100 000 EVPN
//! routes injected over a real BGP session and records the daemon's memory around it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evpnd_lab::process::memory_of;
use evpnd_lab::routes::{encode_announcements, generate, RouteKind};
use evpnd_lab::speaker::{Session, SpeakerConfig, Tracking};
use evpnd_lab::TempDir;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EVPNCTL: &str = env!("CARGO_BIN_EXE_evpnctl");

/// The evpnd binary next to evpnctl, built first when it is not there.
fn evpnd_binary() -> PathBuf {
    let path = Path::new(EVPNCTL).with_file_name("evpnd");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "evpnd"])
            .status()
            .unwrap();
        assert!(status.success(), "cannot build evpnd");
    }
    path
}

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running evpnd, stopped (TERM, by pid) on drop.
struct Daemon {
    child: Child,
    api: String,
    dir: TempDir,
}

impl Daemon {
    fn start(config: &str) -> Daemon {
        let dir = TempDir::new("evpnctl-cli").unwrap();
        let sock = dir.path().join("api.sock");
        let cfg = dir.path().join("evpnd.toml");
        let config = config.replace(
            "[bgp]\n",
            &format!("[bgp]\nstate-dir = \"{}\"\n", dir.path().display()),
        );
        std::fs::write(
            &cfg,
            format!("{config}\n[api]\nlisten = \"unix:{}\"\n", sock.display()),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("evpnd.log")).unwrap();
        let child = Command::new(evpnd_binary())
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            api: format!("unix:{}", sock.display()),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.ctl(&["show", "neighbors"]).code != 0 {
            assert!(
                Instant::now() < deadline,
                "evpnd did not come up: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("evpnd.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Run {
        ctl(&self.api, args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let r = self.ctl(args);
        assert_eq!(r.code, 0, "evpnctl {args:?}: {}", r.stderr);
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("evpnctl {args:?}: not JSON ({e}): {}", r.stdout))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Only our own child, by pid.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ctl(api: &str, args: &[&str]) -> Run {
    let out = Command::new(EVPNCTL)
        .arg("--api")
        .arg(api)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A JSON type as docs/evpnctl-json.md names it.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Num,
    Str,
    Bool,
    Strs,
    Nums,
    Arr,
    Obj,
    NullOr(&'static Kind),
}

fn is(v: &Value, k: Kind) -> bool {
    match k {
        Kind::Num => v.is_u64(),
        Kind::Str => v.is_string(),
        Kind::Bool => v.is_boolean(),
        Kind::Strs => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Kind::Nums => v.as_array().is_some_and(|a| a.iter().all(Value::is_u64)),
        Kind::Arr => v.is_array(),
        Kind::Obj => v.is_object(),
        Kind::NullOr(inner) => v.is_null() || is(v, *inner),
    }
}

/// Asserts `v` is an object with exactly `keys`, each of its documented type.
fn shape(what: &str, v: &Value, keys: &[(&str, Kind)]) {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    let mut want: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    let mut got: Vec<&str> = o.keys().map(String::as_str).collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "{what}: keys of {v}");
    for (k, kind) in keys {
        assert!(is(&o[*k], *kind), "{what}.{k}: not {kind:?}: {}", o[*k]);
    }
}

use Kind::*;

const ENDPOINT: &[(&str, Kind)] = &[
    ("vni", Num),
    ("mac", Str),
    ("ips", Strs),
    ("sticky", Bool),
    ("interface", Str),
    ("origins", Strs),
];
const DUP: &[(&str, Kind)] = &[("frozen", Bool), ("permanent", Bool), ("seconds_left", Num)];
const MAC: &[(&str, Kind)] = &[
    ("vni", Num),
    ("mac", Str),
    ("location", Str),
    ("sequence", Num),
    ("sticky", Bool),
    ("ips", Strs),
    ("moves", Num),
    ("duplicate", Obj),
    ("sticky_conflict", Bool),
    ("age_seconds", Num),
];
const ARP: &[(&str, Kind)] = &[
    ("vni", Num),
    ("ip", Str),
    ("mac", Str),
    ("location", Str),
    ("router", Bool),
    ("immutable", Bool),
    ("duplicate", Obj),
];
const ROUTE: &[(&str, Kind)] = &[
    ("family", Str),
    ("prefix", Str),
    ("evpn", NullOr(&Obj)),
    ("paths", Arr),
];
const PATH: &[(&str, Kind)] = &[
    ("best", Bool),
    ("source", Str),
    ("next_hop", Str),
    ("as_path", Nums),
    ("origin", Str),
    ("local_pref", Num),
    ("med", NullOr(&Num)),
    ("extended_communities", Strs),
    ("originator_id", Str),
    ("cluster_list", Strs),
    ("stale", Bool),
    ("path_id", Num),
    ("pmsi_tunnel", Str),
];
const RELOAD: &[(&str, Kind)] = &[
    ("neighbors_added", Strs),
    ("neighbors_removed", Strs),
    ("neighbors_changed", Strs),
    ("vnis_added", Nums),
    ("vnis_removed", Nums),
    ("vnis_changed", Nums),
    ("vrfs_added", Strs),
    ("vrfs_removed", Strs),
    ("ignored", Strs),
];
const VNI_ADDED: &[(&str, Kind)] = &[
    ("vni", Num),
    ("rd", Str),
    ("import_route_targets", Strs),
    ("export_route_targets", Strs),
];

#[test]
fn management_commands_exit_codes_and_json_shapes() {
    let port = free_port("127.0.0.71");
    let d = Daemon::start(&format!(
        "asn = 65000\nrouter-id = \"198.19.0.71\"\n[bgp]\nlisten = \"127.0.0.71:{port}\"\n[evpn]\nvtep = \"198.19.0.71\"\n[dataplane]\nkind = \"memory\"\n"
    ));
    let v = d.json(&["vni", "add", "100", "--json"]);
    shape("vni add", &v, VNI_ADDED);
    assert_eq!(v["rd"], "198.19.0.71:100");
    let r = d.ctl(&["vni", "add", "100"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("vni:"), "{}", r.stderr);
    assert_eq!(d.ctl(&["vni", "add", "0"]).code, 1);

    for (mac, ip) in [
        ("02:00:00:00:71:01", "192.0.2.71"),
        ("02:00:00:00:71:02", "192.0.2.72"),
    ] {
        let r = d.ctl(&["attach", "--vni", "100", "--mac", mac, "--ip", ip]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let eps = d.json(&["show", "endpoints", "--json"]);
    let eps = eps.as_array().unwrap();
    assert_eq!(eps.len(), 2);
    for e in eps {
        shape("endpoint", e, ENDPOINT);
        assert_eq!(e["origins"], serde_json::json!(["api"]));
    }
    let table = d.ctl(&["show", "endpoints"]);
    assert!(table.stdout.contains("02:00:00:00:71:01") && table.stdout.contains("2 endpoint(s)"));

    // Pages of one entry still make one JSON array.
    let macs = d.json(&["show", "macs", "--json", "--page-size", "1"]);
    assert_eq!(macs.as_array().unwrap().len(), 2);
    for m in macs.as_array().unwrap() {
        shape("mac", m, MAC);
        shape("mac.duplicate", &m["duplicate"], DUP);
    }
    let arp = d.json(&["show", "arp", "--json", "--page-size", "1"]);
    assert_eq!(arp.as_array().unwrap().len(), 2);
    for a in arp.as_array().unwrap() {
        shape("arp", a, ARP);
    }
    let flood = d.json(&["show", "flood", "--json"]);
    shape("flood", &flood[0], &[("vni", Num), ("vteps", Strs)]);
    // Two MACs with an IP each: four type-2 routes and the type-3.
    let evpn = ["show", "routes", "--family", "l2vpn-evpn"];
    let routes = d.json(&[&evpn[..], &["--json", "--page-size", "2"]].concat());
    let routes = routes.as_array().unwrap();
    assert_eq!(routes.len(), 5);
    for r in routes {
        shape("route", r, ROUTE);
        for p in r["paths"].as_array().unwrap() {
            shape("path", p, PATH);
        }
    }
    let t3 = d.json(&[
        "show", "routes", "--json", "--type", "3", "--best", "--peer", "local",
    ]);
    assert_eq!(t3.as_array().unwrap().len(), 1);
    let by_ip = d.json(&["show", "routes", "--json", "--ip", "192.0.2.72"]);
    assert_eq!(by_ip.as_array().unwrap().len(), 1);
    let by_rt = d.json(&["show", "routes", "--json", "--rt", "65000:100"]);
    assert_eq!(by_rt.as_array().unwrap().len(), 5);
    let text = d.ctl(&[&evpn[..], &["--page-size", "2"]].concat());
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.trim_end().ends_with("5 route(s)"),
        "{}",
        text.stdout
    );
    assert_eq!(text.stdout.matches("ROUTE").count(), 1, "one header");

    // Neighbours.
    let add = [
        "neighbor",
        "add",
        "127.0.0.72",
        "--remote-asn",
        "65000",
        "--passive",
    ];
    assert_eq!(d.ctl(&add).code, 0);
    let r = d.ctl(&add);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("address:"), "{}", r.stderr);
    let r = d.ctl(&["neighbor", "reset", "127.0.0.72", "--soft"]);
    assert_eq!(r.code, 1, "not Established: {}", r.stderr);
    assert_eq!(d.ctl(&["neighbor", "reset", "127.0.0.72"]).code, 0);
    let n = d.json(&["show", "neighbors", "--json"]);
    assert_eq!(n[0]["passive"], true);
    assert_eq!(d.ctl(&["neighbor", "del", "127.0.0.72"]).code, 0);
    assert_eq!(d.ctl(&["neighbor", "del", "127.0.0.72"]).code, 1);

    // Reload of the unchanged file: nothing to do.
    let r = d.json(&["reload", "--json"]);
    shape("reload", &r, RELOAD);

    assert_eq!(
        d.ctl(&["detach", "--vni", "100", "--mac", "02:00:00:00:71:01"])
            .code,
        0
    );
    assert_eq!(d.ctl(&["vni", "del", "100"]).code, 0);
    let r = d.ctl(&["vni", "del", "100"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("vni:"), "{}", r.stderr);

    // Usage error, unreachable daemon, completions.
    assert_eq!(ctl(&d.api, &["vni", "add"]).code, 2);
    let gone = ctl("unix:/nonexistent/evpnd.sock", &["show", "vnis"]);
    assert_eq!(gone.code, 3, "{}", gone.stderr);
    for shell in ["bash", "zsh", "fish"] {
        let r = Command::new(EVPNCTL)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(r.status.success());
        assert!(String::from_utf8_lossy(&r.stdout).contains("evpnctl"));
    }
}

const VRF: &[(&str, Kind)] = &[
    ("name", Str),
    ("l3vni", Num),
    ("rd", Str),
    ("import_route_targets", Strs),
    ("export_route_targets", Strs),
    ("router_mac", Str),
    ("advertise_connected", Bool),
    ("advertise", Strs),
    ("routes", Arr),
    ("vnis", Nums),
    ("host_routes", Num),
    ("prefix_routes", Num),
    ("local_routes", Num),
    ("remote_vteps", Num),
];
const DATAPLANE_VRF: &[(&str, Kind)] = &[
    ("vrf", Str),
    ("l3vni", Num),
    ("router_mac", Str),
    ("vnis", Nums),
];

#[test]
fn vrf_commands_exit_codes_and_json_shapes() {
    let port = free_port("127.0.0.73");
    let d = Daemon::start(&format!(
        "asn = 65000\nrouter-id = \"198.19.0.73\"\n[bgp]\nlisten = \"127.0.0.73:{port}\"\n[evpn]\nvtep = \"198.19.0.73\"\n[[vrf]]\nname = \"red\"\nl3vni = 5000\n[[vrf.route]]\nprefix = \"203.0.113.0/24\"\nvia = \"192.0.2.20\"\n[[vni]]\nvni = 100\nvrf = \"red\"\ngateway = [\"192.0.2.254/24\"]\n[dataplane]\nkind = \"memory\"\n"
    ));
    let v = d.json(&[
        "vrf",
        "add",
        "blue",
        "--l3vni",
        "6000",
        "--import-rt",
        "65000:6000",
        "--json",
    ]);
    shape("vrf add", &v, VRF);
    assert_eq!(v["rd"], "198.19.0.73:6000");
    let r = d.ctl(&["vrf", "add", "blue", "--l3vni", "6001"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("name:"), "{}", r.stderr);
    let r = d.ctl(&["vrf", "add", "green"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("l3vni:"), "{}", r.stderr);
    let r = d.ctl(&["vni", "add", "300", "--gateway", "198.51.100.1/24"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("gateway:"), "{}", r.stderr);
    let r = d.ctl(&[
        "vni",
        "add",
        "300",
        "--vrf",
        "blue",
        "--gateway",
        "198.51.100.1/24",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let vrfs = d.json(&["show", "vrfs", "--json", "--page-size", "1"]);
    let vrfs = vrfs.as_array().unwrap();
    assert_eq!(vrfs.len(), 2);
    for v in vrfs {
        shape("vrf", v, VRF);
    }
    let red = vrfs.iter().find(|v| v["name"] == "red").unwrap();
    assert_eq!(
        red["routes"],
        serde_json::json!([{"prefix": "203.0.113.0/24", "via": "192.0.2.20"}])
    );
    let table = d.ctl(&["show", "vrfs"]);
    assert!(table.stdout.contains("2 VRF(s)"), "{}", table.stdout);
    let routes = d.json(&["show", "ip-routes", "--vrf", "red", "--json"]);
    for r in routes.as_array().unwrap() {
        shape(
            "ip-route",
            r,
            &[
                ("vrf", Str),
                ("prefix", Str),
                ("origin", Str),
                ("paths", Arr),
            ],
        );
    }
    assert_eq!(d.ctl(&["show", "ip-routes", "--vrf", "nope"]).code, 1);
    assert_eq!(d.ctl(&["show", "routes", "--vrf", "red"]).code, 0);
    let dp = d.json(&["show", "dataplane", "--json"]);
    let dv = dp["vrfs"].as_array().unwrap();
    assert_eq!(dv.len(), 2);
    for v in dv {
        shape("dataplane vrf", v, DATAPLANE_VRF);
    }
    let r = d.ctl(&["vrf", "del", "blue"]);
    assert_eq!(r.code, 1, "blue still has VNI 300");
    assert!(r.stderr.contains("name:"), "{}", r.stderr);
    assert_eq!(d.ctl(&["vni", "del", "300"]).code, 0);
    assert_eq!(d.ctl(&["vrf", "del", "blue"]).code, 0);
    let r = d.ctl(&["vrf", "del", "blue"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("name:"), "{}", r.stderr);
    assert_eq!(ctl(&d.api, &["vrf", "add"]).code, 2);
}

/// Runs `evpnctl ARGS --json` and reads the array as it streams: one entry per line (a comma
/// after each but the last) between `[` and `]`. Returns the distinct entries by `key`, the
/// bytes read, and the time to the first entry and to the end.
fn stream_json(api: &str, args: &[&str], key: &str) -> (usize, usize, Duration, Duration) {
    use std::io::BufRead;
    let started = Instant::now();
    let mut child = Command::new(EVPNCTL)
        .args(["--api", api])
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "[", "evpnctl {args:?}");
    let mut seen = std::collections::HashSet::new();
    let (mut bytes, mut closed, mut first) = (0usize, false, None);
    for line in lines {
        let line = line.unwrap();
        bytes += line.len() + 1;
        if line == "]" {
            closed = true;
            continue;
        }
        assert!(!closed, "text after the closing bracket: {line}");
        first.get_or_insert_with(|| started.elapsed());
        let item: Value = serde_json::from_str(line.strip_suffix(',').unwrap_or(&line))
            .unwrap_or_else(|e| panic!("bad JSON line ({e}): {line}"));
        let id = format!("{}/{}", item["vni"], item[key]);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&id, &mut h);
        assert!(
            seen.insert(std::hash::Hasher::finish(&h)),
            "listed twice: {id}"
        );
    }
    assert!(child.wait().unwrap().success(), "evpnctl {args:?}");
    assert!(closed, "evpnctl {args:?}: the JSON array was not closed");
    (
        seen.len(),
        bytes,
        first.unwrap_or_default(),
        started.elapsed(),
    )
}

/// 100 000 EVPN type-2 routes (or `EVPNCTL_TEST_ROUTES`) from a raw BGP speaker, imported by
/// the engine into VNI 100, listed through `evpnctl show routes|macs|arp --json`: every entry
/// exactly once, read as it streams out, and the daemon's memory stays what holding the
/// tables costs.
#[test]
fn a_hundred_thousand_routes_list_in_pages_with_bounded_daemon_memory() {
    let count: usize = std::env::var("EVPNCTL_TEST_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let port = free_port("127.0.0.73");
    let d = Daemon::start(&format!(
        "asn = 65000\nrouter-id = \"198.18.0.73\"\n[bgp]\nlisten = \"127.0.0.73:{port}\"\nhold-time = 90\n[[neighbor]]\naddress = \"127.0.0.74\"\nremote-asn = 65000\npassive = true\n[evpn]\nvtep = \"198.18.0.73\"\n[[vni]]\nvni = 100\n[dataplane]\nkind = \"memory\"\n"
    ));
    let mut cfg = SpeakerConfig::evpn(65000, Ipv4Addr::new(198, 18, 0, 74));
    cfg.tracking = Tracking::Off;
    let remote: SocketAddr = format!("127.0.0.73:{port}").parse().unwrap();
    let session = Session::connect(Some("127.0.0.74".parse().unwrap()), remote, &cfg).unwrap();
    let vtep = Ipv4Addr::new(198, 18, 0, 74);
    let started = Instant::now();
    // In slices, so that the test holds only one slice of encoded UPDATEs at a time.
    let routes = generate(RouteKind::MacIp, count, 1, vtep).unwrap();
    for slice in routes.chunks(100_000) {
        let (bytes, _) =
            encode_announcements(session.ctx(), RouteKind::MacIp, slice, vtep, 65000).unwrap();
        session.send_bytes(&bytes).unwrap();
    }
    drop(routes);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let v = d.json(&["show", "vnis", "--json"]);
        let macs = v["vnis"][0]["remote_macs"].as_u64().unwrap_or(0);
        if macs as usize == count {
            break;
        }
        assert!(Instant::now() < deadline, "only {macs} MACs imported");
        std::thread::sleep(Duration::from_millis(200));
    }
    let ingest = started.elapsed();
    let pid = d.child.id();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (rss_start, hwm_start) = memory_of(pid).unwrap();
    println!(
        "{count} routes imported in {:.1} s; daemon RSS {:.1} MiB, peak {:.1} MiB",
        ingest.as_secs_f64(),
        mib(rss_start),
        mib(hwm_start)
    );
    // The generator reuses a /24 of tenant IPs: the ARP/ND table holds one binding per IP.
    let bindings = d.json(&["show", "vnis", "--json"])["vnis"][0]["neighbors"]
        .as_u64()
        .unwrap() as usize;
    assert!(bindings > 0);
    // Type-2 routes plus our own type-3.
    for (args, key, want) in [
        (
            &["show", "routes", "--family", "l2vpn-evpn"][..],
            "prefix",
            count + 1,
        ),
        (&["show", "macs"][..], "mac", count),
        (&["show", "arp"][..], "ip", bindings),
    ] {
        let (rss_before, hwm_before) = memory_of(pid).unwrap();
        let (n, bytes, first, all) = stream_json(&d.api, args, key);
        let (rss_after, hwm_after) = memory_of(pid).unwrap();
        assert_eq!(n, want, "evpnctl {args:?}: every entry exactly once");
        println!(
            "evpnctl {} --json: {n} entries, {bytes} bytes, first after {:.2} s, all after {:.1} s; daemon RSS {:.1} -> {:.1} MiB, peak {:.1} -> {:.1} MiB",
            args.join(" "),
            first.as_secs_f64(),
            all.as_secs_f64(),
            mib(rss_before),
            mib(rss_after),
            mib(hwm_before),
            mib(hwm_after),
        );
        // A page (1000 routes, 10000 MACs) is a few MiB of daemon memory at most; the old
        // unpaged answer was the whole table, several times that.
        assert!(
            hwm_after.saturating_sub(hwm_before) < 16 * 1024 * 1024,
            "evpnctl {args:?} grew the daemon's peak RSS from {hwm_before} to {hwm_after} bytes"
        );
    }
}
