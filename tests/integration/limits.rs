//! Limits and timeouts: each refusal names the limit and its flag, and changes nothing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{start, start_with};

#[tokio::test]
async fn series_over_max_series_per_push_gets_413_and_changes_nothing() {
    let s = start_with(&["--push.max-series-per-push=2"]).await;
    s.put_ok("/metrics/job/a", "m 1\n").await;
    let before = s.scrape_store().await;
    let r = s
        .put("/metrics/job/a", "m 1\nn 2\no{x=\"1\"} 3\n")
        .await
        .expect_status(413);
    assert!(
        r.text()
            .contains("3 series, over the limit of 2 (--push.max-series-per-push)"),
        "{}",
        r.text()
    );
    assert_eq!(s.scrape_store().await, before);
}

#[tokio::test]
async fn labels_over_max_labels_per_series_get_400() {
    let s = start_with(&["--push.max-labels-per-series=3"]).await;
    let r = s
        .put("/metrics/job/a", "m{a=\"1\",b=\"2\",c=\"3\"} 1\n")
        .await
        .expect_status(400);
    assert!(
        r.text().contains("(--push.max-labels-per-series)"),
        "{}",
        r.text()
    );
    s.put_ok("/metrics/job/a", "m{a=\"1\"} 1\n").await;
}

#[tokio::test]
async fn long_label_value_gets_400_naming_label_and_flag() {
    let s = start_with(&["--push.max-label-value-length=8"]).await;
    let r = s
        .put("/metrics/job/a", "m{task_name=\"123456789\"} 1\n")
        .await
        .expect_status(400);
    let text = r.text();
    assert!(
        text.contains("\"task_name\"") && text.contains("(--push.max-label-value-length)"),
        "{text}"
    );
    s.put_ok("/metrics/job/a", "m{task_name=\"12345678\"} 1\n")
        .await;
}

#[tokio::test]
async fn long_metric_name_gets_400_naming_flag() {
    let s = start_with(&["--push.max-name-length=4"]).await;
    let r = s
        .put("/metrics/job/a", "abcde 1\n")
        .await
        .expect_status(400);
    assert!(
        r.text().contains("(--push.max-name-length)"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn new_group_beyond_max_groups_gets_429_but_existing_groups_still_take_pushes() {
    let s = start_with(&["--push.max-groups=2"]).await;
    s.put_ok("/metrics/job/a", "m 1\n").await;
    s.put_ok("/metrics/job/b", "m 1\n").await;
    let r = s.put("/metrics/job/c", "m 1\n").await.expect_status(429);
    assert!(r.text().contains("(--push.max-groups)"), "{}", r.text());
    s.put_ok("/metrics/job/a", "m 2\n").await;
    s.delete("/metrics/job/b").await.expect_status(202);
    s.put_ok("/metrics/job/c", "m 1\n").await;
}

#[tokio::test]
async fn body_slower_than_body_read_timeout_gets_408() {
    let s = start_with(&["--push.body-read-timeout=200ms"]).await;
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    let head = "PUT /metrics/job/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nm 1\n";
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .expect("the server answers instead of waiting forever")
        .expect("read");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("--push.body-read-timeout"), "{text}");
    assert!(!s.scrape().await.contains("job=\"slow\""));
}

#[tokio::test]
async fn connection_sending_headers_too_slowly_is_closed() {
    let s = start_with(&["--web.header-read-timeout=200ms"]).await;
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closes a slowloris connection");
    // Other clients are unaffected.
    assert_eq!(s.get("/-/healthy").await.status, 200);
}

#[tokio::test]
async fn defaults_accept_a_large_flink_like_push() {
    let s = start().await;
    let mut body = String::from("# TYPE flink_taskmanager_job_task_operator_numRecordsIn gauge\n");
    for i in 0..5000 {
        body.push_str(&format!(
            "flink_taskmanager_job_task_operator_numRecordsIn{{host=\"h\",tm_id=\"t\",job_id=\"j\",operator_name=\"{}\",subtask_index=\"{i}\",}} {i}.0\n",
            "x".repeat(200)
        ));
    }
    s.put_ok("/metrics/job/big", &body).await;
}
