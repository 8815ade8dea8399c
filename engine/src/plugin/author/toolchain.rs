//! The Rust toolchain that builds guests for `wasm32-unknown-unknown`:
//! rustup's when the target is installed, else Debian's `rustc-web`, which
//! has the target but no prebuilt std for it (std is then built from
//! `rust-web-src` with `-Z build-std`, and linked with `wasm-ld`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guests' target: freestanding wasm32, no WASI (the server refuses
/// components that import it).
pub const TARGET: &str = "wasm32-unknown-unknown";

/// What to install when no toolchain can build guests.
pub const INSTALL_HINT: &str = "\
Install one of:
  - rustup:  rustup target add wasm32-unknown-unknown
  - Debian:  apt-get install -y rustc-web cargo-web rust-web-src lld
             (builds std from source with -Z build-std; needs wasm-ld from lld)";

/// Debian's rustc-web and cargo-web install here.
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";

/// A toolchain that builds guests, and how to invoke its cargo.
#[derive(Debug)]
pub struct Toolchain {
    /// Which one, for people: "rustup /…/rustc" or "debian /usr/bin/rustc".
    pub description: String,
    /// Its cargo.
    pub cargo: PathBuf,
    /// Environment its cargo needs (RUSTC among it).
    pub env: Vec<(String, String)>,
    /// Arguments `cargo build` needs beyond the target.
    pub build_args: Vec<String>,
    /// Source paths of its own that a build records (Debian's std
    /// sources), each with what to record instead: `FROM=TO`.
    pub remaps: Vec<String>,
}

impl Toolchain {
    /// The first toolchain that can build guests: rustup's, then Debian's;
    /// an error saying why neither can, and what to install.
    pub fn detect() -> anyhow::Result<Toolchain> {
        let rustup = match rustup() {
            Ok(toolchain) => return Ok(toolchain),
            Err(why) => why,
        };
        let debian = match debian() {
            Ok(toolchain) => return Ok(toolchain),
            Err(why) => why,
        };
        anyhow::bail!(
            "no Rust toolchain that can build {TARGET} was found:\n  \
             rustup: {rustup}\n  Debian: {debian}\n{INSTALL_HINT}"
        )
    }
}

/// rustup's active toolchain, if it has the target installed.
fn rustup() -> Result<Toolchain, String> {
    let installed = output("rustup", ["target", "list", "--installed"])?;
    if !installed.lines().any(|line| line.trim() == TARGET) {
        return Err(format!(
            "the target is not installed (rustup target add {TARGET})"
        ));
    }
    let rustc = output("rustup", ["which", "rustc"])?;
    let cargo = output("rustup", ["which", "cargo"])?;
    Ok(Toolchain {
        description: format!("rustup {rustc}"),
        cargo: cargo.into(),
        env: vec![("RUSTC".into(), rustc)],
        build_args: Vec::new(),
        remaps: Vec::new(),
    })
}

/// Debian's rustc-web, if it and everything it needs for the target is there.
fn debian() -> Result<Toolchain, String> {
    for tool in [DEBIAN_RUSTC, DEBIAN_CARGO] {
        if !Path::new(tool).is_file() {
            return Err(format!("no {tool} (rustc-web, cargo-web)"));
        }
    }
    let targets = output(DEBIAN_RUSTC, ["--print", "target-list"])?;
    if !targets.lines().any(|line| line.trim() == TARGET) {
        return Err(format!("{DEBIAN_RUSTC} has no {TARGET} target (rustc-web)"));
    }
    let sysroot = output(DEBIAN_RUSTC, ["--print", "sysroot"])?;
    let std_sources = Path::new(&sysroot).join("lib/rustlib/src/rust");
    if !std_sources.join("library/std").is_dir() {
        return Err(format!(
            "no std sources in {} (rust-web-src)",
            std_sources.display()
        ));
    }
    if find_in_path("wasm-ld").is_none() {
        return Err("no wasm-ld on the PATH (lld)".into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = format!("/usr/bin:{}", path.to_string_lossy());
    Ok(Toolchain {
        description: format!("debian {DEBIAN_RUSTC}"),
        cargo: DEBIAN_CARGO.into(),
        env: [
            ("PATH", path.as_str()),
            ("RUSTC", DEBIAN_RUSTC),
            // -Z build-std is unstable; this rustc is a stable release.
            ("RUSTC_BOOTSTRAP", "1"),
            ("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld"),
        ]
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .into(),
        build_args: vec!["-Z".into(), "build-std=std,panic_abort".into()],
        remaps: vec![format!("{}=/rustc/src", std_sources.display())],
    })
}

/// A command's trimmed standard output, or why it did not give one.
fn output(
    program: impl AsRef<OsStr>,
    args: impl IntoIterator<Item = &'static str>,
) -> Result<String, String> {
    let program = program.as_ref();
    let name = program.to_string_lossy().into_owned();
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `program`'s path, if it is on the PATH.
fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
