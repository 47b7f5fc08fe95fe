//! The session's timers: hold and keepalive (RFC 4271 §8.2.2, §10), send hold (RFC 9687) and
//! connect-retry with backoff (RFC 4271 §8.1.1 and §8.2.2; the doubling interval is this
//! crate's choice, see the module documentation).

use super::{
    Admin, CloseAction, ConnId, Ending, Negotiated, Output, Session, State,
    MIN_DEFAULT_SEND_HOLD_TIME, SEND_HOLD_TIMER_EXPIRED,
};
use crate::config::PeerConfig;
use evpnd_wire::error::code;
use evpnd_wire::message::HEADER_LEN;
use evpnd_wire::{encode_message, Message, Notification};
use std::time::{Duration, Instant};

/// The send hold time of a session (RFC 9687 §6): configured, or the greater of 8 minutes and
/// twice the negotiated hold time; none when the hold time is 0 or the configured value is 0
/// (RFC 9687 §4.3).
pub(super) fn send_hold_time(config: &PeerConfig, neg: &Negotiated) -> Option<Duration> {
    if neg.hold_time == 0 {
        return None;
    }
    match config.send_hold_time {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => {
            Some(MIN_DEFAULT_SEND_HOLD_TIME.max(Duration::from_secs(2 * u64::from(neg.hold_time))))
        }
    }
}

impl Session {
    /// The driver wrote some queued bytes of `conn`: restarts a running send hold timer (RFC
    /// 9687 §4.3).
    pub(super) fn on_write_progress(&mut self, conn: ConnId, now: Instant) {
        let config = &self.config;
        if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
            if c.send_hold_at.is_some() {
                c.send_hold_at = c
                    .neg
                    .as_ref()
                    .and_then(|n| send_hold_time(config, n))
                    .and_then(|d| now.checked_add(d));
            }
        }
    }

    /// Everything queued on `conn` is written: stops the send hold timer.
    pub(super) fn on_drained(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
            c.unsent = false;
            c.send_hold_at = None;
        }
    }

    /// The earliest armed timer: call [`Session::handle_timeout`] when it has come.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn_timers = self
            .conns
            .iter()
            .flat_map(|c| [c.hold_at, c.keepalive_at, c.send_hold_at])
            .flatten();
        conn_timers.chain(self.retry_at).min()
    }

    /// Runs every timer that has expired at `now`: hold (4/0), send hold (8/0), keepalive,
    /// connect-retry and automatic restart.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            let Some(c) = self.conns.iter().find(|c| c.id == id) else {
                continue;
            };
            let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
            if due(c.send_hold_at) {
                self.end_conn(
                    id,
                    Ending {
                        sent: Some(Notification {
                            code: SEND_HOLD_TIMER_EXPIRED,
                            subcode: 0,
                            data: Vec::new(),
                        }),
                        received: None,
                        text: "send hold timer expired: the peer does not read (RFC 9687)".into(),
                        action: CloseAction::Abort,
                    },
                    now,
                );
            } else if due(c.hold_at) {
                let text = format!("hold timer expired in {}", c.state);
                self.end_conn(
                    id,
                    Ending::sending(
                        Notification {
                            code: code::HOLD_TIMER_EXPIRED,
                            subcode: 0,
                            data: Vec::new(),
                        },
                        text,
                    ),
                    now,
                );
            } else if due(c.keepalive_at) {
                self.send_keepalive(id, now);
            }
        }
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            self.on_retry_timer(now);
        }
    }

    /// Asks the driver for an outgoing connection and arms the connect-retry timer.
    pub(super) fn request_connect(&mut self, now: Instant) {
        self.connecting = true;
        self.stats.connect_attempts += 1;
        self.out.push_back(Output::Connect);
        self.retry_at = now.checked_add(self.retry_interval);
    }

    /// The current connect-retry interval, doubling the next one (up to the configured
    /// maximum).
    pub(super) fn backoff(&mut self) -> Duration {
        let d = self.retry_interval;
        let next = d
            .checked_mul(2)
            .unwrap_or(self.config.connect_retry_max)
            .min(self.config.connect_retry_max)
            .max(self.config.connect_retry);
        self.retry_interval = next;
        d
    }

    /// The connect-retry timer ran out (RFC 4271 §8.2.2 ConnectRetryTimer_Expires), or the
    /// automatic restart after a stop or a failure is due.
    fn on_retry_timer(&mut self, now: Instant) {
        match self.admin {
            Admin::Stopped => {}
            Admin::HeldDown => {
                self.admin = Admin::Running;
                if self.conns.is_empty() {
                    self.start_connecting(now);
                }
            }
            Admin::Running => {
                if !self.conns.is_empty() {
                    return;
                }
                match self.phase {
                    State::Idle => self.start_connecting(now),
                    // RFC 4271 §8.2.2 Connect, ConnectRetryTimer_Expires: abandon the attempt
                    // and start a new one.
                    State::Connect => {
                        self.backoff();
                        self.request_connect(now);
                    }
                    // Active, ConnectRetryTimer_Expires: initiate a connection, go Connect.
                    State::Active if !self.config.passive => {
                        self.phase = State::Connect;
                        self.request_connect(now);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Our outgoing attempt failed (RFC 4271 §8.1.4 event 18).
    pub(super) fn on_connect_failed(&mut self, now: Instant) {
        if !self.connecting {
            return;
        }
        self.connecting = false;
        // RFC 4271 §8.2.2 Connect, TcpConnectionFails: restart the connect-retry timer, go
        // Active.
        if self.conns.is_empty() && self.admin == Admin::Running && self.phase == State::Connect {
            self.phase = State::Active;
            let d = self.backoff();
            self.retry_at = now.checked_add(d);
            self.stats.last_error = Some("outgoing TCP connection failed".into());
        }
    }

    /// Sends a KEEPALIVE on `id` and re-arms its keepalive timer (RFC 4271 §10).
    pub(super) fn send_keepalive(&mut self, id: ConnId, now: Instant) {
        let Some(idx) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let c = &mut self.conns[idx];
        c.keepalive_at = c
            .neg
            .as_ref()
            .filter(|n| n.hold_time != 0)
            .and_then(|n| now.checked_add(n.keepalive));
        let mut bytes = Vec::with_capacity(HEADER_LEN);
        if encode_message(&c.ctx, &Message::Keepalive, &mut bytes).is_ok() {
            self.stats.messages_out += 1;
            self.send_raw(idx, bytes, now);
        }
    }

    /// Restarts the hold timer of connection `idx` after a message (RFC 4271 §8.2.2).
    pub(super) fn restart_hold(&mut self, idx: usize, now: Instant) {
        if let Some(c) = self.conns.get_mut(idx) {
            c.hold_at = c
                .neg
                .as_ref()
                .filter(|n| n.hold_time != 0)
                .and_then(|n| now.checked_add(Duration::from_secs(u64::from(n.hold_time))));
        }
    }
}
