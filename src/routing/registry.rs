//! The price registry: an editable TOML file (`models/providers.toml`) whose prices override the training
//! data's, and which says which providers may be routed to. A price change needs no retrain.
//!
//! ```toml
//! [[provider]]
//! name = "gemma-2-9b-it"
//! input_usd_per_mtok = 0.1
//! output_usd_per_mtok = 0.1
//! enabled = true
//! ```
//!
//! Both prices are optional (a missing one falls back to the routing table's price from the training data)
//! and `enabled` defaults to `true`. Unknown keys, duplicate names, and negative or non-finite prices are
//! rejected.

use crate::error::{Error, Result};
use crate::routing::table::RoutingTable;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// One provider's entry in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderPrice {
    /// Provider (model) name, spelled as in the training data.
    pub name: String,
    /// $ per million input tokens; `None` falls back to the routing table's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_usd_per_mtok: Option<f64>,
    /// $ per million output tokens; `None` falls back to the routing table's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_usd_per_mtok: Option<f64>,
    /// Whether the router may choose this provider without the request naming it in `allowed`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// The file's layout: a list of `[[provider]]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    provider: Vec<ProviderPrice>,
}

/// Provider prices and enablement, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceRegistry {
    providers: Vec<ProviderPrice>,
}

impl PriceRegistry {
    /// Builds a registry from entries, checking names (non-empty, unique) and prices (finite, >= 0).
    pub fn from_providers(providers: Vec<ProviderPrice>) -> Result<Self> {
        validate(&providers).map_err(Error::Usage)?;
        Ok(PriceRegistry { providers })
    }

    /// Parses registry TOML text. `origin` names the source in error messages (a path, or "<string>").
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let file: RegistryFile = toml::from_str(text).map_err(|e| {
            Error::Usage(format!(
                "{origin}: invalid provider registry: {}",
                e.message()
            ))
        })?;
        validate(&file.provider)
            .map_err(|m| Error::Usage(format!("{origin}: invalid provider registry: {m}")))?;
        Ok(PriceRegistry {
            providers: file.provider,
        })
    }

    /// Reads and checks a registry file; a missing file is an error.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Every provider of the table, with the table's prices (from the training data), enabled.
    pub fn from_table_defaults(table: &RoutingTable) -> Self {
        let mut seen = HashSet::new();
        let providers = table
            .providers
            .iter()
            .filter(|p| seen.insert(p.name.as_str()))
            .map(|p| ProviderPrice {
                name: p.name.clone(),
                input_usd_per_mtok: p.input_usd_per_mtok.filter(|v| valid_price(*v)),
                output_usd_per_mtok: p.output_usd_per_mtok.filter(|v| valid_price(*v)),
                enabled: true,
            })
            .collect();
        PriceRegistry { providers }
    }

    /// The entry of a provider, if the registry has one.
    pub fn get(&self, name: &str) -> Option<&ProviderPrice> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Whether the registry lists the provider and it is enabled.
    pub fn is_enabled(&self, name: &str) -> bool {
        self.get(name).is_some_and(|p| p.enabled)
    }

    /// Adds an entry or replaces the one with the same name, after the same checks as loading.
    pub fn upsert(&mut self, entry: ProviderPrice) -> Result<()> {
        validate(std::slice::from_ref(&entry)).map_err(Error::Usage)?;
        match self.providers.iter_mut().find(|p| p.name == entry.name) {
            Some(slot) => *slot = entry,
            None => self.providers.push(entry),
        }
        Ok(())
    }

    /// Entries in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ProviderPrice> {
        self.providers.iter()
    }

    /// Entries in file order, as a slice.
    pub fn providers(&self) -> &[ProviderPrice] {
        &self.providers
    }

    /// Names of the enabled providers, in file order.
    pub fn enabled_names(&self) -> impl Iterator<Item = &str> {
        self.providers
            .iter()
            .filter(|p| p.enabled)
            .map(|p| p.name.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.providers.len()
    }

    /// Whether the registry has no entries.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

impl<'a> IntoIterator for &'a PriceRegistry {
    type Item = &'a ProviderPrice;
    type IntoIter = std::slice::Iter<'a, ProviderPrice>;

    fn into_iter(self) -> Self::IntoIter {
        self.providers.iter()
    }
}

fn valid_price(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

fn validate(providers: &[ProviderPrice]) -> std::result::Result<(), String> {
    let mut seen = HashSet::new();
    for p in providers {
        if p.name.trim().is_empty() {
            return Err("a provider has an empty name".to_string());
        }
        if !seen.insert(p.name.as_str()) {
            return Err(format!("provider `{}` is listed twice", p.name));
        }
        for (key, value) in [
            ("input_usd_per_mtok", p.input_usd_per_mtok),
            ("output_usd_per_mtok", p.output_usd_per_mtok),
        ] {
            if let Some(v) = value {
                if !valid_price(v) {
                    return Err(format!(
                        "provider `{}`: {key} must be a finite number >= 0, got {v}",
                        p.name
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::table::ProviderStats;

    const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/providers.toml");

    fn usage_message(r: Result<PriceRegistry>) -> String {
        match r {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn parses_entries_with_defaults() {
        let r = PriceRegistry::from_toml_str(
            "# c\n[[provider]]\nname = \"a\"\ninput_usd_per_mtok = 0.1\noutput_usd_per_mtok = 0.4\n\
             [[provider]]\nname = \"b\"\nenabled = false\n",
            "<test>",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        let a = r.get("a").unwrap();
        assert_eq!(
            (a.input_usd_per_mtok, a.output_usd_per_mtok, a.enabled),
            (Some(0.1), Some(0.4), true)
        );
        let b = r.get("b").unwrap();
        assert_eq!((b.input_usd_per_mtok, b.enabled), (None, false));
        assert!(r.get("c").is_none());
        assert!(r.is_enabled("a") && !r.is_enabled("b") && !r.is_enabled("c"));
        assert_eq!(r.enabled_names().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(
            r.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("providers.toml");
        std::fs::write(
            &path,
            "[[provider]]\nname = \"a\"\ninput_usd_per_mtok = 0.1\nprice = 3\n",
        )
        .unwrap();
        let m = usage_message(PriceRegistry::load(&path));
        assert!(m.contains(&path.display().to_string()), "{m}");
        assert!(m.contains("price"), "{m}");
        // A misspelt top-level table is rejected too.
        let m = usage_message(PriceRegistry::from_toml_str(
            "[[providers]]\nname = \"a\"\n",
            "<t>",
        ));
        assert!(m.contains("providers"), "{m}");
    }

    #[test]
    fn negative_nan_and_duplicate_entries_are_rejected() {
        let m = usage_message(PriceRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\ninput_usd_per_mtok = -0.1\n",
            "reg.toml",
        ));
        assert!(
            m.starts_with("reg.toml: ") && m.contains("input_usd_per_mtok"),
            "{m}"
        );
        let m = usage_message(PriceRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\noutput_usd_per_mtok = nan\n",
            "reg.toml",
        ));
        assert!(m.contains("output_usd_per_mtok"), "{m}");
        let m = usage_message(PriceRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\n[[provider]]\nname = \"a\"\n",
            "reg.toml",
        ));
        assert!(m.contains("listed twice"), "{m}");
        let m = usage_message(PriceRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\ninput_usd_per_mtok = \"cheap\"\n",
            "reg.toml",
        ));
        assert!(m.starts_with("reg.toml: invalid provider registry"), "{m}");
        let mut r = PriceRegistry::default();
        assert!(r
            .upsert(ProviderPrice {
                name: "x".into(),
                input_usd_per_mtok: Some(-1.0),
                output_usd_per_mtok: None,
                enabled: true,
            })
            .is_err());
        assert!(r.is_empty());
    }

    #[test]
    fn missing_file_is_an_error_and_table_defaults_enable_every_provider() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        assert!(matches!(PriceRegistry::load(&path), Err(Error::Io { .. })));
        let table = RoutingTable {
            providers: vec![
                ProviderStats {
                    name: "p".into(),
                    group: "g".into(),
                    observations: 3,
                    mean_quality: 0.5,
                    input_usd_per_mtok: Some(0.3),
                    output_usd_per_mtok: Some(0.6),
                },
                ProviderStats {
                    name: "q".into(),
                    group: "g".into(),
                    observations: 3,
                    mean_quality: 0.5,
                    input_usd_per_mtok: None,
                    output_usd_per_mtok: None,
                },
            ],
            categories: vec![],
            category_domain: vec![],
            quality: vec![],
            counts: vec![],
            output_tokens: vec![],
            observed_cost_usd: vec![],
            input_tokens: vec![],
            pseudo_count: 1.0,
        };
        let r = PriceRegistry::from_table_defaults(&table);
        assert_eq!(
            r.providers(),
            &[
                ProviderPrice {
                    name: "p".into(),
                    input_usd_per_mtok: Some(0.3),
                    output_usd_per_mtok: Some(0.6),
                    enabled: true,
                },
                ProviderPrice {
                    name: "q".into(),
                    input_usd_per_mtok: None,
                    output_usd_per_mtok: None,
                    enabled: true,
                },
            ]
        );
    }

    #[test]
    fn upsert_adds_and_replaces() {
        let mut r = PriceRegistry::from_providers(vec![ProviderPrice {
            name: "a".into(),
            input_usd_per_mtok: Some(0.25),
            output_usd_per_mtok: Some(1.25),
            enabled: false,
        }])
        .unwrap();
        r.upsert(ProviderPrice {
            name: "b/c".into(),
            input_usd_per_mtok: None,
            output_usd_per_mtok: Some(2.0),
            enabled: true,
        })
        .unwrap();
        assert_eq!(r.len(), 2);
        // Replacing an entry keeps the count.
        r.upsert(ProviderPrice {
            name: "a".into(),
            input_usd_per_mtok: Some(9.0),
            output_usd_per_mtok: Some(9.0),
            enabled: true,
        })
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.get("a").unwrap().input_usd_per_mtok, Some(9.0));
    }

    #[test]
    fn shipped_registry_loads() {
        let r = PriceRegistry::load(Path::new(SHIPPED)).unwrap();
        assert_eq!(r.len(), 16);
        let enabled: Vec<&str> = r.enabled_names().collect();
        assert_eq!(
            enabled,
            vec![
                "codegemma-7b",
                "gemma-2-9b-it",
                "llama-3.1-8b-instruct",
                "llama-3.1-nemotron-51b-instruct",
                "llama-3.3-nemotron-super-49b-v1",
                "llama3-chatqa-1.5-70b",
                "llama3-chatqa-1.5-8b",
                "mistral-7b-instruct-v0.3",
                "qwen2.5-7b-instruct",
            ]
        );
        let price = |n: &str| {
            let p = r.get(n).unwrap();
            (p.input_usd_per_mtok, p.output_usd_per_mtok, p.enabled)
        };
        assert_eq!(price("gemma-2-9b-it"), (Some(0.1), Some(0.1), true));
        assert_eq!(price("llama3-chatqa-1.5-70b"), (Some(0.9), Some(0.9), true));
        assert_eq!(
            price("claude-3-haiku-20240307"),
            (Some(0.25), Some(1.25), false)
        );
        assert_eq!(price("gemini-2.0-flash-001"), (Some(0.1), Some(0.4), false));
        assert_eq!(price("gpt-4-1106-preview"), (Some(10.0), Some(30.0), false));
        assert_eq!(
            price("mistralai/Mixtral-8x7B-Instruct-v0.1"),
            (Some(0.6), Some(0.6), false)
        );
        assert_eq!(
            price("mistralai/Mistral-7B-Instruct-v0.1"),
            (Some(0.2), Some(0.2), false)
        );
        assert_eq!(price("gpt-3.5-turbo"), (Some(1.0), Some(2.0), false));
        assert_eq!(price("gpt-3.5-turbo-1106"), (Some(1.0), Some(2.0), false));
    }
}
