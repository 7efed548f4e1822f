//! Attribute mappings and scoping filters: how the provisioning engine decides each target
//! attribute from a source record, and which records are in scope at all.
//!
//! The expression language is Microsoft Entra ID's, function for function, so an administrator
//! moving from Entra pastes expressions unchanged and gets the same results
//! (`docs/mapping-language.md` is the reference; its examples are tests). Three choices shape
//! the crate:
//!
//! * **Check before running.** [`Expression::compile`] parses and checks (functions, arity,
//!   literal kinds, regular expressions, source attributes) and reports a caret under the
//!   fault, so a job with a typo is refused when it is loaded, never half-way through a cycle.
//! * **No hidden inputs.** `Now()`, `Guid()`, `RandomString()`, `SelectUniqueValue` and
//!   `DefaultDomain()` ask a [`Context`]; with [`FixedContext`] a plan or a test gives the same
//!   answer every time.
//! * **No I/O.** The crate maps a JSON record to a SCIM resource fragment
//!   ([`job::ObjectMapping::map`]) written with `scim::patch`, so the engine diffs and sends it
//!   however the target wants.

pub mod check;
pub mod context;
pub mod datetime;
mod eval;
pub mod functions;
pub mod job;
pub mod scoping;
pub mod syntax;
pub mod text;
pub mod value;

use scim::ParseError;

pub use check::SourceAttributes;
pub use context::{Context, FixedContext, SystemContext};
pub use eval::{Record, lookup};
pub use syntax::{Expr, ExprKind};
pub use value::Value;

/// Why an expression was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// It does not parse: a stray character, an unclosed string or call, too long, too deep.
    #[error("{0}")]
    Syntax(ParseError),
    /// It parses but cannot run: unknown function or attribute, wrong arity, bad literal,
    /// invalid regular expression.
    #[error("{0}")]
    Check(ParseError),
    /// It failed on this record (a text that is not a date, `Error(…)`, no unique value
    /// left); the object is retried, the others go on.
    #[error("{0}")]
    Eval(ParseError),
}

impl Error {
    /// The parse error with the input and span, whichever stage it came from.
    pub fn parse_error(&self) -> &ParseError {
        match self {
            Error::Syntax(e) | Error::Check(e) | Error::Eval(e) => e,
        }
    }
}

/// What a mapping does with the target attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    /// Write this value (`Value::Null` means the expression had nothing to say).
    Set(Value),
    /// Leave the attribute out of the flow: `IgnoreFlowIfNullOrEmpty` met null or empty.
    Ignore,
}

/// The result of evaluating an expression on one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub flow: Flow,
    /// `Redact` was used: logs and plans show `[Redact]` instead of the value.
    pub redacted: bool,
    /// `AppRoleAssignmentsComplex` was used: values are added to the target, never removed.
    pub additive: bool,
}

impl Outcome {
    /// The value written, `None` when the attribute is dropped.
    pub fn value(&self) -> Option<&Value> {
        match &self.flow {
            Flow::Set(v) => Some(v),
            Flow::Ignore => None,
        }
    }
}

/// A parsed and checked expression, ready to evaluate on many records.
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    ast: Expr,
    regexes: check::RegexCache,
}

impl Expression {
    /// Parses and checks `source` without knowing the source's attributes.
    pub fn parse(source: &str) -> Result<Expression, Error> {
        Expression::compile(source, None)
    }

    /// Parses and checks `source`; with `attributes`, names not among them are refused.
    pub fn compile(
        source: &str,
        attributes: Option<&SourceAttributes>,
    ) -> Result<Expression, Error> {
        let ast = syntax::parse(source).map_err(Error::Syntax)?;
        let mut checker = check::Checker {
            input: source,
            attributes,
            regexes: Default::default(),
        };
        checker.check(&ast).map_err(Error::Check)?;
        Ok(Expression {
            source: source.to_owned(),
            ast,
            regexes: checker.regexes,
        })
    }

    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn ast(&self) -> &Expr {
        &self.ast
    }

    /// Whether the whole expression is a `SelectUniqueValue` call, which only makes sense on
    /// create.
    pub fn is_select_unique_value(&self) -> bool {
        matches!(&self.ast.kind, ExprKind::Call { name, .. } if name == "SelectUniqueValue")
    }

    /// The source attributes it reads, in order of first use, for change detection.
    pub fn attributes(&self) -> Vec<&str> {
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
            match &e.kind {
                ExprKind::Attribute(n) if !out.contains(&n.as_str()) => out.push(n),
                ExprKind::Call { args, .. } => args.iter().flatten().for_each(|a| walk(a, out)),
                ExprKind::Compare { lhs, rhs, .. } => {
                    walk(lhs, out);
                    walk(rhs, out);
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.ast, &mut out);
        out
    }

    /// Evaluates on `record`, outside any mapping (uniqueness is asked for target `""`).
    pub fn evaluate(&self, record: &Record, ctx: &mut dyn Context) -> Result<Outcome, Error> {
        self.evaluate_for("", record, ctx)
    }

    /// Evaluates on `record` for the target attribute `target` (the attribute
    /// `SelectUniqueValue` asks the context about).
    pub fn evaluate_for(
        &self,
        target: &str,
        record: &Record,
        ctx: &mut dyn Context,
    ) -> Result<Outcome, Error> {
        let mut ev = eval::Eval {
            input: &self.source,
            record,
            ctx,
            regexes: &self.regexes,
            target,
            redacted: false,
            additive: false,
        };
        let flow = match ev.eval(&self.ast) {
            Ok(v) => Flow::Set(v),
            Err(eval::Stop::Ignore) => Flow::Ignore,
            Err(eval::Stop::Error(e)) => return Err(Error::Eval(e)),
        };
        Ok(Outcome {
            flow,
            redacted: ev.redacted,
            additive: ev.additive,
        })
    }
}

impl std::fmt::Display for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}
