//! The cost/quality policy: turns a prompt's labels into per-provider expected quality and cost, then
//! picks the cheapest provider that meets the caller's target.
//!
//! Expected quality of provider `p` is the label-probability mixture of the table's cells,
//! `Σ_c Σ_l P(c)·P(l)·quality[c][l][p]`, renormalised over the cells that have a value (the provider's
//! mean quality when none has). Expected cost is
//! `input_tokens·in_price/1e6 + E[output tokens]·out_price/1e6` with
//! `E[output tokens] = Σ_c P(c)·output_tokens[c][p]`; prices come from the registry, else the table; with no
//! price anywhere, the mixture of observed per-query costs is used; with none of those, the provider cannot
//! be chosen.

use crate::error::{Error, Result};
use crate::routing::registry::PriceRegistry;
use crate::routing::table::{PromptLabels, RoutingTable};
use crate::routing::LEVELS;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The quality drop used when the configuration sets no target at all.
pub const DEFAULT_MAX_QUALITY_DROP: f32 = 0.02;

/// Slack for float comparisons of qualities (so `q* − drop` does not exclude a provider exactly at it).
const QUALITY_EPS: f32 = 1e-6;

/// What a caller (or the configuration, as defaults) asks of a routing decision.
///
/// A request's options are merged over the configured defaults field by field (the request wins; `denied`
/// is the union). Note that a default `max_quality_drop` stays in force when a request sets only
/// `min_quality` or `max_cost_usd`; a request can relax it by sending a larger `max_quality_drop` (1.0
/// disables it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteOptions {
    /// Only providers whose expected quality is at least this are eligible.
    pub min_quality: Option<f32>,
    /// Only providers within this much of the best eligible expected quality are eligible.
    pub max_quality_drop: Option<f32>,
    /// Only providers whose expected cost per query (USD) is at most this are eligible.
    pub max_cost_usd: Option<f64>,
    /// When given, only these providers are candidates (even if disabled in the registry).
    pub allowed: Option<Vec<String>>,
    /// Providers never chosen (except by `force`).
    pub denied: Vec<String>,
    /// Choose this provider regardless of the other rules (it must have outcome data).
    pub force: Option<String>,
}

impl RouteOptions {
    /// `self` over `defaults`: each field of `self` that is set wins; `denied` is the union.
    pub fn merged_over(&self, defaults: &RouteOptions) -> RouteOptions {
        let mut denied = defaults.denied.clone();
        for name in &self.denied {
            if !denied.contains(name) {
                denied.push(name.clone());
            }
        }
        RouteOptions {
            min_quality: self.min_quality.or(defaults.min_quality),
            max_quality_drop: self.max_quality_drop.or(defaults.max_quality_drop),
            max_cost_usd: self.max_cost_usd.or(defaults.max_cost_usd),
            allowed: self.allowed.clone().or_else(|| defaults.allowed.clone()),
            denied,
            force: self.force.clone().or_else(|| defaults.force.clone()),
        }
    }

    /// Checks the numeric targets; the message suits a client.
    fn check_numbers(&self) -> std::result::Result<(), String> {
        if let Some(q) = self.min_quality {
            if !(q.is_finite() && (0.0..=1.0).contains(&q)) {
                return Err(format!("min_quality must be between 0 and 1, got {q}"));
            }
        }
        if let Some(d) = self.max_quality_drop {
            if !(d.is_finite() && d >= 0.0) {
                return Err(format!("max_quality_drop must be a number >= 0, got {d}"));
            }
        }
        if let Some(c) = self.max_cost_usd {
            if !(c.is_finite() && c >= 0.0) {
                return Err(format!("max_cost_usd must be a number >= 0, got {c}"));
            }
        }
        Ok(())
    }

    /// Every provider name the options mention.
    fn named_providers(&self) -> impl Iterator<Item = &str> {
        self.allowed
            .iter()
            .flatten()
            .chain(self.denied.iter())
            .chain(self.force.iter())
            .map(String::as_str)
    }
}

/// One provider as the decision saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub provider: String,
    /// Expected quality for this prompt; NaN (JSON `null`) when the provider has no outcome data.
    pub expected_quality: f32,
    /// Expected cost per query in USD; NaN (JSON `null`) when it cannot be estimated.
    pub expected_cost_usd: f64,
    /// Whether it met every rule.
    pub eligible: bool,
    /// Why it is (in)eligible, in words.
    pub reason: String,
}

/// The provider chosen for a prompt, and every candidate considered (sorted by expected cost ascending).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub provider: String,
    pub expected_quality: f32,
    /// Expected cost per query in USD; NaN (JSON `null`) only when a provider with no price was forced.
    pub expected_cost_usd: f64,
    pub reason: String,
    pub candidates: Vec<Candidate>,
}

/// Expected quality and cost of one table provider for one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub provider: String,
    pub expected_quality: f32,
    /// `None` when no price (registry or table) and no observed cost is known: it cannot be chosen.
    pub expected_cost_usd: Option<f64>,
}

/// A provider the policy knows of: from the table, the registry, or both.
#[derive(Debug, Clone)]
struct Known {
    name: String,
    /// Index in the table's providers; `None` means no outcome data.
    table_index: Option<usize>,
    enabled: bool,
    /// Resolved prices ($/Mtok): registry first, then the table.
    input_price: Option<f64>,
    output_price: Option<f64>,
}

/// The routing policy: the learned table, the price registry and the configured default options.
#[derive(Debug, Clone)]
pub struct Policy {
    table: Arc<RoutingTable>,
    registry: PriceRegistry,
    defaults: RouteOptions,
    /// Every known provider, sorted by name (so index order breaks ties by name).
    known: Vec<Known>,
    /// For each table provider, its index in `known`.
    known_of_table: Vec<usize>,
    /// For each table provider, whether the registry enables it.
    enabled_in_table: Vec<bool>,
}

/// Where a candidate stopped in the rule sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Excluded by membership, data or price: can never be chosen (except by force when it has data).
    Excluded,
    /// Over `max_cost_usd`.
    Cost,
    /// Under `min_quality`.
    MinQuality,
    /// Further than `max_quality_drop` below the best.
    Drop,
    /// Passed every rule.
    Eligible,
}

struct Evaluated {
    known: usize,
    quality: f32,
    cost: Option<f64>,
    stage: Stage,
    reason: String,
}

impl Policy {
    /// Builds the policy. Checks the table's shape (`Error::Artifacts`) and the defaults (`Error::Usage`);
    /// when the defaults set no target at all, `max_quality_drop` becomes [`DEFAULT_MAX_QUALITY_DROP`].
    /// Providers enabled in the registry but absent from the table are kept (and reported ineligible).
    pub fn new(
        table: impl Into<Arc<RoutingTable>>,
        registry: PriceRegistry,
        defaults: RouteOptions,
    ) -> Result<Policy> {
        let table: Arc<RoutingTable> = table.into();
        check_table(&table).map_err(Error::Artifacts)?;
        let mut defaults = defaults;
        defaults
            .check_numbers()
            .map_err(|m| Error::Usage(format!("routing defaults: {m}")))?;
        if defaults.min_quality.is_none()
            && defaults.max_quality_drop.is_none()
            && defaults.max_cost_usd.is_none()
        {
            defaults.max_quality_drop = Some(DEFAULT_MAX_QUALITY_DROP);
        }

        let mut known: Vec<Known> = Vec::new();
        for (i, stats) in table.providers.iter().enumerate() {
            if known.iter().any(|k| k.name == stats.name) {
                return Err(Error::Artifacts(format!(
                    "routing table lists provider `{}` twice",
                    stats.name
                )));
            }
            let entry = registry.get(&stats.name);
            known.push(Known {
                name: stats.name.clone(),
                table_index: Some(i),
                enabled: entry.is_some_and(|e| e.enabled),
                input_price: entry
                    .and_then(|e| e.input_usd_per_mtok)
                    .or(stats.input_usd_per_mtok)
                    .filter(|v| v.is_finite() && *v >= 0.0),
                output_price: entry
                    .and_then(|e| e.output_usd_per_mtok)
                    .or(stats.output_usd_per_mtok)
                    .filter(|v| v.is_finite() && *v >= 0.0),
            });
        }
        let mut without_data = Vec::new();
        for entry in registry.iter() {
            if table.provider_index(&entry.name).is_none() {
                if entry.enabled {
                    without_data.push(entry.name.clone());
                }
                known.push(Known {
                    name: entry.name.clone(),
                    table_index: None,
                    enabled: entry.enabled,
                    input_price: entry.input_usd_per_mtok,
                    output_price: entry.output_usd_per_mtok,
                });
            }
        }
        if !without_data.is_empty() {
            tracing::warn!(
                providers = %without_data.join(", "),
                "providers enabled in the registry have no outcome data in the routing table and cannot be chosen"
            );
        }
        let unlisted: Vec<&str> = table
            .providers
            .iter()
            .filter(|p| registry.get(&p.name).is_none())
            .map(|p| p.name.as_str())
            .collect();
        if !unlisted.is_empty() {
            tracing::info!(
                providers = %unlisted.join(", "),
                "routing table providers missing from the registry are disabled"
            );
        }
        known.sort_by(|a, b| a.name.cmp(&b.name));

        let mut known_of_table = vec![0; table.providers.len()];
        let mut enabled_in_table = vec![false; table.providers.len()];
        let mut groups = BTreeSet::new();
        for (k, entry) in known.iter().enumerate() {
            if let Some(i) = entry.table_index {
                if let (Some(slot), Some(flag)) =
                    (known_of_table.get_mut(i), enabled_in_table.get_mut(i))
                {
                    *slot = k;
                    *flag = entry.enabled;
                }
                if entry.enabled {
                    if let Some(stats) = table.providers.get(i) {
                        groups.insert(stats.group.clone());
                    }
                }
            }
        }
        // Debug only: evaluation enables every provider on purpose; `Brain::load` warns for served policies.
        if groups.len() > 1 {
            tracing::debug!(
                groups = %groups.iter().cloned().collect::<Vec<_>>().join(", "),
                "enabled providers come from more than one data group; their qualities are not comparable"
            );
        }

        let policy = Policy {
            table,
            registry,
            defaults,
            known,
            known_of_table,
            enabled_in_table,
        };
        let defaults = &policy.defaults;
        policy
            .check_names(defaults)
            .map_err(|m| Error::Usage(format!("routing defaults: {m}")))?;
        Ok(policy)
    }

    /// The configured default options (with the default drop filled in when the configuration set no target).
    pub fn defaults(&self) -> &RouteOptions {
        &self.defaults
    }

    /// The learned table.
    pub fn table(&self) -> &Arc<RoutingTable> {
        &self.table
    }

    /// The price registry.
    pub fn registry(&self) -> &PriceRegistry {
        &self.registry
    }

    /// Names of every known provider (table or registry), sorted.
    pub fn known_providers(&self) -> impl Iterator<Item = &str> {
        self.known.iter().map(|k| k.name.as_str())
    }

    /// For each table provider (table order), whether the registry enables it.
    pub fn enabled_mask(&self) -> &[bool] {
        &self.enabled_in_table
    }

    /// Expected quality and cost of every table provider (table order) for a prompt. Probabilities beyond
    /// the table's categories are ignored; use [`Self::decide`] for checked labels.
    pub fn estimate(&self, labels: &PromptLabels) -> Vec<Estimate> {
        self.table
            .providers
            .iter()
            .enumerate()
            .map(|(p, stats)| {
                let known = self.known_of_table.get(p).and_then(|&k| self.known.get(k));
                Estimate {
                    provider: stats.name.clone(),
                    expected_quality: expected_quality(&self.table, labels, p),
                    expected_cost_usd: known.and_then(|k| {
                        expected_cost(&self.table, labels, p, k.input_price, k.output_price)
                    }),
                }
            })
            .collect()
    }

    /// The default-mode choice for the evaluation sweep: among enabled table providers with a cost, the
    /// cheapest within `drop` of the best expected quality. Returns an index into `estimates` (table order).
    pub fn sweep_choice(&self, estimates: &[Estimate], drop: f32) -> Option<usize> {
        let quality: Vec<f32> = estimates.iter().map(|e| e.expected_quality).collect();
        let cost: Vec<f64> = estimates
            .iter()
            .map(|e| e.expected_cost_usd.unwrap_or(f64::NAN))
            .collect();
        let eligible: Vec<bool> = estimates
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.expected_cost_usd.is_some()
                    && self.enabled_in_table.get(i).copied().unwrap_or(false)
            })
            .collect();
        cheapest_within(&quality, &cost, &eligible, drop)
    }

    /// Chooses a provider for a prompt. `opts` is merged over the defaults. Unknown provider names, bad
    /// numbers or labels, a forced provider without outcome data, and "every provider excluded" are
    /// `Error::InvalidInput`.
    pub fn decide(&self, labels: &PromptLabels, opts: &RouteOptions) -> Result<Decision> {
        opts.check_numbers().map_err(Error::InvalidInput)?;
        let o = opts.merged_over(&self.defaults);
        self.check_names(&o).map_err(Error::InvalidInput)?;
        check_labels(&self.table, labels).map_err(Error::InvalidInput)?;

        let allowed: Option<BTreeSet<&str>> = o
            .allowed
            .as_ref()
            .map(|a| a.iter().map(String::as_str).collect());
        let denied: BTreeSet<&str> = o.denied.iter().map(String::as_str).collect();
        let forced = o.force.as_deref();

        // Rules that need no estimate: membership, denial, data, price.
        let mut evals: Vec<Evaluated> = Vec::new();
        for (k, known) in self.known.iter().enumerate() {
            let name = known.name.as_str();
            let in_allowed = allowed.as_ref().map(|a| a.contains(name));
            let reported = known.enabled || in_allowed == Some(true) || forced == Some(name);
            if !reported {
                continue;
            }
            let (quality, cost) = match known.table_index {
                Some(p) => (
                    expected_quality(&self.table, labels, p),
                    expected_cost(
                        &self.table,
                        labels,
                        p,
                        known.input_price,
                        known.output_price,
                    ),
                ),
                None => (f32::NAN, None),
            };
            let excluded = match in_allowed {
                Some(true) => None,
                Some(false) if !known.enabled => Some("not enabled in the registry".to_string()),
                Some(false) => Some("not in the allowed list".to_string()),
                None if !known.enabled => Some("not enabled in the registry".to_string()),
                None => None,
            }
            .or_else(|| {
                denied
                    .contains(name)
                    .then(|| "in the denied list".to_string())
            })
            .or_else(|| {
                (known.table_index.is_none() || quality.is_nan())
                    .then(|| "no outcome data: cannot be chosen".to_string())
            })
            .or_else(|| {
                cost.is_none().then(|| {
                    "no price: cannot be chosen (no registry or table price, no observed cost)"
                        .to_string()
                })
            });
            let (stage, reason) = match excluded {
                Some(reason) => (Stage::Excluded, reason),
                None => (Stage::Eligible, String::new()),
            };
            evals.push(Evaluated {
                known: k,
                quality,
                cost,
                stage,
                reason,
            });
        }

        // Cost and quality targets.
        for e in evals.iter_mut().filter(|e| e.stage == Stage::Eligible) {
            let cost = e.cost.unwrap_or(f64::NAN);
            if let Some(max) = o.max_cost_usd {
                if cost > max {
                    e.stage = Stage::Cost;
                    e.reason = format!("expected cost ${cost:.8} exceeds max_cost_usd ${max}");
                    continue;
                }
            }
            if let Some(min) = o.min_quality {
                if e.quality < min - QUALITY_EPS {
                    e.stage = Stage::MinQuality;
                    e.reason = format!(
                        "expected quality {:.4} is below min_quality {min}",
                        e.quality
                    );
                }
            }
        }
        let passed: Vec<bool> = evals.iter().map(|e| e.stage == Stage::Eligible).collect();
        let quality: Vec<f32> = evals.iter().map(|e| e.quality).collect();
        let cost: Vec<f64> = evals.iter().map(|e| e.cost.unwrap_or(f64::NAN)).collect();
        let best = evals
            .iter()
            .filter(|e| e.stage == Stage::Eligible)
            .map(|e| e.quality)
            .fold(f32::NEG_INFINITY, f32::max);
        if let Some(drop) = o.max_quality_drop {
            for e in evals.iter_mut().filter(|e| e.stage == Stage::Eligible) {
                if e.quality < best - drop - QUALITY_EPS {
                    e.stage = Stage::Drop;
                    e.reason = format!(
                        "expected quality {:.4} is more than max_quality_drop {drop} below the best {best:.4}",
                        e.quality
                    );
                }
            }
        }
        let chosen_by_rules = cheapest_within(
            &quality,
            &cost,
            &passed,
            o.max_quality_drop.unwrap_or(f32::INFINITY),
        );
        for e in evals.iter_mut().filter(|e| e.stage == Stage::Eligible) {
            e.reason = "eligible".to_string();
        }

        let (chosen, reason) = if let Some(name) = forced {
            let pos = evals
                .iter()
                .position(|e| self.known.get(e.known).is_some_and(|k| k.name == name));
            match pos {
                Some(i) if evals.get(i).is_some_and(|e| !e.quality.is_nan()) => {
                    (i, "forced by request".to_string())
                }
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "cannot force provider `{name}`: it has no outcome data"
                    )))
                }
            }
        } else if let Some(i) = chosen_by_rules {
            if let Some(e) = evals.get_mut(i) {
                e.reason = "eligible; chosen as the cheapest".to_string();
            }
            (
                i,
                format!("cheapest provider with {}", describe_target(&o, best)),
            )
        } else {
            let pool = evals
                .iter()
                .enumerate()
                .filter(|(_, e)| e.stage > Stage::Excluded)
                .max_by(|(ia, a), (ib, b)| {
                    a.quality
                        .total_cmp(&b.quality)
                        .then_with(|| cost_cmp(b.cost, a.cost))
                        .then_with(|| ib.cmp(ia))
                })
                .map(|(i, _)| i);
            match pool {
                Some(i) => (
                    i,
                    format!(
                        "no provider meets the target ({}); chose the best-quality allowed provider",
                        why_none(&evals, &o)
                    ),
                ),
                None => {
                    let why = evals
                        .iter()
                        .filter_map(|e| {
                            self.known
                                .get(e.known)
                                .map(|k| format!("{}: {}", k.name, e.reason))
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    return Err(Error::InvalidInput(if why.is_empty() {
                        "no provider can be chosen: no candidates".to_string()
                    } else {
                        format!("no provider can be chosen ({why})")
                    }));
                }
            }
        };

        let (provider, expected_quality, expected_cost_usd) = match evals.get(chosen) {
            Some(e) => (
                self.known
                    .get(e.known)
                    .map(|k| k.name.clone())
                    .unwrap_or_default(),
                e.quality,
                e.cost.unwrap_or(f64::NAN),
            ),
            None => return Err(Error::InvalidInput("no provider can be chosen".into())),
        };
        let mut candidates: Vec<Candidate> = evals
            .into_iter()
            .map(|e| Candidate {
                provider: self
                    .known
                    .get(e.known)
                    .map(|k| k.name.clone())
                    .unwrap_or_default(),
                expected_quality: e.quality,
                expected_cost_usd: e.cost.unwrap_or(f64::NAN),
                eligible: e.stage == Stage::Eligible,
                reason: e.reason,
            })
            .collect();
        candidates.sort_by(|a, b| {
            a.expected_cost_usd
                .total_cmp(&b.expected_cost_usd)
                .then_with(|| {
                    quality_key(b.expected_quality).total_cmp(&quality_key(a.expected_quality))
                })
                .then_with(|| a.provider.cmp(&b.provider))
        });
        Ok(Decision {
            provider,
            expected_quality,
            expected_cost_usd,
            reason,
            candidates,
        })
    }

    /// Every provider named in `o` must be known; the message lists the known names.
    fn check_names(&self, o: &RouteOptions) -> std::result::Result<(), String> {
        for name in o.named_providers() {
            if !self.known.iter().any(|k| k.name == name) {
                let known: Vec<&str> = self.known_providers().collect();
                return Err(format!(
                    "unknown provider `{name}`; known: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Among indices with `eligible[i]` (and a non-NaN quality and cost), the cheapest whose quality is within
/// `drop` of the best such quality; cost ties go to the higher quality, then the lower index. Only the
/// first `min(len)` entries of the three slices are considered.
pub fn cheapest_within(
    quality: &[f32],
    cost: &[f64],
    eligible: &[bool],
    drop: f32,
) -> Option<usize> {
    let usable = || {
        quality
            .iter()
            .zip(cost)
            .zip(eligible)
            .enumerate()
            .filter(|(_, ((q, c), ok))| **ok && !q.is_nan() && !c.is_nan())
            .map(|(i, ((q, c), _))| (i, *q, *c))
    };
    let best = usable()
        .map(|(_, q, _)| q)
        .fold(f32::NEG_INFINITY, f32::max);
    let floor = best - drop.max(0.0) - QUALITY_EPS;
    usable()
        .filter(|(_, q, _)| *q >= floor)
        .min_by(|(ia, qa, ca), (ib, qb, cb)| {
            ca.total_cmp(cb)
                .then_with(|| qb.total_cmp(qa))
                .then_with(|| ia.cmp(ib))
        })
        .map(|(i, _, _)| i)
}

/// Expected quality of table provider `provider`: the label mixture of its cells, renormalised over the
/// cells that have a value; its mean quality when no cell with positive weight has one.
pub fn expected_quality(table: &RoutingTable, labels: &PromptLabels, provider: usize) -> f32 {
    let mut weight = 0.0f64;
    let mut sum = 0.0f64;
    for (pc, levels) in labels.category_probs.iter().zip(&table.quality) {
        for (pl, cell) in labels.level_probs.iter().zip(levels) {
            let w = f64::from(*pc) * f64::from(*pl);
            if let Some(Some(q)) = cell.get(provider) {
                if w > 0.0 {
                    weight += w;
                    sum += w * f64::from(*q);
                }
            }
        }
    }
    if weight > 0.0 {
        (sum / weight) as f32
    } else {
        table
            .providers
            .get(provider)
            .map(|p| p.mean_quality)
            .unwrap_or(f32::NAN)
    }
}

/// Expected output tokens of table provider `provider`: `Σ_c P(c)·output_tokens[c][provider]`.
pub fn expected_output_tokens(table: &RoutingTable, labels: &PromptLabels, provider: usize) -> f64 {
    labels
        .category_probs
        .iter()
        .zip(&table.output_tokens)
        .map(|(pc, row)| f64::from(*pc) * row.get(provider).map_or(0.0, |t| f64::from(*t)))
        .sum()
}

/// The label mixture of observed per-query costs, renormalised over the cells that have one; the plain mean
/// of the provider's observed cells when none with positive weight has one; `None` when it has none.
pub fn mixed_observed_cost(
    table: &RoutingTable,
    labels: &PromptLabels,
    provider: usize,
) -> Option<f64> {
    let (mut weight, mut sum, mut n, mut plain) = (0.0f64, 0.0f64, 0usize, 0.0f64);
    for (c, levels) in table.observed_cost_usd.iter().enumerate() {
        let pc = labels.category_probs.get(c).copied().unwrap_or(0.0);
        for (l, cell) in levels.iter().enumerate() {
            let pl = labels.level_probs.get(l).copied().unwrap_or(0.0);
            if let Some(Some(v)) = cell.get(provider) {
                if !v.is_finite() {
                    continue;
                }
                n += 1;
                plain += v;
                let w = f64::from(pc) * f64::from(pl);
                if w > 0.0 {
                    weight += w;
                    sum += w * v;
                }
            }
        }
    }
    if weight > 0.0 {
        Some(sum / weight)
    } else if n > 0 {
        Some(plain / n as f64)
    } else {
        None
    }
}

/// Expected cost per query from prices ($/Mtok); with a price missing, the mixed observed cost.
pub fn expected_cost(
    table: &RoutingTable,
    labels: &PromptLabels,
    provider: usize,
    input_usd_per_mtok: Option<f64>,
    output_usd_per_mtok: Option<f64>,
) -> Option<f64> {
    match (input_usd_per_mtok, output_usd_per_mtok) {
        (Some(pin), Some(pout)) => Some(
            labels.input_tokens as f64 * pin / 1e6
                + expected_output_tokens(table, labels, provider) * pout / 1e6,
        ),
        _ => mixed_observed_cost(table, labels, provider),
    }
}

fn quality_key(q: f32) -> f32 {
    if q.is_nan() {
        f32::NEG_INFINITY
    } else {
        q
    }
}

fn cost_cmp(a: Option<f64>, b: Option<f64>) -> Ordering {
    a.unwrap_or(f64::INFINITY)
        .total_cmp(&b.unwrap_or(f64::INFINITY))
}

/// The target in words, for the decision's reason.
fn describe_target(o: &RouteOptions, best: f32) -> String {
    let mut parts = Vec::new();
    if let Some(drop) = o.max_quality_drop {
        parts.push(format!(
            "expected quality within {drop} of the best eligible ({best:.4})"
        ));
    }
    if let Some(min) = o.min_quality {
        parts.push(format!("expected quality >= {min}"));
    }
    if let Some(max) = o.max_cost_usd {
        parts.push(format!("expected cost <= ${max}"));
    }
    if parts.is_empty() {
        "no quality or cost target".to_string()
    } else {
        parts.join(", ")
    }
}

/// Why no candidate passed the cost and quality targets, in words.
fn why_none(evals: &[Evaluated], o: &RouteOptions) -> String {
    let over_cost: Vec<&Evaluated> = evals.iter().filter(|e| e.stage == Stage::Cost).collect();
    let under_min = evals
        .iter()
        .filter(|e| e.stage == Stage::MinQuality)
        .count();
    let mut parts = Vec::new();
    if let (Some(max), false) = (o.max_cost_usd, over_cost.is_empty()) {
        let cheapest = over_cost
            .iter()
            .filter_map(|e| e.cost)
            .fold(f64::INFINITY, f64::min);
        parts.push(format!(
            "{} over max_cost_usd ${max} (cheapest ${cheapest:.8})",
            over_cost.len()
        ));
    }
    if let (Some(min), true) = (o.min_quality, under_min > 0) {
        let best = evals
            .iter()
            .filter(|e| e.stage >= Stage::Cost)
            .map(|e| e.quality)
            .fold(f32::NEG_INFINITY, f32::max);
        parts.push(format!(
            "{under_min} below min_quality {min} (best {best:.4})"
        ));
    }
    if parts.is_empty() {
        "no candidate passed".to_string()
    } else {
        parts.join(", ")
    }
}

/// Checks that the table's arrays have the shapes the policy indexes.
fn check_table(t: &RoutingTable) -> std::result::Result<(), String> {
    let (nc, np) = (t.categories.len(), t.providers.len());
    if t.category_domain.len() != nc {
        return Err(format!(
            "routing table has {nc} categories but {} category domains",
            t.category_domain.len()
        ));
    }
    let cube_ok = |name: &str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "routing table `{name}` is not {nc} categories x {} levels x {np} providers",
                LEVELS.len()
            ))
        }
    };
    cube_ok(
        "quality",
        t.quality.len() == nc
            && t.quality
                .iter()
                .all(|c| c.len() == LEVELS.len() && c.iter().all(|l| l.len() == np)),
    )?;
    // Observed costs are optional: empty, or the full shape.
    cube_ok(
        "observed_cost_usd",
        t.observed_cost_usd.is_empty()
            || (t.observed_cost_usd.len() == nc
                && t.observed_cost_usd
                    .iter()
                    .all(|c| c.len() == LEVELS.len() && c.iter().all(|l| l.len() == np))),
    )?;
    if t.output_tokens.len() != nc || t.output_tokens.iter().any(|r| r.len() != np) {
        return Err(format!(
            "routing table `output_tokens` is not {nc} categories x {np} providers"
        ));
    }
    if t.quality
        .iter()
        .flatten()
        .flatten()
        .flatten()
        .any(|q| !q.is_finite())
    {
        return Err("routing table has a non-finite quality".to_string());
    }
    Ok(())
}

/// Checks a prompt's labels against the table; the message suits a client.
fn check_labels(t: &RoutingTable, labels: &PromptLabels) -> std::result::Result<(), String> {
    if labels.category_probs.len() != t.categories.len() {
        return Err(format!(
            "labels have {} category probabilities but the routing table has {} categories",
            labels.category_probs.len(),
            t.categories.len()
        ));
    }
    let all = labels
        .category_probs
        .iter()
        .chain(labels.level_probs.iter());
    if all.clone().any(|p| !p.is_finite() || *p < 0.0) {
        return Err("label probabilities must be finite and >= 0".to_string());
    }
    if labels.category_probs.iter().sum::<f32>() <= 0.0
        || labels.level_probs.iter().sum::<f32>() <= 0.0
    {
        return Err("label probabilities must not all be zero".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::registry::ProviderPrice;
    use crate::routing::table::ProviderStats;

    fn stats(name: &str, mean: f32, price: Option<(f64, f64)>) -> ProviderStats {
        ProviderStats {
            name: name.into(),
            group: "g1".into(),
            observations: 100,
            mean_quality: mean,
            input_usd_per_mtok: price.map(|p| p.0),
            output_usd_per_mtok: price.map(|p| p.1),
        }
    }

    /// 2 categories x 3 levels x 4 providers. `delta` has no table price and no `hard` cells.
    fn table() -> RoutingTable {
        let n = None;
        RoutingTable {
            providers: vec![
                stats("alpha", 0.5, Some((0.1, 0.1))),
                stats("beta", 0.65, Some((0.5, 0.5))),
                stats("gamma", 0.87, Some((2.0, 2.0))),
                stats("delta", 0.7, None),
            ],
            categories: vec!["code".into(), "math".into()],
            category_domain: vec![0, 1],
            quality: vec![
                vec![
                    vec![Some(0.6), Some(0.7), Some(0.9), Some(0.65)],
                    vec![Some(0.5), Some(0.65), Some(0.85), n],
                    vec![Some(0.3), Some(0.6), Some(0.8), n],
                ],
                vec![
                    vec![Some(0.7), Some(0.75), Some(0.95), Some(0.8)],
                    vec![Some(0.6), Some(0.7), Some(0.9), Some(0.7)],
                    vec![Some(0.4), Some(0.6), Some(0.85), n],
                ],
            ],
            counts: vec![vec![vec![10; 4]; 3]; 2],
            output_tokens: vec![
                vec![100.0, 200.0, 300.0, 150.0],
                vec![200.0, 200.0, 400.0, 100.0],
            ],
            observed_cost_usd: vec![vec![vec![None; 4]; 3]; 2],
            input_tokens: vec![vec![None; 4]; 2],
            pseudo_count: 5.0,
        }
    }

    fn price(name: &str, pin: Option<f64>, pout: Option<f64>, enabled: bool) -> ProviderPrice {
        ProviderPrice {
            name: name.into(),
            input_usd_per_mtok: pin,
            output_usd_per_mtok: pout,
            enabled,
        }
    }

    /// alpha/beta/gamma take the table's prices; delta's comes from the registry only.
    fn registry() -> PriceRegistry {
        PriceRegistry::from_providers(vec![
            price("alpha", None, None, true),
            price("beta", None, None, true),
            price("gamma", None, None, true),
            price("delta", Some(0.2), Some(0.4), true),
        ])
        .unwrap()
    }

    fn policy() -> Policy {
        Policy::new(table(), registry(), RouteOptions::default()).unwrap()
    }

    /// 50/50 code/math, hard. Expected (quality, cost):
    /// alpha (0.35, 0.000115), delta (0.7 = mean, 0.00025), beta (0.6, 0.0006), gamma (0.825, 0.0027).
    fn hard() -> PromptLabels {
        PromptLabels {
            category_probs: vec![0.5, 0.5],
            level_probs: [0.0, 0.0, 1.0],
            input_tokens: 1000,
        }
    }

    fn opts() -> RouteOptions {
        RouteOptions::default()
    }

    fn candidate<'a>(d: &'a Decision, name: &str) -> &'a Candidate {
        d.candidates.iter().find(|c| c.provider == name).unwrap()
    }

    fn invalid_input(r: Result<Decision>) -> String {
        match r {
            Err(Error::InvalidInput(m)) => m,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn mixture_math_matches_hand_computation() {
        let p = policy();
        let labels = PromptLabels {
            category_probs: vec![0.25, 0.75],
            level_probs: [0.2, 0.5, 0.3],
            input_tokens: 1000,
        };
        let est = p.estimate(&labels);
        assert_eq!(
            est.iter().map(|e| e.provider.as_str()).collect::<Vec<_>>(),
            vec!["alpha", "beta", "gamma", "delta"]
        );
        // alpha: 0.25*(0.2*0.6+0.5*0.5+0.3*0.3) + 0.75*(0.2*0.7+0.5*0.6+0.3*0.4) = 0.115 + 0.42.
        assert!((est[0].expected_quality - 0.535).abs() < 1e-6, "{est:?}");
        // alpha cost: 1000*0.1/1e6 + (0.25*100 + 0.75*200)*0.1/1e6.
        assert!(
            close(est[0].expected_cost_usd.unwrap(), 0.0001175),
            "{est:?}"
        );
        // gamma: 0.25*(0.18+0.425+0.24) + 0.75*(0.19+0.45+0.255) = 0.21125 + 0.67125.
        assert!((est[2].expected_quality - 0.8825).abs() < 1e-6, "{est:?}");
        // gamma cost: 1000*2/1e6 + (0.25*300 + 0.75*400)*2/1e6 = 0.002 + 0.00075.
        assert!(close(est[2].expected_cost_usd.unwrap(), 0.00275), "{est:?}");
        // delta cost from registry prices: 1000*0.2/1e6 + (0.25*150 + 0.75*100)*0.4/1e6.
        assert!(
            close(est[3].expected_cost_usd.unwrap(), 0.000245),
            "{est:?}"
        );
        assert!(close(expected_output_tokens(&p.table, &labels, 3), 112.5));
    }

    #[test]
    fn none_cells_are_renormalised() {
        let p = policy();
        let labels = PromptLabels {
            category_probs: vec![0.25, 0.75],
            level_probs: [0.2, 0.5, 0.3],
            input_tokens: 10,
        };
        // delta has values in code/easy (w .05, .65), math/easy (w .15, .8), math/medium (w .375, .7):
        // (0.0325 + 0.12 + 0.2625) / 0.575.
        let q = p.estimate(&labels)[3].expected_quality;
        assert!((q - 0.415 / 0.575).abs() < 1e-6, "{q}");
        // With only None cells in play, the provider's mean quality is used.
        assert!((p.estimate(&hard())[3].expected_quality - 0.7).abs() < 1e-6);
    }

    #[test]
    fn default_mode_is_a_small_quality_drop() {
        let p = policy();
        assert_eq!(
            p.defaults().max_quality_drop,
            Some(DEFAULT_MAX_QUALITY_DROP)
        );
        let d = p.decide(&hard(), &opts()).unwrap();
        assert_eq!(d.provider, "gamma");
        assert!((d.expected_quality - 0.825).abs() < 1e-6);
        assert!(close(d.expected_cost_usd, 0.0027));
        assert!(
            d.reason.starts_with("cheapest provider with"),
            "{}",
            d.reason
        );
        // Candidates are sorted by expected cost ascending.
        let order: Vec<&str> = d.candidates.iter().map(|c| c.provider.as_str()).collect();
        assert_eq!(order, vec!["alpha", "delta", "beta", "gamma"]);
        assert!(candidate(&d, "gamma").eligible);
        let delta = candidate(&d, "delta");
        assert!(
            !delta.eligible && delta.reason.contains("max_quality_drop"),
            "{delta:?}"
        );
        // A configured default without a drop keeps no default drop.
        let p = Policy::new(
            table(),
            registry(),
            RouteOptions {
                min_quality: Some(0.5),
                ..opts()
            },
        )
        .unwrap();
        assert_eq!(p.defaults().max_quality_drop, None);
        assert_eq!(p.decide(&hard(), &opts()).unwrap().provider, "delta");
    }

    #[test]
    fn max_quality_drop_widens_the_choice() {
        let p = policy();
        let pick = |drop: f32| {
            p.decide(
                &hard(),
                &RouteOptions {
                    max_quality_drop: Some(drop),
                    ..opts()
                },
            )
            .unwrap()
            .provider
        };
        assert_eq!(pick(0.0), "gamma");
        assert_eq!(pick(0.1), "gamma");
        assert_eq!(pick(0.15), "delta"); // 0.7 >= 0.825 - 0.15
        assert_eq!(pick(0.3), "delta"); // beta (0.6) now eligible but dearer
        assert_eq!(pick(0.475), "alpha"); // 0.35 >= 0.825 - 0.475, exactly at the edge
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    max_quality_drop: Some(0.3),
                    ..opts()
                },
            )
            .unwrap();
        assert!(candidate(&d, "beta").eligible);
        assert!(!candidate(&d, "alpha").eligible);
    }

    #[test]
    fn min_quality_picks_the_cheapest_above_it() {
        let p = policy();
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    min_quality: Some(0.55),
                    max_quality_drop: Some(1.0),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "delta");
        let alpha = candidate(&d, "alpha");
        assert!(
            !alpha.eligible && alpha.reason.contains("min_quality 0.55"),
            "{alpha:?}"
        );
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    min_quality: Some(0.75),
                    max_quality_drop: Some(1.0),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "gamma");
    }

    #[test]
    fn max_cost_excludes_dear_providers_before_the_drop() {
        let p = policy();
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    max_cost_usd: Some(0.001),
                    ..opts()
                },
            )
            .unwrap();
        // gamma is over budget, so the best is delta (0.7) and the 0.02 drop keeps only delta.
        assert_eq!(d.provider, "delta");
        let gamma = candidate(&d, "gamma");
        assert!(
            !gamma.eligible && gamma.reason.contains("max_cost_usd"),
            "{gamma:?}"
        );
        assert!(!candidate(&d, "beta").reason.contains("max_cost_usd"));
    }

    #[test]
    fn no_eligible_provider_falls_back_to_the_best_quality() {
        let p = policy();
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    max_cost_usd: Some(0.0001),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "gamma");
        assert!(d.candidates.iter().all(|c| !c.eligible));
        assert!(
            d.reason
                .starts_with("no provider meets the target (4 over max_cost_usd")
                && d.reason
                    .ends_with("; chose the best-quality allowed provider"),
            "{}",
            d.reason
        );
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    min_quality: Some(0.9),
                    allowed: Some(vec!["alpha".into(), "beta".into()]),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "beta");
        assert!(d.reason.contains("2 below min_quality 0.9"), "{}", d.reason);
    }

    #[test]
    fn allowed_restricts_and_can_include_disabled_providers() {
        let p = policy();
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    allowed: Some(vec!["alpha".into(), "beta".into()]),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "beta");
        assert_eq!(candidate(&d, "gamma").reason, "not in the allowed list");
        assert!(!candidate(&d, "gamma").eligible);

        let mut reg = registry();
        reg.upsert(price("beta", None, None, false)).unwrap();
        let p = Policy::new(table(), reg, opts()).unwrap();
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    max_quality_drop: Some(0.3),
                    ..opts()
                },
            )
            .unwrap();
        // A disabled provider is not a candidate unless named in `allowed` (or forced).
        assert_eq!(d.provider, "delta");
        assert!(d.candidates.iter().all(|c| c.provider != "beta"));
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    force: Some("beta".into()),
                    allowed: Some(vec!["alpha".into()]),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "beta");
        assert_eq!(candidate(&d, "beta").reason, "not enabled in the registry");
        assert_eq!(candidate(&d, "gamma").reason, "not in the allowed list");
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    allowed: Some(vec!["beta".into(), "alpha".into()]),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "beta");
        assert!(candidate(&d, "beta").eligible);
    }

    #[test]
    fn denied_is_merged_with_defaults_and_all_denied_is_an_error() {
        let p = Policy::new(
            table(),
            registry(),
            RouteOptions {
                denied: vec!["gamma".into()],
                ..opts()
            },
        )
        .unwrap();
        let d = p.decide(&hard(), &opts()).unwrap();
        assert_eq!(d.provider, "delta");
        assert_eq!(candidate(&d, "gamma").reason, "in the denied list");
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    denied: vec!["delta".into()],
                    ..opts()
                },
            )
            .unwrap();
        // gamma and delta both denied: best is beta (0.6), alpha is too far below it.
        assert_eq!(d.provider, "beta");
        let m = invalid_input(p.decide(
            &hard(),
            &RouteOptions {
                denied: vec!["alpha".into(), "beta".into(), "delta".into()],
                ..opts()
            },
        ));
        assert!(m.starts_with("no provider can be chosen"), "{m}");
    }

    #[test]
    fn force_overrides_every_rule() {
        let p = policy();
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    force: Some("alpha".into()),
                    denied: vec!["alpha".into()],
                    min_quality: Some(0.9),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "alpha");
        assert_eq!(d.reason, "forced by request");
        assert!((d.expected_quality - 0.35).abs() < 1e-6);
        assert!(close(d.expected_cost_usd, 0.000115));
        assert_eq!(d.candidates.len(), 4);
        assert!(!candidate(&d, "alpha").eligible);
    }

    #[test]
    fn unknown_provider_names_are_rejected() {
        let p = policy();
        for o in [
            RouteOptions {
                allowed: Some(vec!["alpha".into(), "zeta".into()]),
                ..opts()
            },
            RouteOptions {
                denied: vec!["zeta".into()],
                ..opts()
            },
            RouteOptions {
                force: Some("zeta".into()),
                ..opts()
            },
        ] {
            let m = invalid_input(p.decide(&hard(), &o));
            assert_eq!(
                m,
                "unknown provider `zeta`; known: alpha, beta, delta, gamma"
            );
        }
        // Unknown names in the configured defaults are a usage error.
        let r = Policy::new(
            table(),
            registry(),
            RouteOptions {
                denied: vec!["zeta".into()],
                ..opts()
            },
        );
        assert!(matches!(r, Err(Error::Usage(m)) if m.contains("unknown provider `zeta`")));
    }

    #[test]
    fn bad_numbers_and_labels_are_rejected() {
        let p = policy();
        invalid_input(p.decide(
            &hard(),
            &RouteOptions {
                max_quality_drop: Some(-0.1),
                ..opts()
            },
        ));
        invalid_input(p.decide(
            &hard(),
            &RouteOptions {
                min_quality: Some(f32::NAN),
                ..opts()
            },
        ));
        let m = invalid_input(p.decide(
            &PromptLabels {
                category_probs: vec![1.0],
                ..hard()
            },
            &opts(),
        ));
        assert!(m.contains("1 category probabilities"), "{m}");
        let mut bad = table();
        bad.output_tokens.pop();
        assert!(matches!(
            Policy::new(bad, registry(), opts()),
            Err(Error::Artifacts(_))
        ));
    }

    #[test]
    fn provider_without_outcome_data_is_reported_ineligible() {
        let mut reg = registry();
        reg.upsert(price("epsilon", Some(0.01), Some(0.01), true))
            .unwrap();
        let p = Policy::new(table(), reg, opts()).unwrap();
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    max_quality_drop: Some(1.0),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(d.provider, "alpha");
        let e = candidate(&d, "epsilon");
        assert!(!e.eligible);
        assert_eq!(e.reason, "no outcome data: cannot be chosen");
        assert!(e.expected_quality.is_nan() && e.expected_cost_usd.is_nan());
        assert_eq!(d.candidates.last().unwrap().provider, "epsilon");
        // It is not in the estimate (table providers only) and cannot be forced.
        assert_eq!(p.estimate(&hard()).len(), 4);
        let m = invalid_input(p.decide(
            &hard(),
            &RouteOptions {
                force: Some("epsilon".into()),
                ..opts()
            },
        ));
        assert!(m.contains("no outcome data"), "{m}");
    }

    #[test]
    fn registry_price_override_changes_the_choice() {
        let wide = RouteOptions {
            max_quality_drop: Some(0.5),
            ..opts()
        };
        assert_eq!(policy().decide(&hard(), &wide).unwrap().provider, "alpha");
        let t = Arc::new(table());
        let mut reg = registry();
        reg.upsert(price("gamma", Some(0.01), Some(0.01), true))
            .unwrap();
        let p = Policy::new(Arc::clone(&t), reg, opts()).unwrap();
        let d = p.decide(&hard(), &wide).unwrap();
        assert_eq!(d.provider, "gamma");
        // 1000*0.01/1e6 + 350*0.01/1e6.
        assert!(close(d.expected_cost_usd, 0.0000135));
        assert_eq!(t.providers[2].input_usd_per_mtok, Some(2.0));
        assert_eq!(*t, table());
    }

    #[test]
    fn missing_price_uses_observed_cost_or_blocks_the_provider() {
        let mut reg = registry();
        reg.upsert(price("delta", None, None, true)).unwrap();
        let p = Policy::new(table(), reg.clone(), opts()).unwrap();
        let wide = RouteOptions {
            max_quality_drop: Some(0.2),
            ..opts()
        };
        let d = p.decide(&hard(), &wide).unwrap();
        assert_eq!(d.provider, "gamma");
        let delta = candidate(&d, "delta");
        assert!(
            !delta.eligible && delta.reason.starts_with("no price"),
            "{delta:?}"
        );
        assert!(p.estimate(&hard())[3].expected_cost_usd.is_none());

        let mut t = table();
        t.observed_cost_usd[0][2][3] = Some(0.0004);
        t.observed_cost_usd[1][2][3] = Some(0.0002);
        t.observed_cost_usd[1][0][3] = Some(9.0); // zero weight for a hard prompt
        let p = Policy::new(t, reg, opts()).unwrap();
        let d = p.decide(&hard(), &wide).unwrap();
        assert_eq!(d.provider, "delta");
        assert!(close(d.expected_cost_usd, 0.0003));
    }

    #[test]
    fn cheapest_within_breaks_ties() {
        let q = [0.8, 0.9, 0.85, 0.95, 0.99];
        let c = [1.0, 2.0, 2.0, 5.0, f64::NAN];
        let all = [true; 5];
        assert_eq!(cheapest_within(&q, &c, &all, 0.0), Some(3)); // NaN cost is skipped
        assert_eq!(cheapest_within(&q, &c, &all, 0.1), Some(1)); // tie at 2.0 -> higher quality
        assert_eq!(cheapest_within(&q, &c, &all, 0.15), Some(0));
        assert_eq!(
            cheapest_within(&q, &c, &[false, false, true, true, true], 0.1),
            Some(2)
        );
        assert_eq!(
            cheapest_within(&[0.5, 0.5], &[1.0, 1.0], &[true, true], 0.0),
            Some(0)
        );
        assert_eq!(cheapest_within(&q, &c, &[false; 5], 1.0), None);
        // The policy's sweep helper matches decide() on enabled providers.
        let p = policy();
        let est = p.estimate(&hard());
        assert_eq!(p.sweep_choice(&est, 0.02), Some(2));
        assert_eq!(p.sweep_choice(&est, 0.15), Some(3));
        assert_eq!(p.sweep_choice(&est, 0.5), Some(0));
    }

    #[test]
    fn route_options_deserialize_with_defaults_and_merge() {
        let o: RouteOptions =
            serde_json::from_str(r#"{"max_cost_usd": 0.01, "denied": ["a"]}"#).unwrap();
        assert_eq!(
            o,
            RouteOptions {
                max_cost_usd: Some(0.01),
                denied: vec!["a".into()],
                ..opts()
            }
        );
        let defaults = RouteOptions {
            max_quality_drop: Some(0.02),
            max_cost_usd: Some(1.0),
            denied: vec!["b".into(), "a".into()],
            force: Some("c".into()),
            ..opts()
        };
        let m = o.merged_over(&defaults);
        assert_eq!(m.max_cost_usd, Some(0.01));
        assert_eq!(m.max_quality_drop, Some(0.02));
        assert_eq!(m.denied, vec!["b".to_string(), "a".to_string()]);
        assert_eq!(m.force.as_deref(), Some("c"));
        let d = policy().decide(&hard(), &opts()).unwrap();
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["provider"], "gamma");
        assert_eq!(json["candidates"].as_array().unwrap().len(), 4);
    }
}
