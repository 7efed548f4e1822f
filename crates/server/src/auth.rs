//! Bearer tokens: generation, hashing and the request guard.
//!
//! A token is 32 random bytes, shown once as `scim_` + hex. Only its SHA-256 is stored, so a
//! copy of the database yields no usable credential. The lookup is by hash; the fetched hash is
//! compared again in constant time so no comparison inside this process leaks timing.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use sha2::{Digest, Sha256};
use store::{Principal, Store, TenantId};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// Prefix that makes a leaked scimsync token recognisable to secret scanners.
pub const TOKEN_PREFIX: &str = "scim_";

/// A fresh secret token, as it is shown to the person who created it.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The SHA-256 of a token, which is all the store ever sees.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Creates a token for the tenant named `tenant` (creating the tenant if needed) and returns
/// the secret. Used by `scimsync token create` and by the first start of `scimsync serve`.
pub async fn issue_token(
    store: &dyn Store,
    tenant: &str,
    label: Option<&str>,
) -> Result<(String, store::TokenInfo), store::StoreError> {
    let (tenant, _) = store.ensure_tenant(tenant).await?;
    let secret = generate_token();
    let info = store
        .create_token(tenant.id, hash_token(&secret), label)
        .await?;
    Ok((secret, info))
}

/// How long a token found live is trusted without asking the store again. Revocation
/// (`scimsync token revoke`, from any process or replica) therefore takes effect within this
/// time; in exchange a request costs no database read for its token, which was a sixth of the
/// CPU of a GET.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);

/// Live tokens remembered at most; beyond it the expired ones are dropped, or all of them.
const TOKEN_CACHE_MAX: usize = 4096;

/// Tokens recently found live, by the SHA-256 of their secret. Only live tokens are remembered:
/// an unknown or revoked token is looked up every time.
#[derive(Debug, Default)]
pub struct TokenCache {
    live: RwLock<HashMap<[u8; 32], (Principal, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &[u8; 32]) -> Option<Principal> {
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        live.get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    fn put(&self, hash: [u8; 32], principal: Principal) {
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        if live.len() >= TOKEN_CACHE_MAX {
            live.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
            if live.len() >= TOKEN_CACHE_MAX {
                live.clear();
            }
        }
        live.insert(hash, (principal, Instant::now()));
    }
}

/// The authenticated tenant of a request, put into request extensions by [`require_token`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub token_id: String,
}

/// Middleware: rejects requests without a live bearer token, and records the caller.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "missing Authorization header; send 'Authorization: Bearer <token>'",
        ))?;
    let value = header.to_str().map_err(|_| {
        ApiError::Unauthorized("malformed Authorization header; expected 'Bearer <token>'")
    })?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(ApiError::Unauthorized(
                "malformed Authorization header; expected 'Bearer <token>'",
            ));
        }
    };
    if token.is_empty() || token.len() > 512 {
        return Err(ApiError::Unauthorized("malformed bearer token"));
    }
    let hash = hash_token(token);
    let principal = match state.tokens.get(&hash) {
        Some(p) => p,
        None => {
            let p: Principal = state
                .store
                .authenticate(hash)
                .await?
                .ok_or(ApiError::Unauthorized("invalid or revoked token"))?;
            state.tokens.put(hash, p.clone());
            p
        }
    };
    // The database found the row through an index on the hash, which reveals nothing usable: an
    // attacker cannot steer a SHA-256 prefix. The acceptance decision itself is constant-time.
    if !bool::from(principal.hash.ct_eq(&hash)) {
        return Err(ApiError::Unauthorized("invalid or revoked token"));
    }
    let caller = Caller {
        tenant: principal.tenant,
        token_id: principal.token_id,
    };
    req.extensions_mut().insert(caller.clone());
    let mut res = next.run(req).await;
    res.extensions_mut().insert(caller);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
