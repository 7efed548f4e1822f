//! Building filters as syntax trees, never by formatting strings.
//!
//! `format!("userName eq \"{name}\"")` breaks on a name with a quote or a backslash and lets a
//! value change the meaning of the filter. The builder makes a [`scim::Filter`], whose
//! rendering quotes and escapes every value as a JSON string and brackets by precedence.
//!
//! ```
//! use client::filter::{attr, FilterExt};
//! let f = attr("userName").unwrap().eq("o\"brien")
//!     .and(attr("active").unwrap().eq(true));
//! assert_eq!(f.to_string(), r#"userName eq "o\"brien" and active eq true"#);
//! ```

use scim::filter::{CompValue, CompareOp};
use scim::{AttrPath, Filter};

/// An attribute path to compare, from [`attr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr(AttrPath);

/// Parses `[urn:]name[.sub]`; the error shows where the path is wrong.
pub fn attr(path: &str) -> Result<Attr, scim::Error> {
    AttrPath::parse(path).map(Attr)
}

/// A comparison value: strings, booleans, numbers, or null.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterValue(CompValue);

impl From<&str> for FilterValue {
    fn from(s: &str) -> Self {
        FilterValue(CompValue::String(s.to_owned()))
    }
}

impl From<String> for FilterValue {
    fn from(s: String) -> Self {
        FilterValue(CompValue::String(s))
    }
}

impl From<&String> for FilterValue {
    fn from(s: &String) -> Self {
        FilterValue(CompValue::String(s.clone()))
    }
}

impl From<bool> for FilterValue {
    fn from(b: bool) -> Self {
        FilterValue(CompValue::Bool(b))
    }
}

impl From<i64> for FilterValue {
    fn from(n: i64) -> Self {
        FilterValue(CompValue::Number(n.into()))
    }
}

impl From<i32> for FilterValue {
    fn from(n: i32) -> Self {
        FilterValue(CompValue::Number(n.into()))
    }
}

impl From<u64> for FilterValue {
    fn from(n: u64) -> Self {
        FilterValue(CompValue::Number(n.into()))
    }
}

impl From<f64> for FilterValue {
    /// NaN and infinities have no JSON form; they compare as `null`.
    fn from(n: f64) -> Self {
        FilterValue(serde_json::Number::from_f64(n).map_or(CompValue::Null, CompValue::Number))
    }
}

impl<T: Into<FilterValue>> From<Option<T>> for FilterValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(FilterValue(CompValue::Null), Into::into)
    }
}

impl Attr {
    fn compare(self, op: CompareOp, value: impl Into<FilterValue>) -> Filter {
        Filter::Compare {
            path: self.0,
            op,
            value: value.into().0,
        }
    }

    pub fn eq(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Eq, value)
    }

    pub fn ne(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Ne, value)
    }

    pub fn co(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Co, value)
    }

    pub fn sw(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Sw, value)
    }

    pub fn ew(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Ew, value)
    }

    pub fn gt(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Gt, value)
    }

    pub fn ge(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Ge, value)
    }

    pub fn lt(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Lt, value)
    }

    pub fn le(self, value: impl Into<FilterValue>) -> Filter {
        self.compare(CompareOp::Le, value)
    }

    /// `attr pr`: has a value.
    pub fn present(self) -> Filter {
        Filter::Present(self.0)
    }

    /// `attr[filter]`: some element of a multi-valued attribute matches `filter`, whose paths
    /// name sub-attributes (`emails[type eq "work"]`).
    pub fn with(self, filter: Filter) -> Filter {
        Filter::ValuePath {
            attr: self.0,
            filter: Box::new(filter),
        }
    }
}

/// `and`, `or` and `not` on filters.
pub trait FilterExt {
    fn and(self, other: Filter) -> Filter;
    fn or(self, other: Filter) -> Filter;
    fn not(self) -> Filter;
}

impl FilterExt for Filter {
    fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }

    fn or(self, other: Filter) -> Filter {
        Filter::Or(Box::new(self), Box::new(other))
    }

    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

/// All of `filters` joined by `and`; `None` when there are none.
pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
    filters.into_iter().reduce(FilterExt::and)
}

/// Any of `filters` joined by `or`; `None` when there are none.
pub fn any(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
    filters.into_iter().reduce(FilterExt::or)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(p: &str) -> Attr {
        attr(p).unwrap()
    }

    #[test]
    fn values_are_quoted_and_escaped() {
        let f = a("userName").eq("a\"b\\c\nd");
        assert_eq!(f.to_string(), r#"userName eq "a\"b\\c\nd""#);
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
        // A value that looks like a keyword or a filter stays a string.
        let f = a("displayName").eq("x\" or userName pr or \"");
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    }

    #[test]
    fn precedence_gets_brackets() {
        let f = a("a")
            .present()
            .or(a("b").present())
            .and(a("c").eq(1i64).not());
        assert_eq!(f.to_string(), "(a pr or b pr) and not (c eq 1)");
        let f = a("emails")
            .with(a("type").eq("work").and(a("value").ew("@x.org")))
            .and(
                a("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")
                    .eq("7"),
            );
        assert_eq!(
            f.to_string(),
            r#"emails[type eq "work" and value ew "@x.org"] and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7""#
        );
        assert_eq!(
            any([a("x").eq(true), a("y").eq(None::<&str>), a("z").gt(1.5)])
                .unwrap()
                .to_string(),
            "x eq true or y eq null or z gt 1.5"
        );
        assert!(all([]).is_none());
    }

    #[test]
    fn bad_paths_are_errors() {
        assert!(attr("user name").is_err());
        assert!(attr("").is_err());
    }
}
