//! The sidecar's endpoints: parse and check a request, hand it to [`super::service`], answer.

use super::api::{
    BatchItem, BatchRequest, BatchResponse, ClassifyRequest, ClassifyResponse, ErrorResponse,
    FeedbackRequest, FeedbackResponse, HealthResponse, RouteRequest, RouteResponse, Turns,
};
use super::error::ApiError;
use super::feedback::{FeedbackRecord, RecordEmbedding, RecordLabels, RememberedDecision};
use super::metrics::FEEDBACK;
use super::service;
use super::state::AppState;
use crate::error::Error;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

type Body = Result<Bytes, BytesRejection>;

fn parse<T: DeserializeOwned>(state: &AppState, body: Body) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| ApiError::from_body(&e, state.config().max_body_bytes))?;
    // Syntax first (400), then shape (422): `[1, 2` is malformed JSON even though its first element is
    // already of the wrong type.
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::from_json(&e))?;
    from_value(value)
}

/// Deserializes a request (or a batch item); a wrong-typed field is named in the message.
fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "request body must be a JSON object",
        ));
    }
    match T::deserialize(&value) {
        Ok(t) => Ok(t),
        Err(e) => {
            let mut err = ApiError::from_json(&e);
            if let Some(field) = wrong_field::<T>(&value) {
                err.message = format!("invalid request body: field `{field}`: {e}");
            }
            err.message = err
                .message
                .replace("expected f32", "expected a number")
                .replace("expected f64", "expected a number");
            Err(err)
        }
    }
}

/// For bodies whose fields are all optional: the first field that fails on its own.
fn wrong_field<T: DeserializeOwned>(value: &serde_json::Value) -> Option<String> {
    let object = value.as_object()?;
    let empty = serde_json::Value::Object(serde_json::Map::new());
    T::deserialize(&empty).ok()?;
    object.iter().find_map(|(key, v)| {
        let mut one = serde_json::Map::new();
        one.insert(key.clone(), v.clone());
        T::deserialize(&serde_json::Value::Object(one))
            .is_err()
            .then(|| key.clone())
    })
}

/// Label a prompt: domain, domain probabilities, difficulty and level.
#[utoipa::path(
    post,
    path = "/v1/classify",
    request_body = ClassifyRequest,
    responses(
        (status = 200, description = "The prompt's labels", body = ClassifyResponse),
        (status = 400, description = "Body is not valid JSON", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 422, description = "Missing, blank or malformed prompt", body = ErrorResponse),
        (status = 429, description = "Inference queue full; see Retry-After", body = ErrorResponse),
        (status = 503, description = "Model or table not loaded yet", body = ErrorResponse),
        (status = 504, description = "Request deadline passed", body = ErrorResponse),
    ),
    tag = "triage"
)]
pub async fn classify(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<ClassifyResponse>, ApiError> {
    let deadline = service::deadline(&state);
    let req: ClassifyRequest = parse(&state, body)?;
    let turns = req.turns()?;
    let labels = service::label(&state, &turns, deadline).await?;
    Ok(Json((&labels).into()))
}

/// Choose the provider that should answer a prompt.
#[utoipa::path(
    post,
    path = "/v1/route",
    request_body = RouteRequest,
    responses(
        (status = 200, description = "The chosen provider, the labels and every candidate", body = RouteResponse),
        (status = 400, description = "Body is not valid JSON", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 422, description = "Bad prompt or options (unknown provider, out-of-range number)", body = ErrorResponse),
        (status = 429, description = "Inference queue full; see Retry-After", body = ErrorResponse),
        (status = 503, description = "Model or table not loaded yet", body = ErrorResponse),
        (status = 504, description = "Request deadline passed", body = ErrorResponse),
    ),
    tag = "triage"
)]
pub async fn route(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<RouteResponse>, ApiError> {
    let deadline = service::deadline(&state);
    let req: RouteRequest = parse(&state, body)?;
    req.check()?;
    let turns = req.turns()?;
    let brain = state.brain()?;
    Ok(Json(
        service::route(&state, &brain, &req, &turns, deadline).await?,
    ))
}

/// Route many prompts at once; answers come in request order, a bad item gets an error in its place.
#[utoipa::path(
    post,
    path = "/v1/route/batch",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One result per request, in order (route response or {\"error\"})", body = BatchResponse),
        (status = 400, description = "Body is not valid JSON", body = ErrorResponse),
        (status = 413, description = "Body too large, or more items than --max-batch-items", body = ErrorResponse),
        (status = 422, description = "Body is not {\"requests\": [...]}", body = ErrorResponse),
        (status = 429, description = "Inference queue full; see Retry-After", body = ErrorResponse),
        (status = 503, description = "Model or table not loaded yet", body = ErrorResponse),
        (status = 504, description = "Request deadline passed", body = ErrorResponse),
    ),
    tag = "triage"
)]
pub async fn route_batch(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<BatchResponse>, ApiError> {
    let deadline = service::deadline(&state);
    let batch: BatchRequest = parse(&state, body)?;
    let max = state.config().max_batch_items;
    if batch.requests.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "{} requests in one batch; at most {max} are allowed",
                batch.requests.len()
            ),
        ));
    }
    // Parse and check every item first; only the good ones are embedded (together, in one job).
    let items: Vec<Result<(RouteRequest, Turns), ApiError>> = batch
        .requests
        .into_iter()
        .map(|value| {
            let req: RouteRequest = from_value(value)?;
            req.check()?;
            let turns = req.turns()?;
            Ok((req, turns))
        })
        .collect();
    service::ready(&state)?;
    let texts: Vec<String> = items
        .iter()
        .filter_map(|i| i.as_ref().ok().map(|(_, t)| t.texts()))
        .flatten()
        .collect();
    let mut embeddings = state.embed(texts, deadline).await?.into_iter();
    let brain = state.brain()?;
    let results = items
        .into_iter()
        .map(|item| {
            let answer = item.and_then(|(req, turns)| {
                let embedded: Vec<_> = embeddings.by_ref().take(turns.text_count()).collect();
                if embedded.len() != turns.text_count() {
                    return Err(Error::inference("batch embedding count mismatch").into());
                }
                service::decide(&state, &brain, &req, &embedded, &turns).map_err(ApiError::from)
            });
            match answer {
                Ok(r) => BatchItem::Ok(Box::new(r)),
                Err(e) => BatchItem::Err(e.body()),
            }
        })
        .collect();
    Ok(Json(BatchResponse { results }))
}

/// Record how good a provider's answer was: for a routed decision (`decision_id`) or for a prompt scored
/// offline (`prompt`/`messages` + `provider`). The record is synced to the outcome log before the answer.
#[utoipa::path(
    post,
    path = "/v1/feedback",
    request_body = FeedbackRequest,
    responses(
        (status = 200, description = "Recorded (on disk)", body = FeedbackResponse),
        (status = 400, description = "Body is not valid JSON", body = ErrorResponse),
        (status = 404, description = "Unknown (or forgotten) decision_id", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 422, description = "Outcome missing, out of [0, 1] or not finite; unknown provider; bad prompt", body = ErrorResponse),
        (status = 503, description = "Feedback is off, or the model is not loaded yet", body = ErrorResponse),
    ),
    tag = "triage"
)]
pub async fn feedback(
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<FeedbackResponse>, ApiError> {
    let deadline = service::deadline(&state);
    let bytes = body.map_err(|e| ApiError::from_body(&e, state.config().max_body_bytes))?;
    let req: FeedbackRequest = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value) => from_value(value)?,
        Err(e) => return Err(non_finite_outcome(ApiError::from_json(&e), &bytes)),
    };
    let outcome = req.outcome()?;
    let Some(log) = state.feedback_log() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "feedback is off on this server (start it with --feedback-dir)",
        ));
    };
    let decision = match (&req.decision_id, &req.provider) {
        (Some(id), provider) => {
            if req.prompt.is_some() || req.messages.is_some() {
                return Err(Error::InvalidInput(
                    "give either `decision_id` or `prompt`/`messages` with `provider`, not both"
                        .into(),
                )
                .into());
            }
            let d = state.decisions().get(id).ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "unknown decision_id (never issued by this server, or forgotten: it remembers the last --feedback-decisions)",
                )
            })?;
            if provider.as_deref().is_some_and(|p| p != d.provider) {
                return Err(Error::InvalidInput(format!(
                    "decision {id} went to `{}`, not `{}`",
                    d.provider,
                    provider.as_deref().unwrap_or_default()
                ))
                .into());
            }
            d
        }
        (None, Some(provider)) => {
            let prompt = req.prompt_text()?;
            service::ready(&state)?;
            let brain = state.brain()?;
            if !brain.policy.known_providers().any(|k| k == provider) {
                return Err(Error::InvalidInput(format!("unknown provider `{provider}`")).into());
            }
            let embedding = service::embed_one(&state, prompt.clone(), deadline).await?;
            let labels = brain.label(&embedding);
            RememberedDecision {
                provider: provider.clone(),
                embedding,
                prompt: state.config().feedback_keep_text.then_some(prompt),
                domain: labels.domain,
                level: labels.level,
                difficulty: labels.difficulty,
            }
        }
        (None, None) => {
            return Err(Error::InvalidInput(
                "missing `decision_id` (from /v1/route), or `prompt`/`messages` with `provider`"
                    .into(),
            )
            .into())
        }
    };
    let id = format!(
        "feedback:{}",
        // Offline feedback: an id of its own, from the same generator.
        req.decision_id
            .clone()
            .unwrap_or_else(|| state.decisions().new_id())
    );
    let record = FeedbackRecord {
        id: id.clone(),
        source: "feedback",
        task: None,
        domain: None,
        prompt: decision.prompt.as_deref(),
        embedding: RecordEmbedding {
            model: crate::embedding::MODEL_ID,
            vector: &decision.embedding.vector,
            mid_layer: &decision.embedding.mid_layer,
            tokens: decision.embedding.tokens,
            full_tokens: decision.embedding.full_tokens,
            truncated: decision.embedding.truncated,
        },
        labels: RecordLabels {
            domain: decision.domain,
            level: decision.level,
            difficulty: decision.difficulty,
        },
        outcomes: [(decision.provider.as_str(), outcome)]
            .into_iter()
            .collect(),
        received_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
    };
    let line = serde_json::to_vec(&record).map_err(|e| Error::Json {
        what: "a feedback record",
        source: e,
    })?;
    tokio::task::spawn_blocking(move || log.append(&line))
        .await
        .map_err(|_| Error::inference("the feedback writer stopped"))??;
    metrics::counter!(FEEDBACK, "provider" => decision.provider.clone()).increment(1);
    Ok(Json(FeedbackResponse {
        recorded: true,
        id,
        provider: decision.provider,
        outcome,
    }))
}

/// JSON has no NaN or Infinity; a client that writes them (Python's `json.dumps(float("nan"))`) sends
/// invalid JSON. Such a body is answered like an out-of-range outcome (422), not as malformed JSON.
fn non_finite_outcome(e: ApiError, body: &[u8]) -> ApiError {
    let has = |token: &[u8]| body.windows(token.len()).any(|w| w == token);
    if e.status == StatusCode::BAD_REQUEST && (has(b"NaN") || has(b"Infinity")) {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "`outcome` must be a finite number in [0, 1] (JSON has no NaN or Infinity)",
        );
    }
    e
}

/// 200 once the model and the routing table are loaded; 503 while loading or shutting down.
#[utoipa::path(
    get,
    path = "/health",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "Loading or shutting down", body = HealthResponse),
    ),
    tag = "ops"
)]
pub async fn health(State(state): State<AppState>) -> Response {
    let model_loaded = state.has_embedder();
    let brain = state.brain().ok();
    let status = if state.is_shutting_down() {
        "shutting_down"
    } else if model_loaded && brain.is_some() {
        "ok"
    } else {
        "loading"
    };
    let body = HealthResponse {
        status: status.to_string(),
        model_loaded,
        table_loaded: brain.is_some(),
        artifacts_created_unix: brain.map(|b| b.manifest.created_unix),
        queue_depth: state.queue_depth(),
        engine: state.engine(),
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")),
    tag = "ops"
)]
pub async fn metrics_text() -> Response {
    let text = super::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Known paths, wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
