//! A network namespace of the test's own, where the test's site is at a
//! public-looking address.
//!
//! A deployed run (DEPLOY_ENV set) refuses every internal address, loopback
//! included, so a test cannot serve it a site on 127.0.0.1. Inside a
//! [`PublicNet`] the site listens on [`PublicNet::SITE_IP`], in RFC 5737's
//! documentation range, which the fence counts as public; the callback
//! stand-in and s3s-fs listen on the namespace's own 127.0.0.1, and
//! build-task is spawned from inside, so it reaches all three there.
//!
//! Linux keeps network namespaces per thread. `new` starts a thread that
//! unshares its network namespace, brings `lo` up with the site's address on
//! it, and then stays parked so that runc's config.json can name the
//! namespace by that thread's path; `enter` runs a closure on a fresh thread
//! that has joined it with setns. Sockets bound and processes spawned from
//! that thread are inside. The namespace has no route out: a packet for any
//! address not on `lo` fails at once (network unreachable), so nothing a
//! test does in there can leave the machine.
//!
//! Build or download what a test needs (images, axe-core) before `enter`:
//! inside there is no network but the namespace's own.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// A network namespace with `lo` up and 203.0.113.0/24 on it; it goes when
/// this is dropped and nothing else (a socket, a process) still holds it.
pub struct PublicNet {
    /// The namespace, for setns.
    ns: OwnedFd,
    /// /proc/<pid>/task/<tid>/ns/net of the parked thread.
    path: PathBuf,
    /// Dropping the sender ends the parked thread.
    park: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl PublicNet {
    /// The site's address: RFC 5737's TEST-NET-3, public to the fence.
    pub const SITE_IP: &'static str = "203.0.113.7";

    /// None (after support::skip's one-line reason; skip fails under CI=true) where namespaces cannot be made.
    pub fn new() -> Option<PublicNet> {
        if !super::have_tool("ip") {
            return None;
        }
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(OwnedFd, PathBuf), String>>();
        let (park_tx, park_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("public-net".into())
            .spawn(move || {
                let made = make_namespace();
                let ok = made.is_ok();
                let _ = ready_tx.send(made);
                if ok {
                    // Parked until the sender is dropped: the thread keeps its
                    // /proc path (and the namespace) alive for runc.
                    let _ = park_rx.recv();
                }
            })
            .expect("a thread for the network namespace");
        match ready_rx.recv() {
            Ok(Ok((ns, path))) => Some(PublicNet { ns, path, park: Some((park_tx, thread)) }),
            Ok(Err(why)) => {
                let _ = thread.join();
                super::skip(&why);
                None
            }
            // It panicked (`ip` failed): that panic, with its message.
            Err(_) => std::panic::resume_unwind(thread.join().expect_err("the namespace thread ended without a word")),
        }
    }

    /// Runs `f` on a thread inside the namespace: sockets it binds and processes it spawns are in there.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            let inside = s.spawn(|| {
                // SAFETY: setns on a namespace fd this struct owns; it moves
                // only the calling thread, which is this fresh one.
                let joined = unsafe { libc::setns(self.ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(joined, 0, "cannot join the network namespace: {}", std::io::Error::last_os_error());
                f()
            });
            // The test's own panic, with its message, rather than a second one.
            inside.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// A path to the namespace (e.g. /proc/<pid>/task/<tid>/ns/net of a thread kept parked in it), for runc's config.json.
    pub fn ns_path(&self) -> PathBuf {
        self.path.clone()
    }
}

impl Drop for PublicNet {
    fn drop(&mut self) {
        if let Some((park, thread)) = self.park.take() {
            drop(park);
            let _ = thread.join();
        }
    }
}

/// On the calling thread: a new network namespace with `lo` up carrying
/// SITE_IP/24; the namespace's fd and path, or why it cannot be made.
///
/// The address is on `lo` rather than on a dummy interface: kernels without
/// the dummy module (this project's CI VM among them) have `lo` everywhere,
/// and the fence and Chromium judge an address, never the interface behind
/// it. On `lo` the whole /24 is local, so a second public-looking address
/// (203.0.113.8, ...) can be bound too, and one nobody listens on refuses a
/// connection at once instead of leaving it to time out.
fn make_namespace() -> Result<(OwnedFd, PathBuf), String> {
    // SAFETY: unshare(CLONE_NEWNET) changes only the calling thread's
    // network namespace; it touches no memory.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!("cannot make a network namespace (it needs root): {}", std::io::Error::last_os_error()));
    }
    // `ip` runs as this thread's child, so in its namespace.
    for args in
        [vec!["link", "set", "lo", "up"], vec!["addr", "add", &format!("{}/24", PublicNet::SITE_IP), "dev", "lo"]]
    {
        let out = Command::new("ip").args(&args).output().map_err(|e| format!("cannot run ip: {e}"))?;
        assert!(
            out.status.success(),
            "ip {} failed in the new namespace: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let path = PathBuf::from(format!("/proc/{}/task/{tid}/ns/net", std::process::id()));
    let file = std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: into_raw_fd hands over sole ownership of an open descriptor.
    let ns = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(file)) };
    Ok((ns, path))
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::PublicNet;

    #[test]
    fn a_server_on_the_site_address_is_reached_from_inside_the_namespace_only() {
        let Some(net) = PublicNet::new() else { return };
        let (port, served) = net.enter(|| {
            let listener = TcpListener::bind((PublicNet::SITE_IP, 0)).expect("bind the site address inside");
            let port = listener.local_addr().unwrap().port();
            let server = std::thread::spawn(move || {
                let (mut conn, peer) = listener.accept().unwrap();
                conn.write_all(b"hello from inside").unwrap();
                peer.ip().to_string()
            });
            let mut reply = String::new();
            TcpStream::connect((PublicNet::SITE_IP, port)).unwrap().read_to_string(&mut reply).unwrap();
            assert_eq!(reply, "hello from inside");
            (port, server.join().unwrap())
        });
        assert!(port > 0);
        // The client's source address is the site's: the connection never left `lo`.
        assert_eq!(served, PublicNet::SITE_IP);
        // The host's namespace does not have the address, so no connection
        // from it can reach the server (binding proves it without a packet:
        // a connect from here would follow the host's default route off the
        // machine).
        let err = TcpListener::bind((PublicNet::SITE_IP, 0)).expect_err("the host has no 203.0.113.7");
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable, "{err}");
    }

    #[test]
    fn the_namespace_has_its_own_loopback_and_no_route_out() {
        let Some(net) = PublicNet::new() else { return };
        // A server on the host's loopback is not the namespace's 127.0.0.1.
        let host = TcpListener::bind("127.0.0.1:0").unwrap();
        let host_port = host.local_addr().unwrap().port();
        net.enter(|| {
            let err = TcpStream::connect(("127.0.0.1", host_port)).expect_err("the host's loopback is not in here");
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
            // Any address off `lo` has no route: refused before a packet
            // exists (192.0.2.1 is RFC 5737's TEST-NET-1).
            let err = TcpStream::connect("192.0.2.1:80").expect_err("no route out");
            assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
            // The rest of the /24 is local too: a port nobody listens on refuses.
            let err = TcpStream::connect("203.0.113.8:9").expect_err("nobody listens");
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        });
    }

    #[test]
    fn processes_spawned_inside_see_the_namespace_and_runc_can_name_it() {
        let Some(net) = PublicNet::new() else { return };
        let inside = net.enter(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap());
        assert_eq!(std::fs::read_link(net.ns_path()).unwrap(), inside, "ns_path names the namespace enter joins");
        assert_ne!(std::fs::read_link("/proc/thread-self/ns/net").unwrap(), inside, "this thread stayed outside");
        let out = net.enter(|| std::process::Command::new("ip").args(["-4", "-o", "addr", "show"]).output().unwrap());
        let addrs = String::from_utf8_lossy(&out.stdout);
        assert!(addrs.contains("lo    inet 203.0.113.7/24"), "{addrs}");
        assert_eq!(addrs.lines().count(), 2, "lo's two addresses and nothing else: {addrs}");
    }

    #[test]
    fn dropping_it_ends_the_parked_thread() {
        let Some(net) = PublicNet::new() else { return };
        let task = net.ns_path().parent().unwrap().parent().unwrap().to_path_buf();
        assert!(task.is_dir(), "{} is a live thread", task.display());
        drop(net);
        // The join in drop returns once the thread's exit began; the kernel
        // removes its /proc entry a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while task.exists() {
            assert!(std::time::Instant::now() < deadline, "{} still runs", task.display());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
