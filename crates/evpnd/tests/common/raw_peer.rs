//! A minimal BGP speaker for tests: one real TCP connection on loopback, the OPEN/KEEPALIVE
//! handshake (RFC 4271 §8) with the capabilities evpnd needs (multiprotocol L2VPN EVPN,
//! 4-octet AS, route refresh), and then whatever bytes a test wants to send, well-formed or
//! not. Everything evpnd sends is read by a background thread, decoded with `evpnd_wire` and
//! handed to the test as [`Event`]s; the thread also sends a KEEPALIVE every few seconds once
//! the session is up, so a test may take its time between two messages.
//!
//! A `RawPeer` either listens (evpnd is configured with `port = <its port>` and connects to it,
//! retrying after every failure) or connects itself from its own 127.0.0.x address (the source
//! address evpnd recognises the neighbour by). Every wait is bounded by a timeout.

#![allow(dead_code)]

use evpnd_wire::capability::Capability;
use evpnd_wire::{
    decode_message, encode_message, frame_length, CodecContext, Family, Message, Notification,
    Open, Outcome, Route, RouteRefresh, Update,
};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the background thread sends a KEEPALIVE once the session is up. Far below any
/// hold time a test uses (RFC 4271 §4.4: at most a third of the hold time).
const KEEPALIVE_EVERY: Duration = Duration::from_secs(3);

/// How long one blocking read may last before the thread looks at its stop flag and its
/// keepalive timer again.
const READ_SLICE: Duration = Duration::from_millis(20);

/// Something that happened on the connection.
// Messages are the common case; boxing them would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Event {
    /// A whole message, decoded, with its RFC 7606 outcome and its bytes.
    Message {
        /// The message.
        message: Message,
        /// What our decoder says about it (an UPDATE from evpnd should always be `Accept`).
        outcome: Outcome,
        /// The message as received.
        raw: Vec<u8>,
    },
    /// Bytes our decoder refuses (evpnd sent something malformed).
    Undecodable {
        /// The bytes from the start of the bad message to the end of what had been read.
        raw: Vec<u8>,
        /// The decoder's error.
        error: String,
    },
    /// The connection is closed (EOF or an error).
    Closed,
}

/// The last announcement of a route evpnd made to us.
#[derive(Clone, Debug)]
pub struct Announced {
    /// The UPDATE that carried it (its attributes are the route's attributes).
    pub update: Update,
    /// The UPDATE's bytes.
    pub raw: Vec<u8>,
}

/// The live part of a connection.
struct Conn {
    writer: Arc<Mutex<TcpStream>>,
    events: Receiver<Event>,
    stop: Arc<AtomicBool>,
    keepalives: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A test BGP speaker. See the module documentation.
pub struct RawPeer {
    /// Name used in messages.
    pub name: String,
    /// Our AS.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Hold time we propose.
    pub hold_time: u16,
    /// How we encode and decode UPDATEs. Decoding runs as if the peer were internal, so that
    /// an attribute evpnd must not send over eBGP (LOCAL_PREF, ORIGINATOR_ID) would be seen.
    pub ctx: CodecContext,
    listener: Option<TcpListener>,
    conn: Option<Conn>,
    /// Sessions established so far.
    pub sessions: u32,
    /// The OPEN evpnd sent on the current session.
    pub peer_open: Option<Open>,
    /// Routes evpnd currently advertises to us (current session), by route.
    pub routes: HashMap<Route, Announced>,
    /// Every route announcement of the current session, in order.
    pub announced_log: Vec<Route>,
    /// Every route withdrawal of the current session, in order.
    pub withdrawn_log: Vec<Route>,
    /// Every UPDATE of the current session.
    pub updates: Vec<(Update, Outcome)>,
    /// End-of-RIB markers received on the current session.
    pub end_of_rib: Vec<Family>,
    /// KEEPALIVEs received on the current session.
    pub keepalives_received: u32,
    /// The NOTIFICATION evpnd sent on the current session, if any.
    pub notification: Option<Notification>,
    /// Messages our decoder refused (should stay empty).
    pub undecodable: Vec<String>,
    /// The current connection is closed (or there is none).
    pub closed: bool,
    /// Capabilities added to our OPEN (e.g. graceful restart).
    pub extra_capabilities: Vec<Capability>,
}

impl RawPeer {
    fn new(name: &str, asn: u32, router_id: Ipv4Addr, listener: Option<TcpListener>) -> Self {
        RawPeer {
            name: name.into(),
            asn,
            router_id,
            hold_time: 30,
            ctx: CodecContext {
                four_octet_as: true,
                extended_message: false,
                add_path: Vec::new(),
                external_peer: false,
            },
            listener,
            conn: None,
            sessions: 0,
            peer_open: None,
            routes: HashMap::new(),
            announced_log: Vec::new(),
            withdrawn_log: Vec::new(),
            updates: Vec::new(),
            end_of_rib: Vec::new(),
            keepalives_received: 0,
            notification: None,
            undecodable: Vec::new(),
            closed: true,
            extra_capabilities: Vec::new(),
        }
    }

    /// A peer listening on `ip` (a free port); configure evpnd with `address = ip` and
    /// `port = peer.port()`, then call [`RawPeer::accept_session`].
    pub fn listen(name: &str, ip: Ipv4Addr, asn: u32, router_id: Ipv4Addr) -> Self {
        let l = TcpListener::bind((ip, 0)).unwrap();
        l.set_nonblocking(true).unwrap();
        RawPeer::new(name, asn, router_id, Some(l))
    }

    /// A peer that connects itself (see [`RawPeer::connect_session`]).
    pub fn active(name: &str, asn: u32, router_id: Ipv4Addr) -> Self {
        RawPeer::new(name, asn, router_id, None)
    }

    /// The address we listen on.
    pub fn addr(&self) -> SocketAddr {
        self.listener.as_ref().unwrap().local_addr().unwrap()
    }

    /// The port we listen on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Waits up to `timeout` for evpnd's connection, then runs the handshake.
    pub fn accept_session(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        self.conn = None;
        let listener = self.listener.as_ref().ok_or("not listening")?;
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "{}: evpnd did not connect within {timeout:?}",
                            self.name
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(format!("{}: accept: {e}", self.name)),
            }
        };
        self.start(stream, deadline)
    }

    /// Connects from `local` (the neighbour address evpnd knows us by) to `remote`, then runs
    /// the handshake.
    pub fn connect_session(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
        timeout: Duration,
    ) -> Result<(), String> {
        use socket2::{Domain, Protocol, Socket, Type};
        let deadline = Instant::now() + timeout;
        self.conn = None;
        let domain = if remote.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let s =
            Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(|e| e.to_string())?;
        s.bind(&SocketAddr::new(local, 0).into())
            .map_err(|e| format!("bind {local}: {e}"))?;
        s.connect_timeout(&remote.into(), timeout)
            .map_err(|e| format!("connect {remote}: {e}"))?;
        self.start(s.into(), deadline)
    }

    fn start(&mut self, stream: TcpStream, deadline: Instant) -> Result<(), String> {
        stream.set_nonblocking(false).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(READ_SLICE))
            .map_err(|e| e.to_string())?;
        let reader = stream.try_clone().map_err(|e| e.to_string())?;
        let writer = Arc::new(Mutex::new(stream));
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let keepalives = Arc::new(AtomicBool::new(false));
        let thread = {
            let (writer, stop, keepalives, ctx) = (
                writer.clone(),
                stop.clone(),
                keepalives.clone(),
                self.ctx.clone(),
            );
            std::thread::spawn(move || read_loop(reader, writer, tx, stop, keepalives, ctx))
        };
        self.conn = Some(Conn {
            writer,
            events: rx,
            stop,
            keepalives,
            thread: Some(thread),
        });
        self.routes.clear();
        self.announced_log.clear();
        self.withdrawn_log.clear();
        self.updates.clear();
        self.end_of_rib.clear();
        self.keepalives_received = 0;
        self.notification = None;
        self.peer_open = None;
        self.closed = false;

        // Both sides send OPEN at once (RFC 4271 §8.2.2, Connect → OpenSent).
        let mut caps = vec![
            Capability::Multiprotocol(Family::L2VPN_EVPN),
            Capability::RouteRefresh,
            Capability::FourOctetAs(self.asn),
        ];
        caps.extend(self.extra_capabilities.iter().cloned());
        let open = Open::new(self.asn, self.hold_time, self.router_id, caps);
        self.send(&Message::Open(open))
            .map_err(|e| format!("{}: sending OPEN: {e}", self.name))?;
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait(left, |p| p.peer_open.is_some() || p.closed)?;
        if self.peer_open.is_none() {
            return Err(format!(
                "{}: no OPEN from evpnd (notification: {:?})",
                self.name, self.notification
            ));
        }
        self.send(&Message::Keepalive)
            .map_err(|e| format!("{}: sending KEEPALIVE: {e}", self.name))?;
        if let Some(c) = &self.conn {
            c.keepalives.store(true, Ordering::Relaxed);
        }
        // OpenConfirm → Established on evpnd's KEEPALIVE.
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait(left, |p| p.keepalives_received > 0)
            .map_err(|e| format!("{e} (waiting for the first KEEPALIVE)"))?;
        self.sessions += 1;
        Ok(())
    }

    /// Sends bytes as they are.
    pub fn send_raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        let c = self
            .conn
            .as_ref()
            .ok_or_else(|| std::io::Error::new(ErrorKind::NotConnected, "no connection"))?;
        let mut w = c
            .writer
            .lock()
            .map_err(|_| std::io::Error::other("writer lock poisoned"))?;
        w.write_all(bytes)
    }

    /// Encodes `msg` for this session and sends it.
    pub fn send(&self, msg: &Message) -> std::io::Result<()> {
        let mut out = Vec::new();
        encode_message(&self.ctx, msg, &mut out)
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        self.send_raw(&out)
    }

    /// Sends a ROUTE-REFRESH (RFC 2918) for `family`.
    pub fn route_refresh(&self, family: Family) -> std::io::Result<()> {
        self.send(&Message::RouteRefresh(RouteRefresh { family, subtype: 0 }))
    }

    /// Sends a NOTIFICATION and closes the connection (RFC 4271 §6: the sender closes). Our
    /// side is half-closed first and evpnd's close awaited (at most 2 s), so that the
    /// NOTIFICATION is not lost to a reset.
    pub fn close_with(&mut self, n: Notification) {
        let _ = self.send(&Message::Notification(n));
        if let Some(c) = &self.conn {
            if let Ok(w) = c.writer.lock() {
                let _ = w.shutdown(Shutdown::Write);
            }
        }
        let _ = self.wait(Duration::from_secs(2), |p| p.closed);
        self.close();
    }

    /// Closes the connection without a word.
    pub fn close(&mut self) {
        self.conn = None;
        self.closed = true;
    }

    /// Receives events for up to `timeout`, applying each to this peer's state, until `stop`
    /// returns true for one of them. Returns the events received (the last one is the match);
    /// an error names the timeout.
    pub fn recv_until(
        &mut self,
        timeout: Duration,
        mut stop: impl FnMut(&Event) -> bool,
    ) -> Result<Vec<Event>, String> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let Some(c) = &self.conn else {
                return Err(format!("{}: no connection", self.name));
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match c.events.recv_timeout(left) {
                Ok(e) => {
                    self.apply(&e);
                    let done = stop(&e);
                    got.push(e);
                    if done {
                        return Ok(got);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{}: nothing matched within {timeout:?} ({} events)",
                        self.name,
                        got.len()
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    return Err(format!("{}: connection thread ended", self.name));
                }
            }
        }
    }

    /// Applies every event already received, without waiting.
    pub fn drain(&mut self) {
        loop {
            let Some(c) = &self.conn else { return };
            match c.events.try_recv() {
                Ok(e) => self.apply(&e),
                Err(_) => return,
            }
        }
    }

    /// Waits up to `timeout` until `cond` holds for this peer's state.
    pub fn wait(
        &mut self,
        timeout: Duration,
        mut cond: impl FnMut(&RawPeer) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        self.drain();
        loop {
            if cond(self) {
                return Ok(());
            }
            if self.closed {
                return Err(format!(
                    "{}: connection closed before the condition held (notification: {:?})",
                    self.name, self.notification
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{}: condition not met within {timeout:?}",
                    self.name
                ));
            }
            // One event (or the timeout), then check again.
            let _ = self.recv_until(left, |_| true);
        }
    }

    /// True when evpnd currently advertises `route` to us.
    pub fn has(&self, route: &Route) -> bool {
        self.routes.contains_key(route)
    }

    /// How many times `route` was withdrawn on this session.
    pub fn withdrawals_of(&self, route: &Route) -> usize {
        self.withdrawn_log.iter().filter(|r| *r == route).count()
    }

    /// How many times `route` was announced on this session.
    pub fn announcements_of(&self, route: &Route) -> usize {
        self.announced_log.iter().filter(|r| *r == route).count()
    }

    fn apply(&mut self, e: &Event) {
        match e {
            Event::Message {
                message,
                outcome,
                raw,
            } => match message {
                Message::Open(o) => self.peer_open = Some(o.clone()),
                Message::Notification(n) => self.notification = Some(n.clone()),
                Message::Update(u) => {
                    self.updates.push((u.clone(), outcome.clone()));
                    if let Some(f) = u.as_end_of_rib() {
                        self.end_of_rib.push(f);
                        return;
                    }
                    for (_, n) in u.withdrawals() {
                        self.routes.remove(&n.route);
                        self.withdrawn_log.push(n.route);
                    }
                    for (_, n) in u.announced() {
                        self.routes.insert(
                            n.route,
                            Announced {
                                update: u.clone(),
                                raw: raw.clone(),
                            },
                        );
                        self.announced_log.push(n.route);
                    }
                }
                Message::Keepalive => self.keepalives_received += 1,
                Message::RouteRefresh(_) => {}
            },
            Event::Undecodable { error, .. } => self.undecodable.push(error.clone()),
            Event::Closed => {
                self.closed = true;
                if let Some(c) = &self.conn {
                    c.keepalives.store(false, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The connection thread: reads and decodes, and sends KEEPALIVEs once allowed.
fn read_loop(
    mut stream: TcpStream,
    writer: Arc<Mutex<TcpStream>>,
    tx: Sender<Event>,
    stop: Arc<AtomicBool>,
    keepalives: Arc<AtomicBool>,
    ctx: CodecContext,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 65536];
    let mut next_keepalive = Instant::now() + KEEPALIVE_EVERY;
    let keepalive_bytes = {
        let mut b = Vec::new();
        let _ = encode_message(&ctx, &Message::Keepalive, &mut b);
        b
    };
    while !stop.load(Ordering::Relaxed) {
        if keepalives.load(Ordering::Relaxed) && Instant::now() >= next_keepalive {
            next_keepalive = Instant::now() + KEEPALIVE_EVERY;
            if let Ok(mut w) = writer.lock() {
                let _ = w.write_all(&keepalive_bytes);
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                let _ = tx.send(Event::Closed);
                return;
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    match frame_length(&ctx, &buf) {
                        Ok(Some(len)) if buf.len() >= len => {
                            let raw: Vec<u8> = buf.drain(..len).collect();
                            let ev = match decode_message(&ctx, &raw) {
                                Ok(d) => Event::Message {
                                    message: d.message,
                                    outcome: d.outcome,
                                    raw,
                                },
                                Err(e) => Event::Undecodable {
                                    raw,
                                    error: e.to_string(),
                                },
                            };
                            if tx.send(ev).is_err() {
                                return;
                            }
                        }
                        Ok(_) => break,
                        Err(e) => {
                            let raw = std::mem::take(&mut buf);
                            let _ = tx.send(Event::Undecodable {
                                raw,
                                error: e.to_string(),
                            });
                            break;
                        }
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = tx.send(Event::Closed);
                return;
            }
        }
    }
}
