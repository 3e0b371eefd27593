//! A page's share of the container's memory, enforced.
//!
//! Cloud Foundry gives a build task 512 MB unless pages-core asks for more,
//! and the kernel's answer to a container over its limit is to kill a
//! process in it: the browser, a renderer, or build-task itself, which then
//! reports nothing. axe on a big page (a table of thousands of rows) makes
//! its renderer grow past a gigabyte, and on the way the container's page
//! cache (the browser's own code) is squeezed out, so every process slows
//! to a crawl before the kill comes.
//!
//! So a [`Watch`] looks at the browser's renderers a few times a second and
//! stops the one whose private memory passes the page's share: that page
//! fails ("it needed more memory than …"), quickly, and alone; the next page
//! gets a new renderer. The share is what the container allows
//! (`MEMORY_LIMIT`, which Cloud Foundry sets) less what the rest of the
//! run needs. As a last resort the browser's processes are also the
//! kernel's first choice (`oom_score_adj` 1000), never build-task.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::task::warn;

/// What build-task, the browser process and the page cache the browser's
/// code needs take of the container, in MiB: a renderer gets the rest.
pub const RESERVED_MIB: u64 = 256;

/// The smallest share a renderer gets, in MiB, however small the container.
pub const MIN_PAGE_MIB: u64 = 128;

/// What a renderer's command line holds.
const RENDERER: &[u8] = b"--type=renderer";

/// How often the renderers are looked at.
const EVERY: Duration = Duration::from_millis(200);

/// A renderer's share of `MEMORY_LIMIT` (Cloud Foundry's `<n>m` or `<n>g`,
/// or a number of bytes), in MiB; None when it is unset or unreadable.
pub fn page_share_mib(memory_limit: Option<&str>) -> Option<u64> {
    let limit = memory_limit?.trim().to_ascii_lowercase();
    let mib = if let Some(m) = limit.strip_suffix('m') {
        m.parse::<u64>().ok()?
    } else if let Some(g) = limit.strip_suffix('g') {
        g.parse::<u64>().ok()?.checked_mul(1024)?
    } else {
        limit.parse::<u64>().ok()? / (1024 * 1024)
    };
    Some(mib.saturating_sub(RESERVED_MIB).max(MIN_PAGE_MIB))
}

/// Watches the renderers of one browser; stops watching when dropped.
pub struct Watch {
    stop: Arc<AtomicBool>,
    stopped: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Watches the processes under `browser` (its pid): each is made the
    /// kernel's first choice when the container runs out of memory, and a
    /// renderer whose private memory passes `limit_mib` is killed.
    pub fn start(browser: u32, limit_mib: u64) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicUsize::new(0));
        let (stop_flag, count) = (stop.clone(), stopped.clone());
        let thread = std::thread::Builder::new()
            .name("renderer-memory".to_owned())
            .spawn(move || {
                // Processes already made the kernel's first choice.
                let mut marked = Vec::new();
                while !stop_flag.load(Ordering::Relaxed) {
                    for pid in std::iter::once(browser).chain(descendants(browser)) {
                        if !marked.contains(&pid) {
                            // Raising a score needs no privilege; a process
                            // that is gone already is no matter.
                            let _ = fs::write(format!("/proc/{pid}/oom_score_adj"), "1000");
                            marked.push(pid);
                        }
                        let Some(kib) = renderer_private_kib(pid) else { continue };
                        if kib / 1024 > limit_mib {
                            warn!("a renderer took {} MiB, over the page's {limit_mib} MiB: stopping it", kib / 1024);
                            #[allow(unsafe_code)]
                            // SAFETY: kill only sends a signal; `pid` is a
                            // child of our browser, read from /proc just now.
                            unsafe {
                                libc::kill(pid.cast_signed(), libc::SIGKILL)
                            };
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(EVERY);
                }
            })
            .ok();
        Watch { stop, stopped, thread }
    }

    /// How many renderers it has stopped so far.
    pub fn stopped(&self) -> usize {
        self.stopped.load(Ordering::Relaxed)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Every process under `pid`, children first found through each of its
/// threads' `children` lists.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(parent) = todo.pop() {
        let Ok(tasks) = fs::read_dir(format!("/proc/{parent}/task")) else { continue };
        for task in tasks.filter_map(|t| t.ok()) {
            let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
                if !found.contains(&child) {
                    found.push(child);
                    todo.push(child);
                }
            }
        }
    }
    found
}

/// A renderer's private memory (RssAnon) in KiB; None for any other process.
fn renderer_private_kib(pid: u32) -> Option<u64> {
    // Chromium rewrites its helpers' command lines as one string (its
    // process title), so the flag is looked for as text.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if !cmdline.windows(RENDERER.len()).any(|w| w == RENDERER) {
        return None;
    }
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("RssAnon:"))?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pages_share_is_the_limit_less_the_reserve_and_never_below_the_minimum() {
        assert_eq!(page_share_mib(Some("512m")), Some(256));
        assert_eq!(page_share_mib(Some("1024M")), Some(768));
        assert_eq!(page_share_mib(Some("2g")), Some(1792));
        assert_eq!(page_share_mib(Some("536870912")), Some(256));
        assert_eq!(page_share_mib(Some("256m")), Some(MIN_PAGE_MIB));
        assert_eq!(page_share_mib(Some("lots")), None);
        assert_eq!(page_share_mib(None), None);
    }

    #[test]
    fn the_processes_under_a_process_are_found_through_its_threads() {
        let mut child = std::process::Command::new("sh").args(["-c", "sleep 3 & sleep 3 & wait"]).spawn().unwrap();
        let mut found = descendants(child.id());
        // The shell starts them when it gets to it.
        for _ in 0..100 {
            if found.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            found = descendants(child.id());
        }
        child.kill().unwrap();
        let _ = child.wait();
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
