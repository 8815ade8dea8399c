//! Sign-up with domain-based auto-join through the real autojoin plugin,
//! its host guards, a failing plugin, and replaying a recorded decision.

use std::process::Command;

use serde_json::{json, Value};
use warden_e2e::{repo_root, warden_bin, Server};

const AUTOJOIN: &str = "plugins/domain-autojoin";

/// Acme (pro, acme.com verified) with an admin; returns (org, default workspace).
fn acme(server: &Server) -> (String, String) {
    let admin = server.user("root@acme.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "verified_domains": ["acme.com"], "admin": admin}),
        )
        .expect(201);
    let id = org["id"].as_str().unwrap().to_string();
    (id, org["default_workspace"].as_str().unwrap().to_string())
}

fn signup(server: &Server, email: &str) -> (u16, Value) {
    let answer = server.post("/v1/signup", json!({ "email": email }));
    (answer.status, answer.body)
}

fn members(server: &Server, org: &str) -> Vec<Value> {
    let body = server.get(&format!("/v1/orgs/{org}/members")).expect(200);
    body["items"].as_array().unwrap().clone()
}

/// The newest audit record of `org` that consulted a plugin.
fn newest_plugin_audit(server: &Server, org: &str) -> Value {
    let body = server.get(&format!("/v1/orgs/{org}/audit")).expect(200);
    let items = body
        .get("items")
        .unwrap_or(&body)
        .as_array()
        .unwrap()
        .clone();
    items
        .into_iter()
        .find(|r| r.get("plugins").is_some())
        .expect("a record with plugin answers")
}

#[test]
fn company_domain_users_join_the_org_and_its_default_workspace() {
    let server = Server::start_with_plugins(&[AUTOJOIN]);
    let (org, workspace) = acme(&server);

    let (status, ann) = signup(&server, "  Ann@ACME.com ");
    assert_eq!(status, 201, "{ann}");
    assert_eq!(ann["user"]["email"], "ann@acme.com");
    assert_eq!(ann["created"], true);
    assert_eq!(ann["decided_by"], "domain-autojoin");
    assert_eq!(
        ann["joined"],
        json!({"org": org, "role": "member", "workspaces": [workspace]})
    );
    assert!(
        ann["reason"].as_str().unwrap().contains("acme.com"),
        "{ann}"
    );

    let ann_id = ann["user"]["id"].as_str().unwrap();
    let member = members(&server, &org)
        .into_iter()
        .find(|m| m["user"] == ann_id)
        .expect("Ann is a member");
    assert_eq!(member["role"], "member");
    let check = server.check(ann_id, "CreateWorkspace", "Org", &org);
    assert_eq!(check["decision"], "Allow", "{check}");
    let members_of_default = server
        .get(&format!("/v1/workspaces/{workspace}/members"))
        .expect(200);
    assert!(
        members_of_default.to_string().contains(ann_id),
        "{members_of_default}"
    );

    // Signing up again finds the same user and changes nothing.
    let (status, again) = signup(&server, "ann@acme.com");
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["created"], false);
    assert_eq!(again["user"]["id"], ann_id);
    assert_eq!(again["joined"], Value::Null);
    assert!(
        again["reason"]
            .as_str()
            .unwrap()
            .contains("already a member"),
        "{again}"
    );
    assert_eq!(members(&server, &org).len(), 2);
}

#[test]
fn free_mail_and_unverified_domains_never_auto_join() {
    let server = Server::start_with_plugins(&[AUTOJOIN]);
    let (org, _) = acme(&server);

    let (status, bob) = signup(&server, "bob@gmail.com");
    assert_eq!(status, 201, "{bob}");
    assert_eq!(bob["joined"], Value::Null);
    assert_eq!(bob["decided_by"], "host-guard");
    assert!(
        bob["reason"].as_str().unwrap().contains("free-mail"),
        "{bob}"
    );

    let (_, carol) = signup(&server, "carol@unverified.example");
    assert_eq!(carol["joined"], Value::Null);
    assert_eq!(carol["decided_by"], "domain-autojoin");
    assert_eq!(members(&server, &org).len(), 1);

    // No org can verify a free-mail domain in the first place.
    let error = server
        .post("/v1/orgs", json!({"name": "Gmail fans", "plan": "pro", "verified_domains": ["acme.io", "GMAIL.com"]}))
        .expect(400);
    assert_eq!(error["error"]["field"], "verified_domains[1]", "{error}");
    // Nor let auto-joined users become admins.
    let error = server
        .post(
            "/v1/orgs",
            json!({"name": "X", "plan": "pro", "autojoin_role": "admin"}),
        )
        .expect(400);
    assert_eq!(error["error"]["field"], "autojoin_role", "{error}");
}

#[test]
fn an_org_chooses_the_role_auto_joined_users_get() {
    let server = Server::start_with_plugins(&[AUTOJOIN]);
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Guests", "plan": "team", "verified_domains": ["guests.example"], "autojoin_role": "guest_internal"}),
        )
        .expect(201);
    let (_, dana) = signup(&server, "dana@guests.example");
    assert_eq!(dana["joined"]["org"], org["id"]);
    assert_eq!(dana["joined"]["role"], "guest_internal");
}

#[test]
fn a_failing_autojoin_plugin_fails_the_signup_and_writes_nothing() {
    let server = Server::start_with_plugins(&["tests/plugins/trap"]);
    let (org, _) = acme(&server);

    let (status, error) = signup(&server, "eve@acme.com");
    assert_eq!(status, 502, "{error}");
    assert_eq!(error["error"]["code"], "plugin_failed");
    assert_eq!(error["error"]["plugin"], "trap");
    assert_eq!(error["error"]["hook"], "autojoin");
    assert_eq!(members(&server, &org).len(), 1);
    // The user was not created either: creating it now does not conflict.
    server
        .post("/v1/users", json!({"email": "eve@acme.com"}))
        .expect(201);
    // Free-mail signups never reach the plugin, so they still work.
    assert_eq!(signup(&server, "eve@gmail.com").0, 201);
}

#[test]
fn a_recorded_decision_replays_against_the_current_or_another_plugin() {
    let mut server = Server::start_with_plugins(&[AUTOJOIN]);
    let (org, _) = acme(&server);
    signup(&server, "ann@acme.com");
    let record = newest_plugin_audit(&server, &org);
    let audit_id = record["id"].as_str().unwrap().to_string();
    let recorded = &record["plugins"][0];
    assert_eq!(recorded["plugin"], "domain-autojoin");
    assert_eq!(recorded["hook"], "autojoin");
    assert_eq!(recorded["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(recorded["input"]["email"], "ann@acme.com");

    let replay = server
        .post("/v1/plugins/replay", json!({ "audit_id": audit_id }))
        .expect(200);
    assert_eq!(replay["action"], "SignUp");
    assert_eq!(replay["calls"][0]["same_output"], true, "{replay}");
    assert_eq!(
        replay["calls"][0]["now"]["answered"]["plugin"],
        "domain-autojoin"
    );
    let unknown = server.post(
        "/v1/plugins/replay",
        json!({"audit_id": "00000000-0000-7000-8000-000000000000"}),
    );
    assert_eq!(unknown.expect(404)["error"]["code"], "not_found");

    server.stop();
    server.assert_store_consistent();
    let replay = |extra: &[&str]| {
        let output = Command::new(warden_bin())
            .args(["plugin", "replay", &audit_id])
            .args(server.store_args())
            .args(extra)
            .output()
            .expect("run warden");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let plugins = server.plugins_dir();
    let (code, out) = replay(&["--plugins", plugins.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("recorded: domain-autojoin 0.1.0") && out.contains("same output"),
        "{out}"
    );

    let other = repo_root().join("tests/plugins/autojoin-guest-role");
    let (code, out) = replay(&["--plugin", other.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("now: autojoin-guest-role") && out.contains("OUTPUT DIFFERS"),
        "{out}"
    );
    assert!(out.contains("\"guest_internal\""), "{out}");
}

/// A replay's JSON without the re-run's timing, which no two runs share.
fn untimed(mut replay: Value) -> Value {
    for call in replay["calls"].as_array_mut().unwrap() {
        if let Some(answer) = call["now"]["answered"].as_object_mut() {
            answer.remove("elapsed_us");
        }
    }
    replay
}

#[test]
fn the_cli_replays_against_the_servers_pinned_plugins_and_answers_as_the_server() {
    let plugins = [AUTOJOIN, "tests/plugins/autojoin-guest-role"];
    let config = "[plugin_hooks]\nautojoin = \"autojoin-guest-role\"\n";
    let mut server = Server::start_configured(&[], &plugins, Some(config));
    let (org, _) = acme(&server);
    signup(&server, "ann@acme.com");
    let record = newest_plugin_audit(&server, &org);
    assert_eq!(record["plugins"][0]["plugin"], "autojoin-guest-role");
    let audit_id = record["id"].as_str().unwrap().to_string();
    let served = server
        .post("/v1/plugins/replay", json!({ "audit_id": audit_id }))
        .expect(200);
    assert_eq!(served["calls"][0]["same_output"], true, "{served}");
    server.stop();

    let replay = |cwd: &std::path::Path, extra: &[&str]| {
        let output = Command::new(warden_bin())
            .args(["plugin", "replay", &audit_id])
            .args(extra)
            .current_dir(cwd)
            .env_remove("WARDEN_CONFIG")
            .env_remove("WARDEN_DATA")
            .env_remove("WARDEN_PLUGINS")
            .output()
            .expect("run warden");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(0), "{stdout}{output:?}");
        stdout
    };
    // In the server's directory, as `warden serve` was started there: its
    // warden.toml, ./data (or the --store it was given) and ./plugins.
    let server_dir = server.config_file().parent().unwrap().to_path_buf();
    let mut flags = vec!["--json"];
    flags.extend(
        server
            .postgres_url()
            .map(|url| ["--store", url])
            .into_iter()
            .flatten(),
    );
    let replayed: Value = serde_json::from_str(&replay(&server_dir, &flags)).unwrap();
    assert_eq!(untimed(replayed), untimed(served));
    // From elsewhere, naming them.
    let elsewhere = tempfile::tempdir().unwrap();
    let (config, plugins) = (server.config_file(), server.plugins_dir());
    let at = server.store_args();
    let mut flags: Vec<&str> = at.iter().map(String::as_str).collect();
    flags.extend([
        "--config",
        config.to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
    ]);
    let out = replay(elsewhere.path(), &flags);
    assert!(
        out.contains("now: autojoin-guest-role") && out.contains("same output"),
        "{out}"
    );
}

#[test]
fn concurrent_signups_each_join_once() {
    let server = Server::start_with_plugins(&[AUTOJOIN]);
    let (org, _) = acme(&server);
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let server = &server;
                // Half the threads sign up the same person.
                let email = if i % 2 == 0 {
                    "same@acme.com".to_string()
                } else {
                    format!("u{i}@acme.com")
                };
                scope.spawn(move || signup(server, &email))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (status, body) in &answers {
        assert!(*status == 200 || *status == 201, "{status}: {body}");
    }
    let same: Vec<_> = answers
        .iter()
        .filter(|(_, b)| b["user"]["email"] == "same@acme.com")
        .collect();
    assert_eq!(same.iter().filter(|(_, b)| b["created"] == true).count(), 1);
    assert_eq!(
        same.iter()
            .filter(|(_, b)| b["joined"] != Value::Null)
            .count(),
        1
    );
    assert!(same
        .iter()
        .all(|(_, b)| b["user"]["id"] == same[0].1["user"]["id"]));
    // The admin, the ten distinct users and the one repeated.
    assert_eq!(members(&server, &org).len(), 12);
    let org = server.get(&format!("/v1/orgs/{org}")).expect(200);
    assert_eq!(org["seats_used"], 12);
}

#[test]
fn one_address_has_one_spelling_and_look_alikes_never_auto_join() {
    let server = Server::start_with_plugins(&[AUTOJOIN]);
    let (org, _) = acme(&server);

    let (status, ann) = signup(&server, "ann@acme.com");
    assert_eq!(status, 201, "{ann}");
    let ann_id = ann["user"]["id"].clone();
    // A trailing dot (the DNS root) or other case is the same Ann.
    for spelling in ["ann@acme.com.", "ANN@Acme.COM.", " Ann@ACME.com "] {
        let (status, again) = signup(&server, spelling);
        assert_eq!(status, 200, "{spelling:?}: {again}");
        assert_eq!(again["user"]["id"], ann_id, "{spelling:?} is a second Ann");
    }
    let taken = server
        .post("/v1/users", json!({"email": "ann@acme.com."}))
        .expect(409);
    assert_eq!(taken["error"]["code"], "email_taken");

    // Invisible characters, a right-to-left override and a Cyrillic `а`
    // make addresses that look like Acme's: refused, saying why.
    for (address, reason) in [
        ("ann@acme\u{200B}.com", "U+200B, an invisible character"),
        ("a\u{200D}nn@acme.com", "U+200D, an invisible character"),
        ("ann@acme.com\u{FEFF}", "U+FEFF, an invisible character"),
        (
            "ann@\u{202E}moc.emca",
            "U+202E, a bidirectional control character",
        ),
        ("ann@\u{0430}cme.com", "mixes Cyrillic and Latin"),
        ("ann@xn--cme-5cd.com", "mixes Cyrillic and Latin"),
        ("\u{0430}nn@acme.com", "mixes Cyrillic and Latin"),
    ] {
        let (status, error) = signup(&server, address);
        assert_eq!(status, 400, "{address:?}: {error}");
        assert_eq!(error["error"]["field"], "email", "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{address:?}: {message}");
        // Nor do other paths that take an email accept them.
        server
            .post("/v1/users", json!({"email": address}))
            .expect(400);
    }
    assert_eq!(members(&server, &org).len(), 2, "only the admin and Ann");
}

#[test]
fn an_autojoin_plugin_never_gives_more_than_the_orgs_autojoin_role() {
    let server = Server::start_with_plugins(&["tests/plugins/autojoin-guest-role"]);
    // The plugin joins everyone as an internal guest.
    let external = server
        .post(
            "/v1/orgs",
            json!({"name": "Outsiders", "plan": "team", "verified_domains": ["outsiders.example"], "autojoin_role": "guest_external"}),
        )
        .created_id();
    let (status, error) = signup(&server, "olga@outsiders.example");
    assert_eq!(status, 502, "{error}");
    assert_eq!(error["error"]["kind"], "invalid_output", "{error}");
    assert!(
        error["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("above org"),
        "{error}"
    );
    assert!(members(&server, &external).is_empty());
    server
        .post("/v1/users", json!({"email": "olga@outsiders.example"}))
        .expect(201);

    // An internal guest is below an org's `member`: allowed.
    let members_org = server
        .post(
            "/v1/orgs",
            json!({"name": "Members", "plan": "team", "verified_domains": ["members.example"]}),
        )
        .created_id();
    let (status, max) = signup(&server, "max@members.example");
    assert_eq!(status, 201, "{max}");
    assert_eq!(max["joined"]["org"], json!(members_org));
    assert_eq!(max["joined"]["role"], "guest_internal");
}
