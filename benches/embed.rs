//! Embedder speed: batch throughput over benches/prompts-1k.jsonl at batch 32, and single short-prompt latency;
//! and what reading those prompts for their labels costs (`reading_1k`).
//!
//! `cargo bench --bench embed` (about 2 minutes on 2 cores). Threads: $TRIAGE_THREADS, else 2 (the
//! baseline's setting; see docs/benchmarks.md). For the comparison with the Python baselines use
//! `scripts/bench-compare`, which measures with the baseline's exact definitions.

use clap::Parser;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;
use triage::cli::{GlobalArgs, Settings};
use triage::embedding::{Embedder, MiniLmEmbedder};

const BATCH_SIZE: usize = 32;

/// Settings as the `triage` binary resolves them from its environment (flags are not read: criterion owns
/// the command line).
#[derive(Parser)]
struct Global {
    #[command(flatten)]
    global: GlobalArgs,
}

fn embedder() -> MiniLmEmbedder {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut global = Global::parse_from(["embed-bench"]).global;
    if std::env::var_os("TRIAGE_MODEL_CACHE").is_none() {
        global.model_cache = Some(root.join("models").join("hub"));
    }
    global.threads = global.threads.or(Some(2));
    let settings = Settings::resolve(&global).expect("settings");
    triage::configure_threads(settings.embedder.threads);
    triage::embedding::load(&settings.embedder)
        .expect("load the embedding model (run scripts/setup first)")
        .with_batch_size(BATCH_SIZE)
}

fn prompts() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/prompts-1k.jsonl");
    std::fs::read_to_string(&path)
        .expect("read benches/prompts-1k.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["prompt"].as_str().expect("prompt field").to_string()
        })
        .collect()
}

fn bench_embed(c: &mut Criterion) {
    let embedder = embedder();
    let prompts = prompts();
    let tokens: usize = embedder
        .tokenize(&prompts)
        .expect("tokenize")
        .iter()
        .map(|t| t.ids.len())
        .sum();
    // tokens/s of a pass = prompts/s × tokens / prompts (one pass is several seconds; measured once only).
    eprintln!(
        "embed_1k: {} prompts, {tokens} tokens after truncation (55,711 expected for prompts-1k.jsonl)",
        prompts.len()
    );
    black_box(embedder.embed(&prompts[..BATCH_SIZE]).expect("warm-up"));

    // Each iteration is one whole pass (several seconds): flat sampling, one iteration per sample.
    let mut group = c.benchmark_group("embed_1k");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(prompts.len() as u64));
    group.bench_function(
        BenchmarkId::new("prompts", format!("batch{BATCH_SIZE}")),
        |b| b.iter(|| black_box(embedder.embed(black_box(&prompts)).expect("embed"))),
    );
    group.finish();

    let short = vec!["Plan a 7-day trip to Vancouver on a tight budget.".to_string()];
    let mut group = c.benchmark_group("embed_single");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group.bench_function("short_prompt", |b| {
        b.iter(|| black_box(embedder.embed(black_box(&short)).expect("embed")))
    });
    group.finish();
}

/// What reading a prompt for its labels (`triage::reading::for_labels`: courtesy at either end dropped)
/// adds to every request, over the same 1k prompts.
fn bench_reading(c: &mut Criterion) {
    let prompts = prompts();
    let mut group = c.benchmark_group("reading_1k");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(prompts.len() as u64));
    group.bench_function("for_labels", |b| {
        b.iter(|| {
            for p in &prompts {
                black_box(triage::reading::for_labels(black_box(p)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_reading, bench_embed);
criterion_main!(benches);
