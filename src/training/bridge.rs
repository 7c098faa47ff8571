//! The bridges between sources: models that two sources both measured, and how well one source's
//! quality scale reads the other's through them. A source's mean outcome depends on its prompts and its
//! grader as much as on the model, so two sources put one model at different qualities; with enough
//! shared models a fitted shift could carry a model measured by one source onto the other's scale. The
//! report says how large the error of such a shift is, judged leaving each shared model out in turn.

use super::Corpus;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Fewest rows of a source a model needs for its mean to count.
const MIN_ROWS: usize = 50;
/// Fewest shared models for a bridge to be reported.
const MIN_MODELS: usize = 3;

/// One bridge: two sources and the models both measured.
#[derive(Debug, Clone, Serialize)]
pub struct Bridge {
    pub sources: [String; 2],
    /// Each shared model's mean outcome in the first and in the second source (training rows).
    pub models: Vec<(String, f64, f64)>,
    /// Mean absolute error of predicting a model's mean in the second source from its mean in the first
    /// with a logit shift fitted on the other shared models (leave one out).
    pub shift_error: f64,
    /// The same error reading the first source's mean as is (no shift).
    pub as_is_error: f64,
}

fn logit(q: f64) -> f64 {
    let q = q.clamp(0.005, 0.995);
    (q / (1.0 - q)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Every pair of sources sharing at least [`MIN_MODELS`] models, each measured on [`MIN_ROWS`] rows or
/// more of both (`rows`: the training split).
pub fn bridges(corpus: &Corpus, rows: &[usize]) -> Vec<Bridge> {
    let mut sums: BTreeMap<&str, BTreeMap<&str, (f64, usize)>> = BTreeMap::new();
    for &i in rows {
        let r = &corpus.records[i];
        for (p, &v) in &r.outcomes {
            let e = sums
                .entry(r.source.as_str())
                .or_default()
                .entry(p.as_str())
                .or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    let means: BTreeMap<&str, BTreeMap<&str, f64>> = sums
        .into_iter()
        .map(|(s, by)| {
            let m = by
                .into_iter()
                .filter(|(_, (_, n))| *n >= MIN_ROWS)
                .map(|(p, (sum, n))| (p, sum / n as f64))
                .collect();
            (s, m)
        })
        .collect();
    let sources: Vec<&str> = means.keys().copied().collect();
    let mut out = Vec::new();
    for (k, a) in sources.iter().enumerate() {
        for b in &sources[k + 1..] {
            let models: Vec<(String, f64, f64)> = means[a]
                .iter()
                .filter_map(|(p, &qa)| means[b].get(p).map(|&qb| (p.to_string(), qa, qb)))
                .collect();
            if models.len() < MIN_MODELS {
                continue;
            }
            let n = models.len() as f64;
            let mut shift_error = 0.0;
            let mut as_is_error = 0.0;
            for (j, (_, qa, qb)) in models.iter().enumerate() {
                let shift = models
                    .iter()
                    .enumerate()
                    .filter(|(l, _)| *l != j)
                    .map(|(_, (_, x, y))| logit(*y) - logit(*x))
                    .sum::<f64>()
                    / (n - 1.0);
                shift_error += (sigmoid(logit(*qa) + shift) - qb).abs() / n;
                as_is_error += (qa - qb).abs() / n;
            }
            out.push(Bridge {
                sources: [a.to_string(), b.to_string()],
                models,
                shift_error,
                as_is_error,
            });
        }
    }
    out
}

/// The report's section.
pub fn render(bridges: &[Bridge]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "== bridges: models measured by two sources (mean outcome on the training rows; leave-one-out error of reading one scale from the other) =="
    );
    if bridges.is_empty() {
        let _ = writeln!(t, "   none: no two sources share {MIN_MODELS} models");
    }
    for b in bridges {
        let _ = writeln!(
            t,
            "   {} -> {}: {} shared models; error {:.3} with a fitted logit shift, {:.3} as is",
            b.sources[0],
            b.sources[1],
            b.models.len(),
            b.shift_error,
            b.as_is_error
        );
        for (p, qa, qb) in &b.models {
            let _ = writeln!(t, "      {p:<40} {qa:.3} {qb:.3}");
        }
    }
    let _ = writeln!(
        t,
        "   qualities are not moved between sources' scales: each cell of the table is what its own rows measured"
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::dataset::TrainingRecord;

    #[test]
    fn a_constant_shift_is_read_back_exactly_and_reading_as_is_is_off_by_it() {
        // Source b is a source a with every model's logit raised by 0.5.
        let qa = [("m1", 0.3), ("m2", 0.5), ("m3", 0.7), ("m4", 0.8)];
        let mut records = Vec::new();
        for (source, shift) in [("a", 0.0), ("b", 0.5)] {
            for k in 0..100 {
                let outcomes = qa
                    .iter()
                    .map(|(m, q)| {
                        let target = sigmoid(logit(*q) + shift);
                        // k/100 < target for the first round(100·target) rows: a mean of target.
                        let v = if (k as f64) < (100.0 * target).round() {
                            1.0
                        } else {
                            0.0
                        };
                        (m.to_string(), v)
                    })
                    .collect();
                records.push(TrainingRecord {
                    id: format!("{source}{k}"),
                    outcomes,
                    ..TrainingRecord::bare(source)
                });
            }
        }
        let n = records.len();
        let corpus = Corpus::from_features(records, vec![vec![0.0]; n], vec![false; n]);
        let rows: Vec<usize> = (0..n).collect();
        let b = bridges(&corpus, &rows);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].models.len(), 4);
        assert!(b[0].shift_error < 0.01, "{:?}", b[0]);
        assert!(b[0].as_is_error > 0.05, "{:?}", b[0]);
        assert!(render(&b).contains("a -> b: 4 shared models"));
    }
}
