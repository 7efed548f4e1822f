//! Reading request bodies and query strings into SCIM values, with SCIM errors for every fault.
//!
//! Framework extractors answer faults in plain text; these answer with RFC 7644 error bodies,
//! and bound what they read.

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::error::ApiError;

/// Checks the `Content-Type` of a body-carrying request: `application/scim+json` (RFC 7644
/// §3.1) or `application/json`, with any parameters.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(
            "missing Content-Type; send 'Content-Type: application/scim+json'".into(),
        ));
    };
    let essence = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/scim+json" || essence == "application/json" {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Type '{}'; send 'Content-Type: application/scim+json'",
            ct.to_str().unwrap_or("(not text)")
        )))
    }
}

/// Reads at most `limit` bytes of body and parses them as one JSON value.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ApiError> {
    check_content_type(headers)?;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        // The only error `to_bytes` gives besides a broken connection is the limit.
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            too_large(limit)
        } else {
            ApiError::Scim(scim::Error::InvalidSyntax(format!(
                "could not read the request body: {e}"
            )))
        }
    })?;
    parse_json(&bytes)
}

/// Parses a JSON document, naming the line and column of a syntax error.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Scim(scim::Error::InvalidSyntax(
            "the request body is empty; send a JSON document".into(),
        )));
    }
    serde_json::from_slice::<Strict>(bytes)
        .map(|s| s.0)
        .map_err(|e| {
            ApiError::Scim(scim::Error::InvalidSyntax(format!(
                "the request body is not valid JSON: {e}"
            )))
        })
}

/// A JSON value that rejects an object with the same key twice. `serde_json::Value` keeps the
/// last silently, which would store one of two conflicting values without saying so.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            match out.entry(key) {
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(v);
                }
                serde_json::map::Entry::Occupied(e) => {
                    return Err(serde::de::Error::custom(format!(
                        "the key \"{}\" appears twice in one object",
                        e.key()
                    )));
                }
            }
        }
        Ok(Value::Object(out))
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the request body is larger than the limit of {limit} bytes"
    ))
}

/// Decodes an `application/x-www-form-urlencoded` query string into pairs, with parameter
/// names lower-cased (RFC 7644 treats them case-insensitively in practice: clients send
/// `startindex`, `StartIndex`, …).
pub fn query_pairs(query: Option<&str>) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let Some(q) = query else { return Vec::new() };
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| match k {
            Cow::Borrowed(k) if !k.bytes().any(|b| b.is_ascii_uppercase()) => (Cow::Borrowed(k), v),
            k => (Cow::Owned(k.to_ascii_lowercase()), v),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward form: `+` to space, then `percent-encoding`'s decoder.
    fn reference(s: &str) -> String {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    }

    #[test]
    fn values_decode_as_percent_encoding_does() {
        for s in [
            "userName%20eq%20%22bjensen%40example.com%22",
            "a+b%2Bc",
            "%",
            "%4",
            "%4G",
            "100%",
            "%zz%41",
            "%FF%FEok",
            "%C3%A9t%C3%A9",
            "%E2%82",
            "plain",
        ] {
            let query = format!("filter={s}");
            let pairs = query_pairs(Some(&query));
            assert_eq!(pairs[0].1, reference(s), "{s}");
        }
    }

    #[test]
    fn names_are_lower_cased_and_values_decoded() {
        let pairs = query_pairs(Some("Filter=a%20eq%20%22x%22&startIndex=2&&count"));
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        assert_eq!(
            pairs,
            vec![("filter", "a eq \"x\""), ("startindex", "2"), ("count", "")]
        );
    }
}
