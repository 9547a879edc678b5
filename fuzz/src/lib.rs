//! Shared helpers of the fuzz targets: an owned, comparable form of a parsed push ([`Model`]),
//! a small order-preserving text renderer ([`render`]) built on pushgate's own escaping and
//! float writers, and the model invariants every parser promises ([`check_invariants`]).
//!
//! The renderer is local on purpose: pushgate's scrape renderer merges and sorts families
//! across groups and needs a store; the property the targets check is about the parser and
//! the byte-level writers, so families are written back in the order the parser returned them.

use std::fmt::Write as _;

use pushgate::model::{
    is_valid_label_name, is_valid_metric_name, Family, Metric, MetricType, Value,
};
pub use pushgate::parse::Names;
use pushgate::render::series::write_count;
use pushgate::render::text::{write_float, write_help, write_label_value};

/// A float as compared by the round trip: the text format has one `NaN` and no `-0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct F(u64);

impl F {
    /// Normalizes `v`: every NaN is one NaN, `-0` is `0`.
    #[must_use]
    pub fn new(v: f64) -> F {
        if v.is_nan() {
            F(f64::NAN.to_bits())
        } else {
            F((v + 0.0).to_bits())
        }
    }
}

/// The value of a metric, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V {
    /// Counter, gauge, untyped.
    Scalar(F),
    /// Summary or histogram: count, sum, (bound, value) pairs.
    Grouped(Option<F>, Option<F>, Vec<(F, F)>),
}

/// One metric, owned and normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct M {
    /// Labels in push order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: V,
    /// The timestamp.
    pub ts: Option<i64>,
}

/// One family, owned and normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fam {
    /// Name.
    pub name: String,
    /// HELP text.
    pub help: Option<String>,
    /// Type.
    pub kind: MetricType,
    /// Metrics, in order; never empty.
    pub metrics: Vec<M>,
}

/// A whole push, owned and normalized, comparable with `==`.
pub type Model = Vec<Fam>;

/// The owned, normalized form of parsed families.
///
/// A summary or histogram metric with no quantile/bucket, no `_count` and no `_sum` (possible
/// only through a `NaN` quantile or bound, which the parser drops as Go does) renders as no
/// line at all, so it is left out here, and so is a family left without metrics.
///
/// Two more normalizations matter only for other parsers (the text parser never produces
/// these): HELP text loses its leading blanks and an empty HELP is none, and a `NaN`
/// quantile or bucket bound is dropped (the text format has no way to keep either).
#[must_use]
pub fn model(families: &[Family<'_>]) -> Model {
    families
        .iter()
        .map(|f| Fam {
            name: f.name.to_string(),
            help: f
                .help
                .as_deref()
                .map(|h| h.trim_start_matches([' ', '\t']).to_owned())
                .filter(|h| !h.is_empty()),
            kind: f.kind,
            metrics: f.metrics.iter().filter_map(metric).collect(),
        })
        .filter(|f| !f.metrics.is_empty())
        .collect()
}

fn metric(m: &Metric<'_>) -> Option<M> {
    let value = match &m.value {
        Value::Scalar(v) => V::Scalar(F::new(*v)),
        Value::Summary(s) => grouped(s.count, s.sum, &s.quantiles)?,
        Value::Histogram(h) => grouped(h.count, h.sum, &h.buckets)?,
    };
    Some(M {
        labels: m
            .labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
        value,
        ts: m.timestamp_ms,
    })
}

fn grouped(count: Option<f64>, sum: Option<f64>, points: &[(f64, f64)]) -> Option<V> {
    let points: Vec<(F, F)> = points
        .iter()
        .filter(|(b, _)| !b.is_nan())
        .map(|&(b, v)| (F::new(b), F::new(v)))
        .collect();
    if count.is_none() && sum.is_none() && points.is_empty() {
        return None;
    }
    Some(V::Grouped(count.map(F::new), sum.map(F::new), points))
}

/// Whether a `_count`, `_sum` (summary, histogram) or `_bucket` (histogram) name of one family
/// is the name of another family. The text format cannot tell such families apart (a line
/// `x_count 1` belongs to whichever was declared first) and the store refuses them
/// (`client_golang`'s `checkSuffixCollisions`), so the round trip is not asked to keep them.
#[must_use]
pub fn has_suffix_collision(model: &Model) -> bool {
    let names: std::collections::HashSet<&str> = model.iter().map(|f| f.name.as_str()).collect();
    model.iter().any(|f| {
        let suffixes: &[&str] = match f.kind {
            MetricType::Summary => &["_count", "_sum"],
            MetricType::Histogram => &["_count", "_sum", "_bucket"],
            _ => &[],
        };
        suffixes
            .iter()
            .any(|s| names.contains(format!("{}{s}", f.name).as_str()))
    })
}

/// Whether a summary or histogram family has two metrics with the same label set (in any
/// order): the text format merges such lines into one metric, protobuf keeps two.
#[must_use]
pub fn has_repeated_label_set(model: &Model) -> bool {
    model.iter().any(|f| {
        let mut seen = std::collections::HashSet::new();
        matches!(f.kind, MetricType::Summary | MetricType::Histogram)
            && f.metrics.iter().any(|m| {
                let mut labels = m.labels.clone();
                labels.sort();
                !seen.insert(labels)
            })
    })
}

/// Asserts the invariants `pushgate::model` documents for every family a parser returns.
///
/// # Panics
/// When one does not hold: that is a finding.
pub fn check_invariants(families: &[Family<'_>]) {
    check_invariants_with(families, Names::Classic);
}

/// [`check_invariants`] for a parser run with `names`: with [`Names::Utf8`] names need only be
/// non-empty (renaming sanitizes them before the store sees them).
///
/// # Panics
/// When one does not hold: that is a finding.
pub fn check_invariants_with(families: &[Family<'_>], names_mode: Names) {
    let classic = names_mode == Names::Classic;
    let mut names = std::collections::HashSet::new();
    for f in families {
        assert!(
            if classic {
                is_valid_metric_name(&f.name)
            } else {
                !f.name.is_empty()
            },
            "invalid family name {:?}",
            f.name
        );
        assert!(names.insert(&*f.name), "two families named {:?}", f.name);
        assert!(!f.metrics.is_empty(), "family {:?} has no metrics", f.name);
        for m in &f.metrics {
            let mut seen = std::collections::HashSet::new();
            for l in m.labels.iter() {
                assert!(
                    if classic {
                        is_valid_label_name(&l.name)
                    } else {
                        !l.name.is_empty()
                    },
                    "invalid label name {:?}",
                    l.name
                );
                assert!(
                    !(classic && l.name.starts_with("__")),
                    "reserved label name {:?}",
                    l.name
                );
                assert!(
                    seen.insert(&*l.name),
                    "duplicate label {:?} in {:?}",
                    l.name,
                    f.name
                );
                match f.kind {
                    MetricType::Summary => assert_ne!(l.name, "quantile", "{:?}", f.name),
                    MetricType::Histogram => assert_ne!(l.name, "le", "{:?}", f.name),
                    _ => {}
                }
            }
            let fits = matches!(
                (&m.value, f.kind),
                (
                    Value::Scalar(_),
                    MetricType::Counter | MetricType::Gauge | MetricType::Untyped,
                ) | (Value::Summary(_), MetricType::Summary)
                    | (Value::Histogram(_), MetricType::Histogram)
            );
            assert!(fits, "value {:?} in a {} family", m.value, f.kind);
        }
    }
}

/// Formatting choices the text format leaves open; the parser must read them all the same.
#[derive(Debug, Clone, Copy, Default, arbitrary::Arbitrary)]
pub struct Style {
    /// Blanks inside label sets and before values (bit per place).
    pub blanks: u8,
    /// Use tabs instead of spaces for those blanks.
    pub tabs: bool,
    /// Write `# HELP` after `# TYPE` instead of before.
    pub help_after_type: bool,
    /// Leave out `# TYPE` for untyped families.
    pub omit_untyped_type: bool,
    /// A comma after the last label.
    pub trailing_comma: bool,
    /// Blank lines and plain comments between families.
    pub comments: bool,
    /// `{}` on a metric without labels.
    pub empty_braces: bool,
    /// With [`Names::Utf8`], quote even classic names.
    pub quote_names: bool,
}

impl Style {
    fn blank(self, place: u8, out: &mut Vec<u8>) {
        if self.blanks & (1 << place) != 0 {
            out.push(if self.tabs { b'\t' } else { b' ' });
        }
    }
}

/// Renders a model as the text format, families and metrics in model order.
#[must_use]
pub fn render(model: &Model, style: Style) -> Vec<u8> {
    render_with(model, style, Names::Classic)
}

/// A name as written: bare, or (with [`Names::Utf8`], when it is not classic or the style says
/// so) quoted and escaped like a label value.
fn name_token(name: &str, classic: bool, names: Names, style: Style) -> String {
    if names == Names::Classic || (classic && !style.quote_names) {
        return name.to_owned();
    }
    let mut out = b"\"".to_vec();
    write_label_value(&mut out, name);
    out.push(b'"');
    String::from_utf8(out).expect("escaping keeps UTF-8")
}

/// [`render`], quoting names as [`Names::Utf8`] allows.
#[must_use]
pub fn render_with(model: &Model, style: Style, names: Names) -> Vec<u8> {
    let mut out = Vec::new();
    for f in model {
        if style.comments {
            out.extend_from_slice(b"\n# a comment line\n#\n");
        }
        let name = name_token(&f.name, is_valid_metric_name(&f.name), names, style);
        let help = |out: &mut Vec<u8>| {
            if let Some(h) = &f.help {
                out.extend_from_slice(format!("# HELP {name} ").as_bytes());
                write_help(out, h);
                out.push(b'\n');
            }
        };
        if !style.help_after_type {
            help(&mut out);
        }
        if f.kind != MetricType::Untyped || !style.omit_untyped_type {
            out.extend_from_slice(format!("# TYPE {name} {}\n", f.kind).as_bytes());
        }
        if style.help_after_type {
            help(&mut out);
        }
        for m in &f.metrics {
            render_metric(&mut out, f, m, Layout { style, names });
        }
    }
    out
}

/// How lines are written.
#[derive(Clone, Copy)]
struct Layout {
    style: Style,
    names: Names,
}

fn render_metric(out: &mut Vec<u8>, f: &Fam, m: &M, style: Layout) {
    let bound = if f.kind == MetricType::Histogram {
        "le"
    } else {
        "quantile"
    };
    match &m.value {
        V::Scalar(v) => line(out, &f.name, &m.labels, None, *v, false, m.ts, style),
        V::Grouped(count, sum, points) => {
            let suffix = if f.kind == MetricType::Histogram {
                "_bucket"
            } else {
                ""
            };
            for &(b, v) in points {
                let name = format!("{}{suffix}", f.name);
                let is_count = f.kind == MetricType::Histogram;
                line(
                    out,
                    &name,
                    &m.labels,
                    Some((bound, b)),
                    v,
                    is_count,
                    m.ts,
                    style,
                );
            }
            if let Some(s) = sum {
                let name = format!("{}_sum", f.name);
                line(out, &name, &m.labels, None, *s, false, m.ts, style);
            }
            if let Some(c) = count {
                let name = format!("{}_count", f.name);
                line(out, &name, &m.labels, None, *c, true, m.ts, style);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn line(
    out: &mut Vec<u8>,
    name: &str,
    labels: &[(String, String)],
    bound: Option<(&str, F)>,
    value: F,
    is_count: bool,
    ts: Option<i64>,
    layout: Layout,
) {
    let style = layout.style;
    let quoted = layout.names == Names::Utf8 && (style.quote_names || !is_valid_metric_name(name));
    if !quoted {
        out.extend_from_slice(name.as_bytes());
        style.blank(0, out);
    }
    if quoted || !labels.is_empty() || bound.is_some() || style.empty_braces {
        out.push(b'{');
        let mut first = true;
        if quoted {
            style.blank(1, out);
            out.extend_from_slice(name_token(name, false, layout.names, style).as_bytes());
            style.blank(4, out);
            first = false;
        }
        let mut pair = |out: &mut Vec<u8>, n: &str, write: &dyn Fn(&mut Vec<u8>)| {
            if !first {
                out.push(b',');
            }
            first = false;
            style.blank(1, out);
            let classic = is_valid_label_name(n) && !n.starts_with("__");
            let token = name_token(n, classic, layout.names, style);
            out.extend_from_slice(token.as_bytes());
            style.blank(2, out);
            out.push(b'=');
            style.blank(3, out);
            out.push(b'"');
            write(out);
            out.push(b'"');
            style.blank(4, out);
        };
        for (n, v) in labels {
            pair(out, n, &|out| write_label_value(out, v));
        }
        if let Some((n, b)) = bound {
            pair(out, n, &|out| write_float(out, f64::from_bits(b.0)));
        }
        if style.trailing_comma && !first {
            out.push(b',');
            style.blank(5, out);
        }
        out.push(b'}');
        style.blank(6, out);
    }
    // A value needs a separator only after the bare name.
    if out.last().is_some_and(u8::is_ascii_alphanumeric)
        || out.last() == Some(&b'_')
        || out.last() == Some(&b':')
    {
        out.push(b' ');
    }
    let v = f64::from_bits(value.0);
    if is_count {
        write_count(out, v);
    } else {
        write_float(out, v);
    }
    if let Some(ts) = ts {
        out.push(if style.tabs { b'\t' } else { b' ' });
        style.blank(7, out);
        write!(Text(out), "{ts}").expect("writing to a Vec cannot fail");
    }
    out.push(b'\n');
}

/// `fmt::Write` into a byte vector.
struct Text<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Parses `text` and asserts it gives `want` (shows the text on failure).
///
/// # Panics
/// When the text does not parse or parses to another model: a finding.
pub fn assert_parses_to(text: &[u8], want: &Model) {
    assert_parses_to_with(text, want, Names::Classic);
}

/// [`assert_parses_to`] with the parser accepting `names`.
///
/// # Panics
/// When the text does not parse or parses to another model: a finding.
pub fn assert_parses_to_with(text: &[u8], want: &Model, names: Names) {
    let families = match pushgate::parse::text::parse_with(text, names) {
        Ok(f) => f,
        Err(e) => panic!(
            "rendered text does not parse: {e}\n--- text ---\n{}",
            String::from_utf8_lossy(text)
        ),
    };
    check_invariants_with(&families, names);
    let got = model(&families);
    assert!(
        got == *want,
        "round trip changed the model\n--- text ---\n{}\n--- want ---\n{want:#?}\n--- got ---\n{got:#?}",
        String::from_utf8_lossy(text)
    );
}

/// Restoring persistence files into a store with pushgate's own start-up code.
pub mod persist {
    use std::path::PathBuf;

    use pushgate::store::Store;
    use pushgate::telemetry::BUILTIN_FAMILIES;

    /// A per-process scratch file, in memory (`/dev/shm`) where there is one.
    fn scratch() -> PathBuf {
        let dir = std::path::Path::new("/dev/shm");
        let dir = if dir.is_dir() {
            dir.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("pushgate-fuzz-{}.data", std::process::id()))
    }

    /// A store restored from a file holding `bytes` (`pushgate::persist::restore`, as at
    /// start-up), or `None` when start-up would refuse the file.
    ///
    /// # Panics
    /// When the scratch file cannot be written.
    #[must_use]
    pub fn restore(bytes: &[u8]) -> Option<Store> {
        let path = scratch();
        std::fs::write(&path, bytes).expect("scratch file is writable");
        let store = Store::new(BUILTIN_FAMILIES, true);
        let restored = pushgate::persist::restore(&store, &path, false);
        let _ = std::fs::remove_file(&path);
        restored.ok().map(|_| store)
    }
}
