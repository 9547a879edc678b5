//! The few Java library behaviours that shape Flink's output, re-implemented exactly.
//!
//! Owns: `Double.toString` ([`write_double`]), the Prometheus client's `doubleToGoString`
//! wrapper ([`write_go_double`]), `String.hashCode` and `java.util.HashMap` iteration order
//! ([`hashmap_order`]), `URLEncoder.encode(s, "UTF-8")` ([`form_encode`]) and the 32-hex
//! `AbstractID` ([`random_id`]).
//! Does not own: any formatting decision of Flink's own (see [`crate::text`]).
//!
//! Why bother: a pushgateway that claims to be a drop-in for Flink has to be tested against
//! byte-exact Flink bodies, and a load generator that writes `5.3687092E8` where Flink writes
//! `5.3687092E8` exercises the same parser paths as production.

use std::fmt::Write as _;

/// Appends `Double.toString(x)` as specified since JDK 19 (JDK-4511638): the shortest decimal
/// that rounds to `x`, with at least two significant digits considered when one would do
/// (`4.9E-324`, not `5.0E-324`); plain notation with at least one fractional digit for
/// `1e-3 <= |x| < 1e7`, otherwise computerized scientific notation `d.dddE[-]n`.
///
/// JDK 8–18 use an older algorithm that, for a few values, prints more digits than needed
/// (`2.82879384806159E17` comes out as `2.82879384806159008E17`). Every value in the captured
/// Flink 2.3.0 / Java 17 bodies prints the same with both.
///
/// Infinities print as Java does (`Infinity`, `-Infinity`); use [`write_go_double`] for the
/// exposition format.
pub fn write_double(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    let (digits, len, exp) = shortest_digits(x);
    if x < 0.0 {
        out.push(b'-');
    }
    let digits = &digits[..len];
    if (1e-3..1e7).contains(&x.abs()) {
        write_plain(out, digits, exp);
    } else {
        write_scientific(out, digits, exp);
    }
}

/// Appends a sample value as the Prometheus Java client 0.8 writes it
/// (`Collector.doubleToGoString`): `+Inf`, `-Inf`, `NaN`, else [`write_double`].
pub fn write_go_double(out: &mut Vec<u8>, x: f64) {
    if x == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if x == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        write_double(out, x);
    }
}

/// `Double.toString(x)` as a `String`; see [`write_double`].
#[must_use]
pub fn double_to_string(x: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_double(&mut out, x);
    String::from_utf8(out).expect("write_double emits ASCII only")
}

/// `ddd...` with `exp` the power of ten of the first digit: `1.5` is (`15`, 0).
fn write_plain(out: &mut Vec<u8>, digits: &[u8], exp: i32) {
    if exp < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
        return;
    }
    let int_len = usize::try_from(exp).expect("exp >= 0 here") + 1;
    if digits.len() <= int_len {
        out.extend_from_slice(digits);
        out.resize(out.len() + int_len - digits.len(), b'0');
        out.extend_from_slice(b".0");
    } else {
        out.extend_from_slice(&digits[..int_len]);
        out.push(b'.');
        out.extend_from_slice(&digits[int_len..]);
    }
}

fn write_scientific(out: &mut Vec<u8>, digits: &[u8], exp: i32) {
    out.push(digits[0]);
    out.push(b'.');
    if digits.len() == 1 {
        out.push(b'0');
    } else {
        out.extend_from_slice(&digits[1..]);
    }
    out.push(b'E');
    let mut buf = StackBuf::new();
    write!(buf, "{exp}").expect("an i32 fits in 40 bytes");
    out.extend_from_slice(buf.as_bytes());
}

/// A fixed stack buffer for `format_args!` output; doubles in `{:e}` form fit in 32 bytes.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        Self {
            buf: [0; 40],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Splits `{:e}`-style text (`-1.2345e-7`) into significant digits and exponent.
fn split_exp(text: &[u8]) -> ([u8; 20], usize, i32) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut i = 0;
    while i < text.len() && text[i] != b'e' {
        if text[i].is_ascii_digit() {
            digits[len] = text[i];
            len += 1;
        }
        i += 1;
    }
    let exp_text = std::str::from_utf8(&text[i + 1..]).expect("ASCII");
    let exp = exp_text
        .parse::<i32>()
        .expect("`{:e}` always writes an exponent");
    // Trailing zeros are not significant (`{:.1e}` may write `5.0e-1`).
    while len > 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    (digits, len, exp)
}

fn format_e(x: f64, precision: Option<usize>) -> StackBuf {
    let mut buf = StackBuf::new();
    let res = match precision {
        None => write!(buf, "{:e}", x.abs()),
        Some(p) => write!(buf, "{:.*e}", p, x.abs()),
    };
    res.expect("a double in `{:e}` form fits in 40 bytes");
    buf
}

/// The digits Java prints for a finite, non-zero `x`: Rust's shortest round-trip digits, except
/// that a one-digit result is replaced by the closest two-digit decimal when that one still
/// rounds to `x` (Java's rule; matters for subnormals and a few large powers of ten).
fn shortest_digits(x: f64) -> ([u8; 20], usize, i32) {
    let short = format_e(x, None);
    let (digits, len, exp) = split_exp(short.as_bytes());
    if len > 1 {
        return (digits, len, exp);
    }
    let two = format_e(x, Some(1));
    let text = two.as_bytes();
    let round_trips = std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .is_some_and(|y: f64| y.to_bits() == x.abs().to_bits());
    if round_trips {
        split_exp(text)
    } else {
        (digits, len, exp)
    }
}

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
#[must_use]
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The iteration order of a `java.util.HashMap<String, _>` filled with `keys` in this order
/// (duplicates already removed): indexes into `keys`.
///
/// A `HashMap` iterates its table bucket by bucket; a key's bucket is
/// `(h ^ (h >>> 16)) & (capacity - 1)`, and keys sharing a bucket keep insertion order
/// (resizes split buckets without reordering). The capacity is the smallest power of two, at
/// least 16, with `n <= 0.75 * capacity`. Buckets of 8 or more keys become trees in Java;
/// with at most a few dozen keys that does not happen in practice and is ignored here.
///
/// Flink builds metric variables (`<host>`, `<tm_id>`, ...) and the reporter's grouping key in
/// `HashMap`s, so this is the order of labels in a Flink body and of grouping-key pairs in its
/// push path.
#[must_use]
pub fn hashmap_order<S: AsRef<str>>(keys: &[S]) -> Vec<usize> {
    let mut capacity = 16usize;
    while keys.len() * 4 > capacity * 3 {
        capacity *= 2;
    }
    let mask = capacity - 1;
    let bucket = |key: &str| {
        #[allow(clippy::cast_sign_loss, reason = "Java's `>>>` works on the raw bits")]
        let h = string_hash(key) as u32;
        (h ^ (h >> 16)) as usize & mask
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // Stable sort: ties keep insertion order, as a bucket's linked list does.
    order.sort_by_key(|&i| bucket(keys[i].as_ref()));
    order
}

/// `java.net.URLEncoder.encode(s, "UTF-8")`: `a-zA-Z0-9.-*_` kept, space to `+`, every other
/// UTF-8 byte as `%XX` (upper-case hex). The Prometheus Java client encodes push-path values
/// this way, so `prod east` goes on the wire as `prod+east`.
#[must_use]
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                write!(out, "%{b:02X}").expect("writing to a String cannot fail");
            }
        }
    }
    out
}

/// URL-safe base64 with padding, as the Prometheus Java client's `base64url` for `@base64`
/// path segments.
#[must_use]
pub fn base64url(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// 32 lowercase hex digits, like Flink's `new AbstractID().toString()` (two random longs).
#[must_use]
pub fn random_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(x: f64, want: &str) {
        assert_eq!(double_to_string(x), want, "Double.toString({x:e})");
    }

    #[test]
    fn double_to_string_matches_java() {
        check(0.0, "0.0");
        check(-0.0, "-0.0");
        check(1.0, "1.0");
        check(52.0, "52.0");
        check(-1.0, "-1.0");
        check(100.0, "100.0");
        check(0.5, "0.5");
        check(0.001, "0.001");
        check(0.000_999, "9.99E-4");
        check(1e-4, "1.0E-4");
        check(9_999_999.0, "9999999.0");
        check(1e7, "1.0E7");
        check(1.1e7, "1.1E7");
        check(9_000_000.0, "9000000.0");
        check(536_870_920.0, "5.3687092E8");
        check(1_073_741_824.0, "1.073741824E9");
        check(-9.223_372_036_854_776e18, "-9.223372036854776E18");
        check(f64::from(i32::MAX), "2.147483647E9");
        check(0.433_333_333_333_333_35, "0.43333333333333335");
        check(98.990_000_000_000_01, "98.99000000000001");
        check(0.1 + 0.2, "0.30000000000000004");
        check(1e23, "1.0E23");
        check(2e-3, "0.002");
        check(f64::MIN_POSITIVE, "2.2250738585072014E-308");
        check(f64::MAX, "1.7976931348623157E308");
        check(5e-324, "4.9E-324");
        check(f64::NAN, "NaN");
        check(f64::INFINITY, "Infinity");
        check(f64::NEG_INFINITY, "-Infinity");
        check(123_456.789, "123456.789");
        check(1234.5e-10, "1.2345E-7");
    }

    #[test]
    fn go_double_infinities() {
        let mut out = Vec::new();
        write_go_double(&mut out, f64::INFINITY);
        out.push(b' ');
        write_go_double(&mut out, f64::NEG_INFINITY);
        out.push(b' ');
        write_go_double(&mut out, 2.5);
        assert_eq!(out, b"+Inf -Inf 2.5");
    }

    #[test]
    fn string_hash_matches_java() {
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("hello"), 99_162_322);
        assert_eq!(
            string_hash("<host>"),
            "<host>".encode_utf16().fold(0i32, |h, c| {
                h.wrapping_mul(31).wrapping_add(i32::from(c))
            })
        );
    }

    /// Label order of operator-scoped metrics in `fixtures/flink-2.3.0/tm.txt`.
    #[test]
    fn hashmap_order_matches_flink_operator_labels() {
        let keys = [
            "<operator_id>",
            "<operator_name>",
            "<task_id>",
            "<task_attempt_id>",
            "<task_name>",
            "<subtask_index>",
            "<task_attempt_num>",
            "<job_id>",
            "<job_name>",
            "<host>",
            "<tm_id>",
        ];
        let ordered: Vec<&str> = hashmap_order(&keys).into_iter().map(|i| keys[i]).collect();
        assert_eq!(
            ordered,
            [
                "<job_id>",
                "<task_id>",
                "<task_attempt_id>",
                "<host>",
                "<operator_id>",
                "<operator_name>",
                "<task_name>",
                "<task_attempt_num>",
                "<job_name>",
                "<tm_id>",
                "<subtask_index>",
            ]
        );
    }

    #[test]
    fn form_encode_like_java() {
        assert_eq!(form_encode("prod east"), "prod+east");
        assert_eq!(form_encode("a+b"), "a%2Bb");
        assert_eq!(form_encode("tm-1_x.y*z"), "tm-1_x.y*z");
        assert_eq!(form_encode("größe"), "gr%C3%B6%C3%9Fe");
        assert_eq!(form_encode("localhost:35339"), "localhost%3A35339");
    }

    #[test]
    fn base64url_padding() {
        assert_eq!(base64url("a/b"), "YS9i");
        assert_eq!(base64url("ab"), "YWI=");
        assert_eq!(base64url("a"), "YQ==");
        assert_eq!(base64url("??>"), "Pz8-");
    }

    #[test]
    fn random_id_is_32_lower_hex() {
        let id = random_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(id, random_id());
    }
}
