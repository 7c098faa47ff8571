//! How the labels transfer beyond what they were fitted on: the difficulty score with one task (of the
//! largest group) or one whole source left out, each scored against prompt length on the same rows; the
//! domain head with one whole source left out.

use super::{difficulty_scores, group_truth, prompt_lengths, Group, PairTruth, TransferReport};
use crate::error::Result;
use crate::labels::DifficultyHead;
use crate::routing::{ProviderRegistry, RoutingTable};
use crate::training::{difficulty, fit_domain_head, metrics, Corpus};
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
        band_softness: None,
    })
}

/// Leave-one-task-out: for each task of the group's source with ≥ 30 rows, fit the difficulty head on the
/// training rows of every other task (of every source) and score that task's rows; figures pooled over
/// tasks. `None` when the source has fewer than two such tasks.
pub(super) fn task_transfer(
    corpus: &Corpus,
    train: &[usize],
    g: &Group,
    registry: &ProviderRegistry,
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
    let advantage = metrics::cpt50_advantage_resamples(
        &scores,
        &lengths,
        &strong,
        &weak,
        metrics::BOOTSTRAP_RESAMPLES,
        0,
    );
    Ok(Some(TransferReport {
        group: g.name.clone(),
        tasks: tasks.len(),
        rows: rows_out.len(),
        cpt50_advantage_ci: metrics::percentile_interval(&advantage, 0.95),
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
    /// 95% paired-bootstrap interval of `length_cpt50 − difficulty_cpt50` (positive: difficulty ahead).
    pub cpt50_advantage_ci: (f64, f64),
    /// The same pair routed by task alone; `None` when the source's rows carry fewer than two tasks.
    pub between_tasks: Option<BetweenTasks>,
}

/// How much of a source's CPT(50%) a score constant inside each task can reach: every row scored by a
/// value of its task alone. A source that mixes tasks of different metrics and formats can be decided by
/// which tasks the weak provider falls behind on rather than by which items are hard; these figures
/// show which it is.
#[derive(Debug, Clone, Serialize)]
pub struct BetweenTasks {
    pub tasks: usize,
    /// Tasks ordered by the pair's own mean gap (strong − weak outcome) on them: the lowest CPT(50%) a
    /// score constant inside each task reaches (up to the order inside a task). A ceiling read from the
    /// outcomes being scored, not a router.
    pub gap_order_cpt50: f64,
    /// Each row scored by its task's mean difficulty score.
    pub difficulty_cpt50: f64,
    /// Each row scored by its task's mean prompt length.
    pub length_cpt50: f64,
    /// The tasks in the gap's order as for `gap_order_cpt50`, the rows inside each task ordered by the
    /// difficulty score: what the score adds inside tasks, free of the tasks' offsets (below the ceiling
    /// when it orders a task's prompts by their gap better than chance).
    pub difficulty_inside_cpt50: f64,
    /// The same with the rows inside each task ordered by prompt length.
    pub length_inside_cpt50: f64,
}

/// Each value replaced by the mean of `values` over the entries of the same task.
fn task_means(values: &[f64], tasks: &[Option<&str>]) -> Vec<f64> {
    let mut sums: BTreeMap<Option<&str>, (f64, usize)> = BTreeMap::new();
    for (v, t) in values.iter().zip(tasks) {
        let s = sums.entry(*t).or_default();
        s.0 += v;
        s.1 += 1;
    }
    tasks
        .iter()
        .map(|t| sums.get(t).map_or(0.0, |&(sum, n)| sum / n as f64))
        .collect()
}

/// A routing score that ranks tasks by `task_key` (higher first) and, inside a task, rows by `values`:
/// the task's rank among the distinct keys plus a squash of the value into (0, 1), which keeps the order
/// and the ties of `values` inside the task.
fn inside_order(values: &[f64], task_key: &[f64]) -> Vec<f64> {
    let mut keys: Vec<f64> = task_key.to_vec();
    keys.sort_by(f64::total_cmp);
    keys.dedup();
    values
        .iter()
        .zip(task_key)
        .map(|(v, k)| {
            let rank = keys.partition_point(|x| x < k) as f64;
            rank + 0.5 + v.atan() / std::f64::consts::PI
        })
        .collect()
}

/// The pair routed by task alone (see [`BetweenTasks`]); rows without a task form one task of their own.
fn between_tasks(
    tasks: &[Option<&str>],
    scores: &[f64],
    lengths: &[f64],
    strong: &[f64],
    weak: &[f64],
) -> Option<BetweenTasks> {
    let distinct: BTreeSet<Option<&str>> = tasks.iter().copied().collect();
    if distinct.len() < 2 {
        return None;
    }
    let gaps: Vec<f64> = strong.iter().zip(weak).map(|(s, w)| s - w).collect();
    let task_gaps = task_means(&gaps, tasks);
    let cpt50 = |order: &[f64]| metrics::pair_metrics(order, strong, weak).cpt50;
    Some(BetweenTasks {
        tasks: distinct.len(),
        gap_order_cpt50: cpt50(&task_gaps),
        difficulty_cpt50: cpt50(&task_means(scores, tasks)),
        length_cpt50: cpt50(&task_means(lengths, tasks)),
        difficulty_inside_cpt50: cpt50(&inside_order(scores, &task_gaps)),
        length_inside_cpt50: cpt50(&inside_order(lengths, &task_gaps)),
    })
}

/// The leave-one-source-out figures of every source, with the resampling interval of their mean advantage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceTransfers {
    pub sources: Vec<SourceTransfer>,
    /// 95% bootstrap interval of the mean over sources of `length_cpt50 − difficulty_cpt50` (each source
    /// resampled on its own); `None` without sources.
    pub mean_cpt50_advantage_ci: Option<(f64, f64)>,
}

/// For every source with per-prompt outcomes: the difficulty head fitted on the training rows of every
/// other source, scored on all of this source's rows (it saw none of them), against prompt length.
pub(super) fn source_transfer(corpus: &Corpus, train: &[usize]) -> Result<SourceTransfers> {
    let sources: BTreeSet<&str> = corpus
        .records
        .iter()
        .filter(|r| !r.outcomes.is_empty())
        .map(|r| r.source.as_str())
        .collect();
    let mut out = Vec::new();
    let mut resamples: Vec<Vec<f64>> = Vec::new();
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
        let tasks: Vec<Option<&str>> = rows
            .iter()
            .map(|&i| corpus.records[i].task.as_deref())
            .collect();
        // Each source its own seed, so the sources' resamples are independent draws.
        let advantage = metrics::cpt50_advantage_resamples(
            &scores,
            &lengths,
            &strong_o,
            &weak_o,
            metrics::BOOTSTRAP_RESAMPLES,
            out.len() as u64,
        );
        out.push(SourceTransfer {
            cpt50_advantage_ci: metrics::percentile_interval(&advantage, 0.95),
            source: source.to_string(),
            rows: rows.len(),
            difficulty_spearman: metrics::spearman(&scores, &failure),
            difficulty_auc: metrics::roc_auc(&scores, &weak_fails),
            difficulty_cpt50: metrics::pair_metrics(&scores, &strong_o, &weak_o).cpt50,
            length_spearman: metrics::spearman(&lengths, &failure),
            length_auc: metrics::roc_auc(&lengths, &weak_fails),
            length_cpt50: metrics::pair_metrics(&lengths, &strong_o, &weak_o).cpt50,
            between_tasks: between_tasks(&tasks, &scores, &lengths, &strong_o, &weak_o),
            strong,
            weak,
        });
        resamples.push(advantage);
    }
    Ok(SourceTransfers {
        sources: out,
        mean_cpt50_advantage_ci: mean_interval(&resamples),
    })
}

/// The 95% interval of a mean over sources from each source's own bootstrap resamples: resample `r` of the
/// mean is the mean of every source's resample `r` (NaN, and so left out, when one of them is missing or
/// NaN). `None` without sources.
fn mean_interval(resamples: &[Vec<f64>]) -> Option<(f64, f64)> {
    let longest = resamples.iter().map(Vec::len).max()?;
    let means: Vec<f64> = (0..longest)
        .map(|r| {
            resamples
                .iter()
                .map(|a| a.get(r).copied().unwrap_or(f64::NAN))
                .sum::<f64>()
                / resamples.len() as f64
        })
        .collect();
    Some(metrics::percentile_interval(&means, 0.95))
}

/// Leave-one-source-out domain accuracy of one source.
#[derive(Debug, Clone, Serialize)]
pub struct DomainTransfer {
    pub source: String,
    /// The source's rows with a domain label (all of them, training and held-out).
    pub rows: usize,
    pub correct: usize,
}

/// For every source with domain labels: the domain head fitted on the training rows of every other
/// source, scored on all of this source's labelled rows. A prompt from a source the head never saw is
/// what `/v1/classify` meets; the held-out split, drawn from the same sources as the fit, flatters it.
pub(super) fn domain_transfer(corpus: &Corpus, train: &[usize]) -> Result<Vec<DomainTransfer>> {
    let labelled = |i: usize| corpus.records[i].domain.is_some();
    let sources: BTreeSet<&str> = corpus
        .records
        .iter()
        .filter(|r| r.domain.is_some())
        .map(|r| r.source.as_str())
        .collect();
    let mut out = Vec::new();
    for source in sources {
        let fit_rows: Vec<usize> = train
            .iter()
            .copied()
            .filter(|&i| labelled(i) && corpus.records[i].source != source)
            .collect();
        if fit_rows.is_empty() {
            continue;
        }
        // Without the noisy copies: one head per source is the report's largest fit, and the copies
        // bring no new source to transfer from.
        let head = fit_domain_head(corpus, &fit_rows)?;
        let (mut rows, mut correct) = (0, 0);
        for (i, r) in corpus.records.iter().enumerate() {
            if r.source != source || corpus.is_copy(i) {
                continue;
            }
            if let Some(d) = r.domain {
                rows += 1;
                correct += usize::from(head.predict(&corpus.domain_row(i, head.input)) == d);
            }
        }
        out.push(DomainTransfer {
            source: source.to_string(),
            rows,
            correct,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{between_tasks, domain_transfer, inside_order, mean_interval, task_means};
    use crate::labels::FEATURE_DIM;
    use crate::training::dataset::TrainingRecord;
    use crate::training::Corpus;

    fn record(source: &str, domain: Option<usize>) -> TrainingRecord {
        TrainingRecord {
            domain,
            ..TrainingRecord::bare(source)
        }
    }

    /// A row of `domain` whose features point along that domain's axis (`flip` points it along the
    /// other domain's axis: a source that labels the opposite way to the rest).
    fn features(domain: usize, flip: bool, jitter: f32) -> Vec<f32> {
        let mut x = vec![0.0; FEATURE_DIM];
        x[if flip { 1 - domain } else { domain }] = 1.0;
        x[2] = jitter;
        x
    }

    /// Leave-one-source-out domain accuracy, as (source, rows, correct), of 30 rows per source (every
    /// third held out: scored, never fitted on) and one row of a source without domain labels.
    fn transfer(sources: &[(&str, bool)]) -> Vec<(String, usize, usize)> {
        let mut records = Vec::new();
        let mut xs = Vec::new();
        let mut held_out = Vec::new();
        for &(source, flip) in sources {
            for k in 0..30 {
                let domain = k % 2;
                records.push(record(source, Some(domain)));
                xs.push(features(domain, flip, k as f32 / 30.0));
                held_out.push(k % 3 == 0);
            }
        }
        records.push(record("unlabelled", None));
        xs.push(features(0, false, 0.0));
        held_out.push(false);
        let corpus = Corpus::from_features(records, xs, held_out);
        domain_transfer(&corpus, &corpus.train_indices())
            .unwrap()
            .into_iter()
            .map(|t| (t.source, t.rows, t.correct))
            .collect()
    }

    #[test]
    fn each_source_is_scored_by_a_head_fitted_without_it_on_all_its_rows() {
        let row = |s: &str, rows, correct| (s.to_string(), rows, correct);
        // With "a" left out, "b" and "c" outvote "odd" and teach the axes: all of "a" is right; "odd",
        // which labels the other way, is wrong on every row, held-out ones included. The unlabelled
        // source is not reported.
        assert_eq!(
            transfer(&[("a", false), ("b", false), ("c", false), ("odd", true)]),
            vec![
                row("a", 30, 30),
                row("b", 30, 30),
                row("c", 30, 30),
                row("odd", 30, 0)
            ]
        );
        // Two sources that disagree: each is scored by the other's head alone, so both are all wrong
        // (a head that had seen the source itself would get its training rows right).
        assert_eq!(
            transfer(&[("a", false), ("odd", true)]),
            vec![row("a", 30, 0), row("odd", 30, 0)]
        );
    }

    #[test]
    fn the_mean_interval_averages_resample_by_resample() {
        assert_eq!(mean_interval(&[]), None);
        // Source a resamples 0..=40, source b the same reversed and shifted by 0.2: resample r of the
        // mean is (r + (40 − r)) / 2 + 0.1 = 20.1 whatever r, so the interval is a single point.
        let a: Vec<f64> = (0..=40).map(f64::from).collect();
        let b: Vec<f64> = a.iter().rev().map(|v| v + 0.2).collect();
        let (lo, hi) = mean_interval(&[a.clone(), b]).expect("two sources");
        assert!(
            (lo - 20.1).abs() < 1e-9 && (hi - 20.1).abs() < 1e-9,
            "{lo} {hi}"
        );
        // One source: its own interval. A NaN resample of either source drops that resample of the mean.
        assert_eq!(mean_interval(std::slice::from_ref(&a)), Some((1.0, 39.0)));
        let mut c = vec![0.0; 41];
        c[0] = f64::NAN;
        c[40] = f64::NAN;
        assert_eq!(mean_interval(&[a, c]), Some((1.0, 19.0)));
    }

    #[test]
    fn task_means_average_inside_each_task_rows_without_a_task_included() {
        let tasks = [Some("a"), None, Some("a"), Some("b"), None];
        assert_eq!(
            task_means(&[1.0, 10.0, 3.0, 7.0, 20.0], &tasks),
            vec![2.0, 15.0, 2.0, 7.0, 15.0]
        );
    }

    #[test]
    fn routing_by_task_alone_reaches_what_the_tasks_gaps_allow() {
        // Task "fmt": the weak provider fails all 4 rows the strong one passes (gap 1 a row); task "hard":
        // both fail 2 rows and pass 2 (gap 0). Half of the total gap (4 of 8 rows' worth: 2) is reached
        // after 2 strong calls when "fmt" comes first (25%), after 4 + 2 when "hard" does (75%).
        let tasks = [
            Some("fmt"),
            Some("hard"),
            Some("fmt"),
            Some("hard"),
            Some("fmt"),
            Some("hard"),
            Some("fmt"),
            Some("hard"),
        ];
        let strong = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0];
        let weak = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        // The score ranks the rows of "hard" higher, item by item and so on average; length the reverse.
        let scores = [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6];
        let lengths = [90.0, 10.0, 80.0, 20.0, 70.0, 30.0, 60.0, 40.0];
        let b = between_tasks(&tasks, &scores, &lengths, &strong, &weak).expect("two tasks");
        assert_eq!(b.tasks, 2);
        assert!((b.gap_order_cpt50 - 0.25).abs() < 1e-9, "{b:?}");
        assert!((b.difficulty_cpt50 - 0.75).abs() < 1e-9, "{b:?}");
        assert!((b.length_cpt50 - 0.25).abs() < 1e-9, "{b:?}");
        // Inside the gap's order, "fmt" (all gap 1) first; inside "hard" (all gap 0) any order: 25% both.
        assert!((b.difficulty_inside_cpt50 - 0.25).abs() < 1e-9, "{b:?}");
        assert!((b.length_inside_cpt50 - 0.25).abs() < 1e-9, "{b:?}");
        // One task (or none named): nothing to order between.
        assert!(between_tasks(&[Some("x"); 8], &scores, &lengths, &strong, &weak).is_none());
        assert!(between_tasks(&[None; 8], &scores, &lengths, &strong, &weak).is_none());
    }

    #[test]
    fn inside_a_task_the_order_of_the_values_decides_and_the_tasks_key_comes_first() {
        // Task keys 0.5 (rows 0, 1, 4) and 0.1 (rows 2, 3); values wide apart, one tie inside the first.
        let order = inside_order(&[-300.0, 2.0, 1e6, 0.0, 2.0], &[0.5, 0.5, 0.1, 0.1, 0.5]);
        let above = |a: usize, b: usize| order[a] > order[b];
        // Every row of the higher-keyed task above every row of the other, whatever the values.
        for hi in [0, 1, 4] {
            for lo in [2, 3] {
                assert!(above(hi, lo), "{order:?}");
            }
        }
        // Inside a task the values' order, ties kept.
        assert!(above(1, 0) && above(2, 3), "{order:?}");
        assert_eq!(order[1], order[4]);
    }

    #[test]
    fn inside_tasks_a_score_that_follows_the_gap_beats_one_that_does_not() {
        // One task of 8 rows, the weak provider failing where the strong one passes on rows 0-3 only, and a
        // second task where both pass: the score that puts rows 0-3 first reaches half the gap in 2 strong
        // calls of 10 (20%), the reverse order inside the first task only after 4 + 2 (60%).
        let tasks = [Some("a"); 8]
            .into_iter()
            .chain([Some("b"); 2])
            .collect::<Vec<_>>();
        let strong = [1.0; 10];
        let weak = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let follows: Vec<f64> = (0..10).map(|i| -(i as f64)).collect();
        let reverse: Vec<f64> = (0..8).map(f64::from).chain([0.0, 0.0]).collect();
        let b = between_tasks(&tasks, &follows, &reverse, &strong, &weak).expect("two tasks");
        assert!((b.difficulty_inside_cpt50 - 0.2).abs() < 1e-9, "{b:?}");
        assert!((b.length_inside_cpt50 - 0.6).abs() < 1e-9, "{b:?}");
    }
}
