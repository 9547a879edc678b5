//! Text lines for the series of one family in one group, in the Go Pushgateway's format.
//!
//! Owns: the layout of sample lines (`name{labels} value`, summary quantile/`_sum`/`_count`
//! lines, histogram `_bucket`/`_sum`/`_count` lines) and [`RenderedLines`], the per-series
//! offsets that let `render` splice runs of series from several groups without re-rendering.
//! Does not own: `# HELP`/`# TYPE` lines or the order of families (see `render`).
//!
//! Enters as a `&StoredFamily`; leaves as immutable `Bytes`, cached on the family.
//!
//! Label text: a Flink label set (interned, shared by dozens of families) and a summary's
//! labels (on every quantile line) would be escaped and written again for every line. So each
//! family writes the `name="value",...` text of a series' label set once, and on the threads
//! that render scrapes (which call [`with_label_texts`]) the text of every set met during one
//! scrape is kept by set until the scrape is done, and copied from there.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::Range;

use bytes::Bytes;

use crate::model::Value;
use crate::render::text::{write_float, write_label_value};
use crate::store::consistency::IdHasher;
use crate::store::group::{LabelSet, StoredFamily, Str};

/// The label texts of the sets met by this thread's current scrape (see the module doc).
#[derive(Default)]
struct LabelTexts {
    /// Whether a scrape on this thread is collecting (see [`with_label_texts`]).
    on: bool,
    /// Set (by [`set_key`]; the entry holds the set, so its address stays its own) -> text.
    by_set: HashMap<u64, (LabelSet, Range<usize>), BuildHasherDefault<IdHasher>>,
    text: Vec<u8>,
}

/// Past this much text the kept label texts are dropped and collection starts again.
const MAX_LABEL_TEXT: usize = 64 << 20;

thread_local! {
    static LABEL_TEXTS: RefCell<LabelTexts> = RefCell::new(LabelTexts::default());
}

/// Runs `f` (a scrape's rendering) keeping the label text of every label set it renders, and
/// drops them (and the sets they hold) afterwards.
pub fn with_label_texts<T>(f: impl FnOnce() -> T) -> T {
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            LABEL_TEXTS.with(|t| {
                let mut t = t.borrow_mut();
                t.on = false;
                t.by_set = HashMap::default();
                t.text = Vec::new();
            });
        }
    }
    LABEL_TEXTS.with(|t| t.borrow_mut().on = true);
    let _done = Done;
    f()
}

/// A well-mixed map key for a label set's address (a bijection, so distinct sets never share
/// one): aligned addresses alone would crowd a few hash buckets.
fn set_key(labels: &LabelSet) -> u64 {
    (labels.as_ptr() as usize as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Appends the `name="value",...` text of `labels` (no braces).
fn write_label_text(out: &mut Vec<u8>, labels: &[(Str, Str)]) {
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b"=\"");
        write_label_value(out, v);
        out.push(b'"');
    }
}

/// The rendered sample lines of one stored family, with the start offset of each series.
#[derive(Debug, Clone, Default)]
pub struct RenderedLines {
    /// All lines, each ending in `\n`.
    pub bytes: Bytes,
    /// `offsets[i]` is where series `i` starts; series `i` ends at `offsets[i + 1]` or the end.
    pub offsets: Vec<u32>,
}

impl RenderedLines {
    /// The heap bytes this rendering holds (what the render budget counts).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len() + self.offsets.capacity() * std::mem::size_of::<u32>()
    }

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

/// Renders every series of `family` as the text format 0.0.4 and OpenMetrics show it (their
/// sample lines are the same bytes).
///
/// A histogram always gets its `le="+Inf"` bucket and its `_count`, as Go's `expfmt` writes
/// them (a protobuf push, native histograms included, need not carry either): the `+Inf`
/// bucket holds the count, or else the last bucket's count; `_count` holds the count, or else
/// the `+Inf` bucket's. Without them `histogram_quantile` cannot work, and OpenMetrics requires
/// both. A missing `_sum` stays missing (Go would invent `0`).
#[must_use]
pub fn render_lines(family: &StoredFamily) -> RenderedLines {
    LABEL_TEXTS.with(|texts| {
        let mut texts = texts.borrow_mut();
        render_with(family, |labels, buf| {
            if !texts.on {
                write_label_text(buf, labels);
                return;
            }
            let t = &mut *texts;
            if t.text.len() > MAX_LABEL_TEXT {
                t.by_set.clear();
                t.text.clear();
            }
            let key = set_key(labels);
            let range = if let Some((_, range)) = t.by_set.get(&key) {
                range.clone()
            } else {
                let start = t.text.len();
                write_label_text(&mut t.text, labels);
                let range = start..t.text.len();
                t.by_set.insert(key, (labels.clone(), range.clone()));
                range
            };
            buf.extend_from_slice(&t.text[range]);
        })
    })
}

/// Renders the lines of `family`, taking each series' label text from `label_text`.
fn render_with(
    family: &StoredFamily,
    mut label_text: impl FnMut(&LabelSet, &mut Vec<u8>),
) -> RenderedLines {
    let mut out = Vec::with_capacity(estimate(family));
    let mut offsets = Vec::with_capacity(family.series.len());
    let mut text = Vec::new();
    for s in &family.series {
        offsets.push(u32::try_from(out.len()).expect("a rendered family stays under 4 GiB"));
        text.clear();
        label_text(&s.labels, &mut text);
        let labels = text.as_slice();
        match &s.value {
            Value::Scalar(v) => write_sample(&mut out, &family.name, "", labels, None, *v),
            Value::Summary(sum) => {
                for &(q, v) in &sum.quantiles {
                    write_sample(&mut out, &family.name, "", labels, Some(("quantile", q)), v);
                }
                write_sum_count(&mut out, &family.name, labels, sum.sum, sum.count);
            }
            Value::Histogram(h) => {
                for &(le, c) in &h.buckets {
                    write_count_sample(
                        &mut out,
                        &family.name,
                        "_bucket",
                        labels,
                        Some(("le", le)),
                        c,
                    );
                }
                let last = h.buckets.last().map(|b| b.1);
                if !has_inf_bucket(h) {
                    write_count_sample(
                        &mut out,
                        &family.name,
                        "_bucket",
                        labels,
                        Some(("le", f64::INFINITY)),
                        h.count.or(last).unwrap_or(0.0),
                    );
                }
                let count = h.count.or(last).unwrap_or(0.0);
                write_sum_count(&mut out, &family.name, labels, h.sum, Some(count));
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
    let mut text = Vec::with_capacity(labels.len() * 24);
    write_label_text(&mut text, labels);
    let mut out = Vec::with_capacity(64 + text.len());
    write_sample(&mut out, name, "", &text, None, value);
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
    labels: &[u8],
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
    labels: &[u8],
    extra: Option<(&str, f64)>,
    value: f64,
) {
    write_line(out, (name, suffix), labels, extra, value, write_count);
}

fn write_sample(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: &[u8],
    extra: Option<(&str, f64)>,
    value: f64,
) {
    write_line(out, (name, suffix), labels, extra, value, write_float);
}

/// One sample line: head, the value written by `write_value`, newline.
fn write_line(
    out: &mut Vec<u8>,
    (name, suffix): (&str, &str),
    labels: &[u8],
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
    labels: &[u8],
    extra: Option<(&str, f64)>,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    if !labels.is_empty() || extra.is_some() {
        out.push(b'{');
        out.extend_from_slice(labels);
        // Go writes `quantile`/`le` after the metric's own labels, not in sorted position.
        if let Some((n, v)) = extra {
            if !labels.is_empty() {
                out.push(b',');
            }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{MetricType, Summary};
    use crate::store::group::Series;

    fn family(name: &str, kind: MetricType, series: Vec<(LabelSet, Value)>) -> StoredFamily {
        let series = series
            .into_iter()
            .map(|(labels, value)| Series { labels, value })
            .collect();
        StoredFamily::new(Str::from(name), None, kind, series, 0.0)
    }

    #[test]
    fn kept_label_texts_render_the_same_lines_and_are_let_go_after_the_scrape() {
        let shared: LabelSet = vec![
            (Str::from("a"), Str::from("q\"\\\n")),
            (Str::from("job"), Str::from("j")),
        ]
        .into();
        let empty: LabelSet = Vec::new().into();
        let summary = Value::Summary(Box::new(Summary {
            count: Some(2.0),
            sum: None,
            quantiles: vec![(0.5, 1.0), (0.9, 2.0)],
        }));
        let families = [
            family(
                "g",
                MetricType::Gauge,
                vec![
                    (shared.clone(), Value::Scalar(1.0)),
                    (empty.clone(), Value::Scalar(2.0)),
                ],
            ),
            family(
                "s",
                MetricType::Summary,
                vec![(shared.clone(), summary.clone()), (empty, summary)],
            ),
        ];
        let plain: Vec<Bytes> = families.iter().map(|f| render_lines(f).bytes).collect();
        assert_eq!(
            String::from_utf8_lossy(&plain.concat()),
            "g 2\ng{a=\"q\\\"\\\\\\n\",job=\"j\"} 1\n\
             s{quantile=\"0.5\"} 1\ns{quantile=\"0.9\"} 2\ns_count 2\n\
             s{a=\"q\\\"\\\\\\n\",job=\"j\",quantile=\"0.5\"} 1\n\
             s{a=\"q\\\"\\\\\\n\",job=\"j\",quantile=\"0.9\"} 2\n\
             s_count{a=\"q\\\"\\\\\\n\",job=\"j\"} 2\n"
        );
        let before = Arc::strong_count(&shared);
        let kept = with_label_texts(|| {
            let kept: Vec<Bytes> = families.iter().map(|f| render_lines(f).bytes).collect();
            assert!(
                Arc::strong_count(&shared) > before,
                "the set is held while kept"
            );
            kept
        });
        assert_eq!(kept, plain);
        assert_eq!(
            Arc::strong_count(&shared),
            before,
            "and let go after the scrape"
        );
    }
}
