//! The persistence file format: a versioned header and checksummed records, one per group.
//!
//! Owns: encoding a snapshot to bytes ([`encode_snapshot`]), decoding it back
//! ([`decode`]) with errors that name the byte offset, and CRC-32 (IEEE).
//! Does not own: when or where files are written (see [`super`]).
//!
//! ```text
//! file    = magic "PUSHGATE" | version u32 LE (= 2; 1 is still read) | record* | end
//! record  = len u32 LE (> 0) | crc32(payload) u32 LE | payload[len]
//! end     = len u32 LE (= 0) | crc32 of nothing (0) u32 LE
//! payload = key: n varint, (str name, str value)*
//!           times: success f64 LE, failure f64 LE, learned interval f64 LE (NaN: none),
//!           gaps learned from u32 LE (version 1 has neither: no interval, 0 gaps)
//!           families: n varint, family*
//! family  = str name | help: u8 0/1 [str] | kind u8 | pushed_at f64 | n varint, series*
//! series  = n varint, (str, str)* | tag u8 | value
//! value   = tag 0: f64 | tag 1 (summary), 2 (histogram): presence u8 (bit0 count, bit1 sum,
//!           bit2 native), [count f64] [sum f64], n varint, (f64, f64)* [native]
//! native  = flags u8 (bit0 float count, bit1 schema, bit2 zero threshold, bit3 zero count,
//!           bit4 zero count float) [schema i32] [f64] [u64] [f64] | buckets(neg) | buckets(pos)
//!           | n varint, exemplar*
//! buckets = n varint, (offset i32, length u32)* | n varint, delta i64* | n varint, count f64*
//! exemplar= pairs | flags u8 (bit0 value, bit1 timestamp) [f64] [seconds i64, nanos i32]
//! str     = len varint | UTF-8 bytes
//! ```
//! The explicit end record makes a truncated file detectable even when it is cut exactly at
//! a record boundary.

use crate::model::{
    Exemplar, Histogram, MetricType, NativeBuckets, NativeHistogram, Summary, Value,
};
use crate::store::group::Group;

/// File magic.
pub const MAGIC: &[u8; 8] = b"PUSHGATE";
/// Current format version. Version 2 added the learned interval and its gap count to each
/// record; version 1 files (written before) are still read, as groups without an interval.
pub const VERSION: u32 = 2;

/// Why a persistence file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte offset {offset}: {kind}")]
pub struct DecodeError {
    /// Where decoding failed.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// What was wrong with a persistence file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Occurs when the file does not start with the pushgate magic.
    #[error("not a pushgate persistence file (bad magic)")]
    Magic,
    /// Occurs when the file was written by a newer pushgate.
    #[error("unsupported format version {0}")]
    Version(u32),
    /// Occurs when the file ends early.
    #[error("file is truncated")]
    Truncated,
    /// Occurs when a record's checksum does not match its contents.
    #[error("record checksum mismatch")]
    Checksum,
    /// Occurs when a record's contents are malformed.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

/// A group as read back from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGroup {
    /// Grouping key pairs.
    pub key: Vec<(String, String)>,
    /// Last successful push (Unix seconds).
    pub success: f64,
    /// Last failed push (Unix seconds, 0 if none).
    pub failure: f64,
    /// Learned push interval in seconds, if known.
    pub interval: Option<f64>,
    /// Gaps the interval was learned from.
    pub gaps: u32,
    /// Families.
    pub families: Vec<StoredFamilyData>,
}

/// A family as read back from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFamilyData {
    /// Name.
    pub name: String,
    /// Help.
    pub help: Option<String>,
    /// Type.
    pub kind: MetricType,
    /// When it was pushed.
    pub pushed_at: f64,
    /// Series: full label sets and values.
    pub series: Vec<(Vec<(String, String)>, Value)>,
}

/// Encodes every group of a snapshot.
#[must_use]
pub fn encode_snapshot<'a>(groups: impl IntoIterator<Item = &'a Group>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let mut payload = Vec::new();
    for g in groups {
        payload.clear();
        encode_group(&mut payload, g);
        let len = u32::try_from(payload.len()).expect("a group encodes to less than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc32(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

fn encode_group(out: &mut Vec<u8>, g: &Group) {
    put_varint(out, g.key.labels().len() as u64);
    for (n, v) in g.key.labels() {
        put_str(out, n);
        put_str(out, v);
    }
    out.extend_from_slice(&g.times.success.to_le_bytes());
    out.extend_from_slice(&g.times.failure.to_le_bytes());
    out.extend_from_slice(&g.times.interval.unwrap_or(f64::NAN).to_le_bytes());
    out.extend_from_slice(&g.times.gaps.to_le_bytes());
    put_varint(out, g.families.len() as u64);
    for f in g.families.values() {
        put_str(out, &f.name);
        match &f.help {
            Some(h) => {
                out.push(1);
                put_str(out, h);
            }
            None => out.push(0),
        }
        out.push(kind_tag(f.kind));
        out.extend_from_slice(&f.pushed_at.to_le_bytes());
        put_varint(out, f.series.len() as u64);
        for s in &f.series {
            put_varint(out, s.labels.len() as u64);
            for (n, v) in s.labels.iter() {
                put_str(out, n);
                put_str(out, v);
            }
            encode_value(out, &s.value);
        }
    }
}

fn encode_value(out: &mut Vec<u8>, v: &Value) {
    let (tag, count, sum, pairs, native) = match v {
        Value::Scalar(x) => {
            out.push(0);
            out.extend_from_slice(&x.to_le_bytes());
            return;
        }
        Value::Summary(s) => (1, s.count, s.sum, &s.quantiles, None),
        Value::Histogram(h) => (2, h.count, h.sum, &h.buckets, h.native.as_deref()),
    };
    out.push(tag);
    out.push(
        u8::from(count.is_some())
            | (u8::from(sum.is_some()) << 1)
            | (u8::from(native.is_some()) << 2),
    );
    for x in [count, sum].into_iter().flatten() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    put_varint(out, pairs.len() as u64);
    for (a, b) in pairs {
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    }
    if let Some(n) = native {
        encode_native(out, n);
    }
}

fn encode_native(out: &mut Vec<u8>, n: &NativeHistogram) {
    out.push(
        u8::from(n.float_count)
            | (u8::from(n.schema.is_some()) << 1)
            | (u8::from(n.zero_threshold.is_some()) << 2)
            | (u8::from(n.zero_count.is_some()) << 3)
            | (u8::from(n.zero_count_float.is_some()) << 4),
    );
    if let Some(x) = n.schema {
        out.extend_from_slice(&x.to_le_bytes());
    }
    if let Some(x) = n.zero_threshold {
        out.extend_from_slice(&x.to_le_bytes());
    }
    if let Some(x) = n.zero_count {
        out.extend_from_slice(&x.to_le_bytes());
    }
    if let Some(x) = n.zero_count_float {
        out.extend_from_slice(&x.to_le_bytes());
    }
    for b in [&n.negative, &n.positive] {
        put_varint(out, b.spans.len() as u64);
        for (o, l) in &b.spans {
            out.extend_from_slice(&o.to_le_bytes());
            out.extend_from_slice(&l.to_le_bytes());
        }
        put_varint(out, b.deltas.len() as u64);
        for d in &b.deltas {
            out.extend_from_slice(&d.to_le_bytes());
        }
        put_varint(out, b.counts.len() as u64);
        for c in &b.counts {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    put_varint(out, n.exemplars.len() as u64);
    for e in &n.exemplars {
        put_varint(out, e.labels.len() as u64);
        for (a, b) in &e.labels {
            put_str(out, a);
            put_str(out, b);
        }
        out.push(u8::from(e.value.is_some()) | (u8::from(e.timestamp.is_some()) << 1));
        if let Some(v) = e.value {
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some((secs, nanos)) = e.timestamp {
            out.extend_from_slice(&secs.to_le_bytes());
            out.extend_from_slice(&nanos.to_le_bytes());
        }
    }
}

fn kind_tag(k: MetricType) -> u8 {
    match k {
        MetricType::Counter => 0,
        MetricType::Gauge => 1,
        MetricType::Summary => 2,
        MetricType::Histogram => 3,
        MetricType::Untyped => 4,
    }
}

fn kind_from_tag(t: u8) -> Option<MetricType> {
    Some(match t {
        0 => MetricType::Counter,
        1 => MetricType::Gauge,
        2 => MetricType::Summary,
        3 => MetricType::Histogram,
        4 => MetricType::Untyped,
        _ => return None,
    })
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).expect("masked to 7 bits") | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).expect("below 0x80"));
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Decodes a whole file.
///
/// # Errors
/// [`DecodeError`] with the offset of the first problem.
pub fn decode(data: &[u8]) -> Result<Vec<StoredGroup>, DecodeError> {
    let err = |offset, kind| DecodeError { offset, kind };
    if data.len() < 12 {
        return Err(err(data.len(), DecodeErrorKind::Truncated));
    }
    if &data[..8] != MAGIC {
        return Err(err(0, DecodeErrorKind::Magic));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if !(1..=VERSION).contains(&version) {
        return Err(err(8, DecodeErrorKind::Version(version)));
    }
    let mut pos = 12;
    let mut groups = Vec::new();
    loop {
        let head = data
            .get(pos..pos + 8)
            .ok_or(err(pos, DecodeErrorKind::Truncated))?;
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        if len == 0 {
            if crc != 0 || pos + 8 != data.len() {
                return Err(err(
                    pos,
                    DecodeErrorKind::Malformed("data after the end record"),
                ));
            }
            return Ok(groups);
        }
        let payload = data
            .get(pos + 8..pos + 8 + len)
            .ok_or(err(pos, DecodeErrorKind::Truncated))?;
        if crc32(payload) != crc {
            return Err(err(pos, DecodeErrorKind::Checksum));
        }
        let mut r = Reader {
            data: payload,
            pos: 0,
            version,
        };
        let group = r
            .group()
            .map_err(|what| err(pos + 8 + r.pos, DecodeErrorKind::Malformed(what)))?;
        groups.push(group);
        pos += 8 + len;
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// The file's format version.
    version: u32,
}

type R<T> = Result<T, &'static str>;

impl Reader<'_> {
    fn byte(&mut self) -> R<u8> {
        let b = *self.data.get(self.pos).ok_or("unexpected end of record")?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> R<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }

    fn len(&mut self) -> R<usize> {
        let n = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
        if n > self.data.len() - self.pos {
            return Err("length past the end of the record");
        }
        Ok(n)
    }

    fn fixed<const N: usize>(&mut self) -> R<[u8; N]> {
        let b = self
            .data
            .get(self.pos..self.pos + N)
            .ok_or("unexpected end of record")?;
        self.pos += N;
        Ok(b.try_into().expect("slice of length N"))
    }

    fn f64(&mut self) -> R<f64> {
        Ok(f64::from_le_bytes(self.fixed()?))
    }

    fn native(&mut self) -> R<NativeHistogram> {
        let flags = self.byte()?;
        let mut n = NativeHistogram {
            float_count: flags & 1 == 1,
            ..NativeHistogram::default()
        };
        if flags & 2 != 0 {
            n.schema = Some(i32::from_le_bytes(self.fixed()?));
        }
        if flags & 4 != 0 {
            n.zero_threshold = Some(self.f64()?);
        }
        if flags & 8 != 0 {
            n.zero_count = Some(u64::from_le_bytes(self.fixed()?));
        }
        if flags & 16 != 0 {
            n.zero_count_float = Some(self.f64()?);
        }
        n.negative = self.native_buckets()?;
        n.positive = self.native_buckets()?;
        let count = self.len()?;
        for _ in 0..count {
            let labels = self.pairs()?;
            let flags = self.byte()?;
            let value = if flags & 1 == 1 {
                Some(self.f64()?)
            } else {
                None
            };
            let timestamp = if flags & 2 == 2 {
                Some((
                    i64::from_le_bytes(self.fixed()?),
                    i32::from_le_bytes(self.fixed()?),
                ))
            } else {
                None
            };
            n.exemplars.push(Exemplar {
                labels,
                value,
                timestamp,
            });
        }
        Ok(n)
    }

    fn native_buckets(&mut self) -> R<NativeBuckets> {
        let n = self.len()?;
        let spans = (0..n)
            .map(|_| {
                Ok((
                    i32::from_le_bytes(self.fixed()?),
                    u32::from_le_bytes(self.fixed()?),
                ))
            })
            .collect::<R<_>>()?;
        let n = self.len()?;
        let deltas = (0..n)
            .map(|_| Ok(i64::from_le_bytes(self.fixed()?)))
            .collect::<R<_>>()?;
        let n = self.len()?;
        let counts = (0..n).map(|_| self.f64()).collect::<R<_>>()?;
        Ok(NativeBuckets {
            spans,
            deltas,
            counts,
        })
    }

    fn string(&mut self) -> R<String> {
        let n = self.len()?;
        let s =
            std::str::from_utf8(&self.data[self.pos..self.pos + n]).map_err(|_| "invalid UTF-8")?;
        self.pos += n;
        Ok(s.to_owned())
    }

    fn pairs(&mut self) -> R<Vec<(String, String)>> {
        let n = self.len()?;
        (0..n)
            .map(|_| Ok((self.string()?, self.string()?)))
            .collect()
    }

    fn group(&mut self) -> R<StoredGroup> {
        let key = self.pairs()?;
        let success = self.f64()?;
        let failure = self.f64()?;
        let (interval, gaps) = if self.version >= 2 {
            let interval = Some(self.f64()?).filter(|i| !i.is_nan());
            (interval, u32::from_le_bytes(self.fixed()?))
        } else {
            (None, 0)
        };
        let n = self.len()?;
        let families = (0..n).map(|_| self.family()).collect::<R<_>>()?;
        if self.pos != self.data.len() {
            return Err("trailing bytes in record");
        }
        Ok(StoredGroup {
            key,
            success,
            failure,
            interval,
            gaps,
            families,
        })
    }

    fn family(&mut self) -> R<StoredFamilyData> {
        let name = self.string()?;
        let help = match self.byte()? {
            0 => None,
            1 => Some(self.string()?),
            _ => return Err("bad help flag"),
        };
        let kind = kind_from_tag(self.byte()?).ok_or("bad metric type")?;
        let pushed_at = self.f64()?;
        let n = self.len()?;
        let series = (0..n)
            .map(|_| Ok((self.pairs()?, self.value()?)))
            .collect::<R<_>>()?;
        Ok(StoredFamilyData {
            name,
            help,
            kind,
            pushed_at,
            series,
        })
    }

    fn value(&mut self) -> R<Value> {
        let tag = self.byte()?;
        if tag == 0 {
            return Ok(Value::Scalar(self.f64()?));
        }
        let presence = self.byte()?;
        let count = if presence & 1 == 1 {
            Some(self.f64()?)
        } else {
            None
        };
        let sum = if presence & 2 == 2 {
            Some(self.f64()?)
        } else {
            None
        };
        let n = self.len()?;
        let pairs = (0..n)
            .map(|_| Ok((self.f64()?, self.f64()?)))
            .collect::<R<Vec<_>>>()?;
        match tag {
            1 => Ok(Value::Summary(Box::new(Summary {
                count,
                sum,
                quantiles: pairs,
            }))),
            2 => Ok(Value::Histogram(Box::new(Histogram {
                native: if presence & 4 == 4 {
                    Some(Box::new(self.native()?))
                } else {
                    None
                },
                count,
                sum,
                buckets: pairs,
            }))),
            _ => Err("bad value tag"),
        }
    }
}

/// CRC-32 (IEEE 802.3, as zlib and gzip use).
#[must_use]
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            #[allow(clippy::cast_possible_truncation, reason = "i < 256")]
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 file: one group `{job="a"}` pushed at 5 s, no families.
    fn version_1_file() -> Vec<u8> {
        let mut payload = Vec::new();
        put_varint(&mut payload, 1);
        put_str(&mut payload, "job");
        put_str(&mut payload, "a");
        payload.extend_from_slice(&5.0f64.to_le_bytes());
        payload.extend_from_slice(&0.0f64.to_le_bytes());
        put_varint(&mut payload, 0);
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&1u32.to_le_bytes());
        let len = u32::try_from(payload.len()).expect("small");
        file.extend_from_slice(&len.to_le_bytes());
        file.extend_from_slice(&crc32(&payload).to_le_bytes());
        file.extend_from_slice(&payload);
        file.extend_from_slice(&[0; 8]);
        file
    }

    /// Regression (issue 5, found by the persistence fuzz seeds): the learned interval was
    /// added to records without a version bump, so files written before it were reported as
    /// corrupt ("malformed record: invalid UTF-8").
    #[test]
    fn version_1_files_from_before_learned_intervals_still_decode() {
        let groups = decode(&version_1_file()).expect("a version 1 file decodes");
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(g.key, vec![("job".to_owned(), "a".to_owned())]);
        assert_eq!(
            (g.success, g.failure, g.interval, g.gaps),
            (5.0, 0.0, None, 0)
        );
    }

    #[test]
    fn unknown_versions_are_refused_by_number() {
        let mut file = version_1_file();
        file[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
        assert_eq!(
            decode(&file).map_err(|e| e.to_string()),
            Err(format!(
                "at byte offset 8: unsupported format version {}",
                VERSION + 1
            ))
        );
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn empty_snapshot_round_trips() {
        let bytes = encode_snapshot([]);
        assert_eq!(decode(&bytes), Ok(vec![]));
    }

    #[test]
    fn every_value_kind_round_trips_including_native_histograms() {
        use crate::grouping::GroupingKey;
        use crate::store::group::{PushTimes, Series, StoredFamily, Str};
        use std::collections::BTreeMap;
        use std::sync::Arc;

        let native = NativeHistogram {
            float_count: false,
            schema: Some(3),
            zero_threshold: Some(1e-128),
            zero_count: Some(2),
            zero_count_float: None,
            negative: NativeBuckets {
                spans: vec![(-2, 1)],
                deltas: vec![1],
                counts: vec![],
            },
            positive: NativeBuckets {
                spans: vec![(0, 2), (3, 1)],
                deltas: vec![1, -1, 4],
                counts: vec![],
            },
            exemplars: vec![Exemplar {
                labels: vec![("trace_id".into(), "abc".into())],
                value: Some(0.5),
                timestamp: Some((1, 2)),
            }],
        };
        let values = [
            Value::Scalar(-9.223_372_036_854_776e18),
            Value::Summary(Box::new(Summary {
                count: Some(3.0),
                sum: None,
                quantiles: vec![(0.5, 1.0)],
            })),
            Value::Histogram(Box::new(Histogram {
                count: Some(8.0),
                sum: Some(1.5),
                buckets: vec![(1.0, 2.0)],
                native: Some(Box::new(native)),
            })),
        ];
        let key = GroupingKey::from_path("job/j/a/b").expect("valid");
        let labels: Vec<(Str, Str)> = vec![("a".into(), "b".into()), ("job".into(), "j".into())];
        let mut families = BTreeMap::new();
        for (i, v) in values.iter().enumerate() {
            let kind = [
                MetricType::Gauge,
                MetricType::Summary,
                MetricType::Histogram,
            ][i];
            let series = vec![Series {
                labels: labels.clone().into(),
                value: v.clone(),
            }];
            let name: Str = format!("m{i}").into();
            families.insert(
                name.clone(),
                Arc::new(StoredFamily::new(
                    name,
                    Some("h\n".into()),
                    kind,
                    series,
                    12.5,
                )),
            );
        }
        let group = Group::new(
            key,
            labels.into(),
            families,
            PushTimes {
                success: 10.0,
                failure: 5.0,
                interval: Some(2.5),
                gaps: 7,
            },
        );
        let decoded = decode(&encode_snapshot([&group])).expect("round trip");
        assert_eq!(decoded.len(), 1);
        let g = &decoded[0];
        assert_eq!(
            (g.success, g.failure, g.interval, g.gaps),
            (10.0, 5.0, Some(2.5), 7)
        );
        let got: Vec<&Value> = g.families.iter().map(|f| &f.series[0].1).collect();
        assert_eq!(got, values.iter().collect::<Vec<_>>());
    }

    #[test]
    fn truncation_at_any_byte_is_detected() {
        let bytes = encode_snapshot([]);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
