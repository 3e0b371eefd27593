//! The request head the loopback test servers read.

use std::collections::HashMap;
use std::io::BufRead;

/// One HTTP/1.1 request head.
pub struct RequestHead {
    pub method: String,
    pub target: String,
    /// By lower-case name.
    pub headers: HashMap<String, String>,
}

impl RequestHead {
    /// The next head on a connection; None when the client closed it.
    pub fn read(reader: &mut impl BufRead) -> Option<RequestHead> {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("/").to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return None;
            }
            let h = h.trim_end();
            if h.is_empty() {
                return Some(RequestHead { method, target, headers });
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Content-Length, 0 when absent or not a number.
    pub fn content_length(&self) -> u64 {
        self.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}
