//! Model fitting on ndarray: multinomial logistic regression (the domain and category heads) and a pairwise
//! ranking fit with ties (the difficulty head). Each is full-batch gradient descent
//! with Adam (the update of candle's `AdamW` with no weight decay, so fits match the earlier candle
//! version up to f32 rounding) on gradients written out by hand.

use crate::error::Error;
use crate::error::Result;
use ndarray::{Array1, Array2, Axis};

/// Full-batch optimisation settings.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    pub l2: f64,
    pub steps: usize,
    pub learning_rate: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            l2: 1e-3,
            steps: 300,
            learning_rate: 0.05,
        }
    }
}

/// Rows as one `(rows, features)` matrix; the rows must be as wide as the first and as many as `targets`.
fn matrix(x: &[Vec<f32>], targets: usize) -> Result<Array2<f32>> {
    let cols = x.first().map(Vec::len).unwrap_or(0);
    if x.len() != targets || x.iter().any(|r| r.len() != cols) {
        return Err(Error::InvalidInput(format!(
            "fit: {} rows (of unequal width or not one per target) for {targets} targets",
            x.len()
        )));
    }
    let flat: Vec<f32> = x.iter().flatten().copied().collect();
    Array2::from_shape_vec((x.len(), cols), flat)
        .map_err(|e| Error::InvalidInput(format!("fit: {e}")))
}

/// Adam with candle's defaults (β₁ 0.9, β₂ 0.999, ε 1e-8) over one flat parameter vector.
struct Adam {
    lr: f32,
    step: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    fn new(params: usize, lr: f64) -> Self {
        Self {
            lr: lr as f32,
            step: 0,
            m: vec![0.0; params],
            v: vec![0.0; params],
        }
    }

    /// One update of `params` (several arrays, in a fixed order) from their gradients.
    fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]]) {
        self.step += 1;
        let scale_m = 1.0 / (1.0 - Self::BETA1.powi(self.step));
        let scale_v = 1.0 / (1.0 - Self::BETA2.powi(self.step));
        let mut k = 0;
        for (p, g) in params.iter_mut().zip(grads) {
            for (theta, &g) in p.iter_mut().zip(g.iter()) {
                let (Some(m), Some(v)) = (self.m.get_mut(k), self.v.get_mut(k)) else {
                    return;
                };
                *m = *m * Self::BETA1 + g * (1.0 - Self::BETA1);
                *v = *v * Self::BETA2 + g * g * (1.0 - Self::BETA2);
                let m_hat = *m * scale_m;
                let v_hat = *v * scale_v;
                *theta -= m_hat / (v_hat.sqrt() + Self::EPS) * self.lr;
                k += 1;
            }
        }
    }
}

/// A contiguous array's values (every array here is created contiguous).
fn flat(a: &Array2<f32>) -> &[f32] {
    a.as_slice().unwrap_or(&[])
}

fn flat_mut(a: &mut Array2<f32>) -> &mut [f32] {
    a.as_slice_mut().unwrap_or(&mut [])
}

/// The row ranges a fit's products are split into: one per core (at most 4), for matrices big enough to
/// pay for the threads. The split is the same for a given row count, so a fit's result does not depend on
/// timing; only the order of a sum of per-part products may differ from one thread (rounding).
fn row_parts(rows: usize) -> Vec<std::ops::Range<usize>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let parts = if rows >= 4096 { threads } else { 1 };
    let per = rows.div_ceil(parts).max(1);
    (0..parts)
        .map(|k| (k * per).min(rows)..((k + 1) * per).min(rows))
        .filter(|r| !r.is_empty())
        .collect()
}

/// `f` of each part, in order, each on its own thread (on the caller's alone for one part).
fn per_part(
    parts: &[std::ops::Range<usize>],
    f: impl Fn(std::ops::Range<usize>) -> Array2<f32> + Sync,
) -> Vec<Array2<f32>> {
    if parts.len() <= 1 {
        return vec![f(parts.first().cloned().unwrap_or(0..0))];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .map(|r| {
                let (f, r) = (&f, r.clone());
                scope.spawn(move || f(r))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// `f` of each part of `x`'s rows, stacked back in order.
fn parallel_rows(
    x: &Array2<f32>,
    parts: &[std::ops::Range<usize>],
    f: impl Fn(ndarray::ArrayView2<'_, f32>) -> Array2<f32> + Sync,
) -> Array2<f32> {
    if parts.len() <= 1 {
        return f(x.view());
    }
    let blocks = per_part(parts, |r| f(x.slice(ndarray::s![r, ..])));
    let views: Vec<ndarray::ArrayView2<'_, f32>> = blocks.iter().map(|b| b.view()).collect();
    // Every block has the same columns (the same product of a row slice): the stack cannot fail.
    ndarray::concatenate(Axis(0), &views).unwrap_or_else(|_| f(x.view()))
}

/// The sum of `f` over the parts.
fn parallel_sum(
    parts: &[std::ops::Range<usize>],
    f: impl Fn(std::ops::Range<usize>) -> Array2<f32> + Sync,
) -> Array2<f32> {
    let mut blocks = per_part(parts, &f).into_iter();
    let first = blocks.next().unwrap_or_else(|| f(0..0));
    blocks.fold(first, |acc, b| acc + b)
}

/// Row-wise softmax, in place.
fn softmax_rows(logits: &mut Array2<f32>) {
    for mut row in logits.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
}

/// Fits softmax regression of `y` (class indices < `classes`) on `x`; optional per-row weights.
/// Returns (weights `(classes, features)`, bias).
pub fn fit_softmax(
    x: &[Vec<f32>],
    y: &[usize],
    classes: usize,
    row_weights: Option<&[f32]>,
    opts: FitOptions,
) -> Result<(Array2<f32>, Array1<f32>)> {
    let xt = matrix(x, y.len())?;
    let (n, features) = xt.dim();
    if row_weights.is_some_and(|w| w.len() != n) {
        return Err(Error::InvalidInput("fit: one row weight per row".into()));
    }
    let mut target = Array2::<f32>::zeros((n, classes));
    for (i, &c) in y.iter().enumerate() {
        if let Some(t) = target.get_mut((i, c)) {
            *t = 1.0;
        }
    }
    let rw: Array1<f32> = match row_weights {
        Some(w) => Array1::from(w.to_vec()),
        None => Array1::ones(n),
    };
    let total = rw.sum().max(1e-9);
    // Each row's gradient weight: its row weight over the total (the loss is a weighted mean).
    let scale = rw.mapv(|w| w / total).insert_axis(Axis(1));
    let l2 = opts.l2 as f32;
    let mut w = Array2::<f32>::zeros((features, classes));
    let mut b = Array2::<f32>::zeros((1, classes));
    let mut adam = Adam::new(w.len() + b.len(), opts.learning_rate);
    let parts = row_parts(n);
    for _ in 0..opts.steps {
        // loss = −Σᵢ sᵢ Σ_c T_ic log softmax(XW + b)_ic + l2‖W‖²; ∂/∂logits = sᵢ (P − T).
        let mut p = parallel_rows(&xt, &parts, |x| x.dot(&w)) + &b;
        softmax_rows(&mut p);
        let g_logits = (p - &target) * &scale;
        let gw = parallel_sum(&parts, |rows| {
            xt.slice(ndarray::s![rows.clone(), ..])
                .t()
                .dot(&g_logits.slice(ndarray::s![rows, ..]))
        }) + &w * (2.0 * l2);
        let gb = g_logits.sum_axis(Axis(0)).insert_axis(Axis(0));
        adam.step(
            &mut [flat_mut(&mut w), flat_mut(&mut b)],
            &[flat(&gw), flat(&gb)],
        );
    }
    Ok((w.t().to_owned(), b.row(0).to_owned()))
}

/// A (harder, easier) pair of rows of the pairwise fit, with its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankPair {
    pub harder: usize,
    pub easier: usize,
    pub weight: f32,
    /// A tie: the two rows should score alike (a squared penalty on their difference), not in order.
    pub tie: bool,
}

/// Fits a linear score `s = x·w` so that harder rows score higher: the weighted pairwise logistic loss
/// `Σ w_p log(1 + exp(−(s_harder − s_easier))) / Σ w_p + l2‖w‖²` over the ranking pairs, plus
/// `Σ w_t (s_a − s_b)² / Σ w_p` over the ties (pairs marked `tie`), which hold two rows to one score.
/// No bias: it cancels in every pair.
pub fn fit_pairwise(x: &[Vec<f32>], pairs: &[RankPair], opts: FitOptions) -> Result<Array1<f32>> {
    let xt = matrix(x, x.len())?;
    let (n, features) = xt.dim();
    if pairs.iter().any(|p| p.harder >= n || p.easier >= n) {
        return Err(Error::InvalidInput(
            "fit: a pair names a row that does not exist".into(),
        ));
    }
    // Ties are scaled by the ranking pairs' total, so adding them leaves the ranking term as it was.
    let total = pairs
        .iter()
        .filter(|p| !p.tie)
        .map(|p| p.weight)
        .sum::<f32>()
        .max(1e-9);
    let l2 = opts.l2 as f32;
    let mut w = Array2::<f32>::zeros((features, 1));
    let mut adam = Adam::new(w.len(), opts.learning_rate);
    let mut g_s = Array2::<f32>::zeros((n, 1));
    let parts = row_parts(n);
    for _ in 0..opts.steps {
        let s = parallel_rows(&xt, &parts, |x| x.dot(&w));
        g_s.fill(0.0);
        for p in pairs {
            // ∂/∂d log(1 + e^(−d)) = −σ(−d), with d = s_harder − s_easier.
            let d = s[(p.harder, 0)] - s[(p.easier, 0)];
            // A tie's loss is d², its derivative 2d.
            let g = if p.tie { 2.0 * d } else { -sigmoid(-d) } * p.weight / total;
            g_s[(p.harder, 0)] += g;
            g_s[(p.easier, 0)] -= g;
        }
        let gw = parallel_sum(&parts, |rows| {
            xt.slice(ndarray::s![rows.clone(), ..])
                .t()
                .dot(&g_s.slice(ndarray::s![rows, ..]))
        }) + &w * (2.0 * l2);
        adam.step(&mut [flat_mut(&mut w)], &[flat(&gw)]);
    }
    Ok(w.column(0).to_owned())
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_separates_two_clusters() {
        let x: Vec<Vec<f32>> = (0..40)
            .map(|i| vec![if i % 2 == 0 { 1.0 } else { -1.0 }, 0.5])
            .collect();
        let y: Vec<usize> = (0..40).map(|i| i % 2).collect();
        let (w, b) = fit_softmax(&x, &y, 2, None, FitOptions::default()).unwrap();
        let head = crate::labels::SoftmaxHead {
            classes: vec!["a".into(), "b".into()],
            weights: w,
            bias: b,
        };
        assert!(head.probs(&[1.0, 0.5])[0] > 0.9);
        assert!(head.probs(&[-1.0, 0.5])[1] > 0.9);
    }

    #[test]
    fn pairwise_orders_by_the_informative_feature() {
        // Feature 0 is the difficulty; feature 1 is noise.
        let x: Vec<Vec<f32>> = (0..30)
            .map(|i| vec![i as f32 / 30.0, ((i * 7) % 5) as f32 / 5.0])
            .collect();
        let pairs: Vec<RankPair> = (0..30)
            .flat_map(|h| {
                (0..h).step_by(3).map(move |e| RankPair {
                    harder: h,
                    easier: e,
                    weight: 1.0,
                    tie: false,
                })
            })
            .collect();
        let w = fit_pairwise(
            &x,
            &pairs,
            FitOptions {
                l2: 1e-4,
                steps: 500,
                learning_rate: 0.05,
            },
        )
        .unwrap();
        assert!(w[0] > 0.5 && w[0] > 5.0 * w[1].abs(), "{w:?}");
        let bad = [RankPair {
            harder: 99,
            easier: 0,
            weight: 1.0,
            tie: false,
        }];
        assert!(fit_pairwise(&x, &bad, FitOptions::default()).is_err());
    }

    #[test]
    fn ties_remove_a_direction_the_pairs_alone_would_use() {
        // Feature 0 is the difficulty; feature 1 is a wording that the harder rows happen to carry more of.
        // Ties between rows that differ only in feature 1 hold its weight near zero.
        let x: Vec<Vec<f32>> = (0..30)
            .map(|i| vec![i as f32 / 30.0, if i >= 15 { 1.0 } else { 0.0 }])
            .chain((0..10).flat_map(|i| [vec![i as f32 / 30.0, 0.0], vec![i as f32 / 30.0, 1.0]]))
            .collect();
        let ranking: Vec<RankPair> = (0..30)
            .flat_map(|h| {
                (0..h).step_by(3).map(move |e| RankPair {
                    harder: h,
                    easier: e,
                    weight: 1.0,
                    tie: false,
                })
            })
            .collect();
        let ties: Vec<RankPair> = (0..10)
            .map(|k| RankPair {
                harder: 30 + 2 * k + 1,
                easier: 30 + 2 * k,
                weight: 10.0,
                tie: true,
            })
            .collect();
        let opts = FitOptions {
            l2: 1e-4,
            steps: 500,
            learning_rate: 0.05,
        };
        let without = fit_pairwise(&x, &ranking, opts).unwrap();
        let all: Vec<RankPair> = ranking.iter().chain(&ties).copied().collect();
        let with = fit_pairwise(&x, &all, opts).unwrap();
        assert!(without[1] > 1.0, "{without:?}");
        assert!(with[1].abs() < 0.2 * without[1], "{with:?} vs {without:?}");
        // The difficulty direction survives.
        assert!(with[0] > 1.0, "{with:?}");
    }
}
