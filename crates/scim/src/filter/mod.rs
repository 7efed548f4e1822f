//! SCIM filters (RFC 7644 §3.4.2.2): the AST, its parser, its canonical rendering and its
//! in-memory evaluator.

use crate::path::AttrPath;

mod eval;
mod parse;

pub use eval::compare_values;
pub use parse::{MAX_FILTER_DEPTH, MAX_FILTER_LEN, parse_patch_path};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value (`compValue` of RFC 7644): `false / null / true / number / string`.
/// DateTimes arrive as strings and are compared as time when the attribute is a dateTime.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

/// A filter expression.
///
/// `emails[type eq "work"].value eq "a@b.c"` is held as
/// `ValuePath { emails, (type eq "work") and (value eq "a@b.c") }`: both forms mean "some
/// element satisfies all of it", and one shape keeps the evaluator and SQL translation simple.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath compareOp compValue`.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`.
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: `attr` has no sub-attribute; inside `filter`, paths name sub-attributes
    /// of one element (`urn` and `sub` unset).
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
