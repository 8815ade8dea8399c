//! The `warden` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use warden::authz::{CheckRequest, EntityRef};
use warden::config::{ServeConfig, Settings};
use warden::error::Error;
use warden::plugin::{Hook, LogLine, PluginHost, PluginUnderTest};
use warden::policy::{self, testing};
use warden::server;
use warden::store::{consistency, Store, DEFAULT_CACHE_BYTES};

/// Warden: authorization, org/workspace management and billing rules for
/// multi-tenant SaaS, decided by Cedar policies.
#[derive(Parser)]
#[command(name = "warden", version, about)]
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
        #[command(flatten)]
        settings: Settings,
    },
    /// Check and test policy directories.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Try out Wasm plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Answer one authorization check against a data directory (the server
    /// must not be running on it: the database allows one process).
    Authorize {
        #[arg(long, env = "WARDEN_DATA", default_value = "data")]
        data: PathBuf,
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
    /// running on it). Exit 0 consistent, 2 with problems listed.
    CheckStore {
        #[arg(long, env = "WARDEN_DATA", default_value = "data")]
        data: PathBuf,
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
enum PluginCommand {
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
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, settings } => {
            let config = ServeConfig::resolve(settings, config.as_deref())?;
            tokio::runtime::Runtime::new()?.block_on(server::serve(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy(PolicyCommand::Validate { dir }) => {
            let snapshot = policy::build(&dir, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
            let count: usize = snapshot.files.iter().map(|f| f.policies.len()).sum();
            println!(
                "{}: {count} policies in {} files are valid",
                dir.display(),
                snapshot.files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy(PolicyCommand::Test { dir }) => {
            let snapshot = policy::build(&dir, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
            let outcomes = testing::run(&dir, &snapshot)?;
            println!("{}", testing::report(&outcomes));
            Ok(if outcomes.iter().all(|o| o.passed) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plugin(PluginCommand::Test {
            plugin,
            hook,
            input,
        }) => plugin_test(&plugin, hook, &input),
        Command::Authorize {
            data,
            policies,
            principal,
            action,
            resource,
            context,
            entities,
        } => {
            let plugins = PluginHost::builtin()?;
            let app = server::open_app(&data, &policies, DEFAULT_CACHE_BYTES, plugins)?;
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
            // Scripts can branch on the exit code: 0 Allow, 2 Deny.
            Ok(if decision.allowed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::CheckStore { data } => {
            let store = Store::open(&data.join(server::DB_DIR), DEFAULT_CACHE_BYTES)?;
            let problems = consistency::check(&store)?;
            for problem in &problems {
                println!("{problem}");
            }
            println!("{} problems", problems.len());
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
    }
}

fn plugin_test(
    path: &std::path::Path,
    hook: Hook,
    input: &std::path::Path,
) -> anyhow::Result<ExitCode> {
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
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Plugin(failure)) => {
            println!(
                "{} failed in hook {hook}: {}: {}",
                failure.plugin, failure.kind, failure.message
            );
            print_logs(&failure.logs);
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
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
