//! Replaying the plugin calls a past command acted on: the recorded input
//! goes to the plugin serving the hook now (or to one plugin under test),
//! so an author sees whether a new version would have decided differently.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Hook, PluginAnswer};
use crate::error::Result;

/// The re-run of one audit record's plugin calls.
#[derive(Debug, Serialize)]
pub struct Replay {
    pub audit_id: Uuid,
    pub action: String,
    pub calls: Vec<ReplayedCall>,
}

/// One recorded call and its re-run.
#[derive(Debug, Serialize)]
pub struct ReplayedCall {
    pub hook: Hook,
    pub recorded: PluginAnswer<Value>,
    pub now: Rerun,
    /// Whether the re-run answered with the recorded output.
    pub same_output: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rerun {
    Answered(Box<PluginAnswer<Value>>),
    /// The call failed (the message names the plugin, hook and cause).
    Failed(String),
}

/// Re-runs each recorded call through `call` (a host's or a plugin under
/// test's `call_json`).
pub fn replay(
    recorded: &[PluginAnswer<Value>],
    call: impl Fn(Hook, &Value) -> Result<PluginAnswer<Value>>,
) -> Vec<ReplayedCall> {
    recorded
        .iter()
        .map(|answer| {
            let now = match call(answer.hook, &answer.input) {
                Ok(rerun) => Rerun::Answered(Box::new(rerun)),
                Err(e) => Rerun::Failed(e.to_string()),
            };
            ReplayedCall {
                hook: answer.hook,
                same_output: matches!(&now, Rerun::Answered(r) if r.output == answer.output),
                recorded: answer.clone(),
                now,
            }
        })
        .collect()
}
