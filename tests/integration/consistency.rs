//! Consistency checks (Go Pushgateway 1.5.1 semantics): a push that would make the merged
//! scrape invalid is refused with 400, names the offending metric, and changes nothing.

use crate::support::{sample_value, start, TestServer};

/// Asserts a PUT is refused with 400 naming `metric`, leaving the pushed metrics unchanged.
async fn assert_put_refused(s: &TestServer, path: &str, body: &str, metric: &str) {
    let r = s.refused("PUT", path, body).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains(metric),
        "message does not name {metric}: {}",
        r.text()
    );
}

#[tokio::test]
async fn type_clash_with_the_same_family_in_another_group_is_refused() {
    let s = start().await;
    s.put_ok("/metrics/job/t1", "# TYPE tc gauge\ntc 1\n").await;
    assert_put_refused(&s, "/metrics/job/t2", "# TYPE tc counter\ntc 1\n", "tc").await;
}

#[tokio::test]
async fn type_clash_with_the_gateways_own_metrics_is_refused() {
    let s = start().await;
    let body = "# TYPE pushgateway_build_info counter\npushgateway_build_info 1\n";
    assert_put_refused(&s, "/metrics/job/t", body, "pushgateway_build_info").await;
}

#[tokio::test]
async fn own_metric_family_pushed_with_the_same_type_is_accepted() {
    let s = start().await;
    s.put_ok(
        "/metrics/job/t",
        "# TYPE pushgateway_build_info gauge\npushgateway_build_info 1\n",
    )
    .await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "pushgateway_build_info{instance=\"\",job=\"t\"}"),
        Some(1.0),
        "{out}"
    );
    assert_eq!(
        out.matches("# TYPE pushgateway_build_info ").count(),
        1,
        "{out}"
    );
}

#[tokio::test]
async fn duplicate_series_across_groups_is_refused() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "dd{x=\"1\"} 1\n").await;
    assert_put_refused(&s, "/metrics/job/a/x/1", "dd 1\n", "dd{").await;
}

#[tokio::test]
async fn duplicate_series_within_one_push_is_refused() {
    let s = start().await;
    assert_put_refused(&s, "/metrics/job/dw", "dw 1\ndw 2\n", "dw").await;
}

#[tokio::test]
async fn gauge_count_after_summary_in_another_group_is_refused() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "# TYPE s summary\ns_count 1\ns_sum 1\n")
        .await;
    assert_put_refused(
        &s,
        "/metrics/job/b",
        "# TYPE s_count gauge\ns_count 1\n",
        "s_count",
    )
    .await;
}

#[tokio::test]
async fn summary_after_gauge_count_in_another_group_is_refused() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "# TYPE s_count gauge\ns_count 1\n")
        .await;
    assert_put_refused(
        &s,
        "/metrics/job/b",
        "# TYPE s summary\ns_count 1\ns_sum 1\n",
        "s_count",
    )
    .await;
}

#[tokio::test]
async fn histogram_bucket_family_beside_histogram_is_refused() {
    let s = start().await;
    s.put_ok(
        "/metrics/job/a",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    )
    .await;
    assert_put_refused(&s, "/metrics/job/b", "h_bucket 1\n", "h_bucket").await;
}

#[tokio::test]
async fn bucket_family_beside_summary_is_accepted() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "# TYPE s summary\ns_count 1\ns_sum 1\n")
        .await;
    s.put_ok("/metrics/job/b", "s_bucket 1\n").await;
}

#[tokio::test]
async fn re_put_of_the_same_body_to_the_same_group_succeeds() {
    let s = start().await;
    let body = "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count 1\ns_sum 1\nm{x=\"1\"} 1\n";
    s.put_ok("/metrics/job/a", body).await;
    s.put_ok("/metrics/job/a", body).await;
}

#[tokio::test]
async fn post_conflicting_only_with_the_groups_old_version_succeeds() {
    let s = start().await;
    s.put_ok("/metrics/job/p", "# TYPE pm gauge\npm 1\nother 1\n")
        .await;
    s.post("/metrics/job/p", "# TYPE pm counter\npm 2\n")
        .await
        .expect_status(200);
    let out = s.scrape().await;
    assert!(out.contains("# TYPE pm counter\n"), "{out}");
    assert_eq!(
        sample_value(&out, "other{instance=\"\",job=\"p\"}"),
        Some(1.0),
        "{out}"
    );
}

/// Regression: the Go gateway accepts the second push as a group of its own and then fails
/// every scrape and every later push, because both groups expose the same series. Whatever we
/// answer to it, the store must stay one consistent group for job "e".
#[tokio::test]
async fn poison_sequence_never_breaks_later_pushes_or_scrapes() {
    let s = start().await;
    s.put_ok("/metrics/job/e", "m 1\n").await;
    let r = s.put("/metrics/job/e/instance@base64/=", "m 2\n").await;
    assert!(matches!(r.status, 200 | 400), "{} {}", r.status, r.text());
    s.put_ok("/metrics/job/other", "n 1\n").await;
    let out = s.scrape().await;
    let job_e = |l: &&str| l.contains("job=\"e\"");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("m{"))
            .filter(job_e)
            .count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("push_time_seconds{"))
            .filter(job_e)
            .count(),
        1,
        "{out}"
    );
    s.put_ok("/metrics/job/e", "m 3\n").await;
    assert_eq!(
        sample_value(&s.scrape().await, "m{instance=\"\",job=\"e\"}"),
        Some(3.0)
    );
}

/// The lead's choice for the poison push: refuse it rather than accept it into the group of
/// `/job/e` (the grouping-key module currently makes the two paths one group and answers 200).
#[tokio::test]
async fn push_with_explicit_empty_instance_beside_the_same_job_is_refused() {
    let s = start().await;
    s.put_ok("/metrics/job/e", "m 1\n").await;
    let r = s
        .refused("PUT", "/metrics/job/e/instance@base64/=", "m 2\n")
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        sample_value(&s.scrape().await, "m{instance=\"\",job=\"e\"}"),
        Some(1.0)
    );
}

// A re-push with exactly the series the group already holds skips the identity work
// (`consistency::same_series`); the index must still be exact afterwards.

#[tokio::test]
async fn re_pushed_unchanged_series_still_block_duplicates_from_other_groups() {
    let s = start().await;
    let body = "# TYPE rp gauge\nrp{x=\"1\"} 1\nrp{x=\"2\"} 2\n";
    s.put_ok("/metrics/job/a", body).await;
    s.put_ok("/metrics/job/a", body).await;
    s.post("/metrics/job/a", body).await.expect_status(200);
    assert_put_refused(&s, "/metrics/job/a/x/2", "# TYPE rp gauge\nrp 5\n", "rp{").await;
}

#[tokio::test]
async fn re_push_changing_only_the_type_moves_the_family_to_the_new_type() {
    let s = start().await;
    s.put_ok("/metrics/job/a", "# TYPE rt gauge\nrt{x=\"1\"} 1\n")
        .await;
    s.put_ok("/metrics/job/a", "# TYPE rt counter\nrt{x=\"1\"} 2\n")
        .await;
    assert_put_refused(&s, "/metrics/job/b", "# TYPE rt gauge\nrt 1\n", "rt").await;
    s.put_ok("/metrics/job/c", "# TYPE rt counter\nrt 1\n")
        .await;
    let out = s.scrape().await;
    assert!(out.contains("# TYPE rt counter\n"), "{out}");
}

#[tokio::test]
async fn series_of_a_deleted_group_are_free_after_unchanged_re_pushes() {
    let s = start().await;
    let body = "rd{x=\"1\"} 1\n";
    s.put_ok("/metrics/job/a", body).await;
    s.put_ok("/metrics/job/a", body).await;
    assert_put_refused(&s, "/metrics/job/a/x/1", "rd 5\n", "rd{").await;
    let r = s.request("DELETE", "/metrics/job/a", &[], b"").await;
    assert_eq!(r.status, 202);
    s.put_ok("/metrics/job/a/x/1", "rd 5\n").await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "rd{instance=\"\",job=\"a\",x=\"1\"}"),
        Some(5.0),
        "{out}"
    );
}

// Series identities are indexed only while grouping keys of different label names coexist
// (`consistency` module docs): the index is built when a second shape arrives and dropped
// when it leaves, and duplicates are caught across every transition.

#[tokio::test]
async fn series_index_is_built_for_a_second_key_shape_and_dropped_when_it_leaves() {
    let s = start().await;
    let indexed = |out: &str| sample_value(out, "pushgate_consistency_index_series");
    s.put_ok("/metrics/job/a", "sx{x=\"1\"} 1\nsy 2\n").await;
    s.put_ok("/metrics/job/b", "sx{x=\"1\"} 1\n").await;
    assert_eq!(indexed(&s.scrape().await), Some(0.0), "one shape: no index");

    // A second shape: the store is indexed, and the duplicate of job a's series is caught.
    assert_put_refused(&s, "/metrics/job/a/x/1", "sx 5\n", "sx{").await;
    s.put_ok("/metrics/job/c/x/2", "sx 5\n").await;
    // 4 pushed series + 2 push-time series per group: a, b, c and the empty group the
    // refused push left at /job/a/x/1 (as Go does).
    assert_eq!(indexed(&s.scrape().await), Some(12.0));

    // Back to one shape: dropped; a later second shape indexes the store again.
    for path in ["/metrics/job/c/x/2", "/metrics/job/a/x/1"] {
        s.delete(path).await.expect_status(202);
    }
    assert_eq!(indexed(&s.scrape().await), Some(0.0));
    s.put_ok("/metrics/job/b", "sx{x=\"1\"} 1\nsz{x=\"3\"} 1\n")
        .await;
    assert_put_refused(&s, "/metrics/job/b/x/3", "sz 1\n", "sz{").await;
    s.put_ok("/metrics/job/d/x/3", "sz 1\n").await;
    // a: 2 + 2, b: 2 + 2, the empty /job/b/x/3: 2, d: 1 + 2.
    assert_eq!(indexed(&s.scrape().await), Some(13.0));
}

#[tokio::test]
async fn same_shape_groups_never_collide_even_without_the_index() {
    let s = start().await;
    // Equal bodies under keys with the same label names: the grouping labels tell them apart.
    let body = "# TYPE ss gauge\nss{instance=\"i\",x=\"1\"} 1\n";
    s.put_ok("/metrics/job/a/instance/i", body).await;
    s.put_ok("/metrics/job/b/instance/i", body).await;
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "ss{instance=\"i\",job=\"a\",x=\"1\"}"),
        Some(1.0),
        "{out}"
    );
    assert_eq!(
        sample_value(&out, "ss{instance=\"i\",job=\"b\",x=\"1\"}"),
        Some(1.0),
        "{out}"
    );
    assert_eq!(
        sample_value(&out, "pushgate_consistency_index_series"),
        Some(0.0)
    );
}
