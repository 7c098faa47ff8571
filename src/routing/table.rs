//! The learned routing table: per (category, level) cell and provider, expected quality and cost inputs.
//!
//! A category is a domain or a finer source task (each category belongs to one domain). Qualities are
//! smoothed toward the category's mean and the domain/global means where a cell has few observations;
//! the raw observation counts are kept.

use serde::{Deserialize, Serialize};

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
}

impl RoutingTable {
    /// Index of a provider by name.
    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }
}
