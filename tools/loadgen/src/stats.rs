//! Latency and throughput summaries.
//!
//! Latencies are kept as a sorted vector of microseconds rather than an HDR histogram: a run
//! records at most a few million samples (a few MB), and an exact percentile of a sorted vector
//! needs no dependency.

use std::time::Duration;

use serde_json::{Value, json};

/// What one worker measured.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Latency of each measured request, in microseconds.
    pub latencies: Vec<u32>,
    pub errors: u64,
    /// Units of work done (users for Bulk, requests otherwise).
    pub units: u64,
    /// The first few error descriptions, to tell a misconfiguration from an overload.
    pub samples: Vec<String>,
}

impl Recorder {
    pub fn ok(&mut self, latency: Duration, units: u64) {
        self.latencies.push(micros(latency));
        self.units += units;
    }

    pub fn error(&mut self, latency: Duration, what: impl FnOnce() -> String) {
        self.latencies.push(micros(latency));
        self.errors += 1;
        if self.samples.len() < 3 {
            self.samples.push(what());
        }
    }

    pub fn merge(&mut self, other: Recorder) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.units += other.units;
        for s in other.samples {
            if self.samples.len() < 3 {
                self.samples.push(s);
            }
        }
    }

    pub fn summary(mut self, elapsed: Duration) -> Summary {
        self.latencies.sort_unstable();
        let secs = elapsed.as_secs_f64().max(1e-9);
        Summary {
            requests: self.latencies.len() as u64,
            errors: self.errors,
            rps: self.latencies.len() as f64 / secs,
            units_per_s: self.units as f64 / secs,
            p50_us: percentile(&self.latencies, 0.50),
            p99_us: percentile(&self.latencies, 0.99),
            max_us: self.latencies.last().copied().unwrap_or(0),
            error_samples: self.samples,
            cpu_us_per_request: None,
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One measured run of one scenario against one target.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    /// Users/s for Bulk; equal to `rps` for the other scenarios.
    pub units_per_s: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    pub error_samples: Vec<String>,
    /// The target's CPU time per request, when its pid is known.
    pub cpu_us_per_request: Option<f64>,
}

impl Summary {
    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "errors": self.errors,
            "rps": round1(self.rps),
            "units_per_s": round1(self.units_per_s),
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "max_us": self.max_us,
            "error_samples": self.error_samples,
            "cpu_us_per_request": self.cpu_us_per_request.map(round1),
        })
    }

    /// The per-metric median of repeated runs (errors are summed: any error matters).
    pub fn median(runs: &[Summary]) -> Summary {
        fn med<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            v[v.len() / 2]
        }
        if runs.is_empty() {
            return Summary::default();
        }
        Summary {
            requests: med(runs.iter().map(|r| r.requests).collect()),
            errors: runs.iter().map(|r| r.errors).sum(),
            rps: med(runs.iter().map(|r| r.rps).collect()),
            units_per_s: med(runs.iter().map(|r| r.units_per_s).collect()),
            p50_us: med(runs.iter().map(|r| r.p50_us).collect()),
            p99_us: med(runs.iter().map(|r| r.p99_us).collect()),
            max_us: med(runs.iter().map(|r| r.max_us).collect()),
            error_samples: runs
                .iter()
                .flat_map(|r| r.error_samples.iter().cloned())
                .take(3)
                .collect(),
            cpu_us_per_request: {
                let c: Vec<f64> = runs.iter().filter_map(|r| r.cpu_us_per_request).collect();
                (!c.is_empty()).then(|| med(c))
            },
        }
    }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `1234` µs as `1.23 ms`, `87` as `87 µs`.
pub fn fmt_us(us: u32) -> String {
    if us >= 1000 {
        format!("{:.2} ms", f64::from(us) / 1000.0)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
