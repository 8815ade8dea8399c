//! `warden plugin build`: a plugin crate → its component. Cargo builds the
//! crate for wasm32 with the toolchain found ([`Toolchain::detect`]), then
//! the core module is componentized here and written where `plugin.toml`'s
//! `component` says (or `--out`).
//!
//! Builds are reproducible: the crate's sources are recorded as
//! `/plugins/NAME/…` (or as `--remap-path-prefix` says), cargo's home as
//! `/cargo` and Debian's std sources as `/rustc/src`, so the same toolchain
//! gives the same bytes in any directory. `plugins/build.sh` relies on it
//! for `--check`. The remapping is of the crate's parent directory, not of
//! the crate itself: rustc flags are part of what cargo caches std and
//! dependencies under, so sibling plugins sharing a `CARGO_TARGET_DIR`
//! build std once.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;

use super::componentize;
use super::toolchain::{Toolchain, TARGET};
use crate::plugin::manifest::{Manifest, MANIFEST_FILE};

/// Where the directory holding a plugin crate is recorded unless told
/// otherwise.
pub const DEFAULT_SOURCE_PREFIX: &str = "/plugins";

/// How to build.
#[derive(Debug, Default)]
pub struct BuildOptions {
    /// Write the component here instead of where `plugin.toml` says.
    pub out: Option<PathBuf>,
    /// `FROM=TO`: record source paths under FROM as TO, instead of the
    /// crate's parent directory as [`DEFAULT_SOURCE_PREFIX`].
    pub remap_path_prefix: Option<String>,
    /// Refuse to update Cargo.lock (`cargo --locked`).
    pub locked: bool,
    /// Keep cargo quiet (`cargo --quiet`).
    pub quiet: bool,
}

/// What a build wrote.
#[derive(Debug)]
pub struct Built {
    /// The plugin's manifest.
    pub manifest: Manifest,
    /// The component file written.
    pub component: PathBuf,
    /// Its size.
    pub bytes: usize,
    /// The toolchain that built it, for people.
    pub toolchain: String,
    /// How long the whole build took.
    pub elapsed: Duration,
}

/// Builds the plugin crate in `dir` into its component.
pub fn build(dir: &Path, options: &BuildOptions) -> anyhow::Result<Built> {
    let started = Instant::now();
    // Absolute but not canonical: a build through a symbolic link (as
    // plugins/build.sh does, for reproducibility) must stay on it.
    let dir = std::path::absolute(dir)
        .with_context(|| format!("{}: not a usable path", dir.display()))?;
    let manifest = read_manifest(&dir)?;
    let library = library_name(&dir)?;
    let toolchain = Toolchain::detect()?;
    eprintln!(
        "warden plugin build: {} with {}",
        dir.display(),
        toolchain.description
    );
    let core_path = cargo_build(&dir, &library, &toolchain, options)?;
    let core = std::fs::read(&core_path)
        .with_context(|| format!("cannot read {}", core_path.display()))?;
    let component = componentize(&core).with_context(|| core_path.display().to_string())?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| manifest.component_path(&dir));
    std::fs::write(&out, &component).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Built {
        manifest,
        component: out,
        bytes: component.len(),
        toolchain: toolchain.description,
        elapsed: started.elapsed(),
    })
}

/// `dir`'s validated `plugin.toml`, whose name must be the directory's.
fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a plugin crate? `warden plugin new` makes one)",
            path.display(),
            dir.display()
        )
    })?;
    let dir_name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    Manifest::parse(&text, dir_name).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The parts of Cargo.toml that name the library cargo builds.
#[derive(Deserialize)]
struct CargoToml {
    package: Option<Package>,
    lib: Option<Library>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
}

#[derive(Deserialize)]
struct Library {
    name: Option<String>,
}

/// The crate's library target name, which names its `.wasm`: `[lib] name`,
/// else `[package] name` with hyphens as underscores (so a copied crate
/// builds whatever its package is called).
fn library_name(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let cargo: CargoToml =
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    let package = cargo
        .package
        .with_context(|| format!("{} has no [package]", path.display()))?;
    let name = cargo.lib.and_then(|lib| lib.name).unwrap_or(package.name);
    Ok(name.replace('-', "_"))
}

/// The rustc flags of a guest build: where source paths are recorded.
/// The order matters (rustc applies the last matching prefix) and is the
/// one the committed default plugins were built with.
fn rustflags(dir: &Path, toolchain: &Toolchain, options: &BuildOptions) -> Vec<String> {
    let source = options.remap_path_prefix.clone().unwrap_or_else(|| {
        let parent = dir.parent().unwrap_or(dir);
        format!("{}={DEFAULT_SOURCE_PREFIX}", parent.display())
    });
    let cargo_home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    [source, format!("{cargo_home}=/cargo")]
        .into_iter()
        .chain(toolchain.remaps.iter().cloned())
        .map(|remap| format!("--remap-path-prefix={remap}"))
        .collect()
}

/// Runs `cargo build` for wasm32 in `dir` and returns the path of the
/// library's core module, as cargo reports it.
fn cargo_build(
    dir: &Path,
    library: &str,
    toolchain: &Toolchain,
    options: &BuildOptions,
) -> anyhow::Result<PathBuf> {
    let mut cargo = Command::new(&toolchain.cargo);
    cargo
        .current_dir(dir)
        .args(["build", "--release", "--target", TARGET])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        // Artifacts as JSON on stdout; errors still rendered on stderr.
        .arg("--message-format=json-render-diagnostics")
        .args(options.locked.then_some("--locked"))
        .args(options.quiet.then_some("--quiet"))
        .args(&toolchain.build_args)
        .envs(toolchain.env.iter().map(|(k, v)| (k, v)))
        // 0x1f-separated, so paths may hold spaces; it wins over RUSTFLAGS,
        // which is removed all the same so nothing else leaks in.
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            rustflags(dir, toolchain, options).join("\x1f"),
        )
        .env_remove("RUSTFLAGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cargo
        .spawn()
        .with_context(|| format!("cannot run {}", toolchain.cargo.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut core = None;
    for line in std::io::BufReader::new(stdout).lines() {
        core = core.or(core_module(&line?, library));
    }
    let status = child.wait()?;
    anyhow::ensure!(
        status.success(),
        "cargo build failed in {} ({status}; its errors are above)",
        dir.display()
    );
    core.with_context(|| {
        format!(
            "cargo built no {library}.wasm in {}: its Cargo.toml needs [lib] crate-type = [\"cdylib\"]",
            dir.display()
        )
    })
}

/// One of cargo's JSON messages.
#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    #[serde(default)]
    target: Option<CargoTarget>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
}

/// The `.wasm` file of `library` if `line` is cargo's message of building it.
fn core_module(line: &str, library: &str) -> Option<PathBuf> {
    let message: CargoMessage = serde_json::from_str(line).ok()?;
    if message.reason != "compiler-artifact" || message.target?.name != library {
        return None;
    }
    message
        .filenames
        .into_iter()
        .find(|file| file.extension().is_some_and(|ext| ext == "wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_dir(cargo_toml: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), cargo_toml).unwrap();
        dir
    }

    #[test]
    fn the_library_is_named_by_the_package_unless_lib_names_it() {
        let dir = crate_dir("[package]\nname = \"my-plugin\"\nversion = \"0.1.0\"\n");
        assert_eq!(library_name(dir.path()).unwrap(), "my_plugin");
        let dir = crate_dir(
            "[package]\nname = \"my-plugin\"\nversion = \"0.1.0\"\n[lib]\nname = \"other-name\"\n",
        );
        assert_eq!(library_name(dir.path()).unwrap(), "other_name");
        let dir = crate_dir("[workspace]\n");
        let error = library_name(dir.path()).unwrap_err();
        assert!(error.to_string().contains("no [package]"), "{error}");
    }

    #[test]
    fn the_core_module_is_the_librarys_wasm_artifact() {
        let artifact = r#"{"reason":"compiler-artifact","target":{"name":"my_plugin","kind":["cdylib"]},"filenames":["/t/wasm32-unknown-unknown/release/my_plugin.wasm"]}"#;
        assert_eq!(
            core_module(artifact, "my_plugin"),
            Some(PathBuf::from(
                "/t/wasm32-unknown-unknown/release/my_plugin.wasm"
            ))
        );
        assert_eq!(core_module(artifact, "other"), None);
        let rlib = r#"{"reason":"compiler-artifact","target":{"name":"my_plugin"},"filenames":["/t/libmy_plugin.rlib"]}"#;
        assert_eq!(core_module(rlib, "my_plugin"), None);
        assert_eq!(
            core_module(r#"{"reason":"build-finished","success":true}"#, "my_plugin"),
            None
        );
        assert_eq!(core_module("not json", "my_plugin"), None);
    }

    #[test]
    fn source_paths_are_remapped_before_the_toolchains_own() {
        let toolchain = Toolchain {
            description: String::new(),
            cargo: PathBuf::new(),
            env: Vec::new(),
            build_args: Vec::new(),
            remaps: vec!["/src=/rustc/src".into()],
        };
        let flags = rustflags(Path::new("/home/p"), &toolchain, &BuildOptions::default());
        assert_eq!(flags[0], "--remap-path-prefix=/home=/plugins");
        assert!(flags[1].ends_with("=/cargo"), "{flags:?}");
        assert_eq!(flags[2], "--remap-path-prefix=/src=/rustc/src");
        let options = BuildOptions {
            remap_path_prefix: Some("/repo=/warden".into()),
            ..BuildOptions::default()
        };
        let flags = rustflags(Path::new("/repo/p"), &toolchain, &options);
        assert_eq!(flags[0], "--remap-path-prefix=/repo=/warden");
    }
}
