//! Shared pieces of the evpnd fuzz targets: the codec targets' context and checks (this file)
//! and the whole-receive-path harness of one router ([`node_receive`]).
//!
//! Every target reads its input as a [`FuzzContext`] (7 bytes, see [`split`]) followed by
//! target-specific bytes, so the fuzzer explores the session contexts (2-/4-octet AS, extended
//! messages, eBGP, ADD-PATH families) together with the bytes. The checks here are the codec's
//! documented promises (crate docs of `evpnd_wire`): decoding never panics, findings point
//! inside the message, and an accepted message re-encodes to something that decodes to the
//! same value.

pub mod node_receive;

use arbitrary::{Arbitrary, Unstructured};
use evpnd_wire::{
    decode_all, decode_message, encode_message, frame_length, CodecContext, DecodeError, Decoded,
    Family, Message, Outcome,
};

/// The four families a session can negotiate ADD-PATH for, in the order of
/// [`FuzzContext::add_path`].
pub const ADD_PATH_FAMILIES: [Family; 4] = [
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
    Family::RT_CONSTRAINT,
    Family::L2VPN_EVPN,
];

/// A mirror of [`CodecContext`] that `arbitrary` can build: one byte per flag (low bit), then
/// one byte per ADD-PATH family of [`ADD_PATH_FAMILIES`].
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuzzContext {
    /// RFC 6793 4-octet AS numbers.
    pub four_octet_as: bool,
    /// RFC 8654 extended messages.
    pub extended_message: bool,
    /// eBGP session.
    pub external_peer: bool,
    /// ADD-PATH per family of [`ADD_PATH_FAMILIES`].
    pub add_path: [bool; 4],
}

impl FuzzContext {
    /// The codec context this mirror stands for.
    pub fn to_codec(self) -> CodecContext {
        CodecContext {
            four_octet_as: self.four_octet_as,
            extended_message: self.extended_message,
            add_path: ADD_PATH_FAMILIES
                .iter()
                .zip(self.add_path)
                .filter(|(_, on)| *on)
                .map(|(f, _)| *f)
                .collect(),
            external_peer: self.external_peer,
        }
    }
}

/// Reads the context from the front of `u` (missing bytes read as zero, never an error).
pub fn take_context(u: &mut Unstructured<'_>) -> CodecContext {
    FuzzContext::arbitrary(u).unwrap_or_default().to_codec()
}

/// Splits a fuzz input into a context (first 7 bytes) and the rest.
pub fn split(data: &[u8]) -> (CodecContext, &[u8]) {
    let mut u = Unstructured::new(data);
    let ctx = take_context(&mut u);
    (ctx, u.take_rest())
}

/// Decodes `bytes` and checks the decoder's promises. Returns what `decode_message` returned.
pub fn check_decode(ctx: &CodecContext, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let result = decode_message(ctx, bytes);
    match &result {
        Ok(d) => {
            assert!(
                d.length >= 19 && d.length <= bytes.len(),
                "length {}",
                d.length
            );
            assert_eq!(frame_length(ctx, bytes), Ok(Some(d.length)));
            if !matches!(d.message, Message::Update(_)) {
                assert_eq!(d.outcome, Outcome::Accept, "outcomes are for UPDATEs only");
            }
            for c in d.outcome.causes() {
                assert!(c.offset <= d.length, "finding outside the message: {c}");
            }
        }
        Err(DecodeError::Incomplete { needed, available }) => {
            assert_eq!(*available, bytes.len());
            assert!(
                *needed > bytes.len(),
                "incomplete but {needed} ≤ {available}"
            );
        }
        Err(DecodeError::Reset(r)) => {
            let end = match frame_length(ctx, bytes) {
                Ok(Some(len)) => len,
                _ => bytes.len().max(19),
            };
            assert!(
                r.cause.offset <= end,
                "reset finding outside the message: {r}"
            );
        }
    }
    // The stream decoder agrees with the single-message one on the first message.
    let (all, err) = decode_all(ctx, bytes);
    match (&result, all.first()) {
        (Ok(d), Some(first)) => assert_eq!(d, first),
        (Ok(_), None) => panic!("decode_message succeeded, decode_all found nothing"),
        (Err(e), None) => {
            if !bytes.is_empty() {
                assert_eq!(err.as_ref().map(|(at, e)| (*at, e)), Some((0, e)));
            }
        }
        (Err(_), Some(_)) => panic!("decode_all succeeded where decode_message failed"),
    }
    result
}

/// For an accepted message: it must re-encode (the decoder only accepts what the encoder can
/// produce, except skipped EVPN routes of unknown types), and the encoding must decode, accepted, to the same message.
pub fn check_round_trip(ctx: &CodecContext, d: &Decoded) {
    if d.outcome != Outcome::Accept {
        return;
    }
    let mut out = Vec::new();
    if let Err(e) = encode_message(ctx, &d.message, &mut out) {
        // EVPN routes of unknown types are skipped and only counted (RFC 7606 §5.4), so such
        // an UPDATE cannot be reproduced. Anything else accepted must be encodable.
        if skipped_routes(&d.message) == 0 {
            panic!(
                "accepted message cannot be encoded again: {e}\n{:?}",
                d.message
            );
        }
        return;
    }
    let again = match decode_message(ctx, &out) {
        Ok(a) => a,
        Err(e) => panic!("re-encoded message does not decode: {e}"),
    };
    assert_eq!(again.length, out.len());
    assert_eq!(
        again.outcome,
        Outcome::Accept,
        "re-encoded message not accepted"
    );
    assert_eq!(
        again.message, d.message,
        "re-encoded message decodes differently"
    );
    // An UPDATE's canonical encoding is never longer than what was received (attribute
    // lengths only shrink to one octet). OPEN may grow: we send one capability per parameter.
    if matches!(d.message, Message::Update(_)) {
        assert!(
            out.len() <= d.length,
            "{} bytes re-encoded from {}",
            out.len(),
            d.length
        );
    }
}

/// EVPN routes of unknown types the decoder skipped in `m`.
pub fn skipped_routes(m: &Message) -> u32 {
    match m {
        Message::Update(u) => {
            u.mp_reach.as_ref().map_or(0, |r| r.skipped_routes)
                + u.mp_unreach.as_ref().map_or(0, |r| r.skipped_routes)
        }
        _ => 0,
    }
}

/// Appends a message header for `msg_type` with a zero length (patched by [`finish`]).
pub fn header(out: &mut Vec<u8>, msg_type: u8) {
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&[0, 0, msg_type]);
}

/// Patches the length field of the message that starts at offset 0 of `out`.
pub fn finish(out: &mut [u8]) {
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX);
    out[16..18].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_layout_is_one_byte_per_flag() {
        let (ctx, rest) = split(&[1, 0, 1, 0, 0, 0, 1, 0xaa, 0xbb]);
        assert!(ctx.four_octet_as && !ctx.extended_message && ctx.external_peer);
        assert_eq!(ctx.add_path, vec![Family::L2VPN_EVPN]);
        assert_eq!(rest, &[0xaa, 0xbb]);
        let (ctx, rest) = split(&[]);
        assert_eq!(ctx, FuzzContext::default().to_codec());
        assert!(rest.is_empty());
    }
}
