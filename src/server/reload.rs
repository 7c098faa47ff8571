//! The brain in service and its hot reload: the trained artifacts and the price registry.
//!
//! A retrain writes `heads.json` and `table.json`, then `manifest.json` last (with their hashes), so the
//! reloader watches the manifest's content, plus `providers.toml` and the price file it names, whose price
//! edits need no retrain. When one changes (or on SIGHUP), the brain is loaded off the async threads and
//! swapped in atomically:
//! requests in flight finish with the brain they started with. A failed load (files half-written, edited by
//! hand, wrong format) keeps the current brain, is logged once per version, and is retried when the files
//! change again.

use super::metrics::RELOADS;
use crate::artifacts::{ArtifactSource, MANIFEST_FILE, REGISTRY_FILE};
use crate::brain::Brain;
use crate::error::{Error, Result};
use crate::routing::{ProviderRegistry, RouteOptions};
use sha2::{Digest, Sha256};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// What identifies a version of the models folder: the hash of the manifest, registry and price file.
pub type Fingerprint = [u8; 32];

/// Hashes the manifest, the registry and its price file (a missing file hashes as absent); the embedded artifacts never
/// change, so they have one fixed fingerprint.
pub fn fingerprint(source: &ArtifactSource) -> Fingerprint {
    let mut h = Sha256::new();
    let Some(dir) = source.dir() else {
        return h.finalize().into();
    };
    let mut hash_file = |name: &str| -> Option<Vec<u8>> {
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => {
                h.update([1u8]);
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
                Some(bytes)
            }
            Err(_) => {
                h.update([0u8]);
                None
            }
        }
    };
    hash_file(MANIFEST_FILE);
    // The registry, and the price file it names: `triage prices update` changes only the latter.
    let price_file = hash_file(REGISTRY_FILE)
        .and_then(|bytes| ProviderRegistry::price_file_named_in(&String::from_utf8_lossy(&bytes)));
    if let Some(name) = price_file {
        hash_file(&name);
    }
    h.finalize().into()
}

/// The brain in service and what replaces it: the only place a brain is swapped in.
pub struct BrainSlot {
    source: ArtifactSource,
    defaults: RouteOptions,
    current: RwLock<Option<Arc<Brain>>>,
    versions: tokio::sync::Mutex<Versions>,
}

/// Which version of the folder is loaded and which one failed.
#[derive(Default)]
struct Versions {
    loaded: Option<Fingerprint>,
    failed: Option<Fingerprint>,
}

impl BrainSlot {
    /// An empty slot for the artifacts of `source`, whose brains get `defaults` as routing defaults.
    pub fn new(source: ArtifactSource, defaults: RouteOptions) -> Self {
        Self {
            source,
            defaults,
            current: RwLock::new(None),
            versions: tokio::sync::Mutex::new(Versions::default()),
        }
    }

    /// The brain in service (503 until one is loaded).
    pub fn current(&self) -> Result<Arc<Brain>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(Error::Unavailable)
    }

    /// Swaps in `brain`; requests already holding the old one finish with it.
    pub fn install(&self, brain: Brain) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(brain));
    }

    /// Checks the folder and loads its brain when it changed (always, with `force`: SIGHUP tries a
    /// version that failed before again, and the first load); a failed load keeps the current brain
    /// and is returned. True when a new brain went in.
    pub async fn reload(&self, force: bool) -> Result<bool> {
        let mut versions = self.versions.lock().await;
        let before = fingerprint(&self.source);
        if !force && (versions.loaded == Some(before) || versions.failed == Some(before)) {
            return Ok(false);
        }
        let source = self.source.clone();
        let defaults = self.defaults.clone();
        let loaded = tokio::task::spawn_blocking(move || Brain::load(&source, defaults))
            .await
            .map_err(|e| Error::Artifacts(format!("loading task failed: {e}")))?;
        match loaded {
            Ok(brain) => {
                let created = brain.manifest.created_unix;
                let unset = brain.unset_keys();
                if !unset.is_empty() {
                    tracing::warn!(
                        providers = %unset.join(", "),
                        "API key variables unset: the proxy excludes these providers from routing"
                    );
                }
                self.install(brain);
                // If the files changed while loading, the next check loads them again.
                versions.loaded = Some(before);
                versions.failed = None;
                metrics::counter!(RELOADS, "result" => "ok").increment(1);
                tracing::info!(artifacts = %self.source.describe(), created_unix = created, "artifacts loaded");
                Ok(true)
            }
            Err(e) => {
                metrics::counter!(RELOADS, "result" => "failed").increment(1);
                if force || versions.failed != Some(before) {
                    if self.current().is_ok() {
                        tracing::error!(error = %e, "new artifacts failed to load; still serving the previous ones");
                    } else {
                        tracing::error!(error = %e, "artifacts failed to load");
                    }
                }
                versions.failed = Some(before);
                Err(e)
            }
        }
    }
}

/// Polls the models folder every `interval` (never when zero) and reloads on SIGHUP, until `stop` fires.
pub async fn watch(
    slot: Arc<BrainSlot>,
    interval: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut stop = stop;
    let mut hangups = hangup_stream();
    let mut ticker = (!interval.is_zero()).then(|| {
        // The first check comes one interval after start: the initial load is the server's own.
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let force = tokio::select! {
            _ = stop.changed() => return,
            _ = async {
                match ticker.as_mut() {
                    Some(t) => { t.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => false,
            got = next_hangup(&mut hangups) => {
                if !got {
                    hangups = None;
                    continue;
                }
                tracing::info!("SIGHUP: reloading artifacts");
                true
            }
        };
        if *stop.borrow() {
            return;
        }
        // Errors are logged by the slot; the current brain stays.
        let _ = slot.reload(force).await;
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangup_stream() -> Hangups {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_stream() -> Hangups {
    None
}

/// Waits for the next SIGHUP; false when no more can come.
async fn next_hangup(hangups: &mut Hangups) -> bool {
    #[cfg(unix)]
    {
        match hangups {
            Some(s) => s.recv().await.is_some(),
            None => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = hangups;
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_price_file_the_registry_names() {
        let dir = tempfile::tempdir().unwrap();
        let source = ArtifactSource::Dir(dir.path().to_path_buf());
        std::fs::write(dir.path().join(MANIFEST_FILE), "{}").unwrap();
        std::fs::write(dir.path().join(REGISTRY_FILE), "price_file = \"p.json\"\n").unwrap();
        std::fs::write(dir.path().join("p.json"), "{\"a\": 1}").unwrap();
        let before = fingerprint(&source);
        assert_eq!(before, fingerprint(&source));
        std::fs::write(dir.path().join("p.json"), "{\"a\": 2}").unwrap();
        assert_ne!(before, fingerprint(&source));
        // A file the registry does not name is not watched.
        let named = fingerprint(&source);
        std::fs::write(dir.path().join("other.json"), "{}").unwrap();
        assert_eq!(named, fingerprint(&source));
    }
}
