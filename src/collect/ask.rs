//! One paid call of a collect run: a chat completion at a provider's OpenAI-compatible upstream (the
//! proxy's client and key handling), started only when its worst case fits the budget, retried with
//! backoff on 429, 5xx, timeouts and broken connections, and costed from the usage the provider reports.

use super::budget::{worst_input_tokens, Budget, TokenPrices};
use super::journal::Usage;
use crate::routing::registry::Upstream;
use crate::upstream::Failure;
use backon::{ExponentialBuilder, Retryable};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// A provider (or the judge) as a collect run calls it.
pub struct Endpoint {
    /// Registry name.
    pub provider: String,
    pub upstream: Upstream,
    /// From the upstream's key variable, read once at start-up; never written anywhere.
    pub key: Option<String>,
    pub prices: TokenPrices,
    /// Calls in flight to this provider (`--concurrency`).
    pub slots: Arc<Semaphore>,
}

/// How a call's HTTP retries are paced.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    /// First backoff; each next one doubles (with jitter), up to 30 s.
    pub base: Duration,
    /// Time for one attempt, headers and body.
    pub timeout: Duration,
}

/// A provider's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    /// Reported usage; `None` when the provider reported none (the call is then costed at its worst case).
    pub usage: Option<Usage>,
    pub cost_pico: u64,
    pub attempts: u32,
    pub latency_ms: u64,
}

/// Why a call gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// Its worst case did not fit what is left of the budget (or the run was stopped): not started.
    Budget,
    /// It failed after its retries; nothing was billed as far as triage can tell.
    Failed { why: String, attempts: u32 },
}

/// What one attempt can end in.
#[derive(Debug, Clone)]
enum Attempt {
    Upstream(Failure),
    /// A 2xx whose body is not a chat completion.
    Unreadable,
}

impl Attempt {
    fn retryable(&self) -> bool {
        match self {
            Attempt::Upstream(Failure::Status(s)) => *s == 429 || *s == 408 || *s >= 500,
            Attempt::Upstream(Failure::Timeout | Failure::Connect | Failure::Transport) => true,
            Attempt::Upstream(Failure::MissingKey(_)) | Attempt::Unreadable => false,
        }
    }

    fn describe(&self, timeout: Duration) -> String {
        match self {
            Attempt::Upstream(f) => f.describe(timeout),
            Attempt::Unreadable => "the answer is not a chat completion".into(),
        }
    }
}

/// The worst case of a call: every byte of its messages a token, and `max_tokens` out.
pub fn worst_case(messages: &[Value], max_tokens: u32, prices: &TokenPrices) -> u64 {
    let bytes: usize = messages
        .iter()
        .map(|m| super::sample::content_text(m.get("content").unwrap_or(&Value::Null)).len())
        .sum();
    prices.cost(
        worst_input_tokens(bytes, messages.len()),
        u64::from(max_tokens),
    )
}

/// Sends `messages` to `endpoint` and returns its answer, within the budget.
pub async fn chat(
    client: &reqwest::Client,
    budget: &Budget,
    policy: RetryPolicy,
    endpoint: &Endpoint,
    messages: &[Value],
    max_tokens: u32,
    temperature: Option<f64>,
) -> Result<Reply, CallError> {
    let _slot = endpoint
        .slots
        .acquire()
        .await
        .map_err(|_| CallError::Budget)?;
    let worst = worst_case(messages, max_tokens, &endpoint.prices);
    let reservation = budget.reserve(worst).await.ok_or(CallError::Budget)?;
    let mut body = json!({
        "model": endpoint.upstream.model.clone().unwrap_or_else(|| endpoint.provider.clone()),
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": false,
    });
    if let (Some(t), Some(map)) = (temperature, body.as_object_mut()) {
        map.insert("temperature".into(), json!(t));
    }
    let body = match serde_json::to_vec(&body) {
        Ok(b) => bytes::Bytes::from(b),
        Err(_) => {
            budget.settle(reservation, 0);
            return Err(CallError::Failed {
                why: "the request could not be encoded".into(),
                attempts: 0,
            });
        }
    };
    let attempts = AtomicU32::new(0);
    let started = Instant::now();
    let once = || async {
        attempts.fetch_add(1, Ordering::Relaxed);
        attempt(client, endpoint, body.clone(), policy.timeout).await
    };
    let result = once
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(policy.base)
                .with_max_delay(Duration::from_secs(30))
                .with_max_times(policy.retries)
                .with_jitter(),
        )
        .sleep(tokio::time::sleep)
        .when(Attempt::retryable)
        .await;
    let attempts = attempts.load(Ordering::Relaxed);
    match result {
        Ok((text, usage)) => {
            let cost = match usage {
                Some(u) => endpoint.prices.cost(u.input, u.output),
                None => worst,
            };
            budget.settle(reservation, cost);
            Ok(Reply {
                text,
                usage,
                cost_pico: cost,
                attempts,
                latency_ms: started.elapsed().as_millis() as u64,
            })
        }
        Err(a) => {
            budget.settle(reservation, 0);
            Err(CallError::Failed {
                why: a.describe(policy.timeout),
                attempts,
            })
        }
    }
}

async fn attempt(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    body: bytes::Bytes,
    timeout: Duration,
) -> Result<(String, Option<Usage>), Attempt> {
    let mut call = client
        .post(endpoint.upstream.chat_completions_url())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(k) = &endpoint.key {
        call = call.bearer_auth(k);
    }
    let exchange = async {
        let response = call
            .send()
            .await
            .map_err(|e| Attempt::Upstream(Failure::from_reqwest(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Attempt::Upstream(Failure::Status(status.as_u16())));
        }
        response
            .bytes()
            .await
            .map_err(|e| Attempt::Upstream(Failure::from_reqwest(&e)))
    };
    let bytes = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Attempt::Upstream(Failure::Timeout))??;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| Attempt::Unreadable)?;
    let message = value
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .ok_or(Attempt::Unreadable)?;
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => super::sample::content_text(other),
    };
    let usage = value.get("usage").and_then(|u| {
        Some(Usage {
            input: u.get("prompt_tokens")?.as_u64()?,
            output: u.get("completion_tokens")?.as_u64()?,
        })
    });
    Ok((text, usage))
}
