//! The summary of a `triage label` run: counts per domain, level and chosen provider, and the projected
//! cost and mean expected quality of the routed mix against sending every prompt to one provider.
//!
//! Projection rules (documented in docs/label.md):
//! - the *pool* is the providers the router could choose from: every candidate of the decisions (the
//!   enabled providers, or the `--allow` list) minus `--deny`;
//! - a provider enters the all-to-one comparison only if every labelled record has a finite expected quality
//!   and cost for it;
//! - *all-to-best* is the pool provider with the highest mean expected quality over the labelled records
//!   (ties: lower total cost, then name); *all-to-cheapest* the one with the lowest total expected cost
//!   (ties: higher mean quality, then name);
//! - costs are the decisions' expected costs (price registry × the prompt's tokens and the table's expected
//!   output tokens), summed over the labelled records; bad records count nowhere but in `bad`.

use crate::labels::Labels;
use crate::routing::{Decision, RouteOptions, DOMAINS, LEVELS};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Running totals of one provider over the labelled records.
#[derive(Debug, Default, Clone)]
struct ProviderTotals {
    /// Records with a finite expected quality and cost for this provider.
    complete: u64,
    quality: f64,
    cost: f64,
}

/// Accumulates a label run's counts and projected costs, one labelled record at a time.
#[derive(Debug)]
pub struct Summary {
    allowed: Option<BTreeSet<String>>,
    denied: BTreeSet<String>,
    /// Records of this run (this shard), good and bad.
    pub records: u64,
    /// Records that got labels.
    pub labelled: u64,
    /// Records that were bad (an error line in the output).
    pub bad: u64,
    /// Tokens fed to the model (after truncation, `[CLS]`/`[SEP]` included), as `triage embed` counts them.
    pub tokens: u64,
    domains: [u64; DOMAINS.len()],
    levels: [u64; LEVELS.len()],
    chosen: BTreeMap<String, u64>,
    routed_cost: f64,
    routed_cost_missing: u64,
    routed_quality: f64,
    providers: BTreeMap<String, ProviderTotals>,
}

impl Summary {
    /// An empty summary for decisions taken under `options` (the policy's effective defaults).
    pub fn new(options: &RouteOptions) -> Self {
        Self {
            allowed: options
                .allowed
                .as_ref()
                .map(|a| a.iter().cloned().collect()),
            denied: options.denied.iter().cloned().collect(),
            records: 0,
            labelled: 0,
            bad: 0,
            tokens: 0,
            domains: [0; DOMAINS.len()],
            levels: [0; LEVELS.len()],
            chosen: BTreeMap::new(),
            routed_cost: 0.0,
            routed_cost_missing: 0,
            routed_quality: 0.0,
            providers: BTreeMap::new(),
        }
    }

    fn in_pool(&self, provider: &str) -> bool {
        self.allowed.as_ref().is_none_or(|a| a.contains(provider))
            && !self.denied.contains(provider)
    }

    /// Counts a bad record.
    pub fn add_bad(&mut self) {
        self.records += 1;
        self.bad += 1;
    }

    /// Counts one labelled record, `tokens` being its token count after truncation.
    pub fn add(&mut self, labels: &Labels, decision: &Decision, tokens: usize) {
        self.records += 1;
        self.labelled += 1;
        self.tokens += tokens as u64;
        if let Some(i) = DOMAINS.iter().position(|d| *d == labels.domain) {
            self.domains[i] += 1;
        }
        if let Some(n) = self.levels.get_mut(labels.level_index) {
            *n += 1;
        }
        match self.chosen.get_mut(&decision.provider) {
            Some(n) => *n += 1,
            None => {
                self.chosen.insert(decision.provider.clone(), 1);
            }
        }
        if decision.expected_cost_usd.is_finite() {
            self.routed_cost += decision.expected_cost_usd;
        } else {
            self.routed_cost_missing += 1;
        }
        self.routed_quality += f64::from(decision.expected_quality);
        for c in &decision.candidates {
            if !self.in_pool(&c.provider) {
                continue;
            }
            if !self.providers.contains_key(&c.provider) {
                self.providers
                    .insert(c.provider.clone(), ProviderTotals::default());
            }
            if let Some(t) = self.providers.get_mut(&c.provider) {
                if c.expected_quality.is_finite() && c.expected_cost_usd.is_finite() {
                    t.complete += 1;
                    t.quality += f64::from(c.expected_quality);
                    t.cost += c.expected_cost_usd;
                }
            }
        }
    }

    /// The finished report.
    pub fn report(&self, run: RunInfo) -> Report {
        let n = self.labelled;
        let mean = |sum: f64| if n > 0 { sum / n as f64 } else { 0.0 };
        let per_provider: BTreeMap<String, Projection> = self
            .providers
            .iter()
            .filter(|(_, t)| n > 0 && t.complete == n)
            .map(|(name, t)| {
                (
                    name.clone(),
                    Projection {
                        provider: Some(name.clone()),
                        total_cost_usd: t.cost,
                        mean_cost_usd: mean(t.cost),
                        mean_quality: mean(t.quality),
                    },
                )
            })
            .collect();
        let best = per_provider
            .values()
            .max_by(|a, b| {
                a.mean_quality
                    .total_cmp(&b.mean_quality)
                    .then_with(|| b.total_cost_usd.total_cmp(&a.total_cost_usd))
                    .then_with(|| b.provider.cmp(&a.provider))
            })
            .cloned();
        let cheapest = per_provider
            .values()
            .min_by(|a, b| {
                a.total_cost_usd
                    .total_cmp(&b.total_cost_usd)
                    .then_with(|| b.mean_quality.total_cmp(&a.mean_quality))
                    .then_with(|| a.provider.cmp(&b.provider))
            })
            .cloned();
        let routed = Projection {
            provider: None,
            total_cost_usd: self.routed_cost,
            mean_cost_usd: mean(self.routed_cost),
            mean_quality: mean(self.routed_quality),
        };
        let savings_vs_best_usd = best
            .as_ref()
            .map(|b| b.total_cost_usd - routed.total_cost_usd);
        let savings_vs_best_fraction = best.as_ref().and_then(|b| {
            (b.total_cost_usd > 0.0)
                .then(|| (b.total_cost_usd - routed.total_cost_usd) / b.total_cost_usd)
        });
        // Every pool provider is listed, chosen or not.
        let mut providers: BTreeMap<String, u64> =
            self.providers.keys().map(|k| (k.clone(), 0)).collect();
        for (k, v) in &self.chosen {
            providers.insert(k.clone(), *v);
        }
        let seconds = run.seconds;
        Report {
            records: self.records,
            labelled: self.labelled,
            bad: self.bad,
            tokens: self.tokens,
            seconds,
            load_seconds: run.load_seconds,
            prompts_per_s: if seconds > 0.0 {
                self.records as f64 / seconds
            } else {
                0.0
            },
            inputs: run.inputs,
            shard: run.shard,
            options: run.options,
            domains: DOMAINS
                .iter()
                .zip(self.domains)
                .map(|(d, n)| ((*d).to_string(), n.into()))
                .collect(),
            levels: LEVELS
                .iter()
                .zip(self.levels)
                .map(|(l, n)| ((*l).to_string(), n.into()))
                .collect(),
            providers,
            projection: ProjectionReport {
                routed,
                routed_records_without_cost: self.routed_cost_missing,
                all_to_best: best,
                all_to_cheapest: cheapest,
                savings_vs_best_usd,
                savings_vs_best_fraction,
                per_provider,
            },
        }
    }
}

/// What the summary needs to know about the run itself.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub seconds: f64,
    pub load_seconds: f64,
    pub inputs: Vec<String>,
    pub shard: Option<String>,
    pub options: RouteOptions,
}

/// The cost and mean expected quality of sending the labelled records somewhere.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    /// The provider everything goes to (absent for the routed mix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub total_cost_usd: f64,
    pub mean_cost_usd: f64,
    pub mean_quality: f64,
}

/// The projected costs of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionReport {
    /// Each record to the provider the router chose.
    pub routed: Projection,
    /// Routed records whose chosen provider had no cost estimate (left out of the routed total; 0 unless a
    /// provider without a price is allowed).
    pub routed_records_without_cost: u64,
    /// Every record to the pool provider with the highest mean expected quality.
    pub all_to_best: Option<Projection>,
    /// Every record to the pool provider with the lowest total expected cost.
    pub all_to_cheapest: Option<Projection>,
    /// `all_to_best.total_cost_usd - routed.total_cost_usd`.
    pub savings_vs_best_usd: Option<f64>,
    /// That saving as a fraction of the all-to-best cost.
    pub savings_vs_best_fraction: Option<f64>,
    /// Every record to each pool provider in turn.
    pub per_provider: BTreeMap<String, Projection>,
}

/// The summary as written by `--report` (JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub records: u64,
    pub labelled: u64,
    pub bad: u64,
    pub tokens: u64,
    /// Wall time of the labelling (reading, embedding, labelling, routing, writing), model loading excluded.
    pub seconds: f64,
    /// Wall time spent loading the embedding model and the router's artifacts.
    pub load_seconds: f64,
    /// `records / seconds`.
    pub prompts_per_s: f64,
    pub inputs: Vec<String>,
    pub shard: Option<String>,
    /// The routing options in force (the policy's effective defaults).
    pub options: RouteOptions,
    /// Labelled records per domain, in the domain order.
    pub domains: OrderedCounts,
    /// Labelled records per level (easy, medium, hard).
    pub levels: OrderedCounts,
    /// Labelled records per chosen provider; every pool provider is listed.
    pub providers: BTreeMap<String, u64>,
    pub projection: ProjectionReport,
}

/// Counts keyed by name, kept in insertion order (serde_json has `preserve_order`).
pub type OrderedCounts = serde_json::Map<String, serde_json::Value>;

impl Report {
    /// The summary as text, for stderr.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "triage label: {} records ({} labelled, {} bad) in {:.1} s, {:.1} prompts/s{}",
            self.records,
            self.labelled,
            self.bad,
            self.seconds,
            self.prompts_per_s,
            self.shard
                .as_ref()
                .map(|sh| format!(", shard {sh}"))
                .unwrap_or_default()
        );
        let counts = |m: &OrderedCounts| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "  domains:   {}", counts(&self.domains));
        let _ = writeln!(s, "  levels:    {}", counts(&self.levels));
        let mut chosen: Vec<(&String, &u64)> =
            self.providers.iter().filter(|(_, n)| **n > 0).collect();
        chosen.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let _ = writeln!(
            s,
            "  providers: {}",
            chosen
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if self.labelled == 0 {
            return s;
        }
        let p = &self.projection;
        let mut rows: Vec<(String, &Projection)> = vec![("routed mix".to_string(), &p.routed)];
        if let Some(b) = &p.all_to_best {
            let name = b.provider.as_deref().unwrap_or("?");
            rows.push((format!("all to best ({name})"), b));
        }
        if let Some(c) = &p.all_to_cheapest {
            let name = c.provider.as_deref().unwrap_or("?");
            rows.push((format!("all to cheapest ({name})"), c));
        }
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let _ = writeln!(s, "  projected for {} labelled prompts:", self.labelled);
        let _ = writeln!(
            s,
            "    {:<width$}  {:>12}  {:>10}  {:>12}",
            "", "total $", "$ per 1k", "mean quality"
        );
        for (name, pr) in rows {
            let _ = writeln!(
                s,
                "    {name:<width$}  {:>12.6}  {:>10.4}  {:>12.4}",
                pr.total_cost_usd,
                pr.mean_cost_usd * 1000.0,
                pr.mean_quality
            );
        }
        if let (Some(usd), Some(frac)) = (p.savings_vs_best_usd, p.savings_vs_best_fraction) {
            let _ = writeln!(
                s,
                "  routing saves ${usd:.6} ({:.1}%) versus all-to-best",
                frac * 100.0
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Candidate;

    fn labels(domain: &'static str, level_index: usize) -> Labels {
        Labels {
            domain,
            domain_probs: vec![],
            difficulty: 0.5,
            level: LEVELS[level_index],
            level_index,
            table_band: level_index,
            band_weights: [0.0; 3],
            blank: false,
            category_probs: vec![],
            input_tokens: 10,
            truncated: false,
            turn: crate::labels::Turn::Single,
        }
    }

    fn candidate(provider: &str, q: f32, c: f64) -> Candidate {
        Candidate {
            provider: provider.into(),
            expected_quality: q,
            quality_interval: [q, q],
            expected_cost_usd: c,
            eligible: true,
            reason: String::new(),
            quality_source: "measured".into(),
            excluded: None,
        }
    }

    fn decision(provider: &str, candidates: Vec<Candidate>) -> Decision {
        let chosen = candidates
            .iter()
            .find(|c| c.provider == provider)
            .cloned()
            .unwrap();
        Decision {
            provider: provider.into(),
            expected_quality: chosen.expected_quality,
            expected_cost_usd: chosen.expected_cost_usd,
            reason: String::new(),
            candidates,
        }
    }

    fn run_info() -> RunInfo {
        RunInfo {
            seconds: 2.0,
            load_seconds: 0.1,
            inputs: vec!["x".into()],
            shard: None,
            options: RouteOptions::default(),
        }
    }

    #[test]
    fn projection_picks_best_and_cheapest_over_all_records() {
        let mut s = Summary::new(&RouteOptions {
            denied: vec!["denied".into()],
            ..RouteOptions::default()
        });
        // big: best quality, dear; small: cheapest; mid: in between. "denied" would be best but is denied;
        // "nodata" has no quality and is left out of the comparison.
        let d1 = decision(
            "small",
            vec![
                candidate("small", 0.6, 1.0),
                candidate("mid", 0.7, 2.0),
                candidate("big", 0.9, 10.0),
                candidate("denied", 1.0, 0.5),
                candidate("nodata", f32::NAN, f64::NAN),
            ],
        );
        let d2 = decision(
            "mid",
            vec![
                candidate("small", 0.5, 1.0),
                candidate("mid", 0.8, 3.0),
                candidate("big", 0.8, 10.0),
                candidate("denied", 1.0, 0.5),
                candidate("nodata", f32::NAN, f64::NAN),
            ],
        );
        s.add(&labels("code", 0), &d1, 7);
        s.add(&labels("math", 2), &d2, 9);
        s.add_bad();
        let r = s.report(run_info());
        assert_eq!((r.records, r.labelled, r.bad, r.tokens), (3, 2, 1, 16));
        assert_eq!(r.domains["code"], 1);
        assert_eq!(r.domains["general"], 0);
        assert_eq!(r.levels["hard"], 1);
        assert_eq!(r.providers["small"], 1);
        assert_eq!(r.providers["big"], 0);
        assert!(!r.providers.contains_key("denied"));
        let p = &r.projection;
        assert!((p.routed.total_cost_usd - 4.0).abs() < 1e-12);
        assert!((p.routed.mean_quality - 0.7).abs() < 1e-6);
        let best = p.all_to_best.as_ref().unwrap();
        assert_eq!(best.provider.as_deref(), Some("big"));
        assert!((best.total_cost_usd - 20.0).abs() < 1e-12);
        let cheapest = p.all_to_cheapest.as_ref().unwrap();
        assert_eq!(cheapest.provider.as_deref(), Some("small"));
        assert!((cheapest.mean_quality - 0.55).abs() < 1e-6);
        assert!((p.savings_vs_best_fraction.unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(p.per_provider.len(), 3);
        assert!((r.prompts_per_s - 1.5).abs() < 1e-12);
        let text = r.to_text();
        assert!(text.contains("all to best (big)"), "{text}");
        assert!(text.contains("(80.0%)"), "{text}");
    }

    #[test]
    fn allowed_list_limits_the_pool_and_empty_runs_report_nothing() {
        let mut s = Summary::new(&RouteOptions {
            allowed: Some(vec!["small".into()]),
            ..RouteOptions::default()
        });
        let r = s.report(run_info());
        assert!(r.projection.all_to_best.is_none());
        assert_eq!(r.projection.routed.mean_quality, 0.0);
        s.add(
            &labels("code", 0),
            &decision(
                "small",
                vec![candidate("small", 0.6, 1.0), candidate("big", 0.9, 10.0)],
            ),
            3,
        );
        let r = s.report(run_info());
        assert_eq!(
            r.projection.all_to_best.unwrap().provider.as_deref(),
            Some("small")
        );
        assert_eq!(r.providers.len(), 1);
    }
}
