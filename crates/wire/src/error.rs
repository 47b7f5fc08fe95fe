//! Decode errors as typed RFC 7606 outcomes.
//!
//! RFC 7606 §2 replaces "reset the session on any error" with graded actions. The decoder
//! reports exactly one [`Outcome`] per UPDATE (the most severe of everything it found, RFC 7606
//! §3), or a [`Reset`] when the session must be closed with a NOTIFICATION. Every finding is a
//! [`Malformation`] that names the byte offset, the field and what was wrong, so that operators
//! (and `evpnctl decode`) can see precisely why.

use crate::types::Family;
use std::fmt;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 §5).
pub mod code {
    /// Message Header Error (RFC 4271 §6.1).
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error (RFC 4271 §6.2).
    pub const OPEN_MESSAGE: u8 = 2;
    /// UPDATE Message Error (RFC 4271 §6.3).
    pub const UPDATE_MESSAGE: u8 = 3;
    /// Hold Timer Expired (RFC 4271 §6.5).
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error (RFC 4271 §6.6).
    pub const FSM: u8 = 5;
    /// Cease (RFC 4271 §6.7, RFC 4486).
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313 §5).
    pub const ROUTE_REFRESH: u8 = 7;
}

/// NOTIFICATION error subcodes, grouped by error code.
pub mod subcode {
    /// Message Header Error: Connection Not Synchronized (bad marker).
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    /// Message Header Error: Bad Message Length.
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    /// Message Header Error: Bad Message Type.
    pub const BAD_MESSAGE_TYPE: u8 = 3;

    /// OPEN Message Error: unspecific (RFC 4271 §4.5).
    pub const OPEN_UNSPECIFIC: u8 = 0;
    /// OPEN Message Error: Unsupported Version Number.
    pub const UNSUPPORTED_VERSION: u8 = 1;
    /// OPEN Message Error: Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// OPEN Message Error: Bad BGP Identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// OPEN Message Error: Unsupported Optional Parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// OPEN Message Error: Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// OPEN Message Error: Unsupported Capability (RFC 5492 §5).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    /// OPEN Message Error: Role Mismatch (RFC 9234 §4.2): the peers' BGP Roles do not
    /// correspond, or a peer sent BGP Role capabilities with different values.
    pub const ROLE_MISMATCH: u8 = 11;

    /// UPDATE Message Error: Malformed Attribute List.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// UPDATE Message Error: Unrecognized Well-known Attribute.
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    /// UPDATE Message Error: Missing Well-known Attribute.
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    /// UPDATE Message Error: Attribute Flags Error.
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    /// UPDATE Message Error: Attribute Length Error.
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    /// UPDATE Message Error: Invalid ORIGIN Attribute.
    pub const INVALID_ORIGIN: u8 = 6;
    /// UPDATE Message Error: Invalid NEXT_HOP Attribute.
    pub const INVALID_NEXT_HOP: u8 = 8;
    /// UPDATE Message Error: Optional Attribute Error.
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    /// UPDATE Message Error: Invalid Network Field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// UPDATE Message Error: Malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;

    /// ROUTE-REFRESH Message Error: Invalid Message Length (RFC 7313 §5).
    pub const INVALID_ROUTE_REFRESH_LENGTH: u8 = 1;
}

/// One thing found wrong in a received message: where, in which field, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformation {
    /// Byte offset from the first byte of the message (the marker).
    pub offset: usize,
    /// The field at fault, e.g. `"MP_REACH_NLRI.next_hop_length"`.
    pub field: &'static str,
    /// The path attribute type code the field belongs to, if any.
    pub attribute: Option<u8>,
    /// What was wrong, in words.
    pub reason: String,
}

impl Malformation {
    /// A finding at `offset` in `field`.
    pub fn new(offset: usize, field: &'static str, reason: impl Into<String>) -> Self {
        Malformation {
            offset,
            field,
            attribute: None,
            reason: reason.into(),
        }
    }

    /// The same finding, attributed to path attribute `type_code`.
    pub fn in_attribute(mut self, type_code: u8) -> Self {
        self.attribute = Some(type_code);
        self
    }
}

impl fmt::Display for Malformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {}: {}: {}", self.offset, self.field, self.reason)
    }
}

/// What the receiver of an UPDATE must do with it (RFC 7606 §2), short of a session reset.
///
/// A session reset is not an `Outcome` but the [`Reset`] error, because nothing of the message
/// may be used then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was wrong: use the UPDATE as it is.
    Accept,
    /// "Attribute discard" (RFC 7606 §2): the listed attributes were removed from the decoded
    /// UPDATE; the rest of it is to be used as usual.
    AttributeDiscard(Vec<Malformation>),
    /// "Treat-as-withdraw" (RFC 7606 §2): every route the UPDATE carries, announced or
    /// withdrawn, is to be withdrawn (see [`crate::Update::treat_as_withdraw`]). The causes are
    /// listed, including any lesser findings.
    TreatAsWithdraw(Vec<Malformation>),
    /// "AFI/SAFI disable" (RFC 7606 §2, RFC 4760 §7): the routes of `family` in this message
    /// could not be parsed; the receiver must stop using that family with this peer (or reset
    /// the session if it does not support disabling a family).
    AfiSafiDisable {
        /// The address family that cannot be trusted any more.
        family: Family,
        /// Why.
        cause: Malformation,
    },
}

impl Outcome {
    /// Short stable name of the outcome, as used in JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Accept => "accept",
            Outcome::AttributeDiscard(_) => "attribute-discard",
            Outcome::TreatAsWithdraw(_) => "treat-as-withdraw",
            Outcome::AfiSafiDisable { .. } => "afi-safi-disable",
        }
    }

    /// All findings behind this outcome.
    pub fn causes(&self) -> &[Malformation] {
        match self {
            Outcome::Accept => &[],
            Outcome::AttributeDiscard(c) | Outcome::TreatAsWithdraw(c) => c,
            Outcome::AfiSafiDisable { cause, .. } => std::slice::from_ref(cause),
        }
    }
}

/// "Session reset" (RFC 7606 §2): the message cannot be used at all and the session must be
/// closed with the NOTIFICATION given here. `data` is built only from received bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reset {
    /// NOTIFICATION error code.
    pub code: u8,
    /// NOTIFICATION error subcode.
    pub subcode: u8,
    /// NOTIFICATION data field.
    pub data: Vec<u8>,
    /// What was wrong.
    pub cause: Malformation,
}

impl Reset {
    /// A reset with the given NOTIFICATION code, subcode and data.
    pub fn new(code: u8, subcode: u8, data: Vec<u8>, cause: Malformation) -> Self {
        Reset {
            code,
            subcode,
            data,
            cause,
        }
    }
}

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session reset (NOTIFICATION {}/{}): {}",
            self.code, self.subcode, self.cause
        )
    }
}

impl std::error::Error for Reset {}

/// Why a byte stream could not be decoded into a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the message needs are available; read more and try again.
    Incomplete {
        /// How many bytes the whole message needs (19 if the header is not complete yet).
        needed: usize,
        /// How many bytes were given.
        available: usize,
    },
    /// The message is malformed beyond repair: close the session with this NOTIFICATION.
    Reset(Reset),
}

impl From<Reset> for DecodeError {
    fn from(r: Reset) -> Self {
        DecodeError::Reset(r)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed, available } => write!(
                f,
                "incomplete message: {needed} bytes needed, {available} available"
            ),
            DecodeError::Reset(r) => r.fmt(f),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a value could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The message would exceed the maximum message size of the session.
    TooLong {
        /// The size the message would have.
        length: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// A field holds a value the wire format cannot carry.
    InvalidValue {
        /// The field.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLong { length, max } => {
                write!(f, "message of {length} bytes exceeds the maximum of {max}")
            }
            EncodeError::InvalidValue { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}

impl std::error::Error for EncodeError {}
