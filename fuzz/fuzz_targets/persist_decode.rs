//! Arbitrary bytes into the persistence-file decoder.
//!
//! Each input is decoded twice: as it is (so the header, framing and checksum checks are
//! fuzzed) and with every record's CRC recomputed (so mutations reach the record decoder
//! instead of all dying at the checksum; a mutated payload almost never keeps a valid CRC).
//!
//! Properties: decoding never panics (and never allocates beyond the input's size); a file
//! that decodes and whose groups the store accepts re-encodes to bytes that decode, restore
//! and re-encode to exactly the same bytes (encoding is a fixpoint after one restore), and
//! cutting those bytes short is always detected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate::persist::file::{crc32, decode, encode_snapshot};
use pushgate_fuzz::persist::restore;

/// `data` with the CRC of every complete record recomputed.
fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut data = data.to_vec();
    let mut pos = 12;
    while let Some(head) = data.get(pos..pos + 8) {
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let Some(payload) = data.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if len == 0 {
            break;
        }
        let crc = crc32(payload).to_le_bytes();
        data[pos + 4..pos + 8].copy_from_slice(&crc);
        pos += 8 + len;
    }
    data
}

fn round_trip(data: &[u8]) {
    if decode(data).is_err() {
        return;
    }
    let Some(store) = restore(data) else {
        return;
    };
    let bytes = encode_snapshot(store.snapshot().groups.iter().map(|g| &**g));
    decode(&bytes).expect("a fresh encoding decodes");
    let store2 = restore(&bytes).expect("a fresh encoding restores");
    let bytes2 = encode_snapshot(store2.snapshot().groups.iter().map(|g| &**g));
    assert!(bytes == bytes2, "encode/restore is not a fixpoint");
    // Cutting anywhere must be detected (checking every cut is quadratic; sample a few).
    for cut in [0, 11, 12, bytes.len() / 2, bytes.len() - 8, bytes.len() - 1] {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} decodes");
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip(data);
    round_trip(&fix_checksums(data));
});
