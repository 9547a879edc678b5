//! The HTTP side of one remote-write endpoint: one kept-alive HTTP/1.1 connection, TLS, auth
//! and the fixed Remote-Write headers.
//!
//! Owns: connecting (TCP, then rustls when the URL is `https`), sending one compressed batch
//! ([`Client::send`]) and reading the answer (status, `Retry-After`, the first bytes of the
//! body for the log), re-reading the bearer token or password file each tick.
//! Does not own: what to do with the answer (see `sender`).
//!
//! Why not hyper-util's pooled client: a lane has at most one request in flight, so a pool
//! holds exactly one connection; hyper's connection API over a `TcpStream` or a tokio-rustls
//! stream (both already dependencies of the server) does that without a connector crate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::config::{Auth, Endpoint, Secret};

/// How much of an error answer's body is kept for the log.
const BODY_LOG_LIMIT: usize = 1024;

/// An answer from the receiver.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// `Retry-After`, when given as seconds or an HTTP date in the future.
    pub retry_after: Option<Duration>,
    /// The first [`BODY_LOG_LIMIT`] bytes of the body, lossily decoded.
    pub body: String,
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Occurs when the TCP connection or the TLS handshake fails.
    #[error("connect: {0}")]
    Connect(String),
    /// Occurs when the request fails on an established connection.
    #[error("request: {0}")]
    Request(#[from] hyper::Error),
    /// Occurs when connecting, sending and reading the answer take longer than the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// One endpoint's connection and request template.
pub struct Client {
    endpoint: Arc<Endpoint>,
    host: String,
    port: u16,
    headers: HeaderMap,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.endpoint.url)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `endpoint` (validated: absolute http(s) URL with a host).
    #[must_use]
    pub fn new(endpoint: Arc<Endpoint>) -> Client {
        let uri: &Uri = &endpoint.uri;
        let host = uri.host().unwrap_or_default().to_owned();
        let tls = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let mut client = Client {
            endpoint,
            host,
            port,
            headers: HeaderMap::new(),
            conn: None,
        };
        client.refresh_headers();
        client
    }

    /// Rebuilds the headers, re-reading the password or token file (called once per tick, so
    /// rotated credentials are picked up).
    pub fn refresh_headers(&mut self) {
        let mut h = HeaderMap::new();
        for (name, value) in &self.endpoint.headers {
            h.insert(name.clone(), value.clone());
        }
        match auth_header(&self.endpoint.auth) {
            Ok(Some(v)) => {
                h.insert(hyper::header::AUTHORIZATION, v);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(url = %self.endpoint.url, error = %e, "remote write: cannot read the credentials file; sending without");
            }
        }
        // Fixed last, so no user header can replace them (prometheus/prometheus#8416).
        let fixed = [
            (hyper::header::CONTENT_ENCODING, "snappy"),
            (hyper::header::CONTENT_TYPE, "application/x-protobuf"),
            (
                HeaderName::from_static("x-prometheus-remote-write-version"),
                "0.1.0",
            ),
        ];
        for (name, value) in fixed {
            h.insert(name, HeaderValue::from_static(value));
        }
        h.insert(
            hyper::header::USER_AGENT,
            HeaderValue::from_static(concat!("pushgate/", env!("CARGO_PKG_VERSION"))),
        );
        let authority = self.endpoint.uri.authority().map_or("", |a| a.as_str());
        if let Ok(v) = HeaderValue::from_str(authority) {
            h.insert(hyper::header::HOST, v);
        }
        self.headers = h;
    }

    /// Sends one snappy-compressed `WriteRequest`, within the endpoint's timeout.
    ///
    /// # Errors
    /// [`SendError`] when no answer came; the connection is dropped then.
    pub async fn send(&mut self, body: Bytes, attempt: u32) -> Result<Answer, SendError> {
        let timeout = self.endpoint.timeout;
        match tokio::time::timeout(timeout, self.send_inner(body, attempt)).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                Err(SendError::Timeout(timeout))
            }
        }
    }

    async fn send_inner(&mut self, body: Bytes, attempt: u32) -> Result<Answer, SendError> {
        let mut conn = match self.conn.take() {
            Some(c) if !c.is_closed() => c,
            _ => self.connect().await?,
        };
        conn.ready().await?;
        let path = self
            .endpoint
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str());
        let mut req = Request::post(path)
            .body(Full::new(body))
            .expect("a POST with a valid path is a valid request");
        *req.headers_mut() = self.headers.clone();
        if attempt > 0 {
            // Prometheus sends this on retries too (`Retry-Attempt`).
            req.headers_mut()
                .insert("retry-attempt", HeaderValue::from(attempt));
        }
        let resp = conn.send_request(req).await?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = Limited::new(resp.into_body(), 64 * 1024).collect().await;
        // A body over the limit or cut short: the status still counts, the connection not.
        let body = match body {
            Ok(b) => {
                self.conn = Some(conn);
                let b = b.to_bytes();
                String::from_utf8_lossy(&b[..b.len().min(BODY_LOG_LIMIT)]).into_owned()
            }
            Err(_) => String::new(),
        };
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let err = |e: &dyn std::fmt::Display| SendError::Connect(e.to_string());
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| err(&e))?;
        let _ = tcp.set_nodelay(true);
        match &self.endpoint.tls {
            None => handshake(tcp).await,
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| err(&e))?;
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| err(&e))?;
                handshake(tls).await
            }
        }
    }
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Full<Bytes>>, SendError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "remote write connection closed");
        }
    });
    Ok(send)
}

/// The `Authorization` header for `auth`, reading its file if it has one.
fn auth_header(auth: &Auth) -> Result<Option<HeaderValue>, std::io::Error> {
    let value = match auth {
        Auth::None => return Ok(None),
        Auth::Basic { username, password } => {
            use base64::Engine as _;
            let password = password.read()?;
            let raw = format!("{username}:{password}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        }
        Auth::Bearer(token) => format!("Bearer {}", token.read()?),
    };
    HeaderValue::from_str(&value)
        .map(|mut v| {
            v.set_sensitive(true);
            Some(v)
        })
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

impl Secret {
    /// The secret: inline, or the file's content without its trailing newline.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn read(&self) -> Result<String, std::io::Error> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File(path) => {
                let s = std::fs::read_to_string(path)?;
                Ok(s.trim_end_matches(['\n', '\r']).to_owned())
            }
        }
    }
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3); a date in the past is 0.
#[must_use]
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate) as Unix seconds.
fn parse_http_date(date: &str) -> Option<u64> {
    let mut parts = date.split_whitespace().skip(1);
    let day: u64 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month_name)?;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|x| x.parse::<u64>().ok());
    let (hour, min, sec) = (hms.next()??, hms.next()??, hms.next()??);
    // Howard Hinnant's days-from-civil.
    let (y, mo) = if month < 2 {
        (year - 1, month + 10)
    } else {
        (year, month - 2)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * i64::try_from(mo).ok()? + 2) / 5 + i64::try_from(day).ok()? - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(days * 86_400 + hour * 3600 + min * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
