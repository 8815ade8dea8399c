//! The `warden` command line: policy validation and tests, and one check
//! against a data directory written by a server.

use std::process::{Command, Output};

use serde_json::json;
use warden_e2e::{repo_root, warden_bin, Server};

fn warden(args: &[&str]) -> Output {
    Command::new(warden_bin())
        .args(args)
        .output()
        .expect("warden runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn policy_validate_and_test_pass_on_the_defaults() {
    let policies = repo_root().join("policies");
    let validate = warden(&["policy", "validate", policies.to_str().unwrap()]);
    assert!(validate.status.success(), "{validate:?}");
    assert!(stdout(&validate).contains("are valid"));

    let test = warden(&["policy", "test", policies.to_str().unwrap()]);
    assert!(test.status.success(), "{test:?}");
    assert!(stdout(&test).contains(" 0 failed"), "{}", stdout(&test));
}

#[test]
fn policy_test_names_what_an_edit_broke() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(policies.join("tests")).unwrap();
    for file in [
        "schema.cedarschema",
        "admins.cedar",
        "members.cedar",
        "guests.cedar",
        "guards.cedar",
    ] {
        std::fs::copy(repo_root().join("policies").join(file), policies.join(file)).unwrap();
    }
    std::fs::copy(
        repo_root().join("policies/tests/role-matrix.json"),
        policies.join("tests/role-matrix.json"),
    )
    .unwrap();
    // Drop the guard that keeps external guests off personal credentials.
    let guards = std::fs::read_to_string(policies.join("guards.cedar")).unwrap();
    let start = guards
        .find("@id(\"personal-credentials-owner-only\")")
        .unwrap();
    std::fs::write(policies.join("guards.cedar"), &guards[..start]).unwrap();

    let test = warden(&["policy", "test", policies.to_str().unwrap()]);
    assert!(!test.status.success());
    let out = stdout(&test);
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("personal-credentials-owner-only"), "{out}");
}

#[test]
fn authorize_answers_from_a_data_directory_with_its_exit_code() {
    let mut server = Server::start();
    let admin = server.user("admin@acme.com");
    let outsider = server.user("outsider@globex.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "admin": admin}),
        )
        .created_id();
    let data = server.data_dir();
    server.stop(); // the database allows one process

    let check = |user: &str| {
        warden(&[
            "authorize",
            "--data",
            data.to_str().unwrap(),
            "--policies",
            repo_root().join("policies").to_str().unwrap(),
            "--principal",
            &format!("User::\"{user}\""),
            "--action",
            "InviteMember",
            "--resource",
            &format!("Org::\"{org}\""),
        ])
    };
    let allowed = check(&admin);
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
    assert!(stdout(&allowed).contains("Allow"));
    let denied = check(&outsider);
    assert_eq!(denied.status.code(), Some(2), "{denied:?}");
    assert!(stdout(&denied).contains("Deny"));
}
