//! The artifact format: `heads.json`, `table.json` and `manifest.json` in the models folder — what they
//! hold, their hashes, loading and atomic writing. Training writes them; the brain and the server read
//! them (and never the training code).
//!
//! Each file is written atomically (temporary file + rename), heads and table first and the manifest
//! last; the manifest records the sha256 of the other two, so a reader never mixes a new table with old
//! heads: a mismatch is reported as an inconsistent (or still being written) set. The manifest also names
//! the embedding model the heads were fitted on; a loader refuses artifacts made for another model.

use crate::error::{Error, Result};
use crate::files::{hex, write_atomic};
use crate::labels::Heads;
use crate::routing::RoutingTable;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const HEADS_FILE: &str = "heads.json";
pub const TABLE_FILE: &str = "table.json";
pub const MANIFEST_FILE: &str = "manifest.json";
/// The price registry in the models folder (optional: the table's own prices when absent).
pub const REGISTRY_FILE: &str = "providers.toml";
/// Version of the artifact format; a loader refuses other versions.
pub const FORMAT_VERSION: u32 = 2;

/// How finely the routing table splits prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One category per domain.
    Domain,
    /// One category per source task with enough rows, the rest pooled by domain.
    Task,
}

/// Settings of one fit, chosen by cross-validation on the training split (recorded in the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitSettings {
    pub granularity: Granularity,
    pub pseudo_count: f32,
    /// A task becomes its own category only with at least this many training rows with outcomes.
    pub min_category_rows: usize,
}

/// What was trained, on what, and how well it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub created_unix: u64,
    /// The embedding model the heads read (`Embedder::model_id`); checked at load.
    pub model_id: String,
    /// sha256 over the training files' names and contents.
    pub data_sha256: String,
    pub data_files: Vec<String>,
    pub rows: usize,
    pub train_rows: usize,
    pub held_out_rows: usize,
    pub settings: FitSettings,
    /// Cross-validated AIQ gain of each candidate setting (train split only).
    pub cross_validation: Vec<(FitSettings, f64)>,
    /// Default `max_quality_drop` chosen by cross-validation on the training split (used when the operator
    /// sets no routing target).
    #[serde(default)]
    pub recommended_max_quality_drop: Option<f32>,
    /// The held-out report (see `training::evaluate::Report`).
    pub metrics: serde_json::Value,
    pub training_seconds: f64,
    pub heads_sha256: String,
    pub table_sha256: String,
}

/// Where a brain's artifacts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactSource {
    /// The shipped artifacts, compiled into the binary (`models/` at build time).
    Embedded,
    /// A models folder (`--models-dir`, or the per-user data folder a retrain wrote).
    Dir(PathBuf),
}

/// The shipped artifacts, compiled in: the binary works from any directory with no files beside it.
mod embedded {
    pub const HEADS: &[u8] = include_bytes!("../models/heads.json");
    pub const TABLE: &[u8] = include_bytes!("../models/table.json");
    pub const MANIFEST: &[u8] = include_bytes!("../models/manifest.json");
    pub const REGISTRY: &str = include_str!("../models/providers.toml");
    /// The vendored LiteLLM price map the shipped registry names (`price_file`).
    pub const LITELLM_PRICES: &str = include_str!("../models/litellm-prices.json");
}

impl ArtifactSource {
    /// `--models-dir` when given; else the per-user models folder when a retrain wrote one there; else
    /// the embedded artifacts.
    pub fn resolve(models_dir: Option<&Path>) -> Self {
        match models_dir {
            Some(dir) => ArtifactSource::Dir(dir.to_path_buf()),
            None => match user_models_dir() {
                Some(dir) if dir.join(MANIFEST_FILE).is_file() => ArtifactSource::Dir(dir),
                _ => ArtifactSource::Embedded,
            },
        }
    }

    /// The folder, when the artifacts are files.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            ArtifactSource::Embedded => None,
            ArtifactSource::Dir(d) => Some(d),
        }
    }

    /// The price registry text of this source, if it has one (`providers.toml`).
    pub fn registry_text(&self) -> Result<Option<(String, String)>> {
        match self {
            ArtifactSource::Embedded => Ok(Some((
                embedded::REGISTRY.to_string(),
                "embedded providers.toml".into(),
            ))),
            ArtifactSource::Dir(dir) => {
                let path = dir.join(REGISTRY_FILE);
                match std::fs::read_to_string(&path) {
                    Ok(text) => Ok(Some((text, path.display().to_string()))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io("reading", path, e)),
                }
            }
        }
    }

    /// Writes the embedded artifacts, registry and price map into `dir` (each file atomically), so a
    /// folder can start from the shipped state. A folder source is refused: copy folders with `cp`.
    pub fn copy_to(&self, dir: &Path) -> Result<()> {
        if let ArtifactSource::Dir(d) = self {
            return Err(Error::Usage(format!(
                "copy_to only copies the embedded artifacts, not {}",
                d.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        for (name, bytes) in [
            (HEADS_FILE, embedded::HEADS),
            (TABLE_FILE, embedded::TABLE),
            (REGISTRY_FILE, embedded::REGISTRY.as_bytes()),
            (
                crate::routing::prices::LITELLM_PRICES_FILE,
                embedded::LITELLM_PRICES.as_bytes(),
            ),
            // Last: a folder with a manifest is a complete models folder.
            (MANIFEST_FILE, embedded::MANIFEST),
        ] {
            crate::files::write_atomic(&dir.join(name), bytes)?;
        }
        Ok(())
    }

    /// The text of a file the registry names (its `price_file`): beside `providers.toml` in a folder; for
    /// the embedded artifacts, only the vendored price map.
    pub fn registry_companion(&self, name: &str) -> Result<String> {
        match self {
            ArtifactSource::Embedded if name == crate::routing::prices::LITELLM_PRICES_FILE => {
                Ok(embedded::LITELLM_PRICES.to_string())
            }
            ArtifactSource::Embedded => Err(Error::Usage(format!(
                "embedded providers.toml: price_file `{name}` is not compiled in (only {})",
                crate::routing::prices::LITELLM_PRICES_FILE
            ))),
            ArtifactSource::Dir(dir) => {
                let path = dir.join(name);
                std::fs::read_to_string(&path).map_err(|e| Error::io("reading", path, e))
            }
        }
    }

    /// This source's own `providers.toml` (with its price file); `None` when a folder has none.
    pub fn own_registry(&self) -> Result<Option<crate::routing::ProviderRegistry>> {
        self.registry_text()?
            .map(|(text, origin)| {
                crate::routing::ProviderRegistry::from_toml_with_prices(&text, &origin, |name| {
                    self.registry_companion(name)
                })
            })
            .transpose()
    }

    /// The price registry serving uses with `table`: this source's `providers.toml` (with its price
    /// file), else the table's own prices with every provider enabled.
    pub fn registry(&self, table: &RoutingTable) -> Result<crate::routing::ProviderRegistry> {
        match self.own_registry()? {
            Some(registry) => Ok(registry),
            None => {
                tracing::info!(
                    "no provider registry; using the routing table's prices with every provider enabled"
                );
                Ok(crate::routing::ProviderRegistry::from_table_defaults(table))
            }
        }
    }

    /// One line saying which artifacts these are: `embedded (data sha256 …)` or `FOLDER (data sha256 …)`.
    pub fn describe(&self) -> String {
        let hash = |bytes: &[u8]| {
            serde_json::from_slice::<Manifest>(bytes)
                .map(|m| m.data_sha256.chars().take(16).collect::<String>())
                .unwrap_or_else(|_| "unreadable manifest".into())
        };
        match self {
            ArtifactSource::Embedded => {
                format!("embedded (data sha256 {})", hash(embedded::MANIFEST))
            }
            ArtifactSource::Dir(dir) => match std::fs::read(dir.join(MANIFEST_FILE)) {
                Ok(bytes) => format!("{} (data sha256 {})", dir.display(), hash(&bytes)),
                Err(_) => format!("{} (no manifest)", dir.display()),
            },
        }
    }
}

/// The per-user folder `--retrain` writes to when no `--models-dir` is given:
/// `$XDG_DATA_HOME/triage/models`, else `~/.local/share/triage/models`.
pub fn user_models_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?)
            .join(".local")
            .join("share"),
    };
    Some(base.join("triage").join("models"))
}

/// A loaded, consistent set of artifacts.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub heads: Heads,
    pub table: RoutingTable,
    pub manifest: Manifest,
}

fn sha(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| Error::io("reading", path, e))
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8], name: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Artifacts(format!("{name}: {e}")))
}

/// Loads and cross-checks the artifacts of `source`, made for the embedding model `model_id`.
pub fn load_from(source: &ArtifactSource, model_id: &str) -> Result<Artifacts> {
    match source {
        ArtifactSource::Dir(dir) => load(dir, model_id),
        ArtifactSource::Embedded => check(
            embedded::MANIFEST,
            embedded::HEADS,
            embedded::TABLE,
            "the embedded artifacts",
            model_id,
        ),
    }
}

/// Loads and cross-checks the artifacts of `dir`, made for the embedding model `model_id`.
pub fn load(dir: &Path, model_id: &str) -> Result<Artifacts> {
    let manifest_bytes = read(dir, MANIFEST_FILE)?;
    let heads_bytes = read(dir, HEADS_FILE)?;
    let table_bytes = read(dir, TABLE_FILE)?;
    check(
        &manifest_bytes,
        &heads_bytes,
        &table_bytes,
        &dir.display().to_string(),
        model_id,
    )
}

/// Parses and cross-checks one set of artifact bytes (`origin` names them in errors).
fn check(
    manifest_bytes: &[u8],
    heads_bytes: &[u8],
    table_bytes: &[u8],
    origin: &str,
    model_id: &str,
) -> Result<Artifacts> {
    let manifest: Manifest = parse(manifest_bytes, MANIFEST_FILE)?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(Error::Artifacts(format!(
            "{MANIFEST_FILE} has format version {}, this triage reads {FORMAT_VERSION}; retrain",
            manifest.format_version
        )));
    }
    if manifest.model_id != model_id {
        return Err(Error::Artifacts(format!(
            "the artifacts in {} were made for the embedding model `{}`, but this triage embeds with `{model_id}`; retrain",
            origin,
            manifest.model_id
        )));
    }
    if sha(heads_bytes) != manifest.heads_sha256 || sha(table_bytes) != manifest.table_sha256 {
        return Err(Error::Artifacts(format!(
            "{HEADS_FILE}/{TABLE_FILE} in {origin} do not match {MANIFEST_FILE} (being written, or edited by hand); retrain"
        )));
    }
    let heads: Heads = parse(heads_bytes, HEADS_FILE)?;
    let table: RoutingTable = parse(table_bytes, TABLE_FILE)?;
    check_consistent(&heads, &table)?;
    Ok(Artifacts {
        heads,
        table,
        manifest,
    })
}

/// The heads and table must describe the same categories and feature width.
pub fn check_consistent(heads: &Heads, table: &RoutingTable) -> Result<()> {
    if heads.category.classes != table.categories {
        return Err(Error::Artifacts(
            "category head and routing table list different categories".into(),
        ));
    }
    // Every product the heads compute (`labels`) relies on these shapes.
    let head_ok = |h: &crate::labels::SoftmaxHead, width: usize| {
        h.weights.ncols() == width
            && h.weights.nrows() == h.classes.len()
            && h.bias.len() == h.classes.len()
    };
    if heads.feature_dim != crate::labels::FEATURE_DIM
        || !head_ok(&heads.domain.head, heads.domain.input.width())
        || !head_ok(&heads.category, heads.category_input.width())
        || heads.difficulty.weights.len() != heads.feature_dim
        || heads.domain.head.classes.len() != heads.domain.class_domain.len()
        || heads
            .domain
            .class_domain
            .iter()
            .any(|&d| d >= crate::routing::DOMAINS.len())
    {
        return Err(Error::Artifacts("heads have the wrong shape".into()));
    }
    Ok(())
}

/// Writes heads, table, then the manifest (with their hashes), each atomically.
pub fn save(dir: &Path, heads: &Heads, table: &RoutingTable, mut manifest: Manifest) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let heads_bytes = json_bytes(heads)?;
    let table_bytes = json_bytes(table)?;
    manifest.heads_sha256 = sha(&heads_bytes);
    manifest.table_sha256 = sha(&table_bytes);
    manifest.format_version = FORMAT_VERSION;
    write_atomic(&dir.join(HEADS_FILE), &heads_bytes)?;
    write_atomic(&dir.join(TABLE_FILE), &table_bytes)?;
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Artifacts(format!("serializing manifest: {e}")))?;
    write_atomic(&dir.join(MANIFEST_FILE), &manifest_bytes)
}

/// Compact JSON (the heads are mostly floats; pretty-printing would triple their size).
fn json_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Artifacts(format!("serializing: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
    }

    #[test]
    fn artifacts_for_another_embedding_model_are_refused_naming_both() {
        let current = load(&shipped(), crate::embedding::MODEL_ID).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = current.manifest.clone();
        manifest.model_id = "e5-small-v2@0123456789abcdef".into();
        save(dir.path(), &current.heads, &current.table, manifest).unwrap();
        let err = load(dir.path(), crate::embedding::MODEL_ID).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Artifacts(_)), "{text}");
        assert!(
            text.contains("e5-small-v2@0123456789abcdef")
                && text.contains(crate::embedding::MODEL_ID),
            "{text}"
        );
        // The same files load for the model they were made for.
        assert!(load(dir.path(), "e5-small-v2@0123456789abcdef").is_ok());
    }

    #[test]
    fn a_domain_head_as_wide_as_its_declared_input_loads_and_no_other() {
        use crate::labels::DomainInput;
        let current = load(&shipped(), crate::embedding::MODEL_ID).unwrap();
        let mut heads = current.heads.clone();
        assert!(check_consistent(&heads, &current.table).is_ok());
        // The shipped head's width names its input; the other input's width is refused.
        let other = match heads.domain.input {
            DomainInput::Embedding => DomainInput::EmbeddingAndMidLayer,
            DomainInput::EmbeddingAndMidLayer => DomainInput::Embedding,
        };
        heads.domain.input = other;
        let err = check_consistent(&heads, &current.table).unwrap_err();
        assert!(err.to_string().contains("wrong shape"), "{err}");
        // A head written before the input was recorded reads the plain features.
        let mut json: serde_json::Value = serde_json::to_value(&current.heads.domain).unwrap();
        json.as_object_mut().unwrap().remove("input");
        let old: crate::labels::DomainHead = serde_json::from_value(json).unwrap();
        assert_eq!(old.input, DomainInput::Embedding);
    }

    #[test]
    fn a_manifest_that_does_not_match_its_files_is_refused() {
        let current = load(&shipped(), crate::embedding::MODEL_ID).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save(
            dir.path(),
            &current.heads,
            &current.table,
            current.manifest.clone(),
        )
        .unwrap();
        let mut table = current.table.clone();
        table.pseudo_count += 1.0;
        write_atomic(&dir.path().join(TABLE_FILE), &json_bytes(&table).unwrap()).unwrap();
        let err = load(dir.path(), crate::embedding::MODEL_ID).unwrap_err();
        assert!(err.to_string().contains("do not match"), "{err}");
    }
}
