//! The CPU engine: BERT's forward pass on plain f32 buffers — the batch's tokens packed without padding,
//! every product on `gemm` (the matmul kernel candle itself uses on CPU) into buffers reused between calls,
//! bias, GELU, residual and LayerNorm fused into single passes, attention per (text, head) on the rayon pool.
//!
//! Same arithmetic as `bert::BertEncoder`, which stays the engine for CUDA (and for A/B runs with
//! `TRIAGE_ENGINE=candle`): results differ only by f32 summation order. What changes is where the numbers live
//! and how often they are touched: candle allocates a fresh tensor for every op, pads every text of a batch
//! to the longest one, and runs its element-wise ops on one thread.

use super::bert::{Config, LayerNorm, Linear, Weights};
use super::kernels;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Mutex;

/// Rows per task of the row-wise kernels: enough work to pay for handing a task to another thread.
const ROWS_PER_TASK: usize = 32;
/// Rows of the feed-forward block computed at a time: bounds its (rows × intermediate) buffer, which then stays
/// in cache between the two products.
const FFN_BLOCK_ROWS: usize = 512;

/// A dense layer: `weight` is `(inputs, outputs)`, row-major.
struct Dense {
    weight: Vec<f32>,
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
    workspace: Mutex<Workspace>,
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
    Ok(Dense {
        weight: checked(&l.weight_t, inputs * outputs, what)?,
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

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)`; all row-major and contiguous.
fn matmul(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) -> Result<()> {
    if dst.len() != m * n || lhs.len() != m * k || rhs.len() != k * n {
        return Err(Error::Inference(format!(
            "matmul shapes: dst {} lhs {} rhs {} for {m}x{k}x{n}",
            dst.len(),
            lhs.len(),
            rhs.len()
        )));
    }
    if m == 0 {
        return Ok(());
    }
    // SAFETY: the three buffers hold exactly m×n, m×k and k×n values (checked above), laid out row-major with
    // the strides given, so every element gemm touches is in bounds; `dst` is borrowed mutably, so it does
    // not alias the inputs.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            // 0 = all of rayon's threads (the pool is sized from --threads at startup).
            Parallelism::Rayon(0),
        );
    }
    Ok(())
}

/// Runs `f` on blocks of `ROWS_PER_TASK` rows of `data` (rows `width` wide), on the rayon pool when there is
/// more than one block.
fn for_row_blocks(data: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Send + Sync) {
    let block = width * ROWS_PER_TASK;
    if data.len() <= block {
        f(data);
    } else {
        data.par_chunks_mut(block).for_each(f);
    }
}

/// A pointer to the attention output that tasks on several threads write through, each to its own
/// (rows of one text) × (columns of one head) block.
#[derive(Clone, Copy)]
struct ContextPtr(*mut f32);
// SAFETY: see `attention`: the blocks written through it are disjoint and the buffer outlives the tasks.
unsafe impl Send for ContextPtr {}
unsafe impl Sync for ContextPtr {}

impl ContextPtr {
    /// The element `offset` values in. (A method, so closures capture the whole `Send` wrapper.)
    ///
    /// # Safety
    /// `offset` must lie inside the buffer the pointer came from.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: guaranteed by the caller.
        unsafe { self.0.add(offset) }
    }
}

impl CpuBert {
    /// Loads the weights from a safetensors file, checking every tensor against the config.
    pub fn load(weights_path: &Path, cfg: &Config) -> Result<Self> {
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
            workspace: Mutex::new(Workspace::default()),
        })
    }

    /// Last hidden states of `texts` (each a sequence of token ids, `[CLS]` … `[SEP]`), packed: the rows of
    /// text 0, then those of text 1, and so on; `(Σ lengths, hidden)`, row-major.
    pub fn forward(&self, texts: &[&[u32]]) -> Result<Vec<f32>> {
        let mut spans = Vec::with_capacity(texts.len());
        let mut tokens = 0;
        for ids in texts {
            if ids.is_empty() || ids.len() > self.max_positions {
                return Err(Error::Inference(format!(
                    "a text has {} tokens; the model takes 1 to {}",
                    ids.len(),
                    self.max_positions
                )));
            }
            if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(Error::Inference(format!(
                    "token id {bad} is outside the vocabulary"
                )));
            }
            spans.push((tokens, ids.len()));
            tokens += ids.len();
        }
        let mut guard = self
            .workspace
            .lock()
            .map_err(|_| Error::Inference("a previous forward pass panicked".into()))?;
        let ws = &mut *guard;
        // Run on a pool thread, so that the parallel ops below start from inside the pool instead of each
        // waking it from outside.
        rayon::scope(|_| self.forward_in(ws, texts, &spans, tokens))?;
        Ok(ws.x[..tokens * self.hidden].to_vec())
    }

    fn forward_in(
        &self,
        ws: &mut Workspace,
        texts: &[&[u32]],
        spans: &[(usize, usize)],
        tokens: usize,
    ) -> Result<()> {
        let h = self.hidden;
        grow(&mut ws.x, tokens * h);
        grow(&mut ws.qkv, tokens * 3 * h);
        grow(&mut ws.context, tokens * h);
        grow(&mut ws.inner, tokens.min(FFN_BLOCK_ROWS) * self.intermediate);

        // Embeddings: word + position (+ token type, added as the LayerNorm's bias).
        let x = &mut ws.x[..tokens * h];
        let positions: Vec<(u32, usize)> = texts
            .iter()
            .flat_map(|ids| ids.iter().enumerate().map(|(p, &id)| (id, p)))
            .collect();
        x.par_chunks_mut(h)
            .zip(positions.par_iter())
            .for_each(|(row, &(id, pos))| {
                let word = &self.word_embeddings[id as usize * h..][..h];
                let position = &self.position_embeddings[pos * h..][..h];
                for ((v, &a), &b) in row.iter_mut().zip(word).zip(position) {
                    *v = a + b;
                }
            });
        let n = &self.embeddings_norm;
        for_row_blocks(x, h, |rows| {
            kernels::bias_layer_norm_in_place(rows, &self.token_type_row, &n.gamma, &n.beta, n.eps)
        });

        for layer in &self.layers {
            self.layer(layer, ws, spans, tokens)?;
        }
        Ok(())
    }

    fn layer(
        &self,
        l: &CpuLayer,
        ws: &mut Workspace,
        spans: &[(usize, usize)],
        tokens: usize,
    ) -> Result<()> {
        let (h, inter) = (self.hidden, self.intermediate);
        let x = &mut ws.x[..tokens * h];
        let qkv = &mut ws.qkv[..tokens * 3 * h];
        let context = &mut ws.context[..tokens * h];

        // qkv = x · Wqkv + b: the bias is written first and the product added onto it.
        for_row_blocks(qkv, 3 * h, |rows| {
            for row in rows.chunks_exact_mut(3 * h) {
                row.copy_from_slice(&l.qkv.bias);
            }
        });
        matmul(qkv, x, &l.qkv.weight, (tokens, h, 3 * h), true)?;
        self.attention(qkv, context, spans);

        // x = LayerNorm(x + context · Wo + bo)
        matmul(x, context, &l.attention_out.weight, (tokens, h, h), true)?;
        let n = &l.attention_norm;
        let bias = &l.attention_out.bias;
        for_row_blocks(x, h, |rows| {
            kernels::bias_layer_norm_in_place(rows, bias, &n.gamma, &n.beta, n.eps)
        });

        // x = LayerNorm(x + GELU(x · Wi + bi) · Wf + bf), a block of rows at a time.
        let n = &l.output_norm;
        for block in x.chunks_mut(FFN_BLOCK_ROWS * h) {
            let rows = block.len() / h;
            let inner = &mut ws.inner[..rows * inter];
            matmul(inner, block, &l.intermediate.weight, (rows, h, inter), false)?;
            for_row_blocks(inner, inter, |r| {
                kernels::bias_gelu_in_place(r, &l.intermediate.bias)
            });
            matmul(block, inner, &l.output.weight, (rows, inter, h), true)?;
            for_row_blocks(block, h, |r| {
                kernels::bias_layer_norm_in_place(r, &l.output.bias, &n.gamma, &n.beta, n.eps)
            });
        }
        Ok(())
    }

    /// Scaled dot-product attention of every head of every text, each text attending only to itself:
    /// `context[text rows, head cols] = softmax(q kᵀ / √d) v`.
    fn attention(&self, qkv: &[f32], context: &mut [f32], spans: &[(usize, usize)]) {
        let (h, d) = (self.hidden, self.head_dim);
        let stride = 3 * h;
        let scale = 1.0 / (d as f32).sqrt();
        let out = ContextPtr(context.as_mut_ptr());
        let tasks: Vec<(usize, usize, usize)> = spans
            .iter()
            .flat_map(|&(start, len)| (0..self.heads).map(move |head| (start, len, head)))
            .collect();
        tasks
            .par_iter()
            .for_each_init(Vec::new, |scores: &mut Vec<f32>, &(start, len, head)| {
                scores.clear();
                scores.resize(len * len, 0.0);
                let q = start * stride + head * d;
                let (k, v) = (q + h, q + 2 * h);
                // SAFETY: rows start..start+len of qkv exist (spans partition 0..tokens and qkv holds
                // tokens × 3h values), so q, k and v of this head, read with row stride 3h over `len` rows and
                // `d` columns, stay inside `qkv`; `scores` holds len × len values. The product written
                // through `out` covers rows start..start+len and columns head·d..(head+1)·d of the
                // (tokens, h) context buffer, which no other task writes, and `context` outlives this
                // parallel loop.
                unsafe {
                    gemm(
                        len,
                        len,
                        d,
                        scores.as_mut_ptr(),
                        1,
                        len as isize,
                        false,
                        qkv.as_ptr().add(q),
                        1,
                        stride as isize,
                        // kᵀ: element (i, j) is key j's component i.
                        qkv.as_ptr().add(k),
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
                        out.at(start * h + head * d),
                        1,
                        h as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        len as isize,
                        qkv.as_ptr().add(v),
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
            });
    }
}

/// Grows `buf` to at least `len` values (never shrinks, so a long batch's buffers are reused afterwards).
fn grow(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}
