//! Cancellation: a flag every phase checks, sleeps that wake on it, and child
//! process groups that die with us.
//!
//! Cloud Foundry stops a task with SIGTERM and sends SIGKILL 10 s later, so a
//! cancel must reach every child at once and leave time to report.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a child gets between SIGTERM and SIGKILL.
pub const CHILD_GRACE: Duration = Duration::from_secs(2);

/// Asks the kernel for a SIGTERM when the parent process ends.
///
/// Cloud Foundry signals the process it started, `/bin/sh -c '<command>'`.
/// Debian's dash runs a command without `exec` (pages-core's stored
/// `python build-task/main.py …`) as its child, and on SIGTERM it ends
/// without passing the signal on: build-task would run on, unsignalled, until
/// the SIGKILL ten seconds later, and send no status. With this the shell's
/// end is build-task's SIGTERM, handled like any other.
pub fn term_when_parent_exits() {
    #[allow(unsafe_code)]
    // SAFETY: getppid, prctl and kill take no pointers.
    unsafe {
        let parent = libc::getppid();
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0);
        // A parent gone before the request sends nothing: we are an orphan.
        if libc::getppid() != parent {
            libc::kill(libc::getpid(), libc::SIGTERM);
        }
    }
}

/// A shared cancel signal. Cloning shares it.
#[derive(Clone, Default)]
pub struct Cancel(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// 0, or the signal number that cancelled us.
    signal: AtomicI32,
    wake: Mutex<()>,
    cv: Condvar,
    /// Process groups of running children.
    groups: Mutex<Vec<i32>>,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// The signal that cancelled the run, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.0.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// `Err(cancelled)` once a signal arrived: the check every loop makes.
    pub fn check(&self) -> Result<()> {
        match self.signal() {
            Some(s) => Err(Error::cancelled(s)),
            None => Ok(()),
        }
    }

    /// Cancels: wakes every sleeper and terminates every child group.
    pub fn trigger(&self, signal: i32) {
        if self.0.signal.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return;
        }
        let _guard = self.0.wake.lock();
        self.0.cv.notify_all();
        let groups = self.0.groups.lock().map(|g| g.clone()).unwrap_or_default();
        for group in groups {
            kill_group(group, libc::SIGTERM);
        }
    }

    /// Sleeps for `d` unless cancelled first.
    pub fn sleep(&self, d: Duration) -> Result<()> {
        let deadline = Instant::now() + d;
        let mut guard = self.0.wake.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            guard = self.0.cv.wait_timeout(guard, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Starts `cmd` (`what`, for the error) in its own process group, which
    /// dies with the guard. After a cancel nothing is started, and the
    /// cancel is the error.
    pub fn spawn(&self, cmd: &mut Command, what: &str) -> Result<ChildGuard> {
        use std::os::unix::process::CommandExt;
        self.check()?;
        let child = cmd.process_group(0).spawn().map_err(|e| Error::failed(format!("cannot start {what}: {e}")))?;
        let group = child.id().cast_signed();
        if let Ok(mut groups) = self.0.groups.lock() {
            groups.push(group);
        }
        // A signal may have arrived between the check and the push.
        if let Some(s) = self.signal() {
            let _ = s;
            kill_group(group, libc::SIGTERM);
        }
        Ok(ChildGuard { child, group, cancel: self.clone() })
    }
}

/// A running child in its own process group.
pub struct ChildGuard {
    child: Child,
    group: i32,
    cancel: Cancel,
}

impl ChildGuard {
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits for the child, at most `limit`. On cancel or time-out the whole
    /// group gets SIGTERM, then SIGKILL after [`CHILD_GRACE`], and the
    /// cancel or time-out is the error.
    pub fn wait(&mut self, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => {}
                Err(e) => return Err(Error::failed(format!("cannot wait for the child process: {e}"))),
            }
            if let Err(e) = self.cancel.check() {
                self.stop();
                return Err(e);
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(Error::failed(format!("the child process ran longer than {} s", limit.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to the group, SIGKILL after the grace period, then reap.
    pub fn stop(&mut self) {
        kill_group(self.group, libc::SIGTERM);
        let deadline = Instant::now() + CHILD_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The leader may be gone while others in its group live on.
        kill_group(self.group, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        } else {
            kill_group(self.group, libc::SIGKILL);
        }
        if let Ok(mut groups) = self.cancel.0.groups.lock() {
            groups.retain(|g| *g != self.group);
        }
    }
}

fn kill_group(group: i32, signal: i32) {
    if group > 1 {
        #[allow(unsafe_code)]
        // SAFETY: killpg only sends a signal; a group that is gone gives ESRCH,
        // which we ignore. Groups are only ever our own children's.
        unsafe {
            libc::killpg(group, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_wakes_when_cancelled() {
        let c = Cancel::new();
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        c.trigger(libc::SIGTERM);
        let res = t.join().unwrap();
        assert_eq!(res.unwrap_err().exit_code(), 143);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn cancel_kills_a_child_that_ignores_sigterm_and_its_grandchildren() {
        let c = Cancel::new();
        let mut child =
            c.spawn(Command::new("sh").args(["-c", "trap '' TERM; sleep 30 & sleep 30; wait"]), "sh").unwrap();
        let c2 = c.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            c2.trigger(libc::SIGINT);
        });
        let started = Instant::now();
        let err = child.wait(Duration::from_secs(60)).unwrap_err();
        assert_eq!(err.exit_code(), 130);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn a_child_past_its_time_limit_is_stopped() {
        let c = Cancel::new();
        let mut child = c.spawn(Command::new("sleep").arg("30"), "sleep").unwrap();
        let err = child.wait(Duration::from_millis(100)).unwrap_err();
        assert!(err.message().contains("ran longer than"), "{err}");
    }
}
