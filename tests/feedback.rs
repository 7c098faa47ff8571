//! Feedback from production: `decision_id` on every route, `POST /v1/feedback`, and the durable outcome
//! log (synced before the answer, torn tails cut, rotation), against real servers on 127.0.0.1.

mod common;
#[path = "common/server.rs"]
mod srv;

use serde_json::{json, Value};
use srv::{config, post_raw, start};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn log_lines(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// POSTs JSON; `None` when the connection fails (the server was killed).
fn try_post(agent: &ureq::Agent, url: &str, body: &str) -> Option<(u16, Value)> {
    let response = match agent
        .post(url)
        .set("content-type", "application/json")
        .send_string(body)
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return None,
    };
    let status = response.status();
    let text = response.into_string().ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn assert_error(reply: &srv::Reply, status: u16, kind: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.body["error"]["type"], kind, "{:?}", reply.body);
    assert!(reply.body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[test]
fn feedback_is_logged_in_the_training_format_and_bad_feedback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.feedback_dir = Some(dir.path().join("feedback"));
    c.max_body_bytes = 4096;
    let s = start(c);

    let routed = s.post(
        "/v1/route",
        &json!({"prompt": "Write a Python function that reverses a list."}),
    );
    assert_eq!(routed.status, 200, "{:?}", routed.body);
    let id = routed.body["decision_id"].as_str().unwrap().to_string();
    let provider = routed.body["provider"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);

    let r = s.post("/v1/feedback", &json!({"decision_id": id, "outcome": 0.75}));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["recorded"], true);
    assert_eq!(r.body["provider"], provider.as_str());

    // Offline feedback: a prompt this server never routed, with the provider that answered it.
    let r = s.post(
        "/v1/feedback",
        &json!({"messages": [{"role": "user", "content": "Tell me a joke."}], "provider": "gemma-2-9b-it", "outcome": 1}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);

    let lines = log_lines(&dir.path().join("feedback"));
    assert_eq!(lines.len(), 2);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["id"], format!("feedback:{id}").as_str());
    assert_eq!(first["source"], "feedback");
    assert!(first["prompt"].is_null(), "texts are not kept by default");
    assert_eq!(first["embedding"]["vector"].as_array().unwrap().len(), 384);
    // The domain head also reads the mid-layer vector, so the log keeps it for the retrain.
    let mid = first["embedding"]["mid_layer"].as_array().unwrap();
    assert_eq!(mid.len(), 384);
    assert_ne!(mid, first["embedding"]["vector"].as_array().unwrap());
    assert_eq!(first["embedding"]["model"], triage::embedding::MODEL_ID);
    assert_eq!(first["outcomes"][provider.as_str()], 0.75);
    assert_eq!(first["labels"]["domain"], "code");
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["outcomes"]["gemma-2-9b-it"], 1.0);

    // Bad feedback: the same JSON error shape as every endpoint, nothing written.
    assert_error(
        &s.post(
            "/v1/feedback",
            &json!({"decision_id": "0".repeat(32), "outcome": 1}),
        ),
        404,
        "not_found",
    );
    for outcome in [json!(1.5), json!(-0.1), json!("good"), json!(null)] {
        let r = s.post(
            "/v1/feedback",
            &json!({"decision_id": id, "outcome": outcome}),
        );
        assert_error(&r, 422, "invalid_request");
    }
    let nan = post_raw(
        &s.url("/v1/feedback"),
        &format!("{{\"decision_id\": \"{id}\", \"outcome\": NaN}}"),
    );
    assert_error(&nan, 422, "invalid_request");
    assert_error(
        &post_raw(&s.url("/v1/feedback"), "{\"outcome\": "),
        400,
        "invalid_json",
    );
    assert_error(
        &s.post(
            "/v1/feedback",
            &json!({"prompt": "hi", "provider": "no-such-model", "outcome": 1}),
        ),
        422,
        "invalid_request",
    );
    assert_error(
        &s.post(
            "/v1/feedback",
            &json!({"decision_id": id, "prompt": "hi", "outcome": 1}),
        ),
        422,
        "invalid_request",
    );
    assert_error(
        &s.post("/v1/feedback", &json!({"outcome": 1})),
        422,
        "invalid_request",
    );
    assert_error(
        &s.post(
            "/v1/feedback",
            &json!({"decision_id": id, "outcome": 1, "extra": true}),
        ),
        422,
        "invalid_request",
    );
    let big = json!({"prompt": "x".repeat(10_000), "provider": "gemma-2-9b-it", "outcome": 1});
    assert_error(&s.post("/v1/feedback", &big), 413, "payload_too_large");
    assert_eq!(
        log_lines(&dir.path().join("feedback")).len(),
        2,
        "refused feedback was written"
    );

    // Batch answers carry decision ids too.
    let b = s.post(
        "/v1/route/batch",
        &json!({"requests": [{"prompt": "a"}, {"prompt": "b"}]}),
    );
    let ids: BTreeSet<&str> = b.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["decision_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
}

#[test]
fn texts_are_kept_only_when_asked_and_feedback_can_be_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.feedback_dir = Some(dir.path().to_path_buf());
    c.feedback_keep_text = true;
    let s = start(c);
    let routed = s.post("/v1/route", &json!({"prompt": "What is 7 + 5?"}));
    let id = routed.body["decision_id"].as_str().unwrap();
    assert_eq!(
        s.post("/v1/feedback", &json!({"decision_id": id, "outcome": 1}))
            .status,
        200
    );
    let line: Value = serde_json::from_str(&log_lines(dir.path())[0]).unwrap();
    assert_eq!(line["prompt"], "What is 7 + 5?");

    let off = start(config());
    let routed = off.post("/v1/route", &json!({"prompt": "hi"}));
    let id = routed.body["decision_id"].as_str().unwrap();
    assert_error(
        &off.post("/v1/feedback", &json!({"decision_id": id, "outcome": 1})),
        503,
        "unavailable",
    );
}

/// Every acknowledged record survives SIGKILL of the server mid-stream; the torn tail, if any, is cut
/// when the log is next opened and no half record is ever read back.
#[cfg(unix)]
#[test]
fn acknowledged_feedback_survives_sigkill() {
    let settings = common::settings();
    let dir = tempfile::tempdir().unwrap();
    let feedback_dir = dir.path().join("feedback");
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--reload-interval-secs",
            "0",
        ])
        .arg("--models-dir")
        .arg(common::models_dir())
        .arg("--model-cache")
        .arg(&settings.embedder.model_cache)
        .arg("--feedback-dir")
        .arg(&feedback_dir)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRIAGE_THREADS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server never became ready");
        if let Some(rest) = line.strip_prefix("triage: ready on http://") {
            break rest.trim().to_string();
        }
    };
    let base = format!("http://{addr}");
    // Route a few prompts once, then stream feedback on them from two clients until the kill.
    let ids: Vec<String> = (0..8)
        .map(|k| {
            let r = post_raw(
                &format!("{base}/v1/route"),
                &json!({"prompt": srv::prompt(k, 12)}).to_string(),
            );
            assert_eq!(r.status, 200, "{:?}", r.body);
            r.body["decision_id"].as_str().unwrap().to_string()
        })
        .collect();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let (acked, stop, ids, base) = (
                Arc::clone(&acked),
                Arc::clone(&stop),
                ids.clone(),
                base.clone(),
            );
            std::thread::spawn(move || {
                let mut n = 0usize;
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(10))
                    .build();
                while !stop.load(Ordering::SeqCst) && n < 2000 {
                    let id = &ids[n % ids.len()];
                    let outcome = ((c * 1000 + n) % 1000) as f64 / 1000.0;
                    let Some((status, body)) = try_post(
                        &agent,
                        &format!("{base}/v1/feedback"),
                        &json!({"decision_id": id, "outcome": outcome}).to_string(),
                    ) else {
                        break; // the connection died with the server
                    };
                    assert_eq!(status, 200, "{body:?}");
                    acked
                        .lock()
                        .unwrap()
                        .push(format!("{}@{outcome}", body["id"].as_str().unwrap()));
                    n += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acked.lock().unwrap().len() < 150 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = child.wait();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 150,
        "only {} acknowledged before the deadline",
        acked.len()
    );

    // Read back like --retrain does: complete lines only (a torn last line is allowed, never more).
    let raw = std::fs::read_to_string(feedback_dir.join("feedback.jsonl")).unwrap();
    let mut logged = Vec::new();
    let lines: Vec<&str> = raw.split_inclusive('\n').collect();
    for (k, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Value>(line.trim_end()) {
            Ok(v) => logged.push(format!(
                "{}@{}",
                v["id"].as_str().unwrap(),
                v["outcomes"]
                    .as_object()
                    .unwrap()
                    .values()
                    .next()
                    .unwrap()
                    .as_f64()
                    .unwrap()
            )),
            Err(_) => assert!(
                k + 1 == lines.len() && !line.ends_with('\n'),
                "a bad line in the middle: {line}"
            ),
        }
    }
    let logged: std::collections::HashMap<String, usize> =
        logged.iter().fold(Default::default(), |mut m, k| {
            *m.entry(k.clone()).or_default() += 1;
            m
        });
    let mut want: std::collections::HashMap<String, usize> = Default::default();
    for a in &acked {
        *want.entry(a.clone()).or_default() += 1;
    }
    for (k, n) in &want {
        assert!(
            logged.get(k).copied().unwrap_or(0) >= *n,
            "acknowledged {k} ×{n} missing from the log"
        );
    }

    // A torn tail (simulated if the kill left none) is cut when the log is next opened.
    let path = feedback_dir.join("feedback.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"id\": \"torn").unwrap();
    drop(f);
    let log = triage::server::feedback::FeedbackLog::new(feedback_dir.clone(), 1 << 30);
    log.append(b"{\"id\": \"after\"}").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("torn") && text.ends_with("{\"id\": \"after\"}\n"));
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
}

/// Code prompts, distinct for each `k` (the feedback set and the check set use different ranges).
fn code_prompt(k: usize) -> String {
    const LANGS: [&str; 8] = [
        "Python",
        "Rust",
        "Go",
        "Java",
        "TypeScript",
        "C++",
        "Ruby",
        "Kotlin",
    ];
    const TASKS: [&str; 12] = [
        "parses a CSV line into fields",
        "merges two sorted lists",
        "checks whether a string is a palindrome",
        "counts word frequencies in a text",
        "validates an email address",
        "computes a running median",
        "flattens a nested list",
        "retries an HTTP request with backoff",
        "reads a config file and returns a map",
        "finds duplicate files by hash",
        "formats a duration in seconds as h:mm:ss",
        "implements an LRU cache",
    ];
    format!(
        "Write a {} function that {} (variant {k}).",
        LANGS[k % LANGS.len()],
        TASKS[(k / LANGS.len()) % TASKS.len()]
    )
}

/// The loop end to end: 500 routed requests get feedback that favours one provider on code, --retrain
/// reads the log, the server reloads the new artifacts without a restart, and its code decisions move
/// toward that provider.
#[test]
fn feedback_moves_decisions_after_retrain_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    for f in [
        "heads.json",
        "table.json",
        "manifest.json",
        "providers.toml",
        "litellm-prices.json",
    ] {
        std::fs::copy(common::models_dir().join(f), models.join(f)).unwrap();
    }
    let feedback_dir = models.join("feedback");
    let mut c = config();
    c.artifacts = triage::artifacts::ArtifactSource::Dir(models.clone());
    c.feedback_dir = Some(feedback_dir.clone());
    let s = start(c);

    // A cheap provider the router seldom picks for code; the operator's traffic says it does well there
    // and that whatever the router picked instead did badly.
    let favoured = "Meta-Llama-3.1-8B-Instruct";
    let share = |range: std::ops::Range<usize>| {
        let n = range.len() as f64;
        range
            .filter(|&k| {
                let r = s.post("/v1/route", &json!({"prompt": code_prompt(k)}));
                assert_eq!(r.status, 200, "{:?}", r.body);
                r.body["provider"] == favoured
            })
            .count() as f64
            / n
    };
    let before = share(10_000..10_100);
    for k in 0..500 {
        let forced = k % 2 == 0;
        let body = if forced {
            json!({"prompt": code_prompt(k), "force_provider": favoured})
        } else {
            json!({"prompt": code_prompt(k)})
        };
        let r = s.post("/v1/route", &body);
        assert_eq!(r.status, 200, "{:?}", r.body);
        let provider = r.body["provider"].as_str().unwrap();
        let outcome = if provider == favoured { 1.0 } else { 0.0 };
        let f = s.post(
            "/v1/feedback",
            &json!({"decision_id": r.body["decision_id"], "outcome": outcome}),
        );
        assert_eq!(f.status, 200, "{:?}", f.body);
    }
    assert_eq!(log_lines(&feedback_dir).len(), 500);

    let settings = common::settings();
    let embedder = triage::embedding::load(&settings.embedder).unwrap();
    // The usual guard decides (an Err with the report if the old artifacts route better).
    // The loop needs no full retrain: a twentieth of every source shows it (the shipped data's own
    // retrain is the release procedure's, docs/retrain.md).
    let data = common::small_training_set(&dir.path().join("training-data"), 20);
    let outcome = triage::training::retrain::retrain(
        &data,
        &models,
        &embedder,
        None,
        Some(&triage::training::retrain::FeedbackInput {
            dir: Some(feedback_dir.clone()),
            collected: Vec::new(),
            weight: triage::training::retrain::DEFAULT_FEEDBACK_WEIGHT,
        }),
        false,
        false,
    )
    .unwrap_or_else(|e| panic!("retrain: {e}"));
    assert!(outcome.previous_gain.is_some(), "{}", outcome.text);
    let reloaded = s.runtime().block_on(s.state.reload(false)).unwrap();
    assert!(reloaded, "the server did not pick up the new artifacts");
    let after = share(10_000..10_100);
    for line in outcome
        .text
        .lines()
        .filter(|l| l.contains("replay") || l.contains("current artifacts"))
    {
        eprintln!("{line}");
    }
    eprintln!("code prompts routed to {favoured}: {before:.2} before, {after:.2} after");
    assert!(
        after >= before + 0.3,
        "code decisions for {favoured}: {before:.2} before the feedback, {after:.2} after"
    );
}
