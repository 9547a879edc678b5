//! The tasks of one remote-write endpoint (a *lane*): a ticker that snapshots the store into
//! a bounded latest-wins queue, and a sender that encodes, compresses and delivers each tick.
//!
//! Owns: the tick timestamps (one per tick, strictly increasing), the queue ([`TickQueue`]:
//! when full, the oldest waiting tick is dropped and counted), the retry policy (5xx, 429
//! unless disabled, and network errors back off from 30 ms to 5 s, `Retry-After` replacing
//! the backoff; other 4xx drop the batch, counted and logged with the receiver's message), and
//! acknowledging whole ticks to the encoder (stale markers) and the metrics.
//! Does not own: the bytes (see `encode`) or HTTP (see `client`).
//!
//! Nothing here runs on the request path: a push or a scrape only takes the store lock that
//! `store.snapshot()` also takes (to clone group `Arc`s). Planning and encoding run on one
//! niced thread (a `RenderPool` of its own, shared by every URL), one batch ahead of the
//! request in flight, so they yield the CPU to pushes, and memory is bounded by the queue
//! (snapshots share the store's groups) plus two batches per URL.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::client::Client;
use super::config::{Endpoint, RemoteWriteConfig};
use super::encode::{BatchInfo, BatchLimits, Cursor, Encoder, TickPlan};
use super::metrics::LaneMetrics;
use crate::server::render_pool::RenderPool;
use crate::store::{Snapshot, Store};

/// First retry delay (Prometheus `min_backoff`).
pub const MIN_BACKOFF: Duration = Duration::from_millis(30);
/// Longest retry delay (Prometheus `max_backoff`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// One tick: the store as it was, and its timestamp.
#[derive(Debug)]
pub struct Tick {
    snapshot: Snapshot,
    timestamp_ms: i64,
}

/// A bounded latest-wins queue of ticks.
#[derive(Debug)]
pub struct TickQueue {
    // A std Mutex: held only to push or pop, never across `.await`.
    ticks: Mutex<VecDeque<Tick>>,
    notify: Notify,
    cap: usize,
}

impl TickQueue {
    /// A queue holding at most `cap` ticks.
    #[must_use]
    pub fn new(cap: usize) -> TickQueue {
        TickQueue {
            ticks: Mutex::new(VecDeque::with_capacity(cap)),
            notify: Notify::new(),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Tick>> {
        self.ticks
            .lock()
            .expect("tick queue lock is never poisoned: no panics inside")
    }

    /// Adds a tick; returns how many old ticks were dropped to make room.
    pub fn push(&self, tick: Tick) -> usize {
        let dropped = {
            let mut q = self.lock();
            let mut dropped = 0;
            while q.len() >= self.cap {
                q.pop_front();
                dropped += 1;
            }
            q.push_back(tick);
            dropped
        };
        self.notify.notify_one();
        dropped
    }

    /// Ticks waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no tick waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn pop(&self) -> Tick {
        loop {
            if let Some(t) = self.lock().pop_front() {
                return t;
            }
            self.notify.notified().await;
        }
    }
}

/// Everything one lane's tasks share.
#[derive(Debug)]
struct Lane {
    endpoint: Arc<Endpoint>,
    config: Arc<RemoteWriteConfig>,
    queue: TickQueue,
    metrics: Arc<LaneMetrics>,
    in_flight: std::sync::atomic::AtomicBool,
    /// Low-priority threads for planning and encoding (shared by every lane).
    pool: Arc<RenderPool>,
}

impl Lane {
    fn update_pending(&self) {
        let busy = self.in_flight.load(std::sync::atomic::Ordering::Relaxed);
        self.metrics
            .set_pending(self.queue.len() + usize::from(busy));
    }
}

/// Starts the ticker and sender of every endpoint; they stop when `stop` turns `true`.
#[must_use]
pub fn spawn(
    store: &Store,
    config: &Arc<RemoteWriteConfig>,
    metrics: &[Arc<LaneMetrics>],
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let cache = super::encode::SharedCache::default();
    // Encoding yields the CPU to pushes and scrapes: its own niced thread (see render_pool).
    let pool = Arc::new(RenderPool::new(1));
    for (endpoint, metrics) in config.endpoints.iter().zip(metrics) {
        let lane = Arc::new(Lane {
            endpoint: endpoint.clone(),
            config: config.clone(),
            queue: TickQueue::new(config.queue_ticks),
            metrics: metrics.clone(),
            in_flight: std::sync::atomic::AtomicBool::new(false),
            pool: pool.clone(),
        });
        tasks.push(tokio::spawn(ticker(
            store.clone(),
            lane.clone(),
            stop.clone(),
        )));
        let encoder = Encoder::with_cache(config.external_labels.clone(), cache.clone());
        tasks.push(tokio::spawn(sender(lane, encoder, stop.clone())));
    }
    tasks
}

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn ticker(store: Store, lane: Arc<Lane>, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(lane.config.interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = 0;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        // Strictly increasing even if the clock steps back: receivers refuse a whole batch
        // holding a sample not newer than the last.
        let timestamp_ms = now_ms().max(last + 1);
        last = timestamp_ms;
        let dropped = lane.queue.push(Tick {
            snapshot: store.snapshot(),
            timestamp_ms,
        });
        for _ in 0..dropped {
            lane.metrics.tick_dropped();
        }
        if dropped > 0 {
            debug!(url = %lane.endpoint.url, dropped, "remote write queue full; dropped the oldest tick");
        }
        lane.update_pending();
    }
}

async fn sender(lane: Arc<Lane>, mut encoder: Encoder, mut stop: watch::Receiver<bool>) {
    let mut client = Client::new(lane.endpoint.clone());
    // Groups restored from the persistence file were pushed before this process: their lag
    // would measure the downtime, not the sender.
    let mut acked_push = crate::store::now_seconds();
    loop {
        let tick = tokio::select! {
            t = lane.queue.pop() => t,
            _ = stop.changed() => return,
        };
        lane.in_flight
            .store(true, std::sync::atomic::Ordering::Relaxed);
        lane.update_pending();
        client.refresh_headers();
        let Ok((enc, plan)) = lane
            .pool
            .run(move || {
                let plan = encoder.plan(&tick.snapshot, tick.timestamp_ms);
                (encoder, plan)
            })
            .await
        else {
            tracing::error!(url = %lane.endpoint.url, "remote write: planning a tick failed; sender stopped");
            return;
        };
        encoder = enc;
        lane.metrics.set_invalid(plan.invalid_series);
        let plan = Arc::new(plan);
        if !send_tick(&lane, &mut client, &plan, &mut stop).await {
            return;
        }
        encoder.ack(&plan);
        let now = crate::store::now_seconds();
        let newest = plan
            .groups()
            .map(|g| g.times.success)
            .fold(acked_push, f64::max);
        let lags = plan
            .groups()
            .map(|g| g.times.success)
            .filter(|&t| t > acked_push)
            .map(|t| now - t);
        lane.metrics.tick_acknowledged(now, lags);
        acked_push = newest;
        lane.in_flight
            .store(false, std::sync::atomic::Ordering::Relaxed);
        lane.update_pending();
    }
}

/// A compressed batch.
struct Batch {
    body: Bytes,
    info: BatchInfo,
}

/// Where the encoding of a tick stands, handed from one batch's job to the next.
struct Encoding {
    plan: Arc<TickPlan>,
    cursor: Cursor,
    raw: Vec<u8>,
    snappy: snap::raw::Encoder,
}

type Encoded = (Encoding, Option<Batch>);

/// Encodes and compresses the next batch on the low-priority pool, starting at once.
fn encode_next(
    pool: &Arc<RenderPool>,
    limits: BatchLimits,
    mut enc: Encoding,
) -> JoinHandle<Result<Encoded, crate::server::render_pool::RenderPoolError>> {
    let pool = pool.clone();
    tokio::spawn(async move {
        pool.run(move || {
            let info = enc.plan.next_batch(&mut enc.cursor, limits, &mut enc.raw);
            let batch = info.map(|info| Batch {
                body: enc
                    .snappy
                    .compress_vec(&enc.raw)
                    .expect("snappy compresses any input under 4 GiB")
                    .into(),
                info,
            });
            (enc, batch)
        })
        .await
    })
}

/// Sends every batch of `plan`, the next one encoded while one is in flight; `false` when
/// stopped first.
async fn send_tick(
    lane: &Lane,
    client: &mut Client,
    plan: &Arc<TickPlan>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let limits = lane.config.limits;
    let mut next = encode_next(
        &lane.pool,
        limits,
        Encoding {
            plan: plan.clone(),
            cursor: Cursor::default(),
            raw: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        },
    );
    loop {
        let Ok(Ok((enc, batch))) = next.await else {
            tracing::error!(url = %lane.endpoint.url, "remote write: encoding a batch failed; tick abandoned");
            return true;
        };
        let Some(batch) = batch else {
            return true;
        };
        next = encode_next(&lane.pool, limits, enc);
        if !deliver(lane, client, &batch, plan.timestamp_ms, stop).await {
            next.abort();
            return false;
        }
    }
}

/// What to do after an answer.
enum Next {
    Done,
    Retry(Duration),
}

/// Delivers one batch, retrying as the spec says; `false` when stopped first.
async fn deliver(
    lane: &Lane,
    client: &mut Client,
    batch: &Batch,
    timestamp_ms: i64,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = MIN_BACKOFF;
    let mut attempt = 0u32;
    loop {
        let started = Instant::now();
        let result = client.send(batch.body.clone(), attempt).await;
        let elapsed = started.elapsed().as_secs_f64();
        let next = judge(lane, result, batch, elapsed, timestamp_ms, backoff, attempt);
        let Next::Retry(wait) = next else {
            return true;
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return false,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt = attempt.saturating_add(1);
    }
}

/// Counts and logs one attempt's outcome and decides what comes next.
fn judge(
    lane: &Lane,
    result: Result<super::client::Answer, super::client::SendError>,
    batch: &Batch,
    elapsed: f64,
    timestamp_ms: i64,
    backoff: Duration,
    attempt: u32,
) -> Next {
    let m = &lane.metrics;
    let url = &lane.endpoint.url;
    let rows = batch.info.samples + batch.info.stale;
    let answer = match result {
        Ok(a) => a,
        Err(e) => {
            m.request("error", elapsed, batch.body.len());
            m.retried(rows, &e.to_string());
            log_retry(url, attempt, &e.to_string(), None);
            return Next::Retry(backoff);
        }
    };
    let code = answer.status.as_u16();
    m.request(&code.to_string(), elapsed, batch.body.len());
    if answer.status.is_success() {
        m.acknowledged(batch.info.samples, batch.info.stale, timestamp_ms);
        if attempt > 0 {
            info!(url = %url, attempts = attempt + 1, "remote write: delivered after retries");
        }
        return Next::Done;
    }
    let message = format!("HTTP {code}: {}", answer.body.trim());
    let retryable = answer.status.is_server_error() || (code == 429 && lane.endpoint.retry_on_429);
    if retryable {
        m.retried(rows, &message);
        log_retry(url, attempt, &message, answer.retry_after);
        let wait = answer
            .retry_after
            .map_or(backoff, |d| d.min(MAX_RETRY_AFTER));
        return Next::Retry(wait);
    }
    m.failed(&code.to_string(), rows, &message);
    warn!(url = %url, status = code, samples = rows, response = %answer.body.trim(), "remote write: receiver refused a batch; dropped");
    Next::Done
}

/// Logs a retry: `warn` on the first failure of a batch, `debug` on the next ones, so an
/// outage costs one line per batch in the log, not one per attempt.
fn log_retry(url: &str, attempt: u32, error: &str, retry_after: Option<Duration>) {
    if attempt == 0 {
        warn!(url = %url, error = %error, retry_after_s = retry_after.map(|d| d.as_secs()), "remote write failed; retrying with backoff");
    } else {
        debug!(url = %url, attempt, error = %error, "remote write retry failed");
    }
}
