//! Credentials for the SCIM endpoint: a static bearer token, HTTP basic, or OAuth 2.0 client
//! credentials (RFC 6749 §4.4).
//!
//! Targets in the wild use all three: most applications hand out a long-lived bearer token,
//! a few older ones only know basic, and enterprise products put the SCIM API behind an OAuth
//! authorization server. The client-credentials token is fetched on first use, shared by every
//! request of the client, refreshed shortly before it expires, and fetched again once when the
//! server answers 401 anyway (tokens get revoked, clocks drift).

use std::fmt;
use std::time::{Duration, Instant};

/// How the client authenticates to the SCIM service provider.
#[derive(Clone, Default)]
pub enum Auth {
    /// No `Authorization` header (discovery endpoints, test servers).
    #[default]
    None,
    /// `Authorization: Bearer <token>` (RFC 6750), the scheme of nearly every SCIM target.
    Bearer(String),
    /// `Authorization: Basic …` (RFC 7617).
    Basic { username: String, password: String },
    /// OAuth 2.0 client credentials against a token endpoint.
    OAuth2(ClientCredentials),
}

impl fmt::Debug for Auth {
    /// Secrets never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::OAuth2(cc) => write!(f, "{cc:?}"),
        }
    }
}

/// The client-credentials grant (RFC 6749 §4.4).
#[derive(Clone)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated scopes, sent as `scope` when set.
    pub scope: Option<String>,
    /// Send `client_id`/`client_secret` in the form body instead of HTTP basic. RFC 6749 §2.3.1
    /// makes basic the one every authorization server must accept, so it is the default; some
    /// servers only read the body.
    pub credentials_in_body: bool,
    /// How long before expiry a token is replaced. Capped at half the token's lifetime so that a
    /// short-lived token is not refreshed on every request.
    pub refresh_margin: Duration,
}

impl ClientCredentials {
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> ClientCredentials {
        ClientCredentials {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope: None,
            credentials_in_body: false,
            refresh_margin: Duration::from_secs(60),
        }
    }

    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    pub fn with_credentials_in_body(mut self, yes: bool) -> Self {
        self.credentials_in_body = yes;
        self
    }

    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scope", &self.scope)
            .field("credentials_in_body", &self.credentials_in_body)
            .field("refresh_margin", &self.refresh_margin)
            .finish()
    }
}

/// A fetched access token and when to stop using it.
#[derive(Clone)]
pub(crate) struct CachedToken {
    pub token: String,
    /// `None` when the token endpoint gave no `expires_in`: keep it until a 401.
    pub refresh_at: Option<Instant>,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("token", &"<redacted>")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl CachedToken {
    pub fn new(
        token: String,
        expires_in: Option<u64>,
        obtained: Instant,
        margin: Duration,
    ) -> CachedToken {
        let refresh_at = expires_in.map(|secs| {
            let lifetime = Duration::from_secs(secs);
            obtained + lifetime - margin.min(lifetime / 2)
        });
        CachedToken { token, refresh_at }
    }

    pub fn is_fresh(&self, now: Instant) -> bool {
        self.refresh_at.is_none_or(|at| now < at)
    }
}

/// The token endpoint's answer (RFC 6749 §5.1); `expires_in` arrives as a string from some
/// servers.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
}

impl TokenResponse {
    pub fn expires_in(&self) -> Option<u64> {
        match &self.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// The token endpoint's error (RFC 6749 §5.2).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}
