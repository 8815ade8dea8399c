//! Policy files change the rules of the running server: edits take effect
//! without a restart, broken edits are rejected and reported while the last
//! good set keeps serving; the role matrix holds an edit to the rules.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use warden_e2e::{warden_bin, Server};

/// The issue's bound on how fast an edit must take effect.
const RELOAD_DEADLINE: Duration = Duration::from_secs(2);

/// A member of a fresh org; returns (member id, org id).
fn org_member(server: &Server) -> (String, String) {
    let admin = server.user("admin@acme.com");
    let member = server.user("member@acme.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "admin": admin}),
        )
        .created_id();
    server
        .post_as(
            &admin,
            &format!("/v1/orgs/{org}/members"),
            json!({"user": member, "role": "member"}),
        )
        .expect(201);
    (member, org)
}

fn decision(server: &Server, member: &str, org: &str) -> String {
    server.check(member, "ViewOrg", "Org", org)["decision"]
        .as_str()
        .unwrap()
        .to_string()
}

fn edit(server: &Server, file: &str, change: impl FnOnce(String) -> String) {
    let path = server.policies_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = change(text.clone());
    assert_ne!(text, changed, "the edit must change {file}");
    std::fs::write(path, changed).unwrap();
}

fn last_error(server: &Server) -> Value {
    server.get("/v1/policies").expect(200)["last_error"].clone()
}

#[test]
fn an_edit_takes_effect_and_a_broken_edit_keeps_the_last_good_set() {
    let server = Server::start();
    let (member, org) = org_member(&server);
    assert_eq!(decision(&server, &member, &org), "Allow");
    let first_revision = server.get("/v1/policies").expect(200)["revision"]
        .as_u64()
        .unwrap();

    // Members lose ViewOrg.
    edit(&server, "members.cedar", |text| {
        text.replacen(
            r#"[Action::"ViewOrg", Action::"ViewMembers""#,
            r#"[Action::"ViewMembers""#,
            1,
        )
    });
    assert!(
        server.wait_for(RELOAD_DEADLINE, |s| decision(s, &member, &org) == "Deny"),
        "the edit was not applied within {RELOAD_DEADLINE:?}"
    );
    let status = server.get("/v1/policies").expect(200);
    assert!(status["revision"].as_u64().unwrap() > first_revision);
    assert!(status["last_error"].is_null());

    // A syntax error: rejected, reported, the edited set keeps serving.
    edit(&server, "members.cedar", |text| {
        text.replacen("permit (", "permit (((", 1)
    });
    assert!(
        server.wait_for(RELOAD_DEADLINE, |s| !last_error(s).is_null()),
        "the broken edit was not reported within {RELOAD_DEADLINE:?}"
    );
    let error = last_error(&server);
    let problem = &error["error"]["problems"][0];
    assert_eq!(problem["file"], "members.cedar", "{error}");
    assert!(problem["line"].as_u64().unwrap() > 0, "{error}");
    assert_eq!(decision(&server, &member, &org), "Deny");

    let reload = server.post("/v1/policies/reload", json!({})).expect(422);
    assert_eq!(reload["error"]["code"], "policy_rejected", "{reload}");
    assert_eq!(reload["error"]["problems"][0]["file"], "members.cedar");

    // Fixing the file clears the error and applies the fix.
    edit(&server, "members.cedar", |text| {
        text.replacen("permit (((", "permit (", 1)
    });
    assert!(server.wait_for(RELOAD_DEADLINE, |s| last_error(s).is_null()));
    assert_eq!(decision(&server, &member, &org), "Deny");
}

#[test]
fn an_edit_that_breaks_the_schema_is_rejected() {
    let server = Server::start();
    let (member, org) = org_member(&server);
    edit(&server, "members.cedar", |text| {
        text.replacen(
            "principal in resource.members",
            "principal in resource.no_such_attribute",
            1,
        )
    });
    let reload = server.post("/v1/policies/reload", json!({})).expect(422);
    let problems = reload["error"]["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["file"] == "members.cedar"
            && p["message"].as_str().unwrap().contains("no_such_attribute")),
        "{reload}"
    );
    assert_eq!(
        decision(&server, &member, &org),
        "Allow",
        "the last good set keeps serving"
    );
}

#[test]
fn a_new_policy_file_is_picked_up_and_an_explicit_reload_reports_the_revision() {
    let server = Server::start();
    let (member, org) = org_member(&server);
    let forbid = r#"
@id("no-org-viewing")
@reason("Nobody may view organizations during the audit")
forbid (principal, action == Action::"ViewOrg", resource);
"#;
    std::fs::write(server.policies_dir().join("freeze.cedar"), forbid).unwrap();
    let reload = server.post("/v1/policies/reload", json!({})).expect(200);
    assert!(reload["revision"].as_u64().is_some(), "{reload}");
    let answer = server.check(&member, "ViewOrg", "Org", &org);
    assert_eq!(answer["decision"], "Deny");
    assert_eq!(answer["diagnostics"]["reason"], json!(["no-org-viewing"]));
    assert!(
        answer["explanation"]
            .as_str()
            .unwrap()
            .contains("during the audit"),
        "{answer}"
    );
    let files = server.get("/v1/policies").expect(200)["files"].to_string();
    assert!(files.contains("freeze.cedar"), "{files}");
}

#[test]
fn a_broken_policy_directory_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        warden_e2e::repo_root().join("policies/schema.cedarschema"),
        policies.join("schema.cedarschema"),
    )
    .unwrap();
    std::fs::write(
        policies.join("bad.cedar"),
        "@id(\"x\") @reason(\"y\") permit (principal, action, resource) when { nope };",
    )
    .unwrap();
    let output = Command::new(warden_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--policies")
        .arg(&policies)
        .env("WARDEN_ADMIN_TOKEN", warden_e2e::TOKEN)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.cedar"), "{stderr}");
}

#[test]
fn the_role_matrix_refuses_admin_policies_that_grant_the_vendors_terms() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(policies.join("tests")).unwrap();
    let defaults = warden_e2e::repo_root().join("policies");
    for file in [
        "schema.cedarschema",
        "admins.cedar",
        "billing.cedar",
        "members.cedar",
        "guests.cedar",
        "guards.cedar",
        "tests/role-matrix.json",
    ] {
        std::fs::copy(defaults.join(file), policies.join(file)).unwrap();
    }
    let run = || {
        let output = Command::new(warden_bin())
            .args(["policy", "test"])
            .arg(&policies)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (passed, out) = run();
    assert!(passed, "{out}");
    // Admins back to "every action on their org".
    let admins = std::fs::read_to_string(policies.join("admins.cedar")).unwrap();
    let start = admins.find("@id(\"org-admin\")").unwrap();
    let end = admins.find("@id(\"org-admin-workspaces\")").unwrap();
    let every_action = r#"@id("org-admin")
@reason("Admins may do everything inside their own organization")
permit (principal, action, resource is Org)
when { principal in resource.admins };

"#;
    let widened = format!("{}{every_action}{}", &admins[..start], &admins[end..]);
    std::fs::write(policies.join("admins.cedar"), widened).unwrap();
    let (passed, out) = run();
    assert!(!passed, "{out}");
    let failures: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(!failures.is_empty(), "{out}");
    for failure in &failures {
        assert!(
            failure.contains("ManagePlan") || failure.contains("ManageBilling"),
            "only the vendor's terms change: {failure}"
        );
        assert!(failure.contains("got Allow [org-admin]"), "{failure}");
    }
    assert_eq!(failures.len(), 6, "3 org Admins x 2 vendor terms:\n{out}");
}
