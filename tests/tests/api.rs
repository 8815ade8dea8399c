//! The HTTP contract: authentication, error format, limits, idempotent
//! writes, authorization of management calls, durability across restarts.

use serde_json::{json, Value};
use warden_e2e::{Server, TOKEN};

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[test]
fn every_v1_route_needs_the_admin_token() {
    let server = Server::start();
    let bearer_wrong = "Bearer wrong-token-wrong-token";
    for auth in ["", bearer_wrong, TOKEN, "Basic abc"] {
        let answer = server.send("GET", "/v1/policies", None, &[("Authorization", auth)]);
        assert_eq!(answer.status, 401, "{auth:?}");
        assert_eq!(error_code(&answer.body), "unauthenticated");
    }
    let answer = server.send(
        "POST",
        "/v1/users",
        Some(json!({"email": "a@b.com"}).to_string()),
        &[("Authorization", "")],
    );
    assert_eq!(answer.status, 401);
    assert_eq!(
        server
            .send("GET", "/healthz", None, &[("Authorization", "")])
            .status,
        200
    );
    server.get("/v1/policies").expect(200);
    let doc = server
        .send("GET", "/openapi.json", None, &[("Authorization", "")])
        .expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert!(doc["paths"]["/v1/orgs/{id}/invitations"]["post"].is_object());
}

#[test]
fn bad_input_gets_a_400_that_says_where() {
    let server = Server::start();
    let malformed = server.send(
        "POST",
        "/v1/users",
        Some(r#"{"email": "a@b.com""#.into()),
        &[],
    );
    assert_eq!(malformed.status, 400, "{:?}", malformed.body);
    assert!(
        malformed.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{:?}",
        malformed.body
    );

    let unknown = server
        .post("/v1/users", json!({"email": "a@b.com", "admin": true}))
        .expect(400);
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin"),
        "{unknown}"
    );

    let wrong_type = server
        .post("/v1/orgs", json!({"name": "Acme", "seat_limit": "ten"}))
        .expect(400);
    assert_eq!(
        wrong_type["error"]["field"], "body.seat_limit",
        "{wrong_type}"
    );

    let bad_email = server
        .post("/v1/users", json!({"email": "not-an-email"}))
        .expect(400);
    assert_eq!(bad_email["error"]["field"], "email");

    let bad_id = server.get("/v1/orgs/not-a-uuid").expect(400);
    assert_eq!(error_code(&bad_id), "invalid_request");
    assert_eq!(bad_id["error"]["field"], "path.id");

    let no_content_type = server.send("POST", "/v1/users", None, &[]);
    assert_eq!(no_content_type.status, 400, "{:?}", no_content_type.body);

    let missing = server
        .get(&format!(
            "/v1/orgs/{}",
            "0190c6a4-0000-7000-8000-000000000000"
        ))
        .expect(404);
    assert_eq!(error_code(&missing), "not_found");
    assert_eq!(
        error_code(&server.get("/v1/nowhere").expect(404)),
        "not_found"
    );
    assert_eq!(
        error_code(&server.send("DELETE", "/v1/users", None, &[]).expect(405)),
        "method_not_allowed"
    );
}

#[test]
fn a_body_over_the_limit_gets_a_413() {
    let server = Server::start_with(&["--max-body-bytes", "2048"]);
    let big = json!({"email": format!("{}@acme.com", "a".repeat(4096))});
    let answer = server.post("/v1/users", big).expect(413);
    assert_eq!(error_code(&answer), "body_too_large");
    server
        .post("/v1/users", json!({"email": "small@acme.com"}))
        .expect(201);
}

#[test]
fn a_retried_write_with_the_same_key_answers_the_same_and_writes_once() {
    let server = Server::start();
    let body = json!({"name": "Acme", "plan": "pro"}).to_string();
    let key = [("Idempotency-Key", "create-acme-1")];
    let first = server
        .send("POST", "/v1/orgs", Some(body.clone()), &key)
        .expect(201);
    let again = server
        .send("POST", "/v1/orgs", Some(body), &key)
        .expect(201);
    assert_eq!(first, again);

    let other_body = json!({"name": "Globex", "plan": "pro"}).to_string();
    let reused = server
        .send("POST", "/v1/orgs", Some(other_body), &key)
        .expect(409);
    assert_eq!(error_code(&reused), "idempotency_key_reused");

    let org = first["id"].as_str().unwrap();
    let audit = server.get(&format!("/v1/orgs/{org}/audit")).expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["next"], Value::Null, "{audit}");
}

#[test]
fn management_calls_are_authorized_by_the_policies() {
    let server = Server::start();
    let admin = server.user("admin@acme.com");
    let member = server.user("member@acme.com");
    let newcomer = server.user("new@acme.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "free", "admin": admin}),
        )
        .created_id();
    let members = format!("/v1/orgs/{org}/members");
    server
        .post_as(&admin, &members, json!({"user": member, "role": "member"}))
        .expect(201);

    let denied = server
        .post_as(
            &member,
            &members,
            json!({"user": newcomer, "role": "member"}),
        )
        .expect(403);
    assert_eq!(error_code(&denied), "forbidden");
    assert!(
        denied["error"]["message"]
            .as_str()
            .unwrap()
            .contains("InviteMember"),
        "{denied}"
    );

    // Free plan: only the default workspace.
    let workspaces = format!("/v1/orgs/{org}/workspaces");
    let denied = server
        .post_as(&admin, &workspaces, json!({"name": "Research"}))
        .expect(403);
    assert_eq!(
        denied["error"]["policies"],
        json!(["workspaces-need-pro"]),
        "{denied}"
    );

    let stranger = server.user("stranger@globex.com");
    server
        .get_as(&stranger, &format!("/v1/orgs/{org}"))
        .expect(403);
    server
        .get_as(&member, &format!("/v1/orgs/{org}"))
        .expect(200);

    let listed = server.get_as(&admin, &members).expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn a_restart_keeps_the_data() {
    let mut server = Server::start();
    let admin = server.user("admin@acme.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "admin": admin}),
        )
        .created_id();
    let workspace = server
        .post_as(
            &admin,
            &format!("/v1/orgs/{org}/workspaces"),
            json!({"name": "Research"}),
        )
        .created_id();
    let before = server
        .get(&format!("/v1/workspaces/{workspace}"))
        .expect(200);

    server.restart();

    assert_eq!(
        server
            .get(&format!("/v1/workspaces/{workspace}"))
            .expect(200),
        before
    );
    assert_eq!(
        server.check(&admin, "UpdateWorkspace", "Workspace", &workspace)["decision"],
        "Allow"
    );
    let taken = server
        .post("/v1/users", json!({"email": "ADMIN@acme.com"}))
        .expect(409);
    assert_eq!(error_code(&taken), "email_taken");
}

/// Sends `request` (a whole HTTP/1.1 request) as it is and returns the
/// answer's status and body: for headers no client library sends twice.
fn raw_request(server: &Server, request: &str) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn the_bearer_scheme_is_case_insensitive_and_sent_once() {
    let server = Server::start();
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let auth = format!("{scheme} {TOKEN}");
        let answer = server.send("GET", "/v1/policies", None, &[("Authorization", &auth)]);
        assert_eq!(answer.status, 200, "{scheme}");
    }
    let twice = format!(
        "GET /v1/policies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Authorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = raw_request(&server, &twice);
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), "unauthenticated");
}

#[test]
fn an_actor_named_twice_is_a_400_and_writes_nothing() {
    let server = Server::start();
    let admin = server.user("admin@acme.com");
    let member = server.user("member@acme.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "admin": admin}),
        )
        .created_id();
    let body = json!({"user": member, "role": "admin"}).to_string();
    let request = format!(
        "POST /v1/orgs/{org}/members HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         X-Warden-Actor: {member}\r\nX-Warden-Actor: {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, answer) = raw_request(&server, &request);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "x-warden-actor");
    let members = server.get(&format!("/v1/orgs/{org}/members")).expect(200);
    assert_eq!(members["items"].as_array().unwrap().len(), 1, "{members}");
}

#[test]
fn a_token_file_too_short_to_be_a_token_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for content in ["", "\n", "short"] {
        std::fs::write(data.join("admin.token"), content).unwrap();
        let output = std::process::Command::new(warden_e2e::warden_bin())
            .arg("serve")
            .arg("--data")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("WARDEN_ADMIN_TOKEN")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!output.status.success(), "started with {content:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("admin.token holds"), "{stderr}");
    }
}

#[test]
fn a_generated_token_file_is_private_and_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // An unreadable policy directory stops the server after the token is
    // written, so the test needs no port.
    let output = std::process::Command::new(warden_e2e::warden_bin())
        .arg("serve")
        .arg("--data")
        .arg(&data)
        .args(["--policies", "no-such-dir", "--listen", "127.0.0.1:0"])
        .env_remove("WARDEN_ADMIN_TOKEN")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    assert_eq!(token.len(), 64, "{token:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("admin.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
