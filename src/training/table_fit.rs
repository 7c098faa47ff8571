//! Builds the routing table from training rows: per (category, level, provider) mean outcomes, shrunk
//! toward the category, domain and global means, plus the cost inputs (tokens, observed costs).

use super::dataset::{Price, TrainingRecord};
use crate::routing::table::{ProviderStats, RoutingTable};
use crate::routing::DOMAINS;
use std::collections::BTreeMap;

/// Output tokens assumed per query when the data has no token counts (LLMRouter rows): typical answer
/// lengths per domain (code and writing produce long answers, short factual answers are short).
pub const DEFAULT_OUTPUT_TOKENS: [f32; 6] = [350.0, 300.0, 150.0, 120.0, 300.0, 250.0];

/// One training row as the table builder sees it.
pub struct TableRow<'a> {
    pub record: &'a TrainingRecord,
    /// Category index (into `categories`).
    pub category: usize,
    /// Level index (0..3) the row is binned into.
    pub level: usize,
    /// Domain index used for defaults (true label, else predicted).
    pub domain: usize,
}

/// Provider metadata known before fitting.
pub struct ProviderInfo {
    pub name: String,
    pub group: String,
    pub price: Option<Price>,
}

/// Fits the table.
pub fn build_table(
    rows: &[TableRow],
    categories: &[String],
    category_domain: &[usize],
    providers: &[ProviderInfo],
    pseudo_count: f32,
) -> RoutingTable {
    let np = providers.len();
    let nc = categories.len();
    let index: BTreeMap<&str, usize> = providers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    // Sums and counts at each level of the hierarchy.
    let mut cell = vec![vec![vec![(0f64, 0f64); np]; 3]; nc];
    let mut cat = vec![vec![(0f64, 0f64); np]; nc];
    let mut dom = vec![vec![(0f64, 0f64); np]; DOMAINS.len()];
    let mut all = vec![(0f64, 0f64); np];
    let mut out_tok = vec![vec![(0f64, 0f64); np]; nc];
    let mut in_tok = vec![vec![(0f64, 0f64); np]; nc];
    let mut cost = vec![vec![vec![(0f64, 0f64); np]; 3]; nc];
    // Weighted sums: a row's outcomes count `record.weight` times (the operator's own feedback weighs
    // more than public benchmark rows).
    let add = |acc: &mut (f64, f64), v: f64, w: f64| {
        acc.0 += w * v;
        acc.1 += w;
    };
    for row in rows {
        let w = row.record.weight;
        for (name, &outcome) in &row.record.outcomes {
            let Some(&p) = index.get(name.as_str()) else {
                continue;
            };
            add(&mut cell[row.category][row.level][p], outcome, w);
            add(&mut cat[row.category][p], outcome, w);
            add(&mut dom[category_domain[row.category]][p], outcome, w);
            add(&mut all[p], outcome, w);
            if let Some(t) = row.record.tokens.get(name) {
                if let Some(o) = t.output {
                    add(&mut out_tok[row.category][p], o, w);
                }
                if let Some(i) = t.input {
                    add(&mut in_tok[row.category][p], i, w);
                }
            }
            if let Some(&c) = row.record.cost_usd.get(name) {
                add(&mut cost[row.category][row.level][p], c, w);
            }
        }
    }
    let k = pseudo_count as f64;
    let shrink = |acc: (f64, f64), prior: f64| (acc.0 + k * prior) / (acc.1 + k);
    let global: Vec<f64> = all.iter().map(|a| a.0 / a.1.max(1e-12)).collect();
    let mut quality = vec![vec![vec![None; np]; 3]; nc];
    let mut counts = vec![vec![vec![0u32; np]; 3]; nc];
    for c in 0..nc {
        let d = category_domain[c];
        for p in 0..np {
            if cat[c][p].1 <= 0.0 {
                continue; // never measured in this category: no estimate rather than a borrowed one
            }
            let dom_mean = shrink(dom[d][p], global[p]);
            let cat_mean = shrink(cat[c][p], dom_mean);
            for l in 0..3 {
                quality[c][l][p] = Some(shrink(cell[c][l][p], cat_mean) as f32);
                counts[c][l][p] = cell[c][l][p].1.round() as u32;
            }
        }
    }
    let mean = |a: (f64, f64)| (a.1 > 0.0).then(|| a.0 / a.1);
    RoutingTable {
        providers: providers
            .iter()
            .enumerate()
            .map(|(p, info)| ProviderStats {
                name: info.name.clone(),
                group: info.group.clone(),
                observations: all[p].1.round() as u32,
                mean_quality: global[p] as f32,
                input_usd_per_mtok: info.price.map(|x| x.input_usd_per_mtok),
                output_usd_per_mtok: info.price.map(|x| x.output_usd_per_mtok),
            })
            .collect(),
        categories: categories.to_vec(),
        category_domain: category_domain.to_vec(),
        quality,
        counts,
        output_tokens: (0..nc)
            .map(|c| {
                (0..np)
                    .map(|p| {
                        mean(out_tok[c][p])
                            .map_or(DEFAULT_OUTPUT_TOKENS[category_domain[c]], |v| v as f32)
                    })
                    .collect()
            })
            .collect(),
        observed_cost_usd: cost
            .iter()
            .map(|levels| {
                levels
                    .iter()
                    .map(|ps| ps.iter().map(|&a| mean(a)).collect())
                    .collect()
            })
            .collect(),
        input_tokens: in_tok
            .iter()
            .map(|ps| ps.iter().map(|&a| mean(a).map(|v| v as f32)).collect())
            .collect(),
        pseudo_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(outcomes: &[(&str, f64)]) -> TrainingRecord {
        TrainingRecord {
            id: "x".into(),
            domain: Some(0),
            outcomes: outcomes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..TrainingRecord::bare("s")
        }
    }

    #[test]
    fn shrinks_sparse_cells_toward_parents_and_keeps_counts() {
        let recs: Vec<TrainingRecord> = (0..10)
            .map(|i| rec(&[("a", if i < 8 { 1.0 } else { 0.0 })]))
            .collect();
        let rows: Vec<TableRow> = recs
            .iter()
            .enumerate()
            .map(|(i, r)| TableRow {
                record: r,
                category: 0,
                level: if i == 9 { 2 } else { 0 },
                domain: 0,
            })
            .collect();
        let providers = [
            ProviderInfo {
                name: "a".into(),
                group: "s".into(),
                price: None,
            },
            ProviderInfo {
                name: "b".into(),
                group: "s".into(),
                price: None,
            },
        ];
        let t = build_table(&rows, &["domain:code".into()], &[0], &providers, 10.0);
        // Category mean: (8 + 10 * 0.8) / 20 = 0.8; hard cell has one failure: (0 + 10 * 0.8) / 11.
        let hard = t.quality[0][2][0].unwrap();
        assert!((hard - 8.0 / 11.0).abs() < 1e-6, "{hard}");
        // Medium has no rows: the category mean.
        assert!((t.quality[0][1][0].unwrap() - 0.8).abs() < 1e-6);
        assert_eq!(t.counts[0][0][0], 9);
        // Provider b was never measured: no estimate.
        assert_eq!(t.quality[0][0][1], None);
        assert_eq!(t.output_tokens[0][0], DEFAULT_OUTPUT_TOKENS[0]);
    }

    #[test]
    fn a_weighted_row_counts_as_many_rows() {
        let providers = vec![ProviderInfo {
            name: "a".into(),
            group: "g".into(),
            price: None,
        }];
        let one = rec(&[("a", 1.0)]);
        let zero = rec(&[("a", 0.0)]);
        let mut heavy = rec(&[("a", 1.0)]);
        heavy.weight = 3.0;
        let row = |r| TableRow {
            record: r,
            category: 0,
            level: 0,
            domain: 0,
        };
        let cats = ["c".to_string()];
        // One 1.0 at weight 3 and three 0.0 rows: the mean of the cell is 0.5 before shrinking.
        let weighted = build_table(
            &[row(&heavy), row(&zero), row(&zero), row(&zero)],
            &cats,
            &[0],
            &providers,
            0.0,
        );
        let repeated = build_table(
            &[
                row(&one),
                row(&one),
                row(&one),
                row(&zero),
                row(&zero),
                row(&zero),
            ],
            &cats,
            &[0],
            &providers,
            0.0,
        );
        assert_eq!(weighted.quality[0][0][0], Some(0.5));
        // (Levels without rows are NaN with no pseudo-count; compare the measured cell.)
        assert_eq!(weighted.quality[0][0], repeated.quality[0][0]);
        assert_eq!(weighted.counts[0][0][0], 6);
    }
}
