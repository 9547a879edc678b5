//! The web UI at `<prefix>/`: groups, a Flink view and a status page, server-rendered.
//!
//! Owns: every HTML page (`GET <prefix>/?view=groups|group|flink|status`, groups by default),
//! the two embedded assets (`GET <prefix>/ui/ui.css`, `GET <prefix>/ui/ui.js`, compiled in with
//! `include_str!`; no build step; a file of the same name in `--web.local-assets` replaces
//! one, for operators who restyle the UI), and the page-selection logic shared with
//! `GET /api/v1/groups` ([`select`]).
//! Does not own: deleting (the page script sends the push API's own `DELETE
//! <prefix>/metrics/job@base64/...`, as the Go UI does), the store, or routing.
//!
//! Data enters as a store snapshot plus the query string and leaves as one HTML document
//! built in a `String` off the async runtime (`spawn_blocking`). Every page is bounded: groups
//! are paginated server-side ([`groups`]), a group's series are shown only on demand and
//! capped, and the Flink view pages its clusters and caps its tables; so a store of 500,000
//! series costs a page O(groups) to filter and O(page) to render, never O(series).
//!
//! Safety: every label value, name and help text goes through [`html::esc`]; the pages carry
//! no inline script or style, so they are served with a strict `Content-Security-Policy` (no
//! inline code runs even if escaping were ever missed). All links are relative to `<prefix>/`,
//! so the UI works under `--web.route-prefix` and behind a proxy serving `--web.external-url`.

pub mod html;
pub mod query;
pub mod select;

mod flink;
mod groups;
mod health;
mod status;

use std::fmt::Write as _;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, Response, StatusCode};

use crate::flink::expiry::Reason;
use crate::grouping::{GroupingKey, GroupingKeyError};
use crate::server::body::Body;
use crate::server::response::{method_not_allowed, not_found, options, text, Resp};
use crate::server::AppState;
use crate::store::group::Group;
use crate::store::Snapshot;
use query::{Query, QueryError};

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");

/// What the pages may load: their own assets and API, nothing inline, nothing foreign.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Why a page cannot be shown. 400 for bad input, 404 for a group that is not there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// Occurs when a query parameter is malformed or out of range.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Occurs when `g` is not a push path (`job@base64/.../name@base64/...`).
    #[error("query parameter g={path:?} is not a group path: {source}")]
    GroupPath {
        /// The parameter as given.
        path: String,
        /// Why the grouping-key parser refused it.
        source: GroupingKeyError,
    },
    /// Occurs when `view=group` comes without `g`.
    #[error("view=group needs g=<group path>, the part after /metrics/ of the group's push URL")]
    MissingGroup,
    /// Occurs when the group of `g` is not in the store (deleted or expired meanwhile).
    #[error("group {0} is not in the store (deleted or expired?)")]
    NoSuchGroup(String),
}

/// Times and settings every view needs to show a group.
pub struct Ctx<'a> {
    /// The server state.
    pub state: &'a AppState,
    /// Unix seconds when the page was made.
    pub now: f64,
    not_before: f64,
}

impl<'a> Ctx<'a> {
    /// A context at the current time.
    #[must_use]
    pub fn new(state: &'a AppState) -> Ctx<'a> {
        Ctx {
            state,
            now: crate::store::now_seconds(),
            not_before: f64::from_bits(
                state.restored_at.load(std::sync::atomic::Ordering::Relaxed),
            ),
        }
    }

    /// Whether `g` was written by a Flink reporter (carries the reporter id).
    #[must_use]
    pub fn reporter(&self, g: &Group) -> bool {
        crate::flink::is_reporter_group(&g.key, &self.state.config.flink)
    }

    /// When `g` expires (Unix seconds) and why, if it ever does.
    #[must_use]
    pub fn expiry(&self, g: &Group) -> Option<(f64, Reason)> {
        crate::flink::expiry::deadline(
            g,
            self.reporter(g),
            &self.state.config.expiry,
            self.not_before,
        )
    }
}

/// The push path of a group after `/metrics/`, every value base64-encoded (`=` for an empty
/// one, as the Go UI sends), so any label value survives the trip through a URL.
#[must_use]
pub fn group_path(key: &GroupingKey) -> String {
    let b64 = |v: &str| {
        if v.is_empty() {
            "=".to_owned()
        } else {
            crate::grouping::encode_base64_url(v.as_bytes())
        }
    };
    let mut out = format!("job@base64/{}", b64(key.job()));
    for (name, value) in key.labels().iter().filter(|(n, _)| &**n != "job") {
        let _ = write!(out, "/{name}@base64/{}", b64(value));
    }
    out
}

/// Routes `GET <prefix>/` and `GET <prefix>/ui/*`; `None` for any other path.
pub async fn route(state: &Arc<AppState>, req: &Request<Incoming>, rel: &str) -> Option<Resp> {
    // Go's UI serves its status page here; bookmarks and proxy health pages use it.
    if rel == "/status" && *req.method() == Method::GET {
        return Some(page(state, Some(status_query(req.uri().query()))).await);
    }
    let asset = match rel {
        "/" | "/status" => None,
        "/ui/ui.css" => Some(("ui.css", "text/css; charset=utf-8", CSS)),
        "/ui/ui.js" => Some(("ui.js", "text/javascript; charset=utf-8", JS)),
        _ => return rel.starts_with("/ui/").then(not_found),
    };
    Some(match *req.method() {
        Method::GET => match asset {
            Some((name, kind, embedded)) => serve_asset(state, name, kind, embedded).await,
            None => page(state, req.uri().query().map(str::to_owned)).await,
        },
        Method::OPTIONS => options("GET, OPTIONS"),
        _ => method_not_allowed("GET, OPTIONS"),
    })
}

/// The query of `GET <prefix>/status`: the status view unless the query names another.
fn status_query(query: Option<&str>) -> String {
    match query {
        Some(q) if q.split('&').any(|p| p.starts_with("view=")) => q.to_owned(),
        Some(q) if !q.is_empty() => format!("view=status&{q}"),
        _ => "view=status".to_owned(),
    }
}

/// An asset: `<--web.local-assets>/<name>` when that flag is set and the file is there (read
/// on every request and never cached, so edits show on reload), else the embedded copy.
async fn serve_asset(
    state: &AppState,
    name: &'static str,
    kind: &'static str,
    embedded: &'static str,
) -> Resp {
    let Some(dir) = state.config.local_assets.clone() else {
        return asset_response(kind, Body::from(embedded), "public, max-age=3600");
    };
    let path = dir.join(name);
    match tokio::task::spawn_blocking(move || std::fs::read(&path)).await {
        Ok(Ok(bytes)) => asset_response(kind, Body::from(bytes::Bytes::from(bytes)), "no-cache"),
        _ => asset_response(kind, Body::from(embedded), "no-cache"),
    }
}

/// `<prefix>` without its trailing slash: a redirect to `<prefix>/`, relative (`name/`) so it
/// also holds behind a proxy that adds path segments.
#[must_use]
pub fn redirect_to_slash(prefix: &str) -> Resp {
    let last = prefix.rsplit('/').next().unwrap_or_default();
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    let location = format!("{last}/");
    r.headers_mut().insert(
        LOCATION,
        HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("./")),
    );
    r
}

fn asset_response(kind: &'static str, body: Body, cache: &'static str) -> Resp {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    // Page links carry `?v=<version>`, so a new build's assets are fetched anew.
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn page(state: &Arc<AppState>, raw_query: Option<String>) -> Resp {
    let st = state.clone();
    let made = tokio::task::spawn_blocking(move || render(&st, raw_query.as_deref())).await;
    match made {
        Ok(Ok(html)) => html_response(html),
        Ok(Err(e @ UiError::NoSuchGroup(_))) => text(StatusCode::NOT_FOUND, &e.to_string()),
        Ok(Err(e)) => text(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "rendering a UI page failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the page failed",
            )
        }
    }
}

fn html_response(html: String) -> Resp {
    let mut r = Response::new(Body::from(html));
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    r
}

/// The views, as `view=` names them.
const VIEWS: [&str; 4] = ["groups", "group", "flink", "status"];

/// One page (or, with `fragment=1`, only its main part, for the page script to insert).
fn render(state: &AppState, raw_query: Option<&str>) -> Result<String, UiError> {
    let q = Query::parse(raw_query)?;
    let view = q.choice("view", &VIEWS)?;
    let ctx = Ctx::new(state);
    let snapshot = state.store.snapshot();
    let mut main = String::with_capacity(16 * 1024);
    let title = match view {
        "group" => groups::group_page(&ctx, &q, &mut main)?,
        "flink" => flink::page(&ctx, &snapshot, &q, &mut main)?,
        "status" => status::page(&ctx, &mut main),
        _ => groups::page(&ctx, &snapshot, &q, &mut main)?,
    };
    if q.get("fragment").is_some() {
        return Ok(main);
    }
    Ok(layout(&ctx, &snapshot, view, &title, &main))
}

/// The document around a view: head, navigation, the view, the script.
fn layout(ctx: &Ctx<'_>, snapshot: &Snapshot, view: &str, title: &str, main: &str) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = String::with_capacity(main.len() + 4096);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<meta name=\"robots\" content=\"noindex,nofollow\"><title>");
    html::esc(&mut out, title);
    let _ = write!(
        out,
        " · pushgate</title><link rel=\"stylesheet\" href=\"ui/ui.css?v={version}\">\
         <script defer src=\"ui/ui.js?v={version}\"></script></head>\n<body data-now=\"{:.3}\">",
        ctx.now
    );
    nav(&mut out, ctx, snapshot, view);
    out.push('\n');
    out.push_str("<div id=\"flash\" role=\"status\" aria-live=\"polite\"></div>\n<main>");
    out.push_str(main);
    out.push_str("</main></body></html>\n");
    out
}

fn nav(out: &mut String, ctx: &Ctx<'_>, snapshot: &Snapshot, view: &str) {
    let (groups, series) = ctx.state.store.counts();
    let flink_groups = snapshot
        .groups
        .iter()
        .filter(|g| flink::role(g, ctx).is_some())
        .count();
    out.push_str("<nav><a class=\"brand\" href=\"./\">pushgate</a>");
    let tab = |out: &mut String, name: &str, href: &str, label: &str| {
        let class = if view == name || (name == "groups" && view == "group") {
            " class=\"active\""
        } else {
            ""
        };
        let _ = write!(out, "<a{class} href=\"{href}\">{label}</a>");
    };
    tab(out, "groups", "./", "Groups");
    if flink_groups > 0 {
        tab(out, "flink", "?view=flink", "Flink");
    }
    tab(out, "status", "?view=status", "Status");
    let telemetry = ctx.state.config.telemetry_path.trim_start_matches('/');
    let _ = write!(
        out,
        "<span class=\"totals\"><b class=\"count-groups\">{}</b> groups · <b class=\"count-series\">{}</b> series{}</span>\
         <a class=\"raw\" href=\"{telemetry}\">{telemetry}</a></nav>",
        html::number(usize_f64(groups)),
        html::number(usize_f64(series)),
        if flink_groups > 0 {
            format!(" · <b class=\"count-flink\">{flink_groups}</b> from Flink")
        } else {
            String::new()
        },
    );
}

/// A count as `f64`, for [`html::number`].
#[allow(
    clippy::cast_precision_loss,
    reason = "counts shown on a page are far below 2^52"
)]
fn usize_f64(n: usize) -> f64 {
    n as f64
}

/// The "Metrics" and "Delete" buttons of one group.
fn actions(out: &mut String, g: &Group) {
    let path = group_path(&g.key);
    out.push_str("<td class=\"actions\"><a class=\"btn metrics\" href=\"?view=group&amp;g=");
    let mut encoded = String::new();
    query::encode(&mut encoded, &path);
    html::esc(out, &encoded);
    out.push_str("\">Metrics</a> <button type=\"button\" class=\"btn danger del\" data-path=\"");
    html::esc(out, &path);
    out.push_str("\">Delete</button></td>");
}

/// `data-key` of a group row: its key as `{job="x",k="v"}`, for the script's messages.
fn row_open(out: &mut String, g: &Group, class: &str) {
    let _ = write!(out, "<tr class=\"{class}\" data-key=\"");
    html::esc(out, &g.key.to_string());
    out.push_str("\" data-path=\"");
    html::esc(out, &group_path(&g.key));
    out.push_str("\">");
}

/// The series-count and last-push cells of a group's row (groups view and Flink processes).
fn series_and_push_cells(out: &mut String, ctx: &Ctx<'_>, g: &Group) {
    let _ = write!(
        out,
        "<td class=\"num series\">{}</td><td>",
        html::number(usize_f64(g.series_count()))
    );
    html::time_ago(out, g.times.success, ctx.now);
    out.push_str("</td>");
}

/// "in 25s (missed pushes)", "never", or "due" once past.
fn expiry_cell(out: &mut String, ctx: &Ctx<'_>, g: &Group) {
    match ctx.expiry(g) {
        None if ctx.reporter(g) => {
            let _ = write!(
                out,
                "<td class=\"muted\">after {} missed pushes<br><small>once the interval is learned</small></td>",
                ctx.state.config.expiry.missed_pushes
            );
        }
        None => out.push_str("<td class=\"muted\">never</td>"),
        Some((at, reason)) => {
            let why = match reason {
                Reason::MissedPushes => "missed pushes",
                Reason::Ttl => "group TTL",
            };
            let soon = if at - ctx.now < 60.0 { " soon" } else { "" };
            let _ = write!(
                out,
                "<td class=\"expiry{soon}\"><span data-until=\"{at:.3}\">in {}</span><br><small>{why}</small></td>",
                html::duration((at - ctx.now).max(0.0))
            );
        }
    }
}

/// A page-navigation bar: `base` is the query without `page=`.
fn pager(out: &mut String, base: &str, page: usize, pages: usize) {
    if pages <= 1 {
        return;
    }
    out.push_str("<nav class=\"pager\">");
    let link = |out: &mut String, p: usize, label: &str, on: bool| {
        if on {
            let _ = write!(out, "<a href=\"?");
            html::esc(out, base);
            let _ = write!(out, "page={p}\">{label}</a>");
        } else {
            let _ = write!(out, "<span class=\"off\">{label}</span>");
        }
    };
    link(out, 1, "« First", page > 1);
    link(out, page.saturating_sub(1).max(1), "‹ Prev", page > 1);
    let _ = write!(out, "<span class=\"at\">Page {page} of {pages}</span>");
    link(out, (page + 1).min(pages), "Next ›", page < pages);
    link(out, pages, "Last »", page < pages);
    out.push_str("</nav>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_paths_round_trip_through_the_push_path_parser() {
        let key = GroupingKey::from_pairs([
            ("job".to_owned(), "a/b c".to_owned()),
            ("empty".to_owned(), String::new()),
            ("x".to_owned(), "<\"ü\">".to_owned()),
        ])
        .expect("valid key");
        let path = group_path(&key);
        assert!(path.starts_with("job@base64/"), "{path}");
        assert_eq!(GroupingKey::from_path(&path).expect("parses"), key);
    }
}
