//! Text-format parsing: bodies the Go gateway (prometheus/common `expfmt`) refuses, with the
//! same `text format parsing error in line N: ...` message, and Flink's quirks it accepts.
//! Every expected message was checked against prometheus-pushgateway 1.5.1.

use crate::support::{sample_lines, sample_value, start, TestServer};

/// Asserts that PUTting `body` answers 400 with exactly `want` (plus Go's trailing newline)
/// and stores nothing.
async fn assert_parse_error(body: &[u8], want: &str) {
    let s = start().await;
    let r = refuse(&s, body).await;
    assert_eq!(r.trim_end_matches('\n'), want);
}

/// PUTs a body that must be refused with 400 and leave no trace; returns the message.
async fn refuse(s: &TestServer, body: &[u8]) -> String {
    let r = s.request("PUT", "/metrics/job/p", &[], body).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        s.scrape_store().await,
        "",
        "a refused push left something in the store"
    );
    r.text()
}

#[tokio::test]
async fn missing_final_newline_is_unexpected_end_of_input() {
    let want = "text format parsing error in line 3: unexpected end of input stream";
    assert_parse_error(b"# HELP a h\n# TYPE a gauge\na 1", want).await;
}

#[tokio::test]
async fn crlf_line_end_is_part_of_the_value() {
    let want = r#"text format parsing error in line 2: expected float as value, got "2\r""#;
    assert_parse_error(b"a 1\nb 2\r\n", want).await;
}

#[tokio::test]
async fn trailing_blank_after_value_expects_a_timestamp() {
    let want = r#"text format parsing error in line 2: expected integer as timestamp, got """#;
    assert_parse_error(b"a 1\nb 2 \n", want).await;
}

#[tokio::test]
async fn second_help_line_is_refused() {
    let want = r#"text format parsing error in line 3: second HELP line for metric name "a""#;
    assert_parse_error(b"# HELP a x\na 1\n# HELP a y\n", want).await;
}

#[tokio::test]
async fn second_type_line_is_refused() {
    let want = r#"text format parsing error in line 3: second TYPE line for metric name "a", or TYPE reported after samples"#;
    assert_parse_error(b"x 1\n# TYPE a gauge\n# TYPE a gauge\n", want).await;
}

#[tokio::test]
async fn type_line_after_samples_is_refused() {
    let want = r#"text format parsing error in line 3: second TYPE line for metric name "a", or TYPE reported after samples"#;
    assert_parse_error(b"a 1\nb 1\n# TYPE a gauge\n", want).await;
}

#[tokio::test]
async fn invalid_metric_name_is_refused() {
    assert_parse_error(
        b"a 1\n1abc 2\n",
        "text format parsing error in line 2: invalid metric name",
    )
    .await;
}

#[tokio::test]
async fn invalid_label_name_is_refused() {
    let want = r#"text format parsing error in line 2: invalid label name for metric "b""#;
    assert_parse_error(b"a 1\nb{1x=\"v\"} 2\n", want).await;
}

#[tokio::test]
async fn invalid_escape_in_label_value_is_refused() {
    let want = r"text format parsing error in line 2: invalid escape sequence '\x'";
    assert_parse_error(b"a 1\nb{x=\"\\x\"} 2\n", want).await;
}

#[tokio::test]
async fn invalid_escape_in_help_is_refused() {
    let want = r"text format parsing error in line 2: invalid escape sequence '\x'";
    assert_parse_error(b"a 1\n# HELP b \\x\n", want).await;
}

/// Go quotes the value with `%q` (`"\xff"`); only the message start is pinned.
#[tokio::test]
async fn invalid_utf8_in_label_value_is_refused() {
    let s = start().await;
    let msg = refuse(&s, b"a 1\nb{x=\"\xff\"} 2\n").await;
    assert!(
        msg.starts_with("text format parsing error in line 2: invalid label value"),
        "{msg}"
    );
}

#[tokio::test]
async fn unknown_metric_type_is_refused() {
    let want = r#"text format parsing error in line 2: unknown metric type "foo""#;
    assert_parse_error(b"a 1\n# TYPE b foo\nb 1\n", want).await;
}

#[tokio::test]
async fn blank_and_comment_lines_count_in_the_line_number() {
    let want =
        r#"text format parsing error in line 5: expected '"' at start of label value, found '1'"#;
    assert_parse_error(b"a 1\nb{x=\"1\"} 2\n\n# comment\nc{x=1} 3\n", want).await;
}

/// PUTs a body that must be accepted and returns the pushed part of the scrape.
async fn accepted(body: &str) -> String {
    let s = start().await;
    s.put("/metrics/job/p", body).await.expect_status(200);
    s.scrape_pushed().await
}

#[tokio::test]
async fn trailing_comma_in_label_set_is_accepted() {
    let out = accepted("m{a=\"1\",b=\"2\",} 1\n").await;
    assert_eq!(
        sample_value(&out, "m{a=\"1\",b=\"2\",instance=\"\",job=\"p\"}"),
        Some(1.0),
        "{out}"
    );
}

#[tokio::test]
async fn java_exponent_nan_and_infinities_are_accepted() {
    let out =
        accepted("m{v=\"e\"} 1.073741824E9\nm{v=\"n\"} NaN\nm{v=\"p\"} +Inf\nm{v=\"q\"} -Inf\n")
            .await;
    let values: Vec<&str> = sample_lines(&out)
        .iter()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, ["1.073741824e+09", "NaN", "+Inf", "-Inf"], "{out}");
}

#[tokio::test]
async fn summary_without_sum_is_accepted_and_no_sum_is_invented() {
    let body = "# TYPE s summary\ns_count{q=\"1\",} 3.0\ns{q=\"1\",quantile=\"0.5\",} 1.0\n";
    let want = "# TYPE s summary\ns{instance=\"\",job=\"p\",q=\"1\",quantile=\"0.5\"} 1\ns_count{instance=\"\",job=\"p\",q=\"1\"} 3\n";
    assert_eq!(accepted(body).await, want);
}

#[tokio::test]
async fn help_with_backslash_and_newline_escapes_is_accepted() {
    let out = accepted("# HELP h a\\\\b\\nc\nh 1\n").await;
    assert!(
        out.starts_with("# HELP h a\\\\b\\nc\n# TYPE h untyped\n"),
        "{out}"
    );
}

#[tokio::test]
async fn scattered_samples_of_one_family_end_up_under_one_type_line() {
    let out = accepted("# TYPE h gauge\nh{a=\"1\"} 1\nx 1\nh{a=\"0\"} 5\n").await;
    let want = "# TYPE h gauge\nh{a=\"0\",instance=\"\",job=\"p\"} 5\nh{a=\"1\",instance=\"\",job=\"p\"} 1\n# TYPE x untyped\nx{instance=\"\",job=\"p\"} 1\n";
    assert_eq!(out, want);
}
