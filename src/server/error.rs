//! HTTP errors: every failure becomes `{"error": {"type", "message"}}` with a fitting status, and never
//! shows internals (paths, backend messages) to the client.

use super::api::{ErrorDetail, ErrorResponse};
use crate::error::Error;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Seconds a client is told to wait after 429 or 503.
pub const RETRY_AFTER_SECS: &str = "1";

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorDetail {
                kind: self.kind.to_string(),
                message: self.message.clone(),
            },
        }
    }

    /// 404 for unknown paths.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    }

    /// 405 for known paths with the wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this endpoint",
        )
    }

    /// Maps a JSON parse failure: malformed JSON is 400, well-formed JSON of the wrong shape is 422.
    pub fn from_json(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("invalid request body: {e}"),
            ),
            Category::Syntax | Category::Eof | Category::Io => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("request body is not valid JSON: {e}"),
            ),
        }
    }

    /// Maps a body that could not be read (too large, or the connection failed).
    pub fn from_body(e: &BytesRejection, limit: usize) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is larger than {limit} bytes"),
            )
        } else {
            Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "request body could not be read",
            )
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Usage(_) | Error::InvalidInput(_) => "invalid_request",
            Error::Overloaded => "overloaded",
            Error::Timeout => "timeout",
            Error::Unavailable => "unavailable",
            _ => "internal",
        };
        if kind == "internal" {
            tracing::error!(error = %e, "request failed");
        }
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, kind, e.public_message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        );
        let mut response = (self.status, Json(self.body())).into_response();
        if retry {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_kinds() {
        let e = ApiError::from(Error::io(
            "reading",
            "/secret",
            std::io::Error::other("disk"),
        ));
        assert_eq!((e.status.as_u16(), e.kind), (500, "internal"));
        assert_eq!(e.message, "internal error");
        let e = ApiError::from(Error::Overloaded);
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        let r = e.into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let bad = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(ApiError::from_json(&bad).status, StatusCode::BAD_REQUEST);
        let wrong = serde_json::from_str::<Vec<u8>>("{}").unwrap_err();
        assert_eq!(
            ApiError::from_json(&wrong).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
