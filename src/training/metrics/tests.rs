use super::*;
use serde_json::Value;

/// Inputs and reference outputs written by `scripts/metrics-reference.py` from
/// `shared/metrics/routing_metrics.py`.
const FIXTURE: &str = include_str!("../../../tests/fixtures/metrics/case.json");

fn vec_f64(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn mat_f64(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("array").iter().map(vec_f64).collect()
}

fn num(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

/// Tracks the largest differences seen and fails on a relative difference above 1e-9.
#[derive(Default)]
struct Compare {
    checked: usize,
    max_abs: f64,
    max_rel: f64,
}

impl Compare {
    fn check(&mut self, what: &str, got: f64, want: f64) {
        let abs = (got - want).abs();
        let rel = if got == want {
            0.0
        } else {
            abs / got.abs().max(want.abs())
        };
        assert!(
            rel <= 1e-9,
            "{what}: rust {got:e} vs python {want:e} (abs {abs:e}, rel {rel:e})"
        );
        self.checked += 1;
        self.max_abs = self.max_abs.max(abs);
        self.max_rel = self.max_rel.max(rel);
    }
}

#[test]
fn matches_python_reference() {
    let doc: Value = serde_json::from_str(FIXTURE).expect("fixture parses");
    let mut cmp = Compare::default();

    let pairs = doc["pairs"].as_array().expect("pairs");
    assert!(pairs.len() >= 3);
    for case in pairs {
        let name = case["name"].as_str().expect("name");
        let (scores, strong, weak) = (
            vec_f64(&case["scores"]),
            vec_f64(&case["strong"]),
            vec_f64(&case["weak"]),
        );
        let want_curve = vec_f64(&case["curve"]);
        let curve = pgr_curve(&scores, &strong, &weak, 0);
        assert_eq!(curve.len(), want_curve.len(), "{name}: curve length");
        for (k, (g, w)) in curve.iter().zip(&want_curve).enumerate() {
            cmp.check(&format!("{name} curve[{k}]"), *g, *w);
        }
        let m = pair_metrics(&scores, &strong, &weak);
        let want = &case["pair_metrics"];
        cmp.check(&format!("{name} apgr"), m.apgr, num(&want["apgr"]));
        cmp.check(&format!("{name} cpt50"), m.cpt50, num(&want["cpt50"]));
        cmp.check(&format!("{name} cpt80"), m.cpt80, num(&want["cpt80"]));
    }

    let routing = doc["routing"].as_array().expect("routing");
    assert!(routing.len() >= 3);
    let mut saw_point = (false, false);
    for case in routing {
        let name = case["name"].as_str().expect("name");
        let o = mat_f64(&case["outcomes"]);
        let c = mat_f64(&case["costs"]);
        let eq = mat_f64(&case["est_quality"]);
        let ec = mat_f64(&case["est_cost"]);
        let (n, p) = check_shape(&o, &c, &eq, &ec).expect("rectangular");
        assert!(n >= 100 && p >= 3, "{name}: {n}x{p}");

        let s = saving_at_best(&o, &c, &eq, &ec);
        let want = &case["saving_at_best"];
        assert_eq!(
            s.best_single as u64,
            want["best_single"].as_u64().expect("index"),
            "{name}: best_single"
        );
        cmp.check(
            &format!("{name} best_quality"),
            s.best_quality,
            num(&want["best_quality"]),
        );
        cmp.check(
            &format!("{name} best_cost"),
            s.best_cost,
            num(&want["best_cost"]),
        );
        cmp.check(&format!("{name} saving"), s.saving, num(&want["saving"]));
        cmp.check(
            &format!("{name} oracle_saving"),
            s.oracle_saving,
            num(&want["oracle_saving"]),
        );
        cmp.check(
            &format!("{name} oracle_quality"),
            s.oracle_quality,
            num(&want["oracle_quality"]),
        );
        match (&s.point, &want["point"]) {
            (None, Value::Null) => saw_point.1 = true,
            (Some((drop, q, cost)), w) if !w.is_null() => {
                saw_point.0 = true;
                cmp.check(&format!("{name} point.drop"), *drop, num(&w["drop"]));
                cmp.check(&format!("{name} point.quality"), *q, num(&w["quality"]));
                cmp.check(&format!("{name} point.cost"), *cost, num(&w["cost"]));
            }
            (got, w) => panic!("{name}: point {got:?} vs python {w}"),
        }

        // The default decisions, through `realize`.
        let chosen: Vec<usize> = case["default_choice"]
            .as_array()
            .expect("default_choice")
            .iter()
            .map(|x| x.as_u64().expect("index") as usize)
            .collect();
        let (dq, dc) = realize(&o, &c, &chosen);
        cmp.check(
            &format!("{name} default_quality"),
            dq,
            num(&want["default_quality"]),
        );
        cmp.check(
            &format!("{name} default_saving"),
            1.0 - dc / s.best_cost,
            num(&want["default_saving"]),
        );

        let a = aiq(&o, &c, &eq, &ec);
        cmp.check(&format!("{name} aiq"), a.aiq, num(&case["aiq"]["aiq"]));
        cmp.check(
            &format!("{name} zero_aiq"),
            a.zero_aiq,
            num(&case["aiq"]["zero_aiq"]),
        );
    }
    assert!(
        saw_point.0 && saw_point.1,
        "fixture covers both point and no point"
    );

    let envelopes = doc["envelopes"].as_array().expect("envelopes");
    assert!(envelopes.len() >= 4);
    for (e, case) in envelopes.iter().enumerate() {
        let points: Vec<(f64, f64)> = mat_f64(&case["points"])
            .into_iter()
            .map(|p| (p[0], p[1]))
            .collect();
        let (lo, hi) = (num(&case["lo"]), num(&case["hi"]));
        cmp.check(
            &format!("envelope {e} mean400"),
            envelope_mean(&points, lo, hi, 400),
            num(&case["mean400"]),
        );
        cmp.check(
            &format!("envelope {e} mean7_wide"),
            envelope_mean(&points, lo - 1.0, hi + 1.0, 7),
            num(&case["mean7_wide"]),
        );
        for probe in mat_f64(&case["at"]) {
            cmp.check(
                &format!("envelope {e} at {}", probe[0]),
                envelope_at(&points, probe[0]),
                probe[1],
            );
        }
    }

    assert!(cmp.checked > 1000, "only {} numbers checked", cmp.checked);
    eprintln!(
        "python reference: {} numbers, max abs diff {:e}, max rel diff {:e}",
        cmp.checked, cmp.max_abs, cmp.max_rel
    );
}

/// Bernoulli draws from a splitmix64 stream.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        (splitmix64(&mut self.0) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn self_check_oracle_random_constant() {
    // The reference's self-check, with our own PRNG: oracle ≈ 0.92, random and constant ≈ 0.5.
    let mut rng = Rng(1);
    let strong: Vec<f64> = (0..5000)
        .map(|_| if rng.uniform() < 0.8 { 1.0 } else { 0.0 })
        .collect();
    let weak: Vec<f64> = strong
        .iter()
        .map(|&s| if rng.uniform() < 0.8 { s } else { 0.0 })
        .collect();
    let oracle: Vec<f64> = strong.iter().zip(&weak).map(|(s, w)| s - w).collect();
    let random: Vec<f64> = (0..5000).map(|_| rng.uniform()).collect();
    let m = pair_metrics(&oracle, &strong, &weak);
    assert!((0.89..0.95).contains(&m.apgr), "oracle {m:?}");
    assert!(m.cpt50 < 0.12 && m.cpt80 < 0.17, "oracle {m:?}");
    let m = pair_metrics(&random, &strong, &weak);
    assert!((0.45..0.55).contains(&m.apgr), "random {m:?}");
    assert!((0.4..0.6).contains(&m.cpt50), "random {m:?}");
    let m = pair_metrics(&vec![0.0; 5000], &strong, &weak);
    assert!((0.45..0.55).contains(&m.apgr), "constant {m:?}");
}

#[test]
fn pgr_curve_by_hand_and_seeded_ties() {
    // strong mean 0.75, weak mean 0.25, gap 0.5.
    let (strong, weak) = ([1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]);
    let curve = pgr_curve(&[0.9, 0.1, 0.5, 0.7], &strong, &weak, 0);
    // order 0, 3, 2, 1: gains 1, 1, 0, 0 of 4 prompts.
    assert_eq!(curve, vec![0.0, 0.5, 1.0, 1.0, 1.0]);
    assert_eq!(apgr(&curve), (0.25 + 0.75 + 1.0 + 1.0) / 4.0);
    assert_eq!(cpt(&curve, 0.5), 0.25);
    assert_eq!(cpt(&curve, 0.8), 0.5);
    assert_eq!(cpt(&curve, 1.5), 1.0);
    assert!(apgr(&[0.0]).is_nan());

    // All tied: the seed decides the order, deterministically; the end point is always 1.
    let n = 64;
    let strong: Vec<f64> = (0..n).map(|i| (i % 2) as f64).collect();
    let weak = vec![0.0; n];
    let scores = vec![0.5; n];
    let a = pgr_curve(&scores, &strong, &weak, 7);
    assert_eq!(a, pgr_curve(&scores, &strong, &weak, 7));
    assert_ne!(a, pgr_curve(&scores, &strong, &weak, 8));
    assert!((a[n] - 1.0).abs() < 1e-12);
    // NaN scores rank last.
    let c = pgr_curve(&[f64::NAN, 0.1], &[1.0, 1.0], &[0.0, 0.0], 0);
    assert_eq!(c, vec![0.0, 0.5, 1.0]);
}

#[test]
fn choose_within_drop_rules() {
    let (q, c) = ([0.9, 0.85, 0.6], [3.0, 1.0, 0.5]);
    assert_eq!(choose_within_drop(&q, &c, 0.0), 0);
    assert_eq!(choose_within_drop(&q, &c, 0.05), 1); // boundary kept by the rule's slack
    assert_eq!(choose_within_drop(&q, &c, 0.3), 2);
    // Equal cost: the higher estimate; equal both: the first.
    assert_eq!(choose_within_drop(&[0.8, 0.9], &[1.0, 1.0], 0.2), 1);
    assert_eq!(choose_within_drop(&[0.9, 0.9], &[1.0, 1.0], 0.0), 0);
    assert_eq!(choose_within_drop(&[], &[], 0.0), 0);
    // A NaN estimate is unusable, as when serving.
    assert_eq!(choose_within_drop(&[f64::NAN, 0.5], &[1.0, 0.5], 0.1), 1);
    assert_eq!(
        choose_within_drop(&[0.9, 0.5], &[f64::INFINITY, 0.5], 0.0),
        1
    );
}

#[test]
fn envelope_by_hand() {
    let pts = [(1.0, 0.5), (3.0, 0.9), (2.0, 0.6)]; // (2, 0.6) lies under the hull
    let e = Envelope::new(&pts);
    assert_eq!(e.hull(), &[(1.0, 0.5), (3.0, 0.9)]);
    assert_eq!(e.at(0.5), 0.0);
    assert_eq!(e.at(1.0), 0.5);
    assert!((e.at(2.0) - 0.7).abs() < 1e-15);
    assert_eq!(e.at(5.0), 0.9);
    // A falling tail does not lower the envelope.
    assert_eq!(envelope_at(&[(1.0, 0.5), (3.0, 0.9), (4.0, 0.2)], 4.0), 0.9);
    assert!((envelope_mean(&pts, 1.0, 3.0, 2) - 0.7).abs() < 1e-15);
    assert_eq!(envelope_mean(&pts, 2.0, 3.0, 0), e.at(2.0));
    assert_eq!(envelope_at(&[], 1.0), 0.0);
}

#[test]
fn oracle_gain_by_hand() {
    // Provider 0 costs 1 a prompt, provider 1 costs 10; provider 1 is best on average (0.9 vs 0.5),
    // the oracle takes 0 on prompt 0 and 1 on prompt 1 for quality 1.0.
    let o = vec![vec![1.0, 0.8], vec![0.0, 1.0]];
    let c = vec![vec![1.0, 10.0], vec![1.0, 10.0]];
    let g = oracle_gain_fraction(&o, &c, &o, &c); // perfect estimates
    assert_eq!(
        (g.budget, g.router_quality, g.oracle_quality),
        (20.0, 1.0, 1.0)
    );
    assert!((g.zero_quality - 0.9).abs() < 1e-15);
    assert_eq!(g.fraction, Some(1.0));
    // Estimates that see no difference: always the cheapest, quality 0.5 at any budget.
    let flat = vec![vec![0.5, 0.5]; 2];
    let g = oracle_gain_fraction(&o, &c, &flat, &c);
    assert_eq!(g.router_quality, 0.5);
    let f = g.fraction.expect("defined");
    assert!((f + 4.0).abs() < 1e-9, "{f}");
    // No oracle gain: undefined.
    let same = vec![vec![1.0, 1.0], vec![1.0, 1.0]];
    assert_eq!(oracle_gain_fraction(&same, &c, &same, &c).fraction, None);

    let s = saving_at_best(&o, &c, &o, &c);
    assert_eq!(s.best_single, 1);
    assert_eq!(s.point, Some((0.0, 1.0, 11.0)));
    assert!((s.saving - 0.45).abs() < 1e-15);
    assert!((s.oracle_saving - 0.45).abs() < 1e-15);
}

#[test]
fn the_recommended_drop_keeps_a_paired_margin_over_the_best_provider() {
    // Providers [cheap at 1, strong at 10]; the strong one is the best single provider (6/8 against 5/8).
    // The cheap one goes to p3 and p4 from drop 0.01 and 0.02 (same outcome), to p2 from 0.045 (a loss)
    // and to p1 from 0.095 (same outcome); p5 and p7 it always gets (gains), p6 and p8 never.
    let o = vec![
        vec![1.0, 1.0],
        vec![0.0, 1.0],
        vec![1.0, 1.0],
        vec![1.0, 1.0],
        vec![1.0, 0.0],
        vec![0.0, 1.0],
        vec![1.0, 0.0],
        vec![0.0, 1.0],
    ];
    let c = vec![vec![1.0, 10.0]; 8];
    let eq = vec![
        vec![0.8, 0.893],
        vec![0.7, 0.743],
        vec![0.6, 0.607],
        vec![0.5, 0.517],
        vec![0.9, 0.3],
        vec![0.2, 0.9],
        vec![0.9, 0.3],
        vec![0.2, 0.9],
    ];
    // The edge: from 0.045 the quality (7/8) still beats the best provider's, and 0.095 saves most.
    let edge = saving_at_best(&o, &c, &eq, &c);
    assert_eq!(edge.point.map(|p| p.0), Some(19.0 / 200.0));
    // With the margin: from 0.045 the differences are (0, −1, 0, 0, 1, 0, 1, 0): mean 0.125 against a
    // standard error of 0.227, not kept; at 0.02 they are (0, 0, 0, 0, 1, 0, 1, 0): mean 0.25, SE 0.164.
    assert_eq!(drop_with_paired_margin(&o, &c, &eq, &c), Some(4.0 / 200.0));
    // Too few prompts or providers: no recommendation.
    assert_eq!(
        drop_with_paired_margin(&o[..1], &c[..1], &eq[..1], &c[..1]),
        None
    );
    let one: Vec<Vec<f64>> = o.iter().map(|r| r[..1].to_vec()).collect();
    assert_eq!(drop_with_paired_margin(&one, &one, &one, &one), None);
}

#[test]
fn empty_inputs_do_not_panic() {
    let none: Vec<Vec<f64>> = Vec::new();
    let s = saving_at_best(&none, &none, &none, &none);
    assert_eq!((s.saving, s.point), (0.0, None));
    assert!(aiq(&none, &none, &none, &none).aiq.is_nan());
    assert!(oracle_gain_fraction(&none, &none, &none, &none)
        .fraction
        .is_none());
    // Prompts without providers.
    let hollow = vec![Vec::new(); 3];
    assert!(router_points(&hollow, &hollow, &hollow, &hollow).is_empty());
    assert!(aiq(&hollow, &hollow, &hollow, &hollow).zero_aiq.is_nan());
    assert_eq!(
        saving_at_best(&hollow, &hollow, &hollow, &hollow).point,
        None
    );
    assert!(oracle_gain_fraction(&hollow, &hollow, &hollow, &hollow)
        .fraction
        .is_none());
    assert!(apgr(&pgr_curve(&[], &[], &[], 0)).is_nan());
}

#[test]
fn check_shape_rejects_ragged() {
    let m = vec![vec![0.0, 1.0]; 3];
    assert_eq!(check_shape(&m, &m, &m, &m).expect("ok"), (3, 2));
    let short = vec![vec![0.0, 1.0]; 2];
    assert!(check_shape(&m, &m, &short, &m).is_err());
    let mut ragged = m.clone();
    ragged[1].pop();
    assert!(check_shape(&m, &ragged, &m, &m).is_err());
    // Ragged input does not panic: the common part is used.
    let s = saving_at_best(&m, &ragged, &m, &m);
    assert_eq!(s.best_single, 0);
}

#[test]
fn spearman_by_hand() {
    // Ranks of b: [1, 2, 3.5, 5, 3.5]; r = 8 / sqrt(10 · 9.5).
    let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]);
    assert!((r - 8.0 / 95f64.sqrt()).abs() < 1e-12, "{r}");
    assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 100.0, 1000.0]) - 1.0).abs() < 1e-12);
    assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    assert!(spearman(&[1.0], &[1.0]).is_nan());
    assert!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]).is_nan());
}

#[test]
fn roc_auc_by_hand_and_brute_force() {
    assert_eq!(
        roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
        0.75
    );
    // A tie between a positive and a negative counts a half: (0.5 + 1 + 2) / 4.
    assert_eq!(
        roc_auc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]),
        0.875
    );
    assert_eq!(roc_auc(&[1.0, 2.0], &[false, true]), 1.0);
    assert_eq!(roc_auc(&[1.0, 2.0], &[true, false]), 0.0);
    assert!(roc_auc(&[1.0, 2.0], &[true, true]).is_nan());

    let mut rng = Rng(42);
    let scores: Vec<f64> = (0..300).map(|_| (rng.uniform() * 20.0).floor()).collect();
    let labels: Vec<bool> = scores
        .iter()
        .map(|s| rng.uniform() * 25.0 < s + 3.0)
        .collect();
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (s, _) in scores.iter().zip(&labels).filter(|(_, &l)| l) {
        for (t, _) in scores.iter().zip(&labels).filter(|(_, &l)| !l) {
            pairs += 1.0;
            wins += if s > t {
                1.0
            } else if s == t {
                0.5
            } else {
                0.0
            };
        }
    }
    assert!((roc_auc(&scores, &labels) - wins / pairs).abs() < 1e-12);
}

#[test]
fn accuracy_and_macro_f1_by_hand() {
    let truth = [0, 0, 1, 1, 2];
    let pred = [0, 1, 1, 1, 0];
    assert_eq!(accuracy(&pred, &truth), 0.6);
    // Class 0: TP 1, FP 1, FN 1 → 0.5; class 1: TP 2, FP 1 → 0.8; class 2: no TP → 0; class 3 absent.
    let f = macro_f1(&pred, &truth, 4);
    assert!((f - 1.3 / 3.0).abs() < 1e-12, "{f}");
    assert_eq!(macro_f1(&truth, &truth, 3), 1.0);
    // An out-of-range prediction is an error for class 0 but not a class of its own.
    assert_eq!(macro_f1(&[9, 0], &[0, 0], 2), 2.0 / 3.0);
    assert!(macro_f1(&[], &[], 3).is_nan());
    assert!(accuracy::<usize>(&[], &[]).is_nan());
}

#[test]
fn cpt50_advantage_bootstrap_separates_an_oracle_from_random_and_is_zero_for_equal_scores() {
    let mut rng = Rng(7);
    let strong: Vec<f64> = (0..2000)
        .map(|_| if rng.uniform() < 0.8 { 1.0 } else { 0.0 })
        .collect();
    let weak: Vec<f64> = strong
        .iter()
        .map(|&s| if rng.uniform() < 0.7 { s } else { 0.0 })
        .collect();
    let oracle: Vec<f64> = strong.iter().zip(&weak).map(|(s, w)| s - w).collect();
    let random: Vec<f64> = (0..2000).map(|_| rng.uniform()).collect();
    let point =
        pair_metrics(&random, &strong, &weak).cpt50 - pair_metrics(&oracle, &strong, &weak).cpt50;

    let samples = cpt50_advantage_resamples(&oracle, &random, &strong, &weak, 200, 3);
    assert_eq!(samples.len(), 200);
    let (lo, hi) = percentile_interval(&samples, 0.95);
    assert!(lo > 0.2 && lo <= point && point <= hi, "{lo} {point} {hi}");
    // The same pair the other way round: the interval mirrors below zero.
    let (lo, hi) = percentile_interval(
        &cpt50_advantage_resamples(&random, &oracle, &strong, &weak, 200, 3),
        0.95,
    );
    assert!(
        hi < -0.2 && lo <= -point && -point <= hi,
        "{lo} {point} {hi}"
    );
    // Equal scores: every resample draws the same prompts and breaks ties alike, so no advantage.
    let same = cpt50_advantage_resamples(&random, &random, &strong, &weak, 50, 3);
    assert!(same.iter().all(|&a| a == 0.0), "{same:?}");
    // Seeded: the same seed repeats the resamples, another draws others.
    assert_eq!(
        samples,
        cpt50_advantage_resamples(&oracle, &random, &strong, &weak, 200, 3)
    );
    assert_ne!(
        samples,
        cpt50_advantage_resamples(&oracle, &random, &strong, &weak, 200, 4)
    );
    // No gap to recover (strong = weak): every resample is NaN, and so is the interval.
    let none = cpt50_advantage_resamples(&oracle, &random, &strong, &strong, 20, 3);
    assert!(none.iter().all(|a| a.is_nan()));
    assert!(percentile_interval(&none, 0.95).0.is_nan());
    assert!(cpt50_advantage_resamples(&[], &[], &[], &[], 20, 3).is_empty());
}

#[test]
fn percentile_interval_by_hand() {
    let samples: Vec<f64> = (0..=100).rev().map(f64::from).collect();
    assert_eq!(percentile_interval(&samples, 0.9), (5.0, 95.0));
    assert_eq!(percentile_interval(&samples, 0.0), (50.0, 50.0));
    assert_eq!(percentile_interval(&[f64::NAN, 2.0, 1.0], 1.0), (1.0, 2.0));
    assert!(percentile_interval(&[], 0.95).1.is_nan());
}

#[test]
fn aiq_gain_bootstrap_is_above_zero_for_a_router_that_knows_the_answers_and_not_for_one_that_knows_nothing(
) {
    // Two providers: a cheap one right on half the prompts, a dear one right on 90%.
    let mut rng = Rng(11);
    let n = 400;
    let outcomes: Vec<Vec<f64>> = (0..n)
        .map(|_| {
            let cheap = f64::from(u8::from(rng.uniform() < 0.5));
            let dear = f64::from(u8::from(rng.uniform() < 0.9));
            vec![cheap, dear]
        })
        .collect();
    let costs = vec![vec![1.0, 10.0]; n];
    // Knows each answer: sends a prompt to the dear provider only when the cheap one fails.
    let knowing = aiq_gain_resamples(&outcomes, &costs, &outcomes, &costs, 200, 5);
    assert_eq!(knowing.len(), 200);
    let (lo, hi) = percentile_interval(&knowing, 0.95);
    let point = {
        let a = aiq(&outcomes, &costs, &outcomes, &costs);
        a.aiq - a.zero_aiq
    };
    assert!(lo > 0.0 && lo <= point && point <= hi, "{lo} {point} {hi}");
    // Knows nothing (the same estimate for both, so always the cheaper): no gain over the single providers.
    let blind_q = vec![vec![0.5, 0.5]; n];
    let blind = aiq_gain_resamples(&outcomes, &costs, &blind_q, &costs, 200, 5);
    assert!(percentile_interval(&blind, 0.95).1 <= 1e-12, "{blind:?}");
    // Seeded, and empty without prompts.
    assert_eq!(
        knowing,
        aiq_gain_resamples(&outcomes, &costs, &outcomes, &costs, 200, 5)
    );
    assert!(aiq_gain_resamples(&[], &[], &[], &[], 10, 5).is_empty());
}

#[test]
fn the_operating_point_at_one_knob_setting_by_hand() {
    // Two prompts, providers (strong, cheap). Estimates: prompt 0 strong 0.9 / cheap 0.85, prompt 1
    // strong 0.9 / cheap 0.6. Real outcomes: prompt 0 both right, prompt 1 only strong right.
    let o = vec![vec![1.0, 1.0], vec![1.0, 0.0]];
    let c = vec![vec![10.0, 1.0], vec![10.0, 1.0]];
    let eq = vec![vec![0.9, 0.85], vec![0.9, 0.6]];
    let ec = c.clone();
    // Drop 0: both to strong: quality 1, cost 20.
    assert_eq!(realize_at_drop(&o, &c, &eq, &ec, 2, 0.0), (1.0, 20.0));
    // Drop 0.1: prompt 0 to cheap (0.85 within 0.1 of 0.9), prompt 1 stays: quality 1, cost 11.
    assert_eq!(realize_at_drop(&o, &c, &eq, &ec, 2, 0.1), (1.0, 11.0));
    // Drop 0.5: both to cheap: quality 0.5, cost 2.
    assert_eq!(realize_at_drop(&o, &c, &eq, &ec, 2, 0.5), (0.5, 2.0));
}
