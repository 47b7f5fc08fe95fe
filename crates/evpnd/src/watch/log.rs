//! A bounded log of deltas numbered by sequence: what a watcher resumes from.
//!
//! Sequences start at 1 with each epoch and grow by exactly one per delta; the log keeps the
//! newest `capacity` deltas. A reader asks for the deltas after the last sequence it has; if
//! the next one has been evicted it learns so ([`Read::Evicted`]) instead of silently missing
//! deltas. Should the sequence ever run out (2^64 − 1 deltas), the log starts a new epoch at 1:
//! readers of the old epoch see [`Read::Reset`] and start again from a snapshot.

use std::collections::VecDeque;

/// What a reader gets from [`SeqLog::read`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read<T> {
    /// The deltas after the sequence asked for, oldest first, each with its sequence (empty:
    /// nothing new yet).
    Deltas(Vec<(u64, T)>),
    /// The delta after the sequence asked for is no longer kept; `oldest` is the oldest kept.
    Evicted {
        /// The oldest sequence still kept.
        oldest: u64,
    },
    /// The epoch asked about has ended: sequences restarted.
    Reset,
}

/// Where a watcher that asked to resume starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// After this sequence: every later delta is kept.
    After(u64),
    /// Not possible (0, another epoch, a sequence not reached yet, or one no longer kept).
    Fresh,
}

/// The bounded, sequence-numbered log (see the module notes).
#[derive(Clone, Debug)]
pub struct SeqLog<T> {
    entries: VecDeque<T>,
    /// The sequence of `entries[0]` (of the next delta when empty).
    first: u64,
    /// The sequence the next delta gets.
    next: u64,
    capacity: usize,
    epoch: u64,
}

impl<T: Clone> SeqLog<T> {
    /// An empty log that keeps the newest `capacity` deltas (at least one), in epoch `epoch`.
    pub fn new(capacity: usize, epoch: u64) -> Self {
        Self::starting_at(capacity, epoch, 1)
    }

    fn starting_at(capacity: usize, epoch: u64, first: u64) -> Self {
        SeqLog {
            entries: VecDeque::new(),
            first,
            next: first,
            capacity: capacity.max(1),
            epoch,
        }
    }

    /// The epoch the sequences belong to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The sequence of the newest delta (0: none yet).
    pub fn last(&self) -> u64 {
        self.next.saturating_sub(1)
    }

    /// The oldest sequence kept (the next one's when the log is empty).
    pub fn oldest(&self) -> u64 {
        self.first
    }

    /// Deltas kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Appends a delta, evicting the oldest when full; returns its sequence. When the
    /// sequence space is used up, a new epoch starts at 1 first.
    pub fn push(&mut self, item: T) -> u64 {
        if self.next == u64::MAX {
            *self = Self::new(self.capacity, self.epoch.wrapping_add(1));
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
            self.first += 1;
        }
        let seq = self.next;
        self.entries.push_back(item);
        self.next += 1;
        seq
    }

    /// Records that deltas were not kept (nobody was watching): one sequence is used up by
    /// the gap and everything kept is dropped, so a watcher resuming from before the gap sees
    /// its sequence jump (or gets a fresh start) instead of missing deltas silently.
    pub fn skip(&mut self) {
        if self.next == u64::MAX {
            *self = Self::new(self.capacity, self.epoch.wrapping_add(1));
        }
        self.entries.clear();
        self.next += 1;
        self.first = self.next;
    }

    /// Where a watcher asking for the deltas after `from` in `epoch` (0: any) starts.
    pub fn resume(&self, from: u64, epoch: u64) -> Resume {
        let other_epoch = epoch != 0 && epoch != self.epoch;
        // `from` itself may be gone: what counts is that every delta after it is kept.
        let kept = from.checked_add(1).is_some_and(|n| n >= self.first);
        if from == 0 || other_epoch || from > self.last() || !kept {
            Resume::Fresh
        } else {
            Resume::After(from)
        }
    }

    /// Up to `limit` deltas after `after`, in epoch `epoch`.
    pub fn read(&self, after: u64, epoch: u64, limit: usize) -> Read<T> {
        if epoch != self.epoch {
            return Read::Reset;
        }
        let Some(want) = after.checked_add(1) else {
            return Read::Reset;
        };
        if want < self.first {
            return Read::Evicted { oldest: self.first };
        }
        let Ok(skip) = usize::try_from(want - self.first) else {
            return Read::Deltas(Vec::new());
        };
        Read::Deltas(
            self.entries
                .iter()
                .skip(skip)
                .take(limit)
                .enumerate()
                .map(|(i, item)| (want + i as u64, item.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn seqs<T>(r: Read<T>) -> Vec<u64> {
        match r {
            Read::Deltas(v) => v.into_iter().map(|(s, _)| s).collect(),
            other => panic!("expected deltas, got {:?}", std::mem::discriminant(&other)),
        }
    }

    #[test]
    fn sequences_start_at_one_and_have_no_gaps() {
        let mut log = SeqLog::new(10, 7);
        assert_eq!(log.last(), 0);
        let got: Vec<u64> = (0..5).map(|i| log.push(i)).collect();
        assert_eq!(got, vec![1, 2, 3, 4, 5]);
        assert_eq!(seqs(log.read(0, 7, 100)), vec![1, 2, 3, 4, 5]);
        assert_eq!(seqs(log.read(3, 7, 100)), vec![4, 5]);
        assert_eq!(seqs(log.read(3, 7, 1)), vec![4]);
        assert!(seqs(log.read(5, 7, 100)).is_empty(), "nothing new yet");
        assert!(seqs(log.read(9, 7, 100)).is_empty());
    }

    #[test]
    fn a_full_log_evicts_the_oldest_and_says_so() {
        let mut log = SeqLog::new(3, 1);
        for i in 0..10 {
            log.push(i);
        }
        assert_eq!((log.oldest(), log.last(), log.len()), (8, 10, 3));
        assert_eq!(log.read(6, 1, 10), Read::Evicted { oldest: 8 });
        // After 7 every delta (8, 9, 10) is still kept.
        assert_eq!(
            log.read(7, 1, 10),
            Read::Deltas(vec![(8, 7), (9, 8), (10, 9)])
        );
    }

    #[test]
    fn resume_windows() {
        let mut log = SeqLog::new(3, 42);
        assert_eq!(log.resume(0, 0), Resume::Fresh, "nothing to resume from");
        for i in 0..10 {
            log.push(i);
        }
        assert_eq!(log.resume(0, 42), Resume::Fresh, "0 asks for a snapshot");
        assert_eq!(log.resume(6, 42), Resume::Fresh, "7 is gone");
        assert_eq!(log.resume(7, 42), Resume::After(7));
        assert_eq!(log.resume(10, 42), Resume::After(10), "up to date");
        assert_eq!(log.resume(10, 0), Resume::After(10), "epoch 0: not checked");
        assert_eq!(log.resume(11, 42), Resume::Fresh, "not reached yet");
        assert_eq!(log.resume(8, 41), Resume::Fresh, "another run's sequence");
        assert_eq!(log.resume(u64::MAX, 42), Resume::Fresh);
    }

    #[test]
    fn running_out_of_sequences_starts_a_new_epoch() {
        let mut log = SeqLog::starting_at(4, 5, u64::MAX - 2);
        assert_eq!(log.push('a'), u64::MAX - 2);
        assert_eq!(log.push('b'), u64::MAX - 1);
        assert_eq!(log.read(u64::MAX - 3, 5, 10).clone(), {
            Read::Deltas(vec![(u64::MAX - 2, 'a'), (u64::MAX - 1, 'b')])
        });
        // u64::MAX is never handed out: the next delta opens epoch 6 at 1.
        assert_eq!(log.push('c'), 1);
        assert_eq!(log.epoch(), 6);
        assert_eq!(log.read(u64::MAX - 1, 5, 10), Read::Reset);
        assert_eq!(log.read(0, 6, 10), Read::Deltas(vec![(1, 'c')]));
        assert_eq!(log.read(u64::MAX, 6, 10), Read::Reset);
        assert_eq!(log.resume(1, 5), Resume::Fresh);
    }

    #[test]
    fn a_skip_uses_up_a_sequence_and_drops_what_was_kept() {
        let mut log = SeqLog::new(10, 3);
        log.push('a');
        log.push('b');
        log.skip();
        assert_eq!((log.oldest(), log.last(), log.len()), (4, 3, 0));
        assert_eq!(log.read(2, 3, 10), Read::Evicted { oldest: 4 });
        assert_eq!(log.resume(2, 3), Resume::Fresh, "the gap is not resumable");
        assert_eq!(log.push('c'), 4);
        assert_eq!(log.read(3, 3, 10), Read::Deltas(vec![(4, 'c')]));
    }

    #[test]
    fn capacity_zero_keeps_one() {
        let mut log = SeqLog::new(0, 1);
        log.push(1);
        log.push(2);
        assert_eq!(log.read(1, 1, 10), Read::Deltas(vec![(2, 2)]));
    }
}
