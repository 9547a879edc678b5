//! STUB: replaced by the real grouping key module.
#![allow(missing_docs)]
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupingKey {
    labels: Arc<[(Arc<str>, Arc<str>)]>,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupingKeyError {
    #[error("not a push path")]
    NotAPushPath,
    #[error("job name is required")]
    EmptyJob,
}

impl GroupingKey {
    pub fn from_path(rest: &str) -> Result<GroupingKey, GroupingKeyError> {
        let rest = rest
            .strip_prefix("job/")
            .ok_or(GroupingKeyError::NotAPushPath)?;
        let mut parts = rest.split('/');
        let job = parts.next().unwrap_or_default().to_string();
        let mut pairs = vec![("job".to_string(), job)];
        while let (Some(a), Some(b)) = (parts.next(), parts.next()) {
            pairs.push((a.to_string(), b.to_string()));
        }
        Self::from_pairs(pairs)
    }
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(
        pairs: I,
    ) -> Result<GroupingKey, GroupingKeyError> {
        let mut v: Vec<(Arc<str>, Arc<str>)> = pairs
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect();
        if !v.iter().any(|(n, _)| &**n == "instance") {
            v.push(("instance".into(), "".into()));
        }
        v.sort();
        v.dedup_by(|a, b| a.0 == b.0);
        if v.iter().any(|(n, val)| &**n == "job" && val.is_empty()) {
            return Err(GroupingKeyError::EmptyJob);
        }
        Ok(GroupingKey { labels: v.into() })
    }
    pub fn job(&self) -> &str {
        self.get("job").unwrap_or_default()
    }
    pub fn labels(&self) -> &[(Arc<str>, Arc<str>)] {
        &self.labels
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| &**v)
    }
}

impl fmt::Display for GroupingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.labels)
    }
}
