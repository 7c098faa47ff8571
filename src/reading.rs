//! The form of a prompt the labels read: its greetings, requests for help and thanks at either end
//! dropped, so that courtesy a user adds or leaves out does not move a decision.
//!
//! What goes: whole sentences at the start or the end whose every word is a courtesy word and one of
//! them a greeting, thanks or ask for help ("Hi, I have a question.", "Thanks in advance!"); a greeting
//! that ends at a comma ("Hi there, ..."); and a thanks that trails a prompt without a full stop ("... in
//! Go thanks in advance"). A sentence with one word of content stays. A prompt that is nothing but
//! courtesy ("thanks!", "hello") keeps its words, so closings stay closings. Then a word with two
//! neighbouring letters swapped is read as the common word it was meant to be ([`crate::spelling`]),
//! and one full stop at the end goes, so "Explain monads." and "Explain monads" read alike; `?`,
//! `!` and "..." stay.

use std::borrow::Cow;

/// Words that carry no request: greetings, asks for help, thanks and sign-offs, and the little words
/// they are made of. A sentence at either end of a prompt made only of these is dropped.
const COURTESY_WORDS: &[&str] = &[
    // greetings
    "hi",
    "hello",
    "hey",
    "heya",
    "hiya",
    "greetings",
    "good",
    "morning",
    "afternoon",
    "evening",
    "day",
    "there",
    "dear",
    "all",
    "everyone",
    "folks",
    "team",
    "friend",
    "yo",
    // asking for help
    "please",
    "pls",
    "plz",
    "kindly",
    "can",
    "could",
    "would",
    "will",
    "you",
    "u",
    "help",
    "helping",
    "me",
    "us",
    "with",
    "this",
    "out",
    "here",
    "i",
    "im",
    "i'm",
    "i've",
    "ive",
    "have",
    "got",
    "a",
    "an",
    "the",
    "quick",
    "question",
    "questions",
    "query",
    "need",
    "needed",
    "some",
    "your",
    "assistance",
    "assist",
    "hand",
    "for",
    "following",
    "answer",
    "task",
    "wondering",
    "about",
    "something",
    "was",
    "am",
    "hoping",
    "hope",
    "you're",
    "youre",
    "are",
    "well",
    "doing",
    "is",
    "it",
    "my",
    "one",
    "to",
    "let's",
    "lets",
    "want",
    "like",
    "ask",
    "possible",
    "okay",
    "ok",
    // thanks and sign-offs
    "thanks",
    "thank",
    "thx",
    "ty",
    "tia",
    "many",
    "much",
    "very",
    "so",
    "lot",
    "in",
    "advance",
    "appreciate",
    "appreciated",
    "grateful",
    "cheers",
    "regards",
    "best",
    "kind",
    "sincerely",
    "again",
    "really",
    "great",
    "awesome",
    "bye",
    "goodbye",
    "and",
    "any",
    "time",
    "of",
    "nice",
];

/// Words that make a sentence courtesy: one of them must be in it ("Is" or "If" alone on a line, made of
/// little words only, is content).
const ANCHOR_WORDS: [&str; 33] = [
    "hi",
    "hello",
    "hey",
    "heya",
    "hiya",
    "greetings",
    "morning",
    "afternoon",
    "evening",
    "dear",
    "please",
    "pls",
    "plz",
    "kindly",
    "help",
    "helping",
    "assist",
    "assistance",
    "thanks",
    "thank",
    "thx",
    "ty",
    "tia",
    "appreciate",
    "appreciated",
    "grateful",
    "cheers",
    "regards",
    "bye",
    "goodbye",
    "question",
    "wondering",
    "hope",
];

/// Emoticons a courtesy sentence may carry.
const EMOTICONS: [&str; 8] = [":)", ":-)", ";)", ":d", ":]", "🙂", "🙏", "😊"];

/// Longest sentence (in words) that may be dropped as courtesy.
const MAX_COURTESY_WORDS: usize = 12;

/// Characters that end a sentence.
fn ends_sentence(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '\n' | '…')
}

/// Whether `sentence` is made only of courtesy words (and emoticons and punctuation).
fn is_courtesy(sentence: &str) -> bool {
    let mut words = 0;
    let mut anchored = false;
    for raw in sentence.split_whitespace() {
        let lower = raw.to_lowercase();
        if EMOTICONS.contains(&lower.as_str()) {
            continue;
        }
        let word = bare_word(&lower);
        if word.is_empty() {
            // Punctuation may sit in courtesy; other symbols ("$", "}", "=") are content.
            if raw.chars().all(|c| ".,!?;:…'\"()-".contains(c)) {
                continue;
            }
            return false;
        }
        if !COURTESY_WORDS.contains(&word.as_str()) {
            return false;
        }
        anchored |= ANCHOR_WORDS.contains(&word.as_str());
        words += 1;
    }
    // A run of end marks alone ("??") goes too; other symbols alone (a closing quote, "});") are content.
    let end_marks = || {
        sentence
            .chars()
            .all(|c| ends_sentence(c) || c.is_whitespace())
    };
    words <= MAX_COURTESY_WORDS && (anchored || (words == 0 && end_marks()))
}

/// `text` split into sentences: each ends after its run of sentence-ending characters (or at the end).
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if ends_sentence(c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if ends_sentence(d) || d == ')' || d == '"' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            // A dot inside a word or a number ("e.g", "3.14", "file.rs") does not end a sentence.
            let next_is_space = text[end..].chars().next().is_none_or(char::is_whitespace);
            if c == '.' && !next_is_space {
                continue;
            }
            out.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out.retain(|s| !s.trim().is_empty());
    out
}

/// Words that thank or sign off; a closing that follows a prompt without a full stop ("... in Python
/// thanks in advance") starts at one of them.
const THANKS_WORDS: [&str; 10] = [
    "thanks",
    "thank",
    "thx",
    "ty",
    "tia",
    "appreciate",
    "appreciated",
    "cheers",
    "regards",
    "many",
];

/// Most words of a closing that follows a prompt without a full stop.
const MAX_CLOSING_WORDS: usize = 6;

/// Most words of a greeting that opens a sentence and ends at a comma ("Hi there, ...").
const MAX_GREETING_WORDS: usize = 3;

/// Words a greeting that ends at a comma starts with ("Hi there, ...", "Good morning, ...").
const GREETING_WORDS: [&str; 9] = [
    "hi",
    "hello",
    "hey",
    "heya",
    "hiya",
    "greetings",
    "dear",
    "good",
    "yo",
];

/// Lower-case word of `raw` without surrounding punctuation.
fn bare_word(raw: &str) -> String {
    raw.to_lowercase()
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
        .to_string()
}

/// `sentence` without a trailing closing that starts at a thanks word ("... in Python thanks in advance").
fn without_closing(sentence: &str) -> &str {
    let words: Vec<(usize, &str)> = sentence
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - sentence.as_ptr() as usize, w))
        .collect();
    let tail_from = words.len().saturating_sub(MAX_CLOSING_WORDS);
    for &(at, word) in words.iter().skip(tail_from.max(1)) {
        if THANKS_WORDS.contains(&bare_word(word).as_str()) && is_courtesy(&sentence[at..]) {
            return &sentence[..at];
        }
    }
    sentence
}

/// `sentence` without an opening greeting that ends at a comma ("Hi there, ...").
fn without_opening(sentence: &str) -> &str {
    let trimmed = sentence.trim_start();
    if let Some(comma) = trimmed.find(',') {
        let head = &trimmed[..comma];
        let greets = head
            .split_whitespace()
            .next()
            .is_some_and(|w| GREETING_WORDS.contains(&bare_word(w).as_str()));
        if greets && head.split_whitespace().count() <= MAX_GREETING_WORDS && is_courtesy(head) {
            return without_opening(&trimmed[comma + 1..]);
        }
    }
    trimmed
}

/// What the labels read of `text`: its courtesy at either end dropped (with a comma a dropped closing
/// leaves), surrounding whitespace trimmed, its swapped-letter typos repaired ([`crate::spelling`]),
/// and one full stop at its end dropped ("..." stays). A prompt with nothing but courtesy keeps its
/// words (typos repaired, a full stop dropped).
pub fn for_labels(text: &str) -> Cow<'_, str> {
    let read = match without_courtesy(text) {
        Cow::Borrowed(kept) => crate::spelling::repaired(kept),
        Cow::Owned(kept) => {
            // Kept as it is unless a typo was repaired (no second copy of the text).
            if let Cow::Owned(fixed) = crate::spelling::repaired(&kept) {
                Cow::Owned(fixed)
            } else {
                Cow::Owned(kept)
            }
        }
    };
    without_full_stop(read)
}

/// `read` without one full stop at its end (and the whitespace after it); an ellipsis stays.
///
/// Why: a user ends the same request with a full stop or without one, and the two read alike to
/// a person but not to the heads (end punctuation moved 3.7% of decisions). Dropping the full
/// stop makes them one reading and leaves `?` as the only end mark the heads see; dropping every end
/// mark, or adding a full stop, moved prompts that end in `?` and lost (docs/experiments.md).
fn without_full_stop(read: Cow<'_, str>) -> Cow<'_, str> {
    let end = read.trim_end();
    if end.len() < 2 || !end.ends_with('.') || end.ends_with("..") {
        return read;
    }
    let cut = end.len() - 1;
    match read {
        Cow::Borrowed(text) => Cow::Borrowed(&text[..cut]),
        Cow::Owned(mut text) => {
            text.truncate(cut);
            Cow::Owned(text)
        }
    }
}

/// `text` with its courtesy at either end dropped (as [`for_labels`] says).
fn without_courtesy(text: &str) -> Cow<'_, str> {
    let parts = sentences(text);
    let first = parts.iter().position(|s| !is_courtesy(s));
    let Some(first) = first else {
        return Cow::Borrowed(text);
    };
    let last = parts.iter().rposition(|s| !is_courtesy(s)).unwrap_or(first);
    // The kept sentences are one contiguous slice of `text`.
    let (Some(head), Some(tail)) = (parts.get(first), parts.get(last)) else {
        return Cow::Borrowed(text);
    };
    let from = head.as_ptr() as usize - text.as_ptr() as usize;
    let to = tail.as_ptr() as usize - text.as_ptr() as usize + tail.len();
    // `?`, `!` and "..." stay: dropping every end mark or making it one full stop moved other
    // decisions (LLMRouter's tasks differ in how their prompts end), measured in docs/experiments.md;
    // only a single full stop goes ([`without_full_stop`]). Here, only a comma or semicolon a dropped
    // closing leaves behind goes.
    let span = &text[from..to];
    let open = without_closing(span);
    let mut kept = without_opening(open).trim();
    if open.len() < span.len() || to < text.trim_end().len() {
        kept = kept
            .trim_end_matches(|c: char| matches!(c, ',' | ';') || c.is_whitespace())
            .trim_end();
    }
    if kept.is_empty() || kept.len() == text.len() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(kept.to_string())
    }
}

/// [`for_labels`] of each of `texts`, in order.
pub fn all_for_labels<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    texts
        .into_iter()
        .map(|t| for_labels(t).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_courtesy_at_either_end() {
        let cases = [
            (
                "Please help me with this. What is the capital of France?",
                "What is the capital of France?",
            ),
            (
                "What is the capital of France? ?? thanks",
                "What is the capital of France?",
            ),
            (
                "Hi, I have a question. Why is the sky blue? Thanks in advance!",
                "Why is the sky blue?",
            ),
            (
                "Sort a list in Python appreciate it :)",
                "Sort a list in Python",
            ),
            (
                "Hi there, explain monads thanks in advance",
                "explain monads",
            ),
            ("Good morning, explain monads", "explain monads"),
            (
                "Sort a list in Python. appreciate it :)",
                "Sort a list in Python",
            ),
            ("  Explain TCP slow start.\n", "Explain TCP slow start"),
        ];
        for (text, want) in cases {
            assert_eq!(for_labels(text), want, "{text:?}");
        }
    }

    #[test]
    fn keeps_content_end_marks_and_pure_courtesy() {
        // A sentence with one word of content stays, wherever it is; so do end marks other than a
        // single full stop.
        for text in [
            "Can you help me with my essay? It is about Rome?",
            "Explain TCP slow start...",
            "Explain TCP slow start!",
            "Explain TCP slow start",
            "fn main() {}",
            "",
            // Only greetings end at a comma; symbols are content.
            "One day, a man went for a walk",
            "If $A$, $B$ and $C$ are integers, what is $A + B + C?$",
            "Please explain monads",
            "If\n\\begin{align*} x &= 1 \\end{align*}\ncompute $x$",
            "Which holds in the limit,",
            "Is it \"safe?\"",
            "fn f() {\n    g(|| {\n        h()\n    });",
        ] {
            assert!(
                matches!(for_labels(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
        }
        // Nothing but courtesy: read as it is (a closing stays a closing).
        for text in ["thanks!", "Hello", "ok, bye", "Thank you so much :)"] {
            assert_eq!(for_labels(text), text);
        }
        assert_eq!(for_labels("ok, bye."), "ok, bye");
    }

    #[test]
    fn drops_one_full_stop_at_the_end() {
        // With and without the full stop read alike.
        assert!(matches!(
            for_labels("Explain monads."),
            Cow::Borrowed("Explain monads")
        ));
        for (text, want) in [
            ("Explain TCP slow start.", "Explain TCP slow start"),
            ("Explain TCP slow start. \n", "Explain TCP slow start"),
            (
                "It is about Rome. Explain monads.",
                "It is about Rome. Explain monads",
            ),
            ("Compute $x$ for $x = 3.$.", "Compute $x$ for $x = 3.$"),
            ("Naïve Bayés.", "Naïve Bayés"),
        ] {
            assert_eq!(for_labels(text), want, "{text:?}");
            assert_eq!(for_labels(want), want, "{want:?}");
        }
        // One full stop only: an ellipsis, other end marks, and a lone dot stay.
        for text in ["Wait..", "Wait...", "Why?", ".", "v1.2"] {
            assert_eq!(for_labels(text), text, "{text:?}");
        }
        // After courtesy is dropped, and in an owned reading.
        assert_eq!(
            for_labels("Hi, I have a question. Explain monads. Thanks!"),
            "Explain monads"
        );
        // Dots inside words and numbers do not end a sentence.
        assert_eq!(
            for_labels("Is 3.14 close to pi, e.g. within 0.01? thanks"),
            "Is 3.14 close to pi, e.g. within 0.01?"
        );
    }
}
