//! The server's shared state: configuration, the current brain (swapped atomically on reload), the
//! inference queue, the embedding cache and the sessions.

use super::cache::EmbedCache;
use super::config::ServerConfig;
use super::feedback::{Decisions, FeedbackLog};
use super::queue::{BatchSettings, Inference};
use super::reload::BrainSlot;
use super::sessions::Sessions;
use crate::brain::Brain;
use crate::embedding::{Embedder, Embedding};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, PoisonError};
use std::thread::JoinHandle;
use tokio::time::Instant;

/// Shared state of one server; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    brains: Arc<BrainSlot>,
    inference: OnceLock<Inference>,
    /// The loaded embedder's `engine()`.
    engine: OnceLock<String>,
    /// The worker thread; it ends by itself once the state (the queue's sender) is dropped.
    _worker: std::sync::Mutex<Option<JoinHandle<()>>>,
    cache: EmbedCache,
    sessions: Sessions,
    /// Tool-call id → the provider that made the call (the proxy sends the conversation's next turn
    /// back to it); bounded and expiring as sessions are.
    tool_calls: Sessions,
    shutting_down: AtomicBool,
    decisions: Decisions,
    feedback: Option<Arc<FeedbackLog>>,
    /// The proxy's outbound client, built on the first proxied request.
    proxy_client: OnceLock<reqwest::Client>,
    decision_log: Option<Arc<FeedbackLog>>,
}

impl AppState {
    /// State for `config`, not ready yet: install an embedder and a brain before it answers (until then
    /// `/health` and every prompt endpoint answer 503).
    pub fn new(config: ServerConfig) -> Self {
        // The process-wide recorder goes in before anything this state does can count: a counter
        // incremented with no recorder is dropped, and a reload that failed is not tried (nor counted)
        // again, so waiting for the first scrape to install it loses such events for good.
        let _ = super::metrics::handle();
        let cache = EmbedCache::new(config.embed_cache_entries);
        let sessions = Sessions::new(config.session_capacity, config.session_ttl);
        let tool_calls = Sessions::new(config.session_capacity, config.session_ttl);
        let brains = Arc::new(BrainSlot::new(
            config.artifacts.clone(),
            config.defaults.clone(),
        ));
        let decisions = Decisions::new(config.feedback_decisions);
        let feedback = config
            .feedback_dir
            .clone()
            .map(|dir| Arc::new(FeedbackLog::new(dir, config.feedback_max_bytes)));
        let decision_log = config
            .proxy
            .as_ref()
            .and_then(|p| Some((p.decision_log_dir.clone()?, p.decision_log_max_bytes)))
            .map(|(dir, max)| Arc::new(FeedbackLog::decision_log(dir, max)));
        Self {
            inner: Arc::new(Inner {
                config,
                brains,
                inference: OnceLock::new(),
                engine: OnceLock::new(),
                _worker: std::sync::Mutex::new(None),
                cache,
                sessions,
                tool_calls,
                shutting_down: AtomicBool::new(false),
                decisions,
                feedback,
                proxy_client: OnceLock::new(),
                decision_log,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Starts the inference worker on `embedder` (only the first call has an effect).
    pub fn install_embedder(&self, embedder: Arc<dyn Embedder>) -> Result<()> {
        if self.inner.inference.get().is_some() {
            return Ok(());
        }
        let _ = self.inner.engine.set(embedder.engine());
        let c = &self.inner.config;
        let (inference, handle) = Inference::start(
            embedder,
            BatchSettings {
                capacity: c.queue_capacity,
                max_batch: c.max_batch,
                batch_wait: c.batch_wait,
            },
        )?;
        if self.inner.inference.set(inference).is_ok() {
            *self
                .inner
                ._worker
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(handle);
        }
        Ok(())
    }

    /// Swaps in a brain; requests already holding the old one finish with it.
    pub fn install_brain(&self, brain: Brain) {
        self.inner.brains.install(brain);
    }

    /// Loads the brain of the models folder and installs it, remembering what was loaded so the
    /// reloader does not load it again.
    pub async fn load_brain(&self) -> Result<()> {
        self.inner.brains.reload(true).await.map(|_| ())
    }

    /// Checks the models folder and reloads when its artifacts changed (or always, with `force`); a
    /// failed load keeps the current brain and is returned.
    pub async fn reload(&self, force: bool) -> Result<bool> {
        self.inner.brains.reload(force).await
    }

    /// The slot holding the brain, for the reload watcher.
    pub fn brain_slot(&self) -> Arc<BrainSlot> {
        Arc::clone(&self.inner.brains)
    }

    /// The current brain (503 until one is loaded).
    pub fn brain(&self) -> Result<Arc<Brain>> {
        self.inner.brains.current()
    }

    /// Whether a brain is loaded.
    pub fn has_brain(&self) -> bool {
        self.brain().is_ok()
    }

    /// What runs the embedding model, once it is loaded.
    pub fn engine(&self) -> Option<String> {
        self.inner.engine.get().cloned()
    }

    /// Whether the inference worker runs.
    pub fn has_embedder(&self) -> bool {
        self.inner.inference.get().is_some()
    }

    /// Requests waiting for inference.
    pub fn queue_depth(&self) -> usize {
        self.inner.inference.get().map_or(0, Inference::depth)
    }

    /// Marks the server as draining (health turns 503).
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// The sticky sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Which provider made a tool call, by its id (proxy only).
    pub fn tool_calls(&self) -> &Sessions {
        &self.inner.tool_calls
    }

    /// Recent decisions, by id.
    pub fn decisions(&self) -> &Decisions {
        &self.inner.decisions
    }

    /// The feedback log, when feedback is on.
    pub fn feedback_log(&self) -> Option<Arc<FeedbackLog>> {
        self.inner.feedback.clone()
    }

    /// The proxy's decision log, when one is kept.
    pub fn decision_log(&self) -> Option<Arc<FeedbackLog>> {
        self.inner.decision_log.clone()
    }

    /// The proxy's outbound HTTP client (connection pool shared by every request); 503 when the server
    /// is not a proxy.
    pub fn proxy_client(&self) -> Result<reqwest::Client> {
        if let Some(c) = self.inner.proxy_client.get() {
            return Ok(c.clone());
        }
        let proxy = self.inner.config.proxy.as_ref().ok_or(Error::Unavailable)?;
        let client = crate::upstream::client(proxy.connect_timeout, proxy.idle_timeout)?;
        Ok(self.inner.proxy_client.get_or_init(|| client).clone())
    }

    /// The embedding cache.
    pub fn cache(&self) -> &EmbedCache {
        &self.inner.cache
    }

    /// Embeds prompts (cache first, the rest through the queue) before `deadline`, in order.
    pub async fn embed(
        &self,
        prompts: Vec<String>,
        deadline: Instant,
    ) -> Result<Vec<Arc<Embedding>>> {
        let inference = self.inner.inference.get().ok_or(Error::Unavailable)?;
        let keys: Vec<[u8; 32]> = prompts.iter().map(|p| EmbedCache::key(p)).collect();
        let mut out: Vec<Option<Arc<Embedding>>> =
            keys.iter().map(|k| self.cache().get(k)).collect();
        let missing: Vec<usize> = (0..prompts.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let mut prompts = prompts;
            let texts: Vec<String> = missing
                .iter()
                .map(|&i| std::mem::take(&mut prompts[i]))
                .collect();
            let embedded = inference.embed(texts, deadline).await?;
            for (&i, e) in missing.iter().zip(embedded) {
                let e = Arc::new(e);
                self.cache().put(keys[i], Arc::clone(&e));
                out[i] = Some(e);
            }
        }
        out.into_iter()
            .map(|e| e.ok_or_else(|| Error::inference("a prompt was left unembedded")))
            .collect()
    }
}
