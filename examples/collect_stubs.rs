//! Stub providers for trying `triage collect` without keys or money (docs/collect.md): three
//! OpenAI-compatible endpoints on loopback — `cheap` answers math well and code badly, `strong` answers
//! both well, `judge` rates what the answers' planted markers say — until Ctrl-C.
//!
//! `cargo run --release --example collect_stubs [PORT_FILE]` prints the base URL of each (and writes the
//! port to PORT_FILE when given). Their key is the value of `TRIAGE_COLLECT_TEST_KEY` in
//! tests/common/stub_llm.rs.

#[path = "../tests/common/stub_llm.rs"]
mod stub_llm;

use std::collections::HashMap;
use std::time::Duration;
use stub_llm::{Role, Server};

fn main() {
    let server = Server::start(
        &[
            (
                "cheap",
                Role::Provider {
                    good_in: vec!["math"],
                },
            ),
            (
                "strong",
                Role::Provider {
                    good_in: vec!["math", "code"],
                },
            ),
            ("judge", Role::Judge),
            ("garbage", Role::GarbageJudge),
        ],
        HashMap::new(),
        Duration::from_millis(20),
    );
    for tag in ["cheap", "strong", "judge"] {
        println!("{tag}: {}", server.url(tag));
    }
    println!("key variable: {} = {}", stub_llm::KEY_ENV, stub_llm::KEY);
    if let Some(path) = std::env::args().nth(1) {
        if let Err(e) = std::fs::write(&path, server.port.to_string()) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
