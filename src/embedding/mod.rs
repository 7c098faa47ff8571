//! Sentence embeddings: the `Embedder` trait and its candle implementation of all-MiniLM-L6-v2.

pub mod acquire;
pub mod bert;
pub mod candle_embedder;
pub mod cpu_bert;
pub mod device;
pub mod kernels;
pub mod packed;
pub mod tokenizer;

pub use acquire::{ModelFiles, ModelSource};
pub use candle_embedder::{CandleEmbedder, EngineKind};
pub use device::DeviceChoice;

use crate::error::Result;

/// Width of the embedding vectors produced by all-MiniLM-L6-v2.
pub const EMBEDDING_DIM: usize = 384;
/// Longest input in tokens (special tokens included); longer texts are truncated.
pub const MAX_TOKENS: usize = 256;

/// One embedded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// Unit-length vector of `EMBEDDING_DIM` floats.
    pub vector: Vec<f32>,
    /// Tokens fed to the model after truncation, `[CLS]` and `[SEP]` included.
    pub tokens: usize,
    /// Whether the text was longer than `MAX_TOKENS` and was cut.
    pub truncated: bool,
    /// Tokens of the whole text before truncation (a proxy for what a provider bills as input).
    pub full_tokens: usize,
}

/// Turns texts into embeddings, in input order.
pub trait Embedder: Send + Sync {
    /// Embeds `texts`, returning one `Embedding` per text in the same order.
    fn embed_detailed(&self, texts: &[String]) -> Result<Vec<Embedding>>;

    /// Embeds `texts`, returning only the vectors.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .embed_detailed(texts)?
            .into_iter()
            .map(|e| e.vector)
            .collect())
    }

    /// A stable identifier of the model weights (used to key caches of embeddings).
    fn model_id(&self) -> &str;
}
