//! Progress of a batch run on stderr: an indicatif bar when stderr is a terminal (a spinner with the rate
//! until the total is known, then a bar with an ETA), plain lines at most every [`LINE_EVERY`] otherwise.
//!
//! The total is counted in a background thread that reads the inputs once more (newlines for JSONL and text,
//! rows for CSV) — only for a terminal, and only when no input is stdin.

use crate::error::{Error, Result};
use crate::input::{self, FieldChoice, InputFormat};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::{BufRead, IsTerminal};
use std::time::{Duration, Instant};

/// How often the plain (non-terminal) progress line is printed, at most.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

/// Which records of the inputs a run processes: those whose 0-based global index `i` has `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Every record.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether the record with 0-based global index `i` belongs to this shard.
    pub fn contains(&self, i: u64) -> bool {
        i % self.count == self.index
    }

    /// How many of `total` records belong to this shard.
    pub fn share(&self, total: u64) -> u64 {
        total / self.count + u64::from(total % self.count > self.index)
    }

    /// Parses `--shard I/N` (0 ≤ I < N, N ≥ 1); a malformed value is a usage error.
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || {
            Error::Usage(format!(
                "--shard wants I/N with 0 <= I < N and N >= 1 (e.g. 0/4), got `{text}`"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Reports progress; `inc` after each window, `finish` at the end.
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    last_line: Instant,
    done: u64,
    what: &'static str,
}

impl Progress {
    /// Starts reporting for a run over `inputs`; `what` names the command in plain lines.
    pub fn start(
        what: &'static str,
        inputs: &[String],
        format: InputFormat,
        fields: &FieldChoice,
        shard: Shard,
    ) -> Self {
        let now = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(spinner_style());
            bar.enable_steady_tick(Duration::from_millis(200));
            if !inputs.iter().any(|p| p == "-") {
                let (bar, inputs, fields) = (bar.clone(), inputs.to_vec(), fields.clone());
                // Detached: if it is still counting when the run ends, its result is simply not used.
                let _ = std::thread::Builder::new()
                    .name("count-records".into())
                    .spawn(move || {
                        if let Some(total) = count_records(&inputs, format, &fields) {
                            if !bar.is_finished() {
                                bar.set_length(shard.share(total));
                                bar.set_style(bar_style());
                            }
                        }
                    });
            }
            bar
        });
        Self {
            bar,
            start: now,
            last_line: now,
            done: 0,
            what,
        }
    }

    /// `n` more records are done.
    pub fn inc(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None => {
                if self.last_line.elapsed() >= LINE_EVERY {
                    self.last_line = Instant::now();
                    let secs = self.start.elapsed().as_secs_f64();
                    eprintln!(
                        "triage {}: {} records, {:.1} prompts/s",
                        self.what,
                        self.done,
                        self.done as f64 / secs.max(1e-9)
                    );
                }
            }
        }
    }

    /// Prints a message line without garbling the bar.
    pub fn println(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.1} prompts/s", state.per_sec());
}

fn eta(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    if state.pos() == 0 {
        let _ = write!(w, "-");
    } else {
        let _ = write!(w, "{:#}", indicatif::HumanDuration(state.eta()));
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {pos} prompts  {rate}  {elapsed}")
        .map(|s| s.with_key("rate", rate))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{wide_bar} {pos}/{len} prompts  {rate}  ETA {eta_or_dash}")
        .map(|s| s.with_key("rate", rate).with_key("eta_or_dash", eta))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Counts the records of `inputs` as the readers will produce them (approximately for CSV rows with
/// errors); `None` if an input cannot be read.
pub fn count_records(inputs: &[String], format: InputFormat, fields: &FieldChoice) -> Option<u64> {
    let mut total = 0u64;
    for path in inputs {
        let mut reader = input::open(path).ok()?;
        total += match input::detect_format(path, format, &mut reader) {
            InputFormat::Csv => input::records(reader, InputFormat::Csv, fields)
                .ok()?
                .count() as u64,
            _ => count_lines(reader)?,
        };
    }
    Some(total)
}

/// Lines as `read_until(b'\n')` yields them: newlines, plus one for a last line without a newline.
fn count_lines(mut reader: Box<dyn BufRead + Send>) -> Option<u64> {
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        if let Some(&b) = buf.last() {
            last = b;
        }
        let n = buf.len();
        reader.consume(n);
    }
    Some(lines + u64::from(last != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_records() {
        for count in 1..5u64 {
            for total in 0..12u64 {
                let sum: u64 = (0..count)
                    .map(|index| {
                        let s = Shard { index, count };
                        assert_eq!(
                            s.share(total),
                            (0..total).filter(|i| s.contains(*i)).count() as u64
                        );
                        s.share(total)
                    })
                    .sum();
                assert_eq!(sum, total);
            }
        }
    }

    #[test]
    fn lines_are_counted_like_the_reader_yields_them() {
        let count = |b: &[u8]| count_lines(Box::new(std::io::Cursor::new(b.to_vec()))).unwrap();
        assert_eq!(count(b""), 0);
        assert_eq!(count(b"a"), 1);
        assert_eq!(count(b"a\n"), 1);
        assert_eq!(count(b"a\n\nb"), 3);
    }
}
