use super::*;
use crate::embedding::bert::BertEncoder;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// A small BERT with deterministic pseudo-random weights, saved as safetensors, and its config.
fn tiny_model(dir: &Path, hidden: usize, heads: usize) -> (std::path::PathBuf, Config) {
    let cfg = Config {
        vocab_size: 50,
        hidden_size: hidden,
        num_hidden_layers: 2,
        num_attention_heads: heads,
        intermediate_size: 2 * hidden,
        hidden_act: "gelu".into(),
        max_position_embeddings: 80,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
    };
    let mut seed = 0x9e37_79b9_u32;
    let mut tensor = |dims: &[usize], spread: f32, offset: f32| {
        let n: usize = dims.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                offset + spread * ((seed % 2001) as f32 / 1000.0 - 1.0)
            })
            .collect();
        Tensor::from_vec(values, dims, &Device::Cpu).unwrap()
    };
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    let mut t: HashMap<String, Tensor> = HashMap::new();
    t.insert(
        "embeddings.word_embeddings.weight".into(),
        tensor(&[50, h], 1.0, 0.0),
    );
    t.insert(
        "embeddings.position_embeddings.weight".into(),
        tensor(&[80, h], 0.5, 0.0),
    );
    t.insert(
        "embeddings.token_type_embeddings.weight".into(),
        tensor(&[2, h], 0.1, 0.0),
    );
    for p in
        ["embeddings.LayerNorm".to_string()]
            .into_iter()
            .chain((0..cfg.num_hidden_layers).flat_map(|l| {
                [
                    format!("encoder.layer.{l}.attention.output.LayerNorm"),
                    format!("encoder.layer.{l}.output.LayerNorm"),
                ]
            }))
    {
        t.insert(format!("{p}.weight"), tensor(&[h], 0.2, 1.0));
        t.insert(format!("{p}.bias"), tensor(&[h], 0.1, 0.0));
    }
    for l in 0..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{l}");
        for (name, out, inp) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", i, h),
            ("output.dense", h, i),
        ] {
            let spread = 1.0 / (inp as f32).sqrt();
            t.insert(
                format!("{p}.{name}.weight"),
                tensor(&[out, inp], spread, 0.0),
            );
            t.insert(format!("{p}.{name}.bias"), tensor(&[out], 0.1, 0.0));
        }
    }
    let path = dir.join(format!("tiny-{hidden}-{heads}.safetensors"));
    candle_core::safetensors::save(&t, &path).unwrap();
    (path, cfg)
}

/// Texts of 1 to 79 tokens (more than one 64-key panel in attention), over 512 tokens in all so the
/// feed-forward runs in several row blocks.
fn texts() -> Vec<Vec<u32>> {
    (0..30)
        .map(|i| {
            let len = 1 + (i * 11) % 79;
            (0..len).map(|j| ((i * 13 + j * 5) % 50) as u32).collect()
        })
        .collect()
}

#[test]
fn native_engine_equals_the_candle_engine_on_any_thread_count() {
    // Head size 12 takes the gemm attention, 32 the AVX-512 one (where the CPU has it).
    for (hidden, heads) in [(48, 4), (64, 2)] {
        native_engine_equals_the_candle_engine(hidden, heads);
    }
}

fn native_engine_equals_the_candle_engine(hidden: usize, heads: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (path, cfg) = tiny_model(dir.path(), hidden, heads);
    let reference = BertEncoder::load(&path, &cfg, &Device::Cpu).unwrap();
    let texts = texts();
    assert!(texts.iter().map(Vec::len).sum::<usize>() > FFN_BLOCK_ROWS);
    let refs: Vec<f32> = texts
        .iter()
        .flat_map(|ids| {
            let out = reference.forward(ids, &[ids.len()], ids.len()).unwrap();
            out.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        })
        .collect();
    let slices: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
    let close = |got: &[f32], what: &str| {
        let worst = got
            .iter()
            .zip(&refs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 2e-4,
            "{hidden}/{heads}, {what}: max abs diff {worst}"
        );
    };
    for threads in [1, 2, 3, 5] {
        let native = CpuBert::load(&path, &cfg, threads).unwrap();
        // Twice, so the second pass runs on the reused (dirty) workspace.
        for _ in 0..2 {
            let got = native.forward(&slices).unwrap();
            assert_eq!(got.len(), refs.len());
            close(&got, &format!("{threads} threads"));
        }
        // A smaller batch after a bigger one uses only the front of the buffers.
        let got = native.forward(&slices[..2]).unwrap();
        let rows = texts[0].len() + texts[1].len();
        assert_eq!(got.len(), rows * cfg.hidden_size);
        close(&got, &format!("{threads} threads, 2 texts"));
    }
    // Concurrent calls: one gets the team, the others run alone; all are right.
    let native = CpuBert::load(&path, &cfg, 2).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    close(&native.forward(&slices).unwrap(), "concurrent");
                }
            });
        }
    });
}

#[test]
fn the_tapped_layer_equals_the_candle_engines() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cfg) = tiny_model(dir.path(), 48, 4);
    let reference = BertEncoder::load(&path, &cfg, &Device::Cpu).unwrap();
    let texts = texts();
    let slices: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let worst = |a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    for threads in [1, 3] {
        let native = CpuBert::load(&path, &cfg, threads).unwrap();
        for tap_after in 1..=cfg.num_hidden_layers {
            let (mut want_last, mut want_tapped) = (Vec::new(), Vec::new());
            for ids in &texts {
                let (last, tapped) = reference
                    .forward_tapped(ids, &[ids.len()], ids.len(), tap_after)
                    .unwrap();
                want_last.extend(flat(&last));
                want_tapped.extend(flat(&tapped.unwrap()));
            }
            let got = native.forward_tapped(&slices, tap_after).unwrap();
            let what = format!("{threads} threads, tap after {tap_after}");
            assert!(worst(&got.last, &want_last) < 2e-4, "{what}: last");
            assert!(worst(&got.tapped, &want_tapped) < 2e-4, "{what}: tapped");
            // Tapping does not change the last layer, and an inner layer is not the last one.
            assert_eq!(got.last, native.forward(&slices).unwrap(), "{what}");
            let inner = tap_after < cfg.num_hidden_layers;
            assert_eq!(got.tapped != got.last, inner, "{what}");
        }
        assert!(native.forward_tapped(&slices, 0).unwrap().tapped.is_empty());
        assert!(native.forward_tapped(&slices, 3).is_err());
    }
    assert!(reference.forward_tapped(&[1, 2], &[2], 2, 3).is_err());
}

#[test]
fn bad_texts_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cfg) = tiny_model(dir.path(), 48, 4);
    let native = CpuBert::load(&path, &cfg, 2).unwrap();
    let empty: &[u32] = &[];
    let too_long = [1u32; 81];
    for (texts, needle) in [
        (vec![&[1u32, 2][..], empty], "0 tokens"),
        (vec![&too_long[..]], "81 tokens"),
        (vec![&[1u32, 50][..]], "token id 50"),
    ] {
        match native.forward(&texts) {
            Err(e @ Error::Inference { .. }) => assert!(e.to_string().contains(needle), "{e}"),
            other => panic!("expected an inference error, got {other:?}"),
        }
    }
    // The encoder still works afterwards.
    assert_eq!(native.forward(&[&[1, 2, 3]]).unwrap().len(), 3 * 48);
    assert!(native.forward(&[]).unwrap().is_empty());
}

#[test]
fn weights_that_disagree_with_the_config_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut cfg) = tiny_model(dir.path(), 48, 4);
    cfg.intermediate_size = 64;
    assert_ne!(cfg.intermediate_size, 2 * 48);
    match CpuBert::load(&path, &cfg, 2) {
        Err(Error::ModelUnavailable(m)) => assert!(m.contains("intermediate"), "{m}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("mismatched weights were accepted"),
    }
}

#[test]
fn shares_partition_the_range() {
    for total in [0, 1, 5, 48, 384, 1152, 1537] {
        for parts in 1..=7 {
            for align in [1, 16] {
                let shares: Vec<Range<usize>> =
                    (0..parts).map(|i| share(total, parts, i, align)).collect();
                assert_eq!(shares[0].start, 0);
                assert_eq!(shares[parts - 1].end, total);
                for w in shares.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                for s in &shares[..parts - 1] {
                    assert!(s.end % align == 0 || s.end == total, "{s:?}");
                }
            }
        }
    }
}

#[test]
fn a_poisoned_barrier_releases_the_waiters() {
    // Two of three threads wait; poisoning must release both. The waiters run detached and report over
    // a channel, so a regression fails this test after the timeout instead of hanging the suite.
    let barrier = Arc::new(SpinBarrier::new(3));
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..2 {
        let (barrier, tx) = (Arc::clone(&barrier), tx.clone());
        std::thread::spawn(move || {
            barrier.wait();
            let _ = tx.send(());
        });
    }
    // Not released before the poison: the third thread never arrives.
    let early = rx.recv_timeout(std::time::Duration::from_millis(50));
    assert!(early.is_err(), "a waiter left an unpoisoned barrier early");
    barrier.poison();
    for _ in 0..2 {
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("a waiter was not released by poison()");
    }
}

#[test]
fn spin_barrier_orders_every_step() {
    let threads = 4;
    let barrier = SpinBarrier::new(threads);
    let counter = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for step in 0..200 {
                    counter.fetch_add(1, Ordering::Relaxed);
                    barrier.wait();
                    // Everyone has counted this step and nobody the next one yet.
                    assert_eq!(counter.load(Ordering::Relaxed), (step + 1) * threads);
                    barrier.wait();
                }
            });
        }
    });
}

#[test]
fn putting_lossy_units_first_keeps_the_function_and_orders_the_units_by_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cfg) = tiny_model(dir.path(), 64, 2);
    let texts = texts();
    let slices: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
    let mut native = CpuBert::load(&path, &cfg, 2).unwrap();
    let before = native.forward(&slices).unwrap();
    let stats = Mutex::new(vec![InputStats::default(); native.layers.len() * PRODUCTS]);
    native.run_checked(&slices, 0, Some(&stats)).unwrap();
    let mut stats = stats.into_inner().unwrap();
    let bias_before = native.layers[0].intermediate.bias.clone();
    for (l, layer) in native.layers.iter_mut().enumerate() {
        let (ahead, behind) = stats.split_at_mut(l * PRODUCTS + 3);
        layer
            .put_lossy_units_first(&ahead[l * PRODUCTS + 2], &mut behind[0])
            .unwrap();
    }
    // The units moved (a test of nothing otherwise), as a permutation.
    let bias_after = &native.layers[0].intermediate.bias;
    assert_ne!(&bias_before, bias_after);
    let sorted = |v: &[f32]| {
        let mut v = v.to_vec();
        v.sort_by(f32::total_cmp);
        v
    };
    assert_eq!(sorted(&bias_before), sorted(bias_after));
    // The same function, up to the output product's summation order.
    let after = native.forward(&slices).unwrap();
    let worst = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "max abs diff {worst}");
    // In the new order, each unit's loss times its reach never rises.
    for (l, layer) in native.layers.iter().enumerate() {
        let seen = &stats[l * PRODUCTS + 2];
        let (k, n) = (
            layer.intermediate.weight.rows(),
            layer.intermediate.weight.columns(),
        );
        let inner = layer.intermediate.weight.unpack();
        let smooth = quantized::smoothing(&seen.peaks, &inner, n);
        let loss = quantized::rounding_loss(&inner, k, n, &smooth, &seen.squares);
        let h = layer.output.weight.columns();
        let out = layer.output.weight.unpack();
        let score: Vec<f64> = (0..n)
            .map(|c| {
                loss[c]
                    * out[c * h..][..h]
                        .iter()
                        .map(|v| f64::from(v * v))
                        .sum::<f64>()
            })
            .collect();
        assert!(
            score.windows(2).all(|w| w[0] >= w[1]),
            "layer {l}: {score:?}"
        );
    }
}
