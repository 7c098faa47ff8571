//! The production `Embedder`, all-MiniLM-L6-v2: tokenizer + BERT (the native CPU engine, or candle's
//! tensors on other devices) + mean pooling + L2 normalisation (of the last layer, and of layer `MID_LAYER`
//! for the domain head), batched by length.

use super::acquire::ModelFiles;
use super::bert::{BertEncoder, Config};
use super::cpu_bert::CpuBert;
use super::tokenizer::load_tokenizer;
use super::{
    DenseArithmetic, Embedder, EmbedderSettings, Embedding, EngineChoice, KernelChoice, Tokenized,
    EMBEDDING_DIM, MID_LAYER,
};
use crate::error::{Error, Result};
use candle_core::Device;
use tokenizers::{Encoding, Tokenizer};

/// Default number of texts per forward pass.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// Which engine to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// `cpu_bert::CpuBert` on this many threads, its dense layers in this arithmetic.
    Native {
        threads: usize,
        dense: DenseArithmetic,
    },
    /// `bert::BertEncoder` on candle tensors, with the fused CPU kernels or candle's own ops.
    CandleTensors { fused_kernels: bool },
}

impl EngineKind {
    /// What `settings` ask for on `device`: the native engine on the CPU unless `--engine candle`;
    /// candle's tensor engine on other devices (the native engine is CPU-only).
    pub fn for_device(device: &Device, settings: &EmbedderSettings) -> Self {
        if device.is_cpu() && settings.engine == EngineChoice::Native {
            EngineKind::Native {
                threads: settings.threads,
                dense: settings.precision.arithmetic(),
            }
        } else {
            EngineKind::CandleTensors {
                fused_kernels: settings.kernels == KernelChoice::Fused,
            }
        }
    }
}

/// Which forward pass runs the model.
enum Engine {
    /// `cpu_bert::CpuBert`: packed tokens on plain buffers; the CPU default.
    Cpu(Box<CpuBert>),
    /// `bert::BertEncoder` on candle tensors: CUDA, or the CPU with `--engine candle`.
    Candle(BertEncoder),
}

/// all-MiniLM-L6-v2, weights read with candle, run by the engine chosen at load.
pub struct MiniLmEmbedder {
    tokenizer: Tokenizer,
    engine: Engine,
    batch_size: usize,
    model_id: String,
}

impl MiniLmEmbedder {
    /// Loads the model with the given engine, whatever the environment says; the native engine runs on the
    /// CPU only.
    pub fn load_engine(files: &ModelFiles, device: &Device, kind: EngineKind) -> Result<Self> {
        if matches!(kind, EngineKind::Native { .. }) && !device.is_cpu() {
            return Err(Error::Usage(
                "the native engine runs on the CPU only; use candle's tensor engine on other devices"
                    .into(),
            ));
        }
        let cfg = Config::from_file(&files.config)?;
        if cfg.hidden_size != EMBEDDING_DIM {
            return Err(Error::ModelUnavailable(format!(
                "model has hidden size {}, expected {EMBEDDING_DIM}",
                cfg.hidden_size
            )));
        }
        let dense = match kind {
            EngineKind::Native { dense, .. } => dense,
            EngineKind::CandleTensors { .. } => DenseArithmetic::Fp32,
        };
        let mut embedder = Self {
            tokenizer: load_tokenizer(&files.tokenizer)?,
            engine: match kind {
                EngineKind::CandleTensors { fused_kernels } => Engine::Candle(
                    BertEncoder::load(&files.weights, &cfg, device)?
                        .with_fused_kernels(fused_kernels),
                ),
                EngineKind::Native { threads, .. } => {
                    Engine::Cpu(Box::new(CpuBert::load(&files.weights, &cfg, threads)?))
                }
            },
            batch_size: DEFAULT_BATCH_SIZE,
            model_id: super::MODEL_ID.to_string(),
        };
        if let DenseArithmetic::Bf16(kernel) = dense {
            if let Engine::Cpu(encoder) = &mut embedder.engine {
                encoder.enable_bf16(kernel)?;
            }
        }
        if let DenseArithmetic::Int8(kernel) = dense {
            // Calibrated on the built-in texts, tokenized as every prompt is.
            let texts: Vec<String> = super::quantized::CALIBRATION_TEXTS
                .iter()
                .map(|t| t.to_string())
                .collect();
            let items = embedder.tokenize(&texts)?;
            let ids: Vec<&[u32]> = items.iter().map(|t| t.ids.as_slice()).collect();
            if let Engine::Cpu(encoder) = &mut embedder.engine {
                encoder.enable_int8(kernel, &ids)?;
            }
        }
        Ok(embedder)
    }

    /// Sets how many texts go through the model at once.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// One forward pass over a batch, then mean pooling over each text's tokens and L2 normalisation, of
    /// the last layer and of layer `MID_LAYER`: (vector, mid-layer vector) per text.
    fn embed_batch<'a>(
        &self,
        batch: impl Iterator<Item = &'a Tokenized>,
    ) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        let rows: Vec<&[u32]> = batch.map(|t| t.ids.as_slice()).collect();
        let dim = EMBEDDING_DIM;
        match &self.engine {
            Engine::Cpu(encoder) => {
                // Packed: the rows of text 0, then text 1, ...
                let hidden = encoder.forward_tapped(&rows, MID_LAYER)?;
                let mut start = 0;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let end = start + r.len() * dim;
                        let last = mean_pool_normalize(&hidden.last[start..end], dim);
                        let mid = mean_pool_normalize(&hidden.tapped[start..end], dim);
                        start = end;
                        (last, mid)
                    })
                    .collect())
            }
            Engine::Candle(encoder) => {
                // Padded to the longest text of the batch.
                let seq = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
                let mut ids = vec![0u32; rows.len() * seq];
                for (b, row) in rows.iter().enumerate() {
                    ids[b * seq..b * seq + row.len()].copy_from_slice(row);
                }
                let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
                let (last, mid) = encoder.forward_tapped(&ids, &lengths, seq, MID_LAYER)?;
                let mid =
                    mid.ok_or_else(|| Error::inference("the tapped layer was not returned"))?;
                let last = last.flatten_all()?.to_vec1::<f32>()?;
                let mid = mid.flatten_all()?.to_vec1::<f32>()?;
                Ok(lengths
                    .iter()
                    .enumerate()
                    .map(|(b, &len)| {
                        let text = b * seq * dim..(b * seq + len) * dim;
                        (
                            mean_pool_normalize(&last[text.clone()], dim),
                            mean_pool_normalize(&mid[text], dim),
                        )
                    })
                    .collect())
            }
        }
    }
}

/// Tokens of the untruncated text: the kept part plus each overflowing piece without its own `[CLS]`/`[SEP]`.
fn full_token_count(encoding: &Encoding) -> usize {
    encoding.get_ids().len()
        + encoding
            .get_overflowing()
            .iter()
            .map(|o| {
                o.get_special_tokens_mask()
                    .iter()
                    .filter(|&&m| m == 0)
                    .count()
            })
            .sum::<usize>()
}

/// Mean of `rows` (len × dim, row-major) then scaled to unit length: sentence-transformers' pooling for
/// this model.
pub fn mean_pool_normalize(rows: &[f32], dim: usize) -> Vec<f32> {
    let count = (rows.len() / dim).max(1);
    let mut mean = vec![0f32; dim];
    for row in rows.chunks_exact(dim) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    let inv = 1.0 / count as f32;
    mean.iter_mut().for_each(|m| *m *= inv);
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    mean.iter_mut().for_each(|m| *m /= norm);
    mean
}

impl Embedder for MiniLmEmbedder {
    /// Tokenizes with the model's settings (truncation at 256, no padding).
    fn tokenize(&self, texts: &[String]) -> Result<Vec<Tokenized>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Inference {
                message: format!("tokenizer: {e}"),
                source: Some(e),
            })?;
        Ok(encodings
            .iter()
            .map(|e| Tokenized {
                ids: e.get_ids().to_vec(),
                truncated: !e.get_overflowing().is_empty(),
                full_tokens: full_token_count(e),
            })
            .collect())
    }

    /// One forward pass per `batch_size` texts of similar length.
    fn embed_tokenized(&self, items: &[Tokenized]) -> Result<Vec<Embedding>> {
        // Longest first, so each batch pads to a length close to all its members' (as sentence-transformers
        // does; the native engine packs, so there it only groups similar work).
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(items[i].ids.len()));
        let mut out: Vec<Option<Embedding>> = vec![None; items.len()];
        for chunk in order.chunks(self.batch_size) {
            let vectors = self.embed_batch(chunk.iter().map(|&i| &items[i]))?;
            for (&i, (vector, mid_layer)) in chunk.iter().zip(vectors) {
                out[i] = Some(Embedding {
                    vector,
                    mid_layer,
                    tokens: items[i].ids.len(),
                    truncated: items[i].truncated,
                    full_tokens: items[i].full_tokens,
                });
            }
        }
        out.into_iter()
            .map(|e| e.ok_or_else(|| Error::inference("a text was left unembedded")))
            .collect()
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn engine(&self) -> String {
        match &self.engine {
            Engine::Cpu(e) => format!("native, {}", e.arithmetic().name()),
            Engine::Candle(_) => "candle, fp32".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_real_rows_and_normalizes() {
        let v = mean_pool_normalize(&[1.0, 0.0, 3.0, 0.0], 2);
        assert!((v[0] - 1.0).abs() < 1e-6 && v[1].abs() < 1e-6);
        let v = mean_pool_normalize(&[3.0, 4.0], 2);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }
}
