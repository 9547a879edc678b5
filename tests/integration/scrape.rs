//! The merged scrape: family and series order, escaping and float text as the Go gateway
//! writes them, the gateway's own metrics, the content type, and the scrape cache.

use crate::support::{sample_lines, sample_value, start};

/// Family names in the order of their `# TYPE` lines.
fn type_line_names(scrape: &str) -> Vec<&str> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect()
}

#[tokio::test]
async fn families_are_sorted_by_name_with_one_type_line_each() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "# HELP zz z\nzz 1\n# HELP aa a\naa 1\n")
        .await;
    s.put_ok("/metrics/job/b", "# HELP aa a\naa 2\nmm 1\nzz 2\n")
        .await;
    let out = s.scrape().await;
    let names = type_line_names(&out);
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "{out}");
    assert_eq!(out.matches("# HELP aa ").count(), 1, "{out}");
}

#[tokio::test]
async fn series_across_groups_follow_the_go_gateway_order() {
    let s = start().await;
    s.put_ok(
        "/metrics/job/oa",
        "o{a=\"2\"} 1\no{a=\"1\",b=\"z\"} 1\no{z=\"0\"} 1\n",
    )
    .await;
    s.put_ok("/metrics/job/ob", "o{a=\"3\"} 1\no{a=\"0\"} 1\n")
        .await;
    let out = s.scrape_pushed().await;
    let want = [
        "o{instance=\"\",job=\"oa\",z=\"0\"} 1",
        "o{a=\"0\",instance=\"\",job=\"ob\"} 1",
        "o{a=\"2\",instance=\"\",job=\"oa\"} 1",
        "o{a=\"3\",instance=\"\",job=\"ob\"} 1",
        "o{a=\"1\",b=\"z\",instance=\"\",job=\"oa\"} 1",
    ];
    assert_eq!(sample_lines(&out), want, "{out}");
}

#[tokio::test]
async fn label_values_are_escaped_in_the_output() {
    let s = start().await;
    s.put_ok("/metrics/job/e", "e{v=\"a\\\\b\\\"c\\nd\"} 1\n")
        .await;
    let out = s.scrape_pushed().await;
    assert_eq!(
        sample_lines(&out),
        ["e{instance=\"\",job=\"e\",v=\"a\\\\b\\\"c\\nd\"} 1"],
        "{out}"
    );
}

#[tokio::test]
async fn help_text_is_escaped_in_the_output() {
    let s = start().await;
    s.put_ok("/metrics/job/e", "# HELP e he\\\\llo\\nworld\ne 1\n")
        .await;
    let out = s.scrape_pushed().await;
    assert!(out.starts_with("# HELP e he\\\\llo\\nworld\n"), "{out}");
}

#[tokio::test]
async fn floats_are_formatted_as_go_does() {
    let s = start().await;
    let body = "f{v=\"a\"} 123456\nf{v=\"b\"} 1234567\nf{v=\"c\"} 0.00001\nf{v=\"d\"} 1.073741824E9\nf{v=\"e\"} 1e23\nf{v=\"f\"} 0.0001\n";
    s.put_ok("/metrics/job/f", body).await;
    let out = s.scrape_pushed().await;
    let values: Vec<&str> = sample_lines(&out)
        .iter()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        values,
        [
            "123456",
            "1.234567e+06",
            "1e-05",
            "1.073741824e+09",
            "1e+23",
            "0.0001"
        ],
        "{out}"
    );
}

#[tokio::test]
async fn own_build_info_is_exposed() {
    let s = start().await;
    let out = s.scrape().await;
    assert!(
        out.contains("# TYPE pushgateway_build_info gauge\n"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("pushgateway_build_info{") && l.ends_with(" 1")),
        "{out}"
    );
}

#[tokio::test]
async fn own_request_counter_counts_pushes_by_code_handler_and_method() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "m 1\n").await;
    s.put_ok("/metrics/job/b", "n 1\n").await;
    let out = s.scrape().await;
    let series = "pushgateway_http_requests_total{code=\"200\",handler=\"push\",method=\"put\"}";
    assert_eq!(sample_value(&out, series), Some(2.0), "{out}");
}

#[tokio::test]
async fn own_push_duration_and_size_summaries_have_a_method_label() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "m 1\n").await;
    s.put_ok("/metrics/job/b", "n 22\n").await;
    let out = s.scrape().await;
    let value = |series: &str| sample_value(&out, &format!("pushgateway_http_push_{series}"));
    for family in ["duration_seconds", "size_bytes"] {
        let type_line = format!("# TYPE pushgateway_http_push_{family} summary\n");
        assert!(out.contains(&type_line), "{out}");
        assert_eq!(
            value(&format!("{family}_count{{method=\"put\"}}")),
            Some(2.0),
            "{out}"
        );
    }
    assert_eq!(value("size_bytes_sum{method=\"put\"}"), Some(9.0), "{out}");
}

#[tokio::test]
async fn own_group_and_series_gauges_count_the_store() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "m{x=\"1\"} 1\nm{x=\"2\"} 1\n")
        .await;
    let out = s.scrape().await;
    assert_eq!(sample_value(&out, "pushgate_groups"), Some(1.0), "{out}");
    // Two pushed series plus push_time_seconds and push_failure_time_seconds.
    assert_eq!(sample_value(&out, "pushgate_series"), Some(4.0), "{out}");
}

#[tokio::test]
async fn scrape_content_type_is_text_0_0_4() {
    let s = start().await;
    let r = s.get("/metrics").await.expect_status(200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
}

#[tokio::test]
async fn two_scrapes_of_an_unchanged_store_are_identical() {
    let s = start().await;
    s.put_ok(
        "/metrics/job/a",
        "m{x=\"1\"} 1\n# TYPE s summary\ns_count 1\ns_sum 2\n",
    )
    .await;
    s.put_ok("/metrics/job/b", "m{x=\"2\"} 1\n").await;
    let first = s.scrape_store().await;
    assert_eq!(s.scrape_store().await, first);
}

#[tokio::test]
async fn scrape_shows_a_push_made_after_the_previous_scrape() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "m 1\n").await;
    assert_eq!(
        sample_value(&s.scrape().await, "m{instance=\"\",job=\"a\"}"),
        Some(1.0)
    );
    s.put_ok("/metrics/job/a", "m 2\n").await;
    assert_eq!(
        sample_value(&s.scrape().await, "m{instance=\"\",job=\"a\"}"),
        Some(2.0)
    );
    s.delete("/metrics/job/a").await.expect_status(202);
    assert_eq!(s.scrape_store().await, "");
}
