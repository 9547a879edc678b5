//! The JSON API against what the Go Pushgateway 1.5.1 answered for the same pushes
//! (`fixtures/realpgw-1.5.1/api-v1-*.json`, recorded by `tests/e2e/record_realpgw_api.sh`).

use crate::support::{fixture, start, TestServer};

/// The pushes `tests/e2e/record_realpgw_api.sh` made against the Go gateway.
async fn push_like_the_recording(s: &TestServer) {
    s.put_ok(
        "/metrics/job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2",
        &fixture("flink-2.3.0/jm.txt"),
    )
    .await;
    s.put_ok("/metrics/job/api/instance/i1", &fixture("api/mixed.txt"))
        .await;
    s.post("/metrics/job/api2", &fixture("api/second.txt"))
        .await
        .expect_status(200);
    s.post("/metrics/job/api2", &fixture("api/clash.txt"))
        .await
        .expect_status(400);
}

/// Replaces what legitimately differs between two runs: `time_stamp`s, and push-time values
/// (Unix times, 1.7e9 to 2e9).
fn mask_times(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(i) = rest.find("\":\"") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find('"').expect("a closed string");
        let value = &tail[..end];
        let is_time = head.ends_with("\"time_stamp\":\"")
            || head.ends_with("\"start_time\":\"")
            || value
                .parse::<f64>()
                .is_ok_and(|v| (1.7e9..2e9).contains(&v));
        out.push_str(if is_time { "T" } else { value });
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Splits the JSON array whose elements start at `s` (just after its `[`): the raw elements
/// and the offset of the closing `]`.
fn split_array(s: &str) -> (Vec<&str>, usize) {
    let (mut depth, mut in_string, mut escaped, mut from) = (0, false, false, 0);
    let mut out = Vec::new();
    for (i, b) in s.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b']' if depth == 0 => {
                if i > from {
                    out.push(&s[from..i]);
                }
                return (out, i);
            }
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => {
                out.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    panic!("unterminated array");
}

/// Sorts the elements of every `"metrics"` array: Go lists a family's metrics in push order,
/// pushgate in its scrape order (documented in `server::api`).
fn sort_metric_arrays(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(i) = rest.find("\"metrics\":[") {
        let (head, tail) = rest.split_at(i + 11);
        out.push_str(head);
        let (mut elements, end) = split_array(tail);
        elements.sort_unstable();
        out.push_str(&elements.join(","));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The groups of a `/api/v1/metrics` answer, normalized and sorted (Go lists groups in random
/// map order).
fn groups(json: &str) -> Vec<String> {
    let normalized = sort_metric_arrays(&mask_times(json));
    let start = normalized.find("\"data\":[").expect("a data array") + 8;
    let mut groups: Vec<String> = split_array(&normalized[start..])
        .0
        .into_iter()
        .map(str::to_owned)
        .collect();
    groups.sort();
    groups
}

#[tokio::test]
async fn metrics_api_matches_the_go_gateway_byte_for_byte_but_times() {
    // Go-compatible mode: the recording's job names keep Flink's suffix.
    let s = crate::support::start_with(&["--flink.job-suffix=keep"]).await;
    push_like_the_recording(&s).await;
    let ours = s.get("/api/v1/metrics").await.expect_status(200).text();
    let go = fixture("realpgw-1.5.1/api-v1-metrics.json");
    let go = go.trim_end();
    assert!(
        ours.starts_with("{\"status\":\"success\",\"data\":["),
        "{ours}"
    );
    let (ours_groups, go_groups) = (groups(&ours), groups(go));
    assert_eq!(ours_groups.len(), 3);
    for (o, g) in ours_groups.iter().zip(&go_groups) {
        if o != g {
            let at = o
                .bytes()
                .zip(g.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "groups differ at byte {at}:\nours: …{}\ngo:   …{}",
                &o[at.saturating_sub(80)..(at + 80).min(o.len())],
                &g[at.saturating_sub(80)..(at + 80).min(g.len())]
            );
        }
    }
    // Valid JSON, and the failed push shows as such.
    let v: serde_json::Value = serde_json::from_str(&ours).expect("valid JSON");
    let api2 = v["data"]
        .as_array()
        .expect("array")
        .iter()
        .find(|g| g["labels"]["job"] == "api2")
        .expect("api2 group");
    assert_eq!(api2["last_push_successful"], false);
}

#[tokio::test]
async fn metrics_api_sends_the_go_gateway_headers() {
    let s = start().await;
    let r = s.get("/api/v1/metrics").await.expect_status(200);
    let recorded = fixture("realpgw-1.5.1/api-v1-metrics.headers");
    for line in recorded.lines().skip(1) {
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        if name.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        assert_eq!(r.header(name), Some(value), "{name}");
    }
    assert_eq!(r.text(), "{\"status\":\"success\",\"data\":[]}");
}

#[tokio::test]
async fn options_on_the_api_answers_200_with_cors_headers() {
    let s = start().await;
    for path in ["/api/v1/metrics", "/api/v1/status", "/api/v1/anything"] {
        let r = s
            .request("OPTIONS", path, &[], b"")
            .await
            .expect_status(200);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET, POST, DELETE, OPTIONS")
        );
        assert!(r.body.is_empty());
    }
    s.request("POST", "/api/v1/status", &[], b"")
        .await
        .expect_status(405);
    s.get("/api/v1/nothing").await.expect_status(404);
}

#[tokio::test]
async fn status_api_has_the_go_gateway_shape() {
    let s = start().await;
    let r = s.get("/api/v1/status").await.expect_status(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let ours: serde_json::Value = serde_json::from_str(&r.text()).expect("valid JSON");
    let go: serde_json::Value =
        serde_json::from_str(&fixture("realpgw-1.5.1/api-v1-status.json")).expect("valid JSON");
    assert_eq!(ours["status"], "success");
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    assert_eq!(keys(&ours["data"]), keys(&go["data"]));
    assert_eq!(
        keys(&ours["data"]["build_information"]),
        keys(&go["data"]["build_information"])
    );
    assert_eq!(
        ours["data"]["build_information"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    let flags = &ours["data"]["flags"];
    for (flag, want) in [
        ("web.listen-address", "127.0.0.1:0"),
        ("web.telemetry-path", "/metrics"),
        ("web.route-prefix", ""),
        ("push.disable-consistency-check", "false"),
        ("web.enable-admin-api", "false"),
        ("web.enable-lifecycle", "false"),
        ("log.level", "info"),
    ] {
        assert_eq!(flags[flag], want, "{flag}");
        assert!(go["data"]["flags"].get(flag).is_some(), "Go has {flag}");
    }
    let start_time = ours["data"]["start_time"].as_str().expect("a string");
    assert!(
        start_time.len() >= 20 && start_time.ends_with('Z'),
        "{start_time}"
    );
}
