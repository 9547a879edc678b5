//! Compressed push bodies (gzip, snappy), the decompressed-size limit, and gzip scrapes.

use std::io::{Read, Write};

use prost::Message;

use crate::protobuf::{delimited, family, gauge_metric, PROTOBUF_ACCEPT, PROTOBUF_CT};
use crate::support::{fixture, pushed_only, sample_lines, sample_value, start, start_with};
use pushgate::proto::MetricType as T;

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("in memory");
    enc.finish().expect("in memory")
}

fn snappy_framed(data: &[u8]) -> Vec<u8> {
    let mut enc = snap::write::FrameEncoder::new(Vec::new());
    enc.write_all(data).expect("in memory");
    enc.into_inner().expect("in memory")
}

/// Inflates a gzip body with a single-member decoder: a scrape must be one gzip member.
pub fn gunzip_single_member(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut dec = flate2::read::GzDecoder::new(body);
    dec.read_to_end(&mut out).expect("valid gzip");
    let mut rest = Vec::new();
    dec.into_inner().read_to_end(&mut rest).expect("in memory");
    assert!(
        rest.is_empty(),
        "{} bytes after the first gzip member",
        rest.len()
    );
    out
}

#[tokio::test]
async fn gzip_and_snappy_pushes_are_stored_like_plain_ones() {
    let s = start().await;
    let body = "a 1\nb{x=\"y\"} 2\n";
    for (encoding, data) in [
        ("gzip", gzip(body.as_bytes())),
        ("GZIP", gzip(body.as_bytes())),
        ("snappy", snappy_framed(body.as_bytes())),
        (
            "Snappy",
            snap::raw::Encoder::new()
                .compress_vec(body.as_bytes())
                .expect("in memory"),
        ),
    ] {
        s.request(
            "PUT",
            "/metrics/job/c",
            &[("Content-Encoding", encoding)],
            &data,
        )
        .await
        .expect_status(200);
        assert_eq!(
            sample_lines(&s.scrape_pushed().await),
            [
                "a{instance=\"\",job=\"c\"} 1",
                "b{instance=\"\",job=\"c\",x=\"y\"} 2"
            ],
            "{encoding}"
        );
        s.delete("/metrics/job/c").await.expect_status(202);
    }
}

#[tokio::test]
async fn gzip_protobuf_pushes_work() {
    let s = start().await;
    let body = gzip(&delimited(&[family(
        "z",
        T::Gauge,
        "",
        vec![gauge_metric(vec![], 3.0)],
    )]));
    s.request(
        "PUT",
        "/metrics/job/z",
        &[("Content-Type", PROTOBUF_CT), ("Content-Encoding", "gzip")],
        &body,
    )
    .await
    .expect_status(200);
    assert_eq!(
        sample_lines(&s.scrape_pushed().await),
        ["z{instance=\"\",job=\"z\"} 3"]
    );
}

#[tokio::test]
async fn unknown_encodings_get_415_and_invalid_data_400() {
    let s = start().await;
    s.put_ok("/metrics/job/k", "keep 1\n").await;
    let before = pushed_only(&s.scrape().await);
    let r = s
        .request(
            "PUT",
            "/metrics/job/k",
            &[("Content-Encoding", "br")],
            b"keep 2\n",
        )
        .await
        .expect_status(415);
    assert!(
        r.text().contains("unsupported Content-Encoding \"br\""),
        "{}",
        r.text()
    );
    for encoding in ["gzip", "snappy"] {
        let r = s
            .request(
                "PUT",
                "/metrics/job/k",
                &[("Content-Encoding", encoding)],
                b"keep 2\n",
            )
            .await
            .expect_status(400);
        assert!(
            r.text()
                .starts_with(&format!("invalid {encoding} request body")),
            "{}",
            r.text()
        );
    }
    assert_eq!(pushed_only(&s.scrape().await), before);
}

#[tokio::test]
async fn inflating_past_the_limit_gets_413_naming_the_flag_and_changes_nothing() {
    let s = start_with(&["--push.max-decompressed-bytes=1000"]).await;
    s.put_ok("/metrics/job/k", "keep 1\n").await;
    let before = s.scrape_store().await;
    let lines = |n: usize| {
        (0..n)
            .map(|i| format!("x{{i=\"{i}\"}} 1\n"))
            .collect::<String>()
    };
    let big = lines(200);
    for (encoding, data) in [
        ("gzip", gzip(big.as_bytes())),
        ("snappy", snappy_framed(big.as_bytes())),
    ] {
        let r = s
            .request(
                "PUT",
                "/metrics/job/k",
                &[("Content-Encoding", encoding)],
                &data,
            )
            .await
            .expect_status(413);
        assert_eq!(
            r.text(),
            "decompressed request body exceeds the limit of 1000 bytes (--push.max-decompressed-bytes)\n"
        );
    }
    // Push times aside (a refused push records its failure time), nothing changed.
    assert_eq!(pushed_only(&s.scrape_store().await), pushed_only(&before));
    let small = gzip(lines(50).as_bytes());
    assert!(lines(50).len() < 1000);
    s.request(
        "PUT",
        "/metrics/job/k",
        &[("Content-Encoding", "gzip")],
        &small,
    )
    .await
    .expect_status(200);
}

#[tokio::test]
async fn gzip_scrapes_are_one_member_with_the_same_content_in_every_format() {
    let s = start().await;
    s.put_ok(
        "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2",
        &fixture("flink-2.3.0/tm.txt"),
    )
    .await;
    s.put_ok("/metrics/job/mixed", &fixture("api/mixed.txt"))
        .await;
    for accept in [
        "text/plain",
        "application/openmetrics-text; version=1.0.0",
        PROTOBUF_ACCEPT,
    ] {
        // Twice: the second scrape reuses the cached segments.
        for _ in 0..2 {
            let plain = s
                .request("GET", "/metrics", &[("Accept", accept)], b"")
                .await;
            let zipped = s
                .request(
                    "GET",
                    "/metrics",
                    &[("Accept", accept), ("Accept-Encoding", "gzip")],
                    b"",
                )
                .await
                .expect_status(200);
            assert_eq!(zipped.header("content-encoding"), Some("gzip"));
            assert_eq!(zipped.header("vary"), Some("Accept, Accept-Encoding"));
            assert_eq!(zipped.header("content-type"), plain.header("content-type"));
            // Each stored family is compressed once, on its own (so a scrape after a push
            // compresses only what the push changed); Flink's small families then compress
            // about 5x instead of 18x for the whole body (BENCHMARKS.md, gzip size).
            assert!(
                zipped.body.len() * 3 < plain.body.len(),
                "{accept}: compresses"
            );
            let inflated = gunzip_single_member(&zipped.body);
            // The gateway's own metrics differ between two scrapes; the pushed part is equal.
            if accept == PROTOBUF_ACCEPT {
                let names = |b: &[u8]| -> Vec<(String, usize)> {
                    crate::protobuf::decode_all(b)
                        .into_iter()
                        .filter(|f| {
                            !f.name().starts_with("pushgate") && !f.name().starts_with("process_")
                        })
                        .map(|f| (f.name().to_owned(), f.encoded_len()))
                        .collect()
                };
                assert_eq!(names(&inflated), names(&plain.body));
            } else {
                let text = String::from_utf8(inflated).expect("UTF-8");
                assert_eq!(pushed_only(&text), pushed_only(&plain.text()), "{accept}");
            }
        }
    }
}

/// Every format, identity and gzip, as the pushed part of the text (protobuf: family names
/// and sizes), for comparing scrapes of one store.
async fn pushed_views(s: &crate::support::TestServer) -> Vec<String> {
    let mut out = Vec::new();
    for accept in [
        "text/plain",
        "application/openmetrics-text; version=1.0.0",
        PROTOBUF_ACCEPT,
    ] {
        for gzip in [false, true] {
            let mut headers = vec![("Accept", accept)];
            if gzip {
                headers.push(("Accept-Encoding", "gzip"));
            }
            let r = s
                .request("GET", "/metrics", &headers, b"")
                .await
                .expect_status(200);
            let body = if gzip {
                gunzip_single_member(&r.body)
            } else {
                r.body.clone()
            };
            out.push(if accept == PROTOBUF_ACCEPT {
                format!(
                    "{:?}",
                    crate::protobuf::decode_all(&body)
                        .into_iter()
                        .filter(|f| !f.name().starts_with("pushgate")
                            && !f.name().starts_with("process_"))
                        .map(|f| (f.name().to_owned(), f.encoded_len()))
                        .collect::<Vec<_>>()
                )
            } else {
                pushed_only(&String::from_utf8(body).expect("UTF-8"))
            });
        }
    }
    out
}

#[tokio::test]
async fn a_small_render_cache_stays_within_its_budget_and_changes_no_scrape() {
    for budget in ["0", "20000"] {
        let s = start_with(&["--render.cache-bytes", budget]).await;
        for tm in 0..4 {
            s.put_ok(
                &format!("/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd7{tm}/tm/{tm}"),
                &fixture("flink-2.3.0/tm.txt"),
            )
            .await;
        }
        s.put_ok("/metrics/job/mixed", &fixture("api/mixed.txt"))
            .await;
        let first = pushed_views(&s).await;
        // identity and gzip say the same in each format
        for pair in first.chunks(2) {
            assert_eq!(pair[0], pair[1], "budget {budget}");
        }
        assert_eq!(
            pushed_views(&s).await,
            first,
            "budget {budget}: second round"
        );
        let own = s.scrape().await;
        let limit: f64 = budget.parse().expect("number");
        let value = |series| sample_value(&own, series).unwrap_or_else(|| panic!("{series}"));
        assert_eq!(value("pushgate_render_cache_limit_bytes"), limit);
        assert!(value("pushgate_render_cache_bytes") <= limit, "{own}");
        assert!(value("pushgate_render_cache_misses_total{form=\"gzip\"}") > 0.0);
        assert!(value("pushgate_render_cache_refused_total{form=\"gzip\"}") > 0.0);
        if budget == "0" {
            assert_eq!(
                value("pushgate_render_cache_hits_total{form=\"gzip\"}"),
                0.0
            );
        }
    }
}

#[tokio::test]
async fn a_large_scrape_is_streamed_chunked_and_complete() {
    let s = start().await;
    for tm in 0..8 {
        s.put_ok(
            &format!("/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd7{tm}/tm/{tm}"),
            &fixture("flink-2.3.0/tm.txt"),
        )
        .await;
    }
    let r = s
        .request("GET", "/metrics", &[], b"")
        .await
        .expect_status(200);
    assert!(r.body.len() > 512 * 1024, "{} bytes", r.body.len());
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let text = r.text();
    assert!(text.ends_with('\n'));
    // Every pushed series of every TaskManager is there once.
    let one = sample_lines(&fixture("flink-2.3.0/tm.txt")).len();
    let pushed = sample_lines(&pushed_only(&text))
        .iter()
        .filter(|l| !l.starts_with("push_"))
        .count();
    assert_eq!(pushed, one * 8);
}
