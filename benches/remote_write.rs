//! Remote-write ticks of a large Flink store: 100 generated TaskManagers of 5,392 series each
//! (176 gauge families of 30 series, 4 summary families; Flink's 13 labels; `host` and `tm_id`
//! differ per TaskManager) = 539,200 series plus 200 push-time series.
//!
//! - `remote_write/tick_steady_540k`: one tick as the sender makes it after the first: plan
//!   (label bytes reused), then every batch (2,000 rows) encoded and snappy-compressed. The
//!   batches are not sent.
//! - `remote_write/tick_cold_540k`: the first tick, which also encodes every series' labels.
//!
//! Before measuring it prints the tick's rows, batches, raw and compressed bytes. Run as a test
//! (`cargo test --all-targets`, once, unoptimized) the store holds 5 TaskManagers.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pushgate::config::Config;
use pushgate::grouping::GroupingKey;
use pushgate::remote_write::encode::{BatchLimits, Cursor, Encoder, TickPlan};
use pushgate::server::push::ingest;
use pushgate::server::AppState;
use pushgate::testing::{is_bench_run, FlinkLike};

const TM: FlinkLike = FlinkLike {
    gauge_families: 176,
    summary_families: 4,
    series_per_family: 30,
};

const LIMITS: BatchLimits = BatchLimits {
    max_rows: 2000,
    max_bytes: 4 << 20,
};

fn loaded_store(tms: usize) -> AppState {
    let state = AppState::new(Config::for_tests());
    let (body, _) = TM.body();
    let body = String::from_utf8(body).expect("generated text is UTF-8");
    for i in 0..tms {
        let mine = body
            .replace("host=\"tm-x2x9q\"", &format!("host=\"tm-{i:05}\""))
            .replace(
                "10.0.3.17:6122",
                &format!("10.0.{}.{}:6122", i / 250, i % 250),
            );
        let key = GroupingKey::from_path(&format!("job/flinkpgw/tm/{i:032x}")).expect("valid");
        ingest(&state, key, mine.as_bytes(), true).expect("generated push is valid");
    }
    state
}

/// Encodes and compresses every batch of `plan`: (batches, raw bytes, compressed bytes).
fn send_all(plan: &TickPlan) -> (usize, usize, usize) {
    let mut cursor = Cursor::default();
    let mut raw = Vec::new();
    let mut snappy = snap::raw::Encoder::new();
    let (mut batches, mut raw_bytes, mut wire) = (0, 0, 0);
    let mut rows = 0;
    while let Some(info) = plan.next_batch(&mut cursor, LIMITS, &mut raw) {
        let body = snappy.compress_vec(&raw).expect("compresses");
        batches += 1;
        raw_bytes += raw.len();
        wire += body.len();
        rows += info.samples + info.stale;
    }
    assert_eq!(rows, plan.rows + plan.stale_rows);
    (batches, raw_bytes, wire)
}

fn bench_ticks(c: &mut Criterion) {
    let tms = if is_bench_run() { 100 } else { 5 };
    let state = loaded_store(tms);
    let snapshot = state.store.snapshot();
    let mut encoder = Encoder::default();
    let first = encoder.plan(&snapshot, 1);
    let (batches, raw, wire) = send_all(&first);
    eprintln!(
        "remote_write: {tms} TaskManagers, {} rows per tick in {batches} batches, {raw} bytes raw, {wire} bytes snappy ({:.1}x)",
        first.rows,
        raw as f64 / wire as f64
    );
    let mut g = c.benchmark_group("remote_write");
    g.sample_size(10);
    g.throughput(Throughput::Elements(first.rows as u64));
    let mut ts = 2;
    g.bench_function("tick_steady_540k", |b| {
        b.iter(|| {
            ts += 1;
            let plan = encoder.plan(&snapshot, ts);
            encoder.ack(&plan);
            send_all(&plan)
        });
    });
    g.bench_function("tick_cold_540k", |b| {
        b.iter(|| {
            let mut cold = Encoder::default();
            let plan = cold.plan(&snapshot, 1);
            send_all(&plan)
        });
    });
    g.finish();
}

criterion_group!(benches, bench_ticks);
criterion_main!(benches);
