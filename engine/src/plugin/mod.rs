//! WebAssembly plugins: hooks where an operator's component decides
//! (auto-join on signup, seat charges, usage pricing) inside a sandbox, and
//! the host checks every answer.
//!
//! A call goes: validate the input (4xx if bad) → host prechecks (inputs no
//! plugin may decide, e.g. free-mail signups) → the route of the hook in the
//! current snapshot (a plugin, the built-in rule, or fail closed) → a fresh
//! sandboxed instance (`runtime`) → output size, conversion and host
//! guards ([`guards`]) → a [`PluginAnswer`] recording who answered what, for
//! the audit log and replay.
//!
//! Architecture invariants: a plugin never writes and imports nothing but
//! `host.log`; every call gets a fresh instance; no answer reaches a caller
//! without passing the guards; every limit is a named constant or a
//! manifest limit bounded by one.

mod abi;
mod answer;
pub mod author;
mod cache;
mod defaults;
mod epoch;
pub mod guards;
mod hook;
mod hooks;
mod load;
pub mod manifest;
mod registry;
pub mod replay;
mod runtime;
mod sandbox;
pub mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde_json::Value;

pub use abi::ABI_VERSION;
pub use answer::{FailureKind, Level, LogLine, PluginAnswer, PluginError, BUILTIN, HOST_GUARD};
pub use cache::CACHE_DIR;
pub use hook::Hook;
pub(crate) use registry::Problem;
pub use registry::{
    parse_pins, HookInfo, HookPins, Pin, PinSource, PluginInfo, PluginState, PluginStatus,
};
pub use runtime::MAX_CONCURRENT_INSTANCES;
pub use sandbox::{EPOCH_TICK, MAX_LOG_LINES, MAX_LOG_LINE_BYTES};

use cache::ArtifactCache;
use hooks::{Autojoin, HookSpec, SeatBilling, UsagePricing};
use load::Source;
use registry::{Route, Snapshot, Stats};
use runtime::LoadedPlugin;
use runtime::Runtime;
use types::{Charge, FlowRun, JoinDecision, Price, SeatEvent, Signup};

use crate::error::{Error, Result};

/// How long the watcher waits for more events before it reloads, so that
/// copying a plugin directory in gives one reload, not one per file.
const WATCH_DEBOUNCE: Duration = Duration::from_millis(200);

/// The plugins a server serves, and the typed hook calls commands use.
pub struct PluginHost {
    runtime: Runtime,
    /// `None`: no plugin directory; every hook is built in.
    dir: Option<PathBuf>,
    cache: Option<ArtifactCache>,
    pins: PinSource,
    active: ArcSwap<Snapshot>,
    /// Serialises reloads.
    reload_lock: Mutex<()>,
    stats: Mutex<BTreeMap<String, Arc<Stats>>>,
    observer: RwLock<Option<Arc<dyn CallObserver>>>,
}

/// Told of every plugin call as it ends, so that a front end counts and
/// times calls in its own terms (the host names no metrics crate).
pub trait CallObserver: Send + Sync {
    /// `plugin`'s call of `hook` took `took`; `failure` says how it failed.
    fn call_ended(&self, plugin: &str, hook: Hook, took: Duration, failure: Option<FailureKind>);
}

/// Why a reload was not clean: every problem, not just the first. Plugins
/// that failed keep their previous version serving.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", self.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ReloadRejected {
    pub(crate) problems: Vec<Problem>,
}

impl From<ReloadRejected> for Error {
    fn from(e: ReloadRejected) -> Self {
        Error::Rejected {
            code: "plugins_rejected",
            message: format!("plugin reload had problems:\n{e}"),
            problems: e.problems.iter().map(|p| serde_json::json!(p)).collect(),
        }
    }
}

impl PluginHost {
    /// Loads the plugins of `dir`, caching compiled components under
    /// `data_dir`. Plugins that fail to load are reported in the status, not
    /// fatal: the server starts and serves the hooks it can.
    /// `pins` gives the current `[plugin_hooks]`; it is read at every reload.
    pub fn open(dir: &Path, data_dir: &Path, pins: PinSource) -> anyhow::Result<PluginHost> {
        let runtime = Runtime::new()?;
        let cache = ArtifactCache::open(data_dir, runtime.engine()).map_err(|e| {
            anyhow::anyhow!("cannot create {}: {e}", data_dir.join(CACHE_DIR).display())
        })?;
        let host = PluginHost::new(runtime, Some(dir.to_path_buf()), Some(cache), pins);
        if let Err(rejected) = host.reload() {
            tracing::warn!("some plugins did not load:\n{rejected}");
        }
        Ok(host)
    }

    /// A host without a plugin directory: every hook uses its built-in rule.
    pub fn builtin() -> anyhow::Result<PluginHost> {
        Ok(PluginHost::new(
            Runtime::new()?,
            None,
            None,
            Box::new(|| Ok(HookPins::new())),
        ))
    }

    fn new(
        runtime: Runtime,
        dir: Option<PathBuf>,
        cache: Option<ArtifactCache>,
        pins: PinSource,
    ) -> PluginHost {
        PluginHost {
            runtime,
            dir,
            cache,
            active: ArcSwap::from_pointee(registry::empty()),
            pins,
            reload_lock: Mutex::new(()),
            stats: Mutex::new(BTreeMap::new()),
            observer: RwLock::new(None),
        }
    }

    /// Tells `observer` of every plugin call from now on, in place of the
    /// one told before.
    pub fn observe(&self, observer: Arc<dyn CallObserver>) {
        *self.observer.write().unwrap_or_else(|e| e.into_inner()) = Some(observer);
    }

    fn call_ended(&self, plugin: &str, hook: Hook, took: Duration, failure: Option<FailureKind>) {
        let observer = self.observer.read().unwrap_or_else(|e| e.into_inner());
        if let Some(observer) = observer.as_ref() {
            observer.call_ended(plugin, hook, took, failure);
        }
    }

    /// Re-reads the directory and swaps in the new snapshot. Unchanged
    /// plugins are kept as they are; a plugin that fails to load keeps its
    /// previous version serving and is reported.
    pub fn reload(&self) -> Result<PluginStatus, ReloadRejected> {
        let _serial = self.reload_lock.lock().expect("reload lock poisoned");
        let Some(dir) = &self.dir else {
            return Ok(self.status());
        };
        let previous = self.active.load_full();
        let build = |files| load::build(&self.runtime, self.cache.as_ref(), files);
        let next = registry::rebuild(dir, &previous, (self.pins)(), build, &self.stats);
        let problems = next.problems();
        self.active.store(Arc::new(next));
        if problems.is_empty() {
            tracing::info!(dir = %dir.display(), "plugins loaded");
            Ok(self.status())
        } else {
            let rejected = ReloadRejected { problems };
            tracing::error!(dir = %dir.display(), "plugin reload had problems:\n{rejected}");
            Err(rejected)
        }
    }

    /// What `GET /v1/plugins` shows: each plugin and who serves each hook.
    pub fn status(&self) -> PluginStatus {
        self.active.load().status(self.dir.as_deref())
    }

    /// Reloads whenever a file under the directory changes. The returned
    /// watcher must be kept alive for as long as reloading should happen.
    pub fn watch(self: &Arc<Self>) -> notify::Result<notify::RecommendedWatcher> {
        use notify::Watcher;
        let Some(dir) = self.dir.clone() else {
            return Err(notify::Error::generic("no plugin directory"));
        };
        let (events, changes) = std::sync::mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| {
                    !e.kind.is_access() && !e.paths.iter().all(|p| is_build_output(p))
                }) {
                    let _ = events.send(());
                }
            })?;
        // Recursive: a plugin's files live in its own subdirectory.
        watcher.watch(&dir, notify::RecursiveMode::Recursive)?;
        let host = Arc::clone(self);
        std::thread::Builder::new()
            .name("plugin-watch".into())
            .spawn(move || {
                while changes.recv().is_ok() {
                    while changes.recv_timeout(WATCH_DEBOUNCE).is_ok() {}
                    let _ = host.reload();
                }
            })
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(watcher)
    }

    /// Decides whether a signing-up user auto-joins one of the candidates.
    pub fn autojoin(&self, signup: &Signup) -> Result<PluginAnswer<JoinDecision>> {
        self.call::<Autojoin>(signup)
    }

    /// Prices a new member's seat.
    pub fn seat_charge(&self, event: &SeatEvent) -> Result<PluginAnswer<Charge>> {
        self.call::<SeatBilling>(event)
    }

    /// Prices a flow run in credits.
    pub fn price_run(&self, run: &FlowRun) -> Result<PluginAnswer<Price>> {
        self.call::<UsagePricing>(run)
    }

    /// Any hook with JSON input (the dry-run endpoint); nothing is written.
    pub fn call_json(&self, hook: Hook, input: &Value) -> Result<PluginAnswer<Value>> {
        dispatch_json(self, hook, input)
    }
}

/// Something that answers hook calls: the server's host, or one plugin
/// under test.
trait Caller {
    fn call<H: HookSpec>(&self, input: &H::Input) -> Result<PluginAnswer<H::Output>>;
}

impl Caller for PluginHost {
    fn call<H: HookSpec>(&self, input: &H::Input) -> Result<PluginAnswer<H::Output>> {
        H::validate(input)?;
        if let Some(output) = H::precheck(input) {
            return Ok(host_answer::<H>(HOST_GUARD, input, output, Instant::now()));
        }
        let snapshot = self.active.load();
        match &snapshot.routes[&H::HOOK] {
            Route::Builtin => builtin::<H>(input),
            Route::Plugin(name) => {
                let entry = &snapshot.plugins[name];
                let plugin = entry.serving.as_ref().expect("routes name serving plugins");
                entry.stats.calls.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let answer = self.runtime.call::<H>(plugin, input);
                let failure = answer.as_ref().err().map(|e| e.kind);
                self.call_ended(name, H::HOOK, started.elapsed(), failure);
                answer.map_err(|e| {
                    entry.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(plugin = %name, hook = %H::HOOK, kind = %e.kind, "plugin call failed: {}", e.message);
                    Error::from(e)
                })
            }
            Route::Unavailable {
                plugin,
                kind,
                message,
            } => Err(PluginError::new(plugin, H::HOOK.name(), *kind, message.clone()).into()),
        }
    }
}

/// The built-in rule's answer, checked by the same guards as a plugin's.
fn builtin<H: HookSpec>(input: &H::Input) -> Result<PluginAnswer<H::Output>> {
    let started = Instant::now();
    let output = H::builtin(input);
    H::check(input, &output).map_err(|m| {
        Error::Internal(format!(
            "the built-in {} rule broke a host guard: {m}",
            H::HOOK
        ))
    })?;
    Ok(host_answer::<H>(BUILTIN, input, output, started))
}

fn host_answer<H: HookSpec>(
    plugin: &str,
    input: &H::Input,
    output: H::Output,
    started: Instant,
) -> PluginAnswer<H::Output> {
    PluginAnswer {
        plugin: plugin.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        sha256: BUILTIN.to_string(),
        hook: H::HOOK,
        config: Value::Null,
        input: serde_json::to_value(input).expect("hook inputs serialise"),
        output,
        fuel_used: 0,
        elapsed_us: started.elapsed().as_micros() as u64,
        logs: Vec::new(),
    }
}

fn dispatch_json(caller: &impl Caller, hook: Hook, input: &Value) -> Result<PluginAnswer<Value>> {
    fn typed<H: HookSpec>(caller: &impl Caller, input: &Value) -> Result<PluginAnswer<Value>> {
        let input: H::Input = serde_path_to_error::deserialize(input).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "input".to_string()
            } else {
                format!("input.{path}")
            };
            Error::invalid(field, e.into_inner().to_string())
        })?;
        Ok(caller.call::<H>(&input)?.into_json())
    }
    match hook {
        Hook::Autojoin => typed::<Autojoin>(caller, input),
        Hook::SeatBilling => typed::<SeatBilling>(caller, input),
        Hook::UsagePricing => typed::<UsagePricing>(caller, input),
    }
}

/// Paths inside a `target` directory are build output (e.g. `plugins/build.sh`
/// building guests in place), not plugin files: changes there never reload.
fn is_build_output(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "target")
}

/// One plugin loaded on its own, outside any server (`warden plugin test`).
pub struct PluginUnderTest {
    runtime: Runtime,
    plugin: LoadedPlugin,
}

impl PluginUnderTest {
    /// Loads the plugin at `path`: its directory or its manifest file.
    pub fn load(path: &Path) -> anyhow::Result<PluginUnderTest> {
        // `.` or `..` has no name of its own: the directory it stands for does.
        let named = match path.file_name() {
            Some(_) => path.to_path_buf(),
            None => path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
        };
        let source = Source::at(&named).ok_or_else(|| {
            anyhow::anyhow!(
                "{} is neither a directory with a {} nor a .toml manifest",
                path.display(),
                manifest::MANIFEST_FILE
            )
        })?;
        let runtime = Runtime::new()?;
        let plugin = load::load(&runtime, None, &source).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(PluginUnderTest { runtime, plugin })
    }

    /// The plugin's name, from its manifest.
    pub(crate) fn name(&self) -> &str {
        &self.plugin.manifest.name
    }

    /// The hooks its manifest declares.
    pub fn hooks(&self) -> &[Hook] {
        &self.plugin.manifest.hooks
    }

    /// Calls `hook` with JSON input, through the same prechecks and guards
    /// as a server. A hook the plugin does not declare is refused first:
    /// the input of another hook would only fail to parse.
    pub fn call_json(&self, hook: Hook, input: &Value) -> Result<PluginAnswer<Value>> {
        if !self.hooks().contains(&hook) {
            let declared: Vec<&str> = self.hooks().iter().map(|h| h.name()).collect();
            return Err(Error::invalid(
                "hook",
                format!(
                    "plugin {} declares hooks [{}], not {hook}",
                    self.name(),
                    declared.join(", ")
                ),
            ));
        }
        dispatch_json(self, hook, input)
    }
}

impl Caller for PluginUnderTest {
    fn call<H: HookSpec>(&self, input: &H::Input) -> Result<PluginAnswer<H::Output>> {
        H::validate(input)?;
        if let Some(output) = H::precheck(input) {
            return Ok(host_answer::<H>(HOST_GUARD, input, output, Instant::now()));
        }
        Ok(self.runtime.call::<H>(&self.plugin, input)?)
    }
}
