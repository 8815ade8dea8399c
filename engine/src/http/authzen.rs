//! The OpenID AuthZEN Authorization API 1.0 (final), next to Warden's own
//! API: Access Evaluation, Access Evaluations and the PDP metadata. An
//! evaluation is Warden's check (`POST /v1/authorize`) asked in AuthZEN's
//! words (`mapping` translates), behind the same bearer token.
//!
//! Section names (§"…") are the spec's headings
//! (`api/authorization-api-1_0.md` of github.com/openid/authzen).
//!
//! Errors keep Warden's one shape, `{"error": {"code", "message",
//! "request_id", …}}`: §"Error Responses" asks for "an error message
//! string" and §"JSON Serialization" for a JSON object as every body's
//! top-level element, and `error.message` is that string. The statuses
//! are the spec's: 400 for bad input (a body that is not
//! `application/json` included, where Warden's own routes answer 415), 401
//! with `WWW-Authenticate` for a missing token (§"Sender Authentication
//! Failure"), 500; and 413 beyond a configured limit (RFC 9110 §15.5.14;
//! the spec's list is of the errors "common to all methods").

mod evaluations;
mod mapping;
mod model;
mod search;

use std::time::Instant;

use axum::extract::State;
use axum::http::uri::Authority;
use axum::http::{header, HeaderMap};
use axum::Json;

use self::mapping::Question;
pub(super) use self::model::{
    ActionSearchRequest, EvaluationRequest, EvaluationResponse, EvaluationsRequest,
    EvaluationsResponse, PdpMetadata, ResourceSearchRequest, SearchResponse, SubjectSearchRequest,
};
use super::checks::caught_up;
use super::endpoint::{endpoint, Body, Endpoint, Takes};
use super::extract::ActingUser;
use super::{ApiJson, ApiState};
use crate::error::Error;

/// The Access Evaluation endpoint's path (§"HTTPS JSON Binding", its
/// default path).
const EVALUATION_PATH: &str = "/access/v1/evaluation";
/// The Access Evaluations endpoint's path.
const EVALUATIONS_PATH: &str = "/access/v1/evaluations";
/// The Search APIs' paths (§"HTTPS JSON Binding", their default paths).
const SEARCH_SUBJECT_PATH: &str = "/access/v1/search/subject";
const SEARCH_RESOURCE_PATH: &str = "/access/v1/search/resource";
const SEARCH_ACTION_PATH: &str = "/access/v1/search/action";

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Post "/access/v1/evaluation" => evaluation,
            "AuthZEN Access Evaluation: may subject do action on resource? → `{\"decision\", \"context\"}`",
            Takes::Json("EvaluationRequest", r#"{"subject": {"type": "user", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}, "action": {"name": "view_workspace"}, "resource": {"type": "workspace", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02"}}"#),
            200,
            Body::One("EvaluationResponse"),
            &[],
        ),
        endpoint!(
            Post "/access/v1/evaluations" => evaluations,
            "AuthZEN Access Evaluations: `evaluations` completed by the top-level defaults, decided in order under `options.evaluations_semantic`",
            Takes::Json("EvaluationsRequest", r#"{"subject": {"type": "user", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}, "action": {"name": "view_resource"}, "evaluations": [{"resource": {"type": "flow", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e03"}}, {"resource": {"type": "credential", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e04"}}], "options": {"evaluations_semantic": "execute_all"}}"#),
            200,
            Body::One("EvaluationsResponse"),
            &[],
        ),
        endpoint!(
            Post "/access/v1/search/subject" => search_subject,
            "AuthZEN Subject Search: who may do action on resource? Paged by `page.token`/`page.limit`; `context.complete` says whether that is everyone (the system, or with X-Warden-Actor a user who may see the org's members)",
            Takes::ActorJson("SubjectSearchRequest", r#"{"subject": {"type": "user"}, "action": {"name": "reveal_credential"}, "resource": {"type": "credential", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e04"}}"#),
            200,
            Body::One("SearchResponse"),
            &[403],
        ),
        endpoint!(
            Post "/access/v1/search/resource" => search_resource,
            "AuthZEN Resource Search: on which resources of a type may subject do action? Paged by `page.token`/`page.limit`; `context.complete` says whether that is all (the system, or with X-Warden-Actor the subject themself)",
            Takes::ActorJson("ResourceSearchRequest", r#"{"subject": {"type": "user", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}, "action": {"name": "run_resource"}, "resource": {"type": "flow"}, "page": {"limit": 20}}"#),
            200,
            Body::One("SearchResponse"),
            &[403],
        ),
        endpoint!(
            Post "/access/v1/search/action" => search_action,
            "AuthZEN Action Search: what may subject do on resource? (the system, or with X-Warden-Actor the subject themself)",
            Takes::ActorJson("ActionSearchRequest", r#"{"subject": {"type": "user", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}, "resource": {"type": "workspace", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02"}}"#),
            200,
            Body::One("SearchResponse"),
            &[403],
        ),
        endpoint!(
            Get "/.well-known/authzen-configuration" => configuration,
            "AuthZEN Policy Decision Point metadata: the endpoints served (no token)",
            Takes::Nothing,
            200,
            Body::One("PdpMetadata"),
            &[400],
        ),
    ]
}

/// §"Access Evaluation API": one decision.
async fn evaluation(
    State(state): State<ApiState>,
    body: Result<ApiJson<EvaluationRequest>, Error>,
) -> Result<Json<EvaluationResponse>, Error> {
    let request = authzen_body(body)?;
    let question = Question {
        subject: &request.subject,
        action: &request.action,
        resource: &request.resource,
        context: request.context.as_ref(),
    };
    let asked_at = Instant::now();
    caught_up(&state, asked_at).await;
    let snapshot = state.app.policies.current();
    question.decide(&state, &snapshot, asked_at).map(Json)
}

/// §"Access Evaluations API": decisions in order, against one policy
/// snapshot.
async fn evaluations(
    State(state): State<ApiState>,
    body: Result<ApiJson<EvaluationsRequest>, Error>,
) -> Result<Json<EvaluationsResponse>, Error> {
    let request = authzen_body(body)?;
    let asked_at = Instant::now();
    caught_up(&state, asked_at).await;
    let snapshot = state.app.policies.current();
    evaluations::answer(&state, &snapshot, &request, asked_at).map(Json)
}

/// §"Subject Search API".
async fn search_subject(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    body: Result<ApiJson<SubjectSearchRequest>, Error>,
) -> Result<Json<SearchResponse>, Error> {
    search::subjects(&state, actor, authzen_body(body)?)
        .await
        .map(Json)
}

/// §"Resource Search API".
async fn search_resource(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    body: Result<ApiJson<ResourceSearchRequest>, Error>,
) -> Result<Json<SearchResponse>, Error> {
    search::resources(&state, actor, authzen_body(body)?)
        .await
        .map(Json)
}

/// §"Action Search API".
async fn search_action(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    body: Result<ApiJson<ActionSearchRequest>, Error>,
) -> Result<Json<SearchResponse>, Error> {
    search::actions(&state, actor, authzen_body(body)?)
        .await
        .map(Json)
}

/// The parsed body of an AuthZEN request. §"HTTPS JSON Binding": requests
/// "MUST include a `Content-Type` header with the value
/// `application/json`"; one that does not is a 400 here, the spec's status
/// for a bad request (§"Error Responses"), not Warden's 415.
fn authzen_body<T>(extracted: Result<ApiJson<T>, Error>) -> Result<T, Error> {
    match extracted {
        Ok(ApiJson(body)) => Ok(body),
        Err(Error::UnsupportedMediaType(message)) => Err(Error::invalid("Content-Type", message)),
        Err(other) => Err(other),
    }
}

/// §"Policy Decision Point Metadata": the endpoints this server serves,
/// under the URL the document was asked for. `policy_decision_point` "MUST
/// be identical to the Policy Decision Point identifier value into which
/// the well-known URI string was inserted" (§"Policy Decision Point
/// Metadata Validation"), so it is built from the request's `Host`, and
/// its scheme is `https` when a TLS-terminating proxy says so with
/// `X-Forwarded-Proto: https` (Warden itself serves plain HTTP).
async fn configuration(headers: HeaderMap) -> Result<Json<PdpMetadata>, Error> {
    let base = base_url(&headers)?;
    Ok(Json(PdpMetadata {
        access_evaluation_endpoint: format!("{base}{EVALUATION_PATH}"),
        access_evaluations_endpoint: format!("{base}{EVALUATIONS_PATH}"),
        search_subject_endpoint: format!("{base}{SEARCH_SUBJECT_PATH}"),
        search_resource_endpoint: format!("{base}{SEARCH_RESOURCE_PATH}"),
        search_action_endpoint: format!("{base}{SEARCH_ACTION_PATH}"),
        policy_decision_point: base,
    }))
}

/// `scheme://host` of the request (see [`configuration`]).
fn base_url(headers: &HeaderMap) -> Result<String, Error> {
    let host = one_header(headers, header::HOST.as_str())
        .ok_or_else(|| Error::invalid("Host", "send the Host header once"))?;
    // No userinfo: a PDP identifier is a bare host (§"Endpoint Parameters").
    let authority = host
        .parse::<Authority>()
        .ok()
        .filter(|authority| !authority.as_str().contains('@'))
        .ok_or_else(|| Error::invalid("Host", format!("{host:?} is not a host[:port]")))?;
    let https = one_header(headers, "x-forwarded-proto")
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    let scheme = if https { "https" } else { "http" };
    Ok(format!("{scheme}://{authority}"))
}

/// The one value of header `name` as text, if it is sent once.
fn one_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then(|| value.to_str().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata names routes the registry serves, and no other.
    #[test]
    fn the_metadata_names_served_routes() {
        let served: Vec<&str> = crate::http::endpoints()
            .iter()
            .map(|endpoint| endpoint.route.path)
            .collect();
        let listed = [
            EVALUATION_PATH,
            EVALUATIONS_PATH,
            SEARCH_SUBJECT_PATH,
            SEARCH_RESOURCE_PATH,
            SEARCH_ACTION_PATH,
        ];
        for path in listed {
            assert!(served.contains(&path), "{path}");
        }
        let authzen = served.iter().filter(|p| p.starts_with("/access/"));
        for path in authzen {
            assert!(
                listed.contains(path),
                "{path} is served: list it in PdpMetadata"
            );
        }
    }

    #[test]
    fn the_base_url_is_the_requested_one() {
        let with = |pairs: &[(&str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(
                    axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    value.parse().unwrap(),
                );
            }
            base_url(&headers)
        };
        assert_eq!(
            with(&[("host", "pdp.example.com")]).unwrap(),
            "http://pdp.example.com"
        );
        assert_eq!(
            with(&[("host", "127.0.0.1:8180"), ("x-forwarded-proto", "HTTPS")]).unwrap(),
            "https://127.0.0.1:8180"
        );
        for bad in [
            &[][..],
            &[("host", "a@b")],
            &[("host", "a b")],
            &[("host", "a"), ("host", "b")],
        ] {
            assert_eq!(with(bad).unwrap_err().code(), "invalid_request", "{bad:?}");
        }
    }
}
