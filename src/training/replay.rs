//! Replay evaluation on the operator's held-out feedback: how well a set of artifacts would have served the
//! operator's own traffic, judged only where it would have chosen the provider that actually answered.
//!
//! A feedback record has one provider's outcome. Replaying it through a router (the serving rule,
//! [`crate::brain::route`], with the registry and the default target) either picks that provider — the
//! record then tells how the router would have fared — or another one, and the record says nothing. The
//! replay value is the mean outcome over the matched records (the replay estimator of contextual-bandit
//! evaluation; unbiased when the logged providers were chosen at random, a fair comparison of two routers
//! on the same log otherwise).

use super::Corpus;
use crate::labels::Heads;
use crate::routing::{Policy, ProviderRegistry, RouteOptions, RoutingTable};
use serde::Serialize;

/// Fewest matched records on which replay, not the public held-out split, decides a retrain.
pub const MIN_REPLAY_MATCHES: usize = 20;

/// A router's replay on the held-out feedback.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Replay {
    /// Held-out feedback records replayed.
    pub records: usize,
    /// Records where the router chose the provider that answered.
    pub matched: usize,
    /// Mean outcome over the matched records (NaN when none matched).
    pub value: f64,
}

/// Replays the held-out feedback records `rows` through `heads` + `table` with `registry` and `defaults`.
/// `None` when the registry does not fit the table (a provider it borrows from is missing).
pub fn replay(
    corpus: &Corpus,
    rows: &[usize],
    heads: &Heads,
    table: &RoutingTable,
    registry: &ProviderRegistry,
    defaults: RouteOptions,
) -> Option<Replay> {
    let policy = match Policy::new(table.clone(), registry.clone(), defaults) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "feedback replay skipped: the registry does not fit these artifacts");
            return None;
        }
    };
    let (mut matched, mut sum) = (0usize, 0f64);
    for &i in rows {
        let record = &corpus.records[i];
        let labels = heads.label(&corpus.embeddings[i]);
        let Ok(decision) = crate::brain::route(&policy, &labels, &RouteOptions::default()) else {
            continue;
        };
        if let Some(&outcome) = record.outcomes.get(&decision.provider) {
            matched += 1;
            sum += outcome;
        }
    }
    Some(Replay {
        records: rows.len(),
        matched,
        value: if matched > 0 {
            sum / matched as f64
        } else {
            f64::NAN
        },
    })
}
