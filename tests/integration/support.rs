//! Test harness: start a real pushgate on port 0 and talk to it over real sockets with a
//! minimal HTTP/1.1 client (raw bytes, so tests can send any path or body).

use std::net::SocketAddr;

use pushgate::config::{Args, Config};
use pushgate::server::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running server plus a client for it.
pub struct TestServer {
    #[allow(dead_code, reason = "held, not read: dropping it stops the server")]
    pub server: RunningServer,
    pub addr: SocketAddr,
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status (showing the body when it differs) and passes the response on.
    #[track_caller]
    pub fn expect_status(self, want: u16) -> Resp {
        assert_eq!(
            self.status,
            want,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }
}

/// Starts pushgate with default flags plus `extra` (e.g. `--web.route-prefix=/pg`).
pub async fn start_with(extra: &[&str]) -> TestServer {
    let mut args = vec!["pushgate", "--web.listen-address=127.0.0.1:0"];
    args.extend_from_slice(extra);
    let config: Config = <Args as clap::Parser>::parse_from(args)
        .validate()
        .expect("test flags are valid");
    start_config(config).await
}

/// Starts pushgate with default flags.
pub async fn start() -> TestServer {
    start_with(&[]).await
}

/// Starts pushgate with a ready-made config.
pub async fn start_config(config: Config) -> TestServer {
    let server = pushgate::server::start(config)
        .await
        .expect("server starts");
    let addr = server.local_addr();
    TestServer { server, addr }
}

impl TestServer {
    /// Sends one request with `Connection: close` and reads the whole response.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || matches!(method, "PUT" | "POST") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.expect("write head");
        stream.write_all(body).await.expect("write body");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read response");
        parse_response(&raw)
    }

    pub async fn put(&self, path: &str, body: &str) -> Resp {
        self.request("PUT", path, &[], body.as_bytes()).await
    }

    /// A PUT that must answer 200.
    pub async fn put_ok(&self, path: &str, body: &str) {
        self.put(path, body).await.expect_status(200);
    }

    pub async fn post(&self, path: &str, body: &str) -> Resp {
        self.request("POST", path, &[], body.as_bytes()).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, &[], b"").await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], b"").await
    }

    /// The scrape body.
    pub async fn scrape(&self) -> String {
        let r = self.get("/metrics").await;
        assert_eq!(r.status, 200, "scrape failed: {}", r.text());
        r.text()
    }

    /// `GET /metrics` negotiated as OpenMetrics 1.0.0, as Prometheus asks by default.
    pub async fn scrape_openmetrics(&self) -> String {
        self.request(
            "GET",
            "/metrics",
            &[("Accept", "application/openmetrics-text;version=1.0.0")],
            b"",
        )
        .await
        .expect_status(200)
        .text()
    }

    /// The scrape without the gateway's own families (`pushgateway_*`, `pushgate_*`,
    /// `process_*`) and without the push-time families: only what was pushed.
    pub async fn scrape_pushed(&self) -> String {
        pushed_only(&self.scrape().await)
    }

    /// The scrape without the gateway's own families but with the push-time families: the
    /// whole visible state of the store.
    pub async fn scrape_store(&self) -> String {
        without_own(&self.scrape().await)
    }

    /// Sends a push that must be refused, asserts the pushed metrics did not change (push
    /// times may: a refused push to an existing group records its failure time), and returns
    /// the response.
    pub async fn refused(&self, method: &str, path: &str, body: &str) -> Resp {
        self.refused_keeping(method, path, body, pushed_only).await
    }

    /// Like [`TestServer::refused`], but the whole visible store, push times included, must
    /// be unchanged: for refused pushes that must leave no trace at all.
    pub async fn refused_without_trace(&self, method: &str, path: &str, body: &str) -> Resp {
        self.refused_keeping(method, path, body, without_own).await
    }

    async fn refused_keeping(
        &self,
        method: &str,
        path: &str,
        body: &str,
        view: fn(&str) -> String,
    ) -> Resp {
        let before = view(&self.scrape().await);
        let r = self.request(method, path, &[], body.as_bytes()).await;
        assert!(
            r.status >= 400,
            "push was accepted ({}): {}",
            r.status,
            r.text()
        );
        assert_lines_equal(&view(&self.scrape().await), &before);
        r
    }
}

/// Keeps everything but the gateway's own families (push-time families stay).
pub fn without_own(scrape: &str) -> String {
    drop_families(scrape, &["pushgateway_", "pushgate_", "process_"])
}

/// Drops every line (samples, `# HELP`, `# TYPE`) whose metric name starts with a prefix.
fn drop_families(scrape: &str, prefixes: &[&str]) -> String {
    scrape
        .lines()
        .filter(|l| {
            let name = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            !prefixes.iter().any(|p| name.starts_with(p))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The sample lines (no comments, no blank lines) of an exposition.
pub fn sample_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Asserts two expositions are equal line for line; on failure shows the first differing
/// lines with a little context instead of two walls of text.
#[track_caller]
pub fn assert_lines_equal(ours: &str, want: &str) {
    if ours == want {
        return;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), want.lines().collect());
    let first = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |v: &[&str]| {
        v.iter()
            .skip(first.saturating_sub(2))
            .take(5)
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    panic!(
        "expositions differ at line {} (ours has {} lines, expected {}; trailing newline ours={} want={})\nours:\n{}expected:\n{}",
        first + 1,
        a.len(),
        b.len(),
        ours.ends_with('\n'),
        want.ends_with('\n'),
        show(&a),
        show(&b)
    );
}

/// Keeps only the lines of pushed families (drops own metrics and push-time families).
pub fn pushed_only(scrape: &str) -> String {
    drop_families(
        scrape,
        &[
            "pushgateway_",
            "pushgate_",
            "process_",
            "push_time_seconds",
            "push_failure_time_seconds",
        ],
    )
}

/// The value of the first sample line starting with `series` (name plus labels, exactly).
pub fn sample_value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(|v| v.parse().expect("float"))
    })
}

/// Parses a raw HTTP/1.1 response (de-chunking the body if needed).
pub fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .expect("status code")
        .parse()
        .expect("numeric status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).expect("ascii").trim(), 16)
            .expect("hex size");
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Reads a fixture file.
pub fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture exists")
}
