//! Model fitting on candle (CPU): multinomial logistic regression, ridge regression, and the
//! item-response fit (provider ability − prompt difficulty) behind the difficulty target.

use crate::error::Result;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

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

fn matrix(x: &[Vec<f32>], dev: &Device) -> Result<Tensor> {
    let cols = x.first().map(Vec::len).unwrap_or(0);
    let flat: Vec<f32> = x.iter().flat_map(|r| r.iter().copied()).collect();
    Ok(Tensor::from_vec(flat, (x.len(), cols), dev)?)
}

fn adam(vars: Vec<Var>, lr: f64) -> Result<AdamW> {
    Ok(AdamW::new(
        vars,
        ParamsAdamW {
            lr,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )?)
}

/// Fits softmax regression of `y` (class indices < `classes`) on `x`; optional per-row weights.
/// Returns (weights `classes × features`, bias).
pub fn fit_softmax(
    x: &[Vec<f32>],
    y: &[usize],
    classes: usize,
    row_weights: Option<&[f32]>,
    opts: FitOptions,
) -> Result<(Vec<Vec<f32>>, Vec<f32>)> {
    let dev = Device::Cpu;
    let features = x.first().map(Vec::len).unwrap_or(0);
    let xt = matrix(x, &dev)?;
    let n = x.len();
    let mut onehot = vec![0f32; n * classes];
    for (i, &c) in y.iter().enumerate() {
        onehot[i * classes + c] = 1.0;
    }
    let target = Tensor::from_vec(onehot, (n, classes), &dev)?;
    let rw: Vec<f32> = match row_weights {
        Some(w) => w.to_vec(),
        None => vec![1.0; n],
    };
    let total: f32 = rw.iter().sum::<f32>().max(1e-9);
    let rw = Tensor::from_vec(rw, (n, 1), &dev)?;
    let w = Var::zeros((features, classes), DType::F32, &dev)?;
    let b = Var::zeros(classes, DType::F32, &dev)?;
    let mut opt = adam(vec![w.clone(), b.clone()], opts.learning_rate)?;
    for _ in 0..opts.steps {
        let logits = xt.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let nll = ((logp * &target)?.broadcast_mul(&rw)?.sum_all()? / (-(total as f64)))?;
        let loss = (nll + (w.as_tensor().sqr()?.sum_all()? * opts.l2)?)?;
        opt.backward_step(&loss)?;
    }
    let wt = w.as_tensor().t()?.to_vec2::<f32>()?;
    Ok((wt, b.as_tensor().to_vec1::<f32>()?))
}

/// Fits ridge regression of `y` on `x`. Returns (weights, bias).
pub fn fit_ridge(x: &[Vec<f32>], y: &[f32], opts: FitOptions) -> Result<(Vec<f32>, f32)> {
    let dev = Device::Cpu;
    let features = x.first().map(Vec::len).unwrap_or(0);
    let xt = matrix(x, &dev)?;
    let yt = Tensor::from_vec(y.to_vec(), (y.len(), 1), &dev)?;
    let w = Var::zeros((features, 1), DType::F32, &dev)?;
    let mean = y.iter().sum::<f32>() / y.len().max(1) as f32;
    let b = Var::from_tensor(&Tensor::new(&[mean], &dev)?)?;
    let mut opt = adam(vec![w.clone(), b.clone()], opts.learning_rate)?;
    for _ in 0..opts.steps {
        let pred = xt.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
        let mse = (pred - &yt)?.sqr()?.mean_all()?;
        let loss = (mse + (w.as_tensor().sqr()?.sum_all()? * opts.l2)?)?;
        opt.backward_step(&loss)?;
    }
    let weights = w.as_tensor().flatten_all()?.to_vec1::<f32>()?;
    let bias = b
        .as_tensor()
        .to_vec1::<f32>()?
        .first()
        .copied()
        .unwrap_or(0.0);
    Ok((weights, bias))
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
    let dev = Device::Cpu;
    let item_idx: Vec<u32> = observations.iter().map(|o| o.item as u32).collect();
    let prov_idx: Vec<u32> = observations.iter().map(|o| o.provider as u32).collect();
    let target: Vec<f32> = observations.iter().map(|o| o.outcome).collect();
    let n = observations.len();
    let item_idx = Tensor::from_vec(item_idx, n, &dev)?;
    let prov_idx = Tensor::from_vec(prov_idx, n, &dev)?;
    let target = Tensor::from_vec(target, n, &dev)?;
    let ability = Var::zeros(providers, DType::F32, &dev)?;
    let difficulty = Var::zeros(items, DType::F32, &dev)?;
    let mut opt = adam(vec![ability.clone(), difficulty.clone()], 0.1)?;
    for _ in 0..steps {
        let logits = (ability.as_tensor().index_select(&prov_idx, 0)?
            - difficulty.as_tensor().index_select(&item_idx, 0)?)?;
        let bce = candle_nn::loss::binary_cross_entropy_with_logit(&logits, &target)?;
        let reg = (difficulty.as_tensor().sqr()?.mean_all()? * 0.01)?;
        opt.backward_step(&(bce + reg)?)?;
    }
    Ok((
        ability.as_tensor().to_vec1::<f32>()?,
        difficulty.as_tensor().to_vec1::<f32>()?,
    ))
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
