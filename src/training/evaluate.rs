//! Held-out evaluation: domain accuracy, difficulty ranking, routing cost/quality against real outcomes,
//! the same routing figures for reference routers, and leave-one-task-out transfer of difficulty.

use super::table_fit::{self, DEFAULT_OUTPUT_TOKENS};
use super::{metrics, Corpus, Fitted};
use crate::error::Result;
use crate::labels::{argmax, Heads};
use crate::routing::{Policy, PriceRegistry, PromptLabels, RouteOptions, RoutingTable, DOMAINS};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

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
    pub best_single: String,
    pub best_single_quality: f64,
    pub cheapest: String,
    pub zero_aiq: f64,
    pub oracle_saving: f64,
    pub difficulty_spearman: f64,
    pub cheapest_fails_auc: f64,
    pub length_spearman: f64,
    pub length_auc: f64,
    pub routing: Vec<RoutingFigures>,
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
    pub transfer: Option<TransferReport>,
}

impl Report {
    /// The figure used to compare two sets of artifacts: AIQ gain of the labels router on the first group.
    pub fn headline_gain(&self) -> f64 {
        self.groups
            .first()
            .and_then(|g| g.routing.first())
            .map_or(f64::NEG_INFINITY, |r| r.aiq_gain)
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
pub fn groups(corpus: &Corpus, table: &RoutingTable, registry: &PriceRegistry) -> Vec<Group> {
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

fn price_of(table: &RoutingTable, registry: &PriceRegistry, name: &str) -> Option<(f64, f64)> {
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

/// How a router turns a row into table labels.
pub type LabelFn<'a> = Box<dyn Fn(usize) -> PromptLabels + 'a>;

/// Per-row estimates of a router restricted to a group's providers (`[row][provider]` quality and cost),
/// from the offers the policy gives the decision rule; an offer the rule would not admit gets an infinite
/// cost, which the rule treats as unusable. Group providers are sorted by name, so the column index
/// breaks ties exactly as the policy's name rank does.
fn estimates(
    policy: &Policy,
    label: &LabelFn,
    rows: &[usize],
    providers: &[String],
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let table = policy.table();
    let cols: Vec<usize> = providers
        .iter()
        .map(|p| table.provider_index(p).unwrap_or(usize::MAX))
        .collect();
    let mut q = Vec::with_capacity(rows.len());
    let mut c = Vec::with_capacity(rows.len());
    for &i in rows {
        let offers = policy.offers(&label(i), &cols);
        q.push(offers.iter().map(|o| o.quality).collect());
        c.push(
            offers
                .iter()
                .map(|o| if o.admitted { o.cost } else { f64::INFINITY })
                .collect(),
        );
    }
    (q, c)
}

/// A router under evaluation.
pub struct Router<'a> {
    pub name: String,
    pub policy: Policy,
    pub label: LabelFn<'a>,
}

/// Builds a policy over `table` with the data's own prices (all providers enabled).
pub fn evaluation_policy(table: RoutingTable) -> Result<Policy> {
    let registry = PriceRegistry::from_table_defaults(&table);
    Policy::new(table, registry, RouteOptions::default())
}

/// Labels of row `i` from a set of heads.
pub fn head_labels(heads: &Heads, corpus: &Corpus, i: usize) -> PromptLabels {
    heads.label(&corpus.embeddings[i]).prompt_labels()
}

/// Reference router: a table keyed by the true source task (what a perfect task classifier would give).
pub fn true_task_router<'a>(
    corpus: &'a Corpus,
    train: &[usize],
    pseudo_count: f32,
) -> Result<Router<'a>> {
    let key = |i: usize| {
        let r = &corpus.records[i];
        format!("{}:{}", r.source, r.task.as_deref().unwrap_or("-"))
    };
    reference_router(corpus, train, pseudo_count, "true task table", key, None)
}

/// Reference router: a table keyed by domain alone (soft domain probabilities, no difficulty).
pub fn domain_router<'a>(
    corpus: &'a Corpus,
    train: &[usize],
    heads: &'a Heads,
    pseudo_count: f32,
) -> Result<Router<'a>> {
    let key = |i: usize| {
        let d = corpus.records[i]
            .domain
            .unwrap_or_else(|| argmax(&heads.domain.probs(&corpus.features[i])));
        format!("domain:{}", DOMAINS[d])
    };
    reference_router(
        corpus,
        train,
        pseudo_count,
        "domain-only table",
        key,
        Some(heads),
    )
}

fn reference_router<'a>(
    corpus: &'a Corpus,
    train: &[usize],
    pseudo_count: f32,
    name: &str,
    key: impl Fn(usize) -> String,
    soft_domain: Option<&'a Heads>,
) -> Result<Router<'a>> {
    let rows: Vec<usize> = train
        .iter()
        .copied()
        .filter(|&i| !corpus.records[i].outcomes.is_empty())
        .collect();
    let keys: Vec<String> = rows.iter().map(|&i| key(i)).collect();
    let categories: Vec<String> = match soft_domain {
        Some(_) => DOMAINS.iter().map(|d| format!("domain:{d}")).collect(),
        None => keys
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let cindex: BTreeMap<String, usize> = categories
        .iter()
        .cloned()
        .enumerate()
        .map(|(k, c)| (c, k))
        .collect();
    let domain_of = |i: usize| corpus.records[i].domain.unwrap_or(5);
    let mut category_domain = vec![5usize; categories.len()];
    for (k, &i) in rows.iter().enumerate() {
        category_domain[cindex[&keys[k]]] = domain_of(i);
    }
    if soft_domain.is_some() {
        category_domain = (0..DOMAINS.len()).collect();
    }
    let table_rows: Vec<table_fit::TableRow> = rows
        .iter()
        .enumerate()
        .map(|(k, &i)| table_fit::TableRow {
            record: &corpus.records[i],
            category: cindex[&keys[k]],
            level: 0,
            domain: domain_of(i),
        })
        .collect();
    let providers = super::provider_infos(corpus, &rows);
    let table = table_fit::build_table(
        &table_rows,
        &categories,
        &category_domain,
        &providers,
        pseudo_count,
    );
    let policy = evaluation_policy(table)?;
    let n = categories.len();
    let label: LabelFn<'a> = match soft_domain {
        Some(heads) => Box::new(move |i| PromptLabels {
            category_probs: heads.domain.probs(&corpus.features[i]),
            level: 0,
            input_tokens: corpus.embeddings[i].full_tokens,
        }),
        None => Box::new(move |i| {
            let mut probs = vec![0f32; n];
            match cindex.get(&key_owned(corpus, i)) {
                Some(&k) => probs[k] = 1.0,
                None => probs.iter_mut().for_each(|p| *p = 1.0 / n as f32),
            }
            PromptLabels {
                category_probs: probs,
                level: 0,
                input_tokens: corpus.embeddings[i].full_tokens,
            }
        }),
    };
    Ok(Router {
        name: name.to_string(),
        policy,
        label,
    })
}

fn key_owned(corpus: &Corpus, i: usize) -> String {
    let r = &corpus.records[i];
    format!("{}:{}", r.source, r.task.as_deref().unwrap_or("-"))
}

/// Evaluates the fitted heads and table, plus reference routers, on the held-out split.
pub fn evaluate(
    corpus: &Corpus,
    fitted: &Fitted,
    train: &[usize],
    with_references: bool,
) -> Result<Report> {
    let held = corpus.held_out_indices();
    // Domain.
    let (mut pred, mut truth) = (Vec::new(), Vec::new());
    let mut by_source: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for &i in &held {
        if let Some(d) = corpus.records[i].domain {
            let p = argmax(&fitted.heads.domain.probs(&corpus.features[i]));
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
    let registry = PriceRegistry::from_table_defaults(&fitted.table);
    let groups = groups(corpus, &fitted.table, &registry);
    let mut reports = Vec::new();
    for g in &groups {
        reports.push(evaluate_group(corpus, fitted, &routers, g, &registry)?);
    }
    let transfer = match (with_references, groups.first()) {
        (true, Some(g)) => Some(transfer(corpus, train, g, &registry, &fitted.table)?),
        _ => None,
    };
    Ok(Report {
        held_out_rows: held.len(),
        domain_rows: truth.len(),
        domain_accuracy: metrics::accuracy(&pred, &truth),
        domain_macro_f1: metrics::macro_f1(&pred, &truth, DOMAINS.len()),
        domain_by_source: by_source.into_iter().map(|(s, (c, n))| (s, c, n)).collect(),
        groups: reports,
        transfer,
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
    registry: &PriceRegistry,
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
    // The pair (best, cheapest) is chosen on the training rows, never on held-out.
    let (to, tc) = matrix(&g.train_rows);
    let mean_col =
        |m: &Vec<Vec<f64>>, k: usize| m.iter().map(|r| r[k]).sum::<f64>() / m.len().max(1) as f64;
    let np = g.providers.len();
    let best = (0..np)
        .max_by(|&a, &b| mean_col(&to, a).total_cmp(&mean_col(&to, b)))
        .unwrap_or(0);
    let cheapest = (0..np)
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
    registry: &PriceRegistry,
) -> Result<GroupReport> {
    let truth = group_truth(corpus, g, &g.rows, registry, &fitted.table);
    let mut routing = Vec::new();
    let mut zero_aiq = 0.0;
    let mut oracle_saving = 0.0;
    let mut best_quality = 0.0;
    let mut gap_score: Vec<f64> = Vec::new();
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
        let frac = metrics::oracle_gain_fraction(&truth.outcomes, &truth.costs, &eq, &ec);
        zero_aiq = a.zero_aiq;
        oracle_saving = s.oracle_saving;
        best_quality = s.best_quality;
        routing.push(RoutingFigures {
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
        best_single_quality: best_quality,
        cheapest: g.providers[truth.cheapest].clone(),
        zero_aiq,
        oracle_saving,
        difficulty_spearman: metrics::spearman(&scores, &failure),
        cheapest_fails_auc: metrics::roc_auc(&scores, &cheap_fails),
        length_spearman: metrics::spearman(&lengths, &failure),
        length_auc: metrics::roc_auc(&lengths, &cheap_fails),
        routing,
        pair: vec![
            pair("difficulty", &scores),
            pair("quality gap", &gap_score),
            pair("prompt length", &lengths),
        ],
    })
}

/// Leave-one-task-out: for each task of the group's source with ≥ 30 rows, fit the difficulty head on the
/// training rows of every other task and score that task's rows; figures pooled over tasks.
fn transfer(
    corpus: &Corpus,
    train: &[usize],
    g: &Group,
    registry: &PriceRegistry,
    table: &RoutingTable,
) -> Result<TransferReport> {
    let targets = super::difficulty_targets(corpus, train)?;
    let all_rows: Vec<usize> = g.train_rows.iter().chain(&g.rows).copied().collect();
    let mut tasks: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in &all_rows {
        if let Some(t) = &corpus.records[i].task {
            tasks.entry(t.as_str()).or_default().push(i);
        }
    }
    tasks.retain(|_, rows| rows.len() >= 30);
    let (mut scores, mut rows_out) = (Vec::new(), Vec::new());
    for (task, rows) in &tasks {
        let fit_rows: Vec<usize> = targets
            .keys()
            .copied()
            .filter(|&i| corpus.records[i].task.as_deref() != Some(task))
            .collect();
        let x: Vec<Vec<f32>> = fit_rows
            .iter()
            .map(|&i| corpus.features[i].clone())
            .collect();
        let y: Vec<f32> = fit_rows.iter().map(|i| targets[i]).collect();
        let (w, b) = super::fit::fit_ridge(&x, &y, super::opts(super::DIFFICULTY_L2))?;
        let head = crate::labels::DifficultyHead {
            weights: w,
            bias: b,
            cuts: [0.0, 0.0],
        };
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
    Ok(TransferReport {
        group: g.name.clone(),
        tasks: tasks.len(),
        rows: rows_out.len(),
        difficulty_spearman: metrics::spearman(&scores, &failure),
        difficulty_auc: metrics::roc_auc(&scores, &cheap_fails),
        difficulty_cpt50: metrics::pair_metrics(&scores, &strong, &weak).cpt50,
        length_spearman: metrics::spearman(&lengths, &failure),
        length_auc: metrics::roc_auc(&lengths, &cheap_fails),
        length_cpt50: metrics::pair_metrics(&lengths, &strong, &weak).cpt50,
    })
}

/// Cross-validation score of settings on the training split: mean AIQ gain of the labels router on the
/// largest group over `folds` folds (no held-out row is touched).
pub fn cv_scores(
    corpus: &Corpus,
    train: &[usize],
    grid: &[super::FitSettings],
    folds: usize,
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
        let base = super::fit_base(corpus, &fit_rows)?;
        let val_set: BTreeSet<usize> = val_rows.iter().copied().collect();
        for (s, total) in grid.iter().zip(totals.iter_mut()) {
            let fitted = super::fit_with_base(corpus, &fit_rows, &base, *s)?;
            let policy = evaluation_policy(fitted.table.clone())?;
            let registry = PriceRegistry::from_table_defaults(&fitted.table);
            // Validation rows play the held-out role inside the fold.
            let mut gs = groups_on(corpus, &fitted.table, &registry, &val_set, &fit_rows);
            let Some(g) = gs.first_mut() else { continue };
            let truth = group_truth(corpus, g, &g.rows, &registry, &fitted.table);
            let heads = &fitted.heads;
            let label: LabelFn = Box::new(move |i| head_labels(heads, corpus, i));
            let (eq, ec) = estimates(&policy, &label, &g.rows, &g.providers);
            let a = metrics::aiq(&truth.outcomes, &truth.costs, &eq, &ec);
            total.aiq_gain += (a.aiq - a.zero_aiq) / folds as f64;
            if let Some((drop, _, _)) =
                metrics::saving_at_best(&truth.outcomes, &truth.costs, &eq, &ec).point
            {
                total.drops.push(drop);
            }
        }
    }
    Ok(totals)
}

/// Cross-validated figures of one setting.
#[derive(Debug, Clone, Default)]
pub struct CvScore {
    /// Mean AIQ gain over the folds.
    pub aiq_gain: f64,
    /// Per fold, the `max_quality_drop` that saved most while keeping the best single provider's quality.
    pub drops: Vec<f64>,
}

impl CvScore {
    /// The median of the folds' best drops: the default `max_quality_drop` these artifacts recommend.
    pub fn recommended_drop(&self) -> Option<f32> {
        let mut d = self.drops.clone();
        d.sort_by(|a, b| a.total_cmp(b));
        d.get(d.len() / 2).map(|&v| v as f32)
    }
}

/// Like [`groups`], with `eval` rows in the held-out role and `fit` rows in the training role.
fn groups_on(
    corpus: &Corpus,
    table: &RoutingTable,
    registry: &PriceRegistry,
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
mod tests {
    use super::*;
    use crate::routing::registry::ProviderPrice;
    use crate::routing::table::ProviderStats;
    use proptest::prelude::*;

    /// A random table (providers × categories × levels with holes), registry and prompt labels.
    fn world() -> impl Strategy<Value = (RoutingTable, PriceRegistry, PromptLabels, Vec<usize>, f32)>
    {
        (2usize..6, 1usize..4).prop_flat_map(|(np, nc)| {
            // Qualities on a coarse grid so that exact ties (equal quality, equal cost) occur often.
            let cell = prop_oneof![3 => (0u8..=10).prop_map(|q| Some(f32::from(q) / 10.0)), 1 => Just(None)];
            let quality = prop::collection::vec(prop::collection::vec(prop::collection::vec(cell, np), 3), nc);
            let price = prop_oneof![3 => (0u8..4, 0u8..4).prop_map(|(a, b)| Some((f64::from(a), f64::from(b)))), 1 => Just(None)];
            let prices = prop::collection::vec(price, np);
            let registry_price = prop::collection::vec(prop_oneof![Just(None), (0u8..4).prop_map(|a| Some(f64::from(a)))], np);
            let enabled = prop::collection::vec(any::<bool>(), np);
            let probs = prop::collection::vec(0u8..4, nc);
            let level = 0usize..3;
            let group = prop::sample::subsequence((0..np).collect::<Vec<_>>(), 1..=np);
            let drop = prop_oneof![Just(0.0f32), Just(0.1), Just(0.2), Just(1.0), (0u8..=60).prop_map(|x| f32::from(x) / 200.0)];
            (quality, prices, registry_price, enabled, probs, level, group, drop, 1usize..2000).prop_map(
                move |(quality, prices, registry_price, enabled, probs, level, group, drop, tokens)| {
                    // Names in an order unrelated to the table's, so tie keys (name ranks) differ from indices.
                    let names: Vec<String> = (0..np).map(|p| format!("p{}", (p * 7 + 3) % 10)).collect();
                    let providers = (0..np)
                        .map(|p| ProviderStats {
                            name: names[p].clone(),
                            group: "g".into(),
                            observations: 10,
                            mean_quality: 0.5,
                            input_usd_per_mtok: prices[p].map(|x| x.0),
                            output_usd_per_mtok: prices[p].map(|x| x.1),
                        })
                        .collect();
                    let table = RoutingTable {
                        providers,
                        categories: (0..nc).map(|c| format!("c{c}")).collect(),
                        category_domain: vec![0; nc],
                        counts: vec![vec![vec![1; np]; 3]; nc],
                        output_tokens: vec![vec![100.0; np]; nc],
                        observed_cost_usd: Vec::new(),
                        input_tokens: vec![vec![None; np]; nc],
                        pseudo_count: 1.0,
                        quality,
                    };
                    let registry = PriceRegistry::from_providers(
                        (0..np)
                            .map(|p| ProviderPrice {
                                name: names[p].clone(),
                                input_usd_per_mtok: registry_price[p],
                                output_usd_per_mtok: registry_price[p],
                                enabled: enabled[p],
                            })
                            .collect(),
                    )
                    .unwrap();
                    let mut category_probs: Vec<f32> = probs.iter().map(|&p| f32::from(p)).collect();
                    category_probs[0] += 1.0;
                    let labels = PromptLabels {
                        category_probs,
                        level,
                        input_tokens: tokens,
                    };
                    (table, registry, labels, group, drop)
                },
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The serving path (`Policy::decide` with the group as the allowed list) and the evaluation path
        /// (`estimates` + `metrics::choose_within_drop`, as the sweeps run) choose the same provider.
        #[test]
        fn serving_and_evaluation_choose_alike((table, registry, labels, group, drop) in world()) {
            let policy = Policy::new(table, registry, RouteOptions::default()).unwrap();
            // Group providers as `groups` lists them: sorted by name.
            let mut names: Vec<String> = group.iter().map(|&p| policy.table().providers[p].name.clone()).collect();
            names.sort();
            let served = policy.decide(
                &labels,
                &RouteOptions { max_quality_drop: Some(drop), allowed: Some(names.clone()), ..RouteOptions::default() },
            );
            let l = labels.clone();
            let label: LabelFn = Box::new(move |_| l.clone());
            let (q, c) = estimates(&policy, &label, &[0], &names);
            let usable = q[0].iter().zip(&c[0]).any(|(q, c)| !q.is_nan() && c.is_finite());
            match served {
                Ok(d) => {
                    prop_assert!(usable);
                    let i = metrics::choose_within_drop(&q[0], &c[0], f64::from(drop));
                    prop_assert_eq!(&names[i], &d.provider);
                    prop_assert_eq!(q[0][i], f64::from(d.expected_quality));
                    prop_assert_eq!(c[0][i], d.expected_cost_usd);
                }
                Err(_) => prop_assert!(!usable),
            }
        }
    }
}
