//! Producing the load: preload, pushers, scrapers, the progress ticker, and cleanup.
//!
//! Owns: the schedule (every process on its interval with jitter; or N connections as fast as
//! possible or at a fixed total rate, rotating over the groups), body choice (pre-rendered
//! variants, or rendered at push time), and the bounds (deadline, request budget).
//! Does not own: the metric sets (see `model`) or the HTTP details (see `http`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, Uri};
use tokio::time::Instant;

use crate::http::{self, HttpClient, ScrapeFormat};
use crate::model::Process;
use crate::stats::{Mark, Progress, Stats};

/// How pushes are scheduled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Every group pushes every interval (first push at a random offset), +- jitter.
    Interval { every: Duration, jitter: f64 },
    /// `connections` pushers, back to back (`per_second: None`) or at a total rate.
    Rate { per_second: Option<f64> },
    /// No pushes (scrape-only runs).
    Off,
}

/// One grouping key: a simulated process and its push URL.
#[derive(Debug)]
pub struct Group {
    pub uri: Uri,
    pub process: Mutex<Process>,
    /// Pre-rendered bodies with their sample counts, used in turn; empty: render at push time.
    pub bodies: Vec<(Bytes, usize)>,
    pushes: AtomicU64,
    /// When the preload pushed this group: interval mode keeps the phase from there, as a
    /// Flink reporter pushes one interval after the previous push.
    preloaded_at: Mutex<Option<Instant>>,
}

impl Group {
    pub fn new(uri: Uri, process: Process) -> Self {
        Self {
            uri,
            process: Mutex::new(process),
            bodies: Vec::new(),
            pushes: AtomicU64::new(0),
            preloaded_at: Mutex::new(None),
        }
    }

    /// Renders `variants` bodies, moving the values between each.
    pub fn prerender(&mut self, variants: usize) {
        let process = self.process.get_mut().expect("process lock never poisoned");
        self.bodies = (0..variants)
            .map(|_| {
                process.tick();
                let mut body = Vec::with_capacity(process.series() * 480);
                process.render(&mut body);
                (Bytes::from(body), process.series())
            })
            .collect();
    }

    /// The next body to push: the next variant, or a fresh render with moved values.
    pub fn next_body(&self) -> (Bytes, usize) {
        let n = self.pushes.fetch_add(1, Ordering::Relaxed);
        if self.bodies.is_empty() {
            let mut process = self.process.lock().expect("process lock never poisoned");
            process.tick();
            let mut body = Vec::with_capacity(process.series() * 480);
            process.render(&mut body);
            (Bytes::from(body), process.series())
        } else {
            let i = usize::try_from(n % self.bodies.len() as u64).expect("index fits");
            self.bodies[i].clone()
        }
    }
}

/// Everything a run needs.
#[derive(Debug)]
pub struct Plan {
    pub groups: Vec<Arc<Group>>,
    /// Pushes rotate over the first `active` groups.
    pub active: usize,
    /// The first `preload` groups are pushed once before measuring.
    pub preload: usize,
    pub schedule: Schedule,
    pub connections: usize,
    pub duration: Duration,
    /// Run this long before measuring (see `--warmup`).
    pub warmup: Duration,
    pub max_requests: u64,
    pub timeout: Duration,
    pub scrapers: usize,
    pub scrape_interval: Duration,
    pub scrape_uri: Uri,
    pub scrape_format: ScrapeFormat,
    pub gzip: bool,
    pub server_pid: Option<u32>,
    pub delete_on_exit: bool,
    pub quiet: bool,
}

/// Budget shared by all request loops: stops them at the deadline or after `max` requests.
#[derive(Debug)]
struct Budget {
    deadline: Instant,
    used: AtomicU64,
    max: u64,
}

impl Budget {
    fn take(&self) -> bool {
        Instant::now() < self.deadline && self.used.fetch_add(1, Ordering::Relaxed) < self.max
    }
}

/// Result of a run, for the summary.
#[derive(Debug)]
pub struct Outcome {
    pub preload_seconds: f64,
    pub preload_errors: u64,
    pub measured_seconds: f64,
    pub delete_errors: u64,
    /// The summary of the warm-up phase, when there was one.
    pub warmup: Option<serde_json::Value>,
}

/// Runs the plan: preload, measure, clean up.
pub async fn run(plan: Plan, stats: Arc<Stats>) -> Outcome {
    let plan = Arc::new(plan);
    stats.mark(plan.server_pid, Mark::Start);
    let preload_ticker = tokio::spawn(progress(plan.clone(), stats.clone(), Instant::now()));
    let (preload_seconds, preload_errors) = preload(&plan, &stats).await;
    preload_ticker.abort();
    stats.reset();
    stats.mark(plan.server_pid, Mark::Measure);

    let mut start = Instant::now();
    let budget = Arc::new(Budget {
        deadline: start + plan.warmup + plan.duration,
        used: AtomicU64::new(0),
        max: plan.max_requests,
    });
    let mut tasks = tokio::task::JoinSet::new();
    spawn_pushers(&plan, &stats, &budget, &mut tasks);
    for _ in 0..plan.scrapers {
        let (plan, stats, budget) = (plan.clone(), stats.clone(), budget.clone());
        tasks.spawn(async move { scrape_loop(&plan, &stats, &budget).await });
    }
    let ticker = tokio::spawn(progress(plan.clone(), stats.clone(), start));
    let mut warmup = None;
    if !plan.warmup.is_zero() {
        tokio::time::sleep(plan.warmup).await;
        warmup = Some(stats.summary(start.elapsed().as_secs_f64()));
        stats.reset();
        stats.mark(plan.server_pid, Mark::Measure);
        start = Instant::now();
    }
    while tasks.join_next().await.is_some() {}
    let measured_seconds = start.elapsed().as_secs_f64();
    ticker.abort();
    stats.mark(plan.server_pid, Mark::End);

    let delete_errors = if plan.delete_on_exit {
        delete_all(&plan).await
    } else {
        0
    };
    Outcome {
        preload_seconds,
        preload_errors,
        measured_seconds,
        delete_errors,
        warmup,
    }
}

/// Pushes the first `preload` groups once each, over `connections` connections.
async fn preload(plan: &Arc<Plan>, stats: &Arc<Stats>) -> (f64, u64) {
    if plan.preload == 0 {
        return (0.0, 0);
    }
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.connections.max(1) {
        let (plan, next, errors, stats) =
            (plan.clone(), next.clone(), errors.clone(), stats.clone());
        tasks.spawn(async move {
            let client = http::client();
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).expect("fits");
                if i >= plan.preload {
                    break;
                }
                let group = &plan.groups[i];
                let (body, samples) = group.next_body();
                let bytes = body.len();
                let (latency, outcome) =
                    http::send(&client, Method::PUT, &group.uri, body, plan.timeout).await;
                *group.preloaded_at.lock().expect("lock never poisoned") = Some(Instant::now());
                if outcome != http::Outcome::Ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                    if !plan.quiet {
                        eprintln!("preload push {} failed: {outcome:?}", group.uri);
                    }
                }
                stats.record_push(latency, &outcome, samples, bytes);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let seconds = start.elapsed().as_secs_f64();
    if !plan.quiet {
        let pushed = stats.samples.load(Ordering::Relaxed);
        eprintln!(
            "preloaded {} groups ({pushed} samples) in {seconds:.1} s, {} errors",
            plan.preload,
            errors.load(Ordering::Relaxed)
        );
    }
    (seconds, errors.load(Ordering::Relaxed))
}

fn spawn_pushers(
    plan: &Arc<Plan>,
    stats: &Arc<Stats>,
    budget: &Arc<Budget>,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    match plan.schedule {
        Schedule::Off => {}
        Schedule::Interval { every, jitter } => {
            for i in 0..plan.active {
                let (plan, stats, budget) = (plan.clone(), stats.clone(), budget.clone());
                tasks.spawn(async move {
                    interval_loop(&plan, &stats, &budget, i, every, jitter).await;
                });
            }
        }
        Schedule::Rate { per_second } => {
            let next = Arc::new(AtomicU64::new(0));
            let connections = plan.connections.max(1);
            // Each connection takes its share of the total rate.
            #[allow(clippy::cast_precision_loss, reason = "few connections")]
            let period = per_second.map(|r| Duration::from_secs_f64(connections as f64 / r));
            for _ in 0..connections {
                let (plan, stats, budget, next) =
                    (plan.clone(), stats.clone(), budget.clone(), next.clone());
                tasks.spawn(async move { rate_loop(&plan, &stats, &budget, &next, period).await });
            }
        }
    }
}

async fn push(client: &HttpClient, plan: &Plan, stats: &Stats, group: &Group) {
    let (body, samples) = group.next_body();
    let bytes = body.len();
    let (latency, outcome) = http::send(client, Method::PUT, &group.uri, body, plan.timeout).await;
    stats.record_push(latency, &outcome, samples, bytes);
}

async fn interval_loop(
    plan: &Plan,
    stats: &Stats,
    budget: &Budget,
    index: usize,
    every: Duration,
    jitter: f64,
) {
    let client = http::client();
    let group = &plan.groups[index];
    let jittered = || every.mul_f64((1.0 + jitter * (2.0 * fastrand::f64() - 1.0)).max(0.0));
    // Processes start at random points of the interval. A preloaded group waits at least half
    // an interval after its preload push: a real reporter never pushes twice within a second,
    // and a server that learns push intervals (pushgate's expiry) must not learn one here.
    let mut next = Instant::now() + every.mul_f64(fastrand::f64());
    if let Some(at) = *group.preloaded_at.lock().expect("lock never poisoned") {
        next = next.max(at + every / 2);
    }
    loop {
        tokio::time::sleep_until(next.min(budget.deadline)).await;
        if !budget.take() {
            break;
        }
        // Behind schedule: the previous push took longer than the time to this slot.
        if Instant::now().saturating_duration_since(next) > every / 10 {
            stats.pushes_late.fetch_add(1, Ordering::Relaxed);
        }
        push(&client, plan, stats, group).await;
        next += jittered();
    }
}

async fn rate_loop(
    plan: &Plan,
    stats: &Stats,
    budget: &Budget,
    next_group: &AtomicU64,
    period: Option<Duration>,
) {
    let client = http::client();
    let mut next = Instant::now();
    while budget.take() {
        let n = next_group.fetch_add(1, Ordering::Relaxed);
        let i = usize::try_from(n % plan.active as u64).expect("fits");
        push(&client, plan, stats, &plan.groups[i]).await;
        if let Some(period) = period {
            next += period;
            tokio::time::sleep_until(next.min(budget.deadline)).await;
        }
    }
}

async fn scrape_loop(plan: &Plan, stats: &Stats, budget: &Budget) {
    let client = http::client();
    let mut next = Instant::now();
    while budget.take() {
        let (scrape, outcome) = http::scrape(
            &client,
            &plan.scrape_uri,
            plan.scrape_format,
            plan.gzip,
            plan.timeout,
        )
        .await;
        stats.record_scrape(&scrape, &outcome);
        if !plan.scrape_interval.is_zero()
            && (scrape.latency > plan.scrape_interval || outcome == http::Outcome::Timeout)
        {
            stats.scrapes_over_interval.fetch_add(1, Ordering::Relaxed);
        }
        next += plan.scrape_interval;
        let now = Instant::now();
        if next < now {
            // A scrape longer than the interval: start the next one right away, like a
            // Prometheus that skips missed slots.
            next = now;
        }
        tokio::time::sleep_until(next.min(budget.deadline)).await;
    }
}

async fn progress(plan: Arc<Plan>, stats: Arc<Stats>, start: Instant) {
    let mut progress = Progress::new(plan.server_pid);
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tick.tick().await;
        let rss = stats.sample_rss(plan.server_pid);
        let line = progress.line(&stats, start.elapsed(), rss, plan.server_pid);
        if !plan.quiet {
            eprintln!("{line}");
        }
    }
}

/// `DELETE`s every group that was pushed (deleteOnShutdown).
async fn delete_all(plan: &Arc<Plan>) -> u64 {
    let count = plan.active.max(plan.preload);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.connections.max(1) {
        let (plan, next, errors) = (plan.clone(), next.clone(), errors.clone());
        tasks.spawn(async move {
            let client = http::client();
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).expect("fits");
                if i >= count {
                    break;
                }
                let uri = &plan.groups[i].uri;
                let (_, outcome) =
                    http::send(&client, Method::DELETE, uri, Bytes::new(), plan.timeout).await;
                if outcome != http::Outcome::Ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    errors.load(Ordering::Relaxed)
}
