//! hyper answers a request it cannot parse (a malformed request line or
//! header, a target or header block past its buffer) itself, before any
//! service sees it, with an empty body and no hook to shape it. This
//! connection wrapper finds those answers in the bytes going out and writes
//! Warden's JSON error in their place, so every answer a client gets is the
//! documented `{"error": {…}}`.
//!
//! hyper's own error head has one exact form (`connection: close`, then
//! `content-length: 0`, then `date`); a Warden answer never has it, since
//! every one of them carries a `content-type`.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::super::request_id::{RequestId, REQUEST_ID_HEADER};
use crate::error::Error;

/// The part of hyper's error head after its status line.
const HYPER_ERROR_HEADERS: &[u8] = b"\r\nconnection: close\r\ncontent-length: 0\r\ndate: ";
const STATUS_LINE_START: &[u8] = b"HTTP/1.1 ";
const HEAD_END: &[u8] = b"\r\n\r\n";

/// A connection whose outgoing bytes have hyper's empty error answers
/// replaced by JSON ones.
pub struct JsonParseErrors<T> {
    inner: T,
    /// A replacement being written: its bytes, how many are out, and how
    /// many of hyper's bytes it stands for.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonParseErrors<T> {
    pub fn new(inner: T) -> Self {
        JsonParseErrors {
            inner,
            replacing: None,
        }
    }
}

/// Where hyper's error head lies in `bytes`, with its status code.
fn find_error_head(bytes: &[u8]) -> Option<(usize, usize, u16)> {
    let headers = find(bytes, HYPER_ERROR_HEADERS)?;
    let start = headers.checked_sub(STATUS_LINE_START.len() + 3 + 1)?;
    let start = (0..=start)
        .rev()
        .find(|&at| bytes[at..].starts_with(STATUS_LINE_START))?;
    let code = std::str::from_utf8(bytes.get(start + 9..start + 12)?)
        .ok()?
        .parse()
        .ok()?;
    let end = headers + find(&bytes[headers..], HEAD_END)? + HEAD_END.len();
    Some((start, end, code))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Warden's answer for hyper's `status`, whole (head and body).
fn json_answer(status: u16) -> Vec<u8> {
    let error = match status {
        414 => Error::UriTooLong(
            "the request target is longer than the server reads (MAX_URI_BYTES)".into(),
        ),
        431 => Error::HeadersTooLarge(
            "the request's headers are more or longer than the server reads (MAX_HEADERS, MAX_HEADER_BYTES)".into(),
        ),
        _ => Error::invalid(
            "request",
            "its request line or a header is not valid HTTP/1.1",
        ),
    };
    // hyper read no headers to take an id from: this answer's id is new.
    let request_id = RequestId::generate();
    let body = super::super::error_body_for(&error, Some(&request_id)).to_string();
    let status = super::super::status(&error);
    let reason = status.canonical_reason().unwrap_or("");
    format!(
        "HTTP/1.1 {} {reason}\r\nconnection: close\r\ncontent-type: application/json\r\n{REQUEST_ID_HEADER}: {}\r\ncontent-length: {}\r\n\r\n{body}",
        status.as_u16(),
        request_id.as_str(),
        body.len()
    )
    .into_bytes()
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonParseErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none() {
            let Some((start, end, status)) = find_error_head(buf) else {
                return Pin::new(&mut this.inner).poll_write(cx, buf);
            };
            if start > 0 {
                // What comes before (an earlier answer) goes out as it is;
                // hyper hands over the rest, the head first, next.
                return Pin::new(&mut this.inner).poll_write(cx, &buf[..start]);
            }
            this.replacing = Some((json_answer(status), 0, end));
        }
        let (answer, written, stands_for) = this.replacing.as_mut().expect("set above");
        while *written < answer.len() {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let stands_for = *stands_for;
        this.replacing = None;
        Poll::Ready(Ok(stands_for))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each answer's head from one buffer,
    // where `find_error_head` sees it whole.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_error_heads_are_found_and_nothing_else() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 15:51:02 GMT\r\n\r\n";
        assert_eq!(find_error_head(hyper), Some((0, hyper.len(), 400)));
        let ours = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\ndate: Wed, 02 Dec 2026 15:51:02 GMT\r\n\r\n{}";
        assert_eq!(find_error_head(ours), None);
        let both = [&ours[..], &hyper[..]].concat();
        assert_eq!(find_error_head(&both), Some((ours.len(), both.len(), 400)));
    }

    #[test]
    fn answers_are_json_with_their_status() {
        for (status, code) in [
            (400, "invalid_request"),
            (414, "uri_too_long"),
            (431, "headers_too_large"),
        ] {
            let answer = String::from_utf8(json_answer(status)).unwrap();
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())));
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(body["error"]["code"], code);
            let id = body["error"]["request_id"].as_str().unwrap();
            assert!(
                head.contains(&format!("\r\nx-request-id: {id}\r\n")),
                "{head}"
            );
        }
    }
}
