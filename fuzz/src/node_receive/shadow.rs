//! The shadow decoder: the received stream framed and decoded alongside the session's, to
//! tell what the session must do with it (RFC 4271 §6).

use evpnd_wire::{decode_message, frame_length, CodecContext, Message};

/// What the shadow decoder concluded about the bytes received on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A message the session must answer with a NOTIFICATION and a close (RFC 4271 §6, RFC
    /// 6608): malformed, or an OPEN in Established.
    MustNotify,
    /// The peer sent a NOTIFICATION: the connection must close (RFC 4271 §6.4).
    PeerNotified,
}

/// A framing and decoding of the received stream alongside the session's.
#[derive(Debug)]
pub(super) struct Shadow {
    ctx: CodecContext,
    buf: Vec<u8>,
    verdict: Option<Verdict>,
}

impl Shadow {
    pub(super) fn new(ctx: CodecContext) -> Shadow {
        Shadow {
            ctx,
            buf: Vec::new(),
            verdict: None,
        }
    }

    /// Takes `bytes`; returns the verdict once reached (later bytes are not looked at).
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Option<Verdict> {
        if self.verdict.is_some() {
            return self.verdict;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let len = match frame_length(&self.ctx, &self.buf) {
                Ok(Some(len)) if self.buf.len() >= len => len,
                Ok(_) => return None,
                Err(_) => {
                    self.verdict = Some(Verdict::MustNotify);
                    return self.verdict;
                }
            };
            let msg: Vec<u8> = self.buf.drain(..len).collect();
            self.verdict = match decode_message(&self.ctx, &msg) {
                Err(_) => Some(Verdict::MustNotify),
                Ok(d) => match d.message {
                    Message::Notification(_) => Some(Verdict::PeerNotified),
                    Message::Open(_) => Some(Verdict::MustNotify),
                    _ => None,
                },
            };
            if self.verdict.is_some() {
                return self.verdict;
            }
        }
    }
}
