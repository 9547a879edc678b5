//! Request routing: (method, path) to handler.
//!
//! Endpoints (all under `--web.route-prefix`):
//! - `PUT|POST|DELETE /metrics/job/<JOB>{/<LABEL>/<VALUE>}` and the `@base64` forms: push and
//!   delete (see [`super::push`]); `OPTIONS` answers with `Allow`, other methods 405.
//! - `GET <telemetry path>` (default `/metrics`): the merged scrape (see [`super::scrape`]).
//! - `GET <telemetry path>/aggregated`: the rollups only (see [`crate::aggregate`]).
//! - `GET /-/healthy`, `GET /-/ready`: 200 `OK` (see [`super::admin`]).
//! - `GET /api/v1/status`, `GET /api/v1/metrics`: the JSON API (see [`super::api`]);
//!   `GET /api/v1/groups`: per-group age, learned interval and expiry (a pushgate extension);
//!   `GET /api/v1/flink/jobs`: the latest Flink health signals per job and vertex (see
//!   [`crate::flink::signals`]);
//!   `OPTIONS /api/v1/<anything>`: 200 with the CORS headers.
//! - `PUT /api/v1/admin/wipe`: delete every group, 202; only with `--web.enable-admin-api`
//!   (404 without, as in Go).
//! - `PUT|POST /-/quit`: graceful shutdown with `--web.enable-lifecycle` (403 without; `GET`
//!   405).
//! - `GET /`, `GET /ui/ui.css`, `GET /ui/ui.js`: the web UI (see [`crate::ui`]); the prefix
//!   itself without its trailing slash redirects to `<prefix>/`.
//! - anything else: 404 `404 page not found`.
//!
//! Paths are matched on the raw (still percent-encoded) request path; the grouping-key parser
//! decodes it, as the Go gateway's router does.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request};

use super::response::{method_not_allowed, not_found, options, Resp};
use super::{admin, api, push, scrape, AppState};

const PUSH_ALLOW: &str = "DELETE, OPTIONS, POST, PUT";
const GET_ALLOW: &str = "GET, OPTIONS";

/// Routes one request.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_owned();
    let Some(rel) = strip_prefix(&path, &state.config.route_prefix) else {
        if !state.config.route_prefix.is_empty() && path == state.config.route_prefix {
            return crate::ui::redirect_to_slash(&state.config.route_prefix);
        }
        return not_found();
    };
    if rel == state.config.telemetry_path {
        return match *req.method() {
            Method::GET => scrape::scrape(&state, req.headers()).await,
            Method::OPTIONS => options(GET_ALLOW),
            _ => method_not_allowed(GET_ALLOW),
        };
    }
    if rel.strip_prefix(state.config.telemetry_path.as_str()) == Some("/aggregated") {
        return match *req.method() {
            Method::GET => scrape::aggregated(&state).await,
            Method::OPTIONS => options(GET_ALLOW),
            _ => method_not_allowed(GET_ALLOW),
        };
    }
    if let Some(rest) = rel.strip_prefix("/metrics/") {
        if rest.starts_with("job/") || rest.starts_with("job@base64/") {
            return match *req.method() {
                Method::PUT | Method::POST | Method::DELETE => {
                    push::push(&state, req, rest.to_owned()).await
                }
                Method::OPTIONS => options(PUSH_ALLOW),
                _ => method_not_allowed(PUSH_ALLOW),
            };
        }
    }
    if let Some(api_path) = rel.strip_prefix("/api/v1/") {
        return api_route(&state, &req, api_path).await;
    }
    if let Some(resp) = crate::ui::route(&state, &req, rel).await {
        return resp;
    }
    match rel {
        "/-/healthy" | "/-/ready" => admin::health(&state, &req, rel),
        "/-/quit" => admin::quit(&state, &req),
        _ => not_found(),
    }
}

async fn api_route(state: &Arc<AppState>, req: &Request<Incoming>, path: &str) -> Resp {
    if req.method() == Method::OPTIONS {
        return api::options();
    }
    match path {
        "status" if req.method() == Method::GET => api::status(state),
        "metrics" if req.method() == Method::GET => api::metrics(state).await,
        "groups" if req.method() == Method::GET => api::groups(state, req.uri().query()),
        "flink/jobs" if req.method() == Method::GET => api::flink_jobs(state),
        "status" | "metrics" | "groups" | "flink/jobs" => method_not_allowed(GET_ALLOW),
        "admin/wipe" if state.config.enable_admin_api => admin::wipe(state, req),
        _ => not_found(),
    }
}

fn strip_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(path);
    }
    path.strip_prefix(prefix)
        .filter(|rest| rest.starts_with('/'))
}
