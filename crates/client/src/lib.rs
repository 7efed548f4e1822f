//! A SCIM 2.0 client (RFC 7643/7644) for the endpoints scimsync provisions into and reads
//! from.
//!
//! The provisioning engine meets every SCIM implementation there is, so the client is built
//! around what real servers do rather than what the RFC says they should:
//!
//! * **Discovery decides behaviour.** `/ServiceProviderConfig` is read once per client and
//!   cached ([`Client::capabilities`]). Without PATCH the client sends PUT (fetching and
//!   patching locally when it is handed a PatchOp); without Bulk, [`Client::bulk`] runs the
//!   operations one by one; Bulk requests are cut to the advertised `maxOperations` and
//!   `maxPayloadSize`; pages never exceed `filter.maxResults`; RFC 9865 cursors are used where
//!   the server offers them, because index paging skips or repeats resources when the set
//!   changes during the export and costs the server an OFFSET per page.
//! * **Retries follow what the server may have done** (see [`transport`]): anything is retried
//!   when the connection could not be made or the server declined (429, 503 with
//!   `Retry-After`); only idempotent calls when the request may have been acted on.
//! * **Errors are typed by what to do next** ([`Error`]), and carry the server's SCIM error.
//! * **Tolerance**: `application/json` bodies, PATCH answered 204 without a body, list
//!   responses without `itemsPerPage` or with `startIndex` as a string (parsed by
//!   `scim::messages`), groups whose `members` come only when asked for.
//! * **Time and randomness are injected** ([`Clock`], [`Jitter`]) so the retry schedule and
//!   token expiry are tested without sleeping.
//!
//! Resources are `serde_json::Value`, as in the `scim` crate: a target's custom extension is
//! data, not a type.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::{Method, Url};
use scim::messages::{
    DEFAULT_BULK_MAX_OPERATIONS, DEFAULT_BULK_MAX_PAYLOAD_SIZE, ServiceProviderConfig,
};
use scim::schema::{ResourceType, Schema};
use serde_json::Value;
use tokio::sync::OnceCell;

pub mod auth;
mod bulk;
pub mod clock;
mod diff;
mod error;
pub mod filter;
mod list;
mod resources;
pub mod transport;

pub use auth::{Auth, ClientCredentials};
pub use bulk::{BulkDone, BulkResult};
pub use clock::{Clock, FixedJitter, Jitter, ManualClock, RandomJitter, SystemClock};
pub use diff::PatchBuilder;
pub use error::{Error, Rejection, Result};
pub use list::{Page, Paging, Query};
pub use resources::Resources;
pub use transport::{RateLimit, RetryPolicy};

use transport::{Call, Transport};

/// What the target can do, distilled from its ServiceProviderConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    /// `None` when the server has no Bulk endpoint.
    pub bulk: Option<BulkLimits>,
    pub filter: bool,
    /// Most resources one page may return (`filter.maxResults`, or RFC 9865's
    /// `maxPageSize`, whichever is smaller); `None` when the server states no limit.
    pub max_results: Option<u64>,
    pub sort: bool,
    pub etag: bool,
    /// RFC 9865 cursor pagination.
    pub cursor_paging: bool,
}

/// Bulk limits as advertised, with RFC 7643's example figures when a server advertises 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    pub max_operations: u64,
    pub max_payload_size: u64,
}

impl Capabilities {
    pub fn from_config(spc: &ServiceProviderConfig) -> Capabilities {
        let nonzero = |n: u64| (n > 0).then_some(n);
        let pagination = spc.pagination.as_ref();
        let max_results = [
            nonzero(spc.filter.max_results),
            pagination.and_then(|p| p.max_page_size).and_then(nonzero),
        ]
        .into_iter()
        .flatten()
        .min();
        Capabilities {
            patch: spc.patch.supported,
            bulk: spc.bulk.supported.then(|| BulkLimits {
                max_operations: nonzero(spc.bulk.max_operations)
                    .unwrap_or(DEFAULT_BULK_MAX_OPERATIONS),
                max_payload_size: nonzero(spc.bulk.max_payload_size)
                    .unwrap_or(DEFAULT_BULK_MAX_PAYLOAD_SIZE),
            }),
            filter: spc.filter.supported,
            max_results,
            sort: spc.sort.supported,
            etag: spc.etag.supported,
            cursor_paging: pagination.is_some_and(|p| p.cursor),
        }
    }

    /// What is assumed of a server without a ServiceProviderConfig (404): PATCH and filtering,
    /// which every provisioning target must have for Entra, and nothing optional.
    pub fn assumed() -> Capabilities {
        Capabilities {
            patch: true,
            bulk: None,
            filter: true,
            max_results: None,
            sort: false,
            etag: false,
            cursor_paging: false,
        }
    }
}

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    auth: Auth,
    connect_timeout: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
    rate: Option<RateLimit>,
    concurrency: Option<usize>,
    page_size: u64,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    capabilities: Option<Capabilities>,
    max_response_bytes: usize,
    user_agent: String,
}

impl ClientBuilder {
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub fn bearer(self, token: impl Into<String>) -> Self {
        self.auth(Auth::Bearer(token.into()))
    }

    /// Time allowed to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one attempt, from connecting to the end of the body (default 60 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// At most `per_second` requests per second on average, `burst` back to back.
    pub fn rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        self.rate = Some(RateLimit { per_second, burst });
        self
    }

    /// At most `n` requests in flight at once (default 8; `None` for no limit).
    pub fn concurrency(mut self, n: Option<usize>) -> Self {
        self.concurrency = n;
        self
    }

    /// Resources per page when a query sets none (default 100), capped by the server's limit.
    pub fn page_size(mut self, n: u64) -> Self {
        self.page_size = n.max(1);
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn jitter(mut self, jitter: Arc<dyn Jitter>) -> Self {
        self.jitter = jitter;
        self
    }

    /// Skips discovery and uses these capabilities (for targets whose ServiceProviderConfig
    /// lies, which happens).
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = Some(capabilities);
        self
    }

    /// Largest response body read (default 64 MiB); a larger one is an invalid response.
    pub fn max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = n;
        self
    }

    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    pub fn build(self) -> Result<Client> {
        let base = Url::parse(self.base_url.trim())
            .map_err(|e| Error::Config(format!("base URL '{}': {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "base URL '{}' must be an http:// or https:// URL such as https://example.com/scim/v2",
                self.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let transport = Transport::new(
            http,
            self.auth,
            self.clock,
            self.jitter,
            self.retry,
            self.rate,
            self.concurrency,
            self.max_response_bytes,
        );
        let capabilities = OnceCell::new_with(self.capabilities.map(Arc::new));
        Ok(Client {
            inner: Arc::new(Inner {
                base,
                transport,
                page_size: self.page_size,
                spc: OnceCell::new(),
                capabilities,
                resource_types: OnceCell::new(),
                schemas: OnceCell::new(),
                registry: OnceLock::new(),
            }),
        })
    }
}

/// A client of one SCIM service provider. Cheap to clone; clones share the discovery cache,
/// the OAuth token and the rate and concurrency limits.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    base: Url,
    transport: Transport,
    page_size: u64,
    spc: OnceCell<Option<Arc<ServiceProviderConfig>>>,
    capabilities: OnceCell<Arc<Capabilities>>,
    resource_types: OnceCell<Arc<Vec<ResourceType>>>,
    schemas: OnceCell<Arc<Vec<Schema>>>,
    /// Schemas for applying PATCH locally on targets without PATCH.
    registry: OnceLock<scim::Registry>,
}

impl Client {
    /// Settings for a client of the service provider at `base_url` (the URL that
    /// `/Users` is relative to, e.g. `https://example.com/scim/v2`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            auth: Auth::None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            rate: None,
            concurrency: Some(8),
            page_size: 100,
            clock: Arc::new(SystemClock),
            jitter: Arc::new(RandomJitter),
            capabilities: None,
            max_response_bytes: 64 * 1024 * 1024,
            user_agent: concat!("scimsync/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The resources at `endpoint` (`"Users"`, `"/Groups"`, a custom type's endpoint).
    pub fn resources(&self, endpoint: &str) -> Resources {
        Resources::new(self.clone(), endpoint)
    }

    pub fn users(&self) -> Resources {
        self.resources("Users")
    }

    pub fn groups(&self) -> Resources {
        self.resources("Groups")
    }

    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The ServiceProviderConfig, fetched on first use; `None` when the server has none (404).
    pub async fn service_provider_config(&self) -> Result<Option<Arc<ServiceProviderConfig>>> {
        self.inner
            .spc
            .get_or_try_init(|| async {
                let call = Call::new(Method::GET, self.url(&["ServiceProviderConfig"])?);
                match self.inner.transport.execute(&call).await {
                    Ok(reply) => Ok(Some(Arc::new(reply.message()?))),
                    Err(Error::NotFound(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await
            .cloned()
    }

    /// What the server can do; discovery runs once per client, and only succeeds are cached
    /// (a failed discovery is tried again on the next call).
    pub async fn capabilities(&self) -> Result<Arc<Capabilities>> {
        self.inner
            .capabilities
            .get_or_try_init(|| async {
                Ok(Arc::new(match self.service_provider_config().await? {
                    Some(spc) => Capabilities::from_config(&spc),
                    None => Capabilities::assumed(),
                }))
            })
            .await
            .cloned()
    }

    /// `/ResourceTypes`, fetched once. Entries that do not parse are skipped: one vendor's
    /// odd resource type must not hide the others.
    pub async fn resource_types(&self) -> Result<Arc<Vec<ResourceType>>> {
        self.inner
            .resource_types
            .get_or_try_init(|| async { Ok(Arc::new(self.discovery_list("ResourceTypes").await?)) })
            .await
            .cloned()
    }

    /// `/Schemas`, fetched once, with the same tolerance as [`Client::resource_types`].
    pub async fn schemas(&self) -> Result<Arc<Vec<Schema>>> {
        self.inner
            .schemas
            .get_or_try_init(|| async { Ok(Arc::new(self.discovery_list("Schemas").await?)) })
            .await
            .cloned()
    }

    /// A discovery listing: a ListResponse, or a bare array as some servers send.
    async fn discovery_list<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
    ) -> Result<Vec<T>> {
        let call = Call::new(Method::GET, self.url(&[endpoint])?);
        let reply = self.inner.transport.execute(&call).await?;
        let items = match reply.json()? {
            Some(Value::Array(items)) => items,
            Some(Value::Object(mut map)) => {
                let key = map
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("Resources"))
                    .cloned();
                match key.and_then(|k| map.remove(&k)) {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        Ok(items
            .into_iter()
            .filter_map(|item| match serde_json::from_value(item) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::debug!(endpoint, error = %e, "skipping an unreadable discovery entry");
                    None
                }
            })
            .collect())
    }

    /// `base` + path segments, each percent-encoded as one segment.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.inner.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                Error::Config(format!("base URL {} cannot take a path", self.inner.base))
            })?;
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        Ok(url)
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    pub(crate) fn default_page_size(&self) -> u64 {
        self.inner.page_size
    }

    pub(crate) fn registry(&self) -> &scim::Registry {
        self.inner.registry.get_or_init(scim::Registry::rfc7643)
    }
}
