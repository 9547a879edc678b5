//! HTML writing helpers: escaping, numbers, times and durations as the UI shows them.
//!
//! Owns: [`esc`] (the one escaping function every piece of user input goes through, for text
//! and for double-quoted attribute values alike), the label badges, and the human formats of
//! times, durations and values.
//! Does not own: page structure (the view modules) or query parsing ([`super::query`]).
//!
//! Everything writes into a `String` the caller owns: pages are built in one buffer.

use std::fmt::Write as _;

/// Appends `s` with `&`, `<`, `>`, `"` and `'` replaced by entities: safe in element text
/// and in quoted attribute values. Label values, help texts and metric names are user input.
pub fn esc(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Label values longer than this are shortened in badges (the delete and metrics links still
/// carry the whole key, so nothing is lost).
const MAX_SHOWN_VALUE: usize = 120;

/// One `name="value"` badge; `class` picks its colour.
pub fn label_badge(out: &mut String, name: &str, value: &str, class: &str) {
    out.push_str("<span class=\"lbl ");
    out.push_str(class);
    out.push_str("\">");
    esc(out, name);
    out.push_str("=&quot;");
    if value.len() > MAX_SHOWN_VALUE {
        let mut end = MAX_SHOWN_VALUE;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        esc(out, &value[..end]);
        let _ = write!(out, "…&quot; <i>({} bytes)</i></span>", value.len());
        return;
    }
    esc(out, value);
    out.push_str("&quot;</span>");
}

/// A value the way an operator reads it: integers with thousands separators, others with
/// up to three decimals, `–` for NaN.
#[must_use]
pub fn number(v: f64) -> String {
    if v.is_nan() {
        return "–".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "checked: a whole number below 1e15"
        )]
        let n = v as i64;
        return thousands(n);
    }
    if v.abs() >= 1e15 || (v != 0.0 && v.abs() < 1e-3) {
        return format!("{v:.3e}");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in seconds, short: `850ms`, `12s`, `3m 05s`, `2h 03m`, `4d 02h`.
#[must_use]
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "–".to_owned();
    }
    if secs < 1.0 {
        return format!("{:.0}ms", secs.max(0.0) * 1000.0);
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a positive finite duration in whole seconds"
    )]
    let s = secs as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A Unix time as `2026-11-21 13:29:02 UTC`.
#[must_use]
pub fn utc(unix_seconds: f64) -> String {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "push times are far inside i64 seconds"
    )]
    let secs = unix_seconds.floor() as i64;
    let mut out = String::with_capacity(23);
    crate::server::api::write_date_time(&mut out, secs, ' ');
    out.push_str(" UTC");
    out
}

/// `<time>` with the absolute time as text and the Unix time for the page script, which keeps
/// the relative age next to it ticking.
pub fn time_ago(out: &mut String, at: f64, now: f64) {
    if at <= 0.0 {
        out.push_str("never");
        return;
    }
    let _ = write!(
        out,
        "<span class=\"ago\" data-ts=\"{at:.3}\">{} ago</span><br><time>{}</time>",
        duration(now - at),
        utc(at)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_esc(input: &str, want: &str) {
        let mut out = String::new();
        esc(&mut out, input);
        assert_eq!(out, want);
    }

    #[test]
    fn escaping_covers_text_and_attributes() {
        check_esc("plain ü", "plain ü");
        check_esc(
            "<script>alert('x')</script>",
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;",
        );
        check_esc("a\"b&c", "a&quot;b&amp;c");
        check_esc(
            "\"><img src=x onerror=1>",
            "&quot;&gt;&lt;img src=x onerror=1&gt;",
        );
    }

    #[test]
    fn long_values_are_shortened_on_a_char_boundary() {
        let mut out = String::new();
        let value = "ü".repeat(100);
        label_badge(&mut out, "k", &value, "");
        assert!(out.contains("(200 bytes)"), "{out}");
        assert!(out.len() < 200, "{out}");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(number(-1000.0), "-1,000");
        assert_eq!(number(47.016_666), "47.017");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(f64::NAN), "–");
        assert_eq!(number(1.5e300), "1.500e300");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(0.25), "250ms");
        assert_eq!(duration(12.9), "12s");
        assert_eq!(duration(185.0), "3m 05s");
        assert_eq!(duration(7380.0), "2h 03m");
        assert_eq!(duration(360_000.0), "4d 04h");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(1_795_258_818.5), "2026-11-21 11:00:18 UTC");
    }
}
