//! Remote write against a real local receiver: a hyper HTTP/1.1 server on a free port that
//! decodes every request (snappy block, then the vendored `prometheus.WriteRequest`), records
//! it, and answers as the test scripts it (204 by default; 500, 429 with `Retry-After`, 400,
//! or never).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prost::Message as _;
use pushgate::proto::remote::WriteRequest;
use tokio::net::TcpListener;

use crate::support::{sample_value, start_with, TestServer};

/// How the receiver answers the next request.
#[derive(Clone, Debug)]
enum Reply {
    Status(u16, &'static str),
    RetryAfter(u16, &'static str),
    Hang,
}

/// A received row: labels as sent, value, timestamp.
type Row = (Vec<(String, String)>, f64, i64);

/// One received request.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    series: Vec<Row>,
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    hang_all: bool,
    received: Vec<Received>,
}

struct Receiver {
    url: String,
    shared: Arc<Mutex<Shared>>,
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::start_with(None).await
    }

    /// A receiver serving `https://localhost:PORT/api/v1/write` with `tls`.
    async fn start_tls(tls: Arc<rustls::ServerConfig>) -> Receiver {
        Receiver::start_with(Some(tokio_rustls::TlsAcceptor::from(tls))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let st = shared.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(st.clone(), req));
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match tls {
                        None => http.serve_connection(TokioIo::new(stream), svc).await,
                        Some(tls) => match tls.accept(stream).await {
                            Ok(s) => http.serve_connection(TokioIo::new(s), svc).await,
                            Err(_) => return,
                        },
                    };
                });
            }
        });
        Receiver {
            url: format!("{scheme}://localhost:{}/api/v1/write", addr.port()),
            shared,
        }
    }

    fn script(&self, replies: &[Reply]) {
        self.shared
            .lock()
            .expect("lock")
            .script
            .extend(replies.iter().cloned());
    }

    fn hang_all(&self) {
        self.shared.lock().expect("lock").hang_all = true;
    }

    fn received(&self) -> Vec<Received> {
        self.shared.lock().expect("lock").received.clone()
    }

    /// Waits (at most 20 s) until `pred` holds over the accepted samples; returns them.
    async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..1000 {
            let got = self.received();
            if pred(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("receiver never saw {what}; got {:#?}", self.received());
    }
}

async fn handle(
    shared: Arc<Mutex<Shared>>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = req.into_body().collect().await.expect("body").to_bytes();
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .expect("snappy block format");
    let decoded = WriteRequest::decode(raw.as_slice()).expect("a WriteRequest");
    let series = decoded
        .timeseries
        .into_iter()
        .map(|ts| {
            let labels = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
            (labels, ts.samples[0].value, ts.samples[0].timestamp)
        })
        .collect();
    let reply = {
        let mut st = shared.lock().expect("lock");
        let reply = if st.hang_all {
            Reply::Hang
        } else {
            st.script.pop_front().unwrap_or(Reply::Status(204, ""))
        };
        let answered = match &reply {
            Reply::Status(c, _) | Reply::RetryAfter(c, _) => *c,
            Reply::Hang => 0,
        };
        st.received.push(Received {
            headers,
            series,
            answered,
        });
        reply
    };
    let resp = |code: u16, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = StatusCode::from_u16(code).expect("valid status");
        r
    };
    Ok(match reply {
        Reply::Status(code, body) => resp(code, body),
        Reply::RetryAfter(code, secs) => {
            let mut r = resp(code, "slow down");
            r.headers_mut()
                .insert("retry-after", secs.parse().expect("header value"));
            r
        }
        Reply::Hang => std::future::pending().await,
    })
}

/// Accepted samples of `name` with labels rendered `k=v,...` (sorted as sent).
fn samples_of(got: &[Received], name: &str) -> Vec<(String, f64, i64)> {
    got.iter()
        .filter(|r| r.answered / 100 == 2)
        .flat_map(|r| &r.series)
        .filter(|(labels, _, _)| labels.iter().any(|(n, v)| n == "__name__" && v == name))
        .map(|(labels, v, ts)| {
            let l: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
            (l.join(","), *v, *ts)
        })
        .collect()
}

async fn gateway(rx: &Receiver, extra: &[&str]) -> TestServer {
    let url = format!("--remote-write.url={}", rx.url);
    let mut flags = vec![url.as_str()];
    if !extra
        .iter()
        .any(|f| f.starts_with("--remote-write.interval"))
    {
        flags.push("--remote-write.interval=100ms");
    }
    flags.extend_from_slice(extra);
    start_with(&flags).await
}

async fn metric(pg: &TestServer, series: &str) -> f64 {
    sample_value(&pg.scrape().await, series).unwrap_or(0.0)
}

/// Waits (at most 20 s) until the self-metric `series` is at least `want`: the sender counts
/// an answer only after the receiver recorded the request.
async fn wait_metric(pg: &TestServer, series: &str, want: f64) -> f64 {
    for _ in 0..1000 {
        let v = metric(pg, series).await;
        if v >= want {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{series} never reached {want}: {}", pg.scrape().await);
}

#[tokio::test]
async fn remote_write_delivers_pushed_values_and_labels_with_the_spec_headers() {
    let rx = Receiver::start().await;
    let pg = gateway(
        &rx,
        &[
            "--remote-write.header=X-Scope-OrgID: team-a",
            "--remote-write.header=User-Agent-Extra: x",
            "--remote-write.external-label=cluster=c1",
        ],
    )
    .await;
    pg.put_ok(
        "/metrics/job/batch/instance/i1",
        "# TYPE g gauge\ng{Zone=\"z\"} 2.5\n# TYPE c counter\nc_total 7\n",
    )
    .await;
    let got = rx
        .wait_for("the gauge", |g| !samples_of(g, "g").is_empty())
        .await;
    let (labels, value, _) = &samples_of(&got, "g")[0];
    assert_eq!(labels, "Zone=z,__name__=g,cluster=c1,instance=i1,job=batch");
    assert_eq!(*value, 2.5);
    let c = samples_of(&got, "c_total");
    assert_eq!(c[0].0, "__name__=c_total,cluster=c1,instance=i1,job=batch");
    assert_eq!(c[0].1, 7.0);
    let req = got
        .iter()
        .find(|r| !r.series.is_empty())
        .expect("a request");
    assert_eq!(req.header("content-encoding"), Some("snappy"));
    assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(
        req.header("x-prometheus-remote-write-version"),
        Some("0.1.0")
    );
    assert!(req
        .header("user-agent")
        .is_some_and(|u| u.starts_with("pushgate/")));
    assert_eq!(req.header("x-scope-orgid"), Some("team-a"));
    // Every tick has one timestamp, later ticks later ones.
    let ts: Vec<i64> = samples_of(&got, "push_time_seconds")
        .iter()
        .map(|s| s.2)
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
}

#[tokio::test]
async fn remote_write_sends_stale_markers_after_a_delete() {
    let rx = Receiver::start().await;
    let pg = gateway(&rx, &[]).await;
    pg.put_ok("/metrics/job/gone", "m 1\n").await;
    rx.wait_for("m", |g| !samples_of(g, "m").is_empty()).await;
    pg.delete("/metrics/job/gone").await.expect_status(202);
    let got = rx
        .wait_for("a stale marker for m", |g| {
            samples_of(g, "m")
                .iter()
                .any(|s| s.1.to_bits() == 0x7ff0_0000_0000_0002)
        })
        .await;
    let m = samples_of(&got, "m");
    let first_stale = m
        .iter()
        .position(|s| s.1.to_bits() == 0x7ff0_0000_0000_0002)
        .expect("stale");
    assert!(
        m[first_stale + 1..].is_empty()
            || m[first_stale + 1..]
                .iter()
                .all(|s| s.1.to_bits() == 0x7ff0_0000_0000_0002),
        "after the marker, m is not sent with a value again: {m:?}"
    );
    let push_time_stale = samples_of(&got, "push_time_seconds")
        .iter()
        .any(|s| s.1.to_bits() == 0x7ff0_0000_0000_0002);
    assert!(push_time_stale);
    let url = &rx.url;
    let stale = format!("pushgate_remote_write_stale_markers_total{{url=\"{url}\"}}");
    wait_metric(&pg, &stale, 3.0).await;
}

#[tokio::test]
async fn remote_write_retries_5xx_and_429_with_retry_after_then_delivers() {
    let rx = Receiver::start().await;
    rx.script(&[
        Reply::Status(500, "try later"),
        Reply::RetryAfter(429, "0"),
        Reply::Status(503, "busy"),
    ]);
    let pg = gateway(&rx, &[]).await;
    pg.put_ok("/metrics/job/r", "m 42\n").await;
    let got = rx
        .wait_for("m accepted", |g| !samples_of(g, "m").is_empty())
        .await;
    // The first accepted request repeats the refused ones: same rows, same timestamp.
    let refused: Vec<&Received> = got.iter().filter(|r| r.answered >= 400).collect();
    assert_eq!(refused.len(), 3);
    let accepted = got.iter().find(|r| r.answered == 204).expect("accepted");
    assert_eq!(accepted.series, refused[0].series);
    assert_eq!(accepted.header("retry-attempt"), Some("3"));
    let url = &rx.url;
    let retried = format!("pushgate_remote_write_samples_retried_total{{url=\"{url}\"}}");
    wait_metric(&pg, &retried, 3.0).await;
    let code_500 = metric(
        &pg,
        &format!("pushgate_remote_write_requests_total{{code=\"500\",url=\"{url}\"}}"),
    )
    .await;
    assert_eq!(code_500, 1.0);
}

#[tokio::test]
async fn remote_write_does_not_retry_429_when_told_not_to() {
    let rx = Receiver::start().await;
    rx.script(&[Reply::RetryAfter(429, "0")]);
    let pg = gateway(&rx, &["--remote-write.retry-on-http-429=false"]).await;
    pg.put_ok("/metrics/job/x", "m 1\n").await;
    let url = rx.url.clone();
    let series =
        format!("pushgate_remote_write_samples_failed_total{{code=\"429\",url=\"{url}\"}}");
    wait_metric(&pg, &series, 1.0).await;
    let retried = format!("pushgate_remote_write_samples_retried_total{{url=\"{url}\"}}");
    assert_eq!(metric(&pg, &retried).await, 0.0);
}

#[tokio::test]
async fn remote_write_drops_a_batch_answered_400_counts_it_and_goes_on() {
    let rx = Receiver::start().await;
    // Ticks of the empty store send nothing: the first request holds m; it gets 400.
    rx.script(&[Reply::Status(400, "out of order sample")]);
    let pg = gateway(&rx, &[]).await;
    pg.put_ok("/metrics/job/x", "m 1\n").await;
    let got = rx
        .wait_for("m accepted after the 400", |g| {
            g.iter().any(|r| r.answered == 400) && !samples_of(g, "m").is_empty()
        })
        .await;
    let refused = got.iter().position(|r| r.answered == 400).expect("400");
    let next = &got[refused + 1];
    assert_ne!(
        next.series.first().map(|s| s.2),
        got[refused].series.first().map(|s| s.2),
        "the refused batch is not sent again"
    );
    let url = &rx.url;
    let failed =
        format!("pushgate_remote_write_samples_failed_total{{code=\"400\",url=\"{url}\"}}");
    wait_metric(&pg, &failed, 1.0).await;
}

#[tokio::test]
async fn remote_write_queue_stays_bounded_while_the_receiver_hangs_and_pushes_go_on() {
    let rx = Receiver::start().await;
    rx.hang_all();
    let pg = gateway(
        &rx,
        &[
            "--remote-write.interval=20ms",
            "--remote-write.queue-ticks=2",
            "--remote-write.timeout=1h",
        ],
    )
    .await;
    let url = rx.url.clone();
    let dropped = format!("pushgate_remote_write_ticks_dropped_total{{url=\"{url}\"}}");
    let pending = format!("pushgate_remote_write_pending_ticks{{url=\"{url}\"}}");
    let mut i = 0;
    while metric(&pg, &dropped).await < 10.0 {
        // Pushes and scrapes keep working while a request hangs.
        pg.put_ok("/metrics/job/busy", &format!("m {i}\n")).await;
        i += 1;
        assert!(i < 2000, "ticks were never dropped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let scrape = pg.scrape().await;
    assert!(
        sample_value(&scrape, &pending).is_some_and(|p| p <= 3.0),
        "{scrape}"
    );
    assert_eq!(rx.received().len(), 1, "one request in flight, never more");
    assert_eq!(
        sample_value(&pg.scrape().await, "m{instance=\"\",job=\"busy\"}"),
        Some(f64::from(i - 1))
    );
}

#[tokio::test]
async fn the_status_page_shows_each_remote_write_endpoint() {
    let rx = Receiver::start().await;
    let pg = gateway(&rx, &[]).await;
    pg.put_ok("/metrics/job/s", "m 1\n").await;
    let url = rx.url.clone();
    let samples = format!("pushgate_remote_write_samples_total{{url=\"{url}\"}}");
    wait_metric(&pg, &samples, 1.0).await;
    let page = pg.get("/?view=status").await.expect_status(200).text();
    assert!(page.contains("<h2>Remote write</h2>"), "{page}");
    assert!(page.contains(&format!("<td>{url}</td>")), "{page}");
    let plain = start_with(&[]).await;
    let page = plain.get("/?view=status").await.expect_status(200).text();
    assert!(!page.contains("Remote write"));
}

/// A CA and a `localhost` server certificate it signed: (CA PEM, server TLS config).
fn test_pki() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::pem::PemObject;
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).expect("CA cert");
    let key = KeyPair::generate().expect("server key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca, &ca_key)
        .expect("server cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes())
                .expect("key"),
        )
        .expect("server config");
    (ca.pem(), Arc::new(config))
}

#[tokio::test]
async fn remote_write_over_tls_trusts_the_given_ca_and_sends_basic_auth() {
    let (ca, tls) = test_pki();
    let dir = std::env::temp_dir().join(format!("pushgate-rw-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca).expect("write CA");
    let password = dir.join("password");
    std::fs::write(&password, "s3cret\n").expect("write password");
    let rx = Receiver::start_tls(tls.clone()).await;
    let ca_flag = format!("--remote-write.tls.ca-file={}", ca_file.display());
    let pw_flag = format!(
        "--remote-write.basic-auth.password-file={}",
        password.display()
    );
    let pg = gateway(
        &rx,
        &[&ca_flag, "--remote-write.basic-auth.username=pg", &pw_flag],
    )
    .await;
    pg.put_ok("/metrics/job/tls", "m 5\n").await;
    let got = rx
        .wait_for("m over TLS", |g| !samples_of(g, "m").is_empty())
        .await;
    let req = got
        .iter()
        .find(|r| !r.series.is_empty())
        .expect("a request");
    // base64("pg:s3cret"): the file's trailing newline is not part of the password.
    assert_eq!(req.header("authorization"), Some("Basic cGc6czNjcmV0"));
    // Without the CA the certificate is refused; with insecure-skip-verify it is not checked.
    let untrusted = Receiver::start_tls(tls.clone()).await;
    let pg2 = gateway(&untrusted, &[]).await;
    pg2.put_ok("/metrics/job/tls", "m 6\n").await;
    let url = untrusted.url.clone();
    let errors = format!("pushgate_remote_write_requests_total{{code=\"error\",url=\"{url}\"}}");
    wait_metric(&pg2, &errors, 1.0).await;
    assert!(untrusted.received().is_empty());
    let insecure = Receiver::start_tls(tls).await;
    let pg3 = gateway(&insecure, &["--remote-write.tls.insecure-skip-verify"]).await;
    pg3.put_ok("/metrics/job/tls", "m 7\n").await;
    insecure
        .wait_for("m without verification", |g| !samples_of(g, "m").is_empty())
        .await;
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test]
async fn remote_write_sends_the_bearer_token_from_its_file() {
    let dir = std::env::temp_dir().join(format!("pushgate-rw-bearer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let token = dir.join("token");
    std::fs::write(&token, "t0ken\n").expect("write token");
    let rx = Receiver::start().await;
    let flag = format!("--remote-write.bearer-token-file={}", token.display());
    let pg = gateway(&rx, &[&flag]).await;
    pg.put_ok("/metrics/job/b", "m 1\n").await;
    let got = rx.wait_for("m", |g| !samples_of(g, "m").is_empty()).await;
    let req = got
        .iter()
        .find(|r| !r.series.is_empty())
        .expect("a request");
    assert_eq!(req.header("authorization"), Some("Bearer t0ken"));
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test]
async fn remote_write_sends_stale_markers_for_an_expired_group() {
    let rx = Receiver::start().await;
    let pg = gateway(&rx, &["--push.group-ttl=1s"]).await;
    pg.put_ok("/metrics/job/short", "m 1\n").await;
    let got = rx
        .wait_for("a stale marker for m after the group expired", |g| {
            samples_of(g, "m")
                .iter()
                .any(|s| s.1.to_bits() == 0x7ff0_0000_0000_0002)
        })
        .await;
    assert!(samples_of(&got, "m").iter().any(|s| s.1 == 1.0));
    assert!(!pg.scrape().await.contains("job=\"short\""));
}
