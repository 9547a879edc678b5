//! `PUT|POST|DELETE <prefix>/metrics/job/<JOB>{/<LABEL>/<VALUE>}`: pushes and deletes.
//!
//! Owns: reading the body within `--push.max-body-bytes`, choosing the decoder, handing the
//! parsed families to the store, and [`status_for`], the one place that maps errors to HTTP
//! statuses and messages (Go Pushgateway wording).
//! Does not own: grouping-key syntax (`grouping`), parsing (`parse`), or consistency (`store`).
//!
//! Statuses, as Go Pushgateway 1.5.1: PUT/POST 200 (202 with the consistency check disabled);
//! DELETE 202 (also for a group that does not exist); 400 with the reason for a bad path, a
//! body that does not parse, or a push inconsistent with the store; 413 for a body over the
//! limit (the Go gateway has no limit); 415 for protobuf bodies until they are supported.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, StatusCode};
use tracing::debug;

use super::admin::method_name;
use super::response::{not_found, status, text, Resp};
use super::AppState;
use crate::grouping::{GroupingKey, GroupingKeyError};
use crate::parse::text::{self as text_parser, TextError};
use crate::store::{PushError, WriteRequest};

/// Bodies larger than this are parsed on the blocking pool instead of the async workers.
const INLINE_PARSE_LIMIT: usize = 256 * 1024;

/// Why a push was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushFailure {
    /// Occurs when the path is not a valid grouping key.
    #[error(transparent)]
    Path(#[from] GroupingKeyError),
    /// Occurs when the body exceeds `--push.max-body-bytes`.
    #[error("request body exceeds the limit of {0} bytes (--push.max-body-bytes)")]
    TooLarge(usize),
    /// Occurs when the body cannot be read from the connection.
    #[error("reading the request body failed: {0}")]
    Read(String),
    /// Occurs when a protobuf body is pushed (not supported yet).
    #[error("protobuf pushes are not supported yet; push the text format")]
    Protobuf,
    /// Occurs when the text body does not parse.
    #[error(transparent)]
    Parse(#[from] TextError),
    /// Occurs when the store refuses the push.
    #[error("pushed metrics are invalid or inconsistent with existing metrics: {0}")]
    Store(#[from] PushError),
}

impl PushFailure {
    fn reason(&self) -> &'static str {
        match self {
            PushFailure::Path(_) => "path",
            PushFailure::TooLarge(_) => "too_large",
            PushFailure::Read(_) => "read",
            PushFailure::Protobuf => "unsupported_format",
            PushFailure::Parse(_) => "parse",
            PushFailure::Store(PushError::Timestamp) => "timestamp",
            PushFailure::Store(_) => "inconsistent",
        }
    }
}

/// The HTTP status for a refused push.
#[must_use]
pub fn status_for(f: &PushFailure) -> StatusCode {
    match f {
        PushFailure::Path(GroupingKeyError::NotAPushPath) => StatusCode::NOT_FOUND,
        PushFailure::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        PushFailure::Protobuf => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Handles a push or delete. `rest` is the raw path after `<prefix>/metrics/`.
pub async fn push(state: &Arc<AppState>, req: Request<Incoming>, path_rest: String) -> Resp {
    let start = Instant::now();
    let method = method_name(req.method());
    let (resp, size) = match handle(state, req, &path_rest).await {
        Ok((code, size)) => (status(code), size),
        Err((failure, size)) => {
            state.metrics.record_rejection(failure.reason());
            debug!(path = %path_rest, error = %failure, "push rejected");
            let code = status_for(&failure);
            let answer = if code == StatusCode::NOT_FOUND {
                not_found()
            } else {
                text(code, &failure.to_string())
            };
            (answer, size)
        }
    };
    let handler = if method == "delete" { "delete" } else { "push" };
    state
        .metrics
        .record_request(resp.status().as_u16(), handler, method);
    if method != "delete" {
        state
            .metrics
            .record_push(method, start.elapsed().as_secs_f64(), size);
    }
    resp
}

type Handled = Result<(StatusCode, usize), (PushFailure, usize)>;

async fn handle(state: &Arc<AppState>, req: Request<Incoming>, rest: &str) -> Handled {
    let key = GroupingKey::from_path(rest).map_err(|e| (e.into(), 0))?;
    if req.method() == Method::DELETE {
        let existed = state.store.delete(&key);
        debug!(group = %key, existed, "group deleted");
        return Ok((StatusCode::ACCEPTED, 0));
    }
    let replace = req.method() == Method::PUT;
    if is_protobuf(&req) {
        return Err((PushFailure::Protobuf, 0));
    }
    let body = read_body(req, state.config.max_body_bytes)
        .await
        .map_err(|e| (e, 0))?;
    let size = body.len();
    let st = state.clone();
    let applied = if size > INLINE_PARSE_LIMIT {
        tokio::task::spawn_blocking(move || ingest(&st, key, &body, replace))
            .await
            .unwrap_or_else(|e| Err(PushFailure::Read(format!("push task failed: {e}"))))
    } else {
        ingest(&st, key, &body, replace)
    };
    match applied {
        Ok(()) if state.config.consistency_check => Ok((StatusCode::OK, size)),
        Ok(()) => Ok((StatusCode::ACCEPTED, size)),
        Err(e) => Err((e, size)),
    }
}

/// Parses and stores one push body.
///
/// # Errors
/// A parse error or the store's refusal.
pub fn ingest(
    state: &AppState,
    key: GroupingKey,
    body: &[u8],
    replace: bool,
) -> Result<(), PushFailure> {
    let families = text_parser::parse(body)?;
    state.store.apply(WriteRequest {
        key,
        families,
        replace,
    })?;
    Ok(())
}

fn is_protobuf(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/vnd.google.protobuf")
        })
}

async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, PushFailure> {
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(PushFailure::TooLarge(limit));
    }
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(PushFailure::TooLarge(limit))
        }
        Err(e) => Err(PushFailure::Read(e.to_string())),
    }
}
