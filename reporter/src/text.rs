//! The text exposition writer, byte-for-byte as Flink's reporter writes it.
//!
//! Owns: the line format of the Prometheus Java client 0.8 (`TextFormat.write004`) as Flink's
//! `PrometheusPushGatewayReporter` drives it: `# HELP`/`# TYPE` per family, label sets with a
//! trailing comma (`{a="1",b="2",}`), values in Java's `Double.toString`, LF line ends; and
//! Flink's name filter ([`filter_characters`]).
//! Does not own: which metrics exist or how they are named (see [`crate::group`]).
//!
//! Data enters as names, pre-rendered [`Labels`] and `f64` values, and leaves appended to a
//! caller-owned `Vec<u8>`, so a caller can reuse one buffer across pushes.

use crate::java::write_go_double;

/// The quantiles Flink exports for every histogram, with their label values as Java's
/// `Double.toString` prints them.
pub const FLINK_QUANTILES: [(f64, &str); 6] = [
    (0.5, "0.5"),
    (0.75, "0.75"),
    (0.95, "0.95"),
    (0.98, "0.98"),
    (0.99, "0.99"),
    (0.999, "0.999"),
];

/// The `# TYPE` of a family. Flink only ever sends [`MetricType::Gauge`] (counters, gauges and
/// meters) and [`MetricType::Summary`] (histograms); the others are here for other programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `gauge`.
    Gauge,
    /// `counter`.
    Counter,
    /// `summary`.
    Summary,
    /// `histogram`.
    Histogram,
    /// `untyped`.
    Untyped,
}

impl MetricType {
    /// The word after `# TYPE <name> `.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Counter => "counter",
            Self::Summary => "summary",
            Self::Histogram => "histogram",
            Self::Untyped => "untyped",
        }
    }
}

/// Flink's `CHARACTER_FILTER`: every character outside `[a-zA-Z0-9:_]` becomes `_`.
///
/// Flink applies it to metric names, scope components, label names, and (with the default
/// `filterLabelValueCharacters: true`) label values. One `_` per Unicode code point, as Java's
/// regex matches code points.
#[must_use]
pub fn filter_characters(input: &str) -> String {
    input
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A label set rendered once, as `k1="v1",k2="v2",` (each pair with its trailing comma, no
/// braces), so writing a sample is a copy. Values are escaped (`\\`, `\"`, `\n`); names are
/// written as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    rendered: String,
}

impl Labels {
    /// Renders `pairs` in the order given.
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut labels = Self::default();
        for (name, value) in pairs {
            labels.push(name.as_ref(), value.as_ref());
        }
        labels
    }

    /// Appends one pair.
    pub fn push(&mut self, name: &str, value: &str) {
        self.rendered.reserve(name.len() + value.len() + 4);
        self.rendered.push_str(name);
        self.rendered.push_str("=\"");
        escape_label_value(&mut self.rendered, value);
        self.rendered.push_str("\",");
    }

    /// The rendered pairs, `k="v",...` with a trailing comma; empty for no labels.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.rendered
    }

    /// Whether there are no pairs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rendered.is_empty()
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
}

/// Appends exposition text to a buffer. Cheap to create; holds no state but the buffer.
#[derive(Debug)]
pub struct TextWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> TextWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out }
    }

    /// Writes `# HELP <name> <help>` (help escaped: `\\`, `\n`) and `# TYPE <name> <type>`.
    pub fn family(&mut self, name: &str, help: &str, kind: MetricType) {
        let out = &mut *self.out;
        out.reserve(2 * name.len() + help.len() + 24);
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        for &b in help.as_bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                _ => out.push(b),
            }
        }
        out.extend_from_slice(b"\n# TYPE ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(kind.as_str().as_bytes());
        out.push(b'\n');
    }

    /// Writes one sample line: `<name>{<labels>} <value>`; no braces when `labels` is empty.
    pub fn sample(&mut self, name: &str, labels: &Labels, value: f64) {
        self.sample_with(name, "", labels, None, value);
    }

    /// Writes one sample line with a name suffix (`_count`) and one extra label appended after
    /// `labels` (`quantile`), as the Java client does for summaries.
    pub fn sample_with(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &Labels,
        extra: Option<(&str, &str)>,
        value: f64,
    ) {
        let out = &mut *self.out;
        out.reserve(name.len() + suffix.len() + labels.as_str().len() + 48);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        if !labels.is_empty() || extra.is_some() {
            out.push(b'{');
            out.extend_from_slice(labels.as_str().as_bytes());
            if let Some((label, label_value)) = extra {
                let mut pair = String::with_capacity(label.len() + label_value.len() + 4);
                pair.push_str(label);
                pair.push_str("=\"");
                escape_label_value(&mut pair, label_value);
                pair.push_str("\",");
                out.extend_from_slice(pair.as_bytes());
            }
            out.push(b'}');
        }
        out.push(b' ');
        write_go_double(out, value);
        out.push(b'\n');
    }

    /// Writes a Flink histogram's samples: `<name>_count` first, then one sample per quantile
    /// of [`FLINK_QUANTILES`] with `quantile` as the last label. No `_sum`, as in Flink.
    /// `quantile` is called with each quantile (`0.5`, ..., `0.999`).
    pub fn flink_summary(
        &mut self,
        name: &str,
        labels: &Labels,
        count: f64,
        mut quantile: impl FnMut(f64) -> f64,
    ) {
        self.sample_with(name, "_count", labels, None, count);
        for (q, text) in FLINK_QUANTILES {
            self.sample_with(name, "", labels, Some(("quantile", text)), quantile(q));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(write: impl FnOnce(&mut TextWriter<'_>), want: &str) {
        let mut out = Vec::new();
        write(&mut TextWriter::new(&mut out));
        assert_eq!(String::from_utf8(out).expect("utf-8"), want);
    }

    #[test]
    fn family_header() {
        check(
            |w| w.family("flink_x", "x (scope: a_b)", MetricType::Gauge),
            "# HELP flink_x x (scope: a_b)\n# TYPE flink_x gauge\n",
        );
        check(
            |w| w.family("m", "back\\slash\nnewline \"q\"", MetricType::Summary),
            "# HELP m back\\\\slash\\nnewline \"q\"\n# TYPE m summary\n",
        );
    }

    #[test]
    fn samples() {
        let labels = Labels::new([("host", "localhost"), ("tm_id", "a:1")]);
        check(
            |w| w.sample("m", &labels, 52.0),
            "m{host=\"localhost\",tm_id=\"a:1\",} 52.0\n",
        );
        check(|w| w.sample("m", &Labels::default(), 1e9), "m 1.0E9\n");
        check(
            |w| w.sample("m", &Labels::new([("v", "a\"b\\c\nd")]), f64::NAN),
            "m{v=\"a\\\"b\\\\c\\nd\",} NaN\n",
        );
        check(
            |w| w.sample("m", &Labels::default(), f64::NEG_INFINITY),
            "m -Inf\n",
        );
    }

    #[test]
    fn flink_summary_has_count_and_six_quantiles_no_sum() {
        let labels = Labels::new([("host", "h")]);
        check(
            |w| w.flink_summary("lat", &labels, 10.0, |q| q),
            "lat_count{host=\"h\",} 10.0\n\
             lat{host=\"h\",quantile=\"0.5\",} 0.5\n\
             lat{host=\"h\",quantile=\"0.75\",} 0.75\n\
             lat{host=\"h\",quantile=\"0.95\",} 0.95\n\
             lat{host=\"h\",quantile=\"0.98\",} 0.98\n\
             lat{host=\"h\",quantile=\"0.99\",} 0.99\n\
             lat{host=\"h\",quantile=\"0.999\",} 0.999\n",
        );
    }

    #[test]
    fn filter_characters_like_flink() {
        assert_eq!(filter_characters("records-lag-max"), "records_lag_max");
        assert_eq!(
            filter_characters("Source: Seq Source -> Instrumented Map"),
            "Source:_Seq_Source____Instrumented_Map"
        );
        assert_eq!(filter_characters("größe"), "gr__e");
        assert_eq!(filter_characters("ok_:AZ09"), "ok_:AZ09");
    }
}
