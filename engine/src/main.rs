//! The `warden` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use warden::authz::policy_tests;
use warden::authz::{CheckRequest, EntityRef};
use warden::command;
use warden::config::{ServeConfig, Settings};
use warden::error::Error;
use warden::ledger;
use warden::plugin::author;
use warden::plugin::replay::{ReplayedCall, Rerun};
use warden::plugin::{Hook, LogLine, PluginHost, PluginUnderTest};
use warden::policy;
use warden::server;
use warden::store::{consistency, Store, StoreLocation, DEFAULT_CACHE_BYTES, SCHEMA_VERSION};

/// mimalloc, not the system allocator: sled copies a tree node on every
/// write, and with glibc's malloc durable usage posts were 30–50% slower
/// (README, "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every subcommand's exit status, ripgrep-style: what a script branches on.
const EXIT_CODES: &str = "\
Exit status (every subcommand):
  0  ok: policies valid, tests pass, Allow, ledger sound, store consistent,
     plugin answered, replayed outputs the same
  1  a negative finding: policies invalid, a test failed, Deny, a ledger
     violation, store problems, the plugin failed, a replayed output differs
  2  an error: bad usage, a missing data directory, an unreadable file, …";

/// Exit status 1: the command ran and found something wrong.
const EXIT_FINDING: u8 = 1;
/// Exit status 2: the command could not do its job (clap's usage errors too).
const EXIT_ERROR: u8 = 2;

/// Warden: authorization, org/workspace management and billing rules for
/// multi-tenant SaaS, decided by Cedar policies.
#[derive(Parser)]
#[command(name = "warden", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Config file [default: ./warden.toml when it exists]
        #[arg(long, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
        // Boxed: the settings outweigh every other command's arguments.
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Check and test policy directories.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Try out Wasm plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Check the credits and billing ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Answer one authorization check against a data directory (the server
    /// must not be running on it: the database allows one process); exit 0
    /// Allow, 1 Deny.
    Authorize {
        #[command(flatten)]
        at: StoreArgs,
        #[arg(long, env = "WARDEN_POLICIES", default_value = "policies")]
        policies: PathBuf,
        /// Cedar uid, e.g. 'User::"3f0c…"'
        #[arg(long)]
        principal: String,
        /// Action id, e.g. ViewResource
        #[arg(long)]
        action: String,
        /// Cedar uid, e.g. 'Flow::"9a1e…"'
        #[arg(long)]
        resource: String,
        /// Context as a JSON object
        #[arg(long, default_value = "{}")]
        context: String,
        /// File with extra entities (Cedar JSON entity format)
        #[arg(long)]
        entities: Option<PathBuf>,
    },
    /// Check that every index of a data directory agrees with its records
    /// and every counter with what it counts (the server must not be
    /// running on it). Exit 0 consistent, 1 with problems listed.
    CheckStore {
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Set up and move databases.
    #[command(subcommand)]
    Store(StoreCommand),
}

/// Which database an offline command reads: `--store` when given, else the
/// embedded one of `--data`.
#[derive(clap::Args)]
struct StoreArgs {
    /// Data directory, whose embedded database is read unless --store names one
    #[arg(long, env = "WARDEN_DATA", default_value = "data")]
    data: PathBuf,
    /// A postgres:// URL
    #[arg(long, env = "WARDEN_STORE")]
    store: Option<String>,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Create Warden's tables in a PostgreSQL database, or move an existing
    /// database (of either kind) up to this build's layout; prints the
    /// layout version.
    Migrate {
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Copy every record of an embedded database into an empty PostgreSQL
    /// database (no server may be running on either).
    Copy {
        /// The data directory to copy from
        #[arg(long)]
        from: PathBuf,
        /// The postgres:// URL to copy to
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Parse and validate a policy directory against its schema.
    Validate {
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
    /// Run the test cases in DIR/tests against the policies in DIR.
    Test {
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every balance from the entries and check the ledger's
    /// invariants (the server must not be running on DIR); exit 1 on a
    /// violation.
    Verify {
        #[command(flatten)]
        at: StoreArgs,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Create a plugin crate: a standalone Rust crate with its own copy of
    /// the SDK, a plugin.toml, an example of the hook in src/lib.rs and a
    /// sample input (input.json) for `warden plugin test`.
    New {
        /// The plugin's name, which is also its directory's and its crate's:
        /// lower-case letters, digits and hyphens, starting with a letter
        name: String,
        /// The hook it serves: autojoin, seat-billing or usage-pricing
        #[arg(long)]
        hook: Hook,
        /// The directory to create it in, as DIR/NAME
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a plugin crate for wasm32-unknown-unknown (with rustup's
    /// toolchain if it has the target, else Debian's rustc-web) and write
    /// the component its plugin.toml names.
    Build {
        /// The plugin crate's directory (holding Cargo.toml and plugin.toml)
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Write the component here instead
        #[arg(long)]
        out: Option<PathBuf>,
        /// How the build records source paths, as rustc's flag of that name
        /// [default: DIR's parent directory as /plugins]; plugins/build.sh
        /// records the repository as /warden, so its components are the same
        /// in every checkout
        #[arg(long, value_name = "FROM=TO")]
        remap_path_prefix: Option<String>,
        /// Fail rather than update Cargo.lock (cargo --locked)
        #[arg(long)]
        locked: bool,
        /// No cargo progress output
        #[arg(long, short)]
        quiet: bool,
    },
    /// Load one plugin on its own and call a hook with the input in a JSON
    /// file, through the same limits and host checks as the server; prints
    /// the output, fuel used, time and the plugin's log lines.
    Test {
        /// The plugin's directory (holding plugin.toml) or its manifest file
        plugin: PathBuf,
        /// autojoin, seat-billing or usage-pricing
        #[arg(long)]
        hook: Hook,
        /// JSON file with the hook's input, e.g. {"email": …, "candidates": […]}
        #[arg(long)]
        input: PathBuf,
    },
    /// Re-run the plugin calls recorded in an audit record (e.g. a sign-up's
    /// auto-join) against the plugins a server with the same configuration
    /// would serve (its plugin directory, pinned by warden.toml's
    /// [plugin_hooks]), or one given plugin, and show the recorded and the
    /// new output side by side. Exit code 0 when every output is the same,
    /// 1 when one differs or fails. Reads the data directory, so the server
    /// must not be running on it (use `POST /v1/plugins/replay` then).
    Replay {
        /// The audit record's id
        audit_id: uuid::Uuid,
        /// Config file, as `warden serve` reads it [default: ./warden.toml
        /// when it exists]
        #[arg(long, env = "WARDEN_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: the config file's, else ./data]
        #[arg(long, env = "WARDEN_DATA")]
        data: Option<PathBuf>,
        /// A postgres:// URL [default: the config file's, else the data
        /// directory's embedded database]
        #[arg(long, env = "WARDEN_STORE")]
        store: Option<String>,
        /// Plugin directory [default: the config file's, else ./plugins]
        #[arg(long, env = "WARDEN_PLUGINS")]
        plugins: Option<PathBuf>,
        /// One plugin (directory or manifest) to use instead of the
        /// configuration's plugins
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// Print the replay as JSON, as `POST /v1/plugins/replay` answers it
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(Verdict::Ok) => ExitCode::SUCCESS,
        Ok(Verdict::Finding) => ExitCode::from(EXIT_FINDING),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// What a subcommand that ran found (an error is the `Err` beside it).
enum Verdict {
    Ok,
    Finding,
}

impl Verdict {
    fn ok_if(ok: bool) -> Verdict {
        if ok {
            Verdict::Ok
        } else {
            Verdict::Finding
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Verdict> {
    match cli.command {
        Command::Serve { config, settings } => {
            let config = ServeConfig::resolve(*settings, config.as_deref())?;
            tokio::runtime::Runtime::new()?.block_on(server::serve(config))?;
            Ok(Verdict::Ok)
        }
        Command::Policy(PolicyCommand::Validate { dir }) => {
            let Some(snapshot) = build_policies(&dir)? else {
                return Ok(Verdict::Finding);
            };
            let count: usize = snapshot.files.iter().map(|f| f.policies.len()).sum();
            println!(
                "{}: {count} policies in {} files are valid",
                dir.display(),
                snapshot.files.len()
            );
            Ok(Verdict::Ok)
        }
        Command::Policy(PolicyCommand::Test { dir }) => {
            let Some(snapshot) = build_policies(&dir)? else {
                return Ok(Verdict::Finding);
            };
            let outcomes = policy_tests::run(&dir, &snapshot)?;
            println!("{}", policy_tests::report(&outcomes));
            Ok(Verdict::ok_if(outcomes.iter().all(|o| o.passed)))
        }
        Command::Plugin(PluginCommand::New { name, hook, dir }) => plugin_new(&name, hook, &dir),
        Command::Plugin(PluginCommand::Build {
            dir,
            out,
            remap_path_prefix,
            locked,
            quiet,
        }) => {
            let options = author::BuildOptions {
                out,
                remap_path_prefix,
                locked,
                quiet,
            };
            plugin_build(&dir, &options)
        }
        Command::Plugin(PluginCommand::Test {
            plugin,
            hook,
            input,
        }) => plugin_test(&plugin, hook, &input),
        Command::Plugin(PluginCommand::Replay {
            audit_id,
            config,
            data,
            store,
            plugins,
            plugin,
            json,
        }) => {
            let settings = Settings {
                data,
                store,
                plugins,
                ..Settings::default()
            };
            let config = ServeConfig::resolve(settings, config.as_deref())?;
            plugin_replay(audit_id, &config, plugin.as_deref(), json)
        }
        Command::Ledger(LedgerCommand::Verify { at }) => {
            let report = ledger::verify(&open_store(&at)?)?;
            println!("{}", report.summary());
            Ok(Verdict::ok_if(report.ok()))
        }
        Command::Authorize {
            at,
            policies,
            principal,
            action,
            resource,
            context,
            entities,
        } => {
            let store = open_store(&at)?;
            let plugins = PluginHost::builtin()?;
            let app = server::app_on(store, &policies, plugins)?;
            let request = CheckRequest {
                principal: parse_uid("--principal", &principal)?,
                action: EntityRef::new("Action", &action),
                resource: parse_uid("--resource", &resource)?,
                context: serde_json::from_str(&context)
                    .context("--context must be a JSON object")?,
                entities: match entities {
                    Some(path) => serde_json::from_str(&std::fs::read_to_string(&path)?)
                        .with_context(|| {
                            format!("{} must hold a JSON array of entities", path.display())
                        })?,
                    None => Vec::new(),
                },
            };
            let decision = app.check(&request)?;
            println!("{}", serde_json::to_string_pretty(&decision)?);
            Ok(Verdict::ok_if(decision.allowed()))
        }
        Command::CheckStore { at } => {
            let problems = consistency::check(&open_store(&at)?)?;
            for problem in &problems {
                println!("{problem}");
            }
            println!("{} problems", problems.len());
            Ok(Verdict::ok_if(problems.is_empty()))
        }
        Command::Store(StoreCommand::Migrate { at }) => {
            let store = open_store(&at)?;
            println!("{}: layout version {SCHEMA_VERSION}", store.location());
            Ok(Verdict::Ok)
        }
        Command::Store(StoreCommand::Copy { from, to }) => {
            let source = open_existing(&StoreLocation::in_data_dir(&from))?;
            let destination = Store::connect(&to)?;
            let copied = source.copy_to(&destination)?;
            println!(
                "copied {copied} records from {} to {}",
                source.location(),
                destination.location()
            );
            Ok(Verdict::Ok)
        }
    }
}

/// The policies of `dir`, or `None` (their problems printed) when they do
/// not validate; a directory that is not there is an error.
fn build_policies(dir: &Path) -> anyhow::Result<Option<policy::PolicySnapshot>> {
    anyhow::ensure!(dir.is_dir(), "no policy directory {}", dir.display());
    match policy::build(dir, 1) {
        Ok(snapshot) => Ok(Some(snapshot)),
        Err(e) => {
            println!("{e}");
            println!("{}: {} problems", dir.display(), e.problems.len());
            Ok(None)
        }
    }
}

/// Where an offline command's database is: `--store`, else the embedded
/// database of `--data`.
fn store_location(at: &StoreArgs) -> anyhow::Result<StoreLocation> {
    match &at.store {
        Some(text) => StoreLocation::parse(text),
        None => Ok(StoreLocation::in_data_dir(&at.data)),
    }
}

/// The existing store an offline command reads.
fn open_store(at: &StoreArgs) -> anyhow::Result<Store> {
    open_existing(&store_location(at)?)
}

/// The store at `location`, which must exist if it is a directory: a
/// command that reads a database never creates one.
fn open_existing(location: &StoreLocation) -> anyhow::Result<Store> {
    if let StoreLocation::Directory(db) = location {
        anyhow::ensure!(
            db.is_dir(),
            "no database in {} (give the server's data directory with --data or WARDEN_DATA, \
             or its database with --store or WARDEN_STORE)",
            db.parent().unwrap_or(db).display()
        );
    }
    Store::at(location, DEFAULT_CACHE_BYTES)
}

fn plugin_new(name: &str, hook: Hook, parent: &Path) -> anyhow::Result<Verdict> {
    let dir = author::new_plugin(&author::NewPlugin { name, hook, parent })?;
    let dir = dir.display();
    println!(
        "created {dir}: a plugin for hook {hook} (src/lib.rs), its plugin.toml and a sample input.json"
    );
    println!("next:");
    println!("  warden plugin build {dir}");
    println!("  warden plugin test {dir} --hook {hook} --input {dir}/input.json");
    Ok(Verdict::Ok)
}

fn plugin_build(dir: &Path, options: &author::BuildOptions) -> anyhow::Result<Verdict> {
    let built = author::build(dir, options)?;
    if options.out.is_none() {
        // What a server would do with it: a component that does not load
        // (a missing export, a WASI import) is reported now, not at deploy.
        PluginUnderTest::load(dir).with_context(|| {
            format!("built {}, but it does not load", built.component.display())
        })?;
    }
    println!(
        "{} {}: {} ({} bytes) in {:.1} s",
        built.manifest.name,
        built.manifest.version,
        built.component.display(),
        built.bytes,
        built.elapsed.as_secs_f64()
    );
    Ok(Verdict::Ok)
}

fn plugin_test(
    path: &std::path::Path,
    hook: Hook,
    input: &std::path::Path,
) -> anyhow::Result<Verdict> {
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let input: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", input.display()))?;
    let plugin = PluginUnderTest::load(path)?;
    match plugin.call_json(hook, &input) {
        Ok(answer) => {
            println!(
                "{} {} ({}), hook {hook}",
                answer.plugin, answer.version, answer.sha256
            );
            println!("output: {}", serde_json::to_string_pretty(&answer.output)?);
            println!("fuel used: {}", answer.fuel_used);
            println!("time: {} µs", answer.elapsed_us);
            print_logs(&answer.logs);
            Ok(Verdict::Ok)
        }
        Err(Error::Plugin(failure)) => {
            println!(
                "{} failed in hook {hook}: {}: {}",
                failure.plugin, failure.kind, failure.message
            );
            print_logs(&failure.logs);
            Ok(Verdict::Finding)
        }
        Err(e) => Err(e.into()),
    }
}

fn plugin_replay(
    audit_id: uuid::Uuid,
    config: &ServeConfig,
    plugin: Option<&Path>,
    json: bool,
) -> anyhow::Result<Verdict> {
    let store = open_existing(config.store())?;
    let replay = match plugin {
        Some(path) => {
            let plugin = PluginUnderTest::load(path)?;
            command::replay_audit(&store, audit_id, |hook, input| {
                plugin.call_json(hook, input)
            })?
        }
        None => {
            let host = server::open_plugins(config)?;
            command::replay_audit(&store, audit_id, |hook, input| host.call_json(hook, input))?
        }
    };
    let same = replay.calls.iter().all(|c| c.same_output);
    if json {
        println!("{}", serde_json::to_string_pretty(&replay)?);
        return Ok(Verdict::ok_if(same));
    }
    println!("audit record {} ({})", replay.audit_id, replay.action);
    for call in &replay.calls {
        print_replayed_call(call)?;
    }
    Ok(Verdict::ok_if(same))
}

/// Width of each column of `plugin replay`'s side-by-side outputs.
const REPLAY_COLUMN_CHARS: usize = 48;

fn print_replayed_call(call: &ReplayedCall) -> anyhow::Result<()> {
    let recorded = &call.recorded;
    println!("\nhook {}", call.hook);
    let (now_label, now_text) = match &call.now {
        Rerun::Answered(now) => (
            format!("now: {} {}", now.plugin, now.version),
            serde_json::to_string_pretty(&now.output)?,
        ),
        Rerun::Failed(message) => ("now: failed".to_string(), message.clone()),
    };
    let recorded_label = format!("recorded: {} {}", recorded.plugin, recorded.version);
    let recorded_text = serde_json::to_string_pretty(&recorded.output)?;
    print_side_by_side(&recorded_label, &now_label);
    print_side_by_side(
        &"-".repeat(REPLAY_COLUMN_CHARS),
        &"-".repeat(REPLAY_COLUMN_CHARS),
    );
    let (left, right): (Vec<_>, Vec<_>) =
        (recorded_text.lines().collect(), now_text.lines().collect());
    for i in 0..left.len().max(right.len()) {
        print_side_by_side(left.get(i).unwrap_or(&""), right.get(i).unwrap_or(&""));
    }
    println!(
        "{}",
        if call.same_output {
            "same output"
        } else {
            "OUTPUT DIFFERS"
        }
    );
    Ok(())
}

fn print_side_by_side(left: &str, right: &str) {
    println!("{left:<width$} | {right}", width = REPLAY_COLUMN_CHARS);
}

fn print_logs(logs: &[LogLine]) {
    println!("logs: {}", if logs.is_empty() { "(none)" } else { "" });
    for line in logs {
        println!("  {:?}: {}", line.level, line.message);
    }
}

fn parse_uid(flag: &str, text: &str) -> anyhow::Result<EntityRef> {
    let uid = cedar_policy::EntityUid::from_str(text).map_err(|e| {
        anyhow::anyhow!("{flag}: {text:?} is not a Cedar uid like 'User::\"id\"': {e}")
    })?;
    Ok(EntityRef::new(
        &uid.type_name().to_string(),
        uid.id().unescaped(),
    ))
}
