//! The JSON API of the Go Pushgateway: `GET <prefix>/api/v1/status` and
//! `GET <prefix>/api/v1/metrics`, with its CORS headers and `OPTIONS` answers.
//!
//! Owns: the JSON documents, byte for byte in the Go gateway 1.5.1's shape (its
//! `api/v1/api.go`): `{"status":"success","data":...}`; object keys sorted where Go encodes a
//! map (groups, metrics, labels, buckets, quantiles, build information, flags); values as
//! strings formatted like Go's `fmt.Sprint`; strings escaped like Go's `encoding/json`
//! (including its HTML-safe `\u003c`, `\u003e`, `\u0026`). A small writer here does that; no
//! JSON library is needed for documents this regular.
//! Does not own: the store (read through a snapshot) or routing.
//!
//! Differences from Go, all in what the store can know: groups come in grouping-key order (Go:
//! random map order); a family's metrics come in scrape order (Go: push order); `time_stamp` of `push_failure_time_seconds` is the last failure, or the
//! last success when there was none (Go: the time the group was created); counts that are not
//! whole numbers are shown as pushed (Go truncates them); a summary or histogram pushed
//! without `_sum` or `_count` shows `"0"`, as in Go.

use std::fmt::Write as _;
use std::sync::Arc;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use super::body::Body;
use super::response::{bad_request, text, Resp};
use super::AppState;
use crate::model::{MetricType, Value};
use crate::render::series::write_count;
use crate::render::text::write_float;
use crate::store::group::{
    Group, Str, PUSH_FAILURE_TIME_HELP, PUSH_FAILURE_TIME_NAME, PUSH_TIME_HELP, PUSH_TIME_NAME,
};
use crate::store::Snapshot;
use crate::ui::query::{Query, QueryError};
use crate::ui::select::{select, Filter, Sort};

/// `GET /api/v1/groups` (a pushgate extension): one object per group with its labels, series
/// count, last push, age, learned push interval and expiry (when and why it will be removed,
/// or `null` when it never expires), so operators can see what `--flink.missed-pushes` and
/// `--push.group-ttl` will do before they do it.
///
/// Optional query parameters select a page server-side, as the web UI does (see
/// [`crate::ui::select`]): `q` (filter terms), `sort` (`key`, `age`, `series`, `expiry`),
/// `offset` and `limit`. `total` in the answer counts every matching group. A bad parameter
/// gets 400 saying which.
#[must_use]
pub fn groups(state: &AppState, raw_query: Option<&str>) -> Resp {
    let page = match GroupsQuery::parse(raw_query) {
        Ok(p) => p,
        Err(e) => return with_api_headers(bad_request(&e.to_string())),
    };
    let snapshot = state.store.snapshot();
    let ctx = crate::ui::Ctx::new(state);
    let sel = select(
        &snapshot.groups,
        &page.filter,
        page.sort,
        page.offset,
        page.limit,
        |g| ctx.expiry(g).map(|(at, _)| at),
    );
    let now = ctx.now;
    let mut out = String::from(r#"{"status":"success","data":["#);
    for (i, g) in sel.groups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"labels":{"#);
        write_string_map(&mut out, g.labels.iter().map(|(n, v)| (&**n, &**v)));
        let reporter = ctx.reporter(g);
        let expiry = ctx.expiry(g);
        let _ = write!(
            out,
            r#"}},"series":{},"flink_reporter":{reporter},"last_push_time":{},"age_seconds":{},"learned_interval_seconds":{},"expires_in_seconds":{},"expiry_reason":{}}}"#,
            g.series_count(),
            json_number(g.times.success),
            json_number(now - g.times.success),
            g.times.interval.map_or("null".to_owned(), json_number),
            expiry.map_or("null".to_owned(), |(at, _)| json_number(
                (at - now).max(0.0)
            )),
            expiry.map_or("null".to_owned(), |(_, r)| format!("\"{}\"", r.as_str())),
        );
    }
    let _ = write!(out, r#"],"total":{}}}"#, sel.matched);
    json(out)
}

/// The page parameters of `GET /api/v1/groups`.
struct GroupsQuery {
    filter: Filter,
    sort: Sort,
    offset: usize,
    limit: usize,
}

impl GroupsQuery {
    fn parse(raw: Option<&str>) -> Result<GroupsQuery, QueryError> {
        let q = Query::parse(raw)?;
        Ok(GroupsQuery {
            filter: Filter::parse(q.get("q").unwrap_or_default()),
            sort: Sort::from_name(q.choice("sort", &Sort::NAMES)?),
            offset: q.number("offset", 0, 0, usize::MAX)?,
            limit: q.number("limit", usize::MAX, 1, usize::MAX)?,
        })
    }
}

/// Serves `GET /api/v1/flink/jobs`: the latest evaluation of the Flink health signals
/// (`{"status":"success","data":{"jobs":[...],"clusters":[...],"taskmanagers":[...]}}`).
#[must_use]
pub fn flink_jobs(state: &AppState) -> Resp {
    json(crate::flink::signals::expose::json(&state.signals.latest()))
}

/// A JSON number with millisecond precision (finite input).
fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".to_owned()
    }
}

/// The CORS and caching headers the Go gateway puts on every API answer.
const API_HEADERS: [(&str, &str); 5] = [
    (
        "access-control-allow-headers",
        "Accept, Authorization, Content-Type, Origin",
    ),
    ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS"),
    ("access-control-allow-origin", "*"),
    ("access-control-expose-headers", "Date"),
    ("cache-control", "no-cache, no-store, must-revalidate"),
];

/// Adds the API's CORS and caching headers.
#[must_use]
pub fn with_api_headers(mut r: Resp) -> Resp {
    for (name, value) in API_HEADERS {
        r.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    r
}

/// `OPTIONS <prefix>/api/v1/*`: 200 with the CORS headers and no body.
#[must_use]
pub fn options() -> Resp {
    with_api_headers(Response::new(Body::empty()))
}

fn json(body: String) -> Resp {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_api_headers(r)
}

/// `GET <prefix>/api/v1/status`: build information, flags and start time.
#[must_use]
pub fn status(state: &AppState) -> Resp {
    let mut out = String::from(r#"{"status":"success","data":{"build_information":{"#);
    let build = [
        ("branch", ""),
        ("buildDate", ""),
        ("buildUser", ""),
        ("goVersion", "rust"),
        ("revision", ""),
        ("version", env!("CARGO_PKG_VERSION")),
    ];
    write_string_map(&mut out, build.iter().map(|(k, v)| (*k, *v)));
    out.push_str(r#"},"flags":{"#);
    write_string_map(
        &mut out,
        state
            .config
            .flags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    out.push_str(r#"},"start_time":"#);
    write_time(&mut out, state.started_at);
    out.push_str("}}");
    json(out)
}

/// `GET <prefix>/api/v1/metrics`: every group with its families.
pub async fn metrics(state: &Arc<AppState>) -> Resp {
    let st = state.clone();
    match tokio::task::spawn_blocking(move || metrics_document(&st.store.snapshot())).await {
        Ok(body) => json(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering the metrics API failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the metrics API failed",
            )
        }
    }
}

/// The `/api/v1/metrics` document for a snapshot.
#[must_use]
pub fn metrics_document(snapshot: &Snapshot) -> String {
    let mut out = String::from(r#"{"status":"success","data":["#);
    for (i, group) in snapshot.groups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_group(&mut out, group);
    }
    out.push_str("]}");
    out
}

/// One group: its families plus `labels`, `last_push_successful` and the push-time families,
/// all keys sorted (Go encodes the group as a map).
fn write_group(out: &mut String, group: &Group) {
    let mut entries: Vec<(&str, String)> = Vec::with_capacity(group.families.len() + 4);
    for (name, family) in &group.families {
        let mut v = String::new();
        let series: Vec<(&[(Str, Str)], &Value)> = family
            .series
            .iter()
            .map(|s| (&s.labels[..], &s.value))
            .collect();
        write_family(
            &mut v,
            family.pushed_at,
            family.kind,
            family.help.as_deref(),
            &series,
        );
        entries.push((name, v));
    }
    let mut labels = String::from("{");
    write_string_map(
        &mut labels,
        group.key.labels().iter().map(|(n, v)| (&**n, &**v)),
    );
    labels.push('}');
    entries.push(("labels", labels));
    let times = group.times;
    entries.push((
        "last_push_successful",
        (times.failure <= times.success).to_string(),
    ));
    for (name, help, value, at) in [
        (PUSH_TIME_NAME, PUSH_TIME_HELP, times.success, times.success),
        (
            PUSH_FAILURE_TIME_NAME,
            PUSH_FAILURE_TIME_HELP,
            times.failure,
            if times.failure > 0.0 {
                times.failure
            } else {
                times.success
            },
        ),
    ] {
        let mut v = String::new();
        let value = Value::Scalar(value);
        write_family(
            &mut v,
            at,
            MetricType::Gauge,
            Some(help),
            &[(&group.labels, &value)],
        );
        entries.push((name, v));
    }
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, key);
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
}

/// `{"time_stamp":...,"type":...,"help":...,"metrics":[...]}` (`help` left out when empty,
/// Go's `omitempty`).
fn write_family(
    out: &mut String,
    at: f64,
    kind: MetricType,
    help: Option<&str>,
    series: &[(&[(Str, Str)], &Value)],
) {
    out.push_str(r#"{"time_stamp":"#);
    write_time(out, at);
    out.push_str(r#","type":""#);
    out.push_str(kind.as_upper_str());
    out.push('"');
    if let Some(help) = help.filter(|h| !h.is_empty()) {
        out.push_str(r#","help":"#);
        write_json_string(out, help);
    }
    out.push_str(r#","metrics":["#);
    for (i, (labels, value)) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_metric(out, labels, value);
    }
    out.push_str("]}");
}

/// One metric; its keys are sorted as Go encodes a map.
fn write_metric(out: &mut String, labels: &[(Str, Str)], value: &Value) {
    let labels_json = |out: &mut String| {
        out.push_str(r#""labels":{"#);
        write_string_map(out, labels.iter().map(|(n, v)| (&**n, &**v)));
        out.push('}');
    };
    out.push('{');
    match value {
        Value::Scalar(v) => {
            labels_json(out);
            out.push_str(r#","value":""#);
            push_float(out, *v);
            out.push('"');
        }
        Value::Summary(s) => {
            out.push_str(r#""count":""#);
            push_count(out, s.count.unwrap_or(0.0));
            out.push_str(r#"","#);
            labels_json(out);
            out.push_str(r#","quantiles":"#);
            write_float_map(out, &s.quantiles, push_float);
            out.push_str(r#","sum":""#);
            push_float(out, s.sum.unwrap_or(0.0));
            out.push('"');
        }
        Value::Histogram(h) => {
            out.push_str(r#""buckets":"#);
            write_float_map(out, &h.buckets, push_count);
            out.push_str(r#","count":""#);
            push_count(out, h.count.unwrap_or(0.0));
            out.push_str(r#"","#);
            labels_json(out);
            out.push_str(r#","sum":""#);
            push_float(out, h.sum.unwrap_or(0.0));
            out.push('"');
        }
    }
    out.push('}');
}

/// A Go `map[string]string` keyed by `fmt.Sprint(key)`: keys as strings, sorted.
fn write_float_map(out: &mut String, pairs: &[(f64, f64)], value: fn(&mut String, f64)) {
    let mut entries: Vec<(String, String)> = pairs
        .iter()
        .map(|&(k, v)| {
            let (mut ks, mut vs) = (String::new(), String::new());
            push_float(&mut ks, k);
            value(&mut vs, v);
            (ks, vs)
        })
        .collect();
    entries.sort();
    out.push('{');
    write_string_map(out, entries.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    out.push('}');
}

/// `"k":"v"` pairs, comma-separated, in the given order.
fn write_string_map<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, k);
        out.push(':');
        write_json_string(out, v);
    }
}

/// A float as Go's `fmt.Sprint` writes it: `strconv`'s shortest `%g`, so our Go-exact text
/// writer, except that `-0` keeps its sign.
fn push_float(out: &mut String, v: f64) {
    if v == 0.0 && v.is_sign_negative() {
        out.push_str("-0");
        return;
    }
    let mut buf = Vec::with_capacity(24);
    write_float(&mut buf, v);
    out.push_str(std::str::from_utf8(&buf).expect("a formatted float is ASCII"));
}

fn push_count(out: &mut String, v: f64) {
    let mut buf = Vec::with_capacity(24);
    write_count(&mut buf, v);
    out.push_str(std::str::from_utf8(&buf).expect("a formatted count is ASCII"));
}

/// A JSON string escaped as Go's `encoding/json` escapes it (HTML-safe, Go 1.19).
pub fn write_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A Unix time as Go's `time.Time` marshals to JSON: RFC 3339 in UTC with nanoseconds,
/// trailing zeros of the fraction dropped.
fn write_time(out: &mut String, unix_seconds: f64) {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "push times are far inside i64 seconds"
    )]
    let mut secs = unix_seconds.floor() as i64;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a fraction of a second in nanoseconds fits u32"
    )]
    let mut nanos = ((unix_seconds - unix_seconds.floor()) * 1e9).round() as u32;
    if nanos >= 1_000_000_000 {
        secs += 1;
        nanos -= 1_000_000_000;
    }
    out.push('"');
    write_date_time(out, secs, 'T');
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str("Z\"");
}

/// `secs` since the Unix epoch as `YYYY-MM-DD<sep>HH:MM:SS` in UTC, appended to `out` (this
/// API's RFC 3339 times and the web UI's).
pub fn write_date_time(out: &mut String, secs: i64, sep: char) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("a day of month");
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("a month");
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_string(input: &str, want: &str) {
        let mut out = String::new();
        write_json_string(&mut out, input);
        assert_eq!(out, want);
    }

    #[track_caller]
    fn check_time(t: f64, want: &str) {
        let mut out = String::new();
        write_time(&mut out, t);
        assert_eq!(out, want);
    }

    #[test]
    fn strings_are_escaped_as_go_encoding_json_does() {
        check_string("plain ü", "\"plain ü\"");
        check_string("q\"b\\n\nt\tr\r", "\"q\\\"b\\\\n\\nt\\tr\\r\"");
        check_string("<a&b>", "\"\\u003ca\\u0026b\\u003e\"");
        check_string("\u{1}\u{1f}\u{2028}", "\"\\u0001\\u001f\\u2028\"");
    }

    #[test]
    fn times_are_rfc3339_nanos_in_utc() {
        check_time(0.0, "\"1970-01-01T00:00:00Z\"");
        check_time(1_795_258_818.5, "\"2026-11-21T11:00:18.5Z\"");
        check_time(951_782_400.25, "\"2000-02-29T00:00:00.25Z\"");
    }

    #[test]
    fn floats_print_as_go_fmt_sprint() {
        let show = |v| {
            let mut s = String::new();
            push_float(&mut s, v);
            s
        };
        assert_eq!(show(-0.0), "-0");
        assert_eq!(show(1.795_258_818_477_104_4e9), "1.7952588184771044e+09");
        assert_eq!(show(f64::INFINITY), "+Inf");
        assert_eq!(show(1e6), "1e+06");
    }
}
