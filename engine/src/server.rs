//! `warden serve`: opens the store, loads and watches the policies and the
//! plugins, and serves the HTTP API until SIGINT/SIGTERM.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::app::App;
use crate::config::ServeConfig;
use crate::http::decision_log::DecisionLog;
use crate::http::ManagementSettings;
use crate::plugin::{PinSource, PluginHost};
use crate::policy::PolicyEngine;
use crate::secrets::CredentialKey;
use crate::store::{Store, StoreLocation};

/// The admin token's file inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Opens the store at `store` and the policies of a configuration, with
/// `plugins` serving the hooks.
pub fn open_app(
    store: &StoreLocation,
    policies: &Path,
    cache_bytes: u64,
    plugins: PluginHost,
) -> anyhow::Result<App> {
    app_on(Store::at(store, cache_bytes)?, policies, plugins)
}

/// The app of `store`, with the policies of `policies` and `plugins`
/// serving the hooks.
pub fn app_on(store: Store, policies: &Path, plugins: PluginHost) -> anyhow::Result<App> {
    let policies = PolicyEngine::open(policies)
        .map_err(|e| anyhow::anyhow!("policies in {} are invalid:\n{e}", policies.display()))?;
    Ok(App::new(store, policies, plugins))
}

/// Runs `warden serve` with `config`: the admin token, the plugins, the
/// policies and their watchers, then the HTTP API until SIGINT or SIGTERM,
/// and a last flush of the store.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data)
        .with_context(|| format!("cannot create data directory {}", config.data.display()))?;
    // Before anything else: a bad token file must stop the server early.
    let token = admin_token(&config.data)?;
    let plugins = open_plugins(&config)?;
    let app = Arc::new(open_app(
        &config.store,
        &config.policies,
        config.cache_bytes,
        plugins,
    )?);
    let _watcher = match app.policies.watch() {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(
                "cannot watch {}: {e}; use POST /v1/policies/reload",
                config.policies.display()
            );
            None
        }
    };
    warn_if_watched(&config.data, &config.plugins);
    let _plugin_watcher = match app.plugins.watch() {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(
                "cannot watch {}: {e}; use POST /v1/plugins/reload",
                config.plugins.display()
            );
            None
        }
    };
    let settings = ManagementSettings {
        invitation_ttl: config.invitation_ttl,
        credential_key: CredentialKey::load_or_create(
            config.credential_key_file.as_deref(),
            &config.data,
        )?,
        dns_resolver: config.dns_resolver,
        decision_log: match &config.decision_log {
            Some(settings) => Some(Arc::new(
                DecisionLog::open(settings).context("cannot open the decision log")?,
            )),
            None => None,
        },
    };
    let mut router = crate::http::router(app.clone(), &token, config.limits.clone(), settings);
    // The trace layer logs at DEBUG (WARDEN_LOG=tower_http=debug); when
    // that is off it would only read the clock twice per request.
    if tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG) {
        router = router.layer(tower_http::trace::TraceLayer::new_for_http());
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, policies = %config.policies.display(), plugins = %config.plugins.display(), store = %app.store.location(), "warden serving");
    println!("warden listening on http://{address}");
    std::io::stdout().flush()?;
    crate::http::serve(
        listener,
        router,
        config.connections.clone(),
        shutdown_signal(),
    )
    .await;
    app.store.flush().await?;
    tracing::info!("warden stopped");
    Ok(())
}

/// Warns when the data directory lies inside the plugin directory: its
/// watcher would see every write of the database and reload the plugins
/// after each burst of them.
fn warn_if_watched(data: &Path, plugins: &Path) {
    let (Ok(data), Ok(plugins)) = (data.canonicalize(), plugins.canonicalize()) else {
        return;
    };
    if data.starts_with(&plugins) {
        tracing::warn!(
            "the data directory {} is inside the plugin directory {}: each burst of \
             writes reloads the plugins; keep them apart",
            data.display(),
            plugins.display()
        );
    }
}

/// The plugins of a configuration, pinned as `[plugin_hooks]` says: what
/// `warden serve` serves, and what `warden plugin replay` replays against.
pub fn open_plugins(config: &ServeConfig) -> anyhow::Result<PluginHost> {
    PluginHost::open(&config.plugins, &config.data, pin_source(config))
}

/// `[plugin_hooks]` as the config file says at each plugin reload (the
/// pins resolved at start, when there is no file).
fn pin_source(config: &ServeConfig) -> PinSource {
    match config.file.clone() {
        Some(file) => Box::new(move || crate::config::plugin_hooks(&file)),
        None => {
            let pins = config.plugin_hooks.clone();
            Box::new(move || Ok(pins.clone()))
        }
    }
}

/// The shortest admin token accepted, from the environment or a file.
const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// The admin token: `WARDEN_ADMIN_TOKEN`, else the data directory's token
/// file, else a new random token written there (mode 0600) and printed once.
/// A token shorter than `MIN_ADMIN_TOKEN_CHARS` (an empty file left by a
/// crash, say) stops the server: it would let in requests with no token.
fn admin_token(data: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("WARDEN_ADMIN_TOKEN") {
        anyhow::ensure!(
            token.len() >= MIN_ADMIN_TOKEN_CHARS,
            "WARDEN_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters"
        );
        return Ok(token);
    }
    let path = data.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) => {
            let token = token.trim();
            anyhow::ensure!(
                token.len() >= MIN_ADMIN_TOKEN_CHARS,
                "{} holds {} characters, fewer than the {MIN_ADMIN_TOKEN_CHARS} a token needs; \
                 delete it to generate a new token, or write one of at least \
                 {MIN_ADMIN_TOKEN_CHARS} characters",
                path.display(),
                token.len()
            );
            return Ok(token.to_string());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for the admin token: {e}"))?;
    let token = hex::encode(bytes);
    crate::secrets::write_private(&path, &token)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("admin token (saved to {}): {token}", path.display());
    Ok(token)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
