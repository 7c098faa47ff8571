//! What a request needs from a provider beyond answering text: tool calling, images, audio, a JSON schema,
//! and room for its input and output. Read from an OpenAI chat body by the doors; checked against a
//! provider's registry capabilities by the policy's eligibility step.

use super::registry::{Capabilities, ProviderEntry};
use serde::Serialize;

/// A request's needs. The default needs nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Needs {
    /// Tool definitions (`tools`, `functions`), or tool calls and results in the conversation.
    pub tools: bool,
    /// A `tool_choice` that forces a call (`"required"` or a named function).
    pub forced_tool_choice: bool,
    /// `parallel_tool_calls: true`.
    pub parallel_tools: bool,
    /// Image parts in a message.
    pub vision: bool,
    /// Audio parts in a message.
    pub audio: bool,
    /// `response_format: {"type": "json_schema", ...}`.
    pub json_schema: bool,
    /// Tokens of the whole input (every message), as the labels counted them.
    pub input_tokens: Option<u64>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_output_tokens: Option<u64>,
    /// Tokens the tool definitions and the JSON schema add to the input (estimated from their size).
    pub definition_tokens: u64,
}

impl Needs {
    /// Why `provider` cannot serve these needs, or `None` when it can. Unknown capabilities exclude: a
    /// request for tools sent to a model that may not call them fails at the provider or, worse, answers
    /// without the tools.
    pub fn unmet(&self, provider: &ProviderEntry) -> Option<String> {
        let caps: &Capabilities = &provider.capabilities;
        let check = |needed: bool, have: Option<bool>, what: &str, key: &str| -> Option<String> {
            if !needed {
                return None;
            }
            match have {
                Some(true) => None,
                Some(false) => Some(format!("no {what}")),
                None => Some(format!(
                    "{what} unknown (set capabilities.{key} in providers.toml)"
                )),
            }
        };
        check(self.tools, caps.tools, "tool calling", "tools")
            .or_else(|| {
                check(
                    self.forced_tool_choice,
                    caps.tool_choice,
                    "forced tool choice",
                    "tool_choice",
                )
            })
            .or_else(|| {
                check(
                    self.parallel_tools,
                    caps.parallel_tools,
                    "parallel tool calls",
                    "parallel_tools",
                )
            })
            .or_else(|| check(self.vision, caps.vision, "image input", "vision"))
            .or_else(|| check(self.audio, caps.audio, "audio input", "audio"))
            .or_else(|| {
                check(
                    self.json_schema,
                    caps.json_schema,
                    "JSON schema output",
                    "json_schema",
                )
            })
            .or_else(|| match (self.input_tokens, provider.context_tokens) {
                (Some(n), Some(window)) if n > window => Some(format!(
                    "input of about {n} tokens exceeds its {window}-token window"
                )),
                _ => None,
            })
            .or_else(
                || match (self.max_output_tokens, provider.max_output_tokens) {
                    (Some(n), Some(limit)) if n > limit => Some(format!(
                        "max_tokens {n} exceeds its output limit of {limit}"
                    )),
                    _ => None,
                },
            )
    }

    /// Whether the request needs any capability (the input window is checked only where it is known).
    pub fn any_capability(&self) -> bool {
        self.tools
            || self.forced_tool_choice
            || self.parallel_tools
            || self.vision
            || self.audio
            || self.json_schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(caps: Capabilities, window: Option<u64>) -> ProviderEntry {
        ProviderEntry {
            capabilities: caps,
            context_tokens: window,
            max_output_tokens: Some(4096),
            ..ProviderEntry::named("p")
        }
    }

    #[test]
    fn each_need_is_met_only_by_a_known_capability() {
        let tools = Needs {
            tools: true,
            ..Needs::default()
        };
        let yes = Capabilities {
            tools: Some(true),
            ..Capabilities::default()
        };
        let no = Capabilities {
            tools: Some(false),
            ..Capabilities::default()
        };
        assert_eq!(tools.unmet(&entry(yes, None)), None);
        assert_eq!(
            tools.unmet(&entry(no, None)).as_deref(),
            Some("no tool calling")
        );
        let unknown = tools.unmet(&entry(Capabilities::default(), None)).unwrap();
        assert!(unknown.contains("unknown"), "{unknown}");
        assert_eq!(Needs::default().unmet(&entry(no, Some(10))), None);
        let image = Needs {
            vision: true,
            ..Needs::default()
        };
        assert_eq!(
            image.unmet(&entry(yes, None)).as_deref(),
            Some("image input unknown (set capabilities.vision in providers.toml)")
        );
        let long = Needs {
            input_tokens: Some(5000),
            max_output_tokens: Some(100),
            ..Needs::default()
        };
        assert!(long
            .unmet(&entry(no, Some(4000)))
            .unwrap()
            .contains("window"));
        assert_eq!(long.unmet(&entry(no, Some(8000))), None);
        let wordy = Needs {
            max_output_tokens: Some(10_000),
            ..Needs::default()
        };
        assert!(wordy
            .unmet(&entry(no, None))
            .unwrap()
            .contains("output limit of 4096"));
    }
}
