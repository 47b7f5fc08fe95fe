//! The attributes that carry AS numbers: AS_PATH and AS4_PATH (RFC 4271 §5.1.2, RFC 6793),
//! AGGREGATOR and AS4_AGGREGATOR (RFC 4271 §5.1.7), with the RFC 7607 rule against AS 0.

use crate::reader::Reader;
use crate::types::AS_TRANS;
use std::net::Ipv4Addr;

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentType {
    /// AS_SET.
    Set = 1,
    /// AS_SEQUENCE.
    Sequence = 2,
    /// AS_CONFED_SEQUENCE.
    ConfedSequence = 3,
    /// AS_CONFED_SET.
    ConfedSet = 4,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }

    /// True for the confederation segment types.
    pub fn is_confed(&self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One AS_PATH segment. It holds 1..=255 AS numbers on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// The AS numbers.
    pub asns: Vec<u32>,
}

/// An AS_PATH or AS4_PATH (RFC 4271 §5.1.2, RFC 6793).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// Segments in wire order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE, or empty if `asns` is empty.
    pub fn sequence(asns: Vec<u32>) -> Self {
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2): an AS_SET counts as one,
    /// confederation segments count as zero.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// True when `asn` appears anywhere in the path (loop detection, RFC 4271 §9.1.2).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// The leftmost AS of the first AS_SEQUENCE (the neighbour AS), if any.
    pub fn first_asn(&self) -> Option<u32> {
        match self.segments.first() {
            Some(s) if s.kind == SegmentType::Sequence => s.asns.first().copied(),
            _ => None,
        }
    }
}

/// AGGREGATOR / AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// The AS that formed the aggregate.
    pub asn: u32,
    /// The BGP identifier of the speaker that formed it.
    pub address: Ipv4Addr,
}

/// An AS_PATH/AS4_PATH as read, and the offset of its first AS number 0, which RFC 7607 §2
/// makes the attribute malformed (the caller decides the RFC 7606 action).
pub(super) struct ReadAsPath {
    pub(super) path: AsPath,
    pub(super) as0_at: Option<usize>,
}

pub(super) fn decode_as_path(
    v: &mut Reader<'_>,
    four_octet: bool,
) -> Result<ReadAsPath, (usize, String)> {
    let width = if four_octet { 4 } else { 2 };
    let mut segments = Vec::new();
    let mut as0_at = None;
    while !v.is_empty() {
        let at = v.offset();
        let kind_raw = v.u8().ok_or((at, "missing segment type".to_string()))?;
        let kind = SegmentType::from_u8(kind_raw)
            .ok_or_else(|| (at, format!("undefined segment type {kind_raw}")))?;
        let count = v
            .u8()
            .ok_or_else(|| (at + 1, "missing segment length".to_string()))?;
        if count == 0 {
            return Err((at + 1, "segment with zero AS numbers".into()));
        }
        let asns_at = v.offset();
        let bytes = v.take(usize::from(count) * width).ok_or_else(|| {
            (
                at + 1,
                format!("segment of {count} AS numbers overruns the attribute"),
            )
        })?;
        let asns: Vec<u32> = bytes
            .chunks_exact(width)
            .map(|c| {
                if four_octet {
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    u32::from(u16::from_be_bytes([c[0], c[1]]))
                }
            })
            .collect();
        if as0_at.is_none() {
            as0_at = asns
                .iter()
                .position(|a| *a == 0)
                .map(|i| asns_at + i * width);
        }
        segments.push(AsSegment { kind, asns });
    }
    Ok(ReadAsPath {
        path: AsPath { segments },
        as0_at,
    })
}

pub(super) fn encode_as_path(p: &AsPath, four_octet: bool, out: &mut Vec<u8>) {
    for s in &p.segments {
        for chunk in s.asns.chunks(255) {
            out.push(s.kind as u8);
            out.push(chunk.len() as u8);
            for asn in chunk {
                if four_octet {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let a = u16::try_from(*asn).unwrap_or(AS_TRANS);
                    out.extend_from_slice(&a.to_be_bytes());
                }
            }
        }
    }
}
