//! Which prompts a collect run measures: the logs read with `label`'s readers (plus what a JSONL record
//! may add: the conversation, a logged `response` and its `model`, an `expected` answer), deduplicated,
//! and a seeded sample stratified by triage's own labels (domain × level), so every cell the routing
//! table uses gets rows.

use crate::brain::Brain;
use crate::embedding::{Embedder, Embedding};
use crate::error::{Error, Result};
use crate::input::{self, FieldChoice, InputFormat};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

/// One distinct prompt of the logs.
#[derive(Debug, Clone)]
pub struct LogItem {
    /// Stable id: a hash of the normalised conversation (the same text in any log has the same id).
    pub id: String,
    /// The text triage labels (the last user turn, as `label` reads it).
    pub prompt: String,
    /// What each provider is sent: the logged conversation up to its last user turn, or the prompt as
    /// one user message.
    pub messages: Vec<Value>,
    /// The record's `expected` answer, handed to a scorer.
    pub expected: Option<Value>,
    /// Answers the logs already hold, by provider (registry name).
    pub logged: BTreeMap<String, String>,
    /// `file:line` of its first occurrence.
    pub origin: String,
}

/// A sampled prompt with its embedding and labels.
#[derive(Debug, Clone)]
pub struct SampledItem {
    pub item: LogItem,
    pub embedding: Embedding,
    pub domain: &'static str,
    pub level: &'static str,
    pub difficulty: f32,
}

/// What reading the logs found.
#[derive(Debug, Default)]
pub struct LogRead {
    /// Distinct prompts in first-seen order.
    pub items: Vec<LogItem>,
    pub records: usize,
    pub duplicates: usize,
    /// `file:line: problem` of every bad record.
    pub bad: Vec<String>,
    /// Logged answers whose `model` is one of the run's providers.
    pub reusable_answers: usize,
}

/// The messages a record sends: its conversation up to and including the last user turn.
fn conversation(messages: &[Value]) -> Option<Vec<Value>> {
    let last_user = messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    Some(
        messages[..=last_user]
            .iter()
            .filter_map(|m| {
                let role = m.get("role")?.clone();
                let content = m.get("content")?.clone();
                Some(serde_json::json!({"role": role, "content": content}))
            })
            .collect(),
    )
}

/// The text of a logged answer: a string, or an OpenAI chat completion (`choices[0].message.content`).
fn answer_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("choices")?
            .get(0)?
            .get("message")?
            .get("content")?
            .as_str()
            .map(str::to_string),
        _ => None,
    }
}

/// Text of a message's content (a string, or the text parts of an array; empty for anything else).
pub fn content_text(content: &Value) -> String {
    crate::input::content_text(Some(content)).unwrap_or_default()
}

/// The id of a conversation: whitespace collapsed, case folded, roles kept.
pub fn item_id(messages: &[Value]) -> String {
    let mut norm = String::from("triage-collect-v1\0");
    for m in messages {
        norm.push_str(m.get("role").and_then(Value::as_str).unwrap_or(""));
        norm.push('\0');
        let text = content_text(m.get("content").unwrap_or(&Value::Null));
        norm.push_str(
            &text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase(),
        );
        norm.push('\0');
    }
    crate::files::sha256_hex(norm.as_bytes())[..16].to_string()
}

/// Reads every record of `inputs`. `canonical` maps a logged `model` to a registry name (aliases
/// resolved) and says whether it is one of the run's providers.
pub fn read_logs(
    inputs: &[String],
    format: InputFormat,
    fields: &FieldChoice,
    canonical: &dyn Fn(&str) -> Option<String>,
) -> Result<LogRead> {
    let mut read = LogRead::default();
    let mut index: HashMap<String, usize> = HashMap::new();
    for path in inputs {
        let mut reader = input::open(path)?;
        let fmt = input::detect_format(path, format, &mut reader);
        let mut add =
            |read: &mut LogRead, line: u64, parsed: std::result::Result<LogItem, String>| {
                read.records += 1;
                match parsed {
                    Err(msg) => read.bad.push(format!("{path}:{line}: {msg}")),
                    Ok(item) => match index.get(&item.id) {
                        Some(&k) => {
                            read.duplicates += 1;
                            let known = &mut read.items[k];
                            for (p, a) in item.logged {
                                known.logged.entry(p).or_insert(a);
                            }
                            if known.expected.is_none() {
                                known.expected = item.expected;
                            }
                        }
                        None => {
                            index.insert(item.id.clone(), read.items.len());
                            read.items.push(item);
                        }
                    },
                }
            };
        if fmt == InputFormat::Jsonl {
            for (i, bytes) in reader.split(b'\n').enumerate() {
                let line = i as u64 + 1;
                let bytes = match bytes {
                    Ok(b) => b,
                    Err(e) => {
                        add(&mut read, line, Err(format!("read error: {e}")));
                        break;
                    }
                };
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    add(&mut read, line, Err("line is not valid UTF-8".into()));
                    continue;
                };
                if text.trim().is_empty() {
                    continue;
                }
                let parsed = json_item(path, line, text, fields, canonical);
                add(&mut read, line, parsed);
            }
        } else {
            for record in input::records(reader, fmt, fields)? {
                let parsed = record.prompt.map(|prompt| {
                    let messages = vec![serde_json::json!({"role": "user", "content": prompt})];
                    LogItem {
                        id: item_id(&messages),
                        prompt,
                        messages,
                        expected: None,
                        logged: BTreeMap::new(),
                        origin: format!("{path}:{}", record.line),
                    }
                });
                add(&mut read, record.line, parsed);
            }
        }
    }
    read.reusable_answers = read.items.iter().map(|i| i.logged.len()).sum();
    Ok(read)
}

fn json_item(
    path: &str,
    line: u64,
    text: &str,
    fields: &FieldChoice,
    canonical: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<LogItem, String> {
    let record = input::parse_json_record(line, text, fields);
    let prompt = record.prompt?;
    if prompt.trim().is_empty() {
        return Err("blank prompt: nothing to ask".into());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let messages_field = fields.field.as_deref().unwrap_or("messages");
    let messages = match value.get(messages_field).and_then(Value::as_array) {
        Some(m) => conversation(m).ok_or("messages has no user turn")?,
        None => vec![serde_json::json!({"role": "user", "content": prompt})],
    };
    let mut logged = BTreeMap::new();
    if let Some(answer) = value.get("response").and_then(answer_text) {
        let model = value
            .get("model")
            .and_then(Value::as_str)
            .or_else(|| value.get("response")?.get("model")?.as_str());
        if let Some(provider) = model.and_then(canonical) {
            logged.insert(provider, answer);
        }
    }
    Ok(LogItem {
        id: item_id(&messages),
        prompt,
        messages,
        expected: value.get("expected").cloned(),
        logged,
        origin: format!("{path}:{line}"),
    })
}

/// The seeded order of an item: a hash of the seed and its id (any log order gives the same sample).
fn priority(seed: u64, id: &str) -> String {
    let mut bytes = seed.to_le_bytes().to_vec();
    bytes.extend_from_slice(id.as_bytes());
    crate::files::sha256_hex(&bytes)
}

/// How many distinct prompts are embedded and labelled to stratify a sample of `n`: enough that small
/// cells have members, bounded so a huge log is not embedded whole.
pub fn pool_size(n: usize) -> usize {
    n.saturating_mul(10).clamp(2_000, 50_000)
}

/// Splits `n` among cells of the given sizes as evenly as they allow (a cell smaller than its share
/// gives the rest to the others), in cell order.
pub fn allocate(sizes: &[usize], n: usize) -> Vec<usize> {
    let mut take = vec![0usize; sizes.len()];
    let mut left = n.min(sizes.iter().sum());
    while left > 0 {
        let open: Vec<usize> = (0..sizes.len()).filter(|&c| take[c] < sizes[c]).collect();
        if open.is_empty() {
            break;
        }
        let share = (left / open.len()).max(1);
        for c in open {
            if left == 0 {
                break;
            }
            let add = share.min(sizes[c] - take[c]).min(left);
            take[c] += add;
            left -= add;
        }
    }
    take
}

/// Chooses up to `n` items: a seeded pool of [`pool_size`] items, labelled, then an even split over
/// the (domain, level) cells, each cell taking its items in seeded order. The sample is returned in
/// seeded order.
pub fn choose(
    items: &[LogItem],
    n: usize,
    seed: u64,
    embedder: &dyn Embedder,
    brain: &Brain,
    show_progress: bool,
) -> Result<Vec<SampledItem>> {
    let mut order: Vec<(String, usize)> = items
        .iter()
        .enumerate()
        .map(|(k, it)| (priority(seed, &it.id), k))
        .collect();
    order.sort();
    order.truncate(pool_size(n));
    let texts =
        crate::reading::all_for_labels(order.iter().map(|&(_, k)| items[k].prompt.as_str()));
    let bar = crate::collect::progress_bar(show_progress, texts.len() as u64, "labelling the pool");
    let mut embeddings = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(64) {
        embeddings.extend(embedder.embed_detailed(chunk)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if embeddings.len() != texts.len() {
        return Err(Error::inference("the embedder returned too few vectors"));
    }
    let labels = brain.label_batch(&embeddings);
    let mut cells: BTreeMap<(&'static str, &'static str), Vec<usize>> = BTreeMap::new();
    for (k, l) in labels.iter().enumerate() {
        cells.entry((l.domain, l.level)).or_default().push(k);
    }
    let sizes: Vec<usize> = cells.values().map(Vec::len).collect();
    let take = allocate(&sizes, n);
    let mut chosen: Vec<usize> = cells
        .values()
        .zip(&take)
        .flat_map(|(members, &t)| members[..t].iter().copied())
        .collect();
    chosen.sort();
    Ok(chosen
        .into_iter()
        .map(|k| SampledItem {
            item: items[order[k].1].clone(),
            embedding: embeddings[k].clone(),
            domain: labels[k].domain,
            level: labels[k].level,
            difficulty: labels[k].difficulty,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_even_and_small_cells_give_way() {
        assert_eq!(allocate(&[10, 10, 10], 9), vec![3, 3, 3]);
        assert_eq!(allocate(&[1, 10, 10], 9), vec![1, 4, 4]);
        assert_eq!(allocate(&[2, 2], 9), vec![2, 2]);
        assert_eq!(allocate(&[5, 5, 5], 2).iter().sum::<usize>(), 2);
        assert_eq!(allocate(&[], 3), Vec::<usize>::new());
    }

    #[test]
    fn records_give_conversations_logged_answers_and_stable_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(
            &path,
            concat!(
                "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"Hi  there\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}], \"response\": \"Hello\", \"model\": \"gpt-4o\"}\n",
                "{\"prompt\": \"What is 2+2?\", \"expected\": \"4\"}\n",
                "not json\n",
                "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hi there\"}], \"response\": {\"choices\": [{\"message\": {\"content\": \"Hey\"}}]}, \"model\": \"other\"}\n",
            ),
        )
        .unwrap();
        let canonical = |m: &str| (m == "gpt-4o").then(|| "gpt-4o-2024-08-06".to_string());
        let r = read_logs(
            &[path.display().to_string()],
            InputFormat::Auto,
            &FieldChoice::default(),
            &canonical,
        )
        .unwrap();
        assert_eq!(r.records, 4);
        assert_eq!(r.items.len(), 2, "the fourth is the first again");
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.bad.len(), 1);
        assert!(r.bad[0].contains("log.jsonl:3:"));
        let first = &r.items[0];
        assert_eq!(first.messages.len(), 2, "the logged reply is not sent");
        assert_eq!(
            first.logged.get("gpt-4o-2024-08-06").map(String::as_str),
            Some("Hello")
        );
        assert_eq!(r.items[1].expected, Some(Value::String("4".into())));
        assert_eq!(r.reusable_answers, 1);
    }
}
