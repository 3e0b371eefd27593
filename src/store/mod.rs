//! Where an artifact goes: S3 under the task's prefix, or a local directory.

pub mod local;
pub mod s3;
pub mod walk;

use std::path::Path;

use crate::cancel::Cancel;
use crate::error::Result;

/// What an upload did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub objects: usize,
    pub bytes: u64,
}

/// A destination for a task's artifact.
pub trait Store {
    /// Stores every regular file under `root` (or `root` itself if it is a
    /// file), keyed by its path relative to `root`. Either every object is
    /// stored or the error says which one was not.
    fn put_artifact(&self, root: &Path, cancel: &Cancel) -> Result<Summary>;

    /// Where objects go, for logs and the local result (no secrets).
    fn location(&self) -> String;
}

/// "1 object", "3 objects": a count for a log line.
pub fn objects(n: usize) -> String {
    if n == 1 { "1 object".to_owned() } else { format!("{n} objects") }
}
