//! Batches as they wait for the apply thread, kept compact: while the kernel installs behind a
//! fast import (a table arriving at start-up), hundreds of thousands of intents can wait in the
//! queue. Remote FDB adds and removals with an IPv4 VTEP (nearly all of them on an IPv4
//! underlay) wait as 16-byte records instead of full [`DataplaneIntent`] values; every other
//! intent waits as it is. The order of the batch is kept.

use crate::DataplaneIntent;
use evpnd_wire::{MacAddress, Vni};
use std::net::{IpAddr, Ipv4Addr};

/// A remote FDB change with an IPv4 VTEP (RFC 7432 §9.2.2), in 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CompactMac {
    vni: Vni,
    vtep: [u8; 4],
    mac: MacAddress,
    op: Op,
}

/// What a [`CompactMac`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    AddSticky,
    Remove,
}

impl CompactMac {
    /// The compact form of `intent`, when it has one.
    fn of(intent: &DataplaneIntent) -> Option<CompactMac> {
        match *intent {
            DataplaneIntent::RemoteMac {
                vni,
                mac,
                vtep: IpAddr::V4(v4),
                sticky,
            } => Some(CompactMac {
                vni,
                vtep: v4.octets(),
                mac,
                op: if sticky { Op::AddSticky } else { Op::Add },
            }),
            DataplaneIntent::RemoveRemoteMac { vni, mac } => Some(CompactMac {
                vni,
                vtep: [0; 4],
                mac,
                op: Op::Remove,
            }),
            _ => None,
        }
    }

    fn intent(self) -> DataplaneIntent {
        let CompactMac { vni, vtep, mac, op } = self;
        match op {
            Op::Add | Op::AddSticky => DataplaneIntent::RemoteMac {
                vni,
                mac,
                vtep: IpAddr::V4(Ipv4Addr::from(vtep)),
                sticky: op == Op::AddSticky,
            },
            Op::Remove => DataplaneIntent::RemoveRemoteMac { vni, mac },
        }
    }
}

/// A run of consecutive intents of one form.
#[derive(Debug)]
enum Run {
    Macs(Vec<CompactMac>),
    Other(Vec<DataplaneIntent>),
}

/// One submitted batch, waiting for the apply thread (see the module notes).
#[derive(Debug, Default)]
pub(crate) struct QueuedBatch {
    runs: Vec<Run>,
}

impl QueuedBatch {
    /// The batch in its waiting form (consumes the submitted vector: its memory goes now).
    pub(crate) fn new(batch: Vec<DataplaneIntent>) -> QueuedBatch {
        let mut runs: Vec<Run> = Vec::new();
        for intent in batch {
            match (CompactMac::of(&intent), runs.last_mut()) {
                (Some(m), Some(Run::Macs(v))) => v.push(m),
                (Some(m), _) => runs.push(Run::Macs(vec![m])),
                (None, Some(Run::Other(v))) => v.push(intent),
                (None, _) => runs.push(Run::Other(vec![intent])),
            }
        }
        for run in &mut runs {
            match run {
                Run::Macs(v) => v.shrink_to_fit(),
                Run::Other(v) => v.shrink_to_fit(),
            }
        }
        QueuedBatch { runs }
    }

    /// Number of intents in the batch.
    pub(crate) fn len(&self) -> usize {
        self.runs
            .iter()
            .map(|run| match run {
                Run::Macs(v) => v.len(),
                Run::Other(v) => v.len(),
            })
            .sum()
    }

    /// The intents, in the order submitted.
    pub(crate) fn into_intents(self) -> impl Iterator<Item = DataplaneIntent> {
        self.runs
            .into_iter()
            .flat_map(|run| -> Box<dyn Iterator<Item = DataplaneIntent>> {
                match run {
                    Run::Macs(v) => Box::new(v.into_iter().map(CompactMac::intent)),
                    Run::Other(v) => Box::new(v.into_iter()),
                }
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn mac(n: u8) -> MacAddress {
        MacAddress([2, 0, 0, 0, 0, n])
    }

    #[test]
    fn a_queued_batch_gives_back_the_same_intents_in_order() {
        let vni = Vni::new(100).unwrap();
        let batch = vec![
            DataplaneIntent::Vni { vni, vrf: None },
            DataplaneIntent::RemoteMac {
                vni,
                mac: mac(1),
                vtep: "198.18.0.2".parse().unwrap(),
                sticky: false,
            },
            DataplaneIntent::RemoteMac {
                vni,
                mac: mac(2),
                vtep: "198.18.0.3".parse().unwrap(),
                sticky: true,
            },
            DataplaneIntent::RemoteMac {
                vni,
                mac: mac(3),
                vtep: "2001:db8::1".parse().unwrap(),
                sticky: false,
            },
            DataplaneIntent::RemoveRemoteMac { vni, mac: mac(1) },
            DataplaneIntent::Flood {
                vni,
                vtep: "198.18.0.2".parse().unwrap(),
            },
            DataplaneIntent::RemoveRemoteMac { vni, mac: mac(2) },
            DataplaneIntent::Synced,
        ];
        let q = QueuedBatch::new(batch.clone());
        assert_eq!(q.runs.len(), 7, "{q:?}");
        assert_eq!(q.len(), batch.len());
        assert_eq!(q.into_intents().collect::<Vec<_>>(), batch);
        assert_eq!(QueuedBatch::new(Vec::new()).into_intents().count(), 0);
    }

    #[test]
    fn a_waiting_fdb_change_takes_16_bytes() {
        assert_eq!(std::mem::size_of::<CompactMac>(), 16);
        assert!(std::mem::size_of::<DataplaneIntent>() >= 40);
    }
}
