//! The admin wipe and the lifecycle endpoint, with the Go gateway's statuses and bodies.

use std::time::Duration;

use crate::support::{start, start_with, TestServer};

#[tokio::test]
async fn wipe_is_404_without_the_admin_api_flag() {
    let s = start().await;
    s.put_ok("/metrics/job/w", "w 1\n").await;
    s.request("PUT", "/api/v1/admin/wipe", &[], b"")
        .await
        .expect_status(404);
    assert!(!s.scrape_pushed().await.is_empty());
}

#[tokio::test]
async fn wipe_with_the_admin_api_flag_deletes_every_group_and_answers_202() {
    let s = start_with(&["--web.enable-admin-api", "--web.route-prefix=/pg"]).await;
    s.put_ok("/pg/metrics/job/w", "w 1\n").await;
    s.put_ok("/pg/metrics/job/v/instance/i", "v 1\n").await;
    let r = s
        .request("PUT", "/pg/api/v1/admin/wipe", &[], b"")
        .await
        .expect_status(202);
    assert!(r.body.is_empty());
    let scrape = s.get("/pg/metrics").await.expect_status(200).text();
    assert!(
        !scrape.contains("job=\"w\"") && !scrape.contains("job=\"v\""),
        "{scrape}"
    );
    let r = s
        .request("GET", "/pg/api/v1/admin/wipe", &[], b"")
        .await
        .expect_status(405);
    assert_eq!(r.header("allow"), Some("OPTIONS, PUT"));
    // The same grouping key can be pushed again after the wipe.
    s.put_ok("/pg/metrics/job/w", "w 2\n").await;
}

#[tokio::test]
async fn quit_is_403_without_the_lifecycle_flag_and_get_is_405() {
    let s = start().await;
    for method in ["PUT", "POST"] {
        let r = s
            .request(method, "/-/quit", &[], b"")
            .await
            .expect_status(403);
        assert_eq!(r.text(), "Lifecycle API is not enabled.");
    }
    let r = s.get("/-/quit").await.expect_status(405);
    assert_eq!(r.text(), "Only POST or PUT requests allowed.");
    s.get("/-/healthy").await.expect_status(200);
}

#[tokio::test]
async fn quit_with_the_lifecycle_flag_answers_then_shuts_down_gracefully() {
    let s = start_with(&["--web.enable-lifecycle"]).await;
    s.get("/-/quit").await.expect_status(405);
    let r = s
        .request("POST", "/-/quit", &[], b"")
        .await
        .expect_status(200);
    assert_eq!(r.text(), "Requesting termination... Goodbye!");
    let TestServer { server, addr } = s;
    tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .expect("the server stops after /-/quit");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
