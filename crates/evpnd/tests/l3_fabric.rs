//! Layer 3 end to end (issue 11): evpnd with the Linux data plane in its namespace-per-VRF
//! model on the hosts of a namespace fabric, an evpnd route reflector, and dual-stack tenants
//! in namespaces of their own routed by the hosts' distributed anycast gateway.
//!
//! Layout (`evpnd_lab::fabric::l3`): host N has the underlay address and VTEP 198.18.0.N and
//! router id 198.19.0.N; the reflector is node 254. Each host's tenant VRF `V` lives in the
//! namespace `<host namespace>-V`, which the test creates before evpnd starts and deletes at
//! the end (the fabric owns it). Tenant `tNvV` sits on host N in VNI V with MAC
//! 02:00:00:0X:0N:01 and addresses:
//!
//! | VNI | VRF (tests) | IPv4 | IPv6 | anycast gateway |
//! |---|---|---|---|---|
//! | 100 | red  | 192.0.2.(10+N)/24    | 2001:db8:100::(10+N)/64 | 192.0.2.254, 2001:db8:100::1 |
//! | 200 | red  | 198.51.100.(10+N)/24 | 2001:db8:200::(10+N)/64 | 198.51.100.254, 2001:db8:200::1 |
//! | 300 | blue | as VNI 100           | as VNI 100              | as VNI 100 |
//!
//! Tests (each builds its fabric, gates on `require_root_and_tools`, bounds every wait and
//! asserts on real pings and the kernel's tables, never on expected values alone):
//!
//! * `symmetric_irb_routes_between_subnets_over_the_l3vni`: VRF red (L3VNI 5000) with VNI 100
//!   on hosts 1–2 and VNI 200 on host 3 only: tenants of host 1 and host 3 ping each other
//!   (IPv4 and IPv6, RFC 9135 §5), bridged pings in VNI 100 still work; host 1's VRF routes
//!   host 3's tenant through the L3VNI's devices and vice versa.
//! * `vrfs_with_the_same_addresses_stay_isolated`: VRF blue (L3VNI 5001) reuses 192.0.2.0/24
//!   on VNI 300 on hosts 1–2: each tenant reaches exactly its own VRF (echo requests counted
//!   at both candidate receivers), and blue has no route to red's subnet on host 3.
//! * `asymmetric_irb_routes_without_an_l3vni`: `irb = "asymmetric"`, VNIs 100 and 200 on both
//!   hosts, routed pings both ways (RFC 9135 §6); no VXLAN device other than the L2VNIs'
//!   exists in the VRF, the remote tenant is reached over its subnet's gateway interface with
//!   an ARP/ND entry evpnd installed from the MAC/IP route.
//! * `anycast_gateway_is_the_same_everywhere_and_survives_a_move`: every tenant resolves its
//!   gateway to the same MAC on every host (RFC 9135 §4, the distributed anycast gateway), the
//!   hosts' gateway interfaces carry it; a tenant that moves host (attach on the new host,
//!   detach on the old, as the demo does) keeps pinging across subnets with its gateway entry
//!   unchanged and without broadcasting an ARP request or a multicast neighbour solicitation
//!   for its gateway (captured on the tenant's interface and decoded with tshark).
//! * `type5_prefixes_and_gw_ip_overlay_index`: host 3 routes 203.0.113.0/24 to a tenant router
//!   (`[[vrf.route]]`), advertised as a type-5 route (RFC 9136): every red tenant pings
//!   203.0.113.1 behind it; a GoBGP client of the reflector originates 203.0.113.128/25 with a
//!   GW-IP overlay index equal to a red tenant's IP (RFC 9136 §3.2): every host installs it
//!   through that tenant's host route, a tenant elsewhere pings the address behind it, and the
//!   route goes from every VRF when the tenant's type-2 route goes (detach).
//!
//! A daemon that refuses the layer-3 configuration fails its test at start-up with
//! [`common::l3::NEEDS_LAYER3`] and evpnd's own error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kernel_fabric::{Running, WAIT};
use common::l3::*;
use evpnd_lab::fabric::l3::{routed_tenant_spec, Irb, L3Host, PingCase, VrfSpec};
use evpnd_lab::{
    require_root_and_tools, Capture, EvpnPrefix, Fabric, FabricOptions, Gobgp, PingOptions,
};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &["ip", "bridge", "ping", "sysctl"];

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints how long a test took (visible with `--nocapture`).
struct Timer(&'static str, Instant);

impl Drop for Timer {
    fn drop(&mut self) {
        eprintln!(
            "l3_fabric {}: {:.1} s",
            self.0,
            self.1.elapsed().as_secs_f64()
        );
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A fabric of `hosts` hosts (and the reflector) with the routed tenants `(pos, vni)`.
fn fabric_with(hosts: u8, tenants: &[(usize, u32)]) -> Fabric {
    let mut f = Fabric::new(&FabricOptions::new(hosts)).unwrap();
    for &(pos, vni) in tenants {
        f.add_tenant(&routed_tenant_spec(pos, vni).unwrap())
            .unwrap();
    }
    f
}

/// Host layout of the symmetric tests: VRF red (L3VNI 5000) with VNI 100 on hosts 1–2 and
/// VNI 200 on host 3.
fn red_symmetric() -> Vec<L3Host> {
    let red = VrfSpec::new("red", Some(5000));
    vec![
        L3Host::new(Irb::Symmetric)
            .vrf(red.clone())
            .routed(100, "red")
            .unwrap(),
        L3Host::new(Irb::Symmetric)
            .vrf(red.clone())
            .routed(100, "red")
            .unwrap(),
        L3Host::new(Irb::Symmetric)
            .vrf(red)
            .routed(200, "red")
            .unwrap(),
    ]
}

/// Every ping case from `from` to every address of each of `to`, expecting `reach`.
fn cases(r: &Running, from: &str, to: &[&str], reach: bool) -> Vec<PingCase> {
    to.iter()
        .flat_map(|t| PingCase::tenants(&r.fabric, from, t, reach).unwrap())
        .collect()
}

/// Checks that on host `pos` the best route of VRF `vrf` to every address of tenant `to`
/// leaves through the devices of `l3vni` (its VXLAN device or that device's bridge).
fn assert_routed_over_l3vni(r: &Running, pos: usize, vrf: &str, l3vni: u32, to: &str) {
    let t = r.fabric.tenant(to).unwrap();
    for addr in t.addresses() {
        let mut last = None;
        wait_vrf(
            r,
            pos,
            vrf,
            &format!("route to {to} ({addr}) over L3VNI {l3vni}"),
            |n| {
                let devices = vni_devices(n, vrf, l3vni);
                last = best_route(n, vrf, addr);
                !devices.is_empty()
                    && last.as_ref().is_some_and(|route| {
                        route
                            .paths()
                            .iter()
                            .all(|(_, dev)| dev.as_ref().is_some_and(|d| devices.contains(d)))
                    })
            },
        );
    }
}

#[test]
fn symmetric_irb_routes_between_subnets_over_the_l3vni() {
    let _g = serial();
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _t = Timer("symmetric", Instant::now());
    let f = fabric_with(3, &[(0, 100), (1, 100), (2, 200)]);
    let r = start_l3(f, &red_symmetric(), "");
    r.wait_sessions();
    attach_all(&r, &["t1v100", "t2v100", "t3v200"]);

    let mut c = cases(&r, "t1v100", &["t3v200", "t2v100"], true);
    c.extend(cases(&r, "t3v200", &["t1v100", "t2v100"], true));
    c.extend(cases(&r, "t2v100", &["t1v100"], true));
    assert_matrix(&r, "symmetric IRB", &c, &["red"]);

    // Routed over the L3VNI (host 3 has no VNI 100, hosts 1-2 no VNI 200): each host's route
    // to the other subnet's tenant leaves through the L3VNI's devices.
    assert_routed_over_l3vni(&r, 0, "red", 5000, "t3v200");
    assert_routed_over_l3vni(&r, 1, "red", 5000, "t3v200");
    assert_routed_over_l3vni(&r, 2, "red", 5000, "t1v100");
    assert_routed_over_l3vni(&r, 2, "red", 5000, "t2v100");
    // Host 3 has no VNI 100 and hosts 1-2 no VNI 200 in the kernel.
    let h3 = r.fabric.host(2).unwrap();
    assert!(
        vxlan_of(h3, "red", 100).is_none(),
        "{}",
        vrf_dump(&r.fabric, &["red"])
    );
    assert!(vxlan_of(r.fabric.host(0).unwrap(), "red", 200).is_none());
    // Bridged within VNI 100: host 1's VXLAN device of VNI 100 sends t2v100's MAC to host 2.
    let t2 = r.fabric.tenant("t2v100").unwrap();
    let vtep2 = r.vtep(1);
    wait_vrf(
        &r,
        0,
        "red",
        "t2v100's MAC on VNI 100's VXLAN device towards host 2",
        |n| {
            vxlan_of(n, "red", 100).is_some_and(|vx| {
                n.vrf_fdb("red", Some(&vx.name)).is_ok_and(|rows| {
                    rows.iter()
                        .any(|e| e.mac == t2.mac() && e.dst == Some(vtep2) && e.is_self())
                })
            })
        },
    );
}

#[test]
fn vrfs_with_the_same_addresses_stay_isolated() {
    let _g = serial();
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _t = Timer("isolation", Instant::now());
    let f = fabric_with(3, &[(0, 100), (1, 100), (2, 200), (0, 300), (1, 300)]);
    let mut hosts = red_symmetric();
    for h in hosts.iter_mut().take(2) {
        *h = h
            .clone()
            .vrf(VrfSpec::new("blue", Some(5001)))
            .routed(300, "blue")
            .unwrap();
    }
    let r = start_l3(f, &hosts, "");
    r.wait_sessions();
    let all = ["t1v100", "t2v100", "t3v200", "t1v300", "t2v300"];
    attach_all(&r, &all);

    let mut c = cases(&r, "t1v100", &["t3v200", "t2v100"], true);
    c.extend(cases(&r, "t1v300", &["t2v300"], true));
    c.extend(cases(&r, "t1v300", &["t3v200"], false));
    c.extend(cases(&r, "t2v300", &["t3v200"], false));
    assert_matrix(&r, "isolation", &c, &["red", "blue"]);

    // The same address answers in each VRF from that VRF's tenant only: count the echo
    // requests reaching both tenants that hold the address.
    for (from, own, other) in [
        ("t1v300", "t2v300", "t2v100"),
        ("t1v100", "t2v100", "t2v300"),
        ("t3v200", "t1v100", "t1v300"),
    ] {
        let (own_t, other_t) = (
            r.fabric.tenant(own).unwrap(),
            r.fabric.tenant(other).unwrap(),
        );
        assert_eq!(own_t.ip(), other_t.ip());
        let before = (
            own_t.echo_requests_received().unwrap(),
            other_t.echo_requests_received().unwrap(),
        );
        let opts = PingOptions::new(5, Duration::from_millis(20), Duration::from_secs(3));
        let st = r
            .fabric
            .tenant(from)
            .unwrap()
            .ping(own_t.ip(), &opts)
            .unwrap();
        assert_eq!(st.received, 5, "{from} -> {} ({own}): {st:?}", own_t.ip());
        let after = (
            own_t.echo_requests_received().unwrap(),
            other_t.echo_requests_received().unwrap(),
        );
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (5, 0),
            "{from} -> {}: echo requests at {own} and {other}",
            own_t.ip()
        );
    }

    // Blue knows nothing of red's VNI 200 subnet; red's and blue's L3VNIs are apart.
    for pos in [0, 1] {
        let n = r.fabric.host(pos).unwrap();
        for addr in r.fabric.tenant("t3v200").unwrap().addresses() {
            let route = best_route(n, "blue", addr);
            assert!(
                route
                    .as_ref()
                    .is_none_or(|x| x.dst == "default" && x.kind != "unicast"),
                "host {} VRF blue routes {addr}: {route:?}\n{}",
                pos + 1,
                vrf_dump(&r.fabric, &["blue"])
            );
        }
        assert!(vxlan_of(n, "blue", 5000).is_none() && vxlan_of(n, "red", 5001).is_none());
        assert!(
            vxlan_of(n, "blue", 5001).is_some(),
            "{}",
            vrf_dump(&r.fabric, &["blue"])
        );
    }
}

#[test]
fn asymmetric_irb_routes_without_an_l3vni() {
    let _g = serial();
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _t = Timer("asymmetric", Instant::now());
    let f = fabric_with(2, &[(0, 100), (1, 200)]);
    let host = L3Host::new(Irb::Asymmetric)
        .vrf(VrfSpec::new("red", None))
        .routed(100, "red")
        .unwrap()
        .routed(200, "red")
        .unwrap();
    let r = start_l3(f, &[host.clone(), host], "");
    r.wait_sessions();
    attach_all(&r, &["t1v100", "t2v200"]);
    let mut c = cases(&r, "t1v100", &["t2v200"], true);
    c.extend(cases(&r, "t2v200", &["t1v100"], true));
    assert_matrix(&r, "asymmetric IRB", &c, &["red"]);

    for (pos, remote, vni) in [(0, "t2v200", 200u32), (1, "t1v100", 100)] {
        let n = r.fabric.host(pos).unwrap();
        let t = r.fabric.tenant(remote).unwrap();
        // Only the L2VNIs have VXLAN devices in the VRF: no L3VNI.
        let links = n.vrf_links("red").unwrap();
        let vnis: Vec<Option<u32>> = links
            .iter()
            .filter(|l| l.kind.as_deref() == Some("vxlan"))
            .map(|l| l.vni)
            .collect();
        assert!(
            !vnis.is_empty() && vnis.iter().all(|v| matches!(v, Some(100) | Some(200))),
            "host {}: VXLAN devices in VRF red with VNIs {vnis:?}",
            pos + 1
        );
        for addr in t.addresses() {
            let gw = if addr.is_ipv4() {
                t.gateways()[0]
            } else {
                t.gateways()[1]
            };
            let gw_link = gateway_link(n, "red", gw)
                .unwrap_or_else(|| panic!("host {}: no interface holds {gw}", pos + 1));
            // Routed at the ingress into the destination subnet: the connected route of the
            // subnet, through its gateway interface, and the remote tenant's ARP/ND entry on
            // it (installed from its MAC/IP route).
            let route = best_route(n, "red", addr);
            assert!(
                route.as_ref().is_some_and(
                    |x| x.gateway.is_none() && x.dev.as_deref() == Some(gw_link.name.as_str())
                ),
                "host {}: route to {remote} {addr}: {route:?} (gateway interface {})\n{}",
                pos + 1,
                gw_link.name,
                vrf_dump(&r.fabric, &["red"])
            );
            wait_vrf(
                &r,
                pos,
                "red",
                &format!("neighbour {addr} -> {}", t.mac()),
                |n| {
                    n.vrf_neighbors("red", Some(&gw_link.name))
                        .is_ok_and(|rows| {
                            rows.iter()
                                .any(|e| e.ip == addr && e.mac.as_deref() == Some(t.mac()))
                        })
                },
            );
        }
        // The remote MAC is bridged over its L2VNI to the other host's VTEP.
        let vx = vxlan_of(n, "red", vni).unwrap();
        let rows = n.vrf_fdb("red", Some(&vx.name)).unwrap();
        let vtep = r.vtep(t.host());
        assert!(
            rows.iter()
                .any(|e| e.mac == t.mac() && e.dst == Some(vtep) && e.is_self()),
            "host {}: {}: {rows:?}",
            pos + 1,
            vx.name
        );
    }
}

/// The gateway entries of tenant `label`'s neighbour table: (gateway, MAC, states).
fn gateway_entries(r: &Running, label: &str) -> Vec<(IpAddr, Option<String>, Vec<String>)> {
    let t = r.fabric.tenant(label).unwrap();
    t.gateways()
        .iter()
        .map(|gw| {
            let e = t.neighbor(*gw).unwrap();
            (
                *gw,
                e.as_ref().and_then(|e| e.mac.clone()),
                e.map(|e| e.states).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn anycast_gateway_is_the_same_everywhere_and_survives_a_move() {
    let _g = serial();
    if !require_root_and_tools(&[TOOLS, &["tshark"]].concat()) {
        return;
    }
    let _t = Timer("anycast gateway", Instant::now());
    let f = fabric_with(3, &[(0, 100), (1, 100), (2, 200)]);
    let mut r = start_l3(f, &red_symmetric(), "");
    r.wait_sessions();
    let all = ["t1v100", "t2v100", "t3v200"];
    attach_all(&r, &all);
    let mut c = cases(&r, "t1v100", &["t3v200"], true);
    c.extend(cases(&r, "t2v100", &["t3v200"], true));
    c.extend(cases(&r, "t3v200", &["t1v100"], true));
    assert_matrix(&r, "anycast gateway, before the move", &c, &["red"]);

    // Every tenant resolved its gateways, all to one MAC, which the hosts' gateway
    // interfaces carry.
    let mut macs = Vec::new();
    for l in all {
        for (gw, mac, states) in gateway_entries(&r, l) {
            let mac = mac.unwrap_or_else(|| panic!("{l}: gateway {gw} unresolved ({states:?})"));
            macs.push((l, gw, mac));
        }
    }
    let anycast = macs[0].2.clone();
    assert!(
        macs.iter().all(|(_, _, m)| *m == anycast),
        "gateway MACs differ between tenants/hosts: {macs:?}"
    );
    for (pos, gws) in [
        (0, ["192.0.2.254", "2001:db8:100::1"]),
        (1, ["192.0.2.254", "2001:db8:100::1"]),
        (2, ["198.51.100.254", "2001:db8:200::1"]),
    ] {
        let n = r.fabric.host(pos).unwrap();
        for gw in gws {
            let link = gateway_link(n, "red", ip(gw)).unwrap_or_else(|| {
                panic!(
                    "host {}: no interface holds {gw}\n{}",
                    pos + 1,
                    vrf_dump(&r.fabric, &["red"])
                )
            });
            assert_eq!(
                link.mac.as_deref(),
                Some(anycast.as_str()),
                "host {} {gw}: {link:?}",
                pos + 1
            );
        }
    }

    // t1v100 moves from host 1 to host 2 while pinging t3v200 across subnets; its interface
    // is captured for ARP and ND throughout.
    // The veth's carrier drops while its port changes namespace; a live-migrated VM keeps
    // its neighbour table through that, so the tenant does too.
    r.fabric
        .tenant("t1v100")
        .unwrap()
        .keep_neighbors_on_carrier_loss()
        .unwrap();
    let before = gateway_entries(&r, "t1v100");
    let dir = evpnd_lab::TempDir::new("l3-anycast").unwrap();
    let pcap = dir.path().join("t1v100.pcapng");
    let mover_ns_name = r.fabric.tenant("t1v100").unwrap().ns().name().to_string();
    let cap = {
        let t = r.fabric.tenant("t1v100").unwrap();
        Capture::start_with_filter(t.ns(), "eth0", "arp or icmp6", &pcap).unwrap()
    };
    let target = r.fabric.tenant("t3v200").unwrap().ip();
    let background = r
        .fabric
        .tenant("t1v100")
        .unwrap()
        .ping_in_background(
            target,
            &PingOptions::new(200, Duration::from_millis(20), Duration::from_secs(8)),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    r.fabric.move_tenant("t1v100", 1).unwrap();
    let moved_at = Instant::now();
    {
        let t = r.fabric.tenant("t1v100").unwrap();
        for req in evpnd_lab::fabric::l3::attach_requests(t) {
            common::EvpnApi::attach(r.evpnd(1), req)
                .unwrap_or_else(|e| panic!("attach t1v100 on host 2: {e}\n{}", r.logs()));
        }
    }
    detach(&r, "t1v100", 0);
    let mut c = cases(&r, "t1v100", &["t3v200"], true);
    c.extend(cases(&r, "t3v200", &["t1v100"], true));
    assert_matrix(&r, "anycast gateway, after the move", &c, &["red"]);
    let bg = background.finish().unwrap();
    eprintln!(
        "t1v100 -> t3v200 during the move: {}/{} replies ({:.1} s after the move)",
        bg.received,
        bg.transmitted,
        moved_at.elapsed().as_secs_f64()
    );
    assert!(bg.received > 0, "no reply at all during the move: {bg:?}");
    let after = gateway_entries(&r, "t1v100");
    std::thread::sleep(Duration::from_millis(300));
    let pcap = cap.stop().unwrap();
    for ((gw, mac_before, _), (_, mac_after, states)) in before.iter().zip(&after) {
        assert_eq!(
            mac_after, mac_before,
            "t1v100's entry for gateway {gw} changed across the move ({states:?})"
        );
        assert!(
            !states.iter().any(|s| s == "FAILED" || s == "INCOMPLETE"),
            "t1v100's entry for gateway {gw} is {states:?} after the move"
        );
    }
    // No re-resolution of the gateway: no broadcast ARP request for 192.0.2.254 and no
    // multicast neighbour solicitation for 2001:db8:100::1 from the tenant (unicast NUD probes
    // to the unchanged MAC are a confirmation, not a re-resolution, and are allowed).
    let rows = evpnd_lab::capture::tshark_fields(
        &pcap,
        &[],
        "(arp.opcode == 1 && arp.dst.proto_ipv4 == 192.0.2.254 && eth.dst == ff:ff:ff:ff:ff:ff) || \
         (icmpv6.type == 135 && icmpv6.nd.ns.target_address == 2001:db8:100::1 && \
          ipv6.dst == ff02::1:ff00:1)",
        &["frame.number", "frame.time_relative", "eth.src", "eth.dst"],
    )
    .unwrap();
    let all_frames =
        evpnd_lab::capture::tshark_fields(&pcap, &[], "arp || icmpv6", &["frame.number"]).unwrap();
    eprintln!(
        "capture on {mover_ns_name} eth0: {} ARP/ICMPv6 frames, {} gateway re-resolutions",
        all_frames.len(),
        rows.len()
    );
    assert!(
        rows.is_empty(),
        "t1v100 re-resolved its gateway after the move: {rows:?}"
    );
}

#[test]
fn type5_prefixes_and_gw_ip_overlay_index() {
    let _g = serial();
    if !require_root_and_tools(&[TOOLS, &["gobgpd", "gobgp"]].concat()) {
        return;
    }
    let _t = Timer("type-5", Instant::now());
    let mut f = fabric_with(3, &[(0, 100), (1, 100), (2, 200)]);
    let gobgp_index = 200u8;
    let gobgp_addr = f.add_peer(gobgp_index).unwrap().underlay();
    // t3v200 is a tenant router: 203.0.113.1 behind it.
    f.tenant("t3v200")
        .unwrap()
        .add_routed_address("203.0.113.1/32")
        .unwrap();
    let router = f.tenant("t3v200").unwrap().ip().to_string();
    let mut hosts = red_symmetric();
    hosts[2] = L3Host::new(Irb::Symmetric)
        .vrf(VrfSpec::new("red", Some(5000)).with_route("203.0.113.0/24", &router))
        .routed(200, "red")
        .unwrap();
    let rr_extra = format!(
        "[[neighbor]]\naddress = \"{gobgp_addr}\"\nremote-asn = {}\n\
         route-reflector-client = true\npassive = true\n",
        common::kernel_fabric::ASN
    );
    let r = start_l3(f, &hosts, &rr_extra);
    r.wait_sessions();
    let peer = &r.fabric.peers()[0];
    let gobgp = Gobgp::start(
        peer.ns(),
        &format!(
            "[global.config]\n  as = {asn}\n  router-id = \"{rid}\"\n  local-address-list = [\"{gobgp_addr}\"]\n\
             [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{rr}\"\n    peer-as = {asn}\n\
             [neighbors.timers.config]\n    connect-retry = 1\n\
             [[neighbors.afi-safis]]\n  [neighbors.afi-safis.config]\n    afi-safi-name = \"l2vpn-evpn\"\n",
            asn = common::kernel_fabric::ASN,
            rid = peer.router_id(),
            rr = r.rr_address(),
        ),
        Duration::from_secs(20),
    )
    .unwrap();
    attach_all(&r, &["t1v100", "t2v100", "t3v200"]);

    // The configured route: every red tenant reaches 203.0.113.1 behind t3v200.
    let behind = ip("203.0.113.1");
    let c = vec![
        PingCase::reach("t1v100", behind, "203.0.113.1 (behind t3v200)"),
        PingCase::reach("t2v100", behind, "203.0.113.1 (behind t3v200)"),
    ];
    assert_matrix(&r, "type-5 from [[vrf.route]]", &c, &["red"]);
    // Host 3 routes the prefix to the tenant router; hosts 1-2 over the L3VNI (type-5).
    wait_vrf(&r, 2, "red", "203.0.113.0/24 via t3v200", |n| {
        best_route(n, "red", behind)
            .is_some_and(|x| x.is_prefix("203.0.113.0/24") && x.gateway == Some(ip(&router)))
    });
    for pos in [0, 1] {
        wait_vrf(&r, pos, "red", "203.0.113.0/24 over the L3VNI", |n| {
            let devices = vni_devices(n, "red", 5000);
            best_route(n, "red", behind).is_some_and(|x| {
                x.is_prefix("203.0.113.0/24")
                    && x.paths()
                        .iter()
                        .all(|(_, d)| d.as_ref().is_some_and(|d| devices.contains(d)))
            })
        });
    }

    // A type-5 with a GW-IP overlay index (RFC 9136 §3.2) from GoBGP: 203.0.113.128/25 via
    // t1v100 (192.0.2.11), which answers for 203.0.113.129.
    r.rr.wait_established(&gobgp_addr.to_string(), WAIT);
    gobgp.wait_established(&r.rr_address(), WAIT).unwrap();
    let t1 = r.fabric.tenant("t1v100").unwrap();
    t1.add_routed_address("203.0.113.129/32").unwrap();
    let overlay_gw = t1.ip();
    let prefix = EvpnPrefix {
        prefix: "203.0.113.128/25".into(),
        gateway: overlay_gw.to_string(),
        etag: 0,
        label: 5000,
        rd: format!("{}:5000", peer.router_id()),
        rts: vec!["65000:5000".into()],
        router_mac: Some("02:00:00:00:c8:01".into()),
        nexthop: gobgp_addr.to_string(),
    };
    gobgp.add_evpn_prefix(&prefix).unwrap();
    let far = ip("203.0.113.129");
    for pos in 0..3 {
        wait_vrf(
            &r,
            pos,
            "red",
            "203.0.113.128/25 resolved through 192.0.2.11's host route",
            |n| {
                let Some(route) = best_route(n, "red", far) else {
                    return false;
                };
                if !route.is_prefix("203.0.113.128/25") {
                    return false;
                }
                // Either through the tenant itself (where its subnet is local) or exactly the
                // way the tenant's own host route goes (recursion through its type-2).
                route.gateway == Some(overlay_gw)
                    || best_route(n, "red", overlay_gw).is_some_and(|host| {
                        host.prefix_len() == Some(32) && host.paths() == route.paths()
                    })
            },
        );
    }
    let c = vec![
        PingCase::reach("t3v200", far, "203.0.113.129 (behind t1v100)"),
        PingCase::reach("t2v100", far, "203.0.113.129 (behind t1v100)"),
    ];
    assert_matrix(&r, "type-5 with a GW-IP overlay index", &c, &["red"]);

    // t1v100's type-2 goes: the overlay index no longer resolves, the route leaves every VRF.
    detach(&r, "t1v100", 0);
    for pos in 0..3 {
        wait_vrf(
            &r,
            pos,
            "red",
            "203.0.113.128/25 withdrawn after t1v100's detach",
            |n| {
                n.vrf_routes("red", false)
                    .is_ok_and(|rows| !rows.iter().any(|x| x.is_prefix("203.0.113.128/25")))
            },
        );
    }
    // The configured route is unaffected.
    let c = vec![PingCase::reach(
        "t2v100",
        behind,
        "203.0.113.1 (behind t3v200)",
    )];
    assert_matrix(
        &r,
        "type-5 from [[vrf.route]] after the detach",
        &c,
        &["red"],
    );
    gobgp.del_evpn_prefix(&prefix).unwrap();
}
