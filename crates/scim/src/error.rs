//! Errors of the protocol layer and the one table that maps them to the wire.
//!
//! Library code returns [`Error`]; the HTTP layer turns it into an RFC 7644 §3.12 error body
//! with [`Error::status`] and [`Error::scim_type`]. No other place decides a status or a
//! `scimType`, so the same fault always answers the same way.

use std::fmt;
use std::ops::Range;

/// The `scimType` values of RFC 7644 §3.12 (table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    /// The keyword as it appears in an error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }

    /// Parses a keyword from an error body, case-insensitively.
    pub fn parse(s: &str) -> Option<ScimType> {
        const ALL: [ScimType; 10] = [
            ScimType::InvalidFilter,
            ScimType::TooMany,
            ScimType::Uniqueness,
            ScimType::Mutability,
            ScimType::InvalidSyntax,
            ScimType::InvalidPath,
            ScimType::NoTarget,
            ScimType::InvalidValue,
            ScimType::InvalidVers,
            ScimType::Sensitive,
        ];
        ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A syntax error in a filter, an attribute path or a PATCH path.
///
/// It keeps the whole input and the byte span of the fault so that the message can draw a caret
/// under it: a person fixing a filter sees exactly where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The text that failed to parse.
    pub input: String,
    /// Byte range of the fault within `input` (empty at end of input).
    pub span: Range<usize>,
    /// What was wrong, phrased as what was expected or found.
    pub message: String,
}

impl ParseError {
    pub fn new(input: &str, span: Range<usize>, message: impl Into<String>) -> ParseError {
        ParseError {
            input: input.to_owned(),
            span,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    /// Renders `message at column N`, the input, and a caret line under the span.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start = self.span.start.min(self.input.len());
        let end = self.span.end.clamp(start, self.input.len());
        let col = self.input[..start].chars().count();
        let width = self.input[start..end].chars().count().max(1);
        write!(
            f,
            "{} at column {}\n  {}\n  {}{}",
            self.message,
            col + 1,
            self.input,
            " ".repeat(col),
            "^".repeat(width)
        )
    }
}

impl std::error::Error for ParseError {}

/// Every fault the protocol layer reports. Each variant maps to one status and `scimType`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A filter that does not parse, is too long or too deep, or names an unknown attribute.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A filter syntax error, with the span of the fault.
    #[error("invalid filter: {0}")]
    FilterSyntax(ParseError),
    /// An attribute or PATCH path that does not parse or names nothing the schema knows.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A path syntax error, with the span of the fault.
    #[error("invalid path: {0}")]
    PathSyntax(ParseError),
    /// A value of the wrong type, a missing required value, or an unusable request value.
    #[error("{0}")]
    InvalidValue(String),
    /// A request body that is not the message it should be.
    #[error("{0}")]
    InvalidSyntax(String),
    /// An attempt to change a readOnly or immutable attribute.
    #[error("{0}")]
    Mutability(String),
    /// A value that must be unique already exists.
    #[error("{0}")]
    Uniqueness(String),
    /// A PATCH path whose filter selects nothing where something was required.
    #[error("{0}")]
    NoTarget(String),
    /// More results or operations than the server allows.
    #[error("{0}")]
    TooMany(String),
    /// A size or count limit was exceeded (status 413).
    #[error("{0}")]
    TooLarge(String),
}

impl Error {
    /// The HTTP status of this error: the one table the wire uses.
    pub fn status(&self) -> u16 {
        match self {
            Error::Uniqueness(_) => 409,
            Error::TooLarge(_) => 413,
            _ => 400,
        }
    }

    /// The `scimType` of this error, when RFC 7644 defines one for it.
    pub fn scim_type(&self) -> Option<ScimType> {
        Some(match self {
            Error::InvalidFilter(_) | Error::FilterSyntax(_) => ScimType::InvalidFilter,
            Error::InvalidPath(_) | Error::PathSyntax(_) => ScimType::InvalidPath,
            Error::InvalidValue(_) => ScimType::InvalidValue,
            Error::InvalidSyntax(_) => ScimType::InvalidSyntax,
            Error::Mutability(_) => ScimType::Mutability,
            Error::Uniqueness(_) => ScimType::Uniqueness,
            Error::NoTarget(_) => ScimType::NoTarget,
            Error::TooMany(_) => ScimType::TooMany,
            Error::TooLarge(_) => return None,
        })
    }

    /// The human-readable `detail` of the error body.
    pub fn detail(&self) -> String {
        self.to_string()
    }

    /// The RFC 7644 §3.12 error body for this error.
    pub fn to_message(&self) -> crate::messages::ErrorMessage {
        crate::messages::ErrorMessage::new(self.status(), self.scim_type(), self.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_fault() {
        let e = ParseError::new("userName eq", 9..11, "expected a value after operator 'eq'");
        assert_eq!(
            e.to_string(),
            "expected a value after operator 'eq' at column 10\n  userName eq\n           ^^"
        );
    }

    #[test]
    fn caret_at_end_of_input() {
        let e = ParseError::new("a eq", 4..4, "expected a value");
        assert_eq!(
            e.to_string(),
            "expected a value at column 5\n  a eq\n      ^"
        );
    }

    #[test]
    fn every_error_has_one_status() {
        assert_eq!(Error::Uniqueness("x".into()).status(), 409);
        assert_eq!(Error::TooLarge("x".into()).status(), 413);
        assert_eq!(
            Error::NoTarget("x".into()).scim_type(),
            Some(ScimType::NoTarget)
        );
        assert_eq!(
            ScimType::parse("INVALIDFILTER"),
            Some(ScimType::InvalidFilter)
        );
    }
}
