//! The per-session facts that change how bytes are read and written.

use crate::types::Family;

/// Maximum BGP message size without the extended message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum BGP message size with the extended message capability (RFC 8654 §4).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// What the two speakers negotiated, as far as the codec needs to know.
///
/// The same type serves both directions: when decoding, `add_path` lists the families for which
/// the peer sends path identifiers; when encoding, those for which we send them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecContext {
    /// Both sides announced the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR carry
    /// 4-octet AS numbers.
    pub four_octet_as: bool,
    /// Both sides announced the extended message capability (RFC 8654): messages up to 65535
    /// bytes.
    pub extended_message: bool,
    /// Families whose NLRI carry an ADD-PATH path identifier (RFC 7911 §3).
    pub add_path: Vec<Family>,
    /// The peer is in another AS (eBGP). Some attributes are discarded when they come from an
    /// external peer (RFC 7606 §7.5, §7.9, §7.10).
    pub external_peer: bool,
}

impl Default for CodecContext {
    /// A modern session: 4-octet AS, no extended messages, no ADD-PATH, iBGP.
    fn default() -> Self {
        CodecContext {
            four_octet_as: true,
            extended_message: false,
            add_path: Vec::new(),
            external_peer: false,
        }
    }
}

impl CodecContext {
    /// The largest message this session allows.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// True when NLRI of `family` carry path identifiers.
    pub fn has_path_id(&self, family: Family) -> bool {
        self.add_path.contains(&family)
    }
}
