//! The remote FDB the Linux backend wants, kept compact: 12 bytes per entry plus a 4-byte
//! hash slot, instead of a B-tree node share of `(VNI, MAC) → FdbEntry` in
//! [`MemoryDataplane::fdb`](crate::MemoryDataplane) (about 60 bytes per entry at a million).
//!
//! The entries live densely in a vector and a hash index holds a 4-byte position per bucket
//! (an empty bucket costs 5 bytes, not an entry). The VTEP of an entry is an index into a
//! small table of VTEPs (a fabric has a handful to a few thousand), each with a count of the
//! entries using it: a VTEP no entry uses any more leaves the table, so it stays bounded. The
//! sticky bit (RFC 7432 §15.2) is packed beside the VNI.

use crate::{Dataplane, DataplaneIntent, FdbEntry, Inconsistent, MemoryDataplane};
use evpnd_wire::{MacAddress, Vni};
use hashbrown::HashTable;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

/// The sticky bit in [`Record::vni_bits`].
const STICKY: u32 = 1 << 31;
/// The VNI bits (24, RFC 7348 §5) in [`Record::vni_bits`].
const VNI_MASK: u32 = 0x00ff_ffff;
/// Bits 24..31 of [`Record::vni_bits`] carry the high 7 bits of the VTEP index.
const VTEP_HIGH_SHIFT: u32 = 24;
/// Most VTEPs the table can index (23 bits: 16 in the record's low half, 7 beside the VNI).
const MAX_VTEPS: u32 = 1 << 23;

/// One remote MAC, packed to 12 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    /// The VNI (low 24 bits), the VTEP index's high 7 bits, the sticky bit (bit 31).
    vni_bits: u32,
    mac: [u8; 6],
    /// The VTEP index's low 16 bits.
    vtep_low: u16,
}

impl Record {
    fn vni(&self) -> u32 {
        self.vni_bits & VNI_MASK
    }

    fn sticky(&self) -> bool {
        self.vni_bits & STICKY != 0
    }

    fn vtep(&self) -> u32 {
        ((self.vni_bits >> VTEP_HIGH_SHIFT) & 0x7f) << 16 | u32::from(self.vtep_low)
    }

    fn new(vni: u32, mac: [u8; 6], vtep: u32, sticky: bool) -> Record {
        let sticky = if sticky { STICKY } else { 0 };
        Record {
            vni_bits: (vni & VNI_MASK) | ((vtep >> 16) & 0x7f) << VTEP_HIGH_SHIFT | sticky,
            mac,
            // The low half of the index, by construction below 2^16.
            vtep_low: (vtep & 0xffff) as u16,
        }
    }

    fn key(&self) -> (u32, [u8; 6]) {
        (self.vni(), self.mac)
    }
}

/// `(VNI, MAC)` as one integer for hashing: VNI (24 bits) above the MAC (48 bits).
fn packed(vni: u32, mac: [u8; 6]) -> u128 {
    let [a, b, c, d, e, f] = mac;
    (u128::from(vni) << 48) | u128::from(u64::from_be_bytes([0, 0, a, b, c, d, e, f]))
}

/// A VTEP in use and how many entries use it.
#[derive(Clone, Copy, Debug)]
struct VtepSlot {
    vtep: IpAddr,
    refs: u32,
}

/// The remote FDB (`(VNI, MAC) → VTEP, sticky`) the backend wants (module notes).
#[derive(Debug)]
pub(crate) struct RemoteFdb {
    index: HashTable<u32>,
    records: Vec<Record>,
    hasher: RandomState,
    /// VTEP slots by index; `None` for a free slot (listed in `free`).
    vteps: Vec<Option<VtepSlot>>,
    vtep_index: HashMap<IpAddr, u32>,
    free: Vec<u32>,
    /// Entries per VNI: a VNI with none is skipped at once by [`Self::entries_of`] and may
    /// be removed.
    per_vni: BTreeMap<u32, u32>,
}

impl Default for RemoteFdb {
    fn default() -> Self {
        RemoteFdb {
            index: HashTable::new(),
            records: Vec::new(),
            hasher: RandomState::new(),
            vteps: Vec::new(),
            vtep_index: HashMap::new(),
            free: Vec::new(),
            per_vni: BTreeMap::new(),
        }
    }
}

/// The hash of the record at position `j` (what the index needs when it grows).
fn rehash(hasher: &RandomState, records: &[Record], j: u32) -> u64 {
    records
        .get(j as usize)
        .map_or(0, |r| hasher.hash_one(packed(r.vni(), r.mac)))
}

impl RemoteFdb {
    fn hash(&self, vni: u32, mac: [u8; 6]) -> u64 {
        self.hasher.hash_one(packed(vni, mac))
    }

    fn position(&self, vni: u32, mac: [u8; 6]) -> Option<usize> {
        let records = &self.records;
        self.index
            .find(self.hash(vni, mac), |&i| {
                records.get(i as usize).map(Record::key) == Some((vni, mac))
            })
            .map(|&i| i as usize)
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Number of distinct VTEPs the entries point at.
    #[cfg(test)]
    pub(crate) fn vtep_count(&self) -> usize {
        self.vtep_index.len()
    }

    /// True when `vni` holds an entry.
    pub(crate) fn holds(&self, vni: Vni) -> bool {
        self.per_vni.contains_key(&vni.get())
    }

    fn entry_of(&self, r: &Record) -> Option<FdbEntry> {
        let slot = self.vteps.get(r.vtep() as usize).copied().flatten()?;
        Some(FdbEntry {
            vtep: slot.vtep,
            sticky: r.sticky(),
        })
    }

    /// The entry of `(vni, mac)`.
    #[cfg(test)]
    pub(crate) fn get(&self, vni: Vni, mac: MacAddress) -> Option<FdbEntry> {
        let i = self.position(vni.get(), mac.0)?;
        self.entry_of(self.records.get(i)?)
    }

    /// The index of `vtep`, taking a reference on it (a new slot when it is not there yet);
    /// `None` when the table is full (more than 2^23 VTEPs: never in a real fabric).
    fn take_vtep(&mut self, vtep: IpAddr) -> Option<u32> {
        if let Some(&i) = self.vtep_index.get(&vtep) {
            let slot = self.vteps.get_mut(i as usize)?.as_mut()?;
            slot.refs = slot.refs.saturating_add(1);
            return Some(i);
        }
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.vteps.len()).ok()?;
                if i >= MAX_VTEPS {
                    return None;
                }
                self.vteps.push(None);
                i
            }
        };
        if let Some(slot) = self.vteps.get_mut(i as usize) {
            *slot = Some(VtepSlot { vtep, refs: 1 });
        }
        self.vtep_index.insert(vtep, i);
        Some(i)
    }

    /// Drops a reference on VTEP `i`; the slot is freed when none is left.
    fn release_vtep(&mut self, i: u32) {
        let Some(entry) = self.vteps.get_mut(i as usize) else {
            return;
        };
        let Some(slot) = entry.as_mut() else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs == 0 {
            self.vtep_index.remove(&slot.vtep);
            *entry = None;
            self.free.push(i);
        }
    }

    /// Sets `(vni, mac)` to point at `vtep` (replacing an earlier entry: a move re-points
    /// it, as [`MemoryDataplane`](crate::MemoryDataplane) does). False only when the VTEP
    /// table is full.
    pub(crate) fn insert(&mut self, vni: Vni, mac: MacAddress, vtep: IpAddr, sticky: bool) -> bool {
        let (v, m) = (vni.get(), mac.0);
        let Some(new_vtep) = self.take_vtep(vtep) else {
            return false;
        };
        let record = Record::new(v, m, new_vtep, sticky);
        match self.position(v, m) {
            Some(i) => {
                let Some(slot) = self.records.get_mut(i) else {
                    return false;
                };
                let old_vtep = slot.vtep();
                *slot = record;
                self.release_vtep(old_vtep);
            }
            None => {
                // More than 2^32 entries cannot be indexed; the backend never holds that many
                // (each is a MAC in a VNI this NVE serves).
                let pos = u32::try_from(self.records.len()).unwrap_or(u32::MAX);
                let hash = self.hash(v, m);
                let (records, hasher) = (&self.records, &self.hasher);
                self.index
                    .insert_unique(hash, pos, |&j| rehash(hasher, records, j));
                self.records.push(record);
                let n = self.per_vni.entry(v).or_insert(0);
                *n = n.saturating_add(1);
            }
        }
        true
    }

    /// Removes and returns the entry of `(vni, mac)`.
    pub(crate) fn remove(&mut self, vni: Vni, mac: MacAddress) -> Option<FdbEntry> {
        let (v, m) = (vni.get(), mac.0);
        let hash = self.hash(v, m);
        let records = &self.records;
        let found = self
            .index
            .find_entry(hash, |&i| {
                records.get(i as usize).map(Record::key) == Some((v, m))
            })
            .ok()?;
        let (i, _) = found.remove();
        let i = i as usize;
        let last = self.records.len().checked_sub(1)?;
        if i != last {
            // The last record moves into the hole: re-point its index entry.
            let moved = self.records.get(last)?;
            let moved_hash = self.hash(moved.vni(), moved.mac);
            let from = u32::try_from(last).unwrap_or(u32::MAX);
            if let Some(slot) = self.index.find_mut(moved_hash, |&j| j == from) {
                *slot = u32::try_from(i).unwrap_or(u32::MAX);
            }
        }
        let record = self.records.swap_remove(i);
        let entry = self.entry_of(&record);
        self.release_vtep(record.vtep());
        if let Some(n) = self.per_vni.get_mut(&v) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_vni.remove(&v);
            }
        }
        self.shrink();
        entry
    }

    /// The entries of `vni`, by MAC. A scan over every entry (there is no per-VNI index: it
    /// would cost memory on every entry for a rare caller, the repair of one VNI); a VNI
    /// without entries answers at once.
    pub(crate) fn entries_of(&self, vni: Vni) -> Vec<(MacAddress, FdbEntry)> {
        if !self.holds(vni) {
            return Vec::new();
        }
        let mut out: Vec<(MacAddress, FdbEntry)> = self
            .records
            .iter()
            .filter(|r| r.vni() == vni.get())
            .filter_map(|r| Some((MacAddress(r.mac), self.entry_of(r)?)))
            .collect();
        out.sort_unstable_by_key(|(m, _)| *m);
        out
    }

    /// Gives memory back once the table has shrunk to a quarter of its capacity (a large
    /// table emptied by a withdrawal storm does not keep its peak for the daemon's lifetime).
    fn shrink(&mut self) {
        let len = self.records.len();
        if self.records.capacity() > 1024 && len < self.records.capacity() / 4 {
            self.records.shrink_to(len * 2);
            let (records, hasher) = (&self.records, &self.hasher);
            self.index
                .shrink_to(len * 2, |&j| rehash(hasher, records, j));
        }
    }
}

/// Applies a non-route intent to `desired` as [`MemoryDataplane::apply`] would, with the
/// remote MACs in `fdb` instead of `desired.fdb` (which stays empty) and the same refusals:
/// a remote MAC of an unknown VNI, the removal of one that is not there, and the removal of a
/// VNI that still holds remote MACs.
pub(crate) fn apply_desired(
    desired: &mut MemoryDataplane,
    fdb: &mut RemoteFdb,
    intent: &DataplaneIntent,
) -> Result<(), Inconsistent> {
    let done = match *intent {
        DataplaneIntent::RemoteMac {
            vni,
            mac,
            vtep,
            sticky,
        } => desired.vnis.contains_key(&vni) && fdb.insert(vni, mac, vtep, sticky),
        DataplaneIntent::RemoveRemoteMac { vni, mac } => {
            desired.vnis.contains_key(&vni) && fdb.remove(vni, mac).is_some()
        }
        DataplaneIntent::RemoveVni { vni } if fdb.holds(vni) => false,
        _ => return desired.apply(intent),
    };
    desired.applied += 1;
    if done {
        Ok(())
    } else {
        desired.errors += 1;
        Err(Inconsistent { intent: *intent })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn vni(v: u32) -> Vni {
        Vni::new(v).unwrap()
    }

    fn mac(m: u16) -> MacAddress {
        let [a, b] = m.to_be_bytes();
        MacAddress([2, 0, 0, 0, a, b])
    }

    fn vtep(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, n))
    }

    #[test]
    fn a_record_is_twelve_bytes_and_packs_losslessly() {
        assert_eq!(std::mem::size_of::<Record>(), 12);
        for (v, i, s) in [
            (0xff_ffff, MAX_VTEPS - 1, true),
            (1, 0, false),
            (5, 70_000, true),
        ] {
            let r = Record::new(v, [0xff; 6], i, s);
            assert_eq!((r.vni(), r.vtep(), r.sticky()), (v, i, s));
        }
    }

    #[test]
    fn insert_replace_remove() {
        let mut t = RemoteFdb::default();
        assert!(t.insert(vni(10), mac(1), vtep(1), false));
        assert!(t.insert(vni(20), mac(1), vtep(2), true));
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.get(vni(10), mac(1)),
            Some(FdbEntry {
                vtep: vtep(1),
                sticky: false
            })
        );
        // A move re-points the entry; the count stays.
        assert!(t.insert(vni(10), mac(1), vtep(3), true));
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.get(vni(10), mac(1)),
            Some(FdbEntry {
                vtep: vtep(3),
                sticky: true
            })
        );
        assert_eq!(
            t.remove(vni(10), mac(1)),
            Some(FdbEntry {
                vtep: vtep(3),
                sticky: true
            })
        );
        assert_eq!(t.remove(vni(10), mac(1)), None);
        assert_eq!(t.get(vni(10), mac(1)), None);
        assert!(!t.holds(vni(10)));
        assert!(t.holds(vni(20)));
        assert_eq!(t.get(vni(20), mac(1)).unwrap().vtep, vtep(2));
    }

    #[test]
    fn vteps_are_counted_and_freed() {
        let mut t = RemoteFdb::default();
        for m in 0..100 {
            t.insert(vni(10), mac(m), vtep((m % 4) as u8), false);
        }
        assert_eq!(t.vtep_count(), 4);
        // Moving every MAC of VTEP 0 elsewhere frees its slot.
        for m in (0..100).step_by(4) {
            t.insert(vni(10), mac(m), vtep(1), false);
        }
        assert_eq!(t.vtep_count(), 3);
        // A new VTEP reuses the freed slot: the table stays bounded.
        t.insert(vni(11), mac(0), vtep(9), false);
        assert_eq!(t.vtep_count(), 4);
        assert_eq!(t.vteps.len(), 4);
        for m in 0..100 {
            t.remove(vni(10), mac(m));
        }
        t.remove(vni(11), mac(0));
        assert_eq!(t.vtep_count(), 0);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn entries_of_a_vni_by_mac_after_many_moves_and_removals() {
        let mut t = RemoteFdb::default();
        for m in (0..3000).rev() {
            t.insert(
                vni(1 + u32::from(m % 3)),
                mac(m),
                vtep((m % 7) as u8),
                m % 2 == 0,
            );
        }
        for m in (0..3000).step_by(5) {
            t.remove(vni(1 + u32::from(m % 3)), mac(m));
        }
        let listed = t.entries_of(vni(2));
        let expected: Vec<_> = (0..3000u16)
            .filter(|m| m % 3 == 1 && m % 5 != 0)
            .map(|m| {
                (
                    mac(m),
                    FdbEntry {
                        vtep: vtep((m % 7) as u8),
                        sticky: m % 2 == 0,
                    },
                )
            })
            .collect();
        assert_eq!(listed, expected);
        assert!(t.entries_of(vni(4)).is_empty());
        // Every entry is still found through the index after the swaps.
        for (m, e) in expected {
            assert_eq!(t.get(vni(2), m), Some(e));
        }
    }

    /// The compact table refuses exactly what the memory data plane refuses, and holds the
    /// same remote MACs, over a sequence that exercises every refusal.
    #[test]
    fn refuses_what_the_memory_data_plane_refuses() {
        let intents = [
            DataplaneIntent::RemoteMac {
                vni: vni(10),
                mac: mac(1),
                vtep: vtep(1),
                sticky: false,
            },
            DataplaneIntent::Vni {
                vni: vni(10),
                vrf: None,
            },
            DataplaneIntent::RemoteMac {
                vni: vni(10),
                mac: mac(1),
                vtep: vtep(1),
                sticky: false,
            },
            DataplaneIntent::RemoteMac {
                vni: vni(10),
                mac: mac(1),
                vtep: vtep(2),
                sticky: true,
            },
            DataplaneIntent::RemoveRemoteMac {
                vni: vni(10),
                mac: mac(2),
            },
            DataplaneIntent::RemoveRemoteMac {
                vni: vni(11),
                mac: mac(1),
            },
            DataplaneIntent::RemoveVni { vni: vni(10) },
            DataplaneIntent::RemoveRemoteMac {
                vni: vni(10),
                mac: mac(1),
            },
            DataplaneIntent::RemoveRemoteMac {
                vni: vni(10),
                mac: mac(1),
            },
            DataplaneIntent::RemoteMac {
                vni: vni(10),
                mac: mac(3),
                vtep: vtep(3),
                sticky: false,
            },
        ];
        let mut memory = MemoryDataplane::default();
        let (mut desired, mut fdb) = (MemoryDataplane::default(), RemoteFdb::default());
        let mut refused = 0;
        for intent in &intents {
            let want = memory.apply(intent).is_ok();
            let got = apply_desired(&mut desired, &mut fdb, intent).is_ok();
            assert_eq!(got, want, "{intent:?}");
            refused += u32::from(!got);
        }
        assert_eq!(refused, 5);
        assert!(desired.fdb.is_empty());
        assert_eq!(
            (desired.applied, desired.errors),
            (memory.applied, memory.errors)
        );
        assert_eq!(
            memory.fdb.iter().map(|(k, e)| (*k, *e)).collect::<Vec<_>>(),
            fdb.entries_of(vni(10))
                .into_iter()
                .map(|(m, e)| ((vni(10), m), e))
                .collect::<Vec<_>>()
        );
        // Once its MACs are gone the VNI can go.
        fdb.remove(vni(10), mac(3));
        let last = DataplaneIntent::RemoveVni { vni: vni(10) };
        assert!(apply_desired(&mut desired, &mut fdb, &last).is_ok());
    }
}
