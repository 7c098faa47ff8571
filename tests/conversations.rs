//! Conversations routed as conversations, on the shipped artifacts: the hand-written multi-turn probe
//! (`probe/multiturn/conversations.jsonl`, never tuned on) must route continuations like their task and
//! keep closings and new questions as they are alone; the tuning set is reported beside it.

mod common;

use triage::artifacts::ArtifactSource;
use triage::brain::Brain;
use triage::routing::RouteOptions;
use triage::training::conversation_probe::{self, Kind};

#[test]
fn continuations_keep_their_task_and_closings_stay_cheap() {
    let embedder = triage::embedding::load(&common::settings().embedder).unwrap();
    let brain = Brain::load(
        &ArtifactSource::Dir(common::models_dir()),
        RouteOptions::default(),
    )
    .unwrap();
    let score = |file: &str| {
        let conversations = conversation_probe::load(&common::root().join(file)).unwrap();
        let r = conversation_probe::evaluate(
            file,
            &conversations,
            &embedder,
            &brain.heads,
            &brain.policy,
        )
        .unwrap();
        eprint!("{}", conversation_probe::render(&r));
        r
    };
    let _ = score("tuning/conversations.jsonl");
    let r = score("probe/multiturn/conversations.jsonl");
    let share = |k: Kind| {
        let s = &r.kinds[&k];
        s.as_expected as f64 / s.conversations as f64
    };
    assert!(share(Kind::Continuation) >= 0.9, "{r:?}");
    assert!(share(Kind::Closing) >= 0.9, "{r:?}");
    assert!(share(Kind::TopicChange) >= 0.9, "{r:?}");
}
