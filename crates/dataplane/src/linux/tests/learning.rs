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
        I::Vni { vni: v, vrf: None },
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
        I::Vni { vni: v, vrf: None },
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
    r.submit(vec![I::Vni {
        vni: vni(100),
        vrf: None,
    }]);
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

#[test]
fn setting_up_vnis_reports_them_up_once_and_never_down() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    // Many VNIs at once: the watcher reads the notifications of their creation (devices
    // created down, brought up right after) well after the VNIs were registered.
    let vnis: Vec<u32> = (100..130).collect();
    r.submit(
        vnis.iter()
            .map(|n| I::Vni {
                vni: vni(*n),
                vrf: None,
            })
            .collect(),
    );
    r.wait_applied(vnis.len() as u64);
    for n in &vnis {
        r.wait_event("up", |f| {
            *f == Feedback::LinkState {
                vni: *n,
                up: true,
                reason: None,
            }
        });
    }
    // Let the watcher drain what the setup caused.
    std::thread::sleep(Duration::from_millis(1000));
    let states: Vec<Feedback> = r
        .events()
        .into_iter()
        .filter(|f| matches!(f, Feedback::LinkState { .. }))
        .collect();
    assert_eq!(states.len(), vnis.len(), "one report per VNI: {states:?}");
    // A real change is still reported, once.
    ns.ip(&["link", "set", "br105", "down"]).unwrap();
    r.wait_event("down", |f| {
        matches!(f, Feedback::LinkState { vni: 105, up: false, reason: Some(r) } if r.contains("br105 is down"))
    });
    ns.ip(&["link", "set", "br105", "up"]).unwrap();
    wait_for("up again", || {
        r.events()
            .iter()
            .filter(|f| {
                matches!(
                    f,
                    Feedback::LinkState {
                        vni: 105,
                        up: true,
                        ..
                    }
                )
            })
            .count()
            == 2
    });
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn the_watcher_buffer_holds_a_bulk_install() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let granted = ns
        .within(|| {
            let (commands, _) = std::sync::mpsc::channel();
            let watcher = super::super::watch::Watcher::new(
                LinuxConfig::new(ip("198.18.0.1")).notification_buffer,
                Arc::default(),
                Arc::new(Box::new(|_| {})),
                commands,
                Arc::default(),
            )
            .unwrap();
            watcher.receive_buffer().unwrap()
        })
        .unwrap();
    println!("watcher receive buffer: {granted} bytes");
    assert!(
        granted >= super::super::socket::NOTIFICATION_BUFFER,
        "{granted}"
    );
    ns.delete().unwrap();
}

/// A burst of kernel changes that overflows the watcher's socket (ENOBUFS) is caught up by
/// re-reading the FDB: every MAC the bridge holds on the tenant port is reported, none twice,
/// and the watcher goes on.
#[test]
fn a_notification_overflow_is_caught_up_by_a_resync() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let mut c = config("198.18.0.1");
    c.notification_buffer = 4096;
    ns.ip(&["link", "add", "lp0", "type", "veth", "peer", "name", "lp1"])
        .unwrap();
    let mut r = Running::start(&ns, c);
    let v = vni(100);
    r.submit(vec![
        I::Vni { vni: v, vrf: None },
        I::Port {
            vni: v,
            port: port("lp0"),
        },
    ]);
    r.wait_applied(2);
    // 3,000 entries on the tenant port in one burst (user-added, so neither permanent nor
    // extern_learn: to the watcher they are MACs the bridge holds on a tenant port).
    const N: u16 = 3000;
    let batch: String = (0..N)
        .map(|i| format!("fdb add {} dev lp0 master static\n", mac(0x4000 + i)))
        .collect();
    let file = std::env::temp_dir().join(format!("evpnd-overflow-{}.batch", std::process::id()));
    std::fs::write(&file, batch).unwrap();
    // The watcher is stalled in its first report while the burst arrives, so its 4 KiB queue
    // overflows whatever the machine's speed (on a fast one it could keep up otherwise).
    let held = r.hold_feedback();
    ns.exec(&["bridge", "-batch", &file.display().to_string()])
        .unwrap();
    drop(held);
    let _ = std::fs::remove_file(&file);
    let learned = |r: &Running| {
        let mut seen = std::collections::BTreeMap::new();
        for f in r.events() {
            if let Feedback::LocalMacLearned { vni: 100, mac, .. } = f {
                *seen.entry(mac).or_insert(0u32) += 1;
            }
        }
        seen
    };
    let start = Instant::now();
    while learned(&r).len() < usize::from(N) {
        assert!(
            start.elapsed() < WAIT,
            "{} of {N} MACs reported; {:?}; the bridge holds {} entries on lp0",
            learned(&r).len(),
            r.stats(),
            ns.exec(&["bridge", "fdb", "show", "dev", "lp0"])
                .unwrap()
                .lines()
                .filter(|l| l.contains("static"))
                .count()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = learned(&r);
    assert!(seen.values().all(|n| *n == 1), "a MAC reported twice");
    let stats = r.stats();
    println!("overflow test: {stats:?}");
    assert!(
        stats.resyncs >= 1,
        "the burst did not overflow 4 KiB: {stats:?}"
    );
    // The watcher goes on: one more MAC after the resync is reported as usual.
    ns.exec(&[
        "bridge",
        "fdb",
        "add",
        &mac(0x7fff).to_string(),
        "dev",
        "lp0",
        "master",
        "static",
    ])
    .unwrap();
    r.wait_event(
        "a MAC after the resync",
        |f| matches!(f, Feedback::LocalMacLearned { mac: m, .. } if *m == mac(0x7fff)),
    );
}
