//! Hot reload of the trained artifacts and the price registry.
//!
//! A retrain writes `heads.json` and `table.json`, then `manifest.json` last (with their hashes), so the
//! reloader watches the manifest's content, plus `providers.toml`, whose price edits need no retrain. When
//! either changes (or on SIGHUP), the brain is loaded off the async threads and swapped in atomically:
//! requests in flight finish with the brain they started with. A failed load (files half-written, edited by
//! hand, wrong format) keeps the current brain, is logged once per version, and is retried when the files
//! change again.

use super::metrics::RELOADS;
use super::state::AppState;
use crate::artifacts::{ArtifactSource, MANIFEST_FILE, REGISTRY_FILE};
use crate::brain::Brain;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What identifies a version of the models folder: the hash of the manifest and registry contents.
pub type Fingerprint = [u8; 32];

/// Hashes the manifest and the registry (a missing file hashes as absent); the embedded artifacts never
/// change, so they have one fixed fingerprint.
pub fn fingerprint(source: &ArtifactSource) -> Fingerprint {
    let mut h = Sha256::new();
    let Some(dir) = source.dir() else {
        return h.finalize().into();
    };
    for name in [MANIFEST_FILE, REGISTRY_FILE] {
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => {
                h.update([1u8]);
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Err(_) => h.update([0u8]),
        }
    }
    h.finalize().into()
}

/// Remembers which version is loaded and which one failed.
pub struct Reloader {
    source: ArtifactSource,
    loaded: Option<Fingerprint>,
    failed: Option<Fingerprint>,
}

impl Reloader {
    /// A reloader for `source` that has loaded nothing yet.
    pub fn new(source: ArtifactSource) -> Self {
        Self {
            source,
            loaded: None,
            failed: None,
        }
    }

    /// Whether the folder differs from what is loaded and from the last version that failed.
    pub fn changed(&self) -> bool {
        let now = fingerprint(&self.source);
        self.loaded != Some(now) && self.failed != Some(now)
    }

    /// Loads the folder's brain and installs it into `state`. With `force` a version that failed before is
    /// tried again (SIGHUP); otherwise its failure is not logged twice.
    pub async fn reload(&mut self, state: &AppState, force: bool) -> Result<()> {
        let before = fingerprint(&self.source);
        let source = self.source.clone();
        let defaults = state.config().defaults.clone();
        let loaded = tokio::task::spawn_blocking(move || Brain::load(&source, defaults))
            .await
            .map_err(|e| Error::Artifacts(format!("loading task failed: {e}")))?;
        match loaded {
            Ok(brain) => {
                let created = brain.manifest.created_unix;
                state.install_brain(brain);
                // If the files changed while loading, the next check loads them again.
                self.loaded = Some(before);
                self.failed = None;
                metrics::counter!(RELOADS, "result" => "ok").increment(1);
                tracing::info!(artifacts = %self.source.describe(), created_unix = created, "artifacts loaded");
                Ok(())
            }
            Err(e) => {
                metrics::counter!(RELOADS, "result" => "failed").increment(1);
                if force || self.failed != Some(before) {
                    if state.has_brain() {
                        tracing::error!(error = %e, "new artifacts failed to load; still serving the previous ones");
                    } else {
                        tracing::error!(error = %e, "artifacts failed to load");
                    }
                }
                self.failed = Some(before);
                Err(e)
            }
        }
    }
}

/// Polls the models folder every `interval` (never when zero) and reloads on SIGHUP, until `stop` fires.
pub async fn watch(state: AppState, interval: Duration, stop: tokio::sync::watch::Receiver<bool>) {
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
        // Errors are logged by the reloader; the current brain stays.
        let _ = state.reload(force).await;
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
