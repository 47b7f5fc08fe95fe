//! Codec throughput on a large EVPN table.
//!
//! Corpus (built once, outside the measured loops): 1 000 000 MAC-only type-2 routes (RFC 7432
//! §7.2) with distinct MACs (02:00:xx:xx:xx:xx), one RD (198.18.0.1:100), VNI labels (64 VNIs
//! from 10000), and the attributes a VTEP attaches: ORIGIN, AS_PATH and EXTENDED_COMMUNITIES
//! (route target + VXLAN encapsulation, RFC 8365 §5.1.3). `UpdatePacker` packs them into
//! 4096-byte UPDATEs (about 115 routes each).
//!
//! Benchmarks (throughput in NLRI, so criterion prints NLRI/s):
//! * `decode/decode_all`: every message decoded into owned `Update`s with their routes;
//! * `decode/decode_message_loop`: the same, one message at a time, each dropped after use;
//! * `encode/packer_announce`: `UpdatePacker::announce` of the 1 M routes into a reused buffer.
//!
//! Run: `cargo bench -p evpnd-wire --bench codec` (release profile; about a minute).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_main, Criterion, Throughput};
use evpnd_wire::{
    decode_all, decode_message, AsPath, AttrSet, CodecContext, Esi, EvpnRoute, ExtendedCommunity,
    Family, Label, MacAddress, MacIpRoute, Message, NextHop, Nlri, Origin, PathAttribute, Route,
    RouteDistinguisher, RouteTarget, UpdatePacker,
};
use std::net::Ipv4Addr;
use std::time::Duration;

const ROUTES: usize = 1_000_000;

struct Corpus {
    ctx: CodecContext,
    next_hop: NextHop,
    attributes: Vec<PathAttribute>,
    routes: Vec<Nlri>,
    packed: Vec<u8>,
    messages: usize,
}

fn corpus() -> Corpus {
    let ctx = CodecContext::default();
    let vtep = Ipv4Addr::new(198, 18, 0, 1);
    let rd = RouteDistinguisher::ipv4(vtep, 100);
    let routes: Vec<Nlri> = (0..ROUTES as u32)
        .map(|i| {
            let [a, b, c, d] = i.to_be_bytes();
            let vni = 10_000 + i % 64;
            Nlri::new(Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
                rd,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: MacAddress([0x02, 0x00, a, b, c, d]),
                ip: None,
                label1: Label::from_vni(vni).expect("24-bit VNI"),
                label2: None,
            })))
        })
        .collect();
    let attributes = vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::sequence(vec![65_001])),
        PathAttribute::ExtendedCommunities(vec![
            ExtendedCommunity::route_target(RouteTarget::As2 {
                asn: 65_001,
                value: 10_000,
            }),
            ExtendedCommunity::vxlan_encapsulation(),
        ]),
    ];
    let next_hop = NextHop::Ipv4(vtep);
    let mut packed = Vec::with_capacity(ROUTES * 36);
    let messages = UpdatePacker::new(&ctx)
        .announce(
            Family::L2VPN_EVPN,
            &next_hop,
            &attributes,
            AttrSet::default(),
            &routes,
            &mut packed,
        )
        .expect("the corpus packs");
    // The measured decode must really yield every route.
    let (decoded, err) = decode_all(&ctx, &packed);
    assert!(err.is_none(), "corpus does not decode: {err:?}");
    assert_eq!(decoded.len(), messages);
    assert_eq!(count_nlri(decoded.iter().map(|d| &d.message)), ROUTES);
    Corpus {
        ctx,
        next_hop,
        attributes,
        routes,
        packed,
        messages,
    }
}

fn count_nlri<'a>(msgs: impl Iterator<Item = &'a Message>) -> usize {
    msgs.map(|m| match m {
        Message::Update(u) => u.mp_reach.as_ref().map_or(0, |r| r.nlri.len()),
        _ => 0,
    })
    .sum()
}

fn bench(c: &mut Criterion) {
    let k = corpus();
    eprintln!(
        "corpus: {} routes in {} UPDATEs, {} bytes ({:.1} routes/message)",
        k.routes.len(),
        k.messages,
        k.packed.len(),
        k.routes.len() as f64 / k.messages as f64
    );

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(ROUTES as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("decode_all", |b| {
        b.iter(|| {
            let (msgs, err) = decode_all(&k.ctx, black_box(&k.packed));
            debug_assert!(err.is_none());
            msgs
        })
    });
    g.bench_function("decode_message_loop", |b| {
        b.iter(|| {
            let buf = black_box(&k.packed[..]);
            let mut pos = 0;
            let mut routes = 0;
            while pos < buf.len() {
                match decode_message(&k.ctx, &buf[pos..]) {
                    Ok(d) => {
                        pos += d.length;
                        routes += count_nlri(std::iter::once(&d.message));
                    }
                    Err(_) => break,
                }
            }
            routes
        })
    });
    g.finish();

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(ROUTES as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(15));
    let packer = UpdatePacker::new(&k.ctx);
    let mut out = Vec::with_capacity(k.packed.len());
    g.bench_function("packer_announce", |b| {
        b.iter(|| {
            out.clear();
            packer
                .announce(
                    Family::L2VPN_EVPN,
                    &k.next_hop,
                    &k.attributes,
                    AttrSet::default(),
                    black_box(&k.routes),
                    &mut out,
                )
                .map(|n| (n, out.len()))
        })
    });
    g.finish();
}

/// The harness entry points (`criterion_group!` defines a public function).
mod harness {
    criterion::criterion_group!(benches, super::bench);
}

criterion_main!(harness::benches);
