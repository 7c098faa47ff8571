//! The layers of the code, enforced: a module may not use a layer above it, and the pure layers may not use
//! the runtime crates. Each rule lists what a module must NOT reference, by `crate::<module>` path or by an
//! external crate's name. See docs/architecture.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const RUNTIME: [&str; 3] = ["tokio", "axum", "hyper"];
const CANDLE: [&str; 4] = [
    "candle_core",
    "candle_nn",
    "candle_transformers",
    "tokenizers",
];

/// (module, forbidden crate modules, forbidden external crates).
fn rules() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    let doors = [
        "cli",
        "server",
        "batch",
        "training",
        "price_update",
        "collect",
    ];
    let with = |a: &[&'static str], b: &[&'static str]| -> Vec<&'static str> {
        a.iter().chain(b).copied().collect()
    };
    vec![
        (
            "routing",
            with(
                &doors,
                &["embedding", "labels", "brain", "artifacts", "input"],
            ),
            with(&RUNTIME, &CANDLE),
        ),
        (
            "embedding",
            with(
                &doors,
                &["routing", "labels", "brain", "artifacts", "input"],
            ),
            RUNTIME.to_vec(),
        ),
        (
            "labels",
            with(&doors, &["brain", "artifacts", "input"]),
            with(&RUNTIME, &CANDLE),
        ),
        (
            "artifacts",
            with(&doors, &["brain", "input"]),
            with(&RUNTIME, &CANDLE),
        ),
        ("brain", doors.to_vec(), with(&RUNTIME, &CANDLE)),
        (
            "server",
            vec!["cli", "batch", "training", "price_update", "collect"],
            CANDLE.to_vec(),
        ),
        (
            "batch",
            vec!["cli", "server", "training", "price_update", "collect"],
            RUNTIME.to_vec(),
        ),
        (
            "training",
            vec!["cli", "server", "batch", "price_update", "collect"],
            RUNTIME.to_vec(),
        ),
        (
            "price_update",
            vec!["cli", "server", "batch", "training", "collect"],
            with(&RUNTIME, &CANDLE),
        ),
        // Collect calls providers on its own runtime; it shares the proxy's upstream talk, not the server.
        (
            "collect",
            vec!["cli", "server", "batch", "training", "price_update"],
            vec![
                "axum",
                "hyper",
                "candle_core",
                "candle_nn",
                "candle_transformers",
            ],
        ),
        (
            "upstream",
            with(
                &doors,
                &["embedding", "labels", "brain", "artifacts", "input"],
            ),
            with(&["tokio", "axum", "hyper"], &CANDLE),
        ),
        (
            "input",
            with(
                &doors,
                &["routing", "embedding", "labels", "brain", "artifacts"],
            ),
            with(&RUNTIME, &CANDLE),
        ),
        (
            "error",
            with(
                &doors,
                &[
                    "routing",
                    "embedding",
                    "labels",
                    "brain",
                    "artifacts",
                    "input",
                    "files",
                ],
            ),
            with(&RUNTIME, &CANDLE),
        ),
        (
            "reading",
            with(
                &doors,
                &[
                    "routing",
                    "embedding",
                    "labels",
                    "brain",
                    "artifacts",
                    "input",
                    "files",
                ],
            ),
            with(&RUNTIME, &CANDLE),
        ),
        (
            "spelling",
            with(
                &doors,
                &[
                    "routing",
                    "embedding",
                    "labels",
                    "brain",
                    "artifacts",
                    "input",
                    "files",
                    "reading",
                ],
            ),
            with(&RUNTIME, &CANDLE),
        ),
        (
            "files",
            with(
                &doors,
                &[
                    "routing",
                    "embedding",
                    "labels",
                    "brain",
                    "artifacts",
                    "input",
                ],
            ),
            with(&RUNTIME, &CANDLE),
        ),
    ]
}

/// The code of a source file without comments (line comments and doc comments; block comments are not
/// used in this crate) and without string literals' contents, so prose never counts as a reference.
fn code_of(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `crate::<module>` and every external crate path (`name::` at a word start) the code uses.
fn references(code: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut internal = BTreeSet::new();
    let mut external = BTreeSet::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != ':';
        if starts_word && is_ident(bytes[i]) {
            let mut j = i;
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            let word: String = bytes[i..j].iter().collect();
            if bytes.get(j) == Some(&':') && bytes.get(j + 1) == Some(&':') {
                if word == "crate" {
                    let mut k = j + 2;
                    // `crate::{a, b}` groups
                    let group = bytes.get(k) == Some(&'{');
                    if group {
                        k += 1;
                    }
                    loop {
                        while bytes.get(k).is_some_and(|c| c.is_whitespace() || *c == ',') {
                            k += 1;
                        }
                        let start = k;
                        while bytes.get(k).is_some_and(|c| is_ident(*c)) {
                            k += 1;
                        }
                        if k > start {
                            internal.insert(bytes[start..k].iter().collect());
                        }
                        if !group {
                            break;
                        }
                        // Skip to the next top-level comma of the group or its end.
                        let mut depth = 0;
                        while let Some(&c) = bytes.get(k) {
                            match c {
                                '{' => depth += 1,
                                '}' if depth == 0 => break,
                                '}' => depth -= 1,
                                ',' if depth == 0 => break,
                                _ => {}
                            }
                            k += 1;
                        }
                        if bytes.get(k) != Some(&',') {
                            break;
                        }
                    }
                } else {
                    external.insert(word);
                }
            } else if word == "use" || word == "extern" {
                // `use tokio;` / `extern crate tokio;`
                let rest: String = bytes[j..].iter().take(64).collect();
                let name: String = rest
                    .trim_start()
                    .trim_start_matches("crate ")
                    .chars()
                    .take_while(|c| is_ident(*c))
                    .collect();
                if rest.trim_start().starts_with(&format!("{name};")) {
                    external.insert(name);
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    (internal, external)
}

/// The top-level module a file of `src/` belongs to (`None` for the binaries and the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "bin" && name != "lib" && name != "main").then(|| name.to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// What `source`, a file of `module`, references that its rule forbids.
fn violations(module: &str, source: &str) -> Vec<String> {
    let (internal, external) = references(&code_of(source));
    let mut found = Vec::new();
    for (m, crate_modules, crates) in rules() {
        if m != module {
            continue;
        }
        for r in &internal {
            if crate_modules.contains(&r.as_str()) {
                found.push(format!("crate::{r}"));
            }
        }
        for r in &external {
            if crates.contains(&r.as_str()) {
                found.push(r.clone());
            }
        }
    }
    found
}

#[test]
fn the_checker_finds_what_it_must() {
    // The scanner itself, on code that breaks the rules in each way it can be written.
    let bad = "use crate::embedding::Embedding;\nuse crate::{error::Result, server::AppState};\n\
               fn f() { let _ = candle_core::Device::Cpu; tokio::spawn(async {}); }\nuse axum;\n";
    let mut v = violations("routing", bad);
    v.sort();
    assert_eq!(
        v,
        vec![
            "axum",
            "candle_core",
            "crate::embedding",
            "crate::server",
            "tokio"
        ]
    );
    // Comments and strings do not count; allowed references pass.
    let fine =
        "// uses crate::server in prose\nlet s = \"tokio::spawn\";\nuse crate::error::Result;\n";
    assert!(violations("routing", fine).is_empty());
    assert_eq!(
        violations("server", "use crate::training::fit;"),
        vec!["crate::training"]
    );
}

#[test]
fn no_module_uses_a_layer_it_must_not() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let ruled: BTreeSet<&str> = rules().iter().map(|r| r.0).collect();
    let mut checked = BTreeSet::new();
    let mut problems = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let source = std::fs::read_to_string(file).unwrap();
        for v in violations(&module, &source) {
            problems.push(format!(
                "{} ({module}) uses {v}",
                file.strip_prefix(&src).unwrap().display()
            ));
        }
        checked.insert(module);
    }
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
    // Every ruled module exists (a rename must carry its rule along), and every module has a rule.
    for m in &ruled {
        assert!(checked.contains(*m), "no file of module `{m}` was found");
    }
    for m in &checked {
        assert!(
            ruled.contains(m.as_str()) || m == "cli",
            "module `{m}` has no layer rule"
        );
    }
}

/// The sibling modules of `server/` that `source` (one of its files) uses, by `super::<name>` or
/// `crate::server::<name>`.
fn server_siblings(source: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let code = code_of(source);
    let mut found = BTreeSet::new();
    for prefix in ["super::", "crate::server::"] {
        for (at, _) in code.match_indices(prefix) {
            if at > 0 && code[..at].ends_with(|c: char| is_ident(c) || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            // `super::{a, b::C}` groups name several.
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|n| n.trim().split("::").next().unwrap_or("").trim())
                    .collect()
            } else {
                vec![rest.split(|c: char| !is_ident(c)).next().unwrap_or("")]
            };
            for name in names {
                if siblings.contains(name) {
                    found.insert(name.to_string());
                }
            }
        }
    }
    found
}

/// The modules of `server/` (file stems and folders, without `mod`) and what each uses of its siblings.
fn server_graph() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/server");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let module = |file: &Path| -> String {
        let rel = file.strip_prefix(&dir).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        first.trim_end_matches(".rs").to_string()
    };
    let siblings: BTreeSet<String> = files
        .iter()
        .map(|f| module(f))
        .filter(|m| m != "mod")
        .collect();
    let mut graph = std::collections::BTreeMap::new();
    for file in &files {
        let m = module(file);
        if m == "mod" {
            continue;
        }
        let mut used = server_siblings(&std::fs::read_to_string(file).unwrap(), &siblings);
        used.remove(&m);
        graph.entry(m).or_insert_with(BTreeSet::new).extend(used);
    }
    graph
}

#[test]
fn the_sibling_scanner_finds_what_it_must() {
    let siblings: BTreeSet<String> = ["api", "handlers", "state", "metrics"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = "use super::api::RouteRequest;\nuse super::{handlers::decide, state::AppState};\n\
                // super::metrics in prose\nlet x = crate::server::metrics::DECISIONS;\n\
                mod tests { use super::*; }\n";
    let found: Vec<String> = server_siblings(code, &siblings).into_iter().collect();
    assert_eq!(found, ["api", "handlers", "metrics", "state"]);
}

#[test]
fn server_modules_form_no_circle_and_the_proxy_never_uses_the_handlers() {
    let graph = server_graph();
    assert!(
        graph.contains_key("proxy")
            && graph.contains_key("handlers")
            && graph.contains_key("service")
    );
    for (door, other) in [("proxy", "handlers"), ("handlers", "proxy")] {
        assert!(
            !graph[door].contains(other),
            "server/{door} uses server/{other}: shared work belongs in server/service"
        );
    }
    // Depth-first search for a cycle, reporting its path.
    fn visit(
        m: &str,
        graph: &std::collections::BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!(
                "server modules import each other in a circle: {}",
                cycle.join(" -> ")
            );
        }
    }
}
