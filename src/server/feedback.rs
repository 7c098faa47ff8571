//! Feedback from production: the decisions the server remembers (by `decision_id`, so a caller can score
//! them later) and the durable outcome log `POST /v1/feedback` appends to.
//!
//! The log is JSON Lines in the training-data record format (training-data/README.md), one record per
//! acknowledged outcome, so `--retrain` reads it beside the public data. Durability: a record is written
//! and `fdatasync`ed before the 2xx is sent (no group commit: feedback is rare next to routing, and one
//! fsync per record keeps the bound "every acknowledged record survives a crash" without a window). A
//! crash can leave a torn last line; when the log is opened it is cut back to its last complete line
//! (that record was never acknowledged), and readers skip any line that does not parse. The log rotates
//! by size: `feedback.jsonl` is renamed `feedback-<unix ms>.jsonl` once it passes `max_bytes`.

use crate::embedding::Embedding;
use crate::error::{Error, Result};
use lru::LruCache;
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Name of the live log file in the feedback folder.
pub const LOG_FILE: &str = "feedback.jsonl";

/// What the server remembers of one decision, for feedback that names it.
#[derive(Debug, Clone)]
pub struct RememberedDecision {
    pub provider: String,
    pub embedding: Arc<Embedding>,
    /// The prompt, only when the log keeps texts.
    pub prompt: Option<String>,
    pub domain: &'static str,
    pub level: &'static str,
    pub difficulty: f32,
}

/// Recent decisions by id (least recently used forgotten first).
pub struct Decisions {
    map: Mutex<LruCache<String, RememberedDecision>>,
    counter: AtomicU64,
    /// Per-process salt, so ids of two server runs do not collide.
    salt: [u8; 16],
}

impl Decisions {
    /// Remembers at most `capacity` decisions (at least one).
    pub fn new(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = crate::files::sha256_hex(format!("{now}:{}", std::process::id()).as_bytes());
        let mut salt = [0u8; 16];
        for (s, b) in salt.iter_mut().zip(seed.bytes()) {
            *s = b;
        }
        Self {
            map: Mutex::new(LruCache::new(cap)),
            counter: AtomicU64::new(0),
            salt,
        }
    }

    /// A new decision id (32 hex digits, unguessable from the previous ones), not stored.
    pub fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut input = self.salt.to_vec();
        input.extend_from_slice(&n.to_le_bytes());
        crate::files::sha256_hex(&input).chars().take(32).collect()
    }

    /// Stores a decision and returns its new id.
    pub fn remember(&self, decision: RememberedDecision) -> String {
        let id = self.new_id();
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(id.clone(), decision);
        id
    }

    /// The decision with this id, if still remembered.
    pub fn get(&self, id: &str) -> Option<RememberedDecision> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Records that another provider answered a remembered decision (the proxy fell over to it), so
    /// feedback on the id scores the provider that answered.
    pub fn set_provider(&self, id: &str, provider: &str) {
        if let Some(d) = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(id)
        {
            d.provider = provider.to_string();
        }
    }
}

/// The embedding as a record stores it.
#[derive(Debug, Serialize)]
pub struct RecordEmbedding<'a> {
    pub model: &'a str,
    pub vector: &'a [f32],
    /// The mid-layer vector the domain head reads (`Embedding::mid_layer`).
    pub mid_layer: &'a [f32],
    pub tokens: usize,
    pub full_tokens: usize,
    pub truncated: bool,
}

/// The labels the server gave, kept for the operator's analysis (training ignores them).
#[derive(Debug, Serialize)]
pub struct RecordLabels<'a> {
    pub domain: &'a str,
    pub level: &'a str,
    pub difficulty: f32,
}

/// One outcome record, in the training-data record format.
#[derive(Debug, Serialize)]
pub struct FeedbackRecord<'a> {
    pub id: String,
    pub source: &'a str,
    pub task: Option<&'a str>,
    /// The true domain is unknown (the labels are the model's guess, under `labels`).
    pub domain: Option<&'a str>,
    pub prompt: Option<&'a str>,
    pub embedding: RecordEmbedding<'a>,
    pub labels: RecordLabels<'a>,
    pub outcomes: std::collections::BTreeMap<&'a str, f64>,
    pub received_unix_ms: u128,
}

/// The append-only, size-rotated outcome log (fsynced per record); the proxy's decision log is the same
/// kind of file under another name ([`FeedbackLog::decision_log`]).
pub struct FeedbackLog {
    dir: PathBuf,
    /// The live file is `{stem}.jsonl`, rotated ones `{stem}-{unix ms}.jsonl`.
    stem: &'static str,
    /// Sync each record before `append` returns (acknowledged feedback must survive a crash).
    sync: bool,
    max_bytes: u64,
    /// Opened on the first append (a server that never gets feedback creates nothing).
    file: Mutex<Option<File>>,
}

impl FeedbackLog {
    /// A log in `dir`, rotated past `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            dir,
            stem: "feedback",
            sync: true,
            max_bytes: max_bytes.max(1),
            file: Mutex::new(None),
        }
    }

    /// The proxy's decision log (`decisions.jsonl` in `dir`): not synced per record, since a decision
    /// line acknowledges nothing to a client; a crash can lose the last lines, and a torn one is cut
    /// back when the log is opened again.
    pub fn decision_log(dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            stem: "decisions",
            sync: false,
            ..Self::new(dir, max_bytes)
        }
    }

    /// The folder of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one line (a JSON record without its newline) and syncs it to disk before returning.
    /// Blocking: call from a blocking thread.
    pub fn append(&self, line: &[u8]) -> Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.dir.join(format!("{}.jsonl", self.stem));
        if guard.is_none() {
            *guard = Some(crate::files::open_log_repaired(&self.dir, &path)?);
        }
        let Some(file) = guard.as_mut() else {
            return Err(Error::inference("feedback log not open"));
        };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        file.write_all(&bytes)
            .and_then(|()| if self.sync { file.sync_data() } else { Ok(()) })
            .map_err(|e| Error::io("appending to", &path, e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("reading", &path, e))?
            .len();
        if size >= self.max_bytes {
            // Rotate: the full file keeps its records under a new name; the next append opens a new one.
            *guard = None;
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            let stem = self.stem;
            let mut rotated = self.dir.join(format!("{stem}-{stamp}.jsonl"));
            let mut k = 1;
            while rotated.exists() {
                rotated = self.dir.join(format!("{stem}-{stamp}-{k}.jsonl"));
                k += 1;
            }
            std::fs::rename(&path, &rotated).map_err(|e| Error::io("rotating", &path, e))?;
            crate::files::sync_dir(&self.dir);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_cut_on_open_and_complete_records_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        std::fs::write(&path, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        let log = FeedbackLog::new(dir.path().to_path_buf(), 1 << 20);
        log.append(b"{\"d\":4}").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n{\"d\":4}\n");
        // A file that is one torn line is emptied.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOG_FILE), "{\"x\"").unwrap();
        let log = FeedbackLog::new(dir.path().to_path_buf(), 1 << 20);
        log.append(b"{}").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap(),
            "{}\n"
        );
    }

    #[test]
    fn the_log_rotates_by_size_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = FeedbackLog::new(dir.path().to_path_buf(), 100);
        for k in 0..50 {
            log.append(format!("{{\"k\":{k:04}}}").as_bytes()).unwrap();
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() > 3, "{files:?}");
        let mut seen: Vec<String> = files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        seen.sort();
        let want: Vec<String> = (0..50).map(|k| format!("{{\"k\":{k:04}}}")).collect();
        assert_eq!(seen, want);
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() < 100 + 20, "{f:?}");
        }
    }

    #[test]
    fn decision_ids_are_distinct_and_forgotten_past_capacity() {
        let d = Decisions::new(2);
        let e = Arc::new(Embedding {
            vector: vec![0.0; 3],
            mid_layer: vec![0.0; 3],
            tokens: 2,
            truncated: false,
            full_tokens: 2,
        });
        let remember = |p: &str| {
            d.remember(RememberedDecision {
                provider: p.into(),
                embedding: Arc::clone(&e),
                prompt: None,
                domain: "code",
                level: "easy",
                difficulty: 0.1,
            })
        };
        let (a, b, c) = (remember("a"), remember("b"), remember("c"));
        assert!(a != b && b != c && a.len() == 32);
        assert!(d.get(&a).is_none(), "the oldest is forgotten");
        assert_eq!(d.get(&c).unwrap().provider, "c");
        assert_eq!(d.get(&b).unwrap().provider, "b");
    }
}
