//! Health, readiness, the admin wipe and the lifecycle endpoint.
//!
//! Owns: `/-/healthy` (the process serves HTTP) and `/-/ready` (the store is ready to take
//! pushes and scrapes). Both answer `200 OK` with body `OK` to `GET`, as the Go
//! gateway does; other methods get 405.
//! Also `PUT /api/v1/admin/wipe` ([`wipe`]; routed only with `--web.enable-admin-api`, 202 as
//! in Go) and `/-/quit` ([`quit`]; `PUT`/`POST` shut down gracefully with
//! `--web.enable-lifecycle`, 403 without; `GET` 405), with the Go gateway's bodies.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response};

use super::body::Body;
use super::response::{method_not_allowed, status, Resp};
use super::AppState;

/// `GET /-/healthy` and `GET /-/ready`.
pub fn health(state: &AppState, req: &Request<Incoming>, path: &str) -> Resp {
    let handler = if path == "/-/ready" {
        "ready"
    } else {
        "healthy"
    };
    let resp = match *req.method() {
        Method::GET => {
            let mut r = Response::new(Body::from("OK"));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        _ => method_not_allowed("GET, OPTIONS"),
    };
    state
        .metrics
        .record_request(resp.status().as_u16(), handler, method_name(req.method()));
    resp
}

/// `PUT <prefix>/api/v1/admin/wipe`: deletes every group (the router sends other methods 405
/// and, without `--web.enable-admin-api`, everything 404).
pub fn wipe(state: &AppState, req: &Request<Incoming>) -> Resp {
    let resp = if req.method() == Method::PUT {
        let (groups, _) = state.store.counts();
        state.store.wipe();
        tracing::info!(groups, "store wiped via the admin API");
        status(hyper::StatusCode::ACCEPTED)
    } else {
        method_not_allowed("OPTIONS, PUT")
    };
    state
        .metrics
        .record_request(resp.status().as_u16(), "wipe", method_name(req.method()));
    resp
}

/// `/-/quit`: with `--web.enable-lifecycle`, `PUT` or `POST` starts a graceful shutdown (the
/// answer still goes out: in-flight requests are drained).
pub fn quit(state: &AppState, req: &Request<Incoming>) -> Resp {
    let plain = |code: u16, msg: &'static str| {
        let mut r = Response::new(Body::from(msg));
        *r.status_mut() = hyper::StatusCode::from_u16(code).expect("a valid status code");
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    match *req.method() {
        Method::GET => plain(405, "Only POST or PUT requests allowed."),
        Method::PUT | Method::POST if state.config.enable_lifecycle => {
            tracing::warn!("received termination request via web service, exiting gracefully");
            let _ = state.stop.send(true);
            plain(200, "Requesting termination... Goodbye!")
        }
        Method::PUT | Method::POST => plain(403, "Lifecycle API is not enabled."),
        _ => method_not_allowed("GET, OPTIONS, POST, PUT"),
    }
}

/// Lowercase method name for the request counters.
#[must_use]
pub fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "get",
        Method::HEAD => "head",
        Method::PUT => "put",
        Method::POST => "post",
        Method::DELETE => "delete",
        Method::OPTIONS => "options",
        _ => "other",
    }
}
