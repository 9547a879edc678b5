//! `pushgate-loadgen`: a Flink-shaped load generator for any Pushgateway-compatible server.
//!
//! Simulates N Flink TaskManagers and one JobManager, each pushing its whole metric set (built
//! with the `pushgate-reporter` crate, byte-for-byte in Flink's format) to its own grouping key,
//! while optional scrapers read `/metrics`. The same run measures pushgate or the Go
//! Pushgateway.
//!
//! ```sh
//! # 100 TaskManagers of ~5,000 series pushing every 10 s, one scraper every second
//! pushgate-loadgen --groups 100 --preset medium --interval 10s --scrapers 1 --duration 60s
//! # throughput: 4 connections as fast as possible, rotating over 100 preloaded groups
//! pushgate-loadgen --groups 100 --preload 100 --rate max --connections 4 --duration 20s --json
//! # steady state: 100 TaskManagers x 50k series preloaded, each re-pushed every 10 s
//! # (10 pushes/s, 500k samples/s), a gzip scrape every 5 s
//! pushgate-loadgen --scenario steady --groups 100 --preset large --interval 10s \
//!     --scrape-interval 5s --duration 120s --server-pid "$(pidof pushgate)" --json
//! ```
//!
//! `--scenario steady` is shorthand, and every flag it implies can be given alone: it preloads
//! every group (`--preload <groups>`), pushes each one every `--interval` (so it refuses
//! `--rate`), runs one scraper (`--scrapers 1`, unless more are asked for) every
//! `--scrape-interval`, and asks for gzip (`--gzip`, unless `--no-gzip`). `--accept` picks the
//! exposition format scraped (text 0.0.4, OpenMetrics 1.0.0 or delimited protobuf).
//!
//! The summary (`--json`) holds the run's settings (`target`, `scenario`, `schedule`,
//! `interval_s`, `pushes_expected_per_s`, `connections`, `layout`, `series_per_tm`,
//! `body_bytes_per_tm`, `jm_series`, `groups`, `preload_groups`, `stored_series`, `scrapers`,
//! `scrape_interval_s`, `scrape_accept`, `gzip_requested`, `timeout_s`), the preload
//! (`preload_seconds`, `preload_errors`), `delete_errors`, and the measurements listed in
//! `stats`.
//!
//! Modules: `model` (Flink metric sets and presets), `run` (schedules and bounds), `http`
//! (timed requests), `stats` (hdrhistogram latencies, RSS, progress and summary).
//!
//! Targets are restricted to loopback addresses, every request loop stops at `--duration` or
//! after `--max-requests`, whichever comes first.

#![forbid(unsafe_code)]
#![warn(clippy::pedantic)]
#![allow(
    clippy::cast_precision_loss,
    reason = "statistics over counts far below 2^52"
)]
#![allow(
    clippy::doc_markdown,
    reason = "TaskManager and JobManager are Flink's process names in prose, not code"
)]
#![allow(
    clippy::missing_errors_doc,
    clippy::missing_panics_doc,
    reason = "a binary; errors go to the user through anyhow"
)]

mod http;
mod model;
mod run;
mod stats;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use hyper::Uri;
use pushgate_reporter::push::{job_with_suffix, push_path};
use serde_json::json;

use crate::http::ScrapeFormat;
use crate::model::{Layout, Process};
use crate::run::{Group, Plan, Schedule};
use crate::stats::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Preset {
    /// About 500 series per TaskManager.
    Small,
    /// About 5,000 series per TaskManager.
    Medium,
    /// About 50,000 series per TaskManager.
    Large,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Preload every group, re-push each every --interval, one gzip scraper every
    /// --scrape-interval.
    Steady,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PathStyle {
    /// `/metrics/job/<job-name><32 hex>` per process, as Flink's `randomJobNameSuffix: true`.
    Suffix,
    /// `/metrics/job/<job-name>/instance/<process>`.
    Instance,
}

/// Flink-shaped load for a Pushgateway-compatible server.
#[derive(Debug, Parser)]
#[command(name = "pushgate-loadgen", version, about)]
#[allow(clippy::struct_excessive_bools, reason = "independent CLI switches")]
struct Args {
    /// Base URL of the gateway (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:9091")]
    target: String,
    /// A named scenario: `steady` = --preload <groups>, pushes on --interval, at least one
    /// scraper, --gzip (unless --no-gzip).
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
    /// Metric set per TaskManager.
    #[arg(long, value_enum, default_value = "medium")]
    preset: Preset,
    /// Override the preset: jobs per TaskManager.
    #[arg(long)]
    jobs: Option<usize>,
    /// Override the preset: tasks (job vertices) per job.
    #[arg(long)]
    tasks: Option<usize>,
    /// Override the preset: subtasks of each task per TaskManager (slots).
    #[arg(long)]
    slots: Option<usize>,
    /// Override the preset: chained operators per task.
    #[arg(long)]
    ops_per_task: Option<usize>,
    /// Override the preset: Kafka partitions per source subtask.
    #[arg(long)]
    partitions: Option<usize>,
    /// Simulated TaskManagers pushing (one grouping key each); pushes rotate over them.
    #[arg(long, visible_alias = "tms", default_value_t = 10)]
    groups: usize,
    /// Do not simulate the JobManager (one extra, small group).
    #[arg(long)]
    no_jobmanager: bool,
    /// Push each of the first N TaskManagers once before measuring (N may exceed --groups).
    #[arg(long, default_value_t = 0)]
    preload: usize,
    /// Every group pushes every INTERVAL, first at a random offset (default 10s unless --rate).
    #[arg(long, value_parser = parse_duration)]
    interval: Option<Duration>,
    /// Interval jitter, as a fraction of the interval.
    #[arg(long, default_value_t = 0.1)]
    jitter: f64,
    /// `max` (back to back) or pushes per second in total, over --connections; 0 = no pushes.
    #[arg(long)]
    rate: Option<String>,
    /// Concurrent pushers for --rate and --preload.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Concurrent scrapers of /metrics.
    #[arg(long, default_value_t = 0)]
    scrapers: usize,
    /// Time between scrape starts per scraper (0 = back to back).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    scrape_interval: Duration,
    /// Ask for gzip (`Accept-Encoding: gzip`) when scraping.
    #[arg(long, conflicts_with = "no_gzip")]
    gzip: bool,
    /// Do not ask for gzip, even with --scenario steady.
    #[arg(long)]
    no_gzip: bool,
    /// Exposition format asked for in `Accept` when scraping.
    #[arg(long, value_enum, default_value = "text")]
    accept: ScrapeFormat,
    /// Path scraped.
    #[arg(long, default_value = "/metrics")]
    scrape_path: String,
    /// How long to measure (after the preload and any --warmup).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    duration: Duration,
    /// Run the pushes and scrapes this long before measuring (after the preload): steady-state
    /// figures then leave out the start-up, the first cold scrape included. The warm-up's own
    /// push and scrape figures are reported under `warmup`; RSS max covers both phases.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// Stop after this many requests in the measured phase.
    #[arg(long, default_value_t = 10_000_000)]
    max_requests: u64,
    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    /// PID of the server, to read its RSS from /proc every second.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Job name; Flink's `jobName`.
    #[arg(long, default_value = "flink")]
    job_name: String,
    /// How processes map to grouping keys.
    #[arg(long, value_enum, default_value = "suffix")]
    path_style: PathStyle,
    /// Leave the groups behind instead of deleting them at the end (Flink's deleteOnShutdown).
    #[arg(long)]
    no_delete: bool,
    /// Memory for pre-rendered bodies in --rate mode; below 2 variants per group, bodies are
    /// rendered at push time.
    #[arg(long, default_value_t = 1024)]
    body_cache_mb: usize,
    /// Seed for job, task and operator ids.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print the summary as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
    /// Print the body of TaskManager 0 to stdout and exit (no network).
    #[arg(long)]
    print_body: bool,
    /// Print series counts and body sizes and exit (no network).
    #[arg(long)]
    dry_run: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (try 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in {text:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

impl Args {
    /// Fills in what `--scenario` implies.
    fn apply_scenario(&mut self) -> Result<()> {
        match self.scenario {
            None => {}
            Some(Scenario::Steady) => {
                if self.rate.is_some() {
                    bail!("--scenario steady pushes every --interval; it takes no --rate");
                }
                if self.preload == 0 {
                    self.preload = self.groups;
                }
                self.scrapers = self.scrapers.max(1);
                self.gzip = !self.no_gzip;
            }
        }
        Ok(())
    }

    fn layout(&self) -> Layout {
        let base = match self.preset {
            Preset::Small => Layout::SMALL,
            Preset::Medium => Layout::MEDIUM,
            Preset::Large => Layout::LARGE,
        };
        Layout {
            jobs: self.jobs.unwrap_or(base.jobs),
            tasks: self.tasks.unwrap_or(base.tasks).max(1),
            slots: self.slots.unwrap_or(base.slots),
            ops_per_task: self.ops_per_task.unwrap_or(base.ops_per_task).max(1),
            partitions: self.partitions.unwrap_or(base.partitions),
        }
    }

    fn schedule(&self) -> Result<Schedule> {
        match (&self.rate, self.interval) {
            (Some(_), Some(_)) => bail!("--rate and --interval exclude each other"),
            (None, interval) => Ok(Schedule::Interval {
                every: interval.unwrap_or(Duration::from_secs(10)),
                jitter: self.jitter.clamp(0.0, 1.0),
            }),
            (Some(rate), None) if rate == "max" => Ok(Schedule::Rate { per_second: None }),
            (Some(rate), None) => {
                let r: f64 = rate.parse().context("--rate is `max` or a number")?;
                if r <= 0.0 {
                    Ok(Schedule::Off)
                } else {
                    Ok(Schedule::Rate {
                        per_second: Some(r),
                    })
                }
            }
        }
    }
}

/// Only loopback targets: this tool generates heavy traffic.
fn check_loopback(uri: &Uri) -> Result<()> {
    let host = uri.host().context("--target needs a host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--target {uri} is not a loopback address; only 127.0.0.0/8, ::1 and localhost are allowed");
    }
    if uri.scheme_str() != Some("http") {
        bail!("--target must be http://");
    }
    Ok(())
}

/// Builds the processes on all cores: `[jm?, tm0, tm1, ...]`.
fn build_processes(args: &Args, layout: &Layout, tms: usize) -> Vec<Process> {
    let threads = args.threads.max(1);
    let mut processes: Vec<Option<Process>> = (0..tms).map(|_| None).collect();
    std::thread::scope(|scope| {
        for (t, chunk) in processes
            .chunks_mut(tms.div_ceil(threads).max(1))
            .enumerate()
        {
            let base = t * tms.div_ceil(threads).max(1);
            scope.spawn(move || {
                for (i, slot) in chunk.iter_mut().enumerate() {
                    *slot = Some(model::taskmanager(layout, args.seed, base + i));
                }
            });
        }
    });
    let mut all = Vec::with_capacity(tms + 1);
    if !args.no_jobmanager {
        all.push(model::jobmanager(layout, args.seed, tms));
    }
    all.extend(processes.into_iter().map(|p| p.expect("every slot built")));
    all
}

fn group_uri(args: &Args, base: &str, process: &Process) -> Result<Uri> {
    let path = match args.path_style {
        PathStyle::Suffix => push_path(&job_with_suffix(&args.job_name, true), &[]),
        PathStyle::Instance => push_path(
            &args.job_name,
            &[("instance".to_owned(), process.name.clone())],
        ),
    };
    format!("{base}{path}")
        .parse()
        .with_context(|| format!("push URL from {base}"))
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    args.apply_scenario()?;
    let layout = args.layout();
    let schedule = args.schedule()?;
    let base = args.target.trim_end_matches('/').to_owned();
    let target: Uri = base.parse().context("--target is not a URL")?;
    check_loopback(&target)?;
    if args.duration + args.warmup > Duration::from_secs(3600) {
        bail!("--duration plus --warmup is at most 1h");
    }
    if args.print_body {
        let tm = model::taskmanager(&layout, args.seed, 0);
        let mut body = Vec::new();
        tm.render(&mut body);
        std::io::Write::write_all(&mut std::io::stdout(), &body)?;
        return Ok(());
    }
    let Some((plan, mut info)) = setup(&args, &layout, schedule, &base)? else {
        return Ok(());
    };
    let stats = Arc::new(Stats::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let outcome = runtime.block_on(run::run(plan, stats.clone()));

    let mut summary = stats.summary(outcome.measured_seconds);
    info.extend([
        (
            "preload_seconds".to_owned(),
            json!((outcome.preload_seconds * 1000.0).round() / 1000.0),
        ),
        ("preload_errors".to_owned(), json!(outcome.preload_errors)),
        ("delete_errors".to_owned(), json!(outcome.delete_errors)),
        (
            "warmup".to_owned(),
            outcome.warmup.unwrap_or(serde_json::Value::Null),
        ),
    ]);
    if let Some(map) = summary.as_object_mut() {
        map.extend(info);
    }
    if args.json {
        println!("{summary}");
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// Groups pushed in the measured phase: the TaskManagers asked for, and the JobManager.
fn active_of(args: &Args, jm: usize, tms: usize) -> usize {
    (args.groups + jm).min(tms + jm)
}

/// Builds the processes, their URLs and bodies. `None` after `--dry-run`.
fn setup(
    args: &Args,
    layout: &Layout,
    schedule: Schedule,
    base: &str,
) -> Result<Option<(Plan, serde_json::Map<String, serde_json::Value>)>> {
    let tms = args.groups.max(args.preload).max(1);
    let started = std::time::Instant::now();
    let processes = build_processes(args, layout, tms);
    let jm = usize::from(!args.no_jobmanager);
    let tm_series = processes[jm].series();
    let tm_body = {
        let mut body = Vec::new();
        processes[jm].render(&mut body);
        body.len()
    };
    let total_series: usize = processes.iter().map(Process::series).sum();
    let active = active_of(args, jm, tms);
    let preload = if args.preload > 0 {
        args.preload + jm
    } else {
        0
    };
    let interval = match schedule {
        Schedule::Interval { every, .. } => Some(every.as_secs_f64()),
        _ => None,
    };
    let info = json!({
        "target": base,
        "scenario": args.scenario.map(|s| format!("{s:?}").to_lowercase()),
        "schedule": format!("{schedule:?}"),
        "interval_s": interval,
        "pushes_expected_per_s": interval.map(|i| (active_of(args, jm, tms) as f64 / i * 1000.0).round() / 1000.0),
        "connections": args.connections,
        "layout": {
            "jobs": layout.jobs, "tasks": layout.tasks, "slots": layout.slots,
            "ops_per_task": layout.ops_per_task, "partitions": layout.partitions,
        },
        "series_per_tm": tm_series,
        "body_bytes_per_tm": tm_body,
        "jm_series": if jm == 1 { processes[0].series() } else { 0 },
        "groups": active,
        "preload_groups": preload,
        "stored_series": total_series,
        "scrapers": args.scrapers,
        "scrape_interval_s": args.scrape_interval.as_secs_f64(),
        "scrape_accept": format!("{:?}", args.accept).to_lowercase(),
        "gzip_requested": args.gzip,
        "timeout_s": args.timeout.as_secs_f64(),
        "warmup_s": args.warmup.as_secs_f64(),
    });
    let serde_json::Value::Object(info) = info else {
        unreachable!("json! of an object literal is an object")
    };
    if args.dry_run {
        println!("{}", serde_json::Value::Object(info));
        return Ok(None);
    }
    let mut groups = Vec::with_capacity(processes.len());
    for process in processes {
        groups.push(Group::new(group_uri(args, base, &process)?, process));
    }
    let variants = prerender_variants(args, schedule, tm_body, active);
    if variants > 0 {
        prerender(&mut groups[..active], variants, args.threads);
    }
    if !args.quiet {
        eprintln!(
            "{} processes ({tms} TMs x {tm_series} series, {:.2} MB body; {total_series} series \
             in all), {variants} pre-rendered bodies per group, set up in {:.1} s",
            groups.len(),
            tm_body as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    let plan = Plan {
        groups: groups.into_iter().map(Arc::new).collect(),
        active,
        preload,
        schedule,
        connections: args.connections.max(1),
        duration: args.duration,
        warmup: args.warmup,
        max_requests: args.max_requests,
        timeout: args.timeout,
        scrapers: args.scrapers,
        scrape_interval: args.scrape_interval,
        scrape_uri: format!("{base}{}", args.scrape_path)
            .parse()
            .context("scrape URL")?,
        scrape_format: args.accept,
        gzip: args.gzip,
        server_pid: args.server_pid,
        delete_on_exit: !args.no_delete,
        quiet: args.quiet,
    };
    Ok(Some((plan, info)))
}

/// Variants to pre-render per active group: up to 4 in --rate mode while they fit the cache,
/// otherwise 0 (render at push time).
fn prerender_variants(args: &Args, schedule: Schedule, body_bytes: usize, active: usize) -> usize {
    if !matches!(schedule, Schedule::Rate { .. }) {
        return 0;
    }
    let budget = args.body_cache_mb * 1_000_000;
    let fit = budget / (body_bytes * active).max(1);
    if fit >= 2 {
        fit.min(4)
    } else {
        0
    }
}

fn prerender(groups: &mut [Group], variants: usize, threads: usize) {
    let chunk = groups.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for part in groups.chunks_mut(chunk) {
            scope.spawn(move || {
                for g in part {
                    g.prerender(variants);
                }
            });
        }
    });
}

fn print_summary(s: &serde_json::Value) {
    let get = |path: &str| s.pointer(path).cloned().unwrap_or(serde_json::Value::Null);
    println!(
        "target      {}  scenario {}  schedule {}  groups {}  series/TM {}",
        get("/target"),
        get("/scenario"),
        get("/schedule"),
        get("/groups"),
        get("/series_per_tm")
    );
    println!(
        "preload     {} groups in {} s, {} errors",
        get("/preload_groups"),
        get("/preload_seconds"),
        get("/preload_errors")
    );
    println!(
        "pushes      {} in {} s: {} pushes/s (expected {}, {} late), {} samples/s, {} MB/s",
        get("/pushes"),
        get("/seconds"),
        get("/pushes_per_s"),
        get("/pushes_expected_per_s"),
        get("/pushes_late"),
        get("/samples_per_s"),
        get("/push_mb_per_s")
    );
    println!("push ms     {}", get("/push_latency_ms"));
    println!("errors      {}  {}", get("/errors"), get("/error_samples"));
    println!(
        "scrapes     {} ({} over the interval)  encoding {}  content type {}",
        get("/scrapes"),
        get("/scrapes_over_interval"),
        get("/scrape_encoding"),
        get("/scrape_content_type")
    );
    println!("scrape ms   {}", get("/scrape_latency_ms"));
    println!("first byte  {}", get("/scrape_ttfb_ms"));
    println!("scrape B    {}", get("/scrape_bytes"));
    println!("first       {}", get("/scrape_first"));
    println!(
        "lines       {} (min {} max {})",
        get("/scrape_lines_avg"),
        get("/scrape_lines_min"),
        get("/scrape_lines_max")
    );
    println!("server RSS  {} MiB", get("/server_rss_mib"));
    println!(
        "server CPU  {}  loadgen cores {}",
        get("/server_cpu"),
        get("/loadgen_cpu_cores")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("10 parsecs").is_err());
    }

    #[test]
    fn loopback_only() {
        let ok = |s: &str| check_loopback(&s.parse().expect("uri")).is_ok();
        assert!(ok("http://127.0.0.1:9091"));
        assert!(ok("http://127.3.2.1:1"));
        assert!(ok("http://localhost:9091"));
        assert!(ok("http://[::1]:9091"));
        assert!(!ok("http://10.0.0.1:9091"));
        assert!(!ok("http://example.com:9091"));
        assert!(!ok("https://127.0.0.1:9091"));
    }

    #[test]
    fn steady_scenario() {
        let parse = |extra: &[&str]| {
            let mut args = Args::try_parse_from(
                ["pushgate-loadgen", "--scenario", "steady", "--groups", "7"]
                    .iter()
                    .chain(extra),
            )
            .expect("valid flags");
            args.apply_scenario().map(|()| args)
        };
        let args = parse(&[]).expect("steady");
        assert_eq!(args.preload, 7);
        assert_eq!(args.scrapers, 1);
        assert!(args.gzip);
        assert!(matches!(
            args.schedule(),
            Ok(Schedule::Interval { every, .. }) if every == Duration::from_secs(10)
        ));
        let args = parse(&["--no-gzip", "--scrapers", "2", "--preload", "3"]).expect("steady");
        assert!(!args.gzip);
        assert_eq!((args.scrapers, args.preload), (2, 3));
        assert!(parse(&["--rate", "max"]).is_err());
        let accept = Args::try_parse_from(["x", "--accept", "protobuf"]).expect("valid");
        assert_eq!(accept.accept, ScrapeFormat::Protobuf);
        assert!(Args::try_parse_from(["x", "--gzip", "--no-gzip"]).is_err());
    }
}
