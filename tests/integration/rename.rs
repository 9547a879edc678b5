//! Renaming at ingest: the scope delimiter, quoted (UTF-8) names in text and odd protobuf
//! names, the Flink scope presets, rename rules from `--config.file`, the per-name cache, and
//! the config file's start-up errors and `aggregate:` section.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pushgate::config::{Args, ConfigError};
use pushgate::proto::MetricType as T;

use crate::protobuf::{delimited, family, gauge_metric, label, PROTOBUF_CT};
use crate::support::{fixture, sample_lines, start, start_with, TestServer};

/// Writes `text` to a fresh file of this test process and returns its path.
fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pushgate-rename-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config file");
    path
}

/// A server started with a config file holding `text` (removed again once read).
async fn start_with_config(name: &str, text: &str) -> TestServer {
    let path = config_file(name, text);
    let s = start_with(&[&format!("--config.file={}", path.display())]).await;
    std::fs::remove_file(&path).expect("remove the config file");
    s
}

/// A server with `--config.file` set to the fixture `fixtures/config/<name>`.
async fn start_with_fixture(name: &str, extra: &[&str]) -> TestServer {
    let flag = format!(
        "--config.file={}/fixtures/config/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut args = vec![flag.as_str()];
    args.extend_from_slice(extra);
    start_with(&args).await
}

/// The pushed sample lines, sorted.
async fn samples(s: &TestServer) -> Vec<String> {
    let mut lines: Vec<String> = sample_lines(&s.scrape_pushed().await)
        .into_iter()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[track_caller]
fn assert_samples(got: &[String], want: &[&str]) {
    let mut want: Vec<&str> = want.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[tokio::test]
async fn quoted_text_names_are_renamed_at_the_scope_delimiter() {
    let s = start().await;
    let body = "# HELP \"flink.taskmanager.Status.JVM.CPU.Load\" CPU load.\n\
                # TYPE \"flink.taskmanager.Status.JVM.CPU.Load\" gauge\n\
                {\"flink.taskmanager.Status.JVM.CPU.Load\"} 0.5\n\
                {\"my.metric\", \"label.name\"=\"v\"} 1\n\
                m{\"odd label/ü\"=\"x\"} 2\n";
    s.put_ok("/metrics/job/q", body).await;
    assert_samples(
        &samples(&s).await,
        &[
            r#"flink_taskmanager_Status_JVM_CPU_Load{instance="",job="q"} 0.5"#,
            r#"my_metric{instance="",job="q",label_name="v"} 1"#,
            r#"m{instance="",job="q",odd_label__="x"} 2"#,
        ],
    );
    let out = s.scrape().await;
    assert!(out.contains("# HELP flink_taskmanager_Status_JVM_CPU_Load CPU load.\n# TYPE flink_taskmanager_Status_JVM_CPU_Load gauge\n"), "{out}");
}

#[tokio::test]
async fn protobuf_names_outside_the_classic_alphabet_are_renamed() {
    let s = start().await;
    let body = delimited(&[
        family(
            "flink.jobmanager.numRunningJobs",
            T::Gauge,
            "running jobs",
            vec![gauge_metric(vec![label("cluster-name", "prod")], 1.0)],
        ),
        family("1st.metric", T::Gauge, "", vec![gauge_metric(vec![], 2.0)]),
    ]);
    s.request(
        "PUT",
        "/metrics/job/pb",
        &[("Content-Type", PROTOBUF_CT)],
        &body,
    )
    .await
    .expect_status(200);
    assert_samples(
        &samples(&s).await,
        &[
            r#"flink_jobmanager_numRunningJobs{cluster_name="prod",instance="",job="pb"} 1"#,
            r#"_1st_metric{instance="",job="pb"} 2"#,
        ],
    );
}

#[tokio::test]
async fn a_custom_scope_delimiter_is_replaced_even_where_it_is_valid() {
    let s = start_with(&["--flink.scope-delimiter=:"]).await;
    s.put_ok("/metrics/job/c", "a:b 1\n{\"c:d.e\"} 2\n").await;
    assert_samples(
        &samples(&s).await,
        &[
            r#"a_b{instance="",job="c"} 1"#,
            r#"c_d_e{instance="",job="c"} 2"#,
        ],
    );
}

#[tokio::test]
async fn rename_off_refuses_quoted_and_invalid_names_as_the_go_gateway_does() {
    let s = start_with(&["--flink.rename=off"]).await;
    let r = s
        .refused_without_trace("PUT", "/metrics/job/x", "{\"a.b\"} 1\n")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "text format parsing error in line 1: invalid metric name\n"
    );
    let r = s
        .refused_without_trace("PUT", "/metrics/job/x", "a{\"b.c\"=\"1\"} 1\n")
        .await;
    assert_eq!(
        r.text(),
        "text format parsing error in line 1: invalid label name for metric \"a\"\n"
    );
    let body = delimited(&[family("g.x", T::Gauge, "", vec![gauge_metric(vec![], 1.0)])]);
    let r = s
        .request(
            "PUT",
            "/metrics/job/x",
            &[("Content-Type", PROTOBUF_CT)],
            &body,
        )
        .await
        .expect_status(400);
    assert!(
        r.text().contains("invalid metric name \"g.x\""),
        "{}",
        r.text()
    );
    // Classic names are untouched either way.
    s.put_ok("/metrics/job/x", "a 1\n").await;
}

/// Each Flink scope of the default scope formats, as an identifier-based reporter names it.
const SCOPES: &[(&str, &str)] = &[
    (
        "localhost.jobmanager.Status.JVM.CPU.Load",
        r#"flink_jobmanager_Status_JVM_CPU_Load{host="localhost","#,
    ),
    (
        "localhost.jobmanager.numRunningJobs",
        r#"flink_jobmanager_numRunningJobs{host="localhost","#,
    ),
    (
        "localhost.jobmanager.WordCount.numRestarts",
        r#"flink_jobmanager_job_numRestarts{host="localhost",instance="",job="s",job_name="WordCount"}"#,
    ),
    (
        "localhost.jobmanager.WordCount.Source: Kafka.coordinator.enumerator.unassignedSplits",
        r#"flink_jobmanager_job_operator_coordinator_enumerator_unassignedSplits{host="localhost",instance="",job="s",job_name="WordCount",operator_name="Source: Kafka"}"#,
    ),
    (
        "10.0.0.5.taskmanager.10.0.0.5:41234-5d2d0a.Status.JVM.Memory.Heap.Used",
        r#"flink_taskmanager_Status_JVM_Memory_Heap_Used{host="10.0.0.5",instance="",job="s",tm_id="10.0.0.5:41234-5d2d0a"}"#,
    ),
    (
        "localhost.taskmanager.tm-1.WordCount.lastCheckpointSize",
        r#"flink_taskmanager_job_lastCheckpointSize{host="localhost",instance="",job="s",job_name="WordCount",tm_id="tm-1"}"#,
    ),
    (
        "localhost.taskmanager.tm-1.WordCount.Source: Kafka -> Map.1.busyTimeMsPerSecond",
        r#"flink_taskmanager_job_task_busyTimeMsPerSecond{host="localhost",instance="",job="s",job_name="WordCount",subtask_index="1",task_name="Source: Kafka -> Map",tm_id="tm-1"}"#,
    ),
    (
        "hlinkui.taskmanager.1234.wordcount.flatmap.0.numRecordsIn",
        r#"flink_taskmanager_job_task_operator_numRecordsIn{host="hlinkui",instance="",job="s",job_name="wordcount",operator_name="flatmap",subtask_index="0",tm_id="1234"}"#,
    ),
];

#[tokio::test]
async fn the_default_scopes_preset_turns_every_flink_scope_into_labels() {
    let s = start_with_config(
        "presets.yaml",
        "rename:\n  presets: [flink-default-scopes]\n",
    )
    .await;
    let body: String = SCOPES
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("{{\"{name}\"}} {i}\n"))
        .collect();
    s.put_ok("/metrics/job/s", &body).await;
    let got = samples(&s).await;
    for (i, (name, want)) in SCOPES.iter().enumerate() {
        let want_full = if want.ends_with(',') {
            format!("{want}instance=\"\",job=\"s\"}} {i}")
        } else {
            format!("{want} {i}")
        };
        assert!(
            got.contains(&want_full),
            "{name}: want {want_full}\nin {got:#?}"
        );
    }
    assert_eq!(got.len(), SCOPES.len());
}

#[tokio::test]
async fn a_custom_rule_turns_named_captures_into_labels() {
    let s = start_with_fixture("flink.yaml", &[]).await;
    s.put_ok(
        "/metrics/job/flink",
        "{\"hlinkui.taskmanager.1234.wordcount.flatmap.0.numRecordsIn\"} 42\n\
         {\"hlinkui.taskmanager.1234.wordcount.flatmap.1.busyTimeMsPerSecond\"} 7\n",
    )
    .await;
    // The rule comes before the presets, so it also takes what the task preset would have.
    assert_samples(
        &samples(&s).await,
        &[
            r#"flink_taskmanager_job_task_operator_numRecordsIn{host="hlinkui",instance="",job="flink",job_name="wordcount",operator_name="flatmap",subtask_index="0",tm_id="1234"} 42"#,
            r#"flink_taskmanager_job_task_operator_busyTimeMsPerSecond{host="hlinkui",instance="",job="flink",job_name="wordcount",operator_name="flatmap",subtask_index="1",tm_id="1234"} 7"#,
        ],
    );
}

#[tokio::test]
async fn a_shortening_rule_renames_what_flinks_prometheus_reporter_pushes() {
    let s = start_with_fixture("shorten.yaml", &[]).await;
    let plain = start().await;
    let tm = fixture("flink-2.3.0/tm.txt");
    s.put_ok("/metrics/job/tm", &tm).await;
    plain.put_ok("/metrics/job/tm", &tm).await;
    let out = s.scrape_pushed().await;
    assert!(
        !out.contains("flink_taskmanager_job_task_operator_"),
        "{out}"
    );
    assert!(
        out.contains("# TYPE flink_op_capture_myHistogram summary\n"),
        "{out}"
    );
    // Exactly the operator-scope names changed; every series is still there.
    let mut want: Vec<String> = samples(&plain)
        .await
        .into_iter()
        .map(|l| l.replace("flink_taskmanager_job_task_operator_", "flink_op_"))
        .collect();
    want.sort();
    // (The file also appends its rollup to /metrics.)
    let got: Vec<String> = samples(&s)
        .await
        .into_iter()
        .filter(|l| !l.starts_with("flink_op_records_out_per_second{"))
        .collect();
    assert!(got.iter().filter(|l| l.starts_with("flink_op_")).count() > 100);
    let differ: Vec<(&String, &String)> = got.iter().zip(&want).filter(|(a, b)| a != b).collect();
    assert_eq!((got.len(), differ.first()), (want.len(), None));
}

#[tokio::test]
async fn pushed_and_grouping_labels_win_over_captured_labels() {
    let s = start_with_config("win.yaml", "rename:\n  presets: [flink-taskmanager]\n  rules:\n    - match: '^(?P<job>[^.]+)\\.(?P<site>[^.]+)\\.jobmetric$'\n      name: jobmetric\n").await;
    s.put_ok(
        "/metrics/job/g",
        "{\"h.taskmanager.tm1.Status.JVM.CPU.Load\", host=\"pushed-host\"} 1\n\
         {\"captured-job.eu.jobmetric\"} 2\n",
    )
    .await;
    assert_samples(
        &samples(&s).await,
        &[
            r#"flink_taskmanager_Status_JVM_CPU_Load{host="pushed-host",instance="",job="g",tm_id="tm1"} 1"#,
            r#"jobmetric{instance="",job="g",site="eu"} 2"#,
        ],
    );
}

#[tokio::test]
async fn the_rename_cache_answers_a_name_seen_before_the_same_and_distinct_names_apart() {
    let s = start_with_config("cache.yaml", "rename:\n  presets: [flink-default-scopes]\n").await;
    let a = "{\"h.taskmanager.tm-a.Status.JVM.CPU.Load\"} 1\n";
    let b = "{\"h.taskmanager.tm-b.Status.JVM.CPU.Load\", extra=\"x\"} 2\n";
    let want_a =
        r#"flink_taskmanager_Status_JVM_CPU_Load{host="h",instance="",job="a",tm_id="tm-a"} 1"#;
    s.put_ok("/metrics/job/a", a).await;
    assert_samples(&samples(&s).await, &[want_a]);
    // The same name again (now a cache hit) gives the same result.
    s.put_ok("/metrics/job/a", a).await;
    assert_samples(&samples(&s).await, &[want_a]);
    // A different name of the same shape gets its own captures, not the cached ones.
    s.put_ok("/metrics/job/b", b).await;
    assert_samples(
        &samples(&s).await,
        &[
            want_a,
            r#"flink_taskmanager_Status_JVM_CPU_Load{extra="x",host="h",instance="",job="b",tm_id="tm-b"} 2"#,
        ],
    );
    // Both names in one push, cached: one family with both series.
    s.put_ok("/metrics/job/ab", &format!("{a}{b}")).await;
    let got = samples(&s).await;
    assert!(got.contains(&r#"flink_taskmanager_Status_JVM_CPU_Load{extra="x",host="h",instance="",job="ab",tm_id="tm-b"} 2"#.to_owned()), "{got:#?}");
    assert!(got.contains(&r#"flink_taskmanager_Status_JVM_CPU_Load{host="h",instance="",job="ab",tm_id="tm-a"} 1"#.to_owned()), "{got:#?}");
}

#[tokio::test]
async fn families_renamed_to_one_name_are_merged_unless_their_types_differ() {
    let s = start_with_config("merge.yaml", "rename:\n  presets: [flink-default-scopes]\n").await;
    s.put_ok(
        "/metrics/job/jm",
        "# TYPE \"h.jobmanager.wc.numRestarts\" gauge\n{\"h.jobmanager.wc.numRestarts\"} 1\n\
         # TYPE \"h.jobmanager.etl.numRestarts\" gauge\n{\"h.jobmanager.etl.numRestarts\"} 2\n",
    )
    .await;
    assert_samples(
        &samples(&s).await,
        &[
            r#"flink_jobmanager_job_numRestarts{host="h",instance="",job="jm",job_name="etl"} 2"#,
            r#"flink_jobmanager_job_numRestarts{host="h",instance="",job="jm",job_name="wc"} 1"#,
        ],
    );
    let r = s
        .refused(
            "PUT",
            "/metrics/job/jm",
            "# TYPE a_b counter\na_b 1\n# TYPE \"a.b\" gauge\n{\"a.b\"} 2\n",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "pushed metrics are invalid once renamed: metrics \"a_b\" (counter) and \"a.b\" (gauge) are both renamed to \"a_b\", but their types differ\n"
    );
}

/// The error of starting with `--config.file` holding `text` (and `extra` flags).
fn start_up_error(name: &str, text: &str, extra: &[&str]) -> (PathBuf, String) {
    let path = config_file(name, text);
    let flag = format!("--config.file={}", path.display());
    let mut args = vec!["pushgate", flag.as_str()];
    args.extend_from_slice(extra);
    let err = <Args as clap::Parser>::try_parse_from(args)
        .expect("flags parse")
        .validate()
        .expect_err("the config file is unusable");
    assert!(matches!(err, ConfigError::File(_)), "{err:?}");
    std::fs::remove_file(&path).expect("remove the config file");
    (path, err.to_string())
}

#[test]
fn bad_config_files_are_start_up_errors_that_name_the_file() {
    let cases: &[(&str, &str, &[&str], &str)] = &[
        (
            "yaml.yaml",
            "aggregate:\n  defaults: true\n\trules: []\n",
            &[],
            "at line 3 column 1",
        ),
        (
            "shape.yaml",
            "rename: [flink-default-scopes]\n",
            &[],
            "rename: invalid type: sequence, expected struct RenameSpec at line 1 column 9",
        ),
        (
            "unknown.yaml",
            "rename:\n  presets: []\n  rulez: []\n",
            &[],
            "rename: unknown field `rulez`, expected one of `scope_delimiter`, `presets`, `rules` at line 3 column 3",
        ),
        (
            "preset.yaml",
            "rename:\n  presets: [flink-everything]\n",
            &[],
            "unknown variant `flink-everything`",
        ),
        (
            "regex.yaml",
            "rename:\n  rules:\n    - match: '(unclosed'\n      name: x\n",
            &[],
            "rename.rules[0]: invalid match regex",
        ),
        (
            "template.yaml",
            "rename:\n  rules:\n    - match: '^(?P<m>.+)$'\n      name: 'flink op ${m}'\n",
            &[],
            "rename.rules[0]: invalid name template \"flink op ${m}\": ' ' is not valid in a metric name",
        ),
        (
            "capture.yaml",
            "rename:\n  rules:\n    - match: '^(?P<m>.+)$'\n      name: 'x_${n}'\n",
            &[],
            "the match regex has no capture group \"n\"",
        ),
        (
            "delimiter.yaml",
            "rename:\n  scope_delimiter: '::'\n",
            &[],
            "rename.invalid scope_delimiter \"::\"",
        ),
        (
            "off.yaml",
            "rename:\n  presets: [flink-default-scopes]\n",
            &["--flink.rename=off"],
            "rename rules and presets need --flink.rename=on",
        ),
        (
            "aggregate.yaml",
            "aggregate:\n  rules:\n    - {name: x, match: '(', function: sum}\n",
            &[],
            "aggregate: rollup rule \"x\": invalid match regex",
        ),
        (
            "function.yaml",
            "aggregate:\n  rules:\n    - {name: x, match: 'y', function: median}\n",
            &[],
            "unknown variant `median`",
        ),
    ];
    for (name, text, extra, want) in cases {
        let (path, err) = start_up_error(name, text, extra);
        let prefix = format!("config file {}: ", path.display());
        assert!(err.starts_with(&prefix), "{name}: {err}");
        assert!(err.contains(want), "{name}: want {want:?} in {err}");
    }
    let missing = std::env::temp_dir().join("pushgate-rename-no-such-file.yaml");
    let err = <Args as clap::Parser>::try_parse_from([
        "pushgate".to_owned(),
        format!("--config.file={}", missing.display()),
    ])
    .expect("flags parse")
    .validate()
    .expect_err("missing file");
    assert!(
        err.to_string().starts_with(&format!(
            "config file {}: cannot be read",
            missing.display()
        )),
        "{err}"
    );
    let err = <Args as clap::Parser>::try_parse_from(["pushgate", "--flink.scope-delimiter=ab"])
        .expect("flags parse")
        .validate()
        .expect_err("bad delimiter");
    assert!(matches!(err, ConfigError::ScopeDelimiter(_)), "{err}");
}

#[test]
fn the_binary_refuses_to_start_with_a_bad_config_file() {
    let path = config_file("binary.yaml", "rename:\n  rules:\n    - mtch: x\n");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!("--config.file={}", path.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("pushgate kept running with a bad config file");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped stderr"), &mut stderr)
        .expect("read stderr");
    std::fs::remove_file(&path).expect("remove the config file");
    assert!(!status.success());
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("unknown field `mtch`"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn the_config_files_aggregate_section_drives_metrics_aggregated() {
    let s = start_with_fixture("shorten.yaml", &[]).await;
    let body = |a: f64, b: f64| {
        format!(
            "# TYPE flink_taskmanager_job_task_operator_numRecordsOutPerSecond gauge\n\
             flink_taskmanager_job_task_operator_numRecordsOutPerSecond{{job_name=\"wc\",operator_name=\"src\",subtask_index=\"0\"}} {a}\n\
             flink_taskmanager_job_task_operator_numRecordsOutPerSecond{{job_name=\"wc\",operator_name=\"src\",subtask_index=\"1\"}} {b}\n\
             # TYPE flink_taskmanager_job_task_busyTimeMsPerSecond gauge\n\
             flink_taskmanager_job_task_busyTimeMsPerSecond{{job_name=\"wc\",task_name=\"src\",subtask_index=\"0\"}} 900\n"
        )
    };
    s.put_ok("/metrics/job/tm1", &body(1.5, 2.0)).await;
    s.put_ok("/metrics/job/tm2", &body(10.0, 0.5)).await;
    let aggregated = s.get("/metrics/aggregated").await.expect_status(200).text();
    assert!(
        aggregated.contains(
            "flink_op_records_out_per_second{job_name=\"wc\",operator_name=\"src\"} 14\n"
        ),
        "{aggregated}"
    );
    // `defaults: false`: no built-in rollup, although a busy-time series is stored.
    assert!(!aggregated.contains("busy_time"), "{aggregated}");
    assert_eq!(sample_lines(&aggregated).len(), 1, "{aggregated}");
    // `append_to_metrics: true`: the rollup is on /metrics too.
    let out = s.scrape().await;
    assert!(
        out.contains("flink_op_records_out_per_second{job_name=\"wc\",operator_name=\"src\"} 14\n"),
        "{out}"
    );
}

#[tokio::test]
async fn the_config_files_rollups_run_alongside_the_built_in_ones() {
    let s = start_with_fixture("flink.yaml", &[]).await;
    s.put_ok(
        "/metrics/job/tm",
        "# TYPE flink_taskmanager_job_task_operator_numRecordsInPerSecond gauge\n\
         flink_taskmanager_job_task_operator_numRecordsInPerSecond{job_name=\"wc\",operator_name=\"a\",subtask_index=\"0\"} 3\n\
         flink_taskmanager_job_task_operator_numRecordsInPerSecond{job_name=\"wc\",operator_name=\"b\",subtask_index=\"0\"} 4\n",
    )
    .await;
    let aggregated = s.get("/metrics/aggregated").await.expect_status(200).text();
    // The file's rule (summed over operators) and the built-in one (per operator) both run.
    assert!(
        aggregated.contains("flink_job_records_in_per_second{job=\"tm\",job_name=\"wc\"} 7\n"),
        "{aggregated}"
    );
    assert!(
        aggregated.contains("flink_job_operator_records_in_per_second{job=\"tm\",job_name=\"wc\",operator_name=\"a\"} 3\n"),
        "{aggregated}"
    );
    assert!(!s.scrape().await.contains("flink_job_records_in_per_second"));
}
