//! The hand-written probe sets (`probe/`, never trained on): does a person agree with the labels? Pairs of
//! (easier, harder) prompts of one domain, and prompts whose domain any reader agrees on; prompt length is
//! scored alongside as the baseline a difficulty score must beat. The folder's own files are the first set;
//! each subfolder holding both files is a later set, written after the data was shaped and reported apart,
//! so a set that the training data was ever extended toward is never the only measurement.

use crate::embedding::{Embedder, Embedding};
use crate::error::{Error, Result};
use crate::labels::{Heads, Labels};
use crate::routing::DOMAINS;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File of (easier, harder) pairs in a probe folder.
pub const PAIRS_FILE: &str = "pairs.jsonl";
/// File of domain-labelled prompts in a probe folder.
pub const DOMAINS_FILE: &str = "domains.jsonl";

#[derive(Debug, Deserialize)]
struct PairLine {
    domain: String,
    easier: String,
    harder: String,
}

#[derive(Debug, Deserialize)]
struct DomainLine {
    domain: String,
    prompt: String,
}

/// The probe set, read.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// (domain index, easier, harder).
    pub pairs: Vec<(usize, String, String)>,
    /// (domain index, prompt).
    pub domains: Vec<(usize, String)>,
}

fn domain_index(name: &str, file: &str, line: usize) -> Result<usize> {
    DOMAINS
        .iter()
        .position(|d| *d == name)
        .ok_or_else(|| Error::Usage(format!("{file}:{line}: unknown domain `{name}`")))
}

fn lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<(usize, T)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let name = path.display().to_string();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            serde_json::from_str(l)
                .map(|v| (k + 1, v))
                .map_err(|e| Error::Usage(format!("{name}:{}: {e}", k + 1)))
        })
        .collect()
}

impl Probe {
    /// Reads `dir/pairs.jsonl` and `dir/domains.jsonl`, each when it is there (a set may have only
    /// pairs or only domain prompts).
    pub fn load(dir: &Path) -> Result<Self> {
        let pairs_path = dir.join(PAIRS_FILE);
        let domains_path = dir.join(DOMAINS_FILE);
        let mut probe = Probe::default();
        if pairs_path.is_file() {
            for (line, p) in lines::<PairLine>(&pairs_path)? {
                let d = domain_index(&p.domain, PAIRS_FILE, line)?;
                probe.pairs.push((d, p.easier, p.harder));
            }
        }
        if domains_path.is_file() {
            for (line, p) in lines::<DomainLine>(&domains_path)? {
                let d = domain_index(&p.domain, DOMAINS_FILE, line)?;
                probe.domains.push((d, p.prompt));
            }
        }
        Ok(probe)
    }

    /// Every probe set under `dir`: the folder's own files (named after the folder), then each subfolder
    /// holding either file or both, in name order (named `folder/subfolder`). A folder with no set in it
    /// or its subfolders is an error.
    pub fn load_sets(dir: &Path) -> Result<Vec<(String, Probe)>> {
        let is_set = |d: &Path| d.join(PAIRS_FILE).is_file() || d.join(DOMAINS_FILE).is_file();
        let base = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "probe".into());
        let mut sets = Vec::new();
        if is_set(dir) {
            sets.push((base.clone(), Probe::load(dir)?));
        }
        let mut subdirs: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io("reading", dir, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && is_set(p))
            .collect();
        subdirs.sort();
        for sub in subdirs {
            let name = sub
                .file_name()
                .map(|n| format!("{base}/{}", n.to_string_lossy()))
                .unwrap_or_else(|| base.clone());
            sets.push((name, Probe::load(&sub)?));
        }
        if sets.is_empty() {
            return Err(Error::Usage(format!(
                "{}: no probe set ({PAIRS_FILE} or {DOMAINS_FILE}) in the folder or its subfolders",
                dir.display()
            )));
        }
        Ok(sets)
    }

    /// Every prompt, in a fixed order: the pairs' easier then harder prompts, then the domain prompts.
    pub fn texts(&self) -> Vec<String> {
        self.pairs
            .iter()
            .flat_map(|(_, e, h)| [e.clone(), h.clone()])
            .chain(self.domains.iter().map(|(_, p)| p.clone()))
            .collect()
    }
}

/// How a difficulty score does on the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairFigures {
    /// Share of pairs whose harder prompt scores higher (ties count half).
    pub ordered: f64,
    /// Share of the easier prompts at level `easy`.
    pub easier_easy: f64,
    /// Share of the harder prompts at level `hard`.
    pub harder_hard: f64,
}

/// The probe report.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// Which set: `probe` for the folder's own files, `probe/<subfolder>` for a later one.
    pub set: String,
    pub pairs: usize,
    /// Pairs where the harder prompt is the shorter one (in tokens).
    pub pairs_harder_shorter: usize,
    pub difficulty: PairFigures,
    /// Prompt length (tokens) as the score, its levels cut where the training pools cut it.
    pub length: PairFigures,
    /// Pairs ordered, per domain: (domain, ordered, pairs).
    pub ordered_by_domain: Vec<(String, usize, usize)>,
    pub domain_prompts: usize,
    pub domain_accuracy: f64,
    /// Domain accuracy per true domain: (domain, correct, prompts).
    pub domain_by_domain: Vec<(String, usize, usize)>,
}

fn pair_figures(pairs: &[(f64, usize, f64, usize)]) -> PairFigures {
    let n = pairs.len().max(1) as f64;
    let ordered = pairs
        .iter()
        .map(|&(e, _, h, _)| {
            if h > e {
                1.0
            } else if h == e {
                0.5
            } else {
                0.0
            }
        })
        .sum::<f64>();
    PairFigures {
        ordered: ordered / n,
        easier_easy: pairs.iter().filter(|p| p.1 == 0).count() as f64 / n,
        harder_hard: pairs.iter().filter(|p| p.3 == 2).count() as f64 / n,
    }
}

/// Labels the probe set `set` with `heads` and scores it; `length_cuts` (tokens) place prompt length's levels.
pub fn evaluate(
    set: &str,
    probe: &Probe,
    embedder: &dyn Embedder,
    heads: &Heads,
    length_cuts: [f64; 2],
) -> Result<ProbeReport> {
    // Read as serving reads them (`reading::for_labels`).
    let texts = crate::reading::all_for_labels(probe.texts().iter().map(String::as_str));
    let embedded: Vec<Embedding> = embedder.embed_detailed(&texts)?;
    let labels: Vec<Labels> = heads.label_batch(&embedded);
    let np = probe.pairs.len();
    if labels.len() != 2 * np + probe.domains.len() {
        return Err(Error::inference("the probe was embedded incompletely"));
    }
    let tokens = |k: usize| embedded[k].full_tokens as f64;
    let mut by_score = Vec::with_capacity(np);
    let mut by_length = Vec::with_capacity(np);
    let mut ordered_by_domain = vec![(0usize, 0usize); DOMAINS.len()];
    for (k, (d, _, _)) in probe.pairs.iter().enumerate() {
        let (e, h) = (&labels[2 * k], &labels[2 * k + 1]);
        by_score.push((
            f64::from(e.difficulty),
            e.level_index,
            f64::from(h.difficulty),
            h.level_index,
        ));
        let (te, th) = (tokens(2 * k), tokens(2 * k + 1));
        by_length.push((
            te,
            crate::labels::band(te, length_cuts),
            th,
            crate::labels::band(th, length_cuts),
        ));
        if let Some(slot) = ordered_by_domain.get_mut(*d) {
            slot.0 += usize::from(h.difficulty > e.difficulty);
            slot.1 += 1;
        }
    }
    let mut domain_by_domain = vec![(0usize, 0usize); DOMAINS.len()];
    for (k, (d, _)) in probe.domains.iter().enumerate() {
        let predicted = labels[2 * np + k].domain;
        if let Some(slot) = domain_by_domain.get_mut(*d) {
            slot.0 += usize::from(DOMAINS.get(*d) == Some(&predicted));
            slot.1 += 1;
        }
    }
    let named = |v: Vec<(usize, usize)>| {
        DOMAINS
            .iter()
            .zip(v)
            .map(|(d, (a, b))| (d.to_string(), a, b))
            .collect::<Vec<_>>()
    };
    let correct: usize = domain_by_domain.iter().map(|c| c.0).sum();
    Ok(ProbeReport {
        set: set.to_string(),
        pairs: np,
        pairs_harder_shorter: by_length.iter().filter(|p| p.2 < p.0).count(),
        difficulty: pair_figures(&by_score),
        length: pair_figures(&by_length),
        ordered_by_domain: named(ordered_by_domain),
        domain_prompts: probe.domains.len(),
        domain_accuracy: correct as f64 / probe.domains.len().max(1) as f64,
        domain_by_domain: named(domain_by_domain),
    })
}

/// Wilson score interval (95%) of a share `p` measured on `n` items: 156 pairs or 202 prompts are few, so
/// the report says how far a figure could move by the luck of the draw (a target of 90% read as 90.4% is
/// not a margin).
pub fn wilson_interval(p: f64, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    const Z: f64 = 1.959_964;
    let n = n as f64;
    let denom = 1.0 + Z * Z / n;
    let centre = (p + Z * Z / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// A share of `n` items with its Wilson interval: `88.4% (95% CI 84.1–91.7%)`.
fn with_interval(v: f64, n: usize) -> String {
    let (lo, hi) = wilson_interval(v, n);
    format!(
        "{:.1}% (95% CI {:.1}–{:.1}%)",
        100.0 * v,
        100.0 * lo,
        100.0 * hi
    )
}

/// The probe report as text.
pub fn render(r: &ProbeReport) -> String {
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    let pairs = if r.pairs > 0 {
        format!(
            "{} pairs ({} with the harder prompt shorter)",
            r.pairs, r.pairs_harder_shorter
        )
    } else {
        "no pairs".to_string()
    };
    let mut text = format!(
        "== probe set {} (hand-written, never trained on): {pairs}, {} domain prompts ==\n",
        r.set, r.domain_prompts
    );
    let per = |v: &[(String, usize, usize)]| {
        v.iter()
            .map(|(d, a, b)| format!("{d} {a}/{b}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // A set without pairs (or without domain prompts) has no figure for them, not a 0%.
    if r.pairs > 0 {
        for (name, f) in [("difficulty   ", r.difficulty), ("prompt length", r.length)] {
            text.push_str(&format!(
                "   {name}: pairs ordered {}  easier→easy {}  harder→hard {}\n",
                with_interval(f.ordered, r.pairs),
                pct(f.easier_easy),
                pct(f.harder_hard)
            ));
        }
        text.push_str(&format!(
            "   pairs ordered by domain: {}\n",
            per(&r.ordered_by_domain)
        ));
    }
    if r.domain_prompts > 0 {
        text.push_str(&format!(
            "   domain accuracy {} ({})\n",
            with_interval(r.domain_accuracy, r.domain_prompts),
            per(&r.domain_by_domain)
        ));
    }
    text
}

/// Every probe set's pairs and domain prompts pooled, as text; `None` with fewer than two sets. One set
/// of 60 pairs gives an interval 15 to 20 points wide; the sets together narrow it, and a figure
/// that holds on the set a target was set on but not on the others shows here.
pub fn render_pooled(reports: &[ProbeReport]) -> Option<String> {
    if reports.len() < 2 {
        return None;
    }
    let pairs: usize = reports.iter().map(|r| r.pairs).sum();
    let pooled = |share: fn(&ProbeReport) -> f64| {
        reports
            .iter()
            .map(|r| share(r) * r.pairs as f64)
            .sum::<f64>()
            / pairs.max(1) as f64
    };
    let prompts: usize = reports.iter().map(|r| r.domain_prompts).sum();
    let correct: usize = reports
        .iter()
        .flat_map(|r| r.domain_by_domain.iter().map(|c| c.1))
        .sum();
    let mut text = format!("== probe, all {} sets together ==\n", reports.len());
    if pairs > 0 {
        text.push_str(&format!(
            "   {pairs} pairs: difficulty orders {}, prompt length {}\n",
            with_interval(pooled(|r| r.difficulty.ordered), pairs),
            with_interval(pooled(|r| r.length.ordered), pairs)
        ));
    }
    if prompts > 0 {
        text.push_str(&format!(
            "   {prompts} domain prompts: {correct} right, {}\n",
            with_interval(correct as f64 / prompts as f64, prompts)
        ));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::{
        render, render_pooled, wilson_interval, PairFigures, Probe, ProbeReport, DOMAINS_FILE,
        PAIRS_FILE,
    };

    #[test]
    fn every_set_in_the_folder_and_its_subfolders_is_read_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let write_set = |d: &std::path::Path, prompt: &str| {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(
                d.join(PAIRS_FILE),
                format!(
                    "{{\"domain\": \"math\", \"easier\": \"1+1\", \"harder\": \"{prompt}\"}}\n"
                ),
            )
            .unwrap();
            std::fs::write(
                d.join(DOMAINS_FILE),
                format!("{{\"domain\": \"general\", \"prompt\": \"{prompt}\"}}\n"),
            )
            .unwrap();
        };
        let root = dir.path().join("probe");
        write_set(&root, "first");
        write_set(&root.join("zeta"), "last");
        write_set(&root.join("second"), "second");
        // A subfolder with domain prompts only is a set without pairs; a subfolder with neither file and
        // a stray file are ignored.
        std::fs::create_dir_all(root.join("third")).unwrap();
        std::fs::write(
            root.join("third").join(DOMAINS_FILE),
            "{\"domain\": \"code\", \"prompt\": \"third\"}\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("notes")).unwrap();
        std::fs::write(root.join("notes").join("pairs.txt"), "").unwrap();
        std::fs::write(root.join("README.md"), "x").unwrap();
        let sets = Probe::load_sets(&root).unwrap();
        let names: Vec<&str> = sets.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["probe", "probe/second", "probe/third", "probe/zeta"]
        );
        assert_eq!(sets[1].1.domains, vec![(5, "second".to_string())]);
        assert!(sets[2].1.pairs.is_empty());
        assert_eq!(sets[2].1.domains, vec![(0, "third".to_string())]);
        assert_eq!(sets[3].1.pairs[0].2, "last");
        // Only subfolder sets: still read; none at all: a clear error.
        let only_sub = dir.path().join("only");
        write_set(&only_sub.join("a"), "a");
        let sets = Probe::load_sets(&only_sub).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].0, "only/a");
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let err = Probe::load_sets(&empty).unwrap_err().to_string();
        assert!(err.contains("no probe set"), "{err}");
        // A bad line names its file and line.
        std::fs::write(
            root.join("second").join(DOMAINS_FILE),
            "{\"domain\": \"cooking\", \"prompt\": \"x\"}\n",
        )
        .unwrap();
        let err = Probe::load_sets(&root).unwrap_err().to_string();
        assert!(
            err.contains("domains.jsonl:1") && err.contains("cooking"),
            "{err}"
        );
    }

    #[test]
    fn wilson_interval_by_hand() {
        // 141 of 156: 90.4%, interval about 84.7%–94.1% (computed by hand from the formula).
        let (lo, hi) = wilson_interval(141.0 / 156.0, 156);
        assert!(
            (lo - 0.8475).abs() < 1e-3 && (hi - 0.9410).abs() < 1e-3,
            "{lo} {hi}"
        );
        // The interval holds the estimate and stays inside [0, 1] at the edges.
        let (lo, hi) = wilson_interval(1.0, 10);
        assert!(
            lo > 0.6 && lo < 1.0 && (hi - 1.0).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0.5, 0), (0.0, 1.0));
    }

    #[test]
    fn a_set_without_pairs_or_without_domain_prompts_shows_no_figure_for_them() {
        let none = PairFigures {
            ordered: 0.0,
            easier_easy: 0.0,
            harder_hard: 0.0,
        };
        let report = |pairs: usize, domain_prompts: usize| ProbeReport {
            set: "probe/third".into(),
            pairs,
            pairs_harder_shorter: 0,
            difficulty: none,
            length: none,
            ordered_by_domain: Vec::new(),
            domain_prompts,
            domain_accuracy: 0.9,
            domain_by_domain: vec![("code".into(), 9, 10)],
        };
        let domains_only = render(&report(0, 10));
        assert!(
            domains_only.contains("never trained on): no pairs, 10 domain prompts =="),
            "{domains_only}"
        );
        assert!(!domains_only.contains("pairs ordered"), "{domains_only}");
        assert!(
            domains_only.contains("domain accuracy 90.0% (95% CI")
                && domains_only.contains("code 9/10"),
            "{domains_only}"
        );
        let pairs_only = render(&report(5, 0));
        assert!(pairs_only.contains("pairs ordered"), "{pairs_only}");
        assert!(!pairs_only.contains("domain accuracy"), "{pairs_only}");
    }

    #[test]
    fn the_sets_are_pooled_by_their_sizes() {
        let figures = |ordered: f64| PairFigures {
            ordered,
            easier_easy: 0.0,
            harder_hard: 0.0,
        };
        let report =
            |pairs: usize, ordered: f64, length: f64, right: usize, prompts: usize| ProbeReport {
                set: "probe".into(),
                pairs,
                pairs_harder_shorter: 0,
                difficulty: figures(ordered),
                length: figures(length),
                ordered_by_domain: Vec::new(),
                domain_prompts: prompts,
                domain_accuracy: right as f64 / prompts.max(1) as f64,
                domain_by_domain: vec![("code".into(), right, prompts)],
            };
        // One set alone: nothing pooled.
        assert!(render_pooled(&[report(156, 0.9, 0.6, 9, 10)]).is_none());
        // 141 of 156 and 49 of 60 ordered: 190 of 216 = 88.0%; length (0.5·156 + 0.6·60)/216 = 52.8%.
        // Domains: 179 of 202, 100 of 110, and 9 of 10 from a set with no pairs (it counts for domains
        // only): 288 of 322 = 89.4%.
        let text = render_pooled(&[
            report(156, 141.0 / 156.0, 0.5, 179, 202),
            report(60, 49.0 / 60.0, 0.6, 100, 110),
            report(0, 0.0, 0.0, 9, 10),
        ])
        .unwrap();
        let (lo, hi) = wilson_interval(190.0 / 216.0, 216);
        assert!(text.contains("all 3 sets together"), "{text}");
        assert!(
            text.contains(&format!(
                "216 pairs: difficulty orders 88.0% (95% CI {:.1}–{:.1}%), prompt length 52.8%",
                100.0 * lo,
                100.0 * hi
            )),
            "{text}"
        );
        assert!(
            text.contains("322 domain prompts: 288 right, 89.4%"),
            "{text}"
        );
        // Sets with domain prompts only: no pairs line.
        let text =
            render_pooled(&[report(0, 0.0, 0.0, 9, 10), report(0, 0.0, 0.0, 8, 10)]).unwrap();
        assert!(!text.contains("pairs"), "{text}");
        assert!(
            text.contains("20 domain prompts: 17 right, 85.0%"),
            "{text}"
        );
    }
}
