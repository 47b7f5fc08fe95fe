//! The trace: every input delivered to a node, every output it produced, every command and
//! every fault, as a compact record folded into a running 64-bit hash. Two runs from the same
//! seed produce the same sequence of records, hence the same [`Trace::hash`]; comparing hashes
//! is how a test proves determinism without keeping the records. The records themselves can be
//! kept ([`crate::SimConfig::keep_trace`]) to find where two runs part.

use std::hash::Hasher;
use std::time::Duration;

/// What a trace record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TraceKind {
    /// The node asked for a connection ([`evpnd_node::Output::Connect`]).
    Connect = 1,
    /// A connection reached the node and it accepted it.
    Accept,
    /// A connection reached the node and it refused it.
    Refuse,
    /// The node's outgoing connection is up.
    Connected,
    /// The node's outgoing connection failed.
    ConnectFailed,
    /// The node wrote bytes.
    Send,
    /// Bytes reached the node.
    Receive,
    /// Every byte the node queued on a connection is written.
    Drained,
    /// Some of the bytes the node queued on a connection are written.
    WriteProgress,
    /// The node closed a connection.
    Close,
    /// The node aborted a connection.
    Abort,
    /// A connection of the node was closed by the other end or the network.
    Closed,
    /// The node's timer ran.
    Timeout,
    /// A data-plane intent was applied.
    Intent,
    /// A data-plane intent was refused as inconsistent.
    IntentRefused,
    /// The node reported an event.
    Event,
    /// A command was given to the node (its digest covers the command and the result).
    Command,
    /// A neighbour was added or removed (listener settings).
    Listener,
    /// The node crashed.
    Crash,
    /// The node started again.
    Restart,
    /// The network was partitioned or healed (node 0; digest covers the groups).
    Partition,
    /// The connections between two nodes were reset.
    Cut,
}

/// One record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// Virtual time since the start of the run.
    pub at: Duration,
    /// The node.
    pub node: u32,
    /// What happened.
    pub kind: TraceKind,
    /// The node's connection, when about one (0 otherwise).
    pub conn: u64,
    /// Bytes involved, when any.
    pub len: u64,
    /// A hash of the content (bytes, intent, command).
    pub digest: u64,
}

/// The running hash and, optionally, the records.
#[derive(Clone, Debug)]
pub struct Trace {
    hash: u64,
    count: u64,
    log: Option<Vec<TraceRecord>>,
}

impl Trace {
    /// An empty trace; `keep` keeps the records too.
    pub fn new(keep: bool) -> Self {
        Trace {
            hash: FNV_OFFSET,
            count: 0,
            log: keep.then(Vec::new),
        }
    }

    /// Folds `r` into the hash (and keeps it when asked to).
    pub fn record(&mut self, r: TraceRecord) {
        let mut h = Fnv(self.hash);
        h.write_u64(r.at.as_nanos() as u64);
        h.write_u32(r.node);
        h.write_u8(r.kind as u8);
        h.write_u64(r.conn);
        h.write_u64(r.len);
        h.write_u64(r.digest);
        self.hash = h.0;
        self.count += 1;
        if let Some(log) = &mut self.log {
            log.push(r);
        }
    }

    /// The running hash of every record so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// How many records were folded in.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The records, when kept.
    pub fn records(&self) -> Option<&[TraceRecord]> {
        self.log.as_deref()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a: small, fixed, the same on every platform and in every run (unlike the
/// standard library's randomly keyed hasher).
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(FNV_OFFSET)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash of a byte string, eight bytes at a time (the wire bytes of a busy run are large;
/// byte-wise FNV would dominate the profile).
pub fn digest_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = FNV_OFFSET ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    let mut w = [0u8; 8];
    w[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// A hash of any value with a derived `Hash` (intents, addresses), through [`Fnv`].
pub fn digest<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    let mut h = Fnv::default();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at_ms: u64, kind: TraceKind, digest: u64) -> TraceRecord {
        TraceRecord {
            at: Duration::from_millis(at_ms),
            node: 1,
            kind,
            conn: 2,
            len: 3,
            digest,
        }
    }

    #[test]
    fn the_hash_depends_on_every_field_and_the_order() {
        let mut a = Trace::new(true);
        let mut b = Trace::new(false);
        for t in [&mut a, &mut b] {
            t.record(rec(1, TraceKind::Send, 7));
            t.record(rec(2, TraceKind::Receive, 7));
        }
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.len(), 2);
        assert_eq!(a.records().map(<[TraceRecord]>::len), Some(2));
        assert!(b.records().is_none());
        let mut c = Trace::new(false);
        c.record(rec(2, TraceKind::Receive, 7));
        c.record(rec(1, TraceKind::Send, 7));
        assert_ne!(a.hash(), c.hash());
        let mut d = Trace::new(false);
        d.record(rec(1, TraceKind::Send, 7));
        d.record(rec(2, TraceKind::Receive, 8));
        assert_ne!(a.hash(), d.hash());
    }

    #[test]
    fn byte_digests_see_every_byte_and_the_length() {
        let base = digest_bytes(b"0123456789abcdef");
        assert_eq!(base, digest_bytes(b"0123456789abcdef"));
        assert_ne!(base, digest_bytes(b"0123456789abcdeF"));
        assert_ne!(base, digest_bytes(b"1123456789abcdef"));
        assert_ne!(digest_bytes(b"ab"), digest_bytes(b"ab\0"));
        assert_ne!(digest_bytes(b""), digest_bytes(b"\0"));
    }
}
