//! Authorization checks over HTTP against data created through the API.

use std::collections::HashMap;

use serde_json::{json, Value};
use warden_e2e::{repo_root, Server};

/// The role-matrix fixture of `policies/tests`, created for real through the
/// API; maps each symbolic id of the fixture to the id Warden gave it.
struct Fixture {
    ids: HashMap<String, String>,
}

impl Fixture {
    fn create(server: &Server) -> Fixture {
        let mut ids = HashMap::new();
        let users = [
            "acme-admin",
            "acme-editor",
            "acme-ws-admin",
            "acme-viewer",
            "acme-outsider",
            "acme-guest-internal",
            "acme-guest-external",
            "globex-admin-acme-guest",
            "globex-admin",
        ];
        for user in users {
            ids.insert(
                user.to_string(),
                server.user(&format!("{user}@example.com")),
            );
        }
        let org = |name: &str, plan: &str, admin: &str| {
            let body = server
                .post(
                    "/v1/orgs",
                    json!({"name": name, "plan": plan, "seat_limit": 10, "admin": ids[admin]}),
                )
                .expect(201);
            (
                body["id"].as_str().unwrap().to_string(),
                body["default_workspace"].as_str().unwrap().to_string(),
            )
        };
        let (acme, acme_default) = org("acme", "pro", "acme-admin");
        let (globex, globex_default) = org("globex", "free", "globex-admin");
        ids.extend([
            ("acme".into(), acme.clone()),
            ("acme-default".into(), acme_default.clone()),
            ("globex".into(), globex.clone()),
            ("globex-default".into(), globex_default.clone()),
        ]);
        let research = server
            .post_as(
                &ids["acme-admin"],
                &format!("/v1/orgs/{acme}/workspaces"),
                json!({"name": "acme-research"}),
            )
            .created_id();
        ids.insert("acme-research".into(), research);
        let members = [
            ("acme", "acme-editor", "member", "acme-default", "editor"),
            ("acme", "acme-ws-admin", "member", "acme-default", "admin"),
            ("acme", "acme-viewer", "member", "acme-default", "viewer"),
            ("acme", "acme-outsider", "member", "acme-research", "editor"),
            (
                "acme",
                "acme-guest-internal",
                "guest_internal",
                "acme-default",
                "viewer",
            ),
            ("acme", "acme-guest-external", "guest_external", "", ""),
            (
                "acme",
                "globex-admin-acme-guest",
                "guest_internal",
                "acme-default",
                "viewer",
            ),
            (
                "globex",
                "globex-admin-acme-guest",
                "admin",
                "globex-default",
                "admin",
            ),
        ];
        for (org, user, role, workspace, ws_role) in members {
            server
                .post(
                    &format!("/v1/orgs/{}/members", ids[org]),
                    json!({"user": ids[user], "role": role}),
                )
                .expect(201);
            // A new member lands in the default workspace by their org
            // role; the matrix wants the workspace roles it names instead.
            let default = &ids[&format!("{org}-default")];
            let landed = format!("/v1/workspaces/{default}/members/{}", ids[user]);
            let removed = server.call(None, "DELETE", &landed, None).status;
            assert!([200, 404].contains(&removed), "{removed}");
            if !workspace.is_empty() {
                server
                    .post(
                        &format!("/v1/workspaces/{}/members", ids[workspace]),
                        json!({"user": ids[user], "role": ws_role}),
                    )
                    .expect(201);
            }
        }
        let resources = [
            (
                "acme-flow",
                "Flow",
                "acme-default",
                json!({"shared_with": [ids["acme-guest-external"]], "attributes": {"name": "acme-flow"}}),
            ),
            (
                "acme-private-flow",
                "Flow",
                "acme-default",
                json!({"attributes": {"name": "acme-private-flow"}}),
            ),
            (
                "acme-folder",
                "Folder",
                "acme-default",
                json!({"attributes": {"name": "acme-folder"}}),
            ),
            (
                "acme-credential",
                "Credential",
                "acme-default",
                json!({"attributes": {"name": "acme-credential", "personal": false}}),
            ),
            (
                "acme-personal-credential",
                "Credential",
                "acme-default",
                json!({"owner": ids["acme-editor"], "attributes": {"name": "acme-personal-credential", "personal": true}}),
            ),
            (
                "globex-flow",
                "Flow",
                "globex-default",
                json!({"attributes": {"name": "globex-flow"}}),
            ),
        ];
        for (name, kind, workspace, mut body) in resources {
            body["type"] = json!(kind);
            let id = server
                .post(
                    &format!("/v1/workspaces/{}/resources", ids[workspace]),
                    body,
                )
                .created_id();
            ids.insert(name.to_string(), id);
        }
        Fixture { ids }
    }

    /// A matrix case's principal/resource reference with the real id.
    fn real(&self, reference: &Value) -> Value {
        let id = reference["id"].as_str().unwrap();
        json!({"type": reference["type"], "id": self.ids[id]})
    }
}

fn role_matrix() -> Value {
    let text = std::fs::read_to_string(repo_root().join("policies/tests/role-matrix.json"))
        .expect("role matrix");
    serde_json::from_str(&text).expect("role matrix JSON")
}

#[test]
fn role_matrix_decisions_over_http_match_the_policy_tests() {
    let server = Server::start();
    let fixture = Fixture::create(&server);
    let matrix = role_matrix();
    let cases = matrix["cases"].as_array().unwrap();
    assert!(cases.len() > 600);
    let mut failures = Vec::new();
    for chunk in cases.chunks(100) {
        let requests: Vec<Value> = chunk
            .iter()
            .map(|case| {
                json!({
                    "principal": fixture.real(&case["principal"]),
                    "action": {"type": "Action", "id": case["action"]},
                    "resource": fixture.real(&case["resource"]),
                })
            })
            .collect();
        let answer = server
            .post("/v1/authorize/batch", json!({ "requests": requests }))
            .expect(200);
        for (case, result) in chunk.iter().zip(answer["results"].as_array().unwrap()) {
            let got = (&result["decision"], &result["diagnostics"]["reason"]);
            if got != (&case["decision"], &case["reasons"]) {
                failures.push(format!(
                    "{}: expected {} {}, got {} {}",
                    case["name"], case["decision"], case["reasons"], got.0, got.1
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn decisions_explain_themselves() {
    let server = Server::start();
    let fixture = Fixture::create(&server);
    let ids = &fixture.ids;
    let allow = server.check(
        &ids["acme-editor"],
        "EditResource",
        "Flow",
        &ids["acme-flow"],
    );
    assert_eq!(allow["decision"], "Allow");
    assert_eq!(
        allow["diagnostics"]["reason"],
        json!(["member-edit-resources"])
    );
    assert!(allow["explanation"]
        .as_str()
        .unwrap()
        .starts_with("Allowed: Members with the editor or admin role"));

    let none = server.check(
        &ids["acme-viewer"],
        "DeleteResource",
        "Flow",
        &ids["acme-flow"],
    );
    assert_eq!(none["decision"], "Deny");
    assert!(
        none["explanation"]
            .as_str()
            .unwrap()
            .starts_with("Denied: no policy permits"),
        "{none}"
    );

    let forbid = server.check(
        &ids["globex-admin"],
        "ViewResource",
        "Flow",
        &ids["acme-flow"],
    );
    assert_eq!(forbid["decision"], "Deny");
    assert_eq!(forbid["diagnostics"]["reason"], json!(["no-cross-org"]));
    assert!(forbid["explanation"]
        .as_str()
        .unwrap()
        .contains("Nothing crosses organizations"));
}

#[test]
fn batch_answers_in_order_and_isolates_bad_items() {
    let server = Server::start();
    let fixture = Fixture::create(&server);
    let ids = &fixture.ids;
    let check = |user: &str, action: &str| {
        json!({
            "principal": {"type": "User", "id": ids[user]},
            "action": {"type": "Action", "id": action},
            "resource": {"type": "Flow", "id": ids["acme-flow"]},
        })
    };
    let requests = json!([
        check("acme-editor", "EditResource"),
        {"principal": {"type": "User"}},
        check("acme-viewer", "EditResource"),
        check("acme-editor", "NoSuchAction"),
    ]);
    let answer = server
        .post("/v1/authorize/batch", json!({ "requests": requests }))
        .expect(200);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["decision"], "Allow");
    assert_eq!(results[1]["error"]["code"], "invalid_request");
    assert!(results[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("requests[1]"));
    assert_eq!(results[2]["decision"], "Deny");
    assert_eq!(results[3]["error"]["code"], "invalid_request");

    let too_many: Vec<Value> = (0..101)
        .map(|_| check("acme-editor", "ViewResource"))
        .collect();
    let answer = server.post("/v1/authorize/batch", json!({ "requests": too_many }));
    assert_eq!(answer.status, 413);
    assert_eq!(answer.body["error"]["code"], "batch_too_large");
}

#[test]
fn caller_supplied_entities_join_the_stored_ones() {
    let server = Server::start();
    let fixture = Fixture::create(&server);
    let ids = &fixture.ids;
    // A flow Warden does not store, placed in a stored workspace.
    let external_flow = json!({
        "uid": {"type": "Flow", "id": "app-flow-1"},
        "attrs": {
            "org": {"type": "Org", "id": ids["acme"]},
            "workspace": {"type": "Workspace", "id": ids["acme-default"]},
            "shared_with": [],
        },
        "parents": [{"type": "Workspace", "id": ids["acme-default"]}],
    });
    let ask = |user: &str, entities: Value| {
        server.post(
            "/v1/authorize",
            json!({
                "principal": {"type": "User", "id": ids[user]},
                "action": {"type": "Action", "id": "RunResource"},
                "resource": {"type": "Flow", "id": "app-flow-1"},
                "entities": entities,
            }),
        )
    };
    assert_eq!(
        ask("acme-viewer", json!([external_flow])).expect(200)["decision"],
        "Allow"
    );
    assert_eq!(
        ask("acme-outsider", json!([external_flow])).expect(200)["decision"],
        "Deny"
    );
    assert_eq!(
        ask("globex-admin", json!([external_flow])).expect(200)["decision"],
        "Deny"
    );

    // Stored entities cannot be redefined by the caller.
    let forged = json!({"uid": {"type": "User", "id": ids["acme-viewer"]}, "attrs": {"email": "x@y.z"}, "parents": []});
    let answer = ask("acme-viewer", json!([external_flow, forged]));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "entities[1]");

    // Entities that break the schema are a 400 naming the problem.
    let bad =
        json!({"uid": {"type": "Flow", "id": "app-flow-1"}, "attrs": {"org": 5}, "parents": []});
    let answer = ask("acme-viewer", json!([bad]));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "entities[0]");
}

#[test]
fn requests_that_break_the_schema_are_rejected() {
    let server = Server::start();
    let user = server.user("solo@example.com");
    let answer = server.post(
        "/v1/authorize",
        json!({
            "principal": {"type": "User", "id": user},
            "action": {"type": "Action", "id": "ViewResource"},
            "resource": {"type": "Org", "id": "x"},
        }),
    );
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "request");
    let answer = server.post(
        "/v1/authorize",
        json!({
            "principal": {"type": "User", "id": user},
            "action": {"type": "Action", "id": "ViewResource"},
            "resource": {"type": "Flow", "id": "x"},
            "context": {"unexpected": true},
        }),
    );
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "context");
}
