//! Choosing one page of groups: filter, sort, offset and limit, server-side.
//!
//! Owns: the filter language (whitespace-separated terms, each a case-insensitive substring
//! of some label written `name="value"`; `name=val` is read as `name="val`, so it matches
//! values starting with `val`), the sort orders ([`Sort`]) and [`select`], which the HTML
//! pages and `GET /api/v1/groups?q=&sort=&offset=&limit=` share.
//! Does not own: rendering, or where a group's expiry comes from (the caller passes it).
//!
//! Data enters as the snapshot's groups and leaves as the matched count plus the `Arc`s of
//! one page, so the cost of a page is O(groups) for filtering and sorting and O(page) for
//! everything the caller renders — never O(series).

use std::cmp::Ordering;
use std::sync::Arc;

use crate::store::group::Group;

/// Sort orders, as the `sort` query parameter names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Grouping-key order (the store's).
    Key,
    /// Oldest last push first: stale groups on top.
    Age,
    /// Most series first.
    Series,
    /// Soonest expiry first; groups that never expire last.
    Expiry,
}

impl Sort {
    /// The accepted `sort` values, default first.
    pub const NAMES: [&'static str; 4] = ["key", "age", "series", "expiry"];

    /// From one of [`Sort::NAMES`].
    #[must_use]
    pub fn from_name(name: &str) -> Sort {
        match name {
            "age" => Sort::Age,
            "series" => Sort::Series,
            "expiry" => Sort::Expiry,
            _ => Sort::Key,
        }
    }
}

/// A parsed filter: lowercase terms that must all match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    terms: Vec<String>,
}

impl Filter {
    /// Parses the `q` parameter.
    #[must_use]
    pub fn parse(q: &str) -> Filter {
        let terms = q
            .split_whitespace()
            .map(|t| {
                let t = t.to_lowercase();
                match t.split_once('=') {
                    Some((n, v)) if !v.starts_with('"') => format!("{n}=\"{v}"),
                    _ => t,
                }
            })
            .collect();
        Filter { terms }
    }

    /// Whether the filter is empty (matches everything).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether every term matches some label of `group`.
    #[must_use]
    pub fn matches(&self, group: &Group) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        let labels: Vec<String> = group
            .key
            .labels()
            .iter()
            .map(|(n, v)| format!("{n}=\"{v}\"").to_lowercase())
            .collect();
        self.terms
            .iter()
            .all(|t| labels.iter().any(|l| l.contains(t.as_str())))
    }
}

/// One page of groups.
#[derive(Debug)]
pub struct Selection {
    /// Groups matching the filter (all pages).
    pub matched: usize,
    /// The groups of the requested page, in order.
    pub groups: Vec<Arc<Group>>,
}

/// Filters `groups`, sorts them and cuts out `offset..offset + limit`. `expires_at` gives a
/// group's expiry time (Unix seconds) for [`Sort::Expiry`].
pub fn select(
    groups: &[Arc<Group>],
    filter: &Filter,
    sort: Sort,
    offset: usize,
    limit: usize,
    expires_at: impl Fn(&Group) -> Option<f64>,
) -> Selection {
    let mut matched: Vec<&Arc<Group>> = groups.iter().filter(|g| filter.matches(g)).collect();
    let total = matched.len();
    match sort {
        Sort::Key => {}
        Sort::Age => matched.sort_by(|a, b| a.times.success.total_cmp(&b.times.success)),
        Sort::Series => {
            let mut keyed: Vec<(usize, &Arc<Group>)> =
                matched.iter().map(|g| (g.series_count(), *g)).collect();
            keyed.sort_by_key(|k| std::cmp::Reverse(k.0));
            matched = keyed.into_iter().map(|(_, g)| g).collect();
        }
        Sort::Expiry => {
            let mut keyed: Vec<(Option<f64>, &Arc<Group>)> =
                matched.iter().map(|g| (expires_at(g), *g)).collect();
            keyed.sort_by(|a, b| match (a.0, b.0) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            });
            matched = keyed.into_iter().map(|(_, g)| g).collect();
        }
    }
    Selection {
        matched: total,
        groups: matched
            .into_iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grouping::GroupingKey;
    use crate::store::group::PushTimes;

    fn group(pairs: &[(&str, &str)], pushed: f64) -> Arc<Group> {
        let key = GroupingKey::from_pairs(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        )
        .expect("valid key");
        let times = PushTimes {
            success: pushed,
            ..PushTimes::default()
        };
        Arc::new(Group::new(
            key,
            Arc::from(Vec::new()),
            std::collections::BTreeMap::default(),
            times,
        ))
    }

    #[track_caller]
    fn check(q: &str, want: &[&str]) {
        let groups = [
            group(&[("job", "flinkpgw"), ("cluster", "Prod East")], 3.0),
            group(&[("job", "batch")], 1.0),
            group(&[("job", "flink")], 2.0),
        ];
        let got = select(&groups, &Filter::parse(q), Sort::Key, 0, 10, |_| None);
        let jobs: Vec<&str> = got.groups.iter().map(|g| g.key.job()).collect();
        assert_eq!(jobs, want, "{q:?}");
        assert_eq!(got.matched, want.len());
    }

    #[test]
    fn filter_terms_match_label_text_case_insensitively() {
        check("", &["flinkpgw", "batch", "flink"]);
        check("flink", &["flinkpgw", "flink"]);
        check("job=flink", &["flinkpgw", "flink"]);
        check("job=\"flink\"", &["flink"]);
        check("prod flink", &["flinkpgw"]);
        check("cluster=prod", &["flinkpgw"]);
        check("nothing", &[]);
    }

    #[test]
    fn pages_are_cut_after_sorting() {
        let groups: Vec<Arc<Group>> = (0..10)
            .map(|i| group(&[("job", &format!("j{i}"))], f64::from(10 - i)))
            .collect();
        let page = select(&groups, &Filter::default(), Sort::Age, 2, 3, |_| None);
        let jobs: Vec<&str> = page.groups.iter().map(|g| g.key.job()).collect();
        assert_eq!(jobs, ["j7", "j6", "j5"]);
        assert_eq!(page.matched, 10);
        let expiring = select(&groups, &Filter::default(), Sort::Expiry, 0, 2, |g| {
            (g.key.job() == "j4").then_some(5.0)
        });
        assert_eq!(expiring.groups[0].key.job(), "j4");
    }
}
