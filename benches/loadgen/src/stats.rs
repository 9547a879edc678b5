//! Counters, latency histograms and the server's memory and CPU, shared by every task of a run.
//!
//! Owns: what is measured (pushes, samples, bytes, errors by status, push and scrape latency,
//! scrape time to first byte and scrape size in hdrhistograms, the first scrape, server RSS
//! from `/proc/<pid>/status`, server and loadgen CPU from `/proc/<pid>/stat`), the per-second
//! progress line and the final summary (text or JSON).
//! Does not own: producing the load (see `run`).
//!
//! Summary keys added here (the run's settings are added by `main`); times in ms, sizes in
//! bytes, everything over the measured phase (after the preload) unless said otherwise:
//!
//! | key | meaning |
//! |---|---|
//! | `seconds` | measured wall time |
//! | `pushes`, `samples` | successful pushes and the samples they carried |
//! | `pushes_per_s`, `samples_per_s`, `push_mb_per_s` | the same per second (samples/s is what was ingested) |
//! | `pushes_late` | interval pushes started more than a tenth of the interval after their slot (the pusher fell behind) |
//! | `push_latency_ms` | `p50`, `p90`, `p99`, `p999`, `max`, `mean` |
//! | `errors`, `error_samples` | failed requests by status / `io` / `timeout` (`scrape ...` for scrapes), and the first few |
//! | `scrapes` | successful scrapes |
//! | `scrape_latency_ms` | wall time to the last byte: `p50`, `p99`, `max`, `mean` |
//! | `scrape_ttfb_ms` | time to first byte (response head): `p50`, `p99`, `max`, `mean` |
//! | `scrape_bytes` | body bytes as received (compressed under gzip): `p50`, `p99`, `min`, `max`, `mean` (3 significant digits, as the latencies) |
//! | `scrape_first` | the first scrape of the measured phase: `ttfb_ms`, `total_ms`, `bytes` |
//! | `scrapes_over_interval` | scrapes that took longer than `--scrape-interval` |
//! | `scrape_bytes_avg`, `scrape_lines_avg`, `scrape_lines_min`, `scrape_lines_max` | older averages; lines only for uncompressed text |
//! | `scrape_encoding`, `scrape_content_type` | `gzip`/`identity`, and the `Content-Type` answered |
//! | `server_rss_mib` | `start`, `after_preload`, `max`, `end` |
//! | `server_cpu` | `cores_avg` (CPU seconds / wall seconds), `cores_max_1s` (busiest progress second), `seconds` (CPU seconds), `preload_seconds` (CPU seconds during the preload) |
//! | `loadgen_cpu_cores` | the load generator's own average cores: near the machine's core count, it is the bottleneck |
//!
//! Values are `null` (or the object empty) when nothing was measured: no `--server-pid`, no
//! scrapes, no pushes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::http::{Outcome, Scrape};

/// Error texts kept for the summary.
const ERROR_SAMPLES: usize = 5;

/// Everything measured during the measured phase.
#[derive(Debug)]
pub struct Stats {
    pub pushes: AtomicU64,
    pub samples: AtomicU64,
    pub bytes: AtomicU64,
    pub errors_total: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    error_samples: Mutex<Vec<String>>,
    // Mutexes around the histograms: a record is ~20 ns under the lock and at most a few
    // thousand pushes per second contend; per-task histograms merged at the end would save
    // nothing measurable.
    push_latency: Mutex<Histogram<u64>>,
    pub scrapes: AtomicU64,
    scrape_latency: Mutex<Histogram<u64>>,
    pub scrape_bytes: AtomicU64,
    pub scrape_lines: AtomicU64,
    scrape_lines_min: AtomicU64,
    scrape_lines_max: AtomicU64,
    pub last_scrape_us: AtomicU64,
    pub last_scrape_bytes: AtomicU64,
    pub last_scrape_ttfb_us: AtomicU64,
    pub scrape_gzip_seen: AtomicBool,
    pub scrape_identity_seen: AtomicBool,
    scrape_ttfb: Mutex<Histogram<u64>>,
    scrape_size: Mutex<Histogram<u64>>,
    scrape_first: Mutex<Option<Scrape>>,
    scrape_content_type: Mutex<Option<String>>,
    /// Scrapes slower than the scrape interval.
    pub scrapes_over_interval: AtomicU64,
    /// Interval pushes that started late (see `run`).
    pub pushes_late: AtomicU64,
    pub rss: Mutex<Rss>,
    cpu: Mutex<Cpu>,
    /// The busiest second of the server seen by the progress line, in thousandths of a core.
    server_millicores_max: AtomicU64,
    /// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`).
    ticks_per_second: f64,
}

/// The moments at which RSS and CPU are read for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Before the preload.
    Start,
    /// After the preload, when the measured phase starts.
    Measure,
    /// When the measured phase ends.
    End,
}

/// CPU clock ticks (user + system) of the server and of this process at each [`Mark`].
#[derive(Debug, Default, Clone, Copy)]
struct Cpu {
    start: Option<CpuMark>,
    measure: Option<CpuMark>,
    end: Option<CpuMark>,
}

#[derive(Debug, Clone, Copy)]
struct CpuMark {
    at: Instant,
    server: Option<u64>,
    own: Option<u64>,
}

/// Server resident memory in KiB at the moments that matter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rss {
    pub start: Option<u64>,
    pub after_preload: Option<u64>,
    pub max: Option<u64>,
    pub end: Option<u64>,
    pub last: Option<u64>,
}

fn latency_histogram() -> Histogram<u64> {
    // 1 µs .. 1 h, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

fn size_histogram() -> Histogram<u64> {
    // 1 B .. 1 TiB, 3 significant digits.
    Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Stats {
    pub fn new() -> Self {
        Self {
            pushes: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors_total: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            error_samples: Mutex::new(Vec::new()),
            push_latency: Mutex::new(latency_histogram()),
            scrapes: AtomicU64::new(0),
            scrape_latency: Mutex::new(latency_histogram()),
            scrape_bytes: AtomicU64::new(0),
            scrape_lines: AtomicU64::new(0),
            scrape_lines_min: AtomicU64::new(u64::MAX),
            scrape_lines_max: AtomicU64::new(0),
            last_scrape_us: AtomicU64::new(0),
            last_scrape_bytes: AtomicU64::new(0),
            last_scrape_ttfb_us: AtomicU64::new(0),
            scrape_gzip_seen: AtomicBool::new(false),
            scrape_identity_seen: AtomicBool::new(false),
            scrape_ttfb: Mutex::new(latency_histogram()),
            scrape_size: Mutex::new(size_histogram()),
            scrape_first: Mutex::new(None),
            scrape_content_type: Mutex::new(None),
            scrapes_over_interval: AtomicU64::new(0),
            pushes_late: AtomicU64::new(0),
            rss: Mutex::new(Rss::default()),
            cpu: Mutex::new(Cpu::default()),
            server_millicores_max: AtomicU64::new(0),
            ticks_per_second: clock_ticks_per_second(),
        }
    }

    /// Records one push (or delete) and its outcome.
    pub fn record_push(&self, latency: Duration, outcome: &Outcome, samples: usize, bytes: usize) {
        match outcome.error_key() {
            None => {
                self.pushes.fetch_add(1, Ordering::Relaxed);
                self.samples.fetch_add(samples as u64, Ordering::Relaxed);
                self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                self.push_latency
                    .lock()
                    .expect("histogram lock never poisoned")
                    .saturating_record(micros(latency));
            }
            Some(key) => self.record_error(key, outcome, "push"),
        }
    }

    /// Records one scrape.
    pub fn record_scrape(&self, scrape: &Scrape, outcome: &Outcome) {
        if let Some(key) = outcome.error_key() {
            self.record_error(format!("scrape {key}"), outcome, "scrape");
            return;
        }
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        self.scrape_bytes.fetch_add(scrape.bytes, Ordering::Relaxed);
        self.scrape_lines.fetch_add(scrape.lines, Ordering::Relaxed);
        if scrape.counts_lines() {
            self.scrape_lines_min
                .fetch_min(scrape.lines, Ordering::Relaxed);
            self.scrape_lines_max
                .fetch_max(scrape.lines, Ordering::Relaxed);
        }
        self.last_scrape_us
            .store(micros(scrape.latency), Ordering::Relaxed);
        self.last_scrape_bytes
            .store(scrape.bytes, Ordering::Relaxed);
        self.last_scrape_ttfb_us
            .store(micros(scrape.ttfb), Ordering::Relaxed);
        self.scrape_first
            .lock()
            .expect("scrape lock never poisoned")
            .get_or_insert_with(|| scrape.clone());
        self.scrape_content_type
            .lock()
            .expect("scrape lock never poisoned")
            .get_or_insert_with(|| scrape.content_type.clone());
        self.scrape_ttfb
            .lock()
            .expect("histogram lock never poisoned")
            .saturating_record(micros(scrape.ttfb));
        self.scrape_size
            .lock()
            .expect("histogram lock never poisoned")
            .saturating_record(scrape.bytes.max(1));
        if scrape.gzip {
            self.scrape_gzip_seen.store(true, Ordering::Relaxed);
        } else {
            self.scrape_identity_seen.store(true, Ordering::Relaxed);
        }
        self.scrape_latency
            .lock()
            .expect("histogram lock never poisoned")
            .saturating_record(micros(scrape.latency));
    }

    fn record_error(&self, key: String, outcome: &Outcome, what: &str) {
        self.errors_total.fetch_add(1, Ordering::Relaxed);
        *self
            .errors
            .lock()
            .expect("errors lock never poisoned")
            .entry(key)
            .or_default() += 1;
        let mut samples = self
            .error_samples
            .lock()
            .expect("errors lock never poisoned");
        if samples.len() < ERROR_SAMPLES {
            samples.push(format!("{what}: {outcome:?}"));
        }
    }

    /// Reads the server's RSS now and folds it into the tracked values.
    pub fn sample_rss(&self, pid: Option<u32>) -> Option<u64> {
        let kib = read_rss_kib(pid?)?;
        let mut rss = self.rss.lock().expect("rss lock never poisoned");
        rss.start.get_or_insert(kib);
        rss.max = Some(rss.max.map_or(kib, |m| m.max(kib)));
        rss.last = Some(kib);
        Some(kib)
    }

    /// Reads RSS and CPU for the summary at `mark`.
    pub fn mark(&self, pid: Option<u32>, mark: Mark) {
        if let Some(kib) = self.sample_rss(pid) {
            let mut rss = self.rss.lock().expect("rss lock never poisoned");
            match mark {
                Mark::Start => {}
                // A second mark after --warmup keeps the figure taken right after the preload.
                Mark::Measure => {
                    rss.after_preload.get_or_insert(kib);
                }
                Mark::End => rss.end = Some(kib),
            }
        }
        let now = CpuMark {
            at: Instant::now(),
            server: pid.and_then(read_cpu_ticks),
            own: read_own_cpu_ticks(),
        };
        let mut cpu = self.cpu.lock().expect("cpu lock never poisoned");
        *match mark {
            Mark::Start => &mut cpu.start,
            Mark::Measure => &mut cpu.measure,
            Mark::End => &mut cpu.end,
        } = Some(now);
    }

    /// Folds one progress second's server CPU (in cores) into the busiest second.
    fn note_server_cores(&self, cores: f64) {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a few cores, in thousandths"
        )]
        let milli = (cores * 1000.0).round().max(0.0) as u64;
        self.server_millicores_max
            .fetch_max(milli, Ordering::Relaxed);
    }

    fn cpu_summary(&self) -> (Value, Value) {
        let cpu = *self.cpu.lock().expect("cpu lock never poisoned");
        let tps = self.ticks_per_second;
        let seconds = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / tps),
            _ => None,
        };
        let (Some(measure), Some(end)) = (cpu.measure, cpu.end) else {
            return (json!({}), Value::Null);
        };
        let wall = end.at.duration_since(measure.at).as_secs_f64().max(1e-9);
        let server = seconds(measure.server, end.server);
        let preload = cpu.start.and_then(|s| seconds(s.server, measure.server));
        let own = seconds(measure.own, end.own).map(|s| round3(s / wall));
        let max = self.server_millicores_max.load(Ordering::Relaxed) as f64 / 1000.0;
        (
            json!({
                "cores_avg": server.map(|s| round3(s / wall)),
                "cores_max_1s": server.map(|_| max),
                "seconds": server.map(round3),
                "preload_seconds": preload.map(round3),
            }),
            json!(own),
        )
    }

    /// Clears everything but RSS (after the preload phase).
    pub fn reset(&self) {
        for counter in [
            &self.pushes,
            &self.samples,
            &self.bytes,
            &self.errors_total,
            &self.scrapes,
            &self.scrape_bytes,
            &self.scrape_lines,
            &self.scrapes_over_interval,
            &self.pushes_late,
            &self.server_millicores_max,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        *self
            .scrape_first
            .lock()
            .expect("scrape lock never poisoned") = None;
        for h in [&self.scrape_ttfb, &self.scrape_size] {
            h.lock().expect("histogram lock never poisoned").reset();
        }
        self.errors
            .lock()
            .expect("errors lock never poisoned")
            .clear();
        self.push_latency
            .lock()
            .expect("histogram lock never poisoned")
            .reset();
        self.scrape_latency
            .lock()
            .expect("histogram lock never poisoned")
            .reset();
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .expect("errors lock never poisoned")
            .clone()
    }

    pub fn error_samples(&self) -> Vec<String> {
        self.error_samples
            .lock()
            .expect("errors lock never poisoned")
            .clone()
    }

    fn quantiles_ms(h: &Histogram<u64>, qs: &[(&str, f64)]) -> Value {
        let mut map = serde_json::Map::new();
        if h.is_empty() {
            return Value::Object(map);
        }
        for &(name, q) in qs {
            map.insert(name.into(), json!(ms(h.value_at_quantile(q))));
        }
        map.insert("max".into(), json!(ms(h.max())));
        map.insert(
            "mean".into(),
            json!((h.mean() / 1000.0 * 1000.0).round() / 1000.0),
        );
        Value::Object(map)
    }

    /// The summary as JSON; `seconds` is the measured wall time.
    pub fn summary(&self, seconds: f64) -> Value {
        let pushes = self.pushes.load(Ordering::Relaxed);
        let samples = self.samples.load(Ordering::Relaxed);
        let scrapes = self.scrapes.load(Ordering::Relaxed);
        let push_latency = self
            .push_latency
            .lock()
            .expect("histogram lock never poisoned");
        let scrape_latency = self
            .scrape_latency
            .lock()
            .expect("histogram lock never poisoned");
        let scrape_ttfb = self
            .scrape_ttfb
            .lock()
            .expect("histogram lock never poisoned");
        let scrape_size = self
            .scrape_size
            .lock()
            .expect("histogram lock never poisoned");
        let scrape_first = self
            .scrape_first
            .lock()
            .expect("scrape lock never poisoned")
            .clone();
        let content_type = self
            .scrape_content_type
            .lock()
            .expect("scrape lock never poisoned")
            .clone();
        let rss = *self.rss.lock().expect("rss lock never poisoned");
        let (server_cpu, loadgen_cores) = self.cpu_summary();
        let mib = |kib: Option<u64>| kib.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0);
        let gzip = match (
            self.scrape_gzip_seen.load(Ordering::Relaxed),
            self.scrape_identity_seen.load(Ordering::Relaxed),
        ) {
            (true, _) => json!("gzip"),
            (false, true) => json!("identity"),
            (false, false) => Value::Null,
        };
        json!({
            "seconds": round3(seconds),
            "pushes": pushes,
            "samples": samples,
            "pushes_per_s": round3(pushes as f64 / seconds),
            "samples_per_s": (samples as f64 / seconds).round(),
            "pushes_late": self.pushes_late.load(Ordering::Relaxed),
            "push_mb_per_s": round3(self.bytes.load(Ordering::Relaxed) as f64 / seconds / 1e6),
            "push_latency_ms": Self::quantiles_ms(
                &push_latency,
                &[("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)],
            ),
            "errors": self.errors(),
            "error_samples": self.error_samples(),
            "scrapes": scrapes,
            "scrape_latency_ms": Self::quantiles_ms(&scrape_latency, &[("p50", 0.5), ("p99", 0.99)]),
            "scrape_ttfb_ms": Self::quantiles_ms(&scrape_ttfb, &[("p50", 0.5), ("p99", 0.99)]),
            "scrape_bytes": sizes(&scrape_size),
            "scrape_first": scrape_first.map(|s| json!({
                "ttfb_ms": ms(micros(s.ttfb)),
                "total_ms": ms(micros(s.latency)),
                "bytes": s.bytes,
            })),
            "scrapes_over_interval": self.scrapes_over_interval.load(Ordering::Relaxed),
            "scrape_bytes_avg": scrape_avg(self.scrape_bytes.load(Ordering::Relaxed), scrapes),
            "scrape_lines_avg": scrape_avg(self.scrape_lines.load(Ordering::Relaxed), scrapes),
            "scrape_lines_min": match self.scrape_lines_min.load(Ordering::Relaxed) {
                u64::MAX => None,
                n => Some(n),
            },
            "scrape_lines_max": match self.scrape_lines_max.load(Ordering::Relaxed) {
                0 => None,
                n => Some(n),
            },
            "scrape_encoding": gzip,
            "scrape_content_type": content_type,
            "server_rss_mib": {
                "start": mib(rss.start),
                "after_preload": mib(rss.after_preload),
                "max": mib(rss.max),
                "end": mib(rss.end),
            },
            "server_cpu": server_cpu,
            "loadgen_cpu_cores": loadgen_cores,
        })
    }
}

/// Quantiles of a size histogram, in bytes (3 significant digits).
fn sizes(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({});
    }
    json!({
        "p50": h.value_at_quantile(0.5),
        "p99": h.value_at_quantile(0.99),
        "min": h.min(),
        "max": h.max(),
        "mean": h.mean().round(),
    })
}

fn scrape_avg(total: u64, scrapes: u64) -> Option<u64> {
    total.checked_div(scrapes)
}

fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `VmRSS` of a process in KiB.
pub fn read_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times: `getconf CLK_TCK`, 100 if that fails
/// (it is 100 on every architecture Linux runs this on).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

/// `utime + stime` of a process (all its threads) in clock ticks, from `/proc/<pid>/stat`.
pub fn read_cpu_ticks(pid: u32) -> Option<u64> {
    parse_cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn read_own_cpu_ticks() -> Option<u64> {
    parse_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Fields 14 and 15 of a `stat` line; the command name (field 2) may hold spaces and
/// parentheses, so fields are counted from its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The per-second progress line.
pub struct Progress {
    /// Counter values at the previous line.
    pushes: u64,
    samples: u64,
    errors: u64,
    /// CPU ticks of the server and of this process at the previous line.
    cpu_at: Instant,
    server_ticks: Option<u64>,
    own_ticks: Option<u64>,
}

impl Progress {
    pub fn new(pid: Option<u32>) -> Self {
        Self {
            pushes: 0,
            samples: 0,
            errors: 0,
            cpu_at: Instant::now(),
            server_ticks: pid.and_then(read_cpu_ticks),
            own_ticks: read_own_cpu_ticks(),
        }
    }

    pub fn line(
        &mut self,
        stats: &Stats,
        elapsed: Duration,
        rss_kib: Option<u64>,
        pid: Option<u32>,
    ) -> String {
        let pushes = stats.pushes.load(Ordering::Relaxed);
        let samples = stats.samples.load(Ordering::Relaxed);
        let errors = stats.errors_total.load(Ordering::Relaxed);
        let now = Instant::now();
        let wall = now.duration_since(self.cpu_at).as_secs_f64().max(1e-3);
        let server_ticks = pid.and_then(read_cpu_ticks);
        let own_ticks = read_own_cpu_ticks();
        let cores = |before: Option<u64>, after: Option<u64>| {
            Some(after?.saturating_sub(before?) as f64 / stats.ticks_per_second / wall)
        };
        let server_cores = cores(self.server_ticks, server_ticks);
        let own_cores = cores(self.own_ticks, own_ticks);
        if let Some(c) = server_cores {
            stats.note_server_cores(c);
        }
        let line = format!(
            "[{:>4}s] pushes/s {:>7} samples/s {:>11} errors {:>5} scrape {} rss {} cpu {} \
             (loadgen {})",
            elapsed.as_secs(),
            pushes.saturating_sub(self.pushes),
            samples.saturating_sub(self.samples),
            errors.saturating_sub(self.errors),
            match stats.last_scrape_us.load(Ordering::Relaxed) {
                0 => "-".to_owned(),
                us => format!(
                    "{:.1} ms, first byte {:.1} ms ({:.1} MB)",
                    us as f64 / 1000.0,
                    stats.last_scrape_ttfb_us.load(Ordering::Relaxed) as f64 / 1000.0,
                    stats.last_scrape_bytes.load(Ordering::Relaxed) as f64 / 1e6
                ),
            },
            rss_kib.map_or_else(
                || "-".to_owned(),
                |k| format!("{:.0} MiB", k as f64 / 1024.0)
            ),
            server_cores.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}")),
            own_cores.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}")),
        );
        self.pushes = pushes;
        self.samples = samples;
        self.errors = errors;
        self.cpu_at = now;
        self.server_ticks = server_ticks;
        self.own_ticks = own_ticks;
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_stat() {
        let stat = "1234 (tokio (worker) x) S 1 1234 1234 0 -1 4194560 5000 0 0 0 \
                    250 75 0 0 20 0 8 0 100 123456 789 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert!(read_own_cpu_ticks().is_some());
    }

    #[test]
    fn first_scrape_and_quantiles() {
        let stats = Stats::new();
        let scrape = |ms: u64, bytes: u64| Scrape {
            latency: Duration::from_millis(ms),
            ttfb: Duration::from_millis(ms / 2),
            bytes,
            gzip: true,
            content_type: "text/plain; version=0.0.4".into(),
            ..Scrape::default()
        };
        stats.record_scrape(&scrape(100, 2000), &Outcome::Ok);
        for _ in 0..9 {
            stats.record_scrape(&scrape(10, 1000), &Outcome::Ok);
        }
        let s = stats.summary(1.0);
        assert_eq!(s["scrapes"], 10);
        assert_eq!(s["scrape_first"]["total_ms"], 100.0);
        assert_eq!(s["scrape_first"]["ttfb_ms"], 50.0);
        assert_eq!(s["scrape_first"]["bytes"], 2000);
        assert_eq!(s["scrape_bytes"]["p50"], 1000);
        assert_eq!(s["scrape_bytes"]["max"], 2000);
        // 3 significant digits: 5,000 µs lands in a bucket 4 µs wide.
        let ttfb = s["scrape_ttfb_ms"]["p50"].as_f64().expect("p50");
        assert!((5.0..5.01).contains(&ttfb), "{ttfb}");
        assert_eq!(s["scrape_encoding"], "gzip");
        assert_eq!(s["server_cpu"], json!({}));
    }
}
