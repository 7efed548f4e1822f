//! Lexer, parser and syntax tree of the expression language.
//!
//! The grammar is Entra's (see `docs/mapping-language.md`):
//!
//! ```text
//! expression := operand [ ("=" | "<>" | ">" | ">=" | "<" | "<=") operand ]
//! operand    := "[" name "]" | string | number | "True" | "False" | constant | call
//! call       := Name "(" [ [expression] { "," [expression] } ] ")"
//! ```
//!
//! An argument may be left empty (`Replace([x], "a", , , "b", , )`) because Entra's optional
//! parameters are positional. Comparisons are accepted wherever an expression is, not only in
//! `IIF`, because Entra's own `CBool([a] = [b])` example needs that; they do not chain.
//!
//! Every node keeps its byte span so that the checker and the evaluator can point at the
//! argument at fault. Input is bounded by Entra's 10,000-character limit and a nesting depth,
//! so neither the recursive parser nor the evaluator can exhaust the stack.

use std::fmt;
use std::ops::Range;

use scim::ParseError;

/// Entra's documented limit on an expression's length, in characters.
pub const MAX_EXPRESSION_CHARS: usize = 10_000;

/// Deepest nesting of calls accepted. Real mappings chain `IIF` a few dozen levels deep for
/// lookup tables; this leaves room for that and keeps recursion far from the stack's end.
pub const MAX_DEPTH: usize = 100;

/// A comparison operator (`IIF`'s condition and anywhere else an expression goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// A node of the syntax tree with its byte span in the source.
///
/// Equality ignores spans: two trees are the same expression when they mean the same thing,
/// which is what the parse/display round-trip property compares.
#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Range<usize>,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        self.kind == other.kind
    }
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    /// `[name]`: a source attribute, name trimmed.
    Attribute(String),
    /// `"text"`, escapes resolved.
    String(String),
    /// A decimal (`-10`) or VBA hex (`&HF7`) integer.
    Number(i64),
    /// `True` or `False`.
    Boolean(bool),
    /// A bare VBA constant such as `vbTextCompare`.
    Constant(String),
    /// `Name(arg, …)`; `None` is an argument left empty.
    Call {
        name: String,
        name_span: Range<usize>,
        args: Vec<Option<Expr>>,
    },
    /// `lhs op rhs`.
    Compare {
        op: CmpOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

impl PartialEq for ExprKind {
    /// Structural equality without spans (see [`Expr`]).
    fn eq(&self, other: &ExprKind) -> bool {
        use ExprKind::*;
        match (self, other) {
            (Attribute(a), Attribute(b)) | (String(a), String(b)) | (Constant(a), Constant(b)) => {
                a == b
            }
            (Number(a), Number(b)) => a == b,
            (Boolean(a), Boolean(b)) => a == b,
            (
                Call {
                    name: n1, args: a1, ..
                },
                Call {
                    name: n2, args: a2, ..
                },
            ) => n1 == n2 && a1 == a2,
            (
                Compare {
                    op: o1,
                    lhs: l1,
                    rhs: r1,
                },
                Compare {
                    op: o2,
                    lhs: l2,
                    rhs: r2,
                },
            ) => o1 == o2 && l1 == l2 && r1 == r2,
            _ => false,
        }
    }
}

/// The VBA constants the language knows (`InStr`'s compare types).
pub const CONSTANTS: &[&str] = &["vbBinaryCompare", "vbTextCompare"];

/// Parses an expression. The error renders the input with a caret under the fault.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    if input.chars().count() > MAX_EXPRESSION_CHARS {
        let cut = input
            .char_indices()
            .nth(MAX_EXPRESSION_CHARS)
            .map_or(input.len(), |(i, _)| i);
        return Err(ParseError::new(
            input,
            cut..input.len(),
            format!("expression is longer than {MAX_EXPRESSION_CHARS} characters (Entra's limit)"),
        ));
    }
    let tokens = lex(input)?;
    let mut p = Parser {
        input,
        tokens,
        pos: 0,
    };
    let expr = p.expression(0)?;
    match p.peek() {
        Some(t) => Err(p.err(
            t.span.clone(),
            format!(
                "unexpected {} after the end of the expression",
                t.kind.describe()
            ),
        )),
        None => Ok(expr),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Attribute(String),
    String(String),
    Number(i64),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Cmp(CmpOp),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Attribute(n) => format!("attribute [{n}]"),
            Tok::String(_) => "string".into(),
            Tok::Number(n) => format!("number {n}"),
            Tok::Ident(n) => format!("'{n}'"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Cmp(op) => format!("'{}'", op.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    span: Range<usize>,
}

fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let err = |span: Range<usize>, msg: String| ParseError::new(input, span, msg);
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                out.push(Token {
                    kind: Tok::LParen,
                    span: start..i,
                });
            }
            b')' => {
                i += 1;
                out.push(Token {
                    kind: Tok::RParen,
                    span: start..i,
                });
            }
            b',' => {
                i += 1;
                out.push(Token {
                    kind: Tok::Comma,
                    span: start..i,
                });
            }
            b'=' | b'<' | b'>' => {
                let next = bytes.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    (b'<', Some(b'>')) => (CmpOp::Ne, 2),
                    (b'<', Some(b'=')) => (CmpOp::Le, 2),
                    (b'>', Some(b'=')) => (CmpOp::Ge, 2),
                    (b'<', _) => (CmpOp::Lt, 1),
                    (b'>', _) => (CmpOp::Gt, 1),
                    _ => (CmpOp::Eq, 1),
                };
                i += len;
                out.push(Token {
                    kind: Tok::Cmp(op),
                    span: start..i,
                });
            }
            b'[' => {
                let Some(close) = input[i + 1..].find(']') else {
                    return Err(err(
                        start..input.len(),
                        "attribute name is missing its closing ']'".into(),
                    ));
                };
                let end = i + 1 + close;
                let name = input[i + 1..end].trim();
                if name.is_empty() {
                    return Err(err(start..end + 1, "empty attribute name".into()));
                }
                if let Some(bad) = name.find('[') {
                    let at = i + 1 + input[i + 1..end].find('[').unwrap_or(bad);
                    return Err(err(
                        at..at + 1,
                        "'[' inside an attribute name; is a ']' missing?".into(),
                    ));
                }
                i = end + 1;
                out.push(Token {
                    kind: Tok::Attribute(name.to_owned()),
                    span: start..i,
                });
            }
            b'"' => {
                let mut s = String::new();
                let mut j = i + 1;
                let mut closed = false;
                while j < bytes.len() {
                    match bytes[j] {
                        b'"' => {
                            closed = true;
                            j += 1;
                            break;
                        }
                        b'\\' if matches!(bytes.get(j + 1), Some(b'"' | b'\\')) => {
                            s.push(bytes[j + 1] as char);
                            j += 2;
                        }
                        _ => {
                            // Copy one whole UTF-8 character.
                            let ch_len = input[j..].chars().next().map_or(1, char::len_utf8);
                            s.push_str(&input[j..j + ch_len]);
                            j += ch_len;
                        }
                    }
                }
                if !closed {
                    return Err(err(start..input.len(), "unterminated string".into()));
                }
                i = j;
                out.push(Token {
                    kind: Tok::String(s),
                    span: start..i,
                });
            }
            b'&' if matches!(bytes.get(i + 1), Some(b'H' | b'h')) => {
                let mut j = i + 2;
                while j < bytes.len() && bytes[j].is_ascii_hexdigit() {
                    j += 1;
                }
                if j == i + 2 {
                    return Err(err(start..j, "expected hex digits after '&H'".into()));
                }
                let n = i64::from_str_radix(&input[i + 2..j], 16)
                    .map_err(|_| err(start..j, "number is out of range".into()))?;
                i = j;
                out.push(Token {
                    kind: Tok::Number(n),
                    span: start..i,
                });
            }
            b'0'..=b'9' | b'-' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if c == b'-' && j == i + 1 {
                    return Err(err(start..j, "expected a digit after '-'".into()));
                }
                let n = input[i..j]
                    .parse::<i64>()
                    .map_err(|_| err(start..j, "number is out of range".into()))?;
                if j < bytes.len() && (bytes[j].is_ascii_alphabetic() || bytes[j] == b'.') {
                    let end = j + input[j..].chars().next().map_or(1, char::len_utf8);
                    return Err(err(
                        start..end,
                        "numbers are whole and decimal; write other values as strings".into(),
                    ));
                }
                i = j;
                out.push(Token {
                    kind: Tok::Number(n),
                    span: start..i,
                });
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                i = j;
                out.push(Token {
                    kind: Tok::Ident(input[start..j].to_owned()),
                    span: start..i,
                });
            }
            _ => {
                let ch = input[i..].chars().next().unwrap_or('?');
                let end = i + ch.len_utf8();
                let hint = match ch {
                    '\'' => "; strings are written in double quotes",
                    ']' => "; is a '[' missing?",
                    '&' | '|' | '!' => "; Entra has no logical operators: nest IIF instead",
                    _ => "",
                };
                return Err(err(
                    start..end,
                    format!("unexpected character '{ch}'{hint}"),
                ));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.input, span, msg)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn end_span(&self) -> Range<usize> {
        self.input.len()..self.input.len()
    }

    fn expression(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let lhs = self.operand(depth)?;
        if let Some(Token {
            kind: Tok::Cmp(op), ..
        }) = self.peek()
        {
            let op = *op;
            self.pos += 1;
            let rhs = self.operand(depth)?;
            if let Some(t) = self.peek()
                && matches!(t.kind, Tok::Cmp(_))
            {
                return Err(self.err(
                    t.span.clone(),
                    "comparisons do not chain; nest IIF to combine conditions",
                ));
            }
            let span = lhs.span.start..rhs.span.end;
            return Ok(Expr {
                kind: ExprKind::Compare {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            });
        }
        Ok(lhs)
    }

    fn operand(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let Some(tok) = self.tokens.get(self.pos).cloned() else {
            return Err(self.err(self.end_span(), "expected an expression"));
        };
        self.pos += 1;
        let span = tok.span.clone();
        let kind = match tok.kind {
            Tok::Attribute(name) => ExprKind::Attribute(name),
            Tok::String(s) => ExprKind::String(s),
            Tok::Number(n) => ExprKind::Number(n),
            Tok::Ident(name) => {
                if matches!(
                    self.peek(),
                    Some(Token {
                        kind: Tok::LParen,
                        ..
                    })
                ) {
                    return self.call(name, span, depth);
                }
                match name.as_str() {
                    "True" | "true" => ExprKind::Boolean(true),
                    "False" | "false" => ExprKind::Boolean(false),
                    n if CONSTANTS.contains(&n) => ExprKind::Constant(name),
                    _ => {
                        return Err(self.err(
                            span,
                            format!(
                                "unknown name '{name}'; attributes are written in brackets \
                                 ([{name}]) and functions with parentheses ({name}(…))"
                            ),
                        ));
                    }
                }
            }
            other => {
                return Err(self.err(
                    span,
                    format!("expected an expression, found {}", other.describe()),
                ));
            }
        };
        Ok(Expr { kind, span })
    }

    fn call(
        &mut self,
        name: String,
        name_span: Range<usize>,
        depth: usize,
    ) -> Result<Expr, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.err(
                name_span,
                format!("functions are nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        let open = self.pos;
        self.pos += 1; // '('
        let mut args = Vec::new();
        if matches!(
            self.peek(),
            Some(Token {
                kind: Tok::RParen,
                ..
            })
        ) {
            let end = self.tokens[self.pos].span.end;
            self.pos += 1;
            return Ok(Expr {
                kind: ExprKind::Call {
                    name,
                    name_span: name_span.clone(),
                    args,
                },
                span: name_span.start..end,
            });
        }
        loop {
            match self.peek().map(|t| &t.kind) {
                Some(Tok::Comma | Tok::RParen) => args.push(None),
                None => {
                    let open_span = self.tokens[open].span.clone();
                    return Err(self.err(open_span, format!("'(' of {name} is never closed")));
                }
                Some(_) => args.push(Some(self.expression(depth + 1)?)),
            }
            match self.peek() {
                Some(Token {
                    kind: Tok::Comma, ..
                }) => self.pos += 1,
                Some(Token {
                    kind: Tok::RParen,
                    span,
                }) => {
                    let end = span.end;
                    self.pos += 1;
                    return Ok(Expr {
                        kind: ExprKind::Call {
                            name,
                            name_span: name_span.clone(),
                            args,
                        },
                        span: name_span.start..end,
                    });
                }
                Some(t) => {
                    return Err(self.err(
                        t.span.clone(),
                        format!(
                            "expected ',' or ')' in the arguments of {name}, found {}",
                            t.kind.describe()
                        ),
                    ));
                }
                None => {
                    let open_span = self.tokens[open].span.clone();
                    return Err(self.err(open_span, format!("'(' of {name} is never closed")));
                }
            }
        }
    }
}

/// Writes a string literal with the two escapes the language has.
pub(crate) fn quote(s: &str, f: &mut impl fmt::Write) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

impl fmt::Display for Expr {
    /// Canonical text: `Name(a, , c)`, `lhs = rhs`, numbers in decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Attribute(name) => write!(f, "[{name}]"),
            ExprKind::String(s) => quote(s, f),
            ExprKind::Number(n) => write!(f, "{n}"),
            ExprKind::Boolean(true) => f.write_str("True"),
            ExprKind::Boolean(false) => f.write_str("False"),
            ExprKind::Constant(c) => f.write_str(c),
            ExprKind::Call { name, args, .. } => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(a) = arg {
                        a.fmt(f)?;
                    }
                }
                f.write_str(")")
            }
            ExprKind::Compare { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> String {
        parse(input).unwrap_err().to_string()
    }

    #[test]
    fn parses_entra_examples() {
        for src in [
            r#"Append([userPrincipalName], ".test")"#,
            r#"Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )"#,
            r#"IIF([country]="USA",IIF([state]="CA","True","False"),"False")"#,
            r#"BitAnd(&HF, &HF7)"#,
            r#"InStr("repEated","e",3,vbBinaryCompare)"#,
            r#"DateAdd("d", -10, CDate([StatusHireDate]))"#,
            r#"Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), "0", "False")"#,
            "[urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber]",
            "[Cost Center]",
            "Guid()",
        ] {
            let e = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(parse(&e.to_string()).unwrap(), e, "{src}");
        }
    }

    #[test]
    fn empty_arguments_are_kept() {
        let e = parse(r#"Replace([x], "a", , , "b", , )"#).unwrap();
        let ExprKind::Call { args, .. } = &e.kind else {
            panic!()
        };
        assert_eq!(args.len(), 7);
        assert!(args[2].is_none() && args[6].is_none());
        assert_eq!(e.to_string(), r#"Replace([x], "a", , , "b", , )"#);
    }

    #[test]
    fn escapes() {
        let e = parse(r#""Company name: \"Contoso\" \\ \d""#).unwrap();
        assert_eq!(
            e.kind,
            ExprKind::String(r#"Company name: "Contoso" \ \d"#.into())
        );
    }

    #[test]
    fn errors_draw_a_caret() {
        assert_eq!(
            err(r#"Append([a], "x""#),
            "'(' of Append is never closed at column 7\n  Append([a], \"x\"\n        ^"
        );
        assert_eq!(
            err("Left([name, 3)"),
            "attribute name is missing its closing ']' at column 6\n  Left([name, 3)\n       ^^^^^^^^^"
        );
        assert_eq!(
            err("ToLower(givenName)"),
            "unknown name 'givenName'; attributes are written in brackets ([givenName]) and \
             functions with parentheses (givenName(…)) at column 9\n  ToLower(givenName)\n          ^^^^^^^^^"
        );
        assert_eq!(
            err(r#"IIF([a]="x" = "y", 1, 2)"#),
            "comparisons do not chain; nest IIF to combine conditions at column 13\n  \
             IIF([a]=\"x\" = \"y\", 1, 2)\n              ^"
        );
        assert_eq!(
            err("Left('abc', 2)"),
            "unexpected character '\''; strings are written in double quotes at column 6\n  \
             Left('abc', 2)\n       ^"
        );
        assert_eq!(
            err("Left([a] 2)"),
            "expected ',' or ')' in the arguments of Left, found number 2 at column 10\n  \
             Left([a] 2)\n           ^"
        );
        assert_eq!(err(""), "expected an expression at column 1\n  \n  ^");
    }
}
