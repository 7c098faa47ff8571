//! LiteLLM's price map (`model_prices_and_context_window.json`, MIT): the per-model token prices gateways
//! already use, read in its own format so a registry can name its keys instead of typing prices by hand.
//!
//! The file is one JSON object: model key → `{ "input_cost_per_token": f, "output_cost_per_token": f, … }`
//! (USD per token). Entries without both costs (image models, the `sample_spec` documentation entry) are
//! skipped; every other field is ignored.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// File name of the vendored copy beside `providers.toml` (and compiled into the binary).
pub const LITELLM_PRICES_FILE: &str = "litellm-prices.json";

/// A model's token prices, in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenPrices {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
}

/// The price map: model key → prices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceMap {
    prices: BTreeMap<String, TokenPrices>,
}

impl PriceMap {
    /// Parses a LiteLLM price map; `origin` names the source in error messages.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::Usage(format!(
                "{origin}: not a LiteLLM price map (invalid JSON: {e})"
            ))
        })?;
        let serde_json::Value::Object(entries) = value else {
            return Err(Error::Usage(format!(
                "{origin}: not a LiteLLM price map (expected a JSON object of model keys)"
            )));
        };
        let per_mtok = |entry: &serde_json::Value, key: &str| {
            entry
                .get(key)
                .and_then(serde_json::Value::as_f64)
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| v * 1e6)
        };
        let prices: BTreeMap<String, TokenPrices> = entries
            .iter()
            .filter_map(|(key, entry)| {
                Some((
                    key.clone(),
                    TokenPrices {
                        input_usd_per_mtok: per_mtok(entry, "input_cost_per_token")?,
                        output_usd_per_mtok: per_mtok(entry, "output_cost_per_token")?,
                    },
                ))
            })
            .collect();
        if prices.is_empty() {
            return Err(Error::Usage(format!(
                "{origin}: not a LiteLLM price map (no entry has input_cost_per_token and output_cost_per_token)"
            )));
        }
        Ok(PriceMap { prices })
    }

    /// The prices of a model key.
    pub fn get(&self, key: &str) -> Option<TokenPrices> {
        self.prices.get(key).copied()
    }

    /// Number of models with prices.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// Whether no model has prices.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_token_prices_per_million_and_skips_entries_without_them() {
        let map = PriceMap::from_json_str(
            r#"{"sample_spec": {"input_cost_per_token": "0.0", "max_tokens": "set to max"},
                "gpt-4o-2024-08-06": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                                      "litellm_provider": "openai", "mode": "chat"},
                "dall-e-3": {"output_cost_per_image": 0.04},
                "bad": {"input_cost_per_token": -1.0, "output_cost_per_token": 1e-06}}"#,
            "<test>",
        )
        .unwrap();
        assert_eq!(map.len(), 1);
        let p = map.get("gpt-4o-2024-08-06").unwrap();
        assert!((p.input_usd_per_mtok - 2.5).abs() < 1e-9);
        assert!((p.output_usd_per_mtok - 10.0).abs() < 1e-9);
        assert!(map.get("dall-e-3").is_none() && map.get("bad").is_none());
    }

    #[test]
    fn other_json_is_refused_with_its_origin() {
        for text in ["[1, 2]", "{\"a\": {\"mode\": \"chat\"}}", "not json"] {
            match PriceMap::from_json_str(text, "prices.json") {
                Err(Error::Usage(m)) => assert!(m.starts_with("prices.json: not a LiteLLM"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_vendored_copy_has_the_shipped_registry_keys() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/litellm-prices.json");
        let text = std::fs::read_to_string(path).unwrap();
        let map = PriceMap::from_json_str(&text, path).unwrap();
        assert!(map.len() > 1000, "{}", map.len());
        let gpt = map.get("gpt-4o-mini-2024-07-18").unwrap();
        assert!((gpt.input_usd_per_mtok - 0.15).abs() < 1e-9);
    }
}
