//! The label heads on a prompt's embedding: domain probabilities, table-category probabilities, and a
//! difficulty score in [0,1] with its level (easy, medium, hard).

use crate::embedding::Embedding;
use crate::routing::{PromptLabels, DOMAINS, LEVELS};
use serde::{Deserialize, Serialize};

/// Width of the feature vector: the embedding plus one length feature.
pub const FEATURE_DIM: usize = crate::embedding::EMBEDDING_DIM + 1;

/// Features the heads read: the unit embedding and ln(1 + tokens) / ln(1 + 4096) (prompt length is a
/// difficulty signal that transfers across benchmarks better than content does).
pub fn features(e: &Embedding) -> Vec<f32> {
    let mut x = Vec::with_capacity(FEATURE_DIM);
    x.extend_from_slice(&e.vector);
    x.push(((1 + e.full_tokens) as f32).ln() / 4097f32.ln());
    x
}

/// Multinomial logistic regression: `classes.len()` rows of `weights` over the features, plus a bias each.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SoftmaxHead {
    pub classes: Vec<String>,
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

impl SoftmaxHead {
    /// Class probabilities for one feature vector.
    pub fn probs(&self, x: &[f32]) -> Vec<f32> {
        let logits: Vec<f32> = self
            .weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| dot(w, x) + b)
            .collect();
        softmax(&logits)
    }
}

/// Linear regression of the standardized difficulty, squashed to [0,1] by a logistic function.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DifficultyHead {
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Score thresholds between easy|medium and medium|hard (terciles of out-of-fold training scores).
    pub cuts: [f32; 2],
}

impl DifficultyHead {
    /// Difficulty score in [0,1]; higher means more providers fail such prompts.
    pub fn score(&self, x: &[f32]) -> f32 {
        sigmoid(dot(&self.weights, x) + self.bias)
    }

    /// Level index (0 easy, 1 medium, 2 hard) of a score.
    pub fn level(&self, score: f32) -> usize {
        if score < self.cuts[0] {
            0
        } else if score < self.cuts[1] {
            1
        } else {
            2
        }
    }
}

/// Domain head: a softmax over fine classes (source tasks with enough examples, else the domain itself),
/// summed into the six domains. Fine classes let a linear head separate what one domain lumps together
/// (a science question is "reasoning" in one benchmark and "knowledge" in another).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DomainHead {
    pub head: SoftmaxHead,
    /// Domain index (into `routing::DOMAINS`) of each fine class.
    pub class_domain: Vec<usize>,
}

impl DomainHead {
    /// Probabilities of the six domains.
    pub fn probs(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; DOMAINS.len()];
        for (p, &d) in self.head.probs(x).iter().zip(&self.class_domain) {
            if let Some(slot) = out.get_mut(d) {
                *slot += p;
            }
        }
        out
    }
}

/// All heads, as stored in `heads.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heads {
    pub feature_dim: usize,
    pub domain: DomainHead,
    /// Over the routing table's categories (same order as `RoutingTable::categories`).
    pub category: SoftmaxHead,
    pub difficulty: DifficultyHead,
}

/// The labels of one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Labels {
    pub domain: &'static str,
    pub domain_probs: Vec<(&'static str, f32)>,
    pub difficulty: f32,
    pub level: &'static str,
    #[serde(skip)]
    pub level_index: usize,
    #[serde(skip)]
    pub category_probs: Vec<f32>,
    #[serde(skip)]
    pub input_tokens: usize,
    pub truncated: bool,
}

impl Heads {
    /// Labels one embedded prompt.
    pub fn label(&self, e: &Embedding) -> Labels {
        let x = features(e);
        let probs = self.domain.probs(&x);
        let best = argmax(&probs);
        let difficulty = self.difficulty.score(&x);
        let level_index = self.difficulty.level(difficulty);
        Labels {
            domain: DOMAINS[best.min(DOMAINS.len() - 1)],
            domain_probs: DOMAINS.iter().copied().zip(probs.iter().copied()).collect(),
            difficulty,
            level: LEVELS[level_index],
            level_index,
            category_probs: self.category.probs(&x),
            input_tokens: e.full_tokens,
            truncated: e.truncated,
        }
    }
}

impl Labels {
    /// What the routing policy needs from these labels.
    pub fn prompt_labels(&self) -> PromptLabels {
        PromptLabels {
            category_probs: self.category_probs.clone(),
            level: self.level_index,
            input_tokens: self.input_tokens,
        }
    }
}

/// Dot product.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Index of the largest value (the first on ties; 0 for an empty slice).
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_head_and_levels() {
        let head = SoftmaxHead {
            classes: vec!["a".into(), "b".into()],
            weights: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            bias: vec![0.0, 0.0],
        };
        let p = head.probs(&[2.0, 0.0]);
        assert!((p[0] - 0.880797).abs() < 1e-5 && (p[0] + p[1] - 1.0).abs() < 1e-6);
        let d = DifficultyHead {
            weights: vec![1.0],
            bias: 0.0,
            cuts: [0.4, 0.6],
        };
        assert_eq!(d.level(d.score(&[-2.0])), 0);
        assert_eq!(d.level(d.score(&[0.0])), 1);
        assert_eq!(d.level(d.score(&[2.0])), 2);
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), 1);
    }
}
