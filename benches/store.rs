//! Store and scrape benches on real Flink TaskManager pushes.
//!
//! - `push/tm_into_100_groups`: parse + consistency check + apply of the Flink 2.3.0 TM body
//!   (452 samples, 212 KB) replacing one group of a store that holds 100 such groups.
//! - `push/medium_5k_into_100_groups`: the same for a generated push the size of a load
//!   generator `medium` TaskManager ([`FlinkLike::MEDIUM`]: 4,912 series in 164 families,
//!   2.3 MB), replacing a 101st group of that store.
//! - `scrape/merge_100_groups`: merging every family of 100 TM groups into the exposition
//!   from the per-family rendered lines (the scrape cost after a store change, minus the
//!   rendering of the changed groups' lines, which `push` does not include either).
//! - `scrape/assemble_cached`: a scrape of an unchanged store (cached chunks + own metrics).
//! - `scrape/text_gzip_after_one_push_100_groups`: what Prometheus asks for after one group
//!   was re-pushed: a gzipped text scrape of the new generation, whose unchanged groups' families
//!   reuse their compressed segments, so only the re-pushed group's families, the family
//!   headers and the gateway's own families are compressed. The push (timed above) runs
//!   before each iteration, outside the measurement.
//! - `scrape/text_{identity,gzip}_unchanged_100_groups`: a whole scrape, as the server makes it
//!   (own metrics rendered fresh), of a store that did not change since the last scrape.
//!
//! All run on one store, the scrapes first. Run as a test (`cargo test --all-targets`, once,
//! unoptimized) the store holds 10 groups instead of 100, to keep the run quick.

use std::io::Read as _;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pushgate::config::Config;
use pushgate::grouping::GroupingKey;
use pushgate::render::Format;
use pushgate::server::push::ingest;
use pushgate::server::AppState;
use pushgate::testing::{is_bench_run, FlinkLike};

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

/// A scrape of the text format as `server::scrape` makes it: the current generation's shared
/// rendering plus the gateway's own families.
fn scrape(state: &AppState, gzipped: bool) -> Vec<Bytes> {
    let snapshot = state.store.snapshot();
    let shared = state.cache.generation(snapshot.generation);
    let (groups, series) = state.store.counts();
    let own = state.metrics.families(
        groups,
        series,
        state.store.indexed_series(),
        snapshot.generation,
    );
    shared.body(&snapshot, &own, Format::Text, gzipped)
}

fn inflate(parts: &[Bytes]) -> Vec<u8> {
    let zipped = parts.concat();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_end(&mut out)
        .expect("a scrape is one valid gzip member");
    out
}

/// The text series of a body without the gateway's own families, which change between
/// scrapes: a gzip scrape must inflate to these of an identity scrape.
fn pushed_lines(body: &[u8]) -> Vec<&[u8]> {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"process_") && !l.starts_with(b"pushgate"))
        .filter(|l| !l.starts_with(b"# HELP process_") && !l.starts_with(b"# TYPE process_"))
        .filter(|l| !l.starts_with(b"# HELP pushgate") && !l.starts_with(b"# TYPE pushgate"))
        .collect()
}

fn bench_scrape(c: &mut Criterion, state: &AppState, groups: usize) {
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
            let own = state
                .metrics
                .families(groups, groups * 450, 0, snapshot.generation);
            pushgate::render::assemble(&chunks, &snapshot, &own)
        });
    });

    // Every group's families compressed once, as after any earlier gzip scrape; then check
    // that a scrape after a push, stitched from those segments, says what an identity one does.
    let _ = scrape(state, true);
    ingest(state, key(groups / 2), TM, true).expect("re-push succeeds");
    let zipped = inflate(&scrape(state, true));
    let plain = scrape(state, false).concat();
    assert_eq!(pushed_lines(&zipped), pushed_lines(&plain));
    assert!(pushed_lines(&plain).len() > groups * 450);

    g.bench_function("text_gzip_after_one_push_100_groups", |b| {
        b.iter_batched(
            || ingest(state, key(groups / 2), TM, true).expect("re-push succeeds"),
            |()| scrape(state, true),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("text_identity_unchanged_100_groups", |b| {
        b.iter(|| scrape(state, false));
    });
    g.bench_function("text_gzip_unchanged_100_groups", |b| {
        b.iter(|| scrape(state, true));
    });
    g.finish();
}

fn bench_push(c: &mut Criterion, state: &AppState, groups: usize) {
    let (medium, _) = FlinkLike::MEDIUM.body();
    ingest(state, key(groups), &medium, true).expect("generated body pushes cleanly");
    let mut g = c.benchmark_group("push");
    g.throughput(Throughput::Bytes(TM.len() as u64));
    g.bench_function("tm_into_100_groups", |b| {
        b.iter(|| ingest(state, key(groups / 2), TM, true).expect("re-push succeeds"));
    });
    g.throughput(Throughput::Bytes(medium.len() as u64));
    g.bench_function("medium_5k_into_100_groups", |b| {
        b.iter(|| ingest(state, key(groups), &medium, true).expect("re-push succeeds"));
    });
    g.finish();
}

fn bench_store(c: &mut Criterion) {
    let groups = if is_bench_run() { 100 } else { 10 };
    let state = loaded_store(groups);
    bench_scrape(c, &state, groups);
    bench_push(c, &state, groups);
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
