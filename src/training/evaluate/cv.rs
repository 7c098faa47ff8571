//! Cross-validation of the fit settings on the training split (no held-out row is touched).

use super::routers::{estimates, evaluation_policy, head_labels, LabelFn};
use super::{default_group, group_truth, groups, Group};
use crate::error::Result;
use crate::routing::ProviderRegistry;
use crate::routing::RoutingTable;
use crate::training::{metrics, Corpus};
use std::collections::BTreeSet;

/// Cross-validation score of settings on the training split: mean AIQ gain of the labels router on the
/// largest group over `folds` folds (no held-out row is touched). Each fold's best `max_quality_drop` is
/// found among `default_set` (the providers serving enables by default) when they form a group of their
/// own (see [`default_group`]), else on the largest group: the recommended knob is meant for the default
/// set.
pub fn cv_scores(
    corpus: &Corpus,
    train: &[usize],
    grid: &[crate::training::FitSettings],
    folds: usize,
    default_set: Option<&[String]>,
) -> Result<Vec<CvScore>> {
    let mut totals: Vec<CvScore> = grid.iter().map(|_| CvScore::default()).collect();
    for fold in 0..folds {
        let fit_rows: Vec<usize> = train
            .iter()
            .enumerate()
            .filter(|(k, _)| k % folds != fold)
            .map(|(_, &i)| i)
            .collect();
        let val_rows: Vec<usize> = train
            .iter()
            .enumerate()
            .filter(|(k, _)| k % folds == fold)
            .map(|(_, &i)| i)
            .collect();
        let base = crate::training::fit_base(corpus, &fit_rows)?;
        let val_set: BTreeSet<usize> = val_rows.iter().copied().collect();
        for (s, total) in grid.iter().zip(totals.iter_mut()) {
            let fitted = crate::training::fit_with_base(corpus, &fit_rows, &base, *s)?;
            let policy = evaluation_policy(fitted.table.clone())?;
            let registry = ProviderRegistry::from_table_defaults(&fitted.table);
            // Validation rows play the held-out role inside the fold.
            let gs = groups_on(corpus, &fitted.table, &registry, &val_set, &fit_rows);
            let Some(g) = gs.first() else { continue };
            let heads = &fitted.heads;
            let label: LabelFn = Box::new(move |i| head_labels(heads, corpus, i));
            let truth = group_truth(corpus, g, &g.rows, &registry, &fitted.table);
            let (eq, ec) = estimates(&policy, &label, &g.rows, &g.providers);
            let a = metrics::aiq(&truth.outcomes, &truth.costs, &eq, &ec);
            total.aiq_gain += (a.aiq - a.zero_aiq) / folds as f64;
            let knob_group = default_set.and_then(|set| default_group(&gs, set));
            let (truth, eq, ec) = match &knob_group {
                Some(d) => {
                    let truth = group_truth(corpus, d, &d.rows, &registry, &fitted.table);
                    let (eq, ec) = estimates(&policy, &label, &d.rows, &d.providers);
                    (truth, eq, ec)
                }
                None => (truth, eq, ec),
            };
            let providers = knob_group.as_ref().unwrap_or(g).providers.clone();
            total
                .knob_rows
                .add(providers, truth.outcomes, truth.costs, eq, ec);
        }
    }
    Ok(totals)
}

/// Cross-validated figures of one setting.
#[derive(Debug, Clone, Default)]
pub struct CvScore {
    /// Mean AIQ gain over the folds.
    pub aiq_gain: f64,
    /// The knob group's validation rows of every fold, pooled.
    pub knob_rows: OutOfFold,
}

impl CvScore {
    /// The default `max_quality_drop` these artifacts recommend: the largest saving whose out-of-fold
    /// decisions keep the best single provider's quality by a paired margin
    /// ([`metrics::drop_with_paired_margin`]).
    pub fn recommended_drop(&self) -> Option<f32> {
        let k = &self.knob_rows;
        metrics::drop_with_paired_margin(&k.outcomes, &k.costs, &k.est_quality, &k.est_cost)
            .map(|d| d as f32)
    }
}

/// Out-of-fold rows of one group: real outcomes and costs and each fold's estimates, per prompt over the
/// group's providers (the same providers, in the same order, on every fold).
#[derive(Debug, Clone, Default)]
pub struct OutOfFold {
    providers: Vec<String>,
    outcomes: Vec<Vec<f64>>,
    costs: Vec<Vec<f64>>,
    est_quality: Vec<Vec<f64>>,
    est_cost: Vec<Vec<f64>>,
}

impl OutOfFold {
    /// Appends one fold's rows; a fold whose group has other providers is left out, since its columns
    /// would not line up.
    fn add(
        &mut self,
        providers: Vec<String>,
        outcomes: Vec<Vec<f64>>,
        costs: Vec<Vec<f64>>,
        est_quality: Vec<Vec<f64>>,
        est_cost: Vec<Vec<f64>>,
    ) {
        if self.outcomes.is_empty() {
            self.providers = providers;
        } else if self.providers != providers {
            return;
        }
        self.outcomes.extend(outcomes);
        self.costs.extend(costs);
        self.est_quality.extend(est_quality);
        self.est_cost.extend(est_cost);
    }
}

/// Like [`groups`], with `eval` rows in the held-out role and `fit` rows in the training role.
fn groups_on(
    corpus: &Corpus,
    table: &RoutingTable,
    registry: &ProviderRegistry,
    eval: &BTreeSet<usize>,
    fit: &[usize],
) -> Vec<Group> {
    let fit_set: BTreeSet<usize> = fit.iter().copied().collect();
    groups(corpus, table, registry)
        .into_iter()
        .map(|g| {
            let all: Vec<usize> = g.rows.iter().chain(&g.train_rows).copied().collect();
            Group {
                rows: all.iter().copied().filter(|i| eval.contains(i)).collect(),
                train_rows: all
                    .iter()
                    .copied()
                    .filter(|i| fit_set.contains(i))
                    .collect(),
                ..g
            }
        })
        .filter(|g| !g.rows.is_empty())
        .collect()
}
