//! Replays of real Flink pushes (fixtures/README.md), compared with what the Go Pushgateway
//! 1.5.1 exposed for the same pushes.

use crate::support::{
    assert_lines_equal, fixture, pushed_only, sample_lines, start, start_with, TestServer,
};

async fn start_keep() -> TestServer {
    start_with(&["--flink.job-suffix=keep"]).await
}

const JM_230: &str = "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2";
const TM_230: &str = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2";
const JM_1203: &str = "/metrics/job/flinkpgwbe28a1692412e06eb1127c490986a112/k1/v1/k2/v2";
const TM_1203: &str = "/metrics/job/flinkpgw5738eb88e44fccf530d4e63167c5c0cb/k1/v1/k2/v2";
const EDGE: &str =
    "/metrics/job/flink+job+%C3%BC%2Bx/pct/50%25/cluster/prod+east/site/%C3%A7%C3%B6d%C3%A9";

async fn put_fixture(s: &TestServer, path: &str, file: &str) {
    s.put(path, &fixture(file)).await.expect_status(200);
}

/// Go-compatible mode (`--flink.job-suffix=keep`): the scrape must equal the Go gateway's.
async fn replay_230() -> TestServer {
    let s = start_keep().await;
    put_fixture(&s, JM_230, "flink-2.3.0/jm.txt").await;
    put_fixture(&s, TM_230, "flink-2.3.0/tm.txt").await;
    s
}

/// The pushed families of a Go gateway scrape, without the `_sum 0` lines the Go gateway
/// invents for summaries pushed without `_sum` (we deliberately do not).
fn go_pushed_part(go: &str) -> String {
    let invented_sums: Vec<String> = go
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" summary"))
        .map(|name| format!("{name}_sum{{"))
        .collect();
    pushed_only(go)
        .lines()
        .filter(|l| {
            !["go_", "# HELP go_", "# TYPE go_"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .filter(|l| !(invented_sums.iter().any(|p| l.starts_with(p.as_str())) && l.ends_with(" 0")))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test]
async fn flink_230_replay_matches_the_go_gateway_scrape_exactly() {
    let s = replay_230().await;
    let want = go_pushed_part(&fixture("realpgw-1.5.1/metrics-after-replay-0009-0010.txt"));
    assert_eq!(
        sample_lines(&want).len(),
        62 + 452,
        "fixture filter is wrong"
    );
    assert_lines_equal(&s.scrape_pushed().await, &want);
}

#[tokio::test]
async fn flink_1203_replay_shows_every_pushed_sample() {
    let s = start().await;
    put_fixture(&s, JM_1203, "flink-1.20.3/jm.txt").await;
    put_fixture(&s, TM_1203, "flink-1.20.3/tm.txt").await;
    let pushed = sample_lines(&fixture("flink-1.20.3/jm.txt")).len()
        + sample_lines(&fixture("flink-1.20.3/tm.txt")).len();
    assert_eq!(sample_lines(&s.scrape_pushed().await).len(), pushed);
}

#[tokio::test]
async fn flink_edge_labels_are_decoded_and_escaped_as_the_go_gateway_does() {
    let s = start().await;
    put_fixture(&s, EDGE, "flink-2.3.0-edge/tm.txt").await;
    let out = s.scrape().await;
    let excerpt = fixture("realpgw-1.5.1/metrics-edge-excerpt.txt");
    for line in excerpt
        .lines()
        .filter(|l| !l.starts_with("push_time_seconds"))
    {
        assert!(out.lines().any(|l| l == line), "missing line:\n{line}");
    }
    let push_time = "push_time_seconds{cluster=\"prod+east\",instance=\"\",job=\"flink+job+ü+x\",pct=\"50%\",site=\"çödé\"} ";
    assert!(out.lines().any(|l| l.starts_with(push_time)), "{out}");
}

#[tokio::test]
async fn flink_delete_of_the_tm_path_removes_only_the_tm_group() {
    let s = replay_230().await;
    s.delete(TM_230).await.expect_status(202);
    let jm_only = start_keep().await;
    put_fixture(&jm_only, JM_230, "flink-2.3.0/jm.txt").await;
    assert_lines_equal(&s.scrape_pushed().await, &jm_only.scrape_pushed().await);
    let store = s.scrape_store().await;
    assert!(
        !store.contains("flinkpgwf451c26a333bf1ebebb2cf061f1cfd74"),
        "TM group left traces"
    );
    assert!(store.contains(
        "push_time_seconds{instance=\"\",job=\"flinkpgw1aad809d7e0ec3094164704a63618361\""
    ));
}
