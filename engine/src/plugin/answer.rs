//! What a hook call leaves behind: the answer record (kept for the audit log
//! and replay) or the error, both with the plugin's log lines.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::hooks::Hook;

/// The `plugin` of answers that no plugin produced: the host's own default
/// rule served the hook.
pub const BUILTIN: &str = "builtin";
/// The `plugin` of answers a host guard gave without calling any plugin
/// (e.g. a free-mail signup never reaches the autojoin plugin).
pub const HOST_GUARD: &str = "host-guard";

/// One line a plugin logged through the `host.log` import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: Level,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// A hook's accepted answer and everything needed to explain or replay it:
/// who answered (plugin name, version, sha256 of the component, or
/// [`BUILTIN`] / [`HOST_GUARD`]), the exact input and output, and the cost.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PluginAnswer<T> {
    pub plugin: String,
    pub version: String,
    pub sha256: String,
    pub hook: Hook,
    /// The manifest `[config]` the plugin received (`null` for the host).
    pub config: serde_json::Value,
    pub input: serde_json::Value,
    pub output: T,
    pub fuel_used: u64,
    pub elapsed_us: u64,
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

/// Why a hook call produced no usable answer. The host fails closed: the
/// caller gets this error, never a partial or unchecked result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The fuel budget (`limits.fuel`) ran out.
    OutOfFuel,
    /// The call used `limits.timeout_ms` of CPU time.
    Timeout,
    /// The plugin tried to grow its memory past `limits.memory_bytes`.
    Memory,
    /// The plugin trapped (panic, `unreachable`, stack overflow, …).
    Trap,
    /// The output broke a host rule (unknown org, charge above the price…).
    InvalidOutput,
    /// Strings returned plus log lines exceed `limits.max_output_bytes`.
    OutputTooLarge,
    /// The component does not implement this host's ABI for the hook.
    Abi,
    /// Two plugins declare the hook and no `[plugin_hooks]` setting chooses.
    Conflict,
    /// No plugin can serve the hook right now (the chosen one is not
    /// loaded, or no instance slot is free).
    Unavailable,
}

impl FailureKind {
    /// No plugin could be asked (none chosen, none loaded, no free slot):
    /// the hook's server is unavailable, rather than a plugin answering
    /// badly.
    pub fn is_unavailable(self) -> bool {
        matches!(self, FailureKind::Conflict | FailureKind::Unavailable)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::OutOfFuel => "out_of_fuel",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Trap => "trap",
            FailureKind::InvalidOutput => "invalid_output",
            FailureKind::OutputTooLarge => "output_too_large",
            FailureKind::Abi => "abi",
            FailureKind::Conflict => "conflict",
            FailureKind::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed hook call: which plugin, which hook, what happened, and the
/// log lines the plugin wrote before it failed.
#[derive(Clone, Debug, Serialize, Deserialize, thiserror::Error)]
#[error("plugin {plugin} failed in hook {hook}: {kind}: {message}")]
pub struct PluginError {
    pub plugin: String,
    pub hook: Hook,
    pub kind: FailureKind,
    pub message: String,
    pub logs: Vec<LogLine>,
}

impl PluginError {
    pub fn new(plugin: &str, hook: Hook, kind: FailureKind, message: impl Into<String>) -> Self {
        PluginError {
            plugin: plugin.to_string(),
            hook,
            kind,
            message: message.into(),
            logs: Vec::new(),
        }
    }
}
