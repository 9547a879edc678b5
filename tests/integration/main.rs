//! The one integration-test binary: real pushgate servers on port 0, real HTTP.

mod support;

mod admin;
mod aggregate;
mod api;
mod compression;
mod consistency;
mod docs;
mod flink;
mod flink_replay;
mod flink_signals;
mod limits;
mod logging;
mod negotiation;
mod parse_errors;
mod persistence;
mod protobuf;
mod push;
mod remote_write;
mod rename;
mod routing;
mod scrape;
mod tls;
mod torture;
mod ui;
