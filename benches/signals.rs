//! Flink health signals at scale: 100 TaskManagers x ~50k series each (~5M stored).
//!
//! Each generated TaskManager push holds 450 subtasks of one job (10 vertices, 45 subtasks of
//! each on this TaskManager, the first vertex a source with `pendingRecords`): per subtask the
//! 8 task-level families the signals read, the chain head's 2 operator rates, and 100 other
//! task-level families the signals skip, in Flink's label layout; about 50,000 series a push.
//!
//! - `signals/evaluate_100_tms_5m_series`: one evaluation (45,000 subtasks, 10 vertices,
//!   100 groups), the cost the timer pays every `--flink.signals.interval`.
//! - `signals/push_50k_{with,without}_signals`: parse + apply of one such push replacing its
//!   group in the full store, with the signals' extraction and record, and without.
//!
//! Before the measurements it prints the memory the signal state takes (bytes live on the heap
//! after a fresh `Signals` recorded the 100 pushes' extracts, minus before; counted by a
//! wrapper around the system allocator) and the store's size. Run as a test
//! (`cargo test --all-targets`) it uses 4 TaskManagers of 4,500 series.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use pushgate::config::Config;
use pushgate::flink::signals::{ingest::extract, Signals, SignalsConfig};
use pushgate::grouping::GroupingKey;
use pushgate::server::push::ingest;
use pushgate::server::AppState;
use pushgate::testing::is_bench_run;

const JOB_ID: &str = "5e0a1b2c3d4e5f60718293a4b5c6d7e8";
const VERTICES: usize = 10;
const FILLER: usize = 100;

struct Shape {
    tms: usize,
    per_vertex: usize,
}

fn shape() -> Shape {
    if is_bench_run() {
        Shape {
            tms: 100,
            per_vertex: 45,
        }
    } else {
        Shape {
            tms: 4,
            per_vertex: 4,
        }
    }
}

fn key(tm: usize) -> GroupingKey {
    let path = format!("job/flinkpgw{tm:032x}/cluster/prod");
    pushgate::flink::grouping_key(&path, None, &pushgate::flink::FlinkConfig::default())
        .expect("valid path")
}

/// One TaskManager's push: `per_vertex` subtasks of each vertex (indices unique per TM).
fn body(tm: usize, per_vertex: usize, tick: u64) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(per_vertex * VERTICES * 120 * 330);
    let labels = |v: usize, s: usize| {
        format!(
            "job_id=\"{JOB_ID}\",task_id=\"{v:032x}\",task_attempt_id=\"a{tm}_{v}_{s}\",host=\"h{tm}\",\
             task_name=\"{}\",task_attempt_num=\"0\",job_name=\"bench\",tm_id=\"tm{tm}\",subtask_index=\"{s}\",",
            if v == 0 { "Source:_Kafka".to_owned() } else { format!("Vertex_{v}") }
        )
    };
    let subtasks =
        || (0..VERTICES).flat_map(move |v| (0..per_vertex).map(move |i| (v, tm * per_vertex + i)));
    let t = tick as f64 * 10_000.0;
    let task = [
        ("accumulateBusyTimeMs", 0.4 * t),
        ("accumulateIdleTimeMs", 0.5 * t),
        ("accumulateBackPressuredTimeMs", 0.1 * t),
        ("busyTimeMsPerSecond", 400.0),
        ("idleTimeMsPerSecond", 500.0),
        ("backPressuredTimeMsPerSecond", 100.0),
        ("numRecordsInPerSecond", 100.0),
        ("numRecordsOutPerSecond", 100.0),
    ];
    let filler = (0..FILLER).map(|f| (format!("other{f}"), 1.0));
    for (name, value) in task
        .iter()
        .map(|(n, v)| ((*n).to_owned(), *v))
        .chain(filler)
    {
        let _ = writeln!(out, "# TYPE flink_taskmanager_job_task_{name} gauge");
        for (v, s) in subtasks() {
            let _ = writeln!(
                out,
                "flink_taskmanager_job_task_{name}{{{}}} {value:.1}",
                labels(v, s)
            );
        }
    }
    for name in [
        "numRecordsInPerSecond",
        "numRecordsOutPerSecond",
        "pendingRecords",
    ] {
        let _ = writeln!(
            out,
            "# TYPE flink_taskmanager_job_task_operator_{name} gauge"
        );
        for (v, s) in subtasks().filter(|(v, _)| name != "pendingRecords" || *v == 0) {
            let _ = writeln!(
                out,
                "flink_taskmanager_job_task_operator_{name}{{{}operator_id=\"{v:032x}\",operator_name=\"op{v}\"}} 100.0",
                labels(v, s)
            );
        }
    }
    out.into_bytes()
}

fn state(signals: bool) -> AppState {
    let flag = if signals { "on" } else { "off" };
    let config: Config = <pushgate::config::Args as clap::Parser>::parse_from([
        "pushgate",
        "--flink.signals.interval=1h",
        &format!("--flink.signals={flag}"),
    ])
    .validate()
    .expect("bench flags are valid");
    AppState::new(config)
}

/// The system allocator, counting the bytes live on the heap (for the state's size only;
/// the measurements run with it too, at the cost of two relaxed atomic adds per allocation).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counter has no effect on the memory handed out.
#[allow(
    unsafe_code,
    reason = "a counting GlobalAlloc wrapper needs unsafe impl; bench only"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The signal state's memory: heap bytes live after a fresh `Signals` recorded every push's
/// extract (each push parsed and dropped in turn), minus before.
fn signal_memory(shape: &Shape) -> usize {
    let signals = Signals::new(SignalsConfig::default());
    let before = LIVE.load(Ordering::Relaxed);
    for tm in 0..shape.tms {
        let b = body(tm, shape.per_vertex, 1);
        let families = pushgate::parse::text::parse_with(&b, pushgate::parse::Names::Classic)
            .expect("generated body parses");
        let k = key(tm);
        let reporter_label = pushgate::flink::suffix::DEFAULT_REPORTER_ID_LABEL;
        signals.record(&k, reporter_label, extract(&families), true);
    }
    let grown = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    assert_eq!(signals.tracked().0, shape.tms * shape.per_vertex * VERTICES);
    grown
}

fn bench(c: &mut Criterion) {
    let shape = shape();
    let memory = signal_memory(&shape);
    let st = state(true);
    for tm in 0..shape.tms {
        ingest(&st, key(tm), &body(tm, shape.per_vertex, 1), true).expect("push applies");
    }
    let (groups, series) = st.store.counts();
    let (subtasks, tracked_groups) = st.signals.tracked();
    eprintln!(
        "signals bench: {groups} groups, {series} series stored; {subtasks} subtasks in \
         {tracked_groups} groups tracked; signal state {:.1} MiB on the heap ({:.0} B a subtask)",
        memory as f64 / 1_048_576.0,
        memory as f64 / subtasks.max(1) as f64
    );
    let now = pushgate::store::now_seconds();
    let mut g = c.benchmark_group("signals");
    g.sample_size(20);
    g.bench_function("evaluate_100_tms_5m_series", |b| {
        b.iter(|| {
            let e = st.signals.evaluate(&st.store, now);
            assert_eq!(e.jobs[0].vertices.len(), VERTICES);
            e
        });
    });
    let probe = body(0, shape.per_vertex, 3);
    g.sample_size(10);
    g.bench_function("push_50k_with_signals", |b| {
        b.iter(|| ingest(&st, key(0), &probe, true).expect("push applies"));
    });
    drop(st);
    let off = state(false);
    for tm in 0..shape.tms {
        ingest(&off, key(tm), &body(tm, shape.per_vertex, 1), true).expect("push applies");
    }
    g.bench_function("push_50k_without_signals", |b| {
        b.iter(|| ingest(&off, key(0), &probe, true).expect("push applies"));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
