//! `triage collect`: measures the team's own providers on a sample of its own logs. Each sampled prompt
//! goes to each named provider (the proxy's upstreams and keys), a judge model (or the team's scorer)
//! turns each answer into an outcome in [0, 1], every finished call is journaled before it counts, and
//! the outcomes are written in the training-data format for `triage --retrain --collected DIR`. A hard
//! budget bounds what the run may spend; a rerun of the same command continues where it stopped.

pub mod ask;
pub mod budget;
pub mod journal;
pub mod judge;
pub mod report;
pub mod sample;

use crate::artifacts::ArtifactSource;
use crate::brain::Brain;
use crate::embedding::EmbedderSettings;
use crate::error::{Error, Result, EXIT_BAD_RECORDS, EXIT_OK};
use crate::input::{FieldChoice, InputFormat};
use crate::routing::RouteOptions;
use ask::{CallError, Endpoint, RetryPolicy};
use budget::{usd, Budget, TokenPrices};
use futures_util::StreamExt;
use journal::{Entry, Journal, Kind};
use sample::SampledItem;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Exit code of a run that stopped because the next call did not fit the budget (rerun with a larger
/// `--budget-usd` to continue).
pub const EXIT_BUDGET_REACHED: i32 = 5;
/// Exit code of a run stopped by Ctrl-C (SIGINT) after its calls in flight were journaled.
pub const EXIT_INTERRUPTED: i32 = 130;

/// How answers are judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judging {
    /// A judge model (a registry provider) rates each answer 1–10.
    Single { judge: String },
    /// A judge model compares each answer with the reference provider's, in both orders.
    Pairwise { judge: String, reference: String },
    /// The team's own program scores each answer.
    Scorer { command: String },
}

impl Judging {
    /// The judge model's registry name, if a model judges.
    pub fn judge_model(&self) -> Option<&str> {
        match self {
            Judging::Single { judge } | Judging::Pairwise { judge, .. } => Some(judge),
            Judging::Scorer { .. } => None,
        }
    }

    /// How the outcomes name their judge.
    pub fn describe(&self) -> String {
        match self {
            Judging::Single { judge } => format!("{judge} (single 1-10 rating)"),
            Judging::Pairwise { judge, reference } => {
                format!("{judge} (pairwise against {reference}, both orders)")
            }
            Judging::Scorer { command } => format!("scorer: {command}"),
        }
    }
}

/// One `triage collect` run, as the command line resolved it.
#[derive(Debug, Clone)]
pub struct CollectJob {
    pub inputs: Vec<String>,
    pub input_format: InputFormat,
    pub fields: FieldChoice,
    /// Providers to measure (registry names or aliases).
    pub providers: Vec<String>,
    pub judging: Judging,
    pub sample: usize,
    pub budget_usd: f64,
    pub out: PathBuf,
    pub seed: u64,
    /// Calls in flight per provider (and to the judge).
    pub concurrency: usize,
    pub max_tokens: u32,
    pub keep_text: bool,
    pub dry_run: bool,
    pub restart: bool,
    pub retry: RetryPolicy,
    pub artifacts: ArtifactSource,
    pub embedder: EmbedderSettings,
}

/// What must match for a rerun to continue a run: everything that decides which calls are made and
/// what they mean. The budget and the concurrency may change between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    pub format: u32,
    pub inputs: Vec<String>,
    /// sha256 of each input file's bytes (of the prompts read, for stdin).
    pub inputs_sha256: Vec<String>,
    pub providers: Vec<String>,
    pub judging: Judging,
    pub sample: usize,
    pub seed: u64,
    pub max_tokens: u32,
    pub keep_text: bool,
}

/// File in the output folder naming the run it holds.
pub const RUN_FILE: &str = "run.json";

/// A progress bar on stderr when it is a terminal (hidden otherwise).
pub fn progress_bar(show: bool, len: u64, what: &'static str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} (eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what);
    bar
}

/// Runs the collect door; returns the process exit code.
pub fn run(job: &CollectJob) -> Result<i32> {
    check(job)?;
    let brain = Brain::load(&job.artifacts, RouteOptions::default())?;
    let providers: Vec<String> = job
        .providers
        .iter()
        .map(|p| brain.policy.registry().canonical(p).to_string())
        .collect();
    let judging = canonical_judging(&job.judging, &brain);
    let registry = brain.policy.registry();
    let canonical = |model: &str| {
        let name = registry.canonical(model);
        providers
            .iter()
            .any(|p| p == name)
            .then(|| name.to_string())
    };
    let read = sample::read_logs(&job.inputs, job.input_format, &job.fields, &canonical)?;
    for problem in read.bad.iter().take(20) {
        eprintln!("triage: skipped {problem}");
    }
    if read.bad.len() > 20 {
        eprintln!("triage: ... and {} more bad records", read.bad.len() - 20);
    }
    if read.items.is_empty() {
        return Err(Error::Usage(format!(
            "no usable prompts in {} ({} records, {} bad)",
            job.inputs.join(", "),
            read.records,
            read.bad.len()
        )));
    }
    let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let embedder = crate::embedding::load(&job.embedder)?;
    let sampled = sample::choose(&read.items, job.sample, job.seed, &embedder, &brain, show)?;
    let endpoints = endpoints(job, &brain, &providers, &judging)?;
    let plan = report::Plan::of(&sampled, &providers, &judging, job.max_tokens, &endpoints);
    eprint!("{}", plan.render(&read, job));
    if job.dry_run {
        return Ok(EXIT_OK);
    }
    for e in endpoints.values() {
        if let Err(f) = crate::upstream::api_key(&e.upstream) {
            return Err(Error::Usage(format!(
                "provider `{}`: {}",
                e.provider,
                f.describe(Duration::ZERO)
            )));
        }
    }

    let identity = RunIdentity {
        format: 1,
        inputs: job.inputs.clone(),
        inputs_sha256: inputs_sha256(&job.inputs, &read)?,
        providers: providers.clone(),
        judging: judging.clone(),
        sample: job.sample,
        seed: job.seed,
        max_tokens: job.max_tokens,
        keep_text: job.keep_text,
    };
    prepare_folder(&job.out, &identity, job.restart)?;
    let journal = Arc::new(Journal::open(&job.out)?);
    let already: u64 = journal.entries().iter().map(|e| e.cost_pico).sum();
    let budget = Arc::new(Budget::new(job.budget_usd, already));
    let client = crate::upstream::client(Duration::from_secs(10), job.retry.timeout)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime for", "collect", e))?;
    let run = Arc::new(Run {
        client,
        budget: Arc::clone(&budget),
        retry: job.retry,
        journal: Arc::clone(&journal),
        endpoints,
        providers: providers.clone(),
        judging: judging.clone(),
        max_tokens: job.max_tokens,
        keep_text: job.keep_text,
        failures: Mutex::new(BTreeMap::new()),
        calls: AtomicU64::new(0),
        interrupted: AtomicBool::new(false),
        bar: progress_bar(show, plan.calls() as u64, "collect"),
    });
    let started = Instant::now();
    runtime.block_on(execute(Arc::clone(&run), &sampled, job.concurrency));
    let seconds = started.elapsed().as_secs_f64();
    run.bar.finish_and_clear();
    drop(runtime);

    let needs_text = |e: &Entry| job.keep_text || (e.kind == Kind::Answer && !run.judged(e));
    journal.compact(needs_text)?;
    let stop = if run.interrupted.load(Ordering::Relaxed) {
        report::Stop::Interrupted
    } else if budget.exhausted() {
        report::Stop::Budget
    } else {
        report::Stop::Complete
    };
    let failures = run
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let outcome = report::write(&report::Inputs {
        out: &job.out,
        job,
        brain: &brain,
        sampled: &sampled,
        providers: &providers,
        judging: &judging,
        journal: &journal,
        budget: &budget,
        read: &read,
        failures: &failures,
        calls_this_run: run.calls.load(Ordering::Relaxed),
        seconds,
        stop,
    })?;
    eprint!("{}", outcome.text);
    Ok(match stop {
        report::Stop::Interrupted => EXIT_INTERRUPTED,
        report::Stop::Budget => EXIT_BUDGET_REACHED,
        report::Stop::Complete if !read.bad.is_empty() || outcome.failed_calls > 0 => {
            EXIT_BAD_RECORDS
        }
        report::Stop::Complete => EXIT_OK,
    })
}

fn check(job: &CollectJob) -> Result<()> {
    let usage = |m: &str| Err(Error::Usage(m.into()));
    if job.providers.is_empty() {
        return usage("--providers names no provider");
    }
    if job.sample == 0 {
        return usage("--sample must be at least 1");
    }
    if !(job.budget_usd.is_finite() && job.budget_usd >= 0.0) {
        return usage("--budget-usd must be a finite number >= 0");
    }
    if job.concurrency == 0 {
        return usage("--concurrency must be at least 1");
    }
    if job.max_tokens == 0 {
        return usage("--max-tokens must be at least 1");
    }
    Ok(())
}

/// The judging with registry names for its models.
fn canonical_judging(judging: &Judging, brain: &Brain) -> Judging {
    let name = |n: &str| brain.policy.registry().canonical(n).to_string();
    match judging {
        Judging::Single { judge } => Judging::Single { judge: name(judge) },
        Judging::Pairwise { judge, reference } => Judging::Pairwise {
            judge: name(judge),
            reference: name(reference),
        },
        s @ Judging::Scorer { .. } => s.clone(),
    }
}

/// The run's providers and judge as endpoints: each must be in the registry with an upstream and both
/// prices (the budget needs them).
fn endpoints(
    job: &CollectJob,
    brain: &Brain,
    providers: &[String],
    judging: &Judging,
) -> Result<BTreeMap<String, Endpoint>> {
    let registry = brain.policy.registry();
    let table = brain.policy.table();
    let mut names: Vec<&str> = providers.iter().map(String::as_str).collect();
    if let Judging::Pairwise { reference, .. } = judging {
        if !providers.contains(reference) {
            return Err(Error::Usage(format!(
                "--reference `{reference}` must be one of --providers"
            )));
        }
    }
    if let Some(j) = judging.judge_model() {
        names.push(j);
    }
    let mut out = BTreeMap::new();
    for name in names {
        let entry = registry.get(name).ok_or_else(|| {
            Error::Usage(format!(
                "`{name}` is not in the provider registry (providers.toml); add it with an `upstream`"
            ))
        })?;
        let upstream = entry.upstream.clone().ok_or_else(|| {
            Error::Usage(format!(
                "provider `{name}` has no `upstream` in providers.toml: collect cannot call it"
            ))
        })?;
        let stats = table.providers.iter().find(|p| p.name == name);
        let input = entry
            .input_usd_per_mtok
            .or(stats.and_then(|s| s.input_usd_per_mtok));
        let output = entry
            .output_usd_per_mtok
            .or(stats.and_then(|s| s.output_usd_per_mtok));
        let (Some(input), Some(output)) = (input, output) else {
            return Err(Error::Usage(format!(
                "provider `{name}` has no price in the registry: the budget cannot bound its calls"
            )));
        };
        out.insert(
            name.to_string(),
            Endpoint {
                provider: name.to_string(),
                key: crate::upstream::api_key(&upstream).ok().flatten(),
                upstream,
                prices: TokenPrices::from_usd_per_mtok(input, output),
                slots: Arc::new(tokio::sync::Semaphore::new(job.concurrency)),
            },
        );
    }
    Ok(out)
}

fn inputs_sha256(inputs: &[String], read: &sample::LogRead) -> Result<Vec<String>> {
    inputs
        .iter()
        .map(|p| {
            if p == "-" {
                let ids: Vec<&str> = read.items.iter().map(|i| i.id.as_str()).collect();
                Ok(crate::files::sha256_hex(ids.join("\n").as_bytes()))
            } else {
                crate::files::sha256_file(Path::new(p))
            }
        })
        .collect()
}

/// Makes `out` hold this run: a new folder gets `run.json`; a folder of the same run is continued; a
/// folder of another run is refused, or emptied of the run's files with `restart`.
fn prepare_folder(out: &Path, identity: &RunIdentity, restart: bool) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
    let run_file = out.join(RUN_FILE);
    let text = serde_json::to_vec_pretty(identity).map_err(|e| Error::json("run.json", e))?;
    if run_file.exists() {
        let old: Option<RunIdentity> = std::fs::read(&run_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if old.as_ref() == Some(identity) && !restart {
            eprintln!(
                "triage: continuing the run in {} (finished calls are not made again)",
                out.display()
            );
            return Ok(());
        }
        if !restart {
            let differs = match &old {
                Some(old) => report::differences(old, identity).join(", "),
                None => "its run.json is unreadable".into(),
            };
            return Err(Error::Usage(format!(
                "{} holds another collect run ({differs}); pass --restart to discard it and start over, or use another --out",
                out.display()
            )));
        }
        for name in [
            journal::FILE,
            RUN_FILE,
            report::OUTCOMES_FILE,
            report::REPORT_FILE,
            report::SAMPLE_FILE,
        ] {
            let path = out.join(name);
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
            }
        }
    }
    crate::files::write_atomic(&run_file, &text)
}

/// Shared state of the calls in flight.
struct Run {
    client: reqwest::Client,
    budget: Arc<Budget>,
    retry: RetryPolicy,
    journal: Arc<Journal>,
    endpoints: BTreeMap<String, Endpoint>,
    providers: Vec<String>,
    judging: Judging,
    max_tokens: u32,
    keep_text: bool,
    /// Calls that failed after their retries, by provider and reason.
    failures: Mutex<BTreeMap<(String, String), u64>>,
    /// Calls made (not read back from the journal) in this run.
    calls: AtomicU64,
    interrupted: AtomicBool,
    bar: indicatif::ProgressBar,
}

/// Journal keys.
fn answer_key(item: &str, provider: &str) -> String {
    format!("answer:{item}:{provider}")
}
fn judgment_key(item: &str, provider: &str, order: Option<&str>, second_try: bool) -> String {
    let mut k = format!("judgment:{item}:{provider}");
    if let Some(o) = order {
        k.push(':');
        k.push_str(o);
    }
    if second_try {
        k.push_str("#2");
    }
    k
}
fn score_key(item: &str, provider: &str, second_try: bool) -> String {
    format!(
        "score:{item}:{provider}{}",
        if second_try { "#2" } else { "" }
    )
}

/// The judgment calls one answer needs, as `(order, second-try)` key parts.
const PAIR_ORDERS: [&str; 2] = ["ab", "ba"];

impl Run {
    fn failed(&self, provider: &str, why: String) {
        *self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((provider.to_string(), why))
            .or_default() += 1;
    }

    fn show_spend(&self) {
        self.bar.set_message(format!(
            "spent ${:.4} of ${:.2}",
            usd(self.budget.spent()),
            usd(self.budget.cap())
        ));
    }

    async fn record(&self, entry: Entry) -> bool {
        let journal = Arc::clone(&self.journal);
        match tokio::task::spawn_blocking(move || journal.append(entry)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the journal could not be written; stopping");
                self.budget.close();
                false
            }
            Err(_) => {
                self.budget.close();
                false
            }
        }
    }

    /// Whether every judgment the answer `e` needs is final (its text is no longer needed).
    fn judged(&self, e: &Entry) -> bool {
        let final_at = |key: &str, second: &str| {
            self.journal.get(key).is_some_and(|j| j.ok()) || self.journal.get(second).is_some()
        };
        match &self.judging {
            Judging::Single { .. } => final_at(
                &judgment_key(&e.item, &e.provider, None, false),
                &judgment_key(&e.item, &e.provider, None, true),
            ),
            Judging::Scorer { .. } => final_at(
                &score_key(&e.item, &e.provider, false),
                &score_key(&e.item, &e.provider, true),
            ),
            Judging::Pairwise { reference, .. } => {
                let others: Vec<&String> =
                    self.providers.iter().filter(|p| *p != reference).collect();
                let pair_done = |p: &str| {
                    PAIR_ORDERS.iter().all(|o| {
                        final_at(
                            &judgment_key(&e.item, p, Some(o), false),
                            &judgment_key(&e.item, p, Some(o), true),
                        )
                    })
                };
                if &e.provider == reference {
                    others.iter().all(|p| {
                        pair_done(p) || self.journal.get(&answer_key(&e.item, p)).is_none()
                    })
                } else {
                    pair_done(&e.provider)
                }
            }
        }
    }

    /// The provider's answer to the item: from the journal, from the logs, or bought.
    async fn answer(&self, s: &SampledItem, provider: &str) -> Option<String> {
        let key = answer_key(&s.item.id, provider);
        if let Some(e) = self.journal.get(&key) {
            self.bar.inc(1);
            // After a compaction the text is gone only where no judgment needs it any more.
            return Some(e.answer.unwrap_or_default());
        }
        if let Some(text) = s.item.logged.get(provider) {
            let entry = Entry {
                reused: true,
                ..self.entry(
                    &key,
                    Kind::Answer,
                    s,
                    provider,
                    provider,
                    Some(text.clone()),
                )
            };
            self.bar.inc(1);
            return self.record(entry).await.then(|| text.clone());
        }
        let endpoint = self.endpoints.get(provider)?;
        let reply = ask::chat(
            &self.client,
            &self.budget,
            self.retry,
            endpoint,
            &s.item.messages,
            self.max_tokens,
            None,
        )
        .await;
        let entry = self.finished(s, provider, provider, &key, Kind::Answer, reply)?;
        self.record(entry.clone())
            .await
            .then(|| entry.answer.unwrap_or_default())
    }

    /// The entry of a finished call, not yet journaled (`None` for a call that did not finish: out of
    /// budget, or failed after its retries, which is counted). Every call passes here once.
    fn finished(
        &self,
        s: &SampledItem,
        provider: &str,
        by: &str,
        key: &str,
        kind: Kind,
        reply: std::result::Result<ask::Reply, CallError>,
    ) -> Option<Entry> {
        self.bar.inc(1);
        match reply {
            Ok(r) => {
                self.calls.fetch_add(1, Ordering::Relaxed);
                self.show_spend();
                Some(Entry {
                    usage: r.usage,
                    usage_estimated: r.usage.is_none(),
                    cost_pico: r.cost_pico,
                    cost_usd: usd(r.cost_pico),
                    latency_ms: r.latency_ms,
                    attempts: r.attempts,
                    ..self.entry(key, kind, s, provider, by, Some(r.text))
                })
            }
            Err(CallError::Budget) => None,
            Err(CallError::Failed { why, attempts }) => {
                self.calls
                    .fetch_add(u64::from(attempts > 0), Ordering::Relaxed);
                self.failed(by, why);
                None
            }
        }
    }

    fn entry(
        &self,
        key: &str,
        kind: Kind,
        s: &SampledItem,
        provider: &str,
        by: &str,
        text: Option<String>,
    ) -> Entry {
        Entry {
            key: key.to_string(),
            kind,
            item: s.item.id.clone(),
            provider: provider.to_string(),
            by: by.to_string(),
            status: "ok".into(),
            usage: None,
            cost_pico: 0,
            cost_usd: 0.0,
            latency_ms: 0,
            attempts: 0,
            reused: false,
            usage_estimated: false,
            answer_sha256: text
                .as_ref()
                .filter(|_| kind == Kind::Answer)
                .map(|t| crate::files::sha256_hex(t.as_bytes())),
            answer: if kind == Kind::Answer { text } else { None },
            score: None,
            verdict: None,
            judge_text: None,
            unix_ms: journal::now_ms(),
        }
    }

    /// One judgment by the judge model, tried at most twice when the reply cannot be parsed; the score
    /// (or `None`: unparseable twice, failed, or out of budget).
    async fn judge(
        &self,
        s: &SampledItem,
        provider: &str,
        order: Option<&str>,
        messages: &[Value],
    ) -> Option<f64> {
        let judge = self.judging.judge_model()?;
        let endpoint = self.endpoints.get(judge)?;
        for second in [false, true] {
            let key = judgment_key(&s.item.id, provider, order, second);
            if let Some(e) = self.journal.get(&key) {
                if e.ok() {
                    self.bar.inc(1);
                    return e.score;
                }
                continue;
            }
            let reply = ask::chat(
                &self.client,
                &self.budget,
                self.retry,
                endpoint,
                messages,
                judge::JUDGE_MAX_TOKENS,
                Some(0.0),
            )
            .await;
            let text = reply.as_ref().ok().map(|r| r.text.clone());
            let mut entry = self.finished(s, provider, judge, &key, Kind::Judgment, reply)?;
            let text = text.unwrap_or_default();
            let parsed = match order {
                None => {
                    judge::parse_rating(&text).map(|r| (r.to_string(), judge::rating_outcome(r)))
                }
                Some(o) => judge::parse_preference(&text)
                    .map(|v| (v.word().to_string(), judge::pair_outcome(v, o == "ab"))),
            };
            match parsed {
                Some((verdict, score)) => {
                    entry.verdict = Some(verdict);
                    entry.score = Some(score);
                }
                None => {
                    entry.status =
                        "error: the judge's reply has no verdict in the asked format".into()
                }
            }
            if self.keep_text {
                entry.judge_text = Some(text);
            }
            let ok = entry.ok();
            let score = entry.score;
            if !self.record(entry).await {
                return None;
            }
            if ok {
                return score;
            }
            if second {
                self.failed(judge, "unparseable judgment, twice".into());
            }
        }
        None
    }

    /// The team's scorer on one answer, tried at most twice.
    async fn score(
        &self,
        s: &SampledItem,
        provider: &str,
        command: &str,
        answer: &str,
    ) -> Option<f64> {
        let mut input = json!({
            "prompt": s.item.prompt,
            "answer": answer,
            "provider": provider,
        });
        if let (Some(expected), Some(map)) = (&s.item.expected, input.as_object_mut()) {
            map.insert("expected".into(), expected.clone());
        }
        if s.item.messages.len() > 1 {
            if let Some(map) = input.as_object_mut() {
                map.insert("messages".into(), Value::Array(s.item.messages.clone()));
            }
        }
        for second in [false, true] {
            let key = score_key(&s.item.id, provider, second);
            if let Some(e) = self.journal.get(&key) {
                if e.ok() {
                    self.bar.inc(1);
                    return e.score;
                }
                continue;
            }
            if self.budget.exhausted() {
                return None;
            }
            let started = Instant::now();
            let result = judge::run_scorer(command, &input, self.retry.timeout).await;
            self.bar.inc(1);
            let mut entry = self.entry(&key, Kind::Score, s, provider, "scorer", None);
            entry.latency_ms = started.elapsed().as_millis() as u64;
            entry.attempts = 1;
            match &result {
                Ok(v) => {
                    entry.score = Some(*v);
                    entry.verdict = Some(v.to_string());
                }
                Err(why) => entry.status = format!("error: {why}"),
            }
            if !self.record(entry).await {
                return None;
            }
            match result {
                Ok(v) => return Some(v),
                Err(why) if second => self.failed("scorer", why),
                Err(_) => {}
            }
        }
        None
    }

    /// Everything one sampled prompt needs: each provider's answer, then its judgments.
    async fn process(&self, s: &SampledItem) {
        let answers: Vec<(String, Option<String>)> = futures_util::future::join_all(
            self.providers
                .iter()
                .map(|p| async move { (p.clone(), self.answer(s, p).await) }),
        )
        .await;
        let answered: Vec<(&str, &str)> = answers
            .iter()
            .filter_map(|(p, a)| a.as_deref().map(|a| (p.as_str(), a)))
            .collect();
        let request = judge::render_request(&s.item.messages);
        match &self.judging {
            Judging::Single { .. } => {
                futures_util::future::join_all(answered.iter().map(|(p, a)| {
                    let messages = judge::single_messages(&request, a);
                    async move { self.judge(s, p, None, &messages).await }
                }))
                .await;
            }
            Judging::Pairwise { reference, .. } => {
                let Some((_, reference_answer)) =
                    answered.iter().find(|(p, _)| *p == reference.as_str())
                else {
                    return;
                };
                let request = &request;
                let calls = answered
                    .iter()
                    .filter(|(p, _)| *p != reference.as_str())
                    .flat_map(|(p, a)| {
                        PAIR_ORDERS.iter().map(move |o| {
                            let messages = if *o == "ab" {
                                judge::pair_messages(request, a, reference_answer)
                            } else {
                                judge::pair_messages(request, reference_answer, a)
                            };
                            (*p, *o, messages)
                        })
                    })
                    .collect::<Vec<_>>();
                futures_util::future::join_all(
                    calls.iter().map(|(p, o, m)| self.judge(s, p, Some(o), m)),
                )
                .await;
            }
            Judging::Scorer { command } => {
                futures_util::future::join_all(
                    answered.iter().map(|(p, a)| self.score(s, p, command, a)),
                )
                .await;
            }
        }
    }
}

/// Runs every sampled prompt (several at once; each provider's `--concurrency` bounds its calls) until
/// all are done, the budget stops new calls, or Ctrl-C does.
async fn execute(run: Arc<Run>, sampled: &[SampledItem], concurrency: usize) {
    let watcher = {
        let run = Arc::clone(&run);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                run.interrupted.store(true, Ordering::Relaxed);
                run.budget.close();
                run.bar.println(
                    "triage: stopping: no new calls; waiting for the calls in flight to be journaled",
                );
            }
        })
    };
    let in_flight = concurrency
        .saturating_mul(run.providers.len().max(1))
        .max(1);
    futures_util::stream::iter(sampled.iter())
        .map(|s| {
            let run = Arc::clone(&run);
            async move {
                if !run.budget.exhausted() {
                    run.process(s).await;
                }
            }
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
    watcher.abort();
}
