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

/// The spellings of a uuid that `Uuid::parse_str` reads as the same id.
fn spellings(id: &str) -> Vec<String> {
    let upper = id.to_uppercase();
    vec![
        upper.clone(),
        format!("{}{}", &id[..18], &upper[18..]),
        id.replace('-', ""),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
    ]
}

#[test]
fn no_spelling_of_a_stored_id_lets_a_caller_redefine_it() {
    let server = Server::start();
    let fixture = Fixture::create(&server);
    let ids = &fixture.ids;
    let (guest, flow) = (&ids["acme-guest-external"], &ids["acme-private-flow"]);
    assert_eq!(
        server.check(guest, "ViewResource", "Flow", flow)["decision"],
        "Deny",
        "the flow is not shared with the External Guest"
    );
    // The exploit: the stored flow, redefined as shared with her.
    let ask = |spelled: &str| {
        let forged = json!({
            "uid": {"type": "Flow", "id": spelled},
            "attrs": {
                "org": {"type": "Org", "id": ids["acme"]},
                "workspace": {"type": "Workspace", "id": ids["acme-default"]},
                "shared_with": [{"type": "User", "id": guest}],
            },
            "parents": [{"type": "Workspace", "id": ids["acme-default"]}],
        });
        json!({
            "principal": {"type": "User", "id": guest},
            "action": {"type": "Action", "id": "ViewResource"},
            "resource": {"type": "Flow", "id": spelled},
            "entities": [forged],
        })
    };
    let answer = server.post("/v1/authorize", ask(flow));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "entities[0]");
    for spelled in spellings(flow) {
        // Warden's own routes read the spelling as the stored flow…
        let stored = server.get(&format!("/v1/resources/{spelled}")).expect(200);
        assert_eq!(&stored["id"], flow);
        // …so a check refuses it, naming the canonical spelling.
        let answer = server.post("/v1/authorize", ask(&spelled));
        assert_eq!(answer.status, 400, "{spelled}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "invalid_request");
        assert_eq!(answer.body["error"]["field"], "resource.id");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(flow.as_str()), "{message}");
    }

    // The same in a batch: the misspelled item fails alone.
    let spelled = flow.to_uppercase();
    let requests = json!([ask(&spelled), {
        "principal": {"type": "User", "id": guest},
        "action": {"type": "Action", "id": "ViewResource"},
        "resource": {"type": "Flow", "id": ids["acme-flow"]},
    }]);
    let answer = server
        .post("/v1/authorize/batch", json!({ "requests": requests }))
        .expect(200);
    let error = answer["results"][0]["error"]["message"].as_str().unwrap();
    assert!(error.starts_with("requests[0]: resource.id"), "{error}");
    assert_eq!(answer["results"][1]["decision"], "Allow");

    // Nor may a caller make anyone a member of a stored org's role group.
    let admins = format!("{}/admin", ids["acme"]);
    let claim = |group: &str| {
        json!({
            "principal": {"type": "User", "id": "app-user"},
            "action": {"type": "Action", "id": "UpdateOrg"},
            "resource": {"type": "Org", "id": ids["acme"]},
            "entities": [{"uid": {"type": "User", "id": "app-user"}, "attrs": {"email": "a@b.c"},
                          "parents": [{"type": "OrgRole", "id": group}]}],
        })
    };
    let answer = server.post("/v1/authorize", claim(&admins));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "entities[0].parents[0]");
    let answer = server.post("/v1/authorize", claim(&admins.to_uppercase()));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "entities[0].parents[0].id");
}

#[test]
fn heavy_supplied_entities_are_answered_or_refused_by_a_named_limit() {
    let server = Server::start();
    let user = server.user("solo@example.com");
    let folder = |id: String, parents: Vec<Value>| {
        json!({"uid": {"type": "Folder", "id": id}, "parents": parents,
               "attrs": {"org": {"type": "Org", "id": "o"}, "workspace": {"type": "Workspace", "id": "w"},
                         "shared_with": []}})
    };
    let reference = |i: usize| json!({"type": "Folder", "id": format!("e{i}")});
    let ask = |entities: Vec<Value>| {
        server.post(
            "/v1/authorize",
            json!({
                "principal": {"type": "User", "id": user},
                "action": {"type": "Action", "id": "ViewResource"},
                "resource": {"type": "Folder", "id": "e0"},
                "entities": entities,
            }),
        )
    };
    // Eight levels, each naming the next and itself 16 times: once 16⁹
    // steps on a server worker, now a cycle found in linear time.
    let levels = (0..8)
        .map(|i| {
            let mut parents = vec![reference(i + 1); 16];
            parents.extend(vec![reference(i); 16]);
            folder(format!("e{i}"), parents)
        })
        .collect();
    let answer = ask(levels);
    assert_eq!(answer.status, 400, "{}", answer.body);
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cycle"), "{message}");

    // 100 entities each naming all the others.
    let complete = (0..100)
        .map(|i| {
            folder(
                format!("e{i}"),
                (0..100).filter(|j| *j != i).map(reference).collect(),
            )
        })
        .collect();
    let answer = ask(complete);
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], "entities");
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("MAX_ENTITY_NODES"), "{message}");

    // A chain of 100 is answered.
    let chain = (0..100)
        .map(|i| {
            folder(
                format!("e{i}"),
                if i < 99 {
                    vec![reference(i + 1)]
                } else {
                    vec![]
                },
            )
        })
        .collect();
    assert_eq!(ask(chain).expect(200)["decision"], "Deny");
}

#[test]
fn audit_records_name_the_policy_set_by_its_digest_across_restarts() {
    let mut server = Server::start();
    let health = server.get("/healthz").expect(200);
    let digest = health["policy_digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64, "{health}");
    assert_eq!(server.get("/v1/policies").expect(200)["digest"], digest);

    let admin = server.user("admin@example.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "acme", "plan": "pro", "admin": admin}),
        )
        .created_id();
    let audit = server.get(&format!("/v1/orgs/{org}/audit")).expect(200);
    assert_eq!(audit["items"][0]["policy_digest"], digest, "{audit}");

    server.restart();
    let health = server.get("/healthz").expect(200);
    assert_eq!(health["policy_digest"], digest, "same files, same digest");
    assert_eq!(health["policy_revision"], 1, "the revision restarts");

    // An edit makes a new set with a new digest; old records keep theirs.
    let path = server.policies_dir().join("members.cedar");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n// edited\n")).unwrap();
    let reloaded = server.post("/v1/policies/reload", json!({})).expect(200);
    assert!(reloaded["outcome"] == "loaded" || reloaded["outcome"] == "unchanged");
    let edited = server.get("/healthz").expect(200)["policy_digest"].clone();
    assert_ne!(edited, digest);
    server
        .post_as(
            &admin,
            &format!("/v1/orgs/{org}/workspaces"),
            json!({"name": "research"}),
        )
        .expect(201);
    let audit = server.get(&format!("/v1/orgs/{org}/audit")).expect(200);
    assert_eq!(audit["items"][0]["policy_digest"], edited, "{audit}");
    assert_eq!(audit["items"][1]["policy_digest"], digest, "{audit}");
}
