//! The decision rule: given each candidate's estimated quality and cost and the caller's target, which
//! candidate is chosen. The one copy of it — the policy (sidecar, `triage label`) and the evaluation's
//! operating-point sweeps both call [`apply`], so a retrain is judged by the rule that serves.
//!
//! The rule, in order:
//! 1. candidates not *admitted* (not allowed, denied, no outcome data, no price) take no further part;
//! 2. `max_cost_usd`: an admitted candidate whose cost exceeds it is out;
//! 3. `min_quality`: one whose quality is below it (by more than [`QUALITY_EPS`]) is out;
//! 4. `max_quality_drop`: one more than the drop (plus [`QUALITY_EPS`]) below the best quality still in
//!    is out; with `min_confidence` c, one is out unless it is within the drop of the best with
//!    probability at least c, its quality and the best's taken as normal with their standard errors
//!    (c = ½, or no errors, is the plain rule; the best itself always stays);
//! 5. the cheapest candidate still in is chosen; equal costs go to the higher quality, then the smaller
//!    `tie_key` (so the outcome never depends on the order the candidates are listed in);
//! 6. when none is still in, the admitted candidate of best quality is chosen as a fallback (ties: the
//!    cheaper, then the smaller `tie_key`).
//!
//! All arithmetic is in f64 (qualities estimated in f32 convert exactly).

use std::cmp::Ordering;

/// Slack for quality comparisons, so a candidate exactly at `best − drop` (or at `min_quality`) is not
/// lost to rounding.
pub const QUALITY_EPS: f64 = 1e-6;

/// What the caller asks of a decision; unset parts do not constrain it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Target {
    pub min_quality: Option<f64>,
    pub max_quality_drop: Option<f64>,
    pub max_cost_usd: Option<f64>,
    /// With `max_quality_drop`: the probability a candidate must have of being within the drop.
    pub min_confidence: Option<f64>,
}

impl Target {
    /// The evaluation sweeps' target: only a quality drop.
    pub fn within_drop(drop: f64) -> Self {
        Self {
            max_quality_drop: Some(drop),
            ..Self::default()
        }
    }
}

/// One candidate as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offer {
    /// Estimated quality (NaN makes the candidate unusable, as if not admitted).
    pub quality: f64,
    /// Standard error of `quality` (0 when unknown: the plain rule).
    pub quality_sd: f64,
    /// Estimated cost per query in USD (NaN or infinite makes it unusable).
    pub cost: f64,
    /// Whether membership, data and price rules let it take part.
    pub admitted: bool,
    /// Breaks the last tie: callers pass the provider's rank by name.
    pub tie_key: usize,
}

impl Offer {
    fn usable(&self) -> bool {
        self.admitted && !self.quality.is_nan() && self.cost.is_finite()
    }
}

/// Where one candidate stopped in the rule's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Not admitted (or unusable estimates): never chosen, not even as a fallback.
    Excluded,
    /// Over `max_cost_usd`.
    OverCost,
    /// Under `min_quality`.
    BelowMinQuality,
    /// Further than `max_quality_drop` below the best.
    BeyondDrop,
    /// Passed every step.
    Eligible,
}

/// How the chosen candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The cheapest eligible candidate.
    Met(usize),
    /// No candidate met the target: the best-quality admitted one.
    Fallback(usize),
    /// No candidate is admitted.
    Nothing,
}

impl Choice {
    /// The chosen index, if any.
    pub fn index(self) -> Option<usize> {
        match self {
            Choice::Met(i) | Choice::Fallback(i) => Some(i),
            Choice::Nothing => None,
        }
    }
}

/// The rule's outcome for one prompt: a verdict per offer (same order) and the choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Ruling {
    pub verdicts: Vec<Verdict>,
    /// Best quality among the candidates that passed the cost and `min_quality` steps (−∞ when none did):
    /// the reference point of `max_quality_drop`.
    pub best_quality: f64,
    pub choice: Choice,
}

/// Applies the rule (see the module doc) to one prompt's offers.
pub fn apply(offers: &[Offer], target: &Target) -> Ruling {
    let mut verdicts: Vec<Verdict> = offers
        .iter()
        .map(|o| {
            if !o.usable() {
                Verdict::Excluded
            } else if target.max_cost_usd.is_some_and(|max| o.cost > max) {
                Verdict::OverCost
            } else if target
                .min_quality
                .is_some_and(|min| o.quality < min - QUALITY_EPS)
            {
                Verdict::BelowMinQuality
            } else {
                Verdict::Eligible
            }
        })
        .collect();
    let best_quality = offers
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| **v == Verdict::Eligible)
        .map(|(o, _)| o.quality)
        .fold(f64::NEG_INFINITY, f64::max);
    if let Some(drop) = target.max_quality_drop {
        let floor = best_quality - drop.max(0.0) - QUALITY_EPS;
        // The best's own error: the smallest among the offers at the best quality.
        let best_sd = offers
            .iter()
            .zip(&verdicts)
            .filter(|(o, v)| **v == Verdict::Eligible && o.quality == best_quality)
            .map(|(o, _)| o.quality_sd)
            .fold(f64::INFINITY, f64::min);
        for (o, v) in offers.iter().zip(verdicts.iter_mut()) {
            if *v != Verdict::Eligible || o.quality == best_quality {
                continue;
            }
            let within = match target.min_confidence {
                Some(c) => {
                    let sd = (o.quality_sd.powi(2) + best_sd.powi(2)).sqrt();
                    if sd.is_finite() && sd > 0.0 {
                        normal_cdf((o.quality - (best_quality - drop.max(0.0))) / sd)
                            >= c - QUALITY_EPS
                    } else {
                        o.quality >= floor
                    }
                }
                None => o.quality >= floor,
            };
            if !within {
                *v = Verdict::BeyondDrop;
            }
        }
    }
    let pick = |keep: fn(Verdict) -> bool, order: fn(&Offer, &Offer) -> Ordering| {
        offers
            .iter()
            .zip(&verdicts)
            .enumerate()
            .filter(|(_, (_, v))| keep(**v))
            .min_by(|(_, (a, _)), (_, (b, _))| order(a, b))
            .map(|(i, _)| i)
    };
    let choice = match pick(|v| v == Verdict::Eligible, cheaper_first) {
        Some(i) => Choice::Met(i),
        None => {
            pick(|v| v > Verdict::Excluded, better_first).map_or(Choice::Nothing, Choice::Fallback)
        }
    };
    Ruling {
        verdicts,
        best_quality,
        choice,
    }
}

/// The standard normal distribution function, from the error function of Abramowitz and Stegun 7.1.26
/// (absolute error below 1.5e-7, far below what a confidence target resolves).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Lower cost, then higher quality, then smaller tie key.
fn cheaper_first(a: &Offer, b: &Offer) -> Ordering {
    a.cost
        .total_cmp(&b.cost)
        .then_with(|| b.quality.total_cmp(&a.quality))
        .then_with(|| a.tie_key.cmp(&b.tie_key))
}

/// Higher quality, then lower cost, then smaller tie key.
fn better_first(a: &Offer, b: &Offer) -> Ordering {
    b.quality
        .total_cmp(&a.quality)
        .then_with(|| a.cost.total_cmp(&b.cost))
        .then_with(|| a.tie_key.cmp(&b.tie_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confidence_target_keeps_only_candidates_surely_within_the_drop() {
        // b is cheapest and 0.05 below a (drop 0.07): in by the plain rule.
        let mut o = offers(&[0.80, 0.75], &[2.0, 1.0]);
        let plain = Target::within_drop(0.07);
        assert_eq!(apply(&o, &plain).choice, Choice::Met(1));
        let sure = Target {
            min_confidence: Some(0.8),
            ..plain
        };
        // Without errors the confidence target is the plain rule.
        assert_eq!(apply(&o, &sure).choice, Choice::Met(1));
        // Precise a, uncertain b (sd 0.1): P(b >= 0.73) = Φ(0.2) = 0.58 < 0.8: out; a stays.
        o[0].quality_sd = 0.01;
        o[1].quality_sd = 0.1;
        let r = apply(&o, &sure);
        assert_eq!(r.choice, Choice::Met(0));
        assert_eq!(r.verdicts[1], Verdict::BeyondDrop);
        // At one half the plain rule again.
        let half = Target {
            min_confidence: Some(0.5),
            ..plain
        };
        assert_eq!(apply(&o, &half).choice, Choice::Met(1));
        // Measured precisely, b is in again.
        o[1].quality_sd = 0.005;
        assert_eq!(apply(&o, &sure).choice, Choice::Met(1));
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-5);
    }

    fn offers(q: &[f64], c: &[f64]) -> Vec<Offer> {
        q.iter()
            .zip(c)
            .enumerate()
            .map(|(i, (&quality, &cost))| Offer {
                quality,
                quality_sd: 0.0,
                cost,
                admitted: true,
                tie_key: i,
            })
            .collect()
    }

    fn chosen(o: &[Offer], t: Target) -> Choice {
        apply(o, &t).choice
    }

    #[test]
    fn cheapest_within_the_drop_with_ties_broken() {
        let o = offers(
            &[0.8, 0.9, 0.85, 0.95, 0.99],
            &[1.0, 2.0, 2.0, 5.0, f64::NAN],
        );
        // The NaN cost is unusable, so 0.95 is the best.
        assert_eq!(chosen(&o, Target::within_drop(0.0)), Choice::Met(3));
        // Tie at cost 2.0 goes to the higher quality.
        assert_eq!(chosen(&o, Target::within_drop(0.1)), Choice::Met(1));
        assert_eq!(chosen(&o, Target::within_drop(0.15)), Choice::Met(0));
        // Boundary: exactly `best − drop` is kept.
        assert_eq!(
            chosen(
                &offers(&[0.75, 0.8], &[1.0, 2.0]),
                Target::within_drop(0.05)
            ),
            Choice::Met(0)
        );
        // Full tie: the smaller tie key, whatever the listing order.
        let mut o = offers(&[0.5, 0.5], &[1.0, 1.0]);
        assert_eq!(chosen(&o, Target::within_drop(0.0)), Choice::Met(0));
        o.swap(0, 1);
        assert_eq!(chosen(&o, Target::within_drop(0.0)), Choice::Met(1));
        let mut o = offers(&[0.8, 0.9], &[1.0, 1.0]);
        o[1].admitted = false;
        assert_eq!(chosen(&o, Target::within_drop(0.0)), Choice::Met(0));
        o[0].admitted = false;
        assert_eq!(chosen(&o, Target::within_drop(1.0)), Choice::Nothing);
    }

    #[test]
    fn cost_then_min_quality_then_drop_and_the_fallback() {
        let o = offers(&[0.5, 0.7, 0.9], &[1.0, 2.0, 3.0]);
        let t = Target {
            min_confidence: None,
            max_cost_usd: Some(2.5),
            max_quality_drop: Some(0.0),
            ..Target::default()
        };
        // The drop is measured from the best candidate that passed the cost step.
        let r = apply(&o, &t);
        assert_eq!(r.best_quality, 0.7);
        assert_eq!(r.choice, Choice::Met(1));
        assert_eq!(
            r.verdicts,
            vec![Verdict::BeyondDrop, Verdict::Eligible, Verdict::OverCost]
        );
        let t = Target {
            min_confidence: None,
            min_quality: Some(0.95),
            ..Target::default()
        };
        let r = apply(&o, &t);
        assert_eq!(r.choice, Choice::Fallback(2));
        assert!(r.verdicts.iter().all(|v| *v == Verdict::BelowMinQuality));
        let t = Target {
            min_confidence: None,
            max_cost_usd: Some(0.5),
            ..Target::default()
        };
        assert_eq!(chosen(&o, t), Choice::Fallback(2));
        // Fallback ties on quality go to the cheaper.
        assert_eq!(
            chosen(
                &offers(&[0.9, 0.9], &[3.0, 2.0]),
                Target {
                    min_quality: Some(1.0),
                    ..Target::default()
                }
            ),
            Choice::Fallback(1)
        );
    }
}
