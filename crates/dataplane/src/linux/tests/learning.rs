//! MACs the kernel learns on tenant ports reach the sink; a remote takeover or the port's
//! removal makes them go. The bridge answers ARP from our neighbour entries.

use super::*;

#[test]
fn learned_macs_are_reported_and_withdrawn() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let far = Netns::new().unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    let v = vni(100);
    ns.ip(&["link", "add", "lp0", "type", "veth", "peer", "name", "lp1"])
        .unwrap();
    ns.ip(&["link", "set", "lp1", "netns", far.name()]).unwrap();
    far.ip(&["link", "set", "lp1", "address", "02:00:00:00:aa:01", "up"])
        .unwrap();
    far.ip(&["addr", "add", "192.0.2.10/24", "dev", "lp1"])
        .unwrap();
    let remote_ip = ip("192.0.2.1");
    r.submit(vec![
        I::Vni { vni: v },
        I::Port {
            vni: v,
            port: port("lp0"),
        },
        // A remote endpoint the bridge answers ARP for (neigh_suppress).
        I::RemoteMac {
            vni: v,
            mac: mac(1),
            vtep: ip("198.18.0.2"),
            sticky: false,
        },
        I::Neighbor {
            vni: v,
            ip: remote_ip,
            mac: mac(1),
            router: false,
            local: false,
        },
    ]);
    r.wait_applied(4);
    ns.ip(&["addr", "add", "192.0.2.254/24", "dev", "br100"])
        .unwrap();
    let learned = MacAddress([2, 0, 0, 0, 0xaa, 1]);
    // ARP for the remote endpoint: answered by the bridge from its neighbour table.
    let _ = far.exec(&["ping", "-c", "1", "-W", "1", "192.0.2.1"]);
    let arp = far.ip(&["neigh", "show", "192.0.2.1"]).unwrap();
    println!("far side's ARP entry for the remote endpoint: {arp}");
    assert!(
        arp.contains("02:00:00:00:00:01"),
        "suppressed ARP answered: {arp}"
    );
    r.wait_event("learned", |f| {
        *f == Feedback::LocalMacLearned {
            vni: 100,
            mac: learned,
            ip: None,
        }
    });
    // Traffic to the bridge's address makes the host resolve the sender: its IP is reported.
    let _ = far.exec(&["ping", "-c", "1", "-W", "1", "192.0.2.254"]);
    r.wait_event("learned with its IP", |f| {
        *f == Feedback::LocalMacLearned {
            vni: 100,
            mac: learned,
            ip: Some(ip("192.0.2.10")),
        }
    });
    // A remote route takes the MAC over: it is no longer local.
    r.submit(vec![I::RemoteMac {
        vni: v,
        mac: learned,
        vtep: ip("198.18.0.2"),
        sticky: false,
    }]);
    r.wait_event("taken over", |f| {
        *f == Feedback::LocalMacGone {
            vni: 100,
            mac: learned,
        }
    });
    r.submit(vec![I::RemoveRemoteMac {
        vni: v,
        mac: learned,
    }]);
    r.wait_applied(6);
    // Learned again, then the port goes.
    let count_learned = |r: &Running| {
        r.events()
            .iter()
            .filter(|f| matches!(f, Feedback::LocalMacLearned { ip: None, .. }))
            .count()
    };
    wait_for("learned again", || {
        let _ = far.exec(&["ping", "-c", "1", "-W", "1", "192.0.2.254"]);
        count_learned(&r) >= 2
    });
    ns.ip(&["link", "del", "lp0"]).unwrap();
    wait_for("gone with its port", || {
        r.events()
            .iter()
            .filter(|f| {
                **f == Feedback::LocalMacGone {
                    vni: 100,
                    mac: learned,
                }
            })
            .count()
            >= 2
    });
    // The port's own address and the bridge's were never reported.
    assert!(r
        .events()
        .iter()
        .all(|f| !matches!(f, Feedback::LocalMacLearned { mac, .. } if *mac != learned)));
    r.stop();
    far.delete().unwrap();
    ns.delete().unwrap();
}

#[test]
fn a_deleted_device_is_reported_and_repaired() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    let v = vni(100);
    r.submit(vec![
        I::Vni { vni: v },
        I::RemoteMac {
            vni: v,
            mac: mac(1),
            vtep: ip("198.18.0.2"),
            sticky: false,
        },
    ]);
    r.wait_applied(2);
    ns.ip(&["link", "set", "vx100", "down"]).unwrap();
    r.wait_event("down", |f| {
        matches!(f, Feedback::LinkState { vni: 100, up: false, reason: Some(r) } if r.contains("vx100 is down"))
    });
    ns.ip(&["link", "del", "vx100"]).unwrap();
    r.wait_event("deleted", |f| {
        matches!(f, Feedback::LinkState { vni: 100, up: false, reason: Some(r) } if r.contains("deleted"))
    });
    wait_for("repaired", || {
        link_exists(&ns, "vx100") && fdb(&ns, "vx100").contains("02:00:00:00:00:01 dst 198.18.0.2")
    });
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn macs_learned_before_the_start_are_reported_with_their_vni() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    // An existing bridge (adopted) that already learned a MAC on a tenant port.
    ns.ip(&["link", "add", "br100", "type", "bridge"]).unwrap();
    ns.ip(&["link", "add", "lp0", "type", "veth", "peer", "name", "lp1"])
        .unwrap();
    ns.ip(&["link", "set", "lp0", "master", "br100", "up"])
        .unwrap();
    ns.ip(&["link", "set", "br100", "up"]).unwrap();
    let far = Netns::new().unwrap();
    ns.ip(&["link", "set", "lp1", "netns", far.name()]).unwrap();
    far.ip(&["link", "set", "lp1", "address", "02:00:00:00:bb:01", "up"])
        .unwrap();
    far.ip(&["addr", "add", "192.0.2.10/24", "dev", "lp1"])
        .unwrap();
    wait_for("learned by the bridge", || {
        let _ = far.exec(&["ping", "-c", "1", "-W", "1", "192.0.2.254"]);
        fdb(&ns, "lp0").contains("02:00:00:00:bb:01 master br100")
    });
    let mut config = config("198.18.0.1");
    config.vnis.insert(
        200,
        super::super::VniOptions {
            learning: Some(false),
            ..Default::default()
        },
    );
    let mut r = Running::start(&ns, config);
    assert!(
        r.events().is_empty(),
        "nothing is reported before the VNI is asked for"
    );
    r.submit(vec![I::Vni { vni: vni(100) }]);
    r.wait_event("learned at start", |f| {
        *f == Feedback::LocalMacLearned {
            vni: 100,
            mac: MacAddress([2, 0, 0, 0, 0xbb, 1]),
            ip: None,
        }
    });
    let learned = r
        .events()
        .iter()
        .filter(|f| matches!(f, Feedback::LocalMacLearned { .. }))
        .count();
    assert_eq!(
        learned,
        1,
        "the ports' own addresses are not reported: {:?}",
        r.events()
    );
    r.stop();
    far.delete().unwrap();
    ns.delete().unwrap();
}
