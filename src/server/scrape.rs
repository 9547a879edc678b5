//! `GET <prefix>/metrics`: the merged exposition of every group plus the gateway's own
//! metrics.
//!
//! Owns: the scrape response. Rendering runs on the blocking pool (a cold render of a large
//! store takes milliseconds); the per-generation [`crate::render::ScrapeCache`] makes repeated
//! scrapes of an unchanged store cost only the gateway's own families.

use std::sync::Arc;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use super::body::Body;
use super::response::{text, Resp};
use super::AppState;
use crate::render;

/// Content type of the text exposition format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves a scrape.
pub async fn scrape(state: &Arc<AppState>) -> Resp {
    let st = state.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let snapshot = st.store.snapshot();
        let chunks = st.cache.get_or_render(&snapshot);
        let (groups, series) = st.store.counts();
        let own = st.metrics.families(groups, series, snapshot.generation);
        render::assemble(&chunks, &snapshot, &own)
    })
    .await;
    match rendered {
        Ok(parts) => {
            let mut r = Response::new(Body::chunks(parts));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "scrape rendering failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "scrape rendering failed")
        }
    }
}
