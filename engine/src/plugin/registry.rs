//! The plugins a server serves: loaded from a directory into an immutable
//! snapshot, swapped atomically on reload, plus the choice of which plugin
//! (or the built-in rule) serves each hook.
//!
//! Architecture invariant: a call holds one snapshot from start to end; a
//! plugin that fails to load keeps its previous version serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use time::OffsetDateTime;

use super::answer::FailureKind;
use super::hook::Hook;
use super::load::{self, Source};
use super::manifest::{self, Limits};
use super::runtime::LoadedPlugin;

/// The built-in rule's name where a plugin name is expected (in
/// `[plugin_hooks]` and in status).
pub const BUILTIN_NAME: &str = super::answer::BUILTIN;

/// What `[plugin_hooks]` in warden.toml chose for one hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pin {
    /// The host's built-in rule serves the hook.
    Builtin,
    /// The plugin of this name serves it; the hook fails closed while it
    /// cannot.
    Plugin(String),
}

/// Hook → the plugin chosen to serve it, for hooks that need a choice.
pub type HookPins = BTreeMap<Hook, Pin>;

/// Reads the current `[plugin_hooks]` at every reload (the server re-reads
/// its config file), so pins change with the plugins they choose between.
pub type PinSource = Box<dyn Fn() -> Result<HookPins, String> + Send + Sync>;

/// Parses `[plugin_hooks]` (hook name → plugin name or "builtin").
pub fn parse_pins(table: &BTreeMap<String, String>) -> Result<HookPins, String> {
    let mut pins = HookPins::new();
    for (hook, plugin) in table {
        let hook: Hook = hook.parse().map_err(|e| format!("[plugin_hooks]: {e}"))?;
        let pin = if plugin == BUILTIN_NAME {
            Pin::Builtin
        } else {
            manifest::check_name(&format!("[plugin_hooks] {hook} ="), plugin)?;
            Pin::Plugin(plugin.clone())
        };
        pins.insert(hook, pin);
    }
    Ok(pins)
}

/// Calls and failures of one plugin name, kept across reloads.
#[derive(Default)]
pub struct Stats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
}

/// One plugin as of a reload.
pub struct Entry {
    /// The version that serves: the one just loaded, or the previous one
    /// when loading the current files failed.
    pub serving: Option<Arc<LoadedPlugin>>,
    /// Why the current files did not load.
    pub error: Option<String>,
    /// The hooks its files declare, as far as they could be read: a plugin
    /// that failed to load still claims them (`None`: its manifest did not
    /// read, so it may claim any hook).
    pub declared: Option<Vec<Hook>>,
    pub stats: Arc<Stats>,
}

impl Entry {
    /// Whether this plugin failed to load, serves nothing, and may have been
    /// meant to serve `hook`.
    fn failed_claiming(&self, hook: Hook) -> bool {
        self.serving.is_none()
            && self
                .declared
                .as_ref()
                .is_none_or(|hooks| hooks.contains(&hook))
    }
}

/// Who answers a hook.
#[derive(Clone, Debug)]
pub enum Route {
    Builtin,
    Plugin(String),
    /// Fail closed: `plugin` names who should have served.
    Unavailable {
        plugin: String,
        kind: FailureKind,
        message: String,
    },
}

/// An immutable view of the plugin directory.
pub struct Snapshot {
    pub plugins: BTreeMap<String, Entry>,
    pub routes: BTreeMap<Hook, Route>,
    /// The plugin each hook was last served by, so that a plugin that
    /// disappears leaves its hooks failing closed rather than falling back
    /// to the built-in rule (a pin in `[plugin_hooks]` releases them).
    pub bound: BTreeMap<Hook, String>,
    /// The pins the routes were chosen with.
    pub pins: HookPins,
    /// The directory itself could not be read (the previous plugins stay).
    pub dir_error: Option<String>,
    /// `[plugin_hooks]` could not be read (the previous pins stay).
    pub pins_error: Option<String>,
    pub reloaded_at: OffsetDateTime,
}

/// One problem of a reload.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<Hook>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.plugin, self.hook) {
            (Some(plugin), _) => write!(f, "plugin {plugin}: {}", self.message),
            (None, Some(hook)) => write!(f, "hook {hook}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Builds the next snapshot from the directory and the pins (`Err`: they
/// could not be read, `previous`'s stay), reusing unchanged plugins of
/// `previous` and keeping its versions of plugins that fail to load.
pub fn rebuild(
    dir: &Path,
    previous: &Snapshot,
    pins: Result<HookPins, String>,
    mut build: impl FnMut(load::Files) -> Result<LoadedPlugin, String>,
    stats: &Mutex<BTreeMap<String, Arc<Stats>>>,
) -> Snapshot {
    let (pins, pins_error) = match pins {
        Ok(pins) => (pins, None),
        Err(e) => (previous.pins.clone(), Some(e)),
    };
    let sources = match load::scan(dir) {
        Ok(sources) => sources,
        Err(e) => return keep_with_dir_error(previous, pins, pins_error, e, stats),
    };
    let mut plugins = BTreeMap::new();
    let mut first_manifest: BTreeMap<String, PathBuf> = BTreeMap::new();
    for source in sources {
        // `foo/plugin.toml` and `foo.toml` both: the first stays, reported.
        if let Some(first) = first_manifest.get(&source.name) {
            let entry: &mut Entry = plugins.get_mut(&source.name).expect("inserted with it");
            entry.error = Some(format!(
                "{} and {} both define plugin {}; remove one",
                first.display(),
                source.manifest.display(),
                source.name
            ));
            continue;
        }
        first_manifest.insert(source.name.clone(), source.manifest.clone());
        let prev = previous
            .plugins
            .get(&source.name)
            .and_then(|e| e.serving.clone());
        let (serving, error) = match load_one(&source, prev.as_ref(), &mut build) {
            Ok(plugin) => (Some(plugin), None),
            Err(e) => (prev, Some(e)),
        };
        let declared = match &serving {
            Some(plugin) if error.is_none() => Some(plugin.manifest.hooks.clone()),
            _ => load::declared_hooks(&source),
        };
        let stats = stats_of(stats, &source.name);
        plugins.insert(
            source.name,
            Entry {
                serving,
                error,
                declared,
                stats,
            },
        );
    }
    Snapshot {
        pins_error,
        ..Snapshot::new(plugins, pins, &previous.bound, None)
    }
}

/// The empty snapshot a server starts from (every hook built in).
pub fn empty() -> Snapshot {
    Snapshot::new(BTreeMap::new(), HookPins::new(), &BTreeMap::new(), None)
}

fn load_one(
    source: &Source,
    previous: Option<&Arc<LoadedPlugin>>,
    build: &mut impl FnMut(load::Files) -> Result<LoadedPlugin, String>,
) -> Result<Arc<LoadedPlugin>, String> {
    let files = load::read(source)?;
    match previous {
        Some(p) if p.fingerprint == files.fingerprint => Ok(p.clone()),
        _ => build(files).map(Arc::new),
    }
}

fn keep_with_dir_error(
    previous: &Snapshot,
    pins: HookPins,
    pins_error: Option<String>,
    error: String,
    stats: &Mutex<BTreeMap<String, Arc<Stats>>>,
) -> Snapshot {
    let plugins: BTreeMap<_, _> = previous
        .plugins
        .iter()
        .map(|(name, e)| {
            let entry = Entry {
                serving: e.serving.clone(),
                error: e.error.clone(),
                declared: e.declared.clone(),
                stats: stats_of(stats, name),
            };
            (name.clone(), entry)
        })
        .collect();
    Snapshot {
        pins_error,
        ..Snapshot::new(plugins, pins, &previous.bound, Some(error))
    }
}

fn stats_of(stats: &Mutex<BTreeMap<String, Arc<Stats>>>, name: &str) -> Arc<Stats> {
    let mut stats = stats.lock().expect("stats lock poisoned");
    stats.entry(name.to_string()).or_default().clone()
}

/// Chooses who serves each hook: the pinned plugin (or the built-in rule)
/// if `[plugin_hooks]` names one; else the one plugin that declares the
/// hook; else the built-in rule, unless a plugin that may declare the hook
/// failed to load or the plugin that served it (`bound`) is gone. Two
/// plugins and no pin is a conflict, and a pin to a plugin that cannot
/// serve fails closed: none of these silently falls back to another rule.
fn resolve(
    plugins: &BTreeMap<String, Entry>,
    pins: &HookPins,
    bound: &BTreeMap<Hook, String>,
) -> BTreeMap<Hook, Route> {
    Hook::ALL
        .into_iter()
        .map(|hook| {
            let declaring: Vec<&String> = plugins
                .iter()
                .filter(|(_, e)| e.serving.as_ref().is_some_and(|p| p.manifest.hooks.contains(&hook)))
                .map(|(name, _)| name)
                .collect();
            let route = match (pins.get(&hook), declaring.as_slice()) {
                (Some(Pin::Builtin), _) => Route::Builtin,
                (None, []) => unserved(plugins, hook, bound.get(&hook)),
                (Some(Pin::Plugin(name)), _) if declaring.contains(&name) => Route::Plugin(name.clone()),
                (Some(Pin::Plugin(name)), _) => Route::Unavailable {
                    plugin: name.clone(),
                    kind: FailureKind::Unavailable,
                    message: pinned_unavailable(plugins, hook, name),
                },
                (None, [one]) => Route::Plugin((*one).clone()),
                (None, many) => {
                    let names: Vec<&str> = many.iter().map(|n| n.as_str()).collect();
                    Route::Unavailable {
                        plugin: names.join(", "),
                        kind: FailureKind::Conflict,
                        message: format!(
                            "plugins {} all declare hook {hook}; choose one in warden.toml with [plugin_hooks] {hook} = \"{}\" (or \"{BUILTIN_NAME}\")",
                            names.join(", "),
                            names[0]
                        ),
                    }
                }
            };
            (hook, route)
        })
        .collect()
}

/// The route of an unpinned hook that no loaded plugin declares: the
/// built-in rule, unless a plugin meant to serve it failed to load or went
/// away.
fn unserved(plugins: &BTreeMap<String, Entry>, hook: Hook, bound: Option<&String>) -> Route {
    let unavailable = |plugin: &str, why: String| {
        Route::Unavailable {
        plugin: plugin.to_string(),
        kind: FailureKind::Unavailable,
        message: format!(
            "{why}; hook {hook} fails closed until it loads, or until [plugin_hooks] {hook} = \"{BUILTIN_NAME}\" in warden.toml chooses the built-in rule"
        ),
    }
    };
    if let Some((name, entry)) = plugins.iter().find(|(_, e)| e.failed_claiming(hook)) {
        let error = entry.error.as_deref().unwrap_or("unknown error");
        return unavailable(name, format!("plugin {name} failed to load: {error}"));
    }
    match bound {
        Some(name) if !plugins.contains_key(name) => unavailable(
            name,
            format!("plugin {name} served hook {hook} and its files are gone"),
        ),
        _ => Route::Builtin,
    }
}

fn pinned_unavailable(plugins: &BTreeMap<String, Entry>, hook: Hook, name: &str) -> String {
    let why = match plugins.get(name) {
        None => "there is no such plugin".to_string(),
        Some(Entry {
            serving: None,
            error,
            ..
        }) => {
            format!(
                "it failed to load: {}",
                error.as_deref().unwrap_or("unknown error")
            )
        }
        Some(_) => "it does not declare that hook".to_string(),
    };
    format!("[plugin_hooks] {hook} = \"{name}\" in warden.toml, but {why}")
}

impl Snapshot {
    fn new(
        plugins: BTreeMap<String, Entry>,
        pins: HookPins,
        previous_bound: &BTreeMap<Hook, String>,
        dir_error: Option<String>,
    ) -> Snapshot {
        let routes = resolve(&plugins, &pins, previous_bound);
        let bound = routes
            .iter()
            .filter_map(|(hook, route)| match route {
                Route::Plugin(name) => Some((*hook, name.clone())),
                Route::Builtin => None,
                Route::Unavailable { .. } => previous_bound.get(hook).map(|n| (*hook, n.clone())),
            })
            .collect();
        Snapshot {
            plugins,
            routes,
            bound,
            pins,
            dir_error,
            pins_error: None,
            reloaded_at: OffsetDateTime::now_utc(),
        }
    }

    /// Everything wrong with this snapshot, for the reload's answer.
    pub fn problems(&self) -> Vec<Problem> {
        let dir = self
            .dir_error
            .iter()
            .chain(&self.pins_error)
            .map(|e| Problem {
                plugin: None,
                hook: None,
                message: e.clone(),
            });
        let plugins = self.plugins.iter().filter_map(|(name, e)| {
            e.error.as_ref().map(|error| Problem {
                plugin: Some(name.clone()),
                hook: None,
                message: match e.serving {
                    Some(ref p) => {
                        format!("{error} (version {} keeps serving)", p.manifest.version)
                    }
                    None => error.clone(),
                },
            })
        });
        let hooks = self.routes.iter().filter_map(|(hook, route)| match route {
            Route::Unavailable { message, .. } => Some(Problem {
                plugin: None,
                hook: Some(*hook),
                message: message.clone(),
            }),
            _ => None,
        });
        dir.chain(plugins).chain(hooks).collect()
    }

    /// The status `GET /v1/plugins` shows.
    pub fn status(&self, directory: Option<&Path>) -> PluginStatus {
        let served_by = |name: &str| -> Vec<Hook> {
            self.routes
                .iter()
                .filter(|(_, r)| matches!(r, Route::Plugin(n) if n == name))
                .map(|(hook, _)| *hook)
                .collect()
        };
        let plugins: Vec<PluginInfo> = self
            .plugins
            .iter()
            .map(|(name, e)| {
                let serving = served_by(name);
                let plugin = e.serving.as_deref();
                PluginInfo {
                    name: name.clone(),
                    version: plugin.map(|p| p.manifest.version.clone()),
                    sha256: plugin.map(|p| p.sha256.clone()),
                    hooks: plugin.map(|p| p.manifest.hooks.clone()).unwrap_or_default(),
                    state: match (&e.error, serving.is_empty()) {
                        (Some(_), _) => PluginState::Failed,
                        (None, false) => PluginState::Active,
                        (None, true) => PluginState::Inactive,
                    },
                    serving,
                    last_error: e.error.clone(),
                    calls: e.stats.calls.load(Ordering::Relaxed),
                    failures: e.stats.failures.load(Ordering::Relaxed),
                    limits: plugin.map(|p| p.manifest.limits),
                    loaded_at: plugin.map(|p| p.loaded_at),
                }
            })
            .collect();
        let hooks: Vec<HookInfo> = self
            .routes
            .iter()
            .map(|(hook, route)| {
                let (served_by, error) = match route {
                    Route::Builtin => (Some(BUILTIN_NAME.to_string()), None),
                    Route::Plugin(name) => (Some(name.clone()), None),
                    Route::Unavailable { message, .. } => (None, Some(message.clone())),
                };
                HookInfo {
                    hook: *hook,
                    served_by,
                    error,
                }
            })
            .collect();
        PluginStatus {
            digest: digest(&hooks, &plugins),
            directory: directory.map(|d| d.display().to_string()),
            reloaded_at: self.reloaded_at,
            last_error: self.dir_error.clone().or_else(|| self.pins_error.clone()),
            plugins,
            hooks,
        }
    }
}

/// What `GET /v1/plugins` shows.
#[derive(Debug, Serialize)]
pub struct PluginStatus {
    /// The plugin directory; `null` when the host has none (every hook
    /// built in).
    pub directory: Option<String>,
    /// When the directory was last read.
    #[serde(with = "time::serde::rfc3339")]
    pub reloaded_at: OffsetDateTime,
    /// Why the directory itself could not be read, if it could not.
    pub last_error: Option<String>,
    /// Every plugin of the directory, by name.
    pub plugins: Vec<PluginInfo>,
    /// Every hook, and who serves it.
    pub hooks: Vec<HookInfo>,
    /// sha256 of what serves each hook (its name and the component's
    /// sha256): two servers with one digest run the same plugins, so an
    /// operator sees a replica out of step.
    pub digest: String,
}

/// The digest of [`PluginStatus`]: one line per hook, in hook order.
fn digest(hooks: &[HookInfo], plugins: &[PluginInfo]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for hook in hooks {
        let served_by = hook.served_by.as_deref().unwrap_or("-");
        let component = plugins
            .iter()
            .find(|p| p.name == served_by)
            .and_then(|p| p.sha256.as_deref())
            .unwrap_or("-");
        hasher.update(format!("{}={served_by}:{component}\n", hook.hook).as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// One plugin of the directory.
#[derive(Debug, Serialize)]
pub struct PluginInfo {
    /// Its name (its directory or manifest file stem).
    pub name: String,
    /// Of the serving version (`null` when none ever loaded).
    pub version: Option<String>,
    /// The sha256 of the serving version's component, as hex.
    pub sha256: Option<String>,
    /// Hooks the serving version declares.
    pub hooks: Vec<Hook>,
    /// Hooks it actually serves.
    pub serving: Vec<Hook>,
    /// Whether it serves, is loaded but unused, or failed to load.
    pub state: PluginState,
    /// Why its current files did not load; `null` when they did.
    pub last_error: Option<String>,
    /// Hook calls it was given, since the server started.
    pub calls: u64,
    /// Those of its calls that failed.
    pub failures: u64,
    /// The serving version's per-call limits.
    pub limits: Option<Limits>,
    /// When the serving version was loaded.
    #[serde(with = "time::serde::rfc3339::option")]
    pub loaded_at: Option<OffsetDateTime>,
}

/// `active`: serves at least one hook; `inactive`: loaded but serves none
/// (another plugin or the built-in rule was chosen); `failed`: its current
/// files did not load (an older version may still serve).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Serves at least one hook.
    Active,
    /// Loaded, but another plugin or the built-in rule serves its hooks.
    Inactive,
    /// Its current files did not load.
    Failed,
}

/// One hook and who serves it.
#[derive(Debug, Serialize)]
pub struct HookInfo {
    /// The hook.
    pub hook: Hook,
    /// A plugin name or "builtin"; `null` when the hook fails closed.
    pub served_by: Option<String>,
    /// Why the hook fails closed; `null` while it is served.
    pub error: Option<String>,
}
