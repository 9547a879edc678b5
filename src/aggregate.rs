//! Rollups: low-cardinality aggregates of the store, for a Prometheus that does not want every
//! subtask's series.
//!
//! Owns: rollup rules (a metric-name regex, a function — sum, max, min, avg or count — and the
//! labels to keep, `PromQL`'s `by`), the built-in Flink rules ([`flink_defaults`]), evaluating
//! them over a snapshot ([`Aggregator::evaluate`]) and the per-generation cache behind
//! `GET <prefix>/metrics/aggregated` ([`Aggregator::render`]).
//! Does not own: loading rules from the config file (`config_file`) or HTTP.
//!
//! Data enters as a store snapshot and leaves as gauge families (the same `StoredFamily` type
//! the gateway's own metrics use, so the normal renderer writes them). Counters and gauges
//! contribute their value; summaries contribute one value per quantile (the `quantile` label
//! can be kept with `by`); histograms and NaN values are skipped. An unchanged store (same
//! generation) is never evaluated twice.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use regex::Regex;
use serde::Deserialize;

use crate::model::{MetricType, Value};
use crate::store::group::{Series, StoredFamily, Str};
use crate::store::Snapshot;

/// How a rollup combines values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// Sum of the values.
    Sum,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
    /// Arithmetic mean.
    Avg,
    /// Number of series.
    Count,
}

impl Function {
    fn as_str(self) -> &'static str {
        match self {
            Function::Sum => "sum",
            Function::Max => "max",
            Function::Min => "min",
            Function::Avg => "avg",
            Function::Count => "count",
        }
    }
}

/// One rollup rule as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name of the output family.
    pub name: String,
    /// Regex (anchored by the writer: use `^...$`) on metric family names.
    #[serde(rename = "match")]
    pub matcher: String,
    /// The aggregation.
    pub function: Function,
    /// Labels kept in the output (all others are aggregated away).
    #[serde(default)]
    pub by: Vec<String>,
}

/// The `aggregate:` section of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    /// Include the built-in Flink rules ([`flink_defaults`]).
    #[serde(default = "yes")]
    pub defaults: bool,
    /// Also append the rollups to `/metrics`.
    #[serde(default)]
    pub append_to_metrics: bool,
    /// Extra rules, evaluated after the defaults.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

fn yes() -> bool {
    true
}

impl Default for AggregateSpec {
    fn default() -> Self {
        AggregateSpec {
            defaults: true,
            append_to_metrics: false,
            rules: Vec::new(),
        }
    }
}

/// Why rollup rules are unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// Occurs when a rule's `match` is not a valid regex.
    #[error("rollup rule {name:?}: invalid match regex: {source}")]
    Regex {
        /// The rule.
        name: String,
        /// The regex error.
        source: regex::Error,
    },
    /// Occurs when a rule's output name is not a valid metric name.
    #[error("rollup rule {0:?}: name is not a valid metric name")]
    Name(String),
    /// Occurs when a `by` entry is not a valid label name.
    #[error("rollup rule {name:?}: {label:?} in `by` is not a valid label name")]
    Label {
        /// The rule.
        name: String,
        /// The label.
        label: String,
    },
}

/// The built-in Flink rollups: record rates per job and operator summed over subtasks, the
/// worst busy and back-pressured time per job and task, the worst Kafka consumer lag per job,
/// and the worst latency-marker quantiles per job.
#[must_use]
pub fn flink_defaults() -> Vec<RuleSpec> {
    let rule = |name: &str, matcher: &str, function, by: &[&str]| RuleSpec {
        name: name.to_owned(),
        matcher: matcher.to_owned(),
        function,
        by: by.iter().map(|s| (*s).to_owned()).collect(),
    };
    let op = ["job", "job_name", "operator_name"];
    let task = ["job", "job_name", "task_name"];
    vec![
        rule(
            "flink_job_operator_records_in_per_second",
            "^flink_taskmanager_job_task_operator_numRecordsInPerSecond$",
            Function::Sum,
            &op,
        ),
        rule(
            "flink_job_operator_records_out_per_second",
            "^flink_taskmanager_job_task_operator_numRecordsOutPerSecond$",
            Function::Sum,
            &op,
        ),
        rule(
            "flink_job_task_busy_time_ms_per_second_max",
            "^flink_taskmanager_job_task_busyTimeMsPerSecond$",
            Function::Max,
            &task,
        ),
        rule(
            "flink_job_task_back_pressured_time_ms_per_second_max",
            "^flink_taskmanager_job_task_backPressuredTimeMsPerSecond$",
            Function::Max,
            &task,
        ),
        rule(
            "flink_job_kafka_records_lag_max",
            "^flink_taskmanager_job_task_operator_.*records_lag_max$",
            Function::Max,
            &["job", "job_name"],
        ),
        rule(
            "flink_job_latency_max",
            "^flink_taskmanager_job_(task_)?latency_source_id_.*_latency$",
            Function::Max,
            &["job", "job_name", "quantile"],
        ),
    ]
}

struct Rule {
    name: Str,
    help: Str,
    matcher: Regex,
    function: Function,
    by: Vec<String>,
}

/// Evaluates rollup rules, caching the rendered result per store generation.
pub struct Aggregator {
    rules: Vec<Rule>,
    /// Whether `/metrics` also carries the rollups.
    pub append_to_metrics: bool,
    cache: Mutex<Option<Cached>>,
}

/// Generation, evaluated families, rendered text.
type Cached = (u64, Arc<Vec<StoredFamily>>, Bytes);

impl std::fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregator")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl Aggregator {
    /// Compiles the rules of `spec`.
    ///
    /// # Errors
    /// [`AggregateError`] for a bad regex, output name or label.
    pub fn new(spec: &AggregateSpec) -> Result<Aggregator, AggregateError> {
        let specs = if spec.defaults {
            flink_defaults()
        } else {
            Vec::new()
        };
        let rules = specs
            .iter()
            .chain(&spec.rules)
            .map(compile)
            .collect::<Result<_, _>>()?;
        Ok(Aggregator {
            rules,
            append_to_metrics: spec.append_to_metrics,
            cache: Mutex::new(None),
        })
    }

    /// The rollup families of `snapshot`, evaluated once per generation.
    pub fn families(&self, snapshot: &Snapshot) -> Arc<Vec<StoredFamily>> {
        self.cached(snapshot).0
    }

    /// The rollups of `snapshot` in the text format, rendered once per generation.
    pub fn render(&self, snapshot: &Snapshot) -> Bytes {
        self.cached(snapshot).1
    }

    fn cached(&self, snapshot: &Snapshot) -> (Arc<Vec<StoredFamily>>, Bytes) {
        let mut slot = self
            .cache
            .lock()
            .expect("aggregate cache lock is never poisoned");
        if let Some((generation, families, bytes)) = slot.as_ref() {
            if *generation == snapshot.generation {
                return (families.clone(), bytes.clone());
            }
        }
        let families = Arc::new(self.evaluate(snapshot));
        let empty = Snapshot {
            generation: snapshot.generation,
            groups: Vec::new(),
        };
        let parts = crate::render::assemble(&[], &empty, &families);
        let bytes = Bytes::from(parts.concat());
        *slot = Some((snapshot.generation, families.clone(), bytes.clone()));
        (families, bytes)
    }

    /// Evaluates every rule over `snapshot` (no caching).
    #[must_use]
    pub fn evaluate(&self, snapshot: &Snapshot) -> Vec<StoredFamily> {
        self.rules
            .iter()
            .map(|r| evaluate_rule(r, snapshot))
            .filter(|f| !f.series.is_empty())
            .collect()
    }
}

fn compile(spec: &RuleSpec) -> Result<Rule, AggregateError> {
    if !crate::model::is_valid_metric_name(&spec.name) {
        return Err(AggregateError::Name(spec.name.clone()));
    }
    if let Some(label) = spec
        .by
        .iter()
        .find(|l| !crate::model::is_valid_label_name(l))
    {
        return Err(AggregateError::Label {
            name: spec.name.clone(),
            label: label.clone(),
        });
    }
    let matcher = Regex::new(&spec.matcher).map_err(|source| AggregateError::Regex {
        name: spec.name.clone(),
        source,
    })?;
    let help = format!(
        "pushgate rollup: {} of /{}/ by ({}).",
        spec.function.as_str(),
        spec.matcher,
        spec.by.join(", ")
    );
    Ok(Rule {
        name: spec.name.as_str().into(),
        help: help.into(),
        matcher,
        function: spec.function,
        by: spec.by.clone(),
    })
}

#[derive(Default)]
struct Acc {
    sum: f64,
    min: f64,
    max: f64,
    n: u64,
}

impl Acc {
    fn add(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        if self.n == 0 {
            (self.min, self.max) = (v, v);
        }
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.n += 1;
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "series counts are far below 2^52"
    )]
    fn result(&self, f: Function) -> f64 {
        match f {
            Function::Count => self.n as f64,
            _ if self.n == 0 => f64::NAN,
            Function::Sum => self.sum,
            Function::Max => self.max,
            Function::Min => self.min,
            Function::Avg => self.sum / self.n as f64,
        }
    }
}

fn evaluate_rule(rule: &Rule, snapshot: &Snapshot) -> StoredFamily {
    let mut groups: BTreeMap<Vec<(Str, Str)>, Acc> = BTreeMap::new();
    for g in &snapshot.groups {
        for f in g
            .families
            .values()
            .filter(|f| rule.matcher.is_match(&f.name))
        {
            for s in &f.series {
                for (quantile, v) in values(s) {
                    groups.entry(key(rule, s, quantile)).or_default().add(v);
                }
            }
        }
    }
    let series = groups
        .into_iter()
        .map(|(labels, acc)| Series {
            labels: labels.into(),
            value: Value::Scalar(acc.result(rule.function)),
        })
        .collect();
    StoredFamily::new(
        rule.name.clone(),
        Some(rule.help.clone()),
        MetricType::Gauge,
        series,
        0.0,
    )
}

/// The values one series contributes: its value, or one per quantile for summaries.
fn values(s: &Series) -> Vec<(Option<f64>, f64)> {
    match &s.value {
        Value::Scalar(v) => vec![(None, *v)],
        Value::Summary(sum) => sum.quantiles.iter().map(|&(q, v)| (Some(q), v)).collect(),
        Value::Histogram(_) => Vec::new(),
    }
}

/// The output labels of a series under `rule`: the `by` labels it has, sorted by name.
fn key(rule: &Rule, s: &Series, quantile: Option<f64>) -> Vec<(Str, Str)> {
    let mut out: Vec<(Str, Str)> = rule
        .by
        .iter()
        .filter_map(|l| {
            if l == "quantile" {
                let mut text = Vec::new();
                crate::render::text::write_float(&mut text, quantile?);
                return Some((
                    Str::from("quantile"),
                    Str::from(String::from_utf8_lossy(&text).as_ref()),
                ));
            }
            s.labels
                .iter()
                .find(|(n, v)| &**n == l && !v.is_empty())
                .cloned()
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_compile() {
        let a = Aggregator::new(&AggregateSpec::default()).expect("built-in rules are valid");
        assert_eq!(a.rules.len(), flink_defaults().len());
    }

    #[test]
    fn bad_rules_are_clear_errors() {
        let spec = |name: &str, matcher: &str, by: &[&str]| AggregateSpec {
            defaults: false,
            append_to_metrics: false,
            rules: vec![RuleSpec {
                name: name.into(),
                matcher: matcher.into(),
                function: Function::Sum,
                by: by.iter().map(|s| (*s).to_owned()).collect(),
            }],
        };
        assert!(matches!(
            Aggregator::new(&spec("ok", "(", &[])),
            Err(AggregateError::Regex { .. })
        ));
        assert!(matches!(
            Aggregator::new(&spec("1x", "a", &[])),
            Err(AggregateError::Name(_))
        ));
        assert!(matches!(
            Aggregator::new(&spec("ok", "a", &["a-b"])),
            Err(AggregateError::Label { .. })
        ));
    }

    #[test]
    fn functions_ignore_nan() {
        let mut acc = Acc::default();
        for v in [1.0, f64::NAN, 3.0] {
            acc.add(v);
        }
        let got = [
            Function::Sum,
            Function::Max,
            Function::Min,
            Function::Avg,
            Function::Count,
        ]
        .map(|f| acc.result(f).to_bits());
        assert_eq!(got, [4.0f64, 3.0, 1.0, 2.0, 2.0].map(f64::to_bits));
        assert!(Acc::default().result(Function::Max).is_nan());
    }
}
