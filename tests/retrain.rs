//! `triage --retrain` on a foreign log (other provider names, `cost_usd` instead of prices, no domain labels),
//! and the refusal of a retrain that routes worse than the artifacts in place.

mod common;

use std::path::Path;
use std::process::Command;
use triage::training::dataset::is_held_out;

/// Rewrites LLMRouter rows as a foreign log: providers renamed, real costs instead of a price list,
/// domains removed. `corrupt_train` inverts the outcomes of training-split rows (held-out rows stay true).
fn write_foreign_log(dir: &Path, corrupt_train: bool) {
    let text =
        std::fs::read_to_string(common::root().join("training-data/llmrouter.jsonl")).unwrap();
    let rename = [
        ("gemma-2-9b-it", "acme-small", 0.1),
        ("llama-3.1-8b-instruct", "acme-medium", 0.2),
        ("llama-3.1-nemotron-51b-instruct", "acme-large", 0.9),
        ("qwen2.5-7b-instruct", "other-7b", 0.2),
    ];
    let mut out = String::new();
    for (k, line) in text.lines().enumerate() {
        if k % 10 != 0 {
            continue; // a tenth of the rows is enough to show both behaviours, and keeps the test quick
        }
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let prompt = row["prompt"].as_str().unwrap();
        let flip = corrupt_train && !is_held_out(prompt);
        let mut outcomes = serde_json::Map::new();
        let mut cost = serde_json::Map::new();
        for (from, to, price) in rename {
            let o = row["outcomes"][from].as_f64().unwrap();
            outcomes.insert(to.into(), serde_json::json!(if flip { 1.0 - o } else { o }));
            let tokens = (prompt.len() / 4 + 200) as f64;
            cost.insert(to.into(), serde_json::json!(tokens * price / 1e6));
        }
        let foreign = serde_json::json!({
            "id": row["id"], "task": row["task"], "domain": null, "prompt": prompt,
            "outcomes": outcomes, "cost_usd": cost, "unknown_key": "ignored",
        });
        out.push_str(&foreign.to_string());
        out.push('\n');
    }
    out.push_str("this line is not JSON\n");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("logs.jsonl"), out).unwrap();
}

fn retrain(data: &Path, models: &Path, force: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_triage"));
    cmd.arg("--retrain")
        .arg("--training-data")
        .arg(data)
        .arg("--models-dir")
        .arg(models)
        .arg("--model-cache")
        .arg(&common::settings().embedder.model_cache);
    if force {
        cmd.arg("--force");
    }
    cmd.output().unwrap()
}

#[test]
fn retrains_on_a_foreign_log_and_refuses_a_worse_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (good, bad, models) = (
        tmp.path().join("good"),
        tmp.path().join("bad"),
        tmp.path().join("models"),
    );
    write_foreign_log(&good, false);
    write_foreign_log(&bad, true);

    let out = retrain(&good, &models, false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("logs.jsonl:") && stderr.contains("not JSON")
            || stderr.contains("invalid record"),
        "{stderr}"
    );
    assert!(
        stdout.contains("held-out split") && stdout.contains("AIQ"),
        "{stdout}"
    );
    // The noise report (every kind) and the multi-turn probe, routed with the new artifacts.
    for kind in triage::training::noise::KINDS {
        assert!(stdout.contains(&format!("   {kind} ")), "{kind}: {stdout}");
    }
    assert!(
        stdout.contains("== multi-turn set")
            && stdout.contains("continuations routed like their task"),
        "{stdout}"
    );
    let artifacts = triage::artifacts::load(&models, triage::embedding::MODEL_ID).unwrap();
    let mut names: Vec<&str> = artifacts
        .table
        .providers
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["acme-large", "acme-medium", "acme-small", "other-7b"]
    );
    // No providers.csv: costs come from the log's cost_usd.
    assert!(artifacts
        .table
        .providers
        .iter()
        .all(|p| p.input_usd_per_mtok.is_none()));
    let gain = artifacts.manifest.metrics["groups"][0]["routing"][0]["aiq_gain"]
        .as_f64()
        .unwrap();
    let manifest_before = std::fs::read(models.join("manifest.json")).unwrap();

    // Training rows with inverted outcomes: the new table routes worse on the (true) held-out rows.
    let out = retrain(&bad, &models, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(triage::error::EXIT_RETRAIN_REFUSED),
        "{stderr}"
    );
    assert!(stderr.contains("refusing to replace"), "{stderr}");
    assert_eq!(
        std::fs::read(models.join("manifest.json")).unwrap(),
        manifest_before,
        "artifacts untouched"
    );

    // --force replaces them.
    let out = retrain(&bad, &models, true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let forced = triage::artifacts::load(&models, triage::embedding::MODEL_ID).unwrap();
    let forced_gain = forced.manifest.metrics["groups"][0]["routing"][0]["aiq_gain"]
        .as_f64()
        .unwrap();
    assert!(
        forced_gain < gain,
        "corrupted training should route worse: {forced_gain} vs {gain}"
    );
}
