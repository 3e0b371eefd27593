//! The files of an artifact, and the keys they get.
//!
//! Only regular files are stored. Symlinks are never followed, and symlinks,
//! devices, sockets and fifos are logged and skipped. Keys are relative paths
//! joined with '/', built from normal path components only, so no key can
//! leave the prefix it is put under.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::warn;

/// One file to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path with '/' separators; never empty, never with `..`.
    pub key: String,
    pub path: PathBuf,
    /// Size when walked; the upload checks it did not change.
    pub len: u64,
}

/// Lists the files under `root` (a directory, walked recursively in name
/// order) or `root` itself when it is a regular file.
pub fn walk(root: &Path) -> Result<Vec<Entry>> {
    let meta = fs::symlink_metadata(root)
        .map_err(|e| Error::failed(format!("the artifact {} cannot be read: {e}", root.display())))?;
    if meta.is_file() {
        let name = root.file_name().map(Path::new).ok_or_else(|| Error::failed("the artifact has no file name"))?;
        return Ok(vec![Entry { key: key_of(name)?, path: root.to_owned(), len: meta.len() }]);
    }
    if !meta.is_dir() {
        return Err(Error::failed(format!("the artifact {} is neither a file nor a directory", root.display())));
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let mut children: Vec<_> = fs::read_dir(&dir)
            .and_then(|rd| rd.collect::<std::io::Result<Vec<_>>>())
            .map_err(|e| Error::failed(format!("cannot list {}: {e}", dir.display())))?;
        children.sort_by_key(|e| e.file_name());
        // Reverse so that popping keeps name order for sub-directories.
        let mut subdirs = Vec::new();
        for child in children {
            let path = child.path();
            let meta = fs::symlink_metadata(&path)
                .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
            let kind = meta.file_type();
            if kind.is_file() {
                let rel = path.strip_prefix(root).expect("walked paths are under the root");
                out.push(Entry { key: key_of(rel)?, path, len: meta.len() });
            } else if kind.is_dir() {
                subdirs.push(path);
            } else {
                let what = if kind.is_symlink() { "symlink" } else { "special file" };
                warn!("skipping {what} {} in the artifact", path.display());
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn key_of(rel: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(part) => parts.push(
                part.to_str().ok_or_else(|| Error::failed(format!("the file name {} is not UTF-8", rel.display())))?,
            ),
            _ => return Err(Error::failed(format!("the path {} leaves the artifact", rel.display()))),
        }
    }
    if parts.is_empty() {
        return Err(Error::failed("an artifact file has an empty name"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("build-task-walk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn nested_files_get_slash_keys_in_order_and_symlinks_are_skipped() {
        let d = tmp("nested");
        fs::create_dir_all(d.join("b/c")).unwrap();
        fs::write(d.join("index.json"), "{}").unwrap();
        fs::write(d.join("b/c/deep file+%#?=é.json"), "x").unwrap();
        fs::write(d.join("a.txt"), "hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("link")).unwrap();
        std::os::unix::fs::symlink(&d, d.join("b/loop")).unwrap();
        let keys: Vec<_> = walk(&d).unwrap().into_iter().map(|e| (e.key, e.len)).collect();
        assert_eq!(keys, [("a.txt".into(), 5), ("b/c/deep file+%#?=é.json".into(), 1), ("index.json".into(), 2)]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_single_file_is_keyed_by_its_name_and_an_empty_dir_or_a_fifo_has_no_entries() {
        let d = tmp("single");
        fs::write(d.join("report.json"), "[]").unwrap();
        let entries = walk(&d.join("report.json")).unwrap();
        assert_eq!(entries[0].key, "report.json");
        fs::create_dir(d.join("empty")).unwrap();
        assert!(walk(&d.join("empty")).unwrap().is_empty());
        let fifo = std::ffi::CString::new(d.join("empty/pipe").into_os_string().into_encoded_bytes()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: mkfifo with a NUL-terminated path.
        let made = unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) };
        assert_eq!(made, 0);
        assert!(walk(&d.join("empty")).unwrap().is_empty(), "a fifo is skipped, never opened");
        let err = walk(&d.join("missing")).unwrap_err();
        assert!(err.message().starts_with("the artifact"), "{err}");
        fs::remove_dir_all(&d).unwrap();
    }
}
