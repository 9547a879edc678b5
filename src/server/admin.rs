//! Health and readiness endpoints.
//!
//! Owns: `/-/healthy` (the process serves HTTP) and `/-/ready` (the store is ready to take
//! pushes and scrapes). Both answer `200 OK` with body `OK` to `GET` and `HEAD`, as the Go
//! gateway does; other methods get 405.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response};

use super::body::Body;
use super::response::{method_not_allowed, Resp};
use super::AppState;

/// `GET /-/healthy` and `GET /-/ready`.
pub fn health(state: &AppState, req: &Request<Incoming>, path: &str) -> Resp {
    let handler = if path == "/-/ready" {
        "ready"
    } else {
        "healthy"
    };
    let resp = match *req.method() {
        Method::GET | Method::HEAD => {
            let mut r = Response::new(Body::from("OK"));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        _ => method_not_allowed("GET, HEAD"),
    };
    state
        .metrics
        .record_request(resp.status().as_u16(), handler, method_name(req.method()));
    resp
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
