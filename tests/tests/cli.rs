//! The `warden` command line: policy validation and tests, one check
//! against a data directory written by a server, and the exit status of
//! every subcommand (0 ok, 1 a negative finding, 2 an error).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use warden::store::StoreLocation;
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

/// Exit status 1: the command ran and found something wrong.
const FINDING: Option<i32> = Some(1);
/// Exit status 2: the command could not do its job.
const ERROR: Option<i32> = Some(2);

/// Runs warden in `cwd` with `WARDEN_DATA` unset, so `--data` defaults to `./data`.
fn warden_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(warden_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("WARDEN_DATA")
        .output()
        .expect("warden runs")
}

/// A copy of the default policies in a temp dir, with `edit` applied to guards.cedar.
fn edited_policies(edit: impl FnOnce(&str) -> String) -> tempfile::TempDir {
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
    let guards = std::fs::read_to_string(policies.join("guards.cedar")).unwrap();
    std::fs::write(policies.join("guards.cedar"), edit(&guards)).unwrap();
    dir
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
    // Drop the guard that keeps external guests off personal credentials.
    let dir = edited_policies(|guards| {
        let start = guards
            .find("@id(\"personal-credentials-owner-only\")")
            .unwrap();
        guards[..start].to_string()
    });
    let policies = dir.path().join("policies");

    let test = warden(&["policy", "test", policies.to_str().unwrap()]);
    assert_eq!(test.status.code(), FINDING, "{test:?}");
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
    let at = server.store_args();
    let at: Vec<&str> = at.iter().map(String::as_str).collect();
    server.stop(); // the embedded database allows one process

    let check = |user: &str| {
        warden(
            &[
                &["authorize"][..],
                &at,
                &[
                    "--policies",
                    repo_root().join("policies").to_str().unwrap(),
                    "--principal",
                    &format!("User::\"{user}\""),
                    "--action",
                    "InviteMember",
                    "--resource",
                    &format!("Org::\"{org}\""),
                ],
            ]
            .concat(),
        )
    };
    let allowed = check(&admin);
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
    assert!(stdout(&allowed).contains("Allow"));
    let denied = check(&outsider);
    assert_eq!(denied.status.code(), FINDING, "{denied:?}");
    assert!(stdout(&denied).contains("Deny"));

    let not_a_uid = warden(
        &[
            &["authorize"][..],
            &at,
            &[
                "--policies",
                repo_root().join("policies").to_str().unwrap(),
                "--principal",
                "admin",
                "--action",
                "InviteMember",
                "--resource",
                &format!("Org::\"{org}\""),
            ],
        ]
        .concat(),
    );
    assert_eq!(not_a_uid.status.code(), ERROR, "{not_a_uid:?}");
    let stderr = String::from_utf8_lossy(&not_a_uid.stderr);
    assert!(stderr.contains("--principal"), "{stderr}");
}

#[test]
fn help_lists_the_exit_statuses_and_bad_usage_is_an_error() {
    let help = warden(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = stdout(&help);
    for status in ["0  ok", "1  a negative finding", "2  an error"] {
        assert!(text.contains(status), "{text}");
    }
    for usage in [
        &["ledger", "verify", "--no-such-flag"][..],
        &["policy"],
        &["plugin", "replay", "not-a-uuid"],
    ] {
        let output = warden(usage);
        assert_eq!(output.status.code(), ERROR, "{usage:?}: {output:?}");
    }
}

#[test]
fn policy_validate_finds_invalid_policies_and_errs_without_a_directory() {
    let dir = edited_policies(|guards| format!("{guards}\npermit(principal, action, resource"));
    let policies = dir.path().join("policies");
    for command in ["validate", "test"] {
        let invalid = warden(&["policy", command, policies.to_str().unwrap()]);
        assert_eq!(invalid.status.code(), FINDING, "{invalid:?}");
        assert!(stdout(&invalid).contains("guards.cedar"), "{invalid:?}");

        let missing = dir.path().join("nowhere");
        let missing = warden(&["policy", command, missing.to_str().unwrap()]);
        assert_eq!(missing.status.code(), ERROR, "{missing:?}");
    }
}

#[test]
fn commands_that_read_a_data_directory_never_create_one() {
    let cwd = tempfile::tempdir().unwrap();
    let audit_id = "0191f4a0-0000-7000-8000-000000000001";
    let policies = repo_root().join("policies");
    let principal = "User::\"0191f4a0-0000-7000-8000-000000000002\"";
    let commands: [&[&str]; 4] = [
        &["plugin", "replay", audit_id],
        &["ledger", "verify"],
        &["check-store"],
        &[
            "authorize",
            "--policies",
            policies.to_str().unwrap(),
            "--principal",
            principal,
            "--action",
            "ViewOrg",
            "--resource",
            principal,
        ],
    ];
    for args in commands {
        let output = warden_in(cwd.path(), args);
        assert_eq!(output.status.code(), ERROR, "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no database in data"), "{args:?}: {stderr}");
        assert!(!cwd.path().join("data").exists(), "{args:?} created ./data");
    }
}

#[test]
fn plugin_test_answers_0_for_an_answer_1_for_a_failed_call_2_for_no_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("signup.json");
    let signup = json!({
        "email": "ann@acme.com",
        "candidates": [{
            "org_id": "0191f4a0-0000-7000-8000-000000000001", "plan": "pro",
            "verified_domains": ["acme.com"],
            "default_workspace": "0191f4a0-0000-7000-8000-0000000000aa",
            "seats_used": 3, "seat_limit": 10, "autojoin_role": "member",
        }],
    });
    std::fs::write(&input, signup.to_string()).unwrap();
    let call = |plugin: &str, input: &Path| {
        let plugin = repo_root().join(plugin);
        warden(&[
            "plugin",
            "test",
            plugin.to_str().unwrap(),
            "--hook",
            "autojoin",
            "--input",
            input.to_str().unwrap(),
        ])
    };
    let answered = call("plugins/domain-autojoin", &input);
    assert_eq!(answered.status.code(), Some(0), "{answered:?}");
    assert!(stdout(&answered).contains("output:"), "{answered:?}");
    let trapped = call("tests/plugins/trap", &input);
    assert_eq!(trapped.status.code(), FINDING, "{trapped:?}");
    assert!(
        stdout(&trapped).contains("failed in hook autojoin"),
        "{trapped:?}"
    );
    let no_input = call("plugins/domain-autojoin", &dir.path().join("none.json"));
    assert_eq!(no_input.status.code(), ERROR, "{no_input:?}");
}

#[test]
fn ledger_verify_and_check_store_answer_0_on_a_servers_data() {
    let mut server = Server::start();
    let (org, _) = server.acme_with_admin();
    server
        .post(
            &format!("/v1/orgs/{org}/credits"),
            json!({"credits": 10, "source": "purchase"}),
        )
        .expect(201);
    server.stop();
    for command in [&["ledger", "verify"][..], &["check-store"]] {
        let output = on_store_of(command, &server);
        assert_eq!(output.status.code(), Some(0), "{command:?}: {output:?}");
    }
}

#[test]
fn ledger_verify_and_check_store_answer_1_on_damaged_data() {
    let mut server = Server::start();
    let (org, _) = server.acme_with_admin();
    let grant = server
        .post(
            &format!("/v1/orgs/{org}/credits"),
            json!({"credits": 10, "source": "purchase"}),
        )
        .expect(201);
    let workspace = server.get(&format!("/v1/orgs/{org}")).expect(200)["default_workspace"]
        .as_str()
        .unwrap()
        .to_string();
    server.stop();
    damage(&server, |tx| {
        // A posted transaction gone: its entries no longer balance the
        // accounts. A workspace gone: its org's index names nothing.
        let id = |value: &serde_json::Value| value.as_str().unwrap().parse::<uuid::Uuid>().unwrap();
        tx.remove(&warden::ledger::keys::transaction(
            id(&grant["transaction"]),
        ))?;
        tx.remove(&warden::store::keys::workspace(id(&json!(workspace))))
    });
    for (command, finding) in [
        (&["ledger", "verify"][..], "violation"),
        (&["check-store"], "workspace"),
    ] {
        let output = on_store_of(command, &server);
        assert_eq!(output.status.code(), FINDING, "{command:?}: {output:?}");
        assert!(stdout(&output).contains(finding), "{command:?}: {output:?}");
    }
}

/// Runs `warden <command>` on `server`'s (stopped) database.
fn on_store_of(command: &[&str], server: &Server) -> Output {
    Command::new(warden_bin())
        .args(command)
        .args(server.store_args())
        .output()
        .expect("warden runs")
}

/// Applies `edit` to the database of a stopped server's data directory.
fn damage(server: &Server, edit: impl Fn(&warden::store::Tx) -> warden::store::TxResult<()>) {
    let location = match server.postgres_url() {
        Some(url) => StoreLocation::Postgres(url.to_string()),
        None => StoreLocation::in_data_dir(&server.data_dir()),
    };
    let store = warden::store::Store::at(&location, 1 << 20).unwrap();
    store.transact(edit).unwrap();
    store.flush_blocking().unwrap();
}
