//! A minimal blocking HTTP/1.0 client over std, for test setup and for tests
//! that talk to a server through its socket (no runtime needed). HTTP/1.0
//! keeps replies unchunked, so the body is everything after the headers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request to `addr` (`host:port`, or a `http://host:port` base): the
/// status and the body. A reply with no parsable status gives status 0.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let addr = addr.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(
        stream,
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// `GET path`, waiting at most 10 s for the reply.
pub fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, "GET", path, &[], "", Duration::from_secs(10))
}
