//! Flink-style metrics for Rust programs, pushed to a Prometheus Pushgateway exactly as Apache
//! Flink's `PrometheusPushGatewayReporter` pushes them.
//!
//! # What it gives you
//!
//! - Flink's metric types: [`Counter`], [`Gauge`] (a value or a closure), [`Meter`] (events per
//!   second over 60 s, Flink's `MeterView`) and [`Histogram`] (a sliding window, exported as a
//!   summary with quantiles 0.5, 0.75, 0.95, 0.98, 0.99, 0.999 and `_count`, no `_sum`).
//! - Flink's scope tree: [`Registry::taskmanager`] -> [`MetricGroup::job`] ->
//!   [`MetricGroup::task`] -> [`MetricGroup::operator`], [`Registry::jobmanager`], user groups
//!   ([`MetricGroup::add_group`], [`MetricGroup::add_group_kv`]) and the configurable scope
//!   delimiter ([`RegistryConfig::delimiter`]).
//! - Flink's names and labels: `flink_` + logical scope + metric name with every character
//!   outside `[a-zA-Z0-9:_]` replaced by `_`; the scope variables (`host`, `tm_id`, `job_id`,
//!   `job_name`, `task_name`, `subtask_index`, `operator_name`, ...) as labels, in Flink's order.
//! - Flink's exact text: `# HELP <name> <metric> (scope: <scope>)`, label sets with a trailing
//!   comma, values as Java's `Double.toString` (`52.0`, `1.073741824E9`) via [`text`] and
//!   [`java`], usable on their own (the `pushgate-loadgen` load generator writes its bodies
//!   with them).
//! - Flink's push loop: [`PushReporter`] with `jobName`, `randomJobNameSuffix`,
//!   `deleteOnShutdown`, `groupingKey` and `interval` ([`PushConfig`]): `PUT` every interval
//!   over one HTTP/1.1 keep-alive connection, `DELETE` on shutdown.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use pushgate_reporter::{Histogram, Meter, PushConfig, PushReporter, Registry, TaskInfo};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), pushgate_reporter::PushError> {
//! let registry = Registry::new();
//! let tm = registry.taskmanager("localhost", "localhost:35339_ccf434");
//! let task = tm.job("20ec600b74941d944c1811e9d462b174", "my job").task(&TaskInfo {
//!     task_id: "cbc357ccb763df2852fee8c4fc7d55f2".into(),
//!     task_attempt_id: "0d72e9caa7503eaf7aa5bbab3bf8c261_cbc357ccb763df2852fee8c4fc7d55f2_0_0".into(),
//!     task_name: "Source: Kafka -> Map".into(),
//!     subtask_index: 0,
//!     attempt_number: 0,
//! });
//! let map = task.operator("7df19f87deec5680128845fd9a6ca18d", "Map");
//! let records = map.counter("numRecordsIn");
//! map.meter("numRecordsInPerSecond", Meter::with_counter(records.clone(), 60));
//! let latency = map.histogram("myLatency", Histogram::new(128));
//!
//! records.inc_by(42);
//! latency.update(7);
//! // flink_taskmanager_job_task_operator_numRecordsIn{job_id="...",...,} 42.0
//! println!("{}", String::from_utf8_lossy(&registry.render_to_vec()));
//!
//! let reporter = PushReporter::new(registry, PushConfig {
//!     host_url: "http://127.0.0.1:9091".into(),
//!     job_name: "myJob".into(),
//!     interval: Duration::from_secs(10),
//!     ..PushConfig::default()
//! })?;
//! let handle = reporter.spawn();
//! // ... run the program ...
//! handle.shutdown().await?; // DELETEs the group (deleteOnShutdown)
//! # Ok(())
//! # }
//! ```
//!
//! `examples/push.rs` is the runnable version: `cargo run -p pushgate-reporter --example push`.
//!
//! # Modules
//!
//! - [`metrics`]: the metric types.
//! - [`group`]: groups, variables, the registry and naming.
//! - [`text`]: the exposition writer.
//! - [`java`]: `Double.toString`, `HashMap` order, `URLEncoder` — the Java behaviours Flink's
//!   output inherits.
//! - [`push`]: the push loop.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::pedantic)]
#![allow(
    clippy::module_name_repetitions,
    reason = "PushConfig, PushError read better than push::Config at use sites"
)]
#![allow(
    clippy::missing_panics_doc,
    reason = "the only panics are `expect`s on invariants (unpoisoned locks), each saying why"
)]
#![allow(
    clippy::must_use_candidate,
    reason = "registration methods return the handle for convenience; ignoring it is fine"
)]
#![allow(
    clippy::doc_markdown,
    reason = "TaskManager and JobManager are Flink's process names in prose, not code"
)]

pub mod group;
pub mod java;
pub mod metrics;
pub mod push;
pub mod text;

pub use group::{MetricGroup, Registry, RegistryConfig, ScopeFormats, TaskInfo};
pub use metrics::{Counter, Gauge, Histogram, HistogramStatistics, Meter};
pub use push::{PushConfig, PushError, PushReporter, ReporterHandle};
pub use text::{Labels, MetricType, TextWriter};
