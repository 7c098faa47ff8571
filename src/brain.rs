//! The loaded router: label heads, routing table, price registry and policy defaults, used by every door.

use crate::artifacts::{self, ArtifactSource, Manifest};
use crate::embedding::Embedding;
use crate::error::Result;
use crate::input::Context;
use crate::labels::{ConversationEmbeddings, Heads, Labels};
use crate::routing::{Decision, Policy, RouteOptions};

/// When the operator set no routing target, the drop recommended by the artifacts' cross-validation.
fn with_recommended_drop(mut defaults: RouteOptions, manifest: &Manifest) -> RouteOptions {
    if defaults.has_no_target() {
        defaults.max_quality_drop = manifest.recommended_max_quality_drop;
    }
    defaults
}

/// Heads + policy, loaded from a models folder.
pub struct Brain {
    pub heads: Heads,
    pub policy: Policy,
    pub manifest: Manifest,
    /// The known providers the proxy cannot reach, with why (no `upstream` in the registry, or its API key
    /// variable unset), found once at load: its routing excludes them with that reason.
    pub unreachable: std::collections::BTreeMap<String, String>,
}

impl Brain {
    /// Loads the artifacts of `source` and its `providers.toml` (the table's own prices when absent),
    /// with `defaults` as the policy's default options. Artifacts made for another embedding model than
    /// the one this build runs ([`crate::embedding::MODEL_ID`]) are refused.
    pub fn load(source: &ArtifactSource, defaults: RouteOptions) -> Result<Self> {
        let a = artifacts::load_from(source, crate::embedding::MODEL_ID)?;
        let registry = source.registry(&a.table)?;
        let enabled: Vec<usize> = (0..a.table.providers.len())
            .filter(|&p| registry.is_enabled(&a.table.providers[p].name))
            .collect();
        if let Some(groups) = a.table.apart_in_scale(&enabled) {
            tracing::warn!(
                groups = %groups,
                "the enabled providers were measured on no common task: their qualities are on different scales"
            );
        }
        let policy = Policy::new(
            a.table,
            registry,
            with_recommended_drop(defaults, &a.manifest),
        )?;
        // Whether an environment variable is set is read once here (a running process's environment
        // does not change); a reload reads it again.
        let unreachable = policy
            .known_providers()
            .filter_map(|name| {
                let why = match policy
                    .registry()
                    .get(name)
                    .and_then(|p| p.upstream.as_ref())
                {
                    None => "no upstream in providers.toml (the proxy cannot reach it)".to_string(),
                    Some(u) => match &u.api_key_env {
                        Some(var) if std::env::var_os(var).is_none_or(|v| v.is_empty()) => {
                            format!("API key variable {var} is unset")
                        }
                        _ => return None,
                    },
                };
                Some((name.to_string(), why))
            })
            .collect();
        Ok(Self {
            heads: a.heads,
            policy,
            manifest: a.manifest,
            unreachable,
        })
    }

    /// Whether at least one known provider has an upstream to forward to.
    pub fn has_upstreams(&self) -> bool {
        self.policy.known_providers().any(|name| {
            self.policy
                .registry()
                .get(name)
                .is_some_and(|p| p.upstream.is_some())
        })
    }

    /// The providers with an upstream whose API key variable is unset (`name (VAR)`), for the start-up log.
    pub fn unset_keys(&self) -> Vec<String> {
        self.policy
            .registry()
            .iter()
            .filter(|p| self.unreachable.contains_key(&p.name))
            .filter_map(|p| {
                let var = p.upstream.as_ref()?.api_key_env.as_ref()?;
                Some(format!("{} ({var})", p.name))
            })
            .collect()
    }

    /// Labels one embedded prompt.
    pub fn label(&self, embedding: &Embedding) -> Labels {
        self.heads.label(embedding)
    }

    /// Labels a request's last user turn in its conversation: `last` is its embedding, `around` the
    /// embeddings of [`Context::texts`] (the earlier user turns; empty for a one-turn request). The cost
    /// counts the whole input either way.
    pub fn label_request(
        &self,
        last_text: &str,
        context: &Context,
        last: &Embedding,
        around: &[&Embedding],
    ) -> Labels {
        label_request(&self.heads, last_text, context, last, around)
    }

    /// Labels a batch of embedded prompts (one matrix product per head; the same labels row for row).
    pub fn label_batch(&self, embeddings: &[Embedding]) -> Vec<Labels> {
        self.heads.label_batch(embeddings)
    }

    /// Routes a labelled prompt. A blank prompt (nothing to answer) goes to the cheapest eligible provider:
    /// its quality drop is lifted (the request's other rules still hold).
    pub fn route(&self, labels: &Labels, options: &RouteOptions) -> Result<Decision> {
        route(&self.policy, labels, options)
    }
}

/// Labels a request in its conversation with `heads`: what [`Brain::label_request`] does, for callers
/// (the retrain's multi-turn probe) that hold heads without a loaded brain.
pub fn label_request(
    heads: &Heads,
    last_text: &str,
    context: &Context,
    last: &Embedding,
    around: &[&Embedding],
) -> Labels {
    match around {
        [earlier] => heads.label_conversation(
            &ConversationEmbeddings {
                last,
                earlier,
                input_tokens: context.input_tokens(last.full_tokens + earlier.full_tokens),
            },
            last_text,
        ),
        _ => {
            let mut labels = heads.label(last);
            labels.input_tokens = context.input_tokens(last.full_tokens);
            labels
        }
    }
}

/// Routes a labelled prompt with `policy`: what [`Brain::route`] does, for callers (the feedback replay of
/// a retrain) that hold a policy without a loaded brain.
pub fn route(policy: &Policy, labels: &Labels, options: &RouteOptions) -> Result<Decision> {
    if labels.blank {
        let cheapest = RouteOptions {
            max_quality_drop: Some(1.0),
            ..options.clone()
        };
        return policy.decide(&labels.prompt_labels(), &cheapest);
    }
    policy.decide(&labels.prompt_labels(), options)
}
