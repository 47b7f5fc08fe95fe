//! Layer-3 interop (issue 11): FRR 8.4 receives symmetric IRB routes and shows them valid with
//! the right labels and Router's MAC; tshark decodes every UPDATE sent in the session.
//!
//! FRR runs as pure BGP (`bgpd -Z`): it cannot install layer-3 routes without VRF devices here,
//! so the check is at route level (`show bgp l2vpn evpn route detail type macip|prefix json`),
//! which needs no VNI or VRF configuration in FRR. eBGP: the sender is host 1 (198.18.0.1, AS
//! 65001, VTEP / router id 198.19.0.1), FRR host 2 (198.18.0.2, AS 65002).
//!
//! The routes, whoever sends them ([`expected_routes`]): a tenant 02:00:00:01:01:01 with
//! 192.0.2.11 and 2001:db8:100::11 in VNI 100 of VRF red (L3VNI 5000, Router's MAC
//! 02:00:c6:13:00:01) as type-2 routes with label 1 = 100, label 2 = 5000, RTs 65000:100 and
//! 65000:5000 (RFC 9135 §5.1, §8.1); and the VRF's prefixes 192.0.2.0/24, 2001:db8:100::/64
//! (the gateway's connected subnets) and 203.0.113.0/24 (configured) as type-5 routes with
//! label 5000, RT 65000:5000 and the Router's MAC (RFC 9136 §3, §4.4.1).
//!
//! * `frr_shows_gobgp_symmetric_routes`: the harness itself, with GoBGP as the sender: the
//!   FRR checks and the tshark check pass on routes from an independent implementation. It
//!   runs today and keeps the checks honest.
//! * `frr_shows_evpnd_symmetric_type2_and_type5_routes`: evpnd as the sender, with `[[vrf]]`
//!   and `[[vni]] vrf/gateway` and an endpoint attached through the API. Until issue 11 is
//!   merged it fails at start-up with evpnd's refusal of the layer-3 configuration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::netns_daemon::NsDaemon;
use common::{endpoint, wait_until, EvpnApi};
use evpnd_lab::capture::{check_updates_from, tshark_fields};
use evpnd_lab::frr::FrrEvpnPath;
use evpnd_lab::{
    require_root_and_tools, Capture, EvpnMacAdv, EvpnPrefix, Frr, FrrOptions, Gobgp, Host, Lab,
};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const SENDER: &str = "198.18.0.1";
const FRR: &str = "198.18.0.2";
const VTEP: &str = "198.19.0.1";
const MAC: &str = "02:00:00:01:01:01";
const RMAC: &str = "02:00:c6:13:00:01";
const IPS: [&str; 2] = ["192.0.2.11", "2001:db8:100::11"];
const PREFIXES: [(&str, u8); 3] = [
    ("192.0.2.0", 24),
    ("2001:db8:100::", 64),
    ("203.0.113.0", 24),
];
const TOOLS: &[&str] = &["ip", "vtysh", "/usr/lib/frr/bgpd", "tshark", "text2pcap"];

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// FRR as pure BGP, eBGP to the sender, L2VPN EVPN only.
fn start_frr(h: &Host) -> Frr {
    let conf = format!(
        "hostname frr\n!\nrouter bgp 65002\n bgp router-id 198.19.0.2\n no bgp default ipv4-unicast\n \
         no bgp ebgp-requires-policy\n neighbor {SENDER} remote-as 65001\n \
         neighbor {SENDER} timers connect 1\n address-family l2vpn evpn\n  neighbor {SENDER} activate\n \
         exit-address-family\n!\n"
    );
    Frr::start(h.ns(), &FrrOptions::bgp_only(conf)).unwrap()
}

/// One route FRR must show.
#[derive(Debug)]
struct Expected {
    rd: &'static str,
    route_type: u64,
    /// Type 2: the MAC.
    mac: Option<&'static str>,
    /// Type 2: the IP; type 5: the prefix address.
    ip: String,
    /// Type 5: the prefix length.
    len: Option<u64>,
    vnis: Vec<u32>,
    rts: Vec<&'static str>,
}

/// The routes of the module documentation.
fn expected_routes() -> Vec<Expected> {
    let mut v: Vec<Expected> = IPS
        .iter()
        .map(|ip| Expected {
            rd: "198.19.0.1:100",
            route_type: 2,
            mac: Some(MAC),
            ip: ip.to_string(),
            len: None,
            vnis: vec![100, 5000],
            rts: vec!["RT:65000:100", "RT:65000:5000"],
        })
        .collect();
    v.extend(PREFIXES.iter().map(|(p, len)| Expected {
        rd: "198.19.0.1:5000",
        route_type: 5,
        mac: None,
        ip: p.to_string(),
        len: Some(u64::from(*len)),
        vnis: vec![5000],
        rts: vec!["RT:65000:5000"],
    }));
    v
}

fn matches(p: &FrrEvpnPath, e: &Expected) -> bool {
    p.rd == e.rd
        && p.route_type == e.route_type
        && p.mac.as_deref() == e.mac
        && p.ip.as_deref() == Some(e.ip.as_str())
        && (e.len.is_none() || p.ip_len == e.len)
}

/// Every path FRR holds from the sender, type 2 and type 5.
fn frr_paths(frr: &Frr) -> Vec<FrrEvpnPath> {
    let mut v = frr.evpn_route_detail("macip").unwrap_or_default();
    v.extend(frr.evpn_route_detail("prefix").unwrap_or_default());
    v
}

/// Waits until FRR holds every expected route, then checks each: valid, best, next hop the
/// VTEP, labels (L2VNI/L3VNI or L3VNI), exactly the expected route targets, VXLAN
/// encapsulation (ET:8, RFC 9012 §4.1) and the Router's MAC (RFC 9135 §8.1).
fn check_frr_has_symmetric_routes(frr: &Frr, who: &str) {
    let want = expected_routes();
    let mut paths = Vec::new();
    // Arrived and decided: FRR marks a new path best a moment after it lists it.
    let arrived = wait_until(WAIT, || {
        paths = frr_paths(frr);
        want.iter()
            .all(|e| paths.iter().any(|p| matches(p, e) && p.valid && p.best))
    });
    if arrived.is_err() {
        let missing: Vec<&Expected> = want
            .iter()
            .filter(|e| !paths.iter().any(|p| matches(p, e) && p.valid && p.best))
            .collect();
        panic!(
            "FRR lacks {who}'s routes as valid best paths: {missing:#?}\nFRR holds: {paths:#?}\n{}",
            frr.bgpd_log(20)
        );
    }
    for e in &want {
        let found: Vec<&FrrEvpnPath> = paths.iter().filter(|p| matches(p, e)).collect();
        assert_eq!(found.len(), 1, "{who}: one path for {e:?}: {found:#?}");
        let p = found[0];
        assert!(p.valid && p.best, "{who}: not valid/best in FRR: {p:#?}");
        assert_eq!(p.next_hop.as_deref(), Some(VTEP), "{p:#?}");
        assert_eq!(p.vnis(), e.vnis, "{who}: labels of {p:#?}");
        assert_eq!(p.router_mac(), Some(RMAC), "{who}: Router's MAC of {p:#?}");
        let mut rts: Vec<&str> = p
            .communities
            .iter()
            .map(String::as_str)
            .filter(|c| c.starts_with("RT:"))
            .collect();
        rts.sort_unstable();
        assert_eq!(rts, e.rts, "{who}: route targets of {p:#?}");
        assert!(p.communities.iter().any(|c| c == "ET:8"), "{p:#?}");
    }
    // Nothing the sender announced is invalid in FRR (no denied self MAC, no bad next hop).
    let bad: Vec<&FrrEvpnPath> = paths.iter().filter(|p| !p.valid).collect();
    assert!(bad.is_empty(), "{who}: invalid paths in FRR: {bad:#?}");
}

/// FRR's count of UPDATEs received from the sender.
fn frr_updates_received(frr: &Frr) -> u64 {
    let n = frr
        .vtysh_json(&format!("show bgp neighbors {SENDER} json"))
        .unwrap();
    n[SENDER]["messageStats"]["updatesRecv"]
        .as_u64()
        .unwrap_or_else(|| panic!("no messageStats.updatesRecv: {n:#}"))
}

/// Captures BGP on the sender's `lan0` while `run` runs (from before the first SYN), then
/// checks with tshark that every message decodes cleanly, that the capture holds at least as
/// many of the sender's UPDATEs as FRR counted (`run` returns FRR's count), and that the
/// sender's UPDATEs carry type-2 routes with a second label and type-5 routes.
fn with_capture(sender: &Host, test: &str, run: impl FnOnce() -> u64) {
    let dir = evpnd_lab::TempDir::new("l3-interop-pcap").unwrap();
    let path: PathBuf = dir.path().join(format!("{test}.pcapng"));
    let cap = Capture::start(sender.ns(), "lan0", &path).unwrap();
    let counted = run();
    std::thread::sleep(Duration::from_millis(300));
    let path = cap.stop().unwrap();
    let summary = check_updates_from(&path, SENDER, &[(FRR, counted)])
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    eprintln!("tshark {test}: {summary}");
    let label2 = tshark_fields(
        &path,
        &[],
        &format!("ip.src == {SENDER} && bgp.evpn.nlri.rt == 2"),
        &["bgp.evpn.nlri.mpls_ls2"],
    )
    .unwrap();
    assert!(
        label2
            .iter()
            .any(|r| r.first().is_some_and(|l| !l.is_empty())),
        "{test}: tshark sees no type-2 route with a second label from {SENDER}: {label2:?}"
    );
    let type5 = tshark_fields(
        &path,
        &[],
        &format!("ip.src == {SENDER} && bgp.evpn.nlri.rt == 5"),
        &["bgp.evpn.nlri.prefix_len"],
    )
    .unwrap();
    assert!(
        !type5.is_empty(),
        "{test}: tshark sees no type-5 route from {SENDER}"
    );
}

#[test]
fn frr_shows_gobgp_symmetric_routes() {
    let _g = serial();
    if !require_root_and_tools(&[TOOLS, &["gobgpd", "gobgp"]].concat()) {
        return;
    }
    let mut lab = Lab::new(&["sender", "frr"]).unwrap();
    lab.connect_lan().unwrap();
    let (sh, fh) = (&lab.hosts()[0], &lab.hosts()[1]);
    with_capture(sh, "frr_shows_gobgp_symmetric_routes", || {
        let frr = start_frr(fh);
        let gobgp = Gobgp::start(
            sh.ns(),
            &format!(
                "[global.config]\n  as = 65001\n  router-id = \"{VTEP}\"\n  local-address-list = [\"{SENDER}\"]\n\
                 [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{FRR}\"\n    peer-as = 65002\n\
                 [neighbors.timers.config]\n    connect-retry = 1\n\
                 [[neighbors.afi-safis]]\n  [neighbors.afi-safis.config]\n    afi-safi-name = \"l2vpn-evpn\"\n"
            ),
            Duration::from_secs(20),
        )
        .unwrap();
        frr.wait_established(SENDER, WAIT).unwrap();
        for ip in IPS {
            let r = EvpnMacAdv {
                mac: MAC.into(),
                ip: Some(ip.into()),
                etag: 0,
                label: 100,
                rd: "198.19.0.1:100".into(),
                rts: vec!["65000:100".into(), "65000:5000".into()],
                nexthop: VTEP.into(),
            };
            gobgp.add_evpn_macadv_irb(&r, 5000, RMAC).unwrap();
        }
        for (p, len) in PREFIXES {
            gobgp
                .add_evpn_prefix(&EvpnPrefix {
                    prefix: format!("{p}/{len}"),
                    gateway: if p.contains(':') { "::" } else { "0.0.0.0" }.into(),
                    etag: 0,
                    label: 5000,
                    rd: "198.19.0.1:5000".into(),
                    rts: vec!["65000:5000".into()],
                    router_mac: Some(RMAC.into()),
                    nexthop: VTEP.into(),
                })
                .unwrap();
        }
        check_frr_has_symmetric_routes(&frr, "GoBGP");
        frr_updates_received(&frr)
    });
}

/// evpnd with VRF red and VNI 100 in it (no data plane: the routes are the point).
fn evpnd_l3_config() -> String {
    format!(
        "asn = 65001\nrouter-id = \"{VTEP}\"\n[bgp]\nlisten = \"0.0.0.0:179\"\nconnect-retry = 0.5\n\
         [[neighbor]]\naddress = \"{FRR}\"\nremote-asn = 65002\nlocal-address = \"{SENDER}\"\n\
         [evpn]\nvtep = \"{VTEP}\"\nirb = \"symmetric\"\n\
         [[vrf]]\nname = \"red\"\nl3vni = 5000\nrouter-mac = \"{RMAC}\"\n\
         import-route-targets = [\"65000:5000\"]\nexport-route-targets = [\"65000:5000\"]\n\
         advertise = [\"203.0.113.0/24\"]\n\
         [[vni]]\nvni = 100\nvrf = \"red\"\ngateway = [\"192.0.2.254/24\", \"2001:db8:100::1/64\"]\n\
         import-route-targets = [\"65000:100\"]\nexport-route-targets = [\"65000:100\"]\n"
    )
}

#[test]
fn frr_shows_evpnd_symmetric_type2_and_type5_routes() {
    let _g = serial();
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let mut lab = Lab::new(&["evpnd", "frr"]).unwrap();
    lab.connect_lan().unwrap();
    let (eh, fh) = (&lab.hosts()[0], &lab.hosts()[1]);
    with_capture(
        eh,
        "frr_shows_evpnd_symmetric_type2_and_type5_routes",
        || {
            let frr = start_frr(fh);
            let cfg = evpnd_l3_config();
            let mut evpnd = NsDaemon::try_start(eh.ns(), "evpnd-l3", &cfg).unwrap_or_else(|e| {
                panic!(
                    "{}.\n{e}\n--- configuration:\n{cfg}",
                    common::l3::NEEDS_LAYER3
                )
            });
            frr.wait_established(SENDER, WAIT).unwrap();
            evpnd.wait_established(FRR, WAIT);
            for ip in IPS {
                evpnd
                    .attach(endpoint(100, MAC, ip))
                    .unwrap_or_else(|e| panic!("attach {MAC} {ip}: {e}\n{}", evpnd.log_tail(30)));
            }
            check_frr_has_symmetric_routes(&frr, "evpnd");
            let counted = frr_updates_received(&frr);
            // evpnd ends the session with a Cease; the capture holds it too.
            evpnd.stop();
            counted
        },
    );
}
