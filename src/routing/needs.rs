//! What a request needs from a provider beyond answering text: tool calling, images, audio, a JSON schema,
//! and room for its input and output. Read from an OpenAI chat body ([`from_chat_body`], for every door);
//! checked against a provider's registry capabilities by the policy's eligibility step.

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

/// Bytes of JSON per token assumed for tool definitions and schemas (as for the unembedded parts of a
/// conversation).
const DEFINITION_BYTES_PER_TOKEN: usize = 4;

/// What an OpenAI chat body needs from a provider: tools (`tools`, `functions`, or tool calls and results
/// in `messages`), a forced `tool_choice`, `parallel_tool_calls`, image or audio parts, a
/// `response_format` of type `json_schema`, and `max_completion_tokens` / `max_tokens`. A malformed field
/// is an error naming it. The input's token count is the caller's to fill in (it knows the tokenizer);
/// `definition_tokens` estimates what the tool definitions and the schema add to it.
pub fn from_chat_body(
    body: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<Needs, String> {
    use serde_json::Value;
    let mut needs = Needs::default();
    let mut definition_bytes = 0usize;
    for key in ["tools", "functions"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(list @ Value::Array(items)) => {
                for (k, item) in items.iter().enumerate() {
                    let name = match (key, item.get("type").and_then(Value::as_str)) {
                        ("functions", _) => item.get("name"),
                        (_, Some("function")) => item.get("function").and_then(|f| f.get("name")),
                        // Other tool types (OpenAI's `custom`) carry their own fields.
                        (_, Some(_)) => continue,
                        (_, None) => {
                            return Err(format!("`tools[{k}]` must be an object with a `type`"))
                        }
                    };
                    if name
                        .and_then(Value::as_str)
                        .is_none_or(|n| n.trim().is_empty())
                    {
                        return Err(format!("`{key}[{k}]` needs a function `name` (a string)"));
                    }
                }
                if !items.is_empty() {
                    needs.tools = true;
                    definition_bytes += list.to_string().len();
                }
            }
            Some(_) => return Err(format!("`{key}` must be an array")),
        }
    }
    match body.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match s.as_str() {
            "none" | "auto" => {}
            "required" => needs.forced_tool_choice = true,
            other => {
                return Err(format!(
                    "`tool_choice` must be \"none\", \"auto\", \"required\" or a named function, got \"{other}\""
                ))
            }
        },
        Some(Value::Object(choice)) => {
            let named = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .or_else(|| choice.get("name").and_then(Value::as_str));
            if named.is_none_or(str::is_empty) {
                return Err("`tool_choice` object needs `function.name`".into());
            }
            needs.forced_tool_choice = true;
        }
        Some(_) => return Err("`tool_choice` must be a string or an object".into()),
    }
    if needs.forced_tool_choice && !needs.tools {
        return Err("`tool_choice` forces a tool call but the request defines no `tools`".into());
    }
    match body.get("parallel_tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => needs.parallel_tools = *b && needs.tools,
        Some(_) => return Err("`parallel_tool_calls` must be a boolean".into()),
    }
    match body.get("response_format") {
        None | Some(Value::Null) => {}
        Some(Value::Object(format)) => {
            match format.get("type").and_then(Value::as_str) {
                Some("text" | "json_object") => {}
                Some("json_schema") => {
                    let schema = format.get("json_schema");
                    if !schema
                        .and_then(|s| s.get("name"))
                        .is_some_and(Value::is_string)
                    {
                        return Err(
                            "`response_format.json_schema` must be an object with a `name`".into(),
                        );
                    }
                    needs.json_schema = true;
                    definition_bytes += schema.map_or(0, |s| s.to_string().len());
                }
                _ => return Err(
                    "`response_format.type` must be \"text\", \"json_object\" or \"json_schema\""
                        .into(),
                ),
            }
        }
        Some(_) => return Err("`response_format` must be an object".into()),
    }
    for key in ["max_tokens", "max_completion_tokens"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_u64().filter(|&n| n > 0) {
                // `max_completion_tokens` (the newer name) wins over `max_tokens`.
                Some(n) if key == "max_completion_tokens" || needs.max_output_tokens.is_none() => {
                    needs.max_output_tokens = Some(n)
                }
                Some(_) => {}
                None => return Err(format!("`{key}` must be a positive integer")),
            },
        }
    }
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for m in messages {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            let calls = m
                .get("tool_calls")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty());
            needs.tools |= calls || matches!(role, "tool" | "function");
            if let Some(Value::Array(parts)) = m.get("content") {
                for part in parts {
                    match part.get("type").and_then(Value::as_str) {
                        Some("image_url" | "input_image" | "image") => needs.vision = true,
                        Some("input_audio" | "audio") => needs.audio = true,
                        _ => {}
                    }
                }
            }
        }
    }
    needs.definition_tokens = definition_bytes.div_ceil(DEFINITION_BYTES_PER_TOKEN) as u64;
    Ok(needs)
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

    /// These needs with the request's input filled in: the prompt's `label_tokens` (the labels' count)
    /// plus what the tool definitions and the schema add.
    pub fn with_input_tokens(self, label_tokens: usize) -> Self {
        Self {
            input_tokens: Some(label_tokens as u64 + self.definition_tokens),
            ..self
        }
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

    fn needs(body: serde_json::Value) -> std::result::Result<crate::routing::Needs, String> {
        from_chat_body(body.as_object().unwrap())
    }

    #[test]
    fn chat_needs_reads_tools_images_schemas_and_limits() {
        use serde_json::json;
        let weather =
            json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
        let n = needs(
            json!({"tools": weather, "tool_choice": "required", "parallel_tool_calls": true,
                             "max_tokens": 100, "max_completion_tokens": 50}),
        )
        .unwrap();
        assert!(n.tools && n.forced_tool_choice && n.parallel_tools);
        assert_eq!(n.max_output_tokens, Some(50));
        // The definitions' JSON, 4 bytes a token.
        assert_eq!(
            n.definition_tokens,
            weather.to_string().len().div_ceil(4) as u64
        );
        assert_eq!(
            n.with_input_tokens(30).input_tokens,
            Some(30 + n.definition_tokens)
        );
        let n = needs(json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "what is this"},
                                         {"type": "image_url", "image_url": {"url": "data:,"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}
        ], "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}))
        .unwrap();
        assert!(n.vision && n.tools && n.json_schema && !n.audio);
        let plain =
            needs(json!({"response_format": {"type": "json_object"}, "tools": []})).unwrap();
        assert_eq!(plain, Needs::default());
        for (bad, says) in [
            (json!({"tools": "x"}), "`tools` must be an array"),
            (
                json!({"tools": [{"type": "function", "function": {}}]}),
                "`tools[0]` needs",
            ),
            (
                json!({"tools": [{}]}),
                "`tools[0]` must be an object with a `type`",
            ),
            (
                json!({"functions": [{"description": "no name"}]}),
                "`functions[0]` needs",
            ),
            (
                json!({"tool_choice": "always", "tools": weather}),
                "`tool_choice` must be",
            ),
            (
                json!({"tool_choice": {"type": "function"}, "tools": weather}),
                "function.name",
            ),
            (json!({"tool_choice": "required"}), "defines no `tools`"),
            (json!({"parallel_tool_calls": "yes"}), "boolean"),
            (
                json!({"response_format": {"type": "xml"}}),
                "response_format.type",
            ),
            (
                json!({"response_format": {"type": "json_schema"}}),
                "json_schema",
            ),
            (json!({"max_tokens": 0}), "positive integer"),
            (json!({"max_completion_tokens": "many"}), "positive integer"),
        ] {
            let e = needs(bad.clone()).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

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
