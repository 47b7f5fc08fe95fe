//! Devices and entries appear exactly as intended and go on removal.

use super::*;

#[test]
fn a_vni_gets_its_devices_and_entries_and_loses_them_again() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    let v = vni(100);
    let (a, b) = (ip("198.18.0.2"), ip("198.18.0.3"));
    r.submit(vec![
        I::Vni { vni: v, vrf: None },
        I::RemoteMac {
            vni: v,
            mac: mac(1),
            vtep: a,
            sticky: false,
        },
        I::RemoteMac {
            vni: v,
            mac: mac(2),
            vtep: a,
            sticky: true,
        },
        I::Flood { vni: v, vtep: a },
        I::Flood { vni: v, vtep: b },
        I::Neighbor {
            vni: v,
            ip: ip("192.0.2.1"),
            mac: mac(1),
            router: false,
            local: false,
        },
        I::Neighbor {
            vni: v,
            ip: ip("2001:db8:1::2"),
            mac: mac(2),
            router: true,
            local: true,
        },
    ]);
    r.wait_applied(7);
    r.wait_event("link up", |f| {
        *f == Feedback::LinkState {
            vni: 100,
            up: true,
            reason: None,
        }
    });
    let link = ns.ip(&["-d", "link", "show", "dev", "vx100"]).unwrap();
    for want in [
        "vxlan id 100",
        "local 198.18.0.1",
        "dstport 4789",
        "nolearning",
        "master br100",
        "alias evpnd vni=100",
        "learning off",
        "neigh_suppress on",
    ] {
        assert!(link.contains(want), "{want:?} not in {link}");
    }
    let port = ns
        .exec(&["bridge", "-d", "link", "show", "dev", "vx100"])
        .unwrap();
    assert!(
        port.contains("learning off") && port.contains("neigh_suppress on"),
        "{port}"
    );
    assert!(ns
        .ip(&["-d", "link", "show", "dev", "br100"])
        .unwrap()
        .contains("alias evpnd vni=100"));
    let f = fdb(&ns, "vx100");
    println!("bridge fdb show dev vx100:\n{f}\nevents: {:?}", r.events());
    let m1 = lines_with(&f, "02:00:00:00:00:01");
    assert!(
        m1.iter()
            .any(|l| l.contains("dst 198.18.0.2 self extern_learn")),
        "{f}"
    );
    assert!(
        m1.iter().any(|l| l.contains("extern_learn master br100")),
        "{f}"
    );
    let m2 = lines_with(&f, "02:00:00:00:00:02");
    assert!(
        m2.iter()
            .any(|l| l.contains("dst 198.18.0.2 self sticky static")),
        "{f}"
    );
    assert!(
        m2.iter().any(|l| l.contains("sticky master br100 static")),
        "{f}"
    );
    let zero = lines_with(&f, "00:00:00:00:00:00");
    assert_eq!(zero.len(), 2, "{f}");
    assert!(zero.iter().all(|l| l.contains("self permanent")), "{f}");
    let n = neigh(&ns, "br100");
    println!("ip neigh show dev br100:\n{n}");
    assert!(
        n.contains("192.0.2.1 lladdr 02:00:00:00:00:01 extern_learn NOARP proto 235"),
        "{n}"
    );
    assert!(
        n.contains("2001:db8:1::2 lladdr 02:00:00:00:00:02 router PERMANENT proto 235"),
        "{n}"
    );

    // A move re-points the entry in place.
    r.submit(vec![I::RemoteMac {
        vni: v,
        mac: mac(1),
        vtep: b,
        sticky: false,
    }]);
    r.wait_applied(8);
    let f = fdb(&ns, "vx100");
    let m1 = lines_with(&f, "02:00:00:00:00:01");
    assert_eq!(m1.len(), 2, "{f}");
    assert!(
        m1.iter()
            .any(|l| l.contains("dst 198.18.0.3 self extern_learn")),
        "{f}"
    );

    r.submit(vec![
        I::RemoveRemoteMac {
            vni: v,
            mac: mac(1),
        },
        I::RemoveRemoteMac {
            vni: v,
            mac: mac(2),
        },
        I::RemoveFlood { vni: v, vtep: a },
        I::RemoveNeighbor {
            vni: v,
            ip: ip("192.0.2.1"),
        },
    ]);
    r.wait_applied(12);
    let f = fdb(&ns, "vx100");
    assert!(lines_with(&f, "02:00:00:00:00:0").is_empty(), "{f}");
    let zero = lines_with(&f, "00:00:00:00:00:00");
    assert_eq!(zero.len(), 1, "{f}");
    assert!(zero[0].contains("dst 198.18.0.3"), "{f}");
    let n = neigh(&ns, "br100");
    assert!(!n.contains("192.0.2.1 "), "{n}");
    r.submit(vec![
        I::RemoveFlood { vni: v, vtep: b },
        I::RemoveNeighbor {
            vni: v,
            ip: ip("2001:db8:1::2"),
        },
        I::RemoveVni { vni: v },
    ]);
    r.wait_applied(15);
    assert!(!link_exists(&ns, "vx100") && !link_exists(&ns, "br100"));
    assert_eq!(r.stats().failures, 0, "{:?}", r.events());
    // Every batch submitted was timed from submit to applied.
    let latency = r.stats().apply_latency;
    assert!(latency.count >= 1 && latency.sum_micros > 0, "{latency:?}");
    let bounded: u64 = latency.buckets.iter().sum();
    assert!(bounded <= latency.count, "{latency:?}");
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn an_ipv6_underlay_uses_local6_and_v6_destinations() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let mut r = Running::start(&ns, config("2001:db8::1"));
    let v = vni(600);
    r.submit(vec![
        I::Vni { vni: v, vrf: None },
        I::RemoteMac {
            vni: v,
            mac: mac(1),
            vtep: ip("2001:db8::2"),
            sticky: false,
        },
        I::Flood {
            vni: v,
            vtep: ip("2001:db8::3"),
        },
    ]);
    r.wait_applied(3);
    let link = ns.ip(&["-d", "link", "show", "dev", "vx600"]).unwrap();
    assert!(link.contains("local 2001:db8::1"), "{link}");
    let f = fdb(&ns, "vx600");
    assert!(
        f.contains("02:00:00:00:00:01 dst 2001:db8::2 self extern_learn"),
        "{f}"
    );
    assert!(
        f.contains("00:00:00:00:00:00 dst 2001:db8::3 self permanent"),
        "{f}"
    );
    assert_eq!(r.stats().failures, 0, "{:?}", r.events());
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn an_adopted_bridge_is_used_and_left_in_place() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    ns.ip(&["link", "add", "br200", "type", "bridge"]).unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    let v = vni(200);
    r.submit(vec![I::Vni { vni: v, vrf: None }]);
    r.wait_applied(1);
    let link = ns.ip(&["-d", "link", "show", "dev", "vx200"]).unwrap();
    assert!(link.contains("master br200"), "{link}");
    let bridge = ns.ip(&["-d", "link", "show", "dev", "br200"]).unwrap();
    assert!(
        !bridge.contains("evpnd"),
        "an adopted bridge is not marked: {bridge}"
    );
    r.submit(vec![I::RemoveVni { vni: v }]);
    r.wait_applied(2);
    assert!(!link_exists(&ns, "vx200"));
    assert!(link_exists(&ns, "br200"), "the adopted bridge stays");
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn a_conflicting_device_is_reported_and_other_vnis_still_work() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    ns.ip(&[
        "link", "add", "vx100", "type", "veth", "peer", "name", "vx100p",
    ])
    .unwrap();
    ns.ip(&[
        "link", "add", "vx300", "type", "vxlan", "id", "999", "dstport", "4789",
    ])
    .unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    r.submit(vec![
        I::Vni {
            vni: vni(100),
            vrf: None,
        },
        I::Vni {
            vni: vni(300),
            vrf: None,
        },
        I::Vni {
            vni: vni(200),
            vrf: None,
        },
        I::RemoteMac {
            vni: vni(100),
            mac: mac(1),
            vtep: ip("198.18.0.2"),
            sticky: false,
        },
        I::RemoteMac {
            vni: vni(200),
            mac: mac(1),
            vtep: ip("198.18.0.2"),
            sticky: false,
        },
    ]);
    r.wait_applied(5);
    let down = r.wait_event("vx100 down", |f| {
        matches!(
            f,
            Feedback::LinkState {
                vni: 100,
                up: false,
                ..
            }
        )
    });
    let Feedback::LinkState {
        reason: Some(reason),
        ..
    } = down
    else {
        panic!("{down:?}")
    };
    println!("reason: {reason}");
    assert!(
        reason.contains("vx100") && reason.contains("veth"),
        "{reason}"
    );
    let events = r.events();
    assert!(events.iter().any(|f| matches!(f,
        Feedback::InstallFailed { intent: I::Vni { vni, .. }, .. } if vni.get() == 100)));
    assert!(events.iter().any(|f| matches!(f,
        Feedback::InstallFailed { intent: I::RemoteMac { vni, .. }, .. } if vni.get() == 100)));
    assert!(events.iter().any(|f| matches!(f,
        Feedback::LinkState { vni: 300, up: false, reason: Some(r) } if r.contains("vx300"))));
    assert!(fdb(&ns, "vx200").contains("02:00:00:00:00:01 dst 198.18.0.2 self extern_learn"));
    // The foreign devices are untouched.
    let vx300 = ns.ip(&["-d", "link", "show", "dev", "vx300"]).unwrap();
    assert!(
        vx300.contains("vxlan id 999") && !vx300.contains("master"),
        "{vx300}"
    );
    assert!(
        !link_exists(&ns, "br100"),
        "no bridge is left for a VNI that cannot be set up"
    );
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn a_failed_entry_is_retried_without_blocking_the_others() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    let v = vni(100);
    r.submit(vec![
        I::Vni { vni: v, vrf: None },
        I::Port {
            vni: v,
            port: port("tp0"),
        },
        I::RemoteMac {
            vni: v,
            mac: mac(1),
            vtep: ip("198.18.0.2"),
            sticky: false,
        },
    ]);
    r.wait_applied(3);
    let failed = r.wait_event("port failure", |f| {
        matches!(f, Feedback::InstallFailed { .. })
    });
    println!("{failed:?}");
    assert!(
        matches!(&failed, Feedback::InstallFailed { intent: I::Port { .. }, reason } if reason.contains("tp0"))
    );
    assert!(fdb(&ns, "vx100").contains("02:00:00:00:00:01 dst 198.18.0.2"));
    assert_eq!(r.stats().pending_retries, 1);
    ns.ip(&["link", "add", "tp0", "type", "veth", "peer", "name", "tp0p"])
        .unwrap();
    wait_for("the retried port", || {
        ns.ip(&["link", "show", "dev", "tp0"])
            .unwrap()
            .contains("master br100")
    });
    wait_for("no retry left", || r.stats().pending_retries == 0);
    assert!(ns
        .ip(&["link", "show", "dev", "tp0"])
        .unwrap()
        .contains(",UP"));
    let failures = r
        .events()
        .iter()
        .filter(|f| matches!(f, Feedback::InstallFailed { .. }))
        .count();
    assert_eq!(failures, 1, "a failed retry is not reported again");
    // Releasing the port takes it out of the bridge.
    r.submit(vec![I::RemovePort {
        vni: v,
        port: port("tp0"),
    }]);
    r.wait_applied(4);
    assert!(!ns
        .ip(&["link", "show", "dev", "tp0"])
        .unwrap()
        .contains("master"));
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn the_backlog_counts_what_waits_for_the_apply_thread() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    let v = vni(100);
    r.submit(vec![I::Vni { vni: v, vrf: None }]);
    r.wait_applied(1);
    let backlog = |r: &Running| r.backend.as_ref().unwrap().backlog();
    assert_eq!(backlog(&r), 0);
    let gate = Arc::clone(&r.gate);
    let stalled = {
        let _held = gate.lock().unwrap();
        // A MAC of an unknown VNI is refused with feedback: the apply thread stalls in it,
        // inside this batch, until the gate opens.
        r.submit(vec![I::RemoteMac {
            vni: vni(999),
            mac: mac(1),
            vtep: ip("198.18.0.2"),
            sticky: false,
        }]);
        let batches: Vec<Vec<I>> = (0..4u16)
            .map(|b| {
                (0..250u16)
                    .map(|n| I::RemoteMac {
                        vni: v,
                        mac: mac(b * 250 + n + 1),
                        vtep: ip("198.18.0.2"),
                        sticky: false,
                    })
                    .collect()
            })
            .collect();
        for b in batches {
            r.submit(b);
        }
        std::thread::sleep(Duration::from_millis(200));
        backlog(&r)
    };
    // The stalled batch is still being taken in; the four behind it wait whole.
    assert_eq!(stalled, 1 + 4 * 250);
    wait_for("the backlog to drain", || backlog(&r) == 0);
    r.wait_applied(1 + 1000);
    assert_eq!(
        lines_with(&fdb(&ns, "vx100"), "self extern_learn").len(),
        1000
    );
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn ten_thousand_remote_macs_in_one_batch() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let mut r = Running::start(&ns, config("198.18.0.1"));
    let v = vni(100);
    r.submit(vec![I::Vni { vni: v, vrf: None }]);
    r.wait_applied(1);
    let batch: Vec<I> = (0..10_000u16)
        .map(|n| I::RemoteMac {
            vni: v,
            mac: mac(n + 1),
            vtep: IpAddr::from([198, 18, (n % 200) as u8, 2]),
            sticky: false,
        })
        .collect();
    let start = Instant::now();
    r.submit(batch);
    r.wait_applied(10_001);
    let took = start.elapsed();
    let f = fdb(&ns, "vx100");
    let own = f
        .lines()
        .filter(|l| l.contains("self extern_learn"))
        .count();
    let bridge = f
        .lines()
        .filter(|l| l.contains("extern_learn master"))
        .count();
    println!(
        "10,000 remote MACs (20,000 FDB entries) installed in {took:?}; {:?}",
        r.stats()
    );
    assert_eq!((own, bridge), (10_000, 10_000));
    assert_eq!(r.stats().failures, 0);
    // The watcher's buffer holds the notifications of the whole install.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(r.stats().resyncs, 0, "{:?}", r.stats());
    r.stop();
    ns.delete().unwrap();
}

#[test]
fn our_vxlan_device_made_for_another_configuration_is_made_again() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let v = vni(100);
    let a = ip("198.18.0.2");
    let entries = || {
        vec![
            I::RemoteMac {
                vni: v,
                mac: mac(1),
                vtep: a,
                sticky: false,
            },
            I::Flood { vni: v, vtep: a },
        ]
    };
    // An earlier run with another VTEP address and port.
    let mut old = config("198.18.0.9");
    old.udp_port = 4790;
    let mut first = Running::start(&ns, old);
    let mut batch = vec![I::Vni { vni: v, vrf: None }];
    batch.extend(entries());
    first.submit(batch);
    first.wait_applied(3);
    first.stop();
    // Ours (by its marker) but with another VXLAN id.
    ns.ip(&[
        "link",
        "add",
        "vx200",
        "type",
        "vxlan",
        "id",
        "201",
        "local",
        "198.18.0.1",
        "dstport",
        "4789",
    ])
    .unwrap();
    ns.ip(&["link", "set", "vx200", "alias", "evpnd vni=200"])
        .unwrap();

    let mut second = Running::start(&ns, config("198.18.0.1"));
    let mut batch = vec![
        I::Vni { vni: v, vrf: None },
        I::Vni {
            vni: vni(200),
            vrf: None,
        },
    ];
    // The same entries as before: they were on the old device and must be written again.
    batch.extend(entries());
    second.submit(batch);
    second.wait_applied(4);
    let link = ns.ip(&["-d", "link", "show", "dev", "vx100"]).unwrap();
    assert!(
        link.contains("local 198.18.0.1") && link.contains("dstport 4789"),
        "{link}"
    );
    assert!(link.contains("master br100"), "{link}");
    let f = fdb(&ns, "vx100");
    assert!(
        f.contains("02:00:00:00:00:01 dst 198.18.0.2 self extern_learn"),
        "{f}"
    );
    assert!(
        lines_with(&f, "02:00:00:00:00:01")
            .iter()
            .any(|l| l.contains("master br100")),
        "{f}"
    );
    assert!(
        f.contains("00:00:00:00:00:00 dst 198.18.0.2 self permanent"),
        "{f}"
    );
    let vx200 = ns.ip(&["-d", "link", "show", "dev", "vx200"]).unwrap();
    assert!(vx200.contains("vxlan id 200 "), "{vx200}");
    assert!(vx200.contains("alias evpnd vni=200"), "{vx200}");
    assert_eq!(second.stats().failures, 0, "{:?}", second.events());
    second.stop();
    ns.delete().unwrap();
}
