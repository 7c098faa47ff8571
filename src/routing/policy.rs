//! The routing policy: the learned table, the price registry and the configured defaults, turning a
//! prompt's labels into a decision in four steps — eligibility (who may take part), target (the merged
//! options), choice ([`rule::apply`], the one decision rule) and explanation (every candidate's reason).

use super::estimate::{expected_cost, expected_quality};
use super::options::RouteOptions;
use super::registry::ProviderRegistry;
use super::rule::{self, Choice, Offer, Ruling, Verdict};
use super::table::{PromptLabels, RoutingTable};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The quality drop used when the configuration sets no target at all.
pub const DEFAULT_MAX_QUALITY_DROP: f32 = 0.02;

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
    /// A 95% interval around `expected_quality`: narrow where it was measured on many prompts like this
    /// one, wide where it is estimated from other kinds of prompts or borrowed (`null`s without a quality).
    pub quality_interval: [f32; 2],
    /// Where its expected quality comes from: `measured` (its own outcome rows in the prompt's category),
    /// `estimated from what it was measured on (...)` (it has outcome rows, but none in this prompt's category
    /// at this level), `borrowed from X` (a registry `like`, with the offset when there is one) or `none`.
    pub quality_source: String,
    /// Why it cannot take part in this decision at all (not enabled, denied, no data or price, cannot be
    /// reached, or lacks what the request needs: `no tool calling`); `None` when it took part.
    pub excluded: Option<String>,
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
    /// For a provider without outcome data, the measured one whose quality it borrows (registry `like`).
    borrowed: Option<Borrowed>,
}

/// A borrowed quality estimate: another table provider's, shifted per domain.
#[derive(Debug, Clone)]
struct Borrowed {
    /// Table index of the measured provider.
    from: usize,
    /// Offset per domain (`DOMAINS` order).
    offsets: [f64; super::DOMAINS.len()],
}

/// The routing policy: the learned table, the price registry and the configured default options.
#[derive(Debug, Clone)]
pub struct Policy {
    table: Arc<RoutingTable>,
    registry: ProviderRegistry,
    defaults: RouteOptions,
    /// Every known provider, sorted by name (so a provider's index is its rank by name: the rule's tie key).
    known: Vec<Known>,
    /// For each table provider, its index in `known`.
    known_of_table: Vec<usize>,
}

/// One reported provider after the eligibility step.
struct Entrant {
    /// Index in `Policy::known`.
    known: usize,
    quality: f32,
    /// Standard error of `quality`.
    quality_sd: f64,
    cost: Option<f64>,
    /// Why it cannot take part (not allowed, denied, no data, no price, or [`Self::unservable`]); `None`
    /// when admitted.
    excluded: Option<String>,
    /// Why it cannot serve this request at all (unreachable, or lacking what the request needs): unlike
    /// the other exclusions, this one a forced provider cannot override.
    unservable: Option<String>,
    /// Where its quality estimate comes from (the candidate's `quality_source`).
    quality_source: String,
}

impl Entrant {
    fn offer(&self) -> Offer {
        Offer {
            quality: f64::from(self.quality),
            quality_sd: self.quality_sd,
            cost: self.cost.unwrap_or(f64::NAN),
            admitted: self.excluded.is_none(),
            tie_key: self.known,
        }
    }
}

impl Policy {
    /// Builds the policy. Checks the table's shape (`Error::Artifacts`) and the defaults (`Error::Usage`);
    /// when the defaults set no target at all, `max_quality_drop` becomes [`DEFAULT_MAX_QUALITY_DROP`].
    /// Providers enabled in the registry but absent from the table are kept (and reported ineligible).
    pub fn new(
        table: impl Into<Arc<RoutingTable>>,
        registry: ProviderRegistry,
        defaults: RouteOptions,
    ) -> Result<Policy> {
        let table: Arc<RoutingTable> = table.into();
        table.check_shape().map_err(Error::Artifacts)?;
        let mut defaults = defaults;
        defaults
            .check_numbers()
            .map_err(|m| Error::Usage(format!("routing defaults: {m}")))?;
        if defaults.has_no_target() {
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
                borrowed: None,
            });
            // A `like` stands in until the provider is measured: once outcome rows name it (collected
            // outcomes, feedback), its own data decide and the borrowed estimate is dropped.
            if let Some(like) = entry.and_then(|e| e.like.as_deref()) {
                tracing::info!(
                    provider = %stats.name,
                    like,
                    "provider has outcome data of its own now; its `like` is ignored"
                );
            }
        }
        let mut without_data = Vec::new();
        for entry in registry.iter() {
            if table.provider_index(&entry.name).is_none() {
                let borrowed = match entry.like.as_deref() {
                    None => None,
                    Some(like) => Some(Borrowed {
                        from: table.provider_index(like).ok_or_else(|| {
                            Error::Usage(format!(
                                "provider registry: `{}` is `like = \"{like}\"`, which has no outcome data in the routing table",
                                entry.name
                            ))
                        })?,
                        offsets: entry.like_offsets(),
                    }),
                };
                if entry.enabled && borrowed.is_none() {
                    without_data.push(entry.name.clone());
                }
                known.push(Known {
                    name: entry.name.clone(),
                    table_index: None,
                    enabled: entry.enabled,
                    input_price: entry.input_usd_per_mtok,
                    output_price: entry.output_usd_per_mtok,
                    borrowed,
                });
            }
        }
        if !without_data.is_empty() {
            tracing::warn!(
                providers = %without_data.join(", "),
                "providers enabled in the registry have no outcome data in the routing table (and no `like`) and cannot be chosen"
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
        for (k, entry) in known.iter().enumerate() {
            if let Some(slot) = entry.table_index.and_then(|i| known_of_table.get_mut(i)) {
                *slot = k;
            }
        }
        // Whether the enabled providers share a quality scale is `Brain::load`'s warning
        // (`RoutingTable::apart_in_scale`): evaluation enables every provider here on purpose.

        let defaults = resolve_aliases(&registry, defaults);
        let policy = Policy {
            table,
            registry,
            defaults,
            known,
            known_of_table,
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
    pub fn registry(&self) -> &ProviderRegistry {
        &self.registry
    }

    /// Names of every known provider (table or registry), sorted.
    pub fn known_providers(&self) -> impl Iterator<Item = &str> {
        self.known.iter().map(|k| k.name.as_str())
    }

    /// Expected quality and cost (`None`: no price or observed cost, so it cannot be chosen) of the table's
    /// provider `p` for a prompt.
    /// `output_cap` bounds the expected output tokens (the request's `max_tokens`).
    fn estimate_of(
        &self,
        labels: &PromptLabels,
        p: usize,
        output_cap: Option<u64>,
    ) -> (f32, Option<f64>) {
        let known = self.known_of_table.get(p).and_then(|&k| self.known.get(k));
        (
            expected_quality(&self.table, labels, p),
            known.and_then(|k| {
                expected_cost(
                    &self.table,
                    labels,
                    p,
                    (k.input_price, k.output_price),
                    output_cap,
                )
            }),
        )
    }

    /// Expected quality and cost of a known provider: measured from its table column, borrowed from its
    /// `like` (that provider's quality plus the label mixture of the per-domain offsets, clamped to [0, 1];
    /// its own prices on that provider's expected output tokens), or none.
    fn estimate_known(
        &self,
        labels: &PromptLabels,
        known: &Known,
        output_cap: Option<u64>,
    ) -> (f32, Option<f64>) {
        if let Some(p) = known.table_index {
            return self.estimate_of(labels, p, output_cap);
        }
        let Some(b) = &known.borrowed else {
            return (f32::NAN, None);
        };
        let (mut weight, mut shift) = (0.0f64, 0.0f64);
        for (pc, &d) in labels
            .category_probs
            .iter()
            .zip(&self.table.category_domain)
        {
            let w = f64::from(*pc);
            if w > 0.0 {
                weight += w;
                shift += w * b.offsets.get(d).copied().unwrap_or(0.0);
            }
        }
        let shift = if weight > 0.0 { shift / weight } else { 0.0 };
        let quality =
            (f64::from(expected_quality(&self.table, labels, b.from)) + shift).clamp(0.0, 1.0);
        let cost = match (known.input_price, known.output_price) {
            (Some(_), Some(_)) => expected_cost(
                &self.table,
                labels,
                b.from,
                (known.input_price, known.output_price),
                output_cap,
            ),
            // Never the measured provider's observed cost: it is priced differently.
            _ => None,
        };
        (quality as f32, cost)
    }

    /// The standard error of a known provider's expected quality `quality` for this prompt: from its own
    /// table column, or its `like`'s plus [`super::estimate::BORROWED_EXTRA_SD`].
    fn quality_sd_known(&self, labels: &PromptLabels, known: &Known, quality: f32) -> f64 {
        use super::estimate::{quality_sd, BORROWED_EXTRA_SD};
        match (known.table_index, &known.borrowed) {
            (Some(p), _) => quality_sd(&self.table, labels, p, quality),
            (None, Some(b)) => quality_sd(&self.table, labels, b.from, quality) + BORROWED_EXTRA_SD,
            (None, None) => f64::NAN,
        }
    }

    /// How a known provider's quality is estimated for this prompt, in words (the candidate's
    /// `quality_source`): `measured` when the provider has outcomes in the prompt's most likely category at
    /// its level; `estimated from what it was measured on (cruxeval, math-level5)` when it has none there
    /// and the table's mixture falls back on the categories (tasks, else domains) it was measured in;
    /// `borrowed from X` for a `like`.
    fn quality_source(&self, labels: &PromptLabels, known: &Known) -> String {
        if let Some(p) = known.table_index {
            return self.measured_source(labels, p);
        }
        let Some(b) = &known.borrowed else {
            return "none".into();
        };
        let from = self
            .table
            .providers
            .get(b.from)
            .map(|p| p.name.as_str())
            .unwrap_or("?");
        let offsets: Vec<String> = super::DOMAINS
            .iter()
            .zip(b.offsets)
            .filter(|(_, o)| *o != 0.0)
            .map(|(d, o)| format!("{d} {o:+.3}"))
            .collect();
        if offsets.is_empty() {
            format!("borrowed from {from}")
        } else {
            format!("borrowed from {from} ({})", offsets.join(", "))
        }
    }

    /// `measured`, or which categories a table provider's estimate for this prompt is drawn from when it has
    /// no outcome in the prompt's most likely category at the prompt's level (the categories with outcomes
    /// at that level, as the mixture of `expected_quality` takes them; else those with a value there).
    fn measured_source(&self, labels: &PromptLabels, p: usize) -> String {
        let valued = |c: usize| self.table.quality_at(c, labels.level, p).is_some();
        let cell = |c: usize| valued(c) && self.table.observed(c, labels.level, p);
        let top = labels
            .category_probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(c, _)| c);
        match top {
            Some(c) if !cell(c) => {
                // The finest categories it was measured in: its tasks, else its domains.
                let named = |has: &dyn Fn(usize) -> bool| -> Vec<&str> {
                    self.table
                        .categories
                        .iter()
                        .enumerate()
                        .filter(|&(c, _)| has(c))
                        .map(|(_, name)| name.as_str())
                        .collect()
                };
                let mut measured = named(&cell);
                if measured.is_empty() {
                    measured = named(&valued);
                }
                let tasks: Vec<&str> = measured
                    .iter()
                    .filter_map(|n| n.strip_prefix("task:"))
                    .collect();
                let names = if tasks.is_empty() {
                    measured
                        .iter()
                        .map(|n| n.strip_prefix("domain:").unwrap_or(n))
                        .collect()
                } else {
                    tasks
                };
                if names.is_empty() {
                    "estimated from its mean quality (no outcome at this level)".into()
                } else {
                    format!(
                        "estimated from what it was measured on ({})",
                        names.join(", ")
                    )
                }
            }
            _ => "measured".into(),
        }
    }

    /// Expected quality and cost of every table provider (table order) for a prompt. Probabilities beyond
    /// the table's categories are ignored; use [`Self::decide`] for checked labels.
    pub fn estimate(&self, labels: &PromptLabels) -> Vec<Estimate> {
        (0..self.table.providers.len())
            .zip(&self.table.providers)
            .map(|(p, stats)| {
                let (expected_quality, expected_cost_usd) = self.estimate_of(labels, p, None);
                Estimate {
                    provider: stats.name.clone(),
                    expected_quality,
                    expected_cost_usd,
                }
            })
            .collect()
    }

    /// The rule's view of the given table providers for a prompt, in that order: each admitted when it has
    /// an estimate and a price. This is what the evaluation's sweeps feed [`rule::apply`]; the offers equal
    /// those [`Self::decide`] builds when these providers are the allowed list (same estimates, same tie
    /// keys).
    pub fn offers(&self, labels: &PromptLabels, providers: &[usize]) -> Vec<Offer> {
        providers
            .iter()
            .map(|&p| {
                let (quality, cost) = self.estimate_of(labels, p, None);
                Offer {
                    quality: f64::from(quality),
                    quality_sd: super::estimate::quality_sd(&self.table, labels, p, quality),
                    cost: cost.unwrap_or(f64::NAN),
                    admitted: cost.is_some() && !quality.is_nan(),
                    tie_key: self.known_of_table.get(p).copied().unwrap_or(usize::MAX),
                }
            })
            .collect()
    }

    /// Chooses a provider for a prompt. `opts` is merged over the defaults. Unknown provider names, bad
    /// numbers or labels, a forced provider without outcome data, and "every provider excluded" are
    /// `Error::InvalidInput`.
    pub fn decide(&self, labels: &PromptLabels, opts: &RouteOptions) -> Result<Decision> {
        let o = self.target_options(opts)?;
        self.table
            .check_labels(labels)
            .map_err(Error::InvalidInput)?;
        // Tool definitions and a JSON schema are input the provider reads (and bills) too.
        let with_definitions;
        let labels = if o.needs.definition_tokens > 0 {
            with_definitions = PromptLabels {
                input_tokens: labels.input_tokens + o.needs.definition_tokens as usize,
                ..labels.clone()
            };
            &with_definitions
        } else {
            labels
        };
        let entrants = self.eligibility(labels, &o);
        let offers: Vec<Offer> = entrants.iter().map(Entrant::offer).collect();
        let ruling = rule::apply(&offers, &o.target());
        self.explain(&o, entrants, &ruling)
    }

    /// Target step: the request's options checked and merged over the defaults.
    fn target_options(&self, opts: &RouteOptions) -> Result<RouteOptions> {
        opts.check_numbers().map_err(Error::InvalidInput)?;
        let o = resolve_aliases(&self.registry, opts.merged_over(&self.defaults));
        self.check_names(&o).map_err(Error::InvalidInput)?;
        Ok(o)
    }

    /// Eligibility step: every provider the decision reports (enabled, allowed or forced), with its
    /// estimates and, when it cannot take part, why.
    fn eligibility(&self, labels: &PromptLabels, o: &RouteOptions) -> Vec<Entrant> {
        let allowed: Option<BTreeSet<&str>> = o
            .allowed
            .as_ref()
            .map(|a| a.iter().map(String::as_str).collect());
        let denied: BTreeSet<&str> = o.denied.iter().map(String::as_str).collect();
        let forced = o.force.as_deref();
        let mut entrants = Vec::new();
        for (k, known) in self.known.iter().enumerate() {
            let name = known.name.as_str();
            let in_allowed = allowed.as_ref().map(|a| a.contains(name));
            if !(known.enabled || in_allowed == Some(true) || forced == Some(name)) {
                continue;
            }
            let (quality, cost) = self.estimate_known(labels, known, o.needs.max_output_tokens);
            let unservable = self.unservable(name, o);
            let excluded = match in_allowed {
                Some(true) => None,
                _ if !known.enabled => Some("not enabled in the registry"),
                Some(false) => Some("not in the allowed list"),
                None => None,
            }
            .or_else(|| denied.contains(name).then_some("in the denied list"))
            .or_else(|| {
                quality
                    .is_nan()
                    .then_some("no outcome data: cannot be chosen")
            })
            .or_else(|| {
                cost.is_none().then_some(
                    "no price: cannot be chosen (no registry or table price, no observed cost)",
                )
            })
            .map(str::to_string)
            .or_else(|| unservable.clone());
            entrants.push(Entrant {
                known: k,
                quality,
                quality_sd: self.quality_sd_known(labels, known, quality),
                cost,
                excluded,
                unservable,
                quality_source: self.quality_source(labels, known),
            });
        }
        entrants
    }

    /// Why provider `name` cannot serve this request at all, whatever the target: the door cannot reach it,
    /// or it lacks what the request needs (tools, images, ...; unknown counts as lacking).
    fn unservable(&self, name: &str, o: &RouteOptions) -> Option<String> {
        if let Some(why) = o.unavailable.get(name) {
            return Some(why.clone());
        }
        match self.registry.get(name) {
            Some(entry) => o.needs.unmet(entry),
            None => o.needs.unmet(&super::registry::ProviderEntry::named(name)),
        }
    }

    /// Explanation step: the chosen provider (a forced one overrides the rule), the decision's reason and
    /// every candidate's, sorted by expected cost.
    fn explain(
        &self,
        o: &RouteOptions,
        entrants: Vec<Entrant>,
        ruling: &Ruling,
    ) -> Result<Decision> {
        let name_of = |e: &Entrant| {
            self.known
                .get(e.known)
                .map(|k| k.name.clone())
                .unwrap_or_default()
        };
        let (chosen, reason) = if let Some(name) = o.force.as_deref() {
            // A forced name is known (`check_names`), so it is an entrant. Forcing overrides every
            // exclusion but these two.
            let forced = entrants.iter().position(|e| name_of(e) == name);
            let refusal = match forced.map(|i| &entrants[i]) {
                Some(e) if e.unservable.is_some() => e.unservable.clone(),
                Some(e) if !e.quality.is_nan() => None,
                _ => Some("it has no outcome data".to_string()),
            };
            match (forced, refusal) {
                (Some(i), None) => (i, "forced by request".to_string()),
                (_, why) => {
                    return Err(Error::InvalidInput(format!(
                        "cannot force provider `{name}`: {}",
                        why.unwrap_or_default()
                    )))
                }
            }
        } else {
            match ruling.choice {
                Choice::Met(i) => (
                    i,
                    format!(
                        "cheapest provider with {}",
                        describe_target(o, ruling.best_quality)
                    ),
                ),
                Choice::Fallback(i) => (
                    i,
                    format!(
                        "no provider meets the target ({}); chose the best-quality allowed provider",
                        why_none(&entrants, &ruling.verdicts, o)
                    ),
                ),
                Choice::Nothing => {
                    let why = entrants
                        .iter()
                        .map(|e| {
                            format!("{}: {}", name_of(e), e.excluded.as_deref().unwrap_or(""))
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
        let met = matches!(ruling.choice, Choice::Met(_)) && o.force.is_none();
        let mut decision = None;
        let mut candidates = Vec::with_capacity(entrants.len());
        for (i, (e, verdict)) in entrants.iter().zip(&ruling.verdicts).enumerate() {
            let candidate = Candidate {
                provider: name_of(e),
                expected_quality: e.quality,
                quality_interval: super::estimate::interval(e.quality, e.quality_sd),
                expected_cost_usd: e.cost.unwrap_or(f64::NAN),
                eligible: *verdict == Verdict::Eligible,
                reason: candidate_reason(e, *verdict, o, ruling.best_quality, met && i == chosen),
                quality_source: e.quality_source.clone(),
                excluded: e.excluded.clone(),
            };
            if i == chosen {
                decision = Some((
                    candidate.provider.clone(),
                    candidate.expected_quality,
                    candidate.expected_cost_usd,
                ));
            }
            candidates.push(candidate);
        }
        let Some((provider, expected_quality, expected_cost_usd)) = decision else {
            return Err(Error::InvalidInput("no provider can be chosen".into()));
        };
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

/// The options with every provider name a request may give (allowed, denied, forced) replaced by the
/// registry entry it is an alias of.
fn resolve_aliases(registry: &ProviderRegistry, mut o: RouteOptions) -> RouteOptions {
    let canon = |n: &String| registry.canonical(n).to_string();
    if let Some(a) = &o.allowed {
        o.allowed = Some(a.iter().map(canon).collect());
    }
    o.denied = o.denied.iter().map(canon).collect();
    o.force = o.force.as_ref().map(canon);
    o
}

/// One candidate's reason, in words.
fn candidate_reason(
    e: &Entrant,
    verdict: Verdict,
    o: &RouteOptions,
    best: f64,
    chosen_by_rule: bool,
) -> String {
    match verdict {
        Verdict::Excluded => e
            .excluded
            .clone()
            .unwrap_or_else(|| "no usable estimate: cannot be chosen".to_string()),
        Verdict::OverCost => format!(
            "expected cost ${:.8} exceeds max_cost_usd ${}",
            e.cost.unwrap_or(f64::NAN),
            o.max_cost_usd.unwrap_or(f64::NAN)
        ),
        Verdict::BelowMinQuality => format!(
            "expected quality {:.4} is below min_quality {}",
            e.quality,
            o.min_quality.unwrap_or(f32::NAN)
        ),
        Verdict::BeyondDrop => match o.min_confidence {
            Some(c) => format!(
                "expected quality {:.4} is not within max_quality_drop {} of the best {best:.4} with probability {c}",
                e.quality,
                o.max_quality_drop.unwrap_or(f32::NAN)
            ),
            None => format!(
                "expected quality {:.4} is more than max_quality_drop {} below the best {best:.4}",
                e.quality,
                o.max_quality_drop.unwrap_or(f32::NAN)
            ),
        },
        Verdict::Eligible if chosen_by_rule => "eligible; chosen as the cheapest".to_string(),
        Verdict::Eligible => "eligible".to_string(),
    }
}

fn quality_key(q: f32) -> f32 {
    if q.is_nan() {
        f32::NEG_INFINITY
    } else {
        q
    }
}

/// The target in words, for the decision's reason.
fn describe_target(o: &RouteOptions, best: f64) -> String {
    let mut parts = Vec::new();
    if let Some(drop) = o.max_quality_drop {
        let confidence = o
            .min_confidence
            .map(|c| format!(" with probability {c}"))
            .unwrap_or_default();
        parts.push(format!(
            "expected quality within {drop} of the best eligible ({best:.4}){confidence}"
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
fn why_none(entrants: &[Entrant], verdicts: &[Verdict], o: &RouteOptions) -> String {
    let with = |v: Verdict| {
        entrants
            .iter()
            .zip(verdicts)
            .filter(move |(_, w)| **w == v)
            .map(|(e, _)| e)
    };
    let over_cost = with(Verdict::OverCost).count();
    let under_min = with(Verdict::BelowMinQuality).count();
    let mut parts = Vec::new();
    if let (Some(max), true) = (o.max_cost_usd, over_cost > 0) {
        let cheapest = with(Verdict::OverCost)
            .filter_map(|e| e.cost)
            .fold(f64::INFINITY, f64::min);
        parts.push(format!(
            "{over_cost} over max_cost_usd ${max} (cheapest ${cheapest:.8})"
        ));
    }
    if let (Some(min), true) = (o.min_quality, under_min > 0) {
        let best = entrants
            .iter()
            .zip(verdicts)
            .filter(|(_, v)| **v >= Verdict::OverCost)
            .map(|(e, _)| e.quality)
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

#[cfg(test)]
mod tests;
