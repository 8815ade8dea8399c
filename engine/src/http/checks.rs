//! Authorization checks and policy administration.

use std::time::Instant;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::endpoint::{endpoint, Body, Endpoint, Takes};
use super::extract::{parse_json, Consistency};
use super::{ApiJson, ApiState};
use crate::authz::{CheckRequest, Decision};
use crate::error::Error;
use crate::policy::{PolicySnapshot, PolicyStatus, Reloaded};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Post "/v1/authorize" => authorize,
            "One check: may principal do action on resource?",
            Takes::Check("CheckRequest", r#"{"principal": {"type": "User", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}, "action": {"type": "Action", "id": "ViewWorkspace"}, "resource": {"type": "Workspace", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02"}}"#),
            200,
            Body::One("Decision"),
            &[],
        ),
        endpoint!(
            Post "/v1/authorize/batch" => authorize_batch,
            "Checks in order: `{\"requests\": [CheckRequest…]}` → `{\"policy_revision\", \"results\"}`",
            Takes::Check("BatchRequest", r#"{"requests": [{"principal": {"type": "User", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01"}, "action": {"type": "Action", "id": "ViewWorkspace"}, "resource": {"type": "Workspace", "id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02"}}]}"#),
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
    consistency: Consistency,
    ApiJson(request): ApiJson<CheckRequest>,
) -> Result<Json<Decision>, Error> {
    let asked_at = consistency.fresh_as_of(Instant::now(), &state.app.store);
    caught_up(&state, asked_at).await;
    let snapshot = state.app.policies.current();
    decide(&state, &snapshot, &request, asked_at).map(Json)
}

/// Waits, holding no thread, until the store has read other servers'
/// writes as of `asked_at` (on a shared database), so that checks as
/// fresh as that answer from their cache at once. A failed read is left to the
/// check, which reads again and reports it in its route's terms.
pub(super) async fn caught_up(state: &ApiState, asked_at: Instant) {
    if let Err(e) = state.app.store.caught_up(asked_at).await {
        tracing::debug!("catching up before a check: {e}");
    }
}

/// Decides `request` as [`App::check_against`](crate::app::App::check_against)
/// does, counts the decision and logs it: the one way the check routes
/// (Warden's and AuthZEN's) decide.
pub(super) fn decide(
    state: &ApiState,
    snapshot: &PolicySnapshot,
    request: &CheckRequest,
    asked_at: Instant,
) -> Result<Decision, Error> {
    let started = Instant::now();
    let decision = state.app.check_against(snapshot, request, asked_at)?;
    let took = started.elapsed();
    let allowed = decision.allowed();
    state
        .metrics
        .decision(snapshot, &request.action.id, allowed, took);
    if let Some(log) = &state.settings.decision_log {
        let request_id = super::request_id::current().map(|id| id.as_str().to_string());
        log.record(snapshot, request, &decision, took, request_id);
    }
    Ok(decision)
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
    consistency: Consistency,
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
    let asked_at = consistency.fresh_as_of(Instant::now(), &state.app.store);
    caught_up(&state, asked_at).await;
    let snapshot = state.app.policies.current();
    let results = batch
        .requests
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let outcome = parse_json::<CheckRequest>(item.get().as_bytes())
                .and_then(|request| decide(&state, &snapshot, &request, asked_at));
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
