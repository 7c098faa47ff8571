//! Parity of the candle embedder with sentence-transformers' reference embeddings (tests/fixtures).

use triage::embedding::{DenseArithmetic, Embedder, Embedding, EngineKind, MiniLmEmbedder};

struct Reference {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm-reference.jsonl"
    ))
    .unwrap();
    text.lines()
        .map(|l| reference(&serde_json::from_str(l).unwrap()))
        .collect()
}

/// One `{"text", "tokens", "embedding"}` reference.
fn reference(v: &serde_json::Value) -> Reference {
    Reference {
        text: v["text"].as_str().unwrap().to_string(),
        tokens: v["tokens"].as_u64().unwrap() as usize,
        embedding: v["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect(),
    }
}

fn check(refs: &[Reference], got: &[Embedding], how: &str) {
    assert_eq!(refs.len(), got.len());
    let mut worst = 1.0f64;
    for (r, g) in refs.iter().zip(got) {
        assert_eq!(g.tokens, r.tokens, "{how}: token count of {:?}", r.text);
        assert_eq!(g.vector.len(), 384);
        let norm = g
            .vector
            .iter()
            .map(|x| (*x as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "{how}: norm {norm} for {:?}",
            r.text
        );
        let c = common::cosine(&g.vector, &r.embedding);
        worst = worst.min(c);
        assert!(c >= 0.9999, "{how}: cosine {c} for {:?}", r.text);
    }
    eprintln!(
        "{how}: min cosine {worst:.9} (1 - cos = {:.1e}) over {} prompts",
        1.0 - worst,
        refs.len()
    );
}

#[test]
fn matches_sentence_transformers_batched_and_single() {
    let settings = common::settings();
    let embedder = triage::embedding::load(&settings.embedder)
        .expect("model loads (run `triage model fetch`)");
    let refs = references();
    assert_eq!(refs.len(), 64);
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    // Batched: padded batches of mixed lengths, results must come back in input order.
    check(&refs, &embedder.embed_detailed(&texts).unwrap(), "batched");
    // One at a time: no padding at all.
    let single: Vec<Embedding> = texts
        .iter()
        .map(|t| {
            embedder
                .embed_detailed(std::slice::from_ref(t))
                .unwrap()
                .remove(0)
        })
        .collect();
    check(&refs, &single, "single");
    // The 472-word text is cut at 256 tokens and says so.
    assert!(single.iter().any(|e| e.truncated && e.tokens == 256));
}

fn model_files() -> triage::embedding::ModelFiles {
    let settings = common::settings();
    triage::embedding::acquire::acquire(&settings.embedder.model_cache)
        .expect("model installed (run `triage model fetch`)")
        .0
}

/// The native engine's work division must not matter: all 64 texts in one pass (over 512 tokens, so the
/// feed-forward runs in several row blocks) on 1, 2 and 3 threads (3 splits columns and rows unevenly).
#[test]
fn native_engine_matches_on_any_thread_count_and_batch_size() {
    let files = model_files();
    let device = candle_core::Device::Cpu;
    let refs = references();
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    let total: usize = refs.iter().map(|r| r.tokens).sum();
    assert!(total > 512, "{total} tokens");
    for threads in [1, 2, 3] {
        let embedder = MiniLmEmbedder::load_engine(
            &files,
            &device,
            EngineKind::Native {
                threads,
                dense: DenseArithmetic::Fp32,
            },
        )
        .unwrap()
        .with_batch_size(64);
        let got = embedder.embed_detailed(&texts).unwrap();
        check(&refs, &got, &format!("native engine, {threads} threads"));
    }
}

/// candle's tensor engine (the CUDA path, and `--engine candle`) stays exact too.
#[test]
fn candle_tensor_engine_matches() {
    let files = model_files();
    let embedder = MiniLmEmbedder::load_engine(
        &files,
        &candle_core::Device::Cpu,
        EngineKind::CandleTensors {
            fused_kernels: true,
        },
    )
    .unwrap();
    let refs = references();
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    check(
        &refs,
        &embedder.embed_detailed(&texts).unwrap(),
        "candle tensor engine",
    );
}

/// The mid-layer vector the domain head reads has no outside reference, so the two engines, written apart,
/// check each other: unit length, the same on both, and not the last layer's.
#[test]
fn both_engines_agree_on_the_mid_layer_vector() {
    let files = model_files();
    let device = candle_core::Device::Cpu;
    let texts: Vec<String> = references().iter().map(|r| r.text.clone()).collect();
    let native = MiniLmEmbedder::load_engine(
        &files,
        &device,
        EngineKind::Native {
            threads: 2,
            dense: DenseArithmetic::Fp32,
        },
    )
    .unwrap()
    .embed_detailed(&texts)
    .unwrap();
    let candle = MiniLmEmbedder::load_engine(
        &files,
        &device,
        EngineKind::CandleTensors {
            fused_kernels: true,
        },
    )
    .unwrap()
    .embed_detailed(&texts)
    .unwrap();
    for ((n, c), text) in native.iter().zip(&candle).zip(&texts) {
        assert_eq!(
            n.mid_layer.len(),
            triage::embedding::EMBEDDING_DIM,
            "{text:?}"
        );
        let norm = n.mid_layer.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{text:?}: norm {norm}");
        assert!(
            common::cosine(&n.mid_layer, &c.mid_layer) > 0.99999,
            "{text:?}"
        );
        assert!(common::cosine(&n.mid_layer, &n.vector) < 0.95, "{text:?}");
    }
}

mod common;

#[test]
fn blank_prompts_embed_as_sentence_transformers_does() {
    // `[CLS][SEP]` only: written by sentence-transformers 6.2.0 for "", "   " and "\t\n".
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/blank-reference.json"
    ))
    .unwrap();
    let refs: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let refs: Vec<Reference> = refs.iter().map(reference).collect();
    let settings = common::settings();
    let embedder = triage::embedding::load(&settings.embedder).unwrap();
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    check(&refs, &embedder.embed_detailed(&texts).unwrap(), "blank");
}
