//! The price registry: an editable TOML file (`models/providers.toml`) whose prices override the training
//! data's, and which says which providers may be routed to. A price change needs no retrain.
//!
//! ```toml
//! price_file = "litellm-prices.json"      # optional: LiteLLM's price map, beside this file
//!
//! [[provider]]
//! name = "gpt-4o-2024-08-06"              # spelled as in the training data
//! price_key = "gpt-4o-2024-08-06"         # its key in the price file
//! enabled = true
//!
//! [[provider]]
//! name = "gpt-4.1"                        # no outcome rows: its quality is borrowed
//! like = "gpt-4o-2024-08-06"
//! like_offset = 0.02                      # optional, added to every borrowed quality
//! like_domain_offsets = { code = 0.05 }   # optional, per domain, on top of like_offset
//! input_usd_per_mtok = 2.0
//! output_usd_per_mtok = 8.0
//! ```
//!
//! A price comes from the entry's own `*_usd_per_mtok`, else its `price_key` in the price file, else the
//! routing table (the training data's prices). `enabled` defaults to `true`. Unknown keys, duplicate names,
//! negative or non-finite prices, a `price_key` without a `price_file` or missing from it, and offsets for
//! unknown domains are rejected when the file is loaded.

use super::prices::PriceMap;
use super::DOMAINS;
use crate::error::{Error, Result};
use crate::routing::table::RoutingTable;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// One provider in the registry: its prices, names, quality borrowing and upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
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
    /// Other names requests may use for it (`gpt-4o` for `gpt-4o-2024-08-06`); decisions use `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Its key in the registry's `price_file` (LiteLLM's price map); fills the prices not set above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_key: Option<String>,
    /// A measured provider (a routing-table name) whose expected quality this one borrows, for a provider
    /// with no outcome rows of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like: Option<String>,
    /// Added to every borrowed quality (the result is clamped to [0, 1]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like_offset: Option<f64>,
    /// Per-domain additions on top of `like_offset`, by domain name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub like_domain_offsets: BTreeMap<String, f64>,
    /// Where `triage serve --proxy` forwards the prompts routed to this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
    /// What it can serve (tools, images, JSON schemas); unset ones come from its `price_key`'s entry in the
    /// price file, else are unknown.
    #[serde(default, skip_serializing_if = "Capabilities::is_unknown")]
    pub capabilities: Capabilities,
    /// Its input window in tokens; else the price file's `max_input_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u64>,
    /// The most tokens it answers with; else the price file's `max_output_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
}

/// What a provider can serve: `capabilities = { tools = true, vision = false, json_schema = true }`. `None`
/// (not said here nor in the price file) is unknown, and a request that needs it is not sent there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Function / tool calling (`tools`, `functions`, and conversations holding tool calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    /// Several tool calls in one answer (`parallel_tool_calls: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tools: Option<bool>,
    /// A `tool_choice` that forces a call (`"required"` or a named function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<bool>,
    /// Image parts in messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<bool>,
    /// Audio parts in messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<bool>,
    /// `response_format: {"type": "json_schema", ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<bool>,
}

impl Capabilities {
    /// Whether nothing is known.
    pub fn is_unknown(&self) -> bool {
        *self == Capabilities::default()
    }

    /// `self`'s known values, the rest from `other`.
    pub fn or(self, other: Capabilities) -> Capabilities {
        Capabilities {
            tools: self.tools.or(other.tools),
            parallel_tools: self.parallel_tools.or(other.parallel_tools),
            tool_choice: self.tool_choice.or(other.tool_choice),
            vision: self.vision.or(other.vision),
            audio: self.audio.or(other.audio),
            json_schema: self.json_schema.or(other.json_schema),
        }
    }
}

/// A provider's OpenAI-compatible endpoint (`upstream = { base_url = "...", api_key_env = "..." }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// The API base, up to and including its version (`https://api.openai.com/v1`); the proxy posts to
    /// `{base_url}/chat/completions`.
    pub base_url: String,
    /// The environment variable holding the API key (sent as `Authorization: Bearer ...`); none for an
    /// endpoint without keys (a local server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// The model name the endpoint knows this provider by; default: the provider's `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Upstream {
    /// `{base_url}/chat/completions`.
    pub fn chat_completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }
}

impl ProviderEntry {
    /// An enabled entry with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        ProviderEntry {
            name: name.into(),
            input_usd_per_mtok: None,
            output_usd_per_mtok: None,
            enabled: true,
            aliases: Vec::new(),
            price_key: None,
            like: None,
            like_offset: None,
            like_domain_offsets: BTreeMap::new(),
            upstream: None,
            capabilities: Capabilities::default(),
            context_tokens: None,
            max_output_tokens: None,
        }
    }

    /// The borrowed-quality offset per domain (in [`DOMAINS`] order): `like_offset` plus the domain's own.
    pub fn like_offsets(&self) -> [f64; DOMAINS.len()] {
        let base = self.like_offset.unwrap_or(0.0);
        let mut out = [base; DOMAINS.len()];
        for (d, slot) in DOMAINS.iter().zip(out.iter_mut()) {
            *slot += self.like_domain_offsets.get(*d).copied().unwrap_or(0.0);
        }
        out
    }
}

fn enabled_by_default() -> bool {
    true
}

/// The file's layout: a list of `[[provider]]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    /// LiteLLM's price map, relative to the registry's folder.
    #[serde(default)]
    price_file: Option<String>,
    #[serde(default)]
    provider: Vec<ProviderEntry>,
}

/// The providers the router knows (`providers.toml`): prices, enablement, aliases and upstreams, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderRegistry {
    providers: Vec<ProviderEntry>,
}

impl ProviderRegistry {
    /// Builds a registry from entries, checking names (non-empty, unique) and prices (finite, >= 0).
    pub fn from_providers(providers: Vec<ProviderEntry>) -> Result<Self> {
        validate(&providers).map_err(Error::Usage)?;
        Ok(ProviderRegistry { providers })
    }

    /// Parses registry TOML text that names no price file. `origin` names the source in error messages (a
    /// path, or "<string>").
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        Self::from_toml_with_prices(text, origin, |name| {
            Err(Error::Usage(format!(
                "{origin}: price_file `{name}` cannot be read from here"
            )))
        })
    }

    /// Parses registry TOML text; `read_price_file(name)` returns the text of the price file it names.
    /// Each entry's missing prices are filled from its `price_key`.
    pub fn from_toml_with_prices(
        text: &str,
        origin: &str,
        read_price_file: impl FnOnce(&str) -> Result<String>,
    ) -> Result<Self> {
        let invalid = |m: String| Error::Usage(format!("{origin}: invalid provider registry: {m}"));
        let file: RegistryFile =
            toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        validate(&file.provider).map_err(invalid)?;
        let mut providers = file.provider;
        let keyed: Vec<&str> = providers
            .iter()
            .filter(|p| p.price_key.is_some())
            .map(|p| p.name.as_str())
            .collect();
        match (&file.price_file, keyed.first()) {
            (None, Some(first)) => {
                return Err(invalid(format!(
                    "provider `{first}` has a price_key but the registry names no price_file"
                )))
            }
            (Some(name), _) => {
                let map = PriceMap::from_json_str(&read_price_file(name)?, name)?;
                fill_from_price_map(&mut providers, &map, name).map_err(invalid)?;
            }
            (None, None) => {}
        }
        Ok(ProviderRegistry { providers })
    }

    /// The `price_file` a registry text names, if it parses and names one (what a reloader must watch
    /// besides the registry itself).
    pub fn price_file_named_in(text: &str) -> Option<String> {
        toml::from_str::<RegistryFile>(text).ok()?.price_file
    }

    /// Reads and checks a registry file (and the price file it names, beside it); a missing file is an
    /// error.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::from_toml_with_prices(&text, &path.display().to_string(), |name| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(|e| Error::io("reading", p, e))
        })
    }

    /// The `price_key`s of the entries that `map` has no prices for (to check a new price file before it
    /// replaces the old one).
    pub fn keys_missing_from(&self, map: &PriceMap) -> Vec<String> {
        self.providers
            .iter()
            .filter_map(|p| p.price_key.clone())
            .filter(|k| map.get(k).is_none())
            .collect()
    }

    /// Every provider of the table, with the table's prices (from the training data), enabled.
    pub fn from_table_defaults(table: &RoutingTable) -> Self {
        let mut seen = HashSet::new();
        let providers = table
            .providers
            .iter()
            .filter(|p| seen.insert(p.name.as_str()))
            .map(|p| ProviderEntry {
                input_usd_per_mtok: p.input_usd_per_mtok.filter(|v| valid_price(*v)),
                output_usd_per_mtok: p.output_usd_per_mtok.filter(|v| valid_price(*v)),
                ..ProviderEntry::named(p.name.clone())
            })
            .collect();
        ProviderRegistry { providers }
    }

    /// The entry of a provider, if the registry has one.
    pub fn get(&self, name: &str) -> Option<&ProviderEntry> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The provider a request's name means: the entry named so, else the entry with that alias.
    pub fn canonical<'a>(&'a self, name: &'a str) -> &'a str {
        if self.get(name).is_some() {
            return name;
        }
        self.providers
            .iter()
            .find(|p| p.aliases.iter().any(|a| a == name))
            .map_or(name, |p| p.name.as_str())
    }

    /// The entry a request's name (a name or an alias) means.
    pub fn resolve(&self, name: &str) -> Option<&ProviderEntry> {
        self.get(self.canonical(name))
    }

    /// Whether the registry lists the provider and it is enabled.
    pub fn is_enabled(&self, name: &str) -> bool {
        self.get(name).is_some_and(|p| p.enabled)
    }

    /// Adds an entry or replaces the one with the same name, after the same checks as loading.
    pub fn upsert(&mut self, entry: ProviderEntry) -> Result<()> {
        validate(std::slice::from_ref(&entry)).map_err(Error::Usage)?;
        match self.providers.iter_mut().find(|p| p.name == entry.name) {
            Some(slot) => *slot = entry,
            None => self.providers.push(entry),
        }
        Ok(())
    }

    /// Entries in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ProviderEntry> {
        self.providers.iter()
    }

    /// Entries in file order, as a slice.
    pub fn providers(&self) -> &[ProviderEntry] {
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

impl<'a> IntoIterator for &'a ProviderRegistry {
    type Item = &'a ProviderEntry;
    type IntoIter = std::slice::Iter<'a, ProviderEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.providers.iter()
    }
}

fn valid_price(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// Fills each entry's unset prices, capabilities and limits from its `price_key`; a key the map has no
/// prices for is an error.
fn fill_from_price_map(
    providers: &mut [ProviderEntry],
    map: &PriceMap,
    file: &str,
) -> std::result::Result<(), String> {
    for p in providers.iter_mut() {
        let Some(key) = &p.price_key else { continue };
        if let Some(facts) = map.facts(key) {
            p.capabilities = p.capabilities.or(facts.capabilities);
            p.context_tokens = p.context_tokens.or(facts.max_input_tokens);
            p.max_output_tokens = p.max_output_tokens.or(facts.max_output_tokens);
        }
        let prices = map.get(key).ok_or_else(|| {
            format!(
                "provider `{}`: price_key `{key}` has no input and output token prices in {file}",
                p.name
            )
        })?;
        p.input_usd_per_mtok
            .get_or_insert(prices.input_usd_per_mtok);
        p.output_usd_per_mtok
            .get_or_insert(prices.output_usd_per_mtok);
    }
    Ok(())
}

fn validate(providers: &[ProviderEntry]) -> std::result::Result<(), String> {
    let mut seen = HashSet::new();
    for p in providers {
        if p.name.trim().is_empty() {
            return Err("a provider has an empty name".to_string());
        }
        if !seen.insert(p.name.as_str()) {
            return Err(format!("provider `{}` is listed twice", p.name));
        }
    }
    let mut aliases = HashSet::new();
    for p in providers {
        for a in &p.aliases {
            if a.trim().is_empty() {
                return Err(format!("provider `{}` has an empty alias", p.name));
            }
            if seen.contains(a.as_str()) || !aliases.insert(a.as_str()) {
                return Err(format!(
                    "alias `{a}` of provider `{}` is already a provider's name or alias",
                    p.name
                ));
            }
        }
    }
    for p in providers {
        if p.like.as_deref() == Some(p.name.as_str()) {
            return Err(format!("provider `{}` cannot be `like` itself", p.name));
        }
        if p.like.is_none() && (p.like_offset.is_some() || !p.like_domain_offsets.is_empty()) {
            return Err(format!(
                "provider `{}`: like_offset and like_domain_offsets need `like`",
                p.name
            ));
        }
        for (d, v) in &p.like_domain_offsets {
            if !DOMAINS.contains(&d.as_str()) {
                return Err(format!(
                    "provider `{}`: like_domain_offsets names unknown domain `{d}` (expected one of {})",
                    p.name,
                    DOMAINS.join(", ")
                ));
            }
            if !(v.is_finite() && v.abs() <= 1.0) {
                return Err(format!(
                    "provider `{}`: like_domain_offsets.{d} must be a number in [-1, 1], got {v}",
                    p.name
                ));
            }
        }
        if let Some(v) = p.like_offset {
            if !(v.is_finite() && v.abs() <= 1.0) {
                return Err(format!(
                    "provider `{}`: like_offset must be a number in [-1, 1], got {v}",
                    p.name
                ));
            }
        }
        if let Some(u) = &p.upstream {
            validate_upstream(u).map_err(|m| format!("provider `{}`: upstream: {m}", p.name))?;
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

fn validate_upstream(u: &Upstream) -> std::result::Result<(), String> {
    let url = u.base_url.trim();
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(format!(
            "base_url `{}` must start with http:// or https://",
            u.base_url
        ));
    };
    if rest.is_empty() || rest.starts_with('/') || url.contains(char::is_whitespace) {
        return Err(format!("base_url `{}` has no host", u.base_url));
    }
    if let Some(var) = &u.api_key_env {
        let ok = !var.is_empty()
            && !var.starts_with(|c: char| c.is_ascii_digit())
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            // The name only: a key pasted here by mistake must not be echoed.
            return Err(
                "api_key_env must name an environment variable (letters, digits, _), not hold the key"
                    .to_string(),
            );
        }
    }
    if u.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
        return Err("model is empty".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::table::ProviderStats;

    const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/providers.toml");

    fn usage_message(r: Result<ProviderRegistry>) -> String {
        match r {
            Err(Error::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn parses_entries_with_defaults() {
        let r = ProviderRegistry::from_toml_str(
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
        let m = usage_message(ProviderRegistry::load(&path));
        assert!(m.contains(&path.display().to_string()), "{m}");
        assert!(m.contains("price"), "{m}");
        // A misspelt top-level table is rejected too.
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[providers]]\nname = \"a\"\n",
            "<t>",
        ));
        assert!(m.contains("providers"), "{m}");
    }

    #[test]
    fn negative_nan_and_duplicate_entries_are_rejected() {
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\ninput_usd_per_mtok = -0.1\n",
            "reg.toml",
        ));
        assert!(
            m.starts_with("reg.toml: ") && m.contains("input_usd_per_mtok"),
            "{m}"
        );
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\noutput_usd_per_mtok = nan\n",
            "reg.toml",
        ));
        assert!(m.contains("output_usd_per_mtok"), "{m}");
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\n[[provider]]\nname = \"a\"\n",
            "reg.toml",
        ));
        assert!(m.contains("listed twice"), "{m}");
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\ninput_usd_per_mtok = \"cheap\"\n",
            "reg.toml",
        ));
        assert!(m.starts_with("reg.toml: invalid provider registry"), "{m}");
        let mut r = ProviderRegistry::default();
        assert!(r
            .upsert(ProviderEntry {
                name: "x".into(),
                input_usd_per_mtok: Some(-1.0),
                output_usd_per_mtok: None,
                enabled: true,
                ..ProviderEntry::named("")
            })
            .is_err());
        assert!(r.is_empty());
    }

    #[test]
    fn missing_file_is_an_error_and_table_defaults_enable_every_provider() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        assert!(matches!(
            ProviderRegistry::load(&path),
            Err(Error::Io { .. })
        ));
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
        let r = ProviderRegistry::from_table_defaults(&table);
        assert_eq!(
            r.providers(),
            &[
                ProviderEntry {
                    name: "p".into(),
                    input_usd_per_mtok: Some(0.3),
                    output_usd_per_mtok: Some(0.6),
                    enabled: true,
                    ..ProviderEntry::named("")
                },
                ProviderEntry {
                    name: "q".into(),
                    input_usd_per_mtok: None,
                    output_usd_per_mtok: None,
                    enabled: true,
                    ..ProviderEntry::named("")
                },
            ]
        );
    }

    #[test]
    fn upstreams_are_checked() {
        let r = ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\naliases = [\"x\"]\nupstream = { base_url = \"https://api.example.com/v1/\", api_key_env = \"A_KEY\", model = \"vendor/a\" }\n",
            "reg.toml",
        )
        .unwrap();
        let u = r.resolve("x").and_then(|p| p.upstream.clone()).unwrap();
        assert_eq!(
            u.chat_completions_url(),
            "https://api.example.com/v1/chat/completions"
        );
        assert_eq!(
            (u.api_key_env.as_deref(), u.model.as_deref()),
            (Some("A_KEY"), Some("vendor/a"))
        );
        for (upstream, says) in [
            ("{ base_url = \"api.example.com\" }", "must start with http"),
            ("{ base_url = \"https://\" }", "has no host"),
            // A key pasted where its variable's name belongs is refused without being echoed.
            (
                "{ base_url = \"http://h\", api_key_env = \"sk-live-123\" }",
                "not hold the key",
            ),
            (
                "{ base_url = \"http://h\", model = \" \" }",
                "model is empty",
            ),
            ("{ base_url = \"http://h\", key = \"k\" }", "unknown field"),
        ] {
            let text = format!("[[provider]]\nname = \"a\"\nupstream = {upstream}\n");
            let m = usage_message(ProviderRegistry::from_toml_str(&text, "reg.toml"));
            assert!(m.contains(says), "{upstream}: {m}");
            assert!(!m.contains("sk-live-123"), "{m}");
        }
    }

    #[test]
    fn upsert_adds_and_replaces() {
        let mut r = ProviderRegistry::from_providers(vec![ProviderEntry {
            name: "a".into(),
            input_usd_per_mtok: Some(0.25),
            output_usd_per_mtok: Some(1.25),
            enabled: false,
            ..ProviderEntry::named("")
        }])
        .unwrap();
        r.upsert(ProviderEntry {
            name: "b/c".into(),
            input_usd_per_mtok: None,
            output_usd_per_mtok: Some(2.0),
            enabled: true,
            ..ProviderEntry::named("")
        })
        .unwrap();
        assert_eq!(r.len(), 2);
        // Replacing an entry keeps the count.
        r.upsert(ProviderEntry {
            name: "a".into(),
            input_usd_per_mtok: Some(9.0),
            output_usd_per_mtok: Some(9.0),
            enabled: true,
            ..ProviderEntry::named("")
        })
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.get("a").unwrap().input_usd_per_mtok, Some(9.0));
    }

    #[test]
    fn shipped_registry_loads() {
        let r = ProviderRegistry::load(Path::new(SHIPPED)).unwrap();
        assert_eq!(r.len(), 41);
        // Capabilities and limits: from the price map, or the entry's own (Gemini 1.5).
        let mini = r.get("gpt-4o-mini-2024-07-18").unwrap();
        assert_eq!(mini.capabilities.tools, Some(true));
        assert_eq!(mini.context_tokens, Some(128_000));
        let llama = r.get("Meta-Llama-3.1-8B-Instruct").unwrap();
        assert_eq!(llama.capabilities.vision, Some(false));
        let gemini = r.get("gemini-1.5-flash").unwrap();
        assert_eq!(gemini.capabilities.tools, Some(true));
        assert_eq!(gemini.context_tokens, Some(1_048_576));
        // A provider with neither says nothing: unknown.
        assert!(r
            .get("mistralai/Mixtral-8x7B-Instruct-v0.1")
            .unwrap()
            .capabilities
            .is_unknown());
        assert_eq!(r.canonical("gpt4o"), "gpt-4o-2024-05-13");
        let enabled: Vec<&str> = r.enabled_names().collect();
        assert_eq!(
            enabled,
            vec![
                "gpt-4o-2024-08-06",
                "gpt-4o-mini-2024-07-18",
                "claude-3-5-sonnet-20241022",
                "claude-3-5-haiku-20241022",
                "gemini-1.5-pro",
                "gemini-1.5-flash",
                "Meta-Llama-3.1-70B-Instruct",
                "Meta-Llama-3.1-8B-Instruct",
                "Qwen2.5-72B-Instruct",
            ]
        );
        let price = |n: &str| {
            let p = r.get(n).unwrap();
            (p.input_usd_per_mtok, p.output_usd_per_mtok, p.enabled)
        };
        assert_eq!(price("gemma-2-9b-it"), (Some(0.1), Some(0.1), false));
        assert_eq!(
            price("llama3-chatqa-1.5-70b"),
            (Some(0.9), Some(0.9), false)
        );
        assert_eq!(price("gemini-1.5-flash"), (Some(0.075), Some(0.3), true));
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

    #[test]
    fn price_keys_fill_missing_prices_from_the_price_file_and_explicit_prices_win() {
        let text = "price_file = \"p.json\"\n\
             [[provider]]\nname = \"a\"\nprice_key = \"k\"\n\
             [[provider]]\nname = \"b\"\nprice_key = \"k\"\ninput_usd_per_mtok = 9.0\n";
        let map = r#"{"k": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05}}"#;
        let r = ProviderRegistry::from_toml_with_prices(text, "reg.toml", |name| {
            assert_eq!(name, "p.json");
            Ok(map.to_string())
        })
        .unwrap();
        let a = r.get("a").unwrap();
        assert_eq!(
            (a.input_usd_per_mtok, a.output_usd_per_mtok),
            (Some(2.5), Some(10.0))
        );
        let b = r.get("b").unwrap();
        assert_eq!(
            (b.input_usd_per_mtok, b.output_usd_per_mtok),
            (Some(9.0), Some(10.0))
        );
        // A key the map lacks, and a key without a price file, are errors naming the provider.
        let m = usage_message(ProviderRegistry::from_toml_with_prices(
            "price_file = \"p.json\"\n[[provider]]\nname = \"a\"\nprice_key = \"zz\"\n",
            "reg.toml",
            |_| Ok(map.to_string()),
        ));
        assert!(m.contains("`a`") && m.contains("zz"), "{m}");
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\nprice_key = \"k\"\n",
            "reg.toml",
        ));
        assert!(m.contains("no price_file"), "{m}");
    }

    #[test]
    fn like_offsets_are_checked_and_summed_per_domain() {
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\nlike = \"b\"\nlike_domain_offsets = { cooking = 0.1 }\n",
            "reg.toml",
        ));
        assert!(m.contains("cooking"), "{m}");
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\nlike_offset = 0.1\n",
            "reg.toml",
        ));
        assert!(m.contains("need `like`"), "{m}");
        let m = usage_message(ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\nlike = \"b\"\nlike_offset = 2.0\n",
            "reg.toml",
        ));
        assert!(m.contains("like_offset"), "{m}");
        let r = ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"a\"\nlike = \"b\"\nlike_offset = 0.1\nlike_domain_offsets = { code = -0.2 }\n",
            "reg.toml",
        )
        .unwrap();
        let o = r.get("a").unwrap().like_offsets();
        assert!(
            (o[0] + 0.1).abs() < 1e-12 && (o[1] - 0.1).abs() < 1e-12,
            "{o:?}"
        );
    }

    #[test]
    fn the_shipped_registry_prices_every_zeroeval_model_it_lists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let r = ProviderRegistry::load(&dir.join("providers.toml")).unwrap();
        for name in [
            "gpt-4o-2024-08-06",
            "claude-3-5-sonnet-20241022",
            "gemini-1.5-pro",
            "Meta-Llama-3.1-70B-Instruct",
        ] {
            let p = r.get(name).unwrap();
            assert!(
                p.input_usd_per_mtok.is_some() && p.output_usd_per_mtok.is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn aliases_resolve_to_the_entry_and_must_be_unique() {
        let r = ProviderRegistry::from_toml_str(
            "[[provider]]\nname = \"gpt-4o-2024-08-06\"\naliases = [\"gpt-4o\"]\n[[provider]]\nname = \"b\"\n",
            "reg.toml",
        )
        .unwrap();
        assert_eq!(r.canonical("gpt-4o"), "gpt-4o-2024-08-06");
        assert_eq!(r.canonical("gpt-4o-2024-08-06"), "gpt-4o-2024-08-06");
        assert_eq!(r.canonical("nobody"), "nobody");
        for bad in [
            "[[provider]]\nname = \"a\"\naliases = [\"b\"]\n[[provider]]\nname = \"b\"\n",
            "[[provider]]\nname = \"a\"\naliases = [\"x\"]\n[[provider]]\nname = \"b\"\naliases = [\"x\"]\n",
            "[[provider]]\nname = \"a\"\naliases = [\" \"]\n",
        ] {
            let m = usage_message(ProviderRegistry::from_toml_str(bad, "reg.toml"));
            assert!(m.contains("alias"), "{m}");
        }
    }
}
