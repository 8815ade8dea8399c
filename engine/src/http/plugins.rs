//! Plugin administration and the dry-run call for plugin authors.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{ApiJson, ApiState};
use crate::command;
use crate::error::Error;
use crate::plugin::replay::Replay;
use crate::plugin::{Hook, PluginAnswer, PluginStatus};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/plugins", get(plugins))
        .route("/v1/plugins/reload", post(reload))
        .route("/v1/plugins/call", post(call))
        .route("/v1/plugins/replay", post(replay))
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
