//! The OpenAPI document, generated from the handlers' annotations by utoipa and served at `/openapi.json`.

use super::api::{
    BatchItem, BatchRequest, BatchResponse, CandidateResponse, ClassifyRequest, ClassifyResponse,
    ErrorDetail, ErrorResponse, FeedbackRequest, FeedbackResponse, HealthResponse, RouteRequest,
    RouteResponse, SessionResponse,
};
use super::sessions::SessionOutcome;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "triage sidecar and proxy",
        description = "Labels a prompt's domain and difficulty and names the cheapest provider that meets a quality target. Errors are {\"error\": {\"type\", \"message\"}}."
    ),
    paths(
        super::handlers::classify,
        super::handlers::route,
        super::handlers::route_batch,
        super::handlers::feedback,
        super::handlers::health,
        super::handlers::metrics_text,
        super::proxy::chat_completions,
        super::proxy::models
    ),
    components(schemas(
        ClassifyRequest,
        ClassifyResponse,
        RouteRequest,
        RouteResponse,
        CandidateResponse,
        SessionResponse,
        SessionOutcome,
        BatchRequest,
        BatchResponse,
        BatchItem,
        FeedbackRequest,
        FeedbackResponse,
        ErrorResponse,
        ErrorDetail,
        HealthResponse,
        super::proxy::ProxyChatRequest,
        super::proxy::ProxyTriage
    )),
    tags(
        (name = "triage", description = "Classify and route prompts"),
        (name = "ops", description = "Health and metrics"),
        (name = "proxy", description = "OpenAI-compatible proxy (`triage serve --proxy`)")
    )
)]
pub struct ApiDoc;

/// The document as JSON text (built once).
pub fn document() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_string())
    })
    .clone()
}

/// `GET /openapi.json`: this API's OpenAPI 3 document.
pub async fn serve_document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}
