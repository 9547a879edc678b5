//! Taking the few families the signals need out of one parsed push.
//!
//! Owns: the list of Flink metric names the signals read (the same in 1.20.3 and 2.3.0, see
//! `../shared/FLINK-SIGNALS.md` §5) and [`extract`], which walks the families of one push
//! once, looks each family name up in a `match` and copies the values of the few that match
//! into an owned [`Extract`]. Everything else in the push is skipped after one name
//! comparison, so a push costs O(families + samples of the matching families).
//! Does not own: what the values mean (see `eval`) or where they are kept (see the parent).
//!
//! Data enters as the `&[Family]` of a push (before the store consumes it) and leaves as an
//! [`Extract`] keyed by subtask, TaskManager and job.

use std::collections::HashMap;

use crate::model::{Family, Label, Value};
use crate::store::group::Str;

/// One subtask of one vertex: `(job_id, task_id, subtask_index)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubtaskKey {
    /// Flink's job id (32 hex).
    pub job_id: Str,
    /// The vertex id (`task_id`, Flink's `JobVertexID`).
    pub task_id: Str,
    /// `subtask_index`.
    pub subtask: u32,
}

/// Indexes into the busy / idle / back-pressured triples.
pub const BUSY: usize = 0;
/// See [`BUSY`].
pub const IDLE: usize = 1;
/// See [`BUSY`].
pub const BACKPRESSURED: usize = 2;

/// What one push says about one subtask.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskSample {
    /// `task_attempt_num`: a restarted subtask pushes a higher one.
    pub attempt: u32,
    /// `job_name` label.
    pub job_name: Str,
    /// `task_name` label (the vertex name).
    pub task_name: Str,
    /// `accumulate{Busy,Idle,BackPressured}TimeMs` (milliseconds since the attempt started).
    pub accumulated: [Option<f64>; 3],
    /// `{busy,idle,backPressured}TimeMsPerSecond` gauges.
    pub per_second: [Option<f64>; 3],
    /// Task-level `numRecordsInPerSecond`.
    pub records_in: Option<f64>,
    /// Task-level `numRecordsOutPerSecond`.
    pub records_out: Option<f64>,
    /// Chain head operator (`operator_id == task_id`) `numRecordsInPerSecond`.
    pub head_in: Option<f64>,
    /// Chain head operator `numRecordsOutPerSecond`.
    pub head_out: Option<f64>,
    /// Σ `pendingRecords` over the subtask's operators; `None` when not pushed (unknown lag).
    pub pending: Option<f64>,
    /// The vertex reads from a source (`sourceIdleTime` or `pendingRecords` pushed, or a
    /// `task_name` starting with `Source:`).
    pub source: bool,
}

/// What one push says about one TaskManager process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TmSample {
    /// `Status_JVM_Memory_Heap_Used` (bytes).
    pub heap_used: Option<f64>,
    /// `Status_JVM_Memory_Heap_Max` (bytes).
    pub heap_max: Option<f64>,
    /// `Status_JVM_GarbageCollector_All_TimeMsPerSecond`.
    pub gc_ms_per_second: Option<f64>,
}

/// What a JobManager push says about one job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobSample {
    /// `job_name` label.
    pub job_name: Str,
    /// `numRestarts`.
    pub restarts: Option<f64>,
    /// `lastCheckpointCompletedTimestamp` (Unix ms; 2.x only).
    pub checkpoint_completed_ms: Option<f64>,
    /// `lastCompletedCheckpointId`.
    pub checkpoint_id: Option<f64>,
    /// `numberOfFailedCheckpoints`.
    pub failed_checkpoints: Option<f64>,
}

/// What a JobManager push says about the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterSample {
    /// `taskSlotsTotal`.
    pub slots_total: Option<f64>,
    /// `taskSlotsAvailable`.
    pub slots_available: Option<f64>,
    /// `numRegisteredTaskManagers`.
    pub task_managers: Option<f64>,
}

/// The signal inputs of one push.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extract {
    /// Per subtask.
    pub tasks: HashMap<SubtaskKey, TaskSample>,
    /// Per `tm_id`.
    pub tms: HashMap<Str, TmSample>,
    /// Per `job_id` (JobManager pushes).
    pub jobs: HashMap<Str, JobSample>,
    /// Slots (JobManager pushes).
    pub cluster: Option<ClusterSample>,
}

impl Extract {
    /// Whether the push carried nothing the signals read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
            && self.tms.is_empty()
            && self.jobs.is_empty()
            && self.cluster.is_none()
    }
}

#[derive(Clone, Copy)]
enum TaskField {
    Accumulated(usize),
    PerSecond(usize),
    RecordsIn,
    RecordsOut,
}

#[derive(Clone, Copy)]
enum OpField {
    RecordsIn,
    RecordsOut,
    Pending,
    SourceIdle,
}

#[derive(Clone, Copy)]
enum TmField {
    HeapUsed,
    HeapMax,
    Gc,
}

#[derive(Clone, Copy)]
enum JobField {
    Restarts,
    CheckpointTime,
    CheckpointId,
    FailedCheckpoints,
}

#[derive(Clone, Copy)]
enum ClusterField {
    SlotsTotal,
    SlotsAvailable,
    TaskManagers,
}

#[derive(Clone, Copy)]
enum Kind {
    Task(TaskField),
    Op(OpField),
    Tm(TmField),
    Job(JobField),
    Cluster(ClusterField),
}

/// The families the signals read, by their Prometheus reporter names.
fn kind(name: &str) -> Option<Kind> {
    use TaskField::{Accumulated, PerSecond};
    let task = name.strip_prefix("flink_taskmanager_job_task_");
    if let Some(op) = task.and_then(|t| t.strip_prefix("operator_")) {
        return Some(Kind::Op(match op {
            "numRecordsInPerSecond" => OpField::RecordsIn,
            "numRecordsOutPerSecond" => OpField::RecordsOut,
            "pendingRecords" => OpField::Pending,
            "sourceIdleTime" => OpField::SourceIdle,
            _ => return None,
        }));
    }
    if let Some(t) = task {
        return Some(Kind::Task(match t {
            "accumulateBusyTimeMs" => Accumulated(BUSY),
            "accumulateIdleTimeMs" => Accumulated(IDLE),
            "accumulateBackPressuredTimeMs" => Accumulated(BACKPRESSURED),
            "busyTimeMsPerSecond" => PerSecond(BUSY),
            "idleTimeMsPerSecond" => PerSecond(IDLE),
            "backPressuredTimeMsPerSecond" => PerSecond(BACKPRESSURED),
            "numRecordsInPerSecond" => TaskField::RecordsIn,
            "numRecordsOutPerSecond" => TaskField::RecordsOut,
            _ => return None,
        }));
    }
    Some(match name {
        "flink_taskmanager_Status_JVM_Memory_Heap_Used" => Kind::Tm(TmField::HeapUsed),
        "flink_taskmanager_Status_JVM_Memory_Heap_Max" => Kind::Tm(TmField::HeapMax),
        "flink_taskmanager_Status_JVM_GarbageCollector_All_TimeMsPerSecond" => {
            Kind::Tm(TmField::Gc)
        }
        "flink_jobmanager_job_numRestarts" => Kind::Job(JobField::Restarts),
        "flink_jobmanager_job_lastCheckpointCompletedTimestamp" => {
            Kind::Job(JobField::CheckpointTime)
        }
        "flink_jobmanager_job_lastCompletedCheckpointId" => Kind::Job(JobField::CheckpointId),
        "flink_jobmanager_job_numberOfFailedCheckpoints" => Kind::Job(JobField::FailedCheckpoints),
        "flink_jobmanager_taskSlotsTotal" => Kind::Cluster(ClusterField::SlotsTotal),
        "flink_jobmanager_taskSlotsAvailable" => Kind::Cluster(ClusterField::SlotsAvailable),
        "flink_jobmanager_numRegisteredTaskManagers" => Kind::Cluster(ClusterField::TaskManagers),
        _ => return None,
    })
}

/// The signal inputs of one push: one pass over `families`, one name match per family.
#[must_use]
pub fn extract(families: &[Family<'_>]) -> Extract {
    let mut out = Extract::default();
    for f in families {
        let Some(kind) = kind(&f.name) else {
            continue;
        };
        for m in &f.metrics {
            let Value::Scalar(v) = m.value else {
                continue;
            };
            // Flink pushes NaN for unknown values (legacy sources' busy time): unknown, not 0.
            let v = Some(v).filter(|v| v.is_finite());
            apply(&mut out, kind, &m.labels, v);
        }
    }
    out
}

fn label<'l>(labels: &'l [Label<'_>], name: &str) -> Option<&'l str> {
    labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_ref())
}

fn apply(out: &mut Extract, kind: Kind, labels: &[Label<'_>], v: Option<f64>) {
    match kind {
        Kind::Task(field) => {
            if let Some(t) = task(out, labels) {
                set_task(t, field, v);
            }
        }
        Kind::Op(field) => {
            let head = label(labels, "operator_id") == label(labels, "task_id");
            if let Some(t) = task(out, labels) {
                set_op(t, field, v, head);
            }
        }
        Kind::Tm(field) => {
            let Some(tm) = label(labels, "tm_id") else {
                return;
            };
            let s = out.tms.entry(tm.into()).or_default();
            match field {
                TmField::HeapUsed => s.heap_used = v,
                TmField::HeapMax => s.heap_max = v,
                TmField::Gc => s.gc_ms_per_second = v,
            }
        }
        Kind::Job(field) => {
            let Some(id) = label(labels, "job_id") else {
                return;
            };
            let s = out.jobs.entry(id.into()).or_default();
            s.job_name = label(labels, "job_name").unwrap_or_default().into();
            match field {
                JobField::Restarts => s.restarts = v,
                JobField::CheckpointTime => s.checkpoint_completed_ms = v,
                JobField::CheckpointId => s.checkpoint_id = v,
                JobField::FailedCheckpoints => s.failed_checkpoints = v,
            }
        }
        Kind::Cluster(field) => {
            let s = out.cluster.get_or_insert_with(ClusterSample::default);
            match field {
                ClusterField::SlotsTotal => s.slots_total = v,
                ClusterField::SlotsAvailable => s.slots_available = v,
                ClusterField::TaskManagers => s.task_managers = v,
            }
        }
    }
}

/// The sample of the subtask `labels` name, created on first sight; `None` without the
/// task labels. A second attempt of the same subtask in one push keeps the newer attempt.
fn task<'o>(out: &'o mut Extract, labels: &[Label<'_>]) -> Option<&'o mut TaskSample> {
    let job_id = label(labels, "job_id")?;
    let task_id = label(labels, "task_id")?;
    let subtask = label(labels, "subtask_index")?.parse().ok()?;
    let attempt: u32 = label(labels, "task_attempt_num")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let key = SubtaskKey {
        job_id: job_id.into(),
        task_id: task_id.into(),
        subtask,
    };
    let sample = out.tasks.entry(key).or_insert_with(|| {
        let task_name = label(labels, "task_name").unwrap_or_default();
        TaskSample {
            attempt,
            job_name: label(labels, "job_name").unwrap_or_default().into(),
            source: task_name.starts_with("Source"),
            task_name: task_name.into(),
            ..TaskSample::default()
        }
    });
    if attempt > sample.attempt {
        *sample = TaskSample {
            attempt,
            job_name: sample.job_name.clone(),
            task_name: sample.task_name.clone(),
            source: sample.source,
            ..TaskSample::default()
        };
    }
    (attempt == sample.attempt).then_some(sample)
}

fn set_task(t: &mut TaskSample, field: TaskField, v: Option<f64>) {
    match field {
        TaskField::Accumulated(i) => t.accumulated[i] = v,
        TaskField::PerSecond(i) => t.per_second[i] = v,
        TaskField::RecordsIn => t.records_in = v,
        TaskField::RecordsOut => t.records_out = v,
    }
}

fn set_op(t: &mut TaskSample, field: OpField, v: Option<f64>, head: bool) {
    match field {
        OpField::RecordsIn if head => t.head_in = v,
        OpField::RecordsOut if head => t.head_out = v,
        OpField::RecordsIn | OpField::RecordsOut => {}
        OpField::Pending => {
            t.source = true;
            if let Some(v) = v {
                t.pending = Some(t.pending.unwrap_or(0.0) + v);
            }
        }
        OpField::SourceIdle => t.source = true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Extract {
        let families =
            crate::parse::text::parse_with(body.as_bytes(), crate::parse::Names::Classic)
                .expect("fixture parses");
        extract(&families)
    }

    #[test]
    fn a_real_taskmanager_push_yields_its_four_subtasks_and_its_process() {
        let body = std::fs::read_to_string("fixtures/flink-2.3.0/tm.txt").expect("fixture");
        let e = parse(&body);
        assert_eq!(e.tasks.len(), 4);
        assert_eq!(e.tms.len(), 1);
        let sources = e.tasks.values().filter(|t| t.source).count();
        assert_eq!(sources, 2);
        let t = e.tasks.values().next().expect("a subtask");
        assert!(t.accumulated.iter().all(Option::is_some));
        assert!(t.per_second.iter().all(Option::is_some));
        assert!(
            t.pending.is_none(),
            "DataGen sources push no pendingRecords"
        );
    }

    #[test]
    fn a_real_jobmanager_push_yields_slots_and_its_job() {
        for path in [
            "fixtures/flink-2.3.0/jm.txt",
            "fixtures/flink-1.20.3/jm.txt",
        ] {
            let e = parse(&std::fs::read_to_string(path).expect("fixture"));
            let c = e.cluster.expect("slots");
            assert!(
                c.slots_total.is_some() && c.slots_available.is_some(),
                "{path}"
            );
            assert_eq!(e.jobs.len(), 1, "{path}");
            assert!(e.jobs.values().all(|j| j.restarts.is_some()), "{path}");
        }
    }

    #[test]
    fn the_newer_attempt_of_a_subtask_in_one_push_wins() {
        let body = "a_b 1\n\
            flink_taskmanager_job_task_busyTimeMsPerSecond{job_id=\"j\",task_id=\"t\",subtask_index=\"0\",task_attempt_num=\"0\"} 5\n\
            flink_taskmanager_job_task_busyTimeMsPerSecond{job_id=\"j\",task_id=\"t\",subtask_index=\"0\",task_attempt_num=\"1\"} 7\n\
            flink_taskmanager_job_task_busyTimeMsPerSecond{job_id=\"j\",task_id=\"t\",subtask_index=\"0\",task_attempt_num=\"0\"} 9\n";
        let e = parse(body);
        let t = e.tasks.values().next().expect("one subtask");
        assert_eq!((t.attempt, t.per_second[BUSY]), (1, Some(7.0)));
    }
}
