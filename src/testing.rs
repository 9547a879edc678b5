//! Generated inputs and counters shared by the crate's tests and the criterion benches (not
//! part of the public API: hidden from the docs, free to change).
//!
//! Owns: [`FlinkLike`], a generator of large Flink-shaped text pushes, the two sample counts
//! the parser checks are written against ([`sample_lines`] of a body and [`sample_count`] of
//! parsed families), and [`is_bench_run`] for benches that size their inputs. Does not own: real captured pushes (those are files
//! under `fixtures/`) or the load generator's Flink model (`benches/loadgen`, a binary).
//!
//! Data enters as a shape (families and series per family) and leaves as body bytes.

use std::fmt::Write as _;

use crate::model::{Family, Value};

/// The shape of a generated Flink-like text push: gauge families of `series_per_family`
/// series each (13 labels in Flink's order with its trailing comma, about 450 bytes a line),
/// then summary families with `_count` and six quantiles per series, as Flink's reporter
/// writes them, with a seventh as many series (so about as many lines) as a gauge family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlinkLike {
    /// Gauge families.
    pub gauge_families: usize,
    /// Summary families, after the gauges.
    pub summary_families: usize,
    /// Series of each gauge family.
    pub series_per_family: usize,
}

/// The quantiles of a generated summary.
const QUANTILES: [&str; 6] = ["0.5", "0.75", "0.95", "0.98", "0.99", "0.999"];

impl FlinkLike {
    /// The generated push for a bench: [`FlinkLike::LARGE`] under `cargo bench`,
    /// [`FlinkLike::MEDIUM`] when `cargo test` runs the bench once (see [`is_bench_run`]).
    #[must_use]
    pub fn for_this_run() -> FlinkLike {
        if is_bench_run() {
            FlinkLike::LARGE
        } else {
            FlinkLike::MEDIUM
        }
    }

    /// About 50,000 series (51,488 sample lines, 24 MB): a very large TaskManager.
    pub const LARGE: FlinkLike = FlinkLike {
        gauge_families: 99,
        summary_families: 4,
        series_per_family: 500,
    };

    /// About 5,000 series (4,912 sample lines in 164 families, 2.3 MB), the size of a
    /// TaskManager of the load generator's `medium` preset.
    pub const MEDIUM: FlinkLike = FlinkLike {
        gauge_families: 160,
        summary_families: 4,
        series_per_family: 30,
    };

    /// The body and its number of sample lines (each line is one Prometheus series).
    #[must_use]
    pub fn body(&self) -> (Vec<u8>, usize) {
        let families = self.gauge_families + self.summary_families;
        let mut out = String::with_capacity(families * self.series_per_family * 480);
        let mut samples = 0;
        for f in 0..families {
            let name = format!("flink_taskmanager_job_task_operator_m{f}");
            let summary = f >= self.gauge_families;
            let kind = if summary { "summary" } else { "gauge" };
            writeln!(
                out,
                "# HELP {name} m{f} (scope: taskmanager_job_task_operator)"
            )
            .expect("write to string");
            writeln!(out, "# TYPE {name} {kind}").expect("write to string");
            let series = self.series_per_family / if summary { 7 } else { 1 };
            for s in 0..series {
                let (task, subtask, operator) = (s / 50, s % 50, s % 7);
                if summary {
                    write!(out, "{name}_count{{").expect("write to string");
                    series_labels(&mut out, task, subtask, operator);
                    writeln!(out, "}} {}.0", s * 31).expect("write to string");
                    for q in QUANTILES {
                        write!(out, "{name}{{").expect("write to string");
                        series_labels(&mut out, task, subtask, operator);
                        writeln!(out, "quantile=\"{q}\",}} {}.25", s + f).expect("write to string");
                    }
                    samples += 1 + QUANTILES.len();
                } else {
                    write!(out, "{name}{{").expect("write to string");
                    series_labels(&mut out, task, subtask, operator);
                    writeln!(out, "}} {s}.{f}E3").expect("write to string");
                    samples += 1;
                }
            }
        }
        (out.into_bytes(), samples)
    }
}

/// The labels of one generated series, in Flink's order and with its trailing comma.
fn series_labels(out: &mut String, task: usize, subtask: usize, operator: usize) {
    write!(
        out,
        "job_id=\"20ec600b74941d944c1811e9d462b174\",task_id=\"{task:032x}\",\
         task_attempt_id=\"0d72e9caa7503eaf7aa5bbab3bf8c261_{task:032x}_{subtask}_0\",\
         host=\"tm-x2x9q\",operator_id=\"{operator:032x}\",\
         operator_name=\"Window_{operator}\",\
         task_name=\"Source:_Kafka_{task}\",task_attempt_num=\"0\",\
         job_name=\"pgw_bench_job\",tm_id=\"10.0.3.17:6122\",subtask_index=\"{subtask}\",\
         pod=\"tm-{subtask}\",zone=\"b\","
    )
    .expect("write to string");
}

/// Sample lines in a text body: lines that are neither empty nor comments.
#[must_use]
pub fn sample_lines(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .count()
}

/// Samples held by parsed families: the number of text lines they came from (a summary or
/// histogram counts its quantiles or buckets plus its `_count` and `_sum` when present).
#[must_use]
pub fn sample_count(families: &[Family<'_>]) -> usize {
    let parts = |count: Option<f64>, sum: Option<f64>, points: usize| {
        points + usize::from(count.is_some()) + usize::from(sum.is_some())
    };
    families
        .iter()
        .flat_map(|f| &f.metrics)
        .map(|m| match &m.value {
            Value::Scalar(_) => 1,
            Value::Summary(s) => parts(s.count, s.sum, s.quantiles.len()),
            Value::Histogram(h) => parts(h.count, h.sum, h.buckets.len()),
        })
        .sum()
}

/// Whether criterion is about to measure: `cargo bench` passes `--bench` (and not `--test`),
/// while `cargo test --all-targets` runs each bench once, unoptimized, as a test. Benches use
/// this to build their large inputs only when they will be measured, so the test run stays
/// quick; the test run then exercises the same code on smaller inputs. Mirrors criterion's
/// own choice of mode.
#[must_use]
pub fn is_bench_run() -> bool {
    let has = |flag: &str| std::env::args().any(|a| a == flag);
    has("--bench") && !has("--test")
}
