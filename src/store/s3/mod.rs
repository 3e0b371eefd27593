//! The S3 store: presigned SigV4 requests (rusty-s3) sent with the shared
//! agent, from a few threads at once.
//!
//! Every object goes to `s3://BUCKET/<prefix><key>` with its Content-Type,
//! Content-Length and a signed `x-amz-checksum-sha256`, so S3 rejects a body
//! that changed on the way. Bodies stream from disk: a file at or above the
//! multipart threshold goes up in parts, each with its own checksum, and the
//! parts of one file travel in parallel like small files do.
//!
//! # What is guaranteed
//!
//! `put_artifact` returns `Ok` only after S3 accepted every object (for a
//! multipart upload: after CompleteMultipartUpload succeeded). When it
//! returns an error, the error names the object and S3's code and message,
//! every multipart upload this run started has been aborted, and every key
//! this run sent an object to is deleted, whether or not S3's answer arrived
//! (an answer lost on the way can hide a stored object; deleting a key that
//! is not there is a no-op) — both best effort: a network that is
//! gone can leave them behind, and that is logged. After a cancel the
//! workers get half a second to stop; one still waiting for S3's answer is
//! left behind, so the clean-up and the error status go out within the ten
//! seconds Cloud Foundry allows (a whole-object PUT that S3 completes after
//! the clean-up can then stay). Objects of earlier runs are never touched.

mod actions;
mod request;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusty_s3::{Bucket, Credentials, UrlStyle};
use ureq::Agent;

use super::{Store, Summary, walk};
use crate::cancel::Cancel;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::http::{self, Retry};
use crate::params::Params;
use crate::{debug, warn};

pub use request::{content_type, s3_error};

const MIB: u64 = 1024 * 1024;

/// S3's smallest part (all but the last) and its largest number of parts.
const MIN_PART: u64 = 5 * MIB;
const MAX_PARTS: u64 = 10_000;

/// How an upload runs; each field can be set from the environment.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Requests in flight at once (BUILD_TASK_S3_WORKERS).
    pub workers: usize,
    /// Files of at least this size go up in parts (BUILD_TASK_MULTIPART_THRESHOLD).
    pub multipart_threshold: u64,
    /// The size of each part but the last (BUILD_TASK_MULTIPART_PART_SIZE).
    pub part_size: u64,
    /// How long to wait for S3 to answer or to go on sending (BUILD_TASK_S3_TIMEOUT).
    pub timeout: Duration,
    /// Retries of 5xx, 429, time-outs and resets.
    pub retry: Retry,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            workers: 4,
            multipart_threshold: 64 * MIB,
            part_size: 8 * MIB,
            timeout: Duration::from_secs(60),
            retry: Retry {
                attempts: 5,
                base: Duration::from_millis(200),
                cap: Duration::from_secs(10),
                budget: Duration::from_secs(120),
            },
        }
    }
}

impl Config {
    /// The defaults, overridden by BUILD_TASK_S3_WORKERS,
    /// BUILD_TASK_MULTIPART_THRESHOLD, BUILD_TASK_MULTIPART_PART_SIZE (bytes,
    /// or with a `K`, `M` or `G` suffix for KiB, MiB, GiB) and
    /// BUILD_TASK_S3_TIMEOUT (seconds).
    pub fn from_env(env: &Env) -> Result<Config> {
        let mut config = Config::default();
        if let Some(v) = env.get("BUILD_TASK_S3_WORKERS") {
            config.workers = match v.trim().parse() {
                Ok(n @ 1..=64) => n,
                _ => return Err(Error::usage("BUILD_TASK_S3_WORKERS must be a number from 1 to 64")),
            };
        }
        if let Some(v) = env.get("BUILD_TASK_MULTIPART_THRESHOLD") {
            config.multipart_threshold = size(v)
                .filter(|n| *n >= MIN_PART)
                .ok_or_else(|| Error::usage("BUILD_TASK_MULTIPART_THRESHOLD must be a size of at least 5M"))?;
        }
        if let Some(v) = env.get("BUILD_TASK_MULTIPART_PART_SIZE") {
            config.part_size = size(v)
                .filter(|n| (MIN_PART..=5 * 1024 * MIB).contains(n))
                .ok_or_else(|| Error::usage("BUILD_TASK_MULTIPART_PART_SIZE must be a size from 5M to 5G"))?;
        }
        if let Some(v) = env.get("BUILD_TASK_S3_TIMEOUT") {
            config.timeout = match v.trim().parse() {
                Ok(s @ 1..=3600) => Duration::from_secs(s),
                _ => return Err(Error::usage("BUILD_TASK_S3_TIMEOUT must be a number of seconds from 1 to 3600")),
            };
        }
        Ok(config)
    }

    /// The part size for a file of `len` bytes: the configured one, grown
    /// when the file would otherwise need more than 10,000 parts.
    fn part_size_for(&self, len: u64) -> u64 {
        self.part_size.max(len.div_ceil(MAX_PARTS))
    }
}

/// `123`, `64M`, `8MiB`, `1G`: a size in bytes.
fn size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(1 << shift)
}

#[derive(Clone)]
pub struct S3Store {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    agent: Agent,
    config: Config,
}

impl S3Store {
    /// A store for the params' bucket, region and credentials, with the
    /// endpoint and settings the environment chooses.
    pub fn new(params: &Params, env: &Env, agent: Agent) -> Result<S3Store> {
        let (endpoint, style) = endpoint(&params.bucket, &params.region, env)?;
        let bucket = Bucket::new(endpoint, style, params.bucket.clone(), params.region.clone())
            .map_err(|e| Error::usage(format!("the S3 bucket cannot be addressed: {e}")))?;
        let credentials =
            Credentials::new(params.access_key_id.expose().to_owned(), params.secret_access_key.expose().to_owned());
        Ok(S3Store { bucket, credentials, prefix: params.artifact_prefix(), agent, config: Config::from_env(env)? })
    }

    fn key(&self, entry: &walk::Entry) -> String {
        format!("{}{}", self.prefix, entry.key)
    }
}

/// One unit of work for a worker.
enum Job {
    /// A whole file in one PutObject.
    Put(usize),
    /// Part `number` (from 1) of multipart upload `upload`.
    Part { upload: usize, number: u32 },
}

/// A multipart upload in progress.
struct Multipart {
    entry: usize,
    upload_id: String,
    part_size: u64,
    /// (ETag, checksum) of each part, by part number - 1.
    parts: Mutex<Vec<Option<(String, String)>>>,
}

/// How long the workers get to stop after a cancel. One waiting for an
/// answer S3 is slow to give cannot be interrupted: the clean-up goes on
/// without it, so it cannot use up the time Cloud Foundry leaves after SIGTERM.
const STOP_TIME: Duration = Duration::from_millis(500);

/// What the workers share. It is owned, not borrowed, so that a worker stuck
/// in a request can be left behind.
struct Run {
    store: S3Store,
    entries: Vec<walk::Entry>,
    uploads: Vec<Multipart>,
    jobs: Vec<Job>,
    next: AtomicUsize,
    failed: AtomicBool,
    error: Mutex<Option<Error>>,
    /// Keys this run sent an object to, recorded before it is sent, for the
    /// clean-up after a failure.
    written: Mutex<Vec<String>>,
    cancel: Cancel,
    /// How many workers have ended, and a wake-up for each.
    ended: Mutex<usize>,
    ended_cv: Condvar,
}

impl Run {
    /// Runs `workers` threads and waits until they end, or, after a cancel,
    /// for at most STOP_TIME more.
    fn run_workers(self: &Arc<Self>, workers: usize) {
        for _ in 0..workers {
            let run = Arc::clone(self);
            std::thread::spawn(move || {
                run.work();
                if let Ok(mut ended) = run.ended.lock() {
                    *ended += 1;
                }
                run.ended_cv.notify_all();
            });
        }
        let mut stop_by = None;
        let Ok(mut ended) = self.ended.lock() else { return };
        while *ended < workers {
            let now = Instant::now();
            if self.cancel.signal().is_some() {
                let by = *stop_by.get_or_insert(now + STOP_TIME);
                if now >= by {
                    warn!("{} uploads did not stop in time; cleaning up without them", workers - *ended);
                    return;
                }
            }
            // Short waits: a cancel does not wake this condition variable.
            match self.ended_cv.wait_timeout(ended, Duration::from_millis(50)) {
                Ok((guard, _)) => ended = guard,
                Err(_) => return,
            }
        }
    }

    fn fail(&self, error: Error) {
        // The first error is the one reported; the others follow from it.
        if !self.failed.swap(true, Ordering::SeqCst)
            && let Ok(mut slot) = self.error.lock()
        {
            *slot = Some(error);
        }
    }

    fn work(&self) {
        loop {
            if self.failed.load(Ordering::SeqCst) {
                return;
            }
            if let Err(e) = self.cancel.check() {
                return self.fail(e);
            }
            let Some(job) = self.jobs.get(self.next.fetch_add(1, Ordering::SeqCst)) else { return };
            if let Err(e) = self.run(job) {
                return self.fail(e);
            }
        }
    }

    fn run(&self, job: &Job) -> Result<()> {
        let store = &self.store;
        match *job {
            Job::Put(i) => {
                let entry = &self.entries[i];
                let key = store.key(entry);
                if let Ok(mut written) = self.written.lock() {
                    written.push(key.clone());
                }
                store.put_object(&key, entry, &self.cancel)?;
                // A file that grew is stored without its tail: an error, and
                // the object is deleted with the others.
                request::unchanged(entry)?;
                debug!("stored {} ({} bytes)", entry.key, entry.len);
            }
            Job::Part { upload, number } => {
                let upload = &self.uploads[upload];
                let entry = &self.entries[upload.entry];
                let offset = u64::from(number - 1) * upload.part_size;
                let len = upload.part_size.min(entry.len - offset);
                let part = request::FileRange { path: &entry.path, key: &entry.key, offset, len };
                let done = store.upload_part(&store.key(entry), &upload.upload_id, number, &part, &self.cancel)?;
                if let Ok(mut parts) = upload.parts.lock() {
                    parts[number as usize - 1] = Some(done);
                }
            }
        }
        Ok(())
    }
}

/// Runs `f` on every item from `workers` scoped threads.
fn parallel<T: Sync>(workers: usize, items: &[T], f: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    let worker = || {
        while let Some(item) = items.get(next.fetch_add(1, Ordering::SeqCst)) {
            f(item);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..workers.min(items.len()) {
            s.spawn(worker);
        }
        worker();
    });
}

impl Store for S3Store {
    /// See the module documentation for what holds when this fails.
    fn put_artifact(&self, root: &Path, cancel: &Cancel) -> Result<Summary> {
        let entries = walk::walk(root)?;
        let mut summary = Summary::default();
        for entry in &entries {
            summary.objects += 1;
            summary.bytes += entry.len;
        }

        // Start every multipart upload first, so that their parts and the
        // small files share the workers.
        let mut uploads = Vec::new();
        let mut started = Ok(());
        for (i, entry) in entries.iter().enumerate() {
            if entry.len < self.config.multipart_threshold {
                continue;
            }
            match cancel.check().and_then(|()| self.create_multipart_upload(&self.key(entry), &entry.key, cancel)) {
                Ok(upload_id) => {
                    let part_size = self.config.part_size_for(entry.len);
                    let count = entry.len.div_ceil(part_size) as usize;
                    uploads.push(Multipart { entry: i, upload_id, part_size, parts: Mutex::new(vec![None; count]) });
                }
                Err(e) => {
                    started = Err(e);
                    break;
                }
            }
        }
        if let Err(e) = started {
            self.clean_up(&entries, &uploads, &[]);
            return Err(e);
        }

        // Parts first, then files largest first: the long jobs start early
        // and the short ones fill the gaps at the end.
        let mut jobs: Vec<Job> = Vec::new();
        for (u, upload) in uploads.iter().enumerate() {
            let count = upload.parts.lock().map(|p| p.len()).unwrap_or(0) as u32;
            jobs.extend((1..=count).map(|number| Job::Part { upload: u, number }));
        }
        let mut small: Vec<usize> =
            (0..entries.len()).filter(|&i| entries[i].len < self.config.multipart_threshold).collect();
        small.sort_by_key(|&i| std::cmp::Reverse(entries[i].len));
        jobs.extend(small.into_iter().map(Job::Put));

        let workers = self.config.workers.min(jobs.len()).max(1);
        let run = Arc::new(Run {
            store: self.clone(),
            entries,
            uploads,
            jobs,
            next: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
            written: Mutex::new(Vec::new()),
            cancel: cancel.clone(),
            ended: Mutex::new(0),
            ended_cv: Condvar::new(),
        });
        run.run_workers(workers);
        let (entries, uploads) = (&run.entries, &run.uploads);

        let mut written = run.written.lock().map(|w| w.clone()).unwrap_or_default();
        // Workers left behind after a cancel have set no error.
        let mut result = match run.error.lock().ok().and_then(|mut e| e.take()).or_else(|| cancel.check().err()) {
            Some(e) => Err(e),
            None => Ok(()),
        };
        let mut completed = Vec::new();
        if result.is_ok() {
            for (u, upload) in uploads.iter().enumerate() {
                let entry = &entries[upload.entry];
                let parts: Vec<(String, String)> =
                    upload.parts.lock().map(|p| p.iter().flatten().cloned().collect()).unwrap_or_default();
                let key = self.key(entry);
                written.push(key.clone());
                let done = cancel
                    .check()
                    .and_then(|()| self.complete_multipart_upload(&key, &entry.key, &upload.upload_id, &parts, cancel));
                if let Err(e) = done {
                    result = Err(e);
                    break;
                }
                completed.push(u);
                if let Err(e) = request::unchanged(entry) {
                    result = Err(e);
                    break;
                }
                debug!("stored {} ({} bytes in {} parts)", entry.key, entry.len, parts.len());
            }
        }
        match result {
            Ok(()) => Ok(summary),
            Err(e) => {
                let open: Vec<&Multipart> =
                    uploads.iter().enumerate().filter(|(u, _)| !completed.contains(u)).map(|(_, m)| m).collect();
                self.clean_up(entries, &open, &written);
                Err(e)
            }
        }
    }

    fn location(&self) -> String {
        // The bucket is a -p value: like every one, it never reaches a log.
        format!("s3://[bucket]/{}", self.prefix)
    }
}

impl S3Store {
    /// Aborts the open multipart uploads and deletes the written keys, best
    /// effort, within a few seconds: after SIGTERM Cloud Foundry waits only
    /// ten before SIGKILL, and the error status must still go out.
    fn clean_up<M: std::borrow::Borrow<Multipart> + Sync>(
        &self,
        entries: &[walk::Entry],
        open: &[M],
        written: &[String],
    ) {
        const CLEAN_UP_TIME: Duration = Duration::from_secs(5);
        let deadline = Instant::now() + CLEAN_UP_TIME;
        // A fresh signal: the run's may be the cancel that brought us here.
        let cancel = Cancel::new();
        let left = AtomicUsize::new(0);
        parallel(self.config.workers, open, |upload| {
            let upload = upload.borrow();
            let entry = &entries[upload.entry];
            if Instant::now() >= deadline
                || self.abort_multipart_upload(&self.key(entry), &entry.key, &upload.upload_id, &cancel).is_err()
            {
                left.fetch_add(1, Ordering::SeqCst);
            }
        });
        let not_aborted = left.swap(0, Ordering::SeqCst);
        parallel(self.config.workers, written, |key| {
            if Instant::now() >= deadline || self.delete_object(key, &cancel).is_err() {
                left.fetch_add(1, Ordering::SeqCst);
            }
        });
        let not_deleted = left.load(Ordering::SeqCst);
        if not_aborted > 0 {
            warn!("{not_aborted} multipart uploads could not be aborted");
        }
        if not_deleted > 0 {
            warn!("{} this run may have written could not be deleted", crate::store::objects(not_deleted));
        } else if !written.is_empty() {
            warn!("deleted the {} this run may have written", crate::store::objects(written.len()));
        }
    }
}

/// The endpoint as the AWS SDKs choose it: AWS_ENDPOINT_URL_S3, else
/// AWS_ENDPOINT_URL (path-style, as non-AWS endpoints need), else
/// `s3[-fips].<region>.amazonaws.com` addressed virtual-host style. Bucket
/// names with dots cannot be a TLS host name under the wildcard certificate,
/// so those go path-style, as the SDKs do.
fn endpoint(bucket: &str, region: &str, env: &Env) -> Result<(url::Url, UrlStyle)> {
    let custom =
        [("AWS_ENDPOINT_URL_S3", env.get("AWS_ENDPOINT_URL_S3")), ("AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL"))]
            .into_iter()
            .find_map(|(name, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (name, v.trim())));
    if let Some((name, custom)) = custom {
        http::check_url(custom, name)?;
        let url = custom.parse().map_err(|_| Error::usage(format!("{name} is not a URL")))?;
        return Ok((url, UrlStyle::Path));
    }
    if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(Error::usage("AWS_DEFAULT_REGION is not a region name"));
    }
    let fips = env.get("AWS_USE_FIPS_ENDPOINT").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let service = if fips { "s3-fips" } else { "s3" };
    let url = format!("https://{service}.{region}.amazonaws.com")
        .parse()
        .map_err(|_| Error::usage("AWS_DEFAULT_REGION does not make a valid endpoint"))?;
    let style = if bucket.contains('.') { UrlStyle::Path } else { UrlStyle::VirtualHost };
    Ok((url, style))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object_url(bucket: &str, region: &str, env: &[(&str, &str)]) -> String {
        let (url, style) = endpoint(bucket, region, &Env::from_pairs(env.iter().copied())).unwrap();
        let bucket = Bucket::new(url, style, bucket.to_owned(), region.to_owned()).unwrap();
        bucket.object_url("_tasks/artifacts/1/index.json").to_string()
    }

    #[test]
    fn the_default_endpoint_is_virtual_hosted_in_the_region_govcloud_included() {
        assert_eq!(
            object_url("site", "us-east-1", &[]),
            "https://site.s3.us-east-1.amazonaws.com/_tasks/artifacts/1/index.json"
        );
        assert_eq!(
            object_url("cg-123", "us-gov-west-1", &[]),
            "https://cg-123.s3.us-gov-west-1.amazonaws.com/_tasks/artifacts/1/index.json"
        );
    }

    #[test]
    fn fips_selects_the_s3_fips_endpoint() {
        let fips = [("AWS_USE_FIPS_ENDPOINT", "true")];
        assert_eq!(
            object_url("cg-123", "us-gov-west-1", &fips),
            "https://cg-123.s3-fips.us-gov-west-1.amazonaws.com/_tasks/artifacts/1/index.json"
        );
        assert_eq!(
            object_url("cg-123", "us-gov-west-1", &[("AWS_USE_FIPS_ENDPOINT", "false")]),
            "https://cg-123.s3.us-gov-west-1.amazonaws.com/_tasks/artifacts/1/index.json"
        );
    }

    #[test]
    fn an_endpoint_url_overrides_with_path_style_and_the_s3_one_wins() {
        let both =
            [("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"), ("AWS_ENDPOINT_URL_S3", "https://minio.example.gov")];
        assert_eq!(
            object_url("site", "us-east-1", &both),
            "https://minio.example.gov/site/_tasks/artifacts/1/index.json"
        );
        let general = [("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"), ("AWS_ENDPOINT_URL_S3", "")];
        assert_eq!(
            object_url("site", "us-east-1", &general),
            "http://127.0.0.1:9000/site/_tasks/artifacts/1/index.json"
        );
        let plain_http = Env::from_pairs([("AWS_ENDPOINT_URL_S3", "http://s3.example.gov")]);
        let err = endpoint("site", "us-east-1", &plain_http).unwrap_err();
        assert!(err.message().starts_with("AWS_ENDPOINT_URL_S3 must be an https URL"), "{err}");
    }

    #[test]
    fn dotted_buckets_go_path_style_and_odd_regions_are_refused() {
        assert_eq!(
            object_url("a.b", "us-gov-west-1", &[]),
            "https://s3.us-gov-west-1.amazonaws.com/a.b/_tasks/artifacts/1/index.json"
        );
        assert!(endpoint("site", "us-east-1.evil.com/", &Env::default()).is_err());
    }

    #[test]
    fn settings_come_from_the_environment_with_units() {
        let env = Env::from_pairs([
            ("BUILD_TASK_S3_WORKERS", "8"),
            ("BUILD_TASK_MULTIPART_THRESHOLD", "16M"),
            ("BUILD_TASK_MULTIPART_PART_SIZE", "5242880"),
            ("BUILD_TASK_S3_TIMEOUT", "3"),
        ]);
        let c = Config::from_env(&env).unwrap();
        assert_eq!(
            (c.workers, c.multipart_threshold, c.part_size, c.timeout),
            (8, 16 * MIB, 5 * MIB, Duration::from_secs(3))
        );
        let d = Config::from_env(&Env::default()).unwrap();
        assert_eq!(
            (d.workers, d.multipart_threshold, d.part_size, d.timeout),
            (4, 64 * MIB, 8 * MIB, Duration::from_secs(60))
        );
        for (name, bad) in [
            ("BUILD_TASK_S3_WORKERS", "0"),
            ("BUILD_TASK_MULTIPART_THRESHOLD", "1M"),
            ("BUILD_TASK_MULTIPART_PART_SIZE", "8 parsecs"),
            ("BUILD_TASK_S3_TIMEOUT", "-1"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(name, bad)])).unwrap_err();
            assert!(err.message().starts_with(name), "{err}");
        }
    }

    #[test]
    fn parts_grow_so_no_file_needs_more_than_ten_thousand() {
        let c = Config::default();
        assert_eq!(c.part_size_for(MIB), 8 * MIB);
        assert!((200 * 1024 * MIB).div_ceil(c.part_size_for(200 * 1024 * MIB)) <= MAX_PARTS);
    }
}
