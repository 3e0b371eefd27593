//! A stand-in for what the fence protects (src/fence.rs): a server on
//! loopback addresses a run must not reach, which counts every TCP
//! connection and every UDP datagram it gets, and answers with a marker no
//! report may ever hold.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// What the internal server's pages, scripts and styles carry.
pub const SECRET: &str = "INTERNAL-SECRET-5f1c";

pub struct Internal {
    /// Where it listens for TCP, in the order given.
    pub addrs: Vec<SocketAddr>,
    seen: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Internal {
    /// Listens for TCP at each of `addrs` (`127.0.0.2:0`: any free port),
    /// and for UDP at the first address and port too.
    pub fn start(addrs: &[&str]) -> Internal {
        let seen = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut bound = Vec::new();
        for addr in addrs {
            let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
            bound.push(listener.local_addr().unwrap());
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    if let Ok(stream) = stream {
                        std::thread::spawn(move || answer(stream));
                    }
                }
            });
        }
        let udp = UdpSocket::bind(bound[0]).expect("bind UDP beside the first TCP port");
        udp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::SeqCst) {
                if udp.recv_from(&mut buf).is_ok() {
                    seen2.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Internal { addrs: bound, seen, stop }
    }

    /// `scheme://host:port` of the `i`th address, with `host` as given
    /// (an address, or a name that resolves to it).
    pub fn origin(&self, scheme: &str, host: &str, i: usize) -> String {
        format!("{scheme}://{host}:{}", self.addrs[i].port())
    }

    /// TCP connections accepted and UDP datagrams received, all told.
    pub fn contacts(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

impl Drop for Internal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for addr in &self.addrs {
            let _ = TcpStream::connect_timeout(addr, Duration::from_secs(1));
        }
    }
}

/// One request, answered by the kind of thing its path names.
fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = [0u8; 4096];
    let n = stream.read(&mut head).unwrap_or(0);
    let head = String::from_utf8_lossy(&head[..n]);
    let path = head.split(' ').nth(1).unwrap_or("/");
    let (kind, body) = if path.ends_with(".js") {
        ("text/javascript", format!("self.leaked = '{SECRET}';"))
    } else if path.ends_with(".css") {
        ("text/css", format!("body::after {{ content: '{SECRET}'; }}"))
    } else {
        (
            "text/html",
            format!(
                "<!doctype html><html><title>{SECRET}</title><body><h1>{SECRET}</h1><img src=x.png title={SECRET}></body></html>"
            ),
        )
    };
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
