//! Sticky sessions: a conversation keeps its provider for a TTL and may move up in quality, never down.
//!
//! Memory is bounded: at most `capacity` sessions (least recently used forgotten first), each forgotten
//! `ttl` after its last request.

use crate::routing::{Decision, RouteOptions};
use lru::LruCache;
use serde::Serialize;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What happened to a session's provider on this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionOutcome {
    /// No live session: the policy's choice starts one.
    New,
    /// The session's provider answers again (the policy chose it, or chose one of lower expected quality).
    Kept,
    /// The policy chose a provider of higher expected quality: the session moves up to it.
    Upgraded,
    /// The session's provider is now denied, not allowed or unusable: the policy's choice replaces it.
    Switched,
    /// The request forced a provider; the session takes it.
    Forced,
}

struct Entry {
    provider: String,
    expires: Instant,
}

/// The sessions of a server.
pub struct Sessions {
    ttl: Duration,
    map: Mutex<LruCache<String, Entry>>,
}

impl Sessions {
    /// At most `capacity` sessions, each kept `ttl` after its last use.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            ttl,
            map: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The live provider of a session.
    pub fn provider(&self, id: &str) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(id) {
            Some(e) if e.expires > Instant::now() => Some(e.provider.clone()),
            Some(_) => {
                map.pop(id);
                None
            }
            None => None,
        }
    }

    /// Sets (or refreshes) a session's provider.
    pub fn set(&self, id: &str, provider: &str) {
        let entry = Entry {
            provider: provider.to_string(),
            expires: Instant::now() + self.ttl,
        };
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(id.to_string(), entry);
    }

    /// Sessions held (live or not yet evicted).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies the session rule to a fresh decision and records the provider the session keeps.
    pub fn apply(
        &self,
        id: &str,
        decision: &mut Decision,
        merged: &RouteOptions,
        forced: bool,
    ) -> SessionOutcome {
        let previous = self.provider(id);
        let outcome = sticky(previous.as_deref(), decision, merged, forced);
        self.set(id, &decision.provider);
        outcome
    }
}

/// The session rule: keep `previous` unless it is now excluded by the request's lists (or has no usable
/// estimate), or the new choice has higher expected quality for this prompt. Edits `decision` when the
/// session's provider is kept.
pub fn sticky(
    previous: Option<&str>,
    decision: &mut Decision,
    merged: &RouteOptions,
    forced: bool,
) -> SessionOutcome {
    let Some(previous) = previous else {
        return SessionOutcome::New;
    };
    if forced {
        return SessionOutcome::Forced;
    }
    if previous == decision.provider {
        return SessionOutcome::Kept;
    }
    let allowed = merged
        .allowed
        .as_ref()
        .is_none_or(|a| a.iter().any(|p| p == previous))
        && !merged.denied.iter().any(|p| p == previous);
    let candidate = decision
        .candidates
        .iter()
        .find(|c| c.provider == previous)
        .filter(|c| c.expected_quality.is_finite() && c.expected_cost_usd.is_finite());
    let Some(candidate) = candidate.filter(|_| allowed) else {
        decision.reason = format!(
            "session provider {previous} is no longer allowed or usable; {}",
            decision.reason
        );
        return SessionOutcome::Switched;
    };
    if decision.expected_quality > candidate.expected_quality {
        decision.reason = format!(
            "{}; session moves up from {previous} (expected quality {:.4})",
            decision.reason, candidate.expected_quality
        );
        return SessionOutcome::Upgraded;
    }
    let (quality, cost) = (candidate.expected_quality, candidate.expected_cost_usd);
    decision.reason = format!(
        "session keeps {previous} (never moves down mid-session); the policy chose {} with expected quality {:.4}: {}",
        decision.provider, decision.expected_quality, decision.reason
    );
    decision.provider = previous.to_string();
    decision.expected_quality = quality;
    decision.expected_cost_usd = cost;
    SessionOutcome::Kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Candidate;

    fn cand(p: &str, q: f32, c: f64) -> Candidate {
        Candidate {
            provider: p.into(),
            expected_quality: q,
            quality_interval: [q, q],
            expected_cost_usd: c,
            eligible: true,
            reason: "eligible".into(),
            quality_source: "measured".into(),
        }
    }

    fn decision(provider: &str) -> Decision {
        let candidates = vec![
            cand("cheap", 0.5, 0.001),
            cand("mid", 0.7, 0.01),
            cand("top", 0.9, 0.1),
            cand("nodata", f32::NAN, f64::NAN),
        ];
        let c = candidates
            .iter()
            .find(|c| c.provider == provider)
            .unwrap()
            .clone();
        Decision {
            provider: c.provider,
            expected_quality: c.expected_quality,
            expected_cost_usd: c.expected_cost_usd,
            reason: "policy".into(),
            candidates,
        }
    }

    #[test]
    fn never_down_may_go_up() {
        let o = RouteOptions::default();
        let mut d = decision("cheap");
        assert_eq!(sticky(None, &mut d, &o, false), SessionOutcome::New);
        assert_eq!(d.provider, "cheap");
        let mut d = decision("cheap");
        assert_eq!(sticky(Some("mid"), &mut d, &o, false), SessionOutcome::Kept);
        assert_eq!((d.provider.as_str(), d.expected_quality), ("mid", 0.7));
        assert!(d.reason.starts_with("session keeps mid"), "{}", d.reason);
        let mut d = decision("top");
        assert_eq!(
            sticky(Some("mid"), &mut d, &o, false),
            SessionOutcome::Upgraded
        );
        assert_eq!(d.provider, "top");
        let mut d = decision("cheap");
        assert_eq!(
            sticky(Some("top"), &mut d, &o, true),
            SessionOutcome::Forced
        );
        assert_eq!(d.provider, "cheap");
    }

    #[test]
    fn denied_or_unusable_session_provider_switches() {
        let denied = RouteOptions {
            denied: vec!["mid".into()],
            ..RouteOptions::default()
        };
        let mut d = decision("cheap");
        assert_eq!(
            sticky(Some("mid"), &mut d, &denied, false),
            SessionOutcome::Switched
        );
        assert_eq!(d.provider, "cheap");
        let allowed = RouteOptions {
            allowed: Some(vec!["cheap".into()]),
            ..RouteOptions::default()
        };
        let mut d = decision("cheap");
        assert_eq!(
            sticky(Some("top"), &mut d, &allowed, false),
            SessionOutcome::Switched
        );
        let o = RouteOptions::default();
        for gone in ["nodata", "vanished"] {
            let mut d = decision("cheap");
            assert_eq!(
                sticky(Some(gone), &mut d, &o, false),
                SessionOutcome::Switched
            );
        }
    }

    #[test]
    fn sessions_expire_and_are_bounded() {
        let s = Sessions::new(2, Duration::from_millis(30));
        s.set("a", "x");
        s.set("b", "y");
        s.set("c", "z");
        assert_eq!(s.len(), 2);
        assert_eq!(s.provider("a"), None);
        assert_eq!(s.provider("c").as_deref(), Some("z"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(s.provider("c"), None);
        let mut d = decision("cheap");
        s.set("m", "mid");
        assert_eq!(
            s.apply("m", &mut d, &RouteOptions::default(), false),
            SessionOutcome::Kept
        );
        assert_eq!(s.provider("m").as_deref(), Some("mid"));
    }
}
