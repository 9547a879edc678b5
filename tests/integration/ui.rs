//! The web UI at `<prefix>/`: real pushes, real page fetches, assertions on the HTML.

use crate::support::{fixture, start, start_with, Resp, TestServer};

const JM: &str = "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2";
const TM: &str = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2";
const TM_ID: &str = "f451c26a333bf1ebebb2cf061f1cfd74";

async fn push_flink(s: &TestServer, prefix: &str) {
    s.put_ok(&format!("{prefix}{JM}"), &fixture("flink-2.3.0/jm.txt"))
        .await;
    s.put_ok(&format!("{prefix}{TM}"), &fixture("flink-2.3.0/tm.txt"))
        .await;
}

/// GETs a page that must answer 200 HTML, and returns its body.
async fn page(s: &TestServer, path: &str) -> String {
    let r = s.get(path).await.expect_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    r.text()
}

/// Every value of `attr="..."` in `html`, in order.
fn attrs<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            &rest[..rest.find('"').expect("a closed attribute")]
        })
        .collect()
}

/// The group rows of a groups page.
fn rows(html: &str) -> usize {
    html.matches("<tr class=\"group\"").count()
}

/// The series count per group from `/api/v1/groups`.
async fn api_series(s: &TestServer, prefix: &str) -> Vec<u64> {
    let doc: serde_json::Value = serde_json::from_str(
        &s.get(&format!("{prefix}/api/v1/groups"))
            .await
            .expect_status(200)
            .text(),
    )
    .expect("JSON");
    doc["data"]
        .as_array()
        .expect("array")
        .iter()
        .map(|g| g["series"].as_u64().expect("a count"))
        .collect()
}

#[tokio::test]
async fn ui_page_lists_pushed_groups_with_labels_and_series_counts() {
    let s = start().await;
    push_flink(&s, "").await;
    s.put_ok("/metrics/job/batch/instance/host1", "backup_done 1\n")
        .await;
    let html = page(&s, "/").await;
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert_eq!(rows(&html), 3);
    for want in [
        "job=&quot;flinkpgw&quot;",
        "k1=&quot;v1&quot;",
        &format!("flink_prometheus_push_gateway_reporter_id=&quot;{TM_ID}&quot;"),
        "job=&quot;batch&quot;",
        "instance=&quot;host1&quot;",
        "JobManager",
        "TaskManager",
        "Showing 1–<span class=\"count-shown\">3</span> of <b class=\"count-groups\">3</b> groups",
    ] {
        assert!(html.contains(want), "page lacks {want}");
    }
    let series = api_series(&s, "").await;
    assert_eq!(series.len(), 3);
    for n in series {
        assert!(
            html.contains(&format!("<td class=\"num series\">{n}</td>")),
            "page lacks a series count of {n}"
        );
    }
    // A Flink reporter group expires once its interval is learned; a batch group never does.
    assert!(html.contains("<td class=\"muted\">never</td>"));
}

#[tokio::test]
async fn ui_pages_hold_at_most_per_groups_and_cover_all_of_them() {
    let s = start().await;
    for i in 0..120 {
        s.put_ok(&format!("/metrics/job/j{i:03}"), "m 1\n").await;
    }
    let first = page(&s, "/").await;
    assert_eq!(rows(&first), 50, "default page size");
    assert!(first.contains("Showing 1–<span class=\"count-shown\">50</span> of <b class=\"count-groups\">120</b> groups"));
    assert!(first.contains("Page 1 of 3"));
    let last = page(&s, "/?page=3").await;
    assert_eq!(rows(&last), 20);
    assert!(last.contains("job=&quot;j119&quot;") && !last.contains("job=&quot;j099&quot;"));
    assert_eq!(rows(&page(&s, "/?per=500").await), 120);
    assert_eq!(rows(&page(&s, "/?per=7&page=2").await), 7);
    let filtered = page(&s, "/?q=job%3Dj11").await;
    assert_eq!(rows(&filtered), 10, "j110..j119");
    assert!(filtered.contains(
        "of <b class=\"count-groups\">10</b> groups matching the filter (of 120 in the store)"
    ));
    // The page size is bounded whatever is asked.
    let r = s.get("/?per=100000").await.expect_status(400);
    assert_eq!(
        r.text(),
        "query parameter per=\"100000\": want a whole number from 1 to 500\n"
    );
    s.get("/?page=0").await.expect_status(400);
    s.get("/?sort=sideways").await.expect_status(400);
    s.get("/?view=nope").await.expect_status(400);
}

#[tokio::test]
async fn ui_sorts_stalest_and_biggest_groups_first() {
    let s = start().await;
    s.put_ok("/metrics/job/old", "m 1\n").await;
    s.put_ok(
        "/metrics/job/big",
        "m{a=\"1\"} 1\nm{a=\"2\"} 1\nm{a=\"3\"} 1\n",
    )
    .await;
    s.put_ok("/metrics/job/new", "m 1\n").await;
    let by_age = page(&s, "/?sort=age").await;
    assert_eq!(attrs(&by_age, "data-key")[0], "{job=&quot;old&quot;}");
    let by_series = page(&s, "/?sort=series").await;
    assert!(attrs(&by_series, "data-key")[0].contains("big"));
}

#[tokio::test]
async fn ui_escapes_label_values_help_and_metric_names() {
    let s = start().await;
    let evil = "<script>alert('x')</script>\"&";
    let b64 = pushgate::grouping::encode_base64_url(evil.as_bytes());
    s.put_ok(
        &format!("/metrics/job/xss/who@base64/{b64}"),
        "# HELP m a <b>bold</b> help\nm{v=\"<img src=x onerror=alert(1)>\"} 1\n",
    )
    .await;
    let html = page(&s, "/").await;
    assert!(!html.contains("<script>alert"), "unescaped label value");
    assert!(
        html.contains("who=&quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;&quot;")
    );
    let path = attrs(&html, "data-path")[0].to_owned();
    let view = page(&s, &format!("/?view=group&g={path}")).await;
    assert!(
        !view.contains("<img src=x") && !view.contains("<b>bold"),
        "{view}"
    );
    assert!(view.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(view.contains("a &lt;b&gt;bold&lt;/b&gt; help"));
    // Defence in depth: no inline script may run, even if escaping were missed.
    let r = s.get("/").await;
    let csp = r.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(
        !html.contains("<script>") && !html.contains(" onclick=") && !html.contains(" style="),
        "no inline code"
    );
}

#[tokio::test]
async fn ui_works_under_a_route_prefix_with_relative_links() {
    let s = start_with(&["--web.route-prefix=/pg"]).await;
    push_flink(&s, "/pg").await;
    s.get("/").await.expect_status(404);
    let r = s.get("/pg").await.expect_status(302);
    assert_eq!(r.header("location"), Some("pg/"));
    let html = page(&s, "/pg/").await;
    assert_eq!(rows(&html), 2);
    for attr in ["href", "src", "action"] {
        for link in attrs(&html, attr) {
            assert!(
                !link.starts_with('/') && !link.contains("://"),
                "{attr}={link} is not relative"
            );
        }
    }
    for asset in attrs(&html, "src").into_iter().chain(
        attrs(&html, "href")
            .into_iter()
            .filter(|h| h.starts_with("ui/")),
    ) {
        s.get(&format!("/pg/{asset}")).await.expect_status(200);
    }
    for link in attrs(&html, "href")
        .into_iter()
        .filter(|h| h.starts_with('?'))
    {
        let link = link.replace("&amp;", "&");
        page(&s, &format!("/pg/{link}")).await;
    }
    // The delete button's request, resolved against the page, removes exactly its group.
    let tm_path = attrs(&html, "data-path")[0];
    assert!(tm_path.starts_with("job@base64/"));
    resolve_and_delete(&s, "/pg/", tm_path).await;
    assert_eq!(api_series(&s, "/pg").await.len(), 1);
    assert_eq!(rows(&page(&s, "/pg/").await), 1);
}

async fn resolve_and_delete(s: &TestServer, page_url: &str, path: &str) -> Resp {
    s.delete(&format!("{page_url}metrics/{path}"))
        .await
        .expect_status(202)
}

#[tokio::test]
async fn ui_follows_the_path_of_the_external_url() {
    let s = start_with(&["--web.external-url=http://proxy.example:8080/gateway/"]).await;
    s.put_ok("/gateway/metrics/job/a", "m 1\n").await;
    let html = page(&s, "/gateway/").await;
    assert_eq!(rows(&html), 1);
    let status = page(&s, "/gateway/?view=status").await;
    assert!(status.contains("http://proxy.example:8080/gateway/"));
}

#[tokio::test]
async fn ui_delete_paths_remove_exactly_their_group_even_with_odd_values() {
    let s = start().await;
    push_flink(&s, "").await;
    let odd = pushgate::grouping::encode_base64_url("a/b c+d".as_bytes());
    s.put_ok(&format!("/metrics/job/odd/x@base64/{odd}"), "m 1\n")
        .await;
    let html = page(&s, "/").await;
    let mut paths: Vec<String> = attrs(&html, "data-path")
        .into_iter()
        .map(str::to_owned)
        .collect();
    paths.dedup(); // the row and its delete button carry the same path
    assert_eq!(paths.len(), 3);
    for (left, path) in (0..3).rev().zip(&paths) {
        resolve_and_delete(&s, "/", path).await;
        assert_eq!(
            api_series(&s, "").await.len(),
            left,
            "after deleting {path}"
        );
    }
    assert!(page(&s, "/").await.contains("No groups yet"));
}

#[tokio::test]
async fn ui_group_view_shows_series_on_demand_and_caps_them() {
    let s = start().await;
    let body: String = (0..1200)
        .map(|i| format!("big{{i=\"{i}\"}} {i}\n"))
        .collect();
    s.put_ok("/metrics/job/huge", &body).await;
    let html = page(&s, "/").await;
    assert!(!html.contains("big{"), "series are not on the groups page");
    let path = attrs(&html, "data-path")[0].to_owned();
    let view = page(&s, &format!("/?view=group&g={path}")).await;
    assert_eq!(view.matches("<td class=\"value\">").count(), 500);
    assert!(view.contains("700 more series not shown"));
    let narrowed = page(&s, &format!("/?view=group&g={path}&mq=nothing")).await;
    assert!(narrowed.contains("No metric name matches."));
    let fragment = page(&s, &format!("/?view=group&g={path}&fragment=1")).await;
    assert!(!fragment.contains("<html") && !fragment.contains("<nav>"));
    assert_eq!(fragment.matches("<td class=\"value\">").count(), 500);
    let r = s
        .get("/?view=group&g=job@base64/bm9uZQ")
        .await
        .expect_status(404);
    assert!(r.text().contains("{job=\"none\"} is not in the store"));
    let r = s.get("/?view=group&g=nojob").await.expect_status(400);
    assert!(r
        .text()
        .starts_with("query parameter g=\"nojob\" is not a group path"));
}

#[tokio::test]
async fn ui_flink_view_lists_the_job_with_jobmanager_and_taskmanagers() {
    let s = start().await;
    s.put_ok("/metrics/job/batch", "m 1\n").await;
    assert!(
        !page(&s, "/").await.contains("?view=flink"),
        "no Flink groups, no tab"
    );
    push_flink(&s, "").await;
    assert!(page(&s, "/")
        .await
        .contains("href=\"?view=flink\">Flink</a>"));
    let html = page(&s, "/?view=flink").await;
    for want in [
        "<b>1</b> Flink clusters · <b>1</b> JobManagers · <b>1</b> TaskManagers",
        "job=&quot;flinkpgw&quot;",
        "<span class=\"role\">JobManager</span>",
        "<span class=\"role\">TaskManager</span>",
        "Job <span class=\"jobname\">pgw_capture_job</span>",
        "Source:_Seq_Source",
        "Records in/s",
        "Back-pressured max",
        "localhost:35339_ccf434",
    ] {
        assert!(html.contains(want), "Flink view lacks {want}");
    }
    assert!(!html.contains("job=&quot;batch&quot;"), "only Flink groups");
    assert_eq!(html.matches("<tr class=\"group proc\"").count(), 2);
}

#[tokio::test]
async fn ui_status_page_shows_version_start_time_and_flags() {
    let s = start_with(&["--push.max-groups=777"]).await;
    let html = page(&s, "/?view=status").await;
    for want in [
        concat!("pushgate ", env!("CARGO_PKG_VERSION")),
        "Started",
        "push.max-groups</th><td>777",
        "web.listen-address",
    ] {
        assert!(html.contains(want), "status lacks {want}");
    }
}

#[tokio::test]
async fn groups_api_pages_filters_and_counts_server_side() {
    let s = start().await;
    for i in 0..30 {
        s.put_ok(&format!("/metrics/job/j{i:02}"), "m 1\n").await;
    }
    let get = |q: &'static str| {
        let s = &s;
        async move {
            let doc: serde_json::Value = serde_json::from_str(
                &s.get(&format!("/api/v1/groups{q}"))
                    .await
                    .expect_status(200)
                    .text(),
            )
            .expect("JSON");
            doc
        }
    };
    let all = get("").await;
    assert_eq!(all["total"], 30);
    assert_eq!(all["data"].as_array().expect("array").len(), 30);
    let page = get("?offset=10&limit=5").await;
    let jobs: Vec<&str> = page["data"]
        .as_array()
        .expect("array")
        .iter()
        .map(|g| g["labels"]["job"].as_str().expect("job"))
        .collect();
    assert_eq!(jobs, ["j10", "j11", "j12", "j13", "j14"]);
    assert_eq!(get("?q=job%3Dj2").await["total"], 10);
    let r = s.get("/api/v1/groups?limit=0").await.expect_status(400);
    assert!(r.text().contains("limit=\"0\""));
}

#[tokio::test]
async fn ui_assets_come_from_web_local_assets_when_the_file_is_there() {
    let embedded = start()
        .await
        .get("/ui/ui.js")
        .await
        .expect_status(200)
        .text();
    assert!(embedded.contains("deleteGroup"));
    let dir = std::env::temp_dir().join(format!("pushgate-ui-assets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("ui.css"), "body { color: rebeccapurple; }\n").expect("write");
    let flag = format!("--web.local-assets={}", dir.display());
    let s = start_with(&[&flag]).await;
    let css = s.get("/ui/ui.css").await.expect_status(200);
    assert_eq!(css.text(), "body { color: rebeccapurple; }\n");
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("cache-control"), Some("no-cache"));
    // No ui.js there: the embedded one.
    assert_eq!(s.get("/ui/ui.js").await.expect_status(200).text(), embedded);
    s.get("/ui/other.js").await.expect_status(404);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
