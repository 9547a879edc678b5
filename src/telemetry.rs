//! The gateway's own observability: logging set-up and the metrics pushgate exposes about
//! itself.
//!
//! Owns: tracing-subscriber initialisation ([`init_tracing`]), the start-up summary line
//! ([`log_startup`]), the rate limit on per-request log lines ([`LogLimiter`], so a
//! misbehaving client cannot flood the log), the request counters and push duration/size
//! summaries under the Go Pushgateway's names (so existing dashboards keep working),
//! `process_*` metrics read from `/proc`, and `pushgate_*` metrics of our own.
//! Does not own: rendering (the families built here go through `render` like pushed ones),
//! or deciding what is worth logging (each module logs its own events).
//!
//! Data enters through [`SelfMetrics::record_request`] / [`SelfMetrics::record_push`] from the
//! HTTP layer and leaves as a `Vec<StoredFamily>` built per scrape by [`SelfMetrics::families`].
//! Summaries keep the last [`WINDOW`] observations per method and compute quantiles from them
//! at scrape time (the Go gateway uses a 10-minute sliding window; a count window is simpler
//! and bounded).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::{MetricType, Summary, Value};
use crate::store::group::{Series, StoredFamily, Str};

/// Observations kept per summary label set.
pub const WINDOW: usize = 1024;

/// Names and types of every family the gateway exposes about itself. Pushes must agree with
/// these types (as with the Go gateway's own registry).
pub const BUILTIN_FAMILIES: &[(&str, MetricType)] = &[
    ("pushgateway_build_info", MetricType::Gauge),
    ("pushgateway_http_requests_total", MetricType::Counter),
    (
        "pushgateway_http_push_duration_seconds",
        MetricType::Summary,
    ),
    ("pushgateway_http_push_size_bytes", MetricType::Summary),
    ("process_cpu_seconds_total", MetricType::Counter),
    ("process_max_fds", MetricType::Gauge),
    ("process_open_fds", MetricType::Gauge),
    ("process_resident_memory_bytes", MetricType::Gauge),
    ("process_start_time_seconds", MetricType::Gauge),
    ("process_virtual_memory_bytes", MetricType::Gauge),
    ("pushgate_build_info", MetricType::Gauge),
    ("pushgate_groups", MetricType::Gauge),
    ("pushgate_series", MetricType::Gauge),
    ("pushgate_consistency_index_series", MetricType::Gauge),
    ("pushgate_pushes_rejected_total", MetricType::Counter),
    ("pushgate_scrapes_total", MetricType::Counter),
    ("pushgate_store_generation", MetricType::Gauge),
    ("pushgate_groups_expired_total", MetricType::Counter),
    ("pushgate_pushes_after_delete_total", MetricType::Counter),
    // remote_write::metrics::FAMILIES (a test checks the two lists agree).
    ("pushgate_remote_write_samples_total", MetricType::Counter),
    (
        "pushgate_remote_write_stale_markers_total",
        MetricType::Counter,
    ),
    (
        "pushgate_remote_write_samples_retried_total",
        MetricType::Counter,
    ),
    (
        "pushgate_remote_write_samples_failed_total",
        MetricType::Counter,
    ),
    ("pushgate_remote_write_requests_total", MetricType::Counter),
    (
        "pushgate_remote_write_ticks_dropped_total",
        MetricType::Counter,
    ),
    (
        "pushgate_remote_write_sent_bytes_total",
        MetricType::Counter,
    ),
    ("pushgate_remote_write_invalid_series", MetricType::Gauge),
    ("pushgate_remote_write_pending_ticks", MetricType::Gauge),
    (
        "pushgate_remote_write_highest_sent_timestamp_seconds",
        MetricType::Gauge,
    ),
    (
        "pushgate_remote_write_request_duration_seconds",
        MetricType::Histogram,
    ),
    (
        "pushgate_remote_write_push_to_ack_lag_seconds",
        MetricType::Histogram,
    ),
];

/// Rejected pushes logged at `info` per [`REJECTION_LOG_PERIOD`]; further ones in the same
/// period go to `debug` and are counted in the next `info` line's `suppressed` field.
pub const REJECTION_LOG_BURST: u32 = 10;

/// The period of [`REJECTION_LOG_BURST`].
pub const REJECTION_LOG_PERIOD: Duration = Duration::from_secs(60);

/// Log output format (`--log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, as the Go gateway's default.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Initialises the global tracing subscriber. `RUST_LOG`, when set, overrides `level`.
pub fn init_tracing(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("pushgate={level},warn")));
    // A failed write to stderr (its reader gone: a stopped log collector, `| head`) must not
    // panic: tracing-subscriber would report it with `eprintln!`, which panics on a broken
    // stderr and so kills whatever task logged (the expiry task, the persister, shutdown).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    // A second initialisation (tests start several servers) is harmless: keep the first.
    let _ = match format {
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Logs the start-up summary: the version and the settings an operator checks first, as
/// given on the command line.
pub fn log_startup(config: &crate::config::Config) {
    let flag = |name: &str| {
        config
            .flags
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen_address = flag("web.listen-address"),
        route_prefix = %config.route_prefix,
        persistence_file = flag("persistence.file"),
        persistence_interval = flag("persistence.interval"),
        consistency_check = config.consistency_check,
        flink_job_suffix = flag("flink.job-suffix"),
        flink_rename = flag("flink.rename"),
        flink_missed_pushes = config.expiry.missed_pushes,
        push_group_ttl = flag("push.group-ttl"),
        push_max_groups = config.limits.max_groups,
        push_max_body_bytes = config.max_body_bytes,
        config_file = flag("config.file"),
        "starting pushgate"
    );
}

/// A fixed-window rate limit for log lines about requests: at most `burst` lines per
/// `period`, so a client sending thousands of bad pushes a second costs a few log lines, not
/// a full disk. Counters (`pushgate_pushes_rejected_total`) still count every event.
#[derive(Debug)]
pub struct LogLimiter {
    burst: u32,
    period: Duration,
    state: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// At most `burst` lines per `period`.
    #[must_use]
    pub fn new(burst: u32, period: Duration) -> LogLimiter {
        LogLimiter {
            burst,
            period,
            state: Mutex::default(),
        }
    }

    /// Whether to log an event happening at `now`: `Some(n)` to log it, `n` being how many
    /// events were suppressed since the last one logged; `None` to suppress it.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut st = self
            .state
            .lock()
            .expect("log limiter lock is never poisoned: no panics inside");
        let expired = st
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= self.period);
        if expired {
            st.window_start = Some(now);
            st.logged = 0;
        }
        if st.logged < self.burst {
            st.logged += 1;
            Some(std::mem::take(&mut st.suppressed))
        } else {
            st.suppressed += 1;
            None
        }
    }
}

/// `ts=2026-11-21T10:00:00.123Z level=info msg="listening" address=[::]:9091`, the Go
/// gateway's log layout.
struct Logfmt;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Logfmt
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(writer, "ts={} level={level}", rfc3339_now())?;
        let mut visitor = LogfmtVisitor { out: String::new() };
        event.record(&mut visitor);
        writeln!(writer, "{}", visitor.out)
    }
}

struct LogfmtVisitor {
    out: String,
}

impl tracing::field::Visit for LogfmtVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.push(field.name(), value);
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.push(field.name(), &format!("{value:?}"));
    }
}

impl LogfmtVisitor {
    fn push(&mut self, key: &str, value: &str) {
        let key = if key == "message" { "msg" } else { key };
        let needs_quotes = value.is_empty()
            || value.contains(|c: char| c == ' ' || c == '"' || c == '=' || c.is_control());
        self.out.push(' ');
        self.out.push_str(key);
        self.out.push('=');
        if needs_quotes {
            let _ = std::fmt::Write::write_fmt(&mut self.out, format_args!("{value:?}"));
        } else {
            self.out.push_str(value);
        }
    }
}

/// The current UTC time as RFC 3339 with milliseconds (no date crate needed).
fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[derive(Debug, Default)]
struct Window {
    recent: VecDeque<f64>,
    sum: f64,
    count: u64,
}

impl Window {
    fn observe(&mut self, v: f64) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(v);
        self.sum += v;
        self.count += 1;
    }

    fn summary(&self) -> Summary {
        let mut sorted: Vec<f64> = self.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let quantiles = [0.1, 0.5, 0.9]
            .into_iter()
            .map(|q| {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss,
                    reason = "index of a small window"
                )]
                let idx = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
                (q, sorted.get(idx).copied().unwrap_or(f64::NAN))
            })
            .collect();
        #[allow(
            clippy::cast_precision_loss,
            reason = "a request count fits f64's integer range in practice"
        )]
        Summary {
            count: Some(self.count as f64),
            sum: Some(self.sum),
            quantiles,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(u16, &'static str, &'static str), u64>,
    durations: BTreeMap<&'static str, Window>,
    sizes: BTreeMap<&'static str, Window>,
    rejected: BTreeMap<&'static str, u64>,
    expired: BTreeMap<&'static str, u64>,
    swallowed: u64,
    scrapes: BTreeMap<(&'static str, &'static str), u64>,
}

/// Counters and summaries about the gateway itself.
#[derive(Debug)]
pub struct SelfMetrics {
    inner: Mutex<Inner>,
    start_time: f64,
    rejection_log: LogLimiter,
}

impl Default for SelfMetrics {
    fn default() -> Self {
        SelfMetrics {
            inner: Mutex::default(),
            start_time: crate::store::now_seconds(),
            rejection_log: LogLimiter::new(REJECTION_LOG_BURST, REJECTION_LOG_PERIOD),
        }
    }
}

impl SelfMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("self-metrics lock is never poisoned: no panics inside")
    }

    /// Counts one non-scrape request.
    pub fn record_request(&self, code: u16, handler: &'static str, method: &'static str) {
        *self
            .lock()
            .requests
            .entry((code, handler, method))
            .or_default() += 1;
    }

    /// Records a push's duration (seconds) and body size (bytes). `method` is lowercase.
    pub fn record_push(&self, method: &'static str, seconds: f64, bytes: usize) {
        let mut inner = self.lock();
        inner.durations.entry(method).or_default().observe(seconds);
        #[allow(clippy::cast_precision_loss, reason = "body sizes are far below 2^52")]
        inner.sizes.entry(method).or_default().observe(bytes as f64);
    }

    /// Counts a group removed by expiry.
    pub fn record_expiry(&self, reason: &'static str) {
        *self.lock().expired.entry(reason).or_default() += 1;
    }

    /// Counts a push swallowed because its group was just deleted by its Flink reporter.
    pub fn record_swallowed(&self) {
        self.lock().swallowed += 1;
    }

    /// Counts a rejected push by reason (`parse`, `inconsistent`, `too_large`, ...).
    pub fn record_rejection(&self, reason: &'static str) {
        *self.lock().rejected.entry(reason).or_default() += 1;
    }

    /// Whether a rejected push should be logged at `info` now (see [`LogLimiter::admit`]).
    pub fn admit_rejection_log(&self) -> Option<u64> {
        self.rejection_log.admit(Instant::now())
    }

    /// Counts one scrape by the negotiated format and content encoding.
    pub fn record_scrape(&self, format: &'static str, encoding: &'static str) {
        *self.lock().scrapes.entry((format, encoding)).or_default() += 1;
    }

    /// Builds the gateway's own families for one scrape.
    #[must_use]
    pub fn families(
        &self,
        groups: usize,
        series_count: usize,
        indexed_series: usize,
        generation: u64,
    ) -> Vec<StoredFamily> {
        let inner = self.lock();
        let mut out = vec![
            gauge(
                "pushgateway_build_info",
                BUILD_INFO_HELP,
                vec![build_info_series()],
            ),
            gauge(
                "pushgate_build_info",
                "pushgate version.",
                vec![series(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
            ),
        ];
        let requests = inner
            .requests
            .iter()
            .map(|((code, handler, method), n)| {
                let code = code.to_string();
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "counter values stay far below 2^52"
                )]
                series(
                    &[
                        ("code", code.as_str()),
                        ("handler", handler),
                        ("method", method),
                    ],
                    *n as f64,
                )
            })
            .collect();
        out.push(family(
            "pushgateway_http_requests_total",
            REQUESTS_HELP,
            MetricType::Counter,
            requests,
        ));
        out.push(summary_family(
            "pushgateway_http_push_duration_seconds",
            DURATION_HELP,
            &inner.durations,
        ));
        out.push(summary_family(
            "pushgateway_http_push_size_bytes",
            SIZE_HELP,
            &inner.sizes,
        ));
        out.extend(counter_families(&inner));
        #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
        {
            out.push(gauge(
                "pushgate_groups",
                "Groups in the store.",
                vec![series(&[], groups as f64)],
            ));
            out.push(gauge(
                "pushgate_series",
                "Series in the store, push-time series included.",
                vec![series(&[], series_count as f64)],
            ));
            out.push(gauge(
                "pushgate_consistency_index_series",
                "Series identities held for the duplicate check; 0 while every group has the same grouping label names.",
                vec![series(&[], indexed_series as f64)],
            ));
            out.push(gauge(
                "pushgate_store_generation",
                "Changes applied to the store since start.",
                vec![series(&[], generation as f64)],
            ));
        }
        out.extend(process_families(self.start_time));
        out.retain(|f| !f.series.is_empty());
        out
    }
}

/// The `pushgate_*_total` counters.
fn counter_families(inner: &Inner) -> Vec<StoredFamily> {
    let mut out = Vec::with_capacity(4);
    #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    let rejected = inner
        .rejected
        .iter()
        .map(|(r, n)| series(&[("reason", r)], *n as f64))
        .collect();
    out.push(family(
        "pushgate_pushes_rejected_total",
        "Pushes refused, by reason.",
        MetricType::Counter,
        rejected,
    ));
    #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    let expired = inner
        .expired
        .iter()
        .map(|(r, n)| series(&[("reason", r)], *n as f64))
        .collect();
    out.push(family(
            "pushgate_groups_expired_total",
            "Groups removed by expiry: missed_pushes (a Flink reporter group missed --flink.missed-pushes learned intervals) or ttl (--push.group-ttl).",
            MetricType::Counter,
            expired,
        ));
    #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    let swallowed = inner.swallowed as f64;
    out.push(family(
            "pushgate_pushes_after_delete_total",
            "Pushes answered but not stored because their Flink reporter group was deleted within --flink.delete-grace.",
            MetricType::Counter,
            vec![series(&[], swallowed)],
        ));
    #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    let scrapes = inner
        .scrapes
        .iter()
        .map(|((format, encoding), n)| {
            series(&[("encoding", encoding), ("format", format)], *n as f64)
        })
        .collect();
    out.push(family(
        "pushgate_scrapes_total",
        "Scrapes served, by negotiated format and content encoding.",
        MetricType::Counter,
        scrapes,
    ));
    out
}

const BUILD_INFO_HELP: &str = "A metric with a constant '1' value labeled by version, revision, branch, goversion from which pushgateway was built, and the goos and goarch for the build.";
const REQUESTS_HELP: &str = "Total HTTP requests processed by the Pushgateway, excluding scrapes.";
const DURATION_HELP: &str = "HTTP request duration for pushes to the Pushgateway.";
const SIZE_HELP: &str = "HTTP request size for pushes to the Pushgateway.";

fn build_info_series() -> Series {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    series(
        &[
            ("branch", ""),
            ("goarch", arch),
            ("goos", std::env::consts::OS),
            ("goversion", "rust"),
            ("revision", ""),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    )
}

fn series(labels: &[(&str, &str)], v: f64) -> Series {
    Series {
        labels: labels
            .iter()
            .map(|(n, v)| (Str::from(*n), Str::from(*v)))
            .collect(),
        value: Value::Scalar(v),
    }
}

fn family(name: &str, help: &str, kind: MetricType, series: Vec<Series>) -> StoredFamily {
    StoredFamily::new(Str::from(name), Some(Str::from(help)), kind, series, 0.0)
}

fn gauge(name: &str, help: &str, series: Vec<Series>) -> StoredFamily {
    family(name, help, MetricType::Gauge, series)
}

fn summary_family(
    name: &str,
    help: &str,
    windows: &BTreeMap<&'static str, Window>,
) -> StoredFamily {
    let series = windows
        .iter()
        .map(|(method, w)| Series {
            labels: vec![(Str::from("method"), Str::from(*method))].into(),
            value: Value::Summary(Box::new(w.summary())),
        })
        .collect();
    family(name, help, MetricType::Summary, series)
}

/// `process_*` metrics as the Go client exposes them, from `/proc/self` (Linux only; on
/// other systems only the start time is known).
fn process_families(start_time: f64) -> Vec<StoredFamily> {
    let mut out = vec![gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        vec![series(&[], start_time.floor())],
    )];
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may contain spaces) start after ") ".
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map_or(vec![], |(_, rest)| rest.split(' ').collect());
        let num = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime = field 14, stime = 15, vsize = 23, rss = 24 (1-based, so index - 3 here).
        let ticks = 100.0;
        out.push(family(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            MetricType::Counter,
            vec![series(&[], (num(11) + num(12)) / ticks)],
        ));
        out.push(gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            vec![series(&[], num(20))],
        ));
        out.push(gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            vec![series(&[], num(21) * 4096.0)],
        ));
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        #[allow(clippy::cast_precision_loss, reason = "fd counts are small")]
        let open = dir.count() as f64;
        out.push(gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            vec![series(&[], open)],
        ));
    }
    if let Some(max) = max_fds() {
        out.push(gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            vec![series(&[], max)],
        ));
    }
    out
}

fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limiter_lets_a_burst_through_then_counts_what_it_suppressed() {
        let limiter = LogLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(limiter.admit(at(0)), Some(0));
        assert_eq!(limiter.admit(at(1)), Some(0));
        assert_eq!(limiter.admit(at(2)), None);
        assert_eq!(limiter.admit(at(59)), None);
        // A new window: the first line carries the two suppressed events, once.
        assert_eq!(limiter.admit(at(60)), Some(2));
        assert_eq!(limiter.admit(at(61)), Some(0));
        assert_eq!(limiter.admit(at(62)), None);
    }

    #[test]
    fn log_limiter_window_starts_at_the_first_event_after_a_quiet_spell() {
        let limiter = LogLimiter::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(limiter.admit(at(0)), Some(0));
        assert_eq!(limiter.admit(at(100)), Some(0));
        assert_eq!(limiter.admit(at(105)), None);
        assert_eq!(limiter.admit(at(110)), Some(1));
    }
}
