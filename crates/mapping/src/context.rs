//! What an expression needs from outside: the time, randomness, uniqueness in the target and
//! the job's default domain.
//!
//! Passing these in instead of reading the clock and the OS random source makes every result
//! reproducible: tests and plans use [`FixedContext`], and a plan shows the same `Guid()` it
//! would show again.

use std::collections::HashSet;

use time::OffsetDateTime;

/// The outside state expressions may consult.
pub trait Context {
    /// The current instant, for `Now()`.
    fn now(&self) -> OffsetDateTime;
    /// 64 random bits, for `Guid()` and `RandomString()`.
    fn random_u64(&mut self) -> u64;
    /// Whether `value` is still free for the target attribute `target`, for
    /// `SelectUniqueValue`. The engine answers from the target (or its cache of it).
    fn is_unique(&mut self, target: &str, value: &str) -> bool;
    /// The job's default domain, for `DefaultDomain()`.
    fn default_domain(&self) -> Option<&str>;
}

/// A reproducible context: a fixed clock, a seeded random source and a set of taken values.
#[derive(Debug, Clone)]
pub struct FixedContext {
    pub now: OffsetDateTime,
    state: u64,
    /// Values already present in the target, whatever the attribute.
    pub taken: HashSet<String>,
    pub default_domain: Option<String>,
}

impl FixedContext {
    pub fn new(now: OffsetDateTime, seed: u64) -> FixedContext {
        FixedContext {
            now,
            state: seed,
            taken: HashSet::new(),
            default_domain: None,
        }
    }

    /// Marks values as present in the target.
    pub fn with_taken<I: IntoIterator<Item = S>, S: Into<String>>(mut self, taken: I) -> Self {
        self.taken.extend(taken.into_iter().map(Into::into));
        self
    }

    pub fn with_default_domain(mut self, domain: impl Into<String>) -> Self {
        self.default_domain = Some(domain.into());
        self
    }

    /// The context the documented examples run in (see [`crate::functions::EXAMPLE_CONTEXT`]).
    pub fn documentation() -> FixedContext {
        FixedContext::new(time::macros::datetime!(2021-08-25 17:41:18 UTC), 7)
            .with_default_domain("contoso.com")
            .with_taken(["John.Smith@contoso.com"])
    }
}

impl Context for FixedContext {
    fn now(&self) -> OffsetDateTime {
        self.now
    }

    /// SplitMix64: tiny, fast and good enough to spread test values; not for secrets.
    fn random_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn is_unique(&mut self, _target: &str, value: &str) -> bool {
        !self.taken.contains(value)
    }

    fn default_domain(&self) -> Option<&str> {
        self.default_domain.as_deref()
    }
}

/// The production context: the system clock and the OS-seeded thread random source
/// (`RandomString` makes initial passwords). Uniqueness is answered from a set the caller
/// fills from the target before a cycle.
#[derive(Debug, Clone, Default)]
pub struct SystemContext {
    pub taken: HashSet<String>,
    pub default_domain: Option<String>,
}

impl Context for SystemContext {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn random_u64(&mut self) -> u64 {
        rand::random()
    }

    fn is_unique(&mut self, _target: &str, value: &str) -> bool {
        !self.taken.contains(value)
    }

    fn default_domain(&self) -> Option<&str> {
        self.default_domain.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_context_repeats_itself() {
        let mut a = FixedContext::documentation();
        let mut b = FixedContext::documentation();
        let xs: Vec<u64> = (0..4).map(|_| a.random_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.random_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
        assert!(!a.is_unique("userName", "John.Smith@contoso.com"));
        assert!(a.is_unique("userName", "J.Smith@contoso.com"));
    }
}
