//! Routing: methods, unknown paths, invalid push paths, health endpoints and the route
//! prefix, answered as the Go Pushgateway 1.5.1 does.

use crate::support::{sample_value, start, start_with, Resp};

const PUSH_ALLOW: &str = "DELETE, OPTIONS, POST, PUT";

/// Asserts the status and the exact body (Go's `http.Error` adds a newline).
#[track_caller]
fn assert_answer(r: &Resp, status: u16, body: &str) {
    assert_eq!((r.status, r.text().trim_end_matches('\n')), (status, body));
}

#[tokio::test]
async fn wrong_method_on_a_push_path_is_405_with_allow() {
    let s = start().await;
    let r = s.get("/metrics/job/x").await;
    assert_eq!(r.status, 405, "{}", r.text());
    assert_eq!(r.header("allow"), Some(PUSH_ALLOW));
}

#[tokio::test]
async fn options_on_a_push_path_is_200_with_allow() {
    let s = start().await;
    let r = s
        .request("OPTIONS", "/metrics/job/x", &[], b"")
        .await
        .expect_status(200);
    assert_eq!(r.header("allow"), Some(PUSH_ALLOW));
}

#[tokio::test]
async fn post_to_the_scrape_path_is_405() {
    let s = start().await;
    let r = s.post("/metrics", "m 1\n").await;
    assert_eq!(r.status, 405, "{}", r.text());
    assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
}

#[tokio::test]
async fn unknown_path_is_404_page_not_found() {
    let s = start().await;
    assert_answer(&s.get("/nope").await, 404, "404 page not found");
}

/// The Go gateway redirects `/metrics/job/` to `/metrics/job` (then 404s); we refuse it.
#[tokio::test]
async fn empty_job_in_the_path_is_refused() {
    let s = start().await;
    let r = s
        .refused_without_trace("PUT", "/metrics/job/", "m 1\n")
        .await;
    assert!(matches!(r.status, 400 | 404), "{} {}", r.status, r.text());
}

#[tokio::test]
async fn empty_base64_job_is_400_job_name_is_required() {
    let s = start().await;
    let r = s
        .refused_without_trace("PUT", "/metrics/job@base64/=", "m 1\n")
        .await;
    assert_answer(&r, 400, "job name is required");
}

#[tokio::test]
async fn odd_number_of_path_components_is_400() {
    let s = start().await;
    let r = s
        .refused_without_trace("PUT", "/metrics/job/x/a", "m 1\n")
        .await;
    assert_answer(&r, 400, "odd number of components in label string \"/a\"");
}

#[tokio::test]
async fn label_name_starting_with_a_digit_in_the_path_is_400() {
    let s = start().await;
    let r = s
        .refused_without_trace("PUT", "/metrics/job/x/1a/v", "m 1\n")
        .await;
    assert_answer(&r, 400, "improper label name \"1a\"");
}

#[tokio::test]
async fn reserved_label_name_in_the_path_is_400() {
    let s = start().await;
    let r = s
        .refused_without_trace("PUT", "/metrics/job/x/__a/v", "m 1\n")
        .await;
    assert_answer(&r, 400, "improper label name \"__a\"");
}

#[tokio::test]
async fn health_and_readiness_answer_ok() {
    let s = start().await;
    assert_answer(&s.get("/-/healthy").await, 200, "OK");
    assert_answer(&s.get("/-/ready").await, 200, "OK");
}

#[tokio::test]
async fn route_prefix_moves_pushes_and_scrapes_under_it() {
    let s = start_with(&["--web.route-prefix=/pg"]).await;
    s.put("/pg/metrics/job/j", "m 1\n").await.expect_status(200);
    let r = s.get("/pg/metrics").await.expect_status(200);
    assert_eq!(
        sample_value(&r.text(), "m{instance=\"\",job=\"j\"}"),
        Some(1.0),
        "{}",
        r.text()
    );
    assert_answer(&s.get("/metrics").await, 404, "404 page not found");
    assert_eq!(s.put("/metrics/job/j", "m 2\n").await.status, 404);
}
