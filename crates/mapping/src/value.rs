//! The values expressions compute with.
//!
//! Entra's language is string-typed at heart (booleans travel as `"True"`/`"False"`, dates as
//! `M/d/yyyy h:mm:ss tt`), but keeping numbers, booleans and dates typed until the value leaves
//! the evaluator lets a boolean reach a SCIM `active` attribute as `true` and lets date functions
//! chain without re-parsing. Every value converts to the string Entra would show at the point a
//! string is needed ([`Value::to_text`]).

use std::fmt;

use serde_json::{Map, Value as Json};
use time::OffsetDateTime;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An absent attribute, or a function result with nothing to say.
    Null,
    String(String),
    /// Whole numbers only: AD FILETIME values (18 digits) do not survive a trip through `f64`.
    Number(i64),
    Boolean(bool),
    /// Always UTC, as Entra's date functions return.
    DateTime(OffsetDateTime),
    /// A multi-valued attribute or the result of `Split`.
    List(Vec<Value>),
    /// A complex source value (an address, an app-role assignment) passed through unchanged.
    Object(Map<String, Json>),
}

impl Value {
    /// Converts a JSON value from a source record.
    ///
    /// Fractional numbers become their decimal text: no function computes with them, and text
    /// keeps every digit the source sent.
    pub fn from_json(json: &Json) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Boolean(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Number(i),
                None => Value::String(n.to_string()),
            },
            Json::String(s) => Value::String(s.clone()),
            Json::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            Json::Object(map) => Value::Object(map.clone()),
        }
    }

    /// The JSON a target receives. Dates use Entra's `M/d/yyyy h:mm:ss tt` text, so a mapping
    /// that wants ISO 8601 says so with `FormatDateTime`.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::String(s) => Json::String(s.clone()),
            Value::Number(n) => Json::from(*n),
            Value::Boolean(b) => Json::Bool(*b),
            Value::DateTime(d) => Json::String(crate::datetime::render_default(*d)),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Object(map) => Json::Object(map.clone()),
        }
    }

    /// Null, or a string with no characters: what `IsNullOrEmpty`, `IgnoreFlowIfNullOrEmpty`
    /// and scoping clauses treat as "no value".
    pub fn is_null_or_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::List(items) => items.is_empty(),
            _ => false,
        }
    }

    /// The text of a single value as Entra shows it (`True`, `42`, `3/16/2020 7:00:00 AM`);
    /// `None` for null. A list gives its elements joined by commas and an object its JSON,
    /// which is what a string function sees when handed one by mistake.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// Reads a boolean the way Entra's string booleans are written: `True`/`False` in any case,
    /// or a number (non-zero is true).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            Value::Number(n) => Some(*n != 0),
            Value::String(s) => {
                let t = s.trim();
                if t.eq_ignore_ascii_case("true") {
                    Some(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Some(false)
                } else {
                    t.parse::<i64>().ok().map(|n| n != 0)
                }
            }
            _ => None,
        }
    }

    /// Reads a whole number from a number, a boolean or numeric text.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Boolean(b) => Some(i64::from(*b)),
            Value::String(s) => parse_int(s.trim()),
            _ => None,
        }
    }

    /// A short name of the kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Boolean(_) => "a boolean",
            Value::DateTime(_) => "a date",
            Value::List(_) => "a multi-valued attribute",
            Value::Object(_) => "a complex value",
        }
    }
}

/// Parses a decimal or VBA hex (`&HFF`) integer.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    if let Some(hex) = s.strip_prefix("&H").or_else(|| s.strip_prefix("&h")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    s.parse::<i64>().ok()
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::String(s) => f.write_str(s),
            Value::Number(n) => write!(f, "{n}"),
            Value::Boolean(true) => f.write_str("True"),
            Value::Boolean(false) => f.write_str("False"),
            Value::DateTime(d) => f.write_str(&crate::datetime::render_default(*d)),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    item.fmt(f)?;
                }
                Ok(())
            }
            Value::Object(map) => write!(f, "{}", Json::Object(map.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip_keeps_big_integers() {
        let v = Value::from_json(&json!(129699324000000000_i64));
        assert_eq!(v, Value::Number(129699324000000000));
        assert_eq!(v.to_json(), json!(129699324000000000_i64));
        assert_eq!(Value::from_json(&json!(1.5)), Value::String("1.5".into()));
    }

    #[test]
    fn booleans_read_like_entra() {
        assert_eq!(Value::String("TRUE".into()).as_bool(), Some(true));
        assert_eq!(Value::String("False".into()).as_bool(), Some(false));
        assert_eq!(Value::String("0".into()).as_bool(), Some(false));
        assert_eq!(Value::String("yes".into()).as_bool(), None);
        assert_eq!(Value::Boolean(true).to_text().as_deref(), Some("True"));
    }

    #[test]
    fn hex_literals_parse() {
        assert_eq!(parse_int("&HF7"), Some(247));
        assert_eq!(parse_int("-10"), Some(-10));
        assert_eq!(parse_int("x"), None);
    }
}
