//! The OpenAI-compatible proxy (`triage serve --proxy`): `POST /v1/chat/completions` routes a request
//! whose `model` is one of the routed names (`triage`, `auto`) and forwards it to the chosen provider's
//! `upstream` (providers.toml); any other `model` naming a provider passes through to that provider.
//! `GET /v1/models` lists both kinds.
//!
//! - Routing options come from the body's `triage` object (the openai client's `extra_body`) or the
//!   `x-triage-options` header (the same JSON); the body wins. The field is removed before forwarding.
//! - Only providers with an `upstream` take part in routing (the others are denied, and the decision says
//!   so). On a 5xx, 429, provider-side 401/403/404, timeout or connection error before the answer starts,
//!   the next eligible candidate (cheapest first) is tried, up to `--proxy-max-attempts` providers in all.
//!   A passed-through request has no fallover: its caller chose the provider.
//! - Streaming answers are forwarded event by event; every answer names the provider that gave it
//!   (`model`, `x-triage-provider`) and routed ones the decision (`x-triage-decision-id`, for feedback).
//! - API keys are read from the environment at each attempt and never written anywhere else: not to
//!   logs, errors (a provider's error body is redacted), metrics or the decision log.

use super::api::{ErrorResponse, RouteRequest, SessionResponse};
use super::error::ApiError;
use super::feedback::FeedbackLog;
use super::metrics::ATTEMPTS;
use super::service;
use super::state::AppState;
use crate::brain::Brain;
use crate::routing::registry::Upstream;
use crate::routing::RouteOptions;
use crate::upstream::{self, Failure, SseModelRewriter};
use axum::body::{Body as ResponseBody, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

/// Header naming the provider that answered.
pub const PROVIDER_HEADER: &str = "x-triage-provider";
/// Header with the routing decision's id (routed requests only).
pub const DECISION_HEADER: &str = "x-triage-decision-id";
/// Header with the number of providers tried.
pub const ATTEMPTS_HEADER: &str = "x-triage-attempts";
/// Request header carrying routing options as JSON, for clients that cannot add a body field.
pub const OPTIONS_HEADER: &str = "x-triage-options";

/// The fields of a `triage` options object (those of [`RouteOptions`] plus `session_id`): a misspelt
/// option is an error, not silently ignored.
const OPTION_FIELDS: [&str; 8] = [
    "min_quality",
    "min_confidence",
    "max_quality_drop",
    "max_cost_usd",
    "allowed_providers",
    "denied_providers",
    "force_provider",
    "session_id",
];

/// Routing options a proxied request may carry (`"triage": {...}` in the body).
#[derive(Debug, Clone, Default, Deserialize)]
struct ProxyOptions {
    #[serde(flatten)]
    options: RouteOptions,
    session_id: Option<String>,
}

/// One provider to try.
#[derive(Debug, Clone)]
struct Target {
    provider: String,
    upstream: Upstream,
}

/// What the proxy decided before forwarding.
struct Plan {
    requested_model: String,
    routed: bool,
    stream: bool,
    decision_id: Option<String>,
    labels: Option<LoggedLabels>,
    explanation: Option<Explanation>,
    targets: Vec<Target>,
    routing_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
struct LoggedLabels {
    domain: String,
    level: String,
    difficulty: f32,
    turn: crate::labels::Turn,
}

/// Why the decision went as it did: the answer's `triage` object and the decision log carry it.
#[derive(Debug, Clone, Default, Serialize)]
struct Explanation {
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<SessionResponse>,
    /// Every provider that could not take part, with why (`no tool calling`, an unset key, ...).
    excluded: Vec<Excluded>,
}

#[derive(Debug, Clone, Serialize)]
struct Excluded {
    provider: String,
    why: String,
}

/// One attempt, as the decision log and the error message tell it.
#[derive(Debug, Clone, Serialize)]
struct Attempt {
    provider: String,
    /// `ok`, or the failure's kind.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    ms: f64,
    #[serde(skip)]
    failure: Option<Failure>,
}

/// One line of the decision log.
#[derive(Serialize)]
struct DecisionLogRecord<'a> {
    unix_ms: u128,
    decision_id: Option<&'a str>,
    requested_model: &'a str,
    routed: bool,
    stream: bool,
    labels: Option<&'a LoggedLabels>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a Explanation>,
    /// The provider routing chose (the first tried).
    chosen: Option<&'a str>,
    /// The provider whose answer was forwarded; null when none answered.
    answered_by: Option<&'a str>,
    /// The status sent to the client.
    status: u16,
    attempts: &'a [Attempt],
    routing_ms: f64,
}

type Body = Result<Bytes, BytesRejection>;

/// An OpenAI chat completion request as the proxy reads it (every other field is forwarded unchanged).
#[derive(utoipa::ToSchema)]
pub struct ProxyChatRequest {
    /// `triage` or `auto` to route; a provider's name (or alias) to pass through to it.
    #[schema(example = "triage")]
    pub model: String,
    /// OpenAI chat messages (text, image and audio parts, assistant `tool_calls`, `tool` results).
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Value>,
    pub stream: Option<bool>,
    /// Tool definitions: only providers that can call tools are routed to.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Value>,
    /// `"required"` or a named function needs a provider that honours a forced tool choice.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    pub parallel_tool_calls: Option<bool>,
    /// `{"type": "json_schema", ...}` needs a provider that keeps a JSON schema.
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<Value>,
    /// Excludes providers whose output limit is lower; caps the expected output in the cost.
    pub max_tokens: Option<u64>,
    pub max_completion_tokens: Option<u64>,
    /// Routing options (`min_quality`, `max_quality_drop`, `max_cost_usd`, `min_confidence`,
    /// `allowed_providers`, `denied_providers`, `force_provider`, `session_id`); removed before forwarding.
    #[schema(value_type = Option<Object>)]
    pub triage: Option<Value>,
}

/// What the proxy adds to a routed, non-streamed answer as its `triage` field (streamed answers carry
/// the `x-triage-*` headers; the decision log has it all).
#[derive(utoipa::ToSchema)]
pub struct ProxyTriage {
    /// The provider that answered.
    pub provider: String,
    pub decision_id: Option<String>,
    /// Every provider tried, in order: `{provider, outcome}`.
    #[schema(value_type = Vec<Object>)]
    pub attempts: Vec<Value>,
    /// The labels (`domain`, `level`, `difficulty`, `turn`).
    #[schema(value_type = Object)]
    pub labels: Value,
    /// Why the decision went as it did.
    pub reason: String,
    pub session: Option<SessionResponse>,
    /// Providers that could not take part, with why: `[{"provider", "why"}]`.
    #[schema(value_type = Vec<Object>)]
    pub excluded: Vec<Value>,
}

/// OpenAI-compatible chat completions: routed (`model: "triage"`) or passed through.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    request_body = ProxyChatRequest,
    responses(
        (status = 200, description = "The provider's answer (`model` names it; routed answers add `triage`: ProxyTriage); `text/event-stream` when streaming", body = Object),
        (status = 400, description = "Body is not valid JSON", body = ErrorResponse),
        (status = 404, description = "Not a proxy, or `model` is neither routed nor a provider with an upstream", body = ErrorResponse),
        (status = 422, description = "Malformed messages, tools, response_format or options; a forced provider that cannot serve it; no provider can serve the request (each one's reason)", body = ErrorResponse),
        (status = 429, description = "Inference queue full; see Retry-After", body = ErrorResponse),
        (status = 502, description = "No provider answered (each attempt's failure)", body = ErrorResponse),
        (status = 503, description = "Model or table not loaded yet", body = ErrorResponse),
    ),
    tag = "proxy"
)]
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = body.map_err(|e| ApiError::from_body(&e, state.config().max_body_bytes))?;
    let mut request: Map<String, Value> =
        match serde_json::from_slice::<Value>(&bytes).map_err(|e| ApiError::from_json(&e))? {
            Value::Object(m) => m,
            _ => return Err(invalid("request body must be a JSON object")),
        };
    let brain = state.brain()?;
    let plan = plan(&state, &brain, &headers, &mut request).await?;
    forward(&state, plan, request).await
}

/// Routes (or resolves) the request: the providers to try, in order.
async fn plan(
    state: &AppState,
    brain: &Arc<Brain>,
    headers: &HeaderMap,
    request: &mut Map<String, Value>,
) -> Result<Plan, ApiError> {
    let started = Instant::now();
    let Some(proxy) = &state.config().proxy else {
        return Err(ApiError::not_found());
    };
    let model = match request.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(_) => return Err(invalid("`model` must be a non-empty string")),
        None => return Err(invalid("missing `model`")),
    };
    let stream = match request.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("`stream` must be a boolean")),
    };
    let options = proxy_options(request.remove("triage"), headers)?;
    let registry = brain.policy.registry();
    if !proxy.routed_models.iter().any(|m| m == &model) {
        let entry = registry
            .resolve(&model)
            .filter(|p| p.upstream.is_some())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "model_not_found",
                    format!(
                        "model `{model}` is neither routed by triage ({}) nor a provider with an upstream in providers.toml",
                        proxy.routed_models.join(", ")
                    ),
                )
            })?;
        if options.is_some() {
            return Err(invalid(format!(
                "`triage` routing options apply only to the routed models ({})",
                proxy.routed_models.join(", ")
            )));
        }
        let targets = entry
            .upstream
            .clone()
            .map(|upstream| Target {
                provider: entry.name.clone(),
                upstream,
            })
            .into_iter()
            .collect();
        return Ok(Plan {
            requested_model: model,
            routed: false,
            stream,
            decision_id: None,
            labels: None,
            explanation: None,
            targets,
            routing_ms: ms(started),
        });
    }

    let deadline = service::deadline(state);
    let messages = match request.get("messages") {
        Some(Value::Array(m)) => m.clone(),
        _ => return Err(invalid("missing `messages` (an array of chat messages)")),
    };
    let ProxyOptions {
        options,
        session_id,
    } = options.unwrap_or_default();
    // Only providers the proxy can reach take part; the rest are excluded with why (and forcing one is
    // an error, never a substitute).
    let mut options = options.merged_over(brain.policy.defaults());
    options.unavailable = brain.unreachable.clone();
    if !brain.has_upstreams() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "no_upstream",
            "no provider has an `upstream` in providers.toml, so the proxy has nowhere to send requests",
        ));
    }
    let field = |key: &str| request.get(key).filter(|v| !v.is_null()).cloned();
    let route_request = RouteRequest {
        prompt: None,
        messages: Some(messages),
        options,
        session_id,
        tools: field("tools"),
        functions: field("functions"),
        tool_choice: field("tool_choice"),
        parallel_tool_calls: field("parallel_tool_calls"),
        response_format: field("response_format"),
        max_tokens: field("max_tokens"),
        max_completion_tokens: field("max_completion_tokens"),
    };
    route_request.check()?;
    let turns = route_request.turns()?;
    // A conversation that carries tool calls goes back to the provider that made them (the ids are its
    // own), unless the request chose providers itself.
    let mut route_request = route_request;
    let pinned = tool_call_provider(state, brain, request, &route_request.options);
    if let Some(p) = &pinned {
        route_request.options.force = Some(p.clone());
    }
    let forced = route_request.options.force.is_some();
    let mut decision = service::route(state, brain, &route_request, &turns, deadline).await?;
    if let Some(p) = &pinned {
        decision.reason = format!(
            "continues the tool calls {p} made (their ids are its own); {}",
            decision.reason
        );
    }
    let eligible_rest = decision
        .candidates
        .iter()
        .filter(|c| c.eligible && c.provider != decision.provider)
        .map(|c| c.provider.as_str());
    // A forced (or pinned) provider is the only one tried: another one answering would be a substitute.
    let attempts = if forced { 1 } else { proxy.max_attempts };
    let targets = std::iter::once(decision.provider.as_str())
        .chain(eligible_rest)
        .filter_map(|name| {
            let entry = registry.get(name)?;
            Some(Target {
                provider: entry.name.clone(),
                upstream: entry.upstream.clone()?,
            })
        })
        .take(attempts)
        .collect();
    let excluded = decision
        .candidates
        .iter()
        .filter_map(|c| {
            Some(Excluded {
                provider: c.provider.clone(),
                why: c.excluded.clone()?,
            })
        })
        .collect();
    Ok(Plan {
        requested_model: model,
        routed: true,
        stream,
        decision_id: Some(decision.decision_id.clone()),
        labels: Some(LoggedLabels {
            domain: decision.labels.domain.clone(),
            level: decision.labels.level.clone(),
            difficulty: decision.labels.difficulty,
            turn: decision.labels.turn,
        }),
        explanation: Some(Explanation {
            reason: decision.reason.clone(),
            session: decision.session.clone(),
            excluded,
        }),
        targets,
        routing_ms: ms(started),
    })
}

/// The provider that made the tool calls this conversation carries (an assistant message's
/// `tool_calls` ids, or a `tool` message's `tool_call_id`), when the proxy answered them, it can still
/// reach it, and the request's own lists allow it.
fn tool_call_provider(
    state: &AppState,
    brain: &Brain,
    request: &Map<String, Value>,
    options: &RouteOptions,
) -> Option<String> {
    if options.force.is_some() {
        return None;
    }
    let messages = request.get("messages")?.as_array()?;
    let ids = messages.iter().rev().flat_map(|m| {
        let own = m.get("tool_call_id").and_then(Value::as_str);
        let made = m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("id").and_then(Value::as_str));
        own.into_iter().chain(made)
    });
    let provider = ids
        .filter_map(|id| state.tool_calls().get(id))
        .map(|s| s.provider)
        .next()?;
    let allowed = options
        .allowed
        .as_ref()
        .is_none_or(|a| a.contains(&provider))
        && !options.denied.contains(&provider)
        && !brain.unreachable.contains_key(&provider);
    allowed.then_some(provider)
}

/// Remembers which provider made the tool calls of an answer (non-streamed: `choices[].message.tool_calls`).
fn remember_tool_calls(state: &AppState, provider: &str, answer: &Map<String, Value>) {
    let ids = answer
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("message")?.get("tool_calls")?.as_array())
        .flatten()
        .filter_map(|call| call.get("id").and_then(Value::as_str));
    for id in ids {
        state.tool_calls().set(id, pin(provider));
    }
}

/// A tool-call id's record: the provider that made it.
fn pin(provider: &str) -> super::sessions::Session {
    super::sessions::Session {
        provider: provider.to_string(),
        task_allowed: Vec::new(),
    }
}

/// The request's routing options: the body's `triage` object, else the `x-triage-options` header.
fn proxy_options(
    body_field: Option<Value>,
    headers: &HeaderMap,
) -> Result<Option<ProxyOptions>, ApiError> {
    let value = match body_field {
        Some(Value::Null) | None => match headers.get(OPTIONS_HEADER) {
            None => return Ok(None),
            Some(h) => serde_json::from_slice::<Value>(h.as_bytes())
                .map_err(|_| invalid(format!("header {OPTIONS_HEADER} must hold a JSON object")))?,
        },
        Some(v) => v,
    };
    let Some(fields) = value.as_object() else {
        return Err(invalid("`triage` must be a JSON object of routing options"));
    };
    if let Some(unknown) = fields.keys().find(|k| !OPTION_FIELDS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown routing option `{unknown}` (expected one of {})",
            OPTION_FIELDS.join(", ")
        )));
    }
    ProxyOptions::deserialize(&value)
        .map(Some)
        .map_err(|e| invalid(format!("invalid `triage` routing options: {e}")))
}

/// Tries the plan's providers in order and forwards the first answer.
async fn forward(
    state: &AppState,
    plan: Plan,
    mut request: Map<String, Value>,
) -> Result<Response, ApiError> {
    let Some(proxy) = &state.config().proxy else {
        return Err(ApiError::not_found());
    };
    let client = state.proxy_client()?;
    let mut attempts: Vec<Attempt> = Vec::new();
    for target in &plan.targets {
        let started = Instant::now();
        let key = match upstream::api_key(&target.upstream) {
            Ok(key) => key,
            Err(f) => {
                attempts.push(failed(target, f, started));
                continue;
            }
        };
        let upstream_model = target
            .upstream
            .model
            .clone()
            .unwrap_or_else(|| target.provider.clone());
        request.insert("model".into(), Value::String(upstream_model));
        let body = serde_json::to_vec(&request)
            .map_err(|e| ApiError::from(crate::error::Error::json("a proxied request", e)))?;
        let mut call = client
            .post(target.upstream.chat_completions_url())
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if plan.stream {
            call = call.header(header::ACCEPT, "text/event-stream");
        }
        if let Some(k) = &key {
            call = call.bearer_auth(k);
        }
        let response = match tokio::time::timeout(proxy.upstream_timeout, call.send()).await {
            Err(_) => Err(Failure::Timeout),
            Ok(Err(e)) => Err(Failure::from_reqwest(&e)),
            Ok(Ok(r)) => Ok(r),
        };
        let response = match response {
            Ok(r) => r,
            Err(f) => {
                attempts.push(failed(target, f, started));
                continue;
            }
        };
        let status = response.status();
        if !status.is_success() {
            if plan.routed && upstream::worth_another_provider(status) {
                attempts.push(failed(target, Failure::Status(status.as_u16()), started));
                continue;
            }
            // The request's own fault (or a passed-through provider's answer): the client sees it.
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let text = read_all(response, proxy.upstream_timeout)
                .await
                .unwrap_or_default();
            let mut a = failed(target, Failure::Status(status.as_u16()), started);
            a.outcome = "passed_back";
            attempts.push(a);
            let mut out =
                Response::new(ResponseBody::from(upstream::redact(&text, key.as_deref())));
            *out.status_mut() = status;
            if let Some(ct) = content_type {
                out.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            finish(state, &plan, &attempts, Some(&target.provider), status);
            return Ok(with_triage_headers(
                out,
                &target.provider,
                &plan,
                attempts.len(),
            ));
        }

        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        if plan.stream {
            attempts.push(succeeded(target, started));
            let events = rewritten_events(state.clone(), response, target.provider.clone());
            let mut out = Response::new(ResponseBody::from_stream(events));
            out.headers_mut().insert(
                header::CONTENT_TYPE,
                content_type.unwrap_or(HeaderValue::from_static("text/event-stream")),
            );
            out.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return Ok(answered(state, &plan, &attempts, target, status, out));
        }

        // Not streaming: nothing has reached the client yet, so a broken body still falls over.
        let text = match read_all(response, proxy.upstream_timeout).await {
            Ok(t) => t,
            Err(f) => {
                attempts.push(failed(target, f, started));
                continue;
            }
        };
        attempts.push(succeeded(target, started));
        let body = match serde_json::from_slice::<Value>(&text) {
            Ok(Value::Object(mut answer)) => {
                remember_tool_calls(state, &target.provider, &answer);
                answer.insert("model".into(), Value::String(target.provider.clone()));
                let mut triage = serde_json::json!({
                    "provider": target.provider,
                    "decision_id": plan.decision_id,
                    "attempts": attempts.iter().map(|a| serde_json::json!({"provider": a.provider, "outcome": a.outcome})).collect::<Vec<_>>(),
                });
                if let (Some(fields), Some(labels), Some(explanation)) =
                    (triage.as_object_mut(), &plan.labels, &plan.explanation)
                {
                    fields.insert("labels".into(), serde_json::json!(labels));
                    if let Ok(Value::Object(e)) = serde_json::to_value(explanation) {
                        fields.extend(e);
                    }
                }
                answer.insert("triage".into(), triage);
                Bytes::from(serde_json::to_vec(&answer).unwrap_or_else(|_| text.to_vec()))
            }
            _ => text,
        };
        let mut out = Response::new(ResponseBody::from(body));
        out.headers_mut().insert(
            header::CONTENT_TYPE,
            content_type.unwrap_or(HeaderValue::from_static("application/json")),
        );
        return Ok(answered(state, &plan, &attempts, target, status, out));
    }

    // Nobody answered.
    let tried: Vec<String> = attempts
        .iter()
        .map(|a| {
            let why = a
                .failure
                .as_ref()
                .map(|f| f.describe(proxy.upstream_timeout))
                .unwrap_or_default();
            format!("{} ({why})", a.provider)
        })
        .collect();
    let error = ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_unavailable",
        if tried.is_empty() {
            "no provider with an upstream to try".to_string()
        } else {
            format!("no provider answered: {}", tried.join(", "))
        },
    );
    finish(state, &plan, &attempts, None, error.status);
    let mut response = error.into_response();
    if let Some(id) = &plan.decision_id {
        if let Ok(v) = HeaderValue::from_str(id) {
            response.headers_mut().insert(DECISION_HEADER, v);
        }
    }
    Ok(response)
}

/// The finishing step of an answer forwarded from `target` (streamed or whole): a decision that fell
/// over is re-pointed at the provider that answered (feedback scores that one), the attempts are counted
/// and logged, and the triage headers are added.
fn answered(
    state: &AppState,
    plan: &Plan,
    attempts: &[Attempt],
    target: &Target,
    status: StatusCode,
    response: Response,
) -> Response {
    if let (Some(id), true) = (&plan.decision_id, attempts.len() > 1) {
        state.decisions().set_provider(id, &target.provider);
    }
    finish(state, plan, attempts, Some(&target.provider), status);
    with_triage_headers(response, &target.provider, plan, attempts.len())
}

/// A provider's streamed answer, passed on event by event with `model` naming `provider`.
fn rewritten_events(
    app: AppState,
    response: reqwest::Response,
    provider: String,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    let rewriter = SseModelRewriter::new(provider.clone());
    let source = Box::pin(response.bytes_stream());
    futures_util::stream::unfold(
        Some((source, rewriter, provider, app)),
        |state| async move {
            let (mut source, mut rewriter, provider, app) = state?;
            loop {
                match source.next().await {
                    Some(Ok(chunk)) => {
                        let ready = rewriter.push(&chunk);
                        // Tool calls made in the stream so far: their ids lead the next turn back here.
                        for id in rewriter.take_tool_call_ids() {
                            app.tool_calls().set(&id, pin(&provider));
                        }
                        if !ready.is_empty() {
                            return Some((Ok(ready), Some((source, rewriter, provider, app))));
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(
                            provider = %provider,
                            failure = Failure::from_reqwest(&e).kind(),
                            "a provider's stream broke off"
                        );
                        let broke = std::io::Error::other("the provider's stream broke off");
                        return Some((Err(broke), None));
                    }
                    None => {
                        let rest = rewriter.finish();
                        for id in rewriter.take_tool_call_ids() {
                            app.tool_calls().set(&id, pin(&provider));
                        }
                        return (!rest.is_empty()).then_some((Ok(rest), None));
                    }
                }
            }
        },
    )
}

/// Reads a whole (non-streamed) answer; a timeout or a broken connection is a failure of the attempt.
async fn read_all(
    response: reqwest::Response,
    timeout: std::time::Duration,
) -> Result<Bytes, Failure> {
    match tokio::time::timeout(timeout, response.bytes()).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(e)) => Err(Failure::from_reqwest(&e)),
        Ok(Ok(b)) => Ok(b),
    }
}

fn with_triage_headers(
    mut response: Response,
    provider: &str,
    plan: &Plan,
    attempts: usize,
) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(provider) {
        h.insert(PROVIDER_HEADER, v);
    }
    if let Some(Ok(v)) = plan.decision_id.as_deref().map(HeaderValue::from_str) {
        h.insert(DECISION_HEADER, v);
    }
    h.insert(ATTEMPTS_HEADER, HeaderValue::from(attempts));
    response
}

fn failed(target: &Target, failure: Failure, started: Instant) -> Attempt {
    let status = match failure {
        Failure::Status(s) => Some(s),
        _ => None,
    };
    Attempt {
        provider: target.provider.clone(),
        outcome: failure.kind(),
        status,
        ms: ms(started),
        failure: Some(failure),
    }
}

fn succeeded(target: &Target, started: Instant) -> Attempt {
    Attempt {
        provider: target.provider.clone(),
        outcome: "ok",
        status: Some(200),
        ms: ms(started),
        failure: None,
    }
}

/// Counts the attempts, warns about fallovers and appends the decision-log line (off the request's
/// path: the log write does not delay the answer).
fn finish(
    state: &AppState,
    plan: &Plan,
    attempts: &[Attempt],
    answered_by: Option<&str>,
    status: StatusCode,
) {
    for a in attempts {
        metrics::counter!(ATTEMPTS, "provider" => a.provider.clone(), "outcome" => a.outcome)
            .increment(1);
    }
    let failed: Vec<String> = attempts
        .iter()
        .filter(|a| a.failure.is_some() && a.outcome != "passed_back")
        .map(|a| format!("{} ({})", a.provider, a.outcome))
        .collect();
    match (failed.is_empty(), answered_by) {
        (true, _) => {}
        (false, Some(by)) => tracing::warn!(
            decision_id = plan.decision_id.as_deref().unwrap_or("-"),
            answered_by = by,
            failed = %failed.join(", "),
            "proxy fell over to the next provider"
        ),
        (false, None) => tracing::warn!(
            decision_id = plan.decision_id.as_deref().unwrap_or("-"),
            failed = %failed.join(", "),
            "no provider answered"
        ),
    }
    let Some(log) = state.decision_log() else {
        return;
    };
    let record = DecisionLogRecord {
        unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        decision_id: plan.decision_id.as_deref(),
        requested_model: &plan.requested_model,
        routed: plan.routed,
        stream: plan.stream,
        labels: plan.labels.as_ref(),
        explanation: plan.explanation.as_ref(),
        chosen: plan.targets.first().map(|t| t.provider.as_str()),
        answered_by,
        status: status.as_u16(),
        attempts,
        routing_ms: plan.routing_ms,
    };
    let Ok(line) = serde_json::to_vec(&record) else {
        return;
    };
    append_detached(log, line);
}

fn append_detached(log: Arc<FeedbackLog>, line: Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        if let Err(e) = log.append(&line) {
            tracing::warn!(error = %e, "could not append to the decision log");
        }
    });
}

/// `GET /v1/models`: the routed names, then every provider the proxy can reach (by name).
#[utoipa::path(
    get,
    path = "/v1/models",
    responses(
        (status = 200, description = "OpenAI model list: `{\"object\": \"list\", \"data\": [{\"id\", \"object\", \"owned_by\"}]}`", body = Object),
        (status = 404, description = "Not a proxy", body = ErrorResponse),
    ),
    tag = "proxy"
)]
pub async fn models(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let Some(proxy) = &state.config().proxy else {
        return Err(ApiError::not_found());
    };
    let brain = state.brain()?;
    let routed = proxy.routed_models.iter().map(
        |m| serde_json::json!({"id": m, "object": "model", "created": 0, "owned_by": "triage"}),
    );
    let providers = brain
        .policy
        .registry()
        .iter()
        .filter(|p| p.upstream.is_some())
        .map(|p| {
            serde_json::json!({
                "id": p.name, "object": "model", "created": 0, "owned_by": "upstream",
                "aliases": p.aliases, "enabled": p.enabled,
            })
        });
    Ok(Json(serde_json::json!({
        "object": "list",
        "data": routed.chain(providers).collect::<Vec<_>>(),
    })))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The accepted names are exactly `RouteOptions`' fields plus `session_id`: a new routing option must
    /// be added to `OPTION_FIELDS`, or proxied requests would reject it.
    #[test]
    fn option_fields_are_the_route_options() {
        let every = RouteOptions {
            min_quality: Some(0.5),
            max_quality_drop: Some(0.1),
            max_cost_usd: Some(0.01),
            min_confidence: Some(0.8),
            allowed: Some(vec!["a".into()]),
            denied: vec!["b".into()],
            force: Some("c".into()),
            // Read from the body by the door, never options: not serialized.
            needs: crate::routing::Needs::default(),
            unavailable: Default::default(),
        };
        let value = serde_json::to_value(&every).unwrap();
        let mut names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.push("session_id");
        names.sort_unstable();
        let mut expected = OPTION_FIELDS.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn options_come_from_the_body_then_the_header() {
        let mut h = HeaderMap::new();
        assert!(proxy_options(None, &h).unwrap().is_none());
        h.insert(
            OPTIONS_HEADER,
            HeaderValue::from_static(r#"{"max_quality_drop": 0.1, "session_id": "s"}"#),
        );
        let o = proxy_options(None, &h).unwrap().unwrap();
        assert_eq!(o.options.max_quality_drop, Some(0.1));
        assert_eq!(o.session_id.as_deref(), Some("s"));
        let o = proxy_options(Some(serde_json::json!({"min_quality": 0.5})), &h)
            .unwrap()
            .unwrap();
        assert_eq!(
            (o.options.min_quality, o.options.max_quality_drop),
            (Some(0.5), None)
        );
        for bad in [
            serde_json::json!(3),
            serde_json::json!({"max_qualiti_drop": 0.1}),
        ] {
            assert_eq!(
                proxy_options(Some(bad), &h).unwrap_err().status,
                StatusCode::UNPROCESSABLE_ENTITY
            );
        }
        h.insert(OPTIONS_HEADER, HeaderValue::from_static("{nope"));
        assert!(proxy_options(None, &h).is_err());
    }
}
