//! Tiny response constructors shared by the handlers.
//!
//! Owns: the shape of plain-text answers (`text/plain; charset=utf-8`, message plus newline,
//! as Go's `http.Error` writes them) and of `405` answers with their `Allow` header.

use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::config::Config;
use crate::server::body::Body;

/// The response type of every handler.
pub type Resp = Response<Body>;

/// A plain-text answer: `msg` plus a newline.
#[must_use]
pub fn text(status: StatusCode, msg: &str) -> Resp {
    let mut r = Response::new(Body::from(format!("{msg}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `400 Bad Request` with a reason.
#[must_use]
pub fn bad_request(msg: &str) -> Resp {
    text(StatusCode::BAD_REQUEST, msg)
}

/// `404 Not Found`, worded as Go's router does.
#[must_use]
pub fn not_found() -> Resp {
    text(StatusCode::NOT_FOUND, "404 page not found")
}

/// `405 Method Not Allowed` listing the allowed methods.
#[must_use]
pub fn method_not_allowed(allow: &'static str) -> Resp {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// `resp` with the request's unread body held until `resp` is sent, then drained within the
/// push body limits (see [`Body::hold`]): for every answer given without reading the body.
#[must_use]
pub fn holding(mut resp: Resp, request_body: hyper::body::Incoming, config: &Config) -> Resp {
    resp.body_mut().hold(
        request_body,
        config.max_body_bytes,
        config.body_read_timeout,
    );
    resp
}

/// `200 OK` to an `OPTIONS` request, with the allowed methods.
#[must_use]
pub fn options(allow: &'static str) -> Resp {
    let mut r = Response::new(Body::empty());
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// An empty answer with this status.
#[must_use]
pub fn status(status: StatusCode) -> Resp {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
