//! Flink-shaped metric sets, built with the reporter crate's groups and metric types.
//!
//! Owns: the simulated cluster layout (jobs, tasks, operators, which subtasks run on which
//! TaskManager), the metric names Flink registers at each level, the presets, and how values
//! move between pushes.
//! Does not own: sending (see `run`), statistics (see `stats`).
//!
//! Every TaskManager gets its own [`Registry`], so its body is exactly what a Flink TaskManager
//! with that layout pushes: `flink_taskmanager_*` names, labels in Flink's order, values in
//! Java's notation, latency-marker summaries, Kafka source metrics such as
//! `records-lag-max` -> `records_lag_max`. Job and task ids are shared by all TaskManagers (one
//! job spans the cluster); attempt ids, subtask indexes, hosts and `tm_id`s differ.

use pushgate_reporter::{Counter, Gauge, Histogram, MetricGroup, Registry, TaskInfo};

/// The shape of the simulated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Jobs running on every TaskManager.
    pub jobs: usize,
    /// Tasks (job vertices) per job; the first holds the Kafka source, the last the sink.
    pub tasks: usize,
    /// Subtasks of every task on each TaskManager (its slots).
    pub slots: usize,
    /// Chained operators per task.
    pub ops_per_task: usize,
    /// Kafka partitions (and source splits) per source subtask.
    pub partitions: usize,
}

impl Layout {
    /// About 500 series per TaskManager.
    pub const SMALL: Self = Self {
        jobs: 1,
        tasks: 4,
        slots: 1,
        ops_per_task: 3,
        partitions: 2,
    };
    /// About 5,000 series per TaskManager.
    pub const MEDIUM: Self = Self {
        jobs: 2,
        tasks: 4,
        slots: 5,
        ops_per_task: 3,
        partitions: 2,
    };
    /// About 50,000 series per TaskManager.
    pub const LARGE: Self = Self {
        jobs: 8,
        tasks: 4,
        slots: 13,
        ops_per_task: 3,
        partitions: 2,
    };
}

/// How a metric's value moves between pushes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A counter growing by about this much per push.
    Count(f64),
    /// A gauge wandering around a level, +-50 %.
    Level(f64),
    /// A gauge that never changes.
    Const(f64),
    /// An event-time watermark (epoch ms, advancing), or Long.MIN_VALUE before the first.
    Watermark,
    /// 0/1.
    Flag,
}

use Kind::{Const, Count, Flag, Level, Watermark};

const JVM_MEMORY_POOLS: [&str; 3] = ["Heap", "NonHeap", "Metaspace"];
const JVM_BUFFER_POOLS: [&str; 2] = ["Direct", "Mapped"];
const GARBAGE_COLLECTORS: [&str; 3] = ["All", "G1 Young Generation", "G1 Old Generation"];

const TASK_METRICS: [(&str, Kind); 38] = [
    ("numBytesIn", Count(5e6)),
    ("numBytesInPerSecond", Level(5e5)),
    ("numBytesOut", Count(5e6)),
    ("numBytesOutPerSecond", Level(5e5)),
    ("numRecordsIn", Count(5e4)),
    ("numRecordsInPerSecond", Level(5e3)),
    ("numRecordsOut", Count(5e4)),
    ("numRecordsOutPerSecond", Level(5e3)),
    ("numBuffersOut", Count(200.0)),
    ("numBuffersOutPerSecond", Level(20.0)),
    ("numBytesInLocal", Count(2e6)),
    ("numBytesInLocalPerSecond", Level(2e5)),
    ("numBytesInRemote", Count(3e6)),
    ("numBytesInRemotePerSecond", Level(3e5)),
    ("numBuffersInLocal", Count(80.0)),
    ("numBuffersInLocalPerSecond", Level(8.0)),
    ("numBuffersInRemote", Count(120.0)),
    ("numBuffersInRemotePerSecond", Level(12.0)),
    ("isBackPressured", Flag),
    ("idleTimeMsPerSecond", Level(600.0)),
    ("busyTimeMsPerSecond", Level(350.0)),
    ("backPressuredTimeMsPerSecond", Level(50.0)),
    ("softBackPressuredTimeMsPerSecond", Level(40.0)),
    ("hardBackPressuredTimeMsPerSecond", Level(10.0)),
    ("maxSoftBackPressureTimeMs", Level(200.0)),
    ("maxHardBackPressureTimeMs", Level(50.0)),
    ("accumulateBackPressuredTimeMs", Count(500.0)),
    ("accumulateBusyTimeMs", Count(3500.0)),
    ("accumulateIdleTimeMs", Count(6000.0)),
    ("changelogBusyTimeMsPerSecond", Const(0.0)),
    ("checkpointAlignmentTime", Level(2e6)),
    ("checkpointStartDelayNanos", Level(1e7)),
    ("currentInputWatermark", Watermark),
    ("initializationTime", Const(1_273.0)),
    ("mailboxMailsPerSecond", Level(40.0)),
    ("mailboxQueueSize", Level(2.0)),
    ("numFiredTimers", Count(300.0)),
    ("numFiredTimersPerSecond", Level(30.0)),
];

const NETTY_INPUT: [(&str, Kind); 8] = [
    ("numBytesInLocal", Count(2e6)),
    ("numBytesInLocalPerSecond", Level(2e5)),
    ("numBytesInRemote", Count(3e6)),
    ("numBytesInRemotePerSecond", Level(3e5)),
    ("numBuffersInLocal", Count(80.0)),
    ("numBuffersInLocalPerSecond", Level(8.0)),
    ("numBuffersInRemote", Count(120.0)),
    ("numBuffersInRemotePerSecond", Level(12.0)),
];
const NETTY_INPUT_BUFFERS: [(&str, Kind); 5] = [
    ("inPoolUsage", Level(0.2)),
    ("inputExclusiveBuffersUsage", Level(0.1)),
    ("inputFloatingBuffersUsage", Level(0.1)),
    ("inputQueueLength", Level(3.0)),
    ("inputQueueSize", Level(3e4)),
];
const NETTY_OUTPUT_BUFFERS: [(&str, Kind); 3] = [
    ("outPoolUsage", Level(0.3)),
    ("outputQueueLength", Level(4.0)),
    ("outputQueueSize", Level(4e4)),
];

const OPERATOR_METRICS: [(&str, Kind); 8] = [
    ("numRecordsIn", Count(5e4)),
    ("numRecordsInPerSecond", Level(5e3)),
    ("numRecordsOut", Count(5e4)),
    ("numRecordsOutPerSecond", Level(5e3)),
    ("currentInputWatermark", Watermark),
    ("currentOutputWatermark", Watermark),
    ("numLateRecordsDropped", Count(1.0)),
    ("numLateRecordsDroppedPerSecond", Level(0.1)),
];

const SOURCE_METRICS: [(&str, Kind); 8] = [
    ("numRecordsInErrors", Count(0.2)),
    ("numBytesIn", Count(5e6)),
    ("numBytesInPerSecond", Level(5e5)),
    ("currentEmitEventTimeLag", Level(350.0)),
    ("currentFetchEventTimeLag", Level(300.0)),
    ("sourceIdleTime", Const(0.0)),
    ("watermarkLag", Level(2_000.0)),
    ("pendingRecords", Level(1e4)),
];

/// Kafka consumer metrics Flink's Kafka source re-registers under
/// `KafkaSourceReader.KafkaConsumer`.
const KAFKA_CONSUMER_METRICS: [(&str, Kind); 24] = [
    ("records-lag-max", Level(1e4)),
    ("records-lead-min", Level(5e5)),
    ("records-consumed-rate", Level(5e3)),
    ("records-consumed-total", Count(5e4)),
    ("records-per-request-avg", Level(480.0)),
    ("bytes-consumed-rate", Level(5e5)),
    ("bytes-consumed-total", Count(5e6)),
    ("fetch-latency-avg", Level(12.0)),
    ("fetch-latency-max", Level(510.0)),
    ("fetch-rate", Level(10.0)),
    ("fetch-total", Count(100.0)),
    ("fetch-size-avg", Level(5e4)),
    ("fetch-size-max", Level(1e6)),
    ("fetch-throttle-time-avg", Const(0.0)),
    ("fetch-throttle-time-max", Const(0.0)),
    ("connection-count", Level(3.0)),
    ("connection-creation-rate", Level(0.01)),
    ("incoming-byte-rate", Level(5e5)),
    ("outgoing-byte-rate", Level(1e3)),
    ("request-rate", Level(12.0)),
    ("response-rate", Level(12.0)),
    ("io-wait-time-ns-avg", Level(2e7)),
    ("commit-latency-avg", Level(5.0)),
    ("assigned-partitions", Const(2.0)),
];

const SPLIT_WATERMARK_METRICS: [(&str, Kind); 7] = [
    ("currentWatermark", Watermark),
    ("activeTimeMsPerSecond", Level(900.0)),
    ("idleTimeMsPerSecond", Level(100.0)),
    ("pausedTimeMsPerSecond", Const(0.0)),
    ("accumulatedActiveTimeMs", Count(9e3)),
    ("accumulatedIdleTimeMs", Count(1e3)),
    ("accumulatedPausedTimeMs", Const(0.0)),
];

const SINK_METRICS: [(&str, Kind); 5] = [
    ("numBytesSend", Count(5e6)),
    ("numRecordsSend", Count(5e4)),
    ("numRecordsSendErrors", Const(0.0)),
    ("numRecordsOutErrors", Const(0.0)),
    ("currentSendTime", Level(3.0)),
];

const JOB_MANAGER_JOB_METRICS: [(&str, Kind); 24] = [
    ("uptime", Count(1e4)),
    ("downtime", Const(0.0)),
    ("restartingTime", Const(0.0)),
    ("numRestarts", Const(0.0)),
    ("numRescales", Const(0.0)),
    ("runningTime", Count(1e4)),
    ("createdTime", Const(1.7e12)),
    ("initializingTime", Const(0.0)),
    ("deployingTime", Const(0.0)),
    ("failingTime", Const(0.0)),
    ("cancellingTime", Const(0.0)),
    ("allSubTasksRunningOrFinishedTime", Const(0.0)),
    ("totalNumberOfCheckpoints", Count(0.2)),
    ("numberOfCompletedCheckpoints", Count(0.2)),
    ("numberOfFailedCheckpoints", Const(0.0)),
    ("numberOfInProgressCheckpoints", Flag),
    ("lastCheckpointDuration", Level(800.0)),
    ("lastCheckpointSize", Level(5e7)),
    ("lastCheckpointFullSize", Level(5e7)),
    ("lastCheckpointMetadataSize", Level(2e4)),
    ("lastCheckpointProcessedData", Level(1e5)),
    ("lastCheckpointPersistedData", Level(1e5)),
    ("lastCheckpointRestoreTimestamp", Const(-1.0)),
    ("lastCompletedCheckpointId", Count(0.2)),
];

const OPERATOR_NAMES: [&str; 8] = [
    "Timestamps/Watermarks",
    "Filter",
    "Map",
    "Flat Map",
    "KeyedProcess",
    "Window(TumblingEventTimeWindows(60000), EventTimeTrigger, AggregateFunction)",
    "Async Wait Operator",
    "Process",
];

/// Deterministic 32-hex ids from a seed and a path, so every TaskManager agrees on job, task
/// and operator ids.
fn hex_id(seed: u64, parts: &[u64]) -> String {
    let mut rng = fastrand::Rng::with_seed(parts.iter().fold(seed, |h, &p| {
        h.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(p)
    }));
    format!("{:016x}{:016x}", rng.u64(..), rng.u64(..))
}

/// One simulated process (TaskManager or JobManager) and the handles that move its values.
#[derive(Debug)]
pub struct Process {
    /// The metrics as Flink's reporter would hold them.
    pub registry: Registry,
    /// Short name for the grouping key and logs (`tm-3`, `jm`).
    pub name: String,
    counters: Vec<(Counter, f64)>,
    gauges: Vec<(Gauge, Kind)>,
    histograms: Vec<(Histogram, f64)>,
    watermark: f64,
    rng: fastrand::Rng,
}

impl Process {
    fn new(registry: Registry, name: String, seed: u64) -> Self {
        Self {
            registry,
            name,
            counters: Vec::new(),
            gauges: Vec::new(),
            histograms: Vec::new(),
            watermark: 1.7e12,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    fn add(&mut self, group: &MetricGroup, metrics: &[(&str, Kind)]) {
        for &(name, kind) in metrics {
            self.add_one(group, name, kind);
        }
    }

    fn add_one(&mut self, group: &MetricGroup, name: &str, kind: Kind) {
        match kind {
            Count(per_push) => {
                let c = group.counter(name);
                #[allow(clippy::cast_possible_truncation, reason = "small starting counts")]
                c.inc_by((per_push * self.rng.f64() * 100.0) as i64);
                self.counters.push((c, per_push));
            }
            Level(_) | Const(_) | Watermark | Flag => {
                let g = group.value_gauge(name);
                self.gauges.push((g, kind));
            }
        }
    }

    fn add_histogram(&mut self, group: &MetricGroup, name: &str, typical: f64) {
        let h = group.histogram(name, Histogram::new(128));
        self.histograms.push((h, typical));
    }

    /// Moves every value as one push interval passes.
    pub fn tick(&mut self) {
        self.watermark += 10_000.0;
        for (c, per_push) in &self.counters {
            #[allow(
                clippy::cast_possible_truncation,
                reason = "bounded positive increments"
            )]
            c.inc_by((per_push * (0.5 + self.rng.f64())).round() as i64);
        }
        for (g, kind) in &self.gauges {
            let v = match *kind {
                Level(mean) => mean * (0.5 + self.rng.f64()),
                Const(v) => v,
                Watermark => self.watermark - (self.rng.f64() * 5_000.0).floor(),
                Flag => f64::from(u8::from(self.rng.u8(..) < 16)),
                Count(_) => unreachable!("counters are not gauges"),
            };
            // Keep rates and levels to a few significant digits sometimes, full precision
            // other times: both occur in real Flink bodies (`0.43333333333333335`, `56.0`).
            let v = if self.rng.bool() { v.round() } else { v };
            g.set(v);
        }
        for (h, typical) in &self.histograms {
            for _ in 0..4 {
                #[allow(clippy::cast_possible_truncation, reason = "bounded latencies")]
                h.update((typical * (0.2 + 1.6 * self.rng.f64())).round() as i64);
            }
        }
    }

    /// Renders the body Flink would push now, appending to `out`.
    pub fn render(&self, out: &mut Vec<u8>) {
        self.registry.render(out);
    }

    /// Sample lines in a body.
    pub fn series(&self) -> usize {
        self.registry.series_count()
    }
}

/// Builds TaskManager `index` of the cluster.
pub fn taskmanager(layout: &Layout, seed: u64, index: usize) -> Process {
    let registry = Registry::new();
    let host = format!("flink-taskmanager-{index}");
    let tm_id = format!(
        "10.42.{}.{}:6122-{}",
        index / 250,
        index % 250 + 2,
        &hex_id(seed, &[7, index as u64])[..6]
    );
    let mut p = Process::new(registry.clone(), format!("tm-{index}"), seed ^ index as u64);
    let tm = registry.taskmanager(&host, &tm_id);
    add_status(&mut p, &tm, true);
    for job in 0..layout.jobs {
        add_job(&mut p, &tm, layout, seed, index, job);
    }
    p.tick();
    p
}

/// Builds the JobManager of the cluster.
pub fn jobmanager(layout: &Layout, seed: u64, taskmanagers: usize) -> Process {
    let registry = Registry::new();
    let mut p = Process::new(registry.clone(), "jm".into(), seed ^ 0x4A4D);
    let jm = registry.jobmanager("flink-jobmanager");
    add_status(&mut p, &jm, false);
    #[allow(clippy::cast_precision_loss, reason = "small counts")]
    let slots = (taskmanagers * layout.slots) as f64;
    #[allow(clippy::cast_precision_loss, reason = "small counts")]
    {
        p.add_one(&jm, "numRunningJobs", Const(layout.jobs as f64));
        p.add_one(&jm, "numRegisteredTaskManagers", Const(taskmanagers as f64));
    }
    p.add_one(&jm, "taskSlotsTotal", Const(slots));
    p.add_one(&jm, "taskSlotsAvailable", Const(0.0));
    for job in 0..layout.jobs {
        let job_id = hex_id(seed, &[1, job as u64]);
        let group = jm.job(&job_id, &format!("orders-enrichment-{job}"));
        p.add(&group, &JOB_MANAGER_JOB_METRICS);
        let source_task = hex_id(seed, &[2, job as u64, 0]);
        let coordinator = group
            .jobmanager_operator(
                &source_task,
                &task_name(layout, 0),
                &source_task,
                "Source: Kafka[orders]",
            )
            .add_group("coordinator")
            .add_group("enumerator");
        p.add_one(&coordinator, "unassignedSplits", Const(0.0));
    }
    p.tick();
    p
}

fn add_status(p: &mut Process, root: &MetricGroup, taskmanager: bool) {
    let status = root.add_group("Status");
    let jvm = status.add_group("JVM");
    p.add(
        &jvm.add_group("CPU"),
        &[("Load", Level(0.3)), ("Time", Count(1e10))],
    );
    p.add(
        &jvm.add_group("ClassLoader"),
        &[
            ("ClassesLoaded", Const(11_873.0)),
            ("ClassesUnloaded", Const(0.0)),
        ],
    );
    for gc in GARBAGE_COLLECTORS {
        p.add(
            &jvm.add_group("GarbageCollector").add_group(gc),
            &[
                ("Count", Count(2.0)),
                ("Time", Count(30.0)),
                ("TimeMsPerSecond", Level(3.0)),
            ],
        );
    }
    let memory = jvm.add_group("Memory");
    for pool in JVM_MEMORY_POOLS {
        p.add(
            &memory.add_group(pool),
            &[
                ("Used", Level(4e8)),
                ("Committed", Level(8e8)),
                ("Max", Const(1_073_741_824.0)),
            ],
        );
    }
    for pool in JVM_BUFFER_POOLS {
        p.add(
            &memory.add_group(pool),
            &[
                ("Count", Level(40.0)),
                ("MemoryUsed", Level(1.3e8)),
                ("TotalCapacity", Level(1.3e8)),
            ],
        );
    }
    p.add(&jvm.add_group("Threads"), &[("Count", Level(90.0))]);
    p.add(
        &jvm.add_group("FileDescriptor"),
        &[("Open", Level(300.0)), ("Max", Const(1_048_576.0))],
    );
    if taskmanager {
        p.add(
            &status
                .add_group("Flink")
                .add_group("Memory")
                .add_group("Managed"),
            &[("Used", Level(2e8)), ("Total", Const(536_870_920.0))],
        );
        p.add(
            &status.add_group("Shuffle").add_group("Netty"),
            &[
                ("AvailableMemorySegments", Level(3_000.0)),
                ("UsedMemorySegments", Level(1_000.0)),
                ("TotalMemorySegments", Const(4_096.0)),
                ("AvailableMemory", Level(1e8)),
                ("UsedMemory", Level(3e7)),
                ("TotalMemory", Const(134_217_728.0)),
                ("RequestedMemoryUsage", Level(0.25)),
            ],
        );
    }
}

fn operator_name(layout: &Layout, task: usize, op: usize) -> String {
    if task == 0 && op == 0 {
        "Source: Kafka[orders]".into()
    } else if task + 1 == layout.tasks && op + 1 == layout.ops_per_task {
        "Sink: Kafka[enriched-orders]".into()
    } else {
        let n = (task * layout.ops_per_task + op) % OPERATOR_NAMES.len();
        OPERATOR_NAMES[n].into()
    }
}

fn task_name(layout: &Layout, task: usize) -> String {
    (0..layout.ops_per_task)
        .map(|op| operator_name(layout, task, op))
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn add_job(
    p: &mut Process,
    tm: &MetricGroup,
    layout: &Layout,
    seed: u64,
    tm_index: usize,
    job: usize,
) {
    let job_id = hex_id(seed, &[1, job as u64]);
    let graph_id = hex_id(seed, &[3, job as u64]);
    let job_group = tm.job(&job_id, &format!("orders-enrichment-{job}"));
    let source_task = hex_id(seed, &[2, job as u64, 0]);
    for task in 0..layout.tasks {
        let task_id = hex_id(seed, &[2, job as u64, task as u64]);
        for slot in 0..layout.slots {
            let subtask = tm_index * layout.slots + slot;
            let info = TaskInfo {
                task_id: task_id.clone(),
                task_attempt_id: format!("{graph_id}_{task_id}_{subtask}_0"),
                task_name: task_name(layout, task),
                subtask_index: u32::try_from(subtask).expect("subtask index fits in u32"),
                attempt_number: 0,
            };
            let group = job_group.task(&info);
            add_task(p, &group);
            for op in 0..layout.ops_per_task {
                let op_id = if op == 0 {
                    task_id.clone()
                } else {
                    hex_id(seed, &[4, job as u64, task as u64, op as u64])
                };
                let op_group = group.operator(&op_id, &operator_name(layout, task, op));
                p.add(&op_group, &OPERATOR_METRICS);
                if task == 0 && op == 0 {
                    add_kafka_source(p, &op_group, layout, subtask);
                } else {
                    // Latency markers from the source, per receiving operator subtask.
                    let latency = group
                        .add_group("latency")
                        .add_group_kv("source_id", &source_task)
                        .add_group_kv("operator_id", &op_id)
                        .add_group_kv("operator_subtask_index", &subtask.to_string());
                    p.add_histogram(&latency, "latency", 40.0);
                }
                if task + 1 == layout.tasks && op + 1 == layout.ops_per_task {
                    p.add(&op_group, &SINK_METRICS);
                }
            }
        }
    }
}

fn add_task(p: &mut Process, group: &MetricGroup) {
    p.add(group, &TASK_METRICS);
    p.add_histogram(group, "mailboxLatencyMs", 1.0);
    let netty = group.add_group("Shuffle").add_group("Netty");
    let input = netty.add_group("Input");
    p.add(&input, &NETTY_INPUT);
    p.add(&input.add_group("Buffers"), &NETTY_INPUT_BUFFERS);
    p.add(
        &netty.add_group("Output").add_group("Buffers"),
        &NETTY_OUTPUT_BUFFERS,
    );
}

fn add_kafka_source(p: &mut Process, op: &MetricGroup, layout: &Layout, subtask: usize) {
    p.add(op, &SOURCE_METRICS);
    let reader = op.add_group("KafkaSourceReader");
    p.add(&reader.add_group("KafkaConsumer"), &KAFKA_CONSUMER_METRICS);
    p.add(
        &reader,
        &[
            ("commitsSucceeded", Count(1.0)),
            ("commitsFailed", Const(0.0)),
        ],
    );
    for i in 0..layout.partitions {
        let partition = (subtask * layout.partitions + i).to_string();
        let tp = reader
            .add_group_kv("topic", "orders")
            .add_group_kv("partition", &partition);
        p.add(
            &tp,
            &[
                ("currentOffset", Count(5e4)),
                ("committedOffset", Count(5e4)),
            ],
        );
        let split = op
            .add_group_kv("split", &format!("orders-{partition}"))
            .add_group("watermark");
        p.add(&split, &SPLIT_WATERMARK_METRICS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_advertised_sizes() {
        let small = taskmanager(&Layout::SMALL, 1, 0).series();
        let medium = taskmanager(&Layout::MEDIUM, 1, 0).series();
        assert!((400..=600).contains(&small), "small {small}");
        assert!((4_500..=5_500).contains(&medium), "medium {medium}");
    }

    #[test]
    fn body_looks_like_flink() {
        let tm = taskmanager(&Layout::SMALL, 1, 3);
        let mut body = Vec::new();
        tm.render(&mut body);
        let text = String::from_utf8(body).expect("utf-8");
        assert!(text.contains(
            "# TYPE flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag_max gauge"
        ));
        assert!(text.contains("flink_taskmanager_job_task_latency_source_id_operator_id_operator_subtask_index_latency_count{"));
        assert!(text.contains("quantile=\"0.999\",}"));
        assert!(text.contains("host=\"flink_taskmanager_3\",tm_id=\"10_42_0_5:6122_"));
        assert!(!text.contains("_sum"));
        let lines = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(lines, tm.series());
    }

    #[test]
    fn values_change_between_ticks() {
        let mut tm = taskmanager(&Layout::SMALL, 1, 0);
        let mut a = Vec::new();
        tm.render(&mut a);
        tm.tick();
        let mut b = Vec::new();
        tm.render(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn jobmanager_is_small() {
        let jm = jobmanager(&Layout::MEDIUM, 1, 10).series();
        assert!((30..=120).contains(&jm), "jm {jm}");
    }
}
