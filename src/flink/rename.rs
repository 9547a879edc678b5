//! Scope-delimiter translation and rename rules: names that are not classic Prometheus names
//! are renamed instead of refused, and rules turn Flink scope formats into labels.
//!
//! Owns: the `rename:` section of the config file ([`RenameSpec`], [`Preset`]), its compiled
//! form ([`Renamer`]), the per-name cache, and applying a rename to a parsed push
//! ([`Renamer::plan`], then [`Plan::apply`]).
//! Does not own: the quoted-name syntax (`parse::text` with `Names::Utf8`), reading the config
//! file (`config_file`), grouping labels or storage.
//!
//! Data enters as the families of one push, straight from the parser, whose names may be any
//! non-empty UTF-8 (a quoted `{"flink.taskmanager.Status.JVM.CPU.Load"} 1`, or any protobuf
//! name). It leaves as families that meet every invariant of [`crate::model`], for the store.
//!
//! For a metric name, in this order:
//! 1. the config file's `rules`, then the `presets`' rules (most specific scope first), are
//!    tried on the name as pushed; the first whose `match` regex matches renames it: its `name`
//!    template gives the new name, and every named capture that the template does not use
//!    becomes a label (empty captures are left out);
//! 2. a name no rule matched is sanitized: the scope delimiter (Flink's
//!    `metrics.scope.delimiter`, `.` by default) and every character invalid in a classic
//!    metric name become `_`, and a leading digit gets a `_` in front. Classic names are left
//!    alone (with `:` as the delimiter, a `:` is replaced too).
//!
//! Values substituted into a template are sanitized the same way, so a rule's output is always
//! a valid name; literal template text is checked when the file is loaded. Label names are
//! sanitized like metric names (with the label alphabet, which has no `:`).
//!
//! Captured labels are added to every series of the family, but a label the push carries
//! itself wins: it is explicit, the capture is inferred from the name (grouping labels, added
//! later by the store, win over both). Families that end up with the same name in one push are
//! merged (Flink's JobManager reports every job's `numRestarts` under its own name), which is
//! refused if their types differ.
//!
//! The outcome for a metric name is cached per distinct name: a push of names seen before
//! costs one hash lookup per family (none at all without rules, for classic names). The cache
//! is bounded ([`CACHE_CAPACITY`]) and emptied when full, so names that churn (a `tm_id` inside
//! the name changes with every TaskManager start) cannot grow it without bound.
//!
//! Lock choice: a `std::sync::RwLock` over the cache. Pushes only read it once warm (one read
//! lock per push, not per family); the write lock is taken once per push that brings new
//! names, after their renames were computed outside any lock.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Deserialize;

use crate::model::{is_valid_label_name, is_valid_metric_name, Family, Label, Metric, MetricType};

mod presets;
mod rule;

pub use presets::Preset;
use presets::{scope_rule, Scope};
use rule::{sanitize, Alphabet, Rule};

/// Flink's default `metrics.scope.delimiter`.
pub const DEFAULT_DELIMITER: char = '.';

/// Most distinct metric names the rename cache holds before it is emptied.
pub const CACHE_CAPACITY: usize = 65_536;

/// Whether names outside the classic alphabet are renamed (`--flink.rename`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenameMode {
    /// Accept quoted (UTF-8) names and rename them; apply the config file's rename rules.
    On,
    /// The Go gateway's behaviour: a name outside the classic alphabet is a 400.
    Off,
}

/// The `rename:` section of the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameSpec {
    /// Overrides `--flink.scope-delimiter`.
    #[serde(default)]
    pub scope_delimiter: Option<String>,
    /// Built-in rule sets, tried after `rules`.
    #[serde(default)]
    pub presets: Vec<Preset>,
    /// Rules tried in order, before the presets.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// One rename rule as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Regex on the metric name as pushed (anchor it yourself: `^...$`).
    #[serde(rename = "match")]
    pub matcher: String,
    /// The new name: literal text plus `$name`, `${name}` or `$1` references to captures.
    pub name: String,
}

/// Why the `rename:` section (or `--flink.scope-delimiter`) is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenameConfigError {
    /// Occurs when `scope_delimiter` is not exactly one character other than a letter or digit.
    #[error("invalid scope_delimiter {0:?}: must be one character, not a letter or digit")]
    Delimiter(String),
    /// Occurs when a rule's `match` is not a valid regex.
    #[error("{rule}: invalid match regex: {source}")]
    Regex {
        /// Which rule (`rules[2]`, or a preset).
        rule: String,
        /// The regex error.
        source: Box<regex::Error>,
    },
    /// Occurs when a rule's `name` template refers to a capture the regex does not have, has
    /// a `$` not followed by a reference, or has literal text that is not valid in a metric
    /// name (or is empty).
    #[error("{rule}: invalid name template {template:?}: {reason}")]
    Template {
        /// Which rule.
        rule: String,
        /// The template.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Occurs when a named capture that would become a label is not a valid label name, or is
    /// one the store manages itself (`__*`, `quantile`, `le`).
    #[error("{rule}: capture group {group:?} cannot become a label: {reason}")]
    CaptureLabel {
        /// Which rule.
        rule: String,
        /// The capture group's name.
        group: String,
        /// Why not.
        reason: &'static str,
    },
}

/// Why a push cannot be renamed (the HTTP layer answers 400 with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenameError {
    /// Occurs when a label name becomes a reserved one (`__*`) once sanitized.
    #[error("label name {label:?} of metric {metric:?} is reserved once renamed to {renamed:?}")]
    ReservedLabelName {
        /// The family.
        metric: String,
        /// The label name as pushed.
        label: String,
        /// The sanitized name.
        renamed: String,
    },
    /// Occurs when two label names of one series become the same name once sanitized.
    #[error("metric {metric:?} has two labels named {label:?} once renamed")]
    DuplicateLabelName {
        /// The family.
        metric: String,
        /// The label name after sanitizing.
        label: String,
    },
    /// Occurs when families of different types get the same name.
    #[error("metrics {first:?} ({first_kind}) and {second:?} ({second_kind}) are both renamed to {name:?}, but their types differ")]
    TypeClash {
        /// The common new name.
        name: String,
        /// The first family's name as pushed.
        first: String,
        /// Its type.
        first_kind: MetricType,
        /// The second family's name as pushed.
        second: String,
        /// Its type.
        second_kind: MetricType,
    },
}

/// Parses a scope delimiter: exactly one character, not a letter or digit.
#[must_use]
pub fn parse_delimiter(s: &str) -> Option<char> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_alphanumeric() => Some(c),
        _ => None,
    }
}

/// The outcome of renaming one metric name.
#[derive(Debug, PartialEq, Eq)]
pub struct Renamed {
    /// The new, valid metric name.
    pub name: String,
    /// Labels captured from the old name, to add to every series.
    pub labels: Vec<(String, String)>,
}

/// Compiled rename rules plus the per-name cache. Shared by all pushes.
pub struct Renamer {
    delimiter: char,
    rules: Vec<Rule>,
    /// Metric name as pushed -> its rename (`None`: unchanged).
    cache: RwLock<HashMap<Box<str>, Option<Arc<Renamed>>>>,
    capacity: usize,
}

impl std::fmt::Debug for Renamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renamer")
            .field("delimiter", &self.delimiter)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl Renamer {
    /// Compiles the rules of `spec`. `delimiter` is `--flink.scope-delimiter`; the spec's
    /// `scope_delimiter` overrides it.
    ///
    /// # Errors
    /// [`RenameConfigError`] for a bad delimiter, regex, template or capture name.
    pub fn new(spec: &RenameSpec, delimiter: char) -> Result<Renamer, RenameConfigError> {
        let delimiter = match &spec.scope_delimiter {
            Some(d) => parse_delimiter(d).ok_or_else(|| RenameConfigError::Delimiter(d.clone()))?,
            None => delimiter,
        };
        let mut rules = spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| Rule::compile(&format!("rules[{i}]"), &r.matcher, &r.name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut scopes: Vec<Scope> = spec
            .presets
            .iter()
            .flat_map(|p| p.scopes())
            .copied()
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        for scope in scopes {
            let (matcher, template) = scope_rule(scope, delimiter);
            rules.push(Rule::compile(
                &format!("preset rule for {scope:?}"),
                &matcher,
                template,
            )?);
        }
        Ok(Renamer {
            delimiter,
            rules,
            cache: RwLock::default(),
            capacity: CACHE_CAPACITY,
        })
    }

    /// The same renamer with a smaller cache (for tests of the bound).
    #[must_use]
    pub fn with_cache_capacity(mut self, capacity: usize) -> Renamer {
        self.capacity = capacity.max(1);
        self
    }

    /// The scope delimiter in force.
    #[must_use]
    pub fn delimiter(&self) -> char {
        self.delimiter
    }

    /// Number of names in the cache.
    #[must_use]
    pub fn cached_names(&self) -> usize {
        self.cache
            .read()
            .expect("rename cache lock is never poisoned: nothing panics while holding it")
            .len()
    }

    /// Whether a name must be sanitized when no rule matches it.
    fn needs_sanitizing(&self, name: &str) -> bool {
        !is_valid_metric_name(name) || (self.delimiter == ':' && name.contains(':'))
    }

    /// The rename of one metric name, uncached.
    #[must_use]
    pub fn rename(&self, raw: &str) -> Option<Renamed> {
        if let Some(renamed) = self.rules.iter().find_map(|r| r.apply(raw, self.delimiter)) {
            return Some(renamed);
        }
        self.needs_sanitizing(raw).then(|| Renamed {
            name: sanitize(raw, self.delimiter, Alphabet::Metric),
            labels: Vec::new(),
        })
    }

    /// Looks up (computing on a miss) the rename of every family's name.
    #[must_use]
    pub fn plan(&self, families: &[Family<'_>]) -> Plan {
        let mut renames = Vec::with_capacity(families.len());
        let mut misses = Vec::new();
        {
            let cache = self
                .cache
                .read()
                .expect("rename cache lock is never poisoned: nothing panics while holding it");
            for (i, family) in families.iter().enumerate() {
                if self.rules.is_empty() && !self.needs_sanitizing(&family.name) {
                    renames.push(None);
                } else if let Some(hit) = cache.get(&*family.name) {
                    renames.push(hit.clone());
                } else {
                    renames.push(None);
                    misses.push(i);
                }
            }
        }
        if !misses.is_empty() {
            let computed: Vec<(usize, Option<Arc<Renamed>>)> = misses
                .into_iter()
                .map(|i| (i, self.rename(&families[i].name).map(Arc::new)))
                .collect();
            let mut cache = self
                .cache
                .write()
                .expect("rename cache lock is never poisoned: nothing panics while holding it");
            for (i, renamed) in computed {
                if cache.len() >= self.capacity {
                    cache.clear();
                }
                cache.insert(families[i].name.as_ref().into(), renamed.clone());
                renames[i] = renamed;
            }
        }
        Plan {
            renames,
            delimiter: self.delimiter,
        }
    }
}

/// The renames for one push, from [`Renamer::plan`]; the renamed families borrow from it.
#[derive(Debug)]
pub struct Plan {
    /// One entry per family, in order; `None` keeps the name.
    renames: Vec<Option<Arc<Renamed>>>,
    delimiter: char,
}

impl Plan {
    /// Renames the families this plan was made for (the same, in the same order): new names,
    /// captured labels, sanitized label names, and families of equal new names merged.
    ///
    /// # Errors
    /// [`RenameError`] when label names collide or become reserved, or renamed families of
    /// different types collide.
    pub fn apply<'a>(&'a self, families: Vec<Family<'a>>) -> Result<Vec<Family<'a>>, RenameError> {
        let merging = self.renames.iter().any(Option::is_some);
        let mut out: Vec<Family<'a>> = Vec::with_capacity(families.len());
        // Only when a name changed can two families share one: name -> (index in `out`,
        // name as pushed).
        let mut seen: HashMap<Cow<'a, str>, (usize, Cow<'a, str>)> = HashMap::new();
        // Label blocks (see `Metric::label_block`) whose names are all classic already: their
        // other series need no look at their names.
        let mut classic_blocks: Vec<bool> = Vec::new();
        for (i, mut family) in families.into_iter().enumerate() {
            let rename = self.renames.get(i).and_then(Option::as_deref);
            let raw = rename.map(|r| std::mem::replace(&mut family.name, Cow::Borrowed(&r.name)));
            for metric in &mut family.metrics {
                let block = metric.label_block.map(|b| b as usize);
                let known = block.is_some_and(|b| classic_blocks.get(b) == Some(&true));
                if !known {
                    let changed = sanitize_labels(metric, &family.name, self.delimiter)?;
                    match block {
                        Some(_) if changed => metric.label_block = None,
                        Some(b) => {
                            if classic_blocks.len() <= b {
                                classic_blocks.resize(b + 1, false);
                            }
                            classic_blocks[b] = true;
                        }
                        None => {}
                    }
                }
                if let Some(r) = rename {
                    if add_captured(metric, &r.labels) {
                        metric.label_block = None;
                    }
                }
            }
            if !merging {
                out.push(family);
                continue;
            }
            let raw = raw.unwrap_or_else(|| family.name.clone());
            if let Some((index, first)) = seen.get(&*family.name) {
                merge_into(&mut out[*index], family, first, &raw)?;
            } else {
                seen.insert(family.name.clone(), (out.len(), raw));
                out.push(family);
            }
        }
        Ok(out)
    }
}

/// Sanitizes the label names of one series that are not classic label names; returns
/// whether any changed.
fn sanitize_labels(
    metric: &mut Metric<'_>,
    family: &str,
    delimiter: char,
) -> Result<bool, RenameError> {
    if metric.labels.iter().all(|l| is_valid_label_name(&l.name)) {
        return Ok(false);
    }
    let mut labels = metric.labels.to_vec();
    let mut changed = false;
    for label in &mut labels {
        if is_valid_label_name(&label.name) {
            continue;
        }
        let renamed = sanitize(&label.name, delimiter, Alphabet::Label);
        if renamed.starts_with("__") {
            return Err(RenameError::ReservedLabelName {
                metric: family.to_owned(),
                label: label.name.to_string(),
                renamed,
            });
        }
        label.name = Cow::Owned(renamed);
        changed = true;
    }
    if changed {
        if let Some(dup) = labels
            .iter()
            .enumerate()
            .find_map(|(i, l)| labels[..i].iter().any(|m| m.name == l.name).then_some(l))
        {
            return Err(RenameError::DuplicateLabelName {
                metric: family.to_owned(),
                label: dup.name.to_string(),
            });
        }
    }
    metric.labels = labels.into();
    Ok(changed)
}

/// Adds captured labels the series does not carry itself (pushed labels win); returns
/// whether it added any.
fn add_captured<'a>(metric: &mut Metric<'a>, captured: &'a [(String, String)]) -> bool {
    let missing = |labels: &[Label<'a>], name: &str| !labels.iter().any(|l| l.name == name);
    if !captured
        .iter()
        .any(|(name, _)| missing(&metric.labels, name))
    {
        return false;
    }
    let mut labels = metric.labels.to_vec();
    for (name, value) in captured {
        if missing(&labels, name) {
            labels.push(Label {
                name: Cow::Borrowed(name),
                value: Cow::Borrowed(value),
            });
        }
    }
    metric.labels = labels.into();
    true
}

/// Merges a family into an earlier one that got the same name.
fn merge_into<'a>(
    into: &mut Family<'a>,
    from: Family<'a>,
    first: &str,
    second: &str,
) -> Result<(), RenameError> {
    if into.kind != from.kind {
        return Err(RenameError::TypeClash {
            name: into.name.to_string(),
            first: first.to_owned(),
            first_kind: into.kind,
            second: second.to_owned(),
            second_kind: from.kind,
        });
    }
    if into.help.is_none() {
        into.help = from.help;
    }
    into.metrics.extend(from.metrics);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    fn renamer(presets: &[Preset], rules: &[(&str, &str)]) -> Renamer {
        let spec = RenameSpec {
            scope_delimiter: None,
            presets: presets.to_vec(),
            rules: rules
                .iter()
                .map(|(m, n)| RuleSpec {
                    matcher: (*m).to_owned(),
                    name: (*n).to_owned(),
                })
                .collect(),
        };
        Renamer::new(&spec, DEFAULT_DELIMITER).expect("valid rules")
    }

    /// `want` is `name{label="value",...}`, or `=` for an unchanged name.
    #[track_caller]
    fn check(r: &Renamer, raw: &str, want: &str) {
        let got = match r.rename(raw) {
            None => "=".to_owned(),
            Some(renamed) => {
                let labels: Vec<String> = renamed
                    .labels
                    .iter()
                    .map(|(n, v)| format!("{n}={v:?}"))
                    .collect();
                format!("{}{{{}}}", renamed.name, labels.join(","))
            }
        };
        assert_eq!(got, want, "{raw:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn sanitizing_replaces_the_delimiter_and_invalid_characters() {
        let r = renamer(&[], &[]);
        check(&r, "flink_taskmanager_job_task_operator_numRecordsIn", "=");
        check(&r, "a:b", "=");
        check(&r, "flink.taskmanager.Status.JVM.CPU.Load", "flink_taskmanager_Status_JVM_CPU_Load{}");
        check(&r, "1a.b", "_1a_b{}");
        check(&r, "a-b c/ü", "a_b_c__{}");
        check(&r, "ü", "_{}");
        let colon = Renamer::new(&RenameSpec::default(), ':').expect("valid");
        check(&colon, "a:b", "a_b{}");
        check(&colon, "a.b", "a_b{}");
        let spec = RenameSpec { scope_delimiter: Some("-".into()), ..RenameSpec::default() };
        assert_eq!(Renamer::new(&spec, '.').expect("valid").delimiter(), '-');
    }

    #[test]
    #[rustfmt::skip]
    fn the_default_scopes_preset_recognises_every_flink_scope() {
        let r = renamer(&[Preset::FlinkDefaultScopes], &[]);
        check(&r, "hlinkui.taskmanager.1234.wordcount.flatmap.0.numRecordsIn",
            r#"flink_taskmanager_job_task_operator_numRecordsIn{host="hlinkui",tm_id="1234",job_name="wordcount",operator_name="flatmap",subtask_index="0"}"#);
        check(&r, "localhost.jobmanager.Status.JVM.CPU.Load", r#"flink_jobmanager_Status_JVM_CPU_Load{host="localhost"}"#);
        check(&r, "localhost.jobmanager.numRunningJobs", r#"flink_jobmanager_numRunningJobs{host="localhost"}"#);
        check(&r, "localhost.jobmanager.WordCount.numRestarts", r#"flink_jobmanager_job_numRestarts{host="localhost",job_name="WordCount"}"#);
        check(&r, "localhost.jobmanager.WordCount.Source: Seq.coordinator.enumerator.unassignedSplits",
            r#"flink_jobmanager_job_operator_coordinator_enumerator_unassignedSplits{host="localhost",job_name="WordCount",operator_name="Source: Seq"}"#);
        check(&r, "10.0.0.5.taskmanager.10.0.0.5:41234-5d2d0a.Status.JVM.Memory.Heap.Used",
            r#"flink_taskmanager_Status_JVM_Memory_Heap_Used{host="10.0.0.5",tm_id="10.0.0.5:41234-5d2d0a"}"#);
        check(&r, "tm-host.taskmanager.container_e01_0001_01_000002.WordCount.lastCheckpointSize",
            r#"flink_taskmanager_job_lastCheckpointSize{host="tm-host",tm_id="container_e01_0001_01_000002",job_name="WordCount"}"#);
        check(&r, "h.taskmanager.tm1.WordCount.Source: Seq -> Map.1.busyTimeMsPerSecond",
            r#"flink_taskmanager_job_task_busyTimeMsPerSecond{host="h",tm_id="tm1",job_name="WordCount",task_name="Source: Seq -> Map",subtask_index="1"}"#);
        check(&r, "h.taskmanager.tm1.WordCount.Map.1.Shuffle.Netty.Input.numBytesInLocal",
            r#"flink_taskmanager_job_task_Shuffle_Netty_Input_numBytesInLocal{host="h",tm_id="tm1",job_name="WordCount",task_name="Map",subtask_index="1"}"#);
        check(&r, "h.taskmanager.tm1.WordCount.Map.1.KafkaSourceReader.topic.t.partition.0.currentOffset",
            r#"flink_taskmanager_job_task_operator_KafkaSourceReader_topic_t_partition_0_currentOffset{host="h",tm_id="tm1",job_name="WordCount",operator_name="Map",subtask_index="1"}"#);
        check(&r, "flink_taskmanager_Status_JVM_CPU_Load", "=");
        check(&r, "not.a.flink.scope", "not_a_flink_scope{}");
    }

    #[test]
    #[rustfmt::skip]
    fn single_presets_select_one_scope() {
        let r = renamer(&[Preset::FlinkJobmanagerJob], &[]);
        check(&r, "h.jobmanager.wc.numRestarts", r#"flink_jobmanager_job_numRestarts{host="h",job_name="wc"}"#);
        check(&r, "h.taskmanager.tm1.Status.JVM.CPU.Load", "h_taskmanager_tm1_Status_JVM_CPU_Load{}");
        let r = renamer(&[Preset::FlinkTask, Preset::FlinkTaskmanager], &[]);
        check(&r, "h.taskmanager.tm1.Status.JVM.CPU.Load", r#"flink_taskmanager_Status_JVM_CPU_Load{host="h",tm_id="tm1"}"#);
        check(&r, "h.taskmanager.tm1.wc.Map.0.idleTimeMsPerSecond", r#"flink_taskmanager_job_task_idleTimeMsPerSecond{host="h",tm_id="tm1",job_name="wc",task_name="Map",subtask_index="0"}"#);
        check(&r, "h.taskmanager.tm1.wc.Map.0.numRecordsIn", "h_taskmanager_tm1_wc_Map_0_numRecordsIn{}");
    }

    #[test]
    #[rustfmt::skip]
    fn presets_follow_the_scope_delimiter() {
        let spec = RenameSpec { scope_delimiter: Some("/".into()), presets: vec![Preset::FlinkDefaultScopes], rules: vec![] };
        let r = Renamer::new(&spec, '.').expect("valid");
        check(&r, "h.local/taskmanager/tm1/wc/Map/0/numRecordsOut",
            r#"flink_taskmanager_job_task_operator_numRecordsOut{host="h.local",tm_id="tm1",job_name="wc",operator_name="Map",subtask_index="0"}"#);
    }

    #[test]
    #[rustfmt::skip]
    fn rules_come_before_presets_and_unused_captures_become_labels() {
        let r = renamer(&[Preset::FlinkDefaultScopes], &[
            (r"^flink_taskmanager_job_task_operator_(.*)$", "flink_op_$1"),
            (r"^(?P<host>[^.]+)\.taskmanager\.(?P<tm_id>[^.]+)\.(?P<job_name>[^.]+)\.(?P<operator_name>[^.]+)\.(?P<subtask_index>\d+)\.(?P<metric>.+)$", "op_${metric}_total"),
            (r"^x(?P<n>\d*)$", "$n"),
        ]);
        check(&r, "flink_taskmanager_job_task_operator_numRecordsIn", "flink_op_numRecordsIn{}");
        check(&r, "h.taskmanager.tm.wc.Map.0.a.b", r#"op_a_b_total{host="h",tm_id="tm",job_name="wc",operator_name="Map",subtask_index="0"}"#);
        check(&r, "x12", "_12{}");
        // An empty output means the rule does not apply.
        check(&r, "x", "=");
    }

    #[test]
    fn bad_rules_are_clear_errors() {
        let err = |matcher: &str, name: &str| {
            let spec = RenameSpec {
                rules: vec![RuleSpec {
                    matcher: matcher.into(),
                    name: name.into(),
                }],
                ..RenameSpec::default()
            };
            Renamer::new(&spec, '.')
                .expect_err("invalid rule")
                .to_string()
        };
        assert!(err("(", "a").starts_with("rules[0]: invalid match regex"));
        assert!(err("(?P<m>.*)", "${x}").contains("no capture group \"x\""));
        assert!(err("(.*)", "a$2").contains("no capture group \"2\""));
        assert!(err("(.*)", "a$").contains("must be followed by"));
        assert!(err("(.*)", "a${1").contains("unclosed"));
        assert!(err("(.*)", "a.$1").contains("'.' is not valid in a metric name"));
        assert!(err("(.*)", "1a").contains("cannot start with a digit"));
        assert!(err("(.*)", "").contains("empty"));
        assert!(err("(?P<__x>.*)", "a").contains("reserved"));
        assert!(err("(?P<le>.*)", "a").contains("reserve it"));
        let spec = RenameSpec {
            scope_delimiter: Some("ab".into()),
            ..RenameSpec::default()
        };
        assert!(matches!(
            Renamer::new(&spec, '.'),
            Err(RenameConfigError::Delimiter(_))
        ));
        assert_eq!(parse_delimiter("."), Some('.'));
        assert_eq!(parse_delimiter("a"), None);
        assert_eq!(parse_delimiter(""), None);
    }

    fn gauge<'a>(name: &'a str, labels: &[(&'a str, &'a str)]) -> Family<'a> {
        Family {
            name: Cow::Borrowed(name),
            help: None,
            kind: MetricType::Gauge,
            metrics: vec![Metric {
                labels: labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: Cow::Borrowed(n),
                        value: Cow::Borrowed(v),
                    })
                    .collect(),
                value: Value::Scalar(1.0),
                timestamp_ms: None,
                label_block: None,
            }],
        }
    }

    fn show(families: &[Family<'_>]) -> Vec<String> {
        families
            .iter()
            .flat_map(|f| {
                f.metrics.iter().map(move |m| {
                    let labels: Vec<String> = m
                        .labels
                        .iter()
                        .map(|l| format!("{}={}", l.name, l.value))
                        .collect();
                    format!("{} {}{{{}}}", f.kind, f.name, labels.join(","))
                })
            })
            .collect()
    }

    #[test]
    fn plans_rename_merge_and_let_pushed_labels_win() {
        let r = renamer(&[Preset::FlinkDefaultScopes], &[]);
        let families = vec![
            gauge("h.jobmanager.a.numRestarts", &[("host", "pushed")]),
            gauge("h.jobmanager.b.numRestarts", &[("x.y", "1")]),
            gauge("ok", &[]),
        ];
        let plan = r.plan(&families);
        let out = plan.apply(families).expect("renames");
        assert_eq!(
            show(&out),
            [
                "gauge flink_jobmanager_job_numRestarts{host=pushed,job_name=a}",
                "gauge flink_jobmanager_job_numRestarts{x_y=1,host=h,job_name=b}",
                "gauge ok{}",
            ]
        );
        assert_eq!(r.cached_names(), 3);
    }

    #[test]
    fn renaming_forgets_the_label_block_of_series_whose_labels_change() {
        let r = renamer(&[], &[(r"^cap_(?P<kind>[a-z]+)$", "cap")]);
        let body = b"a{x=\"1\"} 1\nb{x=\"1\"} 2\n\
                     c{\"p.q\"=\"1\"} 3\nd{\"p.q\"=\"1\"} 4\ncap_one{x=\"1\"} 5\n";
        let families =
            crate::parse::text::parse_with(body, crate::parse::Names::Utf8).expect("parses");
        let block = |fs: &[Family<'_>], name: &str| {
            fs.iter()
                .find(|f| f.name == name)
                .map(|f| f.metrics[0].label_block)
                .expect("family present")
        };
        let kept = block(&families, "a");
        assert!(kept.is_some());
        assert_eq!(block(&families, "b"), kept);
        assert!(block(&families, "c").is_some());
        let plan = r.plan(&families);
        let out = plan.apply(families).expect("renames");
        // Untouched labels keep their block; sanitized and captured ones lose it.
        assert_eq!((block(&out, "a"), block(&out, "b")), (kept, kept));
        assert_eq!((block(&out, "c"), block(&out, "d")), (None, None));
        assert_eq!(block(&out, "cap"), None);
        assert_eq!(
            show(&out)[2..],
            [
                "untyped c{p_q=1}",
                "untyped d{p_q=1}",
                "untyped cap{x=1,kind=one}",
            ]
        );
    }

    #[test]
    fn plan_errors() {
        let r = renamer(&[], &[]);
        let apply = |families: Vec<Family<'static>>| {
            r.plan(&families)
                .apply(families)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let mut counter = gauge("a_b", &[]);
        counter.kind = MetricType::Counter;
        assert_eq!(
            apply(vec![gauge("a.b", &[]), counter]),
            Err(r#"metrics "a.b" (gauge) and "a_b" (counter) are both renamed to "a_b", but their types differ"#.into())
        );
        assert_eq!(
            apply(vec![gauge("m", &[("a.b", "1"), ("a_b", "2")])]),
            Err(r#"metric "m" has two labels named "a_b" once renamed"#.into())
        );
        assert_eq!(
            apply(vec![gauge("m", &[("_.x", "1")])]),
            Err(r#"label name "_.x" of metric "m" is reserved once renamed to "__x""#.into())
        );
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_answers_right() {
        let r = renamer(&[Preset::FlinkDefaultScopes], &[]).with_cache_capacity(4);
        for round in 0..3 {
            for i in 0..10 {
                let raw = format!("h.taskmanager.tm{i}.Status.JVM.CPU.Load");
                let families = vec![gauge(&raw, &[])];
                let plan = r.plan(&families);
                let out = plan.apply(families).expect("renames");
                assert_eq!(
                    show(&out),
                    [format!(
                        "gauge flink_taskmanager_Status_JVM_CPU_Load{{host=h,tm_id=tm{i}}}"
                    )],
                    "round {round}"
                );
                assert!(r.cached_names() <= 4);
            }
        }
        // Without rules, classic names are never looked up or cached.
        let plain = renamer(&[], &[]);
        let families = vec![gauge("ok", &[])];
        let _plan = plain.plan(&families);
        assert_eq!(plain.cached_names(), 0);
    }
}
