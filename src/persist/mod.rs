//! Persistence: the store survives restarts.
//!
//! Owns: restoring the store from `--persistence.file` at start-up ([`restore`]), writing it
//! crash-safely ([`write`]: temp file in the same directory, fsync, rename, fsync of the
//! directory), and the background task ([`run`]) that writes at most once per
//! `--persistence.interval` after a change and always once more on graceful shutdown.
//! Does not own: the byte format (see [`file`]).
//!
//! Data enters as a store snapshot (cheap: it clones `Arc`s) and leaves as a file; at start-up
//! the file's groups are re-applied through the normal push path, so a restored store passes
//! the same consistency checks as a live one. A corrupt or truncated file stops start-up with
//! an error naming the file and byte offset, unless the operator asked to start empty, in
//! which case the file is renamed aside (never deleted).

pub mod file;

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::grouping::GroupingKey;
use crate::model::{Family, Label, Metric};
use crate::store::{Store, WriteRequest};
use file::{decode, encode_snapshot, DecodeError, StoredFamilyData, StoredGroup};

/// Why persistence failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Occurs when the file or its directory cannot be read or written.
    #[error("persistence file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Occurs when the file is corrupt or truncated.
    #[error("persistence file {path} is corrupt {source}; start with --persistence.discard-corrupt to move it aside and start empty")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where and what.
        source: DecodeError,
    },
    /// Occurs when a stored group no longer passes validation.
    #[error("persistence file {path}: group {group} cannot be restored: {reason}")]
    Restore {
        /// The file.
        path: PathBuf,
        /// The group's key.
        group: String,
        /// Why.
        reason: String,
    },
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// No file existed: the store starts empty.
    NoFile,
    /// This many groups were restored.
    Groups(usize),
    /// The file was corrupt and was moved to this path; the store starts empty.
    MovedAside(PathBuf),
}

/// Loads `path` into `store` (which must be empty).
///
/// # Errors
/// [`PersistError`] when the file cannot be read, is corrupt (and `discard_corrupt` is off),
/// or holds a group the store refuses.
pub fn restore(
    store: &Store,
    path: &Path,
    discard_corrupt: bool,
) -> Result<Restored, PersistError> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Restored::NoFile),
        Err(source) => {
            return Err(PersistError::Io {
                path: path.into(),
                source,
            })
        }
    };
    let groups = match decode(&data) {
        Ok(g) => g,
        Err(source) if discard_corrupt => {
            let aside = aside_path(path);
            fs::rename(path, &aside).map_err(|source| PersistError::Io {
                path: path.into(),
                source,
            })?;
            warn!(file = %path.display(), moved_to = %aside.display(), error = %source, "persistence file corrupt; moved aside, starting empty");
            return Ok(Restored::MovedAside(aside));
        }
        Err(source) => {
            return Err(PersistError::Corrupt {
                path: path.into(),
                source,
            })
        }
    };
    let n = groups.len();
    for g in groups {
        restore_group(store, &g).map_err(|(group, reason)| PersistError::Restore {
            path: path.into(),
            group,
            reason,
        })?;
    }
    Ok(Restored::Groups(n))
}

fn aside_path(path: &Path) -> PathBuf {
    let stamp = crate::store::now_seconds().floor();
    let mut name = path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(format!(".corrupt-{stamp}"));
    path.with_file_name(name)
}

/// Re-applies one stored group through the normal push path.
///
/// Each family keeps its own push time (`/api/v1/metrics` shows it as `time_stamp`, as the Go
/// gateway does): families are applied in batches of equal push time, oldest first (a PUT,
/// then POSTs), and a last empty POST sets the group's success time, which may be later than
/// every family's (a POST of an empty body updates only that).
fn restore_group(store: &Store, g: &StoredGroup) -> Result<(), (String, String)> {
    let key = GroupingKey::from_pairs(g.key.clone())
        .map_err(|e| (format!("{:?}", g.key), e.to_string()))?;
    let mut by_time: Vec<&StoredFamilyData> = g.families.iter().collect();
    by_time.sort_by(|a, b| a.pushed_at.total_cmp(&b.pushed_at));
    let batches = by_time.chunk_by(|a, b| a.pushed_at.total_cmp(&b.pushed_at).is_eq());
    let apply = |families: Vec<Family<'_>>, replace: bool, at: f64| {
        let req = WriteRequest {
            key: key.clone(),
            families,
            replace,
        };
        store
            .apply_at(req, at)
            .map_err(|e| (key.to_string(), e.to_string()))
    };
    let mut replace = true;
    for batch in batches {
        apply(
            batch.iter().map(|f| family(f)).collect(),
            replace,
            batch[0].pushed_at,
        )?;
        replace = false;
    }
    apply(Vec::new(), replace, g.success)?;
    store.set_times(&key, g.failure, g.interval, g.gaps);
    Ok(())
}

/// A stored family as a push of it.
fn family(f: &StoredFamilyData) -> Family<'_> {
    Family {
        name: Cow::Borrowed(&f.name),
        help: f.help.as_deref().map(Cow::Borrowed),
        kind: f.kind,
        metrics: f
            .series
            .iter()
            .map(|(labels, value)| Metric {
                labels: labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: Cow::Borrowed(n),
                        value: Cow::Borrowed(v),
                    })
                    .collect(),
                value: value.clone(),
                timestamp_ms: None,
                label_block: None,
            })
            .collect(),
    }
}

/// Writes the current store to `path` crash-safely. Returns the generation written.
///
/// # Errors
/// [`PersistError::Io`] when any step fails; the previous file is then left intact.
pub fn write(store: &Store, path: &Path) -> Result<u64, PersistError> {
    let snapshot = store.snapshot();
    let bytes = encode_snapshot(snapshot.groups.iter().map(|g| &**g));
    let io = |source| PersistError::Io {
        path: path.into(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp_name = path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    // One fixed name: a write killed half-way (kill -9, power loss) leaves at most this one
    // file, which the next write truncates; a per-process name piled up one per crash.
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(snapshot.generation)
}

/// Writes `store` to `path` whenever it changed since generation `written` (what the file
/// holds: the restored generation), at most once per `interval`, and once more when `stop`
/// flips to `true`; then returns.
pub async fn run(
    store: Store,
    path: PathBuf,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut written: u64,
) {
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(interval) => false,
            _ = stop.changed() => true,
        };
        if store.generation() != written {
            let (s, p) = (store.clone(), path.clone());
            match tokio::task::spawn_blocking(move || write(&s, &p)).await {
                Ok(Ok(generation)) => {
                    written = generation;
                    info!(file = %path.display(), generation, "store persisted");
                }
                Ok(Err(e)) => error!(error = %e, "persisting the store failed"),
                Err(e) => error!(error = %e, "persistence task failed"),
            }
        }
        if stopping || *stop.borrow() {
            return;
        }
    }
}
