//! Typo repair for what the labels read: a word no dictionary knows, one swap of two neighbouring letters
//! away from a common English word, is read as that word ("anwser" as "answer").
//!
//! Only swaps are repaired: deletions, insertions and substitutions have many candidates each, and in a
//! trial they rewrote a quarter of the held-out prompts (plurals, verb forms). A word is left alone when
//! the dictionary knows it (128k English words, and the 10k most common words of Spanish, French,
//! German, Italian and Portuguese, so foreign text is not "repaired" into English); when it has a
//! capital inside it (acronyms, identifiers; but "iFnd", a capital swapped into second place, is
//! repaired) or is capitalised inside a sentence (a name, more often than not); when it touches code (a
//! dot, an underscore, a quote, a digit...); and when it comes twice in the prompt (a typo is rarely
//! typed twice; a name often is). The repair must be a common word (at least [`MIN_COUNT`] occurrences
//! in the word list's 1.6 billion words).
//!
//! The word list is pyspellchecker's (MIT; `models/words.LICENSE`, `models/words.source.json`), built
//! from OpenSubtitles word counts, with the embedding model's own whole-word vocabulary added as known
//! words ("tech", "coli"). British spellings of known words are known ("summarise", "colour").

use flate2::read::GzDecoder;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::sync::LazyLock;

/// The word list, gzipped: `word<TAB>count` lines, English words with their counts, foreign words with 0.
const WORD_LIST: &[u8] = include_bytes!("../models/words.tsv.gz");

/// Fewest occurrences a repair must have in the word list (about one in 16 million words: "python",
/// "compute" and "asymptote" are between 100 and 1,000 in film subtitles).
pub const MIN_COUNT: u32 = 100;

/// Shortest word that is repaired: a swap in a shorter one too often makes another real word.
const MIN_LETTERS: usize = 4;

/// Every known word and its count (0 for a foreign word: known, never a repair).
static WORDS: LazyLock<HashMap<Box<str>, u32>> = LazyLock::new(|| parse(WORD_LIST));

fn parse(gzipped: &[u8]) -> HashMap<Box<str>, u32> {
    let mut text = String::new();
    if GzDecoder::new(gzipped).read_to_string(&mut text).is_err() {
        // The list is compiled in and tested; an unreadable one means no repairs, never a failure.
        tracing::warn!("the spelling word list is unreadable: typos are not repaired");
        return HashMap::new();
    }
    text.lines()
        .filter_map(|line| {
            let (word, count) = line.split_once('\t')?;
            Some((word.into(), count.parse().ok()?))
        })
        .collect()
}

/// Loads the word list now (the first repair would otherwise pay for it, about 45 ms).
pub fn warm_up() {
    LazyLock::force(&WORDS);
}

/// Characters next to which a word is code or a literal, not prose.
fn is_code(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_.()[]{}/\\=<>`$#@'\"-*&|^%~+".contains(&c)
}

/// Whether the word at `bytes[start..end]` stands in prose: after the start, a space, an opening
/// parenthesis, a comma or a semicolon; before the end, a space, a clause's punctuation, a closing
/// parenthesis, or a full stop that ends a sentence.
fn in_prose(bytes: &[u8], start: usize, end: usize) -> bool {
    let before = start
        .checked_sub(1)
        .map(|i| bytes[i])
        .is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b'(' | b',' | b';'));
    let after = match bytes.get(end) {
        None => true,
        Some(&c)
            if c.is_ascii_whitespace() || matches!(c, b',' | b';' | b':' | b'!' | b'?' | b')') =>
        {
            true
        }
        Some(b'.') => bytes
            .get(end + 1)
            .is_none_or(|c| c.is_ascii_whitespace() || !is_code(*c)),
        Some(_) => false,
    };
    before && after
}

/// British endings and their American forms, which the word list (from American subtitles) mostly has.
const BRITISH: [(&str, &str); 12] = [
    ("ise", "ize"),
    ("ised", "ized"),
    ("ises", "izes"),
    ("ising", "izing"),
    ("isation", "ization"),
    ("isations", "izations"),
    ("yse", "yze"),
    ("our", "or"),
    ("ours", "ors"),
    ("tre", "ter"),
    ("tres", "ters"),
    ("ogue", "og"),
];

/// Whether `lower` is a known word, or the British spelling of one ("summarise", "colour", "metres").
fn is_known(known: &HashMap<Box<str>, u32>, lower: &str) -> bool {
    known.contains_key(lower)
        || BRITISH.iter().any(|(british, american)| {
            lower
                .strip_suffix(british)
                .is_some_and(|stem| known.contains_key(format!("{stem}{american}").as_str()))
        })
}

/// Whether a sentence starts at byte `start` of `text`: the text's start, a new line, or after a full
/// stop, question or exclamation mark. A capitalised word elsewhere is a name more often than a typo.
fn starts_sentence(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end_matches([' ', '\t', '(']);
    before.is_empty() || before.ends_with(['.', '?', '!', ':', '\n', '\r'])
}

/// The ASCII words of `text`: maximal runs of letters, as byte ranges.
fn words(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// The most common word one swap of neighbouring letters away from `lower` (lower case), if one has at
/// least [`MIN_COUNT`] occurrences.
fn repair(words: &HashMap<Box<str>, u32>, lower: &str) -> Option<String> {
    let mut letters = lower.as_bytes().to_vec();
    let mut best: Option<(u32, String)> = None;
    for i in 0..letters.len() - 1 {
        if letters[i] == letters[i + 1] {
            continue;
        }
        letters.swap(i, i + 1);
        // Only ASCII letters were swapped, so the bytes stay UTF-8.
        let candidate = String::from_utf8_lossy(&letters);
        if let Some(&count) = words.get(candidate.as_ref()) {
            if count >= MIN_COUNT && best.as_ref().is_none_or(|(b, _)| count > *b) {
                best = Some((count, candidate.into_owned()));
            }
        }
        letters.swap(i, i + 1);
    }
    best.map(|(_, word)| word)
}

/// `text` with its swapped-letter typos repaired (see the module's doc); borrowed when none is.
pub fn repaired(text: &str) -> Cow<'_, str> {
    repaired_with(&WORDS, text)
}

fn repaired_with<'a>(known: &HashMap<Box<str>, u32>, text: &'a str) -> Cow<'a, str> {
    let bytes = text.as_bytes();
    let spans = words(text);
    let mut fixes: Vec<(usize, usize, String)> = Vec::new();
    let mut counts: Option<HashMap<String, usize>> = None;
    for &(start, end) in &spans {
        let word = &text[start..end];
        let mut capitals = (0..word.len()).filter(|&i| word.as_bytes()[i].is_ascii_uppercase());
        // Lower case, Capitalised, or a capital swapped into second place ("iFnd").
        let capitalised = match (capitals.next(), capitals.next()) {
            (None, _) => false,
            (Some(0 | 1), None) => true,
            _ => continue,
        };
        if word.len() < MIN_LETTERS
            || !in_prose(bytes, start, end)
            || capitalised && !starts_sentence(text, start)
        {
            continue;
        }
        let lower = word.to_ascii_lowercase();
        if is_known(known, &lower) {
            continue;
        }
        let Some(mut fix) = repair(known, &lower) else {
            continue;
        };
        // Counted once, on the first repair: a scan per repair would be quadratic in a long prompt.
        let counts = counts.get_or_insert_with(|| {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for &(s, e) in &spans {
                *counts.entry(text[s..e].to_ascii_lowercase()).or_default() += 1;
            }
            counts
        });
        if counts.get(&lower).copied().unwrap_or(0) > 1 {
            continue;
        }
        if capitalised {
            fix[..1].make_ascii_uppercase();
        }
        fixes.push((start, end, fix));
    }
    if fixes.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, fix) in fixes {
        out.push_str(&text[at..start]);
        out.push_str(&fix);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_word_list_reads() {
        assert!(WORDS.len() > 150_000, "{} words", WORDS.len());
        assert!(WORDS.get("answer").is_some_and(|&c| c >= MIN_COUNT));
        assert_eq!(
            WORDS.get("combien"),
            Some(&0),
            "a foreign word is known, never a repair"
        );
    }

    #[test]
    fn a_swap_in_a_common_word_is_repaired() {
        assert_eq!(
            repaired("What is the anwser to this qeustion?"),
            "What is the answer to this question?"
        );
        assert_eq!(repaired("Wirte a poem."), "Write a poem.");
        assert_eq!(repaired("iFnd the root."), "Find the root.");
        assert_eq!(
            repaired("Done. Waht now?\nWirte it."),
            "Done. What now?\nWrite it."
        );
        assert_eq!(repaired("(sholud I) go"), "(should I) go");
    }

    #[test]
    fn words_and_code_are_left_alone() {
        for text in [
            // Known words, English and foreign, and a swap that is itself a word.
            "Explain acne, brine and crepe.",
            "Summarise the colour of the metres.",
            // A capitalised word inside a sentence is a name.
            "Ask Falke about it.",
            "Combien de litres sobre la mesa?",
            "I came form Paris.",
            // Acronyms and identifiers, code and literals.
            "What does NaOH do? And ESRB?",
            "Call parseArgs with args.port and my_vairable.",
            "Reverse 'ehllo' and \"wrold\".",
            "def f(*args): return lsit[0]",
            // A word typed twice is meant.
            "Use the tset helper: tset runs first.",
            // Short words.
            "teh cat",
            // No common word one swap away.
            "Zyxwv is not a word.",
        ] {
            assert_eq!(repaired(text), text, "{text}");
        }
        assert!(matches!(repaired("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_long_prompt_of_typos_is_read_in_linear_time() {
        // 40,000 repairable words ("anwser"): the prompt's words are counted once, not once per repair
        // (3.2 billion comparisons). No timing is asserted; a quadratic scan would stall the test.
        let words: Vec<String> = (0..40_000).map(|i| format!("qeustion{i} anwser")).collect();
        let text = words.join(" ");
        let read = repaired(&text);
        assert_eq!(read.len(), text.len());
        // "anwser" comes 40,000 times, so it is meant; "qeustion" touches a digit, so it is code.
        assert_eq!(read, text);
        let distinct: String = (0..20_000)
            .map(|i| if i % 2 == 0 { "qeustion, " } else { "anwser, " })
            .collect();
        assert_eq!(repaired(&distinct), distinct);
    }

    proptest::proptest! {
        // A repair swaps two ASCII letters back (and keeps a capital), so the text keeps its length, and
        // what the cost counts does not move; and no text makes it fail.
        #[test]
        fn a_repair_keeps_the_length(text in "[a-zA-Z .,:;!?()'_\n-]{0,80}|\\PC{0,40}") {
            proptest::prop_assert_eq!(repaired(&text).len(), text.len());
        }

        #[test]
        fn a_swapped_word_is_repaired_wherever_it_stands(
            head in "((the|a|red|of|and|to|Why|code)[ ,;]{1,2}){0,6}",
            tail in "([ ,;]{1,2}(the|a|red|of|and|to|code)){0,6}[.?!]?",
        ) {
            let text = format!("{head}qeustion{tail}");
            proptest::prop_assert_eq!(repaired(&text), format!("{head}question{tail}"));
        }
    }

    #[test]
    fn a_list_that_does_not_read_repairs_nothing() {
        let none = parse(b"not gzip");
        assert!(none.is_empty());
        assert_eq!(repaired_with(&none, "the anwser"), "the anwser");
    }
}
