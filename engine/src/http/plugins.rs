//! Plugin administration and the dry-run call for plugin authors.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::endpoint::{endpoint, Body, Endpoint, Takes};
use super::{ApiJson, ApiState};
use crate::command;
use crate::error::Error;
use crate::plugin::replay::Replay;
use crate::plugin::{Hook, PluginAnswer, PluginStatus};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Get "/v1/plugins" => plugins,
            "Loaded plugins and hooks",
            Takes::Nothing,
            200,
            Body::Any,
            &[],
        ),
        endpoint!(
            Post "/v1/plugins/reload" => reload,
            "Reload the plugin directory now",
            Takes::Nothing,
            200,
            Body::Any,
            &[422],
        ),
        endpoint!(
            Post "/v1/plugins/call" => call,
            "Call one plugin hook (testing aid)",
            Takes::Json("CallRequest", r#"{"hook": "usage-pricing", "input": {"org_id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01", "workspace_id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02", "flow_id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e03", "run_id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e04", "requested_credits": 0, "duration_ms": 5400, "steps": 3}}"#),
            200,
            Body::Any,
            &[404, 502, 503],
        ),
        endpoint!(
            Post "/v1/plugins/replay" => replay,
            "Re-run an audit record's plugin calls against the plugins serving now: `{\"audit_id\"}` → `{\"audit_id\", \"action\", \"calls\": [{\"hook\", \"recorded\", \"now\", \"same_output\"}]}`",
            Takes::Json("ReplayRequest", r#"{"audit_id": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e03"}"#),
            200,
            Body::Any,
            &[404],
        ),
    ]
}

async fn plugins(State(state): State<ApiState>) -> Json<PluginStatus> {
    Json(state.app.plugins.status())
}

async fn reload(State(state): State<ApiState>) -> Result<Json<PluginStatus>, Error> {
    let plugins = state.app.plugins.clone();
    tokio::task::spawn_blocking(move || plugins.reload())
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map(Json)
        .map_err(Error::from)
}

/// A dry-run call of one plugin hook.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CallRequest {
    hook: Hook,
    /// The hook's input in host JSON (e.g. a signup for `autojoin`).
    input: Value,
}

/// Runs one hook exactly as a command would and returns the answer record;
/// nothing is written. Plugin failures are 502 `plugin_failed`.
async fn call(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<CallRequest>,
) -> Result<Json<PluginAnswer<Value>>, Error> {
    let plugins = state.app.plugins.clone();
    // A call may run for up to a plugin's timeout: off the async workers.
    tokio::task::spawn_blocking(move || plugins.call_json(request.hook, &request.input))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map(Json)
}

/// The audit record whose plugin calls to re-run.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayRequest {
    audit_id: Uuid,
}

/// Re-runs the plugin calls recorded in an audit record against the plugins
/// serving now; nothing is written.
async fn replay(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> Result<Json<Replay>, Error> {
    let app = state.app.clone();
    tokio::task::spawn_blocking(move || {
        command::replay_audit(&app.store, request.audit_id, |hook, input| {
            app.plugins.call_json(hook, input)
        })
        .map(Json)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}
