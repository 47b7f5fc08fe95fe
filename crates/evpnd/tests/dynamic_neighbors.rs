//! Dynamic neighbours with a real evpnd (issue 12): a peer group on 127.64.0.0/10 (all of it on
//! `lo`); raw speakers connecting from 127.64.0.x are accepted and reach Established, one from
//! 127.0.0.x (outside every range) is closed before any OPEN, the group's limit refuses the
//! next one until a session ends, and `evpnctl show peer-groups --json` counts it all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::metrics::{scrape, value};
use common::{free_port, wait_until, Daemon};
use evpnd_lab::speaker::{connect, RawPeer};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

const ASN: u32 = 65000;
const WAIT: Duration = Duration::from_secs(20);
const LIMIT: u32 = 3;

fn config(port: u16, metrics: u16) -> String {
    format!(
        r#"asn = {ASN}
router-id = "198.19.0.1"
[bgp]
listen = "127.0.0.1:{port}"
hold-time = 9
[[peer-group]]
name = "nves"
listen-range = ["127.64.0.0/10"]
remote-asn = "internal"
limit = {LIMIT}
route-reflector-client = true
[metrics]
listen = "127.0.0.1:{metrics}"
"#
    )
}

fn client(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 64, 0, n)
}

/// A raw speaker connecting from `from` to the daemon and running the handshake.
fn join(from: Ipv4Addr, remote: SocketAddr) -> Result<RawPeer, String> {
    let mut p = RawPeer::active(&format!("client {from}"), ASN, from);
    p.connect_session(IpAddr::V4(from), remote, Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(p)
}

/// Connects from `from` and asserts that the daemon closes the connection without sending a
/// byte (refused before OPEN).
fn assert_refused_before_open(from: Ipv4Addr, remote: SocketAddr) {
    let mut s = connect(Some(IpAddr::V4(from)), remote, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("{from}: expected a close before OPEN, got {other:?}"),
    }
}

/// `show peer-groups --json` as a JSON value.
fn groups(d: &Daemon) -> serde_json::Value {
    serde_json::from_str(&d.evpnctl(&["show", "peer-groups", "--json"])).unwrap()
}

fn nves(d: &Daemon) -> serde_json::Value {
    groups(d)["peer_groups"][0].clone()
}

#[test]
fn dynamic_neighbors_are_accepted_by_range_and_limited() {
    let port = free_port("127.0.0.1");
    let metrics = free_port("127.0.0.1");
    let d = Daemon::start("dyn", &config(port, metrics));
    let remote = SocketAddr::from(([127, 0, 0, 1], port));

    // Inside the range: accepted and Established, listed as dynamic with the group.
    let mut peers: Vec<RawPeer> = (1..=LIMIT as u8)
        .map(|n| join(client(n), remote).unwrap_or_else(|e| panic!("{e}\n{}", d.log_text())))
        .collect();
    wait_until(WAIT, || {
        let n = d.neighbors();
        n.len() == LIMIT as usize && n.iter().all(|x| x.state == "Established")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    assert!(d.neighbors().iter().all(|n| n.peer_group == "nves"));
    let table = d.evpnctl(&["show", "neighbors"]);
    assert!(table.contains("127.64.0.1 (dynamic: nves)"), "{table}");

    // Outside every range: closed before OPEN, counted globally.
    assert_refused_before_open(Ipv4Addr::new(127, 0, 0, 5), remote);
    // At the limit: the next one is refused before OPEN too, counted for the group.
    assert_refused_before_open(client(10), remote);
    let g = nves(&d);
    assert_eq!(g["limit"], LIMIT);
    assert_eq!(g["active"], LIMIT);
    assert_eq!(g["established"], LIMIT);
    assert_eq!(g["accepted"], LIMIT);
    assert_eq!(g["refused_limit"], 1);
    assert_eq!(g["remote_asn"], "internal");
    assert_eq!(g["listen_ranges"][0], "127.64.0.0/10");
    assert_eq!(groups(&d)["refused_out_of_range"], 1);
    let m = scrape(&format!("127.0.0.1:{metrics}"));
    let group = |more: &[(&'static str, &'static str)]| {
        let mut l = vec![("group", "nves")];
        l.extend_from_slice(more);
        l
    };
    assert_eq!(value(&m, "evpnd_bgp_peer_group_limit", &group(&[])), 3.0);
    for state in ["active", "established"] {
        let l = group(&[("state", state)]);
        assert_eq!(value(&m, "evpnd_bgp_peer_group_sessions", &l), 3.0);
    }
    assert_eq!(
        value(&m, "evpnd_bgp_peer_group_accepted_total", &group(&[])),
        3.0
    );
    let l = group(&[("reason", "limit")]);
    assert_eq!(value(&m, "evpnd_bgp_peer_group_refused_total", &l), 1.0);
    assert_eq!(value(&m, "evpnd_bgp_refused_out_of_range_total", &[]), 1.0);

    // One leaves: its slot goes, and a new client fits.
    peers[0].close();
    wait_until(WAIT, || nves(&d)["active"] == LIMIT - 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    assert_eq!(d.neighbors().len(), LIMIT as usize - 1);
    let newcomer = join(client(20), remote).unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    peers.push(newcomer);
    wait_until(WAIT, || nves(&d)["established"] == LIMIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    let g = nves(&d);
    assert_eq!(g["accepted"], LIMIT + 1);
    assert_eq!(g["refused_limit"], 1);
    let text = d.evpnctl(&["show", "peer-groups"]);
    assert!(
        text.contains("nves") && text.contains("127.64.0.0/10"),
        "{text}"
    );

    // Reload (SIGHUP): a higher limit keeps the sessions; removing the group ends them.
    let file = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        file.replace(&format!("limit = {LIMIT}"), "limit = 5"),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    wait_until(WAIT, || nves(&d)["limit"] == 5).unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    assert_eq!(nves(&d)["established"], LIMIT);
    let file = std::fs::read_to_string(&d.config).unwrap();
    let start = file.find("[[peer-group]]").unwrap();
    let end = file[start..]
        .find("[api]")
        .map_or(file.len(), |e| start + e);
    std::fs::write(&d.config, format!("{}{}", &file[..start], &file[end..])).unwrap();
    d.signal(libc::SIGHUP);
    wait_until(WAIT, || {
        groups(&d)["peer_groups"]
            .as_array()
            .is_some_and(|a| a.is_empty())
            && d.neighbors().is_empty()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    assert_refused_before_open(client(30), remote);
    drop(peers);
}
