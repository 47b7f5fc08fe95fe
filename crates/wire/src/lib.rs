//! # evpnd-wire: the BGP-4 and EVPN codec of evpnd
//!
//! A sans-I/O codec: [`decode_message`] turns bytes into typed [`Message`]s and
//! [`encode_message`] turns them back into bytes. Nothing here touches a socket or a clock.
//!
//! * Messages: OPEN (with RFC 9072 extended optional parameters), UPDATE, NOTIFICATION,
//!   KEEPALIVE, ROUTE-REFRESH (RFC 2918, RFC 7313).
//! * Capabilities, path attributes, extended communities and NLRI for IPv4/IPv6 unicast,
//!   RT-Constraint (RFC 4684) and L2VPN EVPN (RFC 7432, RFC 9136), with ADD-PATH (RFC 7911).
//! * Errors are typed RFC 7606 outcomes: an UPDATE decodes to its content plus one
//!   [`Outcome`] (accept, attribute-discard, treat-as-withdraw, AFI/SAFI-disable), or to a
//!   [`Reset`] that carries the NOTIFICATION to send. No input makes the decoder panic, read
//!   past a length field or allocate more than the input's size.
//!
//! The context of a session (4-octet AS, extended messages, ADD-PATH families, eBGP) is a
//! [`CodecContext`], passed to every call.
//!
//! ## Error policy where the RFCs leave a choice
//! * A malformed route of a known EVPN route type (wrong per-type length, MAC length ≠ 48, IP
//!   length ∉ {0, 32, 128}, type-5 prefix length too long) makes the MP_REACH/MP_UNREACH
//!   unparseable in the sense of RFC 7606 §5.3: the outcome is AFI/SAFI-disable for EVPN.
//!   Routes of unknown types are skipped by their length and counted (RFC 7606 §5.4).
//! * An attribute whose length overruns the attribute list is treat-as-withdraw (RFC 7606 §4)
//!   when the routes can still all be found: the NLRI or Withdrawn Routes field is not empty,
//!   or an MP attribute was read before the overrun. When neither holds, the routes may sit in
//!   an MP attribute past the break, treat-as-withdraw cannot name them, and the session is
//!   reset instead (RFC 7606 §3(j)).
//! * An UPDATE with path attributes (besides MP_UNREACH_NLRI) but no reachable NLRI, whose
//!   error calls for more than attribute-discard, resets the session with the RFC 4271 §6.3
//!   subcode and data of that error (RFC 7606 §5.2).

#![forbid(unsafe_code)]

pub mod attribute;
pub mod capability;
pub mod community;
pub mod context;
pub mod error;
pub mod evpn;
#[cfg(feature = "json")]
pub mod json;
pub mod message;
pub mod nlri;
mod reader;
pub mod types;
pub mod update;

pub use attribute::{
    Aggregator, AsPath, AsSegment, MpReach, MpUnreach, NextHop, Origin, PathAttribute, PmsiTunnel,
    PmsiTunnelId, SegmentType, UnknownAttribute,
};
pub use capability::Capability;
pub use community::{
    Community, ExtCommunityKind, ExtendedCommunity, Ipv6ExtCommunityKind, Ipv6ExtendedCommunity,
    LargeCommunity, RouteTarget,
};
pub use context::CodecContext;
pub use error::{DecodeError, EncodeError, Malformation, Outcome, Reset};
pub use evpn::{
    EthernetAdRoute, EthernetSegmentRoute, EvpnRoute, InclusiveMulticastRoute, IpPrefixRoute,
    MacIpRoute,
};
pub use message::{
    decode_all, decode_message, encode_message, frame_length, Decoded, Message, MessageType,
    Notification, Open, RouteRefresh,
};
pub use nlri::{Nlri, Route, RtMembership};
pub use types::{
    Afi, Esi, Family, InvalidVni, IpPrefix, Label, MacAddress, RouteDistinguisher, Safi, Vni,
};
pub use update::{encode_update, AttrSet, Update, UpdatePacker};
