//! `plugin.toml`: what a plugin is called, which component to load, which
//! hooks it serves, its resource limits and its free-form config.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hook::Hook;

/// The manifest's file name inside a plugin directory.
pub const MANIFEST_FILE: &str = "plugin.toml";
/// The largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// The longest plugin name or version.
pub const MAX_NAME_BYTES: usize = 64;

// Defaults for a manifest without `[limits]`. The default plugins declare
// the same, except a 10 ms deadline: a plugin that has not measured itself
// gets ten times that, so a slow but correct first version does not fail.
/// The default `limits.fuel`.
pub const DEFAULT_FUEL: u64 = 50_000_000;
/// The default `limits.memory_bytes`.
pub const DEFAULT_MEMORY_BYTES: u64 = 16 * 1024 * 1024;
/// The default `limits.timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 100;
/// The default `limits.max_output_bytes`.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 64 * 1024;

// The most a manifest may ask for. A hook runs inside a request, so even
// the maxima keep one call well under a second and a few dozen MiB.
/// The largest `limits.fuel` a manifest may ask for.
pub const MAX_FUEL: u64 = 1_000_000_000;
/// The largest `limits.memory_bytes` a manifest may ask for.
pub const MAX_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// The largest `limits.timeout_ms` a manifest may ask for.
pub const MAX_TIMEOUT_MS: u64 = 1_000;
/// The largest `limits.max_output_bytes` a manifest may ask for.
pub const MAX_OUTPUT_BYTES: u64 = 1024 * 1024;

/// A parsed, validated manifest.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name: its directory's name, or the manifest's file
    /// stem; at most [`MAX_NAME_BYTES`].
    pub name: String,
    /// Its version, free-form, 1 to [`MAX_NAME_BYTES`] bytes; answers and
    /// the status name it.
    pub version: String,
    /// The component's path, relative to the manifest's directory.
    pub component: PathBuf,
    /// The hooks it serves, at least one, each once.
    pub hooks: Vec<Hook>,
    /// Its per-call limits; the defaults for those left out.
    #[serde(default)]
    pub limits: Limits,
    /// Passed to the plugin as JSON text in every call's `config` field.
    #[serde(default)]
    pub config: toml::Table,
}

/// Per-call resource limits.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wasm fuel per call (roughly one unit per instruction): metering.
    pub fuel: u64,
    /// The most linear memory the instance may grow to.
    pub memory_bytes: u64,
    /// The deadline of one call, in CPU time of the thread running it.
    pub timeout_ms: u64,
    /// Bytes of all strings returned plus all log lines of one call.
    pub max_output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

impl Manifest {
    /// Parses and validates manifest text. `expected_name` is the name the
    /// plugin's location implies (its directory or file stem).
    pub fn parse(text: &str, expected_name: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        manifest.validate(expected_name)?;
        Ok(manifest)
    }

    fn validate(&self, expected_name: &str) -> Result<(), String> {
        check_name("name", &self.name)?;
        if self.name != expected_name {
            return Err(format!(
                "name {:?} must match its location {expected_name:?} (directory name or file stem)",
                self.name
            ));
        }
        if self.version.is_empty() || self.version.len() > MAX_NAME_BYTES {
            return Err(format!("version must be 1 to {MAX_NAME_BYTES} bytes"));
        }
        let inside = self
            .component
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if self.component.as_os_str().is_empty() || !inside {
            return Err(format!(
                "component {:?} must be a relative path inside the plugin's directory",
                self.component
            ));
        }
        if self.hooks.is_empty() {
            return Err("hooks must name at least one hook".to_string());
        }
        for (i, hook) in self.hooks.iter().enumerate() {
            if self.hooks[..i].contains(hook) {
                return Err(format!("hook {hook} is listed twice"));
            }
        }
        self.limits.validate()
    }

    /// The component file, given the directory holding the manifest.
    pub fn component_path(&self, base: &Path) -> PathBuf {
        base.join(&self.component)
    }

    /// The `[config]` table as the JSON text plugins receive.
    pub fn config_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).expect("TOML tables convert to JSON")
    }
}

impl Limits {
    fn validate(&self) -> Result<(), String> {
        let checks = [
            ("fuel", self.fuel, MAX_FUEL),
            ("memory_bytes", self.memory_bytes, MAX_MEMORY_BYTES),
            ("timeout_ms", self.timeout_ms, MAX_TIMEOUT_MS),
            ("max_output_bytes", self.max_output_bytes, MAX_OUTPUT_BYTES),
        ];
        for (field, value, max) in checks {
            if value == 0 || value > max {
                return Err(format!(
                    "limits.{field} = {value} must be between 1 and {max}"
                ));
            }
        }
        Ok(())
    }
}

/// A plugin name: 1 to 64 lower-case letters, digits and hyphens.
pub fn check_name(field: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} {name:?} must be 1 to {MAX_NAME_BYTES} lower-case letters, digits and hyphens"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        name = "p"
        version = "1.0.0"
        component = "p.wasm"
        hooks = ["autojoin"]
    "#;

    #[test]
    fn defaults_apply_and_limits_are_bounded() {
        let m = Manifest::parse(GOOD, "p").unwrap();
        assert_eq!(m.limits.fuel, DEFAULT_FUEL);
        let over = format!("{GOOD}\n[limits]\nmemory_bytes = {}", MAX_MEMORY_BYTES + 1);
        let err = Manifest::parse(&over, "p").unwrap_err();
        assert!(err.contains("limits.memory_bytes"), "{err}");
    }

    #[test]
    fn bad_manifests_say_why() {
        let cases = [
            (GOOD.replace("autojoin", "on-signup"), "unknown variant"),
            (format!("{GOOD}\ncolour = 1"), "unknown field"),
            (
                GOOD.replace("p.wasm", "../p.wasm"),
                "inside the plugin's directory",
            ),
            (
                GOOD.replace("\"autojoin\"", "\"autojoin\", \"autojoin\""),
                "twice",
            ),
            (GOOD.replace("name = \"p\"", "name = \"q\""), "must match"),
        ];
        for (text, expected) in cases {
            let err = Manifest::parse(&text, "p").unwrap_err();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
    }
}
