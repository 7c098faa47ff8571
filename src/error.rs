//! The one error type of triage, and its single mapping ([`Error::kind`]) to process exit codes, HTTP
//! statuses and the error `type` clients see.

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

/// A boxed error kept as a source (the backend's own type: candle, the tokenizer, a thread join).
pub type Source = Box<dyn std::error::Error + Send + Sync>;

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
    /// Writing output failed because its reader went away (`triage label … | head`): the reader's choice.
    #[error("the output's reader closed it")]
    BrokenPipe,
    /// A value could not be serialized (or an output line parsed back).
    #[error("{what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The inference backend (tensors, tokenizer, a worker thread) failed.
    #[error("inference failed: {message}")]
    Inference {
        message: String,
        #[source]
        source: Option<Source>,
    },
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

/// What kind of failure an error is: decides the exit code, the HTTP status and the client-facing type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flags, configuration or request fields.
    Usage,
    /// One record or request body is unusable.
    InvalidInput,
    /// The inference queue is full.
    Overloaded,
    /// A deadline passed.
    Timeout,
    /// Not ready, or shutting down.
    Unavailable,
    /// A retrain refused to replace better artifacts.
    RetrainRefused,
    /// The reader of the output went away; not a failure of triage.
    OutputClosed,
    /// Anything else: I/O, model, artifacts, inference, serialization. Its message stays internal.
    Internal,
}

impl ErrorKind {
    /// The process exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage => EXIT_USAGE,
            ErrorKind::RetrainRefused => EXIT_RETRAIN_REFUSED,
            ErrorKind::OutputClosed => EXIT_OK,
            _ => EXIT_FAILURE,
        }
    }

    /// The HTTP status.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Usage | ErrorKind::InvalidInput => 422,
            ErrorKind::Overloaded => 429,
            ErrorKind::Timeout => 504,
            ErrorKind::Unavailable => 503,
            _ => 500,
        }
    }

    /// The `type` of the JSON error body.
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::Usage | ErrorKind::InvalidInput => "invalid_request",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            _ => "internal",
        }
    }
}

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// An inference failure with no underlying error value.
    pub fn inference(message: impl Into<String>) -> Self {
        Error::Inference {
            message: message.into(),
            source: None,
        }
    }

    /// An inference failure caused by `source`.
    pub fn inference_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Inference {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A serialization failure of `what`.
    pub fn json(what: &'static str, source: serde_json::Error) -> Self {
        Error::Json { what, source }
    }

    /// The one mapping from an error to its kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage(_) => ErrorKind::Usage,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Overloaded => ErrorKind::Overloaded,
            Error::Timeout => ErrorKind::Timeout,
            Error::Unavailable => ErrorKind::Unavailable,
            Error::RetrainRefused(_) => ErrorKind::RetrainRefused,
            Error::BrokenPipe => ErrorKind::OutputClosed,
            Error::ModelUnavailable(_)
            | Error::Artifacts(_)
            | Error::Io { .. }
            | Error::Json { .. }
            | Error::Inference { .. } => ErrorKind::Internal,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }

    /// The HTTP status for this error, as a number (the server maps it to axum's type).
    pub fn http_status(&self) -> u16 {
        self.kind().http_status()
    }

    /// The message a client may see: internals (paths, backend errors) are replaced by a generic text.
    pub fn public_message(&self) -> String {
        match self.kind() {
            ErrorKind::Usage | ErrorKind::InvalidInput => self.to_string(),
            ErrorKind::Overloaded | ErrorKind::Timeout | ErrorKind::Unavailable => self.to_string(),
            _ => "internal error".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn internals_never_reach_clients() {
        let e = Error::io(
            "reading",
            "/secret/path",
            std::io::Error::other("disk on fire"),
        );
        assert_eq!(e.http_status(), 500);
        assert_eq!(e.kind().type_name(), "internal");
        assert_eq!(e.public_message(), "internal error");
        assert!(e.to_string().contains("/secret/path"));
        let e = Error::InvalidInput("prompt is empty".into());
        assert_eq!(
            (e.http_status(), e.public_message().as_str()),
            (422, "prompt is empty")
        );
        assert_eq!(Error::Overloaded.http_status(), 429);
        assert_eq!(Error::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert_eq!(
            Error::RetrainRefused("x".into()).exit_code(),
            EXIT_RETRAIN_REFUSED
        );
    }

    #[test]
    fn sources_are_kept_and_a_broken_pipe_is_the_readers_choice() {
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let e = Error::json("serializing output", json);
        assert!(e.source().is_some());
        assert_eq!(e.kind(), ErrorKind::Internal);
        let e = Error::inference_from("tokenizer", std::io::Error::other("bad"));
        assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("bad"));
        assert_eq!(Error::BrokenPipe.exit_code(), EXIT_OK);
    }
}
