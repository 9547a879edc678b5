//! Flink health signals (`flink::signals`): real pushes over sockets, evaluations at chosen
//! times, answers read from `/api/v1/flink/jobs`, `/metrics` and `/metrics/aggregated`.
//!
//! Bodies come from `fixtures/flink-signals/` (Flink's reporter format, a Kafka source
//! vertex and a keyed window vertex, placeholders for values) and from the real captures.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::support::{fixture, start_with, TestServer};

const SRC: &str = "bc764cd8ddf7a0cff126f51c16239658";
const WIN: &str = "0a448493b4782967b150582570326227";
const JOB_ID: &str = "5e0a1b2c3d4e5f60718293a4b5c6d7e8";

/// Flags that keep the evaluation timer out of the way: tests evaluate themselves.
const QUIET: &str = "--flink.signals.interval=1h";

/// Shares of a subtask's time: busy, idle, back-pressured (they add up to 1).
#[derive(Clone, Copy)]
struct Share(f64, f64, f64);

const BUSY: Share = Share(0.95, 0.05, 0.0);
const BACKPRESSURED: Share = Share(0.05, 0.15, 0.8);
const IDLE: Share = Share(0.01, 0.99, 0.0);

/// One simulated TaskManager holding subtask `sub` of both vertices; its counters advance
/// by 10 s of the given shares per push.
struct Tm {
    path: String,
    tm: String,
    sub: u32,
    attempt: u32,
    acc: [[f64; 3]; 2],
}

impl Tm {
    fn new(n: u32, sub: u32) -> Tm {
        Tm {
            path: format!("/metrics/job/flinkpgw{n:032x}/k1/v1"),
            tm: format!("localhost:4{n:04}_abc{n}"),
            sub,
            attempt: 0,
            acc: [[0.0; 3]; 2],
        }
    }

    /// The next push body: `src` and `win` shares over the last 10 s, `rate` records/s read
    /// by the source and taken in by the window, optional `pendingRecords`.
    fn body(&mut self, src: Share, win: Share, rate: f64, pending: Option<f64>) -> String {
        let mut v: BTreeMap<String, String> = BTreeMap::new();
        for (i, (p, s)) in [("src", src), ("win", win)].into_iter().enumerate() {
            let shares = [s.0, s.1, s.2];
            for (k, name) in ["acc_busy", "acc_idle", "acc_bp"].iter().enumerate() {
                self.acc[i][k] += shares[k] * 10_000.0;
                v.insert(format!("{p}_{name}"), format!("{:.1}", self.acc[i][k]));
            }
            for (k, name) in ["busy", "idle", "bp"].iter().enumerate() {
                v.insert(format!("{p}_{name}"), format!("{:.1}", shares[k] * 1000.0));
            }
            v.insert(format!("{p}_attempt"), self.attempt.to_string());
        }
        let half = rate / 2.0;
        for (k, val) in [
            ("src_in", 0.0),
            ("src_out", half),
            ("src_op_in", 0.0),
            ("src_op_out", half),
            ("win_in", half),
            ("win_out", 0.0),
        ] {
            v.insert(k.into(), format!("{val:.1}"));
        }
        v.insert("tm".into(), self.tm.clone());
        v.insert("sub".into(), self.sub.to_string());
        v.insert("job_id".into(), JOB_ID.into());
        v.insert("job_name".into(), "orders".into());
        v.insert("attempt_id".into(), "77aa".into());
        v.insert("heap_used".into(), "2.68435456E8".into());
        let mut body = fill(&fixture("flink-signals/tm-kafka.txt"), &v);
        if let Some(p) = pending {
            v.insert("src_pending".into(), format!("{p:.1}"));
            body.push_str(&fill(&fixture("flink-signals/tm-kafka-pending.txt"), &v));
        }
        body
    }

    /// Resets the counters and raises the attempt (a restarted subtask).
    fn restart(&mut self) {
        self.attempt += 1;
        self.acc = [[0.0; 3]; 2];
    }
}

/// Replaces every `${name}` in `template`.
fn fill(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = template.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    assert!(!out.contains("${"), "unfilled placeholder in {out}");
    out
}

fn jm_body(restarts: f64, checkpoint_id: f64) -> String {
    let v: BTreeMap<String, String> = [
        ("slots_total", "4.0".to_owned()),
        ("slots_available", "2.0".to_owned()),
        ("job_id", JOB_ID.to_owned()),
        ("job_name", "orders".to_owned()),
        ("restarts", format!("{restarts:.1}")),
        ("checkpoint_id", format!("{checkpoint_id:.1}")),
        ("failed", "1.0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    fill(&fixture("flink-signals/jm.txt"), &v)
}

const JM_PATH: &str = "/metrics/job/flinkpgwffffffffffffffffffffffffffffffff/k1/v1";

async fn server(extra: &[&str]) -> TestServer {
    let mut flags = vec![QUIET];
    flags.extend_from_slice(extra);
    start_with(&flags).await
}

/// Evaluates at `offset` seconds from now and returns `/api/v1/flink/jobs`.
async fn evaluate(s: &TestServer, offset: f64) -> Json {
    evaluate_at(s, pushgate::store::now_seconds() + offset).await
}

/// Evaluates at `at` (Unix seconds) and returns `/api/v1/flink/jobs`.
async fn evaluate_at(s: &TestServer, at: f64) -> Json {
    let state = s.server.state();
    let _ = state.signals.evaluate(&state.store, at);
    jobs(s).await
}

async fn jobs(s: &TestServer) -> Json {
    let r = s.get("/api/v1/flink/jobs").await.expect_status(200);
    serde_json::from_slice(&r.body).expect("the jobs document is JSON")
}

fn job<'a>(doc: &'a Json, job_id: &str) -> &'a Json {
    doc["data"]["jobs"]
        .as_array()
        .expect("a jobs array")
        .iter()
        .find(|j| j["job_id"] == job_id)
        .unwrap_or_else(|| panic!("job {job_id} in {doc}"))
}

fn vertex<'a>(job: &'a Json, task_id: &str) -> &'a Json {
    job["vertices"]
        .as_array()
        .expect("a vertices array")
        .iter()
        .find(|v| v["task_id"] == task_id)
        .unwrap_or_else(|| panic!("vertex {task_id} in {job}"))
}

fn f(v: &Json) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number, got {v}"))
}

#[track_caller]
fn close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-6, "got {got}, want {want}");
}

/// Two TaskManagers push `n` times with the window busy and the source back-pressured.
async fn backpressured_job(s: &TestServer, n: usize) -> (Tm, Tm) {
    let (mut a, mut b) = (Tm::new(1, 0), Tm::new(2, 1));
    s.put_ok(JM_PATH, &jm_body(0.0, 3.0)).await;
    for _ in 0..n {
        let body = a.body(BACKPRESSURED, BUSY, 1000.0, None);
        s.put_ok(&a.path, &body).await;
        let body = b.body(BACKPRESSURED, BUSY, 1000.0, None);
        s.put_ok(&b.path, &body).await;
    }
    (a, b)
}

#[tokio::test]
async fn a_busy_keyed_vertex_behind_a_backpressured_source_is_the_bottleneck() {
    let s = server(&["--flink.signals.hysteresis=1"]).await;
    backpressured_job(&s, 2).await;
    let doc = evaluate(&s, 0.0).await;
    assert_eq!(doc["status"], "success");
    let j = job(&doc, JOB_ID);
    assert_eq!(j["job_name"], "orders");
    assert_eq!(j["backpressure_level"], "HIGH");
    assert_eq!(j["bottleneck"]["task_id"], WIN);
    let (src, win) = (vertex(j, SRC), vertex(j, WIN));
    assert_eq!(src["backpressure_level"], "HIGH");
    assert_eq!(src["bottleneck"], false);
    close(f(&src["backpressure_ratio"]), 0.8);
    assert_eq!(win["backpressure_level"], "OK");
    assert_eq!(win["bottleneck"], true);
    assert_eq!(win["parallelism"], 2);
    close(f(&win["busy_ratio"]), 0.95);
    close(f(&win["true_processing_rate"]), 1000.0 / 0.95);
    // 0.95 * (1/0.7 + 1/6) * 2 = 3.03 -> 4, a divisor of 128.
    assert_eq!(win["suggested_parallelism"], 4);
    assert!(f(&win["suggested_parallelism"]) > f(&win["parallelism"]));
    let c = &doc["data"]["clusters"][0];
    assert_eq!((f(&c["slots_total"]), f(&c["slots_used"])), (4.0, 2.0));
    assert_eq!(
        doc["data"]["taskmanagers"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn signal_series_carry_help_and_the_cluster_labels_on_both_endpoints() {
    let s = server(&["--flink.signals.hysteresis=1"]).await;
    backpressured_job(&s, 2).await;
    let _ = evaluate(&s, 0.0).await;
    let labels = format!(
        "{{job=\"flinkpgw\",job_id=\"{JOB_ID}\",job_name=\"orders\",k1=\"v1\",task_id=\"{WIN}\",task_name=\"Window_TumblingEventTimeWindows____Sink:_Print_to_Std__Out\"}}"
    );
    for path in ["/metrics", "/metrics/aggregated"] {
        let text = s.get(path).await.expect_status(200).text();
        assert!(
            text.contains("# HELP pushgate_flink_vertex_busy_ratio Max over subtasks"),
            "{path}"
        );
        for (name, want) in [
            ("pushgate_flink_vertex_bottleneck", "1"),
            ("pushgate_flink_vertex_parallelism", "2"),
            ("pushgate_flink_vertex_suggested_parallelism", "4"),
            ("pushgate_flink_vertex_backpressure_level", "0"),
        ] {
            let line = format!("{name}{labels} {want}");
            assert!(text.contains(&line), "{path}: no {line:?} in\n{text}");
        }
        assert!(text
            .contains("pushgate_flink_cluster_slot_utilization{job=\"flinkpgw\",k1=\"v1\"} 0.5"));
    }
}

#[tokio::test]
async fn one_subtask_carrying_the_load_is_flagged_as_hot() {
    let s = server(&["--flink.signals.hysteresis=1"]).await;
    let (mut a, mut b) = (Tm::new(1, 0), Tm::new(2, 1));
    let body = a.body(BACKPRESSURED, IDLE, 1000.0, None);
    s.put_ok(&a.path, &body).await;
    let body = b.body(BACKPRESSURED, BUSY, 1000.0, None);
    s.put_ok(&b.path, &body).await;
    let doc = evaluate(&s, 0.0).await;
    let j = job(&doc, JOB_ID);
    assert_eq!(j["bottleneck"]["task_id"], WIN);
    assert_eq!(j["bottleneck"]["hot_subtask"], 1);
    assert_eq!(vertex(j, WIN)["hot_subtask"], 1);
    close(f(&vertex(j, WIN)["busy_ratio_avg"]), 0.48);
    let text = s.get("/metrics").await.text();
    let skewed = format!("pushgate_flink_vertex_skewed{{job=\"flinkpgw\",job_id=\"{JOB_ID}\",job_name=\"orders\",k1=\"v1\",task_id=\"{WIN}\"");
    let line = text
        .lines()
        .find(|l| l.starts_with(&skewed))
        .expect("a skew series");
    assert!(line.ends_with(" 1"), "{line}");
}

#[tokio::test]
async fn backpressure_without_a_busy_candidate_points_at_the_network() {
    let s = server(&["--flink.signals.hysteresis=1"]).await;
    let mut a = Tm::new(1, 0);
    // Both vertices wait for output buffers: no vertex explains it.
    let body = a.body(BACKPRESSURED, Share(0.1, 0.2, 0.7), 1000.0, None);
    s.put_ok(&a.path, &body).await;
    let doc = evaluate(&s, 0.0).await;
    let j = job(&doc, JOB_ID);
    assert_eq!(j["backpressure_level"], "HIGH");
    assert_eq!(j["bottleneck"], Json::Null);
    assert_eq!(j["network_bottleneck_suspected"], true);
}

#[tokio::test]
async fn kafka_source_lag_in_records_seconds_and_trend() {
    let s = server(&[]).await;
    let (mut a, mut b) = (Tm::new(1, 0), Tm::new(2, 1));
    let t0 = pushgate::store::now_seconds();
    for (pending, offset) in [(5000.0, 0.0), (6000.0, 20.0)] {
        let body = a.body(IDLE, IDLE, 500.0, Some(pending));
        s.put_ok(&a.path, &body).await;
        let body = b.body(IDLE, IDLE, 500.0, Some(pending));
        s.put_ok(&b.path, &body).await;
        let _ = evaluate_at(&s, t0 + offset).await;
    }
    let doc = jobs(&s).await;
    let src = &vertex(job(&doc, JOB_ID), SRC)["source"];
    close(f(&src["lag_records"]), 12000.0);
    close(f(&src["consume_rate"]), 500.0);
    close(f(&src["lag_seconds"]), 24.0);
    // 10000 -> 12000 records in 20 s of evaluations.
    close(f(&src["lag_growth_rate"]), 100.0);
    assert_eq!(
        src["catch_up_seconds"],
        Json::Null,
        "growing lag never catches up"
    );
    let text = s.get("/metrics").await.text();
    assert!(text.contains("pushgate_flink_source_lag_seconds{"));
    assert!(text.contains("pushgate_flink_source_catch_up_seconds{") && text.contains("} +Inf"));
    assert_eq!(vertex(job(&doc, JOB_ID), WIN)["source"], Json::Null);
}

#[tokio::test]
async fn a_source_without_pending_records_has_unknown_lag_not_zero() {
    let s = server(&[]).await;
    let mut a = Tm::new(1, 0);
    let body = a.body(IDLE, IDLE, 500.0, None);
    s.put_ok(&a.path, &body).await;
    let doc = evaluate(&s, 0.0).await;
    let src = &vertex(job(&doc, JOB_ID), SRC)["source"];
    assert_eq!(src["lag_records"], Json::Null);
    assert_eq!(src["lag_seconds"], Json::Null);
    close(f(&src["consume_rate"]), 250.0);
    let text = s.get("/metrics").await.text();
    assert!(
        !text.contains("pushgate_flink_source_lag_records"),
        "{text}"
    );
    assert!(!text.contains("pushgate_flink_source_lag_seconds"));
    assert!(text.contains("pushgate_flink_source_consume_rate{"));
}

#[tokio::test]
async fn the_newest_attempt_of_a_restarted_subtask_wins() {
    let s = server(&[]).await;
    let (mut a, mut c) = (Tm::new(1, 0), Tm::new(3, 0));
    let body = a.body(IDLE, BUSY, 100.0, None);
    s.put_ok(&a.path, &body).await;
    // Subtask 0 restarted on another TaskManager; the old one still pushes its last view.
    c.restart();
    let body = c.body(IDLE, Share(0.2, 0.8, 0.0), 100.0, None);
    s.put_ok(&c.path, &body).await;
    let body = a.body(IDLE, BUSY, 100.0, None);
    s.put_ok(&a.path, &body).await;
    let doc = evaluate(&s, 0.0).await;
    let win = vertex(job(&doc, JOB_ID), WIN);
    assert_eq!(win["parallelism"], 1);
    close(f(&win["busy_ratio"]), 0.2);
}

#[tokio::test]
async fn a_dead_taskmanagers_subtasks_drop_out() {
    let s = server(&[]).await;
    let (mut a, mut b) = (Tm::new(1, 0), Tm::new(2, 1));
    let body = a.body(IDLE, BUSY, 100.0, None);
    s.put_ok(&a.path, &body).await;
    // A gap the store can see between the two processes' last pushes.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let body = b.body(IDLE, Share(0.3, 0.7, 0.0), 100.0, None);
    s.put_ok(&b.path, &body).await;
    let win = |doc: &Json| vertex(job(doc, JOB_ID), WIN).clone();
    let doc = evaluate(&s, 0.0).await;
    assert_eq!(win(&doc)["parallelism"], 2);
    // 29.9 s after B's push: B is within 3 intervals (10 s assumed), A (1.2 s older) is not.
    let state = s.server.state();
    let key =
        pushgate::flink::grouping_key(&b.path["/metrics/".len()..], None, &state.config.flink)
            .expect("a valid path");
    let last = state.store.group(&key).expect("B's group").times.success;
    let _ = state.signals.evaluate(&state.store, last + 29.9);
    let doc = jobs(&s).await;
    assert_eq!(win(&doc)["parallelism"], 1);
    close(f(&win(&doc)["busy_ratio"]), 0.3);
    // A DELETE (clean shutdown) takes B's subtasks out at once, and the state with them.
    s.delete(&b.path).await.expect_status(202);
    s.delete(&a.path).await.expect_status(202);
    let doc = evaluate(&s, 0.0).await;
    assert_eq!(doc["data"]["jobs"].as_array().map(Vec::len), Some(0));
    assert_eq!(state.signals.tracked(), (0, 0));
}

#[tokio::test]
async fn expired_groups_leave_no_signal_state() {
    let s = server(&["--push.group-ttl=1m"]).await;
    backpressured_job(&s, 1).await;
    let state = s.server.state();
    assert_eq!(state.signals.tracked(), (4, 3));
    let removed =
        pushgate::flink::expiry::expire_now(state, pushgate::store::now_seconds() + 120.0);
    assert_eq!(removed, 3);
    let doc = evaluate(&s, 120.0).await;
    assert_eq!(doc["data"]["jobs"].as_array().map(Vec::len), Some(0));
    assert_eq!(state.signals.tracked(), (0, 0));
}

#[tokio::test]
async fn the_startup_busy_gauge_is_not_taken_for_load() {
    // Real 2.3.0 push a few seconds after start: busyTimeMsPerSecond = 1000 on every
    // subtask, while the counters say the tasks were mostly idle.
    let s = server(&[]).await;
    let path = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2";
    s.put_ok(path, &fixture("flink-2.3.0/tm.txt")).await;
    let doc = evaluate(&s, 0.0).await;
    let j = job(&doc, "20ec600b74941d944c1811e9d462b174");
    for v in j["vertices"].as_array().expect("vertices") {
        assert!(f(&v["busy_ratio"]) < 0.2, "{v}");
        assert_eq!(v["backpressure_level"], "OK");
    }
    assert_eq!(j["bottleneck"], Json::Null);
}

#[tokio::test]
async fn real_1_20_3_and_2_3_0_pushes_give_the_same_signals() {
    for (version, job_id, has_timestamp) in [
        ("1.20.3", "9de79d1c7b78832e9810825a2b5af2e2", false),
        ("2.3.0", "20ec600b74941d944c1811e9d462b174", true),
    ] {
        let s = server(&[]).await;
        let tm = format!("/metrics/job/flinkpgw{:032x}/k1/v1/k2/v2", 7);
        let jm = format!("/metrics/job/flinkpgw{:032x}/k1/v1/k2/v2", 8);
        s.put_ok(&tm, &fixture(&format!("flink-{version}/tm.txt")))
            .await;
        s.put_ok(&jm, &fixture(&format!("flink-{version}/jm.txt")))
            .await;
        let doc = evaluate(&s, 0.0).await;
        let j = job(&doc, job_id);
        assert_eq!(j["job_name"], "pgw_capture_job", "{version}");
        let names: Vec<&str> = j["vertices"]
            .as_array()
            .expect("vertices")
            .iter()
            .map(|v| v["task_name"].as_str().expect("a name"))
            .collect();
        assert_eq!(
            names,
            [
                "Keyed_Reduce____Discard_Sink:_Writer",
                "Source:_Seq_Source____Instrumented_Map"
            ],
            "{version}"
        );
        for v in j["vertices"].as_array().expect("vertices") {
            assert_eq!(v["parallelism"], 2, "{version}");
        }
        let src = &vertex(j, "cbc357ccb763df2852fee8c4fc7d55f2")["source"];
        assert_eq!(
            src["lag_records"],
            Json::Null,
            "{version}: DataGen has no pendingRecords"
        );
        assert_eq!(f(&j["restarts_10m"]), 0.0, "{version}");
        assert!(j["checkpoint_age_seconds"].is_number(), "{version}");
        if has_timestamp {
            assert!(f(&j["checkpoint_age_seconds"]) > 0.0);
        }
        let c = &doc["data"]["clusters"][0];
        assert_eq!(
            (f(&c["slots_total"]), f(&c["slots_used"])),
            (2.0, 2.0),
            "{version}"
        );
        let t = &doc["data"]["taskmanagers"][0];
        assert!(
            f(&t["heap_ratio"]) > 0.0 && f(&t["heap_ratio"]) < 1.0,
            "{version}"
        );
    }
}

#[tokio::test]
async fn the_bottleneck_changes_only_after_consecutive_evaluations_agree() {
    let s = server(&[]).await;
    let (mut a, mut b) = (Tm::new(1, 0), Tm::new(2, 1));
    let mut step = |src: Share, win: Share| {
        [
            (a.path.clone(), a.body(src, win, 1000.0, None)),
            (b.path.clone(), b.body(src, win, 1000.0, None)),
        ]
    };
    let mut shown = Vec::new();
    let t0 = pushgate::store::now_seconds();
    // Three evaluations with the window as bottleneck, then one where the source looks
    // busiest (a blip), then back.
    let plan = [
        (BACKPRESSURED, BUSY),
        (BACKPRESSURED, BUSY),
        (BACKPRESSURED, BUSY),
        (Share(0.9, 0.1, 0.0), Share(0.5, 0.0, 0.5)),
        (BACKPRESSURED, BUSY),
    ];
    for (i, (src, win)) in plan.into_iter().enumerate() {
        for (path, body) in step(src, win) {
            s.put_ok(&path, &body).await;
        }
        let doc = evaluate_at(&s, t0 + 5.0 * i as f64).await;
        shown.push(
            job(&doc, JOB_ID)["bottleneck"]["task_id"]
                .as_str()
                .map(str::to_owned),
        );
    }
    let win = Some(WIN.to_owned());
    assert_eq!(shown, [None, None, win.clone(), win.clone(), win]);
}

#[tokio::test]
async fn restarts_in_the_last_ten_minutes_count_jobmanager_restarts() {
    let s = server(&[]).await;
    let t0 = pushgate::store::now_seconds();
    for (restarts, offset) in [(2.0, 0.0), (3.0, 10.0), (5.0, 20.0)] {
        s.put_ok(JM_PATH, &jm_body(restarts, 4.0)).await;
        let _ = evaluate_at(&s, t0 + offset).await;
    }
    let doc = jobs(&s).await;
    let j = job(&doc, JOB_ID);
    close(f(&j["restarts_10m"]), 3.0);
    // The checkpoint id (4) has not changed since the first evaluation 20 s ago.
    close(f(&j["checkpoint_age_seconds"]), 20.0);
    close(f(&j["failed_checkpoints"]), 1.0);
}

#[tokio::test]
async fn checkpoint_age_comes_from_the_2x_completion_timestamp() {
    let s = server(&[]).await;
    let t0 = pushgate::store::now_seconds();
    let v: BTreeMap<String, String> = [
        ("job_id", JOB_ID.to_owned()),
        ("job_name", "orders".to_owned()),
        ("checkpoint_ms", format!("{:.1}", (t0 - 100.0) * 1000.0)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let body =
        jm_body(0.0, 7.0) + &fill(&fixture("flink-signals/jm-2.3.0-checkpoint-time.txt"), &v);
    s.put_ok(JM_PATH, &body).await;
    let doc = evaluate_at(&s, t0 + 20.0).await;
    // The timestamp wins over the id (whose change would date the checkpoint to now).
    let age = f(&job(&doc, JOB_ID)["checkpoint_age_seconds"]);
    assert!((age - 120.0).abs() < 0.01, "{age}");
}

#[tokio::test]
async fn signals_are_off_in_the_go_compatible_mode() {
    let s = server(&[
        "--flink.job-suffix=keep",
        "--flink.path-decoding=off",
        "--flink.rename=off",
    ])
    .await;
    backpressured_job(&s, 2).await;
    let doc = evaluate(&s, 0.0).await;
    assert_eq!(doc["data"]["jobs"].as_array().map(Vec::len), Some(0));
    assert!(!s.get("/metrics").await.text().contains("pushgate_flink_"));
    assert_eq!(s.server.state().signals.tracked(), (0, 0));
    // ... and can be turned on there explicitly.
    let s = server(&[
        "--flink.job-suffix=keep",
        "--flink.path-decoding=off",
        "--flink.rename=off",
        "--flink.signals=on",
    ])
    .await;
    backpressured_job(&s, 1).await;
    let doc = evaluate(&s, 0.0).await;
    assert_eq!(doc["data"]["jobs"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_jobs_endpoint_answers_get_only() {
    let s = server(&[]).await;
    s.request("POST", "/api/v1/flink/jobs", &[], b"")
        .await
        .expect_status(405);
    let r = s.get("/api/v1/flink/jobs").await.expect_status(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Json = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(
        doc["data"]["jobs"],
        Json::Array(Vec::new()),
        "nothing pushed yet"
    );
}

#[tokio::test]
async fn a_bad_signal_flag_is_refused_at_start() {
    for flag in [
        "--flink.signals.target-utilization=0",
        "--flink.signals.target-utilization=1.5",
        "--flink.signals.key-groups=0",
        "--flink.signals.interval=0s",
    ] {
        let args = ["pushgate", flag];
        let parsed = <pushgate::config::Args as clap::Parser>::parse_from(args).validate();
        assert!(parsed.is_err(), "{flag} accepted");
    }
}

#[tokio::test]
async fn the_flink_view_shows_each_jobs_health_in_words_and_colours() {
    let s = server(&["--flink.signals.hysteresis=1"]).await;
    let (mut a, _) = backpressured_job(&s, 2).await;
    let body = a.body(BACKPRESSURED, BUSY, 1000.0, Some(3000.0));
    s.put_ok(&a.path, &body).await;
    let _ = evaluate(&s, 0.0).await;
    let page = s.get("/?view=flink").await.expect_status(200).text();
    assert!(
        page.contains(&format!("<div class=\"health\" data-job-id=\"{JOB_ID}\">")),
        "{page}"
    );
    assert!(page.contains("Bottleneck: <b class=\"bottleneck-name\">Window_TumblingEventTimeWindows____Sink:_Print_to_Std__Out</b>"));
    assert!(page.contains("suggested parallelism <b>4</b> (now 2)"));
    assert!(page.contains("lag <b>3,000</b> records"), "{page}");
    // Busy 0.95, not back-pressured: nearly Flink's red; back-pressured 0.8: nearly grey.
    assert!(
        page.contains(
            "<div class=\"vertex bottleneck\" data-fill=\"#e7686c\" data-border=\"#e3282d\""
        ),
        "{page}"
    );
    assert!(
        page.contains("data-fill=\"#818f9e\" data-border=\"#071c31\""),
        "{page}"
    );
}
