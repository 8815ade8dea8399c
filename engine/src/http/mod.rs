//! The HTTP API (axum): routing, caller authentication, body limits and the
//! JSON error format. Handlers are thin: they parse, call the core
//! ([`App`], [`command::execute`](crate::command::execute)) and serialise.

mod access;
mod authzen;
mod checks;
mod common;
pub mod decision_log;
mod directory;
mod domains;
mod endpoint;
mod extract;
mod ledger;
mod metrics;
mod openapi;
mod orgs;
mod plugins;
mod request_id;
mod resources;
mod serve;
mod signup;
mod workspaces;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use futures_util::future::Either;
use serde_json::json;
use subtle::ConstantTimeEq;
use tower_layer::Layer;
use tower_service::Service;

use self::endpoint::{endpoint, requires_token, Body, Endpoint, Takes};
use crate::app::App;
use crate::error::Error;
use crate::secrets::CredentialKey;
use decision_log::DecisionLog;

pub use common::MAX_LISTING_EXAMINED;
pub use extract::ApiJson;
pub use openapi::document as openapi_document;
pub use serve::{
    serve, ConnectionLimits, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT, MAX_HEADERS, MAX_HEADER_BYTES, MAX_URI_BYTES,
};

/// Default largest request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default most checks in one batch.
pub const DEFAULT_MAX_BATCH: usize = 100;

/// Limits the HTTP layer enforces.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// The largest request body, in bytes; a larger one gets a 413.
    pub max_body_bytes: usize,
    /// The most checks one batch may ask; more get a 413.
    pub max_batch: usize,
}

/// Settings of the routes beyond their limits.
#[derive(Clone, Debug)]
pub struct ManagementSettings {
    /// How long a new or resent invitation stays valid.
    pub invitation_ttl: time::Duration,
    /// Seals and opens credential secrets.
    pub credential_key: CredentialKey,
    /// Where domain claims' TXT records are looked up (`dns_resolver`).
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// Where decided checks are logged, if anywhere.
    pub decision_log: Option<Arc<DecisionLog>>,
}

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub app: Arc<App>,
    pub limits: HttpLimits,
    pub settings: Arc<ManagementSettings>,
    pub metrics: Arc<metrics::Metrics>,
}

/// Builds the router. Everything under `/v1` and `/access/v1` (AuthZEN)
/// needs the admin bearer token.
pub fn router(
    app: Arc<App>,
    admin_token: &str,
    limits: HttpLimits,
    settings: ManagementSettings,
) -> Router {
    let state = ApiState {
        app,
        limits: limits.clone(),
        settings: Arc::new(settings),
        metrics: Arc::default(),
    };
    state.app.plugins.observe(state.metrics.clone());
    let (guarded, open): (Vec<Endpoint>, Vec<Endpoint>) = endpoints()
        .into_iter()
        .partition(|endpoint| requires_token(endpoint.route.path));
    let guarded = routed(guarded).route_layer(RequireToken(Arc::from(admin_token)));
    // Merged, not nested under "/v1": the routes spell out their "/v1"
    // and no prefix is stripped per request.
    routed(open)
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        // Outside the token gate, so refused requests are counted too.
        .layer(metrics::Track(Arc::clone(&state.metrics)))
        .with_state(state)
}

/// Every route of the API, with its document entry (see `endpoint`).
pub(crate) fn endpoints() -> Vec<Endpoint> {
    [
        open_endpoints(),
        checks::endpoints(),
        orgs::endpoints(),
        ledger::endpoints(),
        workspaces::endpoints(),
        resources::endpoints(),
        plugins::endpoints(),
        signup::endpoints(),
        domains::endpoints(),
        authzen::endpoints(),
        access::endpoints(),
        metrics::endpoints(),
        directory::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The two routes that need no token.
fn open_endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Get "/healthz" => healthz,
            "Liveness, the active policy revision and digest, the plugins' digest (no token)",
            Takes::Nothing,
            200,
            Body::Any,
            &[],
        ),
        endpoint!(
            Get "/openapi.json" => openapi::serve,
            "This document (no token)",
            Takes::Nothing,
            200,
            Body::Any,
            &[],
        ),
    ]
}

/// A router serving `endpoints`.
fn routed(endpoints: Vec<Endpoint>) -> Router<ApiState> {
    endpoints
        .into_iter()
        .fold(Router::new(), |router, endpoint| {
            router.route(endpoint.route.path, endpoint.handler)
        })
}

/// Liveness, the active policy set (its revision in this process and its
/// content digest, which names the same rules across restarts and
/// replicas) and the digest of the plugins serving the hooks.
async fn healthz(State(state): State<ApiState>) -> Json<serde_json::Value> {
    let policies = state.app.policies.current();
    Json(json!({
        "status": "ok",
        "policy_revision": policies.revision,
        "policy_digest": policies.digest,
        "plugin_digest": state.app.plugins.status().digest,
    }))
}

async fn not_found() -> Error {
    Error::not_found("route", "")
}

async fn method_not_allowed() -> Response {
    let body =
        json!({"code": "method_not_allowed", "message": "this route does not accept that method"});
    let body = enveloped(body, request_id::current().as_ref());
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// Lets through only requests with `Authorization: Bearer <admin token>`;
/// the comparison takes the same time whatever the token's prefix. A layer
/// of its own rather than `middleware::from_fn`, which added a clone of the
/// route and a boxed future to every request (3% of a check's time).
#[derive(Clone)]
struct RequireToken(Arc<str>);

impl<S> Layer<S> for RequireToken {
    type Service = TokenGate<S>;

    fn layer(&self, inner: S) -> TokenGate<S> {
        TokenGate {
            inner,
            token: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
struct TokenGate<S> {
    inner: S,
    token: Arc<str>,
}

impl<S> Service<Request> for TokenGate<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let presented = bearer_token(request.headers()).unwrap_or("");
        // The server refuses to start with an empty token, so "" never matches.
        if bool::from(presented.as_bytes().ct_eq(self.token.as_bytes())) {
            Either::Right(self.inner.call(request))
        } else {
            Either::Left(ready(Ok(Error::Unauthenticated.into_response())))
        }
    }
}

/// The token of the one `Authorization: Bearer <token>` header; the scheme
/// is case-insensitive (RFC 9110 §11.1). Two `Authorization` headers
/// authenticate nothing.
fn bearer_token(headers: &header::HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches(' '))
}

/// The HTTP status of each error.
pub fn status(error: &Error) -> StatusCode {
    match error {
        Error::Invalid { .. } => StatusCode::BAD_REQUEST,
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::Forbidden { .. } => StatusCode::FORBIDDEN,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } | Error::Stale(_) => StatusCode::CONFLICT,
        Error::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
        Error::Gone { .. } => StatusCode::GONE,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::LimitExceeded { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::UriTooLong(_) => StatusCode::URI_TOO_LONG,
        Error::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Error::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Plugin(e) if e.kind.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        Error::Plugin(_) => StatusCode::BAD_GATEWAY,
        Error::Storage(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = status(&self);
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (status, Json(error_body(&self))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The documented error answer: `{"error": {"code", "message", …,
/// "request_id"}}`, naming the id of the request being answered.
pub(crate) fn error_body(error: &Error) -> serde_json::Value {
    error_body_for(error, request_id::current().as_ref())
}

/// [`error_body`] naming `request_id` (none outside a request).
fn error_body_for(error: &Error, request_id: Option<&request_id::RequestId>) -> serde_json::Value {
    let mut body = json!({"code": error.code(), "message": error.to_string()});
    match error {
        Error::Invalid { field, message } => {
            body["field"] = json!(field);
            body["message"] = json!(format!("{field}: {message}"));
        }
        Error::Forbidden { policies, .. } => body["policies"] = json!(policies),
        Error::Rejected { problems, .. } => body["problems"] = json!(problems),
        Error::Plugin(failure) => {
            body["plugin"] = json!(failure.plugin);
            body["hook"] = json!(failure.hook);
            body["kind"] = json!(failure.kind);
            body["detail"] = json!(failure.message);
            body["logs"] = json!(failure.logs);
        }
        Error::NotFound { what, .. } if *what == "route" => {
            body["message"] = json!("no such route")
        }
        _ => {}
    }
    enveloped(body, request_id)
}

/// `{"error": body}`, the body naming the request's id.
fn enveloped(
    mut body: serde_json::Value,
    request_id: Option<&request_id::RequestId>,
) -> serde_json::Value {
    if let Some(id) = request_id {
        body["request_id"] = json!(id.as_str());
    }
    json!({ "error": body })
}
