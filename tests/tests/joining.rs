//! One way into an org, one result: whichever way a user joins (creating
//! the org, added by an Admin, an invitation accepted or admitted at once,
//! auto-join at sign-up), their org role gives the same role in the org's
//! default workspace, by one table.

use serde_json::{json, Value};
use warden_e2e::Server;

/// The table the README states: org role → role in the default workspace.
fn default_workspace_role(org_role: &str) -> Option<&'static str> {
    match org_role {
        "admin" => Some("admin"),
        "member" => Some("editor"),
        "guest_internal" => Some("viewer"),
        "guest_external" => None,
        other => panic!("unknown role {other}"),
    }
}

struct Org {
    id: String,
    admin: String,
    default_workspace: String,
}

fn org(server: &Server, plan: &str, seat_limit: u32) -> Org {
    let admin = server.user("root@acme.com");
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": plan, "seat_limit": seat_limit,
                   "verified_domains": ["acme.com"], "admin": admin}),
        )
        .expect(201);
    Org {
        id: org["id"].as_str().unwrap().to_string(),
        admin,
        default_workspace: org["default_workspace"].as_str().unwrap().to_string(),
    }
}

fn update_org(server: &Server, org: &Org, body: Value) {
    let path = format!("/v1/orgs/{}", org.id);
    server
        .call(Some(&org.admin), "PATCH", &path, Some(body))
        .expect(200);
}

/// The user's role in the org's default workspace, if any.
fn workspace_role(server: &Server, org: &Org, user: &str) -> Option<String> {
    let path = format!("/v1/workspaces/{}/members?limit=500", org.default_workspace);
    let members = server.get(&path).expect(200);
    members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == user)
        .map(|m| m["role"].as_str().unwrap().to_string())
}

fn org_role(server: &Server, org: &Org, user: &str) -> String {
    let members = server
        .get(&format!("/v1/orgs/{}/members?limit=500", org.id))
        .expect(200);
    let member = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == user)
        .unwrap_or_else(|| panic!("{user} is no member: {members}"));
    member["role"].as_str().unwrap().to_string()
}

fn invite(server: &Server, org: &Org, email: &str, role: &str) -> Value {
    server
        .post_as(
            &org.admin,
            &format!("/v1/orgs/{}/invitations", org.id),
            json!({"email": email, "role": role}),
        )
        .expect(201)
}

/// Joins `email` to `org` with `role` by `way`; returns the user id.
fn join(server: &Server, org: &Org, way: &str, email: &str, role: &str) -> String {
    match way {
        "added" => {
            let user = server.user(email);
            server
                .post_as(
                    &org.admin,
                    &format!("/v1/orgs/{}/members", org.id),
                    json!({"user": user, "role": role}),
                )
                .expect(201);
            user
        }
        "invitation accepted" => {
            update_org(server, org, json!({"invitation_mode": "on_accept"}));
            let user = server.user(email);
            let invitation = invite(server, org, email, role);
            assert_eq!(invitation["status"], "pending");
            let accept = format!(
                "/v1/orgs/{}/invitations/{}/accept",
                org.id,
                invitation["id"].as_str().unwrap()
            );
            server.post_as(&user, &accept, json!({})).expect(200);
            user
        }
        "invited at once" => {
            update_org(server, org, json!({"invitation_mode": "on_invite"}));
            let invitation = invite(server, org, email, role);
            assert_eq!(invitation["status"], "accepted", "{invitation}");
            invitation["accepted_by"].as_str().unwrap().to_string()
        }
        "auto-joined" => {
            update_org(server, org, json!({"autojoin_role": role}));
            let signup = server
                .post("/v1/signup", json!({"email": email}))
                .expect(201);
            assert_eq!(signup["joined"]["role"], role, "{signup}");
            signup["user"]["id"].as_str().unwrap().to_string()
        }
        other => panic!("unknown way {other}"),
    }
}

#[test]
fn every_way_in_gives_the_same_default_workspace_role() {
    let server = Server::start();
    let org = org(&server, "team", 0);
    assert_eq!(
        workspace_role(&server, &org, &org.admin).as_deref(),
        default_workspace_role("admin"),
        "the admin who created the org"
    );
    let ways = [
        "added",
        "invitation accepted",
        "invited at once",
        "auto-joined",
    ];
    let mut n = 0;
    for way in ways {
        for role in ["admin", "member", "guest_internal", "guest_external"] {
            if way == "auto-joined" && role == "admin" {
                continue; // auto-join never makes an Admin
            }
            n += 1;
            let user = join(&server, &org, way, &format!("user{n}@acme.com"), role);
            assert_eq!(org_role(&server, &org, &user), role, "{way} {role}");
            assert_eq!(
                workspace_role(&server, &org, &user).as_deref(),
                default_workspace_role(role),
                "{way} as {role}"
            );
        }
    }
}

#[test]
fn an_invitation_admitted_at_once_charges_its_seat_at_the_point_of_inviting() {
    let server = Server::start_with_plugins(&["plugins/seat-billing"]);
    // One seat, taken by the admin: the next Member is billed.
    let org = org(&server, "pro", 1);
    let billing = json!({
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-01-31T00:00:00Z",
        "seat_price_cents": 3_000,
    });
    server
        .send(
            "PUT",
            &format!("/v1/orgs/{}/billing", org.id),
            Some(billing.to_string()),
            &[],
        )
        .expect(201);
    update_org(&server, &org, json!({"invitation_mode": "on_invite"}));

    let invitation = invite(&server, &org, "New.Hire@acme.com", "member");
    assert_eq!(invitation["status"], "accepted", "{invitation}");
    let user = invitation["accepted_by"].as_str().unwrap();
    let charges = server
        .get(&format!("/v1/orgs/{}/seat-charges", org.id))
        .expect(200);
    let charges = charges["items"].as_array().unwrap();
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["user"], user, "{charges:?}");
    // The invited email is now a user (normalised), and a member.
    let taken = server.post("/v1/users", json!({"email": "new.hire@acme.com"}));
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(org_role(&server, &org, user), "member");
    // Inviting them again is a conflict, and charges nothing more.
    let again = server.post_as(
        &org.admin,
        &format!("/v1/orgs/{}/invitations", org.id),
        json!({"email": "new.hire@acme.com", "role": "member"}),
    );
    assert_eq!(again.status, 409, "{}", again.body);
    let charges = server
        .get(&format!("/v1/orgs/{}/seat-charges", org.id))
        .expect(200);
    assert_eq!(charges["items"].as_array().unwrap().len(), 1);
}

#[test]
fn workspace_members_are_added_by_email_too() {
    let server = Server::start();
    let org = org(&server, "pro", 0);
    let ann = join(&server, &org, "added", "ann@acme.com", "guest_external");
    let outsider = server.user("zed@other.com");
    let workspace = server
        .post_as(
            &org.admin,
            &format!("/v1/orgs/{}/workspaces", org.id),
            json!({"name": "Research"}),
        )
        .created_id();
    let members = format!("/v1/workspaces/{workspace}/members");
    let add = |body: Value| server.post_as(&org.admin, &members, body);

    let added = add(json!({"email": " Ann@ACME.com ", "role": "viewer"})).expect(201);
    assert_eq!(added["user"], ann);
    for (body, status, code) in [
        (
            json!({"email": "nobody@acme.com", "role": "viewer"}),
            409,
            "not_org_member",
        ),
        (
            json!({"email": "zed@other.com", "role": "viewer"}),
            409,
            "not_org_member",
        ),
        (
            json!({"email": "not an email", "role": "viewer"}),
            400,
            "invalid_request",
        ),
        (
            json!({"user": outsider, "email": "zed@other.com", "role": "viewer"}),
            400,
            "invalid_request",
        ),
        (json!({"role": "viewer"}), 400, "invalid_request"),
    ] {
        let answer = add(body.clone());
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert_eq!(
            answer.body["error"]["code"], code,
            "{body}: {}",
            answer.body
        );
    }
}
