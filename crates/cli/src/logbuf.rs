//! Log output that costs no system call per line.
//!
//! The server logs a line per request. Written straight to stderr, each line was a `write(2)`
//! on the request's thread, about a fourteenth of a GET's CPU (perf, 32 connections). Lines now
//! gather in memory and a thread writes them out every [`FLUSH_INTERVAL`]; a request that finds
//! [`FLUSH_BYTES`] gathered writes them itself, so memory stays bounded whatever the rate. A
//! killed process loses at most the last interval's lines; one that stops writes them all (see
//! [`Flush`]). Lines keep their order: whoever writes out takes the whole buffer while holding
//! the output.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Longest a line waits in memory.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Gathered bytes past which the thread that logs writes them out itself.
const FLUSH_BYTES: usize = 64 * 1024;

/// Buffered stderr for `tracing_subscriber::fmt().with_writer(..)`.
#[derive(Clone)]
pub struct Buffered(Arc<Shared>);

struct Shared {
    lines: Mutex<Vec<u8>>,
    /// Held while writing out, so that two flushes cannot swap their lines' order.
    out: Mutex<Box<dyn Write + Send>>,
}

/// Writes out what is gathered when dropped: hold it for as long as the program logs.
pub struct Flush(Arc<Shared>);

impl Drop for Flush {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// The writer and its guard; starts the thread that writes out every [`FLUSH_INTERVAL`].
pub fn stderr() -> (Buffered, Flush) {
    let shared = Arc::new(Shared {
        lines: Mutex::new(Vec::with_capacity(FLUSH_BYTES)),
        out: Mutex::new(Box::new(io::stderr())),
    });
    let weak = Arc::downgrade(&shared);
    // Without the thread lines would wait for the next full buffer: still correct, only late.
    let _ = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || {
            while let Some(shared) = weak.upgrade() {
                shared.flush();
                drop(shared);
                std::thread::sleep(FLUSH_INTERVAL);
            }
        });
    (Buffered(Arc::clone(&shared)), Flush(shared))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn flush(&self) {
        let mut out = lock(&self.out);
        let lines = std::mem::replace(&mut *lock(&self.lines), Vec::with_capacity(FLUSH_BYTES));
        if !lines.is_empty() {
            // Nowhere to report a failing stderr.
            let _ = out.write_all(&lines);
        }
    }
}

/// One event's line, handed over whole by the formatter.
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let full = {
            let mut lines = lock(&self.0.lines);
            lines.extend_from_slice(buf);
            lines.len() >= FLUSH_BYTES
        };
        if full {
            self.0.flush();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffered {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_wait_in_memory_in_order_and_bounded() {
        let sink = Sink::default();
        let shared = Shared {
            lines: Mutex::new(Vec::new()),
            out: Mutex::new(Box::new(sink.clone())),
        };
        let mut line = Line(&shared);
        line.write_all(b"one\n").unwrap();
        line.write_all(b"two\n").unwrap();
        assert!(lock(&sink.0).is_empty(), "a line cost a write");
        // Past the bound the logging thread writes everything out itself.
        let long = [b'x'; FLUSH_BYTES];
        line.write_all(&long).unwrap();
        assert!(lock(&shared.lines).is_empty());
        line.write_all(b"three\n").unwrap();
        shared.flush();
        let mut expected = b"one\ntwo\n".to_vec();
        expected.extend_from_slice(&long);
        expected.extend_from_slice(b"three\n");
        assert!(*lock(&sink.0) == expected);
    }
}
