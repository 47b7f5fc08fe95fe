//! Encoding one UPDATE message.

use super::validate::validate_update;
use super::Update;
use crate::attribute::{encode_mp_reach, encode_mp_unreach, encode_nlri_for};
use crate::context::CodecContext;
use crate::error::EncodeError;
#[cfg(debug_assertions)]
use crate::error::Outcome;
use crate::message::{put_header, MessageType};
use crate::types::Family;

/// Appends UPDATE `u` as one message to `out`.
///
/// The update is first checked with [`validate_update`]; in debug builds the bytes are decoded
/// again and must give back `u` unchanged and accepted.
pub fn encode_update(ctx: &CodecContext, u: &Update, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    validate_update(ctx, u)?;
    let start = out.len();
    put_header(out, MessageType::Update);
    let wl_at = out.len();
    out.extend_from_slice(&[0, 0]);
    encode_nlri_for(ctx, Family::IPV4_UNICAST, &u.withdrawn, out);
    let wlen = out.len() - wl_at - 2;
    let tal_at = out.len();
    out.extend_from_slice(&[0, 0]);
    if let Some(m) = &u.mp_unreach {
        encode_mp_unreach(m, ctx, out);
    }
    if let Some(m) = &u.mp_reach {
        encode_mp_reach(m, ctx, out);
    }
    for a in &u.attributes {
        a.encode(ctx, u.partial.contains(a.type_code()), out);
    }
    let tal = out.len() - tal_at - 2;
    encode_nlri_for(ctx, Family::IPV4_UNICAST, &u.nlri, out);
    let total = out.len() - start;
    if total > ctx.max_message_len() {
        out.truncate(start);
        return Err(EncodeError::TooLong {
            length: total,
            max: ctx.max_message_len(),
        });
    }
    // All three fit in 16 bits: total ≤ 65535 was checked above.
    out[start + 16..start + 18].copy_from_slice(&(total as u16).to_be_bytes());
    out[wl_at..wl_at + 2].copy_from_slice(&(wlen as u16).to_be_bytes());
    out[tal_at..tal_at + 2].copy_from_slice(&(tal as u16).to_be_bytes());
    #[cfg(debug_assertions)]
    check_round_trip(ctx, &out[start..], u);
    Ok(())
}

/// Debug builds: every UPDATE we produce must decode to what we meant (DESIGN.md §5).
#[cfg(debug_assertions)]
fn check_round_trip(ctx: &CodecContext, bytes: &[u8], want: &Update) {
    match crate::message::decode_message(ctx, bytes) {
        Ok(d) => {
            assert_eq!(
                d.outcome,
                Outcome::Accept,
                "encoded UPDATE is not accepted by our decoder"
            );
            match d.message {
                crate::Message::Update(got) => {
                    assert_eq!(&got, want, "encoded UPDATE decodes differently")
                }
                other => panic!("encoded UPDATE decodes as {other:?}"),
            }
        }
        Err(e) => panic!("encoded UPDATE does not decode: {e}"),
    }
}
