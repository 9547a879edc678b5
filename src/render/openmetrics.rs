//! The OpenMetrics 1.0.0 text exposition: an extension over the Go gateway, which only speaks
//! the text format 0.0.4 and protobuf.
//!
//! Owns: what differs from the text format 0.0.4, per the spec
//! (<https://github.com/OpenObservability/OpenMetrics/blob/v1.0.0/specification/OpenMetrics.md>):
//! - family headers ([`header`]): `unknown` for untyped; a counter family `x_total` is the
//!   family `x` with samples `x_total`; `"` is escaped in `# HELP` text too;
//! - the exposition ends in `# EOF` ([`EOF`]).
//!
//! Does not own: sample lines (the same bytes as the text format, so they come from the same
//! per-family cache; histograms always carry their `+Inf` bucket and `_count` in both, see
//! [`crate::render::series::render_lines`]), merging, caching.
//!
//! Series names never change between the formats, so Prometheus stores the same series
//! whichever it negotiates: a counter whose name does not end in `_total` (OpenMetrics would
//! require `_total` on its samples) is exposed as `unknown` under its own name, and so is a
//! counter `x_total` when a family `x` also exists (two families may not share a name).

use bytes::Bytes;

use crate::model::MetricType;
use crate::render::text::write_label_value;

/// The last line of every OpenMetrics exposition.
pub const EOF: &[u8] = b"# EOF\n";

/// The family name and type keyword OpenMetrics shows for a family. `taken` says whether a
/// name is already the name of another family of the exposition.
pub fn name_and_type<'a>(
    name: &'a str,
    kind: MetricType,
    taken: &impl Fn(&str) -> bool,
) -> (&'a str, &'static str) {
    match kind {
        MetricType::Counter => match name.strip_suffix("_total") {
            Some(base) if !base.is_empty() && !taken(base) => (base, "counter"),
            _ => (name, "unknown"),
        },
        MetricType::Untyped => (name, "unknown"),
        other => (name, other.as_str()),
    }
}

/// The `# HELP` (if any) and `# TYPE` lines of a family.
pub fn header(
    name: &str,
    help: Option<&str>,
    kind: MetricType,
    taken: &impl Fn(&str) -> bool,
) -> Bytes {
    let (name, keyword) = name_and_type(name, kind, taken);
    let mut out = Vec::with_capacity(name.len() * 2 + help.map_or(0, str::len) + 24);
    if let Some(help) = help {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        // OpenMetrics escapes `\`, newline and `"` in HELP, exactly as in label values.
        write_label_value(&mut out, help);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(keyword.as_bytes());
    out.push(b'\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(name: &str, kind: MetricType, want: (&str, &str)) {
        let taken = |n: &str| n == "taken";
        assert_eq!(name_and_type(name, kind, &taken), want);
    }

    #[test]
    fn counters_lose_total_in_the_family_name_only_when_that_is_safe() {
        check("x_total", MetricType::Counter, ("x", "counter"));
        check("x", MetricType::Counter, ("x", "unknown"));
        check("_total", MetricType::Counter, ("_total", "unknown"));
        check(
            "taken_total",
            MetricType::Counter,
            ("taken_total", "unknown"),
        );
        check("x_total", MetricType::Gauge, ("x_total", "gauge"));
        check("u", MetricType::Untyped, ("u", "unknown"));
        check("h", MetricType::Histogram, ("h", "histogram"));
    }

    #[test]
    fn help_escapes_quotes() {
        let none = |_: &str| false;
        assert_eq!(
            &header(
                "a_total",
                Some("say \"hi\"\\\n"),
                MetricType::Counter,
                &none
            )[..],
            b"# HELP a say \\\"hi\\\"\\\\\\n\n# TYPE a counter\n"
        );
    }
}
