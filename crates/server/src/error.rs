//! The one table from every failure to an HTTP response.
//!
//! Handlers return [`ApiError`]; nothing else builds an error body. Every rejection is an
//! RFC 7644 §3.12 error (`application/scim+json`) with a status, a `scimType` where the RFC
//! defines one, and a `detail` a person can act on — including the faults a framework would
//! otherwise answer in plain text (bad JSON, wrong content type, oversized body, unknown route).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::ScimType;
use scim::messages::ErrorMessage;
use store::StoreError;

use crate::SCIM_CONTENT_TYPE;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The protocol layer rejected the request (filter, path, value, mutability, …).
    #[error(transparent)]
    Scim(#[from] scim::Error),
    /// The store rejected or failed the operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Missing, malformed, unknown or revoked bearer token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No such resource or route (in this tenant).
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method; carries the methods it has.
    #[error("method not allowed; this endpoint supports {allow}")]
    MethodNotAllowed { allow: &'static str },
    /// A body or a Bulk request larger than the advertised limits.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A body whose `Content-Type` is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// `If-None-Match` matched: the client's copy is current.
    #[error("not modified")]
    NotModified { etag: String },
    /// The request took longer than the request timeout.
    #[error("{0}")]
    RequestTimeout(String),
    /// The feature exists in RFC 7644 but this server does not offer it.
    #[error("{0}")]
    NotImplemented(String),
    /// A fault of the server itself; details go to the log, not to the client.
    #[error("internal server error")]
    Internal(String),
}

impl ApiError {
    /// Status, `scimType` and detail: the table.
    pub fn parts(&self) -> (StatusCode, Option<ScimType>, String) {
        match self {
            ApiError::Scim(e) => (status(e.status()), e.scim_type(), e.detail()),
            ApiError::Store(e) => match e {
                StoreError::NotFound { kind, id } => (
                    StatusCode::NOT_FOUND,
                    None,
                    format!("{kind} {id} not found"),
                ),
                StoreError::Uniqueness(d) => {
                    (StatusCode::CONFLICT, Some(ScimType::Uniqueness), d.clone())
                }
                StoreError::PreconditionFailed { current } => (
                    StatusCode::PRECONDITION_FAILED,
                    None,
                    format!(
                        "the resource has changed: its current version is W/\"{current}\"; \
                         read it again and retry with that ETag"
                    ),
                ),
                StoreError::InvalidMember(d) => (
                    StatusCode::BAD_REQUEST,
                    Some(ScimType::InvalidValue),
                    d.clone(),
                ),
                StoreError::Scim(e) => (status(e.status()), e.scim_type(), e.detail()),
                StoreError::InvalidCursor(d) => (
                    StatusCode::BAD_REQUEST,
                    Some(ScimType::InvalidValue),
                    format!("invalid cursor: {d}; start again without a cursor"),
                ),
                StoreError::Database(_) | StoreError::Migration(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "the database is unavailable; retry later".into(),
                ),
            },
            ApiError::Unauthorized(d) => (StatusCode::UNAUTHORIZED, None, (*d).into()),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, None, d.clone()),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, None, self.to_string())
            }
            ApiError::PayloadTooLarge(d) => (StatusCode::PAYLOAD_TOO_LARGE, None, d.clone()),
            ApiError::UnsupportedMediaType(d) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some(ScimType::InvalidSyntax),
                d.clone(),
            ),
            ApiError::NotModified { .. } => (StatusCode::NOT_MODIFIED, None, String::new()),
            ApiError::NotImplemented(d) => (StatusCode::NOT_IMPLEMENTED, None, d.clone()),
            ApiError::RequestTimeout(d) => (StatusCode::REQUEST_TIMEOUT, None, d.clone()),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "internal server error".into(),
            ),
        }
    }

    /// The RFC 7644 error body, as Bulk embeds it in an operation's `response`.
    pub fn message(&self) -> ErrorMessage {
        let (status, scim_type, detail) = self.parts();
        ErrorMessage::new(status.as_u16(), scim_type, detail)
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ApiError::Store(StoreError::Database(cause) | StoreError::Migration(cause)) => {
                tracing::error!(%cause, "database error")
            }
            _ => {}
        }
        if let ApiError::NotModified { etag } = &self {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(v) = HeaderValue::from_str(etag) {
                r.headers_mut().insert(header::ETAG, v);
            }
            return r;
        }
        let body = serde_json::to_vec(&self.message()).unwrap_or_default();
        let mut r = (self.parts().0, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        match &self {
            ApiError::Unauthorized(_) => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"scimsync\""),
                );
            }
            ApiError::MethodNotAllowed { allow } => {
                h.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::Store(StoreError::Database(_)) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        r
    }
}
