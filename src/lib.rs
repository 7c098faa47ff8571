//! triage: labels a prompt's domain and difficulty from its embedding, and routes it to the provider that
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
//! costs least at the quality the caller needs, using a table learned from real outcome data.

pub mod batch;
pub mod brain;
pub mod cli;
pub mod embedding;
pub mod error;
pub mod files;
pub mod labels;
pub mod routing;
pub mod server;
pub mod training;

use embedding::{CandleEmbedder, ModelSource};
use error::Result;

/// Finds (or fetches) the model and loads the embedder: the native CPU engine on `settings.threads` threads,
/// or candle's tensor engine on CUDA (and on the CPU with `TRIAGE_ENGINE=candle`).
pub fn load_embedder(settings: &cli::Settings) -> Result<CandleEmbedder> {
    let device = settings.device.open()?;
    let (files, source) = embedding::acquire::acquire(&settings.model_cache)?;
    if source != ModelSource::Cache {
        tracing::info!(?source, cache = %settings.model_cache.display(), "embedding model installed");
    }
    let kind = embedding::EngineKind::for_device(&device, settings.threads);
    CandleEmbedder::load_engine(&files, &device, kind)
}

/// Caps the CPU thread pools (rayon, which candle and gemm use) at `threads`. Call before any inference.
pub fn configure_threads(threads: usize) {
    // candle reads RAYON_NUM_THREADS on every matmul; setting it once avoids re-probing the CPU count each time.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    // Another caller (a test harness) may have built the global pool already; that is fine.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
}
