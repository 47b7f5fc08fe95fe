//! Session set-up rate of a route reflector [`Node`], sans-I/O: N clients connect one after
//! the other (through a peer group's listen range, or as N configured passive neighbours with
//! `--static`), exchange OPEN and KEEPALIVE, reach Established, send one RT-Constraint
//! membership (RFC 4684 §4) and their End-of-RIB markers (RFC 4724 §2). The rate should not
//! fall with N: every input costs O(peers it touched).
//!
//! ```text
//! cargo run --release -p evpnd-node --example session_setup -- --sessions 100,1000,10000
//! cargo run --release -p evpnd-node --example session_setup -- --sessions 1000 --static
//! cargo run --release -p evpnd-node --example session_setup -- --route-targets 0
//! ```
//!
//! `--route-targets K` (default 100): the memberships are spread over K route targets, so each
//! membership route has about N/K paths and its best-path selection costs that much in the
//! RIB; `0` sends no membership (End-of-RIB only): the node's and the sessions' cost alone.

use evpnd_node::{Input, NeighborConfig, Node, NodeConfig, Output};
use evpnd_wire::{
    encode_message, AsPath, Capability, CodecContext, ExtendedCommunity, Family, Message, MpReach,
    NextHop, Nlri, Open, Origin, PathAttribute, Route, RouteTarget, RtMembership, Update,
};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

const ASN: u32 = 65000;
const RID: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);

/// The address of client `k` (127.64.0.0/10 is all on `lo`).
fn client(k: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 64, 0, 1)) + k)
}

fn encode(ctx: &CodecContext, m: &Message, out: &mut Vec<u8>) {
    if let Err(e) = encode_message(ctx, m, out) {
        panic!("cannot encode {m:?}: {e}");
    }
}

/// OPEN (EVPN + RTC, 4-octet AS) and KEEPALIVE from client `k`.
fn hello(k: u32) -> Vec<u8> {
    let caps = vec![
        Capability::Multiprotocol(Family::L2VPN_EVPN),
        Capability::Multiprotocol(Family::RT_CONSTRAINT),
        Capability::RouteRefresh,
    ];
    let ctx = CodecContext::default();
    let mut b = Vec::new();
    encode(
        &ctx,
        &Message::Open(Open::new(ASN, 90, client(k), caps)),
        &mut b,
    );
    encode(&ctx, &Message::Keepalive, &mut b);
    b
}

/// One RT-Constraint membership of client `k` (none when `route_targets` is 0), then its RTC
/// and EVPN End-of-RIB.
fn memberships(k: u32, route_targets: u32) -> Vec<u8> {
    let ctx = CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    };
    let mut b = Vec::new();
    if route_targets > 0 {
        membership(&ctx, k, route_targets, &mut b);
    }
    encode(
        &ctx,
        &Message::Update(Update::end_of_rib(Family::RT_CONSTRAINT)),
        &mut b,
    );
    encode(
        &ctx,
        &Message::Update(Update::end_of_rib(Family::L2VPN_EVPN)),
        &mut b,
    );
    b
}

/// Client `k`'s membership for route target `ASN:(1 + k % route_targets)`.
fn membership(ctx: &CodecContext, k: u32, route_targets: u32, b: &mut Vec<u8>) {
    let rt = ExtendedCommunity::route_target(RouteTarget::As2 {
        asn: ASN as u16,
        value: 1 + k % route_targets,
    })
    .0;
    let u = Update {
        mp_reach: Some(MpReach::new(
            Family::RT_CONSTRAINT,
            NextHop::from_ip(IpAddr::V4(client(k))),
            vec![Nlri::new(Route::RtConstraint(RtMembership::exact(ASN, rt)))],
        )),
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::default()),
            PathAttribute::LocalPref(100),
        ],
        ..Update::default()
    };
    encode(ctx, &Message::Update(u), b);
}

/// A route reflector for `n` clients: a peer group over 127.64.0.0/10, or (`static_peers`)
/// `n` configured passive neighbours.
fn config(n: u32, static_peers: bool) -> NodeConfig {
    let mut c = NodeConfig::new(ASN, RID);
    let families = vec![Family::L2VPN_EVPN, Family::RT_CONSTRAINT];
    if static_peers {
        for k in 0..n {
            let mut nb = NeighborConfig::new(IpAddr::V4(client(k)), ASN, ASN, RID);
            nb.peer.passive = true;
            nb.peer.route_reflector_client = true;
            nb.peer.families = families.clone();
            c.neighbors.push(nb);
        }
    } else {
        dynamic(&mut c, n, families);
    }
    c
}

// DYNAMIC-BEGIN (cut for a baseline build against a tree without peer groups)
fn dynamic(c: &mut NodeConfig, n: u32, families: Vec<Family>) {
    let range = "127.64.0.0/10".parse().unwrap_or_else(|e| panic!("{e}"));
    let mut g = evpnd_node::PeerGroupConfig::new(
        "clients",
        vec![range],
        evpnd_node::RemoteAsn::Internal,
        ASN,
        RID,
    );
    g.limit = n;
    g.template.peer.route_reflector_client = true;
    g.template.peer.families = families;
    c.peer_groups.push(g);
}
// DYNAMIC-END

/// Drains the node's outputs; the bytes of UPDATEs written are acknowledged at once (a fast
/// reader), so flow control never holds a peer back.
fn drain(node: &mut Node, now: Instant) -> usize {
    let mut sent = Vec::new();
    let mut n = 0;
    while let Some(o) = node.poll_output() {
        n += 1;
        if let Output::Send { conn, .. } = o {
            sent.push(conn);
        }
    }
    sent.sort();
    sent.dedup();
    for conn in sent {
        node.handle(Input::Drained { conn }, now);
        while node.poll_output().is_some() {
            n += 1;
        }
    }
    while node.poll_event().is_some() {}
    n
}

/// Sets up `n` sessions; returns the seconds it took.
fn run(n: u32, static_peers: bool, route_targets: u32) -> f64 {
    let mut node = match Node::new(config(n, static_peers), Instant::now()) {
        Ok(node) => node,
        Err(e) => panic!("config: {e}"),
    };
    let now = Instant::now();
    drain(&mut node, now);
    let start = Instant::now();
    for k in 0..n {
        let now = Instant::now();
        let conn = match node.accept(IpAddr::V4(client(k)), now) {
            Ok(a) => a.conn,
            Err(e) => panic!("client {k} refused: {e}"),
        };
        drain(&mut node, now);
        node.handle(
            Input::Received {
                conn,
                bytes: &hello(k),
            },
            now,
        );
        drain(&mut node, now);
        node.handle(
            Input::Received {
                conn,
                bytes: &memberships(k, route_targets),
            },
            now,
        );
        drain(&mut node, now);
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
            drain(&mut node, now);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let established = node
        .neighbors(Instant::now())
        .iter()
        .filter(|v| v.uptime.is_some())
        .count();
    assert_eq!(established, n as usize, "not every session is Established");
    secs
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut sizes = vec![100u32, 1000, 10_000];
    let mut static_peers = false;
    let mut route_targets = 100;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--sessions" => {
                i += 1;
                sizes = args
                    .get(i)
                    .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
                    .unwrap_or_default();
            }
            "--static" => static_peers = true,
            "--route-targets" => {
                i += 1;
                route_targets = args.get(i).and_then(|s| s.parse().ok()).unwrap_or(100);
            }
            other => panic!(
                "unknown argument {other} (--sessions N[,N...] [--static] [--route-targets K])"
            ),
        }
        i += 1;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "session set-up, {} peers, memberships over {route_targets} route targets; load average {}",
        if static_peers {
            "configured"
        } else {
            "dynamic"
        },
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for n in sizes {
        let secs = run(n, static_peers, route_targets);
        println!(
            "{n:>7} sessions: {secs:>8.3} s  {:>10.0} sessions/s",
            f64::from(n) / secs
        );
    }
}
