//! Precompiled components on disk, so a restart does not recompile every
//! plugin. `Component::deserialize` trusts its input (it is native code), so
//! only artifacts this server wrote are loaded: each sits in the server's own
//! data directory next to the sha256 of its bytes, and both are checked
//! before use; a bad or stale entry is recompiled and overwritten.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The cache's directory inside the data directory.
pub const CACHE_DIR: &str = "plugin-cache";

/// Where precompiled artifacts of one engine configuration live.
pub struct ArtifactCache {
    dir: PathBuf,
    /// Identifies the wasmtime version and engine settings: an artifact is
    /// only valid for the engine that made it.
    engine_key: String,
}

impl ArtifactCache {
    /// The cache under `data_dir`, created (mode 0700) if missing.
    pub fn open(data_dir: &Path, engine: &Engine) -> std::io::Result<ArtifactCache> {
        let dir = data_dir.join(CACHE_DIR);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    /// The component for `wasm` (whose sha256 is `sha256`): from the cache
    /// when a verified artifact exists, else compiled and stored.
    pub fn component(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> Result<Component, String> {
        let artifact = self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key));
        let checksum = artifact.with_extension("cwasm.sha256");
        if let Some(component) = load(engine, &artifact, &checksum) {
            return Ok(component);
        }
        let component = compile(engine, wasm)?;
        if let Err(e) = store(&component, &artifact, &checksum) {
            tracing::warn!(path = %artifact.display(), "cannot cache the compiled plugin: {e}");
        }
        Ok(component)
    }
}

/// The first bytes of every WebAssembly binary, and the version/layer word
/// that follows them in a component (a core module has `01 00 00 00`).
const WASM_MAGIC: &[u8] = b"\0asm";
const COMPONENT_VERSION: &[u8] = &[0x0d, 0x00, 0x01, 0x00];

/// Compiles a component from its binary (text formats are not accepted).
pub fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, String> {
    const INVALID: &str = "not a valid WebAssembly component";
    if !wasm.starts_with(WASM_MAGIC) {
        return Err(format!("{INVALID}: no \\0asm header"));
    }
    if wasm.get(4..8) != Some(COMPONENT_VERSION) {
        return Err(format!(
            "{INVALID}: this is a core module; build it with `warden plugin build`, which makes the component (see plugins/README.md)"
        ));
    }
    Component::from_binary(engine, wasm).map_err(|e| {
        // wasmparser's messages span lines; status and logs want one.
        let message = format!("{e:#}")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        format!("{INVALID}: {message}")
    })
}

fn load(engine: &Engine, artifact: &Path, checksum: &Path) -> Option<Component> {
    let bytes = std::fs::read(artifact).ok()?;
    let expected = std::fs::read_to_string(checksum).ok()?;
    if hex::encode(Sha256::digest(&bytes)) != expected.trim() {
        tracing::warn!(path = %artifact.display(), "cached plugin artifact does not match its checksum; recompiling");
        return None;
    }
    // SAFETY: the bytes are the ones this server serialised into its own
    // data directory (checksum verified above), for an engine with the same
    // compatibility hash; wasmtime re-checks the version and settings too.
    match unsafe { Component::deserialize(engine, &bytes) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %artifact.display(), "cached plugin artifact unusable ({e:#}); recompiling");
            None
        }
    }
}

/// Writes the artifact and its checksum, each to a temporary file renamed
/// into place, so a crash never leaves a torn artifact under the final name.
fn store(component: &Component, artifact: &Path, checksum: &Path) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    write_atomic(artifact, &bytes)?;
    write_atomic(checksum, hex::encode(Sha256::digest(&bytes)).as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A unique temporary name: two loads of the same plugin may race.
    let temp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}
