//! The threads that render scrapes: few, and at a lower CPU priority than pushes.
//!
//! Owns: [`RenderPool`], a fixed set of OS threads (niced by [`NICE`] on Linux) that run scrape
//! rendering jobs, and the hand-off of each result back to the async handler; and streaming
//! renders ([`RenderPool::stream`]): a scrape body rendered on its own niced thread and handed
//! to the response in batches through a small bounded channel, so the first bytes go out at
//! once and at most [`STREAM_QUEUE`] batches wait in memory whatever the body's size.
//! Does not own: what is rendered (see `render` and `server::scrape`).
//!
//! Why: a scrape after pushes renders and compresses every family the pushes changed (at 1M
//! Flink series and 18 pushes/s about half a core), and on the tokio blocking pool that work
//! competed on equal terms with the parsing of pushes, so each push took ~1.5x its own CPU time
//! whenever a scrape ran. Flink's reporter thread waits for each push, while Prometheus gives
//! a scrape seconds; so scrapes yield the CPU to pushes. Two threads let a second scrape (other
//! format, older generation) run while one is busy; more would only share the same cores.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::body::Streamed;

use tracing::debug;

/// Niceness of the render threads (0 is normal, 19 the lowest priority).
pub const NICE: i32 = 10;

/// Number of render threads.
pub const THREADS: usize = 2;

/// Streaming renders running at once; more scrapes wait for a turn.
pub const STREAMS: usize = 4;

/// Batches of a streamed body waiting for the client, at most.
pub const STREAM_QUEUE: usize = 4;

/// A streamed body's first batch goes out at this size (time to first byte), later ones at
/// [`STREAM_BATCH`].
const STREAM_FIRST_BATCH: usize = 16 * 1024;

/// Bytes per batch of a streamed body.
const STREAM_BATCH: usize = 256 * 1024;

type Job = Box<dyn FnOnce() + Send>;

/// Why a render job produced no result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderPoolError {
    /// Occurs when the job panicked or the pool's threads are gone.
    #[error("the render job did not finish (panicked, or the render threads are gone)")]
    Lost,
}

/// A fixed pool of low-priority render threads. Dropping the pool lets its threads finish the
/// queued jobs and exit.
#[derive(Debug)]
pub struct RenderPool {
    jobs: Mutex<mpsc::Sender<Job>>,
    streams: Arc<tokio::sync::Semaphore>,
}

impl Default for RenderPool {
    fn default() -> Self {
        RenderPool::new(THREADS)
    }
}

impl RenderPool {
    /// Starts `threads` render threads.
    ///
    /// # Panics
    /// When the OS cannot start a thread (as `std::thread::spawn` does).
    #[must_use]
    pub fn new(threads: usize) -> RenderPool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("pushgate-render-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = rx
                            .lock()
                            .expect("render queue lock is never poisoned: jobs run outside it")
                            .recv();
                        match job {
                            // A panicking job drops its result sender (the caller sees
                            // `Lost`); the thread lives on.
                            Ok(job) => {
                                // Label texts are kept for the job's duration only.
                                let _ =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        crate::render::series::with_label_texts(job);
                                    }));
                            }
                            Err(_) => return,
                        }
                    }
                })
                .expect("starting a render thread");
        }
        RenderPool {
            jobs: Mutex::new(tx),
            streams: Arc::new(tokio::sync::Semaphore::new(STREAMS)),
        }
    }

    /// Runs `work` on a render thread and waits (asynchronously) for its result.
    ///
    /// # Errors
    /// [`RenderPoolError::Lost`] when the job panicked.
    pub async fn run<T, F>(&self, work: F) -> Result<T, RenderPoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        self.jobs
            .lock()
            .expect("render queue sender lock is never poisoned")
            .send(job)
            .map_err(|_| RenderPoolError::Lost)?;
        rx.await.map_err(|_| RenderPoolError::Lost)
    }
}

impl RenderPool {
    /// Runs `work` on a render thread, without waiting for it.
    pub fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        let _ = self
            .jobs
            .lock()
            .expect("render queue sender lock is never poisoned")
            .send(Box::new(work));
    }

    /// Runs `work` on a new low-priority thread (at most [`STREAMS`] at once), handing what it
    /// emits to the returned channel in batches. `work` gets `emit`, which says false once the
    /// client is gone or took nothing for `stall` (then `work` should stop), and returns
    /// whether it emitted everything; only then is [`Streamed::Done`] sent, so a body that
    /// stopped early ends in an error, not as if it were whole.
    ///
    /// # Errors
    /// [`RenderPoolError::Lost`] when no thread could be started.
    pub async fn stream<F>(
        &self,
        stall: Duration,
        work: F,
    ) -> Result<tokio::sync::mpsc::Receiver<Streamed>, RenderPoolError>
    where
        F: FnOnce(&mut dyn FnMut(Bytes) -> bool) -> bool + Send + 'static,
    {
        let permit = self
            .streams
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RenderPoolError::Lost)?;
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_QUEUE);
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("pushgate-stream".to_owned())
            .spawn(move || {
                let _permit = permit;
                lower_priority();
                let send = |batch| {
                    matches!(
                        runtime
                            .block_on(async { tokio::time::timeout(stall, tx.send(batch)).await }),
                        Ok(Ok(()))
                    )
                };
                let mut batch = Vec::new();
                let mut batch_len = 0;
                let mut limit = STREAM_FIRST_BATCH;
                let complete = crate::render::series::with_label_texts(|| {
                    work(&mut |bytes: Bytes| {
                        batch_len += bytes.len();
                        batch.push(bytes);
                        if batch_len < limit {
                            return true;
                        }
                        limit = STREAM_BATCH;
                        batch_len = 0;
                        send(Streamed::Chunks(std::mem::take(&mut batch)))
                    })
                });
                if complete && (batch.is_empty() || send(Streamed::Chunks(batch))) {
                    send(Streamed::Done);
                }
            })
            .map_err(|_| RenderPoolError::Lost)?;
        Ok(rx)
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux, PRIO_PROCESS with a thread id changes that thread only.
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), NICE) {
        debug!(error = %e, "could not lower the render thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {
    debug!("render threads keep normal priority on this platform");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_named_low_priority_threads_and_return_their_results() {
        let pool = RenderPool::new(2);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .expect("the job runs");
        assert!(name.is_some_and(|n| n.starts_with("pushgate-render-")));
        #[cfg(target_os = "linux")]
        {
            let nice = pool
                .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
                .await
                .expect("the job runs")
                .expect("getpriority works on Linux");
            assert_eq!(nice, NICE);
        }
    }

    #[tokio::test]
    async fn a_panicking_job_is_reported_and_the_pool_keeps_working() {
        let pool = RenderPool::new(1);
        let lost = pool.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(lost, Err(RenderPoolError::Lost)));
        assert_eq!(pool.run(|| 7).await.expect("still serving"), 7);
    }
}
