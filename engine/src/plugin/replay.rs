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
    /// The audit record whose calls were re-run.
    pub audit_id: Uuid,
    /// The command that record is of (its Cedar action).
    pub action: String,
    /// Each recorded call, in the order the command made them.
    pub calls: Vec<ReplayedCall>,
}

/// One recorded call and its re-run.
#[derive(Debug, Serialize)]
pub struct ReplayedCall {
    /// The hook called.
    pub hook: Hook,
    /// The answer the command acted on, as the audit record keeps it.
    pub recorded: PluginAnswer<Value>,
    /// What the same input gets now.
    pub now: Rerun,
    /// Whether the re-run answered with the recorded output.
    pub same_output: bool,
}

/// What a re-run of a recorded call gave.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rerun {
    /// An answer that passed the host guards.
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
