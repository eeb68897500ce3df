//! The block-hash window: the last N blocks the indexer has committed, used to
//! notice a reorg at the head and to find where the chains forked.
//!
//! Pure: the IO loop offers each new block with [`BlockWindow::check`], and on a
//! reorg asks for the canonical hashes below the tip and calls
//! [`BlockWindow::fork_point`]. A fork below the window is a hard stop
//! ([`ForkPoint::BeyondWindow`]): the caller halts with a clear error rather than
//! continue on a chain it cannot reconcile.

use std::collections::VecDeque;

use alloy_primitives::B256;

/// A block's identity: number, hash and parent hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
}

/// What offering a block to the window means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The block extends the tip (or the window is empty): index it, then push it.
    Extends,
    /// The block is already in the window with the same hash: nothing to do.
    Known,
    /// The block does not fit: its parent is not our tip, or the hash at its
    /// height differs. Find the fork point.
    Reorg,
    /// The block is above tip + 1: the caller skipped blocks (a bug, or a lying
    /// RPC). Fetch the missing ones first.
    Gap { expected: u64 },
    /// The block is below the window: too old to check.
    BelowWindow,
}

/// Where two chains meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkPoint {
    /// The highest block both chains share: roll back everything above it.
    Common(u64),
    /// No block of the window is on the canonical chain: the reorg is deeper than
    /// the window.
    BeyondWindow { window_start: u64 },
}

/// Why a block could not be pushed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("block {number} does not extend the window's tip {tip}: check it first")]
    DoesNotExtend { number: u64, tip: u64 },
}

/// The last `capacity` blocks, oldest first.
#[derive(Debug, Clone)]
pub struct BlockWindow {
    blocks: VecDeque<BlockRef>,
    capacity: usize,
}

impl BlockWindow {
    /// An empty window that keeps at most `capacity` blocks (at least 1).
    pub fn new(capacity: usize) -> Self {
        BlockWindow {
            blocks: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// A window restored from stored blocks (any order; the newest `capacity`
    /// consecutive ones are kept).
    pub fn restore(capacity: usize, mut stored: Vec<BlockRef>) -> Self {
        stored.sort_by_key(|b| b.number);
        let mut window = BlockWindow::new(capacity);
        for block in stored {
            if window.tip().is_some_and(|t| t.number + 1 != block.number) {
                // A hole: keep only what is consecutive up to the newest block.
                window.blocks.clear();
            }
            window.blocks.push_back(block);
            if window.blocks.len() > window.capacity {
                window.blocks.pop_front();
            }
        }
        window
    }

    pub fn tip(&self) -> Option<&BlockRef> {
        self.blocks.back()
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn get(&self, number: u64) -> Option<&BlockRef> {
        let first = self.blocks.front()?.number;
        let index = usize::try_from(number.checked_sub(first)?).ok()?;
        self.blocks.get(index)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &BlockRef> {
        self.blocks.iter()
    }

    /// What `block` means for the window.
    pub fn check(&self, block: &BlockRef) -> Check {
        let (Some(first), Some(tip)) = (self.blocks.front(), self.blocks.back()) else {
            return Check::Extends;
        };
        if block.number == tip.number + 1 {
            return if block.parent_hash == tip.hash {
                Check::Extends
            } else {
                Check::Reorg
            };
        }
        if block.number > tip.number + 1 {
            return Check::Gap {
                expected: tip.number + 1,
            };
        }
        if block.number < first.number {
            return Check::BelowWindow;
        }
        match self.get(block.number) {
            Some(known) if known.hash == block.hash => Check::Known,
            _ => Check::Reorg,
        }
    }

    /// Append a block that [`check`](Self::check) said extends the tip.
    pub fn push(&mut self, block: BlockRef) -> Result<(), WindowError> {
        if let Some(tip) = self.tip()
            && (block.number != tip.number + 1 || block.parent_hash != tip.hash)
        {
            return Err(WindowError::DoesNotExtend {
                number: block.number,
                tip: tip.number,
            });
        }
        self.blocks.push_back(block);
        if self.blocks.len() > self.capacity {
            self.blocks.pop_front();
        }
        Ok(())
    }

    /// The highest block of the window whose hash equals the canonical hash at its
    /// height. `canonical(n)` gives the canonical hash at `n`, or `None` when the
    /// chain is now shorter than `n`.
    pub fn fork_point(&self, mut canonical: impl FnMut(u64) -> Option<B256>) -> ForkPoint {
        for block in self.blocks.iter().rev() {
            if canonical(block.number) == Some(block.hash) {
                return ForkPoint::Common(block.number);
            }
        }
        ForkPoint::BeyondWindow {
            window_start: self.blocks.front().map_or(0, |b| b.number),
        }
    }

    /// Drop every block above `number` (after rolling the store back).
    pub fn truncate_above(&mut self, number: u64) {
        while self.blocks.back().is_some_and(|b| b.number > number) {
            self.blocks.pop_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain where every hash is derived from (fork id, number).
    fn h(fork: u8, n: u64) -> B256 {
        let mut bytes = [0u8; 32];
        bytes[0] = fork;
        bytes[24..].copy_from_slice(&n.to_be_bytes());
        B256::from(bytes)
    }

    /// Block `n` of fork `fork`, whose parent is on `parent_fork`.
    fn block(fork: u8, parent_fork: u8, n: u64) -> BlockRef {
        BlockRef {
            number: n,
            hash: h(fork, n),
            parent_hash: h(parent_fork, n - 1),
        }
    }

    fn window(cap: usize, range: std::ops::RangeInclusive<u64>) -> BlockWindow {
        let mut w = BlockWindow::new(cap);
        for n in range {
            w.push(block(0, 0, n)).unwrap();
        }
        w
    }

    #[test]
    fn check_table() {
        let w = window(5, 10..=14);
        let cases: &[(BlockRef, Check)] = &[
            (block(0, 0, 15), Check::Extends),
            (block(1, 1, 15), Check::Reorg),
            (block(0, 0, 17), Check::Gap { expected: 15 }),
            (block(0, 0, 12), Check::Known),
            (block(1, 0, 12), Check::Reorg),
            (block(0, 0, 9), Check::BelowWindow),
        ];
        for (b, expected) in cases {
            assert_eq!(w.check(b), *expected, "block {b:?}");
        }
        assert_eq!(BlockWindow::new(3).check(&block(0, 0, 100)), Check::Extends);
    }

    #[test]
    fn the_window_keeps_only_its_capacity() {
        let w = window(3, 1..=10);
        assert_eq!(
            w.iter().map(|b| b.number).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        assert!(w.get(7).is_none());
        assert_eq!(w.get(9).unwrap().hash, h(0, 9));
    }

    #[test]
    fn push_refuses_what_does_not_extend() {
        let mut w = window(3, 1..=3);
        assert_eq!(
            w.push(block(1, 1, 4)),
            Err(WindowError::DoesNotExtend { number: 4, tip: 3 })
        );
        assert!(w.push(block(0, 0, 5)).is_err());
        assert!(w.push(block(0, 0, 4)).is_ok());
    }

    /// (window, fork: canonical chain is fork 1 above `forked_above`, depth) →
    /// expected fork point.
    #[test]
    fn fork_point_table() {
        let cases: &[(u64, ForkPoint)] = &[
            // reorg of depth 1: 14 replaced, 13 common
            (13, ForkPoint::Common(13)),
            // depth 3
            (11, ForkPoint::Common(11)),
            // depth 5 = the whole window but its first block... 10 still common
            (10, ForkPoint::Common(10)),
            // deeper than the window
            (9, ForkPoint::BeyondWindow { window_start: 10 }),
            (0, ForkPoint::BeyondWindow { window_start: 10 }),
        ];
        let w = window(5, 10..=14);
        for (forked_above, expected) in cases {
            let canonical = |n: u64| Some(if n > *forked_above { h(1, n) } else { h(0, n) });
            assert_eq!(
                w.fork_point(canonical),
                *expected,
                "forked above {forked_above}"
            );
        }
        // A canonical chain that is now shorter than our tip.
        let shorter = |n: u64| (n <= 12).then(|| h(0, n));
        assert_eq!(w.fork_point(shorter), ForkPoint::Common(12));
    }

    #[test]
    fn a_reorg_of_depth_three_then_resuming_on_the_new_fork() {
        let mut w = window(10, 1..=20);
        // The new chain: blocks 18.. replaced by fork 1.
        let new18 = block(1, 0, 18);
        assert_eq!(w.check(&block(1, 1, 21)), Check::Reorg);
        let fork = w.fork_point(|n| Some(if n >= 18 { h(1, n) } else { h(0, n) }));
        assert_eq!(fork, ForkPoint::Common(17));
        w.truncate_above(17);
        assert_eq!(w.tip().unwrap().number, 17);
        assert_eq!(w.check(&new18), Check::Extends);
        w.push(new18).unwrap();
        for n in 19..=21 {
            let b = block(1, 1, n);
            assert_eq!(w.check(&b), Check::Extends);
            w.push(b).unwrap();
        }
        assert_eq!(w.tip().unwrap().hash, h(1, 21));
    }

    #[test]
    fn restore_keeps_the_newest_consecutive_run() {
        let stored = vec![
            block(0, 0, 5),
            block(0, 0, 3),
            block(0, 0, 7),
            block(0, 0, 6),
        ];
        let w = BlockWindow::restore(10, stored);
        assert_eq!(
            w.iter().map(|b| b.number).collect::<Vec<_>>(),
            vec![5, 6, 7]
        );
        let w = BlockWindow::restore(2, (1..=9).map(|n| block(0, 0, n)).collect());
        assert_eq!(w.iter().map(|b| b.number).collect::<Vec<_>>(), vec![8, 9]);
    }
}
