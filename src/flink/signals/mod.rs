//! Derived Flink health signals: busy / back-pressure / idle ratios, back-pressure level,
//! bottleneck, true processing rate, suggested parallelism, source lag, cluster health.
//!
//! Owns: the per-subtask state taken from Flink pushes as they are applied ([`Signals::record`],
//! O(push): see [`ingest`]), its removal when groups go away, and the periodic evaluation per
//! job and vertex ([`Signals::evaluate`], see [`eval`]) whose latest result is exposed as
//! series and JSON ([`expose`]). The formulas and thresholds are Flink's own (web UI,
//! back-pressure handler, the Kubernetes operator's autoscaler); `../shared/FLINK-SIGNALS.md`
//! lists the sources, and the README's "Flink health signals" section the series.
//! Does not own: storage (the store keeps every pushed series as usual; signals only read
//! copies of a few values) or HTTP (see `server::api` and `server::scrape`).
//!
//! Data enters from `server::push` (the parsed families of each push, before the store takes
//! them, plus the push time) and from the evaluation timer (the store, to see which groups
//! still exist and when they last pushed, and `now`). It leaves as an [`Evaluation`], kept
//! until the next one.
//!
//! Time: ratios come from the accumulated-time counters (`Δbusy / (Δbusy + Δidle + Δbp)`),
//! so they need no clock; everything that does (staleness, lag trend, restarts in 10 min,
//! checkpoint age) takes the evaluation's `now`, which tests choose.

pub mod eval;
pub mod expose;
pub mod ingest;
pub mod scaling;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::grouping::GroupingKey;
use crate::store::group::{LabelSet, Str};
use crate::store::Store;

pub use eval::{Evaluation, Level};
use ingest::{ClusterSample, Extract, JobSample, SubtaskKey, TaskSample, TmSample};

/// Whether signals are computed (`--flink.signals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignalsMode {
    /// On, unless every Go-compatibility flag is set (`--flink.job-suffix=keep
    /// --flink.path-decoding=off --flink.rename=off`): then the gateway behaves as Go's does.
    Auto,
    /// Always on.
    On,
    /// Off: no state is kept, no series, `/api/v1/flink/jobs` answers an empty list.
    Off,
}

/// Signal settings; the autoscaler defaults unless set by flags.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalsConfig {
    /// Whether signals are computed at all.
    pub enabled: bool,
    /// Time between two evaluations.
    pub interval: Duration,
    /// Target utilisation of a vertex after scaling (autoscaler `utilization.target`).
    pub target_utilization: f64,
    /// Key groups (Flink's max parallelism) assumed for keyed vertices.
    pub key_groups: u32,
    /// Time in which a backlog should be caught up (autoscaler `catch-up.duration`), seconds.
    pub catch_up_seconds: f64,
    /// Expected restart time after rescaling (autoscaler `restart.time`), seconds.
    pub restart_seconds: f64,
    /// Consecutive evaluations a new bottleneck answer needs before it is shown.
    pub hysteresis: u32,
    /// Push interval assumed for groups that have not shown theirs yet, seconds.
    pub default_push_interval: f64,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        SignalsConfig {
            enabled: true,
            interval: Duration::from_secs(10),
            target_utilization: 0.7,
            key_groups: 128,
            catch_up_seconds: 1800.0,
            restart_seconds: 300.0,
            hysteresis: 3,
            default_push_interval: 10.0,
        }
    }
}

/// A push counts as stale (its subtasks drop out) after this many push intervals.
pub const STALE_AFTER_INTERVALS: f64 = 3.0;

/// Signal state shared by the push path, the evaluation timer and the readers.
#[derive(Debug)]
pub struct Signals {
    cfg: SignalsConfig,
    /// Held for the O(push) update of one push and for one evaluation (O(subtasks)); never
    /// across an await or a store call that could wait on a push.
    state: Mutex<State>,
    latest: Mutex<Arc<Evaluation>>,
}

/// What the pushes said, as last seen.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) groups: HashMap<GroupingKey, GroupEntry>,
    pub(crate) subtasks: HashMap<SubtaskKey, SubtaskState>,
    pub(crate) history: eval::History,
}

/// What one group (one Flink process) last pushed, besides its subtasks.
#[derive(Debug)]
pub(crate) struct GroupEntry {
    /// The grouping labels without the reporter id (the same for every process of a cluster).
    pub(crate) labels: LabelSet,
    pub(crate) subtasks: Vec<SubtaskKey>,
    pub(crate) tms: HashMap<Str, TmSample>,
    pub(crate) jobs: HashMap<Str, JobSample>,
    pub(crate) cluster: Option<ClusterSample>,
}

/// The last sample of one subtask and its ratios.
#[derive(Debug)]
pub(crate) struct SubtaskState {
    /// The group that pushed it last.
    pub(crate) group: GroupingKey,
    pub(crate) sample: TaskSample,
    /// Busy, idle and back-pressured shares of time, each in [0, 1].
    pub(crate) ratios: Option<[f64; 3]>,
}

impl Signals {
    /// Fresh state.
    #[must_use]
    pub fn new(cfg: SignalsConfig) -> Signals {
        Signals {
            cfg,
            state: Mutex::default(),
            latest: Mutex::new(Arc::new(Evaluation::default())),
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &SignalsConfig {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("signals lock is never poisoned: nothing panics while holding it")
    }

    /// Records what one successful push to `key` said. `reporter_label` is the label that
    /// holds Flink's reporter id (left out of the cluster labels); `replace` is `true` for PUT.
    /// A push with nothing the signals read, to a group they do not track, costs nothing more.
    pub fn record(&self, key: &GroupingKey, reporter_label: &str, push: Extract, replace: bool) {
        if !self.cfg.enabled {
            return;
        }
        let mut state = self.lock();
        if push.is_empty() && (!replace || !state.groups.contains_key(key)) {
            return;
        }
        let cluster_labels = cluster_labels(key, reporter_label);
        let State {
            groups, subtasks, ..
        } = &mut *state;
        let entry = groups.entry(key.clone()).or_insert_with(|| GroupEntry {
            labels: cluster_labels.clone(),
            subtasks: Vec::new(),
            tms: HashMap::new(),
            jobs: HashMap::new(),
            cluster: None,
        });
        entry.labels = cluster_labels;
        let mut keys: Vec<SubtaskKey> = push.tasks.keys().cloned().collect();
        for (k, sample) in push.tasks {
            update_subtask(subtasks, key, k, sample);
        }
        if replace {
            let kept: HashSet<&SubtaskKey> = keys.iter().collect();
            for gone in entry.subtasks.iter().filter(|k| !kept.contains(k)) {
                if subtasks.get(gone).is_some_and(|s| &s.group == key) {
                    subtasks.remove(gone);
                }
            }
            entry.tms = push.tms;
            entry.jobs = push.jobs;
            entry.cluster = push.cluster;
        } else {
            keys.append(&mut entry.subtasks);
            keys.sort_unstable();
            keys.dedup();
            entry.tms.extend(push.tms);
            entry.jobs.extend(push.jobs);
            entry.cluster = push.cluster.or(entry.cluster.take());
        }
        entry.subtasks = keys;
    }

    /// Forgets what `key` pushed (its group was deleted).
    pub fn forget(&self, key: &GroupingKey) {
        if !self.cfg.enabled {
            return;
        }
        let mut state = self.lock();
        forget_group(&mut state, key);
    }

    /// Evaluates every job at `now` (Unix seconds) against the groups `store` holds, keeps
    /// the result as the latest and returns it. State of groups the store no longer has is
    /// dropped here, whichever way they went (DELETE, expiry, wipe).
    pub fn evaluate(&self, store: &Store, now: f64) -> Arc<Evaluation> {
        if !self.cfg.enabled {
            return self.latest();
        }
        let keys: Vec<GroupingKey> = self.lock().groups.keys().cloned().collect();
        // Store lookups happen without our lock held: a push holds the store's lock first.
        let mut fresh = HashSet::new();
        let mut gone = Vec::new();
        for k in keys {
            match store.group(&k) {
                None => gone.push(k),
                Some(g) => {
                    let interval = g.times.interval.unwrap_or(self.cfg.default_push_interval);
                    if now - g.times.success <= STALE_AFTER_INTERVALS * interval {
                        fresh.insert(k);
                    }
                }
            }
        }
        let mut state = self.lock();
        for k in &gone {
            forget_group(&mut state, k);
        }
        let result = Arc::new(eval::evaluate(&mut state, &fresh, &self.cfg, now));
        drop(state);
        *self.latest.lock().expect("latest lock is never poisoned") = result.clone();
        result
    }

    /// The latest evaluation (empty before the first).
    #[must_use]
    pub fn latest(&self) -> Arc<Evaluation> {
        self.latest
            .lock()
            .expect("latest lock is never poisoned")
            .clone()
    }

    /// How many subtasks and groups are tracked (for tests and the bench).
    #[must_use]
    pub fn tracked(&self) -> (usize, usize) {
        let state = self.lock();
        (state.subtasks.len(), state.groups.len())
    }
}

fn forget_group(state: &mut State, key: &GroupingKey) {
    let Some(entry) = state.groups.remove(key) else {
        return;
    };
    for k in entry.subtasks {
        if state.subtasks.get(&k).is_some_and(|s| &s.group == key) {
            state.subtasks.remove(&k);
        }
    }
}

/// Takes one pushed subtask sample: an older attempt than the one known is ignored (a dead
/// TaskManager's last push), a newer one replaces it, the same one yields ratios from the
/// counter deltas since the previous push.
fn update_subtask(
    subtasks: &mut HashMap<SubtaskKey, SubtaskState>,
    group: &GroupingKey,
    key: SubtaskKey,
    sample: TaskSample,
) {
    match subtasks.get_mut(&key) {
        Some(st) if sample.attempt < st.sample.attempt => {}
        Some(st) if sample.attempt == st.sample.attempt => {
            let ratios = eval::ratios(Some(&st.sample.accumulated), &sample);
            st.ratios = ratios.or(st.ratios);
            st.sample = sample;
            if &st.group != group {
                st.group = group.clone();
            }
        }
        _ => {
            let ratios = eval::ratios(None, &sample);
            subtasks.insert(
                key,
                SubtaskState {
                    group: group.clone(),
                    sample,
                    ratios,
                },
            );
        }
    }
}

/// The grouping labels of `key` without `reporter_label`, interned as a label set.
#[must_use]
pub fn cluster_labels(key: &GroupingKey, reporter_label: &str) -> LabelSet {
    key.labels()
        .iter()
        .filter(|(n, _)| &**n != reporter_label)
        .cloned()
        .collect::<Vec<_>>()
        .into()
}

/// Evaluates every `interval` until `stop` flips.
pub async fn run(
    state: Arc<crate::server::AppState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = state.signals.config().interval;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        // O(subtasks): about 21 ms for 45,000 subtasks (benches/signals.rs), so off the async
        // workers.
        let st = state.clone();
        let work = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let result = st.signals.evaluate(&st.store, crate::store::now_seconds());
            (result.jobs.len(), started.elapsed())
        });
        match work.await {
            Ok((jobs, elapsed)) => tracing::debug!(
                jobs,
                elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                "flink signals evaluated"
            ),
            Err(e) => tracing::error!(error = %e, "flink signals evaluation failed"),
        }
    }
}
