//! Scoping filters: which source records a job provisions.
//!
//! A filter is a group of clauses that must all hold (AND); a record is in scope when any
//! filter holds (OR), and when there are no filters at all. Each clause tests one attribute
//! with one of Entra's operators. As Entra documents, a clause on a null or empty attribute is
//! false whatever the operator, except `IS NULL`; multi-valued attributes are not supported and
//! never match.
//!
//! Operator names are read as Entra's portal and Graph spell them, ignoring case, spaces and
//! underscores: `NOT EQUALS`, `Not_Equals` and `NOTEQUALS` are one operator.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::check::{SourceAttributes, compile_regex};
use crate::eval::{Record, lookup};
use crate::value::Value;

/// One scoping filter as written in a job file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopingFilter {
    /// A name for people (Entra's "Scoping Filter Title").
    #[serde(default)]
    pub title: Option<String>,
    pub clauses: Vec<ClauseSpec>,
}

/// One clause as written: `{ attribute = "department", operator = "EQUALS", value = "Sales" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClauseSpec {
    pub attribute: String,
    pub operator: String,
    #[serde(default)]
    pub value: Option<ClauseValue>,
}

/// A clause value; numbers and booleans are accepted and compared as their text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClauseValue {
    String(String),
    Integer(i64),
    Boolean(bool),
}

impl fmt::Display for ClauseValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClauseValue::String(s) => f.write_str(s),
            ClauseValue::Integer(n) => write!(f, "{n}"),
            ClauseValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// Entra's scoping operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `&`: the attribute's value occurs in the clause value.
    ExistsIn,
    /// `!&`: the attribute's value does not occur in the clause value.
    NotExistsIn,
    EndsWith,
    Equals,
    NotEquals,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
    /// The attribute contains the clause value.
    Includes,
    /// The attribute does not contain the clause value.
    Excludes,
    IsTrue,
    IsFalse,
    IsNull,
    IsNotNull,
    RegexMatch,
    NotRegexMatch,
}

impl Operator {
    pub const ALL: [Operator; 17] = [
        Operator::ExistsIn,
        Operator::NotExistsIn,
        Operator::EndsWith,
        Operator::Equals,
        Operator::NotEquals,
        Operator::GreaterThan,
        Operator::GreaterThanOrEquals,
        Operator::LessThan,
        Operator::LessThanOrEquals,
        Operator::Includes,
        Operator::Excludes,
        Operator::IsTrue,
        Operator::IsFalse,
        Operator::IsNull,
        Operator::IsNotNull,
        Operator::RegexMatch,
        Operator::NotRegexMatch,
    ];

    /// The canonical (Entra portal) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::ExistsIn => "&",
            Operator::NotExistsIn => "!&",
            Operator::EndsWith => "ENDS_WITH",
            Operator::Equals => "EQUALS",
            Operator::NotEquals => "NOT EQUALS",
            Operator::GreaterThan => "GREATER_THAN",
            Operator::GreaterThanOrEquals => "GREATER_THAN_OR_EQUALS",
            Operator::LessThan => "LESS_THAN",
            Operator::LessThanOrEquals => "LESS_THAN_OR_EQUALS",
            Operator::Includes => "INCLUDES",
            Operator::Excludes => "EXCLUDES",
            Operator::IsTrue => "IS TRUE",
            Operator::IsFalse => "IS FALSE",
            Operator::IsNull => "IS NULL",
            Operator::IsNotNull => "IS NOT NULL",
            Operator::RegexMatch => "REGEX MATCH",
            Operator::NotRegexMatch => "NOT REGEX MATCH",
        }
    }

    /// Reads an operator, ignoring case, spaces and underscores.
    pub fn parse(s: &str) -> Option<Operator> {
        let key: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_')
            .collect::<String>()
            .to_ascii_uppercase();
        Operator::ALL.into_iter().find(|op| {
            op.as_str()
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '_')
                .collect::<String>()
                == key
        })
    }

    /// Whether the operator compares with a clause value.
    pub fn takes_value(self) -> bool {
        !matches!(
            self,
            Operator::IsTrue | Operator::IsFalse | Operator::IsNull | Operator::IsNotNull
        )
    }

    fn is_integer(self) -> bool {
        matches!(
            self,
            Operator::GreaterThan
                | Operator::GreaterThanOrEquals
                | Operator::LessThan
                | Operator::LessThanOrEquals
        )
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked clause.
#[derive(Debug, Clone)]
pub struct Clause {
    pub attribute: String,
    pub operator: Operator,
    pub value: String,
    regex: Option<Regex>,
    number: Option<i64>,
}

impl Clause {
    /// Checks a clause: a known operator, a value exactly when the operator takes one, an
    /// integer for the ordering operators, a valid regular expression, a known attribute.
    pub fn compile(
        spec: &ClauseSpec,
        attributes: Option<&SourceAttributes>,
    ) -> Result<Clause, String> {
        let Some(operator) = Operator::parse(&spec.operator) else {
            let known: Vec<&str> = Operator::ALL.iter().map(|o| o.as_str()).collect();
            return Err(format!(
                "unknown operator \"{}\"; known: {}",
                spec.operator,
                known.join(", ")
            ));
        };
        if let Some(attrs) = attributes
            && !attrs.contains(&spec.attribute)
        {
            let hint = attrs
                .suggest(&spec.attribute)
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            return Err(format!(
                "unknown source attribute \"{}\"{hint}",
                spec.attribute
            ));
        }
        let value = match (&spec.value, operator.takes_value()) {
            (Some(v), true) => v.to_string(),
            (None, false) => String::new(),
            (None, true) => return Err(format!("operator {operator} needs a value")),
            (Some(_), false) => return Err(format!("operator {operator} takes no value")),
        };
        let number = if operator.is_integer() {
            match value.trim().parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return Err(format!(
                        "operator {operator} compares integers; \"{value}\" is not one"
                    ));
                }
            }
        } else {
            None
        };
        let regex = match operator {
            Operator::RegexMatch | Operator::NotRegexMatch => Some(compile_regex(&value)?),
            _ => None,
        };
        Ok(Clause {
            attribute: spec.attribute.clone(),
            operator,
            value,
            regex,
            number,
        })
    }

    /// Whether `record` satisfies the clause.
    pub fn matches(&self, record: &Record) -> bool {
        let v = lookup(record, &self.attribute).map_or(Value::Null, Value::from_json);
        if matches!(v, Value::List(_) | Value::Object(_)) {
            return false;
        }
        if v.is_null_or_empty() {
            return self.operator == Operator::IsNull;
        }
        let text = v.to_string();
        let value = self.value.as_str();
        match self.operator {
            Operator::ExistsIn => value.contains(text.as_str()),
            Operator::NotExistsIn => !value.contains(text.as_str()),
            Operator::EndsWith => text.ends_with(value),
            Operator::Equals => text == value,
            Operator::NotEquals => text != value,
            Operator::Includes => text.contains(value),
            Operator::Excludes => !text.contains(value),
            Operator::IsTrue => v.as_bool() == Some(true),
            Operator::IsFalse => v.as_bool() == Some(false),
            Operator::IsNull => false,
            Operator::IsNotNull => true,
            Operator::RegexMatch => self.regex.as_ref().is_some_and(|r| r.is_match(&text)),
            Operator::NotRegexMatch => self.regex.as_ref().is_some_and(|r| !r.is_match(&text)),
            Operator::GreaterThan
            | Operator::GreaterThanOrEquals
            | Operator::LessThan
            | Operator::LessThanOrEquals => {
                let (Some(a), Some(b)) = (v.as_i64(), self.number) else {
                    return false;
                };
                match self.operator {
                    Operator::GreaterThan => a > b,
                    Operator::GreaterThanOrEquals => a >= b,
                    Operator::LessThan => a < b,
                    _ => a <= b,
                }
            }
        }
    }
}

/// A checked set of scoping filters.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub groups: Vec<(Option<String>, Vec<Clause>)>,
}

impl Scope {
    /// Checks every clause; errors name the filter (1-based) and clause.
    pub fn compile(
        filters: &[ScopingFilter],
        attributes: Option<&SourceAttributes>,
    ) -> Result<Scope, Vec<String>> {
        let mut errors = Vec::new();
        let mut groups = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            let name = f.title.as_ref().map_or_else(
                || format!("scoping filter {}", i + 1),
                |t| format!("scoping filter \"{t}\""),
            );
            if f.clauses.is_empty() {
                errors.push(format!("{name}: has no clauses"));
            }
            let mut clauses = Vec::new();
            for (j, c) in f.clauses.iter().enumerate() {
                match Clause::compile(c, attributes) {
                    Ok(c) => clauses.push(c),
                    Err(e) => errors.push(format!("{name}, clause {}: {e}", j + 1)),
                }
            }
            groups.push((f.title.clone(), clauses));
        }
        if errors.is_empty() {
            Ok(Scope { groups })
        } else {
            Err(errors)
        }
    }

    /// Whether `record` is in scope: no filters, or every clause of some filter holds.
    pub fn matches(&self, record: &Record) -> bool {
        self.groups.is_empty()
            || self
                .groups
                .iter()
                .any(|(_, clauses)| clauses.iter().all(|c| c.matches(record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clause(attr: &str, op: &str, value: Option<&str>) -> Clause {
        Clause::compile(
            &ClauseSpec {
                attribute: attr.into(),
                operator: op.into(),
                value: value.map(|v| ClauseValue::String(v.into())),
            },
            None,
        )
        .unwrap()
    }

    fn rec(v: serde_json::Value) -> Record {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn every_operator_on_values_and_on_null() {
        let r = rec(json!({
            "dept": "Sales", "upn": "ann@domain.com", "id": "1500000", "flag": "True",
            "off": false, "empty": ""
        }));
        let cases: &[(&str, &str, Option<&str>, bool)] = &[
            ("dept", "&", Some("Sales,Marketing"), true),
            ("dept", "!&", Some("HR,Legal"), true),
            ("upn", "ENDS_WITH", Some("@domain.com"), true),
            ("dept", "EQUALS", Some("sales"), false),
            ("dept", "NOT EQUALS", Some("sales"), true),
            ("id", "Greater_Than", Some("1000000"), true),
            ("id", "GREATER_THAN_OR_EQUALS", Some("1500000"), true),
            ("id", "LESS_THAN", Some("1500000"), false),
            ("id", "LESS_THAN_OR_EQUALS", Some("1500000"), true),
            ("upn", "Includes", Some("@domain"), true),
            ("upn", "EXCLUDES", Some("@contoso"), true),
            ("flag", "IS TRUE", None, true),
            ("off", "IS FALSE", None, true),
            ("empty", "IS NULL", None, true),
            ("dept", "IS NOT NULL", None, true),
            ("upn", "REGEX MATCH", Some(r".*\@domain.com"), true),
            ("upn", "NOT REGEX MATCH", Some(r".*\@domain.com"), false),
            (
                "id",
                "REGEX MATCH",
                Some("(1[0-9][0-9][0-9][0-9][0-9][0-9])"),
                true,
            ),
        ];
        for (attr, op, value, want) in cases {
            assert_eq!(
                clause(attr, op, *value).matches(&r),
                *want,
                "{attr} {op} {value:?}"
            );
        }
        // Null or empty: false for every operator but IS NULL.
        for op in Operator::ALL {
            let value = op
                .takes_value()
                .then_some(if op.is_integer() { "1" } else { "x" });
            let c = clause("missing", op.as_str(), value);
            assert_eq!(c.matches(&r), op == Operator::IsNull, "{op}");
        }
    }

    #[test]
    fn and_within_or_across() {
        let filters: Vec<ScopingFilter> = toml::from_str::<toml::Table>(
            r#"
            [[f]]
            title = "NY engineers"
            clauses = [
              { attribute = "state", operator = "EQUALS", value = "New York" },
              { attribute = "dept", operator = "EQUALS", value = "Engineering" },
            ]
            [[f]]
            clauses = [{ attribute = "vip", operator = "IS TRUE" }]
            "#,
        )
        .unwrap()["f"]
            .clone()
            .try_into()
            .unwrap();
        let scope = Scope::compile(&filters, None).unwrap();
        assert!(scope.matches(&rec(json!({"state": "New York", "dept": "Engineering"}))));
        assert!(!scope.matches(&rec(json!({"state": "New York", "dept": "Sales"}))));
        assert!(scope.matches(&rec(json!({"state": "Ohio", "vip": true}))));
        assert!(Scope::default().matches(&rec(json!({}))));
    }

    #[test]
    fn bad_clauses_are_refused() {
        let attrs = SourceAttributes::new(["department", "employeeId"]);
        let err = |attr: &str, op: &str, value: Option<ClauseValue>| {
            Clause::compile(
                &ClauseSpec {
                    attribute: attr.into(),
                    operator: op.into(),
                    value,
                },
                Some(&attrs),
            )
            .unwrap_err()
        };
        let s = |v: &str| Some(ClauseValue::String(v.into()));
        assert_eq!(
            err("departmnt", "EQUALS", s("x")),
            "unknown source attribute \"departmnt\"; did you mean \"department\"?"
        );
        assert_eq!(
            err("employeeId", "GREATER_THAN", s("ten")),
            "operator GREATER_THAN compares integers; \"ten\" is not one"
        );
        assert_eq!(
            err("department", "IS NULL", s("x")),
            "operator IS NULL takes no value"
        );
        assert_eq!(
            err("department", "EQUALS", None),
            "operator EQUALS needs a value"
        );
        assert_eq!(
            err("department", "REGEX MATCH", s("(")),
            "invalid regular expression: unclosed group"
        );
        assert!(
            err("department", "LIKE", s("x"))
                .starts_with("unknown operator \"LIKE\"; known: &, !&,")
        );
        assert!(
            Clause::compile(
                &ClauseSpec {
                    attribute: "employeeId".into(),
                    operator: "greater_than".into(),
                    value: Some(ClauseValue::Integer(5)),
                },
                Some(&attrs)
            )
            .is_ok()
        );
    }
}
