//! `warden plugin new`: a standalone plugin crate, anywhere. It carries
//! its own copy of the SDK and the WIT files (embedded in this binary), so
//! it needs neither this repository nor a registry for the SDK, and its own
//! `[workspace]`, so no enclosing workspace captures it.
//!
//! ```text
//! NAME/
//!   Cargo.toml     the cdylib crate, its own workspace
//!   Cargo.lock     the SDK's pinned dependency versions
//!   plugin.toml    name, component = "NAME.wasm", hooks = [HOOK], limits
//!   src/lib.rs     the hook with a small working example rule
//!   input.json     a sample input, for `warden plugin test`
//!   sdk/           warden-plugin-sdk (a member of the crate's workspace)
//!   wit/           the ABI, warden.wit, which the SDK binds
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::plugin::manifest::{self, MANIFEST_FILE};
use crate::plugin::Hook;

/// The SDK's package name: a plugin may not take it.
const SDK_PACKAGE: &str = "warden-plugin-sdk";

/// The SDK and the ABI, as in `plugins/` of the repository.
const SDK_CARGO_TOML: &str = include_str!("../../../../plugins/sdk/Cargo.toml");
const SDK_CARGO_LOCK: &str = include_str!("../../../../plugins/sdk/Cargo.lock");
const SDK_LIB_RS: &str = include_str!("../../../../plugins/sdk/src/lib.rs");
const SDK_ARENA_RS: &str = include_str!("../../../../plugins/sdk/src/arena.rs");
const WIT: &str = include_str!("../../../../plugins/wit/warden.wit");

/// The new crate's own files, with `{{name}}` and `{{hook}}` to fill in.
const CARGO_TOML: &str = include_str!("template/Cargo.toml.in");
const PLUGIN_TOML: &str = include_str!("template/plugin.toml.in");
const GITIGNORE: &str = include_str!("template/gitignore.in");

/// Words a crate may not be named (Rust keywords, the standard crates).
#[rustfmt::skip]
const RESERVED_NAMES: &[&str] = &[
    "abstract", "alloc", "as", "async", "await", "become", "box", "break", "const", "continue",
    "core", "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen",
    "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv",
    "proc_macro", "pub", "ref", "return", "self", "static", "std", "struct", "super", "test",
    "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where",
    "while", "yield",
];

/// A plugin crate to create.
#[derive(Debug)]
pub struct NewPlugin<'a> {
    /// Its name: the plugin's, its directory's and its package's.
    pub name: &'a str,
    /// The hook its example implements.
    pub hook: Hook,
    /// The directory to create it in (as `<parent>/<name>`).
    pub parent: &'a Path,
}

/// Writes the plugin crate `plugin` describes; returns its directory.
pub fn new_plugin(plugin: &NewPlugin) -> anyhow::Result<PathBuf> {
    check_name(plugin.name)?;
    let dir = plugin.parent.join(plugin.name);
    check_empty(&dir)?;
    for (path, text) in files(plugin.name, plugin.hook) {
        let path = dir.join(path);
        let parent = path.parent().expect("files live in directories");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir)
}

/// Every file of the crate (path relative to its directory, text).
fn files(name: &str, hook: Hook) -> Vec<(&'static str, String)> {
    let (lib_rs, input) = hook_example(hook);
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{hook}}", hook.name())
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("Cargo.lock", SDK_CARGO_LOCK.to_string()),
        (MANIFEST_FILE, fill(PLUGIN_TOML)),
        ("src/lib.rs", fill(lib_rs)),
        ("input.json", input.to_string()),
        (".gitignore", GITIGNORE.to_string()),
        ("sdk/Cargo.toml", sdk_member_manifest()),
        ("sdk/src/lib.rs", SDK_LIB_RS.to_string()),
        ("sdk/src/arena.rs", SDK_ARENA_RS.to_string()),
        ("wit/warden.wit", WIT.to_string()),
    ]
}

/// The example `src/lib.rs` and sample input of `hook`.
fn hook_example(hook: Hook) -> (&'static str, &'static str) {
    match hook {
        Hook::Autojoin => (
            include_str!("template/autojoin.rs"),
            include_str!("template/autojoin.json"),
        ),
        Hook::SeatBilling => (
            include_str!("template/seat_billing.rs"),
            include_str!("template/seat_billing.json"),
        ),
        Hook::UsagePricing => (
            include_str!("template/usage_pricing.rs"),
            include_str!("template/usage_pricing.json"),
        ),
    }
}

/// The SDK's Cargo.toml without its `[workspace]` table: in the repository
/// the SDK is a workspace of its own, in a plugin crate it is a member of
/// the plugin's (cargo refuses a member that claims its own workspace).
fn sdk_member_manifest() -> String {
    SDK_CARGO_TOML
        .lines()
        .filter(|line| line.trim() != "[workspace]")
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A name that is a plugin name (lower-case letters, digits, hyphens) and a
/// crate and directory name too.
fn check_name(name: &str) -> anyhow::Result<()> {
    manifest::check_name("plugin name", name).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        name.starts_with(|c: char| c.is_ascii_lowercase()),
        "plugin name {name:?} must start with a letter (it is also the crate's name)"
    );
    anyhow::ensure!(
        name != SDK_PACKAGE && !RESERVED_NAMES.contains(&name.replace('-', "_").as_str()),
        "plugin name {name:?} is reserved (a Rust keyword, a standard crate or the SDK): choose another"
    );
    Ok(())
}

/// Refuses to write into a directory that holds anything (or a file).
fn check_empty(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("{} exists and is not a directory", dir.display()))?;
    anyhow::ensure!(
        entries.next().is_none(),
        "{} already exists and is not empty: choose another name, or another --dir",
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::manifest::{Limits, Manifest};

    #[test]
    fn a_new_plugin_has_a_valid_manifest_with_the_default_limits() {
        for hook in Hook::ALL {
            let files = files("my-plugin", hook);
            let (_, text) = files
                .iter()
                .find(|(path, _)| *path == MANIFEST_FILE)
                .unwrap();
            let manifest = Manifest::parse(text, "my-plugin").unwrap();
            assert_eq!(manifest.hooks, [hook]);
            assert_eq!(manifest.component, Path::new("my-plugin.wasm"));
            let (ours, default) = (manifest.limits, Limits::default());
            assert_eq!(
                (
                    ours.fuel,
                    ours.memory_bytes,
                    ours.timeout_ms,
                    ours.max_output_bytes
                ),
                (
                    default.fuel,
                    default.memory_bytes,
                    default.timeout_ms,
                    default.max_output_bytes
                )
            );
        }
    }

    #[test]
    fn each_hooks_sample_input_is_that_hooks_input() {
        use crate::plugin::types::{FlowRun, SeatEvent, Signup};
        let parse = |hook| serde_json::from_str::<serde_json::Value>(hook_example(hook).1).unwrap();
        serde_json::from_value::<Signup>(parse(Hook::Autojoin)).unwrap();
        serde_json::from_value::<SeatEvent>(parse(Hook::SeatBilling)).unwrap();
        serde_json::from_value::<FlowRun>(parse(Hook::UsagePricing)).unwrap();
    }

    #[test]
    fn the_sdk_joins_the_plugins_workspace() {
        assert!(SDK_CARGO_TOML.lines().any(|line| line == "[workspace]"));
        let member = sdk_member_manifest();
        assert!(!member.contains("[workspace]"), "{member}");
        assert!(member.contains("name = \"warden-plugin-sdk\""), "{member}");
        assert!(
            SDK_LIB_RS.contains("path: \"../wit\""),
            "the SDK finds the WIT files beside it"
        );
    }

    #[test]
    fn names_must_be_plugin_and_crate_names() {
        for good in ["my-plugin", "a", "acme-autojoin2"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "My-Plugin",
            "my_plugin",
            "2fast",
            "-x",
            "a/b",
            "..",
            "fn",
            "warden-plugin-sdk",
            "std",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_existing_non_empty_directory_is_refused_and_an_empty_one_used() {
        let parent = tempfile::tempdir().unwrap();
        let new = |name| {
            new_plugin(&NewPlugin {
                name,
                hook: Hook::Autojoin,
                parent: parent.path(),
            })
        };
        std::fs::create_dir(parent.path().join("empty")).unwrap();
        let dir = new("empty").unwrap();
        assert!(dir.join("sdk/src/arena.rs").is_file());
        assert!(dir.join("wit/warden.wit").is_file());
        let error = new("empty").unwrap_err();
        assert!(error.to_string().contains("not empty"), "{error}");
        std::fs::write(parent.path().join("file"), "x").unwrap();
        let error = new("file").unwrap_err();
        assert!(error.to_string().contains("not a directory"), "{error}");
    }
}
