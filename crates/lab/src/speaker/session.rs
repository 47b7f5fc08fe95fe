//! [`Session`]: the fast raw speaker of the benchmark and the lab tests. After the shared
//! handshake, its reader keeps what [`Tracking`] asks for and its writer sends pre-encoded
//! UPDATEs in chunks of whole messages, with the keepalive thread's KEEPALIVEs in between.

use super::handshake::{accept_timeout, connect, encode, handshake};
use super::io::{keepalives, Reader, Shared, Sink};
use super::raw_peer::Event;
use super::tracking::{KeySet, PathInfo, RouteTable, SessionStats};
use super::{SpeakerConfig, Tracking};
use crate::error::{Context, LabError, Result};
use evpnd_wire::{
    frame_length, CodecContext, Family, Message, NextHop, Nlri, Notification, Open, PathAttribute,
    Update, UpdatePacker,
};
use std::io::Write;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// The size up to which [`message_chunks`] gathers whole messages into one write.
const SEND_CHUNK: usize = 64 * 1024;

/// Cuts pre-encoded messages (framed with `ctx`, RFC 4271 §4.1) into chunks of whole
/// messages of about [`SEND_CHUNK`] bytes, for [`Session::send_chunks`]; an error names the
/// offset where `bytes` stop being whole messages.
pub fn message_chunks<'a>(ctx: &CodecContext, bytes: &'a [u8]) -> Result<Vec<&'a [u8]>> {
    let mut chunks = Vec::with_capacity(bytes.len() / SEND_CHUNK + 1);
    let mut pos = 0;
    while pos < bytes.len() {
        let mut end = pos;
        while end < bytes.len() && end - pos < SEND_CHUNK {
            match frame_length(ctx, &bytes[end..]) {
                Ok(Some(n)) if n <= bytes.len() - end => end += n,
                _ => return Err(LabError::new(format!("not whole messages at offset {end}"))),
            }
        }
        chunks.push(&bytes[pos..end]);
        pos = end;
    }
    Ok(chunks)
}

impl Session {
    /// Runs the OPEN/KEEPALIVE exchange on a connected stream and starts the reader and
    /// keepalive threads. Either side may have opened the connection.
    pub fn establish(stream: TcpStream, cfg: &SpeakerConfig) -> Result<Session> {
        Session::start(stream, cfg, Sink::Track(cfg.tracking))
    }

    /// Like [`Session::establish`], but every message received after the handshake goes to
    /// the returned channel as an [`Event`], decoded with `decode_ctx` ([`RawPeer`]'s mode:
    /// `cfg.tracking` is not used).
    ///
    /// [`RawPeer`]: super::RawPeer
    pub(super) fn establish_reporting(
        stream: TcpStream,
        cfg: &SpeakerConfig,
        decode_ctx: CodecContext,
    ) -> Result<(Session, Receiver<Event>)> {
        let (events, rx) = mpsc::channel();
        let sink = Sink::Report {
            ctx: decode_ctx,
            events,
        };
        Ok((Session::start(stream, cfg, sink)?, rx))
    }

    fn start(mut stream: TcpStream, cfg: &SpeakerConfig, sink: Sink) -> Result<Session> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        let est = handshake(&mut stream, cfg)?;
        let (hold_time, ctx) = (est.hold_time, est.ctx);
        let shared = Arc::new(Shared::default());
        shared.lock().tracking = Some(match sink {
            Sink::Track(t) => t,
            Sink::Report { .. } => Tracking::Off,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let writer = Arc::new(Mutex::new(stream.try_clone()?));
        let reader = Reader {
            stream,
            leftover: est.leftover,
            ctx: ctx.clone(),
            sink,
            hold_time,
            shared: shared.clone(),
            stop: stop.clone(),
            writer: writer.clone(),
        };
        let mut threads = vec![std::thread::Builder::new()
            .name(format!("bgp-rx-{peer}"))
            .spawn(move || reader.run())?];
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
            peer_open: est.peer_open,
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
        local: Option<IpAddr>,
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
        self.send_chunks(&message_chunks(&self.ctx, bytes)?)
    }

    /// Sends chunks of whole messages cut by [`message_chunks`], one write each, with the
    /// keepalive thread's KEEPALIVEs in between. A benchmark cuts its load once, before it
    /// starts the clock, however many sessions it sends it to.
    pub fn send_chunks(&self, chunks: &[&[u8]]) -> Result<()> {
        for c in chunks {
            let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            w.write_all(c)
                .context(format!("sending to {}", self.peer))?;
        }
        Ok(())
    }

    /// Sends `bytes` exactly as given, whole messages or not: for tests that send malformed
    /// input on purpose.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(bytes)
            .context(format!("sending to {}", self.peer))
    }

    /// Closes our sending direction (TCP FIN) and keeps reading: the peer reads everything
    /// sent so far (a NOTIFICATION, say) before it closes in turn (RFC 4271 §6).
    pub fn half_close(&self) {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let _ = w.shutdown(Shutdown::Write);
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
            st = self.shared.wait(st, deadline - now);
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
                .wait(st, (deadline - now).min(Duration::from_millis(200)));
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
        // The keepalive thread sleeps until its next KEEPALIVE: wake it to see the flag.
        for t in &self.threads {
            t.thread().unpark();
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::routes::{generate, origination, RouteKind};
    use crate::speaker::nlri_key;
    use std::net::Ipv4Addr;

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
        assert_eq!((st.announced, st.withdrawn), (total as u64, 300));
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
