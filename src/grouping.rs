//! The grouping key of a push: the labels taken from the request path.
//!
//! This module owns the parsing of everything after `<prefix>/metrics/` in a push or delete path
//! (`job/<job>/<name>/<value>/...`, with optional `@base64` segments), its validation, and the
//! canonical form that the store uses as a map key: the labels sorted by name, with unique names,
//! always containing `job`. It does not own routing, HTTP status mapping, the
//! push body, or the labels of the pushed metrics themselves.
//!
//! Data enters as the still percent-encoded path remainder ([`GroupingKey::from_path`]) or as
//! already decoded pairs ([`GroupingKey::from_pairs`], used by persistence restore) and leaves as
//! an immutable, cheaply cloned [`GroupingKey`].
//!
//! The rules follow Pushgateway 1.5.1 `handler/push.go`, checked against the real binary:
//!
//! * The whole path is percent-decoded before it is split on `/` (Go's `URL.Path`), so `%2F`
//!   separates segments; this is why `@base64` exists. `+` stays a literal `+`.
//! * After the job segment, the rest is the label string, split on `/` into
//!   `["", name, value, name, value, ...]`. A label string of at most one byte carries no labels,
//!   so `job/foo/` is fine, and `job/foo/a/` gives `a=""`.
//! * A name ending in `@base64` has its value decoded with the URL-safe alphabet; `=` padding is
//!   optional (all trailing `=` are stripped, so `=` alone is the empty value), and, as in Go's
//!   decoder, `\r` and `\n` inside the value are skipped.
//! * A `job` label in the label string is overridden by the job segment; of two labels with the
//!   same name, the later one wins.
//!
//! The key holds exactly the labels of the path (as in Go): `/job/e` and
//! `/job/e/instance@base64/=` are two keys. The Go gateway then lets both groups expose
//! identical series, which makes every later scrape of its store fail; the store refuses the
//! second one instead (see `store::consistency`). We also reject path segments and base64 values that are not valid UTF-8, which Go accepts and then
//! fails to expose.
//!
//! Not replicated: Go's `ServeMux` answers a path that is not clean (`//`, `.` or `..`
//! segments, after decoding) with a 301 redirect to the cleaned path, and `job/` with a 307. A
//! PUT or POST client does not follow these, so for it they are failures; here they are errors
//! of the rules above (`job/foo//a` is `improper label name ""`, `job/` is `job name is
//! required`), except that `.` and `..` are taken as ordinary values.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::store::group::Str;

/// The suffix of a label name whose value is base64-encoded (URL-safe alphabet).
const BASE64_SUFFIX: &str = "@base64";

/// The validated, canonical labels that identify one pushed group.
///
/// Ordering, equality and hashing are over the sorted `(name, value)` pairs, so two paths that
/// list the same labels in a different order give equal keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupingKey {
    /// Sorted by name, unique names, always containing `job` (non-empty).
    labels: Arc<[(Str, Str)]>,
}

/// Why a push path or a set of label pairs is not a valid grouping key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupingKeyError {
    /// Occurs when the path does not start with `job/` or `job@base64/`; the Go router has no
    /// route for it, so the caller should answer 404.
    #[error("not a push path")]
    NotAPushPath,
    /// Occurs when a `%` in the path is not followed by two hex digits.
    #[error("invalid URL escape {0:?}")]
    InvalidUrlEscape(String),
    /// Occurs when a path segment is not valid UTF-8 once percent-decoded.
    #[error("path segment {0:?} is not valid UTF-8")]
    NonUtf8Segment(String),
    /// Occurs when the job segment after `job@base64/` is not valid URL-safe base64.
    ///
    /// Go quotes the partly decoded job here (`"foo"` for `Zm9v!!`); we quote the segment as
    /// sent, which says more.
    #[error(
        "invalid base64 encoding in job name {job:?}: illegal base64 data at input byte {offset}"
    )]
    InvalidJobBase64 {
        /// The job segment as it appeared in the path (percent-decoded).
        job: String,
        /// The byte offset of the first bad character, as Go reports it.
        offset: usize,
    },
    /// Occurs when the value of a label whose name ends in `@base64` is not valid URL-safe base64.
    #[error("invalid base64 encoding for label {name}={value:?}: illegal base64 data at input byte {offset}")]
    InvalidLabelBase64 {
        /// The label name without the `@base64` suffix.
        name: String,
        /// The value as it appeared in the path (percent-decoded).
        value: String,
        /// The byte offset of the first bad character, as Go reports it.
        offset: usize,
    },
    /// Occurs when a base64 segment decodes to bytes that are not valid UTF-8.
    #[error("base64 segment {0:?} does not decode to valid UTF-8")]
    NonUtf8Base64(String),
    /// Occurs when the job name is missing or empty.
    #[error("job name is required")]
    JobRequired,
    /// Occurs when the label string does not split into name/value pairs.
    #[error("odd number of components in label string {0:?}")]
    OddComponents(String),
    /// Occurs when a label name does not match `[a-zA-Z_][a-zA-Z0-9_]*` or starts with `__`.
    #[error("improper label name {0:?}")]
    ImproperLabelName(String),
}

impl GroupingKey {
    /// Parses the raw path after `<prefix>/metrics/`, still percent-encoded, such as
    /// `job/foo/a/b`, `job@base64/Zm9v/x@base64/eQ` or `job/foo/`.
    ///
    /// # Errors
    ///
    /// [`GroupingKeyError::NotAPushPath`] when the decoded path does not start with `job/` or
    /// `job@base64/`; any other variant for a push path that breaks one of the module's rules.
    pub fn from_path(rest: &str) -> Result<GroupingKey, GroupingKeyError> {
        let decoded = percent_decode(rest)?;
        let (job_segment, job_is_base64, label_string) = split_job(&decoded)?;
        let job = if job_is_base64 {
            decode_base64_str(job_segment).map_err(|err| match err {
                Base64Failure::Illegal(offset) => GroupingKeyError::InvalidJobBase64 {
                    job: job_segment.to_owned(),
                    offset,
                },
                Base64Failure::NonUtf8 => GroupingKeyError::NonUtf8Base64(job_segment.to_owned()),
            })?
        } else {
            job_segment.to_owned()
        };
        if job.is_empty() {
            return Err(GroupingKeyError::JobRequired);
        }
        let mut pairs = split_labels(label_string)?;
        // Go: `labels["job"] = job` after parsing the label string, so the path's job wins.
        pairs.push(("job".to_owned(), job));
        Self::from_pairs(pairs)
    }

    /// Builds a key from decoded pairs, as persistence restore and tests have them.
    ///
    /// Names are validated as in [`GroupingKey::from_path`] (without any `@base64` handling);
    /// of two pairs with the same name the later wins.
    ///
    /// # Errors
    ///
    /// [`GroupingKeyError::ImproperLabelName`] for a bad name, [`GroupingKeyError::JobRequired`]
    /// when no non-empty `job` is given.
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(
        pairs: I,
    ) -> Result<GroupingKey, GroupingKeyError> {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
        if let Some((name, _)) = pairs.iter().find(|(name, _)| !is_valid_label_name(name)) {
            return Err(GroupingKeyError::ImproperLabelName(name.clone()));
        }
        // Keep the last pair of each name: reverse, then a stable sort puts it first in its run.
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        match pairs.iter().find(|(name, _)| name == "job") {
            Some((_, job)) if !job.is_empty() => {}
            _ => return Err(GroupingKeyError::JobRequired),
        }
        let labels = pairs
            .into_iter()
            .map(|(name, value)| (Str::from(name), Str::from(value)))
            .collect();
        Ok(GroupingKey { labels })
    }

    /// The job name (never empty).
    ///
    /// # Panics
    ///
    /// Never: every constructor checks that the key has a non-empty `job`.
    #[must_use]
    pub fn job(&self) -> &str {
        self.get("job")
            .expect("every constructor checks that a grouping key has a job")
    }

    /// All labels, sorted by name; always contains `job`.
    #[must_use]
    pub fn labels(&self) -> &[(Str, Str)] {
        &self.labels
    }

    /// The value of the label `name`, if the key has it.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| &*self.labels[i].1)
    }
}

/// Writes `{job="foo",k1="v1"}`, values escaped as in the text exposition format.
impl fmt::Display for GroupingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (i, (name, value)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{name}=\"")?;
            for chunk in value.split_inclusive(['\\', '"', '\n']) {
                match chunk.as_bytes().last() {
                    Some(b'\\') => write!(f, "{}\\\\", &chunk[..chunk.len() - 1])?,
                    Some(b'"') => write!(f, "{}\\\"", &chunk[..chunk.len() - 1])?,
                    Some(b'\n') => write!(f, "{}\\n", &chunk[..chunk.len() - 1])?,
                    _ => f.write_str(chunk)?,
                }
            }
            f.write_char('"')?;
        }
        f.write_char('}')
    }
}

/// Encodes `bytes` as unpadded URL-safe base64, the form a `<name>@base64/<value>` segment takes.
#[must_use]
pub fn encode_base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let sextet = |group: u32, shift: u32| char::from(ALPHABET[((group >> shift) & 0x3f) as usize]);
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 4];
        group[1..=chunk.len()].copy_from_slice(chunk);
        let group = u32::from_be_bytes(group);
        // A chunk of n bytes carries n + 1 sextets; the rest would be padding, which we omit.
        for shift in [18, 12, 6, 0].into_iter().take(chunk.len() + 1) {
            out.push(sextet(group, shift));
        }
    }
    out
}

/// Percent-decodes the whole path (Go's `url.PathUnescape`: `+` stays `+`) and checks UTF-8.
fn percent_decode(raw: &str) -> Result<Cow<'_, str>, GroupingKeyError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hi = bytes.get(i + 1).copied().and_then(hex_value);
        let lo = bytes.get(i + 2).copied().and_then(hex_value);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            let bad = &bytes[i..bytes.len().min(i + 3)];
            return Err(GroupingKeyError::InvalidUrlEscape(
                String::from_utf8_lossy(bad).into_owned(),
            ));
        };
        out.push(hi << 4 | lo);
        i += 3;
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|err| {
        let bytes = err.as_bytes();
        let bad = err.utf8_error().valid_up_to();
        let start = bytes[..bad]
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |p| p + 1);
        let end = bytes[bad..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(bytes.len(), |p| bad + p);
        GroupingKeyError::NonUtf8Segment(String::from_utf8_lossy(&bytes[start..end]).into_owned())
    })
}

/// The value of one hex digit, either case.
fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .map(|d| u8::try_from(d).expect("a hex digit is below 16"))
}

/// Splits a decoded path into (job segment, whether it is base64, label string).
///
/// The label string keeps its leading `/` (Go's `*labels` catch-all parameter), or is empty.
fn split_job(path: &str) -> Result<(&str, bool, &str), GroupingKeyError> {
    let (after, is_base64) = if let Some(after) = path.strip_prefix("job/") {
        (after, false)
    } else if let Some(after) = path.strip_prefix("job@base64/") {
        (after, true)
    } else {
        return Err(GroupingKeyError::NotAPushPath);
    };
    let (job, labels) = after.split_at(after.find('/').unwrap_or(after.len()));
    Ok((job, is_base64, labels))
}

/// Go's `splitLabels`: `"/a/1/b@base64/Mg"` -> `[(a, 1), (b, 2)]`, in path order.
fn split_labels(labels: &str) -> Result<Vec<(String, String)>, GroupingKeyError> {
    if labels.len() <= 1 {
        return Ok(Vec::new());
    }
    let components: Vec<&str> = labels.split('/').collect();
    if components.len() % 2 == 0 {
        return Err(GroupingKeyError::OddComponents(labels.to_owned()));
    }
    let mut pairs = Vec::with_capacity(components.len() / 2 + 2);
    for pair in components[1..].chunks_exact(2) {
        let (name, value) = (pair[0], pair[1]);
        let trimmed = name.strip_suffix(BASE64_SUFFIX).unwrap_or(name);
        if !is_valid_label_name(trimmed) {
            return Err(GroupingKeyError::ImproperLabelName(trimmed.to_owned()));
        }
        let value = if trimmed.len() == name.len() {
            value.to_owned()
        } else {
            decode_base64_str(value).map_err(|err| match err {
                Base64Failure::Illegal(offset) => GroupingKeyError::InvalidLabelBase64 {
                    name: trimmed.to_owned(),
                    value: value.to_owned(),
                    offset,
                },
                Base64Failure::NonUtf8 => GroupingKeyError::NonUtf8Base64(value.to_owned()),
            })?
        };
        pairs.push((trimmed.to_owned(), value));
    }
    Ok(pairs)
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with the reserved prefix `__`.
fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') && !name.starts_with("__")
}

/// Why a base64 segment could not become a label value.
enum Base64Failure {
    /// Go's `CorruptInputError`: the offset of the offending byte.
    Illegal(usize),
    /// The decoded bytes are not UTF-8.
    NonUtf8,
}

/// Go's `base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))`, then a UTF-8 check.
fn decode_base64_str(segment: &str) -> Result<String, Base64Failure> {
    let bytes = decode_base64_url(segment).map_err(Base64Failure::Illegal)?;
    String::from_utf8(bytes).map_err(|_| Base64Failure::NonUtf8)
}

/// Decodes URL-safe base64 after stripping all trailing `=`; `Err` holds Go's error offset.
///
/// Like Go's decoder it skips `\r` and `\n`, and it accepts non-zero trailing bits (Go's
/// non-strict mode).
fn decode_base64_url(segment: &str) -> Result<Vec<u8>, usize> {
    let src = segment.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(src.len() / 4 * 3 + 2);
    let (mut group, mut sextets) = (0u32, 0);
    for (i, &b) in src.iter().enumerate() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            b'\r' | b'\n' => continue,
            _ => return Err(i),
        };
        group = group << 6 | u32::from(value);
        sextets += 1;
        if sextets == 4 {
            out.extend_from_slice(&group.to_be_bytes()[1..]);
            (group, sextets) = (0, 0);
        }
    }
    match sextets {
        // Go reports a lone final sextet at `len - 1`, newlines included.
        1 => return Err(src.len() - 1),
        2 => out.push((group >> 4).to_be_bytes()[3]),
        3 => out.extend_from_slice(&(group >> 2).to_be_bytes()[2..]),
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parses `path` and compares with the wanted labels (in any order) or error message.
    #[track_caller]
    fn check(path: &str, want: Result<&[(&str, &str)], &str>) {
        let got = GroupingKey::from_path(path).map_err(|err| err.to_string());
        let want = want.map_err(str::to_owned).map(|pairs| {
            GroupingKey::from_pairs(
                pairs
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
            )
            .expect("wanted pairs are valid")
        });
        assert_eq!(got, want, "path {path:?}");
    }

    #[test]
    fn plain_paths() {
        check("job/foo", Ok(&[("job", "foo")]));
        check("job/foo/", Ok(&[("job", "foo")]));
        check("job/foo/a/b", Ok(&[("job", "foo"), ("a", "b")]));
        check(
            "job/foo/a/1/b/2",
            Ok(&[("job", "foo"), ("a", "1"), ("b", "2")]),
        );
        check(
            "job/foo/b/2/a/1",
            Ok(&[("job", "foo"), ("a", "1"), ("b", "2")]),
        );
        check(
            "job/foo/instance/i1",
            Ok(&[("job", "foo"), ("instance", "i1")]),
        );
        check("job/foo/a/", Ok(&[("job", "foo"), ("a", "")]));
        check(
            "job/foo/a//b/2",
            Ok(&[("job", "foo"), ("a", ""), ("b", "2")]),
        );
        check(
            "job/foo/a1_B/1/_/2",
            Ok(&[("job", "foo"), ("a1_B", "1"), ("_", "2")]),
        );
        check("job/a=b/c/d=e", Ok(&[("job", "a=b"), ("c", "d=e")]));
    }

    #[test]
    fn job_label_and_duplicates() {
        check("job/foo/job/other", Ok(&[("job", "foo")]));
        check(
            "job/foo/job@base64/YQ/a/1",
            Ok(&[("job", "foo"), ("a", "1")]),
        );
        check("job/foo/f/1/f/2", Ok(&[("job", "foo"), ("f", "2")]));
        check(
            "job/foo/instance/x/instance@base64/=",
            Ok(&[("job", "foo"), ("instance", "")]),
        );
    }

    #[test]
    fn percent_decoding() {
        check("job/a+b/c/d+e", Ok(&[("job", "a+b"), ("c", "d+e")]));
        check("job/a%20b/c/d%20e", Ok(&[("job", "a b"), ("c", "d e")]));
        check("job/foo%2Fa/b", Ok(&[("job", "foo"), ("a", "b")]));
        check("job%2Ffoo/a/b", Ok(&[("job", "foo"), ("a", "b")]));
        check("%6Aob/foo/a/b", Ok(&[("job", "foo"), ("a", "b")]));
        check("job/%C3%A7/k/%c3%a7", Ok(&[("job", "ç"), ("k", "ç")]));
        check(
            "job/foo/k/a%22b%5Cc%0Ad",
            Ok(&[("job", "foo"), ("k", "a\"b\\c\nd")]),
        );
        check("job/foo/%zz", Err(r#"invalid URL escape "%zz""#));
        check("job/foo/a/%4", Err(r#"invalid URL escape "%4""#));
        check("job/foo/a/%", Err(r#"invalid URL escape "%""#));
        check("job/foo/a/x%g0", Err(r#"invalid URL escape "%g0""#));
        check(
            "job/foo/h/a%FFb/c/d",
            Err(r#"path segment "a�b" is not valid UTF-8"#),
        );
        check("job/%FF", Err(r#"path segment "�" is not valid UTF-8"#));
    }

    #[test]
    fn flink_paths() {
        check(
            "job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1/k2/v2",
            Ok(&[
                ("job", "flinkpgw1aad809d7e0ec3094164704a63618361"),
                ("k1", "v1"),
                ("k2", "v2"),
            ]),
        );
        check(
            "job/flink+job+%C3%BC%2Bx/pct/50%25/cluster/prod+east/site/%C3%A7%C3%B6d%C3%A9",
            Ok(&[
                ("job", "flink+job+ü+x"),
                ("pct", "50%"),
                ("cluster", "prod+east"),
                ("site", "çödé"),
            ]),
        );
    }

    #[test]
    fn base64() {
        check("job@base64/Zm9v", Ok(&[("job", "foo")]));
        check(
            "job@base64/Zm9vYg==/x@base64/eQ",
            Ok(&[("job", "foob"), ("x", "y")]),
        );
        check(
            "job@base64/Zm9vYg/x@base64/eQ==",
            Ok(&[("job", "foob"), ("x", "y")]),
        );
        check("job@base64/L3Zhci90bXA", Ok(&[("job", "/var/tmp")]));
        check("job/foo/a@base64/=", Ok(&[("job", "foo"), ("a", "")]));
        check("job/foo/a@base64/==", Ok(&[("job", "foo"), ("a", "")]));
        check("job/foo/a@base64/", Ok(&[("job", "foo"), ("a", "")]));
        check("job/foo/a@base64/w6c", Ok(&[("job", "foo"), ("a", "ç")]));
        check(
            "job/foo/a@base64/Pz8-Pw",
            Ok(&[("job", "foo"), ("a", "??>?")]),
        );
        check(
            "job/foo/a@base64/Pz8_Pw",
            Ok(&[("job", "foo"), ("a", "????")]),
        );
        check("job/foo/a@base64/eR", Ok(&[("job", "foo"), ("a", "y")]));
        check(
            "job/foo/a@base64/Zm%0A9v",
            Ok(&[("job", "foo"), ("a", "foo")]),
        );
        check(
            "job/foo/a@base64/Zm9vYg%0D%0A==",
            Ok(&[("job", "foo"), ("a", "foob")]),
        );
        check(
            "job/foo/instance@base64/=",
            Ok(&[("job", "foo"), ("instance", "")]),
        );
    }

    #[test]
    fn base64_errors() {
        let label = |v: &str, at: usize| {
            format!(
                "invalid base64 encoding for label a={v:?}: illegal base64 data at input byte {at}"
            )
        };
        check("job/foo/a@base64/!!", Err(&label("!!", 0)));
        check("job/foo/a@base64/Zm9vY", Err(&label("Zm9vY", 4)));
        check("job/foo/a@base64/Zm9vY%0A", Err(&label("Zm9vY\n", 5)));
        check("job/foo/a@base64/Zg=a", Err(&label("Zg=a", 2)));
        check("job/foo/a@base64/Zm+v", Err(&label("Zm+v", 2)));
        check("job/foo/a@base64/Zm9vYg=%0A", Err(&label("Zm9vYg=\n", 6)));
        let job =
            r#"invalid base64 encoding in job name "!!": illegal base64 data at input byte 0"#;
        check("job@base64/!!", Err(job));
        let job4 =
            r#"invalid base64 encoding in job name "Zm9v!!": illegal base64 data at input byte 4"#;
        check("job@base64/Zm9v!!/a/b", Err(job4));
        check(
            "job/foo/a@base64/_w",
            Err(r#"base64 segment "_w" does not decode to valid UTF-8"#),
        );
        check(
            "job@base64/_w",
            Err(r#"base64 segment "_w" does not decode to valid UTF-8"#),
        );
    }

    #[test]
    fn structural_errors() {
        check("", Err("not a push path"));
        check("job", Err("not a push path"));
        check("job@base64", Err("not a push path"));
        check("jobs/foo", Err("not a push path"));
        check("foo/job/bar", Err("not a push path"));
        check("job/", Err("job name is required"));
        check("job//x/y", Err("job name is required"));
        check("job@base64/=", Err("job name is required"));
        check("job@base64//a/b", Err("job name is required"));
        check(
            "job/foo/a",
            Err(r#"odd number of components in label string "/a""#),
        );
        check(
            "job/foo/a/1/b",
            Err(r#"odd number of components in label string "/a/1/b""#),
        );
        check(
            "job/foo/a/b/",
            Err(r#"odd number of components in label string "/a/b/""#),
        );
        check("job/foo//a", Err(r#"improper label name """#));
        check("job/foo/__a/1", Err(r#"improper label name "__a""#));
        check("job/foo/__a@base64/MQ", Err(r#"improper label name "__a""#));
        check("job/foo/a-b/1", Err(r#"improper label name "a-b""#));
        check("job/foo/1a/1", Err(r#"improper label name "1a""#));
        check("job/foo/@base64/x", Err(r#"improper label name """#));
        check(
            "job/foo/a@base64@base64/x",
            Err(r#"improper label name "a@base64""#),
        );
        check("job/foo/%C3%A7/1", Err(r#"improper label name "ç""#));
    }

    #[test]
    fn from_pairs_rules() {
        let pairs = |p: &[(&str, &str)]| {
            GroupingKey::from_pairs(p.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())))
                .map_err(|err| err.to_string())
        };
        assert_eq!(pairs(&[("a", "1")]), Err("job name is required".to_owned()));
        assert_eq!(
            pairs(&[("job", "")]),
            Err("job name is required".to_owned())
        );
        assert_eq!(
            pairs(&[("job", "x"), ("a@base64", "")]),
            Err(r#"improper label name "a@base64""#.to_owned())
        );
        let key = pairs(&[("job", "x"), ("b", "1"), ("a", "2"), ("b", "3")]).expect("valid");
        let names: Vec<&str> = key.labels().iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, ["a", "b", "job"]);
        assert_eq!(
            (key.job(), key.get("b"), key.get("instance"), key.get("zz")),
            ("x", Some("3"), None, None)
        );
    }

    #[test]
    fn display_and_ordering() {
        let key = GroupingKey::from_path("job/foo/k1/v1/k2/a%22b%5Cc%0Ad").expect("valid");
        assert_eq!(key.to_string(), r#"{job="foo",k1="v1",k2="a\"b\\c\nd"}"#);
        let a = GroupingKey::from_path("job/a/x/1").expect("valid");
        let b = GroupingKey::from_path("job/a/x/2").expect("valid");
        let c = GroupingKey::from_path("job/b").expect("valid");
        assert!(a < b && b < c);
    }

    #[test]
    fn encode_base64() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"\xfb\xff", "-_8"),
            ("ç".as_bytes(), "w6c"),
        ];
        for (input, want) in cases {
            assert_eq!(encode_base64_url(input), want, "input {input:?}");
        }
    }

    /// Percent-encodes everything but unreserved characters and `/`, as a careful client would.
    fn percent_encode(value: &str) -> String {
        let mut out = String::new();
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                out.push(char::from(b));
            } else {
                write!(out, "%{b:02X}").expect("writing to a String cannot fail");
            }
        }
        out
    }

    proptest! {
        #[test]
        fn base64_values_round_trip(value in any::<String>(), pad in any::<bool>()) {
            let mut encoded = encode_base64_url(value.as_bytes());
            while pad && encoded.len() % 4 != 0 {
                encoded.push('=');
            }
            let path = format!("job@base64/{encoded}/v@base64/{encoded}");
            let key = GroupingKey::from_path(&path);
            if value.is_empty() {
                prop_assert_eq!(key, Err(GroupingKeyError::JobRequired));
            } else {
                let key = key.expect("valid base64 path");
                prop_assert_eq!(key.job(), value.as_str());
                prop_assert_eq!(key.get("v"), Some(value.as_str()));
            }
        }

        #[test]
        fn base64_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode_base64_url(&encode_base64_url(&bytes)), Ok(bytes));
        }

        #[test]
        fn percent_encoded_values_round_trip(value in "[^/]*") {
            let key = GroupingKey::from_path(&format!("job/j/v/{}", percent_encode(&value)))
                .expect("valid percent-encoded path");
            prop_assert_eq!(key.get("v"), Some(value.as_str()));
        }

        #[test]
        fn never_panics(path in "(job|job@base64)?/[a-zA-Z0-9%=@/_+-]{0,30}") {
            let _ = GroupingKey::from_path(&path);
        }
    }
}
