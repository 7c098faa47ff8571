//! What a caller (or the configuration, as defaults) asks of a routing decision, and how a request's
//! options merge over the configured ones. The one definition of the routing knobs: the command line
//! (`clap::Args`), the HTTP bodies (serde, OpenAPI schema) and the label report all use this struct.

use super::needs::Needs;
use super::rule::Target;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// What a caller (or the configuration, as defaults) asks of a routing decision.
///
/// A request's options are merged over the configured defaults field by field (the request wins; `denied`
/// is the union). Note that a default `max_quality_drop` stays in force when a request sets only
/// `min_quality` or `max_cost_usd`; a request can relax it by sending a larger `max_quality_drop` (1.0
/// disables it).
#[derive(
    Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args, utoipa::ToSchema,
)]
#[serde(default)]
pub struct RouteOptions {
    /// Only providers whose expected quality is at least this (0..1).
    #[arg(long, env = "TRIAGE_MIN_QUALITY")]
    pub min_quality: Option<f32>,
    /// The cheapest provider within this much expected quality of the best allowed one (the default
    /// mode; default: the artifacts' cross-validated recommendation, else 0.02).
    #[arg(long, env = "TRIAGE_MAX_QUALITY_DROP")]
    pub max_quality_drop: Option<f32>,
    /// Only providers whose expected cost per query is at most this many dollars.
    #[arg(long, env = "TRIAGE_MAX_COST_USD")]
    pub max_cost_usd: Option<f64>,
    /// With the quality drop: only providers within the drop of the best with at least this probability
    /// (0.5 to 1, e.g. 0.8), given each estimate's uncertainty (its `quality_interval`). Default: none,
    /// the plain drop.
    #[arg(long, env = "TRIAGE_MIN_CONFIDENCE")]
    pub min_confidence: Option<f32>,
    /// Only these providers (may name providers disabled in the registry).
    #[arg(long = "allow", value_delimiter = ',', num_args = 1.., env = "TRIAGE_ALLOW")]
    #[serde(rename = "allowed_providers")]
    pub allowed: Option<Vec<String>>,
    /// Never these providers (a request's list is added to the configured one).
    #[arg(long = "deny", value_delimiter = ',', env = "TRIAGE_DENY")]
    #[serde(rename = "denied_providers", deserialize_with = "null_as_empty")]
    pub denied: Vec<String>,
    /// Choose this provider regardless of the other rules (it must have outcome data). Per request only.
    #[arg(skip)]
    #[serde(rename = "force_provider")]
    pub force: Option<String>,
    /// What the request needs from a provider (tools, images, a JSON schema, room for its tokens): read
    /// from the request's body by the door, never configured.
    #[arg(skip)]
    #[serde(skip)]
    pub needs: Needs,
    /// Providers the door cannot reach, with why (the proxy's providers without an upstream or whose key
    /// variable is unset): excluded with that reason, and an error when forced.
    #[arg(skip)]
    #[serde(skip)]
    pub unavailable: BTreeMap<String, String>,
}

/// `null` reads as an empty list (a client may send `"denied_providers": null`).
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
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
            min_confidence: self.min_confidence.or(defaults.min_confidence),
            allowed: self.allowed.clone().or_else(|| defaults.allowed.clone()),
            denied,
            force: self.force.clone().or_else(|| defaults.force.clone()),
            needs: self.needs,
            unavailable: defaults
                .unavailable
                .iter()
                .chain(&self.unavailable)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Checks the numeric targets; the message suits a client.
    pub(crate) fn check_numbers(&self) -> std::result::Result<(), String> {
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
        if let Some(c) = self.min_confidence {
            if !(c.is_finite() && (0.5..1.0).contains(&c)) {
                return Err(format!(
                    "min_confidence must be at least 0.5 and below 1, got {c}"
                ));
            }
        }
        Ok(())
    }

    /// Every provider name the options mention.
    pub(crate) fn named_providers(&self) -> impl Iterator<Item = &str> {
        self.allowed
            .iter()
            .flatten()
            .chain(self.denied.iter())
            .chain(self.force.iter())
            .map(String::as_str)
    }

    /// The cost and quality part, as the decision rule takes it.
    pub fn target(&self) -> Target {
        Target {
            min_quality: self.min_quality.map(f64::from),
            max_quality_drop: self.max_quality_drop.map(f64::from),
            max_cost_usd: self.max_cost_usd,
            min_confidence: self.min_confidence.map(f64::from),
        }
    }

    /// Whether no cost or quality target is set at all.
    pub fn has_no_target(&self) -> bool {
        self.min_quality.is_none() && self.max_quality_drop.is_none() && self.max_cost_usd.is_none()
    }
}
