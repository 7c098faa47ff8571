//! Training: reads the data, embeds it (cached), fits the heads and the routing table, evaluates on a
//! held-out split, and writes the artifacts.

pub mod bridge;
pub mod conversation_probe;
pub mod dataset;
pub mod difficulty;
pub mod embed_cache;
pub mod evaluate;
pub mod fit;
pub mod metrics;
pub mod noise;
pub mod probe;
pub mod replay;
pub mod retrain;
pub mod table_fit;

use crate::embedding::{Embedder, Embedding};
use crate::error::{Error, Result};
use crate::labels::{
    domain_features, features, DifficultyHead, DomainHead, DomainInput, Heads, SoftmaxHead,
    FEATURE_DIM,
};
use crate::routing::{RoutingTable, DOMAINS};
use dataset::{Dataset, Price, TrainingRecord};
use fit::FitOptions;
use std::collections::{BTreeMap, BTreeSet};
use table_fit::{ProviderInfo, TableRow};

pub use crate::artifacts::{FitSettings, Granularity};

/// The embedded corpus, split into train and held-out.
pub struct Corpus {
    pub records: Vec<TrainingRecord>,
    pub embeddings: Vec<Embedding>,
    pub features: Vec<Vec<f32>>,
    /// What the domain head reads, and each row's features for it.
    pub domain_input: DomainInput,
    pub domain_features: Vec<Vec<f32>>,
    pub held_out: Vec<bool>,
    pub prices: BTreeMap<String, Price>,
    /// For a noisy copy (a training prompt rewritten with a typo, a polite opening, ...), the row it
    /// copies; `None` for the data's own rows. Copies sit after every data row, carry their original's
    /// labels but no outcomes or level, and are in neither split: a fit takes the copies of the rows it
    /// is given ([`Corpus::with_copies`]), so a fold never sees a copy of a row it is judged on.
    pub copy_of: Vec<Option<usize>>,
    /// Each data row's copies.
    pub copies: BTreeMap<usize, Vec<usize>>,
}

impl Corpus {
    /// Embeds every record (through the cache) and splits by the stable prompt hash.
    pub fn build(
        mut data: Dataset,
        embedder: &dyn Embedder,
        cache: &mut embed_cache::EmbeddingCache,
        show_progress: bool,
    ) -> Result<Self> {
        // Noisy copies of the training split's prompts (held-out prompts are where the noise report
        // draws from; records that came without their text have nothing to copy).
        let originals = data.records.len();
        let mut copy_of = vec![None; originals];
        let mut made = Vec::new();
        for i in 0..originals {
            let r = &data.records[i];
            if r.embedding.is_some() || r.prompt.trim().is_empty() || dataset::record_is_held_out(r)
            {
                continue;
            }
            for (k, text) in noise::training_copies(&r.prompt).into_iter().enumerate() {
                let copy = TrainingRecord {
                    id: format!("{}#noise{k}", r.id),
                    prompt: text,
                    outcomes: BTreeMap::new(),
                    cost_usd: BTreeMap::new(),
                    tokens: BTreeMap::new(),
                    level: None,
                    ..r.clone()
                };
                made.push(copy);
                copy_of.push(Some(i));
            }
        }
        data.records.extend(made);
        // Records that carry their embedding (feedback logs) are not embedded again; the rest are.
        for r in &data.records {
            if let Some((model, _)) = &r.embedding {
                if model != embedder.model_id() {
                    return Err(Error::Usage(format!(
                        "record {} was embedded with `{model}`, not `{}`; it cannot be used with this model",
                        r.id,
                        embedder.model_id()
                    )));
                }
            }
        }
        let to_embed: Vec<usize> = (0..data.records.len())
            .filter(|&i| data.records[i].embedding.is_none())
            .collect();
        let texts = crate::reading::all_for_labels(
            to_embed.iter().map(|&i| data.records[i].prompt.as_str()),
        );
        let cached_before = cache.len();
        let bar = if show_progress {
            indicatif::ProgressBar::new(texts.len() as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "embedding {bar:40} {pos}/{len} new prompts ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let embeddings = cache.embed_all(embedder, &texts, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
        tracing::info!(
            cached = cached_before,
            embedded = cache.len() - cached_before,
            "training prompts embedded"
        );
        let mut embedded = embeddings.into_iter();
        let mut embeddings = Vec::with_capacity(data.records.len());
        for r in &data.records {
            match &r.embedding {
                Some((_, e)) => embeddings.push(e.clone()),
                None => {
                    embeddings.push(embedded.next().ok_or_else(|| {
                        Error::inference("training prompts embedded incompletely")
                    })?)
                }
            }
        }
        let features = embeddings.iter().map(features).collect();
        let domain_input = DomainInput::EmbeddingAndMidLayer;
        let domain_features = embeddings
            .iter()
            .map(|e| domain_features(e, domain_input))
            .collect();
        // A copy is in neither split (see `copy_of`); its original is in the training one.
        let held_out = data
            .records
            .iter()
            .zip(&copy_of)
            .map(|(r, c)| c.is_none() && dataset::record_is_held_out(r))
            .collect();
        let mut copies: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, c) in copy_of.iter().enumerate() {
            if let Some(o) = c {
                copies.entry(*o).or_default().push(i);
            }
        }
        Ok(Self {
            records: data.records,
            embeddings,
            features,
            domain_input,
            domain_features,
            held_out,
            prices: data.prices,
            copy_of,
            copies,
        })
    }

    /// Whether row `i` is a noisy copy of another row.
    pub fn is_copy(&self, i: usize) -> bool {
        self.copy_of.get(i).is_some_and(Option::is_some)
    }

    /// `rows` followed by the noisy copies of each.
    pub fn with_copies(&self, rows: &[usize]) -> Vec<usize> {
        let mut out = rows.to_vec();
        for i in rows {
            if let Some(c) = self.copies.get(i) {
                out.extend_from_slice(c);
            }
        }
        out
    }

    /// Row `i`'s features for a domain head that reads `input`: the corpus's own rows when they are for that
    /// input, else made from the row's embedding (a head of older artifacts, compared in the report).
    pub fn domain_row(&self, i: usize, input: DomainInput) -> std::borrow::Cow<'_, [f32]> {
        use std::borrow::Cow;
        if input == self.domain_input {
            return Cow::Borrowed(&self.domain_features[i]);
        }
        match (input, self.embeddings.get(i)) {
            (DomainInput::Embedding, _) => Cow::Borrowed(&self.features[i]),
            (_, Some(e)) => Cow::Owned(domain_features(e, input)),
            // Rows built by hand carry no embedding; an input they were not built for sees zeros.
            (_, None) => Cow::Owned(vec![0.0; input.width()]),
        }
    }

    /// Indices of the training split.
    pub fn train_indices(&self) -> Vec<usize> {
        (0..self.records.len())
            .filter(|&i| !self.held_out[i] && !self.is_copy(i))
            .collect()
    }

    /// Indices of the held-out split.
    pub fn held_out_indices(&self) -> Vec<usize> {
        (0..self.records.len())
            .filter(|&i| self.held_out[i])
            .collect()
    }
}

#[cfg(test)]
impl Corpus {
    /// A corpus of `records` with the given feature rows (read by every head) and split, no embeddings and
    /// no prices: tests of the fits build their rows by hand.
    pub(crate) fn from_features(
        records: Vec<TrainingRecord>,
        features: Vec<Vec<f32>>,
        held_out: Vec<bool>,
    ) -> Self {
        Self {
            records,
            embeddings: Vec::new(),
            domain_input: DomainInput::Embedding,
            domain_features: features.clone(),
            features,
            copy_of: vec![None; held_out.len()],
            held_out,
            prices: BTreeMap::new(),
            copies: BTreeMap::new(),
        }
    }
}

/// Heads and table fitted together, plus what the fit decided per training row.
pub struct Fitted {
    pub heads: Heads,
    pub table: RoutingTable,
    pub settings: FitSettings,
}

/// Fits everything on `rows` (indices into the corpus).
pub fn fit(corpus: &Corpus, rows: &[usize], settings: FitSettings) -> Result<Fitted> {
    let base = fit_base(corpus, rows)?;
    fit_with_base(corpus, rows, &base, settings)
}

/// The parts of a fit that do not depend on the table settings.
pub struct BaseFit {
    pub domain: DomainHead,
    pub difficulty: DifficultyHead,
    /// Out-of-fold level of each row (by position in `rows`), for rows with outcomes.
    pub oof_level: BTreeMap<usize, usize>,
}

/// L2 penalty of the category head (3e-5, as the domain head: the cross-validated AIQ gain on the
/// training split was 0.0492 at 1e-4, 0.0507 at 3e-5 and 0.0512 at 1e-5; the last step is within the
/// folds' noise, and the held-out split did not confirm it: 0.0493 at 3e-5, 0.0482 at 1e-5).
const CATEGORY_L2: f64 = 3e-5;
/// L2 penalty of the domain head (3e-5: the probe's domain accuracy and the held-out one
/// both rose from 1e-4; 1e-5 starts to trade the probe for the held-out split). Heavier penalties
/// raise the leave-one-source-out domain accuracy (58.6% → 60.0% at 1e-4, 60.8% at 3e-4) at a larger
/// cost on the held-out split (89.9% → 87.8%, 84.1%): docs/experiments.md.
const DOMAIN_L2: f64 = 3e-5;
/// How much more a generated source (`generated-easy`, `generated-hard`) weighs in its domain than its
/// square-root share: they are written the way a person asks (which is what `/v1/classify` sees), where
/// the benchmarks are formatted for a grader; 2 lifted the probe's domain accuracy from 86.6% to 88.6%.
const GENERATED_DOMAIN_BOOST: f64 = 2.0;

/// Whether a source is one of this project's own generated pools (`generated-easy`, `generated-hard`)
/// rather than data written by others.
pub(crate) fn is_generated_source(source: &str) -> bool {
    source.starts_with("generated-")
}

fn opts(l2: f64) -> FitOptions {
    FitOptions {
        l2,
        steps: 300,
        learning_rate: 0.05,
    }
}

/// Fits the domain head and the difficulty head, with out-of-fold difficulty levels for the table.
pub fn fit_base(corpus: &Corpus, rows: &[usize]) -> Result<BaseFit> {
    // The noisy copies are labelled as their originals: the head learns that noise does not change a
    // domain.
    let labelled: Vec<usize> = corpus
        .with_copies(rows)
        .into_iter()
        .filter(|&i| corpus.records[i].domain.is_some())
        .collect();
    let domain = fit_domain_head(corpus, &labelled)?;

    if !rows.iter().any(|&i| !corpus.records[i].outcomes.is_empty()) {
        return Err(Error::Usage(
            "the training data has no rows with outcomes; nothing to learn difficulty or routing from"
                .into(),
        ));
    }
    let (difficulty, oof_level) = difficulty::fit_head(corpus, rows)?;
    Ok(BaseFit {
        domain,
        difficulty,
        oof_level,
    })
}

/// A task becomes its own fine class of the domain head with at least this many labelled training rows.
const MIN_FINE_CLASS_ROWS: usize = 40;

/// Fits the domain head on the labelled rows (a flat head when there are none, as in a foreign log).
pub(crate) fn fit_domain_head(corpus: &Corpus, labelled: &[usize]) -> Result<DomainHead> {
    let fine_key = |i: usize| -> (String, usize) {
        let r = &corpus.records[i];
        let d = r.domain.unwrap_or(DOMAINS.len() - 1);
        match &r.task {
            Some(t) => (format!("{}:{t}", r.source), d),
            None => (format!("domain:{}", DOMAINS[d]), d),
        }
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for &i in labelled {
        *counts.entry(fine_key(i).0).or_default() += 1;
    }
    let class_of = |i: usize| -> (String, usize) {
        let (key, d) = fine_key(i);
        if counts.get(&key).copied().unwrap_or(0) >= MIN_FINE_CLASS_ROWS {
            (key, d)
        } else {
            (format!("domain:{}", DOMAINS[d]), d)
        }
    };
    let keys: Vec<(String, usize)> = labelled.iter().map(|&i| class_of(i)).collect();
    let classes: BTreeMap<String, usize> = keys.iter().cloned().collect();
    if classes.is_empty() {
        return Ok(DomainHead {
            head: SoftmaxHead {
                classes: DOMAINS.iter().map(|d| format!("domain:{d}")).collect(),
                weights: ndarray::Array2::zeros((DOMAINS.len(), corpus.domain_input.width())),
                bias: ndarray::Array1::zeros(DOMAINS.len()),
            },
            class_domain: (0..DOMAINS.len()).collect(),
            input: corpus.domain_input,
        });
    }
    let names: Vec<String> = classes.keys().cloned().collect();
    let class_domain: Vec<usize> = classes.values().copied().collect();
    let x: Vec<Vec<f32>> = labelled
        .iter()
        .map(|&i| corpus.domain_features[i].clone())
        .collect();
    let y: Vec<usize> = keys
        .iter()
        .map(|(k, _)| names.iter().position(|n| n == k).unwrap_or(0))
        .collect();
    let row_weights = domain_balance(corpus, labelled);
    let (weights, bias) =
        fit::fit_softmax(&x, &y, names.len(), Some(&row_weights), opts(DOMAIN_L2))?;
    Ok(DomainHead {
        head: SoftmaxHead {
            classes: names,
            weights,
            bias,
        },
        class_domain,
        input: corpus.domain_input,
    })
}

/// Row weights of the domain fit: every domain weighs the same in the loss, and inside a domain each source
/// weighs as the square root of its row count. Without them the head learns the sources' sizes (MATH alone
/// has more rows than four domains together) and sends ambiguous prompts to the biggest domain; with plain
/// per-source balance a 3-row slice would weigh as much as a 4,000-row benchmark.
fn domain_balance(corpus: &Corpus, labelled: &[usize]) -> Vec<f32> {
    let key = |i: usize| {
        let r = &corpus.records[i];
        (r.domain.unwrap_or(DOMAINS.len() - 1), r.source.as_str())
    };
    let mut cell: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for &i in labelled {
        *cell.entry(key(i)).or_default() += 1;
    }
    // A source's share of its domain: sqrt(rows) (times the boost of a generated source), normalised over
    // the domain's sources.
    let mut domain_total = [0f64; DOMAINS.len()];
    let boost = |s: &str| {
        if is_generated_source(s) {
            GENERATED_DOMAIN_BOOST
        } else {
            1.0
        }
    };
    for (&(d, s), &n) in &cell {
        domain_total[d] += (n as f64).sqrt() * boost(s);
    }
    let domains_present = domain_total.iter().filter(|&&t| t > 0.0).count().max(1) as f64;
    let n = labelled.len() as f64;
    labelled
        .iter()
        .map(|&i| {
            let (d, s) = key(i);
            let rows = cell.get(&(d, s)).copied().unwrap_or(1) as f64;
            let share = rows.sqrt() * boost(s) / domain_total[d].max(1e-9);
            // Mean weight 1 over the rows: each domain totals n / domains_present.
            (n / domains_present * share / rows) as f32
        })
        .collect()
}

/// Linear-interpolated quantile.
pub fn quantile(values: &[f32], q: f32) -> f32 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.5;
    }
    let pos = q * (v.len() - 1) as f32;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f32)
}

/// The category of a row under `settings`.
fn category_key(
    record: &TrainingRecord,
    domain: usize,
    big_tasks: &BTreeSet<String>,
    g: Granularity,
) -> String {
    match (&record.task, g) {
        (Some(task), Granularity::Task) if big_tasks.contains(task) => format!("task:{task}"),
        _ => format!("domain:{}", DOMAINS[domain]),
    }
}

/// Fits the category head and the table on top of a base fit.
pub fn fit_with_base(
    corpus: &Corpus,
    rows: &[usize],
    base: &BaseFit,
    settings: FitSettings,
) -> Result<Fitted> {
    let with_outcomes: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&i| !corpus.records[i].outcomes.is_empty())
        .collect();
    let domain_of = |i: usize| {
        corpus.records[i].domain.unwrap_or_else(|| {
            base.domain
                .predict(&corpus.domain_row(i, base.domain.input))
        })
    };
    let mut task_rows: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &with_outcomes {
        if let Some(t) = &corpus.records[i].task {
            *task_rows.entry(t.as_str()).or_default() += 1;
        }
    }
    let big_tasks: BTreeSet<String> = task_rows
        .iter()
        .filter(|(_, &n)| n >= settings.min_category_rows)
        .map(|(t, _)| t.to_string())
        .collect();
    let keys: Vec<String> = with_outcomes
        .iter()
        .map(|&i| {
            category_key(
                &corpus.records[i],
                domain_of(i),
                &big_tasks,
                settings.granularity,
            )
        })
        .collect();
    let categories: Vec<String> = keys
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cindex: BTreeMap<&str, usize> = categories
        .iter()
        .enumerate()
        .map(|(k, c)| (c.as_str(), k))
        .collect();
    // A task's domain is the majority domain of its rows.
    let mut votes = vec![[0usize; 6]; categories.len()];
    for (k, &i) in with_outcomes.iter().enumerate() {
        votes[cindex[keys[k].as_str()]][domain_of(i)] += 1;
    }
    let category_domain: Vec<usize> = votes
        .iter()
        .map(|v| (0..6).max_by_key(|&d| v[d]).unwrap_or(5))
        .collect();
    let y: Vec<usize> = keys.iter().map(|k| cindex[k.as_str()]).collect();
    let mut x: Vec<Vec<f32>> = with_outcomes
        .iter()
        .map(|&i| corpus.domain_features[i].clone())
        .collect();
    // The rows' noisy copies, in their originals' categories.
    let mut y_all = y.clone();
    for (k, &i) in with_outcomes.iter().enumerate() {
        for &c in corpus.copies.get(&i).map_or(&[][..], Vec::as_slice) {
            x.push(corpus.domain_features[c].clone());
            y_all.push(y[k]);
        }
    }
    let (weights, bias) = fit::fit_softmax(&x, &y_all, categories.len(), None, opts(CATEGORY_L2))?;
    let category = SoftmaxHead {
        classes: categories.clone(),
        weights,
        bias,
    };

    let providers = provider_infos(corpus, &with_outcomes);
    let table_rows: Vec<TableRow> = with_outcomes
        .iter()
        .enumerate()
        .map(|(k, &i)| TableRow {
            record: &corpus.records[i],
            category: y[k],
            level: base.oof_level.get(&i).copied().unwrap_or(1),
            domain: domain_of(i),
        })
        .collect();
    let table = table_fit::build_table(
        &table_rows,
        &categories,
        &category_domain,
        &providers,
        settings.pseudo_count,
    );
    Ok(Fitted {
        heads: Heads {
            feature_dim: FEATURE_DIM,
            domain: base.domain.clone(),
            category,
            category_input: corpus.domain_input,
            difficulty: base.difficulty.clone(),
        },
        table,
        settings,
    })
}

/// Providers with outcomes in `rows`, their group (the source with most of their outcomes) and price.
pub fn provider_infos(corpus: &Corpus, rows: &[usize]) -> Vec<ProviderInfo> {
    let mut sources: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for &i in rows {
        let r = &corpus.records[i];
        for p in r.outcomes.keys() {
            *sources
                .entry(p.as_str())
                .or_default()
                .entry(r.source.as_str())
                .or_default() += 1;
        }
    }
    sources
        .into_iter()
        .map(|(name, by_source)| ProviderInfo {
            name: name.to_string(),
            group: by_source
                .iter()
                .max_by_key(|(_, &n)| n)
                .map(|(s, _)| s.to_string())
                .unwrap_or_default(),
            price: corpus.prices.get(name).copied(),
        })
        .collect()
}
