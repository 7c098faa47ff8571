//! Learning difficulty: "how likely a cheaper provider falls short of a strong one on this prompt", on one
//! scale across sources.
//!
//! A task's scoring metric (F1 against a reference, exact match, a judge's scale) shifts every item of the
//! task alike, so no absolute outcome is compared across tasks. The head is a linear score trained with a
//! pairwise logistic loss on (harder, easier) pairs whose order is comparable:
//! 1. **within one task**: two items whose mean outcome over the task's providers differs by at least
//!    [`TASK_GAP`] (the task's offset cancels inside the task), the harder one the lower;
//! 2. **within one source's human levels**: two items whose levels differ by at least [`LEVEL_GAP`] of the
//!    scale (MATH 1–5, Exercism 1–10: a rank within the source, never across sources);
//! 3. **across pools**: an item of an easy pool (a one-level scale: everyday requests, generated easy
//!    questions) against an item of a hard pool (the top quarter of a human scale, a hard-prompt task, the
//!    generated hard requests), half of them inside one domain ([`pool_pairs`]).
//!
//! Beside the ranking pairs, **ties** ([`wrapping_ties`]): an easy-pool prompt and the same prompt wrapped
//! in a chatty opening and closing are held to the same score by a squared penalty on their difference,
//! so that polite or wordy framing does not read as difficulty (a chatty beginner's question used to score
//! above a terse hard request); and each training row is tied to its noisy copies (a typo, a polite
//! opening, ...: [`super::noise::training_copies`]) so that the noise a user makes does not move it.
//!
//! The kinds weigh a fixed share of the loss each (`KIND_SHARE`: within-task 0.2, levels 0.3, pools 0.5;
//! the ties together [`TIE_SHARE`]),
//! and each task or source gives at most [`MAX_PAIRS_PER_GROUP`] pairs, so no single benchmark (knowledge
//! QA, whose strong-vs-weak difference is barely visible in the prompt) sets the scale. Levels are cut on
//! the same pools: a prompt scoring like the easy pool is `easy`, like the hard pool `hard` (see
//! [`calibrated_cuts`]).

use super::fit::{self, FitOptions};
use super::Corpus;
use crate::error::{Error, Result};
use crate::labels::DifficultyHead;
use ndarray::Array1;
use std::collections::BTreeMap;

/// Smallest difference of two items' mean outcomes (within one task) that makes a pair.
pub const TASK_GAP: f64 = 0.3;
/// Smallest difference of two items' level positions (within one source, on 0..1) that makes a pair.
pub const LEVEL_GAP: f64 = 0.4;
/// Most pairs taken from one task, one source's levels, or the pools.
pub const MAX_PAIRS_PER_GROUP: usize = 600;
/// Most pairs across the pools (they are one group but span every domain).
pub const MAX_POOL_PAIRS: usize = 6000;
/// Partners drawn per item.
const PARTNERS: usize = 4;
/// Folds of the out-of-fold scores that place the level cuts and the table's levels.
const OOF_FOLDS: usize = 5;
const L2: f64 = 1e-3;
/// Share of the loss of each kind of pair: within a task, within a human scale, across pools.
const KIND_SHARE: [f32; 3] = [0.2, 0.3, 0.5];
/// Weight of all wrapping ties together, against 1 for all ranking pairs (one setting, chosen before it
/// was measured; docs/experiments.md).
pub const TIE_SHARE: f32 = 1.0;
/// Weight of all noise ties together (each row tied to its noisy copies, [`super::noise::training_copies`]),
/// against 1 for all ranking pairs.
pub const NOISE_TIE_SHARE: f32 = 1.0;
/// Shortest prompt that counts as the plain wording inside a wrapped one (shorter strings, "Hi" or
/// "Thanks", sit inside many unrelated prompts).
const TIE_MIN_CHARS: usize = 12;

/// A (harder, easier) pair of corpus rows, with its weight in the loss; for a tie, the wrapped prompt and
/// the plain one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub harder: usize,
    pub easier: usize,
    pub weight: f32,
    /// Two wordings of one request (see [`wrapping_ties`]): scored alike, not in order.
    pub tie: bool,
}

/// Which pool a row belongs to, for the cross-pool pairs and the level cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    Easy,
    Hard,
}

/// The pool of row `i`, if any: a row of ZeroEval (MATH level 5 and CRUXEval), of Arena-Hard (v0.1 or v2),
/// of the generated hard pool, the top quarter of a human scale or a hard-prompt task is the hard pool; a
/// one-level scale (everyday requests, the generated easy pool) is the easy pool.
pub fn pool(corpus: &Corpus, i: usize) -> Option<Pool> {
    let r = &corpus.records[i];
    // Arena-Hard's prompts were selected from Chatbot Arena as the hard ones, in every domain; the
    // generated hard pool holds terse and wordy hard requests inside every domain.
    let hard_source = matches!(
        r.source.as_str(),
        "zeroeval" | "arena-hard" | "arena-hard-v2" | "generated-hard"
    );
    if hard_source {
        return Some(Pool::Hard);
    }
    if let Some(level) = r.level {
        if level.max <= 1.0 {
            return Some(Pool::Easy);
        }
        if level.position() >= 0.75 {
            return Some(Pool::Hard);
        }
    }
    let hard_task = r
        .task
        .as_deref()
        .is_some_and(|t| t.starts_with("hard_prompt/"));
    hard_task.then_some(Pool::Hard)
}

/// A small deterministic stream (splitmix64), so the pairs are the same on every run.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        (super::metrics::splitmix64(&mut self.0) % n.max(1) as u64) as usize
    }
}

/// Pairs of one group: items with a value each (higher = harder); each item draws partners at least `gap`
/// easier; at most [`MAX_PAIRS_PER_GROUP`].
fn ordered_pairs(items: &[(usize, f64)], gap: f64, draw: &mut Draw) -> Vec<(usize, usize)> {
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = Vec::new();
    for &(harder, v) in &sorted {
        // Candidates: the prefix of items at least `gap` easier.
        let easier = sorted.partition_point(|&(_, w)| w <= v - gap);
        if easier == 0 {
            continue;
        }
        for _ in 0..PARTNERS {
            let (e, _) = sorted[draw.below(easier)];
            out.push((harder, e));
        }
    }
    // A fair subsample when the group is large.
    while out.len() > MAX_PAIRS_PER_GROUP {
        let k = draw.below(out.len());
        out.swap_remove(k);
    }
    out
}

/// Pairs across the pools: half of them inside one domain (an easy and a hard request about the same kind
/// of thing, which is what teaches the score that a terse proof request is harder than a chatty arithmetic
/// question), half across domains (everyday requests against competition problems).
fn pool_pairs(
    corpus: &Corpus,
    easy: &[usize],
    hard: &[usize],
    draw: &mut Draw,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if easy.is_empty() || hard.is_empty() {
        return out;
    }
    let total = MAX_POOL_PAIRS.min(PARTNERS * easy.len().max(hard.len()));
    let by_domain = |rows: &[usize]| {
        let mut m: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &i in rows {
            if let Some(d) = corpus.records[i].domain {
                m.entry(d).or_default().push(i);
            }
        }
        m
    };
    let (easy_by, hard_by) = (by_domain(easy), by_domain(hard));
    let shared: Vec<(&Vec<usize>, &Vec<usize>)> = easy_by
        .iter()
        .filter_map(|(d, e)| hard_by.get(d).map(|h| (e, h)))
        .collect();
    if !shared.is_empty() {
        // Every shared domain the same number of pairs.
        let each = total / 2 / shared.len();
        for (e, h) in &shared {
            for _ in 0..each {
                out.push((h[draw.below(h.len())], e[draw.below(e.len())]));
            }
        }
    }
    while out.len() < total {
        out.push((hard[draw.below(hard.len())], easy[draw.below(easy.len())]));
    }
    out
}

/// Every training pair and tie among `rows` (see the module doc), weights normalized so each kind sums to
/// its share and the ties to [`TIE_SHARE`].
pub fn pairs(corpus: &Corpus, rows: &[usize]) -> Vec<Pair> {
    let mut draw = Draw(0x7269_6167_6521);
    // 1. Within one task: difficulty = 1 − mean outcome.
    let mut by_task: BTreeMap<(&str, &str), Vec<(usize, f64)>> = BTreeMap::new();
    // 2. Within one source's human scale: difficulty = position on the scale.
    let mut by_scale: BTreeMap<&str, Vec<(usize, f64)>> = BTreeMap::new();
    let (mut easy, mut hard) = (Vec::new(), Vec::new());
    for &i in rows {
        let r = &corpus.records[i];
        if !r.outcomes.is_empty() {
            let mean = r.outcomes.values().sum::<f64>() / r.outcomes.len() as f64;
            by_task
                .entry((r.source.as_str(), r.task.as_deref().unwrap_or("")))
                .or_default()
                .push((i, 1.0 - mean));
        }
        if let Some(level) = r.level.filter(|l| l.max > 1.0) {
            by_scale
                .entry(r.source.as_str())
                .or_default()
                .push((i, level.position()));
        }
        match pool(corpus, i) {
            Some(Pool::Easy) => easy.push(i),
            Some(Pool::Hard) => hard.push(i),
            None => {}
        }
    }
    let task_pairs: Vec<(usize, usize)> = by_task
        .values()
        .flat_map(|items| ordered_pairs(items, TASK_GAP, &mut draw))
        .collect();
    let level_pairs: Vec<(usize, usize)> = by_scale
        .values()
        .flat_map(|items| ordered_pairs(items, LEVEL_GAP, &mut draw))
        .collect();
    let pool_pairs = pool_pairs(corpus, &easy, &hard, &mut draw);
    let mut out = Vec::new();
    for (kind, share) in [
        (task_pairs, KIND_SHARE[0]),
        (level_pairs, KIND_SHARE[1]),
        (pool_pairs, KIND_SHARE[2]),
    ] {
        let weight = share / kind.len().max(1) as f32;
        out.extend(kind.into_iter().map(|(harder, easier)| Pair {
            harder,
            easier,
            weight,
            tie: false,
        }));
    }
    let ties = wrapping_ties(corpus, rows);
    let weight = TIE_SHARE / ties.len().max(1) as f32;
    out.extend(ties.into_iter().map(|(harder, easier)| Pair {
        harder,
        easier,
        weight,
        tie: true,
    }));
    let noise: Vec<(usize, usize)> = rows
        .iter()
        .flat_map(|&i| {
            corpus
                .copies
                .get(&i)
                .into_iter()
                .flatten()
                .map(move |&c| (c, i))
        })
        .collect();
    let weight = NOISE_TIE_SHARE / noise.len().max(1) as f32;
    out.extend(noise.into_iter().map(|(harder, easier)| Pair {
        harder,
        easier,
        weight,
        tie: true,
    }));
    out
}

/// Ties of the easy pool, as (wrapped, plain): a prompt that contains another prompt of the same pool (the
/// chatty opening and closing the generated easy pool wraps around a quarter of its questions) is tied to
/// it, so that the wrapping does not move the score. Each wrapped prompt is tied to one plain one.
fn wrapping_ties(corpus: &Corpus, rows: &[usize]) -> Vec<(usize, usize)> {
    let easy: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&i| pool(corpus, i) == Some(Pool::Easy))
        .collect();
    let mut by_prompt: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &easy {
        by_prompt
            .entry(corpus.records[i].prompt.as_str())
            .or_insert(i);
    }
    let mut out = Vec::new();
    for &i in &easy {
        let p = corpus.records[i].prompt.as_str();
        if let Some((_, &j)) = by_prompt.iter().find(|(q, &j)| {
            j != i && q.len() >= TIE_MIN_CHARS && q.len() < p.len() && p.contains(*q)
        }) {
            out.push((i, j));
        }
    }
    out
}

/// Fits the linear score on `pairs` (features of `corpus`). Returns (weights, bias): the bias centres the
/// scores of the paired rows on 0, so that `sigmoid(score)` sits around 0.5 in the middle of the data.
pub fn fit_score(corpus: &Corpus, pairs: &[Pair]) -> Result<(Array1<f32>, f32)> {
    if pairs.is_empty() {
        return Err(Error::Usage(
            "the training data gives no (harder, easier) pair: it needs rows with outcomes that differ \
             within a task, human levels, or an easy and a hard pool"
                .into(),
        ));
    }
    // The rows the pairs use, as one feature matrix.
    let mut index: BTreeMap<usize, usize> = BTreeMap::new();
    for p in pairs {
        let n = index.len();
        index.entry(p.harder).or_insert(n);
        let n = index.len();
        index.entry(p.easier).or_insert(n);
    }
    let mut rows = vec![0usize; index.len()];
    for (&i, &k) in &index {
        rows[k] = i;
    }
    let x: Vec<Vec<f32>> = rows.iter().map(|&i| corpus.features[i].clone()).collect();
    let local: Vec<fit::RankPair> = pairs
        .iter()
        .map(|p| fit::RankPair {
            harder: index[&p.harder],
            easier: index[&p.easier],
            weight: p.weight,
            tie: p.tie,
        })
        .collect();
    let w = fit::fit_pairwise(
        &x,
        &local,
        FitOptions {
            l2: L2,
            steps: 300,
            learning_rate: 0.05,
        },
    )?;
    let mean = x
        .iter()
        .map(|r| r.iter().zip(w.iter()).map(|(a, b)| a * b).sum::<f32>())
        .sum::<f32>()
        / x.len().max(1) as f32;
    Ok((w, -mean))
}

/// The difficulty head fitted on `rows`, its level cuts, and the out-of-fold level of every row with
/// outcomes (how the table bins its training rows, the way unseen prompts will be binned).
pub fn fit_head(
    corpus: &Corpus,
    rows: &[usize],
) -> Result<(DifficultyHead, BTreeMap<usize, usize>)> {
    let all = pairs(corpus, rows);
    let (weights, bias) = fit_score(corpus, &all)?;
    // Out-of-fold scores of every row: each fold's rows are scored by a head fitted on pairs among the
    // other folds' rows.
    let fold_of: BTreeMap<usize, usize> = rows
        .iter()
        .enumerate()
        .map(|(k, &i)| (i, k % OOF_FOLDS))
        .collect();
    let mut oof: BTreeMap<usize, f32> = BTreeMap::new();
    for fold in 0..OOF_FOLDS {
        let inside = |i: usize| fold_of.get(&i) == Some(&fold);
        let train: Vec<Pair> = all
            .iter()
            .copied()
            .filter(|p| !inside(p.harder) && !inside(p.easier))
            .collect();
        let Ok((w, b)) = fit_score(corpus, &train) else {
            continue;
        };
        let head = DifficultyHead {
            weights: w,
            bias: b,
            cuts: [0.0, 0.0],
            table_cuts: None,
            band_softness: None,
        };
        for &i in rows.iter().filter(|&&i| inside(i)) {
            oof.insert(i, head.score(&corpus.features[i]));
        }
    }
    let cuts = calibrated_cuts(corpus, &oof);
    let with_outcomes: Vec<f32> = oof
        .iter()
        .filter(|(&i, _)| !corpus.records[i].outcomes.is_empty())
        .map(|(_, &s)| s)
        .collect();
    let mut head = DifficultyHead {
        weights,
        bias,
        cuts,
        table_cuts: Some([
            super::quantile(&with_outcomes, 1.0 / 3.0),
            super::quantile(&with_outcomes, 2.0 / 3.0),
        ]),
        band_softness: None,
    };
    head.band_softness = noise_spread(corpus, rows, &head);
    let levels = oof
        .iter()
        .filter(|(&i, _)| !corpus.records[i].outcomes.is_empty())
        .map(|(&i, &s)| (i, head.table_band(s)))
        .collect();
    Ok((head, levels))
}

/// The root mean square of the score changes between `rows` and their noisy copies under `head`: how far
/// the noise a user makes moves a score (`None` without copies).
fn noise_spread(corpus: &Corpus, rows: &[usize], head: &DifficultyHead) -> Option<f32> {
    let (mut sum, mut n) = (0f64, 0usize);
    for &i in rows {
        let Some(copies) = corpus.copies.get(&i) else {
            continue;
        };
        let own = head.score(&corpus.features[i]);
        for &c in copies {
            let d = f64::from(head.score(&corpus.features[c]) - own);
            sum += d * d;
            n += 1;
        }
    }
    (n > 0).then(|| (sum / n as f64).sqrt() as f32)
}

/// Level cuts from out-of-fold scores: `easy` ends where the easy pool's top tenth begins, `hard` starts
/// at the pools' equal-error point ([`equal_error_point`]) (both at their midpoint when they cross). Without both pools
/// (a foreign log), the terciles of the scores.
pub fn calibrated_cuts(corpus: &Corpus, oof: &BTreeMap<usize, f32>) -> [f32; 2] {
    let (mut easy, mut hard) = (Vec::new(), Vec::new());
    for (&i, &s) in oof {
        match pool(corpus, i) {
            Some(Pool::Easy) => easy.push(s),
            Some(Pool::Hard) => hard.push(s),
            None => {}
        }
    }
    if easy.len() < 10 || hard.len() < 10 {
        let all: Vec<f32> = oof.values().copied().collect();
        return [
            super::quantile(&all, 1.0 / 3.0),
            super::quantile(&all, 2.0 / 3.0),
        ];
    }
    let low = super::quantile(&easy, 0.9);
    let high = equal_error_point(&easy, &hard);
    if high > low {
        [low, high]
    } else {
        let mid = (low + high) / 2.0;
        [mid, mid]
    }
}

/// The score at which an easy-pool item scores above it as often as a hard-pool item scores below it: the
/// boundary that misfiles either pool equally often. The hard pool is dominated by long competition
/// problems, so its own lower quantiles sit far above a short prompt that is just as hard; this boundary
/// depends on both pools, not on how long the hard pool's prompts are.
fn equal_error_point(easy: &[f32], hard: &[f32]) -> f32 {
    let mut e = easy.to_vec();
    let mut h = hard.to_vec();
    e.sort_by(|a, b| a.total_cmp(b));
    h.sort_by(|a, b| a.total_cmp(b));
    let above = |v: &[f32], t: f32| v.len() - v.partition_point(|&x| x <= t);
    let below = |v: &[f32], t: f32| v.partition_point(|&x| x < t);
    // Candidate thresholds are the scores themselves; the gap |P(easy > t) - P(hard < t)| is smallest
    // where the two error rates cross.
    let (ne, nh) = (e.len().max(1) as f64, h.len().max(1) as f64);
    e.iter()
        .chain(h.iter())
        .copied()
        .min_by(|&a, &b| {
            let gap = |t: f32| (above(&e, t) as f64 / ne - below(&h, t) as f64 / nh).abs();
            gap(a).total_cmp(&gap(b))
        })
        .unwrap_or(0.5)
}

#[cfg(test)]
mod tests {
    use super::{equal_error_point, pairs, pool, wrapping_ties, Pool, TIE_SHARE};
    use crate::training::dataset::{HumanLevel, TrainingRecord};
    use crate::training::Corpus;

    fn record(source: &str, domain: usize, level: Option<HumanLevel>) -> TrainingRecord {
        TrainingRecord {
            id: format!("{source}:{domain}"),
            task: Some(format!("{source}/{domain}")),
            domain: Some(domain),
            level,
            ..TrainingRecord::bare(source)
        }
    }

    fn corpus(records: Vec<TrainingRecord>) -> Corpus {
        let n = records.len();
        Corpus::from_features(records, vec![vec![0.0; 2]; n], vec![false; n])
    }

    #[test]
    fn generated_hard_rows_are_the_hard_pool_and_pool_pairs_stay_inside_a_domain_half_the_time() {
        let one_level = HumanLevel {
            value: 1.0,
            max: 1.0,
        };
        // Domains 0 and 1 have both pools; domain 2 only easy rows.
        let mut records = Vec::new();
        for d in 0..3 {
            for _ in 0..20 {
                records.push(record("generated-easy", d, Some(one_level)));
            }
        }
        for d in 0..2 {
            for _ in 0..20 {
                records.push(record("generated-hard", d, None));
            }
        }
        let c = corpus(records);
        assert_eq!(pool(&c, 0), Some(Pool::Easy));
        assert_eq!(pool(&c, 60), Some(Pool::Hard));
        let rows: Vec<usize> = (0..c.records.len()).collect();
        let all = pairs(&c, &rows);
        assert!(!all.is_empty());
        let domain = |i: usize| c.records[i].domain;
        for p in &all {
            assert_eq!(pool(&c, p.harder), Some(Pool::Hard));
            assert_eq!(pool(&c, p.easier), Some(Pool::Easy));
        }
        let inside = all
            .iter()
            .filter(|p| domain(p.harder) == domain(p.easier))
            .count();
        // Half are drawn inside a shared domain; the other half at random, a third of which land inside.
        let share = inside as f64 / all.len() as f64;
        assert!((0.55..0.8).contains(&share), "{inside} of {}", all.len());
        // The only kind of pair here is the pools' and it carries the pools' whole share.
        let total: f32 = all.iter().map(|p| p.weight).sum();
        assert!((total - super::KIND_SHARE[2]).abs() < 1e-4, "{total}");
    }

    #[test]
    fn equal_error_point_sits_where_both_pools_are_misfiled_alike() {
        // Easy scores 0..9, hard scores 8..17: the crossing is inside the overlap, below the hard pool's
        // lower quartile (10.25) that the cut used to be.
        let easy: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let hard: Vec<f32> = (8..18).map(|v| v as f32).collect();
        let t = equal_error_point(&easy, &hard);
        assert!((8.0..=10.0).contains(&t), "{t}");
        let above = easy.iter().filter(|&&e| e > t).count();
        let below = hard.iter().filter(|&&h| h < t).count();
        assert!(above.abs_diff(below) <= 1, "{above} vs {below} at {t}");
        // Disjoint pools: the point separates them.
        let t = equal_error_point(&[0.0, 1.0, 2.0], &[5.0, 6.0, 7.0]);
        assert!((2.0..=5.0).contains(&t), "{t}");
    }

    #[test]
    fn a_chatty_wrapping_of_an_easy_prompt_is_tied_to_the_plain_prompt() {
        let one_level = HumanLevel {
            value: 1.0,
            max: 1.0,
        };
        let with_prompt = |source: &str, level: Option<HumanLevel>, prompt: &str| TrainingRecord {
            prompt: prompt.into(),
            ..record(source, 0, level)
        };
        let plain = "How do I print a line in Go?";
        let c = corpus(vec![
            with_prompt("generated-easy", Some(one_level), plain),
            with_prompt(
                "generated-easy",
                Some(one_level),
                &format!("Hi there! Sorry if this is basic. {plain} Thanks a lot!"),
            ),
            // Too short to be the plain wording of anything.
            with_prompt("generated-easy", Some(one_level), "Thanks"),
            with_prompt(
                "generated-easy",
                Some(one_level),
                "Thanks so much for your help today!",
            ),
            // A hard-pool prompt holding an easy one is not a wrapping of it.
            with_prompt(
                "generated-hard",
                None,
                &format!("{plain} Then write a Go garbage collector."),
            ),
        ]);
        let rows: Vec<usize> = (0..c.records.len()).collect();
        assert_eq!(wrapping_ties(&c, &rows), vec![(1, 0)]);
        // Without the plain row among the fitting rows, no tie.
        assert!(wrapping_ties(&c, &[1, 2, 3, 4]).is_empty());
        // In the fit's pairs: one tie carrying the ties' whole share, beside the ranking pairs.
        let all = pairs(&c, &rows);
        let ties: Vec<_> = all.iter().filter(|p| p.tie).collect();
        assert_eq!(ties.len(), 1);
        assert_eq!((ties[0].harder, ties[0].easier), (1, 0));
        assert!((ties[0].weight - TIE_SHARE).abs() < 1e-6);
        assert!(all.iter().any(|p| !p.tie));
    }
}
