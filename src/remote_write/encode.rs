//! Remote-Write 1.0 encoding: store snapshots into protobuf `WriteRequest` batches.
//!
//! Owns: turning a store [`Snapshot`] into a [`TickPlan`] (which rows a tick sends, which go
//! stale), the caches that make a tick cheap ([`Encoder`], [`Cache`]), the last acknowledged
//! tick (for stale markers), and writing bounded batches ([`TickPlan::next_batch`]).
//! Does not own: compression, HTTP or retries (see `sender`), or when ticks happen.
//!
//! A *row* is one Remote-Write `TimeSeries` with one sample: a gauge series is one row, a
//! summary series one row per quantile plus `_sum` and `_count`, a histogram series one per
//! bucket (`+Inf` added when missing) plus `_sum` and `_count`. Rows are encoded by hand with
//! the `prost::encoding` helpers. Each distinct label set of the store (interned, shared by
//! every family that uses it: Flink repeats a task's labels in dozens of families) is encoded
//! once as `Label` fields, sorted bytewise with the external labels merged in, empty values
//! dropped, names checked ([`EncodedLabels`]); a row is then those bytes with its `__name__`
//! (and `le`/`quantile`) label spliced in at their sorted place, plus an 18-byte sample. A
//! family whose label sets are the same pointers as last tick's reuses its plan
//! ([`EncodedFamily`]), so an unchanged store costs copies only, and the caches stay small
//! (about 30 bytes per series, against ~550 bytes of labels per row on the wire).
//!
//! Stale markers: rows present in the last *acknowledged* tick ([`Encoder::ack`]) but absent
//! from the current one get `StaleNaN` at the current tick's timestamp. Diffing against the
//! acknowledged tick (not the last planned one) keeps markers across dropped ticks. One rule
//! covers DELETE, PUT replace, expiry and wipe.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

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

/// One series' labels encoded as `Label` fields, sorted bytewise with the external labels
/// merged in, and where `__name__`, `le` and `quantile` go. Shared by every family using the
/// same (interned) label set: Flink repeats each task's labels in dozens of families, so this
/// is a few thousand entries for a store of hundreds of thousands of series.
#[derive(Debug)]
pub struct EncodedLabels {
    /// Held so the cache key (this set's address) stays valid.
    _set: LabelSet,
    bytes: Vec<u8>,
    /// Offsets in `bytes` where `__name__`, `le` and `quantile` are inserted.
    name_at: usize,
    le_at: usize,
    quantile_at: usize,
    has_le: bool,
    has_quantile: bool,
    /// Names unique and valid in Remote-Write (none is `__name__`).
    valid: bool,
}

impl EncodedLabels {
    fn new(set: &LabelSet, external: &[(String, String)]) -> EncodedLabels {
        let mut all: Vec<(&str, &str)> = set
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (&**n, &**v))
            .collect();
        for (n, v) in external {
            if !all.iter().any(|(have, _)| have == n) {
                all.push((n, v));
            }
        }
        // Bytewise, as the spec asks: `Zone` < `__name__` < `a`.
        all.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let valid = all.windows(2).all(|w| w[0].0 != w[1].0)
            && all
                .iter()
                .all(|(n, _)| *n != "__name__" && is_valid_label_name(n));
        let mut bytes = Vec::new();
        let (mut name_at, mut le_at, mut quantile_at) = (None, None, None);
        for (n, v) in &all {
            let here = Some(bytes.len());
            let after = |at: &mut Option<usize>, key: &str| {
                if at.is_none() && n.as_bytes() > key.as_bytes() {
                    *at = here;
                }
            };
            after(&mut name_at, "__name__");
            after(&mut le_at, "le");
            after(&mut quantile_at, "quantile");
            encode_label(n, v, &mut bytes);
        }
        let end = bytes.len();
        EncodedLabels {
            _set: set.clone(),
            name_at: name_at.unwrap_or(end),
            le_at: le_at.unwrap_or(end),
            quantile_at: quantile_at.unwrap_or(end),
            has_le: all.iter().any(|(n, _)| *n == "le"),
            has_quantile: all.iter().any(|(n, _)| *n == "quantile"),
            valid,
            bytes,
        }
    }
}

/// Encoded label sets by the address of their (held) `LabelSet`.
type LabelCache = HashMap<usize, Arc<EncodedLabels>>;

fn set_key(set: &LabelSet) -> usize {
    Arc::as_ptr(set).cast::<u8>() as usize
}

/// One row's place in its series: the name suffix (index into [`SUFFIXES`]) and the bits of
/// its `le`/`quantile` value, if any.
type SlotSpec = (u8, Option<u64>);

/// Name suffixes of rows.
const SUFFIXES: [&str; 4] = ["", "_bucket", "_sum", "_count"];

fn suffix_index(suffix: &str) -> u8 {
    match suffix {
        "_bucket" => 1,
        "_sum" => 2,
        "_count" => 3,
        _ => 0,
    }
}

/// One family's rows, as of the push that made `shape`: which label sets, which slots.
#[derive(Debug)]
pub struct EncodedFamily {
    /// The family name (`push_time_seconds` for a group's push-time rows).
    name: Str,
    kind: MetricType,
    /// The label sets the rows were built from: held, so pointer comparison stays sound.
    shape: Vec<LabelSet>,
    /// Per series, the slots of a summary or histogram (empty for scalar families).
    layouts: Vec<Box<[SlotSpec]>>,
    /// Per series, its encoded labels; `None` when the series is skipped.
    labels: Vec<Option<Arc<EncodedLabels>>>,
    /// The encoded `__name__` label per suffix.
    names: [Vec<u8>; 4],
    /// `rows_end[i]`: end (exclusive) of series `i`'s rows; 0 rows = skipped series.
    rows_end: Vec<u32>,
    /// Series skipped because a label name or the metric name is invalid in Remote-Write.
    invalid: usize,
}

impl EncodedFamily {
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
        self.rows_end.last().map_or(0, |&e| e as usize)
    }

    /// The series and slot of row `r`.
    fn locate(&self, r: usize) -> (usize, SlotSpec) {
        let i = self.rows_end.partition_point(|&e| e as usize <= r);
        let j = r - self.series_rows(i).start;
        let slot = self.layouts.get(i).map_or((0, None), |l| l[j]);
        (i, slot)
    }

    /// Series `i`'s encoded labels, its `__name__` label for `slot`, and where the `le` or
    /// `quantile` label (encoded into `extra`, else left empty) goes.
    fn parts(
        &self,
        i: usize,
        slot: SlotSpec,
        extra: &mut Vec<u8>,
    ) -> (&EncodedLabels, &[u8], usize) {
        let labels = self.labels[i]
            .as_deref()
            .expect("rows exist only for series with labels");
        extra.clear();
        let mut at = labels.bytes.len();
        if let Some(bits) = slot.1 {
            let mut text = Vec::with_capacity(24);
            crate::render::text::write_float(&mut text, f64::from_bits(bits));
            let text = std::str::from_utf8(&text).expect("a float is ASCII");
            let (key, pos) = if self.kind == MetricType::Histogram {
                ("le", labels.le_at)
            } else {
                ("quantile", labels.quantile_at)
            };
            encode_label(key, text, extra);
            at = pos;
        }
        (labels, &self.names[usize::from(slot.0)], at)
    }

    /// Appends the `Label` fields of series `i` in `slot`; `extra` is scratch space.
    fn write_labels(&self, i: usize, slot: SlotSpec, extra: &mut Vec<u8>, out: &mut Vec<u8>) {
        let (labels, name, at) = self.parts(i, slot, extra);
        put_labels(labels, name, at, extra, out);
    }

    /// Appends row `(i, slot)` with one sample (value bits, timestamp) as a `TimeSeries`
    /// field of a `WriteRequest`.
    fn write_row(
        &self,
        i: usize,
        slot: SlotSpec,
        sample: (u64, i64),
        extra: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) {
        let (labels, name, at) = self.parts(i, slot, extra);
        let (bits, ts) = sample;
        #[allow(
            clippy::cast_sign_loss,
            reason = "int64 is encoded as its two's complement bits, as protobuf does"
        )]
        let ts_bits = ts as u64;
        let sample_len = 1 + 8 + 1 + encoded_len_varint(ts_bits);
        let labels_len = labels.bytes.len() + name.len() + extra.len();
        let series_len = labels_len + 1 + encoded_len_varint(sample_len as u64) + sample_len;
        encode_key(1, WireType::LengthDelimited, out);
        encode_varint(series_len as u64, out);
        put_labels(labels, name, at, extra, out);
        encode_key(2, WireType::LengthDelimited, out);
        encode_varint(sample_len as u64, out);
        encode_key(1, WireType::SixtyFourBit, out);
        out.extend_from_slice(&bits.to_le_bytes());
        encode_key(2, WireType::Varint, out);
        encode_varint(ts_bits, out);
    }

    /// The label bytes of row `r`, for comparing rows across families.
    fn row_labels(&self, r: usize) -> Vec<u8> {
        let (i, slot) = self.locate(r);
        let mut out = Vec::new();
        self.write_labels(i, slot, &mut Vec::new(), &mut out);
        out
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

/// The labels of a row: the set's labels before `__name__`, the name, those before the
/// `le`/`quantile` label, that label, the rest (each part may be empty).
fn put_labels(labels: &EncodedLabels, name: &[u8], at: usize, extra: &[u8], out: &mut Vec<u8>) {
    let b = &labels.bytes;
    out.extend_from_slice(&b[..labels.name_at]);
    out.extend_from_slice(name);
    out.extend_from_slice(&b[labels.name_at..at]);
    out.extend_from_slice(extra);
    out.extend_from_slice(&b[at..]);
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

/// The slots of a series' value: what decides a summary's or histogram's rows.
fn layout(value: &Value) -> Box<[SlotSpec]> {
    let mut out = Vec::new();
    slots(value, |(suffix, extra, _)| {
        out.push((suffix_index(suffix), extra.map(|(_, b)| b.to_bits())));
    });
    out.into()
}

/// Builds one family's rows, encoding label sets not yet in `cache`.
fn encode_family(
    name: &Str,
    kind: MetricType,
    series: &[Series],
    external: &[(String, String)],
    cache: &mut LabelCache,
) -> EncodedFamily {
    let name_ok = is_valid_metric_name(name);
    let names = SUFFIXES.map(|suffix| {
        let mut out = Vec::new();
        encode_label("__name__", &format!("{name}{suffix}"), &mut out);
        out
    });
    let mut fam = EncodedFamily {
        name: name.clone(),
        kind,
        shape: series.iter().map(|s| s.labels.clone()).collect(),
        layouts: Vec::new(),
        labels: Vec::with_capacity(series.len()),
        names,
        rows_end: Vec::with_capacity(series.len()),
        invalid: 0,
    };
    if matches!(kind, MetricType::Summary | MetricType::Histogram) {
        fam.layouts = series.iter().map(|s| layout(&s.value)).collect();
    }
    let mut rows = 0;
    for s in series {
        let labels = cache
            .entry(set_key(&s.labels))
            .or_insert_with(|| Arc::new(EncodedLabels::new(&s.labels, external)))
            .clone();
        let clash = match kind {
            MetricType::Histogram => labels.has_le,
            MetricType::Summary => labels.has_quantile,
            _ => false,
        };
        if name_ok && labels.valid && !clash {
            let mut n = 0;
            slots(&s.value, |_| n += 1);
            rows += n;
            fam.labels.push(Some(labels));
        } else {
            fam.invalid += 1;
            fam.labels.push(None);
        }
        fam.rows_end.push(to_u32(rows));
    }
    fam
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a family has fewer than 4 billion rows")
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

/// One group as planned in a tick: the group and its encoded families (pushed families in
/// name order, then the push-time rows). Opaque outside this module.
#[derive(Debug, Clone)]
pub struct PlannedGroup {
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
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    group: usize,
    family: usize,
    series: usize,
    stale: usize,
    stale_row: usize,
    /// Scratch space for `le`/`quantile` labels.
    extra: Vec<u8>,
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
            let n = enc.series_rows(cur.series).len();
            if n > 0 {
                let i = cur.series;
                let ts = self.timestamp_ms;
                slots(&series.value, |(suffix, extra, v)| {
                    let slot = (suffix_index(suffix), extra.map(|(_, b)| b.to_bits()));
                    enc.write_row(i, slot, (wire_bits(v), ts), &mut cur.extra, out);
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
            let (i, slot) = s.family.locate(row);
            s.family
                .write_row(i, slot, (STALE_NAN, self.timestamp_ms), &mut cur.extra, out);
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

/// What planning reuses: the families of the last planned tick by group, and the encoded
/// label sets they use. Shared by the lanes of every URL (the label bytes do not depend on
/// the URL), so a second URL costs no second copy of them.
#[derive(Debug, Default)]
pub struct Cache {
    groups: HashMap<GroupingKey, PlannedGroup>,
    labels: LabelCache,
}

/// The [`Cache`] shared by every lane.
pub type SharedCache = Arc<Mutex<Cache>>;

/// Per lane: the (shared) label bytes cache and the last acknowledged tick.
#[derive(Debug, Default)]
pub struct Encoder {
    external: Vec<(String, String)>,
    cache: SharedCache,
    /// The families of the last acknowledged tick, by group.
    acked: HashMap<GroupingKey, Arc<[Arc<EncodedFamily>]>>,
}

impl Encoder {
    /// An encoder adding `external` labels where a series lacks them, with its own cache.
    #[must_use]
    pub fn new(external: Vec<(String, String)>) -> Encoder {
        Encoder::with_cache(external, SharedCache::default())
    }

    /// Like [`Encoder::new`], sharing `cache` with the other lanes (which must use the same
    /// external labels).
    #[must_use]
    pub fn with_cache(mut external: Vec<(String, String)>, cache: SharedCache) -> Encoder {
        external.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Encoder {
            external,
            cache,
            acked: HashMap::new(),
        }
    }

    /// Plans a tick of `snapshot` at `timestamp_ms`: encodes the label bytes of new or changed
    /// families, and finds the rows that went stale since the acknowledged tick.
    pub fn plan(&mut self, snapshot: &Snapshot, timestamp_ms: i64) -> TickPlan {
        let mut current = HashMap::with_capacity(snapshot.groups.len());
        let mut groups = Vec::with_capacity(snapshot.groups.len());
        let (mut rows, mut invalid_series) = (0, 0);
        {
            // Held while planning: lanes planning at once take turns (planning is rare and
            // off the request path); a push or scrape never takes it.
            let mut cache = self
                .cache
                .lock()
                .expect("label cache lock is never poisoned: planning does not panic");
            let Cache {
                groups: old_groups,
                labels,
            } = &mut *cache;
            for g in &snapshot.groups {
                let planned = match old_groups.get(&g.key) {
                    Some(p) if Arc::ptr_eq(&p.group, g) => p.clone(),
                    old => self.plan_group(g, old, labels),
                };
                rows += planned.families.iter().map(|f| f.rows()).sum::<usize>();
                invalid_series += planned.families.iter().map(|f| f.invalid).sum::<usize>();
                current.insert(g.key.clone(), planned.clone());
                groups.push(planned);
            }
            old_groups.clone_from(&current);
            // Label sets no family holds any more (the acknowledged ticks of the lanes hold
            // theirs) are let go.
            labels.retain(|_, l| Arc::strong_count(l) > 1);
        }
        let stale = self.stale_rows(&current);
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

    fn plan_group(
        &self,
        g: &Arc<Group>,
        old: Option<&PlannedGroup>,
        labels: &mut LabelCache,
    ) -> PlannedGroup {
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
            let enc = reuse(&name, kind, series).unwrap_or_else(|| {
                Arc::new(encode_family(&name, kind, series, &self.external, labels))
            });
            families.push(enc);
            sources.push(source);
        }
        PlannedGroup {
            group: g.clone(),
            sources: sources.into(),
            families: families.into(),
        }
    }

    /// Rows of the acknowledged tick that the `current` plan lacks.
    fn stale_rows(&self, current: &HashMap<GroupingKey, PlannedGroup>) -> Vec<StaleRows> {
        let mut out = Vec::new();
        for (key, acked) in &self.acked {
            let now = current.get(key).map(|p| &p.families);
            if now.is_some_and(|n| Arc::ptr_eq(n, acked)) {
                continue;
            }
            let by_name: HashMap<&str, &Arc<EncodedFamily>> = now
                .into_iter()
                .flat_map(|n| n.iter())
                .map(|f| (&*f.name, f))
                .collect();
            for fam in acked.iter() {
                match by_name.get(&*fam.name) {
                    Some(f) if Arc::ptr_eq(f, fam) => {}
                    None => out.push(StaleRows {
                        family: fam.clone(),
                        rows: None,
                    }),
                    Some(f) => {
                        let present: HashSet<Vec<u8>> =
                            (0..f.rows()).map(|r| f.row_labels(r)).collect();
                        let gone: Vec<u32> = (0..fam.rows())
                            .filter(|&r| !present.contains(&fam.row_labels(r)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grouping::GroupingKey;
    use crate::proto::remote::WriteRequest as Decoded;
    use crate::store::{Store, WriteRequest};
    use prost::Message as _;

    const LIMITS: BatchLimits = BatchLimits {
        max_rows: 1000,
        max_bytes: 1 << 20,
    };

    fn store() -> Store {
        Store::new(&[], true)
    }

    fn put(store: &Store, path: &str, text: &str) {
        let families = crate::parse::text::parse(text.as_bytes()).expect("valid text");
        store
            .apply_at(
                WriteRequest {
                    key: GroupingKey::from_path(path).expect("valid path"),
                    families,
                    replace: true,
                },
                1000.0,
            )
            .expect("push accepted");
    }

    /// Every batch of a tick, decoded, as `name{labels} value` lines (NaN bits shown as hex).
    fn sent(enc: &mut Encoder, store: &Store, ts: i64, limits: BatchLimits) -> Vec<String> {
        let plan = enc.plan(&store.snapshot(), ts);
        let mut cur = Cursor::default();
        let mut raw = Vec::new();
        let mut lines = Vec::new();
        while let Some(info) = plan.next_batch(&mut cur, limits, &mut raw) {
            // Through snappy's block format and back, as the receiver reads it.
            let body = snap::raw::Encoder::new()
                .compress_vec(&raw)
                .expect("compresses");
            let raw2 = snap::raw::Decoder::new()
                .decompress_vec(&body)
                .expect("snappy block");
            assert_eq!(raw2, raw);
            let req = Decoded::decode(raw.as_slice()).expect("a valid WriteRequest");
            assert_eq!(req.timeseries.len(), info.samples + info.stale);
            assert!(req.timeseries.len() <= limits.max_rows);
            for ts_ in req.timeseries {
                let names: Vec<&str> = ts_.labels.iter().map(|l| l.name.as_str()).collect();
                let mut sorted = names.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(names, sorted, "labels sorted bytewise and unique");
                assert!(ts_.labels.iter().all(|l| !l.value.is_empty()));
                let s = &ts_.samples[..];
                assert_eq!(s.len(), 1);
                assert_eq!(s[0].timestamp, ts);
                let v = if s[0].value.is_nan() {
                    format!("{:#x}", s[0].value.to_bits())
                } else {
                    s[0].value.to_string()
                };
                let labels: Vec<String> = ts_
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                lines.push(format!("{} {v}", labels.join(",")));
            }
        }
        lines.sort();
        lines
    }

    #[test]
    fn a_tick_sends_every_sample_with_sorted_labels_and_push_times() {
        let s = store();
        put(
            &s,
            "job/j/instance/i",
            "# TYPE g gauge\ng{Zone=\"z\",a=\"1\"} 2.5\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 4\nh_count 3\n# TYPE s summary\ns{quantile=\"0.5\"} 7\ns_sum 8\ns_count 9\n",
        );
        let got = sent(&mut Encoder::default(), &s, 5000, LIMITS);
        let want = [
            "Zone=z,__name__=g,a=1,instance=i,job=j 2.5",
            "__name__=h_bucket,instance=i,job=j,le=+Inf 3",
            "__name__=h_bucket,instance=i,job=j,le=1 1",
            "__name__=h_count,instance=i,job=j 3",
            "__name__=h_sum,instance=i,job=j 4",
            "__name__=push_failure_time_seconds,instance=i,job=j 0",
            "__name__=push_time_seconds,instance=i,job=j 1000",
            "__name__=s,instance=i,job=j,quantile=0.5 7",
            "__name__=s_count,instance=i,job=j 9",
            "__name__=s_sum,instance=i,job=j 8",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn empty_label_values_are_dropped_and_external_labels_added_only_where_absent() {
        let s = store();
        put(&s, "job/j", "m{region=\"here\"} 1\n");
        let mut enc = Encoder::new(vec![
            ("region".into(), "ext".into()),
            ("cluster".into(), "c1".into()),
        ]);
        let got = sent(&mut enc, &s, 1, LIMITS);
        assert!(
            got.contains(&"__name__=m,cluster=c1,job=j,region=here 1".to_owned()),
            "{got:?}"
        );
        assert!(
            got.contains(&"__name__=push_time_seconds,cluster=c1,job=j,region=ext 1000".to_owned())
        );
    }

    #[test]
    fn a_histogram_without_inf_bucket_gets_one_holding_its_count() {
        let s = store();
        put(
            &s,
            "job/j",
            "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_count 5\n",
        );
        let got = sent(&mut Encoder::default(), &s, 1, LIMITS);
        let inf = "__name__=h_bucket,job=j,le=+Inf 5".to_owned();
        assert!(got.contains(&inf), "{got:?}");
    }

    #[test]
    fn le_and_quantile_go_to_their_sorted_place_among_the_labels() {
        let s = store();
        put(
            &s,
            "job/j",
            "# TYPE h histogram\nh_bucket{a=\"1\",z=\"2\",le=\"+Inf\"} 1\nh_count{a=\"1\",z=\"2\"} 1\n# TYPE s summary\ns{B=\"b\",r=\"3\",quantile=\"0.9\"} 4\n",
        );
        let got = sent(&mut Encoder::default(), &s, 1, LIMITS);
        for want in [
            "__name__=h_bucket,a=1,job=j,le=+Inf,z=2 1",
            "__name__=h_count,a=1,job=j,z=2 1",
            "B=b,__name__=s,job=j,quantile=0.9,r=3 4",
        ] {
            assert!(got.contains(&want.to_owned()), "{want} not in {got:#?}");
        }
    }

    #[test]
    fn pushed_nans_are_normalised_so_they_cannot_be_stale_markers() {
        let s = store();
        put(&s, "job/j", "m NaN\n");
        let got = sent(&mut Encoder::default(), &s, 1, LIMITS);
        assert!(
            got.contains(&"__name__=m,job=j 0x7ff8000000000001".to_owned()),
            "{got:?}"
        );
        assert_eq!(wire_bits(f64::from_bits(STALE_NAN)), NORMAL_NAN);
    }

    #[test]
    fn series_gone_since_the_acknowledged_tick_get_one_stale_marker() {
        let s = store();
        put(&s, "job/a", "m{x=\"1\"} 1\nm{x=\"2\"} 2\n");
        put(&s, "job/b", "n 1\n");
        let mut enc = Encoder::default();
        let first = enc.plan(&s.snapshot(), 1);
        enc.ack(&first);
        // PUT replace drops a series; DELETE drops a group.
        put(&s, "job/a", "m{x=\"1\"} 3\n");
        assert!(s.delete(&GroupingKey::from_path("job/b").expect("valid")));
        let got = sent(&mut enc, &s, 2, LIMITS);
        let stale: Vec<&String> = got
            .iter()
            .filter(|l| l.ends_with("0x7ff0000000000002"))
            .collect();
        assert_eq!(
            stale,
            [
                "__name__=m,job=a,x=2 0x7ff0000000000002",
                "__name__=n,job=b 0x7ff0000000000002",
                "__name__=push_failure_time_seconds,job=b 0x7ff0000000000002",
                "__name__=push_time_seconds,job=b 0x7ff0000000000002",
            ]
        );
        // Not acknowledged: the next tick marks them again; once acknowledged, never again.
        let plan = enc.plan(&s.snapshot(), 3);
        assert_eq!(plan.stale_rows, 4);
        enc.ack(&plan);
        assert_eq!(enc.plan(&s.snapshot(), 4).stale_rows, 0);
    }

    #[test]
    fn a_post_replacing_one_family_marks_only_its_gone_series_stale() {
        let s = store();
        put(&s, "job/a", "m{x=\"1\"} 1\nm{x=\"2\"} 2\nn 1\n");
        let mut enc = Encoder::default();
        let first = enc.plan(&s.snapshot(), 1);
        enc.ack(&first);
        let families = crate::parse::text::parse(b"m{x=\"2\"} 5\n").expect("valid");
        s.apply_at(
            WriteRequest {
                key: GroupingKey::from_path("job/a").expect("valid"),
                families,
                replace: false,
            },
            1001.0,
        )
        .expect("push accepted");
        let got = sent(&mut enc, &s, 2, LIMITS);
        let stale: Vec<&String> = got
            .iter()
            .filter(|l| l.ends_with("0x7ff0000000000002"))
            .collect();
        assert_eq!(stale, ["__name__=m,job=a,x=1 0x7ff0000000000002"]);
        assert!(got.contains(&"__name__=n,job=a 1".to_owned()));
    }

    #[test]
    fn a_wipe_marks_everything_stale() {
        let s = store();
        put(&s, "job/a", "m 1\n");
        let mut enc = Encoder::default();
        let first = enc.plan(&s.snapshot(), 1);
        enc.ack(&first);
        s.wipe();
        let plan = enc.plan(&s.snapshot(), 2);
        assert_eq!((plan.rows, plan.stale_rows), (0, 3));
    }

    #[test]
    fn an_unchanged_shape_reuses_the_encoded_labels() {
        let s = store();
        put(&s, "job/a", "m{x=\"1\"} 1\n");
        let mut enc = Encoder::default();
        let first = enc.plan(&s.snapshot(), 1);
        put(&s, "job/a", "m{x=\"1\"} 2\n");
        let second = enc.plan(&s.snapshot(), 2);
        assert!(Arc::ptr_eq(
            &first.groups[0].families[0],
            &second.groups[0].families[0]
        ));
        assert_eq!(second.stale_rows, 0);
    }

    #[test]
    fn batches_respect_the_row_cap_and_carry_every_row_once() {
        let s = store();
        let body = (0..50).fold(String::new(), |mut b, i| {
            use std::fmt::Write as _;
            let _ = writeln!(b, "m{{x=\"{i}\"}} {i}");
            b
        });
        put(&s, "job/a", &body);
        let small = BatchLimits {
            max_rows: 7,
            max_bytes: 1 << 20,
        };
        let got = sent(&mut Encoder::default(), &s, 1, small);
        let all = sent(&mut Encoder::default(), &s, 1, LIMITS);
        assert_eq!(got.len(), 52);
        assert_eq!(got, all);
    }

    #[test]
    fn series_with_names_invalid_in_remote_write_are_skipped_and_counted() {
        // `__name__` cannot come from a push; an external label clash can't either. Simulate
        // an invalid name through the family directly.
        let series = vec![Series {
            labels: vec![(Str::from("bad-name"), Str::from("v"))].into(),
            value: Value::Scalar(1.0),
        }];
        let mut cache = LabelCache::new();
        let fam = encode_family(&Str::from("m"), MetricType::Gauge, &series, &[], &mut cache);
        assert_eq!((fam.rows(), fam.invalid), (0, 1));
        let valid = vec![Series {
            labels: vec![(Str::from("a"), Str::from("v"))].into(),
            value: Value::Scalar(1.0),
        }];
        let fam = encode_family(&Str::from("0m"), MetricType::Gauge, &valid, &[], &mut cache);
        assert_eq!((fam.rows(), fam.invalid), (0, 1));
        let fam = encode_family(&Str::from("m"), MetricType::Gauge, &valid, &[], &mut cache);
        assert_eq!((fam.rows(), fam.invalid), (1, 0));
    }

    proptest::proptest! {
        #[test]
        fn labels_are_sorted_bytewise_whatever_their_case(
            names in proptest::collection::btree_set("[A-Za-z_][A-Za-z0-9_]{0,6}", 0..8),
        ) {
            let labels: Vec<(Str, Str)> = names
                .iter()
                .filter(|n| *n != "__name__")
                .map(|n| (Str::from(n.as_str()), Str::from("v")))
                .collect();
            let series = vec![Series { labels: labels.into(), value: Value::Scalar(1.0) }];
            let fam = encode_family(&Str::from("m"), MetricType::Gauge, &series, &[], &mut LabelCache::new());
            let mut buf = Vec::new();
            fam.write_row(0, (0, None), (1f64.to_bits(), 1), &mut Vec::new(), &mut buf);
            let req = Decoded::decode(buf.as_slice()).expect("valid");
            let got: Vec<&str> = req.timeseries[0].labels.iter().map(|l| l.name.as_str()).collect();
            let mut want: Vec<&str> = names.iter().map(String::as_str).filter(|n| *n != "__name__").collect();
            want.push("__name__");
            want.sort_unstable();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
