//! A raw BGP speaker for tests and benchmarks, built directly on the `evpnd_wire` codec.
//!
//! It does just enough of RFC 4271 to hold a session with a real router: it sends an OPEN with
//! the configured capabilities (by default multiprotocol L2VPN EVPN, route refresh and 4-octet
//! AS, RFC 4760 / RFC 2918 / RFC 6793), answers the peer's OPEN with a KEEPALIVE, waits for the
//! peer's KEEPALIVE (§8.2.2 OpenConfirm → Established), and then keeps the session alive with a
//! KEEPALIVE every third of the negotiated hold time (§4.4). A reader thread decodes every
//! message with `decode_message` and, when asked to, keeps a route table (Adj-RIB-In) with the
//! RFC 7606 outcome of each UPDATE applied, so tests can wait for exact route sets.
//!
//! It is deliberately not a BGP implementation: no FSM retries, no best path, no policy.

use crate::error::{Context, LabError, Result};
use evpnd_wire::{
    decode_message, encode_message, frame_length, Capability, CodecContext, DecodeError, Family,
    Message, NextHop, Nlri, Notification, Open, Outcome, PathAttribute, Update, UpdatePacker,
};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a raw speaker presents itself in its OPEN and what it keeps.
#[derive(Clone, Debug)]
pub struct SpeakerConfig {
    /// Our AS (4-octet capable; AS_TRANS goes in the 2-octet field when needed).
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Proposed hold time in seconds (0 or ≥ 3).
    pub hold_time: u16,
    /// Capabilities to announce (the 4-octet AS capability is added automatically).
    pub capabilities: Vec<Capability>,
    /// When set, a peer announcing another AS is refused (NOTIFICATION 2/2, Bad Peer AS).
    pub peer_as: Option<u32>,
    /// Bound on the OPEN/KEEPALIVE exchange.
    pub handshake_timeout: Duration,
    /// What the reader keeps of received UPDATEs.
    pub tracking: Tracking,
}

/// What a session's reader does with received UPDATEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracking {
    /// Frame and count messages only: a load generator must not burn the CPU the device
    /// under test needs.
    Off,
    /// Count EVPN NLRI announced minus withdrawn by walking the MP_REACH / MP_UNREACH length
    /// fields, without decoding routes or keeping a table. An order of magnitude cheaper than
    /// `Full`, for the many sinks of a fan-out; exact only while the peer sends no
    /// duplicates (a duplicate shows up as an overshoot, which the benchmark reports).
    Count,
    /// Keep the set of EVPN NLRI held, as 64-bit digests of their wire bytes ([`nlri_key`]),
    /// found by the same length walk as `Count`: exact set semantics (repeats and withdrawals
    /// handled) at a fraction of `Full`'s cost. What a benchmark sink uses.
    Keys,
    /// Decode every UPDATE with `decode_message` and keep an Adj-RIB-In: every route with its
    /// path, with the RFC 7606 outcome applied.
    Full,
}

impl SpeakerConfig {
    /// An EVPN speaker: multiprotocol L2VPN EVPN (AFI 25 / SAFI 70), route refresh, 4-octet
    /// AS, hold time 90 s, full route tracking.
    pub fn evpn(local_as: u32, router_id: Ipv4Addr) -> Self {
        SpeakerConfig {
            local_as,
            router_id,
            hold_time: 90,
            capabilities: vec![
                Capability::Multiprotocol(Family::L2VPN_EVPN),
                Capability::RouteRefresh,
            ],
            peer_as: None,
            handshake_timeout: Duration::from_secs(30),
            tracking: Tracking::Full,
        }
    }
}

/// A fast non-cryptographic hasher (multiply-rotate, as in rustc's FxHasher) for the route
/// table: the keys come from our own test peers, and SipHash would make the sink, not the
/// device under test, the bottleneck of the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A session's Adj-RIB-In: every route held, with its path.
pub type RouteTable = HashMap<Nlri, Arc<PathInfo>, BuildHasherDefault<FastHasher>>;

/// A route's path as received: next hop (from MP_REACH_NLRI, or NEXT_HOP for IPv4) and the
/// other attributes. Shared by every route of one UPDATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathInfo {
    /// The next hop.
    pub next_hop: Option<NextHop>,
    /// The path attributes other than MP_REACH/MP_UNREACH, in received order.
    pub attributes: Vec<PathAttribute>,
}

impl PathInfo {
    /// The first attribute of `type_code`.
    pub fn attribute(&self, type_code: u8) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == type_code)
    }
}

/// Counters of one session, as seen by the reader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Messages received after the handshake.
    pub messages: u64,
    /// UPDATE messages received.
    pub updates: u64,
    /// KEEPALIVE messages received.
    pub keepalives: u64,
    /// Bytes received after the handshake.
    pub bytes: u64,
    /// NLRI announced (counting repeats), when routes are tracked.
    pub announced: u64,
    /// NLRI withdrawn (including treat-as-withdraw), when routes are tracked.
    pub withdrawn: u64,
    /// UPDATEs whose RFC 7606 outcome was not "accept".
    pub not_accepted: u64,
    /// Families for which an End-of-RIB marker arrived (RFC 4724 §2).
    pub end_of_rib: Vec<Family>,
    /// The NOTIFICATION the peer sent, if any.
    pub notification: Option<Notification>,
    /// Why the session ended (EOF, error, hold timer), once it has.
    pub closed: Option<String>,
}

#[derive(Default)]
struct State {
    stats: SessionStats,
    /// Net EVPN NLRI count in `Tracking::Count` mode.
    counted: i64,
    /// EVPN NLRI keys held in `Tracking::Keys` mode.
    keys: KeySet,
    tracking: Option<Tracking>,
    routes: RouteTable,
    target: Option<usize>,
    reached_at: Option<Instant>,
    last_update_at: Option<Instant>,
}

impl State {
    /// Routes held: the table size, the key set's size, or the net NLRI count, by mode.
    fn held(&self) -> usize {
        match self.tracking {
            Some(Tracking::Count) => usize::try_from(self.counted).unwrap_or(0),
            Some(Tracking::Keys) => self.keys.len(),
            _ => self.routes.len(),
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An established session with a peer. Dropping it closes the TCP connection and joins its
/// threads; [`Session::close`] sends a Cease NOTIFICATION first.
pub struct Session {
    peer_open: Open,
    ctx: CodecContext,
    peer: SocketAddr,
    local: SocketAddr,
    hold_time: u16,
    writer: Arc<Mutex<TcpStream>>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    established_at: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("peer_as", &self.peer_open.asn())
            .field("hold_time", &self.hold_time)
            .finish()
    }
}

/// Accepts one connection on `listener` within `timeout`.
pub fn accept_timeout(listener: &TcpListener, timeout: Duration) -> Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(LabError::new(format!(
                        "no connection on {:?} within {:.1} s",
                        listener.local_addr().ok(),
                        timeout.as_secs_f64()
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Connects to `remote` from `local` (when given: bind before connect, so a test host with
/// several addresses can speak as each of them), retrying refused connections until
/// `timeout` (the peer may still be starting).
pub fn connect(
    local: Option<Ipv4Addr>,
    remote: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let deadline = Instant::now() + timeout;
    loop {
        let sock = Socket::new(
            Domain::for_address(remote),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        if let Some(l) = local {
            sock.bind(&SockAddr::from(SocketAddr::from((l, 0))))
                .context(format!("binding {l}"))?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match sock.connect_timeout(&SockAddr::from(remote), left.max(Duration::from_millis(10))) {
            Ok(()) => return Ok(sock.into()),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                return Err(LabError::new(format!(
                    "connecting to {remote} within {:.1} s: {e}",
                    timeout.as_secs_f64()
                )))
            }
        }
    }
}

fn encode(ctx: &CodecContext, m: &Message) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_message(ctx, m, &mut out).map_err(|e| LabError::new(format!("encoding: {e}")))?;
    Ok(out)
}

/// Reads one message from `s` into `buf` (keeping extra bytes), bounded by `deadline`.
fn read_message(
    s: &mut TcpStream,
    ctx: &CodecContext,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<Message> {
    loop {
        match decode_message(ctx, buf) {
            Ok(d) => {
                buf.drain(..d.length);
                return Ok(d.message);
            }
            Err(DecodeError::Incomplete { .. }) => {}
            Err(e) => return Err(LabError::new(format!("peer sent a bad message: {e}"))),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LabError::new("handshake timed out"));
        }
        s.set_read_timeout(Some(left))?;
        let mut tmp = [0u8; 4096];
        match s.read(&mut tmp) {
            Ok(0) => {
                return Err(LabError::new(
                    "peer closed the connection during the handshake",
                ))
            }
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(LabError::new("handshake timed out"))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl Session {
    /// Runs the OPEN/KEEPALIVE exchange on a connected stream and starts the reader and
    /// keepalive threads. Either side may have opened the connection.
    pub fn establish(mut stream: TcpStream, cfg: &SpeakerConfig) -> Result<Session> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        let handshake = |stream: &mut TcpStream| -> Result<(Open, Vec<u8>)> {
            stream.set_nodelay(true)?;
            let deadline = Instant::now() + cfg.handshake_timeout;
            let ctx0 = CodecContext::default();
            let open = Open::new(
                cfg.local_as,
                cfg.hold_time,
                cfg.router_id,
                cfg.capabilities.clone(),
            );
            stream.write_all(&encode(&ctx0, &Message::Open(open))?)?;
            let mut buf = Vec::new();
            let peer_open = match read_message(stream, &ctx0, &mut buf, deadline)? {
                Message::Open(o) => o,
                Message::Notification(n) => {
                    return Err(LabError::new(format!(
                        "peer refused the session: NOTIFICATION {}/{} ({:?})",
                        n.code,
                        n.subcode,
                        n.describe()
                    )))
                }
                m => {
                    return Err(LabError::new(format!(
                        "expected OPEN, got {:?}",
                        m.message_type()
                    )))
                }
            };
            if let Some(want) = cfg.peer_as {
                if peer_open.asn() != want {
                    let n = Notification {
                        code: 2,
                        subcode: 2,
                        data: Vec::new(),
                    };
                    let _ = stream.write_all(&encode(&ctx0, &Message::Notification(n))?);
                    return Err(LabError::new(format!(
                        "peer AS {} instead of {want}",
                        peer_open.asn()
                    )));
                }
            }
            stream.write_all(&encode(&ctx0, &Message::Keepalive)?)?;
            match read_message(stream, &ctx0, &mut buf, deadline)? {
                Message::Keepalive => {}
                Message::Notification(n) => {
                    return Err(LabError::new(format!(
                        "peer closed in OpenConfirm: NOTIFICATION {}/{} ({:?})",
                        n.code,
                        n.subcode,
                        n.describe()
                    )))
                }
                m => {
                    return Err(LabError::new(format!(
                        "expected KEEPALIVE, got {:?}",
                        m.message_type()
                    )))
                }
            }
            Ok((peer_open, buf))
        };
        let (peer_open, leftover) =
            handshake(&mut stream).context(format!("BGP handshake with {peer}"))?;
        let hold_time = cfg.hold_time.min(peer_open.hold_time);
        let ctx = CodecContext {
            four_octet_as: peer_open.has_capability(65),
            extended_message: false,
            add_path: Vec::new(),
            external_peer: peer_open.asn() != cfg.local_as,
        };
        let shared = Arc::new(Shared::default());
        shared.lock().tracking = Some(cfg.tracking);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = Arc::new(Mutex::new(stream.try_clone()?));
        let mut threads = Vec::new();
        {
            let (shared, stop, ctx) = (shared.clone(), stop.clone(), ctx.clone());
            let writer = writer.clone();
            let track = cfg.tracking;
            threads.push(
                std::thread::Builder::new()
                    .name(format!("bgp-rx-{peer}"))
                    .spawn(move || {
                        reader(
                            stream, leftover, ctx, track, hold_time, shared, stop, writer,
                        )
                    })?,
            );
        }
        if hold_time > 0 {
            let (stop, writer, shared) = (stop.clone(), writer.clone(), shared.clone());
            let interval = Duration::from_secs(u64::from((hold_time / 3).max(1)));
            threads.push(
                std::thread::Builder::new()
                    .name(format!("bgp-ka-{peer}"))
                    .spawn(move || keepalives(interval, stop, writer, shared))?,
            );
        }
        Ok(Session {
            peer_open,
            ctx,
            peer,
            local,
            hold_time,
            writer,
            shared,
            stop,
            threads,
            established_at: Instant::now(),
        })
    }

    /// Accepts a connection on `listener` (within `cfg.handshake_timeout`) and establishes.
    pub fn accept(listener: &TcpListener, cfg: &SpeakerConfig) -> Result<Session> {
        let s = accept_timeout(listener, cfg.handshake_timeout)?;
        Session::establish(s, cfg)
    }

    /// Connects to `remote` from `local` and establishes (active side).
    pub fn connect(
        local: Option<Ipv4Addr>,
        remote: SocketAddr,
        cfg: &SpeakerConfig,
    ) -> Result<Session> {
        let s = connect(local, remote, cfg.handshake_timeout)?;
        Session::establish(s, cfg)
    }

    /// The peer's OPEN.
    pub fn peer_open(&self) -> &Open {
        &self.peer_open
    }

    /// The codec context negotiated for this session.
    pub fn ctx(&self) -> &CodecContext {
        &self.ctx
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Our address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The negotiated hold time.
    pub fn hold_time(&self) -> u16 {
        self.hold_time
    }

    /// When the session reached Established.
    pub fn established_at(&self) -> Instant {
        self.established_at
    }

    /// Sends pre-encoded messages. The bytes are written in chunks of whole messages, so the
    /// keepalive thread can slip its KEEPALIVEs in between.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        const CHUNK: usize = 64 * 1024;
        let mut pos = 0;
        while pos < bytes.len() {
            let mut end = pos;
            while end < bytes.len() && end - pos < CHUNK {
                match frame_length(&self.ctx, &bytes[end..]) {
                    Ok(Some(n)) if end + n <= bytes.len() => end += n,
                    _ => return Err(LabError::new(format!("not whole messages at offset {end}"))),
                }
            }
            let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            w.write_all(&bytes[pos..end])
                .context(format!("sending to {}", self.peer))?;
            pos = end;
        }
        Ok(())
    }

    /// Encodes and sends one message.
    pub fn send(&self, m: &Message) -> Result<()> {
        self.send_bytes(&encode(&self.ctx, m)?)
    }

    /// Announces `routes` of `family` with `next_hop` and `attributes`, packed into as few
    /// UPDATEs as fit (RFC 4271 §4.3 size limit).
    pub fn announce(
        &self,
        family: Family,
        next_hop: &NextHop,
        attributes: &[PathAttribute],
        routes: &[Nlri],
    ) -> Result<()> {
        let mut out = Vec::new();
        UpdatePacker::new(&self.ctx)
            .announce(
                family,
                next_hop,
                attributes,
                Default::default(),
                routes,
                &mut out,
            )
            .map_err(|e| LabError::new(format!("packing UPDATEs: {e}")))?;
        self.send_bytes(&out)
    }

    /// Withdraws `routes` of `family`.
    pub fn withdraw(&self, family: Family, routes: &[Nlri]) -> Result<()> {
        let mut out = Vec::new();
        UpdatePacker::new(&self.ctx)
            .withdraw(family, routes, &mut out)
            .map_err(|e| LabError::new(format!("packing withdrawals: {e}")))?;
        self.send_bytes(&out)
    }

    /// Sends the End-of-RIB marker for `family` (RFC 4724 §2).
    pub fn send_end_of_rib(&self, family: Family) -> Result<()> {
        self.send(&Message::Update(Update::end_of_rib(family)))
    }

    /// A copy of the counters.
    pub fn stats(&self) -> SessionStats {
        self.shared.lock().stats.clone()
    }

    /// How many routes the session holds: the table size with `Tracking::Full`, the key set's
    /// size with `Tracking::Keys`, the net count of EVPN NLRI with `Tracking::Count`, 0 with
    /// `Tracking::Off`.
    pub fn route_count(&self) -> usize {
        self.shared.lock().held()
    }

    /// A copy of the route table.
    pub fn routes(&self) -> RouteTable {
        self.shared.lock().routes.clone()
    }

    /// A copy of the NLRI key set (`Tracking::Keys`).
    pub fn nlri_keys(&self) -> KeySet {
        self.shared.lock().keys.clone()
    }

    /// The path of one route, if held.
    pub fn route(&self, nlri: &Nlri) -> Option<Arc<PathInfo>> {
        self.shared.lock().routes.get(nlri).cloned()
    }

    /// When the last UPDATE arrived.
    pub fn last_update_at(&self) -> Option<Instant> {
        self.shared.lock().last_update_at
    }

    /// Waits until the table holds exactly `n` routes and returns the instant the reader saw
    /// that happen (not when this call noticed). Errors on timeout or when the session ends.
    pub fn wait_routes(&self, n: usize, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        st.target = Some(n);
        if st.held() == n && st.reached_at.is_none() {
            st.reached_at = Some(Instant::now());
        }
        loop {
            if let Some(t) = st.reached_at {
                if st.held() == n {
                    return Ok(t);
                }
            }
            if let Some(why) = &st.stats.closed {
                return Err(LabError::new(format!(
                    "session with {} ended holding {} of {n} routes: {why}",
                    self.peer,
                    st.held()
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LabError::new(format!(
                    "{} holds {} routes, not {n}, after {:.1} s",
                    self.peer,
                    st.held(),
                    timeout.as_secs_f64()
                )));
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Waits until `pred(stats, routes)` holds, checking after every batch of messages.
    pub fn wait_state<F>(&self, timeout: Duration, mut pred: F) -> Result<()>
    where
        F: FnMut(&SessionStats, &RouteTable) -> bool,
    {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if pred(&st.stats, &st.routes) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LabError::new(format!(
                    "session with {}: condition not met within {:.1} s ({} routes, {:?})",
                    self.peer,
                    timeout.as_secs_f64(),
                    st.held(),
                    st.stats.closed
                )));
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, (deadline - now).min(Duration::from_millis(200)))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Sends a Cease / Administrative Shutdown NOTIFICATION (RFC 4486, RFC 9003) and closes.
    pub fn close(self) {
        let n = Notification {
            code: 6,
            subcode: 2,
            data: Vec::new(),
        };
        let _ = self.send(&Message::Notification(n));
        // Drop does the rest.
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn keepalives(
    interval: Duration,
    stop: Arc<AtomicBool>,
    writer: Arc<Mutex<TcpStream>>,
    shared: Arc<Shared>,
) {
    let ka = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0, 19, 4,
    ];
    let mut next = Instant::now() + interval;
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() >= next {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            if w.write_all(&ka).is_err() {
                break;
            }
            next = Instant::now() + interval;
        }
        if shared.lock().stats.closed.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[allow(clippy::too_many_arguments)]
fn reader(
    mut stream: TcpStream,
    mut buf: Vec<u8>,
    ctx: CodecContext,
    track: Tracking,
    hold_time: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    writer: Arc<Mutex<TcpStream>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let hold = Duration::from_secs(u64::from(hold_time));
    let mut last_rx = Instant::now();
    let mut tmp = vec![0u8; 256 * 1024];
    let mut pos = 0;
    let close = |why: String| {
        let mut st = shared.lock();
        if st.stats.closed.is_none() {
            st.stats.closed = Some(why);
        }
        drop(st);
        shared.changed.notify_all();
    };
    loop {
        // Handle every complete message in the buffer under one lock.
        if pos < buf.len() {
            let mut st = shared.lock();
            let mut fatal = None;
            while pos < buf.len() {
                match process(&ctx, &buf[pos..], track, &mut st) {
                    Ok(Some(n)) => pos += n,
                    Ok(None) => break,
                    Err(e) => {
                        fatal = Some(e);
                        break;
                    }
                }
            }
            if let (Some(t), None) = (st.target, st.reached_at) {
                if st.held() == t {
                    st.reached_at = Some(Instant::now());
                }
            } else if st.target.is_some_and(|t| st.held() != t) {
                st.reached_at = None;
            }
            drop(st);
            shared.changed.notify_all();
            if let Some((why, notification)) = fatal {
                if let Some(n) = notification {
                    if let Ok(bytes) = encode(&ctx, &Message::Notification(n)) {
                        let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = w.write_all(&bytes);
                    }
                }
                close(why);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            if pos > 0 && pos >= buf.len() / 2 {
                buf.drain(..pos);
                pos = 0;
            }
        }
        if stop.load(Ordering::SeqCst) {
            close("closed locally".into());
            return;
        }
        match stream.read(&mut tmp) {
            Ok(0) => {
                close("peer closed the connection".into());
                return;
            }
            Ok(n) => {
                last_rx = Instant::now();
                buf.extend_from_slice(&tmp[..n]);
                shared.lock().stats.bytes += n as u64;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if hold_time > 0 && last_rx.elapsed() > hold {
                    let n = Notification {
                        code: 4,
                        subcode: 0,
                        data: Vec::new(),
                    };
                    if let Ok(bytes) = encode(&ctx, &Message::Notification(n)) {
                        let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = w.write_all(&bytes);
                    }
                    close("hold timer expired".into());
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                close(format!("read error: {e}"));
                return;
            }
        }
    }
}

/// Processes the message at the start of `bytes`: `Ok(None)` when incomplete, the length when
/// handled, an error (reason, NOTIFICATION to send) when the session must end.
fn process(
    ctx: &CodecContext,
    bytes: &[u8],
    track: Tracking,
    st: &mut State,
) -> std::result::Result<Option<usize>, (String, Option<Notification>)> {
    let len = match frame_length(ctx, bytes) {
        Ok(Some(n)) if n <= bytes.len() => n,
        Ok(_) => return Ok(None),
        Err(DecodeError::Reset(r)) => {
            return Err((
                format!("bad message header: {r}"),
                Some(Notification::from_reset(&r)),
            ))
        }
        Err(DecodeError::Incomplete { .. }) => return Ok(None),
    };
    st.stats.messages += 1;
    if bytes[18] == 2 && track != Tracking::Full {
        st.stats.updates += 1;
        st.last_update_at = Some(Instant::now());
        let bad = || {
            (
                "UPDATE whose attribute or NLRI lengths do not add up".to_string(),
                None,
            )
        };
        match track {
            Tracking::Count => {
                let (a, w) = count_evpn_nlri(&bytes[..len]).ok_or_else(bad)?;
                st.stats.announced += a;
                st.stats.withdrawn += w;
                st.counted += a as i64 - w as i64;
            }
            Tracking::Keys => {
                let State { stats, keys, .. } = st;
                for_each_evpn_nlri(&bytes[..len], |announced, nlri| {
                    if announced {
                        stats.announced += 1;
                        keys.insert(nlri_key(nlri));
                    } else {
                        stats.withdrawn += 1;
                        keys.remove(&nlri_key(nlri));
                    }
                })
                .ok_or_else(bad)?;
            }
            Tracking::Off | Tracking::Full => {}
        }
        return Ok(Some(len));
    }
    let d = match decode_message(ctx, &bytes[..len]) {
        Ok(d) => d,
        Err(DecodeError::Reset(r)) => {
            return Err((
                format!("malformed message: {r}"),
                Some(Notification::from_reset(&r)),
            ))
        }
        Err(DecodeError::Incomplete { .. }) => return Ok(None),
    };
    match d.message {
        Message::Keepalive => st.stats.keepalives += 1,
        Message::Notification(n) => {
            let why = format!("NOTIFICATION {}/{} {:?}", n.code, n.subcode, n.describe());
            st.stats.notification = Some(n);
            return Err((why, None));
        }
        Message::Open(_) => {
            return Err((
                "OPEN in Established".into(),
                Some(Notification {
                    code: 5,
                    subcode: 3,
                    data: Vec::new(),
                }),
            ))
        }
        Message::RouteRefresh(_) => {}
        Message::Update(u) => {
            st.stats.updates += 1;
            st.last_update_at = Some(Instant::now());
            if let Some(f) = u.as_end_of_rib() {
                st.stats.end_of_rib.push(f);
                return Ok(Some(len));
            }
            if !matches!(d.outcome, Outcome::Accept) {
                st.stats.not_accepted += 1;
            }
            apply_update(u, &d.outcome, st);
        }
    }
    Ok(Some(len))
}

fn apply_update(u: Update, outcome: &Outcome, st: &mut State) {
    match outcome {
        Outcome::TreatAsWithdraw(_) => {
            for (_, n) in u.treat_as_withdraw() {
                st.stats.withdrawn += 1;
                st.routes.remove(n);
            }
        }
        Outcome::AfiSafiDisable { family, .. } => {
            let f = *family;
            st.routes.retain(|n, _| n.route.family() != f);
        }
        Outcome::Accept | Outcome::AttributeDiscard(_) => {
            for (_, n) in u.withdrawals() {
                st.stats.withdrawn += 1;
                st.routes.remove(n);
            }
            let next_hop = match (&u.mp_reach, u.attribute(3)) {
                (Some(m), _) => Some(m.next_hop.clone()),
                (None, Some(PathAttribute::NextHop(a))) => Some(NextHop::Ipv4(*a)),
                _ => None,
            };
            let Update {
                attributes,
                mp_reach,
                nlri,
                ..
            } = u;
            let path = Arc::new(PathInfo {
                next_hop,
                attributes,
            });
            let announced = nlri
                .into_iter()
                .chain(mp_reach.into_iter().flat_map(|m| m.nlri));
            for n in announced {
                st.stats.announced += 1;
                st.routes.insert(n, path.clone());
            }
        }
    }
}

/// Calls `f(announced, nlri)` for every L2VPN EVPN NLRI (AFI 25, SAFI 70) of the UPDATE
/// `msg`: announced ones from MP_REACH_NLRI, withdrawn ones from MP_UNREACH_NLRI, found by
/// their length fields alone (RFC 4271 §4.3, RFC 4760 §3–4, RFC 7432 §7: route type, length,
/// value), without ADD-PATH. `None` when a length overruns its container (the NLRI before the
/// overrun have been reported).
pub fn for_each_evpn_nlri<F: FnMut(bool, &[u8])>(msg: &[u8], mut f: F) -> Option<()> {
    let mut walk = |announced: bool, mut b: &[u8]| -> Option<()> {
        while !b.is_empty() {
            let end = 2 + usize::from(*b.get(1)?);
            f(announced, b.get(..end)?);
            b = &b[end..];
        }
        Some(())
    };
    let be16 = |b: &[u8], at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *b.get(at)?,
            *b.get(at + 1)?,
        ])))
    };
    let body = msg.get(19..)?;
    let wlen = be16(body, 0)?;
    let alen = be16(body, 2 + wlen)?;
    let mut attrs = body.get(4 + wlen..4 + wlen + alen)?;
    while !attrs.is_empty() {
        let (flags, code) = (*attrs.first()?, *attrs.get(1)?);
        let (len, hdr) = if flags & 0x10 != 0 {
            (be16(attrs, 2)?, 4)
        } else {
            (usize::from(*attrs.get(2)?), 3)
        };
        let v = attrs.get(hdr..hdr + len)?;
        let evpn = v.get(..3) == Some(&[0, 25, 70][..]);
        match code {
            14 if evpn => {
                let nh_len = usize::from(*v.get(3)?);
                walk(true, v.get(5 + nh_len..)?)?;
            }
            15 if evpn => walk(false, v.get(3..)?)?,
            _ => {}
        }
        attrs = attrs.get(hdr + len..)?;
    }
    Some(())
}

/// The number of EVPN NLRI announced and withdrawn in `msg` (see [`for_each_evpn_nlri`]).
pub fn count_evpn_nlri(msg: &[u8]) -> Option<(u64, u64)> {
    let (mut a, mut w) = (0, 0);
    for_each_evpn_nlri(msg, |announced, _| if announced { a += 1 } else { w += 1 })?;
    Some((a, w))
}

/// A 64-bit digest of an NLRI's wire bytes, the key of `Tracking::Keys` (FastHasher plus a
/// final avalanche so keys differing in a few bits spread over the whole word).
pub fn nlri_key(nlri_bytes: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(nlri_bytes);
    h.write_usize(nlri_bytes.len());
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The set of [`nlri_key`]s a `Tracking::Keys` session holds.
pub type KeySet = std::collections::HashSet<u64, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::routes::{generate, origination, RouteKind};

    fn pair(track_b: Tracking) -> (Session, Session) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let a_cfg = SpeakerConfig::evpn(65000, Ipv4Addr::new(198, 19, 0, 1));
        let mut b_cfg = SpeakerConfig::evpn(65000, Ipv4Addr::new(198, 19, 0, 2));
        b_cfg.tracking = track_b;
        let t = std::thread::spawn(move || Session::accept(&l, &b_cfg).unwrap());
        let a = Session::connect(None, addr, &a_cfg).unwrap();
        (a, t.join().unwrap())
    }

    #[test]
    fn two_raw_speakers_exchange_announce_and_withdraw() {
        let (a, b) = pair(Tracking::Full);
        assert_eq!(a.peer_open().asn(), 65000);
        assert!(!a.ctx().external_peer);
        let vtep = Ipv4Addr::new(198, 19, 0, 1);
        let routes = generate(RouteKind::Mac, 1000, 1, vtep).unwrap();
        let (nh, attrs) = origination(RouteKind::Mac, vtep, 65000, a.ctx());
        a.announce(Family::L2VPN_EVPN, &nh, &attrs, &routes)
            .unwrap();
        b.wait_routes(1000, Duration::from_secs(10)).unwrap();
        let p = b.route(&routes[7]).unwrap();
        assert_eq!(p.next_hop, Some(NextHop::Ipv4(vtep)));
        a.withdraw(Family::L2VPN_EVPN, &routes[..400]).unwrap();
        b.wait_routes(600, Duration::from_secs(10)).unwrap();
        assert!(b.route(&routes[0]).is_none());
        assert_eq!(b.stats().withdrawn, 400);
        a.send_end_of_rib(Family::L2VPN_EVPN).unwrap();
        b.wait_state(Duration::from_secs(5), |s, _| {
            s.end_of_rib.contains(&Family::L2VPN_EVPN)
        })
        .unwrap();
        a.close();
        b.wait_state(Duration::from_secs(5), |s, _| s.notification.is_some())
            .unwrap();
        assert_eq!(b.stats().notification.unwrap().code, 6);
    }

    #[test]
    fn untracked_sessions_only_count_updates() {
        let (a, b) = pair(Tracking::Off);
        let vtep = Ipv4Addr::new(198, 19, 0, 1);
        let routes = generate(RouteKind::Prefix, 500, 1, vtep).unwrap();
        let (nh, attrs) = origination(RouteKind::Prefix, vtep, 65000, a.ctx());
        a.announce(Family::L2VPN_EVPN, &nh, &attrs, &routes)
            .unwrap();
        b.wait_state(Duration::from_secs(10), |s, _| s.updates > 0)
            .unwrap();
        assert_eq!(b.route_count(), 0);
    }

    #[test]
    fn counting_sessions_agree_with_the_decoder() {
        let (a, b) = pair(Tracking::Count);
        let vtep = Ipv4Addr::new(198, 19, 0, 1);
        let mut total = 0;
        for kind in RouteKind::ALL {
            let routes = generate(kind, 700, 4, vtep).unwrap();
            let (nh, attrs) = origination(kind, vtep, 65000, a.ctx());
            a.announce(Family::L2VPN_EVPN, &nh, &attrs, &routes)
                .unwrap();
            total += 700;
            b.wait_routes(total, Duration::from_secs(10)).unwrap();
        }
        let routes = generate(RouteKind::Mac, 300, 4, vtep).unwrap();
        a.withdraw(Family::L2VPN_EVPN, &routes).unwrap();
        b.wait_routes(total - 300, Duration::from_secs(10)).unwrap();
        let st = b.stats();
        assert_eq!((st.announced, st.withdrawn), (2800, 300));
        assert!(b.routes().is_empty(), "no table in count mode");
    }

    #[test]
    fn key_sessions_hold_exactly_the_announced_set() {
        let (a, b) = pair(Tracking::Keys);
        let vtep = Ipv4Addr::new(198, 19, 0, 1);
        let routes = generate(RouteKind::MacIp, 2000, 5, vtep).unwrap();
        let (nh, attrs) = origination(RouteKind::MacIp, vtep, 65000, a.ctx());
        a.announce(Family::L2VPN_EVPN, &nh, &attrs, &routes)
            .unwrap();
        // Announcing the first half again changes nothing: a set, not a counter.
        a.announce(Family::L2VPN_EVPN, &nh, &attrs, &routes[..1000])
            .unwrap();
        a.withdraw(Family::L2VPN_EVPN, &routes[..500]).unwrap();
        b.wait_routes(1500, Duration::from_secs(10)).unwrap();
        b.wait_state(Duration::from_secs(10), |s, _| s.withdrawn == 500)
            .unwrap();
        assert_eq!(b.route_count(), 1500);
        let keys = b.nlri_keys();
        for (i, r) in routes.iter().enumerate() {
            let mut enc = Vec::new();
            r.encode(&mut enc);
            assert_eq!(keys.contains(&nlri_key(&enc)), i >= 500, "route {i}");
        }
    }

    #[test]
    fn count_evpn_nlri_rejects_overruns() {
        let ctx = CodecContext::default();
        let vtep = Ipv4Addr::new(198, 19, 0, 1);
        let routes = generate(RouteKind::Mac, 5, 1, vtep).unwrap();
        let (bytes, n) =
            crate::routes::encode_announcements(&ctx, RouteKind::Mac, &routes, vtep, 65000)
                .unwrap();
        assert_eq!(n, 1);
        assert_eq!(count_evpn_nlri(&bytes), Some((5, 0)));
        // The last route's length byte claims one byte more than its MP_REACH_NLRI holds.
        let mut enc = Vec::new();
        routes[4].encode(&mut enc);
        let at = bytes
            .windows(enc.len())
            .position(|w| w == enc.as_slice())
            .unwrap();
        let mut bad = bytes.clone();
        bad[at + 1] += 1;
        assert_eq!(count_evpn_nlri(&bad), None);
        assert_eq!(count_evpn_nlri(&bytes[..30]), None);
    }

    #[test]
    fn wrong_peer_as_is_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut b_cfg = SpeakerConfig::evpn(65000, Ipv4Addr::new(198, 19, 0, 2));
        b_cfg.peer_as = Some(65001);
        let t = std::thread::spawn(move || Session::accept(&l, &b_cfg));
        let a_cfg = SpeakerConfig::evpn(65000, Ipv4Addr::new(198, 19, 0, 1));
        let a = Session::connect(None, addr, &a_cfg);
        let b = t.join().unwrap();
        assert!(b.unwrap_err().0.contains("peer AS 65000"));
        let e = a.unwrap_err();
        assert!(e.0.contains("2/2"), "{e}");
    }
}
