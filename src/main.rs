//! The `pushgate` binary: parse flags, set up logging, serve until SIGINT/SIGTERM.

use anyhow::Context;
use clap::Parser;
use pushgate::config::Args;
use tracing::info;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.version {
        print!("{}", pushgate::config::version_text());
        return Ok(());
    }
    let config = args.validate().context("invalid flags")?;
    pushgate::telemetry::init_tracing(&config.log_level, config.log_format);
    pushgate::telemetry::log_startup(&config);
    let server = pushgate::server::start(config)
        .await
        .context("starting the server")?;
    let stop = server.stopper();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("signal received");
        let _ = stop.send(true);
    });
    server.wait().await;
    info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler succeeds on unix");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// jemalloc instead of glibc's malloc. At millions of series a push allocates and frees tens of
/// megabytes (body, parse, new families) on whichever worker thread runs it, and glibc's
/// per-thread arenas kept that memory resident as fragments: 767 MB after loading 4.9M series
/// against 601 MB with jemalloc, 1.4-1.7 GiB against 1.03 GiB peak in the steady-state bench
/// (BENCHMARKS.md). Its decay settings are in `.cargo/config.toml`.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
