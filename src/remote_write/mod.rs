//! Remote write: sends the whole store to Prometheus-compatible TSDBs (Prometheus, Mimir,
//! Cortex, Thanos Receive, `VictoriaMetrics`) with the Remote-Write 1.0 protocol.
//!
//! Owns: the `--remote-write.*` settings ([`config`]), the encoder from store snapshots to
//! protobuf batches with stale markers ([`encode`]), the HTTP client ([`client`]), the per-URL
//! ticker, queue and retries ([`sender`]) and the `pushgate_remote_write_*` metrics
//! ([`metrics`]).
//! Does not own: the store (it only reads `Store::snapshot`) or HTTP serving.
//!
//! Data flow: every `--remote-write.interval`, each URL's ticker takes a snapshot (cheap: the
//! group `Arc`s) and queues it with one strictly increasing timestamp. The URL's sender plans
//! the tick on a blocking thread (label bytes cached per series, stale markers for rows gone
//! since the last acknowledged tick), streams it as bounded snappy-block batches, and
//! acknowledges it when every batch was accepted or dropped. The semantics are those of a
//! Prometheus that scrapes the gateway with `honor_labels: true` and remote-writes the result:
//! pushed labels (empty values dropped), `push_time_seconds` and `push_failure_time_seconds`
//! included, external labels added where absent. Design notes: `../shared/REMOTE-WRITE.md`.

pub mod client;
pub mod config;
pub mod encode;
pub mod metrics;
pub mod sender;

pub use config::{RemoteWriteArgs, RemoteWriteConfig, RemoteWriteFile};
pub use metrics::LaneMetrics;
