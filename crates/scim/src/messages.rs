//! The RFC 7644 messages: error, list response, search request, PATCH, bulk, and the discovery
//! documents.

use serde::{Deserialize, Serialize};

use crate::error::ScimType;

/// The error body of RFC 7644 §3.12.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessage {
    pub schemas: Vec<String>,
    /// The HTTP status, as a string per RFC 7644 §3.12 (accepted as a number on input).
    #[serde(with = "status_string")]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ErrorMessage {
    pub fn new(
        status: u16,
        scim_type: Option<ScimType>,
        detail: impl Into<String>,
    ) -> ErrorMessage {
        ErrorMessage {
            schemas: vec![crate::urn::ERROR.to_owned()],
            status,
            scim_type: scim_type.map(|t| t.as_str().to_owned()),
            detail: Some(detail.into()),
        }
    }
}

mod status_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(status: &u16, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&status.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(u16),
            S(String),
        }
        match Either::deserialize(d)? {
            Either::N(n) => Ok(n),
            Either::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
        }
    }
}
