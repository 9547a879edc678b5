//! String interning for label names, label values and metric names.
//!
//! Owns: the process-wide set of interned strings and its clean-up.
//! Does not own: label sets or any decision about what to store.
//!
//! Flink repeats the same few hundred strings (host, `tm_id`, job and task ids, operator names)
//! in every series of every push; interning stores each once and makes most label comparisons
//! a pointer comparison. A push first de-duplicates its strings locally ([`LocalInterner`]), so
//! the shared set is consulted once per distinct string per push, not once per sample.
//!
//! Lock choice: a plain `Mutex<HashSet>`; it is taken once per distinct string of a push
//! (tens to hundreds per push), never per sample, so contention is negligible and a sharded
//! map would only add memory. Strings no longer referenced anywhere else are dropped by
//! [`Interner::sweep`] once the set has doubled since the last sweep, which bounds the garbage
//! left by Flink's changing ids (attempt ids, job ids) to the live set.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::store::group::Str;

/// The shared interner.
#[derive(Debug, Default)]
pub struct Interner {
    inner: Mutex<InternerInner>,
}

#[derive(Debug, Default)]
struct InternerInner {
    set: HashSet<Str>,
    len_after_sweep: usize,
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
        let new: Str = Arc::from(s);
        inner.set.insert(new.clone());
        if inner.set.len() > 2 * inner.len_after_sweep + 4096 {
            Self::sweep_locked(&mut inner);
        }
        new
    }

    /// Drops every string that nothing outside the interner references any more.
    pub fn sweep(&self) {
        let mut inner = self
            .inner
            .lock()
            .expect("interner lock is never poisoned: no panics inside");
        Self::sweep_locked(&mut inner);
    }

    fn sweep_locked(inner: &mut InternerInner) {
        inner.set.retain(|s| Arc::strong_count(s) > 1);
        inner.len_after_sweep = inner.set.len();
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
/// Keyed with [`FastStrHasher`]: a push looks up every label name and value of every series
/// here, and `SipHash` was a tenth of the push cost. The map lives for one push only, so the
/// worst an adversarial body can do with collisions is slow down its own push.
pub struct LocalInterner<'s, 'b> {
    shared: &'s Interner,
    local: HashMap<&'b str, Str, std::hash::BuildHasherDefault<FastStrHasher>>,
}

/// A word-at-a-time multiply-rotate hasher for short strings (`FxHash`'s construction).
#[derive(Debug, Default, Clone, Copy)]
pub struct FastStrHasher(u64);

impl std::hash::Hasher for FastStrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("chunks_exact yields 8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
}

impl<'s, 'b> LocalInterner<'s, 'b> {
    /// A new empty cache.
    #[must_use]
    pub fn new(shared: &'s Interner) -> Self {
        LocalInterner {
            shared,
            local: HashMap::with_capacity_and_hasher(256, std::hash::BuildHasherDefault::default()),
        }
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
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn sweep_drops_unreferenced_strings_only() {
        let i = Interner::default();
        let kept = i.intern("kept");
        drop(i.intern("dropped"));
        i.sweep();
        assert_eq!(i.len(), 1);
        assert!(Arc::ptr_eq(&kept, &i.intern("kept")));
    }
}
