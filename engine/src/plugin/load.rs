//! Finding plugins in a directory and loading one: manifest, component
//! bytes and sha256, compilation (through the artifact cache), the ABI
//! check and linking.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::abi::{self};
use super::cache::{self, ArtifactCache};
use super::hook::Hook;
use super::manifest::{Manifest, MANIFEST_FILE, MAX_MANIFEST_BYTES};
use super::runtime::{LoadedPlugin, Runtime};

/// The most plugins one directory may hold.
pub const MAX_PLUGINS: usize = 64;
/// The largest component file accepted.
pub const MAX_COMPONENT_BYTES: u64 = 16 * 1024 * 1024;

/// Where one plugin's manifest lives: `<dir>/<name>/plugin.toml`, or a
/// stand-alone `<dir>/<name>.toml` whose component path is relative to
/// `<dir>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The name the location implies; the manifest must carry the same.
    pub name: String,
    pub manifest: PathBuf,
    /// The directory it was found in: every file it reads must resolve
    /// (symbolic links followed) to a regular file inside it.
    pub root: PathBuf,
}

impl Source {
    /// The source at `path` (a plugin directory or a manifest file), if it
    /// is one: directories without a `plugin.toml` (the SDK, WIT files,
    /// build output) are not plugins.
    pub fn at(path: &Path) -> Option<Source> {
        let file_name = path.file_name()?.to_str()?;
        if file_name.starts_with('.') {
            return None;
        }
        if path.is_dir() {
            let manifest = path.join(MANIFEST_FILE);
            return manifest.is_file().then(|| Source {
                name: file_name.to_string(),
                manifest,
                root: root_of(path),
            });
        }
        let stem = file_name.strip_suffix(".toml")?;
        path.is_file().then(|| Source {
            name: stem.to_string(),
            manifest: path.to_path_buf(),
            root: root_of(path),
        })
    }

    /// The directory component paths are relative to.
    fn base(&self) -> &Path {
        self.manifest.parent().unwrap_or(Path::new("."))
    }
}

/// Every plugin source directly inside `dir`, sorted by name.
pub fn scan(dir: &Path) -> Result<Vec<Source>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
    let mut sources = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        if let Some(source) = Source::at(&entry.path()) {
            if sources.len() == MAX_PLUGINS {
                return Err(format!(
                    "{}: more than {MAX_PLUGINS} plugins",
                    dir.display()
                ));
            }
            sources.push(source);
        }
    }
    sources.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.manifest.cmp(&b.manifest))
    });
    Ok(sources)
}

/// A plugin's files as read from disk, before compilation.
pub struct Files {
    pub manifest: Manifest,
    wasm: Vec<u8>,
    /// sha256 of the component.
    pub sha256: String,
    /// sha256 over the manifest text and the component: equal fingerprints
    /// mean an already loaded version can be kept as is.
    pub fingerprint: String,
}

/// Reads and validates the manifest and reads the component.
pub fn read(source: &Source) -> Result<Files, String> {
    let (manifest, text) = read_manifest(source)?;
    let wasm = read_bounded(
        &manifest.component_path(source.base()),
        &source.root,
        MAX_COMPONENT_BYTES,
    )?;
    let sha256 = hex::encode(Sha256::digest(&wasm));
    let fingerprint = hex::encode(Sha256::digest(format!(
        "{}\n{sha256}",
        hex::encode(Sha256::digest(&text))
    )));
    Ok(Files {
        manifest,
        wasm,
        sha256,
        fingerprint,
    })
}

/// The hooks `source`'s manifest declares, if it reads and is valid.
pub fn declared_hooks(source: &Source) -> Option<Vec<Hook>> {
    read_manifest(source)
        .ok()
        .map(|(manifest, _)| manifest.hooks)
}

/// The validated manifest and its text.
fn read_manifest(source: &Source) -> Result<(Manifest, String), String> {
    let manifest_name = source.manifest.display().to_string();
    let text = read_bounded(&source.manifest, &source.root, MAX_MANIFEST_BYTES)?;
    let text = String::from_utf8(text).map_err(|_| format!("{manifest_name}: not UTF-8 text"))?;
    let manifest =
        Manifest::parse(&text, &source.name).map_err(|e| format!("{manifest_name}: {e}"))?;
    Ok((manifest, text))
}

/// The directory a plugin found at `path` is confined to: the one holding
/// it (canonical, so that links are judged by where they lead).
fn root_of(path: &Path) -> PathBuf {
    let parent = path.parent().unwrap_or(Path::new("."));
    parent
        .canonicalize()
        .unwrap_or_else(|_| parent.to_path_buf())
}

/// Reads the regular file `path`, at most `max` bytes, if it resolves to a
/// place inside `root`. A FIFO, a device (a link to `/dev/zero`, say) or a
/// link out of the plugin directory is refused before a byte is read: the
/// file is opened without blocking and checked through its own handle.
fn read_bounded(path: &Path, root: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let name = path.display();
    let resolved = path
        .canonicalize()
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    if !resolved.starts_with(root) {
        return Err(format!(
            "{name}: resolves to {}, outside the plugin directory {}",
            resolved.display(),
            root.display()
        ));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options
        .open(&resolved)
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("{name}: not a regular file"));
    }
    if metadata.len() > max {
        return Err(format!(
            "{name}: {} bytes is over the limit of {max}",
            metadata.len()
        ));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: cannot read: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{name}: grew over the limit of {max} bytes while read"
        ));
    }
    Ok(bytes)
}

/// Compiles (or loads the cached artifact of) the component, checks its
/// exports against the manifest and links it.
pub fn build(
    runtime: &Runtime,
    cache: Option<&ArtifactCache>,
    files: Files,
) -> Result<LoadedPlugin, String> {
    let component_name = files.manifest.component.display().to_string();
    let component = match cache {
        Some(cache) => cache.component(runtime.engine(), &files.wasm, &files.sha256),
        None => cache::compile(runtime.engine(), &files.wasm),
    }
    .map_err(|e| format!("{component_name}: {e}"))?;
    let hooks = &files.manifest.hooks;
    abi::check_exports(runtime.engine(), &component, hooks)
        .map_err(|e| format!("{component_name}: {e}"))?;
    let pre = runtime
        .link(&component)
        .map_err(|e| format!("{component_name}: {e}"))?;
    let prepared = abi::prepare(pre, hooks).map_err(|e| {
        format!(
            "{component_name}: does not match the {} ABI: {e:#}",
            abi::ABI_VERSION
        )
    })?;
    Ok(LoadedPlugin {
        config: files.manifest.config_json(),
        config_text: files.manifest.config_json().to_string(),
        manifest: files.manifest,
        sha256: files.sha256,
        fingerprint: files.fingerprint,
        prepared,
        loaded_at: OffsetDateTime::now_utc(),
    })
}

/// Reads and builds the plugin at `source` (for `warden plugin test`).
pub fn load(
    runtime: &Runtime,
    cache: Option<&ArtifactCache>,
    source: &Source,
) -> Result<LoadedPlugin, String> {
    build(runtime, cache, read(source)?)
}
