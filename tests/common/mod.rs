//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use triage::artifacts::ArtifactSource;
use triage::cli::Settings;
use triage::embedding::{DeviceChoice, EmbedderSettings, EngineChoice, KernelChoice};

/// The project's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's models folder (the shipped artifacts the binary also embeds).
pub fn models_dir() -> PathBuf {
    std::env::var_os("TRIAGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models"))
}

/// The model cache the tests use: TRIAGE_MODEL_CACHE (scripts/test sets it), else the repository's
/// models/hub, where scripts/setup installs the model.
pub fn model_cache() -> PathBuf {
    std::env::var_os("TRIAGE_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models").join("hub"))
}

/// Settings as the binary resolves them, rooted at the project folder.
pub fn settings() -> Settings {
    Settings {
        embedder: EmbedderSettings {
            model_cache: model_cache(),
            device: DeviceChoice::Cpu,
            threads: 2,
            engine: EngineChoice::Native,
            kernels: KernelChoice::Fused,
            precision: triage::embedding::PrecisionChoice::Fp32,
        },
        artifacts: ArtifactSource::Dir(models_dir()),
        retrain_dir: Some(models_dir()),
        training_data: root().join("training-data"),
        probe: root().join("probe"),
        // Tests that post feedback give their own folder; nothing writes into the repository.
        feedback_dir: None,
        feedback_weight: triage::training::retrain::DEFAULT_FEEDBACK_WEIGHT,
        collected: Vec::new(),
    }
}

/// A small training set made for plumbing tests: every `every`-th row of each shipped training-data file
/// (all sources, domains and providers stay represented) and the price list, written into `dir`.
pub fn small_training_set(dir: &std::path::Path, every: usize) -> PathBuf {
    let from = root().join("training-data");
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl") => {
                let text = std::fs::read_to_string(&path).unwrap();
                let kept: String = text
                    .lines()
                    .step_by(every)
                    .flat_map(|l| [l, "\n"])
                    .collect();
                std::fs::write(dir.join(name), kept).unwrap();
            }
            Some("csv") => {
                std::fs::copy(&path, dir.join(name)).unwrap();
            }
            _ => {}
        }
    }
    dir.to_path_buf()
}

/// The cosine of two vectors, summed in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
