//! BERT encoder for all-MiniLM-L6-v2 on candle tensors, adapted from candle-transformers' `bert.rs`: the
//! engine for CUDA and for `--engine candle` on the CPU (the CPU default is `cpu_bert`, which loads its
//! weights through [`Weights`] here). Also the weight reader both engines share.
//!
//! Differences from the upstream model (the same function up to f32 rounding; `kernels`' erf is a
//! rational approximation accurate to f32):
//! - linear weights are transposed once at load into contiguous `(in, out)` matrices, so each matmul reads
//!   its right-hand side row-major instead of through a transposed view;
//! - query, key and value projections are fused into one `(hidden, 3 * hidden)` matmul;
//! - linear layers run on the `(tokens, hidden)` matrix of the whole batch, only attention sees the batch
//!   shape (padded to the batch's longest text, pad positions masked).

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// The fields of config.json that the encoder needs; unknown fields are ignored.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
}

impl Config {
    /// Reads and validates config.json.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        let cfg: Config = serde_json::from_str(&text)
            .map_err(|e| Error::ModelUnavailable(format!("invalid {}: {e}", path.display())))?;
        if cfg.hidden_act != "gelu" {
            return Err(Error::ModelUnavailable(format!(
                "unsupported hidden_act {:?} (only erf GELU is implemented)",
                cfg.hidden_act
            )));
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(Error::ModelUnavailable(
                "hidden_size is not a multiple of num_attention_heads".into(),
            ));
        }
        Ok(cfg)
    }
}

/// A dense layer with its weight stored transposed, `(in, out)`, contiguous.
pub(super) struct Linear {
    pub(super) weight_t: Tensor,
    pub(super) bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight_t)?.broadcast_add(&self.bias)?)
    }
}

pub(super) struct LayerNorm {
    pub(super) gamma: Tensor,
    pub(super) beta: Tensor,
    pub(super) eps: f32,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm(
            x,
            &self.gamma,
            &self.beta,
            self.eps,
        )?)
    }
}

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The encoder: embeddings plus `num_hidden_layers` transformer layers.
pub struct BertEncoder {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_row: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    max_positions: usize,
    device: Device,
    /// Whether the CPU uses the fused GELU/softmax kernels (else candle's own ops; for A/B benchmarks).
    fused_kernels: bool,
}

/// Tensors by name, with a clear error for a missing one.
pub(super) struct Weights {
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    /// Loads every tensor of a safetensors file onto `device`.
    pub(super) fn load(weights_path: &Path, device: &Device) -> Result<Self> {
        let tensors = candle_core::safetensors::load(weights_path, device).map_err(|e| {
            Error::ModelUnavailable(format!("cannot load {}: {e}", weights_path.display()))
        })?;
        Ok(Self { tensors })
    }

    pub(super) fn get(&self, name: &str) -> Result<Tensor> {
        // Some exports prefix every name with "bert."; accept both.
        self.tensors
            .get(name)
            .or_else(|| self.tensors.get(&format!("bert.{name}")))
            .cloned()
            .ok_or_else(|| Error::ModelUnavailable(format!("weights have no tensor {name}")))
    }

    pub(super) fn linear(&self, prefix: &str) -> Result<Linear> {
        let weight = self.get(&format!("{prefix}.weight"))?;
        Ok(Linear {
            weight_t: weight.t()?.contiguous()?,
            bias: self.get(&format!("{prefix}.bias"))?,
        })
    }

    /// Query, key and value projections concatenated along the output axis.
    pub(super) fn fused_qkv(&self, prefix: &str) -> Result<Linear> {
        let parts = ["query", "key", "value"]
            .iter()
            .map(|p| self.linear(&format!("{prefix}.{p}")))
            .collect::<Result<Vec<_>>>()?;
        let weights: Vec<&Tensor> = parts.iter().map(|l| &l.weight_t).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|l| &l.bias).collect();
        Ok(Linear {
            weight_t: Tensor::cat(&weights, 1)?.contiguous()?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }

    pub(super) fn layer_norm(&self, prefix: &str, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            gamma: self.get(&format!("{prefix}.weight"))?,
            beta: self.get(&format!("{prefix}.bias"))?,
            eps: eps as f32,
        })
    }
}

impl BertEncoder {
    /// Loads the weights from a safetensors file onto `device`.
    pub fn load(weights_path: &Path, cfg: &Config, device: &Device) -> Result<Self> {
        let w = Weights::load(weights_path, device)?;
        let eps = cfg.layer_norm_eps;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    qkv: w.fused_qkv(&format!("{p}.attention.self"))?,
                    attention_out: w.linear(&format!("{p}.attention.output.dense"))?,
                    attention_norm: w
                        .layer_norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                    intermediate: w.linear(&format!("{p}.intermediate.dense"))?,
                    output: w.linear(&format!("{p}.output.dense"))?,
                    output_norm: w.layer_norm(&format!("{p}.output.LayerNorm"), eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let word_embeddings = w.get("embeddings.word_embeddings.weight")?;
        if word_embeddings.dims() != [cfg.vocab_size, cfg.hidden_size] {
            return Err(Error::ModelUnavailable(format!(
                "word embeddings have shape {:?}, config says [{}, {}]",
                word_embeddings.dims(),
                cfg.vocab_size,
                cfg.hidden_size
            )));
        }
        Ok(Self {
            word_embeddings,
            position_embeddings: w.get("embeddings.position_embeddings.weight")?,
            // token_type_ids are always 0 for this model: keep row 0 only.
            token_type_row: w.get("embeddings.token_type_embeddings.weight")?.get(0)?,
            embeddings_norm: w.layer_norm("embeddings.LayerNorm", eps)?,
            layers,
            heads: cfg.num_attention_heads,
            head_dim: cfg.hidden_size / cfg.num_attention_heads,
            max_positions: cfg.max_position_embeddings,
            device: device.clone(),
            fused_kernels: true,
        })
    }

    /// Chooses the fused CPU kernels (the default) or candle's own ops.
    pub fn with_fused_kernels(mut self, fused: bool) -> Self {
        self.fused_kernels = fused;
        self
    }

    /// Runs the encoder on a padded batch.
    ///
    /// `ids` is `batch * seq` token ids, row-major; `lengths[b]` is the number of real tokens of row `b`
    /// (the rest are padding). Returns the last hidden state, `(batch, seq, hidden)`.
    pub fn forward(&self, ids: &[u32], lengths: &[usize], seq: usize) -> Result<Tensor> {
        Ok(self.forward_tapped(ids, lengths, seq, 0)?.0)
    }

    /// [`Self::forward`], also returning the hidden state after the first `tap_after` layers (same shape;
    /// `None` when `tap_after` is 0).
    pub fn forward_tapped(
        &self,
        ids: &[u32],
        lengths: &[usize],
        seq: usize,
        tap_after: usize,
    ) -> Result<(Tensor, Option<Tensor>)> {
        if tap_after > self.layers.len() {
            return Err(Error::inference(format!(
                "cannot tap layer {tap_after} of a {}-layer model",
                self.layers.len()
            )));
        }
        let batch = lengths.len();
        if ids.len() != batch * seq || seq == 0 || seq > self.max_positions {
            return Err(Error::inference(format!(
                "bad batch shape: {} ids for {batch} rows of {seq}",
                ids.len()
            )));
        }
        let hidden = self.word_embeddings.dim(1)?;
        let ids_t = Tensor::from_slice(ids, batch * seq, &self.device)?;
        let words = self.word_embeddings.index_select(&ids_t, 0)?;
        let positions = self.position_embeddings.narrow(0, 0, seq)?;
        let x = words
            .reshape((batch, seq, hidden))?
            .broadcast_add(&positions)?
            .broadcast_add(&self.token_type_row)?;
        let mut x = self
            .embeddings_norm
            .forward(&x.reshape((batch * seq, hidden))?)?;

        // Additive mask: 0 for real tokens, a large negative for padding, shape (batch, 1, 1, seq).
        let mask: Vec<f32> = lengths
            .iter()
            .flat_map(|&len| (0..seq).map(move |j| if j < len { 0.0 } else { f32::MIN }))
            .collect();
        let mask = Tensor::from_vec(mask, (batch, 1, 1, seq), &self.device)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();

        let mut tapped = None;
        for (done, layer) in self.layers.iter().enumerate() {
            if done > 0 && done == tap_after {
                tapped = Some(x.clone());
            }
            let qkv = layer.qkv.forward(&x)?; // (batch*seq, 3*hidden)
            let qkv = qkv
                .reshape((batch, seq, 3, self.heads, self.head_dim))?
                .permute((2, 0, 3, 1, 4))?; // (3, batch, heads, seq, head_dim)
            let q = qkv.get(0)?.contiguous()?;
            let k = qkv.get(1)?.contiguous()?;
            let v = qkv.get(2)?.contiguous()?;
            let probs = super::kernels::masked_softmax(
                &q.matmul(&k.t()?)?,
                &mask,
                lengths,
                scale,
                self.fused_kernels,
            )?;
            let context = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((batch * seq, hidden))?;
            let attended = layer.attention_out.forward(&context)?;
            x = layer.attention_norm.forward(&(attended + &x)?)?;
            let inner =
                super::kernels::gelu_erf(&layer.intermediate.forward(&x)?, self.fused_kernels)?;
            let out = layer.output.forward(&inner)?;
            x = layer.output_norm.forward(&(out + &x)?)?;
        }
        if tap_after > 0 && tap_after == self.layers.len() {
            tapped = Some(x.clone());
        }
        let shape = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((batch, seq, hidden))?.to_dtype(DType::F32)?)
        };
        Ok((shape(x)?, tapped.map(shape).transpose()?))
    }
}
