use super::*;
use crate::routing::estimate::expected_output_tokens;
use crate::routing::registry::ProviderEntry;
use crate::routing::table::ProviderStats;

fn stats(name: &str, mean: f32, price: Option<(f64, f64)>) -> ProviderStats {
    ProviderStats {
        name: name.into(),
        group: "g1".into(),
        observations: 100,
        mean_quality: mean,
        input_usd_per_mtok: price.map(|p| p.0),
        output_usd_per_mtok: price.map(|p| p.1),
    }
}

/// 2 categories x 3 levels x 4 providers. `delta` has no table price and no `hard` cells.
fn table() -> RoutingTable {
    let n = None;
    RoutingTable {
        providers: vec![
            stats("alpha", 0.5, Some((0.1, 0.1))),
            stats("beta", 0.65, Some((0.5, 0.5))),
            stats("gamma", 0.87, Some((2.0, 2.0))),
            stats("delta", 0.7, None),
        ],
        categories: vec!["code".into(), "math".into()],
        category_domain: vec![0, 1],
        quality: vec![
            vec![
                vec![Some(0.6), Some(0.7), Some(0.9), Some(0.65)],
                vec![Some(0.5), Some(0.65), Some(0.85), n],
                vec![Some(0.3), Some(0.6), Some(0.8), n],
            ],
            vec![
                vec![Some(0.7), Some(0.75), Some(0.95), Some(0.8)],
                vec![Some(0.6), Some(0.7), Some(0.9), Some(0.7)],
                vec![Some(0.4), Some(0.6), Some(0.85), n],
            ],
        ],
        counts: vec![vec![vec![10; 4]; 3]; 2],
        output_tokens: vec![
            vec![100.0, 200.0, 300.0, 150.0],
            vec![200.0, 200.0, 400.0, 100.0],
        ],
        observed_cost_usd: vec![vec![vec![None; 4]; 3]; 2],
        input_tokens: vec![vec![None; 4]; 2],
        pseudo_count: 5.0,
    }
}

fn price(name: &str, pin: Option<f64>, pout: Option<f64>, enabled: bool) -> ProviderEntry {
    ProviderEntry {
        name: name.into(),
        input_usd_per_mtok: pin,
        output_usd_per_mtok: pout,
        enabled,
        ..ProviderEntry::named("")
    }
}

/// alpha/beta/gamma take the table's prices; delta's comes from the registry only.
fn registry() -> ProviderRegistry {
    ProviderRegistry::from_providers(vec![
        price("alpha", None, None, true),
        price("beta", None, None, true),
        price("gamma", None, None, true),
        price("delta", Some(0.2), Some(0.4), true),
    ])
    .unwrap()
}

fn policy() -> Policy {
    Policy::new(table(), registry(), RouteOptions::default()).unwrap()
}

/// 50/50 code/math, hard. Expected (quality, cost):
/// alpha (0.35, 0.000115), delta (0.7 = mean, 0.00025), beta (0.6, 0.0006), gamma (0.825, 0.0027).
fn hard() -> PromptLabels {
    PromptLabels {
        category_probs: vec![0.5, 0.5],
        level: 2,
        input_tokens: 1000,
        band_weights: None,
    }
}

fn opts() -> RouteOptions {
    RouteOptions::default()
}

fn candidate<'a>(d: &'a Decision, name: &str) -> &'a Candidate {
    d.candidates.iter().find(|c| c.provider == name).unwrap()
}

fn invalid_input(r: Result<Decision>) -> String {
    match r {
        Err(Error::InvalidInput(m)) => m,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn mixture_math_matches_hand_computation() {
    let p = policy();
    let labels = PromptLabels {
        category_probs: vec![0.25, 0.75],
        level: 1,
        input_tokens: 1000,
        band_weights: None,
    };
    let est = p.estimate(&labels);
    assert_eq!(
        est.iter().map(|e| e.provider.as_str()).collect::<Vec<_>>(),
        vec!["alpha", "beta", "gamma", "delta"]
    );
    // alpha, medium: 0.25*0.5 + 0.75*0.6.
    assert!((est[0].expected_quality - 0.575).abs() < 1e-6, "{est:?}");
    // alpha cost: 1000*0.1/1e6 + (0.25*100 + 0.75*200)*0.1/1e6.
    assert!(
        close(est[0].expected_cost_usd.unwrap(), 0.0001175),
        "{est:?}"
    );
    // gamma, medium: 0.25*0.85 + 0.75*0.9.
    assert!((est[2].expected_quality - 0.8875).abs() < 1e-6, "{est:?}");
    // gamma cost: 1000*2/1e6 + (0.25*300 + 0.75*400)*2/1e6 = 0.002 + 0.00075.
    assert!(close(est[2].expected_cost_usd.unwrap(), 0.00275), "{est:?}");
    // delta cost from registry prices: 1000*0.2/1e6 + (0.25*150 + 0.75*100)*0.4/1e6.
    assert!(
        close(est[3].expected_cost_usd.unwrap(), 0.000245),
        "{est:?}"
    );
    assert!(close(expected_output_tokens(&p.table, &labels, 3), 112.5));
}

#[test]
fn none_cells_are_renormalised() {
    let p = policy();
    let at = |level: usize| {
        p.estimate(&PromptLabels {
            category_probs: vec![0.25, 0.75],
            level,
            input_tokens: 10,
            band_weights: None,
        })[3]
            .expected_quality
    };
    // delta has values in code/easy (.65), math/easy (.8) and math/medium (.7) only.
    assert!((at(0) - (0.25 * 0.65 + 0.75 * 0.8)).abs() < 1e-6);
    // Medium: only math has a cell, so its weight is renormalised to 1.
    assert!((at(1) - 0.7).abs() < 1e-6);
    // With only None cells in play (hard), the provider's mean quality is used.
    assert!((p.estimate(&hard())[3].expected_quality - 0.7).abs() < 1e-6);
}

#[test]
fn cells_without_outcomes_at_the_level_count_only_when_no_cell_has_some() {
    // alpha has no outcome in code at easy: its 0.6 there is smoothed from code's other levels.
    let mut t = table();
    t.counts[0][0][0] = 0;
    let p = Policy::new(t.clone(), registry(), RouteOptions::default()).unwrap();
    let mostly_code = PromptLabels {
        category_probs: vec![0.9, 0.1],
        level: 0,
        input_tokens: 10,
        band_weights: None,
    };
    let est = p.estimate(&mostly_code);
    // Only math at easy (0.7) is evidence for alpha, whatever the code share...
    assert!((est[0].expected_quality - 0.7).abs() < 1e-6, "{est:?}");
    // ...while beta, measured in both, mixes both: 0.9*0.7 + 0.1*0.75.
    assert!((est[1].expected_quality - 0.705).abs() < 1e-6, "{est:?}");
    let d = p.decide(&mostly_code, &opts()).unwrap();
    assert_eq!(
        candidate(&d, "alpha").quality_source,
        "estimated from what it was measured on (math)"
    );
    assert_eq!(candidate(&d, "beta").quality_source, "measured");
    // With no outcome at easy in any category, the smoothed values are mixed as before: 0.9*0.6 + 0.1*0.7.
    t.counts[1][0][0] = 0;
    let p = Policy::new(t, registry(), RouteOptions::default()).unwrap();
    let d = p.decide(&mostly_code, &opts()).unwrap();
    assert!((candidate(&d, "alpha").expected_quality - 0.61).abs() < 1e-6);
    assert_eq!(
        candidate(&d, "alpha").quality_source,
        "estimated from what it was measured on (code, math)"
    );
}

#[test]
fn default_mode_is_a_small_quality_drop() {
    let p = policy();
    assert_eq!(
        p.defaults().max_quality_drop,
        Some(DEFAULT_MAX_QUALITY_DROP)
    );
    let d = p.decide(&hard(), &opts()).unwrap();
    assert_eq!(d.provider, "gamma");
    assert!((d.expected_quality - 0.825).abs() < 1e-6);
    assert!(close(d.expected_cost_usd, 0.0027));
    assert!(
        d.reason.starts_with("cheapest provider with"),
        "{}",
        d.reason
    );
    // Candidates are sorted by expected cost ascending.
    let order: Vec<&str> = d.candidates.iter().map(|c| c.provider.as_str()).collect();
    assert_eq!(order, vec!["alpha", "delta", "beta", "gamma"]);
    assert!(candidate(&d, "gamma").eligible);
    let delta = candidate(&d, "delta");
    assert!(
        !delta.eligible && delta.reason.contains("max_quality_drop"),
        "{delta:?}"
    );
    // A configured default without a drop keeps no default drop.
    let p = Policy::new(
        table(),
        registry(),
        RouteOptions {
            min_quality: Some(0.5),
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(p.defaults().max_quality_drop, None);
    assert_eq!(p.decide(&hard(), &opts()).unwrap().provider, "delta");
}

#[test]
fn max_quality_drop_widens_the_choice() {
    let p = policy();
    let pick = |drop: f32| {
        p.decide(
            &hard(),
            &RouteOptions {
                max_quality_drop: Some(drop),
                ..opts()
            },
        )
        .unwrap()
        .provider
    };
    assert_eq!(pick(0.0), "gamma");
    assert_eq!(pick(0.1), "gamma");
    assert_eq!(pick(0.15), "delta"); // 0.7 >= 0.825 - 0.15
    assert_eq!(pick(0.3), "delta"); // beta (0.6) now eligible but dearer
    assert_eq!(pick(0.475), "alpha"); // 0.35 >= 0.825 - 0.475, exactly at the edge
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                max_quality_drop: Some(0.3),
                ..opts()
            },
        )
        .unwrap();
    assert!(candidate(&d, "beta").eligible);
    assert!(!candidate(&d, "alpha").eligible);
}

#[test]
fn min_quality_picks_the_cheapest_above_it() {
    let p = policy();
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                min_quality: Some(0.55),
                max_quality_drop: Some(1.0),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "delta");
    let alpha = candidate(&d, "alpha");
    assert!(
        !alpha.eligible && alpha.reason.contains("min_quality 0.55"),
        "{alpha:?}"
    );
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                min_quality: Some(0.75),
                max_quality_drop: Some(1.0),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "gamma");
}

#[test]
fn max_cost_excludes_dear_providers_before_the_drop() {
    let p = policy();
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                max_cost_usd: Some(0.001),
                ..opts()
            },
        )
        .unwrap();
    // gamma is over budget, so the best is delta (0.7) and the 0.02 drop keeps only delta.
    assert_eq!(d.provider, "delta");
    let gamma = candidate(&d, "gamma");
    assert!(
        !gamma.eligible && gamma.reason.contains("max_cost_usd"),
        "{gamma:?}"
    );
    assert!(!candidate(&d, "beta").reason.contains("max_cost_usd"));
}

#[test]
fn no_eligible_provider_falls_back_to_the_best_quality() {
    let p = policy();
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                max_cost_usd: Some(0.0001),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "gamma");
    assert!(d.candidates.iter().all(|c| !c.eligible));
    assert!(
        d.reason
            .starts_with("no provider meets the target (4 over max_cost_usd")
            && d.reason
                .ends_with("; chose the best-quality allowed provider"),
        "{}",
        d.reason
    );
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                min_quality: Some(0.9),
                allowed: Some(vec!["alpha".into(), "beta".into()]),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "beta");
    assert!(d.reason.contains("2 below min_quality 0.9"), "{}", d.reason);
}

#[test]
fn allowed_restricts_and_can_include_disabled_providers() {
    let p = policy();
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                allowed: Some(vec!["alpha".into(), "beta".into()]),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "beta");
    assert_eq!(candidate(&d, "gamma").reason, "not in the allowed list");
    assert!(!candidate(&d, "gamma").eligible);

    let mut reg = registry();
    reg.upsert(price("beta", None, None, false)).unwrap();
    let p = Policy::new(table(), reg, opts()).unwrap();
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                max_quality_drop: Some(0.3),
                ..opts()
            },
        )
        .unwrap();
    // A disabled provider is not a candidate unless named in `allowed` (or forced).
    assert_eq!(d.provider, "delta");
    assert!(d.candidates.iter().all(|c| c.provider != "beta"));
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                force: Some("beta".into()),
                allowed: Some(vec!["alpha".into()]),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "beta");
    assert_eq!(candidate(&d, "beta").reason, "not enabled in the registry");
    assert_eq!(candidate(&d, "gamma").reason, "not in the allowed list");
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                allowed: Some(vec!["beta".into(), "alpha".into()]),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "beta");
    assert!(candidate(&d, "beta").eligible);
}

#[test]
fn denied_is_merged_with_defaults_and_all_denied_is_an_error() {
    let p = Policy::new(
        table(),
        registry(),
        RouteOptions {
            denied: vec!["gamma".into()],
            ..opts()
        },
    )
    .unwrap();
    let d = p.decide(&hard(), &opts()).unwrap();
    assert_eq!(d.provider, "delta");
    assert_eq!(candidate(&d, "gamma").reason, "in the denied list");
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                denied: vec!["delta".into()],
                ..opts()
            },
        )
        .unwrap();
    // gamma and delta both denied: best is beta (0.6), alpha is too far below it.
    assert_eq!(d.provider, "beta");
    let m = invalid_input(p.decide(
        &hard(),
        &RouteOptions {
            denied: vec!["alpha".into(), "beta".into(), "delta".into()],
            ..opts()
        },
    ));
    assert!(m.starts_with("no provider can be chosen"), "{m}");
}

#[test]
fn force_overrides_every_rule() {
    let p = policy();
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                force: Some("alpha".into()),
                denied: vec!["alpha".into()],
                min_quality: Some(0.9),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "alpha");
    assert_eq!(d.reason, "forced by request");
    assert!((d.expected_quality - 0.35).abs() < 1e-6);
    assert!(close(d.expected_cost_usd, 0.000115));
    assert_eq!(d.candidates.len(), 4);
    assert!(!candidate(&d, "alpha").eligible);
}

#[test]
fn unknown_provider_names_are_rejected() {
    let p = policy();
    for o in [
        RouteOptions {
            allowed: Some(vec!["alpha".into(), "zeta".into()]),
            ..opts()
        },
        RouteOptions {
            denied: vec!["zeta".into()],
            ..opts()
        },
        RouteOptions {
            force: Some("zeta".into()),
            ..opts()
        },
    ] {
        let m = invalid_input(p.decide(&hard(), &o));
        assert_eq!(
            m,
            "unknown provider `zeta`; known: alpha, beta, delta, gamma"
        );
    }
    // Unknown names in the configured defaults are a usage error.
    let r = Policy::new(
        table(),
        registry(),
        RouteOptions {
            denied: vec!["zeta".into()],
            ..opts()
        },
    );
    assert!(matches!(r, Err(Error::Usage(m)) if m.contains("unknown provider `zeta`")));
}

#[test]
fn bad_numbers_and_labels_are_rejected() {
    let p = policy();
    invalid_input(p.decide(
        &hard(),
        &RouteOptions {
            max_quality_drop: Some(-0.1),
            ..opts()
        },
    ));
    invalid_input(p.decide(
        &hard(),
        &RouteOptions {
            min_quality: Some(f32::NAN),
            ..opts()
        },
    ));
    let m = invalid_input(p.decide(
        &PromptLabels {
            category_probs: vec![1.0],
            ..hard()
        },
        &opts(),
    ));
    assert!(m.contains("1 category probabilities"), "{m}");
    let mut bad = table();
    bad.output_tokens.pop();
    assert!(matches!(
        Policy::new(bad, registry(), opts()),
        Err(Error::Artifacts(_))
    ));
}

#[test]
fn provider_without_outcome_data_is_reported_ineligible() {
    let mut reg = registry();
    reg.upsert(price("epsilon", Some(0.01), Some(0.01), true))
        .unwrap();
    let p = Policy::new(table(), reg, opts()).unwrap();
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                max_quality_drop: Some(1.0),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "alpha");
    let e = candidate(&d, "epsilon");
    assert!(!e.eligible);
    assert_eq!(e.reason, "no outcome data: cannot be chosen");
    assert!(e.expected_quality.is_nan() && e.expected_cost_usd.is_nan());
    assert_eq!(d.candidates.last().unwrap().provider, "epsilon");
    // It is not in the estimate (table providers only) and cannot be forced.
    assert_eq!(p.estimate(&hard()).len(), 4);
    let m = invalid_input(p.decide(
        &hard(),
        &RouteOptions {
            force: Some("epsilon".into()),
            ..opts()
        },
    ));
    assert!(m.contains("no outcome data"), "{m}");
}

#[test]
fn registry_price_override_changes_the_choice() {
    let wide = RouteOptions {
        max_quality_drop: Some(0.5),
        ..opts()
    };
    assert_eq!(policy().decide(&hard(), &wide).unwrap().provider, "alpha");
    let t = Arc::new(table());
    let mut reg = registry();
    reg.upsert(price("gamma", Some(0.01), Some(0.01), true))
        .unwrap();
    let p = Policy::new(Arc::clone(&t), reg, opts()).unwrap();
    let d = p.decide(&hard(), &wide).unwrap();
    assert_eq!(d.provider, "gamma");
    // 1000*0.01/1e6 + 350*0.01/1e6.
    assert!(close(d.expected_cost_usd, 0.0000135));
    assert_eq!(t.providers[2].input_usd_per_mtok, Some(2.0));
    assert_eq!(*t, table());
}

#[test]
fn missing_price_uses_observed_cost_or_blocks_the_provider() {
    let mut reg = registry();
    reg.upsert(price("delta", None, None, true)).unwrap();
    let p = Policy::new(table(), reg.clone(), opts()).unwrap();
    let wide = RouteOptions {
        max_quality_drop: Some(0.2),
        ..opts()
    };
    let d = p.decide(&hard(), &wide).unwrap();
    assert_eq!(d.provider, "gamma");
    let delta = candidate(&d, "delta");
    assert!(
        !delta.eligible && delta.reason.starts_with("no price"),
        "{delta:?}"
    );
    assert!(p.estimate(&hard())[3].expected_cost_usd.is_none());

    let mut t = table();
    t.observed_cost_usd[0][2][3] = Some(0.0004);
    t.observed_cost_usd[1][2][3] = Some(0.0002);
    t.observed_cost_usd[1][0][3] = Some(9.0); // zero weight for a hard prompt
    let p = Policy::new(t, reg, opts()).unwrap();
    let d = p.decide(&hard(), &wide).unwrap();
    assert_eq!(d.provider, "delta");
    assert!(close(d.expected_cost_usd, 0.0003));
}

#[test]
fn offers_feed_the_rule_as_decide_does() {
    // The evaluation's path (offers for a provider list + the rule) against decide() with that list allowed.
    let p = policy();
    let all: Vec<usize> = (0..p.table().providers.len()).collect();
    for drop in [0.0f32, 0.02, 0.15, 0.5] {
        let offers = p.offers(&hard(), &all);
        let i = rule::apply(&offers, &rule::Target::within_drop(f64::from(drop)))
            .choice
            .index()
            .unwrap();
        let names: Vec<String> = p.table().providers.iter().map(|s| s.name.clone()).collect();
        let d = p
            .decide(
                &hard(),
                &RouteOptions {
                    max_quality_drop: Some(drop),
                    allowed: Some(names.clone()),
                    ..opts()
                },
            )
            .unwrap();
        assert_eq!(names[i], d.provider, "drop {drop}");
    }
}

#[test]
fn route_options_deserialize_with_defaults_and_merge() {
    let o: RouteOptions =
        serde_json::from_str(r#"{"max_cost_usd": 0.01, "denied_providers": ["a"]}"#).unwrap();
    assert_eq!(
        o,
        RouteOptions {
            max_cost_usd: Some(0.01),
            denied: vec!["a".into()],
            ..opts()
        }
    );
    let defaults = RouteOptions {
        max_quality_drop: Some(0.02),
        max_cost_usd: Some(1.0),
        denied: vec!["b".into(), "a".into()],
        force: Some("c".into()),
        ..opts()
    };
    let none: RouteOptions = serde_json::from_str(r#"{"denied_providers": null}"#).unwrap();
    assert_eq!(none, opts());
    let m = o.merged_over(&defaults);
    assert_eq!(m.max_cost_usd, Some(0.01));
    assert_eq!(m.max_quality_drop, Some(0.02));
    assert_eq!(m.denied, vec!["b".to_string(), "a".to_string()]);
    assert_eq!(m.force.as_deref(), Some("c"));
    let d = policy().decide(&hard(), &opts()).unwrap();
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["provider"], "gamma");
    assert_eq!(json["candidates"].as_array().unwrap().len(), 4);
}

/// A registry with `omega`, which has no outcome rows and borrows gamma's quality, 0.05 lower on code.
fn borrowing_registry(like: &str) -> ProviderRegistry {
    let mut entries = registry().providers().to_vec();
    let mut omega = price("omega", Some(0.3), Some(0.3), true);
    omega.like = Some(like.into());
    omega.like_domain_offsets.insert("code".into(), -0.05);
    entries.push(omega);
    ProviderRegistry::from_providers(entries).unwrap()
}

#[test]
fn a_provider_without_outcome_rows_borrows_a_measured_ones_quality() {
    let p = Policy::new(table(), borrowing_registry("gamma"), opts()).unwrap();
    // Hard, 50/50 code/math: gamma 0.825; omega 0.825 - 0.5 * 0.05 = 0.8, at its own prices on gamma's
    // expected output tokens (350): 1000 * 0.3 / 1e6 + 350 * 0.3 / 1e6.
    let d = p.decide(&hard(), &opts()).unwrap();
    let omega = candidate(&d, "omega");
    assert!((omega.expected_quality - 0.8).abs() < 1e-6, "{omega:?}");
    assert!(close(omega.expected_cost_usd, 0.000405), "{omega:?}");
    assert_eq!(omega.quality_source, "borrowed from gamma (code -0.050)");
    assert_eq!(candidate(&d, "gamma").quality_source, "measured");
    // Within 0.05 of the best (gamma 0.825) it is the cheapest: the borrowed estimate takes part.
    let d = p
        .decide(
            &hard(),
            &RouteOptions {
                max_quality_drop: Some(0.05),
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(d.provider, "omega");
    // All math: no code offset.
    let math = PromptLabels {
        category_probs: vec![0.0, 1.0],
        level: 0,
        input_tokens: 10,
        band_weights: None,
    };
    let d = p.decide(&math, &opts()).unwrap();
    assert!((candidate(&d, "omega").expected_quality - 0.95).abs() < 1e-6);
}

#[test]
fn like_must_name_a_measured_provider_and_stands_aside_once_the_provider_is_measured() {
    let err = Policy::new(table(), borrowing_registry("nobody"), opts()).unwrap_err();
    assert!(err.to_string().contains("nobody"), "{err}");
    // A `like` on a provider that has outcome data of its own (collected since the entry was written):
    // its own data decide.
    let mut entries = registry().providers().to_vec();
    entries[0].like = Some("gamma".into());
    let name = entries[0].name.clone();
    let p = Policy::new(
        table(),
        ProviderRegistry::from_providers(entries).unwrap(),
        opts(),
    )
    .unwrap();
    let d = p.decide(&hard(), &opts()).unwrap();
    let own = candidate(&d, &name);
    assert!(!own.quality_source.starts_with("borrowed"), "{own:?}");
    let plain = Policy::new(table(), registry(), opts()).unwrap();
    let d0 = plain.decide(&hard(), &opts()).unwrap();
    assert_eq!(own.expected_quality, candidate(&d0, &name).expected_quality);
    // A borrowed provider without prices of its own cannot be chosen (never the measured one's costs).
    let mut entries = registry().providers().to_vec();
    let mut omega = price("omega", None, None, true);
    omega.like = Some("gamma".into());
    entries.push(omega);
    let p = Policy::new(
        table(),
        ProviderRegistry::from_providers(entries).unwrap(),
        opts(),
    )
    .unwrap();
    let d = p.decide(&hard(), &opts()).unwrap();
    let omega = candidate(&d, "omega");
    assert!(
        !omega.eligible && omega.reason.contains("no price"),
        "{omega:?}"
    );
}

#[test]
fn requests_may_name_providers_by_their_registry_aliases() {
    let mut entries = registry().providers().to_vec();
    entries[2].aliases = vec!["g".into()];
    entries[1].aliases = vec!["b".into()];
    let p = Policy::new(
        table(),
        ProviderRegistry::from_providers(entries).unwrap(),
        opts(),
    )
    .unwrap();
    let named = |allowed: &[&str], force: Option<&str>| RouteOptions {
        allowed: Some(allowed.iter().map(|s| s.to_string()).collect()),
        force: force.map(str::to_string),
        ..opts()
    };
    let by_alias = p.decide(&hard(), &named(&["g", "b"], None)).unwrap();
    let by_name = p.decide(&hard(), &named(&["gamma", "beta"], None)).unwrap();
    assert_eq!(by_alias, by_name);
    assert_eq!(
        p.decide(&hard(), &named(&["g"], Some("b")))
            .unwrap()
            .provider,
        "beta"
    );
    let denied = RouteOptions {
        denied: vec!["g".into()],
        ..opts()
    };
    assert!(!candidate(&p.decide(&hard(), &denied).unwrap(), "gamma").eligible);
    assert!(invalid_input(p.decide(&hard(), &named(&["zeta"], None))).contains("zeta"));
}

#[test]
fn quality_source_says_when_a_measured_provider_is_estimated_from_other_domains() {
    let p = policy();
    // delta has no medium code cell, only a medium math one: on a medium code prompt its estimate is its
    // math cell's, and the explanation says so; on a medium math prompt it is measured.
    let code = PromptLabels {
        category_probs: vec![0.9, 0.1],
        level: 1,
        input_tokens: 10,
        band_weights: None,
    };
    let d = p.decide(&code, &opts()).unwrap();
    assert_eq!(
        candidate(&d, "delta").quality_source,
        "estimated from what it was measured on (math)"
    );
    assert!((candidate(&d, "delta").expected_quality - 0.7).abs() < 1e-6);
    assert_eq!(candidate(&d, "alpha").quality_source, "measured");
    let math = PromptLabels {
        category_probs: vec![0.1, 0.9],
        ..code
    };
    let d = p.decide(&math, &opts()).unwrap();
    assert_eq!(candidate(&d, "delta").quality_source, "measured");
}

/// The registry of [`registry`] with gamma and delta able to call tools (alpha unknown, beta unable).
fn tool_policy() -> Policy {
    let can = |yes: Option<bool>| crate::routing::registry::Capabilities {
        tools: yes,
        ..Default::default()
    };
    let with = |mut e: ProviderEntry, caps| {
        e.capabilities = caps;
        e
    };
    let registry = ProviderRegistry::from_providers(vec![
        price("alpha", None, None, true),
        with(price("beta", None, None, true), can(Some(false))),
        with(price("gamma", None, None, true), can(Some(true))),
        with(price("delta", Some(0.2), Some(0.4), true), can(Some(true))),
    ])
    .unwrap();
    Policy::new(table(), registry, RouteOptions::default()).unwrap()
}

#[test]
fn needs_exclude_providers_that_cannot_serve_them_and_say_why() {
    let p = tool_policy();
    let tools = RouteOptions {
        needs: crate::routing::Needs {
            tools: true,
            ..Default::default()
        },
        max_quality_drop: Some(1.0),
        ..opts()
    };
    let d = p.decide(&hard(), &tools).unwrap();
    // The cheapest, alpha, is unknown and beta cannot: delta (the cheapest that can) answers.
    assert_eq!(d.provider, "delta");
    assert_eq!(
        candidate(&d, "beta").excluded.as_deref(),
        Some("no tool calling")
    );
    assert!(candidate(&d, "alpha")
        .excluded
        .as_deref()
        .unwrap()
        .contains("unknown"));
    assert!(!candidate(&d, "alpha").eligible);
    assert_eq!(candidate(&d, "delta").excluded, None);
    // Without the need, alpha is the cheapest again.
    let plain = RouteOptions {
        max_quality_drop: Some(1.0),
        ..opts()
    };
    assert_eq!(p.decide(&hard(), &plain).unwrap().provider, "alpha");
    // Nobody can: the error names each provider's reason.
    let only = RouteOptions {
        allowed: Some(vec!["alpha".into(), "beta".into()]),
        ..tools.clone()
    };
    let m = invalid_input(p.decide(&hard(), &only));
    assert!(
        m.contains("beta: no tool calling") && m.contains("alpha: tool calling unknown"),
        "{m}"
    );
    // Forcing a provider that cannot serve the request, or that the door cannot reach, is an error.
    let forced = RouteOptions {
        force: Some("beta".into()),
        ..tools.clone()
    };
    assert!(invalid_input(p.decide(&hard(), &forced)).contains("cannot force provider `beta`"));
    let mut unreachable = RouteOptions {
        force: Some("gamma".into()),
        ..opts()
    };
    unreachable
        .unavailable
        .insert("gamma".into(), "API key variable G_KEY is unset".into());
    let m = invalid_input(p.decide(&hard(), &unreachable));
    assert!(m.contains("G_KEY"), "{m}");
}

#[test]
fn max_tokens_caps_the_expected_output_in_the_cost() {
    let p = policy();
    let free = p.decide(&hard(), &opts()).unwrap();
    let capped = RouteOptions {
        needs: crate::routing::Needs {
            max_output_tokens: Some(10),
            ..Default::default()
        },
        ..opts()
    };
    let d = p.decide(&hard(), &capped).unwrap();
    // gamma: 1000 input tokens at $2/M plus min(350, 10) output tokens at $2/M.
    assert!(close(
        candidate(&d, "gamma").expected_cost_usd,
        (1000.0 + 10.0) * 2.0 / 1e6
    ));
    assert!(candidate(&free, "gamma").expected_cost_usd > candidate(&d, "gamma").expected_cost_usd);
}

#[test]
fn a_prompt_near_a_band_cut_gets_the_bands_mixture() {
    let p = policy();
    let at = |level: usize| p.estimate(&PromptLabels { level, ..hard() })[2].expected_quality;
    let mixed = p.estimate(&PromptLabels {
        band_weights: Some([0.0, 0.25, 0.75]),
        ..hard()
    })[2]
        .expected_quality;
    let want = 0.25 * at(1) + 0.75 * at(2);
    assert!((mixed - want).abs() < 1e-6, "{mixed} vs {want}");
}
