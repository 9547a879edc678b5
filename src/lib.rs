//! pushgate: a fast, Flink-aware, drop-in replacement for the Prometheus Pushgateway.
//!
//! # Architecture
//!
//! One request flows through plain function calls on owned, typed data:
//!
//! ```text
//! server::routes -> server::push -> grouping::GroupingKey::from_path
//!     -> server::encoding (gzip/snappy, bounded) -> parse::{text,protobuf}
//!     -> flink::rename (scope delimiter, rename rules; cached per name)
//!     -> store::Store::apply (incremental consistency index) -> new Arc<Group>
//! server::scrape -> store::Store::snapshot -> render (cached bytes per group/family,
//!     per-generation scrape cache) -> response body of zero-copy chunks
//! ```
//!
//! - [`model`] holds the parsed form of a push, borrowing from the request body.
//! - [`parse`] has the body decoders (text exposition format 0.0.4, delimited protobuf);
//!   [`proto`] the generated `io.prometheus.client` types.
//! - [`grouping`] makes grouping keys from push paths.
//! - [`store`] keeps groups, the consistency index, interning.
//! - [`hash`] has the fast string hasher for maps that live within one request.
//! - [`render`] builds the merged exposition (text, OpenMetrics, protobuf; gzip).
//! - [`server`] serves HTTP: pushes, negotiated scrapes, the JSON API, admin and lifecycle.
//! - [`config`] and [`telemetry`] handle flags, logging and the gateway's own metrics;
//!   [`config_file`] reads the YAML file with rename and rollup rules; [`web_config`] the
//!   exporter-toolkit web config file (TLS, basic auth).
//! - [`remote_write`] sends the store to Prometheus-compatible TSDBs (Remote-Write 1.0).
//! - [`ui`] serves the web UI at `<prefix>/` (server-rendered pages, bounded in size).
//!
//! A push costs O(size of the push): the store checks it against indexes kept up to date
//! incrementally, never by re-gathering the store as the Go gateway does. A scrape re-renders
//! only families that changed since they were last rendered.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::pedantic)]
#![allow(
    clippy::module_name_repetitions,
    reason = "names like StoredFamily read better in other modules"
)]
#![allow(
    clippy::missing_panics_doc,
    reason = "the only panics are `expect`s on invariants (unpoisoned locks), each saying why"
)]

pub mod aggregate;
pub mod config;
pub mod config_file;
pub mod flink;
pub mod grouping;
pub mod hash;
pub mod model;
pub mod parse;
pub mod persist;
pub mod proto;
pub mod remote_write;
pub mod render;
pub mod server;
pub mod store;
pub mod telemetry;
#[doc(hidden)]
pub mod testing;
pub mod ui;
pub mod web_config;
