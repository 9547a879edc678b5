//! HTTP/1.1 keep-alive requests against the target, timed.
//!
//! Owns: one client per simulated connection (hyper-util's legacy client holding at most one
//! idle connection, `TCP_NODELAY` on), the push/delete/scrape requests and their outcomes.
//! Does not own: scheduling (see `run`) or aggregation (see `stats`).

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{http, Method, Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use pushgate_reporter::push::TEXT_CONTENT_TYPE;

/// A client that keeps one connection alive: one per simulated process or pusher.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new client.
pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Ok,
    /// Another status, with the start of the body.
    Status(u16, String),
    /// Connecting, sending or reading failed.
    Io(String),
    /// No full answer within the timeout.
    Timeout,
}

impl Outcome {
    /// The key errors are counted under: the status code, `io` or `timeout`.
    pub fn error_key(&self) -> Option<String> {
        match self {
            Self::Ok => None,
            Self::Status(code, _) => Some(code.to_string()),
            Self::Io(_) => Some("io".into()),
            Self::Timeout => Some("timeout".into()),
        }
    }
}

/// Sends a `PUT` (or `DELETE` with an empty body) and waits for the whole answer.
pub async fn send(
    client: &HttpClient,
    method: Method,
    uri: &Uri,
    body: Bytes,
    timeout: Duration,
) -> (Duration, Outcome) {
    let request = Request::builder()
        .method(method)
        .uri(uri.clone())
        .header(CONTENT_TYPE, TEXT_CONTENT_TYPE);
    let start = Instant::now();
    let result = exchange(client, request, body, timeout, |response| async move {
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| io(&e))?
            .to_bytes();
        if status.is_success() {
            Ok(())
        } else {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
            Err(Outcome::Status(status.as_u16(), text.trim().to_owned()))
        }
    })
    .await;
    (start.elapsed(), result.err().unwrap_or(Outcome::Ok))
}

/// The exposition format a scrape asks for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScrapeFormat {
    /// The text format 0.0.4, as Prometheus 2.x asks for it.
    Text,
    /// OpenMetrics 1.0.0 text.
    Openmetrics,
    /// Delimited protobuf `MetricFamily` messages.
    Protobuf,
}

impl ScrapeFormat {
    /// The `Accept` header sent.
    pub fn accept(self) -> &'static str {
        match self {
            Self::Text => "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            Self::Openmetrics => "application/openmetrics-text;version=1.0.0",
            Self::Protobuf => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
        }
    }
}

/// What one scrape returned.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Time to the last byte.
    pub latency: Duration,
    /// Time to the first byte: until the response head (status and headers) was in, what curl
    /// calls `time_starttransfer`. A server that renders everything before answering (both
    /// gateways do) spends most of the scrape here.
    pub ttfb: Duration,
    /// Body bytes as received (compressed when gzip was used).
    pub bytes: u64,
    /// Newlines in the body when it was uncompressed text (about the sample count plus two
    /// per family); 0 for gzip and protobuf.
    pub lines: u64,
    /// Whether the answer was gzip-encoded.
    pub gzip: bool,
    /// The answer's `Content-Type`.
    pub content_type: String,
}

impl Scrape {
    /// Whether `lines` were counted: an uncompressed text answer.
    pub fn counts_lines(&self) -> bool {
        !self.gzip && !self.content_type.contains("protobuf")
    }
}

/// `GET`s the exposition in `format`, asking for gzip when `gzip`, and reads it to the end.
pub async fn scrape(
    client: &HttpClient,
    uri: &Uri,
    format: ScrapeFormat,
    gzip: bool,
    timeout: Duration,
) -> (Scrape, Outcome) {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(uri.clone())
        .header(ACCEPT, format.accept());
    if gzip {
        request = request.header(ACCEPT_ENCODING, "gzip");
    }
    let start = Instant::now();
    let result = exchange(
        client,
        request,
        Bytes::new(),
        timeout,
        |response| async move {
            let ttfb = start.elapsed();
            let status = response.status();
            let is_gzip = response
                .headers()
                .get(CONTENT_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let mut body = response.into_body();
            let mut result = Scrape {
                ttfb,
                gzip: is_gzip,
                content_type,
                ..Scrape::default()
            };
            let count_lines = result.counts_lines();
            while !body.is_end_stream() {
                let Some(frame) = body.frame().await else {
                    break;
                };
                let frame = frame.map_err(|e| io(&e))?;
                if let Ok(data) = frame.into_data() {
                    result.bytes += data.len() as u64;
                    if count_lines {
                        result.lines += memchr::memchr_iter(b'\n', &data).count() as u64;
                    }
                }
            }
            if status.is_success() {
                Ok(result)
            } else {
                Err(Outcome::Status(status.as_u16(), String::new()))
            }
        },
    )
    .await;
    match result {
        Ok(mut result) => {
            result.latency = start.elapsed();
            (result, Outcome::Ok)
        }
        Err(outcome) => (Scrape::default(), outcome),
    }
}

/// Sends `request` with `body` and hands the response to `read`, all within `timeout`: a failed
/// send is [`Outcome::Io`], no full answer in time [`Outcome::Timeout`].
async fn exchange<T, Read, Reading>(
    client: &HttpClient,
    request: http::request::Builder,
    body: Bytes,
    timeout: Duration,
    read: Read,
) -> Result<T, Outcome>
where
    Read: FnOnce(Response<Incoming>) -> Reading,
    Reading: Future<Output = Result<T, Outcome>>,
{
    let request = request
        .body(Full::new(body))
        .expect("method, URI and headers are valid");
    let exchange = async {
        let response = client.request(request).await.map_err(|e| io(&e))?;
        read(response).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(Outcome::Timeout))
}

/// A failure to connect, send or read, with its causes.
fn io(error: &dyn std::error::Error) -> Outcome {
    Outcome::Io(error_chain(error))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
