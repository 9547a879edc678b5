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
//! - `GET /`, `GET /status`, `GET /ui/ui.css`, `GET /ui/ui.js`: the web UI (see
//!   [`crate::ui`]; `/status` is its status page, where Go's UI has it); the prefix itself
//!   without its trailing slash redirects to `<prefix>/`.
//! - a path that is not clean (`//`, `.` or `..` segments): `301` to the cleaned path, any
//!   method; `GET` of an endpoint above with a trailing slash: `301` without it;
//!   `PUT|POST|DELETE /metrics/job/` (no job): `307` to `/metrics/job` (Go's routers).
//! - anything else: 404 `404 page not found`.
//!
//! Paths are matched on the raw (still percent-encoded) request path; the grouping-key parser
//! decodes it, as the Go gateway's router does.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, StatusCode};

use super::response::{holding, method_not_allowed, not_found, options, status, text, Resp};
use super::{admin, api, push, scrape, AppState};

const PUSH_ALLOW: &str = "DELETE, OPTIONS, POST, PUT";
const GET_ALLOW: &str = "GET, OPTIONS";

/// Routes one request. Only pushes read the request body; every other answer holds it until
/// sent (see [`super::body`]).
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_owned();
    if let Some(resp) = redirect(&state, req.method(), &path, req.uri().query()) {
        return holding(resp, req.into_body(), &state.config);
    }
    if matches!(*req.method(), Method::PUT | Method::POST | Method::DELETE) {
        if let Some(rest) = push_path(&state, &path) {
            return push::push(&state, req, rest.to_owned()).await;
        }
    }
    let resp = route(&state, &req, &path).await;
    holding(resp, req.into_body(), &state.config)
}

/// The part after `<prefix>/metrics/` of a push path.
fn push_path<'a>(state: &AppState, path: &'a str) -> Option<&'a str> {
    let rest = strip_prefix(path, &state.config.route_prefix)?.strip_prefix("/metrics/")?;
    (rest.starts_with("job/") || rest.starts_with("job@base64/")).then_some(rest)
}

/// The redirects of the Go gateway's routers, answered before any handler runs:
/// - `301` to the cleaned path (`//` and `.`/`..` segments removed, a trailing slash kept)
///   for any method, as Go's `http.ServeMux` does in front of the gateway's router;
/// - `301` for a `GET` of a known endpoint with a trailing slash (`/metrics/`), and `307` for
///   a push to `/metrics/job/` without a job, as the gateway's router (httprouter) does.
fn redirect(state: &AppState, method: &Method, path: &str, query: Option<&str>) -> Option<Resp> {
    let cleaned = clean_path(path);
    if cleaned != path {
        return Some(moved(
            StatusCode::MOVED_PERMANENTLY,
            method,
            &cleaned,
            query,
        ));
    }
    let rel = strip_prefix(path, &state.config.route_prefix)?;
    let trimmed = rel.strip_suffix('/').filter(|t| !t.is_empty())?;
    let target = || format!("{}{trimmed}", state.config.route_prefix);
    match *method {
        Method::GET if is_get_endpoint(state, trimmed) => Some(moved(
            StatusCode::MOVED_PERMANENTLY,
            method,
            &target(),
            query,
        )),
        Method::PUT | Method::POST | Method::DELETE
            if trimmed == "/metrics/job" || trimmed == "/metrics/job@base64" =>
        {
            Some(moved(
                StatusCode::TEMPORARY_REDIRECT,
                method,
                &target(),
                query,
            ))
        }
        _ => None,
    }
}

/// Whether `rel` is an endpoint that answers `GET` (the trailing-slash redirect's targets).
fn is_get_endpoint(state: &AppState, rel: &str) -> bool {
    let telemetry = state.config.telemetry_path.as_str();
    rel == telemetry
        || rel.strip_prefix(telemetry) == Some("/aggregated")
        || matches!(
            rel,
            "/-/healthy"
                | "/-/ready"
                | "/status"
                | "/api/v1/status"
                | "/api/v1/metrics"
                | "/api/v1/groups"
                | "/api/v1/flink/jobs"
        )
}

/// A redirect as Go's `http.Redirect` writes it: `Location` is the path (plus the query), and
/// a `GET` gets a tiny HTML body with the link.
fn moved(code: StatusCode, method: &Method, path: &str, query: Option<&str>) -> Resp {
    let location = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut r = if *method == Method::GET {
        let mut r = text(code, "");
        let mut href = String::new();
        crate::ui::html::esc(&mut href, &location);
        *r.body_mut() = format!("<a href=\"{href}\">{}</a>.\n\n", reason(code)).into();
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    } else {
        status(code)
    };
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

fn reason(code: StatusCode) -> &'static str {
    code.canonical_reason().unwrap_or("Redirect")
}

/// `path` cleaned as Go's `http.ServeMux` cleans it (`path.Clean`, then the trailing slash put
/// back): repeated slashes collapse, `.` segments go, `..` removes the segment before it.
fn clean_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() || path.ends_with('/') {
        out.push('/');
    }
    out
}

/// Routes a request that is not a push: nothing here reads the request body.
async fn route(state: &Arc<AppState>, req: &Request<Incoming>, path: &str) -> Resp {
    let Some(rel) = strip_prefix(path, &state.config.route_prefix) else {
        if !state.config.route_prefix.is_empty() && path == state.config.route_prefix {
            return crate::ui::redirect_to_slash(&state.config.route_prefix);
        }
        return not_found();
    };
    if rel == state.config.telemetry_path {
        return match *req.method() {
            Method::GET => scrape::scrape(state, req.headers()).await,
            Method::OPTIONS => options(GET_ALLOW),
            _ => method_not_allowed(GET_ALLOW),
        };
    }
    if rel.strip_prefix(state.config.telemetry_path.as_str()) == Some("/aggregated") {
        return match *req.method() {
            Method::GET => scrape::aggregated(state).await,
            Method::OPTIONS => options(GET_ALLOW),
            _ => method_not_allowed(GET_ALLOW),
        };
    }
    if let Some(rest) = rel.strip_prefix("/metrics/") {
        if rest.starts_with("job/") || rest.starts_with("job@base64/") {
            return match *req.method() {
                Method::OPTIONS => options(PUSH_ALLOW),
                _ => method_not_allowed(PUSH_ALLOW),
            };
        }
    }
    if let Some(api_path) = rel.strip_prefix("/api/v1/") {
        return api_route(state, req, api_path).await;
    }
    if let Some(resp) = crate::ui::route(state, req, rel).await {
        return resp;
    }
    match rel {
        "/-/healthy" | "/-/ready" => admin::health(state, req, rel),
        "/-/quit" => admin::quit(state, req),
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
