//! Generates the Rust types of `proto/metrics.proto` (the `io.prometheus.client` schema) and
//! `proto/remote.proto` (Remote-Write 1.0, for decoding in tests) with prost-build.
//! protox compiles the schema in pure Rust, so no `protoc` is needed anywhere.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto/metrics.proto");
    println!("cargo:rerun-if-changed=proto/remote.proto");
    let descriptors = protox::compile(["proto/metrics.proto", "proto/remote.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
