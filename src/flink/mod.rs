//! What is Flink-specific, and why.
//!
//! Owns: turning a push path into a grouping key the way Flink users need it
//! ([`grouping_key`]): Java form-decoding of the path (Flink's reporter encodes a space as
//! `+`) and the split of Flink's random job-name suffix into a label ([`suffix`]); the
//! expiry of groups whose reporter is gone ([`expiry`]); and renaming metric names that are
//! not classic Prometheus names, with rules that turn Flink scope formats into labels
//! ([`rename`], applied between parsing and the store); derived health signals per job and
//! vertex ([`signals`], fed from each push as it is applied).
//! Does not own: the generic grouping-key syntax (`grouping`) or storage (`store`).
//!
//! Data enters as the raw push path and `User-Agent` of a request and leaves as a
//! [`GroupingKey`]; the store and the rest of the push path are unchanged. Because DELETE goes
//! through the same function, Flink's DELETE of its original path removes exactly the group
//! its PUTs wrote.

pub mod expiry;
pub mod rename;
pub mod signals;
pub mod suffix;

use crate::grouping::{GroupingKey, GroupingKeyError};

/// How to treat `+` in push paths (`--flink.path-decoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PathDecoding {
    /// Form-decode (`+` is a space) when the client's `User-Agent` is Java's (Flink's reporter).
    Auto,
    /// Always form-decode.
    On,
    /// Never: `+` stays literally, as in the Go gateway.
    Off,
}

/// How to treat Flink's random job-name suffix (`--flink.job-suffix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SuffixMode {
    /// `job` becomes the stable name and the 32-hex reporter id moves to a label.
    Split,
    /// The Go gateway's behaviour: the job keeps its suffix.
    Keep,
}

/// Flink settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlinkConfig {
    /// `+` handling.
    pub path_decoding: PathDecoding,
    /// Suffix handling.
    pub suffix: SuffixMode,
    /// Label that receives the reporter id.
    pub reporter_id_label: String,
    /// Job name used when Flink's `jobName` is empty (the job is only the id).
    pub empty_job_name: String,
}

impl Default for FlinkConfig {
    fn default() -> Self {
        FlinkConfig {
            path_decoding: PathDecoding::Auto,
            suffix: SuffixMode::Split,
            reporter_id_label: suffix::DEFAULT_REPORTER_ID_LABEL.to_owned(),
            empty_job_name: "flink".to_owned(),
        }
    }
}

/// Whether a `User-Agent` is a Java HTTP client's (`Java/17.0.15`), as Flink's reporter sends.
#[must_use]
pub fn is_java_client(user_agent: Option<&str>) -> bool {
    user_agent.is_some_and(|ua| ua.starts_with("Java/"))
}

/// The grouping key for a push path, with Flink's path encoding and suffix handled.
///
/// # Errors
/// The grouping-key errors of [`GroupingKey::from_path`].
pub fn grouping_key(
    rest: &str,
    user_agent: Option<&str>,
    cfg: &FlinkConfig,
) -> Result<GroupingKey, GroupingKeyError> {
    let form = match cfg.path_decoding {
        PathDecoding::On => true,
        PathDecoding::Off => false,
        PathDecoding::Auto => is_java_client(user_agent),
    };
    let key = if form && rest.contains('+') {
        // Java's URLEncoder: a space is `+` and a literal `+` is `%2B`, so turning `+` into
        // `%20` before percent-decoding recovers the original value.
        GroupingKey::from_path(&rest.replace('+', "%20"))?
    } else {
        GroupingKey::from_path(rest)?
    };
    match cfg.suffix {
        SuffixMode::Keep => Ok(key),
        SuffixMode::Split => suffix::split(key, cfg),
    }
}

/// Whether a group was written by a Flink reporter process (it carries the reporter id).
#[must_use]
pub fn is_reporter_group(key: &GroupingKey, cfg: &FlinkConfig) -> bool {
    key.get(&cfg.reporter_id_label).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(rest: &str, ua: Option<&str>, cfg: &FlinkConfig, want: &[(&str, &str)]) {
        let key = grouping_key(rest, ua, cfg).expect("valid path");
        let got: Vec<(&str, &str)> = key.labels().iter().map(|(n, v)| (&**n, &**v)).collect();
        let mut want = want.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{rest}");
    }

    const EDGE: &str =
        "job/flink+job+%C3%BC%2Bx/pct/50%25/cluster/prod+east/site/%C3%A7%C3%B6d%C3%A9";

    #[test]
    fn java_clients_get_form_decoded_paths_in_auto_mode() {
        let cfg = FlinkConfig::default();
        let java = Some("Java/17.0.15");
        check(
            EDGE,
            java,
            &cfg,
            &[
                ("job", "flink job ü+x"),
                ("pct", "50%"),
                ("cluster", "prod east"),
                ("site", "çödé"),
            ],
        );
        check(
            EDGE,
            Some("curl/8"),
            &cfg,
            &[
                ("job", "flink+job+ü+x"),
                ("pct", "50%"),
                ("cluster", "prod+east"),
                ("site", "çödé"),
            ],
        );
        let off = FlinkConfig {
            path_decoding: PathDecoding::Off,
            ..FlinkConfig::default()
        };
        check(
            EDGE,
            java,
            &off,
            &[
                ("job", "flink+job+ü+x"),
                ("pct", "50%"),
                ("cluster", "prod+east"),
                ("site", "çödé"),
            ],
        );
        let on = FlinkConfig {
            path_decoding: PathDecoding::On,
            ..FlinkConfig::default()
        };
        check("job/a+b", None, &on, &[("job", "a b")]);
    }

    #[test]
    fn flink_suffix_moves_to_the_reporter_id_label() {
        let cfg = FlinkConfig::default();
        check(
            "job/flinkpgw1aad809d7e0ec3094164704a63618361/k1/v1",
            None,
            &cfg,
            &[
                ("job", "flinkpgw"),
                ("k1", "v1"),
                (
                    suffix::DEFAULT_REPORTER_ID_LABEL,
                    "1aad809d7e0ec3094164704a63618361",
                ),
            ],
        );
        let keep = FlinkConfig {
            suffix: SuffixMode::Keep,
            ..FlinkConfig::default()
        };
        check(
            "job/flinkpgw1aad809d7e0ec3094164704a63618361",
            None,
            &keep,
            &[("job", "flinkpgw1aad809d7e0ec3094164704a63618361")],
        );
    }
}
