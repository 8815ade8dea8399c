//! Server configuration: command-line flags, `WARDEN_*` environment
//! variables and an optional `warden.toml`, in that order of precedence.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::command::domain::dns;
use crate::command::DEFAULT_INVITATION_TTL;
use crate::http::decision_log;
use crate::http::{
    ConnectionLimits, HttpLimits, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_BATCH,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT,
};
use crate::plugin::{self, HookPins};
use crate::store::{StoreLocation, DEFAULT_CACHE_BYTES};

/// The config file read when none is named, if it exists.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "warden.toml";
/// The address `warden serve` listens on unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8180";
/// The longest `invitation_ttl` accepted: invitations outliving a year are
/// a mistake, and `now + ttl` must stay a valid time.
pub const MAX_INVITATION_TTL: time::Duration = time::Duration::days(366);
/// The longest `header_timeout` or `request_timeout` accepted.
pub const MAX_CONNECTION_TIMEOUT: time::Duration = time::Duration::hours(1);

/// Settings as given by one source; unset fields fall through to the next.
#[derive(Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Data directory (database, admin token) [default: ./data]
    #[arg(long, env = "WARDEN_DATA")]
    pub data: Option<PathBuf>,
    /// Database: a postgres:// URL, which several servers may share
    /// [default: an embedded database in <data>/db, for one process]
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, env = "WARDEN_STORE")]
    pub store: Option<String>,
    /// Policy directory (schema.cedarschema, *.cedar) [default: ./policies]
    #[arg(long, env = "WARDEN_POLICIES")]
    pub policies: Option<PathBuf>,
    /// Plugin directory [default: ./plugins]
    #[arg(long, env = "WARDEN_PLUGINS")]
    pub plugins: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8180]
    #[arg(long, env = "WARDEN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Largest request body in bytes [default: 1048576]
    #[arg(long, env = "WARDEN_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most checks in one batch [default: 100]
    #[arg(long, env = "WARDEN_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// Database page cache in bytes [default: 268435456]
    #[arg(long, env = "WARDEN_CACHE_BYTES")]
    pub cache_bytes: Option<u64>,
    /// How long invitations stay valid: seconds, or a number with s, m, h
    /// or d (`36h`) [default: 7d]
    #[arg(long, env = "WARDEN_INVITATION_TTL")]
    pub invitation_ttl: Option<String>,
    /// Most connections open at once; one more is closed at once [default: 512]
    #[arg(long, env = "WARDEN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Time a client has to send a request's headers, which is also the
    /// longest a kept-alive connection may wait idle: seconds, or a number
    /// with s, m, h or d [default: 10s]
    #[arg(long, env = "WARDEN_HEADER_TIMEOUT")]
    pub header_timeout: Option<String>,
    /// Time a request has from its headers to its answer, its body
    /// included: seconds, or a number with s, m, h or d [default: 30s]
    #[arg(long, env = "WARDEN_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// File holding the 256-bit key that encrypts credential secrets, as 64
    /// hex digits [default: <data>/credential.key, generated on first start]
    // The text is also `--help`'s, where `<data>` is no HTML tag.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, env = "WARDEN_CREDENTIAL_KEY_FILE")]
    pub credential_key_file: Option<PathBuf>,
    /// The DNS resolver (`ip:port`) that checks domain claims' TXT records
    /// [default: the first nameserver of /etc/resolv.conf]
    #[arg(long, env = "WARDEN_DNS_RESOLVER")]
    pub dns_resolver: Option<SocketAddr>,
    /// Decision log: `stdout`, or a file, rotated at
    /// `decision_log_max_bytes` [default: off]
    #[arg(long, env = "WARDEN_DECISION_LOG")]
    pub decision_log: Option<String>,
    /// Share of decisions the decision log keeps, in (0, 1] [default: 1]
    #[arg(long, env = "WARDEN_DECISION_LOG_SAMPLE_RATE")]
    pub decision_log_sample_rate: Option<f64>,
    /// Size in bytes at which the decision log file is rotated [default: 104857600]
    #[arg(long, env = "WARDEN_DECISION_LOG_MAX_BYTES")]
    pub decision_log_max_bytes: Option<u64>,
    /// Rotated decision log files kept (`<file>.1` …) [default: 5]
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, env = "WARDEN_DECISION_LOG_FILES")]
    pub decision_log_files: Option<usize>,
    /// Config file only: `[plugin_hooks]`, hook name → the plugin that
    /// serves it (or "builtin"), for hooks that several plugins declare.
    #[arg(skip)]
    pub plugin_hooks: Option<BTreeMap<String, String>>,
}

/// The resolved configuration of `warden serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub(crate) data: PathBuf,
    pub(crate) store: StoreLocation,
    pub(crate) policies: PathBuf,
    pub(crate) plugins: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) limits: HttpLimits,
    pub(crate) connections: ConnectionLimits,
    pub(crate) cache_bytes: u64,
    pub(crate) plugin_hooks: HookPins,
    /// The config file read, if any: `[plugin_hooks]` is read again from
    /// it at every plugin reload.
    pub(crate) file: Option<PathBuf>,
    pub(crate) invitation_ttl: time::Duration,
    pub(crate) credential_key_file: Option<PathBuf>,
    /// None when none is configured and the system lists none.
    pub(crate) dns_resolver: Option<SocketAddr>,
    /// None: decisions are not logged.
    pub(crate) decision_log: Option<decision_log::Settings>,
}

impl ServeConfig {
    /// Merges flags/env over the config file (`file`, or `./warden.toml` if
    /// it exists) over the defaults.
    pub fn resolve(given: Settings, file: Option<&Path>) -> anyhow::Result<ServeConfig> {
        let file = match file {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|path| path.exists()),
        };
        let from_file = match &file {
            Some(path) => read_file(path)?,
            None => Settings::default(),
        };
        let decision_log = decision_log_settings(&given, &from_file)?;
        let limits = HttpLimits {
            max_body_bytes: given
                .max_body_bytes
                .or(from_file.max_body_bytes)
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
            max_batch: given
                .max_batch
                .or(from_file.max_batch)
                .unwrap_or(DEFAULT_MAX_BATCH),
        };
        anyhow::ensure!(limits.max_body_bytes > 0, "max_body_bytes must be positive");
        anyhow::ensure!(limits.max_batch > 0, "max_batch must be positive");
        let invitation_ttl = duration_setting(
            "invitation_ttl",
            given.invitation_ttl.or(from_file.invitation_ttl),
            DEFAULT_INVITATION_TTL,
            MAX_INVITATION_TTL,
        )?;
        let connections = ConnectionLimits {
            max_connections: given
                .max_connections
                .or(from_file.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
            header_timeout: duration_setting(
                "header_timeout",
                given.header_timeout.or(from_file.header_timeout),
                DEFAULT_HEADER_TIMEOUT.try_into()?,
                MAX_CONNECTION_TIMEOUT,
            )?
            .try_into()?,
            request_timeout: duration_setting(
                "request_timeout",
                given.request_timeout.or(from_file.request_timeout),
                DEFAULT_REQUEST_TIMEOUT.try_into()?,
                MAX_CONNECTION_TIMEOUT,
            )?
            .try_into()?,
        };
        anyhow::ensure!(
            connections.max_connections > 0,
            "max_connections must be positive"
        );
        let plugin_hooks = plugin::parse_pins(&from_file.plugin_hooks.unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("invalid config file: {e}"))?;
        let data: PathBuf = given
            .data
            .or(from_file.data)
            .unwrap_or_else(|| "data".into());
        Ok(ServeConfig {
            store: match given.store.or(from_file.store) {
                Some(text) => StoreLocation::parse(&text)?,
                None => StoreLocation::in_data_dir(&data),
            },
            data,
            policies: given
                .policies
                .or(from_file.policies)
                .unwrap_or_else(|| "policies".into()),
            plugins: given
                .plugins
                .or(from_file.plugins)
                .unwrap_or_else(|| "plugins".into()),
            listen: match given.listen.or(from_file.listen) {
                Some(addr) => addr,
                None => DEFAULT_LISTEN.parse().expect("valid default address"),
            },
            limits,
            connections,
            cache_bytes: given
                .cache_bytes
                .or(from_file.cache_bytes)
                .unwrap_or(DEFAULT_CACHE_BYTES),
            plugin_hooks,
            file,
            invitation_ttl,
            credential_key_file: given.credential_key_file.or(from_file.credential_key_file),
            dns_resolver: given
                .dns_resolver
                .or(from_file.dns_resolver)
                .or_else(dns::system_resolver),
            decision_log,
        })
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// Where the database is.
    pub fn store(&self) -> &StoreLocation {
        &self.store
    }
}

/// The decision log's settings, or `None` when it is off.
fn decision_log_settings(
    given: &Settings,
    file: &Settings,
) -> anyhow::Result<Option<decision_log::Settings>> {
    let target = given.decision_log.as_ref().or(file.decision_log.as_ref());
    let sample_rate = given
        .decision_log_sample_rate
        .or(file.decision_log_sample_rate)
        .unwrap_or(1.0);
    let max_bytes = given
        .decision_log_max_bytes
        .or(file.decision_log_max_bytes)
        .unwrap_or(decision_log::DEFAULT_MAX_FILE_BYTES);
    let kept = given
        .decision_log_files
        .or(file.decision_log_files)
        .unwrap_or(decision_log::DEFAULT_KEPT_FILES);
    anyhow::ensure!(
        sample_rate > 0.0 && sample_rate <= 1.0,
        "decision_log_sample_rate {sample_rate} is not in (0, 1]"
    );
    anyhow::ensure!(
        max_bytes >= decision_log::MIN_MAX_FILE_BYTES,
        "decision_log_max_bytes {max_bytes} is below the least accepted, {}",
        decision_log::MIN_MAX_FILE_BYTES
    );
    anyhow::ensure!(
        kept <= decision_log::MAX_KEPT_FILES,
        "decision_log_files {kept} is above the most accepted, {}",
        decision_log::MAX_KEPT_FILES
    );
    let target = match target.map(|t| t.trim()) {
        None => return Ok(None),
        Some("") => anyhow::bail!("decision_log is empty: give `stdout` or a file"),
        Some("stdout") => decision_log::Target::Stdout,
        Some(path) => decision_log::Target::File {
            path: path.into(),
            max_bytes,
            kept,
        },
    };
    Ok(Some(decision_log::Settings {
        target,
        sample_rate,
    }))
}

/// The duration setting `name` as given, or `default`; at most `max`.
fn duration_setting(
    name: &str,
    given: Option<String>,
    default: time::Duration,
    max: time::Duration,
) -> anyhow::Result<time::Duration> {
    let Some(text) = given else {
        return Ok(default);
    };
    let duration = parse_duration(&text).ok_or_else(|| {
        anyhow::anyhow!("{name} {text:?} is not a positive duration like 3600, 90m, 36h or 7d")
    })?;
    anyhow::ensure!(
        duration <= max,
        "{name} {text:?} is longer than the most accepted, {max}"
    );
    Ok(duration)
}

/// A positive duration: whole seconds, or a whole number followed by s, m, h or d.
fn parse_duration(text: &str) -> Option<time::Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (at, c) if c.is_ascii_alphabetic() => (&text[..at], c),
        _ => (text, 's'),
    };
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let seconds = number.parse::<i64>().ok()?.checked_mul(seconds_per_unit)?;
    (seconds > 0).then(|| time::Duration::seconds(seconds))
}

/// `[plugin_hooks]` of the config file at `path` as it is now.
pub fn plugin_hooks(path: &Path) -> Result<HookPins, String> {
    let settings = read_file(path).map_err(|e| format!("{e:#}"))?;
    plugin::parse_pins(&settings.plugin_hooks.unwrap_or_default())
        .map_err(|e| format!("invalid config file {}: {e}", path.display()))
}

fn read_file(path: &Path) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let file =
            config_file("data = \"/srv/warden\"\nlisten = \"0.0.0.0:9000\"\nmax_batch = 10\n");
        let given = Settings {
            listen: Some("127.0.0.1:1234".parse().unwrap()),
            ..Settings::default()
        };
        let config = ServeConfig::resolve(given, Some(file.path())).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:1234");
        assert_eq!(config.data, PathBuf::from("/srv/warden"));
        assert_eq!(config.limits.max_batch, 10);
        assert_eq!(config.limits.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(config.policies, PathBuf::from("policies"));
    }

    #[test]
    fn the_decision_log_is_off_unless_named_and_its_bounds_are_checked() {
        let resolve =
            |text: &str| ServeConfig::resolve(Settings::default(), Some(config_file(text).path()));
        assert_eq!(resolve("").unwrap().decision_log, None);
        let file = resolve("decision_log = \"/var/log/d.log\"\ndecision_log_files = 2\n").unwrap();
        assert_eq!(
            file.decision_log.unwrap(),
            decision_log::Settings {
                target: decision_log::Target::File {
                    path: "/var/log/d.log".into(),
                    max_bytes: decision_log::DEFAULT_MAX_FILE_BYTES,
                    kept: 2,
                },
                sample_rate: 1.0,
            }
        );
        let stdout = resolve("decision_log = \"stdout\"\n").unwrap();
        assert_eq!(
            stdout.decision_log.unwrap().target,
            decision_log::Target::Stdout
        );
        for (bad, named) in [
            ("decision_log = \"\"", "decision_log"),
            ("decision_log_sample_rate = 0.0", "decision_log_sample_rate"),
            ("decision_log_sample_rate = 1.5", "decision_log_sample_rate"),
            ("decision_log_max_bytes = 10", "decision_log_max_bytes"),
            ("decision_log_files = 1000", "decision_log_files"),
        ] {
            let error = resolve(bad).unwrap_err();
            assert!(format!("{error:#}").contains(named), "{bad}: {error:#}");
        }
    }

    #[test]
    fn the_dns_resolver_is_configurable() {
        let file = config_file("dns_resolver = \"127.0.0.1:5353\"\n");
        let config = ServeConfig::resolve(Settings::default(), Some(file.path())).unwrap();
        assert_eq!(config.dns_resolver, Some("127.0.0.1:5353".parse().unwrap()));
        let file = config_file("dns_resolver = \"not an address\"\n");
        let error = ServeConfig::resolve(Settings::default(), Some(file.path())).unwrap_err();
        assert!(format!("{error:#}").contains("dns_resolver"), "{error:#}");
    }

    #[test]
    fn invitation_ttls_read_as_durations() {
        assert_eq!(parse_duration("90"), Some(time::Duration::seconds(90)));
        assert_eq!(parse_duration("90m"), Some(time::Duration::minutes(90)));
        assert_eq!(parse_duration(" 7d "), Some(time::Duration::days(7)));
        for bad in ["", "0", "-5s", "7w", "d", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        let file = config_file("invitation_ttl = \"2h\"\n");
        let config = ServeConfig::resolve(Settings::default(), Some(file.path())).unwrap();
        assert_eq!(config.invitation_ttl, time::Duration::hours(2));
        let config = ServeConfig::resolve(Settings::default(), None).unwrap();
        assert_eq!(config.invitation_ttl, DEFAULT_INVITATION_TTL);
    }

    #[test]
    fn durations_past_their_bound_are_a_startup_error() {
        for (text, setting) in [
            ("invitation_ttl = \"9999999999d\"\n", "invitation_ttl"),
            ("invitation_ttl = \"367d\"\n", "invitation_ttl"),
            ("header_timeout = \"2h\"\n", "header_timeout"),
            ("request_timeout = \"99999999999999\"\n", "request_timeout"),
        ] {
            let file = config_file(text);
            let error = ServeConfig::resolve(Settings::default(), Some(file.path())).unwrap_err();
            assert!(format!("{error:#}").contains(setting), "{text}: {error:#}");
        }
    }

    #[test]
    fn an_unknown_or_zero_setting_is_an_error() {
        let file = config_file("max_bach = 10\n");
        let error = ServeConfig::resolve(Settings::default(), Some(file.path())).unwrap_err();
        assert!(format!("{error:#}").contains("max_bach"), "{error:#}");

        let file = config_file("max_batch = 0\n");
        let error = ServeConfig::resolve(Settings::default(), Some(file.path())).unwrap_err();
        assert!(error.to_string().contains("max_batch"), "{error}");
    }

    #[test]
    fn a_store_is_a_postgres_url_or_a_directory_and_nothing_else() {
        let resolve = |store: &str| {
            let file = config_file(&format!("store = {store:?}\n"));
            ServeConfig::resolve(Settings::default(), Some(file.path())).map(|c| c.store)
        };
        let url = "postgres://warden@db/warden";
        assert_eq!(resolve(url).unwrap(), StoreLocation::Postgres(url.into()));
        assert_eq!(
            resolve("/srv/db").unwrap(),
            StoreLocation::Directory("/srv/db".into())
        );
        for refused in ["", "postgre://warden@db/warden", "mysql://db"] {
            let error = resolve(refused).unwrap_err().to_string();
            assert!(
                error.contains("neither a postgres:// URL"),
                "{refused}: {error}"
            );
        }
        let default = ServeConfig::resolve(Settings::default(), Some(config_file("").path()));
        assert_eq!(
            default.unwrap().store,
            StoreLocation::in_data_dir(Path::new("data"))
        );
    }
}
