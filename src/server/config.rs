//! The sidecar's configuration with its units resolved, and the defaults of `triage serve`'s flags
//! (the command line resolves the flags into a [`ServerConfig`]; tests build one with [`ServerConfig::new`]).

use crate::artifacts::ArtifactSource;
use crate::error::{Error, Result};
use crate::routing::RouteOptions;
use std::path::PathBuf;
use std::time::Duration;

/// Default listen address (`--addr`).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Default largest request body in bytes (`--max-body-bytes`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Default queue capacity (`--queue-capacity`).
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;
/// Default most prompts per forward pass (`--max-batch`).
pub const DEFAULT_MAX_BATCH: usize = 32;
/// Default batch wait in milliseconds (`--batch-wait-ms`).
pub const DEFAULT_BATCH_WAIT_MS: u64 = 2;
/// Default per-request deadline in milliseconds (`--request-timeout-ms`).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 5000;
/// Default most items of one batch request (`--max-batch-items`).
pub const DEFAULT_MAX_BATCH_ITEMS: usize = 256;
/// Default session lifetime in seconds (`--session-ttl-secs`).
pub const DEFAULT_SESSION_TTL_SECS: u64 = 1800;
/// Default number of prompts whose embeddings are kept for exact repeats (`--embed-cache-entries`).
pub const DEFAULT_EMBED_CACHE_ENTRIES: usize = 4096;
/// Default number of conversations remembered for sticky routing (`--session-capacity`).
pub const DEFAULT_SESSION_CAPACITY: usize = 65_536;
/// Default threads of the async HTTP runtime (`--http-threads`): the handlers only parse, hand off and
/// serialize; inference has its own thread and thread team.
pub const DEFAULT_HTTP_THREADS: usize = 2;
/// Default reload check interval in seconds (`--reload-interval-secs`).
pub const DEFAULT_RELOAD_INTERVAL_SECS: u64 = 5;
/// Default size at which the feedback log rotates (`--feedback-max-bytes`).
pub const DEFAULT_FEEDBACK_MAX_BYTES: u64 = 64 << 20;
/// Default number of decisions remembered for feedback by id (`--feedback-decisions`); each keeps its
/// embedding (about 1.6 KB).
pub const DEFAULT_FEEDBACK_DECISIONS: usize = 20_000;
/// Default model names the proxy routes (`--proxy-models`); any other model passes through.
pub const DEFAULT_PROXY_MODELS: &str = "triage,auto";
/// Default most providers one proxied request tries (`--proxy-max-attempts`).
pub const DEFAULT_PROXY_MAX_ATTEMPTS: usize = 3;
/// Default time to connect to a provider, in milliseconds (`--upstream-connect-timeout-ms`).
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS: u64 = 2000;
/// Default time until a provider's response headers, in milliseconds (`--upstream-timeout-ms`); a
/// non-streaming answer sends them only once the whole answer is generated.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 120_000;
/// Default longest silence inside a provider's answer, in milliseconds (`--upstream-idle-timeout-ms`).
pub const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS: u64 = 60_000;
/// Default size at which the proxy's decision log rotates.
pub const DEFAULT_DECISION_LOG_MAX_BYTES: u64 = 64 << 20;
/// Longest accepted `session_id`, in bytes.
pub const MAX_SESSION_ID_BYTES: usize = 256;

/// Everything the server needs to know, with the units resolved.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (`host:port`; port 0 picks a free one).
    pub addr: String,
    /// Folder with `heads.json`, `table.json`, `manifest.json` and `providers.toml`.
    pub artifacts: ArtifactSource,
    /// Largest request body in bytes (larger gets 413).
    pub max_body_bytes: usize,
    /// Requests waiting for inference before new ones get 429.
    pub queue_capacity: usize,
    /// Most prompts gathered into one forward pass.
    pub max_batch: usize,
    /// How long the worker waits to fill a batch once more than one request is waiting.
    pub batch_wait: Duration,
    /// Per-request deadline (504 after it).
    pub request_timeout: Duration,
    /// Most items in one `/v1/route/batch` request.
    pub max_batch_items: usize,
    /// How long a session keeps its provider after its last request.
    pub session_ttl: Duration,
    /// Most sessions remembered (least recently used are forgotten first).
    pub session_capacity: usize,
    /// How often the models folder is checked for new artifacts; zero means only on SIGHUP.
    pub reload_interval: Duration,
    /// Embeddings kept for exact-repeat prompts; zero disables the cache.
    pub embed_cache_entries: usize,
    /// Threads of the async HTTP runtime.
    pub http_threads: usize,
    /// Routing options from the command line; requests override them field by field.
    pub defaults: RouteOptions,
    /// Where `POST /v1/feedback` appends outcome records; `None` turns feedback off (503).
    pub feedback_dir: Option<PathBuf>,
    /// Keep prompt texts in the feedback log (default: embeddings and labels only).
    pub feedback_keep_text: bool,
    /// Size at which the feedback log rotates.
    pub feedback_max_bytes: u64,
    /// Decisions remembered for feedback by id.
    pub feedback_decisions: usize,
    /// The OpenAI-compatible proxy (`--proxy`); `None` serves the sidecar endpoints only.
    pub proxy: Option<ProxyConfig>,
}

/// How `triage serve --proxy` forwards chat completions.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// Request `model`s that mean "route this" (`triage`, `auto`).
    pub routed_models: Vec<String>,
    /// Most providers tried for one routed request (the choice, then the next eligible ones).
    pub max_attempts: usize,
    /// Time to open a connection to a provider.
    pub connect_timeout: Duration,
    /// Time until a provider's response headers.
    pub upstream_timeout: Duration,
    /// Longest silence between two reads of a provider's answer.
    pub idle_timeout: Duration,
    /// Where one JSON line per proxied request is appended (`decisions.jsonl`); `None` logs fallovers
    /// as warnings only.
    pub decision_log_dir: Option<PathBuf>,
    /// Size at which the decision log rotates.
    pub decision_log_max_bytes: u64,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            routed_models: DEFAULT_PROXY_MODELS.split(',').map(String::from).collect(),
            max_attempts: DEFAULT_PROXY_MAX_ATTEMPTS,
            connect_timeout: Duration::from_millis(DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS),
            upstream_timeout: Duration::from_millis(DEFAULT_UPSTREAM_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS),
            decision_log_dir: None,
            decision_log_max_bytes: DEFAULT_DECISION_LOG_MAX_BYTES,
        }
    }
}

impl ServerConfig {
    /// The defaults of `triage serve` (the same constants its flags default to) for a models folder.
    pub fn new(artifacts: ArtifactSource) -> Self {
        Self {
            addr: DEFAULT_ADDR.into(),
            artifacts,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            batch_wait: Duration::from_millis(DEFAULT_BATCH_WAIT_MS),
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            max_batch_items: DEFAULT_MAX_BATCH_ITEMS,
            session_ttl: Duration::from_secs(DEFAULT_SESSION_TTL_SECS),
            session_capacity: DEFAULT_SESSION_CAPACITY,
            reload_interval: Duration::from_secs(DEFAULT_RELOAD_INTERVAL_SECS),
            embed_cache_entries: DEFAULT_EMBED_CACHE_ENTRIES,
            http_threads: DEFAULT_HTTP_THREADS,
            defaults: RouteOptions::default(),
            feedback_dir: None,
            feedback_keep_text: false,
            feedback_max_bytes: DEFAULT_FEEDBACK_MAX_BYTES,
            feedback_decisions: DEFAULT_FEEDBACK_DECISIONS,
            proxy: None,
        }
    }

    /// Rejects values the server cannot work with.
    pub fn check(&self) -> Result<()> {
        let positive = [
            ("--max-body-bytes", self.max_body_bytes),
            ("--queue-capacity", self.queue_capacity),
            ("--max-batch", self.max_batch),
            ("--max-batch-items", self.max_batch_items),
            ("--session-capacity", self.session_capacity),
            ("--http-threads", self.http_threads),
            ("--feedback-decisions", self.feedback_decisions),
            (
                "--feedback-max-bytes",
                usize::from(self.feedback_max_bytes > 0),
            ),
        ];
        for (flag, value) in positive {
            if value == 0 {
                return Err(Error::Usage(format!("{flag} must be at least 1")));
            }
        }
        if let Some(p) = &self.proxy {
            if p.max_attempts == 0 {
                return Err(Error::Usage(
                    "--proxy-max-attempts must be at least 1".into(),
                ));
            }
            if p.routed_models.iter().any(|m| m.trim().is_empty()) || p.routed_models.is_empty() {
                return Err(Error::Usage(
                    "--proxy-models must list at least one non-empty model name".into(),
                ));
            }
            for (flag, d) in [
                ("--upstream-connect-timeout-ms", p.connect_timeout),
                ("--upstream-timeout-ms", p.upstream_timeout),
                ("--upstream-idle-timeout-ms", p.idle_timeout),
            ] {
                if d.is_zero() {
                    return Err(Error::Usage(format!("{flag} must be at least 1")));
                }
            }
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Usage(
                "--request-timeout-ms must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_sizes_are_usage_errors() {
        let mut c = ServerConfig::new(ArtifactSource::Embedded);
        assert!(c.check().is_ok());
        c.queue_capacity = 0;
        assert!(matches!(c.check(), Err(Error::Usage(m)) if m.contains("--queue-capacity")));
        let mut c = ServerConfig::new(ArtifactSource::Embedded);
        c.request_timeout = Duration::ZERO;
        assert!(c.check().is_err());
    }
}
