//! Persistence: the store survives a restart; corrupt files stop start-up or are moved aside.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{fixture, start_with, without_own};

const TM_PATH: &str = "/metrics/job/flinkpgwf451c26a333bf1ebebb2cf061f1cfd74/k1/v1/k2/v2";
const JM_PATH: &str = "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2";

/// A fresh, empty directory for one test.
fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pushgate-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn flags(file: &std::path::Path, extra: &str) -> Vec<String> {
    let interval = if extra.starts_with("--persistence.interval") {
        extra
    } else {
        "--persistence.interval=1h"
    };
    vec![
        format!("--persistence.file={}", file.display()),
        interval.to_owned(),
        extra.to_owned(),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<std::collections::BTreeSet<_>>()
    .into_iter()
    .collect()
}

async fn start_persisting(file: &std::path::Path, extra: &str) -> crate::support::TestServer {
    let f = flags(file, extra);
    let refs: Vec<&str> = f
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    start_with(&refs).await
}

fn config_for(file: &std::path::Path, extra: &str) -> pushgate::config::Config {
    let mut args = vec![
        "pushgate".to_owned(),
        "--web.listen-address=127.0.0.1:0".to_owned(),
    ];
    args.extend(flags(file, extra).into_iter().filter(|s| !s.is_empty()));
    <pushgate::config::Args as clap::Parser>::parse_from(args)
        .validate()
        .expect("valid flags")
}

#[tokio::test]
async fn store_survives_graceful_restart_byte_for_byte() {
    let file = temp_dir().join("pushgate.data");
    let s = start_persisting(&file, "").await;
    s.put(TM_PATH, &fixture("flink-2.3.0/tm.txt"))
        .await
        .expect_status(200);
    s.put(JM_PATH, &fixture("flink-2.3.0/jm.txt"))
        .await
        .expect_status(200);
    s.put(
        "/metrics/job/other",
        "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count 2\n",
    )
    .await
    .expect_status(200);
    let before = without_own(&s.scrape().await);
    s.server.shutdown().await;
    assert!(file.exists(), "shutdown writes the file");

    let s2 = start_persisting(&file, "").await;
    assert_eq!(without_own(&s2.scrape().await), before);
}

#[tokio::test]
async fn a_temp_file_left_by_a_killed_write_is_reused_not_piled_up() {
    let dir = temp_dir();
    let file = dir.join("pushgate.data");
    let leftover = dir.join("pushgate.data.tmp");
    std::fs::write(&leftover, b"half a write from a killed process").expect("write leftover");
    let store = pushgate::store::Store::new(&[], true);
    pushgate::persist::write(&store, &file).expect("persist");
    pushgate::persist::write(&store, &file).expect("persist again");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["pushgate.data"], "only the data file is left");
    let restored = pushgate::store::Store::new(&[], true);
    pushgate::persist::restore(&restored, &file, false).expect("the file restores");
}

#[tokio::test]
async fn push_failure_time_survives_restart() {
    let file = temp_dir().join("pushgate.data");
    let s = start_persisting(&file, "").await;
    s.put("/metrics/job/a", "# TYPE m gauge\nm 1\n")
        .await
        .expect_status(200);
    s.put("/metrics/job/b", "# TYPE n counter\nn 1\n")
        .await
        .expect_status(200);
    // Inconsistent with group b: refused, and recorded as group a's failure time.
    s.put("/metrics/job/a", "# TYPE n gauge\nn 1\n")
        .await
        .expect_status(400);
    let before = without_own(&s.scrape().await);
    assert!(!before.contains("push_failure_time_seconds{instance=\"\",job=\"a\"} 0\n"));
    s.server.shutdown().await;
    let s2 = start_persisting(&file, "").await;
    assert_eq!(without_own(&s2.scrape().await), before);
}

#[tokio::test]
async fn changed_store_is_written_after_the_interval_without_shutdown() {
    let file = temp_dir().join("pushgate.data");
    let config = config_for(&file, "--persistence.interval=50ms");
    let s = crate::support::start_config(config).await;
    s.put("/metrics/job/a", "m 1\n").await.expect_status(200);
    for _ in 0..200 {
        if file.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let data = std::fs::read(&file).expect("the persister wrote the file");
    let groups = pushgate::persist::file::decode(&data).expect("the file decodes");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].key, vec![("job".to_owned(), "a".to_owned())]);
}

#[tokio::test]
async fn corrupt_file_stops_startup_naming_file_and_offset() {
    let file = temp_dir().join("pushgate.data");
    let s = start_persisting(&file, "").await;
    s.put("/metrics/job/a", "m 1\n").await.expect_status(200);
    s.server.shutdown().await;
    let mut data = std::fs::read(&file).expect("file");
    let last = data.len() - 12;
    data[last] ^= 0xff; // flip a payload byte: checksum mismatch
    std::fs::write(&file, &data).expect("write");

    let err = pushgate::server::start(config_for(&file, ""))
        .await
        .expect_err("corrupt file refuses to start");
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(
        msg.contains("at byte offset 12: record checksum mismatch"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(&file).expect("file kept"),
        data,
        "the file is left untouched"
    );
}

#[tokio::test]
async fn truncated_file_stops_startup() {
    let file = temp_dir().join("pushgate.data");
    let s = start_persisting(&file, "").await;
    s.put("/metrics/job/a", "m 1\n").await.expect_status(200);
    s.server.shutdown().await;
    let data = std::fs::read(&file).expect("file");
    std::fs::write(&file, &data[..data.len() - 8]).expect("write");
    let err = pushgate::server::start(config_for(&file, ""))
        .await
        .expect_err("truncated file refuses to start");
    assert!(err.to_string().contains("file is truncated"), "{err}");
}

#[tokio::test]
async fn discard_corrupt_moves_the_file_aside_and_starts_empty() {
    let dir = temp_dir();
    let file = dir.join("pushgate.data");
    std::fs::write(&file, b"not a pushgate file at all").expect("write");
    let s = start_persisting(&file, "--persistence.discard-corrupt").await;
    s.put("/metrics/job/a", "m 1\n").await.expect_status(200);
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pushgate.data.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the bad file is kept aside: {aside:?}");
    assert_eq!(
        std::fs::read(dir.join(&aside[0])).expect("aside file"),
        b"not a pushgate file at all"
    );
}
