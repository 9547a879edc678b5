//! The response body type: one buffer, a list of zero-copy chunks, or a stream of them (a
//! scrape, rendered while it is sent).
//!
//! Owns: [`Body`], a minimal `hyper::body::Body`: with an exact size hint when all chunks are
//! known up front (a `Content-Length`), chunked when they arrive from a render thread through
//! [`Body::stream`]; hyper writes the `Bytes` runs without copying them into one buffer; and
//! the unread request body of an early answer ([`Body::hold`]).
//!
//! Why hold it: an answer decided from the headers alone (401, 413, 415, 405) leaves the
//! request body unread. Over HTTP/2, dropping a body that is still arriving resets its stream,
//! and dropped *before* the answer goes out the reset is `CANCEL` and races the answer: curl
//! and browsers report "Stream error in the HTTP/2 framing layer" instead of the status.
//! Clients such as curl 7.88 even fail on a clean `NO_ERROR` reset (RFC 9113 section 8.1) while
//! they are still uploading. So an early answer carries the request body, and once the answer
//! is sent (this body dropped) the rest of the request is read and discarded in the
//! background, at most `--push.max-body-bytes` within `--push.body-read-timeout`: the client
//! finishes its upload and reads the answer, and an HTTP/1.1 connection stays usable. Past
//! either bound the body is dropped: h2 resets the stream with `NO_ERROR` (the answer was
//! sent), HTTP/1.1 closes the connection.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

/// A response body.
#[derive(Debug, Default)]
pub struct Body {
    chunks: VecDeque<Bytes>,
    remaining: u64,
    /// More chunks to come from a render thread (see [`Body::stream`]).
    stream: Option<tokio::sync::mpsc::Receiver<Streamed>>,
    /// The request body left unread, drained once this body is dropped (see the module docs).
    held: Option<Held>,
}

/// What a render thread sends a streaming body.
#[derive(Debug)]
pub enum Streamed {
    /// The next chunks, in order.
    Chunks(Vec<Bytes>),
    /// The body is complete.
    Done,
}

/// Why a streamed body ended early: the render thread stopped before saying it was done
/// (hyper then aborts the response instead of ending it as if it were whole).
#[derive(Debug, thiserror::Error)]
#[error("the scrape body stopped before it was complete")]
pub struct Truncated;

/// An unread request body and the bounds of draining it.
#[derive(Debug)]
struct Held {
    body: hyper::body::Incoming,
    max_bytes: usize,
    within: Duration,
}

impl Drop for Body {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        // Dropped by hyper on the runtime once the answer is sent; elsewhere (a test building
        // a response by hand) there is nothing to drain for.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(drain(held));
        }
    }
}

/// Reads and discards the rest of a request body within its bounds.
async fn drain(mut held: Held) {
    use http_body_util::BodyExt as _;
    let mut left = held.max_bytes;
    let _ = tokio::time::timeout(held.within, async {
        while let Some(Ok(frame)) = held.body.frame().await {
            if let Ok(data) = frame.into_data() {
                match left.checked_sub(data.len()) {
                    Some(rest) => left = rest,
                    None => break,
                }
            }
        }
    })
    .await;
}

impl Body {
    /// An empty body.
    #[must_use]
    pub fn empty() -> Body {
        Body::default()
    }

    /// A body made of these chunks, in order.
    #[must_use]
    pub fn chunks(chunks: Vec<Bytes>) -> Body {
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Body {
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
            remaining,
            stream: None,
            held: None,
        }
    }

    /// A body whose chunks arrive on `rx` (after `first`), ending at [`Streamed::Done`]; no
    /// `Content-Length`, so HTTP/1.1 sends it chunked.
    #[must_use]
    pub fn stream(first: Vec<Bytes>, rx: tokio::sync::mpsc::Receiver<Streamed>) -> Body {
        Body {
            chunks: first.into_iter().filter(|c| !c.is_empty()).collect(),
            remaining: 0,
            stream: Some(rx),
            held: None,
        }
    }

    /// Keeps the unread request body until this response body is dropped (after it was
    /// sent), then drains at most `max_bytes` of it within `within`.
    pub fn hold(
        &mut self,
        request_body: hyper::body::Incoming,
        max_bytes: usize,
        within: Duration,
    ) {
        self.held = Some(Held {
            body: request_body,
            max_bytes,
            within,
        });
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::chunks(vec![b])
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Truncated;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Truncated>>> {
        loop {
            if let Some(chunk) = self.chunks.pop_front() {
                if self.stream.is_none() {
                    self.remaining -= chunk.len() as u64;
                }
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            let Some(rx) = self.stream.as_mut() else {
                return Poll::Ready(None);
            };
            match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Streamed::Chunks(chunks))) => {
                    self.chunks
                        .extend(chunks.into_iter().filter(|c| !c.is_empty()));
                }
                Poll::Ready(Some(Streamed::Done)) => {
                    self.stream = None;
                }
                Poll::Ready(None) => {
                    self.stream = None;
                    return Poll::Ready(Some(Err(Truncated)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.stream.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.stream.is_some() {
            SizeHint::default()
        } else {
            SizeHint::with_exact(self.remaining)
        }
    }
}
