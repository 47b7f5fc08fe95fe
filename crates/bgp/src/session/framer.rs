//! Framing and decoding ahead of the session, for a driver that reads sockets on other
//! threads: once a connection is Established its codec context is fixed (RFC 4271 §4.2 OPEN,
//! RFC 6793 4-octet AS, RFC 7911 ADD-PATH, RFC 8654 extended messages), so its messages can be
//! cut (RFC 4271 §4.1) and decoded with their RFC 7606 outcomes where the bytes are read, and
//! handed to the session already decoded ([`Input::ReceivedFrames`]). Decoding is a pure
//! function of the context and the bytes, so the session behaves exactly as if it had been
//! given the bytes ([`Input::Received`]); the simulator keeps using the bytes.
//!
//! [`Input::ReceivedFrames`]: super::Input::ReceivedFrames
//! [`Input::Received`]: super::Input::Received

use evpnd_wire::message::HEADER_LEN;
use evpnd_wire::{decode_message, frame_length, CodecContext, DecodeError, Decoded};

/// One whole message decoded before it reaches the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedFrame {
    /// The message type from the header (RFC 4271 §4.1).
    pub msg_type: u8,
    /// The message with its RFC 7606 outcome, or why it cannot be used.
    pub decoded: Result<Decoded, DecodeError>,
}

impl DecodedFrame {
    /// Decodes the whole message `frame` with `ctx`.
    pub fn decode(ctx: &CodecContext, frame: &[u8]) -> DecodedFrame {
        DecodedFrame {
            msg_type: frame.get(18).copied().unwrap_or(0),
            decoded: decode_message(ctx, frame),
        }
    }
}

/// What a [`Framer`] hands on, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framed {
    /// Bytes for [`super::Input::Received`]: whole messages until the framer has a context,
    /// anything after a header it cannot frame.
    Bytes(Vec<u8>),
    /// Decoded messages for [`super::Input::ReceivedFrames`].
    Frames(Vec<DecodedFrame>),
}

/// Cuts one connection's byte stream into messages and, once given the connection's codec
/// context, decodes them. It never decides anything: a header it cannot frame sends it into
/// pass-through, where every byte goes on as read and the session finds the error itself.
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes of a message not yet whole.
    pending: Vec<u8>,
    /// The context messages are decoded with, from the next whole message on.
    ctx: Option<CodecContext>,
    /// A header could not be framed: bytes pass unframed from here on.
    passthrough: bool,
}

impl Framer {
    /// A framer at the start of a connection, without a context (bytes pass as whole
    /// messages).
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Decodes every message from the next one on with `ctx`, the connection's context once
    /// it is Established ([`super::Session::established_context`]). Messages already handed
    /// on are not affected; the session must not have been given any byte beyond the ones
    /// handed on so far with another context in force, which holds because the context does
    /// not change after Established.
    pub fn set_context(&mut self, ctx: CodecContext) {
        self.ctx = Some(ctx);
    }

    /// Whether messages are decoded.
    pub fn decodes(&self) -> bool {
        self.ctx.is_some() && !self.passthrough
    }

    /// Takes `data` (split anywhere) and returns what is ready for the session, if anything.
    pub fn push(&mut self, data: &[u8]) -> Option<Framed> {
        if self.passthrough {
            return (!data.is_empty()).then(|| Framed::Bytes(data.to_vec()));
        }
        self.pending.extend_from_slice(data);
        // Before the context is known, frame with the largest length any context allows:
        // only the boundaries matter then, the session checks the lengths.
        let loose = CodecContext {
            extended_message: true,
            ..CodecContext::default()
        };
        let framing_ctx = self.ctx.as_ref().unwrap_or(&loose);
        let mut whole = 0usize;
        let mut frames: Vec<(usize, usize)> = Vec::new();
        loop {
            let rest = self.pending.get(whole..).unwrap_or(&[]);
            match frame_length(framing_ctx, rest) {
                Ok(Some(len)) if len >= HEADER_LEN && len <= rest.len() => {
                    frames.push((whole, len));
                    whole += len;
                }
                Ok(_) => break,
                Err(_) => {
                    self.passthrough = true;
                    let all = std::mem::take(&mut self.pending);
                    return (!all.is_empty()).then_some(Framed::Bytes(all));
                }
            }
        }
        if whole == 0 {
            return None;
        }
        let out = match &self.ctx {
            Some(ctx) => Framed::Frames(
                frames
                    .iter()
                    .filter_map(|&(at, len)| self.pending.get(at..at + len))
                    .map(|f| DecodedFrame::decode(ctx, f))
                    .collect(),
            ),
            None => Framed::Bytes(
                self.pending
                    .get(..whole)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
            ),
        };
        self.pending.drain(..whole);
        Some(out)
    }
}
