//! Strong/weak pair figures: RouteLLM's PGR curve, APGR and CPT.

use super::{bootstrap_draw, py_sum, splitmix64};
use serde::Serialize;
use std::cmp::Ordering;

/// RouteLLM's APGR and CPT figures for a strong/weak pair (see [`pair_metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairMetrics {
    /// Average performance gap recovered: the area under the PGR curve ([`apgr`]). Random routing ≈ 0.5.
    pub apgr: f64,
    /// Call-performance threshold at 50%: the fraction of prompts sent to the strong model before half
    /// of the strong/weak quality gap is recovered ([`cpt`]). Random routing ≈ 0.5.
    pub cpt50: f64,
    /// The same at 80%. Random routing ≈ 0.8.
    pub cpt80: f64,
}

/// PGR (performance gap recovered) after routing the `k` top-scored prompts to the strong model, for
/// `k = 0..=n`; higher score = send to the strong model.
///
/// Element `k` is `(mean quality with the top k strong, the rest weak − mean weak) / (mean strong − mean
/// weak)`, so it runs from 0 at `k = 0` to 1 at `k = n`. Equal scores are ordered at random by a
/// splitmix64 stream seeded with `seed` (deterministic for a given seed; Python's reference uses
/// `random.Random(seed)`, so the order among ties differs from it). NaN scores rank last. Uses the first
/// `n = min(len)` entries of the three slices. When the strong and weak means are equal the curve is
/// ±∞/NaN after its first element, as the reference's division by zero is.
pub fn pgr_curve(scores: &[f64], strong: &[f64], weak: &[f64], seed: u64) -> Vec<f64> {
    let n = scores.len().min(strong.len()).min(weak.len());
    let (strong, weak) = (&strong[..n], &weak[..n]);
    let mut state = seed;
    // (NaN?, score, random tie-break): a total order, so sorting cannot misbehave.
    let mut keyed: Vec<(bool, f64, u64, usize)> = scores[..n]
        .iter()
        .enumerate()
        .map(|(i, &s)| (s.is_nan(), s, splitmix64(&mut state), i))
        .collect();
    keyed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal))
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| a.3.cmp(&b.3))
    });
    let nf = n as f64;
    let perf_weak = py_sum(weak.iter().copied()) / nf;
    let perf_strong = py_sum(strong.iter().copied()) / nf;
    let gap = perf_strong - perf_weak;
    let mut total = py_sum(weak.iter().copied());
    let mut curve = Vec::with_capacity(n + 1);
    curve.push(0.0);
    for &(_, _, _, i) in &keyed {
        total += strong[i] - weak[i];
        curve.push((total / nf - perf_weak) / gap);
    }
    curve
}

/// APGR: the area under a PGR curve from [`pgr_curve`] (trapezoid rule over `k/n`). NaN for a curve of
/// fewer than two points.
pub fn apgr(curve: &[f64]) -> f64 {
    if curve.len() < 2 {
        return f64::NAN;
    }
    let n = curve.len() - 1;
    py_sum(curve.windows(2).map(|w| (w[0] + w[1]) / 2.0)) / n as f64
}

/// CPT(`target`): the fraction `k/n` of prompts sent to the strong model at the first point of a PGR curve
/// where PGR ≥ `target`; 1.0 when no point reaches it. NaN for a curve of fewer than two points.
pub fn cpt(curve: &[f64], target: f64) -> f64 {
    if curve.len() < 2 {
        return f64::NAN;
    }
    let n = (curve.len() - 1) as f64;
    curve
        .iter()
        .position(|&p| p >= target)
        .map_or(1.0, |k| k as f64 / n)
}

/// APGR, CPT(50%) and CPT(80%) of routing by `scores` between a strong and a weak model, with their
/// per-prompt real outcomes; ties broken as [`pgr_curve`] does with seed 0 (the reference's default).
pub fn pair_metrics(scores: &[f64], strong: &[f64], weak: &[f64]) -> PairMetrics {
    let curve = pgr_curve(scores, strong, weak, 0);
    PairMetrics {
        apgr: apgr(&curve),
        cpt50: cpt(&curve, 0.5),
        cpt80: cpt(&curve, 0.8),
    }
}

/// Paired bootstrap of the CPT(50%) advantage of routing by `scores` over routing by `baseline`: in each
/// of `resamples` resamples (prompts drawn with replacement, the same draw for both scores, by a
/// splitmix64 stream seeded with `seed`), `cpt50(baseline) − cpt50(scores)`, so a positive value means
/// `scores` reaches half of the strong/weak gap with fewer strong calls. Uses the first
/// `n = min(len)` entries of the four slices; empty when `n = 0` or `resamples = 0`. A resample where the
/// strong model's mean is not above the weak one's has no gap to recover: its advantage is NaN (which
/// [`percentile_interval`] leaves out).
pub fn cpt50_advantage_resamples(
    scores: &[f64],
    baseline: &[f64],
    strong: &[f64],
    weak: &[f64],
    resamples: usize,
    seed: u64,
) -> Vec<f64> {
    let n = scores
        .len()
        .min(baseline.len())
        .min(strong.len())
        .min(weak.len());
    if n == 0 {
        return Vec::new();
    }
    let mut state = seed;
    let mut draw = vec![0usize; n];
    let pick = |idx: &[usize], v: &[f64]| -> Vec<f64> { idx.iter().map(|&i| v[i]).collect() };
    (0..resamples)
        .map(|r| {
            bootstrap_draw(&mut state, &mut draw);
            let (s, w) = (pick(&draw, strong), pick(&draw, weak));
            if py_sum(s.iter().copied()) <= py_sum(w.iter().copied()) {
                return f64::NAN;
            }
            let tie_seed = r as u64;
            let ours = cpt(&pgr_curve(&pick(&draw, scores), &s, &w, tie_seed), 0.5);
            let theirs = cpt(&pgr_curve(&pick(&draw, baseline), &s, &w, tie_seed), 0.5);
            theirs - ours
        })
        .collect()
}
