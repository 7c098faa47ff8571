//! The one error type of triage, and its single mapping to process exit codes and HTTP statuses.

use std::path::PathBuf;

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for a failure (I/O, model, artifacts, inference).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for a usage error (bad flags or configuration).
pub const EXIT_USAGE: i32 = 2;
/// Exit code of batch doors (`embed`, `label`) when the run finished but some input records were bad.
pub const EXIT_BAD_RECORDS: i32 = 3;
/// Exit code of `--retrain` when the new artifacts score worse than the current ones and `--force` was not given.
pub const EXIT_RETRAIN_REFUSED: i32 = 4;

/// Everything that can go wrong in triage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller asked for something malformed (flags, config, request fields).
    #[error("{0}")]
    Usage(String),
    /// A single input record or request body is unusable; the message is safe to show a client.
    #[error("{0}")]
    InvalidInput(String),
    /// The embedding model could not be found or fetched.
    #[error("embedding model unavailable: {0}")]
    ModelUnavailable(String),
    /// Trained artifacts (heads, table, registry) are missing or inconsistent.
    #[error("artifacts: {0}")]
    Artifacts(String),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The tensor backend failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The inference queue is full; try again shortly.
    #[error("server is overloaded, retry shortly")]
    Overloaded,
    /// A request took longer than its deadline.
    #[error("request timed out")]
    Timeout,
    /// The server is not ready (model or table still loading, or shutting down).
    #[error("service unavailable")]
    Unavailable,
    /// A retrain produced artifacts that score worse than the current ones.
    #[error("{0}")]
    RetrainRefused(String),
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::RetrainRefused(_) => EXIT_RETRAIN_REFUSED,
            _ => EXIT_FAILURE,
        }
    }

    /// The HTTP status for this error, as a number (the server maps it to axum's type).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Usage(_) | Error::InvalidInput(_) => 422,
            Error::Overloaded => 429,
            Error::Timeout => 504,
            Error::Unavailable => 503,
            _ => 500,
        }
    }

    /// The message a client may see: internals (paths, backend errors) are replaced by a generic text.
    pub fn public_message(&self) -> String {
        match self {
            Error::Usage(m) | Error::InvalidInput(m) => m.clone(),
            Error::Overloaded | Error::Timeout | Error::Unavailable => self.to_string(),
            _ => "internal error".to_string(),
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Inference(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_never_reach_clients() {
        let e = Error::io(
            "reading",
            "/secret/path",
            std::io::Error::other("disk on fire"),
        );
        assert_eq!(e.http_status(), 500);
        assert_eq!(e.public_message(), "internal error");
        assert!(e.to_string().contains("/secret/path"));
        let e = Error::InvalidInput("prompt is empty".into());
        assert_eq!(
            (e.http_status(), e.public_message().as_str()),
            (422, "prompt is empty")
        );
        assert_eq!(Error::Overloaded.http_status(), 429);
        assert_eq!(Error::Usage("x".into()).exit_code(), EXIT_USAGE);
    }
}
