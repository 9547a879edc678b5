//! Pushgateway-compatible consistency checks, kept O(size of the push).
//!
//! Owns: the [`Index`] of what the store holds (family name -> type and number of owners;
//! series identity -> owning group) and the checks the Go Pushgateway makes by re-gathering
//! its whole store on every push: a family type that differs from the same family elsewhere
//! (other groups or the gateway's own metrics), a series (name + full label set) that another
//! group already exposes, and `_count`/`_sum`/`_bucket` names colliding with a summary or
//! histogram (`client_golang` `checkSuffixCollisions`).
//! Does not own: syntax (the parsers) or applying a push (see `store`).
//!
//! The index is updated incrementally when a group is replaced or deleted, by diffing the old
//! and new group family by family (families a POST did not touch are the same `Arc` and cost
//! nothing). Series identities are 128-bit hashes, so a false "duplicate" is astronomically
//! unlikely (about 1e-26 at a million series).
//!
//! Series identities are held only while the store has groups whose grouping keys have
//! different label *names* ("shapes", say `{job}` beside `{job, instance}`). Every stored
//! series carries its group's grouping labels (they override the body's), so two groups of
//! one shape can only expose the same series if their keys are equal, that is if they are the
//! same group. A Flink deployment pushes every TaskManager and the JobManager under one shape,
//! so at 5M series this saves the identity table (about 140 MB) and its upkeep on every
//! push. The first group of a second shape builds the table from the store once (O(store),
//! under the store lock), and deleting the last group of the odd shape drops it again.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use crate::grouping::GroupingKey;
use crate::model::MetricType;
use crate::store::group::{Group, StoredFamily, Str, PUSH_FAILURE_TIME_NAME, PUSH_TIME_NAME};

/// Why a push is inconsistent with the store. Messages follow the Go gateway's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Inconsistency {
    /// Occurs when a pushed family has another type than the same family elsewhere.
    #[error("metric family {name:?} is pushed as {pushed} but is {existing} elsewhere")]
    TypeClash {
        /// The family.
        name: String,
        /// Its type in the push.
        pushed: MetricType,
        /// Its type in the store or among the gateway's own metrics.
        existing: MetricType,
    },
    /// Occurs when a `_count`/`_sum`/`_bucket` family collides with a summary or histogram.
    #[error(
        "collected metric named {name:?} collides with previously collected {kind} named {other:?}"
    )]
    SuffixCollision {
        /// The pushed family.
        name: String,
        /// The kind of the family it collides with (or "metric").
        kind: &'static str,
        /// The family it collides with.
        other: String,
    },
    /// Occurs when a pushed series (name and full label set) already exists in another group,
    /// or twice in the push.
    #[error("collected metric {0} was collected before with the same name and label values")]
    DuplicateSeries(String),
    /// Occurs when a new group would expose the same labels as an existing one (for example
    /// `/job/e` and `/job/e/instance@base64/=`), which would duplicate its push-time series.
    #[error("grouping key {new} exposes the same labels as the existing group {existing}")]
    GroupCollision {
        /// The pushed grouping key.
        new: String,
        /// The existing one.
        existing: String,
    },
}

/// 128-bit identity of a series: family name plus full label set.
///
/// Every string in a stored series is interned (see `store::intern`), and an interned string
/// keeps its allocation for as long as anything references it, so equal contents mean equal
/// pointers. The identity therefore mixes pointers and lengths instead of hashing text: about
/// 30 multiplications per Flink series instead of two `SipHash` passes over ~400 bytes.
/// `name` must be interned or `'static` (the push-time names are constants).
#[must_use]
pub fn series_id(name: &str, labels: &[(Str, Str)]) -> u128 {
    let mut h = IdMixer::new();
    h.add_str(name);
    for (n, v) in labels {
        h.add_str(n);
        h.add_str(v);
    }
    h.finish()
}

/// Two independent 64-bit multiply-rotate lanes over pointer words.
struct IdMixer(u64, u64);

impl IdMixer {
    fn new() -> Self {
        IdMixer(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344)
    }

    fn add_str(&mut self, s: &str) {
        // A pointer is at most 64 bits on every platform we build for.
        self.add(s.as_ptr() as usize as u64);
        self.add(s.len() as u64);
    }

    fn add(&mut self, x: u64) {
        self.0 = (self.0 ^ x)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
        self.1 = (self.1.rotate_left(17) ^ x)
            .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            .rotate_left(31);
    }

    fn finish(self) -> u128 {
        let fin = |mut z: u64| {
            // splitmix64 finaliser
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        (u128::from(fin(self.0)) << 64) | u128::from(fin(self.1))
    }
}

/// Hashes a `u128` series identity, or any `u64` that already is a good hash (label-set
/// hashes in `store::intern`), by folding it or passing it through: no `SipHash` pass per
/// lookup.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8)) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, i: u128) {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "folding 128 bits into 64 on purpose"
        )]
        let folded = (i as u64) ^ ((i >> 64) as u64);
        self.0 = folded;
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

/// A series identity as stored in the index: 96 of its 128 bits as three words (a collision
/// among 5M series has odds of about 1 in 10^16), 4-byte aligned, so that with its owner's
/// slot an entry takes 16 bytes instead of 32 for `(u128, u64)`: at 5M series (8.4M buckets)
/// about 130 MB less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedId([u32; 3]);

impl PackedId {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "keeping 96 of the 128 bits on purpose"
    )]
    fn new(id: u128) -> PackedId {
        PackedId([(id >> 96) as u32, (id >> 64) as u32, id as u32])
    }
}

impl std::hash::Hash for PackedId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The high word pair is one lane of the series hash: already well mixed.
        state.write_u64((u64::from(self.0[0]) << 32 | u64::from(self.0[1])) ^ u64::from(self.0[2]));
    }
}

/// Series identity -> owning group, the owner as a dense slot (4 bytes) mapped to the group's
/// id; a slot is freed when its group owns no series any more.
#[derive(Debug, Default)]
struct IdMap {
    entries: HashMap<PackedId, u32, std::hash::BuildHasherDefault<IdHasher>>,
    /// Group id -> its slot.
    slots: HashMap<u64, u32, std::hash::BuildHasherDefault<IdHasher>>,
    /// Slot -> (group id, series it owns).
    owners: Vec<(u64, u32)>,
    free: Vec<u32>,
}

impl IdMap {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn contains_key(&self, id: &u128) -> bool {
        self.entries.contains_key(&PackedId::new(*id))
    }

    fn get(&self, id: &u128) -> Option<u64> {
        self.entries
            .get(&PackedId::new(*id))
            .map(|&slot| self.owners[slot as usize].0)
    }

    fn slot_for(&mut self, gid: u64) -> u32 {
        if let Some(&slot) = self.slots.get(&gid) {
            return slot;
        }
        let slot = if let Some(slot) = self.free.pop() {
            self.owners[slot as usize] = (gid, 0);
            slot
        } else {
            let slot = u32::try_from(self.owners.len()).expect("fewer than 2^32 groups");
            self.owners.push((gid, 0));
            slot
        };
        self.slots.insert(gid, slot);
        slot
    }

    fn release(&mut self, slot: u32) {
        let owner = &mut self.owners[slot as usize];
        owner.1 -= 1;
        if owner.1 == 0 {
            self.slots.remove(&owner.0);
            self.free.push(slot);
        }
    }

    fn remove(&mut self, id: &u128) -> Option<u64> {
        let slot = self.entries.remove(&PackedId::new(*id))?;
        let gid = self.owners[slot as usize].0;
        self.release(slot);
        Some(gid)
    }

    fn insert(&mut self, id: u128, gid: u64) {
        let slot = self.slot_for(gid);
        self.owners[slot as usize].1 += 1;
        if let Some(previous) = self.entries.insert(PackedId::new(id), slot) {
            self.release(previous);
        }
    }

    fn extend(&mut self, items: impl IntoIterator<Item = (u128, u64)>) {
        let items = items.into_iter();
        self.entries.reserve(items.size_hint().0);
        for (id, gid) in items {
            self.insert(id, gid);
        }
    }
}

fn group_id(g: &Group) -> u64 {
    let mut h = DefaultHasher::new();
    g.key.hash(&mut h);
    h.finish()
}

#[derive(Debug, Clone, Copy)]
struct FamilyEntry {
    kind: MetricType,
    owners: u32,
}

/// A pushed family ready for checking: the stored family plus its series identities.
#[derive(Debug)]
pub struct Prepared {
    /// The family as it will be stored.
    pub family: Arc<StoredFamily>,
    /// `series_id` of each of its series, in order; `None` when the family has exactly the
    /// series of the target group's current family of that name ([`same_series`]), whose
    /// identities the index already holds for this group.
    pub ids: Option<Vec<u128>>,
}

/// Whether two families of one name hold the same series (the same interned label sets in
/// the same order): a Flink re-push, the common case. Then their identities are equal and
/// already owned by the group, so neither the duplicate check nor the index needs to look at
/// them. Pointer comparisons only; `false` is always safe (the slow path).
#[must_use]
pub fn same_series(a: &StoredFamily, b: &StoredFamily) -> bool {
    Str::ptr_eq(&a.name, &b.name)
        && a.series.len() == b.series.len()
        && a.series
            .iter()
            .zip(&b.series)
            .all(|(x, y)| Arc::ptr_eq(&x.labels, &y.labels))
}

/// What the store holds, for O(push) checks.
#[derive(Debug, Default)]
pub struct Index {
    families: HashMap<Str, FamilyEntry>,
    /// Series identity -> owning group id; empty unless `full`.
    series: IdMap,
    /// Whether `series` holds every stored series (two or more shapes in the store).
    full: bool,
    /// Grouping label names of the stored groups -> how many groups have them.
    shapes: HashMap<Box<[Str]>, u32>,
}

/// The shape of a group: the names of its grouping labels, sorted.
fn shape_of(key: &GroupingKey) -> Box<[Str]> {
    key.labels().iter().map(|(n, _)| n.clone()).collect()
}

/// The groups a check looks at: the current version of the target group (if any) and the
/// families it keeps (for POST).
pub struct Target<'a> {
    /// The group being written, as it is now.
    pub old: Option<&'a Group>,
    /// The group's labels and id after the write (the same for an existing group).
    pub new_group: &'a Group,
    /// Whether the write replaces the whole group (PUT) or only the pushed families (POST).
    pub replace: bool,
}

impl Index {
    /// Registers a family owned by the gateway itself (never removed).
    pub fn add_builtin(&mut self, name: Str, kind: MetricType) {
        self.families.insert(name, FamilyEntry { kind, owners: 1 });
    }

    /// Number of series identities held (for the gateway's own metrics): 0 while every
    /// group has the same grouping label names.
    #[must_use]
    pub fn series_len(&self) -> usize {
        self.series.len()
    }

    /// Makes the index ready to check a new group with `key` (not in the store yet) against
    /// `groups`, the store's groups: when the key brings a second shape, builds the series
    /// identities of every stored group (once; later pushes keep them up to date).
    pub fn prepare_for<'a>(
        &mut self,
        key: &GroupingKey,
        groups: impl IntoIterator<Item = &'a Arc<Group>>,
    ) {
        if self.full || self.shapes.is_empty() || self.shapes.contains_key(&shape_of(key)) {
            return;
        }
        self.full = true;
        for g in groups {
            let gid = group_id(g);
            self.insert_group_labels(&g.labels, gid);
            for f in g.families.values() {
                self.insert_series(f, None, gid);
            }
        }
        tracing::info!(
            shapes = self.shapes.len() + 1,
            series = self.series.len(),
            "grouping keys with different label names: indexing every series for the duplicate check"
        );
    }

    /// Whether another group already exposes the push-time series of a group with these
    /// labels (an empty group with them would collide: the Go gateway's "poison" state).
    #[must_use]
    pub fn owns_group_labels(&self, labels: &[(Str, Str)]) -> bool {
        self.series.contains_key(&series_id(PUSH_TIME_NAME, labels))
    }

    /// Checks a push against the index.
    ///
    /// # Errors
    /// The first inconsistency found.
    pub fn check(&self, t: &Target<'_>, pushed: &[Prepared]) -> Result<(), Inconsistency> {
        let gid = group_id(t.new_group);
        if t.old.is_none() {
            self.check_group_labels(t.new_group, gid)?;
        }
        let pushed_kinds: HashMap<&str, MetricType> = pushed
            .iter()
            .map(|p| (&*p.family.name, p.family.kind))
            .collect();
        for p in pushed {
            let f = &p.family;
            if let Some(existing) = self.kind_elsewhere(t, &f.name) {
                if existing != f.kind {
                    return Err(Inconsistency::TypeClash {
                        name: f.name.to_string(),
                        pushed: f.kind,
                        existing,
                    });
                }
            }
            self.check_suffixes(t, &pushed_kinds, &f.name, f.kind)?;
            // `None`: the group already owns exactly these series.
            let Some(ids) = &p.ids else { continue };
            for (s, id) in f.series.iter().zip(ids) {
                if self.series.get(id).is_some_and(|owner| owner != gid) {
                    return Err(Inconsistency::DuplicateSeries(
                        crate::render::describe_series(&f.name, &s.labels),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_group_labels(&self, g: &Group, gid: u64) -> Result<(), Inconsistency> {
        let id = series_id(PUSH_TIME_NAME, &g.labels);
        match self.series.get(&id) {
            Some(owner) if owner != gid => Err(Inconsistency::GroupCollision {
                new: g.key.to_string(),
                existing: crate::render::describe_series("", &g.labels),
            }),
            _ => Ok(()),
        }
    }

    /// The type of `name` in the store after the write, ignoring the pushed families: from
    /// families the target group keeps, or from other owners.
    fn kind_elsewhere(&self, t: &Target<'_>, name: &str) -> Option<MetricType> {
        // The target group's own copy is replaced (PUT, or POST re-pushing it) or handled by
        // `kind_after` (POST keeping it), so it never counts here.
        let in_old = t.old.and_then(|g| g.families.get(name));
        let entry = self.families.get(name)?;
        let owners = entry.owners - u32::from(in_old.is_some());
        (owners > 0).then_some(entry.kind)
    }

    /// The type of `name` after the write, the push included.
    fn kind_after(
        &self,
        t: &Target<'_>,
        pushed: &HashMap<&str, MetricType>,
        name: &str,
    ) -> Option<MetricType> {
        if let Some(k) = pushed.get(name) {
            return Some(*k);
        }
        if !t.replace {
            if let Some(f) = t.old.and_then(|g| g.families.get(name)) {
                return Some(f.kind);
            }
        }
        self.kind_elsewhere(t, name)
    }

    fn check_suffixes(
        &self,
        t: &Target<'_>,
        pushed: &HashMap<&str, MetricType>,
        name: &str,
        kind: MetricType,
    ) -> Result<(), Inconsistency> {
        for suffix in ["_count", "_sum", "_bucket"] {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            let collides = match self.kind_after(t, pushed, base) {
                Some(MetricType::Summary) => suffix != "_bucket",
                Some(MetricType::Histogram) => true,
                _ => false,
            };
            if collides {
                let kind = if self.kind_after(t, pushed, base) == Some(MetricType::Summary) {
                    "summary"
                } else {
                    "histogram"
                };
                return Err(Inconsistency::SuffixCollision {
                    name: name.to_string(),
                    kind,
                    other: base.to_string(),
                });
            }
        }
        if matches!(kind, MetricType::Summary | MetricType::Histogram) {
            let suffixes: &[&str] = if kind == MetricType::Histogram {
                &["_count", "_sum", "_bucket"]
            } else {
                &["_count", "_sum"]
            };
            for suffix in suffixes {
                let other = format!("{name}{suffix}");
                if self.kind_after(t, pushed, &other).is_some() {
                    return Err(Inconsistency::SuffixCollision {
                        name: name.to_string(),
                        kind: "metric",
                        other,
                    });
                }
            }
        }
        Ok(())
    }

    /// Updates the index for `old` being replaced by `new` (either may be absent).
    pub fn replace(
        &mut self,
        old: Option<&Group>,
        new: Option<&Group>,
        new_ids: &HashMap<Str, Vec<u128>>,
    ) {
        let gid = old
            .or(new)
            .map(group_id)
            .expect("replace is called with at least one group");
        if let Some(old) = old {
            for (name, f) in &old.families {
                match new.and_then(|n| n.families.get(name)) {
                    Some(nf) if Arc::ptr_eq(nf, f) => {}
                    // Same identities, same owner: only the family's type may change.
                    Some(nf) if same_series(f, nf) => {
                        self.release_name(f);
                        self.claim_name(nf);
                    }
                    Some(nf) => {
                        self.remove_family(f);
                        self.add_family(nf, new_ids.get(name), gid);
                    }
                    None => self.remove_family(f),
                }
            }
            if new.is_none() && self.full {
                self.series.remove(&series_id(PUSH_TIME_NAME, &old.labels));
                self.series
                    .remove(&series_id(PUSH_FAILURE_TIME_NAME, &old.labels));
            }
        }
        if let Some(new) = new {
            if old.is_none() {
                self.insert_group_labels(&new.labels, gid);
            }
            // Names the old group had too were handled with its families above.
            for (name, f) in &new.families {
                if old.is_none_or(|o| !o.families.contains_key(name)) {
                    self.add_family(f, new_ids.get(name), gid);
                }
            }
        }
        match (old, new) {
            (None, Some(new)) => {
                *self.shapes.entry(shape_of(&new.key)).or_default() += 1;
                debug_assert!(
                    self.full || self.shapes.len() == 1,
                    "prepare_for indexes the store before a second shape arrives"
                );
            }
            (Some(old), None) => {
                let shape = shape_of(&old.key);
                if let Some(n) = self.shapes.get_mut(&shape) {
                    *n -= 1;
                    if *n == 0 {
                        self.shapes.remove(&shape);
                    }
                }
                if self.full && self.shapes.len() <= 1 {
                    self.full = false;
                    tracing::info!(
                        series = self.series.len(),
                        "every group has the same grouping label names again: series index dropped"
                    );
                    self.series = IdMap::default();
                }
            }
            _ => {}
        }
    }

    /// Counts one more owner of `f`'s name (its type is `f`'s from now on if it had none).
    fn claim_name(&mut self, f: &StoredFamily) {
        let e = self.families.entry(f.name.clone()).or_insert(FamilyEntry {
            kind: f.kind,
            owners: 0,
        });
        e.owners += 1;
    }

    /// Counts one owner of `f`'s name less.
    fn release_name(&mut self, f: &StoredFamily) {
        if let Some(e) = self.families.get_mut(&f.name) {
            e.owners -= 1;
            if e.owners == 0 {
                self.families.remove(&f.name);
            }
        }
    }

    fn add_family(&mut self, f: &StoredFamily, ids: Option<&Vec<u128>>, gid: u64) {
        self.claim_name(f);
        self.insert_series(f, ids, gid);
    }

    /// Indexes the push-time series of a group with these labels (while `full`).
    fn insert_group_labels(&mut self, labels: &[(Str, Str)], gid: u64) {
        if self.full {
            self.series.insert(series_id(PUSH_TIME_NAME, labels), gid);
            self.series
                .insert(series_id(PUSH_FAILURE_TIME_NAME, labels), gid);
        }
    }

    /// Indexes the series of `f` (`ids`: their identities, when already computed) as owned
    /// by `gid` (while `full`).
    fn insert_series(&mut self, f: &StoredFamily, ids: Option<&Vec<u128>>, gid: u64) {
        if !self.full {
            return;
        }
        match ids {
            Some(ids) => self.series.extend(ids.iter().map(|id| (*id, gid))),
            None => self.series.extend(
                f.series
                    .iter()
                    .map(|s| (series_id(&f.name, &s.labels), gid)),
            ),
        }
    }

    fn remove_family(&mut self, f: &StoredFamily) {
        self.release_name(f);
        if !self.full {
            return;
        }
        for s in &f.series {
            self.series.remove(&series_id(&f.name, &s.labels));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_slots_follow_their_series_and_are_reused_once_free() {
        let mut m = IdMap::default();
        m.extend([(1, 10), (2, 10), (3, 20)]);
        assert_eq!(
            (m.get(&1), m.get(&3), m.get(&4)),
            (Some(10), Some(20), None)
        );
        assert_eq!(m.owners.len(), 2);
        // Overwriting a series moves it to its new owner.
        m.insert(2, 20);
        assert_eq!(m.get(&2), Some(20));
        assert_eq!(m.remove(&1), Some(10));
        // Group 10 owns nothing any more: its slot is free and taken by the next group.
        assert!(!m.slots.contains_key(&10));
        m.insert(5, 30);
        assert_eq!(m.owners.len(), 2, "slot reused");
        assert_eq!(
            (m.get(&5), m.get(&2), m.get(&3)),
            (Some(30), Some(20), Some(20))
        );
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn packed_ids_keep_the_bits_that_tell_series_apart() {
        let a = series_id("x", &[]);
        let b = series_id("y", &[]);
        assert_ne!(PackedId::new(a), PackedId::new(b));
        assert_eq!(PackedId::new(a), PackedId::new(a));
        assert_eq!(std::mem::size_of::<(PackedId, u32)>(), 16);
    }
}
