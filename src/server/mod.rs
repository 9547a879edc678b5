//! The HTTP server: accept loop, connection handling and graceful shutdown.
//!
//! Owns: binding the listener (or taking systemd's, `--web.systemd-socket`), serving HTTP/1.1
//! and HTTP/2 (hyper-util's auto builder) on each connection, the header-read timeout, and
//! draining in-flight requests on shutdown ([`RunningServer::shutdown`]). With a web config
//! file, each connection's TLS handshake runs in its own task (see [`tls`]) and every request
//! passes [`auth::guard`] first.
//! Does not own: what requests mean (see [`routes`]).
//!
//! [`start`] binds and spawns the accept loop and returns at once with the bound address, so
//! tests start a server on port 0 and talk to it over real sockets.

pub mod admin;
pub mod api;
pub mod auth;
pub mod body;
pub mod encoding;
pub mod push;
pub mod render_pool;
pub mod response;
pub mod routes;
pub mod scrape;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::{Config, ListenAddr};
use crate::render::ScrapeCache;
use crate::store::Store;
use crate::telemetry::{SelfMetrics, BUILTIN_FAMILIES};

/// How long shutdown waits for in-flight requests.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(15);

/// Everything a request handler needs.
#[derive(Debug)]
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// The metric store.
    pub store: Store,
    /// Scrape output per store generation.
    pub cache: ScrapeCache,
    /// The gateway's own metrics.
    pub metrics: SelfMetrics,
    /// Derived Flink health signals (state fed by pushes, latest evaluation).
    pub signals: crate::flink::signals::Signals,
    /// Rollup rules and their per-generation cache.
    pub aggregator: Arc<crate::aggregate::Aggregator>,
    /// Low-priority threads for scrape rendering.
    pub render: render_pool::RenderPool,
    /// Compression of pushed families ahead of the next gzip scrape.
    pub prerender: scrape::Prerender,
    /// Sending `true` stops the server gracefully (signals, `/-/quit`).
    pub stop: watch::Sender<bool>,
    /// The remote-write metrics, one per endpoint (empty without remote write).
    pub remote_write: Vec<Arc<crate::remote_write::LaneMetrics>>,
    /// Unix seconds when the state was created (the status API's start time).
    pub started_at: f64,
    /// When the store was restored from disk (Unix seconds), 0 if it was not. Expiry counts
    /// missed pushes only from then on: reporters could not push while we were down.
    pub restored_at: std::sync::atomic::AtomicU64,
}

impl AppState {
    /// Fresh state for `config`.
    #[must_use]
    pub fn new(config: Config) -> AppState {
        let store = Store::with_limits(BUILTIN_FAMILIES, config.consistency_check, config.limits);
        let aggregator = config.aggregator.clone();
        let remote_write = config
            .remote_write
            .iter()
            .flat_map(|rw| &rw.endpoints)
            .map(|e| Arc::new(crate::remote_write::LaneMetrics::new(&e.url)))
            .collect();
        let signals = crate::flink::signals::Signals::new(config.signals.clone());
        let cache = ScrapeCache::new(crate::render::cache::RenderBudget::new(
            config.render_cache_bytes,
        ));
        AppState {
            signals,
            remote_write,
            config,
            store,
            cache,
            metrics: SelfMetrics::default(),
            aggregator,
            render: render_pool::RenderPool::default(),
            prerender: scrape::Prerender::default(),
            stop: watch::channel(false).0,
            started_at: crate::store::now_seconds(),
            restored_at: std::sync::atomic::AtomicU64::new(0f64.to_bits()),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Occurs when the persistence file cannot be restored.
    #[error(transparent)]
    Persistence(#[from] crate::persist::PersistError),
    /// Occurs when `--web.systemd-socket` is given but systemd passed no listening socket.
    #[error("--web.systemd-socket: {0}")]
    SystemdSocket(String),
    /// Occurs when the listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    persister: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl RunningServer {
    /// The bound address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (store, metrics).
    #[must_use]
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting, waits up to [`DRAIN_DEADLINE`] for in-flight requests, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.wait().await;
    }

    /// Waits until the server stops (after [`RunningServer::shutdown`] from elsewhere, or
    /// never).
    pub async fn wait(self) {
        let _ = self.task.await;
        // Persist after the drain, so pushes answered during it are in the file too.
        if let Some((stop, task)) = self.persister {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }

    /// A handle that can trigger shutdown from another task.
    #[must_use]
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

/// The listener systemd passed (`LISTEN_FDS`/`LISTEN_PID`, first descriptor 3), as
/// `--web.systemd-socket` asks. The Go gateway serves every passed socket; we serve the first.
fn systemd_listener() -> Result<TcpListener, ServerError> {
    let err = |msg: String| ServerError::SystemdSocket(msg);
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() > 1 {
        warn!(
            sockets = fds.len(),
            "systemd passed several sockets; serving the first only"
        );
    }
    let listener = fds
        .take_tcp_listener(0)
        .map_err(|e| err(format!("file descriptor 3 is not a TCP listener: {e}")))?
        .ok_or_else(|| err("no socket activation file descriptors found".into()))?;
    listener
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(listener))
        .map_err(|e| err(e.to_string()))
}

async fn bind(listen: ListenAddr) -> Result<TcpListener, ServerError> {
    let err = |addr: String| move |source| ServerError::Bind { addr, source };
    match listen {
        ListenAddr::Addr(addr) => TcpListener::bind(addr).await.map_err(err(addr.to_string())),
        ListenAddr::AnyInterface(port) => match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", port))
                .await
                .map_err(err(format!(":{port}"))),
        },
    }
}

/// Binds and starts serving in the background.
///
/// With `--persistence.file`, the store is restored first (so `/-/ready` never answers before
/// the restore) and a background task persists it.
///
/// # Errors
/// [`ServerError::Persistence`] when the file cannot be restored, [`ServerError::Bind`] when
/// the address cannot be bound, [`ServerError::SystemdSocket`] when systemd passed no socket.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    let state = Arc::new(AppState::new(config));
    let persister = match state.config.persistence_file.clone() {
        Some(path) => {
            let restored =
                crate::persist::restore(&state.store, &path, state.config.discard_corrupt)?;
            state.restored_at.store(
                crate::store::now_seconds().to_bits(),
                std::sync::atomic::Ordering::Relaxed,
            );
            let (groups, series) = state.store.counts();
            info!(file = %path.display(), ?restored, groups, series, "store restored");
            let (stop, stop_rx) = watch::channel(false);
            let task = tokio::spawn(crate::persist::run(
                state.store.clone(),
                path,
                state.config.persistence_interval,
                stop_rx,
                state.store.generation(),
            ));
            Some((stop, task))
        }
        None => None,
    };
    let listener = if state.config.systemd_socket {
        systemd_listener()?
    } else {
        bind(state.config.listen).await?
    };
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: format!("{:?}", state.config.listen),
        source,
    })?;
    let stop = state.stop.clone();
    let task = tokio::spawn(accept_loop(listener, state.clone(), stop.subscribe()));
    tokio::spawn(crate::flink::expiry::run(state.clone(), stop.subscribe()));
    if state.config.signals.enabled {
        tokio::spawn(crate::flink::signals::run(state.clone(), stop.subscribe()));
    }
    if let Some(rw) = &state.config.remote_write {
        // The tasks end by themselves when `stop` turns true; nothing waits for them: remote
        // write sends no final tick (the store persists, and a restart resumes sending).
        drop(crate::remote_write::sender::spawn(
            &state.store,
            rw,
            &state.remote_write,
            &stop.subscribe(),
        ));
        info!(
            endpoints = rw.endpoints.len(),
            interval_s = rw.interval.as_secs_f64(),
            "remote write enabled"
        );
    }
    let web = state.config.web_config.as_deref();
    for note in web.iter().flat_map(|w| &w.warnings) {
        warn!(file = %web.map(|w| w.path.display().to_string()).unwrap_or_default(), "web config: {note}");
    }
    info!(address = %addr, route_prefix = %state.config.route_prefix, consistency_check = state.config.consistency_check, tls = web.is_some_and(|w| w.tls.is_some()), basic_auth = web.is_some_and(|w| w.auth.is_some()), "listening");
    Ok(RunningServer {
        addr,
        state,
        stop,
        task,
        persister,
    })
}

async fn accept_with_permit(
    listener: &TcpListener,
    permits: &Arc<tokio::sync::Semaphore>,
) -> (
    std::io::Result<(tokio::net::TcpStream, SocketAddr)>,
    tokio::sync::OwnedSemaphorePermit,
) {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    (listener.accept().await, permit)
}

async fn accept_loop(listener: TcpListener, state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout)
        // A client may shut down its write side after the body (curl --data with some
        // proxies, netcat); it must still get its answer, as from the Go gateway.
        .half_close(true);
    // Connection limit (mini-redis style): a permit is taken before accepting, so clients
    // beyond the limit wait in the kernel's accept queue instead of costing us memory.
    let permits = Arc::new(tokio::sync::Semaphore::new(state.config.max_connections));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = accept_with_permit(&listener, &permits) => {
                let (accepted, permit) = accepted;
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (st, builder, watcher) = (state.clone(), builder.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let _permit = permit;
                    serve_connection(st, &builder, watcher, stream, peer).await;
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    drop(builder);
    info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => info!("all connections closed"),
        () = tokio::time::sleep(DRAIN_DEADLINE) => warn!(deadline_s = DRAIN_DEADLINE.as_secs(), "drain deadline passed; closing remaining connections"),
    }
}

/// Serves one connection: the TLS handshake first when the web config enables TLS (bounded by
/// the header-read timeout, so a client that never finishes it holds a permit only that long),
/// then HTTP, every request through [`auth::guard`].
async fn serve_connection(
    state: Arc<AppState>,
    builder: &Builder<TokioExecutor>,
    watcher: Watcher,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let tls = state.config.web_config.as_ref().and_then(|w| w.tls.clone());
    let deadline = state.config.header_read_timeout;
    let svc = service_fn(move |req| {
        let st = state.clone();
        async move {
            let mut resp = auth::guard(st, peer, req).await;
            // As Go's handlers set it on everything they answer, errors included.
            resp.headers_mut()
                .entry(hyper::header::X_CONTENT_TYPE_OPTIONS)
                .or_insert(hyper::header::HeaderValue::from_static("nosniff"));
            Ok::<_, Infallible>(resp)
        }
    });
    let served = match tls {
        None => {
            watcher
                .watch(builder.serve_connection(TokioIo::new(stream), svc))
                .await
        }
        Some(tls) => match tls.accept(stream, deadline).await {
            Ok(stream) => {
                watcher
                    .watch(builder.serve_connection(TokioIo::new(stream), svc))
                    .await
            }
            Err(e) => {
                debug!(peer = %peer, error = %e, "TLS handshake failed");
                return;
            }
        },
    };
    if let Err(e) = served {
        debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}
