//! [`RawPeer`]: the BGP peer of conformance tests. One real TCP connection, the handshake
//! and keepalives of [`Session`] (RFC 4271 §8, capabilities of [`SpeakerConfig::evpn`] plus
//! any a test adds), and then whatever bytes a test wants to send, well-formed or not.
//! Everything the device under test (DUT) sends is decoded with `evpnd_wire` and handed to the
//! test as [`Event`]s, which the peer also folds into the log a test asserts on (routes held,
//! every announcement and withdrawal, End-of-RIB markers, the NOTIFICATION). Nothing the DUT
//! sends makes it end the session: a message our decoder refuses is reported, not answered.
//!
//! A `RawPeer` either listens (the DUT is configured with `port = <its port>` and connects to
//! it, retrying after every failure) or connects itself from its own address (the source
//! address the DUT recognises the neighbour by). Every wait is bounded by a timeout.

use super::handshake::{accept_timeout, connect, encode};
use super::session::Session;
use super::SpeakerConfig;
use crate::error::{Context, LabError, Result};
use evpnd_wire::{
    Capability, CodecContext, Family, Message, Notification, Open, Outcome, Route, RouteRefresh,
    Update,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Something that happened on the connection after the handshake.
// Messages are the common case; boxing them would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Event {
    /// A whole message, decoded, with its RFC 7606 outcome and its bytes.
    Message {
        /// The message.
        message: Message,
        /// What our decoder says about it (an UPDATE from a correct DUT is always `Accept`).
        outcome: Outcome,
        /// The message as received.
        raw: Vec<u8>,
    },
    /// Bytes our decoder refuses (the DUT sent something malformed).
    Undecodable {
        /// The bad message, or everything from a broken header to the end of what had been
        /// read (the framing is lost).
        raw: Vec<u8>,
        /// The decoder's error.
        error: String,
    },
    /// The connection is closed (EOF, an error, or the hold timer).
    Closed,
}

/// The last announcement of a route the DUT made to us.
#[derive(Clone, Debug)]
pub struct Announced {
    /// The UPDATE that carried it (its attributes are the route's attributes).
    pub update: Update,
    /// The UPDATE's bytes.
    pub raw: Vec<u8>,
}

/// The live part of a connection: the session (dropping it closes the connection and joins
/// its threads) and the events its reader sends.
struct Conn {
    session: Session,
    events: Receiver<Event>,
}

/// A conformance test's BGP peer. See the module documentation.
pub struct RawPeer {
    /// Name used in messages.
    pub name: String,
    /// Our AS.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Hold time we propose.
    pub hold_time: u16,
    /// How we encode what [`RawPeer::send`] sends and decode what the DUT sends after the
    /// handshake. Decoding runs as if the peer were internal, so that an attribute the DUT
    /// must not send over eBGP (LOCAL_PREF, ORIGINATOR_ID) would be seen.
    pub ctx: CodecContext,
    listener: Option<TcpListener>,
    conn: Option<Conn>,
    /// Sessions established so far.
    pub sessions: u32,
    /// The OPEN the DUT sent on the current session.
    pub peer_open: Option<Open>,
    /// Routes the DUT currently advertises to us (current session), by route.
    pub routes: HashMap<Route, Announced>,
    /// Every route announcement of the current session, in order.
    pub announced_log: Vec<Route>,
    /// Every route withdrawal of the current session, in order.
    pub withdrawn_log: Vec<Route>,
    /// Every UPDATE of the current session.
    pub updates: Vec<(Update, Outcome)>,
    /// End-of-RIB markers received on the current session.
    pub end_of_rib: Vec<Family>,
    /// KEEPALIVEs received on the current session (the handshake's included).
    pub keepalives_received: u32,
    /// The NOTIFICATION the DUT sent on the current session, if any.
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

    /// A peer listening on `ip` (a free port); configure the DUT with `address = ip` and
    /// `port = peer.port()`, then call [`RawPeer::accept_session`].
    pub fn listen(
        name: &str,
        ip: impl Into<IpAddr>,
        asn: u32,
        router_id: Ipv4Addr,
    ) -> Result<Self> {
        let ip = ip.into();
        let l = TcpListener::bind((ip, 0)).context(format!("{name}: listening on {ip}"))?;
        Ok(RawPeer::new(name, asn, router_id, Some(l)))
    }

    /// A peer that connects itself (see [`RawPeer::connect_session`]).
    pub fn active(name: &str, asn: u32, router_id: Ipv4Addr) -> Self {
        RawPeer::new(name, asn, router_id, None)
    }

    /// The address we listen on (`None` for an active peer).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The port we listen on (0 for an active peer, which has none).
    pub fn port(&self) -> u16 {
        self.addr().map_or(0, |a| a.port())
    }

    /// Waits up to `timeout` for the DUT's connection, then runs the handshake.
    pub fn accept_session(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        self.conn = None;
        let listener = self
            .listener
            .as_ref()
            .ok_or_else(|| LabError::new(format!("{}: not listening", self.name)))?;
        let stream = accept_timeout(listener, timeout)
            .context(format!("{}: the DUT did not connect", self.name))?;
        self.start(stream, deadline)
    }

    /// Connects from `local` (the neighbour address the DUT knows us by) to `remote`, then
    /// runs the handshake.
    pub fn connect_session(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        self.conn = None;
        let stream = connect(Some(local), remote, timeout).context(&self.name)?;
        self.start(stream, deadline)
    }

    /// Forgets the previous session, runs the handshake with [`SpeakerConfig::evpn`]'s
    /// capabilities plus ours, and starts reporting.
    fn start(&mut self, stream: TcpStream, deadline: Instant) -> Result<()> {
        self.routes.clear();
        self.announced_log.clear();
        self.withdrawn_log.clear();
        self.updates.clear();
        self.end_of_rib.clear();
        self.keepalives_received = 0;
        self.notification = None;
        self.peer_open = None;
        self.closed = true;

        let mut cfg = SpeakerConfig::evpn(self.asn, self.router_id);
        cfg.hold_time = self.hold_time;
        cfg.capabilities
            .extend(self.extra_capabilities.iter().cloned());
        cfg.handshake_timeout = deadline.saturating_duration_since(Instant::now());
        let (session, events) =
            Session::establish_reporting(stream, &cfg, self.ctx.clone()).context(&self.name)?;
        self.peer_open = Some(session.peer_open().clone());
        // The handshake ends with the DUT's KEEPALIVE (OpenConfirm → Established).
        self.keepalives_received = 1;
        self.closed = false;
        self.sessions += 1;
        self.conn = Some(Conn { session, events });
        Ok(())
    }

    fn session(&self) -> Result<&Session> {
        self.conn
            .as_ref()
            .map(|c| &c.session)
            .ok_or_else(|| LabError::new(format!("{}: no connection", self.name)))
    }

    /// Sends bytes as they are.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<()> {
        self.session()?.send_raw(bytes)
    }

    /// Encodes `msg` with [`RawPeer::ctx`] and sends it.
    pub fn send(&self, msg: &Message) -> Result<()> {
        self.send_raw(&encode(&self.ctx, msg)?)
    }

    /// Sends a ROUTE-REFRESH (RFC 2918) for `family`.
    pub fn route_refresh(&self, family: Family) -> Result<()> {
        self.send(&Message::RouteRefresh(RouteRefresh { family, subtype: 0 }))
    }

    /// Sends a NOTIFICATION and closes the connection (RFC 4271 §6: the sender closes). Our
    /// side is half-closed first and the DUT's close awaited (at most 2 s), so that the
    /// NOTIFICATION is not lost to a reset.
    pub fn close_with(&mut self, n: Notification) {
        let _ = self.send(&Message::Notification(n));
        if let Ok(s) = self.session() {
            s.half_close();
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
    ) -> Result<Vec<Event>> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let Some(c) = &self.conn else {
                return Err(LabError::new(format!("{}: no connection", self.name)));
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
                    return Err(LabError::new(format!(
                        "{}: nothing matched within {timeout:?} ({} events)",
                        self.name,
                        got.len()
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    return Err(LabError::new(format!(
                        "{}: connection thread ended",
                        self.name
                    )));
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
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        self.drain();
        loop {
            if cond(self) {
                return Ok(());
            }
            if self.closed {
                return Err(LabError::new(format!(
                    "{}: connection closed before the condition held (notification: {:?})",
                    self.name, self.notification
                )));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LabError::new(format!(
                    "{}: condition not met within {timeout:?}",
                    self.name
                )));
            }
            // One event (or the timeout), then check again.
            let _ = self.recv_until(left, |_| true);
        }
    }

    /// True when the DUT currently advertises `route` to us.
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
            Event::Closed => self.closed = true,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::routes::{generate, origination, RouteKind};
    use evpnd_wire::capability::GracefulRestart;

    const T: Duration = Duration::from_secs(10);

    /// A listening raw peer with one extra capability, and a [`Session`] standing in for the
    /// device under test that connects to it.
    fn peer_and_dut() -> (RawPeer, Session) {
        let mut peer = RawPeer::listen(
            "peer",
            Ipv4Addr::LOCALHOST,
            65002,
            Ipv4Addr::new(198, 19, 0, 2),
        )
        .unwrap();
        peer.extra_capabilities
            .push(Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                notification: false,
                restart_time: 120,
                families: Vec::new(),
            }));
        let addr = peer.addr().unwrap();
        let dut = std::thread::spawn(move || {
            let cfg = SpeakerConfig::evpn(65001, Ipv4Addr::new(198, 19, 0, 1));
            Session::connect(None, addr, &cfg).unwrap()
        });
        peer.accept_session(T).unwrap();
        (peer, dut.join().unwrap())
    }

    #[test]
    fn the_route_log_follows_announcements_withdrawals_and_end_of_rib() {
        let (mut peer, dut) = peer_and_dut();
        assert_eq!(peer.sessions, 1);
        assert_eq!(peer.peer_open.as_ref().unwrap().asn(), 65001);
        let ours = dut.peer_open();
        assert_eq!(ours.asn(), 65002);
        assert_eq!(ours.hold_time, 30);
        assert!(
            ours.has_capability(64),
            "graceful restart missing: {ours:?}"
        );
        assert!(ours.families().any(|f| f == Family::L2VPN_EVPN));

        let vtep = Ipv4Addr::new(198, 19, 0, 1);
        let routes = generate(RouteKind::Mac, 3, 1, vtep).unwrap();
        let (nh, attrs) = origination(RouteKind::Mac, vtep, 65001, dut.ctx());
        dut.announce(Family::L2VPN_EVPN, &nh, &attrs, &routes)
            .unwrap();
        peer.wait(T, |p| p.routes.len() == 3).unwrap();
        dut.withdraw(Family::L2VPN_EVPN, &routes[..1]).unwrap();
        dut.send_end_of_rib(Family::L2VPN_EVPN).unwrap();
        peer.wait(T, |p| p.end_of_rib.contains(&Family::L2VPN_EVPN))
            .unwrap();
        assert!(!peer.has(&routes[0].route));
        assert!(peer.has(&routes[1].route));
        assert_eq!(peer.withdrawals_of(&routes[0].route), 1);
        assert_eq!(peer.announcements_of(&routes[0].route), 1);
        assert!(peer.updates.iter().all(|(_, o)| *o == Outcome::Accept));
        assert!(peer.undecodable.is_empty());
    }

    #[test]
    fn malformed_input_is_reported_and_malformed_output_is_sent_as_is() {
        let (mut peer, dut) = peer_and_dut();
        // A KEEPALIVE with a broken marker: reported, and the session stays up.
        let mut bad = vec![0u8; 16];
        bad.extend_from_slice(&[0, 19, 4]);
        dut.send_raw(&bad).unwrap();
        let got = peer
            .recv_until(T, |e| matches!(e, Event::Undecodable { .. }))
            .unwrap();
        assert!(matches!(got.last(), Some(Event::Undecodable { raw, .. }) if *raw == bad));
        assert!(!peer.closed);
        let before = peer.keepalives_received;
        dut.send(&Message::Keepalive).unwrap();
        peer.wait(T, |p| p.keepalives_received > before).unwrap();

        // A header whose length field is below the minimum goes out unchanged, and the DUT
        // answers as RFC 4271 §6.1 says: Message Header Error / Bad Message Length.
        peer.send_raw(&[[0xff; 16].as_slice(), &[0, 18, 4]].concat())
            .unwrap();
        peer.wait(T, |p| p.closed).unwrap();
        let n = peer.notification.clone().unwrap();
        assert_eq!((n.code, n.subcode, n.data), (1, 2, vec![0, 18]));
    }

    #[test]
    fn close_with_delivers_the_notification() {
        let (mut peer, dut) = peer_and_dut();
        peer.close_with(Notification {
            code: 6,
            subcode: 4,
            data: Vec::new(),
        });
        assert!(peer.closed);
        dut.wait_state(T, |s, _| s.notification.is_some()).unwrap();
        assert_eq!(dut.stats().notification.unwrap().subcode, 4);
        assert!(peer.send(&Message::Keepalive).is_err());
    }
}
