//! The routers under evaluation (the labels router and the reference tables) and their per-row estimates,
//! taken from the policy's offers to the decision rule.

use crate::error::Result;
use crate::labels::Heads;
use crate::routing::{Policy, PromptLabels, ProviderRegistry, RouteOptions, RoutingTable, DOMAINS};
use crate::training::table_fit;
use crate::training::Corpus;
use std::collections::{BTreeMap, BTreeSet};

/// How a router turns a row into table labels.
pub type LabelFn<'a> = Box<dyn Fn(usize) -> PromptLabels + 'a>;

/// Per-row estimates of a router restricted to a group's providers (`[row][provider]` quality and cost),
/// from the offers the policy gives the decision rule; an offer the rule would not admit gets an infinite
/// cost, which the rule treats as unusable. Group providers are sorted by name, so the column index
/// breaks ties exactly as the policy's name rank does.
pub(super) fn estimates(
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
    let registry = ProviderRegistry::from_table_defaults(&table);
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
        let d = corpus.records[i].domain.unwrap_or_else(|| {
            heads
                .domain
                .predict(&corpus.domain_row(i, heads.domain.input))
        });
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
    let providers = crate::training::provider_infos(corpus, &rows);
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
            category_probs: heads
                .domain
                .probs(&corpus.domain_row(i, heads.domain.input)),
            level: 0,
            input_tokens: corpus.embeddings[i].full_tokens,
            band_weights: None,
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
                band_weights: None,
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
