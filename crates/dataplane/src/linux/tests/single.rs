//! The single-VXLAN-device model: the kernel probe, and the pieces that this kernel can run.

use super::super::{check_capabilities, netdev, socket::NlSocket, vnifilter, DeviceModel};
use super::*;

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
    let e = ns
        .within(|| check_capabilities(&single("198.18.0.1")))
        .unwrap()
        .unwrap_err();
    println!("check_capabilities: {e}");
    assert!(e.0.contains("single-VXLAN-device model"), "{e}");
    // Whatever this kernel lacks is named; what it has is not. (The probe's namespace has no
    // name: it goes with the probe's thread.)
    let vlan_filtering = !e.0.contains("vlan_filtering");
    let vnifilter = !e.0.contains("external vnifilter");
    println!("this kernel: VLAN-aware bridges {vlan_filtering}, vnifilter {vnifilter}");
    assert!(
        e.0.contains("missing") || e.0.contains("does not implement"),
        "{e}"
    );
    assert_eq!(links(), links_before, "the probe left a device behind");
    let Err(e) = ns
        .within(|| LinuxBackend::spawn(single("198.18.0.1"), Box::new(|_| {})))
        .unwrap()
    else {
        panic!("spawned")
    };
    assert!(e.0.contains("single-VXLAN"), "{e}");
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
