//! The stored form of one group: immutable once built, shared by `Arc`.
//!
//! Owns: [`Group`], [`StoredFamily`], [`Series`], the Go Pushgateway's series order
//! ([`go_order`]) and each family's lazily rendered forms: per format, the gzip segment of all
//! its series (what Prometheus scrapes need; about 1/20 of the text) and the uncompressed
//! lines (built when an uncompressed scrape or a partial run needs them). Both are kept only
//! while the server's render budget admits them (see `render::cache`); otherwise they are made
//! for the scrape at hand and dropped after it.
//! Does not own: validation (see `consistency`) or the merge across groups (see `render`).
//!
//! A push builds new `StoredFamily` values outside the store lock (interned labels, sorted
//! series); the store then swaps in a new `Arc<Group>` that shares the families a POST did not
//! touch. Because a group is never mutated after it is published, a scrape that cloned the
//! `Arc` sees the whole push or none of it.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::grouping::GroupingKey;
use crate::model::{MetricType, Value};
use crate::render::cache::{Form, RenderBudget, Ticket};
use crate::render::gzip::Segment;
use crate::render::series::{render_lines, RenderedLines};
use crate::render::Format;

/// An interned string: one pointer wide, cheap to clone, compared by content (interned
/// copies can also be compared by pointer with [`Str::ptr_eq`]).
///
/// A shared `Box<str>` rather than an `Arc<str>`: label sets hold millions of these and a
/// thin pointer halves each pair (32 to 16 bytes); the extra hop to the text costs nothing
/// measurable in rendering, and the interner holds each distinct string only once.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Str(Arc<Box<str>>);

impl Str {
    /// Whether `a` and `b` are the same allocation (equal interned strings always are).
    #[must_use]
    pub fn ptr_eq(a: &Str, b: &Str) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// The number of references to this string (the interner's sweep drops the unshared).
    #[must_use]
    pub fn strong_count(s: &Str) -> usize {
        Arc::strong_count(&s.0)
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Str {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str(Arc::new(Box::from(s)))
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(Arc::new(s.into_boxed_str()))
    }
}

impl From<Box<str>> for Str {
    fn from(s: Box<str>) -> Self {
        Str(Arc::new(s))
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self.0, f)
    }
}

impl std::fmt::Display for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        **self.0 == *other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        **self.0 == **other
    }
}

/// A label set sorted by name, with the grouping labels applied and `instance` present.
pub type LabelSet = Arc<[(Str, Str)]>;

/// One stored metric: its full label set and its value.
#[derive(Debug, Clone)]
pub struct Series {
    /// Sorted by name; includes the grouping labels and `instance`.
    pub labels: LabelSet,
    /// The value; its variant fits the family type.
    pub value: Value,
}

/// One family as stored in one group.
#[derive(Debug)]
pub struct StoredFamily {
    /// The metric name.
    pub name: Str,
    /// The `# HELP` text as pushed.
    pub help: Option<Str>,
    /// The family type.
    pub kind: MetricType,
    /// Series in the Go Pushgateway's order (see [`go_order`]).
    pub series: Vec<Series>,
    /// Unix time in seconds of the push that wrote this family.
    pub pushed_at: f64,
    /// `series[k]` was series `order[k]` of the push (empty when not kept): a re-push with
    /// the same label sets in the same order is put in Go's order without sorting again.
    /// Shared by every re-push of the same shape.
    order: Arc<[u32]>,
    /// Uncompressed series: `[0]` text (and OpenMetrics, whose sample lines are the same),
    /// `[1]` protobuf. Kept only when the render budget admits them.
    lines: [OnceLock<Kept<RenderedLines>>; 2],
    /// gzip segments of all series, slots as in `lines`.
    segments: [OnceLock<Kept<Segment>>; 2],
    /// The uncompressed protobuf size of all series (a protobuf family's length prefix needs
    /// it even when neither form is kept).
    protobuf_len: OnceLock<usize>,
}

/// A rendering a family keeps, with its claim on the render budget (none when kept outside
/// any budget: the gateway's own families, which live for one scrape).
#[derive(Debug)]
struct Kept<T> {
    value: Arc<T>,
    _ticket: Option<Ticket>,
}

/// The rendering kept in `slot`, or a new one from `render`, kept when `budget` admits its
/// `size` (`None`: kept outside any budget); counts the hit or miss.
fn keep_or_make<T>(
    slot: &OnceLock<Kept<T>>,
    budget: Option<&Arc<RenderBudget>>,
    form: Form,
    render: impl FnOnce() -> T,
    size: impl FnOnce(&T) -> usize,
) -> Arc<T> {
    if let Some(kept) = slot.get() {
        if let Some(b) = budget {
            b.hit(form);
        }
        return kept.value.clone();
    }
    let made = Arc::new(render());
    let ticket = match budget {
        None => None,
        Some(b) => {
            b.miss(form);
            match b.admit(form, size(&made)) {
                Some(t) => Some(t),
                None => return made,
            }
        }
    };
    // A concurrent scrape may have kept its own rendering first: then ours (and its ticket)
    // is dropped after this scrape.
    let _ = slot.set(Kept {
        value: made.clone(),
        _ticket: ticket,
    });
    made
}

/// The cache slot of `format`'s rendering.
fn form_slot(format: Format) -> usize {
    match format {
        Format::Text | Format::OpenMetrics => 0,
        Format::Protobuf => 1,
    }
}

impl StoredFamily {
    /// Builds a family, sorting its series into the Go Pushgateway's order.
    #[must_use]
    pub fn new(
        name: Str,
        help: Option<Str>,
        kind: MetricType,
        series: Vec<Series>,
        pushed_at: f64,
    ) -> StoredFamily {
        Self::new_after(name, help, kind, series, pushed_at, None)
    }

    /// Like [`StoredFamily::new`], for a push that replaces `previous`: when the push has
    /// the same label sets (interned, so compared by pointer) in the same order as the push
    /// that made `previous`, its sort order is reused.
    #[must_use]
    pub fn new_after(
        name: Str,
        help: Option<Str>,
        kind: MetricType,
        series: Vec<Series>,
        pushed_at: f64,
        previous: Option<&StoredFamily>,
    ) -> StoredFamily {
        let reused = previous
            .filter(|p| {
                p.order.len() == series.len()
                    && p.order.iter().zip(&p.series).all(|(&i, s)| {
                        series
                            .get(i as usize)
                            .is_some_and(|pushed| Arc::ptr_eq(&pushed.labels, &s.labels))
                    })
            })
            .map(|p| p.order.clone());
        let order = reused.or_else(|| {
            let n = u32::try_from(series.len()).ok()?;
            let mut order: Vec<u32> = (0..n).collect();
            order
                .sort_by(|&a, &b| go_order(&series[a as usize].labels, &series[b as usize].labels));
            Some(order.into())
        });
        let (series, order) = if let Some(order) = order {
            let mut slots: Vec<Option<Series>> = series.into_iter().map(Some).collect();
            let sorted = order
                .iter()
                .map(|&i| slots[i as usize].take().expect("an order is a permutation"))
                .collect();
            (sorted, order)
        } else {
            let mut series = series;
            series.sort_by(|a, b| go_order(&a.labels, &b.labels));
            (series, Arc::from([]))
        };
        StoredFamily {
            name,
            help,
            kind,
            series,
            pushed_at,
            order,
            lines: Default::default(),
            segments: Default::default(),
            protobuf_len: OnceLock::new(),
        }
    }

    /// The uncompressed series of this family in `format`: the kept rendering, or a new one,
    /// kept when `budget` admits it (`None`: kept outside any budget).
    pub fn lines(&self, format: Format, budget: Option<&Arc<RenderBudget>>) -> Arc<RenderedLines> {
        keep_or_make(
            &self.lines[form_slot(format)],
            budget,
            Form::Lines,
            || self.render_lines(format),
            RenderedLines::heap_bytes,
        )
    }

    fn render_lines(&self, format: Format) -> RenderedLines {
        match format {
            Format::Text | Format::OpenMetrics => render_lines(self),
            Format::Protobuf => crate::render::protobuf::render_metrics(self),
        }
    }

    /// Whether the uncompressed lines in `format` are kept.
    #[must_use]
    pub fn keeps_lines(&self, format: Format) -> bool {
        self.lines[form_slot(format)].get().is_some()
    }

    /// Whether the gzip segment in `format` is kept.
    #[must_use]
    pub fn keeps_segment(&self, format: Format) -> bool {
        self.segments[form_slot(format)].get().is_some()
    }

    /// All series of this family in `format` as one gzip segment: the kept one, or a new one
    /// (from the kept lines if any, else from lines rendered just for it), kept when `budget`
    /// admits it.
    pub fn segment(&self, format: Format, budget: Option<&Arc<RenderBudget>>) -> Arc<Segment> {
        keep_or_make(
            &self.segments[form_slot(format)],
            budget,
            Form::Gzip,
            || match self.lines[form_slot(format)].get() {
                Some(lines) => Segment::compress([&lines.value.bytes]),
                None => Segment::compress([&self.render_lines(format).bytes]),
            },
            Segment::compressed_len,
        )
    }

    /// The uncompressed size of all series in `format`, from whichever form is kept (else the
    /// segment is made when `gzipped`, the lines when not). Remembered for protobuf, whose
    /// family prefix needs it on every scrape.
    pub fn whole_len(
        &self,
        format: Format,
        gzipped: bool,
        budget: Option<&Arc<RenderBudget>>,
    ) -> usize {
        let measure = || {
            let slot = form_slot(format);
            if let Some(lines) = self.lines[slot].get() {
                lines.value.bytes.len()
            } else if let Some(segment) = self.segments[slot].get() {
                segment.value.len()
            } else if gzipped {
                self.segment(format, budget).len()
            } else {
                self.lines(format, budget).bytes.len()
            }
        };
        match format {
            Format::Protobuf => *self.protobuf_len.get_or_init(measure),
            _ => measure(),
        }
    }
}

/// The push-time bookkeeping every group exposes as `push_time_seconds` and
/// `push_failure_time_seconds`, with the Go gateway's semantics: 0 means "never".
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PushTimes {
    /// Unix seconds of the last successful push (0 if none yet).
    pub success: f64,
    /// Unix seconds of the last failed push (0 if none yet).
    pub failure: f64,
    /// The group's push interval learned from its successful pushes (seconds), once two
    /// pushes at least [`MIN_LEARNED_INTERVAL`] apart were seen. Expiry uses it.
    pub interval: Option<f64>,
    /// How many gaps between pushes the interval was learned from.
    pub gaps: u32,
}

/// Gaps needed before the learned interval is used for expiry.
pub const MIN_GAPS_FOR_EXPIRY: u32 = 2;

/// Pushes closer together than this (a re-push, a race) do not teach the interval.
pub const MIN_LEARNED_INTERVAL: f64 = 1.0;

impl PushTimes {
    /// The times after a successful push at `now`. The interval follows the gaps between
    /// pushes "fast up, slow down": a longer gap is taken at once, a shorter one moves it by a
    /// tenth. So a manual re-push or a restart race shortly after a push (one short gap) cannot
    /// make expiry remove a group that still pushes at its real interval.
    #[must_use]
    pub fn after_success(self, now: f64) -> PushTimes {
        let gap = now - self.success;
        let (interval, gaps) = if self.success > 0.0 && gap >= MIN_LEARNED_INTERVAL {
            let interval = match self.interval {
                Some(i) if gap < i => 0.9 * i + 0.1 * gap,
                _ => gap,
            };
            (Some(interval), self.gaps.saturating_add(1))
        } else {
            (self.interval, self.gaps)
        };
        PushTimes {
            success: now,
            failure: self.failure,
            interval,
            gaps,
        }
    }

    /// The learned interval, once it rests on at least [`MIN_GAPS_FOR_EXPIRY`] gaps: one gap
    /// is not evidence of a schedule.
    #[must_use]
    pub fn trusted_interval(&self) -> Option<f64> {
        self.interval.filter(|_| self.gaps >= MIN_GAPS_FOR_EXPIRY)
    }
}

/// A group: everything pushed under one grouping key.
#[derive(Debug)]
pub struct Group {
    /// The grouping key from the push path.
    pub key: GroupingKey,
    /// The labels of the group's own series: the key plus `instance=""` when absent.
    pub labels: LabelSet,
    /// Pushed families by name (never `push_time_seconds` / `push_failure_time_seconds`).
    pub families: BTreeMap<Str, Arc<StoredFamily>>,
    /// Push times.
    pub times: PushTimes,
    /// The rendered `push_time_seconds` and `push_failure_time_seconds` lines.
    pub time_lines: [Bytes; 2],
}

impl Group {
    /// Builds a group and renders its push-time lines.
    #[must_use]
    pub fn new(
        key: GroupingKey,
        labels: LabelSet,
        families: BTreeMap<Str, Arc<StoredFamily>>,
        times: PushTimes,
    ) -> Group {
        let time_lines = [
            crate::render::series::render_scalar_line(PUSH_TIME_NAME, &labels, times.success),
            crate::render::series::render_scalar_line(
                PUSH_FAILURE_TIME_NAME,
                &labels,
                times.failure,
            ),
        ];
        Group {
            key,
            labels,
            families,
            times,
            time_lines,
        }
    }

    /// The same group with other push times (used to record a failed push).
    #[must_use]
    pub fn with_times(&self, times: PushTimes) -> Group {
        Group::new(
            self.key.clone(),
            self.labels.clone(),
            self.families.clone(),
            times,
        )
    }

    /// Number of series in the group, the two push-time series included.
    #[must_use]
    pub fn series_count(&self) -> usize {
        2 + self
            .families
            .values()
            .map(|f| f.series.len())
            .sum::<usize>()
    }
}

/// Name of the per-group success timestamp. A `static`, not a `const`: `series_id` hashes
/// the address of the text, which must be one across the crate, and every use of a `const`
/// may get its own copy (a lookup from another codegen unit missed the index that way).
pub static PUSH_TIME_NAME: &str = "push_time_seconds";
/// Name of the per-group failure timestamp.
pub static PUSH_FAILURE_TIME_NAME: &str = "push_failure_time_seconds";
/// Help of [`PUSH_TIME_NAME`], as in the Go gateway.
pub const PUSH_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway succeeded.";
/// Help of [`PUSH_FAILURE_TIME_NAME`], as in the Go gateway.
pub const PUSH_FAILURE_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway failed.";

/// The order in which the Go Pushgateway (`client_golang` `metricSorter`) lists the series of a
/// family: fewer labels first, then label *values* compared position by position over the
/// name-sorted label pairs (names are not compared).
#[must_use]
pub fn go_order(a: &[(Str, Str)], b: &[(Str, Str)]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        a.iter()
            .zip(b)
            .map(|((_, va), (_, vb))| {
                // Interned: equal values are mostly the same allocation.
                if Str::ptr_eq(va, vb) {
                    Ordering::Equal
                } else {
                    va.as_bytes().cmp(vb.as_bytes())
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Vec<(Str, Str)> {
        pairs
            .iter()
            .map(|(n, v)| (Str::from(*n), Str::from(*v)))
            .collect()
    }

    #[track_caller]
    fn check(a: &[(&str, &str)], b: &[(&str, &str)], want: Ordering) {
        assert_eq!(go_order(&ls(a), &ls(b)), want);
    }

    #[test]
    fn re_pushes_reuse_the_sort_order_only_when_the_push_order_is_the_same() {
        let sets: Vec<LabelSet> = ["c", "a", "b"]
            .iter()
            .map(|v| ls(&[("x", v)]).into())
            .collect();
        let push = |order: &[u8], base: f64| -> Vec<Series> {
            order
                .iter()
                .map(|&i| Series {
                    labels: sets[usize::from(i)].clone(),
                    value: Value::Scalar(base + f64::from(i)),
                })
                .collect()
        };
        let shown = |f: &StoredFamily| -> Vec<String> {
            f.series
                .iter()
                .map(|s| format!("{}={:?}", s.labels[0].1, s.value))
                .collect()
        };
        let name = Str::from("m");
        let first = StoredFamily::new(
            name.clone(),
            None,
            MetricType::Gauge,
            push(&[0, 1, 2], 0.0),
            0.0,
        );
        assert_eq!(
            shown(&first),
            ["a=Scalar(1.0)", "b=Scalar(2.0)", "c=Scalar(0.0)"]
        );
        let same = StoredFamily::new_after(
            name.clone(),
            None,
            MetricType::Gauge,
            push(&[0, 1, 2], 10.0),
            1.0,
            Some(&first),
        );
        assert!(
            Arc::ptr_eq(&same.order, &first.order),
            "the order is shared"
        );
        assert_eq!(
            shown(&same),
            ["a=Scalar(11.0)", "b=Scalar(12.0)", "c=Scalar(10.0)"]
        );
        let moved = StoredFamily::new_after(
            name,
            None,
            MetricType::Gauge,
            push(&[2, 0, 1], 20.0),
            2.0,
            Some(&same),
        );
        assert!(!Arc::ptr_eq(&moved.order, &first.order));
        assert_eq!(
            shown(&moved),
            ["a=Scalar(21.0)", "b=Scalar(22.0)", "c=Scalar(20.0)"]
        );
    }

    #[test]
    fn go_order_matches_client_golang_metric_sorter() {
        // Observed on Go Pushgateway 1.5.1: {instance,job,z} sorts before {a,instance,job}
        // because only values are compared, position by position.
        check(
            &[("instance", ""), ("job", "oa"), ("z", "0")],
            &[("a", "0"), ("instance", ""), ("job", "ob")],
            Ordering::Less,
        );
        check(&[("a", "3")], &[("a", "2"), ("b", "z")], Ordering::Less);
        check(&[("a", "2")], &[("a", "10")], Ordering::Greater);
        check(&[("a", "x")], &[("b", "x")], Ordering::Equal);
    }
}
