//! How steady the labels and decisions are under the noise a user makes: each held-out prompt is
//! rewritten with one kind of noise at a time (swapped letters, misspellings, lower case, extra
//! whitespace, a polite prefix, a chatty suffix, different punctuation), and the report counts how often
//! the provider, the domain and the level stay what they were for the clean prompt. Deterministic: the
//! same prompts get the same noise.
//!
//! The labels read a prompt without its courtesy at either end ([`crate::reading`]), so openings and
//! closings are steady by construction; the report still measures them, with two sets of phrases (the
//! second written after the rules and never used to tune them). Training makes noisy copies of its
//! prompts the same way ([`training_copies`]) but with other openings, closings and punctuation than the
//! report's, and typos at other places, so the report measures noise the heads never saw.

use crate::embedding::{Embedder, Embedding};
use crate::error::{Error, Result};
use crate::labels::{Heads, Labels};
use crate::routing::{Policy, RouteOptions};
use serde::Serialize;
use std::fmt::Write as _;

/// Most held-out prompts the noise set is made from (each becomes one variant per kind).
pub const MAX_PROMPTS: usize = 300;

/// The kinds of noise, in report order.
pub const KINDS: [&str; 9] = [
    "typo",
    "misspelling",
    "lower_case",
    "whitespace",
    "polite_prefix",
    "chatty_suffix",
    "punctuation",
    "fresh_prefix",
    "fresh_suffix",
];

/// A stable number from `text` and `salt` (FNV-1a), to pick where the noise goes.
fn pick(text: &str, salt: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The report's polite openings and chatty closings (one per prompt, picked by its text); known when the
/// rules that drop courtesy ([`crate::reading`]) were written.
const REPORT_PREFIXES: [&str; 3] = [
    "Please help me with this.",
    "Hi, I have a question.",
    "Could you help me out here?",
];
const REPORT_SUFFIXES: [&str; 3] = ["?? thanks", "Thanks in advance!", "appreciate it :)"];

/// A second set of openings and closings, written after the rules that drop courtesy
/// ([`crate::reading`]) and never used to tune them: the report's first set was known when those rules
/// were written, so this one is the fairer measure of them.
const FRESH_PREFIXES: [&str; 4] = [
    "Hey! Hope you're doing well.",
    "Good evening, quick question for you:",
    "Hello there, could you assist me?",
    "Hi team, I need a hand with something.",
];
const FRESH_SUFFIXES: [&str; 4] = [
    "Many thanks.",
    "Thanks so much for your help!",
    "Cheers, and have a great day!",
    "Thank you kindly :)",
];

/// Training's openings and closings: other words of the same kind.
const TRAINING_PREFIXES: [&str; 8] = [
    "Hello!",
    "Hey, quick question.",
    "Can you help me?",
    "Good morning, I need some help.",
    "I was wondering about something.",
    "Please answer the following.",
    "Hi there, thanks for your time.",
    "I need your help with a task.",
];
const TRAINING_SUFFIXES: [&str; 8] = [
    "Thank you!",
    "thx",
    "Any help is appreciated.",
    "Cheers",
    "Thanks a lot!!",
    "please",
    "thanks :)",
    "Thank you very much in advance.",
];

/// How a typo changes one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slip {
    /// Two neighbouring letters swapped ("anwser"): what the labels' reading repairs.
    Swap,
    /// A letter left out ("enviroment").
    Drop,
    /// A letter typed twice ("runnning").
    Double,
    /// A letter replaced by another ("minimun").
    Replace,
}

/// The report's typos, and training's: swaps, which the reading repairs. (Training on every kind of slip
/// steadies misspellings but moves the recommended knob; tried, not shipped yet: docs/experiments.md.)
const SWAPS: [Slip; 1] = [Slip::Swap];
/// The report's misspellings: the slips the reading does not repair, which training never makes.
const MISSPELLINGS: [Slip; 3] = [Slip::Drop, Slip::Double, Slip::Replace];

/// Letters a replacement is drawn from (common ones first, as a stray key mostly lands on one).
const REPLACEMENTS: &[u8] = b"etaoinsrhldcumfpgwybvkxjqz";

/// `text` with a slip of one of `slips` in two words of at least four letters (one word when the prompt
/// has only one such word; unchanged when it has none), at places picked with `salt` (0 is the
/// report's).
fn typo_salted(text: &str, salt: u64, slips: &[Slip]) -> String {
    let mut words: Vec<String> = text.split(' ').map(str::to_string).collect();
    let long: Vec<usize> = (0..words.len())
        .filter(|&k| words[k].chars().filter(|c| c.is_alphabetic()).count() >= 4)
        .collect();
    if long.is_empty() {
        return text.to_string();
    }
    let mut chosen = vec![long[(pick(text, 1 + 16 * salt) % long.len() as u64) as usize]];
    let second = long[(pick(text, 2 + 16 * salt) % long.len() as u64) as usize];
    if second != chosen[0] {
        chosen.push(second);
    }
    for k in chosen {
        let slip = slips[(pick(&words[k], 13 + 16 * salt) % slips.len() as u64) as usize];
        let mut chars: Vec<char> = words[k].chars().collect();
        // Where the slip may go: a letter followed by a letter (a swap also needs them to differ).
        let letters: Vec<usize> = (0..chars.len().saturating_sub(1))
            .filter(|&i| {
                chars[i].is_alphabetic()
                    && chars[i + 1].is_alphabetic()
                    && (slip != Slip::Swap || chars[i] != chars[i + 1])
            })
            .collect();
        if letters.is_empty() {
            continue;
        }
        let i = letters[(pick(&words[k], 3 + 16 * salt) % letters.len() as u64) as usize];
        // A drop, double or replacement acts on the letter after `i`, so the word's first letter
        // stays (people rarely miss that one).
        match slip {
            Slip::Swap => chars.swap(i, i + 1),
            Slip::Drop => {
                chars.remove(i + 1);
            }
            Slip::Double => chars.insert(i + 1, chars[i + 1]),
            Slip::Replace => {
                let old = chars[i + 1];
                let mut at = (pick(&words[k], 14 + 16 * salt) % REPLACEMENTS.len() as u64) as usize;
                while char::from(REPLACEMENTS[at]) == old.to_ascii_lowercase() {
                    at = (at + 1) % REPLACEMENTS.len();
                }
                let new = char::from(REPLACEMENTS[at]);
                chars[i + 1] = if old.is_uppercase() {
                    new.to_ascii_uppercase()
                } else {
                    new
                };
            }
        }
        words[k] = chars.into_iter().collect();
    }
    words.join(" ")
}

/// `text` with one kind of noise.
pub fn noisy(text: &str, kind: &str) -> String {
    match kind {
        "typo" => typo_salted(text, 0, &SWAPS),
        "misspelling" => typo_salted(text, 0, &MISSPELLINGS),
        "lower_case" => text.to_lowercase(),
        "whitespace" => format!("  {}\n", text.split(' ').collect::<Vec<_>>().join("  ")),
        "polite_prefix" => format!("{} {text}", one_of(&REPORT_PREFIXES, text, 4)),
        "chatty_suffix" => format!("{text} {}", one_of(&REPORT_SUFFIXES, text, 5)),
        "fresh_prefix" => format!("{} {text}", one_of(&FRESH_PREFIXES, text, 11)),
        "fresh_suffix" => format!("{text} {}", one_of(&FRESH_SUFFIXES, text, 12)),
        "punctuation" => {
            let bare = text.trim_end_matches(['.', '?', '!', ' ']);
            if bare.len() == text.len() {
                format!("{text}?")
            } else {
                bare.to_string()
            }
        }
        _ => text.to_string(),
    }
}

/// One of `phrases`, picked by `text` and `salt`.
fn one_of<'a>(phrases: &[&'a str], text: &str, salt: u64) -> &'a str {
    phrases[(pick(text, salt) % phrases.len() as u64) as usize]
}

/// How many noisy copies training makes of each prompt ([`training_copies`]).
pub const TRAINING_COPIES: usize = 2;

/// The noisy copies training adds of a prompt: one with typos (swaps, at other places than the report's),
/// one with another kind of noise (case, whitespace, an opening, a closing or punctuation, with training's
/// own phrases). Copies equal to the prompt are left out.
pub fn training_copies(text: &str) -> Vec<String> {
    let other = match pick(text, 6) % 5 {
        0 => text.to_lowercase(),
        1 => format!("{}  ", text.replace(". ", ".\n\n").replace(", ", " ,  ")),
        2 => format!("{} {text}", one_of(&TRAINING_PREFIXES, text, 7)),
        3 => format!("{text} {}", one_of(&TRAINING_SUFFIXES, text, 8)),
        _ => {
            let bare = text.trim_end_matches(['.', '?', '!', ' ']);
            if pick(text, 9).is_multiple_of(2) {
                format!("{bare}!!")
            } else {
                format!("{bare}...")
            }
        }
    };
    let mut out = vec![typo_salted(text, 1 + pick(text, 10) % 3, &SWAPS), other];
    out.retain(|c| c != text);
    out.dedup();
    out
}

/// How one kind of noise fared.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseScore {
    pub kind: &'static str,
    pub prompts: usize,
    pub provider_unchanged: f64,
    pub domain_unchanged: f64,
    pub level_unchanged: f64,
}

/// Labels and routes `prompts` clean and with each kind of noise.
pub fn evaluate(
    prompts: &[String],
    embedder: &dyn Embedder,
    heads: &Heads,
    policy: &Policy,
) -> Result<Vec<NoiseScore>> {
    let decide = |labels: &[Labels]| -> Result<Vec<String>> {
        labels
            .iter()
            .map(|l| Ok(crate::brain::route(policy, l, &RouteOptions::default())?.provider))
            .collect()
    };
    // Read as serving reads them (`reading::for_labels`), so the report measures what a user gets.
    let label = |texts: &[String]| -> Result<Vec<Labels>> {
        let texts = crate::reading::all_for_labels(texts.iter().map(String::as_str));
        let e: Vec<Embedding> = embedder.embed_detailed(&texts)?;
        if e.len() != texts.len() {
            return Err(Error::inference("the noise set was embedded incompletely"));
        }
        Ok(heads.label_batch(&e))
    };
    let clean = label(prompts)?;
    let clean_routes = decide(&clean)?;
    let mut out = Vec::new();
    for kind in KINDS {
        let texts: Vec<String> = prompts.iter().map(|p| noisy(p, kind)).collect();
        let labels = label(&texts)?;
        let routes = decide(&labels)?;
        let n = prompts.len().max(1) as f64;
        let share = |same: &dyn Fn(usize) -> bool| {
            (0..prompts.len()).filter(|&k| same(k)).count() as f64 / n
        };
        out.push(NoiseScore {
            kind,
            prompts: prompts.len(),
            provider_unchanged: share(&|k| routes[k] == clean_routes[k]),
            domain_unchanged: share(&|k| labels[k].domain == clean[k].domain),
            level_unchanged: share(&|k| labels[k].level == clean[k].level),
        });
    }
    Ok(out)
}

/// The report as text.
pub fn render(scores: &[NoiseScore]) -> String {
    let mut t = String::new();
    let n = scores.first().map_or(0, |s| s.prompts);
    let _ = writeln!(
        t,
        "== noise: {n} held-out prompts, each rewritten with one kind of noise (unchanged vs the clean prompt) =="
    );
    let _ = writeln!(
        t,
        "   {:<14} {:>9} {:>7} {:>7}",
        "noise", "provider", "domain", "level"
    );
    for s in scores {
        let _ = writeln!(
            t,
            "   {:<14} {:>8.1}% {:>6.1}% {:>6.1}%",
            s.kind,
            100.0 * s.provider_unchanged,
            100.0 * s.domain_unchanged,
            100.0 * s.level_unchanged
        );
    }
    t
}

/// Up to [`MAX_PROMPTS`] prompts spread evenly over `held_out` (texts; empty ones skipped).
pub fn sample(held_out: &[&str]) -> Vec<String> {
    let texts: Vec<&str> = held_out
        .iter()
        .copied()
        .filter(|t| !t.trim().is_empty())
        .collect();
    let step = texts.len().div_ceil(MAX_PROMPTS).max(1);
    texts.iter().step_by(step).map(|t| t.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many places two texts of one length differ in.
    fn differing(a: &str, b: &str) -> usize {
        a.chars().zip(b.chars()).filter(|(x, y)| x != y).count()
    }

    /// The letters of `text`, sorted: equal for two texts that differ by a swap.
    fn sorted_letters(text: &str) -> Vec<char> {
        let mut letters: Vec<char> = text.chars().collect();
        letters.sort_unstable();
        letters
    }

    #[test]
    fn each_slip_does_what_it_says() {
        let word = "question";
        let one = |slip: Slip| typo_salted(word, 5, &[slip]);
        let swapped = one(Slip::Swap);
        assert_eq!(swapped.len(), word.len());
        assert_eq!(differing(word, &swapped), 2, "{swapped}");
        let dropped = one(Slip::Drop);
        assert_eq!(dropped.len() + 1, word.len(), "{dropped}");
        assert!((0..word.len()).any(|i| format!("{}{}", &word[..i], &word[i + 1..]) == dropped));
        let doubled = one(Slip::Double);
        assert_eq!(doubled.len(), word.len() + 1, "{doubled}");
        assert!((1..word.len()).any(|i| format!("{}{}", &word[..i], &word[i - 1..]) == doubled));
        let replaced = one(Slip::Replace);
        assert_eq!(replaced.len(), word.len());
        assert_eq!(differing(word, &replaced), 1, "{replaced}");
        // A capital stays a capital; a word of three letters or fewer is left alone.
        assert!(typo_salted("QUESTION", 5, &[Slip::Replace])
            .chars()
            .all(|c| c.is_uppercase()));
        assert_eq!(typo_salted("a cat sat", 0, &MISSPELLINGS), "a cat sat");
    }

    #[test]
    fn noise_is_deterministic_and_of_its_kind() {
        let p = "Write a Python function that merges two sorted lists.";
        let t = noisy(p, "typo");
        assert_ne!(t, p);
        assert_eq!(t, noisy(p, "typo"));
        assert_eq!(t.len(), p.len());
        assert_eq!(
            sorted_letters(&t),
            sorted_letters(p),
            "a typo swaps letters"
        );
        // A misspelling drops, doubles or replaces a letter in each of two words, never the first.
        let m = noisy(p, "misspelling");
        assert_eq!(m, noisy(p, "misspelling"));
        let changed: Vec<(&str, &str)> = p
            .split(' ')
            .zip(m.split(' '))
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 2, "{m}");
        for (clean, slipped) in changed {
            assert_eq!(clean[..1], slipped[..1], "{m}");
            assert!(clean.len().abs_diff(slipped.len()) <= 1, "{m}");
            assert_ne!(
                sorted_letters(clean),
                sorted_letters(slipped),
                "not a swap: {m}"
            );
        }
        assert_eq!(noisy(p, "lower_case"), p.to_lowercase());
        assert_eq!(
            noisy(p, "punctuation"),
            "Write a Python function that merges two sorted lists"
        );
        assert_eq!(noisy("hi", "punctuation"), "hi?");
        assert!(noisy(p, "polite_prefix").ends_with(p));
        // Training's copies are noise of the same kinds, never with the report's phrases or typos.
        let copies = training_copies(p);
        assert_eq!(copies.len(), TRAINING_COPIES);
        assert!(!copies.contains(&t), "{copies:?}");
        for c in &copies {
            assert!(REPORT_PREFIXES.iter().all(|x| !c.contains(x)), "{c}");
            assert!(REPORT_SUFFIXES.iter().all(|x| !c.contains(x)), "{c}");
        }
        assert_eq!(noisy("a b", "whitespace"), "  a  b\n");
        assert_eq!(sample(&["a", "", "b", "c"]), vec!["a", "b", "c"]);
    }
}
