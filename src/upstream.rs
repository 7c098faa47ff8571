//! Talking to providers (the proxy's forwarding and `triage collect`'s calls): the outbound HTTP client,
//! API keys from the environment, which failures are worth another try, the `model` rewrite of streamed
//! answers, and keeping API keys out of everything a client, a log or a journal sees.

use crate::error::{Error, Result};
use crate::routing::registry::Upstream;
use bytes::Bytes;
use reqwest::StatusCode;
use std::time::Duration;

/// How one attempt at a provider ended, when it did not produce an answer to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The provider answered with this status (5xx, 429, or a provider-side 401/403/404).
    Status(u16),
    /// No response headers within `--upstream-timeout-ms`.
    Timeout,
    /// The connection could not be opened (refused, reset, DNS, TLS).
    Connect,
    /// The provider's `api_key_env` variable is not set in triage's environment.
    MissingKey(String),
    /// Anything else on the way (the request could not be sent, the answer could not be read).
    Transport,
}

impl Failure {
    /// A short word for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Status(s) if *s >= 500 => "status_5xx",
            Failure::Status(429) => "status_429",
            Failure::Status(_) => "status_4xx",
            Failure::Timeout => "timeout",
            Failure::Connect => "connect_error",
            Failure::MissingKey(_) => "missing_api_key",
            Failure::Transport => "transport_error",
        }
    }

    /// What a client may read (no URL, no key, no backend message).
    pub fn describe(&self, timeout: Duration) -> String {
        match self {
            Failure::Status(s) => format!("HTTP {s}"),
            Failure::Timeout => format!("no answer within {} ms", timeout.as_millis()),
            Failure::Connect => "connection failed".into(),
            Failure::MissingKey(var) => format!("API key variable {var} is not set"),
            Failure::Transport => "transport error".into(),
        }
    }

    /// Classifies a reqwest error without keeping its text (which names the URL).
    pub fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Failure::Timeout
        } else if e.is_connect() {
            Failure::Connect
        } else {
            Failure::Transport
        }
    }
}

/// Whether a provider's status means "try the next provider" for a routed request: server errors and
/// rate limits, and the statuses a misconfigured provider gives (bad key, unknown model), which the caller
/// could not have caused since triage chose the provider. Other 4xx are about the request itself and are
/// passed back as they are.
pub fn worth_another_provider(status: StatusCode) -> bool {
    status.is_server_error()
        || matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::NOT_FOUND
        )
}

/// The outbound client: pooled keep-alive connections, connect and idle timeouts (the header timeout is
/// per attempt, since a streamed answer may run far longer than its first byte takes).
pub fn client(connect_timeout: Duration, idle_timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .read_timeout(idle_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        // A provider's redirect is not followed with the key attached.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("triage/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::inference_from("building the proxy's HTTP client", e))
}

/// The API key of `upstream` from the environment: `None` for an endpoint without keys, the
/// [`Failure::MissingKey`] of its variable when that is unset or empty.
pub fn api_key(upstream: &Upstream) -> std::result::Result<Option<String>, Failure> {
    match &upstream.api_key_env {
        Some(var) => match std::env::var(var) {
            Ok(k) if !k.is_empty() => Ok(Some(k)),
            _ => Err(Failure::MissingKey(var.clone())),
        },
        None => Ok(None),
    }
}

/// Replaces every occurrence of `secret` in `text` (a provider's error body may quote the key it got).
pub fn redact(text: &[u8], secret: Option<&str>) -> Bytes {
    let Some(secret) = secret.filter(|s| s.len() >= 4) else {
        return Bytes::copy_from_slice(text);
    };
    let needle = secret.as_bytes();
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(needle) {
            out.extend_from_slice(b"[redacted]");
            i += needle.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Bytes::from(out)
}

/// Rewrites the `model` of every JSON event of a server-sent-events stream to the provider's name, event
/// by event: a complete event is passed on as soon as its blank line arrives, so nothing waits for the
/// end of the answer. Events that are not JSON objects (`data: [DONE]`, comments) pass unchanged.
pub struct SseModelRewriter {
    model: String,
    pending: Vec<u8>,
    /// Ids of the tool calls seen in the events passed on so far (taken by [`Self::take_tool_call_ids`]).
    tool_call_ids: Vec<String>,
}

/// Bytes held while waiting for an event's end before they are passed on as they are: a stream that
/// never ends an event must not be buffered whole.
const MAX_PENDING_EVENT_BYTES: usize = 256 * 1024;

impl SseModelRewriter {
    /// A rewriter that names `model` in every event.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            pending: Vec::new(),
            tool_call_ids: Vec::new(),
        }
    }

    /// The ids of the tool calls the stream has started since the last call (`choices[].delta.tool_calls[].id`).
    pub fn take_tool_call_ids(&mut self) -> Vec<String> {
        std::mem::take(&mut self.tool_call_ids)
    }

    /// Takes the next bytes of the stream; returns the complete events among what has arrived,
    /// rewritten (empty while an event is still incomplete).
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.pending.extend_from_slice(chunk);
        let Some(end) = last_event_end(&self.pending) else {
            if self.pending.len() > MAX_PENDING_EVENT_BYTES {
                return Bytes::from(std::mem::take(&mut self.pending));
            }
            return Bytes::new();
        };
        let rest = self.pending.split_off(end);
        let complete = std::mem::replace(&mut self.pending, rest);
        Bytes::from(self.rewrite(&complete))
    }

    /// The bytes left at the end of the stream (an unterminated last event), rewritten.
    pub fn finish(&mut self) -> Bytes {
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() {
            Bytes::new()
        } else {
            Bytes::from(self.rewrite(&rest))
        }
    }

    fn rewrite(&mut self, events: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(events.len() + 32);
        for line in events.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(&self.rewrite_line(line));
        }
        out
    }

    fn rewrite_line(&mut self, line: &[u8]) -> Vec<u8> {
        let body_end = line
            .iter()
            .rposition(|&b| b != b'\n' && b != b'\r')
            .map_or(0, |p| p + 1);
        let (content, ending) = line.split_at(body_end);
        let Some(payload) = content.strip_prefix(b"data:") else {
            return line.to_vec();
        };
        let payload = payload.strip_prefix(b" ").unwrap_or(payload);
        let Ok(serde_json::Value::Object(mut event)) = serde_json::from_slice(payload) else {
            return line.to_vec();
        };
        let ids = event
            .get("choices")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("delta")?.get("tool_calls")?.as_array())
            .flatten()
            .filter_map(|call| call.get("id").and_then(serde_json::Value::as_str));
        self.tool_call_ids.extend(ids.map(str::to_string));
        if !event.contains_key("model") {
            return line.to_vec();
        }
        event.insert("model".into(), self.model.clone().into());
        let Ok(json) = serde_json::to_vec(&event) else {
            return line.to_vec();
        };
        let mut out = Vec::with_capacity(json.len() + 8);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&json);
        out.extend_from_slice(ending);
        out
    }
}

/// The end (exclusive) of the last complete event: just past its blank line (`\n\n` or `\r\n\r\n`).
fn last_event_end(buf: &[u8]) -> Option<usize> {
    (1..buf.len()).rev().find_map(|i| {
        let lf = buf[i] == b'\n' && buf[i - 1] == b'\n';
        let crlf = i >= 3 && &buf[i - 3..=i] == b"\r\n\r\n";
        (lf || crlf).then_some(i + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_rewritten_as_soon_as_they_end() {
        let mut r = SseModelRewriter::new("gpt-4o-mini-2024-07-18");
        // An event split across chunks is held until its blank line.
        assert!(r
            .push(b"data: {\"id\":\"1\",\"model\":\"up\",\"choices\":[]")
            .is_empty());
        let out = r.push(b"}\n\ndata: {\"id\":\"2\",\"mod");
        assert_eq!(
            out,
            Bytes::from_static(
                b"data: {\"id\":\"1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[]}\n\n"
            )
        );
        let out = r.push(b"el\":\"up\"}\n\n: keep-alive\n\ndata: [DONE]\n\n");
        assert_eq!(
            out,
            Bytes::from_static(
                b"data: {\"id\":\"2\",\"model\":\"gpt-4o-mini-2024-07-18\"}\n\n: keep-alive\n\ndata: [DONE]\n\n"
            )
        );
        assert!(r.finish().is_empty());
    }

    #[test]
    fn crlf_events_and_unterminated_tails() {
        let mut r = SseModelRewriter::new("p");
        let out = r.push(b"data: {\"model\":\"x\"}\r\n\r\ndata: {\"model\":\"y\"}");
        assert_eq!(out, Bytes::from_static(b"data: {\"model\":\"p\"}\r\n\r\n"));
        assert_eq!(r.finish(), Bytes::from_static(b"data: {\"model\":\"p\"}"));
        // Not JSON, or JSON without a model: unchanged.
        let mut r = SseModelRewriter::new("p");
        let text = b"event: x\ndata: {\"a\":1}\ndata: not json\n\n";
        assert_eq!(r.push(text), Bytes::from_static(text));
    }

    #[test]
    fn an_endless_event_is_not_buffered_whole() {
        let mut r = SseModelRewriter::new("p");
        let big = vec![b'a'; MAX_PENDING_EVENT_BYTES + 1];
        assert_eq!(r.push(&big).len(), big.len());
    }

    #[test]
    fn keys_are_redacted() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-live-123456"}}"#;
        let out = redact(body, Some("sk-live-123456"));
        assert!(!String::from_utf8_lossy(&out).contains("sk-live-123456"));
        assert!(String::from_utf8_lossy(&out).contains("[redacted]"));
        assert_eq!(redact(body, None), Bytes::copy_from_slice(body));
    }

    #[test]
    fn which_statuses_fall_over() {
        for s in [500, 502, 503, 504, 429, 401, 403, 404, 408] {
            assert!(
                worth_another_provider(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
        for s in [200, 400, 413, 422] {
            assert!(
                !worth_another_provider(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
        assert_eq!(Failure::Status(503).kind(), "status_5xx");
        assert!(!Failure::Timeout
            .describe(Duration::from_millis(5))
            .contains("http"));
    }
}
