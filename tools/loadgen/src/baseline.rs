//! The baseline: the cheapest server that answers the scenarios' requests.
//!
//! Axum on a multi-threaded tokio runtime, as `scimsync serve`, reading each request body in
//! full (as the real server must) and answering a fixed small JSON body. Whatever the directory
//! does beyond this (auth, validation, storage, rendering) is what the ratio to it measures.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"b1","userName":"baseline@example.com","externalId":"E0","emails":[{"value":"baseline@example.com"}],"meta":{"resourceType":"User","version":"W/\"1\""}}"#;

const LIST: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"itemsPerPage":1,"startIndex":1,"Resources":[{"id":"b1","userName":"baseline@example.com","externalId":"E0","emails":[{"value":"baseline@example.com"}]}]}"#;

const GROUP: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1","displayName":"baseline","meta":{"resourceType":"Group","version":"W/\"1\""}}"#;

const BULK: &str =
    r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],"Operations":[]}"#;

fn scim(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/scim+json")],
        body,
    )
        .into_response()
}

/// The routes the scenarios use, with fixed answers.
pub fn app() -> Router {
    Router::new()
        .route("/readyz", get(|| async { "ready" }))
        .route(
            "/scim/v2/Users",
            get(|| async { scim(StatusCode::OK, LIST) })
                .post(|_: Bytes| async { scim(StatusCode::CREATED, USER) }),
        )
        .route(
            "/scim/v2/Users/{id}",
            get(|| async { scim(StatusCode::OK, USER) })
                .patch(|_: Bytes| async { scim(StatusCode::OK, USER) })
                .put(|_: Bytes| async { scim(StatusCode::OK, USER) }),
        )
        .route(
            "/scim/v2/Groups",
            post(|_: Bytes| async { scim(StatusCode::CREATED, GROUP) }),
        )
        .route(
            "/scim/v2/Groups/{id}",
            get(|| async { scim(StatusCode::OK, GROUP) })
                .patch(|_: Bytes| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/scim/v2/Bulk",
            post(|_: Bytes| async { scim(StatusCode::OK, BULK) }),
        )
}

pub async fn serve(listen: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    println!(
        "baseline listening on http://{}/scim/v2",
        listener.local_addr()?
    );
    axum::serve(listener, app()).await?;
    Ok(())
}
