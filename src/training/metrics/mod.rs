//! Evaluation metrics: routing quality (RouteLLM's APGR/CPT, cost saving at the best single provider's
//! quality, RouterBench-style AIQ, fraction of the oracle's gain) and plain classification/ranking figures
//! (Spearman, ROC AUC, accuracy, macro F1), and the bootstrap that puts a 95% interval on a figure.
//!
//! The routing metrics port the reference definitions in `shared/metrics/routing_metrics.py` operation for
//! operation (same sweep grids, same tie rules, same order of floating-point operations, sums added left to
//! right as Python < 3.12's `sum()` does), so both give the same figures on the same inputs;
//! `tests/fixtures/metrics/case.json`, written by `scripts/metrics-reference.py`, pins that. The one known
//! difference: [`pgr_curve`] breaks ties between equal scores with its own PRNG (splitmix64), not with
//! Python's `random.Random`, so on tied scores the two agree only in distribution.
//!
//! N-provider inputs are matrices indexed `[prompt][provider]`, providers in one fixed order:
//! `outcomes` (the real quality of each provider's answer), `costs` (its real $ cost), and the router's
//! estimates of both, `est_quality` and `est_cost`. The functions never panic: with ragged or mismatched
//! inputs they use the common part (the fewest prompts of the four matrices and the fewest providers of
//! any row); call [`check_shape`] first to reject such inputs instead. Figures that are undefined (no
//! prompts, no quality gap, an empty class) come out as NaN unless documented otherwise.

/// Python's two-argument `max(a, b)`: `b` only when it is strictly greater.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// Python's two-argument `min(a, b)`: `b` only when it is strictly smaller.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Python's `max(values)` over a non-empty sequence (first of equal maxima); NaN when empty.
fn py_max_all(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut it = values.into_iter();
    match it.next() {
        Some(first) => it.fold(first, py_max),
        None => f64::NAN,
    }
}

/// Python's `min(values)` over a non-empty sequence (first of equal minima); NaN when empty.
fn py_min_all(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut it = values.into_iter();
    match it.next() {
        Some(first) => it.fold(first, py_min),
        None => f64::NAN,
    }
}

/// Python's `sum(values)` (before 3.12): plain left-to-right addition from zero.
fn py_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().fold(0.0, |acc, v| acc + v)
}

/// Python's tuple `<` on two-element float tuples.
fn tuple_lt(a: (f64, f64), b: (f64, f64)) -> bool {
    if a.0 != b.0 {
        a.0 < b.0
    } else if a.1 != b.1 {
        a.1 < b.1
    } else {
        false
    }
}

/// splitmix64: a tiny, fast, deterministic PRNG step (Steele, Lea & Flood 2014).
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How many resamples the bootstraps ([`cpt50_advantage_resamples`], [`aiq_gain_resamples`]) draw for a
/// 95% percentile interval (the customary 1,000: each end then rests on about 25 resamples).
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// One bootstrap resample: fills `draw` with indices in `0..draw.len()` drawn with replacement from the
/// splitmix64 stream `state`. (The modulo bias is below `len / 2^64`.)
pub(crate) fn bootstrap_draw(state: &mut u64, draw: &mut [usize]) {
    let n = draw.len() as u64;
    for d in draw.iter_mut() {
        *d = (splitmix64(state) % n) as usize;
    }
}

/// The central `level` (e.g. 0.95) percentile interval of bootstrap `samples`, by nearest rank; NaN
/// samples are left out. `(NaN, NaN)` when none is left.
pub fn percentile_interval(samples: &[f64], level: f64) -> (f64, f64) {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    sorted.sort_by(f64::total_cmp);
    let last = (sorted.len() - 1) as f64;
    let tail = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    let at = |q: f64| sorted[((q * last).round() as usize).min(sorted.len() - 1)];
    (at(tail), at(1.0 - tail))
}

mod pair;
mod provider;
mod ranking;

pub use pair::*;
pub use provider::*;
pub use ranking::*;

#[cfg(test)]
mod tests;
