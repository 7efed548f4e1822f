//! One HTTP/1.1 keep-alive connection to the server under test.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;

/// Where requests go: `http://host:port/base`.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`, for connecting and for the `Host` header.
    pub authority: String,
    /// Path prefix of the SCIM API, e.g. `/scim/v2` (no trailing slash).
    pub base: String,
    /// `Bearer …`, precomputed once.
    pub auth: Option<HeaderValue>,
}

impl Target {
    pub fn parse(url: &str, token: Option<&str>) -> Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("'{url}' is not an http:// URL (TLS is not measured)"))?;
        let (authority, base) = match rest.split_once('/') {
            Some((a, b)) => (a, format!("/{}", b.trim_end_matches('/'))),
            None => (rest, String::new()),
        };
        if authority.is_empty() {
            bail!("'{url}' names no host");
        }
        let auth = token
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
            .transpose()
            .context("the token is not a valid header value")?;
        Ok(Target {
            authority: authority.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            auth,
        })
    }
}

/// A response, body read in full.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "status {} with a body that is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }
}

/// One connection, reopened after a failure.
#[derive(Debug)]
pub struct Conn {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Conn {
        Conn {
            target,
            sender: None,
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.target.authority)
            .await
            .with_context(|| format!("connecting to {}", self.target.authority))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request to `base + path`, reading the whole response.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response> {
        let uri = format!("{}{path}", self.target.base);
        self.send_raw(method, &uri, body).await
    }

    /// Sends one request to `uri` as given. A transport failure drops the connection so the
    /// next call reconnects.
    pub async fn send_raw(
        &mut self,
        method: Method,
        uri: &str,
        body: Option<Bytes>,
    ) -> Result<Response> {
        let result = self.try_send(method, uri, body).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn try_send(
        &mut self,
        method: Method,
        uri: &str,
        body: Option<Bytes>,
    ) -> Result<Response> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(self.connect().await?);
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender.ready().await?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, &self.target.authority);
        if let Some(auth) = &self.target.auth {
            req = req.header(AUTHORIZATION, auth);
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/scim+json");
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let res = sender.send_request(req).await?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await?.to_bytes();
        Ok(Response { status, body })
    }
}
