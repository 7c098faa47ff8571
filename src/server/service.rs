//! The work both doors share: embed, label and decide one request (the queue, the brain, sessions and
//! the decision store behind it). The sidecar's handlers and the proxy call this; they never call each
//! other.

use super::api::{RouteRequest, RouteResponse, SessionResponse, Turns};
use super::feedback::RememberedDecision;
use super::metrics::DECISIONS;
use super::state::AppState;
use crate::brain::Brain;
use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::labels::Labels;
use std::sync::Arc;
use tokio::time::Instant;

/// When a request that starts now must have been labelled.
pub fn deadline(state: &AppState) -> Instant {
    Instant::now() + state.config().request_timeout
}

/// Fails fast with 503 until the model and table are loaded (and while shutting down).
pub fn ready(state: &AppState) -> Result<()> {
    if state.has_embedder() && state.has_brain() {
        Ok(())
    } else {
        Err(Error::Unavailable)
    }
}

/// Embeds one prompt (cache first) before `deadline`.
pub async fn embed_one(
    state: &AppState,
    prompt: String,
    deadline: Instant,
) -> Result<Arc<Embedding>> {
    state
        .embed(vec![prompt], deadline)
        .await?
        .pop()
        .ok_or_else(|| Error::inference("no embedding returned"))
}

/// Embeds a request's texts ([`Turns::texts`]: the last turn, then its context) in one job.
pub async fn embed_turns(
    state: &AppState,
    turns: &Turns,
    deadline: Instant,
) -> Result<Vec<Arc<Embedding>>> {
    let embedded = state.embed(turns.texts(), deadline).await?;
    if embedded.is_empty() {
        return Err(Error::inference("no embedding returned"));
    }
    Ok(embedded)
}

/// The labels of an embedded request (`embedded` as [`embed_turns`] returns it).
pub fn labels_of(brain: &Brain, turns: &Turns, embedded: &[Arc<Embedding>]) -> Result<Labels> {
    let (last, around) = embedded
        .split_first()
        .ok_or_else(|| Error::inference("no embedding returned"))?;
    let around: Vec<&Embedding> = around.iter().map(|e| e.as_ref()).collect();
    Ok(brain.label_request(&turns.last, &turns.context, last, &around))
}

/// Labels one request with the brain in service.
pub async fn label(state: &AppState, turns: &Turns, deadline: Instant) -> Result<Labels> {
    ready(state)?;
    let embedded = embed_turns(state, turns, deadline).await?;
    labels_of(&*state.brain()?, turns, &embedded)
}

/// Embeds, labels and routes one checked request with `brain` (the caller's, so a request sees one brain
/// even across a reload).
pub async fn route(
    state: &AppState,
    brain: &Brain,
    req: &RouteRequest,
    turns: &Turns,
    deadline: Instant,
) -> Result<RouteResponse> {
    ready(state)?;
    let embedded = embed_turns(state, turns, deadline).await?;
    decide(state, brain, req, &embedded, turns)
}

/// Labels and routes one embedded request (`embedded` as [`embed_turns`] returns it), applying its
/// session.
pub fn decide(
    state: &AppState,
    brain: &Brain,
    req: &RouteRequest,
    embedded: &[Arc<Embedding>],
    turns: &Turns,
) -> Result<RouteResponse> {
    let labels = labels_of(brain, turns, embedded)?;
    let embedding = &embedded[0];
    let prompt = turns.last.as_str();
    let mut options = req.options.clone();
    options.needs = req.needs()?.with_input_tokens(labels.input_tokens);
    let mut decision = brain.route(&labels, &options)?;
    let session = req.session_id.as_ref().map(|id| {
        let merged = req.options.merged_over(brain.policy.defaults());
        let outcome =
            state
                .sessions()
                .apply(id, &mut decision, &merged, req.options.force.is_some());
        SessionResponse {
            id: id.clone(),
            outcome,
        }
    });
    metrics::counter!(
        DECISIONS,
        "provider" => decision.provider.clone(),
        "domain" => labels.domain
    )
    .increment(1);
    // Only a server that takes feedback keeps the decision (and its embedding) for it.
    let decision_id = if state.feedback_log().is_some() {
        state.decisions().remember(RememberedDecision {
            provider: decision.provider.clone(),
            embedding: Arc::clone(embedding),
            prompt: state
                .config()
                .feedback_keep_text
                .then(|| prompt.to_string()),
            domain: labels.domain,
            level: labels.level,
            difficulty: labels.difficulty,
        })
    } else {
        state.decisions().new_id()
    };
    Ok(RouteResponse::new(&labels, &decision, session, decision_id))
}
