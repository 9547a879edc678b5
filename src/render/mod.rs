//! Scrape rendering: a store snapshot in, the text exposition of every group merged out.
//!
//! Owns: merging the families of all groups (one `# HELP`/`# TYPE` per family, families sorted
//! by name, series in the Go Pushgateway's order), splicing in the gateway's own metrics, and
//! the per-generation [`ScrapeCache`].
//! Does not own: sample line layout (see [`series`]) or number/escape formatting (see [`text`]).
//!
//! Nothing is re-formatted when it did not change: each stored family renders its lines once
//! (cached on the family, which a push replaces), and a scrape splices zero-copy `Bytes` runs
//! of those lines. When families of several groups interleave in Go order we merge them with
//! a heap, emitting maximal runs from one group at a time; for Flink (the job label differs
//! per group) a family usually comes out as one run per group. The assembled list of chunks is
//! cached per store generation, so repeated scrapes of an unchanged store cost only the
//! gateway's own metrics.

pub mod series;
pub mod text;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::model::MetricType;
use crate::store::group::{
    go_order, Group, StoredFamily, Str, PUSH_FAILURE_TIME_HELP, PUSH_FAILURE_TIME_NAME,
    PUSH_TIME_HELP, PUSH_TIME_NAME,
};
use crate::store::Snapshot;

/// One family of the merged exposition: its header and its sample lines as zero-copy parts.
#[derive(Debug, Clone)]
pub struct FamilyChunk {
    /// The family name.
    pub name: Str,
    /// `# HELP`/`# TYPE` lines first, then runs of sample lines.
    pub parts: Vec<Bytes>,
}

/// Where the series of one merged family come from.
enum Source<'a> {
    /// A stored family of one group (or of the gateway's own metrics).
    Family(&'a StoredFamily),
    /// One group's push-time series (index 0: success, 1: failure).
    Time(&'a Group, usize),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Family(f) => f.series.len(),
            Source::Time(..) => 1,
        }
    }

    fn labels(&self, i: usize) -> &[(Str, Str)] {
        match self {
            Source::Family(f) => &f.series[i].labels,
            Source::Time(g, _) => &g.labels,
        }
    }

    fn run(&self, start: usize, end: usize) -> Bytes {
        match self {
            Source::Family(f) => f.rendered().run(start, end),
            Source::Time(g, which) => g.time_lines[*which].clone(),
        }
    }

    fn kind(&self) -> MetricType {
        match self {
            Source::Family(f) => f.kind,
            Source::Time(..) => MetricType::Gauge,
        }
    }

    fn help(&self) -> Option<&str> {
        match self {
            Source::Family(f) => f.help.as_deref(),
            Source::Time(_, 0) => Some(PUSH_TIME_HELP),
            Source::Time(..) => Some(PUSH_FAILURE_TIME_HELP),
        }
    }
}

/// Renders every pushed family of a snapshot, plus `push_time_seconds` and
/// `push_failure_time_seconds`, sorted by family name.
#[must_use]
pub fn render_store(snapshot: &Snapshot) -> Vec<FamilyChunk> {
    let by_name = collect_sources(&snapshot.groups, &[]);
    by_name
        .into_iter()
        .map(|(name, sources)| merge_family(name, &sources, None))
        .collect()
}

fn collect_sources<'a>(
    groups: &'a [Arc<Group>],
    own: &'a [StoredFamily],
) -> BTreeMap<&'a str, Vec<Source<'a>>> {
    let mut by_name: BTreeMap<&str, Vec<Source<'_>>> = BTreeMap::new();
    for g in groups {
        for (name, f) in &g.families {
            by_name.entry(name).or_default().push(Source::Family(f));
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
        by_name.entry(&f.name).or_default().push(Source::Family(f));
    }
    by_name
}

/// Merges the series of one family from all its sources. `fixed_help` overrides the pushed
/// help (the gateway's own families keep their standard help, as in the Go gateway).
fn merge_family(name: &str, sources: &[Source<'_>], fixed_help: Option<&str>) -> FamilyChunk {
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
    parts.push(header(name, help, kind));
    if let [only] = sources.as_slice() {
        if only.len() > 0 {
            parts.push(only.run(0, only.len()));
        }
    } else {
        merge_runs(&sources, &mut parts);
    }
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

fn merge_runs(sources: &[&Source<'_>], parts: &mut Vec<Bytes>) {
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
        parts.push(src.run(head.pos, end));
        if end < src.len() {
            heap.push(Head {
                labels: src.labels(end),
                source: head.source,
                pos: end,
            });
        }
    }
}

/// Assembles the full exposition: cached pushed families merged by name with the gateway's
/// own families (`own`, whose help always wins). A name present in both is re-merged from
/// the snapshot so series keep the Go order.
#[must_use]
pub fn assemble(cached: &[FamilyChunk], snapshot: &Snapshot, own: &[StoredFamily]) -> Vec<Bytes> {
    let mut own_sorted: Vec<&StoredFamily> = own.iter().collect();
    own_sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out =
        Vec::with_capacity(cached.iter().map(|c| c.parts.len()).sum::<usize>() + own.len() * 2);
    let mut own_iter = own_sorted.into_iter().peekable();
    for chunk in cached {
        while let Some(o) = own_iter.next_if(|o| o.name < chunk.name) {
            out.extend(merge_family(&o.name, &[Source::Family(o)], None).parts);
        }
        if let Some(o) = own_iter.next_if(|o| o.name == chunk.name) {
            let mut sources: Vec<Source<'_>> = snapshot
                .groups
                .iter()
                .filter_map(|g| g.families.get(&*chunk.name))
                .map(|f| Source::Family(f))
                .collect();
            sources.insert(0, Source::Family(o));
            out.extend(merge_family(&o.name, &sources, o.help.as_deref()).parts);
        } else {
            out.extend(chunk.parts.iter().cloned());
        }
    }
    for o in own_iter {
        out.extend(merge_family(&o.name, &[Source::Family(o)], None).parts);
    }
    out
}

/// Caches [`render_store`] per store generation. Rendering holds the cache lock, so
/// concurrent scrapers of a new generation wait for one rendering instead of each doing it.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    slot: Mutex<Option<(u64, Arc<Vec<FamilyChunk>>)>>,
}

impl ScrapeCache {
    /// The rendered families for `snapshot`'s generation.
    pub fn get_or_render(&self, snapshot: &Snapshot) -> Arc<Vec<FamilyChunk>> {
        let mut slot = self
            .slot
            .lock()
            .expect("scrape cache lock is never poisoned: rendering does not panic");
        if let Some((generation, chunks)) = slot.as_ref() {
            if *generation == snapshot.generation {
                return chunks.clone();
            }
        }
        let chunks = Arc::new(render_store(snapshot));
        *slot = Some((snapshot.generation, chunks.clone()));
        chunks
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
