//! The delimited protobuf exposition: stored series in, `io.prometheus.client` wire bytes out.
//!
//! Owns: encoding one series as the `metric` field (number 4) of a `MetricFamily` message
//! ([`render_metrics`], cached on each stored family like its text lines), a family's length
//! prefix and header fields ([`family_prefix`]), the per-group push-time metrics
//! ([`time_metric`]), and the model -> schema conversion of values ([`value_fields`]).
//! Does not own: the merge of families across groups or the cache (see `render`).
//!
//! A delimited `MetricFamily` is `varint(len) name help type metric*`, and a repeated message
//! field is just its encoded entries one after the other. So, as with the text lines, the
//! series of a family are encoded once, and a scrape splices runs of them from several groups
//! behind a prefix computed from the total length: no message is ever built whole.
//!
//! Our model keeps counts as `f64` (text pushes may carry `2.5`); the schema has `uint64`
//! counts. Histogram counts that are not whole numbers go into the `*_float` fields, which
//! the schema provides for exactly that; summary counts (no float field) are truncated and
//! saturated to `0..=u64::MAX`, as Go truncates them.

use bytes::Bytes;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;

use crate::model::{Histogram, MetricType, NativeBuckets, NativeHistogram, Summary, Value};
use crate::proto;
use crate::render::series::RenderedLines;
use crate::store::group::{StoredFamily, Str};

/// Field numbers of `MetricFamily` and `Metric`.
const FAMILY_NAME: u32 = 1;
/// See [`FAMILY_NAME`].
const FAMILY_HELP: u32 = 2;
/// See [`FAMILY_NAME`].
const FAMILY_TYPE: u32 = 3;
/// See [`FAMILY_NAME`].
const FAMILY_METRIC: u32 = 4;
/// See [`FAMILY_NAME`].
const METRIC_LABEL: u32 = 1;

/// Encodes every series of `family` as `metric` fields, with each series' start offset.
#[must_use]
pub fn render_metrics(family: &StoredFamily) -> RenderedLines {
    let mut out = Vec::with_capacity(family.series.len() * 128);
    let mut offsets = Vec::with_capacity(family.series.len());
    for s in &family.series {
        offsets.push(u32::try_from(out.len()).expect("an encoded family stays under 4 GiB"));
        write_metric(&mut out, &s.labels, &value_fields(family.kind, &s.value));
    }
    RenderedLines {
        bytes: Bytes::from(out),
        offsets,
    }
}

/// One push-time gauge (`push_time_seconds` / `push_failure_time_seconds`) as a `metric` field.
#[must_use]
pub fn time_metric(labels: &[(Str, Str)], value: f64) -> Bytes {
    let mut out = Vec::with_capacity(64 + labels.len() * 32);
    write_metric(
        &mut out,
        labels,
        &value_fields(MetricType::Gauge, &Value::Scalar(value)),
    );
    Bytes::from(out)
}

/// The length prefix and header fields of a `MetricFamily` whose `metric` fields take
/// `metrics_len` bytes.
#[must_use]
pub fn family_prefix(
    name: &str,
    help: Option<&str>,
    kind: MetricType,
    metrics_len: usize,
) -> Bytes {
    let type_value = u64::from(proto_type(kind).unsigned_abs());
    let header_len = str_field_len(FAMILY_NAME, name)
        + help.map_or(0, |h| str_field_len(FAMILY_HELP, h))
        + 1
        + encoded_len_varint(type_value);
    let total = header_len + metrics_len;
    let mut out = Vec::with_capacity(header_len + encoded_len_varint(total as u64));
    encode_varint(total as u64, &mut out);
    put_str_field(&mut out, FAMILY_NAME, name);
    if let Some(help) = help {
        put_str_field(&mut out, FAMILY_HELP, help);
    }
    encode_key(FAMILY_TYPE, WireType::Varint, &mut out);
    encode_varint(type_value, &mut out);
    Bytes::from(out)
}

/// The schema's enum value for a family type.
#[must_use]
pub fn proto_type(kind: MetricType) -> i32 {
    let t = match kind {
        MetricType::Counter => proto::MetricType::Counter,
        MetricType::Gauge => proto::MetricType::Gauge,
        MetricType::Summary => proto::MetricType::Summary,
        MetricType::Untyped => proto::MetricType::Untyped,
        MetricType::Histogram => proto::MetricType::Histogram,
    };
    t as i32
}

/// The value part of a `Metric` (every field but `label`) for a series of a family of `kind`.
#[must_use]
pub fn value_fields(kind: MetricType, value: &Value) -> proto::Metric {
    let mut m = proto::Metric::default();
    match (kind, value) {
        (MetricType::Counter, Value::Scalar(v)) => {
            m.counter = Some(proto::Counter {
                value: Some(*v),
                ..Default::default()
            });
        }
        (MetricType::Gauge, Value::Scalar(v)) => m.gauge = Some(proto::Gauge { value: Some(*v) }),
        (_, Value::Scalar(v)) => m.untyped = Some(proto::Untyped { value: Some(*v) }),
        (_, Value::Summary(s)) => m.summary = Some(summary(s)),
        (_, Value::Histogram(h)) => m.histogram = Some(histogram(h)),
    }
    m
}

/// `f64` count to `uint64`: truncated, negative and NaN to 0, too large to `u64::MAX`.
#[must_use]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "`as` saturates, which is the documented conversion"
)]
pub fn count_to_u64(v: f64) -> u64 {
    v as u64
}

/// Whether `v` is exactly representable as a `uint64` count.
#[allow(
    clippy::cast_precision_loss,
    reason = "comparing with the largest u64 as f64"
)]
fn is_whole_count(v: f64) -> bool {
    v.fract() == 0.0 && (0.0..u64::MAX as f64).contains(&v)
}

fn summary(s: &Summary) -> proto::Summary {
    proto::Summary {
        sample_count: s.count.map(count_to_u64),
        sample_sum: s.sum,
        quantile: s
            .quantiles
            .iter()
            .map(|&(q, v)| proto::Quantile {
                quantile: Some(q),
                value: Some(v),
            })
            .collect(),
        created_timestamp: None,
    }
}

/// `(int, float)` count fields: the integer field for whole counts (unless the histogram is a
/// float one), the float field otherwise.
fn count_fields(v: f64, float: bool) -> (Option<u64>, Option<f64>) {
    if !float && is_whole_count(v) {
        (Some(count_to_u64(v)), None)
    } else {
        (None, Some(v))
    }
}

fn histogram(h: &Histogram) -> proto::Histogram {
    let float = h.native.as_ref().is_some_and(|n| n.float_count);
    let (sample_count, sample_count_float) =
        h.count.map_or((None, None), |c| count_fields(c, float));
    let mut out = proto::Histogram {
        sample_count,
        sample_count_float,
        sample_sum: h.sum,
        bucket: h
            .buckets
            .iter()
            .map(|&(le, c)| {
                let (cumulative_count, cumulative_count_float) = count_fields(c, false);
                proto::Bucket {
                    cumulative_count,
                    cumulative_count_float,
                    upper_bound: Some(le),
                    exemplar: None,
                }
            })
            .collect(),
        ..Default::default()
    };
    if let Some(n) = &h.native {
        add_native(&mut out, n);
    }
    out
}

fn add_native(out: &mut proto::Histogram, n: &NativeHistogram) {
    let spans = |b: &NativeBuckets| {
        b.spans
            .iter()
            .map(|&(offset, length)| proto::BucketSpan {
                offset: Some(offset),
                length: Some(length),
            })
            .collect::<Vec<_>>()
    };
    out.schema = n.schema;
    out.zero_threshold = n.zero_threshold;
    out.zero_count = n.zero_count;
    out.zero_count_float = n.zero_count_float;
    out.negative_span = spans(&n.negative);
    out.negative_delta.clone_from(&n.negative.deltas);
    out.negative_count.clone_from(&n.negative.counts);
    out.positive_span = spans(&n.positive);
    out.positive_delta.clone_from(&n.positive.deltas);
    out.positive_count.clone_from(&n.positive.counts);
    out.exemplars = n
        .exemplars
        .iter()
        .map(|e| proto::Exemplar {
            label: e
                .labels
                .iter()
                .map(|(name, value)| proto::LabelPair {
                    name: Some(name.clone()),
                    value: Some(value.clone()),
                })
                .collect(),
            value: e.value,
            timestamp: e
                .timestamp
                .map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
        })
        .collect();
}

/// Appends `metric` field 4 holding the labels (encoded by hand: no `String` copies) and the
/// value fields of `value` (encoded by prost).
fn write_metric(out: &mut Vec<u8>, labels: &[(Str, Str)], value: &proto::Metric) {
    let labels_len: usize = labels
        .iter()
        .map(|(n, v)| {
            let pair = label_pair_len(n, v);
            1 + encoded_len_varint(pair as u64) + pair
        })
        .sum();
    let total = labels_len + value.encoded_len();
    encode_key(FAMILY_METRIC, WireType::LengthDelimited, out);
    encode_varint(total as u64, out);
    for (n, v) in labels {
        encode_key(METRIC_LABEL, WireType::LengthDelimited, out);
        encode_varint(label_pair_len(n, v) as u64, out);
        put_str_field(out, 1, n);
        put_str_field(out, 2, v);
    }
    value
        .encode(out)
        .expect("a Vec grows as needed, so encoding cannot run out of room");
}

fn label_pair_len(name: &str, value: &str) -> usize {
    str_field_len(1, name) + str_field_len(2, value)
}

/// Encoded size of a string field (tags below 16 take one byte).
fn str_field_len(tag: u32, s: &str) -> usize {
    debug_assert!(tag < 16, "one-byte keys only");
    1 + encoded_len_varint(s.len() as u64) + s.len()
}

fn put_str_field(out: &mut Vec<u8>, tag: u32, s: &str) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A whole stored family as a schema message (for tests and tools; scrapes splice bytes).
#[must_use]
pub fn to_message(family: &StoredFamily) -> proto::MetricFamily {
    proto::MetricFamily {
        name: Some(family.name.to_string()),
        help: family.help.as_deref().map(str::to_owned),
        r#type: Some(proto_type(family.kind)),
        metric: family
            .series
            .iter()
            .map(|s| {
                let mut m = value_fields(family.kind, &s.value);
                m.label = s
                    .labels
                    .iter()
                    .map(|(n, v)| proto::LabelPair {
                        name: Some(n.to_string()),
                        value: Some(v.to_string()),
                    })
                    .collect();
                m
            })
            .collect(),
        unit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::group::Series;

    fn family(kind: MetricType, values: Vec<Value>) -> StoredFamily {
        let series = values
            .into_iter()
            .enumerate()
            .map(|(i, value)| Series {
                labels: vec![
                    (Str::from("i"), Str::from(i.to_string())),
                    (Str::from("job"), Str::from("j")),
                ]
                .into(),
                value,
            })
            .collect();
        StoredFamily::new(Str::from("f"), Some(Str::from("help")), kind, series, 0.0)
    }

    /// Splices prefix and metrics as a scrape does and decodes the result with prost.
    fn splice_and_decode(f: &StoredFamily) -> proto::MetricFamily {
        let lines = render_metrics(f);
        let mut body =
            family_prefix(&f.name, f.help.as_deref(), f.kind, lines.bytes.len()).to_vec();
        body.extend_from_slice(&lines.bytes);
        let mut slice = &body[..];
        let decoded = proto::MetricFamily::decode_length_delimited(&mut slice).expect("valid");
        assert!(slice.is_empty(), "exactly one message");
        decoded
    }

    #[test]
    fn spliced_bytes_equal_the_message_prost_encodes() {
        let f = family(
            MetricType::Gauge,
            vec![
                Value::Scalar(1.5),
                Value::Scalar(-0.0),
                Value::Scalar(f64::NAN),
            ],
        );
        let decoded = splice_and_decode(&f);
        let want = to_message(&f);
        // NaN != NaN: compare through the encoding.
        assert_eq!(decoded.encode_to_vec(), want.encode_to_vec());
        assert_eq!(decoded.name(), "f");
        assert_eq!(decoded.help(), "help");
    }

    #[test]
    fn fractional_histogram_counts_use_the_float_fields() {
        let h = Histogram {
            count: Some(2.5),
            sum: Some(1.0),
            buckets: vec![(1.0, 2.0), (f64::INFINITY, 2.5)],
            native: None,
        };
        let f = family(MetricType::Histogram, vec![Value::Histogram(Box::new(h))]);
        let decoded = splice_and_decode(&f);
        let h = decoded.metric[0].histogram.as_ref().expect("histogram");
        assert_eq!((h.sample_count, h.sample_count_float), (None, Some(2.5)));
        assert_eq!(h.bucket[0].cumulative_count, Some(2));
        assert_eq!(h.bucket[1].cumulative_count_float, Some(2.5));
    }

    #[test]
    fn summary_counts_saturate_to_unsigned() {
        assert_eq!(count_to_u64(-3.0), 0);
        assert_eq!(count_to_u64(2.9), 2);
        assert_eq!(count_to_u64(f64::NAN), 0);
        assert_eq!(count_to_u64(1e30), u64::MAX);
    }
}
