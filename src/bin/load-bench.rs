//! Loopback-only load benchmark of `triage serve` (run it through `scripts/load-bench`).
//!
//! Phases, each bounded in requests and time:
//! 1. sequential: one request at a time (idle-server latency of `/v1/route`);
//! 2. raw embedding (`--raw-embed`): the same kind of prompts embedded one at a time in this process,
//!    for the "HTTP + policy overhead over raw embedding" at p50;
//! 3. closed loop: `--clients` connections sending back-to-back (maximum throughput);
//! 4. open loop: a fixed `--rate` for `--open-secs` (latency measured from each request's scheduled send
//!    time, so a slow server cannot hide its queueing).
//!
//! Every prompt is distinct (about 60 tokens), so the server's exact-match embedding cache never answers.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use triage::embedding::Embedder;

#[derive(Debug, Parser)]
#[command(
    name = "load-bench",
    about = "Loopback-only load benchmark of triage serve"
)]
struct Args {
    /// Server base URL; only loopback addresses are accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Endpoint to load.
    #[arg(long, default_value = "/v1/route")]
    path: String,
    /// Sequential requests (idle latency).
    #[arg(long, default_value_t = 200)]
    sequential: usize,
    /// Closed-loop clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Closed-loop requests in all (stops earlier at --closed-secs).
    #[arg(long, default_value_t = 3000)]
    requests: usize,
    /// Closed-loop time limit in seconds.
    #[arg(long, default_value_t = 20.0)]
    closed_secs: f64,
    /// Open-loop rate in requests per second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Open-loop duration in seconds.
    #[arg(long, default_value_t = 10.0)]
    open_secs: f64,
    /// Also embed prompts in-process to measure the overhead over raw embedding.
    #[arg(long)]
    raw_embed: bool,
    /// Threads for the in-process embedder.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Arithmetic of the in-process embedder: give the server's, so that the overhead over raw embedding
    /// compares like with like (`scripts/load-bench` passes `--precision` from SERVE_ARGS); a run whose
    /// embedder differs from the server's (`/health`'s engine) stops with an error.
    #[arg(long, env = "TRIAGE_PRECISION", value_enum, default_value_t = triage::embedding::PrecisionChoice::Fp32)]
    precision: triage::embedding::PrecisionChoice,
    /// Only measure the in-process embedder's throughput by batch size (1..64) and exit; needs no server.
    #[arg(long)]
    raw_sweep: bool,
    /// Write the results as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

type BenchResult<T> = Result<T, String>;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `host:port` of a loopback `http://` URL.
fn loopback_addr(url: &str) -> BenchResult<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported, got {url}"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let addrs: Vec<SocketAddr> = hostport
        .to_socket_addrs()
        .map_err(|e| format!("resolving {hostport}: {e}"))?
        .collect();
    let addr = addrs
        .first()
        .copied()
        .ok_or_else(|| format!("{hostport} resolves to nothing"))?;
    if addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "{hostport} is not a loopback address; this benchmark only loads 127.0.0.0/8 or [::1]"
        ));
    }
    Ok(addr)
}

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    addr: SocketAddr,
    reader: Option<BufReader<TcpStream>>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        Self { addr, reader: None }
    }

    fn stream(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.reader.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            self.reader = Some(BufReader::new(s));
        }
        self.reader
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no connection"))
    }

    /// Sends one request; returns the status and body. Reconnects once if a kept-alive connection died.
    fn call(&mut self, method: &str, path: &str, body: &[u8]) -> BenchResult<(u16, Vec<u8>)> {
        match self.try_call(method, path, body) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.reader = None;
                self.try_call(method, path, body).map_err(|e| e.to_string())
            }
        }
    }

    fn try_call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let addr = self.addr;
        let reader = self.stream()?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        reader.get_mut().write_all(&req)?;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = None;
        let mut close = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("connection closed in headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse::<usize>().ok();
                } else if name == "connection" && value.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let length = length.ok_or_else(|| std::io::Error::other("no content-length"))?;
        let mut buf = vec![0u8; length];
        reader.read_exact(&mut buf)?;
        if close {
            self.reader = None;
        }
        Ok((status, buf))
    }
}

/// A distinct prompt of about 60 tokens.
fn prompt(i: usize) -> String {
    const LANGS: [&str; 6] = ["Python", "Rust", "Go", "TypeScript", "Java", "C++"];
    const THINGS: [&str; 6] = [
        "invoices",
        "sensor readings",
        "user records",
        "log lines",
        "orders",
        "images",
    ];
    const CITIES: [&str; 6] = ["Lyon", "Osaka", "Denver", "Porto", "Leeds", "Hanoi"];
    const TOPICS: [&str; 6] = [
        "the causes of the First World War",
        "how vaccines train the immune system",
        "why the sky is blue",
        "the difference between TCP and UDP",
        "how inflation affects savings",
        "the plot of Pride and Prejudice",
    ];
    let (a, b, c) = (i % 6, (i / 6) % 6, (i / 36) % 6);
    match i % 4 {
        0 => format!(
            "Write a {} function that removes duplicate {} from a list of {} items while keeping their original order. Explain the time and memory complexity, handle empty input, and include two short unit tests. Ticket {i}. Please answer in plain English and keep the formatting simple.",
            LANGS[a], THINGS[b], 100 + i % 900
        ),
        1 => format!(
            "A train leaves {} at {}:00 travelling at {} km/h, and a second train leaves {} one hour later at {} km/h on the same track. When and where does the second train catch up? Show every step of the calculation. Case {i}. Please answer in plain English and keep the formatting simple.",
            CITIES[a], 6 + b, 60 + 5 * c, CITIES[(a + 1) % 6], 90 + 5 * b
        ),
        2 => format!(
            "Explain {} to a curious fourteen-year-old in about three paragraphs. Use one concrete everyday example, avoid jargon, and finish with a single question that checks their understanding. Reference number {i}. Please answer in plain English and keep the formatting simple.",
            TOPICS[a]
        ),
        _ => format!(
            "Draft a polite email to a supplier in {} saying that the last shipment of {} arrived {} days late, asking for a revised delivery schedule and a small discount on the next order. Keep it under 150 words. Draft {i}. Please answer in plain English and keep the formatting simple.",
            CITIES[b], THINGS[a], 2 + c
        ),
    }
}

fn body(i: usize) -> Vec<u8> {
    serde_json::json!({ "prompt": prompt(i) })
        .to_string()
        .into_bytes()
}

#[derive(Debug, Clone, serde::Serialize)]
struct Stats {
    requests: usize,
    ok: usize,
    errors: usize,
    seconds: f64,
    req_per_s: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn stats(mut latencies_ms: Vec<f64>, errors: usize, seconds: f64) -> Stats {
    latencies_ms.sort_by(f64::total_cmp);
    let requests = latencies_ms.len() + errors;
    Stats {
        requests,
        ok: latencies_ms.len(),
        errors,
        seconds,
        req_per_s: latencies_ms.len() as f64 / seconds.max(1e-9),
        p50_ms: percentile(&latencies_ms, 0.50),
        p90_ms: percentile(&latencies_ms, 0.90),
        p99_ms: percentile(&latencies_ms, 0.99),
        max_ms: latencies_ms.last().copied().unwrap_or(f64::NAN),
    }
}

fn print(name: &str, s: &Stats) {
    println!(
        "{name:<34} {:>6} ok {:>4} err {:>7.1} req/s   p50 {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        s.ok, s.errors, s.req_per_s, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
    );
}

/// Waits until the server answers `/health` with 200, and returns the engine it reports.
fn wait_healthy(addr: SocketAddr) -> BenchResult<String> {
    let started = Instant::now();
    let mut conn = Conn::new(addr);
    loop {
        if let Ok((200, body)) = conn.call("GET", "/health", b"") {
            let health: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| format!("/health is not JSON: {e}"))?;
            return Ok(health["engine"].as_str().unwrap_or("unknown").to_string());
        }
        if started.elapsed() > Duration::from_secs(180) {
            return Err("the server did not become healthy in 180 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn raw_sweep(args: &Args) -> BenchResult<()> {
    let embedder = load_embedder(args)?;
    let mut next = 0usize;
    println!(
        "raw embedding throughput by batch size (distinct ~60-token prompts, {} threads)",
        args.threads
    );
    for batch in [1usize, 2, 4, 8, 16, 32, 64] {
        let started = Instant::now();
        let mut done = 0;
        while done < 128.max(batch * 4) && started.elapsed() < Duration::from_secs(20) {
            let texts: Vec<String> = (0..batch)
                .map(|_| {
                    next += 1;
                    prompt(next)
                })
                .collect();
            embedder.embed_detailed(&texts).map_err(|e| e.to_string())?;
            done += batch;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "batch {batch:>3}: {:>7.1} prompts/s  {:>7.2} ms per pass",
            done as f64 / secs,
            secs * 1e3 * batch as f64 / done as f64
        );
    }
    Ok(())
}

fn run(args: &Args) -> BenchResult<()> {
    if args.raw_sweep {
        return raw_sweep(args);
    }
    let addr = loopback_addr(&args.url)?;
    let server_engine = wait_healthy(addr)?;
    let next = Arc::new(AtomicUsize::new(0));
    let take = |n: &AtomicUsize| n.fetch_add(1, Ordering::Relaxed);
    let mut report = serde_json::Map::new();
    report.insert("server_engine".into(), server_engine.clone().into());
    println!(
        "load-bench: POST {} on {addr} (engine: {server_engine}); distinct ~60-token prompts",
        args.path
    );

    // Warm-up.
    let mut conn = Conn::new(addr);
    for _ in 0..20 {
        conn.call("POST", &args.path, &body(take(&next)))?;
    }

    // 1. Raw embedding in this process, one prompt at a time, while the server idles; then the same
    //    number of sequential requests. (Interleaving the two would make the two processes' inference
    //    threads compete for the same cores and caches.)
    let embedder = if args.raw_embed {
        let embedder = load_embedder(args)?;
        // The overhead over raw embedding only means something when both embed alike.
        if embedder.engine() != server_engine {
            return Err(format!(
                "the server embeds with `{server_engine}` but the in-process embedder with `{}`: \
                 give load-bench the server's --precision (scripts/load-bench takes it from SERVE_ARGS)",
                embedder.engine()
            ));
        }
        Some(embedder)
    } else {
        None
    };
    let (mut raw_lat, mut tokens) = (Vec::new(), 0usize);
    let raw_started = Instant::now();
    if let Some(embedder) = &embedder {
        for _ in 0..args.sequential {
            let text = prompt(take(&next));
            let t = Instant::now();
            let e = embedder
                .embed_detailed(std::slice::from_ref(&text))
                .map_err(|e| e.to_string())?;
            raw_lat.push(t.elapsed().as_secs_f64() * 1e3);
            tokens += e.first().map_or(0, |e| e.tokens);
            if raw_started.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
    }
    let raw_seconds = raw_started.elapsed().as_secs_f64();
    // Let this process's inference threads go idle before the server works.
    std::thread::sleep(Duration::from_millis(200));
    let (mut lat, mut errors) = (Vec::new(), 0usize);
    let started = Instant::now();
    for _ in 0..args.sequential {
        let t = Instant::now();
        let (status, _) = conn.call("POST", &args.path, &body(take(&next)))?;
        if status == 200 {
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        } else {
            errors += 1;
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let sequential = stats(lat, errors, seconds);
    print("sequential (1 client)", &sequential);
    report.insert("sequential".into(), to_json(&sequential));

    // 2. The overhead: route latency over raw embedding latency at p50.
    if embedder.is_some() {
        let n = raw_lat.len().max(1);
        let raw = stats(raw_lat, 0, raw_seconds);
        print("raw embed, in-process (1 prompt)", &raw);
        let mean_tokens = tokens as f64 / n as f64;
        println!("{:<34} mean {mean_tokens:.1} tokens per prompt", "");
        let overhead = sequential.p50_ms - raw.p50_ms;
        println!(
            "{:<34} {overhead:+.2} ms at p50 (sequential route p50 {:.2} ms - raw embed p50 {:.2} ms)",
            "HTTP + policy overhead", sequential.p50_ms, raw.p50_ms
        );
        report.insert("raw_embed".into(), to_json(&raw));
        report.insert("mean_tokens".into(), mean_tokens.into());
        report.insert("overhead_p50_ms".into(), overhead.into());
    }
    // The ceiling for the closed loop: the same embedder on batches as large as the client count.
    if let Some(embedder) = &embedder {
        let batch = args.clients.clamp(1, 64);
        let started = Instant::now();
        let mut done = 0usize;
        while done < 4 * batch.max(16) && started.elapsed() < Duration::from_secs(30) {
            let texts: Vec<String> = (0..batch).map(|_| prompt(take(&next))).collect();
            embedder.embed_detailed(&texts).map_err(|e| e.to_string())?;
            done += batch;
        }
        let rate = done as f64 / started.elapsed().as_secs_f64();
        println!(
            "{:<34} {rate:>7.1} prompts/s (batches of {batch}; the closed loop's ceiling)",
            "raw embed, in-process, batched"
        );
        report.insert("raw_batched_prompts_per_s".into(), rate.into());
    }
    drop(embedder);

    // 2b. One repeated prompt: the embedding comes from the server's cache, so this is the whole
    //     non-inference path (HTTP, JSON, labels, policy) on its own.
    let repeated = body(0);
    let (mut lat, mut errors) = (Vec::new(), 0usize);
    let started = Instant::now();
    for _ in 0..args.sequential.max(1) * 2 {
        let t = Instant::now();
        match conn.call("POST", &args.path, &repeated)? {
            (200, _) => lat.push(t.elapsed().as_secs_f64() * 1e3),
            _ => errors += 1,
        }
    }
    let cached = stats(lat, errors, started.elapsed().as_secs_f64());
    print("repeated prompt (cache hit)", &cached);
    report.insert("cache_hit".into(), to_json(&cached));

    // 3. Closed loop.
    let closed = closed_loop(args, addr, &next);
    print(&format!("closed loop ({} clients)", args.clients), &closed);
    report.insert("closed_loop".into(), to_json(&closed));

    // 4. Open loop.
    let open = open_loop(args, addr, &next);
    print(&format!("open loop ({} req/s)", args.rate), &open);
    report.insert("open_loop".into(), to_json(&open));

    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(report))
            .map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

fn to_json(s: &Stats) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or(serde_json::Value::Null)
}

fn load_embedder(args: &Args) -> BenchResult<triage::embedding::MiniLmEmbedder> {
    let settings = triage::embedding::EmbedderSettings {
        model_cache: triage::embedding::acquire::resolve_cache_dir(
            std::env::var_os("TRIAGE_MODEL_CACHE")
                .map(std::path::PathBuf::from)
                .as_deref(),
        ),
        device: triage::embedding::DeviceChoice::Cpu,
        threads: args.threads.max(1),
        engine: triage::embedding::EngineChoice::Native,
        kernels: triage::embedding::KernelChoice::Fused,
        precision: args.precision,
    };
    triage::configure_threads(settings.threads);
    let embedder = triage::embedding::load(&settings).map_err(|e| e.to_string())?;
    eprintln!("load-bench: in-process embedder: {}", embedder.engine());
    for i in 0..10 {
        embedder
            .embed_detailed(&[prompt(usize::MAX / 2 + i)])
            .map_err(|e| e.to_string())?;
    }
    Ok(embedder)
}

fn closed_loop(args: &Args, addr: SocketAddr, next: &Arc<AtomicUsize>) -> Stats {
    let sent = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(args.closed_secs.max(0.1));
    let started = Instant::now();
    let handles: Vec<_> = (0..args.clients.max(1))
        .map(|_| {
            let (sent, next) = (Arc::clone(&sent), Arc::clone(next));
            let (path, total) = (args.path.clone(), args.requests);
            std::thread::spawn(move || {
                let mut conn = Conn::new(addr);
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                while sent.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                    let b = body(next.fetch_add(1, Ordering::Relaxed));
                    let t = Instant::now();
                    match conn.call("POST", &path, &b) {
                        Ok((200, _)) => lat.push(t.elapsed().as_secs_f64() * 1e3),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for h in handles {
        if let Ok((l, e)) = h.join() {
            lat.extend(l);
            errors += e;
        }
    }
    stats(lat, errors, started.elapsed().as_secs_f64())
}

fn open_loop(args: &Args, addr: SocketAddr, next: &Arc<AtomicUsize>) -> Stats {
    let rate = args.rate.clamp(0.1, 10_000.0);
    let total = (rate * args.open_secs.clamp(0.1, 600.0)).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let rx = Arc::new(Mutex::new(rx));
    let results = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (rx, results, path) = (Arc::clone(&rx), Arc::clone(&results), args.path.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::new(addr);
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    let Ok((scheduled, b)) = job else { return };
                    let outcome = conn.call("POST", &path, &b);
                    // From the scheduled send time: waiting for a free worker counts too.
                    let ms = scheduled.elapsed().as_secs_f64() * 1e3;
                    if let Ok(mut r) = results.lock() {
                        match outcome {
                            Ok((200, _)) => r.0.push(ms),
                            _ => r.1 += 1,
                        }
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        let now = Instant::now();
        if scheduled > now {
            std::thread::sleep(scheduled - now);
        }
        if tx
            .send((scheduled, body(next.fetch_add(1, Ordering::Relaxed))))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (lat, errors) = match Arc::try_unwrap(results) {
        Ok(m) => m.into_inner().unwrap_or_default(),
        Err(shared) => shared.lock().map(|r| r.clone()).unwrap_or_default(),
    };
    stats(lat, errors, elapsed)
}
