//! `triage collect` end to end, as real processes on loopback: stub providers (an axum server on
//! 127.0.0.1:0) whose answer quality is planted per domain, a stub judge that scores what is planted,
//! counters of every call and its usage; then `--retrain --collected` and `triage label` on new prompts.

mod common;

#[path = "common/stub_llm.rs"]
mod stub_llm;

use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use stub_llm::{Role, Server, KEY, KEY_ENV};

/// A registry entry of the test's stub providers: name, tag, USD per million tokens in and out.
struct StubProvider {
    name: &'static str,
    tag: &'static str,
    prices: (f64, f64),
}

const CHEAP: StubProvider = StubProvider {
    name: "stub-cheap",
    tag: "cheap",
    prices: (0.1, 0.4),
};
const STRONG: StubProvider = StubProvider {
    name: "stub-strong",
    tag: "strong",
    prices: (5.0, 15.0),
};
const JUDGE: StubProvider = StubProvider {
    name: "stub-judge",
    tag: "judge",
    prices: (0.15, 0.6),
};

/// A copy of the shipped models folder whose enabled providers are only the stubs (both borrowing
/// GPT-4o mini's quality, so the shipped artifacts cannot tell them apart), each at `url(tag)`.
fn models_folder(dir: &Path, url: &dyn Fn(&str) -> String, extra: &[(&str, &str)]) -> PathBuf {
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
    let entries = registry
        .get_mut("provider")
        .and_then(|p| p.as_array_mut())
        .unwrap();
    for e in entries.iter_mut() {
        e.as_table_mut()
            .unwrap()
            .insert("enabled".into(), false.into());
    }
    let mut add = |name: &str, base_url: String, prices: (f64, f64), enabled: bool| {
        let entry: toml::Table = toml::from_str(&format!(
            "name = \"{name}\"\ninput_usd_per_mtok = {}\noutput_usd_per_mtok = {}\nenabled = {enabled}\nlike = \"gpt-4o-mini-2024-07-18\"\nupstream = {{ base_url = \"{base_url}\", api_key_env = \"{KEY_ENV}\" }}\n",
            prices.0, prices.1
        ))
        .unwrap();
        entries.push(entry.into());
    };
    for p in [&CHEAP, &STRONG] {
        add(p.name, url(p.tag), p.prices, true);
    }
    add(JUDGE.name, url(JUDGE.tag), JUDGE.prices, false);
    for (name, base_url) in extra {
        add(name, base_url.to_string(), (1.0, 2.0), false);
    }
    std::fs::write(
        models.join("providers.toml"),
        toml::to_string(&registry).unwrap(),
    )
    .unwrap();
    models
}

fn math_prompt(k: usize) -> String {
    let (a, b, c) = (k % 9 + 2, k % 13 + 3, k * 7 % 50 + 20);
    match k % 6 {
        0 => format!("Solve for x: {a}x + {b} = {c}. Show each step."),
        1 => format!("What is the derivative of {a}x^3 + {b}x^2 - {c}x with respect to x?"),
        2 => format!("Compute the integral of {a}x^2 from 0 to {b}."),
        3 => format!("Find all real roots of x^2 - {}x + {} = 0.", a + b, a * b),
        4 => format!("A triangle has sides {a}, {b} and {c} cm. Is it a valid triangle, and what is its perimeter?"),
        _ => format!("Prove that the sum of the first {c} odd numbers equals {c} squared."),
    }
}

fn code_prompt(k: usize) -> String {
    const LANGS: [&str; 6] = ["Python", "Rust", "Go", "Java", "TypeScript", "C++"];
    const TASKS: [&str; 10] = [
        "parses a CSV line into fields",
        "merges two sorted lists",
        "checks whether a string is a palindrome",
        "counts word frequencies in a text file",
        "implements an LRU cache with get and put",
        "computes a running median of a stream",
        "flattens a nested list",
        "retries an HTTP request with exponential backoff",
        "finds duplicate files by content hash",
        "formats a duration in seconds as h:mm:ss",
    ];
    format!(
        "Write a {} function that {} (case {k}).",
        LANGS[k % LANGS.len()],
        TASKS[(k / LANGS.len()) % TASKS.len()]
    )
}

/// A log of `n` math and `n` code prompts (JSONL), and their true domains.
fn write_log(path: &Path, n: usize, offset: usize) -> HashMap<String, &'static str> {
    let mut domains = HashMap::new();
    let mut text = String::new();
    for k in offset..offset + n {
        for (p, d) in [(math_prompt(k), "math"), (code_prompt(k), "code")] {
            text.push_str(&json!({"prompt": p}).to_string());
            text.push('\n');
            domains.insert(p, d);
        }
    }
    std::fs::write(path, text).unwrap();
    domains
}

fn triage(models: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_triage"));
    cmd.arg("--models-dir")
        .arg(models)
        .arg("--model-cache")
        .arg(common::model_cache())
        .env("HF_HUB_OFFLINE", "1")
        .env("TRIAGE_THREADS", "2")
        .env("TRIAGE_LOG", "warn")
        .env(KEY_ENV, KEY);
    cmd
}

fn collect_cmd(models: &Path, log: &Path, out: &Path, sample: usize, budget: f64) -> Command {
    let mut cmd = triage(models);
    cmd.arg("collect")
        .arg(log)
        .args(["--providers", &format!("{},{}", CHEAP.name, STRONG.name)])
        .args(["--judge", JUDGE.name])
        .args(["--sample", &sample.to_string()])
        .args(["--budget-usd", &budget.to_string()])
        .args([
            "--max-tokens",
            "64",
            "--retry-base-ms",
            "5",
            "--timeout-secs",
            "20",
        ])
        .arg("--out")
        .arg(out);
    cmd
}

fn run(mut cmd: Command) -> Output {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(KEY), "the key leaked: {stderr}");
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn report(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// Nothing the run wrote contains the key.
fn assert_no_key(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert!(!text.contains(KEY), "the key is in {}", path.display());
        }
    }
}

/// Spend the stubs saw, in picodollars: their usage times the registry's prices.
fn stub_spend(server: &Server) -> u64 {
    [&CHEAP, &STRONG, &JUDGE]
        .iter()
        .map(|p| {
            let (i, o) = server.usage(p.tag);
            i * pico(p.prices.0) + o * pico(p.prices.1)
        })
        .sum()
}

/// Picodollars per token of a price in USD per million tokens.
fn pico(usd_per_mtok: f64) -> u64 {
    (usd_per_mtok * 1e6).round() as u64
}

/// Share of prompts `triage label` routes to `provider`.
fn routed_share(models: &Path, dir: &Path, prompts: &[String], provider: &str) -> f64 {
    let input = dir.join(format!("probe-{provider}.txt"));
    std::fs::write(&input, prompts.join("\n") + "\n").unwrap();
    let out = run({
        let mut c = triage(models);
        c.arg("label").arg(&input);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), prompts.len());
    lines.iter().filter(|l| l["provider"] == provider).count() as f64 / lines.len() as f64
}

#[test]
fn a_planted_preference_is_learned_and_spend_equals_the_stubs_usage() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic.jsonl");
    let domains = write_log(&log, 150, 0);
    let server = Server::start(
        &[
            (
                CHEAP.tag,
                Role::Provider {
                    good_in: vec!["math"],
                },
            ),
            (
                STRONG.tag,
                Role::Provider {
                    good_in: vec!["math", "code"],
                },
            ),
            (JUDGE.tag, Role::Judge),
        ],
        domains,
        Duration::ZERO,
    );
    let models = models_folder(dir.path(), &|t| server.url(t), &[]);
    let fresh_math: Vec<String> = (1000..1060).map(math_prompt).collect();
    let fresh_code: Vec<String> = (1000..1060).map(code_prompt).collect();
    // The shipped artifacts cannot tell the two apart (both borrow one quality): the cheap one wins.
    assert!(routed_share(&models, dir.path(), &fresh_code, STRONG.name) < 0.2);

    let out_dir = dir.path().join("collected");
    let started = Instant::now();
    let o = run(collect_cmd(&models, &log, &out_dir, 300, 5.0));
    eprintln!("{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seconds = started.elapsed().as_secs_f64();
    let r = report(&out_dir);
    // A few templated prompts are the same text (deduplicated).
    let n = r["run"]["sampled"].as_u64().unwrap();
    assert!(n >= 290, "{r}");
    assert_eq!(r["progress"]["prompts_complete"], n, "{r}");
    // Spend accounting equals the stubs' usage exactly (in picodollars).
    assert_eq!(
        r["spend"]["spent_pico_usd"].as_u64().unwrap(),
        stub_spend(&server)
    );
    // Every call made once: an answer per prompt and provider, a judgment per answer.
    assert_eq!(
        server.requests(CHEAP.tag) + server.requests(STRONG.tag),
        2 * n
    );
    assert_eq!(server.requests(JUDGE.tag), 2 * n);
    eprintln!(
        "collect: {} calls in {seconds:.1} s with the model load; {} calls/s in the call phase",
        4 * n,
        r["progress"]["calls_per_second"]
    );
    let outcomes = read_jsonl(&out_dir.join("outcomes.jsonl"));
    assert_eq!(outcomes.len() as u64, n);
    for rec in &outcomes {
        assert_eq!(rec["source"], "collected");
        assert!(rec.get("prompt").is_none(), "no text without --keep-text");
        assert_eq!(rec["embedding"]["vector"].as_array().unwrap().len(), 384);
        assert!(rec["cost_usd"][STRONG.name].as_f64().unwrap() > 0.0);
    }
    // The report sees the planted preference.
    let cheap = &r["providers"][CHEAP.name]["mean_outcome"];
    let strong = &r["providers"][STRONG.name]["mean_outcome"];
    assert!(
        strong.as_f64().unwrap() > cheap.as_f64().unwrap() + 0.2,
        "{r}"
    );
    assert_no_key(&out_dir);

    // Retrain with the collected outcomes (a twentieth of the public data keeps the test short).
    let data = common::small_training_set(&dir.path().join("training-data"), 20);
    let o = run({
        let mut c = triage(&models);
        c.arg("--retrain")
            .arg("--training-data")
            .arg(&data)
            .arg("--collected")
            .arg(&out_dir)
            .arg("--probe")
            .arg(dir.path().join("no-probe"));
        c
    });
    let text = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains(&format!("read {n} collected records")),
        "{text}"
    );
    assert!(text.contains("feedback replay"), "{text}");
    let code_to_strong = routed_share(&models, dir.path(), &fresh_code, STRONG.name);
    let math_to_cheap = routed_share(&models, dir.path(), &fresh_math, CHEAP.name);
    assert!(
        code_to_strong >= 0.8,
        "code to {}: {code_to_strong}\n{text}",
        STRONG.name
    );
    assert!(
        math_to_cheap >= 0.8,
        "math to {}: {math_to_cheap}\n{text}",
        CHEAP.name
    );
}

/// The serial number a stub's reply carries (`(call N)`).
fn serial_in(text: &str) -> Option<u64> {
    let rest = &text[text.find("(call ")? + 6..];
    rest[..rest.find(')')?].parse().ok()
}

/// Complete journal lines (a torn last line is skipped, as collect itself does).
fn journal(out: &Path) -> Vec<Value> {
    let Ok(file) = std::fs::File::open(out.join("journal.jsonl")) else {
        return Vec::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

fn planted_server(domains: HashMap<String, &'static str>, delay: Duration) -> Server {
    Server::start(
        &[
            (
                CHEAP.tag,
                Role::Provider {
                    good_in: vec!["math"],
                },
            ),
            (
                STRONG.tag,
                Role::Provider {
                    good_in: vec!["math", "code"],
                },
            ),
            (JUDGE.tag, Role::Judge),
            ("garbage", Role::GarbageJudge),
        ],
        domains,
        delay,
    )
}

#[test]
fn kill_9_mid_run_then_rerun_gives_the_same_outcomes_and_pays_no_finished_call_twice() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic.jsonl");
    let domains = write_log(&log, 50, 0);
    let delay = Duration::from_millis(25);
    // The uninterrupted run, against its own stubs.
    let reference = planted_server(domains.clone(), delay);
    let ref_models = models_folder(&dir.path().join("a"), &|t| reference.url(t), &[]);
    let ref_out = dir.path().join("a/out");
    let mut cmd = collect_cmd(&ref_models, &log, &ref_out, 100, 5.0);
    cmd.args(["--keep-text", "--concurrency", "2", "--seed", "7"]);
    let o = run(cmd);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let server = planted_server(domains, delay);
    let models = models_folder(&dir.path().join("b"), &|t| server.url(t), &[]);
    let out = dir.path().join("b/out");
    let command = || {
        let mut cmd = collect_cmd(&models, &log, &out, 100, 5.0);
        cmd.args(["--keep-text", "--concurrency", "2", "--seed", "7"]);
        cmd
    };
    let mut child = command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while journal(&out).len() < 120 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the kill"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
    let before = journal(&out);
    assert!(
        before.len() < 400,
        "killed mid-run: {} entries",
        before.len()
    );

    let o = run(command());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("continuing the run"), "{}", stderr(&o));
    // Same outcomes as the uninterrupted run, byte for byte.
    assert_eq!(
        std::fs::read_to_string(out.join("outcomes.jsonl")).unwrap(),
        std::fs::read_to_string(ref_out.join("outcomes.jsonl")).unwrap()
    );
    // Every call journaled before the kill was answered once in all: the rerun did not buy it again.
    let mut checked = 0;
    for e in &before {
        let text = e["answer"]
            .as_str()
            .or(e["judge_text"].as_str())
            .unwrap_or("");
        let n = serial_in(text).unwrap_or_else(|| panic!("no serial in {e}"));
        assert_eq!(server.times_answered(n), 1, "{e}");
        checked += 1;
    }
    assert_eq!(checked, before.len());
    // The killed run plus its rerun asked no more than the uninterrupted run did, but for the calls in
    // flight at the kill (at most 2 per provider and 2 at the judge).
    let total = |s: &Server| {
        [CHEAP.tag, STRONG.tag, JUDGE.tag]
            .iter()
            .map(|t| s.requests(t))
            .sum::<u64>()
    };
    assert!(
        total(&server) <= total(&reference) + 6,
        "{} vs {}",
        total(&server),
        total(&reference)
    );
    // Spend counts every journaled call exactly; the stubs also billed the calls cut off by the kill.
    let journaled: BTreeSet<u64> = journal(&out)
        .iter()
        .filter_map(|e| {
            serial_in(
                e["answer"]
                    .as_str()
                    .or(e["judge_text"].as_str())
                    .unwrap_or(""),
            )
        })
        .collect();
    let cut_off: u64 = {
        let c = server.stub.counters.lock().unwrap();
        c.by_serial
            .iter()
            .filter(|(n, _)| !journaled.contains(n))
            .map(|(_, (tag, _, i, o))| {
                let p = [&CHEAP, &STRONG, &JUDGE]
                    .into_iter()
                    .find(|p| p.tag == tag)
                    .unwrap();
                i * pico(p.prices.0) + o * pico(p.prices.1)
            })
            .sum()
    };
    assert!(cut_off <= stub_spend(&server));
    assert_eq!(
        report(&out)["spend"]["spent_pico_usd"].as_u64().unwrap(),
        stub_spend(&server) - cut_off
    );

    // A rerun with other arguments is refused, and --restart starts over.
    let mut other = collect_cmd(&models, &log, &out, 50, 5.0);
    other.args(["--keep-text", "--concurrency", "2", "--seed", "7"]);
    let o = run(other);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--restart") && stderr(&o).contains("different --sample"),
        "{}",
        stderr(&o)
    );
    assert_no_key(&out);
}

#[test]
fn a_budget_of_40_percent_of_the_plan_is_never_exceeded_and_a_larger_one_continues() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic.jsonl");
    let domains = write_log(&log, 40, 0);
    // What the whole plan costs, measured on its own stubs.
    let reference = planted_server(domains.clone(), Duration::ZERO);
    let ref_models = models_folder(&dir.path().join("a"), &|t| reference.url(t), &[]);
    let o = run(collect_cmd(
        &ref_models,
        &log,
        &dir.path().join("a/out"),
        80,
        5.0,
    ));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan = stub_spend(&reference);
    assert!(plan > 0);

    let server = planted_server(domains, Duration::ZERO);
    let models = models_folder(&dir.path().join("b"), &|t| server.url(t), &[]);
    let out = dir.path().join("b/out");
    let cap_pico = plan * 2 / 5;
    let cap_usd = cap_pico as f64 / 1e12;
    let o = run(collect_cmd(&models, &log, &out, 80, cap_usd));
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stopped at the budget"),
        "{}",
        stderr(&o)
    );
    let spent = stub_spend(&server);
    assert!(spent as f64 <= cap_usd * 1e12, "{spent} > {cap_usd}");
    let r = report(&out);
    assert_eq!(r["progress"]["stopped"], "budget");
    assert_eq!(r["spend"]["spent_pico_usd"].as_u64().unwrap(), spent);
    let measured = r["progress"]["prompts_measured"].as_u64().unwrap();
    assert!(measured > 0 && measured < 80, "{r}");
    // Most of the cap is used: a call's worst case is the only slack.
    assert!(
        spent as f64 > 0.5 * cap_pico as f64,
        "{spent} of {cap_pico}"
    );

    // The same command with a larger budget continues; nothing already bought is bought again.
    let o = run(collect_cmd(&models, &log, &out, 80, 5.0));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stub_spend(&server), plan);
    for t in [CHEAP.tag, STRONG.tag, JUDGE.tag] {
        assert_eq!(server.requests(t), reference.requests(t), "{t}");
    }
    assert_eq!(
        report(&out)["spend"]["spent_pico_usd"].as_u64().unwrap(),
        plan
    );
}

#[test]
fn bad_lines_an_unreachable_provider_a_429_storm_and_a_garbage_judge_are_reported_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic.jsonl");
    let domains = write_log(&log, 15, 0);
    let mut text = std::fs::read(&log).unwrap();
    text.extend_from_slice(b"not json\n{\"other\": 1}\n\n\xff\xfe\n{\"prompt\": \"   \"}\n");
    std::fs::write(&log, text).unwrap();
    let server = planted_server(domains, Duration::ZERO);
    server
        .stub
        .storm
        .lock()
        .unwrap()
        .insert(CHEAP.tag.into(), 25);
    // Port 1 on loopback: nothing listens there.
    let models = models_folder(
        dir.path(),
        &|t| server.url(t),
        &[
            ("stub-gone", "http://127.0.0.1:1/v1"),
            ("stub-garbage", &server.url("garbage")),
        ],
    );
    let out = dir.path().join("out");
    let mut cmd = triage(&models);
    cmd.arg("collect")
        .arg(&log)
        .args(["--providers", "stub-cheap,stub-gone", "--judge", JUDGE.name])
        .args(["--sample", "30", "--budget-usd", "1", "--max-tokens", "64"])
        .args([
            "--retries",
            "8",
            "--retry-base-ms",
            "2",
            "--timeout-secs",
            "10",
        ])
        .arg("--out")
        .arg(&out);
    let o = run(cmd);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    for line in [
        ":31: invalid JSON",
        ":32: missing field",
        ":34: line is not valid UTF-8",
        ":35: blank prompt",
    ] {
        assert!(err.contains(line), "{line}: {err}");
    }
    assert!(
        err.contains("calls to stub-gone: connection failed"),
        "{err}"
    );
    let r = report(&out);
    assert_eq!(r["progress"]["bad_records"], 4, "{r}");
    let n = r["run"]["sampled"].as_u64().unwrap();
    // The storm was ridden out: every prompt has the cheap stub's outcome, none the unreachable one's.
    let outcomes = read_jsonl(&out.join("outcomes.jsonl"));
    assert_eq!(outcomes.len() as u64, n);
    assert!(outcomes
        .iter()
        .all(|o| o["outcomes"].get("stub-cheap").is_some()
            && o["outcomes"].get("stub-gone").is_none()));
    assert_eq!(server.requests(CHEAP.tag), n + 25);
    assert_eq!(
        r["spend"]["spent_pico_usd"].as_u64().unwrap(),
        stub_spend(&server)
    );

    // A judge that never answers in the asked format: each judgment is tried twice, then recorded as
    // an error, never as a score; a rerun does not pay for them again.
    let out = dir.path().join("out-garbage");
    let garbage = || {
        let mut cmd = triage(&models);
        cmd.arg("collect")
            .arg(&log)
            .args(["--providers", "stub-cheap", "--judge", "stub-garbage"])
            .args(["--sample", "30", "--budget-usd", "1", "--max-tokens", "64"])
            .arg("--out")
            .arg(&out);
        cmd
    };
    let o = run(garbage());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unparseable judgment, twice"),
        "{}",
        stderr(&o)
    );
    assert_eq!(server.requests("garbage"), 2 * n);
    assert!(read_jsonl(&out.join("outcomes.jsonl")).is_empty());
    let errors = journal(&out)
        .iter()
        .filter(|e| e["kind"] == "judgment")
        .inspect(|e| assert!(e.get("score").is_none(), "{e}"))
        .count() as u64;
    assert_eq!(errors, 2 * n);
    let o = run(garbage());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(server.requests("garbage"), 2 * n);
    assert_no_key(&out);

    // A provider without a key variable set is refused before anything is called.
    let mut cmd = triage(&models);
    cmd.env_remove(KEY_ENV)
        .arg("collect")
        .arg(&log)
        .args(["--providers", "stub-cheap", "--judge", JUDGE.name])
        .args(["--sample", "5", "--budget-usd", "1"])
        .arg("--out")
        .arg(dir.path().join("out-nokey"));
    let o = run(cmd);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(KEY_ENV), "{}", stderr(&o));
}

#[test]
fn fifty_calls_stay_in_flight_and_a_dry_run_calls_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic.jsonl");
    let domains = write_log(&log, 64, 0);
    let server = planted_server(domains, Duration::from_millis(300));
    let models = models_folder(dir.path(), &|t| server.url(t), &[]);
    let out = dir.path().join("out");
    let cmd = |extra: &[&str]| {
        let mut cmd = triage(&models);
        cmd.arg("collect")
            .arg(&log)
            .args([
                "--providers",
                CHEAP.name,
                "--scorer",
                "cat > /dev/null; echo 1",
            ])
            .args([
                "--sample",
                "128",
                "--budget-usd",
                "1",
                "--concurrency",
                "64",
            ])
            .args(extra)
            .arg("--out")
            .arg(&out);
        cmd
    };
    let o = run(cmd(&["--dry-run"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("worst-case cost"), "{}", stderr(&o));
    assert!(stderr(&o).contains("label mix"), "{}", stderr(&o));
    assert_eq!(server.requests(CHEAP.tag), 0);
    assert!(!out.join("journal.jsonl").exists());

    let o = run(cmd(&[]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let peak = server.stub.max_in_flight.load(Ordering::SeqCst);
    eprintln!("peak calls in flight: {peak}");
    assert!(peak >= 50, "only {peak} calls in flight");
    let outcomes = read_jsonl(&out.join("outcomes.jsonl"));
    assert!(outcomes.iter().all(|o| o["outcomes"]["stub-cheap"] == 1.0));
    assert!(outcomes
        .iter()
        .all(|o| o["judge"].as_str().unwrap().starts_with("scorer")));
}

#[test]
fn pairwise_judging_asks_both_orders_and_logged_answers_are_not_bought_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic.jsonl");
    let domains = write_log(&log, 20, 0);
    // Ten code records already hold the strong provider's answer (under an alias-free name).
    let mut text = std::fs::read_to_string(&log).unwrap();
    for k in 100..110 {
        let p = code_prompt(k);
        text.push_str(
            &json!({"prompt": p, "response": format!("ANSWER-GOOD logged earlier (call {})", 900_000 + k), "model": STRONG.name})
                .to_string(),
        );
        text.push('\n');
    }
    std::fs::write(&log, text).unwrap();
    let mut domains = domains;
    for k in 100..110 {
        domains.insert(code_prompt(k), "code");
    }
    let server = planted_server(domains.clone(), Duration::ZERO);
    let models = models_folder(dir.path(), &|t| server.url(t), &[]);
    let out = dir.path().join("out");
    let mut cmd = collect_cmd(&models, &log, &out, 50, 5.0);
    cmd.args(["--judge-mode", "pairwise", "--reference", STRONG.name]);
    let o = run(cmd);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = report(&out);
    let n = r["run"]["sampled"].as_u64().unwrap();
    assert_eq!(n, 50, "{r}");
    assert_eq!(
        server.requests(STRONG.tag),
        n - 10,
        "logged answers are judged, not bought"
    );
    assert_eq!(server.requests(CHEAP.tag), n);
    assert_eq!(
        server.requests(JUDGE.tag),
        2 * n,
        "each pair in both orders"
    );
    assert_eq!(r["providers"][STRONG.name]["answers_reused"], 10);
    assert_eq!(r["judge"]["self_agreement"]["agreement"], 1.0, "{r}");
    for rec in read_jsonl(&out.join("outcomes.jsonl")) {
        assert_eq!(
            rec["outcomes"][STRONG.name], 0.5,
            "the reference is the midpoint"
        );
        let cheap = rec["outcomes"][CHEAP.name].as_f64().unwrap();
        assert!(cheap == 0.0 || cheap == 0.5, "{rec}");
    }
    let cheap_code = r["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["provider"] == CHEAP.name && c["domain"] == "code")
        .map(|c| c["mean_outcome"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(cheap_code < 0.2, "{r}");
}

#[test]
fn ctrl_c_journals_the_calls_in_flight_and_a_rerun_continues() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("traffic.jsonl");
    let domains = write_log(&log, 30, 0);
    let server = planted_server(domains, Duration::from_millis(30));
    let models = models_folder(dir.path(), &|t| server.url(t), &[]);
    let out = dir.path().join("out");
    let command = || {
        let mut cmd = collect_cmd(&models, &log, &out, 60, 5.0);
        cmd.args(["--keep-text", "--concurrency", "2"]);
        cmd
    };
    let mut child = command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while journal(&out).len() < 30 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the interrupt"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted") && err.contains("rerun the same command"),
        "{err}"
    );
    assert_eq!(report(&out)["progress"]["stopped"], "interrupted");
    // Every call the stubs answered was journaled before the exit: nothing was left in flight.
    let journaled = journal(&out);
    let answered: u64 = [CHEAP.tag, STRONG.tag, JUDGE.tag]
        .iter()
        .map(|t| server.requests(t))
        .sum();
    assert_eq!(journaled.len() as u64, answered);
    let o = run(command());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for e in &journaled {
        let text = e["answer"]
            .as_str()
            .or(e["judge_text"].as_str())
            .unwrap_or("");
        assert_eq!(server.times_answered(serial_in(text).unwrap()), 1, "{e}");
    }
}
