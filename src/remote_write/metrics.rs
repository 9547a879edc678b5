//! The `pushgate_remote_write_*` self-metrics, one set per endpoint (label `url`).
//!
//! Owns: [`LaneMetrics`], updated by the sender tasks, and [`families`], which builds the
//! families `/metrics` appends to the gateway's own (see `server::scrape`); the UI's status
//! page reads [`LaneMetrics::status`].
//! Does not own: deciding what happened (see `sender`).
//!
//! Names follow Prometheus' `prometheus_remote_storage_*` where one exists.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::model::{Histogram, MetricType, Value};
use crate::store::group::{Series, StoredFamily, Str};

/// Buckets of the request duration histogram (seconds).
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of the push-to-acknowledged lag histogram (seconds).
const LAG_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

/// The families below with their types, for `telemetry::BUILTIN_FAMILIES`.
pub const FAMILIES: &[(&str, MetricType)] = &[
    ("pushgate_remote_write_samples_total", MetricType::Counter),
    (
        "pushgate_remote_write_stale_markers_total",
        MetricType::Counter,
    ),
    (
        "pushgate_remote_write_samples_retried_total",
        MetricType::Counter,
    ),
    (
        "pushgate_remote_write_samples_failed_total",
        MetricType::Counter,
    ),
    ("pushgate_remote_write_requests_total", MetricType::Counter),
    (
        "pushgate_remote_write_ticks_dropped_total",
        MetricType::Counter,
    ),
    (
        "pushgate_remote_write_sent_bytes_total",
        MetricType::Counter,
    ),
    ("pushgate_remote_write_invalid_series", MetricType::Gauge),
    ("pushgate_remote_write_pending_ticks", MetricType::Gauge),
    (
        "pushgate_remote_write_highest_sent_timestamp_seconds",
        MetricType::Gauge,
    ),
    (
        "pushgate_remote_write_request_duration_seconds",
        MetricType::Histogram,
    ),
    (
        "pushgate_remote_write_push_to_ack_lag_seconds",
        MetricType::Histogram,
    ),
];

#[derive(Debug, Clone)]
struct Hist {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Hist {
    fn new(bounds: &'static [f64]) -> Hist {
        Hist {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    fn value(&self) -> Value {
        let mut cumulative = 0;
        let mut buckets: Vec<(f64, f64)> = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(&b, &c)| {
                cumulative += c;
                (b, cumulative as f64)
            })
            .collect();
        buckets.push((f64::INFINITY, self.count as f64));
        Value::Histogram(Box::new(Histogram {
            count: Some(self.count as f64),
            sum: Some(self.sum),
            buckets,
            native: None,
        }))
    }
}

#[derive(Debug)]
struct Inner {
    failed: BTreeMap<String, u64>,
    requests: BTreeMap<String, u64>,
    duration: Hist,
    lag: Hist,
    last_error: Option<String>,
    last_ack: f64,
}

/// One endpoint's counters.
#[derive(Debug)]
pub struct LaneMetrics {
    /// The endpoint URL (the `url` label).
    pub url: String,
    samples: AtomicU64,
    stale: AtomicU64,
    retried: AtomicU64,
    dropped_ticks: AtomicU64,
    bytes: AtomicU64,
    pending: AtomicU64,
    invalid: AtomicU64,
    highest_sent: AtomicU64,
    inner: Mutex<Inner>,
}

/// What the UI's status page shows per endpoint.
#[derive(Debug, Clone)]
pub struct LaneStatus {
    /// The URL.
    pub url: String,
    /// Samples acknowledged.
    pub samples: u64,
    /// Stale markers acknowledged.
    pub stale: u64,
    /// Samples dropped after a non-retryable answer, over all codes.
    pub failed: u64,
    /// Ticks dropped from a full queue.
    pub dropped_ticks: u64,
    /// Ticks waiting or in flight.
    pub pending: u64,
    /// Unix seconds of the last acknowledged tick (0 if none).
    pub last_ack: f64,
    /// The last error, cleared by the next acknowledged request.
    pub last_error: Option<String>,
}

impl LaneMetrics {
    /// Zeroed counters for `url`.
    #[must_use]
    pub fn new(url: &str) -> LaneMetrics {
        LaneMetrics {
            url: url.to_owned(),
            samples: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped_ticks: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            highest_sent: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                failed: BTreeMap::new(),
                requests: BTreeMap::new(),
                duration: Hist::new(DURATION_BUCKETS),
                lag: Hist::new(LAG_BUCKETS),
                last_error: None,
                last_ack: 0.0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("remote write metrics lock is never poisoned: no panics inside")
    }

    /// One request answered `code` (`"204"`, or `"error"` when no answer came) after
    /// `seconds`, with `bytes` on the wire.
    pub fn request(&self, code: &str, seconds: f64, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Relaxed);
        let mut inner = self.lock();
        *inner.requests.entry(code.to_owned()).or_default() += 1;
        inner.duration.observe(seconds);
    }

    /// A batch was acknowledged: `samples` values and `stale` markers at `timestamp_ms`.
    pub fn acknowledged(&self, samples: usize, stale: usize, timestamp_ms: i64) {
        self.samples.fetch_add(samples as u64, Relaxed);
        self.stale.fetch_add(stale as u64, Relaxed);
        #[allow(clippy::cast_precision_loss, reason = "ms timestamps fit f64 exactly")]
        let secs = timestamp_ms as f64 / 1000.0;
        self.highest_sent.fetch_max(secs.to_bits(), Relaxed);
        self.lock().last_error = None;
    }

    /// A batch was retried after `error`.
    pub fn retried(&self, rows: usize, error: &str) {
        self.retried.fetch_add(rows as u64, Relaxed);
        self.lock().last_error = Some(error.to_owned());
    }

    /// A batch of `rows` was dropped after a non-retryable answer `code`.
    pub fn failed(&self, code: &str, rows: usize, error: &str) {
        let mut inner = self.lock();
        *inner.failed.entry(code.to_owned()).or_default() += rows as u64;
        inner.last_error = Some(error.to_owned());
    }

    /// A tick was dropped from a full queue.
    pub fn tick_dropped(&self) {
        self.dropped_ticks.fetch_add(1, Relaxed);
    }

    /// Ticks waiting or in flight.
    pub fn set_pending(&self, n: usize) {
        self.pending.store(n as u64, Relaxed);
    }

    /// Series skipped in the last tick for names invalid in Remote-Write.
    pub fn set_invalid(&self, n: usize) {
        self.invalid.store(n as u64, Relaxed);
    }

    /// A whole tick was acknowledged at `now`; `lags` are push-to-acknowledged delays.
    pub fn tick_acknowledged(&self, now: f64, lags: impl Iterator<Item = f64>) {
        let mut inner = self.lock();
        inner.last_ack = now;
        for l in lags {
            inner.lag.observe(l.max(0.0));
        }
    }

    /// The status page's view.
    #[must_use]
    pub fn status(&self) -> LaneStatus {
        let inner = self.lock();
        LaneStatus {
            url: self.url.clone(),
            samples: self.samples.load(Relaxed),
            stale: self.stale.load(Relaxed),
            failed: inner.failed.values().sum(),
            dropped_ticks: self.dropped_ticks.load(Relaxed),
            pending: self.pending.load(Relaxed),
            last_ack: inner.last_ack,
            last_error: inner.last_error.clone(),
        }
    }
}

/// The `pushgate_remote_write_*` families for `lanes` (none without remote write).
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "counters stay far below 2^52")]
pub fn families(lanes: &[Arc<LaneMetrics>]) -> Vec<StoredFamily> {
    if lanes.is_empty() {
        return Vec::new();
    }
    let url = |l: &LaneMetrics| vec![(Str::from("url"), Str::from(l.url.as_str()))];
    let counter = |f: &dyn Fn(&LaneMetrics) -> u64| -> Vec<Series> {
        lanes.iter().map(|l| scalar(url(l), f(l) as f64)).collect()
    };
    let by_code = |f: &dyn Fn(&Inner) -> &BTreeMap<String, u64>| -> Vec<Series> {
        let mut out = Vec::new();
        for l in lanes {
            for (code, n) in f(&l.lock()) {
                let mut labels = url(l);
                labels.insert(0, (Str::from("code"), Str::from(code.as_str())));
                out.push(scalar(labels, *n as f64));
            }
        }
        out
    };
    let hist = |f: &dyn Fn(&Inner) -> Value| -> Vec<Series> {
        lanes
            .iter()
            .map(|l| Series {
                labels: url(l).into(),
                value: f(&l.lock()),
            })
            .collect()
    };
    let highest = |l: &LaneMetrics| f64::from_bits(l.highest_sent.load(Relaxed));
    let data: [(&str, &str, Vec<Series>); 12] = [
        (
            "pushgate_remote_write_samples_total",
            "Samples acknowledged by the receiver (stale markers not included).",
            counter(&|l| l.samples.load(Relaxed)),
        ),
        (
            "pushgate_remote_write_stale_markers_total",
            "Stale markers acknowledged by the receiver.",
            counter(&|l| l.stale.load(Relaxed)),
        ),
        (
            "pushgate_remote_write_samples_retried_total",
            "Samples sent again after a 5xx, 429 or network error.",
            counter(&|l| l.retried.load(Relaxed)),
        ),
        (
            "pushgate_remote_write_samples_failed_total",
            "Samples dropped after a non-retryable answer, by status code.",
            by_code(&|i| &i.failed),
        ),
        (
            "pushgate_remote_write_requests_total",
            "Requests by status code (error = no answer).",
            by_code(&|i| &i.requests),
        ),
        (
            "pushgate_remote_write_ticks_dropped_total",
            "Ticks dropped because the queue was full (a slow or down receiver).",
            counter(&|l| l.dropped_ticks.load(Relaxed)),
        ),
        (
            "pushgate_remote_write_sent_bytes_total",
            "Compressed request bytes sent, retries included.",
            counter(&|l| l.bytes.load(Relaxed)),
        ),
        (
            "pushgate_remote_write_invalid_series",
            "Series skipped in the last tick for names invalid in Remote-Write.",
            counter(&|l| l.invalid.load(Relaxed)),
        ),
        (
            "pushgate_remote_write_pending_ticks",
            "Ticks waiting or being sent.",
            counter(&|l| l.pending.load(Relaxed)),
        ),
        (
            "pushgate_remote_write_highest_sent_timestamp_seconds",
            "Timestamp of the newest acknowledged sample.",
            lanes.iter().map(|l| scalar(url(l), highest(l))).collect(),
        ),
        (
            "pushgate_remote_write_request_duration_seconds",
            "Duration of remote write requests.",
            hist(&|i| i.duration.value()),
        ),
        (
            "pushgate_remote_write_push_to_ack_lag_seconds",
            "Time from a push to the acknowledgement of the first tick holding it.",
            hist(&|i| i.lag.value()),
        ),
    ];
    data.into_iter()
        .zip(FAMILIES)
        .map(|((name, help, series), (_, kind))| {
            StoredFamily::new(Str::from(name), Some(Str::from(help)), *kind, series, 0.0)
        })
        .filter(|f| !f.series.is_empty())
        .collect()
}

fn scalar(labels: Vec<(Str, Str)>, v: f64) -> Series {
    Series {
        labels: labels.into(),
        value: Value::Scalar(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_remote_write_family_is_a_builtin_with_the_same_type() {
        for f in FAMILIES {
            assert!(
                crate::telemetry::BUILTIN_FAMILIES.contains(f),
                "{f:?} missing from telemetry::BUILTIN_FAMILIES"
            );
        }
        let lanes = [Arc::new(LaneMetrics::new("http://x/"))];
        lanes[0].request("204", 0.01, 10);
        lanes[0].failed("400", 3, "HTTP 400: bad");
        let fams = families(&lanes);
        for f in &fams {
            let kind = FAMILIES.iter().find(|(n, _)| **n == *f.name).map(|x| x.1);
            assert_eq!(kind, Some(f.kind), "{}", f.name);
        }
        assert!(fams
            .iter()
            .any(|f| &*f.name == "pushgate_remote_write_samples_failed_total"));
    }
}
