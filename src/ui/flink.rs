//! The Flink view: clusters, their JobManager and TaskManagers, and their jobs' record rates,
//! back-pressure and Kafka lag.
//!
//! Owns: telling Flink groups apart ([`role`]: a JobManager pushes `flink_jobmanager_*`, a
//! TaskManager `flink_taskmanager_*`; a group with the reporter id but neither is a plain
//! reporter), grouping them into clusters (the grouping key without the reporter id, so a
//! cluster's processes and their restarts line up), and `?view=flink` (`page` of clusters).
//! Does not own: the rollup rules, or the health signals (each job's health panel is
//! `health`'s). Per job, the view evaluates the built-in Flink rollups of
//! [`crate::aggregate`] over the cluster's own groups only (so two clusters reporting the same
//! job name do not mix); per process it reads a few well-known families directly.
//!
//! Bounded: [`CLUSTERS_PER_PAGE`] clusters a page, [`MAX_PROCESSES`] processes and
//! [`MAX_ROWS`] operator or task rows per cluster, each cut noted on the page.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use super::html::{self, esc, label_badge};
use super::query::{encode, Query};
use super::{
    actions, expiry_cell, pager, row_open, series_and_push_cells, usize_f64, Ctx, UiError,
};
use crate::aggregate::{AggregateSpec, Aggregator};
use crate::model::Value;
use crate::store::group::{Group, StoredFamily, Str};
use crate::store::Snapshot;

/// Clusters per page.
pub const CLUSTERS_PER_PAGE: usize = 10;
/// Processes listed per cluster.
pub const MAX_PROCESSES: usize = 100;
/// Operator and task rows listed per job.
pub const MAX_ROWS: usize = 100;

/// What a Flink group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Pushes `flink_jobmanager_*`.
    JobManager,
    /// Pushes `flink_taskmanager_*`.
    TaskManager,
    /// Carries the reporter id, but neither of the above.
    Reporter,
}

impl Role {
    /// The badge text.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::JobManager => "JobManager",
            Role::TaskManager => "TaskManager",
            Role::Reporter => "Flink reporter",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Role::JobManager => "flink_jobmanager_",
            _ => "flink_taskmanager_",
        }
    }
}

/// The role of `g`, or `None` when it is not a Flink group.
#[must_use]
pub fn role(g: &Group, ctx: &Ctx<'_>) -> Option<Role> {
    if has_prefix(g, Role::JobManager.prefix()) {
        Some(Role::JobManager)
    } else if has_prefix(g, Role::TaskManager.prefix()) {
        Some(Role::TaskManager)
    } else {
        ctx.reporter(g).then_some(Role::Reporter)
    }
}

fn has_prefix(g: &Group, prefix: &str) -> bool {
    g.families
        .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .next()
        .is_some_and(|(n, _)| n.starts_with(prefix))
}

/// The grouping key without the reporter id; with `--flink.job-suffix=keep` the job also
/// loses its 32-hex suffix.
fn cluster_key(g: &Group, ctx: &Ctx<'_>) -> Vec<(Str, Str)> {
    let cfg = &ctx.state.config.flink;
    g.key
        .labels()
        .iter()
        .filter(|(n, _)| **n != *cfg.reporter_id_label)
        .map(|(n, v)| match crate::flink::suffix::split_job(v) {
            Some((name, _)) if &**n == "job" => {
                let name = if name.is_empty() {
                    cfg.empty_job_name.as_str()
                } else {
                    name
                };
                (n.clone(), Str::from(name))
            }
            _ => (n.clone(), v.clone()),
        })
        .collect()
}

type Clusters = BTreeMap<Vec<(Str, Str)>, Vec<(Role, Arc<Group>)>>;

/// `?view=flink`. Returns the title.
pub fn page(
    ctx: &Ctx<'_>,
    snapshot: &Snapshot,
    q: &Query,
    out: &mut String,
) -> Result<String, UiError> {
    let page = q.number("page", 1, 1, usize::MAX / CLUSTERS_PER_PAGE)?;
    let mut clusters = Clusters::new();
    for g in &snapshot.groups {
        if let Some(r) = role(g, ctx) {
            clusters
                .entry(cluster_key(g, ctx))
                .or_default()
                .push((r, g.clone()));
        }
    }
    if clusters.is_empty() {
        out.push_str(
            "<p class=\"empty\">No Flink groups. Point Flink's PrometheusPushGatewayReporter at this \
             gateway; its JobManager and TaskManagers show up here.</p>",
        );
        return Ok("Flink".to_owned());
    }
    let count = |want: Role| {
        clusters
            .values()
            .flatten()
            .filter(|(r, _)| *r == want)
            .count()
    };
    let _ = write!(
        out,
        "<p class=\"count\"><b>{}</b> Flink clusters · <b>{}</b> JobManagers · <b>{}</b> TaskManagers. \
         Rates are the latest pushed values; a cluster is one grouping key without the reporter id.</p>",
        clusters.len(),
        count(Role::JobManager),
        count(Role::TaskManager),
    );
    let pages = clusters.len().div_ceil(CLUSTERS_PER_PAGE);
    for (key, mut procs) in clusters
        .into_iter()
        .skip((page - 1) * CLUSTERS_PER_PAGE)
        .take(CLUSTERS_PER_PAGE)
    {
        procs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key.cmp(&b.1.key)));
        cluster(out, ctx, &key, &procs);
    }
    pager(out, "view=flink&", page, pages);
    Ok("Flink".to_owned())
}

fn cluster(out: &mut String, ctx: &Ctx<'_>, key: &[(Str, Str)], procs: &[(Role, Arc<Group>)]) {
    out.push_str("<section class=\"cluster\"><h2 class=\"labels\">");
    for (n, v) in key {
        label_badge(out, n, v, if &**n == "job" { "job" } else { "" });
        out.push(' ');
    }
    let series: usize = procs.iter().map(|(_, g)| g.series_count()).sum();
    let job = key
        .iter()
        .find(|(n, _)| &**n == "job")
        .map_or("", |(_, v)| &**v);
    let _ = write!(
        out,
        "</h2><p class=\"muted\">{} processes · {} series · <a href=\"./?q=",
        procs.len(),
        html::number(usize_f64(series))
    );
    let mut filter = String::new();
    encode(&mut filter, &format!("job=\"{job}\""));
    esc(out, &filter);
    out.push_str("\">show these groups</a></p>");
    processes(out, ctx, procs);
    super::health::panels(out, ctx, key);
    jobs(out, procs);
    out.push_str("</section>\n");
}

fn processes(out: &mut String, ctx: &Ctx<'_>, procs: &[(Role, Arc<Group>)]) {
    out.push_str(
        "<table class=\"procs\"><thead><tr><th>Process</th><th>Host</th><th class=\"num\">Series</th>\
         <th>Last push</th><th>Expires</th><th class=\"num\">CPU</th><th class=\"num\">Heap</th>\
         <th class=\"num\" title=\"worst task, ms per second\">Busy max</th>\
         <th class=\"num\" title=\"worst task, ms per second\">Back-pressured max</th><th></th></tr></thead><tbody>",
    );
    let id_label = ctx.state.config.flink.reporter_id_label.as_str();
    for (r, g) in procs.iter().take(MAX_PROCESSES) {
        row_open(out, g, "group proc");
        let _ = write!(out, "<td><span class=\"role\">{}</span>", r.as_str());
        if let Some(id) = g.key.get(id_label) {
            out.push_str(" <code class=\"rid\" title=\"");
            esc(out, id_label);
            out.push('=');
            esc(out, id);
            out.push_str("\">");
            esc(out, id.get(..8).unwrap_or(id));
            out.push_str("…</code>");
        }
        out.push_str("</td><td>");
        let p = r.prefix();
        let cpu_family = format!("{p}Status_JVM_CPU_Load");
        let host = label_of(g, &cpu_family, "tm_id").or_else(|| label_of(g, &cpu_family, "host"));
        esc(out, host.unwrap_or("–"));
        out.push_str("</td>");
        series_and_push_cells(out, ctx, g);
        expiry_cell(out, ctx, g);
        let cpu = max_of(g, &cpu_family).map(|v| v * 100.0);
        let heap = max_of(g, &format!("{p}Status_JVM_Memory_Heap_Used"))
            .zip(max_of(g, &format!("{p}Status_JVM_Memory_Heap_Max")))
            .filter(|(_, max)| *max > 0.0)
            .map(|(used, max)| used / max * 100.0);
        percent_cell(out, cpu);
        percent_cell(out, heap);
        busy_cell(
            out,
            max_of(g, "flink_taskmanager_job_task_busyTimeMsPerSecond"),
        );
        pressure_cell(
            out,
            max_of(g, "flink_taskmanager_job_task_backPressuredTimeMsPerSecond"),
        );
        actions(out, g);
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>");
    if procs.len() > MAX_PROCESSES {
        let _ = write!(
            out,
            "<p class=\"capped\">{} more processes not listed; see them in the groups view.</p>",
            procs.len() - MAX_PROCESSES
        );
    }
}

fn percent_cell(out: &mut String, v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() => {
            let _ = write!(out, "<td class=\"num\">{v:.0}%</td>");
        }
        _ => out.push_str("<td class=\"num muted\">–</td>"),
    }
}

/// Busy time in milliseconds per second (1000: the task never waits, a bottleneck).
fn busy_cell(out: &mut String, v: Option<f64>) {
    ms_per_second_cell(out, v, (800.0, f64::INFINITY));
}

/// Back-pressured time in milliseconds per second (anything high slows the job down).
fn pressure_cell(out: &mut String, v: Option<f64>) {
    ms_per_second_cell(out, v, (100.0, 500.0));
}

/// `v` ms/s, marked as a warning from `at.0` and as bad from `at.1`.
fn ms_per_second_cell(out: &mut String, v: Option<f64>, at: (f64, f64)) {
    match v {
        Some(v) if v.is_finite() => {
            let class = if v >= at.1 {
                " bad"
            } else if v >= at.0 {
                " warn"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<td class=\"num{class}\">{} ms/s</td>",
                html::number(v.round())
            );
        }
        _ => out.push_str("<td class=\"num muted\">–</td>"),
    }
}

/// What the view shows about one Flink job of a cluster.
#[derive(Default)]
struct Job {
    /// Operator -> (records in/s, records out/s), summed over subtasks.
    operators: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Task -> (busy max, back-pressured max), ms per second.
    tasks: BTreeMap<String, (Option<f64>, Option<f64>)>,
    kafka_lag: Option<f64>,
    /// From the JobManager: uptime (ms), restarts, completed and failed checkpoints.
    uptime_ms: Option<f64>,
    restarts: Option<f64>,
    checkpoints: (Option<f64>, Option<f64>),
}

fn defaults() -> &'static Aggregator {
    static DEFAULTS: OnceLock<Aggregator> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        Aggregator::new(&AggregateSpec::default()).expect("the built-in Flink rollups compile")
    })
}

/// The cluster's jobs from the built-in rollups over its own groups, plus the JobManager's
/// job metrics.
fn collect_jobs(procs: &[(Role, Arc<Group>)]) -> BTreeMap<String, Job> {
    let snapshot = Snapshot {
        generation: 0,
        groups: procs.iter().map(|(_, g)| g.clone()).collect(),
    };
    let mut jobs: BTreeMap<String, Job> = BTreeMap::new();
    for f in defaults().evaluate(&snapshot) {
        for s in &f.series {
            let Value::Scalar(v) = s.value else { continue };
            let get = |name: &str| {
                s.labels
                    .iter()
                    .find(|(n, _)| &**n == name)
                    .map_or(String::new(), |(_, v)| v.to_string())
            };
            let job = jobs.entry(get("job_name")).or_default();
            match &*f.name {
                "flink_job_operator_records_in_per_second" => {
                    job.operators.entry(get("operator_name")).or_default().0 = Some(v);
                }
                "flink_job_operator_records_out_per_second" => {
                    job.operators.entry(get("operator_name")).or_default().1 = Some(v);
                }
                "flink_job_task_busy_time_ms_per_second_max" => {
                    job.tasks.entry(get("task_name")).or_default().0 = Some(v);
                }
                "flink_job_task_back_pressured_time_ms_per_second_max" => {
                    job.tasks.entry(get("task_name")).or_default().1 = Some(v);
                }
                "flink_job_kafka_records_lag_max" => job.kafka_lag = Some(v),
                _ => {}
            }
        }
    }
    for (_, g) in procs.iter().filter(|(r, _)| *r == Role::JobManager) {
        let mut per_job = |family: &str, set: fn(&mut Job, f64)| {
            let Some(f) = g.families.get(family) else {
                return;
            };
            for s in &f.series {
                if let (Value::Scalar(v), Some((_, name))) =
                    (&s.value, s.labels.iter().find(|(n, _)| &**n == "job_name"))
                {
                    set(jobs.entry(name.to_string()).or_default(), *v);
                }
            }
        };
        per_job("flink_jobmanager_job_uptime", |j, v| j.uptime_ms = Some(v));
        per_job("flink_jobmanager_job_numRestarts", |j, v| {
            j.restarts = Some(v);
        });
        per_job(
            "flink_jobmanager_job_numberOfCompletedCheckpoints",
            |j, v| {
                j.checkpoints.0 = Some(v);
            },
        );
        per_job("flink_jobmanager_job_numberOfFailedCheckpoints", |j, v| {
            j.checkpoints.1 = Some(v);
        });
    }
    jobs
}

fn jobs(out: &mut String, procs: &[(Role, Arc<Group>)]) {
    let jobs = collect_jobs(procs);
    if jobs.is_empty() {
        out.push_str("<p class=\"muted\">No running Flink job reported.</p>");
        return;
    }
    for (name, job) in &jobs {
        out.push_str("<div class=\"fjob\"><h3>Job <span class=\"jobname\">");
        esc(
            out,
            if name.is_empty() {
                "(no job_name)"
            } else {
                name
            },
        );
        out.push_str("</span></h3><p class=\"facts\">");
        let _ = write!(
            out,
            "uptime <b>{}</b> · restarts <b>{}</b> · checkpoints <b>{}</b> completed, <b>{}</b> failed · Kafka lag max <b class=\"lag\">{}</b></p>",
            job.uptime_ms.map_or("–".to_owned(), |ms| html::duration(ms / 1000.0)),
            opt(job.restarts),
            opt(job.checkpoints.0),
            opt(job.checkpoints.1),
            opt(job.kafka_lag),
        );
        out.push_str("<div class=\"pair\">");
        let rate = |out: &mut String, v: Option<f64>| {
            let _ = write!(out, "<td class=\"num\">{}</td>", opt(v.map(round3)));
        };
        rows_table(
            out,
            ["Operator", "Records in/s", "Records out/s"],
            &job.operators,
            [rate, rate],
        );
        rows_table(
            out,
            ["Task", "Busy max", "Back-pressured max"],
            &job.tasks,
            [busy_cell, pressure_cell],
        );
        out.push_str("</div></div>");
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), html::number)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn rows_table(
    out: &mut String,
    head: [&str; 3],
    rows: &BTreeMap<String, (Option<f64>, Option<f64>)>,
    cells: [fn(&mut String, Option<f64>); 2],
) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<table class=\"rates\"><thead><tr><th>{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th></tr></thead><tbody>",
        head[0], head[1], head[2]
    );
    for (name, (a, b)) in rows.iter().take(MAX_ROWS) {
        out.push_str("<tr><td class=\"opname\">");
        esc(out, name);
        out.push_str("</td>");
        cells[0](out, *a);
        cells[1](out, *b);
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if rows.len() > MAX_ROWS {
        let _ = write!(
            out,
            "<p class=\"capped\">{} more rows not shown.</p>",
            rows.len() - MAX_ROWS
        );
    }
}

fn scalars(f: &StoredFamily) -> impl Iterator<Item = f64> + '_ {
    f.series.iter().filter_map(|s| match s.value {
        Value::Scalar(v) if !v.is_nan() => Some(v),
        _ => None,
    })
}

/// The largest value of family `name` in `g`.
fn max_of(g: &Group, name: &str) -> Option<f64> {
    g.families
        .get(name)
        .and_then(|f| scalars(f).reduce(f64::max))
}

/// The value of `label` on the first series of family `name` in `g`.
fn label_of<'g>(g: &'g Group, name: &str, label: &str) -> Option<&'g str> {
    g.families
        .get(name)?
        .series
        .first()?
        .labels
        .iter()
        .find(|(n, _)| &**n == label)
        .map(|(_, v)| &**v)
}
