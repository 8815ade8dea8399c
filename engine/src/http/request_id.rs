//! Request ids: every request gets one, and every answer, error body and
//! log line names it, so a caller's report and the server's log meet.
//!
//! The id is the caller's `X-Request-Id` when it is a valid one (AuthZEN
//! Authorization API 1.0 §"Request Identification": "If the PEP specified
//! a request identifier in the request, the PDP MUST include the same
//! identifier in the response"), else the trace id of a valid W3C
//! `traceparent` (Trace Context §3.2), else a new uuid v7 (time-ordered,
//! so generated ids sort with the log). It goes back in the `X-Request-Id`
//! response header, into `{"error": {…, "request_id"}}` (through
//! [`current`], which the error mapping reads) and into the `request` span
//! every log line of the request is written in.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderValue, Request};
use axum::response::Response;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument as _;
use uuid::Uuid;

/// The request and response header that carries the id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The W3C Trace Context header whose trace id is used when no
/// `X-Request-Id` is given.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The longest `X-Request-Id` kept; a longer one is replaced, so a caller
/// cannot make every log line of its requests arbitrarily long.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

tokio::task_local! {
    /// The id of the request this task is answering.
    static CURRENT: RequestId;
}

/// One request's id: 1 to [`MAX_REQUEST_ID_BYTES`] printable ASCII
/// characters (spaces inside included: the spec lets the id be "an
/// arbitrary string"), so it is safe in a header, a JSON string and a log
/// line.
#[derive(Clone, Debug)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id of a request with these headers (see the module docs).
    pub fn of(headers: &HeaderMap) -> RequestId {
        given(headers)
            .or_else(|| traced(headers))
            .unwrap_or_else(RequestId::generate)
    }

    /// A new id: a uuid v7.
    pub fn generate() -> RequestId {
        let id = Uuid::now_v7().hyphenated().to_string();
        RequestId(HeaderValue::from_str(&id).expect("a uuid is visible ASCII"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("printable ASCII by construction")
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

/// The id of the request the calling task answers, if it runs inside
/// [`RequestIds`] (hyper's own error answers and unit tests of the router
/// do not).
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(RequestId::clone).ok()
}

/// The caller's `X-Request-Id`, if it is sent once and valid.
fn given(headers: &HeaderMap) -> Option<RequestId> {
    let value = single(headers, REQUEST_ID_HEADER)?;
    let bytes = value.as_bytes();
    let valid = (1..=MAX_REQUEST_ID_BYTES).contains(&bytes.len())
        && bytes.iter().all(|b| matches!(b, b' '..=b'~'));
    valid.then(|| RequestId(value.clone()))
}

/// The trace id of a valid `traceparent` sent once.
fn traced(headers: &HeaderMap) -> Option<RequestId> {
    let value = single(headers, TRACEPARENT_HEADER)?.to_str().ok()?;
    let trace_id = trace_id(value)?;
    Some(RequestId(HeaderValue::from_str(trace_id).ok()?))
}

/// The one value of header `name`; none when it is absent or repeated (two
/// ids name no request).
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then_some(value)
}

/// The trace id of a W3C `traceparent` (Trace Context §3.2:
/// `version-traceid-parentid-flags`, lower-case hex; version `ff`, an
/// all-zero trace id or parent id are invalid; version `00` has exactly
/// these four fields, a later version may append more, §3.2.4).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut fields = traceparent.split('-');
    let version = fields.next()?;
    let trace_id = fields.next()?;
    let parent_id = fields.next()?;
    let flags = fields.next()?;
    let valid = lower_hex(version, 2)
        && version != "ff"
        && lower_hex(trace_id, 32)
        && !all_zero(trace_id)
        && lower_hex(parent_id, 16)
        && !all_zero(parent_id)
        && lower_hex(flags, 2)
        && (version != "00" || fields.next().is_none());
    valid.then_some(trace_id)
}

fn lower_hex(field: &str, len: usize) -> bool {
    field.len() == len
        && field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn all_zero(field: &str) -> bool {
    field.bytes().all(|b| b == b'0')
}

/// Gives every request its [`RequestId`]: in the request's extensions, in
/// [`current`] while it is answered, as the `request_id` field of the
/// `request` span its log lines are written in, and in the answer's
/// `X-Request-Id` header.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIds;

impl<S> Layer<S> for RequestIds {
    type Service = WithRequestId<S>;

    fn layer(&self, inner: S) -> WithRequestId<S> {
        WithRequestId { inner }
    }
}

/// The service [`RequestIds`] makes.
#[derive(Clone, Debug)]
pub struct WithRequestId<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for WithRequestId<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = RequestId::of(request.headers());
        let span = tracing::info_span!("request", request_id = id.as_str());
        request.extensions_mut().insert(id.clone());
        // Called inside the scope and span too: a service may answer (or
        // log) before its future is first polled.
        let answer = {
            let _entered = span.enter();
            CURRENT.sync_scope(id.clone(), || self.inner.call(request))
        };
        let answer = CURRENT.scope(id.clone(), answer).instrument(span);
        Box::pin(async move {
            let Ok(mut response) = answer.await;
            response
                .headers_mut()
                .insert(REQUEST_ID_HEADER, id.header_value());
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        headers
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_request_id_is_kept_as_sent() {
        let long = "x".repeat(128);
        for id in [
            "bfe9eb29-ab87-4ca3-be83-a1d5d8305716",
            "a",
            "has space",
            &long,
        ] {
            let chosen = RequestId::of(&headers(&[("X-Request-Id", id)]));
            assert_eq!(chosen.as_str(), id);
        }
        // Even beside a traceparent: the PEP's own id comes first.
        let both = headers(&[("x-request-id", "mine"), ("traceparent", TRACEPARENT)]);
        assert_eq!(RequestId::of(&both).as_str(), "mine");
    }

    #[test]
    fn a_traceparent_gives_its_trace_id() {
        let chosen = RequestId::of(&headers(&[("traceparent", TRACEPARENT)]));
        assert_eq!(chosen.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        // A later version may carry more fields.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
        assert_eq!(trace_id(later), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn invalid_ids_are_replaced_by_a_new_one() {
        let long = "x".repeat(129);
        let invalid: &[&[(&str, &str)]] = &[
            &[],
            &[("x-request-id", "")],
            &[("x-request-id", "caf\u{e9}")],
            &[("x-request-id", &long)],
            &[("x-request-id", "one"), ("x-request-id", "two")],
            &[(
                "traceparent",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            )],
            &[(
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            )],
            &[(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            )],
            &[(
                "traceparent",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )],
            &[(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            )],
            &[(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            )],
        ];
        for pairs in invalid {
            let chosen = RequestId::of(&headers(pairs));
            let uuid = Uuid::parse_str(chosen.as_str()).expect("a generated uuid");
            assert_eq!(uuid.get_version_num(), 7, "{pairs:?}");
        }
    }

    #[test]
    fn current_is_the_id_of_the_scope() {
        assert!(current().is_none());
        let id = RequestId::generate();
        let seen = CURRENT.sync_scope(id.clone(), current).unwrap();
        assert_eq!(seen.as_str(), id.as_str());
    }

    /// A service that logs one line and answers 200.
    #[derive(Clone)]
    struct Logs;

    impl Service<Request<()>> for Logs {
        type Response = Response;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            tracing::warn!("answering");
            std::future::ready(Ok(Response::default()))
        }
    }

    /// What a subscriber writes, kept for the test to read.
    #[derive(Clone, Default)]
    struct Written(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_and_answers_name_the_request() {
        let written = Written::default();
        let sink = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let request = Request::builder()
            .header(REQUEST_ID_HEADER, "pep-7")
            .body(())
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let response = runtime
            .block_on(RequestIds.layer(Logs).call(request))
            .unwrap();
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "pep-7");
        let log = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
        assert!(
            log.contains("request{request_id=\"pep-7\"}: ") && log.contains("answering"),
            "{log}"
        );
    }
}
