//! Flink handling: random job suffixes, Java path decoding, deletes racing the last report,
//! and stale-group expiry.

use pushgate::flink::expiry::expire_now;
use pushgate::grouping::GroupingKey;
use pushgate::store::WriteRequest;

use crate::support::{fixture, sample_lines, start, start_with, TestServer};

const TM: &str = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2";
const JM: &str = "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2";
const EDGE: &str =
    "/metrics/job/flink+job+%C3%BC%2Bx/pct/50%25/cluster/prod+east/site/%C3%A7%C3%B6d%C3%A9";
const ID_LABEL: &str = "flink_prometheus_push_gateway_reporter_id";
const JAVA: (&str, &str) = ("User-Agent", "Java/17.0.15");

async fn put_java(s: &TestServer, path: &str, body: &str) -> u16 {
    s.request(
        "PUT",
        path,
        &[
            JAVA,
            ("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
        ],
        body.as_bytes(),
    )
    .await
    .status
}

#[tokio::test]
async fn random_suffix_moves_to_the_reporter_id_label_and_job_is_stable() {
    let s = start().await;
    assert_eq!(put_java(&s, JM, &fixture("flink-2.3.0/jm.txt")).await, 200);
    assert_eq!(put_java(&s, TM, &fixture("flink-2.3.0/tm.txt")).await, 200);
    let out = s.scrape_store().await;
    assert!(out.contains(&format!("push_time_seconds{{{ID_LABEL}=\"1aad809d7e0ec3094164704a63618361\",instance=\"\",job=\"flinkpgw\",k1=\"v1\",k2=\"v2\"}}")), "{out}");
    assert!(out.contains(&format!("{ID_LABEL}=\"f451c26a333bf1ebebb2cf061f1cfd74\"")));
    assert!(
        !out.contains("job=\"flinkpgw1aad"),
        "no series keeps the suffixed job"
    );
    assert_eq!(
        sample_lines(&s.scrape_pushed().await).len(),
        62 + 452,
        "JM and TM groups stay apart"
    );
}

#[tokio::test]
async fn flink_delete_of_its_original_path_removes_exactly_its_group() {
    let s = start().await;
    put_java(&s, JM, &fixture("flink-2.3.0/jm.txt")).await;
    put_java(&s, TM, &fixture("flink-2.3.0/tm.txt")).await;
    s.request("DELETE", TM, &[JAVA], b"")
        .await
        .expect_status(202);
    let out = s.scrape_store().await;
    assert!(
        !out.contains("f451c26a333bf1ebebb2cf061f1cfd74"),
        "TM group gone"
    );
    assert!(
        out.contains("1aad809d7e0ec3094164704a63618361"),
        "JM group stays"
    );
}

#[tokio::test]
async fn keep_mode_is_the_go_gateways_behaviour() {
    let s = start_with(&["--flink.job-suffix=keep"]).await;
    put_java(&s, TM, &fixture("flink-2.3.0/tm.txt")).await;
    let out = s.scrape_store().await;
    assert!(out.contains("job=\"flinkpgwf451c26a333bf1ebebb2cf061f1cfd74\""));
    assert!(!out.contains(ID_LABEL));
}

#[tokio::test]
async fn java_clients_get_form_decoded_paths_others_keep_plus_literally() {
    let s = start().await;
    assert_eq!(
        put_java(&s, EDGE, &fixture("flink-2.3.0-edge/jm.txt")).await,
        200
    );
    let out = s.scrape_store().await;
    assert!(out.contains("cluster=\"prod east\""), "{out}");
    assert!(out.contains("job=\"flink job ü+x\""));
    let go_like = start().await;
    go_like
        .put(EDGE, &fixture("flink-2.3.0-edge/jm.txt"))
        .await
        .expect_status(200);
    assert!(go_like
        .scrape_store()
        .await
        .contains("cluster=\"prod+east\",instance=\"\",job=\"flink+job+ü+x\""));
    let off = start_with(&["--flink.path-decoding=off"]).await;
    assert_eq!(
        put_java(&off, EDGE, &fixture("flink-2.3.0-edge/jm.txt")).await,
        200
    );
    assert!(off.scrape_store().await.contains("cluster=\"prod+east\""));
}

#[tokio::test]
async fn report_racing_the_reporters_delete_is_answered_but_not_stored() {
    let s = start().await;
    put_java(&s, TM, "m 1\n").await;
    s.request("DELETE", TM, &[JAVA], b"")
        .await
        .expect_status(202);
    assert_eq!(put_java(&s, TM, "m 2\n").await, 200, "Flink sees success");
    let out = s.scrape().await;
    assert!(
        !out.contains("f451c26a333bf1ebebb2cf061f1cfd74"),
        "the group is not resurrected"
    );
    assert!(
        out.contains("pushgate_pushes_after_delete_total 1\n"),
        "counted"
    );
    // Groups without a reporter id keep the Go semantics: a PUT after DELETE recreates them.
    s.put("/metrics/job/plain", "m 1\n")
        .await
        .expect_status(200);
    s.delete("/metrics/job/plain").await.expect_status(202);
    s.put("/metrics/job/plain", "m 2\n")
        .await
        .expect_status(200);
    assert!(s
        .scrape()
        .await
        .contains("m{instance=\"\",job=\"plain\"} 2\n"));
}

/// Applies `body` to `path` as if pushed at `at` (Unix seconds), through the library.
fn push_at(s: &TestServer, path: &str, body: &str, at: f64) {
    let key = pushgate::flink::grouping_key(
        path.trim_start_matches("/metrics/"),
        Some("Java/17"),
        &s.server.state().config.flink,
    )
    .expect("valid path");
    let families = pushgate::parse::text::parse(body.as_bytes()).expect("valid body");
    s.server
        .state()
        .store
        .apply_at(
            WriteRequest {
                key,
                families,
                replace: true,
            },
            at,
        )
        .expect("stored");
}

/// PUTs `m 1` to `key` as if at `at` (Unix seconds), through the library.
fn put_key_at(state: &pushgate::server::AppState, key: &GroupingKey, at: f64) {
    let families = pushgate::parse::text::parse(b"m 1\n").expect("valid body");
    let req = WriteRequest {
        key: key.clone(),
        families,
        replace: true,
    };
    state.store.apply_at(req, at).expect("stored");
}

fn has_group(s: &TestServer, id: &str) -> bool {
    s.server
        .state()
        .store
        .snapshot()
        .groups
        .iter()
        .any(|g| g.key.get(ID_LABEL) == Some(id))
}

#[tokio::test]
async fn reporter_group_that_missed_three_intervals_expires_while_the_jm_stays() {
    let s = start().await;
    let (jm_id, tm_id) = (
        "1aad809d7e0ec3094164704a63618361",
        "f451c26a333bf1ebebb2cf061f1cfd74",
    );
    for t in [1000.0, 1010.0, 1020.0] {
        push_at(&s, TM, "m 1\n", t);
    }
    for t in [1000.0, 1010.0, 1020.0, 1030.0, 1040.0, 1050.0] {
        push_at(&s, JM, "j 1\n", t);
    }
    assert_eq!(
        expire_now(s.server.state(), 1049.0),
        0,
        "TM has missed fewer than 3 intervals"
    );
    assert!(has_group(&s, tm_id));
    assert_eq!(
        expire_now(s.server.state(), 1050.5),
        1,
        "TM missed 3 intervals of 10 s"
    );
    assert!(!has_group(&s, tm_id) && has_group(&s, jm_id));
    assert!(s
        .scrape()
        .await
        .contains("pushgate_groups_expired_total{reason=\"missed_pushes\"} 1\n"));
}

#[tokio::test]
async fn groups_without_reporter_id_only_expire_with_the_global_ttl() {
    let plain = GroupingKey::from_path("job/batch").expect("valid");
    let s = start().await;
    let st = s.server.state();
    for t in [1000.0, 1010.0] {
        put_key_at(st, &plain, t);
    }
    assert_eq!(
        expire_now(st, 1e9),
        0,
        "no TTL by default: kept forever, as in the Go gateway"
    );

    let ttl = start_with(&["--push.group-ttl=1h"]).await;
    let st = ttl.server.state();
    put_key_at(st, &plain, 1000.0);
    assert_eq!(expire_now(st, 1000.0 + 3599.0), 0);
    assert_eq!(expire_now(st, 1000.0 + 3601.0), 1);
    assert!(ttl
        .scrape()
        .await
        .contains("pushgate_groups_expired_total{reason=\"ttl\"} 1\n"));
}

#[tokio::test]
async fn learned_interval_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("pushgate-flink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("data");
    let flag = format!("--persistence.file={}", file.display());
    let s = start_with(&[&flag]).await;
    for t in [1000.0, 1010.0, 1020.0] {
        push_at(&s, TM, "m 1\n", t);
    }
    let before = s.server.state().store.snapshot().groups[0].times;
    assert_eq!(before.interval, Some(10.0));
    s.server.shutdown().await;
    let s2 = start_with(&[&flag]).await;
    assert_eq!(s2.server.state().store.snapshot().groups[0].times, before);
}

#[tokio::test]
async fn groups_api_shows_age_learned_interval_and_time_to_expiry() {
    let s = start().await;
    let now = pushgate::store::now_seconds();
    push_at(&s, TM, "m 1\n", now - 10.0);
    push_at(&s, TM, "m 1\n", now - 5.0);
    push_at(&s, TM, "m 1\n", now);
    s.put("/metrics/job/batch", "m 1\n")
        .await
        .expect_status(200);
    let doc: serde_json::Value =
        serde_json::from_str(&s.get("/api/v1/groups").await.expect_status(200).text())
            .expect("JSON");
    let groups = doc["data"].as_array().expect("array");
    let tm = groups
        .iter()
        .find(|g| g["flink_reporter"] == true)
        .expect("the TM group");
    assert_eq!(tm["learned_interval_seconds"].as_f64(), Some(5.0));
    assert_eq!(tm["expiry_reason"], "missed_pushes");
    let left = tm["expires_in_seconds"]
        .as_f64()
        .expect("a reporter group expires");
    assert!(
        left > 0.0 && left <= 15.0,
        "3 intervals of 5 s after the last push: {left}"
    );
    assert_eq!(tm["labels"][ID_LABEL], "f451c26a333bf1ebebb2cf061f1cfd74");
    let batch = groups
        .iter()
        .find(|g| g["labels"]["job"] == "batch")
        .expect("the batch group");
    assert!(
        batch["expires_in_seconds"].is_null(),
        "no TTL: never expires"
    );
    assert_eq!(batch["series"], 3);
}

#[tokio::test]
async fn one_short_gap_after_a_push_does_not_make_a_live_group_expire() {
    // Regression (found by the load generator): a re-push 1.5 s after a push taught an
    // interval of 1.5 s, and the group, still pushing every 10 s, expired 4.5 s later.
    let s = start().await;
    let tm_id = "f451c26a333bf1ebebb2cf061f1cfd74";
    push_at(&s, TM, "m 1\n", 1000.0);
    push_at(&s, TM, "m 1\n", 1001.5);
    assert_eq!(
        expire_now(s.server.state(), 1009.0),
        0,
        "one gap is not a schedule"
    );
    push_at(&s, TM, "m 1\n", 1011.5);
    assert_eq!(
        expire_now(s.server.state(), 1030.0),
        0,
        "the 10 s gap is taken at once"
    );
    assert!(has_group(&s, tm_id));
    assert_eq!(expire_now(s.server.state(), 1042.0), 1, "3 x 10 s missed");
}
