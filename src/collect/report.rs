//! What a collect run writes: the outcomes in the training-data record format (`outcomes.jsonl`), the
//! sample it measured (`sample.jsonl`), `report.json` and the printed summary — mean outcome per provider
//! × domain × level with intervals, spend, latency, the judge's agreement with itself across orders, and
//! the current artifacts' routing on these prompts against the best choice the outcomes show.

use super::ask::{worst_case, Endpoint};
use super::budget::{usd, Budget};
use super::journal::{Entry, Journal, Kind};
use super::sample::{LogRead, SampledItem};
use super::{answer_key, judgment_key, score_key, CollectJob, Judging, RunIdentity, PAIR_ORDERS};
use crate::brain::Brain;
use crate::error::{Error, Result};
use crate::routing::RouteOptions;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The outcomes, one training-data record per measured prompt.
pub const OUTCOMES_FILE: &str = "outcomes.jsonl";
/// The summary as JSON.
pub const REPORT_FILE: &str = "report.json";
/// The sampled prompts: id, origin, labels (the text only with `--keep-text`).
pub const SAMPLE_FILE: &str = "sample.jsonl";
/// The `source` of collected records.
pub const SOURCE: &str = "collected";

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    Complete,
    Budget,
    Interrupted,
}

/// The calls a run would make, before it makes any.
#[derive(Debug, Default)]
pub struct Plan {
    pub prompts: usize,
    pub answers_to_buy: usize,
    pub answers_reused: usize,
    pub judge_calls: usize,
    pub scorer_runs: usize,
    pub worst_case_pico: u64,
    pub label_mix: BTreeMap<(String, String), usize>,
}

impl Plan {
    pub fn of(
        sampled: &[SampledItem],
        providers: &[String],
        judging: &Judging,
        max_tokens: u32,
        endpoints: &BTreeMap<String, Endpoint>,
    ) -> Self {
        let mut plan = Plan {
            prompts: sampled.len(),
            ..Plan::default()
        };
        let judge = judging.judge_model().and_then(|j| endpoints.get(j));
        let filler = "x".repeat(max_tokens as usize * crate::input::BYTES_PER_TOKEN);
        for s in sampled {
            *plan
                .label_mix
                .entry((s.domain.to_string(), s.level.to_string()))
                .or_default() += 1;
            let request = super::judge::render_request(&s.item.messages);
            for p in providers {
                match (s.item.logged.contains_key(p), endpoints.get(p)) {
                    (true, _) => plan.answers_reused += 1,
                    (false, Some(e)) => {
                        plan.answers_to_buy += 1;
                        plan.worst_case_pico += worst_case(&s.item.messages, max_tokens, &e.prices);
                    }
                    (false, None) => {}
                }
            }
            let (calls, messages) = match judging {
                Judging::Single { .. } => (
                    providers.len(),
                    super::judge::single_messages(&request, &filler),
                ),
                Judging::Pairwise { .. } => (
                    2 * providers.len().saturating_sub(1),
                    super::judge::pair_messages(&request, &filler, &filler),
                ),
                Judging::Scorer { .. } => {
                    plan.scorer_runs += providers.len();
                    (0, Vec::new())
                }
            };
            plan.judge_calls += calls;
            if let Some(j) = judge {
                plan.worst_case_pico +=
                    calls as u64 * worst_case(&messages, super::judge::JUDGE_MAX_TOKENS, &j.prices);
            }
        }
        plan
    }

    /// Calls of every kind (the progress bar's length).
    pub fn calls(&self) -> usize {
        self.answers_to_buy + self.answers_reused + self.judge_calls + self.scorer_runs
    }

    pub fn render(&self, read: &LogRead, job: &CollectJob) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "triage: {} records, {} distinct prompts ({} duplicates, {} bad); sampled {} of the {} asked",
            read.records,
            read.items.len(),
            read.duplicates,
            read.bad.len(),
            self.prompts,
            job.sample
        );
        let _ = writeln!(t, "label mix of the sample (domain x level: prompts):");
        for ((d, l), n) in &self.label_mix {
            let _ = writeln!(t, "  {d:<10} {l:<7} {n}");
        }
        let _ = writeln!(
            t,
            "calls: {} answers to buy, {} answers reused from the logs, {} judge calls, {} scorer runs",
            self.answers_to_buy, self.answers_reused, self.judge_calls, self.scorer_runs
        );
        let _ = writeln!(
            t,
            "worst-case cost: ${:.4} (every prompt byte a token, every answer {} tokens; a judge call reads answers of {} bytes); budget ${:.4}",
            usd(self.worst_case_pico),
            job.max_tokens,
            job.max_tokens as usize * crate::input::BYTES_PER_TOKEN,
            job.budget_usd
        );
        t
    }
}

/// The fields two runs' identities differ in.
pub fn differences(old: &RunIdentity, new: &RunIdentity) -> Vec<String> {
    let mut d = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            d.push(format!("different {name}"));
        }
    };
    check("logs", old.inputs == new.inputs);
    check("log contents", old.inputs_sha256 == new.inputs_sha256);
    check("--providers", old.providers == new.providers);
    check("judge", old.judging == new.judging);
    check("--sample", old.sample == new.sample);
    check("--seed", old.seed == new.seed);
    check("--max-tokens", old.max_tokens == new.max_tokens);
    check("--keep-text", old.keep_text == new.keep_text);
    check("format", old.format == new.format);
    d
}

/// What [`write`] reads.
pub struct Inputs<'a> {
    pub out: &'a Path,
    pub job: &'a CollectJob,
    pub brain: &'a Brain,
    pub sampled: &'a [SampledItem],
    pub providers: &'a [String],
    pub judging: &'a Judging,
    pub journal: &'a Journal,
    pub budget: &'a Budget,
    pub read: &'a LogRead,
    pub failures: &'a BTreeMap<(String, String), u64>,
    pub calls_this_run: u64,
    pub seconds: f64,
    pub stop: Stop,
}

/// What [`write`] produced.
pub struct Written {
    pub text: String,
    pub failed_calls: u64,
}

/// A prompt's measured outcomes, costs and tokens per provider.
#[derive(Debug, Default)]
struct Measured {
    outcomes: BTreeMap<String, f64>,
    cost: BTreeMap<String, Option<u64>>,
    tokens: BTreeMap<String, Value>,
}

/// The score of the judgment (or score) under `key`, from its first or second try.
fn final_score(journal: &Journal, key: &str, second: &str) -> Option<f64> {
    journal
        .get(key)
        .filter(Entry::ok)
        .or_else(|| journal.get(second).filter(Entry::ok))
        .and_then(|e| e.score)
}

fn measure(journal: &Journal, judging: &Judging, providers: &[String], item: &str) -> Measured {
    let mut m = Measured::default();
    let answers: BTreeMap<&str, Entry> = providers
        .iter()
        .filter_map(|p| journal.get(&answer_key(item, p)).map(|e| (p.as_str(), e)))
        .collect();
    for p in answers.keys() {
        let outcome = match judging {
            Judging::Single { .. } => final_score(
                journal,
                &judgment_key(item, p, None, false),
                &judgment_key(item, p, None, true),
            ),
            Judging::Scorer { .. } => final_score(
                journal,
                &score_key(item, p, false),
                &score_key(item, p, true),
            ),
            Judging::Pairwise { reference, .. } if *p == reference.as_str() => None,
            Judging::Pairwise { .. } => {
                let orders: Vec<f64> = PAIR_ORDERS
                    .iter()
                    .filter_map(|o| {
                        final_score(
                            journal,
                            &judgment_key(item, p, Some(o), false),
                            &judgment_key(item, p, Some(o), true),
                        )
                    })
                    .collect();
                (orders.len() == 2).then(|| (orders[0] + orders[1]) / 2.0)
            }
        };
        if let Some(o) = outcome {
            m.outcomes.insert(p.to_string(), o);
        }
    }
    // The reference is the pairwise scale's midpoint wherever an answer was compared with it.
    if let Judging::Pairwise { reference, .. } = judging {
        if answers.contains_key(reference.as_str()) && !m.outcomes.is_empty() {
            m.outcomes.insert(reference.clone(), 0.5);
        }
    }
    for (p, e) in &answers {
        if !m.outcomes.contains_key(*p) {
            continue;
        }
        m.cost
            .insert(p.to_string(), (!e.reused).then_some(e.cost_pico));
        if let Some(u) = e.usage {
            m.tokens
                .insert(p.to_string(), json!({"input": u.input, "output": u.output}));
        }
    }
    m
}

/// Mean and a 95% interval (normal approximation; `None` below two values).
fn mean_ci(values: &[f64]) -> (f64, Option<(f64, f64)>) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, None);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = 1.96 * (var / n).sqrt();
    (mean, Some(((mean - half).max(0.0), (mean + half).min(1.0))))
}

fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(k).copied()
}

/// Writes the outputs and returns the summary text.
pub fn write(inp: &Inputs) -> Result<Written> {
    let journal = inp.journal;
    let mut outcome_lines = Vec::new();
    let mut sample_lines = Vec::new();
    let mut measured: Vec<(&SampledItem, Measured)> = Vec::new();
    let judge_name = inp.judging.describe();
    for s in inp.sampled {
        let m = measure(journal, inp.judging, inp.providers, &s.item.id);
        let mut sample = json!({
            "id": s.item.id,
            "origin": s.item.origin,
            "labels": {"domain": s.domain, "level": s.level, "difficulty": s.difficulty},
            "measured": m.outcomes.len(),
        });
        if inp.job.keep_text {
            sample["prompt"] = json!(s.item.prompt);
        }
        sample_lines.push(sample);
        if !m.outcomes.is_empty() {
            let e = &s.embedding;
            let mut record = json!({
                "id": format!("{SOURCE}:{}", s.item.id),
                "source": SOURCE,
                "task": s.domain,
                "domain": null,
                "embedding": {
                    "model": crate::embedding::MODEL_ID,
                    "vector": e.vector,
                    "mid_layer": e.mid_layer,
                    "tokens": e.tokens,
                    "full_tokens": e.full_tokens,
                    "truncated": e.truncated,
                },
                "labels": {"domain": s.domain, "level": s.level, "difficulty": s.difficulty},
                "outcomes": m.outcomes,
                "cost_usd": m.cost.iter().filter_map(|(p, c)| c.map(|c| (p.clone(), usd(c)))).collect::<BTreeMap<_, _>>(),
                "tokens": m.tokens,
                "judge": judge_name,
            });
            if inp.job.keep_text {
                record["prompt"] = json!(s.item.prompt);
            }
            outcome_lines.push(record);
            measured.push((s, m));
        }
    }
    let jsonl = |lines: &[Value]| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for l in lines {
            out.extend(serde_json::to_vec(l).map_err(|e| Error::json("an output record", e))?);
            out.push(b'\n');
        }
        Ok(out)
    };
    crate::files::write_atomic(&inp.out.join(OUTCOMES_FILE), &jsonl(&outcome_lines)?)?;
    crate::files::write_atomic(&inp.out.join(SAMPLE_FILE), &jsonl(&sample_lines)?)?;

    let entries = journal.entries();
    let report = build_report(inp, &measured, &entries);
    let mut bytes = serde_json::to_vec_pretty(&report).map_err(|e| Error::json("the report", e))?;
    bytes.push(b'\n');
    crate::files::write_atomic(&inp.out.join(REPORT_FILE), &bytes)?;
    let failed_calls = inp.failures.values().sum();
    Ok(Written {
        text: render(&report, inp),
        failed_calls,
    })
}

fn build_report(inp: &Inputs, measured: &[(&SampledItem, Measured)], entries: &[Entry]) -> Value {
    let providers = inp.providers;
    // Per provider, and per provider x domain x level.
    let mut cells: BTreeMap<(String, &str, &str), Vec<f64>> = BTreeMap::new();
    for (s, m) in measured {
        for (p, o) in &m.outcomes {
            cells
                .entry((p.clone(), s.domain, s.level))
                .or_default()
                .push(*o);
        }
    }
    let ci_json = |ci: Option<(f64, f64)>| ci.map(|(lo, hi)| json!([lo, hi]));
    let cell_rows: Vec<Value> = cells
        .iter()
        .map(|((p, d, l), v)| {
            let (mean, ci) = mean_ci(v);
            json!({"provider": p, "domain": d, "level": l, "prompts": v.len(), "mean_outcome": mean, "ci95": ci_json(ci)})
        })
        .collect();
    let mut per_provider = serde_json::Map::new();
    for p in providers {
        let values: Vec<f64> = measured
            .iter()
            .filter_map(|(_, m)| m.outcomes.get(p).copied())
            .collect();
        let (mean, ci) = mean_ci(&values);
        let answers: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.kind == Kind::Answer && &e.provider == p)
            .collect();
        let mut latencies: Vec<u64> = answers
            .iter()
            .filter(|e| !e.reused)
            .map(|e| e.latency_ms)
            .collect();
        latencies.sort_unstable();
        let cost: u64 = answers.iter().map(|e| e.cost_pico).sum();
        let bought = answers.iter().filter(|e| !e.reused).count();
        per_provider.insert(
            p.clone(),
            json!({
                "answers": answers.len(),
                "answers_bought": bought,
                "answers_reused": answers.len() - bought,
                "measured_prompts": values.len(),
                "mean_outcome": mean,
                "ci95": ci_json(ci),
                "cost_usd": usd(cost),
                "mean_cost_usd": if bought > 0 { usd(cost) / bought as f64 } else { 0.0 },
                "latency_ms_p50": percentile(&latencies, 0.5),
                "latency_ms_p95": percentile(&latencies, 0.95),
                "failed_calls": inp.failures.iter().filter(|((by, _), _)| by == p).map(|(_, n)| n).sum::<u64>(),
            }),
        );
    }
    let judge_entries: Vec<&Entry> = entries.iter().filter(|e| e.kind != Kind::Answer).collect();
    let judge_cost: u64 = judge_entries.iter().map(|e| e.cost_pico).sum();
    let unparseable = judge_entries.iter().filter(|e| !e.ok()).count();
    let agreement = match inp.judging {
        Judging::Pairwise { .. } => {
            let (mut pairs, mut consistent, mut first_wins, mut decided) = (0, 0, 0, 0);
            for (s, _) in measured {
                for p in providers {
                    let score = |o: &str| {
                        final_score(
                            inp.journal,
                            &judgment_key(&s.item.id, p, Some(o), false),
                            &judgment_key(&s.item.id, p, Some(o), true),
                        )
                    };
                    if let (Some(ab), Some(ba)) = (score("ab"), score("ba")) {
                        pairs += 1;
                        if (ab - ba).abs() < 1e-9 {
                            consistent += 1;
                        }
                        // In order ab the candidate is first; in ba the reference is.
                        for (first_won, s) in [(ab == 1.0, ab), (ba == 0.0, ba)] {
                            if s != 0.5 {
                                decided += 1;
                                first_wins += usize::from(first_won);
                            }
                        }
                    }
                }
            }
            json!({
                "pairs_judged_in_both_orders": pairs,
                "same_verdict_in_both_orders": consistent,
                "agreement": if pairs > 0 { json!(consistent as f64 / pairs as f64) } else { Value::Null },
                "first_position_wins": if decided > 0 { json!(first_wins as f64 / decided as f64) } else { Value::Null },
            })
        }
        _ => json!({"note": "measured in pairwise mode only (each pair asked in both orders)"}),
    };
    json!({
        "run": {
            "inputs": inp.job.inputs,
            "providers": providers,
            "judge": inp.judging.describe(),
            "sample_asked": inp.job.sample,
            "sampled": inp.sampled.len(),
            "seed": inp.job.seed,
            "max_tokens": inp.job.max_tokens,
        },
        "progress": {
            "stopped": inp.stop,
            "prompts_measured": measured.len(),
            "prompts_complete": measured.iter().filter(|(_, m)| m.outcomes.len() == providers.len()).count(),
            "log_records": inp.read.records,
            "bad_records": inp.read.bad.len(),
            "calls_this_run": inp.calls_this_run,
            "seconds": inp.seconds,
            "calls_per_second": if inp.seconds > 0.0 { inp.calls_this_run as f64 / inp.seconds } else { 0.0 },
            "failed_calls": inp.failures.iter().map(|((by, why), n)| json!({"by": by, "why": why, "calls": n})).collect::<Vec<_>>(),
        },
        "spend": {
            "budget_usd": inp.job.budget_usd,
            "spent_usd": usd(inp.budget.spent()),
            "spent_pico_usd": inp.budget.spent(),
            "answers_usd": usd(entries.iter().filter(|e| e.kind == Kind::Answer).map(|e| e.cost_pico).sum()),
            "judge_usd": usd(judge_cost),
            "usage_estimated_calls": entries.iter().filter(|e| e.usage_estimated).count(),
        },
        "label_mix": measured.iter().fold(BTreeMap::<String, usize>::new(), |mut acc, (s, _)| {
            *acc.entry(format!("{}/{}", s.domain, s.level)).or_default() += 1;
            acc
        }),
        "providers": per_provider,
        "cells": cell_rows,
        "judge": {
            "name": inp.judging.describe(),
            "calls": judge_entries.len(),
            "unparseable": unparseable,
            "self_agreement": agreement,
        },
        "routing": routing_comparison(inp, measured),
    })
}

/// The current artifacts' decisions on the fully measured prompts (among the run's providers) against
/// the best choice per prompt (highest outcome, cheapest among ties) and each provider alone.
fn routing_comparison(inp: &Inputs, measured: &[(&SampledItem, Measured)]) -> Value {
    let providers = inp.providers;
    let complete: Vec<&(&SampledItem, Measured)> = measured
        .iter()
        .filter(|(_, m)| {
            providers
                .iter()
                .all(|p| m.outcomes.contains_key(p) && matches!(m.cost.get(p), Some(Some(_))))
        })
        .collect();
    if complete.is_empty() {
        return json!({"prompts": 0, "note": "no prompt has a bought answer and an outcome from every provider"});
    }
    let options = RouteOptions {
        allowed: Some(providers.to_vec()),
        ..RouteOptions::default()
    };
    let cost = |m: &Measured, p: &str| m.cost.get(p).copied().flatten().unwrap_or(0);
    let (mut cur_q, mut cur_c, mut best_q, mut best_c) = (0.0, 0u64, 0.0, 0u64);
    let mut routed = 0usize;
    let mut choices: BTreeMap<String, usize> = BTreeMap::new();
    for (s, m) in &complete {
        let best = providers
            .iter()
            .max_by(|a, b| {
                m.outcomes[*a]
                    .total_cmp(&m.outcomes[*b])
                    .then(cost(m, b).cmp(&cost(m, a)))
            })
            .map(String::as_str)
            .unwrap_or_default();
        best_q += m.outcomes.get(best).copied().unwrap_or(0.0);
        best_c += cost(m, best);
        let labels = inp.brain.label(&s.embedding);
        if let Ok(d) = inp.brain.route(&labels, &options) {
            if let Some(q) = m.outcomes.get(&d.provider) {
                routed += 1;
                cur_q += q;
                cur_c += cost(m, &d.provider);
                *choices.entry(d.provider.clone()).or_default() += 1;
            }
        }
    }
    let n = complete.len() as f64;
    let single: BTreeMap<&String, Value> = providers
        .iter()
        .map(|p| {
            let q: f64 = complete.iter().map(|(_, m)| m.outcomes[p]).sum::<f64>() / n;
            let c: u64 = complete.iter().map(|(_, m)| cost(m, p)).sum();
            (p, json!({"mean_outcome": q, "cost_usd": usd(c)}))
        })
        .collect();
    json!({
        "prompts": complete.len(),
        "current_artifacts": {
            "routed": routed,
            "mean_outcome": if routed > 0 { json!(cur_q / routed as f64) } else { Value::Null },
            "cost_usd": usd(cur_c),
            "choices": choices,
        },
        "best_choice": {"mean_outcome": best_q / n, "cost_usd": usd(best_c)},
        "single_provider": single,
    })
}

fn render(report: &Value, inp: &Inputs) -> String {
    let mut t = String::new();
    let f = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.3}"));
    let ci = |v: &Value| match v.as_array() {
        Some(a) if a.len() == 2 => format!("[{}, {}]", f(&a[0]), f(&a[1])),
        _ => "-".to_string(),
    };
    let progress = &report["progress"];
    let _ = writeln!(
        t,
        "== collect: {} of {} sampled prompts measured ({} by every provider) ==",
        progress["prompts_measured"], report["run"]["sampled"], progress["prompts_complete"]
    );
    let _ = writeln!(
        t,
        "{:<34} {:>8} {:>7} {:>16} {:>11} {:>9} {:>9}",
        "provider", "prompts", "mean", "95% interval", "cost $", "p50 ms", "p95 ms"
    );
    if let Some(map) = report["providers"].as_object() {
        for (p, v) in map {
            let _ = writeln!(
                t,
                "{:<34} {:>8} {:>7} {:>16} {:>11.5} {:>9} {:>9}",
                p,
                v["measured_prompts"].to_string(),
                f(&v["mean_outcome"]),
                ci(&v["ci95"]),
                v["cost_usd"].as_f64().unwrap_or(0.0),
                v["latency_ms_p50"].to_string(),
                v["latency_ms_p95"].to_string()
            );
        }
    }
    let _ = writeln!(t, "by domain and level (mean outcome, prompts):");
    if let Some(rows) = report["cells"].as_array() {
        for r in rows {
            let _ = writeln!(
                t,
                "  {:<32} {:<10} {:<7} {:>6} {:>5}  {}",
                r["provider"].as_str().unwrap_or(""),
                r["domain"].as_str().unwrap_or(""),
                r["level"].as_str().unwrap_or(""),
                f(&r["mean_outcome"]),
                r["prompts"].to_string(),
                ci(&r["ci95"])
            );
        }
    }
    let judge = &report["judge"];
    let _ = writeln!(
        t,
        "judge: {}; {} calls, {} unparseable replies",
        judge["name"].as_str().unwrap_or(""),
        judge["calls"],
        judge["unparseable"]
    );
    if let Some(a) = judge["self_agreement"]["agreement"].as_f64() {
        let _ = writeln!(
            t,
            "judge's agreement with itself across orders: {:.1}% of {} pairs; the first answer shown won {} of decided verdicts",
            100.0 * a,
            judge["self_agreement"]["pairs_judged_in_both_orders"],
            judge["self_agreement"]["first_position_wins"]
                .as_f64()
                .map_or("-".into(), |x| format!("{:.1}%", 100.0 * x))
        );
    }
    let r = &report["routing"];
    if r["prompts"].as_u64().unwrap_or(0) > 0 {
        let _ = writeln!(
            t,
            "routing on the {} fully measured prompts: current artifacts mean outcome {} for ${:.5}; best choice per prompt {} for ${:.5}",
            r["prompts"],
            f(&r["current_artifacts"]["mean_outcome"]),
            r["current_artifacts"]["cost_usd"].as_f64().unwrap_or(0.0),
            f(&r["best_choice"]["mean_outcome"]),
            r["best_choice"]["cost_usd"].as_f64().unwrap_or(0.0)
        );
    }
    let spend = &report["spend"];
    let _ = writeln!(
        t,
        "spent ${:.6} of ${:.4} (answers ${:.6}, judge ${:.6}); {} calls in {:.1} s ({:.1} calls/s)",
        spend["spent_usd"].as_f64().unwrap_or(0.0),
        inp.job.budget_usd,
        spend["answers_usd"].as_f64().unwrap_or(0.0),
        spend["judge_usd"].as_f64().unwrap_or(0.0),
        inp.calls_this_run,
        inp.seconds,
        progress["calls_per_second"].as_f64().unwrap_or(0.0)
    );
    for ((by, why), n) in inp.failures {
        let _ = writeln!(
            t,
            "failed: {n} calls to {by}: {why} (a rerun tries them again)"
        );
    }
    match inp.stop {
        Stop::Complete => {}
        Stop::Budget => {
            let _ = writeln!(
                t,
                "stopped at the budget: the next call's worst case did not fit; {} of {} prompts measured. Rerun with a larger --budget-usd to continue",
                progress["prompts_measured"], report["run"]["sampled"]
            );
        }
        Stop::Interrupted => {
            let _ = writeln!(
                t,
                "interrupted: {} of {} prompts measured; rerun the same command to continue",
                progress["prompts_measured"], report["run"]["sampled"]
            );
        }
    }
    let _ = writeln!(
        t,
        "wrote {}, {} and {} in {}",
        OUTCOMES_FILE,
        SAMPLE_FILE,
        REPORT_FILE,
        inp.out.display()
    );
    t
}
