//! Structured input: generated families are rendered as text (with varied but valid spacing,
//! comment placement and label-set punctuation), parsed, and must come back equal.
//!
//! The generator first makes its families canonical, i.e. what the parser could return: unique
//! family names, valid names, no `__` or duplicate label names, no `quantile`/`le` label on a
//! summary/histogram, one metric per label set in a summary or histogram, no `NaN` bound,
//! HELP text without leading blanks, no suffix collisions.
#![no_main]

use std::collections::HashSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pushgate::model::MetricType;
use pushgate_fuzz::{assert_parses_to, has_suffix_collision, render, Fam, Model, Style, F, M, V};

#[derive(Debug, Arbitrary)]
struct Input {
    families: Vec<GenFamily>,
    style: Style,
}

#[derive(Debug, Arbitrary)]
struct GenFamily {
    name: Name,
    help: Option<String>,
    kind: u8,
    metrics: Vec<GenMetric>,
}

#[derive(Debug, Arbitrary)]
struct GenMetric {
    labels: Vec<(Name, String)>,
    value: f64,
    points: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
    ts: Option<i64>,
}

/// A name: often one of a few that collide in interesting ways, else built from bytes.
#[derive(Debug, Arbitrary)]
enum Name {
    Known(u8),
    Bytes(Vec<u8>),
}

const KNOWN: &[&str] = &[
    "a",
    "a_count",
    "a_sum",
    "a_bucket",
    "quantile",
    "le",
    "job",
    "instance",
    "_",
    "a:b",
    "__x",
    "flink_taskmanager_Status_JVM_CPU_Load",
    "x1",
    "Le",
    "_count",
];

impl Name {
    /// A metric name (`label == false`) or label name.
    fn get(&self, label: bool) -> String {
        let raw = match self {
            Name::Known(i) => KNOWN[usize::from(*i) % KNOWN.len()].to_owned(),
            Name::Bytes(b) => {
                const CHARS: &[u8] = b"abcXYZ_:019";
                b.iter()
                    .take(12)
                    .map(|&c| char::from(CHARS[usize::from(c) % CHARS.len()]))
                    .collect()
            }
        };
        let ok = if label {
            pushgate::model::is_valid_label_name(&raw) && !raw.starts_with("__")
        } else {
            pushgate::model::is_valid_metric_name(&raw)
        };
        if ok {
            raw
        } else {
            format!("n{}", raw.replace(':', "_"))
        }
    }
}

fn kind(k: u8) -> MetricType {
    [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Summary,
        MetricType::Histogram,
        MetricType::Untyped,
    ][usize::from(k) % 5]
}

fn canonical(input: &Input) -> Model {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for f in &input.families {
        let name = f.name.get(false);
        if !names.insert(name.clone()) {
            continue;
        }
        let kind = kind(f.kind);
        let help = f
            .help
            .as_deref()
            .map(|h| h.trim_start_matches([' ', '\t']).to_owned())
            .filter(|h| !h.is_empty());
        let mut label_sets: Vec<Vec<(String, String)>> = Vec::new();
        let mut metrics = Vec::new();
        for m in &f.metrics {
            let mut labels: Vec<(String, String)> = Vec::new();
            for (n, v) in &m.labels {
                let n = n.get(true);
                let reserved = match kind {
                    MetricType::Summary => n == "quantile",
                    MetricType::Histogram => n == "le",
                    _ => false,
                };
                if !reserved && !labels.iter().any(|(x, _)| *x == n) {
                    labels.push((n, v.clone()));
                }
            }
            let value = match kind {
                MetricType::Summary | MetricType::Histogram => {
                    let mut sorted = labels.clone();
                    sorted.sort();
                    if label_sets.contains(&sorted) {
                        continue;
                    }
                    let points: Vec<(F, F)> = m
                        .points
                        .iter()
                        .filter(|(b, _)| !b.is_nan())
                        .map(|&(b, v)| (F::new(b), F::new(v)))
                        .collect();
                    if points.is_empty() && m.count.is_none() && m.sum.is_none() {
                        continue;
                    }
                    label_sets.push(sorted);
                    V::Grouped(m.count.map(F::new), m.sum.map(F::new), points)
                }
                _ => V::Scalar(F::new(m.value)),
            };
            metrics.push(M {
                labels,
                value,
                ts: m.ts,
            });
        }
        if !metrics.is_empty() {
            out.push(Fam {
                name,
                help,
                kind,
                metrics,
            });
        }
    }
    out
}

fuzz_target!(|input: Input| {
    let want = canonical(&input);
    if has_suffix_collision(&want) {
        return;
    }
    let text = render(&want, input.style);
    assert_parses_to(&text, &want);
});
