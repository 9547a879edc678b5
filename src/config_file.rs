//! The YAML config file (`--config.file`): rename rules and rollup rules.
//!
//! Owns: reading and deserializing the file ([`ConfigFile`]), its errors
//! ([`ConfigFileError`], which name the file and, for YAML and unknown keys, the line), and
//! compiling its two sections into what the server runs with ([`compile`]).
//! Does not own: what the sections mean (`flink::rename` for `rename:`, `aggregate` for
//! `aggregate:`) or the flags (`config`).
//!
//! Data enters as the path given on the command line (or none) plus the flags the file can
//! override, at start-up only, and leaves as a [`Compiled`] renamer and aggregator inside the
//! validated `Config`. Every problem is an error at start-up, never a panic and never a
//! surprise at the first push. Unknown keys are errors too, so a typo does not silently turn
//! a rule off.
//!
//! The format (every key optional; an empty file is the defaults):
//!
//! ```yaml
//! rename:
//!   scope_delimiter: "."            # overrides --flink.scope-delimiter
//!   presets: [flink-default-scopes] # built-in rules for Flink's scope formats
//!   rules:                          # tried first, in order; the first match wins
//!     - match: '^flink_taskmanager_job_task_operator_(?P<metric>.+)$'
//!       name: 'flink_op_${metric}'
//! remote_write:                     # crate::remote_write::RemoteWriteFile
//!   endpoints: [{url: "http://mimir:9009/api/v1/push"}]
//! aggregate:                        # crate::aggregate::AggregateSpec
//!   defaults: true
//!   append_to_metrics: false
//!   rules:
//!     - name: flink_job_records_in_per_second
//!       match: '^flink_taskmanager_job_task_operator_numRecordsInPerSecond$'
//!       function: sum
//!       by: [job, job_name]
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::aggregate::{AggregateError, AggregateSpec, Aggregator};
use crate::flink::rename::{RenameConfigError, RenameMode, RenameSpec, Renamer};

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Metric renaming (see `flink::rename`).
    #[serde(default)]
    pub rename: RenameSpec,
    /// Rollups (see `aggregate`).
    #[serde(default)]
    pub aggregate: AggregateSpec,
    /// Remote write endpoints and settings (see `remote_write::config`).
    #[serde(default)]
    pub remote_write: Option<crate::remote_write::RemoteWriteFile>,
}

/// A config file that cannot be used, and which file it was.
#[derive(Debug, thiserror::Error)]
#[error("config file {}: {kind}", path.display())]
pub struct ConfigFileError {
    /// The file as given on the command line.
    pub path: PathBuf,
    /// What is wrong with it.
    pub kind: ConfigFileErrorKind,
}

/// What is wrong with a config file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigFileErrorKind {
    /// Occurs when the file cannot be read (missing, a directory, no permission...).
    #[error("cannot be read: {0}")]
    Read(#[source] std::io::Error),
    /// Occurs when the file is not valid YAML or does not have the expected shape (an unknown
    /// key, a wrong type, an unknown preset or function); the message has the line and column.
    #[error("{0}")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// Occurs when a `rename:` rule is unusable (bad regex, bad template, bad capture name).
    #[error("rename.{0}")]
    Rename(#[source] RenameConfigError),
    /// Occurs when the file has `rename:` rules or presets but `--flink.rename=off`.
    #[error("rename rules and presets need --flink.rename=on")]
    RenameOff,
    /// Occurs when an `aggregate:` rule is unusable.
    #[error("aggregate: {0}")]
    Aggregate(#[source] AggregateError),
}

impl ConfigFile {
    /// Reads and deserializes the file at `path`.
    ///
    /// # Errors
    /// [`ConfigFileErrorKind::Read`] or [`ConfigFileErrorKind::Yaml`], naming the file.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigFileError> {
        let error = |kind| ConfigFileError {
            path: path.to_owned(),
            kind,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| error(ConfigFileErrorKind::Read(e)))?;
        ConfigFile::parse(&text).map_err(|e| error(ConfigFileErrorKind::Yaml(e)))
    }

    /// Deserializes file contents; an empty document (or only comments) gives the defaults.
    ///
    /// # Errors
    /// The YAML error, with its line and column.
    pub fn parse(text: &str) -> Result<ConfigFile, serde_yaml_ng::Error> {
        Ok(serde_yaml_ng::from_str::<Option<ConfigFile>>(text)?.unwrap_or_default())
    }
}

/// What the server runs with from the file (or from the defaults without one).
#[derive(Debug)]
pub struct Compiled {
    /// `None` when `--flink.rename=off`.
    pub renamer: Option<Arc<Renamer>>,
    /// The rollup rules.
    pub aggregator: Arc<Aggregator>,
    /// The `remote_write:` section as written (merged with the flags by `config`).
    pub remote_write: Option<crate::remote_write::RemoteWriteFile>,
}

/// Loads the file at `path` (the defaults without one) and compiles both sections.
/// `mode` and `delimiter` are `--flink.rename` and `--flink.scope-delimiter`.
///
/// # Errors
/// [`ConfigFileError`] naming the file. Without a file nothing can fail but the built-in
/// rules, which are tested; such an error names the path as empty.
pub fn compile(
    path: Option<&Path>,
    mode: RenameMode,
    delimiter: char,
) -> Result<Compiled, ConfigFileError> {
    let file = match path {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let error = |kind| ConfigFileError {
        path: path.map(Path::to_owned).unwrap_or_default(),
        kind,
    };
    let has_rules = !(file.rename.rules.is_empty() && file.rename.presets.is_empty());
    let renamer = match mode {
        RenameMode::Off if has_rules => return Err(error(ConfigFileErrorKind::RenameOff)),
        RenameMode::Off => None,
        RenameMode::On => Some(Arc::new(
            Renamer::new(&file.rename, delimiter)
                .map_err(|e| error(ConfigFileErrorKind::Rename(e)))?,
        )),
    };
    let aggregator =
        Aggregator::new(&file.aggregate).map_err(|e| error(ConfigFileErrorKind::Aggregate(e)))?;
    Ok(Compiled {
        renamer,
        aggregator: Arc::new(aggregator),
        remote_write: file.remote_write,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flink::rename::Preset;

    #[track_caller]
    fn yaml_err(text: &str) -> String {
        ConfigFile::parse(text)
            .expect_err("invalid file")
            .to_string()
    }

    #[test]
    fn empty_files_are_the_defaults() {
        assert_eq!(ConfigFile::parse("").expect("valid"), ConfigFile::default());
        assert_eq!(
            ConfigFile::parse("# nothing\n").expect("valid"),
            ConfigFile::default()
        );
        assert_eq!(
            ConfigFile::parse("rename: {}\n").expect("valid"),
            ConfigFile::default()
        );
    }

    #[test]
    fn the_documented_example_parses() {
        let text = "rename:\n  scope_delimiter: \".\"\n  presets: [flink-default-scopes]\n  rules:\n    - match: '^(?P<host>[^.]+)\\.x\\.(?P<metric>.+)$'\n      name: 'x_${metric}'\naggregate:\n  defaults: false\n  rules:\n    - name: s\n      match: '^m$'\n      function: sum\n      by: [job]\n";
        let file = ConfigFile::parse(text).expect("valid");
        assert_eq!(file.rename.presets, [Preset::FlinkDefaultScopes]);
        assert_eq!(file.rename.rules[0].name, "x_${metric}");
        assert!(!file.aggregate.defaults);
        assert_eq!(file.aggregate.rules[0].by, ["job"]);
    }

    #[test]
    fn shape_errors_name_the_line() {
        assert!(yaml_err("rename:\n  rules:\n    - mtch: a\n      name: b\n").contains("line 3"));
        assert!(yaml_err("renames: {}\n").contains("unknown field `renames`"));
        assert!(
            yaml_err("rename:\n  presets: [flink-nope]\n").contains("unknown variant `flink-nope`")
        );
        assert!(
            yaml_err("aggregate:\n  rules:\n    - {name: a, match: b, function: median}\n")
                .contains("line 3")
        );
        assert!(yaml_err("rename: [\n").contains("line"));
    }

    #[test]
    fn compile_errors_name_the_section_and_rule() {
        let dir = std::env::temp_dir().join(format!("pushgate-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("bad.yaml");
        let compile_text = |text: &str, mode| {
            std::fs::write(&path, text).expect("write");
            compile(Some(&path), mode, '.')
                .expect_err("invalid")
                .to_string()
        };
        let err = compile_text(
            "rename:\n  rules:\n    - {match: '(', name: a}\n",
            RenameMode::On,
        );
        assert!(
            err.starts_with(&format!(
                "config file {}: rename.rules[0]: invalid match regex",
                path.display()
            )),
            "{err}"
        );
        let err = compile_text("rename:\n  presets: [flink-task]\n", RenameMode::Off);
        assert!(err.ends_with("need --flink.rename=on"), "{err}");
        let err = compile_text(
            "aggregate:\n  rules:\n    - {name: 1x, match: a, function: sum}\n",
            RenameMode::On,
        );
        assert!(err.contains(": aggregate: rollup rule \"1x\""), "{err}");
        let missing = dir.join("missing.yaml");
        let err = compile(Some(&missing), RenameMode::On, '.')
            .expect_err("missing")
            .to_string();
        assert!(
            err.starts_with(&format!(
                "config file {}: cannot be read",
                missing.display()
            )),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn without_a_file_the_defaults_compile() {
        let c = compile(None, RenameMode::On, '.').expect("defaults are valid");
        assert!(c.renamer.is_some());
        assert!(compile(None, RenameMode::Off, '.')
            .expect("defaults are valid")
            .renamer
            .is_none());
    }
}
