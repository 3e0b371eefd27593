//! The store of local runs: a directory on disk.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Store, Summary, walk};
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// Copies the artifact into `dir`, replacing files of the same name.
pub struct LocalStore {
    pub dir: PathBuf,
}

impl Store for LocalStore {
    fn put_artifact(&self, root: &Path, cancel: &Cancel) -> Result<Summary> {
        let mut summary = Summary::default();
        for entry in walk::walk(root)? {
            cancel.check()?;
            let dest = self.dir.join(&entry.key);
            let write = |dest: &Path| -> std::io::Result<u64> {
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::copy(&entry.path, dest)
            };
            let bytes = write(&dest).map_err(|e| Error::failed(format!("cannot write {}: {e}", dest.display())))?;
            summary.objects += 1;
            summary.bytes += bytes;
        }
        Ok(summary)
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }
}
