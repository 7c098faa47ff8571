//! The metrics recorder is in place before a server counts anything, not installed by the first scrape.
//! A test binary of its own: in a process where another test has scraped `/metrics` already, the recorder
//! would be there anyway and this could not fail.

use triage::artifacts::ArtifactSource;
use triage::server::{AppState, ServerConfig};

#[test]
fn a_reload_that_fails_before_the_first_scrape_is_counted() {
    // An empty models folder: every load fails, and the reloader does not retry an unchanged failure.
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(ServerConfig::new(ArtifactSource::Dir(
        dir.path().to_path_buf(),
    )));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(rt.block_on(state.reload(false)).is_err());
    assert!(!rt.block_on(state.reload(false)).unwrap(), "retried");

    // The first scrape of the process.
    let text = triage::server::metrics::handle()
        .expect("the recorder is ours")
        .render();
    assert!(
        text.contains(r#"triage_reloads_total{result="failed"} 1"#),
        "{text}"
    );
}
