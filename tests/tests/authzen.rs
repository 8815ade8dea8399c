//! The AuthZEN Authorization API 1.0 over HTTP (`/access/v1/…`,
//! `/.well-known/authzen-configuration`) and the request ids every answer
//! carries, against the real server. Cases follow the spec's examples and
//! its certification scenario (`certification/authorization-api-1_0-scenario.md`
//! of github.com/openid/authzen), with Warden's entities in place of the
//! scenario's fixture.

use std::io::{Read as _, Write as _};

use serde_json::{json, Value};
use warden_e2e::{Answer, Server};

const EVALUATION: &str = "/access/v1/evaluation";
const EVALUATIONS: &str = "/access/v1/evaluations";
const SEARCH_SUBJECT: &str = "/access/v1/search/subject";
const SEARCH_RESOURCE: &str = "/access/v1/search/resource";
const SEARCH_ACTION: &str = "/access/v1/search/action";

/// Acme (Pro) with Ann its Admin, Bob a Member (so an editor of the default
/// workspace), Carl a user of no org, and a flow in the default workspace.
struct Acme {
    org: String,
    workspace: String,
    ann: String,
    bob: String,
    carl: String,
    flow: String,
}

impl Acme {
    fn create(server: &Server) -> Acme {
        let (org, ann) = server.acme_with_admin();
        let bob = server.user("bob@acme.com");
        let carl = server.user("carl@example.com");
        server
            .post(
                &format!("/v1/orgs/{org}/members"),
                json!({"user": bob, "role": "member"}),
            )
            .expect(201);
        let workspace = server.get(&format!("/v1/orgs/{org}")).expect(200)["default_workspace"]
            .as_str()
            .unwrap()
            .to_string();
        let flow = server
            .post_as(
                &ann,
                &format!("/v1/workspaces/{workspace}/resources"),
                json!({"type": "Flow", "attributes": {"name": "Lead scoring"}}),
            )
            .created_id();
        Acme {
            org,
            workspace,
            ann,
            bob,
            carl,
            flow,
        }
    }
}

fn user(id: &str) -> Value {
    json!({"type": "user", "id": id})
}

fn action(name: &str) -> Value {
    json!({ "name": name })
}

fn flow(id: &str) -> Value {
    json!({"type": "flow", "id": id})
}

/// The decisions of an evaluations answer, in order.
fn decisions(answer: &Value) -> Vec<bool> {
    answer["evaluations"]
        .as_array()
        .unwrap_or_else(|| panic!("no evaluations: {answer}"))
        .iter()
        .map(|item| item["decision"].as_bool().expect("a boolean decision"))
        .collect()
}

#[test]
fn an_evaluation_is_the_check_of_v1_authorize_in_authzen_words() {
    let server = Server::start();
    let acme = Acme::create(&server);

    // §"Access Evaluation API": AuthZEN's snake case for Warden's names.
    let allowed = server
        .post(
            EVALUATION,
            json!({"subject": user(&acme.bob), "action": action("run_resource"), "resource": flow(&acme.flow)}),
        )
        .expect(200);
    assert_eq!(allowed["decision"], true, "{allowed}");
    let check = server.check(&acme.bob, "RunResource", "Flow", &acme.flow);
    let admin = &allowed["context"]["reason_admin"];
    assert_eq!(admin["policies"], check["diagnostics"]["reason"]);
    assert_eq!(admin["policies"], json!(["member-use-resources"]));
    assert_eq!(admin["explanation"], check["explanation"]);
    assert_eq!(admin["policy_revision"], check["policy_revision"]);
    assert_eq!(
        admin["evaluated"],
        json!({
            "principal": {"type": "User", "id": acme.bob},
            "action": {"type": "Action", "id": "RunResource"},
            "resource": {"type": "Flow", "id": acme.flow},
        })
    );
    // The end user's reason is the policy's @reason, without ids.
    let for_user = allowed["context"]["reason_user"].as_str().unwrap();
    assert!(for_user.starts_with("Allowed: Members may"), "{for_user}");
    assert!(!for_user.contains("member-use-resources") && !for_user.contains(&acme.bob));

    // Warden's own names, exactly, are the same question.
    let exact = server
        .post(
            EVALUATION,
            json!({"subject": {"type": "User", "id": acme.bob}, "action": action("RunResource"),
                   "resource": {"type": "Flow", "id": acme.flow}}),
        )
        .expect(200);
    assert_eq!(exact["context"], allowed["context"]);

    // A deny by a forbid policy, and one by no policy: the user reads the
    // forbid's reason, or a plain refusal, and no ids either.
    let denial = |who: &str, name: &str, resource: Value| {
        let answer = server
            .post(
                EVALUATION,
                json!({"subject": user(who), "action": action(name), "resource": resource}),
            )
            .expect(200);
        assert_eq!(answer["decision"], false, "{answer}");
        answer["context"].clone()
    };
    let forbidden = denial(&acme.carl, "run_resource", flow(&acme.flow));
    assert_eq!(
        forbidden["reason_user"],
        "Denied: Nothing crosses organizations: the principal must belong to the resource's organization."
    );
    assert_eq!(
        forbidden["reason_admin"]["policies"],
        json!(["no-cross-org"])
    );
    let org = json!({"type": "org", "id": acme.org});
    let unpermitted = denial(&acme.bob, "invite_member", org);
    assert_eq!(
        unpermitted["reason_user"],
        "Denied: no policy permits this."
    );
    let explanation = unpermitted["reason_admin"]["explanation"].as_str().unwrap();
    assert!(explanation.contains(&acme.bob), "{explanation}");

    // An org action on the org: `org` is `Org`, `invite_member` `InviteMember`.
    let invite = |who: &str| {
        server
            .post(
                EVALUATION,
                json!({"subject": user(who), "action": action("invite_member"),
                       "resource": {"type": "org", "id": acme.org}}),
            )
            .expect(200)["decision"]
            .clone()
    };
    assert_eq!(invite(&acme.ann), true);
    assert_eq!(invite(&acme.bob), false);

    // A user by email (normalised), a uuid in another spelling: the same
    // stored entities.
    let by_email = server
        .post(
            EVALUATION,
            json!({"subject": user(" BOB@Acme.com"), "action": action("run_resource"),
                   "resource": flow(&acme.flow.to_uppercase())}),
        )
        .expect(200);
    assert_eq!(by_email["decision"], true, "{by_email}");
    assert_eq!(
        by_email["context"]["reason_admin"]["evaluated"],
        admin["evaluated"]
    );
    let nobody = server
        .post(
            EVALUATION,
            json!({"subject": user("nobody@acme.com"), "action": action("run_resource"), "resource": flow(&acme.flow)}),
        )
        .expect(200);
    assert_eq!(nobody["decision"], false);

    // Properties are not taken on trust, and say so; unknown fields and a
    // `null` optional field are ignored (§"JSON Serialization",
    // certification §c-2-2-9); an empty context is no context.
    let asserted = server
        .post(
            EVALUATION,
            json!({"subject": {"type": "user", "id": acme.carl, "properties": {"role": "admin"}},
                   "action": {"name": "run_resource", "properties": {"method": "POST"}},
                   "resource": {"type": "flow", "id": acme.flow, "properties": {"owner": acme.carl}},
                   "context": {}, "foo": "bar", "futureField": {"nested": true}}),
        )
        .expect(200);
    assert_eq!(asserted["decision"], false, "{asserted}");
    assert_eq!(
        asserted["context"]["reason_admin"]["ignored"],
        json!([
            "subject.properties",
            "action.properties",
            "resource.properties"
        ])
    );
    let nulls = server
        .post(
            EVALUATION,
            json!({"subject": {"type": "user", "id": acme.bob, "properties": null},
                   "action": action("run_resource"), "resource": flow(&acme.flow), "context": null}),
        )
        .expect(200);
    assert_eq!(nulls["decision"], true);

    // Same answer every time (certification §c-2-6).
    for _ in 0..3 {
        let again = server
            .post(
                EVALUATION,
                json!({"subject": user(&acme.bob), "action": action("run_resource"), "resource": flow(&acme.flow)}),
            )
            .expect(200);
        assert_eq!(again["decision"], true);
    }
    // A workspace action on a workspace.
    let workspace_view = server
        .post(
            EVALUATION,
            json!({"subject": user(&acme.bob), "action": action("view_workspace"),
                   "resource": {"type": "workspace", "id": acme.workspace}}),
        )
        .expect(200);
    assert_eq!(workspace_view["decision"], true);
}

#[test]
fn evaluations_take_defaults_and_each_semantic() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let org = json!({"type": "org", "id": acme.org});
    // Bob: may run the flow, may not invite, may view the flow.
    let items = json!([
        {"resource": flow(&acme.flow)},
        {"action": action("invite_member"), "resource": org},
        {"action": action("view_resource"), "resource": flow(&acme.flow)},
    ]);
    let ask = |semantic: Option<&str>, items: &Value| {
        let mut body = json!({"subject": user(&acme.bob), "action": action("run_resource"), "evaluations": items});
        if let Some(semantic) = semantic {
            body["options"] = json!({"evaluations_semantic": semantic, "another_option": "value"});
        }
        server.post(EVALUATIONS, body).expect(200)
    };

    // §"Evaluations semantics": all, by default and by name.
    let all = ask(None, &items);
    assert_eq!(decisions(&all), [true, false, true], "{all}");
    assert!(all.get("decision").is_none(), "{all}");
    assert_eq!(
        decisions(&ask(Some("execute_all"), &items)),
        [true, false, true]
    );
    // `&&`: up to the first deny, which is answered.
    assert_eq!(
        decisions(&ask(Some("deny_on_first_deny"), &items)),
        [true, false]
    );
    // `||`: up to the first permit.
    assert_eq!(
        decisions(&ask(Some("permit_on_first_permit"), &items)),
        [true]
    );
    let deny_first = json!([items[1], items[0], items[2]]);
    assert_eq!(
        decisions(&ask(Some("permit_on_first_permit"), &deny_first)),
        [false, true]
    );
    let all_allowed = json!([items[0], items[2]]);
    assert_eq!(
        decisions(&ask(Some("deny_on_first_deny"), &all_allowed)),
        [true, true]
    );

    // Each item's answer is the single evaluation's.
    let single = server
        .post(
            EVALUATION,
            json!({"subject": user(&acme.bob), "action": action("invite_member"), "resource": org}),
        )
        .expect(200);
    assert_eq!(all["evaluations"][1], single);

    // §"Default values": an item's key replaces the default whole; items
    // may give every key (no defaults); the subject may differ per item.
    let no_defaults = server
        .post(
            EVALUATIONS,
            json!({"evaluations": [
                {"subject": user(&acme.ann), "action": action("invite_member"), "resource": org},
                {"subject": user(&acme.carl), "action": action("run_resource"), "resource": flow(&acme.flow)},
            ]}),
        )
        .expect(200);
    assert_eq!(decisions(&no_defaults), [true, false]);
    let per_subject = server
        .post(
            EVALUATIONS,
            json!({"action": action("run_resource"), "resource": flow(&acme.flow),
                   "evaluations": [{"subject": user(&acme.carl)}, {"subject": user(&acme.bob)}, {}]}),
        )
        .expect(200);
    assert_eq!(decisions(&per_subject), [false, true, false]);
    // The last item has no subject at all: decided closed, the error in
    // its context (§"Errors", certification §c-3-4-1).
    assert_eq!(
        per_subject["evaluations"][2]["context"]["error"]["status"],
        400
    );
    assert!(per_subject["evaluations"][2]["context"]["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("evaluations[2].subject"));

    // The context too: Warden's default schema declares none for
    // RunResource, so an item's non-empty context fails that item alone,
    // and an item's `{}` replaces a default that would fail.
    let contexts = server
        .post(
            EVALUATIONS,
            json!({"subject": user(&acme.bob), "action": action("run_resource"), "resource": flow(&acme.flow),
                   "context": {"time": "2025-06-27T18:03-07:00"},
                   "evaluations": [{}, {"context": {}}]}),
        )
        .expect(200);
    assert_eq!(decisions(&contexts), [false, true], "{contexts}");
    assert_eq!(
        contexts["evaluations"][0]["context"]["error"]["status"],
        400
    );
    // A failure is a denial for deny_on_first_deny.
    let stopped = server
        .post(
            EVALUATIONS,
            json!({"subject": user(&acme.bob), "action": action("run_resource"),
                   "options": {"evaluations_semantic": "deny_on_first_deny"},
                   "evaluations": [{"resource": flow(&acme.flow)}, {}, {"resource": flow(&acme.flow)}]}),
        )
        .expect(200);
    assert_eq!(decisions(&stopped), [true, false]);

    // Without items, or with none, it is one evaluation (certification
    // §c-3-4-2, §c-3-4-3).
    for evaluations in [None, Some(json!([]))] {
        let mut body = json!({"subject": user(&acme.bob), "action": action("run_resource"), "resource": flow(&acme.flow)});
        if let Some(evaluations) = evaluations {
            body["evaluations"] = evaluations;
        }
        let one = server.post(EVALUATIONS, body).expect(200);
        assert_eq!(one["decision"], true, "{one}");
        assert!(one.get("evaluations").is_none());
    }
}

#[test]
fn bad_requests_are_the_spec_errors() {
    let server = Server::start_with(&["--max-batch", "4"]);
    let acme = Acme::create(&server);
    let question = json!({"subject": user(&acme.bob), "action": action("run_resource"), "resource": flow(&acme.flow)});
    let refused = |path: &str, body: Value, status: u16| {
        let answer = server.post(path, body.clone());
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        answer.body["error"].clone()
    };
    // Missing fields and sub-fields, fields of the wrong type
    // (certification §c-2-4-1, §c-2-4-2, §c-2-4-6).
    for (field, value) in [
        ("/subject", Value::Null),
        ("/action", Value::Null),
        ("/resource", Value::Null),
        ("/subject/type", Value::Null),
        ("/subject/id", Value::Null),
        ("/action/name", Value::Null),
        ("/resource/type", Value::Null),
        ("/resource/id", Value::Null),
        ("/subject", json!("alice")),
        // serde would read a struct from an array of its fields' values.
        ("/subject", json!(["user", "alice"])),
        ("/action", json!(["read"])),
        ("/action/name", json!(123)),
        ("/context", json!([1])),
        ("/resource/properties", json!("x")),
    ] {
        let mut body = question.clone();
        let (parent, key) = field.rsplit_once('/').unwrap();
        let slot = body
            .pointer_mut(if parent.is_empty() { "" } else { parent })
            .unwrap();
        if value.is_null() {
            slot.as_object_mut().unwrap().remove(key);
        } else {
            slot[key] = value;
        }
        let error = refused(EVALUATION, body, 400);
        assert_eq!(error["code"], "invalid_request", "{field}: {error}");
        let last = key;
        assert!(
            error["message"].as_str().unwrap().contains(last),
            "{field}: {error}"
        );
    }
    // Names the schema lacks: 400 naming the AuthZEN field and the choices.
    let mut robot = question.clone();
    robot["subject"]["type"] = json!("robot");
    let error = refused(EVALUATION, robot, 400);
    assert_eq!(error["field"], "subject.type");
    assert!(
        error["message"].as_str().unwrap().contains("User"),
        "{error}"
    );
    let mut fly = question.clone();
    fly["action"]["name"] = json!("fly");
    assert_eq!(refused(EVALUATION, fly, 400)["field"], "action.name");
    // An action the schema does not allow on that resource type.
    let mut misapplied = question.clone();
    misapplied["action"]["name"] = json!("view_org");
    refused(EVALUATION, misapplied, 400);

    // Not JSON, no body, not application/json (a 400, not Warden's 415:
    // certification §c-2-4-3..5).
    for (body, content_type) in [
        (Some("{\"subject\": "), "application/json"),
        (Some(""), "application/json"),
        (None, "application/json"),
        (Some("[]"), "application/json"),
        (Some(&*question.to_string()), "text/plain"),
    ] {
        let answer = server.send_raw("POST", EVALUATION, body, &[("Content-Type", content_type)]);
        assert_eq!(
            answer.status, 400,
            "{body:?} {content_type}: {}",
            answer.body
        );
        assert_eq!(answer.body["error"]["code"], "invalid_request");
    }

    // No token, a wrong one: 401 with WWW-Authenticate (§"Sender
    // Authentication Failure").
    for authorization in ["", "Bearer not-the-token-0123456789"] {
        let answer = server.send(
            "POST",
            EVALUATIONS,
            Some(question.to_string()),
            &[("Authorization", authorization)],
        );
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        assert_eq!(answer.body["error"]["code"], "unauthenticated");
    }

    // Evaluations: more items than max_batch; an item that is not an
    // object; an unknown semantic; a malformed default.
    let many = json!({"subject": user(&acme.bob), "action": action("run_resource"),
                      "evaluations": vec![json!({"resource": flow(&acme.flow)}); 5]});
    assert_eq!(refused(EVALUATIONS, many, 413)["code"], "batch_too_large");
    let four = json!({"subject": user(&acme.bob), "action": action("run_resource"),
                      "evaluations": vec![json!({"resource": flow(&acme.flow)}); 4]});
    assert_eq!(
        decisions(&server.post(EVALUATIONS, four).expect(200)),
        [true; 4]
    );
    for body in [
        json!({"subject": user(&acme.bob), "action": action("run_resource"), "evaluations": ["x"]}),
        json!({"evaluations": [question], "options": {"evaluations_semantic": "first_wins"}}),
        json!({"evaluations": [question], "options": "all"}),
        json!({"subject": {"id": "x"}, "evaluations": [question]}),
        json!({"evaluations": {"0": question}}),
        json!({"subject": user(&acme.bob), "action": action("run_resource"), "evaluations": [[null, null]]}),
        json!({"resource": ["flow", acme.flow], "evaluations": [question]}),
    ] {
        refused(EVALUATIONS, body, 400);
    }
    // Without items, a missing key is the request's.
    let error = refused(
        EVALUATIONS,
        json!({"subject": user(&acme.bob), "action": action("run_resource")}),
        400,
    );
    assert_eq!(error["field"], "body.resource");
}

#[test]
fn the_metadata_and_request_ids() {
    let server = Server::start();

    // §"Policy Decision Point Metadata": no token, the URL asked for, the
    // endpoints served.
    let answer = server.send_raw(
        "GET",
        "/.well-known/authzen-configuration",
        None,
        &[("Authorization", "")],
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let base = &server.url;
    assert_eq!(
        answer.body,
        json!({
            "policy_decision_point": base,
            "access_evaluation_endpoint": format!("{base}{EVALUATION}"),
            "access_evaluations_endpoint": format!("{base}{EVALUATIONS}"),
            "search_subject_endpoint": format!("{base}{SEARCH_SUBJECT}"),
            "search_resource_endpoint": format!("{base}{SEARCH_RESOURCE}"),
            "search_action_endpoint": format!("{base}{SEARCH_ACTION}"),
        })
    );
    let proxied = server.send_raw(
        "GET",
        "/.well-known/authzen-configuration",
        None,
        &[("Host", "pdp.example.com"), ("X-Forwarded-Proto", "https")],
    );
    assert_eq!(
        proxied.body["policy_decision_point"],
        "https://pdp.example.com"
    );
    assert_eq!(
        proxied.body["access_evaluation_endpoint"],
        "https://pdp.example.com/access/v1/evaluation"
    );
    // The document lists the routes, behind the token.
    let document = server.get("/openapi.json").expect(200);
    for path in [
        EVALUATION,
        EVALUATIONS,
        SEARCH_SUBJECT,
        SEARCH_RESOURCE,
        SEARCH_ACTION,
    ] {
        assert_eq!(
            document["paths"][path]["post"]["security"],
            json!([{"admin_token": []}]),
            "{path}"
        );
    }
    assert!(
        document["paths"]["/.well-known/authzen-configuration"]["get"]
            .get("security")
            .is_none()
    );

    // §"Request Identification": the PEP's X-Request-ID comes back, on a
    // success and on an error, in the header and the error body.
    let id = "bfe9eb29-ab87-4ca3-be83-a1d5d8305716";
    let ok = server.send_raw("GET", "/healthz", None, &[("X-Request-ID", id)]);
    assert_eq!((ok.status, ok.header("x-request-id")), (200, Some(id)));
    let unauthenticated = server.send(
        "POST",
        EVALUATION,
        Some("{}".into()),
        &[("X-Request-Id", "pep 42"), ("Authorization", "")],
    );
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(unauthenticated.header("x-request-id"), Some("pep 42"));
    assert_eq!(unauthenticated.body["error"]["request_id"], "pep 42");
    // A W3C traceparent gives its trace id, unless an X-Request-Id is given.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = server.send_raw("GET", "/healthz", None, &[("traceparent", traceparent)]);
    assert_eq!(
        traced.header("x-request-id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let both = server.send_raw(
        "GET",
        "/v1/no-such-route",
        None,
        &[("traceparent", traceparent), ("X-Request-Id", "mine")],
    );
    assert_eq!(
        (both.status, both.header("x-request-id")),
        (404, Some("mine"))
    );
    assert_eq!(both.body["error"]["request_id"], "mine");
    // None, or an invalid one: a new id, the same in header and body.
    let too_long = "x".repeat(129);
    for headers in [
        &[][..],
        &[("X-Request-Id", too_long.as_str())],
        &[(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        )],
    ] {
        let answer = server.send_raw("DELETE", "/healthz", None, headers);
        assert_eq!(answer.status, 405);
        let generated = generated_id(&answer);
        assert_eq!(answer.body["error"]["request_id"], generated.as_str());
    }
    let first = generated_id(&server.get("/healthz"));
    assert_ne!(first, generated_id(&server.get("/healthz")));

    // A request hyper itself refuses gets an id too.
    let address = server.url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400"), "{raw}");
    let body: Value = serde_json::from_str(body).unwrap();
    let id = body["error"]["request_id"].as_str().unwrap();
    assert!(head.contains(&format!("x-request-id: {id}\r\n")), "{raw}");
}

/// The ids of a search answer's results, in order.
fn result_ids(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {answer}"))
        .iter()
        .map(|result| result["id"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Acme's second workspace, which Bob is no member of, with a flow; Ann's
/// personal credential and a shared one in the default workspace.
struct Reach {
    other_flow: String,
    shared: String,
    personal: String,
}

impl Reach {
    fn create(server: &Server, acme: &Acme) -> Reach {
        let workspace = server
            .post_as(
                &acme.ann,
                &format!("/v1/orgs/{}/workspaces", acme.org),
                json!({"name": "Finance"}),
            )
            .created_id();
        let register = |workspace: &str, body: Value| {
            let path = format!("/v1/workspaces/{workspace}/resources");
            server.post_as(&acme.ann, &path, body).created_id()
        };
        Reach {
            other_flow: register(&workspace, json!({"type": "Flow", "attributes": {}})),
            shared: register(
                &acme.workspace,
                json!({"type": "Credential", "attributes": {"personal": false}}),
            ),
            personal: register(
                &acme.workspace,
                json!({"type": "Credential", "attributes": {"personal": true}}),
            ),
        }
    }
}

#[test]
fn searches_answer_what_single_evaluations_permit() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let reach = Reach::create(&server, &acme);

    // §"Resource Search API": which flows may Bob run? The one of the
    // workspace he belongs to; Ann, an Admin, runs both.
    let flows_of = |subject: &str| {
        let body = json!({"subject": user(subject), "action": action("run_resource"),
                          "resource": {"type": "flow"}});
        server.post(SEARCH_RESOURCE, body).expect(200)
    };
    let bobs = flows_of(&acme.bob);
    assert_eq!(
        bobs,
        json!({"page": {"next_token": "", "count": 1},
               "context": {"complete": true, "policy_revision": 1},
               "results": [{"type": "flow", "id": acme.flow}]})
    );
    let both = sorted(vec![acme.flow.clone(), reach.other_flow.clone()]);
    assert_eq!(sorted(result_ids(&flows_of(&acme.ann))), both);
    assert_eq!(result_ids(&flows_of(&acme.carl)), Vec::<String>::new());
    // By email, as an evaluation takes it.
    assert_eq!(result_ids(&flows_of("bob@acme.com")), [acme.flow.as_str()]);

    // §"Subject Search API": who may reveal each credential?
    let revealers = |credential: &str| {
        let body = json!({"subject": {"type": "user"}, "action": action("reveal_credential"),
                          "resource": {"type": "credential", "id": credential}});
        let answer = server.post(SEARCH_SUBJECT, body).expect(200);
        assert!(answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["type"] == "user"));
        sorted(result_ids(&answer))
    };
    assert_eq!(
        revealers(&reach.shared),
        sorted(vec![acme.ann.clone(), acme.bob.clone()])
    );
    assert_eq!(revealers(&reach.personal), [acme.ann.as_str()]);

    // §"Action Search API": what may Bob do on the default workspace? An
    // editor's actions, each as an evaluation decides it.
    let body = json!({"subject": user(&acme.bob),
                      "resource": {"type": "workspace", "id": acme.workspace}});
    let actions = server.post(SEARCH_ACTION, body).expect(200);
    let names: Vec<&str> = actions["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["CreateResource", "RequestAccess", "ViewWorkspace"],
        "{actions}"
    );
    for name in names {
        let question = json!({"subject": user(&acme.bob), "action": action(name),
                              "resource": {"type": "workspace", "id": acme.workspace}});
        assert_eq!(
            server.post(EVALUATION, question).expect(200)["decision"],
            true,
            "{name}"
        );
    }

    // §"Pagination": a token round trip, one result a page.
    let first_page = json!({"subject": user(&acme.ann), "action": action("run_resource"),
                            "resource": {"type": "flow"}, "page": {"limit": 1}});
    let first = server.post(SEARCH_RESOURCE, first_page.clone()).expect(200);
    assert_eq!(first["page"]["count"], 1, "{first}");
    let token = first["page"]["next_token"].as_str().unwrap();
    assert!(!token.is_empty(), "{first}");
    let mut next_page = first_page.clone();
    next_page["page"]["token"] = json!(token);
    let second = server.post(SEARCH_RESOURCE, next_page.clone()).expect(200);
    let mut paged = result_ids(&first);
    paged.extend(result_ids(&second));
    assert_eq!(sorted(paged), both);
    if second["page"]["next_token"] != "" {
        let mut last = next_page.clone();
        last["page"]["token"] = second["page"]["next_token"].clone();
        let last = server.post(SEARCH_RESOURCE, last).expect(200);
        assert_eq!(
            (last["results"].clone(), last["page"]["next_token"].clone()),
            (json!([]), json!(""))
        );
    }
    // A token with another query (§"Paginated Requests": "the PDP SHOULD
    // return an error"), or none of Warden's: 400 naming page.token.
    let mut changed = next_page.clone();
    changed["page"]["limit"] = json!(2);
    let mut forged = next_page.clone();
    forged["page"]["token"] = json!("not-a-token");
    for body in [changed, forged] {
        let error = server.post(SEARCH_RESOURCE, body).expect(400)["error"].clone();
        assert_eq!(error["field"], "page.token", "{error}");
    }

    // Warden's own route: the same answer, paged by `after`.
    let access = server
        .get(&format!(
            "/v1/users/{}/access?action=RunResource&type=Flow",
            acme.bob
        ))
        .expect(200);
    assert_eq!(
        access,
        json!({"items": [{"type": "Flow", "id": acme.flow}], "next": null,
               "complete": true, "policy_revision": 1})
    );
    let path = format!(
        "/v1/users/{}/access?action=RunResource&type=Flow&limit=1",
        acme.ann
    );
    let first = server.get(&path).expect(200);
    let after = first["next"].as_str().unwrap();
    let second = server.get(&format!("{path}&after={after}")).expect(200);
    let mut paged: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap().clone())
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    paged.sort();
    assert_eq!(paged, both);
}

#[test]
fn a_search_asks_only_what_its_caller_may_know() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let reach = Reach::create(&server, &acme);
    let bobs_flows = json!({"subject": user(&acme.bob), "action": action("run_resource"),
                            "resource": {"type": "flow"}});
    let anns_flows = json!({"subject": user(&acme.ann), "action": action("run_resource"),
                            "resource": {"type": "flow"}});
    let as_user = |actor: &str, path: &str, body: &Value| {
        server.call(Some(actor), "POST", path, Some(body.clone()))
    };
    // A user asks about themself; about another, a 403 (§"Error
    // Responses"), on AuthZEN's route and Warden's.
    assert_eq!(
        result_ids(&as_user(&acme.bob, SEARCH_RESOURCE, &bobs_flows).expect(200)),
        [acme.flow.as_str()]
    );
    let refused = as_user(&acme.bob, SEARCH_RESOURCE, &anns_flows).expect(403);
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    let workspace = json!({"type": "workspace", "id": acme.workspace});
    let anns_actions = json!({"subject": user(&acme.ann), "resource": workspace});
    as_user(&acme.bob, SEARCH_ACTION, &anns_actions).expect(403);
    let path = format!("/v1/users/{}/access?action=RunResource&type=Flow", acme.ann);
    server.get_as(&acme.bob, &path).expect(403);
    server.get_as(&acme.ann, &path).expect(200);
    // Who may act on a resource: a user who may see its org's members.
    let revealers = json!({"subject": {"type": "user"}, "action": action("reveal_credential"),
                           "resource": {"type": "credential", "id": reach.shared}});
    as_user(&acme.bob, SEARCH_SUBJECT, &revealers).expect(200);
    as_user(&acme.carl, SEARCH_SUBJECT, &revealers).expect(403);
    let mut nothing = revealers.clone();
    nothing["resource"]["id"] = json!(uuid::Uuid::new_v4().to_string());
    as_user(&acme.bob, SEARCH_SUBJECT, &nothing).expect(403);
    // The vendor asks about anything: what Warden does not store has no one.
    assert_eq!(
        result_ids(&server.post(SEARCH_SUBJECT, nothing).expect(200)),
        Vec::<String>::new()
    );
}

#[test]
fn bad_searches_are_the_spec_errors() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let question = json!({"subject": user(&acme.bob), "action": action("run_resource"),
                          "resource": {"type": "flow"}});
    let refused = |path: &str, body: Value| {
        let answer = server.post(path, body.clone());
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(
            answer.body["error"]["code"], "invalid_request",
            "{}",
            answer.body
        );
        answer.body["error"].clone()
    };
    // Missing fields (§"JSON Serialization": a 400).
    for key in ["subject", "action", "resource"] {
        let mut body = question.clone();
        body.as_object_mut().unwrap().remove(key);
        let error = refused(SEARCH_RESOURCE, body);
        assert!(error["message"].as_str().unwrap().contains(key), "{error}");
    }
    refused(
        SEARCH_SUBJECT,
        json!({"action": action("run_resource"), "resource": flow(&acme.flow)}),
    );
    refused(SEARCH_ACTION, json!({"subject": user(&acme.bob)}));
    // Types and actions the schema lacks or does not join.
    let with = |pointer: &str, value: Value| {
        let mut body = question.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[key] = value;
        body
    };
    assert_eq!(
        refused(SEARCH_RESOURCE, with("/resource/type", json!("robot")))["field"],
        "resource.type"
    );
    assert_eq!(
        refused(SEARCH_RESOURCE, with("/resource/type", json!("org")))["field"],
        "resource.type"
    );
    assert_eq!(
        refused(SEARCH_RESOURCE, with("/action/name", json!("fly")))["field"],
        "action.name"
    );
    assert_eq!(
        refused(SEARCH_RESOURCE, with("/subject/type", json!("flow")))["field"],
        "subject.type"
    );
    assert_eq!(
        refused(SEARCH_RESOURCE, with("/page", json!({"limit": 0})))["field"],
        "page.limit"
    );
    refused(SEARCH_RESOURCE, with("/page", json!({"limit": -1})));
    refused(SEARCH_RESOURCE, with("/page", json!(["x"])));
    let answer = server.send_raw(
        "POST",
        SEARCH_RESOURCE,
        Some(&question.to_string()),
        &[("Content-Type", "text/plain")],
    );
    assert_eq!(answer.status, 400, "{}", answer.body);
    // An `id` of the searched entity is ignored (§"The Resource Search API
    // Request"), as are unknown fields.
    let with_id = with(
        "/resource",
        json!({"type": "flow", "id": "ignored", "x": 1}),
    );
    assert_eq!(
        result_ids(&server.post(SEARCH_RESOURCE, with_id).expect(200)),
        [acme.flow.as_str()]
    );

    // Warden's route: its query, and the user it names.
    let access = format!("/v1/users/{}/access", acme.bob);
    for (query, field) in [
        ("?type=Flow", "query"),
        ("?action=RunResource", "query"),
        ("?action=Fly&type=Flow", "query.action"),
        ("?action=RunResource&type=Robot", "query.type"),
        ("?action=RunResource&type=Flow&limit=0", "query.limit"),
        ("?action=RunResource&type=Flow&after=zz", "query.after"),
        ("?action=RunResource&type=Flow&colour=red", "query"),
    ] {
        let error = server.get(&format!("{access}{query}")).expect(400)["error"].clone();
        assert_eq!(error["field"], field, "{query}: {error}");
    }
    let nobody = uuid::Uuid::new_v4();
    server
        .get(&format!(
            "/v1/users/{nobody}/access?action=RunResource&type=Flow"
        ))
        .expect(404);
}

#[test]
fn a_policy_that_reads_the_context_makes_searches_incomplete() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let question = json!({"subject": user(&acme.bob), "action": action("run_resource"),
                          "resource": {"type": "flow"}});
    assert_eq!(
        server.post(SEARCH_RESOURCE, question.clone()).expect(200)["context"]["complete"],
        true
    );

    // Flows run from the office only: the schema declares the context, a
    // forbid reads it.
    let schema = server.policies_dir().join("schema.cedarschema");
    let text = std::fs::read_to_string(&schema).unwrap();
    let resource_actions = "appliesTo { principal: [User], resource: [Folder, Flow, Credential] }";
    assert!(text.contains(resource_actions));
    let with_context = resource_actions.replace(" }", ", context: { from_office?: Bool } }");
    std::fs::write(&schema, text.replace(resource_actions, &with_context)).unwrap();
    let office = r#"
@id("run-from-the-office")
@reason("Flows run from the office only")
forbid (principal, action == Action::"RunResource", resource is Flow)
unless { context has from_office && context.from_office };
"#;
    std::fs::write(server.policies_dir().join("office.cedar"), office).unwrap();
    let incomplete = |s: &Server| {
        s.post(SEARCH_RESOURCE, question.clone()).expect(200)["context"]["complete"] == false
    };
    assert!(
        server.wait_for(std::time::Duration::from_secs(5), incomplete),
        "no reload"
    );

    // Without the context: none, and said to be incomplete; with it, the
    // flow, still incomplete (another context may decide otherwise).
    let answer = server.post(SEARCH_RESOURCE, question.clone()).expect(200);
    assert_eq!(answer["results"], json!([]), "{answer}");
    let reason = answer["context"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("run-from-the-office") && reason.contains("context"),
        "{reason}"
    );
    let mut from_office = question.clone();
    from_office["context"] = json!({"from_office": true});
    let answer = server.post(SEARCH_RESOURCE, from_office).expect(200);
    assert_eq!(result_ids(&answer), [acme.flow.as_str()]);
    assert_eq!(answer["context"]["complete"], false);
    let access = server
        .get(&format!(
            "/v1/users/{}/access?action=RunResource&type=Flow",
            acme.bob
        ))
        .expect(200);
    assert_eq!(access["complete"], false, "{access}");
    assert!(
        access["reason"]
            .as_str()
            .unwrap()
            .contains("run-from-the-office"),
        "{access}"
    );
    // Other actions do not read it.
    let viewable = json!({"subject": user(&acme.bob), "action": action("view_resource"),
                          "resource": {"type": "flow"}});
    assert_eq!(
        server.post(SEARCH_RESOURCE, viewable).expect(200)["context"]["complete"],
        true
    );
}

/// The id the server made for `answer`'s request: a uuid v7.
#[track_caller]
fn generated_id(answer: &Answer) -> String {
    let id = answer.header("x-request-id").expect("an X-Request-Id");
    let uuid = uuid::Uuid::parse_str(id).expect("a generated uuid");
    assert_eq!(uuid.get_version_num(), 7);
    id.to_string()
}

/// A small deterministic generator (SplitMix64), so a failing population
/// can be rebuilt from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// (AuthZEN type, Warden type, actions on it).
const KINDS: &[(&str, &str, &[&str])] = &[
    (
        "org",
        "Org",
        &[
            "ViewOrg",
            "UpdateOrg",
            "InviteMember",
            "ChangeRole",
            "RemoveMember",
            "ViewMembers",
            "ViewAudit",
            "CreateWorkspace",
            "ViewBilling",
            "ManagePlan",
        ],
    ),
    (
        "workspace",
        "Workspace",
        &[
            "ViewWorkspace",
            "RequestAccess",
            "UpdateWorkspace",
            "DeleteWorkspace",
            "ManageWorkspaceMembers",
            "CreateResource",
        ],
    ),
    (
        "flow",
        "Flow",
        &[
            "ViewResource",
            "EditResource",
            "RunResource",
            "DeleteResource",
            "MoveResource",
            "RecordUsage",
        ],
    ),
    (
        "folder",
        "Folder",
        &["ViewResource", "EditResource", "DeleteResource"],
    ),
    (
        "credential",
        "Credential",
        &[
            "ViewResource",
            "UseCredential",
            "RevealCredential",
            "EditResource",
        ],
    ),
];

/// `RunResource` → `run_resource`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A random population: two orgs, users with random org and workspace
/// roles, resources with random owners, sharing and personal credentials.
struct Population {
    /// Each user's id and email.
    users: Vec<(String, String)>,
    /// Each entity's Warden type and id.
    entities: Vec<(&'static str, String)>,
}

fn populate(server: &Server, rng: &mut Rng) -> Population {
    let users: Vec<(String, String)> = (0..7)
        .map(|i| {
            let email = format!("user{i}@pop.example.com");
            (server.user(&email), email)
        })
        .collect();
    let mut entities = Vec::new();
    for (o, admin) in users.iter().take(2).enumerate() {
        let org = server
            .post(
                "/v1/orgs",
                json!({"name": format!("Pop {o}"), "plan": "pro", "seat_limit": 20, "admin": admin.0}),
            )
            .expect(201);
        let org_id = org["id"].as_str().unwrap().to_string();
        let mut workspaces = vec![org["default_workspace"].as_str().unwrap().to_string()];
        workspaces.push(
            server
                .post_as(
                    &admin.0,
                    &format!("/v1/orgs/{org_id}/workspaces"),
                    json!({"name": "Second"}),
                )
                .created_id(),
        );
        let mut members = vec![admin.0.clone()];
        for (user, _) in users.iter().skip(2) {
            let role = *rng.pick(&[
                "none",
                "admin",
                "member",
                "guest_internal",
                "guest_external",
            ]);
            if role == "none" {
                continue;
            }
            server
                .post(
                    &format!("/v1/orgs/{org_id}/members"),
                    json!({"user": user, "role": role}),
                )
                .expect(201);
            members.push(user.clone());
            let ws_role = *rng.pick(&["none", "admin", "editor", "viewer"]);
            if ws_role != "none" {
                let answer = server.post_as(
                    &admin.0,
                    &format!("/v1/workspaces/{}/members", workspaces[1]),
                    json!({"user": user, "role": ws_role}),
                );
                assert!([201, 409].contains(&answer.status), "{}", answer.body);
            }
        }
        for workspace in &workspaces {
            for (kind, extra) in [
                ("Flow", json!({})),
                ("Folder", json!({})),
                ("Credential", json!({"personal": false})),
                ("Credential", json!({"personal": true})),
            ] {
                let mut attributes = json!({"name": format!("{kind} of {workspace}")});
                for (key, value) in extra.as_object().unwrap() {
                    attributes[key] = value.clone();
                }
                let owner = rng.pick(&members).clone();
                let shared: Vec<&String> = members.iter().filter(|_| rng.next() % 3 == 0).collect();
                let id = server
                    .post_as(
                        &admin.0,
                        &format!("/v1/workspaces/{workspace}/resources"),
                        json!({"type": kind, "owner": owner, "shared_with": shared, "attributes": attributes}),
                    )
                    .created_id();
                entities.push((kind, id));
            }
            entities.push(("Workspace", workspace.clone()));
        }
        entities.push(("Org", org_id));
    }
    Population { users, entities }
}

/// For random populations, every AuthZEN evaluation (in snake case, the
/// subject by id or by email) decides as `/v1/authorize` decides the same
/// question, across every user (so every role) and every action of each
/// entity type.
#[test]
fn authzen_decisions_equal_authorize_decisions_for_random_populations() {
    let server = Server::start();
    let mut rng = Rng(0x5eed_0017);
    let Population { users, entities } = populate(&server, &mut rng);
    let mut questions = Vec::new();
    for (user, email) in &users {
        for (kind, id) in &entities {
            let (authzen_kind, _, actions) = KINDS.iter().find(|k| k.1 == *kind).unwrap();
            for action in *actions {
                questions.push((user, email, *authzen_kind, *kind, id, *action));
            }
        }
    }
    assert!(questions.len() > 500, "{}", questions.len());
    let (mut allowed, mut differ) = (0, Vec::new());
    for chunk in questions.chunks(100) {
        let checks: Vec<Value> = chunk
            .iter()
            .map(|(user, _, _, kind, id, action)| {
                json!({"principal": {"type": "User", "id": user},
                       "action": {"type": "Action", "id": action},
                       "resource": {"type": kind, "id": id}})
            })
            .collect();
        let expected = server
            .post("/v1/authorize/batch", json!({ "requests": checks }))
            .expect(200);
        let evaluations: Vec<Value> = chunk
            .iter()
            .map(|(user, email, authzen_kind, _, id, action)| {
                let subject = if rng.next() % 2 == 0 {
                    user.as_str()
                } else {
                    email.as_str()
                };
                json!({"subject": {"type": "user", "id": subject},
                       "action": {"name": snake(action)},
                       "resource": {"type": authzen_kind, "id": id}})
            })
            .collect();
        let got = server
            .post(EVALUATIONS, json!({ "evaluations": evaluations }))
            .expect(200);
        let got = got["evaluations"].as_array().unwrap();
        for ((question, expected), got) in chunk
            .iter()
            .zip(expected["results"].as_array().unwrap())
            .zip(got)
        {
            assert!(expected.get("error").is_none(), "{question:?}: {expected}");
            let expected_allowed = expected["decision"] == "Allow";
            allowed += usize::from(expected_allowed);
            if got["decision"] != expected_allowed
                || got["context"]["reason_admin"]["policies"] != expected["diagnostics"]["reason"]
            {
                differ.push(format!(
                    "{question:?}: /v1/authorize {expected}, AuthZEN {got}"
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    // The population exercises both answers.
    assert!(
        allowed > 20 && allowed < questions.len() - 20,
        "{allowed} of {}",
        questions.len()
    );
}
