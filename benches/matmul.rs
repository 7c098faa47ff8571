//! The dense-layer product alone, one thread: `gemm` on the row-major `(k, n)` weight (what the engine used
//! before) against `packed::PackedMatrix` (what it uses now), for the model's four weight shapes — all six
//! layers' worth of distinct weights per iteration, 42 MB, so that they stream from memory as in inference —
//! at 8, 15, 60 and 512 token rows.
//!
//! `cargo bench --bench matmul` (about 2 minutes).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use triage::embedding::packed::{Epilogue, Operands, PackedMatrix};

/// (k, n) of the query-key-value, attention-output, intermediate and output weights.
const SHAPES: [(usize, usize); 4] = [(384, 1152), (384, 384), (384, 1536), (1536, 384)];
const LAYERS: usize = 6;

fn values(len: usize, salt: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i + salt) % 97) as f32 / 97.0 - 0.5)
        .collect()
}

fn bench(c: &mut Criterion) {
    let weights: Vec<(usize, usize, Vec<f32>)> = (0..LAYERS)
        .flat_map(|l| SHAPES.iter().map(move |&(k, n)| (k, n, values(k * n, l))))
        .collect();
    let packed: Vec<PackedMatrix> = weights
        .iter()
        .map(|(k, n, w)| PackedMatrix::pack(w, *k, *n).expect("shape"))
        .collect();
    let mut group = c.benchmark_group("dense layers, 6 x 4 weights, 1 thread");
    group.measurement_time(Duration::from_secs(8));
    for m in [8usize, 15, 60, 512] {
        let x = values(m * 1536, 7);
        let mut out = vec![0f32; m * 1536];
        let flops: usize = weights.iter().map(|(k, n, _)| 2 * m * k * n).sum();
        group.throughput(Throughput::Elements(flops as u64));
        group.bench_with_input(BenchmarkId::new("gemm row-major", m), &m, |b, &m| {
            b.iter(|| {
                for (k, n, w) in &weights {
                    // SAFETY: x holds m×k values, w k×n, out m×n (all ≤ m × 1536).
                    unsafe {
                        gemm::gemm(
                            m,
                            *n,
                            *k,
                            out.as_mut_ptr(),
                            1,
                            *n as isize,
                            false,
                            x.as_ptr(),
                            1,
                            *k as isize,
                            w.as_ptr(),
                            1,
                            *n as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        )
                    }
                }
                black_box(&out);
            })
        });
        group.bench_with_input(BenchmarkId::new("packed panels", m), &m, |b, &m| {
            b.iter(|| {
                for (p, (k, n, _)) in packed.iter().zip(&weights) {
                    let e = Epilogue {
                        accumulate: false,
                        bias: None,
                        gelu: false,
                    };
                    let ops = Operands {
                        out: out.as_mut_ptr(),
                        out_stride: *n,
                        x: x.as_ptr(),
                        x_stride: *k,
                        m,
                    };
                    // SAFETY: as above; one thread, all panels.
                    unsafe { p.matmul(ops, 0..p.panel_count(), e) }
                }
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
