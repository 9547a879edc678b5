//! `GET <prefix>/metrics`: the merged exposition of every group plus the gateway's own
//! metrics, in the format and encoding the scraper prefers.
//!
//! Owns: content negotiation ([`negotiate`] over `Accept`, [`accepts_gzip`] over
//! `Accept-Encoding`) and the scrape response. The body is rendered on a low-priority thread
//! and streamed while it is made (see [`super::render_pool`]): the first bytes leave at once,
//! at most a few batches wait in memory, and a push never waits behind a scrape. The stored
//! families keep their renderings under `--render.cache-bytes` (see [`crate::render::cache`]),
//! so repeated scrapes of an unchanged store cost only what does not fit, plus the gateway's
//! own families.
//!
//! Negotiation, as prometheus/common `expfmt.Negotiate` does it, plus OpenMetrics: the media
//! range with the highest `q` that we can serve wins (ties: the earlier one in the header).
//! Delimited protobuf needs `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`;
//! OpenMetrics needs `version=1.0.0` or no version; `text/plain`, `text/*` and `*/*` get the
//! text format 0.0.4, and so does a request without `Accept` or with nothing we serve (as in
//! the Go gateway, never 406). Prometheus 2.42 prefers OpenMetrics by default and protobuf with
//! `--enable-feature=native-histograms`.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use hyper::header::{
    HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY,
};
use hyper::{Response, StatusCode};

use super::body::{Body, Streamed};
use super::response::{text, Resp};
use super::AppState;
use crate::parse::{PROTOBUF_MEDIA_TYPE, PROTOBUF_PROTO};
use crate::render::Format;

/// Content type of the text exposition format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `GET <prefix><telemetry path>/aggregated`: the rollups only, text format, rendered
/// once per store generation.
pub async fn aggregated(state: &Arc<AppState>) -> Resp {
    let st = state.clone();
    match state
        .render
        .run(move || {
            let rollups = st.aggregator.render(&st.store.snapshot());
            let signals = crate::flink::signals::expose::families(&st.signals.latest());
            if signals.is_empty() {
                return rollups;
            }
            let empty = crate::store::Snapshot {
                generation: 0,
                groups: Vec::new(),
            };
            let mut body = rollups.to_vec();
            body.extend(crate::render::assemble(&[], &empty, &signals).concat());
            bytes::Bytes::from(body)
        })
        .await
    {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "rollup rendering failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "rollup rendering failed")
        }
    }
}

/// Compressing a push's families right after it is applied, in the gzip form scrapes last
/// asked for, on the low-priority render threads: in steady state (every TaskManager
/// re-pushing every interval) a scrape then finds nearly every family compressed and only
/// concatenates. Skipped while no gzip scrape came yet, while [`Prerender::MAX_PENDING`]
/// groups wait, and while the render budget is full (the work would not be kept).
#[derive(Debug, Default)]
pub struct Prerender {
    /// 0: no gzip scrape yet; 1 + `Format::slot()` of the last one.
    format: AtomicU8,
    pending: Arc<AtomicUsize>,
}

impl Prerender {
    /// Groups waiting to be compressed, at most; pushes beyond it leave the work to the scrape.
    pub const MAX_PENDING: usize = 8;

    fn asked(&self, format: Format) {
        let code = match format {
            Format::Protobuf => 2,
            Format::Text | Format::OpenMetrics => 1,
        };
        self.format.store(code, Relaxed);
    }

    /// Whether a gzip scrape came yet (only then is there anything to do after a push).
    #[must_use]
    pub fn wanted(&self) -> bool {
        self.format.load(Relaxed) != 0
    }

    /// Queues the compression of `key`'s families, as just stored.
    pub fn after_push(state: &AppState, key: &crate::grouping::GroupingKey) {
        let format = match state.prerender.format.load(Relaxed) {
            1 => Format::Text,
            2 => Format::Protobuf,
            _ => return,
        };
        let budget = state.cache.budget().clone();
        if budget.used() >= budget.limit() {
            return;
        }
        let pending = state.prerender.pending.clone();
        if pending.fetch_add(1, Relaxed) >= Self::MAX_PENDING {
            pending.fetch_sub(1, Relaxed);
            return;
        }
        let Some(group) = state.store.group(key) else {
            pending.fetch_sub(1, Relaxed);
            return;
        };
        state.render.spawn(move || {
            for family in group.families.values() {
                let _ = family.segment(format, Some(&budget));
            }
            pending.fetch_sub(1, Relaxed);
        });
    }
}

/// Serves a scrape.
pub async fn scrape(state: &Arc<AppState>, headers: &HeaderMap) -> Resp {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let format = negotiate(header(ACCEPT));
    let gzipped = accepts_gzip(header(ACCEPT_ENCODING));
    if gzipped {
        state.prerender.asked(format);
    }
    state
        .metrics
        .record_scrape(format.name(), if gzipped { "gzip" } else { "identity" });
    let st = state.clone();
    let work = move |emit: &mut dyn FnMut(bytes::Bytes) -> bool| {
        let snapshot = st.store.snapshot();
        let shared = st.cache.generation(snapshot.generation);
        let (groups, series) = st.store.counts();
        let mut own = st.metrics.families(
            groups,
            series,
            st.store.indexed_series(),
            snapshot.generation,
        );
        own.extend(st.cache.budget().families());
        own.extend(crate::remote_write::metrics::families(&st.remote_write));
        if st.aggregator.append_to_metrics {
            own.extend(st.aggregator.evaluate(&snapshot));
        }
        own.extend(crate::flink::signals::expose::families(
            &st.signals.latest(),
        ));
        if gzipped {
            // A helper compresses from the far end while this thread streams from the start.
            let helper = shared.clone();
            let chunks = shared.gzip_chunks(&snapshot, format);
            st.render
                .spawn(move || helper.precompress_backwards(&chunks, format));
        }
        shared.stream(&snapshot, &own, format, gzipped, emit)
    };
    let stall = state.config.scrape_stall_timeout;
    let first = match state.render.stream(stall, work).await {
        Ok(mut rx) => match rx.recv().await {
            Some(Streamed::Chunks(first)) => Ok((first, Some(rx))),
            Some(Streamed::Done) => Ok((Vec::new(), None)),
            None => Err("the render thread stopped"),
        },
        Err(_) => Err("no render thread could be started"),
    };
    match first {
        Ok((first, rx)) => {
            let body = match rx {
                Some(rx) => Body::stream(first, rx),
                None => Body::chunks(first),
            };
            let mut r = Response::new(body);
            let h = r.headers_mut();
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            h.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
            if gzipped {
                h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        Err(e) => {
            tracing::error!(error = e, "scrape rendering failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "scrape rendering failed")
        }
    }
}

/// The exposition format for an `Accept` header.
#[must_use]
pub fn negotiate(accept: Option<&str>) -> Format {
    let mut best: Option<(f64, Format)> = None;
    for range in accept.unwrap_or_default().split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or_default().trim();
        let (mut q, mut version, mut proto, mut encoding) = (1.0, None, None, None);
        for (name, value) in params.filter_map(|p| p.split_once('=')) {
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => q = value.parse().unwrap_or(0.0),
                "version" => version = Some(value),
                "proto" => proto = Some(value),
                "encoding" => encoding = Some(value),
                _ => {}
            }
        }
        let format = if media.eq_ignore_ascii_case(PROTOBUF_MEDIA_TYPE) {
            (proto == Some(PROTOBUF_PROTO) && encoding == Some("delimited"))
                .then_some(Format::Protobuf)
        } else if media.eq_ignore_ascii_case("application/openmetrics-text") {
            matches!(version, None | Some("1.0.0")).then_some(Format::OpenMetrics)
        } else if media.eq_ignore_ascii_case("text/plain")
            || media.eq_ignore_ascii_case("text/*")
            || media == "*/*"
        {
            Some(Format::Text)
        } else {
            None
        };
        if let Some(format) = format {
            if q > 0.0 && best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, format));
            }
        }
    }
    best.map_or(Format::Text, |(_, f)| f)
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*` with a non-zero `q`).
#[must_use]
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.unwrap_or_default().split(',').any(|item| {
        let mut params = item.split(';');
        let coding = params.next().unwrap_or_default().trim();
        let q = params
            .filter_map(|p| p.split_once('='))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse().unwrap_or(0.0));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_2_42_DEFAULT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROMETHEUS_2_42_NATIVE_HISTOGRAMS: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[track_caller]
    fn check(accept: Option<&str>, want: Format) {
        assert_eq!(negotiate(accept), want, "{accept:?}");
    }

    #[test]
    fn accept_headers_choose_the_format() {
        check(None, Format::Text);
        check(Some(""), Format::Text);
        check(Some("*/*"), Format::Text);
        check(Some("application/json"), Format::Text);
        check(Some(PROMETHEUS_2_42_DEFAULT), Format::OpenMetrics);
        check(Some(PROMETHEUS_2_42_NATIVE_HISTOGRAMS), Format::Protobuf);
        check(
            Some("text/plain;q=0.9,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5"),
            Format::Text,
        );
        check(
            Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"),
            Format::Text,
        );
        check(
            Some("application/openmetrics-text; version=0.0.1"),
            Format::Text,
        );
        check(Some("Application/OpenMetrics-Text"), Format::OpenMetrics);
        check(
            Some("application/openmetrics-text;q=0,text/plain;q=0.1"),
            Format::Text,
        );
    }

    #[test]
    fn accept_encoding_gzip_needs_a_positive_q() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}
