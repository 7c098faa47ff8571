//! Sticky sessions: a conversation keeps its provider for a TTL and may move up in quality, never down,
//! and never to a provider its task's own decision did not allow.
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
    session: Session,
    expires: Instant,
}

/// What a session holds: its provider, and the providers its task's decision allowed (the eligible
/// candidates of the request that started it, or that last switched or forced it). A later request is
/// judged by its own labels, which may be a follow-up's weak ones ("now add a TTL"); a move up must also be
/// one the task's labels would have made.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub provider: String,
    pub task_allowed: Vec<String>,
}

impl Session {
    /// The session a decision starts: its provider and its eligible candidates.
    pub fn of(decision: &Decision) -> Self {
        Self {
            provider: decision.provider.clone(),
            task_allowed: decision
                .candidates
                .iter()
                .filter(|c| c.eligible)
                .map(|c| c.provider.clone())
                .collect(),
        }
    }
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

    /// A live session.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(id) {
            Some(e) if e.expires > Instant::now() => Some(e.session.clone()),
            Some(_) => {
                map.pop(id);
                None
            }
            None => None,
        }
    }

    /// Sets (or refreshes) a session.
    pub fn set(&self, id: &str, session: Session) {
        let entry = Entry {
            session,
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
        let previous = self.get(id);
        let outcome = sticky(previous.as_ref(), decision, merged, forced);
        let session = match (outcome, previous) {
            // The task's allowed set stays with the session while it keeps or moves up its provider.
            (SessionOutcome::Kept | SessionOutcome::Upgraded, Some(p)) => Session {
                provider: decision.provider.clone(),
                task_allowed: p.task_allowed,
            },
            _ => Session::of(decision),
        };
        self.set(id, session);
        outcome
    }
}

/// The session rule: keep `previous`'s provider unless it is now excluded by the request's lists (or has
/// no usable estimate), or the new choice has higher expected quality for this prompt and is one the
/// session's task allowed. Edits `decision` when the session's provider is kept.
pub fn sticky(
    previous: Option<&Session>,
    decision: &mut Decision,
    merged: &RouteOptions,
    forced: bool,
) -> SessionOutcome {
    let Some(session) = previous else {
        return SessionOutcome::New;
    };
    let previous = session.provider.as_str();
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
    let task_allows = session.task_allowed.contains(&decision.provider);
    if decision.expected_quality > candidate.expected_quality && task_allows {
        decision.reason = format!(
            "{}; session moves up from {previous} (expected quality {:.4})",
            decision.reason, candidate.expected_quality
        );
        return SessionOutcome::Upgraded;
    }
    let (quality, cost) = (candidate.expected_quality, candidate.expected_cost_usd);
    let why = if task_allows {
        "never moves down mid-session"
    } else {
        "never moves to a provider the session's task did not allow"
    };
    decision.reason = format!(
        "session keeps {previous} ({why}); the policy chose {} with expected quality {:.4}: {}",
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
            excluded: None,
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

    /// A session on `provider` whose task allowed every candidate of [`decision`].
    fn on(provider: &str) -> Session {
        Session {
            provider: provider.into(),
            task_allowed: ["cheap", "mid", "top"].map(String::from).to_vec(),
        }
    }

    #[test]
    fn a_session_never_moves_to_a_provider_its_task_did_not_allow() {
        let o = RouteOptions::default();
        // The task (a hard request) allowed only mid and top; a follow-up's own labels rate cheap higher
        // than mid, but the session keeps mid.
        let task = Session {
            provider: "mid".into(),
            task_allowed: vec!["mid".into(), "top".into()],
        };
        let mut d = decision("cheap");
        d.expected_quality = 0.95;
        assert_eq!(sticky(Some(&task), &mut d, &o, false), SessionOutcome::Kept);
        assert_eq!(d.provider, "mid");
        assert!(d.reason.contains("did not allow"), "{}", d.reason);
        // A move up within the task's set is still made.
        let mut d = decision("top");
        assert_eq!(
            sticky(Some(&task), &mut d, &o, false),
            SessionOutcome::Upgraded
        );
        // Through `Sessions`: the task's set outlives the move up.
        let s = Sessions::new(4, Duration::from_secs(60));
        let mut first = decision("mid");
        first.candidates[0].eligible = false;
        assert_eq!(s.apply("t", &mut first, &o, false), SessionOutcome::New);
        let mut up = decision("top");
        up.candidates[0].eligible = true;
        assert_eq!(s.apply("t", &mut up, &o, false), SessionOutcome::Upgraded);
        assert_eq!(
            s.get("t").unwrap().task_allowed,
            vec!["mid", "top", "nodata"]
        );
    }

    #[test]
    fn never_down_may_go_up() {
        let o = RouteOptions::default();
        let mut d = decision("cheap");
        assert_eq!(sticky(None, &mut d, &o, false), SessionOutcome::New);
        assert_eq!(d.provider, "cheap");
        let mut d = decision("cheap");
        assert_eq!(
            sticky(Some(&on("mid")), &mut d, &o, false),
            SessionOutcome::Kept
        );
        assert_eq!((d.provider.as_str(), d.expected_quality), ("mid", 0.7));
        assert!(d.reason.starts_with("session keeps mid"), "{}", d.reason);
        let mut d = decision("top");
        assert_eq!(
            sticky(Some(&on("mid")), &mut d, &o, false),
            SessionOutcome::Upgraded
        );
        assert_eq!(d.provider, "top");
        let mut d = decision("cheap");
        assert_eq!(
            sticky(Some(&on("top")), &mut d, &o, true),
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
            sticky(Some(&on("mid")), &mut d, &denied, false),
            SessionOutcome::Switched
        );
        assert_eq!(d.provider, "cheap");
        let allowed = RouteOptions {
            allowed: Some(vec!["cheap".into()]),
            ..RouteOptions::default()
        };
        let mut d = decision("cheap");
        assert_eq!(
            sticky(Some(&on("top")), &mut d, &allowed, false),
            SessionOutcome::Switched
        );
        let o = RouteOptions::default();
        for gone in ["nodata", "vanished"] {
            let mut d = decision("cheap");
            assert_eq!(
                sticky(Some(&on(gone)), &mut d, &o, false),
                SessionOutcome::Switched
            );
        }
    }

    #[test]
    fn sessions_expire_and_are_bounded() {
        let s = Sessions::new(2, Duration::from_millis(30));
        let provider = |id: &str| s.get(id).map(|e| e.provider);
        s.set("a", on("x"));
        s.set("b", on("y"));
        s.set("c", on("z"));
        assert_eq!(s.len(), 2);
        assert_eq!(provider("a"), None);
        assert_eq!(provider("c").as_deref(), Some("z"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(provider("c"), None);
        let mut d = decision("cheap");
        s.set("m", on("mid"));
        assert_eq!(
            s.apply("m", &mut d, &RouteOptions::default(), false),
            SessionOutcome::Kept
        );
        assert_eq!(provider("m").as_deref(), Some("mid"));
    }
}
