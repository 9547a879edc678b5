//! Counters, latency histograms and the server's memory, shared by every task of a run.
//!
//! Owns: what is measured (pushes, samples, bytes, errors by status, push and scrape latency in
//! hdrhistograms, server RSS from `/proc/<pid>/status`), the per-second progress line and the
//! final summary (text or JSON).
//! Does not own: producing the load (see `run`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::http::{Outcome, Scrape};

/// Error texts kept for the summary.
const ERROR_SAMPLES: usize = 5;

/// Everything measured during the measured phase.
#[derive(Debug)]
pub struct Stats {
    pub pushes: AtomicU64,
    pub samples: AtomicU64,
    pub bytes: AtomicU64,
    pub errors_total: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    error_samples: Mutex<Vec<String>>,
    // Mutexes around the histograms: a record is ~20 ns under the lock and at most a few
    // thousand pushes per second contend; per-task histograms merged at the end would save
    // nothing measurable.
    push_latency: Mutex<Histogram<u64>>,
    pub scrapes: AtomicU64,
    scrape_latency: Mutex<Histogram<u64>>,
    pub scrape_bytes: AtomicU64,
    pub scrape_lines: AtomicU64,
    scrape_lines_min: AtomicU64,
    scrape_lines_max: AtomicU64,
    pub last_scrape_us: AtomicU64,
    pub last_scrape_bytes: AtomicU64,
    pub scrape_gzip_seen: AtomicBool,
    pub scrape_identity_seen: AtomicBool,
    pub rss: Mutex<Rss>,
}

/// Server resident memory in KiB at the moments that matter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rss {
    pub start: Option<u64>,
    pub after_preload: Option<u64>,
    pub max: Option<u64>,
    pub end: Option<u64>,
    pub last: Option<u64>,
}

fn latency_histogram() -> Histogram<u64> {
    // 1 µs .. 1 h, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Stats {
    pub fn new() -> Self {
        Self {
            pushes: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors_total: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            error_samples: Mutex::new(Vec::new()),
            push_latency: Mutex::new(latency_histogram()),
            scrapes: AtomicU64::new(0),
            scrape_latency: Mutex::new(latency_histogram()),
            scrape_bytes: AtomicU64::new(0),
            scrape_lines: AtomicU64::new(0),
            scrape_lines_min: AtomicU64::new(u64::MAX),
            scrape_lines_max: AtomicU64::new(0),
            last_scrape_us: AtomicU64::new(0),
            last_scrape_bytes: AtomicU64::new(0),
            scrape_gzip_seen: AtomicBool::new(false),
            scrape_identity_seen: AtomicBool::new(false),
            rss: Mutex::new(Rss::default()),
        }
    }

    /// Records one push (or delete) and its outcome.
    pub fn record_push(&self, latency: Duration, outcome: &Outcome, samples: usize, bytes: usize) {
        match outcome.error_key() {
            None => {
                self.pushes.fetch_add(1, Ordering::Relaxed);
                self.samples.fetch_add(samples as u64, Ordering::Relaxed);
                self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                self.push_latency
                    .lock()
                    .expect("histogram lock never poisoned")
                    .saturating_record(micros(latency));
            }
            Some(key) => self.record_error(key, outcome, "push"),
        }
    }

    /// Records one scrape.
    pub fn record_scrape(&self, scrape: &Scrape, outcome: &Outcome) {
        if let Some(key) = outcome.error_key() {
            self.record_error(format!("scrape {key}"), outcome, "scrape");
            return;
        }
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        self.scrape_bytes.fetch_add(scrape.bytes, Ordering::Relaxed);
        self.scrape_lines.fetch_add(scrape.lines, Ordering::Relaxed);
        if !scrape.gzip {
            self.scrape_lines_min
                .fetch_min(scrape.lines, Ordering::Relaxed);
            self.scrape_lines_max
                .fetch_max(scrape.lines, Ordering::Relaxed);
        }
        self.last_scrape_us
            .store(micros(scrape.latency), Ordering::Relaxed);
        self.last_scrape_bytes
            .store(scrape.bytes, Ordering::Relaxed);
        if scrape.gzip {
            self.scrape_gzip_seen.store(true, Ordering::Relaxed);
        } else {
            self.scrape_identity_seen.store(true, Ordering::Relaxed);
        }
        self.scrape_latency
            .lock()
            .expect("histogram lock never poisoned")
            .saturating_record(micros(scrape.latency));
    }

    fn record_error(&self, key: String, outcome: &Outcome, what: &str) {
        self.errors_total.fetch_add(1, Ordering::Relaxed);
        *self
            .errors
            .lock()
            .expect("errors lock never poisoned")
            .entry(key)
            .or_default() += 1;
        let mut samples = self
            .error_samples
            .lock()
            .expect("errors lock never poisoned");
        if samples.len() < ERROR_SAMPLES {
            samples.push(format!("{what}: {outcome:?}"));
        }
    }

    /// Reads the server's RSS now and folds it into the tracked values.
    pub fn sample_rss(&self, pid: Option<u32>) -> Option<u64> {
        let kib = read_rss_kib(pid?)?;
        let mut rss = self.rss.lock().expect("rss lock never poisoned");
        rss.start.get_or_insert(kib);
        rss.max = Some(rss.max.map_or(kib, |m| m.max(kib)));
        rss.last = Some(kib);
        Some(kib)
    }

    pub fn mark_rss(&self, pid: Option<u32>, after_preload: bool) {
        if let Some(kib) = self.sample_rss(pid) {
            let mut rss = self.rss.lock().expect("rss lock never poisoned");
            if after_preload {
                rss.after_preload = Some(kib);
            } else {
                rss.end = Some(kib);
            }
        }
    }

    /// Clears everything but RSS (after the preload phase).
    pub fn reset(&self) {
        for counter in [
            &self.pushes,
            &self.samples,
            &self.bytes,
            &self.errors_total,
            &self.scrapes,
            &self.scrape_bytes,
            &self.scrape_lines,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        self.errors
            .lock()
            .expect("errors lock never poisoned")
            .clear();
        self.push_latency
            .lock()
            .expect("histogram lock never poisoned")
            .reset();
        self.scrape_latency
            .lock()
            .expect("histogram lock never poisoned")
            .reset();
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .expect("errors lock never poisoned")
            .clone()
    }

    pub fn error_samples(&self) -> Vec<String> {
        self.error_samples
            .lock()
            .expect("errors lock never poisoned")
            .clone()
    }

    fn quantiles_ms(h: &Histogram<u64>, qs: &[(&str, f64)]) -> Value {
        let mut map = serde_json::Map::new();
        if h.is_empty() {
            return Value::Object(map);
        }
        for &(name, q) in qs {
            map.insert(name.into(), json!(ms(h.value_at_quantile(q))));
        }
        map.insert("max".into(), json!(ms(h.max())));
        map.insert(
            "mean".into(),
            json!((h.mean() / 1000.0 * 1000.0).round() / 1000.0),
        );
        Value::Object(map)
    }

    /// The summary as JSON; `seconds` is the measured wall time.
    pub fn summary(&self, seconds: f64) -> Value {
        let pushes = self.pushes.load(Ordering::Relaxed);
        let samples = self.samples.load(Ordering::Relaxed);
        let scrapes = self.scrapes.load(Ordering::Relaxed);
        let push_latency = self
            .push_latency
            .lock()
            .expect("histogram lock never poisoned");
        let scrape_latency = self
            .scrape_latency
            .lock()
            .expect("histogram lock never poisoned");
        let rss = *self.rss.lock().expect("rss lock never poisoned");
        let mib = |kib: Option<u64>| kib.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0);
        let gzip = match (
            self.scrape_gzip_seen.load(Ordering::Relaxed),
            self.scrape_identity_seen.load(Ordering::Relaxed),
        ) {
            (true, _) => json!("gzip"),
            (false, true) => json!("identity"),
            (false, false) => Value::Null,
        };
        json!({
            "seconds": round3(seconds),
            "pushes": pushes,
            "pushes_per_s": round3(pushes as f64 / seconds),
            "samples_per_s": (samples as f64 / seconds).round(),
            "push_mb_per_s": round3(self.bytes.load(Ordering::Relaxed) as f64 / seconds / 1e6),
            "push_latency_ms": Self::quantiles_ms(
                &push_latency,
                &[("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)],
            ),
            "errors": self.errors(),
            "error_samples": self.error_samples(),
            "scrapes": scrapes,
            "scrape_latency_ms": Self::quantiles_ms(&scrape_latency, &[("p50", 0.5), ("p99", 0.99)]),
            "scrape_bytes_avg": scrape_avg(self.scrape_bytes.load(Ordering::Relaxed), scrapes),
            "scrape_lines_avg": scrape_avg(self.scrape_lines.load(Ordering::Relaxed), scrapes),
            "scrape_lines_min": match self.scrape_lines_min.load(Ordering::Relaxed) {
                u64::MAX => None,
                n => Some(n),
            },
            "scrape_lines_max": match self.scrape_lines_max.load(Ordering::Relaxed) {
                0 => None,
                n => Some(n),
            },
            "scrape_encoding": gzip,
            "server_rss_mib": {
                "start": mib(rss.start),
                "after_preload": mib(rss.after_preload),
                "max": mib(rss.max),
                "end": mib(rss.end),
            },
        })
    }
}

fn scrape_avg(total: u64, scrapes: u64) -> Option<u64> {
    total.checked_div(scrapes)
}

fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `VmRSS` of a process in KiB.
pub fn read_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The per-second progress line.
pub struct Progress {
    /// Counter values at the previous line.
    pushes: u64,
    samples: u64,
    errors: u64,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            pushes: 0,
            samples: 0,
            errors: 0,
        }
    }

    pub fn line(&mut self, stats: &Stats, elapsed: Duration, rss_kib: Option<u64>) -> String {
        let pushes = stats.pushes.load(Ordering::Relaxed);
        let samples = stats.samples.load(Ordering::Relaxed);
        let errors = stats.errors_total.load(Ordering::Relaxed);
        let line = format!(
            "[{:>4}s] pushes/s {:>7} samples/s {:>11} errors {:>5} scrape {} rss {}",
            elapsed.as_secs(),
            pushes.saturating_sub(self.pushes),
            samples.saturating_sub(self.samples),
            errors.saturating_sub(self.errors),
            match stats.last_scrape_us.load(Ordering::Relaxed) {
                0 => "-".to_owned(),
                us => format!(
                    "{:.1} ms ({:.1} MB)",
                    us as f64 / 1000.0,
                    stats.last_scrape_bytes.load(Ordering::Relaxed) as f64 / 1e6
                ),
            },
            rss_kib.map_or_else(
                || "-".to_owned(),
                |k| format!("{:.0} MiB", k as f64 / 1024.0)
            ),
        );
        self.pushes = pushes;
        self.samples = samples;
        self.errors = errors;
        line
    }
}
