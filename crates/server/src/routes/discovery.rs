//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (RFC 7644 §4): readable without a
//! token, as RFC 7644 §4 allows, so clients can discover before they authenticate. They
//! describe exactly what this server does, from the same limits the handlers enforce.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use scim::messages::{
    AuthenticationScheme, PaginationConfig, ServiceProviderConfig, resource_type_document,
    schema_document,
};
use serde_json::{Value, json};

use super::{base_url, not_allowed, scim_json};
use crate::AppState;
use crate::error::ApiError;

/// The discovery endpoints under `prefix`.
pub(super) fn router(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(
            &format!("{prefix}/ServiceProviderConfig"),
            get(spc_handler).fallback(not_allowed("GET")),
        )
        .route(
            &format!("{prefix}/ResourceTypes"),
            get(resource_types).fallback(not_allowed("GET")),
        )
        .route(
            &format!("{prefix}/ResourceTypes/{{id}}"),
            get(resource_type).fallback(not_allowed("GET")),
        )
        .route(
            &format!("{prefix}/Schemas"),
            get(schemas).fallback(not_allowed("GET")),
        )
        .route(
            &format!("{prefix}/Schemas/{{id}}"),
            get(schema).fallback(not_allowed("GET")),
        )
}

/// The configuration document of this server.
pub fn service_provider_config(state: &AppState, base: &str) -> ServiceProviderConfig {
    let l = &state.limits;
    ServiceProviderConfig::new()
        .with_documentation_uri("https://github.com/scimsync/scimsync")
        .with_patch(true)
        .with_bulk(l.bulk_max_operations as u64, l.bulk_max_payload as u64)
        .with_filter(l.max_page_size)
        .with_sort(true)
        .with_etag(true)
        .with_change_password(false)
        .with_pagination(PaginationConfig {
            cursor: true,
            index: true,
            default_pagination_method: Some("index".into()),
            default_page_size: Some(l.default_page_size),
            max_page_size: Some(l.max_page_size),
            cursor_timeout: None,
        })
        .with_authentication_scheme(AuthenticationScheme::oauth_bearer_token())
        .with_location(base)
}

async fn spc_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&state, &headers);
    let doc = serde_json::to_value(service_provider_config(&state, &base)).unwrap_or(Value::Null);
    scim_json(StatusCode::OK, &doc)
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [scim::urn::LIST_RESPONSE],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

async fn resource_types(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&state, &headers);
    let docs = state
        .registry
        .resource_types()
        .iter()
        .map(|rt| resource_type_document(rt, &base))
        .collect();
    scim_json(StatusCode::OK, &list(docs))
}

async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    let rt = state
        .registry
        .resource_type(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no resource type {id}")))?;
    Ok(scim_json(
        StatusCode::OK,
        &resource_type_document(rt, &base),
    ))
}

async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&state, &headers);
    let discovery = scim::schema::discovery_schemas();
    let docs = state
        .registry
        .schemas()
        .iter()
        .chain(discovery.iter())
        .map(|s| schema_document(s, &base))
        .collect();
    scim_json(StatusCode::OK, &list(docs))
}

async fn schema(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    let discovery = scim::schema::discovery_schemas();
    let s = state
        .registry
        .schema(&id)
        .or_else(|| discovery.iter().find(|s| s.id.eq_ignore_ascii_case(&id)))
        .ok_or_else(|| ApiError::NotFound(format!("no schema {id}")))?;
    Ok(scim_json(StatusCode::OK, &schema_document(s, &base)))
}
