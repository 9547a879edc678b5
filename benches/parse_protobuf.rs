//! Throughput of `parse::protobuf::parse` (delimited `io.prometheus.client.MetricFamily`) on
//! the captured Flink pushes and on the generated ~50,000-series push, in bytes/s
//! (`parse_protobuf`) and series/s (`parse_protobuf_series`).
//!
//! The protobuf bodies are made by the crate itself: each text body is pushed into a fresh
//! store as group `job/flink` and scraped as delimited protobuf, so every series carries the
//! `job` and `instance` labels and the body has two more families (`push_time_seconds` and
//! `push_failure_time_seconds`) than the push. A series is counted as in the text bench (a
//! summary's quantiles plus its `_count` and `_sum`; protobuf always carries both). Each
//! iteration checks that count. Run as a test (`cargo test --all-targets`, once, unoptimized)
//! the generated push is the smaller `FlinkLike::MEDIUM` to keep the run quick. Run with
//! `cargo bench --bench parse_protobuf`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Bencher, Criterion, Throughput};
use pushgate::grouping::GroupingKey;
use pushgate::parse::protobuf::parse;
use pushgate::render::{Format, ScrapeCache};
use pushgate::store::{Store, WriteRequest};
use pushgate::testing::{sample_count, FlinkLike};

/// The delimited protobuf scrape of a store holding only `text`, pushed as `job/flink`.
fn protobuf_body(text: &[u8]) -> Vec<u8> {
    let store = Store::new(&[], true);
    store
        .apply(WriteRequest {
            key: GroupingKey::from_path("job/flink").expect("valid path"),
            families: pushgate::parse::text::parse(text).expect("bench input parses"),
            replace: true,
        })
        .expect("bench input is consistent");
    let snapshot = store.snapshot();
    ScrapeCache::default()
        .generation(snapshot.generation)
        .body(&snapshot, &[], Format::Protobuf, false)
        .concat()
}

/// Decodes `body` once per iteration and checks that all `want` series came out.
fn decode_checked(b: &mut Bencher<'_>, body: &[u8], want: usize) {
    b.iter(|| {
        let families = parse(black_box(body)).expect("bench input decodes");
        assert_eq!(sample_count(&families), want);
        families
    });
}

fn bench_decode(c: &mut Criterion) {
    let shape = FlinkLike::for_this_run();
    let (generated, _) = shape.body();
    let texts: [(&str, &[u8]); 4] = [
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
    let inputs = texts.map(|(name, text)| {
        let body = protobuf_body(text);
        let series = sample_count(&parse(&body).expect("rendered protobuf decodes"));
        eprintln!(
            "{name}: {} bytes of text, {} bytes of protobuf, {series} series",
            text.len(),
            body.len()
        );
        (name, body, series)
    });
    drop(generated);

    let mut group = c.benchmark_group("parse_protobuf");
    for (name, body, want) in &inputs {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(*name, |b| decode_checked(b, body, *want));
    }
    group.finish();

    let mut group = c.benchmark_group("parse_protobuf_series");
    for (name, body, want) in &inputs {
        group.throughput(Throughput::Elements(*want as u64));
        group.bench_function(*name, |b| decode_checked(b, body, *want));
    }
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
