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

thread_local! {
    /// One compressor per thread, reset before each segment: a fast-level deflate state is a
    /// few hundred KiB, and a scrape after a push compresses hundreds of small families.
    static COMPRESSOR: std::cell::RefCell<Compress> =
        std::cell::RefCell::new(Compress::new(level(), false));
}

/// A compressed run of the exposition: deflate blocks ending on a sync flush (possibly several
/// stitched pieces), plus the CRC-32 and length of the uncompressed bytes.
#[derive(Debug)]
pub struct Segment {
    data: Vec<Bytes>,
    crc: Crc,
}

impl Segment {
    /// Compresses `parts` (concatenated) with a reset compressor, so it refers to nothing
    /// before it.
    pub fn compress<'a>(parts: impl IntoIterator<Item = &'a Bytes>) -> Segment {
        let mut crc = Crc::new();
        let mut out = Vec::new();
        COMPRESSOR.with_borrow_mut(|compress| {
            compress.reset();
            for part in parts {
                crc.update(part);
                deflate(compress, part, &mut out, FlushCompress::None);
            }
            deflate(compress, &[], &mut out, FlushCompress::Sync);
        });
        out.shrink_to_fit();
        Segment {
            data: vec![Bytes::from(out)],
            crc,
        }
    }

    /// The compressed size.
    #[must_use]
    pub fn compressed_len(&self) -> usize {
        self.data.iter().map(Bytes::len).sum()
    }

    /// The uncompressed size.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::try_from(self.crc.amount()).expect("a segment's input fits in memory")
    }

    /// Whether the segment holds no input bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.crc.amount() == 0
    }
}

/// Joins cached segments and fresh parts, in order. Consecutive fresh parts are compressed
/// together (one reset compressor) when a cached segment or the end comes.
#[derive(Default)]
pub struct Stitcher {
    out: Vec<Bytes>,
    crc: Crc,
    pending: Vec<Bytes>,
    pending_len: usize,
    /// Streaming: the gzip header went out with the first [`Stitcher::drain`].
    header_sent: bool,
}

/// Fresh parts are compressed together once they reach this size when streaming.
const STREAM_PENDING: usize = 64 * 1024;

impl Stitcher {
    /// A stitcher whose output is taken as it grows, with [`Stitcher::drain`].
    #[must_use]
    pub fn streaming() -> Stitcher {
        Stitcher::default()
    }

    /// Hands the compressed output so far (the gzip header first) to `emit`, compressing
    /// pending fresh parts first when they are large. Says whether `emit` took everything.
    pub fn drain(&mut self, emit: &mut dyn FnMut(Bytes) -> bool) -> bool {
        if self.pending_len >= STREAM_PENDING {
            self.flush_pending();
        }
        if self.out.is_empty() {
            return true;
        }
        if !self.header_sent {
            self.header_sent = true;
            if !emit(Bytes::from_static(&HEADER)) {
                return false;
            }
        }
        self.out.drain(..).all(emit)
    }

    /// Appends a cached segment (zero-copy).
    pub fn cached(&mut self, segment: &Segment) {
        self.flush_pending();
        self.out.extend(segment.data.iter().cloned());
        self.crc.combine(&segment.crc);
    }

    /// Appends `parts`, to be compressed with the fresh parts next to them.
    pub fn fresh(&mut self, parts: &[Bytes]) {
        for part in parts {
            self.fresh_one(part.clone());
        }
    }

    /// Appends one part, to be compressed with the fresh parts next to them.
    pub fn fresh_one(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.pending_len += part.len();
            self.pending.push(part);
        }
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let segment = Segment::compress(&self.pending);
        self.pending.clear();
        self.pending_len = 0;
        self.out.extend(segment.data);
        self.crc.combine(&segment.crc);
    }

    /// Everything appended, as one segment (for caching and stitching again).
    #[must_use]
    pub fn into_segment(mut self) -> Segment {
        self.flush_pending();
        Segment {
            data: self.out,
            crc: self.crc,
        }
    }

    /// The gzip header (unless [`Stitcher::drain`] sent it), everything appended and not yet
    /// drained, the final empty block and the trailer: the body's (remaining) chunks.
    #[must_use]
    pub fn finish(mut self) -> Vec<Bytes> {
        self.flush_pending();
        let mut tail = Vec::new();
        COMPRESSOR.with_borrow_mut(|compress| {
            compress.reset();
            deflate(compress, &[], &mut tail, FlushCompress::Finish);
        });
        tail.extend_from_slice(&self.crc.sum().to_le_bytes());
        tail.extend_from_slice(&self.crc.amount().to_le_bytes());
        let mut out = Vec::with_capacity(self.out.len() + 2);
        if !self.header_sent {
            out.push(Bytes::from_static(&HEADER));
        }
        out.append(&mut self.out);
        out.push(Bytes::from(tail));
        out
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
    fn stitched_segments_can_be_stitched_again() {
        let a = Bytes::from("a_metric 1\n".repeat(100));
        let b = Bytes::from_static(b"# TYPE b gauge\n");
        let mut inner = Stitcher::default();
        inner.fresh_one(b.clone());
        inner.cached(&Segment::compress([&a]));
        inner.fresh_one(b.clone());
        let inner = inner.into_segment();
        assert_eq!(inner.len(), a.len() + 2 * b.len());
        let mut outer = Stitcher::default();
        outer.cached(&inner);
        outer.fresh_one(a.clone());
        outer.cached(&inner);
        let one = [&b[..], &a[..], &b[..]].concat();
        let want = [&one[..], &a[..], &one[..]].concat();
        assert_eq!(gunzip(&outer.finish()), want);
    }

    #[test]
    fn an_empty_body_is_a_valid_gzip_stream() {
        assert!(gunzip(&Stitcher::default().finish()).is_empty());
    }
}
