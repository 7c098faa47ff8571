//! Request and response bodies of the sidecar, with their OpenAPI schemas.

use super::config::MAX_SESSION_ID_BYTES;
use super::sessions::SessionOutcome;
use crate::error::{Error, Result};
use crate::labels::{Labels, Turn};
use crate::routing::{Candidate, Decision, RouteOptions};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// A prompt: either `prompt` (a string) or `messages` (OpenAI chat form; the last user turn is used).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ClassifyRequest {
    /// The prompt text.
    #[schema(example = "Write a Rust function that parses an ISO 8601 date.")]
    pub prompt: Option<String>,
    /// OpenAI chat messages (`[{"role": "user", "content": "..."}]`); content may be a string or an
    /// array of `{"type": "text", "text": ...}` parts.
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Vec<serde_json::Value>>,
}

impl ClassifyRequest {
    /// The last user turn and its conversation; `Error::InvalidInput` when missing or ambiguous.
    pub fn turns(&self) -> Result<Turns> {
        turns(self.prompt.as_deref(), self.messages.as_deref())
    }
}

/// A prompt plus routing options; every option is optional and overrides the server's defaults.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RouteRequest {
    /// The prompt text.
    #[schema(example = "Prove that the square root of 2 is irrational.")]
    pub prompt: Option<String>,
    /// OpenAI chat messages; the last user turn is used.
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Vec<serde_json::Value>>,
    /// Routing options over the server's defaults (`min_quality`, `max_quality_drop`, `max_cost_usd`,
    /// `allowed_providers`, `denied_providers`, `force_provider`).
    #[serde(flatten)]
    pub options: RouteOptions,
    /// Conversation id: the conversation keeps its provider for the session TTL and only moves up.
    pub session_id: Option<String>,
    /// OpenAI tool definitions: only providers that can call tools are eligible.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<serde_json::Value>,
    /// OpenAI's older `functions`: as `tools`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub functions: Option<serde_json::Value>,
    /// `"none"`, `"auto"`, `"required"` or a named function; the last two need a provider that honours a
    /// forced tool choice.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<serde_json::Value>,
    /// `true` needs a provider that makes parallel tool calls.
    #[schema(value_type = Option<bool>)]
    pub parallel_tool_calls: Option<serde_json::Value>,
    /// `{"type": "json_schema", ...}` needs a provider that keeps a JSON schema.
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<serde_json::Value>,
    /// The answer's token limit: providers whose output limit is lower are excluded, and the expected
    /// cost counts at most this many output tokens.
    #[schema(value_type = Option<u64>)]
    pub max_tokens: Option<serde_json::Value>,
    /// As `max_tokens` (wins over it).
    #[schema(value_type = Option<u64>)]
    pub max_completion_tokens: Option<serde_json::Value>,
}

impl RouteRequest {
    /// What the request needs from a provider, read as the proxy reads a chat body (the input's token
    /// count is filled in once it is labelled).
    pub fn needs(&self) -> Result<crate::routing::Needs> {
        let mut body = serde_json::Map::new();
        let fields = [
            ("tools", &self.tools),
            ("functions", &self.functions),
            ("tool_choice", &self.tool_choice),
            ("parallel_tool_calls", &self.parallel_tool_calls),
            ("response_format", &self.response_format),
            ("max_tokens", &self.max_tokens),
            ("max_completion_tokens", &self.max_completion_tokens),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                body.insert(key.to_string(), v.clone());
            }
        }
        if let Some(m) = &self.messages {
            body.insert("messages".into(), serde_json::Value::Array(m.clone()));
        }
        crate::routing::needs::from_chat_body(&body).map_err(Error::InvalidInput)
    }

    /// The last user turn and its conversation.
    pub fn turns(&self) -> Result<Turns> {
        turns(self.prompt.as_deref(), self.messages.as_deref())
    }

    /// Checks what the policy does not: the session id and the chat fields.
    pub fn check(&self) -> Result<()> {
        self.needs()?;
        if let Some(id) = &self.session_id {
            if id.is_empty() || id.len() > MAX_SESSION_ID_BYTES {
                return Err(Error::InvalidInput(format!(
                    "session_id must be 1 to {MAX_SESSION_ID_BYTES} bytes"
                )));
            }
        }
        Ok(())
    }
}

/// A request's prompt as the labels read it: the last user turn, and the conversation around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Turns {
    pub last: String,
    pub context: crate::input::Context,
}

impl Turns {
    /// How many texts [`Self::texts`] gives.
    pub fn text_count(&self) -> usize {
        1 + self.context.text_count()
    }

    /// Every text the request is embedded as: the last turn first, then its context's texts.
    pub fn texts(&self) -> Vec<String> {
        let mut texts = vec![self.last.clone()];
        texts.extend(self.context.texts());
        texts
    }
}

/// A request's turns as the labels read them ([`crate::input::read_for_labels`]).
fn turns(prompt: Option<&str>, messages: Option<&[serde_json::Value]>) -> Result<Turns> {
    let (last, mut context) = match (prompt, messages) {
        (None, Some(m)) => crate::input::conversation(m).map_err(Error::InvalidInput)?,
        _ => (
            prompt_text(prompt, messages)?,
            crate::input::Context::default(),
        ),
    };
    let last = crate::input::read_for_labels(&last, &mut context);
    Ok(Turns { last, context })
}

fn prompt_text(prompt: Option<&str>, messages: Option<&[serde_json::Value]>) -> Result<String> {
    match (prompt, messages) {
        (Some(p), None) => Ok(p.to_string()),
        (None, Some(m)) => crate::input::last_user_turn(m).map_err(Error::InvalidInput),
        (Some(_), Some(_)) => Err(Error::InvalidInput(
            "give either `prompt` or `messages`, not both".into(),
        )),
        (None, None) => Err(Error::InvalidInput(
            "missing `prompt` (a string) or `messages` (an OpenAI chat array)".into(),
        )),
    }
}

/// An outcome for a routed decision (`decision_id` from `/v1/route`), or for a prompt scored offline
/// (`prompt` or `messages`, with the `provider` that answered it).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The `decision_id` of a `/v1/route` answer.
    pub decision_id: Option<String>,
    /// The prompt, for feedback on a prompt that was not routed by this server.
    pub prompt: Option<String>,
    /// OpenAI chat messages instead of `prompt`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Vec<serde_json::Value>>,
    /// The provider that answered (with `prompt`/`messages`; with `decision_id`, the decision's).
    pub provider: Option<String>,
    /// How good the answer was, in [0, 1].
    #[schema(example = 1.0)]
    pub outcome: Option<f64>,
}

impl FeedbackRequest {
    /// The text of an offline-scored prompt.
    pub fn prompt_text(&self) -> Result<String> {
        prompt_text(self.prompt.as_deref(), self.messages.as_deref())
    }

    /// The outcome, checked: present, finite and in [0, 1].
    pub fn outcome(&self) -> Result<f64> {
        match self.outcome {
            Some(v) if v.is_finite() && (0.0..=1.0).contains(&v) => Ok(v),
            Some(v) => Err(Error::InvalidInput(format!(
                "`outcome` must be a number in [0, 1], got {v}"
            ))),
            None => Err(Error::InvalidInput(
                "missing `outcome` (a number in [0, 1])".into(),
            )),
        }
    }
}

/// What `/v1/feedback` recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedbackResponse {
    /// Always true: the record is on disk (synced) when this answer is sent.
    pub recorded: bool,
    /// The record's id in the log.
    pub id: String,
    pub provider: String,
    pub outcome: f64,
}

/// A batch of route requests, answered in order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BatchRequest {
    /// Route requests (each the body of `POST /v1/route`).
    #[schema(value_type = Vec<RouteRequest>)]
    pub requests: Vec<serde_json::Value>,
}

/// A prompt's labels.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassifyResponse {
    /// The most likely domain.
    #[schema(example = "code")]
    pub domain: String,
    /// Probability of each domain (code, math, reasoning, knowledge, writing, general).
    #[serde(serialize_with = "as_map")]
    #[schema(value_type = HashMap<String, f32>)]
    pub domain_probs: Vec<(String, f32)>,
    /// Difficulty score in [0,1].
    pub difficulty: f32,
    /// Difficulty level: easy, medium or hard.
    #[schema(example = "medium")]
    pub level: String,
    /// Whether the prompt was longer than the model window (256 tokens) and was cut for labelling.
    pub truncated: bool,
    /// Tokens of the whole input, every message of a conversation included (used for the input-cost
    /// estimate).
    pub input_tokens: usize,
    /// What the last user turn is in its conversation: `single` (the only user turn), `continuation`
    /// (it continues the task: labelled with the earlier user turns as context, at least as hard as the
    /// task), or `afresh` (a new question, or small talk such as "thanks": labelled by itself).
    #[schema(example = "single")]
    pub turn: Turn,
}

fn as_map<S: Serializer>(pairs: &[(String, f32)], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

impl From<&Labels> for ClassifyResponse {
    fn from(l: &Labels) -> Self {
        Self {
            domain: l.domain.to_string(),
            domain_probs: l
                .domain_probs
                .iter()
                .map(|(d, p)| (d.to_string(), *p))
                .collect(),
            difficulty: l.difficulty,
            level: l.level.to_string(),
            truncated: l.truncated,
            input_tokens: l.input_tokens,
            turn: l.turn,
        }
    }
}

/// One provider as the decision saw it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CandidateResponse {
    pub provider: String,
    /// Expected quality for this prompt; null when the provider has no outcome data.
    pub expected_quality: Option<f32>,
    /// A 95% interval around `expected_quality` (low, high): narrow where measured on many prompts like
    /// this one, wide where estimated from other kinds of prompts or borrowed; null without a quality.
    pub quality_interval: Option<[f32; 2]>,
    /// Expected cost per query in USD; null when it cannot be estimated.
    pub expected_cost_usd: Option<f64>,
    /// Whether it met every rule.
    pub eligible: bool,
    /// Why it is (in)eligible.
    pub reason: String,
    /// Where its expected quality comes from: `measured` (its own outcome rows in this prompt's category),
    /// `estimated from what it was measured on (…)` (outcome rows in other categories only), `borrowed from X …`
    /// (a registry `like`) or `none`.
    pub quality_source: String,
    /// Why it could not take part at all (`no tool calling`, `not enabled in the registry`, `API key
    /// variable OPENAI_API_KEY is unset`, ...); absent when it took part.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "no tool calling")]
    pub excluded: Option<String>,
}

impl From<&Candidate> for CandidateResponse {
    fn from(c: &Candidate) -> Self {
        Self {
            provider: c.provider.clone(),
            expected_quality: finite32(c.expected_quality),
            quality_interval: c
                .quality_interval
                .iter()
                .all(|v| v.is_finite())
                .then_some(c.quality_interval),
            expected_cost_usd: finite64(c.expected_cost_usd),
            eligible: c.eligible,
            reason: c.reason.clone(),
            quality_source: c.quality_source.clone(),
            excluded: c.excluded.clone(),
        }
    }
}

/// The session part of a routing answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionResponse {
    pub id: String,
    pub outcome: SessionOutcome,
}

/// The provider that should answer, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteResponse {
    #[schema(example = "llama-3.1-8b-instruct")]
    pub provider: String,
    pub expected_quality: Option<f32>,
    pub expected_cost_usd: Option<f64>,
    pub labels: ClassifyResponse,
    /// Every provider considered, cheapest first.
    pub candidates: Vec<CandidateResponse>,
    pub reason: String,
    /// Present when the request gave a `session_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionResponse>,
    /// Names this decision in `POST /v1/feedback` (remembered for the last `--feedback-decisions`).
    pub decision_id: String,
}

impl RouteResponse {
    /// Builds the answer from labels and a (possibly session-adjusted) decision.
    pub fn new(
        labels: &Labels,
        d: &Decision,
        session: Option<SessionResponse>,
        decision_id: String,
    ) -> Self {
        Self {
            provider: d.provider.clone(),
            expected_quality: finite32(d.expected_quality),
            expected_cost_usd: finite64(d.expected_cost_usd),
            labels: labels.into(),
            candidates: d.candidates.iter().map(Into::into).collect(),
            reason: d.reason.clone(),
            session,
            decision_id,
        }
    }
}

/// One answer of a batch: a route response, or an error in its place.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Ok(Box<RouteResponse>),
    Err(ErrorResponse),
}

/// Answers of a batch, in request order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
}

/// The body of every error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

/// What went wrong, safe to show a client.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable kind: invalid_json, invalid_request, payload_too_large, not_found,
    /// method_not_allowed, overloaded, timeout, unavailable, internal.
    #[serde(rename = "type")]
    #[schema(example = "invalid_request")]
    pub kind: String,
    #[schema(example = "prompt is empty")]
    pub message: String,
}

/// The body of `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`, `loading` or `shutting_down`.
    pub status: String,
    pub model_loaded: bool,
    pub table_loaded: bool,
    /// `created_unix` of the loaded artifacts' manifest.
    pub artifacts_created_unix: Option<u64>,
    pub queue_depth: usize,
    /// What runs the embedding model (`native, fp32`, `native, int8 (avx512-vnni)`); null until loaded.
    pub engine: Option<String>,
}

fn finite32(v: f32) -> Option<f32> {
    v.is_finite().then_some(v)
}

fn finite64(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_forms() {
        let r: ClassifyRequest = serde_json::from_value(json!({"prompt": "hi"})).unwrap();
        assert_eq!(r.turns().unwrap().last, "hi");
        let r: ClassifyRequest = serde_json::from_value(json!({"messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]}
        ]}))
        .unwrap();
        assert_eq!(r.turns().unwrap().last, "second");
        // Blank prompts are prompts (routed as blank), not errors.
        for body in [
            json!({"prompt": "  "}),
            json!({"messages": [{"role": "user", "content": ""}]}),
        ] {
            let r: ClassifyRequest = serde_json::from_value(body).unwrap();
            assert_eq!(r.turns().unwrap().last.trim(), "");
        }
        for (body, msg) in [
            (json!({}), "missing `prompt`"),
            (json!({"prompt": "a", "messages": []}), "not both"),
            (json!({"messages": []}), "no user turn"),
        ] {
            let r: ClassifyRequest = serde_json::from_value(body).unwrap();
            let e = r.turns().unwrap_err();
            assert!(e.public_message().contains(msg), "{e}");
            assert_eq!(e.http_status(), 422);
        }
    }

    #[test]
    fn route_options_and_session_ids() {
        let r: RouteRequest = serde_json::from_value(json!({
            "prompt": "x", "min_quality": 0.5, "denied_providers": ["a"], "session_id": "s"
        }))
        .unwrap();
        let o = &r.options;
        assert_eq!(o.min_quality, Some(0.5));
        assert_eq!(o.denied, vec!["a".to_string()]);
        assert!(r.check().is_ok());
        let r = RouteRequest {
            session_id: Some("x".repeat(MAX_SESSION_ID_BYTES + 1)),
            ..RouteRequest::default()
        };
        assert!(r.check().is_err());
    }

    #[test]
    fn domain_probs_is_an_object() {
        let c = ClassifyResponse {
            domain: "code".into(),
            domain_probs: vec![("code".into(), 0.75), ("math".into(), 0.25)],
            difficulty: 0.5,
            level: "medium".into(),
            truncated: false,
            input_tokens: 3,
            turn: Turn::Single,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["domain_probs"], json!({"code": 0.75, "math": 0.25}));
    }
}
