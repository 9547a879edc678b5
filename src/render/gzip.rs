//! gzip scrape bodies stitched from cached deflate segments and per-scrape ones.
//!
//! Owns: [`Segment`] (a run of the exposition compressed once per store generation) and
//! [`Stitcher`], which joins segments and freshly compressed parts (the gateway's own
//! metrics, which change on every scrape) into one valid gzip member (RFC 1952).
//! Does not own: which parts are cached (see `render`).
//!
//! Why this works: a deflate stream (RFC 1951) is a sequence of blocks, the last one marked
//! final. Each segment comes from a fresh compressor (so it refers to no earlier data) and
//! ends with a sync flush (so it ends on a byte boundary without a final block); any number of
//! such segments, in any order, followed by one empty final block, form a valid stream. The
//! gzip trailer's CRC-32 of the whole is combined from the segments' CRCs. The result is a
//! single member, which every gzip reader takes (some, like browsers', stop after the first
//! member of a multi-member file).

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress};

/// gzip header: magic, deflate, no flags, no mtime, no extra flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

/// Compression level: scrapes are frequent and the exposition is repetitive (label sets recur
/// on every line), so the fastest level keeps most of the gain at a fraction of the CPU.
fn level() -> Compression {
    Compression::fast()
}

/// A compressed run of the exposition: deflate blocks ending on a sync flush, plus the CRC-32
/// and length of the uncompressed bytes.
#[derive(Debug)]
pub struct Segment {
    data: Bytes,
    crc: Crc,
}

impl Segment {
    /// Compresses `parts` (concatenated) with a fresh compressor.
    pub fn compress<'a>(parts: impl IntoIterator<Item = &'a Bytes>) -> Segment {
        let mut compress = Compress::new(level(), false);
        let mut crc = Crc::new();
        let mut out = Vec::new();
        for part in parts {
            crc.update(part);
            deflate(&mut compress, part, &mut out, FlushCompress::None);
        }
        deflate(&mut compress, &[], &mut out, FlushCompress::Sync);
        Segment {
            data: Bytes::from(out),
            crc,
        }
    }

    /// The compressed size.
    #[must_use]
    pub fn compressed_len(&self) -> usize {
        self.data.len()
    }
}

/// Builds one gzip member from cached segments and fresh parts, in order.
pub struct Stitcher {
    out: Vec<Bytes>,
    crc: Crc,
    fresh: Compress,
}

impl Default for Stitcher {
    fn default() -> Self {
        Stitcher {
            out: vec![Bytes::from_static(&HEADER)],
            crc: Crc::new(),
            fresh: Compress::new(level(), false),
        }
    }
}

impl Stitcher {
    /// Appends a cached segment (zero-copy).
    pub fn cached(&mut self, segment: &Segment) {
        self.out.push(segment.data.clone());
        self.crc.combine(&segment.crc);
    }

    /// Compresses and appends `parts`.
    pub fn fresh(&mut self, parts: &[Bytes]) {
        // A reset compressor refers to nothing before this point, like a new one.
        self.fresh.reset();
        let mut out = Vec::new();
        for part in parts {
            self.crc.update(part);
            deflate(&mut self.fresh, part, &mut out, FlushCompress::None);
        }
        deflate(&mut self.fresh, &[], &mut out, FlushCompress::Sync);
        self.out.push(Bytes::from(out));
    }

    /// The final empty block and the trailer; returns the body's chunks.
    #[must_use]
    pub fn finish(mut self) -> Vec<Bytes> {
        self.fresh.reset();
        let mut tail = Vec::new();
        deflate(&mut self.fresh, &[], &mut tail, FlushCompress::Finish);
        tail.extend_from_slice(&self.crc.sum().to_le_bytes());
        tail.extend_from_slice(&self.crc.amount().to_le_bytes());
        self.out.push(Bytes::from(tail));
        self.out
    }
}

/// Feeds all of `input` to `compress`, then flushes as `flush` says, growing `out` as needed.
fn deflate(compress: &mut Compress, mut input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(input.len() / 2 + 4096);
        }
        let before = compress.total_in();
        let status = compress
            .compress_vec(input, out, flush)
            .expect("deflating from memory into memory cannot fail");
        let used = usize::try_from(compress.total_in() - before).expect("fits: at most the input");
        input = &input[used..];
        // zlib's rule: a flush is complete once a call returns with output room to spare.
        let flushed = out.len() < out.capacity();
        let finished = flush != FlushCompress::Finish || status == flate2::Status::StreamEnd;
        if input.is_empty() && (flush == FlushCompress::None || flushed) && finished {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(chunks: &[Bytes]) -> Vec<u8> {
        let body: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut out = Vec::new();
        // GzDecoder (single member) must see the whole stream: no multi-member trick.
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn stitched_segments_and_fresh_parts_are_one_valid_member() {
        let a = Bytes::from("a_metric 1\n".repeat(1000));
        let b = Bytes::from_static(b"own 2\n");
        let c = Bytes::from("c_metric{x=\"y\"} 3\n".repeat(500));
        let seg_a = Segment::compress([&a]);
        let seg_c = Segment::compress([&c, &c]);
        assert!(seg_a.compressed_len() < a.len() / 10);
        let mut s = Stitcher::default();
        s.cached(&seg_a);
        s.fresh(std::slice::from_ref(&b));
        s.cached(&seg_c);
        s.fresh(&[b.clone(), b.clone()]);
        let want = [&a[..], &b[..], &c[..], &c[..], &b[..], &b[..]].concat();
        assert_eq!(gunzip(&s.finish()), want);
    }

    #[test]
    fn an_empty_body_is_a_valid_gzip_stream() {
        assert!(gunzip(&Stitcher::default().finish()).is_empty());
    }
}
