//! Stub OpenAI-compatible providers for `triage collect`'s tests and the docs' transcript: an axum server
//! on 127.0.0.1:0 whose tags answer with planted quality per domain (a marker the stub judge reads), a
//! judge that scores the marker, a judge that never answers in format, 429 storms, and counters of every
//! request, answered call and usage. Shared by tests/collect.rs and examples/collect_stubs.rs.

// Each user (a test, the example) uses a part of it.
#![allow(dead_code)]

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The key the stubs expect (`Authorization: Bearer ...`), from the variable the test registry names.
pub const KEY_ENV: &str = "TRIAGE_COLLECT_TEST_KEY";
pub const KEY: &str = "sk-collect-test-secret-do-not-leak";

/// How a stub tag behaves.
#[derive(Clone)]
pub enum Role {
    /// Answers well in the listed domains and badly in the others.
    Provider { good_in: Vec<&'static str> },
    /// Reads the planted marker of the answer(s) it is shown and scores it.
    Judge,
    /// Replies with prose that has no verdict.
    GarbageJudge,
}

#[derive(Default)]
pub struct Counters {
    /// Every request received, by tag.
    pub requests: HashMap<String, u64>,
    /// Answered calls by (tag, what was asked): a repeat means a finished call was paid twice.
    pub answered: HashMap<(String, String), u64>,
    /// Usage of answered calls, by tag: (input, output) tokens.
    pub usage: HashMap<String, (u64, u64)>,
    /// Each answered call, by the serial number its reply carries: (tag, what it asked, usage in, out).
    pub by_serial: HashMap<u64, (String, String, u64, u64)>,
}

pub struct Stub {
    pub roles: HashMap<String, Role>,
    /// The true domain of every prompt the test wrote.
    pub domains: HashMap<String, &'static str>,
    pub counters: Mutex<Counters>,
    /// 429s still to give, per tag.
    pub storm: Mutex<HashMap<String, u64>>,
    /// Time each answer is held.
    pub delay: Duration,
    pub in_flight: AtomicI64,
    pub max_in_flight: AtomicI64,
    pub serial: AtomicU64,
}

pub fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

pub fn content(m: &Value) -> String {
    m["content"].as_str().unwrap_or("").to_string()
}

impl Stub {
    fn reply(&self, tag: &str, body: &Value, n: u64) -> Result<(String, u64), StatusCode> {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let last = messages.last().map(content).unwrap_or_default();
        let text = match self.roles.get(tag).ok_or(StatusCode::NOT_FOUND)? {
            Role::Provider { good_in } => {
                // The test's own labels; else a keyword rule (the docs' transcript).
                let domain = self.domains.get(&last).copied().unwrap_or(
                    if last.contains("function") || last.contains("Write a") {
                        "code"
                    } else {
                        "math"
                    },
                );
                let grade = if good_in.contains(&domain) {
                    "GOOD"
                } else {
                    "BAD"
                };
                format!("ANSWER-{grade} to the request (call {n}).")
            }
            Role::Judge => {
                let grade = |section: &str| {
                    if section.contains("ANSWER-GOOD") {
                        9
                    } else {
                        2
                    }
                };
                if last.contains("[Answer of assistant A]") {
                    let a = last.split("[Answer of assistant B]").next().unwrap_or("");
                    let b = last.split("[Answer of assistant B]").nth(1).unwrap_or("");
                    let v = match grade(a).cmp(&grade(b)) {
                        std::cmp::Ordering::Greater => "[[A]]",
                        std::cmp::Ordering::Less => "[[B]]",
                        std::cmp::Ordering::Equal => "[[C]]",
                    };
                    format!("Compared (call {n}).\nVerdict: {v}")
                } else {
                    format!("Judged (call {n}).\nRating: {}", grade(&last))
                }
            }
            Role::GarbageJudge => format!("Both answers have merit (call {n})."),
        };
        let input: u64 = messages.iter().map(|m| words(&content(m))).sum();
        let max = body["max_tokens"].as_u64().unwrap_or(u64::MAX);
        Ok((text.clone(), input.min(max * 100).max(1)))
    }
}

async fn chat(
    State(stub): State<Arc<Stub>>,
    UrlPath(tag): UrlPath<String>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    *stub
        .counters
        .lock()
        .unwrap()
        .requests
        .entry(tag.clone())
        .or_default() += 1;
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {KEY}").as_str())
    );
    {
        let mut storm = stub.storm.lock().unwrap();
        if let Some(left) = storm.get_mut(&tag).filter(|l| **l > 0) {
            *left -= 1;
            return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
        }
    }
    let now = stub.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stub.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(stub.delay).await;
    stub.in_flight.fetch_sub(1, Ordering::SeqCst);
    let n = stub.serial.fetch_add(1, Ordering::Relaxed);
    let (text, input) = match stub.reply(&tag, &body, n) {
        Ok(r) => r,
        Err(s) => return s.into_response(),
    };
    let output = words(&text);
    {
        let asked = serde_json::to_string(&body["messages"]).unwrap();
        let mut c = stub.counters.lock().unwrap();
        *c.answered.entry((tag.clone(), asked.clone())).or_default() += 1;
        c.by_serial.insert(n, (tag.clone(), asked, input, output));
        let u = c.usage.entry(tag.clone()).or_default();
        u.0 += input;
        u.1 += output;
    }
    Json(json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
    }))
    .into_response()
}

/// The stub server, running until the test ends.
pub struct Server {
    pub stub: Arc<Stub>,
    pub port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn start(
        roles: &[(&str, Role)],
        domains: HashMap<String, &'static str>,
        delay: Duration,
    ) -> Self {
        let stub = Arc::new(Stub {
            roles: roles
                .iter()
                .map(|(t, r)| (t.to_string(), r.clone()))
                .collect(),
            domains,
            counters: Mutex::default(),
            storm: Mutex::default(),
            delay,
            in_flight: AtomicI64::new(0),
            max_in_flight: AtomicI64::new(0),
            serial: AtomicU64::new(0),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/{tag}/v1/chat/completions", post(chat))
            .with_state(Arc::clone(&stub));
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            stub,
            port,
            _runtime: runtime,
        }
    }

    pub fn url(&self, tag: &str) -> String {
        format!("http://127.0.0.1:{}/{tag}/v1", self.port)
    }

    pub fn usage(&self, tag: &str) -> (u64, u64) {
        self.stub
            .counters
            .lock()
            .unwrap()
            .usage
            .get(tag)
            .copied()
            .unwrap_or_default()
    }

    /// How many times what the call with serial `n` asked was answered in all.
    pub fn times_answered(&self, n: u64) -> u64 {
        let c = self.stub.counters.lock().unwrap();
        let (tag, asked, _, _) = c.by_serial.get(&n).unwrap_or_else(|| panic!("no call {n}"));
        c.answered[&(tag.clone(), asked.clone())]
    }

    pub fn requests(&self, tag: &str) -> u64 {
        self.stub
            .counters
            .lock()
            .unwrap()
            .requests
            .get(tag)
            .copied()
            .unwrap_or(0)
    }
}
