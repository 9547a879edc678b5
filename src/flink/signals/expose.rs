//! The latest [`Evaluation`] as Prometheus families and as the `/api/v1/flink/jobs` JSON.
//!
//! Owns: the series names, their HELP text (what each means and how it is computed) and
//! labels, and the JSON document's shape.
//! Does not own: the numbers (see `eval`) or HTTP (see `server::api`, `server::scrape`).
//!
//! Data enters as an `&Evaluation` and leaves as `Vec<StoredFamily>` (appended to
//! `/metrics` and `/metrics/aggregated`) or a JSON string.

use std::fmt::Write as _;

use super::eval::{ClusterEval, Evaluation, JobEval, TmEval, VertexEval};
use crate::model::{MetricType, Value};
use crate::store::group::{LabelSet, Series, StoredFamily, Str};

/// One output family: name, HELP, and how to read its value from a vertex.
type VertexSeries = (&'static str, &'static str, fn(&VertexEval) -> Option<f64>);

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

const VERTEX: &[VertexSeries] = &[
    ("pushgate_flink_vertex_parallelism", "Subtasks of the vertex with a fresh push (groups not expired, last push within 3 intervals).", |v| Some(f64::from(v.parallelism))),
    ("pushgate_flink_vertex_busy_ratio", "Max over subtasks of the busy share of time: delta accumulateBusyTimeMs / delta (busy + idle + backPressured) between two pushes of the same attempt; busyTimeMsPerSecond/1000 when the counters are missing.", |v| v.busy_ratio),
    ("pushgate_flink_vertex_busy_ratio_avg", "Mean over subtasks of the busy share of time (see pushgate_flink_vertex_busy_ratio).", |v| v.busy_ratio_avg),
    ("pushgate_flink_vertex_idle_ratio_avg", "Mean over subtasks of the idle share of time (accumulateIdleTimeMs deltas).", |v| v.idle_ratio_avg),
    ("pushgate_flink_vertex_backpressure_ratio", "Max over subtasks of the back-pressured share of time (accumulateBackPressuredTimeMs deltas; missing counts as 0, as in Flink).", |v| Some(v.backpressure_ratio)),
    ("pushgate_flink_vertex_backpressure_level", "Flink's back-pressure level of pushgate_flink_vertex_backpressure_ratio: 0 OK (<= 0.10), 1 LOW (<= 0.50), 2 HIGH (above).", |v| Some(v.backpressure_level.as_number())),
    ("pushgate_flink_vertex_bottleneck", "1 on the job's bottleneck: while some vertex is back-pressured, the busiest vertex that is not (back-pressure ratio <= 0.10); a change needs --flink.signals.hysteresis consecutive evaluations. 0 on every other vertex.", |v| Some(flag(v.bottleneck))),
    ("pushgate_flink_vertex_skewed", "1 when one subtask carries the load: max busy ratio more than 0.3 above the mean, or numRecordsInPerSecond skew (Flink's DoubleDataSkew) above 50 %.", |v| Some(flag(v.hot_subtask.is_some()))),
    ("pushgate_flink_vertex_input_rate", "Records/s into the vertex: sum over subtasks of numRecordsInPerSecond (sources: the chain head operator's records in, else out).", |v| Some(v.input_rate)),
    ("pushgate_flink_vertex_true_processing_rate", "Records/s the vertex could process at 100 % busy (autoscaler TPR): input rate / mean over the last 5 min of the max busy ratio; +Inf when not busy at all.", |v| v.true_processing_rate),
    ("pushgate_flink_vertex_suggested_parallelism", "The Flink autoscaler's parallelism: ceil(P * LOAD * (lag/catch-up/source rate + (1 + lag growth/source rate) * (restart/catch-up + 1/target utilisation))), factor clamped to [0.4, 100001], aligned to a divisor of the key groups for non-source vertices; P without load.", |v| Some(f64::from(v.suggested_parallelism))),
    ("pushgate_flink_vertex_scaling_outside_band", "1 when the vertex is outside the autoscaler's utilisation band (cannot keep up at 100 % busy, or would stay below 40 %): the autoscaler would act on the suggestion.", |v| Some(flag(v.outside_band))),
    ("pushgate_flink_source_lag_records", "Records the source has not read yet: sum over its subtasks of pendingRecords. Absent when the source does not report pendingRecords (unknown, not 0).", |v| v.source?.lag_records),
    ("pushgate_flink_source_lag_seconds", "Seconds of backlog: pushgate_flink_source_lag_records / pushgate_flink_source_consume_rate (+Inf when nothing is read while lag remains).", |v| v.source?.lag_seconds),
    ("pushgate_flink_source_consume_rate", "Records/s the source reads (sum over subtasks of the chain head's numRecordsInPerSecond, else numRecordsOutPerSecond).", |v| v.source.map(|s| s.consume_rate)),
    ("pushgate_flink_source_lag_growth_rate", "Trend of the lag, records/s: change of pushgate_flink_source_lag_records over the last 5 min of evaluations (negative while catching up).", |v| v.source?.lag_growth),
    ("pushgate_flink_source_catch_up_seconds", "Seconds until the lag is gone at the current trend: lag / -growth; 0 without lag, +Inf while the lag grows.", |v| v.source?.catch_up_seconds),
];

type JobSeries = (&'static str, &'static str, fn(&JobEval) -> Option<f64>);

const JOB: &[JobSeries] = &[
    ("pushgate_flink_job_backpressure_level", "Highest back-pressure level of the job's vertices: 0 OK, 1 LOW, 2 HIGH.", |j| Some(j.backpressure_level.as_number())),
    ("pushgate_flink_job_network_bottleneck_suspected", "1 when the job is back-pressured but no vertex that is not back-pressured is at least 50 % busy: the network or an external system is the likely cause.", |j| Some(flag(j.network_suspected))),
    ("pushgate_flink_job_restarts_10m", "Restarts in the last 10 minutes: increase of the JobManager's numRestarts over the evaluations of that window.", |j| j.restarts_10m),
    ("pushgate_flink_job_checkpoint_age_seconds", "Seconds since the last completed checkpoint: now - lastCheckpointCompletedTimestamp (Flink 2.x), else time since lastCompletedCheckpointId last changed.", |j| j.checkpoint_age_seconds),
    ("pushgate_flink_job_failed_checkpoints", "The JobManager's numberOfFailedCheckpoints.", |j| j.failed_checkpoints),
];

type ClusterSeries = (&'static str, &'static str, fn(&ClusterEval) -> Option<f64>);

const CLUSTER: &[ClusterSeries] = &[
    (
        "pushgate_flink_cluster_slots_total",
        "The JobManager's taskSlotsTotal.",
        |c| Some(c.slots_total),
    ),
    (
        "pushgate_flink_cluster_slots_used",
        "taskSlotsTotal - taskSlotsAvailable.",
        |c| Some(c.slots_used),
    ),
    (
        "pushgate_flink_cluster_slot_utilization",
        "Used / total slots (0 without slots); below 0.2 the cluster is under-used.",
        |c| {
            Some(if c.slots_total > 0.0 {
                c.slots_used / c.slots_total
            } else {
                0.0
            })
        },
    ),
    (
        "pushgate_flink_cluster_taskmanagers",
        "The JobManager's numRegisteredTaskManagers.",
        |c| c.task_managers,
    ),
];

type TmSeries = (&'static str, &'static str, fn(&TmEval) -> Option<f64>);

const TM: &[TmSeries] = &[
    ("pushgate_flink_taskmanager_heap_ratio", "Heap used / max of the TaskManager JVM (Status_JVM_Memory_Heap_Used / _Max).", |t| t.heap_ratio),
    ("pushgate_flink_taskmanager_gc_ratio", "Share of time in garbage collection: Status_JVM_GarbageCollector_All_TimeMsPerSecond / 1000.", |t| t.gc_ratio),
];

/// Every signal family of `e` (families without series are left out).
#[must_use]
pub fn families(e: &Evaluation) -> Vec<StoredFamily> {
    let mut out = Vec::new();
    for (name, help, get) in VERTEX {
        let series = e
            .jobs
            .iter()
            .flat_map(|j| j.vertices.iter().map(move |v| (j, v)))
            .filter_map(|(j, v)| Some(series(vertex_labels(j, v), get(v)?)))
            .collect();
        push_family(&mut out, name, help, series);
    }
    for (name, help, get) in JOB {
        let series = e
            .jobs
            .iter()
            .filter_map(|j| Some(series(job_labels(j), get(j)?)))
            .collect();
        push_family(&mut out, name, help, series);
    }
    for (name, help, get) in CLUSTER {
        let series = e
            .clusters
            .iter()
            .filter_map(|c| Some(series(c.labels.clone(), get(c)?)))
            .collect();
        push_family(&mut out, name, help, series);
    }
    for (name, help, get) in TM {
        let series = e
            .task_managers
            .iter()
            .filter_map(|t| Some(series(with(&t.labels, &[("tm_id", &t.tm_id)]), get(t)?)))
            .collect();
        push_family(&mut out, name, help, series);
    }
    out
}

fn push_family(out: &mut Vec<StoredFamily>, name: &str, help: &str, series: Vec<Series>) {
    if !series.is_empty() {
        out.push(StoredFamily::new(
            name.into(),
            Some(help.into()),
            MetricType::Gauge,
            series,
            0.0,
        ));
    }
}

fn series(labels: LabelSet, v: f64) -> Series {
    Series {
        labels,
        value: Value::Scalar(v),
    }
}

/// `base` plus `extra`, sorted by name; `extra` wins on a name clash.
fn with(base: &LabelSet, extra: &[(&str, &Str)]) -> LabelSet {
    let mut labels: Vec<(Str, Str)> = base
        .iter()
        .filter(|(n, _)| !extra.iter().any(|(e, _)| *e == &**n))
        .cloned()
        .collect();
    labels.extend(extra.iter().map(|(n, v)| (Str::from(*n), (*v).clone())));
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels.into()
}

fn job_labels(j: &JobEval) -> LabelSet {
    with(
        &j.labels,
        &[("job_id", &j.job_id), ("job_name", &j.job_name)],
    )
}

fn vertex_labels(j: &JobEval, v: &VertexEval) -> LabelSet {
    with(
        &j.labels,
        &[
            ("job_id", &j.job_id),
            ("job_name", &j.job_name),
            ("task_id", &v.task_id),
            ("task_name", &v.task_name),
        ],
    )
}

/// A JSON number; `null` for unknown or infinite values (JSON has no infinity).
fn num(out: &mut String, v: Option<f64>) {
    match v.filter(|v| v.is_finite()) {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push_str("null"),
    }
}

fn key(out: &mut String, name: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    let _ = write!(out, "\"{name}\":");
}

fn string(out: &mut String, name: &str, v: &str) {
    key(out, name);
    crate::server::api::write_json_string(out, v);
}

fn number(out: &mut String, name: &str, v: Option<f64>) {
    key(out, name);
    num(out, v);
}

fn boolean(out: &mut String, name: &str, v: bool) {
    key(out, name);
    out.push_str(if v { "true" } else { "false" });
}

fn labels_object(out: &mut String, labels: &LabelSet) {
    key(out, "labels");
    out.push('{');
    for (n, v) in labels.iter() {
        string(out, n, v);
    }
    out.push('}');
}

/// The `/api/v1/flink/jobs` document.
#[must_use]
pub fn json(e: &Evaluation) -> String {
    let mut out = String::from("{\"status\":\"success\",\"data\":{");
    number(&mut out, "evaluated_at", Some(e.at));
    key(&mut out, "jobs");
    out.push('[');
    for (i, j) in e.jobs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        job_json(&mut out, j);
    }
    out.push(']');
    key(&mut out, "clusters");
    out.push('[');
    for (i, c) in e.clusters.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        labels_object(&mut out, &c.labels);
        number(&mut out, "slots_total", Some(c.slots_total));
        number(&mut out, "slots_used", Some(c.slots_used));
        let util = (c.slots_total > 0.0).then(|| c.slots_used / c.slots_total);
        number(&mut out, "slot_utilization", util);
        boolean(&mut out, "slots_underused", util.is_some_and(|u| u < 0.2));
        number(&mut out, "taskmanagers", c.task_managers);
        out.push('}');
    }
    out.push(']');
    key(&mut out, "taskmanagers");
    out.push('[');
    for (i, t) in e.task_managers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        labels_object(&mut out, &t.labels);
        string(&mut out, "tm_id", &t.tm_id);
        number(&mut out, "heap_ratio", t.heap_ratio);
        number(&mut out, "gc_ratio", t.gc_ratio);
        out.push('}');
    }
    out.push_str("]}}");
    out
}

fn job_json(out: &mut String, j: &JobEval) {
    out.push('{');
    string(out, "job_id", &j.job_id);
    string(out, "job_name", &j.job_name);
    labels_object(out, &j.labels);
    string(out, "backpressure_level", j.backpressure_level.as_str());
    key(out, "bottleneck");
    match j.vertices.iter().find(|v| v.bottleneck) {
        Some(v) => {
            out.push('{');
            string(out, "task_id", &v.task_id);
            string(out, "task_name", &v.task_name);
            key(out, "hot_subtask");
            num(out, v.hot_subtask.map(f64::from));
            out.push('}');
        }
        None => out.push_str("null"),
    }
    boolean(out, "network_bottleneck_suspected", j.network_suspected);
    number(out, "restarts_10m", j.restarts_10m);
    number(out, "checkpoint_age_seconds", j.checkpoint_age_seconds);
    number(out, "failed_checkpoints", j.failed_checkpoints);
    key(out, "vertices");
    out.push('[');
    for (i, v) in j.vertices.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        vertex_json(out, v);
    }
    out.push_str("]}");
}

fn vertex_json(out: &mut String, v: &VertexEval) {
    out.push('{');
    string(out, "task_id", &v.task_id);
    string(out, "task_name", &v.task_name);
    number(out, "parallelism", Some(f64::from(v.parallelism)));
    number(out, "busy_ratio", v.busy_ratio);
    number(out, "busy_ratio_avg", v.busy_ratio_avg);
    number(out, "idle_ratio_avg", v.idle_ratio_avg);
    number(out, "backpressure_ratio", Some(v.backpressure_ratio));
    string(out, "backpressure_level", v.backpressure_level.as_str());
    boolean(out, "bottleneck", v.bottleneck);
    number(out, "hot_subtask", v.hot_subtask.map(f64::from));
    number(out, "input_rate", Some(v.input_rate));
    number(out, "true_processing_rate", v.true_processing_rate);
    number(
        out,
        "suggested_parallelism",
        Some(f64::from(v.suggested_parallelism)),
    );
    boolean(out, "outside_band", v.outside_band);
    key(out, "source");
    match v.source {
        Some(s) => {
            out.push('{');
            number(out, "lag_records", s.lag_records);
            number(out, "lag_seconds", s.lag_seconds);
            boolean(out, "lag_stalled", s.lag_seconds == Some(f64::INFINITY));
            number(out, "consume_rate", Some(s.consume_rate));
            number(out, "lag_growth_rate", s.lag_growth);
            number(out, "catch_up_seconds", s.catch_up_seconds);
            out.push('}');
        }
        None => out.push_str("null"),
    }
    out.push('}');
}
