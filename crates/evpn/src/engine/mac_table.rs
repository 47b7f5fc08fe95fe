//! The MAC table's storage: one record per `(VNI, MAC)`, compact at a million entries.
//!
//! A hash map of records sits at half load when its entry count just passes 7/8 of a power of
//! two (1 M entries in 2^21 buckets), and every empty bucket is as large as a record. Here the
//! records live densely in a vector (a vector only touches the memory its entries use) and the
//! hash index holds a 4-byte position per bucket, so an empty bucket costs 5 bytes, not a
//! record. Lookups stay one hash probe plus one indexed load (O(1)); removal swaps the last
//! record into the hole and re-points its one index entry.

use evpnd_wire::{MacAddress, Vni};
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// The key of a record.
pub(super) type MacKey = (Vni, MacAddress);

/// `(VNI, MAC)` as one integer for hashing: VNI (24 bits) above the MAC (48 bits).
fn packed(k: &MacKey) -> u128 {
    let [a, b, c, d, e, f] = k.1 .0;
    (u128::from(k.0.get()) << 48) | u128::from(u64::from_be_bytes([0, 0, a, b, c, d, e, f]))
}

/// A map `(VNI, MAC) → V` with dense storage (module notes).
#[derive(Debug)]
pub(super) struct MacTable<V> {
    index: HashTable<u32>,
    keys: Vec<MacKey>,
    values: Vec<V>,
    hasher: RandomState,
}

impl<V> Default for MacTable<V> {
    fn default() -> Self {
        MacTable {
            index: HashTable::new(),
            keys: Vec::new(),
            values: Vec::new(),
            hasher: RandomState::new(),
        }
    }
}

impl<V> MacTable<V> {
    fn hash(&self, key: &MacKey) -> u64 {
        self.hasher.hash_one(packed(key))
    }

    /// The position of `key` in the dense vectors.
    fn position(&self, key: &MacKey) -> Option<usize> {
        let keys = &self.keys;
        self.index
            .find(self.hash(key), |&i| keys.get(i as usize) == Some(key))
            .map(|&i| i as usize)
    }

    /// Number of records.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The record of `(vni, mac)`.
    pub(super) fn get(&self, k: &MacKey) -> Option<&V> {
        let i = self.position(k)?;
        self.values.get(i)
    }

    /// The record of `(vni, mac)`, mutable.
    pub(super) fn get_mut(&mut self, k: &MacKey) -> Option<&mut V> {
        let i = self.position(k)?;
        self.values.get_mut(i)
    }

    /// The record of `k`, created by `make` if there is none.
    pub(super) fn get_or_insert_with(&mut self, k: MacKey, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.position(&k) {
            Some(i) => i,
            None => {
                let i = self.keys.len();
                // More than 2^32 records cannot be indexed; the engine never holds that many
                // (each is a MAC in a VNI this NVE serves).
                let pos = u32::try_from(i).unwrap_or(u32::MAX);
                let hash = self.hash(&k);
                let (keys, hasher) = (&self.keys, &self.hasher);
                self.index
                    .insert_unique(hash, pos, |&j| rehash(hasher, keys, j));
                self.keys.push(k);
                self.values.push(make());
                i
            }
        };
        let n = self.values.len();
        // `i` is a valid position: found in the index or just pushed.
        &mut self.values[i.min(n.saturating_sub(1))]
    }

    /// Removes and returns the record of `k`.
    pub(super) fn remove(&mut self, k: &MacKey) -> Option<V> {
        let hash = self.hash(k);
        let keys = &self.keys;
        let found = self
            .index
            .find_entry(hash, |&i| keys.get(i as usize) == Some(k))
            .ok()?;
        let (i, _) = found.remove();
        let i = i as usize;
        let last = self.keys.len().checked_sub(1)?;
        if i != last {
            // The last record moves into the hole: re-point its index entry.
            let moved_hash = self.hash(&self.keys[last]);
            let from = u32::try_from(last).unwrap_or(u32::MAX);
            if let Some(slot) = self.index.find_mut(moved_hash, |&j| j == from) {
                *slot = u32::try_from(i).unwrap_or(u32::MAX);
            }
        }
        self.keys.swap_remove(i);
        let v = self.values.swap_remove(i);
        self.shrink();
        Some(v)
    }

    /// Keeps the records for which `keep` is true.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&MacKey, &mut V) -> bool) {
        let mut i = 0;
        while i < self.keys.len() {
            let k = self.keys[i];
            if keep(&k, &mut self.values[i]) {
                i += 1;
            } else {
                // The last record moves to `i`, which is visited next.
                self.remove(&k);
            }
        }
    }

    /// Every record with its key, in storage order (arbitrary, like a hash map's).
    pub(super) fn iter(&self) -> impl Iterator<Item = (&MacKey, &V)> + '_ {
        self.keys.iter().zip(self.values.iter())
    }

    /// Gives memory back once the table has shrunk to a quarter of its capacity (a large
    /// table emptied by a withdrawal storm does not keep its peak for the daemon's lifetime).
    fn shrink(&mut self) {
        let len = self.keys.len();
        if self.keys.capacity() > 1024 && len < self.keys.capacity() / 4 {
            self.keys.shrink_to(len * 2);
            self.values.shrink_to(len * 2);
            let (keys, hasher) = (&self.keys, &self.hasher);
            self.index.shrink_to(len * 2, |&j| rehash(hasher, keys, j));
        }
    }
}

/// The hash of the record at position `j` (what the index needs when it grows).
fn rehash(hasher: &RandomState, keys: &[MacKey], j: u32) -> u64 {
    keys.get(j as usize)
        .map_or(0, |k| hasher.hash_one(packed(k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(v: u32, m: u8) -> (Vni, MacAddress) {
        (Vni::new(v).unwrap(), MacAddress([2, 0, 0, 0, 1, m]))
    }

    #[test]
    fn packed_keys_are_distinct_for_every_vni_bit() {
        let m = MacAddress([0xff; 6]);
        let top = (Vni::MAX, m);
        let low = (Vni::new(0x00_ff_ff).unwrap(), m);
        assert_ne!(packed(&top), packed(&low));
    }

    #[test]
    fn insert_find_remove_and_retain_keep_the_index_right() {
        let mut t: MacTable<u32> = MacTable::default();
        for v in 1..=20 {
            for m in 0..=255u8 {
                *t.get_or_insert_with(key(v, m), || 0) += v * 1000 + u32::from(m);
            }
        }
        assert_eq!(t.len(), 20 * 256);
        assert_eq!(t.get(&key(7, 9)), Some(&7009));
        assert!(t.remove(&key(7, 9)).is_some());
        assert!(t.remove(&key(7, 9)).is_none());
        assert!(t.get(&key(7, 9)).is_none());
        t.retain(|(v, _), _| v.get() % 2 == 0);
        assert_eq!(t.len(), 10 * 256);
        for v in 1..=20 {
            for m in 0..=255u8 {
                let want = (v % 2 == 0).then_some(v * 1000 + u32::from(m));
                assert_eq!(t.get(&key(v, m)).copied(), want);
            }
        }
        t.retain(|_, _| false);
        assert_eq!(t.len(), 0);
        assert_eq!(t.iter().count(), 0);
    }
}
