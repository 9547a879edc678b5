//! Delimited protobuf pushes and scrapes: bodies built with the generated `io.prometheus.client`
//! types, round trips through both formats, native histograms, and the Go gateway's rules.

use prost::Message;
use pushgate::model::{Family, Value};
use pushgate::proto::{self, MetricType as T};

use crate::support::{
    fixture, pushed_only, sample_lines, sample_value, start, start_with, Resp, TestServer,
};

pub const PROTOBUF_CT: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
pub const PROTOBUF_ACCEPT: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

pub fn label(name: &str, value: &str) -> proto::LabelPair {
    proto::LabelPair {
        name: Some(name.into()),
        value: Some(value.into()),
    }
}

pub fn gauge_metric(labels: Vec<proto::LabelPair>, v: f64) -> proto::Metric {
    proto::Metric {
        label: labels,
        gauge: Some(proto::Gauge { value: Some(v) }),
        ..Default::default()
    }
}

pub fn family(name: &str, kind: T, help: &str, metric: Vec<proto::Metric>) -> proto::MetricFamily {
    proto::MetricFamily {
        name: Some(name.into()),
        help: Some(help.into()),
        r#type: Some(kind as i32),
        metric,
        unit: None,
    }
}

/// Length-delimited encoding of `families`, as client libraries push them.
pub fn delimited(families: &[proto::MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families {
        f.encode_length_delimited(&mut out).expect("a Vec grows");
    }
    out
}

/// Decodes a delimited protobuf body.
pub fn decode_all(mut body: &[u8]) -> Vec<proto::MetricFamily> {
    let mut out = Vec::new();
    while !body.is_empty() {
        out.push(proto::MetricFamily::decode_length_delimited(&mut body).expect("valid delimited"));
    }
    out
}

/// A protobuf scrape, decoded.
pub async fn scrape_protobuf(s: &TestServer) -> Vec<proto::MetricFamily> {
    let r = s
        .request("GET", "/metrics", &[("Accept", PROTOBUF_ACCEPT)], b"")
        .await
        .expect_status(200);
    assert_eq!(r.header("content-type"), Some(PROTOBUF_CT));
    decode_all(&r.body)
}

fn is_own(name: &str) -> bool {
    name.starts_with("pushgateway_")
        || name.starts_with("pushgate_")
        || name.starts_with("process_")
}

async fn push_pb(s: &TestServer, path: &str, families: &[proto::MetricFamily]) -> Resp {
    s.request(
        "PUT",
        path,
        &[("Content-Type", PROTOBUF_CT)],
        &delimited(families),
    )
    .await
}

fn summary_metric() -> proto::Metric {
    proto::Metric {
        label: vec![label("op", "read")],
        summary: Some(proto::Summary {
            sample_count: Some(7),
            sample_sum: Some(1.25),
            quantile: vec![proto::Quantile {
                quantile: Some(0.5),
                value: Some(0.1),
            }],
            created_timestamp: None,
        }),
        ..Default::default()
    }
}

fn classic_histogram_metric() -> proto::Metric {
    let bucket = |le: f64, c: u64| proto::Bucket {
        cumulative_count: Some(c),
        upper_bound: Some(le),
        ..Default::default()
    };
    proto::Metric {
        histogram: Some(proto::Histogram {
            sample_count: Some(4),
            sample_sum: Some(10.5),
            bucket: vec![bucket(1.0, 1), bucket(5.0, 3), bucket(f64::INFINITY, 4)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn native_histogram_metric() -> proto::Metric {
    proto::Metric {
        label: vec![label("kind", "native")],
        histogram: Some(proto::Histogram {
            sample_count: Some(6),
            sample_sum: Some(12.0),
            schema: Some(3),
            zero_threshold: Some(1e-128),
            zero_count: Some(1),
            negative_span: vec![proto::BucketSpan {
                offset: Some(-1),
                length: Some(1),
            }],
            negative_delta: vec![1],
            positive_span: vec![
                proto::BucketSpan {
                    offset: Some(0),
                    length: Some(2),
                },
                proto::BucketSpan {
                    offset: Some(3),
                    length: Some(1),
                },
            ],
            positive_delta: vec![2, -1, 0],
            exemplars: vec![proto::Exemplar {
                label: vec![label("trace_id", "abc")],
                value: Some(1.5),
                timestamp: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 5,
                }),
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn protobuf_push_is_scraped_as_text_like_the_same_text_push() {
    let s = start().await;
    let families = [
        family(
            "pb_gauge",
            T::Gauge,
            "A gauge.",
            vec![gauge_metric(vec![label("b", "2"), label("a", "1")], 2.5)],
        ),
        family(
            "pb_requests_total",
            T::Counter,
            "Requests.",
            vec![proto::Metric {
                counter: Some(proto::Counter {
                    value: Some(17.0),
                    ..Default::default()
                }),
                ..Default::default()
            }],
        ),
        family("pb_latency", T::Summary, "Latency.", vec![summary_metric()]),
        family(
            "pb_size",
            T::Histogram,
            "Size.",
            vec![classic_histogram_metric()],
        ),
        family(
            "pb_untyped",
            T::Untyped,
            "",
            vec![proto::Metric {
                untyped: Some(proto::Untyped { value: Some(-1.0) }),
                ..Default::default()
            }],
        ),
    ];
    push_pb(&s, "/metrics/job/pb", &families)
        .await
        .expect_status(200);
    let text = "# HELP pb_gauge A gauge.\n# TYPE pb_gauge gauge\npb_gauge{b=\"2\",a=\"1\"} 2.5\n\
        # HELP pb_requests_total Requests.\n# TYPE pb_requests_total counter\npb_requests_total 17\n\
        # HELP pb_latency Latency.\n# TYPE pb_latency summary\npb_latency{op=\"read\",quantile=\"0.5\"} 0.1\npb_latency_sum{op=\"read\"} 1.25\npb_latency_count{op=\"read\"} 7\n\
        # HELP pb_size Size.\n# TYPE pb_size histogram\npb_size_bucket{le=\"1\"} 1\npb_size_bucket{le=\"5\"} 3\npb_size_bucket{le=\"+Inf\"} 4\npb_size_sum 10.5\npb_size_count 4\n\
        # HELP pb_untyped \npb_untyped -1\n";
    let t = start().await;
    t.put_ok("/metrics/job/pb", text).await;
    assert_eq!(s.scrape_pushed().await, t.scrape_pushed().await);
}

#[tokio::test]
async fn text_push_comes_back_as_the_same_families_in_a_protobuf_scrape() {
    let s = start().await;
    s.put_ok(
        "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2",
        &fixture("flink-2.3.0/jm.txt"),
    )
    .await;
    s.put_ok("/metrics/job/mixed/instance/i1", &fixture("api/mixed.txt"))
        .await;
    let text_scrape = s.scrape_pushed().await;
    let from_text: Vec<Family<'_>> =
        pushgate::parse::text::parse(text_scrape.as_bytes()).expect("our text scrape parses");
    let pb = scrape_protobuf(&s).await;
    let pb_body = delimited(
        &pb.into_iter()
            .filter(|f| !is_own(f.name()))
            .collect::<Vec<_>>(),
    );
    let mut from_pb =
        pushgate::parse::protobuf::parse(&pb_body).expect("our protobuf scrape parses");
    // The text parser groups quantile/le samples into one metric per label set, just as the
    // protobuf has them; label order in the text is sorted like the protobuf's.
    from_pb.retain(|f| !f.name.starts_with("push_"));
    let mut from_text = from_text;
    from_text.retain(|f| !f.name.starts_with("push_"));
    assert_eq!(from_pb.len(), from_text.len());
    for (p, t) in from_pb.iter().zip(&from_text) {
        assert_eq!((&p.name, p.kind, &p.help), (&t.name, t.kind, &t.help));
        assert_eq!(p.metrics.len(), t.metrics.len(), "{}", p.name);
        for (pm, tm) in p.metrics.iter().zip(&t.metrics) {
            assert_eq!(pm.labels, tm.labels, "{}", p.name);
            match (&pm.value, &tm.value) {
                (Value::Scalar(a), Value::Scalar(b)) if a.is_nan() => assert!(b.is_nan()),
                (a, b) => assert_eq!(a, b, "{}", p.name),
            }
        }
    }
}

#[tokio::test]
async fn native_histograms_come_back_intact_and_text_shows_inf_bucket_sum_and_count() {
    let s = start().await;
    let pushed = family(
        "nh",
        T::Histogram,
        "Native.",
        vec![native_histogram_metric()],
    );
    push_pb(&s, "/metrics/job/nh", std::slice::from_ref(&pushed))
        .await
        .expect_status(200);
    let scraped = scrape_protobuf(&s).await;
    let got = scraped
        .iter()
        .find(|f| f.name() == "nh")
        .expect("family scraped");
    let mut want = native_histogram_metric();
    want.label = vec![
        label("instance", ""),
        label("job", "nh"),
        label("kind", "native"),
    ];
    assert_eq!(got.metric, [want]);
    assert_eq!(
        sample_lines(&s.scrape_pushed().await),
        [
            "nh_bucket{instance=\"\",job=\"nh\",kind=\"native\",le=\"+Inf\"} 6",
            "nh_sum{instance=\"\",job=\"nh\",kind=\"native\"} 12",
            "nh_count{instance=\"\",job=\"nh\",kind=\"native\"} 6"
        ]
    );
}

#[tokio::test]
async fn a_repeated_family_name_in_one_body_keeps_the_last_as_go_does() {
    let s = start().await;
    push_pb(
        &s,
        "/metrics/job/r",
        &[
            family("r", T::Gauge, "first", vec![gauge_metric(vec![], 1.0)]),
            family("r", T::Gauge, "last", vec![gauge_metric(vec![], 2.0)]),
        ],
    )
    .await
    .expect_status(200);
    assert_eq!(
        pushed_only(&s.scrape().await),
        "# HELP r last\n# TYPE r gauge\nr{instance=\"\",job=\"r\"} 2\n"
    );
}

#[tokio::test]
async fn content_type_parameters_may_come_in_any_order_and_case() {
    let s = start().await;
    let body = delimited(&[family("o", T::Gauge, "", vec![gauge_metric(vec![], 1.0)])]);
    for ct in [
        "application/vnd.google.protobuf;encoding=delimited;proto=io.prometheus.client.MetricFamily",
        "Application/Vnd.Google.Protobuf; Proto=io.prometheus.client.MetricFamily; ENCODING=delimited",
    ] {
        s.request("PUT", "/metrics/job/o", &[("Content-Type", ct)], &body)
            .await
            .expect_status(200);
    }
    let r = s
        .request(
            "PUT",
            "/metrics/job/o",
            &[("Content-Type", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text")],
            &body,
        )
        .await
        .expect_status(415);
    assert!(r.text().contains("encoding=delimited"), "{}", r.text());
}

#[tokio::test]
async fn invalid_protobuf_pushes_are_refused_with_a_reason_and_change_nothing() {
    // The Go gateway's refusals; by default odd names are renamed instead (see rename.rs).
    let s = start_with(&["--flink.rename=off"]).await;
    s.put_ok("/metrics/job/x", "keep 1\n").await;
    let good = delimited(&[family("g", T::Gauge, "", vec![gauge_metric(vec![], 1.0)])]);
    let mut truncated = good.clone();
    truncated.extend_from_slice(&good[..good.len() - 1]);
    let counter_in_gauge = proto::Metric {
        counter: Some(proto::Counter {
            value: Some(1.0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let with_timestamp = proto::Metric {
        timestamp_ms: Some(1),
        ..gauge_metric(vec![], 1.0)
    };
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            truncated,
            format!("invalid protobuf at byte offset {}: message of", good.len()),
        ),
        (
            vec![0x05, 0xff, 0xff, 0xff, 0xff, 0xff],
            "invalid protobuf at byte offset 0: failed to decode".into(),
        ),
        (
            delimited(&[family("g", T::Gauge, "", vec![counter_in_gauge])]),
            "metric \"g\" is of type GAUGE but carries no gauge value".into(),
        ),
        (
            delimited(&[family(
                "g",
                T::Gauge,
                "",
                vec![gauge_metric(vec![label("__a", "")], 1.0)],
            )]),
            "label name \"__a\" of metric \"g\" is reserved".into(),
        ),
        (
            delimited(&[family(
                "g",
                T::Gauge,
                "",
                vec![gauge_metric(vec![label("a-b", "")], 1.0)],
            )]),
            "invalid label name \"a-b\" for metric \"g\"".into(),
        ),
        (
            delimited(&[family("g.x", T::Gauge, "", vec![gauge_metric(vec![], 1.0)])]),
            "invalid metric name \"g.x\"".into(),
        ),
        (
            delimited(&[family("g", T::Gauge, "", vec![with_timestamp])]),
            "pushed metrics must not have timestamps".into(),
        ),
        (
            delimited(&[family(
                "keep",
                T::Counter,
                "",
                vec![proto::Metric {
                    counter: Some(proto::Counter {
                        value: Some(1.0),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
            )]),
            "is pushed as counter but is untyped elsewhere".into(),
        ),
    ];
    for (body, want) in cases {
        let before = s.scrape_pushed().await;
        let r = s
            .request(
                "PUT",
                "/metrics/job/y",
                &[("Content-Type", PROTOBUF_CT)],
                &body,
            )
            .await
            .expect_status(400);
        assert!(r.text().contains(&want), "want {want:?} in {:?}", r.text());
        assert_eq!(s.scrape_pushed().await, before);
    }
}

/// Runs `promtool check metrics` (Debian's prometheus package, installed by `.ci/run`) on an
/// exposition and returns its verdict and output.
fn promtool_check_metrics(exposition: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install prometheus; .ci/run installs it)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(exposition.as_bytes())
        .expect("promtool reads the exposition");
    let out = child.wait_with_output().expect("promtool finishes");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn protobuf_histograms_always_show_their_inf_bucket_and_count_in_text() {
    let s = start().await;
    let bucket = |le: f64, c: u64| proto::Bucket {
        cumulative_count: Some(c),
        upper_bound: Some(le),
        ..Default::default()
    };
    // As client_golang pushes a classic histogram: no +Inf bucket, the count in sample_count.
    let classic = proto::Metric {
        label: vec![label("kind", "classic")],
        histogram: Some(proto::Histogram {
            sample_count: Some(9),
            sample_sum: Some(20.5),
            bucket: vec![bucket(1.0, 2), bucket(5.0, 7)],
            ..Default::default()
        }),
        ..Default::default()
    };
    // Buckets without a count: both the +Inf bucket and _count come from the last bucket.
    let uncounted = proto::Metric {
        label: vec![label("kind", "uncounted")],
        histogram: Some(proto::Histogram {
            bucket: vec![bucket(1.0, 3)],
            ..Default::default()
        }),
        ..Default::default()
    };
    let pushed = family(
        "rpc_duration_seconds",
        T::Histogram,
        "RPC latency.",
        vec![classic, uncounted, native_histogram_metric()],
    );
    push_pb(&s, "/metrics/job/h", std::slice::from_ref(&pushed))
        .await
        .expect_status(200);
    let text = s.scrape_pushed().await;
    let series = |kind: &str, suffix: &str, le: Option<&str>| {
        let le = le.map_or(String::new(), |le| format!(",le=\"{le}\""));
        format!("rpc_duration_seconds{suffix}{{instance=\"\",job=\"h\",kind=\"{kind}\"{le}}}")
    };
    for (kind, suffix, le, want) in [
        ("classic", "_bucket", Some("5"), 7.0),
        ("classic", "_bucket", Some("+Inf"), 9.0),
        ("classic", "_count", None, 9.0),
        ("classic", "_sum", None, 20.5),
        ("uncounted", "_bucket", Some("+Inf"), 3.0),
        ("uncounted", "_count", None, 3.0),
        ("native", "_bucket", Some("+Inf"), 6.0),
        ("native", "_count", None, 6.0),
    ] {
        let name = series(kind, suffix, le);
        assert_eq!(sample_value(&text, &name), Some(want), "{name} in\n{text}");
    }
    // No invented _sum where the push had none (a documented difference from Go).
    assert_eq!(
        sample_value(&text, &series("uncounted", "_sum", None)),
        None
    );
    let (ok, verdict) = promtool_check_metrics(&text);
    assert!(ok, "promtool check metrics refused:\n{verdict}\n{text}");
    // OpenMetrics carries the very same sample lines.
    let om = s.scrape_openmetrics().await;
    assert!(om.contains(&format!(
        "{} 9\n",
        series("classic", "_bucket", Some("+Inf"))
    )));
    assert!(om.contains(&format!("{} 6\n", series("native", "_count", None))));
}
