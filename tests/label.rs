//! `triage label` end to end: the real binary on the shipped models/ artifacts and the fixtures in
//! tests/fixtures/label.

mod common;

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::root;

fn fixture(name: &str) -> String {
    format!("tests/fixtures/label/{name}")
}

/// Runs `triage label ARGS`, feeding `stdin` when given.
fn label(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_triage"));
    cmd.current_dir(root())
        .arg("label")
        .args(args)
        .env("TRIAGE_MODELS_DIR", root().join("models"))
        .env("TRIAGE_MODEL_CACHE", common::model_cache())
        .env_remove("TRIAGE_MIN_QUALITY")
        .env_remove("TRIAGE_MAX_QUALITY_DROP")
        .env_remove("TRIAGE_MAX_COST_USD")
        .env_remove("TRIAGE_ALLOW")
        .env_remove("TRIAGE_DENY")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs and expects exit code `code`; returns the output records.
fn records(args: &[&str], stdin: Option<&[u8]>, code: i32) -> (Vec<Value>, Output) {
    let out = label(args, stdin);
    assert_eq!(
        out.status.code(),
        Some(code),
        "triage label {args:?}: stderr:\n{}",
        stderr(&out)
    );
    let recs = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (recs, out)
}

fn input_lines(path: &str) -> usize {
    std::fs::read_to_string(root().join(path))
        .unwrap()
        .lines()
        .count()
}

const DOMAINS: [&str; 6] = [
    "code",
    "math",
    "reasoning",
    "knowledge",
    "writing",
    "general",
];

/// Checks one labelled record's shape and internal consistency.
fn check_labelled(r: &Value) {
    let o = r.as_object().unwrap();
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    let expected = [
        "line",
        "id",
        "domain",
        "domain_probs",
        "difficulty",
        "level",
        "provider",
        "expected_quality",
        "expected_cost_usd",
        "quality",
        "quality_interval",
        "cost_usd",
        "truncated",
    ];
    // `file` with several inputs; `turn` for a conversation with earlier user turns.
    let without_file: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| *k != "file" && *k != "turn")
        .collect();
    if let Some(turn) = o.get("turn") {
        assert!(turn == "continuation" || turn == "afresh", "{r}");
    }
    assert_eq!(without_file, expected, "{r}");
    // Each candidate's interval holds its expected quality.
    for (p, q) in r["quality"].as_object().unwrap() {
        if let (Some(q), Some(i)) = (q.as_f64(), r["quality_interval"][p].as_array()) {
            let (lo, hi) = (i[0].as_f64().unwrap(), i[1].as_f64().unwrap());
            assert!(lo <= q + 1e-6 && q <= hi + 1e-6 && lo < hi, "{p}: {r}");
        }
    }
    let probs = r["domain_probs"].as_object().unwrap();
    assert_eq!(
        probs.keys().map(String::as_str).collect::<Vec<_>>(),
        DOMAINS,
        "domain order"
    );
    let sum: f64 = probs.values().map(|p| p.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
    let domain = r["domain"].as_str().unwrap();
    let best = probs
        .iter()
        .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
        .unwrap()
        .0;
    assert_eq!(domain, best, "domain is the most probable one");
    let d = r["difficulty"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&d));
    assert!(["easy", "medium", "hard"].contains(&r["level"].as_str().unwrap()));
    let quality = r["quality"].as_object().unwrap();
    let cost = r["cost_usd"].as_object().unwrap();
    assert!(quality.len() >= 2, "{r}");
    assert_eq!(
        quality.keys().collect::<Vec<_>>(),
        cost.keys().collect::<Vec<_>>()
    );
    let mut sorted: Vec<&String> = quality.keys().collect();
    sorted.sort();
    assert_eq!(sorted, quality.keys().collect::<Vec<_>>(), "maps by name");
    let provider = r["provider"].as_str().unwrap();
    assert_eq!(quality[provider], r["expected_quality"], "{r}");
    assert_eq!(cost[provider], r["expected_cost_usd"], "{r}");
    assert!(r["expected_cost_usd"].as_f64().unwrap() > 0.0);
    assert!(r["truncated"].is_boolean());
}

#[test]
fn jsonl_input_gives_one_label_record_per_line_in_order() {
    let input = fixture("prompts.jsonl");
    let (recs, out) = records(&[&input], None, 0);
    assert_eq!(recs.len(), input_lines(&input));
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["line"], i as u64 + 1);
        assert!(r.get("file").is_none(), "one input: no file field");
        check_labelled(r);
    }
    // ids are copied as strings (numbers too); a record without one has id null.
    assert_eq!(recs[0]["id"], "a1");
    assert_eq!(recs[2]["id"], "3");
    assert_eq!(recs[7]["id"], Value::Null);
    // The summary is on stderr, nothing else on stdout.
    let err = stderr(&out);
    assert!(
        err.contains("triage label: 10 records (10 labelled, 0 bad)"),
        "{err}"
    );
    assert!(err.contains("all to best ("), "{err}");
}

#[test]
fn messages_array_is_labelled_by_its_last_user_turn() {
    let (recs, _) = records(&[&fixture("prompts.jsonl")], None, 0);
    // Line 6 is a chat whose last user turn is exactly the prompt of line 7.
    let (chat, plain) = (&recs[5], &recs[6]);
    assert_eq!(chat["id"], "a6");
    for d in DOMAINS {
        let (a, b) = (
            chat["domain_probs"][d].as_f64().unwrap(),
            plain["domain_probs"][d].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-4, "{d}: {a} vs {b}");
    }
    assert_eq!(chat["domain"], plain["domain"]);
    assert_eq!(chat["level"], plain["level"]);
    assert_eq!(chat["provider"], plain["provider"]);
    // ...and not by its first user turn (a limerick): labelling that alone gives other probabilities.
    let (limerick, _) = records(
        &["-"],
        Some(br#"{"prompt": "Write a limerick about a cat."}"#),
        0,
    );
    let diff: f64 = DOMAINS
        .iter()
        .map(|d| {
            (limerick[0]["domain_probs"][d].as_f64().unwrap()
                - chat["domain_probs"][d].as_f64().unwrap())
            .abs()
        })
        .sum();
    assert!(diff > 0.05, "{diff}");
}

#[test]
fn csv_input_with_field() {
    let input = fixture("prompts.csv");
    let (recs, _) = records(&[&input, "--field", "question"], None, 0);
    assert_eq!(recs.len(), 5);
    // Lines are where each row starts (row 3 spans two lines).
    let lines: Vec<u64> = recs.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 3, 4, 6, 7]);
    let ids: Vec<&str> = recs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c1", "c2", "c3", "c4", "c5"]);
    recs.iter().for_each(check_labelled);
    // Without --field there is no prompt/text column: a usage error.
    let out = label(&[&input], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--field"), "{}", stderr(&out));
}

#[test]
fn plain_text_input_is_one_prompt_per_line() {
    let input = fixture("prompts.txt");
    let (recs, _) = records(&[&input], None, 0);
    assert_eq!(recs.len(), 4);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["line"], i as u64 + 1);
        assert_eq!(r["id"], Value::Null);
        check_labelled(r);
    }
}

#[test]
fn gzip_and_stdin_inputs_match_the_plain_file() {
    let input = fixture("prompts.jsonl");
    let plain = stdout(&label(&[&input], None));
    assert!(!plain.is_empty());
    let bytes = std::fs::read(root().join(&input)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("prompts.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&bytes).unwrap();
    enc.finish().unwrap();
    let (_, out) = records(&[gz.to_str().unwrap()], None, 0);
    assert_eq!(stdout(&out), plain, ".gz gives the same output");

    let (_, out) = records(&["-"], Some(&bytes), 0);
    assert_eq!(stdout(&out), plain, "stdin gives the same output");
    // No input at all also means stdin.
    let (_, out) = records(&[], Some(&bytes), 0);
    assert_eq!(stdout(&out), plain);
}

#[test]
fn bad_records_stay_in_place_and_exit_3() {
    let mut input: Vec<u8> = Vec::new();
    input.extend_from_slice(b"{\"id\": \"g1\", \"prompt\": \"What is 17 times 23?\"}\n");
    input.extend_from_slice(b"{\"id\": \"b2\", \"prompt\": \"unterminated\n");
    input.extend_from_slice(b"{\"id\": \"b3\", \"question\": \"no prompt field\"}\n");
    // A blank prompt is routed as blank (general, easy), not an error.
    input.extend_from_slice(b"{\"id\": \"g4\", \"prompt\": \"   \"}\n");
    input.extend_from_slice(b"{\"id\": \"b5\", \"prompt\": \"caf\xe9 au lait\"}\n");
    input.extend_from_slice(b"{\"id\": \"g6\", \"prompt\": \"Write a haiku about rain.\"}\n");
    input.extend_from_slice(
        b"{\"id\": \"b7\", \"messages\": [{\"role\": \"system\", \"content\": \"hi\"}]}\n",
    );
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"id\": \"g9\", \"prompt\": \"Name three sorting algorithms.\"}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    std::fs::write(&path, &input).unwrap();
    let out_path = dir.path().join("out.jsonl");
    let out = label(
        &[
            path.to_str().unwrap(),
            "--output",
            out_path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "--output: nothing on stdout");
    let recs: Vec<Value> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 9, "one output record per input line");
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["line"], i as u64 + 1);
        let good = [0, 3, 5, 8].contains(&i);
        if good {
            check_labelled(r);
        } else {
            let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["line", "id", "error"], "{r}");
            assert!(!r["error"].as_str().unwrap().is_empty());
        }
    }
    assert_eq!(recs[0]["id"], "g1");
    assert_eq!(recs[2]["id"], "b3", "id of a record with a missing field");
    assert_eq!(recs[3]["domain"], "general");
    assert_eq!(recs[3]["level"], "easy");
    assert_eq!(recs[1]["id"], Value::Null, "invalid JSON has no id");
    assert!(recs[1]["error"].as_str().unwrap().contains("invalid JSON"));
    assert!(recs[2]["error"].as_str().unwrap().contains("missing field"));
    assert!(recs[4]["error"].as_str().unwrap().contains("UTF-8"));
    assert!(recs[6]["error"].as_str().unwrap().contains("user turn"));
    let err = stderr(&out);
    assert!(err.contains("5 of 9 records were bad"), "{err}");
    assert!(err.contains("mixed.jsonl:2: invalid JSON"), "{err}");
    assert!(err.contains("(4 labelled, 5 bad)"), "{err}");
}

#[test]
fn csv_output_has_fixed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut text = std::fs::read_to_string(root().join(fixture("prompts.jsonl"))).unwrap();
    text.push_str("not json\n");
    std::fs::write(&input, text).unwrap();
    let out = label(&[input.to_str().unwrap(), "--format", "csv"], None);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let (jsonl, _) = records(&[&fixture("prompts.jsonl")], None, 0);
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "line",
            "id",
            "file",
            "domain",
            "p_code",
            "p_math",
            "p_reasoning",
            "p_knowledge",
            "p_writing",
            "p_general",
            "difficulty",
            "level",
            "provider",
            "expected_quality",
            "expected_cost_usd",
            "truncated",
            "error",
            "quality",
            "cost_usd"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 11);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (row, json) in rows.iter().zip(&jsonl) {
        assert_eq!(row.len(), header.len());
        assert_eq!(row[col("line")], json["line"].to_string());
        assert_eq!(&row[col("id")], json["id"].as_str().unwrap_or(""));
        assert_eq!(&row[col("file")], "");
        assert_eq!(&row[col("domain")], json["domain"].as_str().unwrap());
        assert_eq!(&row[col("provider")], json["provider"].as_str().unwrap());
        assert_eq!(&row[col("level")], json["level"].as_str().unwrap());
        assert_eq!(&row[col("error")], "");
        let p: f64 = row[col("p_math")].parse().unwrap();
        assert!((p - json["domain_probs"]["math"].as_f64().unwrap()).abs() < 1e-6);
        let c: f64 = row[col("expected_cost_usd")].parse().unwrap();
        assert!((c - json["expected_cost_usd"].as_f64().unwrap()).abs() < 1e-12);
        assert_eq!(&row[col("truncated")], "false");
        let quality: Value = serde_json::from_str(&row[col("quality")]).unwrap();
        assert_eq!(quality, json["quality"]);
        let cost: Value = serde_json::from_str(&row[col("cost_usd")]).unwrap();
        assert_eq!(cost, json["cost_usd"]);
    }
    let bad = &rows[10];
    assert_eq!(&bad[col("line")], "11");
    assert!(bad[col("error")].contains("invalid JSON"));
    assert_eq!(&bad[col("domain")], "");
    assert_eq!(&bad[col("provider")], "");
}

#[test]
fn report_json_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut text = std::fs::read_to_string(root().join(fixture("prompts.jsonl"))).unwrap();
    text.push_str("{\"question\": \"no prompt field\"}\n");
    std::fs::write(&input, text).unwrap();
    let report = dir.path().join("report.json");
    let (recs, out) = records(
        &[
            input.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        None,
        3,
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["records"], 11);
    assert_eq!(r["labelled"], 10);
    assert_eq!(r["bad"], 1);
    assert!(r["tokens"].as_u64().unwrap() > 10);
    let sum = |v: &Value| -> u64 {
        v.as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum(&r["domains"]), 10);
    assert_eq!(
        r["domains"].as_object().unwrap().keys().collect::<Vec<_>>(),
        DOMAINS
    );
    assert_eq!(sum(&r["levels"]), 10);
    assert_eq!(sum(&r["providers"]), 10);
    // The per-record output agrees with the counts.
    for d in DOMAINS {
        let n = recs.iter().filter(|x| x["domain"] == d).count() as u64;
        assert_eq!(r["domains"][d], n, "{d}");
    }
    let p = &r["projection"];
    let routed = p["routed"]["total_cost_usd"].as_f64().unwrap();
    let best = p["all_to_best"]["total_cost_usd"].as_f64().unwrap();
    let cheapest = p["all_to_cheapest"]["total_cost_usd"].as_f64().unwrap();
    assert!(routed > 0.0 && best > 0.0 && cheapest > 0.0, "{p}");
    assert!(
        routed <= best + 1e-12,
        "routed {routed} vs all-to-best {best}"
    );
    let per_record: f64 = recs
        .iter()
        .filter_map(|x| x["expected_cost_usd"].as_f64())
        .sum();
    assert!(
        (per_record - routed).abs() < 1e-9,
        "{per_record} vs {routed}"
    );
    // all-to-best is the provider with the highest mean expected quality over the records.
    let best_name = p["all_to_best"]["provider"].as_str().unwrap();
    let mean_q = |name: &str| -> f64 {
        recs.iter()
            .filter_map(|x| x["quality"][name].as_f64())
            .sum::<f64>()
            / 10.0
    };
    for name in p["per_provider"].as_object().unwrap().keys() {
        assert!(
            mean_q(name) <= mean_q(best_name) + 1e-6,
            "{name} beats {best_name}"
        );
    }
    assert!((p["all_to_best"]["mean_quality"].as_f64().unwrap() - mean_q(best_name)).abs() < 1e-5);
    assert!(r["seconds"].as_f64().unwrap() > 0.0);
    assert!(r["prompts_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(r["shard"], Value::Null);
    assert!(stderr(&out).contains("routing saves $"), "{}", stderr(&out));
}

#[test]
fn shards_partition_the_records_of_several_inputs() {
    let (a, b) = (fixture("prompts.jsonl"), fixture("prompts.txt"));
    let (whole, _) = records(&[&a, &b], None, 0);
    assert_eq!(whole.len(), 14);
    assert!(whole
        .iter()
        .all(|r| r["file"] == a.as_str() || r["file"] == b.as_str()));
    assert_eq!(whole[10]["file"], b.as_str());
    assert_eq!(whole[10]["line"], 1);
    let mut union: Vec<Value> = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let (part, out) = records(&[&a, &b, "--shard", &shard], None, 0);
        // Shard i holds the records whose global 0-based index is ≡ i (mod 3).
        let expected: Vec<(Value, Value)> = whole
            .iter()
            .enumerate()
            .filter(|(g, _)| g % 3 == i)
            .map(|(_, r)| (r["file"].clone(), r["line"].clone()))
            .collect();
        let got: Vec<(Value, Value)> = part
            .iter()
            .map(|r| (r["file"].clone(), r["line"].clone()))
            .collect();
        assert_eq!(got, expected, "shard {shard}");
        assert!(stderr(&out).contains(&format!("shard {shard}")));
        union.extend(part);
    }
    let key = |r: &Value| {
        (
            if r["file"] == a.as_str() { 0 } else { 1 },
            r["line"].as_u64().unwrap(),
        )
    };
    union.sort_by_key(key);
    assert_eq!(union.len(), whole.len());
    for (s, w) in union.iter().zip(&whole) {
        assert_same_labels(s, w);
    }
}

/// The same record labelled in two runs: identical except for float noise from batching. A prompt's
/// embedding depends (in the last bits) on which prompts share its forward pass, and sharding changes that.
fn assert_same_labels(a: &Value, b: &Value) {
    let (ao, bo) = (a.as_object().unwrap(), b.as_object().unwrap());
    assert_eq!(ao.keys().collect::<Vec<_>>(), bo.keys().collect::<Vec<_>>());
    for (k, av) in ao {
        let bv = &bo[k];
        match (av, bv) {
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
                for (kk, xv) in x {
                    assert_close(xv, &y[kk], &format!("{k}.{kk}"));
                }
            }
            (Value::Number(_), Value::Number(_)) => assert_close(av, bv, k),
            _ => assert_eq!(av, bv, "{k}"),
        }
    }
}

fn assert_close(a: &Value, b: &Value, what: &str) {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => assert!(
            (x - y).abs() <= 1e-5 * x.abs().max(y.abs()).max(1e-3),
            "{what}: {x} vs {y}"
        ),
        _ => assert_eq!(a, b, "{what}"),
    }
}

#[test]
fn bad_shard_values_are_usage_errors() {
    for bad in ["3/3", "0/0", "1", "x/2", "-1/2", "1/2/3"] {
        let out = label(&[&fixture("prompts.txt"), &format!("--shard={bad}")], None);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--shard {bad}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("--shard"), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn missing_input_fails_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let report = dir.path().join("report.json");
    let out = label(
        &[
            &fixture("prompts.txt"),
            "tests/fixtures/label/no-such-file.jsonl",
            "--output",
            out_path.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-file.jsonl"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no output, report or temporary file left behind"
    );
    assert!(!Path::new(&out_path).exists());
}

#[test]
fn a_reader_that_closes_the_pipe_ends_the_run_quietly() {
    // `triage label big.jsonl | head -n 1`: the reader leaves after one line; triage stops with exit 0 and
    // no "Broken pipe" error, as ripgrep does.
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .current_dir(root())
        .args(["label", "benches/prompts-1k.jsonl"])
        .env("TRIAGE_MODELS_DIR", root().join("models"))
        .env("TRIAGE_MODEL_CACHE", common::model_cache())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(first[0], b'{');
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.to_lowercase().contains("broken pipe"), "{err}");
    // The run stopped early: no summary of all 1,000 records was printed.
    assert!(!err.contains("1000 records"), "{err}");
}

#[test]
fn logged_agent_requests_are_routed_where_they_can_be_served() {
    let tools = r#""tools": [{"type": "function", "function": {"name": "get_weather"}}]"#;
    let input = format!(
        concat!(
            "{{\"id\": \"t1\", \"messages\": [{{\"role\": \"user\", \"content\": \"Weather in Paris?\"}}], {tools}}}\n",
            "{{\"id\": \"i2\", \"messages\": [{{\"role\": \"user\", \"content\": [{{\"type\": \"text\", \"text\": \"What is this?\"}}, {{\"type\": \"image_url\", \"image_url\": {{\"url\": \"data:,\"}}}}]}}]}}\n",
            "{{\"id\": \"b3\", \"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}], \"tools\": \"not a list\"}}\n",
            "{{\"id\": \"p4\", \"prompt\": \"Weather in Paris?\"}}\n"
        ),
        tools = tools
    );
    // Every provider allowed is one that cannot call tools: the tools record alone cannot be routed.
    let (recs, out) = records(
        &[
            "--max-quality-drop",
            "1",
            "--allow",
            "Meta-Llama-3.1-8B-Instruct,gpt-4o-mini-2024-07-18",
        ],
        Some(input.as_bytes()),
        3,
    );
    assert_eq!(recs.len(), 4, "{}", stderr(&out));
    // With tools, the one that cannot call them is excluded, saying why.
    assert_eq!(recs[0]["provider"], "gpt-4o-mini-2024-07-18", "{}", recs[0]);
    assert_eq!(
        recs[0]["excluded"]["Meta-Llama-3.1-8B-Instruct"], "no tool calling",
        "{}",
        recs[0]
    );
    assert_eq!(recs[1]["provider"], "gpt-4o-mini-2024-07-18", "{}", recs[1]);
    assert_eq!(
        recs[1]["excluded"]["Meta-Llama-3.1-8B-Instruct"],
        "no image input"
    );
    assert!(recs[2]["error"]
        .as_str()
        .unwrap()
        .contains("`tools` must be an array"));
    // The same question without tools takes the cheapest.
    assert_eq!(
        recs[3]["provider"], "Meta-Llama-3.1-8B-Instruct",
        "{}",
        recs[3]
    );
    assert!(recs[3]["excluded"]["Meta-Llama-3.1-8B-Instruct"].is_null());
    // The rest of the default set is excluded by --allow, and says so.
    assert_eq!(
        recs[3]["excluded"]["gpt-4o-2024-08-06"],
        "not in the allowed list"
    );
    // A tools record nobody allowed can serve is an error in its place; the run goes on.
    let (recs, _) = records(
        &[
            "--allow",
            "Meta-Llama-3.1-8B-Instruct,Meta-Llama-3.1-70B-Instruct",
        ],
        Some(input.as_bytes()),
        3,
    );
    assert!(
        recs[0]["error"]
            .as_str()
            .unwrap()
            .contains("no tool calling"),
        "{}",
        recs[0]
    );
    assert_eq!(recs[3]["id"], "p4");
    assert!(recs[3]["provider"].is_string());
}
