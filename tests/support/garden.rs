//! A container built the way Garden builds a Cloud Foundry task's, run with
//! Debian's runc, with the memory cgroup's figures read back.
//!
//! ../shared/CONTRACT.md B10 describes what Garden (guardian) gives an
//! unprivileged task container; this harness writes that as an OCI bundle:
//! a user namespace whose root is host uid/gid 4294967294 and whose ids 1..
//! are the host's own, over a private copy of the image's rootfs whose root-
//! owned files are shifted to that id (as grootfs stores an unprivileged
//! image); net, pid, uts, ipc and mount namespaces; guardian's 14
//! capabilities; no-new-privileges off; guardian's seccomp allow-list
//! (tests/images/garden-seccomp.json); guardian's mounts and masked paths,
//! with /tmp on the rootfs; memory and memory+swap both at the limit; 1,024
//! pids; and Garden's environment. The task is `/bin/sh -c '<command>'` as
//! root in `/`, as Cloud Foundry's launcher execs it.
//!
//! `runc run --keep` leaves the stopped container's cgroup in place, so its
//! peak usage, failure count and OOM kills are read after the task ends; a
//! sampler beside it keeps memory.stat as it was at the highest usage seen,
//! for the anonymous/page-cache split at the peak.
//!
//! The network namespace is a path given by the caller (a thread's
//! `/proc/<pid>/task/<tid>/ns/net`, where the test's servers listen):
//! tests/support/net.rs's `PublicNet`, where the site has a public-looking
//! address.

use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Debian's runc, the one the contract's measurements used.
pub const RUNC: &str = "/usr/sbin/runc";

/// The host uid and gid of container root: guardian's `maxID`
/// (idmapper.MustGetMaxValidUID), the top of the 32-bit id space less one.
pub const ROOT_ID: u32 = 4_294_967_294;

/// guardian's `unprivilegedMaxCaps` (guardiancmd/server.go).
const CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// guardian's `defaultMaskedPaths` (guardiancmd/command.go).
const MASKED: [&str; 8] = [
    "/proc/kcore",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/keys",
    "/sys/firmware",
];

/// The cgroup v1 memory hierarchy; runc makes the container's cgroup under it.
const MEMORY_CGROUP: &str = "/sys/fs/cgroup/memory";

/// One task to run: the image's rootfs, its environment, its limits.
pub struct Task<'a> {
    /// The unpacked image rootfs (left untouched: each run gets a copy).
    pub rootfs: &'a Path,
    /// The whole process environment, in order (see [`garden_env`]).
    pub env: Vec<(String, String)>,
    /// Memory and memory+swap limit in bytes; None runs uncapped.
    pub memory: Option<u64>,
    /// The network namespace to join, as a /proc path.
    pub netns: &'a Path,
}

/// What the run gave.
pub struct Outcome {
    /// The task's exit code; None when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub memory: Memory,
}

/// The memory cgroup's figures for the whole run.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    /// memory.max_usage_in_bytes: the peak charge, page cache included.
    pub peak: u64,
    /// memory.memsw.max_usage_in_bytes: the same with swap.
    pub peak_with_swap: u64,
    /// memory.failcnt and memory.memsw.failcnt: how often a charge hit
    /// the memory or the memory+swap limit (reclaim followed). With both
    /// limits equal, the memory+swap counter is charged first and fails first.
    pub failcnt: u64,
    pub failcnt_with_swap: u64,
    /// `oom_kill` of memory.oom_control: processes the OOM killer ended.
    pub oom_kills: u64,
    /// memory.stat's `rss` (anonymous), `cache`, `shmem` and `mapped_file`
    /// at the highest usage the sampler saw (every 200 ms).
    pub at_peak: Breakdown,
}

#[derive(Clone, Debug, Default)]
pub struct Breakdown {
    pub usage: u64,
    pub rss: u64,
    pub cache: u64,
    pub shmem: u64,
    pub mapped_file: u64,
}

const MIB: f64 = 1024.0 * 1024.0;

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.at_peak;
        write!(
            f,
            "peak {:.0} MiB (with swap {:.0} MiB), failcnt {} (with swap {}), OOM kills {}; at the sampled peak of {:.0} MiB: \
             rss {:.0} MiB, cache {:.0} MiB (shmem {:.0} MiB, mapped {:.0} MiB)",
            self.peak as f64 / MIB,
            self.peak_with_swap as f64 / MIB,
            self.failcnt,
            self.failcnt_with_swap,
            self.oom_kills,
            b.usage as f64 / MIB,
            b.rss as f64 / MIB,
            b.cache as f64 / MIB,
            b.shmem as f64 / MIB,
            b.mapped_file as f64 / MIB,
        )
    }
}

/// Whether this machine can run the harness (else [`super::skip`]): runc,
/// root, and a writable cgroup v1 memory hierarchy.
pub fn available() -> bool {
    if !Path::new(RUNC).is_file() {
        super::skip(&format!("runc is not installed at {RUNC}"));
        return false;
    }
    if !std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        super::skip("runc needs root");
        return false;
    }
    if !Path::new(MEMORY_CGROUP).join("memory.memsw.limit_in_bytes").is_file() {
        super::skip("no cgroup v1 memory hierarchy with swap accounting at /sys/fs/cgroup/memory");
        return false;
    }
    true
}

/// Garden's environment for a Docker-image task (CONTRACT B7, B10): the
/// image's ENV, then the app's env (`app`: DEPLOY_ENV, LOGLEVEL,
/// VCAP_SERVICES), VCAP_APPLICATION as the launcher rewrites it,
/// MEMORY_LIMIT, the instance variables of a task without ports,
/// CF_SYSTEM_CERT_PATH, and USER=root and HOME from /etc/passwd when the
/// image sets neither. No LANG, no TMPDIR: a Docker task has neither.
pub fn garden_env(image_env: &[(String, String)], app: &[(&str, &str)], memory_mb: u64) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = image_env.to_vec();
    let mut set = |k: &str, v: &str| {
        env.retain(|(key, _)| key != k);
        env.push((k.to_owned(), v.to_owned()));
    };
    for (k, v) in app {
        set(k, v);
    }
    set(
        "VCAP_APPLICATION",
        r#"{"application_id":"0b7e5c1e-0000-4000-8000-000000000001","application_name":"pages-a11y-task-dev","host":"0.0.0.0","instance_id":"","limits":{"disk":4000,"mem":512}}"#,
    );
    set("MEMORY_LIMIT", &format!("{memory_mb}m"));
    set("CF_INSTANCE_IP", "10.255.0.2");
    set("CF_INSTANCE_INTERNAL_IP", "10.255.0.2");
    set("CF_INSTANCE_PORT", "");
    set("CF_INSTANCE_ADDR", "");
    set("CF_INSTANCE_PORTS", "[]");
    set("CF_SYSTEM_CERT_PATH", "/etc/cf-system-certificates");
    for (k, v) in [("USER", "root"), ("HOME", "/root")] {
        if !env.iter().any(|(key, _)| key == k) {
            env.push((k.to_owned(), v.to_owned()));
        }
    }
    env
}

/// Runs `command` as Garden runs a task; None (skipped) when the machine
/// cannot. Panics with runc's own words when runc fails to start the
/// container.
pub fn run(task: &Task, command: &str) -> Option<Outcome> {
    if !available() {
        return None;
    }
    static N: AtomicUsize = AtomicUsize::new(0);
    let id = format!("bt-garden-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let bundle = Path::new(env!("CARGO_TARGET_TMPDIR")).join("garden").join(&id);
    let _ = std::fs::remove_dir_all(&bundle);
    std::fs::create_dir_all(&bundle).expect("bundle dir");
    let cgroup = format!("/build-task-garden/{id}");

    // The rootfs as grootfs stores it for an unprivileged container: a
    // private copy whose root-owned entries belong to container root.
    let rootfs = bundle.join("rootfs");
    let copy = Command::new("cp").args(["-a", "--reflink=auto"]).arg(task.rootfs).arg(&rootfs).output().expect("cp");
    assert!(copy.status.success(), "cannot copy the rootfs: {}", String::from_utf8_lossy(&copy.stderr));
    shift_ownership(&rootfs);
    // The copy's pages are in the page cache, charged to this process's
    // cgroup: written back and dropped, the task pays for its own reads of
    // the image (the browser's 200+ MB among them) as on a cell where the
    // image is not cached.
    let dir = std::fs::File::open(&rootfs).expect("rootfs");
    // SAFETY: syncfs on a file this function holds open.
    assert_eq!(unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) }, 0, "syncfs");
    drop_cached(&rootfs);

    // Files Garden writes for every container, bind-mounted read-only.
    std::fs::write(bundle.join("hosts"), format!("127.0.0.1 localhost\n10.255.0.2 {id}\n")).unwrap();
    std::fs::write(bundle.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
    let certs = bundle.join("cf-system-certificates");
    std::fs::create_dir_all(&certs).unwrap();
    let _ = std::fs::copy("/etc/ssl/certs/ca-certificates.crt", certs.join("trusted-ca-1.crt"));

    let config = config(task, command, &id, &cgroup, &bundle);
    std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let memory_dir = Path::new(MEMORY_CGROUP).join(cgroup.trim_start_matches('/'));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (dir, stop) = (memory_dir.clone(), stop.clone());
        std::thread::spawn(move || sample_peak(&dir, &stop))
    };
    let start = Instant::now();
    let mut runc = Command::new(RUNC);
    runc.args(["--root"])
        .arg(runc_root())
        .args(["run", "--keep", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null());
    // nofile is inherited from runc, as a task inherits garden's `ulimit -n
    // 65536`: an rlimit in config.json above the hard limit would need
    // CAP_SYS_RESOURCE, which container root lacks.
    let out = runc.output().expect("run runc");
    let elapsed = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    let at_peak = sampler.join().unwrap();

    let read = |name: &str| std::fs::read_to_string(memory_dir.join(name)).unwrap_or_default();
    let number = |name: &str| read(name).trim().parse::<u64>().unwrap_or(0);
    let memory = Memory {
        peak: number("memory.max_usage_in_bytes"),
        peak_with_swap: number("memory.memsw.max_usage_in_bytes"),
        failcnt: number("memory.failcnt"),
        failcnt_with_swap: number("memory.memsw.failcnt"),
        oom_kills: stat_field(&read("memory.oom_control"), "oom_kill").unwrap_or(0),
        at_peak,
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let created = memory_dir.is_dir();
    let _ = Command::new(RUNC).arg("--root").arg(runc_root()).args(["delete", "--force", &id]).output();
    let _ = std::fs::remove_dir_all(&bundle);
    assert!(created, "runc did not create the container (its cgroup {} is missing): {stderr}", memory_dir.display());
    // runc's exit code is the process's, or 128 + the signal that ended it.
    let code = out.status.code().filter(|c| *c < 128);
    Some(Outcome { code, stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr, elapsed, memory })
}

/// runc's state directory for these tests, apart from any other runc user.
fn runc_root() -> PathBuf {
    PathBuf::from("/run/build-task-garden-runc")
}

/// The OCI runtime config: CONTRACT B10 in runc's terms.
fn config(task: &Task, command: &str, id: &str, cgroup: &str, bundle: &Path) -> Value {
    let seccomp: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/garden-seccomp.json"))
            .expect("tests/images/garden-seccomp.json"),
    )
    .expect("the seccomp profile is JSON");
    let env: Vec<String> = task.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut memory = json!({});
    if let Some(limit) = task.memory {
        // guardian sets swap (memory+swap in cgroup v1) to the limit itself:
        // no swap beyond the memory limit.
        memory = json!({ "limit": limit, "swap": limit });
    }
    let bind_ro = |source: PathBuf, destination: &str| json!({ "destination": destination, "type": "bind", "source": source, "options": ["bind", "ro", "nosuid", "nodev", "noexec"] });
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/sh", "-c", command],
            "env": env,
            "cwd": "/",
            "capabilities": {
                "bounding": CAPABILITIES,
                "effective": CAPABILITIES,
                "inheritable": CAPABILITIES,
                "permitted": CAPABILITIES,
            },
            "noNewPrivileges": false,
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": id,
        // guardian's defaultBindMounts and unprivilegedMounts
        // (guardiancmd/command_linux.go), then what Garden bind-mounts.
        "mounts": [
            // Garden mounts a fresh sysfs: its container owns its network
            // namespace. This one joins a namespace the host's user
            // namespace owns, where the kernel refuses that mount, so /sys is
            // the host's, read-only, as `runc spec --rootless` does it.
            { "destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "noexec", "nosuid", "nodev", "ro"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "strictatime", "mode=755"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "nosuid", "nodev", "mode=1777"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["noexec", "nosuid", "nodev"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "gid=5", "ptmxmode=0666", "mode=0620"] },
            { "destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"] },
            bind_ro(bundle.join("hosts"), "/etc/hosts"),
            bind_ro(bundle.join("resolv.conf"), "/etc/resolv.conf"),
            bind_ro(bundle.join("cf-system-certificates"), "/etc/cf-system-certificates"),
        ],
        "linux": {
            "uidMappings": [
                { "containerID": 0, "hostID": ROOT_ID, "size": 1 },
                { "containerID": 1, "hostID": 1, "size": ROOT_ID - 1 },
            ],
            "gidMappings": [
                { "containerID": 0, "hostID": ROOT_ID, "size": 1 },
                { "containerID": 1, "hostID": 1, "size": ROOT_ID - 1 },
            ],
            "namespaces": [
                { "type": "pid" },
                { "type": "network", "path": task.netns },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "user" },
            ],
            "cgroupsPath": cgroup,
            "resources": {
                "devices": [{ "allow": false, "access": "rwm" }],
                "memory": memory,
                "pids": { "limit": 1024 },
            },
            "rootfsPropagation": "private",
            "maskedPaths": MASKED,
            "seccomp": seccomp,
        },
    })
}

/// Gives container root what host root owns in the image: uid and gid 0
/// become [`ROOT_ID`], the others stay (they map to themselves). chown
/// clears set-id bits, so the mode is put back after it.
fn shift_ownership(path: &Path) {
    let meta = std::fs::symlink_metadata(path).expect("rootfs entry");
    if meta.uid() == 0 || meta.gid() == 0 {
        let uid = if meta.uid() == 0 { ROOT_ID } else { meta.uid() };
        let gid = if meta.gid() == 0 { ROOT_ID } else { meta.gid() };
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("cannot chown {}: {e}", path.display()));
        if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777)).unwrap();
        }
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).expect("rootfs dir") {
            shift_ownership(&entry.expect("rootfs dir entry").path());
        }
    }
}

/// Asks the kernel to drop the cached pages of every file under `path`.
fn drop_cached(path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    if meta.is_file() {
        if let Ok(file) = std::fs::File::open(path) {
            // SAFETY: posix_fadvise on a file held open here; it touches no memory of ours.
            unsafe { libc::posix_fadvise(std::os::fd::AsRawFd::as_raw_fd(&file), 0, 0, libc::POSIX_FADV_DONTNEED) };
        }
    } else if meta.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            drop_cached(&entry.path());
        }
    }
}

/// Polls the cgroup every 200 ms until `stop`; memory.stat at the highest
/// usage seen.
fn sample_peak(dir: &Path, stop: &AtomicBool) -> Breakdown {
    let mut best = Breakdown::default();
    while !stop.load(Ordering::SeqCst) {
        let usage = std::fs::read_to_string(dir.join("memory.usage_in_bytes"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if usage > best.usage {
            let stat = std::fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
            let field = |name| stat_field(&stat, name).unwrap_or(0);
            best = Breakdown {
                usage,
                rss: field("rss"),
                cache: field("cache"),
                shmem: field("shmem"),
                mapped_file: field("mapped_file"),
            };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    best
}

/// A `name value` line's value from memory.stat or memory.oom_control.
fn stat_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
