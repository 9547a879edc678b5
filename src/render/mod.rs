//! Scrape rendering: a store snapshot in, the exposition of every group merged out, in the
//! text format 0.0.4, OpenMetrics 1.0.0 or delimited protobuf, optionally gzipped.
//!
//! Owns: merging the families of all groups (one header per family, families sorted by name,
//! series in the Go Pushgateway's order), splicing in the gateway's own metrics, and the
//! per-generation [`ScrapeCache`].
//! Does not own: sample line layout (see [`series`]), number/escape formatting (see [`text`]),
//! the protobuf wire layout (see [`protobuf`]), what OpenMetrics changes (see [`openmetrics`])
//! or the gzip framing (see [`gzip`]).
//!
//! Nothing is re-formatted when it did not change (while the render budget holds it, see
//! [`cache`]): each stored family renders its series once per format (kept on the family,
//! which a push replaces), and a scrape splices zero-copy
//! `Bytes` runs of them. When families of several groups interleave in Go order we merge them
//! with a heap, emitting maximal runs from one group at a time; for Flink (the job label differs
//! per group) a family usually comes out as one run per group. Per store generation and format,
//! the merged family list is cached; a body is streamed from it ([`Rendered::stream`]) family
//! by family, gzip segments stitched as they come, so the gateway's own metrics (rendered and
//! compressed fresh for each scrape: [`assemble_pieces`] says where they go) and any family
//! the budget could not keep cost their rendering, and nothing waits for the whole body.

pub mod cache;
pub mod gzip;
pub mod openmetrics;
pub mod protobuf;
pub mod series;
pub mod text;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::model::MetricType;
use crate::store::group::{
    go_order, Group, StoredFamily, Str, PUSH_FAILURE_TIME_HELP, PUSH_FAILURE_TIME_NAME,
    PUSH_TIME_HELP, PUSH_TIME_NAME,
};
use crate::store::Snapshot;
use cache::RenderBudget;

/// An exposition format a scrape can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The text format 0.0.4 (the default).
    Text,
    /// OpenMetrics text 1.0.0.
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

impl Format {
    /// Every format, in cache-slot order.
    pub const ALL: [Format; 3] = [Format::Text, Format::OpenMetrics, Format::Protobuf];

    /// The response `Content-Type` (the Go gateway's spelling for text and protobuf).
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        }
    }

    /// A short name for logs and metrics.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::OpenMetrics => "openmetrics",
            Format::Protobuf => "protobuf",
        }
    }

    /// The index of this format in per-format arrays.
    pub(crate) fn slot(self) -> usize {
        match self {
            Format::Text => 0,
            Format::OpenMetrics => 1,
            Format::Protobuf => 2,
        }
    }
}

/// A piece of a merged family: bytes made for this rendering (headers, push-time lines, the
/// gateway's own series) or a run of a stored family's series, which the body takes from the
/// family's cached lines (identity) or segment (gzip, when the run is the whole family).
#[derive(Debug, Clone)]
pub enum Part {
    /// Bytes as they are.
    Bytes(Bytes),
    /// Series `start..end` of a stored family.
    Run {
        /// The family.
        family: Arc<StoredFamily>,
        /// First series.
        start: usize,
        /// One past the last series.
        end: usize,
    },
}

impl Part {
    /// The stored family when this part is all of its series.
    fn whole_family(&self) -> Option<&StoredFamily> {
        match self {
            Part::Run { family, start, end } if *start == 0 && *end == family.series.len() => {
                Some(family)
            }
            _ => None,
        }
    }

    fn len(&self, format: Format, gzipped: bool, budget: Budget<'_>) -> usize {
        match self.whole_family() {
            Some(family) => family.whole_len(format, gzipped, budget),
            None => self.bytes(format, budget).len(),
        }
    }

    /// The uncompressed bytes.
    fn bytes(&self, format: Format, budget: Budget<'_>) -> Bytes {
        match self {
            Part::Bytes(b) => b.clone(),
            Part::Run { family, start, end } => family.lines(format, budget).run(*start, *end),
        }
    }

    /// Appends this part to a gzip stitcher: a whole family as its segment, anything else as
    /// fresh bytes.
    fn stitch(&self, format: Format, stitcher: &mut gzip::Stitcher, budget: Budget<'_>) {
        match self.whole_family() {
            Some(family) => stitcher.cached(&family.segment(format, budget)),
            None => stitcher.fresh_one(self.bytes(format, budget)),
        }
    }
}

/// One family of the merged exposition: its header and its series.
#[derive(Debug, Clone)]
pub struct FamilyChunk {
    /// The family name.
    pub name: Str,
    /// The header (`# HELP`/`# TYPE` lines, or a protobuf length prefix and header fields)
    /// first, then runs of series.
    pub parts: Vec<Part>,
}

impl FamilyChunk {
    /// The uncompressed bytes of the family in `format`.
    #[must_use]
    pub fn bytes(&self, format: Format, budget: Budget<'_>) -> Vec<Bytes> {
        self.parts.iter().map(|p| p.bytes(format, budget)).collect()
    }
}

/// Where the series of one merged family come from.
enum Source<'a> {
    /// A stored family of one group.
    Stored(&'a Arc<StoredFamily>),
    /// One of the gateway's own families (rendered for each scrape).
    Own(&'a StoredFamily),
    /// One group's push-time series (index 0: success, 1: failure).
    Time(&'a Group, usize),
}

impl Source<'_> {
    fn family(&self) -> Option<&StoredFamily> {
        match self {
            Source::Stored(f) => Some(f),
            Source::Own(f) => Some(f),
            Source::Time(..) => None,
        }
    }

    fn len(&self) -> usize {
        self.family().map_or(1, |f| f.series.len())
    }

    fn labels(&self, i: usize) -> &[(Str, Str)] {
        match self {
            Source::Stored(f) => &f.series[i].labels,
            Source::Own(f) => &f.series[i].labels,
            Source::Time(g, _) => &g.labels,
        }
    }

    fn run(&self, start: usize, end: usize, format: Format) -> Part {
        match (self, format) {
            (Source::Stored(f), _) => Part::Run {
                family: Arc::clone(f),
                start,
                end,
            },
            (Source::Own(f), _) => Part::Bytes(f.lines(format, None).run(start, end)),
            (Source::Time(g, which), Format::Protobuf) => {
                let value = if *which == 0 {
                    g.times.success
                } else {
                    g.times.failure
                };
                Part::Bytes(protobuf::time_metric(&g.labels, value))
            }
            (Source::Time(g, which), _) => Part::Bytes(g.time_lines[*which].clone()),
        }
    }

    fn kind(&self) -> MetricType {
        self.family().map_or(MetricType::Gauge, |f| f.kind)
    }

    fn help(&self) -> Option<&str> {
        match self {
            Source::Time(_, 0) => Some(PUSH_TIME_HELP),
            Source::Time(..) => Some(PUSH_FAILURE_TIME_HELP),
            other => other.family().and_then(|f| f.help.as_deref()),
        }
    }
}

/// Renders every pushed family of a snapshot, plus `push_time_seconds` and
/// `push_failure_time_seconds`, sorted by family name, in the text format.
#[must_use]
pub fn render_store(snapshot: &Snapshot) -> Vec<FamilyChunk> {
    render_store_as(snapshot, Format::Text, false, None)
}

/// [`render_store`] in any format, for an identity or a gzip body (a protobuf family's length
/// prefix is taken from whichever form of its series that body uses).
#[must_use]
pub fn render_store_as(
    snapshot: &Snapshot,
    format: Format,
    gzipped: bool,
    budget: Budget<'_>,
) -> Vec<FamilyChunk> {
    let by_name = collect_sources(&snapshot.groups, &[]);
    let taken = |n: &str| by_name.contains_key(n);
    let enc = Encoding {
        format,
        gzipped,
        budget,
    };
    by_name
        .iter()
        .map(|(name, sources)| merge_family(name, sources, None, enc, &taken))
        .collect()
}

/// The render budget stored families keep their renderings under (`None`: kept outside any
/// budget, for one-off renderings such as benches and the gateway's own families).
pub type Budget<'a> = Option<&'a Arc<RenderBudget>>;

/// What a rendering is for: the format, whether the body is gzipped, and the budget.
#[derive(Debug, Clone, Copy)]
struct Encoding<'a> {
    format: Format,
    gzipped: bool,
    budget: Budget<'a>,
}

fn collect_sources<'a>(
    groups: &'a [Arc<Group>],
    own: &'a [StoredFamily],
) -> BTreeMap<&'a str, Vec<Source<'a>>> {
    let mut by_name: BTreeMap<&str, Vec<Source<'_>>> = BTreeMap::new();
    for g in groups {
        for (name, f) in &g.families {
            by_name.entry(name).or_default().push(Source::Stored(f));
        }
        by_name
            .entry(PUSH_TIME_NAME)
            .or_default()
            .push(Source::Time(g, 0));
        by_name
            .entry(PUSH_FAILURE_TIME_NAME)
            .or_default()
            .push(Source::Time(g, 1));
    }
    for f in own {
        by_name.entry(&f.name).or_default().push(Source::Own(f));
    }
    by_name
}

/// Merges the series of one family from all its sources. `fixed_help` overrides the pushed
/// help (the gateway's own families keep their standard help, as in the Go gateway). `taken`
/// tells which names other families of the exposition have (for OpenMetrics counter names).
fn merge_family(
    name: &str,
    sources: &[Source<'_>],
    fixed_help: Option<&str>,
    enc: Encoding<'_>,
    taken: &impl Fn(&str) -> bool,
) -> FamilyChunk {
    let format = enc.format;
    let kind = sources.first().map_or(MetricType::Untyped, Source::kind);
    // With the consistency check disabled, groups may disagree on the type; the first group
    // (in grouping-key order) wins and the others' series are left out of the scrape.
    let sources: Vec<&Source<'_>> = sources.iter().filter(|s| s.kind() == kind).collect();
    let help = fixed_help.or_else(|| {
        sources
            .iter()
            .find_map(|s| s.help().filter(|h| !h.is_empty()))
    });
    let mut parts = Vec::with_capacity(sources.len() + 1);
    parts.push(Part::Bytes(Bytes::new()));
    if let [only] = sources.as_slice() {
        if only.len() > 0 {
            parts.push(only.run(0, only.len(), format));
        }
    } else {
        merge_runs(&sources, &mut parts, format);
    }
    parts[0] = Part::Bytes(match format {
        Format::Text => header(name, help, kind),
        Format::OpenMetrics => openmetrics::header(name, help, kind, taken),
        Format::Protobuf => {
            let len = parts
                .iter()
                .map(|p| p.len(format, enc.gzipped, enc.budget))
                .sum();
            protobuf::family_prefix(name, help, kind, len)
        }
    });
    FamilyChunk {
        name: Str::from(name),
        parts,
    }
}

fn header(name: &str, help: Option<&str>, kind: MetricType) -> Bytes {
    let mut out = Vec::with_capacity(name.len() * 2 + help.map_or(0, str::len) + 24);
    if let Some(help) = help {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        text::write_help(&mut out, help);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_str().as_bytes());
    out.push(b'\n');
    Bytes::from(out)
}

/// A source's current series, ordered for a min-heap by Go order, then by source index (so
/// equal label sets keep grouping-key order).
struct Head<'a> {
    labels: &'a [(Str, Str)],
    source: usize,
    pos: usize,
}

impl Ord for Head<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        go_order(other.labels, self.labels).then_with(|| other.source.cmp(&self.source))
    }
}

impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head<'_> {}

fn merge_runs(sources: &[&Source<'_>], parts: &mut Vec<Part>, format: Format) {
    let mut heap: BinaryHeap<Head<'_>> = sources
        .iter()
        .enumerate()
        .filter(|(_, s)| s.len() > 0)
        .map(|(i, s)| Head {
            labels: s.labels(0),
            source: i,
            pos: 0,
        })
        .collect();
    while let Some(head) = heap.pop() {
        let src = sources[head.source];
        let mut end = head.pos + 1;
        if let Some(next) = heap.peek() {
            while end < src.len()
                && go_order(src.labels(end), next.labels)
                    .then(head.source.cmp(&next.source))
                    .is_lt()
            {
                end += 1;
            }
        } else {
            end = src.len();
        }
        parts.push(src.run(head.pos, end, format));
        if end < src.len() {
            heap.push(Head {
                labels: src.labels(end),
                source: head.source,
                pos: end,
            });
        }
    }
}

/// A part of a scrape body: a run of the cached families sent unchanged, or freshly rendered
/// bytes (the gateway's own families, a family present both among those and in the store, the
/// OpenMetrics `# EOF`).
#[derive(Debug, Clone)]
pub enum Piece {
    /// `cached[range]`, all their parts in order.
    Cached(Range<usize>),
    /// Rendered for this scrape.
    Fresh(Vec<Part>),
}

impl Piece {
    /// The parts this piece stands for, in order (`cached`: the families it refers to).
    fn parts<'a>(&'a self, cached: &'a [FamilyChunk]) -> Box<dyn Iterator<Item = &'a Part> + 'a> {
        match self {
            Piece::Cached(range) => Box::new(cached[range.clone()].iter().flat_map(|c| &c.parts)),
            Piece::Fresh(parts) => Box::new(parts.iter()),
        }
    }
}

/// Assembles the full text exposition: cached pushed families merged by name with the
/// gateway's own families (`own`, whose help always wins).
#[must_use]
pub fn assemble(cached: &[FamilyChunk], snapshot: &Snapshot, own: &[StoredFamily]) -> Vec<Bytes> {
    flatten(
        cached,
        &assemble_pieces(cached, snapshot, own, Format::Text),
        Format::Text,
        None,
    )
}

/// The uncompressed body's chunks for `pieces` over `cached`.
#[must_use]
pub fn flatten(
    cached: &[FamilyChunk],
    pieces: &[Piece],
    format: Format,
    budget: Budget<'_>,
) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(cached.iter().map(|c| c.parts.len()).sum::<usize>() + 16);
    emit_flat(cached, pieces, format, budget, &mut |b| {
        out.push(b);
        true
    });
    out
}

/// Hands the uncompressed body's chunks for `pieces` over `cached` to `emit`, in order, until
/// it returns false. Says whether all were handed over.
fn emit_flat(
    cached: &[FamilyChunk],
    pieces: &[Piece],
    format: Format,
    budget: Budget<'_>,
    emit: &mut dyn FnMut(Bytes) -> bool,
) -> bool {
    for piece in pieces {
        for part in piece.parts(cached) {
            if !emit(part.bytes(format, budget)) {
                return false;
            }
        }
    }
    true
}

/// Says how a scrape body is made of cached families (rendered in `format`) and the gateway's
/// own families, merged by name. A name present in both is re-merged from the snapshot so
/// series keep the Go order.
#[must_use]
pub fn assemble_pieces(
    cached: &[FamilyChunk],
    snapshot: &Snapshot,
    own: &[StoredFamily],
    format: Format,
) -> Vec<Piece> {
    assemble_pieces_for(
        cached,
        snapshot,
        own,
        Encoding {
            format,
            gzipped: false,
            budget: None,
        },
    )
}

fn assemble_pieces_for(
    cached: &[FamilyChunk],
    snapshot: &Snapshot,
    own: &[StoredFamily],
    enc: Encoding<'_>,
) -> Vec<Piece> {
    let format = enc.format;
    let mut own_sorted: Vec<&StoredFamily> = own.iter().collect();
    own_sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let taken = |n: &str| {
        cached.binary_search_by(|c| (*c.name).cmp(n)).is_ok() || own.iter().any(|o| &*o.name == n)
    };
    let render_own =
        |o: &StoredFamily| merge_family(&o.name, &[Source::Own(o)], None, enc, &taken).parts;
    let mut pieces = Vec::new();
    let mut run_start = 0;
    let mut own_iter = own_sorted.into_iter().peekable();
    for (i, chunk) in cached.iter().enumerate() {
        let mut fresh = Vec::new();
        while let Some(o) = own_iter.next_if(|o| o.name < chunk.name) {
            fresh.extend(render_own(o));
        }
        let merged = own_iter.next_if(|o| o.name == chunk.name).map(|o| {
            let mut sources: Vec<Source<'_>> = snapshot
                .groups
                .iter()
                .filter_map(|g| g.families.get(&*chunk.name))
                .map(Source::Stored)
                .collect();
            sources.insert(0, Source::Own(o));
            merge_family(&o.name, &sources, o.help.as_deref(), enc, &taken).parts
        });
        if fresh.is_empty() && merged.is_none() {
            continue;
        }
        if run_start < i {
            pieces.push(Piece::Cached(run_start..i));
        }
        run_start = i;
        if !fresh.is_empty() {
            pieces.push(Piece::Fresh(fresh));
        }
        if let Some(parts) = merged {
            pieces.push(Piece::Fresh(parts));
            run_start = i + 1;
        }
    }
    if run_start < cached.len() {
        pieces.push(Piece::Cached(run_start..cached.len()));
    }
    let mut tail: Vec<Part> = own_iter.flat_map(render_own).collect();
    if format == Format::OpenMetrics {
        tail.push(Part::Bytes(Bytes::from_static(openmetrics::EOF)));
    }
    if !tail.is_empty() {
        pieces.push(Piece::Fresh(tail));
    }
    pieces
}

/// What one store generation's scrapes share: the merged families per format and encoding (a
/// list of headers and references to the stored families, whose renderings the families keep
/// under the render budget).
#[derive(Debug)]
pub struct Rendered {
    generation: u64,
    budget: Arc<RenderBudget>,
    chunks: [OnceLock<Arc<Vec<FamilyChunk>>>; 6],
}

impl Rendered {
    fn new(generation: u64, budget: Arc<RenderBudget>) -> Rendered {
        Rendered {
            generation,
            budget,
            chunks: Default::default(),
        }
    }

    /// The families of `snapshot` (which must be of this generation) in `format`, for an
    /// uncompressed body.
    pub fn chunks(&self, snapshot: &Snapshot, format: Format) -> Arc<Vec<FamilyChunk>> {
        self.chunks_for(snapshot, format, false)
    }

    fn chunks_for(
        &self,
        snapshot: &Snapshot,
        format: Format,
        gzipped: bool,
    ) -> Arc<Vec<FamilyChunk>> {
        debug_assert_eq!(snapshot.generation, self.generation);
        self.chunks[format.slot() * 2 + usize::from(gzipped)]
            .get_or_init(|| {
                Arc::new(render_store_as(
                    snapshot,
                    format,
                    gzipped,
                    Some(&self.budget),
                ))
            })
            .clone()
    }

    /// The families of `snapshot` in `format` for a gzip body.
    pub fn gzip_chunks(&self, snapshot: &Snapshot, format: Format) -> Arc<Vec<FamilyChunk>> {
        self.chunks_for(snapshot, format, true)
    }

    /// Compresses the stored families of `chunks` that have no kept segment, last family
    /// first, while the budget has room: run beside a gzip [`Rendered::stream`] (which goes
    /// first to last), it halves a cold scrape on two cores, and the two meet in the middle
    /// (each then finds the other's segments kept).
    pub fn precompress_backwards(&self, chunks: &[FamilyChunk], format: Format) {
        for part in chunks.iter().rev().flat_map(|c| c.parts.iter().rev()) {
            if self.budget.used() >= self.budget.limit() {
                return;
            }
            if let Some(family) = part.whole_family() {
                if !family.keeps_segment(format) {
                    let _ = family.segment(format, Some(&self.budget));
                }
            }
        }
    }

    /// The whole body of a scrape, collected: see [`Rendered::stream`].
    #[must_use]
    pub fn body(
        &self,
        snapshot: &Snapshot,
        own: &[StoredFamily],
        format: Format,
        gzipped: bool,
    ) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.stream(snapshot, own, format, gzipped, &mut |b| {
            out.push(b);
            true
        });
        out
    }

    /// The whole body of a scrape (the stored families in `format` plus the gateway's own,
    /// gzipped or not), handed to `emit` chunk by chunk as it is made, so the first bytes go
    /// out before the last family is rendered. Stops when `emit` returns false (the client
    /// went away) and says whether the body was complete.
    pub fn stream(
        &self,
        snapshot: &Snapshot,
        own: &[StoredFamily],
        format: Format,
        gzipped: bool,
        emit: &mut dyn FnMut(Bytes) -> bool,
    ) -> bool {
        let budget = Some(&self.budget);
        let cached = self.chunks_for(snapshot, format, gzipped);
        let enc = Encoding {
            format,
            gzipped,
            budget,
        };
        let pieces = assemble_pieces_for(&cached, snapshot, own, enc);
        if !gzipped {
            return emit_flat(&cached, &pieces, format, budget, emit);
        }
        let mut stitcher = gzip::Stitcher::streaming();
        for piece in &pieces {
            for part in piece.parts(&cached) {
                part.stitch(format, &mut stitcher, budget);
                if !stitcher.drain(emit) {
                    return false;
                }
            }
        }
        stitcher.finish().into_iter().all(emit)
    }
}

/// Shares renderings per store generation while they are in use: concurrent scrapers of one
/// generation wait for one merge per format instead of each doing it. Only a weak reference
/// is kept, so once the last scrape of a generation ends, its merged lists (and the replaced
/// families they point to) are freed at once instead of living until the next scrape; with
/// Flink re-pushing every group every interval, that is up to half the store.
#[derive(Debug)]
pub struct ScrapeCache {
    budget: Arc<RenderBudget>,
    slot: Mutex<std::sync::Weak<Rendered>>,
}

impl Default for ScrapeCache {
    /// A cache that keeps every rendering (benches and tools).
    fn default() -> Self {
        ScrapeCache::new(RenderBudget::unlimited())
    }
}

impl ScrapeCache {
    /// A cache whose families keep their renderings under `budget`.
    #[must_use]
    pub fn new(budget: Arc<RenderBudget>) -> ScrapeCache {
        ScrapeCache {
            budget,
            slot: Mutex::default(),
        }
    }

    /// The render budget.
    #[must_use]
    pub fn budget(&self) -> &Arc<RenderBudget> {
        &self.budget
    }

    /// The shared renderings of `generation`. A scrape holding an older snapshot than the
    /// one in use gets a private entry, so it never replaces the newer one.
    pub fn generation(&self, generation: u64) -> Arc<Rendered> {
        let mut slot = self
            .slot
            .lock()
            .expect("scrape cache lock is never poisoned: nothing panics while holding it");
        match slot.upgrade() {
            Some(r) if r.generation == generation => r,
            Some(r) if r.generation > generation => {
                Arc::new(Rendered::new(generation, self.budget.clone()))
            }
            _ => {
                let fresh = Arc::new(Rendered::new(generation, self.budget.clone()));
                *slot = Arc::downgrade(&fresh);
                fresh
            }
        }
    }

    /// The text rendering of `snapshot`'s families.
    pub fn get_or_render(&self, snapshot: &Snapshot) -> Arc<Vec<FamilyChunk>> {
        self.generation(snapshot.generation)
            .chunks(snapshot, Format::Text)
    }
}

/// `name{a="b",c="d"}` for error messages.
#[must_use]
pub fn describe_series(name: &str, labels: &[(Str, Str)]) -> String {
    let mut out = Vec::with_capacity(name.len() + labels.len() * 16);
    out.extend_from_slice(name.as_bytes());
    out.push(b'{');
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b"=\"");
        text::write_label_value(&mut out, v);
        out.push(b'"');
    }
    out.push(b'}');
    String::from_utf8(out).expect("escaping keeps UTF-8 valid")
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::grouping::GroupingKey;
    use crate::store::{Store, WriteRequest};

    fn push(store: &Store, job: &str, body: &str) {
        store
            .apply(WriteRequest {
                key: GroupingKey::from_path(&format!("job/{job}")).expect("valid path"),
                families: crate::parse::text::parse(body.as_bytes()).expect("valid body"),
                replace: true,
            })
            .expect("consistent push");
    }

    /// Group `a` with families `x` and `y`, group `b` with `x`.
    fn two_groups() -> Store {
        let store = Store::new(&[], true);
        push(&store, "a", "x{i=\"1\"} 1\ny 2\n");
        push(&store, "b", "x{i=\"2\"} 3\n");
        store
    }

    fn concat(parts: &[Bytes]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[test]
    fn concurrent_scrapes_of_a_generation_share_one_merge_which_ends_with_them() {
        let store = two_groups();
        let cache = ScrapeCache::default();
        let snap = store.snapshot();
        let in_use = cache.generation(snap.generation);
        for format in Format::ALL {
            let first = in_use.chunks(&snap, format);
            let again = cache.generation(snap.generation).chunks(&snap, format);
            assert!(Arc::ptr_eq(&first, &again), "{format:?}");
        }
        let weak = Arc::downgrade(&in_use);
        drop(in_use);
        assert!(weak.upgrade().is_none(), "freed with its last scrape");
        push(&store, "b", "x{i=\"2\"} 4\n");
        let newer = store.snapshot();
        let renewed = cache
            .generation(newer.generation)
            .chunks(&newer, Format::Text);
        assert!(!Arc::ptr_eq(&renewed, &cache.get_or_render(&snap)));
    }

    #[test]
    fn gzip_scrapes_keep_only_compressed_families_and_reuse_unchanged_ones_after_a_push() {
        let store = two_groups();
        let cache = ScrapeCache::default();
        let snap = store.snapshot();
        for format in Format::ALL {
            let _ = cache
                .generation(snap.generation)
                .body(&snap, &[], format, true);
        }
        let families = || {
            let snap = store.snapshot();
            snap.groups
                .iter()
                .flat_map(|g| g.families.values().cloned().collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        for f in families() {
            for format in Format::ALL {
                assert!(!f.keeps_lines(format), "{} {format:?}", f.name);
            }
        }
        let before: Vec<*const gzip::Segment> = families()
            .iter()
            .map(|f| Arc::as_ptr(&f.segment(Format::Text, None)))
            .collect();
        push(&store, "b", "x{i=\"2\"} 4\n");
        let newer = store.snapshot();
        let _ = cache
            .generation(newer.generation)
            .body(&newer, &[], Format::Text, true);
        let after: Vec<*const gzip::Segment> = families()
            .iter()
            .map(|f| Arc::as_ptr(&f.segment(Format::Text, None)))
            .collect();
        // Group a's two families are the same (not recompressed); b's one family is new.
        assert_eq!(before[..2], after[..2]);
        assert_ne!(before[2], after[2]);
    }

    fn bodies(cache: &ScrapeCache, snap: &Snapshot) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for format in Format::ALL {
            for gzipped in [false, true] {
                let body = cache
                    .generation(snap.generation)
                    .body(snap, &[], format, gzipped);
                out.push(concat(&body));
            }
        }
        out
    }

    #[test]
    fn a_render_budget_bounds_what_families_keep_and_never_changes_a_body() {
        // Fresh families for each budget: kept renderings live on the families.
        for limit in [0, 64, 1 << 20] {
            let store = two_groups();
            let snap = store.snapshot();
            let budget = cache::RenderBudget::new(limit);
            let cache = ScrapeCache::new(budget.clone());
            let first = bodies(&cache, &snap);
            for round in 1..3 {
                assert!(
                    bodies(&cache, &snap) == first,
                    "limit {limit}, round {round}"
                );
                assert!(
                    budget.used() <= limit,
                    "limit {limit}: {} kept",
                    budget.used()
                );
            }
            let kept = snap
                .groups
                .iter()
                .flat_map(|g| g.families.values())
                .filter(|f| {
                    Format::ALL
                        .iter()
                        .any(|&x| f.keeps_lines(x) || f.keeps_segment(x))
                })
                .count();
            // The same families rendered with no budget at all give the same bodies.
            assert!(
                bodies(&ScrapeCache::default(), &snap) == first,
                "limit {limit}"
            );
            if limit == 0 {
                assert_eq!(kept, 0, "a zero budget keeps nothing");
            } else if limit == 1 << 20 {
                assert_eq!(kept, 3, "a large budget keeps every family");
            }
        }
    }

    #[test]
    fn a_replaced_family_gives_its_budget_back() {
        let store = two_groups();
        let budget = cache::RenderBudget::new(1 << 20);
        let cache = ScrapeCache::new(budget.clone());
        let _ = bodies(&cache, &store.snapshot());
        let full = budget.used();
        assert!(full > 0);
        store
            .apply(WriteRequest {
                key: GroupingKey::from_path("job/b").expect("valid"),
                families: Vec::new(),
                replace: true,
            })
            .expect("an empty PUT applies");
        // The old generation's renderings still reference the family until a newer one replaces it.
        let _ = cache.generation(store.snapshot().generation);
        assert!(
            budget.used() < full,
            "{} of {full} still kept",
            budget.used()
        );
    }

    #[test]
    fn gzip_bodies_inflate_to_the_identity_body_with_own_families_interleaved() {
        let store = Store::new(&[], true);
        push(&store, "a", "a_first 1\nz_last 2\n");
        let own = [StoredFamily::new(
            Str::from("m_own"),
            Some(Str::from("own")),
            MetricType::Gauge,
            vec![],
            0.0,
        )];
        let snap = store.snapshot();
        let shared = ScrapeCache::default().generation(snap.generation);
        for format in Format::ALL {
            let plain = concat(&shared.body(&snap, &own, format, false));
            assert!(!plain.is_empty());
            for _ in 0..2 {
                let zipped = concat(&shared.body(&snap, &own, format, true));
                let mut inflated = Vec::new();
                flate2::read::GzDecoder::new(&zipped[..])
                    .read_to_end(&mut inflated)
                    .expect("one valid gzip member");
                assert_eq!(inflated, plain, "{format:?}");
            }
        }
        let text = String::from_utf8(concat(&shared.body(&snap, &own, Format::Text, false)))
            .expect("UTF-8");
        let order: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            order,
            [
                "a_first untyped",
                "m_own gauge",
                "push_failure_time_seconds gauge",
                "push_time_seconds gauge",
                "z_last untyped"
            ]
        );
    }
}
