//! Pushes a small Flink-shaped TaskManager to a Pushgateway every second, then deletes it.
//!
//! ```sh
//! pushgate &                                   # or the Go prometheus-pushgateway
//! cargo run -p pushgate-reporter --example push -- http://127.0.0.1:9091 10
//! curl -s http://127.0.0.1:9091/metrics | grep flink_
//! ```
//!
//! Arguments: the gateway URL (default `http://127.0.0.1:9091`) and how many seconds to run
//! (default 10). Ctrl-C stops early; either way the group is deleted at the end
//! (`deleteOnShutdown`).

use std::time::Duration;

use pushgate_reporter::{Histogram, Meter, PushConfig, PushReporter, Registry, TaskInfo};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9091".into());
    let seconds: u64 = args.next().map_or(Ok(10), |s| s.parse())?;

    let registry = Registry::new();
    let tm = registry.taskmanager("localhost", "localhost:40123_a1b2c3");
    let heap = tm
        .add_group("Status")
        .add_group("JVM")
        .add_group("Memory")
        .add_group("Heap")
        .value_gauge("Used");
    let task = tm
        .job("20ec600b74941d944c1811e9d462b174", "example job")
        .task(&TaskInfo {
            task_id: "cbc357ccb763df2852fee8c4fc7d55f2".into(),
            task_attempt_id:
                "0d72e9caa7503eaf7aa5bbab3bf8c261_cbc357ccb763df2852fee8c4fc7d55f2_0_0".into(),
            task_name: "Source: Kafka -> Map".into(),
            subtask_index: 0,
            attempt_number: 0,
        });
    let source = task.operator("cbc357ccb763df2852fee8c4fc7d55f2", "Source: Kafka");
    let records = source.counter("numRecordsOut");
    source.meter(
        "numRecordsOutPerSecond",
        Meter::with_counter(records.clone(), 60),
    );
    let lag = source
        .add_group("KafkaSourceReader")
        .value_gauge("records-lag-max");
    let latency = task
        .add_group("latency")
        .add_group_kv("source_id", "cbc357ccb763df2852fee8c4fc7d55f2")
        .add_group_kv("operator_id", "7df19f87deec5680128845fd9a6ca18d")
        .add_group_kv("operator_subtask_index", "0")
        .histogram("latency", Histogram::new(128));

    let reporter = PushReporter::new(
        registry.clone(),
        PushConfig {
            host_url: url,
            job_name: "example".into(),
            grouping_key: "cluster=local;dc=dev box".into(),
            interval: Duration::from_secs(1),
            ..PushConfig::default()
        },
    )?;
    println!("pushing to {} every second for {seconds} s", reporter.url());
    let handle = reporter.spawn();

    let work = async {
        for tick in 0..seconds * 10 {
            records.inc_by(1_000);
            #[allow(clippy::cast_precision_loss, reason = "small demo numbers")]
            {
                heap.set(1.5e8 + (tick % 50) as f64 * 1e6);
                lag.set((tick % 7) as f64);
            }
            latency.update(i64::try_from(tick % 40).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        () = work => {}
        _ = tokio::signal::ctrl_c() => println!("interrupted"),
    }
    println!("{}", String::from_utf8_lossy(&registry.render_to_vec()));
    handle.shutdown().await?;
    println!("deleted the group; done");
    Ok(())
}
