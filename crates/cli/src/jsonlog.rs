//! JSON log lines, written straight into the line buffer.
//!
//! The same objects as `tracing_subscriber`'s JSON format with flattened events:
//! `{"timestamp":…,"level":…,<fields>,"target":…}`, plus `"spans"` (their names) inside a span.
//! That formatter went through serde's map serializer and checked UTF-8 on every write: six
//! percent of a GET's CPU went to the request line (perf, 32 connections). This one appends to
//! one `String`.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use server::render::{push_formatted, push_json_inner, push_json_str};

pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":\"");
        timestamp(&mut line, time::OffsetDateTime::now_utc());
        line.push_str("\",\"level\":\"");
        line.push_str(event.metadata().level().as_str());
        line.push('"');
        event.record(&mut Fields(&mut line));
        if let Some(scope) = ctx.event_scope() {
            line.push_str(",\"spans\":[");
            for (i, span) in scope.from_root().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                push_json_str(&mut line, span.name());
            }
            line.push(']');
        }
        line.push_str(",\"target\":");
        push_json_str(&mut line, event.metadata().target());
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// RFC 3339 in UTC with microseconds, as `tracing_subscriber` writes it, formatted on the
/// stack: seven padded `write!` arguments were most of the line's formatting time.
fn timestamp(out: &mut String, t: time::OffsetDateTime) {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    push_formatted(out, t, FORMAT);
}

/// An event's fields as `,"name":value` members.
struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn key(&mut self, field: &Field) {
        self.0.push(',');
        push_json_str(self.0, field.name());
        self.0.push(':');
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_json_str(self.0, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.0.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        // JSON has no NaN or infinity; serde_json writes null for them too.
        // `Debug` keeps the fraction of a whole number (`1.0`), as serde_json does.
        if value.is_finite() {
            let _ = write!(self.0, "{value:?}");
        } else {
            self.0.push_str("null");
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        // Escaped as it is formatted, without a string of its own first.
        self.0.push('"');
        let _ = write!(Escaped(self.0), "{value:?}");
        self.0.push('"');
    }
}

/// Writes what it is given escaped for the inside of a JSON string.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_json_inner(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }

    fn events() {
        let method = "GET";
        tracing::info!(target: "scimsync::request", tenant = 7u64, method = %method,
            route = "/scim/v2/Users/{id}", status = 200u16, latency_us = 31u64);
        tracing::warn!(error = %"disk \"full\"\n\tnow", delta = -3i64, ok = false, "checkpoint failed");
        tracing::info!(ratio = 0.25f64, whole = 1.0f64, what = ?Some("x"), "ünïcödé \u{1} message");
        let span = tracing::info_span!("job", name = "hr");
        let _in = span.enter();
        tracing::info!("inside");
    }

    /// Every line, parsed, without its timestamp (the two formatters ran at different times).
    fn lines(sink: &Sink) -> Vec<Value> {
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                let t = v.as_object_mut().unwrap().remove("timestamp").unwrap();
                assert!(
                    time::OffsetDateTime::parse(
                        t.as_str().unwrap(),
                        &time::format_description::well_known::Rfc3339
                    )
                    .is_ok(),
                    "{t}"
                );
                v
            })
            .collect()
    }

    #[test]
    fn lines_match_tracing_subscribers_json() {
        let ours = Sink::default();
        let theirs = Sink::default();
        tracing::subscriber::with_default(
            tracing_subscriber::fmt()
                .event_format(JsonLines)
                .with_writer(ours.clone())
                .finish(),
            events,
        );
        tracing::subscriber::with_default(
            tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_writer(theirs.clone())
                .finish(),
            events,
        );
        let (mut ours, theirs) = (lines(&ours), lines(&theirs));
        assert_eq!(ours.len(), 4);
        // Inside a span ours names it; theirs (span list on) would also carry its fields.
        assert_eq!(
            ours[3].as_object_mut().unwrap().remove("spans"),
            Some(serde_json::json!(["job"]))
        );
        for (a, b) in ours.iter().zip(&theirs) {
            let mut b = b.clone();
            b.as_object_mut().unwrap().remove("spans");
            assert_eq!(a, &b);
            // Same member order too: log readers see the same lines.
            let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(a), keys(&b));
        }
    }
}

#[cfg(test)]
mod timestamp_tests {
    use time::macros::datetime;

    #[test]
    fn timestamps_are_padded_like_rfc_3339_with_microseconds() {
        for (t, want) in [
            (
                datetime!(2026-12-07 07:05:09.000_042 UTC),
                "2026-12-07T07:05:09.000042Z",
            ),
            (
                datetime!(0987-01-02 00:00:00 UTC),
                "0987-01-02T00:00:00.000000Z",
            ),
            (
                datetime!(9999-12-31 23:59:59.999_999 UTC),
                "9999-12-31T23:59:59.999999Z",
            ),
        ] {
            let mut out = String::new();
            super::timestamp(&mut out, t);
            assert_eq!(out, want);
        }
    }
}
