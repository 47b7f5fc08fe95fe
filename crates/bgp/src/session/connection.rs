//! Connection management (RFC 4271 §8.2.2 Idle, Connect and Active): starting and stopping the
//! session, accepting and opening TCP connections, handing bytes to the driver and ending
//! connections.

use super::timers::send_hold_time;
use super::{
    cease, describe, encode_notification, peer_restarts_gracefully, Admin, CloseAction, Conn,
    ConnId, DownReason, Ending, Output, Session, State, OPEN_SENT_HOLD_TIME,
};
use evpnd_wire::{encode_message, CodecContext, Message, Notification};
use std::time::{Duration, Instant};

impl Session {
    /// ManualStart/AutomaticStart (RFC 4271 §8.1.2): Running, and leave Idle when there is no
    /// connection.
    pub(super) fn on_start(&mut self, now: Instant) {
        let idle = self.conns.is_empty() && self.phase == State::Idle;
        if self.admin == Admin::Running && !idle {
            return;
        }
        self.admin = Admin::Running;
        self.retry_at = None;
        if idle {
            self.start_connecting(now);
        }
    }

    /// Idle → Connect (emit Connect) or, for a passive session, Active.
    pub(super) fn start_connecting(&mut self, now: Instant) {
        if self.config.passive {
            self.phase = State::Active;
            self.retry_at = None;
        } else {
            self.phase = State::Connect;
            self.request_connect(now);
        }
    }

    /// ManualStop (RFC 4271 §8.1.2): every connection ends with `notification` (default
    /// Cease/Administrative Shutdown); Idle, held down until `restart_after` when given.
    pub(super) fn on_stop(
        &mut self,
        notification: Option<Notification>,
        restart_after: Option<Duration>,
        now: Instant,
    ) {
        let n = notification.unwrap_or_else(|| cease(cease::ADMINISTRATIVE_SHUTDOWN));
        self.admin = Admin::Stopped;
        self.connecting = false;
        self.retry_at = None;
        self.phase = State::Idle;
        let text = format!("stopped: {}", describe(&n));
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            self.end_conn(id, Ending::sending(n.clone(), text.clone()), now);
        }
        if let Some(d) = restart_after {
            self.admin = Admin::HeldDown;
            self.retry_at = now.checked_add(d);
        }
    }

    /// A TCP connection came up (RFC 4271 §8.1.4 events 16/17): refuse it, or send our OPEN and
    /// go OpenSent on it.
    pub(super) fn on_connected(&mut self, id: ConnId, outgoing: bool, now: Instant) {
        if self.conns.iter().any(|c| c.id == id) {
            return; // a driver bug: the id is in use
        }
        if outgoing {
            // Only the attempt we asked for, and only one outgoing connection at a time.
            if self.admin != Admin::Running
                || !self.connecting
                || self.conns.iter().any(|c| c.outgoing)
            {
                self.out.push_back(Output::Close { conn: id });
                return;
            }
            self.connecting = false;
        } else {
            if self.admin != Admin::Running {
                self.reject(id, cease::CONNECTION_REJECTED, now);
                return;
            }
            if self.established_refuses_new_connection() {
                self.reject(id, cease::CONNECTION_COLLISION_RESOLUTION, now);
                return;
            }
        }
        let local_open = self.build_open();
        let mut bytes = Vec::new();
        let pre_ctx = CodecContext {
            four_octet_as: false,
            extended_message: false,
            add_path: Vec::new(),
            external_peer: self.config.is_external(),
        };
        if let Err(e) = encode_message(&pre_ctx, &Message::Open(local_open.clone()), &mut bytes) {
            self.out.push_back(Output::Close { conn: id });
            self.stats.last_error = Some(format!("cannot encode our OPEN: {e}"));
            if self.conns.is_empty() {
                self.after_failure(now);
            }
            return;
        }
        self.conns.push(Conn {
            id,
            outgoing,
            state: State::OpenSent,
            rx: Vec::new(),
            ctx: pre_ctx,
            local_open,
            neg: None,
            hold_at: now.checked_add(OPEN_SENT_HOLD_TIME),
            keepalive_at: None,
            send_hold_at: None,
            unsent: false,
        });
        // RFC 4271 §8.2.2: the connect-retry timer stops once a connection is up.
        self.retry_at = None;
        self.stats.messages_out += 1;
        let idx = self.conns.len() - 1;
        self.send_raw(idx, bytes, now);
        if !outgoing {
            self.replace_older_connections(id, now);
        }
    }

    /// Refuses a connection before any OPEN: Cease with `sub`, then close.
    fn reject(&mut self, id: ConnId, sub: u8, now: Instant) {
        let n = cease(sub);
        self.stats.last_notification_sent = Some((n.clone(), now));
        self.stats.messages_out += 1;
        self.out.push_back(Output::Send {
            conn: id,
            bytes: encode_notification(&n, evpnd_wire::context::MAX_MESSAGE_LEN),
        });
        self.out.push_back(Output::Close { conn: id });
    }

    /// Hands `bytes` (whole messages, already counted) to the driver on connection `idx`.
    pub(super) fn send_raw(&mut self, idx: usize, bytes: Vec<u8>, now: Instant) {
        if let Some(conn) = self.mark_sending(idx, now) {
            self.out.push_back(Output::Send { conn, bytes });
        }
    }

    /// Notes that bytes are queued on connection `idx` (unsent, and the send hold timer
    /// started if it is not running, RFC 9687 §4.3); its id, if it exists.
    pub(super) fn mark_sending(&mut self, idx: usize, now: Instant) -> Option<ConnId> {
        let c = self.conns.get_mut(idx)?;
        c.unsent = true;
        if c.state == State::Established && c.send_hold_at.is_none() {
            if let Some(d) = c.neg.as_ref().and_then(|n| send_hold_time(&self.config, n)) {
                c.send_hold_at = now.checked_add(d);
            }
        }
        Some(c.id)
    }

    /// Ends connection `id`: sends the NOTIFICATION if any, closes it, reports Down if it was
    /// Established, and goes Idle (with automatic restart) when it was the last one.
    pub(super) fn end_conn(&mut self, id: ConnId, ending: Ending, now: Instant) {
        let Some(idx) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        if let Some(n) = &ending.sent {
            let max = self.conns[idx].ctx.max_message_len();
            self.stats.last_notification_sent = Some((n.clone(), now));
            self.stats.messages_out += 1;
            let bytes = encode_notification(n, max);
            self.out.push_back(Output::Send { conn: id, bytes });
        }
        let conn = self.conns.remove(idx);
        match ending.action {
            CloseAction::Close => self.out.push_back(Output::Close { conn: id }),
            CloseAction::Abort => self.out.push_back(Output::Abort { conn: id }),
            CloseAction::Gone => {}
        }
        self.stats.last_error = Some(ending.text.clone());
        if conn.state == State::Established {
            let graceful = if ending.sent.is_none() && ending.received.is_none() {
                conn.neg.as_ref().and_then(peer_restarts_gracefully)
            } else {
                None
            };
            self.stats.established_since = None;
            self.stats.last_down = Some(now);
            self.out.push_back(Output::Down(DownReason {
                notification_sent: ending.sent,
                notification_received: ending.received,
                text: ending.text,
                graceful_restart: graceful,
            }));
        }
        if self.conns.is_empty() {
            self.after_failure(now);
        }
    }

    /// No connection left: Idle, and start again after the backed-off connect-retry interval
    /// unless stopped.
    fn after_failure(&mut self, now: Instant) {
        self.phase = State::Idle;
        self.connecting = false;
        if self.admin == Admin::Running {
            let d = self.backoff();
            self.retry_at = now.checked_add(d);
        }
    }
}
