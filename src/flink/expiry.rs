//! Stale-group expiry: groups whose pusher is gone disappear without operator action.
//!
//! Owns: the expiry policy ([`ExpiryConfig`], [`deadline`]) and the background task that
//! applies it ([`run`]).
//! Does not own: learning the push interval (the store does it on every successful push, see
//! `store::group::PushTimes::after_success`) or the tombstones that swallow a Flink reporter's
//! last report racing its own DELETE (`store::Store::delete_with_tombstone`).
//!
//! Policy: a Flink reporter group (one carrying the reporter id, see [`super::suffix`]) that
//! has missed `--flink.missed-pushes` of its learned intervals is removed: a killed
//! TaskManager never sends its DELETE, and its successor has a new id, so without this its
//! group would stay forever (FLINK-13787). `--push.group-ttl` (off by default) removes any
//! group not pushed for that long. Every removal is logged and counted in
//! `pushgate_groups_expired_total{reason}`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::info;

use crate::server::AppState;
use crate::store::group::Group;

/// How often the expiry task looks at the store.
pub const SCAN_EVERY: Duration = Duration::from_millis(500);

/// Expiry settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpiryConfig {
    /// Learned intervals a Flink reporter group may miss before it is removed.
    pub missed_pushes: f64,
    /// Removes any group not pushed for this many seconds.
    pub group_ttl: Option<f64>,
    /// After a DELETE of a Flink reporter group, PUTs to it are swallowed this long (seconds).
    pub delete_grace: f64,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig {
            missed_pushes: 3.0,
            group_ttl: None,
            delete_grace: 30.0,
        }
    }
}

/// Why a group expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A Flink reporter group missed its pushes.
    MissedPushes,
    /// The global TTL passed.
    Ttl,
}

impl Reason {
    /// The `reason` label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissedPushes => "missed_pushes",
            Reason::Ttl => "ttl",
        }
    }
}

/// When `group` expires (Unix seconds) and why, if it ever does under `cfg`. Time before
/// `not_before` (a restart from disk) does not count against the group.
#[must_use]
pub fn deadline(
    group: &Group,
    reporter: bool,
    cfg: &ExpiryConfig,
    not_before: f64,
) -> Option<(f64, Reason)> {
    let last = group.times.success.max(not_before);
    let missed = group
        .times
        .trusted_interval()
        .filter(|_| reporter)
        .map(|i| (last + cfg.missed_pushes * i, Reason::MissedPushes));
    let ttl = cfg.group_ttl.map(|t| (last + t, Reason::Ttl));
    match (missed, ttl) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Removes expired groups every [`SCAN_EVERY`] until `stop` flips.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(SCAN_EVERY) => {}
            _ = stop.changed() => return,
        }
        expire_now(&state, crate::store::now_seconds());
    }
}

/// One expiry pass at time `now`. Returns how many groups were removed.
pub fn expire_now(state: &AppState, now: f64) -> usize {
    let snapshot = state.store.snapshot();
    let not_before = f64::from_bits(state.restored_at.load(std::sync::atomic::Ordering::Relaxed));
    let mut removed = 0;
    for g in &snapshot.groups {
        let reporter = super::is_reporter_group(&g.key, &state.config.flink);
        let Some((at, reason)) = deadline(g, reporter, &state.config.expiry, not_before) else {
            continue;
        };
        if now < at {
            continue;
        }
        // Only remove the version we judged: a push that landed meanwhile keeps the group.
        if state.store.delete_if_unchanged(g) {
            removed += 1;
            state.metrics.record_expiry(reason.as_str());
            info!(
                group = %g.key,
                reason = reason.as_str(),
                last_push_age_s = now - g.times.success,
                learned_interval_s = g.times.interval,
                "group expired"
            );
        }
    }
    removed
}
