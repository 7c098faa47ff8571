//! `embed-bench`: times the candle embedder exactly as `scripts/bench/baseline_embed.py` times its Python
//! backends, and prints the same one-line JSON, so `scripts/bench-compare` can put them side by side.
//!
//! Definitions (those of the baseline): one warm-up batch of the first `--batch-size` prompts, then one timed
//! pass over all prompts at `--batch-size` (tokenization, forward, pooling and normalization included);
//! then `--warmup` untimed single-prompt calls and `--single` timed ones over the first prompts, whose p50/p99
//! are linear-interpolated percentiles (numpy's default). `tokens` is the sum of token counts after
//! truncation to 256, `[CLS]`/`[SEP]` included.
//!
//! Variants, for measuring what each speed-up is worth:
//! - `--order input`: embed fixed input-order chunks of `--batch-size`, each with its own call, so batches are
//!   not length-sorted across the whole input (each pads to its longest member);
//! - `--stock`: candle-transformers' stock `BertModel` (weights as stored, `(out, in)`, read through a
//!   transposed view; separate q/k/v matmuls) behind the same tokenizer, batching and pooling;
//! - `--no-thread-env`: leave `RAYON_NUM_THREADS` unset, so candle probes the CPU count on every matmul.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as StockConfig};
use clap::{Parser, ValueEnum};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tokenizers::Tokenizer;
use triage::cli::{GlobalArgs, Settings};
use triage::embedding::acquire::{self, ModelFiles};
use triage::embedding::bf16::Bf16Kernel;
use triage::embedding::minilm::mean_pool_normalize;
use triage::embedding::minilm::EngineKind;
use triage::embedding::quantized::Int8Kernel;
use triage::embedding::tokenizer::load_tokenizer;
use triage::embedding::{DenseArithmetic, Embedder, MiniLmEmbedder, PrecisionChoice};
use triage::error::{Error, Result};

/// Times the candle embedder like the Python baseline and prints one JSON line.
#[derive(Debug, Parser)]
#[command(name = "embed-bench", about, long_about = None)]
struct Args {
    /// Prompt file: `.jsonl` (field `prompt`, else `text`) or plain text with one prompt a line.
    prompts: PathBuf,
    /// Prompts per forward pass in the timed pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Prompts timed one at a time (the first N of the file).
    #[arg(long, default_value_t = 200)]
    single: usize,
    /// Untimed single-prompt calls before those.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Batching: `sorted` (the embedder's length-sorted batches over the whole input, as the baseline) or
    /// `input` (fixed input-order chunks of --batch-size, one embed call each).
    #[arg(long, value_enum, default_value_t = Order::Sorted)]
    order: Order,
    /// Run candle-transformers' stock BertModel instead of triage's encoder (same tokenizer, batching, pooling).
    #[arg(long)]
    stock: bool,
    /// Leave RAYON_NUM_THREADS unset (the global rayon pool still gets --threads threads).
    #[arg(long)]
    no_thread_env: bool,
    /// Name in the JSON's "backend" field (default: "candle" plus the variant flags).
    #[arg(long)]
    label: Option<String>,
    /// Also embed every prompt with the production embedder and report, on stderr, the lowest cosine
    /// between its vectors and this variant's (checks that a variant computes the same thing).
    #[arg(long)]
    verify: bool,
    /// Also embed every prompt with the fp32 engine, route both with the shipped artifacts, and add
    /// `agreement` to the JSON: the cosine to fp32 (lowest, median) and the share of prompts with the same
    /// provider, domain and level (for a reduced-precision row).
    #[arg(long)]
    agreement: bool,
    /// With `--precision int8` (an error with any other): run this int8 kernel (`amx-int8`,
    /// `avx512-vnni`, `avx-vnni`, `portable`) instead of the fastest one, to measure one against another
    /// on the same CPU.
    #[arg(long)]
    int8_kernel: Option<String>,
    /// With `--precision bf16` (an error with any other): run this bf16 kernel (`amx-bf16`,
    /// `avx512-bf16`) instead of the fastest.
    #[arg(long, conflicts_with = "int8_kernel")]
    bf16_kernel: Option<String>,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Order {
    Sorted,
    Input,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embed-bench: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

fn run(args: Args) -> Result<()> {
    if args.batch_size == 0 {
        return Err(Error::Usage("--batch-size must be at least 1".into()));
    }
    let mut global = args.global.clone();
    // Same thread fallback as the baseline: --threads, else $BENCH_THREADS, else all cores.
    if global.threads.is_none() {
        global.threads = std::env::var("BENCH_THREADS")
            .ok()
            .and_then(|v| v.parse().ok());
    }
    let settings = Settings::resolve(&global)?.embedder;
    if args.no_thread_env {
        std::env::remove_var("RAYON_NUM_THREADS");
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(settings.threads)
            .build_global();
    } else {
        triage::configure_threads(settings.threads);
    }

    let prompts = load_prompts(&args.prompts)?;
    if prompts.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no prompts",
            args.prompts.display()
        )));
    }
    let (files, _) = acquire::acquire(&settings.model_cache)?;
    let device = settings.device.open()?;
    let tokenizer = load_tokenizer(&files.tokenizer)?;
    let tokens: usize = tokenizer
        .encode_batch(prompts.clone(), true)
        .map_err(|e| Error::inference(format!("tokenizer: {e}")))?
        .iter()
        .map(|e| e.get_ids().len())
        .sum();

    if args.stock && args.agreement {
        return Err(Error::Usage(
            "--agreement measures the production embedder; it does not go with --stock".into(),
        ));
    }
    // The production embedder (once: timed, named and compared), or the stock model.
    let production = if args.stock {
        None
    } else {
        let unknown = |flag: &str, name: &str| {
            Error::Usage(format!("--{flag} {name}: unknown, or not run by this CPU"))
        };
        // A forced kernel runs its own precision: it must not measure int8 in a row the user asked
        // to be fp32.
        let wants = |choice: PrecisionChoice, flag: &str, precision: &str| {
            if settings.precision == choice {
                Ok(())
            } else {
                Err(Error::Usage(format!(
                    "--{flag} goes with --precision {precision}"
                )))
            }
        };
        let forced = match (&args.int8_kernel, &args.bf16_kernel) {
            (Some(name), _) => {
                wants(PrecisionChoice::Int8, "int8-kernel", "int8")?;
                Some(DenseArithmetic::Int8(
                    Int8Kernel::named(name).ok_or_else(|| unknown("int8-kernel", name))?,
                ))
            }
            (_, Some(name)) => {
                wants(PrecisionChoice::Bf16, "bf16-kernel", "bf16")?;
                Some(DenseArithmetic::Bf16(
                    Bf16Kernel::named(name).ok_or_else(|| unknown("bf16-kernel", name))?,
                ))
            }
            _ => None,
        };
        let embedder = match forced {
            None => triage::embedding::load(&settings)?,
            Some(dense) => {
                let kind = EngineKind::Native {
                    threads: settings.threads,
                    dense,
                };
                MiniLmEmbedder::load_engine(&files, &device, kind)?
            }
        };
        Some(embedder.with_batch_size(args.batch_size))
    };
    let stock = if args.stock {
        Some(StockEmbedder::load(
            &files,
            tokenizer,
            &device,
            args.batch_size,
        )?)
    } else {
        None
    };
    let embedder: &dyn Vectors = match (&production, &stock) {
        (Some(p), _) => p,
        (None, Some(s)) => s,
        (None, None) => return Err(Error::inference("no embedder was loaded")),
    };

    // Warm-up batch, then one timed pass over everything.
    let first = &prompts[..args.batch_size.min(prompts.len())];
    embed_pass(embedder, first, args.order, args.batch_size)?;
    let start = Instant::now();
    let vectors = embed_pass(embedder, &prompts, args.order, args.batch_size)?;
    let seconds = start.elapsed().as_secs_f64();
    black_box(&vectors);

    // Single-prompt latency.
    for prompt in prompts.iter().take(args.warmup) {
        black_box(embedder.vectors(std::slice::from_ref(prompt))?);
    }
    let mut latencies_ms = Vec::with_capacity(args.single);
    for prompt in prompts.iter().take(args.single) {
        let start = Instant::now();
        black_box(embedder.vectors(std::slice::from_ref(prompt))?);
        latencies_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }

    if args.verify {
        let reference = triage::embedding::load(&settings)?.embed(&prompts)?;
        let lowest = reference
            .iter()
            .zip(&vectors)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        eprintln!(
            "embed-bench: verify: lowest cosine to the production embedder over {} prompts: {lowest:.9}",
            prompts.len()
        );
    }

    let agreement = match (&production, args.agreement) {
        (Some(p), true) => Some(agreement_with_fp32(
            p,
            &settings,
            &prompts,
            args.batch_size,
        )?),
        _ => None,
    };
    let label = args.label.clone().unwrap_or_else(|| default_label(&args));
    let line = serde_json::json!({
        "engine": production.as_ref().map(|p| p.engine()),
        "agreement": agreement,
        "backend": label,
        "threads": settings.threads,
        "batch_size": args.batch_size,
        "prompts": prompts.len(),
        "tokens": tokens,
        "seconds": round(seconds, 4),
        "prompts_per_s": round(prompts.len() as f64 / seconds, 2),
        "tokens_per_s": round(tokens as f64 / seconds, 1),
        "p50_ms_single": percentile(&mut latencies_ms, 50.0).map(|v| round(v, 3)),
        "p99_ms_single": percentile(&mut latencies_ms, 99.0).map(|v| round(v, 3)),
    });
    println!("{line}");
    Ok(())
}

/// `embedder`'s embeddings and decisions against an fp32 embedder's (loaded with `settings` otherwise) on
/// `prompts` (the shipped artifacts, default routing options).
fn agreement_with_fp32(
    embedder: &MiniLmEmbedder,
    settings: &triage::embedding::EmbedderSettings,
    prompts: &[String],
    batch_size: usize,
) -> Result<serde_json::Value> {
    let mut fp32_settings = settings.clone();
    fp32_settings.precision = PrecisionChoice::Fp32;
    let this = embedder.embed_detailed(prompts)?;
    let fp32 = triage::embedding::load(&fp32_settings)?
        .with_batch_size(batch_size)
        .embed_detailed(prompts)?;
    let brain = triage::brain::Brain::load(
        &triage::artifacts::ArtifactSource::Embedded,
        triage::routing::RouteOptions::default(),
    )?;
    let options = triage::routing::RouteOptions::default();
    let cosine = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    };
    let (mut provider, mut domain, mut level) = (0usize, 0usize, 0usize);
    let mut cosines = Vec::with_capacity(prompts.len());
    for (a, b) in this.iter().zip(&fp32) {
        cosines.push(cosine(&a.vector, &b.vector).min(cosine(&a.mid_layer, &b.mid_layer)));
        let (la, lb) = (brain.label(a), brain.label(b));
        provider += usize::from(
            brain.route(&la, &options)?.provider == brain.route(&lb, &options)?.provider,
        );
        domain += usize::from(la.domain == lb.domain);
        level += usize::from(la.level == lb.level);
    }
    let n = prompts.len().max(1) as f64;
    Ok(serde_json::json!({
        "prompts": prompts.len(),
        "cosine_min": percentile(&mut cosines, 0.0).map(|v| round(v, 5)),
        "cosine_median": percentile(&mut cosines, 50.0).map(|v| round(v, 5)),
        "same_provider": round(provider as f64 / n, 4),
        "same_domain": round(domain as f64 / n, 4),
        "same_level": round(level as f64 / n, 4),
    }))
}

fn default_label(args: &Args) -> String {
    let mut label = String::from("candle");
    if args.stock {
        label.push_str("-stock");
    }
    if args.order == Order::Input {
        label.push_str("-input-order");
    }
    if args.no_thread_env {
        label.push_str("-no-thread-env");
    }
    label
}

/// One pass over `prompts`: a single call (the embedder sorts by length and batches), or one call per
/// input-order chunk.
fn embed_pass(
    embedder: &dyn Vectors,
    prompts: &[String],
    order: Order,
    batch_size: usize,
) -> Result<Vec<Vec<f32>>> {
    match order {
        Order::Sorted => embedder.vectors(prompts),
        Order::Input => {
            let mut out = Vec::with_capacity(prompts.len());
            for chunk in prompts.chunks(batch_size) {
                out.extend(embedder.vectors(chunk)?);
            }
            Ok(out)
        }
    }
}

/// The baseline's reader: `.jsonl` records with `prompt` (else `text`), or non-blank plain lines.
fn load_prompts(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let is_jsonl = path.extension().is_some_and(|e| e == "jsonl");
    let mut prompts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if !is_jsonl {
            prompts.push(line.to_string());
            continue;
        }
        let bad = |what: &str| Error::Usage(format!("{}:{}: {what}", path.display(), n + 1));
        let record: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let prompt = record
            .get("prompt")
            .or_else(|| record.get("text"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("no string field \"prompt\" or \"text\""))?;
        prompts.push(prompt.to_string());
    }
    Ok(prompts)
}

/// numpy's default (linear) percentile; `None` for no values.
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (values.len() - 1) as f64 * p / 100.0;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    Some(values[lo] + (rank - lo as f64) * (values[hi] - values[lo]))
}

/// What the benchmark needs from an embedder: unit vectors for texts, in input order.
trait Vectors {
    fn vectors(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

impl Vectors for MiniLmEmbedder {
    fn vectors(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.embed(texts)
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// candle-transformers' stock `BertModel` with triage's tokenizer, length-sorted batching and mean pooling:
/// the "stock candle" reference point.
struct StockEmbedder {
    tokenizer: Tokenizer,
    model: BertModel,
    batch_size: usize,
    device: Device,
}

impl StockEmbedder {
    fn load(
        files: &ModelFiles,
        tokenizer: Tokenizer,
        device: &Device,
        batch_size: usize,
    ) -> Result<Self> {
        let text = std::fs::read_to_string(&files.config)
            .map_err(|e| Error::io("reading", &files.config, e))?;
        let cfg: StockConfig = serde_json::from_str(&text).map_err(|e| {
            Error::ModelUnavailable(format!("invalid {}: {e}", files.config.display()))
        })?;
        let tensors = candle_core::safetensors::load(&files.weights, device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Ok(Self {
            tokenizer,
            model: BertModel::load(vb, &cfg)?,
            batch_size,
            device: device.clone(),
        })
    }

    fn embed_batch(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let seq = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0u32; rows.len() * seq];
        let mut mask = vec![0u32; rows.len() * seq];
        for (b, row) in rows.iter().enumerate() {
            ids[b * seq..b * seq + row.len()].copy_from_slice(row);
            mask[b * seq..b * seq + row.len()].fill(1);
        }
        let ids = Tensor::from_vec(ids, (rows.len(), seq), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows.len(), seq), &self.device)?;
        let hidden = self.model.forward(&ids, &ids.zeros_like()?, Some(&mask))?;
        let dim = hidden.dim(2)?;
        let flat = hidden.flatten_all()?.to_vec1::<f32>()?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(b, row)| {
                mean_pool_normalize(&flat[b * seq * dim..(b * seq + row.len()) * dim], dim)
            })
            .collect())
    }
}

impl Vectors for StockEmbedder {
    fn vectors(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::inference(format!("tokenizer: {e}")))?;
        // Longest first, batches of similar length: what MiniLmEmbedder (and sentence-transformers) do.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); encodings.len()];
        for chunk in order.chunks(self.batch_size) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
            for (&i, vector) in chunk.iter().zip(self.embed_batch(&rows)?) {
                out[i] = vector;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut v, 50.0), Some(2.5));
        assert_eq!(percentile(&mut v, 0.0), Some(1.0));
        assert_eq!(percentile(&mut v, 100.0), Some(4.0));
        // np.percentile([1, 2, 3, 4], 99) == 3.97
        assert!((percentile(&mut v, 99.0).unwrap_or(0.0) - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
