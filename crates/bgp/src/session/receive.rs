//! Receiving: bytes split anywhere are framed into whole messages (RFC 4271 §4.1), decoded with
//! the connection's codec context and handled by state (RFC 4271 §8.2.2); a message unexpected
//! in its state is a Finite State Machine Error (RFC 6608).

use super::framer::DecodedFrame;
use super::{
    describe, fsm_subcode, type_name, CloseAction, ConnId, Ending, Output, Session, State,
};
use evpnd_wire::error::{code, subcode};
use evpnd_wire::message::{refresh_subtype, HEADER_LEN};
use evpnd_wire::{
    decode_message, frame_length, DecodeError, Decoded, Message, Notification, Outcome,
};
use std::time::Instant;

impl Session {
    pub(super) fn on_received(&mut self, id: ConnId, mut data: &[u8], now: Instant) {
        loop {
            let Some(c) = self.conns.iter_mut().find(|c| c.id == id) else {
                return;
            };
            if !c.rx.is_empty() {
                // Complete the buffered message first.
                if c.rx.len() < HEADER_LEN {
                    let take = (HEADER_LEN - c.rx.len()).min(data.len());
                    c.rx.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if c.rx.len() < HEADER_LEN {
                        return;
                    }
                }
                let len = match frame_length(&c.ctx, &c.rx) {
                    Ok(Some(len)) => len,
                    Ok(None) => return,
                    Err(e) => {
                        self.decode_failure(id, e, now);
                        return;
                    }
                };
                let take = len.saturating_sub(c.rx.len()).min(data.len());
                c.rx.extend_from_slice(&data[..take]);
                data = &data[take..];
                if c.rx.len() < len {
                    return;
                }
                let msg = std::mem::take(&mut c.rx);
                self.on_message(id, &msg, now);
                continue;
            }
            if data.is_empty() {
                return;
            }
            match frame_length(&c.ctx, data) {
                Ok(Some(len)) if data.len() >= len => {
                    let (msg, rest) = data.split_at(len);
                    data = rest;
                    self.on_message(id, msg, now);
                }
                // Fewer bytes than the header, or than a length already checked against the
                // maximum: keep them.
                Ok(_) => {
                    c.rx.extend_from_slice(data);
                    return;
                }
                Err(e) => {
                    self.decode_failure(id, e, now);
                    return;
                }
            }
        }
    }

    fn decode_failure(&mut self, id: ConnId, e: DecodeError, now: Instant) {
        let n = match &e {
            DecodeError::Reset(r) => Notification::from_reset(r),
            // Cannot happen for a whole frame; answer as for a bad length.
            DecodeError::Incomplete { .. } => Notification {
                code: code::MESSAGE_HEADER,
                subcode: subcode::BAD_MESSAGE_LENGTH,
                data: Vec::new(),
            },
        };
        self.end_conn(id, Ending::sending(n, format!("received: {e}")), now);
    }

    /// Handles one whole message (its header already checked by `frame_length`).
    fn on_message(&mut self, id: ConnId, msg: &[u8], now: Instant) {
        let t = msg.get(18).copied().unwrap_or(0);
        let Some(idx) = self.accept_message(id, t, now) else {
            return;
        };
        let decoded = decode_message(&self.conns[idx].ctx, msg);
        self.on_decoded(idx, id, t, decoded, now);
    }

    /// Handles messages framed and decoded by a [`super::Framer`] with this connection's
    /// context once Established: the same steps as for bytes, from the decoding on.
    pub(super) fn on_frames(&mut self, id: ConnId, frames: Vec<DecodedFrame>, now: Instant) {
        for f in frames {
            let Some(idx) = self.accept_message(id, f.msg_type, now) else {
                return;
            };
            self.on_decoded(idx, id, f.msg_type, f.decoded, now);
        }
    }

    /// Counts a whole message of type `t` on connection `id` and says whether it may be
    /// decoded (the connection's index); an UPDATE before Established is a Finite State
    /// Machine Error (RFC 6608), not decoded with a context that was not negotiated yet.
    fn accept_message(&mut self, id: ConnId, t: u8, now: Instant) -> Option<usize> {
        let idx = self.conns.iter().position(|c| c.id == id)?;
        self.stats.messages_in += 1;
        let state = self.conns[idx].state;
        if t == 2 && state != State::Established {
            self.fsm_error(id, state, t, now);
            return None;
        }
        Some(idx)
    }

    /// Acts on one decoded message (RFC 4271 §8.2.2 by state; RFC 7606 outcomes counted).
    fn on_decoded(
        &mut self,
        idx: usize,
        id: ConnId,
        t: u8,
        decoded: Result<Decoded, DecodeError>,
        now: Instant,
    ) {
        let state = self.conns[idx].state;
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                if t == 2 {
                    self.stats.rfc7606.session_reset += 1;
                }
                self.decode_failure(id, e, now);
                return;
            }
        };
        match (state, decoded.message) {
            (_, Message::Notification(n)) => {
                self.stats.last_notification_received = Some((n.clone(), now));
                let text = format!("NOTIFICATION received: {}", describe(&n));
                self.end_conn(
                    id,
                    Ending {
                        sent: None,
                        received: Some(n),
                        text,
                        action: CloseAction::Close,
                    },
                    now,
                );
            }
            (State::OpenSent, Message::Open(open)) => self.on_open(id, open, now),
            (State::OpenConfirm, Message::Keepalive) => self.on_established(id, now),
            (State::Established, Message::Keepalive) => self.restart_hold(idx, now),
            (State::Established, Message::Update(update)) => {
                self.stats.updates_in += 1;
                let counts = &mut self.stats.rfc7606;
                match decoded.outcome {
                    Outcome::Accept => {}
                    Outcome::AttributeDiscard(_) => counts.attribute_discard += 1,
                    Outcome::TreatAsWithdraw(_) => counts.treat_as_withdraw += 1,
                    Outcome::AfiSafiDisable { .. } => counts.afi_safi_disable += 1,
                }
                self.restart_hold(idx, now);
                if decoded.outcome == Outcome::Accept {
                    if let Some(f) = update.as_end_of_rib() {
                        self.out.push_back(Output::EndOfRib(f));
                        return;
                    }
                }
                self.out.push_back(Output::Update {
                    update,
                    outcome: decoded.outcome,
                });
            }
            (State::Established, Message::RouteRefresh(rr)) => {
                self.restart_hold(idx, now);
                let Some(neg) = &self.conns[idx].neg else {
                    return;
                };
                // RFC 2918 §4: ignore unless negotiated, for a family not negotiated; RFC
                // 7313 §5: ignore reserved subtypes; BoRR/EoRR need enhanced route refresh.
                let wanted = neg.route_refresh
                    && neg.families.contains(&rr.family)
                    && match rr.subtype {
                        refresh_subtype::NORMAL => true,
                        refresh_subtype::BEGIN | refresh_subtype::END => neg.enhanced_route_refresh,
                        _ => false,
                    };
                if wanted {
                    self.out.push_back(Output::RouteRefresh(rr));
                }
            }
            (state, _) => self.fsm_error(id, state, t, now),
        }
    }

    /// An unexpected message: Finite State Machine Error with the subcode of the state and the
    /// message type as data (RFC 6608 §4).
    fn fsm_error(&mut self, id: ConnId, state: State, t: u8, now: Instant) {
        let sub = match state {
            State::OpenSent => fsm_subcode::OPEN_SENT,
            State::OpenConfirm => fsm_subcode::OPEN_CONFIRM,
            State::Established => fsm_subcode::ESTABLISHED,
            _ => fsm_subcode::UNSPECIFIED,
        };
        self.end_conn(
            id,
            Ending::sending(
                Notification {
                    code: code::FSM,
                    subcode: sub,
                    data: vec![t],
                },
                format!("unexpected {} in {state}", type_name(t)),
            ),
            now,
        );
    }
}
