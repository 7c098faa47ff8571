//! Buffers that start on a cache line (weight panels, quantized activations), so that a kernel's 64-byte
//! loads and AMX tile rows never straddle two lines (with the heap's 16-byte alignment, three in four did).

use std::ops::{Deref, DerefMut};

/// Bytes of a cache line (and of an AVX-512 register, and of an AMX tile row).
const LINE: usize = 64;

/// `len` values of `T` whose first lies on a 64-byte boundary: a vector over-allocated by a line, used
/// from the first aligned element. The vector itself never grows (growing makes a new one), so its heap
/// block, and the alignment, stay put when the buffer is moved.
pub struct CacheAligned<T> {
    buf: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Copy + Default> CacheAligned<T> {
    /// `len` default values (zeros for numbers).
    pub fn zeroed(len: usize) -> Self {
        let size = std::mem::size_of::<T>().max(1);
        let buf = vec![T::default(); len + LINE / size];
        // The heap block is aligned to T, so the distance to the next line is a whole number of values
        // for the power-of-two sizes used here (1, 2 and 4 bytes); otherwise no alignment is promised.
        let to_line = (LINE - buf.as_ptr() as usize % LINE) % LINE;
        let start = if to_line.is_multiple_of(size) {
            to_line / size
        } else {
            0
        };
        Self { buf, start, len }
    }

    /// Grows to at least `len` values (a scratch buffer's room): a new aligned block with the old values
    /// first and defaults after. Never shrinks.
    pub fn grow_to(&mut self, len: usize) {
        if len > self.len {
            let mut grown = Self::zeroed(len);
            grown[..self.len].copy_from_slice(self);
            *self = grown;
        }
    }
}

impl<T: Copy + Default> Default for CacheAligned<T> {
    fn default() -> Self {
        Self::zeroed(0)
    }
}

impl<T> Deref for CacheAligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl<T> DerefMut for CacheAligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_line_and_holds_len_zeroed_values() {
        for len in [0usize, 1, 63, 64, 1000] {
            let a = CacheAligned::<i8>::zeroed(len);
            assert_eq!(a.as_ptr() as usize % LINE, 0);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&v| v == 0));
            let b = CacheAligned::<u16>::zeroed(len);
            assert_eq!(b.as_ptr() as usize % LINE, 0);
            let c = CacheAligned::<f32>::zeroed(len);
            assert_eq!(c.as_ptr() as usize % LINE, 0);
            assert_eq!(c.len(), len);
        }
        // Growing keeps the values and the alignment.
        let mut g = CacheAligned::<u8>::zeroed(3);
        g[2] = 9;
        g.grow_to(1000);
        assert_eq!((g.len(), g[2], g[999]), (1000, 9, 0));
        assert_eq!(g.as_ptr() as usize % LINE, 0);
        g.grow_to(10);
        assert_eq!(g.len(), 1000);
        // Moving the buffer keeps its heap block, so it stays aligned.
        let a = CacheAligned::<f32>::zeroed(100);
        let moved = Box::new(a);
        assert_eq!(moved.as_ptr() as usize % LINE, 0);
    }
}
