//! LiteLLM's price map (`model_prices_and_context_window.json`, MIT): the per-model token prices gateways
//! already use, read in its own format so a registry can name its keys instead of typing prices by hand.
//!
//! The file is one JSON object: model key → `{ "input_cost_per_token": f, "output_cost_per_token": f, … }`
//! (USD per token). Entries without both costs (image models, the `sample_spec` documentation entry) have
//! no prices. Beside the prices, each entry's capabilities are read (`supports_function_calling`,
//! `supports_parallel_function_calling`, `supports_tool_choice`, `supports_vision`, `supports_audio_input`,
//! `supports_response_schema`) with its limits (`max_input_tokens`, `max_output_tokens`); as in LiteLLM, a
//! capability an entry does not list is one the model lacks. Every other field is ignored.

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

/// What a map entry says a model can do, and its token limits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelFacts {
    pub capabilities: super::registry::Capabilities,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
}

/// The price map: model key → prices, and model key → capabilities and limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceMap {
    prices: BTreeMap<String, TokenPrices>,
    facts: BTreeMap<String, ModelFacts>,
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
        let flag = |entry: &serde_json::Value, key: &str| {
            Some(entry.get(key).and_then(serde_json::Value::as_bool) == Some(true))
        };
        let limit = |entry: &serde_json::Value, key: &str| {
            entry
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .filter(|&n| n > 0)
        };
        let facts: BTreeMap<String, ModelFacts> = entries
            .iter()
            .filter(|(_, e)| e.is_object())
            .map(|(key, e)| {
                (
                    key.clone(),
                    ModelFacts {
                        capabilities: super::registry::Capabilities {
                            tools: flag(e, "supports_function_calling"),
                            parallel_tools: flag(e, "supports_parallel_function_calling"),
                            tool_choice: flag(e, "supports_tool_choice"),
                            vision: flag(e, "supports_vision"),
                            audio: flag(e, "supports_audio_input"),
                            json_schema: flag(e, "supports_response_schema"),
                        },
                        max_input_tokens: limit(e, "max_input_tokens"),
                        max_output_tokens: limit(e, "max_output_tokens"),
                    },
                )
            })
            .collect();
        if prices.is_empty() {
            return Err(Error::Usage(format!(
                "{origin}: not a LiteLLM price map (no entry has input_cost_per_token and output_cost_per_token)"
            )));
        }
        Ok(PriceMap { prices, facts })
    }

    /// The prices of a model key.
    pub fn get(&self, key: &str) -> Option<TokenPrices> {
        self.prices.get(key).copied()
    }

    /// The capabilities and limits of a model key.
    pub fn facts(&self, key: &str) -> Option<ModelFacts> {
        self.facts.get(key).copied()
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
        let f = map.facts("gpt-4o-2024-08-06").unwrap();
        // Listed nowhere: lacking, as LiteLLM reads its own map.
        assert_eq!(f.capabilities.tools, Some(false));
        assert_eq!(f.max_input_tokens, None);
        assert!(map.facts("missing").is_none());
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
        let f = map.facts("gpt-4o-mini-2024-07-18").unwrap();
        assert_eq!(f.capabilities.tools, Some(true));
        assert_eq!(f.capabilities.vision, Some(true));
        assert_eq!(f.capabilities.json_schema, Some(true));
        assert_eq!(f.max_input_tokens, Some(128_000));
        let llama = map
            .facts("together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo")
            .unwrap();
        assert_eq!(llama.capabilities.vision, Some(false));
    }
}
