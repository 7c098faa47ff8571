//! Evaluation metrics: routing quality (RouteLLM's APGR/CPT, cost saving at the best single provider's
//! quality, RouterBench-style AIQ, fraction of the oracle's gain) and plain classification/ranking figures
//! (Spearman, ROC AUC, accuracy, macro F1).
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

use crate::error::{Error, Result};
use crate::routing::rule;
use serde::Serialize;
use std::cmp::Ordering;

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
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------------------
// Strong/weak pair: RouteLLM's PGR curve, APGR and CPT.
// ---------------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------
// N providers: operating points, saving at the best single provider's quality, AIQ, oracle gain.
// ---------------------------------------------------------------------------------------------------------

/// Checks that the four `[prompt][provider]` matrices have the same number of prompts and that every row
/// has the same number of providers; returns `(prompts, providers)`.
pub fn check_shape(
    outcomes: &[Vec<f64>],
    costs: &[Vec<f64>],
    est_quality: &[Vec<f64>],
    est_cost: &[Vec<f64>],
) -> Result<(usize, usize)> {
    let n = outcomes.len();
    let named = [
        ("costs", costs),
        ("est_quality", est_quality),
        ("est_cost", est_cost),
    ];
    if let Some((name, m)) = named.iter().find(|(_, m)| m.len() != n) {
        return Err(Error::InvalidInput(format!(
            "metrics: {name} has {} prompts, outcomes has {n}",
            m.len()
        )));
    }
    let p = outcomes.first().map_or(0, Vec::len);
    for (name, m) in std::iter::once(("outcomes", outcomes)).chain(named) {
        if let Some((i, row)) = m.iter().enumerate().find(|(_, row)| row.len() != p) {
            return Err(Error::InvalidInput(format!(
                "metrics: {name} row {i} has {} providers, expected {p}",
                row.len()
            )));
        }
    }
    Ok((n, p))
}

/// The common shape of the four matrices: fewest prompts, fewest providers of any used row.
fn common_shape(mats: &[&[Vec<f64>]]) -> (usize, usize) {
    let n = mats.iter().map(|m| m.len()).min().unwrap_or(0);
    let p = mats
        .iter()
        .flat_map(|m| m[..n].iter().map(Vec::len))
        .min()
        .unwrap_or(0);
    (n, p)
}

/// The provider the router picks at quality drop `drop`: the decision rule the sidecar applies
/// ([`rule::apply`] with only a quality drop), on one prompt's estimates in provider order (the index
/// is the tie key, so list providers by name to match the policy's ties). The reference's
/// `min(ok, key=lambda p: (c[p], -q[p]))` with its 1e-12 slack replaced by the rule's
/// [`rule::QUALITY_EPS`]; a NaN estimate or a non-finite cost makes a provider unusable, as it does when
/// serving.
///
/// Uses the first `min(len)` providers of the two rows. Returns 0 when no provider is usable.
pub fn choose_within_drop(est_q_row: &[f64], est_c_row: &[f64], drop: f64) -> usize {
    let offers: Vec<rule::Offer> = est_q_row
        .iter()
        .zip(est_c_row)
        .enumerate()
        .map(|(i, (&quality, &cost))| rule::Offer {
            quality,
            cost,
            admitted: true,
            tie_key: i,
        })
        .collect();
    rule::apply(&offers, &rule::Target::within_drop(drop))
        .choice
        .index()
        .unwrap_or(0)
}

/// Real mean quality and real total cost of a per-prompt choice of provider: `(Σ outcome / n, Σ cost)`.
///
/// Uses the first `min(len)` prompts of the three inputs; a choice outside a row counts as quality 0 and
/// cost 0 (it cannot happen with choices made by this module).
pub fn realize(outcomes: &[Vec<f64>], costs: &[Vec<f64>], choice: &[usize]) -> (f64, f64) {
    let n = outcomes.len().min(costs.len()).min(choice.len());
    let q = py_sum((0..n).map(|i| outcomes[i].get(choice[i]).copied().unwrap_or(0.0)));
    let c = py_sum((0..n).map(|i| costs[i].get(choice[i]).copied().unwrap_or(0.0)));
    (q / n as f64, c)
}

/// Per provider: (mean real quality, total real cost) over the first `n` prompts and `p` providers.
fn single_truth(outcomes: &[Vec<f64>], costs: &[Vec<f64>], n: usize, p: usize) -> Vec<(f64, f64)> {
    (0..p)
        .map(|j| {
            let q = py_sum(outcomes[..n].iter().map(|r| r[j])) / n as f64;
            let c = py_sum(costs[..n].iter().map(|r| r[j]));
            (q, c)
        })
        .collect()
}

/// The best single provider: highest mean real quality, then lowest total cost, then first.
fn best_single(truth: &[(f64, f64)]) -> usize {
    let mut best = 0;
    for (j, &(q, c)) in truth.iter().enumerate().skip(1) {
        let (bq, bc) = truth[best];
        // Python's max(key=(q, -c)): replace only when strictly greater.
        if tuple_lt((bq, -bc), (q, -c)) {
            best = j;
        }
    }
    best
}

/// The oracle's choice per prompt: a provider with the best real outcome, the cheapest of those (first
/// on equal cost); 0 when none qualifies (NaN outcomes).
fn oracle_choice(outcomes: &[Vec<f64>], costs: &[Vec<f64>], n: usize, p: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let (o, c) = (&outcomes[i][..p], &costs[i][..p]);
            let top = py_max_all(o.iter().copied());
            let mut chosen: Option<usize> = None;
            for j in 0..p {
                if o[j] >= top && chosen.is_none_or(|k| c[j] < c[k]) {
                    chosen = Some(j);
                }
            }
            chosen.unwrap_or(0)
        })
        .collect()
}

/// The router's figures against the best single provider (see [`saving_at_best`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SavingAtBest {
    /// Index of the best single provider: highest mean real quality, then lowest total cost, then first.
    pub best_single: usize,
    /// Its mean real quality.
    pub best_quality: f64,
    /// Its total real cost ($) over the prompts.
    pub best_cost: f64,
    /// Largest cost saving `1 − cost / best_cost` over the operating points whose mean real quality is at
    /// least `best_quality − 1e-9`; 0 when none is.
    pub saving: f64,
    /// The operating point that gave `saving`: `(drop, mean real quality, total real cost)`; `None` when
    /// no operating point matched the best single provider's quality.
    pub point: Option<(f64, f64, f64)>,
    /// The oracle's saving: per prompt, the cheapest provider with the best real outcome.
    pub oracle_saving: f64,
    /// The oracle's mean real quality (the best any policy can reach).
    pub oracle_quality: f64,
}

/// Best cost saving versus always using the best single provider, at no less than its real mean quality.
///
/// Sweeps the router's quality-drop knob over `drop = x/200` for `x = 0..=60` (0 to 0.3): at each, every
/// prompt goes to [`choose_within_drop`] of its estimates, and the operating point is evaluated on the real
/// outcomes and costs ([`realize`]). Among the points with mean quality ≥ `best_quality − 1e-9` the one with
/// the largest saving wins (the first on equal savings). Also reports the oracle's figures. Same as the
/// reference's `saving_at_best` (less its default-decision figures: get those with [`realize`]).
pub fn saving_at_best(
    outcomes: &[Vec<f64>],
    costs: &[Vec<f64>],
    est_quality: &[Vec<f64>],
    est_cost: &[Vec<f64>],
) -> SavingAtBest {
    let (n, p) = common_shape(&[outcomes, costs, est_quality, est_cost]);
    let truth = single_truth(outcomes, costs, n, p);
    let best = best_single(&truth);
    let (q_best, c_best) = truth.get(best).copied().unwrap_or((f64::NAN, f64::NAN));
    let (est_quality, est_cost) = (&est_quality[..n], &est_cost[..n]);

    let mut found: Option<(f64, (f64, f64, f64))> = None;
    for x in 0..=60u32 {
        let drop = f64::from(x) / 200.0;
        let choice: Vec<usize> = est_quality
            .iter()
            .zip(est_cost)
            .map(|(q, c)| choose_within_drop(&q[..p], &c[..p], drop))
            .collect();
        let (q, c) = realize(outcomes, costs, &choice);
        if q >= q_best - 1e-9 {
            let s = 1.0 - c / c_best;
            if found.is_none_or(|(best_s, _)| s > best_s) {
                found = Some((s, (drop, q, c)));
            }
        }
    }
    let (oq, oc) = realize(outcomes, costs, &oracle_choice(outcomes, costs, n, p));
    SavingAtBest {
        best_single: best,
        best_quality: q_best,
        best_cost: c_best,
        saving: found.map_or(0.0, |(s, _)| s),
        point: found.map(|(_, point)| point),
        oracle_saving: 1.0 - oc / c_best,
        oracle_quality: oq,
    }
}

/// Each single provider as a `(total real cost, mean real quality)` point, in provider order.
pub fn single_points(outcomes: &[Vec<f64>], costs: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let (n, p) = common_shape(&[outcomes, costs]);
    single_truth(outcomes, costs, n, p)
        .into_iter()
        .map(|(q, c)| (c, q))
        .collect()
}

/// The router's `(total real cost, mean real quality)` operating points as AIQ uses them: always the
/// cheapest single provider (lowest total cost, then lowest quality), then the quality-drop sweep
/// `drop = x/100` for `x = 0..=100`, evaluated on the real outcomes and costs. Empty without providers.
pub fn router_points(
    outcomes: &[Vec<f64>],
    costs: &[Vec<f64>],
    est_quality: &[Vec<f64>],
    est_cost: &[Vec<f64>],
) -> Vec<(f64, f64)> {
    let (n, p) = common_shape(&[outcomes, costs, est_quality, est_cost]);
    let single: Vec<(f64, f64)> = single_truth(outcomes, costs, n, p)
        .into_iter()
        .map(|(q, c)| (c, q))
        .collect();
    let mut points = Vec::with_capacity(102);
    if let Some(&first) = single.first() {
        points.push(
            single
                .iter()
                .copied()
                .fold(first, |m, s| if tuple_lt(s, m) { s } else { m }),
        );
    }
    if p == 0 {
        return points;
    }
    for x in 0..=100u32 {
        let drop = f64::from(x) / 100.0;
        let (mut qsum, mut csum) = (0.0, 0.0);
        for i in 0..n {
            let c = choose_within_drop(&est_quality[i][..p], &est_cost[i][..p], drop);
            qsum += outcomes[i][c];
            csum += costs[i][c];
        }
        points.push((csum, qsum / n as f64));
    }
    points
}

/// RouterBench-style AIQ of the router and of the "zero router" (see [`aiq`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aiq {
    /// Mean best quality on the router's envelope over cost budgets from the cheapest to the dearest
    /// single provider.
    pub aiq: f64,
    /// The same for the zero router: the envelope of the single providers alone.
    pub zero_aiq: f64,
}

/// AIQ: the mean, over 401 cost budgets evenly spaced from the cheapest to the dearest single provider's
/// total cost, of the best quality reachable at each budget on the upper envelope ([`Envelope`]) of the
/// router's operating points ([`router_points`]); and the same for the zero router, whose points are the
/// single providers ([`single_points`]). Same as the reference's `aiq`; NaN without prompts or providers.
pub fn aiq(
    outcomes: &[Vec<f64>],
    costs: &[Vec<f64>],
    est_quality: &[Vec<f64>],
    est_cost: &[Vec<f64>],
) -> Aiq {
    let (n, p) = common_shape(&[outcomes, costs, est_quality, est_cost]);
    if n == 0 || p == 0 {
        return Aiq {
            aiq: f64::NAN,
            zero_aiq: f64::NAN,
        };
    }
    let single = single_points(&outcomes[..n], &costs[..n]);
    let lo = py_min_all(single.iter().map(|s| s.0));
    let hi = py_max_all(single.iter().map(|s| s.0));
    let points = router_points(outcomes, costs, est_quality, est_cost);
    Aiq {
        aiq: envelope_mean(&points, lo, hi, 400),
        zero_aiq: envelope_mean(&single, lo, hi, 400),
    }
}

/// How much of the oracle's quality gain over the zero router the router reaches, at the best single
/// provider's cost (see [`oracle_gain_fraction`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OracleGain {
    /// The cost budget: the best single provider's total real cost ([`SavingAtBest::best_cost`]).
    pub budget: f64,
    /// Best quality on the router's envelope ([`router_points`]) at that budget.
    pub router_quality: f64,
    /// Best quality on the zero router's envelope ([`single_points`]) at that budget (at least the best
    /// single provider's quality).
    pub zero_quality: f64,
    /// The oracle's mean real quality ([`SavingAtBest::oracle_quality`]).
    pub oracle_quality: f64,
    /// `(router_quality − zero_quality) / (oracle_quality − zero_quality)`: 1 = the router reaches the
    /// oracle's quality on the best single provider's budget, 0 = no better than mixing single providers,
    /// negative = worse. `None` when the oracle gains nothing (`oracle_quality − zero_quality ≤ 1e-12`) or a
    /// figure is NaN.
    pub fraction: Option<f64>,
}

/// Fraction of the oracle's gain the router reaches, at the best single provider's cost budget.
///
/// Definition (ours; the reference has none): with `B` the best single provider's total real cost,
/// `R(B)` and `Z(B)` the best quality at budget `B` on the router's and the zero router's envelopes
/// ([`envelope_at`] of [`router_points`] and [`single_points`], as in [`aiq`]), and `O` the oracle's mean
/// real quality, the fraction is `(R(B) − Z(B)) / (O − Z(B))`. The oracle ignores cost, so `O` bounds any
/// policy's quality and the fraction is at most 1.
pub fn oracle_gain_fraction(
    outcomes: &[Vec<f64>],
    costs: &[Vec<f64>],
    est_quality: &[Vec<f64>],
    est_cost: &[Vec<f64>],
) -> OracleGain {
    let (n, p) = common_shape(&[outcomes, costs, est_quality, est_cost]);
    let truth = single_truth(outcomes, costs, n, p);
    let budget = truth.get(best_single(&truth)).map_or(f64::NAN, |t| t.1);
    let (oracle_quality, _) = realize(outcomes, costs, &oracle_choice(outcomes, costs, n, p));
    let router_quality = envelope_at(
        &router_points(outcomes, costs, est_quality, est_cost),
        budget,
    );
    let zero_quality = envelope_at(&single_points(&outcomes[..n], &costs[..n]), budget);
    let gain = oracle_quality - zero_quality;
    let fraction = (gain > 1e-12)
        .then(|| (router_quality - zero_quality) / gain)
        .filter(|f| !f.is_nan());
    OracleGain {
        budget,
        router_quality,
        zero_quality,
        oracle_quality,
        fraction,
    }
}

/// The best quality reachable at each cost budget from a set of `(cost, quality)` operating points, by
/// mixing two neighbouring points at random: their upper concave hull, read as a non-decreasing function
/// of the budget. A port of the reference's `_envelope`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    hull: Vec<(f64, f64)>,
}

impl Envelope {
    /// Builds the upper hull (monotone chain) of `points` after removing duplicates and sorting by
    /// `(cost, quality)`; a point on the line between its neighbours is dropped. Points with a NaN
    /// coordinate are ignored.
    pub fn new(points: &[(f64, f64)]) -> Self {
        let mut pts: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|(x, y)| !x.is_nan() && !y.is_nan())
            .collect();
        pts.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal))
        });
        pts.dedup();
        let mut hull: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
        for p in pts {
            while hull.len() >= 2 {
                let (x1, y1) = hull[hull.len() - 2];
                let (x2, y2) = hull[hull.len() - 1];
                if (x2 - x1) * (p.1 - y1) - (y2 - y1) * (p.0 - x1) >= 0.0 {
                    hull.pop();
                } else {
                    break;
                }
            }
            hull.push(p);
        }
        Self { hull }
    }

    /// The hull's vertices, by increasing cost.
    pub fn hull(&self) -> &[(f64, f64)] {
        &self.hull
    }

    /// Best quality at cost budget `c`: the highest of every hull vertex with cost ≤ `c` and the linear
    /// interpolation on the hull segment that spans `c`; 0 below the cheapest point.
    pub fn at(&self, c: f64) -> f64 {
        let mut best = 0.0;
        for w in self.hull.windows(2) {
            let ((x1, y1), (x2, y2)) = (w[0], w[1]);
            if x1 <= c {
                best = py_max(best, if c < x2 { y1 } else { y2 });
                if c < x2 {
                    best = py_max(best, y1 + (y2 - y1) * (c - x1) / (x2 - x1));
                }
            }
        }
        if let Some(&(last_x, _)) = self.hull.last() {
            if last_x <= c {
                let reachable = self.hull.iter().filter(|(x, _)| *x <= c).map(|(_, y)| *y);
                best = py_max(best, py_max_all(reachable));
            }
        }
        best
    }

    /// Mean of [`Envelope::at`] over the `steps + 1` budgets `lo + (hi − lo)·i/steps`, `i = 0..=steps`;
    /// with `steps = 0`, the value at `lo`.
    pub fn mean(&self, lo: f64, hi: f64, steps: usize) -> f64 {
        if steps == 0 {
            return self.at(lo);
        }
        let s = steps as f64;
        py_sum((0..=steps).map(|i| self.at(lo + (hi - lo) * i as f64 / s))) / (s + 1.0)
    }
}

/// Mean best quality over `steps + 1` evenly spaced cost budgets from `lo` to `hi` on the envelope of
/// `points` ([`Envelope::mean`]); the reference's `_envelope(points, lo, hi, steps)`.
pub fn envelope_mean(points: &[(f64, f64)], lo: f64, hi: f64, steps: usize) -> f64 {
    Envelope::new(points).mean(lo, hi, steps)
}

/// Best quality at cost budget `c` on the envelope of `points` ([`Envelope::at`]).
pub fn envelope_at(points: &[(f64, f64)], c: f64) -> f64 {
    Envelope::new(points).at(c)
}

// ---------------------------------------------------------------------------------------------------------
// Classification and ranking.
// ---------------------------------------------------------------------------------------------------------

/// 1-based ranks, equal values sharing the average of their ranks. Values must not be NaN.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        // == (not total_cmp) so that 0.0 and -0.0 tie; they are adjacent in the sorted order.
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's rank correlation of `a` and `b`: Pearson's correlation of their average ranks (ties share
/// the mean rank). Uses the first `min(len)` pairs; NaN with fewer than two pairs, a NaN value, or a
/// constant input.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    if n < 2 || a.iter().chain(b).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let (ra, rb) = (average_ranks(a), average_ranks(b));
    let mean = (n as f64 + 1.0) / 2.0; // mean of any average-rank vector
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        let (dx, dy) = (x - mean, y - mean);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    if va == 0.0 || vb == 0.0 {
        return f64::NAN;
    }
    cov / (va * vb).sqrt()
}

/// Area under the ROC curve of `scores` for the positives in `labels` (higher score = more likely
/// positive): the Mann–Whitney probability that a random positive outscores a random negative, a tie
/// counting one half. Uses the first `min(len)` pairs; NaN without a positive or a negative, or with a
/// NaN score.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let n = scores.len().min(labels.len());
    let (scores, labels) = (&scores[..n], &labels[..n]);
    if scores.iter().any(|s| s.is_nan()) {
        return f64::NAN;
    }
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = n as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let ranks = average_ranks(scores);
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Fraction of positions where `pred` equals `truth`, over the first `min(len)` positions; NaN when
/// there are none.
pub fn accuracy<T: PartialEq>(pred: &[T], truth: &[T]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return f64::NAN;
    }
    pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / n as f64
}

/// Macro-averaged F1 over classes `0..n_classes`: the mean, over the classes that occur in `truth` or in
/// `pred`, of `F1 = 2·TP / (2·TP + FP + FN)`, which is 0 for a class without true positives.
///
/// Uses the first `min(len)` positions. A label `≥ n_classes` is not scored as a class of its own but
/// still counts as an error against the in-range class it is paired with. NaN when no in-range class
/// occurs.
pub fn macro_f1(pred: &[usize], truth: &[usize], n_classes: usize) -> f64 {
    let mut tp = vec![0usize; n_classes];
    let mut fp = vec![0usize; n_classes];
    let mut fn_ = vec![0usize; n_classes];
    let mut present = vec![false; n_classes];
    for (&p, &t) in pred.iter().zip(truth) {
        if let Some(seen) = present.get_mut(p) {
            *seen = true;
        }
        if let Some(seen) = present.get_mut(t) {
            *seen = true;
        }
        if p == t {
            if let Some(x) = tp.get_mut(t) {
                *x += 1;
            }
        } else {
            if let Some(x) = fp.get_mut(p) {
                *x += 1;
            }
            if let Some(x) = fn_.get_mut(t) {
                *x += 1;
            }
        }
    }
    let scored: Vec<f64> = (0..n_classes)
        .filter(|&c| present[c])
        .map(|c| {
            if tp[c] == 0 {
                0.0
            } else {
                2.0 * tp[c] as f64 / (2 * tp[c] + fp[c] + fn_[c]) as f64
            }
        })
        .collect();
    if scored.is_empty() {
        return f64::NAN;
    }
    scored.iter().sum::<f64>() / scored.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Inputs and reference outputs written by `scripts/metrics-reference.py` from
    /// `shared/metrics/routing_metrics.py`.
    const FIXTURE: &str = include_str!("../../tests/fixtures/metrics/case.json");

    fn vec_f64(v: &Value) -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    }

    fn mat_f64(v: &Value) -> Vec<Vec<f64>> {
        v.as_array().expect("array").iter().map(vec_f64).collect()
    }

    fn num(v: &Value) -> f64 {
        v.as_f64().expect("number")
    }

    /// Tracks the largest differences seen and fails on a relative difference above 1e-9.
    #[derive(Default)]
    struct Compare {
        checked: usize,
        max_abs: f64,
        max_rel: f64,
    }

    impl Compare {
        fn check(&mut self, what: &str, got: f64, want: f64) {
            let abs = (got - want).abs();
            let rel = if got == want {
                0.0
            } else {
                abs / got.abs().max(want.abs())
            };
            assert!(
                rel <= 1e-9,
                "{what}: rust {got:e} vs python {want:e} (abs {abs:e}, rel {rel:e})"
            );
            self.checked += 1;
            self.max_abs = self.max_abs.max(abs);
            self.max_rel = self.max_rel.max(rel);
        }
    }

    #[test]
    fn matches_python_reference() {
        let doc: Value = serde_json::from_str(FIXTURE).expect("fixture parses");
        let mut cmp = Compare::default();

        let pairs = doc["pairs"].as_array().expect("pairs");
        assert!(pairs.len() >= 3);
        for case in pairs {
            let name = case["name"].as_str().expect("name");
            let (scores, strong, weak) = (
                vec_f64(&case["scores"]),
                vec_f64(&case["strong"]),
                vec_f64(&case["weak"]),
            );
            let want_curve = vec_f64(&case["curve"]);
            let curve = pgr_curve(&scores, &strong, &weak, 0);
            assert_eq!(curve.len(), want_curve.len(), "{name}: curve length");
            for (k, (g, w)) in curve.iter().zip(&want_curve).enumerate() {
                cmp.check(&format!("{name} curve[{k}]"), *g, *w);
            }
            let m = pair_metrics(&scores, &strong, &weak);
            let want = &case["pair_metrics"];
            cmp.check(&format!("{name} apgr"), m.apgr, num(&want["apgr"]));
            cmp.check(&format!("{name} cpt50"), m.cpt50, num(&want["cpt50"]));
            cmp.check(&format!("{name} cpt80"), m.cpt80, num(&want["cpt80"]));
        }

        let routing = doc["routing"].as_array().expect("routing");
        assert!(routing.len() >= 3);
        let mut saw_point = (false, false);
        for case in routing {
            let name = case["name"].as_str().expect("name");
            let o = mat_f64(&case["outcomes"]);
            let c = mat_f64(&case["costs"]);
            let eq = mat_f64(&case["est_quality"]);
            let ec = mat_f64(&case["est_cost"]);
            let (n, p) = check_shape(&o, &c, &eq, &ec).expect("rectangular");
            assert!(n >= 100 && p >= 3, "{name}: {n}x{p}");

            let s = saving_at_best(&o, &c, &eq, &ec);
            let want = &case["saving_at_best"];
            assert_eq!(
                s.best_single as u64,
                want["best_single"].as_u64().expect("index"),
                "{name}: best_single"
            );
            cmp.check(
                &format!("{name} best_quality"),
                s.best_quality,
                num(&want["best_quality"]),
            );
            cmp.check(
                &format!("{name} best_cost"),
                s.best_cost,
                num(&want["best_cost"]),
            );
            cmp.check(&format!("{name} saving"), s.saving, num(&want["saving"]));
            cmp.check(
                &format!("{name} oracle_saving"),
                s.oracle_saving,
                num(&want["oracle_saving"]),
            );
            cmp.check(
                &format!("{name} oracle_quality"),
                s.oracle_quality,
                num(&want["oracle_quality"]),
            );
            match (&s.point, &want["point"]) {
                (None, Value::Null) => saw_point.1 = true,
                (Some((drop, q, cost)), w) if !w.is_null() => {
                    saw_point.0 = true;
                    cmp.check(&format!("{name} point.drop"), *drop, num(&w["drop"]));
                    cmp.check(&format!("{name} point.quality"), *q, num(&w["quality"]));
                    cmp.check(&format!("{name} point.cost"), *cost, num(&w["cost"]));
                }
                (got, w) => panic!("{name}: point {got:?} vs python {w}"),
            }

            // The default decisions, through `realize`.
            let chosen: Vec<usize> = case["default_choice"]
                .as_array()
                .expect("default_choice")
                .iter()
                .map(|x| x.as_u64().expect("index") as usize)
                .collect();
            let (dq, dc) = realize(&o, &c, &chosen);
            cmp.check(
                &format!("{name} default_quality"),
                dq,
                num(&want["default_quality"]),
            );
            cmp.check(
                &format!("{name} default_saving"),
                1.0 - dc / s.best_cost,
                num(&want["default_saving"]),
            );

            let a = aiq(&o, &c, &eq, &ec);
            cmp.check(&format!("{name} aiq"), a.aiq, num(&case["aiq"]["aiq"]));
            cmp.check(
                &format!("{name} zero_aiq"),
                a.zero_aiq,
                num(&case["aiq"]["zero_aiq"]),
            );
        }
        assert!(
            saw_point.0 && saw_point.1,
            "fixture covers both point and no point"
        );

        let envelopes = doc["envelopes"].as_array().expect("envelopes");
        assert!(envelopes.len() >= 4);
        for (e, case) in envelopes.iter().enumerate() {
            let points: Vec<(f64, f64)> = mat_f64(&case["points"])
                .into_iter()
                .map(|p| (p[0], p[1]))
                .collect();
            let (lo, hi) = (num(&case["lo"]), num(&case["hi"]));
            cmp.check(
                &format!("envelope {e} mean400"),
                envelope_mean(&points, lo, hi, 400),
                num(&case["mean400"]),
            );
            cmp.check(
                &format!("envelope {e} mean7_wide"),
                envelope_mean(&points, lo - 1.0, hi + 1.0, 7),
                num(&case["mean7_wide"]),
            );
            for probe in mat_f64(&case["at"]) {
                cmp.check(
                    &format!("envelope {e} at {}", probe[0]),
                    envelope_at(&points, probe[0]),
                    probe[1],
                );
            }
        }

        assert!(cmp.checked > 1000, "only {} numbers checked", cmp.checked);
        eprintln!(
            "python reference: {} numbers, max abs diff {:e}, max rel diff {:e}",
            cmp.checked, cmp.max_abs, cmp.max_rel
        );
    }

    /// Bernoulli draws from a splitmix64 stream.
    struct Rng(u64);

    impl Rng {
        fn uniform(&mut self) -> f64 {
            (splitmix64(&mut self.0) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn self_check_oracle_random_constant() {
        // The reference's self-check, with our own PRNG: oracle ≈ 0.92, random and constant ≈ 0.5.
        let mut rng = Rng(1);
        let strong: Vec<f64> = (0..5000)
            .map(|_| if rng.uniform() < 0.8 { 1.0 } else { 0.0 })
            .collect();
        let weak: Vec<f64> = strong
            .iter()
            .map(|&s| if rng.uniform() < 0.8 { s } else { 0.0 })
            .collect();
        let oracle: Vec<f64> = strong.iter().zip(&weak).map(|(s, w)| s - w).collect();
        let random: Vec<f64> = (0..5000).map(|_| rng.uniform()).collect();
        let m = pair_metrics(&oracle, &strong, &weak);
        assert!((0.89..0.95).contains(&m.apgr), "oracle {m:?}");
        assert!(m.cpt50 < 0.12 && m.cpt80 < 0.17, "oracle {m:?}");
        let m = pair_metrics(&random, &strong, &weak);
        assert!((0.45..0.55).contains(&m.apgr), "random {m:?}");
        assert!((0.4..0.6).contains(&m.cpt50), "random {m:?}");
        let m = pair_metrics(&vec![0.0; 5000], &strong, &weak);
        assert!((0.45..0.55).contains(&m.apgr), "constant {m:?}");
    }

    #[test]
    fn pgr_curve_by_hand_and_seeded_ties() {
        // strong mean 0.75, weak mean 0.25, gap 0.5.
        let (strong, weak) = ([1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]);
        let curve = pgr_curve(&[0.9, 0.1, 0.5, 0.7], &strong, &weak, 0);
        // order 0, 3, 2, 1: gains 1, 1, 0, 0 of 4 prompts.
        assert_eq!(curve, vec![0.0, 0.5, 1.0, 1.0, 1.0]);
        assert_eq!(apgr(&curve), (0.25 + 0.75 + 1.0 + 1.0) / 4.0);
        assert_eq!(cpt(&curve, 0.5), 0.25);
        assert_eq!(cpt(&curve, 0.8), 0.5);
        assert_eq!(cpt(&curve, 1.5), 1.0);
        assert!(apgr(&[0.0]).is_nan());

        // All tied: the seed decides the order, deterministically; the end point is always 1.
        let n = 64;
        let strong: Vec<f64> = (0..n).map(|i| (i % 2) as f64).collect();
        let weak = vec![0.0; n];
        let scores = vec![0.5; n];
        let a = pgr_curve(&scores, &strong, &weak, 7);
        assert_eq!(a, pgr_curve(&scores, &strong, &weak, 7));
        assert_ne!(a, pgr_curve(&scores, &strong, &weak, 8));
        assert!((a[n] - 1.0).abs() < 1e-12);
        // NaN scores rank last.
        let c = pgr_curve(&[f64::NAN, 0.1], &[1.0, 1.0], &[0.0, 0.0], 0);
        assert_eq!(c, vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn choose_within_drop_rules() {
        let (q, c) = ([0.9, 0.85, 0.6], [3.0, 1.0, 0.5]);
        assert_eq!(choose_within_drop(&q, &c, 0.0), 0);
        assert_eq!(choose_within_drop(&q, &c, 0.05), 1); // boundary kept by the rule's slack
        assert_eq!(choose_within_drop(&q, &c, 0.3), 2);
        // Equal cost: the higher estimate; equal both: the first.
        assert_eq!(choose_within_drop(&[0.8, 0.9], &[1.0, 1.0], 0.2), 1);
        assert_eq!(choose_within_drop(&[0.9, 0.9], &[1.0, 1.0], 0.0), 0);
        assert_eq!(choose_within_drop(&[], &[], 0.0), 0);
        // A NaN estimate is unusable, as when serving.
        assert_eq!(choose_within_drop(&[f64::NAN, 0.5], &[1.0, 0.5], 0.1), 1);
        assert_eq!(
            choose_within_drop(&[0.9, 0.5], &[f64::INFINITY, 0.5], 0.0),
            1
        );
    }

    #[test]
    fn envelope_by_hand() {
        let pts = [(1.0, 0.5), (3.0, 0.9), (2.0, 0.6)]; // (2, 0.6) lies under the hull
        let e = Envelope::new(&pts);
        assert_eq!(e.hull(), &[(1.0, 0.5), (3.0, 0.9)]);
        assert_eq!(e.at(0.5), 0.0);
        assert_eq!(e.at(1.0), 0.5);
        assert!((e.at(2.0) - 0.7).abs() < 1e-15);
        assert_eq!(e.at(5.0), 0.9);
        // A falling tail does not lower the envelope.
        assert_eq!(envelope_at(&[(1.0, 0.5), (3.0, 0.9), (4.0, 0.2)], 4.0), 0.9);
        assert!((envelope_mean(&pts, 1.0, 3.0, 2) - 0.7).abs() < 1e-15);
        assert_eq!(envelope_mean(&pts, 2.0, 3.0, 0), e.at(2.0));
        assert_eq!(envelope_at(&[], 1.0), 0.0);
    }

    #[test]
    fn oracle_gain_by_hand() {
        // Provider 0 costs 1 a prompt, provider 1 costs 10; provider 1 is best on average (0.9 vs 0.5),
        // the oracle takes 0 on prompt 0 and 1 on prompt 1 for quality 1.0.
        let o = vec![vec![1.0, 0.8], vec![0.0, 1.0]];
        let c = vec![vec![1.0, 10.0], vec![1.0, 10.0]];
        let g = oracle_gain_fraction(&o, &c, &o, &c); // perfect estimates
        assert_eq!(
            (g.budget, g.router_quality, g.oracle_quality),
            (20.0, 1.0, 1.0)
        );
        assert!((g.zero_quality - 0.9).abs() < 1e-15);
        assert_eq!(g.fraction, Some(1.0));
        // Estimates that see no difference: always the cheapest, quality 0.5 at any budget.
        let flat = vec![vec![0.5, 0.5]; 2];
        let g = oracle_gain_fraction(&o, &c, &flat, &c);
        assert_eq!(g.router_quality, 0.5);
        let f = g.fraction.expect("defined");
        assert!((f + 4.0).abs() < 1e-9, "{f}");
        // No oracle gain: undefined.
        let same = vec![vec![1.0, 1.0], vec![1.0, 1.0]];
        assert_eq!(oracle_gain_fraction(&same, &c, &same, &c).fraction, None);

        let s = saving_at_best(&o, &c, &o, &c);
        assert_eq!(s.best_single, 1);
        assert_eq!(s.point, Some((0.0, 1.0, 11.0)));
        assert!((s.saving - 0.45).abs() < 1e-15);
        assert!((s.oracle_saving - 0.45).abs() < 1e-15);
    }

    #[test]
    fn empty_inputs_do_not_panic() {
        let none: Vec<Vec<f64>> = Vec::new();
        let s = saving_at_best(&none, &none, &none, &none);
        assert_eq!((s.saving, s.point), (0.0, None));
        assert!(aiq(&none, &none, &none, &none).aiq.is_nan());
        assert!(oracle_gain_fraction(&none, &none, &none, &none)
            .fraction
            .is_none());
        // Prompts without providers.
        let hollow = vec![Vec::new(); 3];
        assert!(router_points(&hollow, &hollow, &hollow, &hollow).is_empty());
        assert!(aiq(&hollow, &hollow, &hollow, &hollow).zero_aiq.is_nan());
        assert_eq!(
            saving_at_best(&hollow, &hollow, &hollow, &hollow).point,
            None
        );
        assert!(oracle_gain_fraction(&hollow, &hollow, &hollow, &hollow)
            .fraction
            .is_none());
        assert!(apgr(&pgr_curve(&[], &[], &[], 0)).is_nan());
    }

    #[test]
    fn check_shape_rejects_ragged() {
        let m = vec![vec![0.0, 1.0]; 3];
        assert_eq!(check_shape(&m, &m, &m, &m).expect("ok"), (3, 2));
        let short = vec![vec![0.0, 1.0]; 2];
        assert!(check_shape(&m, &m, &short, &m).is_err());
        let mut ragged = m.clone();
        ragged[1].pop();
        assert!(check_shape(&m, &ragged, &m, &m).is_err());
        // Ragged input does not panic: the common part is used.
        let s = saving_at_best(&m, &ragged, &m, &m);
        assert_eq!(s.best_single, 0);
    }

    #[test]
    fn spearman_by_hand() {
        // Ranks of b: [1, 2, 3.5, 5, 3.5]; r = 8 / sqrt(10 · 9.5).
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]);
        assert!((r - 8.0 / 95f64.sqrt()).abs() < 1e-12, "{r}");
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 100.0, 1000.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(spearman(&[1.0], &[1.0]).is_nan());
        assert!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn roc_auc_by_hand_and_brute_force() {
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            0.75
        );
        // A tie between a positive and a negative counts a half: (0.5 + 1 + 2) / 4.
        assert_eq!(
            roc_auc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]),
            0.875
        );
        assert_eq!(roc_auc(&[1.0, 2.0], &[false, true]), 1.0);
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, false]), 0.0);
        assert!(roc_auc(&[1.0, 2.0], &[true, true]).is_nan());

        let mut rng = Rng(42);
        let scores: Vec<f64> = (0..300).map(|_| (rng.uniform() * 20.0).floor()).collect();
        let labels: Vec<bool> = scores
            .iter()
            .map(|s| rng.uniform() * 25.0 < s + 3.0)
            .collect();
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (s, _) in scores.iter().zip(&labels).filter(|(_, &l)| l) {
            for (t, _) in scores.iter().zip(&labels).filter(|(_, &l)| !l) {
                pairs += 1.0;
                wins += if s > t {
                    1.0
                } else if s == t {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert!((roc_auc(&scores, &labels) - wins / pairs).abs() < 1e-12);
    }

    #[test]
    fn accuracy_and_macro_f1_by_hand() {
        let truth = [0, 0, 1, 1, 2];
        let pred = [0, 1, 1, 1, 0];
        assert_eq!(accuracy(&pred, &truth), 0.6);
        // Class 0: TP 1, FP 1, FN 1 → 0.5; class 1: TP 2, FP 1 → 0.8; class 2: no TP → 0; class 3 absent.
        let f = macro_f1(&pred, &truth, 4);
        assert!((f - 1.3 / 3.0).abs() < 1e-12, "{f}");
        assert_eq!(macro_f1(&truth, &truth, 3), 1.0);
        // An out-of-range prediction is an error for class 0 but not a class of its own.
        assert_eq!(macro_f1(&[9, 0], &[0, 0], 2), 2.0 / 3.0);
        assert!(macro_f1(&[], &[], 3).is_nan());
        assert!(accuracy::<usize>(&[], &[]).is_nan());
    }
}
