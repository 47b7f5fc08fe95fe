//! A restart: what is re-sent stays untouched, what is not goes at `Synced`, what is not ours
//! stays.

use super::*;
use std::io::Read;
use std::process::Stdio;

fn neighbor(n: u8, m: u16) -> I {
    I::Neighbor {
        vni: vni(100),
        ip: IpAddr::from([192, 0, 2, n]),
        mac: mac(m),
        router: false,
        local: false,
    }
}

fn remote(m: u16) -> I {
    I::RemoteMac {
        vni: vni(100),
        mac: mac(m),
        vtep: ip("198.18.0.2"),
        sticky: false,
    }
}

fn sticky(m: u16) -> I {
    I::RemoteMac {
        vni: vni(100),
        mac: mac(m),
        vtep: ip("198.18.0.2"),
        sticky: true,
    }
}

#[test]
fn a_restart_keeps_what_is_renewed_and_sweeps_the_rest_but_never_foreign_state() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let (a, b) = (ip("198.18.0.2"), ip("198.18.0.3"));
    let v = vni(100);
    let mut first = Running::start(&ns, config("198.18.0.1"));
    first.submit(vec![
        I::Vni { vni: v, vrf: None },
        I::Vni {
            vni: vni(400),
            vrf: None,
        },
        remote(1),
        remote(2),
        sticky(3),
        I::Flood { vni: v, vtep: a },
        I::Flood { vni: v, vtep: b },
        neighbor(1, 1),
        neighbor(2, 2),
    ]);
    first.wait_applied(9);
    first.stop();
    // Foreign state next to ours.
    ns.exec(&[
        "bridge",
        "fdb",
        "add",
        "02:00:00:00:00:99",
        "dev",
        "vx100",
        "dst",
        "198.18.0.9",
        "self",
    ])
    .unwrap();
    ns.ip(&["link", "add", "fx1", "type", "veth", "peer", "name", "fx1p"])
        .unwrap();
    ns.ip(&[
        "neigh",
        "add",
        "192.0.2.99",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "br100",
        "nud",
        "permanent",
    ])
    .unwrap();

    // Watch every FDB and neighbour change from here on.
    let mut monitors: Vec<std::process::Child> =
        [["bridge", "monitor", "fdb"], ["ip", "monitor", "neigh"]]
            .iter()
            .map(|cmd| {
                ns.command(cmd[0])
                    .args(&cmd[1..])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
    std::thread::sleep(Duration::from_millis(300));

    let mut second = Running::start(&ns, config("198.18.0.1"));
    second.submit(vec![
        I::Vni { vni: v, vrf: None },
        remote(1),
        sticky(3),
        I::Flood { vni: v, vtep: a },
        neighbor(1, 1),
    ]);
    second.wait_applied(5);
    // Before Synced, nothing is removed.
    assert!(fdb(&ns, "vx100").contains("02:00:00:00:00:02"));
    assert!(link_exists(&ns, "vx400"));
    second.submit(vec![I::Synced]);
    second.wait_applied(6);
    std::thread::sleep(Duration::from_millis(300));
    let mut changes = String::new();
    for monitor in &mut monitors {
        let _ = monitor.kill();
        monitor
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut changes)
            .unwrap();
        let _ = monitor.wait();
    }
    println!("changes after the restart:\n{changes}");

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
        !f.contains("02:00:00:00:00:02"),
        "stale remote MAC swept: {f}"
    );
    assert!(f.contains("00:00:00:00:00:00 dst 198.18.0.2"), "{f}");
    assert!(
        !f.contains("dst 198.18.0.3"),
        "stale flood entry swept: {f}"
    );
    assert!(
        f.contains("02:00:00:00:00:99 dst 198.18.0.9 self permanent"),
        "foreign entry kept: {f}"
    );
    let n = neigh(&ns, "br100");
    assert!(n.contains("192.0.2.1 lladdr"), "{n}");
    assert!(
        !n.contains("192.0.2.2 lladdr"),
        "stale neighbour swept: {n}"
    );
    assert!(
        n.contains("192.0.2.99 lladdr"),
        "foreign neighbour kept: {n}"
    );
    assert!(link_exists(&ns, "fx1"), "foreign device kept");
    assert!(
        !link_exists(&ns, "vx400") && !link_exists(&ns, "br400"),
        "stale VNI swept"
    );
    // The renewed entries were never written again (nor removed).
    for renewed in [
        "02:00:00:00:00:01",
        "192.0.2.1 ",
        "dst 198.18.0.2 self permanent",
    ] {
        assert!(
            !changes.lines().any(|l| l.contains(renewed)),
            "{renewed} changed during the restart:\n{changes}"
        );
    }
    assert!(
        changes.contains("02:00:00:00:00:02"),
        "the sweep shows up: {changes}"
    );
    assert_eq!(second.stats().failures, 0, "{:?}", second.events());
    second.stop();
    ns.delete().unwrap();
}

#[test]
fn without_synced_the_sweep_runs_after_sweep_after() {
    if !root() {
        return;
    }
    let ns = Netns::new().unwrap();
    let v = vni(100);
    let mut first = Running::start(&ns, config("198.18.0.1"));
    first.submit(vec![I::Vni { vni: v, vrf: None }, remote(1), remote(2)]);
    first.wait_applied(3);
    first.stop();
    let mut c = config("198.18.0.1");
    c.sweep_after = Duration::from_millis(1500);
    let mut second = Running::start(&ns, c);
    second.submit(vec![I::Vni { vni: v, vrf: None }, remote(1)]);
    second.wait_applied(2);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        fdb(&ns, "vx100").contains("02:00:00:00:00:02"),
        "not before sweep_after"
    );
    wait_for("the timed sweep", || {
        !fdb(&ns, "vx100").contains("02:00:00:00:00:02")
    });
    assert!(fdb(&ns, "vx100").contains("02:00:00:00:00:01 dst 198.18.0.2"));
    second.stop();
    ns.delete().unwrap();
}
