//! Request routing: (method, path) to handler.
//!
//! Endpoints (all under `--web.route-prefix`):
//! - `PUT|POST|DELETE /metrics/job/<JOB>{/<LABEL>/<VALUE>}` and the `@base64` forms: push and
//!   delete (see [`super::push`]); `OPTIONS` answers with `Allow`, other methods 405.
//! - `GET <telemetry path>` (default `/metrics`): the merged scrape (see [`super::scrape`]).
//! - `GET /-/healthy`, `GET /-/ready`: 200 `OK` (see [`super::admin`]).
//! - anything else: 404 `404 page not found`.
//!
//! Paths are matched on the raw (still percent-encoded) request path; the grouping-key parser
//! decodes it, as the Go gateway's router does.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request};

use super::response::{method_not_allowed, not_found, options, Resp};
use super::{admin, push, scrape, AppState};

const PUSH_ALLOW: &str = "DELETE, OPTIONS, POST, PUT";
const GET_ALLOW: &str = "GET, OPTIONS";

/// Routes one request.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_owned();
    let Some(rel) = strip_prefix(&path, &state.config.route_prefix) else {
        return not_found();
    };
    if rel == state.config.telemetry_path {
        return match *req.method() {
            Method::GET => scrape::scrape(&state).await,
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
    match rel {
        "/-/healthy" | "/-/ready" => admin::health(&state, &req, rel),
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
