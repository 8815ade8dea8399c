//! Sign-up, with domain-based auto-join.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};

use super::common::execute_durably;
use super::extract::Write;
use super::ApiState;
use crate::command::{SignUp, SignUpOutcome};
use crate::error::Error;

pub fn routes() -> Router<ApiState> {
    Router::new().route("/v1/signup", post(signup))
}

/// 201 when the sign-up created the user, 200 when the email was known
/// (auto-join still runs: an org may have verified the domain since).
async fn signup(
    State(state): State<ApiState>,
    write: Write<SignUp>,
) -> Result<(StatusCode, Json<SignUpOutcome>), Error> {
    let outcome = execute_durably(&state, write, |_| Ok(())).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)))
}
