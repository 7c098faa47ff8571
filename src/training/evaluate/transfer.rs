//! How the difficulty score transfers beyond what it was fitted on: leave one task (of the largest
//! group) out, and leave one whole source out, each scored against prompt length on the same rows.

use super::{difficulty_scores, group_truth, prompt_lengths, Group, PairTruth, TransferReport};
use crate::error::Result;
use crate::labels::DifficultyHead;
use crate::routing::{PriceRegistry, RoutingTable};
use crate::training::{difficulty, metrics, Corpus};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A difficulty head fitted on the pairs among `rows` only (no level cuts).
fn head_on(corpus: &Corpus, rows: &[usize]) -> Result<DifficultyHead> {
    let (weights, bias) = difficulty::fit_score(corpus, &difficulty::pairs(corpus, rows))?;
    Ok(DifficultyHead {
        weights,
        bias,
        cuts: [0.0, 0.0],
        table_cuts: None,
    })
}

/// Leave-one-task-out: for each task of the group's source with ≥ 30 rows, fit the difficulty head on the
/// training rows of every other task (of every source) and score that task's rows; figures pooled over
/// tasks. `None` when the source has fewer than two such tasks.
pub(super) fn task_transfer(
    corpus: &Corpus,
    train: &[usize],
    g: &Group,
    registry: &PriceRegistry,
    table: &RoutingTable,
) -> Result<Option<TransferReport>> {
    let all_rows: Vec<usize> = g.train_rows.iter().chain(&g.rows).copied().collect();
    let mut tasks: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in &all_rows {
        if let Some(t) = &corpus.records[i].task {
            tasks.entry(t.as_str()).or_default().push(i);
        }
    }
    tasks.retain(|_, rows| rows.len() >= 30);
    if tasks.len() < 2 {
        return Ok(None);
    }
    let (mut scores, mut rows_out) = (Vec::new(), Vec::new());
    for (task, rows) in &tasks {
        let fit_rows: Vec<usize> = train
            .iter()
            .copied()
            .filter(|&i| corpus.records[i].task.as_deref() != Some(task))
            .collect();
        let head = head_on(corpus, &fit_rows)?;
        scores.extend(difficulty_scores(&head, corpus, rows));
        rows_out.extend_from_slice(rows);
    }
    let truth = group_truth(corpus, g, &rows_out, registry, table);
    let lengths = prompt_lengths(corpus, &rows_out);
    let PairTruth {
        failure,
        cheap_fails,
        strong,
        weak,
    } = truth.pair_truth();
    Ok(Some(TransferReport {
        group: g.name.clone(),
        tasks: tasks.len(),
        rows: rows_out.len(),
        difficulty_spearman: metrics::spearman(&scores, &failure),
        difficulty_auc: metrics::roc_auc(&scores, &cheap_fails),
        difficulty_cpt50: metrics::pair_metrics(&scores, &strong, &weak).cpt50,
        length_spearman: metrics::spearman(&lengths, &failure),
        length_auc: metrics::roc_auc(&lengths, &cheap_fails),
        length_cpt50: metrics::pair_metrics(&lengths, &strong, &weak).cpt50,
    }))
}

/// Leave-one-source-out figures of one source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceTransfer {
    pub source: String,
    pub rows: usize,
    /// The (strong, weak) pair: the best provider by mean outcome and the one at the lower quartile of the
    /// means (a usable cheap model, not the worst).
    pub strong: String,
    pub weak: String,
    pub difficulty_spearman: f64,
    pub difficulty_auc: f64,
    pub difficulty_cpt50: f64,
    pub length_spearman: f64,
    pub length_auc: f64,
    pub length_cpt50: f64,
}

/// For every source with per-prompt outcomes: the difficulty head fitted on the training rows of every
/// other source, scored on all of this source's rows (it saw none of them), against prompt length.
pub(super) fn source_transfer(corpus: &Corpus, train: &[usize]) -> Result<Vec<SourceTransfer>> {
    let sources: BTreeSet<&str> = corpus
        .records
        .iter()
        .filter(|r| !r.outcomes.is_empty())
        .map(|r| r.source.as_str())
        .collect();
    let mut out = Vec::new();
    for source in sources {
        let rows: Vec<usize> = (0..corpus.records.len())
            .filter(|&i| {
                corpus.records[i].source == source && !corpus.records[i].outcomes.is_empty()
            })
            .collect();
        // Providers measured on ≥ 90% of the source's rows; the rows where all of them have outcomes.
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for &i in &rows {
            for p in corpus.records[i].outcomes.keys() {
                *seen.entry(p.as_str()).or_default() += 1;
            }
        }
        let providers: Vec<&str> = seen
            .iter()
            .filter(|(_, &n)| n * 10 >= rows.len() * 9)
            .map(|(p, _)| *p)
            .collect();
        if providers.len() < 2 {
            continue;
        }
        let rows: Vec<usize> = rows
            .into_iter()
            .filter(|&i| {
                providers
                    .iter()
                    .all(|p| corpus.records[i].outcomes.contains_key(*p))
            })
            .collect();
        if rows.len() < 20 {
            continue;
        }
        let outcome = |i: usize, p: &str| corpus.records[i].outcomes.get(p).copied().unwrap_or(0.0);
        // The best provider by mean outcome against the one at the lower quartile of the means: a
        // usable cheap model with a real gap (a priced group's cheapest may even beat its best).
        let mut by_mean: Vec<(f64, &str)> = providers
            .iter()
            .map(|p| {
                (
                    rows.iter().map(|&i| outcome(i, p)).sum::<f64>() / rows.len() as f64,
                    *p,
                )
            })
            .collect();
        by_mean.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        let weak = by_mean[(by_mean.len() - 1) / 4].1.to_string();
        let strong = by_mean[by_mean.len() - 1].1.to_string();
        let fit_rows: Vec<usize> = train
            .iter()
            .copied()
            .filter(|&i| corpus.records[i].source != source)
            .collect();
        // A log of one source leaves nothing to fit on: no transfer figure for it.
        let Ok(head) = head_on(corpus, &fit_rows) else {
            continue;
        };
        let scores = difficulty_scores(&head, corpus, &rows);
        let lengths = prompt_lengths(corpus, &rows);
        let failure: Vec<f64> = rows
            .iter()
            .map(|&i| {
                1.0 - providers.iter().map(|p| outcome(i, p)).sum::<f64>() / providers.len() as f64
            })
            .collect();
        let strong_o: Vec<f64> = rows.iter().map(|&i| outcome(i, &strong)).collect();
        let weak_o: Vec<f64> = rows.iter().map(|&i| outcome(i, &weak)).collect();
        let weak_fails: Vec<bool> = weak_o.iter().map(|&o| o < 0.5).collect();
        out.push(SourceTransfer {
            source: source.to_string(),
            rows: rows.len(),
            difficulty_spearman: metrics::spearman(&scores, &failure),
            difficulty_auc: metrics::roc_auc(&scores, &weak_fails),
            difficulty_cpt50: metrics::pair_metrics(&scores, &strong_o, &weak_o).cpt50,
            length_spearman: metrics::spearman(&lengths, &failure),
            length_auc: metrics::roc_auc(&lengths, &weak_fails),
            length_cpt50: metrics::pair_metrics(&lengths, &strong_o, &weak_o).cpt50,
            strong,
            weak,
        });
    }
    Ok(out)
}
