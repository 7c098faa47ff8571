//! Bf16 dense layers for the native engine: weights rounded to bf16 once at load, activations rounded per
//! value on the fly, the products summed in f32 on AMX tiles (`tdpbf16ps`, 16 × 16 × 32 multiply-adds an
//! instruction) or AVX-512 BF16 (`vdpbf16ps`, 32), then the same epilogue as the fp32 kernel (bias,
//! residual, GELU).
//!
//! Why beside int8: bf16 keeps 8 bits of every value relative to its own size, where int8 spends its 8
//! bits on a column's largest weight. Measured on the 1k set and held-out prompts, int8 weights moved
//! 0.6% of providers and bf16 weights 0.1% (docs/benchmarks.md); the routing's decisions are that
//! sensitive. Softmax, layer norm, GELU and pooling stay in f32.

use super::aligned::CacheAligned;
use super::packed::{finish, Epilogue, Operands, PANEL};
use super::quantized::{amx, cell_offset, panel_bytes, quarter_offset};
use super::team::SharedBuf;
use std::ops::Range;

/// Values of one panel row: 64 columns × 2 consecutive inputs.
const PAIR: usize = PANEL * 2;
/// Inputs of one AMX k block: 32 bf16 (64 bytes of an activation row).
const K_BLOCK: usize = 32;

/// Which bf16 kernel this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AMX tiles (`tdpbf16ps`).
    Amx,
    /// AVX-512 BF16 (`vdpbf16ps` on 512-bit registers: 32 multiply-adds an instruction), for CPUs with
    /// AVX-512 BF16 but no AMX (AMD Zen 4, Intel Cooper Lake).
    Avx512Bf16,
}

impl Bf16Kernel {
    /// Every kernel, fastest first.
    pub const ALL: [Bf16Kernel; 2] = [Bf16Kernel::Amx, Bf16Kernel::Avx512Bf16];

    /// The fastest bf16 kernel this CPU runs, if any.
    pub fn detect() -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.runs_here())
    }

    /// Whether this CPU (and, for AMX, the operating system) runs the kernel.
    pub fn runs_here(self) -> bool {
        match self {
            Bf16Kernel::Amx => amx::bf16_usable() && has_avx512_bf16(),
            Bf16Kernel::Avx512Bf16 => has_avx512_bf16(),
        }
    }

    /// A short name for logs and `/health`.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Kernel::Amx => "amx-bf16",
            Bf16Kernel::Avx512Bf16 => "avx512-bf16",
        }
    }

    /// The kernel named `name` ([`Self::name`]), if this CPU runs it.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .filter(|k| k.runs_here())
    }
}

/// Output rows computed at once by the AVX-512 BF16 kernel over a 64-column panel (6 × 4 accumulators, 4
/// weight registers and a broadcast fit in its 32 registers).
const ROWS: usize = 6;

/// `x` rounded to bf16 (to nearest, ties to even; NaN stays NaN).
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let rounding = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// A bf16 value back to f32 (exact).
pub fn from_bf16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// A `(k, n)` weight matrix in bf16, in 64-column panels: for each pair of inputs, the 64 columns' 2
/// values side by side (`k` padded to a multiple of 32 with zeros, whole AMX k blocks), the pairs in
/// the int8 panels' tile order ([`quarter_offset`], in bytes: halved for bf16 values).
pub struct Bf16Matrix {
    panels: CacheAligned<u16>,
    /// Pairs of inputs (`k` rounded up to a multiple of 32, halved).
    pairs: usize,
    k: usize,
    n: usize,
}

impl Bf16Matrix {
    /// Rounds `weight`, a `(k, n)` row-major matrix, to bf16; `None` if a length does not fit.
    pub fn pack(weight: &[f32], k: usize, n: usize) -> Option<Self> {
        if weight.len() != k * n || k == 0 || n == 0 {
            return None;
        }
        let count = n.div_ceil(PANEL);
        let pairs = k.next_multiple_of(K_BLOCK) / 2;
        let mut panels = CacheAligned::zeroed(count * pairs * PAIR);
        for r in 0..k {
            for c in 0..n {
                panels[position(pairs, r, c)] = to_bf16(weight[r * n + c]);
            }
        }
        Some(Self {
            panels,
            pairs,
            k,
            n,
        })
    }

    /// Number of panels (the unit of work division between threads).
    pub fn panel_count(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    /// Panel `p`'s values.
    fn panel(&self, p: usize) -> &[u16] {
        let len = panel_bytes(self.pairs) / 2;
        &self.panels[p * len..][..len]
    }

    /// Inputs a row of [`Bf16Rows`] holds for this matrix (`k` rounded up to whole k blocks).
    pub fn row_width(&self) -> usize {
        self.pairs * 2
    }

    /// `out[r, c] = epilogue(x[r, ..] · W[.., c])` for the `rows.m` rows of `rows` and the columns of
    /// panels `panels`, on `kernel`.
    ///
    /// # Safety
    /// `out` must hold `rows.m` rows of `n` values at stride `out_stride`, whose columns of `panels` no
    /// other thread accesses during the call; `bias`, if any, must hold `n` values; `panels` must lie
    /// within `0..panel_count()`; `kernel` must run on this CPU ([`Bf16Kernel::runs_here`]).
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn matmul(
        &self,
        rows: &Bf16Rows,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
        kernel: Bf16Kernel,
    ) {
        let width = self.row_width();
        assert!(
            rows.width == width
                && rows.data.len() >= rows.m.next_multiple_of(amx::BLOCK_ROWS) * width
        );
        match kernel {
            // SAFETY: the caller's guarantee; the rows hold whole AMX blocks (asserted).
            Bf16Kernel::Amx => unsafe { self.matmul_amx(rows, out, out_stride, panels, epilogue) },
            // SAFETY: the caller's guarantee.
            Bf16Kernel::Avx512Bf16 => unsafe {
                self.matmul_avx512(rows, out, out_stride, panels, epilogue)
            },
        }
    }

    /// # Safety
    /// As [`Self::matmul`], and the CPU must have AVX-512 BF16.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16,fma")]
    unsafe fn matmul_avx512(
        &self,
        rows: &Bf16Rows,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
    ) {
        let width = self.row_width();
        let mut sums = [[0f32; PANEL]; ROWS];
        for p in panels {
            let panel = self.panel(p);
            let used = PANEL.min(self.n - p * PANEL);
            for first in (0..rows.m).step_by(ROWS) {
                let count = (rows.m - first).min(ROWS);
                let a = rows.data[first * width..].as_ptr();
                let o = sums.as_mut_ptr().cast::<f32>();
                // SAFETY: rows first..first+count hold `width` bf16 each (asserted in `matmul`); the
                // panel holds `pairs` pair rows of 128 bf16; `sums` holds ROWS rows of 64 f32.
                unsafe {
                    match count {
                        6 => block_avx512::<6>(a, width, panel.as_ptr(), self.pairs, o),
                        5 => block_avx512::<5>(a, width, panel.as_ptr(), self.pairs, o),
                        4 => block_avx512::<4>(a, width, panel.as_ptr(), self.pairs, o),
                        3 => block_avx512::<3>(a, width, panel.as_ptr(), self.pairs, o),
                        2 => block_avx512::<2>(a, width, panel.as_ptr(), self.pairs, o),
                        _ => block_avx512::<1>(a, width, panel.as_ptr(), self.pairs, o),
                    }
                }
                for (i, values) in sums.iter().take(count).enumerate() {
                    // SAFETY: as in `matmul_amx`.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            out.add((first + i) * out_stride + p * PANEL),
                            used,
                        )
                    };
                    finish(dst, values, p, epilogue);
                }
            }
        }
    }

    /// # Safety
    /// As [`Self::matmul`], and the CPU must have AMX-BF16 ([`amx::bf16_usable`]); the rows hold whole
    /// AMX blocks.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn matmul_amx(
        &self,
        rows: &Bf16Rows,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
    ) {
        const HALF: usize = PANEL / 2;
        let width = self.row_width();
        assert!(
            rows.width == width
                && rows.data.len() >= rows.m.next_multiple_of(amx::BLOCK_ROWS) * width
        );
        let k_blocks = width / K_BLOCK;
        let mut sums = [[0f32; PANEL]; amx::BLOCK_ROWS];
        // SAFETY: AMX is usable (the caller's guarantee).
        unsafe { amx::configure() };
        // Row blocks outside, panels inside, as the int8 AMX kernel (quantized.rs) and for its reasons.
        for first in (0..rows.m).step_by(amx::BLOCK_ROWS) {
            let count = (rows.m - first).min(amx::BLOCK_ROWS);
            for p in panels.clone() {
                let panel = self.panel(p);
                let used = PANEL.min(self.n - p * PANEL);
                for half in 0..2 {
                    // SAFETY: rows first..first+32 lie in `rows.data` (asserted), `width` bf16 each;
                    // the panel holds `pairs = 16 k_blocks` pair rows in tile order, of which this
                    // half's two quarters are read; `sums` holds 32 rows of 64 f32, 256 bytes apart.
                    unsafe {
                        amx::block_bf16(
                            rows.data.as_ptr().add(first * width),
                            width * 2,
                            panel.as_ptr().add(quarter_offset(0, 2 * half) / 2),
                            k_blocks,
                            sums.as_mut_ptr().cast::<f32>().add(half * HALF),
                            PANEL * 4,
                        );
                    }
                }
                for (i, values) in sums.iter().take(count).enumerate() {
                    // SAFETY: row first + i of `out` holds n values from column 0; this panel's `used`
                    // columns are this call's alone (the caller's guarantee).
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            out.add((first + i) * out_stride + p * PANEL),
                            used,
                        )
                    };
                    finish(dst, values, p, epilogue);
                }
            }
        }
        // SAFETY: as above.
        unsafe { amx::release() };
    }

    /// The product in plain Rust on the same bf16 values (for tests on any CPU; sums in another order,
    /// so close to [`Self::matmul`], not equal).
    #[cfg(test)]
    fn matmul_reference(&self, rows: &Bf16Rows, r: usize, c: usize) -> f32 {
        (0..self.k)
            .map(|i| {
                let w = self.panels[position(self.pairs, i, c)];
                from_bf16(rows.data[r * rows.width + i]) * from_bf16(w)
            })
            .sum()
    }
}

/// Where weight `(r, c)` of a matrix with `pairs` pairs of inputs lies in its panels (in values): the
/// cell of column `c` in pair row `r / 2`, laid out as the int8 panels ([`cell_offset`]).
fn position(pairs: usize, r: usize, c: usize) -> usize {
    cell_offset(pairs, r / 2, c) / 2 + r % 2
}

/// `R` rows × 64 columns of f32 sums with AVX-512 BF16: per pair of inputs, 4 weight registers (the
/// panel's 64 columns × 2 bf16) and one broadcast of each row's pair, 4R `vdpbf16ps`.
///
/// # Safety
/// The CPU must support AVX-512F, BW and BF16; `panel` must hold `pairs` pair rows in tile order, `a` `R` rows
/// of `2 × pairs` bf16, `stride` bf16 apart; `out` `R` rows of 64 f32, 64 apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn block_avx512<const R: usize>(
    a: *const u16,
    stride: usize,
    panel: *const u16,
    pairs: usize,
    out: *mut f32,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 4]; R];
    for g in 0..pairs {
        // SAFETY: pair row g of the panel and bf16 2g..2g+2 of each row are in bounds (the caller's
        // guarantee); unaligned loads throughout; a bf16 vector is 64 bytes like the integer one.
        unsafe {
            let wp = panel.add(quarter_offset(g, 0) / 2);
            let load = |q: usize| {
                let v = _mm512_loadu_si512(wp.add(quarter_offset(0, q) / 2).cast());
                std::mem::transmute::<__m512i, __m512bh>(v)
            };
            let w: [__m512bh; 4] = [load(0), load(1), load(2), load(3)];
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = a.add(r * stride + 2 * g).cast::<i32>().read_unaligned();
                let x = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair));
                for (s, &w) in acc.iter_mut().zip(&w) {
                    *s = _mm512_dpbf16_ps(*s, x, w);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (c, v) in acc.iter().enumerate() {
            // SAFETY: `out` holds R rows of 64 f32 (the caller's guarantee).
            unsafe { _mm512_storeu_ps(out.add(r * PANEL + 16 * c), *v) };
        }
    }
}

/// Activation rows in bf16 for one product, kept in the encoder's workspace and shared by the threads of
/// a pass like [`super::quantized::SharedStore`]: each converts its own rows, then all read them.
#[derive(Default)]
pub struct Bf16Store {
    /// On a cache line, so that each AMX tile row of activations (64 bytes) is one line.
    data: CacheAligned<u16>,
}

impl Bf16Store {
    /// Makes room for `rows` rows of up to `k` inputs (rounded up to whole AMX blocks and k blocks).
    pub fn reserve(&mut self, rows: usize, k: usize) {
        let len = rows.next_multiple_of(amx::BLOCK_ROWS) * k.next_multiple_of(K_BLOCK);
        self.data.grow_to(len);
    }

    /// The store as the threads of one pass share it.
    pub fn shared(&mut self) -> SharedBf16 {
        SharedBf16 {
            data: SharedBuf::new(&mut self.data),
        }
    }
}

/// A [`Bf16Store`] shared by the threads of one pass.
pub struct SharedBf16 {
    data: SharedBuf<u16>,
}

impl SharedBf16 {
    /// Rounds rows `rows` of `ops.x` (`matrix`'s `k` inputs each) to bf16.
    ///
    /// # Safety
    /// `ops.x` must hold rows `rows` of `k` values at stride `ops.x_stride`, not written meanwhile; no
    /// other thread may access these rows of the store until the next barrier.
    pub unsafe fn convert_rows(&self, matrix: &Bf16Matrix, ops: &Operands, rows: Range<usize>) {
        let (k, width) = (matrix.k, matrix.row_width());
        for r in rows {
            // SAFETY: the caller's guarantee; row r of the store is this thread's alone until the next
            // barrier (`part_mut` checks it lies in the store).
            let (raw, out) = unsafe {
                (
                    std::slice::from_raw_parts(ops.x.add(r * ops.x_stride), k),
                    self.data.part_mut(r * width, width),
                )
            };
            convert(raw, out);
        }
    }

    /// The first `m` rows as `matrix`'s products read them.
    ///
    /// # Safety
    /// Every one of the `m` rows was converted for `matrix` before a barrier this thread has passed, and
    /// no thread writes the store while the result is in use.
    pub unsafe fn input(&self, matrix: &Bf16Matrix, m: usize) -> Bf16Rows<'_> {
        Bf16Rows {
            // SAFETY: the whole store; nothing writes it meanwhile (the caller's guarantee).
            data: unsafe { self.data.part(0, self.data.len) },
            width: matrix.row_width(),
            m,
        }
    }
}

/// One product's input in bf16 ([`SharedBf16::input`]): `m` rows of `width` values (then possibly more
/// rows, never used).
pub struct Bf16Rows<'a> {
    data: &'a [u16],
    width: usize,
    m: usize,
}

/// `out[i] = bf16(raw[i])`, and 0 past `raw` (the padding meets zero weights).
fn convert(raw: &[f32], out: &mut [u16]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if has_avx512_bf16() {
        // SAFETY: the CPU has AVX-512F and BF16; `out` is at least as long as `raw` (the row width covers
        // k).
        done = unsafe { convert_avx512_bf16(raw, out) };
    } else if super::kernels::has_avx512() {
        // SAFETY: the CPU has AVX-512F; `out` is at least as long as `raw`.
        done = unsafe { convert_avx512(raw, out) };
    }
    for (o, &v) in out.iter_mut().zip(raw).skip(done) {
        *o = to_bf16(v);
    }
    out.iter_mut().skip(raw.len()).for_each(|o| *o = 0);
}

/// Whether the CPU has AVX-512 BF16 (every CPU with AMX-BF16 has).
fn has_avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512bf16")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// [`convert`]'s rounding, 32 values an instruction (`vcvtne2ps2bf16`: to nearest, ties to even, as
/// [`to_bf16`]; it flushes subnormals to zero, which the activations never are in any way that matters).
/// Returns how many values it did.
///
/// # Safety
/// The CPU must support AVX-512F and BF16; `out` must be at least as long as `raw`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn convert_avx512_bf16(raw: &[f32], out: &mut [u16]) -> usize {
    use std::arch::x86_64::*;
    assert!(out.len() >= raw.len());
    let mut i = 0;
    while i + 32 <= raw.len() {
        // SAFETY: 32 values of `raw` and 32 of `out` from i (asserted lengths); the bf16 vector is 64
        // bytes like the integer one it is stored as.
        unsafe {
            let low = _mm512_loadu_ps(raw.as_ptr().add(i));
            let high = _mm512_loadu_ps(raw.as_ptr().add(i + 16));
            let packed = _mm512_cvtne2ps_pbh(high, low);
            _mm512_storeu_si512(
                out.as_mut_ptr().add(i).cast(),
                std::mem::transmute::<__m512bh, __m512i>(packed),
            );
        }
        i += 32;
    }
    i
}

/// [`convert`]'s rounding, 16 values at a time, with the same bits as [`to_bf16`] for every number
/// (activations are never NaN). Returns how many values it did.
///
/// # Safety
/// The CPU must support AVX-512F; `out` must be at least as long as `raw`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn convert_avx512(raw: &[f32], out: &mut [u16]) -> usize {
    use std::arch::x86_64::*;
    assert!(out.len() >= raw.len());
    let (one, bias) = (_mm512_set1_epi32(1), _mm512_set1_epi32(0x7fff));
    let mut i = 0;
    while i + 16 <= raw.len() {
        // SAFETY: 16 values of `raw` and 16 of `out` from i (asserted lengths).
        unsafe {
            let bits = _mm512_loadu_si512(raw.as_ptr().add(i).cast());
            let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), one);
            let rounded = _mm512_add_epi32(bits, _mm512_add_epi32(bias, odd));
            let high = _mm512_srli_epi32::<16>(rounded);
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi16(high));
        }
        i += 16;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        // 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1.0).
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        let x: Vec<f32> = (0..40)
            .map(|i| (i as f32 * 0.377).sin() * 10f32.powi(i % 7 - 3))
            .collect();
        let mut fast = vec![0u16; 48];
        convert(&x, &mut fast);
        let slow: Vec<u16> = x.iter().map(|&v| to_bf16(v)).chain([0; 8]).collect();
        assert_eq!(fast, slow);
        #[cfg(target_arch = "x86_64")]
        if super::super::kernels::has_avx512() {
            let mut out = vec![0u16; 40];
            // SAFETY: AVX-512F checked; out as long as x.
            let done = unsafe { convert_avx512(&x, &mut out) };
            assert_eq!(&out[..done], &slow[..done]);
        }
    }

    #[test]
    fn bf16_products_match_the_reference() {
        for (m, k, n) in [(1, 5, 3), (7, 384, 130), (45, 128, 200), (33, 1536, 64)] {
            let value = |i: usize, salt: usize| ((i * 7919 + salt * 31) % 211) as f32 / 105.0 - 1.0;
            let x: Vec<f32> = (0..m * k).map(|i| value(i, 1)).collect();
            let w: Vec<f32> = (0..k * n).map(|i| value(i, 2)).collect();
            let bias: Vec<f32> = (0..n).map(|i| value(i, 3)).collect();
            let matrix = Bf16Matrix::pack(&w, k, n).unwrap();
            let mut store = Bf16Store::default();
            store.reserve(m, k);
            let shared = store.shared();
            let ops = Operands {
                out: std::ptr::null_mut(),
                out_stride: n,
                x: x.as_ptr(),
                x_stride: k,
                m,
            };
            // SAFETY: x holds m rows of k values; one thread.
            let rows = unsafe {
                shared.convert_rows(&matrix, &ops, 0..m / 2);
                shared.convert_rows(&matrix, &ops, m / 2..m);
                shared.input(&matrix, m)
            };
            for r in 0..m {
                for c in 0..n {
                    let exact: f32 = (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum();
                    let got = matrix.matmul_reference(&rows, r, c);
                    // Each operand off by at most 2^-9 of itself.
                    let bound: f32 = (0..k).map(|i| (x[r * k + i] * w[i * n + c]).abs()).sum();
                    assert!(
                        (got - exact).abs() <= bound / 128.0 + 1e-5,
                        "({m},{k},{n}) [{r},{c}]"
                    );
                }
            }
            #[cfg(target_arch = "x86_64")]
            for kernel in Bf16Kernel::ALL.into_iter().filter(|k| k.runs_here()) {
                let mut out = vec![0f32; m * n];
                let e = Epilogue {
                    accumulate: false,
                    bias: Some(&bias),
                    gelu: false,
                };
                // SAFETY: out holds m × n, bias n; the kernel runs here (checked).
                unsafe {
                    matrix.matmul(
                        &rows,
                        out.as_mut_ptr(),
                        n,
                        0..matrix.panel_count(),
                        e,
                        kernel,
                    );
                }
                for r in 0..m {
                    for c in 0..n {
                        let want = matrix.matmul_reference(&rows, r, c) + bias[c];
                        let scale: f32 = (0..k).map(|i| (x[r * k + i] * w[i * n + c]).abs()).sum();
                        assert!(
                            (out[r * n + c] - want).abs() <= 1e-5 * scale + 1e-5,
                            "{kernel:?} ({m},{k},{n}) [{r},{c}]: {} vs {want}",
                            out[r * n + c]
                        );
                    }
                }
            }
        }
    }
}
