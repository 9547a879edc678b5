//! The parsed form of a push: metric families whose strings borrow from the request body.
//!
//! Owns: [`MetricType`], [`Family`], [`Metric`], [`Label`], [`Value`] and the name rules
//! ([`is_valid_metric_name`], [`is_valid_label_name`]) shared by every parser.
//! Does not own: the stored form (see `store::group`, which interns these strings), parsing
//! (see `parse`) or rendering (see `render`).
//!
//! Data enters from `parse::text` (borrowing) and `parse::protobuf` (owned) as
//! `Vec<Family<'_>>` and leaves into `store::Store::apply`, which validates, adds grouping
//! labels and interns.
//!
//! Invariants a parser guarantees for every `Family` it returns (with `parse::Names::Utf8`,
//! names may be any non-empty UTF-8 until `flink::rename` has sanitized them; the store only
//! ever sees families that meet all of these):
//! - `name` is a valid metric name, every label name is a valid label name, not `__name__`;
//! - no metric has two labels with the same name;
//! - the [`Value`] variant fits the family type: `Scalar` for counter, gauge and untyped,
//!   `Summary` for summary, `Histogram` for histogram;
//! - summary metrics carry no `quantile` label and histogram metrics no `le` label (those
//!   live in the value);
//! - `metrics` is not empty;
//! - metrics of one push with the same `Some` [`Metric::label_block`] have equal labels.

use std::borrow::Cow;
use std::fmt;

/// The type of a metric family, as in `# TYPE` lines and `io.prometheus.client.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    /// A monotonically increasing value.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// Quantiles plus optional `_sum` and `_count`.
    Summary,
    /// Cumulative buckets plus optional `_sum` and `_count`.
    Histogram,
    /// No `# TYPE` line was given.
    Untyped,
}

impl MetricType {
    /// The lowercase keyword used in `# TYPE` lines.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Summary => "summary",
            MetricType::Histogram => "histogram",
            MetricType::Untyped => "untyped",
        }
    }

    /// The uppercase name used in the Go Pushgateway's error messages (`COUNTER`, ...).
    #[must_use]
    pub fn as_upper_str(self) -> &'static str {
        match self {
            MetricType::Counter => "COUNTER",
            MetricType::Gauge => "GAUGE",
            MetricType::Summary => "SUMMARY",
            MetricType::Histogram => "HISTOGRAM",
            MetricType::Untyped => "UNTYPED",
        }
    }

    /// Parses a `# TYPE` keyword, case-insensitively as the Go parser does.
    #[must_use]
    pub fn from_keyword(s: &str) -> Option<MetricType> {
        const ALL: [MetricType; 5] = [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Summary,
            MetricType::Histogram,
            MetricType::Untyped,
        ];
        ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label pair. Both strings usually borrow from the body; they are owned only when the
/// input had escape sequences (or a later stage rewrote them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label<'a> {
    /// A valid label name.
    pub name: Cow<'a, str>,
    /// Any valid UTF-8 string, unescaped.
    pub value: Cow<'a, str>,
}

/// The labels of one metric, shared between the metrics of a push that have the same ones.
pub type Labels<'a> = std::sync::Arc<[Label<'a>]>;

/// Summary contents. `count` and `sum` are `None` when the push did not carry them; we never
/// invent them (the Go Pushgateway renders a missing `_sum` as `0`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// The `_count` sample, if pushed.
    pub count: Option<f64>,
    /// The `_sum` sample, if pushed.
    pub sum: Option<f64>,
    /// `(quantile, value)` pairs in push order.
    pub quantiles: Vec<(f64, f64)>,
}

/// Histogram contents. `count` and `sum` are `None` when not pushed.
///
/// A classic histogram has `buckets`; a native (sparse) one, pushed as protobuf, has `native`;
/// a client may push both. The text formats show only the classic part plus `_sum` and
/// `_count` (as Go's text encoder does); protobuf scrapes give back both.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// The `_count` sample, if pushed.
    pub count: Option<f64>,
    /// The `_sum` sample, if pushed.
    pub sum: Option<f64>,
    /// `(upper bound, cumulative count)` pairs in push order.
    pub buckets: Vec<(f64, f64)>,
    /// The native histogram parts, if pushed (protobuf only).
    pub native: Option<Box<NativeHistogram>>,
}

/// The native histogram fields of `io.prometheus.client.Histogram`, kept as pushed (field by
/// field, presence included) so a protobuf scrape returns them intact. pushgate does not
/// interpret them: checking spans against deltas is the scraper's business, as it is for the
/// Go gateway.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NativeHistogram {
    /// `sample_count_float` was pushed (a float histogram): scrapes send the count as float.
    pub float_count: bool,
    /// The bucket schema (`-4..=8` today).
    pub schema: Option<i32>,
    /// Width of the zero bucket.
    pub zero_threshold: Option<f64>,
    /// Observations in the zero bucket (integer histograms).
    pub zero_count: Option<u64>,
    /// Observations in the zero bucket (float histograms).
    pub zero_count_float: Option<f64>,
    /// Negative buckets.
    pub negative: NativeBuckets,
    /// Positive buckets.
    pub positive: NativeBuckets,
    /// Exemplars of the native histogram.
    pub exemplars: Vec<Exemplar>,
}

/// One side (positive or negative) of a native histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NativeBuckets {
    /// `(offset, length)` spans.
    pub spans: Vec<(i32, u32)>,
    /// Bucket count deltas (integer histograms).
    pub deltas: Vec<i64>,
    /// Absolute bucket counts (float histograms).
    pub counts: Vec<f64>,
}

/// An exemplar of a native histogram, as pushed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exemplar {
    /// Label pairs as pushed.
    pub labels: Vec<(String, String)>,
    /// The exemplar value.
    pub value: Option<f64>,
    /// `(seconds, nanos)` since the Unix epoch.
    pub timestamp: Option<(i64, i32)>,
}

/// The value of one metric; its variant follows the family type (see the module invariants).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Counter, gauge and untyped.
    Scalar(f64),
    /// Summary.
    Summary(Box<Summary>),
    /// Histogram.
    Histogram(Box<Histogram>),
}

/// One metric (a series, or for summaries and histograms a group of samples sharing labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Metric<'a> {
    /// Labels in the order they were pushed; no duplicates. Shared: the text parser gives
    /// every metric with the same label block one copy (see `label_block`).
    pub labels: Labels<'a>,
    /// The value.
    pub value: Value,
    /// The sample timestamp in milliseconds, if one was pushed (pushes reject it later).
    pub timestamp_ms: Option<i64>,
    /// Which label block of the push this metric's labels came from, when known: within one
    /// parsed push, metrics with the same `Some(id)` have equal `labels` (names, values and
    /// order). Later stages use it to do per-block work once per block instead of once per
    /// series (Flink repeats each task's labels in dozens of families). `None` when unknown;
    /// anything that changes `labels` after parsing must set it to `None`.
    pub label_block: Option<u32>,
}

/// A metric family: all metrics of one name in one push.
#[derive(Clone, Debug, PartialEq)]
pub struct Family<'a> {
    /// A valid metric name.
    pub name: Cow<'a, str>,
    /// The unescaped `# HELP` text, if any.
    pub help: Option<Cow<'a, str>>,
    /// The family type (`Untyped` when no `# TYPE` line came before the first sample).
    pub kind: MetricType,
    /// At least one metric.
    pub metrics: Vec<Metric<'a>>,
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the classic Prometheus metric name.
#[must_use]
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.split_first() {
        Some((first, rest)) => {
            is_metric_name_start(*first) && rest.iter().all(|&c| is_metric_name_continue(c))
        }
        None => false,
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, the classic Prometheus label name.
#[must_use]
pub fn is_valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.split_first() {
        Some((first, rest)) => {
            is_label_name_start(*first) && rest.iter().all(|&c| is_label_name_continue(c))
        }
        None => false,
    }
}

/// First byte of a metric name.
#[inline]
#[must_use]
pub fn is_metric_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

/// Later bytes of a metric name.
#[inline]
#[must_use]
pub fn is_metric_name_continue(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// First byte of a label name.
#[inline]
#[must_use]
pub fn is_label_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// Later bytes of a label name.
#[inline]
#[must_use]
pub fn is_label_name_continue(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_metric(name: &str, want: bool) {
        assert_eq!(is_valid_metric_name(name), want, "{name:?}");
    }

    #[track_caller]
    fn check_label(name: &str, want: bool) {
        assert_eq!(is_valid_label_name(name), want, "{name:?}");
    }

    #[test]
    fn metric_names() {
        check_metric("a", true);
        check_metric("flink_taskmanager_job_task_operator_numRecordsIn", true);
        check_metric(":a:b_1", true);
        check_metric("", false);
        check_metric("1a", false);
        check_metric("a.b", false);
        check_metric("a-b", false);
    }

    #[test]
    fn label_names() {
        check_label("a", true);
        check_label("_a1", true);
        check_label("__name__", true);
        check_label("a:b", false);
        check_label("1a", false);
        check_label("", false);
    }

    #[test]
    fn type_keywords_are_case_insensitive() {
        assert_eq!(MetricType::from_keyword("GAUGE"), Some(MetricType::Gauge));
        assert_eq!(
            MetricType::from_keyword("Summary"),
            Some(MetricType::Summary)
        );
        assert_eq!(MetricType::from_keyword("gauge "), None);
        assert_eq!(MetricType::from_keyword("gaugehistogram"), None);
    }
}
