//! Model fitting on ndarray: multinomial logistic regression, ridge regression, and the item-response fit
//! (provider ability − prompt difficulty) behind the difficulty target. Each is full-batch gradient descent
//! with Adam (the update of candle's `AdamW` with no weight decay, so fits match the earlier candle
//! version up to f32 rounding) on gradients written out by hand.

use crate::error::Error;
use crate::error::Result;
use ndarray::{Array1, Array2, Axis, Zip};

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
    for _ in 0..opts.steps {
        // loss = −Σᵢ sᵢ Σ_c T_ic log softmax(XW + b)_ic + l2‖W‖²; ∂/∂logits = sᵢ (P − T).
        let mut p = xt.dot(&w) + &b;
        softmax_rows(&mut p);
        let g_logits = (p - &target) * &scale;
        let gw = xt.t().dot(&g_logits) + &w * (2.0 * l2);
        let gb = g_logits.sum_axis(Axis(0)).insert_axis(Axis(0));
        adam.step(
            &mut [flat_mut(&mut w), flat_mut(&mut b)],
            &[flat(&gw), flat(&gb)],
        );
    }
    Ok((w.t().to_owned(), b.row(0).to_owned()))
}

/// Fits ridge regression of `y` on `x`. Returns (weights, bias).
pub fn fit_ridge(x: &[Vec<f32>], y: &[f32], opts: FitOptions) -> Result<(Array1<f32>, f32)> {
    let xt = matrix(x, y.len())?;
    let (n, features) = xt.dim();
    let yt = Array1::from(y.to_vec()).insert_axis(Axis(1));
    let l2 = opts.l2 as f32;
    let mut w = Array2::<f32>::zeros((features, 1));
    let mean = y.iter().sum::<f32>() / y.len().max(1) as f32;
    let mut b = Array2::<f32>::from_elem((1, 1), mean);
    let mut adam = Adam::new(w.len() + 1, opts.learning_rate);
    let inv_n = 1.0 / n.max(1) as f32;
    for _ in 0..opts.steps {
        // loss = mean((Xw + b − y)²) + l2‖w‖²; ∂/∂pred = 2 (pred − y) / n.
        let g_pred = (xt.dot(&w) + &b - &yt) * (2.0 * inv_n);
        let gw = xt.t().dot(&g_pred) + &w * (2.0 * l2);
        let gb = Array2::from_elem((1, 1), g_pred.sum());
        adam.step(
            &mut [flat_mut(&mut w), flat_mut(&mut b)],
            &[flat(&gw), flat(&gb)],
        );
    }
    Ok((w.column(0).to_owned(), b[(0, 0)]))
}

/// One observed outcome for the item-response fit.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub item: usize,
    pub provider: usize,
    /// In [0,1]; fractional scores are treated as soft Bernoulli targets.
    pub outcome: f32,
}

/// Fits P(success of provider p on item i) = sigmoid(ability[p] − difficulty[i]).
/// Returns (abilities, difficulties). A small L2 on difficulties keeps items every provider solves (or
/// fails) finite.
pub fn fit_irt(
    items: usize,
    providers: usize,
    observations: &[Observation],
    steps: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let obs: Vec<&Observation> = observations
        .iter()
        .filter(|o| o.item < items && o.provider < providers)
        .collect();
    let inv_n = 1.0 / obs.len().max(1) as f32;
    let reg = 0.01f32;
    let mut ability = Array2::<f32>::zeros((1, providers));
    let mut difficulty = Array2::<f32>::zeros((1, items));
    let mut adam = Adam::new(providers + items, 0.1);
    let mut ga = Array2::<f32>::zeros((1, providers));
    let mut gd = Array2::<f32>::zeros((1, items));
    for _ in 0..steps {
        // loss = mean BCE(sigmoid(a_p − d_i), t) + reg·mean(d²); ∂/∂logit = (σ − t) / n.
        ga.fill(0.0);
        Zip::from(&mut gd)
            .and(&difficulty)
            .for_each(|g, &d| *g = 2.0 * reg * d / items.max(1) as f32);
        for o in &obs {
            let z = ability[(0, o.provider)] - difficulty[(0, o.item)];
            let g = (sigmoid(z) - o.outcome) * inv_n;
            ga[(0, o.provider)] += g;
            gd[(0, o.item)] -= g;
        }
        adam.step(
            &mut [flat_mut(&mut ability), flat_mut(&mut difficulty)],
            &[flat(&ga), flat(&gd)],
        );
    }
    Ok((ability.row(0).to_vec(), difficulty.row(0).to_vec()))
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
    fn ridge_recovers_a_line() {
        let x: Vec<Vec<f32>> = (0..50).map(|i| vec![i as f32 / 50.0]).collect();
        let y: Vec<f32> = x.iter().map(|r| 2.0 * r[0] - 0.5).collect();
        let opts = FitOptions {
            l2: 0.0,
            steps: 2000,
            learning_rate: 0.05,
        };
        let (w, b) = fit_ridge(&x, &y, opts).unwrap();
        assert!(
            (w[0] - 2.0).abs() < 0.05 && (b + 0.5).abs() < 0.05,
            "{w:?} {b}"
        );
    }

    #[test]
    fn irt_orders_items_and_providers() {
        // Provider 1 solves everything provider 0 solves and more; item 2 is failed by both.
        let obs = [
            (0, 0, 1.0),
            (0, 1, 1.0),
            (1, 0, 0.0),
            (1, 1, 1.0),
            (2, 0, 0.0),
            (2, 1, 0.0),
        ]
        .map(|(item, provider, outcome)| Observation {
            item,
            provider,
            outcome,
        });
        let (a, d) = fit_irt(3, 2, &obs, 500).unwrap();
        assert!(a[1] > a[0]);
        assert!(d[0] < d[1] && d[1] < d[2], "{d:?}");
    }
}
