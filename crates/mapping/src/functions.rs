//! The function table: names, parameters, documentation and worked examples.
//!
//! One table drives the checker (arity, literal kinds), the reference in
//! `docs/mapping-language.md` ([`render_reference`]) and the example tests, so the three cannot
//! drift: a test fails when the document differs from what this table renders, and every
//! example is evaluated and compared with its documented result.

use std::fmt::Write as _;

/// What a literal argument must look like. Only literals are checked before running; a
/// computed argument is checked when evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything.
    Any,
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// A `DateAdd`/`DateDiff` interval (`yyyy`, `m`, `d`, `ww`, …).
    Interval,
    /// `vbTextCompare` or `vbBinaryCompare`.
    CompareType,
    /// A regular expression.
    Regex,
    /// The name of a group of the regular expression given as `regexPattern`.
    RegexGroup,
    /// A .NET date format string.
    DateFormat,
    /// .NET `DateTimeStyles` names.
    DateStyles,
    /// A culture name such as `tr-TR`.
    Culture,
}

const ANY_INT: Kind = Kind::Int {
    min: i64::MIN,
    max: i64::MAX,
};

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    /// May be left empty (`F(a, , c)`) or, at the end, left out.
    pub optional: bool,
}

const fn req(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        optional: false,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        optional: true,
    }
}

/// How many arguments beyond the listed parameters a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Exactly the listed parameters (trailing optional ones may be left out).
    None,
    /// The last parameter repeats; at least `min` arguments in all.
    Last { min: usize },
    /// After the listed parameters come key/value pairs (`Switch`); at least one pair.
    Pairs,
}

/// A worked example: the expression, the source record (JSON), and the result as JSON, or
/// `(dropped)` when the attribute leaves the flow, or `error: …` for the expected error.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub expr: &'static str,
    pub record: &'static str,
    pub result: &'static str,
}

/// One function of the language.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    pub signature: &'static str,
    pub params: &'static [Param],
    pub repeat: Repeat,
    pub summary: &'static str,
    pub examples: &'static [Example],
}

impl Function {
    /// The fewest arguments the function takes.
    pub fn min_args(&self) -> usize {
        match self.repeat {
            Repeat::None => self
                .params
                .iter()
                .rposition(|p| !p.optional)
                .map_or(0, |i| i + 1),
            Repeat::Last { min } => min,
            Repeat::Pairs => self.params.len() + 2,
        }
    }

    /// The most arguments the function takes, `None` when unbounded.
    pub fn max_args(&self) -> Option<usize> {
        match self.repeat {
            Repeat::None => Some(self.params.len()),
            _ => None,
        }
    }

    /// The parameter at position `i` (0-based).
    pub fn param(&self, i: usize) -> Param {
        match self.repeat {
            Repeat::Pairs if i >= self.params.len() => {
                if (i - self.params.len()).is_multiple_of(2) {
                    req("key", Kind::Any)
                } else {
                    req("value", Kind::Any)
                }
            }
            _ => self
                .params
                .get(i)
                .or(self.params.last())
                .copied()
                .unwrap_or(req("argument", Kind::Any)),
        }
    }
}

/// Looks a function up by its exact (case-sensitive) name.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

const fn ex(expr: &'static str, record: &'static str, result: &'static str) -> Example {
    Example {
        expr,
        record,
        result,
    }
}

/// The context the examples run in: `Now()` is 2021-08-25 17:41:18 UTC (the date Entra's
/// `DateDiff` table was computed on), the random source is seeded with 7, the default domain
/// is `contoso.com` and the target already holds `John.Smith@contoso.com`.
pub const EXAMPLE_CONTEXT: &str = "Examples run with `Now()` = 2021-08-25 17:41:18 UTC, a random \
source seeded with 7, `DefaultDomain()` = `contoso.com`, and `John.Smith@contoso.com` already \
taken in the target.";

const S: Kind = Kind::Any;

/// Every function, in alphabetical order.
pub static FUNCTIONS: &[Function] = &[
    Function {
        name: "Append",
        signature: "Append(source, suffix)",
        params: &[req("source", S), req("suffix", S)],
        repeat: Repeat::None,
        summary: "Appends `suffix` to `source`. A null `source` gives null.",
        examples: &[ex(
            r#"Append([userPrincipalName], ".test")"#,
            r#"{"userPrincipalName": "John.Doe@contoso.com"}"#,
            r#""John.Doe@contoso.com.test""#,
        )],
    },
    Function {
        name: "AppRoleAssignments",
        signature: "AppRoleAssignments([appRoleAssignments])",
        params: &[req("appRoleAssignments", S)],
        repeat: Repeat::None,
        summary: "The names of all app roles assigned, as a multi-valued string. An assignment \
                  is a role name or an object with `value`, `displayName` or `display`.",
        examples: &[ex(
            "AppRoleAssignments([appRoleAssignments])",
            r#"{"appRoleAssignments": ["Admin", {"displayName": "Reader"}]}"#,
            r#"["Admin", "Reader"]"#,
        )],
    },
    Function {
        name: "AppRoleAssignmentsComplex",
        signature: "AppRoleAssignmentsComplex([appRoleAssignments])",
        params: &[req("appRoleAssignments", S)],
        repeat: Repeat::None,
        summary: "All assigned app roles as SCIM `roles` objects. The mapping is additive: \
                  roles are added to the target, never removed (Entra's PATCH `Add`).",
        examples: &[ex(
            "AppRoleAssignmentsComplex([appRoleAssignments])",
            r#"{"appRoleAssignments": ["Admin"]}"#,
            r#"[{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Admin"}]"#,
        )],
    },
    Function {
        name: "AssertiveAppRoleAssignmentsComplex",
        signature: "AssertiveAppRoleAssignmentsComplex([appRoleAssignments])",
        params: &[req("appRoleAssignments", S)],
        repeat: Repeat::None,
        summary: "Like `AppRoleAssignmentsComplex`, but the target's roles are replaced, so \
                  roles no longer assigned are removed (Entra's PATCH `Replace`).",
        examples: &[ex(
            "AssertiveAppRoleAssignmentsComplex([appRoleAssignments])",
            r#"{"appRoleAssignments": [{"value": "Reader"}]}"#,
            r#"[{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Reader", "value": "Reader"}]"#,
        )],
    },
    Function {
        name: "BitAnd",
        signature: "BitAnd(value1, value2)",
        params: &[req("value1", ANY_INT), req("value2", ANY_INT)],
        repeat: Repeat::None,
        summary: "Bitwise AND of two whole numbers. VBA hex literals (`&HF7`) are accepted.",
        examples: &[
            ex("BitAnd(&HF, &HF7)", "{}", "7"),
            ex(
                "BitAnd([userAccountControl], 2)",
                r#"{"userAccountControl": 514}"#,
                "2",
            ),
        ],
    },
    Function {
        name: "CBool",
        signature: "CBool(expression)",
        params: &[req("expression", S)],
        repeat: Repeat::None,
        summary: "A boolean: non-zero numbers and `\"True\"` (any case) are true, zero and \
                  `\"False\"` false; other text is an error.",
        examples: &[
            ex(
                "CBool([attribute1] = [attribute2])",
                r#"{"attribute1": "Sales", "attribute2": "Sales"}"#,
                "true",
            ),
            ex("CBool(0)", "{}", "false"),
        ],
    },
    Function {
        name: "CDate",
        signature: "CDate(expression)",
        params: &[req("expression", S)],
        repeat: Repeat::None,
        summary: "Reads an ISO 8601 date (with or without time and offset) or Entra's \
                  `M/d/yyyy h:mm:ss tt` text and returns the UTC date-time, which reaches a \
                  target as `M/d/yyyy h:mm:ss tt`.",
        examples: &[
            ex(
                "CDate([StatusHireDate])",
                r#"{"StatusHireDate": "2020-03-16-07:00"}"#,
                r#""3/16/2020 7:00:00 AM""#,
            ),
            ex(
                r#"CDate("2021-06-30+08:00")"#,
                "{}",
                r#""6/29/2021 4:00:00 PM""#,
            ),
            ex(
                r#"CDate("2009-06-15T01:45:30-07:00")"#,
                "{}",
                r#""6/15/2009 8:45:30 AM""#,
            ),
        ],
    },
    Function {
        name: "Coalesce",
        signature: "Coalesce(source1, …, sourceN, defaultValue)",
        params: &[req("source", S)],
        repeat: Repeat::Last { min: 1 },
        summary: "The first argument that is not null (an empty string is a value). Arguments \
                  after it are not evaluated.",
        examples: &[ex(
            "Coalesce([mail], [userPrincipalName])",
            r#"{"userPrincipalName": "John.Doe@contoso.com"}"#,
            r#""John.Doe@contoso.com""#,
        )],
    },
    Function {
        name: "ConvertFromBase64",
        signature: "ConvertFromBase64(source, encoding)",
        params: &[req("source", S), opt("encoding", S)],
        repeat: Repeat::None,
        summary: "Decodes base64 text; `encoding` is `Unicode` (UTF-16LE, the default, as \
                  `ConvertToBase64` writes) or `UTF8`. From Entra Cloud Sync.",
        examples: &[
            ex(
                r#"ConvertFromBase64("SABlAGwAbABvACAAdwBvAHIAbABkACEA")"#,
                "{}",
                r#""Hello world!""#,
            ),
            ex(r#"ConvertFromBase64("SGk=", "UTF8")"#, "{}", r#""Hi""#),
        ],
    },
    Function {
        name: "ConvertToBase64",
        signature: "ConvertToBase64(source)",
        params: &[req("source", S)],
        repeat: Repeat::None,
        summary: "Base64 of the UTF-16LE (\"Unicode\") bytes of `source`.",
        examples: &[ex(
            r#"ConvertToBase64("Hello world!")"#,
            "{}",
            r#""SABlAGwAbABvACAAdwBvAHIAbABkACEA""#,
        )],
    },
    Function {
        name: "ConvertToUTF8Hex",
        signature: "ConvertToUTF8Hex(source)",
        params: &[req("source", S)],
        repeat: Repeat::None,
        summary: "Upper-case hex of the UTF-8 bytes of `source`.",
        examples: &[ex(
            r#"ConvertToUTF8Hex("Hello world!")"#,
            "{}",
            r#""48656C6C6F20776F726C6421""#,
        )],
    },
    Function {
        name: "Count",
        signature: "Count(attribute)",
        params: &[req("attribute", S)],
        repeat: Repeat::None,
        summary: "The number of values of a multi-valued attribute: 0 for null, 1 for a \
                  single value.",
        examples: &[ex(
            "Count([proxyAddresses])",
            r#"{"proxyAddresses": ["SMTP:a@contoso.com", "smtp:b@contoso.com"]}"#,
            "2",
        )],
    },
    Function {
        name: "CStr",
        signature: "CStr(value)",
        params: &[req("value", S)],
        repeat: Repeat::None,
        summary: "The value as a string: numbers in decimal, booleans as `True`/`False`.",
        examples: &[
            ex(
                "CStr([dn])",
                r#"{"dn": "cn=Joe,dc=contoso,dc=com"}"#,
                r#""cn=Joe,dc=contoso,dc=com""#,
            ),
            ex(
                "CStr([employeeNumber])",
                r#"{"employeeNumber": 42}"#,
                r#""42""#,
            ),
        ],
    },
    Function {
        name: "DateAdd",
        signature: "DateAdd(interval, value, dateTime)",
        params: &[
            req("interval", Kind::Interval),
            req("value", ANY_INT),
            req("dateTime", S),
        ],
        repeat: Repeat::None,
        summary: "Adds `value` intervals to a date: `yyyy` years, `q` quarters, `m` months, \
                  `d`/`y`/`w` days, `ww` weeks, `h` hours, `n` minutes, `s` seconds. Months \
                  keep the day, clamped to the month's end.",
        examples: &[
            ex(
                r#"DateAdd("d", 7, CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                r#""3/23/2012 7:00:00 AM""#,
            ),
            ex(
                r#"DateAdd("d", -10, CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                r#""3/6/2012 7:00:00 AM""#,
            ),
            ex(
                r#"DateAdd("ww", 2, CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                r#""3/30/2012 7:00:00 AM""#,
            ),
            ex(
                r#"DateAdd("m", 10, CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                r#""1/16/2013 7:00:00 AM""#,
            ),
            ex(
                r#"DateAdd("yyyy", 2, CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                r#""3/16/2014 7:00:00 AM""#,
            ),
        ],
    },
    Function {
        name: "DateDiff",
        signature: "DateDiff(interval, date1, date2)",
        params: &[
            req("interval", Kind::Interval),
            req("date1", S),
            req("date2", S),
        ],
        repeat: Repeat::None,
        summary: "The number of interval boundaries from `date1` to `date2` (positive when \
                  `date2` is later), counted as VBA does: calendar years and months, \
                  Sunday-started weeks for `ww`, calendar days for `d`.",
        examples: &[
            ex(
                r#"DateDiff("d", CDate("2021-08-18+08:00"), CDate("2021-08-31+08:00"))"#,
                "{}",
                "13",
            ),
            ex(
                r#"DateDiff("d", Now(), CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                "-3449",
            ),
            ex(
                r#"DateDiff("ww", Now(), CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                "-493",
            ),
            ex(
                r#"DateDiff("m", Now(), CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                "-113",
            ),
            ex(
                r#"DateDiff("yyyy", Now(), CDate([StatusHireDate]))"#,
                r#"{"StatusHireDate": "2012-03-16-07:00"}"#,
                "-9",
            ),
            ex(
                r#"DateDiff("d", CDate("2021-08-31+08:00"), CDate("2021-08-31+08:00"))"#,
                "{}",
                "0",
            ),
            ex(
                r#"DateDiff("h", CDate("2021-08-24"), CDate("2021-08-25"))"#,
                "{}",
                "24",
            ),
            ex(
                r#"DateDiff("n", CDate("2021-08-24"), CDate("2021-08-25"))"#,
                "{}",
                "1440",
            ),
            ex(
                r#"DateDiff("s", CDate("2021-08-24"), CDate("2021-08-25"))"#,
                "{}",
                "86400",
            ),
            ex(
                r#"Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), "0", "False")"#,
                r#"{"Active": "1", "StatusHireDate": "2021-09-01-07:00"}"#,
                r#""False""#,
            ),
        ],
    },
    Function {
        name: "DateFromNum",
        signature: "DateFromNum(value)",
        params: &[req("value", S)],
        repeat: Repeat::None,
        summary: "Converts an AD FILETIME (100-ns ticks since 1601-01-01 UTC, as in \
                  `lastLogonTimestamp` or `accountExpires`) to a date. AD's \"never\" values \
                  0 and 9223372036854775807 give null.",
        examples: &[ex(
            "DateFromNum(129699324000000000)",
            "{}",
            r#""1/1/2012 11:00:00 PM""#,
        )],
    },
    Function {
        name: "DefaultDomain",
        signature: "DefaultDomain()",
        params: &[],
        repeat: Repeat::None,
        summary: "The default domain of the job (`default_domain` in the job file); an error \
                  when none is set.",
        examples: &[ex(
            r#"Join("@", [alias], DefaultDomain())"#,
            r#"{"alias": "jdoe"}"#,
            r#""jdoe@contoso.com""#,
        )],
    },
    Function {
        name: "DNComponent",
        signature: "DNComponent(dn, componentNumber)",
        params: &[
            req("dn", S),
            req(
                "componentNumber",
                Kind::Int {
                    min: 1,
                    max: i64::MAX,
                },
            ),
        ],
        repeat: Repeat::None,
        summary: "The value of the n-th (1-based) RDN of a distinguished name, escapes \
                  resolved; empty when there are fewer. From Entra Cloud Sync.",
        examples: &[ex(
            r#"DNComponent("CN=Doe\\, John,OU=Sales,DC=contoso,DC=com", 2)"#,
            "{}",
            r#""Sales""#,
        )],
    },
    Function {
        name: "Error",
        signature: "Error(message)",
        params: &[req("message", S)],
        repeat: Repeat::None,
        summary: "Fails the object with `message` (it is retried like any failed object). \
                  Only the branch of `IIF` or `Switch` that is taken is evaluated. From Entra \
                  Cloud Sync.",
        examples: &[
            ex(
                r#"IIF(IsPresent([employeeId]), [employeeId], Error("employeeId is required"))"#,
                r#"{"employeeId": "E100"}"#,
                r#""E100""#,
            ),
            ex(
                r#"IIF(IsPresent([employeeId]), [employeeId], Error("employeeId is required"))"#,
                "{}",
                "error: employeeId is required",
            ),
        ],
    },
    Function {
        name: "FormatDateTime",
        signature: "FormatDateTime(source, dateTimeStyles, inputFormat, outputFormat)",
        params: &[
            req("source", S),
            opt("dateTimeStyles", Kind::DateStyles),
            req("inputFormat", Kind::DateFormat),
            req("outputFormat", Kind::DateFormat),
        ],
        repeat: Repeat::None,
        summary: "Reads `source` with the .NET format `inputFormat` and writes it with \
                  `outputFormat` (custom formats such as `yyyy-MM-ddTHH:mm:ss.fffK` and the \
                  standard ones `o`, `s`, `u`, `d`, …). The offset read is kept unless \
                  `dateTimeStyles` says `AdjustToUniversal`. A date value (from `CDate`, \
                  `Now`) is written without reading.",
        examples: &[
            ex(
                r#"FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")"#,
                r#"{"extensionAttribute1": "20150123105347.1Z"}"#,
                r#""2015-01-23""#,
            ),
            ex(
                r#"FormatDateTime([endDate], , "M/d/yyyy hh:mm:ss tt", "yyyy-MM-dd")"#,
                r#"{"endDate": "12/31/2020 11:30:00 PM"}"#,
                r#""2020-12-31""#,
            ),
            ex(
                r#"FormatDateTime([hireDate], "AdjustToUniversal", "yyyy-MM-ddzzz", "o")"#,
                r#"{"hireDate": "2020-12-31-08:00"}"#,
                r#""2020-12-31T08:00:00.0000000Z""#,
            ),
        ],
    },
    Function {
        name: "Guid",
        signature: "Guid()",
        params: &[],
        repeat: Repeat::None,
        summary: "A new random (version 4) GUID, from the job's random source.",
        examples: &[ex(
            "Guid()",
            "{}",
            r#""d70d3259-e4e1-4b63-9c66-3cf4d73c4c04""#,
        )],
    },
    Function {
        name: "IgnoreFlowIfNullOrEmpty",
        signature: "IgnoreFlowIfNullOrEmpty(expression)",
        params: &[req("expression", S)],
        repeat: Repeat::None,
        summary: "The value of `expression`; when it is null or empty the target attribute is \
                  dropped from the flow: not written, not cleared. Nested anywhere in an \
                  expression, it drops the whole attribute.",
        examples: &[
            ex("IgnoreFlowIfNullOrEmpty([department])", "{}", "(dropped)"),
            ex(
                r#"IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))"#,
                r#"{"prefix": "3446"}"#,
                "(dropped)",
            ),
            ex(
                r#"IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))"#,
                r#"{"prefix": "3444"}"#,
                r#""Prof.""#,
            ),
        ],
    },
    Function {
        name: "IIF",
        signature: "IIF(condition, valueIfTrue, valueIfFalse)",
        params: &[
            req("condition", S),
            req("valueIfTrue", S),
            req("valueIfFalse", S),
        ],
        repeat: Repeat::None,
        summary: "`valueIfTrue` when `condition` holds, else `valueIfFalse`; only the chosen \
                  branch is evaluated. Conditions compare with `=`, `<>`, `>`, `>=`, `<`, `<=` \
                  (as numbers when both sides are whole numbers, as dates when both are dates, \
                  otherwise as case-sensitive text). There is no AND/OR: nest IIF. As in \
                  Entra, a comparison with a null or empty side is false.",
        examples: &[
            ex(
                r#"IIF([country]="USA", [country], [department])"#,
                r#"{"country": "USA", "department": "Sales"}"#,
                r#""USA""#,
            ),
            ex(
                r#"IIF([country]="USA", [country], [department])"#,
                r#"{"country": "NZ", "department": "Sales"}"#,
                r#""Sales""#,
            ),
            ex(
                r#"IIF([country]="USA", IIF([state]="CA", "True", "False"), "False")"#,
                r#"{"country": "USA", "state": "CA"}"#,
                r#""True""#,
            ),
            ex(
                r#"IIF([country]="USA", "True", IIF([state]="CA", "True", "False"))"#,
                r#"{"country": "NZ", "state": "WA"}"#,
                r#""False""#,
            ),
            ex(
                r#"IIF([country]="", "Other", [country])"#,
                r#"{"country": ""}"#,
                r#""""#,
            ),
        ],
    },
    Function {
        name: "InStr",
        signature: "InStr(value1, value2, start, compareType)",
        params: &[
            req("value1", S),
            req("value2", S),
            opt(
                "start",
                Kind::Int {
                    min: 1,
                    max: i64::MAX,
                },
            ),
            opt("compareType", Kind::CompareType),
        ],
        repeat: Repeat::None,
        summary: "The 1-based position of `value2` in `value1` from `start` (default 1), 0 \
                  when absent. `vbTextCompare` ignores case; `vbBinaryCompare` (default) \
                  does not.",
        examples: &[
            ex(r#"InStr("The quick brown fox", "quick")"#, "{}", "5"),
            ex(r#"InStr("repEated", "e", 3, vbBinaryCompare)"#, "{}", "7"),
            ex(r#"InStr("repEated", "e", 3, vbTextCompare)"#, "{}", "4"),
        ],
    },
    Function {
        name: "IsNull",
        signature: "IsNull(expression)",
        params: &[req("expression", S)],
        repeat: Repeat::None,
        summary: "True when the value is null (an attribute is null when absent).",
        examples: &[ex("IsNull([displayName])", "{}", "true")],
    },
    Function {
        name: "IsNullOrEmpty",
        signature: "IsNullOrEmpty(expression)",
        params: &[req("expression", S)],
        repeat: Repeat::None,
        summary: "True when the value is null or an empty string.",
        examples: &[ex(
            "IsNullOrEmpty([displayName])",
            r#"{"displayName": ""}"#,
            "true",
        )],
    },
    Function {
        name: "IsPresent",
        signature: "IsPresent(expression)",
        params: &[req("expression", S)],
        repeat: Repeat::None,
        summary: "True when the value is neither null nor empty (the inverse of \
                  `IsNullOrEmpty`).",
        examples: &[ex(
            "IsPresent([mail])",
            r#"{"mail": "john@contoso.com"}"#,
            "true",
        )],
    },
    Function {
        name: "IsString",
        signature: "IsString(expression)",
        params: &[req("expression", S)],
        repeat: Repeat::None,
        summary: "True when the value is a string.",
        examples: &[
            ex(
                "IsString([displayName])",
                r#"{"displayName": "John"}"#,
                "true",
            ),
            ex(
                "IsString([employeeNumber])",
                r#"{"employeeNumber": 7}"#,
                "false",
            ),
        ],
    },
    Function {
        name: "Item",
        signature: "Item(attribute, index)",
        params: &[
            req("attribute", S),
            req(
                "index",
                Kind::Int {
                    min: 1,
                    max: i64::MAX,
                },
            ),
        ],
        repeat: Repeat::None,
        summary: "The value at the 1-based `index` of a multi-valued attribute; null past the \
                  end.",
        examples: &[ex(
            "Item([proxyAddresses], 1)",
            r#"{"proxyAddresses": ["SMTP:a@contoso.com", "smtp:b@contoso.com"]}"#,
            r#""SMTP:a@contoso.com""#,
        )],
    },
    Function {
        name: "Join",
        signature: "Join(separator, source1, source2, …)",
        params: &[req("separator", S), req("source", S)],
        repeat: Repeat::Last { min: 2 },
        summary: "Joins the sources with `separator`, flattening multi-valued ones and \
                  leaving out null and empty values (so no doubled separators).",
        examples: &[
            ex(
                r#"Join(", ", "", [surname], [givenName])"#,
                r#"{"givenName": "John", "surname": "Doe"}"#,
                r#""Doe, John""#,
            ),
            ex(
                r#"Join(";", [proxyAddresses], [mail])"#,
                r#"{"proxyAddresses": ["a@x.com", "b@x.com"], "mail": "c@x.com"}"#,
                r#""a@x.com;b@x.com;c@x.com""#,
            ),
        ],
    },
    Function {
        name: "Left",
        signature: "Left(string, numChars)",
        params: &[req("string", S), req("numChars", ANY_INT)],
        repeat: Repeat::None,
        summary: "The first `numChars` characters: all of them when there are fewer or \
                  `numChars` < 0, empty when it is 0 or the string is null.",
        examples: &[
            ex(r#"Left("John Doe", 3)"#, "{}", r#""Joh""#),
            ex("Left([missing], 3)", "{}", r#""""#),
        ],
    },
    Function {
        name: "Mid",
        signature: "Mid(source, start, length)",
        params: &[
            req("source", S),
            req(
                "start",
                Kind::Int {
                    min: 1,
                    max: i64::MAX,
                },
            ),
            req(
                "length",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
        ],
        repeat: Repeat::None,
        summary: "`length` characters from the 1-based `start`, fewer at the end of the \
                  string; empty for a null source.",
        examples: &[ex(
            "Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))",
            r#"{"givenName": "John", "surname": "Doe"}"#,
            r#""JohDoe""#,
        )],
    },
    Function {
        name: "NormalizeDiacritics",
        signature: "NormalizeDiacritics(source)",
        params: &[req("source", S)],
        repeat: Repeat::None,
        summary: "Removes accents (`é` → `e`, `ǖ` → `u`) and maps the letters of Entra's table \
                  that have none (`æ` → `ae`, `ø` → `oe`, `ß` → `ss`, `ł` → `l`, `ı` → `i`).",
        examples: &[
            ex(
                "NormalizeDiacritics([givenName])",
                r#"{"givenName": "Zoë"}"#,
                r#""Zoe""#,
            ),
            ex(
                r#"NormalizeDiacritics("Søren Ærø Straße")"#,
                "{}",
                r#""Soeren AEroe Strasse""#,
            ),
        ],
    },
    Function {
        name: "Not",
        signature: "Not(source)",
        params: &[req("source", S)],
        repeat: Repeat::None,
        summary: "False when `source` is true (a boolean or `\"True\"` in any case), \
                  otherwise true.",
        examples: &[
            ex(
                "Not([IsSoftDeleted])",
                r#"{"IsSoftDeleted": false}"#,
                "true",
            ),
            ex(r#"Not("True")"#, "{}", "false"),
        ],
    },
    Function {
        name: "Now",
        signature: "Now()",
        params: &[],
        repeat: Repeat::None,
        summary: "The current UTC date-time from the job's clock.",
        examples: &[ex("Now()", "{}", r#""8/25/2021 5:41:18 PM""#)],
    },
    Function {
        name: "NumFromDate",
        signature: "NumFromDate(value)",
        params: &[req("value", S)],
        repeat: Repeat::None,
        summary: "Converts an ISO 8601 date to AD's FILETIME number (for `accountExpires`).",
        examples: &[
            ex(
                r#"NumFromDate(Join("", FormatDateTime([ContractEndDate], , "yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))"#,
                r#"{"ContractEndDate": "2020-12-31-08:00"}"#,
                "132539615990000000",
            ),
            ex(
                r#"NumFromDate(Join("", FormatDateTime([endDate], , "M/d/yyyy hh:mm:ss tt", "yyyy-MM-dd"), " 23:59:59-08:00"))"#,
                r#"{"endDate": "12/31/2020 12:00:00 AM"}"#,
                "132539615990000000",
            ),
        ],
    },
    Function {
        name: "PCase",
        signature: "PCase(source, wordSeparators)",
        params: &[req("source", S), opt("wordSeparators", S)],
        repeat: Repeat::None,
        summary: "Upper-cases the first letter of each word and lower-cases the rest. Words \
                  are split at `wordSeparators` when given, otherwise at spaces, punctuation \
                  and symbols as .NET's `ToTitleCase` does.",
        examples: &[
            ex(
                "PCase([firstName])",
                r#"{"firstName": "PABLO GONSALVES (SECOND)"}"#,
                r#""Pablo Gonsalves (Second)""#,
            ),
            ex(
                r#"PCase([lastName], " '-")"#,
                r#"{"lastName": "PINTO-DE'SILVA"}"#,
                r#""Pinto-De'Silva""#,
            ),
            ex(
                r#"PCase(Join(" ", [firstName], [lastName]))"#,
                r#"{"firstName": "GREGORY", "lastName": "JAMES"}"#,
                r#""Gregory James""#,
            ),
        ],
    },
    Function {
        name: "RandomString",
        signature: "RandomString(length, minimumNumbers, minimumSpecialCharacters, minimumCapital, minimumLowerCase, charactersToAvoid)",
        params: &[
            req("length", Kind::Int { min: 1, max: 256 }),
            req("minimumNumbers", Kind::Int { min: 0, max: 256 }),
            req("minimumSpecialCharacters", Kind::Int { min: 0, max: 256 }),
            req("minimumCapital", Kind::Int { min: 0, max: 256 }),
            req("minimumLowerCase", Kind::Int { min: 0, max: 256 }),
            opt("charactersToAvoid", S),
        ],
        repeat: Repeat::None,
        summary: "A random string of `length` (at most 256) characters with at least the \
                  given numbers of digits, special characters (Windows password-complexity \
                  set), capitals and lower-case letters, none of `charactersToAvoid`. When \
                  all minimums are 0 any class may be used; otherwise the remaining characters \
                  come from the classes asked for.",
        examples: &[
            ex("RandomString(6, 3, 0, 0, 3)", "{}", r#""7vt46k""#),
            ex(
                r#"RandomString(10, 2, 2, 2, 1, "?,")"#,
                "{}",
                r#""K4^\\T7Ne=#""#,
            ),
        ],
    },
    Function {
        name: "Redact",
        signature: "Redact(value)",
        params: &[req("value", S)],
        repeat: Repeat::None,
        summary: "The value unchanged, marked so that provisioning logs and plans show \
                  `[Redact]` instead.",
        examples: &[ex(
            "Redact([userPrincipalName])",
            r#"{"userPrincipalName": "John.Doe@contoso.com"}"#,
            r#""John.Doe@contoso.com""#,
        )],
    },
    Function {
        name: "RemoveDuplicates",
        signature: "RemoveDuplicates(attribute)",
        params: &[req("attribute", S)],
        repeat: Repeat::None,
        summary: "The multi-valued attribute with repeated values removed, first occurrences \
                  kept in order.",
        examples: &[ex(
            "RemoveDuplicates([proxyAddresses])",
            r#"{"proxyAddresses": ["smtp:a@x.com", "smtp:b@x.com", "smtp:a@x.com"]}"#,
            r#"["smtp:a@x.com", "smtp:b@x.com"]"#,
        )],
    },
    Function {
        name: "Replace",
        signature: "Replace(source, oldValue, regexPattern, regexGroupName, replacementValue, replacementAttributeName, template)",
        params: &[
            req("source", S),
            opt("oldValue", S),
            opt("regexPattern", Kind::Regex),
            opt("regexGroupName", Kind::RegexGroup),
            opt("replacementValue", S),
            opt("replacementAttributeName", S),
            opt("template", S),
        ],
        repeat: Repeat::None,
        summary: "Case-sensitive replacement, by which arguments are given: `oldValue` + \
                  `replacementValue` replaces every occurrence in `source`; `oldValue` + \
                  `template` puts `source` into `template` in place of `oldValue`; \
                  `regexPattern` + `replacementValue` replaces every match (`${name}` and `$1` \
                  refer to groups); `regexPattern` + `regexGroupName` + `replacementValue` \
                  replaces only that group of each match; `regexPattern` + `regexGroupName` + \
                  `replacementAttributeName` returns `source` when it has a value and \
                  otherwise that group of the replacement attribute's value. All seven \
                  positions are written, empty ones left blank.",
        examples: &[
            ex(
                r#"Replace([BusinessTitle], "Product Developer", , , "Software Engineer", , )"#,
                r#"{"BusinessTitle": "Product Developer"}"#,
                r#""Software Engineer""#,
            ),
            ex(
                r#"Replace([UserID], "<username>", , , , , "<username>@contoso.com")"#,
                r#"{"UserID": "jsmith"}"#,
                r#""jsmith@contoso.com""#,
            ),
            ex(
                r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , )"#,
                r#"{"telephoneNumber": "+91 9998887777"}"#,
                r#""9998887777""#,
            ),
            ex(
                r#"Replace([mobile], , "[()\\s-]+", , "", , )"#,
                r#"{"mobile": "+1 (999) 888-7777"}"#,
                r#""+19998887777""#,
            ),
            ex(
                r#"Replace([AddressLineData], , "(?<streetNumber>^\\d*)", "streetNumber", "888", , )"#,
                r#"{"AddressLineData": "545 Tremont Street"}"#,
                r#""888 Tremont Street""#,
            ),
            ex(
                r#"Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )"#,
                r#"{"userPrincipalName": "jsmith@contoso.com"}"#,
                r#""jsmith""#,
            ),
            ex(
                r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber", , [mobile], )"#,
                r#"{"telephoneNumber": "", "mobile": "+91 8887779999"}"#,
                r#""8887779999""#,
            ),
            ex(
                r#"Replace([mailNickname], , "[a-zA-Z_]*", , "", , )"#,
                r#"{"mailNickname": "john_doe72"}"#,
                r#""72""#,
            ),
            ex(
                r#"Replace([mail], "@contoso.com", , , "", , )"#,
                r#"{"mail": "john.doe@contoso.com"}"#,
                r#""john.doe""#,
            ),
        ],
    },
    Function {
        name: "SelectUniqueValue",
        signature: "SelectUniqueValue(uniqueValueRule1, uniqueValueRule2, …)",
        params: &[req("uniqueValueRule", S)],
        repeat: Repeat::Last { min: 2 },
        summary: "Evaluates the rules in order and returns the first value not yet taken in \
                  the target (asked of the job's uniqueness check); when every value is \
                  taken the object fails and is retried. Must be the whole expression, of a \
                  mapping applied only on create and not used for matching.",
        examples: &[ex(
            r#"SelectUniqueValue(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [PreferredFirstName], [PreferredLastName]))), "contoso.com"), Join("@", NormalizeDiacritics(StripSpaces(Join(".", Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"), Join("@", NormalizeDiacritics(StripSpaces(Join(".", Mid([PreferredFirstName], 1, 2), [PreferredLastName]))), "contoso.com"))"#,
            r#"{"PreferredFirstName": "John", "PreferredLastName": "Smith"}"#,
            r#""J.Smith@contoso.com""#,
        )],
    },
    Function {
        name: "SingleAppRoleAssignment",
        signature: "SingleAppRoleAssignment([appRoleAssignments])",
        params: &[req("appRoleAssignments", S)],
        repeat: Repeat::None,
        summary: "The name of the one app role assigned (the first when there are several, \
                  which Entra does not support).",
        examples: &[ex(
            "SingleAppRoleAssignment([appRoleAssignments])",
            r#"{"appRoleAssignments": [{"displayName": "Admin", "id": "8a3f"}]}"#,
            r#""Admin""#,
        )],
    },
    Function {
        name: "Split",
        signature: "Split(source, delimiter)",
        params: &[req("source", S), req("delimiter", S)],
        repeat: Repeat::None,
        summary: "Splits a string into a multi-valued attribute at `delimiter`, trimming \
                  spaces around each value as Entra's example shows.",
        examples: &[ex(
            r#"Split([extensionAttribute5], ",")"#,
            r#"{"extensionAttribute5": "PermissionSetOne, PermissionSetTwo"}"#,
            r#"["PermissionSetOne", "PermissionSetTwo"]"#,
        )],
    },
    Function {
        name: "StringFromSID",
        signature: "StringFromSID(sid)",
        params: &[req("sid", S)],
        repeat: Repeat::None,
        summary: "The `S-1-…` text of a binary security identifier given as base64. From \
                  Entra Cloud Sync.",
        examples: &[ex(
            r#"StringFromSID("AQUAAAAAAAUVAAAAoGXPfnhLm1/nfIdwUQQAAA==")"#,
            "{}",
            r#""S-1-5-21-2127521184-1604012920-1887927527-1105""#,
        )],
    },
    Function {
        name: "StripSpaces",
        signature: "StripSpaces(source)",
        params: &[req("source", S)],
        repeat: Repeat::None,
        summary: "Removes every space character (U+0020).",
        examples: &[ex(
            "StripSpaces([displayName])",
            r#"{"displayName": " Mary Ann  Smith "}"#,
            r#""MaryAnnSmith""#,
        )],
    },
    Function {
        name: "Switch",
        signature: "Switch(source, defaultValue, key1, value1, key2, value2, …)",
        params: &[req("source", S), opt("defaultValue", S)],
        repeat: Repeat::Pairs,
        summary: "The value paired with the first key equal to `source` (case-sensitive; a \
                  null source equals the key `\"\"`), else `defaultValue` (null when left \
                  empty). Only the chosen value is evaluated.",
        examples: &[
            ex(
                r#"Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney", "QLD", "Australia/Brisbane", "SA", "Australia/Adelaide")"#,
                r#"{"state": "QLD"}"#,
                r#""Australia/Brisbane""#,
            ),
            ex(
                r#"Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")"#,
                r#"{"statusFlag": "TRUE"}"#,
                r#""1""#,
            ),
            ex(
                r#"Switch([statusFlag], "Default Value", "true", "1", "", "0")"#,
                "{}",
                r#""0""#,
            ),
            ex(
                r#"Switch([country], [country], "", "Other")"#,
                r#"{"country": ""}"#,
                r#""Other""#,
            ),
        ],
    },
    Function {
        name: "ToLower",
        signature: "ToLower(source, culture)",
        params: &[req("source", S), opt("culture", Kind::Culture)],
        repeat: Repeat::None,
        summary: "Lower case, character by character as .NET's invariant culture does; a \
                  Turkish or Azeri `culture` (`tr-TR`) maps `I` to `ı`.",
        examples: &[
            ex(
                r#"ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [PreferredFirstName], [PreferredLastName]))), "contoso.com"))"#,
                r#"{"PreferredFirstName": "John", "PreferredLastName": "Smith"}"#,
                r#""john.smith@contoso.com""#,
            ),
            ex(r#"ToLower("ISTANBUL", "tr-TR")"#, "{}", r#""ıstanbul""#),
        ],
    },
    Function {
        name: "ToUpper",
        signature: "ToUpper(source, culture)",
        params: &[req("source", S), opt("culture", Kind::Culture)],
        repeat: Repeat::None,
        summary: "Upper case, the counterpart of `ToLower` (`ß` stays `ß`, as in .NET).",
        examples: &[ex(
            "ToUpper([countryCode])",
            r#"{"countryCode": "nz"}"#,
            r#""NZ""#,
        )],
    },
    Function {
        name: "Trim",
        signature: "Trim(source)",
        params: &[req("source", S)],
        repeat: Repeat::None,
        summary: "Removes white space at both ends. From Entra Cloud Sync.",
        examples: &[ex(
            "Trim([title])",
            r#"{"title": "  Engineer \t"}"#,
            r#""Engineer""#,
        )],
    },
    Function {
        name: "Word",
        signature: "Word(string, wordNumber, delimiters)",
        params: &[
            req("string", S),
            req("wordNumber", ANY_INT),
            req("delimiters", S),
        ],
        repeat: Repeat::None,
        summary: "The `wordNumber`-th (1-based) word, words being separated by any of the \
                  `delimiters` characters; empty when there are fewer words, `wordNumber` < 1 \
                  or the string is null.",
        examples: &[
            ex(r#"Word("The quick brown fox", 3, " ")"#, "{}", r#""brown""#),
            ex(
                r#"Word("This,string!has&many separators", 3, ",!&#")"#,
                "{}",
                r#""has""#,
            ),
        ],
    },
];

/// Renders the function reference of `docs/mapping-language.md` from [`FUNCTIONS`].
pub fn render_reference() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{EXAMPLE_CONTEXT}\n");
    for f in FUNCTIONS {
        let _ = writeln!(out, "### {}\n", f.name);
        let _ = writeln!(out, "`{}`\n", f.signature);
        let _ = writeln!(out, "{}\n", collapse(f.summary));
        let _ = writeln!(out, "| expression | record | result |");
        let _ = writeln!(out, "|---|---|---|");
        for e in f.examples {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | `{}` |",
                cell(e.expr),
                cell(e.record),
                cell(e.result)
            );
        }
        out.push('\n');
    }
    out
}

/// Source strings are wrapped with `\` continuations; the document wants single spaces.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Escapes a table cell: `|` would end it.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sorted_case_insensitively() {
        for w in FUNCTIONS.windows(2) {
            assert!(
                w[0].name.to_lowercase() < w[1].name.to_lowercase(),
                "{} before {}",
                w[0].name,
                w[1].name
            );
        }
    }

    #[test]
    fn every_function_has_an_example() {
        for f in FUNCTIONS {
            assert!(!f.examples.is_empty(), "{} has no example", f.name);
        }
    }

    #[test]
    fn arity_bounds() {
        let f = |n| lookup(n).unwrap();
        assert_eq!((f("InStr").min_args(), f("InStr").max_args()), (2, Some(4)));
        assert_eq!((f("Switch").min_args(), f("Switch").max_args()), (4, None));
        assert_eq!(f("Replace").min_args(), 1);
        assert_eq!((f("Join").min_args(), f("Join").max_args()), (2, None));
        assert_eq!(f("Guid").max_args(), Some(0));
        assert_eq!(f("Switch").param(5).name, "value");
    }
}
