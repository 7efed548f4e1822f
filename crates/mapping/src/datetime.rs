//! Dates the way Entra's functions read and write them: .NET custom format strings
//! (`yyyy-MM-ddzzz`, `M/d/yyyy hh:mm:ss tt`), the `M/d/yyyy h:mm:ss tt` text that `Now`,
//! `CDate` and `DateAdd` return, and AD's FILETIME integers.
//!
//! Decisions where .NET leaves room:
//!
//! * Parsing keeps the offset it read (DateTimeOffset semantics) instead of converting to the
//!   server's local time as `DateTime.ParseExact` does. Entra's documented Workday recipe
//!   `FormatDateTime([ContractEndDate], , "yyyy-MM-ddzzz", "yyyy-MM-dd")` only gives the
//!   contract's own date that way; `AdjustToUniversal` still converts when asked.
//! * The server's local time zone is UTC: `AssumeLocal` and `AssumeUniversal` are the same, and
//!   a value with no offset writes `zzz` as `+00:00`.
//! * Names of months and days are the invariant culture's (English).
//! * Two-digit years follow .NET's current Gregorian window: `00`–`49` are 2000–2049.

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A parsed date: the wall-clock fields and, when the text had one, its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub local: PrimitiveDateTime,
    pub offset: Option<UtcOffset>,
}

impl Parsed {
    /// The instant, taking a missing offset as UTC.
    pub fn to_utc(self) -> OffsetDateTime {
        self.local
            .assume_offset(self.offset.unwrap_or(UtcOffset::UTC))
            .to_offset(UtcOffset::UTC)
    }

    fn utc(dt: OffsetDateTime) -> Parsed {
        let dt = dt.to_offset(UtcOffset::UTC);
        Parsed {
            local: PrimitiveDateTime::new(dt.date(), dt.time()),
            offset: Some(UtcOffset::UTC),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Entra's date text, `M/d/yyyy h:mm:ss tt`, e.g. `3/16/2020 7:00:00 AM`.
pub fn render_default(dt: OffsetDateTime) -> String {
    let dt = dt.to_offset(UtcOffset::UTC);
    let (h12, ampm) = twelve_hour(dt.hour());
    format!(
        "{}/{}/{} {}:{:02}:{:02} {}",
        u8::from(dt.month()),
        dt.day(),
        dt.year(),
        h12,
        dt.minute(),
        dt.second(),
        ampm
    )
}

fn twelve_hour(h: u8) -> (u8, &'static str) {
    let ampm = if h < 12 { "AM" } else { "PM" };
    let h12 = match h % 12 {
        0 => 12,
        x => x,
    };
    (h12, ampm)
}

/// One element of a .NET custom format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    /// A run of a specifier letter (`yyyy` is `('y', 4)`).
    Spec(char, usize),
    Literal(String),
}

/// Expands a standard one-letter format (`o`, `s`, `u`, …) to its invariant-culture pattern.
fn standard(format: &str) -> Option<&'static str> {
    Some(match format {
        "d" => "MM/dd/yyyy",
        "D" => "dddd, dd MMMM yyyy",
        "f" => "dddd, dd MMMM yyyy HH:mm",
        "F" => "dddd, dd MMMM yyyy HH:mm:ss",
        "g" => "MM/dd/yyyy HH:mm",
        "G" => "MM/dd/yyyy HH:mm:ss",
        "M" | "m" => "MMMM dd",
        "O" | "o" => "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
        "R" | "r" => "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
        "s" => "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
        "t" => "HH:mm",
        "T" => "HH:mm:ss",
        "u" => "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
        "Y" | "y" => "yyyy MMMM",
        _ => return None,
    })
}

/// Splits a format string into fields, rejecting what .NET rejects (an unclosed quote, more
/// than seven fraction digits, a lone `%` or `\` at the end).
fn fields(format: &str) -> Result<Vec<Field>, String> {
    let format = standard(format).unwrap_or(format);
    let chars: Vec<char> = format.chars().collect();
    let mut out: Vec<Field> = Vec::new();
    let push_lit = |out: &mut Vec<Field>, c: char| match out.last_mut() {
        Some(Field::Literal(s)) => s.push(c),
        _ => out.push(Field::Literal(c.to_string())),
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            'd' | 'f' | 'F' | 'h' | 'H' | 'K' | 'm' | 'M' | 's' | 't' | 'y' | 'z' | 'g' => {
                let mut n = 1;
                while i + n < chars.len() && chars[i + n] == c {
                    n += 1;
                }
                if matches!(c, 'f' | 'F') && n > 7 {
                    return Err(format!(
                        "'{}' asks for more than 7 fraction digits",
                        "f".repeat(n)
                    ));
                }
                out.push(Field::Spec(c, n));
                i += n;
            }
            '\'' | '"' => {
                let Some(len) = chars[i + 1..].iter().position(|&q| q == c) else {
                    return Err(format!("the quote {c} in the format is never closed"));
                };
                for &q in &chars[i + 1..i + 1 + len] {
                    push_lit(&mut out, q);
                }
                i += len + 2;
            }
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return Err("the format ends with a lone '\\'".into());
                };
                push_lit(&mut out, next);
                i += 2;
            }
            '%' => {
                if i + 1 >= chars.len() {
                    return Err("the format ends with a lone '%'".into());
                }
                i += 1;
            }
            _ => {
                push_lit(&mut out, c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Checks a format string without a value, for the checker.
pub fn check_format(format: &str) -> Result<(), String> {
    if format.is_empty() {
        return Err("the date format is empty".into());
    }
    fields(format).map(|_| ())
}

/// `DateTimeStyles` flags that change what Entra's `FormatDateTime` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Styles {
    pub adjust_to_universal: bool,
    pub assume_universal: bool,
}

const STYLE_NAMES: &[&str] = &[
    "None",
    "AllowLeadingWhite",
    "AllowTrailingWhite",
    "AllowInnerWhite",
    "AllowWhiteSpaces",
    "NoCurrentDateDefault",
    "AdjustToUniversal",
    "AssumeLocal",
    "AssumeUniversal",
    "RoundtripKind",
];

/// Parses `DateTimeStyles` names separated by commas or `|` (`"AdjustToUniversal, AssumeUniversal"`).
pub fn parse_styles(text: &str) -> Result<Styles, String> {
    let mut styles = Styles::default();
    for name in text
        .split([',', '|'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let name = name.strip_prefix("DateTimeStyles.").unwrap_or(name);
        let Some(known) = STYLE_NAMES.iter().find(|k| k.eq_ignore_ascii_case(name)) else {
            return Err(format!(
                "unknown DateTimeStyles value '{name}'; known: {}",
                STYLE_NAMES.join(", ")
            ));
        };
        match *known {
            "AdjustToUniversal" => styles.adjust_to_universal = true,
            "AssumeUniversal" | "AssumeLocal" => styles.assume_universal = true,
            _ => {}
        }
    }
    Ok(styles)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let rest = &self.s[self.pos..];
        let n = rest
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if n < min {
            return None;
        }
        let v = rest[..n].parse().ok()?;
        self.pos += n;
        Some(v)
    }

    fn eat_ci(&mut self, word: &str) -> bool {
        let rest = &self.s[self.pos..];
        if rest.len() >= word.len()
            && rest.is_char_boundary(word.len())
            && rest[..word.len()].eq_ignore_ascii_case(word)
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn name(&mut self, names: &[&str], abbreviated: bool) -> Option<usize> {
        names.iter().position(|n| {
            let n = if abbreviated { &n[..3] } else { n };
            self.eat_ci(n)
        })
    }

    fn offset(&mut self, need_minutes: bool) -> Option<UtcOffset> {
        let sign = match self.s[self.pos..].chars().next()? {
            '+' => 1,
            '-' | '\u{2212}' => -1,
            _ => return None,
        };
        self.pos += self.s[self.pos..].chars().next()?.len_utf8();
        let h = self.digits(1, 2)? as i8;
        let mut m = 0;
        if self.s[self.pos..].starts_with(':') {
            self.pos += 1;
            m = self.digits(2, 2)? as i8;
        } else if need_minutes {
            return None;
        }
        UtcOffset::from_hms(sign * h, sign * m, 0).ok()
    }
}

/// `DateTime.ParseExact` with one format (Entra's `FormatDateTime` input side).
pub fn parse_exact(input: &str, format: &str, styles: Styles) -> Result<Parsed, String> {
    let fields = fields(format)?;
    let text = input.trim();
    let mut c = Cursor { s: text, pos: 0 };
    let fail = || format!("\"{input}\" does not match the date format \"{format}\"");
    let (mut year, mut month, mut day) = (None, None, None);
    let (mut hour, mut minute, mut second, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset = None;
    for field in &fields {
        match *field {
            Field::Literal(ref lit) => {
                for ch in lit.chars() {
                    if ch.is_whitespace() {
                        while c.s[c.pos..].starts_with(char::is_whitespace) {
                            c.pos += c.s[c.pos..].chars().next().map_or(1, char::len_utf8);
                        }
                    } else if c.s[c.pos..].starts_with(ch) {
                        c.pos += ch.len_utf8();
                    } else {
                        return Err(fail());
                    }
                }
            }
            Field::Spec(ch, n) => match (ch, n) {
                ('y', 1 | 2) => {
                    let y = c.digits(n, 2).ok_or_else(fail)? as i32;
                    year = Some(if y < 50 { 2000 + y } else { 1900 + y });
                }
                ('y', _) => {
                    year = Some(c.digits(n.clamp(4, 5), n.clamp(4, 5)).ok_or_else(fail)? as i32)
                }
                ('M', 1 | 2) => month = Some(c.digits(n, 2).ok_or_else(fail)? as u8),
                ('M', _) => {
                    month = Some(c.name(&MONTHS, n == 3).ok_or_else(fail)? as u8 + 1);
                }
                ('d', 1 | 2) => day = Some(c.digits(n, 2).ok_or_else(fail)? as u8),
                ('d', _) => {
                    c.name(&DAYS, n == 3).ok_or_else(fail)?;
                }
                ('h' | 'H', _) => hour = c.digits(n.min(2), 2).ok_or_else(fail)?,
                ('m', _) => minute = c.digits(n.min(2), 2).ok_or_else(fail)?,
                ('s', _) => second = c.digits(n.min(2), 2).ok_or_else(fail)?,
                ('f' | 'F', _) => {
                    let start = c.pos;
                    let min = if ch == 'f' { n } else { 0 };
                    if let Some(v) = c.digits(min, n) {
                        let read = c.pos - start;
                        nanos = v * 10u32.pow(9 - read as u32);
                    } else if ch == 'f' {
                        return Err(fail());
                    }
                }
                ('t', _) => {
                    let (am, pm_word) = if n == 1 { ("A", "P") } else { ("AM", "PM") };
                    if c.eat_ci(am) {
                        pm = Some(false);
                    } else if c.eat_ci(pm_word) {
                        pm = Some(true);
                    } else {
                        return Err(fail());
                    }
                }
                ('z', _) => offset = Some(c.offset(n >= 3).ok_or_else(fail)?),
                ('K', _) => {
                    if c.eat_ci("Z") {
                        offset = Some(UtcOffset::UTC);
                    } else if c.s[c.pos..].starts_with(['+', '-']) {
                        offset = Some(c.offset(true).ok_or_else(fail)?);
                    }
                }
                ('g', _) => {
                    if !c.eat_ci("A.D.") {
                        c.eat_ci("AD");
                    }
                }
                _ => return Err(fail()),
            },
        }
    }
    if c.pos != text.len() {
        return Err(fail());
    }
    if let Some(pm) = pm {
        if hour == 0 || hour > 12 {
            return Err(fail());
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    let month = Month::try_from(month.unwrap_or(1)).map_err(|_| fail())?;
    let date = Date::from_calendar_date(year.unwrap_or(1), month, day.unwrap_or(1))
        .map_err(|_| format!("\"{input}\" is not a valid date"))?;
    let time = Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos)
        .map_err(|_| format!("\"{input}\" is not a valid time of day"))?;
    let mut parsed = Parsed {
        local: PrimitiveDateTime::new(date, time),
        offset,
    };
    if parsed.offset.is_none() && styles.assume_universal {
        parsed.offset = Some(UtcOffset::UTC);
    }
    if styles.adjust_to_universal {
        parsed = Parsed::utc(parsed.to_utc());
    }
    Ok(parsed)
}

/// `DateTime.ToString(format)` with the invariant culture.
pub fn format(value: Parsed, format: &str) -> Result<String, String> {
    let fields = fields(format)?;
    let dt = value.local;
    let off = value.offset;
    let mut out = String::new();
    for field in &fields {
        match *field {
            Field::Literal(ref s) => out.push_str(s),
            Field::Spec(ch, n) => {
                let pad = |v: i64, w: usize| format!("{v:0w$}");
                let s = match (ch, n) {
                    ('y', 1) => (dt.year() % 100).to_string(),
                    ('y', 2) => pad(i64::from(dt.year() % 100), 2),
                    ('y', _) => pad(i64::from(dt.year()), n),
                    ('M', 1 | 2) => pad(i64::from(u8::from(dt.month())), n),
                    ('M', 3) => MONTHS[usize::from(u8::from(dt.month())) - 1][..3].to_owned(),
                    ('M', _) => MONTHS[usize::from(u8::from(dt.month())) - 1].to_owned(),
                    ('d', 1 | 2) => pad(i64::from(dt.day()), n),
                    ('d', 3) => {
                        DAYS[usize::from(dt.weekday().number_days_from_monday())][..3].to_owned()
                    }
                    ('d', _) => {
                        DAYS[usize::from(dt.weekday().number_days_from_monday())].to_owned()
                    }
                    ('h', _) => pad(i64::from(twelve_hour(dt.hour()).0), n.min(2)),
                    ('H', _) => pad(i64::from(dt.hour()), n.min(2)),
                    ('m', _) => pad(i64::from(dt.minute()), n.min(2)),
                    ('s', _) => pad(i64::from(dt.second()), n.min(2)),
                    ('f' | 'F', _) => {
                        let digits = format!("{:09}", dt.nanosecond());
                        let s = &digits[..n];
                        if ch == 'F' {
                            s.trim_end_matches('0').to_owned()
                        } else {
                            s.to_owned()
                        }
                    }
                    ('t', 1) => twelve_hour(dt.hour()).1[..1].to_owned(),
                    ('t', _) => twelve_hour(dt.hour()).1.to_owned(),
                    ('z', _) => {
                        let o = off.unwrap_or(UtcOffset::UTC);
                        let sign = if o.is_negative() { '-' } else { '+' };
                        let (h, m, _) = o.as_hms();
                        match n {
                            1 => format!("{sign}{}", h.unsigned_abs()),
                            2 => format!("{sign}{:02}", h.unsigned_abs()),
                            _ => format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs()),
                        }
                    }
                    ('K', _) => match off {
                        None => String::new(),
                        Some(o) if o.is_utc() => "Z".into(),
                        Some(o) => {
                            let sign = if o.is_negative() { '-' } else { '+' };
                            let (h, m, _) = o.as_hms();
                            format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
                        }
                    },
                    ('g', _) => "A.D.".into(),
                    _ => String::new(),
                };
                out.push_str(&s);
            }
        }
    }
    Ok(out)
}

/// Formats an instant (a `DateTime` value) in UTC.
pub fn format_utc(dt: OffsetDateTime, fmt: &str) -> Result<String, String> {
    format(Parsed::utc(dt), fmt)
}

/// Reads the date texts Entra's date functions accept without a format: ISO 8601 with or
/// without time and offset (`2020-03-16-07:00`, `2009-06-15T01:45:30-07:00`,
/// `2020-12-31 23:59:59-08:00`, `20150123105347.1Z` is not one) and Entra's own
/// `M/d/yyyy h:mm:ss tt`. A missing offset means UTC.
pub fn parse_loose(input: &str) -> Option<OffsetDateTime> {
    let s = input.trim();
    parse_iso(s).or_else(|| parse_us(s)).map(Parsed::to_utc)
}

fn parse_iso(s: &str) -> Option<Parsed> {
    let mut c = Cursor { s, pos: 0 };
    let year = c.digits(4, 4)? as i32;
    let dash = c.eat_ci("-");
    let month = c.digits(2, 2)? as u8;
    if dash && !c.eat_ci("-") {
        return None;
    }
    let day = c.digits(2, 2)? as u8;
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    let mut time = Time::MIDNIGHT;
    if c.eat_ci("T")
        || (c.s[c.pos..].starts_with(' ') && {
            c.pos += 1;
            true
        })
    {
        let h = c.digits(2, 2)? as u8;
        c.eat_ci(":");
        let m = c.digits(2, 2)? as u8;
        let mut sec = 0;
        let mut nanos = 0;
        if c.eat_ci(":") {
            sec = c.digits(2, 2)? as u8;
            if c.eat_ci(".") || c.eat_ci(",") {
                let start = c.pos;
                let v = c.digits(1, 9)?;
                nanos = v * 10u32.pow(9 - (c.pos - start) as u32);
                // .NET reads up to 7 digits; more are ignored rather than rejected.
                while c.s[c.pos..].starts_with(|ch: char| ch.is_ascii_digit()) {
                    c.pos += 1;
                }
            }
        }
        time = Time::from_hms_nano(h, m, sec, nanos).ok()?;
    }
    let rest = c.s[c.pos..].trim_start();
    c.pos = c.s.len() - rest.len();
    let offset = if rest.is_empty() {
        None
    } else if rest.eq_ignore_ascii_case("Z") {
        c.pos += 1;
        Some(UtcOffset::UTC)
    } else {
        let o = c.offset(false)?;
        // `+hhmm` without a colon.
        let o = if c.pos + 2 == c.s.len() && o.minutes_past_hour() == 0 {
            let m = c.digits(2, 2)? as i8;
            let sign = if o.is_negative() { -1 } else { 1 };
            UtcOffset::from_hms(o.whole_hours(), sign * m, 0).ok()?
        } else {
            o
        };
        Some(o)
    };
    (c.pos == c.s.len()).then_some(Parsed {
        local: PrimitiveDateTime::new(date, time),
        offset,
    })
}

fn parse_us(s: &str) -> Option<Parsed> {
    for f in [
        "M/d/yyyy h:mm:ss tt",
        "M/d/yyyy H:mm:ss",
        "M/d/yyyy h:mm tt",
        "M/d/yyyy",
    ] {
        if let Ok(p) = parse_exact(s, f, Styles::default()) {
            return Some(p);
        }
    }
    None
}

/// Seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET: i128 = 11_644_473_600;

/// AD's FILETIME (100-ns ticks since 1601-01-01 UTC) to an instant.
pub fn from_filetime(ticks: i64) -> Option<OffsetDateTime> {
    let nanos = (i128::from(ticks) - FILETIME_UNIX_OFFSET * 10_000_000) * 100;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// An instant to AD's FILETIME.
pub fn to_filetime(dt: OffsetDateTime) -> Option<i64> {
    let ticks = dt.unix_timestamp_nanos() / 100 + FILETIME_UNIX_OFFSET * 10_000_000;
    i64::try_from(ticks).ok()
}

/// `DateAdd`: adds `n` intervals (`yyyy`, `q`, `m`, `y`, `d`, `w`, `ww`, `h`, `n`, `s`).
/// Months and years keep the day, clamped to the month's end, as .NET's `AddMonths` does.
pub fn add(interval: &str, n: i64, dt: OffsetDateTime) -> Option<OffsetDateTime> {
    let months = |k: i64| -> Option<OffsetDateTime> {
        let total = i64::from(dt.year()) * 12 + i64::from(u8::from(dt.month())) - 1 + k;
        let year = i32::try_from(total.div_euclid(12)).ok()?;
        let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
        let day = dt.day().min(time::util::days_in_month(month, year));
        let date = Date::from_calendar_date(year, month, day).ok()?;
        Some(dt.replace_date(date))
    };
    let secs = |unit: i64| -> Option<OffsetDateTime> {
        dt.checked_add(Duration::seconds(n.checked_mul(unit)?))
    };
    match interval {
        "yyyy" => months(n.checked_mul(12)?),
        "q" => months(n.checked_mul(3)?),
        "m" => months(n),
        "y" | "d" | "w" => secs(86_400),
        "ww" => secs(7 * 86_400),
        "h" => secs(3_600),
        "n" => secs(60),
        "s" => secs(1),
        _ => None,
    }
}

/// The intervals `DateAdd` and `DateDiff` know.
pub const INTERVALS: &[&str] = &["yyyy", "q", "m", "y", "d", "w", "ww", "h", "n", "s"];

/// `DateDiff`: the number of interval boundaries crossed from `a` to `b`, as VBA counts them
/// (calendar years, months and Sunday-started weeks; whole days by date).
pub fn diff(interval: &str, a: OffsetDateTime, b: OffsetDateTime) -> Option<i64> {
    let a = a.to_offset(UtcOffset::UTC);
    let b = b.to_offset(UtcOffset::UTC);
    let days = |d: Date| i64::from(d.to_julian_day());
    let secs = |d: OffsetDateTime| d.unix_timestamp();
    let month_index = |d: OffsetDateTime| i64::from(d.year()) * 12 + i64::from(u8::from(d.month()));
    Some(match interval {
        "yyyy" => i64::from(b.year()) - i64::from(a.year()),
        "q" => {
            let q = |d: OffsetDateTime| {
                i64::from(d.year()) * 4 + (i64::from(u8::from(d.month())) - 1) / 3
            };
            q(b) - q(a)
        }
        "m" => month_index(b) - month_index(a),
        "y" | "d" => days(b.date()) - days(a.date()),
        "w" => (days(b.date()) - days(a.date())) / 7,
        "ww" => {
            let week = |d: Date| {
                (days(d) - i64::from(d.weekday().number_days_from_sunday())).div_euclid(7)
            };
            week(b.date()) - week(a.date())
        }
        "h" => secs(b).div_euclid(3_600) - secs(a).div_euclid(3_600),
        "n" => secs(b).div_euclid(60) - secs(a).div_euclid(60),
        "s" => secs(b) - secs(a),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn fmt(input: &str, inf: &str, outf: &str) -> String {
        format(parse_exact(input, inf, Styles::default()).unwrap(), outf).unwrap()
    }

    #[test]
    fn entra_format_examples() {
        assert_eq!(
            fmt("20150123105347.1Z", "yyyyMMddHHmmss.fZ", "yyyy-MM-dd"),
            "2015-01-23"
        );
        assert_eq!(
            fmt("2020-12-31-08:00", "yyyy-MM-ddzzz", "yyyy-MM-dd"),
            "2020-12-31"
        );
        assert_eq!(
            fmt(
                "12/31/2020 11:30:00 PM",
                "M/d/yyyy hh:mm:ss tt",
                "yyyy-MM-dd HH:mm"
            ),
            "2020-12-31 23:30"
        );
        assert_eq!(
            fmt("2020-12-31T23:59:59.1234567+02:00", "o", "o"),
            "2020-12-31T23:59:59.1234567+02:00"
        );
        assert_eq!(
            fmt("01 Mar 2021", "dd MMM yyyy", "dddd, MMMM d, yy"),
            "Monday, March 1, 21"
        );
    }

    #[test]
    fn adjust_to_universal_converts() {
        let styles = parse_styles("AdjustToUniversal").unwrap();
        let p = parse_exact("2020-12-31-08:00", "yyyy-MM-ddzzz", styles).unwrap();
        assert_eq!(
            format(p, "yyyy-MM-dd HH:mm K").unwrap(),
            "2020-12-31 08:00 Z"
        );
        assert!(parse_styles("Sideways").is_err());
    }

    #[test]
    fn bad_formats_are_reported() {
        assert_eq!(
            check_format("yyyy'MM").unwrap_err(),
            "the quote ' in the format is never closed"
        );
        assert!(check_format("ffffffff").is_err());
        assert!(parse_exact("2020-13-01", "yyyy-MM-dd", Styles::default()).is_err());
        assert!(parse_exact("2020-12-01x", "yyyy-MM-dd", Styles::default()).is_err());
    }

    #[test]
    fn loose_parsing_reads_entra_inputs() {
        assert_eq!(
            parse_loose("2020-03-16-07:00"),
            Some(datetime!(2020-03-16 07:00 UTC))
        );
        assert_eq!(
            parse_loose("2021-06-30+08:00"),
            Some(datetime!(2021-06-29 16:00 UTC))
        );
        assert_eq!(
            parse_loose("2009-06-15T01:45:30-07:00"),
            Some(datetime!(2009-06-15 08:45:30 UTC))
        );
        assert_eq!(
            parse_loose("8/25/2021 5:41:18 PM"),
            Some(datetime!(2021-08-25 17:41:18 UTC))
        );
        assert_eq!(
            parse_loose("2021-08-24"),
            Some(datetime!(2021-08-24 0:00 UTC))
        );
        assert_eq!(
            parse_loose("2020-12-31 23:59:59-0800"),
            Some(datetime!(2021-01-01 07:59:59 UTC))
        );
        assert_eq!(parse_loose("yesterday"), None);
    }

    #[test]
    fn filetime_round_trip() {
        let dt = from_filetime(129_699_324_000_000_000).unwrap();
        assert_eq!(dt, datetime!(2012-01-01 23:00 UTC));
        assert_eq!(to_filetime(dt), Some(129_699_324_000_000_000));
    }

    #[test]
    fn date_add_clamps_month_ends() {
        let d = datetime!(2020-01-31 10:00 UTC);
        assert_eq!(add("m", 1, d), Some(datetime!(2020-02-29 10:00 UTC)));
        assert_eq!(add("yyyy", -1, d), Some(datetime!(2019-01-31 10:00 UTC)));
        assert_eq!(add("ww", 2, d), Some(datetime!(2020-02-14 10:00 UTC)));
        assert_eq!(add("fortnight", 2, d), None);
    }

    #[test]
    fn render_default_is_entra_text() {
        assert_eq!(
            render_default(datetime!(2021-07-02 15:33:38 UTC)),
            "7/2/2021 3:33:38 PM"
        );
        assert_eq!(
            render_default(datetime!(2021-07-02 00:05:00 UTC)),
            "7/2/2021 12:05:00 AM"
        );
    }
}
