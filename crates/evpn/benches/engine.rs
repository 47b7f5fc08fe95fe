//! Engine cost per route as the tables grow: the mobility bookkeeping must stay O(1) per route
//! (issue 4: "no scan of a table per route").
//!
//! For tables of 10 k, 100 k and 1 M remote MACs (one VNI, MAC-only type-2 routes from one
//! remote VTEP, built outside the measured loop):
//! * `import/N`: N remote best-path changes into a fresh engine (throughput in routes);
//! * `move/N`: with N remote MACs installed, 10 000 of them are attached locally — each a
//!   move that advertises sequence + 1 and removes the remote FDB entry — then the remote
//!   routes answer with a higher sequence and take them back (20 000 mobility decisions); the
//!   local claims, now dormant, are detached and the original routes restored.
//!
//! If a decision scanned the table, `move/1000000` would be ~100× slower per element than
//! `move/10000`; it should be about the same. The loaded engine's RSS growth per MAC is
//! printed too (the corpus of best changes is allocated before the measurement).
//!
//! `import-type5/100000`: 100 000 IP prefix routes (IPv6 /80s of 2001:db8::/32, GW IP zero,
//! one remote VTEP) into the VRF table of a fresh symmetric-IRB engine (RFC 9136 §4.4.1):
//! the per-route cost of the layer-3 import, to compare with the kernel install floor.
//!
//! Run: `cargo bench -p evpnd-evpn --bench engine`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_main, BatchSize, Criterion, Throughput};
use evpnd_bgp::rib::{BestChange, NlriExtras, Path, PathAttrs, RouteSource};
use evpnd_bgp::PeerId;
use evpnd_evpn::{Attachment, Engine, EngineConfig, EviConfig, VrfConfig, VrfName};
use evpnd_wire::{
    AttrSet, Esi, EvpnRoute, ExtCommunityKind, ExtendedCommunity, Family, IpPrefixRoute,
    MacAddress, MacIpRoute, NextHop, PathAttribute, Route, RouteDistinguisher, RouteTarget, Vni,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

const VNI: Vni = match Vni::new(100) {
    Ok(v) => v,
    Err(_) => panic!("100 is a valid VNI"),
};
const MOVES: usize = 10_000;

fn mac(i: u32) -> MacAddress {
    let [a, b, c, d] = i.to_be_bytes();
    MacAddress([0x02, 0x00, a, b, c, d])
}

fn engine() -> Engine {
    let mut cfg = EngineConfig::new(
        65001,
        Ipv4Addr::new(198, 19, 0, 1),
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
    );
    cfg.duplicate_detection.enabled = false;
    let mut e = Engine::new(cfg);
    e.add_evi(EviConfig::new(VNI));
    while e.poll_route().is_some() {}
    e
}

fn attrs(sequence: u32) -> Arc<PathAttrs> {
    let mut comms = vec![
        ExtendedCommunity::route_target(RouteTarget::As2 {
            asn: 65001,
            value: VNI.get(),
        }),
        ExtendedCommunity::vxlan_encapsulation(),
    ];
    if sequence > 0 {
        comms.push(ExtendedCommunity::new(ExtCommunityKind::MacMobility {
            sequence,
            sticky: false,
        }));
    }
    let mut a = PathAttrs::from_attributes(
        &[PathAttribute::ExtendedCommunities(comms)],
        AttrSet::default(),
        NextHop::from_ip(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))),
        true,
    );
    a.nlri_extras = NlriExtras {
        label1: VNI.label(),
        ..NlriExtras::default()
    };
    Arc::new(a)
}

fn changes(n: u32, sequence: u32) -> Vec<BestChange> {
    let rd = RouteDistinguisher::ipv4(Ipv4Addr::new(198, 19, 0, 2), 100);
    let a = attrs(sequence);
    (0..n)
        .map(|i| {
            let route = Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: mac(i),
                ip: None,
                label1: VNI.label(),
                label2: None,
            }));
            BestChange {
                family: Family::L2VPN_EVPN,
                route,
                best: Some(Path {
                    route,
                    source: RouteSource::Peer(PeerId(1)),
                    path_id: None,
                    attrs: a.clone(),
                    stale: false,
                }),
            }
        })
        .collect()
}

const L3VNI: Vni = match Vni::new(5000) {
    Ok(v) => v,
    Err(_) => panic!("5000 is a valid VNI"),
};
const TYPE5_ROUTES: u32 = 100_000;

/// An engine with VRF red (L3VNI 5000, symmetric IRB).
fn l3_engine() -> Engine {
    let mut e = engine();
    e.add_vrf(VrfConfig::new(
        VrfName::new("red").expect("a valid VRF name"),
        Some(L3VNI),
    ));
    while e.poll_route().is_some() {}
    while e.poll_intent().is_some() {}
    e
}

/// `n` distinct IP prefix routes from VTEP 198.18.0.2: /80s of 2001:db8::/32, GW IP zero,
/// label L3VNI.
fn type5_changes(n: u32) -> Vec<BestChange> {
    let rd = RouteDistinguisher::ipv4(Ipv4Addr::new(198, 19, 0, 2), 5000);
    let comms = vec![
        ExtendedCommunity::route_target(RouteTarget::As2 {
            asn: 65001,
            value: L3VNI.get(),
        }),
        ExtendedCommunity::vxlan_encapsulation(),
        ExtendedCommunity::new(ExtCommunityKind::RouterMac(MacAddress([
            0x02, 0, 198, 19, 0, 2,
        ]))),
    ];
    let mut a = PathAttrs::from_attributes(
        &[PathAttribute::ExtendedCommunities(comms)],
        AttrSet::default(),
        NextHop::from_ip(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))),
        true,
    );
    let gateway = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    a.nlri_extras = NlriExtras {
        label1: L3VNI.label(),
        gateway: Some(gateway),
        ..NlriExtras::default()
    };
    let a = Arc::new(a);
    (0..n)
        .map(|i| {
            let [_, _, hi, lo] = i.to_be_bytes();
            let prefix = IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0x0db8,
                u16::from(hi),
                u16::from(lo),
                (i >> 16) as u16,
                0,
                0,
                0,
            ));
            let route = Route::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                prefix_len: 80,
                prefix,
                gateway,
                label: L3VNI.label(),
            }));
            BestChange {
                family: Family::L2VPN_EVPN,
                route,
                best: Some(Path {
                    route,
                    source: RouteSource::Peer(PeerId(1)),
                    path_id: None,
                    attrs: a.clone(),
                    stale: false,
                }),
            }
        })
        .collect()
}

fn drain(e: &mut Engine) -> usize {
    let mut n = 0;
    while e.poll_route().is_some() {
        n += 1;
    }
    while e.poll_intent().is_some() {
        n += 1;
    }
    while e.poll_event().is_some() {
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    // Corpora and loaded engines are built first, before any measured loop allocates and frees
    // memory, so that each engine's RSS growth is its own (freed heap would be reused).
    let sizes = [10_000u32, 100_000, 1_000_000];
    let tables: Vec<Vec<BestChange>> = sizes.iter().map(|n| changes(*n, 0)).collect();
    let mut loaded: Vec<Engine> = Vec::new();
    for (n, table) in sizes.iter().zip(&tables) {
        let before = rss_bytes();
        let mut e = engine();
        for ch in table {
            e.remote_best_change(ch, now);
        }
        drain(&mut e);
        if let (Some(b), Some(a)) = (before, rss_bytes()) {
            eprintln!(
                "engine with {n} remote MACs: RSS +{:.1} MiB, {:.0} bytes/MAC",
                (a.saturating_sub(b)) as f64 / 1048576.0,
                a.saturating_sub(b) as f64 / f64::from(*n)
            );
        }
        loaded.push(e);
    }
    let type5 = type5_changes(TYPE5_ROUTES);
    {
        let mut g = c.benchmark_group("import-type5");
        g.throughput(Throughput::Elements(u64::from(TYPE5_ROUTES)));
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(5));
        g.bench_function(TYPE5_ROUTES.to_string(), |b| {
            b.iter_batched(
                l3_engine,
                |mut e| {
                    for ch in &type5 {
                        e.remote_best_change(ch, now);
                    }
                    black_box(drain(&mut e));
                    e
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
    for ((n, table), loaded) in sizes.iter().copied().zip(&tables).zip(&mut loaded) {
        let mut g = c.benchmark_group("import");
        g.throughput(Throughput::Elements(u64::from(n)));
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(if n >= 1_000_000 { 20 } else { 5 }));
        g.bench_function(n.to_string(), |b| {
            b.iter_batched(
                engine,
                |mut e| {
                    for ch in table {
                        e.remote_best_change(ch, now);
                    }
                    black_box(drain(&mut e));
                    e
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();

        // The moved MACs are spread over the table.
        let step = n / MOVES as u32;
        let moved: Vec<u32> = (0..MOVES as u32).map(|k| k * step).collect();
        let take_back: Vec<BestChange> = changes(n, 2)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| (*i as u32) % step == 0)
            .map(|(_, c)| c)
            .take(MOVES)
            .collect();
        let restore: Vec<BestChange> = moved.iter().map(|i| table[*i as usize].clone()).collect();
        let mut g = c.benchmark_group("move");
        g.throughput(Throughput::Elements(2 * MOVES as u64));
        g.sample_size(20);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(5));
        g.bench_function(n.to_string(), |b| {
            b.iter(|| {
                for i in &moved {
                    loaded
                        .local_attach(&Attachment::new(VNI, mac(*i), None), now)
                        .unwrap();
                }
                for ch in &take_back {
                    loaded.remote_best_change(ch, now);
                }
                // Back to the initial state for the next iteration (not a mobility decision
                // worth measuring separately: same cost class). The local claims that lost
                // are dormant (they would win again over the restored sequence 0): detached.
                for i in &moved {
                    loaded.local_detach(VNI, mac(*i), None, now).unwrap();
                }
                for ch in &restore {
                    loaded.remote_best_change(ch, now);
                }
                black_box(drain(loaded))
            })
        });
        g.finish();
        // Each iteration ended where it started: every MAC remote, sequence 0.
        let table = loaded.mac_table(VNI);
        assert_eq!(table.len(), n as usize);
        assert!(table
            .iter()
            .all(|e| !matches!(e.origin, evpnd_evpn::Location::Local) && e.sequence == 0));
    }
}

/// Resident set size from /proc/self/statm (Linux), for the memory figure per MAC.
fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
