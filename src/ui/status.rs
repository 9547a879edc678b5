//! The status view: build, runtime, store size, flags and endpoints.
//!
//! Owns: `?view=status`, the same facts as `GET /api/v1/status` (version, flags, start time)
//! plus what an operator asks next (uptime, groups and series, where the endpoints are, how
//! remote write is doing).
//! Does not own: the facts themselves (config, store, server state).

use std::fmt::Write as _;

use super::html::{self, esc};
use super::{usize_f64, Ctx};

/// `?view=status`. Returns the title.
pub fn page(ctx: &Ctx<'_>, out: &mut String) -> String {
    let state = ctx.state;
    let (groups, series) = state.store.counts();
    let flag = |name: &str| {
        state
            .config
            .flags
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    out.push_str("<section class=\"status\"><h2>Runtime</h2><table class=\"kv\"><tbody>");
    let started = format!(
        "{} (up {})",
        html::utc(state.started_at),
        html::duration(ctx.now - state.started_at)
    );
    let persistence = state
        .config
        .persistence_file
        .as_ref()
        .map_or("off (memory only)".to_owned(), |p| p.display().to_string());
    let rows = [
        ("Version", format!("pushgate {}", env!("CARGO_PKG_VERSION"))),
        ("Started", started),
        ("Groups", html::number(usize_f64(groups))),
        ("Series", html::number(usize_f64(series))),
        ("Store generation", state.store.generation().to_string()),
        ("Persistence file", persistence),
        (
            "Route prefix",
            if state.config.route_prefix.is_empty() {
                "/".to_owned()
            } else {
                state.config.route_prefix.clone()
            },
        ),
        (
            "External URL",
            Some(flag("web.external-url"))
                .filter(|u| !u.is_empty())
                .map_or("(not set)".to_owned(), str::to_owned),
        ),
    ];
    for (k, v) in &rows {
        kv(out, k, v);
    }
    out.push_str("</tbody></table>");
    remote_write(ctx, out);
    out.push_str("<h2>Endpoints</h2><table class=\"kv\"><tbody>");
    let telemetry = state.config.telemetry_path.trim_start_matches('/');
    let endpoints = [
        (telemetry.to_owned(), "the merged scrape"),
        (format!("{telemetry}/aggregated"), "Flink rollups only"),
        (
            "api/v1/groups".to_owned(),
            "groups with age and expiry (JSON; ?q=&sort=&offset=&limit=)",
        ),
        ("api/v1/status".to_owned(), "this page's facts (JSON)"),
        (
            "api/v1/metrics".to_owned(),
            "every group's metrics (JSON, can be large)",
        ),
        ("-/healthy".to_owned(), "liveness"),
        ("-/ready".to_owned(), "readiness"),
    ];
    for (path, what) in &endpoints {
        out.push_str("<tr><th><a href=\"");
        esc(out, path);
        out.push_str("\">");
        esc(out, path);
        let _ = write!(out, "</a></th><td>{what}</td></tr>");
    }
    out.push_str("</tbody></table><h2>Flags</h2><table class=\"kv flags\"><tbody>");
    for (name, value) in &state.config.flags {
        kv(out, name, value);
    }
    out.push_str("</tbody></table></section>");
    "Status".to_owned()
}

/// One table row per remote-write endpoint (nothing without remote write).
#[allow(clippy::cast_precision_loss, reason = "counters stay far below 2^52")]
fn remote_write(ctx: &Ctx<'_>, out: &mut String) {
    let lanes = &ctx.state.remote_write;
    if lanes.is_empty() {
        return;
    }
    out.push_str("<h2>Remote write</h2><table class=\"remote-write\"><thead><tr><th>URL</th><th>Samples sent</th><th>Stale markers</th><th>Samples failed</th><th>Ticks dropped</th><th>Pending ticks</th><th>Last acknowledged</th><th>Last error</th></tr></thead><tbody>");
    for lane in lanes {
        let st = lane.status();
        let last_ack = if st.last_ack > 0.0 {
            format!(
                "{} ({} ago)",
                html::utc(st.last_ack),
                html::duration(ctx.now - st.last_ack)
            )
        } else {
            "never".to_owned()
        };
        let cells = [
            st.url,
            html::number(st.samples as f64),
            html::number(st.stale as f64),
            html::number(st.failed as f64),
            html::number(st.dropped_ticks as f64),
            st.pending.to_string(),
            last_ack,
            st.last_error.unwrap_or_default(),
        ];
        out.push_str("<tr>");
        for c in &cells {
            out.push_str("<td>");
            esc(out, c);
            out.push_str("</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn kv(out: &mut String, k: &str, v: &str) {
    out.push_str("<tr><th>");
    esc(out, k);
    out.push_str("</th><td>");
    esc(out, v);
    out.push_str("</td></tr>");
}
