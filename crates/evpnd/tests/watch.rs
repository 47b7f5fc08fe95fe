//! The watch streams against real evpnd processes over their real unix socket (issue 10,
//! item 2): the data-plane intent stream delivers a snapshot then consecutive deltas, resumes
//! from a sequence with exactly the missing deltas, answers a sequence no longer kept with a
//! fresh snapshot; a stalled consumer of 200 k+ intents is cut off with RESOURCE_EXHAUSTED
//! while the daemon's memory stays bounded and the protocol keeps running; WatchEvents and
//! WatchMacs see a session come up and a MAC move; WatchRoutes sees the routes of an attach.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{endpoint, free_port, wait_until, Daemon, EvpnApi};
use evpnd_api::v1;
use evpnd_api::v1::watch_client::WatchClient;
use evpnd_lab::routes::{encode_announcements, generate, RouteKind};
use evpnd_lab::{Session, SpeakerConfig, Tracking};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::Streaming;
use v1::intent_message::Body;

const WAIT: Duration = Duration::from_secs(20);
const ASN: u32 = 65000;

async fn watch(d: &Daemon) -> WatchClient<Channel> {
    WatchClient::new(evpnd_lab::fabric::evpnd::channel(&d.api).await.unwrap())
}

/// The next message within `WAIT`, or a panic naming `what`.
async fn next<M>(s: &mut Streaming<M>, what: &str) -> M {
    match tokio::time::timeout(WAIT, s.message()).await {
        Ok(Ok(Some(m))) => m,
        other => panic!("{what}: no message: {:?}", other.map(|r| r.map(|_| ()))),
    }
}

/// A snapshot read to its end marker: (sequence, epoch, entries).
async fn snapshot(s: &mut Streaming<v1::IntentMessage>) -> (u64, u64, Vec<v1::DataplaneIntent>) {
    let first = next(s, "snapshot begin").await;
    assert!(
        matches!(first.body, Some(Body::SnapshotBegin(_))),
        "{first:?}"
    );
    let mut entries = Vec::new();
    loop {
        let m = next(s, "snapshot").await;
        assert_eq!(
            m.sequence, first.sequence,
            "snapshot messages carry its sequence"
        );
        match m.body {
            Some(Body::SnapshotEntry(i)) => entries.push(i),
            Some(Body::SnapshotEnd(end)) => {
                assert_eq!(end.entries, entries.len() as u64);
                return (first.sequence, first.epoch, entries);
            }
            other => panic!("in a snapshot: {other:?}"),
        }
    }
}

/// The next `n` deltas, checked consecutive after `after`.
async fn deltas(
    s: &mut Streaming<v1::IntentMessage>,
    after: u64,
    n: usize,
) -> Vec<v1::dataplane_intent::Kind> {
    let mut out = Vec::new();
    for k in 0..n {
        let m = next(s, "delta").await;
        assert_eq!(m.sequence, after + 1 + k as u64, "no gap, no repeat: {m:?}");
        match m.body {
            Some(Body::Delta(i)) => out.push(i.kind.unwrap()),
            other => panic!("expected a delta: {other:?}"),
        }
    }
    out
}

fn two_node_config(me: (&str, u16, &str), peer: (&str, u16), extra: &str) -> String {
    format!(
        "asn = {ASN}\nrouter-id = \"{vtep}\"\n[bgp]\nlisten = \"{ip}:{port}\"\nhold-time = 9\nconnect-retry = 0.2\n\
         [[neighbor]]\naddress = \"{pip}\"\nremote-asn = {ASN}\nport = {pport}\nlocal-address = \"{ip}\"\n\
         [evpn]\nvtep = \"{vtep}\"\n[[vni]]\nvni = 100\n[dataplane]\nkind = \"memory\"\n{extra}",
        ip = me.0,
        port = me.1,
        vtep = me.2,
        pip = peer.0,
        pport = peer.1,
    )
}

fn rss_kib(d: &Daemon) -> u64 {
    let pid = d.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A stream of `rpc` on a fresh client of `d`.
macro_rules! open {
    ($rt:expr, $d:expr, $rpc:ident, $req:expr) => {{
        let mut w = $rt.block_on(watch($d));
        $rt.block_on(w.$rpc($req)).unwrap().into_inner()
    }};
}

#[test]
fn intents_snapshot_deltas_resume_and_events() {
    let (a_ip, b_ip) = ("127.0.0.61", "127.0.0.62");
    let (a_port, b_port) = (free_port(a_ip), free_port(b_ip));
    let (a_vtep, b_vtep) = ("198.19.0.61", "198.19.0.62");
    // A keeps only 6 intents: a resume from before them must give a fresh snapshot.
    let a = Daemon::start(
        "watch-a",
        &two_node_config(
            (a_ip, a_port, a_vtep),
            (b_ip, b_port),
            "[watch]\nretain-intents = 6\n",
        ),
    );
    let rt = runtime();
    let mut events = open!(rt, &a, watch_events, v1::WatchEventsRequest::default());
    let mut macs = open!(rt, &a, watch_macs, v1::WatchMacsRequest::default());
    let mut routes = open!(
        rt,
        &a,
        watch_routes,
        v1::WatchRoutesRequest {
            vni: 100,
            ..Default::default()
        }
    );
    // The MAC snapshot of an empty table: begin, end.
    let m = rt.block_on(next(&mut macs, "MAC snapshot"));
    assert!(matches!(
        m.body,
        Some(v1::mac_message::Body::SnapshotBegin(_))
    ));
    let m = rt.block_on(next(&mut macs, "MAC snapshot end"));
    assert!(matches!(
        m.body,
        Some(v1::mac_message::Body::SnapshotEnd(_))
    ));
    let mac_base = m.sequence;

    // A's intent stream before B exists: the snapshot holds VNI 100 alone.
    let mut s = open!(rt, &a, watch_intents, v1::WatchIntentsRequest::default());
    let (base, epoch, entries) = rt.block_on(snapshot(&mut s));
    assert!(epoch != 0);
    assert_eq!(
        entries,
        vec![v1::DataplaneIntent {
            kind: Some(v1::dataplane_intent::Kind::Vni(v1::IntentVni {
                vni: 100,
                vrf: String::new()
            }))
        }]
    );

    // B comes up: WatchEvents sees the session, the intent stream B's flood entry.
    let b = Daemon::start(
        "watch-b",
        &two_node_config((b_ip, b_port, b_vtep), (a_ip, a_port), ""),
    );
    let up = rt.block_on(async {
        loop {
            let e = next(&mut events, "session up").await;
            if let Some(v1::event_message::Event::SessionUp(u)) = e.event {
                return u;
            }
        }
    });
    assert_eq!(up.peer, b_ip);
    assert!(up.families.iter().any(|f| f == "l2vpn-evpn"), "{up:?}");
    // B's flood entry, and Synced once B's End-of-RIB is in (in either order).
    let first = rt.block_on(deltas(&mut s, base, 2));
    assert!(
        first.contains(&v1::dataplane_intent::Kind::Flood(v1::IntentFlood {
            vni: 100,
            vtep: b_vtep.into()
        })),
        "{first:?}"
    );
    assert!(
        first.contains(&v1::dataplane_intent::Kind::Synced(v1::IntentSynced {})),
        "{first:?}"
    );
    let base = base + 1;

    // An endpoint attached on B: A's data plane gets its FDB entry and ARP binding, in order,
    // with the next sequences; the detach removes both.
    let t0 = Instant::now();
    b.attach(endpoint(100, "02:00:00:00:62:01", "192.0.2.62"))
        .unwrap();
    let added = rt.block_on(deltas(&mut s, base + 1, 2));
    eprintln!("attach on B -> intents on A's stream in {:?}", t0.elapsed());
    assert!(added.contains(&v1::dataplane_intent::Kind::RemoteMac(
        v1::IntentRemoteMac {
            vni: 100,
            mac: "02:00:00:00:62:01".into(),
            vtep: b_vtep.into(),
            sticky: false,
        }
    )));
    assert!(
        added.contains(&v1::dataplane_intent::Kind::Neighbor(v1::IntentNeighbor {
            vni: 100,
            ip: "192.0.2.62".into(),
            mac: "02:00:00:00:62:01".into(),
            router: false,
            local: false,
        })),
        "{added:?}"
    );
    b.detach(100, "02:00:00:00:62:01", "").unwrap();
    let removed = rt.block_on(deltas(&mut s, base + 3, 2));
    assert!(
        removed.contains(&v1::dataplane_intent::Kind::RemoveRemoteMac(
            v1::IntentRemoteMac {
                vni: 100,
                mac: "02:00:00:00:62:01".into(),
                ..Default::default()
            }
        ))
    );
    let last = base + 5;

    // Resume after the flood entry and Synced: exactly the four deltas after them, no
    // snapshot.
    let mut r = open!(
        rt,
        &a,
        watch_intents,
        v1::WatchIntentsRequest {
            from_sequence: base + 1,
            epoch,
        }
    );
    let resumed = rt.block_on(deltas(&mut r, base + 1, 4));
    assert_eq!(resumed[..2], added[..]);
    assert_eq!(resumed[2..], removed[..]);
    let quiet =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(300), r.message()).await });
    assert!(
        quiet.is_err(),
        "the resumed stream sends only the missing deltas"
    );

    // Another run's epoch: a fresh snapshot.
    let mut other = open!(
        rt,
        &a,
        watch_intents,
        v1::WatchIntentsRequest {
            from_sequence: base + 1,
            epoch: epoch + 1,
        }
    );
    let (seq, _, entries) = rt.block_on(snapshot(&mut other));
    assert_eq!(
        (seq, entries.len()),
        (last, 2),
        "VNI 100 and the flood entry"
    );

    // Four attaches on A (4 local neighbour bindings) push Synced out of the 6 kept:
    // resuming after it now gives a fresh snapshot.
    for i in 1..=4 {
        a.attach(endpoint(
            100,
            &format!("02:00:00:00:61:0{i}"),
            &format!("192.0.2.{}", 100 + i),
        ))
        .unwrap();
    }
    rt.block_on(deltas(&mut s, last, 4));
    let mut old = open!(
        rt,
        &a,
        watch_intents,
        v1::WatchIntentsRequest {
            from_sequence: base + 1,
            epoch,
        }
    );
    let (seq, _, entries) = rt.block_on(snapshot(&mut old));
    assert_eq!(seq, last + 4);
    assert_eq!(entries.len(), 6, "VNI, flood entry, 4 local bindings");
    // Both streams go on.
    b.attach(endpoint(100, "02:00:00:00:62:02", "")).unwrap();
    rt.block_on(deltas(&mut s, last + 4, 1));
    rt.block_on(deltas(&mut old, last + 4, 1));

    // A MAC move: 02:..:61:01, attached on A, is attached on B and wins with sequence 1.
    b.attach(endpoint(100, "02:00:00:00:61:01", "")).unwrap();
    let moved = rt.block_on(async {
        loop {
            let e = next(&mut events, "MAC move").await;
            if let Some(v1::event_message::Event::Mac(m)) = e.event {
                if m.kind == v1::MacChangeKind::MacChangeMoved as i32 {
                    return m;
                }
            }
        }
    });
    assert_eq!(moved.mac, "02:00:00:00:61:01");
    assert_eq!(
        (moved.previous_location.as_str(), moved.location.as_str()),
        ("local", b_vtep)
    );
    assert!(moved.mobility_sequence >= 1);
    // WatchMacs saw every change since its snapshot, in order, the move among them.
    rt.block_on(async {
        let mut seq = mac_base;
        loop {
            let m = next(&mut macs, "MAC changes").await;
            assert_eq!(m.sequence, seq + 1);
            seq = m.sequence;
            if let Some(v1::mac_message::Body::Change(c)) = m.body {
                if c.kind == v1::MacChangeKind::MacChangeMoved as i32 {
                    return;
                }
            }
        }
    });
    // WatchRoutes (VNI 100) carried the type-2 routes of A's attaches.
    rt.block_on(async {
        let mut type2 = 0;
        while type2 < 4 {
            let m = next(&mut routes, "routes").await;
            let e = m.route.unwrap().evpn.unwrap_or_default();
            assert!(e.vni == 100 || e.route_type == 3, "{e:?}");
            if e.route_type == 2 && e.mac.starts_with("02:00:00:00:61:") {
                type2 += 1;
            }
        }
    });
}

#[test]
fn a_stalled_consumer_is_cut_off_and_memory_stays_bounded() {
    let a_ip = "127.0.0.65";
    let a_port = free_port(a_ip);
    let speaker_ip = "127.0.0.66";
    let listener = std::net::TcpListener::bind((speaker_ip, 0)).unwrap();
    let speaker_port = listener.local_addr().unwrap().port();
    let a = Daemon::start(
        "watch-stall",
        &two_node_config(
            (a_ip, a_port, "198.19.0.65"),
            (speaker_ip, speaker_port),
            "",
        ),
    );
    let mut cfg = SpeakerConfig::evpn(ASN, Ipv4Addr::new(198, 19, 0, 66));
    cfg.tracking = Tracking::Off;
    let speaker = Session::accept(&listener, &cfg).unwrap();
    wait_until(WAIT, || a.all_established()).unwrap();
    let vtep = Ipv4Addr::new(198, 19, 0, 66);
    const ROUTES: usize = 110_000;
    let routes = generate(RouteKind::Mac, ROUTES, 66, vtep).unwrap();
    let (announce, _) =
        encode_announcements(speaker.ctx(), RouteKind::Mac, &routes, vtep, ASN).unwrap();
    let mut withdraw = Vec::new();
    evpnd_wire::UpdatePacker::new(speaker.ctx())
        .withdraw(evpnd_wire::Family::L2VPN_EVPN, &routes, &mut withdraw)
        .unwrap();
    let fdb_size = |d: &Daemon| d.dataplane().map(|p| p.macs.len()).unwrap_or(0);
    let load = Duration::from_secs(60);

    // Round 1, nobody watching: the table's own cost.
    let rss_start = rss_kib(&a);
    let t0 = Instant::now();
    speaker.send_bytes(&announce).unwrap();
    wait_until(load, || fdb_size(&a) == ROUTES).unwrap();
    eprintln!("{ROUTES} remote MACs installed in {:?}", t0.elapsed());
    let rss_loaded = rss_kib(&a);

    let rt = runtime();
    // A stalled consumer: opens the stream and reads nothing.
    let mut stalled = open!(rt, &a, watch_intents, v1::WatchIntentsRequest::default());
    // A live consumer reads everything, in a task: intents/s through one stream.
    let mut live = open!(rt, &a, watch_intents, v1::WatchIntentsRequest::default());
    let t_snap = Instant::now();
    let (base, _, entries) = rt.block_on(snapshot(&mut live));
    eprintln!(
        "snapshot of {} entries read in {:?}",
        entries.len(),
        t_snap.elapsed()
    );
    assert_eq!(entries.len(), ROUTES + 1, "VNI 100 and every remote MAC");
    let want = 2 * ROUTES;
    let reader = rt.spawn(async move {
        let mut seq = base;
        let mut first = None;
        for _ in 0..want {
            let m = next(&mut live, "live deltas").await;
            first.get_or_insert_with(Instant::now);
            assert_eq!(m.sequence, seq + 1);
            seq = m.sequence;
        }
        first.map(|f| f.elapsed())
    });

    // Round 2: every route withdrawn, then announced again: 220 000 deltas, more than twice
    // the 100 000 kept. Meanwhile the session stays up and the API answers.
    let t1 = Instant::now();
    speaker.send_bytes(&withdraw).unwrap();
    wait_until(load, || {
        assert!(a.all_established(), "the session stays up");
        fdb_size(&a) == 0
    })
    .unwrap();
    speaker.send_bytes(&announce).unwrap();
    wait_until(load, || {
        assert!(a.all_established(), "the session stays up");
        fdb_size(&a) == ROUTES
    })
    .unwrap();
    let took = t1.elapsed();
    let streamed = rt.block_on(reader).unwrap().unwrap();
    eprintln!(
        "{want} intents applied in {took:?}; the live stream delivered them (first to last) in \
         {streamed:?}: {:.0} intents/s end to end",
        want as f64 / took.as_secs_f64()
    );
    let rss_after = rss_kib(&a);
    eprintln!(
        "VmRSS: start {rss_start} KiB; {ROUTES} routes loaded {rss_loaded} KiB; after {want} \
         more intents with a stalled consumer {rss_after} KiB"
    );
    // What may grow: the retained log (100 000 intents) and the stream buffers; not the
    // 220 000 deltas the stalled consumer has not read.
    let table_cost = rss_loaded.saturating_sub(rss_start);
    assert!(
        rss_after < rss_loaded + 48 * 1024,
        "RSS grew by {} KiB (the table cost {table_cost} KiB)",
        rss_after.saturating_sub(rss_loaded)
    );
    assert!(a.all_established());

    // The stalled consumer reads again: what was buffered, then RESOURCE_EXHAUSTED naming the
    // sequence to resume from.
    let (buffered, status) = rt.block_on(async {
        // Deltas only: the snapshot it asked for came first.
        let mut buffered = 0usize;
        loop {
            match tokio::time::timeout(WAIT, stalled.message()).await {
                Ok(Ok(Some(m))) => buffered += usize::from(matches!(m.body, Some(Body::Delta(_)))),
                Ok(Err(status)) => return (buffered, status),
                other => panic!("expected a cut-off: {other:?}"),
            }
        }
    });
    eprintln!("stalled consumer: its snapshot, {buffered} buffered deltas, then {status:?}");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(status
        .message()
        .contains("consumer too slow: resume from sequence"));
    assert!(
        buffered < 10_000,
        "{buffered} messages were buffered for it"
    );
    // Resuming from there gives a fresh snapshot of the current table.
    let resume_from: u64 = status
        .message()
        .split("resume from sequence ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let mut again = open!(
        rt,
        &a,
        watch_intents,
        v1::WatchIntentsRequest {
            from_sequence: resume_from,
            epoch: 0,
        }
    );
    let (_, _, entries) = rt.block_on(snapshot(&mut again));
    assert_eq!(entries.len(), ROUTES + 1);
}
