//! The metric store: groups by grouping key, with incremental consistency checking.
//!
//! Owns: the set of groups ([`Store`]), applying a push ([`Store::apply`]) or a delete, the
//! store generation, and consistent snapshots for scrapes ([`Store::snapshot`]).
//! Does not own: HTTP, parsing, or rendering (groups render their own families lazily; the
//! merge across groups lives in `render`).
//!
//! Data enters as a [`WriteRequest`] of parsed families borrowing from the request body.
//! [`Store::apply`] first builds the stored families *outside* the lock (grouping labels
//! applied, strings interned, series sorted and hashed), then takes the lock only to check the
//! push against the [`consistency::Index`] and swap in the new `Arc<Group>`: work under the
//! lock is O(size of the push), never O(size of the store).
//!
//! The Flink steady state is a group re-pushing the same series with new values, so that case
//! is made cheap: a label block of the push is grouped, interned and sorted into a label set
//! once (see `model::Metric::label_block`); a family with exactly the stored family's label
//! sets reuses its sort order and skips the identity hashing, duplicate checks and index
//! updates (see `consistency::same_series`): pointer comparisons instead.
//!
//! Lock choice: one `std::sync::Mutex` over groups, index and generation. Writes must be
//! serialized anyway (check-then-apply has to be atomic, as the Go gateway's single writer
//! goroutine makes it), the critical section is short, and a scrape holds it only to clone
//! the group `Arc`s. It is never held across `.await`.

pub mod consistency;
pub mod group;
pub mod intern;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::grouping::GroupingKey;
use crate::model::{Family, MetricType};
use consistency::{series_id, Inconsistency, Index, Prepared, Target};
use group::{
    Group, LabelSet, PushTimes, Series, StoredFamily, Str, PUSH_FAILURE_TIME_NAME, PUSH_TIME_NAME,
};
use intern::{Interner, LocalInterner};

/// Why a push was refused by the store. The HTTP layer answers 400 with
/// `pushed metrics are invalid or inconsistent with existing metrics: <this>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// Occurs when a pushed sample carries a timestamp (the Go gateway refuses those).
    #[error("pushed metrics must not have timestamps")]
    Timestamp,
    /// Occurs when the push conflicts with the store or with itself.
    #[error(transparent)]
    Inconsistent(#[from] Inconsistency),
    /// Occurs when the push exceeds a configured limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
}

/// Size limits on what one push may store (each a flag, see `config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Series (metrics) in one push.
    pub max_series_per_push: usize,
    /// Labels on one series, grouping labels included.
    pub max_labels_per_series: usize,
    /// Bytes in a metric or label name.
    pub max_name_length: usize,
    /// Bytes in a label value.
    pub max_label_value_length: usize,
    /// Groups in the store; a push creating one more is refused.
    pub max_groups: usize,
}

impl Default for Limits {
    /// Generous for Flink: a `TaskManager` with 50,000 series, 13 labels and long operator-chain
    /// names stays far below every limit.
    fn default() -> Self {
        Limits {
            max_series_per_push: 200_000,
            max_labels_per_series: 64,
            max_name_length: 1024,
            max_label_value_length: 16 * 1024,
            max_groups: 100_000,
        }
    }
}

/// A push over one of the [`Limits`]. Messages name the limit and its flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// Occurs when a push carries more series than `--push.max-series-per-push`.
    #[error("push has {got} series, over the limit of {limit} (--push.max-series-per-push)")]
    Series {
        /// Series in the push.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// Occurs when a series has more labels than `--push.max-labels-per-series`.
    #[error("metric {name:?} has a series with {got} labels, over the limit of {limit} (--push.max-labels-per-series)")]
    Labels {
        /// The metric.
        name: String,
        /// Labels on the series.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// Occurs when a metric or label name is longer than `--push.max-name-length`.
    #[error("name {prefix:?}... is {got} bytes long, over the limit of {limit} (--push.max-name-length)")]
    Name {
        /// The first 64 bytes of the name.
        prefix: String,
        /// Its length.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// Occurs when a label value is longer than `--push.max-label-value-length`.
    #[error("metric {name:?} has a value of label {label:?} that is {got} bytes long, over the limit of {limit} (--push.max-label-value-length)")]
    LabelValue {
        /// The metric.
        name: String,
        /// The label.
        label: String,
        /// The value's length.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// Occurs when a push would create a group beyond `--push.max-groups`.
    #[error("the store already holds {limit} groups, the limit (--push.max-groups); delete groups or raise the limit")]
    Groups {
        /// The limit.
        limit: usize,
    },
}

/// A push: the target grouping key, the parsed families, and PUT (replace) or POST semantics.
#[derive(Debug)]
pub struct WriteRequest<'a> {
    /// The group to write.
    pub key: GroupingKey,
    /// Parsed families, borrowing from the request body.
    pub families: Vec<Family<'a>>,
    /// `true` for PUT (replace the whole group), `false` for POST (replace pushed families).
    pub replace: bool,
}

/// A consistent view of the store for one scrape.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The store generation this view belongs to.
    pub generation: u64,
    /// Every group, in grouping-key order.
    pub groups: Vec<Arc<Group>>,
}

/// Cheap-to-clone handle to the store.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Grouping key -> Unix time until which pushes to it are swallowed (see
    /// [`Store::delete_with_tombstone`]). Separate from `state`: it is touched only by deletes
    /// and by pushes to recently deleted keys.
    tombstones: Mutex<HashMap<GroupingKey, f64>>,
    interner: Interner,
    check: bool,
    limits: Limits,
}

#[derive(Debug, Default)]
struct State {
    groups: BTreeMap<GroupingKey, Arc<Group>>,
    index: Index,
    generation: u64,
    series: usize,
}

impl State {
    /// Readies the consistency index for a new group with `key` (see `Index::prepare_for`).
    fn prepare_index_for(&mut self, key: &GroupingKey) {
        self.index.prepare_for(key, self.groups.values());
    }
}

impl Store {
    /// A new empty store. `builtins` are the gateway's own families (name, type): pushes must
    /// agree with their types. `check` enables consistency checking.
    #[must_use]
    pub fn new(builtins: &[(&str, MetricType)], check: bool) -> Store {
        Store::with_limits(builtins, check, Limits::default())
    }

    /// Like [`Store::new`], with explicit limits.
    #[must_use]
    pub fn with_limits(builtins: &[(&str, MetricType)], check: bool, limits: Limits) -> Store {
        let mut state = State::default();
        for (name, kind) in builtins.iter().chain(&[
            (PUSH_TIME_NAME, MetricType::Gauge),
            (PUSH_FAILURE_TIME_NAME, MetricType::Gauge),
        ]) {
            state.index.add_builtin(Str::from(*name), *kind);
        }
        Store {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                tombstones: Mutex::default(),
                interner: Interner::default(),
                check,
                limits,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .expect("store lock is never poisoned: nothing panics while holding it")
    }

    /// Applies a push at the current time.
    ///
    /// # Errors
    /// [`PushError`] when the push is refused. A push refused by the consistency check or
    /// for timestamps records `push_failure_time_seconds` on its group, creating the group
    /// empty if needed (as Go does); a limit refusal changes nothing.
    pub fn apply(&self, req: WriteRequest<'_>) -> Result<(), PushError> {
        self.apply_at(req, now_seconds())
    }

    /// Applies a push as if made at `now` (Unix seconds).
    ///
    /// # Errors
    /// See [`Store::apply`].
    pub fn apply_at(&self, req: WriteRequest<'_>, now: f64) -> Result<(), PushError> {
        check_limits(&req, &self.shared.limits)?;
        let group_labels = self.group_labels(&req.key);
        // The group as it is before the push: families whose series it already holds skip
        // the identity work (see `consistency::same_series`).
        let base = self.group(&req.key);
        let mut prepared = match self.prepare(&req, &group_labels, base.as_deref(), now) {
            Ok(p) => p,
            Err(e) => {
                self.record_failure(&req.key, group_labels, now);
                return Err(e);
            }
        };
        let mut state = self.lock();
        let old = state.groups.get(&req.key).cloned();
        let raced = match (&old, &base) {
            (Some(o), Some(b)) => !Arc::ptr_eq(o, b),
            (None, None) => false,
            _ => true,
        };
        if raced {
            // Another push to this group landed meanwhile: recheck the shortcut against it.
            for p in prepared.iter_mut().filter(|p| p.ids.is_none()) {
                let same = old
                    .as_ref()
                    .and_then(|g| g.families.get(&p.family.name))
                    .is_some_and(|f| consistency::same_series(f, &p.family));
                if !same {
                    p.ids = Some(family_ids(&p.family));
                }
            }
        }
        drop(base);
        if old.is_none() && state.groups.len() >= self.shared.limits.max_groups {
            return Err(LimitError::Groups {
                limit: self.shared.limits.max_groups,
            }
            .into());
        }
        if self.shared.check && old.is_none() {
            state.prepare_index_for(&req.key);
        }
        let families = merge_families(old.as_deref(), &prepared, req.replace);
        let times = old
            .as_ref()
            .map_or(PushTimes::default(), |g| g.times)
            .after_success(now);
        let new = Arc::new(Group::new(req.key.clone(), group_labels, families, times));
        if self.shared.check {
            let target = Target {
                old: old.as_deref(),
                new_group: &new,
                replace: req.replace,
            };
            if let Err(e) = state.index.check(&target, &prepared) {
                let labels = new.labels.clone();
                drop(new);
                self.record_failure_locked(&mut state, &req.key, labels, now);
                return Err(e.into());
            }
            let ids: HashMap<Str, Vec<u128>> = prepared
                .into_iter()
                .filter_map(|p| Some((p.family.name.clone(), p.ids?)))
                .collect();
            state.index.replace(old.as_deref(), Some(&new), &ids);
        }
        state.series =
            state.series + new.series_count() - old.as_ref().map_or(0, |g| g.series_count());
        state.groups.insert(req.key, new);
        state.generation += 1;
        // Free the replaced group (thousands of series) after the lock, not under it.
        drop(state);
        drop(old);
        Ok(())
    }

    /// Deletes exactly the group with this key. Returns whether it existed.
    #[must_use = "a delete of a missing group is not an error, but callers should say so in logs"]
    pub fn delete(&self, key: &GroupingKey) -> bool {
        let mut state = self.lock();
        let Some(old) = state.groups.remove(key) else {
            return false;
        };
        if self.shared.check {
            state.index.replace(Some(&old), None, &HashMap::new());
        }
        state.series -= old.series_count();
        state.generation += 1;
        true
    }

    /// Deletes the group and swallows pushes to its key until `until` (Unix seconds): a Flink
    /// reporter's last scheduled report can race its own DELETE on shutdown, and would
    /// otherwise resurrect the group forever.
    #[must_use = "a delete of a missing group is not an error, but callers should say so in logs"]
    pub fn delete_with_tombstone(&self, key: &GroupingKey, until: f64) -> bool {
        let mut tombstones = self
            .shared
            .tombstones
            .lock()
            .expect("tombstone lock is never poisoned");
        let now = now_seconds();
        if tombstones.len() > 4096 {
            tombstones.retain(|_, t| *t > now);
        }
        tombstones.insert(key.clone(), until);
        drop(tombstones);
        self.delete(key)
    }

    /// Whether pushes to `key` are currently swallowed after a delete.
    #[must_use]
    pub fn tombstoned(&self, key: &GroupingKey, now: f64) -> bool {
        let mut tombstones = self
            .shared
            .tombstones
            .lock()
            .expect("tombstone lock is never poisoned");
        match tombstones.get(key) {
            Some(until) if *until > now => true,
            Some(_) => {
                tombstones.remove(key);
                false
            }
            None => false,
        }
    }

    /// Deletes `group` only if it is still the current version of its key (an expiry decision
    /// must not remove a group that was pushed to meanwhile).
    pub fn delete_if_unchanged(&self, group: &Arc<Group>) -> bool {
        let mut state = self.lock();
        match state.groups.get(&group.key) {
            Some(current) if Arc::ptr_eq(current, group) => {}
            _ => return false,
        }
        state.groups.remove(&group.key);
        if self.shared.check {
            state.index.replace(Some(group), None, &HashMap::new());
        }
        state.series -= group.series_count();
        state.generation += 1;
        true
    }

    /// Removes every group (the admin wipe).
    pub fn wipe(&self) {
        let keys: Vec<GroupingKey> = self.lock().groups.keys().cloned().collect();
        for k in keys {
            let _existed = self.delete(&k);
        }
    }

    /// A consistent view of all groups.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        Snapshot {
            generation: state.generation,
            groups: state.groups.values().cloned().collect(),
        }
    }

    /// The current generation: it changes whenever the store changes.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Number of groups and of series (push-time series included).
    #[must_use]
    pub fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        (state.groups.len(), state.series)
    }

    /// Number of series identities the consistency index holds: 0 while every group has the
    /// same grouping label names (see `consistency`).
    #[must_use]
    pub fn indexed_series(&self) -> usize {
        self.lock().index.series_len()
    }

    /// The group with this key, if any.
    #[must_use]
    pub fn group(&self, key: &GroupingKey) -> Option<Arc<Group>> {
        self.lock().groups.get(key).cloned()
    }

    /// Sets a group's failure time and learned interval (used when restoring from disk).
    pub fn set_times(&self, key: &GroupingKey, failure: f64, interval: Option<f64>, gaps: u32) {
        let mut state = self.lock();
        if let Some(g) = state.groups.get(key) {
            let updated = Arc::new(g.with_times(PushTimes {
                failure,
                interval,
                gaps,
                ..g.times
            }));
            state.groups.insert(key.clone(), updated);
            state.generation += 1;
        }
    }

    fn record_failure(&self, key: &GroupingKey, labels: LabelSet, now: f64) {
        self.record_failure_locked(&mut self.lock(), key, labels, now);
    }

    /// Records a refused push (parsed, but inconsistent or timestamped) on its group, as the
    /// Go gateway does (`storage/diskmetricstore.go` `setPushFailedTimestamp`): an existing
    /// group keeps its metrics and gets `push_failure_time_seconds = now`; a missing one is
    /// created empty with `push_time_seconds 0`, so the standard alert
    /// `push_failure_time_seconds > push_time_seconds` sees a job whose first push failed.
    /// A missing group is not created past `--push.max-groups`, nor when another group
    /// already exposes the same labels (Go would then be left in its "poison" state).
    fn record_failure_locked(
        &self,
        state: &mut State,
        key: &GroupingKey,
        labels: LabelSet,
        now: f64,
    ) {
        if let Some(g) = state.groups.get(key) {
            let updated = Arc::new(g.with_times(PushTimes {
                failure: now,
                ..g.times
            }));
            state.groups.insert(key.clone(), updated);
            state.generation += 1;
            return;
        }
        if state.groups.len() >= self.shared.limits.max_groups {
            return;
        }
        if self.shared.check {
            state.prepare_index_for(key);
            if state.index.owns_group_labels(&labels) {
                return;
            }
        }
        let times = PushTimes {
            failure: now,
            ..PushTimes::default()
        };
        let new = Arc::new(Group::new(key.clone(), labels, BTreeMap::new(), times));
        if self.shared.check {
            state.index.replace(None, Some(&new), &HashMap::new());
        }
        state.series += new.series_count();
        state.groups.insert(key.clone(), new);
        state.generation += 1;
    }

    /// The labels of a group's own series: the key plus `instance=""` when absent, sorted.
    fn group_labels(&self, key: &GroupingKey) -> LabelSet {
        let mut labels: Vec<(Str, Str)> = key
            .labels()
            .iter()
            .map(|(n, v)| {
                (
                    self.shared.interner.intern(n),
                    self.shared.interner.intern(v),
                )
            })
            .collect();
        if key.get("instance").is_none() {
            labels.push((
                self.shared.interner.intern("instance"),
                self.shared.interner.intern(""),
            ));
            labels.sort_by(|a, b| a.0.cmp(&b.0));
        }
        labels.into()
    }

    /// Builds the stored families of a push, outside the lock.
    fn prepare(
        &self,
        req: &WriteRequest<'_>,
        group_labels: &LabelSet,
        base: Option<&Group>,
        now: f64,
    ) -> Result<Vec<Prepared>, PushError> {
        let mut li = LocalInterner::new(&self.shared.interner);
        // The stored label set of each label block of the push (see `Metric::label_block`):
        // Flink repeats a task's labels in dozens of families, and they are interned, grouped
        // and sorted once.
        let mut by_block: Vec<Option<LabelSet>> = Vec::new();
        let mut out = Vec::with_capacity(req.families.len());
        for fam in &req.families {
            if fam.name == PUSH_TIME_NAME || fam.name == PUSH_FAILURE_TIME_NAME {
                // The Go gateway overwrites these with its own; so do we.
                continue;
            }
            let mut series = Vec::with_capacity(fam.metrics.len());
            for m in &fam.metrics {
                if m.timestamp_ms.is_some() {
                    return Err(PushError::Timestamp);
                }
                let labels = match m.label_block.map(|b| b as usize) {
                    Some(b) => {
                        if by_block.len() <= b {
                            by_block.resize(b + 1, None);
                        }
                        let slot = &mut by_block[b];
                        if let Some(set) = slot {
                            debug_assert_eq!(
                                **set,
                                *apply_grouping(&mut li, &m.labels, &req.key, group_labels),
                                "metrics with one label block have equal labels"
                            );
                            set.clone()
                        } else {
                            slot.insert(apply_grouping(&mut li, &m.labels, &req.key, group_labels))
                                .clone()
                        }
                    }
                    None => apply_grouping(&mut li, &m.labels, &req.key, group_labels),
                };
                series.push(Series {
                    labels,
                    value: m.value.clone(),
                });
            }
            let name = intern_cow(&mut li, &fam.name);
            let help = fam.help.as_ref().map(|h| intern_cow(&mut li, h));
            let previous = base.and_then(|g| g.families.get(&name));
            let family =
                StoredFamily::new_after(name, help, fam.kind, series, now, previous.map(|f| &**f));
            let same = previous.is_some_and(|f| consistency::same_series(f, &family));
            // The same series as the stored family: unique already, identities known.
            let ids = if same {
                None
            } else {
                let ids = family_ids(&family);
                if self.shared.check {
                    check_unique(&family, &ids)?;
                }
                Some(ids)
            };
            out.push(Prepared {
                family: Arc::new(family),
                ids,
            });
        }
        Ok(out)
    }
}

#[allow(
    clippy::ptr_arg,
    reason = "the Cow tells borrowed (interned via the per-push cache) from owned"
)]
/// Checks a push against the size limits before any work is done for it. Refusals here do
/// not touch the store (like parse errors).
fn check_limits(req: &WriteRequest<'_>, limits: &Limits) -> Result<(), LimitError> {
    let series: usize = req.families.iter().map(|f| f.metrics.len()).sum();
    if series > limits.max_series_per_push {
        return Err(LimitError::Series {
            got: series,
            limit: limits.max_series_per_push,
        });
    }
    let name_limit = |n: &str| {
        (n.len() > limits.max_name_length).then(|| LimitError::Name {
            prefix: n.chars().take(64).collect(),
            got: n.len(),
            limit: limits.max_name_length,
        })
    };
    let key_labels = req.key.labels().len() + 1;
    for f in &req.families {
        if let Some(e) = name_limit(&f.name) {
            return Err(e);
        }
        for m in &f.metrics {
            if m.labels.len() + key_labels > limits.max_labels_per_series {
                return Err(LimitError::Labels {
                    name: f.name.to_string(),
                    got: m.labels.len() + key_labels,
                    limit: limits.max_labels_per_series,
                });
            }
            for l in m.labels.iter() {
                if let Some(e) = name_limit(&l.name) {
                    return Err(e);
                }
                if l.value.len() > limits.max_label_value_length {
                    return Err(LimitError::LabelValue {
                        name: f.name.to_string(),
                        label: l.name.to_string(),
                        got: l.value.len(),
                        limit: limits.max_label_value_length,
                    });
                }
            }
        }
    }
    Ok(())
}

#[allow(
    clippy::ptr_arg,
    reason = "the Cow tells borrowed (cached per push) from owned values"
)]
fn intern_cow<'b>(li: &mut LocalInterner<'_, 'b>, s: &std::borrow::Cow<'b, str>) -> Str {
    match s {
        std::borrow::Cow::Borrowed(b) => li.get(b),
        std::borrow::Cow::Owned(o) => li.get_owned(o),
    }
}

/// Go `sanitizeLabels`: grouping labels override same-named body labels; `instance=""` is
/// added when the metric has no instance label at all; pairs end up sorted by name.
fn apply_grouping<'b>(
    li: &mut LocalInterner<'_, 'b>,
    labels: &[crate::model::Label<'b>],
    key: &GroupingKey,
    group_labels: &LabelSet,
) -> LabelSet {
    let mut out: Vec<(Str, Str)> = Vec::with_capacity(labels.len() + group_labels.len());
    for l in labels {
        if key.get(&l.name).is_none() {
            out.push((intern_cow(li, &l.name), intern_cow(li, &l.value)));
        }
    }
    let body_has_instance = out.iter().any(|(n, _)| &**n == "instance");
    for (n, v) in group_labels.iter() {
        // `group_labels` carries `instance=""` when the key has none; a body instance wins then.
        if &**n == "instance" && key.get("instance").is_none() && body_has_instance {
            continue;
        }
        out.push((n.clone(), v.clone()));
    }
    li.sorted_set(out)
}

/// The `series_id` of each series of `family`, in order.
fn family_ids(family: &StoredFamily) -> Vec<u128> {
    family
        .series
        .iter()
        .map(|s| series_id(&family.name, &s.labels))
        .collect()
}

fn check_unique(family: &StoredFamily, ids: &[u128]) -> Result<(), PushError> {
    let mut seen: HashSet<u128, std::hash::BuildHasherDefault<consistency::IdHasher>> =
        HashSet::with_capacity_and_hasher(ids.len(), std::hash::BuildHasherDefault::default());
    for (s, id) in family.series.iter().zip(ids) {
        if !seen.insert(*id) {
            return Err(
                Inconsistency::DuplicateSeries(crate::render::describe_series(
                    &family.name,
                    &s.labels,
                ))
                .into(),
            );
        }
    }
    Ok(())
}

/// The families of the group after a write.
fn merge_families(
    old: Option<&Group>,
    pushed: &[Prepared],
    replace: bool,
) -> BTreeMap<Str, Arc<StoredFamily>> {
    let mut families = match old {
        Some(g) if !replace => g.families.clone(),
        _ => BTreeMap::new(),
    };
    for p in pushed {
        families.insert(p.family.name.clone(), p.family.clone());
    }
    families
}

/// Unix time in seconds, with sub-second precision.
#[must_use]
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
