//! The operations of the stream after the setup, each a tag byte and its arguments.

use arbitrary::Unstructured;
use std::time::Duration;

/// One operation of the stream after the setup. Each starts with a tag byte (modulo 8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// Tag 0, a length byte, then that many bytes (fewer at the end of the input) from the peer.
    Bytes(&'a [u8]),
    /// Tag 1, two length bytes (big-endian), then that many bytes from the peer.
    LongBytes(&'a [u8]),
    /// Tag 2: the rest of the input, from the peer, in one piece.
    Rest(&'a [u8]),
    /// Tag 3, one byte: time passes (bits 6-7 the unit: 100 ms, 1 s, 10 s, 60 s; bits 0-5
    /// the count) and the due timers run.
    Wait(u8),
    /// Tag 4, four bytes: an UPDATE of the generator
    /// ([`Setup::generated_update`](super::Setup::generated_update)).
    Generated([u8; 4]),
    /// Tag 5: the peer closes the TCP connection.
    PeerCloses,
    /// Tag 6: when the connection is gone, the peer connects again and sends OPEN and
    /// KEEPALIVE.
    Reconnect,
    /// Tag 7, one byte: the data plane learns (bit 7 clear) or forgets local MAC `b & 7` of the
    /// pool in VNI 100 (bit 6 clear) or 200, with IP 192.0.2.x when bit 5.
    LocalMac(u8),
}

impl<'a> Op<'a> {
    /// The next operation of `u` (`None` at the end).
    pub fn take(u: &mut Unstructured<'a>) -> Option<Op<'a>> {
        if u.is_empty() {
            return None;
        }
        Some(match byte(u) % 8 {
            0 => {
                let n = usize::from(byte(u));
                Op::Bytes(take_bytes(u, n))
            }
            1 => {
                let n = usize::from(u16::from_be_bytes([byte(u), byte(u)]));
                Op::LongBytes(take_bytes(u, n))
            }
            2 => Op::Rest(take_bytes(u, usize::MAX)),
            3 => Op::Wait(byte(u)),
            4 => Op::Generated([byte(u), byte(u), byte(u), byte(u)]),
            5 => Op::PeerCloses,
            6 => Op::Reconnect,
            _ => Op::LocalMac(byte(u)),
        })
    }

    /// Appends the encoding of this operation to `out` (for the seed corpus).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Op::Bytes(b) => {
                out.push(0);
                out.push(u8::try_from(b.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(&b[..b.len().min(255)]);
            }
            Op::LongBytes(b) => {
                let n = b.len().min(usize::from(u16::MAX));
                out.push(1);
                out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
                out.extend_from_slice(&b[..n]);
            }
            Op::Rest(b) => {
                out.push(2);
                out.extend_from_slice(b);
            }
            Op::Wait(d) => out.extend_from_slice(&[3, *d]),
            Op::Generated(p) => {
                out.push(4);
                out.extend_from_slice(p);
            }
            Op::PeerCloses => out.push(5),
            Op::Reconnect => out.push(6),
            Op::LocalMac(b) => out.extend_from_slice(&[7, *b]),
        }
    }
}

/// The next byte of `u` (0 at the end).
pub(super) fn byte(u: &mut Unstructured<'_>) -> u8 {
    u.arbitrary::<u8>().unwrap_or(0)
}

/// The next `n` bytes of `u`, fewer at the end.
fn take_bytes<'a>(u: &mut Unstructured<'a>, n: usize) -> &'a [u8] {
    let n = n.min(u.len());
    u.bytes(n).unwrap_or(&[])
}

/// The duration of [`Op::Wait`].
pub fn wait_duration(b: u8) -> Duration {
    let count = u64::from(b & 63);
    match b >> 6 {
        0 => Duration::from_millis(100 * count),
        1 => Duration::from_secs(count),
        2 => Duration::from_secs(10 * count),
        _ => Duration::from_secs(60 * count),
    }
}
