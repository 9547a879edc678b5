//! The groups view (one page of groups) and the group view (one group's series, capped).
//!
//! Owns: `?view=groups` (`q`, `sort`, `page`, `per`) and `?view=group&g=<path>` (`mq`
//! filters family names), their tables, and the caps that keep them small.
//! Does not own: choosing the page ([`super::select`]) or the layout ([`super`]).

use std::fmt::Write as _;

use super::html::{self, esc, label_badge};
use super::query::{encode, Query};
use super::select::{select, Filter, Sort};
use super::{
    actions, expiry_cell, flink, pager, row_open, series_and_push_cells, usize_f64, Ctx, UiError,
};
use crate::grouping::GroupingKey;
use crate::model::Value;
use crate::store::group::{Group, StoredFamily};
use crate::store::Snapshot;

/// Groups per page unless `per=` says otherwise.
pub const DEFAULT_PER_PAGE: usize = 50;
/// Most groups one page may show.
pub const MAX_PER_PAGE: usize = 500;
/// Most series the group view shows; the rest are counted, not rendered.
pub const MAX_SERIES_SHOWN: usize = 500;
/// Most histogram buckets or summary quantiles shown per series.
const MAX_BUCKETS_SHOWN: usize = 40;

/// `?view=groups`: filter form, one page of groups, pager. Returns the title.
pub fn page(
    ctx: &Ctx<'_>,
    snapshot: &Snapshot,
    q: &Query,
    out: &mut String,
) -> Result<String, UiError> {
    let filter_text = q.get("q").unwrap_or_default();
    let sort_name = q.choice("sort", &Sort::NAMES)?;
    let per = q.number("per", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)?;
    let page = q.number("page", 1, 1, usize::MAX / MAX_PER_PAGE)?;
    let filter = Filter::parse(filter_text);
    let sel = select(
        &snapshot.groups,
        &filter,
        Sort::from_name(sort_name),
        (page - 1) * per,
        per,
        |g| ctx.expiry(g).map(|(at, _)| at),
    );
    filter_form(out, filter_text, sort_name, per);
    if snapshot.groups.is_empty() {
        out.push_str(
            "<p class=\"empty\">No groups yet. Push one with<br>\
             <code>echo 'some_metric 3.14' | curl --data-binary @- \
             http://&lt;this host&gt;/&lt;prefix&gt;/metrics/job/some_job</code></p>",
        );
        return Ok("Groups".to_owned());
    }
    let pages = sel.matched.div_ceil(per).max(1);
    let first = (page - 1) * per;
    let _ = write!(
        out,
        "<p class=\"count\">Showing {}–<span class=\"count-shown\">{}</span> of <b class=\"count-groups\">{}</b> groups",
        if sel.groups.is_empty() {
            first
        } else {
            first + 1
        },
        first + sel.groups.len(),
        html::number(usize_f64(sel.matched))
    );
    if !filter.is_empty() {
        let _ = write!(
            out,
            " matching the filter (of {} in the store)",
            html::number(usize_f64(snapshot.groups.len()))
        );
    }
    out.push_str(".</p>");
    if sel.groups.is_empty() {
        out.push_str("<p class=\"empty\">No group on this page matches.</p>");
    } else {
        table(out, ctx, &sel.groups);
    }
    let mut base = String::new();
    for (name, value) in [("q", filter_text), ("sort", sort_name)] {
        if !value.is_empty() {
            base.push_str(name);
            base.push('=');
            encode(&mut base, value);
            base.push('&');
        }
    }
    if per != DEFAULT_PER_PAGE {
        let _ = write!(base, "per={per}&");
    }
    pager(out, &base, page, pages);
    Ok("Groups".to_owned())
}

fn filter_form(out: &mut String, filter: &str, sort: &str, per: usize) {
    out.push_str(
        "<form class=\"filter\" method=\"get\" action=\"./\">\
         <input type=\"search\" name=\"q\" size=\"40\" placeholder=\"filter: job=flink k1=v1 …\" title=\"every term must match a label; name=value matches values starting with value\" value=\"",
    );
    esc(out, filter);
    out.push_str("\"> <label>Sort <select name=\"sort\">");
    for (name, label) in Sort::NAMES.iter().zip([
        "by grouping key",
        "stalest first",
        "most series first",
        "expiring first",
    ]) {
        let sel = if *name == sort { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{name}\"{sel}>{label}</option>");
    }
    out.push_str("</select></label> <label>Per page <select name=\"per\">");
    for n in [20, DEFAULT_PER_PAGE, 100, 200, MAX_PER_PAGE] {
        let sel = if n == per { " selected" } else { "" };
        let _ = write!(out, "<option{sel}>{n}</option>");
    }
    out.push_str("</select></label> <button type=\"submit\" class=\"btn\">Apply</button></form>");
}

fn table(out: &mut String, ctx: &Ctx<'_>, groups: &[std::sync::Arc<Group>]) {
    out.push_str(
        "<table class=\"groups\"><thead><tr><th>Group</th><th class=\"num\">Series</th>\
         <th>Last push</th><th>Push interval</th><th>Expires</th><th></th></tr></thead><tbody>",
    );
    for g in groups {
        row_open(out, g, "group");
        out.push_str("<td class=\"labels\">");
        badges(out, ctx, g);
        if let Some(role) = flink::role(g, ctx) {
            let _ = write!(out, " <span class=\"role\">{}</span>", role.as_str());
        }
        if g.times.failure > g.times.success {
            out.push_str(" <span class=\"bad\">last push failed</span>");
        }
        out.push_str("</td>");
        series_and_push_cells(out, ctx, g);
        out.push_str("<td>");
        match g.times.interval {
            Some(i) => out.push_str(&html::duration(i)),
            None => out.push_str("<span class=\"muted\">not learned</span>"),
        }
        out.push_str("</td>");
        expiry_cell(out, ctx, g);
        actions(out, g);
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>");
}

/// The key's labels as badges: `job` first, the Flink reporter id last.
pub fn badges(out: &mut String, ctx: &Ctx<'_>, g: &Group) {
    let id_label = ctx.state.config.flink.reporter_id_label.as_str();
    label_badge(out, "job", g.key.job(), "job");
    for (n, v) in g.key.labels() {
        if &**n != "job" && &**n != id_label {
            out.push(' ');
            label_badge(out, n, v, "");
        }
    }
    if let Some(id) = g.key.get(id_label) {
        out.push(' ');
        label_badge(out, id_label, id, "rid");
    }
}

/// `?view=group&g=<path>`: the group's families and series, at most [`MAX_SERIES_SHOWN`].
pub fn group_page(ctx: &Ctx<'_>, q: &Query, out: &mut String) -> Result<String, UiError> {
    let path = q.get("g").ok_or(UiError::MissingGroup)?;
    let key = GroupingKey::from_path(path).map_err(|source| UiError::GroupPath {
        path: path.to_owned(),
        source,
    })?;
    let g = ctx
        .state
        .store
        .group(&key)
        .ok_or_else(|| UiError::NoSuchGroup(key.to_string()))?;
    let mq = q.get("mq").unwrap_or_default();
    if q.get("fragment").is_some() {
        // Shown inline under the group's row, which already says all the rest.
        out.push_str("<section class=\"group-metrics\">");
    } else {
        out.push_str("<section class=\"group-view\"><h2 class=\"labels\">");
        badges(out, ctx, &g);
        out.push_str("</h2><table class=\"groups\"><tbody>");
        row_open(out, &g, "group");
        let _ = write!(
            out,
            "<td><b>{}</b> series in <b>{}</b> families</td><td>",
            html::number(usize_f64(g.series_count())),
            g.families.len()
        );
        html::time_ago(out, g.times.success, ctx.now);
        out.push_str("</td>");
        expiry_cell(out, ctx, &g);
        actions(out, &g);
        out.push_str("</tr></tbody></table>");
    }
    out.push_str("<form class=\"filter\" method=\"get\" action=\"./\"><input type=\"hidden\" name=\"view\" value=\"group\"><input type=\"hidden\" name=\"g\" value=\"");
    esc(out, path);
    out.push_str("\"><input type=\"search\" name=\"mq\" size=\"40\" placeholder=\"metric name contains…\" value=\"");
    esc(out, mq);
    out.push_str("\"> <button type=\"submit\" class=\"btn\">Filter metrics</button></form>");
    families(out, &g, mq);
    out.push_str("</section>");
    Ok(format!("Group {}", g.key))
}

/// The families of `g` whose name contains `mq`, until [`MAX_SERIES_SHOWN`] series are out.
fn families(out: &mut String, g: &Group, mq: &str) {
    let mq = mq.to_lowercase();
    let chosen = g
        .families
        .values()
        .filter(|f| mq.is_empty() || f.name.to_lowercase().contains(&mq));
    let (mut shown, mut hidden_series, mut hidden_families) = (0usize, 0usize, 0usize);
    out.push_str("<table class=\"series\"><tbody>");
    for f in chosen {
        if shown >= MAX_SERIES_SHOWN {
            hidden_series += f.series.len();
            hidden_families += 1;
            continue;
        }
        let take = f.series.len().min(MAX_SERIES_SHOWN - shown);
        family(out, g, f, take);
        shown += take;
        if take < f.series.len() {
            hidden_series += f.series.len() - take;
        }
    }
    out.push_str("</tbody></table>");
    if shown == 0 && hidden_series == 0 {
        out.push_str("<p class=\"empty\">No metric name matches.</p>");
    }
    if hidden_series > 0 {
        let _ = write!(
            out,
            "<p class=\"capped\">{} more series{} not shown (at most {MAX_SERIES_SHOWN} per page): \
             narrow them with the metric filter, or scrape the whole group from the metrics endpoint.</p>",
            html::number(usize_f64(hidden_series)),
            if hidden_families > 0 {
                format!(" in {hidden_families} more families")
            } else {
                String::new()
            }
        );
    }
}

/// One family: a heading row (name, type, help), then its series (labels, value).
fn family(out: &mut String, g: &Group, f: &StoredFamily, take: usize) {
    out.push_str("<tr class=\"fam\"><th colspan=\"2\"><span class=\"name\">");
    esc(out, &f.name);
    let _ = write!(
        out,
        "</span> <span class=\"type\">{}</span> <small>{} series</small>",
        f.kind.as_str(),
        f.series.len()
    );
    if let Some(help) = f.help.as_deref().filter(|h| !h.is_empty()) {
        out.push_str(" <span class=\"help\">");
        esc(out, help);
        out.push_str("</span>");
    }
    out.push_str("</th></tr>");
    for s in &f.series[..take] {
        out.push_str("<tr><td class=\"labels\">");
        // The group's own labels are the same on every series: leave them out.
        for (n, v) in s.labels.iter().filter(|l| !g.labels.contains(l)) {
            label_badge(out, n, v, "");
            out.push(' ');
        }
        out.push_str("</td><td class=\"value\">");
        value(out, &s.value);
        out.push_str("</td></tr>");
    }
    out.push('\n');
}

fn value(out: &mut String, v: &Value) {
    let exact = |v: f64| {
        let mut buf = Vec::with_capacity(24);
        crate::render::text::write_float(&mut buf, v);
        String::from_utf8_lossy(&buf).into_owned()
    };
    // Count and sum, then the quantiles or buckets as `name=key: value`, capped.
    let counted = |out: &mut String,
                   (count, sum): (Option<f64>, Option<f64>),
                   name: &str,
                   pairs: &[(f64, f64)]| {
        let _ = write!(
            out,
            "count {} · sum {}",
            exact(count.unwrap_or(f64::NAN)),
            exact(sum.unwrap_or(f64::NAN))
        );
        for (k, v) in pairs.iter().take(MAX_BUCKETS_SHOWN) {
            let _ = write!(out, "<br>{name}={}: {}", exact(*k), exact(*v));
        }
        if pairs.len() > MAX_BUCKETS_SHOWN {
            let _ = write!(out, "<br>… {} more", pairs.len() - MAX_BUCKETS_SHOWN);
        }
    };
    match v {
        Value::Scalar(x) => out.push_str(&exact(*x)),
        Value::Summary(s) => counted(out, (s.count, s.sum), "quantile", &s.quantiles),
        Value::Histogram(h) => {
            counted(out, (h.count, h.sum), "le", &h.buckets);
            if h.native.is_some() {
                out.push_str("<br><i>native buckets: in protobuf scrapes</i>");
            }
        }
    }
}
