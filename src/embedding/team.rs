//! What the native engine's thread team shares in one forward pass: workspace buffers that each thread
//! writes only its own part of, a spinning barrier between the steps, and the split of work into shares.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A workspace buffer that the team's threads read and write through, each writing only its own part
/// (columns of a product, rows of a norm, one head of one text in attention, rows of a quantized input)
/// between two barriers.
pub(super) struct SharedBuf<T = f32> {
    pub(super) ptr: *mut T,
    pub(super) len: usize,
}

// SAFETY: the threads of one forward pass only write disjoint parts of a buffer between two barriers, and
// only read parts no thread writes in that step (see `CpuBert::run_thread`); the buffers outlive the pass.
unsafe impl<T: Send> Send for SharedBuf<T> {}
// SAFETY: as for `Send`: shared access is partitioned by the barriers of the pass.
unsafe impl<T: Send> Sync for SharedBuf<T> {}

impl<T> Clone for SharedBuf<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedBuf<T> {}

impl<T> SharedBuf<T> {
    pub(super) fn new(buf: &mut [T]) -> Self {
        Self {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
        }
    }

    /// `len` values from `start`, for writing.
    ///
    /// # Safety
    /// No other thread may access these values until the next barrier.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn part_mut(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.len, "workspace part out of bounds");
        // SAFETY: in bounds (checked above); exclusive by the caller's guarantee.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }

    /// A raw pointer to value `start`, for kernels that take a pointer and a row stride; `extent` values
    /// from there must lie in the buffer (checked), and the caller keeps to the pass's partitioning.
    pub(super) fn ptr_at(&self, start: usize, extent: usize) -> *mut T {
        assert!(
            start + extent <= self.len,
            "workspace pointer out of bounds"
        );
        // SAFETY: `start <= len` (checked above), so the offset stays inside (or one past) the allocation.
        unsafe { self.ptr.add(start) }
    }

    /// `len` values from `start`, for reading.
    ///
    /// # Safety
    /// No thread may write these values until the next barrier.
    pub(super) unsafe fn part(&self, start: usize, len: usize) -> &[T] {
        assert!(start + len <= self.len, "workspace part out of bounds");
        // SAFETY: in bounds (checked above); not written concurrently by the caller's guarantee.
        unsafe { std::slice::from_raw_parts(self.ptr.add(start), len) }
    }
}

/// A barrier that spins (then yields) instead of sleeping: the team passes dozens of them per forward pass,
/// each after a few microseconds of work, where a futex wake-up would cost more than the work.
pub(super) struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    /// Set when a thread of the pass failed: every wait returns at once from then on.
    poisoned: AtomicBool,
}

impl SpinBarrier {
    pub(super) fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }

    pub(super) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// Returns once all `threads` threads have called `wait` for this generation (or the barrier is
    /// poisoned). Everything a thread wrote before its call is visible to every thread after theirs.
    pub(super) fn wait(&self) {
        if self.threads <= 1 {
            return;
        }
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if self.poisoned.load(Ordering::Acquire) {
                return;
            }
            if spins < 1_000 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                // Another thread was descheduled: stop burning the core it may need.
                std::thread::yield_now();
            }
        }
    }
}

/// The `index`-th of `parts` near-equal contiguous shares of `0..total`, share boundaries rounded to
/// `align` (so that column shares start on a vector boundary).
pub(super) fn share(total: usize, parts: usize, index: usize, align: usize) -> Range<usize> {
    let bound = |i: usize| {
        if i >= parts {
            total
        } else {
            (total * i / parts / align * align).min(total)
        }
    };
    bound(index)..bound(index + 1)
}

/// The `index`-th of `parts` contiguous shares of `0..total` whose items cost `cost(i)` each: share `i`
/// starts where the running cost comes nearest to `i / parts` of the whole (the earlier item on a tie), so
/// that threads given items of unequal work finish together.
pub(super) fn share_by_cost(
    total: usize,
    parts: usize,
    index: usize,
    cost: impl Fn(usize) -> usize,
) -> Range<usize> {
    let sum: usize = (0..total).map(&cost).sum();
    let bound = |i: usize| {
        if i == 0 {
            return 0;
        }
        if i >= parts {
            return total;
        }
        // Scaled by `parts`, the running cost before item j against i shares of the sum.
        let target = sum * i;
        let mut before = 0;
        for j in 0..total {
            let after = before + cost(j) * parts;
            if after > target {
                // Item j straddles the target: end the share before it or after it, whichever is nearer.
                return if target - before <= after - target {
                    j
                } else {
                    j + 1
                };
            }
            before = after;
        }
        total
    };
    bound(index)..bound(index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_by_cost_balance_unequal_items() {
        // qkv with a second weight digit on V: 12 panels of 2 passes, then 6 of 3.
        let qkv = |p: usize| if p < 12 { 2 } else { 3 };
        let halves = [share_by_cost(18, 2, 0, qkv), share_by_cost(18, 2, 1, qkv)];
        let work = |r: &Range<usize>| r.clone().map(qkv).sum::<usize>();
        assert_eq!(halves[0].start, 0);
        assert_eq!(halves[0].end, halves[1].start);
        assert_eq!(halves[1].end, 18);
        // Half by count is 18 and 24 passes; by cost no thread has more than 22.
        assert!(halves.iter().all(|h| work(h) <= 22), "{halves:?}");
        // Equal costs split as `share` does where the parts divide evenly.
        for parts in [1, 2, 3, 6] {
            for i in 0..parts {
                assert_eq!(share_by_cost(6, parts, i, |_| 1), share(6, parts, i, 1));
            }
        }
    }

    #[test]
    fn shares_by_cost_cover_every_item_once() {
        let costs = [0, 0, 5, 1, 0, 7, 2, 2, 0, 3];
        for parts in 1..=12 {
            let shares: Vec<_> = (0..parts)
                .map(|i| share_by_cost(costs.len(), parts, i, |j| costs[j]))
                .collect();
            assert_eq!(shares[0].start, 0);
            assert_eq!(shares[parts - 1].end, costs.len());
            for pair in shares.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "{shares:?}");
            }
        }
        // No items, or nothing to do: every share is still well formed.
        assert_eq!(share_by_cost(0, 2, 1, |_| 1), 0..0);
        assert_eq!(share_by_cost(4, 2, 0, |_| 0).start, 0);
        assert_eq!(share_by_cost(4, 2, 1, |_| 0).end, 4);
    }
}
