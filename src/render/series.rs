//! Text lines for the series of one family in one group, in the Go Pushgateway's format.
//!
//! Owns: the layout of sample lines (`name{labels} value`, summary quantile/`_sum`/`_count`
//! lines, histogram `_bucket`/`_sum`/`_count` lines) and [`RenderedLines`], the per-series
//! offsets that let `render` splice runs of series from several groups without re-rendering.
//! Does not own: `# HELP`/`# TYPE` lines or the order of families (see `render`).
//!
//! Enters as a `&StoredFamily`; leaves as immutable `Bytes`, cached on the family.

use bytes::Bytes;

use crate::model::Value;
use crate::render::text::{write_float, write_label_value};
use crate::store::group::{StoredFamily, Str};

/// The rendered sample lines of one stored family, with the start offset of each series.
#[derive(Debug, Clone, Default)]
pub struct RenderedLines {
    /// All lines, each ending in `\n`.
    pub bytes: Bytes,
    /// `offsets[i]` is where series `i` starts; series `i` ends at `offsets[i + 1]` or the end.
    pub offsets: Vec<u32>,
}

impl RenderedLines {
    /// The bytes of series `start..end` (one zero-copy slice).
    #[must_use]
    pub fn run(&self, start: usize, end: usize) -> Bytes {
        let from = self.offsets[start] as usize;
        let to = self
            .offsets
            .get(end)
            .map_or(self.bytes.len(), |&o| o as usize);
        self.bytes.slice(from..to)
    }
}

/// Renders every series of `family` as the text format shows it.
#[must_use]
pub fn render_lines(family: &StoredFamily) -> RenderedLines {
    render_lines_as(family, false)
}

/// Renders every series of `family`; with `open_metrics`, a histogram without a `+Inf` bucket
/// gets one (holding its count, or else its last bucket's count), as OpenMetrics requires.
/// Everything else is laid out alike in both formats.
#[must_use]
pub fn render_lines_as(family: &StoredFamily, open_metrics: bool) -> RenderedLines {
    let mut out = Vec::with_capacity(estimate(family));
    let mut offsets = Vec::with_capacity(family.series.len());
    for s in &family.series {
        offsets.push(u32::try_from(out.len()).expect("a rendered family stays under 4 GiB"));
        match &s.value {
            Value::Scalar(v) => write_sample(&mut out, &family.name, "", &s.labels, None, *v),
            Value::Summary(sum) => {
                for &(q, v) in &sum.quantiles {
                    write_sample(
                        &mut out,
                        &family.name,
                        "",
                        &s.labels,
                        Some(("quantile", q)),
                        v,
                    );
                }
                write_sum_count(&mut out, &family.name, &s.labels, sum.sum, sum.count);
            }
            Value::Histogram(h) => {
                for &(le, c) in &h.buckets {
                    write_count_sample(
                        &mut out,
                        &family.name,
                        "_bucket",
                        &s.labels,
                        Some(("le", le)),
                        c,
                    );
                }
                if open_metrics && !has_inf_bucket(h) {
                    let inf = h.count.or(h.buckets.last().map(|b| b.1)).unwrap_or(0.0);
                    write_count_sample(
                        &mut out,
                        &family.name,
                        "_bucket",
                        &s.labels,
                        Some(("le", f64::INFINITY)),
                        inf,
                    );
                }
                write_sum_count(&mut out, &family.name, &s.labels, h.sum, h.count);
            }
        }
    }
    RenderedLines {
        bytes: Bytes::from(out),
        offsets,
    }
}

/// Whether a histogram has its `+Inf` bucket.
#[must_use]
pub fn has_inf_bucket(h: &crate::model::Histogram) -> bool {
    h.buckets.last().is_some_and(|b| b.0 == f64::INFINITY)
}

/// One `name{labels} value\n` line (used for the per-group push-time series).
#[must_use]
pub fn render_scalar_line(name: &str, labels: &[(Str, Str)], value: f64) -> Bytes {
    let mut out = Vec::with_capacity(64 + labels.len() * 24);
    write_sample(&mut out, name, "", labels, None, value);
    Bytes::from(out)
}

fn estimate(family: &StoredFamily) -> usize {
    let per = family.series.first().map_or(0, |s| {
        let labels: usize = s.labels.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        let lines = match &s.value {
            Value::Scalar(_) => 1,
            Value::Summary(x) => x.quantiles.len() + 2,
            Value::Histogram(x) => x.buckets.len() + 2,
        };
        (family.name.len() + labels + 40) * lines
    });
    per * family.series.len()
}

fn write_sum_count(
    out: &mut Vec<u8>,
    name: &str,
    labels: &[(Str, Str)],
    sum: Option<f64>,
    count: Option<f64>,
) {
    if let Some(sum) = sum {
        write_sample(out, name, "_sum", labels, None, sum);
    }
    if let Some(count) = count {
        write_count_sample(out, name, "_count", labels, None, count);
    }
}

/// Counts are unsigned integers in the Go model and print without exponent; we keep pushed
/// floats as they are, printing integral values the Go way.
fn write_count_sample(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: &[(Str, Str)],
    extra: Option<(&str, f64)>,
    value: f64,
) {
    write_line(out, (name, suffix), labels, extra, value, write_count);
}

fn write_sample(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: &[(Str, Str)],
    extra: Option<(&str, f64)>,
    value: f64,
) {
    write_line(out, (name, suffix), labels, extra, value, write_float);
}

/// One sample line: head, the value written by `write_value`, newline.
fn write_line(
    out: &mut Vec<u8>,
    (name, suffix): (&str, &str),
    labels: &[(Str, Str)],
    extra: Option<(&str, f64)>,
    value: f64,
    write_value: fn(&mut Vec<u8>, f64),
) {
    write_head(out, name, suffix, labels, extra);
    write_value(out, value);
    out.push(b'\n');
}

fn write_head(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: &[(Str, Str)],
    extra: Option<(&str, f64)>,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    if !labels.is_empty() || extra.is_some() {
        let mut sep = b'{';
        for (n, v) in labels {
            out.push(sep);
            sep = b',';
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"=\"");
            write_label_value(out, v);
            out.push(b'"');
        }
        // Go writes `quantile`/`le` after the metric's own labels, not in sorted position.
        if let Some((n, v)) = extra {
            out.push(sep);
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"=\"");
            write_float(out, v);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b' ');
}

/// Writes an integral count as an integer (`1234567`, not `1.234567e+06`), anything else as
/// a float.
pub fn write_count(out: &mut Vec<u8>, v: f64) {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "range checked just before"
    )]
    if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
        write_u64(out, v as u64);
    } else {
        write_float(out, v);
    }
}

/// Writes `n` in decimal without allocating.
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + u8::try_from(n % 10).expect("a digit fits in u8");
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}
