//! The sidecar's configuration: `ServeArgs` (flags with environment fallbacks) resolved and checked once.

use crate::cli::{ServeArgs, Settings};
use crate::error::{Error, Result};
use crate::routing::RouteOptions;
use std::path::PathBuf;
use std::time::Duration;

/// Default number of prompts whose embeddings are kept for exact repeats (`TRIAGE_EMBED_CACHE_ENTRIES`).
pub const DEFAULT_EMBED_CACHE_ENTRIES: usize = 4096;
/// Default number of conversations remembered for sticky routing (`TRIAGE_SESSION_CAPACITY`).
pub const DEFAULT_SESSION_CAPACITY: usize = 65_536;
/// Longest accepted `session_id`, in bytes.
pub const MAX_SESSION_ID_BYTES: usize = 256;

/// Everything the server needs to know, with the units resolved.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (`host:port`; port 0 picks a free one).
    pub addr: String,
    /// Folder with `heads.json`, `table.json`, `manifest.json` and `providers.toml`.
    pub models_dir: PathBuf,
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
    /// Routing options from the command line; requests override them field by field.
    pub defaults: RouteOptions,
}

impl ServerConfig {
    /// The defaults of `triage serve` for a models folder.
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            models_dir: models_dir.into(),
            max_body_bytes: 1 << 20,
            queue_capacity: 256,
            max_batch: 32,
            batch_wait: Duration::from_millis(2),
            request_timeout: Duration::from_millis(5000),
            max_batch_items: 256,
            session_ttl: Duration::from_secs(1800),
            session_capacity: DEFAULT_SESSION_CAPACITY,
            reload_interval: Duration::from_secs(5),
            embed_cache_entries: DEFAULT_EMBED_CACHE_ENTRIES,
            defaults: RouteOptions::default(),
        }
    }

    /// Resolves the flags of `triage serve` (and two environment-only knobs) and checks them.
    pub fn from_args(settings: &Settings, args: &ServeArgs) -> Result<Self> {
        let config = Self {
            addr: args.addr.clone(),
            models_dir: settings.models_dir.clone(),
            max_body_bytes: args.max_body_bytes,
            queue_capacity: args.queue_capacity,
            max_batch: args.max_batch,
            batch_wait: Duration::from_millis(args.batch_wait_ms),
            request_timeout: Duration::from_millis(args.request_timeout_ms),
            max_batch_items: args.max_batch_items,
            session_ttl: Duration::from_secs(args.session_ttl_secs),
            session_capacity: env_usize("TRIAGE_SESSION_CAPACITY", DEFAULT_SESSION_CAPACITY)?,
            reload_interval: Duration::from_secs(args.reload_interval_secs),
            embed_cache_entries: env_usize(
                "TRIAGE_EMBED_CACHE_ENTRIES",
                DEFAULT_EMBED_CACHE_ENTRIES,
            )?,
            defaults: args.policy.route_options(),
        };
        config.check()?;
        Ok(config)
    }

    /// Rejects values the server cannot work with.
    pub fn check(&self) -> Result<()> {
        let positive = [
            ("--max-body-bytes", self.max_body_bytes),
            ("--queue-capacity", self.queue_capacity),
            ("--max-batch", self.max_batch),
            ("--max-batch-items", self.max_batch_items),
        ];
        for (flag, value) in positive {
            if value == 0 {
                return Err(Error::Usage(format!("{flag} must be at least 1")));
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

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| Error::Usage(format!("{name} must be a whole number, got `{v}`"))),
        _ => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_sizes_are_usage_errors() {
        let mut c = ServerConfig::new("models");
        assert!(c.check().is_ok());
        c.queue_capacity = 0;
        assert!(matches!(c.check(), Err(Error::Usage(m)) if m.contains("--queue-capacity")));
        let mut c = ServerConfig::new("models");
        c.request_timeout = Duration::ZERO;
        assert!(c.check().is_err());
    }
}
