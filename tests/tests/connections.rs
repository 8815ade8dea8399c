//! Connections are bounded: an idle connection, one that sends a byte a
//! second, and one beyond `max_connections` are closed within the
//! configured time while other clients are answered.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use warden_e2e::Server;

/// The header deadline the tests configure (`--header-timeout 1`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// How much later than its deadline a connection may close (scheduling).
const SLACK: Duration = Duration::from_secs(3);

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(HEADER_TIMEOUT + SLACK * 2))
        .unwrap();
    stream
}

/// Waits until the server closes `stream` (EOF or reset); returns how long
/// that took, or panics if it did not within the read timeout.
fn closed_after(mut stream: TcpStream, started: Instant) -> Duration {
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return started.elapsed(),
            Ok(_) => continue, // an error answer before the close
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("still open after {:?}", started.elapsed())
            }
            Err(_) => return started.elapsed(),
        }
    }
}

#[test]
fn idle_and_byte_a_second_connections_are_closed_while_others_are_answered() {
    let server = Server::start_with(&["--header-timeout", "1"]);
    let started = Instant::now();
    let idle: Vec<TcpStream> = (0..20).map(|_| connect(&server)).collect();
    let slow = connect(&server);
    let dripping = std::thread::spawn({
        let mut slow = slow.try_clone().unwrap();
        move || {
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" {
                if slow.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    });
    // Other clients are answered meanwhile.
    for _ in 0..5 {
        assert_eq!(server.get("/healthz").expect(200)["status"], "ok");
    }
    for stream in idle {
        let after = closed_after(stream, started);
        assert!(
            after < HEADER_TIMEOUT + SLACK,
            "idle closed after {after:?}"
        );
    }
    let after = closed_after(slow.try_clone().unwrap(), started);
    assert!(
        after < HEADER_TIMEOUT + SLACK,
        "slow closed after {after:?}"
    );
    let _ = slow.shutdown(std::net::Shutdown::Both);
    dripping.join().unwrap();
    assert_eq!(server.get("/healthz").expect(200)["status"], "ok");
}

#[test]
fn a_connection_beyond_the_cap_is_closed_at_once_and_the_cap_frees_up() {
    let server = Server::start_with(&["--header-timeout", "1", "--max-connections", "4"]);
    // The harness's own connections are closed after each request.
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let after = closed_after(connect(&server), started);
    assert!(
        after < Duration::from_secs(1),
        "one over the cap closed after {after:?}"
    );
    // Once the held ones time out, the server answers again.
    let started = Instant::now();
    for stream in held {
        closed_after(stream, started);
    }
    assert_eq!(server.get("/healthz").expect(200)["status"], "ok");
}

/// Sends `head` (a request without its final blank line) and returns the
/// answer's status line and body.
fn raw(server: &Server, head: &str) -> (String, String) {
    let mut stream = connect(server);
    write!(stream, "{head}Connection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (status, rest) = answer.split_once("\r\n").unwrap();
    let body = rest.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status.to_string(), body.to_string())
}

#[test]
fn a_long_target_or_too_many_headers_get_a_json_answer() {
    let server = Server::start();
    let long = "x".repeat(9 * 1024);
    let (status, body) = raw(
        &server,
        &format!("GET /healthz?{long} HTTP/1.1\r\nHost: x\r\n"),
    );
    assert!(status.contains("414"), "{status}");
    assert!(body.contains("\"code\":\"uri_too_long\""), "{body}");

    let many: String = (0..150).map(|i| format!("X-Extra-{i}: 1\r\n")).collect();
    let (status, body) = raw(
        &server,
        &format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}"),
    );
    assert!(status.contains("431"), "{status}");
    assert!(body.contains("\"code\":\"headers_too_large\""), "{body}");

    let big = "y".repeat(40 * 1024);
    let (status, body) = raw(
        &server,
        &format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n"),
    );
    assert!(status.contains("431"), "{status}");
    assert!(body.contains("headers_too_large"), "{body}");

    assert_eq!(server.get("/healthz").expect(200)["status"], "ok");
}
