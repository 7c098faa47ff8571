//! The reduced-precision engines (int8, bf16) against fp32 on the same prompts: the heads were fitted on
//! fp32 embeddings, so these must keep their decisions. On the benchmark's 1,000 prompts and a sample of
//! the training data's held-out prompts, issue 38's targets: the same provider for at least 99.5%, the
//! same domain 99.5%, the same level 99%, and a cosine to fp32 of at least 0.99 on every prompt (the
//! sentence vector and the mid-layer vector alike), on each of the two sets apart. int8 and bf16 are both
//! held to them.
//!
//! The int8 sums are exact, so the portable kernel (a CPU without VNNI) computes the same bits as AMX
//! (the unit tests of `embedding::quantized` check it). The register VNNI kernels quantize differently
//! (qkv and the output product in a wide form of 16-bit integers, which AMX lacks), so they compute other
//! bits: on an AMX CPU both are judged here. A CPU without VNNI serves int8 requests in fp32, its fastest
//! path; there the test runs the portable kernel (about 20 times slower) on every sixteenth prompt,
//! checks the cosines, and prints the decisions' agreement without judging a sample that small. bf16
//! runs on AMX or AVX-512 BF16; elsewhere its test says so and checks nothing.

mod common;

use std::sync::OnceLock;
use triage::artifacts::ArtifactSource;
use triage::brain::Brain;
use triage::embedding::bf16::Bf16Kernel;
use triage::embedding::minilm::{EngineKind, MiniLmEmbedder};
use triage::embedding::quantized::Int8Kernel;
use triage::embedding::{acquire, DenseArithmetic, Embedder, Embedding};
use triage::routing::RouteOptions;
use triage::training::dataset::is_held_out;

fn prompts_of(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(str::to_string))
        .filter(|p| !p.trim().is_empty())
        .collect()
}

/// The benchmark's prompts, then every fourth held-out prompt of each training-data file; and how many
/// of them are the benchmark's.
fn prompt_set() -> (Vec<String>, usize) {
    let root = common::root();
    let mut prompts = prompts_of(&root.join("benches/prompts-1k.jsonl"));
    let bench = prompts.len();
    let mut files: Vec<_> = std::fs::read_dir(root.join("training-data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for file in files {
        let held_out: Vec<String> = prompts_of(&file)
            .into_iter()
            .filter(|p| is_held_out(p))
            .collect();
        prompts.extend(held_out.into_iter().step_by(4));
    }
    (prompts, bench)
}

/// How many prompts of one set kept fp32's decisions.
#[derive(Default)]
struct Tally {
    prompts: usize,
    provider: usize,
    domain: usize,
    level: usize,
}

impl Tally {
    fn share(&self, count: usize) -> f64 {
        count as f64 / self.prompts as f64
    }

    /// Issue 38's floors: the same provider for 99.5% of the set, the same domain 99.5%, the same level
    /// 99%.
    fn meets_the_targets(&self, what: &str) {
        let floors = [
            ("provider", self.provider, 0.995),
            ("domain", self.domain, 0.995),
            ("level", self.level, 0.99),
        ];
        for (name, kept, floor) in floors {
            assert!(
                self.share(kept) >= floor,
                "{what}: same {name} {kept} of {}",
                self.prompts
            );
        }
    }
}

/// How one arithmetic's embeddings and decisions compare with fp32's on the same prompts.
struct Agreement {
    /// The benchmark's 1,000 prompts, and the held-out prompts.
    bench: Tally,
    held_out: Tally,
    /// Lowest cosine (sentence or mid-layer vector) and its prompt.
    lowest: (f64, String),
}

/// The prompt set (every sixteenth of it with `sample`), embedded in fp32 once for every test here, and
/// how many of them are the benchmark's (they come first).
fn fp32_baseline(sample: bool) -> &'static (Vec<String>, Vec<Embedding>, usize) {
    static FULL: OnceLock<(Vec<String>, Vec<Embedding>, usize)> = OnceLock::new();
    static SAMPLED: OnceLock<(Vec<String>, Vec<Embedding>, usize)> = OnceLock::new();
    let cell = if sample { &SAMPLED } else { &FULL };
    cell.get_or_init(|| {
        let (mut prompts, mut bench) = prompt_set();
        if sample {
            prompts = prompts.into_iter().step_by(16).collect();
            bench = bench.div_ceil(16);
        }
        let embeddings = load(DenseArithmetic::Fp32)
            .embed_detailed(&prompts)
            .unwrap();
        (prompts, embeddings, bench)
    })
}

fn load(dense: DenseArithmetic) -> MiniLmEmbedder {
    let (files, _) = acquire::acquire(&common::model_cache()).unwrap();
    let device = candle_core::Device::Cpu;
    MiniLmEmbedder::load_engine(&files, &device, EngineKind::Native { threads: 2, dense }).unwrap()
}

/// Embeds the prompt set in `dense` and compares it with fp32 (labels and routes by the shipped brain).
fn agreement(dense: DenseArithmetic, sample: bool) -> Agreement {
    let (prompts, fp32, bench) = fp32_baseline(sample);
    let reduced: Vec<Embedding> = load(dense).embed_detailed(prompts).unwrap();
    let brain = Brain::load(
        &ArtifactSource::Dir(common::models_dir()),
        RouteOptions::default(),
    )
    .unwrap();
    let mut out = Agreement {
        bench: Tally::default(),
        held_out: Tally::default(),
        lowest: (f64::INFINITY, String::new()),
    };
    let mut cosines = Vec::with_capacity(prompts.len());
    for (k, (a, b)) in fp32.iter().zip(&reduced).enumerate() {
        let c =
            common::cosine(&a.vector, &b.vector).min(common::cosine(&a.mid_layer, &b.mid_layer));
        cosines.push(c);
        if c < out.lowest.0 {
            out.lowest = (c, prompts[k].clone());
        }
        let (la, lb) = (brain.label(a), brain.label(b));
        let options = RouteOptions::default();
        let (da, db) = (
            brain.route(&la, &options).unwrap(),
            brain.route(&lb, &options).unwrap(),
        );
        let tally = if k < *bench {
            &mut out.bench
        } else {
            &mut out.held_out
        };
        tally.prompts += 1;
        tally.provider += usize::from(da.provider == db.provider);
        tally.domain += usize::from(la.domain == lb.domain);
        tally.level += usize::from(la.level == lb.level);
    }
    cosines.sort_by(f64::total_cmp);
    for (what, t) in [("1k set", &out.bench), ("held-out", &out.held_out)] {
        eprintln!(
            "{} vs fp32, {what}, {} prompts: provider {:.2}%, domain {:.2}%, level {:.2}%",
            dense.name(),
            t.prompts,
            100.0 * t.share(t.provider),
            100.0 * t.share(t.domain),
            100.0 * t.share(t.level),
        );
    }
    eprintln!(
        "{} vs fp32, all {} prompts: cosine min {:.5} median {:.5}",
        dense.name(),
        prompts.len(),
        cosines[0],
        cosines[cosines.len() / 2]
    );
    assert!(
        out.bench.prompts >= 50 && out.held_out.prompts >= 50,
        "too few prompts: {} and {}",
        out.bench.prompts,
        out.held_out.prompts
    );
    assert!(
        out.lowest.0 >= 0.99,
        "cosine {:.5} on prompt {:?}",
        out.lowest.0,
        out.lowest.1
    );
    out
}

/// The int8 kernels to judge here: the fastest this CPU runs, and where that is AMX, the AVX-512 VNNI
/// kernel too, which holds qkv and the output product in the wide form (16-bit integers, AMX has none)
/// and the intermediate's second weight digit on a quarter of its units, and so computes other bits (a
/// CPU with VNNI but no AMX runs it: AMD Zen 4, Intel Ice Lake).
fn int8_kernels() -> Vec<Int8Kernel> {
    let fastest = Int8Kernel::detect();
    let mut kernels = vec![fastest];
    if fastest == Int8Kernel::Amx {
        kernels.push(Int8Kernel::Avx512Vnni);
    }
    kernels
}

#[test]
fn int8_keeps_the_decisions_of_fp32() {
    for kernel in int8_kernels() {
        let vnni = kernel != Int8Kernel::Portable;
        let a = agreement(DenseArithmetic::Int8(kernel), !vnni);
        if !vnni {
            return;
        }
        // With 8-bit weights everywhere 99.39% of providers were kept on both sets together; the
        // feed-forward products' second weight digit brought it to 99.53% but left the 1k set at 99.3%;
        // the second digit on qkv's V columns brings the 1k set to 99.8%.
        a.bench
            .meets_the_targets(&format!("int8 {}, 1k set", kernel.name()));
        a.held_out
            .meets_the_targets(&format!("int8 {}, held-out", kernel.name()));
    }
}

#[test]
fn bf16_keeps_the_decisions_of_fp32() {
    let kernels: Vec<Bf16Kernel> = Bf16Kernel::ALL
        .into_iter()
        .filter(|k| k.runs_here())
        .collect();
    if kernels.is_empty() {
        eprintln!("bf16: this CPU has no AVX-512 BF16; nothing to compare (fp32 runs instead)");
    }
    for kernel in kernels {
        let a = agreement(DenseArithmetic::Bf16(kernel), false);
        a.bench.meets_the_targets(&format!("{kernel:?}, 1k set"));
        a.held_out
            .meets_the_targets(&format!("{kernel:?}, held-out"));
    }
}

#[test]
fn a_forced_kernel_needs_its_own_precision() {
    // `embed-bench --int8-kernel` in a row asked to be fp32 would measure int8 under fp32's name.
    for (precision, flag, kernel) in [
        ("fp32", "--int8-kernel", "portable"),
        ("bf16", "--int8-kernel", "portable"),
        ("fp32", "--bf16-kernel", "amx-bf16"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_embed-bench"))
            .arg(common::root().join("benches/prompts-1k.jsonl"))
            .args(["--precision", precision, flag, kernel])
            .env("TRIAGE_MODEL_CACHE", common::model_cache())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{precision} {flag}: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} goes with --precision")),
            "{stderr}"
        );
    }
}
