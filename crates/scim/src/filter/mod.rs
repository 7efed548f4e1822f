//! SCIM filters (RFC 7644 §3.4.2.2): the AST, its parser, its canonical rendering and its
//! in-memory evaluator.

use std::fmt;

use crate::path::AttrPath;

mod eval;
mod parse;

pub use eval::{compare_values, parse_datetime};
pub use parse::{
    Limits, MAX_FILTER_DEPTH, MAX_FILTER_LEN, parse_patch_path, parse_patch_path_with,
};

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn show(s: &str) -> String {
        Filter::parse(s).unwrap().to_string()
    }

    #[test]
    fn canonical_form() {
        assert_eq!(show(r#"userName Eq "john""#), r#"userName eq "john""#);
        assert_eq!(show("title PR"), "title pr");
        assert_eq!(show("a pr or (b pr or c pr)"), "a pr or (b pr or c pr)");
        assert_eq!(show("(a pr or b pr) or c pr"), "a pr or b pr or c pr");
        assert_eq!(show("(a pr or b pr) and c pr"), "(a pr or b pr) and c pr");
        assert_eq!(show("a pr and (b pr and c pr)"), "a pr and (b pr and c pr)");
        assert_eq!(show("((a pr and b pr)) or (c pr)"), "a pr and b pr or c pr");
        assert_eq!(show("not(a pr)"), "not (a pr)");
        assert_eq!(show("NOT (a pr or b pr)"), "not (a pr or b pr)");
        assert_eq!(
            show("a eq TRUE and b eq NULL and c gt 1.50"),
            "a eq true and b eq null and c gt 1.5"
        );
        assert_eq!(
            show(r#"emails[type eq "work"].value eq "x""#),
            r#"emails[type eq "work" and value eq "x"]"#
        );
        assert_eq!(
            show(r#"emails[type eq "a" or type eq "b"].value eq "x""#),
            r#"emails[(type eq "a" or type eq "b") and value eq "x"]"#
        );
        assert_eq!(
            show(r#"a eq "q\"\\\/\u0001\n😀""#),
            r#"a eq "q\"\\/\u0001\n😀""#
        );
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z][a-zA-Z0-9_-]{0,6}",
            Just("not".to_owned()),
            Just("and".to_owned()),
            Just("OR".to_owned()),
            Just("pr".to_owned()),
            Just("eq".to_owned()),
            Just("null".to_owned()),
        ]
    }

    fn value() -> impl Strategy<Value = CompValue> {
        prop_oneof![
            Just(CompValue::Null),
            any::<bool>().prop_map(CompValue::Bool),
            any::<i64>().prop_map(|n| CompValue::Number(n.into())),
            any::<u64>().prop_map(|n| CompValue::Number(n.into())),
            any::<f64>()
                .prop_filter_map("finite", serde_json::Number::from_f64)
                .prop_map(CompValue::Number),
            any::<String>().prop_map(CompValue::String),
        ]
    }

    fn op() -> impl Strategy<Value = CompareOp> {
        prop_oneof![
            Just(CompareOp::Eq),
            Just(CompareOp::Ne),
            Just(CompareOp::Co),
            Just(CompareOp::Sw),
            Just(CompareOp::Ew),
            Just(CompareOp::Gt),
            Just(CompareOp::Ge),
            Just(CompareOp::Lt),
            Just(CompareOp::Le),
        ]
    }

    fn path() -> impl Strategy<Value = AttrPath> {
        let urn = prop_oneof![
            Just(None),
            Just(Some(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned()
            )),
            "urn:[a-z0-9.-]{1,5}(:[a-zA-Z0-9.]{1,5}){0,2}".prop_map(Some),
        ];
        let sub = prop_oneof![
            Just(None),
            name().prop_map(Some),
            Just(Some("$ref".to_owned()))
        ];
        (urn, name(), sub).prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
    }

    fn combine(
        leaf: impl Strategy<Value = Filter> + Clone + 'static,
        depth: u32,
    ) -> impl Strategy<Value = Filter> {
        leaf.prop_recursive(depth, 16, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
                (inner.clone(), inner.clone())
                    .prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
    }

    /// A filter over sub-attributes of one element: the inside of a value path.
    fn element_filter() -> impl Strategy<Value = Filter> {
        let leaf = prop_oneof![
            (name(), op(), value()).prop_map(|(n, op, value)| Filter::Compare {
                path: AttrPath::name(n),
                op,
                value
            }),
            name().prop_map(|n| Filter::Present(AttrPath::name(n))),
        ];
        combine(leaf, 2)
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let leaf = prop_oneof![
            (path(), op(), value()).prop_map(|(path, op, value)| Filter::Compare {
                path,
                op,
                value
            }),
            path().prop_map(Filter::Present),
            (path(), element_filter()).prop_map(|(p, f)| Filter::ValuePath {
                attr: p.parent(),
                filter: Box::new(f)
            }),
        ];
        combine(leaf, 4)
    }

    proptest! {
        #[test]
        fn display_round_trips(f in filter()) {
            let text = f.to_string();
            let back = Filter::parse(&text);
            prop_assert_eq!(back.as_ref(), Ok(&f), "{}", text);
        }

        #[test]
        fn parser_never_panics(s in "[a-z\\[\\]().\" :0-9\\\\-]{0,40}|\\PC{0,20}") {
            let _ = Filter::parse(&s);
            let _ = parse_patch_path(&s);
        }
    }
}
