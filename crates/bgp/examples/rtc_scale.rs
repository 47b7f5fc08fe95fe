//! RT-Constraint at route-reflector scale, driving the [`Rib`] directly (issue 12, P7 shape):
//! `--peers` internal RR clients with RT-Constraint, each a member of 2–5 of `--vnis` VNIs
//! (one route target per VNI), originating `--routes` EVPN MAC routes in total spread over
//! their VNIs. Sessions come up in batches (`--batch`); each sends its memberships, its
//! RT-Constraint End-of-RIB and its routes, and the reflector's output is drained the way a
//! daemon pump does (`take_ready_peers`, then `poll_transmit_shared` per ready peer). Then
//! every peer changes one membership (one VNI added, one removed).
//!
//! After each phase every peer's received state is checked: every route it was sent belongs
//! to one of its VNIs, it holds exactly the routes of its VNIs that other peers originated,
//! and it got exactly one EVPN End-of-RIB. Prints wall time per phase.
//!
//! ```text
//! cargo run --release -p evpnd-bgp --example rtc_scale -- --peers 10000 --vnis 1000 --routes 1000000
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evpnd_bgp::config::PeerId;
use evpnd_bgp::rib::{PeerInfo, Rib, RibConfig};
use evpnd_wire::{
    decode_all, AsPath, CodecContext, Esi, EvpnRoute, ExtendedCommunity, Family, Label, MacAddress,
    MacIpRoute, Message, MpReach, MpUnreach, NextHop, Nlri, Origin, Outcome, PathAttribute, Route,
    RouteDistinguisher, RouteTarget, RtMembership, Update,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

const ASN: u32 = 65000;
const EVPN: Family = Family::L2VPN_EVPN;
const RTC: Family = Family::RT_CONSTRAINT;

struct Args {
    peers: u32,
    vnis: u32,
    routes: u32,
    batch: u32,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        peers: 1000,
        vnis: 1000,
        routes: 100_000,
        batch: 500,
        seed: 1,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < v.len() {
        let n: u64 = v[i + 1].parse().expect("a number");
        match v[i].as_str() {
            "--peers" => a.peers = n as u32,
            "--vnis" => a.vnis = n as u32,
            "--routes" => a.routes = n as u32,
            "--batch" => a.batch = n as u32,
            "--seed" => a.seed = n,
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    a
}

/// xorshift64*: deterministic membership draws.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

fn rt(vni: u32) -> ExtendedCommunity {
    ExtendedCommunity::route_target(RouteTarget::As2 {
        asn: 65000,
        value: vni,
    })
}

fn membership(vni: u32) -> Route {
    Route::RtConstraint(RtMembership::exact(ASN, rt(vni).0))
}

/// MAC route number `n` in VNI `vni`.
fn mac(vni: u32, n: u32) -> Route {
    let b = n.to_be_bytes();
    Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd: RouteDistinguisher::as2(65001, vni),
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddress([0x02, 0, b[0], b[1], b[2], b[3]]),
        ip: None,
        label1: Label::from_vni(vni).unwrap(),
        label2: None,
    }))
}

fn peer_addr(p: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x7f40_0000 + p + 1)
}

fn info(p: u32) -> PeerInfo {
    let a = peer_addr(p);
    let mut i = PeerInfo::new(PeerId(p), IpAddr::V4(a), ASN, a, false, vec![EVPN, RTC]);
    i.rr_client = true;
    i
}

fn announce(family_routes: Vec<Route>, ext: Vec<ExtendedCommunity>, nh: Ipv4Addr) -> Update {
    let family = family_routes[0].family();
    let mut attributes = vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::sequence(vec![])),
    ];
    if !ext.is_empty() {
        attributes.push(PathAttribute::ExtendedCommunities(ext));
    }
    Update {
        mp_reach: Some(MpReach::new(
            family,
            NextHop::Ipv4(nh),
            family_routes.into_iter().map(Nlri::new).collect(),
        )),
        attributes,
        ..Update::default()
    }
}

fn withdraw(routes: Vec<Route>) -> Update {
    let family = routes[0].family();
    Update {
        mp_unreach: Some(MpUnreach::new(
            family,
            routes.into_iter().map(Nlri::new).collect(),
        )),
        ..Update::default()
    }
}

/// What one shared chunk holds, decoded once however many peers it goes to.
#[derive(Default)]
struct Summary {
    /// VNI → (routes announced, routes withdrawn).
    evpn: HashMap<u32, (i64, i64)>,
    evpn_eor: u32,
}

fn summarise(ctx: &CodecContext, bytes: &[u8]) -> Summary {
    let (msgs, err) = decode_all(ctx, bytes);
    assert!(err.is_none(), "undecodable output: {err:?}");
    let mut s = Summary::default();
    for d in msgs {
        let Message::Update(u) = d.message else {
            continue;
        };
        if u.as_end_of_rib() == Some(EVPN) {
            s.evpn_eor += 1;
            continue;
        }
        for (f, n) in u.withdrawals() {
            if let (EVPN, Route::Evpn(EvpnRoute::MacIp(m))) = (f, n.route) {
                s.evpn.entry(m.label1.vni()).or_default().1 += 1;
            }
        }
        for (f, n) in u.announced() {
            if let (EVPN, Route::Evpn(EvpnRoute::MacIp(m))) = (f, n.route) {
                s.evpn.entry(m.label1.vni()).or_default().0 += 1;
            }
        }
    }
    s
}

/// What each peer holds, from what it was sent.
struct Receiver {
    held: i64,
    eor: u32,
    /// Routes of VNIs it is not a member of (must stay 0).
    foreign: i64,
}

struct World {
    rib: Rib,
    ctx: CodecContext,
    vnis: Vec<Vec<u32>>,
    /// Routes per VNI, and per (peer, VNI) its own.
    per_vni: Vec<i64>,
    own: Vec<HashMap<u32, i64>>,
    recv: Vec<Receiver>,
    cache: HashMap<usize, (Arc<[u8]>, Summary)>,
    chunks: u64,
    distinct: u64,
    /// Peers whose session went down (not checked any more).
    down: Vec<bool>,
}

impl World {
    /// Drains every ready peer, as a pump does.
    fn drain(&mut self) {
        loop {
            let ready = self.rib.take_ready_peers();
            if ready.is_empty() {
                // Every queue is empty: no chunk decoded so far can come again (and holding
                // them would make the peak RSS the example's, not the RIB's).
                self.distinct += self.cache.len() as u64;
                self.cache.clear();
                return;
            }
            for id in ready {
                let p = id.0 as usize;
                while let Some(c) = self.rib.poll_transmit_shared(id) {
                    self.chunks += 1;
                    let key = Arc::as_ptr(&c) as *const u8 as usize;
                    let ctx = &self.ctx;
                    let (_, s) = self
                        .cache
                        .entry(key)
                        .or_insert_with(|| (c.clone(), summarise(ctx, &c)));
                    let r = &mut self.recv[p];
                    r.eor += s.evpn_eor;
                    for (vni, (a, w)) in &s.evpn {
                        if self.vnis[p].contains(vni) {
                            r.held += a - w;
                        } else {
                            r.foreign += a + w;
                        }
                    }
                }
            }
        }
    }

    fn check(&self, phase: &str) {
        let mut bad = 0;
        for (p, r) in self.recv.iter().enumerate() {
            if self.down[p] {
                continue;
            }
            let want: i64 = self.vnis[p]
                .iter()
                .map(|v| self.per_vni[*v as usize] - self.own[p].get(v).copied().unwrap_or(0))
                .sum();
            if r.held != want || r.foreign != 0 || r.eor != 1 {
                if bad < 5 {
                    eprintln!(
                        "{phase}: peer {p}: holds {} want {want}, foreign {}, End-of-RIB {}",
                        r.held, r.foreign, r.eor
                    );
                }
                bad += 1;
            }
        }
        let up = self.down.iter().filter(|d| !**d).count();
        println!("{phase}: {} peers exact, {bad} not", up - bad);
        assert_eq!(bad, 0, "{phase}: peers with the wrong routes");
    }
}

fn main() {
    let a = args();
    let mut rng = Rng(a.seed.max(1));
    let mut w = World {
        rib: Rib::new(RibConfig::new(ASN, Ipv4Addr::new(127, 0, 0, 1))),
        ctx: CodecContext::default(),
        vnis: Vec::new(),
        per_vni: vec![0; a.vnis as usize],
        own: Vec::new(),
        recv: Vec::new(),
        cache: HashMap::new(),
        chunks: 0,
        distinct: 0,
        down: vec![false; a.peers as usize],
    };
    w.rib.set_best_change_tracking(false);
    for _ in 0..a.peers {
        let k = 2 + rng.below(4);
        let mut v: Vec<u32> = Vec::new();
        while v.len() < k as usize {
            let x = rng.below(a.vnis);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        w.vnis.push(v);
        w.own.push(HashMap::new());
        w.recv.push(Receiver {
            held: 0,
            eor: 0,
            foreign: 0,
        });
    }
    let per_peer = a.routes / a.peers.max(1);
    println!(
        "rtc_scale: {} peers, {} VNIs, {} routes ({} per peer), batches of {}",
        a.peers,
        a.vnis,
        per_peer * a.peers,
        per_peer,
        a.batch
    );

    // Phase 1: sessions up with memberships, RTC End-of-RIB and routes, batch by batch.
    let t0 = Instant::now();
    let mut next_mac = 0u32;
    let mut start = 0;
    while start < a.peers {
        let end = (start + a.batch).min(a.peers);
        for p in start..end {
            let i = info(p);
            let nh = peer_addr(p);
            w.rib.peer_up_at(i, Instant::now());
            let ms: Vec<Route> = w.vnis[p as usize].iter().map(|v| membership(*v)).collect();
            w.rib
                .apply_update(PeerId(p), &announce(ms, vec![], nh), &Outcome::Accept)
                .unwrap();
            w.rib
                .apply_update(PeerId(p), &Update::end_of_rib(RTC), &Outcome::Accept)
                .unwrap();
            let vs = w.vnis[p as usize].clone();
            let mut by_vni: HashMap<u32, Vec<Route>> = HashMap::new();
            for n in 0..per_peer {
                let v = vs[(n as usize) % vs.len()];
                by_vni.entry(v).or_default().push(mac(v, next_mac));
                next_mac += 1;
            }
            for (v, routes) in by_vni {
                let n = routes.len() as i64;
                for chunk in routes.chunks(200) {
                    w.rib
                        .apply_update(
                            PeerId(p),
                            &announce(chunk.to_vec(), vec![rt(v)], nh),
                            &Outcome::Accept,
                        )
                        .unwrap();
                }
                w.per_vni[v as usize] += n;
                *w.own[p as usize].entry(v).or_default() += n;
            }
        }
        w.drain();
        start = end;
    }
    let t1 = Instant::now();
    println!(
        "join: {:.2} s ({} chunks drained, {} distinct)",
        (t1 - t0).as_secs_f64(),
        w.chunks,
        w.distinct
    );
    w.check("join");

    // Phase 2: every peer adds one VNI and drops another, batch by batch.
    let t2 = Instant::now();
    let mut start = 0;
    while start < a.peers {
        let end = (start + a.batch).min(a.peers);
        let mut dropped = Vec::new();
        for p in start..end {
            let nh = peer_addr(p);
            let vs = &w.vnis[p as usize];
            let drop = vs[rng.below(vs.len() as u32) as usize];
            let add = loop {
                let x = rng.below(a.vnis);
                if !vs.contains(&x) {
                    break x;
                }
            };
            w.rib
                .apply_update(
                    PeerId(p),
                    &announce(vec![membership(add)], vec![], nh),
                    &Outcome::Accept,
                )
                .unwrap();
            w.rib
                .apply_update(
                    PeerId(p),
                    &withdraw(vec![membership(drop)]),
                    &Outcome::Accept,
                )
                .unwrap();
            w.vnis[p as usize].push(add);
            dropped.push((p, drop));
        }
        // The dropped VNI's routes come back as withdrawals: counted while draining, then
        // the VNI is forgotten.
        w.drain();
        for (p, d) in dropped {
            w.vnis[p as usize].retain(|v| *v != d);
        }
        start = end;
    }
    let t3 = Instant::now();
    println!(
        "membership change: {:.2} s ({} chunks drained)",
        (t3 - t2).as_secs_f64(),
        w.chunks
    );
    w.check("membership change");
    // Phase 3: one peer in ten goes down (its routes are withdrawn from the others) and is
    // removed, its slot freed.
    let t4 = Instant::now();
    for p in (0..a.peers).step_by(10) {
        w.rib.peer_down(PeerId(p), None, Instant::now());
        assert!(w.rib.remove_peer(PeerId(p)));
        w.down[p as usize] = true;
        for (v, n) in &w.own[p as usize] {
            w.per_vni[*v as usize] -= n;
        }
        if p % (a.batch * 10) == 0 {
            w.drain();
        }
    }
    w.drain();
    let t5 = Instant::now();
    println!(
        "sessions down: {:.2} s for {} peers",
        (t5 - t4).as_secs_f64(),
        a.peers.div_ceil(10)
    );
    w.check("sessions down");
    println!(
        "total: {:.2} s; {} routes in the RIB",
        (t5 - t0).as_secs_f64(),
        w.rib.route_count(EVPN)
    );
}
