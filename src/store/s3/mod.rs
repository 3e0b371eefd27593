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
//!
//! # Where things are
//!
//! - `config`: the settings and the endpoint;
//! - `plan`: which requests an upload makes, in which order (no I/O);
//! - `upload`: one upload carried out, and its clean-up;
//! - `pool`: the worker threads both run on;
//! - `actions`: one S3 API call each, its request built as a value;
//! - `request`: sending a request, with retries, and a body read from disk.

mod actions;
mod config;
mod plan;
mod pool;
mod request;
mod upload;

use std::path::Path;

use rusty_s3::{Bucket, Credentials};
use ureq::Agent;

use super::{Store, Summary, walk};
use crate::cancel::Cancel;
use crate::env::Env;
use crate::error::Result;
use crate::params::Params;

pub use config::Config;
pub use request::{content_type, s3_error};

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
        let bucket = config::bucket(&params.bucket, &params.region, env)?;
        let credentials =
            Credentials::new(params.access_key_id.expose().to_owned(), params.secret_access_key.expose().to_owned());
        Ok(S3Store {
            bucket,
            credentials,
            prefix: params.artifact_prefix().to_owned(),
            agent,
            config: Config::from_env(env)?,
        })
    }

    fn key(&self, entry: &walk::Entry) -> String {
        format!("{}{}", self.prefix, entry.key)
    }
}

impl Store for S3Store {
    /// See the module documentation for what holds when this fails.
    fn put_artifact(&self, root: &Path, cancel: &Cancel) -> Result<Summary> {
        let entries = walk::walk(root)?;
        let summary = Summary { objects: entries.len(), bytes: entries.iter().map(|e| e.len).sum() };
        upload::run(self, entries, cancel)?;
        Ok(summary)
    }

    fn location(&self) -> String {
        // The bucket is a -p value: like every one, it never reaches a log.
        format!("s3://[bucket]/{}", self.prefix)
    }
}
