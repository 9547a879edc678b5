//! Torture: hundreds of malformed or hostile requests, concurrent pushers and scrapers, and
//! property tests of the escaping and grouping-key round trips through the real parsers.
//!
//! Every hostile request must get a 4xx and leave the store exactly as it was. Requests that
//! name a group that does not exist must leave no trace at all: the scrape (pushed families and
//! both push-time families) is byte-identical before and after. Refused pushes to an existing
//! group legitimately update its `push_failure_time_seconds`, so for those (the second table)
//! that one family is left out of the comparison and everything else must be identical.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{
    assert_lines_equal, fixture, parse_response, pushed_only, sample_value, start_with,
    without_own, Resp, TestServer,
};

/// `--push.max-body-bytes` of the torture server: small, so over-limit bodies stay cheap.
const MAX_BODY: usize = 4 << 20;
/// `--push.max-decompressed-bytes` of the torture server.
const MAX_INFLATED: usize = 8 << 20;

const TM_PATH: &str = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2";
const JM_PATH: &str = "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2";
const OTHER_PATH: &str = "/metrics/job/torture_existing/instance/i1";
/// A group that never exists: hostile pushes aim here.
const NEW: &str = "/metrics/job/torture_new";

async fn start_torture_server() -> TestServer {
    let s = start_with(&[
        &format!("--push.max-body-bytes={MAX_BODY}"),
        &format!("--push.max-decompressed-bytes={MAX_INFLATED}"),
        "--push.body-read-timeout=5s",
    ])
    .await;
    s.put_ok(TM_PATH, &fixture("flink-2.3.0/tm.txt")).await;
    s.put_ok(JM_PATH, &fixture("flink-2.3.0/jm.txt")).await;
    s.put_ok(
        OTHER_PATH,
        "# HELP s a summary\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n\
         # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n\
         # TYPE g gauge\ng{a=\"x\"} 1\n# TYPE c counter\nc 5\n",
    )
    .await;
    s
}

/// One raw HTTP request and what it is meant to break.
struct Case {
    what: String,
    raw: Vec<u8>,
}

/// Whether the client should shut down its write side after sending: only for requests cut
/// short on purpose, which the server would otherwise wait on until `--push.body-read-timeout`.
/// (Other requests keep it open, as real clients do: see
/// `findings::half_closed_client_still_gets_the_answer_to_a_large_push`.)
fn cut_short(what: &str) -> bool {
    what.contains("cut short") || what.contains("shorter than")
}

/// A complete request with `Connection: close` and a `Content-Length` matching `body`.
fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: torture\r\nConnection: close\r\n");
    for (n, v) in headers {
        let _ = write!(head, "{n}: {v}\r\n");
    }
    if !headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    }) {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Sends `raw` (writing and reading at once, so an early answer to a large body is not lost),
/// half-closes if asked to, and reads the response. `Err` says why there is none.
async fn send_raw(s: &TestServer, raw: Vec<u8>, half_close: bool) -> Result<Resp, String> {
    let stream = TcpStream::connect(s.addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The server may answer and close before reading everything; that is fine.
        let _ = wr.write_all(&raw).await;
        if half_close {
            let _ = wr.shutdown().await;
        } else {
            // Keep the write half open until the answer is read (the task is aborted then).
            std::future::pending::<()>().await;
        }
    });
    let mut resp = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    resp.extend_from_slice(&buf[..n]);
                    // A kept-alive connection stays open after the answer.
                    if is_complete(&resp) {
                        return Ok(());
                    }
                }
                // A reset after the answer arrived still leaves us the answer.
                Err(_) if !resp.is_empty() => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await;
    writer.abort();
    match read {
        Err(_) => Err("no answer within 30 s".to_owned()),
        Ok(Err(e)) => Err(format!("read failed: {e}")),
        Ok(Ok(())) if !resp.windows(4).any(|w| w == b"\r\n\r\n") => Err(format!(
            "connection closed without an answer ({} bytes)",
            resp.len()
        )),
        Ok(Ok(())) => Ok(parse_response(&resp)),
    }
}

/// Whether `resp` holds a whole response: its head and a `Content-Length` body, or a chunked
/// body up to its last chunk.
fn is_complete(resp: &[u8]) -> bool {
    let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&resp[..end]).to_ascii_lowercase();
    let body = &resp[end + 4..];
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|n| body.len() >= n)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("in memory");
    enc.finish().expect("in memory")
}

// ---- hand-written protobuf, so malformed messages are easy to make ----

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn pb_bytes(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn pb_label(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    pb_bytes(&mut m, 1, name);
    pb_bytes(&mut m, 2, value);
    m
}

/// A `Metric` with these labels and `gauge` (field 2) or `counter` (field 3) set to `v`.
fn pb_metric(labels: &[(&[u8], &[u8])], value_field: u64, v: f64) -> Vec<u8> {
    let mut m = Vec::new();
    for (n, val) in labels {
        pb_bytes(&mut m, 1, &pb_label(n, val));
    }
    let mut value = vec![0x09]; // field 1, fixed64
    value.extend_from_slice(&v.to_le_bytes());
    pb_bytes(&mut m, value_field, &value);
    m
}

/// A `MetricFamily` (type 1 = GAUGE, 0 = COUNTER) with the given metrics.
fn pb_family(name: &[u8], kind: u64, metrics: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    pb_bytes(&mut f, 1, name);
    pb_bytes(&mut f, 2, b"help");
    f.push(0x18); // field 3, varint
    varint(&mut f, kind);
    for m in metrics {
        pb_bytes(&mut f, 4, m);
    }
    f
}

fn delimited(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        varint(&mut out, m.len() as u64);
        out.extend_from_slice(m);
    }
    out
}

const PB: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Text bodies that do not parse, or that the store must refuse wherever they go.
fn bad_text_bodies() -> Vec<(String, Vec<u8>)> {
    let mut bodies: Vec<(String, Vec<u8>)> = [
        "m 1",
        "m\n",
        "m \n",
        "m 1 \n",
        "m 1 2 3\n",
        "m abc\n",
        "m 1e400\n",
        "m -nan\n",
        "m 0x10\n",
        "m 1_000\n",
        "m 1 1.5\n",
        "m 1 99999999999999999999\n",
        "m 1\r\n",
        "1m 1\n",
        "-m 1\n",
        ".m 1\n",
        "m{ 1\n",
        "m{a} 1\n",
        "m{a=} 1\n",
        "m{a=1} 1\n",
        "m{a=\"1} 1\n",
        "m{a=\"1\" b=\"2\"} 1\n",
        "m{a=\"1\",a=\"2\"} 1\n",
        "m{__a=\"1\"} 1\n",
        "m{__name__=\"x\"} 1\n",
        "m{a=\"\\x\"} 1\n",
        "m{a=\"\\\"} 1\n",
        "m{a=\"line\nbreak\"} 1\n",
        "m{=\"1\"} 1\n",
        "m{a-b=\"1\"} 1\n",
        "m{a:b=\"1\"} 1\n",
        "m{a=\"1\"}} 1\n",
        "m{a=\"1\",,} 1\n",
        "m{,} 1\n",
        "m{{a=\"1\"} 1\n",
        "m{a=\"1\"\n",
        "m{a=\"1\"",
        "m{a='1'} 1\n",
        "m{a=\"1\"} \n",
        "m{a=\"1\"}\n",
        "m{a=\"1\"=\"2\"} 1\n",
        "{__name__=\"m\"} 1\n",
        "# TYPE m gauge\n# TYPE m gauge\nm 1\n",
        "m 1\n# TYPE m gauge\n",
        "# HELP m a\n# HELP m b\nm 1\n",
        "# TYPE m foo\nm 1\n",
        "# TYPE m gauge_histogram\nm 1\n",
        "# TYPE m summary x\nm 1\n",
        "# HELP m bad \\x escape\nm 1\n",
        "# TYPE 1m gauge\n",
        "# TYPE m,x gauge\n",
        "# HELP m",
        "# TYPE m summary\nm 1\n",
        "# TYPE m histogram\nm 1\n",
        "# TYPE m summary\nm{quantile=\"x\"} 1\n",
        "# TYPE m histogram\nm_bucket{le=\"abc\"} 1\n",
        "# TYPE m histogram\nm_bucket 1\n",
        "m 1 1700000000000\n",
        "# TYPE m summary\nm{quantile=\"0.5\"} 1 1700000000000\n",
        "m 1\nm 1\n",
        "m{a=\"1\"} 1\nm{a=\"1\"} 2\n",
        "m{a=\"1\",b=\"2\"} 1\nm{b=\"2\",a=\"1\"} 2\n",
        "s_count 1\n# TYPE s summary\ns{quantile=\"0.5\"} 1\n",
        "# TYPE pushgateway_build_info counter\npushgateway_build_info 1\n",
        "{\"metrics\":[{\"name\":\"m\",\"value\":1}]}\n",
        "<html><body>m 1</body></html>\n",
        "m 1\n\0\n",
        "m\0 1\n",
    ]
    .into_iter()
    .map(|b| (format!("text {b:?}"), b.as_bytes().to_vec()))
    .collect();
    let raw: [(&str, &[u8]); 8] = [
        ("invalid UTF-8 in a label value", b"m{a=\"\xff\"} 1\n"),
        ("invalid UTF-8 in a metric name", b"m\xff 1\n"),
        ("invalid UTF-8 in HELP", b"# HELP m \xc3\x28\nm 1\n"),
        ("a UTF-8 BOM", b"\xef\xbb\xbfm 1\n"),
        (
            "an overlong UTF-8 slash in a value",
            b"m{a=\"\xc0\xaf\"} 1\n",
        ),
        ("a surrogate in a value", b"m{a=\"\xed\xa0\x80\"} 1\n"),
        ("a truncated UTF-8 sequence", b"m{a=\"\xe2\x82\"} 1\n"),
        ("UTF-16", b"m\x001\x00 \x001\x00\n\x00"),
    ];
    bodies.extend(raw.iter().map(|(w, b)| ((*w).to_owned(), b.to_vec())));
    let big = "x".repeat(1 << 20);
    bodies.push((
        "a 1 MiB label value without its closing quote".into(),
        format!("m{{a=\"{big}}} 1\n").into_bytes(),
    ));
    bodies.push((
        "a 1 MiB label value (over --push.max-label-value-length)".into(),
        format!("m{{a=\"{big}\"}} 1\n").into_bytes(),
    ));
    bodies.push((
        "a 1 MiB metric name (over --push.max-name-length)".into(),
        format!("m{big} 1\n").into_bytes(),
    ));
    bodies.push((
        "a 1 MiB HELP line without a newline".into(),
        format!("# HELP m {big}").into_bytes(),
    ));
    let many_labels: String = (0..100).map(|i| format!("l{i}=\"v\",")).collect();
    bodies.push((
        "100 labels on one series (over --push.max-labels-per-series)".into(),
        format!("m{{{many_labels}}} 1\n").into_bytes(),
    ));
    let mut many_series = String::with_capacity(4 << 20);
    for i in 0..200_001 {
        let _ = writeln!(many_series, "m{{i=\"{i}\"}} 1");
    }
    bodies.push((
        "200,001 series (over --push.max-series-per-push)".into(),
        many_series.into_bytes(),
    ));
    bodies.push((
        "valid lines, then one bad line at the end".into(),
        format!("{}m{{a=\"1\" 1\n", fixture("flink-2.3.0/tm.txt")).into_bytes(),
    ));
    bodies.push(("a gzip body sent as plain text".into(), gzip(b"m 1\n")));
    bodies
}

/// Bodies that are fine on their own but clash with the pre-loaded groups, so the store
/// refuses them for any other group (for the group that holds the clashing family they would
/// be a legitimate replacement).
fn clashing_bodies() -> Vec<(String, Vec<u8>)> {
    [
        "# TYPE g counter\ng 1\n",
        "# TYPE s gauge\ns 1\n",
        "h_bucket 1\n",
        "h_count{x=\"y\"} 1\n",
        "# TYPE s_sum gauge\ns_sum 1\n",
        "# TYPE flink_taskmanager_Status_JVM_CPU_Load counter\nflink_taskmanager_Status_JVM_CPU_Load 1\n",
    ]
    .into_iter()
    .map(|b| (format!("clashing {b:?}"), b.as_bytes().to_vec()))
    .collect()
}

/// A body sent with its own headers: (what it breaks, headers, body).
type TypedBody = (String, Vec<(&'static str, String)>, Vec<u8>);

/// Bodies with their own headers: content types and encodings.
fn bad_typed_bodies() -> Vec<TypedBody> {
    let ct = |v: &str| vec![("Content-Type", v.to_owned())];
    let ce = |v: &str| vec![("Content-Encoding", v.to_owned())];
    let good = delimited(&[pb_family(b"m", 1, &[pb_metric(&[(b"a", b"1")], 2, 1.0)])]);
    let mut cases = vec![
        ("protobuf without parameters".to_owned(), ct("application/vnd.google.protobuf"), good.clone()),
        (
            "protobuf with encoding=text".to_owned(),
            ct("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text"),
            good.clone(),
        ),
        (
            "protobuf of another message type".to_owned(),
            ct("application/vnd.google.protobuf; proto=foo.Bar; encoding=delimited"),
            good.clone(),
        ),
        ("a text body labelled protobuf".to_owned(), ct(PB), b"m 1\n".to_vec()),
        ("JSON labelled JSON".to_owned(), ct("application/json"), b"{\"m\": 1}\n".to_vec()),
        ("a form post".to_owned(), ct("application/x-www-form-urlencoded"), b"m=1&n=2".to_vec()),
        ("an unknown Content-Encoding".to_owned(), ce("br"), b"m 1\n".to_vec()),
        ("Content-Encoding: compress".to_owned(), ce("compress"), b"m 1\n".to_vec()),
        ("garbage labelled gzip".to_owned(), ce("gzip"), b"this is not gzip\n".to_vec()),
        ("plain text labelled gzip".to_owned(), ce("gzip"), b"m 1\n".to_vec()),
        ("garbage labelled snappy".to_owned(), ce("snappy"), b"\xff\x06\x00\x00sNaPpY garbage".to_vec()),
        ("gzip of a bad body".to_owned(), ce("gzip"), gzip(b"m{ 1\n")),
        ("gzip of invalid UTF-8".to_owned(), ce("gzip"), gzip(b"m{a=\"\xff\"} 1\n")),
        ("gzip of a protobuf body sent as text".to_owned(), ce("gzip"), gzip(&good)),
        ("gzip with a bad CRC".to_owned(), ce("gzip"), {
            let mut g = gzip(b"m 1\n");
            let n = g.len();
            g[n - 8] ^= 0xff;
            g
        }),
        ("gzip with trailing garbage".to_owned(), ce("gzip"), {
            let mut g = gzip(b"m 1\n");
            g.extend_from_slice(b"garbage");
            g
        }),
        (
            "a gzip bomb (over --push.max-decompressed-bytes)".to_owned(),
            ce("gzip"),
            gzip(&vec![b'\n'; MAX_INFLATED + 1]),
        ),
        ("double gzip labelled once".to_owned(), ce("gzip"), gzip(&gzip(b"m 1\n"))),
    ];
    let full = gzip(b"m 1\nn 2\n");
    for cut in [1, 5, 10, full.len() / 2, full.len() - 4, full.len() - 1] {
        cases.push((
            format!("gzip truncated to {cut} bytes"),
            ce("gzip"),
            full[..cut].to_vec(),
        ));
    }
    for cut in [1, 3, good.len() / 2, good.len() - 1] {
        cases.push((
            format!("protobuf truncated to {cut} bytes"),
            ct(PB),
            good[..cut].to_vec(),
        ));
    }
    // (A name that is merely not classic, like "1m" or label "a-b", is renamed by the default
    // --flink.rename=on, so it is no hostile input.)
    let pb_cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "protobuf: empty metric name",
            delimited(&[pb_family(b"", 1, &[pb_metric(&[], 2, 1.0)])]),
        ),
        (
            "protobuf: reserved label name",
            delimited(&[pb_family(b"m", 1, &[pb_metric(&[(b"__a", b"1")], 2, 1.0)])]),
        ),
        (
            "protobuf: duplicate label name",
            delimited(&[pb_family(
                b"m",
                1,
                &[pb_metric(&[(b"a", b"1"), (b"a", b"2")], 2, 1.0)],
            )]),
        ),
        (
            "protobuf: invalid UTF-8 label value",
            delimited(&[pb_family(b"m", 1, &[pb_metric(&[(b"a", b"\xff")], 2, 1.0)])]),
        ),
        (
            "protobuf: invalid UTF-8 name",
            delimited(&[pb_family(b"m\xff", 1, &[pb_metric(&[], 2, 1.0)])]),
        ),
        (
            "protobuf: gauge family with a counter value",
            delimited(&[pb_family(b"m", 1, &[pb_metric(&[], 3, 1.0)])]),
        ),
        (
            "protobuf: unknown type",
            delimited(&[pb_family(b"m", 99, &[pb_metric(&[], 2, 1.0)])]),
        ),
        ("protobuf: length prefix overflow", vec![0xff; 11]),
        (
            "protobuf: length past the end",
            vec![0x80, 0x80, 0x80, 0x01, 0x0a],
        ),
        ("protobuf: bad wire type", delimited(&[vec![0x0f, 0x01]])),
        ("protobuf: field 0", delimited(&[vec![0x02, 0x01, b'm']])),
        ("protobuf: a good message then garbage", {
            let mut b = good.clone();
            b.extend_from_slice(b"\x05abc");
            b
        }),
        (
            "protobuf: nested length past the message",
            delimited(&[vec![0x0a, 0x7f, b'm']]),
        ),
        ("protobuf: timestamp", {
            let mut m = pb_metric(&[], 2, 1.0);
            m.push(0x30); // field 6, varint
            varint(&mut m, 1_700_000_000_000);
            delimited(&[pb_family(b"m", 1, &[m])])
        }),
        (
            "protobuf: type clash with a stored family",
            delimited(&[pb_family(b"g", 0, &[pb_metric(&[], 3, 1.0)])]),
        ),
    ];
    cases.extend(pb_cases.into_iter().map(|(w, b)| (w.to_owned(), ct(PB), b)));
    cases
}

/// Paths that are not valid push paths, each with a body that would otherwise be fine.
fn bad_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        "/metrics/job/",
        "/metrics/job//x/y",
        "/metrics/job/x/a",
        "/metrics/job/x/a/1/b",
        "/metrics/job/x//",
        "/metrics/job/x//a",
        "/metrics/job/x/__a/1",
        "/metrics/job/x/__name__/1",
        "/metrics/job/x/a-b/1",
        "/metrics/job/x/1a/1",
        "/metrics/job/x/a.b/1",
        "/metrics/job/x/%C3%A7/1",
        "/metrics/job/x/a%00b/1",
        "/metrics/job/x/%zz",
        "/metrics/job/x/a/%4",
        "/metrics/job/x/a/%",
        "/metrics/job/x/a/x%g0",
        "/metrics/job/%FF",
        "/metrics/job/x/a/%C3",
        "/metrics/job/x/a/%ED%A0%80",
        "/metrics/job/x/a/%C0%AF",
        "/metrics/job@base64/!!",
        "/metrics/job@base64/=",
        "/metrics/job@base64/",
        "/metrics/job@base64/Zm9v!!/a/b",
        "/metrics/job@base64/_w",
        "/metrics/job/x/a@base64/Zm9vY",
        "/metrics/job/x/a@base64/Zg=a",
        "/metrics/job/x/a@base64/Zm+v",
        "/metrics/job/x/a@base64/_w",
        "/metrics/job/x/a@base64@base64/x",
        "/metrics/job/x/@base64/x",
        "/metrics/job/x/a@base64/%FF",
        "/metrics/job/../../etc/passwd",
        "/metrics/job/x/../../../etc/passwd",
        "/metrics/job/x%2Fa",
        "/metrics/job/x%2F%2F",
        "/metrics/job/%2F",
        "/metrics/job/x/a/1%2Fb",
        // Not push paths at all: 404.
        "/metrics/../metrics/job/x",
        "/metrics//job/x",
        "/metrics/job%2Fx",
        "/metrics/jobs/x",
        "/metrics/JOB/x",
        "/METRICS/job/x",
        "/metric/job/x",
        "/metrics/job",
        "/metrics/",
        "/job/x",
        "/",
        "*",
        "/-/healthy/../../metrics/job/x",
        "/metrics/instance/x/job/y",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    paths.push(format!("/metrics/job/{}", "x/".repeat(40_000)));
    paths.push(format!("/metrics/job/{}", "x".repeat(70_000)));
    paths.push(format!("/metrics/job/x{}/b", "/a/1".repeat(2_000)));
    let labels: String = (0..100).map(|i| format!("/l{i}/v")).collect();
    paths.push(format!("/metrics/job/x{labels}"));
    paths
}

/// Requests broken at the HTTP level.
fn bad_http() -> Vec<(String, Vec<u8>)> {
    let body = b"m 1\n";
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("garbage request line".into(), b"GARBAGE\r\n\r\n".to_vec()),
        ("NUL in the path".into(), b"PUT /metrics/job/a\0b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nm 1\n".to_vec()),
        ("a space in the path".into(), b"PUT /metrics/job/a b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nm 1\n".to_vec()),
        ("a raw non-ASCII path".into(), b"PUT /metrics/job/\xff HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nm 1\n".to_vec()),
        ("a bad header line".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost x\r\nContent-Length: 4\r\n\r\nm 1\n".to_vec()),
        ("a header name with a space".into(), b"PUT /metrics/job/a HTTP/1.1\r\nBad Header: x\r\nContent-Length: 4\r\n\r\nm 1\n".to_vec()),
        ("a 1 MiB header".into(), {
            let mut r = b"PUT /metrics/job/a HTTP/1.1\r\nX-Big: ".to_vec();
            r.extend(std::iter::repeat_n(b'a', 1 << 20));
            r.extend_from_slice(b"\r\nContent-Length: 4\r\n\r\nm 1\n");
            r
        }),
        ("10,000 headers".into(), {
            let mut r = b"PUT /metrics/job/a HTTP/1.1\r\n".to_vec();
            for i in 0..10_000 {
                r.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
            }
            r.extend_from_slice(b"Content-Length: 4\r\n\r\nm 1\n");
            r
        }),
        ("a negative Content-Length".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nm 1\n".to_vec()),
        ("a non-numeric Content-Length".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nm 1\n".to_vec()),
        ("two different Content-Lengths".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 3\r\n\r\nm 1\n".to_vec()),
        ("a 20-digit Content-Length".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nm 1\n".to_vec()),
        ("a bad chunk size".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nm 1\n\r\n0\r\n\r\n".to_vec()),
        ("a chunk longer than announced".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nm 1\n\r\n0\r\n\r\n".to_vec()),
        ("a chunked body cut short".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nm 1\n\r\n".to_vec()),
        ("an unknown Transfer-Encoding".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nm 1\n".to_vec()),
        ("a body shorter than its Content-Length".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nm 1\n".to_vec()),
        ("a Content-Length that cuts the body mid-line".into(), b"PUT /metrics/job/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nm 1\n".to_vec()),
        ("an HTTP/1.0 request cut short".into(), b"PUT /metrics/job/a HTTP/1.0\r\nContent-Length: 10\r\n\r\nm 1\n".to_vec()),
        ("PATCH".into(), request("PATCH", "/metrics/job/a", &[], body)),
        ("GET on a push path".into(), request("GET", "/metrics/job/a", &[], b"")),
        ("HEAD on a push path".into(), request("HEAD", "/metrics/job/a", &[], b"")),
        ("TRACE".into(), request("TRACE", "/metrics/job/a", &[], b"")),
        ("a made-up method".into(), request("FROB", "/metrics/job/a", &[], body)),
        ("PUT on the scrape path".into(), request("PUT", "/metrics", &[], body)),
        ("POST on the scrape path".into(), request("POST", "/metrics", &[], body)),
        ("DELETE on the scrape path".into(), request("DELETE", "/metrics", &[], b"")),
        ("PUT on /-/healthy".into(), request("PUT", "/-/healthy", &[], body)),
    ];
    let over = vec![b'\n'; MAX_BODY + 1];
    cases.push((
        "a body one byte over --push.max-body-bytes".into(),
        request("PUT", NEW, &[], &over),
    ));
    cases.push((
        "a body twice --push.max-body-bytes".into(),
        request("POST", NEW, &[], &vec![b'\n'; 2 * MAX_BODY]),
    ));
    cases.push((
        "a Content-Length over --push.max-body-bytes, no body sent".into(),
        format!(
            "PUT {NEW} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        )
        .into_bytes(),
    ));
    let mut chunked =
        format!("PUT {NEW} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for _ in 0..5 {
        chunked.extend_from_slice(format!("{:x}\r\n", MAX_BODY / 4).as_bytes());
        chunked.extend(std::iter::repeat_n(b'\n', MAX_BODY / 4));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    cases.push(("a chunked body over --push.max-body-bytes".into(), chunked));
    cases.push((
        "a gzip body over --push.max-body-bytes compressed".into(),
        request("PUT", NEW, &[("Content-Encoding", "gzip")], &{
            // Incompressible bytes, so the compressed body stays over the limit.
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let noise: Vec<u8> = (0..MAX_BODY + 1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            gzip(&noise)
        }),
    ));
    cases
}

/// How a push refused by the store (after parsing) is answered.
const STORE_REFUSAL: &str = "pushed metrics are invalid or inconsistent with existing metrics";

/// Whether a bad text body is bad only for its timestamps (it parses, then the store refuses it).
fn is_timestamped(body: &[u8]) -> bool {
    body.ends_with(b" 1700000000000\n")
}

/// All the cases aimed at groups that do not exist (or at no group at all).
fn cases_for_new_groups() -> Vec<Case> {
    let mut cases = Vec::new();
    // Bodies that parse but are refused by the store (clashing, duplicate or timestamped
    // series) mark their group as failed, as in Go: `run_cases` removes that empty group again,
    // and `refused_pushes_to_a_new_group_get_400_and_leave_only_an_empty_failed_group` pins it.
    for (what, body) in bad_text_bodies().into_iter().chain(clashing_bodies()) {
        for method in ["PUT", "POST"] {
            cases.push(Case {
                what: format!("{method} {what}"),
                raw: request(method, NEW, &[], &body),
            });
        }
    }
    for (what, headers, body) in bad_typed_bodies() {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        for method in ["PUT", "POST"] {
            cases.push(Case {
                what: format!("{method} {what}"),
                raw: request(method, NEW, &headers, &body),
            });
        }
    }
    for path in bad_paths() {
        let shown: String = path.chars().take(60).collect();
        // Limits apply to pushes: deleting a group with many labels is fine (202).
        let many_labels = path.contains("/l99/");
        for method in ["PUT", "POST", "DELETE"]
            .into_iter()
            .filter(|m| !(many_labels && *m == "DELETE"))
        {
            let body: &[u8] = if method == "DELETE" { b"" } else { b"m 1\n" };
            cases.push(Case {
                what: format!("{method} bad path {shown:?} ({} bytes)", path.len()),
                raw: request(method, &path, &[], body),
            });
        }
    }
    for (what, raw) in bad_http() {
        cases.push(Case { what, raw });
    }
    // Refused in the store: a new group with the same labels as an existing one.
    // (`instance=""` spelled out is another key, with the same labels on its series.)
    for path in [
        format!("{TM_PATH}/instance@base64/="),
        format!("{JM_PATH}/instance/"),
    ] {
        cases.push(Case {
            what: format!("PUT a key that duplicates an existing group's labels: {path}"),
            raw: request("PUT", &path, &[], b"m 1\n"),
        });
    }
    cases
}

/// Runs each case, collecting every one that did not get a 4xx or changed the view.
async fn run_cases(s: &TestServer, cases: Vec<Case>, view: fn(&str) -> String) -> Vec<String> {
    let before = view(&s.scrape().await);
    let mut failures = Vec::new();
    for case in cases {
        match send_raw(s, case.raw, cut_short(&case.what)).await {
            // Go's routers redirect unclean paths (301) and `/metrics/job/` (307).
            Ok(r) if matches!(r.status, 301 | 307) && r.header("location").is_some() => {}
            Ok(r) if (400..500).contains(&r.status) => {
                if r.text().starts_with(STORE_REFUSAL) {
                    // Go's setPushFailedTimestamp created the (empty) target group.
                    s.request("DELETE", NEW, &[], b"").await.expect_status(202);
                }
            }
            Ok(r) => {
                let text: String = r.text().chars().take(200).collect();
                failures.push(format!("{}: got {} {text:?}", case.what, r.status));
            }
            Err(e) => failures.push(format!("{}: {e}", case.what)),
        }
        let after = view(&s.scrape().await);
        if after != before {
            failures.push(format!("{}: changed the scrape", case.what));
            return failures; // the rest would all differ too
        }
    }
    failures
}

#[tokio::test]
async fn refused_pushes_to_a_new_group_get_400_and_leave_only_an_empty_failed_group() {
    let s = start_torture_server().await;
    let before = pushed_only(&s.scrape().await);
    let timestamped = bad_text_bodies()
        .into_iter()
        .filter(|(_, b)| is_timestamped(b));
    for (what, body) in clashing_bodies().into_iter().chain(timestamped) {
        for method in ["PUT", "POST"] {
            let r = send_raw(&s, request(method, NEW, &[], &body), cut_short(&what))
                .await
                .expect("answered");
            assert_eq!(r.status, 400, "{method} {what}: {}", r.text());
            assert!(
                r.text().starts_with(STORE_REFUSAL),
                "{method} {what}: {}",
                r.text()
            );
            assert_lines_equal(&pushed_only(&s.scrape().await), &before);
        }
    }
    // Go's setPushFailedTimestamp: the group exists, never pushed successfully.
    let out = s.scrape().await;
    let at = |name: &str| {
        sample_value(
            &out,
            &format!("{name}{{instance=\"\",job=\"torture_new\"}}"),
        )
    };
    assert_eq!(at("push_time_seconds"), Some(0.0), "{out}");
    assert!(
        at("push_failure_time_seconds").is_some_and(|t| t > 0.0),
        "{out}"
    );
}

#[tokio::test]
async fn hostile_requests_to_new_groups_get_4xx_and_leave_the_scrape_byte_identical() {
    let s = start_torture_server().await;
    let cases = cases_for_new_groups();
    let n = cases.len();
    assert!(n >= 200, "only {n} cases");
    let failures = run_cases(&s, cases, without_own).await;
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Still healthy and still taking pushes.
    s.put_ok("/metrics/job/after_torture", "m 1\n").await;
}

/// The scrape without the gateway's own families and without `push_failure_time_seconds`.
fn without_failure_times(scrape: &str) -> String {
    without_own(scrape)
        .lines()
        .filter(|l| !l.contains("push_failure_time_seconds"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test]
async fn hostile_bodies_to_existing_groups_get_4xx_and_change_only_failure_times() {
    let s = start_torture_server().await;
    let mut cases = Vec::new();
    for path in [OTHER_PATH, TM_PATH] {
        for (what, body) in bad_text_bodies() {
            cases.push(Case {
                what: format!("PUT {path}: {what}"),
                raw: request("PUT", path, &[], &body),
            });
        }
        // A clash with a stored family is no error for the group that holds it.
        for (what, headers, body) in bad_typed_bodies()
            .into_iter()
            .filter(|(w, ..)| !w.contains("clash"))
        {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            cases.push(Case {
                what: format!("POST {path}: {what}"),
                raw: request("POST", path, &headers, &body),
            });
        }
    }
    let n = cases.len();
    let failures = run_cases(&s, cases, without_failure_times).await;
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- concurrency: no torn groups ----

const PUSHERS: usize = 6;
const SCRAPERS: usize = 4;
const PUSHES_PER_PUSHER: usize = 300;
const GROUPS: usize = 5;
const SERIES_PER_FAMILY: usize = 20;

/// A push body in which every sample has the value `seq`.
fn uniform_body(seq: u64) -> String {
    let mut b = String::new();
    b.push_str("# TYPE torn_gauge gauge\n");
    for i in 0..SERIES_PER_FAMILY {
        let _ = writeln!(b, "torn_gauge{{series=\"{i}\"}} {seq}");
    }
    b.push_str("# TYPE torn_counter counter\n");
    for i in 0..SERIES_PER_FAMILY {
        let _ = writeln!(b, "torn_counter{{series=\"{i}\",extra=\"x\"}} {seq}");
    }
    b.push_str("# TYPE torn_summary summary\n");
    for i in 0..3 {
        for q in ["0.5", "0.99"] {
            let _ = writeln!(b, "torn_summary{{series=\"{i}\",quantile=\"{q}\"}} {seq}");
        }
        let _ = writeln!(b, "torn_summary_sum{{series=\"{i}\"}} {seq}");
        let _ = writeln!(b, "torn_summary_count{{series=\"{i}\"}} {seq}");
    }
    b.push_str("# TYPE torn_histogram histogram\n");
    for le in ["1", "10", "+Inf"] {
        let _ = writeln!(b, "torn_histogram_bucket{{le=\"{le}\"}} {seq}");
    }
    let _ = writeln!(b, "torn_histogram_sum {seq}\ntorn_histogram_count {seq}");
    b
}

/// Sample lines of one group in a full push (20 + 20 + 3 × 4 + 5).
const LINES_PER_GROUP: usize = 2 * SERIES_PER_FAMILY + 3 * 4 + 5;

/// Checks that each `torn_*` group in a scrape shows one push whole; returns how many groups
/// it saw.
fn check_not_torn(scrape: &str) -> Result<usize, String> {
    let mut groups: std::collections::BTreeMap<String, (String, usize)> = Default::default();
    for line in scrape.lines().filter(|l| l.starts_with("torn_")) {
        let job = line
            .split("job=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .ok_or_else(|| format!("no job label: {line}"))?;
        let value = line.rsplit(' ').next().expect("a sample line has a value");
        let entry = groups
            .entry(job.to_owned())
            .or_insert_with(|| (value.to_owned(), 0));
        if entry.0 != value {
            return Err(format!(
                "group {job} is torn: values {} and {value} ({line})",
                entry.0
            ));
        }
        entry.1 += 1;
    }
    for (job, (_, lines)) in &groups {
        if *lines != LINES_PER_GROUP {
            return Err(format!(
                "group {job} shows {lines} lines, not {LINES_PER_GROUP}"
            ));
        }
    }
    pushgate::parse::text::parse(scrape.as_bytes())
        .map_err(|e| format!("scrape does not parse: {e}"))?;
    Ok(groups.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushers_and_scrapers_never_see_a_torn_group() -> Result<(), String> {
    let s = Arc::new(start_with(&[]).await);
    let seq = Arc::new(AtomicU64::new(1));
    // Nobody pushes until every scraper is about to send its first scrape, and scrapers go on
    // until the last pusher is done: scrapes overlap pushes by construction, however fast or
    // slow the machine is (an earlier version counted scrapes and failed on a slow CI box).
    let start = Arc::new(tokio::sync::Barrier::new(PUSHERS + SCRAPERS));
    let mut tasks = Vec::new();
    for p in 0..PUSHERS {
        let (s, seq, start) = (s.clone(), seq.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            for i in 0..PUSHES_PER_PUSHER {
                // Pushers share groups, so pushes to one group race each other.
                let group = (p + i) % GROUPS;
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let method = if i % 3 == 0 { "POST" } else { "PUT" };
                let path = format!("/metrics/job/torn{group}/instance/i");
                let r = s
                    .request(method, &path, &[], uniform_body(n).as_bytes())
                    .await;
                if r.status != 200 {
                    return Err(format!("{method} {path}: {} {}", r.status, r.text()));
                }
            }
            Ok(())
        }));
    }
    let pushing = Arc::new(AtomicU64::new(PUSHERS as u64));
    let mut scrapers = Vec::new();
    for _ in 0..SCRAPERS {
        let (s, pushing, start) = (s.clone(), pushing.clone(), start.clone());
        scrapers.push(tokio::spawn(async move {
            let mut scrapes = 0;
            let mut while_pushing = 0;
            start.wait().await;
            // Scrape until every pusher is done, and at least a few times.
            while pushing.load(Ordering::Acquire) > 0 || scrapes < 5 {
                let pushers_left = pushing.load(Ordering::Acquire);
                let r = s.get("/metrics").await;
                if r.status != 200 {
                    return Err(format!("scrape: {} {}", r.status, r.text()));
                }
                check_not_torn(&r.text())?;
                scrapes += 1;
                if pushers_left > 0 {
                    while_pushing += 1;
                }
            }
            Ok((scrapes, while_pushing))
        }));
    }
    for t in tasks {
        t.await.expect("pusher task")?;
        pushing.fetch_sub(1, Ordering::Release);
    }
    let (mut scrapes, mut while_pushing) = (0, 0);
    for t in scrapers {
        let (n, during) = t.await.expect("scraper task")?;
        scrapes += n;
        while_pushing += during;
    }
    let last = s.scrape().await;
    assert_eq!(check_not_torn(&last), Ok(GROUPS));
    assert!(scrapes >= SCRAPERS * 5, "{scrapes} scrapes");
    // Every scraper's first scrape starts after the barrier, before any pusher can finish.
    assert!(
        while_pushing >= SCRAPERS,
        "only {while_pushing} of {scrapes} scrapes overlapped the pushes"
    );
    Ok(())
}

// ---- property tests through the real parsers ----

mod properties {
    use proptest::prelude::*;
    use pushgate::grouping::{encode_base64_url, GroupingKey};
    use pushgate::render::text::{write_help, write_label_value};

    fn parse_one(text: &str) -> pushgate::model::Family<'_> {
        let mut families = pushgate::parse::text::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("{e}: {text:?}"));
        assert_eq!(families.len(), 1, "{text:?}");
        families.remove(0)
    }

    proptest! {
        /// A label value escaped by the renderer is read back unchanged by the parser.
        #[test]
        fn escaped_label_values_parse_back(value in any::<String>(), other in "[ -~]{0,8}") {
            let mut text = b"m{a=\"".to_vec();
            write_label_value(&mut text, &value);
            text.extend_from_slice(b"\",b=\"");
            write_label_value(&mut text, &other);
            text.extend_from_slice(b"\"} 1\n");
            let text = String::from_utf8(text).expect("escaping keeps UTF-8");
            let family = parse_one(&text);
            let labels = &family.metrics[0].labels;
            prop_assert_eq!(&*labels[0].value, value.as_str());
            prop_assert_eq!(&*labels[1].value, other.as_str());
        }

        /// HELP text escaped by the renderer is read back unchanged (the format drops leading
        /// blanks and an empty HELP, so those are not generated).
        #[test]
        fn escaped_help_parses_back(help in "(?s)[^ \t].*") {
            let mut text = b"# HELP m ".to_vec();
            write_help(&mut text, &help);
            text.extend_from_slice(b"\nm 1\n");
            let text = String::from_utf8(text).expect("escaping keeps UTF-8");
            let family = parse_one(&text);
            prop_assert_eq!(family.help.as_deref(), Some(help.as_str()));
        }

        /// Summary and histogram lines that share labels are read alike whether their label
        /// block repeats byte for byte (the parser reuses the earlier block's labels) or not
        /// (each line's block gets its own blank after `{`, so nothing is reused): same
        /// families, or the same error on the same line.
        #[test]
        fn summary_label_prefixes_never_change_what_is_parsed(
            blocks in proptest::collection::vec(
                proptest::collection::btree_map(
                    "(a|b|quantile|le|x)",
                    "(|1|0\\.5|q,quantile=|\"|le)",
                    0..3,
                ),
                1..4,
            ),
            lines in proptest::collection::vec(
                (0..3usize, 0..4usize, 0..6usize, "(0\\.5|0\\.9|\\+Inf|x|)", 0..100u32),
                1..25,
            ),
        ) {
            let render = |spaced: bool| {
                let mut body = String::from("# TYPE s summary\n# TYPE h histogram\n");
                for (i, (family, block, shape, bound, value)) in lines.iter().enumerate() {
                    let (name, bound_name) = [("s", "quantile"), ("h_bucket", "le"), ("g", "quantile")][*family];
                    let mut labels: Vec<String> = blocks[block % blocks.len()]
                        .iter()
                        .map(|(n, v)| format!("{n}=\"{}\"", v.replace('"', "\\\"")))
                        .collect();
                    let bound = format!("{bound_name}=\"{bound}\"");
                    match shape {
                        0 | 1 => labels.push(bound),
                        2 => labels.insert(0, bound),
                        _ => {}
                    }
                    let comma = if *shape == 1 || *shape == 3 { "," } else { "" };
                    let pad = if spaced { " ".repeat(i + 1) } else { String::new() };
                    let suffix = if *shape == 5 { "_count" } else { "" };
                    let name = if *family == 1 && *shape == 5 { "h" } else { name };
                    body.push_str(&format!("{name}{suffix}{{{pad}{}{comma}}} {value}\n", labels.join(",")));
                }
                body
            };
            let show = |body: &str| {
                pushgate::parse::text::parse(body.as_bytes())
                    .map(|families| {
                        families
                            .iter()
                            .map(|f| {
                                let metrics: Vec<String> = f
                                    .metrics
                                    .iter()
                                    .map(|m| format!("{:?} {:?}", m.labels, m.value))
                                    .collect();
                                format!("{} {:?} {metrics:?}", f.name, f.kind)
                            })
                            .collect::<Vec<_>>()
                    })
                    .map_err(|e| e.to_string())
            };
            let (packed, spaced) = (render(false), render(true));
            prop_assert_eq!(show(&packed), show(&spaced), "{}", packed);
        }

        /// The per-block shortcuts (parser copies, store label sets cached by block) store
        /// exactly what parsing and storing every series on its own does: the same push with
        /// every `label_block` forgotten leaves an identical group.
        #[test]
        fn label_blocks_never_change_what_is_stored(
            blocks in proptest::collection::vec(
                proptest::collection::btree_map(
                    "(instance|job|a|b|host)",
                    "(|x|y\\\\|\"q\"|}|\n|é)",
                    0..4,
                ),
                1..5,
            ),
            lines in proptest::collection::vec((0..3usize, 0..5usize, 0..1000u32), 1..30),
            key_path in "(job/j|job/j/instance/i|job/j/host/h|job/j/a/y)",
        ) {
            let mut body = String::new();
            for (family, block, value) in &lines {
                let labels: Vec<String> = blocks[block % blocks.len()]
                    .iter()
                    .map(|(n, v)| {
                        let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                        format!("{n}=\"{v}\"")
                    })
                    .collect();
                body.push_str(&format!("f{family}{{{}}} {value}\n", labels.join(",")));
            }
            let parsed = pushgate::parse::text::parse(body.as_bytes())
                .unwrap_or_else(|e| panic!("{e}: {body:?}"));
            // Each line parsed alone (no earlier block to copy from) gives the same labels.
            let show = |m: &pushgate::model::Metric<'_>| {
                let pairs: Vec<(String, String)> = m
                    .labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                format!("{pairs:?} {:?}", m.value)
            };
            let mut alone: Vec<(String, Vec<String>)> = Vec::new();
            for line in body.lines() {
                let text = format!("{line}\n");
                let f = parse_one(&text);
                let shown = show(&f.metrics[0]);
                match alone.iter_mut().find(|(name, _)| *name == f.name) {
                    Some((_, metrics)) => metrics.push(shown),
                    None => alone.push((f.name.to_string(), vec![shown])),
                }
            }
            let whole: Vec<(String, Vec<String>)> = parsed
                .iter()
                .map(|f| (f.name.to_string(), f.metrics.iter().map(show).collect()))
                .collect();
            prop_assert_eq!(whole, alone);
            let mut forgotten = parsed.clone();
            for m in forgotten.iter_mut().flat_map(|f| f.metrics.iter_mut()) {
                m.label_block = None;
            }
            let key = GroupingKey::from_path(&key_path).expect("valid path");
            let stored = |families| {
                let store = pushgate::store::Store::new(&[], true);
                let request = pushgate::store::WriteRequest { key: key.clone(), families, replace: true };
                let result = store.apply_at(request, 1.0).map_err(|e| e.to_string());
                let group = store.group(&key).map(|g| {
                    g.families
                        .values()
                        .map(|f| {
                            let series: Vec<String> = f
                                .series
                                .iter()
                                .map(|s| format!("{:?} {:?}", s.labels, s.value))
                                .collect();
                            (f.name.to_string(), series)
                        })
                        .collect::<Vec<_>>()
                });
                (result, group)
            };
            prop_assert_eq!(stored(parsed), stored(forgotten));
        }

        /// A grouping key written as an all-`@base64` path parses back to the same key, and
        /// its `Display` form is a text-format label set with the same pairs.
        #[test]
        fn grouping_keys_round_trip_through_base64_paths_and_text(
            job in ".+",
            labels in proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,6}", any::<String>(), 0..6),
        ) {
            let pairs: Vec<(String, String)> = labels
                .iter()
                .filter(|(n, _)| *n != "job")
                .map(|(n, v)| (n.clone(), v.clone()))
                .chain([("job".to_owned(), job.clone())])
                .collect();
            let key = GroupingKey::from_pairs(pairs.clone()).expect("valid pairs");
            let mut path = format!("job@base64/{}", encode_base64_url(job.as_bytes()));
            for (n, v) in pairs.iter().filter(|(n, _)| n != "job") {
                path.push_str(&format!("/{n}@base64/{}", encode_base64_url(v.as_bytes())));
            }
            prop_assert_eq!(GroupingKey::from_path(&path), Ok(key.clone()));

            let text = format!("m{key} 1\n");
            let family = parse_one(&text);
            let got: Vec<(String, String)> = family.metrics[0]
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            let mut want = pairs;
            want.sort();
            prop_assert_eq!(got, want);
        }
    }
}

// ---- findings kept as regression tests ----

/// A client may shut down its write side once its request is sent (RFC 9112 9.6; `nc -N`,
/// some proxies); the Go gateway still answers. Large and compressed pushes are parsed on the
/// blocking pool, and while the handler waits hyper sees the EOF and, with its default
/// `half_close(false)`, drops the connection: the push is applied but the client gets no
/// answer.
#[tokio::test]
async fn half_closed_client_still_gets_the_answer_to_a_large_push() {
    let s = start_with(&[]).await;
    let mut body = String::new();
    for i in 0..30_000 {
        let _ = writeln!(body, "half_closed{{i=\"{i}\"}} 1");
    }
    assert!(body.len() > 256 << 10, "large enough for the blocking pool");
    let raw = request("PUT", "/metrics/job/half_closed", &[], body.as_bytes());
    let r = send_raw(&s, raw, true).await.expect("an answer");
    assert_eq!(r.status, 200, "{}", r.text());
    let raw = request(
        "PUT",
        "/metrics/job/half_closed_gzip",
        &[("Content-Encoding", "gzip")],
        &gzip(b"m 1\n"),
    );
    let r = send_raw(&s, raw, true).await.expect("an answer");
    assert_eq!(r.status, 200, "{}", r.text());
}

mod findings {
    use pushgate::grouping::GroupingKey;
    use pushgate::store::{Store, WriteRequest};
    use pushgate::telemetry::BUILTIN_FAMILIES;

    fn post(store: &Store, key: &GroupingKey, body: &str, at: f64) {
        let families = pushgate::parse::text::parse(body.as_bytes()).expect("valid body");
        store
            .apply_at(
                WriteRequest {
                    key: key.clone(),
                    families,
                    replace: false,
                },
                at,
            )
            .expect("consistent push");
    }

    /// `/api/v1/metrics` shows each family's own push time (`time_stamp`, as the Go gateway
    /// does); a restart must not move every family to the group's last push time.
    #[test]
    fn restored_families_keep_their_own_push_time() {
        let key = GroupingKey::from_path("job/j").expect("valid key");
        let store = Store::new(BUILTIN_FAMILIES, true);
        post(&store, &key, "a 1\n", 100.0);
        post(&store, &key, "b 1\n", 200.0);
        let dir = std::env::temp_dir().join(format!("pushgate-finding-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("pushgate.data");
        pushgate::persist::write(&store, &file).expect("write");

        let restored = Store::new(BUILTIN_FAMILIES, true);
        pushgate::persist::restore(&restored, &file, false).expect("restore");
        let _ = std::fs::remove_dir_all(&dir);
        let group = restored.group(&key).expect("group restored");
        let pushed_at = |name: &str| group.families.get(name).map(|f| f.pushed_at);
        assert_eq!((pushed_at("a"), pushed_at("b")), (Some(100.0), Some(200.0)));
        assert_eq!(group.times.success, 200.0);
    }
}
