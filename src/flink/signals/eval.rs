//! One evaluation of the Flink signals: from the last sample of every fresh subtask to an
//! [`Evaluation`] per job, vertex, cluster and TaskManager.
//!
//! Owns: the formulas (each cites its source in `../shared/FLINK-SIGNALS.md`): ratios from
//! the accumulated-time counters ([`ratios`]), Flink's back-pressure levels ([`Level`]), the
//! topology-free bottleneck rule with hysteresis, source lag, and the bounded history rings the
//! trends need ([`History`]); the parallelism formulas are `scaling`'s.
//! Does not own: collecting samples (see `ingest` and the parent) or exposing the result
//! (see `expose`).
//!
//! Cost: O(fresh subtasks + groups) per evaluation, independent of how many series the
//! store holds.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::ingest::{JobSample, SubtaskKey, BACKPRESSURED, BUSY, IDLE};
use super::{scaling, SignalsConfig, State, SubtaskState};
use crate::grouping::GroupingKey;
use crate::store::group::{LabelSet, Str};

/// Back-pressure level, with Flink's thresholds (`JobVertexBackPressureHandler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    /// Back-pressured at most 10 % of the time.
    #[default]
    Ok,
    /// More than 10 %, at most 50 %.
    Low,
    /// More than 50 %.
    High,
}

impl Level {
    /// The level of a back-pressured ratio in [0, 1].
    #[must_use]
    pub fn of(ratio: f64) -> Level {
        if ratio <= 0.10 {
            Level::Ok
        } else if ratio <= 0.5 {
            Level::Low
        } else {
            Level::High
        }
    }

    /// `OK`, `LOW` or `HIGH`, as Flink's REST API spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Low => "LOW",
            Level::High => "HIGH",
        }
    }

    /// 0, 1 or 2 (the series value).
    #[must_use]
    pub fn as_number(self) -> f64 {
        match self {
            Level::Ok => 0.0,
            Level::Low => 1.0,
            Level::High => 2.0,
        }
    }
}

/// Everything one evaluation found.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// When it ran (Unix seconds; 0 for "never").
    pub at: f64,
    /// Jobs by `job_id`.
    pub jobs: Vec<JobEval>,
    /// One per JobManager.
    pub clusters: Vec<ClusterEval>,
    /// One per TaskManager.
    pub task_managers: Vec<TmEval>,
}

/// One job.
#[derive(Debug)]
pub struct JobEval {
    /// Grouping labels of the cluster (`job` without the reporter id, grouping keys).
    pub labels: LabelSet,
    /// Flink's job id.
    pub job_id: Str,
    /// Flink's job name.
    pub job_name: Str,
    /// Vertices by `task_id`.
    pub vertices: Vec<VertexEval>,
    /// The highest vertex level.
    pub backpressure_level: Level,
    /// The bottleneck's `task_id`, when the job is back-pressured (stable, see `hysteresis`).
    pub bottleneck: Option<Str>,
    /// No vertex is busy enough to explain the back-pressure: network or an external system.
    pub network_suspected: bool,
    /// Restarts in the last 10 minutes (JobManager `numRestarts`).
    pub restarts_10m: Option<f64>,
    /// Seconds since the last completed checkpoint.
    pub checkpoint_age_seconds: Option<f64>,
    /// `numberOfFailedCheckpoints` (since the job started).
    pub failed_checkpoints: Option<f64>,
}

/// One vertex (`task_id`) of a job.
#[derive(Debug, Clone)]
pub struct VertexEval {
    /// Flink's vertex id.
    pub task_id: Str,
    /// The vertex name.
    pub task_name: Str,
    /// Fresh subtasks.
    pub parallelism: u32,
    /// Max busy ratio over subtasks (`None` when no subtask reports busy time).
    pub busy_ratio: Option<f64>,
    /// Mean busy ratio over subtasks.
    pub busy_ratio_avg: Option<f64>,
    /// Max back-pressured ratio over subtasks.
    pub backpressure_ratio: f64,
    /// Mean idle ratio over subtasks.
    pub idle_ratio_avg: Option<f64>,
    /// Flink's level of `backpressure_ratio`.
    pub backpressure_level: Level,
    /// Whether this is the job's bottleneck.
    pub bottleneck: bool,
    /// The subtask carrying the load, when one does (skew).
    pub hot_subtask: Option<u32>,
    /// Records/s into the vertex (sources: records read).
    pub input_rate: f64,
    /// Records/s the vertex could do at 100 % busy; `None` without load.
    pub true_processing_rate: Option<f64>,
    /// The autoscaler's parallelism for this vertex.
    pub suggested_parallelism: u32,
    /// The vertex is outside the autoscaler's utilisation band (it would act).
    pub outside_band: bool,
    /// Source lag, for source vertices.
    pub source: Option<SourceEval>,
}

/// Lag of one source vertex.
#[derive(Debug, Clone, Copy)]
pub struct SourceEval {
    /// Σ `pendingRecords`; `None` when the source does not report it (unknown, not 0).
    pub lag_records: Option<f64>,
    /// Records/s read.
    pub consume_rate: f64,
    /// `lag_records / consume_rate` (+Inf when stalled with lag).
    pub lag_seconds: Option<f64>,
    /// `d(lag_records)/dt` over the history window, records/s.
    pub lag_growth: Option<f64>,
    /// Seconds until caught up at the current trend (+Inf while growing).
    pub catch_up_seconds: Option<f64>,
}

/// One JobManager's view of the cluster.
#[derive(Debug)]
pub struct ClusterEval {
    /// Grouping labels of the cluster.
    pub labels: LabelSet,
    /// `taskSlotsTotal`.
    pub slots_total: f64,
    /// `taskSlotsTotal - taskSlotsAvailable`.
    pub slots_used: f64,
    /// `numRegisteredTaskManagers`.
    pub task_managers: Option<f64>,
}

/// One TaskManager process.
#[derive(Debug)]
pub struct TmEval {
    /// Grouping labels of the cluster.
    pub labels: LabelSet,
    /// Flink's `tm_id`.
    pub tm_id: Str,
    /// Heap used / max.
    pub heap_ratio: Option<f64>,
    /// GC time per second / 1000.
    pub gc_ratio: Option<f64>,
}

/// Points kept per vertex (at the default 10 s interval, 10 minutes).
pub const RING: usize = 64;
/// Window for busy averages and lag trends, seconds (the autoscaler uses 15 min; 5 keeps
/// advice responsive).
pub const WINDOW_SECONDS: f64 = 300.0;
/// Window for counting restarts, seconds.
pub const RESTART_WINDOW_SECONDS: f64 = 600.0;

/// Bounded per-vertex and per-job history between evaluations.
#[derive(Debug, Default)]
pub struct History {
    vertices: HashMap<(Str, Str), VecDeque<Point>>,
    jobs: HashMap<Str, JobHistory>,
}

#[derive(Debug, Clone, Copy)]
struct Point {
    at: f64,
    busy: Option<f64>,
    lag: Option<f64>,
}

#[derive(Debug, Default)]
struct JobHistory {
    shown: Option<Str>,
    #[allow(
        clippy::option_option,
        reason = "no answer pending, or a pending answer that may be \"no bottleneck\""
    )]
    pending: Option<Option<Str>>,
    streak: u32,
    restarts: VecDeque<(f64, f64)>,
    checkpoint: Option<(f64, f64)>,
}

/// Busy, idle and back-pressured shares of a subtask's time.
///
/// From the accumulated-time counters: since `previous` (same attempt) or, for the first
/// push of an attempt, since it started (the counters start at 0). The shares are taken of
/// the three deltas' sum, which is the elapsed time (docs: they "add up to approximately
/// 1000 ms" per second), so no clock is needed. Falls back to the `*TimeMsPerSecond` gauges
/// when the counters are missing; those read busy = 1000 for ~10 s after a task starts, the
/// artefact the counters avoid. `None` when neither gives a value (or no time passed).
#[must_use]
pub fn ratios(
    previous: Option<&[Option<f64>; 3]>,
    sample: &super::ingest::TaskSample,
) -> Option<[f64; 3]> {
    let acc = sample.accumulated;
    if let (Some(_), Some(_)) = (acc[BUSY], acc[IDLE]) {
        let mut d = [0.0; 3];
        for (i, slot) in d.iter_mut().enumerate() {
            let base = previous.and_then(|p| p[i]).unwrap_or(0.0);
            *slot = (acc[i].unwrap_or(0.0) - base).max(0.0);
        }
        let total: f64 = d.iter().sum();
        if total >= 1.0 {
            return Some(d.map(|x| (x / total).clamp(0.0, 1.0)));
        }
        if previous.is_some() {
            return None;
        }
    }
    let g = sample.per_second;
    let busy = g[BUSY]?;
    Some(
        [
            busy,
            g[IDLE].unwrap_or(0.0),
            g[BACKPRESSURED].unwrap_or(0.0),
        ]
        .map(|x| (x / 1000.0).clamp(0.0, 1.0)),
    )
}

/// The fresh subtasks of one job, by vertex.
struct JobInput<'a> {
    labels: LabelSet,
    job_name: Str,
    vertices: BTreeMap<Str, Vec<(&'a SubtaskKey, &'a SubtaskState)>>,
    jm: Option<&'a JobSample>,
}

/// Evaluates `state` at `now`, counting only subtasks last pushed by a group in `fresh`.
pub(crate) fn evaluate(
    state: &mut State,
    fresh: &HashSet<GroupingKey>,
    cfg: &SignalsConfig,
    now: f64,
) -> Evaluation {
    let State {
        groups,
        subtasks,
        history,
    } = state;
    let mut inputs: BTreeMap<Str, JobInput<'_>> = BTreeMap::new();
    for (k, st) in subtasks.iter().filter(|(_, st)| fresh.contains(&st.group)) {
        let labels = groups.get(&st.group).map(|g| g.labels.clone());
        let job = inputs.entry(k.job_id.clone()).or_insert_with(|| JobInput {
            labels: labels.unwrap_or_else(|| Vec::new().into()),
            job_name: st.sample.job_name.clone(),
            vertices: BTreeMap::new(),
            jm: None,
        });
        job.vertices
            .entry(k.task_id.clone())
            .or_default()
            .push((k, st));
    }
    let mut out = Evaluation {
        at: now,
        ..Evaluation::default()
    };
    for (key, g) in groups.iter().filter(|(k, _)| fresh.contains(*k)) {
        for (id, sample) in &g.jobs {
            let job = inputs.entry(id.clone()).or_insert_with(|| JobInput {
                labels: g.labels.clone(),
                job_name: sample.job_name.clone(),
                vertices: BTreeMap::new(),
                jm: None,
            });
            job.jm = Some(sample);
        }
        cluster_and_tms(&mut out, g, key);
    }
    let mut seen_vertices = HashSet::new();
    for (job_id, input) in inputs {
        let job = evaluate_job(history, cfg, now, &job_id, input, &mut seen_vertices);
        out.jobs.push(job);
    }
    let seen_jobs: HashSet<&Str> = out.jobs.iter().map(|j| &j.job_id).collect();
    history.jobs.retain(|id, _| seen_jobs.contains(id));
    history.vertices.retain(|k, _| seen_vertices.contains(k));
    out
}

fn cluster_and_tms(out: &mut Evaluation, g: &super::GroupEntry, _key: &GroupingKey) {
    if let Some(c) = &g.cluster {
        if let Some(total) = c.slots_total {
            out.clusters.push(ClusterEval {
                labels: g.labels.clone(),
                slots_total: total,
                slots_used: (total - c.slots_available.unwrap_or(total)).max(0.0),
                task_managers: c.task_managers,
            });
        }
    }
    for (tm_id, s) in &g.tms {
        let heap_ratio = match (s.heap_used, s.heap_max) {
            (Some(u), Some(m)) if m > 0.0 => Some(u / m),
            _ => None,
        };
        out.task_managers.push(TmEval {
            labels: g.labels.clone(),
            tm_id: tm_id.clone(),
            heap_ratio,
            gc_ratio: s.gc_ms_per_second.map(|v| v / 1000.0),
        });
    }
}

fn evaluate_job(
    history: &mut History,
    cfg: &SignalsConfig,
    now: f64,
    job_id: &Str,
    input: JobInput<'_>,
    seen: &mut HashSet<(Str, Str)>,
) -> JobEval {
    let mut vertices: Vec<(VertexEval, Option<f64>)> = input
        .vertices
        .iter()
        .map(|(task_id, subs)| {
            let key = (job_id.clone(), task_id.clone());
            let ring = history.vertices.entry(key.clone()).or_default();
            seen.insert(key);
            vertex(task_id, subs, ring, now)
        })
        .collect();
    let demand = scaling::Demand::of(&vertices, cfg);
    for (v, busy_mean) in &mut vertices {
        scaling::suggest(v, *busy_mean, &demand, cfg);
    }
    let mut vertices: Vec<VertexEval> = vertices.into_iter().map(|(v, _)| v).collect();
    let jh = history.jobs.entry(job_id.clone()).or_default();
    let level = vertices
        .iter()
        .map(|v| v.backpressure_level)
        .max()
        .unwrap_or_default();
    let (candidate, network_suspected) = bottleneck_candidate(&vertices, level);
    let shown = jh.settle(candidate, &vertices, cfg.hysteresis);
    for v in &mut vertices {
        v.bottleneck = shown.as_ref() == Some(&v.task_id);
    }
    let (restarts_10m, checkpoint_age_seconds) = jh.job_manager(input.jm, now);
    JobEval {
        labels: input.labels,
        job_id: job_id.clone(),
        job_name: input.jm.map_or(input.job_name, |j| j.job_name.clone()),
        vertices,
        backpressure_level: level,
        bottleneck: shown,
        network_suspected,
        restarts_10m,
        checkpoint_age_seconds,
        failed_checkpoints: input.jm.and_then(|j| j.failed_checkpoints),
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "subtask counts are far below 2^52"
)]
fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

/// The vertex now, plus its window mean of max busy (the autoscaler's LOAD).
fn vertex(
    task_id: &Str,
    subs: &[(&SubtaskKey, &SubtaskState)],
    ring: &mut VecDeque<Point>,
    now: f64,
) -> (VertexEval, Option<f64>) {
    let ratio = |i: usize| -> Vec<f64> {
        subs.iter()
            .filter_map(|(_, s)| Some(s.ratios?[i]))
            .collect()
    };
    let (busy, idle, bp) = (ratio(BUSY), ratio(IDLE), ratio(BACKPRESSURED));
    let source = subs.iter().any(|(_, s)| s.sample.source);
    let rates: Vec<f64> = subs
        .iter()
        .map(|(_, s)| input_rate(&s.sample, source))
        .collect();
    let input_rate: f64 = rates.iter().sum();
    let pending: Vec<f64> = subs.iter().filter_map(|(_, s)| s.sample.pending).collect();
    let lag = (!pending.is_empty()).then(|| pending.iter().sum::<f64>());
    let busy_max = max(&busy);
    push_point(
        ring,
        Point {
            at: now,
            busy: busy_max,
            lag,
        },
    );
    let window: Vec<&Point> = ring
        .iter()
        .filter(|p| p.at >= now - WINDOW_SECONDS)
        .collect();
    let busy_mean = mean(&window.iter().filter_map(|p| p.busy).collect::<Vec<_>>());
    let bp_max = max(&bp).unwrap_or(0.0);
    let v = VertexEval {
        task_id: task_id.clone(),
        task_name: subs[0].1.sample.task_name.clone(),
        parallelism: u32::try_from(subs.len()).unwrap_or(u32::MAX),
        busy_ratio: busy_max,
        busy_ratio_avg: mean(&busy),
        backpressure_ratio: bp_max,
        idle_ratio_avg: mean(&idle),
        backpressure_level: Level::of(bp_max),
        bottleneck: false,
        hot_subtask: hot_subtask(subs, &busy, &rates),
        input_rate,
        true_processing_rate: None,
        suggested_parallelism: 0,
        outside_band: false,
        source: source.then(|| source_lag(lag, input_rate, &window, now)),
    };
    (v, busy_mean)
}

fn push_point(ring: &mut VecDeque<Point>, p: Point) {
    if ring.len() == RING {
        ring.pop_front();
    }
    ring.push_back(p);
}

/// Records/s in: task `numRecordsInPerSecond`, or for sources (whose task-level input is 0)
/// the chain head's records in, else out (autoscaler `getNumRecordsInInternal`).
fn input_rate(s: &super::ingest::TaskSample, source: bool) -> f64 {
    if source {
        match (s.head_in, s.head_out) {
            (Some(i), _) if i > 0.0 => i,
            (_, Some(o)) => o,
            _ => s.records_out.unwrap_or(0.0),
        }
    } else {
        s.records_in.unwrap_or(0.0)
    }
}

/// The subtask carrying the load: max busy more than 0.3 above the mean, or a records-in
/// skew (Flink's `DoubleDataSkew`) above 50 %.
fn hot_subtask(subs: &[(&SubtaskKey, &SubtaskState)], busy: &[f64], rates: &[f64]) -> Option<u32> {
    if subs.len() < 2 {
        return None;
    }
    let (Some(bmax), Some(bavg)) = (max(busy), mean(busy)) else {
        return None;
    };
    let skew = mean(rates).filter(|a| *a > 0.0).map_or(0.0, |avg| {
        let dev = mean(&rates.iter().map(|r| (r - avg).abs()).collect::<Vec<_>>()).unwrap_or(0.0);
        (dev / avg * 100.0).min(100.0)
    });
    if bmax - bavg <= 0.3 && skew <= 50.0 {
        return None;
    }
    subs.iter()
        .filter_map(|(k, s)| Some((k.subtask, s.ratios?[BUSY])))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

fn source_lag(lag: Option<f64>, rate: f64, window: &[&Point], now: f64) -> SourceEval {
    let lag_seconds = lag.map(|l| {
        if l <= 0.0 {
            0.0
        } else if rate > 0.0 {
            l / rate
        } else {
            f64::INFINITY
        }
    });
    let oldest = window.iter().find(|p| p.lag.is_some());
    let lag_growth = match (lag, oldest) {
        (Some(l), Some(p)) if now - p.at >= 1.0 => Some((l - p.lag.unwrap_or(l)) / (now - p.at)),
        _ => None,
    };
    let catch_up_seconds = match (lag, lag_growth) {
        (Some(l), _) if l <= 0.0 => Some(0.0),
        (Some(l), Some(g)) if g < 0.0 => Some(l / -g),
        (Some(_), Some(_)) => Some(f64::INFINITY),
        _ => None,
    };
    SourceEval {
        lag_records: lag,
        consume_rate: rate,
        lag_seconds,
        lag_growth,
        catch_up_seconds,
    }
}

/// The bottleneck this evaluation would name: the busiest vertex that is not back-pressured
/// itself, while any vertex is (FLINK-SIGNALS.md §2); and whether none is busy enough
/// (< 0.5) to explain it.
fn bottleneck_candidate(vertices: &[VertexEval], level: Level) -> (Option<Str>, bool) {
    if level == Level::Ok {
        return (None, false);
    }
    let best = vertices
        .iter()
        .filter(|v| v.backpressure_ratio <= 0.10)
        .filter_map(|v| Some((v, v.busy_ratio?, v.busy_ratio_avg.unwrap_or(0.0))))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)));
    match best {
        Some((v, busy, _)) => (Some(v.task_id.clone()), busy < 0.5),
        None => (None, true),
    }
}

impl JobHistory {
    /// The bottleneck to show: a new answer (another vertex, or none) replaces the shown
    /// one only after `needed` consecutive evaluations agree on it, so windows firing now
    /// and then do not make it flap. A vertex that left the job is dropped at once.
    fn settle(
        &mut self,
        candidate: Option<Str>,
        vertices: &[VertexEval],
        needed: u32,
    ) -> Option<Str> {
        if self
            .shown
            .as_ref()
            .is_some_and(|s| !vertices.iter().any(|v| &v.task_id == s))
        {
            self.shown = None;
        }
        if candidate == self.shown {
            self.pending = None;
            self.streak = 0;
        } else if self.pending.as_ref() == Some(&candidate) {
            self.streak += 1;
        } else {
            self.pending = Some(candidate);
            self.streak = 1;
        }
        if self.streak >= needed.max(1) {
            self.shown = self.pending.take().flatten();
            self.streak = 0;
        }
        self.shown.clone()
    }

    /// Restarts in the last 10 minutes and the checkpoint age, from the JobManager's push.
    fn job_manager(&mut self, jm: Option<&JobSample>, now: f64) -> (Option<f64>, Option<f64>) {
        let Some(jm) = jm else {
            return (None, None);
        };
        let restarts = jm.restarts.map(|r| {
            self.restarts
                .retain(|(at, _)| *at >= now - RESTART_WINDOW_SECONDS);
            if self.restarts.len() == RING {
                self.restarts.pop_front();
            }
            self.restarts.push_back((now, r));
            let first = self.restarts.front().map_or(r, |(_, v)| *v);
            (r - first).max(0.0)
        });
        let age = match (jm.checkpoint_completed_ms, jm.checkpoint_id) {
            (Some(ms), _) if ms > 0.0 => Some((now - ms / 1000.0).max(0.0)),
            (_, Some(id)) if id > 0.0 => {
                let changed = match self.checkpoint {
                    Some((last, at)) if (last - id).abs() < 0.5 => at,
                    _ => now,
                };
                self.checkpoint = Some((id, changed));
                Some(now - changed)
            }
            _ => None,
        };
        (restarts, age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_use_flinks_thresholds() {
        for (r, want) in [
            (0.0, Level::Ok),
            (0.10, Level::Ok),
            (0.11, Level::Low),
            (0.5, Level::Low),
            (0.51, Level::High),
        ] {
            assert_eq!(Level::of(r), want, "{r}");
        }
    }

    #[test]
    fn restarts_count_only_the_last_ten_minutes() {
        let mut h = JobHistory::default();
        let jm = |r: f64| JobSample {
            restarts: Some(r),
            ..JobSample::default()
        };
        assert_eq!(h.job_manager(Some(&jm(2.0)), 0.0).0, Some(0.0));
        assert_eq!(h.job_manager(Some(&jm(3.0)), 300.0).0, Some(1.0));
        // At 700 s the sample at 0 s has left the window: 5 - 3.
        assert_eq!(h.job_manager(Some(&jm(5.0)), 700.0).0, Some(2.0));
    }
}
