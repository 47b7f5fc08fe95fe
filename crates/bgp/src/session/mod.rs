//! One BGP session's finite state machine (RFC 4271 §8), sans-I/O.
//!
//! A [`Session`] owns everything about one configured neighbour that is not a route: the
//! connections to it, the OPEN exchange and capability negotiation, the timers and the error
//! handling. It never touches a socket or a clock. The driver (the `evpnd` daemon, or a test)
//!
//! * feeds it events with [`Session::handle`] ([`Input`]: start/stop, a TCP connection came up
//!   or went down, bytes were read, queued bytes were written),
//! * calls [`Session::handle_timeout`] once the time given by [`Session::poll_timeout`] has
//!   come,
//! * and drains [`Session::poll_output`] after every call: bytes to write, connections to open
//!   or close, and what happened to the session ([`Output`]: established, UPDATE received, down).
//!
//! The shape is that of quinn-proto (inputs in, outputs and a timer deadline polled out), the
//! event list that of RFC 4271 §8.1 folded into a few inputs.
//!
//! ## Connections and collisions
//!
//! RFC 4271 §8 describes one FSM per TCP connection; two may exist for one peer while a
//! connection collision (§6.8) is unresolved. A `Session` keeps up to two live connections —
//! at most one we opened (`outgoing`) and one the peer opened — each with its own
//! OpenSent/OpenConfirm/Established state, and resolves the collision as soon as the second
//! OPEN arrives: the connection opened by the speaker with the higher BGP identifier survives
//! (RFC 4271 §6.8; on equal identifiers the one opened by the speaker with the larger AS,
//! RFC 6286 §2.3), the other gets Cease/Connection Collision Resolution (6/7). A connection in
//! Established always wins over a new one, except that a new connection from a peer that
//! advertised graceful restart is taken as proof that the peer restarted: the old one is
//! closed and the new one kept (RFC 4724 §4.2). [`Session::state`] reports the most advanced
//! connection, or Idle/Connect/Active when there is none.
//!
//! ## Choices where the RFCs leave room
//!
//! * **Restart after errors**: every failure (error, hold timer, connection lost) ends in Idle,
//!   and the session starts again by itself after the connect-retry interval, which doubles on
//!   every failure from `connect_retry` up to `connect_retry_max` and is reset when the session
//!   reaches Established (the "IdleHoldTime" damping of RFC 4271 §8.1.1 as FRR does it). Only
//!   our own outgoing attempts wait: an incoming connection is accepted whenever the session is
//!   started, so a passive session never makes a restarted peer wait (FRR and BIRD behave the
//!   same). After [`Input::Stop`] incoming connections are refused with Cease/Connection
//!   Rejected (6/5, RFC 4486 §4) until [`Input::Start`] or the `restart_after` delay.
//! * **No family in common**: when the intersection of the multiprotocol capabilities is empty
//!   the OPEN is refused with OPEN Message Error/Unsupported Capability (2/7) carrying our
//!   multiprotocol capabilities (RFC 5492 §5), as FRR does ("Configured AFI/SAFIs do not
//!   overlap with received MP capabilities"): such a session could carry nothing.
//! * **Hold timer**: restarted by every message received in Established (KEEPALIVE, UPDATE and
//!   ROUTE-REFRESH), not only KEEPALIVE and UPDATE.
//! * **Send hold timer** (RFC 9687): runs in Established while bytes we handed to the driver
//!   are not yet written; [`Input::WriteProgress`] restarts it and [`Input::Drained`] stops
//!   it. Its expiry sends "Send Hold Timer Expired" (8/0) best effort and aborts the connection
//!   ([`Output::Abort`]) without waiting for the queue to drain (RFC 9687 §4.3).
//! * **Graceful restart**: the N bit (RFC 8538) is not implemented, so any NOTIFICATION sent or
//!   received ends the session without graceful restart; a bare TCP close from a peer that
//!   advertised GR for at least one family is graceful ([`DownReason::graceful_restart`]).
//! * **BGP Roles** (RFC 9234 §4): the BGP Role capability is announced on eBGP sessions with a
//!   configured role ([`PeerConfig::local_role`]); a role configured on an iBGP session is
//!   ignored, since roles are relations between ASes. With a role in effect and without strict
//!   mode, a peer that announces no role is accepted (§4.2 leaves this to the operator).
//!   Conflicting BGP Role capabilities from the peer are Role Mismatch even without a role of
//!   ours.
//! * **ADD-PATH** (RFC 7911) is announced for receiving only, in the families of
//!   [`PeerConfig::add_path_receive`]; we never send several paths. [`Negotiated`] computes
//!   the per-direction families from both OPENs, and the receive context of the connection
//!   then expects path identifiers in those families.
//!
//! ## Files
//!
//! This file holds the public types and the driver-facing methods. The rest of the FSM is
//! split by RFC concept: `connection.rs` (start, stop, accepting and opening connections,
//! ending them: RFC 4271 §8.2.2), `receive.rs` (framing and per-state message handling, RFC
//! 4271 §4.1, RFC 6608), `negotiate.rs` (our OPEN, the peer's OPEN and capability
//! negotiation: RFC 4271 §4.2/§6.2, RFC 5492, BGP Roles RFC 9234 §4), `collision.rs`
//! (connection collisions: RFC 4271 §6.8, RFC 6286 §2.3, RFC 4724 §4.2) and `timers.rs`
//! (hold, keepalive, send hold RFC 9687, connect-retry with backoff).

mod collision;
mod connection;
mod framer;
mod negotiate;
mod receive;
#[cfg(test)]
mod tests;
mod timers;

pub use framer::{DecodedFrame, Framed, Framer};
use timers::send_hold_time;

use crate::config::PeerConfig;
use evpnd_wire::capability::{BgpRole, GracefulRestart};
use evpnd_wire::error::code;
use evpnd_wire::message::{refresh_subtype, HEADER_LEN};
use evpnd_wire::{
    encode_message, CodecContext, Family, Message, Notification, Open, Outcome, RouteRefresh,
    Update,
};
use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Hold timer of a connection in OpenSent, before the hold time is negotiated: "a large
/// value", 4 minutes suggested (RFC 4271 §8.2.2).
pub const OPEN_SENT_HOLD_TIME: Duration = Duration::from_secs(240);

/// Lower bound of the default send hold time: the default is the greater of 8 minutes and twice
/// the negotiated hold time (RFC 9687 §6).
pub const MIN_DEFAULT_SEND_HOLD_TIME: Duration = Duration::from_secs(480);

/// NOTIFICATION error code "Send Hold Timer Expired" (RFC 9687 §5).
pub const SEND_HOLD_TIMER_EXPIRED: u8 = evpnd_wire::error::code::SEND_HOLD_TIMER_EXPIRED;

/// Cease NOTIFICATION subcodes (RFC 4486 §4, RFC 8538 §3).
pub mod cease {
    /// Maximum Number of Prefixes Reached; data: AFI (2), SAFI (1), limit (4).
    pub const MAX_PREFIXES: u8 = 1;
    /// Administrative Shutdown (the default of [`super::Input::Stop`]).
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Administrative Reset.
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// Connection Rejected: a connection we do not accept now.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    /// Connection Collision Resolution (RFC 4271 §6.8).
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Hard Reset (RFC 8538 §3).
    pub const HARD_RESET: u8 = 9;
}

/// Finite State Machine Error subcodes (RFC 6608 §3); the data is the type of the unexpected
/// message (one octet).
pub mod fsm_subcode {
    /// Unspecified error.
    pub const UNSPECIFIED: u8 = 0;
    /// Receive Unexpected Message in OpenSent State.
    pub const OPEN_SENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const OPEN_CONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const ESTABLISHED: u8 = 3;
}

/// The Cease NOTIFICATION for an exceeded prefix limit: subcode 1 with AFI, SAFI and the limit
/// as data (RFC 4486 §4). Pass it to [`Input::Stop`]. The one builder of this NOTIFICATION;
/// [`crate::rib::MaxPrefixExceeded::notification`] calls it.
pub fn max_prefix_notification(family: Family, limit: u32) -> Notification {
    let mut data = Vec::with_capacity(7);
    data.extend_from_slice(&family.afi.0.to_be_bytes());
    data.push(family.safi.0);
    data.extend_from_slice(&limit.to_be_bytes());
    Notification {
        code: code::CEASE,
        subcode: cease::MAX_PREFIXES,
        data,
    }
}

fn cease(sub: u8) -> Notification {
    Notification {
        code: code::CEASE,
        subcode: sub,
        data: Vec::new(),
    }
}

/// The session states of RFC 4271 §8.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Not trying: stopped, or waiting out the connect-retry interval after an error.
    Idle,
    /// Waiting for our outgoing TCP connection to complete.
    Connect,
    /// Waiting for the peer to connect (always, for a passive session), or for the
    /// connect-retry timer before the next outgoing attempt.
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// The session is up: UPDATEs flow.
    Established,
}

impl State {
    /// Stable lower-case name, as used in JSON and logs.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connect => "connect",
            State::Active => "active",
            State::OpenSent => "opensent",
            State::OpenConfirm => "openconfirm",
            State::Established => "established",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One TCP connection, named by the driver (any value unique among the live connections of
/// the session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// An event the driver reports to the session (RFC 4271 §8.1 events, grouped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// ManualStart / AutomaticStart (RFC 4271 §8.1.2): begin connecting (or listening, for a
    /// passive session). Ignored unless Idle.
    Start,
    /// ManualStop (RFC 4271 §8.1.2): close every connection, sending `notification` (default
    /// Cease/Administrative Shutdown, 6/2) on each, and go Idle. With `restart_after` the
    /// session starts again by itself after that delay (a max-prefix restart interval, RFC 4486
    /// §4); with `None` it stays Idle until [`Input::Start`].
    Stop {
        /// The NOTIFICATION to send; `None` sends Cease/Administrative Shutdown.
        notification: Option<Notification>,
        /// Start again after this long.
        restart_after: Option<Duration>,
    },
    /// A TCP connection to the peer is up (RFC 4271 §8.1.4 events 16/17). `outgoing`: the one
    /// opened because of [`Output::Connect`]; otherwise accepted from the peer's address.
    Connected {
        /// The new connection.
        conn: ConnId,
        /// We opened it.
        outgoing: bool,
    },
    /// Our outgoing connection attempt failed (RFC 4271 event 18).
    ConnectFailed,
    /// Bytes read from `conn`, split anywhere: partial messages are kept for the next call.
    Received {
        /// The connection the bytes came from.
        conn: ConnId,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// Whole messages from `conn`, framed and decoded by a [`Framer`] with the connection's
    /// context ([`Session::established_context`]): handled exactly as their bytes would be.
    ReceivedFrames {
        /// The connection the messages came from.
        conn: ConnId,
        /// The messages, in order.
        frames: Vec<DecodedFrame>,
    },
    /// `conn` was closed or reset by the peer or the network (RFC 4271 event 18).
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// The driver wrote some of the bytes queued on `conn`: restarts the send hold timer
    /// (RFC 9687 §4.3).
    WriteProgress {
        /// The connection.
        conn: ConnId,
    },
    /// Every byte queued on `conn` is written: stops the send hold timer.
    Drained {
        /// The connection.
        conn: ConnId,
    },
}

/// Why a session left Established: what the RIB needs to flush the peer's routes or, for a
/// graceful restart, keep them as stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownReason {
    /// The NOTIFICATION we sent, if any.
    pub notification_sent: Option<Notification>,
    /// The NOTIFICATION the peer sent, if any.
    pub notification_received: Option<Notification>,
    /// What happened, in words.
    pub text: String,
    /// `Some(restart time the peer advertised)` when the peer's routes are to be kept as stale
    /// (RFC 4724 §4.2): the peer advertised graceful restart for at least one family and the
    /// session ended without any NOTIFICATION. The families are in the peer's capability
    /// ([`Negotiated::peer_graceful_restart`]).
    pub graceful_restart: Option<Duration>,
}

/// What the two speakers agreed on when the session came up (RFC 4271 §4.2, RFC 5492).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's AS (from the 4-octet AS capability when present, RFC 6793 §4.1).
    pub peer_asn: u32,
    /// The peer's BGP identifier.
    pub peer_router_id: Ipv4Addr,
    /// Negotiated hold time in seconds: the smaller of both proposals; 0 means no hold timer
    /// and no keepalives (RFC 4271 §4.2).
    pub hold_time: u16,
    /// Interval between our KEEPALIVEs: a third of the hold time (RFC 4271 §10); zero when
    /// the hold time is 0.
    pub keepalive: Duration,
    /// Families both sides announced (RFC 4760 §8), in our configured order. A side that
    /// announces no multiprotocol capability counts as announcing IPv4 unicast only.
    pub families: Vec<Family>,
    /// Both sides announced 4-octet AS support (RFC 6793).
    pub four_octet_as: bool,
    /// Both sides announced the extended message capability (RFC 8654): messages of up to
    /// 65535 bytes in both directions.
    pub extended_message: bool,
    /// Both sides announced route refresh (RFC 2918).
    pub route_refresh: bool,
    /// Both sides announced enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// Families whose NLRI the peer sends with path identifiers (RFC 7911 §4).
    pub add_path_rx: Vec<Family>,
    /// Families whose NLRI we send with path identifiers.
    pub add_path_tx: Vec<Family>,
    /// The peer's graceful restart capability (RFC 4724 §3), as received.
    pub peer_graceful_restart: Option<GracefulRestart>,
    /// The peer's BGP Role (RFC 9234 §4.1), when it announced one: with a role of ours in
    /// effect it corresponds to ours (§4.2), otherwise it is only recorded.
    pub peer_role: Option<BgpRole>,
    /// Codec context for decoding what the peer sends.
    pub rx: CodecContext,
    /// Codec context for encoding what we send (UPDATEs from the RIB).
    pub tx: CodecContext,
    /// The peer's OPEN.
    pub peer_open: Open,
    /// Our OPEN.
    pub local_open: Open,
}

/// What the session asks of the driver, or tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
// UPDATE is the frequent variant and Negotiated comes once per session; boxing either costs an
// allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// Open an outgoing TCP connection to the peer's configured address and report
    /// [`Input::Connected`] (with `outgoing: true`) or [`Input::ConnectFailed`]. A new request
    /// while an attempt is in progress (after the connect-retry timer ran out in Connect,
    /// RFC 4271 §8.2.2) replaces it.
    Connect,
    /// Write `bytes` on `conn`, after everything queued before.
    Send {
        /// The connection.
        conn: ConnId,
        /// Whole BGP messages.
        bytes: Vec<u8>,
    },
    /// Like [`Output::Send`], with UPDATEs shared with other peers' connections
    /// ([`Session::send_updates_shared`]): the same bytes, without a copy per peer.
    SendShared {
        /// The connection.
        conn: ConnId,
        /// Whole BGP messages.
        bytes: std::sync::Arc<[u8]>,
    },
    /// Write what is queued on `conn` (within a short bound), then close it. The session has
    /// forgotten `conn`: later events about it are ignored.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Close `conn` at once, dropping what is queued (send hold timer expiry, RFC 9687 §4.3;
    /// a last queued NOTIFICATION may be attempted without blocking).
    Abort {
        /// The connection.
        conn: ConnId,
    },
    /// The session reached Established (RFC 4271 §8.2.2, OpenConfirm + KEEPALIVE).
    Established(Negotiated),
    /// An UPDATE received in Established, with its RFC 7606 outcome (session resets are handled
    /// here and never reach the RIB).
    Update {
        /// The decoded UPDATE.
        update: Update,
        /// What to do with it (accept, attribute-discard, treat-as-withdraw, AFI/SAFI disable).
        outcome: Outcome,
    },
    /// A ROUTE-REFRESH received for a negotiated family, when route refresh was negotiated
    /// (RFC 2918 §4; BoRR/EoRR only with enhanced route refresh, RFC 7313 §4).
    RouteRefresh(RouteRefresh),
    /// The End-of-RIB marker of a family was received (RFC 4724 §2).
    EndOfRib(Family),
    /// The session left Established: flush the peer's routes, or keep them as stale when
    /// `graceful_restart` is set.
    Down(DownReason),
}

/// Counters and last events of one session, for `show neighbors`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// When the session last reached Established; `None` when not Established.
    pub established_since: Option<Instant>,
    /// How many times the session reached Established.
    pub established_count: u64,
    /// When the session last left Established.
    pub last_down: Option<Instant>,
    /// Outgoing TCP connection attempts.
    pub connect_attempts: u64,
    /// Messages received (complete frames).
    pub messages_in: u64,
    /// Messages handed to the driver.
    pub messages_out: u64,
    /// UPDATEs received.
    pub updates_in: u64,
    /// UPDATEs sent (through [`Session::send_updates`]).
    pub updates_out: u64,
    /// Received UPDATEs by RFC 7606 error-handling outcome.
    pub rfc7606: Rfc7606Counts,
    /// The last NOTIFICATION we sent, and when.
    pub last_notification_sent: Option<(Notification, Instant)>,
    /// The last NOTIFICATION the peer sent, and when.
    pub last_notification_received: Option<(Notification, Instant)>,
    /// Why the last connection ended, in words.
    pub last_error: Option<String>,
}

/// Received UPDATEs by RFC 7606 §2 error-handling approach (clean ones are not counted here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rfc7606Counts {
    /// "Attribute discard": malformed attributes dropped, the rest used.
    pub attribute_discard: u64,
    /// "Treat-as-withdraw": every route of the UPDATE withdrawn.
    pub treat_as_withdraw: u64,
    /// "AFI/SAFI disable": the family stopped on this session.
    pub afi_safi_disable: u64,
    /// "Session reset": an UPDATE Message Error NOTIFICATION ended the session.
    pub session_reset: u64,
}

/// Whether the operator wants the session up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admin {
    /// Never started, or stopped without automatic restart.
    Stopped,
    /// Stopped with an automatic restart when `retry_at` comes.
    HeldDown,
    /// Started.
    Running,
}

/// One TCP connection past the TCP handshake.
#[derive(Debug)]
struct Conn {
    id: ConnId,
    outgoing: bool,
    /// OpenSent, OpenConfirm or Established.
    state: State,
    /// The start of a message not complete yet; never longer than one message.
    rx: Vec<u8>,
    /// How to decode what arrives (the negotiated context once the peer's OPEN is in).
    ctx: CodecContext,
    local_open: Open,
    /// Set when the peer's OPEN was accepted (OpenConfirm and Established).
    neg: Option<Negotiated>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    send_hold_at: Option<Instant>,
    /// Bytes were handed to the driver and not yet reported drained.
    unsent: bool,
}

/// How a connection ends.
enum CloseAction {
    /// Output::Close.
    Close,
    /// Output::Abort.
    Abort,
    /// The driver already knows (Input::Closed).
    Gone,
}

struct Ending {
    sent: Option<Notification>,
    received: Option<Notification>,
    text: String,
    action: CloseAction,
}

impl Ending {
    fn sending(n: Notification, text: impl Into<String>) -> Self {
        Ending {
            sent: Some(n),
            received: None,
            text: text.into(),
            action: CloseAction::Close,
        }
    }
}

/// One BGP session: the FSM of RFC 4271 §8 for one configured neighbour.
#[derive(Debug)]
pub struct Session {
    config: PeerConfig,
    admin: Admin,
    /// The state when there is no connection: Idle, Connect or Active.
    phase: State,
    /// An outgoing attempt was requested and not yet reported.
    connecting: bool,
    /// Connect-retry timer (Connect, Active), automatic restart (Idle).
    retry_at: Option<Instant>,
    /// The current connect-retry interval (backs off).
    retry_interval: Duration,
    restarting: bool,
    conns: Vec<Conn>,
    out: VecDeque<Output>,
    stats: SessionStats,
}

fn describe(n: &Notification) -> String {
    let (c, s) = n.describe();
    match n.shutdown_communication() {
        Some(text) if !text.is_empty() => {
            format!("{}/{} ({c}, {s}: \"{text}\")", n.code, n.subcode)
        }
        _ => format!("{}/{} ({c}, {s})", n.code, n.subcode),
    }
}

fn type_name(t: u8) -> &'static str {
    match t {
        1 => "OPEN",
        2 => "UPDATE",
        3 => "NOTIFICATION",
        4 => "KEEPALIVE",
        5 => "ROUTE-REFRESH",
        _ => "unknown message",
    }
}

/// Counts the messages in a run of whole BGP messages (by their length fields).
fn count_messages(bytes: &[u8]) -> u64 {
    let mut n = 0;
    let mut pos = 0usize;
    while let Some(len) = bytes.get(pos + 16..pos + 18) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < HEADER_LEN {
            break;
        }
        n += 1;
        pos += len;
    }
    n
}

/// Encodes a NOTIFICATION, shortening its data if the whole would exceed `max` bytes.
fn encode_notification(n: &Notification, max: usize) -> Vec<u8> {
    let room = max.saturating_sub(HEADER_LEN + 2);
    let data = &n.data[..n.data.len().min(room)];
    let mut out = Vec::with_capacity(HEADER_LEN + 2 + data.len());
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&((HEADER_LEN + 2 + data.len()) as u16).to_be_bytes());
    out.push(3);
    out.push(n.code);
    out.push(n.subcode);
    out.extend_from_slice(data);
    out
}

/// True when the peer's graceful restart capability covers at least one family: the peer will
/// come back and its routes are worth keeping (RFC 4724 §4.2).
fn peer_restarts_gracefully(neg: &Negotiated) -> Option<Duration> {
    neg.peer_graceful_restart
        .as_ref()
        .filter(|gr| !gr.families.is_empty())
        .map(|gr| Duration::from_secs(u64::from(gr.restart_time)))
}

impl Session {
    /// A session for `config`, Idle until [`Input::Start`].
    pub fn new(config: PeerConfig, now: Instant) -> Self {
        let _ = now;
        Session {
            retry_interval: config.connect_retry,
            config,
            admin: Admin::Stopped,
            phase: State::Idle,
            connecting: false,
            retry_at: None,
            restarting: false,
            conns: Vec::new(),
            out: VecDeque::new(),
            stats: SessionStats::default(),
        }
    }

    /// The neighbour's configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// The current state: that of the most advanced connection, or Idle/Connect/Active when
    /// there is none (RFC 4271 §8.2.2).
    pub fn state(&self) -> State {
        self.conns
            .iter()
            .map(|c| c.state)
            .max()
            .unwrap_or(self.phase)
    }

    /// What was negotiated with the peer, once its OPEN is accepted (OpenConfirm and
    /// Established; the Established connection's when there are two).
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.conns
            .iter()
            .filter(|c| c.neg.is_some())
            .max_by_key(|c| c.state)
            .and_then(|c| c.neg.as_ref())
    }

    /// The codec context of connection `conn` when it is Established (fixed from then on):
    /// what a driver's [`Framer`] decodes that connection's messages with.
    pub fn established_context(&self, conn: ConnId) -> Option<&CodecContext> {
        self.conns
            .iter()
            .find(|c| c.id == conn && c.state == State::Established)
            .map(|c| &c.ctx)
    }

    /// Counters and last events.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Sets the Restart State (R) bit and the Forwarding State bits of the graceful restart
    /// capability in our next OPENs: we restarted and kept our forwarding state (RFC 4724 §3,
    /// §4.1). Clear it once the initial table is sent. Has no effect without
    /// `graceful_restart` in the configuration.
    pub fn set_restarting(&mut self, restarting: bool) {
        self.restarting = restarting;
    }

    /// The next output for the driver, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Handles an event (see [`Input`]).
    pub fn handle(&mut self, input: Input<'_>, now: Instant) {
        match input {
            Input::Start => self.on_start(now),
            Input::Stop {
                notification,
                restart_after,
            } => self.on_stop(notification, restart_after, now),
            Input::Connected { conn, outgoing } => self.on_connected(conn, outgoing, now),
            Input::ConnectFailed => self.on_connect_failed(now),
            Input::Received { conn, bytes } => self.on_received(conn, bytes, now),
            Input::ReceivedFrames { conn, frames } => self.on_frames(conn, frames, now),
            Input::Closed { conn } => self.end_conn(
                conn,
                Ending {
                    sent: None,
                    received: None,
                    text: "TCP connection closed by the peer".into(),
                    action: CloseAction::Gone,
                },
                now,
            ),
            Input::WriteProgress { conn } => self.on_write_progress(conn, now),
            Input::Drained { conn } => self.on_drained(conn),
        }
    }

    /// Sends pre-encoded UPDATE messages from the RIB on the Established connection (dropped
    /// in any other state). Restarts the keepalive timer (RFC 4271 §10).
    pub fn send_updates(&mut self, bytes: Vec<u8>, now: Instant) {
        if let Some(idx) = self.account_updates(&bytes, now) {
            self.send_raw(idx, bytes, now);
        }
    }

    /// Like [`Session::send_updates`] for a chunk shared with other peers (the RIB encodes
    /// once per update group, [`crate::rib::Rib::poll_transmit_shared`]): emitted as
    /// [`Output::SendShared`], so that a driver writes the same bytes to every member without
    /// a copy per peer. Same timers and counters as `send_updates` (RFC 4271 §10, RFC 9687).
    pub fn send_updates_shared(&mut self, bytes: std::sync::Arc<[u8]>, now: Instant) {
        let Some(idx) = self.account_updates(&bytes, now) else {
            return;
        };
        if let Some(conn) = self.mark_sending(idx, now) {
            self.out.push_back(Output::SendShared { conn, bytes });
        }
    }

    /// The bookkeeping of sending UPDATEs: the Established connection's index (`None`: none,
    /// or nothing to send), with the message counters and the keepalive timer updated.
    fn account_updates(&mut self, bytes: &[u8], now: Instant) -> Option<usize> {
        if bytes.is_empty() {
            return None;
        }
        let idx = self
            .conns
            .iter()
            .position(|c| c.state == State::Established)?;
        let n = count_messages(bytes);
        self.stats.updates_out += n;
        self.stats.messages_out += n;
        let c = &mut self.conns[idx];
        if let Some(neg) = &c.neg {
            if neg.hold_time != 0 {
                c.keepalive_at = now.checked_add(neg.keepalive);
            }
        }
        Some(idx)
    }

    /// Asks the peer to send its routes of `family` again (ROUTE-REFRESH, RFC 2918 §3).
    /// Dropped unless Established with route refresh negotiated for a negotiated family.
    pub fn send_route_refresh(&mut self, family: Family, now: Instant) {
        self.send_refresh(
            RouteRefresh {
                family,
                subtype: refresh_subtype::NORMAL,
            },
            now,
        );
    }

    /// Sends a ROUTE-REFRESH of any subtype: a request (0), or the Beginning (1) and End (2) of
    /// a refresh we answer (RFC 7313 §4, only with enhanced route refresh). Returns false (and
    /// sends nothing) when the session is not Established or the peer did not negotiate it.
    pub fn send_refresh(&mut self, refresh: RouteRefresh, now: Instant) -> bool {
        let Some(idx) = self
            .conns
            .iter()
            .position(|c| c.state == State::Established)
        else {
            return false;
        };
        let Some(neg) = &self.conns[idx].neg else {
            return false;
        };
        let allowed = neg.route_refresh
            && neg.families.contains(&refresh.family)
            && match refresh.subtype {
                refresh_subtype::NORMAL => true,
                refresh_subtype::BEGIN | refresh_subtype::END => neg.enhanced_route_refresh,
                _ => false,
            };
        if !allowed {
            return false;
        }
        let mut bytes = Vec::with_capacity(23);
        if encode_message(&neg.tx, &Message::RouteRefresh(refresh), &mut bytes).is_err() {
            return false;
        }
        self.stats.messages_out += 1;
        self.send_raw(idx, bytes, now);
        true
    }

    /// OpenConfirm + KEEPALIVE: Established.
    fn on_established(&mut self, id: ConnId, now: Instant) {
        let Some(idx) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        self.restart_hold(idx, now);
        let config = &self.config;
        let c = &mut self.conns[idx];
        c.state = State::Established;
        let Some(neg) = c.neg.clone() else {
            return;
        };
        if c.unsent {
            c.send_hold_at = send_hold_time(config, &neg).and_then(|d| now.checked_add(d));
        }
        self.connecting = false;
        self.retry_at = None;
        self.retry_interval = self.config.connect_retry;
        self.stats.established_since = Some(now);
        self.stats.established_count += 1;
        self.out.push_back(Output::Established(neg));
    }
}
