use super::*;
use crate::routing::registry::ProviderEntry;
use crate::routing::table::ProviderStats;
use crate::routing::{Policy, PromptLabels, RouteOptions};
use proptest::prelude::*;

/// A random table (providers × categories × levels with holes), registry and prompt labels.
fn world() -> impl Strategy<
    Value = (
        RoutingTable,
        ProviderRegistry,
        PromptLabels,
        Vec<usize>,
        f32,
    ),
> {
    (2usize..6, 1usize..4).prop_flat_map(|(np, nc)| {
        // Qualities on a coarse grid so that exact ties (equal quality, equal cost) occur often.
        let cell = prop_oneof![3 => (0u8..=10).prop_map(|q| Some(f32::from(q) / 10.0)), 1 => Just(None)];
        let quality = prop::collection::vec(prop::collection::vec(prop::collection::vec(cell, np), 3), nc);
        let price = prop_oneof![3 => (0u8..4, 0u8..4).prop_map(|(a, b)| Some((f64::from(a), f64::from(b)))), 1 => Just(None)];
        let prices = prop::collection::vec(price, np);
        let registry_price = prop::collection::vec(prop_oneof![Just(None), (0u8..4).prop_map(|a| Some(f64::from(a)))], np);
        let enabled = prop::collection::vec(any::<bool>(), np);
        let probs = prop::collection::vec(0u8..4, nc);
        let level = 0usize..3;
        let group = prop::sample::subsequence((0..np).collect::<Vec<_>>(), 1..=np);
        let drop = prop_oneof![Just(0.0f32), Just(0.1), Just(0.2), Just(1.0), (0u8..=60).prop_map(|x| f32::from(x) / 200.0)];
        (quality, prices, registry_price, enabled, probs, level, group, drop, 1usize..2000).prop_map(
            move |(quality, prices, registry_price, enabled, probs, level, group, drop, tokens)| {
                // Names in an order unrelated to the table's, so tie keys (name ranks) differ from indices.
                let names: Vec<String> = (0..np).map(|p| format!("p{}", (p * 7 + 3) % 10)).collect();
                let providers = (0..np)
                    .map(|p| ProviderStats {
                        name: names[p].clone(),
                        group: "g".into(),
                        observations: 10,
                        mean_quality: 0.5,
                        input_usd_per_mtok: prices[p].map(|x| x.0),
                        output_usd_per_mtok: prices[p].map(|x| x.1),
                    })
                    .collect();
                let table = RoutingTable {
                    providers,
                    categories: (0..nc).map(|c| format!("c{c}")).collect(),
                    category_domain: vec![0; nc],
                    counts: vec![vec![vec![1; np]; 3]; nc],
                    output_tokens: vec![vec![100.0; np]; nc],
                    observed_cost_usd: Vec::new(),
                    input_tokens: vec![vec![None; np]; nc],
                    pseudo_count: 1.0,
                    quality,
                };
                let registry = ProviderRegistry::from_providers(
                    (0..np)
                        .map(|p| ProviderEntry {
                            name: names[p].clone(),
                            input_usd_per_mtok: registry_price[p],
                            output_usd_per_mtok: registry_price[p],
                            enabled: enabled[p],
                            ..ProviderEntry::named("")
                        })
                        .collect(),
                )
                .unwrap();
                let mut category_probs: Vec<f32> = probs.iter().map(|&p| f32::from(p)).collect();
                category_probs[0] += 1.0;
                let labels = PromptLabels {
                    category_probs,
                    level,
                    input_tokens: tokens, band_weights: None, };
                (table, registry, labels, group, drop)
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The serving path (`Policy::decide` with the group as the allowed list) and the evaluation path
    /// (`estimates` + `metrics::choose_within_drop`, as the sweeps run) choose the same provider.
    #[test]
    fn serving_and_evaluation_choose_alike((table, registry, labels, group, drop) in world()) {
        let policy = Policy::new(table, registry, RouteOptions::default()).unwrap();
        // Group providers as `groups` lists them: sorted by name.
        let mut names: Vec<String> = group.iter().map(|&p| policy.table().providers[p].name.clone()).collect();
        names.sort();
        let served = policy.decide(
            &labels,
            &RouteOptions { max_quality_drop: Some(drop), allowed: Some(names.clone()), ..RouteOptions::default() },
        );
        let l = labels.clone();
        let label: LabelFn = Box::new(move |_| l.clone());
        let (q, c) = estimates(&policy, &label, &[0], &names);
        let usable = q[0].iter().zip(&c[0]).any(|(q, c)| !q.is_nan() && c.is_finite());
        match served {
            Ok(d) => {
                prop_assert!(usable);
                let i = metrics::choose_within_drop(&q[0], &c[0], f64::from(drop));
                prop_assert_eq!(&names[i], &d.provider);
                prop_assert_eq!(q[0][i], f64::from(d.expected_quality));
                prop_assert_eq!(c[0][i], d.expected_cost_usd);
            }
            Err(_) => prop_assert!(!usable),
        }
    }
}
