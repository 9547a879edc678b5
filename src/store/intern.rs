//! Interning of strings (label names, label values, metric names) and of whole label sets.
//!
//! Owns: the process-wide sets of interned strings and label sets, and their clean-up.
//! Does not own: any decision about what to store.
//!
//! Flink repeats the same few hundred strings (host, `tm_id`, job and task ids, operator names)
//! in every series of every push; interning stores each once and makes most label comparisons
//! a pointer comparison. A push first de-duplicates its strings locally ([`LocalInterner`]), so
//! the shared set is consulted once per distinct string per push, not once per sample.
//!
//! Label sets are interned too: Flink exposes dozens of task and operator metrics with exactly
//! the same labels (host, ids, names, subtask), so a store of a million series holds only tens
//! of thousands of distinct label sets. Sharing them cut the stored size per Flink series from
//! about 480 to about 100 bytes (see BENCHMARKS.md), and a re-push of a group allocates no label
//! sets at all. A set is keyed by the pointers of its (already interned) strings, so finding it
//! costs a few multiplications, not a pass over its text.
//!
//! Lock choice: a plain `Mutex<HashSet>`; it is taken once per distinct string of a push
//! (tens to hundreds per push), never per sample, so contention is negligible and a sharded
//! map would only add memory. Strings no longer referenced anywhere else are dropped by
//! [`Interner::sweep`] once the set has doubled since the last sweep, which bounds the garbage
//! left by Flink's changing ids (attempt ids, job ids) to the live set.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::hash::{fast_str_map, FastStrMap};
use crate::store::consistency::IdHasher;
use crate::store::group::{LabelSet, Str};

/// The shared interner.
#[derive(Debug, Default)]
pub struct Interner {
    inner: Mutex<InternerInner>,
}

#[derive(Debug, Default)]
struct InternerInner {
    set: HashSet<Str>,
    len_after_sweep: usize,
    /// Label sets by [`set_hash`]. On the (astronomically rare) collision of two different
    /// sets the second is simply not interned: sharing is an optimisation, never a meaning.
    label_sets: HashMap<u64, LabelSet, std::hash::BuildHasherDefault<IdHasher>>,
    label_sets_after_sweep: usize,
}

/// The hash of a label set whose strings are all interned: their pointers and lengths mixed.
/// Equal (interned) contents have equal pointers, so equal sets hash alike.
#[must_use]
pub fn set_hash(pairs: &[(Str, Str)]) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ pairs.len() as u64;
    for (n, v) in pairs {
        for word in [
            n.as_ptr() as usize as u64,
            n.len() as u64,
            v.as_ptr() as usize as u64,
            v.len() as u64,
        ] {
            h = (h ^ word)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(27);
        }
    }
    h ^ (h >> 29)
}

/// Whether two label sets of interned strings are equal (pointer comparisons).
fn same_set(a: &[(Str, Str)], b: &[(Str, Str)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((an, av), (bn, bv))| Str::ptr_eq(an, bn) && Str::ptr_eq(av, bv))
}

impl Interner {
    /// Returns the interned copy of `s`, inserting it if needed.
    pub fn intern(&self, s: &str) -> Str {
        let mut inner = self
            .inner
            .lock()
            .expect("interner lock is never poisoned: no panics inside");
        if let Some(existing) = inner.set.get(s) {
            return existing.clone();
        }
        let new = Str::from(s);
        inner.set.insert(new.clone());
        if inner.set.len() > 2 * inner.len_after_sweep + 4096 {
            Self::sweep_locked(&mut inner);
        }
        new
    }

    /// The interned copy of the label set `pairs` (all of whose strings must be interned),
    /// whose [`set_hash`] is `hash`.
    pub fn intern_set(&self, hash: u64, pairs: Vec<(Str, Str)>) -> LabelSet {
        let mut inner = self
            .inner
            .lock()
            .expect("interner lock is never poisoned: no panics inside");
        if let Some(existing) = inner.label_sets.get(&hash) {
            if same_set(existing, &pairs) {
                return existing.clone();
            }
            return pairs.into();
        }
        let new: LabelSet = pairs.into();
        inner.label_sets.insert(hash, new.clone());
        if inner.label_sets.len() > 2 * inner.label_sets_after_sweep + 4096 {
            Self::sweep_locked(&mut inner);
        }
        new
    }

    /// Drops every string and label set that nothing outside the interner references any more.
    pub fn sweep(&self) {
        let mut inner = self
            .inner
            .lock()
            .expect("interner lock is never poisoned: no panics inside");
        Self::sweep_locked(&mut inner);
    }

    fn sweep_locked(inner: &mut InternerInner) {
        // Sets first: a dead set still holds its strings.
        inner.label_sets.retain(|_, s| Arc::strong_count(s) > 1);
        inner.label_sets_after_sweep = inner.label_sets.len();
        inner.set.retain(|s| Str::strong_count(s) > 1);
        inner.len_after_sweep = inner.set.len();
    }

    /// Number of interned label sets (for the gateway's own metrics and tests).
    #[must_use]
    pub fn label_sets(&self) -> usize {
        self.inner
            .lock()
            .expect("interner lock is never poisoned: no panics inside")
            .label_sets
            .len()
    }

    /// Number of interned strings (for the gateway's own metrics and tests).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .expect("interner lock is never poisoned: no panics inside")
            .set
            .len()
    }

    /// Whether nothing is interned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A per-push cache in front of the shared [`Interner`].
///
/// Keyed with [`crate::hash::FastStrHasher`]: a push looks up every distinct label name and
/// value here.
pub struct LocalInterner<'s, 'b> {
    shared: &'s Interner,
    local: FastStrMap<&'b str, Str>,
    sets: HashMap<u64, LabelSet, std::hash::BuildHasherDefault<IdHasher>>,
    /// Sort orders by the sequence of label names as pushed: Flink writes the same names in
    /// the same order on every series of a scope, so a push sorts each distinct sequence once.
    orders: HashMap<u64, (Vec<Str>, Vec<u16>), std::hash::BuildHasherDefault<IdHasher>>,
}

impl<'s, 'b> LocalInterner<'s, 'b> {
    /// A new empty cache.
    #[must_use]
    pub fn new(shared: &'s Interner) -> Self {
        LocalInterner {
            shared,
            local: fast_str_map(256),
            sets: HashMap::with_capacity_and_hasher(256, std::hash::BuildHasherDefault::default()),
            orders: HashMap::with_capacity_and_hasher(64, std::hash::BuildHasherDefault::default()),
        }
    }

    /// The interned label set of `pairs` (interned strings, unique names, any order) sorted by
    /// name.
    pub fn sorted_set(&mut self, mut pairs: Vec<(Str, Str)>) -> LabelSet {
        let Ok(n) = u16::try_from(pairs.len()) else {
            pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            return self.set(pairs);
        };
        let mut h: u64 = 0x243f_6a88_85a3_08d3 ^ u64::from(n);
        for (name, _) in &pairs {
            h = (h ^ name.as_ptr() as usize as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(31);
        }
        let known = self.orders.get(&h).filter(|(names, _)| {
            names.len() == pairs.len()
                && names
                    .iter()
                    .zip(&pairs)
                    .all(|(a, (b, _))| Str::ptr_eq(a, b))
        });
        let order = if let Some((_, order)) = known {
            order.clone()
        } else {
            let mut order: Vec<u16> = (0..n).collect();
            order.sort_unstable_by(|&a, &b| pairs[usize::from(a)].0.cmp(&pairs[usize::from(b)].0));
            let names = pairs.iter().map(|(name, _)| name.clone()).collect();
            self.orders.insert(h, (names, order.clone()));
            order
        };
        let mut slots: Vec<Option<(Str, Str)>> = pairs.into_iter().map(Some).collect();
        let sorted = order
            .iter()
            .map(|&i| {
                slots[usize::from(i)]
                    .take()
                    .expect("an order is a permutation")
            })
            .collect();
        self.set(sorted)
    }

    /// The interned copy of the label set `pairs`, whose strings all come from this interner.
    /// The shared set is consulted once per distinct set per push.
    pub fn set(&mut self, pairs: Vec<(Str, Str)>) -> LabelSet {
        let hash = set_hash(&pairs);
        if let Some(v) = self.sets.get(&hash) {
            if same_set(v, &pairs) {
                return v.clone();
            }
            return pairs.into();
        }
        let v = self.shared.intern_set(hash, pairs);
        self.sets.insert(hash, v.clone());
        v
    }

    /// The interned copy of `s`.
    pub fn get(&mut self, s: &'b str) -> Str {
        if let Some(v) = self.local.get(s) {
            return v.clone();
        }
        let v = self.shared.intern(s);
        self.local.insert(s, v.clone());
        v
    }

    /// The interned copy of a string that does not live as long as the body (an unescaped
    /// value): looked up in the shared set directly.
    pub fn get_owned(&mut self, s: &str) -> Str {
        self.shared.intern(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_returns_the_same_allocation() {
        let i = Interner::default();
        let a = i.intern("host");
        let b = i.intern("host");
        assert!(Str::ptr_eq(&a, &b));
    }

    #[test]
    fn equal_label_sets_share_one_allocation_across_pushes() {
        let i = Interner::default();
        let pairs = |i: &Interner| {
            vec![
                (i.intern("host"), i.intern("a")),
                (i.intern("x"), i.intern("1")),
            ]
        };
        let first = LocalInterner::new(&i).set(pairs(&i));
        let second = LocalInterner::new(&i).set(pairs(&i));
        assert!(Arc::ptr_eq(&first, &second));
        let other = LocalInterner::new(&i).set(vec![(i.intern("host"), i.intern("b"))]);
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(&*other[0].1, "b");
        assert_eq!(i.label_sets(), 2);
    }

    #[test]
    fn sweep_drops_label_sets_nothing_else_holds() {
        let i = Interner::default();
        let kept = LocalInterner::new(&i).set(vec![(i.intern("k"), i.intern("kept"))]);
        drop(LocalInterner::new(&i).set(vec![(i.intern("k"), i.intern("dropped"))]));
        i.sweep();
        assert_eq!(i.label_sets(), 1);
        assert_eq!(i.len(), 2, "k and kept stay; dropped went with its set");
        assert!(Arc::ptr_eq(
            &kept,
            &LocalInterner::new(&i).set(vec![(i.intern("k"), i.intern("kept"))])
        ));
    }

    #[test]
    fn sweep_drops_unreferenced_strings_only() {
        let i = Interner::default();
        let kept = i.intern("kept");
        drop(i.intern("dropped"));
        i.sweep();
        assert_eq!(i.len(), 1);
        assert!(Str::ptr_eq(&kept, &i.intern("kept")));
    }
}
