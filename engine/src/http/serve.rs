//! Connections: the accept loop in front of the router, with the bounds
//! that keep one client from holding the server — at most
//! `max_connections` at once, a deadline for each request's headers (which
//! is also how long a kept-alive connection may sit idle), a deadline for
//! each whole request — plus the net under every handler: a panic answers
//! a JSON 500 instead of dropping the connection. Shutting down stops
//! accepting, lets the requests in flight finish (up to the request
//! deadline) and closes idle connections.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::FutureExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower_layer::Layer as _;

use super::request_id::{self, RequestId, RequestIds};
use crate::error::Error;

mod parse_errors;

/// Default most connections open at once; one more is closed at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default time a client has to send a request's headers, and the longest a
/// kept-alive connection may wait idle for its next request.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a request has from its headers to its answer (reading the
/// body included).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest request target (path and query) Warden reads: a JSON 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most headers one request may carry: a JSON 431.
pub const MAX_HEADERS: usize = 100;
/// The most header bytes (names and values) one request may carry: a JSON 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// hyper's own bounds, set above Warden's so that a request between the two
/// gets Warden's JSON answer with its exact figures. Past hyper's (a target
/// over 64 KiB, more headers or bytes than these), hyper answers itself,
/// and `parse_errors` makes that answer JSON too.
const HYPER_MAX_HEADERS: usize = 4 * MAX_HEADERS;
const HYPER_BUFFER_BYTES: usize = 4 * (MAX_HEADER_BYTES + MAX_URI_BYTES);
/// How long a failed `accept` (out of file descriptors, say) waits before
/// the next: the loop must not spin while the server has no descriptor.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The bounds on connections, from the configuration.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// The most connections open at once; one more is closed at once.
    pub max_connections: usize,
    /// The time a client has to send a request's headers, which is also
    /// the longest a kept-alive connection may wait idle.
    pub header_timeout: Duration,
    /// The time a request has from its headers to its answer, its body
    /// included: past it, a JSON 503.
    pub request_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes
/// the requests in flight (each still bounded by `request_timeout`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Every connection holds a receiver; shutdown sends on it, then waits
    // until all of them are dropped.
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection refused: max_connections are open"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = guarded(router.clone(), limits.request_timeout);
        let mut stopping = stopping.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_headers(HYPER_MAX_HEADERS)
                .max_buf_size(HYPER_BUFFER_BYTES);
            let connection = builder.serve_connection(
                TokioIo::new(parse_errors::JsonParseErrors::new(stream)),
                service,
            );
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopping.wait_for(|stop| *stop).map(|_| ()) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(stopping);
    stop.closed().await;
}

/// The router as a hyper service whose every request has its request id
/// (`request_id`, outermost, so every answer below carries it), is
/// answered within `timeout` (a 503 `request_timeout` after it) and whose
/// panics answer a JSON 500 naming the request id that the log names too.
fn guarded(
    router: Router,
    timeout: Duration,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    TowerToHyperService::new(RequestIds.layer(Guarded { router, timeout }))
}

/// The router behind the bounds every request meets: its target and
/// headers, its deadline, and the net for a panicking handler.
#[derive(Clone)]
struct Guarded {
    router: Router,
    timeout: Duration,
}

impl tower_service::Service<Request<Incoming>> for Guarded {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), std::convert::Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let mut router = self.router.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            if let Some(refused) = oversize(&request) {
                return Ok(refused.into_response());
            }
            let answer = router.call(request.map(Body::new));
            let answer = AssertUnwindSafe(answer).catch_unwind();
            Ok(match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(Ok(response))) => response,
                Ok(Ok(Err(never))) => match never {},
                Ok(Err(panic)) => panicked(&*panic).into_response(),
                Err(_) => Error::Unavailable {
                    code: "request_timeout",
                    message: format!(
                        "the request took longer than {} ms (request_timeout)",
                        timeout.as_millis()
                    ),
                }
                .into_response(),
            })
        })
    }
}

/// The answer to a request whose handler panicked: logged (inside the
/// request's span, so with its id) and named by its request id.
fn panicked(panic: &(dyn std::any::Any + Send)) -> Error {
    let request_id = request_id::current().unwrap_or_else(RequestId::generate);
    let why = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!("a handler panicked: {why}");
    Error::Internal(format!(
        "a bug stopped this request (request id {}); nothing more was done",
        request_id.as_str()
    ))
}

/// Why `request`'s target or headers are more than Warden reads, if they are.
fn oversize<B>(request: &Request<B>) -> Option<Error> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(Error::UriTooLong(format!(
            "the request target is {target} bytes, over the limit of {MAX_URI_BYTES} (MAX_URI_BYTES)"
        )));
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(Error::HeadersTooLarge(format!(
            "{} headers of {bytes} bytes; at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes in all (MAX_HEADERS, MAX_HEADER_BYTES)",
            headers.len()
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use axum::routing::get;

    use super::*;

    /// Serves `router` on a loopback port with `limits` until the returned
    /// sender is dropped or sent on; returns the address.
    fn start(
        router: Router,
        limits: ConnectionLimits,
    ) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                address_tx.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, router, limits, async {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        (address_rx.recv().unwrap(), stop)
    }

    fn get_once(address: std::net::SocketAddr, path: &str) -> String {
        send(
            address,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    }

    /// Sends `request` as it is and reads the answer to the end.
    fn send(address: std::net::SocketAddr, request: &str) -> String {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn requests_hyper_cannot_parse_get_json_answers() {
        const OK: &str = "/ok";
        let router = Router::new().route(OK, get(|| async { "ok" }));
        let (address, _stop) = start(router, ConnectionLimits::default());
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(80_000));
        let many_headers = format!(
            "GET /ok HTTP/1.1\r\n{}\r\n",
            "X-A: b\r\n".repeat(HYPER_MAX_HEADERS + 1)
        );
        let cases = [
            ("GARBAGE\r\n\r\n", "400", "invalid_request"),
            (
                "GET /ok HTTP/1.1\r\nHost: x\r\nNo Colon\r\n\r\n",
                "400",
                "invalid_request",
            ),
            (&long_target, "414", "uri_too_long"),
            (&many_headers, "431", "headers_too_large"),
            // After a good answer on the same connection.
            (
                "GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
                "400",
                "invalid_request",
            ),
        ];
        for (request, status, code) in cases {
            let answer = send(address, request);
            let last = answer
                .rfind("HTTP/1.1 ")
                .unwrap_or_else(|| panic!("{request:.60}: {answer:?}"));
            let (head, body) = answer[last..].split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{answer}");
            assert!(head.contains("content-type: application/json"), "{answer}");
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(body["error"]["code"], code, "{answer}");
        }
        assert!(get_once(address, OK).ends_with("ok"));
    }

    #[test]
    fn a_panicking_handler_answers_a_json_500_and_the_server_goes_on() {
        // Paths from constants: the OpenAPI test reads `.route("` literals
        // as the API's routes.
        const PANIC: &str = "/panic";
        const OK: &str = "/ok";
        let router = Router::new()
            .route(PANIC, get(|| async { panic!("a bug") as &str }))
            .route(OK, get(|| async { "ok" }));
        let (address, _stop) = start(router, ConnectionLimits::default());
        let answer = get_once(address, PANIC);
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains("\"code\":\"internal_error\""), "{answer}");
        assert!(answer.contains("request id"), "{answer}");
        assert!(get_once(address, OK).ends_with("ok"));
    }

    #[test]
    fn a_request_past_its_deadline_answers_503() {
        const SLOW: &str = "/slow";
        let router = Router::new().route(
            SLOW,
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
        let limits = ConnectionLimits {
            request_timeout: Duration::from_millis(200),
            ..ConnectionLimits::default()
        };
        let (address, _stop) = start(router, limits);
        let answer = get_once(address, SLOW);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
    }
}
