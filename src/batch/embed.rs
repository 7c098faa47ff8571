//! `triage embed`: one JSONL line `{"line", "tokens", "embedding"}` per input record, in input order.

use super::output::{to_json, ErrorLine, Output};
use super::WINDOW;
use crate::embedding::Embedder;
use crate::error::{Error, Result};
use crate::input::{self, FieldChoice, InputFormat, Record};
use serde::Serialize;
use std::path::Path;

/// Counts of one embed run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EmbedSummary {
    pub records: u64,
    pub bad: u64,
}

/// Embeds every record of `inputs` into `output` (stdout when `None`).
pub fn run(
    embedder: &dyn Embedder,
    inputs: &[String],
    format: InputFormat,
    fields: &FieldChoice,
    output: Option<&Path>,
) -> Result<EmbedSummary> {
    let mut out = Output::create(output)?;
    let mut summary = EmbedSummary::default();
    for path in inputs {
        let mut reader = input::open(path)?;
        let format = input::detect_format(path, format, &mut reader);
        let mut records = input::records(reader, format, fields)?;
        loop {
            let window: Vec<Record> = records.by_ref().take(WINDOW).collect();
            if window.is_empty() {
                break;
            }
            let texts: Vec<String> = window
                .iter()
                .filter_map(|r| r.prompt.as_ref().ok().cloned())
                .collect();
            let mut embedded = embedder.embed_detailed(&texts)?.into_iter();
            for record in &window {
                summary.records += 1;
                let file = (inputs.len() > 1).then_some(path.as_str());
                let line = match &record.prompt {
                    Ok(_) => {
                        let e = embedded
                            .next()
                            .ok_or_else(|| Error::inference("embedder returned too few vectors"))?;
                        to_json(&EmbedLine {
                            line: record.line,
                            id: record.id.as_deref(),
                            file,
                            tokens: e.tokens,
                            truncated: e.truncated,
                            embedding: &e.vector,
                        })?
                    }
                    Err(msg) => {
                        summary.bad += 1;
                        eprintln!("{path}:{}: {msg}", record.line);
                        to_json(&ErrorLine {
                            line: record.line,
                            id: record.id.as_deref(),
                            file,
                            error: msg,
                        })?
                    }
                };
                out.line(&line)?;
            }
        }
    }
    out.finish()?;
    Ok(summary)
}

/// One embedded record. Floats are serialized as f32, so each prints in its shortest f32 form.
#[derive(Serialize)]
struct EmbedLine<'a> {
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    tokens: usize,
    truncated: bool,
    embedding: &'a [f32],
}
