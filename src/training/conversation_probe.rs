//! The hand-written multi-turn probe (`conversations.jsonl` in a probe folder, never trained on): is a
//! conversation's last turn routed as what it is? A continuation should go where its task would go, a
//! closing ("thanks") and a new unrelated question where they would go alone. Routing the last turn
//! alone (what triage did before it read conversations) is scored beside it as the baseline.

use crate::embedding::{Embedder, Embedding};
use crate::error::{Error, Result};
use crate::input::Context;
use crate::labels::{Heads, Labels};
use crate::routing::{Policy, RouteOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File of conversations in a probe folder.
pub const FILE: &str = "conversations.jsonl";

/// What a probe conversation's last turn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Continues the first turn's task: should be routed like the task.
    Continuation,
    /// Small talk that ends the task: should be routed like itself alone (cheap).
    Closing,
    /// An unrelated new question: should be routed like itself alone.
    TopicChange,
}

#[derive(Debug, Deserialize)]
struct Line {
    kind: Kind,
    messages: Vec<serde_json::Value>,
}

/// One probe conversation.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub kind: Kind,
    /// The first user turn: the task.
    pub task: String,
    pub last: String,
    pub context: Context,
}

/// Reads every `conversations.jsonl` in `dir` and its subfolders: (set name, conversations).
pub fn load_sets(dir: &Path) -> Result<Vec<(String, Vec<Conversation>)>> {
    let mut files: Vec<PathBuf> = vec![dir.join(FILE)];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path().join(FILE)))
            .collect();
        subs.sort();
        files.extend(subs);
    }
    let mut sets = Vec::new();
    for file in files.into_iter().filter(|f| f.is_file()) {
        let name = file
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        sets.push((name, load(&file)?));
    }
    Ok(sets)
}

/// Reads one file of conversations.
pub fn load(file: &Path) -> Result<Vec<Conversation>> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?;
    let mut out = Vec::new();
    for (k, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |m: String| Error::Usage(format!("{}:{}: {m}", file.display(), k + 1));
        let line: Line = serde_json::from_str(l).map_err(|e| at(e.to_string()))?;
        let (last, mut context) = crate::input::conversation(&line.messages).map_err(at)?;
        // Read as serving reads a request.
        let last = crate::input::read_for_labels(&last, &mut context);
        let task = line
            .messages
            .iter()
            .find(|m| m.get("role").and_then(|r| r.as_str()) == Some("user"))
            .and_then(|m| m.get("content").and_then(|c| c.as_str()))
            .ok_or_else(|| at("no first user turn".into()))?;
        let task = crate::reading::for_labels(task).into_owned();
        out.push(Conversation {
            kind: line.kind,
            task,
            last,
            context,
        });
    }
    Ok(out)
}

/// How one kind of turn fared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindScore {
    pub conversations: usize,
    /// Routed as the kind should be, reading the conversation.
    pub as_expected: usize,
    /// Routed as the kind should be, reading the last turn alone.
    pub last_turn_only: usize,
}

/// The multi-turn probe's report for one set.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationReport {
    pub set: String,
    pub kinds: BTreeMap<Kind, KindScore>,
}

/// Routes every conversation of `set` with `heads` and `policy` (the artifacts about to ship and the
/// registry and default target serving will use).
pub fn evaluate(
    set: &str,
    conversations: &[Conversation],
    embedder: &dyn Embedder,
    heads: &Heads,
    policy: &Policy,
) -> Result<ConversationReport> {
    let mut kinds: BTreeMap<Kind, KindScore> = BTreeMap::new();
    let route = |labels: &Labels| -> Result<String> {
        Ok(crate::brain::route(policy, labels, &RouteOptions::default())?.provider)
    };
    for c in conversations {
        let mut texts = vec![c.last.clone(), c.task.clone()];
        texts.extend(c.context.texts());
        let e: Vec<Embedding> = embedder.embed_detailed(&texts)?;
        if e.len() != texts.len() {
            return Err(Error::inference("the probe was embedded incompletely"));
        }
        let around: Vec<&Embedding> = e[2..].iter().collect();
        let in_conversation =
            crate::brain::label_request(heads, &c.last, &c.context, &e[0], &around);
        let alone = heads.label(&e[0]);
        let task = heads.label(&e[1]);
        let (routed, last_only, task_route) =
            (route(&in_conversation)?, route(&alone)?, route(&task)?);
        let expected = match c.kind {
            Kind::Continuation => &task_route,
            Kind::Closing | Kind::TopicChange => &last_only,
        };
        let score = kinds.entry(c.kind).or_default();
        score.conversations += 1;
        score.as_expected += usize::from(&routed == expected);
        score.last_turn_only += usize::from(&last_only == expected);
    }
    Ok(ConversationReport {
        set: set.to_string(),
        kinds,
    })
}

/// The report as text.
pub fn render(r: &ConversationReport) -> String {
    let mut parts = Vec::new();
    for (kind, s) in &r.kinds {
        let what = match kind {
            Kind::Continuation => "continuations routed like their task",
            Kind::Closing => "closings routed as themselves (kept cheap)",
            Kind::TopicChange => "new topics routed as themselves",
        };
        parts.push(format!(
            "   {what}: {}/{} (last turn alone: {}/{})",
            s.as_expected, s.conversations, s.last_turn_only, s.conversations
        ));
    }
    format!("== multi-turn set {} ==\n{}\n", r.set, parts.join("\n"))
}
