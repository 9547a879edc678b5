//! The per-job health panel of the Flink view: the latest Flink health signals of one cluster.
//!
//! Owns: the panel's HTML (a verdict in words: bottleneck or none, back-pressure level, source
//! lag; one box per vertex coloured as Flink's web UI colours its job graph, with parallelism and
//! suggested parallelism) and the colour blend ([`colours`]).
//! Does not own: the numbers (see [`crate::flink::signals`]; the panel shows the latest
//! evaluation) or the rest of the Flink view (see `flink`).
//!
//! Data enters as the cluster's grouping labels and leaves as HTML appended to the page. The
//! colours travel as `data-fill`/`data-border` attributes that `ui.js` applies: the UI's
//! Content-Security-Policy allows no inline `style`.

use std::fmt::Write as _;

use super::html::{self, esc};
use super::Ctx;
use crate::flink::signals::eval::{JobEval, SourceEval, VertexEval};
use crate::flink::signals::Level;
use crate::store::group::Str;

/// Flink's web UI (`flink-runtime-web` job graph nodes): idle blue, busy red, back-pressured
/// grey with a black border: `(fill, border)` as RGB.
const IDLE: ([u8; 3], [u8; 3]) = ([0x5d, 0xb1, 0xff], [0x18, 0x90, 0xff]);
const BUSY: ([u8; 3], [u8; 3]) = ([0xee, 0x64, 0x64], [0xee, 0x22, 0x22]);
const BACKPRESSURED: ([u8; 3], [u8; 3]) = ([0x88, 0x88, 0x88], [0x00, 0x00, 0x00]);

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a blend of two bytes with t in [0, 1] is a byte"
)]
fn blend(a: [u8; 3], b: [u8; 3], t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|i| (f64::from(a[i]) + (f64::from(b[i]) - f64::from(a[i])) * t).round() as u8)
}

/// The fill and border colours (`#rrggbb`) of a vertex, as Flink's web UI draws it: from blue
/// toward red by the busy ratio, then toward grey (border black) by the back-pressured ratio.
#[must_use]
pub fn colours(busy: f64, backpressured: f64) -> (String, String) {
    let hex = |c: [u8; 3]| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
    let fill = blend(blend(IDLE.0, BUSY.0, busy), BACKPRESSURED.0, backpressured);
    let border = blend(blend(IDLE.1, BUSY.1, busy), BACKPRESSURED.1, backpressured);
    (hex(fill), hex(border))
}

/// The health panels of the jobs whose cluster labels are `cluster`.
pub fn panels(out: &mut String, ctx: &Ctx<'_>, cluster: &[(Str, Str)]) {
    if !ctx.state.signals.config().enabled {
        return;
    }
    let latest = ctx.state.signals.latest();
    for job in latest.jobs.iter().filter(|j| &j.labels[..] == cluster) {
        panel(out, job);
    }
}

fn panel(out: &mut String, job: &JobEval) {
    out.push_str("<div class=\"health\" data-job-id=\"");
    esc(out, &job.job_id);
    out.push_str("\"><h3>Health of <span class=\"jobname\">");
    esc(out, &job.job_name);
    let level = job.backpressure_level.as_str();
    let _ = write!(
        out,
        "</span> <span class=\"lvl lvl-{level}\" title=\"highest back-pressure level\">{level}</span></h3>"
    );
    verdict(out, job);
    for v in &job.vertices {
        if let Some(s) = &v.source {
            lag(out, v, s);
        }
    }
    out.push_str("<div class=\"vertices\">");
    for v in &job.vertices {
        vertex(out, v);
    }
    out.push_str("</div></div>");
}

fn percent(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

fn verdict(out: &mut String, job: &JobEval) {
    out.push_str("<p class=\"verdict\">");
    match job.vertices.iter().find(|v| v.bottleneck) {
        Some(v) => {
            out.push_str("Bottleneck: <b class=\"bottleneck-name\">");
            esc(out, &v.task_name);
            let _ = write!(
                out,
                "</b>, busy {} while the job is back-pressured ({}). It could do {} records/s at \
                 100 % busy; suggested parallelism <b>{}</b> (now {}).",
                percent(v.busy_ratio),
                job.backpressure_level.as_str(),
                v.true_processing_rate
                    .map_or("–".to_owned(), |r| html::number(r.round())),
                v.suggested_parallelism,
                v.parallelism,
            );
            if let Some(i) = v.hot_subtask {
                let _ = write!(out, " One subtask carries the load: #{i}.");
            }
        }
        None if job.backpressure_level == Level::Ok => {
            out.push_str("No back-pressure: no bottleneck.");
        }
        None if job.network_suspected => out.push_str(
            "Back-pressured, but no vertex is busy enough to explain it: the network or an \
             external system is the likely bottleneck.",
        ),
        None => out.push_str("Back-pressured; no bottleneck named yet (waiting for agreement)."),
    }
    out.push_str("</p>");
}

fn lag(out: &mut String, v: &VertexEval, s: &SourceEval) {
    out.push_str("<p class=\"lag\">Source <b>");
    esc(out, &v.task_name);
    out.push_str("</b>: ");
    let Some(records) = s.lag_records else {
        out.push_str("lag unknown (the source reports no pendingRecords).</p>");
        return;
    };
    let _ = write!(out, "lag <b>{}</b> records", html::number(records));
    match s.lag_seconds {
        Some(secs) if secs.is_finite() => {
            let _ = write!(out, " ≈ <b>{}</b> behind", html::duration(secs));
        }
        Some(_) => out.push_str(", <b>stalled</b> (nothing read)"),
        None => {}
    }
    if let Some(g) = s.lag_growth {
        let trend = if g > 0.0 { "growing" } else { "shrinking" };
        let _ = write!(
            out,
            ", {trend} by {} records/s",
            html::number(g.abs().round())
        );
    }
    match s.catch_up_seconds {
        Some(eta) if eta.is_finite() && eta > 0.0 => {
            let _ = write!(out, ", caught up in about {}", html::duration(eta));
        }
        _ => {}
    }
    out.push_str(".</p>");
}

fn vertex(out: &mut String, v: &VertexEval) {
    let busy = v.busy_ratio.unwrap_or(0.0);
    let (fill, border) = colours(busy, v.backpressure_ratio);
    let _ = write!(
        out,
        "<div class=\"vertex{}\" data-fill=\"{fill}\" data-border=\"{border}\" data-busy=\"{busy:.3}\" data-backpressure=\"{:.3}\" data-level=\"{}\" title=\"",
        if v.bottleneck { " bottleneck" } else { "" },
        v.backpressure_ratio,
        v.backpressure_level.as_str(),
    );
    esc(out, &v.task_id);
    out.push_str("\"><div class=\"vname\">");
    esc(out, &v.task_name);
    let _ = write!(
        out,
        "</div><div class=\"vstats\">busy {} · back-pressured {} · {}</div>\
         <div class=\"vpar\">parallelism <b>{}</b> → suggested <b class=\"suggested\">{}</b></div></div>",
        percent(v.busy_ratio),
        percent(Some(v.backpressure_ratio)),
        v.backpressure_level.as_str(),
        v.parallelism,
        v.suggested_parallelism,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(busy: f64, bp: f64, want: (&str, &str)) {
        let (fill, border) = colours(busy, bp);
        assert_eq!(
            (fill.as_str(), border.as_str()),
            want,
            "busy {busy}, bp {bp}"
        );
    }

    #[test]
    fn vertices_blend_from_blue_to_red_by_busy_and_to_grey_by_backpressure() {
        check(0.0, 0.0, ("#5db1ff", "#1890ff"));
        check(1.0, 0.0, ("#ee6464", "#ee2222"));
        check(0.0, 1.0, ("#888888", "#000000"));
        check(1.0, 1.0, ("#888888", "#000000"));
        check(0.5, 0.0, ("#a68bb2", "#835991"));
    }
}
