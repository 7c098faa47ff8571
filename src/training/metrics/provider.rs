//! N-provider figures: the router's operating points, saving at the best single provider's quality, AIQ,
//! the fraction of the oracle's gain, and the upper envelope they read.

use super::{bootstrap_draw, py_max, py_max_all, py_min_all, py_sum, tuple_lt};
use crate::error::{Error, Result};
use crate::routing::rule;
use serde::Serialize;
use std::cmp::Ordering;

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
            quality_sd: 0.0,
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

/// The router's operating point at one setting of its quality-drop knob: every prompt goes to
/// [`choose_within_drop`] of its estimates over the first `p` providers, evaluated on the real outcomes
/// and costs (`(mean real quality, total real cost)`, as [`realize`]). What serving's default decisions
/// reach at that `max_quality_drop`.
pub fn realize_at_drop(
    outcomes: &[Vec<f64>],
    costs: &[Vec<f64>],
    est_quality: &[Vec<f64>],
    est_cost: &[Vec<f64>],
    p: usize,
    drop: f64,
) -> (f64, f64) {
    let choice: Vec<usize> = est_quality
        .iter()
        .zip(est_cost)
        .map(|(q, c)| choose_within_drop(&q[..p.min(q.len())], &c[..p.min(c.len())], drop))
        .collect();
    realize(outcomes, costs, &choice)
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
/// Sweeps the router's quality-drop knob over its grid (`knob_grid`: 0 to 0.3 by 0.005): at each, every
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
    for drop in knob_grid() {
        let (q, c) = realize_at_drop(outcomes, costs, est_quality, est_cost, p, drop);
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

/// The knob setting to recommend from out-of-fold prompts (the validation rows of every fold pooled, each
/// estimated by its own fold's artifacts): among the drops of `knob_grid` whose decisions are
/// not worse than the best single provider by a paired one-standard-error margin, the one with the largest
/// saving (the smaller drop on equal savings). Per prompt `d = outcome of the router's choice − outcome of
/// the best single provider`; a drop is kept when `mean(d) − sd(d)/√n ≥ 0`. `None` with fewer than two
/// prompts or providers, or when no drop is kept.
///
/// Why a margin and not the edge: the drop that saves most while the quality just holds sits where a few
/// prompts decide, and on fresh prompts it falls below the best provider about half the time (the curve
/// can drop steeply just past it). The paired standard error measures how much the prompts themselves
/// could move the comparison.
pub fn drop_with_paired_margin(
    outcomes: &[Vec<f64>],
    costs: &[Vec<f64>],
    est_quality: &[Vec<f64>],
    est_cost: &[Vec<f64>],
) -> Option<f64> {
    let (n, p) = common_shape(&[outcomes, costs, est_quality, est_cost]);
    if n < 2 || p < 2 {
        return None;
    }
    let truth = single_truth(outcomes, costs, n, p);
    let best = best_single(&truth);
    let c_best = truth[best].1;
    let mut found: Option<(f64, f64)> = None;
    for drop in knob_grid() {
        let (mut sum, mut sum_sq, mut cost) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let c = choose_within_drop(&est_quality[i][..p], &est_cost[i][..p], drop);
            let d = outcomes[i][c] - outcomes[i][best];
            sum += d;
            sum_sq += d * d;
            cost += costs[i][c];
        }
        let mean = sum / n as f64;
        let var = ((sum_sq - n as f64 * mean * mean) / (n - 1) as f64).max(0.0);
        let se = (var / n as f64).sqrt();
        if mean - se >= -1e-12 {
            let saving = 1.0 - cost / c_best;
            if found.is_none_or(|(s, _)| saving > s) {
                found = Some((saving, drop));
            }
        }
    }
    found.map(|(_, drop)| drop)
}

/// The quality-drop knob's grid: `drop = x/200` for `x = 0..=60` (0 to 0.3).
fn knob_grid() -> impl Iterator<Item = f64> {
    (0..=60u32).map(|x| f64::from(x) / 200.0)
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

/// Bootstrap of a router's AIQ gain over the zero router ([`aiq`]): in each of `resamples` resamples (the
/// prompts drawn with replacement by a splitmix64 stream seeded with `seed`), the gain on the resampled
/// prompts. The router and the zero router see the same draw, so the spread is that of the router's edge,
/// not of the prompts' mix. Empty without prompts or providers.
pub fn aiq_gain_resamples(
    outcomes: &[Vec<f64>],
    costs: &[Vec<f64>],
    est_quality: &[Vec<f64>],
    est_cost: &[Vec<f64>],
    resamples: usize,
    seed: u64,
) -> Vec<f64> {
    let (n, p) = common_shape(&[outcomes, costs, est_quality, est_cost]);
    if n == 0 || p == 0 {
        return Vec::new();
    }
    let mut state = seed;
    let mut draw = vec![0usize; n];
    let pick = |idx: &[usize], m: &[Vec<f64>]| -> Vec<Vec<f64>> {
        idx.iter().map(|&i| m[i][..p].to_vec()).collect()
    };
    (0..resamples)
        .map(|_| {
            bootstrap_draw(&mut state, &mut draw);
            let a = aiq(
                &pick(&draw, outcomes),
                &pick(&draw, costs),
                &pick(&draw, est_quality),
                &pick(&draw, est_cost),
            );
            a.aiq - a.zero_aiq
        })
        .collect()
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
