//! `Content-Encoding` of push bodies: gzip and snappy, inflated within a size limit.
//!
//! Owns: recognising the encoding ([`ContentEncoding::from_header`]) and inflating a body
//! ([`decode`]) into a buffer that never grows past `--push.max-decompressed-bytes`, so a
//! "zip bomb" (a small body that inflates to gigabytes) costs at most the limit in memory, and
//! the time to inflate that much. Does not own: reading the body off the connection (bounded by
//! `--push.max-body-bytes` in `push`) or parsing what comes out.
//!
//! gzip: any number of members, as Go's `gzip.Reader` reads them (the Go gateway inflates gzip
//! pushes). snappy: the framing format (`snap::read::FrameDecoder`), recognised by its stream
//! identifier; a body without one is taken as a raw snappy block (as Prometheus remote-write
//! sends them), whose declared length is checked against the limit before anything is
//! allocated. The Go gateway 1.5.1 ignores `snappy` and parses the compressed bytes as text.

use std::io::Read;

use bytes::Bytes;

/// The first chunk of every snappy framed stream.
const SNAPPY_STREAM_IDENTIFIER: &[u8] = b"\xff\x06\x00\x00sNaPpY";
/// How much is inflated per read call.
const READ_CHUNK: usize = 64 * 1024;

/// A push body's content encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No encoding (`identity`, or no header).
    Identity,
    /// `gzip` (or `x-gzip`).
    Gzip,
    /// `snappy`.
    Snappy,
}

/// Why a push body could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// Occurs when `Content-Encoding` names an encoding pushgate does not know.
    #[error("unsupported Content-Encoding {0:?}: use gzip, snappy or identity")]
    Unsupported(String),
    /// Occurs when the inflated body would exceed the limit.
    #[error(
        "decompressed request body exceeds the limit of {0} bytes (--push.max-decompressed-bytes)"
    )]
    TooLarge(usize),
    /// Occurs when the body is not valid data of its declared encoding.
    #[error("invalid {encoding} request body: {reason}")]
    Invalid {
        /// `gzip` or `snappy`.
        encoding: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
}

impl ContentEncoding {
    /// The encoding named by a `Content-Encoding` header (compared case-insensitively).
    ///
    /// # Errors
    /// [`EncodingError::Unsupported`] for anything but gzip, x-gzip, snappy and identity.
    pub fn from_header(value: Option<&str>) -> Result<ContentEncoding, EncodingError> {
        let Some(raw) = value else {
            return Ok(ContentEncoding::Identity);
        };
        let v = raw.trim();
        if v.is_empty() || v.eq_ignore_ascii_case("identity") {
            Ok(ContentEncoding::Identity)
        } else if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
            Ok(ContentEncoding::Gzip)
        } else if v.eq_ignore_ascii_case("snappy") {
            Ok(ContentEncoding::Snappy)
        } else {
            Err(EncodingError::Unsupported(raw.to_owned()))
        }
    }
}

/// Inflates `body` as `encoding` says, to at most `limit` bytes.
///
/// # Errors
/// [`EncodingError::TooLarge`] past the limit (nothing beyond it is ever allocated);
/// [`EncodingError::Invalid`] for data that is not valid for the encoding.
pub fn decode(
    body: Bytes,
    encoding: ContentEncoding,
    limit: usize,
) -> Result<Bytes, EncodingError> {
    match encoding {
        ContentEncoding::Identity => Ok(body),
        ContentEncoding::Gzip => read_bounded(
            flate2::read::MultiGzDecoder::new(&body[..]),
            "gzip",
            body.len(),
            limit,
        ),
        ContentEncoding::Snappy if body.starts_with(SNAPPY_STREAM_IDENTIFIER) => read_bounded(
            snap::read::FrameDecoder::new(&body[..]),
            "snappy",
            body.len(),
            limit,
        ),
        ContentEncoding::Snappy => decode_snappy_block(&body, limit),
    }
}

fn decode_snappy_block(body: &[u8], limit: usize) -> Result<Bytes, EncodingError> {
    let invalid = |e: snap::Error| EncodingError::Invalid {
        encoding: "snappy",
        reason: e.to_string(),
    };
    let len = snap::raw::decompress_len(body).map_err(invalid)?;
    if len > limit {
        return Err(EncodingError::TooLarge(limit));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map(Bytes::from)
        .map_err(invalid)
}

/// Reads `reader` to the end into a buffer whose capacity never exceeds `limit`.
fn read_bounded(
    mut reader: impl Read,
    encoding: &'static str,
    compressed_len: usize,
    limit: usize,
) -> Result<Bytes, EncodingError> {
    let mut out: Vec<u8> = Vec::with_capacity(compressed_len.saturating_mul(4).min(limit));
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(Bytes::from(out)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(EncodingError::Invalid {
                    encoding,
                    reason: e.to_string(),
                })
            }
        };
        let needed = out.len() + n;
        if needed > limit {
            return Err(EncodingError::TooLarge(limit));
        }
        if needed > out.capacity() {
            // Grow geometrically, but never past the limit (plain `extend` could double a
            // 60 MiB buffer to 120 MiB).
            let target = out.capacity().saturating_mul(2).clamp(needed, limit);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("in memory");
        Bytes::from(enc.finish().expect("in memory"))
    }

    fn snappy_framed(data: &[u8]) -> Bytes {
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(data).expect("in memory");
        Bytes::from(enc.into_inner().expect("in memory"))
    }

    #[test]
    fn header_values_are_case_insensitive() {
        let parse = ContentEncoding::from_header;
        assert_eq!(parse(Some("GZip")), Ok(ContentEncoding::Gzip));
        assert_eq!(parse(Some(" snappy ")), Ok(ContentEncoding::Snappy));
        assert_eq!(parse(Some("identity")), Ok(ContentEncoding::Identity));
        assert_eq!(parse(None), Ok(ContentEncoding::Identity));
        assert!(matches!(
            parse(Some("br")),
            Err(EncodingError::Unsupported(_))
        ));
    }

    #[test]
    fn gzip_with_several_members_inflates_whole() {
        let mut two = gzip(b"a 1\n").to_vec();
        two.extend_from_slice(&gzip(b"b 2\n"));
        let out = decode(Bytes::from(two), ContentEncoding::Gzip, 100).expect("valid");
        assert_eq!(&out[..], b"a 1\nb 2\n");
    }

    #[test]
    fn snappy_framed_and_block_bodies_inflate() {
        let framed = decode(snappy_framed(b"x 1\n"), ContentEncoding::Snappy, 100);
        assert_eq!(framed.expect("framed").as_ref(), b"x 1\n");
        let block = snap::raw::Encoder::new()
            .compress_vec(b"y 2\n")
            .expect("in memory");
        let out = decode(Bytes::from(block), ContentEncoding::Snappy, 100).expect("block");
        assert_eq!(&out[..], b"y 2\n");
    }

    #[test]
    fn inflating_past_the_limit_is_refused_without_growing_past_it() {
        let zeros = vec![0u8; 1 << 20];
        assert_eq!(
            decode(gzip(&zeros), ContentEncoding::Gzip, 1000),
            Err(EncodingError::TooLarge(1000))
        );
        assert_eq!(
            decode(snappy_framed(&zeros), ContentEncoding::Snappy, 1000),
            Err(EncodingError::TooLarge(1000))
        );
        let block = snap::raw::Encoder::new()
            .compress_vec(&zeros)
            .expect("in memory");
        assert_eq!(
            decode(Bytes::from(block), ContentEncoding::Snappy, 1000),
            Err(EncodingError::TooLarge(1000))
        );
        assert_eq!(
            decode(gzip(&zeros), ContentEncoding::Gzip, 1 << 20).map(|b| b.len()),
            Ok(1 << 20)
        );
    }

    #[test]
    fn garbage_is_invalid_for_its_encoding() {
        for enc in [ContentEncoding::Gzip, ContentEncoding::Snappy] {
            assert!(matches!(
                decode(Bytes::from_static(b"a 1\n"), enc, 100),
                Err(EncodingError::Invalid { .. })
            ));
        }
    }
}
