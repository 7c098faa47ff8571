//! A provider's expected quality and cost for one prompt, from the learned table, the prompt's label
//! probabilities and the provider's prices.
//!
//! Expected quality of provider `p` at the prompt's level `l` is the category-probability mixture of the
//! table's cells, `Σ_c P(c)·quality[c][l][p]`, renormalised over the cells with outcomes at that level; over
//! the cells that have a (smoothed) value when none has outcomes there; the provider's mean quality when
//! none has a value. Expected cost is
//! `input_tokens·in_price/1e6 + E[output tokens]·out_price/1e6` with
//! `E[output tokens] = Σ_c P(c)·output_tokens[c][p]`; prices come from the registry, else the table; with no
//! price anywhere, the mixture of observed per-query costs is used; with none of those, the provider cannot
//! be chosen.

use super::table::{PromptLabels, RoutingTable};

/// Expected quality of table provider `provider`: the category mixture of its cells at the prompt's level,
/// renormalised over the cells with outcomes at that level. A cell with none there holds its category's
/// other levels' quality (CRUXEval's rows all sit in the hardest band, so its easy cell is its hard rows'
/// mean), which is no evidence at this level; it counts only when no cell with positive weight has
/// outcomes at the level. The provider's mean quality when no such cell has a value at all.
pub fn expected_quality(table: &RoutingTable, labels: &PromptLabels, provider: usize) -> f32 {
    let mixture = |observed_only: bool| {
        let mut weight = 0.0f64;
        let mut sum = 0.0f64;
        for (c, pc) in labels.category_probs.iter().enumerate() {
            let w = f64::from(*pc);
            if let Some(q) = table.quality_at(c, labels.level, provider) {
                if w > 0.0 && (!observed_only || table.observed(c, labels.level, provider)) {
                    weight += w;
                    sum += w * f64::from(q);
                }
            }
        }
        (weight > 0.0).then(|| (sum / weight) as f32)
    };
    mixture(true).or_else(|| mixture(false)).unwrap_or_else(|| {
        table
            .providers
            .get(provider)
            .map(|p| p.mean_quality)
            .unwrap_or(f32::NAN)
    })
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
            if let Some(Some(v)) = cell.get(provider) {
                if !v.is_finite() {
                    continue;
                }
                n += 1;
                plain += v;
                let w = if l == labels.level {
                    f64::from(pc)
                } else {
                    0.0
                };
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
