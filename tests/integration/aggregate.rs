//! `GET /metrics/aggregated`: built-in Flink rollups over the store.

use crate::support::{fixture, start};

const TM: &str = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2";
const TM2: &str = "/metrics/job/flinkpgw0000c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2";

/// Sum of the samples of `family` in `body` whose line contains `filter`.
fn sum_in_fixture(body: &str, family: &str, filter: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(filter))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .expect("value")
                .parse::<f64>()
                .expect("float")
        })
        .sum()
}

fn value_of(out: &str, prefix: &str) -> f64 {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
        .rsplit(' ')
        .next()
        .expect("value")
        .parse()
        .expect("float")
}

#[tokio::test]
async fn record_rates_are_summed_over_subtasks_and_taskmanagers_per_job_and_operator() {
    let s = start().await;
    let family = "flink_taskmanager_job_task_operator_numRecordsOutPerSecond";
    let body = |a: f64, b: f64| {
        format!(
            "# TYPE {family} gauge\n\
             {family}{{job_name=\"wc\",operator_name=\"src\",subtask_index=\"0\",tm_id=\"t\",}} {a}\n\
             {family}{{job_name=\"wc\",operator_name=\"src\",subtask_index=\"1\",tm_id=\"t\",}} {b}\n\
             {family}{{job_name=\"wc\",operator_name=\"sink\",subtask_index=\"0\",tm_id=\"t\",}} 1\n"
        )
    };
    s.put(TM, &body(10.5, 4.5)).await.expect_status(200);
    s.put(TM2, &body(1.0, f64::NAN)).await.expect_status(200);
    let out = s.get("/metrics/aggregated").await.expect_status(200).text();
    let src = "flink_job_operator_records_out_per_second{job=\"flinkpgw\",job_name=\"wc\",operator_name=\"src\"}";
    assert_eq!(value_of(&out, src), 16.0, "10.5 + 4.5 + 1 (NaN skipped)");
    assert_eq!(value_of(&out, &src.replace("\"src\"", "\"sink\"")), 2.0);
    assert!(
        !out.contains("subtask_index") && !out.contains("tm_id"),
        "aggregated away"
    );
    assert!(out.contains("# TYPE flink_job_operator_records_out_per_second gauge\n"));
    // The real Flink fixture's rates are summed the same way.
    let tm = fixture("flink-2.3.0/tm.txt");
    s.put(TM, &tm).await.expect_status(200);
    let want = sum_in_fixture(&tm, family, "operator_name=\"Keyed_Reduce\"");
    let out = s.get("/metrics/aggregated").await.text();
    let key = "flink_job_operator_records_out_per_second{job=\"flinkpgw\",job_name=\"pgw_capture_job\",operator_name=\"Keyed_Reduce\"}";
    assert_eq!(value_of(&out, key), want);
}

#[tokio::test]
async fn latency_quantiles_keep_the_worst_value_per_job_and_quantile() {
    let s = start().await;
    s.put(TM, &fixture("flink-2.3.0/tm.txt"))
        .await
        .expect_status(200);
    let out = s.get("/metrics/aggregated").await.expect_status(200).text();
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("flink_job_latency_max{"))
        .collect();
    assert_eq!(
        lines.len(),
        6,
        "one series per quantile 0.5 .. 0.999:\n{out}"
    );
    assert!(lines
        .iter()
        .all(|l| l.contains("job_name=\"pgw_capture_job\"") && l.contains("quantile=\"")));
}

#[tokio::test]
async fn rollups_follow_the_store_and_an_empty_store_has_none() {
    let s = start().await;
    assert_eq!(
        s.get("/metrics/aggregated").await.expect_status(200).text(),
        ""
    );
    s.put(TM, &fixture("flink-2.3.0/tm.txt"))
        .await
        .expect_status(200);
    let first = s.get("/metrics/aggregated").await.text();
    assert_eq!(
        s.get("/metrics/aggregated").await.text(),
        first,
        "unchanged store, same answer"
    );
    s.delete(TM).await.expect_status(202);
    assert_eq!(s.get("/metrics/aggregated").await.text(), "");
    assert_eq!(
        s.request("POST", "/metrics/aggregated", &[], b"")
            .await
            .status,
        405
    );
}
