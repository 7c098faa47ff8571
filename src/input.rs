//! Streaming readers for prompt logs: JSONL (`prompt`, OpenAI `messages`, or `text`), CSV, plain lines; `.gz`; stdin.
//! Shared by the batch doors (`embed`, `label`) and training (its data files).
//!
//! Every input line (CSV: every data row) becomes exactly one `Record`, good or bad, so outputs stay aligned
//! with inputs. Nothing here loads a whole file: records are produced one at a time.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// How an input file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InputFormat {
    /// From the extension (`.jsonl`, `.ndjson`, `.csv`, `.txt`, with or without `.gz`), else by sniffing
    /// the first byte (`{` means JSONL).
    #[default]
    Auto,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// One prompt per line.
    Text,
}

/// One input record: where it was, its id if the input had one, and its prompt or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line number in its file (for CSV, the line where the row starts).
    pub line: u64,
    /// The record's `id` field, copied as a string.
    pub id: Option<String>,
    /// The prompt text (for a `messages` record, its last user turn), or why the record is unusable.
    pub prompt: std::result::Result<String, String>,
    /// For a `messages` record: the rest of the conversation as the labels read it.
    pub context: Context,
}

/// What a chat request holds besides its last user turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    /// The earlier user turns, most recent first (at most [`MAX_EARLIER_TURNS`]).
    pub earlier: Vec<String>,
    /// Bytes of every other message's text (system, assistant, tool, older user turns): counted in the
    /// cost, not in the labels.
    pub other_bytes: usize,
    /// A JSON record's chat fields that say what it needs from a provider (`tools`, `tool_choice`,
    /// `response_format`, `max_tokens`, ... and its `messages`, for image parts and tool calls): the
    /// routing layer reads them (`routing::Needs::from_chat_body`). Empty for other records.
    pub chat: serde_json::Map<String, serde_json::Value>,
}

/// The fields of a chat request that say what it needs from a provider ([`Context::chat`]).
pub const CHAT_FIELDS: [&str; 8] = [
    "messages",
    "tools",
    "functions",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "max_tokens",
    "max_completion_tokens",
];

/// Earlier user turns kept as a turn's context (the embedding reads 256 tokens anyway).
pub const MAX_EARLIER_TURNS: usize = 4;

/// Bytes per token assumed where text is counted without the tokenizer: the parts of a conversation that
/// are not embedded (for the cost), and an answer a collect dry run plans for. `routing::needs` keeps a
/// copy for tool definitions (the layers keep routing and input apart).
pub const BYTES_PER_TOKEN: usize = 4;

impl Context {
    /// The texts a request is embedded as, after its last turn: the earlier user turns joined, most
    /// recent first (a truncation cuts the oldest). Empty for a one-turn request.
    pub fn texts(&self) -> Vec<String> {
        if self.earlier.is_empty() {
            return Vec::new();
        }
        vec![self.earlier.join("\n\n")]
    }

    /// How many texts [`Self::texts`] gives, without building them.
    pub fn text_count(&self) -> usize {
        usize::from(!self.earlier.is_empty())
    }

    /// Tokens of the whole input, given the tokens of what was embedded (`embedded_tokens`: the last
    /// turn's and the earlier turns').
    pub fn input_tokens(&self, embedded_tokens: usize) -> usize {
        embedded_tokens + self.other_bytes.div_ceil(BYTES_PER_TOKEN)
    }
}

/// `last` (a request's last user turn) and `context`'s earlier user turns as the labels read them
/// ([`crate::reading::for_labels`]: courtesy at either end dropped, typos repaired, one end full
/// stop dropped). The dropped bytes move to `context.other_bytes`, so the cost still counts the whole
/// input.
pub fn read_for_labels(last: &str, context: &mut Context) -> String {
    let mut dropped = 0;
    let mut read = |text: &str| {
        let r = crate::reading::for_labels(text).into_owned();
        dropped += text.len().saturating_sub(r.len());
        r
    };
    let last = read(last);
    for turn in &mut context.earlier {
        *turn = read(turn);
    }
    context.other_bytes += dropped;
    last
}

/// Which fields hold the prompt.
#[derive(Debug, Clone, Default)]
pub struct FieldChoice {
    /// An explicit field (JSONL key or CSV column); otherwise `prompt`, then `messages`, then `text`.
    pub field: Option<String>,
}

/// Opens `path` (`-` for stdin), decompressing `.gz` transparently.
pub fn open(path: &str) -> Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| Error::io("opening", path, e))?)
    };
    let raw = if path.ends_with(".gz") {
        Box::new(MultiGzDecoder::new(raw)) as Box<dyn Read + Send>
    } else {
        raw
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, raw)))
}

/// Decides the format of `path` whose reader is `reader` (peeks without consuming).
pub fn detect_format(path: &str, requested: InputFormat, reader: &mut dyn BufRead) -> InputFormat {
    if requested != InputFormat::Auto {
        return requested;
    }
    let name = path.strip_suffix(".gz").unwrap_or(path);
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jsonl") | Some("ndjson") | Some("json") => InputFormat::Jsonl,
        Some("csv") => InputFormat::Csv,
        Some("txt") => InputFormat::Text,
        _ => match reader.fill_buf() {
            Ok(buf) if buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => {
                InputFormat::Jsonl
            }
            _ => InputFormat::Text,
        },
    }
}

/// Reads records from one input.
pub fn records(
    reader: Box<dyn BufRead + Send>,
    format: InputFormat,
    fields: &FieldChoice,
) -> Result<Box<dyn Iterator<Item = Record> + Send>> {
    Ok(match format {
        InputFormat::Csv => Box::new(CsvRecords::new(reader, fields)?),
        InputFormat::Jsonl => Box::new(LineRecords {
            reader,
            line: 0,
            json: true,
            fields: fields.clone(),
            done: false,
        }),
        InputFormat::Text | InputFormat::Auto => Box::new(LineRecords {
            reader,
            line: 0,
            json: false,
            fields: fields.clone(),
            done: false,
        }),
    })
}

struct LineRecords {
    reader: Box<dyn BufRead + Send>,
    line: u64,
    json: bool,
    fields: FieldChoice,
    done: bool,
}

impl Iterator for LineRecords {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.done {
            return None;
        }
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => {
                self.done = true;
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                // A read error (truncated gzip, I/O) ends this input; report it in place of the next line.
                self.done = true;
                self.line += 1;
                return Some(Record {
                    line: self.line,
                    id: None,
                    prompt: Err(format!("read error: {e}")),
                    context: Context::default(),
                });
            }
        }
        self.line += 1;
        while matches!(buf.last(), Some(b'\n') | Some(b'\r')) {
            buf.pop();
        }
        let text = match String::from_utf8(buf) {
            Ok(t) => t,
            Err(_) => {
                return Some(Record {
                    line: self.line,
                    id: None,
                    prompt: Err("line is not valid UTF-8".into()),
                    context: Context::default(),
                })
            }
        };
        Some(if self.json {
            parse_json_record(self.line, &text, &self.fields)
        } else {
            Record {
                line: self.line,
                id: None,
                // Empty and whitespace-only prompts are prompts too: embedded as sentence-transformers embeds
                // them (`[CLS][SEP]`) and routed as blank (general, easy, the cheapest provider).
                prompt: Ok(text),
                context: Context::default(),
            }
        })
    }
}

/// Parses one JSONL line into a record.
pub fn parse_json_record(line: u64, text: &str, fields: &FieldChoice) -> Record {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let prompt = if text.trim().is_empty() {
                Err("empty line".to_string())
            } else {
                Err(format!("invalid JSON: {e}"))
            };
            return Record {
                line,
                id: None,
                prompt,
                context: Context::default(),
            };
        }
    };
    let serde_json::Value::Object(mut obj) = value else {
        return Record {
            line,
            id: None,
            prompt: Err("expected a JSON object".into()),
            context: Context::default(),
        };
    };
    let id = obj.get("id").and_then(|v| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let parsed = match &fields.field {
        Some(name) => match obj.get(name) {
            Some(v) => prompt_from_value(name, v),
            None => Err(format!("missing field `{name}`")),
        },
        None => ["prompt", "messages", "text"]
            .iter()
            .find_map(|name| obj.get(*name).map(|v| prompt_from_value(name, v)))
            .unwrap_or_else(|| Err("missing field `prompt` (or `messages`, `text`)".into())),
    };
    let (prompt, context) = match parsed {
        Ok((p, mut c)) => {
            // Moved out of the record, which is dropped here (a conversation's messages can be long).
            c.chat = CHAT_FIELDS
                .iter()
                .filter_map(|k| Some((k.to_string(), obj.remove(*k)?)))
                .collect();
            (Ok(p), c)
        }
        Err(e) => (Err(e), Context::default()),
    };
    Record {
        line,
        id,
        prompt,
        context,
    }
}

/// A prompt from a JSON value: a string, or an OpenAI-style `messages` array (the last user turn, with
/// the rest of the conversation as its context).
pub fn prompt_from_value(
    name: &str,
    value: &serde_json::Value,
) -> std::result::Result<(String, Context), String> {
    match value {
        serde_json::Value::String(s) => Ok((s.clone(), Context::default())),
        serde_json::Value::Array(messages) => conversation(messages),
        _ => Err(format!(
            "field `{name}` must be a string or a messages array"
        )),
    }
}

/// The text of a message's content: a string, or the text parts of an array (`None` for anything else).
pub fn content_text(content: Option<&serde_json::Value>) -> Option<String> {
    match content {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(parts)) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// The last user turn of `messages` and its context: the earlier user turns (most recent first) and the
/// size of everything else.
pub fn conversation(
    messages: &[serde_json::Value],
) -> std::result::Result<(String, Context), String> {
    let is_user = |m: &serde_json::Value| m.get("role").and_then(|r| r.as_str()) == Some("user");
    let last_index = messages
        .iter()
        .rposition(is_user)
        .ok_or_else(|| "messages has no user turn".to_string())?;
    let last = content_text(messages[last_index].get("content"))
        .ok_or_else(|| "user turn has no text content".to_string())?;
    let mut context = Context::default();
    for (k, m) in messages.iter().enumerate().rev() {
        if k == last_index {
            continue;
        }
        let text = content_text(m.get("content")).unwrap_or_default();
        if k < last_index && is_user(m) && context.earlier.len() < MAX_EARLIER_TURNS {
            if !text.trim().is_empty() {
                context.earlier.push(text);
            }
        } else {
            context.other_bytes += text.len();
        }
    }
    Ok((last, context))
}

/// The content of the last message whose role is `user` (content as a string, or as an array of
/// `{"type": "text", "text": ...}` parts).
pub fn last_user_turn(messages: &[serde_json::Value]) -> std::result::Result<String, String> {
    conversation(messages).map(|(last, _)| last)
}

struct CsvRecords {
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    column: std::result::Result<usize, String>,
    id_column: Option<usize>,
}

impl CsvRecords {
    fn new(reader: Box<dyn BufRead + Send>, fields: &FieldChoice) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let headers = reader
            .byte_headers()
            .map_err(|e| Error::InvalidInput(format!("CSV header: {e}")))?
            .clone();
        let find = |name: &str| headers.iter().position(|h| h == name.as_bytes());
        let column = match &fields.field {
            Some(name) => find(name).ok_or_else(|| format!("CSV has no column `{name}`")),
            None => find("prompt").or_else(|| find("text")).ok_or_else(|| {
                "CSV has no `prompt` or `text` column; name one with --field".into()
            }),
        };
        if let Err(msg) = &column {
            return Err(Error::Usage(msg.clone()));
        }
        Ok(Self {
            id_column: find("id"),
            reader,
            column,
        })
    }
}

impl Iterator for CsvRecords {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let mut row = csv::ByteRecord::new();
        match self.reader.read_byte_record(&mut row) {
            Ok(false) => None,
            Ok(true) => {
                let line = row.position().map(|p| p.line()).unwrap_or(0);
                let field = |i: usize| {
                    row.get(i)
                        .map(|b| std::str::from_utf8(b).map(str::to_string))
                };
                let id = self
                    .id_column
                    .and_then(field)
                    .and_then(|r| r.ok())
                    .filter(|s| !s.is_empty());
                let prompt = match &self.column {
                    Err(msg) => Err(msg.clone()),
                    Ok(col) => match field(*col) {
                        None => Err("row has no prompt column".into()),
                        Some(Err(_)) => Err("prompt is not valid UTF-8".into()),
                        Some(Ok(text)) => Ok(text),
                    },
                };
                Some(Record {
                    line,
                    id,
                    prompt,
                    context: Context::default(),
                })
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                // A CSV error that is not about one row (I/O) would repeat forever: stop after reporting it.
                let fatal = !matches!(
                    e.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                );
                let record = Record {
                    line,
                    id: None,
                    prompt: Err(format!("invalid CSV row: {e}")),
                    context: Context::default(),
                };
                if fatal {
                    self.column = Err("input ended after an error".into());
                    // Drain by replacing the reader with an empty one.
                    self.reader = csv::ReaderBuilder::new()
                        .from_reader(Box::new(io::empty()) as Box<dyn BufRead + Send>);
                }
                Some(record)
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn read(text: &[u8], format: InputFormat, field: Option<&str>) -> Vec<Record> {
        let reader: Box<dyn BufRead + Send> = Box::new(io::Cursor::new(text.to_vec()));
        let fields = FieldChoice {
            field: field.map(str::to_string),
        };
        records(reader, format, &fields).unwrap().collect()
    }

    #[test]
    fn jsonl_fields_messages_ids_and_bad_lines_in_place() {
        let input = br#"{"id": 7, "prompt": "hello"}
not json
{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": [{"type": "text", "text": "last"}]}]}
{"text": "plain text field", "id": "abc"}
{"prompt": ""}
{"other": 1}

[1, 2]
"#;
        let r = read(input, InputFormat::Jsonl, None);
        assert_eq!(r.len(), 8);
        assert_eq!(r[0].id.as_deref(), Some("7"));
        assert_eq!(r[0].prompt.as_deref(), Ok("hello"));
        assert!(r[1].prompt.as_ref().unwrap_err().contains("invalid JSON"));
        assert_eq!(r[2].prompt.as_deref(), Ok("last"));
        assert_eq!(r[3].id.as_deref(), Some("abc"));
        // A blank prompt is a prompt (routed as blank), not an error.
        assert_eq!(r[4].prompt.as_deref().map(str::trim), Ok(""));
        assert!(r[5].prompt.as_ref().unwrap_err().contains("missing field"));
        assert_eq!(r[6].prompt, Err("empty line".into()));
        assert!(r[7].prompt.is_err());
        assert_eq!(
            r.iter().map(|r| r.line).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_conversation_gives_its_last_turn_earlier_user_turns_and_the_rest_as_bytes() {
        let m: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"role": "system", "content": "sys"},
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
                {"role": "user", "content": "last"},
                {"role": "assistant", "content": "after"}]"#,
        )
        .unwrap();
        let (last, c) = conversation(&m).unwrap();
        assert_eq!(last, "last");
        assert_eq!(c.earlier, vec!["two".to_string(), "one".to_string()]);
        assert_eq!(c.other_bytes, "sys".len() + "reply".len() + "after".len());
        assert_eq!(c.texts(), vec!["two\n\none".to_string()]);
        assert_eq!(c.input_tokens(10), 10 + 13usize.div_ceil(4));
        let (_, single) = conversation(&m[1..2]).unwrap();
        assert!(single.texts().is_empty());
        assert_eq!((c.text_count(), single.text_count()), (1, 0));
    }

    #[test]
    fn the_labels_read_turns_without_courtesy_and_the_cost_keeps_it() {
        let mut c = Context {
            earlier: vec!["Hi there, write a parser in Rust. Thanks!".into()],
            other_bytes: 7,
            ..Context::default()
        };
        let last = read_for_labels("Now add error recovery, thanks in advance", &mut c);
        assert_eq!(last, "Now add error recovery");
        assert_eq!(c.earlier, vec!["write a parser in Rust".to_string()]);
        let dropped = ", thanks in advance".len() + "Hi there, ".len() + ". Thanks!".len();
        assert_eq!(c.other_bytes, 7 + dropped);
        // A closing that is nothing but courtesy is read as it is.
        let mut c = Context::default();
        assert_eq!(read_for_labels("ok, thanks!", &mut c), "ok, thanks!");
        assert_eq!(c.other_bytes, 0);
    }

    #[test]
    fn text_lines_keep_numbering_and_flag_bad_utf8() {
        let r = read(b"one\r\n\xff\xfe\n\nfour", InputFormat::Text, None);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].prompt.as_deref(), Ok("one"));
        assert!(r[1].prompt.as_ref().unwrap_err().contains("UTF-8"));
        // A blank line is a blank prompt (routed as blank), still in its place.
        assert_eq!(r[2].prompt.as_deref(), Ok(""));
        assert_eq!(r[3].prompt.as_deref(), Ok("four"));
    }

    #[test]
    fn csv_by_field_with_multiline_rows() {
        let input = b"id,question,x\n1,\"two\nlines\",a\n2,,b\n3,third,c\n";
        let r = read(input, InputFormat::Csv, Some("question"));
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].prompt.as_deref(), Ok("two\nlines"));
        assert_eq!(r[0].line, 2);
        assert_eq!(r[1].prompt.as_deref(), Ok(""));
        assert_eq!(r[2].id.as_deref(), Some("3"));
        assert_eq!(r[2].line, 5);
    }

    #[test]
    fn csv_without_prompt_column_is_a_usage_error() {
        let reader: Box<dyn BufRead + Send> = Box::new(io::Cursor::new(b"a,b\n1,2\n".to_vec()));
        assert!(records(reader, InputFormat::Csv, &FieldChoice::default()).is_err());
    }

    #[test]
    fn auto_detection() {
        let mut r = io::Cursor::new(b"  {\"prompt\": 1}".to_vec());
        assert_eq!(
            detect_format("-", InputFormat::Auto, &mut r),
            InputFormat::Jsonl
        );
        let mut r = io::Cursor::new(b"hello".to_vec());
        assert_eq!(
            detect_format("-", InputFormat::Auto, &mut r),
            InputFormat::Text
        );
        assert_eq!(
            detect_format("x.csv.gz", InputFormat::Auto, &mut r),
            InputFormat::Csv
        );
        assert_eq!(
            detect_format("x.jsonl", InputFormat::Auto, &mut r),
            InputFormat::Jsonl
        );
        assert_eq!(
            detect_format("x.jsonl", InputFormat::Text, &mut r),
            InputFormat::Text
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_one_record_per_line(lines in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 1..20)) {
            let lines: Vec<Vec<u8>> = lines.into_iter().map(|l| l.into_iter().filter(|b| *b != b'\n').collect()).collect();
            let text = lines.join(&b'\n');
            for format in [InputFormat::Jsonl, InputFormat::Text] {
                let r = read(&text, format, None);
                // A final empty segment is what follows the last line's newline: it is no record (`a\n` is one
                // line), and an empty input has none.
                let trailing_empty = lines.last().is_some_and(|l| l.is_empty());
                let expected = lines.len() - usize::from(trailing_empty);
                proptest::prop_assert_eq!(r.len(), expected);
            }
        }
    }
}
