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
    over_bands(labels, |l| f64::from(quality_at_level(table, l, provider))) as f32
}

/// `at(labels at one level)`, mixed over the prompt's band weights when it has them (a prompt near a
/// band's cut is partly in both bands), else at its level.
fn over_bands(labels: &PromptLabels, at: impl Fn(&PromptLabels) -> f64) -> f64 {
    let Some(weights) = labels.band_weights else {
        return at(labels);
    };
    let mut sum = 0.0;
    let mut total = 0.0;
    for (level, &w) in weights.iter().enumerate() {
        if w > 1e-4 {
            let at_level = PromptLabels {
                level,
                band_weights: None,
                ..labels.clone()
            };
            sum += f64::from(w) * at(&at_level);
            total += f64::from(w);
        }
    }
    if total > 0.0 {
        sum / total
    } else {
        at(labels)
    }
}

/// [`expected_quality`] at the prompt's one level.
fn quality_at_level(table: &RoutingTable, labels: &PromptLabels, provider: usize) -> f32 {
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

/// Added to the standard error of a quality estimated from other categories or levels than the prompt's
/// (the provider has no outcome there). An assumption, not a measurement: how far a provider's quality on
/// one kind of prompt may stray from its quality on the kinds it was measured on.
pub const ESTIMATED_EXTRA_SD: f64 = 0.05;

/// Added to the standard error of a quality borrowed from another provider (a registry `like`). An
/// assumption, wider than an estimate from the provider's own data.
pub const BORROWED_EXTRA_SD: f64 = 0.10;

/// The standard error of table provider `provider`'s expected quality `quality` for a prompt: a binomial
/// error over its outcome rows at the prompt's level, each category's count weighted by the prompt's
/// probability of that category, plus the table's pseudo-count (the shrinkage's prior weight); and
/// [`ESTIMATED_EXTRA_SD`] times the share of the prompt's category probability where it has no outcome
/// row at this level (that part of the estimate is carried over from other kinds of prompts).
pub fn quality_sd(
    table: &RoutingTable,
    labels: &PromptLabels,
    provider: usize,
    quality: f32,
) -> f64 {
    over_bands(labels, |l| sd_at_level(table, l, provider, quality))
}

/// [`quality_sd`] at the prompt's one level.
fn sd_at_level(table: &RoutingTable, labels: &PromptLabels, provider: usize, quality: f32) -> f64 {
    let q = f64::from(quality).clamp(0.02, 0.98);
    let k = f64::from(table.pseudo_count).max(1.0);
    let (mut weight, mut rows) = (0.0f64, 0.0f64);
    for (c, pc) in labels.category_probs.iter().enumerate() {
        let w = f64::from(*pc);
        if w > 0.0
            && table.quality_at(c, labels.level, provider).is_some()
            && table.observed(c, labels.level, provider)
        {
            let n = table
                .counts
                .get(c)
                .and_then(|l| l.get(labels.level))
                .and_then(|cell| cell.get(provider))
                .copied()
                .unwrap_or(0);
            weight += w;
            rows += w * f64::from(n);
        }
    }
    let total: f64 = labels
        .category_probs
        .iter()
        .map(|p| f64::from(*p).max(0.0))
        .sum();
    let uncovered = if total > 0.0 {
        (1.0 - weight / total).clamp(0.0, 1.0)
    } else {
        1.0
    };
    (q * (1.0 - q) / (rows + k)).sqrt() + ESTIMATED_EXTRA_SD * uncovered
}

/// A 95% interval around `quality` with standard error `sd`, clamped to [0, 1] (NaN for no quality).
pub fn interval(quality: f32, sd: f64) -> [f32; 2] {
    if quality.is_nan() {
        return [f32::NAN, f32::NAN];
    }
    let q = f64::from(quality);
    [
        (q - 1.96 * sd).clamp(0.0, 1.0) as f32,
        (q + 1.96 * sd).clamp(0.0, 1.0) as f32,
    ]
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

/// Expected cost per query from prices ($/Mtok); with a price missing, the mixed observed cost. The
/// expected output is at most `output_cap` tokens (the request's `max_tokens`).
pub fn expected_cost(
    table: &RoutingTable,
    labels: &PromptLabels,
    provider: usize,
    prices: (Option<f64>, Option<f64>),
    output_cap: Option<u64>,
) -> Option<f64> {
    match prices {
        (Some(pin), Some(pout)) => {
            let output = expected_output_tokens(table, labels, provider);
            let output = output_cap.map_or(output, |cap| output.min(cap as f64));
            Some(labels.input_tokens as f64 * pin / 1e6 + output * pout / 1e6)
        }
        _ => mixed_observed_cost(table, labels, provider),
    }
}
