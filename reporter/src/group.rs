//! Metric groups, the registry, and Flink's naming.
//!
//! Owns: the scope tree (`taskmanager` -> `job` -> `task` -> `operator`, `jobmanager` -> `job`,
//! user groups and key/value groups), each group's variables (`<host>`, `<tm_id>`, ...), the
//! registry of exported metrics grouped into families, and the names Flink's Prometheus
//! reporter derives from them:
//! - family name: `flink_` + logical scope joined by `_` + metric name, every character outside
//!   `[a-zA-Z0-9:_]` replaced by `_` (`flink_taskmanager_job_task_operator_numRecordsIn`);
//! - help: `<metric name> (scope: <logical scope joined by _>)`;
//! - labels: the group's variables without the angle brackets, in the iteration order of the
//!   Java `HashMap` Flink keeps them in, values filtered like names unless
//!   [`RegistryConfig::filter_label_value_characters`] is off.
//!
//! The scope delimiter ([`RegistryConfig::delimiter`], Flink's `metrics.scope.delimiter`) and
//! the scope formats shape [`MetricGroup::metric_identifier`], the name non-Prometheus
//! reporters use; Prometheus names always join with `_`, as in Flink.
//!
//! Does not own: the text format ([`crate::text`]) or pushing ([`crate::push`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::java::hashmap_order;
use crate::metrics::{Counter, Gauge, Histogram, Meter};
use crate::text::{filter_characters, Labels, MetricType, TextWriter};

/// Flink's default scope formats (`metrics.scope.*`). A format is split on `.`; `<var>`
/// components are replaced by the group's variable and a leading `*` stands for the parent's
/// scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeFormats {
    /// `metrics.scope.jm`.
    pub jobmanager: String,
    /// `metrics.scope.jm-job` (Flink 2: `metrics.scope.jm.job`).
    pub jobmanager_job: String,
    /// `metrics.scope.jm-operator`.
    pub jobmanager_operator: String,
    /// `metrics.scope.tm`.
    pub taskmanager: String,
    /// `metrics.scope.tm-job`.
    pub taskmanager_job: String,
    /// `metrics.scope.task`.
    pub task: String,
    /// `metrics.scope.operator`.
    pub operator: String,
}

impl Default for ScopeFormats {
    fn default() -> Self {
        Self {
            jobmanager: "<host>.jobmanager".into(),
            jobmanager_job: "<host>.jobmanager.<job_name>".into(),
            jobmanager_operator: "<host>.jobmanager.<job_name>.<operator_name>".into(),
            taskmanager: "<host>.taskmanager.<tm_id>".into(),
            taskmanager_job: "<host>.taskmanager.<tm_id>.<job_name>".into(),
            task: "<host>.taskmanager.<tm_id>.<job_name>.<task_name>.<subtask_index>".into(),
            operator: "<host>.taskmanager.<tm_id>.<job_name>.<operator_name>.<subtask_index>"
                .into(),
        }
    }
}

/// Registry-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `metrics.scope.delimiter`, default `.`.
    pub delimiter: char,
    /// The reporter's `filterLabelValueCharacters`, default `true`: label values go through the
    /// same filter as names (`custom value` -> `custom_value`). With `false` they are sent raw
    /// (escaped).
    pub filter_label_value_characters: bool,
    /// Scope formats for [`MetricGroup::metric_identifier`].
    pub scope_formats: ScopeFormats,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            delimiter: '.',
            filter_label_value_characters: true,
            scope_formats: ScopeFormats::default(),
        }
    }
}

/// A registered metric, as the registry sees it.
#[derive(Debug, Clone)]
pub enum Metric {
    /// Exported as a gauge with the count.
    Counter(Counter),
    /// Exported as a gauge.
    Gauge(Gauge),
    /// Exported as a gauge with the rate.
    Meter(Meter),
    /// Exported as a summary.
    Histogram(Histogram),
}

impl Metric {
    fn kind(&self) -> MetricType {
        match self {
            Self::Histogram(_) => MetricType::Summary,
            _ => MetricType::Gauge,
        }
    }

    fn samples(&self) -> usize {
        match self {
            Self::Histogram(_) => 7,
            _ => 1,
        }
    }
}

/// All metrics of a process (one JobManager or TaskManager), grouped into families for export.
/// Cheap to clone; every clone sees the same metrics.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

#[derive(Debug)]
struct RegistryInner {
    config: RegistryConfig,
    // One Mutex over all families: registration is rare and rendering takes it once per push;
    // metric updates never take it (they go to the metric handles).
    families: Mutex<Families>,
    meters: Mutex<Vec<(Arc<GroupScope>, Meter)>>,
    next_group_id: AtomicU64,
}

#[derive(Debug, Default)]
struct Families {
    index: HashMap<String, usize>,
    list: Vec<Family>,
}

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: MetricType,
    series: Vec<Series>,
}

#[derive(Debug)]
struct Series {
    scope: Arc<GroupScope>,
    metric: Metric,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry with the default configuration.
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(RegistryConfig::default())
    }

    /// An empty registry.
    #[must_use]
    pub fn with_config(config: RegistryConfig) -> Self {
        Self {
            inner: Arc::new(RegistryInner {
                config,
                families: Mutex::new(Families::default()),
                meters: Mutex::new(Vec::new()),
                next_group_id: AtomicU64::new(1),
            }),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// The root group of a TaskManager: logical scope `taskmanager`, variables `<host>` and
    /// `<tm_id>`.
    #[must_use]
    pub fn taskmanager(&self, host: &str, tm_id: &str) -> MetricGroup {
        let format = self.inner.config.scope_formats.taskmanager.clone();
        self.root("taskmanager", &format, &[("host", host), ("tm_id", tm_id)])
    }

    /// The root group of a JobManager: logical scope `jobmanager`, variable `<host>`.
    #[must_use]
    pub fn jobmanager(&self, host: &str) -> MetricGroup {
        let format = self.inner.config.scope_formats.jobmanager.clone();
        self.root("jobmanager", &format, &[("host", host)])
    }

    /// Any root group: `logical_name` starts the logical scope, `format` gives the identifier
    /// scope (see [`ScopeFormats`]), `variables` are (name without brackets, value).
    #[must_use]
    pub fn root(
        &self,
        logical_name: &str,
        format: &str,
        variables: &[(&str, &str)],
    ) -> MetricGroup {
        let scope = GroupScope::new(self, None, logical_name, format, variables);
        MetricGroup {
            registry: self.clone(),
            scope,
        }
    }

    /// Runs Flink's view updater once: every registered [`Meter`] takes a sample. The push loop
    /// calls this every 5 s.
    pub fn update_views(&self) {
        let meters: Vec<Meter> = {
            let meters = self
                .inner
                .meters
                .lock()
                .expect("meters lock never poisoned");
            meters.iter().map(|(_, m)| m.clone()).collect()
        };
        for meter in meters {
            meter.update();
        }
    }

    /// Appends the whole registry in Flink's text format.
    pub fn render(&self, out: &mut Vec<u8>) {
        let families = self.families();
        let mut w = TextWriter::new(out);
        for family in &families.list {
            w.family(&family.name, &family.help, family.kind);
            for series in &family.series {
                write_series(&mut w, &family.name, series);
            }
        }
    }

    /// The registry in Flink's text format.
    #[must_use]
    pub fn render_to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.series_count() * 400);
        self.render(&mut out);
        out
    }

    /// Sample lines a render writes (a histogram counts 7).
    #[must_use]
    pub fn series_count(&self) -> usize {
        let families = self.families();
        families
            .list
            .iter()
            .flat_map(|f| &f.series)
            .map(|s| s.metric.samples())
            .sum()
    }

    /// Families a render writes.
    #[must_use]
    pub fn family_count(&self) -> usize {
        self.families().list.len()
    }

    fn families(&self) -> MutexGuard<'_, Families> {
        self.inner
            .families
            .lock()
            .expect("families lock never poisoned")
    }

    fn register(&self, scope: &Arc<GroupScope>, name: &str, metric: Metric) {
        if scope.is_closed() {
            return;
        }
        {
            let mut names = scope.names.lock().expect("names lock never poisoned");
            // Flink: "Name collision: Group already contains a Metric with the name ...": the
            // second metric is not registered.
            if !names.insert(name.to_owned()) {
                return;
            }
        }
        if let Metric::Meter(m) = &metric {
            self.inner
                .meters
                .lock()
                .expect("meters lock never poisoned")
                .push((Arc::clone(scope), m.clone()));
        }
        let family_name = format!(
            "flink_{}_{}",
            scope.prometheus_scope,
            filter_characters(name)
        );
        let mut families = self.families();
        let families = &mut *families;
        let idx = *families.index.entry(family_name).or_insert_with_key(|key| {
            families.list.push(Family {
                name: key.clone(),
                help: format!("{name} (scope: {})", scope.prometheus_scope),
                kind: metric.kind(),
                series: Vec::new(),
            });
            families.list.len() - 1
        });
        families.list[idx].series.push(Series {
            scope: Arc::clone(scope),
            metric,
        });
    }

    /// Drops every series registered under `closed` or its descendants; families left empty go
    /// too (Flink unregisters a collector when its last child goes).
    fn unregister_subtree(&self, closed: &GroupScope) {
        let mut families = self.families();
        for family in &mut families.list {
            family.series.retain(|s| !s.scope.is_within(closed.id));
        }
        families.list.retain(|f| !f.series.is_empty());
        let index = families
            .list
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        families.index = index;
        drop(families);
        self.inner
            .meters
            .lock()
            .expect("meters lock never poisoned")
            .retain(|(scope, _)| !scope.is_within(closed.id));
    }
}

fn write_series(w: &mut TextWriter<'_>, name: &str, series: &Series) {
    let labels = &series.scope.labels;
    match &series.metric {
        #[allow(clippy::cast_precision_loss, reason = "Java's (double) cast of a long")]
        Metric::Counter(c) => w.sample(name, labels, c.count() as f64),
        Metric::Gauge(g) => w.sample(name, labels, g.value()),
        Metric::Meter(m) => w.sample(name, labels, m.rate()),
        Metric::Histogram(h) => {
            let stats = h.statistics();
            #[allow(clippy::cast_precision_loss, reason = "Java's (double) cast of a long")]
            let count = h.count() as f64;
            w.flink_summary(name, labels, count, |q| stats.quantile(q));
        }
    }
}

/// One node of the scope tree, shared by the group handles and the series registered in it.
#[derive(Debug)]
struct GroupScope {
    id: u64,
    parent: Option<Arc<GroupScope>>,
    /// Logical scope components, filtered (`["taskmanager", "job", "task"]`).
    logical: Vec<String>,
    /// Logical scope joined with `_`: the middle of every family name.
    prometheus_scope: String,
    /// Identifier scope components, raw (`["localhost", "taskmanager", "tm-1"]`).
    identifier: Vec<String>,
    /// All variables as `(<name>, value)` in Java `HashMap` order.
    variables: Vec<(String, String)>,
    /// The variables as labels, rendered once for every series of the group.
    labels: Labels,
    names: Mutex<HashSet<String>>,
    children: Mutex<HashMap<String, Arc<GroupScope>>>,
    closed: AtomicBool,
}

impl GroupScope {
    fn new(
        registry: &Registry,
        parent: Option<&Arc<GroupScope>>,
        logical_name: &str,
        format: &str,
        own: &[(&str, &str)],
    ) -> Arc<Self> {
        let mut logical = parent.map(|p| p.logical.clone()).unwrap_or_default();
        logical.push(filter_characters(logical_name));
        let variables = merge_variables(own, parent.map(|p| p.variables.as_slice()));
        let identifier = apply_format(format, parent.map(|p| p.identifier.as_slice()), &variables);
        let filter_values = registry.inner.config.filter_label_value_characters;
        let labels = Labels::new(variables.iter().map(|(k, v)| {
            let name = filter_characters(k.trim_start_matches('<').trim_end_matches('>'));
            let value = if filter_values {
                filter_characters(v)
            } else {
                v.clone()
            };
            (name, value)
        }));
        Arc::new(Self {
            id: registry.inner.next_group_id.fetch_add(1, Ordering::Relaxed),
            parent: parent.cloned(),
            prometheus_scope: logical.join("_"),
            logical,
            identifier,
            variables,
            labels,
            names: Mutex::new(HashSet::new()),
            children: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        })
    }

    fn is_closed(&self) -> bool {
        let mut node = Some(self);
        while let Some(n) = node {
            if n.closed.load(Ordering::Acquire) {
                return true;
            }
            node = n.parent.as_deref();
        }
        false
    }

    fn is_within(&self, ancestor: u64) -> bool {
        let mut node = Some(self);
        while let Some(n) = node {
            if n.id == ancestor {
                return true;
            }
            node = n.parent.as_deref();
        }
        false
    }
}

/// Flink's `getAllVariables`: a `HashMap` filled with the group's own variables, then
/// `putAll(parent.getAllVariables())` (a parent's value wins on a clash, the key keeps its
/// place); the result is in the map's iteration order.
fn merge_variables(
    own: &[(&str, &str)],
    parent: Option<&[(String, String)]>,
) -> Vec<(String, String)> {
    let mut inserted: Vec<(String, String)> = own
        .iter()
        .map(|(k, v)| (format!("<{k}>"), (*v).to_owned()))
        .collect();
    for (k, v) in parent.unwrap_or_default() {
        match inserted.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1.clone_from(v),
            None => inserted.push((k.clone(), v.clone())),
        }
    }
    let keys: Vec<&str> = inserted.iter().map(|(k, _)| k.as_str()).collect();
    hashmap_order(&keys)
        .into_iter()
        .map(|i| inserted[i].clone())
        .collect()
}

/// Expands a scope format (`<host>.taskmanager.<tm_id>`, or `*.name` to extend the parent).
fn apply_format(
    format: &str,
    parent: Option<&[String]>,
    variables: &[(String, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, component) in format.split('.').enumerate() {
        if i == 0 && component == "*" {
            out.extend(parent.unwrap_or_default().iter().cloned());
            continue;
        }
        let value = variables
            .iter()
            .find(|(k, _)| k == component)
            .map_or(component, |(_, v)| v.as_str());
        out.push(value.to_owned());
    }
    out
}

/// The ids and names of one subtask attempt, for [`MetricGroup::task`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// `<task_id>`: the job vertex id (32 hex).
    pub task_id: String,
    /// `<task_attempt_id>`: the execution attempt id.
    pub task_attempt_id: String,
    /// `<task_name>`: the chained operator names (`Source: Kafka -> Map`).
    pub task_name: String,
    /// `<subtask_index>`.
    pub subtask_index: u32,
    /// `<task_attempt_num>`.
    pub attempt_number: u32,
}

/// A handle on one group of the scope tree: registers metrics and creates subgroups.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetricGroup {
    registry: Registry,
    scope: Arc<GroupScope>,
}

impl MetricGroup {
    /// Registers and returns a new counter.
    pub fn counter(&self, name: &str) -> Counter {
        self.register_counter(name, Counter::new())
    }

    /// Registers `counter` (e.g. one shared with a [`Meter`]).
    pub fn register_counter(&self, name: &str, counter: Counter) -> Counter {
        self.registry
            .register(&self.scope, name, Metric::Counter(counter.clone()));
        counter
    }

    /// Registers a gauge that calls `f` at every report.
    pub fn gauge(&self, name: &str, f: impl Fn() -> f64 + Send + Sync + 'static) -> Gauge {
        self.register_gauge(name, Gauge::from_fn(f))
    }

    /// Registers a settable gauge at `0.0`.
    pub fn value_gauge(&self, name: &str) -> Gauge {
        self.register_gauge(name, Gauge::new())
    }

    /// Registers `gauge`.
    pub fn register_gauge(&self, name: &str, gauge: Gauge) -> Gauge {
        self.registry
            .register(&self.scope, name, Metric::Gauge(gauge.clone()));
        gauge
    }

    /// Registers `meter`; the registry's view updater keeps its rate current.
    pub fn meter(&self, name: &str, meter: Meter) -> Meter {
        self.registry
            .register(&self.scope, name, Metric::Meter(meter.clone()));
        meter
    }

    /// Registers `histogram`.
    pub fn histogram(&self, name: &str, histogram: Histogram) -> Histogram {
        self.registry
            .register(&self.scope, name, Metric::Histogram(histogram.clone()));
        histogram
    }

    /// A user subgroup (`addGroup(name)`): extends the logical scope and the identifier.
    #[must_use]
    pub fn add_group(&self, name: &str) -> MetricGroup {
        self.child_cached(&format!("g:{name}"), name, &format!("*.{name}"), &[])
    }

    /// A key/value subgroup (`addGroup(key, value)`): `key` extends the logical scope,
    /// `key.value` the identifier, and `<key>` = `value` becomes a label.
    #[must_use]
    pub fn add_group_kv(&self, key: &str, value: &str) -> MetricGroup {
        let format = format!("*.{key}.<{key}>");
        self.child_cached(
            &format!("kv:{key}\u{0}{value}"),
            key,
            &format,
            &[(key, value)],
        )
    }

    /// A job's group under a TaskManager or JobManager: logical `job`, variables `<job_id>`,
    /// `<job_name>`.
    #[must_use]
    pub fn job(&self, job_id: &str, job_name: &str) -> MetricGroup {
        let formats = &self.registry.inner.config.scope_formats;
        let format = if self
            .scope
            .logical
            .first()
            .is_some_and(|s| s == "jobmanager")
        {
            formats.jobmanager_job.clone()
        } else {
            formats.taskmanager_job.clone()
        };
        let vars = [("job_id", job_id), ("job_name", job_name)];
        self.child_cached(&format!("job:{job_id}"), "job", &format, &vars)
    }

    /// A subtask's group under a TaskManager job: logical `task`.
    #[must_use]
    pub fn task(&self, info: &TaskInfo) -> MetricGroup {
        let subtask = info.subtask_index.to_string();
        let attempt = info.attempt_number.to_string();
        let vars = [
            ("task_id", info.task_id.as_str()),
            ("task_attempt_id", info.task_attempt_id.as_str()),
            ("task_name", info.task_name.as_str()),
            ("subtask_index", subtask.as_str()),
            ("task_attempt_num", attempt.as_str()),
        ];
        let format = self.registry.inner.config.scope_formats.task.clone();
        let key = format!("task:{}", info.task_attempt_id);
        self.child_cached(&key, "task", &format, &vars)
    }

    /// An operator's group under a task: logical `operator`, variables `<operator_id>`,
    /// `<operator_name>`.
    #[must_use]
    pub fn operator(&self, operator_id: &str, operator_name: &str) -> MetricGroup {
        let vars = [
            ("operator_id", operator_id),
            ("operator_name", operator_name),
        ];
        let format = self.registry.inner.config.scope_formats.operator.clone();
        self.child_cached(&format!("op:{operator_id}"), "operator", &format, &vars)
    }

    /// An operator coordinator's group under a JobManager job (Flink 2): logical `operator`,
    /// variables `<task_id>`, `<task_name>`, `<operator_id>`, `<operator_name>`.
    #[must_use]
    pub fn jobmanager_operator(
        &self,
        task_id: &str,
        task_name: &str,
        operator_id: &str,
        operator_name: &str,
    ) -> MetricGroup {
        let vars = [
            ("task_id", task_id),
            ("task_name", task_name),
            ("operator_id", operator_id),
            ("operator_name", operator_name),
        ];
        let format = self
            .registry
            .inner
            .config
            .scope_formats
            .jobmanager_operator
            .clone();
        self.child_cached(&format!("jmop:{operator_id}"), "operator", &format, &vars)
    }

    /// Any subgroup; see [`Registry::root`]. Creating the same `(logical_name, variables)`
    /// twice gives two groups; prefer the typed constructors, which return the existing one.
    #[must_use]
    pub fn child(
        &self,
        logical_name: &str,
        format: &str,
        variables: &[(&str, &str)],
    ) -> MetricGroup {
        MetricGroup {
            registry: self.registry.clone(),
            scope: GroupScope::new(
                &self.registry,
                Some(&self.scope),
                logical_name,
                format,
                variables,
            ),
        }
    }

    fn child_cached(
        &self,
        key: &str,
        logical_name: &str,
        format: &str,
        variables: &[(&str, &str)],
    ) -> MetricGroup {
        let mut children = self
            .scope
            .children
            .lock()
            .expect("children lock never poisoned");
        let scope = children
            .entry(key.to_owned())
            .or_insert_with(|| {
                GroupScope::new(
                    &self.registry,
                    Some(&self.scope),
                    logical_name,
                    format,
                    variables,
                )
            })
            .clone();
        MetricGroup {
            registry: self.registry.clone(),
            scope,
        }
    }

    /// The logical scope joined with the configured delimiter (`taskmanager.job.task`).
    #[must_use]
    pub fn logical_scope(&self) -> String {
        let delimiter = self.registry.inner.config.delimiter.to_string();
        self.scope.logical.join(&delimiter)
    }

    /// The identifier scope components (`["localhost", "taskmanager", "tm-1"]`).
    #[must_use]
    pub fn scope_components(&self) -> &[String] {
        &self.scope.identifier
    }

    /// Flink's `getMetricIdentifier(name)`: scope components and `name` joined with the
    /// delimiter (`localhost.taskmanager.tm-1.numRecordsIn`).
    #[must_use]
    pub fn metric_identifier(&self, name: &str) -> String {
        let delimiter = self.registry.inner.config.delimiter.to_string();
        let mut parts: Vec<&str> = self.scope.identifier.iter().map(String::as_str).collect();
        parts.push(name);
        parts.join(&delimiter)
    }

    /// The Prometheus family name a metric `name` registered here gets.
    #[must_use]
    pub fn prometheus_name(&self, name: &str) -> String {
        format!(
            "flink_{}_{}",
            self.scope.prometheus_scope,
            filter_characters(name)
        )
    }

    /// All variables (`<host>`, ...) with their raw values, in Flink's label order.
    #[must_use]
    pub fn all_variables(&self) -> &[(String, String)] {
        &self.scope.variables
    }

    /// The rendered label set every metric of this group carries.
    #[must_use]
    pub fn labels(&self) -> &Labels {
        &self.scope.labels
    }

    /// Closes the group (a task finished, an operator was disposed): its metrics and those of
    /// its subgroups stop being exported and later registrations are ignored.
    pub fn close(&self) {
        self.scope.closed.store(true, Ordering::Release);
        self.registry.unregister_subtree(&self.scope);
    }
}
