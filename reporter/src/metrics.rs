//! The metric types, with Flink's semantics.
//!
//! Owns: [`Counter`], [`Gauge`], [`Meter`] (Flink's `MeterView`) and [`Histogram`] (a sliding
//! window reservoir like Flink's `DescriptiveStatisticsHistogram`, with Apache Commons Math's
//! default percentile estimate so quantiles match Flink's digit for digit).
//! Does not own: names, groups or export (see [`crate::group`]).
//!
//! Every type is a cheap-to-clone handle over shared state, safe to update from any thread.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonic (or not: Flink allows `dec`) 64-bit count. Exported as a gauge, as Flink does.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    count: Arc<AtomicI64>,
}

impl Counter {
    /// A counter at zero, not registered anywhere.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`.
    pub fn inc_by(&self, n: i64) {
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.inc_by(-1);
    }

    /// Subtracts `n`.
    pub fn dec_by(&self, n: i64) {
        self.inc_by(-n);
    }

    /// The current count.
    #[must_use]
    pub fn count(&self) -> i64 {
        self.count.load(Ordering::Relaxed)
    }
}

type GaugeFn = dyn Fn() -> f64 + Send + Sync;

#[derive(Clone)]
enum GaugeSource {
    Value(Arc<AtomicU64>),
    Fn(Arc<GaugeFn>),
}

/// A value read at report time: either one you [`set`](Gauge::set), or a closure.
///
/// Flink's gauges may return any type: numbers export as their `f64` value, booleans as
/// `1.0`/`0.0`, and anything else (strings) as `0.0`. With a closure you decide.
#[derive(Clone)]
pub struct Gauge {
    source: GaugeSource,
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge")
            .field("value", &self.value())
            .finish()
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Self::new()
    }
}

impl Gauge {
    /// A settable gauge at `0.0`.
    #[must_use]
    pub fn new() -> Self {
        Self {
            source: GaugeSource::Value(Arc::new(AtomicU64::new(0f64.to_bits()))),
        }
    }

    /// A gauge that calls `f` at every report.
    pub fn from_fn(f: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        Self {
            source: GaugeSource::Fn(Arc::new(f)),
        }
    }

    /// Sets the value. Does nothing on a closure gauge.
    pub fn set(&self, value: f64) {
        if let GaugeSource::Value(v) = &self.source {
            v.store(value.to_bits(), Ordering::Relaxed);
        }
    }

    /// The current value.
    #[must_use]
    pub fn value(&self) -> f64 {
        match &self.source {
            GaugeSource::Value(v) => f64::from_bits(v.load(Ordering::Relaxed)),
            GaugeSource::Fn(f) => f(),
        }
    }
}

/// How often Flink's `ViewUpdater` refreshes meters (`View.UPDATE_INTERVAL_SECONDS`).
pub const VIEW_UPDATE_INTERVAL_SECS: u64 = 5;

/// Events per second over a time span, as Flink's `MeterView`: a counter plus a ring of
/// counts taken every [`VIEW_UPDATE_INTERVAL_SECS`]; the rate is
/// `(newest - oldest) / span`, recomputed only at [`update`](Meter::update).
///
/// A registered meter is updated by the registry's view updater (the push loop runs it every
/// 5 s); an unregistered one only when you call `update`.
#[derive(Debug, Clone)]
pub struct Meter {
    inner: Arc<MeterInner>,
}

#[derive(Debug)]
struct MeterInner {
    counter: Counter,
    span_secs: u64,
    ring: Mutex<MeterRing>,
    rate: AtomicU64,
}

#[derive(Debug)]
struct MeterRing {
    values: Vec<i64>,
    time: usize,
}

impl Meter {
    /// A meter over a 60 s span with its own counter (Flink's `new MeterView(60)`).
    #[must_use]
    pub fn new() -> Self {
        Self::with_counter(Counter::new(), 60)
    }

    /// A meter over `span_secs` (rounded down to a multiple of 5, at least 5) counting into
    /// `counter`, as Flink's `new MeterView(counter, span)`: marking the meter bumps the counter,
    /// and bumping the counter moves the rate.
    #[must_use]
    pub fn with_counter(counter: Counter, span_secs: u64) -> Self {
        let step = VIEW_UPDATE_INTERVAL_SECS;
        let span = (span_secs - span_secs % step).max(step);
        let slots = usize::try_from(span / step).expect("span / 5 fits in usize") + 1;
        Self {
            inner: Arc::new(MeterInner {
                counter,
                span_secs: span,
                ring: Mutex::new(MeterRing {
                    values: vec![0; slots],
                    time: 0,
                }),
                rate: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    /// Records one event.
    pub fn mark_event(&self) {
        self.inner.counter.inc();
    }

    /// Records `n` events.
    pub fn mark_events(&self, n: i64) {
        self.inner.counter.inc_by(n);
    }

    /// Events recorded so far.
    #[must_use]
    pub fn count(&self) -> i64 {
        self.inner.counter.count()
    }

    /// Events per second as of the last [`update`](Meter::update).
    #[must_use]
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.inner.rate.load(Ordering::Relaxed))
    }

    /// Takes a count sample and recomputes the rate; call every 5 s (`MeterView.update`).
    pub fn update(&self) {
        // A Mutex, not atomics: the ring index and slot must move together, and only the view
        // updater (one task every 5 s) takes it, so it is never contended.
        let mut ring = self.inner.ring.lock().expect("meter lock never poisoned");
        let len = ring.values.len();
        ring.time = (ring.time + 1) % len;
        let now = ring.time;
        ring.values[now] = self.inner.counter.count();
        let oldest = ring.values[(now + 1) % len];
        #[allow(
            clippy::cast_precision_loss,
            reason = "Java computes `(double) (a - b) / span` the same way"
        )]
        let rate = (ring.values[now] - oldest) as f64 / self.inner.span_secs as f64;
        self.inner.rate.store(rate.to_bits(), Ordering::Relaxed);
    }
}

impl Default for Meter {
    fn default() -> Self {
        Self::new()
    }
}

/// A distribution over the last `window` values, as Flink's `DescriptiveStatisticsHistogram`:
/// [`count`](Histogram::count) counts every update ever, while the statistics see only the
/// window. Exported as a summary (`_count` plus six quantiles, no `_sum`).
#[derive(Debug, Clone)]
pub struct Histogram {
    inner: Arc<Mutex<Window>>,
}

#[derive(Debug)]
struct Window {
    values: Vec<f64>,
    capacity: usize,
    next: usize,
    count: u64,
}

impl Histogram {
    /// A histogram over the last `window` values (at least 1). Flink's latency histograms use
    /// 128; `metrics.latency.history-size` changes that.
    #[must_use]
    pub fn new(window: usize) -> Self {
        let capacity = window.max(1);
        Self {
            inner: Arc::new(Mutex::new(Window {
                values: Vec::with_capacity(capacity),
                capacity,
                next: 0,
                count: 0,
            })),
        }
    }

    /// Records a value.
    pub fn update(&self, value: i64) {
        // A Mutex: updates and snapshots touch the whole window; an update holds it for a
        // store, a snapshot for a copy.
        let mut w = self.inner.lock().expect("histogram lock never poisoned");
        #[allow(
            clippy::cast_precision_loss,
            reason = "Flink stores longs as doubles too"
        )]
        let v = value as f64;
        if w.values.len() < w.capacity {
            w.values.push(v);
        } else {
            let i = w.next;
            w.values[i] = v;
        }
        w.next = (w.next + 1) % w.capacity;
        w.count += 1;
    }

    /// How many values were ever recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.inner
            .lock()
            .expect("histogram lock never poisoned")
            .count
    }

    /// A snapshot of the window's statistics.
    #[must_use]
    pub fn statistics(&self) -> HistogramStatistics {
        let mut sorted = {
            let w = self.inner.lock().expect("histogram lock never poisoned");
            w.values.clone()
        };
        sorted.sort_by(f64::total_cmp);
        HistogramStatistics { sorted }
    }
}

/// The window of a [`Histogram`] at one moment, sorted.
#[derive(Debug, Clone)]
pub struct HistogramStatistics {
    sorted: Vec<f64>,
}

impl HistogramStatistics {
    /// The `q` quantile (`0 < q <= 1`), estimated exactly as Apache Commons Math 3's
    /// `Percentile` (legacy estimation) which Flink uses: position `q * (n + 1)`,
    /// linear interpolation between the neighbours, clamped to the ends. `NaN` when empty.
    #[must_use]
    pub fn quantile(&self, q: f64) -> f64 {
        let values = &self.sorted;
        match values.len() {
            0 => return f64::NAN,
            1 => return values[0],
            _ => {}
        }
        #[allow(clippy::cast_precision_loss, reason = "window sizes are small")]
        let n = values.len() as f64;
        // Flink passes `quantile * 100` and Commons Math's LEGACY index is `p / 100 * (n + 1)`;
        // keep both steps so the rounding matches (0.95 -> 94.94999999999999 for 0..99).
        let p = q * 100.0;
        let pos = p / 100.0 * (n + 1.0);
        let fpos = pos.floor();
        let dif = pos - fpos;
        if pos < 1.0 {
            return values[0];
        }
        if pos >= n {
            return values[values.len() - 1];
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "1 <= fpos < n here"
        )]
        let i = fpos as usize;
        let lower = values[i - 1];
        let upper = values[i];
        lower + dif * (upper - lower)
    }

    /// Values in the window.
    #[must_use]
    pub fn size(&self) -> usize {
        self.sorted.len()
    }

    /// Smallest value in the window (`NaN` when empty).
    #[must_use]
    pub fn min(&self) -> f64 {
        self.sorted.first().copied().unwrap_or(f64::NAN)
    }

    /// Largest value in the window (`NaN` when empty).
    #[must_use]
    pub fn max(&self) -> f64 {
        self.sorted.last().copied().unwrap_or(f64::NAN)
    }

    /// Mean of the window (`NaN` when empty).
    #[must_use]
    pub fn mean(&self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "window sizes are small")]
        let n = self.sorted.len() as f64;
        self.sorted.iter().sum::<f64>() / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::java::double_to_string;

    #[test]
    fn counter_counts() {
        let c = Counter::new();
        c.inc();
        c.inc_by(10);
        c.dec();
        assert_eq!(c.count(), 10);
        let shared = c.clone();
        shared.inc();
        assert_eq!(c.count(), 11);
    }

    #[test]
    fn gauges() {
        let g = Gauge::new();
        g.set(2.5);
        assert!((g.value() - 2.5).abs() < f64::EPSILON);
        let f = Gauge::from_fn(|| 7.0);
        f.set(1.0);
        assert!((f.value() - 7.0).abs() < f64::EPSILON);
    }

    /// `MeterView(60)`: 13 slots; 600 events over the first 60 s read as 10/s.
    #[test]
    fn meter_view_rate_over_sixty_seconds() {
        let m = Meter::new();
        for _ in 0..12 {
            m.mark_events(50);
            m.update();
        }
        assert!((m.rate() - 10.0).abs() < 1e-9, "rate {}", m.rate());
        assert_eq!(m.count(), 600);
        // Another 12 updates with no events: the window empties.
        for _ in 0..12 {
            m.update();
        }
        assert!(m.rate().abs() < 1e-9);
    }

    #[test]
    fn meter_span_rounds_like_flink() {
        let m = Meter::with_counter(Counter::new(), 7);
        m.mark_events(10);
        m.update();
        assert!((m.rate() - 2.0).abs() < 1e-9, "span 7 -> 5 s");
    }

    /// `myHistogram` in `fixtures/flink-2.3.0/tm.txt`: values `i % 100` for 938 updates, window
    /// 500 (each value five times).
    #[test]
    fn histogram_quantiles_match_flink_digits() {
        let h = Histogram::new(500);
        for i in 0..938 {
            h.update(i % 100);
        }
        assert_eq!(h.count(), 938);
        let s = h.statistics();
        let got: Vec<String> = crate::text::FLINK_QUANTILES
            .iter()
            .map(|&(q, _)| double_to_string(s.quantile(q)))
            .collect();
        assert_eq!(
            got,
            [
                "49.5",
                "74.75",
                "94.94999999999999",
                "97.98000000000002",
                "98.99000000000001",
                "99.0"
            ]
        );
    }

    #[test]
    fn histogram_edge_cases() {
        let h = Histogram::new(4);
        assert!(h.statistics().quantile(0.5).is_nan());
        h.update(3);
        assert!((h.statistics().quantile(0.99) - 3.0).abs() < f64::EPSILON);
        for v in [1, 2, 3, 4, 5, 6] {
            h.update(v);
        }
        let s = h.statistics();
        assert_eq!(s.size(), 4);
        assert!((s.min() - 3.0).abs() < f64::EPSILON);
        assert!((s.max() - 6.0).abs() < f64::EPSILON);
        assert!((s.mean() - 4.5).abs() < f64::EPSILON);
        assert_eq!(h.count(), 7);
    }
}
