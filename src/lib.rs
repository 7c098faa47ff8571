//! triage: labels a prompt's domain and difficulty from its embedding, and routes it to the provider that
//! costs least at the quality the caller needs, using a table learned from real outcome data.
//!
//! Layers, top to bottom (an arrow is "may use"; `tests/layers.rs` enforces them):
//! `cli` → doors (`server`, `batch`, `training`, `price_update`) → `brain` → `labels`, `routing`, `artifacts` →
//! `embedding`; `input`, `reading`, `spelling`, `files` and `error` are shared by all. `routing` is pure Rust (no candle, tokio,
//! axum); `embedding` knows nothing of routing or the doors; serving reads `artifacts`, never `training`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod artifacts;
pub mod batch;
pub mod brain;
pub mod cli;
pub mod collect;
pub mod embedding;
pub mod error;
pub mod files;
pub mod input;
pub mod labels;
pub mod price_update;
pub mod reading;
pub mod routing;
pub mod server;
pub mod spelling;
pub mod training;
pub mod upstream;

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
