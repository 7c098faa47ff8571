//! The CPU engine: BERT's forward pass on plain f32 buffers — the batch's tokens packed without padding,
//! dense layers on weights packed in panels (`packed`) with bias, residual and GELU fused into their stores,
//! attention per (text, head), buffers reused between calls, and every step shared out among the encoder's
//! own team of threads.
//!
//! Same arithmetic as `bert::BertEncoder`, which stays the engine for CUDA (and for A/B runs with
//! `--engine candle`): results differ only by f32 summation order. What changes is where the numbers live
//! and how often they are touched: candle allocates a fresh tensor for every op, pads every text of a batch
//! to the longest one, and runs its element-wise ops on one thread.

use super::bert::{Config, LayerNorm, Linear, Weights};
use super::bf16::{Bf16Kernel, Bf16Matrix, Bf16Store, SharedBf16};
use super::kernels;
use super::packed::{self, Epilogue, Operands, PackedMatrix, PANEL};
use super::quantized::{self, Int8Kernel, QuantizedMatrix, QuantizedStore, SharedStore};
use super::team::{share, share_by_cost, SharedBuf, SpinBarrier};
use super::DenseArithmetic;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use gemm::{gemm, Parallelism};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, TryLockError};

/// Rows of the feed-forward block computed at a time: bounds its (rows × intermediate) buffer, which then stays
/// in cache between the two products.
const FFN_BLOCK_ROWS: usize = 512;
/// Head size the AVX-512 attention handles (its value panel is two 16-float registers wide); other sizes take
/// the `gemm` path.
const HEAD_DIM_AVX512: usize = 32;

/// A dense layer: the `(inputs, outputs)` weight in panels (f32, or int8 when the engine runs int8), and
/// the bias.
struct Dense {
    weight: PackedMatrix,
    /// The same weight quantized, when the engine runs its products in int8.
    quantized: Option<QuantizedMatrix>,
    /// The same weight in bf16, when the engine runs its products in bf16.
    bf16: Option<Bf16Matrix>,
    bias: Vec<f32>,
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

struct CpuLayer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

/// Buffers of one forward pass, kept between calls so that steady-state inference allocates nothing big.
#[derive(Default)]
struct Workspace {
    /// Hidden states, `(tokens, hidden)`.
    x: Vec<f32>,
    /// Query, key and value projections side by side, `(tokens, 3 * hidden)`.
    qkv: Vec<f32>,
    /// Attention output before its projection, `(tokens, hidden)`.
    context: Vec<f32>,
    /// Feed-forward activations of one block of rows, `(FFN_BLOCK_ROWS, intermediate)`.
    inner: Vec<f32>,
    /// A copy of the hidden states after an intermediate layer, `(tokens, hidden)`, when one is asked for.
    tapped: Vec<f32>,
    /// The int8 products' quantized input (one product's at a time), when the dense layers are int8.
    quantized: QuantizedStore,
    /// The bf16 products' input (one product's at a time), when the dense layers are bf16.
    bf16: Bf16Store,
}

/// What a forward pass returns: the last layer's hidden states and, when asked for, an earlier layer's, both
/// `(tokens, hidden)` with the texts' rows packed in order.
pub struct Hidden {
    pub last: Vec<f32>,
    /// The hidden states after the tapped layer (empty when none was asked for).
    pub tapped: Vec<f32>,
}

/// all-MiniLM-L6-v2's encoder for the CPU.
pub struct CpuBert {
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    token_type_row: Vec<f32>,
    embeddings_norm: Norm,
    layers: Vec<CpuLayer>,
    vocab: usize,
    max_positions: usize,
    hidden: usize,
    heads: usize,
    head_dim: usize,
    intermediate: usize,
    /// The threads of a pass, kept between passes (starting threads per pass cost several milliseconds on an
    /// idle VM); `None` for one thread, which runs on the caller.
    team: Option<rayon::ThreadPool>,
    workspace: Mutex<Workspace>,
    /// What the dense layers run in (f32 until [`Self::enable_int8`] or [`Self::enable_bf16`]).
    dense: DenseArithmetic,
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

fn shape_error(what: &str, expected: usize, got: usize) -> Error {
    Error::ModelUnavailable(format!(
        "{what} has {got} values, the config implies {expected}"
    ))
}

/// Converts one candle tensor, checking it holds exactly `expected` values: the raw-pointer products below
/// rely on every buffer having the size the config implies.
fn checked(t: &Tensor, expected: usize, what: &str) -> Result<Vec<f32>> {
    let v = to_vec(t)?;
    if v.len() != expected {
        return Err(shape_error(what, expected, v.len()));
    }
    Ok(v)
}

fn dense(l: &Linear, inputs: usize, outputs: usize, what: &str) -> Result<Dense> {
    let weight = checked(&l.weight_t, inputs * outputs, what)?;
    Ok(Dense {
        weight: PackedMatrix::pack(&weight, inputs, outputs)
            .ok_or_else(|| shape_error(what, inputs * outputs, weight.len()))?,
        quantized: None,
        bf16: None,
        bias: checked(&l.bias, outputs, what)?,
    })
}

fn norm(l: &LayerNorm, hidden: usize, what: &str) -> Result<Norm> {
    Ok(Norm {
        gamma: checked(&l.gamma, hidden, what)?,
        beta: checked(&l.beta, hidden, what)?,
        eps: l.eps,
    })
}

/// Everything one forward pass shares between the team's threads.
struct Pass<'a> {
    texts: &'a [&'a [u32]],
    /// (first row, rows) of each text in the packed buffers.
    spans: &'a [(usize, usize)],
    tokens: usize,
    x: SharedBuf,
    qkv: SharedBuf,
    context: SharedBuf,
    inner: SharedBuf,
    tapped: SharedBuf,
    /// The int8 products' quantized input, which the threads quantize a share of rows each.
    quantized: SharedStore,
    /// The bf16 products' input, which the threads convert a share of rows each.
    bf16: SharedBf16,
    /// Copy the hidden states into `tapped` after this many layers (0: never).
    tap_after: usize,
    barrier: SpinBarrier,
    /// Per layer, the next attention task (text × head) to claim.
    next_task: Vec<AtomicUsize>,
    /// Per layer and product (`PRODUCTS` a layer), what each input took, when calibrating.
    calibration: Option<&'a Mutex<Vec<InputStats>>>,
}

impl CpuBert {
    /// Loads the weights from a safetensors file, checking every tensor against the config; forward passes
    /// will run on `threads` threads, in f32 (see [`Self::enable_int8`]).
    pub fn load(weights_path: &Path, cfg: &Config, threads: usize) -> Result<Self> {
        let w = Weights::load(weights_path, &Device::Cpu)?;
        let (hidden, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let eps = cfg.layer_norm_eps;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let ln = |name: &str| -> Result<Norm> {
                    let full = format!("{p}.{name}");
                    norm(&w.layer_norm(&full, eps)?, hidden, &full)
                };
                Ok(CpuLayer {
                    qkv: dense(
                        &w.fused_qkv(&format!("{p}.attention.self"))?,
                        hidden,
                        3 * hidden,
                        "qkv",
                    )?,
                    attention_out: dense(
                        &w.linear(&format!("{p}.attention.output.dense"))?,
                        hidden,
                        hidden,
                        "attention output",
                    )?,
                    attention_norm: ln("attention.output.LayerNorm")?,
                    intermediate: dense(
                        &w.linear(&format!("{p}.intermediate.dense"))?,
                        hidden,
                        inter,
                        "intermediate",
                    )?,
                    output: dense(
                        &w.linear(&format!("{p}.output.dense"))?,
                        inter,
                        hidden,
                        "output",
                    )?,
                    output_norm: ln("output.LayerNorm")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let type_rows = w.get("embeddings.token_type_embeddings.weight")?;
        Ok(Self {
            word_embeddings: checked(
                &w.get("embeddings.word_embeddings.weight")?,
                cfg.vocab_size * hidden,
                "word embeddings",
            )?,
            position_embeddings: checked(
                &w.get("embeddings.position_embeddings.weight")?,
                cfg.max_position_embeddings * hidden,
                "position embeddings",
            )?,
            // token_type_ids are always 0 for this model: keep row 0 only.
            token_type_row: checked(&type_rows.get(0)?, hidden, "token type embeddings")?,
            embeddings_norm: norm(
                &w.layer_norm("embeddings.LayerNorm", eps)?,
                hidden,
                "embeddings LayerNorm",
            )?,
            layers,
            vocab: cfg.vocab_size,
            max_positions: cfg.max_position_embeddings,
            hidden,
            heads: cfg.num_attention_heads,
            head_dim: hidden / cfg.num_attention_heads,
            intermediate: inter,
            team: if threads > 1 {
                Some(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .thread_name(|i| format!("triage-encoder-{i}"))
                        .build()
                        .map_err(|e| {
                            Error::inference(format!("cannot start the encoder's threads: {e}"))
                        })?,
                )
            } else {
                None
            },
            workspace: Mutex::new(Workspace::default()),
            dense: DenseArithmetic::Fp32,
        })
    }

    /// Switches the dense layers to int8 on `kernel`: an f32 pass over `calibration` (token ids) records
    /// each product's largest input magnitudes, which set its smoothing factors, and their squares; with
    /// the register kernels the feed-forward units are put in order of loss
    /// ([`CpuLayer::put_lossy_units_first`]); then every weight is smoothed and quantized.
    pub fn enable_int8(&mut self, kernel: Int8Kernel, calibration: &[&[u32]]) -> Result<()> {
        let seen = Mutex::new(vec![InputStats::default(); self.layers.len() * PRODUCTS]);
        self.run_checked(calibration, 0, Some(&seen))?;
        let mut seen = seen.into_inner().unwrap_or_else(|p| p.into_inner());
        let h = self.hidden;
        // The register kernels' wide form (below) leaves room to give the intermediate product's second
        // weight digit to a quarter of its units only: those whose 8-bit weights lose the most.
        let register = matches!(kernel, Int8Kernel::Avx512Vnni | Int8Kernel::AvxVnni);
        if register {
            for (l, layer) in self.layers.iter_mut().enumerate() {
                let (ahead, behind) = seen.split_at_mut(l * PRODUCTS + 3);
                layer.put_lossy_units_first(&ahead[l * PRODUCTS + 2], &mut behind[0])?;
            }
        }
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let products = [
                &mut layer.qkv,
                &mut layer.attention_out,
                &mut layer.intermediate,
                &mut layer.output,
            ];
            for (which, d) in products.into_iter().enumerate() {
                let (k, n) = (d.weight.rows(), d.weight.columns());
                let raw = d.weight.unpack();
                let peaks = &seen[l * PRODUCTS + which].peaks;
                // Two products get 16-bit activations (two u8 digits, twice the int8 work): the output
                // product reads GELU's output, whose long positive tail leaves 8 bits per token too coarse,
                // and qkv reads the hidden states every later layer builds on. Their inputs need no
                // smoothing, which would only widen their weights' ranges; the other two are smoothed.
                // Measured on the 1k set and held-out prompts (docs/benchmarks.md): 8 bits everywhere moved
                // 0.5-0.8% of domains; this split keeps every decision within the targets.
                let digits = if which == 0 || which == 3 { 2 } else { 1 };
                // Some columns get a second weight digit (twice the int8 work on their weights): the two
                // feed-forward products', whose 8-bit weights carried 56% of int8's mean loss against
                // fp32, and qkv's values (V, the last third), which decide the most prompts: V passes
                // straight into the hidden state, where Q's and K's errors are softened by the softmax.
                // On the 1k set, with the feed-forward digits: 99.3% of providers kept with no digit on
                // qkv, 99.8% with it on V, 99.6% on all of qkv, 99.0% on Q and K (docs/benchmarks.md).
                // With the register kernels, the intermediate's units were put in order of loss, and the
                // first quarter gets the digit (`CpuLayer::put_lossy_units_first`).
                let fine = match which {
                    // qkv's columns are Q, K and V, h each.
                    0 => 2 * h..3 * h,
                    2 if register => 0..(n / FINE_SHARE).next_multiple_of(PANEL).min(n),
                    2 | 3 => 0..n,
                    _ => 0..0,
                };
                let smooth = if peaks.len() == k && digits == 1 {
                    quantized::smoothing(peaks, &raw, n)
                } else {
                    vec![1.0; k]
                };
                // The register kernels multiply 16-bit integers too (`vpdpwssd`): there the two
                // products with 16-bit activations take the wide form, 13-bit activations and 12-bit
                // weights (`QuantizedMatrix::quantize_wide`): two passes' worth of work where the digits
                // take two (qkv's Q and K), or three (V, and the output product with its fine weight
                // digit). AMX has no 16-bit integer product and keeps the digits. Faster on both register
                // kernels, and the decisions are kept as often or more (docs/benchmarks.md).
                let wide = digits == 2 && register;
                let quantized = if wide {
                    QuantizedMatrix::quantize_wide(&raw, k, n)
                } else {
                    QuantizedMatrix::quantize(&raw, k, n, &smooth, digits, fine)
                };
                d.quantized = Some(quantized.ok_or_else(|| {
                    Error::inference("cannot quantize a dense layer: its shape is off")
                })?);
            }
        }
        self.dense = DenseArithmetic::Int8(kernel);
        Ok(())
    }

    /// Switches the dense layers to bf16 on `kernel`: every weight rounded to bf16 (no calibration: bf16
    /// keeps 8 bits of each value whatever its size). An error where this CPU does not run `kernel`.
    pub fn enable_bf16(&mut self, kernel: Bf16Kernel) -> Result<()> {
        if !kernel.runs_here() {
            return Err(Error::inference(format!(
                "bf16 kernel {} does not run on this CPU (or its operating system)",
                kernel.name()
            )));
        }
        for layer in &mut self.layers {
            for d in [
                &mut layer.qkv,
                &mut layer.attention_out,
                &mut layer.intermediate,
                &mut layer.output,
            ] {
                let (k, n) = (d.weight.rows(), d.weight.columns());
                d.bf16 = Some(Bf16Matrix::pack(&d.weight.unpack(), k, n).ok_or_else(|| {
                    Error::inference("cannot round a dense layer to bf16: its shape is off")
                })?);
            }
        }
        self.dense = DenseArithmetic::Bf16(kernel);
        Ok(())
    }

    /// What the dense layers run in.
    pub fn arithmetic(&self) -> DenseArithmetic {
        self.dense
    }

    /// Last hidden states of `texts` (each a sequence of token ids, `[CLS]` … `[SEP]`), packed: the rows of
    /// text 0, then those of text 1, and so on; `(Σ lengths, hidden)`, row-major.
    ///
    /// Runs on the encoder's own team of `threads` threads (a rayon pool nothing else uses), each taking its
    /// share of every step, in the encoder's reused workspace; the caller waits. A call made while another is
    /// running does not wait: it runs alone on its own thread in a fresh workspace. So only one pass is ever
    /// on the team (two passes spinning at different barriers would wait on each other forever), no foreign
    /// work can hold up a barrier, and the team's threads never run anything that calls back in.
    pub fn forward(&self, texts: &[&[u32]]) -> Result<Vec<f32>> {
        Ok(self.forward_tapped(texts, 0)?.last)
    }

    /// [`Self::forward`], also keeping a copy of the hidden states after the first `tap_after` layers
    /// (0: none; the copy is made while the next layer only reads them, so it costs no extra barrier).
    pub fn forward_tapped(&self, texts: &[&[u32]], tap_after: usize) -> Result<Hidden> {
        self.run_checked(texts, tap_after, None)
    }

    /// [`Self::forward_tapped`], recording what each product's inputs took into `calibration` when given.
    fn run_checked(
        &self,
        texts: &[&[u32]],
        tap_after: usize,
        calibration: Option<&Mutex<Vec<InputStats>>>,
    ) -> Result<Hidden> {
        if tap_after > self.layers.len() {
            return Err(Error::inference(format!(
                "cannot tap layer {tap_after} of a {}-layer model",
                self.layers.len()
            )));
        }
        let mut spans = Vec::with_capacity(texts.len());
        let mut tokens = 0;
        for ids in texts {
            if ids.is_empty() || ids.len() > self.max_positions {
                return Err(Error::inference(format!(
                    "a text has {} tokens; the model takes 1 to {}",
                    ids.len(),
                    self.max_positions
                )));
            }
            if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(Error::inference(format!(
                    "token id {bad} is outside the vocabulary"
                )));
            }
            spans.push((tokens, ids.len()));
            tokens += ids.len();
        }
        let mut shared = match self.workspace.try_lock() {
            Ok(guard) => Some(guard),
            // The workspace is scratch space: whatever a failed pass left in it is overwritten.
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        let mut own = Workspace::default();
        let (ws, team) = match shared.as_deref_mut() {
            Some(ws) => (ws, self.team.as_ref()),
            None => (&mut own, None),
        };
        if !self.run_team(ws, texts, &spans, tap_after, team, calibration) {
            return Err(Error::inference("the forward pass failed"));
        }
        let rows = tokens * self.hidden;
        Ok(Hidden {
            last: ws.x[..rows].to_vec(),
            tapped: if tap_after > 0 {
                ws.tapped[..rows].to_vec()
            } else {
                Vec::new()
            },
        })
    }

    /// One forward pass on `team`, or on the calling thread alone; false if it could not complete.
    fn run_team(
        &self,
        ws: &mut Workspace,
        texts: &[&[u32]],
        spans: &[(usize, usize)],
        tap_after: usize,
        team: Option<&rayon::ThreadPool>,
        calibration: Option<&Mutex<Vec<InputStats>>>,
    ) -> bool {
        // The spans are consecutive: the last one ends at the token count.
        let tokens = spans.last().map_or(0, |&(start, len)| start + len);
        let threads = team.map_or(1, rayon::ThreadPool::current_num_threads);
        let h = self.hidden;
        grow(&mut ws.x, tokens * h);
        grow(&mut ws.qkv, tokens * 3 * h);
        grow(&mut ws.context, tokens * h);
        grow(
            &mut ws.inner,
            tokens.min(FFN_BLOCK_ROWS) * self.intermediate,
        );
        if tap_after > 0 {
            grow(&mut ws.tapped, tokens * h);
        }
        match self.dense {
            DenseArithmetic::Int8(_) => ws.quantized.reserve(tokens, self.intermediate.max(h)),
            DenseArithmetic::Bf16(_) => ws.bf16.reserve(tokens, self.intermediate.max(h)),
            DenseArithmetic::Fp32 => {}
        }
        let pass = Pass {
            texts,
            spans,
            tokens,
            x: SharedBuf::new(&mut ws.x),
            qkv: SharedBuf::new(&mut ws.qkv),
            context: SharedBuf::new(&mut ws.context),
            inner: SharedBuf::new(&mut ws.inner),
            tapped: SharedBuf::new(&mut ws.tapped),
            quantized: ws.quantized.shared(),
            bf16: ws.bf16.shared(),
            tap_after,
            barrier: SpinBarrier::new(threads),
            next_task: self.layers.iter().map(|_| AtomicUsize::new(0)).collect(),
            calibration,
        };
        let failed = AtomicBool::new(false);
        let run = |t: usize| {
            let step = AssertUnwindSafe(|| self.run_thread(&pass, t, threads));
            if std::panic::catch_unwind(step).is_err() {
                failed.store(true, Ordering::Relaxed);
                // Release the others from every barrier still ahead, so the pass ends.
                pass.barrier.poison();
            }
        };
        match team {
            Some(team) => {
                team.broadcast(|ctx| run(ctx.index()));
            }
            None => run(0),
        }
        !failed.load(Ordering::Relaxed)
    }

    /// Thread `t` of `threads`' part of a forward pass: the same steps on every thread, each on its share,
    /// with a barrier wherever a step reads what other threads wrote in the one before.
    fn run_thread(&self, pass: &Pass, t: usize, threads: usize) {
        let (h, inter) = (self.hidden, self.intermediate);
        let tokens = pass.tokens;
        let my_rows = share(tokens, threads, t, 1);
        // SAFETY (for every `part`/`part_mut` below): rows are shared out by `my_rows`, columns by `share`,
        // attention blocks by the `next_task` counter, so no two threads write the same values between two
        // barriers, and nothing written in a step is read by another thread before the barrier that ends it.

        // Embeddings: LayerNorm(word + position + token type), one row at a time.
        let positions = pass.texts.iter().flat_map(|ids| ids.iter().enumerate());
        let mine = positions
            .enumerate()
            .skip(my_rows.start)
            .take(my_rows.len());
        for (row, (pos, &id)) in mine {
            // SAFETY: row `row` is in this thread's `my_rows`; no other thread touches it in this step.
            let out = unsafe { pass.x.part_mut(row * h, h) };
            let word = &self.word_embeddings[id as usize * h..][..h];
            let position = &self.position_embeddings[pos * h..][..h];
            for ((v, &a), &b) in out.iter_mut().zip(word).zip(position) {
                *v = a + b;
            }
            let n = &self.embeddings_norm;
            kernels::bias_layer_norm_in_place(out, &self.token_type_row, &n.gamma, &n.beta, n.eps);
        }
        pass.barrier.wait();

        // Copies this thread's rows of `x` into `tapped`.
        let copy_tapped = || {
            // SAFETY: `tapped` holds `tokens * h` values whenever `tap_after > 0` (`run_team` grew it), this
            // thread alone writes its rows `my_rows` of it, and it is called only where no thread writes
            // `x` before the next barrier.
            let (from, to) = unsafe {
                (
                    pass.x.part(my_rows.start * h, my_rows.len() * h),
                    pass.tapped.part_mut(my_rows.start * h, my_rows.len() * h),
                )
            };
            to.copy_from_slice(from);
        };
        let mut scratch = AttentionScratch::default();
        let smoothed_row = &mut Vec::new();
        for (done, (l, next_task)) in self.layers.iter().zip(&pass.next_task).enumerate() {
            if done > 0 && done == pass.tap_after {
                // Between the barrier that ended the last layer and the one after the next product, every
                // thread only reads `x`, so each copies its own rows.
                copy_tapped();
            }
            // qkv = x · Wqkv + b, each thread its panels of columns.
            let plain = Epilogue {
                accumulate: false,
                bias: None,
                gelu: false,
            };
            let mut dense = |d: &Dense,
                             out: *mut f32,
                             out_w: usize,
                             x: *const f32,
                             x_w: usize,
                             m,
                             e,
                             which: usize| {
                // In int8, panels with a second weight digit take a pass more (qkv's V): split by
                // passes there, or one thread waits for the other.
                let panels = match (&d.quantized, self.dense) {
                    (Some(q), DenseArithmetic::Int8(_)) => {
                        share_by_cost(q.panel_count(), threads, t, |p| q.panel_passes(p))
                    }
                    _ => share(d.weight.panel_count(), threads, t, 1),
                };
                let ops = Operands {
                    out,
                    out_stride: out_w,
                    x,
                    x_stride: x_w,
                    m,
                };
                if let (Some(calibration), 0) = (pass.calibration, t) {
                    // SAFETY: as below: m rows of x_w values, only read during this step.
                    let rows =
                        unsafe { std::slice::from_raw_parts(x, m.saturating_sub(1) * x_w + x_w) };
                    record_inputs(calibration, done * PRODUCTS + which, rows, x_w);
                }
                match (&d.quantized, &d.bf16, self.dense) {
                    #[cfg(target_arch = "x86_64")]
                    (_, Some(b), DenseArithmetic::Bf16(kernel)) => {
                        // As the int8 branch below: each thread converts a share of the rows.
                        // SAFETY: as the int8 branch; `kernel` was checked on this CPU at load.
                        unsafe {
                            pass.bf16.convert_rows(b, &ops, share(m, threads, t, 1));
                            pass.barrier.wait();
                            let input = pass.bf16.input(b, m);
                            b.matmul(&input, out, out_w, panels, e, kernel);
                        }
                    }
                    (Some(q), _, DenseArithmetic::Int8(kernel)) => {
                        // Each thread quantizes its share of the input's rows; after the barrier every
                        // thread reads them all (its panels need every row).
                        // SAFETY: as below; the rows `share` gives this thread are its alone until the
                        // barrier, after which nothing writes the store before the barrier that ends
                        // this product; `kernel` was detected on this CPU at load.
                        unsafe {
                            pass.quantized.quantize_rows(
                                q,
                                &ops,
                                share(m, threads, t, 1),
                                smoothed_row,
                            );
                            pass.barrier.wait();
                            let input = pass.quantized.input(q, m);
                            q.matmul(&input, out, out_w, panels, e, kernel);
                        }
                    }
                    // SAFETY: `out` and `x` point at m rows of out_w and x_w values inside the
                    // workspace, the matrix is (x_w, out_w) by construction, and this thread alone
                    // writes its panels' columns.
                    _ => unsafe { d.weight.matmul(ops, panels, e) },
                }
            };
            dense(
                &l.qkv,
                pass.qkv.ptr,
                3 * h,
                pass.x.ptr,
                h,
                tokens,
                Epilogue {
                    bias: Some(&l.qkv.bias),
                    ..plain
                },
                0,
            );
            pass.barrier.wait();

            self.attention(pass, next_task, &mut scratch);
            pass.barrier.wait();

            // x = LayerNorm(x + context · Wo + bo)
            let residual = Epilogue {
                accumulate: true,
                ..plain
            };
            dense(
                &l.attention_out,
                pass.x.ptr,
                h,
                pass.context.ptr,
                h,
                tokens,
                residual,
                1,
            );
            pass.barrier.wait();
            let n = &l.attention_norm;
            // SAFETY: this thread's rows (`my_rows`), after the barrier that ended the product writing them.
            let rows = unsafe { pass.x.part_mut(my_rows.start * h, my_rows.len() * h) };
            kernels::bias_layer_norm_in_place(
                rows,
                &l.attention_out.bias,
                &n.gamma,
                &n.beta,
                n.eps,
            );
            pass.barrier.wait();

            // x = LayerNorm(x + GELU(x · Wi + bi) · Wf + bf), a block of rows at a time.
            let n = &l.output_norm;
            for first in (0..tokens).step_by(FFN_BLOCK_ROWS) {
                let rows = FFN_BLOCK_ROWS.min(tokens - first);
                let x_block = pass.x.ptr_at(first * h, rows * h);
                dense(
                    &l.intermediate,
                    pass.inner.ptr,
                    inter,
                    x_block,
                    h,
                    rows,
                    Epilogue {
                        bias: Some(&l.intermediate.bias),
                        gelu: true,
                        ..plain
                    },
                    2,
                );
                pass.barrier.wait();
                dense(
                    &l.output,
                    x_block,
                    h,
                    pass.inner.ptr,
                    inter,
                    rows,
                    residual,
                    3,
                );
                pass.barrier.wait();
                let mine = share(rows, threads, t, 1);
                // SAFETY: this thread's share `mine` of the block's rows, after the barrier ending the
                // product that wrote them; no other thread touches them before the next barrier.
                let part = unsafe { pass.x.part_mut((first + mine.start) * h, mine.len() * h) };
                kernels::bias_layer_norm_in_place(part, &l.output.bias, &n.gamma, &n.beta, n.eps);
            }
            pass.barrier.wait();
        }
        if pass.tap_after > 0 && pass.tap_after == self.layers.len() {
            // After the last barrier nothing writes `x` any more.
            copy_tapped();
        }
    }

    /// This thread's share of the layer's attention: it claims (text, head) blocks from `next_task` until none
    /// is left and writes `context[text rows, head cols] = softmax(q kᵀ / √d) v` for each.
    fn attention(&self, pass: &Pass, next_task: &AtomicUsize, scratch: &mut AttentionScratch) {
        let (h, d) = (self.hidden, self.head_dim);
        let stride = 3 * h;
        let total = pass.spans.len() * self.heads;
        let fast = kernels::has_avx512() && d == HEAD_DIM_AVX512;
        loop {
            let task = next_task.fetch_add(1, Ordering::Relaxed);
            if task >= total {
                break;
            }
            let (start, len) = pass.spans[task / self.heads];
            let head = task % self.heads;
            // SAFETY: rows start..start+len of qkv exist (spans partition 0..tokens) and nobody writes qkv
            // during attention; the output block (rows start..start+len, columns head·d..(head+1)·d of the
            // (tokens, h) context buffer) is this task's alone.
            // SAFETY: see above: qkv is only read during attention.
            let rows = unsafe { pass.qkv.part(start * stride, len * stride) };
            let out = pass
                .context
                .ptr_at(start * h + head * d, len.saturating_sub(1) * h + d);
            #[cfg(target_arch = "x86_64")]
            if fast {
                // SAFETY: AVX-512 checked above; `rows` and `out` as just said.
                unsafe { self.head_attention_avx512(rows, len, head, out, scratch) };
                continue;
            }
            let _ = fast;
            // SAFETY: as above.
            unsafe { self.head_attention_gemm(rows, len, head, out, &mut scratch.scores) };
        }
    }

    /// One head of one text with the panel kernel: Kᵀ packed into panels of 64 keys, scores = Q Kᵀ, masked
    /// scaled softmax, then scores · V. `rows` are the text's `len` rows of the qkv buffer; `out` points at
    /// the head's first output value, rows `hidden` apart.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and FMA; `out` must address `len` rows of `head_dim` values, `hidden`
    /// apart, that no other thread accesses meanwhile.
    #[cfg(target_arch = "x86_64")]
    unsafe fn head_attention_avx512(
        &self,
        rows: &[f32],
        len: usize,
        head: usize,
        out: *mut f32,
        s: &mut AttentionScratch,
    ) {
        let (h, d) = (self.hidden, self.head_dim);
        let stride = 3 * h;
        let (q, k, v) = (head * d, h + head * d, 2 * h + head * d);
        let panels = len.div_ceil(PANEL);
        let width = panels * PANEL;
        // kt[p][i][j]: component i of key 64·p + j; zero past the last key.
        s.kt.clear();
        s.kt.resize(panels * d * PANEL, 0.0);
        for j in 0..len {
            let base = (j / PANEL) * d * PANEL + j % PANEL;
            for (i, &value) in rows[j * stride + k..][..d].iter().enumerate() {
                s.kt[base + i * PANEL] = value;
            }
        }
        s.scores.clear();
        s.scores.resize(len * width, 0.0);
        s.values.clear();
        for j in 0..len {
            s.values.extend_from_slice(&rows[j * stride + v..][..d]);
        }
        let scale = 1.0 / (d as f32).sqrt();
        // SAFETY: q rows are `len` rows of d values at stride 3h inside `rows`; each kt panel holds d × 64
        // values; scores holds len rows of `width` values, of which panel p fills columns 64p..64p+64. Then
        // the first `len` columns of each scores row times `values` (len × 32, contiguous) go to `out`.
        unsafe {
            for p in 0..panels {
                packed::rows_times_panel::<4>(
                    rows.as_ptr().add(q),
                    stride,
                    len,
                    &s.kt[p * d * PANEL..][..d * PANEL],
                    d,
                    s.scores.as_mut_ptr().add(p * PANEL),
                    width,
                );
            }
            kernels::softmax_dispatch(&mut s.scores, width, len, scale);
            packed::rows_times_panel::<{ HEAD_DIM_AVX512 / 16 }>(
                s.scores.as_ptr(),
                width,
                len,
                &s.values,
                len,
                out,
                h,
            );
        }
    }

    /// One head of one text with `gemm` (CPUs without AVX-512, or another head size).
    ///
    /// # Safety
    /// As `head_attention_avx512`, without the CPU requirement.
    unsafe fn head_attention_gemm(
        &self,
        rows: &[f32],
        len: usize,
        head: usize,
        out: *mut f32,
        scores: &mut Vec<f32>,
    ) {
        let (h, d) = (self.hidden, self.head_dim);
        let stride = 3 * h;
        let scale = 1.0 / (d as f32).sqrt();
        scores.clear();
        scores.resize(len * len, 0.0);
        let (q, k, v) = (head * d, h + head * d, 2 * h + head * d);
        debug_assert!(v + (len - 1) * stride + d <= rows.len());
        // SAFETY: q, k and v of this head, read with row stride 3h over `len` rows and `d` columns, stay
        // inside `rows`; `scores` holds len × len values; `out` as the caller guarantees.
        unsafe {
            gemm(
                len,
                len,
                d,
                scores.as_mut_ptr(),
                1,
                len as isize,
                false,
                rows.as_ptr().add(q),
                1,
                stride as isize,
                // kᵀ: element (i, j) is key j's component i.
                rows.as_ptr().add(k),
                stride as isize,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                Parallelism::None,
            );
            kernels::softmax_rows_in_place(scores, len);
            gemm(
                len,
                d,
                len,
                out,
                1,
                h as isize,
                false,
                scores.as_ptr(),
                1,
                len as isize,
                rows.as_ptr().add(v),
                1,
                stride as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }
}

/// Per-thread buffers of the attention step, reused across its tasks.
#[derive(Default)]
struct AttentionScratch {
    /// Kᵀ in panels of 64 keys.
    kt: Vec<f32>,
    /// Scores, then probabilities: `len` rows, padded to whole panels.
    scores: Vec<f32>,
    /// V of the head, `len × head_dim`, contiguous.
    values: Vec<f32>,
}

/// Dense products per layer: qkv, attention output, intermediate, output.
const PRODUCTS: usize = 4;

/// Folds each of `width` inputs' largest magnitude and sum of squares over `rows` into entry `at` of
/// `stats`.
fn record_inputs(stats: &Mutex<Vec<InputStats>>, at: usize, rows: &[f32], width: usize) {
    let mut all = stats.lock().unwrap_or_else(|p| p.into_inner());
    let Some(entry) = all.get_mut(at) else {
        return;
    };
    if entry.peaks.len() != width {
        *entry = InputStats {
            peaks: vec![0.0; width],
            squares: vec![0.0; width],
        };
    }
    for row in rows.chunks(width) {
        for ((p, s), v) in entry.peaks.iter_mut().zip(&mut entry.squares).zip(row) {
            *p = p.max(v.abs());
            *s += f64::from(v * v);
        }
    }
}

/// What the calibration pass saw of one product's inputs.
#[derive(Clone, Default)]
struct InputStats {
    /// Each input's largest magnitude.
    peaks: Vec<f32>,
    /// Each input's sum of squares.
    squares: Vec<f64>,
}

impl InputStats {
    /// The inputs reordered: input `i` is the old input `order[i]`.
    fn reorder(&mut self, order: &[usize]) {
        if self.peaks.len() == order.len() {
            self.peaks = order.iter().map(|&i| self.peaks[i]).collect();
            self.squares = order.iter().map(|&i| self.squares[i]).collect();
        }
    }
}

/// The register kernels give the intermediate product's second weight digit to one unit in this many.
const FINE_SHARE: usize = 4;

impl CpuLayer {
    /// Reorders the feed-forward block's units (the intermediate product's columns and bias, and the
    /// output product's rows; the block computes the same function in any order, up to f32 summation
    /// order) so that those whose 8-bit intermediate weights cost the output most come first: for unit
    /// `c`, the expected squared error its weights' rounding puts into its input to GELU on calibration
    /// text ([`quantized::rounding_loss`]), times the squared norm of its row of the output product (where
    /// that error goes). `seen` is what calibration saw of the intermediate's inputs, `output` of the
    /// output product's, reordered with the units.
    fn put_lossy_units_first(&mut self, seen: &InputStats, output: &mut InputStats) -> Result<()> {
        let (k, n) = (
            self.intermediate.weight.rows(),
            self.intermediate.weight.columns(),
        );
        let h = self.output.weight.columns();
        let inner = self.intermediate.weight.unpack();
        let out = self.output.weight.unpack();
        let smooth = if seen.peaks.len() == k {
            quantized::smoothing(&seen.peaks, &inner, n)
        } else {
            vec![1.0; k]
        };
        let loss = quantized::rounding_loss(&inner, k, n, &smooth, &seen.squares);
        let reach: Vec<f64> = out
            .chunks_exact(h)
            .map(|row| row.iter().map(|v| f64::from(v * v)).sum())
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        // Most loss first; ties by index, so the order is the same on every run.
        order.sort_by(|&a, &b| {
            (loss[b] * reach[b])
                .total_cmp(&(loss[a] * reach[a]))
                .then(a.cmp(&b))
        });
        let inner: Vec<f32> = inner
            .chunks_exact(n)
            .flat_map(|row| order.iter().map(|&c| row[c]))
            .collect();
        let out: Vec<f32> = order
            .iter()
            .flat_map(|&c| out[c * h..][..h].iter().copied())
            .collect();
        let bias: Vec<f32> = order.iter().map(|&c| self.intermediate.bias[c]).collect();
        let repack = |w: &[f32], k, n| {
            PackedMatrix::pack(w, k, n)
                .ok_or_else(|| Error::inference("cannot reorder the feed-forward units"))
        };
        self.intermediate.weight = repack(&inner, k, n)?;
        self.output.weight = repack(&out, n, h)?;
        self.intermediate.bias = bias;
        output.reorder(&order);
        Ok(())
    }
}

/// Grows `buf` to at least `len` values (never shrinks, so a long batch's buffers are reused afterwards).
fn grow(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}

#[cfg(test)]
mod tests;
