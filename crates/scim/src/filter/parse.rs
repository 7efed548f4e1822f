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

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8192;
/// Deepest nesting accepted; each `(`, `not (` and value path `[` is one level. It keeps the
/// recursive parser, evaluator and renderer far from the end of any thread's stack.
pub const MAX_FILTER_DEPTH: usize = 32;

impl Filter {
    /// Parses a filter (the `filter` query parameter or a SearchRequest's `filter`).
    pub fn parse(input: &str) -> Result<Filter, Error> {
        if input.len() > MAX_FILTER_LEN {
            return Err(Error::InvalidFilter(format!(
                "the filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
                input.len()
            )));
        }
        let mut p = Parser::new(input);
        let parsed = p.or_expr(Ctx::Top).and_then(|f| {
            p.expect_end("expected 'and', 'or' or end of input after the expression")?;
            Ok(f)
        });
        parsed.map_err(Error::FilterSyntax)
    }
}

/// Parses a PATCH path: `attrPath` or `valuePath ["." subAttr]` (RFC 7644 §3.5.2).
pub fn parse_patch_path(input: &str) -> Result<PatchPath, Error> {
    if input.len() > MAX_FILTER_LEN {
        return Err(Error::InvalidPath(format!(
            "the path is {} bytes long; the limit is {MAX_FILTER_LEN}",
            input.len()
        )));
    }
    Parser::new(input).patch_path().map_err(Error::PathSyntax)
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
    /// Tokens lexed ahead of the parser (at most two: `not` needs to see what follows it).
    ahead: Vec<Token<'a>>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Parser<'a> {
        Parser {
            input,
            pos: 0,
            depth: 0,
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
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.error(
                span,
                format!(
                    "the filter nests deeper than {MAX_FILTER_DEPTH} levels of brackets, 'not' and value paths"
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
    text.parse::<Number>()
        .map_err(|_| format!("number '{text}' is out of range"))
}
