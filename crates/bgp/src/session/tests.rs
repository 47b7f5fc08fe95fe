//! Virtual-clock tests: `now` is a base `Instant` plus durations; nothing sleeps. Expected
//! bytes are written out from the RFC layouts (RFC 4271 §4.1 header: 16 × 0xff, length,
//! type), never copied from the session's own output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::config::GracefulRestartConfig;
use proptest::prelude::*;
use std::net::IpAddr;

const ID_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ID_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const EVPN: Family = Family::L2VPN_EVPN;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- Raw messages, from the RFC layouts --------------------------------------------------

/// A message of type `t` with `body` (RFC 4271 §4.1).
fn msg(t: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(t);
    m.extend_from_slice(body);
    m
}

fn keepalive() -> Vec<u8> {
    msg(4, &[])
}

/// NOTIFICATION (RFC 4271 §4.5): code, subcode, data.
fn notification(code: u8, sub: u8, data: &[u8]) -> Vec<u8> {
    let mut b = vec![code, sub];
    b.extend_from_slice(data);
    msg(3, &b)
}

/// One capability: code, length, value (RFC 5492 §4).
fn cap(code: u8, value: &[u8]) -> Vec<u8> {
    let mut c = vec![code, value.len() as u8];
    c.extend_from_slice(value);
    c
}

/// Multiprotocol capability: AFI, reserved, SAFI (RFC 4760 §8).
fn cap_mp(f: Family) -> Vec<u8> {
    let a = f.afi.0.to_be_bytes();
    cap(1, &[a[0], a[1], 0, f.safi.0])
}

/// 4-octet AS capability (RFC 6793 §3).
fn cap_as4(asn: u32) -> Vec<u8> {
    cap(65, &asn.to_be_bytes())
}

/// Graceful restart capability (RFC 4724 §3): flags + 12-bit time, then AFI, SAFI, flags.
fn cap_gr(restart_time: u16, families: &[Family]) -> Vec<u8> {
    let mut v = restart_time.to_be_bytes().to_vec();
    for f in families {
        v.extend_from_slice(&f.afi.0.to_be_bytes());
        v.push(f.safi.0);
        v.push(0);
    }
    cap(64, &v)
}

/// OPEN (RFC 4271 §4.2) with each capability in its own Capabilities parameter (type 2).
fn open_raw(my_as: u16, hold: u16, id: Ipv4Addr, caps: &[Vec<u8>]) -> Vec<u8> {
    let mut params = Vec::new();
    for c in caps {
        params.push(2);
        params.push(c.len() as u8);
        params.extend_from_slice(c);
    }
    let mut b = vec![4];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id.octets());
    b.push(params.len() as u8);
    b.extend_from_slice(&params);
    msg(1, &b)
}

/// The OPEN of peer B (AS 65000, id 198.18.0.2): EVPN, route refresh, enhanced route
/// refresh, 4-octet AS.
fn peer_open(hold: u16) -> Vec<u8> {
    peer_open_with(hold, &[])
}

fn peer_open_with(hold: u16, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut caps = vec![cap_mp(EVPN), cap(2, &[]), cap(70, &[]), cap_as4(65000)];
    caps.extend_from_slice(extra);
    open_raw(65000, hold, ID_B, &caps)
}

/// UPDATE (RFC 4271 §4.3) without withdrawn routes.
fn update_msg(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0];
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

/// A valid iBGP IPv4 UPDATE: ORIGIN IGP, empty AS_PATH, NEXT_HOP 198.18.0.2, LOCAL_PREF
/// 100, NLRI 192.0.2.0/24.
fn good_update() -> Vec<u8> {
    update_msg(
        &[
            0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 198, 18, 0, 2, 0x40, 5, 4, 0, 0, 0, 100,
        ],
        &[24, 192, 0, 2],
    )
}

/// End-of-RIB for EVPN: an UPDATE with only an empty MP_UNREACH_NLRI (RFC 4724 §2).
fn evpn_eor() -> Vec<u8> {
    msg(2, &[0, 0, 0, 6, 0x80, 15, 3, 0, 25, 70])
}

// ---- Configurations ----------------------------------------------------------------------

/// Our side A (198.18.0.1, AS 65000) peering with B (198.18.0.2, AS 65000).
fn cfg_a() -> PeerConfig {
    PeerConfig::new(IpAddr::V4(ID_B), 65000, 65000, ID_A)
}

fn cfg_b() -> PeerConfig {
    PeerConfig::new(IpAddr::V4(ID_A), 65000, 65000, ID_B)
}

// ---- One session against a scripted peer -------------------------------------------------

struct T {
    s: Session,
    base: Instant,
    now: Instant,
}

impl T {
    fn new(config: PeerConfig) -> T {
        let base = Instant::now();
        T {
            s: Session::new(config, base),
            base,
            now: base,
        }
    }

    fn out(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.s.poll_output()).collect()
    }

    fn handle(&mut self, input: Input<'_>) -> Vec<Output> {
        self.s.handle(input, self.now);
        self.out()
    }

    fn recv(&mut self, conn: u64, bytes: &[u8]) -> Vec<Output> {
        self.handle(Input::Received {
            conn: ConnId(conn),
            bytes,
        })
    }

    fn at(&mut self, since_base: Duration) {
        self.now = self.base + since_base;
    }

    /// Runs the timers up to `base + until`; returns the outputs with their time since
    /// `base`.
    fn run_until(&mut self, until: Duration) -> Vec<(Duration, Output)> {
        let end = self.base + until;
        let mut v = Vec::new();
        for _ in 0..100_000 {
            match self.s.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.s.handle_timeout(self.now);
                    let at = self.now - self.base;
                    v.extend(self.out().into_iter().map(|o| (at, o)));
                }
                _ => break,
            }
        }
        self.now = end;
        v
    }

    /// Start + our outgoing connection 1 up: OpenSent.
    fn open_sent(config: PeerConfig) -> T {
        let mut t = T::new(config);
        assert_eq!(t.handle(Input::Start), vec![Output::Connect]);
        let outs = t.handle(Input::Connected {
            conn: ConnId(1),
            outgoing: true,
        });
        assert_eq!(t.s.state(), State::OpenSent);
        assert_eq!(sends(&outs).len(), 1, "one OPEN");
        t
    }

    /// Established on connection 1 with `open` from the peer.
    fn established_with(config: PeerConfig, open: &[u8]) -> T {
        let mut t = T::open_sent(config);
        let mut bytes = open.to_vec();
        bytes.extend_from_slice(&keepalive());
        let outs = t.recv(1, &bytes);
        assert!(
            outs.iter().any(|o| matches!(o, Output::Established(_))),
            "not established: {outs:?}"
        );
        assert_eq!(t.s.state(), State::Established);
        t
    }

    fn established() -> T {
        T::established_with(cfg_a(), &peer_open(90))
    }
}

fn sends(outs: &[Output]) -> Vec<Vec<u8>> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

fn sends_on(outs: &[Output], conn: u64) -> Vec<Vec<u8>> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { conn: c, bytes } if *c == ConnId(conn) => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

fn closes(outs: &[Output]) -> Vec<ConnId> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Close { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

fn downs(outs: &[Output]) -> Vec<DownReason> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Down(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn n(code: u8, subcode: u8, data: &[u8]) -> Notification {
    Notification {
        code,
        subcode,
        data: data.to_vec(),
    }
}

/// The session answers the peer's OPEN `open` with exactly the NOTIFICATION `expected`
/// and closes the connection without reaching OpenConfirm.
fn assert_open_refused(config: PeerConfig, open: &[u8], expected: &[u8]) {
    let mut t = T::open_sent(config);
    let outs = t.recv(1, open);
    assert_eq!(sends(&outs), vec![expected.to_vec()], "{outs:?}");
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    assert_eq!(t.s.state(), State::Idle);
    assert!(downs(&outs).is_empty(), "never Established, no Down");
}

// ---- Two sessions back to back -----------------------------------------------------------

enum Ev {
    Connected(ConnId, bool),
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
    Drained(ConnId),
}

struct Link {
    ids: [ConnId; 2],
    open: [bool; 2],
    opened_by: usize,
}

/// A tiny driver: every Connect reaches the other side (which always listens), every Send
/// is delivered in order, Close/Abort close both ends. Delivery goes in rounds, each side
/// handling everything queued for it before the round.
struct Net {
    now: Instant,
    s: [Session; 2],
    links: Vec<Link>,
    next_id: u64,
    inbox: [VecDeque<Ev>; 2],
    events: [Vec<Output>; 2],
}

impl Net {
    fn new(a: PeerConfig, b: PeerConfig) -> Net {
        let base = Instant::now();
        Net {
            now: base,
            s: [Session::new(a, base), Session::new(b, base)],
            links: Vec::new(),
            next_id: 100,
            inbox: [VecDeque::new(), VecDeque::new()],
            events: [Vec::new(), Vec::new()],
        }
    }

    fn link_of(&self, side: usize, conn: ConnId) -> Option<usize> {
        self.links.iter().position(|l| l.ids[side] == conn)
    }

    fn drain(&mut self, side: usize) {
        let other = 1 - side;
        while let Some(o) = self.s[side].poll_output() {
            match o {
                Output::Connect => {
                    let (x, y) = (ConnId(self.next_id), ConnId(self.next_id + 1));
                    self.next_id += 2;
                    let mut ids = [x, x];
                    ids[other] = y;
                    self.links.push(Link {
                        ids,
                        open: [true, true],
                        opened_by: side,
                    });
                    self.inbox[side].push_back(Ev::Connected(x, true));
                    self.inbox[other].push_back(Ev::Connected(y, false));
                }
                Output::Send { conn, bytes } => {
                    if let Some(l) = self.link_of(side, conn) {
                        let link = &self.links[l];
                        if link.open[side] && link.open[other] {
                            self.inbox[other].push_back(Ev::Data(link.ids[other], bytes));
                            // Written at once: the send hold timer never runs out.
                            self.inbox[side].push_back(Ev::Drained(conn));
                        }
                    }
                }
                Output::Close { conn } | Output::Abort { conn } => {
                    if let Some(l) = self.link_of(side, conn) {
                        let link = &mut self.links[l];
                        if link.open[other] {
                            self.inbox[other].push_back(Ev::Closed(link.ids[other]));
                        }
                        link.open = [false, false];
                    }
                }
                other_output => self.events[side].push(other_output),
            }
        }
    }

    fn deliver(&mut self, side: usize) {
        let count = self.inbox[side].len();
        for _ in 0..count {
            let Some(ev) = self.inbox[side].pop_front() else {
                break;
            };
            let now = self.now;
            match ev {
                Ev::Connected(conn, outgoing) => {
                    self.s[side].handle(Input::Connected { conn, outgoing }, now)
                }
                Ev::Data(conn, bytes) => self.s[side].handle(
                    Input::Received {
                        conn,
                        bytes: &bytes,
                    },
                    now,
                ),
                Ev::Closed(conn) => self.s[side].handle(Input::Closed { conn }, now),
                Ev::Drained(conn) => self.s[side].handle(Input::Drained { conn }, now),
            }
        }
    }

    fn pump(&mut self) {
        for _ in 0..1000 {
            self.drain(0);
            self.drain(1);
            if self.inbox.iter().all(VecDeque::is_empty) {
                return;
            }
            self.deliver(0);
            self.deliver(1);
        }
        panic!("the two sessions never went quiet");
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..100_000 {
            self.pump();
            let next = [0, 1]
                .iter()
                .filter_map(|&i| self.s[i].poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for i in 0..2 {
                        if self.s[i].poll_timeout().is_some_and(|t| t <= self.now) {
                            self.s[i].handle_timeout(self.now);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = end;
        self.pump();
    }

    fn start(&mut self) {
        let now = self.now;
        self.s[0].handle(Input::Start, now);
        self.s[1].handle(Input::Start, now);
        self.pump();
    }

    fn live_links(&self) -> Vec<&Link> {
        self.links
            .iter()
            .filter(|l| l.open == [true, true])
            .collect()
    }

    fn count(&self, side: usize, f: impl Fn(&Output) -> bool) -> usize {
        self.events[side].iter().filter(|o| f(o)).count()
    }
}

fn is_established(o: &Output) -> bool {
    matches!(o, Output::Established(_))
}

fn is_down(o: &Output) -> bool {
    matches!(o, Output::Down(_))
}

// ---- Idle, Connect, Active, connect-retry ------------------------------------------------

#[test]
fn a_new_session_is_idle_with_nothing_to_do() {
    let mut t = T::new(cfg_a());
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(t.s.poll_timeout(), None);
    assert!(t.out().is_empty());
    assert!(t.s.negotiated().is_none());
    // Idle refuses an incoming connection before Start: Cease/Connection Rejected.
    let outs = t.handle(Input::Connected {
        conn: ConnId(9),
        outgoing: false,
    });
    assert_eq!(sends(&outs), vec![notification(6, 5, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(9)]);
    assert_eq!(t.s.state(), State::Idle);
}

#[test]
fn active_start_connects_and_passive_start_only_listens() {
    let mut t = T::new(cfg_a());
    assert_eq!(t.handle(Input::Start), vec![Output::Connect]);
    assert_eq!(t.s.state(), State::Connect);
    assert_eq!(t.s.stats().connect_attempts, 1);

    let mut config = cfg_a();
    config.passive = true;
    let mut p = T::new(config);
    assert!(p.handle(Input::Start).is_empty());
    assert_eq!(p.s.state(), State::Active);
    assert_eq!(p.s.poll_timeout(), None, "a passive session arms no timer");
    // Nothing ever makes it connect, not even a failure and a long wait.
    assert!(p.handle(Input::ConnectFailed).is_empty());
    assert!(p.run_until(secs(86_400)).is_empty());
    assert_eq!(p.s.state(), State::Active);
    assert_eq!(p.s.stats().connect_attempts, 0);
}

#[test]
fn passive_session_accepts_the_peer_and_establishes() {
    let mut config = cfg_a();
    config.passive = true;
    let mut t = T::new(config);
    t.handle(Input::Start);
    let outs = t.handle(Input::Connected {
        conn: ConnId(7),
        outgoing: false,
    });
    assert_eq!(t.s.state(), State::OpenSent);
    assert_eq!(sends_on(&outs, 7).len(), 1);
    t.recv(7, &peer_open(90));
    assert_eq!(t.s.state(), State::OpenConfirm);
    let outs = t.recv(7, &keepalive());
    assert!(outs.iter().any(is_established));
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn connect_retry_backs_off_doubling_up_to_the_cap() {
    let mut t = T::new(cfg_a()); // connect_retry 1 s, connect_retry_max 60 s
    t.handle(Input::Start);
    let mut gaps = Vec::new();
    for _ in 0..10 {
        assert!(t.handle(Input::ConnectFailed).is_empty());
        assert_eq!(t.s.state(), State::Active);
        let next = t.s.poll_timeout().unwrap();
        gaps.push((next - t.now).as_secs());
        t.now = next;
        t.s.handle_timeout(next);
        assert_eq!(t.out(), vec![Output::Connect]);
        assert_eq!(t.s.state(), State::Connect);
    }
    assert_eq!(gaps, vec![1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    assert_eq!(t.s.stats().connect_attempts, 11);
}

#[test]
fn an_attempt_that_never_completes_is_retried_from_connect() {
    let mut t = T::new(cfg_a());
    t.handle(Input::Start);
    assert_eq!(t.s.poll_timeout(), Some(t.base + secs(1)));
    // RFC 4271 §8.2.2 Connect + ConnectRetryTimer_Expires: a new attempt, still Connect.
    let outs = t.run_until(secs(1));
    assert_eq!(outs, vec![(secs(1), Output::Connect)]);
    assert_eq!(t.s.state(), State::Connect);
    assert_eq!(
        t.s.poll_timeout(),
        Some(t.base + secs(3)),
        "backed off to 2 s"
    );
    // A late success of that attempt is used.
    t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    assert_eq!(t.s.state(), State::OpenSent);
}

#[test]
fn established_resets_the_backoff() {
    let mut t = T::new(cfg_a());
    t.handle(Input::Start);
    for _ in 0..3 {
        t.handle(Input::ConnectFailed);
        let next = t.s.poll_timeout().unwrap();
        t.now = next;
        t.s.handle_timeout(next);
        t.out();
    }
    // Interval is now 8 s. Connect and establish.
    t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    let mut b = peer_open(90);
    b.extend_from_slice(&keepalive());
    t.recv(1, &b);
    assert_eq!(t.s.state(), State::Established);
    let outs = t.handle(Input::Closed { conn: ConnId(1) });
    assert_eq!(downs(&outs).len(), 1);
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(
        t.s.poll_timeout(),
        Some(t.now + secs(1)),
        "back to connect_retry"
    );
}

#[test]
fn unexpected_connections_and_unknown_ids_are_handled_quietly() {
    let mut t = T::new(cfg_a());
    t.handle(Input::Start);
    t.handle(Input::ConnectFailed); // Active, no attempt outstanding
                                    // An outgoing connection we did not ask for is closed without a word.
    let outs = t.handle(Input::Connected {
        conn: ConnId(5),
        outgoing: true,
    });
    assert_eq!(outs, vec![Output::Close { conn: ConnId(5) }]);
    assert_eq!(t.s.state(), State::Active);
    // Events about connections the session does not know are ignored.
    assert!(t.recv(42, &keepalive()).is_empty());
    assert!(t.handle(Input::Closed { conn: ConnId(42) }).is_empty());
    assert!(t.handle(Input::Drained { conn: ConnId(42) }).is_empty());
    assert!(t
        .handle(Input::WriteProgress { conn: ConnId(42) })
        .is_empty());
    assert_eq!(t.s.state(), State::Active);
}

// ---- The OPEN exchange -------------------------------------------------------------------

#[test]
fn every_state_of_an_active_session_in_order() {
    let mut t = T::new(cfg_a());
    assert_eq!(t.s.state(), State::Idle);
    t.handle(Input::Start);
    assert_eq!(t.s.state(), State::Connect);
    let outs = t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    assert_eq!(t.s.state(), State::OpenSent);
    let open = &sends_on(&outs, 1)[0];
    // RFC 4271 §4.2: type 1, version 4, My AS 65000, hold 90, identifier 198.18.0.1.
    assert_eq!(open[18], 1);
    assert_eq!(&open[19..28], &[4, 0xfd, 0xe8, 0, 90, 198, 18, 0, 1]);
    let outs = t.recv(1, &peer_open(90));
    assert_eq!(t.s.state(), State::OpenConfirm);
    assert_eq!(sends_on(&outs, 1), vec![keepalive()], "OPEN confirmed");
    assert!(t.s.negotiated().is_some());
    let outs = t.recv(1, &keepalive());
    assert_eq!(t.s.state(), State::Established);
    assert_eq!(outs.len(), 1);
    let Output::Established(neg) = &outs[0] else {
        panic!("{outs:?}")
    };
    assert_eq!(neg.peer_router_id, ID_B);
    assert_eq!(t.s.stats().established_count, 1);
    assert_eq!(t.s.stats().established_since, Some(t.now));
    let outs = t.recv(1, &notification(6, 2, &[]));
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    assert_eq!(downs(&outs).len(), 1);
    assert_eq!(t.s.stats().established_since, None);
}

#[test]
fn two_speakers_negotiate_and_reach_established() {
    let mut b = cfg_b();
    b.passive = true;
    let mut net = Net::new(cfg_a(), b);
    net.start();
    for side in 0..2 {
        assert_eq!(net.s[side].state(), State::Established, "side {side}");
        assert_eq!(net.count(side, is_established), 1);
    }
    let neg = net.s[0].negotiated().unwrap();
    assert_eq!(neg.peer_asn, 65000);
    assert_eq!(neg.peer_router_id, ID_B);
    assert_eq!(neg.hold_time, 90);
    assert_eq!(neg.keepalive, secs(30));
    assert_eq!(neg.families, vec![EVPN]);
    assert!(neg.four_octet_as && neg.extended_message);
    assert!(neg.route_refresh && neg.enhanced_route_refresh);
    assert!(neg.add_path_rx.is_empty() && neg.add_path_tx.is_empty());
    assert_eq!(neg.peer_graceful_restart, None);
    assert!(neg.rx.four_octet_as && neg.rx.extended_message && !neg.rx.external_peer);
    assert_eq!(neg.rx.max_message_len(), 65535);
    assert_eq!(net.s[1].negotiated().unwrap().peer_router_id, ID_A);
    assert_eq!(net.live_links().len(), 1);
    // Keepalives keep it up for a long quiet hour.
    net.advance(secs(3600));
    assert_eq!(net.s[0].state(), State::Established);
    assert_eq!(net.s[1].state(), State::Established);
    assert_eq!(net.count(0, is_down) + net.count(1, is_down), 0);
}

#[test]
fn our_open_announces_the_configured_capabilities() {
    let mut config = cfg_a();
    config.local_asn = 4_200_000_001;
    config.remote_asn = 4_200_000_001;
    config.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        stale_routes_time: secs(360),
    });
    let mut t = T::new(config);
    t.s.set_restarting(true);
    t.handle(Input::Start);
    let outs = t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    let open = &sends(&outs)[0];
    let contains = |needle: &[u8]| open.windows(needle.len()).any(|w| w == needle);
    // My AS is AS_TRANS (23456 = 0x5ba0) for a 4-octet AS (RFC 6793 §4.1).
    assert_eq!(&open[20..22], &[0x5b, 0xa0]);
    assert!(contains(&cap_mp(EVPN)), "multiprotocol l2vpn-evpn");
    assert!(contains(&[2, 0]), "route refresh");
    assert!(contains(&[70, 0]), "enhanced route refresh");
    assert!(contains(&cap_as4(4_200_000_001)), "4-octet AS");
    assert!(contains(&[6, 0]), "extended message");
    // Graceful restart: R bit + 120 s = 0x8078, then 25/70 with the F bit (0x80).
    assert!(
        contains(&[64, 6, 0x80, 0x78, 0, 25, 70, 0x80]),
        "{open:02x?}"
    );

    // Without the restart flag: R and F clear.
    let mut config = cfg_a();
    config.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        stale_routes_time: secs(360),
    });
    let mut t = T::new(config);
    t.handle(Input::Start);
    let outs = t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    let open = &sends(&outs)[0];
    assert!(open
        .windows(8)
        .any(|w| w == [64, 6, 0x00, 0x78, 0, 25, 70, 0x00]));
}

#[test]
fn our_open_carries_no_add_path_capability() {
    let mut t = T::new(cfg_a());
    t.handle(Input::Start);
    let outs = t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    assert_eq!(capability_codes(&sends(&outs)[0]), vec![1, 2, 70, 65, 6]);
}

/// The capability codes of an OPEN, in order: walks the optional parameters (RFC 4271 §4.2),
/// one capability per Capabilities parameter as the codec writes them.
fn capability_codes(open: &[u8]) -> Vec<u8> {
    let params = &open[29..29 + usize::from(open[28])];
    let mut codes = Vec::new();
    let mut i = 0;
    while i + 1 < params.len() {
        assert_eq!(params[i], 2, "Capabilities parameter");
        let plen = usize::from(params[i + 1]);
        codes.push(params[i + 2]);
        i += 2 + plen;
    }
    codes
}

/// ADD-PATH capability (RFC 7911 §4): AFI, SAFI, send/receive (1 receive, 2 send, 3 both).
fn cap_add_path(entries: &[(Family, u8)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (f, mode) in entries {
        v.extend_from_slice(&f.afi.0.to_be_bytes());
        v.push(f.safi.0);
        v.push(*mode);
    }
    cap(69, &v)
}

#[test]
fn our_open_announces_add_path_receive_for_the_configured_families() {
    let mut config = cfg_a();
    config.families = vec![EVPN, Family::IPV4_UNICAST];
    // IPv6 is not a configured family: left out. EVPN twice: announced once.
    config.add_path_receive = vec![EVPN, Family::IPV6_UNICAST, EVPN, Family::IPV4_UNICAST];
    let mut t = T::new(config);
    t.handle(Input::Start);
    let outs = t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    let open = &sends(&outs)[0];
    let expected = cap_add_path(&[(EVPN, 1), (Family::IPV4_UNICAST, 1)]);
    assert!(
        open.windows(expected.len()).any(|w| w == expected),
        "{open:02x?}"
    );
    assert_eq!(
        capability_codes(open),
        vec![1, 1, 2, 70, 65, 6, 69],
        "one ADD-PATH"
    );
}

#[test]
fn add_path_receive_takes_path_identifiers_when_the_peer_sends_them() {
    let v4 = Family::IPV4_UNICAST;
    let mut config = cfg_a();
    config.families = vec![EVPN, v4];
    config.add_path_receive = vec![EVPN, v4];
    // The peer sends in IPv4 (2), only receives in EVPN (1): rx ADD-PATH in IPv4 alone.
    let open = peer_open_with(90, &[cap_mp(v4), cap_add_path(&[(v4, 2), (EVPN, 1)])]);
    let mut t = T::established_with(config, &open);
    let neg = t.s.negotiated().unwrap().clone();
    assert_eq!(neg.add_path_rx, vec![v4]);
    assert_eq!(neg.rx.add_path, vec![v4]);
    assert!(neg.add_path_tx.is_empty() && neg.tx.add_path.is_empty());
    // 192.0.2.0/24 twice, with path identifiers 7 and 8 (RFC 7911 §3).
    let attrs = [
        0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 198, 18, 0, 2, 0x40, 5, 4, 0, 0, 0, 100,
    ];
    let nlri = [0, 0, 0, 7, 24, 192, 0, 2, 0, 0, 0, 8, 24, 192, 0, 2];
    let outs = t.recv(1, &update_msg(&attrs, &nlri));
    let Some(Output::Update { update, outcome }) = outs.into_iter().next() else {
        panic!("no UPDATE out")
    };
    assert_eq!(outcome, Outcome::Accept);
    let mut rib = crate::rib::Rib::new(crate::rib::RibConfig::new(65000, ID_A));
    let mut info = crate::rib::PeerInfo::new(
        crate::PeerId(1),
        IpAddr::V4(ID_B),
        neg.peer_asn,
        neg.peer_router_id,
        false,
        neg.families.clone(),
    );
    info.tx = neg.tx.clone();
    rib.peer_up(info);
    rib.apply_update(crate::PeerId(1), &update, &outcome)
        .unwrap();
    let route = update.nlri[0].route;
    let ids: Vec<Option<u32>> = rib.paths(v4, &route).iter().map(|p| p.path_id).collect();
    assert_eq!(ids.len(), 2, "two paths of one route");
    assert!(ids.contains(&Some(7)) && ids.contains(&Some(8)), "{ids:?}");
}

#[test]
fn negotiated_hold_is_the_smaller_and_keepalive_a_third() {
    let t = T::established_with(cfg_a(), &peer_open(9));
    let neg = t.s.negotiated().unwrap();
    assert_eq!(neg.hold_time, 9);
    assert_eq!(neg.keepalive, secs(3));
    let mut config = cfg_a();
    config.hold_time = 30;
    let t = T::established_with(config, &peer_open(240));
    assert_eq!(t.s.negotiated().unwrap().hold_time, 30);
    assert_eq!(t.s.negotiated().unwrap().keepalive, secs(10));
}

#[test]
fn hold_time_zero_means_no_keepalives_and_no_hold_timer() {
    let mut t = T::established_with(cfg_a(), &peer_open(0));
    let neg = t.s.negotiated().unwrap();
    assert_eq!(neg.hold_time, 0);
    assert_eq!(neg.keepalive, Duration::ZERO);
    assert_eq!(t.s.poll_timeout(), None);
    t.s.send_updates(good_update(), t.now);
    t.out();
    assert_eq!(
        t.s.poll_timeout(),
        None,
        "no send hold timer either (RFC 9687 §4.3)"
    );
    assert!(t.run_until(secs(86_400)).is_empty());
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn extended_message_is_used_only_when_both_announce_it() {
    let t = T::established_with(cfg_a(), &peer_open_with(90, &[cap(6, &[])]));
    let neg = t.s.negotiated().unwrap();
    assert!(neg.extended_message);
    assert_eq!(neg.tx.max_message_len(), 65535);
    let t = T::established();
    let neg = t.s.negotiated().unwrap();
    assert!(!neg.extended_message);
    assert_eq!(neg.rx.max_message_len(), 4096);
    assert_eq!(neg.tx.max_message_len(), 4096);
}

#[test]
fn peer_without_multiprotocol_capabilities_speaks_ipv4_unicast() {
    let mut config = cfg_a();
    config.families = vec![Family::IPV4_UNICAST, EVPN];
    let open = open_raw(65000, 90, ID_B, &[cap_as4(65000)]);
    let t = T::established_with(config, &open);
    let neg = t.s.negotiated().unwrap();
    assert_eq!(neg.families, vec![Family::IPV4_UNICAST]);
    assert!(!neg.route_refresh, "the peer did not announce it");
}

#[test]
fn four_octet_peer_as_is_read_from_the_capability() {
    let mut config = cfg_a();
    config.remote_asn = 4_200_000_002;
    let open = open_raw(23456, 90, ID_B, &[cap_mp(EVPN), cap_as4(4_200_000_002)]);
    let t = T::established_with(config.clone(), &open);
    let neg = t.s.negotiated().unwrap();
    assert_eq!(neg.peer_asn, 4_200_000_002);
    assert!(neg.rx.external_peer);
    // AS_TRANS without the capability is AS 23456: not the configured AS.
    let open = open_raw(23456, 90, ID_B, &[cap_mp(EVPN)]);
    assert_open_refused(config, &open, &notification(2, 2, &[]));
}

#[test]
fn bad_peer_as_is_refused_with_2_2() {
    let open = open_raw(65099, 90, ID_B, &[cap_mp(EVPN), cap_as4(65099)]);
    assert_open_refused(cfg_a(), &open, &notification(2, 2, &[]));
    // A 2-octet My AS that disagrees with the 4-octet capability.
    let open = open_raw(65001, 90, ID_B, &[cap_mp(EVPN), cap_as4(65000)]);
    assert_open_refused(cfg_a(), &open, &notification(2, 2, &[]));
}

#[test]
fn any_external_as_accepts_every_other_as_and_refuses_ours() {
    let mut config = cfg_a();
    config.remote_asn = 0;
    config.accept_any_external_asn = true;
    assert!(config.is_external());
    // Our own AS: Bad Peer AS (RFC 4271 §6.2).
    let open = open_raw(65000, 90, ID_B, &[cap_mp(EVPN), cap_as4(65000)]);
    assert_open_refused(config.clone(), &open, &notification(2, 2, &[]));
    // Any other AS, 2- or 4-octet: accepted and reported as negotiated.
    let open = open_raw(23456, 90, ID_B, &[cap_mp(EVPN), cap_as4(4_200_000_001)]);
    let t = T::established_with(config, &open);
    assert_eq!(t.s.negotiated().unwrap().peer_asn, 4_200_000_001);
}

#[test]
fn our_own_bgp_identifier_is_refused_on_ibgp_only() {
    let open = open_raw(65000, 90, ID_A, &[cap_mp(EVPN), cap_as4(65000)]);
    assert_open_refused(cfg_a(), &open, &notification(2, 3, &[]));
    // RFC 6286 §2.2: between ASes the identifiers may be equal.
    let mut config = cfg_a();
    config.remote_asn = 65001;
    let open = open_raw(65001, 90, ID_A, &[cap_mp(EVPN), cap_as4(65001)]);
    let t = T::established_with(config, &open);
    assert_eq!(t.s.negotiated().unwrap().peer_router_id, ID_A);
}

#[test]
fn codec_open_errors_are_sent_as_they_are() {
    // Hold time 1: Unacceptable Hold Time (RFC 4271 §6.2).
    let open = open_raw(65000, 1, ID_B, &[cap_mp(EVPN)]);
    assert_open_refused(cfg_a(), &open, &notification(2, 6, &[]));
    // Optional parameter type 1 (deprecated authentication): Unsupported Optional
    // Parameter.
    let mut open = open_raw(65000, 90, ID_B, &[]);
    open[28] = 3;
    open.extend_from_slice(&[1, 1, 0]);
    let len = open.len() as u16;
    open[16..18].copy_from_slice(&len.to_be_bytes());
    assert_open_refused(cfg_a(), &open, &notification(2, 4, &[]));
    // Version 3: Unsupported Version Number, data = the version we support (2 octets).
    let mut open = peer_open(90);
    open[19] = 3;
    assert_open_refused(cfg_a(), &open, &notification(2, 1, &[0, 4]));
}

#[test]
fn no_family_in_common_is_refused_with_2_7() {
    let open = open_raw(
        65000,
        90,
        ID_B,
        &[cap_mp(Family::IPV4_UNICAST), cap_as4(65000)],
    );
    // Data: the capability we need, multiprotocol l2vpn-evpn (RFC 5492 §5).
    assert_open_refused(cfg_a(), &open, &notification(2, 7, &[1, 4, 0, 25, 0, 70]));
}

// ---- BGP Roles (RFC 9234 §4) --------------------------------------------------------------

/// BGP Role capability (RFC 9234 §4.1): code 9, one octet.
fn cap_role(role: BgpRole) -> Vec<u8> {
    cap(9, &[role.0])
}

/// Our side A as an eBGP speaker towards B in AS 65001, with `role` and `strict`.
fn cfg_ebgp(role: Option<BgpRole>, strict: bool) -> PeerConfig {
    let mut c = cfg_a();
    c.remote_asn = 65001;
    c.role = role;
    c.strict_role = strict;
    c
}

/// B's OPEN from AS 65001 with `roles` (one BGP Role capability each).
fn ebgp_open(roles: &[BgpRole]) -> Vec<u8> {
    let mut caps = vec![cap_mp(EVPN), cap_as4(65001)];
    caps.extend(roles.iter().map(|r| cap_role(*r)));
    open_raw(65001, 90, ID_B, &caps)
}

/// The capability codes of the OPEN a session of `config` sends (RFC 4271 §4.2 parameters).
fn open_capability_codes(config: PeerConfig) -> (Vec<u8>, Vec<u8>) {
    let mut t = T::new(config);
    t.handle(Input::Start);
    let outs = t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    let open = sends(&outs)[0].clone();
    let params = &open[29..29 + usize::from(open[28])];
    let mut codes = Vec::new();
    let mut i = 0;
    while i + 1 < params.len() {
        codes.push(params[i + 2]);
        i += 2 + usize::from(params[i + 1]);
    }
    (codes, open)
}

const ROLES: [BgpRole; 6] = [
    BgpRole::PROVIDER,
    BgpRole::RS,
    BgpRole::RS_CLIENT,
    BgpRole::CUSTOMER,
    BgpRole::PEER,
    BgpRole(5),
];

#[test]
fn our_open_announces_the_role_on_ebgp_sessions_with_a_role_only() {
    let (codes, open) = open_capability_codes(cfg_ebgp(Some(BgpRole::CUSTOMER), false));
    assert_eq!(codes, vec![1, 2, 70, 65, 6, 9]);
    assert!(open.windows(3).any(|w| w == [9, 1, 3]), "role customer = 3");
    let (codes, _) = open_capability_codes(cfg_ebgp(None, true));
    assert!(!codes.contains(&9), "no role configured");
    // iBGP: a configured role is ignored.
    let mut ibgp = cfg_a();
    ibgp.role = Some(BgpRole::PEER);
    let (codes, _) = open_capability_codes(ibgp);
    assert!(!codes.contains(&9), "no role on iBGP");
}

#[test]
fn corresponding_roles_establish_and_record_the_peer_role() {
    for (ours, theirs) in [
        (BgpRole::PROVIDER, BgpRole::CUSTOMER),
        (BgpRole::CUSTOMER, BgpRole::PROVIDER),
        (BgpRole::RS, BgpRole::RS_CLIENT),
        (BgpRole::RS_CLIENT, BgpRole::RS),
        (BgpRole::PEER, BgpRole::PEER),
    ] {
        let t = T::established_with(cfg_ebgp(Some(ours), true), &ebgp_open(&[theirs]));
        assert_eq!(t.s.negotiated().unwrap().peer_role, Some(theirs));
    }
}

#[test]
fn every_other_role_pair_is_refused_with_role_mismatch_2_11() {
    let allowed = |o: BgpRole, t: BgpRole| crate::role::roles_correspond(o, t);
    let mut refused = 0;
    for ours in ROLES {
        for theirs in ROLES {
            if allowed(ours, theirs) {
                continue;
            }
            refused += 1;
            for strict in [false, true] {
                assert_open_refused(
                    cfg_ebgp(Some(ours), strict),
                    &ebgp_open(&[theirs]),
                    &notification(2, 11, &[]),
                );
            }
        }
    }
    // 36 pairs of which Table 2 allows 5.
    assert_eq!(refused, 31);
}

#[test]
fn a_peer_without_a_role_is_accepted_unless_strict() {
    let t = T::established_with(cfg_ebgp(Some(BgpRole::PEER), false), &ebgp_open(&[]));
    assert_eq!(t.s.negotiated().unwrap().peer_role, None);
    assert_open_refused(
        cfg_ebgp(Some(BgpRole::PEER), true),
        &ebgp_open(&[]),
        &notification(2, 11, &[]),
    );
    // Strict mode without a role of ours has nothing to enforce.
    T::established_with(cfg_ebgp(None, true), &ebgp_open(&[]));
}

#[test]
fn role_capabilities_with_different_values_are_role_mismatch() {
    let two = ebgp_open(&[BgpRole::CUSTOMER, BgpRole::PEER]);
    assert_open_refused(
        cfg_ebgp(Some(BgpRole::PROVIDER), false),
        &two,
        &notification(2, 11, &[]),
    );
    // Also without a role of ours.
    assert_open_refused(cfg_ebgp(None, false), &two, &notification(2, 11, &[]));
    // The same value repeated counts as one capability.
    let t = T::established_with(
        cfg_ebgp(Some(BgpRole::PROVIDER), true),
        &ebgp_open(&[BgpRole::CUSTOMER, BgpRole::CUSTOMER]),
    );
    assert_eq!(t.s.negotiated().unwrap().peer_role, Some(BgpRole::CUSTOMER));
}

#[test]
fn a_role_configured_on_ibgp_is_not_checked() {
    let mut ibgp = cfg_a();
    ibgp.role = Some(BgpRole::PROVIDER);
    ibgp.strict_role = true;
    // A peer role that would not correspond, and none at all: both come up.
    let t = T::established_with(
        ibgp.clone(),
        &peer_open_with(90, &[cap_role(BgpRole::PROVIDER)]),
    );
    assert_eq!(t.s.negotiated().unwrap().peer_role, Some(BgpRole::PROVIDER));
    T::established_with(ibgp, &peer_open(90));
}

// ---- Unexpected messages (RFC 6608) ------------------------------------------------------

#[test]
fn unexpected_messages_in_open_sent_are_5_1() {
    for (m, t) in [
        (keepalive(), 4u8),
        (good_update(), 2),
        (msg(5, &[0, 25, 0, 70]), 5),
    ] {
        let mut s = T::open_sent(cfg_a());
        let outs = s.recv(1, &m);
        assert_eq!(sends(&outs), vec![notification(5, 1, &[t])], "type {t}");
        assert_eq!(closes(&outs), vec![ConnId(1)]);
        assert_eq!(s.s.state(), State::Idle);
    }
}

#[test]
fn unexpected_messages_in_open_confirm_are_5_2() {
    for (m, t) in [
        (good_update(), 2u8),
        (peer_open(90), 1),
        (msg(5, &[0, 25, 0, 70]), 5),
    ] {
        let mut s = T::open_sent(cfg_a());
        s.recv(1, &peer_open(90));
        assert_eq!(s.s.state(), State::OpenConfirm);
        let outs = s.recv(1, &m);
        assert_eq!(sends(&outs), vec![notification(5, 2, &[t])], "type {t}");
        assert_eq!(s.s.state(), State::Idle);
    }
}

#[test]
fn open_in_established_is_5_3_and_brings_the_session_down() {
    let mut t = T::established();
    let outs = t.recv(1, &peer_open(90));
    assert_eq!(sends(&outs), vec![notification(5, 3, &[1])]);
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    let d = downs(&outs);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].notification_sent, Some(n(5, 3, &[1])));
    assert_eq!(d[0].graceful_restart, None);
    assert_eq!(t.s.state(), State::Idle);
}

#[test]
fn notification_received_in_open_sent_closes_without_answer() {
    let mut t = T::open_sent(cfg_a());
    let outs = t.recv(1, &notification(2, 7, &[]));
    assert!(sends(&outs).is_empty(), "never answer a NOTIFICATION");
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(
        t.s.stats().last_notification_received,
        Some((n(2, 7, &[]), t.now))
    );
}

// ---- Established: UPDATEs, End-of-RIB, route refresh -------------------------------------

#[test]
fn updates_are_passed_up_with_their_outcome() {
    let mut t = T::established();
    let outs = t.recv(1, &good_update());
    assert_eq!(outs.len(), 1);
    let Output::Update { update, outcome } = &outs[0] else {
        panic!("{outs:?}")
    };
    assert_eq!(*outcome, Outcome::Accept);
    assert_eq!(update.nlri.len(), 1);
    // ORIGIN 3 is not a valid value: treat-as-withdraw (RFC 7606 §7.1), session stays up.
    let bad_origin = update_msg(
        &[
            0x40, 1, 1, 3, 0x40, 2, 0, 0x40, 3, 4, 198, 18, 0, 2, 0x40, 5, 4, 0, 0, 0, 100,
        ],
        &[24, 192, 0, 2],
    );
    let outs = t.recv(1, &bad_origin);
    assert!(
        matches!(&outs[..], [Output::Update { outcome: Outcome::TreatAsWithdraw(_), update }] if update.treat_as_withdraw().count() == 1),
        "{outs:?}"
    );
    assert_eq!(t.s.state(), State::Established);
    assert_eq!(t.s.stats().updates_in, 2);
    assert_eq!(
        t.s.stats().rfc7606,
        Rfc7606Counts {
            treat_as_withdraw: 1,
            ..Rfc7606Counts::default()
        },
        "a clean UPDATE is not counted, the malformed one by its outcome"
    );
}

#[test]
fn a_malformed_update_resets_with_the_codec_notification() {
    let mut t = T::established();
    // Withdrawn Routes Length 65535 overruns the message: Malformed Attribute List (3/1,
    // RFC 7606 §4 session reset).
    let outs = t.recv(1, &msg(2, &[0xff, 0xff, 0, 0]));
    assert_eq!(sends(&outs), vec![notification(3, 1, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    let d = downs(&outs);
    assert_eq!(d[0].notification_sent, Some(n(3, 1, &[])));
    assert!(
        d[0].text.contains("withdrawn_routes_length"),
        "{}",
        d[0].text
    );
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(t.s.stats().rfc7606.session_reset, 1);
}

#[test]
fn end_of_rib_is_reported_as_such() {
    let mut t = T::established();
    assert_eq!(t.recv(1, &evpn_eor()), vec![Output::EndOfRib(EVPN)]);
    // The IPv4 unicast marker is an UPDATE with nothing in it (RFC 4724 §2).
    assert_eq!(
        t.recv(1, &msg(2, &[0, 0, 0, 0])),
        vec![Output::EndOfRib(Family::IPV4_UNICAST)]
    );
}

#[test]
fn route_refresh_is_passed_up_only_when_negotiated() {
    let mut t = T::established();
    let rr = |subtype: u8, afi: u16, safi: u8| {
        let a = afi.to_be_bytes();
        msg(5, &[a[0], a[1], subtype, safi])
    };
    assert_eq!(
        t.recv(1, &rr(0, 25, 70)),
        vec![Output::RouteRefresh(RouteRefresh {
            family: EVPN,
            subtype: 0
        })]
    );
    // BoRR with enhanced route refresh negotiated.
    assert_eq!(t.recv(1, &rr(1, 25, 70)).len(), 1);
    // Reserved subtype (RFC 7313 §5) and a family not negotiated (RFC 2918 §4): ignored.
    assert!(t.recv(1, &rr(3, 25, 70)).is_empty());
    assert!(t.recv(1, &rr(0, 1, 1)).is_empty());
    // A wrong length is 7/1 with the whole message as data (RFC 7313 §5).
    let bad = msg(5, &[0, 25, 0, 70, 0]);
    let outs = t.recv(1, &bad);
    assert_eq!(sends(&outs), vec![notification(7, 1, &bad)]);
    assert_eq!(t.s.state(), State::Idle);

    // A peer without the capability.
    let open = open_raw(65000, 90, ID_B, &[cap_mp(EVPN), cap_as4(65000)]);
    let mut t = T::established_with(cfg_a(), &open);
    assert!(t.recv(1, &rr(0, 25, 70)).is_empty());
    t.s.send_route_refresh(EVPN, t.now);
    assert!(t.out().is_empty(), "not negotiated: nothing sent");
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn we_send_route_refresh_requests_and_enhanced_markers() {
    let mut t = T::established();
    t.s.send_route_refresh(EVPN, t.now);
    assert_eq!(sends(&t.out()), vec![msg(5, &[0, 25, 0, 70])]);
    assert!(t.s.send_refresh(
        RouteRefresh {
            family: EVPN,
            subtype: refresh_subtype::END
        },
        t.now
    ));
    assert_eq!(sends(&t.out()), vec![msg(5, &[0, 25, 2, 70])]);
    // Not a negotiated family.
    t.s.send_route_refresh(Family::IPV4_UNICAST, t.now);
    assert!(t.out().is_empty());
}

#[test]
fn updates_are_sent_only_in_established_and_counted() {
    let mut t = T::open_sent(cfg_a());
    t.s.send_updates(good_update(), t.now);
    assert!(t.out().is_empty(), "dropped before Established");
    let mut b = peer_open(90);
    b.extend_from_slice(&keepalive());
    t.recv(1, &b);
    let mut two = good_update();
    two.extend_from_slice(&evpn_eor());
    t.s.send_updates(two.clone(), t.now);
    assert_eq!(
        t.out(),
        vec![Output::Send {
            conn: ConnId(1),
            bytes: two
        }]
    );
    assert_eq!(t.s.stats().updates_out, 2);
    // OPEN + KEEPALIVE + 2 UPDATEs.
    assert_eq!(t.s.stats().messages_out, 4);
    assert_eq!(t.s.stats().messages_in, 2);
}

/// Sends `bytes` as a copy or as a shared chunk.
fn send_either(t: &mut T, bytes: Vec<u8>, shared: bool) {
    if shared {
        t.s.send_updates_shared(bytes.into(), t.now);
    } else {
        t.s.send_updates(bytes, t.now);
    }
}

/// A shared send as the copy it stands for.
fn unshare(o: Output) -> Output {
    match o {
        Output::SendShared { conn, bytes } => Output::Send {
            conn,
            bytes: bytes.to_vec(),
        },
        o => o,
    }
}

#[test]
fn shared_updates_behave_as_copied_ones() {
    let run = |shared: bool| {
        let mut t = T::open_sent(cfg_a());
        send_either(&mut t, good_update(), shared);
        assert!(t.out().is_empty(), "dropped before Established");
        let mut b = peer_open(90);
        b.extend_from_slice(&keepalive());
        t.recv(1, &b);
        t.handle(Input::Drained { conn: ConnId(1) });
        t.at(secs(100));
        t.recv(1, &keepalive());
        let mut two = good_update();
        two.extend_from_slice(&evpn_eor());
        send_either(&mut t, two, shared);
        send_either(&mut t, Vec::new(), shared);
        let mut seen: Vec<(Duration, Output)> = t
            .out()
            .into_iter()
            .map(|o| (secs(100), unshare(o)))
            .collect();
        // Keepalives restart from the send; the send hold timer runs from it (no progress
        // reported: the connection is aborted at 100 + 480 s, RFC 9687).
        for step in 4..=20u64 {
            seen.extend(
                t.run_until(secs(step * 30 - 1))
                    .into_iter()
                    .map(|(at, o)| (at, unshare(o))),
            );
            t.recv(1, &keepalive());
        }
        let st = t.s.stats();
        (seen, st.updates_out, st.messages_out)
    };
    let copied = run(false);
    let shared = run(true);
    assert!(copied
        .0
        .iter()
        .any(|(_, o)| matches!(o, Output::Abort { .. })));
    assert_eq!(copied.1, 2);
    assert_eq!(copied, shared);
}

// ---- Framing -----------------------------------------------------------------------------

/// Everything but the bytes written: what the session tells the driver about the peer.
fn events(outs: Vec<Output>) -> Vec<Output> {
    outs.into_iter()
        .filter(|o| !matches!(o, Output::Send { .. }))
        .collect()
}

#[test]
fn messages_split_at_every_byte_boundary_still_decode() {
    let mut stream = peer_open(90);
    stream.extend_from_slice(&keepalive());
    stream.extend_from_slice(&evpn_eor());
    stream.extend_from_slice(&good_update());
    stream.extend_from_slice(&keepalive());
    stream.extend_from_slice(&msg(5, &[0, 25, 0, 70]));

    let mut whole = T::open_sent(cfg_a());
    let reference = events(whole.recv(1, &stream));
    assert_eq!(reference.len(), 4, "{reference:?}"); // Established, EoR, Update, RR
    for cut in 1..stream.len() {
        let mut t = T::open_sent(cfg_a());
        let mut got = events(t.recv(1, &stream[..cut]));
        got.extend(events(t.recv(1, &stream[cut..])));
        assert_eq!(got, reference, "cut at {cut}");
    }
    let mut t = T::open_sent(cfg_a());
    let mut got = Vec::new();
    for b in &stream {
        got.extend(events(t.recv(1, std::slice::from_ref(b))));
    }
    assert_eq!(got, reference, "one byte at a time");
    assert_eq!(t.s.stats().messages_in, 6);
}

#[test]
fn a_partial_message_is_buffered_no_further_than_its_length() {
    let mut t = T::established();
    // An UPDATE header announcing 4096 bytes, then most of it.
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&4096u16.to_be_bytes());
    m.push(2);
    assert!(t.recv(1, &m).is_empty());
    assert!(t.recv(1, &vec![0u8; 4000]).is_empty());
    assert_eq!(t.s.conns[0].rx.len(), 4019);
    // A length above the maximum is refused as soon as the header is in: Bad Message
    // Length with the length field as data (RFC 4271 §6.1).
    let mut t = T::established();
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&5000u16.to_be_bytes());
    let outs = t.recv(1, &m);
    assert!(outs.is_empty(), "header not complete yet");
    let outs = t.recv(1, &[2]);
    assert_eq!(sends(&outs), vec![notification(1, 2, &[0x13, 0x88])]);
    assert_eq!(t.s.state(), State::Idle);
}

#[test]
fn a_bad_marker_is_connection_not_synchronized() {
    let mut t = T::established();
    let mut ka = keepalive();
    ka[3] = 0;
    let outs = t.recv(1, &ka);
    assert_eq!(sends(&outs), vec![notification(1, 1, &[])]);
    assert_eq!(downs(&outs).len(), 1);
}

// ---- Timers ------------------------------------------------------------------------------

#[test]
fn open_sent_waits_four_minutes_for_the_open() {
    let mut t = T::open_sent(cfg_a());
    assert_eq!(t.s.poll_timeout(), Some(t.base + secs(240)));
    let outs = t.run_until(secs(240));
    let outs: Vec<Output> = outs
        .into_iter()
        .map(|(at, o)| {
            assert_eq!(at, secs(240));
            o
        })
        .collect();
    assert_eq!(sends(&outs), vec![notification(4, 0, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    assert!(downs(&outs).is_empty());
    assert_eq!(t.s.state(), State::Idle);
}

#[test]
fn open_confirm_keeps_alive_then_times_out_without_a_keepalive() {
    let mut t = T::open_sent(cfg_a());
    t.recv(1, &peer_open(90));
    assert_eq!(t.s.state(), State::OpenConfirm);
    let outs = t.run_until(secs(90));
    let got: Vec<(u64, Vec<u8>)> = outs
        .iter()
        .filter_map(|(at, o)| match o {
            Output::Send { bytes, .. } => Some((at.as_secs(), bytes.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (30, keepalive()),
            (60, keepalive()),
            (90, notification(4, 0, &[]))
        ]
    );
    assert!(outs.iter().all(|(_, o)| !matches!(o, Output::Down(_))));
    assert_eq!(t.s.state(), State::Idle);
}

#[test]
fn an_unencodable_open_closes_the_connection_without_panicking() {
    let mut config = cfg_a();
    config.hold_time = 2; // RFC 4271 §4.2: 0 or at least 3
    let mut t = T::new(config);
    t.handle(Input::Start);
    let outs = t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    assert_eq!(outs, vec![Output::Close { conn: ConnId(1) }]);
    assert_eq!(t.s.state(), State::Idle);
    assert!(t
        .s
        .stats()
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("cannot encode our OPEN")));
    assert_eq!(t.run_until(secs(1)), vec![(secs(1), Output::Connect)]);
}

#[test]
fn hold_timer_expiry_sends_4_0_and_reports_down() {
    let mut t = T::established();
    let outs = t.run_until(secs(90));
    let ka: Vec<Duration> = outs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Send { bytes, .. } if *bytes == keepalive()))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(ka, vec![secs(30), secs(60)]);
    let last: Vec<Output> = outs
        .into_iter()
        .filter(|(at, _)| *at == secs(90))
        .map(|(_, o)| o)
        .collect();
    assert_eq!(sends(&last), vec![notification(4, 0, &[])]);
    assert_eq!(closes(&last), vec![ConnId(1)]);
    let d = downs(&last);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].notification_sent, Some(n(4, 0, &[])));
    assert_eq!(d[0].graceful_restart, None);
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(
        t.s.stats().last_notification_sent,
        Some((n(4, 0, &[]), t.base + secs(90)))
    );
}

#[test]
fn keepalives_every_third_of_hold_postponed_by_updates() {
    let mut t = T::established();
    let ka_times = |outs: &[(Duration, Output)]| -> Vec<u64> {
        outs.iter()
            .filter(|(_, o)| matches!(o, Output::Send { bytes, .. } if *bytes == keepalive()))
            .map(|(at, _)| at.as_secs())
            .collect()
    };
    let outs = t.run_until(secs(80));
    assert_eq!(ka_times(&outs), vec![30, 60]);
    t.recv(1, &keepalive()); // hold restarts: 80 + 90
    let outs = t.run_until(secs(155));
    assert_eq!(ka_times(&outs), vec![90, 120, 150]);
    t.recv(1, &keepalive());
    t.s.send_updates(good_update(), t.now); // keepalive restarts at 155: next at 185
    t.out();
    let outs = t.run_until(secs(200));
    assert_eq!(ka_times(&outs), vec![185]);
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn send_hold_expiry_aborts_with_8_0() {
    let mut t = T::established(); // hold 90: send hold max(480, 180) = 480 s
    let mut seen = Vec::new();
    // The peer keeps talking, but nothing we queue is ever written.
    for step in 1..=20u64 {
        seen.extend(t.run_until(secs(step * 30 - 1)));
        t.recv(1, &keepalive());
    }
    let aborts: Vec<Duration> = seen
        .iter()
        .filter(|(_, o)| matches!(o, Output::Abort { .. }))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(aborts, vec![secs(480)]);
    // Idle, then the automatic restart a connect-retry interval (1 s) later.
    assert!(seen.contains(&(secs(481), Output::Connect)));
    let at480: Vec<Output> = seen
        .into_iter()
        .filter(|(at, _)| *at == secs(480))
        .map(|(_, o)| o)
        .collect();
    assert_eq!(sends(&at480), vec![msg(3, &[8, 0])]);
    let d = downs(&at480);
    assert_eq!(d[0].notification_sent, Some(n(8, 0, &[])));
    assert!(closes(&at480).is_empty(), "aborted, not closed gracefully");
}

#[test]
fn write_progress_restarts_and_drained_stops_the_send_hold_timer() {
    let mut t = T::established();
    t.handle(Input::Drained { conn: ConnId(1) });
    t.at(secs(100));
    t.recv(1, &keepalive());
    t.s.send_updates(good_update(), t.now); // armed: 100 + 480 = 580
    t.out();
    let mut seen = Vec::new();
    for step in 4..=40u64 {
        let at = step * 30 - 1;
        seen.extend(t.run_until(secs(at)));
        t.recv(1, &keepalive());
        if at == 539 {
            t.handle(Input::WriteProgress { conn: ConnId(1) }); // now 539 + 480 = 1019
        }
    }
    let aborts: Vec<Duration> = seen
        .iter()
        .filter(|(_, o)| matches!(o, Output::Abort { .. }))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(aborts, vec![secs(1019)]);

    // Drained stops it for good.
    let mut t = T::established();
    t.handle(Input::Drained { conn: ConnId(1) });
    t.s.send_updates(good_update(), t.now);
    t.out();
    t.handle(Input::Drained { conn: ConnId(1) });
    let mut seen = Vec::new();
    for step in 1..=40u64 {
        seen.extend(t.run_until(secs(step * 30 - 1)));
        t.recv(1, &keepalive());
        t.handle(Input::Drained { conn: ConnId(1) });
    }
    assert!(!seen.iter().any(|(_, o)| matches!(o, Output::Abort { .. })));
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn send_hold_default_is_twice_a_long_hold_time() {
    let mut config = cfg_a();
    config.hold_time = 300;
    let mut t = T::established_with(config, &peer_open(300)); // max(480, 600) = 600 s
    let mut seen = Vec::new();
    for step in 1..=12u64 {
        seen.extend(t.run_until(secs(step * 60 - 1)));
        t.recv(1, &keepalive());
    }
    let aborts: Vec<Duration> = seen
        .iter()
        .filter(|(_, o)| matches!(o, Output::Abort { .. }))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(aborts, vec![secs(600)]);
}

// ---- Collisions (RFC 4271 §6.8) ----------------------------------------------------------

/// Both speakers connect at the same moment; exactly one connection survives: the one
/// opened by the speaker with the higher BGP identifier.
fn collide(a: PeerConfig, b: PeerConfig, winner: usize) {
    let mut net = Net::new(a, b);
    net.start();
    assert_eq!(net.links.len(), 2, "both sides connected");
    let live = net.live_links();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].opened_by, winner);
    for side in 0..2 {
        assert_eq!(net.s[side].state(), State::Established);
        assert_eq!(net.count(side, is_established), 1);
        assert_eq!(net.count(side, is_down), 0);
        assert_eq!(net.s[side].conns.len(), 1);
        assert_eq!(net.s[side].conns[0].outgoing, side == winner);
        assert_eq!(
            net.s[side]
                .stats()
                .last_notification_sent
                .as_ref()
                .map(|(n, _)| (n.code, n.subcode)),
            Some((6, 7))
        );
    }
    net.advance(secs(600));
    assert_eq!(net.s[0].state(), State::Established);
    assert_eq!(net.s[1].state(), State::Established);
}

#[test]
fn collision_keeps_the_connection_of_the_higher_identifier() {
    collide(cfg_a(), cfg_b(), 1); // B 198.18.0.2 > A 198.18.0.1
    let mut a = cfg_a();
    a.router_id = Ipv4Addr::new(198, 18, 0, 9);
    let mut b = cfg_b();
    b.address = IpAddr::V4(a.router_id);
    collide(a, b, 0);
}

#[test]
fn collision_with_equal_identifiers_keeps_the_larger_as() {
    // RFC 6286 §2.3 (eBGP may share identifiers).
    let id = Ipv4Addr::new(198, 18, 0, 7);
    let a = PeerConfig::new(IpAddr::V4(ID_B), 65002, 65001, id);
    let b = PeerConfig::new(IpAddr::V4(ID_A), 65001, 65002, id);
    collide(a, b, 1);
}

/// Our outgoing connection 1 and the peer's incoming connection 2, both in OpenSent.
fn two_connections(config: PeerConfig) -> T {
    let mut t = T::new(config);
    t.handle(Input::Start);
    t.handle(Input::Connected {
        conn: ConnId(2),
        outgoing: false,
    });
    t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    assert_eq!(t.s.conns.len(), 2);
    t
}

#[test]
fn collision_in_open_confirm_is_resolved_on_the_second_open() {
    // Peer 198.18.0.2 is higher: keep its connection (2), close ours (1).
    let mut t = two_connections(cfg_a());
    t.recv(1, &peer_open(90));
    assert_eq!(t.s.state(), State::OpenConfirm);
    let outs = t.recv(2, &peer_open(90));
    assert_eq!(sends_on(&outs, 1), vec![notification(6, 7, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    assert_eq!(sends_on(&outs, 2), vec![keepalive()]);
    assert_eq!(t.s.state(), State::OpenConfirm);
    t.recv(2, &keepalive());
    assert_eq!(t.s.state(), State::Established);

    // Peer with a lower identifier: ours (1) stays, its connection (2) goes.
    let low = Ipv4Addr::new(198, 18, 0, 0);
    let open = open_raw(65000, 90, low, &[cap_mp(EVPN), cap_as4(65000)]);
    let mut t = two_connections(cfg_a());
    t.recv(1, &open);
    let outs = t.recv(2, &open);
    assert_eq!(sends_on(&outs, 2), vec![notification(6, 7, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(2)]);
    assert!(sends_on(&outs, 1).is_empty());
    assert_eq!(t.s.conns[0].id, ConnId(1));
}

#[test]
fn an_established_connection_wins_any_collision() {
    let mut t = two_connections(cfg_a());
    let mut b = peer_open(90);
    b.extend_from_slice(&keepalive());
    t.recv(2, &b);
    assert_eq!(t.s.state(), State::Established);
    // The OPEN on the other connection arrives late: that one is closed.
    let outs = t.recv(1, &peer_open(90));
    assert_eq!(sends_on(&outs, 1), vec![notification(6, 7, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    assert!(downs(&outs).is_empty());
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn a_new_incoming_connection_while_established_is_refused() {
    let mut t = T::established();
    let outs = t.handle(Input::Connected {
        conn: ConnId(2),
        outgoing: false,
    });
    assert_eq!(sends_on(&outs, 2), vec![notification(6, 7, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(2)]);
    assert!(downs(&outs).is_empty());
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn a_newer_incoming_connection_replaces_an_older_one() {
    let mut config = cfg_a();
    config.passive = true;
    let mut t = T::new(config);
    t.handle(Input::Start);
    t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: false,
    });
    let outs = t.handle(Input::Connected {
        conn: ConnId(2),
        outgoing: false,
    });
    assert_eq!(sends_on(&outs, 2).len(), 1, "OPEN on the new one");
    assert_eq!(sends_on(&outs, 1), vec![notification(6, 7, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    assert_eq!(t.s.state(), State::OpenSent);
}

// ---- Graceful restart --------------------------------------------------------------------

fn gr_peer_open(families: &[Family]) -> Vec<u8> {
    peer_open_with(90, &[cap_gr(120, families)])
}

#[test]
fn a_closed_connection_to_a_gr_peer_is_graceful() {
    let mut t = T::established_with(cfg_a(), &gr_peer_open(&[EVPN]));
    let gr =
        t.s.negotiated()
            .unwrap()
            .peer_graceful_restart
            .clone()
            .unwrap();
    assert_eq!(gr.restart_time, 120);
    assert_eq!(gr.families.len(), 1);
    let outs = t.handle(Input::Closed { conn: ConnId(1) });
    assert!(closes(&outs).is_empty(), "already closed");
    let d = downs(&outs);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].graceful_restart, Some(secs(120)));
    assert_eq!(d[0].notification_sent, None);
    assert_eq!(d[0].notification_received, None);
    assert_eq!(t.s.state(), State::Idle);
}

#[test]
fn any_notification_ends_graceful_restart() {
    // Received.
    let mut t = T::established_with(cfg_a(), &gr_peer_open(&[EVPN]));
    let outs = t.recv(1, &notification(6, 4, &[]));
    let d = downs(&outs);
    assert_eq!(d[0].graceful_restart, None);
    assert_eq!(d[0].notification_received, Some(n(6, 4, &[])));
    // Sent (hold timer).
    let mut t = T::established_with(cfg_a(), &gr_peer_open(&[EVPN]));
    let outs: Vec<Output> = t.run_until(secs(90)).into_iter().map(|(_, o)| o).collect();
    let d = downs(&outs);
    assert_eq!(d[0].notification_sent, Some(n(4, 0, &[])));
    assert_eq!(d[0].graceful_restart, None);
    // A GR capability without families: nothing to keep.
    let mut t = T::established_with(cfg_a(), &gr_peer_open(&[]));
    let outs = t.handle(Input::Closed { conn: ConnId(1) });
    assert_eq!(downs(&outs)[0].graceful_restart, None);
}

#[test]
fn a_gr_peer_reconnecting_while_established_replaces_the_old_session() {
    // RFC 4724 §4.2: the new connection shows the peer restarted.
    let mut t = T::established_with(cfg_a(), &gr_peer_open(&[EVPN]));
    let outs = t.handle(Input::Connected {
        conn: ConnId(2),
        outgoing: false,
    });
    assert_eq!(sends_on(&outs, 2).len(), 1, "OPEN on the new connection");
    assert!(
        sends_on(&outs, 1).is_empty(),
        "no NOTIFICATION on the old one"
    );
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    let d = downs(&outs);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].graceful_restart, Some(secs(120)));
    assert_eq!(t.s.state(), State::OpenSent);
    let mut b = gr_peer_open(&[EVPN]);
    b.extend_from_slice(&keepalive());
    let outs = t.recv(2, &b);
    assert!(outs.iter().any(is_established));
    assert_eq!(t.s.stats().established_count, 2);
}

// ---- Stop, automatic restart -------------------------------------------------------------

#[test]
fn stop_sends_cease_administrative_shutdown_and_stays_idle() {
    let mut t = T::established();
    let outs = t.handle(Input::Stop {
        notification: None,
        restart_after: None,
    });
    assert_eq!(sends(&outs), vec![notification(6, 2, &[])]);
    assert_eq!(closes(&outs), vec![ConnId(1)]);
    let d = downs(&outs);
    assert_eq!(d[0].notification_sent, Some(n(6, 2, &[])));
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(t.s.poll_timeout(), None);
    assert!(t.run_until(secs(86_400)).is_empty());
    // Stopped: the peer's connections are refused.
    let outs = t.handle(Input::Connected {
        conn: ConnId(3),
        outgoing: false,
    });
    assert_eq!(sends(&outs), vec![notification(6, 5, &[])]);
    assert_eq!(t.s.state(), State::Idle);
    // Start again.
    assert_eq!(t.handle(Input::Start), vec![Output::Connect]);
    assert_eq!(t.s.state(), State::Connect);
}

#[test]
fn stop_in_connect_or_active_just_goes_idle() {
    let mut t = T::new(cfg_a());
    t.handle(Input::Start);
    let outs = t.handle(Input::Stop {
        notification: None,
        restart_after: None,
    });
    assert!(outs.is_empty());
    assert_eq!(t.s.state(), State::Idle);
    // The attempt that was in flight completes: not wanted any more.
    let outs = t.handle(Input::Connected {
        conn: ConnId(1),
        outgoing: true,
    });
    assert_eq!(outs, vec![Output::Close { conn: ConnId(1) }]);
    assert_eq!(t.s.poll_timeout(), None);
}

#[test]
fn stop_for_max_prefix_restarts_after_the_interval() {
    let mut t = T::established();
    t.at(secs(5));
    let outs = t.handle(Input::Stop {
        notification: Some(max_prefix_notification(EVPN, 1000)),
        restart_after: Some(secs(30)),
    });
    // Cease/Maximum Number of Prefixes Reached: AFI 25, SAFI 70, limit 1000 (RFC 4486 §4).
    assert_eq!(
        sends(&outs),
        vec![notification(6, 1, &[0, 25, 70, 0, 0, 0x03, 0xe8])]
    );
    assert_eq!(downs(&outs).len(), 1);
    assert_eq!(t.s.state(), State::Idle);
    // Held down: the peer may not come back early.
    t.at(secs(20));
    let outs = t.handle(Input::Connected {
        conn: ConnId(2),
        outgoing: false,
    });
    assert_eq!(sends(&outs), vec![notification(6, 5, &[])]);
    let outs = t.run_until(secs(35));
    assert_eq!(outs, vec![(secs(35), Output::Connect)]);
    assert_eq!(t.s.state(), State::Connect);
}

#[test]
fn after_an_error_the_session_restarts_by_itself_with_backoff() {
    let mut t = T::established();
    let outs = t.recv(1, &notification(6, 2, &[]));
    assert_eq!(downs(&outs)[0].notification_received, Some(n(6, 2, &[])));
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(
        t.s.stats().last_error.as_deref(),
        Some("NOTIFICATION received: 6/2 (Cease, Administrative Shutdown)")
    );
    // Restart after connect_retry (1 s), then the peer refuses twice: 2 s, 4 s.
    assert_eq!(t.run_until(secs(1)), vec![(secs(1), Output::Connect)]);
    t.handle(Input::Connected {
        conn: ConnId(2),
        outgoing: true,
    });
    let outs = t.handle(Input::Closed { conn: ConnId(2) });
    assert!(downs(&outs).is_empty());
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(t.run_until(secs(3)), vec![(secs(3), Output::Connect)]);
    t.handle(Input::ConnectFailed);
    assert_eq!(t.run_until(secs(7)), vec![(secs(7), Output::Connect)]);
}

#[test]
fn an_idle_started_session_still_accepts_the_peer() {
    // While waiting to reconnect after an error, the peer's own connection is taken.
    let mut t = T::established();
    t.recv(1, &notification(6, 2, &[]));
    assert_eq!(t.s.state(), State::Idle);
    let outs = t.handle(Input::Connected {
        conn: ConnId(2),
        outgoing: false,
    });
    assert_eq!(sends_on(&outs, 2).len(), 1);
    assert_eq!(t.s.state(), State::OpenSent);
    assert_eq!(
        t.s.poll_timeout(),
        Some(t.now + OPEN_SENT_HOLD_TIME),
        "only the OpenSent hold timer: no reconnect attempt"
    );
}

// ---- Robustness --------------------------------------------------------------------------

#[test]
fn huge_durations_disarm_timers_instead_of_overflowing() {
    let mut config = cfg_a();
    config.connect_retry = Duration::MAX;
    config.connect_retry_max = Duration::MAX;
    config.send_hold_time = Some(Duration::MAX);
    let mut t = T::established_with(config, &peer_open(90));
    t.s.send_updates(good_update(), t.now);
    t.handle(Input::WriteProgress { conn: ConnId(1) });
    t.handle(Input::Stop {
        notification: None,
        restart_after: Some(Duration::MAX),
    });
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(t.s.poll_timeout(), None);
    t.handle(Input::Start);
    t.handle(Input::ConnectFailed);
    assert_eq!(t.s.state(), State::Active);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes, arbitrarily split, in OpenSent and in Established: no panic, and the
    /// partial-message buffer stays within one message.
    #[test]
    fn arbitrary_input_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        prefix_ok in any::<bool>(),
    ) {
        for established in [false, true] {
            let mut t = if established { T::established() } else { T::open_sent(cfg_a()) };
            if prefix_ok {
                t.recv(1, &keepalive()[..10]);
            }
            for c in &chunks {
                t.recv(1, c);
                for conn in &t.s.conns {
                    prop_assert!(conn.rx.len() <= conn.ctx.max_message_len());
                }
            }
            let _ = t.run_until(secs(600));
        }
    }
}

// ---- Framing and decoding ahead of the session (Framer, Input::ReceivedFrames) -----------

/// One of a few messages an Established session may receive: clean, RFC 7606 malformed
/// (treat-as-withdraw, session reset), and a header that cannot be framed.
fn sample_message(i: u8) -> Vec<u8> {
    match i % 8 {
        0 | 1 => good_update(),
        2 => evpn_eor(),
        3 => keepalive(),
        // ORIGIN 3: treat-as-withdraw (RFC 7606 §7.1).
        4 => update_msg(
            &[
                0x40, 1, 1, 3, 0x40, 2, 0, 0x40, 3, 4, 198, 18, 0, 2, 0x40, 5, 4, 0, 0, 0, 100,
            ],
            &[24, 192, 0, 2],
        ),
        // Route refresh for EVPN (RFC 2918).
        5 => msg(5, &[0, 25, 0, 70]),
        // Attribute length overrunning the attributes: session reset (RFC 7606 §4).
        6 => update_msg(&[0x40, 1, 9, 0], &[]),
        // A length field of 3 bytes: bad message length.
        _ => {
            let mut m = keepalive();
            m[17] = 3;
            m
        }
    }
}

/// Feeds `stream` split at `cuts` to a session through a [`Framer`] that gets the context
/// after `context_after` pieces; returns the session's outputs and its counters.
fn through_framer(
    stream: &[u8],
    cuts: &[usize],
    context_after: usize,
) -> (Vec<Output>, SessionStats) {
    let mut t = T::established();
    // The driver takes the context once Established, before the messages that follow.
    let ctx = t.s.established_context(ConnId(1)).unwrap().clone();
    let mut framer = Framer::new();
    let mut outs = Vec::new();
    for (i, piece) in pieces(stream, cuts).into_iter().enumerate() {
        if i == context_after {
            framer.set_context(ctx.clone());
        }
        match framer.push(piece) {
            Some(Framed::Bytes(b)) => outs.extend(t.recv(1, &b)),
            Some(Framed::Frames(frames)) => outs.extend(t.handle(Input::ReceivedFrames {
                conn: ConnId(1),
                frames,
            })),
            None => {}
        }
    }
    (outs, t.s.stats().clone())
}

/// `stream` cut at the (sorted, clamped) offsets `cuts`.
fn pieces<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    at.sort_unstable();
    let mut v = Vec::new();
    let mut from = 0;
    for c in at.into_iter().chain([stream.len()]) {
        v.push(&stream[from..c]);
        from = c;
    }
    v
}

#[test]
fn the_framer_hands_whole_messages_then_decoded_ones() {
    let t = T::established();
    let ctx = t.s.established_context(ConnId(1)).unwrap().clone();
    assert!(
        T::open_sent(cfg_a())
            .s
            .established_context(ConnId(1))
            .is_none(),
        "no context before Established"
    );
    let mut f = Framer::new();
    let two = [good_update(), keepalive()].concat();
    assert_eq!(f.push(&two[..5]), None);
    assert_eq!(f.push(&two[5..]), Some(Framed::Bytes(two.clone())));
    f.set_context(ctx.clone());
    assert!(f.decodes());
    let Some(Framed::Frames(frames)) = f.push(&two) else {
        panic!("decoded frames expected")
    };
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0], DecodedFrame::decode(&ctx, &good_update()));
    assert_eq!(frames[1].msg_type, 4);
    // A header that cannot be framed: everything passes as bytes from then on.
    let bad = sample_message(7);
    assert_eq!(f.push(&bad), Some(Framed::Bytes(bad.clone())));
    assert!(!f.decodes());
    assert_eq!(f.push(&two), Some(Framed::Bytes(two)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Messages decoded ahead of the session, with the context switched on at any point and
    /// the bytes split anywhere, give the same outputs and counters (RFC 7606 outcomes
    /// included) as the same bytes given to the session.
    #[test]
    fn framed_input_behaves_as_bytes(
        kinds in proptest::collection::vec(any::<u8>(), 0..24),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        context_after in 0usize..14,
    ) {
        let stream: Vec<u8> = kinds.iter().flat_map(|&k| sample_message(k)).collect();
        let mut direct = T::established();
        let mut outs = Vec::new();
        for piece in pieces(&stream, &cuts) {
            outs.extend(direct.recv(1, piece));
        }
        let (framed_outs, framed_stats) = through_framer(&stream, &cuts, context_after);
        prop_assert_eq!(outs, framed_outs);
        let counts = |st: &SessionStats| {
            (st.messages_in, st.updates_in, st.messages_out, st.rfc7606, st.last_error.clone())
        };
        prop_assert_eq!(counts(direct.s.stats()), counts(&framed_stats));
    }
}
