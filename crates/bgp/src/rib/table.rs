//! The Loc-RIB of one address family: every route with all its paths, best first.
//!
//! Layout, chosen for the memory goals of issue #3 (≤ 100 bytes per stored type-2 route):
//! entries sit in one dense `Vec` (a route is found again by its `u32` index), and a compact
//! open-addressing index maps a route to its entry with 5 bytes per slot (a tag byte and the
//! `u32` index). Routes are stored under their key (`key.rs`: the NLRI without the EVPN fields
//! that RFC 7432 §7 and RFC 9136 §3.1 call attributes, such as labels); those fields belong to
//! each path and live in its interned attributes. A route with one path stores the path inline:
//! an `Arc` to the interned attributes, the source and the path identifier. The "changed since
//! the last flush" flag is one bit per entry, beside the entries. There is no separate Adj-RIB-In copy: the
//! paths of a route *are* the Adj-RIB-In entries of the peers that sent it (no inbound policy
//! changes them), and no per-peer Adj-RIB-Out copy either (see `out.rs`).

use super::intern::PathAttrs;
use super::key::RouteKey;
use evpnd_wire::Family;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// Source index of locally originated routes.
pub(crate) const LOCAL: u32 = u32::MAX;

/// One path of a route, as stored.
#[derive(Clone, Debug)]
pub(crate) struct StoredPath {
    /// The interned attributes.
    pub attrs: Arc<PathAttrs>,
    /// The source: an index into the RIB's sources, or [`LOCAL`].
    pub src: u32,
    /// ADD-PATH path identifier (meaningful when `has_path_id`).
    pub path_id: u32,
    /// The path arrived with a path identifier (RFC 7911).
    pub has_path_id: bool,
    /// Kept from a restarting peer (RFC 4724 §4.2).
    pub stale: bool,
}

impl StoredPath {
    /// The path identifier as received.
    pub fn path_id(&self) -> Option<u32> {
        self.has_path_id.then_some(self.path_id)
    }

    /// The advertisement view of this path.
    pub fn adv(&self) -> AdvRef<'_> {
        AdvRef {
            src: self.src,
            attrs: &self.attrs,
        }
    }
}

/// The paths of one route, best first. One path is stored inline.
#[derive(Debug, Default)]
pub(crate) enum Paths {
    /// No path: the entry is free or about to be freed.
    #[default]
    Empty,
    /// The common case.
    One(StoredPath),
    /// Two or more paths.
    Many(Box<[StoredPath]>),
}

impl Paths {
    /// All paths, best first.
    pub fn as_slice(&self) -> &[StoredPath] {
        match self {
            Paths::Empty => &[],
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }

    /// The best path.
    pub fn best(&self) -> Option<&StoredPath> {
        self.as_slice().first()
    }

    /// True when no path is left.
    pub fn is_empty(&self) -> bool {
        matches!(self, Paths::Empty)
    }

    /// Replaces the paths with `v`, normalising the representation.
    pub fn set(&mut self, mut v: Vec<StoredPath>) {
        *self = match v.len() {
            0 => Paths::Empty,
            1 => match v.pop() {
                Some(p) => Paths::One(p),
                None => Paths::Empty,
            },
            _ => Paths::Many(v.into_boxed_slice()),
        };
    }

    /// Takes the paths out as a vector.
    pub fn take_vec(&mut self) -> Vec<StoredPath> {
        match std::mem::take(self) {
            Paths::Empty => Vec::new(),
            Paths::One(p) => vec![p],
            Paths::Many(v) => v.into_vec(),
        }
    }
}

/// The advertised state of a route: the best path's source and attributes.
#[derive(Clone, Debug)]
pub(crate) struct Adv {
    /// Source index or [`LOCAL`].
    pub src: u32,
    /// Its attributes.
    pub attrs: Arc<PathAttrs>,
}

impl Adv {
    /// The borrowed view.
    pub fn as_ref(&self) -> AdvRef<'_> {
        AdvRef {
            src: self.src,
            attrs: &self.attrs,
        }
    }
}

/// A borrowed advertisement: what decides what a peer receives for a route.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdvRef<'a> {
    /// Source index or [`LOCAL`].
    pub src: u32,
    /// Attributes.
    pub attrs: &'a Arc<PathAttrs>,
}

impl AdvRef<'_> {
    /// Identity of the advertisement: attribute set (by address) and source.
    pub fn key(&self) -> (usize, u32) {
        (Arc::as_ptr(self.attrs) as usize, self.src)
    }

    /// An owned copy.
    pub fn to_owned(self) -> Adv {
        Adv {
            src: self.src,
            attrs: self.attrs.clone(),
        }
    }
}

/// One route of the Loc-RIB.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The route key (without path identifier and without the non-key NLRI fields, which
    /// each path keeps in its attributes).
    pub key: RouteKey,
    /// Its paths, best first.
    pub paths: Paths,
}

/// A route changed since the last flush, with what was advertised for it before.
#[derive(Debug)]
pub(crate) struct Dirty {
    /// Entry index.
    pub idx: u32,
    /// The best path at the previous flush.
    pub old: Option<Adv>,
}

/// A fast keyed hasher (multiply-rotate, FxHash style, with a final avalanche) for route keys. The
/// seed is random per table so that route keys cannot be chosen to collide in advance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteHasher {
    seed: u64,
}

impl RouteHasher {
    fn new() -> Self {
        // RandomState is seeded from the OS once per process; hashing a constant gives a
        // random 64-bit seed without reading a clock.
        RouteHasher {
            seed: std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }

    /// The 64-bit hash of `key`.
    pub fn hash(&self, key: &RouteKey) -> u64 {
        let mut h = Fx(self.seed);
        key.hash(&mut h);
        h.finish()
    }
}

struct Fx(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Fx {
    #[inline]
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(K);
    }
}

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // murmur3 fmix64: every input bit reaches the tag (top) and position (bottom) bits.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

const EMPTY: u8 = 0;
const TOMBSTONE: u8 = 1;

fn tag_of(h: u64) -> u8 {
    // The top byte, moved off EMPTY and TOMBSTONE: 254 values, so that a probe passing an
    // entry of another route compares the keys (a random read of the entry) once in 254.
    match (h >> 56) as u8 {
        t @ (EMPTY | TOMBSTONE) => t + 2,
        t => t,
    }
}

/// Open-addressing index (linear probing) from route hash to entry index: one tag byte and
/// one `u32` per slot, at most 80% of the slots used (live entries plus tombstones).
#[derive(Debug, Default)]
struct Index {
    tags: Vec<u8>,
    slots: Vec<u32>,
    live: usize,
    tombstones: usize,
}

impl Index {
    fn mask(&self) -> usize {
        self.tags.len().wrapping_sub(1)
    }

    /// The slot holding an entry for which `eq` is true.
    fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<usize> {
        if self.tags.is_empty() {
            return None;
        }
        let mask = self.mask();
        let tag = tag_of(h);
        let mut pos = h as usize & mask;
        // The table is never full (≤ 80%), so an EMPTY slot ends every probe sequence; the
        // bound is a second guarantee.
        for _ in 0..self.tags.len() {
            match self.tags[pos] {
                EMPTY => return None,
                t if t == tag && eq(self.slots[pos]) => return Some(pos),
                _ => pos = (pos + 1) & mask,
            }
        }
        None
    }

    /// Adds `idx` under hash `h` (the key must be absent). `rehash` gives the hash of an
    /// existing entry, for growing.
    fn insert(&mut self, h: u64, idx: u32, rehash: impl Fn(u32) -> u64) {
        if (self.live + self.tombstones + 1) * 5 > self.tags.len() * 4 {
            let cap = ((self.live + 1) * 2).next_power_of_two().max(16);
            self.rebuild(cap, &rehash);
        }
        let mask = self.mask();
        let mut pos = h as usize & mask;
        loop {
            match self.tags[pos] {
                EMPTY => break,
                TOMBSTONE => {
                    self.tombstones -= 1;
                    break;
                }
                _ => pos = (pos + 1) & mask,
            }
        }
        self.tags[pos] = tag_of(h);
        self.slots[pos] = idx;
        self.live += 1;
    }

    fn remove_at(&mut self, pos: usize) {
        self.tags[pos] = TOMBSTONE;
        self.live -= 1;
        self.tombstones += 1;
    }

    /// Rebuilds the index with `cap` slots. The entries are rehashed in index order, not in
    /// slot order: the entries of a large table sit in one dense vector, so walking it in
    /// order reads memory sequentially, where slot order would read one random entry per
    /// slot (a cache miss each at a million routes).
    fn rebuild(&mut self, cap: usize, rehash: &impl Fn(u32) -> u64) {
        let old_tags = std::mem::replace(&mut self.tags, vec![EMPTY; cap]);
        let old_slots = std::mem::replace(&mut self.slots, vec![0; cap]);
        self.tombstones = 0;
        // One bit per entry index held by the old index.
        let mut held: Vec<u64> = Vec::new();
        for (&t, &idx) in old_tags.iter().zip(&old_slots) {
            if t < 2 {
                continue;
            }
            let word = idx as usize / 64;
            if word >= held.len() {
                held.resize(word + 1, 0);
            }
            held[word] |= 1 << (idx % 64);
        }
        drop((old_tags, old_slots));
        let mask = cap - 1;
        // 64 entries at a time: hash them (sequential reads), then place them, so that the
        // placements' random reads of the new index overlap instead of waiting for each
        // hash in between.
        let mut batch = [(0u64, 0u32); 64];
        for (w, &bits) in held.iter().enumerate() {
            let mut bits = bits;
            let mut n = 0;
            while bits != 0 {
                let idx = (w * 64) as u32 + bits.trailing_zeros();
                bits &= bits - 1;
                batch[n] = (rehash(idx), idx);
                n += 1;
            }
            for &(h, idx) in &batch[..n] {
                let mut pos = h as usize & mask;
                while self.tags[pos] != EMPTY {
                    pos = (pos + 1) & mask;
                }
                self.tags[pos] = tag_of(h);
                self.slots[pos] = idx;
            }
        }
    }

    /// Reads the slot where a probe for hash `h` starts, so that the cache line is on its
    /// way before the probe itself (a batch of keys is hashed first, then probed). Returns
    /// what it read, for [`std::hint::black_box`].
    fn touch_slot(&self, h: u64) -> usize {
        let pos = h as usize & self.mask();
        match (self.tags.get(pos), self.slots.get(pos)) {
            (Some(&t), Some(&i)) => usize::from(t) ^ i as usize,
            _ => 0,
        }
    }

    fn bytes(&self) -> usize {
        self.tags.capacity() + self.slots.capacity() * 4
    }
}

/// The Loc-RIB of one family.
#[derive(Debug)]
pub(crate) struct Table {
    /// The family.
    pub family: Family,
    /// Entries; free ones have no paths and are listed in `free`.
    pub entries: Vec<Entry>,
    /// One bit per entry: changed since the last flush (listed in `dirty`).
    dirty_bits: Vec<u64>,
    free: Vec<u32>,
    index: Index,
    hasher: RouteHasher,
    /// Entries changed since the last flush.
    pub dirty: Vec<Dirty>,
    /// RT membership routes only (`rtc.rs`): every path each changed entry had at the previous
    /// flush, by entry index. What a peer is sent of such a route depends on all its paths,
    /// not only the best one (RFC 4684 §3.2).
    pub old_paths: HashMap<u32, Box<[StoredPath]>>,
    /// Keep [`Table::old_paths`] (the RT-Constraint family).
    keeps_old_paths: bool,
}

impl Table {
    /// An empty table for `family`.
    pub fn new(family: Family) -> Self {
        Table {
            family,
            entries: Vec::new(),
            dirty_bits: Vec::new(),
            free: Vec::new(),
            index: Index::default(),
            hasher: RouteHasher::new(),
            dirty: Vec::new(),
            old_paths: HashMap::new(),
            keeps_old_paths: family == Family::RT_CONSTRAINT,
        }
    }

    /// Number of routes held (including ones waiting to be freed by the next flush).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index.live
    }

    /// The entry index of the route with key `key`.
    pub fn find(&self, key: &RouteKey) -> Option<u32> {
        let h = self.hasher.hash(key);
        let entries = &self.entries;
        self.index
            .find(h, |i| entries[i as usize].key == *key)
            .map(|pos| self.index.slots[pos])
    }

    /// The hash of `key` in this table, for [`Table::find_or_insert_hashed`].
    pub fn hash(&self, key: &RouteKey) -> u64 {
        self.hasher.hash(key)
    }

    /// Starts loading the index slots where the keys of `hashes` are looked for: a batch of
    /// routes (one UPDATE) is hashed, then these reads go out together, then the routes are
    /// inserted one by one, finding their slots in the cache. At a million routes the index
    /// is larger than the cache, and one miss per route, each waited for in turn, was most
    /// of the time spent inserting.
    pub fn prefetch(&self, hashes: impl Iterator<Item = u64>) {
        let mut acc = 0usize;
        for h in hashes {
            acc = acc.wrapping_add(self.index.touch_slot(h));
        }
        std::hint::black_box(acc);
    }

    /// The entry index of the route with key `key`, created without paths if absent.
    #[cfg(test)]
    pub fn find_or_insert(&mut self, key: RouteKey) -> u32 {
        let h = self.hasher.hash(&key);
        self.find_or_insert_hashed(key, h)
    }

    /// [`Table::find_or_insert`] with the key's hash `h` ([`Table::hash`]) already computed.
    pub fn find_or_insert_hashed(&mut self, key: RouteKey, h: u64) -> u32 {
        {
            let entries = &self.entries;
            if let Some(pos) = self.index.find(h, |i| entries[i as usize].key == key) {
                return self.index.slots[pos];
            }
        }
        let entry = Entry {
            key,
            paths: Paths::Empty,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                if self.entries.len() > self.dirty_bits.len() * 64 {
                    self.dirty_bits.push(0);
                }
                // More than 4 billion routes cannot be stored in one family; the index type is
                // u32 by design (memory).
                (self.entries.len() - 1) as u32
            }
        };
        let (hasher, entries) = (self.hasher, &self.entries);
        self.index
            .insert(h, idx, |i| hasher.hash(&entries[i as usize].key));
        idx
    }

    /// True when entry `idx` changed since the last flush.
    pub fn is_dirty(&self, idx: u32) -> bool {
        self.dirty_bits
            .get(idx as usize / 64)
            .is_some_and(|w| w & (1 << (idx % 64)) != 0)
    }

    /// Clears the changed flag of entry `idx` (the flush has handled it).
    pub fn clear_dirty(&mut self, idx: u32) {
        if let Some(w) = self.dirty_bits.get_mut(idx as usize / 64) {
            *w &= !(1 << (idx % 64));
        }
    }

    /// Records that entry `idx` is about to change, remembering its current best path (and,
    /// for RT membership routes, all its paths).
    pub fn touch(&mut self, idx: u32) {
        if self.is_dirty(idx) {
            return;
        }
        if let Some(w) = self.dirty_bits.get_mut(idx as usize / 64) {
            *w |= 1 << (idx % 64);
        }
        let paths = &self.entries[idx as usize].paths;
        let old = paths.best().map(|p| p.adv().to_owned());
        if self.keeps_old_paths {
            self.old_paths.insert(idx, paths.as_slice().into());
        }
        self.dirty.push(Dirty { idx, old });
    }

    /// Frees entry `idx` if it has no path left and is not waiting for a flush.
    pub fn release_if_empty(&mut self, idx: u32) {
        if self.is_dirty(idx) {
            return;
        }
        let e = &self.entries[idx as usize];
        if !e.paths.is_empty() {
            return;
        }
        let h = self.hasher.hash(&e.key);
        if let Some(pos) = self.index.find(h, |i| i == idx) {
            self.index.remove_at(pos);
            self.free.push(idx);
        }
    }

    /// Entries that hold at least one path, with their index.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> + Clone {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.paths.is_empty())
            .map(|(i, e)| (i as u32, e))
    }

    /// Approximate heap bytes of the table's own structures (not the shared attributes).
    pub fn heap_bytes(&self) -> usize {
        let many: usize = self
            .entries
            .iter()
            .map(|e| match &e.paths {
                Paths::Many(v) => v.len() * std::mem::size_of::<StoredPath>(),
                _ => 0,
            })
            .sum();
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.dirty_bits.capacity() * 8
            + self.free.capacity() * 4
            + self.index.bytes()
            + many
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use evpnd_wire::IpPrefix;
    use std::net::{IpAddr, Ipv4Addr};

    fn v4(n: u32) -> RouteKey {
        RouteKey::Ipv4(IpPrefix::new(IpAddr::V4(Ipv4Addr::from(0xc612_0000 | n)), 32).unwrap())
    }

    /// Insert, find, free and reuse entries across several index growths; tombstones never
    /// hide live keys.
    #[test]
    fn index_insert_find_remove_reuse() {
        let mut t = Table::new(Family::IPV4_UNICAST);
        for n in 0..5000 {
            let i = t.find_or_insert(v4(n));
            assert_eq!(i, n);
        }
        assert_eq!(t.len(), 5000);
        for n in 0..5000 {
            assert_eq!(t.find(&v4(n)), Some(n));
        }
        assert_eq!(t.find(&v4(99_999)), None);
        // Entries without paths and not dirty are freed.
        for n in (0..5000).step_by(2) {
            t.release_if_empty(n);
        }
        assert_eq!(t.len(), 2500);
        for n in 0..5000 {
            assert_eq!(t.find(&v4(n)).is_some(), n % 2 == 1, "route {n}");
        }
        // Freed slots are reused.
        let i = t.find_or_insert(v4(70_000));
        assert!(i < 5000 && i % 2 == 0);
        assert_eq!(t.find(&v4(70_000)), Some(i));
        // Many more inserts with removals: tombstones are cleaned by rebuilds.
        for n in 100_000..120_000 {
            let i = t.find_or_insert(v4(n));
            t.release_if_empty(i);
        }
        assert_eq!(t.len(), 2501);
        for n in 0..5000 {
            assert_eq!(t.find(&v4(n)).is_some(), n % 2 == 1);
        }
    }
}
