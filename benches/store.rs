//! Store and scrape benches on real Flink TaskManager pushes.
//!
//! - `push/tm_into_100_groups`: parse + consistency check + apply of the Flink 2.3.0 TM body
//!   (452 samples, 212 KB) replacing one group of a store that holds 100 such groups.
//! - `scrape/merge_100_groups`: merging every family of 100 TM groups into the exposition
//!   from the per-family rendered lines (the scrape cost after a store change, minus the
//!   rendering of the changed groups' lines, which `push` does not include either).
//! - `scrape/assemble_cached`: a scrape of an unchanged store (cached chunks + own metrics).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pushgate::config::Config;
use pushgate::grouping::GroupingKey;
use pushgate::server::push::ingest;
use pushgate::server::AppState;

const TM: &[u8] = include_bytes!("../fixtures/flink-2.3.0/tm.txt");

fn key(i: usize) -> GroupingKey {
    GroupingKey::from_path(&format!("job/flinkpgw{i:032x}/k1/v1/k2/v2")).expect("valid path")
}

fn loaded_store(groups: usize) -> AppState {
    let state = AppState::new(Config::for_tests());
    for i in 0..groups {
        ingest(&state, key(i), TM, true).expect("fixture pushes cleanly");
    }
    state
}

fn bench_push(c: &mut Criterion) {
    let state = loaded_store(100);
    let mut g = c.benchmark_group("push");
    g.throughput(Throughput::Bytes(TM.len() as u64));
    g.bench_function("tm_into_100_groups", |b| {
        b.iter(|| ingest(&state, key(50), TM, true).expect("re-push succeeds"));
    });
    g.finish();
}

fn bench_scrape(c: &mut Criterion) {
    let state = loaded_store(100);
    let mut g = c.benchmark_group("scrape");
    g.bench_function("merge_100_groups", |b| {
        b.iter(|| {
            let snapshot = state.store.snapshot();
            let chunks = pushgate::render::render_store(&snapshot);
            assert!(chunks.len() > 100);
            chunks
        });
    });
    g.bench_function("assemble_cached", |b| {
        b.iter(|| {
            let snapshot = state.store.snapshot();
            let chunks = state.cache.get_or_render(&snapshot);
            let own = state.metrics.families(100, 45_000, snapshot.generation);
            pushgate::render::assemble(&chunks, &snapshot, &own)
        });
    });
    g.finish();
}

criterion_group!(benches, bench_push, bench_scrape);
criterion_main!(benches);
