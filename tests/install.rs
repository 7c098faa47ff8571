//! Installed like a tool: the binary alone, copied into an empty folder, run from an empty working
//! directory with an empty HOME (the model pre-seeded into that HOME's Hugging Face cache), serves,
//! labels and embeds with its embedded artifacts.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A scratch install: `bin/triage`, an empty `home/` and an empty working folder `work/`.
struct Install {
    _tmp: tempfile::TempDir,
    bin: PathBuf,
    home: PathBuf,
    work: PathBuf,
}

impl Install {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (bin_dir, home, work) = (
            tmp.path().join("bin"),
            tmp.path().join("home"),
            tmp.path().join("work"),
        );
        for d in [&bin_dir, &home, &work] {
            std::fs::create_dir_all(d).unwrap();
        }
        let bin = bin_dir.join("triage");
        std::fs::copy(env!("CARGO_BIN_EXE_triage"), &bin).unwrap();
        Self {
            _tmp: tmp,
            bin,
            home,
            work,
        }
    }

    /// `triage ARGS` in `work/` with HOME = `home/` and none of triage's or Hugging Face's variables.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.work)
            .args(args)
            .env("HOME", &self.home)
            .stdin(Stdio::null());
        for var in [
            "TRIAGE_MODELS_DIR",
            "TRIAGE_MODEL_CACHE",
            "TRIAGE_TRAINING_DATA",
            "HF_HOME",
            "XDG_CACHE_HOME",
            "XDG_DATA_HOME",
            "TRIAGE_MIN_QUALITY",
            "TRIAGE_MAX_QUALITY_DROP",
            "TRIAGE_MAX_COST_USD",
            "TRIAGE_ALLOW",
            "TRIAGE_DENY",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        retry_while_busy(|| self.command(args).output())
    }
}

/// Runs `start` again while the copied binary is "text file busy": a process forked by another test thread
/// while the copy's file was still open for writing holds it until that process execs, for a moment.
fn retry_while_busy<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match start() {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The model files of the repository's cache (scripts/setup installs them).
fn model_snapshot() -> PathBuf {
    let files = triage::embedding::acquire::find_cached(&common::model_cache())
        .expect("the model is in the repository's cache (run scripts/setup)");
    files.weights.parent().unwrap().to_path_buf()
}

#[test]
fn the_binary_alone_embeds_labels_and_serves_from_any_directory() {
    let install = Install::new();
    // Seed the empty HOME's Hugging Face cache through the real install path.
    let seeded = install.run(&[
        "model",
        "fetch",
        "--from-dir",
        model_snapshot().to_str().unwrap(),
    ]);
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let cache = install.home.join(".cache/huggingface/hub");
    assert!(
        text(&seeded.stdout)
            .trim()
            .starts_with(cache.to_str().unwrap()),
        "model installed outside the HF cache: {}",
        text(&seeded.stdout)
    );

    let version = install.run(&["--version"]);
    assert!(
        text(&version.stdout).contains("artifacts: embedded (data sha256 "),
        "{}",
        text(&version.stdout)
    );
    let path = install.run(&["model", "path"]);
    assert!(path.status.success(), "{}", text(&path.stderr));
    assert!(text(&path.stdout).contains("artifacts: embedded"));

    std::fs::write(
        install.work.join("prompts.jsonl"),
        "{\"prompt\": \"Write a Rust function that reverses a string.\"}\n{\"prompt\": \"hi\"}\n",
    )
    .unwrap();
    let embed = install.run(&["embed", "prompts.jsonl"]);
    assert!(embed.status.success(), "{}", text(&embed.stderr));
    assert_eq!(text(&embed.stdout).lines().count(), 2);

    let label = install.run(&["label", "prompts.jsonl"]);
    assert!(label.status.success(), "{}", text(&label.stderr));
    let lines: Vec<serde_json::Value> = text(&label.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["provider"].is_string()), "{lines:?}");
    assert_eq!(lines[0]["domain"], "code");

    serve_and_route(&install);
    // Nothing was written into the working folder but the input.
    let left: Vec<_> = std::fs::read_dir(&install.work).unwrap().collect();
    assert_eq!(left.len(), 1);
}

/// Starts `triage serve` on 127.0.0.1:0, waits for "ready" (bounded), routes one prompt, stops it.
fn serve_and_route(install: &Install) {
    let mut child = retry_while_busy(|| {
        install
            .command(&["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
    });
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("triage: ready on http://") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let started = Instant::now();
    let addr = rx.recv_timeout(Duration::from_secs(60));
    let result = addr.map(|addr| {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .build();
        let health = agent.get(&format!("http://{addr}/health")).call();
        let route = agent
            .post(&format!("http://{addr}/v1/route"))
            .send_json(serde_json::json!({"prompt": "Prove that 17 is prime."}));
        (
            health.map(|r| r.status()),
            route.map(|r| r.into_json::<serde_json::Value>()),
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    let (health, route) =
        result.unwrap_or_else(|_| panic!("serve was not ready after {:?}", started.elapsed()));
    assert_eq!(health.unwrap(), 200);
    let body = route.unwrap().unwrap();
    assert!(body["provider"].is_string(), "{body}");
    assert_eq!(body["labels"]["domain"], "math");
}

#[test]
fn completions_and_man_page_come_from_the_clap_definitions() {
    let install = Install::new();
    let bash = install.run(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = text(&bash.stdout);
    assert!(script.contains("_triage()") && script.contains("--max-quality-drop"));
    let man = install.run(&["man"]);
    assert!(man.status.success());
    let page = text(&man.stdout);
    assert!(page.contains(".TH triage 1") && page.contains("serve"));
}
