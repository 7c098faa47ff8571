//! The label heads on a prompt's embedding: domain probabilities, table-category probabilities, and a
//! difficulty score in [0,1] with its level (easy, medium, hard).

use crate::embedding::Embedding;
use crate::routing::{PromptLabels, DOMAINS, LEVELS};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Width of the feature vector: the embedding plus one length feature.
pub const FEATURE_DIM: usize = crate::embedding::EMBEDDING_DIM + 1;

/// Features the heads read: the unit embedding and ln(1 + tokens) / ln(1 + 4096) (prompt length is a
/// difficulty signal that transfers across benchmarks better than content does).
pub fn features(e: &Embedding) -> Vec<f32> {
    let mut x = Vec::with_capacity(FEATURE_DIM);
    x.extend_from_slice(&e.vector);
    x.push(length_feature(e));
    x
}

/// What the domain head reads (`heads.json` says which; files written before it was recorded read
/// `embedding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainInput {
    /// The features every head reads ([`features`]).
    #[default]
    Embedding,
    /// The embedding, the mid-layer vector, then the length feature ([`domain_features`]). The mid layer
    /// keeps the prompt's words, which is what a reader files a prompt by: on the probe sets a linear head
    /// on both got 530 of 562 domains right against 490 on the embedding alone (docs/experiments.md).
    EmbeddingAndMidLayer,
}

impl DomainInput {
    /// Width of the feature vector this input makes.
    pub fn width(self) -> usize {
        match self {
            DomainInput::Embedding => FEATURE_DIM,
            DomainInput::EmbeddingAndMidLayer => FEATURE_DIM + crate::embedding::EMBEDDING_DIM,
        }
    }
}

/// The domain head's features of one prompt for `input`. An embedding without its mid-layer vector (a record
/// written before it was kept) repeats the last layer's in its place.
pub fn domain_features(e: &Embedding, input: DomainInput) -> Vec<f32> {
    match input {
        DomainInput::Embedding => features(e),
        DomainInput::EmbeddingAndMidLayer => {
            let mid = if e.mid_layer.len() == e.vector.len() {
                &e.mid_layer
            } else {
                &e.vector
            };
            let mut x = Vec::with_capacity(input.width());
            x.extend_from_slice(&e.vector);
            x.extend_from_slice(mid);
            x.push(length_feature(e));
            x
        }
    }
}

fn length_feature(e: &Embedding) -> f32 {
    ((1 + e.full_tokens) as f32).ln() / 4097f32.ln()
}

/// The features of a batch, one row each: `(embeddings, FEATURE_DIM)`.
pub fn feature_matrix<'a>(embeddings: impl ExactSizeIterator<Item = &'a Embedding>) -> Array2<f32> {
    matrix(embeddings, FEATURE_DIM, features)
}

/// One row of `width` per embedding, made by `row_of`.
fn matrix<'a>(
    embeddings: impl ExactSizeIterator<Item = &'a Embedding>,
    width: usize,
    row_of: impl Fn(&Embedding) -> Vec<f32>,
) -> Array2<f32> {
    let mut x = Array2::<f32>::zeros((embeddings.len(), width));
    for (mut row, e) in x.rows_mut().into_iter().zip(embeddings) {
        for (v, f) in row.iter_mut().zip(row_of(e)) {
            *v = f;
        }
    }
    x
}

/// One feature vector as a one-row matrix view.
fn one_row(x: &[f32]) -> ArrayView2<'_, f32> {
    ndarray::aview1(x).insert_axis(Axis(0))
}

/// `Array2` as one JSON array per row (the `heads.json` layout).
mod as_rows {
    use ndarray::Array2;
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(m: &Array2<f32>, s: S) -> Result<S::Ok, S::Error> {
        let rows: Vec<Vec<f32>> = m.rows().into_iter().map(|r| r.to_vec()).collect();
        rows.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Array2<f32>, D::Error> {
        let rows = Vec::<Vec<f32>>::deserialize(d)?;
        let cols = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != cols) {
            return Err(D::Error::custom("weight rows differ in length"));
        }
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Array2::from_shape_vec((rows.len(), cols), flat).map_err(D::Error::custom)
    }
}

/// `Array1` as a plain JSON array.
mod as_vec {
    use ndarray::Array1;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Array1<f32>, s: S) -> Result<S::Ok, S::Error> {
        v.to_vec().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Array1<f32>, D::Error> {
        Ok(Array1::from(Vec::<f32>::deserialize(d)?))
    }
}

/// Multinomial logistic regression: one row of `weights` per class over the features, plus a bias each.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SoftmaxHead {
    pub classes: Vec<String>,
    /// `(classes, features)`; stored in `heads.json` as one array per class.
    #[serde(with = "as_rows")]
    pub weights: Array2<f32>,
    #[serde(with = "as_vec")]
    pub bias: Array1<f32>,
}

impl SoftmaxHead {
    /// Class probabilities of every row of `x` (`(rows, features)`): one product for the batch.
    pub fn probs_batch(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        // Shapes are checked when artifacts load (`artifacts::check_consistent`) and fixed by the fits.
        let mut p = x.dot(&self.weights.t()) + &self.bias;
        for mut row in p.rows_mut() {
            let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            row.mapv_inplace(|v| (v - max).exp());
            let sum = row.sum();
            row.mapv_inplace(|v| v / sum);
        }
        p
    }

    /// Class probabilities for one feature vector (the batch path on one row, so both agree exactly).
    pub fn probs(&self, x: &[f32]) -> Vec<f32> {
        self.probs_batch(one_row(x)).row(0).to_vec()
    }
}

/// Linear regression of the standardized difficulty, squashed to [0,1] by a logistic function.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DifficultyHead {
    #[serde(with = "as_vec")]
    pub weights: Array1<f32>,
    pub bias: f32,
    /// Score thresholds between easy|medium and medium|hard: the level a reader sees, cut where the
    /// training data's easy and hard pools are (`training::difficulty::calibrated_cuts`).
    pub cuts: [f32; 2],
    /// Score thresholds of the routing table's three difficulty bands (terciles of the out-of-fold scores
    /// of the rows with outcomes, so every band has data). Artifacts without it band by `cuts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_cuts: Option<[f32; 2]>,
    /// How far the noise a user makes (a typo, a polite opening) moves the score: the root mean square
    /// of the score changes between the training prompts and their noisy copies. Routing reads a score
    /// this close to a band's cut as partly in both bands ([`Self::band_weights`]), so a typo cannot flip
    /// a decision on a knife-edge. Artifacts without it band sharply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band_softness: Option<f32>,
}

impl DifficultyHead {
    /// Difficulty scores in [0,1] of every row of `x`; higher means more providers fail such prompts.
    pub fn score_batch(&self, x: ArrayView2<'_, f32>) -> Array1<f32> {
        let w = self.weights.view().insert_axis(Axis(1));
        x.dot(&w).column(0).mapv(|v| sigmoid(v + self.bias))
    }

    /// Difficulty score of one feature vector (the batch path on one row).
    pub fn score(&self, x: &[f32]) -> f32 {
        self.score_batch(one_row(x))
            .first()
            .copied()
            .unwrap_or(f32::NAN)
    }

    /// Level index (0 easy, 1 medium, 2 hard) of a score.
    pub fn level(&self, score: f32) -> usize {
        band(score, self.cuts)
    }

    /// The routing table's band (0, 1, 2) of a score.
    pub fn table_band(&self, score: f32) -> usize {
        band(score, self.table_cuts.unwrap_or(self.cuts))
    }

    /// How much of each table band a score is in: the chance that the score without noise (normal around
    /// it, with [`Self::band_softness`] as its deviation) falls in each band. One-hot without a softness.
    pub fn band_weights(&self, score: f32) -> [f32; 3] {
        let sharp = |b: usize| {
            let mut w = [0.0; 3];
            w[b.min(2)] = 1.0;
            w
        };
        let Some(sd) = self.band_softness.filter(|s| s.is_finite() && *s > 0.0) else {
            return sharp(self.table_band(score));
        };
        let [low, high] = self.table_cuts.unwrap_or(self.cuts);
        let above =
            |cut: f32| crate::routing::rule::normal_cdf(f64::from((score - cut) / sd)) as f32;
        let (above_low, above_high) = (above(low), above(high).min(above(low)));
        [1.0 - above_low, above_low - above_high, above_high]
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
    /// The features `head` reads.
    #[serde(default)]
    pub input: DomainInput,
}

impl DomainHead {
    /// Probabilities of the six domains of one row of the head's features (`domain_features`).
    pub fn probs(&self, x: &[f32]) -> Vec<f32> {
        self.fold(&self.head.probs(x))
    }

    /// The most probable domain (index into `routing::DOMAINS`) of one row.
    pub fn predict(&self, x: &[f32]) -> usize {
        argmax(&self.probs(x))
    }

    /// Fine-class probabilities of one row summed into the six domains.
    fn fold(&self, fine: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; DOMAINS.len()];
        for (p, &d) in fine.iter().zip(&self.class_domain) {
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
    /// The features `category` reads.
    #[serde(default)]
    pub category_input: DomainInput,
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
    /// The routing table's difficulty band (see `DifficultyHead::table_cuts`).
    #[serde(skip)]
    pub table_band: usize,
    /// How much of each table band the prompt is in ([`DifficultyHead::band_weights`]).
    #[serde(skip)]
    pub band_weights: [f32; 3],
    #[serde(skip)]
    pub category_probs: Vec<f32>,
    #[serde(skip)]
    pub input_tokens: usize,
    pub truncated: bool,
    /// No content tokens (an empty or whitespace-only prompt).
    #[serde(skip)]
    pub blank: bool,
    /// What the last user turn is in its conversation (`single` for a one-turn request).
    pub turn: Turn,
}

/// How a request's last user turn relates to the earlier user turns of its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Turn {
    /// The only user turn: labelled by itself.
    #[default]
    Single,
    /// It continues the conversation's task: labelled as the earlier user turns (the task), whose
    /// difficulty and domain it keeps.
    Continuation,
    /// It starts afresh (a new question, or a closing such as "thanks"): labelled by itself.
    Afresh,
}

/// Cosine between the last user turn and the earlier ones at or above which the turn continues the
/// conversation's task. Chosen on the hand-written tuning conversations in `tuning/conversations.jsonl`
/// (continuations 0.10 to 0.52, closings and new questions at most 0.10), never on the probe.
pub const CONTINUATION_SIMILARITY: f32 = 0.15;

/// Probability of `general` at or above which a turn that refers back ("that works, thanks") is small
/// talk, not a follow-up. Chosen on the tuning conversations: their closings that refer back sit at 0.95
/// to 0.98, their follow-ups at most 0.62 ("Make it shorter and more confident."), never on the probe.
pub const SMALL_TALK_GENERAL: f32 = 0.8;

/// Most words of a turn that may continue a task by referring back ("Now make it faster.") without
/// sharing its words. A longer turn with "it" is a request of its own ("Implement a lock-free queue in
/// C++ and prove it is linearizable." after a question about octopuses, in the tuning set); 12 keeps the
/// tuning set's "Make it work on MySQL 5.7, which has no window functions."
const REFERRING_TURN_WORDS: usize = 12;

/// Most words of a turn whose "that", "this" or "now" refers back: in longer turns they are mostly
/// relative pronouns ("Write a Python function that merges two sorted lists").
const WEAKLY_REFERRING_TURN_WORDS: usize = 6;

/// Words by which a short turn refers to what came before.
const REFERRING_WORDS: [&str; 17] = [
    "it", "its", "them", "these", "those", "same", "above", "previous", "earlier", "again",
    "instead", "too", "also", "else", "shorter", "longer", "rewrite",
];

/// Words that refer back only in a very short turn ("Fix that.", "Now in Go.").
const WEAKLY_REFERRING_WORDS: [&str; 6] = ["that", "this", "now", "more", "another", "then"];

/// Whether `text` is a short turn that refers back to the conversation.
pub fn refers_back(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    (words.len() <= REFERRING_TURN_WORDS && has(&REFERRING_WORDS))
        || (words.len() <= WEAKLY_REFERRING_TURN_WORDS && has(&WEAKLY_REFERRING_WORDS))
}

/// The embeddings of a request with earlier user turns.
pub struct ConversationEmbeddings<'a> {
    /// The last user turn.
    pub last: &'a Embedding,
    /// The earlier user turns, joined (most recent first).
    pub earlier: &'a Embedding,
    /// Tokens of the whole input (every turn, every role): what the provider will be billed for.
    pub input_tokens: usize,
}

/// The cosine of two embeddings' pooled vectors.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

impl Heads {
    /// Labels one embedded prompt.
    pub fn label(&self, e: &Embedding) -> Labels {
        let x = features(e);
        let domain_x = domain_features(e, self.domain.input);
        // The shipped heads read the same features: build them once.
        let category_x = (self.category_input != self.domain.input)
            .then(|| domain_features(e, self.category_input));
        self.assemble(
            self.domain.head.probs(&domain_x),
            self.category
                .probs(category_x.as_deref().unwrap_or(&domain_x)),
            self.difficulty.score(&x),
            e,
        )
    }

    /// Labels a batch of embedded prompts: each head is one matrix product over the batch's features.
    /// Row for row the same numbers as [`Self::label`] (which is this on one row).
    pub fn label_batch(&self, embeddings: &[Embedding]) -> Vec<Labels> {
        let x = feature_matrix(embeddings.iter());
        let input = self.domain.input;
        let domain_x = matrix(embeddings.iter(), input.width(), |e| {
            domain_features(e, input)
        });
        let domain = self.domain.head.probs_batch(domain_x.view());
        let ci = self.category_input;
        let category = if ci == input {
            self.category.probs_batch(domain_x.view())
        } else {
            self.category.probs_batch(
                matrix(embeddings.iter(), ci.width(), |e| domain_features(e, ci)).view(),
            )
        };
        let difficulty = self.difficulty.score_batch(x.view());
        embeddings
            .iter()
            .zip(domain.rows())
            .zip(category.rows())
            .zip(&difficulty)
            .map(|(((e, d), c), &s)| self.assemble(d.to_vec(), c.to_vec(), s, e))
            .collect()
    }

    /// Labels from the heads' outputs. A prompt with no content tokens (`[CLS][SEP]` only: empty or
    /// whitespace) is `general`, difficulty 0, `easy`, and marked blank so the brain routes it to the
    /// cheapest eligible provider.
    fn assemble(
        &self,
        fine: Vec<f32>,
        category_probs: Vec<f32>,
        difficulty: f32,
        e: &Embedding,
    ) -> Labels {
        let blank = e.tokens <= 2;
        let (probs, difficulty) = if blank {
            let mut general = vec![0f32; DOMAINS.len()];
            general[DOMAINS.len() - 1] = 1.0;
            (general, 0.0)
        } else {
            (self.domain.fold(&fine), difficulty)
        };
        let best = argmax(&probs);
        let level_index = if blank {
            0
        } else {
            self.difficulty.level(difficulty)
        };
        let table_band = if blank {
            0
        } else {
            self.difficulty.table_band(difficulty)
        };
        let band_weights = if blank {
            [1.0, 0.0, 0.0]
        } else {
            self.difficulty.band_weights(difficulty)
        };
        Labels {
            domain: DOMAINS[best.min(DOMAINS.len() - 1)],
            domain_probs: DOMAINS.iter().copied().zip(probs.iter().copied()).collect(),
            difficulty,
            level: LEVELS[level_index],
            level_index,
            table_band,
            band_weights,
            category_probs,
            input_tokens: e.full_tokens,
            truncated: e.truncated,
            blank,
            turn: Turn::Single,
        }
    }

    /// Labels the last user turn of a conversation. A turn that continues the task (its embedding is
    /// close to the earlier user turns', or it is a short turn that refers back and is not small talk)
    /// gets the task's labels (the earlier turns'): a follow-up is judged by the task it continues, not
    /// by its own few words (on the tuning set, raising it to its own difficulty when that was higher moved
    /// "What happens if two candidates split the vote?" off its task's provider). Any other turn (a new
    /// question, "thanks") is labelled by itself. Either way the cost counts the whole input.
    pub fn label_conversation(&self, c: &ConversationEmbeddings, last_text: &str) -> Labels {
        let own = self.label(c.last);
        let similar = cosine(&c.last.vector, &c.earlier.vector) >= CONTINUATION_SIMILARITY;
        let general = own
            .domain_probs
            .iter()
            .find(|(d, _)| *d == "general")
            .map_or(0.0, |(_, p)| *p);
        let continues =
            !own.blank && (similar || (refers_back(last_text) && general < SMALL_TALK_GENERAL));
        let mut labels = if continues {
            let mut task = self.label(c.earlier);
            task.turn = Turn::Continuation;
            task.truncated |= own.truncated;
            task
        } else {
            Labels {
                turn: Turn::Afresh,
                ..own
            }
        };
        labels.input_tokens = c.input_tokens.max(labels.input_tokens);
        labels
    }
}

impl Labels {
    /// What the routing policy needs from these labels.
    pub fn prompt_labels(&self) -> PromptLabels {
        let soft = self.band_weights.iter().filter(|&&w| w > 1e-4).count() > 1;
        PromptLabels {
            category_probs: self.category_probs.clone(),
            level: self.table_band,
            input_tokens: self.input_tokens,
            band_weights: soft.then_some(self.band_weights),
        }
    }
}

/// 0, 1 or 2: below the first cut, between the cuts, at or above the second.
pub fn band<T: PartialOrd>(score: T, cuts: [T; 2]) -> usize {
    let [low, high] = cuts;
    if score < low {
        0
    } else if score < high {
        1
    } else {
        2
    }
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
mod conversation_tests {
    use super::refers_back;

    #[test]
    fn short_turns_that_point_back_refer_back_and_requests_of_their_own_do_not() {
        for t in [
            "Make it shorter.",
            "Fix that.",
            "Now in Go.",
            "Do the same for Java.",
            "And the earlier one?",
        ] {
            assert!(refers_back(t), "{t}");
        }
        for t in [
            "Write a Python function that merges two sorted lists in linear time.",
            "What's the capital of Canada?",
            "Implement a lock-free multi-producer queue in C++ and prove it is linearizable.",
        ] {
            assert!(!refers_back(t), "{t}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_head_and_levels() {
        let head = SoftmaxHead {
            classes: vec!["a".into(), "b".into()],
            weights: ndarray::array![[1.0, 0.0], [0.0, 1.0]],
            bias: ndarray::array![0.0, 0.0],
        };
        let p = head.probs(&[2.0, 0.0]);
        assert!((p[0] - 0.880797).abs() < 1e-5 && (p[0] + p[1] - 1.0).abs() < 1e-6);
        let d = DifficultyHead {
            weights: ndarray::array![1.0],
            bias: 0.0,
            cuts: [0.4, 0.6],
            table_cuts: None,
            band_softness: None,
        };
        assert_eq!(d.level(d.score(&[-2.0])), 0);
        assert_eq!(d.level(d.score(&[0.0])), 1);
        assert_eq!(d.level(d.score(&[2.0])), 2);
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), 1);
        // Bands: sharp without a softness; with one, a score on a cut is half in each band, and the
        // weights move smoothly with the score.
        assert_eq!(d.band_weights(0.45), [0.0, 1.0, 0.0]);
        let soft = DifficultyHead {
            band_softness: Some(0.02),
            ..d
        };
        let on_cut = soft.band_weights(0.6);
        assert!(
            (on_cut[1] - 0.5).abs() < 1e-3 && (on_cut[2] - 0.5).abs() < 1e-3,
            "{on_cut:?}"
        );
        let far = soft.band_weights(0.5);
        assert!(far[1] > 0.99, "{far:?}");
        for s in [0.3, 0.39, 0.41, 0.59, 0.61, 0.9] {
            let w = soft.band_weights(s);
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5 && w.iter().all(|&x| x >= 0.0));
            let near = soft.band_weights(s + 0.001);
            assert!(
                w.iter().zip(near).all(|(a, b)| (a - b).abs() < 0.05),
                "{w:?} {near:?}"
            );
        }
    }

    fn shipped_heads() -> (Heads, Vec<u8>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/heads.json");
        let bytes = std::fs::read(path).unwrap();
        (serde_json::from_slice(&bytes).unwrap(), bytes)
    }

    #[test]
    fn heads_json_layout_is_unchanged_by_the_matrix_types() {
        let (heads, bytes) = shipped_heads();
        assert_eq!(serde_json::to_vec(&heads).unwrap(), bytes);
        let ragged = r#"{"classes":["a","b"],"weights":[[1.0],[1.0,2.0]],"bias":[0.0,0.0]}"#;
        assert!(serde_json::from_str::<SoftmaxHead>(ragged).is_err());
    }

    #[test]
    fn a_batch_labels_each_row_as_a_single_call_does() {
        let (heads, _) = shipped_heads();
        // Pseudo-random unit vectors of several lengths.
        let mut state = 7u64;
        let mut unit = || {
            let mut v: Vec<f32> = (0..crate::embedding::EMBEDDING_DIM)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            v
        };
        let embeddings: Vec<Embedding> = (0..37)
            .map(|i| {
                Embedding {
                    vector: unit(),
                    // Every third without its mid-layer vector, as a record from an older log.
                    mid_layer: if i % 3 == 0 { Vec::new() } else { unit() },
                    tokens: 5 + i,
                    truncated: false,
                    full_tokens: 5 + i * 13,
                }
            })
            .collect();
        let batch = heads.label_batch(&embeddings);
        assert_eq!(batch.len(), embeddings.len());
        for (e, b) in embeddings.iter().zip(&batch) {
            assert_eq!(&heads.label(e), b);
        }
        assert!(heads.label_batch(&[]).is_empty());
    }
}
