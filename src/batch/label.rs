//! `triage label`: labels every record of prompt logs (domain, difficulty, chosen provider, every candidate's
//! expected quality and cost) and projects what routing them would cost.
//!
//! Streaming, like `triage embed`: records are read a window ([`WINDOW`]) at a time, the window's good
//! prompts are embedded in length-sorted batches, and one output record per input record is written in
//! input order — labels for a good record, `{"line", "id", "error"}` for a bad one. Memory depends on the
//! window, not on the input's size. The output contract is in docs/label.md.

use super::output::{to_json, ErrorLine, Output, OutputFormat};
use super::progress::{Progress, Shard};
use super::summary::{RunInfo, Summary};
use super::WINDOW;
use crate::brain::Brain;
use crate::embedding::{Embedder, EmbedderSettings, Embedding};
use crate::error::{Error, Result, EXIT_BAD_RECORDS, EXIT_OK};
use crate::input::InputFormat;
use crate::input::{self, FieldChoice, Record};
use crate::labels::Labels;
use crate::routing::{Candidate, Decision, RouteOptions, DOMAINS};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One `triage label` run, as the command line resolved it.
#[derive(Debug, Clone)]
pub struct LabelJob {
    /// Input paths (`-` is stdin), read in order.
    pub inputs: Vec<String>,
    /// Output file; `None` is stdout.
    pub output: Option<PathBuf>,
    pub format: OutputFormat,
    pub input_format: InputFormat,
    pub fields: FieldChoice,
    /// Where to write the summary as JSON too.
    pub report: Option<PathBuf>,
    /// Only this shard of the records; `None` is every record.
    pub shard: Option<Shard>,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Routing options in force for every record.
    pub defaults: RouteOptions,
    pub artifacts: crate::artifacts::ArtifactSource,
    pub embedder: EmbedderSettings,
}

/// Bad records listed one by one on stderr; after that only the final count is printed.
pub const MAX_LISTED_BAD: u64 = 100;

/// Columns of the CSV output, in order.
pub const CSV_COLUMNS: [&str; 19] = [
    "line",
    "id",
    "file",
    "domain",
    "p_code",
    "p_math",
    "p_reasoning",
    "p_knowledge",
    "p_writing",
    "p_general",
    "difficulty",
    "level",
    "provider",
    "expected_quality",
    "expected_cost_usd",
    "truncated",
    "error",
    "quality",
    "cost_usd",
];

/// Position of `error` in [`CSV_COLUMNS`].
const ERROR_COLUMN: usize = 16;

/// Runs the label door; returns the process exit code.
pub fn run(job: &LabelJob) -> Result<i32> {
    let shard = job.shard.unwrap_or(Shard::ALL);
    let inputs = &job.inputs;
    check_paths(inputs, job.report.as_deref())?;

    let load_start = Instant::now();
    let embedder = crate::embedding::load(&job.embedder)?.with_batch_size(job.batch_size);
    let brain = Brain::load(&job.artifacts, job.defaults.clone())?;
    let load_seconds = load_start.elapsed().as_secs_f64();

    let fields = &job.fields;
    let start = Instant::now();
    let mut writer = LabelWriter::new(Output::create(job.output.as_deref())?, job.format)?;
    let mut summary = Summary::new(brain.policy.defaults());
    let mut progress = Progress::start("label", inputs, job.input_format, fields, shard);
    let mut global: u64 = 0;
    for path in inputs {
        let mut reader = input::open(path)?;
        let format = input::detect_format(path, job.input_format, &mut reader);
        let mut records = input::records(reader, format, fields)?;
        let file = (inputs.len() > 1).then_some(path.as_str());
        loop {
            let mut window: Vec<Record> = Vec::with_capacity(WINDOW);
            while window.len() < WINDOW {
                let Some(record) = records.next() else { break };
                if shard.contains(global) {
                    window.push(record);
                }
                global += 1;
            }
            if window.is_empty() {
                break;
            }
            label_window(
                &embedder,
                &brain,
                &mut window,
                path,
                file,
                &mut writer,
                &mut summary,
                &mut progress,
            )?;
        }
    }
    writer.finish()?;
    progress.finish();

    let report = summary.report(RunInfo {
        seconds: start.elapsed().as_secs_f64(),
        load_seconds,
        inputs: inputs.clone(),
        shard: job.shard.map(|s| format!("{}/{}", s.index, s.count)),
        options: brain.policy.defaults().clone(),
    });
    eprint!("{}", report.to_text());
    if let Some(path) = &job.report {
        let mut json = serde_json::to_vec_pretty(&report)
            .map_err(|e| Error::json("serializing the report", e))?;
        json.push(b'\n');
        crate::files::write_atomic(path, &json)?;
    }
    if report.bad > 0 {
        eprintln!(
            "triage: {} of {} records were bad (an error record in their place in the output)",
            report.bad, report.records
        );
        return Ok(EXIT_BAD_RECORDS);
    }
    Ok(EXIT_OK)
}

/// Fails early (before the model loads) on inputs that cannot be opened and a report folder that is missing.
fn check_paths(inputs: &[String], report: Option<&Path>) -> Result<()> {
    for path in inputs.iter().filter(|p| *p != "-") {
        let meta = std::fs::metadata(path).map_err(|e| Error::io("opening", path, e))?;
        if meta.is_dir() {
            return Err(Error::io(
                "opening",
                path,
                std::io::Error::other("is a directory, not a file"),
            ));
        }
    }
    if let Some(report) = report {
        let dir = match report.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::io(
                "writing the report into",
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
            ));
        }
    }
    Ok(())
}

/// Embeds, labels, routes and writes one window of records, in order.
#[allow(clippy::too_many_arguments)]
fn label_window(
    embedder: &dyn Embedder,
    brain: &Brain,
    window: &mut [Record],
    path: &str,
    file: Option<&str>,
    writer: &mut LabelWriter,
    summary: &mut Summary,
    progress: &mut Progress,
) -> Result<()> {
    // Every good record's texts as the labels read them (`input::read_for_labels`, which rewrites the
    // record): its prompt (for a `messages` record, the last user turn), then, when it has earlier user
    // turns, its context's texts; `starts` holds where each good record's texts begin.
    let mut texts: Vec<String> = Vec::new();
    let mut starts = Vec::new();
    for r in window.iter_mut() {
        if let Ok(p) = &r.prompt {
            let read = crate::input::read_for_labels(p, &mut r.context);
            starts.push(texts.len());
            texts.push(read.clone());
            r.prompt = Ok(read);
            texts.extend(r.context.texts());
        }
    }
    let embedded = embedder.embed_detailed(&texts)?;
    if embedded.len() != texts.len() {
        return Err(Error::inference(
            "embedder returned the wrong number of vectors",
        ));
    }
    // The last turns are labelled in one product per head; a conversation's last turn then with its
    // context, and every record's cost counts its whole input.
    let lasts: Vec<Embedding> = starts.iter().map(|&k| embedded[k].clone()).collect();
    let mut batch_labels = brain.label_batch(&lasts).into_iter();
    let mut labelled = Vec::with_capacity(starts.len());
    let good = window
        .iter()
        .filter_map(|r| r.prompt.as_ref().ok().map(|p| (r, p)));
    for ((r, p), &start) in good.zip(&starts) {
        let own = batch_labels
            .next()
            .ok_or_else(|| Error::inference("embedder returned too few vectors"))?;
        let around: Vec<&Embedding> = embedded[start + 1..start + 1 + r.context.text_count()]
            .iter()
            .collect();
        let labels = if around.is_empty() {
            Labels {
                input_tokens: r.context.input_tokens(own.input_tokens),
                ..own
            }
        } else {
            brain.label_request(p, &r.context, &embedded[start], &around)
        };
        labelled.push((&embedded[start], labels));
    }
    let mut labelled = labelled.into_iter();
    let defaults = RouteOptions::default();
    for record in window.iter() {
        let id = record.id.as_deref();
        match &record.prompt {
            Ok(_) => {
                let (e, labels): (&Embedding, Labels) = labelled
                    .next()
                    .ok_or_else(|| Error::inference("embedder returned too few vectors"))?;
                let needs = match crate::routing::needs::from_chat_body(&record.context.chat) {
                    Ok(n) => n,
                    Err(m) => {
                        summary.add_bad();
                        writer.error(record.line, id, file, &m)?;
                        continue;
                    }
                };
                let options = RouteOptions {
                    needs: needs.with_input_tokens(labels.input_tokens),
                    ..defaults.clone()
                };
                let decision = match brain.route(&labels, &options) {
                    Ok(d) => d,
                    // A record that needs what no provider offers (tools, images, ...) is this record's
                    // problem: reported in its place, and the run goes on.
                    Err(Error::InvalidInput(m)) if needs.any_capability() => {
                        summary.add_bad();
                        writer.error(record.line, id, file, &format!("routing: {m}"))?;
                        continue;
                    }
                    Err(Error::InvalidInput(m)) => {
                        return Err(Error::Usage(format!("routing: {m}")))
                    }
                    Err(other) => return Err(other),
                };
                writer.label(record.line, id, file, &labels, &decision)?;
                summary.add(&labels, &decision, e.tokens);
            }
            Err(msg) => {
                summary.add_bad();
                if summary.bad <= MAX_LISTED_BAD {
                    progress.println(&format!("{path}:{}: {msg}", record.line));
                    if summary.bad == MAX_LISTED_BAD {
                        progress.println(
                            "triage label: further bad records are not listed (see the error records in the output)",
                        );
                    }
                }
                writer.error(record.line, id, file, msg)?;
            }
        }
    }
    progress.inc(window.len() as u64);
    Ok(())
}

/// Writes label records as JSONL or CSV.
struct LabelWriter {
    out: Output,
    format: OutputFormat,
}

impl LabelWriter {
    fn new(mut out: Output, format: OutputFormat) -> Result<Self> {
        if format == OutputFormat::Csv {
            out.line(&csv_line(CSV_COLUMNS.iter().copied())?)?;
        }
        Ok(Self { out, format })
    }

    fn label(
        &mut self,
        line: u64,
        id: Option<&str>,
        file: Option<&str>,
        labels: &Labels,
        decision: &Decision,
    ) -> Result<()> {
        let mut by_name: Vec<&Candidate> = decision.candidates.iter().collect();
        by_name.sort_by(|a, b| a.provider.cmp(&b.provider));
        let text = match self.format {
            OutputFormat::Jsonl => to_json(&LabelLine {
                line,
                id,
                file,
                domain: labels.domain,
                domain_probs: DomainProbs(&labels.domain_probs),
                difficulty: labels.difficulty,
                level: labels.level,
                provider: &decision.provider,
                expected_quality: decision.expected_quality,
                expected_cost_usd: decision.expected_cost_usd,
                quality: quality_map(&by_name),
                quality_interval: ByProvider(&by_name, |c| {
                    c.quality_interval
                        .iter()
                        .all(|v| v.is_finite())
                        .then_some(c.quality_interval)
                }),
                cost_usd: cost_map(&by_name),
                excluded: Excluded(&by_name),
                truncated: labels.truncated,
                turn: labels.turn,
            })?,
            OutputFormat::Csv => {
                let mut cells: Vec<String> = Vec::with_capacity(CSV_COLUMNS.len());
                cells.push(line.to_string());
                cells.push(id.unwrap_or_default().to_string());
                cells.push(file.unwrap_or_default().to_string());
                cells.push(labels.domain.to_string());
                for d in DOMAINS {
                    let p = labels
                        .domain_probs
                        .iter()
                        .find(|(name, _)| *name == d)
                        .map(|(_, p)| *p);
                    cells.push(p.map(float32).unwrap_or_default());
                }
                cells.push(float32(labels.difficulty));
                cells.push(labels.level.to_string());
                cells.push(decision.provider.clone());
                cells.push(float32(decision.expected_quality));
                cells.push(float64(decision.expected_cost_usd));
                cells.push(labels.truncated.to_string());
                cells.push(String::new());
                cells.push(to_json(&quality_map(&by_name))?);
                cells.push(to_json(&cost_map(&by_name))?);
                csv_line(cells.iter().map(String::as_str))?
            }
        };
        self.out.line(&text)
    }

    fn error(
        &mut self,
        line: u64,
        id: Option<&str>,
        file: Option<&str>,
        error: &str,
    ) -> Result<()> {
        let text = match self.format {
            OutputFormat::Jsonl => to_json(&ErrorLine {
                line,
                id,
                file,
                error,
            })?,
            OutputFormat::Csv => {
                let line = line.to_string();
                let mut cells = vec![""; CSV_COLUMNS.len()];
                cells[0] = &line;
                cells[1] = id.unwrap_or_default();
                cells[2] = file.unwrap_or_default();
                cells[ERROR_COLUMN] = error;
                csv_line(cells.into_iter())?
            }
        };
        self.out.line(&text)
    }

    fn finish(self) -> Result<()> {
        self.out.finish()
    }
}

/// One labelled record (JSONL).
#[derive(Serialize)]
struct LabelLine<'a> {
    line: u64,
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    domain: &'a str,
    domain_probs: DomainProbs<'a>,
    difficulty: f32,
    level: &'a str,
    provider: &'a str,
    expected_quality: f32,
    expected_cost_usd: f64,
    quality: Column<'a, f32>,
    /// Each candidate's 95% interval around its expected quality.
    quality_interval: Column<'a, Option<[f32; 2]>>,
    cost_usd: Column<'a, f64>,
    /// `{provider: why}` for the candidates that could not take part (`no tool calling`, ...).
    #[serde(skip_serializing_if = "Excluded::is_empty")]
    excluded: Excluded<'a>,
    truncated: bool,
    /// Only for a conversation (`messages` with earlier user turns): `continuation` or `afresh`.
    #[serde(skip_serializing_if = "is_single")]
    turn: crate::labels::Turn,
}

fn is_single(t: &crate::labels::Turn) -> bool {
    *t == crate::labels::Turn::Single
}

/// `{domain: p}` in the domain order.
struct DomainProbs<'a>(&'a [(&'static str, f32)]);

impl Serialize for DomainProbs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (d, p) in self.0 {
            m.serialize_entry(d, p)?;
        }
        m.end()
    }
}

/// `{provider: value}` over the candidates (by name; NaN is `null`): their expected qualities or costs.
struct ByProvider<'a, V, F: Fn(&Candidate) -> V>(&'a [&'a Candidate], F);

impl<V: Serialize, F: Fn(&Candidate) -> V> Serialize for ByProvider<'_, V, F> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            m.serialize_entry(&c.provider, &(self.1)(c))?;
        }
        m.end()
    }
}

/// The excluded candidates and why, by name.
struct Excluded<'a>(&'a [&'a Candidate]);

impl Excluded<'_> {
    fn is_empty(&self) -> bool {
        self.0.iter().all(|c| c.excluded.is_none())
    }
}

impl Serialize for Excluded<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for c in self.0 {
            if let Some(why) = &c.excluded {
                m.serialize_entry(&c.provider, why)?;
            }
        }
        m.end()
    }
}

/// One per-provider column of the output.
type Column<'a, V> = ByProvider<'a, V, fn(&Candidate) -> V>;

fn quality_map<'a>(by_name: &'a [&'a Candidate]) -> Column<'a, f32> {
    ByProvider(by_name, |c| c.expected_quality)
}

fn cost_map<'a>(by_name: &'a [&'a Candidate]) -> Column<'a, f64> {
    ByProvider(by_name, |c| c.expected_cost_usd)
}

/// A float cell: its shortest round-trip form, empty for NaN.
fn float32(x: f32) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        String::new()
    }
}

fn float64(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        String::new()
    }
}

/// One CSV record (quoted as needed), without its line terminator.
fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> Result<String> {
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(512)
        .from_writer(Vec::with_capacity(512));
    let fail = |e: String| Error::io("writing CSV for", "<output>", std::io::Error::other(e));
    w.write_record(cells).map_err(|e| fail(e.to_string()))?;
    let mut bytes = w.into_inner().map_err(|e| fail(e.to_string()))?;
    while matches!(bytes.last(), Some(b'\n') | Some(b'\r')) {
        bytes.pop();
    }
    String::from_utf8(bytes).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_values() {
        assert_eq!(Shard::parse("0/1").unwrap(), Shard::ALL);
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        for bad in ["3/3", "0/0", "1", "-1/2", "a/b", "1/2/3", ""] {
            assert!(
                matches!(Shard::parse(bad), Err(Error::Usage(_))),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn csv_cells_are_quoted() {
        assert_eq!(
            csv_line(["a", "b,c", "d\"e", "f\ng"].into_iter()).unwrap(),
            "a,\"b,c\",\"d\"\"e\",\"f\ng\""
        );
        assert_eq!(CSV_COLUMNS[ERROR_COLUMN], "error");
        assert_eq!(float32(f32::NAN), "");
        assert_eq!(float64(0.000_012_5), "0.0000125");
    }
}
