//! Built-in rename rules for Flink's default scope formats (`metrics.scope.*`).
//!
//! Owns: the [`Preset`] names of the config file and the regex and template of each scope.
//! Does not own: compiling or applying rules (`super::rule`, `super::Renamer`).
//!
//! A delimited identifier does not say which scope it belongs to, so the rules are tried most
//! specific first, and two Flink facts break the ties: TaskManager and JobManager metrics of
//! their own live under `Status` (or are a single component), and a task and an operator
//! scope look the same, so only metrics Flink registers on tasks alone are taken as task
//! metrics. The output names are the ones Flink's Prometheus reporter gives the same metrics
//! (`flink_` + logical scope + metric), so the built-in rollups and existing dashboards fit.

use serde::Deserialize;

/// Built-in rules for Flink's default scope formats (`metrics.scope.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// All of the scopes below.
    FlinkDefaultScopes,
    /// `<host>.jobmanager`.
    FlinkJobmanager,
    /// `<host>.jobmanager.<job_name>`.
    FlinkJobmanagerJob,
    /// `<host>.jobmanager.<job_name>.<operator_name>` (operator coordinators).
    FlinkJobmanagerOperator,
    /// `<host>.taskmanager.<tm_id>`.
    FlinkTaskmanager,
    /// `<host>.taskmanager.<tm_id>.<job_name>`.
    FlinkTaskmanagerJob,
    /// `<host>.taskmanager.<tm_id>.<job_name>.<task_name>.<subtask_index>`.
    FlinkTask,
    /// `<host>.taskmanager.<tm_id>.<job_name>.<operator_name>.<subtask_index>`.
    FlinkOperator,
}

/// One scope format, in the order the presets try them (most specific first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scope {
    TaskManager,
    Task,
    Operator,
    TaskManagerJob,
    JobManager,
    JobManagerOperator,
    JobManagerJob,
}

impl Preset {
    pub(super) fn scopes(self) -> &'static [Scope] {
        match self {
            Preset::FlinkDefaultScopes => &[
                Scope::TaskManager,
                Scope::Task,
                Scope::Operator,
                Scope::TaskManagerJob,
                Scope::JobManager,
                Scope::JobManagerOperator,
                Scope::JobManagerJob,
            ],
            Preset::FlinkJobmanager => &[Scope::JobManager],
            Preset::FlinkJobmanagerJob => &[Scope::JobManagerJob],
            Preset::FlinkJobmanagerOperator => &[Scope::JobManagerOperator],
            Preset::FlinkTaskmanager => &[Scope::TaskManager],
            Preset::FlinkTaskmanagerJob => &[Scope::TaskManagerJob],
            Preset::FlinkTask => &[Scope::Task],
            Preset::FlinkOperator => &[Scope::Operator],
        }
    }
}

/// Metrics Flink registers on a task but not on its operators (from Flink 1.20 and 2.3
/// captures). Names that exist on both (`numRecordsIn`, `numBytesOut`, ...) are taken as
/// operator metrics: a delimited name cannot tell a task from an operator.
const TASK_ONLY_METRICS: &str = "accumulate(?:BackPressured|Busy|Idle)TimeMs\
    |(?:backPressured|busy|idle|changelogBusy|softBackPressured|hardBackPressured)TimeMsPerSecond\
    |checkpointAlignmentTime|checkpointStartDelayNanos|initializationTime|isBackPressured\
    |mailbox(?:LatencyMs|MailsPerSecond|QueueSize)|max(?:Soft|Hard)BackPressureTimeMs\
    |numBuffers(?:In(?:Local|Remote)?|Out)(?:PerSecond)?|numBytesIn(?:Local|Remote)(?:PerSecond)?\
    |numFiredTimers(?:PerSecond)?";

/// The regex and template of one scope's preset rule, for delimiter `d`.
///
/// Host names may hold the delimiter (an IP address), so `host` is everything before the
/// `taskmanager`/`jobmanager` component; a standalone `tm_id` is `<host>:<port>-<6 hex>` and
/// may hold it too. Every other variable is one component.
pub(super) fn scope_rule(scope: Scope, d: char) -> (String, &'static str) {
    let e = regex::escape(&d.to_string());
    let part = format!("[^{e}]+");
    let tm =
        format!(r"^(?P<host>.+?){e}taskmanager{e}(?P<tm_id>[^:]+:\d+[-_][0-9a-f]{{6}}|{part})");
    let jm = format!(r"^(?P<host>.+?){e}jobmanager");
    let job = format!("(?P<job_name>{part})");
    match scope {
        Scope::TaskManager => (
            format!("{tm}{e}(?P<metric>Status{e}.+|{part})$"),
            "flink_taskmanager_${metric}",
        ),
        Scope::Task => (
            format!(
                r"{tm}{e}{job}{e}(?P<task_name>{part}){e}(?P<subtask_index>\d+){e}(?P<metric>(?:Shuffle|buffers){e}.+|{TASK_ONLY_METRICS})$"
            ),
            "flink_taskmanager_job_task_${metric}",
        ),
        Scope::Operator => (
            format!(
                r"{tm}{e}{job}{e}(?P<operator_name>{part}){e}(?P<subtask_index>\d+){e}(?P<metric>.+)$"
            ),
            "flink_taskmanager_job_task_operator_${metric}",
        ),
        Scope::TaskManagerJob => (
            format!("{tm}{e}{job}{e}(?P<metric>.+)$"),
            "flink_taskmanager_job_${metric}",
        ),
        Scope::JobManager => (
            format!("{jm}{e}(?P<metric>Status{e}.+|{part})$"),
            "flink_jobmanager_${metric}",
        ),
        Scope::JobManagerOperator => (
            format!("{jm}{e}{job}{e}(?P<operator_name>{part}){e}(?P<metric>coordinator{e}.+)$"),
            "flink_jobmanager_job_operator_${metric}",
        ),
        Scope::JobManagerJob => (
            format!("{jm}{e}{job}{e}(?P<metric>.+)$"),
            "flink_jobmanager_job_${metric}",
        ),
    }
}
