//! Sentence embeddings: the `Embedder` trait (tokenize, then embed) and all-MiniLM-L6-v2 behind it
//! (`minilm`): model files (`acquire`), the tokenizer, the native CPU engine (`cpu_bert` on `packed` and
//! `kernels`) and candle's tensor engine (`bert`) for CUDA. Knows nothing of routing or the doors.

pub mod acquire;
mod aligned;
pub mod bert;
pub mod bf16;
pub mod cpu_bert;
pub mod device;
pub mod kernels;
pub mod minilm;
pub mod packed;
pub mod quantized;
mod team;
pub mod tokenizer;

pub use acquire::{ModelFiles, ModelSource};
pub use device::DeviceChoice;
pub use minilm::{EngineKind, MiniLmEmbedder};

use crate::error::Result;
use std::path::PathBuf;

/// Which engine runs the model on the CPU (other devices always run candle's tensors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EngineChoice {
    /// The native engine (`cpu_bert`): packed tokens, panel kernels, one thread team.
    #[default]
    Native,
    /// candle's tensor engine (`bert`), kept for comparison and as a fallback.
    Candle,
}

/// The arithmetic of the native engine's dense layers, as asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PrecisionChoice {
    /// f32 throughout: what the heads were fitted on.
    #[default]
    Fp32,
    /// Int8 products (weights per column, activations per token) on AMX or VNNI, f32 elsewhere. A CPU
    /// without VNNI runs f32, its fastest path (with a warning).
    Int8,
    /// Bf16 products on AMX (recent Intel Xeons) or AVX-512 BF16 (AMD Zen 4), f32 elsewhere. A CPU without
    /// AVX-512 BF16 runs f32 (with a warning).
    Bf16,
    /// bf16 on AMX, else int8 on VNNI (each keeps fp32's provider on 99.8% of prompts:
    /// docs/benchmarks.md), else f32. Silently.
    Auto,
}

/// The arithmetic the native engine's dense layers run in, on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseArithmetic {
    Fp32,
    Int8(quantized::Int8Kernel),
    Bf16(bf16::Bf16Kernel),
}

impl DenseArithmetic {
    /// How logs and `/health` name it (`int8 (amx-int8)`).
    pub fn name(self) -> String {
        match self {
            DenseArithmetic::Fp32 => "fp32".to_string(),
            DenseArithmetic::Int8(k) => format!("int8 ({})", k.name()),
            DenseArithmetic::Bf16(k) => format!("bf16 ({})", k.name()),
        }
    }
}

impl PrecisionChoice {
    /// The arithmetic this choice runs on this CPU. Without VNNI the int8 products run only in a
    /// portable loop, slower than f32, so int8 is not chosen there; without AMX-BF16 there is no bf16
    /// kernel.
    pub fn arithmetic(self) -> DenseArithmetic {
        let kernel = quantized::Int8Kernel::detect();
        let int8 =
            (kernel != quantized::Int8Kernel::Portable).then_some(DenseArithmetic::Int8(kernel));
        let bf16 = bf16::Bf16Kernel::detect().map(DenseArithmetic::Bf16);
        let bf16_amx = bf16.filter(|b| *b == DenseArithmetic::Bf16(bf16::Bf16Kernel::Amx));
        match self {
            PrecisionChoice::Fp32 => DenseArithmetic::Fp32,
            PrecisionChoice::Int8 => int8.unwrap_or_else(|| {
                tracing::warn!(
                    "--precision int8: this CPU has no AVX-512 VNNI; running fp32, its fastest path"
                );
                DenseArithmetic::Fp32
            }),
            PrecisionChoice::Bf16 => {
                if bf16.is_some() && bf16_amx.is_none() {
                    tracing::warn!(
                        "--precision bf16 without AMX runs on AVX-512 BF16, which was slower than fp32 where measured (docs/benchmarks.md)"
                    );
                }
                bf16.unwrap_or_else(|| {
                    tracing::warn!("--precision bf16: this CPU has no AVX-512 BF16; running fp32");
                    DenseArithmetic::Fp32
                })
            }
            PrecisionChoice::Auto => bf16_amx.or(int8).unwrap_or(DenseArithmetic::Fp32),
        }
    }
}

/// Which GELU/softmax kernels candle's tensor engine uses on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KernelChoice {
    /// The vectorised fused kernels of `kernels`.
    #[default]
    Fused,
    /// candle's own ops (for A/B benchmarks).
    Candle,
}

/// Everything loading the embedder needs, resolved by the command line.
#[derive(Debug, Clone)]
pub struct EmbedderSettings {
    /// Hugging Face hub cache folder holding (or receiving) the model.
    pub model_cache: PathBuf,
    pub device: DeviceChoice,
    /// CPU threads for inference.
    pub threads: usize,
    pub engine: EngineChoice,
    pub kernels: KernelChoice,
    /// The native engine's arithmetic (other engines run f32).
    pub precision: PrecisionChoice,
}

/// candle's errors become inference errors here, in the one layer that uses candle (the message is kept
/// for logs, the error itself as the source).
impl From<candle_core::Error> for crate::error::Error {
    fn from(e: candle_core::Error) -> Self {
        crate::error::Error::Inference {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

/// Finds (or fetches) the model and loads the embedder: the native CPU engine on `settings.threads`
/// threads, or candle's tensor engine on CUDA (and on the CPU with `--engine candle`).
pub fn load(settings: &EmbedderSettings) -> Result<MiniLmEmbedder> {
    let device = settings.device.open()?;
    let (files, source) = acquire::acquire(&settings.model_cache)?;
    if source != ModelSource::Cache {
        tracing::info!(?source, cache = %settings.model_cache.display(), "embedding model installed");
    }
    MiniLmEmbedder::load_engine(&files, &device, EngineKind::for_device(&device, settings))
}

/// Identifies the model weights this build embeds with: the model's name and the start of the weights'
/// sha256 (verified when they are installed). Artifacts record it; caches of embeddings are keyed by it.
pub const MODEL_ID: &str = "all-MiniLM-L6-v2@53aa51172d142c89";

/// Width of the embedding vectors produced by all-MiniLM-L6-v2.
pub const EMBEDDING_DIM: usize = 384;
/// The intermediate layer (of six) whose token vectors are also mean-pooled, into `Embedding::mid_layer`.
pub const MID_LAYER: usize = 3;
/// Longest input in tokens (special tokens included); longer texts are truncated.
pub const MAX_TOKENS: usize = 256;

/// One embedded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// Unit-length vector of `EMBEDDING_DIM` floats: the sentence embedding (last layer, mean-pooled).
    pub vector: Vec<f32>,
    /// Unit-length mean of the token vectors after layer `MID_LAYER`, `EMBEDDING_DIM` floats. It stays nearer
    /// the prompt's words than `vector`, whose last layer is tuned so that paraphrases meet. Empty when it is
    /// not known (an embedding carried by a record written before it was kept).
    pub mid_layer: Vec<f32>,
    /// Tokens fed to the model after truncation, `[CLS]` and `[SEP]` included.
    pub tokens: usize,
    /// Whether the text was longer than `MAX_TOKENS` and was cut.
    pub truncated: bool,
    /// Tokens of the whole text before truncation (a proxy for what a provider bills as input).
    pub full_tokens: usize,
}

/// One text after tokenization: the ids a forward pass reads (exact token count for batching) and what
/// the embedding reports about the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    /// Token ids after truncation, `[CLS]` and `[SEP]` included.
    pub ids: Vec<u32>,
    /// Whether the text was cut at `MAX_TOKENS`.
    pub truncated: bool,
    /// Tokens of the whole text before truncation.
    pub full_tokens: usize,
}

/// Turns texts into embeddings, in input order, in two steps that callers may run apart (the server
/// tokenizes in the request path and queues the exact token counts).
pub trait Embedder: Send + Sync {
    /// Tokenizes `texts`, one item per text in the same order.
    fn tokenize(&self, texts: &[String]) -> Result<Vec<Tokenized>>;

    /// Embeds tokenized texts, one `Embedding` per item in the same order.
    fn embed_tokenized(&self, items: &[Tokenized]) -> Result<Vec<Embedding>>;

    /// Embeds `texts`, returning one `Embedding` per text in the same order.
    fn embed_detailed(&self, texts: &[String]) -> Result<Vec<Embedding>> {
        let items = self.tokenize(texts)?;
        self.embed_tokenized(&items)
    }

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

    /// What runs the model and in which arithmetic (`native, int8 (avx512-vnni)`), for logs and `/health`.
    fn engine(&self) -> String {
        "unknown".to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn model_id_names_the_verified_weights() {
        assert_eq!(
            super::MODEL_ID,
            format!("all-MiniLM-L6-v2@{}", &super::acquire::WEIGHTS_SHA256[..16])
        );
    }

    #[test]
    fn each_precision_runs_what_this_cpu_offers_and_says_so() {
        use super::bf16::Bf16Kernel;
        use super::quantized::{amx, Int8Kernel};
        use super::{DenseArithmetic, PrecisionChoice};
        let kernel = Int8Kernel::detect();
        let int8 = (kernel != Int8Kernel::Portable).then_some(DenseArithmetic::Int8(kernel));
        let bf16 = Bf16Kernel::detect().map(DenseArithmetic::Bf16);
        let bf16_amx = amx::bf16_usable().then_some(DenseArithmetic::Bf16(Bf16Kernel::Amx));
        assert_eq!(PrecisionChoice::Fp32.arithmetic(), DenseArithmetic::Fp32);
        assert_eq!(
            PrecisionChoice::Int8.arithmetic(),
            int8.unwrap_or(DenseArithmetic::Fp32)
        );
        assert_eq!(
            PrecisionChoice::Bf16.arithmetic(),
            bf16.unwrap_or(DenseArithmetic::Fp32)
        );
        assert_eq!(
            PrecisionChoice::Auto.arithmetic(),
            bf16_amx.or(int8).unwrap_or(DenseArithmetic::Fp32)
        );
        // AMX implies the AVX-512 VNNI kernel it falls back to for shapes that fill no tiles.
        assert!(!Int8Kernel::Amx.runs_here() || Int8Kernel::Avx512Vnni.runs_here());
        assert_eq!(DenseArithmetic::Fp32.name(), "fp32");
        assert_eq!(
            DenseArithmetic::Bf16(Bf16Kernel::Amx).name(),
            "bf16 (amx-bf16)"
        );
        for k in Bf16Kernel::ALL {
            assert_eq!(Bf16Kernel::named(k.name()), k.runs_here().then_some(k));
        }
        assert_eq!(
            DenseArithmetic::Int8(Int8Kernel::Avx512Vnni).name(),
            "int8 (avx512-vnni)"
        );
        for k in Int8Kernel::ALL {
            assert_eq!(Int8Kernel::named(k.name()), k.runs_here().then_some(k));
        }
    }
}
