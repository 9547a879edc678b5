//! Command-line configuration with the Go Pushgateway's flag names.
//!
//! Owns: the raw flags ([`Args`], clap derive) and their validation into the typed
//! [`Config`] the server runs with (ripgrep's low-level/high-level split). A bad value is a
//! [`ConfigError`] at start-up, never a panic.
//! Does not own: acting on the configuration.
//!
//! Tests build a [`Config`] directly (see [`Config::for_tests`]) and never touch the
//! environment.

use std::net::SocketAddr;

use clap::Parser;

use crate::telemetry::LogFormat;

/// Raw command-line flags. Names match the Go Pushgateway so existing deployments keep their
/// arguments.
#[derive(Debug, Clone, Parser)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent on/off flags, as on the Go gateway's command line"
)]
#[command(
    name = "pushgate",
    about = "A fast, Flink-aware drop-in replacement for the Prometheus Pushgateway"
)]
pub struct Args {
    /// Address to listen on for the web interface, API and telemetry (`:9091` = all interfaces).
    #[arg(long = "web.listen-address", default_value = ":9091")]
    pub listen_address: String,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    pub telemetry_path: String,
    /// The URL under which pushgate is externally reachable (its path is the default route prefix).
    #[arg(long = "web.external-url", default_value = "")]
    pub external_url: String,
    /// Prefix for the internal routes of web endpoints. Defaults to the path of --web.external-url.
    #[arg(long = "web.route-prefix", default_value = "")]
    pub route_prefix: String,
    /// Do not check consistency of pushed metrics. DANGEROUS.
    #[arg(long = "push.disable-consistency-check")]
    pub disable_consistency_check: bool,
    /// Largest accepted push body in bytes; larger pushes get 413.
    #[arg(long = "push.max-body-bytes", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest decompressed size in bytes of a gzip or snappy push body; larger pushes get 413.
    #[arg(long = "push.max-decompressed-bytes", default_value_t = 64 * 1024 * 1024)]
    pub max_decompressed_bytes: usize,
    /// Enable API endpoints for admin control actions (`PUT /api/v1/admin/wipe`).
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,
    /// Enable shutdown via HTTP request (`PUT|POST /-/quit`).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// Most series (metrics) one push may carry; more gets 413.
    #[arg(long = "push.max-series-per-push", default_value_t = 200_000)]
    pub max_series_per_push: usize,
    /// Most labels on one series, grouping labels included; more gets 400.
    #[arg(long = "push.max-labels-per-series", default_value_t = 64)]
    pub max_labels_per_series: usize,
    /// Longest metric or label name in bytes; longer gets 400.
    #[arg(long = "push.max-name-length", default_value_t = 1024)]
    pub max_name_length: usize,
    /// Longest label value in bytes; longer gets 400.
    #[arg(long = "push.max-label-value-length", default_value_t = 16 * 1024)]
    pub max_label_value_length: usize,
    /// Most groups in the store; a push creating one more gets 429.
    #[arg(long = "push.max-groups", default_value_t = 100_000)]
    pub max_groups: usize,
    /// Time allowed to receive a push body; slower gets 408.
    #[arg(long = "push.body-read-timeout", default_value = "60s")]
    pub body_read_timeout: String,
    /// Time allowed to send request headers, and to start the next request on a kept-alive
    /// connection (idle timeout); the connection is closed after it.
    #[arg(long = "web.header-read-timeout", default_value = "30s")]
    pub header_read_timeout: String,
    /// Most concurrent connections; further clients wait in the kernel's accept queue.
    #[arg(long = "web.max-connections", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Bytes of rendered series kept between scrapes (gzip segments first; uncompressed lines
    /// only while under a quarter of it); what does not fit is rendered per scrape. 0 keeps nothing.
    #[arg(long = "render.cache-bytes", default_value_t = 256 * 1024 * 1024)]
    pub render_cache_bytes: usize,
    /// A scrape whose client takes no bytes for this long is abandoned.
    #[arg(long = "web.scrape-stall-timeout", default_value = "60s")]
    pub scrape_stall_timeout: String,
    /// Path to a web config file (the Prometheus exporter-toolkit format) that can enable TLS,
    /// basic auth and extra response headers; empty for plain HTTP without auth.
    #[arg(long = "web.config.file", default_value = "")]
    pub web_config_file: String,
    /// Use the systemd socket-activation listener (file descriptor 3, `LISTEN_FDS`/`LISTEN_PID`)
    /// instead of --web.listen-address (Linux only).
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,
    /// Path to a static assets/templates directory for the web UI; empty for the built-in one.
    #[arg(long = "web.local-assets", default_value = "")]
    pub local_assets: String,
    /// Flink's random job-name suffix: `split` moves the 32-hex reporter id from `job` into a
    /// label (see --flink.reporter-id-label); `keep` is the Go gateway's behaviour.
    #[arg(long = "flink.job-suffix", value_enum, default_value = "split")]
    pub flink_job_suffix: crate::flink::SuffixMode,
    /// Label that receives Flink's reporter id when the suffix is split.
    #[arg(long = "flink.reporter-id-label", default_value = crate::flink::suffix::DEFAULT_REPORTER_ID_LABEL)]
    pub flink_reporter_id_label: String,
    /// Job name used when Flink's jobName is empty (the job is only the reporter id).
    #[arg(long = "flink.empty-job-name", default_value = "flink")]
    pub flink_empty_job_name: String,
    /// `+` in push paths: `auto` treats it as a space for Java clients (Flink form-encodes
    /// paths), `on` always, `off` never (the Go gateway keeps it literally).
    #[arg(long = "flink.path-decoding", value_enum, default_value = "auto")]
    pub flink_path_decoding: crate::flink::PathDecoding,
    /// A Flink reporter group that missed this many of its learned push intervals is removed.
    #[arg(long = "flink.missed-pushes", default_value_t = 3.0)]
    pub flink_missed_pushes: f64,
    /// After a DELETE of a Flink reporter group, PUTs to the same key are answered but not
    /// stored for this long (the reporter's last report racing its close).
    #[arg(long = "flink.delete-grace", default_value = "30s")]
    pub flink_delete_grace: String,
    /// Metric and label names outside the classic Prometheus alphabet (quoted UTF-8 names in
    /// text, any protobuf name): `on` renames them (see --flink.scope-delimiter) and applies the
    /// config file's rename rules; `off` refuses them with 400, as the Go gateway does.
    #[arg(long = "flink.rename", value_enum, default_value = "on")]
    pub flink_rename: crate::flink::rename::RenameMode,
    /// Flink's `metrics.scope.delimiter`: renaming turns it (and every character invalid in a
    /// name) into `_`; the rename presets split scopes on it.
    #[arg(long = "flink.scope-delimiter", default_value = ".")]
    pub flink_scope_delimiter: String,
    /// Derived Flink health signals (bottleneck, back-pressure level, suggested parallelism,
    /// source lag): `auto` is on unless --flink.job-suffix=keep, --flink.path-decoding=off and
    /// --flink.rename=off are all given (the Go-compatible mode).
    #[arg(long = "flink.signals", value_enum, default_value = "auto")]
    pub flink_signals: crate::flink::signals::SignalsMode,
    /// Time between two evaluations of the Flink signals.
    #[arg(long = "flink.signals.interval", default_value = "10s")]
    pub flink_signals_interval: String,
    /// Target utilisation for the suggested parallelism (the autoscaler's utilization.target).
    #[arg(long = "flink.signals.target-utilization", default_value_t = 0.7)]
    pub flink_signals_target_utilization: f64,
    /// Key groups (Flink's max parallelism) assumed when aligning suggested parallelism.
    #[arg(long = "flink.signals.key-groups", default_value_t = 128)]
    pub flink_signals_key_groups: u32,
    /// Time in which a source backlog should be caught up (the autoscaler's catch-up.duration).
    #[arg(long = "flink.signals.catch-up-duration", default_value = "30m")]
    pub flink_signals_catch_up: String,
    /// Expected restart time after rescaling (the autoscaler's restart.time).
    #[arg(long = "flink.signals.restart-time", default_value = "5m")]
    pub flink_signals_restart: String,
    /// Consecutive evaluations a new bottleneck answer needs before it is shown.
    #[arg(long = "flink.signals.hysteresis", default_value_t = 3)]
    pub flink_signals_hysteresis: u32,
    /// YAML file with rename rules and rollup rules (see the README); empty for none.
    #[arg(long = "config.file", default_value = "")]
    pub config_file: String,
    /// Remove any group not pushed for this long (e.g. 1h); empty or 0 disables.
    #[arg(long = "push.group-ttl", default_value = "")]
    pub group_ttl: String,
    /// File to persist metrics. If empty, metrics are only kept in memory.
    #[arg(long = "persistence.file", default_value = "")]
    pub persistence_file: String,
    /// The minimum interval at which to write out the persistence file (e.g. 5m, 30s, 1h).
    #[arg(long = "persistence.interval", default_value = "5m")]
    pub persistence_interval: String,
    /// If the persistence file is corrupt, move it aside (`<file>.corrupt-<time>`) and start
    /// empty instead of refusing to start.
    #[arg(long = "persistence.discard-corrupt")]
    pub discard_corrupt: bool,
    /// Only log messages with the given severity or above: debug, info, warn, error.
    #[arg(long = "log.level", default_value = "info")]
    pub log_level: String,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,
    /// Remote write (`--remote-write.*`).
    #[command(flatten)]
    pub remote_write: crate::remote_write::RemoteWriteArgs,
    /// Show application version (in the Go Pushgateway's format) and exit.
    #[arg(long = "version", short = 'V')]
    pub version: bool,
}

/// What `--version` prints: the layout of the Go Pushgateway's (prometheus/common
/// `version.Print`), with the build fields the status API reports.
#[must_use]
pub fn version_text() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!(
        "pushgate, version {} (branch: , revision: )\n  build user:       \n  build date:       \n  go version:       rust\n  platform:         {}/{arch}\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
    )
}

/// Validated configuration.
#[derive(Debug, Clone)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent on/off flags, as on the Go gateway's command line"
)]
pub struct Config {
    /// Where to listen. `None` port means "as given"; tests use port 0.
    pub listen: ListenAddr,
    /// Route prefix: empty, or `/something` without trailing slash.
    pub route_prefix: String,
    /// Telemetry path relative to the prefix, starting with `/`.
    pub telemetry_path: String,
    /// Whether pushes are checked for consistency.
    pub consistency_check: bool,
    /// Largest accepted push body.
    pub max_body_bytes: usize,
    /// Largest inflated size of a gzip or snappy push body.
    pub max_decompressed_bytes: usize,
    /// Whether `PUT /api/v1/admin/wipe` is served.
    pub enable_admin_api: bool,
    /// Whether `PUT|POST /-/quit` shuts the server down.
    pub enable_lifecycle: bool,
    /// Size limits on pushes.
    pub limits: crate::store::Limits,
    /// Flink path and suffix handling.
    pub flink: crate::flink::FlinkConfig,
    /// Rollup rules (built-in Flink rules plus the config file's), compiled.
    pub aggregator: std::sync::Arc<crate::aggregate::Aggregator>,
    /// Name renaming (scope delimiter, the config file's rules); `None` with
    /// `--flink.rename=off`.
    pub renamer: Option<std::sync::Arc<crate::flink::rename::Renamer>>,
    /// Stale-group expiry.
    pub expiry: crate::flink::expiry::ExpiryConfig,
    /// Derived Flink health signals.
    pub signals: crate::flink::signals::SignalsConfig,
    /// Time allowed to receive a push body.
    pub body_read_timeout: std::time::Duration,
    /// Time allowed to send request headers (and idle time between kept-alive requests).
    pub header_read_timeout: std::time::Duration,
    /// Most concurrent connections.
    pub max_connections: usize,
    /// The render cache budget in bytes.
    pub render_cache_bytes: usize,
    /// How long a scrape may wait for its client to take bytes.
    pub scrape_stall_timeout: std::time::Duration,
    /// TLS, basic auth and response headers from `--web.config.file`.
    pub web_config: Option<std::sync::Arc<crate::web_config::WebConfig>>,
    /// Listen on the systemd socket-activation listener instead of `listen`.
    pub systemd_socket: bool,
    /// `--web.local-assets`: a directory of UI assets/templates, if given.
    pub local_assets: Option<std::path::PathBuf>,
    /// Where to persist the store, if anywhere.
    pub persistence_file: Option<std::path::PathBuf>,
    /// Minimum time between two writes of the persistence file.
    pub persistence_interval: std::time::Duration,
    /// Move a corrupt persistence file aside instead of failing start-up.
    pub discard_corrupt: bool,
    /// Log level.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Remote write, when a URL is configured.
    pub remote_write: Option<std::sync::Arc<crate::remote_write::RemoteWriteConfig>>,
    /// The flags as given, for the status API.
    pub flags: Vec<(String, String)>,
}

/// Where to listen: a concrete address, or every interface on a port (`:9091`), which binds
/// `[::]` (dual-stack) and falls back to `0.0.0.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddr {
    /// `host:port`.
    Addr(SocketAddr),
    /// `:port`.
    AnyInterface(u16),
}

/// Why the flags are unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Occurs when `--web.listen-address` is not `host:port` or `:port`.
    #[error("invalid --web.listen-address {0:?}: expected host:port or :port")]
    ListenAddress(String),
    /// Occurs when `--web.external-url` is not an absolute http(s) URL.
    #[error("invalid --web.external-url {0:?}: expected an absolute http:// or https:// URL")]
    ExternalUrl(String),
    /// Occurs when `--web.telemetry-path` does not start with `/`.
    #[error("invalid --web.telemetry-path {0:?}: must start with /")]
    TelemetryPath(String),
    /// Occurs when `--log.level` is not one of debug, info, warn, error.
    #[error("invalid --log.level {0:?}: expected one of debug, info, warn, error")]
    LogLevel(String),
    /// Occurs when a rollup rule is invalid.
    #[error(transparent)]
    Aggregate(#[from] crate::aggregate::AggregateError),
    /// Occurs when `--config.file` cannot be read or holds an unusable rule.
    #[error(transparent)]
    File(#[from] crate::config_file::ConfigFileError),
    /// Occurs when `--web.config.file` cannot be read or holds an unusable setting.
    #[error(transparent)]
    WebConfig(#[from] crate::web_config::WebConfigError),
    /// Occurs when `--flink.scope-delimiter` is not one character other than a letter or digit.
    #[error("invalid --flink.scope-delimiter {0:?}: must be one character, not a letter or digit")]
    ScopeDelimiter(String),
    /// Occurs when `--flink.signals.target-utilization` is not in (0, 1].
    #[error("invalid --flink.signals.target-utilization {0}: must be above 0 and at most 1")]
    TargetUtilization(f64),
    /// Occurs when `--flink.missed-pushes` is below 1.
    #[error("invalid --flink.missed-pushes {0}: must be at least 1")]
    MissedPushes(f64),
    /// Occurs when a timeout flag is not a positive duration like `30s`.
    #[error("invalid --{0} {1:?}: expected a positive duration like 30s or 1m")]
    FlagDuration(&'static str, String),
    /// Occurs when `--persistence.interval` is not a positive duration like `5m` or `30s`.
    #[error(
        "invalid --persistence.interval {0:?}: expected a positive duration like 5m, 30s or 1h30m"
    )]
    Duration(String),
    /// Occurs when a `--remote-write.*` flag or the file's `remote_write:` section is unusable.
    #[error(transparent)]
    RemoteWrite(#[from] crate::remote_write::config::RemoteWriteConfigError),
    /// Occurs when a size limit flag is 0.
    #[error("invalid --{0} 0: must be at least 1")]
    ZeroLimit(&'static str),
}

impl Args {
    /// The flags as given, for `/api/v1/status`.
    fn flags(&self) -> Vec<(String, String)> {
        [
            ("web.listen-address", self.listen_address.clone()),
            ("web.telemetry-path", self.telemetry_path.clone()),
            ("web.external-url", self.external_url.clone()),
            ("web.route-prefix", self.route_prefix.clone()),
            ("web.enable-admin-api", self.enable_admin_api.to_string()),
            ("web.enable-lifecycle", self.enable_lifecycle.to_string()),
            ("web.header-read-timeout", self.header_read_timeout.clone()),
            ("web.max-connections", self.max_connections.to_string()),
            (
                "web.scrape-stall-timeout",
                self.scrape_stall_timeout.clone(),
            ),
            ("render.cache-bytes", self.render_cache_bytes.to_string()),
            ("web.config.file", self.web_config_file.clone()),
            ("web.systemd-socket", self.systemd_socket.to_string()),
            ("web.local-assets", self.local_assets.clone()),
            (
                "push.disable-consistency-check",
                self.disable_consistency_check.to_string(),
            ),
            ("push.max-body-bytes", self.max_body_bytes.to_string()),
            (
                "push.max-decompressed-bytes",
                self.max_decompressed_bytes.to_string(),
            ),
            (
                "push.max-series-per-push",
                self.max_series_per_push.to_string(),
            ),
            (
                "push.max-labels-per-series",
                self.max_labels_per_series.to_string(),
            ),
            ("push.max-name-length", self.max_name_length.to_string()),
            (
                "push.max-label-value-length",
                self.max_label_value_length.to_string(),
            ),
            ("push.max-groups", self.max_groups.to_string()),
            ("push.body-read-timeout", self.body_read_timeout.clone()),
            ("push.group-ttl", self.group_ttl.clone()),
            (
                "flink.job-suffix",
                format!("{:?}", self.flink_job_suffix).to_lowercase(),
            ),
            (
                "flink.reporter-id-label",
                self.flink_reporter_id_label.clone(),
            ),
            ("flink.empty-job-name", self.flink_empty_job_name.clone()),
            (
                "flink.path-decoding",
                format!("{:?}", self.flink_path_decoding).to_lowercase(),
            ),
            ("flink.missed-pushes", self.flink_missed_pushes.to_string()),
            ("flink.delete-grace", self.flink_delete_grace.clone()),
            (
                "flink.rename",
                format!("{:?}", self.flink_rename).to_lowercase(),
            ),
            ("flink.scope-delimiter", self.flink_scope_delimiter.clone()),
            ("config.file", self.config_file.clone()),
            ("persistence.file", self.persistence_file.clone()),
            ("persistence.interval", self.persistence_interval.clone()),
            (
                "persistence.discard-corrupt",
                self.discard_corrupt.to_string(),
            ),
            ("log.level", self.log_level.clone()),
            (
                "log.format",
                format!("{:?}", self.log_format).to_lowercase(),
            ),
        ]
        .into_iter()
        .chain(self.signal_flags())
        .chain(self.remote_write.flags())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The `--flink.signals*` part of [`Args::flags`].
    fn signal_flags(&self) -> [(&'static str, String); 7] {
        [
            (
                "flink.signals",
                format!("{:?}", self.flink_signals).to_lowercase(),
            ),
            (
                "flink.signals.interval",
                self.flink_signals_interval.clone(),
            ),
            (
                "flink.signals.target-utilization",
                self.flink_signals_target_utilization.to_string(),
            ),
            (
                "flink.signals.key-groups",
                self.flink_signals_key_groups.to_string(),
            ),
            (
                "flink.signals.catch-up-duration",
                self.flink_signals_catch_up.clone(),
            ),
            (
                "flink.signals.restart-time",
                self.flink_signals_restart.clone(),
            ),
            (
                "flink.signals.hysteresis",
                self.flink_signals_hysteresis.to_string(),
            ),
        ]
    }

    /// The Flink path/suffix settings and the expiry policy.
    fn flink_and_expiry(
        &self,
        duration: impl Fn(&'static str, &str) -> Result<std::time::Duration, ConfigError>,
    ) -> Result<
        (
            crate::flink::FlinkConfig,
            crate::flink::expiry::ExpiryConfig,
        ),
        ConfigError,
    > {
        let delete_grace = duration("flink.delete-grace", &self.flink_delete_grace)?;
        let group_ttl = match self.group_ttl.as_str() {
            "" | "0" => None,
            v => Some(duration("push.group-ttl", v)?),
        };
        if !(self.flink_missed_pushes >= 1.0 && self.flink_missed_pushes.is_finite()) {
            return Err(ConfigError::MissedPushes(self.flink_missed_pushes));
        }
        let flink = crate::flink::FlinkConfig {
            path_decoding: self.flink_path_decoding,
            suffix: self.flink_job_suffix,
            reporter_id_label: self.flink_reporter_id_label.clone(),
            empty_job_name: self.flink_empty_job_name.clone(),
        };
        let expiry = crate::flink::expiry::ExpiryConfig {
            missed_pushes: self.flink_missed_pushes,
            group_ttl: group_ttl.map(|d| d.as_secs_f64()),
            delete_grace: delete_grace.as_secs_f64(),
        };
        Ok((flink, expiry))
    }

    /// The Flink signal settings; `auto` resolves to off only in the Go-compatible mode (all
    /// three of `--flink.job-suffix=keep --flink.path-decoding=off --flink.rename=off`), the
    /// one setting in which a user asked for the Go gateway's behaviour in every respect.
    fn signals(
        &self,
        duration: impl Fn(&'static str, &str) -> Result<std::time::Duration, ConfigError>,
    ) -> Result<crate::flink::signals::SignalsConfig, ConfigError> {
        use crate::flink::signals::SignalsMode;
        let go_compatible = self.flink_job_suffix == crate::flink::SuffixMode::Keep
            && self.flink_path_decoding == crate::flink::PathDecoding::Off
            && self.flink_rename == crate::flink::rename::RenameMode::Off;
        let u = self.flink_signals_target_utilization;
        if !(u > 0.0 && u <= 1.0) {
            return Err(ConfigError::TargetUtilization(u));
        }
        if self.flink_signals_key_groups == 0 {
            return Err(ConfigError::ZeroLimit("flink.signals.key-groups"));
        }
        Ok(crate::flink::signals::SignalsConfig {
            enabled: match self.flink_signals {
                SignalsMode::On => true,
                SignalsMode::Off => false,
                SignalsMode::Auto => !go_compatible,
            },
            interval: duration("flink.signals.interval", &self.flink_signals_interval)?,
            target_utilization: u,
            key_groups: self.flink_signals_key_groups,
            catch_up_seconds: duration(
                "flink.signals.catch-up-duration",
                &self.flink_signals_catch_up,
            )?
            .as_secs_f64(),
            restart_seconds: duration("flink.signals.restart-time", &self.flink_signals_restart)?
                .as_secs_f64(),
            hysteresis: self.flink_signals_hysteresis.max(1),
            ..crate::flink::signals::SignalsConfig::default()
        })
    }

    /// Validates the flags.
    ///
    /// # Errors
    /// The first unusable flag.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let listen = parse_listen(&self.listen_address)?;
        let prefix_source = if self.route_prefix.is_empty() {
            external_url_path(&self.external_url)?
        } else {
            self.route_prefix.clone()
        };
        if !self.telemetry_path.starts_with('/') {
            return Err(ConfigError::TelemetryPath(self.telemetry_path));
        }
        if !matches!(self.log_level.as_str(), "debug" | "info" | "warn" | "error") {
            return Err(ConfigError::LogLevel(self.log_level));
        }
        let nonzero = [
            ("push.max-body-bytes", self.max_body_bytes),
            ("push.max-decompressed-bytes", self.max_decompressed_bytes),
            ("push.max-series-per-push", self.max_series_per_push),
            ("push.max-labels-per-series", self.max_labels_per_series),
            ("push.max-name-length", self.max_name_length),
            ("push.max-label-value-length", self.max_label_value_length),
            ("push.max-groups", self.max_groups),
            ("web.max-connections", self.max_connections),
        ];
        if let Some((flag, _)) = nonzero.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::ZeroLimit(flag));
        }
        let duration = |flag: &'static str, v: &str| {
            parse_duration(v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| ConfigError::FlagDuration(flag, v.to_owned()))
        };
        let body_read_timeout = duration("push.body-read-timeout", &self.body_read_timeout)?;
        let (flink, expiry) = self.flink_and_expiry(duration)?;
        let signals = self.signals(duration)?;
        let flags = self.flags();
        let delimiter = crate::flink::rename::parse_delimiter(&self.flink_scope_delimiter)
            .ok_or_else(|| ConfigError::ScopeDelimiter(self.flink_scope_delimiter.clone()))?;
        let file = (!self.config_file.is_empty()).then(|| std::path::Path::new(&self.config_file));
        let crate::config_file::Compiled {
            renamer,
            aggregator,
            remote_write,
        } = crate::config_file::compile(file, self.flink_rename, delimiter)?;
        let remote_write =
            crate::remote_write::config::build(&self.remote_write, remote_write.as_ref())?
                .map(std::sync::Arc::new);
        let header_read_timeout = duration("web.header-read-timeout", &self.header_read_timeout)?;
        let scrape_stall_timeout =
            duration("web.scrape-stall-timeout", &self.scrape_stall_timeout)?;
        let web_config = (!self.web_config_file.is_empty())
            .then(|| {
                crate::web_config::WebConfig::load(std::path::Path::new(&self.web_config_file))
            })
            .transpose()?
            .map(std::sync::Arc::new);
        let persistence_interval = parse_duration(&self.persistence_interval)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| ConfigError::Duration(self.persistence_interval.clone()))?;
        Ok(Config {
            listen,
            route_prefix: normalize_prefix(&prefix_source),
            telemetry_path: self.telemetry_path,
            consistency_check: !self.disable_consistency_check,
            max_body_bytes: self.max_body_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            enable_admin_api: self.enable_admin_api,
            enable_lifecycle: self.enable_lifecycle,
            limits: crate::store::Limits {
                max_series_per_push: self.max_series_per_push,
                max_labels_per_series: self.max_labels_per_series,
                max_name_length: self.max_name_length,
                max_label_value_length: self.max_label_value_length,
                max_groups: self.max_groups,
            },
            flink,
            expiry,
            signals,
            aggregator,
            renamer,
            body_read_timeout,
            header_read_timeout,
            max_connections: self.max_connections,
            render_cache_bytes: self.render_cache_bytes,
            scrape_stall_timeout,
            web_config,
            systemd_socket: self.systemd_socket,
            local_assets: (!self.local_assets.is_empty()).then(|| self.local_assets.into()),
            persistence_file: (!self.persistence_file.is_empty())
                .then(|| self.persistence_file.into()),
            persistence_interval,
            discard_corrupt: self.discard_corrupt,
            log_level: self.log_level,
            log_format: self.log_format,
            remote_write,
            flags,
        })
    }
}

impl Config {
    /// Defaults on `127.0.0.1:0`, for tests.
    #[must_use]
    pub fn for_tests() -> Config {
        Args::parse_from(["pushgate", "--web.listen-address=127.0.0.1:0"])
            .validate()
            .expect("the default flags are valid")
    }
}

fn parse_listen(s: &str) -> Result<ListenAddr, ConfigError> {
    if let Some(port) = s.strip_prefix(':') {
        return port
            .parse()
            .map(ListenAddr::AnyInterface)
            .map_err(|_| ConfigError::ListenAddress(s.into()));
    }
    if let Ok(addr) = s.parse() {
        return Ok(ListenAddr::Addr(addr));
    }
    // `localhost:9091` and other names: resolve once at start-up.
    std::net::ToSocketAddrs::to_socket_addrs(s)
        .ok()
        .and_then(|mut it| it.next())
        .map(ListenAddr::Addr)
        .ok_or_else(|| ConfigError::ListenAddress(s.into()))
}

fn external_url_path(url: &str) -> Result<String, ConfigError> {
    if url.is_empty() {
        return Ok(String::new());
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .filter(|r| !r.is_empty() && !r.starts_with('/'))
        .ok_or_else(|| ConfigError::ExternalUrl(url.into()))?;
    Ok(rest
        .find('/')
        .map_or(String::new(), |i| rest[i..].to_string()))
}

/// Parses a Go-style duration: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`, `d`.
#[must_use]
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_end].parse().ok()?;
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| num_end + i);
        let seconds = match &rest[num_end..unit_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        total += value * seconds;
        rest = &rest[unit_end..];
    }
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// Go: `"/" + strings.Trim(prefix, "/")`, and `/` alone becomes empty.
fn normalize_prefix(p: &str) -> String {
    let trimmed = p.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["pushgate"];
        v.extend_from_slice(extra);
        Args::try_parse_from(v).expect("flags parse").validate()
    }

    #[test]
    fn defaults_listen_on_all_interfaces_9091() {
        let c = args(&[]).expect("valid");
        assert_eq!(c.listen, ListenAddr::AnyInterface(9091));
        assert_eq!(c.route_prefix, "");
        assert_eq!(c.telemetry_path, "/metrics");
        assert!(c.consistency_check);
    }

    #[test]
    fn route_prefix_comes_from_external_url_path() {
        assert_eq!(
            args(&["--web.external-url=http://example.com/pg/"])
                .expect("valid")
                .route_prefix,
            "/pg"
        );
        assert_eq!(
            args(&["--web.route-prefix=/a/b/", "--web.external-url=http://x/y"])
                .expect("valid")
                .route_prefix,
            "/a/b"
        );
        assert_eq!(
            args(&["--web.route-prefix=/"]).expect("valid").route_prefix,
            ""
        );
    }

    #[test]
    fn go_durations_parse() {
        use std::time::Duration;
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
        assert!(matches!(
            args(&["--persistence.interval=0s"]),
            Err(ConfigError::Duration(_))
        ));
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(matches!(
            args(&["--web.listen-address=nonsense"]),
            Err(ConfigError::ListenAddress(_))
        ));
        assert!(matches!(
            args(&["--web.listen-address=:99999"]),
            Err(ConfigError::ListenAddress(_))
        ));
        assert!(matches!(
            args(&["--web.external-url=ftp://x"]),
            Err(ConfigError::ExternalUrl(_))
        ));
        assert!(matches!(
            args(&["--log.level=loud"]),
            Err(ConfigError::LogLevel(_))
        ));
        assert!(matches!(
            args(&["--web.telemetry-path=metrics"]),
            Err(ConfigError::TelemetryPath(_))
        ));
        assert!(Args::try_parse_from(["pushgate", "--log.format=xml"]).is_err());
    }
}
