//! The text exposition format (version 0.0.4): a push body in, borrowed [`Family`] values out.
//!
//! Owns: the text syntax exactly as the Go Pushgateway 1.5.1 accepts it (its parser is
//! prometheus/common `expfmt/text_parse.go`), and [`TextError`], whose messages match Go's;
//! with [`Names::Utf8`] also the quoted names of the newer exposition format
//! (`{"a.b", "c.d"="v"} 1`, `# HELP "a.b" text`), kept raw.
//! Does not own: checks against stored metrics (`store::consistency`), grouping labels, or
//! Flink handling (`flink::rename` sanitizes quoted names); those run later, on this module's
//! output.
//!
//! Data enters as the whole request body (`&[u8]`) and leaves as `Vec<Family<'body>>`: one
//! family per distinct name, in order of first appearance, meeting the invariants listed in
//! [`crate::model`]. Metric names, label names and label values borrow from the body; only a
//! label value or HELP text holding an escape sequence is copied.
//!
//! The parser is a line-by-line state machine that mirrors Go's, including its error positions
//! (the line being parsed; for an early end of input, the last line started). Two things are
//! done with slices rather than Go's byte-at-a-time reads: `memchr` finds the end of label
//! values, HELP text and comments, and the body is UTF-8-checked once up front so that names and
//! values become `&str` by slicing (a body with invalid UTF-8 falls back to checking each slice).
//!
//! Flink repeats each task's label block byte for byte in dozens of families, and writes a
//! summary's quantile lines with the same block plus a trailing `quantile` label. So a label
//! block already parsed in this body is not parsed again: a counter, gauge or untyped sample
//! whose block (`{...}`) matches an earlier one byte for byte, or a summary or histogram sample
//! whose block minus its trailing bound label does, shares that block's labels (one `Arc`) and
//! its [`Metric::label_block`] id, which later stages use to do per-block work once. Only exact
//! bytes of a block that parsed cleanly are reused, so errors and their lines are unchanged.
//!
//! Deliberate differences from Go:
//! - a label name starting with `__` is rejected here (Go rejects it later, without a line);
//! - a summary sample without `quantile` (or a histogram sample without `le`, other than
//!   `_count` and `_sum`) is rejected; Go drops it silently;
//! - `# TYPE x gauge_histogram` is rejected; Go 1.5.1 accepts it and then fails every scrape;
//! - HELP text must be valid UTF-8; Go stores and renders the raw bytes;
//! - `_count` and `_sum` values are kept as floats; Go truncates counts to integers.
//!
//! Quoted names ([`Names::Utf8`] only) follow the Prometheus text format's UTF-8 extension: a
//! quoted metric name is the first item inside the braces (a bare name before the braces
//! stays classic), a label name may be quoted, and so may the name of a `# HELP` or `# TYPE`
//! line. A quoted name is read like a label value (escapes `\\`, `\"` and `\n`) and must not be
//! empty; `_count`, `_sum` and `_bucket` suffixes work on it as on classic names.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use memchr::{memchr, memchr2, memchr3, memrchr};

use crate::hash::{fast_str_map, FastStrMap};
use crate::model::{Family, Label, Labels, Metric, MetricType, Value};
use crate::parse::Names;

/// Longest input snippet, in bytes, that an error message quotes.
const MAX_SNIPPET: usize = 100;

/// A syntax error and the line it occurred in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text format parsing error in line {line}: {kind}")]
pub struct TextError {
    /// The 1-based line being parsed; for an early end of input, the last line started.
    pub line: usize,
    /// What was wrong.
    pub kind: TextErrorKind,
}

/// What was wrong with a body. Messages are Go's; quoted input is cut to about 100 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextErrorKind {
    /// Occurs when the input ends anywhere but at the start of a line (a missing final newline).
    #[error("unexpected end of input stream")]
    UnexpectedEof,
    /// Occurs when a sample line does not start with a metric name.
    #[error("invalid metric name")]
    InvalidMetricName,
    /// Occurs when the name after `# HELP` or `# TYPE` is followed by neither a blank nor a newline.
    #[error("invalid metric name in comment")]
    InvalidMetricNameInComment,
    /// Occurs when a family gets a second `# HELP` line.
    #[error("second HELP line for metric name {0:?}")]
    SecondHelp(String),
    /// Occurs when a family gets a second `# TYPE` line, or one after its first sample.
    #[error("second TYPE line for metric name {0:?}, or TYPE reported after samples")]
    SecondType(String),
    /// Occurs when a `# TYPE` line names no known type (blanks after the type count).
    #[error("unknown metric type {0:?}")]
    UnknownType(String),
    /// Occurs when HELP text or a label value has a backslash not followed by an allowed
    /// character (`\\` and `n`, plus `"` in label values).
    #[error("invalid escape sequence '\\{0}'")]
    InvalidEscape(char),
    /// Occurs when HELP text is not valid UTF-8.
    #[error("invalid HELP text {0:?}")]
    InvalidHelp(String),
    /// Occurs when a label set has something other than a label name where one is due.
    #[error("invalid label name for metric {0:?}")]
    InvalidLabelName(String),
    /// Occurs when a label name starts with `__` (these are reserved for internal use).
    #[error("label name {0:?} is reserved")]
    ReservedLabelName(String),
    /// Occurs when a label name is not followed by `=`.
    #[error("expected '=' after label name, found {0:?}")]
    ExpectedEquals(char),
    /// Occurs when one sample has two labels of the same name.
    #[error("duplicate label names for metric {0:?}")]
    DuplicateLabelName(String),
    /// Occurs when a label value does not start with `"`.
    #[error("expected '\"' at start of label value, found {0:?}")]
    ExpectedQuote(char),
    /// Occurs when a label value holds a raw newline.
    #[error("label value {0:?} contains unescaped new-line")]
    UnescapedNewline(String),
    /// Occurs when a label value is not valid UTF-8 (shown with replacement characters).
    #[error("invalid label value {0:?}")]
    InvalidLabelValue(String),
    /// Occurs when a label value is followed by something other than `,` or `}`.
    #[error("unexpected end of label value {0:?}")]
    UnexpectedEndOfLabelValue(String),
    /// Occurs when a summary's `quantile` label is not a float.
    #[error("expected float as value for 'quantile' label, got {0:?}")]
    InvalidQuantile(String),
    /// Occurs when a histogram's `le` label is not a float.
    #[error("expected float as value for 'le' label, got {0:?}")]
    InvalidBucket(String),
    /// Occurs when a sample value is not a float as Go parses them (a `\r` from CRLF line ends
    /// is part of the value).
    #[error("expected float as value, got {0:?}")]
    InvalidValue(String),
    /// Occurs when what follows a sample value is not a 64-bit integer (blanks after a value
    /// count as an empty timestamp).
    #[error("expected integer as timestamp, got {0:?}")]
    InvalidTimestamp(String),
    /// Occurs when anything, blanks included, follows a timestamp.
    #[error("spurious string after timestamp: {0:?}")]
    SpuriousAfterTimestamp(String),
    /// Occurs when a quoted name ([`Names::Utf8`]) holds a raw newline or is not valid UTF-8.
    #[error("invalid quoted name {0:?}")]
    InvalidQuotedName(String),
    /// Occurs when a quoted metric name inside braces is followed by neither `,` nor `}`.
    #[error("expected ',' or '}}' after quoted metric name, found {0:?}")]
    ExpectedCommaOrBrace(char),
    /// Occurs when a summary sample other than `_count` or `_sum` has no `quantile` label.
    #[error("summary sample {0:?} has no quantile label")]
    MissingQuantile(String),
    /// Occurs when a histogram sample other than `_count` or `_sum` has no `le` label.
    #[error("histogram sample {0:?} has no le label")]
    MissingBucket(String),
}

/// Parses a text-format body into metric families, accepting classic names only (as the Go
/// Pushgateway 1.5.1 does).
///
/// Families come one per distinct name, in order of first appearance; samples of one name
/// scattered over the body end up in one family, and summary or histogram samples sharing a
/// label set (ignoring `quantile` or `le` and label order) end up in one metric. Families with
/// only `# HELP` or `# TYPE` lines are left out, so an empty body gives no families.
///
/// # Errors
///
/// Returns the first syntax error, with the line it was found in; see [`TextErrorKind`].
pub fn parse(body: &[u8]) -> Result<Vec<Family<'_>>, TextError> {
    parse_with(body, Names::Classic)
}

/// Like [`parse`], and with [`Names::Utf8`] also accepts quoted names (see the module doc).
///
/// # Errors
///
/// Returns the first syntax error, with the line it was found in; see [`TextErrorKind`].
pub fn parse_with(body: &[u8], names: Names) -> Result<Vec<Family<'_>>, TextError> {
    let mut parser = Parser::new(body, names == Names::Utf8);
    match parser.run() {
        Ok(()) => Ok(parser.finish()),
        Err(kind) => Err(TextError {
            line: parser.line,
            kind,
        }),
    }
}

/// The result of one parsing step.
type Step<T> = Result<T, TextErrorKind>;

/// Byte classes for name scanning, one bit each (a table lookup beats four comparisons).
const METRIC_START: u8 = 1;
/// See [`METRIC_START`].
const METRIC_CONTINUE: u8 = 2;
/// See [`METRIC_START`].
const LABEL_START: u8 = 4;
/// See [`METRIC_START`].
const LABEL_CONTINUE: u8 = 8;

/// The class bits of every byte; `tests::byte_classes_match_model` pins them to `crate::model`.
static CLASSES: [u8; 256] = byte_classes();

const fn byte_classes() -> [u8; 256] {
    /// `class` if `member`, else nothing.
    const fn bit(member: bool, class: u8) -> u8 {
        if member {
            class
        } else {
            0
        }
    }
    let mut table = [0; 256];
    let mut i = 0;
    while i < table.len() {
        #[allow(clippy::cast_possible_truncation, reason = "`i` is below 256")]
        let b = i as u8;
        let letter = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let colon = b == b':';
        table[i] = bit(letter || colon, METRIC_START)
            | bit(letter || digit || colon, METRIC_CONTINUE)
            | bit(letter, LABEL_START)
            | bit(letter || digit, LABEL_CONTINUE);
        i += 1;
    }
    table
}

/// What a sample line contributes to its family, decided by its name's suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A sample of the family's own name.
    Plain,
    /// `_count` of a summary or histogram.
    Count,
    /// `_sum` of a summary or histogram.
    Sum,
    /// `_bucket` of a histogram.
    Bucket,
}

/// Splits a `_count`, `_sum` or `_bucket` suffix off a name, keeping a non-empty stem as Go does.
fn split_suffix(name: &str) -> Option<(&str, Role)> {
    [
        ("_count", Role::Count),
        ("_sum", Role::Sum),
        ("_bucket", Role::Bucket),
    ]
    .into_iter()
    .find_map(|(suffix, role)| {
        let stem = name.strip_suffix(suffix)?;
        (!stem.is_empty()).then_some((stem, role))
    })
}

/// Which escaped string is being read: they end differently and allow different escapes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    /// HELP text: runs to the end of the line; escapes `\\` and `\n`.
    Help,
    /// A label value: runs to the closing quote; escapes `\\`, `\n` and `\"`.
    LabelValue,
    /// A quoted metric or label name ([`Names::Utf8`]): read like a label value.
    Name,
}

impl Field {
    /// The offset of the first byte in `rest` that ends the plain run: an end or a backslash.
    #[inline]
    fn find_stop(self, rest: &[u8]) -> Option<usize> {
        match self {
            Field::Help => memchr2(b'\\', b'\n', rest),
            Field::LabelValue | Field::Name => memchr3(b'"', b'\\', b'\n', rest),
        }
    }

    /// The error for a value that is not valid UTF-8.
    #[cold]
    fn invalid(self, bytes: &[u8]) -> TextErrorKind {
        match self {
            Field::Help => TextErrorKind::InvalidHelp(snippet(bytes)),
            Field::LabelValue => TextErrorKind::InvalidLabelValue(snippet(bytes)),
            Field::Name => TextErrorKind::InvalidQuotedName(snippet(bytes)),
        }
    }

    /// The error for a raw newline inside a quoted string.
    #[cold]
    fn unescaped_newline(self, bytes: &[u8]) -> TextErrorKind {
        match self {
            Field::Name => TextErrorKind::InvalidQuotedName(snippet(bytes)),
            Field::Help | Field::LabelValue => TextErrorKind::UnescapedNewline(snippet(bytes)),
        }
    }
}

/// A family being built.
struct Slot<'a> {
    /// The family name, as first seen (owned only for a quoted name with escapes).
    name: Cow<'a, str>,
    /// The unescaped HELP text.
    help: Option<Cow<'a, str>>,
    /// Unset until a TYPE line or the first sample.
    kind: Option<MetricType>,
    /// The metrics so far.
    metrics: Vec<Metric<'a>>,
    /// Summaries and histograms only: label-set hash to indexes into `metrics`.
    groups: HashMap<u64, Vec<usize>>,
}

impl<'a> Slot<'a> {
    fn new(name: Cow<'a, str>) -> Self {
        Slot {
            name,
            help: None,
            kind: None,
            metrics: Vec::new(),
            groups: HashMap::new(),
        }
    }

    fn into_family(self) -> Family<'a> {
        Family {
            name: self.name,
            help: self.help,
            kind: self.kind.unwrap_or(MetricType::Untyped),
            metrics: self.metrics,
        }
    }

    /// The metric of a summary or histogram with these labels (in any order), created if new.
    fn group_metric(
        &mut self,
        signer: &RandomState,
        labels: Labels<'a>,
        block: Option<u32>,
    ) -> &mut Metric<'a> {
        // Fast path: Flink writes a metric's `_count` and quantiles on consecutive lines.
        let last = self.metrics.len().wrapping_sub(1);
        if self
            .metrics
            .last()
            .is_some_and(|m| Arc::ptr_eq(&m.labels, &labels) || *m.labels == *labels)
        {
            return &mut self.metrics[last];
        }
        let signature = labels
            .iter()
            .map(|l| signer.hash_one((&*l.name, &*l.value)))
            .fold(0, u64::wrapping_add);
        let candidates = self.groups.entry(signature).or_default();
        let found = candidates
            .iter()
            .copied()
            .find(|&i| same_labels(&self.metrics[i].labels, &labels));
        let index = if let Some(index) = found {
            index
        } else {
            let value = if self.kind == Some(MetricType::Histogram) {
                Value::Histogram(Box::default())
            } else {
                Value::Summary(Box::default())
            };
            candidates.push(self.metrics.len());
            self.metrics.push(Metric {
                labels,
                value,
                timestamp_ms: None,
                label_block: block,
            });
            self.metrics.len() - 1
        };
        &mut self.metrics[index]
    }
}

/// Whether two duplicate-free label lists hold the same pairs, in any order.
fn same_labels(a: &[Label<'_>], b: &[Label<'_>]) -> bool {
    a.len() == b.len() && (a == b || a.iter().all(|l| b.contains(l)))
}

/// One sample line being read.
struct Sample<'a> {
    /// The name as written (`foo_count` for a summary `foo`'s count).
    name: Cow<'a, str>,
    /// Index of its family in `Parser::slots`.
    slot: usize,
    /// The family's type.
    kind: MetricType,
    /// What the sample sets in a summary or histogram.
    role: Role,
    /// The labels, without a summary's `quantile` or a histogram's `le`.
    labels: Vec<Label<'a>>,
    /// The `quantile` or `le` label, parsed.
    bound: Option<f64>,
    /// A 128-bit filter of the label names seen, so most lines skip the duplicate scan.
    seen: u128,
    /// The label block id (see [`Metric::label_block`]), for counters, gauges and untyped.
    block: Option<u32>,
    /// The block's shared labels when `block` is set (`labels` is then empty).
    shared: Option<Labels<'a>>,
}

/// The parser state: a cursor into the body and the families so far.
struct Parser<'a> {
    /// The whole push.
    body: &'a [u8],
    /// The whole body when it is valid UTF-8 (the usual case): names and values are sliced
    /// from it instead of being checked one by one.
    text: Option<&'a str>,
    /// The cursor: the next byte to look at (Go's `currentByte`).
    pos: usize,
    /// The line being parsed, from 1.
    line: usize,
    /// The families, in order of first appearance (families without metrics included).
    slots: Vec<Slot<'a>>,
    /// Family name to index into `slots`.
    by_name: HashMap<Cow<'a, str>, usize>,
    /// The family of the last line; checked before `by_name` as families are mostly contiguous.
    current: Option<usize>,
    /// The label count of the last sample, to size the next one's label vector.
    label_hint: usize,
    /// Hashes summary and histogram label sets.
    signer: RandomState,
    /// Whether quoted names are accepted ([`Names::Utf8`]).
    utf8: bool,
    /// The label blocks (`{...}`, braces included) of counter, gauge and untyped samples
    /// parsed so far: their id and labels. A sample whose block is byte for byte one of these
    /// takes a copy of its labels instead of parsing them again.
    blocks: FastStrMap<&'a [u8], (u32, Labels<'a>)>,
    /// The same for summary (`[0]`) and histogram (`[1]`) samples, keyed by the block
    /// without its trailing `quantile`/`le` label (see [`split_bound`]): the lines of one
    /// summary differ only there. Per kind, as a prefix is only remembered when it holds no
    /// label named like that kind's bound.
    grouped_blocks: [FastStrMap<&'a [u8], (u32, Labels<'a>)>; 2],
    /// The next label block id.
    next_block: u32,
}

impl<'a> Parser<'a> {
    fn new(body: &'a [u8], utf8: bool) -> Self {
        Parser {
            body,
            text: std::str::from_utf8(body).ok(),
            pos: 0,
            line: 0,
            slots: Vec::new(),
            by_name: HashMap::new(),
            current: None,
            label_hint: 0,
            signer: RandomState::new(),
            utf8,
            blocks: fast_str_map(0),
            grouped_blocks: [fast_str_map(0), fast_str_map(0)],
            next_block: 0,
        }
    }

    /// Parses every line; each step consumes its line's newline.
    fn run(&mut self) -> Step<()> {
        loop {
            self.line += 1;
            self.skip_blanks();
            match self.body.get(self.pos) {
                None => return Ok(()),
                Some(b'\n') => self.pos += 1,
                Some(b'#') => self.comment()?,
                Some(_) => self.sample()?,
            }
        }
    }

    /// The families that got at least one metric.
    fn finish(self) -> Vec<Family<'a>> {
        self.slots
            .into_iter()
            .filter(|slot| !slot.metrics.is_empty())
            .map(Slot::into_family)
            .collect()
    }

    // ---- cursor primitives ----

    /// The byte at the cursor; input may end only at the start of a line.
    #[inline]
    fn byte(&self) -> Step<u8> {
        self.body
            .get(self.pos)
            .copied()
            .ok_or(TextErrorKind::UnexpectedEof)
    }

    #[inline]
    fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t') = self.body.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Skips blanks and returns the byte after them.
    #[inline]
    fn next_nonblank(&mut self) -> Step<u8> {
        self.skip_blanks();
        self.byte()
    }

    /// Consumes a newline at the cursor, if there is one.
    fn eat_newline(&mut self) -> bool {
        let at_newline = self.body.get(self.pos) == Some(&b'\n');
        self.pos += usize::from(at_newline);
        at_newline
    }

    /// `body[start..end]` as text, or `None` when it is not valid UTF-8.
    #[inline]
    fn str_at(&self, start: usize, end: usize) -> Option<&'a str> {
        match self.text {
            Some(text) => text.get(start..end),
            None => std::str::from_utf8(&self.body[start..end]).ok(),
        }
    }

    /// Reads a name whose first byte has class `start` and later bytes class `rest`; empty if
    /// the cursor is not on a name.
    fn name(&mut self, start: u8, rest: u8) -> &'a str {
        let begin = self.pos;
        let class = |b: Option<&u8>| b.map_or(0, |&b| CLASSES[usize::from(b)]);
        if class(self.body.get(begin)) & start != 0 {
            self.pos += 1;
            while class(self.body.get(self.pos)) & rest != 0 {
                self.pos += 1;
            }
        }
        self.str_at(begin, self.pos).expect("names are ASCII")
    }

    /// Moves the cursor to the next blank, tab or newline (the end of a token).
    fn skip_token(&mut self) -> Step<()> {
        let rest = &self.body[self.pos..];
        let len = rest
            .iter()
            .position(|&b| matches!(b, b' ' | b'\t' | b'\n'))
            .ok_or(TextErrorKind::UnexpectedEof)?;
        self.pos += len;
        Ok(())
    }

    /// The rest of the line, without its newline, which is consumed.
    fn rest_of_line(&mut self) -> Step<&'a [u8]> {
        let body = self.body;
        let rest = &body[self.pos..];
        let len = memchr(b'\n', rest).ok_or(TextErrorKind::UnexpectedEof)?;
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    /// Reads HELP text (to the end of the line) or a label value (the cursor just past its
    /// opening quote, to the closing one), consuming the end. Borrows if nothing is escaped.
    fn escaped(&mut self, field: Field) -> Step<Cow<'a, str>> {
        let body = self.body;
        let start = self.pos;
        let end = start
            + field
                .find_stop(&body[start..])
                .ok_or(TextErrorKind::UnexpectedEof)?;
        match body[end] {
            b'\\' => self.unescape(field, start),
            b'\n' if field != Field::Help => Err(field.unescaped_newline(&body[start..end])),
            _ => {
                self.pos = end + 1;
                let text = self
                    .str_at(start, end)
                    .ok_or_else(|| field.invalid(&body[start..end]))?;
                Ok(Cow::Borrowed(text))
            }
        }
    }

    /// The slow path of [`Parser::escaped`]: copies from `start`, resolving escapes.
    #[cold]
    fn unescape(&mut self, field: Field, start: usize) -> Step<Cow<'a, str>> {
        let body = self.body;
        let mut out = Vec::with_capacity(64);
        let mut i = start;
        let end = loop {
            let stop = i + field
                .find_stop(&body[i..])
                .ok_or(TextErrorKind::UnexpectedEof)?;
            out.extend_from_slice(&body[i..stop]);
            match body[stop] {
                b'\\' => {
                    let escape = *body.get(stop + 1).ok_or(TextErrorKind::UnexpectedEof)?;
                    out.push(match escape {
                        b'\\' => b'\\',
                        b'n' => b'\n',
                        b'"' if field != Field::Help => b'"',
                        _ => return Err(TextErrorKind::InvalidEscape(char::from(escape))),
                    });
                    i = stop + 2;
                }
                b'\n' if field != Field::Help => return Err(field.unescaped_newline(&out)),
                _ => break stop,
            }
        };
        self.pos = end + 1;
        String::from_utf8(out)
            .map(Cow::Owned)
            .map_err(|e| field.invalid(e.as_bytes()))
    }

    // ---- families ----

    /// The family a name belongs to, created if new (Go's `setOrCreateCurrentMF`).
    fn family_for(&mut self, name: Cow<'a, str>) -> (usize, Role) {
        if let Some(current) = self.current {
            if self.slots[current].name == name {
                return (current, Role::Plain);
            }
        }
        let found = self.lookup(name);
        self.current = Some(found.0);
        found
    }

    /// The exact name's family; else the summary (`_count`, `_sum`) or histogram (`_count`,
    /// `_sum`, `_bucket`) the name is a part of; else a new family.
    fn lookup(&mut self, name: Cow<'a, str>) -> (usize, Role) {
        if let Some(&index) = self.by_name.get(&*name) {
            return (index, Role::Plain);
        }
        if let Some((stem, role)) = split_suffix(&name) {
            if let Some(&index) = self.by_name.get(stem) {
                match (self.slots[index].kind, role) {
                    (Some(MetricType::Summary), Role::Count | Role::Sum)
                    | (Some(MetricType::Histogram), _) => return (index, role),
                    _ => {}
                }
            }
        }
        let index = self.slots.len();
        self.slots.push(Slot::new(name.clone()));
        self.by_name.insert(name, index);
        (index, Role::Plain)
    }

    // ---- comment lines ----

    /// A line starting with `#`: HELP, TYPE, or a comment to skip.
    fn comment(&mut self) -> Step<()> {
        self.pos += 1;
        if self.next_nonblank()? == b'\n' {
            self.pos += 1;
            return Ok(());
        }
        let keyword_start = self.pos;
        self.skip_token()?;
        if self.eat_newline() {
            return Ok(());
        }
        let is_help = match &self.body[keyword_start..self.pos] {
            b"HELP" => true,
            b"TYPE" => false,
            _ => return self.rest_of_line().map(drop),
        };
        self.skip_blanks();
        let name = self.comment_name()?;
        if self.eat_newline() {
            return Ok(());
        }
        if !matches!(self.byte()?, b' ' | b'\t') {
            return Err(TextErrorKind::InvalidMetricNameInComment);
        }
        let (slot, _) = self.family_for(name);
        if self.next_nonblank()? == b'\n' {
            self.pos += 1;
            return Ok(());
        }
        if is_help {
            self.help(slot)
        } else {
            self.type_hint(slot)
        }
    }

    /// The metric name of a HELP or TYPE line; quoted only with [`Names::Utf8`]. Empty if
    /// the cursor is not on a name.
    fn comment_name(&mut self) -> Step<Cow<'a, str>> {
        if !(self.utf8 && self.body.get(self.pos) == Some(&b'"')) {
            return Ok(Cow::Borrowed(self.name(METRIC_START, METRIC_CONTINUE)));
        }
        self.pos += 1;
        let name = self.escaped(Field::Name)?;
        if name.is_empty() {
            return Err(TextErrorKind::InvalidMetricNameInComment);
        }
        Ok(name)
    }

    /// The rest of a HELP line.
    fn help(&mut self, slot: usize) -> Step<()> {
        if self.slots[slot].help.is_some() {
            return Err(TextErrorKind::SecondHelp(self.slots[slot].name.to_string()));
        }
        let help = self.escaped(Field::Help)?;
        self.slots[slot].help = Some(help);
        Ok(())
    }

    /// The rest of a TYPE line.
    fn type_hint(&mut self, slot: usize) -> Step<()> {
        if self.slots[slot].kind.is_some() {
            return Err(TextErrorKind::SecondType(self.slots[slot].name.to_string()));
        }
        let word = without_backslashes(self.rest_of_line()?);
        let kind = std::str::from_utf8(&word)
            .ok()
            .and_then(MetricType::from_keyword);
        self.slots[slot].kind =
            Some(kind.ok_or_else(|| TextErrorKind::UnknownType(snippet(&word)))?);
        Ok(())
    }

    // ---- sample lines ----

    /// A sample line: name, optional labels, value, optional timestamp.
    fn sample(&mut self) -> Step<()> {
        let bare = self.name(METRIC_START, METRIC_CONTINUE);
        let quoted = bare.is_empty();
        let name = if quoted {
            self.quoted_metric_name()?
        } else {
            Cow::Borrowed(bare)
        };
        self.byte()?; // input cannot end right after the name
        let (slot, role) = self.family_for(name.clone());
        let kind = *self.slots[slot].kind.get_or_insert(MetricType::Untyped);
        let mut sample = Sample {
            name,
            slot,
            kind,
            role,
            labels: Vec::new(),
            bound: None,
            seen: 0,
            block: None,
            shared: None,
        };
        if quoted {
            sample.labels.reserve(self.label_hint);
            self.after_quoted_name(&mut sample)?;
        } else {
            self.skip_blanks();
            if self.body.get(self.pos) == Some(&b'{') {
                if matches!(kind, MetricType::Summary | MetricType::Histogram) {
                    self.grouped_labels(&mut sample)?;
                } else {
                    self.scalar_labels(&mut sample)?;
                }
            }
        }
        self.label_hint = sample
            .shared
            .as_ref()
            .map_or(sample.labels.len(), |l| l.len());
        let value = self.value()?;
        let timestamp = self.timestamp()?;
        self.add(sample, value, timestamp)
    }

    /// `{"name"`, a quoted metric name as the first item inside braces ([`Names::Utf8`] only);
    /// leaves the cursor after the closing quote.
    fn quoted_metric_name(&mut self) -> Step<Cow<'a, str>> {
        if !(self.utf8 && self.body.get(self.pos) == Some(&b'{')) {
            return Err(TextErrorKind::InvalidMetricName);
        }
        self.pos += 1;
        if self.next_nonblank()? != b'"' {
            return Err(TextErrorKind::InvalidMetricName);
        }
        self.pos += 1;
        let name = self.escaped(Field::Name)?;
        if name.is_empty() {
            return Err(TextErrorKind::InvalidMetricName);
        }
        Ok(name)
    }

    /// What follows a quoted metric name inside braces: `}`, or `,` and the labels; leaves the
    /// cursor on the value.
    fn after_quoted_name(&mut self, sample: &mut Sample<'a>) -> Step<()> {
        match self.next_nonblank()? {
            // `labels` steps over the `,` as it would over a `{`.
            b',' => self.labels(sample).map(|_| ()),
            b'}' => {
                self.pos += 1;
                self.skip_blanks();
                Ok(())
            }
            other => Err(TextErrorKind::ExpectedCommaOrBrace(char::from(other))),
        }
    }

    /// A label set, the cursor on its `{`; leaves the cursor on the value. Returns the
    /// position of the closing `}`.
    fn labels(&mut self, sample: &mut Sample<'a>) -> Step<usize> {
        self.pos += 1;
        while self.next_nonblank()? != b'}' && !self.label(sample)? {}
        let close = self.pos;
        self.pos += 1;
        self.skip_blanks();
        Ok(close)
    }

    /// The label set of a counter, gauge or untyped sample, the cursor on its `{`: an earlier
    /// block's (shared) labels when this block is byte for byte the same, else parsed (and
    /// remembered). Leaves the cursor on the value.
    ///
    /// Whatever `block_end` finds, a copy is only ever taken of a block that parsed
    /// successfully to exactly the same bytes: in a scalar family the result of parsing a
    /// block depends on its bytes alone (and on `utf8`, fixed per parse).
    fn scalar_labels(&mut self, sample: &mut Sample<'a>) -> Step<()> {
        let open = self.pos;
        if let Some(close) = block_end(self.body, open) {
            if let Some(known) = self.blocks.get(&self.body[open..=close]).cloned() {
                self.reuse_block(sample, known, close);
                return Ok(());
            }
        }
        sample.labels.reserve(self.label_hint);
        let close = self.labels(sample)?;
        if let Some(block) = self.share_parsed(sample) {
            self.blocks.insert(&self.body[open..=close], block);
        }
        Ok(())
    }

    /// The label set and bound of a summary or histogram sample, the cursor on its `{`: when
    /// the block minus its trailing bound label ([`split_bound`]) is byte for byte one seen
    /// before, that block's (shared) labels and the bound read from the suffix; else parsed
    /// (and remembered). Leaves the cursor on the value.
    ///
    /// A prefix is remembered only when it holds no label named like the bound (`quantile`,
    /// `le`) anywhere, so its parse yields labels and no bound, whatever suffix follows: it
    /// ends with `{` or `,` outside any string, as in the block it was taken from.
    fn grouped_labels(&mut self, sample: &mut Sample<'a>) -> Step<()> {
        let open = self.pos;
        let (bound_name, map): (&[u8], usize) = if sample.kind == MetricType::Histogram {
            (b"le", 1)
        } else {
            (b"quantile", 0)
        };
        if let Some(close) = block_end(self.body, open) {
            let (prefix, value) = split_bound(&self.body[open..=close], bound_name);
            let bound = match value {
                None => Some(None),
                Some(v) => std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| parse_bound(sample.kind, v).ok())
                    .map(Some),
            };
            // An unreadable bound falls through to the parser, for its error.
            let known = self.grouped_blocks[map].get(prefix).cloned();
            if let (Some(bound), Some(known)) = (bound, known) {
                sample.bound = bound;
                self.reuse_block(sample, known, close);
                return Ok(());
            }
        }
        sample.labels.reserve(self.label_hint);
        let close = self.labels(sample)?;
        let (prefix, _) = split_bound(&self.body[open..=close], bound_name);
        if memchr::memmem::find(prefix, bound_name).is_none() {
            if let Some(block) = self.share_parsed(sample) {
                self.grouped_blocks[map].insert(prefix, block);
            }
        }
        Ok(())
    }

    /// Gives `sample` a remembered block's id and labels, and moves past the block (which
    /// closes at `close`) to the value.
    fn reuse_block(
        &mut self,
        sample: &mut Sample<'a>,
        (id, labels): (u32, Labels<'a>),
        close: usize,
    ) {
        sample.shared = Some(labels);
        sample.block = Some(id);
        self.pos = close + 1;
        self.skip_blanks();
    }

    /// Turns the labels just parsed into `sample` into a shared block with a fresh id, and
    /// returns it for remembering; `None` (labels left as they are) once ids ran out.
    fn share_parsed(&mut self, sample: &mut Sample<'a>) -> Option<(u32, Labels<'a>)> {
        let id = self.next_block;
        self.next_block = id.checked_add(1)?;
        let labels: Labels<'a> = std::mem::take(&mut sample.labels).into();
        sample.shared = Some(labels.clone());
        sample.block = Some(id);
        Some((id, labels))
    }

    /// One `name="value"` and the `,` after it; returns whether a `}` follows instead.
    fn label(&mut self, sample: &mut Sample<'a>) -> Step<bool> {
        let (name, is_bound) = self.label_name(sample)?;
        self.pos += 1;
        let found = self.next_nonblank()?;
        if found != b'"' {
            return Err(TextErrorKind::ExpectedQuote(char::from(found)));
        }
        self.pos += 1;
        let value = self.escaped(Field::LabelValue)?;
        let bound = if is_bound {
            Some(parse_bound(sample.kind, &value)?)
        } else {
            None
        };
        let done = match self.next_nonblank()? {
            b',' => {
                self.pos += 1;
                false
            }
            b'}' => true,
            _ => {
                let value = snippet(value.as_bytes());
                return Err(TextErrorKind::UnexpectedEndOfLabelValue(value));
            }
        };
        match bound {
            Some(_) => sample.bound = bound,
            None => sample.labels.push(Label { name, value }),
        }
        Ok(done)
    }

    /// A label name and the `=` after it (the cursor stays on the `=`), checked in Go's order;
    /// also whether it is the family's `quantile` or `le` label. The name may be quoted with
    /// [`Names::Utf8`].
    fn label_name(&mut self, sample: &mut Sample<'a>) -> Step<(Cow<'a, str>, bool)> {
        let name = if self.utf8 && self.body.get(self.pos) == Some(&b'"') {
            self.pos += 1;
            self.escaped(Field::Name)?
        } else {
            Cow::Borrowed(self.name(LABEL_START, LABEL_CONTINUE))
        };
        if name.is_empty() {
            return Err(TextErrorKind::InvalidLabelName(
                self.slots[sample.slot].name.to_string(),
            ));
        }
        if name.starts_with("__") {
            return Err(TextErrorKind::ReservedLabelName(name.into_owned()));
        }
        let found = self.next_nonblank()?;
        if found != b'=' {
            return Err(TextErrorKind::ExpectedEquals(char::from(found)));
        }
        let is_bound = matches!(
            (sample.kind, &*name),
            (MetricType::Summary, "quantile") | (MetricType::Histogram, "le")
        );
        if !is_bound && sample.is_duplicate(&name) {
            return Err(TextErrorKind::DuplicateLabelName(
                self.slots[sample.slot].name.to_string(),
            ));
        }
        Ok((name, is_bound))
    }

    /// The sample value; leaves the cursor on the blank or newline after it.
    fn value(&mut self) -> Step<f64> {
        let start = self.pos;
        self.skip_token()?;
        self.str_at(start, self.pos)
            .and_then(parse_float)
            .ok_or_else(|| TextErrorKind::InvalidValue(snippet(&self.body[start..self.pos])))
    }

    /// The optional timestamp after a value, and the end of the line.
    fn timestamp(&mut self) -> Step<Option<i64>> {
        if self.eat_newline() {
            return Ok(None);
        }
        self.skip_blanks();
        let start = self.pos;
        self.skip_token()?;
        let timestamp = self.str_at(start, self.pos).and_then(|s| s.parse().ok());
        let timestamp = timestamp
            .ok_or_else(|| TextErrorKind::InvalidTimestamp(snippet(&self.body[start..self.pos])))?;
        let rest = self.rest_of_line()?;
        if !rest.is_empty() {
            let rest = without_backslashes(rest);
            return Err(TextErrorKind::SpuriousAfterTimestamp(snippet(&rest)));
        }
        Ok(Some(timestamp))
    }

    /// Files a parsed sample under its family.
    fn add(&mut self, sample: Sample<'a>, value: f64, timestamp_ms: Option<i64>) -> Step<()> {
        if matches!(sample.kind, MetricType::Summary | MetricType::Histogram) {
            return self.add_to_group(sample, value, timestamp_ms);
        }
        self.slots[sample.slot].metrics.push(Metric {
            labels: sample.shared.unwrap_or_else(|| sample.labels.into()),
            value: Value::Scalar(value),
            timestamp_ms,
            label_block: sample.block,
        });
        Ok(())
    }

    /// Files a summary or histogram sample under the metric with its labels.
    fn add_to_group(
        &mut self,
        sample: Sample<'a>,
        value: f64,
        timestamp_ms: Option<i64>,
    ) -> Step<()> {
        let (role, bound) = (sample.role, sample.bound);
        if matches!(role, Role::Plain | Role::Bucket) && bound.is_none() {
            return Err(missing_bound(sample.kind, &sample.name));
        }
        let block = sample.block;
        let labels = sample.shared.unwrap_or_else(|| sample.labels.into());
        let metric = self.slots[sample.slot].group_metric(&self.signer, labels, block);
        if timestamp_ms.is_some() {
            metric.timestamp_ms = timestamp_ms;
        }
        let (count, sum, points) = match &mut metric.value {
            Value::Summary(s) => (&mut s.count, &mut s.sum, &mut s.quantiles),
            Value::Histogram(h) => (&mut h.count, &mut h.sum, &mut h.buckets),
            Value::Scalar(_) => return Ok(()), // `group_metric` makes no scalars
        };
        match role {
            Role::Count => *count = Some(value),
            Role::Sum => *sum = Some(value),
            // A NaN `quantile` or `le` is dropped, as Go does.
            Role::Plain | Role::Bucket => {
                points.extend(bound.filter(|b| !b.is_nan()).map(|b| (b, value)));
            }
        }
        Ok(())
    }
}

impl Sample<'_> {
    /// Whether `name` is already among the labels; records it in the filter.
    fn is_duplicate(&mut self, name: &str) -> bool {
        let bytes = name.as_bytes();
        let hash =
            usize::from(bytes[0]) * 31 + usize::from(bytes[bytes.len() - 1]) * 7 + bytes.len();
        let bit = 1u128 << (hash % 128);
        let maybe = self.seen & bit != 0;
        self.seen |= bit;
        maybe && self.labels.iter().any(|l| l.name == name)
    }
}

/// Where the label block opening at `open` (a `{`) ends if its line parses: the last `}` of
/// the line, since only a value and a timestamp may follow the block. `None` if the line has
/// no `}`. Only a lookup key: the parser decides what the block is.
fn block_end(body: &[u8], open: usize) -> Option<usize> {
    let rest = &body[open..];
    let line = memchr(b'\n', rest).map_or(rest, |nl| &rest[..nl]);
    memrchr(b'}', line).map(|close| open + close)
}

/// Splits a summary or histogram label block (`{...}`, braces included) into the part before
/// its bound label and that label's value, when the block ends with `<bound_name>="V"`, an
/// optional `,` and the `}`, the label following a `{` or `,` and `V` holding no backslash.
/// Otherwise the whole block without its `}`, and no value. Flink writes `quantile` last.
fn split_bound<'b>(block: &'b [u8], bound_name: &[u8]) -> (&'b [u8], Option<&'b [u8]>) {
    let body = &block[..block.len() - 1];
    let split = || {
        let inner = body.strip_suffix(b",").unwrap_or(body);
        let quoted = inner.strip_suffix(b"\"")?;
        let q = memrchr(b'"', quoted)?;
        let value = &quoted[q + 1..];
        let head = quoted[..q].strip_suffix(b"=")?.strip_suffix(bound_name)?;
        (matches!(head.last(), Some(b',' | b'{')) && memchr(b'\\', value).is_none())
            .then_some((head, Some(value)))
    };
    split().unwrap_or((body, None))
}

/// The rest of a TYPE line, or what follows a timestamp, as Go reads it: its
/// `readTokenUntilNewline(false)` drops every backslash, so `# TYPE x g\auge` is a gauge.
fn without_backslashes(bytes: &[u8]) -> Cow<'_, [u8]> {
    if memchr(b'\\', bytes).is_none() {
        return Cow::Borrowed(bytes);
    }
    Cow::Owned(bytes.iter().copied().filter(|&b| b != b'\\').collect())
}

/// Parses a float as Go's `strconv.ParseFloat` does for `expfmt`.
///
/// Rust's grammar already rejects what `expfmt` screens out (`p`/`P` of hex floats, `_` digit
/// separators) but accepts two things Go does not: a signed NaN (`-nan`) and a literal out of
/// range (`1e400` becomes infinity; Go returns a range error).
fn parse_float(token: &str) -> Option<f64> {
    let value: f64 = token.parse().ok()?;
    let unsigned = token.strip_prefix(['+', '-']);
    let go_rejects = if value.is_nan() {
        unsigned.is_some()
    } else {
        value.is_infinite() && !unsigned.unwrap_or(token).starts_with(['i', 'I'])
    };
    (!go_rejects).then_some(value)
}

/// Parses the `quantile` label of a summary or the `le` label of a histogram.
fn parse_bound(kind: MetricType, value: &str) -> Step<f64> {
    parse_float(value).ok_or_else(|| {
        let value = snippet(value.as_bytes());
        if kind == MetricType::Histogram {
            TextErrorKind::InvalidBucket(value)
        } else {
            TextErrorKind::InvalidQuantile(value)
        }
    })
}

#[cold]
fn missing_bound(kind: MetricType, name: &str) -> TextErrorKind {
    if kind == MetricType::Histogram {
        TextErrorKind::MissingBucket(name.to_owned())
    } else {
        TextErrorKind::MissingQuantile(name.to_owned())
    }
}

/// Input quoted in an error: lossy UTF-8, cut to about [`MAX_SNIPPET`] bytes.
#[cold]
fn snippet(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_SNIPPET {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    // Back up to the start of a UTF-8 character (at most 3 continuation bytes).
    let mut end = MAX_SNIPPET;
    while end > MAX_SNIPPET - 3 && bytes[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    format!("{}...", String::from_utf8_lossy(&bytes[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::is_metric_name_start;
    use crate::model::{is_label_name_continue, is_label_name_start, is_metric_name_continue};
    use crate::testing::{sample_count, sample_lines, FlinkLike};
    use std::fmt::Write as _;

    /// One line per family: `name kind [help="…"]:` then each metric as ` {labels}=value[@ts]`;
    /// families are joined by `; `.
    fn show(families: &[Family<'_>]) -> String {
        let mut out = Vec::new();
        for f in families {
            let mut s = format!("{} {}", f.name, f.kind);
            if let Some(help) = &f.help {
                write!(s, " help={help:?}").expect("write to string");
            }
            s.push(':');
            for m in &f.metrics {
                let labels: Vec<String> = m
                    .labels
                    .iter()
                    .map(|l| format!("{}={:?}", l.name, l.value))
                    .collect();
                write!(s, " {{{}}}={}", labels.join(","), show_value(&m.value)).expect("write");
                if let Some(ts) = m.timestamp_ms {
                    write!(s, "@{ts}").expect("write to string");
                }
            }
            out.push(s);
        }
        out.join("; ")
    }

    fn show_value(value: &Value) -> String {
        let opt = |v: Option<f64>| v.map_or("_".to_owned(), |v| v.to_string());
        let points = |p: &[(f64, f64)]| {
            p.iter().fold(String::new(), |mut out, (b, v)| {
                write!(out, " {b}:{v}").expect("write to string");
                out
            })
        };
        match value {
            Value::Scalar(v) => v.to_string(),
            Value::Summary(s) => format!(
                "S[c={} s={}{}]",
                opt(s.count),
                opt(s.sum),
                points(&s.quantiles)
            ),
            Value::Histogram(h) => format!(
                "H[c={} s={}{}]",
                opt(h.count),
                opt(h.sum),
                points(&h.buckets)
            ),
        }
    }

    #[track_caller]
    fn check(input: &str, want: &str) {
        match parse(input.as_bytes()) {
            Ok(families) => assert_eq!(show(&families), want, "input {input:?}"),
            Err(e) => panic!("input {input:?}: {e}"),
        }
    }

    /// `want` is `"{line}: {message}"`.
    #[track_caller]
    fn check_err(input: &[u8], want: &str) {
        match parse(input) {
            Ok(families) => panic!("input {input:?} parsed: {}", show(&families)),
            Err(e) => assert_eq!(format!("{}: {}", e.line, e.kind), want, "input {input:?}"),
        }
    }

    #[test]
    fn byte_classes_match_model() {
        for b in 0..=u8::MAX {
            let class = CLASSES[usize::from(b)];
            assert_eq!(class & METRIC_START != 0, is_metric_name_start(b), "{b}");
            assert_eq!(
                class & METRIC_CONTINUE != 0,
                is_metric_name_continue(b),
                "{b}"
            );
            assert_eq!(class & LABEL_START != 0, is_label_name_start(b), "{b}");
            assert_eq!(
                class & LABEL_CONTINUE != 0,
                is_label_name_continue(b),
                "{b}"
            );
        }
    }

    #[test]
    #[rustfmt::skip]
    fn empty_and_comment_only_bodies() {
        check("", "");
        check("\n\n", "");
        check(" \t\n  \n", "");
        check("# a comment\n", "");
        check("#\n", "");
        check("#  \t\n", "");
        check("# HELP\n", "");
        check("# HELP \n", "");
        check("# HELP foo\n", "");
        check("# HELP foo \n", "");
        check("# TYPE foo gauge\n# HELP foo bar\n", "");
        check("# HELPER foo bar\n", "");
        check("# help foo bar\n", "");
    }

    #[test]
    #[rustfmt::skip]
    fn plain_samples() {
        check("a 1\n", "a untyped: {}=1");
        check("a{} 1\n", "a untyped: {}=1");
        check("a {} 1\n", "a untyped: {}=1");
        check("a{b=\"c\"} 1\n", r#"a untyped: {b="c"}=1"#);
        check("a{b=\"c\"}1\n", r#"a untyped: {b="c"}=1"#);
        check("a{b=\"c\",} 1\n", r#"a untyped: {b="c"}=1"#);
        check("a { b = \"c\" , d=\"e\" , } 1\n", r#"a untyped: {b="c",d="e"}=1"#);
        check("\t a\t{\tb\t=\t\"c\"\t}\t1\t2\n", r#"a untyped: {b="c"}=1@2"#);
        check("a:b_c:d 1\n", "a:b_c:d untyped: {}=1");
        check("_a{_b1=\"\"} 1\n", r#"_a untyped: {_b1=""}=1"#);
        check("a 1 -5\n", "a untyped: {}=1@-5");
        check("a 1 +5\n", "a untyped: {}=1@5");
        check("a 1\n\nb 2\n", "a untyped: {}=1; b untyped: {}=2");
    }

    #[test]
    #[rustfmt::skip]
    fn float_values() {
        check("a 1.073741824E9\n", "a untyped: {}=1073741824");
        check("a -9.223372036854776E18\n", "a untyped: {}=-9223372036854776000");
        check("a 94.94999999999999\n", "a untyped: {}=94.94999999999999");
        check("a NaN\n", "a untyped: {}=NaN");
        check("a nan\n", "a untyped: {}=NaN");
        check("a +Inf\n", "a untyped: {}=inf");
        check("a -Inf\n", "a untyped: {}=-inf");
        check("a Infinity\n", "a untyped: {}=inf");
        check("a -infinity\n", "a untyped: {}=-inf");
        check("a 1e-5\n", "a untyped: {}=0.00001");
        check("a 1e-400\n", "a untyped: {}=0");
        check("a .5\n", "a untyped: {}=0.5");
        check("a 5.\n", "a untyped: {}=5");
        check("a +5\n", "a untyped: {}=5");
        check("a -0\n", "a untyped: {}=-0");
    }

    #[test]
    #[rustfmt::skip]
    fn types_and_help() {
        check("# TYPE a gauge\na 1\n", "a gauge: {}=1");
        check("#TYPE a counter\na 1\n", "a counter: {}=1");
        check("# TYPE a GAUGE\na 1\n", "a gauge: {}=1");
        check("#\tTYPE\ta\tUntyped\na 1\n", "a untyped: {}=1");
        check("# HELP a some help\na 1\n", r#"a untyped help="some help": {}=1"#);
        check("# HELP a  two  blanks \na 1\n", r#"a untyped help="two  blanks ": {}=1"#);
        check("# HELP a x\\\\y\\nz\na 1\n", r#"a untyped help="x\\y\nz": {}=1"#);
        check("# HELP a \"quoted\" ü\t\na 1\n", r#"a untyped help="\"quoted\" ü\t": {}=1"#);
        check("# HELP a x\r\na 1\n", r#"a untyped help="x\r": {}=1"#);
        check("# TYPE a gauge\n# HELP a h\na 1\n", r#"a gauge help="h": {}=1"#);
        check("# HELP a h\n# TYPE a gauge\na 1\n", r#"a gauge help="h": {}=1"#);
        check("# TYPE a gauge\n# TYPE b counter\nb 2\na 1\n", "a gauge: {}=1; b counter: {}=2");
        check("# TYPE a\na 1\n", "a untyped: {}=1");
        check("# TYPE a g\\au\\\\ge\na 1\n", "a gauge: {}=1");
        check("# HELP a\n# HELP a x\na 1\n", r#"a untyped help="x": {}=1"#);
    }

    #[test]
    #[rustfmt::skip]
    fn label_values() {
        check(concat!(r#"a{b="x\"y\\z\nw"} 1"#, "\n"), r#"a untyped: {b="x\"y\\z\nw"}=1"#);
        check("a{b=\"tab\there\"} 1\n", r#"a untyped: {b="tab\there"}=1"#);
        check("a{b=\"çödé ü\"} 1\n", r#"a untyped: {b="çödé ü"}=1"#);
        check("a{b=\"{},=# \"} 1\n", r#"a untyped: {b="{},=# "}=1"#);
        check("a{b=\"\\\\\"} 1\n", r#"a untyped: {b="\\"}=1"#);
        check("a{b=\"\\n\"} 1\n", r#"a untyped: {b="\n"}=1"#);
    }

    #[test]
    #[rustfmt::skip]
    fn scattered_samples_share_a_family() {
        check("a 1\nb 2\na{x=\"1\"} 3\n", r#"a untyped: {}=1 {x="1"}=3; b untyped: {}=2"#);
        check("# TYPE a gauge\na 1\n# TYPE b gauge\nb 2\na 3\n", "a gauge: {}=1 {}=3; b gauge: {}=2");
        check("b 1\n# HELP a x\na 2\n", r#"b untyped: {}=1; a untyped help="x": {}=2"#);
        check("# HELP a x\nb 1\na 2\n", r#"a untyped help="x": {}=2; b untyped: {}=1"#);
    }

    #[test]
    #[rustfmt::skip]
    fn summaries() {
        check("# TYPE s summary\ns_count 3\ns{quantile=\"0.5\"} 2\ns_sum 6\n", "s summary: {}=S[c=3 s=6 0.5:2]");
        // Flink: `_count` and quantiles, no `_sum`.
        check("# TYPE s summary\ns_count{x=\"1\",} 938.0\ns{x=\"1\",quantile=\"0.5\",} 49.5\n", r#"s summary: {x="1"}=S[c=938 s=_ 0.5:49.5]"#);
        // Merged by label set, in any order, anywhere in the body.
        let body = concat!(
            "# TYPE s summary\n",
            "s{x=\"1\",y=\"2\",quantile=\"0.5\"} 1\n",
            "s{x=\"2\",quantile=\"0.5\"} 2\n",
            "t 0\n",
            "s{quantile=\"0.9\",y=\"2\",x=\"1\"} 3\n",
            "s_count{y=\"2\",x=\"1\"} 4\n",
        );
        let want = r#"s summary: {x="1",y="2"}=S[c=4 s=_ 0.5:1 0.9:3] {x="2"}=S[c=_ s=_ 0.5:2]"#;
        check(body, &format!("{want}; t untyped: {{}}=0"));
        check("# TYPE s summary\ns_count 3\ns_count 4\n", "s summary: {}=S[c=4 s=_]");
        check("# TYPE s summary\ns_count{quantile=\"0.5\"} 3\n", "s summary: {}=S[c=3 s=_]");
        check("# TYPE s summary\ns{quantile=\"1\",quantile=\"2\"} 3\n", "s summary: {}=S[c=_ s=_ 2:3]");
        check("# TYPE s summary\ns{quantile=\"NaN\"} 3\n", "s summary: {}=S[c=_ s=_]");
        check("# TYPE s summary\ns_sum 1 5\ns{quantile=\"1\"} 2\n", "s summary: {}=S[c=_ s=1 1:2]@5");
        check("# TYPE s summary\ns{quantile=\"1\"} 2\ns_sum 1 5\n", "s summary: {}=S[c=_ s=1 1:2]@5");
        // `_bucket` is not part of a summary; `quantile` is an ordinary label elsewhere.
        check("# TYPE s summary\ns_bucket 1\n", "s_bucket untyped: {}=1");
        check("a{quantile=\"x\"} 1\n", r#"a untyped: {quantile="x"}=1"#);
    }

    #[test]
    #[rustfmt::skip]
    fn histograms() {
        check("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 4\nh_count 3\n", "h histogram: {}=H[c=3 s=4 1:1 inf:3]");
        check("# TYPE h histogram\nh{le=\"1\"} 1\n", "h histogram: {}=H[c=_ s=_ 1:1]");
        check("# TYPE h histogram\nh_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"2\",le=\"1\"} 2\nh_count{a=\"1\"} 5\n", r#"h histogram: {a="1"}=H[c=5 s=_ 1:1] {a="2"}=H[c=_ s=_ 1:2]"#);
        check("a{le=\"x\"} 1\n", r#"a untyped: {le="x"}=1"#);
    }

    #[test]
    #[rustfmt::skip]
    fn suffixed_names_find_their_family() {
        // Without a summary or histogram, suffixed names are families of their own.
        check("a_count 1\na_sum 2\n", "a_count untyped: {}=1; a_sum untyped: {}=2");
        check("# TYPE a gauge\na 1\na_count 2\n", "a gauge: {}=1; a_count untyped: {}=2");
        // An exact name wins over the summary it would belong to.
        check("s_count 1\n# TYPE s summary\ns_count 2\n", "s_count untyped: {}=1 {}=2");
        // HELP and TYPE lines use the same lookup.
        check("# TYPE s summary\n# HELP s_count x\ns{quantile=\"1\"} 2\n", r#"s summary help="x": {}=S[c=_ s=_ 1:2]"#);
        check("# TYPE _count summary\n_count{quantile=\"1\"} 1\n", "_count summary: {}=S[c=_ s=_ 1:1]");
    }

    #[test]
    #[rustfmt::skip]
    fn end_of_input_errors() {
        for input in [
            "a 1", "a", "a ", "a{", "a{b", "a{b ", "a{b=", "a{b=\"", "a{b=\"c", "a{b=\"c\\", "a{b=\"c\\\\",
            "a{b=\"c\"", "a{b=\"c\",", "a{b=\"c\"}", "a{b=\"c\"} ", "a 1 ", "a 1 2", "a 1 2 ", "#", "# ",
            "# comment", "# HELP", "# HELP ", "# HELP a", "# HELP a ", "# HELP a x", "# HELP a x\\",
            "# TYPE a gauge", "# TYPE a", "# TYPE s summary\ns{quantile=\"1\"",
        ] {
            let line = input.matches('\n').count() + 1;
            check_err(input.as_bytes(), &format!("{line}: unexpected end of input stream"));
        }
        check_err(b"a 1\n\nb 2", "3: unexpected end of input stream");
    }

    #[test]
    #[rustfmt::skip]
    fn comment_errors() {
        check_err(b"# HELP 1a x\n", "1: invalid metric name in comment");
        check_err(b"# TYPE a-b gauge\n", "1: invalid metric name in comment");
        check_err(b"# TYPE \"a\" gauge\n", "1: invalid metric name in comment");
        check_err(b"# HELP a x\n# HELP a y\n", r#"2: second HELP line for metric name "a""#);
        check_err(b"# TYPE s summary\n# HELP s x\n# HELP s_sum y\n", r#"3: second HELP line for metric name "s""#);
        check_err(b"# TYPE a gauge\n# TYPE a gauge\n", r#"2: second TYPE line for metric name "a", or TYPE reported after samples"#);
        check_err(b"a 1\n# TYPE a gauge\n", r#"2: second TYPE line for metric name "a", or TYPE reported after samples"#);
        check_err(b"# TYPE a gauge \n", r#"1: unknown metric type "gauge ""#);
        check_err(b"# TYPE a gauge_histogram\n", r#"1: unknown metric type "gauge_histogram""#);
        check_err(b"# TYPE a info\n", r#"1: unknown metric type "info""#);
        check_err(b"# TYPE a gauge\r\n", r#"1: unknown metric type "gauge\r""#);
        check_err(b"# TYPE a ga\\uge\\n\n", r#"1: unknown metric type "gaugen""#);
        check_err(b"# HELP a x\\ty\n", r"1: invalid escape sequence '\t'");
        check_err(b"# HELP a x\\\"y\n", r#"1: invalid escape sequence '\"'"#);
        check_err(b"# HELP a x\\\n", "1: invalid escape sequence '\\\n'");
        check_err(b"# HELP a \xff\n", "1: invalid HELP text \"\u{fffd}\"");
        check_err(b"# HELP a \\n\xff\n", "1: invalid HELP text \"\\n\u{fffd}\"");
    }

    #[test]
    #[rustfmt::skip]
    fn metric_name_errors() {
        check_err(b"{a=\"b\"} 1\n", "1: invalid metric name");
        check_err(b"1a 1\n", "1: invalid metric name");
        check_err(b"\"a.b\" 1\n", "1: invalid metric name");
        check_err(b"{\"a.b\"} 1\n", "1: invalid metric name");
        check_err(b"a 1\n-b 1\n", "2: invalid metric name");
        check_err("ü 1\n".as_bytes(), "1: invalid metric name");
    }

    #[test]
    #[rustfmt::skip]
    fn label_errors() {
        check_err(b"a{,} 1\n", r#"1: invalid label name for metric "a""#);
        check_err(b"a{1=\"b\"} 1\n", r#"1: invalid label name for metric "a""#);
        check_err(b"a{\"b\"=\"c\"} 1\n", r#"1: invalid label name for metric "a""#);
        check_err(b"a{b=\"c\",,} 1\n", r#"1: invalid label name for metric "a""#);
        check_err(b"# TYPE s summary\ns_count{,} 1\n", r#"2: invalid label name for metric "s""#);
        check_err(b"a{__name__=\"b\"} 1\n", r#"1: label name "__name__" is reserved"#);
        check_err(b"a{__foo=\"b\"} 1\n", r#"1: label name "__foo" is reserved"#);
        check_err(b"a{__=\"b\"} 1\n", r#"1: label name "__" is reserved"#);
        check_err(b"a{b-c=\"d\"} 1\n", "1: expected '=' after label name, found '-'");
        check_err(b"a{b \"d\"} 1\n", "1: expected '=' after label name, found '\"'");
        check_err(b"a{b}\n", "1: expected '=' after label name, found '}'");
        check_err(b"a{b\n", "1: expected '=' after label name, found '\\n'");
        check_err(b"a{b\xc3=\"\"} 1\n", "1: expected '=' after label name, found 'Ã'");
        check_err(b"a{b=d} 1\n", "1: expected '\"' at start of label value, found 'd'");
        check_err(b"a{b='d'} 1\n", "1: expected '\"' at start of label value, found '\\''");
        check_err(b"a{b=\"c\",b=\"d\"} 1\n", r#"1: duplicate label names for metric "a""#);
        check_err(b"a{b=\"c\",d=\"\",b=\"d\"} 1\n", r#"1: duplicate label names for metric "a""#);
        check_err(b"a{b=\"c\",b} 1\n", "1: expected '=' after label name, found '}'");
        check_err(b"a{b=\"c\nd\"} 1\n", r#"1: label value "c" contains unescaped new-line"#);
        check_err(b"a{b=\"\\\\c\nd\"} 1\n", r#"1: label value "\\c" contains unescaped new-line"#);
        check_err(b"a{b=\"c\\x\"} 1\n", r"1: invalid escape sequence '\x'");
        check_err(b"a{b=\"c\\t\"} 1\n", r"1: invalid escape sequence '\t'");
        check_err(b"a{b=\"\xff\"} 1\n", "1: invalid label value \"\u{fffd}\"");
        check_err(b"a{b=\"\\n\xff\"} 1\n", "1: invalid label value \"\\n\u{fffd}\"");
        check_err(b"a{b=\"c\"x} 1\n", r#"1: unexpected end of label value "c""#);
        check_err(b"a{b=\"c\" d=\"e\"} 1\n", r#"1: unexpected end of label value "c""#);
        check_err(b"a{b=\"\\\"\"\n", r#"1: unexpected end of label value "\"""#);
        check_err(b"# TYPE s summary\ns{quantile=\"x\"} 1\n", r#"2: expected float as value for 'quantile' label, got "x""#);
        check_err(b"# TYPE s summary\ns{quantile=\"0x1p3\"} 1\n", r#"2: expected float as value for 'quantile' label, got "0x1p3""#);
        check_err(b"# TYPE h histogram\nh_bucket{le=\"\"} 1\n", r#"2: expected float as value for 'le' label, got """#);
    }

    #[test]
    #[rustfmt::skip]
    fn value_errors() {
        check_err(b"a 1x\n", r#"1: expected float as value, got "1x""#);
        check_err(b"a\n", r#"1: expected float as value, got """#);
        check_err(b"a{b=\"c\"}\n", r#"1: expected float as value, got """#);
        check_err(b"a-b 1\n", r#"1: expected float as value, got "-b""#);
        check_err(b"a 1\r\n", r#"1: expected float as value, got "1\r""#);
        check_err(b"a 0x1p3\n", r#"1: expected float as value, got "0x1p3""#);
        check_err(b"a 0x10\n", r#"1: expected float as value, got "0x10""#);
        check_err(b"a 1_000\n", r#"1: expected float as value, got "1_000""#);
        check_err(b"a 1e400\n", r#"1: expected float as value, got "1e400""#);
        check_err(b"a -1e400\n", r#"1: expected float as value, got "-1e400""#);
        check_err(b"a -nan\n", r#"1: expected float as value, got "-nan""#);
        check_err(b"a +NaN\n", r#"1: expected float as value, got "+NaN""#);
        check_err(b"a inf1\n", r#"1: expected float as value, got "inf1""#);
        check_err(b"a 1,5\n", r#"1: expected float as value, got "1,5""#);
        check_err(b"a \xff\n", "1: expected float as value, got \"\u{fffd}\"");
        check_err(b"a 1 x\n", r#"1: expected integer as timestamp, got "x""#);
        check_err(b"a 1 \n", r#"1: expected integer as timestamp, got """#);
        check_err(b"a 1 1.5\n", r#"1: expected integer as timestamp, got "1.5""#);
        check_err(b"a 1 9223372036854775808\n", r#"1: expected integer as timestamp, got "9223372036854775808""#);
        check_err(b"a 1 2\r\n", r#"1: expected integer as timestamp, got "2\r""#);
        check_err(b"a 1 2 \n", r#"1: spurious string after timestamp: " ""#);
        check_err(b"a 1 2 3\n", r#"1: spurious string after timestamp: " 3""#);
        check_err(b"a 1 2\t\n", r#"1: spurious string after timestamp: "\t""#);
        check_err(b"a 1 2 \\x\\\n", r#"1: spurious string after timestamp: " x""#);
    }

    #[test]
    #[rustfmt::skip]
    fn summary_and_histogram_errors() {
        check_err(b"# TYPE s summary\ns 1\n", r#"2: summary sample "s" has no quantile label"#);
        check_err(b"# TYPE s summary\ns{a=\"b\"} 1\n", r#"2: summary sample "s" has no quantile label"#);
        check_err(b"# TYPE h histogram\nh_bucket 1\n", r#"2: histogram sample "h_bucket" has no le label"#);
        check_err(b"# TYPE h histogram\nh{a=\"b\"} 1\n", r#"2: histogram sample "h" has no le label"#);
    }

    #[test]
    #[rustfmt::skip]
    fn error_lines_count_every_line() {
        check_err(b"\n# x\n  \n# HELP a b\na 1\nb 1x\n", r#"6: expected float as value, got "1x""#);
        check_err(b"a{b=\"\\n\"} 1\na{b=\"c\"} x\n", r#"2: expected float as value, got "x""#);
        check_err(b"# HELP a x\\ny\nb x\n", r#"2: expected float as value, got "x""#);
    }

    #[test]
    fn error_display_has_go_prefix() {
        let err = parse(b"a 1\nb x\n").expect_err("bad value");
        assert_eq!(
            err.to_string(),
            r#"text format parsing error in line 2: expected float as value, got "x""#
        );
    }

    #[test]
    fn long_snippets_are_cut() {
        let long = format!("a {}x\n", "9".repeat(300));
        let err = parse(long.as_bytes()).expect_err("bad value");
        assert_eq!(
            err.kind,
            TextErrorKind::InvalidValue(format!("{}...", "9".repeat(100)))
        );
        let long = format!("a {}ü{}x\n", "9".repeat(99), "9".repeat(300));
        let err = parse(long.as_bytes()).expect_err("bad value");
        assert_eq!(
            err.kind,
            TextErrorKind::InvalidValue(format!("{}...", "9".repeat(99)))
        );
    }

    #[test]
    fn unescaped_strings_borrow_from_the_body() {
        let body =
            b"# HELP a plain help\na{b=\"plain\",c=\"esc\\\\aped\"} 1\n# HELP d esc\\\\aped\nd 1\n";
        let families = parse(body).expect("valid body");
        assert!(matches!(
            families[0].help,
            Some(Cow::Borrowed("plain help"))
        ));
        assert!(matches!(families[0].name, Cow::Borrowed("a")));
        let labels = &families[0].metrics[0].labels;
        assert!(matches!(labels[0].name, Cow::Borrowed("b")));
        assert!(matches!(labels[0].value, Cow::Borrowed("plain")));
        assert!(matches!(&labels[1].value, Cow::Owned(v) if v == "esc\\aped"));
        assert!(matches!(&families[1].help, Some(Cow::Owned(h)) if h == "esc\\aped"));
    }

    #[test]
    fn invalid_utf8_outside_values_is_accepted() {
        // Go checks only label values; comments may hold anything. Such a body takes the
        // slice-by-slice UTF-8 path, which must give the same result.
        check_err(
            b"# \xff\na{b=\"\xff\"} 1\n",
            "2: invalid label value \"\u{fffd}\"",
        );
        let families = parse(b"# \xff\n# HELP a h\na{b=\"c\\\\\",d=\"\"} 1 2\n").expect("valid");
        assert_eq!(show(&families), r#"a untyped help="h": {b="c\\",d=""}=1@2"#);
    }

    #[track_caller]
    fn check_utf8(input: &str, want: &str) {
        match parse_with(input.as_bytes(), Names::Utf8) {
            Ok(families) => assert_eq!(show(&families), want, "input {input:?}"),
            Err(e) => panic!("input {input:?}: {e}"),
        }
    }

    /// `want` is `"{line}: {message}"`.
    #[track_caller]
    fn check_utf8_err(input: &[u8], want: &str) {
        match parse_with(input, Names::Utf8) {
            Ok(families) => panic!("input {input:?} parsed: {}", show(&families)),
            Err(e) => assert_eq!(format!("{}: {}", e.line, e.kind), want, "input {input:?}"),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn utf8_names_accept_quoted_metric_and_label_names() {
        check_utf8("{\"flink.taskmanager.Status.JVM.CPU.Load\"} 1\n", "flink.taskmanager.Status.JVM.CPU.Load untyped: {}=1");
        check_utf8("{\"my.metric\", \"label.name\"=\"v\"} 1\n", r#"my.metric untyped: {label.name="v"}=1"#);
        check_utf8("# HELP \"a.b\" h\n# TYPE \"a.b\" gauge\n{\"a.b\",c=\"d\",} 1\n", r#"a.b gauge help="h": {c="d"}=1"#);
        check_utf8("{ \"a\" } 1\n{\"a\" ,} 2\na 3\n", "a untyped: {}=1 {}=2 {}=3");
        check_utf8("m{\"x.y\"=\"1\", z=\"2\"} 1 5\n", r#"m untyped: {x.y="1",z="2"}=1@5"#);
        check_utf8("# TYPE \"s.x\" summary\n{\"s.x\",quantile=\"0.5\"} 1\n{\"s.x_count\"} 2\n", "s.x summary: {}=S[c=2 s=_ 0.5:1]");
        check_utf8("{\"a\\\"b\\\\c\\nd\"} 1\n", "a\"b\\c\nd untyped: {}=1");
        check_utf8("{\"ü\"} 1\n# HELP \"ü\" x\n", r#"ü untyped help="x": {}=1"#);
        check_utf8("a{b=\"c\"} 1\n", r#"a untyped: {b="c"}=1"#);
    }

    #[test]
    #[rustfmt::skip]
    fn utf8_names_errors() {
        check_utf8_err(b"{\"\"} 1\n", "1: invalid metric name");
        check_utf8_err(b"{a=\"b\"} 1\n", "1: invalid metric name");
        check_utf8_err(b"\"a.b\" 1\n", "1: invalid metric name");
        check_utf8_err(b"{\"a\" x} 1\n", "1: expected ',' or '}' after quoted metric name, found 'x'");
        check_utf8_err(b"{\"a\nb\"} 1\n", "1: invalid quoted name \"a\"");
        check_utf8_err(b"{\"a\xff\"} 1\n", "1: invalid quoted name \"a\u{fffd}\"");
        check_utf8_err(b"a{\"\"=\"v\"} 1\n", r#"1: invalid label name for metric "a""#);
        check_utf8_err(b"a{\"__x\"=\"v\"} 1\n", r#"1: label name "__x" is reserved"#);
        check_utf8_err(b"a{\"b.c\"=\"1\",\"b.c\"=\"2\"} 1\n", r#"1: duplicate label names for metric "a""#);
        check_utf8_err(b"{\"a.b\",\"c\" \"d\"} 1\n", "1: expected '=' after label name, found '\"'");
        check_utf8_err(b"# TYPE \"\" gauge\n", "1: invalid metric name in comment");
        check_utf8_err(b"# TYPE \"a\"x gauge\n", "1: invalid metric name in comment");
        check_utf8_err(b"{\"a\"", "1: unexpected end of input stream");
        check_utf8_err(b"{\"a\"}", "1: unexpected end of input stream");
    }

    #[test]
    fn classic_names_refuse_the_quoted_syntax() {
        for body in [
            &b"{\"a.b\"} 1\n"[..],
            b"a{\"b\"=\"c\"} 1\n",
            b"# TYPE \"a\" gauge\n",
        ] {
            assert!(parse(body).is_err(), "{body:?}");
            assert!(parse_with(body, Names::Utf8).is_ok(), "{body:?}");
        }
    }

    /// `(family, label_block)` of every metric, in order.
    fn blocks(families: &[Family<'_>]) -> Vec<(String, Option<u32>)> {
        families
            .iter()
            .flat_map(|f| {
                f.metrics
                    .iter()
                    .map(|m| (f.name.to_string(), m.label_block))
            })
            .collect()
    }

    #[test]
    fn repeated_label_blocks_share_an_id_and_equal_labels() {
        let body = b"a{x=\"1\",y=\"}\\\"\"} 1\nb{x=\"1\",y=\"}\\\"\"} 2\nb{x=\"2\"} 3\n\
                     c{x=\"1\",y=\"}\\\"\"} 4 1000\nd{x=\"2\"}\t5\nd{ x=\"2\"} 6\n";
        let families = parse(body).expect("parses");
        assert_eq!(
            show(&families),
            r#"a untyped: {x="1",y="}\""}=1; b untyped: {x="1",y="}\""}=2 {x="2"}=3; c untyped: {x="1",y="}\""}=4@1000; d untyped: {x="2"}=5 {x="2"}=6"#
        );
        let ids = blocks(&families);
        let id = |i: usize| ids[i].1.expect("scalar samples with labels get a block");
        assert_eq!((id(0), id(1), id(3)), (id(0), id(0), id(0)));
        assert_eq!(id(2), id(4));
        assert_ne!(id(0), id(2));
        // Equal labels written differently are another block: only bytes are compared.
        assert_ne!(id(5), id(2));
    }

    #[test]
    fn a_known_block_followed_by_a_bad_value_still_fails_on_its_line() {
        check_err(
            b"a{x=\"1\"} 1\nb{x=\"1\"} 2 }\n",
            "2: expected integer as timestamp, got \"}\"",
        );
        check_err(
            b"a{x=\"1\"} 1\nb{x=\"1\"}\n",
            "2: expected float as value, got \"\"",
        );
        // The same errors as for a block seen for the first time.
        check_err(
            b"a{x=\"1\"} 1\nb{x=\"2\"} 2 }\n",
            "2: expected integer as timestamp, got \"}\"",
        );
        check_err(
            b"a{x=\"1\"} 1\nb{x=\"2\"}\n",
            "2: expected float as value, got \"\"",
        );
    }

    #[test]
    fn summary_lines_share_the_block_of_their_labels_without_the_bound() {
        let body = b"# TYPE s summary\n\
                     s{x=\"1\",quantile=\"0.5\",} 1\ns{x=\"1\",quantile=\"0.9\",} 2\n\
                     s_count{x=\"1\",} 3\ns{x=\"2\",quantile=\"0.5\"} 4\n\
                     s{x=\"2\",quantile=\"0.9\"} 5\ns_sum{x=\"2\"} 6\n\
                     # TYPE h histogram\nh_bucket{x=\"1\",le=\"+Inf\"} 1\nh_count{x=\"1\"} 1\ng 3\n";
        let families = parse(body).expect("parses");
        assert_eq!(
            show(&families),
            r#"s summary: {x="1"}=S[c=3 s=_ 0.5:1 0.9:2] {x="2"}=S[c=_ s=6 0.5:4 0.9:5]; h histogram: {x="1"}=H[c=1 s=_ inf:1]; g untyped: {}=3"#
        );
        let ids = blocks(&families);
        assert!(ids[0].1.is_some() && ids[1].1.is_some() && ids[0].1 != ids[1].1);
        assert!(ids[2].1.is_some(), "histograms too");
        assert_eq!(ids[3].1, None, "a bare sample has no block");
    }

    #[test]
    fn a_known_summary_prefix_gives_the_same_answers_as_parsing() {
        // A bound label inside the prefix: never remembered, so later lines parse in full.
        check(
            "# TYPE s summary\ns{quantile=\"0.1\",a=\"1\",quantile=\"0.5\",} 1\ns{quantile=\"0.1\",a=\"1\",} 2\n",
            r#"s summary: {a="1"}=S[c=_ s=_ 0.5:1 0.1:2]"#,
        );
        // A label whose name only ends like the bound's is not a bound: `{a` is no prefix.
        check_err(
            b"# TYPE s summary\ns_count{aquantile=\"0.5\"} 1\ns_count{a} 2\n",
            "3: expected '=' after label name, found '}'",
        );
        // A summary's prefix is no histogram's: there `le` is the bound (found by proptest).
        check_err(
            b"# TYPE s summary\n# TYPE h histogram\ns{le=\"x\",quantile=\"0.5\"} 1\n\
              h_bucket{le=\"x\",le=\"0.5\"} 2\n",
            "4: expected float as value for 'le' label, got \"x\"",
        );
        // An unreadable bound after a known prefix fails on its line, as without the prefix.
        check_err(
            b"# TYPE s summary\ns{a=\"1\",quantile=\"0.5\"} 1\ns{a=\"1\",quantile=\"x\"} 2\n",
            "3: expected float as value for 'quantile' label, got \"x\"",
        );
        check_err(
            b"# TYPE s summary\ns{a=\"2\",quantile=\"0.5\"} 1\ns{a=\"1\",quantile=\"x\"} 2\n",
            "3: expected float as value for 'quantile' label, got \"x\"",
        );
        // An escaped bound value is left to the parser.
        for first in ["a=\"1\"", "a=\"2\""] {
            let body = format!(
                "# TYPE s summary\ns{{{first},quantile=\"0.5\"}} 1\ns{{a=\"1\",quantile=\"0.\\9\"}} 2\n"
            );
            check_err(body.as_bytes(), "3: invalid escape sequence '\\9'");
        }
    }

    #[test]
    fn flink_2_3_0_taskmanager() {
        let body = include_bytes!("../../fixtures/flink-2.3.0/tm.txt");
        let families = parse(body).expect("fixture parses");
        assert_eq!(families.len(), 126);
        let count = |kind| families.iter().filter(|f| f.kind == kind).count();
        assert_eq!(
            (count(MetricType::Gauge), count(MetricType::Summary)),
            (123, 3)
        );
        assert_eq!(sample_count(&families), 452);
        assert_eq!(sample_lines(body), 452);
        assert!(families.iter().all(|f| f.help.is_some()));
        let summary = families
            .iter()
            .find(|f| f.name == "flink_taskmanager_job_task_operator_capture_myHistogram")
            .expect("summary family");
        let Value::Summary(s) = &summary.metrics[0].value else {
            panic!("not a summary")
        };
        assert_eq!((s.count, s.sum, s.quantiles.len()), (Some(938.0), None, 6));
        assert_eq!(s.quantiles[2], (0.95, 94.949_999_999_999_99));
        assert_eq!(summary.metrics[0].labels.len(), 11);
        for label in families
            .iter()
            .flat_map(|f| &f.metrics)
            .flat_map(|m| m.labels.iter())
        {
            assert!(matches!(
                (&label.name, &label.value),
                (Cow::Borrowed(_), Cow::Borrowed(_))
            ));
        }
    }

    macro_rules! fixture {
        ($path:literal) => {
            (
                $path,
                include_bytes!(concat!("../../fixtures/", $path)).as_slice(),
            )
        };
    }

    #[test]
    fn every_fixture_parses() {
        for (name, body) in [
            fixture!("flink-2.3.0/jm.txt"),
            fixture!("flink-2.3.0/jm-idle.txt"),
            fixture!("flink-2.3.0/tm-idle.txt"),
            fixture!("flink-1.20.3/jm.txt"),
            fixture!("flink-1.20.3/tm.txt"),
            fixture!("flink-2.3.0-edge/jm.txt"),
            fixture!("flink-2.3.0-edge/tm.txt"),
            fixture!("realpgw-1.5.1/metrics-after-replay-0009-0010.txt"),
            fixture!("realpgw-1.5.1/metrics-edge-excerpt.txt"),
        ] {
            let families = parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(sample_count(&families), sample_lines(body), "{name}");
        }
    }

    #[test]
    fn generated_flink_like_body_parses_to_its_stated_shape() {
        let shape = FlinkLike::MEDIUM;
        let (body, samples) = shape.body();
        assert_eq!(samples, 4_912);
        assert_eq!(sample_lines(&body), samples);
        let families = parse(&body).expect("generated body parses");
        assert_eq!(
            families.len(),
            shape.gauge_families + shape.summary_families
        );
        assert_eq!(sample_count(&families), samples);
        let series: usize = families.iter().map(|f| f.metrics.len()).sum();
        assert_eq!(series, 160 * 30 + 4 * 4);
        assert!(families
            .iter()
            .flat_map(|f| &f.metrics)
            .all(|m| m.labels.len() == 13));
    }

    #[test]
    fn edge_fixture_unescapes_label_values() {
        let body = include_bytes!("../../fixtures/flink-2.3.0-edge/tm.txt");
        let families = parse(body).expect("fixture parses");
        let labels: Vec<&Label<'_>> = families
            .iter()
            .flat_map(|f| &f.metrics)
            .flat_map(|m| m.labels.iter())
            .collect();
        let value_of = |name: &str| labels.iter().find(|l| l.name == name).map(|l| &l.value);
        assert!(
            matches!(value_of("job_name"), Some(Cow::Owned(v)) if v == "edge \"job\" \\ back\nslash")
        );
        assert!(labels
            .iter()
            .any(|l| l.name == "task_name" && l.value == "Source: Seq Source -> Map \"q\" \\ ü"));
        assert!(labels
            .iter()
            .any(|l| l.name == "task_name" && l.value == "Keyed Reduce -> Discard Sink: Writer"));
        assert!(matches!(value_of("host"), Some(Cow::Borrowed("localhost"))));
    }

    #[test]
    fn utf8_label_values_without_escapes_borrow() {
        let (_, body) = fixture!("realpgw-1.5.1/metrics-edge-excerpt.txt");
        let families = parse(body).expect("fixture parses");
        let site = families[0].metrics[0]
            .labels
            .iter()
            .find(|l| l.name == "site");
        assert!(matches!(
            site.map(|l| &l.value),
            Some(Cow::Borrowed("çödé"))
        ));
    }
}
