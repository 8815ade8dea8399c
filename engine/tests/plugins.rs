//! The plugin host against the real committed components: the default
//! plugins in `plugins/` and the misbehaving ones in `tests/plugins/`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;
use warden::error::Error;
use warden::plugin::types::{CandidateOrg, FlowRun, SeatEvent, Signup};
use warden::plugin::{
    parse_pins, FailureKind, Hook, HookPins, Level, PluginAnswer, PluginError, PluginHost,
    PluginState, PluginStatus, BUILTIN, HOST_GUARD,
};
use warden::store::{OrgRole, Plan};

const ACME: Uuid = Uuid::from_u128(0xacc0);
const ACME_DEFAULT_WS: Uuid = Uuid::from_u128(0xacc1);
const GLOBEX: Uuid = Uuid::from_u128(0x6e0);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A plugin source dir: a default plugin or a test plugin, by name.
fn plugin_src(name: &str) -> PathBuf {
    let default = repo().join("plugins").join(name);
    if default.join("plugin.toml").exists() {
        default
    } else {
        repo().join("tests/plugins").join(name)
    }
}

/// A temporary plugins dir holding copies of the named plugins (manifest
/// and component), plus a data dir for the artifact cache.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn with(names: &[&str]) -> Fixture {
        let fixture = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(fixture.plugins()).unwrap();
        for name in names {
            fixture.add(name);
        }
        fixture
    }

    fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    fn add(&self, name: &str) {
        let to = self.plugins().join(name);
        std::fs::create_dir_all(&to).unwrap();
        for file in ["plugin.toml".to_string(), format!("{name}.wasm")] {
            std::fs::copy(plugin_src(name).join(&file), to.join(&file)).unwrap();
        }
    }

    fn host(&self) -> PluginHost {
        self.host_with(HookPins::new())
    }

    fn host_with(&self, pins: HookPins) -> PluginHost {
        let pins = Box::new(move || Ok(pins.clone()));
        PluginHost::open(&self.plugins(), &self.dir.path().join("data"), pins).unwrap()
    }
}

fn pins(pairs: &[(&str, &str)]) -> HookPins {
    let table = pairs
        .iter()
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .collect();
    parse_pins(&table).unwrap()
}

fn acme_candidate() -> CandidateOrg {
    CandidateOrg {
        org_id: ACME,
        plan: Plan::Pro,
        verified_domains: vec!["acme.com".into()],
        default_workspace: Some(ACME_DEFAULT_WS),
        seats_used: 3,
        seat_limit: 10,
        autojoin_role: OrgRole::Member,
    }
}

fn signup(email: &str) -> Signup {
    Signup {
        email: email.into(),
        candidates: vec![acme_candidate()],
    }
}

/// A seat event in a 30-day period starting 2025-01-01, 10 days in.
fn seat(plan: Plan, seats_used: u32, seat_limit: u32, role: OrgRole) -> SeatEvent {
    SeatEvent {
        org_id: ACME,
        plan,
        seat_limit,
        seats_used,
        role,
        seat_price_cents: 1000,
        period_start: at("2025-01-01T00:00:00Z"),
        period_end: at("2025-01-31T00:00:00Z"),
        event_time: at("2025-01-11T00:00:00Z"),
    }
}

fn at(rfc3339: &str) -> OffsetDateTime {
    OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap()
}

fn flow_run(requested_credits: u64) -> FlowRun {
    FlowRun {
        org_id: ACME,
        workspace_id: ACME_DEFAULT_WS,
        flow_id: Uuid::from_u128(0xf1),
        run_id: Uuid::from_u128(0x41),
        requested_credits,
        duration_ms: 1200,
        steps: 7,
    }
}

#[track_caller]
fn plugin_error<T: std::fmt::Debug>(result: Result<T, Error>) -> PluginError {
    match result {
        Err(Error::Plugin(e)) => *e,
        other => panic!("expected a plugin failure, got {other:?}"),
    }
}

fn plugin_status<'a>(status: &'a PluginStatus, name: &str) -> &'a warden::plugin::PluginInfo {
    status
        .plugins
        .iter()
        .find(|p| p.name == name)
        .expect("plugin listed")
}

fn served_by(status: &PluginStatus, hook: Hook) -> Option<String> {
    status
        .hooks
        .iter()
        .find(|h| h.hook == hook)
        .unwrap()
        .served_by
        .clone()
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn default_autojoin_joins_the_default_workspace_as_member() {
    let host = Fixture::with(&["domain-autojoin"]).host();
    let answer = host.autojoin(&signup("Ann@Acme.com")).unwrap();
    let join = answer.output.join.as_ref().expect("joins");
    assert_eq!(join.org_id, ACME);
    assert_eq!(join.workspace_ids, [ACME_DEFAULT_WS]);
    assert_eq!(join.role, OrgRole::Member);
    assert_eq!(answer.plugin, "domain-autojoin");
    assert_eq!(answer.version, "0.1.0");
    let wasm = plugin_src("domain-autojoin").join("domain-autojoin.wasm");
    assert_eq!(answer.sha256, sha256_of(&wasm));
    assert!(answer.fuel_used > 0);
    assert_eq!(answer.logs.len(), 1);
    assert_eq!(answer.logs[0].level, Level::Info);
    assert_eq!(answer.logs[0].message, answer.output.reason);
    assert_eq!(answer.config, json!({"skip_domains": []}));
    assert_eq!(answer.input["email"], "Ann@Acme.com");
}

#[test]
fn default_autojoin_skips_orgs_without_the_domain_or_a_workspace() {
    let host = Fixture::with(&["domain-autojoin"]).host();
    let unverified = host.autojoin(&signup("bob@globex.com")).unwrap();
    assert_eq!(unverified.output.join, None);
    assert_eq!(
        unverified.output.reason,
        "no organization has verified globex.com"
    );

    let mut no_workspace = signup("ann@acme.com");
    no_workspace.candidates[0].default_workspace = None;
    let answer = host.autojoin(&no_workspace).unwrap();
    let join = answer.output.join.expect("joins the org");
    assert!(join.workspace_ids.is_empty());
}

#[test]
fn free_mail_never_auto_joins_and_no_plugin_is_called() {
    let host = Fixture::with(&["autojoin-guest-role"]).host();
    for email in ["ann@gmail.com", "bob@outlook.com", "eve@mailinator.com"] {
        let mut input = signup(email);
        // Even an org that "verified" gmail.com cannot take its users.
        input.candidates[0].verified_domains = vec![email.split('@').nth(1).unwrap().into()];
        let answer = host.autojoin(&input).unwrap();
        assert_eq!(answer.output.join, None, "{email}");
        assert_eq!(answer.plugin, HOST_GUARD);
    }
    let status = host.status();
    assert_eq!(plugin_status(&status, "autojoin-guest-role").calls, 0);
}

#[test]
fn seat_charges_are_exact_pro_rata_beyond_the_limit_of_paid_plans() {
    let host = Fixture::with(&["seat-billing"]).host();
    let charge = |event: SeatEvent| host.seat_charge(&event).unwrap();
    // 1000 cents × 20 days remaining ÷ 30 days = 666.67 → 667.
    let beyond = charge(seat(Plan::Pro, 10, 10, OrgRole::Member));
    assert_eq!(beyond.output.amount_cents, 667);
    assert_eq!(beyond.plugin, "seat-billing");
    // Exact: 1000 × 1_728_000 s ÷ 2_592_000 s, rounded half up.
    let mut late = seat(Plan::Team, 12, 10, OrgRole::GuestInternal);
    late.event_time = at("2025-01-30T12:00:00Z");
    assert_eq!(charge(late).output.amount_cents, 17); // 1000 × 43200 ÷ 2592000 = 16.67
    let mut before = seat(Plan::Pro, 10, 10, OrgRole::Admin);
    before.event_time = at("2024-12-25T00:00:00Z");
    assert_eq!(charge(before).output.amount_cents, 1000);
    let mut after = seat(Plan::Pro, 10, 10, OrgRole::Admin);
    after.event_time = at("2025-02-10T00:00:00Z");
    assert_eq!(charge(after).output.amount_cents, 0);

    for free in [
        seat(Plan::Pro, 9, 10, OrgRole::Member),
        seat(Plan::Free, 10, 10, OrgRole::Member),
        seat(Plan::Enterprise, 500, 0, OrgRole::Member),
    ] {
        assert_eq!(charge(free).output.amount_cents, 0);
    }
    let guest = charge(seat(Plan::Pro, 10, 10, OrgRole::GuestExternal));
    assert_eq!(guest.output.amount_cents, 0);
    assert_eq!(guest.plugin, HOST_GUARD);
}

#[test]
fn builtin_rules_serve_hooks_no_plugin_declares_and_match_the_plugins() {
    let builtin = Fixture::with(&[]).host();
    let plugins = Fixture::with(&["domain-autojoin", "seat-billing", "usage-pricing"]).host();
    let status = builtin.status();
    for hook in Hook::ALL {
        assert_eq!(served_by(&status, hook).as_deref(), Some(BUILTIN));
    }
    let joined = builtin.autojoin(&signup("ann@acme.com")).unwrap();
    assert_eq!(joined.plugin, BUILTIN);
    assert_eq!(joined.sha256, BUILTIN);
    assert_eq!(
        joined.output,
        plugins.autojoin(&signup("ann@acme.com")).unwrap().output
    );
    for event in [
        seat(Plan::Pro, 10, 10, OrgRole::Member),
        seat(Plan::Free, 10, 10, OrgRole::Member),
        seat(Plan::Team, 3, 10, OrgRole::Member),
    ] {
        let ours = builtin.seat_charge(&event).unwrap();
        assert_eq!(ours.plugin, BUILTIN);
        assert_eq!(ours.output, plugins.seat_charge(&event).unwrap().output);
    }
    let price = builtin.price_run(&flow_run(42)).unwrap();
    assert_eq!(price.output.credits, 42);
    assert_eq!(
        price.output,
        plugins.price_run(&flow_run(42)).unwrap().output
    );
}

#[test]
fn a_looping_plugin_is_stopped_and_the_next_call_works() {
    let fixture = Fixture::with(&["loop-forever", "seat-billing"]);
    let host = fixture.host_with(pins(&[("seat-billing", "seat-billing")]));
    for _ in 0..2 {
        let error = plugin_error(host.autojoin(&signup("ann@acme.com")));
        assert_eq!(error.plugin, "loop-forever");
        assert_eq!(error.hook, Hook::Autojoin.name());
        assert!(
            matches!(error.kind, FailureKind::OutOfFuel | FailureKind::Timeout),
            "{error}"
        );
        let charge = host.seat_charge(&seat(Plan::Pro, 10, 10, OrgRole::Member));
        assert_eq!(charge.unwrap().output.amount_cents, 667);
    }
    let status = host.status();
    let looping = plugin_status(&status, "loop-forever");
    assert_eq!((looping.calls, looping.failures), (2, 2));
    assert_eq!(looping.serving, [Hook::Autojoin]);
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let host = Fixture::with(&["memory-bomb"]).host();
    let error = plugin_error(host.seat_charge(&seat(Plan::Pro, 10, 10, OrgRole::Member)));
    assert_eq!(error.kind, FailureKind::Memory, "{error}");
    assert!(error.message.contains("limits.memory_bytes"), "{error}");
}

#[test]
fn a_trap_is_reported_with_its_log_lines() {
    let host = Fixture::with(&["trap"]).host();
    let error = plugin_error(host.autojoin(&signup("ann@acme.com")));
    assert_eq!(error.kind, FailureKind::Trap);
    assert!(error.message.contains("unreachable"), "{error}");
    assert_eq!(error.logs.len(), 1);
    assert_eq!(error.logs[0].level, Level::Warn);
    assert_eq!(
        error.logs[0].message,
        "trap plugin: about to panic in autojoin"
    );
    let error = plugin_error(host.seat_charge(&seat(Plan::Pro, 10, 10, OrgRole::Member)));
    assert_eq!(
        error.logs[0].message,
        "trap plugin: about to panic in seat-billing"
    );
}

#[test]
fn garbage_output_is_refused_by_the_host_guards() {
    let host = Fixture::with(&["garbage-output"]).host();
    let error = plugin_error(host.autojoin(&signup("ann@acme.com")));
    assert_eq!(error.kind, FailureKind::InvalidOutput);
    assert!(
        error.message.contains("org-that-was-not-a-candidate"),
        "{error}"
    );
    let error = plugin_error(host.seat_charge(&seat(Plan::Pro, 10, 10, OrgRole::Member)));
    assert_eq!(error.kind, FailureKind::InvalidOutput);
    assert!(error.message.contains("above the seat price"), "{error}");
}

#[test]
fn huge_output_is_refused() {
    let host = Fixture::with(&["huge-output"]).host();
    let error = plugin_error(host.autojoin(&signup("ann@acme.com")));
    assert_eq!(error.kind, FailureKind::OutputTooLarge, "{error}");
    assert!(error.message.contains("limits.max_output_bytes"), "{error}");
    // Refused while the host copied it: the 10 MiB were never held.
    assert!(error.message.contains("stopped while copying"), "{error}");
}

#[test]
fn a_component_for_another_abi_version_is_refused_naming_both() {
    let fixture = Fixture::with(&["wrong-abi"]);
    let host = fixture.host();
    let rejected = host.reload().unwrap_err();
    let message = rejected.to_string();
    assert!(
        message.contains("warden:plugin/autojoin@0.2.0"),
        "{message}"
    );
    assert!(message.contains("warden:plugin@0.1.0"), "{message}");
    let status = host.status();
    let wrong = plugin_status(&status, "wrong-abi");
    assert_eq!(wrong.state, PluginState::Failed);
    assert_eq!(wrong.version, None);
    // Nothing loaded, and the hook it declares fails closed rather than
    // falling back to the built-in rule.
    assert_eq!(served_by(&status, Hook::Autojoin), None);
    let error = plugin_error(host.autojoin(&signup("ann@acme.com")));
    assert_eq!(error.kind, FailureKind::Unavailable, "{error}");
    assert!(
        error.message.contains("wrong-abi failed to load"),
        "{error}"
    );
}

#[test]
fn a_failed_reload_keeps_the_previous_version_serving() {
    let fixture = Fixture::with(&["domain-autojoin"]);
    let host = fixture.host();
    let before = host.autojoin(&signup("ann@acme.com")).unwrap();
    let wasm = fixture
        .plugins()
        .join("domain-autojoin/domain-autojoin.wasm");
    std::fs::write(&wasm, b"\0asm garbage, not a component").unwrap();

    let rejected = host.reload().unwrap_err();
    assert!(
        rejected
            .to_string()
            .contains("not a valid WebAssembly component"),
        "{rejected}"
    );
    let status = host.status();
    let plugin = plugin_status(&status, "domain-autojoin");
    assert_eq!(plugin.state, PluginState::Failed);
    assert!(plugin
        .last_error
        .as_deref()
        .unwrap()
        .contains("domain-autojoin.wasm"));
    assert_eq!(plugin.sha256.as_deref(), Some(before.sha256.as_str()));
    assert_eq!(
        served_by(&status, Hook::Autojoin).as_deref(),
        Some("domain-autojoin")
    );
    let after = host.autojoin(&signup("ann@acme.com")).unwrap();
    assert_eq!(
        (after.plugin.as_str(), &after.sha256),
        ("domain-autojoin", &before.sha256)
    );

    // A good component again: loaded, error cleared.
    std::fs::copy(
        plugin_src("domain-autojoin").join("domain-autojoin.wasm"),
        &wasm,
    )
    .unwrap();
    let status = host.reload().unwrap();
    assert_eq!(
        plugin_status(&status, "domain-autojoin").state,
        PluginState::Active
    );
}

#[test]
fn two_plugins_on_one_hook_conflict_until_the_config_chooses() {
    let fixture = Fixture::with(&["domain-autojoin", "autojoin-guest-role"]);
    let host = fixture.host();
    let error = plugin_error(host.autojoin(&signup("ann@acme.com")));
    assert_eq!(error.kind, FailureKind::Conflict);
    assert!(error.message.contains("[plugin_hooks] autojoin"), "{error}");
    let status = host.status();
    assert_eq!(served_by(&status, Hook::Autojoin), None);
    assert!(host
        .reload()
        .unwrap_err()
        .to_string()
        .contains("autojoin-guest-role, domain-autojoin"));

    let host = fixture.host_with(pins(&[("autojoin", "autojoin-guest-role")]));
    let answer = host.autojoin(&signup("ann@acme.com")).unwrap();
    assert_eq!(answer.plugin, "autojoin-guest-role");
    assert_eq!(answer.output.join.unwrap().role, OrgRole::GuestInternal);
    let status = host.status();
    assert_eq!(
        plugin_status(&status, "domain-autojoin").state,
        PluginState::Inactive
    );
    assert_eq!(
        plugin_status(&status, "autojoin-guest-role").state,
        PluginState::Active
    );

    let host = fixture.host_with(pins(&[("autojoin", "builtin")]));
    assert_eq!(
        host.autojoin(&signup("ann@acme.com")).unwrap().plugin,
        BUILTIN
    );
}

#[test]
fn a_pin_to_a_missing_plugin_fails_closed() {
    let host = Fixture::with(&["domain-autojoin"]).host_with(pins(&[("autojoin", "nope")]));
    let error = plugin_error(host.autojoin(&signup("ann@acme.com")));
    assert_eq!(error.kind, FailureKind::Unavailable);
    assert!(error.message.contains("no such plugin"), "{error}");
    assert!(parse_pins(&[("on-signup".into(), "x".into())].into()).is_err());
}

#[test]
fn bad_input_is_a_client_error_not_a_plugin_failure() {
    let host = Fixture::with(&["domain-autojoin"]).host();
    let invalid = |result: Result<PluginAnswer<Value>, Error>| match result {
        Err(Error::Invalid { field, .. }) => field,
        other => panic!("expected invalid input, got {other:?}"),
    };
    let field = invalid(host.call_json(Hook::Autojoin, &json!({"email": "ann"})));
    assert_eq!(field, "input");
    let field = invalid(host.call_json(
        Hook::Autojoin,
        &json!({"email": "not-an-email", "candidates": []}),
    ));
    assert_eq!(field, "email");
    let mut event = serde_json::to_value(seat(Plan::Pro, 1, 1, OrgRole::Member)).unwrap();
    event["period_end"] = json!("2024-01-01T00:00:00Z");
    assert_eq!(
        invalid(host.call_json(Hook::SeatBilling, &event)),
        "period_end"
    );
    let run = serde_json::to_value(flow_run(u64::MAX)).unwrap();
    assert_eq!(
        invalid(host.call_json(Hook::UsagePricing, &run)),
        "requested_credits"
    );
}

#[test]
fn answers_round_trip_as_json_for_the_audit_log() {
    let host = Fixture::with(&["usage-pricing"]).host();
    let answer = host.call_json(
        Hook::UsagePricing,
        &serde_json::to_value(flow_run(5)).unwrap(),
    );
    let answer = answer.unwrap();
    assert_eq!(
        answer.output,
        json!({"credits": 5, "reason": "5 requested credits"})
    );
    let text = serde_json::to_string(&answer).unwrap();
    let back: PluginAnswer<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(back.hook, Hook::UsagePricing);
    let input: FlowRun = serde_json::from_value(back.input).unwrap();
    assert_eq!(input.requested_credits, 5);
    assert_eq!(back.logs[0].message, "run 00000000-0000-0000-0000-000000000041 of flow 00000000-0000-0000-0000-0000000000f1: 5 requested credits");
}

#[test]
fn compiled_components_are_cached_and_verified() {
    let fixture = Fixture::with(&["usage-pricing"]);
    drop(fixture.host());
    let cache = fixture
        .dir
        .path()
        .join("data")
        .join(warden::plugin::CACHE_DIR);
    let artifacts: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1);
    // A tampered artifact fails its checksum and is recompiled, not loaded.
    std::fs::write(&artifacts[0], b"tampered").unwrap();
    let host = fixture.host();
    assert_eq!(host.price_run(&flow_run(3)).unwrap().output.credits, 3);
    assert_ne!(std::fs::read(&artifacts[0]).unwrap(), b"tampered");
}

#[test]
fn guards_hold_for_every_candidate_rule() {
    let host = Fixture::with(&["autojoin-guest-role"]).host();
    // The plugin joins the first candidate; the host only passes candidates
    // that verified the domain, so globex (unverified) is never offered.
    let mut input = signup("ann@acme.com");
    input.candidates.insert(
        0,
        CandidateOrg {
            org_id: GLOBEX,
            verified_domains: vec!["globex.com".into()],
            ..acme_candidate()
        },
    );
    let answer = host.autojoin(&input).unwrap();
    assert_eq!(answer.output.join.unwrap().org_id, ACME);
}

#[test]
fn a_stand_alone_manifest_reuses_a_component_with_its_own_config() {
    let fixture = Fixture::with(&["domain-autojoin"]);
    let manifest = r#"
        name = "strict-autojoin"
        version = "1.0.0"
        component = "domain-autojoin/domain-autojoin.wasm"
        hooks = ["autojoin"]
        [config]
        skip_domains = ["ACME.com"]
    "#;
    std::fs::write(fixture.plugins().join("strict-autojoin.toml"), manifest).unwrap();
    let host = fixture.host_with(pins(&[("autojoin", "strict-autojoin")]));
    let answer = host.autojoin(&signup("ann@acme.com")).unwrap();
    assert_eq!(answer.plugin, "strict-autojoin");
    assert_eq!(answer.output.join, None);
    assert!(
        answer.output.reason.contains("skip_domains"),
        "{}",
        answer.output.reason
    );
    assert_eq!(answer.config, json!({"skip_domains": ["ACME.com"]}));
}

/// Replaces `domain-autojoin`'s component with `make(path)`'s file and
/// returns what the reload said about the plugin.
fn reload_with_component(make: impl FnOnce(&Path)) -> String {
    let fixture = Fixture::with(&["domain-autojoin"]);
    let component = fixture
        .plugins()
        .join("domain-autojoin/domain-autojoin.wasm");
    std::fs::remove_file(&component).unwrap();
    make(&component);
    // On a thread with a deadline: a loader that blocks must fail the test,
    // not hang it.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let host = fixture.host();
        let status = host.status();
        let plugin = plugin_status(&status, "domain-autojoin");
        assert_eq!(plugin.state, PluginState::Failed);
        let _ = done.send(plugin.last_error.clone().unwrap());
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the loader answers without blocking")
}

#[cfg(unix)]
#[test]
fn the_loader_reads_only_regular_files_inside_the_plugin_directory() {
    let fifo = reload_with_component(|path| {
        let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path and a mode.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    });
    assert!(fifo.contains("not a regular file"), "{fifo}");

    let device = reload_with_component(|path| {
        std::os::unix::fs::symlink("/dev/zero", path).unwrap();
    });
    assert!(device.contains("outside the plugin directory"), "{device}");

    let outside = tempfile::tempdir().unwrap();
    let elsewhere = outside.path().join("component.wasm");
    std::fs::copy(
        plugin_src("domain-autojoin").join("domain-autojoin.wasm"),
        &elsewhere,
    )
    .unwrap();
    let escaped = reload_with_component(|path| {
        std::os::unix::fs::symlink(&elsewhere, path).unwrap();
    });
    assert!(
        escaped.contains("outside the plugin directory"),
        "{escaped}"
    );
}
