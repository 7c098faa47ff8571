//! Int8 dense layers for the native engine: weights quantized once at load (symmetric, one scale per
//! output column), activations quantized per row on the fly (asymmetric u8, one scale and zero point per
//! token), the products summed exactly in i32 on VNNI's `vpdpbusd` (64 multiply-adds per instruction where
//! fp32 FMA does 16), then scaled back to f32 for the same epilogue as the fp32 kernel (bias, residual,
//! GELU). Softmax, layer norm, GELU and pooling stay in f32.
//!
//! Where both operands need more than 8 bits, the register kernels (AVX-512 VNNI, AVX-VNNI) take a wide
//! form instead: 13-bit activations and 12-bit weights as i16, on `vpdpwssd`
//! ([`QuantizedMatrix::quantize_wide`]).
//!
//! The integer sums are exact, so the portable loop (any CPU) and the VNNI kernel give the same bits: the
//! agreement with fp32 can be tested anywhere, and measured for speed where the CPU has VNNI.

use super::aligned::CacheAligned;
use super::packed::{finish, Epilogue, Operands, PANEL};
use super::team::SharedBuf;
use std::ops::Range;

/// Bytes a column takes in a panel row: its 4 int8 inputs, or its 2 bf16 inputs.
const CELL: usize = 4;
/// Bytes of one panel row group: 64 columns × 4 consecutive inputs (four AVX-512 registers).
const GROUP: usize = PANEL * CELL;
/// Columns of a quarter of a panel row: one AVX-512 register and one AMX tile row of cells.
const QUARTER_COLUMNS: usize = 16;
/// Bytes of a quarter of a panel row.
const QUARTER: usize = QUARTER_COLUMNS * CELL;
/// Panel rows of one k block (an AMX tile's rows).
const BLOCK_ROWS_K: usize = 16;

/// Where quarter `q` (16 columns, 64 bytes) of panel row `row` lies in its panel, in bytes. A panel row
/// is a group of 4 int8 inputs or a pair of bf16 inputs over the panel's 64 columns (256 bytes). Panels
/// are in tile order: each k block of 16 rows keeps a quarter's 16 rows together, so the weights of one
/// AMX tile are 1 KB read in one run (with the rows 256 bytes apart, each tile load touched 16 cache
/// lines at a stride: +2% AMX int8 and +6% AMX bf16 throughput once in order, measured), and a register
/// kernel's four loads of a row are four sequential streams.
#[inline(always)]
pub(super) const fn quarter_offset(row: usize, q: usize) -> usize {
    (row / BLOCK_ROWS_K) * BLOCK_ROWS_K * GROUP
        + q * BLOCK_ROWS_K * QUARTER
        + (row % BLOCK_ROWS_K) * QUARTER
}

/// Bytes of a panel of `rows` panel rows: whole k blocks.
pub(super) const fn panel_bytes(rows: usize) -> usize {
    rows.div_ceil(BLOCK_ROWS_K) * BLOCK_ROWS_K * GROUP
}

/// Where column `c`'s cell of panel row `row` lies in a matrix's panels of `rows` panel rows each, in
/// bytes: panel `c / 64`, the row's quarter in tile order ([`quarter_offset`]), the column's place in it.
/// The int8 and bf16 weights are laid out by it alike.
pub(super) const fn cell_offset(rows: usize, row: usize, c: usize) -> usize {
    let col = c % PANEL;
    (c / PANEL) * panel_bytes(rows)
        + quarter_offset(row, col / QUARTER_COLUMNS)
        + (col % QUARTER_COLUMNS) * CELL
}
/// Output rows computed at once by the VNNI kernel over a 64-column panel (6 × 4 accumulators, 4 weight
/// registers and a broadcast fit in its 32 registers).
const ROWS: usize = 6;
/// Rows the register kernels take through all their panels before the next rows (a multiple of every
/// kernel's row block): the chunk's activations stay in L1/L2 across the panels, where with each panel
/// taking all rows the output product's 16-bit activations (3 KB a row) streamed from L3 once per panel.
const CHUNK_ROWS: usize = 24;
/// Groups of 4 inputs the register kernels take through a chunk's rows before the next groups (a
/// multiple of a k block's 16): 128 groups of a panel are 32 KB of weights, which stay in L1 while the
/// chunk's row blocks pass, where the output product's 96 KB panel came from L2 for each row block.
/// Both together: +7-10% int8 throughput on AVX-512 VNNI, +4-13% on AVX-VNNI (interleaved runs).
const K_CHUNK_GROUPS: usize = 128;
// A chunk of inputs starts on a k block, so that its groups are a panel of their own in tile order.
const _: () = assert!(K_CHUNK_GROUPS.is_multiple_of(BLOCK_ROWS_K));
/// Sums kept per output row and column: one per activation digit (high, low), and one for the fine
/// weight digit (times the high activation digit).
const SLOTS: usize = 3;

/// Which int8 kernel this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// AMX (`tdpbusd` on 16 × 64-byte tiles: 16,384 multiply-adds an instruction), with AVX-512 VNNI for
    /// the products whose shapes do not fill whole tiles.
    Amx,
    /// AVX-512 VNNI (`vpdpbusd` on 512-bit registers).
    Avx512Vnni,
    /// AVX-VNNI (`vpdpbusd` on 256-bit registers), for CPUs with VNNI but no AVX-512.
    AvxVnni,
    /// Plain Rust: the same integer sums, much slower. Used where the CPU has no VNNI.
    Portable,
}

impl Int8Kernel {
    /// The fastest int8 kernel this CPU runs.
    pub fn detect() -> Self {
        let vnni = Self::Avx512Vnni.runs_here();
        if vnni && amx::usable() {
            Int8Kernel::Amx
        } else if vnni {
            Int8Kernel::Avx512Vnni
        } else if Self::AvxVnni.runs_here() {
            Int8Kernel::AvxVnni
        } else {
            Int8Kernel::Portable
        }
    }

    /// Every kernel, fastest first.
    pub const ALL: [Int8Kernel; 4] = [
        Int8Kernel::Amx,
        Int8Kernel::Avx512Vnni,
        Int8Kernel::AvxVnni,
        Int8Kernel::Portable,
    ];

    /// Whether this CPU (and, for AMX, the operating system) runs the kernel.
    pub fn runs_here(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx512Vnni => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::AvxVnni => {
                std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                    && std::is_x86_feature_detected!("avxvnni")
            }
            Int8Kernel::Amx => Self::Avx512Vnni.runs_here() && amx::usable(),
            Int8Kernel::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// A short name for logs and `/health`.
    pub fn name(self) -> &'static str {
        match self {
            Int8Kernel::Amx => "amx-int8",
            Int8Kernel::Avx512Vnni => "avx512-vnni",
            Int8Kernel::AvxVnni => "avx-vnni",
            Int8Kernel::Portable => "portable",
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

/// A `(k, n)` weight matrix quantized to i8 in 64-column panels: for each group of 4 inputs, the 64
/// columns' 4 bytes side by side (`k` padded to a multiple of 4 with zeros).
pub struct QuantizedMatrix {
    panels: CacheAligned<i8>,
    /// Groups of 4 inputs (`⌈k / 4⌉`).
    groups: usize,
    k: usize,
    n: usize,
    /// Per column: the weight's scale (real = scale × i8), padded to whole panels.
    scales: Vec<f32>,
    /// Per column: Σ of its i8 weights, to take the activations' zero point back out.
    column_sums: Vec<i32>,
    /// Per input: what the activations are multiplied by before they are quantized (1 / the smoothing
    /// factor the weight's row was multiplied by; see [`smoothing`]); `None` when all are 1.
    input_scales: Option<Vec<f32>>,
    /// Bytes per quantized activation: 1 (u8), or 2 (a 16-bit value as two u8 digits, each multiplied
    /// with the weights on its own, for inputs whose long tails leave 8 bits too coarse).
    digits: usize,
    /// The weights' second digit, for the columns that need finer weights than 8 bits: what the first
    /// digit's rounding left, quantized again with its own column scales.
    fine: Option<FineDigit>,
    /// Whether this is the 16-bit form ([`Self::quantize_wide`]): 13-bit activations and 12-bit weights
    /// as i16, a pair of inputs to a 4-byte cell, multiplied on `vpdpwssd`.
    wide: bool,
    /// The wide form's exact span: groups of inputs (whole chunks of [`K_CHUNK_GROUPS`]) whose sums
    /// stay exact in i32 for any activations, so the register kernels add chunks up in i32 within a span
    /// and turn to f64 only between spans ([`Self::quantize_wide`]). Unused by the digits.
    span_groups: usize,
}

/// The second weight digit of a [`QuantizedMatrix`]: `weight ≈ scale × q + fine_scale × q_fine`, laid out
/// as the first. It meets only the activations' high digit: the low digit's share of it is below 2⁻¹⁶
/// of the product. It covers whole panels from `first_panel` on (`scales.len() / 64` of them).
struct FineDigit {
    first_panel: usize,
    panels: CacheAligned<i8>,
    scales: Vec<f32>,
    column_sums: Vec<i32>,
}

impl QuantizedMatrix {
    /// Quantizes `weight`, a `(k, n)` row-major matrix, with row `r` multiplied by `smooth[r]` (and the
    /// activations' input `r` divided by it; all ones for none), for activations of `digits` bytes (1 or
    /// 2), with a second weight digit on the columns of `fine` (empty for none; it must start at a
    /// panel's first column and end at one or at `n`); `None` if a length does not fit.
    pub fn quantize(
        weight: &[f32],
        k: usize,
        n: usize,
        smooth: &[f32],
        digits: usize,
        fine: Range<usize>,
    ) -> Option<Self> {
        if weight.len() != k * n
            || k == 0
            || n == 0
            || smooth.len() != k
            || !(1..=2).contains(&digits)
            || fine.start > fine.end
            || fine.end > n
            || !fine.start.is_multiple_of(PANEL)
            || !(fine.end.is_multiple_of(PANEL) || fine.end == n)
        {
            return None;
        }
        let weight = smoothed(weight, n, smooth);
        let groups = k.div_ceil(4);
        let (panels, scales, column_sums, rest) = quantize_digit(&weight, k, n, fine.clone());
        let fine = (!fine.is_empty()).then(|| {
            // The remainder of `fine`'s columns, quantized as a matrix of their own (each column's
            // scale is its own, so they come out as they would from the whole matrix).
            let (panels, scales, column_sums, _) = quantize_digit(&rest, k, fine.len(), 0..0);
            FineDigit {
                first_panel: fine.start / PANEL,
                panels,
                scales,
                column_sums,
            }
        });
        Some(Self {
            panels,
            groups,
            k,
            n,
            scales,
            column_sums,
            input_scales: smooth
                .iter()
                .any(|&s| s != 1.0)
                .then(|| smooth.iter().map(|s| 1.0 / s).collect()),
            digits,
            fine,
            wide: false,
            span_groups: K_CHUNK_GROUPS,
        })
    }

    /// Quantizes `weight`, a `(k, n)` row-major matrix, in the 16-bit form for the AVX-512 VNNI and
    /// AVX-VNNI kernels: weights to 12 bits per column (±2047), activations to 13 bits per row, both held
    /// as i16 and multiplied on `vpdpwssd` (32 multiply-adds an instruction: one pass costs two of
    /// `vpdpbusd`'s). Where both operands need more than 8 bits (the output product: GELU's long tail,
    /// and weights whose 8-bit rounding carried a third of int8's loss), this is two passes' worth of
    /// work instead of the digits' three (two activation digits and a fine weight digit). The sums of
    /// any 256 inputs fit in i32 exactly (256 × 4096 × 2047 < 2³¹); a longer span fits where every
    /// column's weights over it, in magnitude, sum to at most 2³¹ / 4096 (real weights are far below
    /// their peak: a whole row of qkv's 384 inputs and half of the output product's 1,536 fit). The
    /// register kernels sum a span in i32 and the spans in f64, exact below 2⁵³, and the portable loop
    /// sums in i64, so every kernel gives the same bits. AMX has no 16-bit integer product: it runs this
    /// form on its AVX-512 VNNI kernel, so the engine picks the form for the kernel it runs. `None` if a
    /// length does not fit.
    pub fn quantize_wide(weight: &[f32], k: usize, n: usize) -> Option<Self> {
        if weight.len() != k * n || k == 0 || n == 0 {
            return None;
        }
        let groups = k.div_ceil(2);
        let count = n.div_ceil(PANEL);
        let mut scales = vec![1f32; count * PANEL];
        let mut column_sums = vec![0i32; count * PANEL];
        let mut panels = CacheAligned::zeroed(count * panel_bytes(groups));
        let top = f32::from(WIDE_WEIGHT_TOP);
        // Per group of 2 inputs and column, the weights' summed magnitude, for the spans below.
        let mut magnitudes = vec![0i64; groups * n];
        for c in 0..n {
            let scale = column_scale(weight, k, n, c, top);
            scales[c] = scale;
            let mut sum = 0i32;
            for r in 0..k {
                let q = (weight[r * n + c] / scale).round().clamp(-top, top) as i16;
                sum += i32::from(q);
                magnitudes[(r / 2) * n + c] += i64::from(q.abs());
                let at = cell_offset(groups, r / 2, c) + 2 * (r % 2);
                for (i, b) in q.to_le_bytes().into_iter().enumerate() {
                    panels[at + i] = b as i8;
                }
            }
            column_sums[c] = sum;
        }
        // The longest span of whole chunks over which no column's weights can take an i32 sum past
        // its limit; one chunk always fits (the assertion at `WIDE_CENTRE`).
        let fits = |span: usize| {
            (0..groups).step_by(span).all(|first| {
                (0..n).all(|c| {
                    let sum: i64 = (first..(first + span).min(groups))
                        .map(|g| magnitudes[g * n + c])
                        .sum();
                    sum * i64::from(WIDE_CENTRE) <= i64::from(i32::MAX)
                })
            })
        };
        let span_groups = (1..=groups.div_ceil(K_CHUNK_GROUPS))
            .rev()
            .map(|chunks| chunks * K_CHUNK_GROUPS)
            .find(|&span| fits(span))
            .unwrap_or(K_CHUNK_GROUPS);
        Some(Self {
            panels,
            groups,
            k,
            n,
            scales,
            column_sums,
            input_scales: None,
            digits: 1,
            fine: None,
            wide: true,
            span_groups,
        })
    }

    /// Number of panels (the unit of work division between threads).
    pub fn panel_count(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    /// Passes over the inputs panel `p` takes ([`Self::passes`]): its work, relative to other panels'.
    pub fn panel_passes(&self, p: usize) -> usize {
        if self.wide {
            return 2;
        }
        self.digits + usize::from(self.fine_panel(p).is_some())
    }

    /// `out[r, c] = epilogue(x[r, ..] · W[.., c])` for the rows of `rows` (the quantized `x`, from
    /// [`SharedStore::input`]) and the columns of panels `panels`, on `kernel`.
    ///
    /// # Safety
    /// `out` must hold `rows.m` rows of `n` values at stride `out_stride`, whose columns of `panels` no
    /// other thread accesses during the call; `bias`, if any, must hold `n` values; `panels` must lie
    /// within `0..panel_count()`; `kernel` must run on this CPU (as [`Int8Kernel::runs_here`] says).
    pub unsafe fn matmul(
        &self,
        rows: &QuantizedInput,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
        kernel: Int8Kernel,
    ) {
        let width = self.groups * 4;
        assert!(
            rows.groups == self.groups
                && rows.wide == self.wide
                && rows.digits == self.digits
                && rows.data.len() >= rows.m * self.digits * width
                && rows.scales.len() >= rows.m
                && rows.zeros.len() >= rows.m
        );
        match kernel {
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Amx
                if !self.wide
                    && width.is_multiple_of(amx::TILE_BYTES)
                    && rows.data.len()
                        >= rows.m.next_multiple_of(amx::BLOCK_ROWS) * self.digits * width =>
            {
                // SAFETY: the caller guarantees the CPU has AMX and AVX-512 VNNI, and the rest; the input
                // holds whole tiles of rows (checked just above).
                unsafe { self.matmul_amx(rows, out, out_stride, panels, epilogue) }
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller guarantees the CPU has AVX-512 VNNI (AMX implies it: it runs the wide
            // form here), and the rest.
            Int8Kernel::Avx512Vnni | Int8Kernel::Amx => unsafe {
                self.matmul_vnni(rows, out, out_stride, panels, epilogue)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the caller guarantees the CPU has AVX-VNNI, and the rest.
            Int8Kernel::AvxVnni => unsafe {
                self.matmul_avx_vnni(rows, out, out_stride, panels, epilogue)
            },
            // SAFETY: the caller's guarantee.
            _ => unsafe { self.matmul_portable(rows, out, out_stride, panels, epilogue) },
        }
    }

    /// The panel, column scales and column sums of panel `p`.
    fn panel(&self, p: usize) -> (&[i8], &[f32], &[i32]) {
        (
            &self.panels[p * panel_bytes(self.groups)..][..panel_bytes(self.groups)],
            &self.scales[p * PANEL..][..PANEL],
            &self.column_sums[p * PANEL..][..PANEL],
        )
    }

    /// The products summed for panel `p`, as (activation digit, sums slot, weight panel): each activation
    /// digit times the weights, then the high digit times the fine weights (when there are some).
    fn passes<'a>(
        &self,
        panel: &'a [i8],
        fine: Option<(&'a [i8], &[f32], &[i32])>,
    ) -> impl Iterator<Item = (usize, usize, &'a [i8])> {
        (0..self.digits)
            .map(move |d| (d, d, panel))
            .chain(fine.map(|(fine, _, _)| (0, 2, fine)))
    }

    /// The fine digit's panel, column scales and column sums of panel `p`, if its columns have one.
    fn fine_panel(&self, p: usize) -> Option<(&[i8], &[f32], &[i32])> {
        let f = self.fine.as_ref()?;
        let i = p.checked_sub(f.first_panel)?;
        Some((
            f.panels
                .get(i * panel_bytes(self.groups)..)?
                .get(..panel_bytes(self.groups))?,
            f.scales.get(i * PANEL..)?.get(..PANEL)?,
            f.column_sums.get(i * PANEL..)?.get(..PANEL)?,
        ))
    }

    /// # Safety
    /// As [`Self::matmul`].
    unsafe fn matmul_portable(
        &self,
        rows: &QuantizedInput,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
    ) {
        let width = self.groups * 4;
        let mut sums = [[0i32; PANEL]; SLOTS];
        let mut values = [0f32; PANEL];
        for p in panels {
            let (panel, scales, column_sums) = self.panel(p);
            let fine = self.fine_panel(p);
            let used = PANEL.min(self.n - p * PANEL);
            for r in 0..rows.m {
                if self.wide {
                    let totals = wide_row_sums(rows.digit(r, 0, width), panel, self.groups);
                    dequantize_wide(&totals, rows, r, (scales, column_sums), &mut values);
                } else {
                    for (d, slot, panel) in self.passes(panel, fine) {
                        let row = rows.digit(r, d, width);
                        let acc = &mut sums[slot];
                        *acc = [0; PANEL];
                        for g in 0..self.groups {
                            let a = &row[g * 4..][..4];
                            for (q, acc) in acc.chunks_exact_mut(QUARTER_COLUMNS).enumerate() {
                                let quarter = &panel[quarter_offset(g, q)..][..QUARTER];
                                for (acc, w) in acc.iter_mut().zip(quarter.chunks_exact(4)) {
                                    *acc += (0..4)
                                        .map(|j| i32::from(a[j]) * i32::from(w[j]))
                                        .sum::<i32>();
                                }
                            }
                        }
                    }
                    dequantize(
                        &sums,
                        self.digits,
                        rows,
                        r,
                        (scales, column_sums),
                        fine.map(|(_, s, c)| (s, c)),
                        &mut values,
                    );
                }
                // SAFETY: row r of `out` holds n values from column 0; this panel's `used` columns are this
                // call's alone (the caller's guarantee).
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(out.add(r * out_stride + p * PANEL), used)
                };
                finish(dst, &values, p, epilogue);
            }
        }
    }

    /// # Safety
    /// As [`Self::matmul`], and the CPU must support AVX-512F, BW and VNNI.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
    unsafe fn matmul_vnni(
        &self,
        rows: &QuantizedInput,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
    ) {
        // SAFETY: the caller's guarantee; each block's arguments as `matmul_blocked` promises them.
        unsafe {
            self.matmul_blocked::<ROWS>(
                rows,
                out,
                out_stride,
                panels,
                epilogue,
                |count, a, stride, w, groups, o, add| match (count, self.wide) {
                    (6, false) => block_vnni::<6, false>(a, stride, w, groups, o, add),
                    (5, false) => block_vnni::<5, false>(a, stride, w, groups, o, add),
                    (4, false) => block_vnni::<4, false>(a, stride, w, groups, o, add),
                    (3, false) => block_vnni::<3, false>(a, stride, w, groups, o, add),
                    (2, false) => block_vnni::<2, false>(a, stride, w, groups, o, add),
                    (_, false) => block_vnni::<1, false>(a, stride, w, groups, o, add),
                    (6, true) => block_vnni::<6, true>(a, stride, w, groups, o, add),
                    (5, true) => block_vnni::<5, true>(a, stride, w, groups, o, add),
                    (4, true) => block_vnni::<4, true>(a, stride, w, groups, o, add),
                    (3, true) => block_vnni::<3, true>(a, stride, w, groups, o, add),
                    (2, true) => block_vnni::<2, true>(a, stride, w, groups, o, add),
                    (_, true) => block_vnni::<1, true>(a, stride, w, groups, o, add),
                },
            )
        }
    }

    /// # Safety
    /// As [`Self::matmul`], and the CPU must support AVX2, FMA and AVX-VNNI.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avxvnni")]
    unsafe fn matmul_avx_vnni(
        &self,
        rows: &QuantizedInput,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
    ) {
        // SAFETY: the caller's guarantee; each block's arguments as `matmul_blocked` promises them.
        unsafe {
            self.matmul_blocked::<AVX_ROWS>(
                rows,
                out,
                out_stride,
                panels,
                epilogue,
                |count, a, stride, w, groups, o, add| match (count, self.wide) {
                    (2, false) => block_avx_vnni::<2, false>(a, stride, w, groups, o, add),
                    (_, false) => block_avx_vnni::<1, false>(a, stride, w, groups, o, add),
                    (2, true) => block_avx_vnni::<2, true>(a, stride, w, groups, o, add),
                    (_, true) => block_avx_vnni::<1, true>(a, stride, w, groups, o, add),
                },
            )
        }
    }

    /// The register kernels' loop: for each chunk of rows ([`CHUNK_ROWS`]) and each panel, each pass's
    /// sums for blocks of up to `R` rows, a chunk of inputs at a time ([`K_CHUNK_GROUPS`]), from
    /// `block(count, the rows' digit bytes from the chunk's first input, their stride, the panel from the
    /// chunk's first group, the chunk's groups, sums, whether to add to the sums)`, then dequantized and
    /// finished.
    /// Inlined into each kernel's function, so the epilogue is compiled for that kernel's CPU features.
    ///
    /// # Safety
    /// As [`Self::matmul`]; `block` must write (or add to) `count` rows of 64 i32 sums, `SLOTS × 64` i32
    /// apart, reading `count` rows of `groups × 4` bytes at the stride and the panel's `groups` groups
    /// (in tile order, [`quarter_offset`]).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn matmul_blocked<const R: usize>(
        &self,
        rows: &QuantizedInput,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
        block: impl Fn(usize, *const u8, usize, *const i8, usize, *mut i32, bool),
    ) {
        let width = self.groups * 4;
        let mut sums = [[[0i32; PANEL]; SLOTS]; CHUNK_ROWS];
        // The wide form's sums of whole rows: each chunk of inputs' exact i32 sums, added up in f64,
        // exact too (below 2⁵³), which AVX-512F and AVX2 convert to f32 where i64 would need AVX-512DQ.
        let mut totals = [[0f64; PANEL]; CHUNK_ROWS];
        let mut values = [0f32; PANEL];
        // Row i of a digit is `digits × width` bytes after row i - 1.
        let stride = self.digits * width;
        for chunk in (0..rows.m).step_by(CHUNK_ROWS) {
            let chunk_end = (chunk + CHUNK_ROWS).min(rows.m);
            for p in panels.clone() {
                let (panel, scales, column_sums) = self.panel(p);
                let fine = self.fine_panel(p);
                let used = PANEL.min(self.n - p * PANEL);
                for (d, slot, panel) in self.passes(panel, fine) {
                    for k_first in (0..self.groups).step_by(K_CHUNK_GROUPS) {
                        let k_groups = (self.groups - k_first).min(K_CHUNK_GROUPS);
                        for first in (chunk..chunk_end).step_by(R) {
                            let count = (chunk_end - first).min(R);
                            let a = rows.digit(first, d, width)[4 * k_first..].as_ptr();
                            let o = sums[first - chunk]
                                .as_mut_ptr()
                                .cast::<i32>()
                                .wrapping_add(slot * PANEL);
                            // The panel's groups from `k_first` (a multiple of 16, so a whole number of
                            // k blocks in tile order) are `k_groups` groups laid out as a panel of their
                            // own; rows first..first+count hold `digits × width` bytes each (asserted
                            // in `matmul`); `sums` holds the chunk's rows of `SLOTS` slots' 64 sums.
                            block(
                                count,
                                a,
                                stride,
                                panel[k_first * GROUP..].as_ptr(),
                                k_groups,
                                o,
                                if self.wide {
                                    !k_first.is_multiple_of(self.span_groups)
                                } else {
                                    k_first > 0
                                },
                            );
                            let span_end = (k_first + k_groups).is_multiple_of(self.span_groups)
                                || k_first + k_groups == self.groups;
                            if self.wide && span_end {
                                // A span's sums are exact in i32 (`quantize_wide`); their total
                                // may not be.
                                let chunk_rows = first - chunk..first - chunk + count;
                                let first_span = k_first < self.span_groups;
                                for (total, sums) in
                                    totals[chunk_rows.clone()].iter_mut().zip(&sums[chunk_rows])
                                {
                                    for (t, &s) in total.iter_mut().zip(&sums[0]) {
                                        *t = if first_span { 0.0 } else { *t } + f64::from(s);
                                    }
                                }
                            }
                        }
                    }
                }
                for (i, acc) in sums.iter().take(chunk_end - chunk).enumerate() {
                    if self.wide {
                        dequantize_wide(
                            &totals[i],
                            rows,
                            chunk + i,
                            (scales, column_sums),
                            &mut values,
                        );
                    } else {
                        dequantize(
                            acc,
                            self.digits,
                            rows,
                            chunk + i,
                            (scales, column_sums),
                            fine.map(|(_, s, c)| (s, c)),
                            &mut values,
                        );
                    }
                    // SAFETY: as in the portable loop.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            out.add((chunk + i) * out_stride + p * PANEL),
                            used,
                        )
                    };
                    finish(dst, &values, p, epilogue);
                }
            }
        }
    }

    /// # Safety
    /// As [`Self::matmul`]; the CPU must have AMX and the process its permission ([`amx::usable`]), and
    /// AVX-512 VNNI (the epilogue is compiled for it, as the VNNI kernel's);
    /// `groups × 4` must be a multiple of 64, and `rows.data` hold `rows.m` rounded up to
    /// [`amx::BLOCK_ROWS`] rows.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
    unsafe fn matmul_amx(
        &self,
        rows: &QuantizedInput,
        out: *mut f32,
        out_stride: usize,
        panels: Range<usize>,
        epilogue: Epilogue,
    ) {
        const HALF: usize = PANEL / 2;
        let width = self.groups * 4;
        let k_blocks = width / amx::TILE_BYTES;
        let row_bytes = self.digits * width;
        let mut sums = [[[0i32; PANEL]; SLOTS]; amx::BLOCK_ROWS];
        let mut values = [0f32; PANEL];
        debug_assert!(k_blocks > 0 && width.is_multiple_of(amx::TILE_BYTES));
        // SAFETY: AMX is usable (the caller's guarantee).
        unsafe { amx::configure() };
        // Row blocks outside, panels inside: a block's rows of `out` (read too, for a residual) are
        // visited together, and its activations stay in cache across the panels, which are reread
        // from the cache (a thread's panels fit in L2).
        for first in (0..rows.m).step_by(amx::BLOCK_ROWS) {
            let count = (rows.m - first).min(amx::BLOCK_ROWS);
            for p in panels.clone() {
                let (panel, scales, column_sums) = self.panel(p);
                let fine = self.fine_panel(p);
                let used = PANEL.min(self.n - p * PANEL);
                for (d, slot, panel) in self.passes(panel, fine) {
                    for half in 0..2 {
                        // SAFETY: rows first..first+32 of this digit lie in `rows.data` (the caller's
                        // guarantee), `k_blocks × 64` bytes each, `row_bytes` apart; the panel holds
                        // `groups = 16 k_blocks` groups in tile order, of which this half's two
                        // quarters are read; `sums` holds 32 rows of `SLOTS` slots' 64 sums,
                        // `SLOTS × 256` bytes apart.
                        unsafe {
                            amx::block(
                                rows.data.as_ptr().add(first * row_bytes + d * width),
                                row_bytes,
                                panel.as_ptr().add(quarter_offset(0, 2 * half)),
                                k_blocks,
                                sums.as_mut_ptr()
                                    .cast::<i32>()
                                    .add(slot * PANEL + half * HALF),
                                SLOTS * PANEL * 4,
                            );
                        }
                    }
                }
                for (i, acc) in sums.iter().take(count).enumerate() {
                    dequantize(
                        acc,
                        self.digits,
                        rows,
                        first + i,
                        (scales, column_sums),
                        fine.map(|(_, s, c)| (s, c)),
                        &mut values,
                    );
                    // SAFETY: as in the portable loop.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            out.add((first + i) * out_stride + p * PANEL),
                            used,
                        )
                    };
                    finish(dst, &values, p, epilogue);
                }
            }
        }
        // SAFETY: as above.
        unsafe { amx::release() };
    }
}

/// `weight`, a `(k, n)` row-major matrix, with row `r` multiplied by `smooth[r]`.
fn smoothed(weight: &[f32], n: usize, smooth: &[f32]) -> Vec<f32> {
    weight
        .chunks_exact(n)
        .zip(smooth)
        .flat_map(|(row, &s)| row.iter().map(move |w| w * s))
        .collect()
}

/// Column `c`'s scale in a `(k, n)` row-major `weight`: its peak magnitude onto `top` (1 for a column of
/// zeros).
fn column_scale(weight: &[f32], k: usize, n: usize, c: usize, top: f32) -> f32 {
    let peak = (0..k).map(|r| weight[r * n + c].abs()).fold(0f32, f32::max);
    if peak > 0.0 {
        peak / top
    } else {
        1.0
    }
}

/// One weight digit of a `(k, n)` row-major matrix: its panels, column scales (each column's peak to
/// ±127) and column sums, and what the rounding left in the columns of `rest_of` (`weight − scale × q`,
/// `(k, rest_of.len())` row-major; empty for none), which a second digit is made from.
fn quantize_digit(
    weight: &[f32],
    k: usize,
    n: usize,
    rest_of: Range<usize>,
) -> (CacheAligned<i8>, Vec<f32>, Vec<i32>, Vec<f32>) {
    let count = n.div_ceil(PANEL);
    let groups = k.div_ceil(4);
    let mut scales = vec![1f32; count * PANEL];
    let mut column_sums = vec![0i32; count * PANEL];
    let mut panels = CacheAligned::zeroed(count * panel_bytes(groups));
    let width = rest_of.len();
    let mut rest = vec![0f32; k * width];
    for c in 0..n {
        let scale = column_scale(weight, k, n, c, 127.0);
        scales[c] = scale;
        let mut sum = 0i32;
        for r in 0..k {
            let w = weight[r * n + c];
            let q = (w / scale).round().clamp(-127.0, 127.0) as i8;
            if rest_of.contains(&c) {
                rest[r * width + c - rest_of.start] = w - scale * f32::from(q);
            }
            sum += i32::from(q);
            panels[cell_offset(groups, r / 4, c) + r % 4] = q;
        }
        column_sums[c] = sum;
    }
    (panels, scales, column_sums, rest)
}

/// Row `r`'s sums back to f32: each digit's sum less the zero point's share, the high digit weighing 256,
/// times the row's and the column's scales. One function for every kernel, so they give the same bits.
#[inline(always)]
fn dequantize(
    sums: &[[i32; PANEL]; SLOTS],
    digits: usize,
    rows: &QuantizedInput,
    r: usize,
    (column_scales, column_sums): (&[f32], &[i32]),
    fine: Option<(&[f32], &[i32])>,
    values: &mut [f32; PANEL],
) {
    let (scale, zero) = (rows.scales[r], rows.zeros[r]);
    // Slices of exactly PANEL values, so that the loops below compile without bounds checks (vectorized).
    let (column_scales, column_sums) = (&column_scales[..PANEL], &column_sums[..PANEL]);
    // The high digit's zero point and weight (the only digit, with one).
    let (high, weight) = if digits == 1 {
        for c in 0..PANEL {
            values[c] = (sums[0][c] - zero * column_sums[c]) as f32 * (scale * column_scales[c]);
        }
        (zero, 1.0)
    } else {
        let (high, low) = (zero >> 8, zero & 255);
        for c in 0..PANEL {
            let h = (sums[0][c] - high * column_sums[c]) as f32;
            let l = (sums[1][c] - low * column_sums[c]) as f32;
            values[c] = (h * 256.0 + l) * (scale * column_scales[c]);
        }
        (high, 256.0)
    };
    if let Some((fine_scales, fine_sums)) = fine {
        let (fine_scales, fine_sums) = (&fine_scales[..PANEL], &fine_sums[..PANEL]);
        for c in 0..PANEL {
            let f = (sums[2][c] - high * fine_sums[c]) as f32 * weight;
            values[c] += f * (scale * fine_scales[c]);
        }
    }
}

/// One row's sums over a wide-form panel in plain Rust, in i64 throughout (exact), as f64 (exact below
/// 2⁵³, as the register kernels' totals are).
fn wide_row_sums(row: &[u8], panel: &[i8], groups: usize) -> [f64; PANEL] {
    // The two i16 of a 4-byte cell, little-endian.
    let pair = |b: [u8; 4]| [[b[0], b[1]], [b[2], b[3]]].map(|h| i64::from(i16::from_le_bytes(h)));
    let mut totals = [0i64; PANEL];
    for g in 0..groups {
        let a = pair([0, 1, 2, 3].map(|i| row[4 * g + i]));
        for (q, totals) in totals.chunks_exact_mut(QUARTER_COLUMNS).enumerate() {
            let quarter = &panel[quarter_offset(g, q)..][..QUARTER];
            for (t, w) in totals.iter_mut().zip(quarter.chunks_exact(4)) {
                let w = pair([0, 1, 2, 3].map(|i| w[i] as u8));
                *t += a[0] * w[0] + a[1] * w[1];
            }
        }
    }
    totals.map(|t| t as f64)
}

/// Row `r`'s sums of the wide form back to f32: the i16 activations are the 13-bit ones less
/// [`WIDE_CENTRE`], so the zero point's share is `(centre − zero) × column sum`; in f64 both are exact
/// integers (below 2⁵³), so their sum is too; then one rounding to f32, times the row's and the column's
/// scales.
#[inline(always)]
fn dequantize_wide(
    totals: &[f64; PANEL],
    rows: &QuantizedInput,
    r: usize,
    (column_scales, column_sums): (&[f32], &[i32]),
    values: &mut [f32; PANEL],
) {
    let (scale, shift) = (rows.scales[r], f64::from(WIDE_CENTRE - rows.zeros[r]));
    let (column_scales, column_sums) = (&column_scales[..PANEL], &column_sums[..PANEL]);
    for c in 0..PANEL {
        let exact = totals[c] + shift * f64::from(column_sums[c]);
        values[c] = exact as f32 * (scale * column_scales[c]);
    }
}

/// The wide form's weights: ±2047 (12 bits).
const WIDE_WEIGHT_TOP: i16 = 2047;
/// The wide form's activations: 0..=8191 (13 bits), held as i16 less this centre (−4096..=4095).
const WIDE_TOP: i32 = 8191;
const WIDE_CENTRE: i32 = 4096;
// A chunk of inputs' sums must be exact in i32: 2 inputs a group, each product at most 4096 × 2047.
const _: () = assert!(
    (2 * K_CHUNK_GROUPS as i64) * (WIDE_CENTRE as i64) * (WIDE_WEIGHT_TOP as i64)
        <= i32::MAX as i64
);

/// Room for one product's quantized activations at a time, kept in the encoder's workspace so that
/// steady-state inference allocates nothing: per row, `digits` runs of `groups × 4` u8 (the high digit
/// first), one scale and one zero point.
#[derive(Default)]
pub struct QuantizedStore {
    /// On a cache line, so that each AMX tile row of activations (64 bytes) is one line.
    data: CacheAligned<u8>,
    scales: Vec<f32>,
    zeros: Vec<i32>,
}

impl QuantizedStore {
    /// Makes room for `rows` rows of up to `k` inputs in two digits (the most any product uses), rounded
    /// up to whole AMX blocks of rows (the AMX kernel reads whole tiles; rows past the product's are
    /// read, never used).
    pub fn reserve(&mut self, rows: usize, k: usize) {
        let rows = rows.next_multiple_of(amx::BLOCK_ROWS);
        let bytes = rows * 2 * k.next_multiple_of(4);
        self.data.grow_to(bytes);
        if self.scales.len() < rows {
            self.scales.resize(rows, 1.0);
            self.zeros.resize(rows, 0);
        }
    }

    /// The store as the threads of one pass share it.
    pub fn shared(&mut self) -> SharedStore {
        SharedStore {
            data: SharedBuf::new(&mut self.data),
            scales: SharedBuf::new(&mut self.scales),
            zeros: SharedBuf::new(&mut self.zeros),
        }
    }
}

/// A [`QuantizedStore`] shared by the threads of one pass: each quantizes its own rows of a product's
/// input ([`Self::quantize_rows`]), and after a barrier all read the whole input ([`Self::input`]).
pub struct SharedStore {
    data: SharedBuf<u8>,
    scales: SharedBuf<f32>,
    zeros: SharedBuf<i32>,
}

impl SharedStore {
    /// Quantizes rows `rows` of `ops.x` (`k` values each, at stride `ops.x_stride`) as `matrix`'s
    /// products read them: each value times its input's scale, then each row's range, 0 included, onto
    /// 0..=255 (one digit), 0..=65535 (two) or 0..=8191 (the wide form, held less 4096 as i16).
    /// `scratch` holds one smoothed row.
    ///
    /// # Safety
    /// `ops.x` must hold rows `rows` of `k` values at stride `ops.x_stride`, not written meanwhile; no
    /// other thread may access these rows of the store until the next barrier.
    pub unsafe fn quantize_rows(
        &self,
        matrix: &QuantizedMatrix,
        ops: &Operands,
        rows: Range<usize>,
        scratch: &mut Vec<f32>,
    ) {
        let (k, digits) = (matrix.k, matrix.digits);
        let width = matrix.groups * 4;
        let top = if matrix.wide {
            WIDE_TOP as f32
        } else if digits == 2 {
            65535.0
        } else {
            255.0
        };
        for r in rows {
            // SAFETY: the caller's guarantee.
            let raw = unsafe { std::slice::from_raw_parts(ops.x.add(r * ops.x_stride), k) };
            let (row, (lo, hi)) = match &matrix.input_scales {
                Some(scales) => {
                    scratch.resize(k, 0.0);
                    let range = smooth_row(raw, scales, scratch);
                    (&scratch[..], range)
                }
                None => (raw, range_of(raw)),
            };
            let scale = if hi > lo { (hi - lo) / top } else { 1.0 };
            let zero = (-lo / scale).round_ties_even().clamp(0.0, top);
            let inverse = 1.0 / scale;
            // SAFETY: row r's bytes, scale and zero point are this thread's alone until the next barrier
            // (the caller's guarantee); `part_mut` checks they lie in the store.
            let out = unsafe {
                self.scales.part_mut(r, 1)[0] = scale;
                self.zeros.part_mut(r, 1)[0] = zero as i32;
                self.data.part_mut(r * digits * width, digits * width)
            };
            if matrix.wide {
                // i16 from byte 2i; the padding past k meets zero weights.
                out.iter_mut().skip(2 * k).for_each(|b| *b = 0);
                let mut done = 0;
                #[cfg(target_arch = "x86_64")]
                if super::kernels::has_avx512() {
                    // SAFETY: the CPU has AVX-512F and FMA; `row` holds k values, `out` 2k bytes or
                    // more (`width` = 4 ⌈k / 2⌉).
                    done = unsafe { quantize_row_wide_avx512(row, out, inverse, zero) };
                }
                for (i, &v) in row.iter().enumerate().skip(done) {
                    // Fused and rounded to even, as the AVX-512 loop does.
                    let q = v.mul_add(inverse, zero).round_ties_even().clamp(0.0, top) as i32;
                    out[2 * i..][..2].copy_from_slice(&((q - WIDE_CENTRE) as i16).to_le_bytes());
                }
                continue;
            }
            let (high, low) = out.split_at_mut(if digits == 2 { width } else { 0 });
            // The padding past k meets zero weights; it must be 0 too.
            high.iter_mut().skip(k).for_each(|b| *b = 0);
            low[k..].iter_mut().for_each(|b| *b = 0);
            let mut done = 0;
            #[cfg(target_arch = "x86_64")]
            if super::kernels::has_avx512() {
                // SAFETY: the CPU has AVX-512F; `row` holds k values, each digit's run `width ≥ k` bytes.
                done = unsafe { quantize_row_avx512(row, high, low, inverse, zero, top) };
            }
            for (i, &v) in row.iter().enumerate().skip(done) {
                // Fused and rounded to even, as the AVX-512 loop does.
                let q = v.mul_add(inverse, zero).round_ties_even().clamp(0.0, top) as u32;
                if digits == 2 {
                    high[i] = (q >> 8) as u8;
                }
                low[i] = (q & 255) as u8;
            }
        }
    }

    /// The first `m` rows as `matrix`'s products read them.
    ///
    /// # Safety
    /// Every one of the `m` rows was quantized for `matrix` ([`Self::quantize_rows`]) before a barrier
    /// this thread has passed, and no thread writes the store while the result is in use.
    pub unsafe fn input(&self, matrix: &QuantizedMatrix, m: usize) -> QuantizedInput<'_> {
        // SAFETY: nothing writes the store meanwhile (the caller's guarantee); `part` checks the lengths.
        unsafe {
            QuantizedInput {
                data: self.data.part(0, self.data.len),
                scales: self.scales.part(0, m),
                zeros: self.zeros.part(0, m),
                groups: matrix.groups,
                digits: matrix.digits,
                wide: matrix.wide,
                m,
            }
        }
    }
}

/// One product's input, quantized ([`SharedStore::input`]).
pub struct QuantizedInput<'a> {
    /// Per row, `digits` runs of `groups × 4` bytes, then possibly more (rows past `m`, never used).
    data: &'a [u8],
    scales: &'a [f32],
    zeros: &'a [i32],
    groups: usize,
    digits: usize,
    /// Quantized for a wide-form matrix: i16 pairs, one run a row.
    wide: bool,
    m: usize,
}

impl QuantizedInput<'_> {
    /// Digit `d` of row `r` (rows of `width` bytes a digit).
    fn digit(&self, r: usize, d: usize, width: usize) -> &[u8] {
        &self.data[(r * self.digits + d) * width..][..width]
    }
}

/// The range of `row` with 0 included: `(min, max)`.
fn range_of(row: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if super::kernels::has_avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { range_avx512(row) };
    }
    range_from(row, 0, (0.0, 0.0))
}

/// [`range_of`] from index `start` on, folding into `range` (exact, so in any order).
fn range_from(row: &[f32], start: usize, range: (f32, f32)) -> (f32, f32) {
    row.iter()
        .skip(start)
        .fold(range, |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// [`range_of`], 16 values at a time.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn range_avx512(row: &[f32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 16 <= row.len() {
        // SAFETY: 16 values from i (i + 16 ≤ len).
        let v = unsafe { _mm512_loadu_ps(row.as_ptr().add(i)) };
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
        i += 16;
    }
    range_from(row, i, (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi)))
}

/// `out[i] = raw[i] · scales[i]`, and the range of `out` with 0 included: `(min, max)`.
fn smooth_row(raw: &[f32], scales: &[f32], out: &mut [f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if super::kernels::has_avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { smooth_row_avx512(raw, scales, out) };
    }
    smooth_row_from(raw, scales, out, 0, (0.0, 0.0))
}

/// [`smooth_row`] from index `start` on, folding into `range` (min and max are exact, so any order of
/// folding gives the same range).
fn smooth_row_from(
    raw: &[f32],
    scales: &[f32],
    out: &mut [f32],
    start: usize,
    range: (f32, f32),
) -> (f32, f32) {
    let mut range = range;
    for ((o, &x), &s) in out.iter_mut().zip(raw).zip(scales).skip(start) {
        *o = x * s;
        range = (range.0.min(*o), range.1.max(*o));
    }
    range
}

/// [`smooth_row`], 16 values at a time.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn smooth_row_avx512(raw: &[f32], scales: &[f32], out: &mut [f32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let n = raw.len().min(scales.len()).min(out.len());
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: 16 values of each slice from i (i + 16 ≤ n, their shortest length).
        unsafe {
            let v = _mm512_mul_ps(
                _mm512_loadu_ps(raw.as_ptr().add(i)),
                _mm512_loadu_ps(scales.as_ptr().add(i)),
            );
            _mm512_storeu_ps(out.as_mut_ptr().add(i), v);
            lo = _mm512_min_ps(lo, v);
            hi = _mm512_max_ps(hi, v);
        }
        i += 16;
    }
    let range = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
    smooth_row_from(&raw[..n], &scales[..n], &mut out[..n], i, range)
}

/// `q = clamp(round_even(row[i] · inverse + zero), 0, top)` for the leading multiples of 16 of `row`: the
/// low byte into `low`, the high one into `high` (when it is not empty, for two digits). Returns how many
/// values it did.
///
/// # Safety
/// The CPU must support AVX-512F; `low` (and `high`, unless empty) must be at least as long as `row`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn quantize_row_avx512(
    row: &[f32],
    high: &mut [u8],
    low: &mut [u8],
    inverse: f32,
    zero: f32,
    top: f32,
) -> usize {
    use std::arch::x86_64::*;
    assert!(low.len() >= row.len() && (high.is_empty() || high.len() >= row.len()));
    let (inv, z) = (_mm512_set1_ps(inverse), _mm512_set1_ps(zero));
    let (floor, ceiling) = (_mm512_setzero_si512(), _mm512_set1_epi32(top as i32));
    let byte = _mm512_set1_epi32(255);
    let mut i = 0;
    while i + 16 <= row.len() {
        // SAFETY: 16 values of `row` from i, 16 bytes of `low` (and `high`) from i (asserted above).
        unsafe {
            let v = _mm512_fmadd_ps(_mm512_loadu_ps(row.as_ptr().add(i)), inv, z);
            // The default rounding mode: to nearest, ties to even.
            let q = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), floor), ceiling);
            let l = _mm512_and_si512(q, byte);
            _mm_storeu_si128(low.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi8(l));
            if !high.is_empty() {
                let h = _mm512_srli_epi32::<8>(q);
                _mm_storeu_si128(high.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi8(h));
            }
        }
        i += 16;
    }
    i
}

/// `q = clamp(round_even(row[i] · inverse + zero), 0, 8191) − 4096` for the leading multiples of 16 of
/// `row`, as little-endian i16 into `out` from byte 0 (the wide form). Returns how many values it did.
///
/// # Safety
/// The CPU must support AVX-512F and FMA ([`super::kernels::has_avx512`]); `out` must hold at least
/// `2 × row.len()` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn quantize_row_wide_avx512(row: &[f32], out: &mut [u8], inverse: f32, zero: f32) -> usize {
    use std::arch::x86_64::*;
    assert!(out.len() >= 2 * row.len());
    let (inv, z) = (_mm512_set1_ps(inverse), _mm512_set1_ps(zero));
    let (floor, ceiling) = (_mm512_setzero_si512(), _mm512_set1_epi32(WIDE_TOP));
    let centre = _mm512_set1_epi32(WIDE_CENTRE);
    let mut i = 0;
    while i + 16 <= row.len() {
        // SAFETY: 16 values of `row` from i, 32 bytes of `out` from 2i (asserted above).
        unsafe {
            let v = _mm512_fmadd_ps(_mm512_loadu_ps(row.as_ptr().add(i)), inv, z);
            // The default rounding mode: to nearest, ties to even.
            let q = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), floor), ceiling);
            let q = _mm512_sub_epi32(q, centre);
            _mm256_storeu_si256(out.as_mut_ptr().add(2 * i).cast(), _mm512_cvtepi32_epi16(q));
        }
        i += 16;
    }
    i
}

/// `R` rows × 64 columns of i32 sums (added to those in `out` when `add`): per group of 4 inputs, 4
/// weight registers and one broadcast of each row's 4 bytes, 4R `vpdpbusd`; or, `WIDE`, per group of
/// 2 i16 inputs, 4R `vpdpwssd`.
///
/// # Safety
/// The CPU must support AVX-512F, BW and VNNI; `panel` must hold `groups` groups in tile order, `a` `R` rows
/// of `groups × 4` bytes, `stride` bytes apart; `out` `R` rows of 64 i32, `SLOTS × 64` i32 apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn block_vnni<const R: usize, const WIDE: bool>(
    a: *const u8,
    stride: usize,
    panel: *const i8,
    groups: usize,
    out: *mut i32,
    add: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_si512(); 4]; R];
    if add {
        for (r, acc) in acc.iter_mut().enumerate() {
            for (c, v) in acc.iter_mut().enumerate() {
                // SAFETY: `out` holds R rows of 64 i32, `SLOTS × 64` apart (the caller's guarantee).
                *v = unsafe { _mm512_loadu_si512(out.add(r * SLOTS * PANEL + 16 * c).cast()) };
            }
        }
    }
    for g in 0..groups {
        // SAFETY: group g of the panel and bytes 4g..4g+4 of each row are in bounds (the caller's
        // guarantee); unaligned loads are used throughout.
        unsafe {
            let wp = panel.add(quarter_offset(g, 0));
            let w = [
                _mm512_loadu_si512(wp.cast()),
                _mm512_loadu_si512(wp.add(quarter_offset(0, 1)).cast()),
                _mm512_loadu_si512(wp.add(quarter_offset(0, 2)).cast()),
                _mm512_loadu_si512(wp.add(quarter_offset(0, 3)).cast()),
            ];
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_epi32(a.add(r * stride + 4 * g).cast::<i32>().read_unaligned());
                for (s, &w) in acc.iter_mut().zip(&w) {
                    *s = if WIDE {
                        _mm512_dpwssd_epi32(*s, x, w)
                    } else {
                        _mm512_dpbusd_epi32(*s, x, w)
                    };
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (c, v) in acc.iter().enumerate() {
            // SAFETY: `out` holds R rows of 64 i32, `SLOTS × 64` apart (the caller's guarantee).
            unsafe { _mm512_storeu_si512(out.add(r * SLOTS * PANEL + 16 * c).cast(), *v) };
        }
    }
}

/// Output rows computed at once by the AVX-VNNI kernel: per 32-column half, 4 weight registers, 2 × 4
/// accumulators and a broadcast fit in its 16 registers.
const AVX_ROWS: usize = 2;

/// `R` rows × 64 columns of i32 sums with 256-bit AVX-VNNI (CPUs with VNNI but no AVX-512): each
/// 32-column half of the panel in turn, per group of 4 inputs 4 weight registers and one broadcast of
/// each row's 4 bytes, 4R `vpdpbusd`.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI; the rest as [`block_vnni`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn block_avx_vnni<const R: usize, const WIDE: bool>(
    a: *const u8,
    stride: usize,
    panel: *const i8,
    groups: usize,
    out: *mut i32,
    add: bool,
) {
    use std::arch::x86_64::*;
    for half in 0..2 {
        let mut acc = [[_mm256_setzero_si256(); 4]; R];
        if add {
            for (r, acc) in acc.iter_mut().enumerate() {
                for (c, v) in acc.iter_mut().enumerate() {
                    // SAFETY: `out` holds R rows of 64 i32, `SLOTS × 64` apart (the caller's guarantee).
                    *v = unsafe {
                        _mm256_loadu_si256(out.add(r * SLOTS * PANEL + half * 32 + 8 * c).cast())
                    };
                }
            }
        }
        for g in 0..groups {
            // SAFETY: group g of the panel (this half's two quarters) and bytes 4g..4g+4 of each
            // row are in bounds (the caller's guarantee); unaligned loads throughout.
            unsafe {
                let low = panel.add(quarter_offset(g, 2 * half));
                let high = panel.add(quarter_offset(g, 2 * half + 1));
                let w = [
                    _mm256_loadu_si256(low.cast()),
                    _mm256_loadu_si256(low.add(32).cast()),
                    _mm256_loadu_si256(high.cast()),
                    _mm256_loadu_si256(high.add(32).cast()),
                ];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x =
                        _mm256_set1_epi32(a.add(r * stride + 4 * g).cast::<i32>().read_unaligned());
                    for (s, &w) in acc.iter_mut().zip(&w) {
                        *s = if WIDE {
                            _mm256_dpwssd_avx_epi32(*s, x, w)
                        } else {
                            _mm256_dpbusd_avx_epi32(*s, x, w)
                        };
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (c, v) in acc.iter().enumerate() {
                // SAFETY: `out` holds R rows of 64 i32, `SLOTS × 64` apart (the caller's guarantee).
                unsafe {
                    _mm256_storeu_si256(out.add(r * SLOTS * PANEL + half * 32 + 8 * c).cast(), *v)
                };
            }
        }
    }
}

/// AMX: the tile unit of recent Intel Xeons (Sapphire Rapids on), reached through inline assembly (its
/// intrinsics are not stable Rust). A thread configures its 8 tiles once a product, as 16 rows of 64
/// bytes each; a 32 × 32 block of i32 sums takes 4 tiles of sums, 2 of activations and 2 of weights.
pub mod amx {
    /// Bytes of a tile row: 64 u8 activations, or 16 columns × 4 i8 weights.
    pub const TILE_BYTES: usize = 64;
    /// Rows of a tile.
    pub const TILE_ROWS: usize = 16;
    /// Activation rows of one block (two tiles).
    pub const BLOCK_ROWS: usize = 2 * TILE_ROWS;

    /// Whether the CPU has AMX with int8 and Linux lets this process use its tile data (asked once).
    pub fn usable() -> bool {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
            *USABLE.get_or_init(|| {
                // CPUID leaf 7: EDX bit 24 is AMX-TILE, bit 25 AMX-INT8.
                let leaf = std::arch::x86_64::__cpuid_count(7, 0);
                let (tile, int8) = (leaf.edx >> 24 & 1 == 1, leaf.edx >> 25 & 1 == 1);
                if !(tile && int8) {
                    return false;
                }
                // Linux hands out the tiles' 8 KB of state only to a process that asks for it
                // (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); it says no where the kernel is too old.
                const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
                const XFEATURE_XTILEDATA: libc::c_long = 18;
                // SAFETY: arch_prctl with these arguments only changes this process's permission.
                let granted = unsafe {
                    libc::syscall(
                        libc::SYS_arch_prctl,
                        ARCH_REQ_XCOMP_PERM,
                        XFEATURE_XTILEDATA,
                    )
                };
                granted == 0
            })
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        false
    }

    /// The tile loop of [`block_of`] with product instruction `$op` (a literal, as `asm!` needs).
    #[cfg(target_arch = "x86_64")]
    macro_rules! tiles {
        ($op:literal, $a:expr, $a_stride:expr, $w:expr, $k_blocks:expr, $c:expr, $c_stride:expr) => {{
            // A panel is in tile order (`quarter_offset`): in each k block, a quarter's 16 weight rows
            // of 64 bytes lie together, the block's second quarter right after its first.
            const SECOND_QUARTER: usize = super::quarter_offset(0, 1);
            const K_BLOCK_BYTES: usize = super::quarter_offset(TILE_ROWS, 0);
            let (a, a_stride, w, k_blocks, c, c_stride) = ($a, $a_stride, $w, $k_blocks, $c, $c_stride);
            std::arch::asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "2:",
                "tileloadd tmm4, [{a} + {a_stride}*1]",
                "tileloadd tmm5, [{a_low} + {a_stride}*1]",
                "tileloadd tmm6, [{w} + {w_stride}*1]",
                "tileloadd tmm7, [{w} + {w_stride}*1 + {second}]",
                concat!($op, " tmm0, tmm4, tmm6"),
                concat!($op, " tmm1, tmm4, tmm7"),
                concat!($op, " tmm2, tmm5, tmm6"),
                concat!($op, " tmm3, tmm5, tmm7"),
                "add {a}, 64",
                "add {a_low}, 64",
                "add {w}, {w_step}",
                "dec {n}",
                "jnz 2b",
                "tilestored [{c} + {c_stride}*1], tmm0",
                "tilestored [{c} + {c_stride}*1 + 64], tmm1",
                "tilestored [{c_low} + {c_stride}*1], tmm2",
                "tilestored [{c_low} + {c_stride}*1 + 64], tmm3",
                a = inout(reg) a => _,
                a_low = inout(reg) a.add(TILE_ROWS * a_stride) => _,
                a_stride = in(reg) a_stride,
                w = inout(reg) w => _,
                w_stride = in(reg) TILE_BYTES,
                w_step = in(reg) K_BLOCK_BYTES,
                second = const SECOND_QUARTER,
                n = inout(reg) k_blocks => _,
                c = in(reg) c,
                c_low = in(reg) c.add(TILE_ROWS * c_stride),
                c_stride = in(reg) c_stride,
                options(nostack),
            )
        }};
    }
    /// Whether AMX also multiplies bf16 here (AMX-BF16, CPUID leaf 7 EDX bit 22), besides [`usable`].
    pub fn bf16_usable() -> bool {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            usable() && std::arch::x86_64::__cpuid_count(7, 0).edx >> 22 & 1 == 1
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        false
    }

    /// The tile configuration: palette 1, every one of the 8 tiles 16 rows of 64 bytes.
    #[cfg(target_arch = "x86_64")]
    #[repr(C, align(64))]
    struct TileConfig([u8; 64]);

    #[cfg(target_arch = "x86_64")]
    impl TileConfig {
        fn uniform() -> Self {
            let mut c = [0u8; 64];
            c[0] = 1;
            for t in 0..8 {
                // Bytes 16.. hold each tile's bytes a row (u16), bytes 48.. its rows (u8).
                c[16 + 2 * t..][..2].copy_from_slice(&(TILE_BYTES as u16).to_le_bytes());
                c[48 + t] = TILE_ROWS as u8;
            }
            Self(c)
        }
    }

    /// Configures this thread's tiles; [`release`] undoes it.
    ///
    /// # Safety
    /// The CPU must have AMX and the process the permission ([`usable`]).
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn configure() {
        let config = TileConfig::uniform();
        // SAFETY: a valid 64-byte configuration; AMX is usable (the caller's guarantee).
        unsafe {
            std::arch::asm!("ldtilecfg [{0}]", in(reg) config.0.as_ptr(), options(nostack, readonly));
        }
    }

    /// Returns this thread's tiles to their initial state (so the OS need not save them on a switch).
    ///
    /// # Safety
    /// As [`configure`].
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn release() {
        // SAFETY: AMX is usable (the caller's guarantee).
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
    }

    /// The i32 sums of a 32-row × 32-column block over `k_blocks × 64` inputs: `c[r][j] = Σ_i a[r][i] ·
    /// w[i][j]`, with the activations' rows `a_stride` bytes apart from `a`, and the weights as a panel's
    /// groups of 4 inputs in tile order (`super::quarter_offset`: the block's 32 columns are two quarters,
    /// the first at `w`); the sums stored as rows `c_stride` bytes apart from `c`.
    ///
    /// # Safety
    /// [`configure`] was called on this thread; `a` holds 32 rows of `k_blocks × 64` bytes, `w`
    /// `k_blocks` k blocks of 4 KB from the block's first quarter (of which 2 KB a block are read), `c` 32
    /// rows of 32 i32.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    pub unsafe fn block(
        a: *const u8,
        a_stride: usize,
        w: *const i8,
        k_blocks: usize,
        c: *mut i32,
        c_stride: usize,
    ) {
        // SAFETY: the caller's guarantee.
        unsafe { block_of::<false>(a, a_stride, w.cast(), k_blocks, c.cast(), c_stride) }
    }

    /// [`block`] in bf16: `c[r][j] = Σ_i a[r][i] · w[i][j]` in f32, over `k_blocks × 32` inputs, with
    /// bf16 activations (rows of `k_blocks × 64` bytes) and weights as a [`super::super::bf16`] panel's
    /// pairs of inputs, in the same tile order.
    ///
    /// # Safety
    /// As [`block`], and the CPU must have AMX-BF16 ([`bf16_usable`]).
    #[cfg(target_arch = "x86_64")]
    #[inline]
    pub unsafe fn block_bf16(
        a: *const u16,
        a_stride: usize,
        w: *const u16,
        k_blocks: usize,
        c: *mut f32,
        c_stride: usize,
    ) {
        // SAFETY: the caller's guarantee.
        unsafe { block_of::<true>(a.cast(), a_stride, w.cast(), k_blocks, c.cast(), c_stride) }
    }

    /// [`block`] (`BF16` false) or [`block_bf16`]: the same tiles, loads and stores (a k block is 64
    /// bytes of a row in both: 64 u8 or 32 bf16), only the product instruction differs.
    ///
    /// # Safety
    /// As [`block`] or [`block_bf16`].
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn block_of<const BF16: bool>(
        a: *const u8,
        a_stride: usize,
        w: *const u8,
        k_blocks: usize,
        c: *mut u8,
        c_stride: usize,
    ) {
        if BF16 {
            // SAFETY: the caller's guarantee.
            unsafe { tiles!("tdpbf16ps", a, a_stride, w, k_blocks, c, c_stride) }
        } else {
            // SAFETY: the caller's guarantee.
            unsafe { tiles!("tdpbusd", a, a_stride, w, k_blocks, c, c_stride) }
        }
    }
}

/// How much of an input's outlier smoothing moves into the weights (SmoothQuant's α; 0.5 splits the range
/// evenly between the two operands, the paper's default for BERT-sized models).
const SMOOTHING_ALPHA: f32 = 0.5;

/// SmoothQuant's factors for one product: input `r` is divided by `s[r]` and the weight's row `r`
/// multiplied by it, `s[r] = √(max |x_r| / max |W_r|)`, which moves the activations' outlier inputs (a few
/// inputs of BERT's hidden states are ten times the rest, and set the whole row's quantization step) into
/// weights that have room for them. `activation_peaks` are the inputs' largest magnitudes on calibration
/// text; `weight` is `(k, n)` row-major.
pub fn smoothing(activation_peaks: &[f32], weight: &[f32], n: usize) -> Vec<f32> {
    activation_peaks
        .iter()
        .zip(weight.chunks_exact(n))
        .map(|(&x, row)| {
            let w = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            if x > 0.0 && w > 0.0 {
                (x.powf(SMOOTHING_ALPHA) / w.powf(1.0 - SMOOTHING_ALPHA)).clamp(1e-3, 1e3)
            } else {
                1.0
            }
        })
        .collect()
}

/// Per column of `weight` (`(k, n)` row-major, its row `r` multiplied by `smooth[r]`), the expected squared
/// error its rounding to 8 bits ([`QuantizedMatrix::quantize`]'s first digit) puts into the product,
/// for inputs whose squares (divided by the smoothing) sum to `input_squares`: Σᵣ eᵣ² · xᵣ². The
/// rounding errors of a column's weights are close to independent, so their cross terms cancel out.
pub fn rounding_loss(
    weight: &[f32],
    k: usize,
    n: usize,
    smooth: &[f32],
    input_squares: &[f64],
) -> Vec<f64> {
    let smoothed = smoothed(weight, n, smooth);
    let square = |r: usize| {
        let s = f64::from(smooth[r]);
        input_squares.get(r).map_or(1.0, |q| q / (s * s))
    };
    (0..n)
        .map(|c| {
            let scale = column_scale(&smoothed, k, n, c, 127.0);
            (0..k)
                .map(|r| {
                    let w = smoothed[r * n + c];
                    let e = f64::from(w - scale * (w / scale).round());
                    e * e * square(r)
                })
                .sum()
        })
        .collect()
}

/// Text the int8 engine is calibrated on at load: the inputs' largest magnitudes in an fp32 pass over these
/// set the smoothing factors. Written for this purpose (no benchmark, probe or training prompt), in the
/// kinds and lengths of requests a router sees.
pub const CALIBRATION_TEXTS: [&str; 24] = [
    "hi",
    "Thanks, that's all for today!",
    "What is the capital of Australia?",
    "Can you suggest a name for my new golden retriever puppy?",
    "Translate 'where is the train station' into Spanish and German.",
    "Write a short poem about the first snow of the winter falling on a quiet village.",
    "Explain how vaccines train the immune system to recognise a virus, in terms a teenager would follow.",
    "Solve for x: 3x^2 - 12x + 9 = 0, and show each step of the factorisation.",
    "Prove that the sum of the first n odd numbers is n squared.",
    "Let f(x) = e^{2x} sin(x). Compute f''(x) and find every critical point of f on [0, 2π].",
    "If all bloops are razzies and some razzies are lazzies, must some bloops be lazzies? Explain.",
    "Five friends sit in a row. Ann is left of Ben, Cid is at an end, and Dee sits between Ann and Eve. Who sits in the middle?",
    "Write a Python function that merges two sorted lists into one sorted list without using sort().",
    "Why does this Rust code fail to compile? fn main() { let s = String::from(\"a\"); let t = s; println!(\"{}\", s); }",
    "Implement a thread-safe bounded queue in C++ with condition variables, and explain how it avoids lost wake-ups.",
    "SELECT customer_id, SUM(amount) FROM orders WHERE created_at > NOW() - INTERVAL '30 days' GROUP BY 1 HAVING SUM(amount) > 500; -- why is this slow on 40M rows?",
    "Draft a polite email to my landlord asking to fix the heating, which has been broken for a week.",
    "Summarise the causes of the French Revolution in five bullet points.",
    "What are the side effects of ibuprofen, and when should someone not take it?",
    "I feel stuck in my career as an accountant. How could I move into data analysis over the next year?",
    "Plan a three-day itinerary for Kyoto in autumn for two people who like gardens, food and walking, on a mid-range budget, with one rainy-day alternative each day.",
    "Here is my code:\n\nimport numpy as np\n\ndef normalise(rows):\n    total = rows.sum(axis=1)\n    return rows / total\n\nprint(normalise(np.array([[1, 2], [3, 4]])))\n\nIt prints the wrong shape when I pass a 3-D array. How do I make it work for any number of dimensions, and how would I test it?",
    "A train leaves city A at 9:00 travelling at 80 km/h. Another leaves city B, 300 km away, at 10:00 travelling toward A at 100 km/h. At what time and where do they meet? Give the distance from A and check the answer by computing both trains' positions at that moment.",
    "Write a detailed design document for a URL shortener that handles 10,000 writes and 1,000,000 reads per second: the API, the storage schema, how IDs are generated without collisions across regions, caching, rate limiting, analytics, and how the system degrades when a region fails. Include the trade-offs you considered.",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, salt: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + salt * 31) % 211) as f32 / 105.0 - 1.0)
            .collect()
    }

    fn run(kernel: Int8Kernel, x: &[f32], q: &QuantizedMatrix, m: usize, bias: &[f32]) -> Vec<f32> {
        let n = q.n;
        let k = q.k;
        let mut store = QuantizedStore::default();
        store.reserve(m, k);
        let shared = store.shared();
        let ops = Operands {
            out: std::ptr::null_mut(),
            out_stride: n,
            x: x.as_ptr(),
            x_stride: k,
            m,
        };
        let mut out = vec![0f32; m * n];
        let e = Epilogue {
            accumulate: false,
            bias: Some(bias),
            gelu: false,
        };
        // SAFETY: x holds m × k values, out m × n, bias n; one thread; the kernel is checked by the
        // caller.
        unsafe {
            // In two parts, as two threads would.
            shared.quantize_rows(q, &ops, 0..m / 2, &mut Vec::new());
            shared.quantize_rows(q, &ops, m / 2..m, &mut Vec::new());
            let input = shared.input(q, m);
            q.matmul(&input, out.as_mut_ptr(), n, 0..q.panel_count(), e, kernel);
        }
        out
    }

    #[test]
    fn int8_products_stay_close_to_f32_and_every_kernel_gives_the_same_bits() {
        for (m, k, n) in [
            (1, 5, 3),
            (7, 384, 130),
            (13, 1536, 384),
            (6, 8, 64),
            (45, 128, 200),
            // Past one chunk of rows and one of inputs (the register kernels' blocking), both ragged.
            (30, 600, 70),
        ] {
            let x = values(m * k, 1);
            let w = values(k * n, 2);
            let bias = values(n, 3);
            // No smoothing, and factors between 0.5 and 2 (which must not change the product).
            let smoothed: Vec<f32> = values(k, 4).iter().map(|v| 2f32.powf(*v)).collect();
            // Per activation digits, without and with the fine weight digit.
            let mut worst = [[0f32; 2]; 2];
            for (spread, smooth) in [(1.0, vec![1.0; k]), (2.0, smoothed)] {
                for (digits, fine) in [(1, false), (1, true), (2, false), (2, true)] {
                    let columns = if fine { 0..n } else { 0..0 };
                    let q = QuantizedMatrix::quantize(&w, k, n, &smooth, digits, columns).unwrap();
                    let got = run(Int8Kernel::Portable, &x, &q, m, &bias);
                    let worst = &mut worst[digits - 1][usize::from(fine)];
                    for r in 0..m {
                        for c in 0..n {
                            let exact: f32 =
                                (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum::<f32>() + bias[c];
                            let error = (got[r * n + c] - exact).abs();
                            *worst = worst.max(error);
                            // Rounding errors of half a step of each operand add up like a random
                            // walk over k products (a wrong scale or zero point is off by far more).
                            // Smoothing by factors up to 2 widens both operands' ranges up to twice.
                            let tolerance = 0.02 * spread * (k as f32).sqrt() + 0.01;
                            assert!(
                                error <= tolerance,
                                "({m},{k},{n}) digits {digits} fine {fine} [{r},{c}]: {} vs {exact}",
                                got[r * n + c]
                            );
                        }
                    }
                    for kernel in Int8Kernel::ALL {
                        if kernel.runs_here() {
                            assert_eq!(
                                run(kernel, &x, &q, m, &bias),
                                got,
                                "{kernel:?} ({m},{k},{n}) digits {digits} fine {fine}"
                            );
                        }
                    }
                }
            }
            if k >= 384 {
                eprintln!("({m},{k},{n}) worst errors [digits][fine]: {worst:?}");
                assert!(worst[1][0] < worst[0][0], "two digits no better: {worst:?}");
                // With 16-bit activations the weights' rounding is most of what is left.
                assert!(
                    worst[1][1] < 0.5 * worst[1][0],
                    "the fine weight digit no better: {worst:?}"
                );
            }
        }
    }

    #[test]
    fn a_fine_digit_on_some_columns_gives_those_columns_the_fine_sums_and_the_rest_the_plain_ones()
    {
        let (m, k, n) = (9, 384, 200);
        let (x, w, bias) = (values(m * k, 1), values(k * n, 2), values(n, 3));
        let ones = vec![1.0; k];
        let quantize = |fine| QuantizedMatrix::quantize(&w, k, n, &ones, 2, fine).unwrap();
        let (plain, all) = (quantize(0..0), quantize(0..n));
        for fine in [64..n, 64..128, 0..64] {
            let some = quantize(fine.clone());
            for kernel in Int8Kernel::ALL.into_iter().filter(|k| k.runs_here()) {
                let got = run(kernel, &x, &some, m, &bias);
                let (plain, all) = (
                    run(kernel, &x, &plain, m, &bias),
                    run(kernel, &x, &all, m, &bias),
                );
                for r in 0..m {
                    for c in 0..n {
                        let want = if fine.contains(&c) { &all } else { &plain };
                        assert_eq!(
                            got[r * n + c],
                            want[r * n + c],
                            "{kernel:?} {fine:?} [{r},{c}]"
                        );
                    }
                }
            }
        }
        // Not on a panel's first column, past the end, or ending inside a panel short of `n`.
        for fine in [1..n, 0..n + 1, 64..100] {
            assert!(QuantizedMatrix::quantize(&w, k, n, &ones, 2, fine).is_none());
        }
    }

    #[test]
    fn the_wide_form_is_finer_than_one_digit_and_every_kernel_gives_the_same_bits() {
        for (m, k, n) in [
            (1, 5, 3),
            (7, 383, 130),
            (13, 1536, 384),
            (30, 600, 70),
            (45, 128, 200),
        ] {
            let (x, w, bias) = (values(m * k, 1), values(k * n, 2), values(n, 3));
            let ones = vec![1.0; k];
            let wide = QuantizedMatrix::quantize_wide(&w, k, n).unwrap();
            let narrow = QuantizedMatrix::quantize(&w, k, n, &ones, 1, 0..0).unwrap();
            let got = run(Int8Kernel::Portable, &x, &wide, m, &bias);
            let one_digit = run(Int8Kernel::Portable, &x, &narrow, m, &bias);
            let (mut worst, mut worst_narrow) = (0f32, 0f32);
            for r in 0..m {
                for c in 0..n {
                    let exact: f32 =
                        (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum::<f32>() + bias[c];
                    worst = worst.max((got[r * n + c] - exact).abs());
                    worst_narrow = worst_narrow.max((one_digit[r * n + c] - exact).abs());
                }
            }
            // 12 and 13 bits: steps 16 and 32 times finer than 8 bits' (a wrong scale, zero point or
            // weight layout is off by far more).
            let tolerance = 0.002 * (k as f32).sqrt() + 1e-3;
            assert!(worst <= tolerance, "({m},{k},{n}): {worst} > {tolerance}");
            if k >= 128 {
                assert!(
                    worst < 0.25 * worst_narrow,
                    "({m},{k},{n}): {worst} vs {worst_narrow}"
                );
            }
            for kernel in Int8Kernel::ALL.into_iter().filter(|k| k.runs_here()) {
                assert_eq!(
                    run(kernel, &x, &wide, m, &bias),
                    got,
                    "{kernel:?} ({m},{k},{n})"
                );
            }
        }
    }

    #[test]
    fn the_wide_forms_spans_follow_the_weights_and_keep_every_kernels_bits() {
        // Columns whose weights are near their peak everywhere fit one chunk a span; columns whose
        // peak is one weight in `spike` fit longer spans, up to the whole row.
        let (m, k, n) = (20, 1536, 96);
        let mut spans = Vec::new();
        for spike in [1, 3, 8, 32] {
            let w: Vec<f32> = values(k * n, 5)
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if (i / n) % spike == 0 {
                        v.signum()
                    } else {
                        0.05 * v
                    }
                })
                .collect();
            let (x, bias) = (values(m * k, 6), values(n, 7));
            let wide = QuantizedMatrix::quantize_wide(&w, k, n).unwrap();
            spans.push(wide.span_groups);
            let got = run(Int8Kernel::Portable, &x, &wide, m, &bias);
            for kernel in Int8Kernel::ALL.into_iter().filter(|k| k.runs_here()) {
                assert_eq!(
                    run(kernel, &x, &wide, m, &bias),
                    got,
                    "{kernel:?} spike {spike}"
                );
            }
        }
        // One chunk, longer spans that still split the row, and the whole row.
        let groups = k / 2;
        assert_eq!(spans[0], K_CHUNK_GROUPS, "{spans:?}");
        assert!(
            spans.iter().any(|&s| s > K_CHUNK_GROUPS && s < groups),
            "{spans:?}"
        );
        assert!(spans.iter().any(|&s| s >= groups), "{spans:?}");
    }

    #[test]
    fn the_wide_form_stays_exact_at_its_extremes() {
        // Every activation but one at the bottom of its row's range (−4096 once centred), and the
        // weights positive: at their column's peak (2047) everywhere, or on one input in `spike` with
        // the rest at a twentieth of it. Each span's i32 sums then come as close to i32's limit as its
        // length allows (each chunk −2,146,435,072 with every weight at its peak), and the row's total
        // goes far past it. The kernels must agree with the portable loop, whose sums are i64
        // throughout, and with the product in f64.
        let (m, k, n) = (3, 1536, 64);
        let mut x = vec![-1.0f32; m * k];
        for r in 0..m {
            x[r * k] = 1.0;
        }
        let bias = vec![0.0; n];
        for spike in [1, 4, 16] {
            let w: Vec<f32> = (0..k * n)
                .map(|i| if (i / n) % spike == 0 { 0.5 } else { 0.025 })
                .collect();
            let wide = QuantizedMatrix::quantize_wide(&w, k, n).unwrap();
            let got = run(Int8Kernel::Portable, &x, &wide, m, &bias);
            let exact: f64 = (0..k).map(|r| f64::from(x[r]) * f64::from(w[r * n])).sum();
            for v in &got {
                // The small weights (a twentieth of the peak) are rounded to about 100 steps.
                assert!(
                    (f64::from(*v) - exact).abs() < 1e-2 * exact.abs(),
                    "spike {spike}: {v} vs {exact}"
                );
            }
            for kernel in Int8Kernel::ALL.into_iter().filter(|k| k.runs_here()) {
                assert_eq!(
                    run(kernel, &x, &wide, m, &bias),
                    got,
                    "{kernel:?} spike {spike}, span {}",
                    wide.span_groups
                );
            }
        }
    }

    #[test]
    fn rounding_loss_is_zero_on_exact_weights_and_weighs_each_input_by_its_squares() {
        // (3, 2): column 0 is on the 8-bit grid (127 · 0.01, 0.05 and −0.1 are whole steps of 0.01);
        // column 1's weight of input 1 is a third of a step off.
        let (k, n) = (3, 2);
        let weight = [1.27, 1.27, 0.05, 0.01 / 3.0, -0.1, 0.0];
        let loss = rounding_loss(&weight, k, n, &[1.0; 3], &[1.0, 1.0, 1.0]);
        assert!(loss[0] < 1e-12, "{loss:?}");
        let step: f64 = 0.01;
        let expected = (step / 3.0).powi(2);
        assert!((loss[1] - expected).abs() < 1e-3 * expected, "{loss:?}");
        // Only input 1's weight is off the grid: its squares scale the loss, the others' do not.
        let heavier = rounding_loss(&weight, k, n, &[1.0; 3], &[9.0, 4.0, 9.0]);
        assert!(
            (heavier[1] - 4.0 * loss[1]).abs() < 1e-3 * loss[1],
            "{heavier:?}"
        );
        // Smoothing by 2 doubles the weight row and halves the input: the same loss.
        let smoothed = rounding_loss(&weight, k, n, &[2.0, 2.0, 2.0], &[1.0, 1.0, 1.0]);
        assert!(
            (smoothed[1] - loss[1]).abs() < 1e-3 * loss[1],
            "{smoothed:?}"
        );
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(QuantizedMatrix::quantize_wide(&[1.0; 6], 2, 4).is_none());
        assert!(QuantizedMatrix::quantize_wide(&[], 0, 4).is_none());
        assert!(QuantizedMatrix::quantize(&[1.0; 6], 2, 4, &[1.0; 2], 1, 0..0).is_none());
        assert!(QuantizedMatrix::quantize(&[1.0; 8], 2, 4, &[1.0; 3], 1, 0..0).is_none());
        assert!(QuantizedMatrix::quantize(&[1.0; 8], 2, 4, &[1.0; 2], 3, 0..0).is_none());
    }
}
