//! The Tunnel Encapsulation attribute (RFC 9012): TLV structure validated, contents kept.

use crate::reader::Reader;

/// A sub-TLV of a Tunnel Encapsulation TLV (RFC 9012 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TunnelSubTlv {
    /// Sub-TLV type (types 128..=255 have a two-octet length).
    pub sub_type: u8,
    /// Value, kept as bytes.
    pub value: Vec<u8>,
}

/// One Tunnel TLV of the Tunnel Encapsulation attribute (RFC 9012 §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TunnelTlv {
    /// Tunnel type (e.g. 8 for VXLAN).
    pub tunnel_type: u16,
    /// Its sub-TLVs.
    pub sub_tlvs: Vec<TunnelSubTlv>,
}

/// Appends the value of a Tunnel Encapsulation attribute (RFC 9012 §2): Tunnel TLVs with a
/// two-octet length, sub-TLVs with a one-octet length below type 128 and two from 128 on.
/// Lengths fit: [`crate::update::validate_update`] refuses longer values.
pub(super) fn encode_tunnel_encap(tlvs: &[TunnelTlv], out: &mut Vec<u8>) {
    for t in tlvs {
        out.extend_from_slice(&t.tunnel_type.to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        for s in &t.sub_tlvs {
            out.push(s.sub_type);
            if s.sub_type >= 128 {
                out.extend_from_slice(&(s.value.len() as u16).to_be_bytes());
            } else {
                out.push(s.value.len() as u8);
            }
            out.extend_from_slice(&s.value);
        }
        let len = (out.len() - len_at - 2) as u16;
        out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }
}

pub(super) fn decode_tunnel_encap(v: &mut Reader<'_>) -> Result<Vec<TunnelTlv>, (usize, String)> {
    let mut tlvs = Vec::new();
    if v.is_empty() {
        return Err((v.offset(), "empty Tunnel Encapsulation attribute".into()));
    }
    while !v.is_empty() {
        let at = v.offset();
        let (Some(tunnel_type), Some(tlv_len)) = (v.u16(), v.u16()) else {
            return Err((at, "truncated Tunnel TLV header".into()));
        };
        let mut t = v.sub(usize::from(tlv_len)).ok_or_else(|| {
            (
                at + 2,
                format!("Tunnel TLV length {tlv_len} overruns the attribute"),
            )
        })?;
        let mut sub_tlvs = Vec::new();
        while !t.is_empty() {
            let sat = t.offset();
            let sub_type = t.u8().ok_or((sat, "missing sub-TLV type".to_string()))?;
            let sub_len = if sub_type >= 128 {
                t.u16().map(usize::from)
            } else {
                t.u8().map(usize::from)
            }
            .ok_or_else(|| (sat + 1, "truncated sub-TLV length".to_string()))?;
            let value = t.take(sub_len).ok_or_else(|| {
                (
                    sat + 1,
                    format!("sub-TLV length {sub_len} overruns its Tunnel TLV"),
                )
            })?;
            sub_tlvs.push(TunnelSubTlv {
                sub_type,
                value: value.to_vec(),
            });
        }
        tlvs.push(TunnelTlv {
            tunnel_type,
            sub_tlvs,
        });
    }
    Ok(tlvs)
}
