//! The durable record of a collect run: one JSON line per finished call (an answer bought or reused, a
//! judgment, a scorer's score), appended and `fdatasync`ed before the call counts. A rerun reads it back
//! and skips every finished call, so nothing is paid for twice; a torn last line (a crash mid-write) is
//! cut when the journal is opened, and only that line's call is lost.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// File name of the journal in the output folder.
pub const FILE: &str = "journal.jsonl";

/// What a journal line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A provider's answer to a sampled prompt.
    Answer,
    /// A judge model's verdict on one answer (single mode) or one order of a pair (pairwise mode).
    Judgment,
    /// The team's scorer program's number for one answer.
    Score,
}

/// Token usage a provider reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
}

/// One finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique per call: `{kind}:{item}:{provider}[:{order}]`, and `#2` for a judgment's second try.
    pub key: String,
    pub kind: Kind,
    /// The sampled prompt's id.
    pub item: String,
    /// The provider whose answer this is or is about.
    pub provider: String,
    /// Who answered the call: the provider, the judge model, or `scorer`.
    pub by: String,
    /// `ok`, or the error in words (never a key, a URL or a provider's message).
    pub status: String,
    /// Real token usage, when the call reached a provider that reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// What the call cost, in picodollars (usage × the registry's prices; the worst case when a provider
    /// reported no usage; 0 when nothing was bought).
    pub cost_pico: u64,
    /// The same in USD, for people reading the journal.
    pub cost_usd: f64,
    pub latency_ms: u64,
    /// HTTP attempts made (retries included).
    #[serde(default)]
    pub attempts: u32,
    /// The answer came from the logs, not from a call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The provider reported no usage: the cost is the call's worst case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
    /// Hash of the answer text (always kept, to audit without the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_sha256: Option<String>,
    /// The answer text: kept until the run no longer needs it, and after that only with `--keep-text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// A judgment's or score's outcome in [0, 1], from this call alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// What the judge said, parsed: `7` (single), `A`/`B`/`tie` (pairwise), the scorer's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The judge's full reply (only with `--keep-text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_text: Option<String>,
    pub unix_ms: u64,
}

impl Entry {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The open journal: what is in it (by key; a later line replaces an earlier one with the same key) and
/// the file appended to.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    entries: Mutex<HashMap<String, Entry>>,
    /// Lines that did not parse when it was read (never written by triage; a hand edit).
    pub unreadable: usize,
}

impl Journal {
    /// Opens (creating) the journal in `dir`, repairs a torn last line, and reads what it holds.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE);
        let file = crate::files::open_log_repaired(dir, &path)?;
        let mut entries = HashMap::new();
        let mut unreadable = 0;
        let reader = BufReader::new(File::open(&path).map_err(|e| Error::io("opening", &path, e))?);
        for line in reader.lines() {
            let line = line.map_err(|e| Error::io("reading", &path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(&line) {
                Ok(e) => {
                    entries.insert(e.key.clone(), e);
                }
                Err(_) => unreadable += 1,
            }
        }
        Ok(Self {
            path,
            file: Mutex::new(file),
            entries: Mutex::new(entries),
            unreadable,
        })
    }

    /// The finished call with this key.
    pub fn get(&self, key: &str) -> Option<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Every entry (in no order).
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Appends `entry` and syncs it to disk before returning (blocking: the caller runs it off the async
    /// threads). Only then does the call count as finished.
    pub fn append(&self, entry: Entry) -> Result<()> {
        let mut line = serde_json::to_vec(&entry).map_err(|e| Error::json("a journal entry", e))?;
        line.push(b'\n');
        {
            let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
            file.write_all(&line)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io("appending to", &self.path, e))?;
        }
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(entry.key.clone(), entry);
        Ok(())
    }

    /// Rewrites the journal atomically with `keep_text(entry)` deciding which entries keep their answer
    /// and judge texts (one line per key, sorted by key).
    pub fn compact(&self, keep_text: impl Fn(&Entry) -> bool) -> Result<()> {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entries: Vec<Entry> = self.entries();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let mut out = Vec::new();
        for e in &mut entries {
            if !keep_text(e) {
                e.answer = None;
                e.judge_text = None;
            }
            out.extend(serde_json::to_vec(e).map_err(|e| Error::json("a journal entry", e))?);
            out.push(b'\n');
        }
        crate::files::write_atomic(&self.path, &out)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        *file = crate::files::open_log_repaired(dir, &self.path)?;
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        *map = entries.into_iter().map(|e| (e.key.clone(), e)).collect();
        Ok(())
    }
}

/// Milliseconds since the epoch, for entries.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> Entry {
        Entry {
            key: key.into(),
            kind: Kind::Answer,
            item: "i".into(),
            provider: "p".into(),
            by: "p".into(),
            status: "ok".into(),
            usage: Some(Usage {
                input: 3,
                output: 4,
            }),
            cost_pico: 7,
            cost_usd: 7e-12,
            latency_ms: 1,
            attempts: 1,
            reused: false,
            usage_estimated: false,
            answer_sha256: None,
            answer: Some("text".into()),
            score: None,
            verdict: None,
            judge_text: None,
            unix_ms: 0,
        }
    }

    #[test]
    fn entries_survive_reopening_and_a_torn_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.append(entry("a")).unwrap();
        j.append(entry("b")).unwrap();
        drop(j);
        let path = dir.path().join(FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"key\":\"c\",\"ki");
        std::fs::write(&path, text).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert!(j.get("a").is_some() && j.get("b").is_some() && j.get("c").is_none());
        j.append(entry("c")).unwrap();
        j.compact(|e| e.key == "a").unwrap();
        drop(j);
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries().len(), 3);
        assert_eq!(j.unreadable, 0);
        assert_eq!(j.get("a").unwrap().answer.as_deref(), Some("text"));
        assert_eq!(j.get("b").unwrap().answer, None);
    }
}
