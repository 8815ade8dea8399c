//! Authorization checks and policy administration.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::extract::parse_json;
use super::{ApiJson, ApiState};
use crate::authz::{CheckRequest, Decision};
use crate::error::Error;
use crate::policy::{PolicyStatus, Reloaded};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/authorize", post(authorize))
        .route("/v1/authorize/batch", post(authorize_batch))
        .route("/v1/policies", get(policies))
        .route("/v1/policies/reload", post(reload))
}

async fn authorize(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<CheckRequest>,
) -> Result<Json<Decision>, Error> {
    state.app.check(&request).map(Json)
}

/// Checks answered in order: `{"requests": [CheckRequest…]}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchRequest {
    /// Kept as raw JSON text so one malformed item fails alone (its slot
    /// answers an error, the others are checked): even a number no f64
    /// holds (`1e400`) is only text until its item is read.
    #[schema(value_type = Vec<Value>)]
    requests: Vec<Box<RawValue>>,
}

#[derive(Serialize)]
struct BatchResponse {
    policy_revision: u64,
    results: Vec<Value>,
}

/// Answers each check in order against one policy snapshot; a bad item gets
/// an error in its slot, the others are answered.
async fn authorize_batch(
    State(state): State<ApiState>,
    ApiJson(batch): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, Error> {
    let limit = state.limits.max_batch;
    if batch.requests.len() > limit {
        return Err(Error::LimitExceeded {
            code: "batch_too_large",
            message: format!(
                "{} requests in one batch; at most {limit} (max_batch)",
                batch.requests.len()
            ),
        });
    }
    let snapshot = state.app.policies.current();
    let results = batch
        .requests
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let outcome = parse_json::<CheckRequest>(item.get().as_bytes())
                .and_then(|request| state.app.check_against(&snapshot, &request));
            match outcome {
                Ok(decision) => serde_json::to_value(decision).expect("decisions serialise"),
                Err(e) => serde_json::json!({"error": {"code": e.code(), "message": format!("requests[{i}]: {e}")}}),
            }
        })
        .collect();
    Ok(Json(BatchResponse {
        policy_revision: snapshot.revision,
        results,
    }))
}

async fn policies(State(state): State<ApiState>) -> Json<PolicyStatus> {
    Json(state.app.policies.status())
}

async fn reload(State(state): State<ApiState>) -> Result<Json<Reloaded>, Error> {
    let policies = state.app.policies.clone();
    tokio::task::spawn_blocking(move || policies.reload())
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map(Json)
        .map_err(Error::from)
}
