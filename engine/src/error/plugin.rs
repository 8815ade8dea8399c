//! How a plugin call fails, as the layers above the plugin host see it: the
//! plugin layer raises these, the HTTP layer and the command line show
//! them. They live here, under everything, because `Error` carries them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One line a plugin logged through the `host.log` import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The level the plugin logged it at.
    pub level: Level,
    /// The text, cut to `MAX_LOG_LINE_BYTES` (with `…`) by the host; the
    /// host's own note of dropped lines starts with `(host)`.
    pub message: String,
}

/// The level of a plugin's log line (the `host.level` of the ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Detail for debugging the plugin.
    Debug,
    /// Normal operation.
    Info,
    /// Something unusual that did not stop the call.
    Warn,
    /// Something failed.
    Error,
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

    /// The kind as the API and the audit log name it (`out_of_fuel`…).
    pub(crate) fn as_str(self) -> &'static str {
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
    /// The plugin's name; the names, comma-separated, of plugins that
    /// conflict over the hook.
    pub plugin: String,
    /// The hook's name (`autojoin`, `seat-billing`, `usage-pricing`).
    pub hook: String,
    /// What went wrong.
    pub kind: FailureKind,
    /// The details: the trap, the broken rule, the limit reached.
    pub message: String,
    /// The lines the plugin logged before it failed.
    pub logs: Vec<LogLine>,
}

impl PluginError {
    /// A failure of `plugin` in `hook`, with no log lines yet.
    pub(crate) fn new(
        plugin: &str,
        hook: &str,
        kind: FailureKind,
        message: impl Into<String>,
    ) -> Self {
        PluginError {
            plugin: plugin.to_string(),
            hook: hook.to_string(),
            kind,
            message: message.into(),
            logs: Vec::new(),
        }
    }
}
