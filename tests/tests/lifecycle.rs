//! The org and workspace lifecycle over HTTP against the real binary: the
//! Gumloop scenario (minus sign-up) step by step, each step a test.

use std::time::Duration;

use serde_json::{json, Value};
use warden_e2e::{warden_bin, Answer, Server};

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

fn str_of(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_string()
}

/// Acme (pro, acme.com) with its admin and Ann, a Member who joined by
/// accepting an invitation.
struct Acme {
    org: String,
    default_ws: String,
    admin: String,
    ann: String,
}

impl Acme {
    fn create(server: &Server) -> Acme {
        let admin = server.user("admin@acme.com");
        let org = server
            .post(
                "/v1/orgs",
                json!({"name": "Acme", "plan": "pro", "seat_limit": 10,
                       "verified_domains": ["acme.com"], "admin": admin}),
            )
            .expect(201);
        let acme = Acme {
            org: str_of(&org["id"]),
            default_ws: str_of(&org["default_workspace"]),
            admin,
            ann: server.user("ann@acme.com"),
        };
        acme.join(server, &acme.ann, "ann@acme.com", "member");
        acme
    }

    /// Invites `email` as the admin and accepts as `user`.
    fn join(&self, server: &Server, user: &str, email: &str, role: &str) -> Value {
        let invitation = self.invite(server, &self.admin, email, role).expect(201);
        self.accept(server, user, &str_of(&invitation["id"]))
            .expect(200)
    }

    fn invite(&self, server: &Server, actor: &str, email: &str, role: &str) -> Answer {
        let path = format!("/v1/orgs/{}/invitations", self.org);
        server.post_as(actor, &path, json!({"email": email, "role": role}))
    }

    fn invitation_call(&self, server: &Server, actor: &str, id: &str, verb: &str) -> Answer {
        let path = format!("/v1/orgs/{}/invitations/{id}/{verb}", self.org);
        server.call(Some(actor), "POST", &path, None)
    }

    fn accept(&self, server: &Server, user: &str, id: &str) -> Answer {
        self.invitation_call(server, user, id, "accept")
    }

    fn set_role(&self, server: &Server, actor: &str, user: &str, role: &str) -> Answer {
        let path = format!("/v1/orgs/{}/members/{user}", self.org);
        server.call(Some(actor), "PATCH", &path, Some(json!({"role": role})))
    }

    /// Creates a workspace as `actor` and returns its id.
    fn workspace(&self, server: &Server, actor: &str, name: &str) -> String {
        let path = format!("/v1/orgs/{}/workspaces", self.org);
        server
            .post_as(actor, &path, json!({ "name": name }))
            .created_id()
    }

    fn org_record(&self, server: &Server) -> Value {
        server.get(&format!("/v1/orgs/{}", self.org)).expect(200)
    }

    fn audit_len(&self, server: &Server) -> usize {
        let page = server
            .get(&format!("/v1/orgs/{}/audit?limit=500", self.org))
            .expect(200);
        page["items"].as_array().unwrap().len()
    }
}

#[test]
fn an_accepted_invitation_makes_a_member_of_the_org_and_its_default_workspace() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let membership = server
        .get_as(&acme.admin, &format!("/v1/orgs/{}/members", acme.org))
        .expect(200);
    let roles: Vec<(String, String)> = membership["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (str_of(&m["user"]), str_of(&m["role"])))
        .collect();
    assert!(
        roles.contains(&(acme.ann.clone(), "member".into())),
        "{roles:?}"
    );
    let ws_member = server
        .get_as(
            &acme.ann,
            &format!("/v1/workspaces/{}/members", acme.default_ws),
        )
        .expect(200);
    assert!(
        ws_member["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user"] == acme.ann.as_str() && m["role"] == "editor"),
        "{ws_member}"
    );
    assert_eq!(acme.org_record(&server)["seats_used"], 2);
}

#[test]
fn only_admins_invite_and_only_the_invitee_accepts_once() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let bob = server.user("bob@acme.com");

    let denied = acme
        .invite(&server, &acme.ann, "bob@acme.com", "member")
        .expect(403);
    assert_eq!(error_code(&denied), "forbidden");
    assert!(
        str_of(&denied["error"]["message"]).contains("InviteMember"),
        "{denied}"
    );

    let invitation = acme
        .invite(&server, &acme.admin, "Bob@Acme.com", "guest_internal")
        .expect(201);
    assert_eq!(invitation["email"], "bob@acme.com");
    assert_eq!(invitation["status"], "pending");
    let id = str_of(&invitation["id"]);
    let again = acme
        .invite(&server, &acme.admin, "bob@acme.com", "member")
        .expect(409);
    assert_eq!(error_code(&again), "invitation_pending");

    // The invitee may read it before joining; Ann may not accept it for Bob.
    let path = format!("/v1/orgs/{}/invitations/{id}", acme.org);
    assert_eq!(server.get_as(&bob, &path).expect(200)["status"], "pending");
    let stolen = acme.accept(&server, &acme.ann, &id).expect(403);
    assert!(
        str_of(&stolen["error"]["message"]).contains("another email"),
        "{stolen}"
    );
    let system = server
        .call(None, "POST", &format!("{path}/accept"), None)
        .expect(400);
    assert_eq!(system["error"]["field"], "X-Warden-Actor");

    let accepted = acme.accept(&server, &bob, &id).expect(200);
    assert_eq!(accepted["membership"]["role"], "guest_internal");
    assert_eq!(accepted["workspace_member"]["role"], "viewer");
    assert_eq!(
        error_code(&acme.accept(&server, &bob, &id).expect(409)),
        "invitation_accepted"
    );
    let member_again = acme
        .invite(&server, &acme.admin, "bob@acme.com", "member")
        .expect(409);
    assert_eq!(error_code(&member_again), "already_member");

    let bad = acme
        .invite(&server, &acme.admin, "not-an-email", "member")
        .expect(400);
    assert_eq!(bad["error"]["field"], "email");
    let bad_role = acme
        .invite(&server, &acme.admin, "x@acme.com", "owner")
        .expect(400);
    assert_eq!(bad_role["error"]["field"], "body.role");
    let other_org = server
        .post("/v1/orgs", json!({"name": "Globex", "plan": "pro"}))
        .expect(201);
    let wrong_org = format!(
        "/v1/orgs/{}/invitations/{id}",
        other_org["id"].as_str().unwrap()
    );
    assert_eq!(error_code(&server.get(&wrong_org).expect(404)), "not_found");
}

#[test]
fn revoked_invitations_are_gone_and_resent_ones_get_a_new_expiry() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let carol = server.user("carol@acme.com");
    let first = acme
        .invite(&server, &acme.admin, "carol@acme.com", "member")
        .expect(201);
    let id = str_of(&first["id"]);
    std::thread::sleep(Duration::from_millis(1100));
    let resent = acme
        .invitation_call(&server, &acme.admin, &id, "resend")
        .expect(200);
    assert!(
        str_of(&resent["expires_at"]) > str_of(&first["expires_at"]),
        "{resent}"
    );

    let revoked = acme
        .invitation_call(&server, &acme.admin, &id, "revoke")
        .expect(200);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(
        error_code(&acme.accept(&server, &carol, &id).expect(410)),
        "invitation_revoked"
    );
    let resend = acme
        .invitation_call(&server, &acme.admin, &id, "resend")
        .expect(410);
    assert_eq!(error_code(&resend), "invitation_revoked");

    // A revoked invitation frees the address for a new one.
    let second = acme
        .invite(&server, &acme.admin, "carol@acme.com", "member")
        .expect(201);
    acme.accept(&server, &carol, &str_of(&second["id"]))
        .expect(200);

    let path = format!("/v1/orgs/{}/invitations?limit=1", acme.org);
    let page = server.get_as(&acme.admin, &path).expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = str_of(&page["next"]);
    let rest = server
        .get_as(
            &acme.admin,
            &format!("/v1/orgs/{}/invitations?after={next}", acme.org),
        )
        .expect(200);
    let statuses: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["revoked", "accepted"]);
    // Ann, a Member and no inviter, lists only the invitation she accepted.
    let anns = server
        .get_as(&acme.ann, &format!("/v1/orgs/{}/invitations", acme.org))
        .expect(200);
    let emails: Vec<&str> = anns["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ann@acme.com"]);
}

#[test]
fn an_expired_invitation_cannot_be_accepted_until_resent() {
    let server = Server::start_with(&["--invitation-ttl", "2s"]);
    let acme = Acme::create(&server);
    let dan = server.user("dan@acme.com");
    let invitation = acme
        .invite(&server, &acme.admin, "dan@acme.com", "member")
        .expect(201);
    let id = str_of(&invitation["id"]);
    std::thread::sleep(Duration::from_millis(2200));
    let path = format!("/v1/orgs/{}/invitations/{id}", acme.org);
    assert_eq!(server.get(&path).expect(200)["status"], "expired");
    let expired = acme.accept(&server, &dan, &id).expect(410);
    assert_eq!(error_code(&expired), "invitation_expired");
    assert!(
        str_of(&expired["error"]["message"]).contains("resend"),
        "{expired}"
    );

    acme.invitation_call(&server, &acme.admin, &id, "resend")
        .expect(200);
    acme.accept(&server, &dan, &id).expect(200);
}

#[test]
fn a_policy_edit_lets_members_invite_without_a_restart() {
    let server = Server::start();
    let acme = Acme::create(&server);
    acme.invite(&server, &acme.ann, "eve@acme.com", "member")
        .expect(403);
    std::fs::write(
        server.policies_dir().join("members-invite.cedar"),
        r#"@id("members-invite")
@reason("Members may invite")
permit (principal, action == Action::"InviteMember", resource is Org)
when { principal in resource.members };
"#,
    )
    .unwrap();
    server.post("/v1/policies/reload", json!({})).expect(200);
    let invitation = acme
        .invite(&server, &acme.ann, "eve@acme.com", "member")
        .expect(201);
    assert_eq!(invitation["invited_by"], acme.ann.as_str());
}

#[test]
fn roles_change_both_ways_and_seats_follow() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let promoted = acme
        .set_role(&server, &acme.admin, &acme.ann, "admin")
        .expect(200);
    assert_eq!(promoted["role"], "admin");
    assert_eq!(acme.org_record(&server)["admin_count"], 2);
    acme.set_role(&server, &acme.ann, &acme.admin, "guest_external")
        .expect(200);
    let org = acme.org_record(&server);
    assert_eq!(
        (org["admin_count"].as_u64(), org["seats_used"].as_u64()),
        (Some(1), Some(1)),
        "{org}"
    );

    let last = acme
        .set_role(&server, &acme.ann, &acme.ann, "member")
        .expect(409);
    assert_eq!(error_code(&last), "last_admin");
    assert!(
        str_of(&last["error"]["message"]).contains("last Admin"),
        "{last}"
    );
    let path = format!("/v1/orgs/{}/members/{}", acme.org, acme.ann);
    assert_eq!(
        error_code(
            &server
                .call(Some(&acme.ann), "DELETE", &path, None)
                .expect(409)
        ),
        "last_admin"
    );

    // The former admin, now an External Guest, may no longer manage roles.
    acme.set_role(&server, &acme.admin, &acme.admin, "admin")
        .expect(403);
    acme.set_role(&server, &acme.ann, &acme.admin, "guest_internal")
        .expect(200);
    assert_eq!(acme.org_record(&server)["seats_used"], 2);
    let stranger = server.user("stranger@globex.com");
    let missing = acme
        .set_role(&server, &acme.ann, &stranger, "member")
        .expect(404);
    assert_eq!(error_code(&missing), "not_found");
}

#[test]
fn removing_a_member_removes_their_workspace_memberships() {
    let mut server = Server::start();
    let acme = Acme::create(&server);
    let research = acme.workspace(&server, &acme.ann, "Research");
    let path = format!("/v1/orgs/{}/members/{}", acme.org, acme.ann);
    server
        .call(Some(&acme.ann), "DELETE", &path, None)
        .expect(403);
    let removed = server
        .call(Some(&acme.admin), "DELETE", &path, None)
        .expect(200);
    assert_eq!(removed["role"], "member");
    for ws in [&acme.default_ws, &research] {
        let members = server
            .get(&format!("/v1/workspaces/{ws}/members"))
            .expect(200);
        assert!(!members.to_string().contains(&acme.ann), "{members}");
    }
    assert_eq!(acme.org_record(&server)["seats_used"], 1);
    server
        .get_as(&acme.ann, &format!("/v1/orgs/{}", acme.org))
        .expect(403);
    assert_eq!(
        error_code(
            &server
                .call(Some(&acme.admin), "DELETE", &path, None)
                .expect(404)
        ),
        "not_found"
    );

    // The indexes still agree with the records, as the operator's check sees it.
    server.stop();
    let check = std::process::Command::new(warden_bin())
        .args(["check-store"])
        .args(server.store_args())
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("0 problems"),
        "{check:?}"
    );
}

#[test]
fn twenty_concurrent_demotions_leave_exactly_one_admin() {
    const ADMINS: usize = 20;
    let server = Server::start();
    let admins: Vec<String> = (0..ADMINS)
        .map(|i| server.user(&format!("admin{i}@acme.com")))
        .collect();
    let org = server
        .post(
            "/v1/orgs",
            json!({"name": "Acme", "plan": "pro", "admin": admins[0]}),
        )
        .created_id();
    for admin in &admins[1..] {
        server
            .post(
                &format!("/v1/orgs/{org}/members"),
                json!({"user": admin, "role": "admin"}),
            )
            .expect(201);
    }
    let statuses: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = admins
            .iter()
            .map(|admin| {
                let (server, org) = (&server, &org);
                scope.spawn(move || {
                    let path = format!("/v1/orgs/{org}/members/{admin}");
                    let answer =
                        server.call(Some(admin), "PATCH", &path, Some(json!({"role": "member"})));
                    (answer.status, answer.body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<&Value> = statuses
        .iter()
        .filter(|(s, _)| *s == 409)
        .map(|(_, b)| b)
        .collect();
    assert_eq!((ok, refused.len()), (ADMINS - 1, 1), "{statuses:?}");
    assert_eq!(error_code(refused[0]), "last_admin");
    let record = server.get(&format!("/v1/orgs/{org}")).expect(200);
    assert_eq!(record["admin_count"], 1);
    let members = server.get(&format!("/v1/orgs/{org}/members")).expect(200);
    let admins_left = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "admin")
        .count();
    assert_eq!(admins_left, 1, "{members}");
}

#[test]
fn org_settings_and_default_workspace_are_for_admins() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let path = format!("/v1/orgs/{}", acme.org);
    let patch = json!({"plan": "team", "seat_limit": 25});
    server
        .call(Some(&acme.ann), "PATCH", &path, Some(patch.clone()))
        .expect(403);
    // Plan and seat limit are the vendor's terms (tests/vendor.rs): the vendor sends them.
    let org = server.call(None, "PATCH", &path, Some(patch)).expect(200);
    assert_eq!(
        (org["plan"].as_str(), org["seat_limit"].as_u64()),
        (Some("team"), Some(25))
    );
    // Domains are claimed and proven (tests/tests/domains.rs), never set.
    let bad = server
        .call(
            Some(&acme.admin),
            "PATCH",
            &path,
            Some(json!({"verified_domains": ["acme.io"]})),
        )
        .expect(400);
    assert_eq!(bad["error"]["field"], "verified_domains");
    server
        .call(Some(&acme.admin), "PATCH", &path, Some(json!({})))
        .expect(400);

    let research = acme.workspace(&server, &acme.admin, "Research");
    let default_path = format!("/v1/orgs/{}/default-workspace", acme.org);
    let body = Some(json!({"workspace": research}));
    server
        .call(Some(&acme.ann), "PUT", &default_path, body.clone())
        .expect(403);
    let org = server
        .call(Some(&acme.admin), "PUT", &default_path, body)
        .expect(200);
    assert_eq!(org["default_workspace"], research.as_str());

    let globex = server
        .post("/v1/orgs", json!({"name": "Globex", "plan": "pro"}))
        .expect(201);
    let foreign = Some(json!({"workspace": globex["default_workspace"]}));
    let refused = server
        .call(Some(&acme.admin), "PUT", &default_path, foreign)
        .expect(404);
    assert_eq!(error_code(&refused), "not_found");
}

#[test]
fn members_see_every_workspace_and_request_access_to_the_others() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let carol = server.user("carol@acme.com");
    acme.join(&server, &carol, "carol@acme.com", "member");
    let research = acme.workspace(&server, &acme.ann, "Research");

    let listing = server
        .get_as(&carol, &format!("/v1/orgs/{}/workspaces", acme.org))
        .expect(200);
    let flags: Vec<(bool, bool)> = listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["is_default"].as_bool().unwrap(),
                w["member"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags.len(), 2);
    assert!(
        flags.contains(&(true, true)) && flags.contains(&(false, false)),
        "{listing}"
    );

    let requests = format!("/v1/workspaces/{research}/access-requests");
    let request = server
        .post_as(&carol, &requests, json!({"message": "I work on research"}))
        .expect(201);
    assert_eq!(
        (request["state"].as_str(), request["user"].as_str()),
        (Some("open"), Some(carol.as_str()))
    );
    let second = server.post_as(&carol, &requests, json!({})).expect(409);
    assert_eq!(error_code(&second), "access_request_open");

    // Carol is no admin of Research: she sees her own request, alone and
    // in the list, and may not decide it.
    let request_id = str_of(&request["id"]);
    server
        .get_as(&carol, &format!("{requests}/{request_id}"))
        .expect(200);
    let own = server.get_as(&carol, &requests).expect(200);
    assert_eq!(own["items"], json!([request]), "{own}");
    server
        .post_as(
            &carol,
            &format!("{requests}/{request_id}/approve"),
            json!({"role": "admin"}),
        )
        .expect(403);
    let open = server.get_as(&acme.ann, &requests).expect(200);
    assert_eq!(open["items"].as_array().unwrap().len(), 1, "{open}");
    let approved = server
        .post_as(
            &acme.ann,
            &format!("{requests}/{request_id}/approve"),
            json!({"role": "viewer"}),
        )
        .expect(200);
    assert_eq!(
        (approved["state"].as_str(), approved["role"].as_str()),
        (Some("approved"), Some("viewer"))
    );
    assert_eq!(approved["decided_by"], acme.ann.as_str());
    let twice = server
        .call(
            Some(&acme.ann),
            "POST",
            &format!("{requests}/{request_id}/deny"),
            None,
        )
        .expect(409);
    assert_eq!(error_code(&twice), "access_request_decided");
    let listing = server
        .get_as(&carol, &format!("/v1/orgs/{}/workspaces", acme.org))
        .expect(200);
    assert!(
        listing["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["member"] == true),
        "{listing}"
    );
    assert_eq!(
        error_code(&server.post_as(&carol, &requests, json!({})).expect(409)),
        "already_member"
    );

    // Denied: the requester stays out and may ask again.
    let dan = server.user("dan@acme.com");
    acme.join(&server, &dan, "dan@acme.com", "member");
    let asked = server.post_as(&dan, &requests, json!({})).expect(201);
    let deny = format!("{requests}/{}/deny", str_of(&asked["id"]));
    assert_eq!(
        server
            .call(Some(&acme.admin), "POST", &deny, None)
            .expect(200)["state"],
        "denied"
    );
    server.post_as(&dan, &requests, json!({})).expect(201);

    // An outsider sees nothing of it.
    let outsider = server.user("outsider@globex.com");
    server.post_as(&outsider, &requests, json!({})).expect(403);
}

#[test]
fn workspaces_are_renamed_and_deleted_but_never_the_default_one() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let research = acme.workspace(&server, &acme.ann, "Research");
    let path = format!("/v1/workspaces/{research}");
    let renamed = server
        .call(
            Some(&acme.ann),
            "PATCH",
            &path,
            Some(json!({"name": "  R&D "})),
        )
        .expect(200);
    assert_eq!(renamed["name"], "R&D");
    let bad = server
        .call(Some(&acme.ann), "PATCH", &path, Some(json!({"name": ""})))
        .expect(400);
    assert_eq!(bad["error"]["field"], "name");

    let flow = server
        .post_as(
            &acme.ann,
            &format!("{path}/resources"),
            json!({"type": "Flow", "attributes": {"name": "f"}}),
        )
        .created_id();
    server
        .call(Some(&acme.ann), "DELETE", &path, None)
        .expect(403);
    let busy = server
        .call(Some(&acme.admin), "DELETE", &path, None)
        .expect(409);
    assert_eq!(error_code(&busy), "workspace_not_empty");
    server
        .call(
            Some(&acme.ann),
            "DELETE",
            &format!("/v1/resources/{flow}"),
            None,
        )
        .expect(200);
    server
        .call(Some(&acme.admin), "DELETE", &path, None)
        .expect(200);
    assert_eq!(server.get(&path).expect(404)["error"]["code"], "not_found");
    assert_eq!(acme.org_record(&server)["workspace_count"], 1);

    let default = format!("/v1/workspaces/{}", acme.default_ws);
    let refused = server
        .call(Some(&acme.admin), "DELETE", &default, None)
        .expect(409);
    assert_eq!(error_code(&refused), "default_workspace");
}

#[test]
fn workspace_members_are_managed_by_workspace_and_org_admins() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let carol = server.user("carol@acme.com");
    acme.join(&server, &carol, "carol@acme.com", "member");
    let research = acme.workspace(&server, &acme.ann, "Research");
    let members = format!("/v1/workspaces/{research}/members");
    server
        .post_as(&carol, &members, json!({"user": carol, "role": "admin"}))
        .expect(403);
    server
        .post_as(
            &acme.ann,
            &members,
            json!({"user": carol, "role": "viewer"}),
        )
        .expect(201);
    let carol_path = format!("{members}/{carol}");
    let changed = server
        .call(
            Some(&acme.admin),
            "PATCH",
            &carol_path,
            Some(json!({"role": "editor"})),
        )
        .expect(200);
    assert_eq!(changed["role"], "editor");
    server
        .call(
            Some(&carol),
            "DELETE",
            &format!("{members}/{}", acme.ann),
            None,
        )
        .expect(403);
    server
        .call(Some(&acme.ann), "DELETE", &carol_path, None)
        .expect(200);
    assert_eq!(
        error_code(
            &server
                .call(Some(&acme.ann), "DELETE", &carol_path, None)
                .expect(404)
        ),
        "not_found"
    );
}

#[test]
fn flows_move_between_workspaces_of_one_org_only() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let research = acme.workspace(&server, &acme.admin, "Research");
    let flow = server
        .post_as(
            &acme.ann,
            &format!("/v1/workspaces/{}/resources", acme.default_ws),
            json!({"type": "Flow", "attributes": {"name": "Lead scoring"}}),
        )
        .created_id();
    let move_path = format!("/v1/resources/{flow}/move");

    // Ann edits the source but has no say in Research.
    let denied = server
        .post_as(&acme.ann, &move_path, json!({"workspace": research}))
        .expect(403);
    assert!(
        str_of(&denied["error"]["message"]).contains("CreateResource"),
        "{denied}"
    );

    server
        .post_as(
            &acme.admin,
            &format!("/v1/workspaces/{research}/members"),
            json!({"user": acme.ann, "role": "editor"}),
        )
        .expect(201);
    let moved = server
        .post_as(&acme.ann, &move_path, json!({"workspace": research}))
        .expect(200);
    assert_eq!(moved["workspace"], research.as_str());
    let listed = |ws: &str| {
        server
            .get(&format!("/v1/workspaces/{ws}/resources"))
            .expect(200)["items"]
            .to_string()
    };
    assert!(listed(&research).contains(&flow) && !listed(&acme.default_ws).contains(&flow));
    assert_eq!(
        server.check(&acme.ann, "RunResource", "Flow", &flow)["decision"],
        "Allow"
    );

    // Another org's workspace: refused even for someone who administers both.
    let globex = server
        .post(
            "/v1/orgs",
            json!({"name": "Globex", "plan": "pro", "admin": acme.admin}),
        )
        .expect(201);
    let across = server
        .post_as(
            &acme.admin,
            &move_path,
            json!({"workspace": globex["default_workspace"]}),
        )
        .expect(409);
    assert_eq!(error_code(&across), "cross_org_move");
    let unknown = server
        .post_as(
            &acme.admin,
            &move_path,
            json!({"workspace": "0190c6a4-0000-7000-8000-000000000000"}),
        )
        .expect(404);
    assert_eq!(error_code(&unknown), "not_found");
    assert_eq!(
        server.get(&format!("/v1/resources/{flow}")).expect(200)["workspace"],
        research.as_str()
    );
}

#[test]
fn credential_secrets_are_sealed_and_revealed_only_to_whom_the_policies_allow() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let carol = server.user("carol@acme.com");
    acme.join(&server, &carol, "carol@acme.com", "member");
    let research = acme.workspace(&server, &acme.admin, "Research");
    let resources = format!("/v1/workspaces/{}/resources", acme.default_ws);
    const SECRET: &str = "sk-live-0123456789abcdef";
    let shared = server
        .post_as(
            &acme.ann,
            &resources,
            json!({"type": "Credential", "attributes": {"name": "OpenAI", "personal": false}, "secret": SECRET}),
        )
        .expect(201);
    assert!(!shared.to_string().contains(SECRET), "{shared}");
    let shared = str_of(&shared["id"]);

    // Visible to the workspace's members only; the secret never in a read.
    let read = server
        .get_as(&carol, &format!("/v1/resources/{shared}"))
        .expect(200);
    assert!(!read.to_string().contains(SECRET));
    assert!(!server
        .get(&resources)
        .expect(200)
        .to_string()
        .contains(SECRET));
    let reveal = format!("/v1/resources/{shared}/reveal");
    assert_eq!(
        server.call(Some(&carol), "POST", &reveal, None).expect(200)["secret"],
        SECRET
    );
    server
        .post_as(
            &acme.admin,
            &format!("/v1/workspaces/{research}/members"),
            json!({"user": carol, "role": "editor"}),
        )
        .expect(201);
    let dan = server.user("dan@acme.com");
    acme.join(&server, &dan, "dan@acme.com", "member");
    server
        .call(
            Some(&acme.admin),
            "DELETE",
            &format!("/v1/workspaces/{}/members/{dan}", acme.default_ws),
            None,
        )
        .expect(200);
    server
        .get_as(&dan, &format!("/v1/resources/{shared}"))
        .expect(403);
    server.call(Some(&dan), "POST", &reveal, None).expect(403);

    // Personal: the owner alone, not even an Admin.
    let personal = server
        .post_as(
            &acme.ann,
            &resources,
            json!({"type": "Credential", "attributes": {"name": "mine", "personal": true}, "secret": "ann-only"}),
        )
        .created_id();
    let reveal_personal = format!("/v1/resources/{personal}/reveal");
    assert_eq!(
        server
            .call(Some(&acme.ann), "POST", &reveal_personal, None)
            .expect(200)["secret"],
        "ann-only"
    );
    let refused = server
        .call(Some(&acme.admin), "POST", &reveal_personal, None)
        .expect(403);
    assert_eq!(
        refused["error"]["policies"],
        json!(["personal-credentials-owner-only"])
    );
    server
        .call(Some(&carol), "POST", &reveal_personal, None)
        .expect(403);

    let flow_secret = server
        .post_as(
            &acme.ann,
            &resources,
            json!({"type": "Flow", "secret": "x"}),
        )
        .expect(400);
    assert_eq!(flow_secret["error"]["field"], "secret");

    // Reveals are audited; the secret is not in the audit log nor on disk.
    let audit = server
        .get(&format!("/v1/orgs/{}/audit?limit=500", acme.org))
        .expect(200);
    assert!(audit.to_string().contains("RevealCredential"));
    assert!(!audit.to_string().contains(SECRET));
    let key = std::fs::read_to_string(server.data_dir().join("credential.key")).unwrap();
    assert_eq!(key.trim().len(), 64);
    assert!(
        !dir_contains(&server.data_dir(), SECRET.as_bytes()),
        "secret stored in the clear"
    );
}

/// Whether any file under `dir` contains `needle`.
fn dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            dir_contains(&path, needle)
        } else {
            std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
        }
    })
}

#[test]
fn retried_writes_answer_the_same_and_change_nothing() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let carol = server.user("carol@acme.com");
    let research = acme.workspace(&server, &acme.admin, "Research");
    let flow = server
        .post_as(
            &acme.admin,
            &format!("/v1/workspaces/{}/resources", acme.default_ws),
            json!({"type": "Flow"}),
        )
        .created_id();
    let writes = [
        (
            "POST",
            format!("/v1/orgs/{}/invitations", acme.org),
            json!({"email": "carol@acme.com", "role": "member"}),
            json!({"email": "zed@acme.com", "role": "member"}),
        ),
        (
            "PATCH",
            format!("/v1/orgs/{}/members/{}", acme.org, acme.ann),
            json!({"role": "admin"}),
            json!({"role": "guest_internal"}),
        ),
        (
            "PATCH",
            format!("/v1/orgs/{}", acme.org),
            json!({"name": "Acme Inc"}),
            json!({"name": "Acme Corp"}),
        ),
        (
            "PATCH",
            format!("/v1/workspaces/{research}"),
            json!({"name": "R&D"}),
            json!({"name": "Labs"}),
        ),
        (
            "POST",
            format!("/v1/resources/{flow}/move"),
            json!({"workspace": research}),
            json!({"workspace": acme.default_ws}),
        ),
        (
            "POST",
            format!("/v1/workspaces/{research}/members"),
            json!({"user": acme.ann, "role": "viewer"}),
            json!({"user": acme.ann, "role": "admin"}),
        ),
    ];
    for (i, (method, path, body, other)) in writes.iter().enumerate() {
        let key = format!("retry-{i}");
        let headers = [
            ("Idempotency-Key", key.as_str()),
            ("X-Warden-Actor", acme.admin.as_str()),
        ];
        let first = server.send(method, path, Some(body.to_string()), &headers);
        assert!(first.status < 300, "{method} {path}: {first:?}");
        let audit = acme.audit_len(&server);
        let again = server.send(method, path, Some(body.to_string()), &headers);
        assert_eq!(
            (again.status, &again.body),
            (first.status, &first.body),
            "{method} {path}"
        );
        assert_eq!(
            acme.audit_len(&server),
            audit,
            "{method} {path}: the retry wrote"
        );
        let reused = server
            .send(method, path, Some(other.to_string()), &headers)
            .expect(409);
        assert_eq!(
            error_code(&reused),
            "idempotency_key_reused",
            "{method} {path}"
        );
    }
    // An action route without a body retries the same way.
    let invitations = server
        .get(&format!("/v1/orgs/{}/invitations", acme.org))
        .expect(200);
    let carols = invitations["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == "carol@acme.com");
    let id = str_of(&carols.expect("carol's invitation")["id"]);
    let headers = [
        ("Idempotency-Key", "accept-1"),
        ("X-Warden-Actor", carol.as_str()),
    ];
    let accept = format!("/v1/orgs/{}/invitations/{id}/accept", acme.org);
    let first = server.send("POST", &accept, None, &headers).expect(200);
    assert_eq!(
        server.send("POST", &accept, None, &headers).expect(200),
        first
    );
}

#[test]
fn the_audit_log_pages_newest_first() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let path = format!("/v1/orgs/{}/audit", acme.org);
    let all = server.get(&format!("{path}?limit=500")).expect(200);
    let actions: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| str_of(&r["action"]))
        .collect();
    assert_eq!(actions, ["AcceptInvitation", "InviteMember", "CreateOrg"]);
    let first = server.get(&format!("{path}?limit=2")).expect(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = str_of(&first["next"]);
    let rest = server
        .get(&format!("{path}?limit=2&after={next}"))
        .expect(200);
    assert_eq!(rest["items"][0]["action"], "CreateOrg");
    assert_eq!(rest["next"], Value::Null);
    let too_many = server.get(&format!("{path}?limit=501")).expect(400);
    assert_eq!(too_many["error"]["field"], "query.limit");
    server.get_as(&acme.ann, &path).expect(403);
}
