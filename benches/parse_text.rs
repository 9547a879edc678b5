//! Throughput of `parse::text::parse` on captured Flink pushes and on a generated push of
//! 50,000 series shaped like a large Flink `TaskManager`'s.
//!
//! Each iteration checks the number of samples parsed, so a parser that skips work cannot
//! look fast. Run with `cargo bench --bench parse_text`.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pushgate::model::{Family, Value};
use pushgate::parse::text::parse;

/// Samples (text lines) held by parsed families.
fn sample_count(families: &[Family<'_>]) -> usize {
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

/// Sample lines in a body: lines that are neither empty nor comments.
fn line_count(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .count()
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

/// A Flink-like body: gauge families with 500 series each (13 labels, about 450 bytes a line)
/// plus summaries with `_count` and six quantiles, as Flink's reporter writes them.
fn generated_body() -> (Vec<u8>, usize) {
    const GAUGE_FAMILIES: usize = 99;
    const SUMMARY_FAMILIES: usize = 4;
    const SERIES: usize = 500;
    const QUANTILES: [&str; 6] = ["0.5", "0.75", "0.95", "0.98", "0.99", "0.999"];
    let mut out = String::with_capacity(24 << 20);
    let mut samples = 0;
    for f in 0..GAUGE_FAMILIES + SUMMARY_FAMILIES {
        let name = format!("flink_taskmanager_job_task_operator_m{f}");
        let summary = f >= GAUGE_FAMILIES;
        let kind = if summary { "summary" } else { "gauge" };
        writeln!(
            out,
            "# HELP {name} m{f} (scope: taskmanager_job_task_operator)"
        )
        .expect("write to string");
        writeln!(out, "# TYPE {name} {kind}").expect("write to string");
        for s in 0..SERIES / if summary { 7 } else { 1 } {
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

fn bench_parse(c: &mut Criterion) {
    let (generated, generated_samples) = generated_body();
    assert_eq!(line_count(&generated), generated_samples);
    eprintln!(
        "generated body: {} bytes, {generated_samples} samples, {} bytes per sample line",
        generated.len(),
        generated.len() / generated_samples
    );
    let inputs: [(&str, &[u8]); 4] = [
        (
            "flink-2.3.0/tm",
            include_bytes!("../fixtures/flink-2.3.0/tm.txt"),
        ),
        (
            "flink-1.20.3/tm",
            include_bytes!("../fixtures/flink-1.20.3/tm.txt"),
        ),
        (
            "flink-2.3.0/jm",
            include_bytes!("../fixtures/flink-2.3.0/jm.txt"),
        ),
        ("generated-50k", &generated),
    ];
    let mut group = c.benchmark_group("parse_text");
    for (name, body) in inputs {
        let want = line_count(body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let families = parse(black_box(body)).expect("bench input parses");
                assert_eq!(sample_count(&families), want);
                families
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
