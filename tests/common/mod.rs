//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use triage::cli::Settings;
use triage::embedding::{DeviceChoice, EmbedderSettings, EngineChoice, KernelChoice};

/// The project's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Settings as the binary resolves them by default, rooted at the project folder.
pub fn settings() -> Settings {
    let models_dir = std::env::var_os("TRIAGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models"));
    Settings {
        embedder: EmbedderSettings {
            model_cache: triage::embedding::acquire::resolve_cache_dir(
                std::env::var_os("TRIAGE_MODEL_CACHE")
                    .map(PathBuf::from)
                    .as_deref(),
                &models_dir,
            ),
            device: DeviceChoice::Cpu,
            threads: 2,
            engine: EngineChoice::Native,
            kernels: KernelChoice::Fused,
        },
        models_dir,
        training_data: root().join("training-data"),
        probe: root().join("probe"),
    }
}
