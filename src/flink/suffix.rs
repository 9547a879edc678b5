//! Flink's random job-name suffix.
//!
//! Owns: recognising `<jobName><32 lowercase hex>` (Flink's `AbstractID`, new for every
//! JobManager/TaskManager process when `randomJobNameSuffix: true`, the default) and moving the
//! id into a label, so the exposed `job` is stable across restarts while the id keeps each
//! process's group apart (JobManager and TaskManagers never overwrite each other).
//! Does not own: path decoding or expiry.
//!
//! The default label name is the grouping label a future Flink sends by itself
//! (apache/flink PR #27744), so dashboards work the same before and after that change; a push
//! that already carries the label is left as it is.

use crate::flink::FlinkConfig;
use crate::grouping::{GroupingKey, GroupingKeyError};

/// The label that receives the reporter id unless configured otherwise.
pub const DEFAULT_REPORTER_ID_LABEL: &str = "flink_prometheus_push_gateway_reporter_id";

/// Length of Flink's `AbstractID` in hex.
pub const ID_LEN: usize = 32;

/// Splits `job` into `(stable name, id)` when it ends in 32 lowercase hex digits.
#[must_use]
pub fn split_job(job: &str) -> Option<(&str, &str)> {
    let at = job.len().checked_sub(ID_LEN)?;
    let (name, id) = (job.get(..at)?, &job[at..]);
    id.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then_some((name, id))
}

/// Rewrites a key whose job carries Flink's suffix; other keys are returned unchanged.
///
/// # Errors
/// Never in practice (the rewritten pairs are valid); the type is shared with key parsing.
pub fn split(key: GroupingKey, cfg: &FlinkConfig) -> Result<GroupingKey, GroupingKeyError> {
    if key.get(&cfg.reporter_id_label).is_some() {
        return Ok(key);
    }
    let Some((name, id)) = split_job(key.job()) else {
        return Ok(key);
    };
    let name = if name.is_empty() {
        cfg.empty_job_name.as_str()
    } else {
        name
    };
    let pairs = key
        .labels()
        .iter()
        .map(|(n, v)| {
            if &**n == "job" {
                (n.to_string(), name.to_owned())
            } else {
                (n.to_string(), v.to_string())
            }
        })
        .chain(std::iter::once((
            cfg.reporter_id_label.clone(),
            id.to_owned(),
        )))
        .collect::<Vec<_>>();
    GroupingKey::from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(job: &str, want: Option<(&str, &str)>) {
        assert_eq!(split_job(job), want, "{job}");
    }

    #[test]
    fn recognises_flink_abstract_ids_only() {
        check(
            "flinkpgw1aad809d7e0ec3094164704a63618361",
            Some(("flinkpgw", "1aad809d7e0ec3094164704a63618361")),
        );
        check(
            "1aad809d7e0ec3094164704a63618361",
            Some(("", "1aad809d7e0ec3094164704a63618361")),
        );
        check("flinkpgw1AAD809d7e0ec3094164704a63618361", None);
        check("flinkpgw1aad809d7e0ec3094164704a6361836x", None);
        check("short", None);
        check(
            "ü1aad809d7e0ec3094164704a63618361",
            Some(("ü", "1aad809d7e0ec3094164704a63618361")),
        );
    }

    #[test]
    fn empty_job_name_gets_the_fallback() {
        let key = GroupingKey::from_path("job/1aad809d7e0ec3094164704a63618361").expect("valid");
        let key = split(key, &FlinkConfig::default()).expect("valid");
        assert_eq!(key.job(), "flink");
        assert_eq!(
            key.get(DEFAULT_REPORTER_ID_LABEL),
            Some("1aad809d7e0ec3094164704a63618361")
        );
    }

    #[test]
    fn keys_already_carrying_the_id_label_are_left_alone() {
        let key = GroupingKey::from_path(&format!(
            "job/myjob/{DEFAULT_REPORTER_ID_LABEL}/0b0c1aad809d7e0ec3094164704a6361"
        ))
        .expect("valid");
        let same = split(key.clone(), &FlinkConfig::default()).expect("valid");
        assert_eq!(same, key);
    }
}
