//! Held-out evaluation: domain accuracy, difficulty ranking, routing cost/quality against real outcomes,
//! the same routing figures for reference routers, and leave-one-task-out transfer of difficulty.

use super::table_fit::DEFAULT_OUTPUT_TOKENS;
use super::{metrics, Corpus, Fitted};
use crate::error::Result;
use crate::routing::{ProviderRegistry, RoutingTable, DOMAINS};
use serde::Serialize;
use std::collections::BTreeMap;

/// Routing figures of one router on one provider group.
#[derive(Debug, Clone, Serialize)]
pub struct RoutingFigures {
    pub router: String,
    pub aiq: f64,
    pub aiq_gain: f64,
    /// Largest cost saving versus the best single provider at ≥ its real mean quality (0 if never reached).
    pub saving_at_best: f64,
    /// Fraction of the oracle's AIQ gain over the zero router that this router reaches.
    pub oracle_gain_fraction: f64,
    /// 95% bootstrap interval of `aiq_gain` over the group's prompts; measured for the labels router (the
    /// first) only, the figure that decides between artifacts.
    pub aiq_gain_ci: Option<(f64, f64)>,
}

/// Where the labels router's decisions land at the recommended `max_quality_drop` (what serving does by
/// default), on the group's held-out prompts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KnobFigures {
    pub max_quality_drop: f32,
    /// Mean real quality of the decisions.
    pub quality: f64,
    /// Cost saving versus always using the best single provider (`1 − cost / its cost`).
    pub saving: f64,
}

/// RouteLLM pair metrics for one routing score.
#[derive(Debug, Clone, Serialize)]
pub struct PairFigures {
    pub score: String,
    pub apgr: f64,
    pub cpt50: f64,
    pub cpt80: f64,
}

/// Everything measured on one provider group (a source whose providers share prompts).
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub providers: Vec<String>,
    pub rows: usize,
    /// The best single provider on the training rows: the strong side of the pair figures.
    pub best_single: String,
    /// The best single provider on the held-out prompts (highest mean quality, then lowest cost): the one
    /// `best_single_quality`, saving@best and the at-knob figures are measured against.
    pub held_out_best: String,
    /// Its mean quality on the held-out prompts.
    pub best_single_quality: f64,
    pub cheapest: String,
    pub zero_aiq: f64,
    pub oracle_saving: f64,
    pub difficulty_spearman: f64,
    pub cheapest_fails_auc: f64,
    pub length_spearman: f64,
    pub length_auc: f64,
    pub routing: Vec<RoutingFigures>,
    /// The labels router at the recommended knob, when the evaluation was given one.
    pub at_knob: Option<KnobFigures>,
    /// The group of serving's default set (the providers enabled by default), which the knob is tuned on.
    pub default_set: bool,
    pub pair: Vec<PairFigures>,
}

/// Leave-one-task-out figures, pooled over the left-out tasks.
#[derive(Debug, Clone, Serialize)]
pub struct TransferReport {
    pub group: String,
    pub tasks: usize,
    pub rows: usize,
    pub difficulty_spearman: f64,
    pub difficulty_auc: f64,
    pub difficulty_cpt50: f64,
    pub length_spearman: f64,
    pub length_auc: f64,
    pub length_cpt50: f64,
    /// 95% paired-bootstrap interval of `length_cpt50 − difficulty_cpt50` (positive: difficulty ahead).
    pub cpt50_advantage_ci: (f64, f64),
}

/// The whole held-out report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub held_out_rows: usize,
    pub domain_rows: usize,
    pub domain_accuracy: f64,
    pub domain_macro_f1: f64,
    /// (source, correct, labelled) on the held-out split.
    pub domain_by_source: Vec<(String, usize, usize)>,
    pub groups: Vec<GroupReport>,
    /// Leave-one-task-out, for every group whose source has at least two tasks of ≥ 30 rows.
    pub transfer: Vec<TransferReport>,
    /// Leave-one-source-out difficulty, for every source with per-prompt outcomes.
    pub source_transfer: SourceTransfers,
    /// Leave-one-source-out domain accuracy, for every source with domain labels.
    pub domain_transfer: Vec<DomainTransfer>,
    /// The hand-written probe sets (filled in by the retrain, which has the embedder).
    pub probes: Vec<crate::training::probe::ProbeReport>,
}

impl Report {
    /// The figure used to compare two sets of artifacts: AIQ gain of the labels router on the first group.
    pub fn headline_gain(&self) -> f64 {
        self.groups
            .first()
            .and_then(|g| g.routing.first())
            .map_or(f64::NEG_INFINITY, |r| r.aiq_gain)
    }

    /// The group the recommended knob is tuned on (as the cross-validation picks it): the default set's
    /// when it forms one, else the largest.
    pub fn knob_group(&self) -> Option<&GroupReport> {
        self.groups
            .iter()
            .find(|g| g.default_set)
            .or_else(|| self.groups.first())
    }
}

impl GroupReport {
    /// Whether the labels router's decisions at the recommended knob reach the best single provider's
    /// held-out quality; `None` when they were not measured.
    pub fn knob_keeps_best(&self) -> Option<bool> {
        self.at_knob
            .map(|k| k.quality >= self.best_single_quality - 1e-9)
    }
}

/// A provider group to evaluate: its providers (with outcomes and a price) and its held-out rows.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub providers: Vec<String>,
    pub rows: Vec<usize>,
    pub train_rows: Vec<usize>,
}

/// Groups of `corpus`, largest first: per source, the providers measured on ≥ 90% of its rows that have a
/// price, and the rows where all of them have outcomes.
pub fn groups(corpus: &Corpus, table: &RoutingTable, registry: &ProviderRegistry) -> Vec<Group> {
    let mut by_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in corpus.records.iter().enumerate() {
        if !r.outcomes.is_empty() {
            by_source.entry(r.source.as_str()).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for (source, rows) in by_source {
        let mut seen: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for &i in &rows {
            let r = &corpus.records[i];
            for p in r.outcomes.keys() {
                let e = seen.entry(p.as_str()).or_default();
                e.0 += 1;
                e.1 += usize::from(r.cost_usd.contains_key(p));
            }
        }
        // A provider is evaluated where it was measured on ≥ 90% of the rows and its cost is known: a price,
        // or a recorded cost_usd on those rows.
        let providers: Vec<String> = seen
            .iter()
            .filter(|(p, &(n, with_cost))| {
                n * 10 >= rows.len() * 9
                    && table.provider_index(p).is_some()
                    && (price_of(table, registry, p).is_some() || with_cost == n)
            })
            .map(|(p, _)| p.to_string())
            .collect();
        if providers.len() < 2 {
            continue;
        }
        let complete = |i: &usize| {
            providers
                .iter()
                .all(|p| corpus.records[*i].outcomes.contains_key(p))
        };
        let held: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|i| corpus.held_out[*i] && complete(i))
            .collect();
        let train: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|i| !corpus.held_out[*i] && complete(i))
            .collect();
        if held.is_empty() || train.is_empty() {
            continue;
        }
        out.push(Group {
            name: source.to_string(),
            providers,
            rows: held,
            train_rows: train,
        });
    }
    out.sort_by_key(|g| std::cmp::Reverse(g.rows.len()));
    out
}

/// The group serving's default set forms: the first of `groups` whose providers include every name of
/// `set`, narrowed to those providers (same rows). `None` when `set` has fewer than two names or no group
/// holds them all (a default set drawn from several groups has no common prompts to be judged on).
pub fn default_group(groups: &[Group], set: &[String]) -> Option<Group> {
    if set.len() < 2 {
        return None;
    }
    let g = groups
        .iter()
        .find(|g| set.iter().all(|p| g.providers.contains(p)))?;
    Some(Group {
        name: format!("{} (default set)", g.name),
        providers: g
            .providers
            .iter()
            .filter(|p| set.contains(p))
            .cloned()
            .collect(),
        rows: g.rows.clone(),
        train_rows: g.train_rows.clone(),
    })
}

fn price_of(table: &RoutingTable, registry: &ProviderRegistry, name: &str) -> Option<(f64, f64)> {
    let stats = table.provider_index(name).map(|k| &table.providers[k]);
    let reg = registry.get(name);
    let input = reg
        .and_then(|p| p.input_usd_per_mtok)
        .or_else(|| stats.and_then(|s| s.input_usd_per_mtok))?;
    let output = reg
        .and_then(|p| p.output_usd_per_mtok)
        .or_else(|| stats.and_then(|s| s.output_usd_per_mtok))?;
    Some((input, output))
}

/// Real cost of sending row `i` to provider `p`: the recorded cost, else recorded tokens × price, else the
/// prompt's own token count and the documented per-domain output default × price.
pub fn real_cost(corpus: &Corpus, i: usize, p: &str, price: (f64, f64), domain: usize) -> f64 {
    let r = &corpus.records[i];
    if let Some(&c) = r.cost_usd.get(p) {
        return c;
    }
    let t = r.tokens.get(p).copied().unwrap_or_default();
    let input = t.input.unwrap_or(corpus.embeddings[i].full_tokens as f64);
    let output = t.output.unwrap_or(DEFAULT_OUTPUT_TOKENS[domain] as f64);
    (input * price.0 + output * price.1) / 1e6
}

mod cv;
mod routers;
mod transfer;

pub use cv::{cv_scores, CvScore};
use routers::estimates;
pub use routers::{
    domain_router, evaluation_policy, head_labels, true_task_router, LabelFn, Router,
};
pub use transfer::{BetweenTasks, DomainTransfer, SourceTransfer, SourceTransfers};

/// Evaluates the fitted heads and table, plus reference routers, on the held-out split.
/// `default_set` (serving's enabled providers), when it forms a group of its own, is reported as one more
/// group after the data's groups.
pub fn evaluate(
    corpus: &Corpus,
    fitted: &Fitted,
    train: &[usize],
    with_references: bool,
    default_set: Option<&[String]>,
    knob: Option<f32>,
) -> Result<Report> {
    let held = corpus.held_out_indices();
    // Domain.
    let (mut pred, mut truth) = (Vec::new(), Vec::new());
    let mut by_source: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for &i in &held {
        if let Some(d) = corpus.records[i].domain {
            let p = fitted
                .heads
                .domain
                .predict(&corpus.domain_row(i, fitted.heads.domain.input));
            truth.push(d);
            pred.push(p);
            let e = by_source
                .entry(corpus.records[i].source.clone())
                .or_default();
            e.0 += usize::from(p == d);
            e.1 += 1;
        }
    }
    let policy = evaluation_policy(fitted.table.clone())?;
    let heads = &fitted.heads;
    let mut routers = vec![Router {
        name: "labels (domain/task x difficulty)".into(),
        policy,
        label: Box::new(move |i| head_labels(heads, corpus, i)),
    }];
    if with_references {
        routers.push(true_task_router(
            corpus,
            train,
            fitted.settings.pseudo_count,
        )?);
        routers.push(domain_router(
            corpus,
            train,
            heads,
            fitted.settings.pseudo_count,
        )?);
    }
    let registry = ProviderRegistry::from_table_defaults(&fitted.table);
    let groups = groups(corpus, &fitted.table, &registry);
    let mut reports = Vec::new();
    for g in &groups {
        reports.push(evaluate_group(
            corpus, fitted, &routers, g, &registry, knob,
        )?);
    }
    if let Some(d) = default_set.and_then(|set| default_group(&groups, set)) {
        let mut report = evaluate_group(corpus, fitted, &routers, &d, &registry, knob)?;
        report.default_set = true;
        reports.push(report);
    }
    let mut transfer = Vec::new();
    if with_references {
        for g in &groups {
            if let Some(t) = transfer::task_transfer(corpus, train, g, &registry, &fitted.table)? {
                transfer.push(t);
            }
        }
    }
    let (source_transfer, domain_transfer) = if with_references {
        (
            transfer::source_transfer(corpus, train)?,
            transfer::domain_transfer(corpus, train)?,
        )
    } else {
        (SourceTransfers::default(), Vec::new())
    };
    Ok(Report {
        held_out_rows: held.len(),
        domain_rows: truth.len(),
        domain_accuracy: metrics::accuracy(&pred, &truth),
        domain_macro_f1: metrics::macro_f1(&pred, &truth, DOMAINS.len()),
        domain_by_source: by_source.into_iter().map(|(s, (c, n))| (s, c, n)).collect(),
        groups: reports,
        transfer,
        source_transfer,
        domain_transfer,
        probes: Vec::new(),
    })
}

struct GroupTruth {
    outcomes: Vec<Vec<f64>>,
    costs: Vec<Vec<f64>>,
    best: usize,
    cheapest: usize,
}

/// Per-prompt ground truth for the difficulty and pair figures.
struct PairTruth {
    /// Fraction of the group's providers that fail (1 − mean outcome).
    failure: Vec<f64>,
    /// Whether the cheapest provider fails (outcome < 0.5).
    cheap_fails: Vec<bool>,
    /// Outcomes of the best single provider.
    strong: Vec<f64>,
    /// Outcomes of the cheapest provider.
    weak: Vec<f64>,
}

impl GroupTruth {
    fn pair_truth(&self) -> PairTruth {
        let column = |k: usize| self.outcomes.iter().map(|r| r[k]).collect::<Vec<f64>>();
        PairTruth {
            failure: self
                .outcomes
                .iter()
                .map(|r| 1.0 - r.iter().sum::<f64>() / r.len() as f64)
                .collect(),
            cheap_fails: self
                .outcomes
                .iter()
                .map(|r| r[self.cheapest] < 0.5)
                .collect(),
            strong: column(self.best),
            weak: column(self.cheapest),
        }
    }
}

fn group_truth(
    corpus: &Corpus,
    g: &Group,
    rows: &[usize],
    registry: &ProviderRegistry,
    table: &RoutingTable,
) -> GroupTruth {
    let prices: Vec<(f64, f64)> = g
        .providers
        .iter()
        .map(|p| price_of(table, registry, p).unwrap_or((0.0, 0.0)))
        .collect();
    let matrix = |rows: &[usize]| -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let o = rows
            .iter()
            .map(|&i| {
                g.providers
                    .iter()
                    .map(|p| corpus.records[i].outcomes.get(p).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        let c = rows
            .iter()
            .map(|&i| {
                let d = corpus.records[i].domain.unwrap_or(5);
                g.providers
                    .iter()
                    .zip(&prices)
                    .map(|(p, &pr)| real_cost(corpus, i, p, pr, d))
                    .collect()
            })
            .collect();
        (o, c)
    };
    // The pair (best, cheapest other) is chosen on the training rows, never on held-out.
    let (to, tc) = matrix(&g.train_rows);
    let mean_col =
        |m: &Vec<Vec<f64>>, k: usize| m.iter().map(|r| r[k]).sum::<f64>() / m.len().max(1) as f64;
    let np = g.providers.len();
    let best = (0..np)
        .max_by(|&a, &b| mean_col(&to, a).total_cmp(&mean_col(&to, b)))
        .unwrap_or(0);
    // The weak side of the pair is the cheapest of the *other* providers: when the best is also the
    // cheapest, a (best, best) pair would make every pair figure degenerate.
    let cheapest = (0..np)
        .filter(|&k| k != best || np < 2)
        .min_by(|&a, &b| {
            mean_col(&tc, a)
                .total_cmp(&mean_col(&tc, b))
                .then(mean_col(&to, b).total_cmp(&mean_col(&to, a)))
        })
        .unwrap_or(0);
    let (outcomes, costs) = matrix(rows);
    GroupTruth {
        outcomes,
        costs,
        best,
        cheapest,
    }
}

fn evaluate_group(
    corpus: &Corpus,
    fitted: &Fitted,
    routers: &[Router],
    g: &Group,
    registry: &ProviderRegistry,
    knob: Option<f32>,
) -> Result<GroupReport> {
    let truth = group_truth(corpus, g, &g.rows, registry, &fitted.table);
    let mut routing = Vec::new();
    let mut zero_aiq = 0.0;
    let mut oracle_saving = 0.0;
    let mut best_quality = 0.0;
    let mut held_out_best = 0;
    let mut gap_score: Vec<f64> = Vec::new();
    let mut at_knob = None;
    for router in routers {
        let (eq, ec) = estimates(&router.policy, &router.label, &g.rows, &g.providers);
        if gap_score.is_empty() {
            // The labels router's own pair score: expected quality of the best minus the cheapest provider.
            gap_score = eq
                .iter()
                .map(|r| r[truth.best] - r[truth.cheapest])
                .collect();
        }
        let a = metrics::aiq(&truth.outcomes, &truth.costs, &eq, &ec);
        let s = metrics::saving_at_best(&truth.outcomes, &truth.costs, &eq, &ec);
        if let (Some(drop), true) = (knob, routing.is_empty()) {
            let (quality, cost) = metrics::realize_at_drop(
                &truth.outcomes,
                &truth.costs,
                &eq,
                &ec,
                g.providers.len(),
                f64::from(drop),
            );
            at_knob = Some(KnobFigures {
                max_quality_drop: drop,
                quality,
                saving: 1.0 - cost / s.best_cost,
            });
        }
        let frac = metrics::oracle_gain_fraction(&truth.outcomes, &truth.costs, &eq, &ec);
        zero_aiq = a.zero_aiq;
        oracle_saving = s.oracle_saving;
        best_quality = s.best_quality;
        held_out_best = s.best_single;
        let aiq_gain_ci = routing.is_empty().then(|| {
            metrics::percentile_interval(
                &metrics::aiq_gain_resamples(
                    &truth.outcomes,
                    &truth.costs,
                    &eq,
                    &ec,
                    metrics::BOOTSTRAP_RESAMPLES,
                    0,
                ),
                0.95,
            )
        });
        routing.push(RoutingFigures {
            aiq_gain_ci,
            router: router.name.clone(),
            aiq: a.aiq,
            aiq_gain: a.aiq - a.zero_aiq,
            saving_at_best: s.saving,
            oracle_gain_fraction: frac.fraction.unwrap_or(f64::NAN),
        });
    }
    let scores = difficulty_scores(&fitted.heads.difficulty, corpus, &g.rows);
    let lengths = prompt_lengths(corpus, &g.rows);
    let PairTruth {
        failure,
        cheap_fails,
        strong,
        weak,
    } = truth.pair_truth();
    let pair = |name: &str, s: &[f64]| {
        let m = metrics::pair_metrics(s, &strong, &weak);
        PairFigures {
            score: name.into(),
            apgr: m.apgr,
            cpt50: m.cpt50,
            cpt80: m.cpt80,
        }
    };
    Ok(GroupReport {
        group: g.name.clone(),
        providers: g.providers.clone(),
        rows: g.rows.len(),
        best_single: g.providers[truth.best].clone(),
        held_out_best: g.providers.get(held_out_best).cloned().unwrap_or_default(),
        best_single_quality: best_quality,
        cheapest: g.providers[truth.cheapest].clone(),
        zero_aiq,
        oracle_saving,
        difficulty_spearman: metrics::spearman(&scores, &failure),
        cheapest_fails_auc: metrics::roc_auc(&scores, &cheap_fails),
        length_spearman: metrics::spearman(&lengths, &failure),
        length_auc: metrics::roc_auc(&lengths, &cheap_fails),
        routing,
        at_knob,
        default_set: false,
        pair: vec![
            pair("difficulty", &scores),
            pair("quality gap", &gap_score),
            pair("prompt length", &lengths),
        ],
    })
}

/// The difficulty head's scores of `rows`, as one matrix product.
fn difficulty_scores(
    head: &crate::labels::DifficultyHead,
    corpus: &Corpus,
    rows: &[usize],
) -> Vec<f64> {
    let width = crate::labels::FEATURE_DIM;
    let mut x = ndarray::Array2::<f32>::zeros((rows.len(), width));
    for (mut row, &i) in x.rows_mut().into_iter().zip(rows) {
        for (v, f) in row.iter_mut().zip(&corpus.features[i]) {
            *v = *f;
        }
    }
    head.score_batch(x.view())
        .iter()
        .map(|&s| f64::from(s))
        .collect()
}

/// The prompt-length baseline score: each row's whole prompt in tokens, before truncation.
fn prompt_lengths(corpus: &Corpus, rows: &[usize]) -> Vec<f64> {
    rows.iter()
        .map(|&i| corpus.embeddings[i].full_tokens as f64)
        .collect()
}

#[cfg(test)]
mod tests;
