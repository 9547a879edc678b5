//! Small non-cryptographic hashers for maps that live within one request.
//!
//! Owns: [`FastStrHasher`], a word-at-a-time multiply-rotate hasher (`FxHash`'s construction)
//! for short byte strings: label names and values, and whole label blocks.
//! Does not own: the store's pointer-keyed hashing of interned data (`store::consistency`,
//! `store::intern`), which hashes addresses rather than bytes.
//!
//! `SipHash` cost a tenth of a push when every label string went through it. These maps are
//! built from one request body and dropped with it, so the worst an adversarial body can do
//! with collisions is slow down its own request.

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

/// A `HashMap` keyed with [`FastStrHasher`].
pub type FastStrMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FastStrHasher>>;

/// An empty [`FastStrMap`] with room for `n` entries.
#[must_use]
pub fn fast_str_map<K, V>(n: usize) -> FastStrMap<K, V> {
    FastStrMap::with_capacity_and_hasher(n, std::hash::BuildHasherDefault::default())
}
