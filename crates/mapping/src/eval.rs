//! The evaluator: runs a checked expression on one source record.
//!
//! Decisions where Entra's reference is silent:
//!
//! * **Null in, null out** for functions that transform a whole value (`Append`, `ToLower`,
//!   `NormalizeDiacritics`, `Replace`, …), so a missing attribute stays missing and a default or
//!   `IgnoreFlowIfNullOrEmpty` can act on it. Functions that take a piece of a string (`Left`,
//!   `Mid`, `Word`) give `""`, as Entra documents for `Left` and `Word`.
//! * **Comparisons** with a null or empty side are false (Entra: "if the source attribute used
//!   within the IIF function is empty or null, the condition check fails"). Two whole numbers
//!   compare as numbers, two dates as instants, a boolean with `"True"`/`"False"` as booleans,
//!   anything else as case-sensitive text.
//! * **Laziness**: `IIF`, `Switch` and `Coalesce` evaluate only what they return, so an
//!   `Error(…)` or a `SelectUniqueValue` look-up in a branch not taken costs nothing.
//! * A multi-valued attribute handed to a function that wants one value is an error at that
//!   argument rather than a silent pick of one element.

use std::borrow::Cow;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use regex::Regex;
use scim::ParseError;
use serde_json::{Map, Value as Json};
use time::OffsetDateTime;

use crate::check::{RegexCache, compile_regex};
use crate::context::Context;
use crate::datetime;
use crate::syntax::{CmpOp, Expr, ExprKind};
use crate::text;
use crate::value::Value;

/// A source record: the attributes of one object as JSON.
pub type Record = Map<String, Json>;

/// Finds a source attribute. The exact key first (HR exports have keys such as `Cost Center`
/// or `emp.id`), then ignoring case, then as a path: `urn:…:User:employeeNumber` inside the
/// extension object, `name.givenName` inside `name`.
pub fn lookup<'a>(record: &'a Record, name: &str) -> Option<&'a Json> {
    if let Some(v) = record.get(name) {
        return Some(v);
    }
    if let Some(v) = scim::path::get_ci(record, name) {
        return Some(v);
    }
    // Bytes, not `name[..4]`: the fourth byte may fall inside a multi-byte character (found by
    // the `mapping_expr` fuzz target: `[ma$ܤr]`).
    if name.len() > 4 && name.as_bytes()[..4].eq_ignore_ascii_case(b"urn:") {
        let i = name.rfind(':')?;
        let ext = scim::path::get_ci(record, &name[..i])?.as_object()?;
        return lookup(ext, &name[i + 1..]);
    }
    let (head, rest) = name.split_once('.')?;
    let inner = scim::path::get_ci(record, head)?;
    match inner {
        Json::Object(obj) => lookup(obj, rest),
        _ => None,
    }
}

/// Why evaluation stopped before producing a value.
pub(crate) enum Stop {
    /// `IgnoreFlowIfNullOrEmpty` met null or empty: the attribute leaves the flow.
    Ignore,
    Error(ParseError),
}

type R<T = Value> = Result<T, Stop>;

pub(crate) struct Eval<'a> {
    pub input: &'a str,
    pub record: &'a Record,
    pub ctx: &'a mut dyn Context,
    pub regexes: &'a RegexCache,
    pub target: &'a str,
    pub redacted: bool,
    pub additive: bool,
}

/// The special characters `RandomString` draws from: Windows' password-complexity set.
const SPECIAL: &str = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/";

impl<'a> Eval<'a> {
    fn fail(&self, span: &Range<usize>, msg: impl Into<String>) -> Stop {
        Stop::Error(ParseError::new(self.input, span.clone(), msg))
    }

    pub fn eval(&mut self, e: &Expr) -> R {
        match &e.kind {
            ExprKind::Attribute(name) => {
                Ok(lookup(self.record, name).map_or(Value::Null, Value::from_json))
            }
            ExprKind::String(s) => Ok(Value::String(s.clone())),
            ExprKind::Number(n) => Ok(Value::Number(*n)),
            ExprKind::Boolean(b) => Ok(Value::Boolean(*b)),
            ExprKind::Constant(c) => Ok(Value::Number(i64::from(c == "vbTextCompare"))),
            ExprKind::Compare { op, lhs, rhs } => {
                let l = self.eval(lhs)?;
                let r = self.eval(rhs)?;
                self.compare(*op, &l, &r, &e.span).map(Value::Boolean)
            }
            ExprKind::Call { name, args, .. } => self.call(name, args, &e.span),
        }
    }

    fn compare(&self, op: CmpOp, l: &Value, r: &Value, span: &Range<usize>) -> R<bool> {
        if l.is_null_or_empty() || r.is_null_or_empty() {
            return Ok(false);
        }
        if matches!(l, Value::List(_) | Value::Object(_))
            || matches!(r, Value::List(_) | Value::Object(_))
        {
            return Err(self.fail(span, "cannot compare a multi-valued or complex value"));
        }
        let ord = if let (Some(a), Some(b)) = (int_of(l), int_of(r)) {
            a.cmp(&b)
        } else if matches!(l, Value::Boolean(_)) || matches!(r, Value::Boolean(_)) {
            match (l.as_bool(), r.as_bool()) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => return Ok(op == CmpOp::Ne),
            }
        } else if let (Some(a), Some(b)) = (date_of(l), date_of(r)) {
            a.cmp(&b)
        } else {
            l.to_string().cmp(&r.to_string())
        };
        use std::cmp::Ordering::*;
        Ok(match op {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
        })
    }

    fn arg(&mut self, args: &[Option<Expr>], i: usize) -> R {
        match args.get(i) {
            Some(Some(e)) => self.eval(e),
            _ => Ok(Value::Null),
        }
    }

    fn span_of<'s>(
        &self,
        args: &'s [Option<Expr>],
        i: usize,
        call: &'s Range<usize>,
    ) -> &'s Range<usize> {
        match args.get(i) {
            Some(Some(e)) => &e.span,
            _ => call,
        }
    }

    /// A single value as text; `None` for null.
    fn text(&mut self, args: &[Option<Expr>], i: usize, call: &Range<usize>) -> R<Option<String>> {
        let v = self.arg(args, i)?;
        match v {
            Value::List(_) | Value::Object(_) => Err(self.fail(
                self.span_of(args, i, call),
                format!("expected a single value, got {}", v.kind()),
            )),
            other => Ok(other.to_text()),
        }
    }

    fn int(&mut self, args: &[Option<Expr>], i: usize, call: &Range<usize>) -> R<Option<i64>> {
        let v = self.arg(args, i)?;
        if v == Value::Null {
            return Ok(None);
        }
        match v.as_i64() {
            Some(n) => Ok(Some(n)),
            None => Err(self.fail(
                self.span_of(args, i, call),
                format!("expected a whole number, got \"{v}\""),
            )),
        }
    }

    fn date(
        &mut self,
        args: &[Option<Expr>],
        i: usize,
        call: &Range<usize>,
    ) -> R<Option<OffsetDateTime>> {
        let v = self.arg(args, i)?;
        match v {
            Value::Null => Ok(None),
            Value::DateTime(d) => Ok(Some(d)),
            Value::String(ref s) => match datetime::parse_loose(s) {
                Some(d) => Ok(Some(d)),
                None => Err(self.fail(
                    self.span_of(args, i, call),
                    format!("\"{s}\" is not a date"),
                )),
            },
            other => Err(self.fail(
                self.span_of(args, i, call),
                format!("expected a date, got {}", other.kind()),
            )),
        }
    }

    /// The compiled pattern: the checker's for a literal, else compiled now. Borrowed, not
    /// cloned: a cloned `Regex` starts with an empty match cache.
    fn regex(
        &self,
        args: &[Option<Expr>],
        i: usize,
        pattern: &str,
        call: &Range<usize>,
    ) -> R<Cow<'a, Regex>> {
        let span = self.span_of(args, i, call);
        let cache: &'a RegexCache = self.regexes;
        if let Some(re) = cache.get(&span.start) {
            return Ok(Cow::Borrowed(re));
        }
        compile_regex(pattern)
            .map(Cow::Owned)
            .map_err(|m| self.fail(span, m))
    }

    fn call(&mut self, name: &str, args: &[Option<Expr>], span: &Range<usize>) -> R {
        use Value::{Boolean, DateTime, List, Null, Number, Object};
        let str_or_null = |s: Option<String>, f: &dyn Fn(String) -> String| match s {
            Some(s) => Value::String(f(s)),
            None => Null,
        };
        Ok(match name {
            "Append" => {
                let s = self.text(args, 0, span)?;
                let suffix = self.text(args, 1, span)?.unwrap_or_default();
                str_or_null(s, &|s| s + &suffix)
            }
            "AppRoleAssignments" => {
                let roles = self.arg(args, 0)?;
                List(
                    elements(roles)
                        .iter()
                        .filter_map(role_name)
                        .map(Value::String)
                        .collect(),
                )
            }
            "AppRoleAssignmentsComplex" | "AssertiveAppRoleAssignmentsComplex" => {
                self.additive |= name == "AppRoleAssignmentsComplex";
                let roles = self.arg(args, 0)?;
                List(
                    elements(roles)
                        .iter()
                        .filter_map(role_name)
                        .map(|r| {
                            let mut m = Map::new();
                            m.insert("primary".into(), Json::Bool(false));
                            m.insert("type".into(), "WindowsAzureActiveDirectoryRole".into());
                            m.insert("display".into(), r.clone().into());
                            m.insert("value".into(), r.into());
                            Object(m)
                        })
                        .collect(),
                )
            }
            "BitAnd" => match (self.int(args, 0, span)?, self.int(args, 1, span)?) {
                (Some(a), Some(b)) => Number(a & b),
                _ => Null,
            },
            "CBool" => match self.arg(args, 0)? {
                Null => Null,
                v => match v.as_bool() {
                    Some(b) => Boolean(b),
                    None => {
                        return Err(self.fail(
                            self.span_of(args, 0, span),
                            format!("cannot convert \"{v}\" to a boolean"),
                        ));
                    }
                },
            },
            "CDate" => match self.date(args, 0, span)? {
                Some(d) => DateTime(d),
                None => Null,
            },
            "Coalesce" => {
                for i in 0..args.len() {
                    let v = self.arg(args, i)?;
                    if v != Null {
                        return Ok(v);
                    }
                }
                Null
            }
            "ConvertFromBase64" => {
                let Some(s) = self.text(args, 0, span)? else {
                    return Ok(Null);
                };
                let encoding = self
                    .text(args, 1, span)?
                    .unwrap_or_else(|| "Unicode".into());
                let bytes = B64.decode(s.trim()).map_err(|e| {
                    self.fail(self.span_of(args, 0, span), format!("not base64: {e}"))
                })?;
                let decoded = if encoding.eq_ignore_ascii_case("utf8")
                    || encoding.eq_ignore_ascii_case("utf-8")
                {
                    String::from_utf8(bytes).ok()
                } else if encoding.eq_ignore_ascii_case("unicode") && bytes.len() % 2 == 0 {
                    let units: Vec<u16> = bytes
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16(&units).ok()
                } else {
                    None
                };
                match decoded {
                    Some(t) => Value::String(t),
                    None => {
                        return Err(
                            self.fail(span, format!("the decoded bytes are not {encoding} text"))
                        );
                    }
                }
            }
            "ConvertToBase64" => str_or_null(self.text(args, 0, span)?, &|s| {
                let bytes: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
                B64.encode(bytes)
            }),
            "ConvertToUTF8Hex" => str_or_null(self.text(args, 0, span)?, &|s| {
                s.bytes().map(|b| format!("{b:02X}")).collect()
            }),
            "Count" => match self.arg(args, 0)? {
                Null => Number(0),
                List(items) => Number(items.len() as i64),
                _ => Number(1),
            },
            "CStr" => match self.arg(args, 0)? {
                Null => Null,
                v => Value::String(v.to_string()),
            },
            "DateAdd" => {
                let interval = self.text(args, 0, span)?;
                let n = self.int(args, 1, span)?;
                let d = self.date(args, 2, span)?;
                match (interval, n, d) {
                    (Some(i), Some(n), Some(d)) => match datetime::add(&i, n, d) {
                        Some(d) => DateTime(d),
                        None if datetime::INTERVALS.contains(&i.as_str()) => {
                            return Err(self.fail(span, "the date is out of range"));
                        }
                        None => {
                            return Err(self.fail(
                                self.span_of(args, 0, span),
                                format!("unknown interval \"{i}\""),
                            ));
                        }
                    },
                    _ => Null,
                }
            }
            "DateDiff" => {
                let interval = self.text(args, 0, span)?;
                let a = self.date(args, 1, span)?;
                let b = self.date(args, 2, span)?;
                match (interval, a, b) {
                    (Some(i), Some(a), Some(b)) => match datetime::diff(&i, a, b) {
                        Some(n) => Number(n),
                        None => {
                            return Err(self.fail(
                                self.span_of(args, 0, span),
                                format!("unknown interval \"{i}\""),
                            ));
                        }
                    },
                    _ => Null,
                }
            }
            "DateFromNum" => match self.int(args, 0, span)? {
                None | Some(0) | Some(i64::MAX) => Null,
                Some(n) => match datetime::from_filetime(n) {
                    Some(d) => DateTime(d),
                    None => return Err(self.fail(span, "the date is out of range")),
                },
            },
            "DefaultDomain" => match self.ctx.default_domain() {
                Some(d) => Value::String(d.to_owned()),
                None => {
                    return Err(self.fail(
                        span,
                        "DefaultDomain() needs default_domain set in the job file",
                    ));
                }
            },
            "DNComponent" => {
                let dn = self.text(args, 0, span)?;
                let n = self.int(args, 1, span)?;
                match (dn, n) {
                    (Some(dn), Some(n)) if n >= 1 => Value::String(dn_component(&dn, n as usize)),
                    (Some(_), Some(_)) => Value::String(String::new()),
                    _ => Null,
                }
            }
            "Error" => {
                let msg = self.text(args, 0, span)?.unwrap_or_default();
                return Err(self.fail(span, msg));
            }
            "FormatDateTime" => self.format_date_time(args, span)?,
            "Guid" => {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&self.ctx.random_u64().to_le_bytes());
                bytes[8..].copy_from_slice(&self.ctx.random_u64().to_le_bytes());
                bytes[6] = (bytes[6] & 0x0f) | 0x40;
                bytes[8] = (bytes[8] & 0x3f) | 0x80;
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                Value::String(format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                ))
            }
            "IgnoreFlowIfNullOrEmpty" => {
                let v = self.arg(args, 0)?;
                if v.is_null_or_empty() {
                    return Err(Stop::Ignore);
                }
                v
            }
            "IIF" => {
                let c = self.arg(args, 0)?;
                let truth = match c {
                    Null => false,
                    ref v => match v.as_bool() {
                        Some(b) => b,
                        None if v.is_null_or_empty() => false,
                        None => {
                            return Err(self.fail(
                                self.span_of(args, 0, span),
                                format!("IIF's condition is \"{v}\", not true or false"),
                            ));
                        }
                    },
                };
                self.arg(args, if truth { 1 } else { 2 })?
            }
            "InStr" => self.instr(args, span)?,
            "IsNull" => Boolean(self.arg(args, 0)? == Null),
            "IsNullOrEmpty" => Boolean(self.arg(args, 0)?.is_null_or_empty()),
            "IsPresent" => Boolean(!self.arg(args, 0)?.is_null_or_empty()),
            "IsString" => Boolean(matches!(self.arg(args, 0)?, Value::String(_))),
            "Item" => {
                let v = self.arg(args, 0)?;
                let i = self.int(args, 1, span)?;
                match (v, i) {
                    (List(items), Some(i)) if i >= 1 => {
                        items.into_iter().nth((i - 1) as usize).unwrap_or(Null)
                    }
                    (List(_), _) | (Null, _) | (_, None) => Null,
                    (single, Some(1)) => single,
                    _ => Null,
                }
            }
            "Join" => {
                let sep = self.text(args, 0, span)?.unwrap_or_default();
                let mut parts = Vec::new();
                for i in 1..args.len() {
                    for v in elements(self.arg(args, i)?) {
                        if !v.is_null_or_empty() {
                            parts.push(v.to_string());
                        }
                    }
                }
                Value::String(parts.join(&sep))
            }
            "Left" => {
                let s = self.text(args, 0, span)?.unwrap_or_default();
                let n = self.int(args, 1, span)?.unwrap_or(0);
                Value::String(if n < 0 {
                    s
                } else {
                    s.chars().take(n as usize).collect()
                })
            }
            "Mid" => {
                let s = self.text(args, 0, span)?.unwrap_or_default();
                let start = self.int(args, 1, span)?.unwrap_or(1).max(1);
                let len = self.int(args, 2, span)?.unwrap_or(0).max(0);
                Value::String(
                    s.chars()
                        .skip((start - 1) as usize)
                        .take(len as usize)
                        .collect(),
                )
            }
            "NormalizeDiacritics" => str_or_null(self.text(args, 0, span)?, &|s| {
                text::normalize_diacritics(&s)
            }),
            "Not" => Boolean(self.arg(args, 0)?.as_bool() != Some(true)),
            "Now" => DateTime(self.ctx.now()),
            "NumFromDate" => match self.date(args, 0, span)? {
                None => Null,
                Some(d) => match datetime::to_filetime(d) {
                    Some(n) => Number(n),
                    None => return Err(self.fail(span, "the date is out of range")),
                },
            },
            "PCase" => {
                let s = self.text(args, 0, span)?;
                let seps = self.text(args, 1, span)?;
                str_or_null(s, &|s| text::pcase(&s, seps.as_deref()))
            }
            "RandomString" => self.random_string(args, span)?,
            "Redact" => {
                self.redacted = true;
                self.arg(args, 0)?
            }
            "RemoveDuplicates" => match self.arg(args, 0)? {
                List(items) => {
                    let mut out: Vec<Value> = Vec::with_capacity(items.len());
                    for v in items {
                        if !out.contains(&v) {
                            out.push(v);
                        }
                    }
                    List(out)
                }
                other => other,
            },
            "Replace" => self.replace(args, span)?,
            "SelectUniqueValue" => {
                let mut tried = Vec::new();
                for i in 0..args.len() {
                    let v = self.arg(args, i)?;
                    if v.is_null_or_empty() {
                        continue;
                    }
                    let candidate = v.to_string();
                    if self.ctx.is_unique(self.target, &candidate) {
                        return Ok(v);
                    }
                    tried.push(candidate);
                }
                return Err(self.fail(
                    span,
                    format!(
                        "SelectUniqueValue found no free value; taken in the target: {}",
                        tried.join(", ")
                    ),
                ));
            }
            "SingleAppRoleAssignment" => elements(self.arg(args, 0)?)
                .first()
                .and_then(role_name)
                .map_or(Null, Value::String),
            "Split" => {
                let s = self.text(args, 0, span)?;
                let d = self.text(args, 1, span)?.unwrap_or_default();
                match s {
                    None => Null,
                    Some(s) if d.is_empty() => List(vec![Value::String(s)]),
                    Some(s) => List(
                        s.split(d.as_str())
                            .map(|p| Value::String(p.trim().to_owned()))
                            .collect(),
                    ),
                }
            }
            "StringFromSID" => {
                let Some(s) = self.text(args, 0, span)? else {
                    return Ok(Null);
                };
                match B64.decode(s.trim()).ok().and_then(|b| sid_string(&b)) {
                    Some(sid) => Value::String(sid),
                    None => {
                        return Err(self.fail(
                            self.span_of(args, 0, span),
                            "not a base64 security identifier",
                        ));
                    }
                }
            }
            "StripSpaces" => str_or_null(self.text(args, 0, span)?, &|s| s.replace(' ', "")),
            "Switch" => {
                let source = self.text(args, 0, span)?.unwrap_or_default();
                let mut i = 2;
                while i + 1 < args.len() {
                    let key = self.text(args, i, span)?.unwrap_or_default();
                    if key == source {
                        return self.arg(args, i + 1);
                    }
                    i += 2;
                }
                self.arg(args, 1)?
            }
            "ToLower" | "ToUpper" => {
                let s = self.text(args, 0, span)?;
                let culture = self.text(args, 1, span)?;
                let lower = name == "ToLower";
                str_or_null(s, &|s| {
                    if lower {
                        text::to_lower(&s, culture.as_deref())
                    } else {
                        text::to_upper(&s, culture.as_deref())
                    }
                })
            }
            "Trim" => str_or_null(self.text(args, 0, span)?, &|s| s.trim().to_owned()),
            "Word" => {
                let s = self.text(args, 0, span)?.unwrap_or_default();
                let n = self.int(args, 1, span)?.unwrap_or(0);
                let delims = self.text(args, 2, span)?.unwrap_or_default();
                Value::String(if n < 1 {
                    String::new()
                } else {
                    s.split(|c| delims.contains(c))
                        .filter(|w| !w.is_empty())
                        .nth((n - 1) as usize)
                        .unwrap_or("")
                        .to_owned()
                })
            }
            other => return Err(self.fail(span, format!("unknown function {other}"))),
        })
    }

    fn format_date_time(&mut self, args: &[Option<Expr>], span: &Range<usize>) -> R {
        let source = self.arg(args, 0)?;
        let styles = self.text(args, 1, span)?.unwrap_or_default();
        let in_fmt = self.text(args, 2, span)?.unwrap_or_default();
        let out_fmt = self.text(args, 3, span)?.unwrap_or_default();
        let styles = datetime::parse_styles(&styles)
            .map_err(|m| self.fail(self.span_of(args, 1, span), m))?;
        let out = match source {
            Value::Null => return Ok(Value::Null),
            Value::DateTime(d) => datetime::format_utc(d, &out_fmt),
            Value::List(_) | Value::Object(_) => {
                return Err(self.fail(
                    self.span_of(args, 0, span),
                    format!("expected a single value, got {}", source.kind()),
                ));
            }
            other => {
                let text = other.to_string();
                let parsed = datetime::parse_exact(&text, &in_fmt, styles)
                    .map_err(|m| self.fail(self.span_of(args, 0, span), m))?;
                datetime::format(parsed, &out_fmt)
            }
        };
        out.map(Value::String)
            .map_err(|m| self.fail(self.span_of(args, 3, span), m))
    }

    fn instr(&mut self, args: &[Option<Expr>], span: &Range<usize>) -> R {
        let hay = self.text(args, 0, span)?;
        let needle = self.text(args, 1, span)?;
        let start = self.int(args, 2, span)?.unwrap_or(1);
        let text_compare = match self.arg(args, 3)? {
            Value::String(s) => s == "vbTextCompare",
            v => v.as_i64() == Some(1),
        };
        let (Some(hay), Some(needle)) = (hay, needle) else {
            return Ok(Value::Null);
        };
        if start < 1 {
            return Err(self.fail(self.span_of(args, 2, span), "start must be 1 or more"));
        }
        let fold = |s: &str| -> Vec<char> {
            if text_compare {
                text::to_lower(s, None).chars().collect()
            } else {
                s.chars().collect()
            }
        };
        let (h, n) = (fold(&hay), fold(&needle));
        let from = (start - 1) as usize;
        if from > h.len() {
            return Ok(Value::Number(0));
        }
        if n.is_empty() {
            return Ok(Value::Number(start));
        }
        let pos = h[from..]
            .windows(n.len())
            .position(|w| w == n.as_slice())
            .map_or(0, |p| (p + from + 1) as i64);
        Ok(Value::Number(pos))
    }

    fn random_string(&mut self, args: &[Option<Expr>], span: &Range<usize>) -> R {
        let mut nums = [0i64; 5];
        for (i, slot) in nums.iter_mut().enumerate() {
            *slot = self.int(args, i, span)?.unwrap_or(0);
        }
        let avoid = self.text(args, 5, span)?.unwrap_or_default();
        let [len, min_num, min_special, min_cap, min_lower] = nums;
        if !(1..=256).contains(&len) || nums[1..].iter().any(|n| *n < 0) {
            return Err(self.fail(span, "length must be 1 to 256 and minimums not negative"));
        }
        if min_num + min_special + min_cap + min_lower > len {
            return Err(self.fail(span, "the minimums add up to more than the length"));
        }
        let class =
            |set: &str| -> Vec<char> { set.chars().filter(|c| !avoid.contains(*c)).collect() };
        let classes = [
            (class("0123456789"), min_num),
            (class(SPECIAL), min_special),
            (class("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), min_cap),
            (class("abcdefghijklmnopqrstuvwxyz"), min_lower),
        ];
        let asked = classes.iter().any(|(_, m)| *m > 0);
        let mut pool = Vec::new();
        let mut out = Vec::with_capacity(len as usize);
        for (set, min) in &classes {
            if *min > 0 && set.is_empty() {
                return Err(self.fail(span, "charactersToAvoid removes a whole required class"));
            }
            for _ in 0..*min {
                out.push(set[(self.ctx.random_u64() % set.len() as u64) as usize]);
            }
            if !asked || *min > 0 {
                pool.extend_from_slice(set);
            }
        }
        if pool.is_empty() {
            return Err(self.fail(span, "charactersToAvoid leaves no characters to use"));
        }
        while out.len() < len as usize {
            out.push(pool[(self.ctx.random_u64() % pool.len() as u64) as usize]);
        }
        for i in (1..out.len()).rev() {
            let j = (self.ctx.random_u64() % (i as u64 + 1)) as usize;
            out.swap(i, j);
        }
        Ok(Value::String(out.into_iter().collect()))
    }

    fn replace(&mut self, args: &[Option<Expr>], span: &Range<usize>) -> R {
        let has = |i: usize| args.get(i).is_some_and(Option::is_some);
        let source = self.text(args, 0, span)?;
        if has(1) {
            let old = self.text(args, 1, span)?.unwrap_or_default();
            if has(6) {
                let template = self.text(args, 6, span)?.unwrap_or_default();
                let Some(source) = source else {
                    return Ok(Value::Null);
                };
                return Ok(Value::String(if old.is_empty() {
                    template
                } else {
                    template.replace(&old, &source)
                }));
            }
            let new = self.text(args, 4, span)?.unwrap_or_default();
            return Ok(match source {
                None => Value::Null,
                Some(s) if old.is_empty() => Value::String(s),
                Some(s) => Value::String(s.replace(&old, &new)),
            });
        }
        let pattern = self.text(args, 2, span)?.unwrap_or_default();
        let re = self.regex(args, 2, &pattern, span)?;
        let group = self.text(args, 3, span)?;
        if let Some(group) = &group
            && has(5)
        {
            if let Some(s) = source.filter(|s| !s.is_empty()) {
                return Ok(Value::String(s));
            }
            let Some(other) = self.text(args, 5, span)? else {
                return Ok(Value::Null);
            };
            return Ok(re
                .captures(&other)
                .and_then(|c| c.name(group).map(|m| Value::String(m.as_str().to_owned())))
                .unwrap_or(Value::Null));
        }
        let new = self.text(args, 4, span)?.unwrap_or_default();
        let Some(s) = source else {
            return Ok(Value::Null);
        };
        match group {
            None => Ok(Value::String(re.replace_all(&s, new.as_str()).into_owned())),
            Some(group) => {
                let mut out = String::with_capacity(s.len());
                let mut last = 0;
                for caps in re.captures_iter(&s) {
                    if let Some(m) = caps.name(&group)
                        && m.start() >= last
                    {
                        out.push_str(&s[last..m.start()]);
                        out.push_str(&new);
                        last = m.end();
                    }
                }
                out.push_str(&s[last..]);
                Ok(Value::String(out))
            }
        }
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn date_of(v: &Value) -> Option<OffsetDateTime> {
    match v {
        Value::DateTime(d) => Some(*d),
        Value::String(s) => datetime::parse_loose(s),
        _ => None,
    }
}

/// The elements of a multi-valued value; a single value is a list of one, null of none.
fn elements(v: Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::List(items) => items,
        other => vec![other],
    }
}

/// The name of an app role assignment: the text itself, or the `value`, `displayName` or
/// `display` of an object.
fn role_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(m) => ["value", "displayName", "display", "appRoleValue"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Json::as_str))
            .map(str::to_owned),
        _ => None,
    }
}

/// The value of the n-th (1-based) RDN of a DN, honouring `\,` escapes.
fn dn_component(dn: &str, n: usize) -> String {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
            }
            ',' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .get(n - 1)
        .map(|rdn| {
            rdn.split_once('=')
                .map_or(rdn.as_str(), |(_, v)| v)
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// Renders a binary SID (revision, count, 48-bit authority, little-endian sub-authorities).
fn sid_string(b: &[u8]) -> Option<String> {
    let count = usize::from(*b.get(1)?);
    if b.len() != 8 + 4 * count || b[0] != 1 {
        return None;
    }
    let authority = b[2..8]
        .iter()
        .fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let mut s = format!("S-{}-{}", b[0], authority);
    for chunk in b[8..].chunks_exact(4) {
        let sub = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        s.push_str(&format!("-{sub}"));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_finds_flat_nested_and_urn_names() {
        let rec = json!({
            "Cost Center": "CC1",
            "name": {"givenName": "Ann"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}
        });
        let rec = rec.as_object().unwrap();
        assert_eq!(lookup(rec, "Cost Center"), Some(&json!("CC1")));
        assert_eq!(lookup(rec, "cost center"), Some(&json!("CC1")));
        assert_eq!(lookup(rec, "name.givenName"), Some(&json!("Ann")));
        assert_eq!(
            lookup(
                rec,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
            ),
            Some(&json!("7"))
        );
        assert_eq!(lookup(rec, "name.familyName"), None);
        // A multi-byte character across the fourth byte (the `mapping_expr` fuzz finding kept
        // in fuzz/regressions/mapping_expr/).
        assert_eq!(lookup(rec, "ma$\u{724}r"), None);
        assert_eq!(lookup(rec, "urn\u{e9}:x"), None);
    }

    #[test]
    fn dn_and_sid_helpers() {
        assert_eq!(dn_component(r"CN=Doe\, John,OU=Sales,DC=x", 1), "Doe, John");
        assert_eq!(dn_component("CN=a", 3), "");
        assert_eq!(
            sid_string(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]).unwrap(),
            "S-1-5-18"
        );
        assert_eq!(sid_string(&[1, 2, 0]), None);
    }
}
