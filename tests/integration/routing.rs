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

/// The Go gateway's router redirects `/metrics/job/` to `/metrics/job` (which then 404s).
#[tokio::test]
async fn push_without_a_job_redirects_307_to_metrics_job_as_go_does() {
    let s = start().await;
    for method in ["PUT", "POST", "DELETE"] {
        let before = s.scrape_store().await;
        let r = s.request(method, "/metrics/job/", &[], b"m 1\n").await;
        assert_eq!(r.status, 307, "{method}: {}", r.text());
        assert_eq!(r.header("location"), Some("/metrics/job"));
        assert_eq!(s.scrape_store().await, before);
    }
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

#[tokio::test]
async fn every_response_carries_x_content_type_options_nosniff() {
    let s = start_with(&["--push.max-body-bytes=64"]).await;
    let answers = [
        s.put("/metrics/job/ok", "m 1\n").await,
        s.request("DELETE", "/metrics/job/ok", &[], b"").await,
        s.put("/metrics/job/bad", "m{ 1\n").await,
        s.get("/nope").await,
        s.get("/metrics/job/x").await,
        s.put("/metrics/job/big", &"m 1\n".repeat(100)).await,
        s.request(
            "PUT",
            "/metrics/job/enc",
            &[("Content-Encoding", "br")],
            b"m 1\n",
        )
        .await,
        s.get("/metrics").await,
        s.get("/api/v1/metrics").await,
        s.get("/-/healthy").await,
        s.get("//metrics").await,
        s.request("OPTIONS", "/metrics/job/x", &[], b"").await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [200, 202, 400, 404, 405, 413, 415, 200, 200, 200, 301, 200]
    );
    for r in &answers {
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{} {:?}",
            r.status,
            r.headers
        );
    }
}

#[tokio::test]
async fn unclean_paths_redirect_301_to_the_cleaned_path_for_every_method() {
    let s = start().await;
    for (method, path, location) in [
        ("PUT", "/metrics/job/a//b/c", "/metrics/job/a/b/c"),
        ("POST", "/metrics/job//a", "/metrics/job/a"),
        ("DELETE", "/metrics/job/a/./b/c", "/metrics/job/a/b/c"),
        ("PUT", "/metrics/job/a/x/../b/c", "/metrics/job/a/b/c"),
        ("PUT", "/metrics/job/a//", "/metrics/job/a/"),
        ("GET", "//metrics", "/metrics"),
        ("GET", "/metrics//?a=b", "/metrics/?a=b"),
    ] {
        let before = s.scrape_store().await;
        let r = s.request(method, path, &[], b"m 1\n").await;
        assert_eq!(r.status, 301, "{method} {path}: {}", r.text());
        assert_eq!(r.header("location"), Some(location), "{method} {path}");
        assert_eq!(
            s.scrape_store().await,
            before,
            "{method} {path} stored something"
        );
        if method == "GET" {
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            let href = location.replace('&', "&amp;");
            assert_eq!(
                r.text(),
                format!("<a href=\"{href}\">Moved Permanently</a>.\n\n")
            );
        }
    }
}

#[tokio::test]
async fn get_of_an_endpoint_with_a_trailing_slash_redirects_301_without_it() {
    let s = start().await;
    for path in [
        "/metrics/",
        "/-/healthy/",
        "/status/",
        "/api/v1/metrics/",
        "/metrics/aggregated/",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 301, "{path}: {}", r.text());
        assert_eq!(r.header("location"), Some(path.trim_end_matches('/')));
    }
    // Only GET redirects; and a path that is no endpoint stays a 404.
    assert_eq!(s.post("/metrics/", "m 1\n").await.status, 404);
    assert_eq!(s.get("/nope/").await.status, 404);
}

#[tokio::test]
async fn trailing_slash_redirects_keep_the_route_prefix() {
    let s = start_with(&["--web.route-prefix=/pg"]).await;
    let r = s.get("/pg/metrics/").await;
    assert_eq!((r.status, r.header("location")), (301, Some("/pg/metrics")));
    let r = s.put("/pg/metrics/job/", "m 1\n").await;
    assert_eq!(
        (r.status, r.header("location")),
        (307, Some("/pg/metrics/job"))
    );
}

#[tokio::test]
async fn push_with_a_trailing_slash_after_the_job_is_stored_as_go_does() {
    let s = start().await;
    s.put("/metrics/job/x/", "m 1\n").await.expect_status(200);
    s.put("/metrics/job/y/l/", "m 2\n").await.expect_status(200);
    let out = s.scrape().await;
    assert_eq!(
        sample_value(&out, "m{instance=\"\",job=\"x\"}"),
        Some(1.0),
        "{out}"
    );
    assert_eq!(
        sample_value(&out, "m{instance=\"\",job=\"y\",l=\"\"}"),
        Some(2.0),
        "{out}"
    );
}

#[tokio::test]
async fn get_status_serves_the_ui_status_page() {
    let s = start().await;
    let r = s.get("/status").await.expect_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(html.contains("<title>Status · pushgate</title>"), "{html}");
    assert!(html.contains("<h2>Runtime</h2>") && html.contains("<h2>Flags</h2>"));
    // The same content as the Status tab (`/?view=status`), apart from the clock.
    let tab = s.get("/?view=status").await.expect_status(200).text();
    let strip = |h: &str| {
        h.lines()
            .filter(|l| !l.contains("data-now") && !l.contains("ago") && !l.contains("uptime"))
            .count()
    };
    assert_eq!(strip(&html), strip(&tab));
    // Its links and assets resolve as from the UI's root.
    assert!(html.contains("href=\"ui/ui.css?v="));
    assert_eq!(s.get("/ui/ui.css").await.status, 200);
}
