//! Dense-layer weights packed in 64-column panels, and the matmul kernel that streams them.
//!
//! A `(k, n)` row-major weight matrix is stored as ⌈n / 64⌉ panels, each its 64 columns for all `k` rows,
//! contiguous (`k × 64` values; the last panel zero-padded). The kernel computes 6 rows × 64 columns of the
//! output at a time in 24 AVX-512 registers, reading the panel front to back. Measured against `gemm` on the
//! row-major matrix (`benches/matmul.rs`, one thread, this model's weights): 2.9× faster for 8 tokens, 2.2× for
//! 15, 1.25× for 60, about equal from 512 on — with few tokens the cost is streaming 42 MB of weights from memory, and one sequential
//! stream per panel is what hardware prefetchers serve best, where a row-major matrix is read in 256-byte
//! pieces 4.6 KB apart. CPUs without AVX-512 run a portable version of the same loop.

use super::aligned::CacheAligned;
use std::ops::Range;

/// Columns per panel: four 16-float AVX-512 registers.
pub const PANEL: usize = 64;
/// Output rows computed at once by the AVX-512 kernel over a 64-column panel (6 × 4 accumulators + 4 weight
/// registers + 1 broadcast fit in its 32 registers).
const ROWS: usize = 6;

/// What the kernel does with each output value besides the product.
#[derive(Clone, Copy)]
pub struct Epilogue<'a> {
    /// Adds the old value of the output (a residual connection).
    pub accumulate: bool,
    /// Adds this per-column bias.
    pub bias: Option<&'a [f32]>,
    /// Applies erf-GELU last.
    pub gelu: bool,
}

/// Where a product reads and writes: `m` rows of `x`, `x_stride` apart, in; the same rows of `out`,
/// `out_stride` apart, out.
#[derive(Clone, Copy)]
pub struct Operands {
    pub out: *mut f32,
    pub out_stride: usize,
    pub x: *const f32,
    pub x_stride: usize,
    pub m: usize,
}

/// A `(k, n)` weight matrix in panels.
pub struct PackedMatrix {
    panels: CacheAligned<f32>,
    k: usize,
    n: usize,
}

impl PackedMatrix {
    /// Packs `weight`, a `(k, n)` row-major matrix; `None` if its length is not `k × n`.
    pub fn pack(weight: &[f32], k: usize, n: usize) -> Option<Self> {
        if weight.len() != k * n {
            return None;
        }
        let count = n.div_ceil(PANEL);
        let mut panels = CacheAligned::zeroed(count * k * PANEL);
        for (p, panel) in panels.chunks_exact_mut(k * PANEL).enumerate() {
            let cols = p * PANEL..((p + 1) * PANEL).min(n);
            for (row, dst) in panel.chunks_exact_mut(PANEL).enumerate() {
                dst[..cols.len()].copy_from_slice(&weight[row * n..][cols.clone()]);
            }
        }
        Some(Self { panels, k, n })
    }

    /// The matrix back in `(k, n)` row-major order.
    pub fn unpack(&self) -> Vec<f32> {
        let mut weight = vec![0f32; self.k * self.n];
        for (p, panel) in self.panels.chunks_exact(self.k * PANEL).enumerate() {
            let cols = p * PANEL..((p + 1) * PANEL).min(self.n);
            for (row, src) in panel.chunks_exact(PANEL).enumerate() {
                weight[row * self.n..][cols.clone()].copy_from_slice(&src[..cols.len()]);
            }
        }
        weight
    }

    /// Rows (inputs) of the matrix.
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns (outputs) of the matrix.
    pub fn columns(&self) -> usize {
        self.n
    }

    /// Number of panels (the unit of work division between threads).
    pub fn panel_count(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    /// `out[r, c] = epilogue(x[r, ..] · W[.., c])` for the rows of `ops` and the columns of panels `panels`.
    ///
    /// # Safety
    /// `ops.x` must hold `m` rows of `k` values at stride `x_stride`; `ops.out` must hold `m` rows of `n`
    /// values at stride `out_stride`, whose columns of `panels` no other thread accesses during the call;
    /// `bias`, if any, must hold `n` values; `panels` must lie within `0..panel_count()`.
    pub unsafe fn matmul(&self, ops: Operands, panels: Range<usize>, epilogue: Epilogue) {
        #[cfg(target_arch = "x86_64")]
        if super::kernels::has_avx512() {
            // SAFETY: the CPU has the features; the caller guarantees the rest.
            return unsafe { self.matmul_avx512(ops, panels, epilogue) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features; the caller guarantees the rest.
            return unsafe { self.matmul_avx2(ops, panels, epilogue) };
        }
        // SAFETY: the caller's guarantee.
        unsafe { self.matmul_portable(ops, panels, epilogue) }
    }

    /// AVX2 with FMA (CPUs without AVX-512): each quarter panel (16 columns, 2 registers) times blocks of 6
    /// rows, the classic 6×16 shape: 12 accumulators, 2 weights and a broadcast fit AVX2's 16 registers
    /// (3 rows of a half panel would need 17 and spill), and each weight is loaded once per 6 rows.
    ///
    /// # Safety
    /// As `matmul`, and the CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn matmul_avx2(&self, ops: Operands, panels: Range<usize>, epilogue: Epilogue) {
        let Operands {
            out,
            out_stride,
            x,
            x_stride,
            m,
        } = ops;
        const BLOCK: usize = 6;
        const COLUMNS: usize = 16;
        let mut sums = [0f32; BLOCK * PANEL];
        for p in panels {
            let panel = &self.panels[p * self.k * PANEL..][..self.k * PANEL];
            let width = PANEL.min(self.n - p * PANEL);
            for first in (0..m).step_by(BLOCK) {
                let rows = (m - first).min(BLOCK);
                // SAFETY: rows first..first+rows of x and out exist (caller); the panel holds k rows of 64
                // values, so each quarter starts inside it and spans k rows of 16; `sums` holds 6 rows of 64.
                unsafe {
                    let xr = x.add(first * x_stride);
                    for group in 0..PANEL / COLUMNS {
                        if group * COLUMNS >= width {
                            break;
                        }
                        let w = panel.as_ptr().add(group * COLUMNS);
                        let o = sums.as_mut_ptr().add(group * COLUMNS);
                        match rows {
                            6 => block_avx2::<6, 2>(xr, x_stride, w, self.k, o),
                            5 => block_avx2::<5, 2>(xr, x_stride, w, self.k, o),
                            4 => block_avx2::<4, 2>(xr, x_stride, w, self.k, o),
                            3 => block_avx2::<3, 2>(xr, x_stride, w, self.k, o),
                            2 => block_avx2::<2, 2>(xr, x_stride, w, self.k, o),
                            _ => block_avx2::<1, 2>(xr, x_stride, w, self.k, o),
                        }
                    }
                    for (i, acc) in sums.chunks_exact(PANEL).take(rows).enumerate() {
                        let dst = std::slice::from_raw_parts_mut(
                            out.add((first + i) * out_stride + p * PANEL),
                            width,
                        );
                        finish(dst, acc, p, epilogue);
                    }
                }
            }
        }
    }

    /// The portable path (also what the tests compare the vector ones against).
    ///
    /// # Safety
    /// As `matmul`.
    unsafe fn matmul_portable(&self, ops: Operands, panels: Range<usize>, epilogue: Epilogue) {
        let Operands {
            out,
            out_stride,
            x,
            x_stride,
            m,
        } = ops;
        for p in panels {
            let panel = &self.panels[p * self.k * PANEL..][..self.k * PANEL];
            let width = PANEL.min(self.n - p * PANEL);
            for r in 0..m {
                // SAFETY: row r of x has k values (caller's guarantee).
                let row = unsafe { std::slice::from_raw_parts(x.add(r * x_stride), self.k) };
                let mut acc = [0f32; PANEL];
                for (&xv, w) in row.iter().zip(panel.chunks_exact(PANEL)) {
                    for (a, &wv) in acc.iter_mut().zip(w) {
                        *a = xv.mul_add(wv, *a);
                    }
                }
                // SAFETY: columns p·64 .. p·64+width of row r are inside `out` and this thread's (caller).
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(out.add(r * out_stride + p * PANEL), width)
                };
                finish(dst, &acc[..width], p, epilogue);
            }
        }
    }

    /// # Safety
    /// As `matmul`, and the CPU must support AVX-512F and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn matmul_avx512(&self, ops: Operands, panels: Range<usize>, epilogue: Epilogue) {
        let Operands {
            out,
            out_stride,
            x,
            x_stride,
            m,
        } = ops;
        let mut sums = [0f32; ROWS * PANEL];
        for p in panels {
            let panel = &self.panels[p * self.k * PANEL..][..self.k * PANEL];
            let width = PANEL.min(self.n - p * PANEL);
            for first in (0..m).step_by(ROWS) {
                let rows = (m - first).min(ROWS);
                // SAFETY: rows first..first+rows of x and out exist (caller); `sums` holds ROWS rows of 64.
                unsafe {
                    rows_times_panel::<4>(
                        x.add(first * x_stride),
                        x_stride,
                        rows,
                        panel,
                        self.k,
                        sums.as_mut_ptr(),
                        PANEL,
                    );
                    for (i, acc) in sums.chunks_exact(PANEL).take(rows).enumerate() {
                        let dst = std::slice::from_raw_parts_mut(
                            out.add((first + i) * out_stride + p * PANEL),
                            width,
                        );
                        finish(dst, acc, p, epilogue);
                    }
                }
            }
        }
    }
}

/// Writes `acc` (one row's products over one panel) to `dst` through the epilogue.
/// Writes one row's `acc` for panel `panel` into `dst` through the epilogue.
#[inline(always)]
pub(crate) fn finish(dst: &mut [f32], acc: &[f32], panel: usize, e: Epilogue) {
    let width = dst.len();
    let bias = e.bias.map(|b| &b[panel * PANEL..][..width]);
    // A whole panel (all but a last, partial one) as fixed-size arrays, so that every copy is a few register
    // moves rather than a memcpy call.
    if let (Ok(d), Ok(a)) = (
        <&mut [f32; PANEL]>::try_from(&mut *dst),
        <&[f32; PANEL]>::try_from(&acc[..width.min(acc.len())]),
    ) {
        let b = bias.and_then(|b| <&[f32; PANEL]>::try_from(b).ok());
        finish_fixed(d, a, b, e);
        return;
    }
    let mut d = [0f32; PANEL];
    d[..width].copy_from_slice(dst);
    let mut a = [0f32; PANEL];
    a[..width].copy_from_slice(&acc[..width]);
    let mut b = [0f32; PANEL];
    if let Some(bias) = bias {
        b[..width].copy_from_slice(bias);
    }
    finish_fixed(&mut d, &a, bias.map(|_| &b), e);
    dst.copy_from_slice(&d[..width]);
}

/// `finish` for a whole panel; one loop per step, with the choices outside the loops, so that each compiles
/// to vector code (GELU's included).
#[inline(always)]
fn finish_fixed(
    dst: &mut [f32; PANEL],
    acc: &[f32; PANEL],
    bias: Option<&[f32; PANEL]>,
    e: Epilogue,
) {
    let mut v = *acc;
    if let Some(bias) = bias {
        for (v, &b) in v.iter_mut().zip(bias) {
            *v += b;
        }
    }
    if e.accumulate {
        for (v, &d) in v.iter_mut().zip(dst.iter()) {
            *v += d;
        }
    }
    if e.gelu {
        for v in v.iter_mut() {
            *v = super::kernels::gelu(*v);
        }
    }
    *dst = v;
}

/// `R` rows of `x` times a `(k, 16·C)` contiguous panel: `R × C` registers of sums, the panel read once, front
/// to back; the sums are stored to `R` rows of `out`, `out_stride` apart.
///
/// # Safety
/// `x` must hold `R` rows of `k` values at stride `x_stride`, `panel` `k × 16·C` values and `out` `R` rows of
/// `16·C` values at stride `out_stride`; the CPU must support AVX-512F and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[inline]
unsafe fn block<const R: usize, const C: usize>(
    x: *const f32,
    x_stride: usize,
    panel: *const f32,
    k: usize,
    out: *mut f32,
    out_stride: usize,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); C]; R];
    for kk in 0..k {
        // SAFETY: kk < k, so the 16·C values at kk·16·C are inside the panel; x[r, kk] is inside x (caller).
        unsafe {
            let wp = panel.add(kk * C * 16);
            let mut w = [_mm512_setzero_ps(); C];
            for (c, w) in w.iter_mut().enumerate() {
                *w = _mm512_loadu_ps(wp.add(16 * c));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let b = _mm512_set1_ps(*x.add(r * x_stride + kk));
                for (a, &w) in acc.iter_mut().zip(&w) {
                    *a = _mm512_fmadd_ps(w, b, *a);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (c, v) in acc.iter().enumerate() {
            // SAFETY: row r of out has 16·C values (caller).
            unsafe { _mm512_storeu_ps(out.add(r * out_stride + 16 * c), *v) };
        }
    }
}

/// `R` rows of `x` times `8·C` columns of a 64-wide panel (rows of the panel `PANEL` apart): `R × C` AVX2
/// registers of sums, stored to `R` rows of `out`, `PANEL` apart.
///
/// # Safety
/// `x` must hold `R` rows of `k` values at stride `x_stride`; `panel` must address `k` rows of at least
/// `8·C` values, `PANEL` apart; `out` `R` rows of `8·C` values, `PANEL` apart; the CPU must support AVX2
/// and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn block_avx2<const R: usize, const C: usize>(
    x: *const f32,
    x_stride: usize,
    panel: *const f32,
    k: usize,
    out: *mut f32,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); C]; R];
    for kk in 0..k {
        // SAFETY: kk < k, so the 8·C values at kk·PANEL are inside the panel; x[r, kk] is inside x (caller).
        unsafe {
            let wp = panel.add(kk * PANEL);
            let mut w = [_mm256_setzero_ps(); C];
            for (c, w) in w.iter_mut().enumerate() {
                *w = _mm256_loadu_ps(wp.add(8 * c));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let b = _mm256_set1_ps(*x.add(r * x_stride + kk));
                for (a, &w) in acc.iter_mut().zip(&w) {
                    *a = _mm256_fmadd_ps(w, b, *a);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (c, v) in acc.iter().enumerate() {
            // SAFETY: row r of out has 8·C values (caller).
            unsafe { _mm256_storeu_ps(out.add(r * PANEL + 8 * c), *v) };
        }
    }
}

/// `out (m, 16·C) = x (m, k) · panel (k, 16·C)` with `x` rows `x_stride` apart, `out` rows `out_stride` apart
/// and the panel contiguous, in blocks of as many rows as 24 accumulator registers allow (6 for C = 4, 12 for
/// C = 2). AVX-512 only: the caller checks `kernels::has_avx512`.
///
/// # Safety
/// As `block`, for `m` rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
pub(crate) unsafe fn rows_times_panel<const C: usize>(
    x: *const f32,
    x_stride: usize,
    m: usize,
    panel: &[f32],
    k: usize,
    out: *mut f32,
    out_stride: usize,
) {
    assert!(panel.len() >= k * 16 * C, "panel too short");
    let most = (24 / C).clamp(1, 12);
    let p = panel.as_ptr();
    let mut r = 0;
    while r < m {
        let rows = (m - r).min(most);
        // SAFETY: rows r..r+rows of x and out exist (caller); the panel length is checked above.
        unsafe {
            let (xr, or) = (x.add(r * x_stride), out.add(r * out_stride));
            match rows {
                12 => block::<12, C>(xr, x_stride, p, k, or, out_stride),
                11 => block::<11, C>(xr, x_stride, p, k, or, out_stride),
                10 => block::<10, C>(xr, x_stride, p, k, or, out_stride),
                9 => block::<9, C>(xr, x_stride, p, k, or, out_stride),
                8 => block::<8, C>(xr, x_stride, p, k, or, out_stride),
                7 => block::<7, C>(xr, x_stride, p, k, or, out_stride),
                6 => block::<6, C>(xr, x_stride, p, k, or, out_stride),
                5 => block::<5, C>(xr, x_stride, p, k, or, out_stride),
                4 => block::<4, C>(xr, x_stride, p, k, or, out_stride),
                3 => block::<3, C>(xr, x_stride, p, k, or, out_stride),
                2 => block::<2, C>(xr, x_stride, p, k, or, out_stride),
                _ => block::<1, C>(xr, x_stride, p, k, or, out_stride),
            }
        }
        r += rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], w: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] = (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum();
            }
        }
        out
    }

    fn values(len: usize, salt: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + salt * 31) % 211) as f32 / 105.0 - 1.0)
            .collect()
    }

    /// Both paths against a naive product, for shapes with partial row blocks and a partial last panel,
    /// with every epilogue, on disjoint panel ranges (as two threads would split them).
    #[test]
    fn matches_a_naive_product() {
        for (m, k, n) in [(1, 3, 64), (7, 33, 100), (13, 384, 128), (6, 16, 200)] {
            let x = values(m * k, 1);
            let w = values(k * n, 2);
            let bias = values(n, 3);
            let start = values(m * n, 4);
            let packed = PackedMatrix::pack(&w, k, n).unwrap();
            let product = naive(&x, &w, m, k, n);
            for (accumulate, with_bias, gelu) in [
                (false, false, false),
                (true, true, false),
                (false, true, true),
            ] {
                let expected: Vec<f32> = product
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let mut v = v;
                        if with_bias {
                            v += bias[i % n];
                        }
                        if accumulate {
                            v += start[i];
                        }
                        if gelu {
                            super::super::kernels::gelu(v)
                        } else {
                            v
                        }
                    })
                    .collect();
                let e = Epilogue {
                    accumulate,
                    bias: with_bias.then_some(&bias[..]),
                    gelu,
                };
                let count = packed.panel_count();
                let ops = |out: &mut Vec<f32>| Operands {
                    out: out.as_mut_ptr(),
                    out_stride: n,
                    x: x.as_ptr(),
                    x_stride: k,
                    m,
                };
                let split = count / 2;
                // The portable loop, and what `matmul` dispatches to on this CPU (AVX-512, else
                // AVX2 with FMA, else the portable loop again).
                for dispatched in [false, true] {
                    let mut out = start.clone();
                    for panels in [0..split, split..count] {
                        // SAFETY: shapes as documented; one thread.
                        unsafe {
                            if dispatched {
                                packed.matmul(ops(&mut out), panels, e);
                            } else {
                                packed.matmul_portable(ops(&mut out), panels, e);
                            }
                        }
                    }
                    let worst = out
                        .iter()
                        .zip(&expected)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0f32, f32::max);
                    assert!(
                        worst < 1e-4,
                        "{m}x{k}x{n} dispatched={dispatched} acc={accumulate} bias={with_bias} gelu={gelu}: {worst}"
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_a_wrong_length() {
        assert!(PackedMatrix::pack(&[1.0; 10], 3, 4).is_none());
    }
}
