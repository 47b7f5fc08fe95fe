//! The single-VXLAN-device model: the kernel probe, and the pieces that this kernel can run.

use super::super::fdb::{entry_requests, VniDevices};
use super::super::reconcile::Snapshot;
use super::super::{check_capabilities, netdev, socket::NlSocket, vnifilter, DeviceModel};
use super::*;

mod full;

fn single(vtep: &str) -> LinuxConfig {
    let mut c = config(vtep);
    c.model = DeviceModel::SingleVxlan {
        bridge: "br-evpn".into(),
        vxlan: "vx-evpn".into(),
    };
    c
}

#[test]
fn the_probe_says_what_is_missing_and_changes_nothing() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let links = || ns.ip(&["-d", "link", "show"]).unwrap();
    let links_before = links();
    let checked = ns
        .within(|| check_capabilities(&single("198.18.0.1")))
        .unwrap();
    assert_eq!(links(), links_before, "the probe left a device behind");
    let Err(e) = checked else {
        println!("this kernel runs the single-VXLAN-device model");
        ns.delete().unwrap();
        return;
    };
    println!("check_capabilities: {e}");
    // Whatever this kernel lacks is named. (The probe's namespace has no name: it goes with
    // the probe's thread.)
    assert!(
        e.0.contains("cannot run the single-VXLAN-device model; missing: "),
        "{e}"
    );
    let vlan_filtering = !e.0.contains("vlan_filtering");
    let vnifilter = !e.0.contains("external vnifilter");
    println!("this kernel: VLAN-aware bridges {vlan_filtering}, vnifilter {vnifilter}");
    let Err(refused) = ns
        .within(|| LinuxBackend::spawn(single("198.18.0.1"), Box::new(|_| {})))
        .unwrap()
    else {
        panic!("spawned")
    };
    assert_eq!(refused, e, "spawn refuses with the probe's message");
    ns.delete().unwrap();
}

#[test]
fn an_external_vnifilter_device_terminates_the_vnis_of_its_filter() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let shown = ns
        .within(|| {
            let mut socket = NlSocket::request_socket().unwrap();
            let (m, f) = netdev::create_vnifilter_vxlan("vx-evpn", ip("198.18.0.1"), 4789);
            socket.request(m, f).unwrap();
            let vx = netdev::get_by_name(&mut socket, "vx-evpn")
                .unwrap()
                .unwrap();
            for vni in [100, 200, 16_777_215] {
                vnifilter::add(&mut socket, vx.index, vni).unwrap();
            }
            // Adding twice and removing what is gone count as done.
            vnifilter::add(&mut socket, vx.index, 200).unwrap();
            vnifilter::delete(&mut socket, vx.index, 100).unwrap();
            vnifilter::delete(&mut socket, vx.index, 100).unwrap();
        })
        .map(|()| {
            ns.exec(&["bridge", "vni", "show", "dev", "vx-evpn"])
                .unwrap()
        })
        .unwrap();
    println!("bridge vni show:\n{shown}");
    let vnis: Vec<&str> = shown
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(vnis, ["200", "16777215"], "{shown}");
    let link = ns.ip(&["-d", "link", "show", "dev", "vx-evpn"]).unwrap();
    for want in [
        "external vnifilter",
        "local 198.18.0.1",
        "dstport 4789",
        "nolearning",
    ] {
        assert!(link.contains(want), "{want:?} not in {link}");
    }
    ns.delete().unwrap();
}

/// What this kernel runs of the single model, through the backend's own code: the shared
/// `external vnifilter` device with its VNI filter, the device's own FDB entries keyed by
/// `NDA_SRC_VNI` (remote MACs and flood entries, as `entry_requests` writes them), the
/// reconciliation reading them back per VNI, and the sweep's removals deleting them. (The
/// bridge's halves need the VLAN-aware bridge; see `full`.)
#[test]
fn src_vni_entries_on_a_vnifilter_device_are_written_read_back_and_swept() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let (a, b) = (ip("198.18.0.2"), ip("198.18.0.3"));
    let intents = [
        remote_on(100, 1, a),
        remote_on(200, 1, b),
        remote_on(200, 2, a),
        I::Flood {
            vni: vni(100),
            vtep: a,
        },
        I::Flood {
            vni: vni(100),
            vtep: b,
        },
        I::Flood {
            vni: vni(200),
            vtep: b,
        },
    ];
    let (snapshot, after_sweep) = ns
        .within(|| {
            let mut socket = NlSocket::request_socket().unwrap();
            let (m, f) = netdev::create_vnifilter_vxlan("vx-evpn", ip("198.18.0.1"), 4789);
            socket.request(m, f).unwrap();
            let vx = netdev::get_by_name(&mut socket, "vx-evpn")
                .unwrap()
                .unwrap();
            socket
                .request(netdev::set_alias(vx.index, netdev::SHARED_ALIAS), 0)
                .unwrap();
            for v in [100, 200] {
                vnifilter::add(&mut socket, vx.index, v).unwrap();
            }
            let devices = |v: u32| VniDevices {
                bridge: 0,
                vxlan: vx.index,
                vlan: Some(v as u16 / 10),
                neigh: 0,
            };
            // The device's own entries only: the bridge's need a bridge.
            let own = |i: &I| {
                let v = super::super::reconcile::intent_vni(i).unwrap();
                entry_requests(i, devices(v))
                    .into_iter()
                    .next()
                    .unwrap()
                    .request
            };
            let requests: Vec<_> = intents.iter().map(own).collect();
            assert_eq!(socket.send_batch(&requests), Vec::new());
            let snapshot = Snapshot::read(&mut socket).unwrap();
            let removals: Vec<_> = snapshot.removals(None).iter().map(own).collect();
            assert_eq!(socket.send_batch(&removals), Vec::new());
            (snapshot, Snapshot::read(&mut socket).unwrap())
        })
        .unwrap();
    println!("read back: {:?} {:?}", snapshot.fdb, snapshot.flood);
    // Each remote MAC is found under its VNI; without the bridge's half it is not "exactly
    // installed" (it would be written again).
    let fdb: Vec<_> = snapshot.fdb.iter().map(|(k, e)| (*k, *e)).collect();
    assert_eq!(
        fdb,
        [
            ((100, mac(1)), None),
            ((200, mac(1)), None),
            ((200, mac(2)), None)
        ]
    );
    let flood: Vec<_> = snapshot.flood.iter().copied().collect();
    assert_eq!(flood, [(100, a), (100, b), (200, b)]);
    assert!(after_sweep.fdb.is_empty() && after_sweep.flood.is_empty());
    let left = fdb_all(&ns, "vx-evpn");
    assert!(!left.contains("src_vni"), "swept entries left: {left}");
    ns.delete().unwrap();
}

fn remote_on(v: u32, m: u16, vtep: IpAddr) -> I {
    I::RemoteMac {
        vni: vni(v),
        mac: mac(m),
        vtep,
        sticky: false,
    }
}

fn fdb_all(ns: &Netns, dev: &str) -> String {
    ns.exec(&["bridge", "-d", "fdb", "show", "dev", dev])
        .unwrap()
}
