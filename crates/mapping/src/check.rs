//! The checker: everything that can be known about an expression before it meets a record.
//!
//! Unknown functions, wrong arity, literals of the wrong kind, invalid regular expressions and
//! (when the source's attribute list is known) unknown attributes are reported with a caret
//! when a job is loaded, so a cycle never stops half-way on a typo. Regular expressions given
//! as literals are compiled here, once, and kept for evaluation.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use regex::Regex;
use scim::ParseError;

use crate::datetime;
use crate::functions::{self, Kind};
use crate::syntax::{CONSTANTS, Expr, ExprKind};

/// Largest compiled program a pattern may produce. The `regex` crate matches in linear time;
/// this bounds memory for patterns like `\w{1000}{1000}`.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a pattern with the size limits every pattern in the crate uses.
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("regular expression is too big (compiled size over {limit} bytes)")
            }
            regex::Error::Syntax(msg) => {
                let detail = msg
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("error:"))
                    .map(|l| l.trim_start_matches("error:").trim().to_owned())
                    .unwrap_or(msg);
                format!("invalid regular expression: {detail}")
            }
            other => format!("invalid regular expression: {other}"),
        })
}

/// The attribute names a source is known to have, matched case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct SourceAttributes {
    names: Vec<String>,
    lower: HashSet<String>,
}

impl SourceAttributes {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> SourceAttributes {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let lower = names.iter().map(|n| n.to_lowercase()).collect();
        SourceAttributes { names, lower }
    }

    /// Whether `name` is known, directly or as a path into a known complex attribute
    /// (`name.givenName` when `name` is known; `urn:…:User:manager` when the URN is).
    pub fn contains(&self, name: &str) -> bool {
        let lower = name.to_lowercase();
        if self.lower.contains(&lower) {
            return true;
        }
        if lower.starts_with("urn:")
            && let Some(i) = lower.rfind(':')
            && self.lower.contains(&lower[..i])
        {
            return true;
        }
        lower
            .split_once('.')
            .is_some_and(|(head, _)| self.lower.contains(head))
    }

    /// The known name closest to `name`, for "did you mean".
    pub fn suggest(&self, name: &str) -> Option<&str> {
        suggest(name, self.names.iter().map(String::as_str))
    }
}

/// The closest candidate within a small edit distance (or equal ignoring case).
pub(crate) fn suggest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .map(|c| {
            let d = if c.to_lowercase() == lower {
                0
            } else {
                edit_distance(&lower, &c.to_lowercase())
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= 2.max(name.chars().count() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Regular expressions compiled from literals, by the byte offset of the literal.
pub(crate) type RegexCache = HashMap<usize, Regex>;

pub(crate) struct Checker<'a> {
    pub input: &'a str,
    pub attributes: Option<&'a SourceAttributes>,
    pub regexes: RegexCache,
}

impl Checker<'_> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, span, msg)
    }

    pub fn check(&mut self, root: &Expr) -> Result<(), ParseError> {
        self.visit(root, true, None)
    }

    fn visit(&mut self, e: &Expr, top: bool, kind: Option<Kind>) -> Result<(), ParseError> {
        match &e.kind {
            ExprKind::Attribute(name) => {
                if let Some(attrs) = self.attributes
                    && !attrs.contains(name)
                {
                    let hint = attrs
                        .suggest(name)
                        .map(|s| format!("; did you mean [{s}]?"))
                        .unwrap_or_default();
                    return Err(self.err(
                        e.span.clone(),
                        format!("unknown source attribute [{name}]{hint}"),
                    ));
                }
                Ok(())
            }
            ExprKind::Constant(c) if kind != Some(Kind::CompareType) => Err(self.err(
                e.span.clone(),
                format!("{c} is only meaningful as the compareType of InStr"),
            )),
            ExprKind::Compare { lhs, rhs, .. } => {
                self.visit(lhs, false, None)?;
                self.visit(rhs, false, None)
            }
            ExprKind::Call {
                name,
                name_span,
                args,
            } => self.call(e, name, name_span, args, top),
            _ => Ok(()),
        }
    }

    fn call(
        &mut self,
        e: &Expr,
        name: &str,
        name_span: &Range<usize>,
        args: &[Option<Expr>],
        top: bool,
    ) -> Result<(), ParseError> {
        let Some(f) = functions::lookup(name) else {
            let hint = match suggest(name, functions::FUNCTIONS.iter().map(|f| f.name)) {
                Some(s) if s.eq_ignore_ascii_case(name) => {
                    format!("; function names are case-sensitive: did you mean {s}?")
                }
                Some(s) => format!("; did you mean {s}?"),
                None => String::new(),
            };
            return Err(self.err(name_span.clone(), format!("unknown function {name}{hint}")));
        };
        let n = args.len();
        let (min, max) = (f.min_args(), f.max_args());
        let arity_ok = n >= min
            && max.is_none_or(|m| n <= m)
            && (f.repeat != functions::Repeat::Pairs || n.is_multiple_of(2));
        if !arity_ok {
            let takes = match (f.repeat, max) {
                (functions::Repeat::Pairs, _) => format!(
                    "{}, {} and key/value pairs (an even number of at least {min} arguments)",
                    f.params[0].name, f.params[1].name
                ),
                (_, Some(m)) if m == min => plural(m),
                (_, Some(m)) => format!("{min} to {m} arguments"),
                (_, None) => format!("at least {}", plural(min)),
            };
            return Err(self.err(
                name_span.clone(),
                format!("{name} takes {takes}, got {n}; its form is {}", f.signature),
            ));
        }
        if name == "SelectUniqueValue" && !top {
            return Err(self.err(
                name_span.clone(),
                "SelectUniqueValue must be the whole expression, not nested in another",
            ));
        }
        for (i, arg) in args.iter().enumerate() {
            let p = f.param(i);
            match arg {
                None if !p.optional => {
                    return Err(self.err(
                        e.span.clone(),
                        format!(
                            "argument {} ({}) of {name} cannot be left empty",
                            i + 1,
                            p.name
                        ),
                    ));
                }
                None => {}
                Some(a) => {
                    self.literal(name, p.name, p.kind, a, args)?;
                    self.visit(a, false, Some(p.kind))?;
                }
            }
        }
        if name == "Replace" {
            self.replace_mode(e, args)?;
        }
        Ok(())
    }

    /// Checks a literal argument against what its parameter needs.
    fn literal(
        &mut self,
        func: &str,
        param: &str,
        kind: Kind,
        a: &Expr,
        args: &[Option<Expr>],
    ) -> Result<(), ParseError> {
        let span = a.span.clone();
        let text = match &a.kind {
            ExprKind::String(s) => Some(s.as_str()),
            _ => None,
        };
        match kind {
            Kind::Any => Ok(()),
            Kind::Int { min, max } => {
                let n = match &a.kind {
                    ExprKind::Number(n) => Some(*n),
                    ExprKind::String(s) => match crate::value::parse_int(s.trim()) {
                        Some(n) => Some(n),
                        None => {
                            return Err(
                                self.err(span, format!("{param} of {func} must be a whole number"))
                            );
                        }
                    },
                    ExprKind::Boolean(_) | ExprKind::Constant(_) => {
                        return Err(
                            self.err(span, format!("{param} of {func} must be a whole number"))
                        );
                    }
                    _ => None,
                };
                match n {
                    Some(n) if n < min || n > max => {
                        let range = if max == i64::MAX {
                            format!("at least {min}")
                        } else {
                            format!("from {min} to {max}")
                        };
                        Err(self.err(span, format!("{param} of {func} must be {range}, got {n}")))
                    }
                    _ => Ok(()),
                }
            }
            Kind::Interval => match text {
                Some(t) if !datetime::INTERVALS.contains(&t) => Err(self.err(
                    span,
                    format!(
                        "unknown interval \"{t}\"; use one of {}",
                        datetime::INTERVALS.join(", ")
                    ),
                )),
                _ => Ok(()),
            },
            Kind::CompareType => {
                let ok = match &a.kind {
                    ExprKind::Constant(_) => true,
                    ExprKind::Number(n) => *n == 0 || *n == 1,
                    ExprKind::String(s) => CONSTANTS.contains(&s.as_str()),
                    _ => true,
                };
                if ok {
                    Ok(())
                } else {
                    Err(self.err(span, "compareType must be vbTextCompare or vbBinaryCompare"))
                }
            }
            Kind::Regex => {
                if let Some(t) = text {
                    let re = compile_regex(t).map_err(|m| self.err(span.clone(), m))?;
                    self.regexes.insert(span.start, re);
                }
                Ok(())
            }
            Kind::RegexGroup => {
                let (Some(group), Some(Some(pattern))) = (text, args.get(2)) else {
                    return Ok(());
                };
                if let Some(re) = self.regexes.get(&pattern.span.start)
                    && !re.capture_names().flatten().any(|n| n == group)
                {
                    return Err(
                        self.err(span, format!("regexPattern has no group named \"{group}\""))
                    );
                }
                Ok(())
            }
            Kind::DateFormat => match text.map(datetime::check_format) {
                Some(Err(m)) => Err(self.err(span, m)),
                _ => Ok(()),
            },
            Kind::DateStyles => match text.map(datetime::parse_styles) {
                Some(Err(m)) => Err(self.err(span, m)),
                _ => Ok(()),
            },
            Kind::Culture => match text {
                Some(t) if !valid_culture(t) => Err(self.err(
                    span,
                    format!("\"{t}\" is not a culture name such as en-US or tr-TR"),
                )),
                _ => Ok(()),
            },
        }
    }

    /// `Replace` works in one of five modes depending on which of its positions are filled.
    fn replace_mode(&self, e: &Expr, args: &[Option<Expr>]) -> Result<(), ParseError> {
        let has = |i: usize| args.get(i).is_some_and(Option::is_some);
        let (old, pattern, group, value, attr, template) =
            (has(1), has(2), has(3), has(4), has(5), has(6));
        let valid = (old && (value || template)) || (pattern && (value || (group && attr)));
        let msg = if old && pattern {
            "Replace takes oldValue or regexPattern, not both"
        } else if valid {
            return Ok(());
        } else {
            "Replace needs oldValue with replacementValue or template, or regexPattern with \
             replacementValue, or regexPattern with regexGroupName and replacementAttributeName"
        };
        Err(self.err(e.span.clone(), msg))
    }
}

fn plural(n: usize) -> String {
    match n {
        0 => "no arguments".into(),
        1 => "1 argument".into(),
        n => format!("{n} arguments"),
    }
}

/// `ll`, `lll` or `ll-XX…` in RFC 4646 style.
fn valid_culture(t: &str) -> bool {
    let mut parts = t.split(['-', '_']);
    let lang = parts.next().unwrap_or("");
    (2..=3).contains(&lang.len())
        && lang.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}
