//! Wasm plugins over HTTP: status, the dry-run call, hot reload and a
//! misbehaving plugin dropped into a running server.

use std::time::Duration;

use serde_json::{json, Value};
use warden_e2e::Server;

const ACME: &str = "00000000-0000-0000-0000-00000000acc0";
const ACME_DEFAULT_WS: &str = "00000000-0000-0000-0000-00000000acc1";
const DEFAULT_PLUGINS: [&str; 3] = [
    "plugins/domain-autojoin",
    "plugins/seat-billing",
    "plugins/usage-pricing",
];
/// How long the watcher may take to notice a change and reload.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

fn autojoin_call(email: &str) -> Value {
    json!({
        "hook": "autojoin",
        "input": {
            "email": email,
            "candidates": [{
                "org_id": ACME,
                "plan": "pro",
                "verified_domains": ["acme.com"],
                "default_workspace": ACME_DEFAULT_WS,
                "seats_used": 3,
                "seat_limit": 10,
                "autojoin_role": "member"
            }]
        }
    })
}

fn plugin<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or(&Value::Null)
}

fn served_by(status: &Value, hook: &str) -> Value {
    let hooks = status["hooks"].as_array().unwrap();
    hooks.iter().find(|h| h["hook"] == hook).unwrap()["served_by"].clone()
}

#[test]
fn lists_plugins_and_who_serves_each_hook() {
    let server = Server::start_with_plugins(&DEFAULT_PLUGINS);
    let status = server.get("/v1/plugins").expect(200);
    for (name, hook) in [
        ("domain-autojoin", "autojoin"),
        ("seat-billing", "seat-billing"),
        ("usage-pricing", "usage-pricing"),
    ] {
        let p = plugin(&status, name);
        assert_eq!(p["state"], "active", "{p}");
        assert_eq!(p["version"], "0.1.0");
        assert_eq!(p["hooks"], json!([hook]));
        assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(p["last_error"], Value::Null);
        assert_eq!(served_by(&status, hook), json!(name));
    }
}

#[test]
fn the_dry_run_call_returns_the_answer_record() {
    let server = Server::start_with_plugins(&DEFAULT_PLUGINS);
    let answer = server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(200);
    assert_eq!(answer["plugin"], "domain-autojoin");
    assert_eq!(answer["hook"], "autojoin");
    assert_eq!(
        answer["output"]["join"],
        json!({"org_id": ACME, "workspace_ids": [ACME_DEFAULT_WS], "role": "member"})
    );
    assert_eq!(answer["logs"][0]["level"], "info");
    assert!(answer["fuel_used"].as_u64().unwrap() > 0);
    assert_eq!(answer["input"]["email"], "ann@acme.com");

    let guarded = server
        .post("/v1/plugins/call", autojoin_call("ann@gmail.com"))
        .expect(200);
    assert_eq!(guarded["plugin"], "host-guard");
    assert_eq!(guarded["output"]["join"], Value::Null);

    let status = server.get("/v1/plugins").expect(200);
    assert_eq!(plugin(&status, "domain-autojoin")["calls"], 1);

    let bad_hook = server
        .post(
            "/v1/plugins/call",
            json!({"hook": "on-signup", "input": {}}),
        )
        .expect(400);
    assert_eq!(bad_hook["error"]["code"], "invalid_request");
    let mut bad_input = autojoin_call("ann@acme.com");
    bad_input["input"]["candidates"][0]["plan"] = json!("platinum");
    let bad_input = server.post("/v1/plugins/call", bad_input).expect(400);
    assert_eq!(bad_input["error"]["field"], "input.candidates[0].plan");
}

#[test]
fn a_misbehaving_plugin_dropped_in_fails_502_with_its_logs_and_the_server_keeps_serving() {
    // An empty config file, so that `[plugin_hooks]` can be edited later.
    let server = Server::start_configured(&[], &[], Some(""));
    let builtin = server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(200);
    assert_eq!(builtin["plugin"], "builtin");

    server.drop_in_plugin("tests/plugins/trap");
    let loaded = server.wait_for(RELOAD_TIMEOUT, |s| {
        plugin(&s.get("/v1/plugins").body, "trap")["state"] == "active"
    });
    assert!(loaded, "the watcher loaded the dropped-in plugin");
    let failed = server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(502);
    let error = &failed["error"];
    assert_eq!(error["code"], "plugin_failed");
    assert_eq!(error["plugin"], "trap");
    assert_eq!(error["hook"], "autojoin");
    assert_eq!(error["kind"], "trap");
    assert_eq!(
        error["logs"],
        json!([{"level": "warn", "message": "trap plugin: about to panic in autojoin"}])
    );

    // Still serving: health, other hooks, and the same hook again.
    assert_eq!(server.get("/healthz").expect(200)["status"], "ok");
    let run = json!({"hook": "usage-pricing", "input": {
        "org_id": ACME, "workspace_id": ACME_DEFAULT_WS, "flow_id": ACME, "run_id": ACME,
        "requested_credits": 9, "duration_ms": 5, "steps": 1}});
    assert_eq!(
        server.post("/v1/plugins/call", run).expect(200)["output"]["credits"],
        9
    );
    server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(502);
    let status = server.get("/v1/plugins").expect(200);
    assert_eq!(plugin(&status, "trap")["failures"], 2);

    // A plugin that goes away leaves its hook failing closed, not served
    // by the built-in rule, until the config chooses that rule.
    std::fs::remove_dir_all(server.plugins_dir().join("trap")).unwrap();
    let removed = server.wait_for(RELOAD_TIMEOUT, |s| {
        served_by(&s.get("/v1/plugins").body, "autojoin").is_null()
    });
    assert!(removed, "the watcher noticed the removed plugin");
    let gone = server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(503);
    assert_eq!(gone["error"]["code"], "plugin_unavailable");
    assert!(
        gone["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plugin trap served hook autojoin and its files are gone"),
        "{gone}"
    );
    std::fs::write(
        server.config_file(),
        "[plugin_hooks]\nautojoin = \"builtin\"\nseat-billing = \"builtin\"\n",
    )
    .unwrap();
    let reloaded = server.post("/v1/plugins/reload", json!({})).expect(200);
    assert_eq!(served_by(&reloaded, "autojoin"), "builtin");
    server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(200);
}

#[test]
fn a_plugin_that_fails_to_load_fails_its_hooks_closed() {
    let server = Server::start_configured(&[], &[], None);
    let staging = server.data_dir().join("broken-autojoin");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(
        staging.join("plugin.toml"),
        "name = \"broken-autojoin\"\nversion = \"0.1.0\"\ncomponent = \"broken.wasm\"\nhooks = [\"autojoin\"]\n",
    )
    .unwrap();
    std::fs::write(staging.join("broken.wasm"), b"not wasm").unwrap();
    std::fs::rename(&staging, server.plugins_dir().join("broken-autojoin")).unwrap();

    let rejected = server.post("/v1/plugins/reload", json!({})).expect(422);
    assert_eq!(rejected["error"]["code"], "plugins_rejected");
    let status = server.get("/v1/plugins").expect(200);
    assert!(served_by(&status, "autojoin").is_null(), "{status}");
    assert_eq!(served_by(&status, "seat-billing"), "builtin");
    let failed = server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(503);
    assert_eq!(failed["error"]["code"], "plugin_unavailable");
    assert_eq!(failed["error"]["plugin"], "broken-autojoin");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plugin broken-autojoin failed to load"),
        "{failed}"
    );
    // A sign-up, which asks the hook, fails closed and creates no user.
    let signup = server.post("/v1/signup", json!({"email": "ann@acme.com"}));
    assert_eq!(signup.status, 503, "{}", signup.body);
    server
        .post("/v1/users", json!({"email": "ann@acme.com"}))
        .expect(201);
}

#[test]
fn a_broken_update_is_reported_and_the_previous_version_keeps_serving() {
    let server = Server::start_with_plugins(&["plugins/domain-autojoin"]);
    let before = server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(200);
    std::fs::write(
        server
            .plugins_dir()
            .join("domain-autojoin/domain-autojoin.wasm"),
        b"not wasm",
    )
    .unwrap();

    let rejected = server.post("/v1/plugins/reload", json!({})).expect(422);
    assert_eq!(rejected["error"]["code"], "plugins_rejected");
    let problem = &rejected["error"]["problems"][0];
    assert_eq!(problem["plugin"], "domain-autojoin");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("keeps serving"),
        "{problem}"
    );

    let status = server.get("/v1/plugins").expect(200);
    let p = plugin(&status, "domain-autojoin");
    assert_eq!(p["state"], "failed");
    assert!(
        p["last_error"]
            .as_str()
            .unwrap()
            .contains("not a valid WebAssembly component"),
        "{p}"
    );
    let after = server
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(200);
    assert_eq!(after["sha256"], before["sha256"]);
}

#[test]
fn warden_toml_chooses_between_two_plugins_on_one_hook() {
    let plugins = [
        "plugins/domain-autojoin",
        "tests/plugins/autojoin-guest-role",
    ];
    let conflicted = Server::start_configured(&[], &plugins, None);
    let error = conflicted
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(503);
    assert_eq!(error["error"]["code"], "plugin_unavailable");
    assert_eq!(error["error"]["kind"], "conflict");
    let status = conflicted.get("/v1/plugins").expect(200);
    let hook = status["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hook"] == "autojoin")
        .unwrap();
    assert!(
        hook["error"]
            .as_str()
            .unwrap()
            .contains("[plugin_hooks] autojoin"),
        "{hook}"
    );

    let config = "[plugin_hooks]\nautojoin = \"autojoin-guest-role\"\n";
    let chosen = Server::start_configured(&[], &plugins, Some(config));
    let answer = chosen
        .post("/v1/plugins/call", autojoin_call("ann@acme.com"))
        .expect(200);
    assert_eq!(answer["plugin"], "autojoin-guest-role");
    assert_eq!(answer["output"]["join"]["role"], "guest_internal");
    let status = chosen.get("/v1/plugins").expect(200);
    assert_eq!(plugin(&status, "domain-autojoin")["state"], "inactive");
}
