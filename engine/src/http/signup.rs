//! Sign-up, with domain-based auto-join.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::common::{execute_durably, Answer, Revision};
use super::endpoint::{endpoint, Body, Endpoint, Takes};
use super::extract::Write;
use super::ApiState;
use crate::command::{SignUp, SignUpOutcome};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![endpoint!(
        Post "/v1/signup" => signup,
        "Create or find a user by email and auto-join by verified domain (system actor only): `{\"email\"}` → `{\"user\", \"created\", \"joined\", \"reason\", \"decided_by\"}`; 201 created, 200 known",
        Takes::Command("SignUp", r#"{"email": "ann@acme.com"}"#),
        201,
        Body::Any,
        &[200, 403, 409, 502, 503],
    )]
}

/// 201 when the sign-up created the user, 200 when the email was known
/// (auto-join still runs: an org may have verified the domain since).
async fn signup(State(state): State<ApiState>, write: Write<SignUp>) -> Answer<SignUpOutcome> {
    let outcome = execute_durably(&state, write, |_| Ok(())).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Revision::now(&state), Json(outcome)))
}
