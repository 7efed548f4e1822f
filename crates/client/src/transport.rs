//! One HTTP exchange with everything real targets demand around it: authentication, the
//! per-target rate limit and concurrency limit, timeouts, and the retry policy.
//!
//! Retry rules, from what the server may have done with the request:
//!
//! * A connection that could not be made: the server never saw the request, so any method is
//!   retried, POST included.
//! * `429`: the server declined the request, so any method is retried after `Retry-After` (or
//!   the backoff when it gives none). The wait blocks every request of the client to this
//!   target, not only the one that was refused: the limit is the target's, not the request's.
//! * `503` with `Retry-After`: the server says it declined, same as 429. Without it, a 503
//!   might come from a proxy after the backend acted, so only idempotent calls are retried.
//! * `408`, `5xx` (but `501`, which will not change), timeouts and connections lost mid-way:
//!   the server may have acted, so only idempotent calls (GET, PUT, DELETE) are retried. A POST
//!   that timed out may have created the user; sending it again could create a second one.
//!
//! Delays grow exponentially with "equal jitter": half of the capped exponential delay is
//! fixed, the other half random, so retries from many workers spread out but never collapse
//! to zero.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use scim::messages::ErrorMessage;
use tokio::sync::Semaphore;

use crate::auth::{Auth, CachedToken, ClientCredentials, TokenError, TokenResponse};
use crate::clock::{Clock, Jitter};
use crate::error::{Error, Rejection, Result};

/// The media type of SCIM bodies (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// When and how often a failed call is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// Delay before the first retry (before jitter).
    pub base_delay: Duration,
    /// Upper bound of the exponential delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` waited inside a call. A longer one ends the call with
    /// [`Error::Throttled`] carrying the delay, so the engine can park the object instead of
    /// holding a worker for minutes.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based), with `jitter` in `[0, 1)`.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(30));
        let exp = self.base_delay.saturating_mul(factor).min(self.max_delay);
        exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// A request as the transport needs it to be able to send it several times.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub body: Body,
    pub if_match: Option<String>,
    /// Whether sending it twice does no harm (see the module docs).
    pub idempotent: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    None,
    Json(Vec<u8>),
}

impl Call {
    pub fn new(method: Method, url: Url) -> Call {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Call {
            method,
            url,
            body: Body::None,
            if_match: None,
            idempotent,
        }
    }

    pub fn json(mut self, body: Vec<u8>) -> Call {
        self.body = Body::Json(body);
        self
    }

    pub fn if_match(mut self, etag: Option<&str>) -> Call {
        self.if_match = etag.map(str::to_owned);
        self
    }

    /// Marks a POST that is safe to repeat (a search, which reads only).
    pub fn idempotent(mut self, yes: bool) -> Call {
        self.idempotent = yes;
        self
    }
}

/// A successful answer (2xx or 304), body read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: Url,
}

impl Reply {
    /// The body as JSON; `None` when it is empty (PATCH answered 204, say).
    pub fn json(&self) -> Result<Option<serde_json::Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|e| self.invalid(format!("body is not JSON: {e}")))
    }

    /// The body as a SCIM message, whatever the content type says: servers send
    /// `application/json` as often as `application/scim+json`.
    pub fn message<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| self.invalid(format!("{e}")))
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn invalid(&self, message: String) -> Error {
        Error::InvalidResponse {
            url: self.url.to_string(),
            message,
        }
    }
}

/// The per-target schedule: request-rate limit (GCRA) and `Retry-After` blocks.
#[derive(Debug, Default)]
struct Gate {
    /// Theoretical arrival time of the next request under the rate limit.
    tat: Option<Instant>,
    /// No request leaves before this (set by 429/503 with `Retry-After`).
    blocked_until: Option<Instant>,
}

/// Rate limit: `per_second` requests on average, `burst` of them back to back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl RateLimit {
    fn interval(&self) -> Duration {
        if self.per_second > 0.0 && self.per_second.is_finite() {
            Duration::from_secs_f64(1.0 / self.per_second)
        } else {
            Duration::ZERO
        }
    }
}

/// Everything one client needs to send requests to one target.
pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub auth: Auth,
    pub clock: Arc<dyn Clock>,
    pub jitter: Arc<dyn Jitter>,
    pub policy: RetryPolicy,
    pub rate: Option<RateLimit>,
    pub permits: Option<Semaphore>,
    pub max_response_bytes: usize,
    gate: Mutex<Gate>,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("auth", &self.auth)
            .field("clock", &self.clock)
            .field("policy", &self.policy)
            .field("rate", &self.rate)
            .field("permits", &self.permits.as_ref().map(|_| "limited"))
            .finish_non_exhaustive()
    }
}

/// Which credential to put on one attempt.
enum Credential {
    None,
    Bearer(String),
    Basic(String, String),
}

impl Transport {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        http: reqwest::Client,
        auth: Auth,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Jitter>,
        policy: RetryPolicy,
        rate: Option<RateLimit>,
        concurrency: Option<usize>,
        max_response_bytes: usize,
    ) -> Transport {
        Transport {
            http,
            auth,
            clock,
            jitter,
            policy,
            rate,
            permits: concurrency.map(|n| Semaphore::new(n.max(1))),
            max_response_bytes,
            gate: Mutex::new(Gate::default()),
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// Sends `call` to the target, with authentication, limits and retries.
    pub async fn execute(&self, call: &Call) -> Result<Reply> {
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            self.wait_turn().await;
            let permit = match &self.permits {
                Some(s) => s.acquire().await.ok(),
                None => None,
            };
            let credential = self.credential().await?;
            let used_oauth = match &credential {
                Credential::Bearer(t) if matches!(self.auth, Auth::OAuth2(_)) => Some(t.clone()),
                _ => None,
            };
            let outcome = self.send_once(call, &credential).await;
            drop(permit);
            let failure = match outcome {
                Ok(reply) => reply,
                Err(e) => {
                    let unsent = e.is_connect();
                    let message = describe(&e, call);
                    if (unsent || call.idempotent) && attempt < self.policy.max_retries {
                        let delay = self.policy.backoff(attempt, self.jitter.fraction());
                        tracing::debug!(%message, ?delay, attempt, "retrying after a transport error");
                        self.clock.sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Transient {
                        message,
                        rejection: None,
                    });
                }
            };
            if failure.status < 400 {
                return Ok(failure);
            }
            let status = failure.status;
            if status == 401
                && let Some(token) = used_oauth
                && !reauthenticated
            {
                // A token the server no longer accepts: fetch a new one and try once more.
                self.forget_token(&token).await;
                reauthenticated = true;
                continue;
            }
            let retry_after = retry_after(&failure.headers, self.clock.as_ref());
            let rejection = rejection(&failure);
            enum Next {
                After(Option<Duration>),
                Backoff,
                Stop,
            }
            let next = match status {
                429 => Next::After(retry_after),
                503 if retry_after.is_some() => Next::After(retry_after),
                501 => Next::Stop,
                408 | 500..=599 if call.idempotent => Next::Backoff,
                _ => Next::Stop,
            };
            if matches!(next, Next::Stop) || attempt >= self.policy.max_retries {
                return Err(Error::from_status(rejection, retry_after));
            }
            match next {
                Next::After(Some(delay)) => {
                    if delay > self.policy.max_retry_after {
                        return Err(Error::Throttled {
                            retry_after: Some(delay),
                            rejection,
                        });
                    }
                    tracing::debug!(status, ?delay, "target asked to retry later");
                    self.block_for(delay);
                }
                Next::After(None) | Next::Backoff => {
                    let delay = self.policy.backoff(attempt, self.jitter.fraction());
                    tracing::debug!(status, ?delay, attempt, "retrying");
                    self.clock.sleep(delay).await;
                }
                Next::Stop => {}
            }
            attempt += 1;
        }
    }

    /// Waits until the rate limit and any `Retry-After` block let the next request go.
    async fn wait_turn(&self) {
        let now = self.clock.now();
        let wait = {
            let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            let mut go = now;
            if let Some(until) = gate.blocked_until
                && until > go
            {
                go = until;
            }
            if let Some(rate) = self.rate {
                let interval = rate.interval();
                let tau = interval.saturating_mul(rate.burst.max(1) - 1);
                let tat = gate.tat.unwrap_or(go);
                let earliest = tat.checked_sub(tau).unwrap_or(go);
                go = go.max(earliest);
                gate.tat = Some(go.max(tat) + interval);
            }
            go.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            self.clock.sleep(wait).await;
        }
    }

    fn block_for(&self, delay: Duration) {
        let until = self.clock.now() + delay;
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        gate.blocked_until = Some(gate.blocked_until.map_or(until, |u| u.max(until)));
    }

    async fn credential(&self) -> Result<Credential> {
        Ok(match &self.auth {
            Auth::None => Credential::None,
            Auth::Bearer(t) => Credential::Bearer(t.clone()),
            Auth::Basic { username, password } => {
                Credential::Basic(username.clone(), password.clone())
            }
            Auth::OAuth2(cc) => Credential::Bearer(self.oauth_token(cc).await?),
        })
    }

    /// The current access token, fetched when there is none or it is about to expire. The lock
    /// is held across the fetch so that concurrent requests wait for one fetch instead of each
    /// starting their own.
    async fn oauth_token(&self, cc: &ClientCredentials) -> Result<String> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && t.is_fresh(self.clock.now())
        {
            return Ok(t.token.clone());
        }
        let fresh = self.fetch_token(cc).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn forget_token(&self, used: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.token == used) {
            *cached = None;
        }
    }

    async fn fetch_token(&self, cc: &ClientCredentials) -> Result<CachedToken> {
        let mut attempt = 0u32;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &cc.scope {
            form.push(("scope", scope));
        }
        if cc.credentials_in_body {
            form.push(("client_id", &cc.client_id));
            form.push(("client_secret", &cc.client_secret));
        }
        loop {
            let mut req = self
                .http
                .post(&cc.token_url)
                .header(header::ACCEPT, "application/json")
                .form(&form);
            if !cc.credentials_in_body {
                req = req.basic_auth(&cc.client_id, Some(&cc.client_secret));
            }
            let obtained = self.clock.now();
            let outcome = match req.send().await {
                Ok(resp) => self.read(resp).await,
                Err(e) => Err(e),
            };
            let reply = match outcome {
                Ok(r) => r,
                Err(e) => {
                    // Asking for a token changes nothing on the server: always safe to repeat.
                    if attempt < self.policy.max_retries {
                        self.clock
                            .sleep(self.policy.backoff(attempt, self.jitter.fraction()))
                            .await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Transient {
                        message: format!("token endpoint {}: {e}", cc.token_url),
                        rejection: None,
                    });
                }
            };
            if reply.status >= 500 && attempt < self.policy.max_retries {
                self.clock
                    .sleep(self.policy.backoff(attempt, self.jitter.fraction()))
                    .await;
                attempt += 1;
                continue;
            }
            if reply.status >= 400 {
                let detail = match serde_json::from_slice::<TokenError>(&reply.body) {
                    Ok(e) => match e.error_description {
                        Some(d) => format!("{}: {d}", e.error),
                        None => e.error,
                    },
                    Err(_) => snippet(&reply.body).unwrap_or_default(),
                };
                let rejection = Rejection {
                    status: reply.status,
                    body: None,
                    text: Some(format!("token endpoint {}: {detail}", cc.token_url)),
                };
                return Err(if reply.status >= 500 {
                    Error::Server(rejection)
                } else {
                    Error::Unauthorized(rejection)
                });
            }
            let parsed: TokenResponse = reply.message()?;
            return Ok(CachedToken::new(
                parsed.access_token.clone(),
                parsed.expires_in(),
                obtained,
                cc.refresh_margin,
            ));
        }
    }

    async fn send_once(
        &self,
        call: &Call,
        credential: &Credential,
    ) -> std::result::Result<Reply, reqwest::Error> {
        let mut req = self
            .http
            .request(call.method.clone(), call.url.clone())
            .header(
                header::ACCEPT,
                HeaderValue::from_static("application/scim+json, application/json;q=0.9"),
            );
        req = match credential {
            Credential::None => req,
            Credential::Bearer(t) => req.bearer_auth(t),
            Credential::Basic(u, p) => req.basic_auth(u, Some(p)),
        };
        if let Some(etag) = &call.if_match {
            req = req.header(header::IF_MATCH, etag);
        }
        if let Body::Json(bytes) = &call.body {
            req = req
                .header(header::CONTENT_TYPE, SCIM_JSON)
                .body(bytes.clone());
        }
        let resp = req.send().await?;
        self.read(resp).await
    }

    /// Reads the whole body, up to `max_response_bytes`: a misbehaving server must not be
    /// able to exhaust memory. Past the limit the rest is dropped and the reply marked by an
    /// over-long body, which JSON parsing then rejects.
    async fn read(
        &self,
        mut resp: reqwest::Response,
    ) -> std::result::Result<Reply, reqwest::Error> {
        let status = resp.status().as_u16();
        let headers = std::mem::take(resp.headers_mut());
        let url = resp.url().clone();
        let mut body = Vec::with_capacity(
            resp.content_length()
                .map_or(0, |n| n.min(self.max_response_bytes as u64) as usize),
        );
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > self.max_response_bytes {
                body.clear();
                body.extend_from_slice(b"<response larger than the client's limit>");
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
            url,
        })
    }
}

/// A log-friendly description of a transport failure.
fn describe(e: &reqwest::Error, call: &Call) -> String {
    let what = if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    let mut message = format!("{} {}: {what}", call.method, call.url);
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The server's error, parsed as a SCIM error body when it is one.
fn rejection(reply: &Reply) -> Rejection {
    let body = serde_json::from_slice::<ErrorMessage>(&reply.body)
        .ok()
        .map(Box::new);
    let text = match body {
        Some(_) => None,
        None => snippet(&reply.body),
    };
    Rejection {
        status: reply.status,
        body,
        text,
    }
}

fn snippet(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let cut: String = text.chars().take(300).collect();
    Some(if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    })
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
pub(crate) fn retry_after(headers: &HeaderMap, clock: &dyn Clock) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = parse_http_date(value)?;
    Some(
        date.duration_since(clock.system_time())
            .unwrap_or(Duration::ZERO),
    )
}

/// IMF-fixdate, the only HTTP-date form senders may generate (RFC 9110 §5.6.7).
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let dt = time::PrimitiveDateTime::parse(s, format).ok()?;
    Some(dt.assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
        };
        let ms = |a, j| p.backoff(a, j).as_millis();
        assert_eq!(
            [ms(0, 0.0), ms(1, 0.0), ms(2, 0.0), ms(3, 0.0), ms(4, 0.0)],
            [50, 100, 200, 400, 500]
        );
        assert_eq!(ms(0, 0.5), 75);
        assert_eq!(ms(40, 0.999_999), 999);
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let clock = ManualClock::new();
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&h, &clock), Some(Duration::from_secs(7)));

        let in_90s = time::OffsetDateTime::from(clock.system_time()) + Duration::from_secs(90);
        let date = in_90s
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .unwrap();
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        let got = retry_after(&h, &clock).unwrap();
        assert!(
            got <= Duration::from_secs(90) && got > Duration::from_secs(88),
            "{got:?}"
        );

        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h, &clock), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, &clock), None);
    }
}
