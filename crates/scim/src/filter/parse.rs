//! The filter and PATCH-path parser: RFC 7644 §3.4.2.2 (figure 1) and §3.5.2.
//!
//! A hand-written recursive descent over a lazy lexer, so that every error knows the exact span
//! it is about and can say what was expected there. Precedence is `not` > `and` > `or`, both
//! binary operators associate to the left (`a and b and c` is `(a and b) and c`), and brackets
//! leave no trace in the tree: [`Filter`]'s `Display` puts back exactly the brackets the tree
//! needs.
//!
//! Leniencies, each harmless to a strict client: any run of ASCII whitespace where the RFC says
//! one space, none needed next to brackets and quotes (`not(a pr)`), keywords and operators in
//! any case. `not` must be followed by a bracket, as the grammar says; a word `not` that is
//! followed by an operator or `[` is an attribute named "not", which ATTRNAME allows.
//! Following RFC 7644 errata 4690 and 7322, a value filter (`emails[...]`) holds sub-attribute
//! comparisons combined with `and`, `or`, `not` and brackets, but no nested value path.

use std::ops::Range;

use serde_json::Number;

use super::{CompValue, CompareOp, Filter};
use crate::error::{Error, ParseError};
use crate::path::{AttrPath, PatchPath, check_attr_name};

/// Longest filter accepted by default, in bytes.
pub const MAX_FILTER_LEN: usize = 8192;
/// Deepest nesting accepted by default; each `(`, `not (` and value path `[` is one level. It
/// keeps the recursive parser, evaluator and renderer far from the end of any thread's stack.
pub const MAX_FILTER_DEPTH: usize = 32;

/// Bounds on a filter's text, which a server takes from its settings. They apply to PATCH paths
/// too, since a path's value filter is a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest filter or PATCH path, in bytes.
    pub max_len: usize,
    /// Deepest nesting of brackets, `not` and value paths.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_len: MAX_FILTER_LEN,
            max_depth: MAX_FILTER_DEPTH,
        }
    }
}

impl Filter {
    /// Parses a filter (the `filter` query parameter or a SearchRequest's `filter`) within the
    /// default [`Limits`].
    pub fn parse(input: &str) -> Result<Filter, Error> {
        Filter::parse_with(input, &Limits::default())
    }

    /// [`Filter::parse`] within explicit limits.
    pub fn parse_with(input: &str, limits: &Limits) -> Result<Filter, Error> {
        if input.len() > limits.max_len {
            return Err(Error::InvalidFilter(format!(
                "the filter is {} bytes long; the limit is {}",
                input.len(),
                limits.max_len
            )));
        }
        let mut p = Parser::new(input, limits.max_depth);
        let parsed = p.or_expr(Ctx::Top).and_then(|f| {
            p.expect_end("expected 'and', 'or' or end of input after the expression")?;
            Ok(f)
        });
        parsed.map_err(Error::FilterSyntax)
    }
}

/// Parses a PATCH path: `attrPath` or `valuePath ["." subAttr]` (RFC 7644 §3.5.2), within the
/// default [`Limits`].
pub fn parse_patch_path(input: &str) -> Result<PatchPath, Error> {
    parse_patch_path_with(input, &Limits::default())
}

/// [`parse_patch_path`] within explicit limits.
pub fn parse_patch_path_with(input: &str, limits: &Limits) -> Result<PatchPath, Error> {
    if input.len() > limits.max_len {
        return Err(Error::InvalidPath(format!(
            "the path is {} bytes long; the limit is {}",
            input.len(),
            limits.max_len
        )));
    }
    Parser::new(input, limits.max_depth)
        .patch_path()
        .map_err(Error::PathSyntax)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    /// An attribute path or a keyword: starts with a letter or `$`.
    Word(&'a str),
    /// A JSON string, already unescaped.
    Str(String),
    /// The text of something that starts like a number; validated where a value is expected.
    Number(&'a str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    End,
}

#[derive(Debug, Clone)]
struct Token<'a> {
    tok: Tok<'a>,
    span: Range<usize>,
}

/// Whether an expression sits inside a value filter, where paths name sub-attributes and value
/// paths cannot nest (brackets inside it keep the context).
#[derive(Debug, Clone, Copy)]
enum Ctx<'a> {
    Top,
    /// Inside `attr[ … ]`; the attribute's text.
    Bracket(&'a str),
}

const OPERATORS: &str = "a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) or 'pr'";

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    depth: usize,
    max_depth: usize,
    /// Tokens lexed ahead of the parser (at most two: `not` needs to see what follows it).
    ahead: Vec<Token<'a>>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, max_depth: usize) -> Parser<'a> {
        Parser {
            input,
            pos: 0,
            depth: 0,
            max_depth,
            ahead: Vec::with_capacity(2),
        }
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ParseError {
        ParseError::new(self.input, span, message)
    }

    fn column(&self, at: usize) -> usize {
        self.input[..at].chars().count() + 1
    }

    // ---- lexer ----

    fn peek_at(&mut self, n: usize) -> Result<&Token<'a>, ParseError> {
        while self.ahead.len() <= n {
            let t = self.lex()?;
            self.ahead.push(t);
        }
        Ok(&self.ahead[n])
    }

    fn peek(&mut self) -> Result<&Token<'a>, ParseError> {
        self.peek_at(0)
    }

    fn next(&mut self) -> Result<Token<'a>, ParseError> {
        self.peek_at(0)?;
        Ok(self.ahead.remove(0))
    }

    fn lex(&mut self) -> Result<Token<'a>, ParseError> {
        let bytes = self.input.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(c) = self.input[start..].chars().next() else {
            return Ok(Token {
                tok: Tok::End,
                span: start..start,
            });
        };
        let punct = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '.' => Some(Tok::Dot),
            _ => None,
        };
        if let Some(tok) = punct {
            self.pos += 1;
            return Ok(Token {
                tok,
                span: start..start + 1,
            });
        }
        if c == '"' {
            let s = self.lex_string()?;
            return Ok(Token {
                tok: Tok::Str(s),
                span: start..self.pos,
            });
        }
        let run = |pos: usize, ok: fn(u8) -> bool| {
            pos + bytes[pos..].iter().take_while(|&&b| ok(b)).count()
        };
        if c == '-' || c.is_ascii_digit() {
            self.pos = run(start + 1, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')
            });
            return Ok(Token {
                tok: Tok::Number(&self.input[start..self.pos]),
                span: start..self.pos,
            });
        }
        if c.is_ascii_alphabetic() || c == '$' {
            self.pos = run(start + 1, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.' | b'$')
            });
            return Ok(Token {
                tok: Tok::Word(&self.input[start..self.pos]),
                span: start..self.pos,
            });
        }
        Err(self.error(
            start..start + c.len_utf8(),
            format!("unexpected character {c:?}"),
        ))
    }

    /// A JSON string (RFC 8259 §7), the opening quote at `self.pos`.
    fn lex_string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.input[self.pos..].chars().next() else {
                return Err(self.error(
                    start..self.input.len(),
                    "unterminated string: expected a closing '\"'",
                ));
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.lex_escape(at)?),
                c if (c as u32) < 0x20 => {
                    return Err(self.error(
                        at..self.pos,
                        format!(
                            "control character U+{:04X} in string; write it as an escape such as \\n or \\u{:04x}",
                            c as u32, c as u32
                        ),
                    ));
                }
                c => out.push(c),
            }
        }
    }

    /// The character an escape stands for; the backslash is at `at`, `self.pos` just after it.
    fn lex_escape(&mut self, at: usize) -> Result<char, ParseError> {
        let Some(c) = self.input[self.pos..].chars().next() else {
            return Err(self.error(
                at..self.input.len(),
                "unterminated string: expected a closing '\"'",
            ));
        };
        self.pos += c.len_utf8();
        Ok(match c {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = self.lex_hex4(at)?;
                if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.error(at..self.pos, "unpaired low surrogate in \\u escape"));
                }
                if (0xD800..0xDC00).contains(&hi) {
                    let low_at = self.pos;
                    if !self.input[self.pos..].starts_with("\\u") {
                        return Err(self.error(
                            at..self.pos,
                            "unpaired high surrogate in \\u escape: expected a \\uDC00-\\uDFFF escape after it",
                        ));
                    }
                    self.pos += 2;
                    let lo = self.lex_hex4(low_at)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.error(
                            at..self.pos,
                            "unpaired high surrogate in \\u escape: expected a \\uDC00-\\uDFFF escape after it",
                        ));
                    }
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                } else {
                    char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
            }
            other => {
                return Err(self.error(
                    at..self.pos,
                    format!(
                        "invalid escape '\\{other}' in string; expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"
                    ),
                ));
            }
        })
    }

    fn lex_hex4(&mut self, at: usize) -> Result<u32, ParseError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self.input[self.pos..]
                .chars()
                .next()
                .and_then(|c| c.to_digit(16).map(|d| (c, d)));
            match digit {
                Some((c, d)) => {
                    code = code * 16 + d;
                    self.pos += c.len_utf8();
                }
                None => {
                    let end = self.input[self.pos..]
                        .chars()
                        .next()
                        .map_or(self.pos, |c| self.pos + c.len_utf8());
                    return Err(self.error(at..end, "expected 4 hex digits after '\\u'"));
                }
            }
        }
        Ok(code)
    }

    // ---- parser ----

    /// How an error message names a token it found.
    fn found(&self, t: &Token<'_>) -> String {
        if t.tok == Tok::End {
            return "end of input".to_owned();
        }
        let text = &self.input[t.span.clone()];
        if text.chars().count() > 40 {
            let cut: String = text.chars().take(37).collect();
            format!("'{cut}...'")
        } else {
            format!("'{text}'")
        }
    }

    fn unexpected(&self, t: &Token<'_>, expected: &str) -> ParseError {
        self.error(
            t.span.clone(),
            format!("{expected}, found {}", self.found(t)),
        )
    }

    fn expect_end(&mut self, expected: &str) -> Result<(), ParseError> {
        let t = self.next()?;
        if t.tok == Tok::End {
            Ok(())
        } else {
            Err(self.unexpected(&t, expected))
        }
    }

    fn enter(&mut self, span: Range<usize>) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(self.error(
                span,
                format!(
                    "the filter nests deeper than {} levels of brackets, 'not' and value paths",
                    self.max_depth
                ),
            ));
        }
        Ok(())
    }

    fn is_keyword(&mut self, keyword: &str) -> Result<bool, ParseError> {
        Ok(matches!(self.peek()?.tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword)))
    }

    fn or_expr(&mut self, ctx: Ctx<'a>) -> Result<Filter, ParseError> {
        let mut left = self.and_expr(ctx)?;
        while self.is_keyword("or")? {
            self.next()?;
            let right = self.and_expr(ctx)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, ctx: Ctx<'a>) -> Result<Filter, ParseError> {
        let mut left = self.unary(ctx)?;
        while self.is_keyword("and")? {
            self.next()?;
            let right = self.unary(ctx)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, ctx: Ctx<'a>) -> Result<Filter, ParseError> {
        let t = self.next()?;
        match t.tok {
            Tok::LParen => {
                self.enter(t.span.clone())?;
                let inner = self.or_expr(ctx)?;
                self.close_paren(t.span.start)?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") && self.not_is_keyword()? => {
                let open = self.next()?;
                if open.tok != Tok::LParen {
                    return Err(self.unexpected(&open, "expected '(' after 'not'"));
                }
                self.enter(t.span.start..open.span.end)?;
                let inner = self.or_expr(ctx)?;
                self.close_paren(open.span.start)?;
                self.depth -= 1;
                Ok(Filter::Not(Box::new(inner)))
            }
            Tok::Word(w) => self.attr_expr(w, t.span, ctx),
            _ => {
                let expected = match ctx {
                    Ctx::Bracket(attr) => {
                        format!("expected a sub-attribute of '{attr}', '(' or 'not'")
                    }
                    _ => "expected an attribute path, '(' or 'not'".to_owned(),
                };
                Err(self.unexpected(&t, &expected))
            }
        }
    }

    /// Whether the `not` just read negates, rather than naming an attribute "not": it does
    /// unless an operator or `[` follows it.
    fn not_is_keyword(&mut self) -> Result<bool, ParseError> {
        Ok(match self.peek()?.tok {
            Tok::LBracket => false,
            Tok::Word(w) => !(w.eq_ignore_ascii_case("pr") || compare_op(w).is_some()),
            _ => true,
        })
    }

    fn close_paren(&mut self, open: usize) -> Result<(), ParseError> {
        let t = self.next()?;
        if t.tok == Tok::RParen {
            return Ok(());
        }
        let expected = format!(
            "expected 'and', 'or' or ')' to close the '(' at column {}",
            self.column(open)
        );
        Err(self.unexpected(&t, &expected))
    }

    fn close_bracket(&mut self, attr: &str, open: usize) -> Result<(), ParseError> {
        let t = self.next()?;
        if t.tok == Tok::RBracket {
            return Ok(());
        }
        let expected = format!(
            "expected 'and', 'or' or ']' to close the '[' of '{attr}' at column {}",
            self.column(open)
        );
        Err(self.unexpected(&t, &expected))
    }

    /// An attribute path from a word, with errors pointing into the whole input.
    fn attr_path(&self, word: &str, span: &Range<usize>) -> Result<AttrPath, ParseError> {
        AttrPath::parse(word).map_err(|e| self.reanchor(e, span.start))
    }

    /// Moves an error about a piece of the input (a word) to the same place in the whole input.
    fn reanchor(&self, e: Error, at: usize) -> ParseError {
        match e {
            Error::PathSyntax(pe) | Error::FilterSyntax(pe) => {
                self.error(pe.span.start + at..pe.span.end + at, pe.message)
            }
            other => self.error(at..at, other.to_string()),
        }
    }

    fn attr_expr(
        &mut self,
        word: &'a str,
        span: Range<usize>,
        ctx: Ctx<'a>,
    ) -> Result<Filter, ParseError> {
        let path = self.attr_path(word, &span)?;
        if let Ctx::Bracket(attr) = ctx
            && (path.urn.is_some() || path.sub.is_some())
        {
            return Err(self.error(
                span,
                format!("expected a sub-attribute name of '{attr}' inside '[...]', found '{word}'"),
            ));
        }
        if self.peek()?.tok != Tok::LBracket {
            return self.comparison(path, word);
        }
        let open = self.next()?;
        if let Ctx::Bracket(outer) = ctx {
            return Err(self.error(
                open.span,
                format!("value paths cannot be nested: '[' after '{word}' inside '{outer}[...]'"),
            ));
        }
        if path.sub.is_some() {
            return Err(self.error(
                open.span,
                format!(
                    "a value path needs a multi-valued attribute without sub-attribute before '[', found '{word}'"
                ),
            ));
        }
        self.enter(open.span.clone())?;
        let inner = self.or_expr(Ctx::Bracket(word))?;
        self.close_bracket(word, open.span.start)?;
        self.depth -= 1;
        if self.peek()?.tok != Tok::Dot {
            return Ok(Filter::ValuePath {
                attr: path,
                filter: Box::new(inner),
            });
        }
        // `attr[filter].sub op value` means one element satisfies both, which is the same as
        // `attr[filter and sub op value]`: hold it in that one shape.
        self.next()?;
        let (sub, sub_span) = self.sub_attr_name(word)?;
        let label = &self.input[span.start..sub_span.end];
        let compare = self.comparison(AttrPath::name(sub), label)?;
        Ok(Filter::ValuePath {
            attr: path,
            filter: Box::new(Filter::And(Box::new(inner), Box::new(compare))),
        })
    }

    /// The sub-attribute name after `].`.
    fn sub_attr_name(&mut self, attr: &str) -> Result<(&'a str, Range<usize>), ParseError> {
        let t = self.next()?;
        let expected = format!("expected a sub-attribute name of '{attr}' after '].'");
        let Tok::Word(name) = t.tok else {
            return Err(self.unexpected(&t, &expected));
        };
        check_attr_name(name, name, 0).map_err(|e| self.reanchor(e, t.span.start))?;
        Ok((name, t.span))
    }

    /// `pr` or `compareOp compValue` after the path `label`.
    fn comparison(&mut self, path: AttrPath, label: &str) -> Result<Filter, ParseError> {
        let t = self.next()?;
        let op = match t.tok {
            Tok::Word(w) if w.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Tok::Word(w) => compare_op(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.unexpected(&t, &format!("expected {OPERATORS} after '{label}'")));
        };
        let op_text = &self.input[t.span.clone()];
        let value = self.comp_value(op_text)?;
        Ok(Filter::Compare { path, op, value })
    }

    fn comp_value(&mut self, op: &str) -> Result<CompValue, ParseError> {
        let t = self.next()?;
        let expected = || {
            format!(
                "expected a value after '{op}' (a string in double quotes, a number, true, false or null)"
            )
        };
        match t.tok {
            Tok::Str(s) => Ok(CompValue::String(s)),
            Tok::Number(text) => parse_number(text)
                .map(CompValue::Number)
                .map_err(|why| self.error(t.span, why)),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Ok(CompValue::Bool(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Ok(CompValue::Bool(false)),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Ok(CompValue::Null),
            _ => Err(self.unexpected(&t, &expected())),
        }
    }

    fn patch_path(&mut self) -> Result<PatchPath, ParseError> {
        let t = self.next()?;
        let Tok::Word(word) = t.tok else {
            return Err(self.unexpected(&t, "expected an attribute path"));
        };
        let mut attr = self.attr_path(word, &t.span)?;
        let open = self.next()?;
        match open.tok {
            Tok::End => return Ok(PatchPath { attr, filter: None }),
            Tok::LBracket if attr.sub.is_none() => {}
            Tok::LBracket => {
                return Err(self.error(
                    open.span,
                    format!(
                        "a value path needs a multi-valued attribute without sub-attribute before '[', found '{word}'"
                    ),
                ));
            }
            _ => {
                return Err(self.unexpected(
                    &open,
                    &format!("expected '[' or end of path after '{word}'"),
                ));
            }
        }
        self.enter(open.span.clone())?;
        let filter = self.or_expr(Ctx::Bracket(word))?;
        self.close_bracket(word, open.span.start)?;
        self.depth -= 1;
        if self.peek()?.tok == Tok::Dot {
            self.next()?;
            let (sub, _) = self.sub_attr_name(word)?;
            attr.sub = Some(sub.to_owned());
        }
        self.expect_end("expected '.' and a sub-attribute name, or end of path, after ']'")?;
        Ok(PatchPath {
            attr,
            filter: Some(filter),
        })
    }
}

fn compare_op(word: &str) -> Option<CompareOp> {
    const OPS: [(&str, CompareOp); 9] = [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ];
    OPS.iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|&(_, op)| op)
}

/// A JSON number (RFC 8259 §6): `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn parse_number(text: &str) -> Result<Number, String> {
    let invalid =
        || format!("invalid number '{text}'; expected a JSON number such as 42, -1.5 or 1e3");
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - from
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return Err(invalid());
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return Err(invalid());
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return Err(invalid());
        }
    }
    if i != b.len() {
        return Err(invalid());
    }
    // Rust's own parsers round correctly; serde_json's float parsing without its
    // `float_roundtrip` feature may be one ULP off, which would break `parse(display(f)) == f`.
    let integer = !text.contains(['.', 'e', 'E']);
    let number = if integer && let Ok(n) = text.parse::<u64>() {
        Some(Number::from(n))
    } else if integer && let Ok(n) = text.parse::<i64>() {
        Some(Number::from(n))
    } else {
        text.parse::<f64>().ok().and_then(Number::from_f64)
    };
    number.ok_or_else(|| format!("number '{text}' is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Filter {
        match Filter::parse(s) {
            Ok(f) => f,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    /// The whole rendered error.
    fn err(s: &str) -> String {
        match Filter::parse(s) {
            Ok(f) => panic!("{s:?} should not parse, got {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn cmp(path: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare {
            path: AttrPath::parse(path).unwrap(),
            op,
            value,
        }
    }

    fn s(v: &str) -> CompValue {
        CompValue::String(v.to_owned())
    }

    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }

    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }

    fn pr(path: &str) -> Filter {
        Filter::Present(AttrPath::parse(path).unwrap())
    }

    #[test]
    fn every_operator_in_any_case() {
        for (text, op) in [
            ("eq", CompareOp::Eq),
            ("NE", CompareOp::Ne),
            ("Co", CompareOp::Co),
            ("sW", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("GE", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                p(&format!("userName {text} \"x\"")),
                cmp("userName", op, s("x"))
            );
        }
        assert_eq!(p("title PR"), pr("title"));
        assert_eq!(
            p("userName Eq \"john\""),
            cmp("userName", CompareOp::Eq, s("john"))
        );
        assert_eq!(
            p("Username eq \"john\""),
            cmp("Username", CompareOp::Eq, s("john"))
        );
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        assert_eq!(
            p("a pr or b pr and c pr"),
            or(pr("a"), and(pr("b"), pr("c")))
        );
        assert_eq!(
            p("a pr and b pr or c pr"),
            or(and(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(
            p("(a pr or b pr) and c pr"),
            and(or(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(
            p("not (a pr) and b pr"),
            and(Filter::Not(Box::new(pr("a"))), pr("b"))
        );
        // Left-associative.
        assert_eq!(
            p("a pr and b pr and c pr"),
            and(and(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(p("a pr or b pr or c pr"), or(or(pr("a"), pr("b")), pr("c")));
        assert_eq!(p("((a pr))"), pr("a"));
        assert_eq!(
            p("NOT(a pr)AND(b pr)"),
            and(Filter::Not(Box::new(pr("a"))), pr("b"))
        );
    }

    #[test]
    fn literals() {
        assert_eq!(
            p("a eq true"),
            cmp("a", CompareOp::Eq, CompValue::Bool(true))
        );
        assert_eq!(
            p("a eq FALSE"),
            cmp("a", CompareOp::Eq, CompValue::Bool(false))
        );
        assert_eq!(p("a eq Null"), cmp("a", CompareOp::Eq, CompValue::Null));
        for n in [
            "0",
            "-1",
            "42",
            "1.5",
            "-0.25",
            "1e3",
            "2E-2",
            "1.5e+10",
            "18446744073709551615",
        ] {
            assert_eq!(
                p(&format!("a gt {n}")),
                cmp("a", CompareOp::Gt, CompValue::Number(n.parse().unwrap())),
                "{n}"
            );
        }
        assert_eq!(
            p(r#"a eq "q\"b\\s\/\b\f\n\r\t\u00e9\ud83d\ude00""#),
            cmp("a", CompareOp::Eq, s("q\"b\\s/\u{8}\u{c}\n\r\té😀"))
        );
        assert_eq!(p(r#"a eq "ünï""#), cmp("a", CompareOp::Eq, s("ünï")));
        assert_eq!(p(r#"a eq """#), cmp("a", CompareOp::Eq, s("")));
    }

    #[test]
    fn keywords_inside_strings_are_strings() {
        assert_eq!(
            p(r#"displayName eq "or""#),
            cmp("displayName", CompareOp::Eq, s("or"))
        );
        assert_eq!(
            p(r#"displayName eq "a and b" and title eq "not (x)""#),
            and(
                cmp("displayName", CompareOp::Eq, s("a and b")),
                cmp("title", CompareOp::Eq, s("not (x)"))
            )
        );
    }

    #[test]
    fn attributes_named_like_keywords() {
        assert_eq!(p("not pr"), pr("not"));
        assert_eq!(
            p("and eq 1 or or pr"),
            or(
                cmp("and", CompareOp::Eq, CompValue::Number(1.into())),
                pr("or")
            )
        );
        assert_eq!(
            p("not[value pr]"),
            Filter::ValuePath {
                attr: AttrPath::name("not"),
                filter: Box::new(pr("value"))
            }
        );
    }

    #[test]
    fn value_paths() {
        let f = p(r#"emails[type eq "work" and value co "@x"]"#);
        assert_eq!(
            f,
            Filter::ValuePath {
                attr: AttrPath::name("emails"),
                filter: Box::new(and(
                    cmp("type", CompareOp::Eq, s("work")),
                    cmp("value", CompareOp::Co, s("@x"))
                ))
            }
        );
        // Errata 7322: brackets and `not` inside a value filter.
        assert_eq!(
            p(r#"emails[type eq "work" or not (type eq "home" and value ew "@x")]"#),
            Filter::ValuePath {
                attr: AttrPath::name("emails"),
                filter: Box::new(or(
                    cmp("type", CompareOp::Eq, s("work")),
                    Filter::Not(Box::new(and(
                        cmp("type", CompareOp::Eq, s("home")),
                        cmp("value", CompareOp::Ew, s("@x"))
                    )))
                ))
            }
        );
    }

    #[test]
    fn value_path_followed_by_sub_attribute_is_one_value_path() {
        assert_eq!(
            p(r#"emails[type eq "work"].value eq "x""#),
            Filter::ValuePath {
                attr: AttrPath::name("emails"),
                filter: Box::new(and(
                    cmp("type", CompareOp::Eq, s("work")),
                    cmp("value", CompareOp::Eq, s("x"))
                ))
            }
        );
        assert_eq!(
            p(r#"emails[type eq "work"].value pr and userName pr"#),
            and(
                Filter::ValuePath {
                    attr: AttrPath::name("emails"),
                    filter: Box::new(and(cmp("type", CompareOp::Eq, s("work")), pr("value")))
                },
                pr("userName")
            )
        );
    }

    #[test]
    fn urn_qualified_paths() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        assert_eq!(
            p(&format!("{ent}:employeeNumber eq \"7\"")),
            cmp(&format!("{ent}:employeeNumber"), CompareOp::Eq, s("7"))
        );
        let Filter::Compare { path, .. } = p(&format!("{ent}:manager.value eq \"x\"")) else {
            panic!()
        };
        assert_eq!(path.urn.as_deref(), Some(ent));
        assert_eq!(path.name, "manager");
        assert_eq!(path.sub.as_deref(), Some("value"));
        let Filter::ValuePath { attr, .. } =
            p("urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq \"work\"]")
        else {
            panic!()
        };
        assert_eq!(
            attr.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert_eq!(attr.name, "emails");
    }

    #[test]
    fn whitespace_is_lenient() {
        assert_eq!(
            p("  userName   eq\t\"x\"  and\n title pr "),
            and(cmp("userName", CompareOp::Eq, s("x")), pr("title"))
        );
    }

    #[test]
    fn wrong_operator() {
        assert_eq!(
            err(r#"userName equals "x""#),
            "invalid filter: expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) \
             or 'pr' after 'userName', found 'equals' at column 10\n  \
             userName equals \"x\"\n           ^^^^^^"
        );
        assert_eq!(
            err("userName"),
            "invalid filter: expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) \
             or 'pr' after 'userName', found end of input at column 9\n  userName\n          ^"
        );
    }

    #[test]
    fn missing_or_unquoted_value() {
        assert_eq!(
            err("userName eq john"),
            "invalid filter: expected a value after 'eq' (a string in double quotes, a number, \
             true, false or null), found 'john' at column 13\n  userName eq john\n              ^^^^"
        );
        assert_eq!(
            err("userName eq"),
            "invalid filter: expected a value after 'eq' (a string in double quotes, a number, \
             true, false or null), found end of input at column 12\n  userName eq\n             ^"
        );
    }

    #[test]
    fn unclosed_bracket() {
        assert_eq!(
            err(r#"(userName eq "x" or title pr"#),
            "invalid filter: expected 'and', 'or' or ')' to close the '(' at column 1, found end \
             of input at column 29\n  (userName eq \"x\" or title pr\n                              ^"
        );
        assert_eq!(
            err(r#"emails[type eq "work""#),
            "invalid filter: expected 'and', 'or' or ']' to close the '[' of 'emails' at column \
             7, found end of input at column 22\n  emails[type eq \"work\"\n                       ^"
        );
    }

    #[test]
    fn trailing_garbage() {
        assert_eq!(
            err(r#"userName eq "x" title pr"#),
            "invalid filter: expected 'and', 'or' or end of input after the expression, found \
             'title' at column 17\n  userName eq \"x\" title pr\n                  ^^^^^"
        );
        assert_eq!(
            err("a pr)"),
            "invalid filter: expected 'and', 'or' or end of input after the expression, found \
             ')' at column 5\n  a pr)\n      ^"
        );
    }

    #[test]
    fn not_needs_a_bracket() {
        assert_eq!(
            err(r#"not userName eq "x""#),
            "invalid filter: expected '(' after 'not', found 'userName' at column 5\n  \
             not userName eq \"x\"\n      ^^^^^^^^"
        );
    }

    #[test]
    fn string_errors() {
        assert_eq!(
            err(r#"a eq "abc"#),
            "invalid filter: unterminated string: expected a closing '\"' at column 6\n  \
             a eq \"abc\n       ^^^^"
        );
        assert_eq!(
            err(r#"a eq "a\qb""#),
            "invalid filter: invalid escape '\\q' in string; expected one of \\\" \\\\ \\/ \\b \
             \\f \\n \\r \\t \\uXXXX at column 8\n  a eq \"a\\qb\"\n         ^^"
        );
        assert_eq!(
            err(r#"a eq "\u12g4""#),
            "invalid filter: expected 4 hex digits after '\\u' at column 7\n  \
             a eq \"\\u12g4\"\n        ^^^^^"
        );
        assert!(err(r#"a eq "\ud83d""#).contains("unpaired high surrogate"));
        assert!(err(r#"a eq "\ude00""#).contains("unpaired low surrogate"));
        assert!(err("a eq \"x\ny\"").contains("control character U+000A"));
    }

    #[test]
    fn number_errors() {
        assert_eq!(
            err("a eq 01"),
            "invalid filter: invalid number '01'; expected a JSON number such as 42, -1.5 or 1e3 \
             at column 6\n  a eq 01\n       ^^"
        );
        for bad in ["1.", ".5", "-", "1e", "12abc", "+1", "1.2.3"] {
            assert!(Filter::parse(&format!("a eq {bad}")).is_err(), "{bad}");
        }
        assert!(err("a eq 1e400").contains("out of range"));
    }

    #[test]
    fn unexpected_characters_are_pointed_at_whole() {
        assert_eq!(
            err("a eq 1 && b pr"),
            "invalid filter: unexpected character '&' at column 8\n  a eq 1 && b pr\n         ^"
        );
        assert_eq!(
            err("naïve pr"),
            "invalid filter: unexpected character 'ï' at column 3\n  naïve pr\n    ^"
        );
        assert_eq!(
            err("é"),
            "invalid filter: unexpected character 'é' at column 1\n  é\n  ^"
        );
    }

    #[test]
    fn bad_attribute_names() {
        assert_eq!(
            err("name.given.x pr"),
            "invalid filter: unexpected character '.' in attribute name at column 11\n  \
             name.given.x pr\n            ^"
        );
        assert_eq!(
            err("= 1"),
            "invalid filter: unexpected character '=' at column 1\n  = 1\n  ^"
        );
        assert_eq!(
            err(""),
            "invalid filter: expected an attribute path, '(' or 'not', found end of input at \
             column 1\n  \n  ^"
        );
        assert_eq!(
            err("a pr and"),
            "invalid filter: expected an attribute path, '(' or 'not', found end of input at \
             column 9\n  a pr and\n          ^"
        );
    }

    #[test]
    fn value_path_errors() {
        assert_eq!(
            err("a[b[c eq 1]]"),
            "invalid filter: value paths cannot be nested: '[' after 'b' inside 'a[...]' at \
             column 4\n  a[b[c eq 1]]\n     ^"
        );
        assert_eq!(
            err("emails[type.x eq 1]"),
            "invalid filter: expected a sub-attribute name of 'emails' inside '[...]', found \
             'type.x' at column 8\n  emails[type.x eq 1]\n         ^^^^^^"
        );
        assert_eq!(
            err("emails[]"),
            "invalid filter: expected a sub-attribute of 'emails', '(' or 'not', found ']' at \
             column 8\n  emails[]\n         ^"
        );
        assert_eq!(
            err("emails[type pr].5 eq 1"),
            "invalid filter: expected a sub-attribute name of 'emails' after '].', found '5' at \
             column 17\n  emails[type pr].5 eq 1\n                  ^"
        );
        assert!(err("name.givenName[value pr]").contains("without sub-attribute before '['"));
        assert!(err("emails[type pr] eq 1").contains("found 'eq'"));
        assert!(err("emails[type pr].value").contains("after 'emails[type pr].value'"));
    }

    #[test]
    fn length_and_depth_are_bounded() {
        let long = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
        assert_eq!(
            Filter::parse(&long).unwrap_err(),
            Error::InvalidFilter(format!(
                "the filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
                long.len()
            ))
        );
        let ok = format!(
            "{}a pr{}",
            "(".repeat(MAX_FILTER_DEPTH),
            ")".repeat(MAX_FILTER_DEPTH)
        );
        assert_eq!(p(&ok), pr("a"));
        let deep = format!(
            "{}a pr{}",
            "(".repeat(MAX_FILTER_DEPTH + 1),
            ")".repeat(MAX_FILTER_DEPTH + 1)
        );
        let e = err(&deep);
        assert!(
            e.starts_with("invalid filter: the filter nests deeper than 32 levels of brackets, 'not' and value paths at column 33"),
            "{e}"
        );
        // Far past the limit in every form, and never a stack overflow.
        for opener in ["(", "not (", "not(", "a[(", "a["] {
            let text = opener.repeat(4000);
            assert!(Filter::parse(&text).is_err());
        }
        // Long flat chains are not nesting.
        let chain = vec!["a pr"; 800].join(" and ");
        assert!(Filter::parse(&chain).is_ok());
    }

    #[test]
    fn explicit_limits_replace_the_defaults() {
        let tight = Limits {
            max_len: 12,
            max_depth: 1,
        };
        let e = |r: Result<Filter, Error>| r.unwrap_err().to_string();
        assert_eq!(
            e(Filter::parse_with("userName pr and title pr", &tight)),
            "invalid filter: the filter is 24 bytes long; the limit is 12"
        );
        assert_eq!(
            e(Filter::parse_with("((a pr))", &tight)),
            "invalid filter: the filter nests deeper than 1 levels of brackets, 'not' and value \
             paths at column 2\n  ((a pr))\n   ^"
        );
        assert_eq!(Filter::parse_with("(a pr)", &tight), Ok(pr("a")));
        assert_eq!(
            parse_patch_path_with("name.givenName", &tight)
                .unwrap_err()
                .to_string(),
            "invalid path: the path is 14 bytes long; the limit is 12"
        );
        assert_eq!(
            parse_patch_path_with("a[(b pr)]", &tight)
                .unwrap_err()
                .to_string(),
            "invalid path: the filter nests deeper than 1 levels of brackets, 'not' and value \
             paths at column 3\n  a[(b pr)]\n    ^"
        );
        // Looser limits accept what the defaults refuse.
        let loose = Limits {
            max_len: 2 * MAX_FILTER_LEN,
            max_depth: 2 * MAX_FILTER_DEPTH,
        };
        let long = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
        assert!(Filter::parse(&long).is_err());
        assert!(Filter::parse_with(&long, &loose).is_ok());
        let deep = format!(
            "{}a pr{}",
            "(".repeat(MAX_FILTER_DEPTH + 1),
            ")".repeat(MAX_FILTER_DEPTH + 1)
        );
        assert!(Filter::parse(&deep).is_err());
        assert_eq!(Filter::parse_with(&deep, &loose), Ok(pr("a")));
    }

    #[test]
    fn no_panic_on_awkward_input() {
        for text in [
            "\"",
            "\\",
            "a eq \"\\",
            "a eq \"\\u",
            "a eq \"\\u12",
            "a eq \"\\ud83d\\u",
            "]",
            "[",
            ".",
            "a[",
            "a[b",
            "a[b pr",
            "a[b pr]",
            "a[b pr].",
            "a[b pr].c",
            "not",
            "not (",
            "not ()",
            "()",
            "a eq -",
            "a eq 1e",
            "urn:",
            "urn:x:",
            "$ref pr",
            "ä",
            "a eq \"é",
            "😀 pr",
            "a eq \"😀\" and b eq \"\\uD83D\\uDE00\"",
        ] {
            let _ = Filter::parse(text);
            let _ = parse_patch_path(text);
        }
    }

    fn path(s: &str) -> PatchPath {
        match parse_patch_path(s) {
            Ok(p) => p,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    #[test]
    fn patch_paths() {
        let p1 = path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#);
        assert_eq!(p1.attr, AttrPath::name("members"));
        assert_eq!(
            p1.filter,
            Some(cmp(
                "value",
                CompareOp::Eq,
                s("2819c223-7f76-453a-919d-413861904646")
            ))
        );
        let p2 = path(r#"emails[type eq "work"].value"#);
        assert_eq!(p2.attr, AttrPath::parse("emails.value").unwrap());
        assert_eq!(p2.filter, Some(cmp("type", CompareOp::Eq, s("work"))));
        assert_eq!(p2.to_string(), r#"emails[type eq "work"].value"#);
        let p3 = path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager");
        assert_eq!(p3.attr.name, "manager");
        assert_eq!(p3.filter, None);
        assert_eq!(
            path("name.familyName").attr,
            AttrPath::parse("name.familyName").unwrap()
        );
        let p5 = path(r#"addresses[type eq "work"].formatted"#);
        assert_eq!(p5.attr.sub.as_deref(), Some("formatted"));
        let p6 = path(r#"members[value eq "a" or value eq "b"]"#);
        assert!(matches!(p6.filter, Some(Filter::Or(..))));
        assert_eq!(
            PatchPath::parse("emails[type eq \"work\"]")
                .unwrap()
                .to_string(),
            "emails[type eq \"work\"]"
        );
    }

    #[test]
    fn patch_path_errors() {
        let e = |s: &str| parse_patch_path(s).unwrap_err().to_string();
        assert_eq!(
            e(""),
            "invalid path: expected an attribute path, found end of input at column 1\n  \n  ^"
        );
        assert_eq!(
            e(r#"emails[type eq "work"] x"#),
            "invalid path: expected '.' and a sub-attribute name, or end of path, after ']', \
             found 'x' at column 24\n  emails[type eq \"work\"] x\n                         ^"
        );
        assert_eq!(
            e("name givenName"),
            "invalid path: expected '[' or end of path after 'name', found 'givenName' at column \
             6\n  name givenName\n       ^^^^^^^^^"
        );
        assert_eq!(
            e("members[value eq]"),
            "invalid path: expected a value after 'eq' (a string in double quotes, a number, \
             true, false or null), found ']' at column 17\n  members[value eq]\n                  ^"
        );
        assert!(matches!(
            parse_patch_path("a[b[c pr]]"),
            Err(Error::PathSyntax(_))
        ));
        assert!(matches!(
            parse_patch_path("emails[type eq \"work\"].value.x"),
            Err(Error::PathSyntax(_))
        ));
    }
}
