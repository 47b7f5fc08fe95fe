//! The kernel data plane end to end: evpnd with `[dataplane] kind = "linux"` on the hosts of a
//! namespace fabric ([`evpnd_lab::fabric`]), an evpnd route reflector (`kind = "none"`), and
//! tenants in namespaces of their own whose traffic crosses real bridges and VXLAN devices.
//!
//! Layout: host N has the underlay address and VTEP 198.18.0.N (2001:db8::N with an IPv6
//! underlay) and router id 198.19.0.N; the route reflector is node 254. Tenant `tNvV` sits on
//! host N in VNI V behind the host interface `tNvV`, with MAC 02:00:00:0X:0N:01 (X = 1 for VNI
//! 100, 2 for VNI 200) and IP 192.0.2.(10+N) in VNI 100, 198.51.100.(10+N) in VNI 200. evpnd
//! creates `brV` / `vxV` itself; tenants are plugged in through the API (`AttachEndpoint` with
//! the interface), from the configuration (`[[endpoint]]` with `interface`), or by the test
//! (kernel learning).
//!
//! * `fabric_ipv4` / `fabric_ipv6`: three evpnd hosts, VNI 100 on all and VNI 200 on hosts 1
//!   and 2. Every kernel FDB holds exactly the remote MACs (dst = the VTEP of the tenant's host,
//!   `extern_learn`, plus the bridge's `master` entry) and one flood entry per remote VTEP of
//!   the VNI; every pair of tenants of a VNI pings; tenants of different VNIs do not reach each
//!   other even with on-link routes; a broadcast reaches exactly the tenants of its VNI (echo
//!   requests counted in each tenant's /proc/net/snmp: all of them in the VNI, none outside).
//! * `learning`: a tenant port enslaved by the test, no API call: the kernel learns the MAC,
//!   evpnd lists it as local, advertises it, and the other hosts forward to it.
//! * `mixed_with_frr`: host 3 runs FRR 8.4 (zebra + bgpd, advertise-all-vni) instead of evpnd;
//!   tenants ping both ways.
//! * `frr_hosts_through_evpnd_reflector`: the harness's checks against FRR hosts only (the
//!   reference: a check evpnd fails and FRR passes points at evpnd).
//! * `move_and_mobility`: a tenant's interface moves between hosts keeping MAC and IP (attach
//!   through the API on the new host, detach on the old); every FDB follows and the MAC
//!   mobility sequence number grows (RFC 7432 §15). Then 100 moves: time from the attach call
//!   until `bridge monitor fdb` on a third host reports the new VTEP (printed, not asserted).
//! * `restart`: evpnd on host 2 killed with SIGKILL and started again (graceful restart on,
//!   endpoints from the configuration) while a tenant pings across every 10 ms: lost pings are
//!   printed; the fabric converges, without duplicate or stale entries (one MAC withdrawn
//!   while host 2 was down must be swept from its kernel).
//! * `detach_after_traffic`: an endpoint attached through the API that has talked (so the
//!   kernel learned its MAC on the port too) is detached: it must leave evpnd's table, the
//!   other hosts' FDBs and the bridge.
//!
//! Each test builds its fabric once, gates on `require_root_and_tools` and bounds every wait;
//! the tests run one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::netns_daemon::NsDaemon;
use common::{wait_until, wait_until_every, EvpnApi};
use evpnd_api::v1;
use evpnd_lab::fabric::{socket_text, Announcement};
use evpnd_lab::{
    require_root_and_tools, Fabric, FabricOptions, FdbMonitor, Frr, FrrOptions, PingOptions,
    Tenant, TenantSpec, UnderlayFamily,
};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bound on sessions coming up and routes converging.
const WAIT: Duration = Duration::from_secs(30);
/// Our AS (iBGP everywhere, through the route reflector).
const ASN: u32 = 65000;
const TOOLS: &[&str] = &["ip", "bridge", "ping", "sysctl"];
const FRR_TOOLS: &[&str] = &["vtysh", "/usr/lib/frr/bgpd", "/usr/lib/frr/zebra"];

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints how long a test took (visible with `--nocapture`).
struct Timer(&'static str, Instant);

impl Timer {
    fn new(name: &'static str) -> Timer {
        Timer(name, Instant::now())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        eprintln!(
            "linux_fabric {}: {:.1} s",
            self.0,
            self.1.elapsed().as_secs_f64()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tenants and configuration

/// The tenant of host position `pos` in `vni` (see the module documentation).
fn tenant_spec(pos: usize, vni: u32) -> TenantSpec {
    let n = pos + 1;
    let label = format!("t{n}v{vni}");
    let (x, ip) = match vni {
        100 => (1, format!("192.0.2.{}/24", 10 + n)),
        200 => (2, format!("198.51.100.{}/24", 10 + n)),
        other => panic!("no tenant addressing for VNI {other}"),
    };
    TenantSpec::new(
        &label,
        pos,
        vni,
        &format!("02:00:00:0{x}:0{n}:01"),
        &ip,
        &label,
    )
}

/// `AttachEndpoint` for `t` with its interface: evpnd plugs the port into the VNI's bridge.
fn attach_request(t: &Tenant) -> v1::AttachEndpointRequest {
    v1::AttachEndpointRequest {
        vni: t.vni(),
        mac: t.mac().into(),
        ip: t.ip().to_string(),
        interface: t.port().into(),
        ..Default::default()
    }
}

/// `[[endpoint]]` for `t` with its interface.
fn endpoint_config(t: &Tenant) -> String {
    format!(
        "[[endpoint]]\nvni = {}\nmac = \"{}\"\nip = \"{}\"\ninterface = \"{}\"\n",
        t.vni(),
        t.mac(),
        t.ip(),
        t.port()
    )
}

/// How the evpnd hosts of a fabric are configured.
#[derive(Clone, Debug, Default)]
struct HostOptions {
    /// Extra lines of `[evpn]`.
    evpn: String,
    /// Extra lines of `[dataplane]`.
    dataplane: String,
    /// Graceful restart on every session (hosts and reflector).
    graceful_restart: bool,
}

fn graceful_restart_lines(on: bool) -> &'static str {
    if on {
        "graceful-restart = true\nrestart-time = 60\n"
    } else {
        ""
    }
}

/// evpnd on host position `pos`: one session to the reflector, `[dataplane] kind = "linux"`,
/// the VNIs `vnis`, and `extra` appended (e.g. `[[endpoint]]` tables).
fn host_config(f: &Fabric, pos: usize, vnis: &[u32], o: &HostOptions, extra: &str) -> String {
    let h = f.host(pos).unwrap();
    let rr = f.route_reflector().unwrap().underlay();
    let mut s = format!(
        "asn = {ASN}\nrouter-id = \"{}\"\n[bgp]\nlisten = \"{}\"\nconnect-retry = 0.5\n\
         [[neighbor]]\naddress = \"{rr}\"\nremote-asn = {ASN}\n{}\
         [evpn]\nvtep = \"{}\"\n{}\n[dataplane]\nkind = \"linux\"\n{}\n",
        h.router_id(),
        socket_text(h.underlay(), 179),
        graceful_restart_lines(o.graceful_restart),
        h.underlay(),
        o.evpn,
        o.dataplane,
    );
    for v in vnis {
        s.push_str(&format!("[[vni]]\nvni = {v}\n"));
    }
    s.push_str(extra);
    s
}

/// The route reflector: evpnd without a data plane, every host a passive client.
fn reflector_config(f: &Fabric, clients: &[usize], graceful_restart: bool) -> String {
    let rr = f.route_reflector().unwrap();
    let mut s = format!(
        "asn = {ASN}\nrouter-id = \"{}\"\n[bgp]\nlisten = \"{}\"\nconnect-retry = 0.5\n",
        rr.router_id(),
        socket_text(rr.underlay(), 179)
    );
    for &c in clients {
        s.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nremote-asn = {ASN}\nroute-reflector-client = true\n\
             passive = true\n{}",
            f.host(c).unwrap().underlay(),
            graceful_restart_lines(graceful_restart)
        ));
    }
    s
}

/// A running fabric. Fields drop in order: the daemons before the namespaces they run in.
struct Running {
    /// evpnd per host position (`None` where another speaker runs).
    hosts: Vec<Option<NsDaemon>>,
    frr: Vec<Frr>,
    rr: NsDaemon,
    fabric: Fabric,
    /// The VNIs of each host position.
    vnis: Vec<Vec<u32>>,
}

impl Running {
    fn evpnd(&self, pos: usize) -> &NsDaemon {
        self.hosts[pos]
            .as_ref()
            .unwrap_or_else(|| panic!("host {} runs no evpnd", pos + 1))
    }

    fn rr_address(&self) -> String {
        self.fabric
            .route_reflector()
            .unwrap()
            .underlay()
            .to_string()
    }

    fn vtep(&self, pos: usize) -> IpAddr {
        self.fabric.host(pos).unwrap().underlay()
    }

    /// Waits until every evpnd host has its session to the reflector.
    fn wait_sessions(&self) {
        let rr = self.rr_address();
        for d in self.hosts.iter().flatten() {
            d.wait_established(&rr, WAIT);
        }
    }

    /// The ends of every daemon's log, for failure messages.
    fn logs(&self) -> String {
        let mut s = String::new();
        for d in self.hosts.iter().flatten().chain([&self.rr]) {
            s.push_str(&format!("--- {}:\n{}\n", d.name, d.log_tail(25)));
            let routes: Vec<String> = d
                .evpn_routes()
                .iter()
                .map(|r| {
                    let p = r.paths.first();
                    format!(
                        "{} via {} from {}",
                        r.prefix,
                        p.map(|p| p.next_hop.as_str()).unwrap_or("-"),
                        p.map(|p| p.source.as_str()).unwrap_or("-")
                    )
                })
                .collect();
            s.push_str(&format!("{} EVPN routes: {routes:#?}\n", d.name));
        }
        for frr in &self.frr {
            s.push_str(&format!("--- frr bgpd:\n{}\n", frr.bgpd_log(15)));
        }
        s
    }

    /// The first way in which the kernel FDBs differ from what the tenants `advertised`
    /// (labels) call for, or `None` when every host is right (see [`fdb_mismatch`]).
    fn fdb_mismatch(&self, advertised: &[&str]) -> Option<String> {
        let evpnd: Vec<bool> = self.hosts.iter().map(Option::is_some).collect();
        fdb_mismatch(&self.fabric, &self.vnis, advertised, &evpnd)
    }

    /// Waits until the FDBs are right for `advertised`, panicking with the difference and the
    /// logs otherwise.
    fn wait_fdb(&self, advertised: &[&str], what: &str) {
        let mut last = None;
        let ok = wait_until(WAIT, || {
            last = self.fdb_mismatch(advertised);
            last.is_none()
        });
        if ok.is_err() {
            panic!(
                "{what}: the kernel FDBs did not converge: {}\n{}",
                last.unwrap_or_default(),
                self.logs()
            );
        }
    }
}

/// Starts the reflector and evpnd on every host position in `evpnd_on` with `vnis[pos]` and the
/// per-host `extra` configuration; other positions get no daemon.
fn start(
    fabric: Fabric,
    vnis: Vec<Vec<u32>>,
    evpnd_on: &[usize],
    o: &HostOptions,
    extra: &[String],
) -> Running {
    let all: Vec<usize> = (0..fabric.hosts().len()).collect();
    let rr = NsDaemon::start(
        fabric.route_reflector().unwrap().ns(),
        "rr",
        &reflector_config(&fabric, &all, o.graceful_restart),
    );
    let hosts = all
        .iter()
        .map(|&pos| {
            evpnd_on.contains(&pos).then(|| {
                let cfg = host_config(
                    &fabric,
                    pos,
                    &vnis[pos],
                    o,
                    extra.get(pos).map(String::as_str).unwrap_or(""),
                );
                NsDaemon::start(
                    fabric.host(pos).unwrap().ns(),
                    &format!("host{}", pos + 1),
                    &cfg,
                )
            })
        })
        .collect();
    Running {
        hosts,
        frr: Vec::new(),
        rr,
        fabric,
        vnis,
    }
}

// ---------------------------------------------------------------------------------------------
// Checks

/// Compares every host's kernel FDB with the tenants `advertised` (labels; each at the host
/// the fabric says it is on now): for each VNI of a host, `vxV` holds exactly one `self
/// extern_learn` entry per remote tenant MAC with dst = the VTEP of the tenant's host (and, on
/// evpnd hosts, the bridge's `master` entry for it), and exactly one flood entry per other host
/// of the VNI. A host without the VNI has no `vxV` or no remote entry on it.
fn fdb_mismatch(
    f: &Fabric,
    vnis: &[Vec<u32>],
    advertised: &[&str],
    check_master: &[bool],
) -> Option<String> {
    let all_vnis: BTreeSet<u32> = vnis.iter().flatten().copied().collect();
    let tenants: Vec<&Tenant> = advertised.iter().map(|l| f.tenant(l).unwrap()).collect();
    for (pos, host) in f.hosts().iter().enumerate() {
        let n = pos + 1;
        for &v in &all_vnis {
            let vx = format!("vx{v}");
            if !vnis[pos].contains(&v) {
                match host.vxlan_fdb(&vx) {
                    Ok(rows) if !rows.is_empty() => {
                        return Some(format!("host {n} has no VNI {v} but {vx} holds {rows:?}"))
                    }
                    _ => continue,
                }
            }
            let rows = match host.fdb(Some(&vx)) {
                Ok(r) => r,
                Err(e) => return Some(format!("host {n}: {e}")),
            };
            let mut got: Vec<(String, IpAddr)> = rows
                .iter()
                .filter(|e| e.is_self() && !e.is_flood())
                .filter_map(|e| e.dst.map(|d| (e.mac.clone(), d)))
                .collect();
            got.sort();
            let mut want: Vec<(String, IpAddr)> = tenants
                .iter()
                .filter(|t| t.vni() == v && t.host() != pos)
                .map(|t| (t.mac().to_string(), f.host(t.host()).unwrap().underlay()))
                .collect();
            want.sort();
            if got != want {
                return Some(format!(
                    "host {n} {vx}: remote MACs {got:?}, expected {want:?}"
                ));
            }
            if let Some(e) = rows.iter().find(|e| {
                e.is_self() && !e.is_flood() && e.dst.is_some() && !e.has_flag("extern_learn")
            }) {
                return Some(format!("host {n} {vx}: remote MAC not extern_learn: {e:?}"));
            }
            let mut flood: Vec<IpAddr> = rows
                .iter()
                .filter(|e| e.is_flood())
                .filter_map(|e| e.dst)
                .collect();
            flood.sort();
            let mut want_flood: Vec<IpAddr> = (0..f.hosts().len())
                .filter(|&q| q != pos && vnis[q].contains(&v))
                .map(|q| f.host(q).unwrap().underlay())
                .collect();
            want_flood.sort();
            if flood != want_flood {
                return Some(format!(
                    "host {n} {vx}: flood entries {flood:?}, expected {want_flood:?}"
                ));
            }
            if check_master.get(pos).copied().unwrap_or(false) {
                let bridge = format!("br{v}");
                for (mac, _) in &want {
                    if !rows
                        .iter()
                        .any(|e| &e.mac == mac && e.master.as_deref() == Some(&bridge))
                    {
                        return Some(format!(
                            "host {n}: no `master {bridge}` entry for remote {mac} on {vx}: {rows:?}"
                        ));
                    }
                }
            }
        }
    }
    None
}

/// Pings (3 replies, 20 ms apart, at most 5 s) between every two tenants of the same VNI
/// among `labels`; returns the failures.
fn ping_all_pairs(f: &Fabric, labels: &[&str]) -> Vec<String> {
    let opts = PingOptions::new(3, Duration::from_millis(20), Duration::from_secs(5));
    let mut failures = Vec::new();
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            let (ta, tb) = (f.tenant(a).unwrap(), f.tenant(b).unwrap());
            if ta.vni() != tb.vni() {
                continue;
            }
            match ta.ping(tb.ip(), &opts) {
                Ok(s) if s.received >= 3 => {}
                other => failures.push(format!("{a} -> {b}: {other:?}")),
            }
        }
    }
    failures
}

/// Pings `to` from `from` until a reply comes (1 s attempts), bounded by `timeout`.
fn ping_until_reply(f: &Fabric, from: &str, to: &str, timeout: Duration) -> bool {
    let (a, b) = (f.tenant(from).unwrap(), f.tenant(to).unwrap());
    let opts = PingOptions::new(1, Duration::from_millis(200), Duration::from_secs(1));
    wait_until_every(timeout, Duration::from_millis(10), || {
        a.ping(b.ip(), &opts).is_ok_and(|s| s.received >= 1)
    })
    .is_ok()
}

/// The subnet broadcast address of a tenant (IPv4).
fn broadcast_of(t: &Tenant) -> IpAddr {
    match t.ip() {
        IpAddr::V4(a) => {
            let host_bits = 32 - u32::from(t.prefix_len());
            let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
            IpAddr::V4((u32::from(a) | !mask).into())
        }
        IpAddr::V6(_) => panic!("no broadcast in IPv6"),
    }
}

/// The three-host layout of the fabric scenario: VNI 100 on every host, VNI 200 on hosts 1
/// and 2, one tenant per host and VNI. Returns the fabric and the tenants' labels.
fn scenario_fabric(family: UnderlayFamily) -> (Fabric, Vec<Vec<u32>>, Vec<String>) {
    let mut fabric = Fabric::new(&FabricOptions::new(3).underlay(family)).unwrap();
    let vnis = vec![vec![100, 200], vec![100, 200], vec![100]];
    let mut labels = Vec::new();
    for (pos, vs) in vnis.iter().enumerate() {
        for &v in vs {
            let t = fabric.add_tenant(&tenant_spec(pos, v)).unwrap();
            labels.push(t.label().to_string());
        }
    }
    (fabric, vnis, labels)
}

/// The fabric scenario of `fabric_ipv4` / `fabric_ipv6`: evpnd on the three hosts, tenants
/// attached through the API.
fn fabric_scenario(family: UnderlayFamily) {
    let (fabric, vnis, labels) = scenario_fabric(family);
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let r = start(fabric, vnis, &[0, 1, 2], &HostOptions::default(), &[]);
    r.wait_sessions();
    for l in &labels {
        let t = r.fabric.tenant(l).unwrap();
        r.evpnd(t.host())
            .attach(attach_request(t))
            .unwrap_or_else(|e| panic!("attach {l}: {e}\n{}", r.logs()));
    }
    check_scenario(&r, &labels);
}

/// The checks of the fabric scenario, whoever runs the hosts: exact FDBs, pings within each
/// VNI, isolation between VNIs, broadcasts confined to their VNI.
fn check_scenario(r: &Running, labels: &[&str]) {
    r.wait_fdb(labels, "all tenants attached");
    let failures = ping_all_pairs(&r.fabric, labels);
    assert!(
        failures.is_empty(),
        "pings failed: {failures:#?}\n{}",
        r.logs()
    );

    // Broadcast: 20 pings to the subnet broadcast address of each VNI, counted as echo
    // requests reaching each tenant's IP stack (background ARP and IPv6 do not count).
    for sender in ["t1v100", "t2v200"] {
        let from = r.fabric.tenant(sender).unwrap();
        let before: Vec<u64> = labels
            .iter()
            .map(|l| {
                r.fabric
                    .tenant(l)
                    .unwrap()
                    .echo_requests_received()
                    .unwrap()
            })
            .collect();
        let mut opts = PingOptions::new(20, Duration::from_millis(10), Duration::from_secs(3));
        opts.broadcast = true;
        let sent = from.ping(broadcast_of(from), &opts).unwrap().transmitted;
        assert_eq!(sent, 20, "{sender}: sent {sent}");
        let mut report = Vec::new();
        let mut wrong = Vec::new();
        for (i, l) in labels.iter().enumerate() {
            if *l == sender {
                continue;
            }
            let t = r.fabric.tenant(l).unwrap();
            let got = t.echo_requests_received().unwrap() - before[i];
            report.push(format!("{l}: {got}"));
            let want = if t.vni() == from.vni() {
                u64::from(sent)
            } else {
                0
            };
            if got != want {
                wrong.push(format!("{l} got {got}, expected {want}"));
            }
        }
        eprintln!(
            "broadcast from {sender} ({sent} sent), received: {}",
            report.join(", ")
        );
        assert!(
            wrong.is_empty(),
            "{sender}'s broadcast: {wrong:?}\n{}",
            r.logs()
        );
    }

    // Isolation: on-link routes to the other VNI's subnet, so that only the data plane stands
    // between the tenants of different VNIs.
    for l in labels {
        let t = r.fabric.tenant(l).unwrap();
        let other = if t.vni() == 100 {
            "198.51.100.0/24"
        } else {
            "192.0.2.0/24"
        };
        t.ns().ip(&["route", "add", other, "dev", "eth0"]).unwrap();
    }
    let cross = [
        ("t1v100", "t1v200"),
        ("t1v100", "t2v200"),
        ("t2v200", "t3v100"),
    ];
    let leaks: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cross
            .iter()
            .map(|(a, b)| {
                let f = &r.fabric;
                s.spawn(move || {
                    let (ta, tb) = (f.tenant(a).unwrap(), f.tenant(b).unwrap());
                    let opts =
                        PingOptions::new(2, Duration::from_millis(100), Duration::from_secs(2));
                    let st = ta.ping(tb.ip(), &opts).unwrap();
                    (st.received > 0).then(|| format!("{a} reached {b}: {st:?}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(leaks.is_empty(), "VNIs leak: {leaks:?}");

    // Nothing changed underneath.
    assert_eq!(r.fdb_mismatch(labels), None);
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn fabric_ipv4() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let _t = Timer::new("fabric_ipv4");
    fabric_scenario(UnderlayFamily::Ipv4);
}

#[test]
fn fabric_ipv6() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let _t = Timer::new("fabric_ipv6");
    fabric_scenario(UnderlayFamily::Ipv6);
}

// ---------------------------------------------------------------------------------------------
// FRR hosts

/// Makes host position `pos` an FRR 8.4 VTEP (LAB-NOTES.md): per VNI a bridge `brV` and a
/// VXLAN device `vxV` (local = the host's VTEP, port 4789, no learning) created before zebra,
/// the host's tenant ports of that VNI plugged in; then zebra and bgpd with an iBGP session to
/// the reflector and `advertise-all-vni` (FRR's automatic RD and RT, 65000:V, match evpnd's).
fn start_frr_host(f: &Fabric, pos: usize, vnis: &[u32]) -> Frr {
    let h = f.host(pos).unwrap();
    let ns = h.ns();
    let local = h.underlay().to_string();
    for v in vnis {
        let (br, vx, id) = (format!("br{v}"), format!("vx{v}"), v.to_string());
        ns.ip(&["link", "add", &br, "type", "bridge"]).unwrap();
        ns.ip(&["link", "set", &br, "up"]).unwrap();
        ns.ip(&[
            "link",
            "add",
            &vx,
            "type",
            "vxlan",
            "id",
            &id,
            "local",
            &local,
            "dstport",
            "4789",
            "nolearning",
        ])
        .unwrap();
        ns.ip(&["link", "set", &vx, "master", &br, "up"]).unwrap();
        for t in f
            .tenants()
            .iter()
            .filter(|t| t.host() == pos && t.vni() == *v)
        {
            ns.ip(&["link", "set", t.port(), "master", &br]).unwrap();
        }
    }
    let n = pos + 1;
    let rr = f.route_reflector().unwrap().underlay();
    let conf = format!(
        "hostname frr{n}\n!\nrouter bgp {ASN}\n bgp router-id {}\n no bgp default ipv4-unicast\n \
         neighbor {rr} remote-as {ASN}\n neighbor {rr} timers connect 1\n \
         address-family l2vpn evpn\n  neighbor {rr} activate\n  advertise-all-vni\n \
         exit-address-family\n!\n",
        h.router_id()
    );
    let frr = Frr::start(
        ns,
        &FrrOptions::with_zebra(format!("hostname frr{n}\n"), conf),
    )
    .unwrap();
    frr.wait_established(&rr.to_string(), WAIT).unwrap();
    frr
}

/// Lets every tenant of an FRR host speak first (zebra learns local MACs from the bridge):
/// each pings a tenant of its VNI elsewhere until a reply comes.
fn frr_tenants_speak(r: &Running, labels: &[&str]) {
    for a in labels {
        let ta = r.fabric.tenant(a).unwrap();
        if r.hosts[ta.host()].is_some() {
            continue;
        }
        let peer = labels
            .iter()
            .find(|b| {
                let tb = r.fabric.tenant(b).unwrap();
                tb.vni() == ta.vni() && tb.host() != ta.host()
            })
            .unwrap();
        assert!(
            ping_until_reply(&r.fabric, a, peer, WAIT),
            "{a} never reached {peer}\n{}",
            r.logs()
        );
    }
}

#[test]
fn frr_hosts_through_evpnd_reflector() {
    if !require_root_and_tools(&[TOOLS, FRR_TOOLS].concat()) {
        return;
    }
    let _g = serial();
    let _t = Timer::new("frr_hosts_through_evpnd_reflector");
    let (fabric, vnis, labels) = scenario_fabric(UnderlayFamily::Ipv4);
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut r = start(fabric, vnis.clone(), &[], &HostOptions::default(), &[]);
    for (pos, vs) in vnis.iter().enumerate() {
        let frr = start_frr_host(&r.fabric, pos, vs);
        r.frr.push(frr);
    }
    frr_tenants_speak(&r, &labels);
    check_scenario(&r, &labels);
}

#[test]
fn mixed_with_frr() {
    if !require_root_and_tools(&[TOOLS, FRR_TOOLS].concat()) {
        return;
    }
    let _g = serial();
    let _t = Timer::new("mixed_with_frr");
    let mut fabric = Fabric::new(&FabricOptions::new(3)).unwrap();
    let labels = ["t1v100", "t2v100", "t3v100"];
    for pos in 0..3 {
        fabric.add_tenant(&tenant_spec(pos, 100)).unwrap();
    }
    let vnis = vec![vec![100], vec![100], vec![100]];
    let mut r = start(fabric, vnis, &[0, 1], &HostOptions::default(), &[]);
    let frr = start_frr_host(&r.fabric, 2, &[100]);
    r.frr.push(frr);
    r.wait_sessions();
    for l in &labels[..2] {
        let t = r.fabric.tenant(l).unwrap();
        r.evpnd(t.host())
            .attach(attach_request(t))
            .unwrap_or_else(|e| panic!("attach {l}: {e}\n{}", r.logs()));
    }
    frr_tenants_speak(&r, &labels);
    r.wait_fdb(&labels, "evpnd and FRR hosts");
    // Both directions: from the FRR tenant, and towards it.
    let failures = ping_all_pairs(&r.fabric, &["t3v100", "t1v100", "t2v100"]);
    assert!(failures.is_empty(), "{failures:#?}\n{}", r.logs());
    let failures = ping_all_pairs(&r.fabric, &labels);
    assert!(failures.is_empty(), "{failures:#?}\n{}", r.logs());
}

// ---------------------------------------------------------------------------------------------
// Learning

#[test]
fn learning() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let _t = Timer::new("learning");
    let mut fabric = Fabric::new(&FabricOptions::new(3)).unwrap();
    let labels = ["t1v100", "t2v100", "t3v100"];
    for pos in 0..3 {
        fabric.add_tenant(&tenant_spec(pos, 100)).unwrap();
    }
    let o = HostOptions {
        dataplane: "learning = true".into(),
        ..Default::default()
    };
    let r = start(fabric, vec![vec![100]; 3], &[0, 1, 2], &o, &[]);
    r.wait_sessions();
    for l in &labels[1..] {
        let t = r.fabric.tenant(l).unwrap();
        r.evpnd(t.host()).attach(attach_request(t)).unwrap();
    }
    // t1v100 is plugged by hand into the bridge evpnd made: no API call, no configuration.
    let h1 = r.fabric.host(0).unwrap();
    if wait_until(WAIT, || h1.has_link("br100")).is_err() {
        panic!("evpnd made no br100 on host 1\n{}", r.logs());
    }
    h1.ns()
        .ip(&["link", "set", "t1v100", "master", "br100"])
        .unwrap();
    let t1 = r.fabric.tenant("t1v100").unwrap();
    assert!(
        ping_until_reply(&r.fabric, "t1v100", "t2v100", WAIT),
        "t1v100 never reached t2v100\n{}",
        r.logs()
    );
    let vtep1 = r.vtep(0).to_string();
    let learned = wait_until(WAIT, || {
        r.evpnd(0)
            .macs(100)
            .iter()
            .any(|m| m.mac == t1.mac() && m.location == "local")
            && r.evpnd(1)
                .macs(100)
                .iter()
                .any(|m| m.mac == t1.mac() && m.location == vtep1)
    });
    assert!(
        learned.is_ok(),
        "{} not learned on host 1 and advertised to host 2: host 1 {:?}, host 2 {:?}\n{}",
        t1.mac(),
        r.evpnd(0).macs(100),
        r.evpnd(1).macs(100),
        r.logs()
    );
    r.wait_fdb(&labels, "a learned MAC");
    let failures = ping_all_pairs(&r.fabric, &["t3v100", "t1v100", "t2v100"]);
    assert!(failures.is_empty(), "{failures:#?}\n{}", r.logs());
}

// ---------------------------------------------------------------------------------------------
// Mobility

/// The highest MAC mobility sequence number (RFC 7432 §7.7) of the type-2 routes for `mac` in
/// `d`'s RIB whose best path has next hop `vtep` ("mac-mobility seq N"; none counts as 0), or
/// `None` when there is no such route.
fn mobility_sequence(d: &NsDaemon, mac: &str, vtep: IpAddr) -> Option<u32> {
    let vtep = vtep.to_string();
    d.evpn_routes()
        .iter()
        .filter(|r| {
            r.evpn
                .as_ref()
                .is_some_and(|e| e.route_type == 2 && e.mac.eq_ignore_ascii_case(mac))
        })
        .filter_map(|r| r.paths.first().filter(|p| p.best && p.next_hop == vtep))
        .map(|p| {
            p.extended_communities
                .iter()
                .find_map(|c| {
                    c.strip_prefix("mac-mobility seq ")
                        .and_then(|x| x.split_whitespace().next())
                        .and_then(|x| x.parse().ok())
                })
                .unwrap_or(0)
        })
        .max()
}

/// Detaches `mac` from the host it left. evpnd may have let it go already (its port left the
/// namespace, or the new host's higher sequence number won, RFC 7432 §15): `NotFound` is fine.
fn detach_moved(d: &NsDaemon, vni: u32, mac: &str) {
    match d.detach(vni, mac, "") {
        Ok(()) => {}
        Err(e) if e.code() == tonic::Code::NotFound => {}
        Err(e) => panic!("{}: detach {mac}: {e}", d.name),
    }
}

/// Percentile `p` (0..=100) of sorted `v`.
fn percentile(v: &[Duration], p: usize) -> Duration {
    let i = (v.len() * p / 100).min(v.len().saturating_sub(1));
    v[i]
}

#[test]
fn move_and_mobility() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let _t = Timer::new("move_and_mobility");
    let mut fabric = Fabric::new(&FabricOptions::new(3)).unwrap();
    for pos in 0..3 {
        fabric.add_tenant(&tenant_spec(pos, 100)).unwrap();
    }
    let labels = ["t1v100", "t2v100", "t3v100"];
    // 100 moves in seconds would freeze the MAC as a duplicate (RFC 7432 §15.1).
    let o = HostOptions {
        evpn: "duplicate-detection = false".into(),
        ..Default::default()
    };
    let mut r = start(fabric, vec![vec![100]; 3], &[0, 1, 2], &o, &[]);
    r.wait_sessions();
    for l in &labels {
        let t = r.fabric.tenant(l).unwrap();
        r.evpnd(t.host()).attach(attach_request(t)).unwrap();
    }
    r.wait_fdb(&labels, "before the move");
    let mover = r.fabric.tenant("t1v100").unwrap();
    let (mac, vni) = (mover.mac().to_string(), mover.vni());
    assert_eq!(ping_all_pairs(&r.fabric, &labels), Vec::<String>::new());
    let seq0 = mobility_sequence(r.evpnd(2), &mac, r.vtep(0)).unwrap_or_else(|| {
        panic!(
            "host 3 has no route for {mac} from host 1: {:#?}",
            r.evpnd(2).evpn_routes()
        )
    });

    // One move, checked in full: attach on host 2 (API, with the interface), detach on host 1,
    // gratuitous ARP from the tenant.
    r.fabric.move_tenant("t1v100", 1).unwrap();
    let mover = r.fabric.tenant("t1v100").unwrap();
    r.evpnd(1).attach(attach_request(mover)).unwrap();
    detach_moved(r.evpnd(0), vni, &mac);
    let how = mover.announce().unwrap();
    eprintln!(
        "move: the tenant announced itself with {}",
        match how {
            Announcement::Arping => "arping -U",
            Announcement::ArpNotify => "the kernel's arp_notify (no arping installed)",
        }
    );
    r.wait_fdb(&labels, "after the move");
    let vtep2 = r.vtep(1);
    let mut seq1 = None;
    let ok = wait_until(WAIT, || {
        seq1 = mobility_sequence(r.evpnd(2), &mac, vtep2);
        seq1.is_some_and(|s| s > seq0)
    });
    assert!(
        ok.is_ok(),
        "host 3: sequence of {mac} via host 2 is {seq1:?}, was {seq0} via host 1"
    );
    let seq1 = seq1.unwrap();
    let m = r.evpnd(2).macs(vni);
    let entry = m
        .iter()
        .find(|e| e.mac == mac)
        .expect("host 3 lists the MAC");
    assert_eq!(entry.location, vtep2.to_string(), "{entry:?}");
    assert_eq!(entry.sequence, seq1, "{entry:?}");
    let failures = ping_all_pairs(&r.fabric, &labels);
    assert!(
        failures.is_empty(),
        "pings after the move: {failures:#?}\n{}",
        r.logs()
    );

    // 100 moves between hosts 1 and 2, timed on host 3.
    let monitor = FdbMonitor::start(r.fabric.host(2).unwrap().ns()).unwrap();
    let mut times = Vec::new();
    let mut here = 1;
    for i in 0..100 {
        let to = 1 - here;
        let new_vtep = r.vtep(to).to_string();
        monitor.drain();
        r.fabric.move_tenant("t1v100", to).unwrap();
        let mover = r.fabric.tenant("t1v100").unwrap();
        let start = Instant::now();
        r.evpnd(to).attach(attach_request(mover)).unwrap();
        detach_moved(r.evpnd(here), vni, &mac);
        let seen = monitor.wait_for(Duration::from_secs(10), |l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.first() == Some(&mac.as_str())
                && w.windows(2).any(|p| p[0] == "dst" && p[1] == new_vtep)
        });
        let (at, _) = seen.unwrap_or_else(|e| {
            panic!(
                "move {i}: host 3 never pointed {mac} at {new_vtep}: {e}\n{}",
                r.logs()
            )
        });
        times.push(at.saturating_duration_since(start));
        // The old host follows too before the next move starts from it.
        let old = r.fabric.host(here).unwrap();
        let followed = wait_until_every(WAIT, Duration::from_millis(5), || {
            old.vxlan_fdb("vx100").is_ok_and(|rows| {
                rows.iter()
                    .any(|e| e.mac == mac && e.dst.map(|d| d.to_string()) == Some(new_vtep.clone()))
            })
        });
        assert!(
            followed.is_ok(),
            "move {i}: host {} did not follow\n{}",
            here + 1,
            r.logs()
        );
        here = to;
    }
    r.wait_fdb(&labels, "after 100 moves");
    let seq = mobility_sequence(r.evpnd(2), &mac, r.vtep(here)).unwrap_or(0);
    assert!(
        seq >= seq1 + 100,
        "sequence {seq} after 100 more moves from {seq1}"
    );
    let failures = ping_all_pairs(&r.fabric, &labels);
    assert!(failures.is_empty(), "pings after 100 moves: {failures:#?}");
    times.sort();
    eprintln!(
        "move: attach on the new host -> FDB of a third host, over {} moves: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (sequence {seq1} -> {seq})",
        times.len(),
        percentile(&times, 50).as_secs_f64() * 1e3,
        percentile(&times, 99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
}

// ---------------------------------------------------------------------------------------------
// Restart

#[test]
fn restart() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let _t = Timer::new("restart");
    let mut fabric = Fabric::new(&FabricOptions::new(2)).unwrap();
    fabric.add_tenant(&tenant_spec(0, 100)).unwrap();
    fabric.add_tenant(&tenant_spec(1, 100)).unwrap();
    // A second tenant on host 1, attached through the API and detached while host 2 is down:
    // host 2's kernel keeps its entry until the restarted evpnd sweeps it.
    let mut extra = tenant_spec(0, 100);
    extra.label = "t1v100b".into();
    extra.port = "t1v100b".into();
    extra.mac = "02:00:00:01:01:02".into();
    extra.address = "192.0.2.21/24".into();
    fabric.add_tenant(&extra).unwrap();
    let endpoints: Vec<String> = ["t1v100", "t2v100"]
        .iter()
        .map(|l| endpoint_config(fabric.tenant(l).unwrap()))
        .collect();
    let o = HostOptions {
        graceful_restart: true,
        ..Default::default()
    };
    let mut r = start(fabric, vec![vec![100]; 2], &[0, 1], &o, &endpoints);
    r.wait_sessions();
    let b = r.fabric.tenant("t1v100b").unwrap();
    r.evpnd(0).attach(attach_request(b)).unwrap();
    let all = ["t1v100", "t2v100", "t1v100b"];
    r.wait_fdb(&all, "before the restart");
    // t1v100b stays silent: traffic would make it a kernel-learned MAC as well, which a
    // detach does not remove (see `detach_after_traffic`).
    assert_eq!(
        ping_all_pairs(&r.fabric, &["t1v100", "t2v100"]),
        Vec::<String>::new()
    );

    let (t1, t2) = (
        r.fabric.tenant("t1v100").unwrap(),
        r.fabric.tenant("t2v100").unwrap(),
    );
    let ping = t1
        .ping_in_background(
            t2.ip(),
            &PingOptions::new(600, Duration::from_millis(10), Duration::from_secs(20)),
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let killed = Instant::now();
    r.hosts[1].as_mut().unwrap().kill_hard();
    r.evpnd(0).detach(100, "02:00:00:01:01:02", "").unwrap();
    r.hosts[1].as_mut().unwrap().spawn();
    let api_back = killed.elapsed();
    r.evpnd(1).wait_established(&r.rr_address(), WAIT);
    let established = killed.elapsed();
    r.wait_fdb(&["t1v100", "t2v100"], "after the restart");
    let converged = killed.elapsed();
    let st = ping.finish().unwrap();
    eprintln!(
        "restart: API back after {:.2} s, session after {:.2} s, FDBs right after {:.2} s; \
         pings every 10 ms across: {} sent, {} lost",
        api_back.as_secs_f64(),
        established.as_secs_f64(),
        converged.as_secs_f64(),
        st.transmitted,
        st.lost()
    );
    let macs = r.evpnd(1).macs(100);
    assert!(
        macs.iter()
            .any(|m| m.mac == t2.mac() && m.location == "local"),
        "host 2 lost its endpoint: {macs:?}"
    );
    assert_eq!(
        ping_all_pairs(&r.fabric, &["t1v100", "t2v100"]),
        Vec::<String>::new()
    );
    // Still right a moment later (no late sweep of live entries, no late duplicates).
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(r.fdb_mismatch(&["t1v100", "t2v100"]), None, "{}", r.logs());
}

// ---------------------------------------------------------------------------------------------
// Detach

/// A tenant attached through the API talks (so the kernel also learns its MAC on the port,
/// learning being on by default), then is detached: the MAC must leave evpnd's table and the
/// other host's FDB, and the port its bridge (the API's "released on detach").
#[test]
fn detach_after_traffic() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let _t = Timer::new("detach_after_traffic");
    let mut fabric = Fabric::new(&FabricOptions::new(2)).unwrap();
    fabric.add_tenant(&tenant_spec(0, 100)).unwrap();
    fabric.add_tenant(&tenant_spec(1, 100)).unwrap();
    let labels = ["t1v100", "t2v100"];
    let r = start(
        fabric,
        vec![vec![100]; 2],
        &[0, 1],
        &HostOptions::default(),
        &[],
    );
    r.wait_sessions();
    for l in &labels {
        let t = r.fabric.tenant(l).unwrap();
        r.evpnd(t.host()).attach(attach_request(t)).unwrap();
    }
    r.wait_fdb(&labels, "attached");
    assert_eq!(ping_all_pairs(&r.fabric, &labels), Vec::<String>::new());
    let t1 = r.fabric.tenant("t1v100").unwrap();
    r.evpnd(0).detach(100, t1.mac(), "").unwrap();
    let h1 = r.fabric.host(0).unwrap();
    let gone = wait_until(Duration::from_secs(5), || {
        r.fdb_mismatch(&["t2v100"]).is_none()
            && !r.evpnd(0).macs(100).iter().any(|m| m.mac == t1.mac())
    });
    assert!(
        gone.is_ok(),
        "{} still there after DetachEndpoint: host 1 lists {:?}; FDB: {:?}; port: {}\n{}",
        t1.mac(),
        r.evpnd(0)
            .macs(100)
            .iter()
            .map(|m| (m.mac.clone(), m.location.clone()))
            .collect::<Vec<_>>(),
        r.fdb_mismatch(&["t2v100"]),
        h1.ns()
            .ip(&["-o", "link", "show", "dev", "t1v100"])
            .unwrap_or_default(),
        r.logs()
    );
    let port = h1
        .ns()
        .ip(&["-o", "link", "show", "dev", "t1v100"])
        .unwrap();
    assert!(!port.contains("master br100"), "port still plugged: {port}");
}
