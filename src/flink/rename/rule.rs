//! Compiled rename rules: a regex on the metric name plus a name template.
//!
//! Owns: compiling a rule ([`Rule::compile`], every check that makes its output a valid
//! name), applying it to one name ([`Rule::apply`]) and sanitizing names ([`sanitize`]).
//! Does not own: the order rules are tried in or caching (`super::Renamer`).
//!
//! Data enters as the `match` and `name` strings of the config file (or a preset) and leaves
//! as a [`super::Renamed`]: the new name and the labels captured from the old one.

use regex::Regex;

use super::{RenameConfigError, Renamed};
use crate::model::{is_label_name_continue, is_metric_name_continue, is_valid_label_name};

/// Which alphabet a sanitized name must use.
#[derive(Clone, Copy)]
pub(super) enum Alphabet {
    /// `[a-zA-Z0-9_:]`.
    Metric,
    /// `[a-zA-Z0-9_]`.
    Label,
}

/// Appends `s` to `out` with the delimiter and every character outside `alphabet` as `_`.
fn push_sanitized(out: &mut String, s: &str, delimiter: char, alphabet: Alphabet) {
    for c in s.chars() {
        let keep = c != delimiter
            && u8::try_from(c).is_ok_and(|b| match alphabet {
                Alphabet::Metric => is_metric_name_continue(b),
                Alphabet::Label => is_label_name_continue(b),
            });
        out.push(if keep { c } else { '_' });
    }
}

/// `s` sanitized into a valid name of `alphabet`; `s` must not be empty.
pub(super) fn sanitize(s: &str, delimiter: char, alphabet: Alphabet) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    push_sanitized(&mut out, s, delimiter, alphabet);
    out
}

/// A piece of a compiled name template.
#[derive(Debug)]
enum Segment {
    /// Text copied as is (checked to be valid in a metric name).
    Literal(String),
    /// A capture group, substituted sanitized.
    Group(usize),
}

/// A compiled rename rule.
#[derive(Debug)]
pub(super) struct Rule {
    matcher: Regex,
    template: Vec<Segment>,
    /// `(capture group index, label name)` for the named groups the template does not use.
    labels: Vec<(usize, String)>,
}

impl Rule {
    /// Compiles a rule; `id` names it in errors.
    pub(super) fn compile(
        id: &str,
        matcher: &str,
        template: &str,
    ) -> Result<Rule, RenameConfigError> {
        let matcher = Regex::new(matcher).map_err(|source| RenameConfigError::Regex {
            rule: id.to_owned(),
            source: Box::new(source),
        })?;
        let template_err = |reason: String| RenameConfigError::Template {
            rule: id.to_owned(),
            template: template.to_owned(),
            reason,
        };
        let segments = parse_template(template, &matcher).map_err(template_err)?;
        let used: Vec<usize> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Group(i) => Some(*i),
                Segment::Literal(_) => None,
            })
            .collect();
        let mut labels = Vec::new();
        for (index, name) in matcher.capture_names().enumerate() {
            let Some(name) = name.filter(|_| !used.contains(&index)) else {
                continue;
            };
            let reason = if !is_valid_label_name(name) {
                Some("not a valid label name")
            } else if name.starts_with("__") {
                Some("names starting with __ are reserved")
            } else if matches!(name, "quantile" | "le") {
                Some("summaries and histograms reserve it")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(RenameConfigError::CaptureLabel {
                    rule: id.to_owned(),
                    group: name.to_owned(),
                    reason,
                });
            }
            labels.push((index, name.to_owned()));
        }
        Ok(Rule {
            matcher,
            template: segments,
            labels,
        })
    }

    /// The rename of `raw` by this rule, if it matches and gives a non-empty name.
    pub(super) fn apply(&self, raw: &str, delimiter: char) -> Option<Renamed> {
        let caps = self.matcher.captures(raw)?;
        let mut name = String::with_capacity(raw.len() + 32);
        for segment in &self.template {
            match segment {
                Segment::Literal(text) => name.push_str(text),
                Segment::Group(i) => {
                    let value = caps.get(*i).map_or("", |m| m.as_str());
                    push_sanitized(&mut name, value, delimiter, Alphabet::Metric);
                }
            }
        }
        // Only substituted text can start with a digit (literals are checked at load time);
        // an empty result means the rule does not apply.
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            name.insert(0, '_');
        }
        if name.is_empty() {
            return None;
        }
        let labels = self
            .labels
            .iter()
            .filter_map(|(i, label)| {
                let value = caps.get(*i)?.as_str();
                (!value.is_empty()).then(|| (label.clone(), value.to_owned()))
            })
            .collect();
        Some(Renamed { name, labels })
    }
}

/// Compiles a name template: literal text with `$name`, `${name}` or `$1` references to the
/// capture groups of `matcher` (a reference name is the longest run of `[a-zA-Z0-9_]`, as in
/// the `regex` crate).
fn parse_template(template: &str, matcher: &Regex) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        literal.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let (reference, after) = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| "unclosed ${".to_owned())?;
            (&braced[..end], &braced[end + 1..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let index = group_index(matcher, reference)?;
        if !literal.is_empty() {
            segments.push(Segment::Literal(std::mem::take(&mut literal)));
        }
        segments.push(Segment::Group(index));
        rest = after;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    check_literals(&segments)?;
    Ok(segments)
}

/// The index of the capture group a template reference names.
fn group_index(matcher: &Regex, reference: &str) -> Result<usize, String> {
    if reference.is_empty() {
        return Err("a $ must be followed by a capture group name or number".to_owned());
    }
    let index = match reference.parse::<usize>() {
        Ok(n) => (n < matcher.captures_len()).then_some(n),
        Err(_) => matcher
            .capture_names()
            .position(|name| name == Some(reference)),
    };
    index.ok_or_else(|| format!("the match regex has no capture group {reference:?}"))
}

/// Checks that a template's literal text is valid in a metric name (so the output, whose
/// substituted parts are sanitized, always is).
fn check_literals(segments: &[Segment]) -> Result<(), String> {
    if segments.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if let Some(Segment::Literal(first)) = segments.first() {
        if first.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("a metric name cannot start with a digit".to_owned());
        }
    }
    for segment in segments {
        if let Segment::Literal(text) = segment {
            if let Some(c) = text
                .chars()
                .find(|&c| !u8::try_from(c).is_ok_and(is_metric_name_continue))
            {
                return Err(format!("{c:?} is not valid in a metric name"));
            }
        }
    }
    Ok(())
}
