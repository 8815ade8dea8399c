//! What a hook call leaves behind: the answer record (kept for the audit log
//! and replay) or the error, both with the plugin's log lines.

use serde::{Deserialize, Serialize};

use super::hook::Hook;
pub use crate::error::plugin::{FailureKind, Level, LogLine, PluginError};

/// The `plugin` of answers that no plugin produced: the host's own default
/// rule served the hook.
pub const BUILTIN: &str = "builtin";
/// The `plugin` of answers a host guard gave without calling any plugin
/// (e.g. a free-mail signup never reaches the autojoin plugin).
pub const HOST_GUARD: &str = "host-guard";

/// A hook's accepted answer and everything needed to explain or replay it:
/// who answered (plugin name, version, sha256 of the component, or
/// [`BUILTIN`] / [`HOST_GUARD`]), the exact input and output, and the cost.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PluginAnswer<T> {
    /// The plugin's name, or [`BUILTIN`] / [`HOST_GUARD`].
    pub plugin: String,
    /// The plugin's version; Warden's own when the host answered.
    pub version: String,
    /// The sha256 of the plugin's component, as hex; `builtin` when the
    /// host answered.
    pub sha256: String,
    /// The hook called.
    pub hook: Hook,
    /// The manifest `[config]` the plugin received (`null` for the host).
    pub config: serde_json::Value,
    /// The input as the plugin received it, as JSON.
    pub input: serde_json::Value,
    /// The answer, which passed the host guards.
    pub output: T,
    /// Wasm fuel the call used; 0 when the host answered.
    pub fuel_used: u64,
    /// How long the call took, in microseconds of wall-clock time.
    pub elapsed_us: u64,
    /// The lines the plugin logged during the call.
    pub logs: Vec<LogLine>,
}

impl<T: Serialize> PluginAnswer<T> {
    /// The same record with the output as JSON, for callers that handle
    /// every hook alike (the dry-run endpoint, the audit log).
    pub fn into_json(self) -> PluginAnswer<serde_json::Value> {
        PluginAnswer {
            output: serde_json::to_value(&self.output).expect("hook outputs serialise"),
            plugin: self.plugin,
            version: self.version,
            sha256: self.sha256,
            hook: self.hook,
            config: self.config,
            input: self.input,
            fuel_used: self.fuel_used,
            elapsed_us: self.elapsed_us,
            logs: self.logs,
        }
    }
}
