//! The budget of the render cache: how many bytes of rendered series the stored families may
//! keep between scrapes (`--render.cache-bytes`), and its hit and miss counts.
//!
//! Owns: [`RenderBudget`] (the limit, the bytes in use, the counters), [`Ticket`] (one kept
//! rendering's claim on the budget, given back when the rendering is dropped) and the
//! `pushgate_render_cache_*` families.
//! Does not own: what is rendered or where it is kept (each `StoredFamily` keeps its own forms,
//! see `store::group`), nor when a family is replaced (a push drops the old family, and with it
//! its tickets).
//!
//! Policy: admission, no eviction. A rendering is kept when it fits; otherwise it is made for
//! the scrape that needs it and dropped when that scrape has sent it. The compressed form is
//! what Prometheus asks for, so it may fill the whole budget, while uncompressed lines (identity
//! text and protobuf, rarely asked for, and about 20 times larger) are kept only while the cache
//! is under a quarter full: a small store keeps everything, a large one keeps its compressed
//! form whichever format was asked for first. Because every Flink TaskManager re-pushes every interval, the families
//! (and their tickets) turn over continuously: a budget that cannot hold the whole store holds
//! the most recently asked-for part of it, and the hit rate says how much.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use crate::model::{MetricType, Value};
use crate::store::group::{Series, StoredFamily, Str};

/// The two forms a family keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Uncompressed series lines (text/OpenMetrics) or encoded metrics (protobuf).
    Lines,
    /// A gzip (deflate) segment of all series of a family.
    Gzip,
}

impl Form {
    fn index(self) -> usize {
        match self {
            Form::Lines => 0,
            Form::Gzip => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Form::Lines => "lines",
            Form::Gzip => "gzip",
        }
    }
}

/// The render cache's budget and counters, shared by every family of one server.
#[derive(Debug)]
pub struct RenderBudget {
    limit: usize,
    used: AtomicUsize,
    hits: [AtomicU64; 2],
    misses: [AtomicU64; 2],
    refused: [AtomicU64; 2],
}

impl RenderBudget {
    /// A budget of `limit` bytes.
    #[must_use]
    pub fn new(limit: usize) -> Arc<RenderBudget> {
        Arc::new(RenderBudget {
            limit,
            used: AtomicUsize::new(0),
            hits: Default::default(),
            misses: Default::default(),
            refused: Default::default(),
        })
    }

    /// A budget that keeps everything (benches and tools that render a store once).
    #[must_use]
    pub fn unlimited() -> Arc<RenderBudget> {
        RenderBudget::new(usize::MAX)
    }

    /// The limit in bytes.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes kept now.
    #[must_use]
    pub fn used(&self) -> usize {
        self.used.load(Relaxed)
    }

    /// Claims `bytes` for a rendering in `form`, or says it does not fit (and counts that).
    pub fn admit(self: &Arc<Self>, form: Form, bytes: usize) -> Option<Ticket> {
        let cap = match form {
            Form::Gzip => self.limit,
            Form::Lines => self.limit / 4,
        };
        let claimed = self
            .used
            .fetch_update(Relaxed, Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= cap)
            })
            .is_ok();
        if claimed {
            Some(Ticket {
                budget: self.clone(),
                bytes,
            })
        } else {
            self.refused[form.index()].fetch_add(1, Relaxed);
            None
        }
    }

    /// Counts a rendering served from the cache.
    pub fn hit(&self, form: Form) {
        self.hits[form.index()].fetch_add(1, Relaxed);
    }

    /// Counts a rendering that had to be made.
    pub fn miss(&self, form: Form) {
        self.misses[form.index()].fetch_add(1, Relaxed);
    }

    /// The `pushgate_render_cache_*` families.
    #[must_use]
    #[allow(
        clippy::cast_precision_loss,
        reason = "byte and event counts far below 2^52"
    )]
    pub fn families(&self) -> Vec<StoredFamily> {
        let gauge = |name: &str, help: &str, v: f64| {
            StoredFamily::new(
                Str::from(name),
                Some(Str::from(help)),
                MetricType::Gauge,
                vec![Series {
                    labels: Arc::from([]),
                    value: Value::Scalar(v),
                }],
                0.0,
            )
        };
        let by_form = |name: &str, help: &str, counts: &[AtomicU64; 2]| {
            let series = [Form::Lines, Form::Gzip]
                .into_iter()
                .map(|form| Series {
                    labels: Arc::from([(Str::from("form"), Str::from(form.name()))]),
                    value: Value::Scalar(counts[form.index()].load(Relaxed) as f64),
                })
                .collect();
            StoredFamily::new(
                Str::from(name),
                Some(Str::from(help)),
                MetricType::Counter,
                series,
                0.0,
            )
        };
        vec![
            gauge(
                "pushgate_render_cache_bytes",
                "Bytes of rendered series the stored families keep between scrapes.",
                self.used() as f64,
            ),
            gauge(
                "pushgate_render_cache_limit_bytes",
                "The render cache budget (--render.cache-bytes); uncompressed lines are kept only while the cache is under a quarter of it.",
                self.limit as f64,
            ),
            by_form(
                "pushgate_render_cache_hits_total",
                "Family renderings a scrape took from the cache, by form (lines: uncompressed, gzip: compressed segment).",
                &self.hits,
            ),
            by_form(
                "pushgate_render_cache_misses_total",
                "Family renderings a scrape had to make, by form.",
                &self.misses,
            ),
            by_form(
                "pushgate_render_cache_refused_total",
                "Renderings made but not kept because the budget was full, by form.",
                &self.refused,
            ),
        ]
    }
}

/// One kept rendering's claim on the budget; gives its bytes back when dropped.
#[derive(Debug)]
pub struct Ticket {
    budget: Arc<RenderBudget>,
    bytes: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_claim_within_the_limit_and_give_back_on_drop() {
        let b = RenderBudget::new(100);
        let a = b.admit(Form::Gzip, 60).expect("fits");
        assert!(b.admit(Form::Gzip, 41).is_none());
        let c = b.admit(Form::Gzip, 40).expect("fits exactly");
        assert_eq!(b.used(), 100);
        drop(a);
        drop(c);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn lines_are_kept_only_below_a_quarter_of_the_budget() {
        let b = RenderBudget::new(100);
        assert!(b.admit(Form::Lines, 26).is_none());
        let l = b.admit(Form::Lines, 25).expect("a quarter fits");
        assert!(b.admit(Form::Lines, 1).is_none());
        let g = b.admit(Form::Gzip, 75).expect("gzip may use the rest");
        assert_eq!(b.used(), 100);
        drop((l, g));
        assert_eq!(b.used(), 0);
    }
}
