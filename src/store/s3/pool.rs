//! The worker pool: jobs `0..count` run on a few threads, each job taken by
//! the next idle worker, until all are done or one fails.
//!
//! The threads are not scoped: the job function owns what it uses (an `Arc`
//! of the upload), so that after a cancel the pool can stop waiting for a
//! worker stuck in a request and go on without it. A request cannot be
//! interrupted while it waits for an answer, and Cloud Foundry allows ten
//! seconds after SIGTERM for the clean-up and the error status.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::warn;

/// How long the workers get to stop after a cancel.
const STOP_TIME: Duration = Duration::from_millis(500);

/// How often the wait looks at the cancel signal, which does not wake it.
const POLL: Duration = Duration::from_millis(50);

/// What a pool's run did.
pub(super) struct Done<T> {
    /// Each job's result, by job number; `None` for a job not run, or one
    /// whose worker was left behind.
    pub results: Vec<Option<T>>,
    /// How many jobs were taken. A worker takes a job before it runs it, so
    /// every job a worker began is among the first `taken`.
    pub taken: usize,
    /// The first error; no worker takes a job after it. A cancel is one.
    pub error: Option<Error>,
}

/// Runs `work(0)` to `work(count - 1)` on up to `workers` threads and waits
/// until they end, or, after a cancel, for at most STOP_TIME more.
pub(super) fn run<T, F>(count: usize, workers: usize, cancel: &Cancel, work: F) -> Done<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Result<T> + Send + Sync + 'static,
{
    let workers = workers.min(count);
    let pool = Arc::new(Pool {
        count,
        work,
        cancel: cancel.clone(),
        next: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        state: Mutex::new(State { results: (0..count).map(|_| None).collect(), error: None, ended: 0 }),
        ended: Condvar::new(),
    });
    for _ in 0..workers {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || pool.work());
    }
    let mut state = pool.wait(workers);
    Done {
        // Taken, not cloned: a worker left behind finds no slot for its result.
        results: std::mem::take(&mut state.results),
        taken: pool.next.load(Ordering::SeqCst).min(count),
        error: state.error.take(),
    }
}

/// What the workers share.
struct Pool<T, F> {
    count: usize,
    work: F,
    cancel: Cancel,
    /// The next job to take.
    next: AtomicUsize,
    /// Set with the first error: the workers stop taking jobs.
    failed: AtomicBool,
    state: Mutex<State<T>>,
    /// Woken each time a worker ends.
    ended: Condvar,
}

struct State<T> {
    results: Vec<Option<T>>,
    error: Option<Error>,
    /// How many workers have ended.
    ended: usize,
}

impl<T, F: Fn(usize) -> Result<T>> Pool<T, F> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A worker that panicked leaves its job unfinished, no state half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One worker: takes jobs until there are none left, one fails or the
    /// run is cancelled.
    fn work(&self) {
        while !self.failed.load(Ordering::SeqCst) {
            if let Err(e) = self.cancel.check() {
                self.fail(e);
                break;
            }
            let job = self.next.fetch_add(1, Ordering::SeqCst);
            if job >= self.count {
                break;
            }
            match (self.work)(job) {
                Ok(result) => {
                    if let Some(slot) = self.lock().results.get_mut(job) {
                        *slot = Some(result);
                    }
                }
                Err(e) => {
                    self.fail(e);
                    break;
                }
            }
        }
        self.lock().ended += 1;
        self.ended.notify_all();
    }

    fn fail(&self, error: Error) {
        // The first error is the one reported; the others follow from it.
        let mut state = self.lock();
        if state.error.is_none() {
            state.error = Some(error);
        }
        self.failed.store(true, Ordering::SeqCst);
    }

    /// Waits until `workers` have ended, or for STOP_TIME after a cancel.
    fn wait(&self, workers: usize) -> MutexGuard<'_, State<T>> {
        let mut stop_by = None;
        let mut state = self.lock();
        while state.ended < workers {
            if self.cancel.signal().is_some() {
                let now = Instant::now();
                if now >= *stop_by.get_or_insert(now + STOP_TIME) {
                    warn!("{} requests did not stop in time; going on without them", workers - state.ended);
                    break;
                }
            }
            state = self.ended.wait_timeout(state, POLL).unwrap_or_else(PoisonError::into_inner).0;
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_and_its_result_keeps_its_place() {
        let done = run(100, 4, &Cancel::new(), |job| Ok(job * 2));
        assert_eq!(done.results, (0..100).map(|job| Some(job * 2)).collect::<Vec<_>>());
        assert_eq!(done.taken, 100);
        assert!(done.error.is_none());
        let none = run(0, 4, &Cancel::new(), Ok);
        assert!(none.results.is_empty() && none.taken == 0 && none.error.is_none());
    }

    #[test]
    fn the_first_error_stops_the_workers() {
        let done = run(1000, 1, &Cancel::new(), |job| if job == 3 { Err(Error::failed("job 3")) } else { Ok(job) });
        assert_eq!(done.error.map(|e| e.message().to_owned()).as_deref(), Some("job 3"));
        assert_eq!(done.taken, 4, "no job is taken after the failure");
        assert_eq!(done.results[..5], [Some(0), Some(1), Some(2), None, None]);
    }

    #[test]
    fn after_a_cancel_a_stuck_worker_is_left_behind() {
        let cancel = Cancel::new();
        let stuck = Arc::new(Mutex::new(()));
        let held = stuck.lock().unwrap();
        let in_job = Arc::clone(&stuck);
        let canceller = cancel.clone();
        let started = Instant::now();
        let done = run(2, 2, &cancel, move |job| {
            if job == 0 {
                // Stuck until the test ends, like a request S3 never answers.
                drop(in_job.lock());
            } else {
                canceller.trigger(libc::SIGTERM);
            }
            Ok(job)
        });
        assert!(started.elapsed() < STOP_TIME + Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(done.results[0], None);
        assert_eq!(done.taken, 2);
        drop(held);
    }
}
