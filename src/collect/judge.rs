//! How an answer becomes an outcome in [0, 1]: the judge model's prompts and the parsing of its replies
//! (single 1–10 ratings; pairwise preferences asked in both orders), or the team's own scorer program.

use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Tokens a judge may write: a short justification and the verdict line.
pub const JUDGE_MAX_TOKENS: u32 = 400;

const SINGLE_SYSTEM: &str =
    "You are an impartial judge of the answers AI assistants give to users. \
Judge only the quality of the answer for the user's request.";

const SINGLE_RUBRIC: &str = "Rate the answer above for the user's request on a scale of 1 to 10:\n\
- 10: fully correct, complete and helpful; nothing important missing.\n\
- 7-9: correct and useful, with minor omissions or unclear parts.\n\
- 4-6: partly correct or incomplete; a user would need to ask again.\n\
- 2-3: mostly wrong, off-topic or unhelpful.\n\
- 1: wrong, harmful, or no answer at all.\n\
Check facts, reasoning, code and arithmetic yourself; do not reward length or confident tone. \
If the request has a single correct result and the answer's is wrong, rate 3 or lower.\n\
Write at most three sentences of justification, then end with a line in exactly this format:\n\
Rating: N";

const PAIR_SYSTEM: &str =
    "You are an impartial judge comparing the answers two AI assistants gave to \
the same user request. Judge only which answer serves the user's request better.";

const PAIR_RUBRIC: &str = "Compare the two answers above for the user's request. Check facts, \
reasoning, code and arithmetic yourself; the order of the answers and their length must not \
influence you. Write at most three sentences, then end with a line in exactly one of these forms:\n\
Verdict: [[A]]   (assistant A is better)\n\
Verdict: [[B]]   (assistant B is better)\n\
Verdict: [[C]]   (a tie: equally good or equally bad)";

/// The request as the judge reads it: the user's text, or the whole conversation with roles.
pub fn render_request(messages: &[Value]) -> String {
    if let [only] = messages {
        return super::sample::content_text(only.get("content").unwrap_or(&Value::Null));
    }
    messages
        .iter()
        .map(|m| {
            format!(
                "[{}]\n{}",
                m.get("role").and_then(Value::as_str).unwrap_or("user"),
                super::sample::content_text(m.get("content").unwrap_or(&Value::Null))
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The judge's messages for rating one answer.
pub fn single_messages(request: &str, answer: &str) -> Vec<Value> {
    vec![
        json!({"role": "system", "content": SINGLE_SYSTEM}),
        json!({"role": "user", "content": format!(
            "[User request]\n{request}\n[End of user request]\n\n[Answer]\n{answer}\n[End of answer]\n\n{SINGLE_RUBRIC}"
        )}),
    ]
}

/// The judge's messages for comparing answer A with answer B.
pub fn pair_messages(request: &str, a: &str, b: &str) -> Vec<Value> {
    vec![
        json!({"role": "system", "content": PAIR_SYSTEM}),
        json!({"role": "user", "content": format!(
            "[User request]\n{request}\n[End of user request]\n\n[Answer of assistant A]\n{a}\n[End of answer A]\n\n\
             [Answer of assistant B]\n{b}\n[End of answer B]\n\n{PAIR_RUBRIC}"
        )}),
    ]
}

/// The rating of a single-mode reply: the number on its last `Rating:` line, 1–10 (`Rating: [[7]]`,
/// `Rating: 7/10` also read). `None` when there is no such line or the number is out of range.
pub fn parse_rating(reply: &str) -> Option<u8> {
    let line = reply.lines().rev().find_map(|l| {
        let l = l.trim().trim_start_matches(['*', '#', ' ']);
        let lower = l.to_ascii_lowercase();
        lower
            .strip_prefix("rating")
            .map(|rest| rest.trim_start_matches(['*', ' ', ':']).to_string())
    })?;
    let digits: String = line
        .trim_start_matches(['[', ' '])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n: u8 = digits.parse().ok()?;
    (1..=10).contains(&n).then_some(n)
}

/// A rating as an outcome: 1 → 0, 10 → 1.
pub fn rating_outcome(rating: u8) -> f64 {
    (f64::from(rating) - 1.0) / 9.0
}

/// A pairwise verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    A,
    B,
    Tie,
}

impl Preference {
    pub fn word(self) -> &'static str {
        match self {
            Preference::A => "A",
            Preference::B => "B",
            Preference::Tie => "tie",
        }
    }

    pub fn from_word(w: &str) -> Option<Self> {
        match w {
            "A" => Some(Preference::A),
            "B" => Some(Preference::B),
            "tie" => Some(Preference::Tie),
            _ => None,
        }
    }
}

/// The verdict of a pairwise reply: the last `[[A]]`, `[[B]]` or `[[C]]` in it.
pub fn parse_preference(reply: &str) -> Option<Preference> {
    let pos = |tag: &str| reply.rfind(tag);
    [
        (pos("[[A]]"), Preference::A),
        (pos("[[B]]"), Preference::B),
        (pos("[[C]]"), Preference::Tie),
    ]
    .into_iter()
    .filter_map(|(p, v)| p.map(|p| (p, v)))
    .max_by_key(|(p, _)| *p)
    .map(|(_, v)| v)
}

/// The candidate's outcome from one order: 1 for a win, ½ for a tie, 0 for a loss.
pub fn pair_outcome(verdict: Preference, candidate_is_a: bool) -> f64 {
    match (verdict, candidate_is_a) {
        (Preference::Tie, _) => 0.5,
        (Preference::A, true) | (Preference::B, false) => 1.0,
        _ => 0.0,
    }
}

/// Runs the team's scorer (`sh -c CMD`): `input` as one JSON line on its stdin, one number in [0, 1]
/// expected on its stdout. The error says what went wrong, without the program's output.
pub async fn run_scorer(cmd: &str, input: &Value, timeout: Duration) -> Result<f64, String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("the scorer could not start: {e}"))?;
    let mut line = serde_json::to_vec(input).map_err(|e| format!("scorer input: {e}"))?;
    line.push(b'\n');
    if let Some(mut stdin) = child.stdin.take() {
        // A scorer that exits without reading its input is judged by its output alone.
        let _ = stdin.write_all(&line).await;
    }
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| format!("the scorer gave no answer within {} s", timeout.as_secs()))?
        .map_err(|e| format!("the scorer failed: {e}"))?;
    if !output.status.success() {
        return Err(format!("the scorer exited with {}", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| "the scorer's output is not one number".to_string())?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("the scorer's number {value} is not in [0, 1]"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_read_from_the_last_rating_line() {
        assert_eq!(parse_rating("Good answer.\nRating: 8"), Some(8));
        assert_eq!(
            parse_rating("Rating: 3\nOn reflection...\n**Rating:** [[9]]"),
            Some(9)
        );
        assert_eq!(parse_rating("rating: 10/10"), Some(10));
        assert_eq!(parse_rating("Rating: 11"), None);
        assert_eq!(parse_rating("Rating: 0"), None);
        assert_eq!(parse_rating("I would give it an 8."), None);
        assert_eq!(parse_rating(""), None);
        assert_eq!(rating_outcome(1), 0.0);
        assert_eq!(rating_outcome(10), 1.0);
    }

    #[test]
    fn preferences_take_the_last_verdict() {
        assert_eq!(parse_preference("Verdict: [[A]]"), Some(Preference::A));
        assert_eq!(
            parse_preference("[[A]] seemed better at first. Verdict: [[C]]"),
            Some(Preference::Tie)
        );
        assert_eq!(parse_preference("B is better"), None);
        assert_eq!(pair_outcome(Preference::A, true), 1.0);
        assert_eq!(pair_outcome(Preference::A, false), 0.0);
        assert_eq!(pair_outcome(Preference::Tie, false), 0.5);
    }

    #[tokio::test]
    async fn a_scorer_reads_json_and_answers_one_number() {
        let input = json!({"answer": "4", "expected": "4"});
        let t = Duration::from_secs(10);
        assert_eq!(run_scorer("read l; echo 0.75", &input, t).await, Ok(0.75));
        assert!(run_scorer("echo 1.5", &input, t)
            .await
            .unwrap_err()
            .contains("not in [0, 1]"));
        assert!(run_scorer("echo hello", &input, t)
            .await
            .unwrap_err()
            .contains("not one number"));
        assert!(run_scorer("exit 3", &input, t)
            .await
            .unwrap_err()
            .contains("exited"));
    }
}
