//! The RFC 7644 messages: error, list response, search request, PATCH, bulk, and the discovery
//! documents.
//!
//! Output always uses the canonical attribute names of the RFC. Input accepts any case
//! ("Attribute names are case insensitive", RFC 7643 §2.1), and real clients rely on it:
//! `"operations"`, `"startindex"`, `"BulkId"` all arrive in the wild. Rather than an alias per
//! field, every message is deserialized through [`CaseInsensitive`], which renames the keys of
//! the JSON object to the field names serde asks for. Each struct derives its serde code with
//! `#[serde(remote = "Self")]` (the derive then produces plain associated functions) and the
//! trait impls written by `case_insensitive_keys!` route input through the renaming first.
//!
//! Numbers that real servers send as strings (`"startIndex": "1"`) and fields they leave out
//! (`itemsPerPage`, `Resources` when there are none) are accepted: a client must cope with
//! them, and a server loses nothing by being lenient on input.

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, ScimType};
use crate::schema::{ResourceType, Schema};
pub use crate::sort::SortOrder;
use crate::urn;

/// Most operations one PATCH request may carry by default.
///
/// RFC 7644 sets no limit, but an unbounded list lets one request hold the resource lock for as
/// long as it likes. 1000 is far above what provisioning clients send (Entra batches membership
/// changes well below it). Exceeding it answers 413 like an oversized Bulk request
/// (RFC 7644 §3.7.4), since it is the same kind of fault: too much work in one message.
pub const MAX_PATCH_OPERATIONS: usize = 1000;

/// Default `maxOperations` of Bulk (RFC 7643 §8.5 uses the same figure).
pub const DEFAULT_BULK_MAX_OPERATIONS: u64 = 1000;

/// Default `maxPayloadSize` of Bulk in bytes (1 MiB, as in RFC 7643 §8.5).
pub const DEFAULT_BULK_MAX_PAYLOAD_SIZE: u64 = 1_048_576;

/// Parses a message from JSON bytes; a body that is not the message is 400 `invalidSyntax`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidSyntax(format!("malformed body: {e}")))
}

/// Parses a message from an already-parsed JSON value; same errors as [`from_slice`].
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::InvalidSyntax(format!("malformed body: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Case-insensitive input
// ---------------------------------------------------------------------------------------------

/// A JSON object whose keys are matched to struct fields ignoring ASCII case.
///
/// serde hands `deserialize_struct` the list of field names it expects; renaming the object's
/// keys to those names before the derived visitor sees them makes every derived struct
/// case-insensitive without knowing anything about it. Unknown keys are left alone (and ignored
/// by the derive), so extension data passes through untouched.
struct CaseInsensitive(Map<String, Value>);

impl<'de> Deserializer<'de> for CaseInsensitive {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        Value::Object(self.0).deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let mut out = Map::with_capacity(self.0.len());
        for (key, value) in self.0 {
            let canonical = fields
                .iter()
                .find(|f| f.eq_ignore_ascii_case(&key))
                .map_or(key, |f| (*f).to_owned());
            if out.contains_key(&canonical) {
                // `{"Operations": …, "operations": …}` names one attribute twice; taking either
                // silently would hide a client bug.
                return Err(de::Error::custom(format!(
                    "attribute \"{canonical}\" appears more than once (names are case-insensitive)"
                )));
            }
            out.insert(canonical, value);
        }
        Value::Object(out).deserialize_struct(name, fields, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Implements `Serialize`/`Deserialize` for structs deriving with `#[serde(remote = "Self")]`,
/// sending input through [`CaseInsensitive`].
macro_rules! case_insensitive_keys {
    ($($ty:ident),* $(,)?) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let map = Map::<String, Value>::deserialize(deserializer)?;
                $ty::deserialize(CaseInsensitive(map)).map_err(de::Error::custom)
            }
        }
    )*};
}

/// Declares a keyword enum whose wire form is one fixed word, matched case-insensitively on
/// input (Entra sends `"Add"`, others `"add"`), written canonically on output.
macro_rules! keyword_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The canonical keyword.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            /// Parses the keyword, ignoring ASCII case and surrounding whitespace.
            pub fn parse(s: &str) -> Option<$name> {
                let s = s.trim();
                $(if s.eq_ignore_ascii_case($word) { return Some($name::$variant); })+
                None
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        concat!("unknown ", stringify!($name), " \"{}\"; expected one of: ", $($word, " "),+),
                        s
                    ))
                })
            }
        }
    };
}
pub(crate) use keyword_enum;

/// Integers that some servers send as strings (`"startIndex": "1"`).
mod lenient_int {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        I(i64),
        U(u64),
        F(f64),
        S(String),
    }

    fn parse<E: serde::de::Error>(v: Either) -> Result<i64, E> {
        match v {
            Either::I(i) => Ok(i),
            Either::U(u) => Ok(i64::try_from(u).unwrap_or(i64::MAX)),
            Either::F(f) if f.fract() == 0.0 && f.is_finite() => Ok(f as i64),
            Either::F(f) => Err(E::custom(format!("expected an integer, found {f}"))),
            Either::S(s) => s
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("expected an integer, found \"{s}\""))),
        }
    }

    fn non_negative<E: serde::de::Error>(i: i64) -> Result<u64, E> {
        u64::try_from(i)
            .map_err(|_| E::custom(format!("expected a non-negative integer, found {i}")))
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        non_negative(parse(Either::deserialize(d)?)?)
    }

    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<Either>::deserialize(d)? {
            None => Ok(None),
            Some(v) => non_negative(parse(v)?).map(Some),
        }
    }

    /// Signed, because RFC 7644 §3.4.2.4 gives meaning to out-of-range values (a negative
    /// `count` is 0, a `startIndex` below 1 is 1) instead of rejecting them.
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<Either>::deserialize(d)? {
            None => Ok(None),
            Some(v) => parse(v).map(Some),
        }
    }
}

/// A status code written as a string (RFC 7644 §3.12, §3.7.3); read from a number, a string,
/// or the `{"code": 201}` object some servers still send from the drafts.
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
            Code {
                #[serde(alias = "Code")]
                code: u16,
            },
        }
        match Either::deserialize(d)? {
            Either::N(n) | Either::Code { code: n } => Ok(n),
            Either::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
        }
    }
}

/// `value` as given: `"value": null` stays `Some(Value::Null)` so that PATCH can tell an
/// explicit null from an absent member.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `attributes` as an array, or as the comma-separated string of the query parameter form.
fn attr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Csv(String),
        Null(()),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(l) => l
            .iter()
            .flat_map(|s| split_attr_list(s))
            .map(str::to_owned)
            .collect(),
        Either::Csv(s) => split_attr_list(&s).map(str::to_owned).collect(),
        Either::Null(()) => Vec::new(),
    })
}

/// Splits `a, b,c` into its trimmed, non-empty names.
pub fn split_attr_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn default_schemas<const N: usize>(urns: [&str; N]) -> Vec<String> {
    urns.iter().map(|s| (*s).to_owned()).collect()
}

fn list_response_schemas() -> Vec<String> {
    default_schemas([urn::LIST_RESPONSE])
}
fn search_request_schemas() -> Vec<String> {
    default_schemas([urn::SEARCH_REQUEST])
}
fn patch_op_schemas() -> Vec<String> {
    default_schemas([urn::PATCH_OP])
}
fn bulk_request_schemas() -> Vec<String> {
    default_schemas([urn::BULK_REQUEST])
}
fn bulk_response_schemas() -> Vec<String> {
    default_schemas([urn::BULK_RESPONSE])
}
fn spc_schemas() -> Vec<String> {
    default_schemas([urn::SERVICE_PROVIDER_CONFIG])
}

// ---------------------------------------------------------------------------------------------
// Error
// ---------------------------------------------------------------------------------------------

/// The error body of RFC 7644 §3.12.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct ErrorMessage {
    #[serde(default)]
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

    /// The `scimType` as a known keyword, when it is one.
    pub fn scim_type(&self) -> Option<ScimType> {
        self.scim_type.as_deref().and_then(ScimType::parse)
    }
}

// ---------------------------------------------------------------------------------------------
// Meta
// ---------------------------------------------------------------------------------------------

/// The `meta` attribute of a resource (RFC 7643 §3.1).
///
/// Timestamps stay strings: the store writes them in one RFC 3339 form and re-formatting them
/// here could only change what a client compares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// ListResponse
// ---------------------------------------------------------------------------------------------

/// A page of query results (RFC 7644 §3.4.2), with the cursor attributes of RFC 9865.
#[derive(Debug, Clone, PartialEq)]
pub struct ListResponse<T = Value> {
    pub schemas: Vec<String>,
    /// The size of the whole result set, not of this page.
    pub total_results: u64,
    /// Absent in some servers' answers; the number of `resources` is what a client should use.
    pub items_per_page: Option<u64>,
    /// 1-based; absent under cursor pagination.
    pub start_index: Option<u64>,
    pub resources: Vec<T>,
    pub next_cursor: Option<String>,
    pub previous_cursor: Option<String>,
}

/// The wire shape of [`ListResponse`]; generic structs cannot use `remote = "Self"`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponseWire<T> {
    #[serde(default = "list_response_schemas")]
    schemas: Vec<String>,
    #[serde(with = "lenient_u64_required")]
    total_results: u64,
    #[serde(
        default,
        deserialize_with = "lenient_int::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    items_per_page: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient_int::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    start_index: Option<u64>,
    /// Always written, even when empty: several clients fail on a list without it.
    #[serde(
        rename = "Resources",
        default = "Vec::new",
        bound(deserialize = "T: Deserialize<'de>")
    )]
    resources: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_cursor: Option<String>,
}

mod lenient_u64_required {
    pub use super::lenient_int::u64 as deserialize;
    pub fn serialize<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }
}

impl<T> ListResponse<T> {
    /// An index-paginated page: `start_index` is the 1-based position of the first resource.
    pub fn new(resources: Vec<T>, total_results: u64, start_index: u64) -> ListResponse<T> {
        ListResponse {
            schemas: list_response_schemas(),
            total_results,
            items_per_page: Some(resources.len() as u64),
            start_index: Some(start_index.max(1)),
            resources,
            next_cursor: None,
            previous_cursor: None,
        }
    }

    /// A cursor-paginated page (RFC 9865): no `startIndex`, and a `nextCursor` unless this is
    /// the last page.
    pub fn with_cursors(
        resources: Vec<T>,
        total_results: u64,
        next_cursor: Option<String>,
        previous_cursor: Option<String>,
    ) -> ListResponse<T> {
        ListResponse {
            schemas: list_response_schemas(),
            total_results,
            items_per_page: Some(resources.len() as u64),
            start_index: None,
            resources,
            next_cursor,
            previous_cursor,
        }
    }
}

impl<T: Serialize> Serialize for ListResponse<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a, T> {
            schemas: &'a [String],
            total_results: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            items_per_page: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            start_index: Option<u64>,
            #[serde(rename = "Resources")]
            resources: &'a [T],
            #[serde(skip_serializing_if = "Option::is_none")]
            next_cursor: &'a Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            previous_cursor: &'a Option<String>,
        }
        Out {
            schemas: &self.schemas,
            total_results: self.total_results,
            items_per_page: self.items_per_page,
            start_index: self.start_index,
            resources: &self.resources,
            next_cursor: &self.next_cursor,
            previous_cursor: &self.previous_cursor,
        }
        .serialize(serializer)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for ListResponse<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        let w =
            ListResponseWire::<T>::deserialize(CaseInsensitive(map)).map_err(de::Error::custom)?;
        Ok(ListResponse {
            schemas: w.schemas,
            total_results: w.total_results,
            items_per_page: w.items_per_page,
            start_index: w.start_index,
            resources: w.resources,
            next_cursor: w.next_cursor,
            previous_cursor: w.previous_cursor,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// SearchRequest
// ---------------------------------------------------------------------------------------------

/// A query (RFC 7644 §3.4.3), from a `POST /.search` body or from the query string of a GET
/// (see [`SearchRequest::from_query_pairs`]), with RFC 9865's `cursor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default = "search_request_schemas")]
    pub schemas: Vec<String>,
    #[serde(
        default,
        deserialize_with = "attr_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<String>,
    #[serde(
        default,
        deserialize_with = "attr_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub excluded_attributes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<SortOrder>,
    /// As sent; [`SearchRequest::start_index`] applies the RFC's reading of odd values.
    #[serde(
        default,
        deserialize_with = "lenient_int::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_index: Option<i64>,
    /// As sent; [`SearchRequest::count`] applies the RFC's reading of odd values.
    #[serde(
        default,
        deserialize_with = "lenient_int::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<i64>,
    /// RFC 9865: present (possibly empty, meaning "the first page") to ask for cursor paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// The 1-based start index: "A value less than 1 SHALL be interpreted as 1"
    /// (RFC 7644 §3.4.2.4); 1 when absent.
    pub fn start_index(&self) -> u64 {
        self.start_index.map_or(1, |i| i.max(1) as u64)
    }

    /// The page size: "A negative value SHALL be interpreted as 0" (RFC 7644 §3.4.2.4), and
    /// never more than the server's `max`; `default` when absent.
    pub fn count(&self, default: u64, max: u64) -> u64 {
        self.count.map_or(default, |c| c.max(0) as u64).min(max)
    }

    /// The sort order, ascending when `sortBy` is given without one (RFC 7644 §3.4.2.3).
    pub fn sort_order(&self) -> SortOrder {
        self.sort_order.unwrap_or_default()
    }

    /// Builds a request from URL query parameters (already percent-decoded).
    ///
    /// Parameter names are matched case-insensitively like attribute names; unknown parameters
    /// are ignored so that vendor additions do not break queries. A repeated parameter keeps
    /// its last value, except the attribute lists, which accumulate.
    pub fn from_query_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SearchRequest, Error> {
        let mut req = SearchRequest {
            schemas: search_request_schemas(),
            ..SearchRequest::default()
        };
        let int = |name: &str, v: &str| -> Result<i64, Error> {
            v.trim().parse().map_err(|_| {
                Error::InvalidValue(format!(
                    "query parameter {name} must be an integer, not \"{v}\""
                ))
            })
        };
        for (name, value) in pairs {
            let is = |n: &str| name.eq_ignore_ascii_case(n);
            if is("attributes") {
                req.attributes
                    .extend(split_attr_list(value).map(str::to_owned));
            } else if is("excludedAttributes") {
                req.excluded_attributes
                    .extend(split_attr_list(value).map(str::to_owned));
            } else if is("filter") {
                req.filter = Some(value.to_owned());
            } else if is("sortBy") {
                req.sort_by = Some(value.to_owned());
            } else if is("sortOrder") {
                req.sort_order = Some(SortOrder::parse(value).ok_or_else(|| {
                    Error::InvalidValue(format!(
                        "sortOrder must be \"ascending\" or \"descending\", not \"{value}\""
                    ))
                })?);
            } else if is("startIndex") {
                req.start_index = Some(int("startIndex", value)?);
            } else if is("count") {
                req.count = Some(int("count", value)?);
            } else if is("cursor") {
                req.cursor = Some(value.to_owned());
            }
        }
        Ok(req)
    }
}

// ---------------------------------------------------------------------------------------------
// PATCH
// ---------------------------------------------------------------------------------------------

keyword_enum! {
    /// The `op` of a PATCH operation (RFC 7644 §3.5.2).
    pub enum PatchOpKind {
        Add => "add",
        Remove => "remove",
        Replace => "replace",
    }
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct PatchOperation {
    pub op: PatchOpKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `Some(Value::Null)` for an explicit `"value": null`, `None` when the member is absent.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Value>,
}

/// The PatchOp message (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct PatchRequest {
    #[serde(default = "patch_op_schemas")]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchOperation {
    pub fn add(path: Option<&str>, value: Value) -> PatchOperation {
        PatchOperation {
            op: PatchOpKind::Add,
            path: path.map(str::to_owned),
            value: Some(value),
        }
    }

    pub fn replace(path: Option<&str>, value: Value) -> PatchOperation {
        PatchOperation {
            op: PatchOpKind::Replace,
            path: path.map(str::to_owned),
            value: Some(value),
        }
    }

    pub fn remove(path: &str) -> PatchOperation {
        PatchOperation {
            op: PatchOpKind::Remove,
            path: Some(path.to_owned()),
            value: None,
        }
    }
}

impl PatchRequest {
    /// A PatchOp message with these operations; see [`PatchRequest::validate`].
    pub fn new(operations: Vec<PatchOperation>) -> PatchRequest {
        PatchRequest {
            schemas: patch_op_schemas(),
            operations,
        }
    }

    /// Parses and validates a PATCH body.
    pub fn from_slice(bytes: &[u8]) -> Result<PatchRequest, Error> {
        let req: PatchRequest = from_slice(bytes)?;
        req.validate()?;
        Ok(req)
    }

    /// Checks the message shape, before any operation is applied.
    ///
    /// * No operations: 400 `invalidValue` ("an empty Operations array is a 400, not a crash").
    /// * More than [`MAX_PATCH_OPERATIONS`] (see [`PatchRequest::validate_with`] for another
    ///   bound): 413, as Bulk answers too many operations.
    /// * `add` and `replace` without a `value` member: 400 `invalidValue`, since RFC 7644
    ///   §3.5.2.1/§3.5.2.3 require one. An explicit `null` passes; what it means is up to the
    ///   PATCH engine.
    ///
    /// The `schemas` URN is not checked: some clients omit it, and the endpoint already says
    /// what the message is.
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_with(MAX_PATCH_OPERATIONS)
    }

    /// [`PatchRequest::validate`] with at most `max_operations` operations.
    pub fn validate_with(&self, max_operations: usize) -> Result<(), Error> {
        if self.operations.is_empty() {
            return Err(Error::InvalidValue(
                "PATCH request has no operations: \"Operations\" must list at least one".into(),
            ));
        }
        if self.operations.len() > max_operations {
            return Err(Error::TooLarge(format!(
                "PATCH request has {} operations; at most {max_operations} are accepted in one request",
                self.operations.len()
            )));
        }
        for (i, op) in self.operations.iter().enumerate() {
            if op.value.is_none() && op.op != PatchOpKind::Remove {
                return Err(Error::InvalidValue(format!(
                    "PATCH operation {} (\"{}\") has no \"value\"",
                    i + 1,
                    op.op
                )));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Bulk
// ---------------------------------------------------------------------------------------------

keyword_enum! {
    /// The HTTP method of a bulk operation (RFC 7644 §3.7).
    pub enum BulkMethod {
        Post => "POST",
        Put => "PUT",
        Patch => "PATCH",
        Delete => "DELETE",
    }
}

/// One operation of a BulkRequest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct BulkOperation {
    pub method: BulkMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl BulkOperation {
    /// Checks one operation against RFC 7644 §3.7: `bulkId` is required for POST, `data` for
    /// everything but DELETE. Kept per operation because a bad operation fails alone (its
    /// error goes into its own response entry) rather than failing the whole request.
    pub fn check(&self) -> Result<(), Error> {
        if self.method == BulkMethod::Post && self.bulk_id.as_deref().is_none_or(str::is_empty) {
            return Err(Error::InvalidValue(
                "bulk POST operation has no \"bulkId\"".into(),
            ));
        }
        if self.method != BulkMethod::Delete && self.data.is_none() {
            return Err(Error::InvalidValue(format!(
                "bulk {} operation on \"{}\" has no \"data\"",
                self.method, self.path
            )));
        }
        if self.path.trim().is_empty() {
            return Err(Error::InvalidValue(format!(
                "bulk {} operation has an empty \"path\"",
                self.method
            )));
        }
        Ok(())
    }
}

/// The BulkRequest message (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct BulkRequest {
    #[serde(default = "bulk_request_schemas")]
    pub schemas: Vec<String>,
    /// Stop after this many errors; absent means process everything.
    #[serde(
        default,
        deserialize_with = "lenient_int::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub fail_on_errors: Option<u64>,
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// The message from a parsed body: [`from_value`], except that each operation's `data` is
    /// moved into place instead of rebuilt. Deserialising a `Value` into a struct field of type
    /// `Value` copies it node by node (every key of every object hashed again), which was a
    /// sixth of the CPU of a Bulk load. Any shape this does not expect goes through
    /// [`from_value`] whole, for its error messages.
    pub fn from_body(value: Value) -> Result<BulkRequest, Error> {
        /// The one key spelling `name` (two spellings are left to the deserialiser to refuse).
        fn key(map: &Map<String, Value>, name: &str) -> Option<String> {
            let mut keys = map.keys().filter(|k| k.eq_ignore_ascii_case(name));
            let key = keys.next()?.clone();
            keys.next().is_none().then_some(key)
        }
        fn take(map: &mut Map<String, Value>, name: &str) -> Option<Option<Value>> {
            key(map, name).map(|k| map.remove(&k))
        }
        let Value::Object(mut map) = value else {
            return from_value(value);
        };
        let ops_key = key(&map, "Operations").filter(|k| {
            map.get(k)
                .and_then(Value::as_array)
                .is_some_and(|ops| ops.iter().all(Value::is_object))
        });
        let Some(Value::Array(ops)) = ops_key.and_then(|k| map.remove(&k)) else {
            return from_value(Value::Object(map));
        };
        let mut operations = Vec::with_capacity(ops.len());
        for op in ops {
            let Value::Object(mut op) = op else {
                unreachable!("checked above")
            };
            // Without a single `data` key the operation is deserialised as it came.
            let data = take(&mut op, "data");
            let mut operation: BulkOperation = from_value(Value::Object(op))?;
            if let Some(Some(data)) = data {
                operation.data = (!data.is_null()).then_some(data);
            }
            operations.push(operation);
        }
        map.insert("Operations".into(), Value::Array(Vec::new()));
        let mut request: BulkRequest = from_value(Value::Object(map))?;
        request.operations = operations;
        Ok(request)
    }

    pub fn new(operations: Vec<BulkOperation>, fail_on_errors: Option<u64>) -> BulkRequest {
        BulkRequest {
            schemas: bulk_request_schemas(),
            fail_on_errors,
            operations,
        }
    }

    /// Checks the whole message against the server's advertised `maxOperations`: more is 413
    /// (RFC 7644 §3.7.4). `maxPayloadSize` is for the HTTP layer, which sees the bytes.
    pub fn validate(&self, max_operations: u64) -> Result<(), Error> {
        if self.operations.len() as u64 > max_operations {
            return Err(Error::TooLarge(format!(
                "bulk request has {} operations; the maximum is {max_operations}",
                self.operations.len()
            )));
        }
        Ok(())
    }
}

/// One entry of a BulkResponse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct BulkOperationResponse {
    pub method: BulkMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The resource or the error body, when the server includes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(with = "status_string")]
    pub status: u16,
}

impl BulkOperationResponse {
    /// The error body of a failed operation, when the response carries one.
    pub fn error(&self) -> Option<ErrorMessage> {
        if self.status < 400 {
            return None;
        }
        self.response
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
    }
}

/// The BulkResponse message (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct BulkResponse {
    #[serde(default = "bulk_response_schemas")]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations", default)]
    pub operations: Vec<BulkOperationResponse>,
}

impl BulkResponse {
    pub fn new(operations: Vec<BulkOperationResponse>) -> BulkResponse {
        BulkResponse {
            schemas: bulk_response_schemas(),
            operations,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ServiceProviderConfig
// ---------------------------------------------------------------------------------------------

/// `{"supported": bool}`, the shape of `patch`, `changePassword`, `sort` and `etag`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Supported {
    #[serde(default)]
    pub supported: bool,
}

/// The `bulk` capability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct BulkConfig {
    #[serde(default)]
    pub supported: bool,
    #[serde(default, deserialize_with = "lenient_int::u64")]
    pub max_operations: u64,
    #[serde(default, deserialize_with = "lenient_int::u64")]
    pub max_payload_size: u64,
}

/// The `filter` capability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct FilterConfig {
    #[serde(default)]
    pub supported: bool,
    #[serde(default, deserialize_with = "lenient_int::u64")]
    pub max_results: u64,
}

/// The `pagination` capability of RFC 9865 §4.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct PaginationConfig {
    #[serde(default)]
    pub cursor: bool,
    #[serde(default)]
    pub index: bool,
    /// `"cursor"` or `"index"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_pagination_method: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_int::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_page_size: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient_int::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_page_size: Option<u64>,
    /// Seconds a cursor stays valid.
    #[serde(
        default,
        deserialize_with = "lenient_int::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cursor_timeout: Option<u64>,
}

/// One entry of `authenticationSchemes` (RFC 7643 §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct AuthenticationScheme {
    /// `oauthbearertoken`, `httpbasic`, `oauth2`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// Not in RFC 7643 §5's attribute list, but in its §8.5 example and sent by servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

impl AuthenticationScheme {
    /// The bearer-token scheme scimsync's server uses (RFC 6750).
    pub fn oauth_bearer_token() -> AuthenticationScheme {
        AuthenticationScheme {
            kind: "oauthbearertoken".into(),
            name: "OAuth Bearer Token".into(),
            description: "Authentication scheme using the OAuth Bearer Token Standard".into(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".into()),
            documentation_uri: None,
            primary: Some(true),
        }
    }
}

/// The ServiceProviderConfig document (RFC 7643 §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct ServiceProviderConfig {
    #[serde(default = "spc_schemas")]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    #[serde(default)]
    pub patch: Supported,
    #[serde(default)]
    pub bulk: BulkConfig,
    #[serde(default)]
    pub filter: FilterConfig,
    #[serde(default)]
    pub change_password: Supported,
    #[serde(default)]
    pub sort: Supported,
    #[serde(default)]
    pub etag: Supported,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<PaginationConfig>,
    #[serde(default)]
    pub authentication_schemes: Vec<AuthenticationScheme>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl Default for ServiceProviderConfig {
    /// Nothing supported: every capability has to be switched on deliberately, so the document
    /// never promises what the server does not do.
    fn default() -> ServiceProviderConfig {
        ServiceProviderConfig {
            schemas: spc_schemas(),
            documentation_uri: None,
            patch: Supported::default(),
            bulk: BulkConfig::default(),
            filter: FilterConfig::default(),
            change_password: Supported::default(),
            sort: Supported::default(),
            etag: Supported::default(),
            pagination: None,
            authentication_schemes: Vec::new(),
            meta: None,
        }
    }
}

impl ServiceProviderConfig {
    /// Starts from nothing supported; chain the `with_*` settings.
    pub fn new() -> ServiceProviderConfig {
        ServiceProviderConfig::default()
    }

    pub fn with_patch(mut self, supported: bool) -> Self {
        self.patch.supported = supported;
        self
    }

    /// Bulk supported with these limits; `max_operations == 0` switches it off.
    pub fn with_bulk(mut self, max_operations: u64, max_payload_size: u64) -> Self {
        self.bulk = BulkConfig {
            supported: max_operations > 0,
            max_operations,
            max_payload_size,
        };
        self
    }

    /// Filtering supported, returning at most `max_results` per query.
    pub fn with_filter(mut self, max_results: u64) -> Self {
        self.filter = FilterConfig {
            supported: true,
            max_results,
        };
        self
    }

    pub fn with_sort(mut self, supported: bool) -> Self {
        self.sort.supported = supported;
        self
    }

    pub fn with_etag(mut self, supported: bool) -> Self {
        self.etag.supported = supported;
        self
    }

    pub fn with_change_password(mut self, supported: bool) -> Self {
        self.change_password.supported = supported;
        self
    }

    pub fn with_pagination(mut self, pagination: PaginationConfig) -> Self {
        self.pagination = Some(pagination);
        self
    }

    pub fn with_authentication_scheme(mut self, scheme: AuthenticationScheme) -> Self {
        self.authentication_schemes.push(scheme);
        self
    }

    pub fn with_documentation_uri(mut self, uri: impl Into<String>) -> Self {
        self.documentation_uri = Some(uri.into());
        self
    }

    /// Sets `meta` as served at `{base_url}/ServiceProviderConfig`.
    pub fn with_location(mut self, base_url: &str) -> Self {
        self.meta = Some(Meta {
            resource_type: Some("ServiceProviderConfig".into()),
            location: Some(format!("{}/ServiceProviderConfig", trim_base(base_url))),
            ..Meta::default()
        });
        self
    }
}

case_insensitive_keys!(
    ErrorMessage,
    Meta,
    SearchRequest,
    PatchOperation,
    PatchRequest,
    BulkOperation,
    BulkRequest,
    BulkOperationResponse,
    BulkResponse,
    Supported,
    BulkConfig,
    FilterConfig,
    PaginationConfig,
    AuthenticationScheme,
    ServiceProviderConfig,
);

// ---------------------------------------------------------------------------------------------
// Discovery documents
// ---------------------------------------------------------------------------------------------

fn trim_base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

/// A ResourceType as served by `/ResourceTypes` (RFC 7643 §6, example §8.6).
pub fn resource_type_document(rt: &ResourceType, base_url: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".into(), Value::from(vec![urn::RESOURCE_TYPE]));
    if let Value::Object(fields) = serde_json::to_value(rt).unwrap_or(Value::Null) {
        doc.extend(fields);
    }
    doc.insert(
        "meta".into(),
        serde_json::json!({
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/{}", trim_base(base_url), rt.id),
        }),
    );
    Value::Object(doc)
}

/// A Schema as served by `/Schemas` (RFC 7643 §7, example §8.7).
pub fn schema_document(s: &Schema, base_url: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".into(), Value::from(vec![urn::SCHEMA]));
    if let Value::Object(fields) = serde_json::to_value(s).unwrap_or(Value::Null) {
        doc.extend(fields);
    }
    doc.insert(
        "meta".into(),
        serde_json::json!({
            "resourceType": "Schema",
            "location": format!("{}/Schemas/{}", trim_base(base_url), s.id),
        }),
    );
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parses `input` as `T`, writes it back, and checks the output is `canonical`.
    fn round_trip<T: Serialize + DeserializeOwned>(input: Value, canonical: &Value) -> T {
        let parsed: T = serde_json::from_value(input).expect("parses");
        assert_eq!(&serde_json::to_value(&parsed).unwrap(), canonical);
        parsed
    }

    fn same<T: Serialize + DeserializeOwned>(doc: Value) -> T {
        round_trip(doc.clone(), &doc)
    }

    /// Upper-cases every object key, recursively but only `depth` levels deep.
    fn shout(v: &Value, depth: usize) -> Value {
        match v {
            Value::Object(m) if depth > 0 => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.to_ascii_uppercase(), shout(v, depth - 1)))
                    .collect(),
            ),
            Value::Array(a) if depth > 0 => {
                Value::Array(a.iter().map(|v| shout(v, depth)).collect())
            }
            other => other.clone(),
        }
    }

    #[test]
    fn rfc7644_3_4_2_list_response_without_paging_fields() {
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 2,
            "Resources": [{"userName": "Smith"}, {"userName": "Jones"}]
        });
        let l: ListResponse = same(doc);
        assert_eq!(l.total_results, 2);
        assert_eq!(l.items_per_page, None);
        assert_eq!(l.resources.len(), 2);
    }

    #[test]
    fn rfc7644_3_4_2_4_paged_list_response() {
        let doc = json!({
            "totalResults": 100,
            "itemsPerPage": 10,
            "startIndex": 1,
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "Resources": [{"id": "2819c223-7f76-413861904646", "userName": "jsmith", "displayName": "Smith, James"}]
        });
        let l: ListResponse = same(doc);
        assert_eq!((l.items_per_page, l.start_index), (Some(10), Some(1)));
    }

    #[test]
    fn list_response_tolerates_strings_missing_resources_and_any_case() {
        let l: ListResponse = serde_json::from_value(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "TOTALRESULTS": "0",
            "startindex": "1",
        }))
        .unwrap();
        assert_eq!(l.total_results, 0);
        assert_eq!(l.start_index, Some(1));
        assert!(l.resources.is_empty());
        // Resources is written even when empty.
        assert_eq!(
            serde_json::to_value(&l).unwrap(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 0,
                "startIndex": 1,
                "Resources": []
            })
        );
    }

    #[test]
    fn list_response_rejects_negative_and_garbage_numbers() {
        for bad in [json!(-1), json!("many"), json!(1.5)] {
            let r: Result<ListResponse, _> =
                serde_json::from_value(json!({"totalResults": bad, "Resources": []}));
            assert!(r.is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cursor_list_response_rfc9865() {
        let l = ListResponse::with_cursors(
            vec![json!({"id": "a"})],
            5,
            Some("VZUTiyhEQJ94IR".into()),
            None,
        );
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(
            v,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 5,
                "itemsPerPage": 1,
                "Resources": [{"id": "a"}],
                "nextCursor": "VZUTiyhEQJ94IR"
            })
        );
        let back: ListResponse = serde_json::from_value(v).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn typed_list_response() {
        let l: ListResponse<ErrorMessage> = serde_json::from_value(json!({
            "totalResults": 1,
            "Resources": [{"status": 404}]
        }))
        .unwrap();
        assert_eq!(l.resources[0].status, 404);
    }

    #[test]
    fn rfc7644_3_4_3_search_request() {
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10
        });
        let r: SearchRequest = same(doc.clone());
        assert_eq!(r.attributes, ["displayName", "userName"]);
        assert_eq!((r.start_index(), r.count(100, 1000)), (1, 10));
        let shouted: SearchRequest = round_trip(shout(&doc, 1), &doc);
        assert_eq!(shouted, r);
    }

    #[test]
    fn search_request_lenient_forms() {
        let r: SearchRequest = serde_json::from_value(json!({
            "excludedattributes": "members, meta ,",
            "sortby": "userName",
            "SortOrder": "DESCENDING",
            "startIndex": "-4",
            "count": -1,
            "cursor": ""
        }))
        .unwrap();
        assert_eq!(r.excluded_attributes, ["members", "meta"]);
        assert_eq!(r.sort_order(), SortOrder::Descending);
        assert_eq!(r.start_index(), 1);
        assert_eq!(r.count(100, 1000), 0);
        assert_eq!(r.cursor.as_deref(), Some(""));
        assert_eq!(r.schemas, [urn::SEARCH_REQUEST]);
        let e = serde_json::from_value::<SearchRequest>(json!({"sortOrder": "up"})).unwrap_err();
        assert!(
            e.to_string()
                .contains("expected one of: ascending descending"),
            "{e}"
        );
    }

    #[test]
    fn search_request_from_query() {
        let r = SearchRequest::from_query_pairs([
            ("filter", "userName eq \"bjensen\""),
            ("STARTINDEX", "3"),
            ("Count", "5000"),
            ("attributes", "userName,emails"),
            ("attributes", "name.givenName"),
            ("sortOrder", "Ascending"),
            ("x-vendor", "ignored"),
        ])
        .unwrap();
        assert_eq!(r.filter.as_deref(), Some("userName eq \"bjensen\""));
        assert_eq!(r.start_index(), 3);
        assert_eq!(r.count(100, 1000), 1000);
        assert_eq!(r.attributes, ["userName", "emails", "name.givenName"]);
        assert_eq!(r.sort_order, Some(SortOrder::Ascending));
        assert_eq!(
            SearchRequest::from_query_pairs([("count", "ten")]).unwrap_err(),
            Error::InvalidValue("query parameter count must be an integer, not \"ten\"".into())
        );
        assert_eq!(
            SearchRequest::from_query_pairs([])
                .unwrap()
                .count(100, 1000),
            100
        );
    }

    fn patch(ops: Value) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    }

    #[test]
    fn rfc7644_3_5_2_patch_examples() {
        let id = "2819c223-7f76-453a-919d-413861904646";
        let examples = [
            json!([{"op": "add", "path": "members", "value": [{
                "display": "Babs Jensen",
                "$ref": format!("https://example.com/v2/Users/{id}"),
                "value": id
            }]}]),
            json!([{"op": "add", "value": {
                "emails": [{"value": "babs@jensen.org", "type": "home"}],
                "nickname": "Babs"
            }}]),
            json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
            json!([{"op": "remove", "path": "members"}]),
            json!([
                {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
                {"op": "add", "path": "members", "value": [{"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}]}
            ]),
            json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
            json!([{"op": "replace", "path": "members", "value": [{"display": "Babs Jensen", "value": id}]}]),
            json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
                "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
                "region": "CA", "postalCode": "91608", "country": "US",
                "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true
            }}]),
            json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
            json!([{"op": "replace", "value": {
                "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
                "nickname": "Babs"
            }}]),
        ];
        for ops in examples {
            let r: PatchRequest = same(patch(ops));
            r.validate().unwrap();
        }
    }

    #[test]
    fn patch_input_from_entra_and_friends() {
        let r: PatchRequest = round_trip(
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "operations": [
                    {"OP": "Replace", "Path": "active", "Value": "False"},
                    {"op": "Remove", "path": "title", "value": null}
                ]
            }),
            &patch(json!([
                {"op": "replace", "path": "active", "value": "False"},
                {"op": "remove", "path": "title", "value": null}
            ])),
        );
        assert_eq!(r.operations[0].op, PatchOpKind::Replace);
        assert_eq!(r.operations[1].value, Some(Value::Null));
        let r = PatchRequest::from_slice(br#"{"Operations":[{"op":"ADD","path":"x","value":1}]}"#)
            .unwrap();
        assert_eq!(r.schemas, [urn::PATCH_OP]);
    }

    #[test]
    fn patch_message_errors() {
        assert_eq!(
            PatchRequest::from_slice(br#"{"schemas":[],"Operations":[]}"#).unwrap_err(),
            Error::InvalidValue(
                "PATCH request has no operations: \"Operations\" must list at least one".into()
            )
        );
        assert_eq!(
            PatchRequest::from_slice(br#"{"Operations":[{"op":"add","path":"x"}]}"#).unwrap_err(),
            Error::InvalidValue("PATCH operation 1 (\"add\") has no \"value\"".into())
        );
        let e =
            PatchRequest::from_slice(br#"{"Operations":[{"op":"move","path":"x"}]}"#).unwrap_err();
        assert_eq!(e.scim_type(), Some(ScimType::InvalidSyntax));
        assert!(
            e.to_string()
                .contains("unknown PatchOpKind \"move\"; expected one of: add remove replace"),
            "{e}"
        );
        let e = PatchRequest::from_slice(br#"{"Operations":[],"operations":[]}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"Operations\" appears more than once"),
            "{e}"
        );
        let many = PatchRequest::new(vec![PatchOperation::remove("x"); MAX_PATCH_OPERATIONS + 1]);
        assert_eq!(many.validate().unwrap_err().status(), 413);
        let three = PatchRequest::new(vec![PatchOperation::remove("x"); 3]);
        assert_eq!(three.validate(), Ok(()));
        assert_eq!(
            three.validate_with(2).unwrap_err(),
            Error::TooLarge(
                "PATCH request has 3 operations; at most 2 are accepted in one request".into()
            )
        );
        assert!(PatchRequest::from_slice(b"[1,2]").is_err());
        assert!(PatchRequest::from_slice(b"{").is_err());
    }

    fn rfc_bulk_request() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "failOnErrors": 1,
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "qwerty",
                    "data": {
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": "Alice"
                    }
                },
                {
                    "method": "PUT",
                    "path": "/Users/b7c14771-226c-4d05-8860-134711653041",
                    "version": "W/\"3694e05e9dff591\"",
                    "data": {
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "id": "b7c14771-226c-4d05-8860-134711653041",
                        "userName": "Bob"
                    }
                },
                {
                    "method": "PATCH",
                    "path": "/Users/5d8d29d3-342c-4b5f-8683-a3cb6763ffcc",
                    "version": "W/\"edac3253e2c0ef2\"",
                    "data": {
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [
                            {"op": "remove", "path": "nickName"},
                            {"op": "replace", "path": "userName", "value": "Dave"}
                        ]
                    }
                },
                {
                    "method": "DELETE",
                    "path": "/Users/e9025315-6bea-44e1-899c-1e07454e468b",
                    "version": "W/\"0ee8add0a938e1a\""
                }
            ]
        })
    }

    #[test]
    fn rfc7644_3_7_bulk_request() {
        let doc = rfc_bulk_request();
        let r: BulkRequest = same(doc.clone());
        assert_eq!(r.fail_on_errors, Some(1));
        assert_eq!(r.operations[3].method, BulkMethod::Delete);
        for op in &r.operations {
            op.check().unwrap();
        }
        r.validate(4).unwrap();
        assert_eq!(
            r.validate(3).unwrap_err(),
            Error::TooLarge("bulk request has 4 operations; the maximum is 3".into())
        );
        let _: BulkRequest = round_trip(shout(&doc, 3), &doc_with_shouted_data(&doc));
    }

    /// `shout` also upper-cases the keys inside `data`, which belong to the resource and are
    /// passed through untouched; this is the expected result.
    fn doc_with_shouted_data(doc: &Value) -> Value {
        let mut d = doc.clone();
        for op in d["Operations"].as_array_mut().unwrap() {
            if let Some(data) = op.get_mut("data") {
                *data = shout(data, 1);
            }
        }
        d
    }

    #[test]
    fn bulk_operation_checks() {
        let op: BulkOperation =
            serde_json::from_value(json!({"method": "post", "path": "/Users", "data": {}}))
                .unwrap();
        assert_eq!(
            op.check().unwrap_err(),
            Error::InvalidValue("bulk POST operation has no \"bulkId\"".into())
        );
        let op: BulkOperation =
            serde_json::from_value(json!({"method": "Put", "path": "/Users/1"})).unwrap();
        assert_eq!(
            op.check().unwrap_err(),
            Error::InvalidValue("bulk PUT operation on \"/Users/1\" has no \"data\"".into())
        );
    }

    #[test]
    fn rfc7644_3_7_bulk_responses() {
        let ok = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
            "Operations": [
                {"location": "https://example.com/v2/Users/92b725cd-9465-4e7d-8c16-01f8e146b87a",
                 "method": "POST", "bulkId": "qwerty", "version": "W/\"oY4m4wn58tkVjJxK\"", "status": "201"},
                {"location": "https://example.com/v2/Users/b7c14771-226c-4d05-8860-134711653041",
                 "method": "PUT", "version": "W/\"huJj29dMNgu3WXPD\"", "status": "200"},
                {"location": "https://example.com/v2/Users/5d8d29d3-342c-4b5f-8683-a3cb6763ffcc",
                 "method": "PATCH", "version": "W/\"huJj29dMNgu3WXPD\"", "status": "200"},
                {"location": "https://example.com/v2/Users/e9025315-6bea-44e1-899c-1e07454e468b",
                 "method": "DELETE", "status": "204"}
            ]
        });
        let r: BulkResponse = same(ok);
        assert_eq!(r.operations[0].status, 201);
        assert!(r.operations[0].error().is_none());

        let failed = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
            "Operations": [{
                "method": "POST",
                "bulkId": "qwerty",
                "status": "400",
                "response": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "scimType": "invalidSyntax",
                    "detail": "Request is unparsable, syntactically incorrect, or violates schema.",
                    "status": "400"
                }
            }]
        });
        let r: BulkResponse = same(failed);
        let e = r.operations[0].error().unwrap();
        assert_eq!(e.scim_type(), Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn bulk_status_in_older_forms() {
        for status in [json!(201), json!("201"), json!({"code": 201})] {
            let r: BulkOperationResponse =
                serde_json::from_value(json!({"method": "POST", "status": status})).unwrap();
            assert_eq!(r.status, 201);
        }
    }

    #[test]
    fn rfc7644_3_12_errors() {
        let e: ErrorMessage = same(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "detail": "Resource 2819c223-7f76-453a-919d-413861904646 not found",
            "status": "404"
        }));
        assert_eq!(e.status, 404);
        let e: ErrorMessage = same(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "scimType": "mutability",
            "detail": "Attribute 'id' is readOnly",
            "status": "400"
        }));
        assert_eq!(e.scim_type(), Some(ScimType::Mutability));
        let e: ErrorMessage =
            serde_json::from_value(json!({"Status": 409, "SCIMTYPE": "uniqueness"})).unwrap();
        assert_eq!((e.status, e.scim_type()), (409, Some(ScimType::Uniqueness)));
        assert_eq!(
            serde_json::to_value(Error::NoTarget("nothing matched".into()).to_message()).unwrap(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "400",
                "scimType": "noTarget",
                "detail": "nothing matched"
            })
        );
    }

    fn rfc_spc() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "http://example.com/help/scim.html",
            "patch": {"supported": true},
            "bulk": {"supported": true, "maxOperations": 1000, "maxPayloadSize": 1048576},
            "filter": {"supported": true, "maxResults": 200},
            "changePassword": {"supported": true},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [
                {
                    "name": "OAuth Bearer Token",
                    "description": "Authentication scheme using the OAuth Bearer Token Standard",
                    "specUri": "http://www.rfc-editor.org/info/rfc6750",
                    "documentationUri": "http://example.com/help/oauth.html",
                    "type": "oauthbearertoken",
                    "primary": true
                },
                {
                    "name": "HTTP Basic",
                    "description": "Authentication scheme using the HTTP Basic Standard",
                    "specUri": "http://www.rfc-editor.org/info/rfc2617",
                    "documentationUri": "http://example.com/help/httpBasic.html",
                    "type": "httpbasic"
                }
            ],
            "meta": {
                "location": "https://example.com/v2/ServiceProviderConfig",
                "resourceType": "ServiceProviderConfig",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff594\""
            }
        })
    }

    #[test]
    fn rfc7643_8_5_service_provider_config() {
        let doc = rfc_spc();
        let spc: ServiceProviderConfig = same(doc.clone());
        assert_eq!(spc.bulk.max_operations, 1000);
        assert_eq!(spc.authentication_schemes[1].kind, "httpbasic");
        let _: ServiceProviderConfig = round_trip(shout(&doc, 3), &doc);
    }

    #[test]
    fn service_provider_config_builder() {
        let spc = ServiceProviderConfig::new()
            .with_patch(true)
            .with_bulk(DEFAULT_BULK_MAX_OPERATIONS, DEFAULT_BULK_MAX_PAYLOAD_SIZE)
            .with_filter(200)
            .with_sort(true)
            .with_etag(true)
            .with_pagination(PaginationConfig {
                cursor: true,
                index: true,
                default_pagination_method: Some("index".into()),
                default_page_size: Some(100),
                max_page_size: Some(1000),
                cursor_timeout: Some(3600),
            })
            .with_authentication_scheme(AuthenticationScheme::oauth_bearer_token())
            .with_location("https://h/scim/v2/");
        assert_eq!(
            serde_json::to_value(&spc).unwrap(),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "patch": {"supported": true},
                "bulk": {"supported": true, "maxOperations": 1000, "maxPayloadSize": 1048576},
                "filter": {"supported": true, "maxResults": 200},
                "changePassword": {"supported": false},
                "sort": {"supported": true},
                "etag": {"supported": true},
                "pagination": {
                    "cursor": true, "index": true, "defaultPaginationMethod": "index",
                    "defaultPageSize": 100, "maxPageSize": 1000, "cursorTimeout": 3600
                },
                "authenticationSchemes": [{
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "Authentication scheme using the OAuth Bearer Token Standard",
                    "specUri": "https://www.rfc-editor.org/info/rfc6750",
                    "primary": true
                }],
                "meta": {
                    "resourceType": "ServiceProviderConfig",
                    "location": "https://h/scim/v2/ServiceProviderConfig"
                }
            })
        );
    }

    #[test]
    fn rfc7643_8_6_resource_types() {
        let user = ResourceType {
            id: "User".into(),
            name: "User".into(),
            endpoint: "/Users".into(),
            description: Some("User Account".into()),
            schema: urn::USER.into(),
            schema_extensions: vec![crate::schema::SchemaExtension {
                schema: urn::ENTERPRISE_USER.into(),
                required: true,
            }],
        };
        let group = ResourceType {
            id: "Group".into(),
            name: "Group".into(),
            endpoint: "/Groups".into(),
            description: Some("Group".into()),
            schema: urn::GROUP.into(),
            schema_extensions: vec![],
        };
        let docs: Vec<Value> = [user, group]
            .iter()
            .map(|rt| resource_type_document(rt, "https://example.com/v2/"))
            .collect();
        assert_eq!(
            Value::from(docs),
            json!([{
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "description": "User Account",
                "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
                "schemaExtensions": [{
                    "schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    "required": true
                }],
                "meta": {
                    "location": "https://example.com/v2/ResourceTypes/User",
                    "resourceType": "ResourceType"
                }
            }, {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": "Group",
                "name": "Group",
                "endpoint": "/Groups",
                "description": "Group",
                "schema": "urn:ietf:params:scim:schemas:core:2.0:Group",
                "meta": {
                    "location": "https://example.com/v2/ResourceTypes/Group",
                    "resourceType": "ResourceType"
                }
            }])
        );
    }

    #[test]
    fn schema_document_adds_schemas_and_meta() {
        let s: Schema = serde_json::from_value(json!({
            "id": "urn:example:ext:1.0",
            "name": "Ext",
            "attributes": [{"name": "badge", "type": "string"}]
        }))
        .unwrap();
        let doc = schema_document(&s, "https://h/v2");
        assert_eq!(doc["schemas"], json!([urn::SCHEMA]));
        assert_eq!(doc["id"], "urn:example:ext:1.0");
        assert_eq!(doc["attributes"][0]["name"], "badge");
        assert_eq!(
            doc["meta"],
            json!({"resourceType": "Schema", "location": "https://h/v2/Schemas/urn:example:ext:1.0"})
        );
    }

    #[test]
    fn meta_case_insensitive() {
        let m: Meta =
            serde_json::from_value(json!({"RESOURCETYPE": "User", "lastmodified": "x"})).unwrap();
        assert_eq!(m.resource_type.as_deref(), Some("User"));
        assert_eq!(m.last_modified.as_deref(), Some("x"));
    }

    /// `BulkRequest::from_body` moves each operation's data into place; what it returns, and
    /// the error for what it refuses, are those of deserialising the whole body.
    #[test]
    fn bulk_from_body_is_from_value() {
        let bodies = [
            json!({"schemas": [urn::BULK_REQUEST], "failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "x"}},
                {"METHOD": "delete", "path": "/Users/1"},
                {"method": "PATCH", "path": "/Users/1", "Data": null},
                {"method": "PUT", "path": "/Users/1", "data": {"userName": "y"}, "DATA": {}}]}),
            json!({"operations": [{"method": "POST", "path": "/Groups", "bulkId": "g",
                "data": {"displayName": "G", "members": [{"value": "bulkId:a"}]}}]}),
            json!({"Operations": [{"method": "POST", "path": "/Users", "data": 7}]}),
            json!({"Operations": [1, 2]}),
            json!({"Operations": {"method": "POST"}}),
            json!({"Operations": [{"method": "FETCH", "path": "/Users", "data": {}}]}),
            json!({"failOnErrors": "x", "Operations": []}),
            json!({"schemas": [urn::BULK_REQUEST]}),
            json!([1]),
        ];
        for body in bodies {
            let whole: Result<BulkRequest, Error> = from_value(body.clone());
            assert_eq!(BulkRequest::from_body(body.clone()), whole, "{body}");
        }
    }
}
