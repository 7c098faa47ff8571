//! End to end with the real client programs, all on loopback: the official `openai` Python client talks to
//! `triage serve --proxy`, and to a real LiteLLM proxy that loads `integrations/litellm/triage_router.py`.
//! A stub OpenAI-compatible server (tests/e2e/stub_provider.py) stands in for every vendor: it records
//! which model it was asked for and streams a canned answer. The Python programs come from the venv that
//! `scripts/setup-e2e` makes (pinned in tests/e2e/requirements.txt); `scripts/test` runs it first.

mod common;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process killed when the test ends (pass or fail).
struct Proc {
    child: Child,
    /// Its stderr lines so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> (Self, Receiver<String>) {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        (Self { child, log }, rx)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The venv's Python (TRIAGE_E2E_PYTHON, else target/e2e-venv from scripts/setup-e2e).
fn python() -> PathBuf {
    let p = std::env::var_os("TRIAGE_E2E_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::root().join("target/e2e-venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-e2e (scripts/test does) to install the openai client and LiteLLM",
        p.display()
    );
    p
}

fn e2e(file: &str) -> PathBuf {
    common::root().join("tests/e2e").join(file)
}

struct Stub {
    _proc: Proc,
    port: u16,
}

impl Stub {
    fn start(dir: &Path) -> Self {
        let port_file = dir.join("stub.port");
        let mut cmd = Command::new(python());
        cmd.arg(e2e("stub_provider.py"))
            .arg("--port-file")
            .arg(&port_file);
        let (proc, _) = Proc::spawn(cmd);
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse().unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "stub never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self { _proc: proc, port }
    }

    fn base_url(&self, tag: &str) -> String {
        format!("http://127.0.0.1:{}/{tag}/v1", self.port)
    }

    fn requests(&self) -> Vec<Value> {
        let r = ureq::get(&format!("http://127.0.0.1:{}/_requests", self.port))
            .call()
            .unwrap();
        r.into_json::<Vec<Value>>().unwrap()
    }

    fn control(&self, body: Value) {
        ureq::post(&format!("http://127.0.0.1:{}/_control", self.port))
            .send_json(body)
            .unwrap();
    }
}

/// One provider of the test's registry, reachable at the stub under `tag`.
#[derive(Debug, Clone)]
struct Provider {
    name: String,
    tag: String,
    key_env: String,
    key: String,
}

/// A copy of the shipped models folder whose enabled providers all point at the stub (each its own tag
/// and API key variable).
fn models_for(stub: &Stub, dir: &Path) -> (PathBuf, Vec<Provider>) {
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for entry in std::fs::read_dir(common::models_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, models.join(path.file_name().unwrap())).unwrap();
        }
    }
    let text = std::fs::read_to_string(models.join("providers.toml")).unwrap();
    let mut registry: toml::Table = toml::from_str(&text).unwrap();
    let mut providers = Vec::new();
    let entries = registry
        .get_mut("provider")
        .and_then(|p| p.as_array_mut())
        .unwrap();
    for (i, entry) in entries.iter_mut().enumerate() {
        let table = entry.as_table_mut().unwrap();
        if table.get("enabled").and_then(toml::Value::as_bool) == Some(false) {
            table.remove("upstream");
            continue;
        }
        let p = Provider {
            name: table["name"].as_str().unwrap().to_string(),
            tag: format!("p{i}"),
            key_env: format!("TRIAGE_E2E_KEY_{i}"),
            key: format!("sk-e2e-secret-{i}-do-not-leak"),
        };
        let mut upstream = toml::Table::new();
        upstream.insert("base_url".into(), stub.base_url(&p.tag).into());
        upstream.insert("api_key_env".into(), p.key_env.clone().into());
        table.insert("upstream".into(), upstream.into());
        providers.push(p);
    }
    std::fs::write(
        models.join("providers.toml"),
        toml::to_string(&registry).unwrap(),
    )
    .unwrap();
    assert!(providers.len() >= 3, "{providers:?}");
    (models, providers)
}

/// `triage serve` on a free port with `args`, ready.
fn start_triage(models: &Path, providers: &[Provider], args: &[&str]) -> (Proc, String) {
    start_triage_with_keys(models, providers, args, |_| true)
}

/// As [`start_triage`], setting only the API keys of the providers `has_key` accepts.
fn start_triage_with_keys(
    models: &Path,
    providers: &[Provider],
    args: &[&str],
    has_key: impl Fn(&Provider) -> bool,
) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_triage"));
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--reload-interval-secs",
        "0",
    ])
    .args(args)
    .arg("--models-dir")
    .arg(models)
    .arg("--model-cache")
    .arg(common::model_cache())
    .env("HF_HUB_OFFLINE", "1")
    .env("TRIAGE_THREADS", "2")
    .env("TRIAGE_LOG", "warn");
    for p in providers.iter().filter(|p| has_key(p)) {
        cmd.env(&p.key_env, &p.key);
    }
    let (proc, rx) = Proc::spawn(cmd);
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("triage never became ready");
        if let Some(rest) = line.strip_prefix("triage: ready on http://") {
            break rest.trim().to_string();
        }
    };
    (proc, format!("http://{addr}"))
}

/// One chat completion through the official openai client.
fn openai(base_url: &str, model: &str, message: &str, stream: bool, extra: Option<Value>) -> Value {
    openai_with_key(
        base_url,
        "sk-client-side-unused",
        model,
        message,
        stream,
        extra,
    )
}

fn openai_with_key(
    base_url: &str,
    api_key: &str,
    model: &str,
    message: &str,
    stream: bool,
    extra: Option<Value>,
) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(e2e("openai_client.py"))
        .args(["--base-url", base_url, "--api-key", api_key])
        .args(["--model", model, "--message", message]);
    if stream {
        cmd.arg("--stream");
    }
    if let Some(extra) = extra {
        cmd.args(["--extra-body", &extra.to_string()]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "openai client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// triage's own decision for a one-turn conversation.
fn route(base: &str, message: &str) -> Value {
    ureq::post(&format!("{base}/v1/route"))
        .send_json(json!({"messages": [{"role": "user", "content": message}]}))
        .unwrap()
        .into_json()
        .unwrap()
}

/// The chosen provider and the next eligible candidate (cheapest first), as the proxy would try them.
fn chosen_and_next(decision: &Value) -> (String, String) {
    let chosen = decision["provider"].as_str().unwrap().to_string();
    let next = decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["eligible"] == true && c["provider"] != chosen.as_str())
        .map(|c| c["provider"].as_str().unwrap().to_string())
        .expect("a second eligible candidate");
    (chosen, next)
}

fn by_name<'a>(providers: &'a [Provider], name: &str) -> &'a Provider {
    providers
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is not a test provider"))
}

/// The stub's requests since `seen` of them.
fn new_requests(stub: &Stub, seen: &mut usize) -> Vec<Value> {
    let all = stub.requests();
    let fresh = all[*seen..].to_vec();
    *seen = all.len();
    fresh
}

fn decision_log_line(dir: &Path, id: &str) -> Value {
    let path = dir.join("decisions.jsonl");
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(line) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["decision_id"] == id)
            {
                return line;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "decision {id} never reached {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `out` (a streamed completion) came in several chunks, and the first reached the client before the
/// stub had sent the last (`call` is the stub's record of the request that answered).
fn assert_streamed(out: &Value, call: &Value, provider: &str) {
    assert_eq!(out["status"], 200, "{out}");
    let chunks = out["chunks"].as_array().unwrap();
    assert!(chunks.len() >= 3, "one chunk per piece expected: {out}");
    assert_eq!(out["content"], format!("answer from {provider}"), "{out}");
    // Nothing buffered: the first chunk arrived before the stub had even sent the last one.
    let first_received = chunks[0]["received_at"].as_f64().unwrap();
    let sent = call["chunks_sent_at"].as_array().unwrap();
    assert!(sent.len() >= 3, "{call}");
    let last_sent = sent
        .iter()
        .filter_map(Value::as_f64)
        .fold(f64::MIN, f64::max);
    assert!(
        first_received < last_sent,
        "first chunk at {first_received}, last sent at {last_sent}: {out}"
    );
}

#[test]
fn the_openai_client_through_triage_serve_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let stub = Stub::start(dir.path());
    let (models, providers) = models_for(&stub, dir.path());
    let log_dir = dir.path().join("decision-log");
    let log_arg = log_dir.to_str().unwrap();
    let (mut triage, base) = start_triage(
        &models,
        &providers,
        &[
            "--proxy",
            "--no-feedback",
            "--upstream-timeout-ms",
            "1500",
            "--decision-log-dir",
            log_arg,
        ],
    );
    let v1 = format!("{base}/v1");
    let mut seen = 0;

    // Routed, plain: the provider that answered is the one triage chose, with its own key.
    let message = "Thanks a lot, that is all for today!";
    let decision = route(&base, message);
    let chosen = decision["provider"].as_str().unwrap().to_string();
    let out = openai(&v1, "triage", message, false, None);
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["model"], chosen.as_str(), "{out}");
    assert_eq!(out["headers"]["x-triage-provider"], chosen.as_str());
    assert_eq!(out["content"], format!("answer from {chosen}"));
    assert_eq!(
        out["triage"]["decision_id"],
        out["headers"]["x-triage-decision-id"]
    );
    let calls = new_requests(&stub, &mut seen);
    let p = by_name(&providers, &chosen);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["tag"], p.tag.as_str());
    assert_eq!(calls[0]["model"], chosen.as_str());
    assert_eq!(calls[0]["authorization"], format!("Bearer {}", p.key));
    assert_eq!(calls[0]["has_triage_field"], false);

    // Routed, streaming: several chunks, forwarded as they come, each naming the provider.
    let message = "Write a Rust function that merges two sorted vectors into one sorted vector.";
    let chosen = route(&base, message)["provider"]
        .as_str()
        .unwrap()
        .to_string();
    let out = openai(&v1, "triage", message, true, None);
    let calls = new_requests(&stub, &mut seen);
    assert_eq!(calls[0]["tag"], by_name(&providers, &chosen).tag.as_str());
    assert_streamed(&out, &calls[0], &chosen);
    assert!(out["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["model"] == chosen.as_str()));
    assert_eq!(out["headers"]["x-triage-provider"], chosen.as_str());

    // The chosen provider fails (503): the next eligible candidate answers, and the decision log says so.
    let message = "Prove that the square root of 2 is irrational.";
    let (chosen, next) = chosen_and_next(&route(&base, message));
    let failing = by_name(&providers, &chosen);
    stub.control(json!({"fail": {failing.tag.clone(): 503}}));
    for stream in [false, true] {
        let out = openai(&v1, "triage", message, stream, None);
        assert_eq!(out["status"], 200, "{out}");
        assert_eq!(out["headers"]["x-triage-provider"], next.as_str(), "{out}");
        assert_eq!(out["headers"]["x-triage-attempts"], "2");
        let calls = new_requests(&stub, &mut seen);
        if stream {
            assert_streamed(&out, &calls[1], &next);
        } else {
            assert_eq!(out["model"], next.as_str());
        }
        let tags: Vec<&str> = calls.iter().map(|c| c["tag"].as_str().unwrap()).collect();
        assert_eq!(
            tags,
            [
                failing.tag.as_str(),
                by_name(&providers, &next).tag.as_str()
            ]
        );
        let id = out["headers"]["x-triage-decision-id"].as_str().unwrap();
        let line = decision_log_line(&log_dir, id);
        assert_eq!(line["chosen"], chosen.as_str(), "{line}");
        assert_eq!(line["answered_by"], next.as_str(), "{line}");
        assert_eq!(line["attempts"][0]["outcome"], "status_5xx", "{line}");
        assert_eq!(line["attempts"][0]["status"], 503, "{line}");
        assert_eq!(line["attempts"][1]["outcome"], "ok", "{line}");
    }

    // A provider that hangs past --upstream-timeout-ms is left for the next one.
    stub.control(json!({"hang": [failing.tag.clone()]}));
    let started = Instant::now();
    let out = openai(&v1, "triage", message, false, None);
    assert_eq!(out["headers"]["x-triage-provider"], next.as_str(), "{out}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let id = out["headers"]["x-triage-decision-id"].as_str().unwrap();
    assert_eq!(
        decision_log_line(&log_dir, id)["attempts"][0]["outcome"],
        "timeout"
    );
    new_requests(&stub, &mut seen);

    // Every provider fails: a bounded number of attempts, then 502 without keys or addresses.
    let all: serde_json::Map<String, Value> = providers
        .iter()
        .map(|p| (p.tag.clone(), json!(500)))
        .collect();
    stub.control(json!({ "fail": all }));
    let out = openai(&v1, "triage", message, false, None);
    assert_eq!(out["status"], 502, "{out}");
    assert_eq!(out["error"]["error"]["type"], "upstream_unavailable");
    let text = out["error"].to_string();
    assert!(
        !text.contains("sk-e2e") && !text.contains("127.0.0.1"),
        "{text}"
    );
    assert_eq!(
        new_requests(&stub, &mut seen).len(),
        3,
        "--proxy-max-attempts defaults to 3"
    );
    stub.control(json!({}));

    // A provider's own name (or alias) passes through to it, unrouted.
    let out = openai(&v1, "gpt-4o-mini", "hello there", false, None);
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["model"], "gpt-4o-mini-2024-07-18");
    assert!(out["headers"].get("x-triage-decision-id").is_none());
    let calls = new_requests(&stub, &mut seen);
    assert_eq!(calls[0]["model"], "gpt-4o-mini-2024-07-18");
    // Its 4xx comes back as it is, with the key it quoted redacted.
    let mini = by_name(&providers, "gpt-4o-mini-2024-07-18");
    stub.control(json!({"fail": {mini.tag.clone(): 400}}));
    let out = openai(&v1, "gpt-4o-mini", "hello there", false, None);
    assert_eq!(out["status"], 400, "{out}");
    let text = out["error"].to_string();
    assert!(
        text.contains("[redacted]") && !text.contains(&mini.key),
        "{text}"
    );
    stub.control(json!({}));
    new_requests(&stub, &mut seen);

    // Routing options ride in extra_body; a misspelt option and an unknown model are clear errors.
    let forced = "claude-3-5-haiku-20241022";
    let out = openai(
        &v1,
        "auto",
        "hi",
        false,
        Some(json!({"triage": {"force_provider": forced}})),
    );
    assert_eq!(out["model"], forced, "{out}");
    let out = openai(
        &v1,
        "triage",
        "hi",
        false,
        Some(json!({"triage": {"max_qualiti_drop": 0.1}})),
    );
    assert_eq!(out["status"], 422, "{out}");
    let out = openai(&v1, "no-such-model", "hi", false, None);
    assert_eq!(out["status"], 404, "{out}");
    assert_eq!(out["error"]["error"]["type"], "model_not_found");

    // /v1/models lists the routed names and the reachable providers.
    let models: Value = ureq::get(&format!("{v1}/models"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(&ids[..2], ["triage", "auto"]);
    assert!(providers.iter().all(|p| ids.contains(&p.name.as_str())));

    // Keys appear nowhere triage writes: metrics, its log, the decision log.
    let metrics = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(metrics.contains("triage_proxy_attempts_total"));
    let decision_log = std::fs::read_to_string(log_dir.join("decisions.jsonl")).unwrap();
    triage.stop();
    for (what, text) in [
        ("metrics", metrics),
        ("log", triage.log_text()),
        ("decision log", decision_log),
    ] {
        assert!(
            !providers.iter().any(|p| text.contains(&p.key)),
            "a key leaked into the {what}"
        );
    }
}

/// A free loopback port (closed again; the program that binds it next is started right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The gateway's own key, which its clients present.
const MASTER_KEY: &str = "sk-litellm-master-e2e-0123456789abcdef";

/// The openai client against the LiteLLM gateway.
fn via_gateway(v1: &str, message: &str, stream: bool) -> Value {
    openai_with_key(v1, MASTER_KEY, "triage", message, stream, None)
}

#[test]
fn a_litellm_proxy_with_the_triage_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let stub = Stub::start(dir.path());
    let (models, providers) = models_for(&stub, dir.path());
    let (mut triage, base) = start_triage(&models, &providers, &["--no-feedback"]);
    let default_model = "gpt-4o-mini-2024-07-18";
    // LiteLLM's model_list: each of triage's providers under its own name, at its stub tag.
    let mut model_list: Vec<Value> = providers
        .iter()
        .map(|p| {
            json!({"model_name": p.name, "litellm_params": {
                "model": format!("openai/{}", p.name),
                "api_base": stub.base_url(&p.tag),
                "api_key": "sk-litellm-e2e",
            }})
        })
        .collect();
    let default = by_name(&providers, default_model);
    model_list.push(json!({"model_name": "triage", "litellm_params": {
        "model": format!("openai/{default_model}"),
        "api_base": stub.base_url(&default.tag),
        "api_key": "sk-litellm-e2e",
    }}));
    let config = json!({
        "model_list": model_list,
        "litellm_settings": {"callbacks": "triage_router.proxy_handler_instance", "num_retries": 0},
        "router_settings": {"num_retries": 0, "disable_cooldowns": true},
        "general_settings": {"master_key": MASTER_KEY},
    });
    let config_path = dir.path().join("litellm.yaml");
    std::fs::write(&config_path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    let port = free_port();
    let mut cmd = Command::new(python());
    cmd.args(["-m", "litellm.proxy.proxy_cli", "--config"])
        .arg(&config_path)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(dir.path())
        .env("PYTHONPATH", common::root().join("integrations/litellm"))
        .env("TRIAGE_URL", &base)
        // The documented default is 50 ms; a busy 2-core test machine gets more room, and the
        // "triage stopped" case below checks the fallback path itself.
        .env("TRIAGE_TIMEOUT_MS", "3000")
        .env("TRIAGE_DEFAULT_MODEL", default_model)
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY", "False")
        .env("NO_DOCS", "True");
    let (mut litellm, _) = Proc::spawn(cmd);
    let gateway = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = ureq::get(&format!("{gateway}/health/liveliness")).call() {
            if r.status() == 200 {
                break;
            }
        }
        let exited = litellm.child.try_wait().unwrap();
        assert!(
            exited.is_none() && started.elapsed() < Duration::from_secs(180),
            "LiteLLM never started ({exited:?}):\n{}",
            litellm.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let v1 = format!("{gateway}/v1");
    let mut seen = 0;

    // The provider that answered is the one triage chose.
    let message = "Write a SQL query that finds the second highest salary in each department.";
    let decision = route(&base, message);
    let chosen = decision["provider"].as_str().unwrap().to_string();
    let out = via_gateway(&v1, message, false);
    assert_eq!(out["status"], 200, "{out}\n{}", litellm.log_text());
    assert_eq!(out["content"], format!("answer from {chosen}"), "{out}");
    let calls = new_requests(&stub, &mut seen);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["tag"], by_name(&providers, &chosen).tag.as_str());

    // A tools request lands on a tool-capable provider: the plugin passes the request's needs to triage.
    let message = "What's the weather like in Paris today?";
    let out = openai_tools_with_key(&v1, MASTER_KEY, message, false);
    assert!(out["error"].is_null(), "{out}\n{}", litellm.log_text());
    let calls = new_requests(&stub, &mut seen);
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        let tag = call["tag"].as_str().unwrap();
        let provider = providers.iter().find(|p| p.tag == tag).unwrap();
        assert!(
            TOOL_CAPABLE.contains(&provider.name.as_str()),
            "{} cannot call tools: {out}",
            provider.name
        );
        assert!(call["tools"].is_array(), "{call}");
    }
    assert!(
        out["final"]["content"]
            .as_str()
            .unwrap_or("")
            .ends_with("with sunny, 21 C"),
        "{out}"
    );

    // triage refuses a request nobody allowed can serve: its 422 message reaches LiteLLM's log, and the
    // gateway carries on with its default model.
    let only_llama = json!({"triage": {"allowed_providers": ["Meta-Llama-3.1-8B-Instruct"]}});
    let out = tool_flow(&v1, MASTER_KEY, message, false, Some(only_llama));
    assert!(out["error"].is_null(), "{out}\n{}", litellm.log_text());
    let started = Instant::now();
    while !(litellm.log_text().contains("triage answered 422")
        && litellm.log_text().contains("no tool calling"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "triage's 422 is not in LiteLLM's log:\n{}",
            litellm.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    new_requests(&stub, &mut seen);

    // Streaming through LiteLLM arrives in several chunks, as they are produced. LiteLLM sets up its
    // stream handling on the first streamed request; on a loaded machine that one-off work has taken
    // longer than the stub's whole stream (every chunk then reached the client at once), so a first
    // streamed request warms it up: its answer is checked, its chunk timing is not.
    let message = "Good morning! How are you today?";
    let chosen = route(&base, message)["provider"]
        .as_str()
        .unwrap()
        .to_string();
    let warm_up = via_gateway(&v1, message, true);
    assert_eq!(warm_up["status"], 200, "{warm_up}\n{}", litellm.log_text());
    assert_eq!(
        warm_up["content"],
        format!("answer from {chosen}"),
        "{warm_up}"
    );
    new_requests(&stub, &mut seen);
    let out = via_gateway(&v1, message, true);
    let calls = new_requests(&stub, &mut seen);
    assert_eq!(calls[0]["tag"], by_name(&providers, &chosen).tag.as_str());
    assert_streamed(&out, &calls[0], &chosen);

    // The chosen provider fails: LiteLLM falls over to the next eligible candidate the plugin passed.
    let message = "Prove that the square root of 2 is irrational.";
    let (chosen, next) = chosen_and_next(&route(&base, message));
    let failing = by_name(&providers, &chosen);
    stub.control(json!({"fail": {failing.tag.clone(): 503}}));
    let out = via_gateway(&v1, message, false);
    assert_eq!(out["status"], 200, "{out}\n{}", litellm.log_text());
    assert_eq!(out["content"], format!("answer from {next}"), "{out}");
    let calls = new_requests(&stub, &mut seen);
    let tags: Vec<&str> = calls.iter().map(|c| c["tag"].as_str().unwrap()).collect();
    assert_eq!(tags.first(), Some(&failing.tag.as_str()), "{tags:?}");
    assert_eq!(
        tags.last(),
        Some(&by_name(&providers, &next).tag.as_str()),
        "{tags:?}"
    );
    stub.control(json!({}));

    // triage stopped: the gateway still answers, through its default model, and says why.
    triage.stop();
    let out = via_gateway(&v1, "What is the capital of France?", false);
    assert_eq!(out["status"], 200, "{out}\n{}", litellm.log_text());
    assert_eq!(
        out["content"],
        format!("answer from {default_model}"),
        "{out}"
    );
    let calls = new_requests(&stub, &mut seen);
    assert_eq!(calls[0]["tag"], default.tag.as_str());
    let started = Instant::now();
    while !litellm.log_text().contains("triage gave no decision") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no warning logged:\n{}",
            litellm.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    litellm.stop();
}

/// The openai client's whole tool flow (tool call, tool result, final answer) through triage's proxy,
/// with `extra` as its `extra_body`.
fn openai_tools_with(base_url: &str, message: &str, stream: bool, extra: Option<Value>) -> Value {
    tool_flow(base_url, "sk-client-side-unused", message, stream, extra)
}

/// The same through a gateway that takes `api_key`.
fn openai_tools_with_key(base_url: &str, api_key: &str, message: &str, stream: bool) -> Value {
    tool_flow(base_url, api_key, message, stream, None)
}

fn tool_flow(
    base_url: &str,
    api_key: &str,
    message: &str,
    stream: bool,
    extra: Option<Value>,
) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(e2e("openai_tools.py"))
        .args(["--base-url", base_url, "--api-key", api_key])
        .args(["--model", "triage", "--message", message])
        .args(stream.then_some("--stream"));
    if let Some(extra) = extra {
        cmd.args(["--extra-body", &extra.to_string()]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "openai tool client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A `/v1/route` answer (or error body) and its status.
fn route_body(base: &str, body: Value) -> (u16, Value) {
    match ureq::post(&format!("{base}/v1/route")).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

/// A raw chat completion through the proxy: status and body.
fn proxy_post(v1: &str, body: Value) -> (u16, Value) {
    match ureq::post(&format!("{v1}/chat/completions")).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

/// Why `provider` was excluded from a decision (`/v1/route` candidates), if it was.
fn excluded_why<'a>(decision: &'a Value, provider: &str) -> Option<&'a str> {
    decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == provider)
        .and_then(|c| c["excluded"].as_str())
}

/// The default set's providers that the vendored price map (or the registry) says can call tools.
const TOOL_CAPABLE: [&str; 6] = [
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku-20241022",
    "gemini-1.5-pro",
    "gemini-1.5-flash",
];

#[test]
fn agent_requests_go_only_where_they_can_be_served() {
    let dir = tempfile::tempdir().unwrap();
    let stub = Stub::start(dir.path());
    let (models, providers) = models_for(&stub, dir.path());
    // gpt-4o mini gets a tiny window (to see a long input exclude it); Qwen's key variable is unset.
    let registry_path = models.join("providers.toml");
    let text = std::fs::read_to_string(&registry_path).unwrap();
    let mut registry: toml::Table = toml::from_str(&text).unwrap();
    for entry in registry["provider"].as_array_mut().unwrap() {
        let t = entry.as_table_mut().unwrap();
        if t["name"].as_str() == Some("gpt-4o-mini-2024-07-18") {
            t.insert("context_tokens".into(), 64.into());
        }
    }
    std::fs::write(&registry_path, toml::to_string(&registry).unwrap()).unwrap();
    let keyless = by_name(&providers, "Qwen2.5-72B-Instruct").clone();
    let log_dir = dir.path().join("decision-log");
    let (mut triage, base) = start_triage_with_keys(
        &models,
        &providers,
        &[
            "--proxy",
            "--no-feedback",
            "--decision-log-dir",
            log_dir.to_str().unwrap(),
        ],
        |p| p.name != keyless.name,
    );
    let v1 = format!("{base}/v1");
    let mut seen = 0;
    // At start-up, the provider without its key is named.
    assert!(
        triage.log_text().contains("API key variables unset")
            && triage.log_text().contains(&keyless.name),
        "{}",
        triage.log_text()
    );

    // Taking any quality, this question goes to the cheapest model, which cannot call tools.
    let message = "What's the weather like in Paris today?";
    let anything = json!({"max_quality_drop": 1.0});
    let mut body = anything.clone();
    body["prompt"] = json!(message);
    let (_, plain) = route_body(&base, body);
    let cheap = plain["provider"].as_str().unwrap().to_string();
    assert!(!TOOL_CAPABLE.contains(&cheap.as_str()), "{plain}");

    for stream in [false, true] {
        let out = openai_tools_with(&v1, message, stream, Some(json!({ "triage": anything })));
        assert!(out["error"].is_null(), "{out}");
        let first = &out["first"];
        let provider = first["model"].as_str().unwrap().to_string();
        assert!(TOOL_CAPABLE.contains(&provider.as_str()), "{out}");
        let p = by_name(&providers, &provider);
        let calls = first["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{out}");
        assert!(
            calls[0]["id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("call_{}_", p.tag)),
            "{out}"
        );
        assert_eq!(calls[0]["name"], "get_weather");
        assert_eq!(calls[0]["arguments"], r#"{"city": "Paris"}"#, "{out}");
        if stream {
            // The call's deltas came event by event.
            assert!(first["chunks"].as_u64().unwrap() >= 4, "{out}");
        } else {
            // The answer explains itself: labels, reason, who was left out and why.
            let t = &first["triage"];
            assert!(t["labels"]["domain"].is_string(), "{t}");
            assert!(t["reason"].as_str().unwrap().contains("cheapest"), "{t}");
            let excluded = t["excluded"].as_array().unwrap();
            let why = |name: &str| {
                excluded
                    .iter()
                    .find(|e| e["provider"] == name)
                    .map(|e| e["why"].as_str().unwrap().to_string())
            };
            assert_eq!(why(&cheap).as_deref(), Some("no tool calling"), "{t}");
            assert!(
                why(&keyless.name).unwrap().contains(&keyless.key_env),
                "{t}"
            );
        }
        // The tool's result went back to the provider that made the call, and it answered.
        let final_ = &out["final"];
        assert_eq!(final_["status"], 200, "{out}");
        assert_eq!(final_["model"], provider.as_str(), "{out}");
        assert_eq!(
            final_["content"],
            format!("answer from {provider} with sunny, 21 C"),
            "{out}"
        );
        let stub_calls = new_requests(&stub, &mut seen);
        let tags: Vec<&str> = stub_calls
            .iter()
            .map(|c| c["tag"].as_str().unwrap())
            .collect();
        assert_eq!(tags, [p.tag.as_str(), p.tag.as_str()], "{stub_calls:?}");
        assert!(stub_calls.iter().all(|c| c["tools"].is_array()));
        let id = final_["headers"]["x-triage-decision-id"].as_str().unwrap();
        let line = decision_log_line(&log_dir, id);
        assert!(
            line["reason"]
                .as_str()
                .unwrap()
                .contains("continues the tool calls"),
            "{line}"
        );
        assert!(line["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["provider"] == cheap.as_str() && e["why"] == "no tool calling"));
    }

    // An image part goes to a provider that sees images; one that does not is excluded, saying so.
    let image = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]}]});
    let (status, d) = route_body(&base, image.clone());
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        excluded_why(&d, "claude-3-5-haiku-20241022"),
        Some("no image input")
    );
    assert_eq!(
        excluded_why(&d, "Meta-Llama-3.1-8B-Instruct"),
        Some("no image input")
    );
    let provider = d["provider"].as_str().unwrap();
    assert!(excluded_why(&d, provider).is_none());
    assert!(
        [
            "gpt-4o-2024-08-06",
            "gpt-4o-mini-2024-07-18",
            "claude-3-5-sonnet-20241022",
            "gemini-1.5-pro",
            "gemini-1.5-flash"
        ]
        .contains(&provider),
        "{d}"
    );
    // The same through the proxy.
    let mut body = image.clone();
    body["model"] = json!("triage");
    let (status, answer) = proxy_post(&v1, body);
    assert_eq!(status, 200, "{answer}");
    let answered = answer["model"].as_str().unwrap();
    assert!(excluded_why(&d, answered).is_none(), "{answer}");
    assert_ne!(answered, "claude-3-5-haiku-20241022");
    new_requests(&stub, &mut seen);

    // A JSON schema goes only to providers that keep one.
    let (status, d) = route_body(
        &base,
        json!({"prompt": "List three fruits.", "response_format": {"type": "json_schema",
            "json_schema": {"name": "fruits", "schema": {"type": "object"}}}}),
    );
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        excluded_why(&d, "Meta-Llama-3.1-8B-Instruct"),
        Some("no JSON schema output")
    );
    // An input longer than a provider's window, and max_tokens above its output limit, exclude it.
    let long =
        "Please summarise the following notes about the quarterly planning meeting. ".repeat(12);
    let (_, d) = route_body(&base, json!({"prompt": long}));
    assert!(
        excluded_why(&d, "gpt-4o-mini-2024-07-18")
            .unwrap()
            .contains("64-token window"),
        "{d}"
    );
    let (_, d) = route_body(
        &base,
        json!({"prompt": "Write a long story.", "max_tokens": 20000}),
    );
    assert!(
        excluded_why(&d, "gpt-4o-2024-08-06")
            .unwrap()
            .contains("output limit of 16384"),
        "{d}"
    );

    // Nobody can serve it: 422 naming each provider's reason.
    let (status, e) = route_body(
        &base,
        json!({"prompt": "Weather in Rome?", "tools": [{"type": "function", "function": {"name": "get_weather"}}],
               "allowed_providers": ["Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B-Instruct"]}),
    );
    assert_eq!(status, 422, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("Meta-Llama-3.1-8B-Instruct: no tool calling")
            && m.contains("Meta-Llama-3.1-70B-Instruct: no tool calling"),
        "{m}"
    );

    // Malformed agent fields: 422 in the usual shape, for /v1/route and the proxy alike.
    for bad in [
        json!({"tools": "get_weather"}),
        json!({"tools": [{"type": "function", "function": {}}]}),
        json!({"response_format": {"type": "xml"}}),
        json!({"tool_choice": "required"}),
        json!({"max_tokens": -5}),
    ] {
        let mut body = bad.clone();
        body["messages"] = json!([{"role": "user", "content": "hi"}]);
        let (status, e) = route_body(&base, body.clone());
        assert_eq!(status, 422, "{bad}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request", "{e}");
        body["model"] = json!("triage");
        let (status, e) = proxy_post(&v1, body);
        assert_eq!(status, 422, "{bad}: {e}");
        assert!(e["error"]["message"].is_string(), "{e}");
    }

    // A forced provider the proxy cannot reach is an error, never a substitute.
    for (forced, why) in [
        ("gpt-4o-2024-05-13", "no upstream"),
        (keyless.name.as_str(), keyless.key_env.as_str()),
    ] {
        let (status, e) = proxy_post(
            &v1,
            json!({"model": "triage", "messages": [{"role": "user", "content": "hi"}],
                   "triage": {"force_provider": forced}}),
        );
        assert_eq!(status, 422, "{e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(
            m.contains("cannot force provider") && m.contains(why),
            "{m}"
        );
    }
    assert!(
        new_requests(&stub, &mut seen).is_empty(),
        "nothing was forwarded"
    );
    triage.stop();
    assert!(
        !triage.log_text().contains("fell over"),
        "no fallover happened: {}",
        triage.log_text()
    );
}
