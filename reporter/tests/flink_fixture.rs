//! The writer and naming against a real Flink 2.3.0 TaskManager push
//! (`fixtures/flink-2.3.0/tm.txt`): the same metrics with the same values must give the same
//! bytes, line for line.

use std::collections::BTreeSet;

use pushgate_reporter::{Histogram, MetricGroup, Registry, TaskInfo};

const JOB_ID: &str = "20ec600b74941d944c1811e9d462b174";
const SOURCE_TASK: &str = "cbc357ccb763df2852fee8c4fc7d55f2";
const SINK_TASK: &str = "90bea66de1c231edf33913ecd54406c1";
const ATTEMPT_PREFIX: &str = "0d72e9caa7503eaf7aa5bbab3bf8c261";

fn fixture() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/flink-2.3.0/tm.txt"
    );
    std::fs::read_to_string(path).expect("fixture present")
}

/// The fixture's lines of one family: HELP, TYPE and the samples (any order).
fn family_lines(text: &str, name: &str) -> (Vec<String>, BTreeSet<String>) {
    let header: Vec<String> = text
        .lines()
        .filter(|l| {
            l.starts_with(&format!("# HELP {name} ")) || l.starts_with(&format!("# TYPE {name} "))
        })
        .map(str::to_owned)
        .collect();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with("_count{"))
        })
        .map(str::to_owned)
        .collect();
    (header, samples)
}

#[track_caller]
fn check_family(registry: &Registry, name: &str) {
    let want = fixture();
    let got = String::from_utf8(registry.render_to_vec()).expect("utf-8");
    let (want_header, want_samples) = family_lines(&want, name);
    let (got_header, got_samples) = family_lines(&got, name);
    assert_eq!(want_header.len(), 2, "fixture has family {name}");
    assert_eq!(got_header, want_header, "header of {name}");
    assert!(!want_samples.is_empty());
    assert_eq!(got_samples, want_samples, "samples of {name}");
}

fn tm(registry: &Registry) -> MetricGroup {
    registry.taskmanager("localhost", "localhost:35339_ccf434")
}

fn task(registry: &Registry, task_id: &str, name: &str, subtask: u32) -> MetricGroup {
    tm(registry).job(JOB_ID, "pgw_capture_job").task(&TaskInfo {
        task_id: task_id.into(),
        task_attempt_id: format!("{ATTEMPT_PREFIX}_{task_id}_{subtask}_0"),
        task_name: name.into(),
        subtask_index: subtask,
        attempt_number: 0,
    })
}

fn source_map(registry: &Registry, subtask: u32) -> MetricGroup {
    task(
        registry,
        SOURCE_TASK,
        "Source: Seq Source -> Instrumented Map",
        subtask,
    )
    .operator("7df19f87deec5680128845fd9a6ca18d", "Instrumented Map")
}

#[test]
fn taskmanager_gauges() {
    let registry = Registry::new();
    let status = tm(&registry).add_group("Status");
    let managed = status
        .add_group("Flink")
        .add_group("Memory")
        .add_group("Managed");
    managed.gauge("Total", || 536_870_920.0);
    let young = status
        .add_group("JVM")
        .add_group("GarbageCollector")
        .add_group("G1 Young Generation");
    young.gauge("TimeMsPerSecond", || 0.433_333_333_333_333_35);
    status
        .add_group("JVM")
        .add_group("ClassLoader")
        .gauge("ClassesUnloaded", || 0.0);
    check_family(
        &registry,
        "flink_taskmanager_Status_Flink_Memory_Managed_Total",
    );
    check_family(
        &registry,
        "flink_taskmanager_Status_JVM_GarbageCollector_G1_Young_Generation_TimeMsPerSecond",
    );
    check_family(
        &registry,
        "flink_taskmanager_Status_JVM_ClassLoader_ClassesUnloaded",
    );
}

#[test]
fn task_counters() {
    let registry = Registry::new();
    for (task_id, name, values) in [
        (
            SOURCE_TASK,
            "Source: Seq Source -> Instrumented Map",
            [938, 938],
        ),
        (SINK_TASK, "Keyed Reduce -> Discard Sink: Writer", [0, 0]),
    ] {
        for subtask in 0..2 {
            let c = task(&registry, task_id, name, subtask).counter("numRecordsOut");
            c.inc_by(values[subtask as usize]);
        }
    }
    check_family(&registry, "flink_taskmanager_job_task_numRecordsOut");
}

#[test]
fn operator_watermarks_and_user_groups() {
    let registry = Registry::new();
    let min = -9.223_372_036_854_776e18;
    for subtask in 0..2 {
        let op = source_map(&registry, subtask);
        op.gauge("currentInputWatermark", move || min);
        op.add_group_kv("customKey", "custom value with space")
            .counter("kvCounter")
            .inc();
        let h = op
            .add_group("capture")
            .histogram("myHistogram", Histogram::new(500));
        for i in 0..938 {
            h.update(i % 100);
        }
        let sink = task(
            &registry,
            SINK_TASK,
            "Keyed Reduce -> Discard Sink: Writer",
            subtask,
        );
        for (id, name) in [
            ("17fbfcaabad45985bbdf4da0490487e3", "Discard Sink: Writer"),
            (SINK_TASK, "Keyed Reduce"),
        ] {
            sink.operator(id, name)
                .gauge("currentInputWatermark", move || min);
        }
    }
    check_family(
        &registry,
        "flink_taskmanager_job_task_operator_customKey_kvCounter",
    );
    check_family(
        &registry,
        "flink_taskmanager_job_task_operator_capture_myHistogram",
    );
    check_family(
        &registry,
        "flink_taskmanager_job_task_operator_currentInputWatermark",
    );
}

/// Latency markers: `task.addGroup("latency").addGroup("source_id", ..).addGroup("operator_id", ..)
/// .addGroup("operator_subtask_index", ..).histogram("latency", ..)` on the task group. The
/// window holds values giving the fixture's quantiles for one (source, operator, subtask).
#[test]
fn latency_summary() {
    let registry = Registry::new();
    let h = task(
        &registry,
        SINK_TASK,
        "Keyed Reduce -> Discard Sink: Writer",
        1,
    )
    .add_group("latency")
    .add_group_kv("source_id", SOURCE_TASK)
    .add_group_kv("operator_id", SINK_TASK)
    .add_group_kv("operator_subtask_index", "1")
    .histogram("latency", Histogram::new(128));
    for v in [50, 52, 54, 54, 54, 54, 54, 55, 56, 57, 58, 58] {
        h.update(v);
    }
    let got = String::from_utf8(registry.render_to_vec()).expect("utf-8");
    let name =
        "flink_taskmanager_job_task_latency_source_id_operator_id_operator_subtask_index_latency";
    let (want_header, want_samples) = family_lines(&fixture(), name);
    let (got_header, got_samples) = family_lines(&got, name);
    assert_eq!(got_header, want_header);
    assert_eq!(got_samples.len(), 7);
    for line in &got_samples {
        assert!(want_samples.contains(line), "not in the fixture: {line}");
    }
}
