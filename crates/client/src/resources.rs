//! Single-resource operations (RFC 7644 §3.3–§3.6) on one endpoint, and the PATCH fallbacks
//! for servers without PATCH.

use reqwest::header;
use reqwest::{Method, Url};
use scim::messages::PatchRequest;
use serde_json::Value;

use crate::diff::PatchBuilder;
use crate::error::{Error, Result};
use crate::list::{self, Page, Query};
use crate::transport::{Call, Reply};
use crate::{Client, filter};

/// The resources at one endpoint of a [`Client`], e.g. `/Users`.
#[derive(Debug, Clone)]
pub struct Resources {
    client: Client,
    /// Path segments of the endpoint, without slashes.
    segments: Vec<String>,
}

impl Resources {
    pub(crate) fn new(client: Client, endpoint: &str) -> Resources {
        Resources {
            client,
            segments: endpoint
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The endpoint as RFC 7644 writes it, e.g. `/Users`.
    pub fn endpoint(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }

    pub(crate) fn url(&self, extra: &[&str]) -> Result<Url> {
        let segments: Vec<&str> = self
            .segments
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
            .collect();
        self.client.url(&segments)
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// `POST`: creates the resource and returns it as the server stored it.
    ///
    /// A server that answers 201 with no body gets a GET of its `Location`.
    pub async fn create(&self, resource: &Value) -> Result<Value> {
        let call = Call::new(Method::POST, self.url(&[])?).json(to_vec(resource));
        let reply = self.client.transport().execute(&call).await?;
        match reply.json()? {
            Some(v) => Ok(v),
            None => match reply.header(header::LOCATION).map(str::to_owned) {
                Some(location) => {
                    let url = reply
                        .url
                        .join(&location)
                        .map_err(|e| reply.invalid(format!("Location '{location}': {e}")))?;
                    let call = Call::new(Method::GET, url);
                    let fetched = self.client.transport().execute(&call).await?;
                    body(&fetched)
                }
                None => Err(reply.invalid("201 without a body or a Location".into())),
            },
        }
    }

    /// `GET /{id}`.
    pub async fn get(&self, id: &str) -> Result<Value> {
        self.get_with(id, &[], &[]).await
    }

    /// `GET /{id}?attributes=…&excludedAttributes=…`.
    pub async fn get_with(
        &self,
        id: &str,
        attributes: &[&str],
        excluded_attributes: &[&str],
    ) -> Result<Value> {
        let mut url = self.url(&[id])?;
        // Touching the query at all would leave a bare `?` on the URL.
        if !attributes.is_empty() || !excluded_attributes.is_empty() {
            let mut q = url.query_pairs_mut();
            if !attributes.is_empty() {
                q.append_pair("attributes", &attributes.join(","));
            }
            if !excluded_attributes.is_empty() {
                q.append_pair("excludedAttributes", &excluded_attributes.join(","));
            }
        }
        let reply = self
            .client
            .transport()
            .execute(&Call::new(Method::GET, url))
            .await?;
        body(&reply)
    }

    /// A Group's `members`, asked for explicitly: several servers (AWS among them) leave
    /// `members` out of a plain GET. A resource without the attribute has no members.
    pub async fn members(&self, id: &str) -> Result<Vec<Value>> {
        let group = self.get_with(id, &["members"], &[]).await?;
        Ok(attribute(&group, "members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// The whole resource, `members` included even from servers that send them only on request.
    /// Used before a PUT, which would otherwise empty the group.
    pub async fn get_complete(&self, id: &str) -> Result<(Value, Option<String>)> {
        let reply = self
            .client
            .transport()
            .execute(&Call::new(Method::GET, self.url(&[id])?))
            .await?;
        let etag = etag_of(&reply);
        let mut resource = body(&reply)?;
        let is_group = self
            .segments
            .last()
            .is_some_and(|s| s.eq_ignore_ascii_case("Groups"));
        if is_group && attribute(&resource, "members").is_none() {
            let members = self.members(id).await?;
            if !members.is_empty()
                && let Some(obj) = resource.as_object_mut()
            {
                obj.insert("members".into(), Value::Array(members));
            }
        }
        Ok((resource, etag))
    }

    /// `PUT /{id}`: replaces the resource. `if_match` is sent when the server supports ETags.
    pub async fn replace(
        &self,
        id: &str,
        resource: &Value,
        if_match: Option<&str>,
    ) -> Result<Value> {
        let if_match = self.precondition(if_match).await?;
        let call = Call::new(Method::PUT, self.url(&[id])?)
            .json(to_vec(resource))
            .if_match(if_match.as_deref());
        let reply = self.client.transport().execute(&call).await?;
        match reply.json()? {
            Some(v) => Ok(v),
            // Some servers answer PUT with 204 too.
            None => Ok(resource.clone()),
        }
    }

    /// `PATCH /{id}`. Returns the resource when the server sent it; `None` for a `204`.
    ///
    /// On a server without PATCH, the resource is fetched (members included), the operations
    /// are applied here with the RFC 7643 schemas, and the result is PUT with the ETag of the
    /// fetch, so a concurrent change fails with 412 instead of being overwritten.
    pub async fn patch(
        &self,
        id: &str,
        request: &PatchRequest,
        if_match: Option<&str>,
    ) -> Result<Option<Value>> {
        let caps = self.client.capabilities().await?;
        if !caps.patch {
            return self.patch_by_put(id, request, if_match).await.map(Some);
        }
        let if_match = self.precondition(if_match).await?;
        let call = Call::new(Method::PATCH, self.url(&[id])?)
            .json(to_vec(request))
            .if_match(if_match.as_deref());
        let reply = self.client.transport().execute(&call).await?;
        reply.json()
    }

    async fn patch_by_put(
        &self,
        id: &str,
        request: &PatchRequest,
        if_match: Option<&str>,
    ) -> Result<Value> {
        let registry = self.client.registry();
        let endpoint = self.endpoint();
        let rt = registry
            .resource_type_by_endpoint(&endpoint)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "the server has no PATCH, and {endpoint} is not a resource type whose schema \
                 the client knows, so the change cannot be applied locally and PUT"
                ))
            })?;
        let ops = scim::patch::parse_operations(request)
            .map_err(|e| Error::Config(format!("PATCH request: {e}")))?;
        let (mut resource, etag) = self.get_complete(id).await?;
        for op in &ops {
            scim::patch::apply_operation(registry, rt, &mut resource, op)
                .map_err(|e| Error::Config(format!("applying PATCH locally: {e}")))?;
        }
        let if_match = if_match.map(str::to_owned).or(etag);
        self.replace(id, &resource, if_match.as_deref()).await
    }

    /// Brings the resource from `old` to `new` with the least the server supports: PATCH with
    /// the minimal operations ([`PatchBuilder::diff`]), or PUT of `new` where there is no PATCH.
    /// Nothing is sent when they do not differ. Returns what the server answered, if anything.
    pub async fn update(
        &self,
        id: &str,
        old: &Value,
        new: &Value,
        if_match: Option<&str>,
    ) -> Result<Option<Value>> {
        let Some(request) = PatchBuilder::diff(old, new).build() else {
            return Ok(None);
        };
        let caps = self.client.capabilities().await?;
        if caps.patch {
            self.patch(id, &request, if_match).await
        } else {
            self.replace(id, new, if_match).await.map(Some)
        }
    }

    /// `DELETE /{id}`.
    pub async fn delete(&self, id: &str, if_match: Option<&str>) -> Result<()> {
        let if_match = self.precondition(if_match).await?;
        let call = Call::new(Method::DELETE, self.url(&[id])?).if_match(if_match.as_deref());
        self.client.transport().execute(&call).await?;
        Ok(())
    }

    /// Every resource matching `query`, page after page (`GET` with query parameters).
    pub fn list(&self, query: Query) -> list::ResourceStream {
        list::resources(self.clone(), query, false)
    }

    /// Like [`Resources::list`], but through `POST /.search`, which keeps long filters out of
    /// URLs and logs.
    pub fn search(&self, query: Query) -> list::ResourceStream {
        list::resources(self.clone(), query, true)
    }

    /// The pages themselves, for callers that want `totalResults` (progress bars).
    pub fn pages(&self, query: Query) -> list::PageStream {
        list::pages(self.clone(), query, false)
    }

    /// The first page only, e.g. with `page_size(0)` to count.
    pub async fn first_page(&self, query: Query) -> Result<Page> {
        list::first_page(self.clone(), query).await
    }

    /// The resources whose `attribute` equals `value`, as the engine matches targets
    /// (`externalId`, then `userName`).
    pub async fn find_by(&self, attribute: &str, value: &str) -> Result<Vec<Value>> {
        let f = filter::attr(attribute)
            .map_err(|e| Error::Config(e.to_string()))?
            .eq(value);
        let page = self.first_page(Query::new().filter(&f)).await?;
        Ok(page.resources)
    }

    /// `If-Match` only where the server says it understands ETags: some servers reject a
    /// precondition header they do not support.
    async fn precondition(&self, if_match: Option<&str>) -> Result<Option<String>> {
        match if_match {
            None => Ok(None),
            Some(tag) => Ok(self
                .client
                .capabilities()
                .await?
                .etag
                .then(|| tag.to_owned())),
        }
    }
}

fn to_vec<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serializing a Value or a scim message into memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn body(reply: &Reply) -> Result<Value> {
    reply
        .json()?
        .ok_or_else(|| reply.invalid("empty body where a resource was expected".into()))
}

/// The `ETag` header, or `meta.version` when a server puts it only in the body.
fn etag_of(reply: &Reply) -> Option<String> {
    reply.header(header::ETAG).map(str::to_owned).or_else(|| {
        reply
            .json()
            .ok()
            .flatten()
            .and_then(|v| v.get("meta")?.get("version")?.as_str().map(str::to_owned))
    })
}

/// A top-level attribute, case-insensitively.
pub(crate) fn attribute<'a>(resource: &'a Value, name: &str) -> Option<&'a Value> {
    resource
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}
