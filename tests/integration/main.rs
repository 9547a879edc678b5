//! The one integration-test binary: real pushgate servers on port 0, real HTTP.

mod support;

mod consistency;
mod flink_replay;
mod parse_errors;
mod persistence;
mod push;
mod routing;
mod scrape;
