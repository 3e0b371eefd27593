//! One artifact's upload, start to end: the plan's multipart uploads are
//! created, its jobs run on the pool, the multipart uploads are completed,
//! and after a failure everything this run started is cleaned up (see the
//! module documentation of `s3` for what is guaranteed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::S3Store;
use super::actions::Part;
use super::plan::{self, Job, Plan};
use super::pool;
use super::request::{self, FileRange};
use crate::cancel::Cancel;
use crate::error::Result;
use crate::store::walk::Entry;
use crate::{debug, warn};

/// What the workers share. It is owned, not borrowed, so that a worker stuck
/// in a request can be left behind.
struct Upload {
    store: S3Store,
    entries: Vec<Entry>,
    plan: Plan,
    /// The upload id of each of the plan's multipart files, once created.
    upload_ids: Vec<String>,
    cancel: Cancel,
}

/// Uploads `entries`; on an error, what this run stored is removed.
pub(super) fn run(store: &S3Store, entries: Vec<Entry>, cancel: &Cancel) -> Result<()> {
    let plan = plan::plan(&entries, store.config.multipart_threshold, store.config.part_size);
    let mut upload = Upload { store: store.clone(), entries, plan, upload_ids: Vec::new(), cancel: cancel.clone() };
    let started = upload.start();
    let upload = Arc::new(upload);
    if let Err(e) = started {
        upload.clean_up(0, Vec::new());
        return Err(e);
    }

    let shared = Arc::clone(&upload);
    let jobs = upload.plan.jobs.len();
    let done = pool::run(jobs, store.config.workers, cancel, move |job| shared.run(shared.plan.jobs[job]));

    // Every key this run may have sent an object to: those of the
    // PutObjects taken, and those of the multipart uploads `complete` asks
    // S3 to complete.
    let mut written: Vec<String> = (upload.plan.jobs[..done.taken].iter())
        .filter_map(|job| match *job {
            Job::Put(i) => Some(store.key(&upload.entries[i])),
            Job::Part { .. } => None,
        })
        .collect();
    let mut completed = 0;
    // Workers left behind after a cancel have set no error.
    let result = match done.error.or_else(|| cancel.check().err()) {
        Some(e) => Err(e),
        None => upload.complete(done.results, &mut completed, &mut written),
    };
    if result.is_err() {
        upload.clean_up(completed, written);
    }
    result
}

impl Upload {
    /// Creates every multipart upload first, so that their parts and the
    /// other files share the workers.
    fn start(&mut self) -> Result<()> {
        let store = &self.store;
        for &i in &self.plan.multipart {
            let entry = &self.entries[i];
            self.cancel.check()?;
            self.upload_ids.push(store.create_multipart_upload(&store.key(entry), &entry.key, &self.cancel)?);
        }
        Ok(())
    }

    /// Runs one job; a part's result is the [`Part`] S3 stored.
    fn run(&self, job: Job) -> Result<Option<Part>> {
        let store = &self.store;
        match job {
            Job::Put(i) => {
                let entry = &self.entries[i];
                store.put_object(&store.key(entry), entry, &self.cancel)?;
                // A file that grew is stored without its tail: an error, and
                // the object is deleted with the others.
                request::unchanged(entry)?;
                debug!("stored {} ({} bytes)", entry.key, entry.len);
                Ok(None)
            }
            Job::Part { upload, number, offset, len } => {
                let entry = &self.entries[self.plan.multipart[upload]];
                let range = FileRange { path: &entry.path, key: &entry.key, offset, len };
                let part =
                    store.upload_part(&store.key(entry), &self.upload_ids[upload], number, &range, &self.cancel)?;
                Ok(Some(part))
            }
        }
    }

    /// Completes the multipart uploads with the parts in `results` (the
    /// pool's, all there), in order; counts in `completed` those S3
    /// completed, and adds to `written` the key of each it was asked to.
    fn complete(
        &self,
        results: Vec<Option<Option<Part>>>,
        completed: &mut usize,
        written: &mut Vec<String>,
    ) -> Result<()> {
        let store = &self.store;
        // Each multipart file's parts, in order: the plan lists them so.
        let mut parts: Vec<Vec<Part>> = vec![Vec::new(); self.upload_ids.len()];
        for (job, result) in self.plan.jobs.iter().zip(results) {
            if let (Job::Part { upload, .. }, Some(Some(part))) = (job, result) {
                parts[*upload].push(part);
            }
        }
        for ((&i, upload_id), parts) in self.plan.multipart.iter().zip(&self.upload_ids).zip(&parts) {
            let entry = &self.entries[i];
            let key = store.key(entry);
            written.push(key.clone());
            self.cancel.check()?;
            store.complete_multipart_upload(&key, &entry.key, upload_id, parts, &self.cancel)?;
            *completed += 1;
            // A file that changed is stored as it was hashed: an error, and
            // the object is deleted with the others.
            request::unchanged(entry)?;
            debug!("stored {} ({} bytes in {} parts)", entry.key, entry.len, parts.len());
        }
        Ok(())
    }

    /// Aborts multipart upload `upload`.
    fn abort(&self, upload: usize, cancel: &Cancel) -> Result<()> {
        let entry = &self.entries[self.plan.multipart[upload]];
        self.store.abort_multipart_upload(&self.store.key(entry), &entry.key, &self.upload_ids[upload], cancel)
    }

    /// Aborts the multipart uploads from number `open` on and deletes the
    /// `written` keys, on the pool, best effort, within a few seconds: after
    /// SIGTERM Cloud Foundry waits only ten before SIGKILL, and the error
    /// status must still go out.
    fn clean_up(self: &Arc<Self>, open: usize, written: Vec<String>) {
        // The pool's STOP_TIME after it makes 5 s.
        const CLEAN_UP_TIME: Duration = Duration::from_millis(4500);
        let deadline = Instant::now() + CLEAN_UP_TIME;
        // Jobs `0..aborts` abort, the others delete.
        let (aborts, deletes) = (self.upload_ids.len() - open, written.len());
        let upload = Arc::clone(self);
        // A fresh signal: the run's may be the cancel that brought us here.
        // It is given at the deadline, so that the pool stops waiting for
        // requests S3 does not answer; or never, once the clean-up is done.
        let cancel = Cancel::new();
        let signal = cancel.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let alarm = cancel.clone();
        std::thread::spawn(move || {
            if done_rx.recv_timeout(CLEAN_UP_TIME) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                alarm.trigger(libc::SIGALRM);
            }
        });
        let done = pool::run(aborts + deletes, self.store.config.workers, &cancel, move |job| {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let sent = if job < aborts {
                upload.abort(open + job, &signal)
            } else {
                upload.store.delete_object(&written[job - aborts], &signal)
            };
            Ok(sent.is_ok())
        });
        drop(done_tx);
        let failed = |jobs: &[Option<bool>]| jobs.iter().filter(|sent| **sent != Some(true)).count();
        let (not_aborted, not_deleted) = (failed(&done.results[..aborts]), failed(&done.results[aborts..]));
        if not_aborted > 0 {
            warn!("{not_aborted} multipart uploads could not be aborted");
        }
        if not_deleted > 0 {
            warn!("{} this run may have written could not be deleted", crate::store::objects(not_deleted));
        } else if deletes > 0 {
            warn!("deleted the {} this run may have written", crate::store::objects(deletes));
        }
    }
}
