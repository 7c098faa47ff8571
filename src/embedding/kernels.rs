//! Vectorised CPU kernels (AVX-512 / AVX2 chosen at run time): row-wise bias + LayerNorm and softmax, and the
//! GELU that `packed` applies, for the native engine (`cpu_bert`); erf-GELU and the masked, scaled attention
//! softmax as candle custom ops for the tensor engine (`bert`), which on other devices uses candle's own ops.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// Whether a fused CPU kernel applies to `t`: asked for (`--kernels fused`, the default; `candle` keeps
/// candle's own ops so a benchmark can compare them in one binary), on the CPU, in f32.
fn fused_kernels_on(t: &Tensor, fused: bool) -> bool {
    fused && t.device().is_cpu() && t.dtype() == candle_core::DType::F32
}

/// Rational approximation of erf on [-4, 4] (odd numerator of degree 13 over an even denominator of degree 8;
/// the coefficients of Eigen's `generic_fast_erf_float`). Absolute error below 2e-7 in f32, i.e. as exact as
/// f32 itself around GELU's useful range; branch-free, so the compiler vectorises loops over it.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2.mul_add(-2.726_142_3e-10, 2.770_681_4e-8);
    p = x2.mul_add(p, -2.101_024e-6);
    p = x2.mul_add(p, -5.692_506_4e-5);
    p = x2.mul_add(p, -7.349_906e-4);
    p = x2.mul_add(p, -2.9546e-3);
    p = x2.mul_add(p, -1.609_603_3e-2);
    p *= x;
    let mut q = x2.mul_add(-1.456_607_2e-5, -2.133_740_6e-4);
    q = x2.mul_add(q, -1.682_827e-3);
    q = x2.mul_add(q, -7.373_329e-3);
    q = x2.mul_add(q, -1.426_474e-2);
    p / q
}

#[inline(always)]
fn gelu_slice(src: &[f32], dst: &mut [f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = gelu(x);
    }
}

#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Whether this CPU runs the AVX-512 kernels (AVX-512F with FMA); the answer is cached by std.
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `pub(crate) fn $name(args)` that runs `$body(args)` compiled for AVX-512 or AVX2 (with FMA) when the
/// CPU has them, chosen at run time, else the portable build. `$body` must be `#[inline(always)]` so that it is
/// compiled inside each feature-enabled wrapper (a plain call would run baseline x86-64 code).
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:ident) => {
        $(#[$meta])*
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if $crate::embedding::kernels::has_avx512() {
                    // SAFETY: the CPU supports the features the function was compiled for (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

simd_dispatch! {
    /// `dst[i] = GELU(src[i])`.
    fn gelu_dispatch(src: &[f32], dst: &mut [f32]) => gelu_slice
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "triage-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("{} only supports f32", self.name())
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{} needs a contiguous input", self.name())
        };
        let src = &data[start..end];
        let mut dst = vec![0f32; src.len()];
        // Two halves on two threads would fight the matmuls' pool; the loop is memory-bound anyway.
        gelu_dispatch(src, &mut dst);
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

/// 1.5 · 2²³: a float this large has no fraction bits, so adding it to a small one rounds that to an integer
/// and leaves the integer in the low bits of the sum's mantissa.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// e^x for f32 (Cephes' expf: range reduction by ln 2 and a degree-6 polynomial; relative error ~1e-7),
/// branch-free so loops over it vectorise. The integer part n of x / ln 2 is found with
/// [`ROUNDING_MAGIC`] rather than `floor` and `as i32`, whose saturating conversion kept the whole loop
/// scalar (a quarter of the softmax's time went to per-lane conversions and NaN checks).
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // x / ln 2 rounded to the nearest integer n, |n| ≤ 127: the low bits of `t` hold n.
    let t = x.mul_add(std::f32::consts::LOG2_E, ROUNDING_MAGIC);
    let n = t - ROUNDING_MAGIC;
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = r.mul_add(1.987_569_1e-4, 1.398_199_9e-3);
    p = r.mul_add(p, 8.333_452e-3);
    p = r.mul_add(p, 4.166_579_6e-2);
    p = r.mul_add(p, 1.666_666_5e-1);
    p = r.mul_add(p, 0.5);
    let p = (r * r).mul_add(p, r + 1.0);
    // 2^n built as a float's bits: n + 127 in the exponent field (t's bits are ROUNDING_MAGIC's plus n).
    let biased = t
        .to_bits()
        .wrapping_sub(ROUNDING_MAGIC.to_bits())
        .wrapping_add(127);
    p * f32::from_bits(biased << 23)
}

/// Lanes of the independent accumulators in the reductions below: separate partial maxima and sums let the
/// compiler keep them in one vector register (a single running sum is a serial dependency it may not reorder).
const LANES: usize = 16;

/// Largest element (NEG_INFINITY for an empty slice).
#[inline(always)]
fn max_of(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = if v > *m { v } else { *m };
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    lanes.iter().fold(tail, |m, &v| m.max(v))
}

/// Sum of the elements, in `LANES` partial sums.
#[inline(always)]
fn sum_of(values: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (s, &v) in lanes.iter_mut().zip(chunk) {
            *s += v;
        }
    }
    chunks.remainder().iter().sum::<f32>() + lanes.iter().sum::<f32>()
}

/// Softmax of `row * scale`, in place.
#[inline(always)]
fn softmax_scaled(row: &mut [f32], scale: f32) {
    let max = max_of(row) * scale;
    for v in row.iter_mut() {
        *v = exp(v.mul_add(scale, -max));
    }
    let inv = 1.0 / sum_of(row);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Softmax of `row[..len] * scale`; positions from `len` on (padding) get probability 0.
#[inline(always)]
fn softmax_row(row: &mut [f32], len: usize, scale: f32) {
    let (live, pad) = row.split_at_mut(len.min(row.len()));
    softmax_scaled(live, scale);
    pad.iter_mut().for_each(|v| *v = 0.0);
}

/// Every `seq`-wide row of `data` (one batch item's scores) with the same number of real keys, `len`.
#[inline(always)]
fn softmax_rows(data: &mut [f32], seq: usize, len: usize, scale: f32) {
    for row in data.chunks_exact_mut(seq) {
        softmax_row(row, len, scale);
    }
}

simd_dispatch! {
    /// Masked, scaled softmax of every `seq`-wide row of `data` (see `softmax_rows`).
    fn softmax_dispatch(data: &mut [f32], seq: usize, len: usize, scale: f32) => softmax_rows
}

#[inline(always)]
fn softmax_rows_unmasked(data: &mut [f32], width: usize) {
    for row in data.chunks_exact_mut(width.max(1)) {
        softmax_scaled(row, 1.0);
    }
}

simd_dispatch! {
    /// Softmax of every `width`-wide row of `data`, in place.
    fn softmax_rows_in_place(data: &mut [f32], width: usize) => softmax_rows_unmasked
}

#[inline(always)]
fn bias_layer_norm_rows(data: &mut [f32], bias: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let width = bias.len().max(1);
    let inv_width = 1.0 / width as f32;
    for row in data.chunks_exact_mut(width) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
        let mean = sum_of(row) * inv_width;
        let mut lanes = [0f32; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (s, &v) in lanes.iter_mut().zip(chunk) {
                let d = v - mean;
                *s = d.mul_add(d, *s);
            }
        }
        let tail: f32 = chunks
            .remainder()
            .iter()
            .map(|&v| (v - mean) * (v - mean))
            .sum();
        let var = (tail + lanes.iter().sum::<f32>()) * inv_width;
        let inv_std = 1.0 / (var + eps).sqrt();
        for ((v, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = ((*v - mean) * inv_std).mul_add(g, b);
        }
    }
}

simd_dispatch! {
    /// `LayerNorm(row + bias)` (biased variance, like BERT's) for every `bias`-wide row of `data`, in place.
    fn bias_layer_norm_in_place(data: &mut [f32], bias: &[f32], gamma: &[f32], beta: &[f32], eps: f32)
        => bias_layer_norm_rows
}

/// Attention softmax over the last axis of `(batch, heads, seq, seq)` scores, fused with the scaling
/// and the padding mask (keys at positions ≥ `lengths[b]` get probability 0).
struct MaskedSoftmax<'a> {
    lengths: &'a [usize],
    scale: f32,
}

impl CustomOp1 for MaskedSoftmax<'_> {
    fn name(&self) -> &'static str {
        "triage-masked-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("{} only supports f32", self.name())
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{} needs a contiguous input", self.name())
        };
        let (batch, heads, seq, seq2) = layout.shape().dims4()?;
        if seq != seq2 || batch != self.lengths.len() {
            candle_core::bail!("{}: bad scores shape {:?}", self.name(), layout.shape());
        }
        let mut out = data[start..end].to_vec();
        let per_item = heads * seq * seq;
        out.par_chunks_mut(per_item)
            .zip(self.lengths.par_iter())
            .for_each(|(item, &len)| softmax_dispatch(item, seq, len, self.scale));
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Softmax of `scores * scale + mask` over the last axis, for `(batch, heads, seq, seq)` scores.
/// On CPU a fused kernel that reads `lengths`; elsewhere candle's ops with the additive `mask`
/// (`(batch, 1, 1, seq)`, 0 for tokens and a large negative for padding).
pub fn masked_softmax(
    scores: &Tensor,
    mask: &Tensor,
    lengths: &[usize],
    scale: f64,
    fused: bool,
) -> Result<Tensor> {
    if fused_kernels_on(scores, fused) {
        let op = MaskedSoftmax {
            lengths,
            scale: scale as f32,
        };
        scores.contiguous()?.apply_op1_no_bwd(&op)
    } else {
        candle_nn::ops::softmax_last_dim(&(scores * scale)?.broadcast_add(mask)?)
    }
}

/// GELU with the exact (erf) form, vectorised on CPU; candle's `gelu_erf` elsewhere.
pub fn gelu_erf(x: &Tensor, fused: bool) -> Result<Tensor> {
    if fused_kernels_on(x, fused) {
        x.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        x.gelu_erf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf_reference(x: f64) -> f64 {
        candle_core::cpu::erf::erf_f64(x)
    }

    #[test]
    fn erf_matches_the_reference_to_f32_precision() {
        let mut worst = 0f64;
        for i in -60_000..=60_000 {
            let x = i as f32 / 10_000.0;
            let err = (erf(x) as f64 - erf_reference(x as f64)).abs();
            worst = worst.max(err);
        }
        assert!(worst < 5e-7, "max abs error {worst}");
    }

    #[test]
    fn exp_is_accurate() {
        for i in -8000..=8000 {
            let x = i as f32 / 100.0;
            let rel = ((exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs();
            assert!(rel < 3e-7, "exp({x}) rel err {rel}");
        }
    }

    #[test]
    fn softmax_rows_of_every_length_match_f64() {
        // Lengths around the 16 lanes, so that a last partial chunk (1 to 15 values) is covered.
        for width in [1, 2, 15, 16, 17, 31, 32, 33, 57, 64] {
            let rows = 3;
            let mut data: Vec<f32> = (0..rows * width)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 9.0)
                .collect();
            let reference: Vec<f64> = data
                .chunks(width)
                .flat_map(|row| {
                    let max = row
                        .iter()
                        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                    let e: Vec<f64> = row.iter().map(|&v| (f64::from(v) - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    e.into_iter().map(move |v| v / sum)
                })
                .collect();
            softmax_rows_in_place(&mut data, width);
            for (i, (&got, &want)) in data.iter().zip(&reference).enumerate() {
                assert!(
                    (f64::from(got) - want).abs() < 1e-6,
                    "width {width}, value {i}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn masked_softmax_matches_candle_with_an_additive_mask() {
        let dev = candle_core::Device::Cpu;
        let (b, h, s) = (3, 2, 5);
        let xs: Vec<f32> = (0..b * h * s * s)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 3.0)
            .collect();
        let scores = Tensor::from_vec(xs, (b, h, s, s), &dev).unwrap();
        let lengths = [5usize, 3, 1];
        let mask: Vec<f32> = lengths
            .iter()
            .flat_map(|&l| (0..s).map(move |j| if j < l { 0.0 } else { f32::MIN }))
            .collect();
        let mask = Tensor::from_vec(mask, (b, 1, 1, s), &dev).unwrap();
        let ours = masked_softmax(&scores, &mask, &lengths, 0.125, true).unwrap();
        let reference = candle_nn::ops::softmax_last_dim(
            &(&scores * 0.125).unwrap().broadcast_add(&mask).unwrap(),
        )
        .unwrap();
        let a = ours.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let r = reference.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let worst = a
            .iter()
            .zip(&r)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "max abs diff {worst}");
    }

    #[test]
    fn gelu_op_matches_candle() {
        let xs: Vec<f32> = (-500..500).map(|i| i as f32 / 50.0).collect();
        let t = Tensor::from_vec(xs, (10, 100), &candle_core::Device::Cpu).unwrap();
        let ours = gelu_erf(&t, true)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let theirs = t
            .gelu_erf()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "max abs diff {worst}");
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    }

    /// Rows of `width` pseudo-random values (odd widths leave a remainder after the 16-lane chunks).
    fn rows(n: usize, width: usize) -> Vec<f32> {
        (0..n * width)
            .map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 97.0)
            .collect()
    }

    #[test]
    fn row_kernels_match_candle() {
        let dev = candle_core::Device::Cpu;
        for width in [1usize, 7, 16, 37, 384] {
            let data = rows(5, width);
            let t = Tensor::from_vec(data.clone(), (5, width), &dev).unwrap();
            let bias: Vec<f32> = (0..width).map(|i| i as f32 / 10.0).collect();
            let gamma: Vec<f32> = (0..width).map(|i| 1.0 + i as f32 / 100.0).collect();
            let beta: Vec<f32> = (0..width).map(|i| -(i as f32) / 50.0).collect();
            let bias_t = Tensor::from_vec(bias.clone(), width, &dev).unwrap();
            let biased = t.broadcast_add(&bias_t).unwrap();
            let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();

            let mut ours = data.clone();
            softmax_rows_in_place(&mut ours, width);
            let theirs = flat(candle_nn::ops::softmax_last_dim(&t).unwrap());
            assert!(
                max_abs_diff(&ours, &theirs) < 1e-6,
                "softmax, width {width}"
            );

            if width > 1 {
                let mut ours = data.clone();
                bias_layer_norm_in_place(&mut ours, &bias, &gamma, &beta, 1e-12);
                let g = Tensor::from_vec(gamma.clone(), width, &dev).unwrap();
                let b = Tensor::from_vec(beta.clone(), width, &dev).unwrap();
                let theirs = flat(candle_nn::ops::layer_norm(&biased, &g, &b, 1e-12).unwrap());
                assert!(
                    max_abs_diff(&ours, &theirs) < 1e-5,
                    "layer norm, width {width}"
                );
            }
        }
    }
}
