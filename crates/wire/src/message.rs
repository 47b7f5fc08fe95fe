//! BGP messages (RFC 4271 §4): header framing, OPEN, UPDATE, NOTIFICATION, KEEPALIVE and
//! ROUTE-REFRESH, with the header and OPEN checks of RFC 4271 §6.1–6.2.

use crate::capability::{decode_capabilities, Capability};
use crate::context::{CodecContext, MAX_MESSAGE_LEN};
use crate::error::{code, subcode, DecodeError, EncodeError, Malformation, Outcome, Reset};
use crate::reader::Reader;
use crate::types::{Afi, Family, Safi, AS_TRANS};
use crate::update::{decode_update, encode_update, Update};
use std::net::Ipv4Addr;

/// Length of the message header: marker (16), length (2), type (1).
pub const HEADER_LEN: usize = 19;

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// OPEN.
    Open = 1,
    /// UPDATE.
    Update = 2,
    /// NOTIFICATION.
    Notification = 3,
    /// KEEPALIVE.
    Keepalive = 4,
    /// ROUTE-REFRESH.
    RouteRefresh = 5,
}

impl MessageType {
    /// Stable name, as used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Open => "open",
            MessageType::Update => "update",
            MessageType::Notification => "notification",
            MessageType::Keepalive => "keepalive",
            MessageType::RouteRefresh => "route-refresh",
        }
    }
}

/// Appends a header with a zero length field (patched by the caller).
pub(crate) fn put_header(out: &mut Vec<u8>, t: MessageType) {
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&[0, 0]);
    out.push(t as u8);
}

fn patch_len(out: &mut [u8], start: usize, max: usize) -> Result<(), EncodeError> {
    let len = out.len() - start;
    if len > max {
        return Err(EncodeError::TooLong { length: len, max });
    }
    out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
    Ok(())
}

/// The OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// The sender's AS, or AS_TRANS when it is a 4-octet AS (RFC 6793 §4.1).
    pub my_as: u16,
    /// Proposed hold time in seconds (0 or ≥ 3).
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in the order received.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN for `asn` (setting AS_TRANS and the 4-octet AS capability as RFC 6793 asks).
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_id: Ipv4Addr,
        mut capabilities: Vec<Capability>,
    ) -> Self {
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        Open {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The sender's AS: from the 4-octet AS capability if present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Families announced with the multiprotocol capability.
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        self.capabilities.iter().filter_map(|c| match c {
            Capability::Multiprotocol(f) => Some(*f),
            _ => None,
        })
    }

    /// True when a capability with `code` was announced.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities.iter().any(|c| c.code() == code)
    }
}

/// The NOTIFICATION message (RFC 4271 §4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data.
    pub data: Vec<u8>,
}

impl Notification {
    /// The NOTIFICATION that a session reset calls for.
    pub fn from_reset(r: &Reset) -> Self {
        Notification {
            code: r.code,
            subcode: r.subcode,
            data: r.data.clone(),
        }
    }

    /// Names of the error code and subcode (RFC 4271 §4.5, RFC 4486, RFC 7313, RFC 8203).
    pub fn describe(&self) -> (&'static str, &'static str) {
        let c = match self.code {
            code::MESSAGE_HEADER => "Message Header Error",
            code::OPEN_MESSAGE => "OPEN Message Error",
            code::UPDATE_MESSAGE => "UPDATE Message Error",
            code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
            code::FSM => "Finite State Machine Error",
            code::CEASE => "Cease",
            code::ROUTE_REFRESH => "ROUTE-REFRESH Message Error",
            _ => "Unknown",
        };
        let s = match (self.code, self.subcode) {
            (_, 0) => "Unspecific",
            (1, 1) => "Connection Not Synchronized",
            (1, 2) => "Bad Message Length",
            (1, 3) => "Bad Message Type",
            (2, 1) => "Unsupported Version Number",
            (2, 2) => "Bad Peer AS",
            (2, 3) => "Bad BGP Identifier",
            (2, 4) => "Unsupported Optional Parameter",
            (2, 6) => "Unacceptable Hold Time",
            (2, 7) => "Unsupported Capability",
            (2, 11) => "Role Mismatch",
            (3, 1) => "Malformed Attribute List",
            (3, 2) => "Unrecognized Well-known Attribute",
            (3, 3) => "Missing Well-known Attribute",
            (3, 4) => "Attribute Flags Error",
            (3, 5) => "Attribute Length Error",
            (3, 6) => "Invalid ORIGIN Attribute",
            (3, 8) => "Invalid NEXT_HOP Attribute",
            (3, 9) => "Optional Attribute Error",
            (3, 10) => "Invalid Network Field",
            (3, 11) => "Malformed AS_PATH",
            (5, 1) => "Receive Unexpected Message in OpenSent State",
            (5, 2) => "Receive Unexpected Message in OpenConfirm State",
            (5, 3) => "Receive Unexpected Message in Established State",
            (6, 1) => "Maximum Number of Prefixes Reached",
            (6, 2) => "Administrative Shutdown",
            (6, 3) => "Peer De-configured",
            (6, 4) => "Administrative Reset",
            (6, 5) => "Connection Rejected",
            (6, 6) => "Other Configuration Change",
            (6, 7) => "Connection Collision Resolution",
            (6, 8) => "Out of Resources",
            (6, 9) => "Hard Reset",
            (6, 10) => "BFD Down",
            (7, 1) => "Invalid Message Length",
            _ => "Unknown",
        };
        (c, s)
    }

    /// The shutdown communication of a Cease/Administrative Shutdown or Reset (RFC 9003 §2),
    /// if the data holds a well-formed one.
    pub fn shutdown_communication(&self) -> Option<String> {
        if self.code != code::CEASE || !matches!(self.subcode, 2 | 4) {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        String::from_utf8(text.to_vec()).ok()
    }
}

/// ROUTE-REFRESH subtypes (RFC 7313 §3.2).
pub mod refresh_subtype {
    /// A normal route refresh request (RFC 2918).
    pub const NORMAL: u8 = 0;
    /// Beginning of route refresh (BoRR).
    pub const BEGIN: u8 = 1;
    /// End of route refresh (EoRR).
    pub const END: u8 = 2;
}

/// The ROUTE-REFRESH message (RFC 2918 §3, RFC 7313 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// Subtype (see [`refresh_subtype`]); a receiver ignores values other than 0–2.
    pub subtype: u8,
}

/// A BGP message.
// UPDATE is by far the most frequent message; boxing it would cost an allocation per message
// to shrink the rare ones.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }
}

/// A decoded message and what to do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The message. For an UPDATE whose outcome is not `Accept`, discarded attributes are
    /// absent; under treat-as-withdraw every route it names must be withdrawn.
    pub message: Message,
    /// Bytes consumed from the input (the header's length field).
    pub length: usize,
    /// The RFC 7606 outcome (always `Accept` for messages other than UPDATE).
    pub outcome: Outcome,
}

fn header_reset(sub: u8, data: Vec<u8>, m: Malformation) -> DecodeError {
    DecodeError::Reset(Reset::new(code::MESSAGE_HEADER, sub, data, m))
}

/// The length of the message at the start of `buf`, once its header is complete: `Ok(None)`
/// when fewer than 19 bytes are available, an error when the header is invalid.
pub fn frame_length(ctx: &CodecContext, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(hdr) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if hdr[..16] != [0xff; 16] {
        let at = hdr[..16].iter().position(|b| *b != 0xff).unwrap_or(0);
        return Err(header_reset(
            subcode::CONNECTION_NOT_SYNCHRONIZED,
            Vec::new(),
            Malformation::new(at, "header.marker", "marker is not all ones"),
        ));
    }
    let len = usize::from(u16::from_be_bytes([hdr[16], hdr[17]]));
    let t = hdr[18];
    let max = match t {
        // OPEN and KEEPALIVE never exceed 4096 bytes (RFC 8654 §4).
        1 | 4 => MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    };
    if len < HEADER_LEN || len > max {
        return Err(header_reset(
            subcode::BAD_MESSAGE_LENGTH,
            hdr[16..18].to_vec(),
            Malformation::new(
                16,
                "header.length",
                format!("length {len} outside {HEADER_LEN}..={max}"),
            ),
        ));
    }
    Ok(Some(len))
}

/// Decodes the message at the start of `buf`.
///
/// Returns [`DecodeError::Incomplete`] when more bytes are needed, a session reset when the
/// message is malformed beyond repair, and otherwise the message with its RFC 7606 outcome.
pub fn decode_message(ctx: &CodecContext, buf: &[u8]) -> Result<Decoded, DecodeError> {
    let Some(len) = frame_length(ctx, buf)? else {
        return Err(DecodeError::Incomplete {
            needed: HEADER_LEN,
            available: buf.len(),
        });
    };
    let Some(msg) = buf.get(..len) else {
        return Err(DecodeError::Incomplete {
            needed: len,
            available: buf.len(),
        });
    };
    let t = msg[18];
    let bad_len = |min: &str| {
        header_reset(
            subcode::BAD_MESSAGE_LENGTH,
            msg[16..18].to_vec(),
            Malformation::new(
                16,
                "header.length",
                format!("length {len} invalid for this type ({min})"),
            ),
        )
    };
    let mut outcome = Outcome::Accept;
    let message = match t {
        1 => {
            if len < 29 {
                return Err(bad_len("at least 29"));
            }
            Message::Open(decode_open(msg)?)
        }
        2 => {
            if len < 23 {
                return Err(bad_len("at least 23"));
            }
            let (u, o) = decode_update(ctx, msg)?;
            outcome = o;
            Message::Update(u)
        }
        3 => {
            if len < 21 {
                return Err(bad_len("at least 21"));
            }
            Message::Notification(Notification {
                code: msg[19],
                subcode: msg[20],
                data: msg[21..].to_vec(),
            })
        }
        4 => {
            if len != HEADER_LEN {
                return Err(bad_len("exactly 19"));
            }
            Message::Keepalive
        }
        5 => {
            if len != 23 {
                // RFC 7313 §5: the whole message goes back as data.
                return Err(DecodeError::Reset(Reset::new(
                    code::ROUTE_REFRESH,
                    subcode::INVALID_ROUTE_REFRESH_LENGTH,
                    msg.to_vec(),
                    Malformation::new(
                        16,
                        "header.length",
                        format!("ROUTE-REFRESH of length {len} (must be 23)"),
                    ),
                )));
            }
            Message::RouteRefresh(RouteRefresh {
                family: Family::new(Afi(u16::from_be_bytes([msg[19], msg[20]])), Safi(msg[22])),
                subtype: msg[21],
            })
        }
        _ => {
            return Err(header_reset(
                subcode::BAD_MESSAGE_TYPE,
                vec![t],
                Malformation::new(18, "header.type", format!("unknown message type {t}")),
            ))
        }
    };
    Ok(Decoded {
        message,
        length: len,
        outcome,
    })
}

fn open_reset(sub: u8, data: Vec<u8>, m: Malformation) -> Reset {
    Reset::new(code::OPEN_MESSAGE, sub, data, m)
}

fn decode_open(msg: &[u8]) -> Result<Open, Reset> {
    let mut r = Reader::new(msg.get(HEADER_LEN..).unwrap_or_default(), HEADER_LEN);
    let short = |at: usize| {
        open_reset(
            subcode::OPEN_UNSPECIFIC,
            Vec::new(),
            Malformation::new(at, "open", "truncated"),
        )
    };
    let version = r.u8().ok_or_else(|| short(19))?;
    if version != 4 {
        return Err(open_reset(
            subcode::UNSUPPORTED_VERSION,
            vec![0, 4],
            Malformation::new(
                19,
                "open.version",
                format!("version {version} (only 4 is supported)"),
            ),
        ));
    }
    let my_as = r.u16().ok_or_else(|| short(20))?;
    let hold_time = r.u16().ok_or_else(|| short(22))?;
    let bgp_id = Ipv4Addr::from(r.array::<4>().ok_or_else(|| short(24))?);
    let opt_at = r.offset();
    let opt_len = r.u8().ok_or_else(|| short(opt_at))?;
    if my_as == 0 {
        return Err(open_reset(
            subcode::BAD_PEER_AS,
            Vec::new(),
            Malformation::new(20, "open.my_as", "AS 0 (RFC 7607)"),
        ));
    }
    if matches!(hold_time, 1 | 2) {
        return Err(open_reset(
            subcode::UNACCEPTABLE_HOLD_TIME,
            Vec::new(),
            Malformation::new(
                22,
                "open.hold_time",
                format!("hold time {hold_time} (must be 0 or at least 3)"),
            ),
        ));
    }
    if bgp_id.is_unspecified() {
        return Err(open_reset(
            subcode::BAD_BGP_IDENTIFIER,
            Vec::new(),
            Malformation::new(
                24,
                "open.bgp_identifier",
                "BGP identifier 0.0.0.0 (RFC 6286 §2.2)",
            ),
        ));
    }
    let malformed = |at: usize, field: &'static str, why: String| {
        open_reset(
            subcode::OPEN_UNSPECIFIC,
            Vec::new(),
            Malformation::new(at, field, why),
        )
    };
    // RFC 9072 §2: a non-zero length followed by type 255 announces the extended form.
    let extended = opt_len != 0 && r.peek_rest().first() == Some(&255);
    let mut params = if extended {
        let _marker = r.u8();
        let ext_at = r.offset();
        let ext_len = r.u16().ok_or_else(|| {
            malformed(
                ext_at,
                "open.extended_optional_parameters_length",
                "truncated".into(),
            )
        })?;
        r.sub(usize::from(ext_len)).ok_or_else(|| {
            malformed(
                ext_at,
                "open.extended_optional_parameters_length",
                format!("{ext_len} overruns the message"),
            )
        })?
    } else {
        r.sub(usize::from(opt_len)).ok_or_else(|| {
            malformed(
                opt_at,
                "open.optional_parameters_length",
                format!("{opt_len} overruns the message"),
            )
        })?
    };
    if !r.is_empty() {
        return Err(malformed(
            r.offset(),
            "open",
            "bytes after the optional parameters".into(),
        ));
    }
    let mut capabilities = Vec::new();
    while !params.is_empty() {
        let at = params.offset();
        let ptype = params
            .u8()
            .ok_or_else(|| malformed(at, "open.parameter", "truncated".into()))?;
        let plen = if extended {
            params.u16().map(usize::from)
        } else {
            params.u8().map(usize::from)
        }
        .ok_or_else(|| malformed(at, "open.parameter", "truncated parameter header".into()))?;
        let mut v = params.sub(plen).ok_or_else(|| {
            malformed(
                at + 1,
                "open.parameter.length",
                format!("parameter length {plen} overruns the optional parameters"),
            )
        })?;
        if ptype != 2 {
            return Err(open_reset(
                subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                Vec::new(),
                Malformation::new(
                    at,
                    "open.parameter.type",
                    format!("unsupported optional parameter type {ptype}"),
                ),
            ));
        }
        decode_capabilities(&mut v, &mut capabilities)
            .map_err(|m| open_reset(subcode::OPEN_UNSPECIFIC, Vec::new(), m))?;
    }
    // RFC 7607 §2: AS 0 as the peer AS is Bad Peer AS, in any instance of the capability
    // (validate_open refuses to send one, so accepting it here would not round-trip).
    if capabilities
        .iter()
        .any(|c| matches!(c, Capability::FourOctetAs(0)))
    {
        return Err(open_reset(
            subcode::BAD_PEER_AS,
            Vec::new(),
            Malformation::new(opt_at, "capability.four_octet_as", "AS 0 (RFC 7607)"),
        ));
    }
    Ok(Open {
        my_as,
        hold_time,
        bgp_id,
        capabilities,
    })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> EncodeError {
    EncodeError::InvalidValue {
        field,
        reason: reason.into(),
    }
}

/// Checks that `open` encodes to an OPEN that a peer decodes back unchanged.
pub fn validate_open(open: &Open) -> Result<(), EncodeError> {
    if open.my_as == 0 {
        return Err(invalid("open.my_as", "AS 0"));
    }
    if matches!(open.hold_time, 1 | 2) {
        return Err(invalid("open.hold_time", "must be 0 or at least 3"));
    }
    if open.bgp_id.is_unspecified() {
        return Err(invalid("open.bgp_id", "0.0.0.0"));
    }
    for c in &open.capabilities {
        let mut b = Vec::new();
        c.encode(&mut b);
        let value_len = b.len() - 2;
        let ok = match c {
            Capability::FourOctetAs(a) => *a != 0,
            Capability::GracefulRestart(gr) => gr.restart_time <= 0x0fff,
            Capability::LongLivedGracefulRestart(fs) => {
                fs.iter().all(|f| f.stale_time <= 0x00ff_ffff)
            }
            Capability::AddPath(fs) => !fs.is_empty(),
            Capability::Fqdn { hostname, domain } => {
                hostname.len() <= 255 && domain.len() <= 255 && value_len <= 255
            }
            Capability::Unknown { code, value } => {
                value.len() <= 255 && !crate::capability::is_typed_code(*code)
            }
            _ => true,
        };
        if !ok || value_len > 255 {
            return Err(invalid(
                "open.capabilities",
                format!("{} cannot be encoded as given", c.name()),
            ));
        }
    }
    Ok(())
}

fn encode_open(open: &Open, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    validate_open(open)?;
    let start = out.len();
    put_header(out, MessageType::Open);
    out.push(4);
    out.extend_from_slice(&open.my_as.to_be_bytes());
    out.extend_from_slice(&open.hold_time.to_be_bytes());
    out.extend_from_slice(&open.bgp_id.octets());
    // One Capabilities parameter per capability (as GoBGP and FRR send them).
    let mut params = Vec::new();
    for c in &open.capabilities {
        let mut cap = Vec::new();
        c.encode(&mut cap);
        params.push(cap);
    }
    let classic: usize = params.iter().map(|p| p.len() + 2).sum();
    if classic <= 255 {
        out.push(classic as u8);
        for p in &params {
            out.push(2);
            out.push(p.len() as u8);
            out.extend_from_slice(p);
        }
    } else {
        // RFC 9072 §2: the extended form, one parameter holding all capabilities.
        let caps: usize = params.iter().map(Vec::len).sum();
        let total = caps + 3;
        let total16 = u16::try_from(total).map_err(|_| invalid("open.capabilities", "too long"))?;
        out.push(255);
        out.push(255);
        out.extend_from_slice(&total16.to_be_bytes());
        out.push(2);
        out.extend_from_slice(&(caps as u16).to_be_bytes());
        for p in &params {
            out.extend_from_slice(p);
        }
    }
    if let Err(e) = patch_len(out, start, MAX_MESSAGE_LEN) {
        out.truncate(start);
        return Err(e);
    }
    Ok(())
}

/// Appends `msg` to `out`, encoded for a session with context `ctx`.
pub fn encode_message(
    ctx: &CodecContext,
    msg: &Message,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = match msg {
        Message::Open(o) => encode_open(o, out),
        Message::Update(u) => encode_update(ctx, u, out),
        Message::Notification(n) => {
            put_header(out, MessageType::Notification);
            out.push(n.code);
            out.push(n.subcode);
            out.extend_from_slice(&n.data);
            patch_len(out, start, ctx.max_message_len())
        }
        Message::Keepalive => {
            put_header(out, MessageType::Keepalive);
            patch_len(out, start, MAX_MESSAGE_LEN)
        }
        Message::RouteRefresh(rr) => {
            put_header(out, MessageType::RouteRefresh);
            out.extend_from_slice(&rr.family.afi.0.to_be_bytes());
            out.push(rr.subtype);
            out.push(rr.family.safi.0);
            patch_len(out, start, MAX_MESSAGE_LEN)
        }
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Decodes every message in `buf` in order, stopping at the first error. Returns the decoded
/// messages and the error, if any, with its absolute offset applied.
pub fn decode_all(ctx: &CodecContext, buf: &[u8]) -> (Vec<Decoded>, Option<(usize, DecodeError)>) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match decode_message(ctx, &buf[pos..]) {
            Ok(d) => {
                pos += d.length;
                out.push(d);
            }
            Err(e) => return (out, Some((pos, e))),
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OPEN (AS 65001, hold 90, id 198.18.0.1) whose optional parameters hold `caps`, each
    /// `(code, value)` in its own Capabilities parameter (RFC 4271 §4.2, RFC 5492 §4).
    fn open_with(caps: &[(u8, &[u8])]) -> Vec<u8> {
        let mut params = Vec::new();
        for (code, value) in caps {
            params.extend_from_slice(&[2, value.len() as u8 + 2, *code, value.len() as u8]);
            params.extend_from_slice(value);
        }
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&[0, 0, 1]); // length (patched below), type OPEN
        m.extend_from_slice(&[4, 0xfd, 0xe9, 0, 90, 198, 18, 0, 1]); // version, AS, hold, id
        m.push(params.len() as u8);
        m.extend_from_slice(&params);
        let len = m.len() as u16;
        m[16..18].copy_from_slice(&len.to_be_bytes());
        m
    }

    /// Found by fuzzing (roundtrip target): a second 4-octet AS capability carrying AS 0 was
    /// accepted because only the first instance was checked.
    #[test]
    fn four_octet_as_zero_in_any_instance_is_bad_peer_as() {
        let ctx = CodecContext::default();
        let ok = open_with(&[(65, &[0, 0x01, 0x00, 0x00])]);
        assert!(decode_message(&ctx, &ok).is_ok());
        for caps in [
            &[(65u8, &[0u8, 0, 0, 0][..])][..],
            &[(65, &[0, 0x01, 0x00, 0x00][..]), (65, &[0, 0, 0, 0][..])][..],
        ] {
            match decode_message(&ctx, &open_with(caps)) {
                Err(DecodeError::Reset(r)) => {
                    assert_eq!(
                        (r.code, r.subcode),
                        (code::OPEN_MESSAGE, subcode::BAD_PEER_AS)
                    )
                }
                other => panic!("AS 0 accepted: {other:?}"),
            }
        }
    }
}
