//! Remote-Write 1.0 encoding: store snapshots into protobuf `WriteRequest` batches.
//!
//! Owns: turning a store [`Snapshot`] into a [`TickPlan`] (which rows a tick sends, which go
//! stale), the per-series label bytes cache ([`Encoder`]), the last acknowledged tick (for
//! stale markers), and writing bounded batches ([`TickPlan::next_batch`]).
//! Does not own: compression, HTTP or retries (see `sender`), or when ticks happen.
//!
//! A *row* is one Remote-Write `TimeSeries` with one sample: a gauge series is one row, a
//! summary series one row per quantile plus `_sum` and `_count`, a histogram series one per
//! bucket (`+Inf` added when missing) plus `_sum` and `_count`. Rows are encoded by hand with
//! the `prost::encoding` helpers: each row's labels (the `Label` fields, `__name__` included,
//! sorted bytewise, names unique, empty values dropped) are encoded once and kept per family
//! ([`EncodedFamily`]); a later tick whose family has the same label sets (interned, so
//! compared by pointer) reuses them, so a tick costs a copy of the label bytes plus an
//! 18-byte sample per row.
//!
//! Stale markers: rows present in the last *acknowledged* tick ([`Encoder::ack`]) but absent
//! from the current one get `StaleNaN` at the current tick's timestamp. Diffing against the
//! acknowledged tick (not the last planned one) keeps markers across dropped ticks. One rule
//! covers DELETE, PUT replace, expiry and wipe.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

use crate::grouping::GroupingKey;
use crate::model::{is_valid_label_name, is_valid_metric_name, MetricType, Value};
use crate::store::group::{
    Group, LabelSet, Series, StoredFamily, Str, PUSH_FAILURE_TIME_NAME, PUSH_TIME_NAME,
};
use crate::store::Snapshot;

/// The bits of Prometheus' stale marker (`model/value/value.go` `StaleNaN`).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// The bits every other NaN is sent as (`NormalNaN`), so a push cannot forge a stale marker.
pub const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

/// The value bits sent for `v`: NaNs normalised to [`NORMAL_NAN`].
#[must_use]
pub fn wire_bits(v: f64) -> u64 {
    if v.is_nan() {
        NORMAL_NAN
    } else {
        v.to_bits()
    }
}

/// Caps on one request's raw (uncompressed) protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most rows (`TimeSeries`) in one request.
    pub max_rows: usize,
    /// Most raw bytes in one request (one row over it still goes alone).
    pub max_bytes: usize,
}

/// The label bytes of one family's rows, as of the push that made `shape`.
#[derive(Debug)]
pub struct EncodedFamily {
    /// The family name (`push_time_seconds` for a group's push-time rows).
    name: Str,
    kind: MetricType,
    /// The label sets the rows were built from: held, so pointer comparison stays sound.
    shape: Vec<LabelSet>,
    /// Per series, the sample layout of a summary or histogram (empty for scalar families).
    layouts: Vec<Box<[u64]>>,
    /// `rows_end[i]`: end (exclusive) in `ends` of series `i`'s rows; 0 rows = skipped series.
    rows_end: Vec<u32>,
    /// `ends[r]`: end (exclusive) in `labels` of row `r`'s label bytes.
    ends: Vec<u32>,
    /// Every row's encoded `Label` fields, back to back.
    labels: Vec<u8>,
    /// Series skipped because a label name or the metric name is invalid in Remote-Write.
    invalid: usize,
}

impl EncodedFamily {
    fn row(&self, r: usize) -> &[u8] {
        let start = if r == 0 { 0 } else { self.ends[r - 1] as usize };
        &self.labels[start..self.ends[r] as usize]
    }

    fn series_rows(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 {
            0
        } else {
            self.rows_end[i - 1] as usize
        };
        start..self.rows_end[i] as usize
    }

    /// Rows in this family.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.ends.len()
    }

    fn fits(&self, name: &Str, kind: MetricType, series: &[Series]) -> bool {
        self.kind == kind
            && *self.name == **name
            && self.shape.len() == series.len()
            && self
                .shape
                .iter()
                .zip(series)
                .all(|(a, s)| Arc::ptr_eq(a, &s.labels))
            && (self.layouts.is_empty()
                || self
                    .layouts
                    .iter()
                    .zip(series)
                    .all(|(l, s)| **l == *layout(&s.value)))
    }
}

/// One sample slot of a series: the name suffix, the extra label, the value.
type Slot = (&'static str, Option<(&'static str, f64)>, f64);

/// Calls `f` for every row of a series, in the order rows are encoded.
fn slots(value: &Value, mut f: impl FnMut(Slot)) {
    match value {
        Value::Scalar(v) => f(("", None, *v)),
        Value::Summary(s) => {
            for &(q, v) in &s.quantiles {
                f(("", Some(("quantile", q)), v));
            }
            sum_count(s.sum, s.count, f);
        }
        Value::Histogram(h) => {
            for &(le, c) in &h.buckets {
                f(("_bucket", Some(("le", le)), c));
            }
            if !crate::render::series::has_inf_bucket(h) {
                let inf = h.count.or(h.buckets.last().map(|b| b.1)).unwrap_or(0.0);
                f(("_bucket", Some(("le", f64::INFINITY)), inf));
            }
            sum_count(h.sum, h.count, f);
        }
    }
}

fn sum_count(sum: Option<f64>, count: Option<f64>, mut f: impl FnMut(Slot)) {
    if let Some(s) = sum {
        f(("_sum", None, s));
    }
    if let Some(c) = count {
        f(("_count", None, c));
    }
}

/// What decides a summary's or histogram's rows: bounds and which of sum/count exist.
fn layout(value: &Value) -> Box<[u64]> {
    let mut out = Vec::new();
    slots(value, |(suffix, extra, _)| {
        out.push(extra.map_or(suffix.len() as u64, |(_, b)| b.to_bits()));
    });
    out.into()
}

/// Builds the label bytes of one family's rows. `external` is sorted by name.
fn encode_family(
    name: &Str,
    kind: MetricType,
    series: &[Series],
    external: &[(String, String)],
) -> EncodedFamily {
    let mut fam = EncodedFamily {
        name: name.clone(),
        kind,
        shape: series.iter().map(|s| s.labels.clone()).collect(),
        layouts: Vec::new(),
        rows_end: Vec::with_capacity(series.len()),
        ends: Vec::with_capacity(series.len()),
        labels: Vec::new(),
        invalid: 0,
    };
    if matches!(kind, MetricType::Summary | MetricType::Histogram) {
        fam.layouts = series.iter().map(|s| layout(&s.value)).collect();
    }
    let mut scratch = Scratch::default();
    for s in series {
        let mark = (fam.ends.len(), fam.labels.len());
        let mut ok = true;
        slots(&s.value, |(suffix, extra, _)| {
            if ok {
                ok = scratch.row(name, suffix, &s.labels, extra, external, &mut fam.labels);
                fam.ends.push(to_u32(fam.labels.len()));
            }
        });
        if !ok {
            fam.ends.truncate(mark.0);
            fam.labels.truncate(mark.1);
            fam.invalid += 1;
        }
        fam.rows_end.push(to_u32(fam.ends.len()));
    }
    fam
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("one family's encoded labels stay under 4 GiB")
}

/// Reused buffers for building one row's labels.
#[derive(Default)]
struct Scratch {
    name: String,
    extra: Vec<u8>,
}

impl Scratch {
    /// Appends the row's encoded `Label` fields to `out`; `false` (and nothing written) when
    /// a name is invalid or repeated.
    fn row(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[(Str, Str)],
        extra: Option<(&'static str, f64)>,
        external: &[(String, String)],
        out: &mut Vec<u8>,
    ) -> bool {
        self.name.clear();
        self.name.push_str(name);
        self.name.push_str(suffix);
        if !is_valid_metric_name(&self.name) {
            return false;
        }
        self.extra.clear();
        if let Some((_, v)) = extra {
            crate::render::text::write_float(&mut self.extra, v);
        }
        let extra_value = std::str::from_utf8(&self.extra).expect("a float is ASCII");
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 2 + external.len());
        all.push(("__name__", &self.name));
        all.extend(
            labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| (&**n, &**v)),
        );
        if let Some((n, _)) = extra {
            all.push((n, extra_value));
        }
        for (n, v) in external {
            if !all.iter().any(|(have, _)| have == n) {
                all.push((n, v));
            }
        }
        // Bytewise, as the spec asks: `Zone` < `__name__` < `a`.
        all.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let unique = all.windows(2).all(|w| w[0].0 != w[1].0);
        let valid = all
            .iter()
            .all(|(n, _)| *n == "__name__" || is_valid_label_name(n));
        if !(unique && valid) {
            return false;
        }
        for (n, v) in all {
            encode_label(n, v, out);
        }
        true
    }
}

/// One `Label` as field 1 of a `TimeSeries`.
fn encode_label(name: &str, value: &str, out: &mut Vec<u8>) {
    let inner = 1
        + encoded_len_varint(name.len() as u64)
        + name.len()
        + 1
        + encoded_len_varint(value.len() as u64)
        + value.len();
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(inner as u64, out);
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(name.len() as u64, out);
    out.extend_from_slice(name.as_bytes());
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(value.len() as u64, out);
    out.extend_from_slice(value.as_bytes());
}

/// Appends one `TimeSeries` (field 1 of `WriteRequest`) with one sample.
fn encode_row(labels: &[u8], bits: u64, ts: i64, out: &mut Vec<u8>) {
    #[allow(
        clippy::cast_sign_loss,
        reason = "int64 is encoded as its two's complement bits, as protobuf does"
    )]
    let ts_bits = ts as u64;
    let sample = 1 + 8 + 1 + encoded_len_varint(ts_bits);
    let series = labels.len() + 1 + encoded_len_varint(sample as u64) + sample;
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(series as u64, out);
    out.extend_from_slice(labels);
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(sample as u64, out);
    encode_key(1, WireType::SixtyFourBit, out);
    out.extend_from_slice(&bits.to_le_bytes());
    encode_key(2, WireType::Varint, out);
    encode_varint(ts_bits, out);
}

/// One group as planned in a tick: the group and its encoded families (pushed families in
/// name order, then the push-time rows).
#[derive(Debug, Clone)]
struct PlannedGroup {
    group: Arc<Group>,
    /// The series of each family, in the order of `families`.
    sources: Arc<[Source]>,
    families: Arc<[Arc<EncodedFamily>]>,
}

/// Where a planned family's values come from.
#[derive(Debug)]
enum Source {
    /// A pushed family.
    Family(Arc<StoredFamily>),
    /// `push_time_seconds` or `push_failure_time_seconds`: one series with the group's labels.
    Time(Series),
}

impl Source {
    fn series(&self) -> &[Series] {
        match self {
            Source::Family(f) => &f.series,
            Source::Time(s) => std::slice::from_ref(s),
        }
    }
}

/// Rows that go stale in a tick: the family they were in, and which rows (all when `None`).
#[derive(Debug)]
struct StaleRows {
    family: Arc<EncodedFamily>,
    rows: Option<Vec<u32>>,
}

/// What one tick sends: every row of the snapshot at one timestamp, then the stale markers.
#[derive(Debug)]
pub struct TickPlan {
    /// The tick's timestamp in ms since the Unix epoch.
    pub timestamp_ms: i64,
    groups: Vec<PlannedGroup>,
    stale: Vec<StaleRows>,
    /// Rows with a value (stale markers not included).
    pub rows: usize,
    /// Stale markers.
    pub stale_rows: usize,
    /// Series skipped for invalid names (counted once per tick).
    pub invalid_series: usize,
}

/// Where [`TickPlan::next_batch`] continues.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cursor {
    group: usize,
    family: usize,
    series: usize,
    stale: usize,
    stale_row: usize,
}

/// What one batch holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchInfo {
    /// Rows with a value.
    pub samples: usize,
    /// Stale markers.
    pub stale: usize,
}

impl TickPlan {
    /// Writes the next batch into `out` (cleared first); `None` when the tick is done.
    pub fn next_batch(
        &self,
        cur: &mut Cursor,
        limits: BatchLimits,
        out: &mut Vec<u8>,
    ) -> Option<BatchInfo> {
        out.clear();
        let mut info = BatchInfo::default();
        let full = |out: &Vec<u8>, info: &BatchInfo| {
            info.samples + info.stale >= limits.max_rows || out.len() >= limits.max_bytes
        };
        while let Some(pg) = self.groups.get(cur.group) {
            if full(out, &info) {
                return Some(info);
            }
            if cur.family >= pg.families.len() {
                (cur.group, cur.family, cur.series) = (cur.group + 1, 0, 0);
                continue;
            }
            let enc = &pg.families[cur.family];
            let Some(series) = pg.sources[cur.family].series().get(cur.series) else {
                (cur.family, cur.series) = (cur.family + 1, 0);
                continue;
            };
            let mut r = enc.series_rows(cur.series).start;
            let n = enc.series_rows(cur.series).len();
            if n > 0 {
                slots(&series.value, |(_, _, v)| {
                    encode_row(enc.row(r), wire_bits(v), self.timestamp_ms, out);
                    r += 1;
                });
                info.samples += n;
            }
            cur.series += 1;
        }
        self.stale_batch(cur, out, info, full)
    }

    fn stale_batch(
        &self,
        cur: &mut Cursor,
        out: &mut Vec<u8>,
        mut info: BatchInfo,
        full: impl Fn(&Vec<u8>, &BatchInfo) -> bool,
    ) -> Option<BatchInfo> {
        while let Some(s) = self.stale.get(cur.stale) {
            if full(out, &info) {
                return Some(info);
            }
            let row = match &s.rows {
                None if cur.stale_row < s.family.rows() => Some(cur.stale_row),
                Some(rows) => rows.get(cur.stale_row).map(|&r| r as usize),
                None => None,
            };
            let Some(row) = row else {
                (cur.stale, cur.stale_row) = (cur.stale + 1, 0);
                continue;
            };
            encode_row(s.family.row(row), STALE_NAN, self.timestamp_ms, out);
            info.stale += 1;
            cur.stale_row += 1;
        }
        (info.samples + info.stale > 0).then_some(info)
    }

    /// The groups this tick sends, for the push-to-acknowledged lag.
    pub fn groups(&self) -> impl Iterator<Item = &Arc<Group>> {
        self.groups.iter().map(|g| &g.group)
    }
}

/// A group's `push_time_seconds` and `push_failure_time_seconds` as pseudo-families.
fn push_time_sources(group: &Group) -> [(Str, Source); 2] {
    let series = |v: f64| {
        Source::Time(Series {
            labels: group.labels.clone(),
            value: Value::Scalar(v),
        })
    };
    [
        (Str::from(PUSH_TIME_NAME), series(group.times.success)),
        (
            Str::from(PUSH_FAILURE_TIME_NAME),
            series(group.times.failure),
        ),
    ]
}

/// Per lane: the label bytes cache and the last acknowledged tick.
#[derive(Debug, Default)]
pub struct Encoder {
    external: Vec<(String, String)>,
    /// The families of the last planned tick, by group.
    cache: HashMap<GroupingKey, PlannedGroup>,
    /// The families of the last acknowledged tick, by group.
    acked: HashMap<GroupingKey, Arc<[Arc<EncodedFamily>]>>,
}

impl Encoder {
    /// An encoder adding `external` labels where a series lacks them.
    #[must_use]
    pub fn new(mut external: Vec<(String, String)>) -> Encoder {
        external.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Encoder {
            external,
            ..Encoder::default()
        }
    }

    /// Plans a tick of `snapshot` at `timestamp_ms`: encodes the label bytes of new or changed
    /// families, and finds the rows that went stale since the acknowledged tick.
    pub fn plan(&mut self, snapshot: &Snapshot, timestamp_ms: i64) -> TickPlan {
        let mut cache = HashMap::with_capacity(snapshot.groups.len());
        let mut groups = Vec::with_capacity(snapshot.groups.len());
        let (mut rows, mut invalid_series) = (0, 0);
        for g in &snapshot.groups {
            let planned = match self.cache.remove(&g.key) {
                Some(p) if Arc::ptr_eq(&p.group, g) => p,
                old => self.plan_group(g, old.as_ref()),
            };
            rows += planned.families.iter().map(|f| f.rows()).sum::<usize>();
            invalid_series += planned.families.iter().map(|f| f.invalid).sum::<usize>();
            cache.insert(g.key.clone(), planned.clone());
            groups.push(planned);
        }
        self.cache = cache;
        let stale = self.stale_rows();
        let stale_rows = stale
            .iter()
            .map(|s| s.rows.as_ref().map_or(s.family.rows(), Vec::len))
            .sum();
        TickPlan {
            timestamp_ms,
            groups,
            stale,
            rows,
            stale_rows,
            invalid_series,
        }
    }

    fn plan_group(&self, g: &Arc<Group>, old: Option<&PlannedGroup>) -> PlannedGroup {
        let previous: HashMap<&str, &Arc<EncodedFamily>> = old
            .iter()
            .flat_map(|o| o.families.iter())
            .map(|f| (&*f.name, f))
            .collect();
        let reuse = |name: &Str, kind, series: &[Series]| {
            previous
                .get(&**name)
                .filter(|f| f.fits(name, kind, series))
                .map(|f| Arc::clone(f))
        };
        let mut families: Vec<Arc<EncodedFamily>> = Vec::with_capacity(g.families.len() + 2);
        let mut sources: Vec<Source> = Vec::with_capacity(g.families.len() + 2);
        let pushed = g
            .families
            .values()
            .map(|f| (f.name.clone(), f.kind, Source::Family(f.clone())));
        let times = push_time_sources(g)
            .into_iter()
            .map(|(name, source)| (name, MetricType::Gauge, source));
        for (name, kind, source) in pushed.chain(times) {
            let series = source.series();
            let enc = reuse(&name, kind, series)
                .unwrap_or_else(|| Arc::new(encode_family(&name, kind, series, &self.external)));
            families.push(enc);
            sources.push(source);
        }
        PlannedGroup {
            group: g.clone(),
            sources: sources.into(),
            families: families.into(),
        }
    }

    /// Rows of the acknowledged tick that the current plan (`self.cache`) lacks.
    fn stale_rows(&self) -> Vec<StaleRows> {
        let mut out = Vec::new();
        for (key, acked) in &self.acked {
            let now = self.cache.get(key).map(|p| &p.families);
            if now.is_some_and(|n| Arc::ptr_eq(n, acked)) {
                continue;
            }
            for fam in acked.iter() {
                let current: Vec<&Arc<EncodedFamily>> = now
                    .into_iter()
                    .flat_map(|n| n.iter())
                    .filter(|f| f.name == fam.name)
                    .collect();
                if current.iter().any(|f| Arc::ptr_eq(f, fam)) {
                    continue;
                }
                if current.is_empty() {
                    out.push(StaleRows {
                        family: fam.clone(),
                        rows: None,
                    });
                    continue;
                }
                let present: HashSet<&[u8]> = current
                    .iter()
                    .flat_map(|f| (0..f.rows()).map(|r| f.row(r)))
                    .collect();
                let gone: Vec<u32> = (0..fam.rows())
                    .filter(|&r| !present.contains(fam.row(r)))
                    .map(to_u32)
                    .collect();
                if !gone.is_empty() {
                    out.push(StaleRows {
                        family: fam.clone(),
                        rows: Some(gone),
                    });
                }
            }
        }
        out
    }

    /// Records `plan` as acknowledged: the next plan's stale markers are against it.
    pub fn ack(&mut self, plan: &TickPlan) {
        self.acked = plan
            .groups
            .iter()
            .map(|g| (g.group.key.clone(), g.families.clone()))
            .collect();
    }
}
