//! `PUT|POST|DELETE <prefix>/metrics/job/<JOB>{/<LABEL>/<VALUE>}`: pushes and deletes.
//!
//! Owns: reading the body within `--push.max-body-bytes`, inflating it (`Content-Encoding`
//! gzip or snappy, see [`super::encoding`]), choosing the decoder from `Content-Type` (text, or
//! delimited protobuf), renaming names outside the classic alphabet (`flink::rename`, unless
//! `--flink.rename=off`), handing the families to the store, and [`status_for`], the one place
//! that maps errors to HTTP statuses and messages (Go Pushgateway wording).
//! Does not own: grouping-key syntax (`grouping`), parsing (`parse`), or consistency (`store`).
//!
//! Statuses, as Go Pushgateway 1.5.1: PUT/POST 200 (202 with the consistency check disabled);
//! DELETE 202 (also for a group that does not exist); 400 with the reason for a bad path, a
//! body that does not parse, or a push inconsistent with the store; 413 for a body over the
//! limit (the Go gateway has no limit) or inflating past `--push.max-decompressed-bytes`; 415
//! for an unknown `Content-Encoding` or a protobuf `Content-Type` other than delimited
//! `MetricFamily` messages (the Go gateway parses both as text, and fails).

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use hyper::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode};
use tracing::{debug, info};

use super::admin::method_name;
use super::encoding::{self, ContentEncoding, EncodingError};
use super::response::{holding, not_found, status, text, Resp};
use super::AppState;
use crate::grouping::{GroupingKey, GroupingKeyError};
use crate::parse::text::{self as text_parser, TextError};
use crate::parse::{
    protobuf as protobuf_parser, Format, Names, ProtobufError, UnsupportedProtobuf,
};
use crate::store::{LimitError, PushError, WriteRequest};

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
    /// Occurs when the body does not arrive within `--push.body-read-timeout`.
    #[error("request body not received within {0:?} (--push.body-read-timeout)")]
    Timeout(std::time::Duration),
    /// Occurs when the push exceeds a size limit (the message names it and its flag).
    #[error(transparent)]
    Limit(crate::store::LimitError),
    /// Occurs when the body cannot be read from the connection.
    #[error("reading the request body failed: {0}")]
    Read(String),
    /// Occurs when the `Content-Type` is protobuf, but not delimited `MetricFamily` messages.
    #[error(transparent)]
    UnsupportedProtobuf(#[from] UnsupportedProtobuf),
    /// Occurs when the `Content-Encoding` is unknown, or the body does not inflate within the
    /// limit.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// Occurs when the text body does not parse.
    #[error(transparent)]
    Parse(#[from] TextError),
    /// Occurs when the protobuf body does not decode or breaks a rule.
    #[error(transparent)]
    Protobuf(#[from] ProtobufError),
    /// Occurs when renamed names collide (see `flink::rename`).
    #[error("pushed metrics are invalid once renamed: {0}")]
    Rename(#[from] crate::flink::rename::RenameError),
    /// Occurs when the store refuses the push.
    #[error("pushed metrics are invalid or inconsistent with existing metrics: {0}")]
    Store(#[from] PushError),
}

impl PushFailure {
    fn reason(&self) -> &'static str {
        match self {
            PushFailure::Path(_) => "path",
            PushFailure::TooLarge(_) | PushFailure::Encoding(EncodingError::TooLarge(_)) => {
                "too_large"
            }
            PushFailure::Timeout(_) => "timeout",
            PushFailure::Limit(_) => "limit",
            PushFailure::Read(_) => "read",
            PushFailure::UnsupportedProtobuf(_)
            | PushFailure::Encoding(EncodingError::Unsupported(_)) => "unsupported_format",
            PushFailure::Encoding(_) => "encoding",
            PushFailure::Parse(_) | PushFailure::Protobuf(_) | PushFailure::Rename(_) => "parse",
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
        PushFailure::TooLarge(_)
        | PushFailure::Limit(LimitError::Series { .. })
        | PushFailure::Encoding(EncodingError::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
        PushFailure::Limit(LimitError::Groups { .. }) => StatusCode::TOO_MANY_REQUESTS,
        PushFailure::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        PushFailure::UnsupportedProtobuf(_)
        | PushFailure::Encoding(EncodingError::Unsupported(_)) => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Handles a push or delete. `rest` is the raw path after `<prefix>/metrics/`.
pub async fn push(state: &Arc<AppState>, req: Request<Incoming>, path_rest: String) -> Resp {
    let start = Instant::now();
    let method = method_name(req.method());
    // Kept for the log line of a rejection (a cheap clone of shared bytes).
    let user_agent = req.headers().get(USER_AGENT).cloned();
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let (mut resp, size) = match handle(state, &parts, &mut body, &path_rest).await {
        Ok((code, size)) => (status(code), size),
        Err((failure, size)) => {
            let code = status_for(&failure);
            log_rejection(
                state,
                &failure,
                code,
                method,
                &path_rest,
                user_agent.as_ref(),
            );
            let answer = if code == StatusCode::NOT_FOUND {
                not_found()
            } else {
                text(code, &failure.to_string())
            };
            (answer, size)
        }
    };
    if let Some(unread) = body {
        // Answered from the headers alone (or cut short): see `super::body`.
        resp = holding(resp, unread, &state.config);
    }
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

/// Counts a rejection and logs it: at `info` within the rate limit (see
/// `telemetry::LogLimiter`), so one misbehaving client cannot flood the log, else at `debug`.
fn log_rejection(
    state: &AppState,
    failure: &PushFailure,
    code: StatusCode,
    method: &str,
    path_rest: &str,
    user_agent: Option<&hyper::header::HeaderValue>,
) {
    let reason = failure.reason();
    state.metrics.record_rejection(reason);
    let user_agent = user_agent.and_then(|v| v.to_str().ok()).unwrap_or("");
    let status = code.as_u16();
    if let Some(suppressed) = state.metrics.admit_rejection_log() {
        info!(
            reason, status, method, path = %path_rest, user_agent, error = %failure,
            suppressed, "push rejected"
        );
    } else {
        debug!(
            reason, status, method, path = %path_rest, user_agent, error = %failure,
            "push rejected"
        );
    }
}

type Handled = Result<(StatusCode, usize), (PushFailure, usize)>;

/// Handles one push; `body` is taken only when it is read, so an answer decided from the
/// headers leaves it for the caller to hold.
async fn handle(
    state: &Arc<AppState>,
    req: &Parts,
    body: &mut Option<Incoming>,
    rest: &str,
) -> Handled {
    let user_agent = req
        .headers
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let key = crate::flink::grouping_key(rest, user_agent, &state.config.flink)
        .map_err(|e| (e.into(), 0))?;
    let reporter = crate::flink::is_reporter_group(&key, &state.config.flink);
    if req.method == Method::DELETE {
        let existed = if reporter {
            let until = crate::store::now_seconds() + state.config.expiry.delete_grace;
            state.store.delete_with_tombstone(&key, until)
        } else {
            state.store.delete(&key)
        };
        state.signals.forget(&key);
        debug!(group = %key, existed, "group deleted");
        return Ok((StatusCode::ACCEPTED, 0));
    }
    if reporter && state.store.tombstoned(&key, crate::store::now_seconds()) {
        // The reporter's last scheduled report raced its own DELETE: answer as if stored
        // (Flink logs non-2xx as errors) but do not resurrect the group.
        state.metrics.record_swallowed();
        debug!(group = %key, "push after delete swallowed");
        let code = if state.config.consistency_check {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        return Ok((code, 0));
    }
    let replace = req.method == Method::PUT;
    let header = |name| req.headers.get(name).and_then(|v| v.to_str().ok());
    let format = Format::from_content_type(header(CONTENT_TYPE)).map_err(|e| (e.into(), 0))?;
    let coding =
        ContentEncoding::from_header(header(CONTENT_ENCODING)).map_err(|e| (e.into(), 0))?;
    let inflate_limit = state.config.max_decompressed_bytes;
    let timeout = state.config.body_read_timeout;
    let declared = header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    let limit = state.config.max_body_bytes;
    if declared.is_some_and(|n| n > limit as u64) {
        return Err((PushFailure::TooLarge(limit), 0));
    }
    let Some(incoming) = body.as_mut() else {
        return Err((
            PushFailure::Read("request body already taken".to_owned()),
            0,
        ));
    };
    let body = tokio::time::timeout(timeout, read_body(incoming, limit))
        .await
        .unwrap_or(Err(PushFailure::Timeout(timeout)))
        .map_err(|e| (e, 0))?;
    let size = body.len();
    let st = state.clone();
    let work = move || {
        let body = encoding::decode(body, coding, inflate_limit)?;
        ingest_as(&st, key, &body, format, replace)
    };
    // Inflating may take a while (64 MiB by default), so compressed bodies always go to the
    // blocking pool.
    let applied = if size > INLINE_PARSE_LIMIT || coding != ContentEncoding::Identity {
        tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|e| Err(PushFailure::Read(format!("push task failed: {e}"))))
    } else {
        work()
    };
    match applied {
        Ok(()) if state.config.consistency_check => Ok((StatusCode::OK, size)),
        Ok(()) => Ok((StatusCode::ACCEPTED, size)),
        Err(e) => Err((e, size)),
    }
}

/// Parses and stores one text push body.
///
/// # Errors
/// A parse error or the store's refusal.
pub fn ingest(
    state: &AppState,
    key: GroupingKey,
    body: &[u8],
    replace: bool,
) -> Result<(), PushFailure> {
    ingest_as(state, key, body, Format::Text, replace)
}

/// Parses and stores one (inflated) push body of the given format.
///
/// # Errors
/// A parse error or the store's refusal.
pub fn ingest_as(
    state: &AppState,
    key: GroupingKey,
    body: &[u8],
    format: Format,
    replace: bool,
) -> Result<(), PushFailure> {
    let renamer = state.config.renamer.as_deref();
    let names = if renamer.is_some() {
        Names::Utf8
    } else {
        Names::Classic
    };
    let families = match format {
        Format::Text => text_parser::parse_with(body, names)?,
        Format::Protobuf => protobuf_parser::parse_with(body, names)?,
    };
    // The renamed families borrow new names and captured labels from the plan.
    let plan;
    let families = match renamer {
        Some(renamer) => {
            plan = renamer.plan(&families);
            plan.apply(families)?
        }
        None => families,
    };
    // The few families the signals read, copied before the store takes the push (O(push)).
    let signals = state.config.signals.enabled.then(|| {
        (
            key.clone(),
            crate::flink::signals::ingest::extract(&families),
        )
    });
    let prerender_key = state.prerender.wanted().then(|| key.clone());
    match state.store.apply(WriteRequest {
        key,
        families,
        replace,
    }) {
        Ok(()) => {
            if let Some(key) = prerender_key {
                super::scrape::Prerender::after_push(state, &key);
            }
            if let Some((key, extract)) = signals {
                let reporter_label = &state.config.flink.reporter_id_label;
                state.signals.record(&key, reporter_label, extract, replace);
            }
            Ok(())
        }
        Err(PushError::Limit(e)) => Err(PushFailure::Limit(e)),
        Err(e) => Err(PushFailure::Store(e)),
    }
}

/// Reads the whole body, at most `limit` bytes. On an error the rest stays unread in
/// `incoming` (the caller holds it until the answer is sent).
async fn read_body(incoming: &mut Incoming, limit: usize) -> Result<Bytes, PushFailure> {
    // With a Content-Length, one buffer of the right size: no doubling (a 24.5 MB Flink body
    // would otherwise be copied through 32 MB of reallocations). Never more than the limit.
    let announced = hyper::body::Body::size_hint(incoming)
        .exact()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut buf = BytesMut::with_capacity(announced.min(limit));
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| PushFailure::Read(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(PushFailure::TooLarge(limit));
            }
            if buf.is_empty() && incoming.is_end_stream() {
                // One frame is the whole body: keep it without a copy.
                return Ok(data);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
