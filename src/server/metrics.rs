//! Prometheus metrics: every metric name the server records (one place, used by the modules that count),
//! the process-wide recorder, and the middleware counting requests by route and status.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// Requests answered, by route and status.
pub const REQUESTS: &str = "triage_http_requests_total";
/// Request latency in seconds, by route.
pub const LATENCY: &str = "triage_http_request_duration_seconds";
/// Routing decisions, by provider and domain.
pub const DECISIONS: &str = "triage_decisions_total";
/// Feedback records written, by provider.
pub const FEEDBACK: &str = "triage_feedback_total";
/// Artifact reloads, by result (`ok`, `failed`).
pub const RELOADS: &str = "triage_reloads_total";
/// Proxy attempts, by provider and outcome (`ok`, `status_5xx`, `timeout`, ...).
pub const ATTEMPTS: &str = "triage_proxy_attempts_total";
/// Prompts whose embedding came from the exact-match cache.
pub const CACHE_HITS: &str = "triage_embed_cache_hits_total";
/// Prompts that had to be embedded.
pub const CACHE_MISSES: &str = "triage_embed_cache_misses_total";
/// Requests waiting for the inference worker.
pub const QUEUE_DEPTH: &str = "triage_queue_depth";
/// Prompts per forward pass.
pub const BATCH_SIZE: &str = "triage_batch_size";
/// Time of one forward pass, in seconds.
pub const INFERENCE_SECONDS: &str = "triage_inference_duration_seconds";

const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process-wide Prometheus recorder (installed on first use, which `AppState::new` makes
/// before the state can count anything); `None` if another recorder was installed first, in which case
/// `/metrics` serves an empty document.
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(LATENCY.into()), &LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(INFERENCE_SECONDS.into()),
                        &LATENCY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), &BATCH_BUCKETS)
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    describe();
                    metrics::gauge!(QUEUE_DEPTH).set(0.0);
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "HTTP requests answered, by route and status");
    metrics::describe_histogram!(
        LATENCY,
        metrics::Unit::Seconds,
        "HTTP request latency, by route"
    );
    metrics::describe_gauge!(QUEUE_DEPTH, "requests waiting for the inference worker");
    metrics::describe_histogram!(
        BATCH_SIZE,
        "prompts per forward pass of the inference worker"
    );
    metrics::describe_histogram!(
        INFERENCE_SECONDS,
        metrics::Unit::Seconds,
        "time of one forward pass (tokenization included)"
    );
    metrics::describe_counter!(DECISIONS, "routing decisions, by provider and domain");
    metrics::describe_counter!(RELOADS, "artifact reloads, by result");
    metrics::describe_counter!(
        ATTEMPTS,
        "proxied attempts at a provider, by provider and outcome (ok, status_5xx, timeout, ...)"
    );
    metrics::describe_counter!(
        CACHE_HITS,
        "prompts whose embedding came from the exact-match cache"
    );
    metrics::describe_counter!(CACHE_MISSES, "prompts that had to be embedded");
}

/// Counts every request by matched route (`other` for unknown paths, keeping label values bounded) and
/// status, and records its latency.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(LATENCY, "route" => route.clone()).record(started.elapsed().as_secs_f64());
    metrics::counter!(REQUESTS, "route" => route, "status" => status).increment(1);
    response
}
