//! SCIM filters (RFC 7644 §3.4.2.2): the AST, its parser, its canonical rendering and its
//! in-memory evaluator.

use std::fmt;

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

impl CompareOp {
    /// The operator as written in a filter, lower-case.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Whether the operator orders values (RFC 7644 forbids these on boolean and binary).
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    /// JSON literal syntax, which is what the filter grammar uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write_json_string(f, s),
        }
    }
}

/// A JSON string literal (RFC 8259 §7): quotes, backslashes and control characters escaped.
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    let mut from = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        f.write_str(&s[from..i])?;
        if esc.is_empty() {
            write!(f, "\\u{:04x}", c as u32)?;
        } else {
            f.write_str(esc)?;
        }
        from = i + c.len_utf8();
    }
    f.write_str(&s[from..])?;
    f.write_str("\"")
}

impl fmt::Display for Filter {
    /// The canonical form: lower-case operators, JSON literals, single spaces, and only the
    /// brackets the tree needs. `and`/`or` parse left-associative, so a right operand of the same
    /// operator (and an `or` under an `and`) gets brackets; `not` always has them, as the
    /// grammar requires. Parsing the output gives back the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(l, r) => {
                write_operand(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, r, matches!(**r, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(l, r) => {
                write_operand(f, l, false)?;
                f.write_str(" or ")?;
                write_operand(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, bracket: bool) -> fmt::Result {
    if bracket {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
}
