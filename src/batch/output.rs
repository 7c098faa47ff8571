//! Where batch doors write: stdout, or a file written through a temporary name and renamed at the end,
//! so a failed run never leaves a half-written output behind.

use crate::error::{Error, Result};
use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Record layout of a batch door's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Jsonl,
    Csv,
}

/// An output sink; call `finish` to publish it.
pub struct Output {
    inner: Sink,
}

enum Sink {
    Stdout(BufWriter<io::Stdout>),
    File {
        writer: BufWriter<tempfile::NamedTempFile>,
        path: PathBuf,
    },
    /// A device or pipe (`/dev/null`, `>(gzip > out.gz)`), written in place ([`crate::files::is_special`]).
    Special {
        writer: BufWriter<std::fs::File>,
        path: PathBuf,
    },
}

impl Output {
    /// `None` or `-` means stdout; anything else is a file path.
    pub fn create(path: Option<&Path>) -> Result<Self> {
        let inner = match path {
            None => Sink::Stdout(BufWriter::new(io::stdout())),
            Some(p) if p == Path::new("-") => Sink::Stdout(BufWriter::new(io::stdout())),
            Some(p) if crate::files::is_special(p) => Sink::Special {
                writer: BufWriter::with_capacity(1 << 16, crate::files::open_special(p)?),
                path: p.to_path_buf(),
            },
            Some(p) => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".triage-out-")
                    .tempfile_in(dir)
                    .map_err(|e| Error::io("creating a temporary file in", dir, e))?;
                Sink::File {
                    writer: BufWriter::with_capacity(1 << 16, tmp),
                    path: p.to_path_buf(),
                }
            }
        };
        Ok(Self { inner })
    }

    /// Writes one line (a newline is appended).
    pub fn line(&mut self, text: &str) -> Result<()> {
        let w: &mut dyn Write = match &mut self.inner {
            Sink::Stdout(w) => w,
            Sink::File { writer, .. } => writer,
            Sink::Special { writer, .. } => writer,
        };
        let res = w
            .write_all(text.as_bytes())
            .and_then(|()| w.write_all(b"\n"));
        res.map_err(|e| self.write_error(e))
    }

    /// A failed write; on stdout a broken pipe is the reader's choice (`triage label … | head`), as in
    /// ripgrep: [`Error::BrokenPipe`], which ends the run quietly with exit 0.
    fn write_error(&self, e: io::Error) -> Error {
        match &self.inner {
            Sink::Stdout(_) if e.kind() == io::ErrorKind::BrokenPipe => Error::BrokenPipe,
            _ => Error::io("writing", self.name(), e),
        }
    }

    fn name(&self) -> PathBuf {
        match &self.inner {
            Sink::Stdout(_) => PathBuf::from("<stdout>"),
            Sink::File { path, .. } | Sink::Special { path, .. } => path.clone(),
        }
    }

    /// Flushes and, for a file, renames the temporary file onto the target path.
    pub fn finish(self) -> Result<()> {
        match self.inner {
            Sink::Special { mut writer, path } => {
                writer.flush().map_err(|e| Error::io("writing", &path, e))
            }
            Sink::Stdout(mut w) => w.flush().map_err(|e| {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    Error::BrokenPipe
                } else {
                    Error::io("writing", "<stdout>", e)
                }
            }),
            Sink::File { writer, path } => {
                let tmp = writer
                    .into_inner()
                    .map_err(|e| Error::io("writing", &path, e.into_error()))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = tmp
                        .as_file()
                        .set_permissions(std::fs::Permissions::from_mode(0o644));
                }
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| Error::io("syncing", &path, e))?;
                tmp.persist(&path)
                    .map_err(|e| Error::io("renaming into", &path, e.error))?;
                Ok(())
            }
        }
    }
}

/// A bad record, in its place in the output of `embed` and `label` alike: `{"line", "id", "error"}`
/// (`id` is `null` when the record has none; `file` only with several inputs).
#[derive(Serialize)]
pub struct ErrorLine<'a> {
    pub line: u64,
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<&'a str>,
    pub error: &'a str,
}

/// Serializes one output line.
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::json("serializing output", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_appears_only_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut out = Output::create(Some(&path)).unwrap();
        out.line("{\"a\":1}").unwrap();
        assert!(!path.exists());
        out.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        let mut out = Output::create(Some(&path)).unwrap();
        out.line("partial").unwrap();
        drop(out); // a failed run: the old file stays, no temp file remains
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A pipe (`--output >(gzip > out.gz)`) is written in place and stays a pipe, where renaming a
    /// temporary file onto it would replace it (and, as root, `/dev/null` itself).
    #[cfg(unix)]
    #[test]
    fn a_pipe_is_written_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let (fifo, reader) = crate::files::fifo_with_reader(dir.path(), "out.fifo");
        let mut out = Output::create(Some(&fifo)).unwrap();
        out.line("{\"a\":1}").unwrap();
        out.finish().unwrap();
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), "{\"a\":1}\n");
        // No temporary file was left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
