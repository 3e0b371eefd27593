//! s3s-fs on a loopback port: a real S3 server that checks SigV4 signatures
//! (presigned URLs included) and checksums. Buckets are folders of its root.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::TempDir;

pub const ACCESS_KEY: &str = "AKIDTESTBUILDTASK";
pub const SECRET_KEY: &str = "test-secret-key-for-s3s-fs-only";
pub const REGION: &str = "us-east-1";

pub struct S3Server {
    _logs: TempDir,
    pub port: u16,
    root: TempDir,
    child: Child,
}

impl S3Server {
    /// Starts s3s-fs with one bucket; `None` (test skipped) without s3s-fs.
    pub fn start(bucket: &str) -> Option<S3Server> {
        Self::start_with(bucket, ACCESS_KEY, SECRET_KEY)
    }

    /// The same with the given credentials.
    pub fn start_with(bucket: &str, access_key: &str, secret_key: &str) -> Option<S3Server> {
        if !super::have_tool("s3s-fs") {
            return None;
        }
        let root = TempDir::new("s3s");
        std::fs::create_dir_all(root.path().join(bucket)).expect("bucket dir");
        // Its output goes to a log the failure message names.
        let logs = TempDir::new("s3s-log");
        let log_path = logs.path().join("s3s-fs.log");
        // The port is chosen before s3s-fs binds it: another process may
        // take it first, and then s3s-fs exits and a new port is tried.
        for _ in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(&log_path).expect("s3s-fs log");
            let mut child = Command::new("s3s-fs")
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", access_key, "--secret-key", secret_key])
                .arg(root.path())
                .stdout(log.try_clone().expect("s3s-fs log"))
                .stderr(log)
                .spawn()
                .expect("start s3s-fs");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(S3Server { port, root, child, _logs: logs });
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                assert!(
                    Instant::now() < deadline,
                    "s3s-fs did not start within 10 s; its log ({}):\n{log}",
                    log_path.display()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("s3s-fs exited three times at start; its last log:\n{log}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The stored object's path on disk.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// The stored object's bytes, if it exists.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.object_path(bucket, key)).ok()
    }

    /// Every object key in a bucket, sorted (s3s-fs keeps its own
    /// bookkeeping in dot-files, which are left out).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let base = self.root.path().join(bucket);
        let mut out = Vec::new();
        collect(&base, &base, &mut out);
        out.sort();
        out
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(base, &p, out);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
