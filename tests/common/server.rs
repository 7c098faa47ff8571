//! Helpers for the sidecar's integration tests: an in-process server on 127.0.0.1:0 and a tiny client.
#![allow(dead_code)]

use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use triage::brain::Brain;
use triage::embedding::Embedder;
use triage::server::{AppState, ServerConfig};

/// The embedder, loaded once per test binary and shared by every server.
pub fn embedder() -> Arc<dyn Embedder> {
    static EMBEDDER: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            Arc::new(triage::embedding::load(&crate::common::settings().embedder).unwrap())
        })
        .clone()
}

/// A server configuration on the project's models folder, with no background reloads.
pub fn config() -> ServerConfig {
    let mut c = ServerConfig::new(crate::common::settings().artifacts);
    c.addr = "127.0.0.1:0".into();
    c.reload_interval = Duration::ZERO;
    c
}

/// A running in-process server; stopped (gracefully) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    rt: Option<tokio::runtime::Runtime>,
}

/// Starts a server with its model and artifacts loaded (and the reloader when `reload_interval` is set).
pub fn start(config: ServerConfig) -> TestServer {
    let server = start_unloaded(config);
    server.load();
    server
}

/// Starts a server that has loaded nothing yet (it answers 503 until [`TestServer::load`]).
pub fn start_unloaded(config: ServerConfig) -> TestServer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let interval = config.reload_interval;
    let state = AppState::new(config);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let mut shutdown = stop_rx.clone();
    let task = rt.spawn(triage::server::serve(listener, state.clone(), async move {
        let _ = shutdown.wait_for(|s| *s).await;
    }));
    if !interval.is_zero() {
        rt.spawn(triage::server::reload::watch(
            state.brain_slot(),
            interval,
            stop_rx,
        ));
    }
    TestServer {
        addr,
        state,
        stop,
        task: Some(task),
        rt: Some(rt),
    }
}

impl TestServer {
    /// Loads the brain of the configured models folder and starts inference on the shared embedder.
    pub fn load(&self) {
        let state = self.state.clone();
        self.runtime().block_on(state.load_brain()).unwrap();
        self.state.install_embedder(embedder()).unwrap();
    }

    /// Installs a brain directly.
    pub fn install_brain(&self, brain: Brain) {
        self.state.install_brain(brain);
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs JSON; returns status and body.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        post_raw(&self.url(path), &body.to_string())
    }

    /// GETs a path; returns status and body text.
    pub fn get(&self, path: &str) -> (u16, String) {
        get(&self.url(path))
    }

    /// Stops accepting, waits for requests in flight; returns whether the server ended cleanly.
    pub fn shutdown(&mut self) -> bool {
        let _ = self.stop.send(true);
        let Some(task) = self.task.take() else {
            return true;
        };
        let done = self
            .runtime()
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await });
        matches!(done, Ok(Ok(Ok(()))))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// A reply: status, JSON body (Null when not JSON) and the Retry-After header.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

fn into_reply(r: Result<ureq::Response, ureq::Error>) -> Reply {
    let response = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = response.status();
    let retry_after = response.header("retry-after").map(str::to_string);
    let text = response.into_string().unwrap_or_default();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        retry_after,
    }
}

/// POSTs a raw body as JSON with a fresh connection.
pub fn post_raw(url: &str, body: &str) -> Reply {
    post_with(&agent(), url, body)
}

/// POSTs a raw body on a given agent (keeps its connection alive).
pub fn post_with(agent: &ureq::Agent, url: &str, body: &str) -> Reply {
    into_reply(
        agent
            .post(url)
            .set("content-type", "application/json")
            .send_string(body),
    )
}

/// GETs a URL; status and text.
pub fn get(url: &str) -> (u16, String) {
    let response = match agent().get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    (
        response.status(),
        response.into_string().unwrap_or_default(),
    )
}

/// A prompt of roughly `words` words, distinct for each `seed`.
pub fn prompt(seed: usize, words: usize) -> String {
    const VOCAB: [&str; 16] = [
        "compute", "the", "integral", "of", "a", "function", "write", "python", "code", "explain",
        "history", "essay", "proof", "array", "sorting", "recipe",
    ];
    let mut out = format!("Request {seed}:");
    for i in 0..words {
        out.push(' ');
        out.push_str(VOCAB[(seed * 7 + i * 3 + i / 5) % VOCAB.len()]);
    }
    out
}
