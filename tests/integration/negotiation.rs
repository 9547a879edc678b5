//! Scrape content negotiation: the `Accept` matrix, OpenMetrics output, and the scrape counter
//! by format.

use crate::protobuf::{decode_all, PROTOBUF_ACCEPT, PROTOBUF_CT};
use crate::support::{fixture, sample_value, start};

const TEXT_CT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_CT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// What Prometheus 2.42 (Debian bookworm) sends by default.
const PROMETHEUS_DEFAULT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// What Prometheus 2.42 sends with `--enable-feature=native-histograms`.
const PROMETHEUS_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[tokio::test]
async fn the_accept_header_chooses_the_format() {
    let s = start().await;
    s.put_ok("/metrics/job/n", "n 1\n").await;
    let cases: &[(Option<&str>, &str)] = &[
        (None, TEXT_CT),
        (Some("*/*"), TEXT_CT),
        (Some("text/plain;version=0.0.4"), TEXT_CT),
        (Some("application/json"), TEXT_CT),
        (Some(PROMETHEUS_DEFAULT), OPENMETRICS_CT),
        (Some(PROMETHEUS_NATIVE), PROTOBUF_CT),
        (Some(PROTOBUF_ACCEPT), PROTOBUF_CT),
        (Some("application/openmetrics-text"), OPENMETRICS_CT),
        (Some("application/openmetrics-text;version=0.0.1"), TEXT_CT),
        (
            Some("application/openmetrics-text;q=0.3,text/plain;q=0.7"),
            TEXT_CT,
        ),
        (
            Some("text/plain;q=0.2,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.9"),
            PROTOBUF_CT,
        ),
        (
            Some("application/vnd.google.protobuf;proto=other.Message;encoding=delimited"),
            TEXT_CT,
        ),
    ];
    for (accept, want) in cases {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("Accept", *a)).collect();
        let r = s
            .request("GET", "/metrics", &headers, b"")
            .await
            .expect_status(200);
        assert_eq!(r.header("content-type"), Some(*want), "Accept: {accept:?}");
        match *want {
            PROTOBUF_CT => assert!(decode_all(&r.body).iter().any(|f| f.name() == "n")),
            OPENMETRICS_CT => assert!(r.text().ends_with("# EOF\n"), "{accept:?}"),
            _ => assert!(r.text().contains("# TYPE n untyped\nn{"), "{accept:?}"),
        }
    }
}

#[tokio::test]
async fn openmetrics_names_counters_without_total_and_keeps_every_series_name() {
    let s = start().await;
    let body = "# TYPE reqs_total counter\nreqs_total{c=\"1\"} 3\n\
        # TYPE bare counter\nbare 4\n\
        # HELP g say \"hi\"\n# TYPE g gauge\ng 5\n\
        u 6\n\
        # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 2\nh_sum 3\nh_count 2\n";
    s.put_ok("/metrics/job/om", body).await;
    let om = s.scrape_openmetrics().await;
    for want in [
        "# TYPE reqs counter\nreqs_total{c=\"1\",instance=\"\",job=\"om\"} 3\n",
        "# TYPE bare unknown\nbare{instance=\"\",job=\"om\"} 4\n",
        "# HELP g say \\\"hi\\\"\n# TYPE g gauge\n",
        "# TYPE u unknown\nu{instance=\"\",job=\"om\"} 6\n",
        "h_bucket{instance=\"\",job=\"om\",le=\"2\"} 2\nh_bucket{instance=\"\",job=\"om\",le=\"+Inf\"} 2\nh_sum{instance=\"\",job=\"om\"} 3\n",
        "# TYPE pushgateway_http_requests counter\npushgateway_http_requests_total{",
    ] {
        assert!(om.contains(want), "missing {want:?} in\n{om}");
    }
    assert!(om.ends_with("# EOF\n"));
    assert_eq!(om.matches("# EOF").count(), 1);
    // The text format carries the same +Inf bucket and _count as OpenMetrics (Go's expfmt
    // writes both), so histogram_quantile works whichever format Prometheus negotiates.
    let text = s.scrape().await;
    for series in [
        "h_bucket{instance=\"\",job=\"om\",le=\"+Inf\"}",
        "h_count{instance=\"\",job=\"om\"}",
    ] {
        assert_eq!(
            sample_value(&text, series),
            Some(2.0),
            "{series} in\n{text}"
        );
    }
}

#[tokio::test]
async fn the_scrape_counter_counts_by_format_and_encoding() {
    let s = start().await;
    s.put_ok(
        "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361",
        &fixture("flink-2.3.0/jm.txt"),
    )
    .await;
    s.request(
        "GET",
        "/metrics",
        &[("Accept", PROMETHEUS_NATIVE), ("Accept-Encoding", "gzip")],
        b"",
    )
    .await
    .expect_status(200);
    s.request("GET", "/metrics", &[("Accept", PROMETHEUS_DEFAULT)], b"")
        .await
        .expect_status(200);
    let text = s.scrape().await;
    for (series, want) in [
        (
            "pushgate_scrapes_total{encoding=\"gzip\",format=\"protobuf\"}",
            1.0,
        ),
        (
            "pushgate_scrapes_total{encoding=\"identity\",format=\"openmetrics\"}",
            1.0,
        ),
        (
            "pushgate_scrapes_total{encoding=\"identity\",format=\"text\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample_value(&text, series), Some(want), "{series}");
    }
}
