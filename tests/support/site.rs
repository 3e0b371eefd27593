//! A loopback web server answering every request with one canned response.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

pub struct Site {
    pub port: u16,
}

impl Site {
    /// Serves `headers` (full lines, without the status line) and `body`,
    /// after `delay`, to every request.
    pub fn start(headers: &[&str], body: &str, delay: Duration) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind site");
        let port = listener.local_addr().unwrap().port();
        let head: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        let reply =
            format!("HTTP/1.1 200 OK\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let reply = reply.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 2 {
                        line.clear();
                    }
                    std::thread::sleep(delay);
                    let mut stream = stream;
                    let _ = stream.write_all(reply.as_bytes());
                });
            }
        });
        Site { port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}
