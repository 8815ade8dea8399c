//! Listings over the real server show exactly what single reads allow: the
//! two leaks of `GET /v1/workspaces/{id}/resources` (the flows of a
//! workspace shown to an org Member outside it, a personal credential shown
//! to the rest of its workspace) and the lists that now show an actor the
//! items they may read one by one instead of refusing the whole list.

use serde_json::{json, Value};
use warden_e2e::Server;

/// Acme (Pro): Ann its Admin; its workspace Research; Bob, an org Member
/// and editor of Research; Cora, an org Member outside it; a flow and Bob's
/// personal credential in Research.
struct Acme {
    org: String,
    workspace: String,
    ann: String,
    bob: String,
    cora: String,
    flow: String,
    bobs_credential: String,
}

impl Acme {
    fn create(server: &Server) -> Acme {
        let ann = server.user("ann@acme.com");
        let bob = server.user("bob@acme.com");
        let cora = server.user("cora@acme.com");
        let org = server
            .post(
                "/v1/orgs",
                json!({"name": "acme", "plan": "pro", "admin": ann}),
            )
            .expect(201);
        let org = str_of(&org["id"]);
        for user in [&bob, &cora] {
            server
                .post(
                    &format!("/v1/orgs/{org}/members"),
                    json!({"user": user, "role": "member"}),
                )
                .expect(201);
        }
        let workspace = server
            .post_as(
                &ann,
                &format!("/v1/orgs/{org}/workspaces"),
                json!({"name": "Research"}),
            )
            .created_id();
        server
            .post(
                &format!("/v1/workspaces/{workspace}/members"),
                json!({"user": bob, "role": "editor"}),
            )
            .expect(201);
        let resources = format!("/v1/workspaces/{workspace}/resources");
        let flow = server
            .post_as(&bob, &resources, json!({"type": "Flow"}))
            .created_id();
        let bobs_credential = server
            .post_as(
                &bob,
                &resources,
                json!({"type": "Credential", "attributes": {"personal": true}, "secret": "s3cret"}),
            )
            .created_id();
        Acme {
            org,
            workspace,
            ann,
            bob,
            cora,
            flow,
            bobs_credential,
        }
    }

    /// The ids `actor` sees in the workspace's resource listing.
    fn listed_resources(&self, server: &Server, actor: &str) -> Vec<String> {
        let page = server
            .get_as(
                actor,
                &format!("/v1/workspaces/{}/resources", self.workspace),
            )
            .expect(200);
        ids(&page)
    }
}

fn str_of(value: &Value) -> String {
    value.as_str().expect("a string").to_string()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|item| str_of(&item["id"]))
        .collect()
}

#[test]
fn a_resource_listing_hides_what_a_single_read_refuses() {
    let server = Server::start();
    let acme = Acme::create(&server);

    // Cora, an org Member outside the workspace, may read neither resource
    // alone, and the listing shows her neither.
    for id in [&acme.flow, &acme.bobs_credential] {
        server
            .get_as(&acme.cora, &format!("/v1/resources/{id}"))
            .expect(403);
    }
    assert_eq!(
        acme.listed_resources(&server, &acme.cora),
        Vec::<String>::new()
    );

    // Bob's personal credential is his alone: not even the Admin sees it.
    server
        .get_as(
            &acme.ann,
            &format!("/v1/resources/{}", acme.bobs_credential),
        )
        .expect(403);
    assert_eq!(
        acme.listed_resources(&server, &acme.ann),
        std::slice::from_ref(&acme.flow)
    );
    let mut bobs = acme.listed_resources(&server, &acme.bob);
    bobs.sort();
    let mut both = vec![acme.flow.clone(), acme.bobs_credential.clone()];
    both.sort();
    assert_eq!(bobs, both);

    // Once Cora joins the workspace she sees its flow, still not Bob's
    // credential; the system (no actor) sees everything.
    server
        .post(
            &format!("/v1/workspaces/{}/members", acme.workspace),
            json!({"user": acme.cora, "role": "viewer"}),
        )
        .expect(201);
    assert_eq!(
        acme.listed_resources(&server, &acme.cora),
        std::slice::from_ref(&acme.flow)
    );
    let mut all = ids(&server
        .get(&format!("/v1/workspaces/{}/resources", acme.workspace))
        .expect(200));
    all.sort();
    assert_eq!(all, both);
}

#[test]
fn a_listing_pages_over_the_items_it_leaves_out() {
    let server = Server::start();
    let acme = Acme::create(&server);
    let resources = format!("/v1/workspaces/{}/resources", acme.workspace);
    let mut flows = vec![acme.flow.clone()];
    for _ in 0..4 {
        flows.push(
            server
                .post_as(
                    &acme.bob,
                    &resources,
                    json!({"type": "Credential", "attributes": {"personal": true}}),
                )
                .created_id(),
        );
        flows.push(
            server
                .post_as(&acme.bob, &resources, json!({"type": "Flow"}))
                .created_id(),
        );
    }
    flows.retain(|id| {
        server
            .get_as(&acme.ann, &format!("/v1/resources/{id}"))
            .status
            == 200
    });
    assert_eq!(
        flows.len(),
        5,
        "the Admin reads the flows, not Bob's credentials"
    );

    // Pages of two: full until the last, each `next` continuing past the
    // credentials left out.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = server
            .get_as(&acme.ann, &format!("{resources}?limit=2{after}"))
            .expect(200);
        let items = ids(&page);
        assert!(items.len() <= 2, "{page}");
        seen.extend(items);
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    seen.sort();
    flows.sort();
    assert_eq!(seen, flows);
}

#[test]
fn lists_show_a_requester_and_an_invitee_their_own_items() {
    let server = Server::start();
    let acme = Acme::create(&server);
    // Cora asks to join Research: she reads her request alone and in the
    // list, Bob (no admin of Research) sees none of it, the Admin sees it.
    let requests = format!("/v1/workspaces/{}/access-requests", acme.workspace);
    let request = server
        .post_as(&acme.cora, &requests, json!({}))
        .created_id();
    server
        .get_as(&acme.cora, &format!("{requests}/{request}"))
        .expect(200);
    assert_eq!(
        ids(&server.get_as(&acme.cora, &requests).expect(200)),
        std::slice::from_ref(&request)
    );
    server
        .get_as(&acme.bob, &format!("{requests}/{request}"))
        .expect(403);
    assert_eq!(
        ids(&server.get_as(&acme.bob, &requests).expect(200)),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&server.get_as(&acme.ann, &requests).expect(200)),
        [request]
    );

    // Dan, invited by email, reads his invitation alone and in the list,
    // not Eve's.
    let invitations = format!("/v1/orgs/{}/invitations", acme.org);
    let dan = server.user("dan@example.com");
    let invite = |email: &str| {
        server
            .post(&invitations, json!({"email": email, "role": "member"}))
            .created_id()
    };
    let (dans, eves) = (invite("dan@example.com"), invite("eve@example.com"));
    server
        .get_as(&dan, &format!("{invitations}/{dans}"))
        .expect(200);
    server
        .get_as(&dan, &format!("{invitations}/{eves}"))
        .expect(403);
    assert_eq!(ids(&server.get_as(&dan, &invitations).expect(200)), [dans]);
    assert_eq!(
        ids(&server.get_as(&acme.bob, &invitations).expect(200)),
        Vec::<String>::new()
    );
}
