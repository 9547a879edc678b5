//! Throughput of `parse::text::parse` on captured Flink pushes and on a generated push of
//! about 50,000 series shaped like a large Flink `TaskManager`'s
//! ([`pushgate::testing::FlinkLike::LARGE`]).
//!
//! Run as a test (`cargo test --all-targets`, once, unoptimized) the generated push is the
//! smaller [`pushgate::testing::FlinkLike::MEDIUM`] to keep the run quick.
//!
//! Two groups over the same inputs, since criterion reports one throughput per benchmark:
//! `parse_text` in bytes/s and `parse_text_series` in series/s (a series is a sample line).
//! Each iteration checks the number of samples parsed, so a parser that skips work cannot
//! look fast. Run with `cargo bench --bench parse_text`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Bencher, Criterion, Throughput};
use pushgate::parse::text::parse;
use pushgate::testing::{sample_count, sample_lines, FlinkLike};

/// Parses `body` once per iteration and checks that every one of its `want` samples came out.
fn parse_checked(b: &mut Bencher<'_>, body: &[u8], want: usize) {
    b.iter(|| {
        let families = parse(black_box(body)).expect("bench input parses");
        assert_eq!(sample_count(&families), want);
        families
    });
}

fn bench_parse(c: &mut Criterion) {
    let shape = FlinkLike::for_this_run();
    let (generated, generated_samples) = shape.body();
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
    let inputs = inputs.map(|(name, body)| (name, body, sample_lines(body)));
    assert_eq!(inputs[3].2, generated_samples);

    let mut group = c.benchmark_group("parse_text");
    for &(name, body, want) in &inputs {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| parse_checked(b, body, want));
    }
    group.finish();

    let mut group = c.benchmark_group("parse_text_series");
    for &(name, body, want) in &inputs {
        group.throughput(Throughput::Elements(want as u64));
        group.bench_function(name, |b| parse_checked(b, body, want));
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
