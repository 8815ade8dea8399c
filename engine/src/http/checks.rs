//! Authorization checks and policy administration.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::endpoint::{endpoint, Body, Endpoint, Takes};
use super::extract::parse_json;
use super::{ApiJson, ApiState};
use crate::authz::{CheckRequest, Decision};
use crate::error::Error;
use crate::policy::{PolicyStatus, Reloaded};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Post "/v1/authorize" => authorize,
            "One check: may principal do action on resource?",
            Takes::Json("CheckRequest", r#"{"principal": {"type": "User", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}, "action": {"type": "Action", "id": "ViewWorkspace"}, "resource": {"type": "Workspace", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02"}}"#),
            200,
            Body::One("Decision"),
            &[],
        ),
        endpoint!(
            Post "/v1/authorize/batch" => authorize_batch,
            "Checks in order: `{\"requests\": [CheckRequest…]}` → `{\"policy_revision\", \"results\"}`",
            Takes::Json("BatchRequest", r#"{"requests": [{"principal": {"type": "User", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}, "action": {"type": "Action", "id": "ViewWorkspace"}, "resource": {"type": "Workspace", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02"}}]}"#),
            200,
            Body::Any,
            &[],
        ),
        endpoint!(
            Get "/v1/policies" => policies,
            "Active policy revision, digest, files and the last reload error",
            Takes::Nothing,
            200,
            Body::Any,
            &[],
        ),
        endpoint!(
            Post "/v1/policies/reload" => reload,
            "Reload the policy directory now",
            Takes::Nothing,
            200,
            Body::Any,
            &[422],
        ),
    ]
}

async fn authorize(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<CheckRequest>,
) -> Result<Json<Decision>, Error> {
    let snapshot = state.app.policies.current();
    super::metrics::check(&state, &snapshot, &request, std::time::Instant::now()).map(Json)
}

/// Checks answered in order: `{"requests": [CheckRequest…]}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchRequest {
    /// Kept as raw JSON text so one malformed item fails alone (its slot
    /// answers an error, the others are checked): even a number no f64
    /// holds (`1e400`) is only text until its item is read.
    #[schema(value_type = Vec<serde_json::Value>)]
    requests: Vec<Box<RawValue>>,
}

#[derive(Serialize)]
struct BatchResponse {
    policy_revision: u64,
    results: Vec<BatchResult>,
}

/// One slot of a batch's answer: the decision, or why its item has none.
#[derive(Serialize)]
#[serde(untagged)]
enum BatchResult {
    Decided(Decision),
    Failed { error: ItemError },
}

#[derive(Serialize)]
struct ItemError {
    code: &'static str,
    message: String,
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
    let asked_at = std::time::Instant::now();
    let results = batch
        .requests
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let outcome = parse_json::<CheckRequest>(item.get().as_bytes())
                .and_then(|request| super::metrics::check(&state, &snapshot, &request, asked_at));
            match outcome {
                Ok(decision) => BatchResult::Decided(decision),
                Err(e) => BatchResult::Failed {
                    error: ItemError {
                        code: e.code(),
                        message: format!("requests[{i}]: {e}"),
                    },
                },
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
