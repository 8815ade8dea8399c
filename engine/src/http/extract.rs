//! Request extractors that turn every malformed input into a JSON 4xx that
//! says what was wrong and where.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::app::Actor;
use crate::command::Idempotency;
use crate::error::Error;

/// The header that names the user a management call acts for.
pub const ACTOR_HEADER: &str = "x-warden-actor";
/// The header that makes a write safe to retry.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// A JSON body; parse errors name the path of the bad field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let bytes = body_bytes(request, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A write: who acts, the optional idempotency key, and the parsed body.
pub struct Write<T> {
    pub actor: Actor,
    pub idempotency: Option<Idempotency>,
    pub body: T,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Write<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let (mut parts, body) = request.into_parts();
        let ActingUser(actor) = ActingUser::from_request_parts(&mut parts, state).await?;
        let key = header_str(&parts, IDEMPOTENCY_HEADER)?.map(str::to_owned);
        // Fingerprinted without "/v1", as when the routes were nested under
        // it: a retry across that change still replays its first answer.
        let path = parts.uri.path();
        let path = path.strip_prefix("/v1").unwrap_or(path).to_owned();
        let method = parts.method.to_string();
        let bytes = body_bytes(Request::from_parts(parts, body), state).await?;
        let idempotency = key
            .map(|key| Idempotency::new(&key, &method, &path, &bytes))
            .transpose()?;
        // Action routes (revoke, accept…) need no body: none reads as `{}`.
        let json: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        Ok(Write {
            actor,
            idempotency,
            body: parse_json(json)?,
        })
    }
}

/// The actor of a call: the user named by `X-Warden-Actor`, or the system.
pub struct ActingUser(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for ActingUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        match header_str(parts, ACTOR_HEADER)? {
            None => Ok(ActingUser(Actor::System)),
            Some(value) => Uuid::parse_str(value.trim())
                .map(|id| ActingUser(Actor::User(id)))
                .map_err(|_| {
                    Error::invalid(
                        "X-Warden-Actor",
                        format!("{value:?} is not a user id (uuid)"),
                    )
                }),
        }
    }
}

/// The value of header `name`, sent at most once: two values (an actor and
/// another actor, say) are a 400, never "the first one wins".
fn header_str<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a str>, Error> {
    let mut values = parts.headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::invalid(name, "sent more than once; send it once"));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| Error::invalid(name, "must be visible ASCII"))
}

async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, Error> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::LimitExceeded {
                    code: "body_too_large",
                    message: "request body is larger than the configured limit (max_body_bytes)"
                        .into(),
                }
            } else {
                Error::invalid("body", rejection.body_text())
            }
        })
}

/// Parses JSON; the error names the field path, line and column.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    // Tracking the path slows every parse; only a failed one needs it.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            format!("body.{path}")
        };
        Error::invalid(field, e.into_inner().to_string())
    })
}

/// Parses a uuid from a path segment.
pub fn path_id(what: &str, value: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(value)
        .map_err(|_| Error::invalid(format!("path.{what}"), format!("{value:?} is not a uuid")))
}
