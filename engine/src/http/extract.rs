//! Request extractors that turn every malformed input into a JSON 4xx that
//! says what was wrong and where.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::value::UnitDeserializer;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::app::Actor;
use crate::command::Idempotency;
use crate::error::Error;
use crate::store::Store;

/// The header that names the user a management call acts for.
pub const ACTOR_HEADER: &str = "x-warden-actor";
/// The header that makes a write safe to retry.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The request header that chooses how fresh a check's data must be.
pub const CONSISTENCY_HEADER: &str = "x-warden-consistency";
/// How stale a `minimize_latency` check may answer: from what its server
/// had read of other servers' writes up to this long before it arrived.
pub const MINIMIZE_LATENCY_STALENESS: Duration = Duration::from_millis(100);

/// A JSON body; parse errors name the path of the bad field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let json = require_json(request.headers());
        let bytes = body_bytes(request, state).await?;
        if !bytes.is_empty() {
            json?;
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Path parameters; a segment that cannot be read (not UTF-8 once
/// percent-decoded) is a 400 naming it, as every other bad input.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            // A route without parameters reads as `()`.
            Err(PathRejection::MissingPathParams(missing)) => {
                T::deserialize(UnitDeserializer::<serde::de::value::Error>::new())
                    .map(ApiPath)
                    .map_err(|_| Error::Internal(missing.body_text()))
            }
            Err(rejection) => Err(path_error(rejection)),
        }
    }
}

/// The JSON error for a path that did not parse. The routes take their
/// parameters as strings, so only unreadable text is the caller's fault;
/// anything else is a route that does not match its handler.
fn path_error(rejection: PathRejection) -> Error {
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        return Error::Internal(rejection.body_text());
    };
    match failed.into_kind() {
        ErrorKind::InvalidUtf8InPathParam { key } => Error::invalid(
            format!("path.{key}"),
            "is not valid UTF-8 once percent-decoded",
        ),
        kind @ (ErrorKind::WrongNumberOfParameters { .. } | ErrorKind::UnsupportedType { .. }) => {
            Error::Internal(kind.to_string())
        }
        kind => Error::invalid("path", kind.to_string()),
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
        let json = require_json(&parts.headers);
        let bytes = body_bytes(Request::from_parts(parts, body), state).await?;
        if !bytes.is_empty() {
            json?;
        }
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

/// How fresh the data a check answers from must be (`X-Warden-Consistency`).
/// Only a shared database (PostgreSQL) can be behind: on the embedded one
/// every check sees every acknowledged write either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    /// `full` (the default): every write any server acknowledged before the
    /// check arrived is seen.
    #[default]
    Full,
    /// `minimize_latency`: writes acknowledged up to
    /// [`MINIMIZE_LATENCY_STALENESS`] before the check arrived are seen;
    /// later ones on other servers may not be yet. Such a check seldom
    /// waits for a read of the database.
    MinimizeLatency,
    /// `at_least:<revision>`: the writes below a revision a write answered
    /// (`X-Warden-Revision`) are seen, and others as they happen to be: a
    /// caller reads its own writes on any server, and waits for the
    /// database only when this server has not read that far yet.
    AtLeast(u64),
}

impl Consistency {
    /// The moment a check that arrived at `arrived` must be as fresh as.
    pub fn fresh_as_of(self, arrived: Instant, store: &Store) -> Instant {
        match self {
            Consistency::Full => arrived,
            Consistency::MinimizeLatency => arrived
                .checked_sub(MINIMIZE_LATENCY_STALENESS)
                .unwrap_or(arrived),
            Consistency::AtLeast(revision) => store.fresh_at(revision).unwrap_or(arrived),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Consistency {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        match header_str(parts, CONSISTENCY_HEADER)?.map(str::trim) {
            None | Some("full") => Ok(Consistency::Full),
            Some("minimize_latency") => Ok(Consistency::MinimizeLatency),
            Some(other) => other
                .strip_prefix("at_least:")
                .and_then(|revision| revision.parse().ok())
                .map(Consistency::AtLeast)
                .ok_or_else(|| {
                    Error::invalid(
                        "X-Warden-Consistency",
                        format!(
                            "{other:?} is none of full, minimize_latency \
                             and at_least:<X-Warden-Revision of a write>"
                        ),
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

/// Fails with 415 unless the request says its body is JSON
/// (`Content-Type: application/json`, parameters such as `charset` aside).
/// Only a request that has a body needs to say so.
fn require_json(headers: &HeaderMap) -> Result<(), Error> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("(not visible ASCII)"));
    let essence = content_type.map(|value| value.split(';').next().unwrap_or("").trim());
    if essence.is_some_and(|essence| essence.eq_ignore_ascii_case("application/json")) {
        return Ok(());
    }
    Err(Error::UnsupportedMediaType(match content_type {
        Some(value) => format!("Content-Type {value:?} is not application/json"),
        None => "a request body needs Content-Type: application/json".to_string(),
    }))
}

/// Parses a JSON object; the error names the field path, line and column.
/// Every body is an object: serde would read a struct from an array of
/// its fields' values too (`["a@b.com"]`), which no client means.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first.is_some_and(|byte| *byte != b'{') {
        return Err(Error::invalid("body", "must be a JSON object"));
    }
    // Tracking the path slows every parse; only a failed one needs it.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    if let Some(value) = with_integral_floats_as_integers(bytes) {
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

/// `bytes` read with every integral number written as a float (`5.0`,
/// `1e3`) taken as that integer, if that makes them a `T`. JSON (and the
/// API document's JSON Schema) counts `5.0` as the integer 5; serde's
/// integer fields would refuse it.
fn with_integral_floats_as_integers<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    fn integers(value: &mut serde_json::Value) -> bool {
        use serde_json::Value;
        match value {
            Value::Number(number) if number.is_f64() => {
                let float = number.as_f64().unwrap_or(f64::NAN);
                // Exactly representable range: beyond 2^63 a float is no
                // longer one integer.
                let integer = (float.fract() == 0.0 && float.abs() < 9.2e18)
                    .then(|| serde_json::Number::from(float as i64));
                integer.map(|integer| *number = integer).is_some()
            }
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |any, item| integers(item) | any),
            Value::Object(fields) => fields
                .values_mut()
                .fold(false, |any, item| integers(item) | any),
            _ => false,
        }
    }
    let mut value = serde_json::from_slice(bytes).ok()?;
    integers(&mut value).then(|| serde_json::from_value(value).ok())?
}

/// Parses a uuid from a path segment.
pub fn path_id(what: &str, value: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(value)
        .map_err(|_| Error::invalid(format!("path.{what}"), format!("{value:?} is not a uuid")))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::{json, Value};

    use super::*;

    /// A body with the shape of most commands' (serde reads such a struct
    /// from an array of its values too).
    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        email: String,
        #[serde(default)]
        role: Option<String>,
    }

    /// Any JSON value, objects included, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z@.]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("email|role|[a-z]{1,4}", inner, 0..3)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Only an object is ever read as a body; anything else is a 400
        /// naming `body`, whatever serde would make of it.
        #[test]
        fn only_objects_are_bodies(value in any_json(), padding in "[ \t\r\n]{0,3}") {
            let text = format!("{padding}{value}");
            match parse_json::<Body>(text.as_bytes()) {
                Ok(body) => {
                    prop_assert!(value.is_object(), "{} read as {:?}", text, body);
                    prop_assert_eq!(body, serde_json::from_value::<Body>(value).unwrap());
                }
                Err(Error::Invalid { field, .. }) if !value.is_object() => {
                    prop_assert_eq!(field, "body");
                }
                Err(Error::Invalid { field, .. }) => prop_assert!(field.starts_with("body")),
                Err(other) => prop_assert!(false, "{}: {}", text, other),
            }
        }
    }

    #[test]
    fn integral_floats_are_integers() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Limits {
            seat_limit: u32,
            credits: i64,
            items: Vec<u8>,
        }
        let read = |text: &str| parse_json::<Limits>(text.as_bytes());
        let expected = Limits {
            seat_limit: 5,
            credits: -1000,
            items: vec![0, 1],
        };
        for text in [
            r#"{"seat_limit": 5, "credits": -1000, "items": [0, 1]}"#,
            r#"{"seat_limit": 5.0, "credits": -1e3, "items": [0.0, 1.00]}"#,
        ] {
            assert_eq!(read(text).unwrap(), expected, "{text}");
        }
        for (text, field) in [
            (
                r#"{"seat_limit": 5.5, "credits": 1, "items": []}"#,
                "body.seat_limit",
            ),
            (
                r#"{"seat_limit": 1, "credits": 1e19, "items": []}"#,
                "body.credits",
            ),
            (
                r#"{"seat_limit": 1, "credits": 1, "items": [256.0]}"#,
                "body.items[0]",
            ),
        ] {
            match read(text) {
                Err(Error::Invalid { field: got, .. }) => assert_eq!(got, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn arrays_of_a_structs_values_are_refused() {
        let error = parse_json::<Body>(json!(["zed@acme.com"]).to_string().as_bytes()).unwrap_err();
        assert_eq!(error.to_string(), "body: must be a JSON object");
    }

    #[test]
    fn only_json_content_types_are_json() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            require_json(&headers)
        };
        for json in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
        ] {
            assert!(with(json).is_ok(), "{json}");
        }
        for other in [
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "",
        ] {
            let error = with(other).unwrap_err();
            assert_eq!(error.code(), "unsupported_media_type", "{other}");
        }
        assert_eq!(
            super::super::status(&require_json(&HeaderMap::new()).unwrap_err()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
