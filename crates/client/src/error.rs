//! What can go wrong talking to a SCIM service provider, sorted by what the caller should do
//! about it.
//!
//! The provisioning engine decides from the kind alone: retry later (transient, throttled,
//! server error), fix credentials (unauthorized), or record the object as failed with the
//! server's own words (the rest). Every variant that comes from an HTTP answer keeps the
//! server's SCIM error body, so `scimType` and `detail` reach the provisioning log unchanged.

use std::fmt;
use std::time::Duration;

use scim::ScimType;
use scim::messages::ErrorMessage;

/// The server's side of a failed exchange: HTTP status and the SCIM error body, when it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    /// The RFC 7644 §3.12 body; `None` when the body was empty or not a SCIM error.
    pub body: Option<Box<ErrorMessage>>,
    /// The body as text when it was not a SCIM error (an HTML page from a proxy, say), cut to a
    /// length that fits in a log line.
    pub text: Option<String>,
}

impl Rejection {
    /// The `scimType` keyword, when the server gave a known one.
    pub fn scim_type(&self) -> Option<ScimType> {
        self.body.as_deref().and_then(ErrorMessage::scim_type)
    }

    /// The server's `detail`, or the start of a non-SCIM body.
    pub fn detail(&self) -> Option<&str> {
        self.body
            .as_ref()
            .and_then(|b| b.detail.as_deref())
            .or(self.text.as_deref())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(t) = self.body.as_ref().and_then(|b| b.scim_type.as_deref()) {
            write!(f, " {t}")?;
        }
        if let Some(d) = self.detail() {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// Every failure of a client call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No usable answer: connection refused or reset, a timeout, or 408/502/503/504. Worth
    /// retrying later; the client already retried as far as its policy allows.
    #[error("transient failure: {message}")]
    Transient {
        message: String,
        /// The answer, when there was one (502/503/504/408).
        rejection: Option<Rejection>,
    },
    /// 429 (or 503 with `Retry-After`) still after the retries, or a `Retry-After` longer than
    /// the client is willing to wait inside one call.
    #[error("throttled by the server ({rejection}){}", .retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    Throttled {
        retry_after: Option<Duration>,
        rejection: Rejection,
    },
    /// 401 or 403, or a token endpoint that refused the client's credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(Rejection),
    /// 404: the resource or the endpoint does not exist.
    #[error("not found: {0}")]
    NotFound(Rejection),
    /// 409: usually `scimType: uniqueness` (the userName is taken).
    #[error("conflict: {0}")]
    Conflict(Rejection),
    /// 412: the resource changed since the ETag the caller sent.
    #[error("precondition failed: {0}")]
    PreconditionFailed(Rejection),
    /// Any other 4xx: the request itself is wrong and sending it again will not help.
    #[error("invalid request: {0}")]
    InvalidRequest(Rejection),
    /// 500, 501 and 5xx not covered by [`Error::Transient`].
    #[error("server error: {0}")]
    Server(Rejection),
    /// A 2xx answer the client could not understand (not JSON, not the message it should be).
    #[error("invalid response from {url}: {message}")]
    InvalidResponse { url: String, message: String },
    /// The server does not offer what the call needs, and there is no equivalent to fall back
    /// to (for example PATCH of a resource type the client has no schema for, on a server
    /// without PATCH).
    #[error("not supported by the server: {0}")]
    Unsupported(String),
    /// The client was configured with something unusable (a malformed URL, a bad header value).
    #[error("configuration: {0}")]
    Config(String),
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Maps a non-success HTTP answer to its kind. Retry decisions are made before this, by the
    /// transport; this is the classification of what is left.
    pub(crate) fn from_status(rejection: Rejection, retry_after: Option<Duration>) -> Error {
        match rejection.status {
            401 | 403 => Error::Unauthorized(rejection),
            404 => Error::NotFound(rejection),
            409 => Error::Conflict(rejection),
            412 => Error::PreconditionFailed(rejection),
            429 => Error::Throttled {
                retry_after,
                rejection,
            },
            503 if retry_after.is_some() => Error::Throttled {
                retry_after,
                rejection,
            },
            408 | 502 | 503 | 504 => Error::Transient {
                message: format!("HTTP {}", rejection.status),
                rejection: Some(rejection),
            },
            s if s >= 500 => Error::Server(rejection),
            _ => Error::InvalidRequest(rejection),
        }
    }

    /// The server's answer, for every variant that has one.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Transient { rejection, .. } => rejection.as_ref(),
            Error::Throttled { rejection, .. }
            | Error::Unauthorized(rejection)
            | Error::NotFound(rejection)
            | Error::Conflict(rejection)
            | Error::PreconditionFailed(rejection)
            | Error::InvalidRequest(rejection)
            | Error::Server(rejection) => Some(rejection),
            Error::InvalidResponse { .. } | Error::Unsupported(_) | Error::Config(_) => None,
        }
    }

    /// The HTTP status of the server's answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        self.rejection().map(|r| r.status)
    }

    /// The server's `scimType`, if it sent a known one.
    pub fn scim_type(&self) -> Option<ScimType> {
        self.rejection().and_then(Rejection::scim_type)
    }

    /// The server's `detail`, if it sent one.
    pub fn detail(&self) -> Option<&str> {
        self.rejection().and_then(Rejection::detail)
    }

    /// Whether trying the same call later may succeed without changing it: what escrow and
    /// quarantine in the engine key on.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Transient { .. } | Error::Throttled { .. } | Error::Server(_)
        )
    }
}
