//! Push API semantics (Go Pushgateway 1.5.1 behaviour): PUT/POST/DELETE, grouping labels,
//! path decoding, push-time series, refused pushes and the push flags.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{sample_value, start, start_with, TestServer};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

fn count_lines_starting(scrape: &str, prefix: &str) -> usize {
    scrape.lines().filter(|l| l.starts_with(prefix)).count()
}

#[tokio::test]
async fn put_then_scrape_shows_series_with_job_and_instance() {
    let s = start().await;
    let r = s
        .put("/metrics/job/j1", "# TYPE m gauge\nm{a=\"x\"} 1.5\n")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "m{a=\"x\",instance=\"\",job=\"j1\"}"),
        Some(1.5),
        "{out}"
    );
    assert!(out.contains("# TYPE m gauge\n"));
}

#[tokio::test]
async fn put_replaces_the_whole_group() {
    let s = start().await;
    s.put_ok("/metrics/job/j", "a 1\nb 1\n").await;
    s.put_ok("/metrics/job/j", "a 2\n").await;
    assert_eq!(
        s.scrape_pushed().await,
        "# TYPE a untyped\na{instance=\"\",job=\"j\"} 2\n"
    );
}

#[tokio::test]
async fn post_replaces_only_the_families_in_its_body() {
    let s = start().await;
    s.put_ok("/metrics/job/j", "a 1\nb{x=\"1\"} 1\n").await;
    s.post("/metrics/job/j", "b{x=\"2\"} 2\n")
        .await
        .expect_status(200);
    let want = "# TYPE a untyped\na{instance=\"\",job=\"j\"} 1\n# TYPE b untyped\nb{instance=\"\",job=\"j\",x=\"2\"} 2\n";
    assert_eq!(s.scrape_pushed().await, want);
}

#[tokio::test]
async fn empty_put_empties_the_group_but_keeps_it() {
    let s = start().await;
    s.put_ok("/metrics/job/j", "a 1\n").await;
    s.put_ok("/metrics/job/j", "").await;
    assert_eq!(s.scrape_pushed().await, "");
    let out = s.scrape().await;
    assert!(
        sample_value(&out, "push_time_seconds{instance=\"\",job=\"j\"}").is_some(),
        "{out}"
    );
}

#[tokio::test]
async fn empty_post_keeps_the_families() {
    let s = start().await;
    s.put_ok("/metrics/job/j", "a 1\n").await;
    s.post("/metrics/job/j", "").await.expect_status(200);
    assert_eq!(
        sample_value(&s.scrape().await, "a{instance=\"\",job=\"j\"}"),
        Some(1.0)
    );
}

#[tokio::test]
async fn delete_answers_202_and_removes_exactly_that_group_not_a_prefix() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "m 1\n").await;
    s.put_ok("/metrics/job/a/x/y", "m 2\n").await;
    s.delete("/metrics/job/a").await.expect_status(202);
    let out = s.scrape_store().await;
    assert!(!out.contains("job=\"a\"}"), "{out}");
    assert_eq!(
        sample_value(&out, "m{instance=\"\",job=\"a\",x=\"y\"}"),
        Some(2.0),
        "{out}"
    );
    assert_eq!(count_lines_starting(&out, "push_time_seconds{"), 1, "{out}");
}

#[tokio::test]
async fn delete_of_a_missing_group_answers_202() {
    let s = start().await;
    s.delete("/metrics/job/nothing/here/either")
        .await
        .expect_status(202);
}

#[tokio::test]
async fn grouping_labels_override_same_named_body_labels() {
    let s = start().await;
    s.put_ok("/metrics/job/j/g/path", "m{g=\"body\"} 1\n").await;
    let out = s.scrape_pushed().await;
    assert_eq!(
        sample_value(&out, "m{g=\"path\",instance=\"\",job=\"j\"}"),
        Some(1.0),
        "{out}"
    );
    assert!(!out.contains("body"), "{out}");
}

#[tokio::test]
async fn empty_instance_label_is_added_when_absent() {
    let s = start().await;
    s.put_ok("/metrics/job/j", "m{a=\"1\"} 1\n").await;
    assert_eq!(
        sample_value(&s.scrape().await, "m{a=\"1\",instance=\"\",job=\"j\"}"),
        Some(1.0)
    );
}

#[tokio::test]
async fn body_instance_is_kept_when_the_path_has_none() {
    let s = start().await;
    s.put_ok("/metrics/job/j", "m{instance=\"i1\"} 1\n").await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "m{instance=\"i1\",job=\"j\"}"),
        Some(1.0),
        "{out}"
    );
    assert!(
        sample_value(&out, "push_time_seconds{instance=\"\",job=\"j\"}").is_some(),
        "{out}"
    );
}

#[tokio::test]
async fn path_instance_overrides_the_body_instance() {
    let s = start().await;
    s.put_ok("/metrics/job/j/instance/p", "m{instance=\"i1\"} 1\n")
        .await;
    assert_eq!(
        s.scrape_pushed().await,
        "# TYPE m untyped\nm{instance=\"p\",job=\"j\"} 1\n"
    );
}

#[tokio::test]
async fn label_pair_order_in_the_path_does_not_matter() {
    let s = start().await;
    s.put_ok("/metrics/job/j/a/1/b/2", "m 1\n").await;
    s.put_ok("/metrics/job/j/b/2/a/1", "m 2\n").await;
    let out = s.scrape_store().await;
    assert_eq!(
        s.scrape_pushed().await,
        "# TYPE m untyped\nm{a=\"1\",b=\"2\",instance=\"\",job=\"j\"} 2\n"
    );
    assert_eq!(count_lines_starting(&out, "push_time_seconds{"), 1, "{out}");
}

#[tokio::test]
async fn base64_job_and_label_values_are_decoded() {
    let s = start().await;
    s.put_ok("/metrics/job@base64/Zm9vL2Jhcg/lbl@base64/YS9i", "m 1\n")
        .await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "m{instance=\"\",job=\"foo/bar\",lbl=\"a/b\"}"),
        Some(1.0),
        "{out}"
    );
}

#[tokio::test]
async fn base64_uses_the_url_safe_alphabet() {
    let s = start().await;
    s.put_ok("/metrics/job/u/v@base64/Pz8_/w@base64/Pj4-", "m 1\n")
        .await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "m{instance=\"\",job=\"u\",v=\"???\",w=\">>>\"}"),
        Some(1.0),
        "{out}"
    );
}

#[tokio::test]
async fn base64_padding_is_optional() {
    let s = start().await;
    s.put_ok("/metrics/job@base64/Zm9vL2Jhcg==", "m 1\n").await;
    s.put_ok("/metrics/job@base64/Zm9vL2Jhcg", "m 2\n").await;
    assert_eq!(
        s.scrape_pushed().await,
        "# TYPE m untyped\nm{instance=\"\",job=\"foo/bar\"} 2\n"
    );
}

#[tokio::test]
async fn base64_lone_equals_sign_is_an_empty_value() {
    let s = start().await;
    s.put_ok("/metrics/job/j/lbl@base64/=", "m{lbl=\"body\"} 1\n")
        .await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "m{instance=\"\",job=\"j\",lbl=\"\"}"),
        Some(1.0),
        "{out}"
    );
}

#[tokio::test]
async fn path_is_percent_decoded_and_plus_is_kept_literally() {
    let s = start().await;
    s.put_ok("/metrics/job/a+b/sp/x%20y", "m 1\n").await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "m{instance=\"\",job=\"a+b\",sp=\"x y\"}"),
        Some(1.0),
        "{out}"
    );
}

#[tokio::test]
async fn successful_put_sets_push_time_and_zero_failure_time() {
    let s = start().await;
    let before = unix_now();
    s.put_ok("/metrics/job/pt", "m 1\n").await;
    let after = unix_now();
    let out = s.scrape().await;
    let pushed =
        sample_value(&out, "push_time_seconds{instance=\"\",job=\"pt\"}").expect("push time");
    assert!(
        before - 1.0 <= pushed && pushed <= after + 1.0,
        "{pushed} not in [{before}, {after}]"
    );
    assert_eq!(
        sample_value(&out, "push_failure_time_seconds{instance=\"\",job=\"pt\"}"),
        Some(0.0)
    );
}

#[tokio::test]
async fn refused_push_to_existing_group_keeps_metrics_and_sets_failure_time() {
    let s = start().await;
    s.put_ok("/metrics/job/pf", "m 1\n").await;
    let before = unix_now();
    let r = s.refused("PUT", "/metrics/job/pf", "m 2\nm 3\n").await;
    assert_eq!(r.status, 400, "{}", r.text());
    let out = s.scrape().await;
    let failed = sample_value(&out, "push_failure_time_seconds{instance=\"\",job=\"pf\"}")
        .expect("failure time");
    assert!(failed >= before - 1.0, "{failed} < {before}");
    assert_eq!(sample_value(&out, "m{instance=\"\",job=\"pf\"}"), Some(1.0));
}

#[tokio::test]
async fn later_successful_put_keeps_the_failure_time() {
    let s = start().await;
    s.put_ok("/metrics/job/pf", "m 1\n").await;
    s.refused("PUT", "/metrics/job/pf", "m 2\nm 3\n").await;
    let failure =
        |out: &str| sample_value(out, "push_failure_time_seconds{instance=\"\",job=\"pf\"}");
    let failed = failure(&s.scrape().await);
    s.put_ok("/metrics/job/pf", "m 4\n").await;
    let out = s.scrape().await;
    assert!(failed.is_some_and(|f| f > 0.0), "{out}");
    assert_eq!(failure(&out), failed, "{out}");
    assert_eq!(sample_value(&out, "m{instance=\"\",job=\"pf\"}"), Some(4.0));
}

/// Deliberate difference: the Go gateway creates an empty group holding only the failure time.
/// The labels and push times of the group at `job` in `/api/v1/metrics`.
async fn api_group(s: &TestServer, job: &str) -> Option<serde_json::Value> {
    let r = s.get("/api/v1/metrics").await.expect_status(200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    v["data"]
        .as_array()
        .expect("data is a list")
        .iter()
        .find(|g| g["labels"]["job"] == job)
        .cloned()
}

#[tokio::test]
async fn refused_push_to_a_new_grouping_key_creates_an_empty_failed_group_as_go_does() {
    let s = start().await;
    s.put_ok("/metrics/job/other", "m 1\n").await;
    let r = s.put("/metrics/job/new", "m 2\nm 3\n").await;
    assert_eq!(r.status, 400, "{}", r.text());
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "push_time_seconds{instance=\"\",job=\"new\"}"),
        Some(0.0),
        "{out}"
    );
    let failed = sample_value(&out, "push_failure_time_seconds{instance=\"\",job=\"new\"}");
    assert!(failed.is_some_and(|t| t > 0.0), "{out}");
    // Nothing of the refused push itself is stored.
    assert_eq!(sample_value(&out, "m{instance=\"\",job=\"new\"}"), None);
    let group = api_group(&s, "new")
        .await
        .expect("the group is in /api/v1/metrics");
    assert_eq!(group["last_push_successful"], false, "{group}");
    // The alert `push_failure_time_seconds > push_time_seconds` holds until a good push,
    // which keeps the failure time.
    s.put_ok("/metrics/job/new", "m 4\n").await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "push_failure_time_seconds{instance=\"\",job=\"new\"}"),
        failed
    );
    assert!(
        sample_value(&out, "push_time_seconds{instance=\"\",job=\"new\"}")
            .is_some_and(|t| t >= failed.expect("failed")),
        "{out}"
    );
}

#[tokio::test]
async fn sample_with_timestamp_is_refused_and_marks_its_new_group_failed() {
    let s = start().await;
    let body = "# TYPE a gauge\na 1\nb 2 1700000000000\n";
    let r = s.put("/metrics/job/ts", body).await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("pushed metrics must not have timestamps"),
        "{}",
        r.text()
    );
    let out = s.scrape_pushed().await;
    assert!(out.is_empty(), "nothing of the push is stored: {out}");
    let group = api_group(&s, "ts")
        .await
        .expect("the group is in /api/v1/metrics");
    assert_eq!(group["last_push_successful"], false, "{group}");
    assert_eq!(
        group["push_time_seconds"]["metrics"][0]["value"], "0",
        "{group}"
    );
}

#[tokio::test]
async fn unparsable_push_to_a_new_grouping_key_creates_nothing() {
    let s = start().await;
    s.put_ok("/metrics/job/other", "m 1\n").await;
    let r = s
        .refused_without_trace("PUT", "/metrics/job/new", "m{ 2\n")
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(api_group(&s, "new").await.is_none());
}

#[tokio::test]
async fn refused_flink_push_marks_the_split_group_failed() {
    let s = start().await;
    // A TaskManager's first push clashes with the type another group gave the family.
    s.put_ok("/metrics/job/other", "# TYPE flink_x gauge\nflink_x 1\n")
        .await;
    let path = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1";
    let r = s.put(path, "# TYPE flink_x counter\nflink_x 2\n").await;
    assert_eq!(r.status, 400, "{}", r.text());
    let out = s.scrape().await;
    let series = "push_failure_time_seconds{flink_prometheus_push_gateway_reporter_id=\"f451c26a333bf1ebebb2cf061f1cfd74\",instance=\"\",job=\"flinkpgw\",k1=\"v1\"}";
    assert!(
        sample_value(&out, series).is_some_and(|t| t > 0.0),
        "{series} in\n{out}"
    );
}

#[tokio::test]
async fn disabled_consistency_check_answers_202_and_stores() {
    let s = start_with(&["--push.disable-consistency-check"]).await;
    s.put("/metrics/job/j", "m 1\n").await.expect_status(202);
    s.post("/metrics/job/j", "n 2\n").await.expect_status(202);
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "m{instance=\"\",job=\"j\"}"),
        Some(1.0),
        "{out}"
    );
    assert_eq!(
        sample_value(&out, "n{instance=\"\",job=\"j\"}"),
        Some(2.0),
        "{out}"
    );
}

#[tokio::test]
async fn body_over_max_body_bytes_answers_413_naming_the_flag() {
    let s = start_with(&["--push.max-body-bytes=100"]).await;
    let body = format!("m{{a=\"{}\"}} 1\n", "x".repeat(120));
    let r = s
        .refused_without_trace("PUT", "/metrics/job/big", &body)
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("--push.max-body-bytes"), "{}", r.text());
}

#[tokio::test]
async fn body_within_max_body_bytes_is_accepted() {
    let s = start_with(&["--push.max-body-bytes=100"]).await;
    let body = format!("m{{a=\"{}\"}} 1\n", "x".repeat(80));
    assert!(body.len() <= 100);
    s.put_ok("/metrics/job/small", &body).await;
}
