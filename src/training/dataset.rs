//! Reads training data: JSON Lines of prompts with per-provider outcomes, plus an optional providers.csv.
//!
//! The format is documented in training-data/README.md; it is also the format of a user's own logs.
//! Unknown keys are ignored; a malformed line is reported with its file and line number and skipped.

use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::routing::DOMAINS;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Token counts a provider reported for one query.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
pub struct TokenCounts {
    #[serde(default)]
    pub input: Option<f64>,
    #[serde(default)]
    pub output: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RawRecord {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    /// A stored embedding (feedback logs keep it instead of the text).
    #[serde(default)]
    embedding: Option<RawEmbedding>,
    #[serde(default)]
    outcomes: BTreeMap<String, f64>,
    #[serde(default)]
    cost_usd: BTreeMap<String, f64>,
    #[serde(default)]
    tokens: BTreeMap<String, TokenCounts>,
    #[serde(default)]
    level: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RawEmbedding {
    model: String,
    vector: Vec<f32>,
    /// Absent in records written before the mid-layer vector was kept.
    #[serde(default)]
    mid_layer: Vec<f32>,
    tokens: usize,
    full_tokens: usize,
    #[serde(default)]
    truncated: bool,
}

/// A source's human difficulty level: `value` on a 1..=`max` scale, a rank within its source only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanLevel {
    pub value: f64,
    pub max: f64,
}

impl HumanLevel {
    /// `{"value": v, "max": m}` with numbers `0 < v <= m`; anything else (null, a string, a bare
    /// number) carries no usable level.
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let value = v.get("value")?.as_f64()?;
        let max = v.get("max")?.as_f64()?;
        (value.is_finite() && max.is_finite() && value > 0.0 && value <= max)
            .then_some(Self { value, max })
    }

    /// Position on the source's scale, 0 (lowest level) to 1 (highest); 0 for a one-level scale.
    pub fn position(&self) -> f64 {
        if self.max > 1.0 {
            (self.value - 1.0) / (self.max - 1.0)
        } else {
            0.0
        }
    }
}

/// One validated training prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRecord {
    pub id: String,
    /// Data source; providers are only compared within one source.
    pub source: String,
    pub task: Option<String>,
    /// Index into `routing::DOMAINS`, when labelled.
    pub domain: Option<usize>,
    /// The prompt text; empty for a record that carries only its embedding.
    pub prompt: String,
    /// The stored embedding of a record without text (checked against the embedding model at use).
    pub embedding: Option<(String, Embedding)>,
    /// Weight of the record's outcomes in the routing table (1 for public data; the operator's own
    /// feedback weighs more, see `retrain`).
    pub weight: f64,
    /// From the operator's feedback logs (split by id; its held-out part is replayed by the retrain guard).
    pub feedback: bool,
    /// Outcome in [0,1] per provider measured on this prompt.
    pub outcomes: BTreeMap<String, f64>,
    /// Real cost of the query per provider, when the source recorded it.
    pub cost_usd: BTreeMap<String, f64>,
    /// Token counts per provider, when the source recorded them.
    pub tokens: BTreeMap<String, TokenCounts>,
    /// The source's human difficulty level, when it gives one.
    pub level: Option<HumanLevel>,
}

#[cfg(test)]
impl TrainingRecord {
    /// A record of `source` (also its id) with prompt "p", weight 1 and nothing else: tests set the
    /// fields they need over it.
    pub(crate) fn bare(source: &str) -> Self {
        Self {
            id: source.into(),
            source: source.into(),
            task: None,
            domain: None,
            prompt: "p".into(),
            embedding: None,
            weight: 1.0,
            feedback: false,
            outcomes: BTreeMap::new(),
            cost_usd: BTreeMap::new(),
            tokens: BTreeMap::new(),
            level: None,
        }
    }
}

/// A provider's price, $ per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
}

/// Everything read from a training-data folder.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub records: Vec<TrainingRecord>,
    /// Prices from providers.csv (empty when the folder has none).
    pub prices: BTreeMap<String, Price>,
    /// `file:line: problem` for every skipped line.
    pub problems: Vec<String>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

impl Dataset {
    /// Reads every `*.jsonl` (and `*.jsonl.gz`) file of `dir` in name order, and `dir/providers.csv` if present.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io("reading training data folder", dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.ends_with(".jsonl") || name.ends_with(".jsonl.gz")
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Usage(format!(
                "no .jsonl files in training data folder {}",
                dir.display()
            )));
        }
        let mut data = Dataset::default();
        for file in &files {
            data.read_jsonl(file)?;
        }
        data.files = files;
        let csv = dir.join("providers.csv");
        if csv.exists() {
            data.prices = read_prices(&csv, &mut data.problems)?;
        }
        let names = dir.join(MODEL_NAMES_FILE);
        if names.exists() {
            let renames = read_model_names(&names)?;
            data.merge_model_names(&renames);
        }
        Ok(data)
    }

    /// Files the outcomes, costs and tokens that a source recorded under another spelling of a model
    /// (`gpt4o`) under the provider's name (`gpt-4o-2024-05-13`), so one model is one provider. Where a
    /// record has both spellings, the provider's own value stays.
    pub fn merge_model_names(&mut self, renames: &BTreeMap<String, String>) {
        fn rename<V>(map: &mut BTreeMap<String, V>, renames: &BTreeMap<String, String>) {
            for (from, to) in renames {
                if let Some(v) = map.remove(from) {
                    map.entry(to.clone()).or_insert(v);
                }
            }
        }
        for r in &mut self.records {
            rename(&mut r.outcomes, renames);
            rename(&mut r.cost_usd, renames);
            rename(&mut r.tokens, renames);
        }
    }

    fn read_jsonl(&mut self, file: &Path) -> Result<()> {
        let name = file.display().to_string();
        let reader = crate::input::open(&name)?;
        let stem = file
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| {
                n.trim_end_matches(".gz")
                    .trim_end_matches(".jsonl")
                    .to_string()
            })
            .unwrap_or_default();
        for (i, line) in reader.split(b'\n').enumerate() {
            let line_no = i + 1;
            let bytes = line.map_err(|e| Error::io("reading", file, e))?;
            if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            match parse_record(&bytes, &stem, line_no) {
                Ok(r) => self.records.push(r),
                Err(msg) => self.problems.push(format!("{name}:{line_no}: {msg}")),
            }
        }
        Ok(())
    }

    /// Adds the operator's outcome logs: every `feedback*.jsonl` of `dir` (a missing folder adds nothing),
    /// each record weighing `weight` in the routing table. Torn or bad lines are skipped and reported.
    pub fn add_feedback(&mut self, dir: &Path, weight: f64) -> Result<usize> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(0);
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.starts_with("feedback") && name.ends_with(".jsonl")
            })
            .collect();
        files.sort();
        let before = self.records.len();
        for file in &files {
            self.read_jsonl(file)?;
        }
        for r in &mut self.records[before..] {
            r.weight = weight;
            r.feedback = true;
        }
        self.files.extend(files);
        Ok(self.records.len() - before)
    }

    /// Adds the outcomes of a `triage collect` run (`outcomes.jsonl`), each record weighing `weight` in
    /// the routing table and split by id, as feedback is (its held-out part is replayed by the retrain
    /// guard). A missing file is an error: the operator named it.
    pub fn add_collected(&mut self, file: &Path, weight: f64) -> Result<usize> {
        if !file.is_file() {
            return Err(Error::Usage(format!(
                "--collected: {} is not a collect output (no such file)",
                file.display()
            )));
        }
        let before = self.records.len();
        self.read_jsonl(file)?;
        for r in &mut self.records[before..] {
            r.weight = weight;
            r.feedback = true;
        }
        self.files.push(file.to_path_buf());
        Ok(self.records.len() - before)
    }

    /// Every provider that has at least one outcome, with the sources it was measured in.
    pub fn providers(&self) -> BTreeMap<String, std::collections::BTreeSet<String>> {
        let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for r in &self.records {
            for p in r.outcomes.keys() {
                out.entry(p.clone()).or_default().insert(r.source.clone());
            }
        }
        out
    }
}

fn parse_record(
    bytes: &[u8],
    default_source: &str,
    line: usize,
) -> std::result::Result<TrainingRecord, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())?;
    let raw: RawRecord = serde_json::from_str(text).map_err(|e| format!("invalid record: {e}"))?;
    let prompt = raw.prompt.unwrap_or_default();
    let embedding = match raw.embedding {
        Some(e) => {
            let model_width = |v: &[f32]| {
                v.len() == crate::embedding::EMBEDDING_DIM && v.iter().all(|x| x.is_finite())
            };
            if !model_width(&e.vector) {
                return Err(format!(
                    "embedding must be {} finite numbers, got {}",
                    crate::embedding::EMBEDDING_DIM,
                    e.vector.len()
                ));
            }
            if !(e.mid_layer.is_empty() || model_width(&e.mid_layer)) {
                return Err(format!(
                    "embedding's mid_layer must be absent or {} finite numbers, got {}",
                    crate::embedding::EMBEDDING_DIM,
                    e.mid_layer.len()
                ));
            }
            Some((
                e.model,
                Embedding {
                    vector: e.vector,
                    mid_layer: e.mid_layer,
                    tokens: e.tokens,
                    truncated: e.truncated,
                    full_tokens: e.full_tokens,
                },
            ))
        }
        None => None,
    };
    if prompt.trim().is_empty() && embedding.is_none() {
        return Err("empty prompt (and no embedding)".into());
    }
    for (p, v) in &raw.outcomes {
        if !v.is_finite() || !(0.0..=1.0).contains(v) {
            return Err(format!("outcome of `{p}` is {v}, not in [0,1]"));
        }
    }
    for (p, v) in &raw.cost_usd {
        if !v.is_finite() || *v < 0.0 {
            return Err(format!(
                "cost_usd of `{p}` is {v}, not a non-negative number"
            ));
        }
    }
    let domain = match raw.domain.as_deref() {
        None => None,
        Some(d) => Some(DOMAINS.iter().position(|x| *x == d).ok_or_else(|| {
            format!(
                "unknown domain `{d}` (expected one of {})",
                DOMAINS.join(", ")
            )
        })?),
    };
    let id = match raw.id {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => format!("{default_source}:{line}"),
    };
    Ok(TrainingRecord {
        id,
        source: raw.source.unwrap_or_else(|| default_source.to_string()),
        task: raw.task.filter(|t| !t.is_empty()),
        domain,
        prompt,
        embedding,
        weight: 1.0,
        feedback: false,
        outcomes: raw.outcomes,
        cost_usd: raw.cost_usd,
        tokens: raw.tokens,
        level: raw.level.as_ref().and_then(HumanLevel::from_json),
    })
}

#[derive(Debug, Deserialize)]
struct PriceRow {
    model: String,
    input_usd_per_mtok: f64,
    output_usd_per_mtok: f64,
}

/// The training-data file that names one model spelled differently by different sources: CSV with
/// `data_name,provider,why` (the source's spelling, the provider name it is filed under, and the evidence
/// that they are the same model).
pub const MODEL_NAMES_FILE: &str = "model-names.csv";

#[derive(Deserialize)]
struct ModelNameRow {
    data_name: String,
    provider: String,
    /// Required, so that every merge says why; not used by the program.
    #[serde(rename = "why")]
    _why: String,
}

/// Reads [`MODEL_NAMES_FILE`]: data name → provider name. A malformed row, a name mapped twice or a chain
/// (a provider that is itself renamed) is an error: a silent mistake would merge two models.
pub fn read_model_names(path: &Path) -> Result<BTreeMap<String, String>> {
    let bad = |msg: String| Error::Usage(format!("{}: {msg}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (i, row) in reader.deserialize::<ModelNameRow>().enumerate() {
        let row = row.map_err(|e| bad(format!("line {}: {e}", i + 2)))?;
        if row.data_name.trim().is_empty() || row.provider.trim().is_empty() {
            return Err(bad(format!("line {}: empty name", i + 2)));
        }
        if out.insert(row.data_name.clone(), row.provider).is_some() {
            return Err(bad(format!(
                "line {}: `{}` is named twice",
                i + 2,
                row.data_name
            )));
        }
    }
    if let Some(p) = out.values().find(|p| out.contains_key(*p)) {
        return Err(bad(format!("`{p}` is both a provider and a data name")));
    }
    Ok(out)
}

fn read_prices(path: &Path, problems: &mut Vec<String>) -> Result<BTreeMap<String, Price>> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    let mut prices = BTreeMap::new();
    for (i, row) in reader.deserialize::<PriceRow>().enumerate() {
        match row {
            Ok(r) if r.input_usd_per_mtok >= 0.0 && r.output_usd_per_mtok >= 0.0 => {
                prices.insert(
                    r.model,
                    Price {
                        input_usd_per_mtok: r.input_usd_per_mtok,
                        output_usd_per_mtok: r.output_usd_per_mtok,
                    },
                );
            }
            Ok(r) => problems.push(format!(
                "{}:{}: negative price for `{}`",
                path.display(),
                i + 2,
                r.model
            )),
            Err(e) => problems.push(format!("{}:{}: {e}", path.display(), i + 2)),
        }
    }
    Ok(prices)
}

/// Whether a record belongs to the held-out split: by its prompt text; by its id for feedback records
/// (the same prompt may be scored many times) and records without text.
pub fn record_is_held_out(r: &TrainingRecord) -> bool {
    if r.feedback || r.prompt.is_empty() {
        is_held_out(&r.id)
    } else {
        is_held_out(&r.prompt)
    }
}

/// Whether a prompt belongs to the held-out split: a stable hash of the prompt text, 20% held out.
/// (Salted, so it is independent of the hash the data's publishers used for their own private split.)
pub fn is_held_out(prompt: &str) -> bool {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"triage-split-v1\0")
        .chain_update(prompt.as_bytes())
        .finalize();
    u16::from_be_bytes([digest[0], digest[1]]) % 100 < 20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_reported_with_line_numbers_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("logs.jsonl"),
            concat!(
                "{\"prompt\": \"ok\", \"outcomes\": {\"a\": 1}, \"extra\": 5}\n",
                "not json\n",
                "\n",
                "{\"prompt\": \"x\", \"outcomes\": {\"a\": 1.5}}\n",
                "{\"prompt\": \"y\", \"domain\": \"cooking\"}\n",
                "{\"prompt\": \"z\", \"domain\": null, \"cost_usd\": {\"a\": 0.001}, \"id\": 9}\n",
            ),
        )
        .unwrap();
        let d = Dataset::load(dir.path()).unwrap();
        assert_eq!(d.records.len(), 2);
        assert_eq!(d.records[0].source, "logs");
        assert_eq!(d.records[1].id, "9");
        assert_eq!(d.problems.len(), 3, "{:?}", d.problems);
        assert!(d.problems[0].contains("logs.jsonl:2:"));
        assert!(d.problems[1].contains("logs.jsonl:4:") && d.problems[1].contains("[0,1]"));
        assert!(d.problems[2].contains(":5:") && d.problems[2].contains("cooking"));
        assert!(d.prices.is_empty());
    }

    #[test]
    fn a_carried_mid_layer_vector_is_optional_but_checked() {
        let vector =
            |x: f32| serde_json::to_string(&vec![x; crate::embedding::EMBEDDING_DIM]).unwrap();
        let line = |mid: &str| {
            format!(
                "{{\"outcomes\": {{\"a\": 1}}, \"embedding\": {{\"model\": \"m\", \"vector\": {}, \"tokens\": 3, \"full_tokens\": 3{mid}}}}}\n",
                vector(0.05)
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let text = [
            line(""),
            line(&format!(", \"mid_layer\": {}", vector(0.1))),
            line(", \"mid_layer\": [0.1, 0.2]"),
        ]
        .concat();
        std::fs::write(dir.path().join("feedback.jsonl"), text).unwrap();
        let d = Dataset::load(dir.path()).unwrap();
        assert_eq!(d.records.len(), 2, "{:?}", d.problems);
        let mid = |k: usize| d.records[k].embedding.as_ref().unwrap().1.mid_layer.clone();
        assert!(mid(0).is_empty());
        assert_eq!(mid(1), vec![0.1; crate::embedding::EMBEDDING_DIM]);
        assert_eq!(d.problems.len(), 1);
        assert!(
            d.problems[0].contains(":3:") && d.problems[0].contains("mid_layer"),
            "{:?}",
            d.problems
        );
    }

    #[test]
    fn split_is_stable_and_near_twenty_percent() {
        let held = (0..5000)
            .filter(|i| is_held_out(&format!("prompt {i}")))
            .count();
        assert!((800..1200).contains(&held), "{held}");
        assert_eq!(is_held_out("same text"), is_held_out("same text"));
    }

    #[test]
    fn model_names_file_one_model_under_one_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.jsonl"),
            concat!(
                r#"{"prompt": "p1", "outcomes": {"gpt4o": 1.0, "x": 0.0}, "cost_usd": {"gpt4o": 0.5}}"#,
                "\n",
                r#"{"prompt": "p2", "outcomes": {"gpt4o": 0.0, "gpt-4o-2024-05-13": 1.0}}"#,
                "\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(MODEL_NAMES_FILE),
            "data_name,provider,why\ngpt4o,gpt-4o-2024-05-13,same snapshot\n",
        )
        .unwrap();
        let d = Dataset::load(dir.path()).unwrap();
        let o = |k: usize| d.records[k].outcomes.clone();
        assert_eq!(o(0).get("gpt-4o-2024-05-13"), Some(&1.0));
        assert!(!o(0).contains_key("gpt4o"));
        assert_eq!(d.records[0].cost_usd.get("gpt-4o-2024-05-13"), Some(&0.5));
        // Both spellings in one record: the provider's own value stays.
        assert_eq!(o(1).get("gpt-4o-2024-05-13"), Some(&1.0));
        assert_eq!(o(1).len(), 1);
        // A name mapped twice, a chain, or a missing `why` stops the load.
        for bad in [
            "data_name,provider,why\na,b,x\na,c,y\n",
            "data_name,provider,why\na,b,x\nb,c,y\n",
            "data_name,provider\na,b\n",
        ] {
            std::fs::write(dir.path().join(MODEL_NAMES_FILE), bad).unwrap();
            assert!(Dataset::load(dir.path()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_shipped_model_names_are_registry_aliases() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let names = read_model_names(&root.join("training-data").join(MODEL_NAMES_FILE)).unwrap();
        let registry =
            crate::routing::ProviderRegistry::load(&root.join("models/providers.toml")).unwrap();
        for (data_name, provider) in &names {
            assert_eq!(registry.canonical(data_name), provider, "{data_name}");
        }
    }
}
