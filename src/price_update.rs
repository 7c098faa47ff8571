//! `triage prices update`: refreshes the vendored LiteLLM price map of a models folder from the installed
//! `litellm` Python package or a given file, after checking that it still prices every `price_key` of the
//! folder's registry.

use crate::artifacts::{ArtifactSource, MANIFEST_FILE, REGISTRY_FILE};
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::routing::prices::{PriceMap, LITELLM_PRICES_FILE};
use crate::routing::ProviderRegistry;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Provenance of the vendored copy, written beside it.
pub const SOURCE_FILE: &str = "litellm-prices.source.json";

/// Where the new price map comes from.
#[derive(Debug, Clone)]
pub enum PriceSource {
    /// A file in LiteLLM's format.
    File(PathBuf),
    /// The `litellm` package installed for this Python interpreter.
    InstalledLitellm { python: String },
}

/// What an update did.
#[derive(Debug, Clone)]
pub struct UpdateOutcome {
    pub written: PathBuf,
    pub models: usize,
    pub from: String,
}

/// Asks `python` where the installed `litellm` package keeps its price map, and its version, without
/// importing the package (`find_spec` only locates it; importing litellm takes seconds).
fn locate_installed(python: &str) -> Result<(PathBuf, String)> {
    const SCRIPT: &str = "import importlib.util, importlib.metadata, pathlib\n\
        s = importlib.util.find_spec('litellm')\n\
        if s is None or s.origin is None: raise SystemExit('the litellm package is not installed for this python')\n\
        print(pathlib.Path(s.origin).parent / 'model_prices_and_context_window_backup.json')\n\
        print(importlib.metadata.version('litellm'))\n";
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .output()
        .map_err(|e| Error::io("running", python, e))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Usage(format!(
            "cannot find LiteLLM's price map through `{python}`: {} (install it with `{python} -m pip install litellm`, or pass --from FILE)",
            why.trim().lines().last().unwrap_or("no output")
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(path), Some(version)) => Ok((PathBuf::from(path.trim()), version.trim().to_string())),
        _ => Err(Error::Usage(format!(
            "unexpected answer from `{python}` when locating litellm: {text}"
        ))),
    }
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the system clock.
fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Replaces `dir`'s price map with the one from `source`. A folder without artifacts first gets the
/// embedded ones (so the per-user folder of an installed triage starts from the shipped registry). The
/// new map must price every `price_key` of the folder's registry, unless `force`.
pub fn update(dir: &Path, source: &PriceSource, force: bool) -> Result<UpdateOutcome> {
    let (path, from) = match source {
        PriceSource::File(p) => (p.clone(), p.display().to_string()),
        PriceSource::InstalledLitellm { python } => {
            let (p, version) = locate_installed(python)?;
            let from = format!("litellm {version} (installed package), {}", p.display());
            (p, from)
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let map = PriceMap::from_json_str(&text, &path.display().to_string())?;

    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    if !dir.join(MANIFEST_FILE).is_file() {
        ArtifactSource::Embedded.copy_to(dir)?;
    }
    let registry_path = dir.join(REGISTRY_FILE);
    if registry_path.is_file() {
        let registry_text = std::fs::read_to_string(&registry_path)
            .map_err(|e| Error::io("reading", &registry_path, e))?;
        // Read with the new map standing in for the price file, so every key is checked against it.
        let registry = ProviderRegistry::from_toml_with_prices(
            &registry_text,
            &registry_path.display().to_string(),
            |_| Ok(text.clone()),
        );
        if let Err(e) = registry {
            if !force {
                return Err(Error::Usage(format!(
                    "not replacing {}: with the new price map, {e} (fix the registry's price_key, or pass --force)",
                    dir.join(LITELLM_PRICES_FILE).display()
                )));
            }
            tracing::warn!(error = %e, "the registry does not load with the new price map; replacing it anyway (--force)");
        }
    }
    let written = dir.join(LITELLM_PRICES_FILE);
    write_atomic(&written, text.as_bytes())?;
    let provenance = serde_json::json!({
        "from": from,
        "retrieved": today_utc(),
        "license": "MIT (LiteLLM; see litellm-prices.LICENSE in the repository's models/)",
        "models_with_token_prices": map.len(),
    });
    let provenance = serde_json::to_vec_pretty(&provenance).map_err(|e| Error::Json {
        what: "the price map's provenance",
        source: e,
    })?;
    write_atomic(&dir.join(SOURCE_FILE), &provenance)?;
    Ok(UpdateOutcome {
        written,
        models: map.len(),
        from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_a_plausible_date() {
        let d = today_utc();
        assert_eq!(d.len(), 10, "{d}");
        assert!(
            d.as_str() >= "2024-01-01" && d.as_str() < "2200-01-01",
            "{d}"
        );
    }

    fn map_with(keys: &[&str]) -> String {
        let entries: Vec<String> = keys
            .iter()
            .map(|k| format!("\"{k}\": {{\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06}}"))
            .collect();
        format!("{{{}}}", entries.join(", "))
    }

    #[test]
    fn update_replaces_the_map_only_when_the_registry_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join(MANIFEST_FILE), "{}").unwrap();
        std::fs::write(
            models.join(REGISTRY_FILE),
            "price_file = \"litellm-prices.json\"\n[[provider]]\nname = \"a\"\nprice_key = \"k1\"\n",
        )
        .unwrap();
        std::fs::write(models.join(LITELLM_PRICES_FILE), map_with(&["k1"])).unwrap();

        // A map without k1 is refused and the old one stays.
        let new = dir.path().join("new.json");
        std::fs::write(&new, map_with(&["k2"])).unwrap();
        let err = update(&models, &PriceSource::File(new.clone()), false).unwrap_err();
        assert!(err.to_string().contains("k1"), "{err}");
        let kept = std::fs::read_to_string(models.join(LITELLM_PRICES_FILE)).unwrap();
        assert!(kept.contains("k1"));
        // --force replaces it.
        update(&models, &PriceSource::File(new), true).unwrap();
        let now = std::fs::read_to_string(models.join(LITELLM_PRICES_FILE)).unwrap();
        assert!(now.contains("k2"));

        // A map with k1 loads, and the registry then prices `a` from it.
        let good = dir.path().join("good.json");
        std::fs::write(&good, map_with(&["k1", "k3"])).unwrap();
        let out = update(&models, &PriceSource::File(good), false).unwrap();
        assert_eq!(out.models, 2);
        let r = ProviderRegistry::load(&models.join(REGISTRY_FILE)).unwrap();
        let a = r.get("a").unwrap();
        assert_eq!(
            (a.input_usd_per_mtok, a.output_usd_per_mtok),
            (Some(1.0), Some(2.0))
        );
        let provenance: serde_json::Value =
            serde_json::from_slice(&std::fs::read(models.join(SOURCE_FILE)).unwrap()).unwrap();
        assert_eq!(provenance["models_with_token_prices"], 2);

        // Not a price map: refused before anything is touched.
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "[]").unwrap();
        assert!(update(&models, &PriceSource::File(bad), true).is_err());
    }

    #[test]
    fn a_folder_without_artifacts_starts_from_the_embedded_ones() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("fresh");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/models/litellm-prices.json");
        update(&models, &PriceSource::File(PathBuf::from(src)), false).unwrap();
        for f in [
            MANIFEST_FILE,
            REGISTRY_FILE,
            LITELLM_PRICES_FILE,
            SOURCE_FILE,
        ] {
            assert!(models.join(f).is_file(), "{f}");
        }
        let r = ProviderRegistry::load(&models.join(REGISTRY_FILE)).unwrap();
        assert!(r
            .get("gpt-4o-2024-08-06")
            .unwrap()
            .input_usd_per_mtok
            .is_some());
    }
}
