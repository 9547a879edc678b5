//! Delimited protobuf pushes: a body of length-prefixed `io.prometheus.client.MetricFamily`
//! messages in, owned [`Family`] values out.
//!
//! Owns: framing (each message is a varint length plus that many bytes, as Go's
//! `pbutil.ReadDelimited` reads them), decoding with prost, and the checks that make the result
//! meet the invariants listed in [`crate::model`], which the text parser meets by syntax: valid
//! metric and label names, no `__` label names, no duplicate label names, no `quantile` label on
//! a summary or `le` on a histogram, and a value field that fits the family type (a `GAUGE`
//! family whose metric carries only a `counter` is refused, as `client_golang`'s
//! `checkMetricConsistency` refuses it in the Go gateway). Label values are valid UTF-8 by
//! construction: prost refuses a `string` field that is not.
//! With [`Names::Utf8`] any non-empty metric or label name is accepted (the `__` prefix stays
//! reserved) and `flink::rename` sanitizes it later.
//! Does not own: timestamps (kept in the model; the store refuses them), grouping labels,
//! consistency with the store.
//!
//! Semantics follow the Go Pushgateway 1.5.1 (`handler/push.go`): a family name repeated in one
//! body replaces the earlier family (the last wins); families without metrics are left out (as
//! the text parser leaves out families with only `# HELP`/`# TYPE`). Summary and histogram
//! counts are `uint64` in the schema and `f64` in our model; a histogram's `*_float` count
//! fields override the integer ones when positive, as the schema says.
//!
//! Every error names the byte offset of the message it was found in (the offset of its length
//! prefix), so a client can tell which family of a large push was refused.

use std::borrow::Cow;
use std::collections::HashMap;

use prost::Message;

use crate::model::{
    is_valid_label_name, is_valid_metric_name, Exemplar, Family, Histogram, Label, Metric,
    MetricType, NativeBuckets, NativeHistogram, Summary, Value,
};
use crate::parse::Names;
use crate::proto;

/// A body that is not a valid delimited `MetricFamily` stream, or a family that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid protobuf at byte offset {offset}: {kind}")]
pub struct ProtobufError {
    /// Offset of the length prefix of the message the error was found in.
    pub offset: usize,
    /// What was wrong.
    pub kind: ProtobufErrorKind,
}

/// What was wrong with a protobuf body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtobufErrorKind {
    /// Occurs when a length prefix is not a valid varint (or is cut off by the end of the body).
    #[error("invalid length prefix")]
    LengthPrefix,
    /// Occurs when a message is longer than what is left of the body.
    #[error("message of {len} bytes runs past the end of the body ({left} bytes left)")]
    Truncated {
        /// The declared length.
        len: usize,
        /// Bytes left after the length prefix.
        left: usize,
    },
    /// Occurs when prost cannot decode a message (bad wire type, invalid UTF-8 in a string...).
    #[error("{0}")]
    Decode(String),
    /// Occurs when a family name is not a valid metric name.
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    /// Occurs when the family type is `GAUGE_HISTOGRAM` or not a known type at all.
    #[error("metric family {name:?} has unsupported type {kind}")]
    UnsupportedType {
        /// The family.
        name: String,
        /// The type, by name when known.
        kind: String,
    },
    /// Occurs when a label name is not a valid label name.
    #[error("invalid label name {label:?} for metric {metric:?}")]
    InvalidLabelName {
        /// The family.
        metric: String,
        /// The label name.
        label: String,
    },
    /// Occurs when a label name starts with `__` (reserved for internal use).
    #[error("label name {label:?} of metric {metric:?} is reserved")]
    ReservedLabelName {
        /// The family.
        metric: String,
        /// The label name.
        label: String,
    },
    /// Occurs when one metric has two labels of the same name.
    #[error("duplicate label name {label:?} for metric {metric:?}")]
    DuplicateLabelName {
        /// The family.
        metric: String,
        /// The label name.
        label: String,
    },
    /// Occurs when a summary metric has a `quantile` label or a histogram metric an `le` label.
    #[error("metric {metric:?} of type {kind} must not have an explicit {label:?} label")]
    ExplicitLabel {
        /// The family.
        metric: String,
        /// The family type.
        kind: &'static str,
        /// `quantile` or `le`.
        label: &'static str,
    },
    /// Occurs when a metric lacks the value field its family type calls for.
    #[error("metric {metric:?} is of type {kind} but carries no {field} value")]
    KindMismatch {
        /// The family.
        metric: String,
        /// The family type.
        kind: &'static str,
        /// The field it lacks.
        field: &'static str,
    },
}

/// Parses a delimited protobuf body into metric families, accepting classic names only.
///
/// Families come in order of first appearance of their name; a repeated name replaces the
/// earlier family in place. An empty body gives no families.
///
/// # Errors
///
/// The first framing, decoding or validity error, with the offset of its message; see
/// [`ProtobufErrorKind`].
pub fn parse(body: &[u8]) -> Result<Vec<Family<'static>>, ProtobufError> {
    parse_with(body, Names::Classic)
}

/// Like [`parse`]; with [`Names::Utf8`] any non-empty name is accepted.
///
/// # Errors
///
/// As [`parse`].
pub fn parse_with(body: &[u8], names: Names) -> Result<Vec<Family<'static>>, ProtobufError> {
    let mut out: Vec<Family<'static>> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut pos = 0;
    while pos < body.len() {
        let offset = pos;
        let err = |kind| ProtobufError { offset, kind };
        let (message, next) = next_message(body, pos).map_err(err)?;
        pos = next;
        let decoded = proto::MetricFamily::decode(message)
            .map_err(|e| err(ProtobufErrorKind::Decode(e.to_string())))?;
        let Some(family) = convert_family(decoded, names).map_err(err)? else {
            continue;
        };
        if let Some(&i) = by_name.get(family.name.as_ref()) {
            out[i] = family;
        } else {
            by_name.insert(family.name.to_string(), out.len());
            out.push(family);
        }
    }
    Ok(out)
}

/// The message starting at `pos` and the offset after it.
fn next_message(body: &[u8], pos: usize) -> Result<(&[u8], usize), ProtobufErrorKind> {
    let mut rest = &body[pos..];
    let len =
        prost::decode_length_delimiter(&mut rest).map_err(|_| ProtobufErrorKind::LengthPrefix)?;
    if len > rest.len() {
        return Err(ProtobufErrorKind::Truncated {
            len,
            left: rest.len(),
        });
    }
    let start = body.len() - rest.len();
    Ok((&rest[..len], start + len))
}

/// One decoded family as a model family; `None` when it has no metrics.
fn convert_family(
    mf: proto::MetricFamily,
    names: Names,
) -> Result<Option<Family<'static>>, ProtobufErrorKind> {
    let name = mf.name.unwrap_or_default();
    let valid = match names {
        Names::Classic => is_valid_metric_name(&name),
        Names::Utf8 => !name.is_empty(),
    };
    if !valid {
        return Err(ProtobufErrorKind::InvalidMetricName(name));
    }
    let kind = family_type(&name, mf.r#type)?;
    if mf.metric.is_empty() {
        return Ok(None);
    }
    let metrics = mf
        .metric
        .into_iter()
        .map(|m| convert_metric(&name, kind, m, names))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Family {
        name: Cow::Owned(name),
        help: mf.help.map(Cow::Owned),
        kind,
        metrics,
    }))
}

/// The model type of a family; an absent type is `COUNTER`, the schema's default (as Go reads it).
fn family_type(name: &str, raw: Option<i32>) -> Result<MetricType, ProtobufErrorKind> {
    let unsupported = |kind: String| ProtobufErrorKind::UnsupportedType {
        name: name.to_owned(),
        kind,
    };
    match proto::MetricType::try_from(raw.unwrap_or(0)) {
        Ok(proto::MetricType::Counter) => Ok(MetricType::Counter),
        Ok(proto::MetricType::Gauge) => Ok(MetricType::Gauge),
        Ok(proto::MetricType::Summary) => Ok(MetricType::Summary),
        Ok(proto::MetricType::Untyped) => Ok(MetricType::Untyped),
        Ok(proto::MetricType::Histogram) => Ok(MetricType::Histogram),
        Ok(proto::MetricType::GaugeHistogram) => Err(unsupported("GAUGE_HISTOGRAM".into())),
        Err(_) => Err(unsupported(raw.unwrap_or(0).to_string())),
    }
}

fn convert_metric(
    name: &str,
    kind: MetricType,
    m: proto::Metric,
    names: Names,
) -> Result<Metric<'static>, ProtobufErrorKind> {
    let labels = convert_labels(name, kind, m.label, names)?;
    let missing = |field| ProtobufErrorKind::KindMismatch {
        metric: name.to_owned(),
        kind: kind.as_upper_str(),
        field,
    };
    let value = match kind {
        MetricType::Counter => Value::Scalar(m.counter.ok_or(missing("counter"))?.value()),
        MetricType::Gauge => Value::Scalar(m.gauge.ok_or(missing("gauge"))?.value()),
        MetricType::Untyped => Value::Scalar(m.untyped.ok_or(missing("untyped"))?.value()),
        MetricType::Summary => Value::Summary(Box::new(convert_summary(
            &m.summary.ok_or(missing("summary"))?,
        ))),
        MetricType::Histogram => Value::Histogram(Box::new(convert_histogram(
            &m.histogram.ok_or(missing("histogram"))?,
        ))),
    };
    Ok(Metric {
        labels: labels.into(),
        value,
        timestamp_ms: m.timestamp_ms,
        label_block: None,
    })
}

fn convert_labels(
    metric: &str,
    kind: MetricType,
    pairs: Vec<proto::LabelPair>,
    names: Names,
) -> Result<Vec<Label<'static>>, ProtobufErrorKind> {
    let mut labels: Vec<Label<'static>> = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let label = pair.name.unwrap_or_default();
        let err =
            |make: fn(String, String) -> ProtobufErrorKind| make(metric.to_owned(), label.clone());
        let valid = match names {
            Names::Classic => is_valid_label_name(&label),
            Names::Utf8 => !label.is_empty(),
        };
        if !valid {
            return Err(err(|metric, label| ProtobufErrorKind::InvalidLabelName {
                metric,
                label,
            }));
        }
        if label.starts_with("__") {
            return Err(err(|metric, label| ProtobufErrorKind::ReservedLabelName {
                metric,
                label,
            }));
        }
        let explicit = match kind {
            MetricType::Summary => "quantile",
            MetricType::Histogram => "le",
            _ => "",
        };
        if label == explicit {
            return Err(ProtobufErrorKind::ExplicitLabel {
                metric: metric.to_owned(),
                kind: kind.as_upper_str(),
                label: explicit,
            });
        }
        if labels.iter().any(|l| l.name == label) {
            return Err(err(|metric, label| ProtobufErrorKind::DuplicateLabelName {
                metric,
                label,
            }));
        }
        labels.push(Label {
            name: Cow::Owned(label),
            value: Cow::Owned(pair.value.unwrap_or_default()),
        });
    }
    Ok(labels)
}

#[allow(
    clippy::cast_precision_loss,
    reason = "counts above 2^53 lose precision in f64, as they do in Prometheus itself"
)]
fn convert_summary(s: &proto::Summary) -> Summary {
    Summary {
        count: s.sample_count.map(|c| c as f64),
        sum: s.sample_sum,
        quantiles: s
            .quantile
            .iter()
            .map(|q| (q.quantile(), q.value()))
            .collect(),
    }
}

/// The schema's rule: a `*_float` count overrides the integer one when it is positive.
#[allow(
    clippy::cast_precision_loss,
    reason = "counts above 2^53 lose precision in f64, as they do in Prometheus itself"
)]
fn count(int: Option<u64>, float: Option<f64>) -> Option<f64> {
    match float {
        Some(f) if f > 0.0 => Some(f),
        _ => int.map(|c| c as f64),
    }
}

fn convert_histogram(h: &proto::Histogram) -> Histogram {
    let native = native_parts(h).map(Box::new);
    Histogram {
        count: count(h.sample_count, h.sample_count_float),
        sum: h.sample_sum,
        buckets: h
            .bucket
            .iter()
            .map(|b| {
                let c = count(b.cumulative_count, b.cumulative_count_float).unwrap_or(0.0);
                (b.upper_bound(), c)
            })
            .collect(),
        native,
    }
}

/// The native parts of a histogram, or `None` for a purely classic one.
fn native_parts(h: &proto::Histogram) -> Option<NativeHistogram> {
    let sides = |spans: &[proto::BucketSpan], deltas: &[i64], counts: &[f64]| NativeBuckets {
        spans: spans.iter().map(|s| (s.offset(), s.length())).collect(),
        deltas: deltas.to_vec(),
        counts: counts.to_vec(),
    };
    let native = NativeHistogram {
        float_count: h.sample_count_float.is_some_and(|f| f > 0.0),
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count,
        zero_count_float: h.zero_count_float,
        negative: sides(&h.negative_span, &h.negative_delta, &h.negative_count),
        positive: sides(&h.positive_span, &h.positive_delta, &h.positive_count),
        exemplars: h.exemplars.iter().map(convert_exemplar).collect(),
    };
    let empty = NativeHistogram {
        float_count: native.float_count,
        ..NativeHistogram::default()
    };
    (native != empty).then_some(native)
}

fn convert_exemplar(e: &proto::Exemplar) -> Exemplar {
    Exemplar {
        labels: e
            .label
            .iter()
            .map(|l| (l.name().to_owned(), l.value().to_owned()))
            .collect(),
        value: e.value,
        timestamp: e.timestamp.map(|t| (t.seconds, t.nanos)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::MetricType as T;

    fn label(name: &str, value: &str) -> proto::LabelPair {
        proto::LabelPair {
            name: Some(name.into()),
            value: Some(value.into()),
        }
    }

    fn gauge(labels: Vec<proto::LabelPair>, v: f64) -> proto::Metric {
        proto::Metric {
            label: labels,
            gauge: Some(proto::Gauge { value: Some(v) }),
            ..Default::default()
        }
    }

    fn family(name: &str, kind: T, metric: Vec<proto::Metric>) -> proto::MetricFamily {
        proto::MetricFamily {
            name: Some(name.into()),
            help: Some(format!("help of {name}")),
            r#type: Some(kind as i32),
            metric,
            unit: None,
        }
    }

    fn body(families: &[proto::MetricFamily]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in families {
            f.encode_length_delimited(&mut out).expect("vec grows");
        }
        out
    }

    #[track_caller]
    fn check_err(families: &[proto::MetricFamily], want: &str) {
        let err = parse(&body(families)).expect_err("must be refused");
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn gauges_decode_with_help_and_labels() {
        let fams = parse(&body(&[family(
            "g",
            T::Gauge,
            vec![gauge(vec![label("a", "x\"y")], 2.5)],
        )]))
        .expect("valid");
        assert_eq!(fams.len(), 1);
        assert_eq!(fams[0].name, "g");
        assert_eq!(fams[0].help.as_deref(), Some("help of g"));
        assert_eq!(fams[0].kind, MetricType::Gauge);
        assert_eq!(fams[0].metrics[0].labels[0].value, "x\"y");
        assert_eq!(fams[0].metrics[0].value, Value::Scalar(2.5));
    }

    #[test]
    fn a_repeated_family_name_replaces_the_earlier_one() {
        let fams = parse(&body(&[
            family("a", T::Gauge, vec![gauge(vec![], 1.0)]),
            family("b", T::Gauge, vec![gauge(vec![], 2.0)]),
            family("a", T::Gauge, vec![gauge(vec![], 3.0)]),
        ]))
        .expect("valid");
        let got: Vec<(&str, &Value)> = fams
            .iter()
            .map(|f| (f.name.as_ref(), &f.metrics[0].value))
            .collect();
        assert_eq!(
            got,
            [("a", &Value::Scalar(3.0)), ("b", &Value::Scalar(2.0))]
        );
    }

    #[test]
    fn families_without_metrics_are_left_out() {
        assert!(parse(&body(&[family("a", T::Gauge, vec![])]))
            .expect("valid")
            .is_empty());
        assert!(parse(b"").expect("valid").is_empty());
    }

    #[test]
    fn invalid_names_are_refused_with_the_message_offset() {
        let ok = family("ok", T::Gauge, vec![gauge(vec![], 1.0)]);
        let offset = body(std::slice::from_ref(&ok)).len();
        check_err(
            &[ok, family("1a", T::Gauge, vec![gauge(vec![], 1.0)])],
            &format!("invalid protobuf at byte offset {offset}: invalid metric name \"1a\""),
        );
        check_err(
            &[family(
                "m",
                T::Gauge,
                vec![gauge(vec![label("a-b", "")], 1.0)],
            )],
            "invalid protobuf at byte offset 0: invalid label name \"a-b\" for metric \"m\"",
        );
        check_err(
            &[family(
                "m",
                T::Gauge,
                vec![gauge(vec![label("__x", "")], 1.0)],
            )],
            "invalid protobuf at byte offset 0: label name \"__x\" of metric \"m\" is reserved",
        );
        check_err(
            &[family(
                "m",
                T::Gauge,
                vec![gauge(vec![label("a", "1"), label("a", "2")], 1.0)],
            )],
            "invalid protobuf at byte offset 0: duplicate label name \"a\" for metric \"m\"",
        );
    }

    #[test]
    fn a_metric_must_carry_the_field_of_its_family_type() {
        let counter_metric = proto::Metric {
            counter: Some(proto::Counter {
                value: Some(1.0),
                ..Default::default()
            }),
            ..Default::default()
        };
        check_err(
            &[family("m", T::Gauge, vec![counter_metric])],
            "invalid protobuf at byte offset 0: metric \"m\" is of type GAUGE but carries no gauge value",
        );
        check_err(
            &[family("m", T::GaugeHistogram, vec![gauge(vec![], 1.0)])],
            "invalid protobuf at byte offset 0: metric family \"m\" has unsupported type GAUGE_HISTOGRAM",
        );
    }

    #[test]
    fn summaries_refuse_an_explicit_quantile_label() {
        let m = proto::Metric {
            label: vec![label("quantile", "0.5")],
            summary: Some(proto::Summary::default()),
            ..Default::default()
        };
        check_err(
            &[family("s", T::Summary, vec![m])],
            "invalid protobuf at byte offset 0: metric \"s\" of type SUMMARY must not have an explicit \"quantile\" label",
        );
    }

    #[test]
    fn truncated_and_garbage_bodies_name_the_offset() {
        let mut b = body(&[family("a", T::Gauge, vec![gauge(vec![], 1.0)])]);
        let whole = b.len();
        b.extend_from_slice(&[0x20, 0x0a]);
        assert_eq!(
            parse(&b).expect_err("truncated").to_string(),
            format!("invalid protobuf at byte offset {whole}: message of 32 bytes runs past the end of the body (1 bytes left)")
        );
        assert_eq!(
            parse(&[0xff]).expect_err("cut varint").kind,
            ProtobufErrorKind::LengthPrefix
        );
        assert!(matches!(
            parse(&[0x02, 0xff, 0xff]).expect_err("garbage").kind,
            ProtobufErrorKind::Decode(_)
        ));
    }

    #[test]
    fn histogram_float_counts_override_integer_ones_and_native_parts_are_kept() {
        let h = proto::Histogram {
            sample_count: Some(3),
            sample_count_float: Some(3.5),
            sample_sum: Some(1.0),
            bucket: vec![proto::Bucket {
                cumulative_count: Some(2),
                upper_bound: Some(0.5),
                ..Default::default()
            }],
            schema: Some(3),
            zero_threshold: Some(1e-9),
            positive_span: vec![proto::BucketSpan {
                offset: Some(-2),
                length: Some(2),
            }],
            positive_count: vec![1.5, 2.0],
            ..Default::default()
        };
        let m = proto::Metric {
            histogram: Some(h),
            ..Default::default()
        };
        let fams = parse(&body(&[family("h", T::Histogram, vec![m])])).expect("valid");
        let Value::Histogram(h) = &fams[0].metrics[0].value else {
            panic!("histogram expected");
        };
        assert_eq!(h.count, Some(3.5));
        assert_eq!(h.buckets, [(0.5, 2.0)]);
        let native = h.native.as_ref().expect("native parts kept");
        assert!(native.float_count);
        assert_eq!(native.schema, Some(3));
        assert_eq!(native.positive.spans, [(-2, 2)]);
        assert_eq!(native.positive.counts, [1.5, 2.0]);
    }

    #[test]
    fn classic_histograms_have_no_native_parts() {
        let m = proto::Metric {
            histogram: Some(proto::Histogram {
                sample_count: Some(1),
                sample_sum: Some(1.0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let fams = parse(&body(&[family("h", T::Histogram, vec![m])])).expect("valid");
        let Value::Histogram(h) = &fams[0].metrics[0].value else {
            panic!("histogram expected");
        };
        assert!(h.native.is_none());
    }
}
