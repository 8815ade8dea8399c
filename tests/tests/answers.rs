//! Every answer Warden shapes is the documented JSON error
//! (`{"error":{"code","message",…}}`): unreadable path ids, unknown routes
//! and methods, bodies that are not a JSON object, bodies that are not JSON
//! at all (415). Each refused request changes nothing.

use std::time::Duration;

use serde_json::{json, Value};
use warden_e2e::{Server, TOKEN};

/// A request with a raw body and `content_type` (none when `None`), as the
/// system actor.
fn send_raw(
    server: &Server,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let mut request = ureq::request(method, &format!("{}{path}", server.url))
        .timeout(Duration::from_secs(30))
        .set("Authorization", &format!("Bearer {TOKEN}"));
    if let Some(content_type) = content_type {
        request = request.set("Content-Type", content_type);
    }
    let response = match request.send_bytes(body) {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {path}: {status} is not JSON: {text:?}"));
    (status, body)
}

/// The error's code, after checking the answer has the documented shape.
#[track_caller]
fn error_code(body: &Value) -> &str {
    assert!(
        body["error"]["message"].is_string(),
        "no error message in {body}"
    );
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[test]
fn an_unreadable_path_id_is_a_json_400_naming_it() {
    let server = Server::start();
    let (org, _) = server.acme_with_admin();
    for (method, path, field) in [
        ("GET", "/v1/workspaces/%FF".to_string(), "path.id"),
        ("DELETE", "/v1/resources/%C3%28".to_string(), "path.id"),
        (
            "GET",
            format!("/v1/orgs/{org}/invitations/%FF"),
            "path.invitation",
        ),
        (
            "DELETE",
            format!("/v1/orgs/{org}/members/%FE%FF"),
            "path.user",
        ),
    ] {
        let (status, body) = send_raw(&server, method, &path, None, b"");
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert_eq!(error_code(&body), "invalid_request", "{body}");
        assert_eq!(body["error"]["field"], field, "{method} {path}: {body}");
    }
    // A readable id that is no uuid is named the same way.
    let (status, body) = send_raw(&server, "GET", "/v1/workspaces/nope", None, b"");
    assert_eq!((status, &body["error"]["field"]), (400, &json!("path.id")));
}

#[test]
fn unknown_routes_and_methods_are_json() {
    let server = Server::start();
    let (status, body) = send_raw(&server, "GET", "/v1/nothing-here", None, b"");
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    let (status, body) = send_raw(&server, "PUT", "/v1/users", None, b"");
    assert_eq!((status, error_code(&body)), (405, "method_not_allowed"));
}

#[test]
fn a_body_that_is_not_a_json_object_is_a_400_naming_body_and_writes_nothing() {
    let server = Server::start();
    for body in [
        r#"["zed@acme.com"]"#,
        r#" ["zed@acme.com", "x"]"#,
        r#""zed@acme.com""#,
        "42",
        "null",
    ] {
        let (status, answer) = send_raw(
            &server,
            "POST",
            "/v1/users",
            Some("application/json"),
            body.as_bytes(),
        );
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(error_code(&answer), "invalid_request");
        assert_eq!(answer["error"]["field"], "body", "{body}: {answer}");
    }
    // Nothing was created: the email is still free.
    server
        .post("/v1/users", json!({"email": "zed@acme.com"}))
        .expect(201);
    // Checks read objects too.
    let (status, answer) = send_raw(
        &server,
        "POST",
        "/v1/authorize",
        Some("application/json"),
        b"[]",
    );
    assert_eq!((status, &answer["error"]["field"]), (400, &json!("body")));
}

#[test]
fn a_body_that_is_not_declared_json_is_a_415_and_writes_nothing() {
    let server = Server::start();
    let body = br#"{"email": "zed@acme.com"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        None,
    ] {
        let (status, answer) = send_raw(&server, "POST", "/v1/users", content_type, body);
        assert_eq!(status, 415, "{content_type:?}: {answer}");
        assert_eq!(error_code(&answer), "unsupported_media_type");
        let (status, answer) = send_raw(&server, "POST", "/v1/authorize", content_type, body);
        assert_eq!(status, 415, "{content_type:?}: {answer}");
    }
    // JSON with a charset, in any case, is JSON.
    let (status, answer) = send_raw(
        &server,
        "POST",
        "/v1/users",
        Some("Application/JSON; charset=utf-8"),
        body,
    );
    assert_eq!(status, 201, "{answer}");
}

#[test]
fn an_action_route_needs_no_body_and_no_content_type() {
    let server = Server::start();
    let (org, _) = server.acme_with_admin();
    let invitation = server
        .post(
            &format!("/v1/orgs/{org}/invitations"),
            json!({"email": "zed@acme.com", "role": "member"}),
        )
        .created_id();
    let revoke = format!("/v1/orgs/{org}/invitations/{invitation}/revoke");
    let (status, answer) = send_raw(&server, "POST", &revoke, Some("text/plain"), b"");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "revoked", "{answer}");
}
