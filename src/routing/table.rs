//! The learned routing table: per (category, level) cell and provider, expected quality and cost inputs.
//!
//! A category is a domain or a finer source task (each category belongs to one domain). Qualities are
//! smoothed toward the category's mean and the domain/global means where a cell has few observations;
//! the raw observation counts are kept.

use super::LEVELS;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the table knows about one provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderStats {
    /// Provider (model) name as spelled in the data and the registry.
    pub name: String,
    /// The data source its outcomes come from; qualities are only comparable within one group.
    pub group: String,
    /// Number of prompts with an outcome for this provider.
    pub observations: u32,
    /// Mean outcome over all its prompts.
    pub mean_quality: f32,
    /// Input price from the training data's providers.csv, $ per million tokens, if known.
    pub input_usd_per_mtok: Option<f64>,
    /// Output price from the training data's providers.csv, $ per million tokens, if known.
    pub output_usd_per_mtok: Option<f64>,
}

/// The learned table. Indexing: `quality[category][level][provider]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoutingTable {
    pub providers: Vec<ProviderStats>,
    /// Category names (domains, or source tasks when the table is finer than domains).
    pub categories: Vec<String>,
    /// For each category, the index of its domain in `routing::DOMAINS`.
    pub category_domain: Vec<usize>,
    /// Smoothed expected quality in [0,1]; `None` where the provider has no outcome in this category at all.
    pub quality: Vec<Vec<Vec<Option<f32>>>>,
    /// Raw number of outcomes behind each cell.
    pub counts: Vec<Vec<Vec<u32>>>,
    /// Expected output tokens per category and provider (observed where the data has tokens, else the
    /// documented per-domain default).
    pub output_tokens: Vec<Vec<f32>>,
    /// Mean observed `cost_usd` per query per category, level and provider, where the data has it.
    pub observed_cost_usd: Vec<Vec<Vec<Option<f64>>>>,
    /// Mean input tokens per category and provider where the data has token counts (else `None`).
    pub input_tokens: Vec<Vec<Option<f32>>>,
    /// Pseudo-count used to shrink cells toward their parent means.
    pub pseudo_count: f32,
}

/// The labels of one prompt as the policy needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptLabels {
    /// Probability of each table category (sums to 1, same order as `RoutingTable::categories`).
    pub category_probs: Vec<f32>,
    /// The prompt's level: an index into `routing::LEVELS` (easy, medium, hard).
    pub level: usize,
    /// Tokens of the prompt (the embedding tokenizer's count, a proxy for the provider's input tokens).
    pub input_tokens: usize,
    /// For a prompt near a band's cut: how much of each band it is in (sums to 1). Qualities are then the
    /// bands' mixture, so a small change of the score moves them a little instead of jumping a band.
    /// `None`: all of `level`.
    pub band_weights: Option<[f32; 3]>,
}

impl RoutingTable {
    /// Checks that the table's arrays have the shapes the policy indexes.
    pub fn check_shape(&self) -> Result<(), String> {
        let t = self;
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
    pub fn check_labels(&self, labels: &PromptLabels) -> Result<(), String> {
        let t = self;
        if labels.category_probs.len() != t.categories.len() {
            return Err(format!(
                "labels have {} category probabilities but the routing table has {} categories",
                labels.category_probs.len(),
                t.categories.len()
            ));
        }
        if labels
            .category_probs
            .iter()
            .any(|p| !p.is_finite() || *p < 0.0)
        {
            return Err("label probabilities must be finite and >= 0".to_string());
        }
        if labels.category_probs.iter().sum::<f32>() <= 0.0 {
            return Err("label probabilities must not all be zero".to_string());
        }
        if labels.level >= LEVELS.len() {
            return Err(format!(
                "level {} is not one of the {} levels",
                labels.level,
                LEVELS.len()
            ));
        }
        Ok(())
    }

    /// The quality of provider `p` in category `c` at `level`, where the table has one (measured there or
    /// smoothed from the category's other levels).
    pub fn quality_at(&self, c: usize, level: usize, p: usize) -> Option<f32> {
        self.quality
            .get(c)
            .and_then(|levels| levels.get(level))
            .and_then(|cell| cell.get(p))
            .copied()
            .flatten()
    }

    /// Whether provider `p` has an outcome in category `c` at `level`, so that the cell's quality was
    /// measured there and not only smoothed from the category's other levels. A table without counts
    /// (hand-written) says yes.
    pub fn observed(&self, c: usize, level: usize, p: usize) -> bool {
        self.counts
            .get(c)
            .and_then(|levels| levels.get(level))
            .and_then(|cell| cell.get(p))
            .is_none_or(|&n| n > 0)
    }

    /// Index of a provider by name.
    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }

    /// Whether providers `ps` cannot be put on one quality scale: they come from more than one data group
    /// and no source task (a `task:` category) has outcomes of all of them, so none was measured on the
    /// same prompts as all the others. Then, per group, its providers among `ps` (`"group: a, b"`, groups
    /// apart by `; `); `None` when they share a group or a task. A provider's group is the source of most
    /// of its outcomes, so one measured by two sources (Llama 3.1 by ZeroEval and MMLU-Pro) still shares
    /// the tasks of both.
    pub fn apart_in_scale(&self, ps: &[usize]) -> Option<String> {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in ps.iter().filter_map(|&p| self.providers.get(p)) {
            groups.entry(&p.group).or_default().push(&p.name);
        }
        let shared_task = (0..self.categories.len())
            .filter(|&c| self.categories[c].starts_with("task:"))
            .any(|c| {
                ps.iter()
                    .all(|&p| (0..LEVELS.len()).any(|level| self.observed(c, level, p)))
            });
        (groups.len() > 1 && !shared_task).then(|| {
            groups
                .iter()
                .map(|(group, names)| format!("{group}: {}", names.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Providers a, b (group z) and c (group m) over the tasks `task:z` and `task:m`, with outcomes where
    /// `measured[task][provider]` says so (at one level only).
    fn table(measured: [[bool; 3]; 2], groups: [&str; 3]) -> RoutingTable {
        let providers = ["a", "b", "c"]
            .iter()
            .zip(groups)
            .map(|(name, group)| ProviderStats {
                name: name.to_string(),
                group: group.into(),
                observations: 10,
                mean_quality: 0.5,
                input_usd_per_mtok: None,
                output_usd_per_mtok: None,
            })
            .collect();
        let counts = measured
            .iter()
            .map(|m| {
                let cell = m.iter().map(|&x| u32::from(x) * 10).collect::<Vec<_>>();
                vec![vec![0; 3], vec![0; 3], cell]
            })
            .collect();
        RoutingTable {
            providers,
            categories: vec!["task:z".into(), "task:m".into()],
            category_domain: vec![0, 2],
            quality: vec![vec![vec![Some(0.5); 3]; 3]; 2],
            counts,
            output_tokens: vec![vec![100.0; 3]; 2],
            observed_cost_usd: vec![vec![vec![None; 3]; 3]; 2],
            input_tokens: vec![vec![None; 3]; 2],
            pseudo_count: 1.0,
        }
    }

    #[test]
    fn providers_are_apart_in_scale_only_without_a_common_task() {
        let groups = ["z", "z", "m"];
        // c is filed under m but was measured on z's task too (as Llama 3.1 on ZeroEval and MMLU-Pro).
        let t = table([[true, true, true], [false, false, true]], groups);
        assert_eq!(t.apart_in_scale(&[0, 1, 2]), None);
        // Measured on m's task alone, c shares no prompts with a and b.
        let t = table([[true, true, false], [false, false, true]], groups);
        assert_eq!(
            t.apart_in_scale(&[0, 1, 2]).as_deref(),
            Some("m: c; z: a, b")
        );
        // One group is one scale, whatever the tasks; so is a set without c.
        assert_eq!(t.apart_in_scale(&[0, 1]), None);
        let t = table([[true, false, false], [false, true, false]], ["z"; 3]);
        assert_eq!(t.apart_in_scale(&[0, 1, 2]), None);
    }
}
