//! Time and randomness, injected.
//!
//! Backoff, `Retry-After`, the rate limit and OAuth token expiry all depend on the clock, and
//! backoff on a random jitter. Both come in through these traits so that tests can run a whole
//! retry schedule in microseconds and assert the exact delays ([`ManualClock`] records every
//! sleep and advances its own time instead of waiting). Socket timeouts are the exception: they
//! are enforced by reqwest on the runtime's timer, because a fake clock cannot interrupt a read.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A boxed future of `()`, the result of [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The source of time for everything the client schedules.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Monotonic time, for intervals (backoff, rate limit, token lifetime).
    fn now(&self) -> Instant;
    /// Wall-clock time, only for `Retry-After` given as an HTTP date.
    fn system_time(&self) -> SystemTime;
    /// Resolves after `duration` of this clock's time.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock: tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that never waits: `sleep` advances its time at once and records the duration.
///
/// For tests of schedules (and for dry runs that must not block). Cloning shares the same
/// time, so a test keeps one handle and gives another to the client.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    start: Instant,
    start_wall: SystemTime,
    offset: Duration,
    sleeps: Vec<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock {
            inner: Arc::new(Mutex::new(ManualState {
                start: Instant::now(),
                start_wall: SystemTime::now(),
                offset: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut ManualState) -> T) -> T {
        // A panic in another test thread while holding the lock leaves the state intact.
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    /// Moves time forward without recording a sleep (time passing between calls).
    pub fn advance(&self, by: Duration) {
        self.with(|s| s.offset += by);
    }

    /// Every duration slept so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.with(|s| s.sleeps.clone())
    }

    /// Time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.with(|s| s.offset)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.with(|s| s.start + s.offset)
    }

    fn system_time(&self) -> SystemTime {
        self.with(|s| s.start_wall + s.offset)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.with(|s| {
            s.offset += duration;
            s.sleeps.push(duration);
        });
        // Yield once so that a loop of zero-length sleeps still lets other tasks run.
        Box::pin(tokio::task::yield_now())
    }
}

/// The random part of backoff.
pub trait Jitter: Send + Sync + fmt::Debug + 'static {
    /// A number in `[0, 1)`.
    fn fraction(&self) -> f64;
}

/// Uniform jitter from the thread-local generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn fraction(&self) -> f64 {
        rand::random::<f64>()
    }
}

/// The same fraction every time, so tests can state the exact backoff.
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn fraction(&self) -> f64 {
        self.0.clamp(0.0, 1.0)
    }
}
