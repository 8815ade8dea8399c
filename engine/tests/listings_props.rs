//! A listing shows exactly what single reads allow. For a random population
//! (orgs, users of every org role, workspaces with members of every
//! workspace role, folders, flows, shared and personal credentials shared
//! with some users, invitations, access requests) and every actor, each list
//! route, followed through `next` to its end, returns exactly the items
//! whose single read that actor is allowed (the vendor's directory of orgs:
//! every org to the system, refused to users). So does every search of
//! what a user may access (`GET /v1/users/{id}/access`, AuthZEN's subject,
//! resource and action searches): for every user, action and type it
//! holds exactly what single checks allow, and says it is complete.
//! Everything goes through the real router, handlers, policies and a real
//! sled store.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower_service::Service;
use uuid::Uuid;
use warden::app::{Actor, App};
use warden::command::{self, RegisterResource};
use warden::http::{self, HttpLimits, ManagementSettings};
use warden::plugin::PluginHost;
use warden::policy::PolicyEngine;
use warden::secrets::CredentialKey;
use warden::store::Store;

const TOKEN: &str = "listings-admin-token";
const USERS: usize = 7;
const ORGS: usize = 2;
/// Extra workspaces an org may get beside its default one.
const MAX_EXTRA_WORKSPACES: usize = 2;
const ORG_ROLES: [&str; 4] = ["admin", "member", "guest_internal", "guest_external"];
const WORKSPACE_ROLES: [&str; 3] = ["admin", "editor", "viewer"];
/// Org 0's roles of users 1 to 4 (user 0 created it and is its Admin), so
/// that every case has an actor of each role and one from outside.
const FIXED_ORG0_ROLES: [Option<&str>; 4] = [
    Some("member"),
    Some("guest_internal"),
    Some("guest_external"),
    None,
];

/// The real router over a fresh store in a temp dir.
struct Api {
    _dir: tempfile::TempDir,
    app: Arc<App>,
    router: axum::Router,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    fn new() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let app = Arc::new(App::new(
            Store::open(&dir.path().join("db"), 1 << 22).unwrap(),
            PolicyEngine::open(&policies).unwrap(),
            PluginHost::builtin().unwrap(),
        ));
        let router = http::router(
            app.clone(),
            TOKEN,
            HttpLimits {
                max_body_bytes: http::DEFAULT_MAX_BODY_BYTES,
                max_batch: http::DEFAULT_MAX_BATCH,
            },
            ManagementSettings {
                invitation_ttl: time::Duration::days(7),
                credential_key: CredentialKey::from_bytes([7; 32]),
                dns_resolver: None,
                decision_log: None,
            },
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        Api {
            _dir: dir,
            app,
            router,
            runtime,
        }
    }

    /// One request as `actor` (the system when `None`): status and JSON body.
    /// A 5xx fails the test: no input may cause one.
    fn call(
        &self,
        actor: Option<Uuid>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"));
        if let Some(actor) = actor {
            request = request.header("x-warden-actor", actor.to_string());
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let mut router = self.router.clone();
        let (status, bytes) = self.runtime.block_on(async move {
            let response = router.call(request).await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap(),
            )
        });
        assert!(
            status < 500,
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }

    /// A write as the system whose answer's id is returned if it succeeded.
    fn create(&self, path: &str, body: Value) -> Option<Uuid> {
        self.create_as(None, path, body)
    }

    fn create_as(&self, actor: Option<Uuid>, path: &str, body: Value) -> Option<Uuid> {
        let (status, body) = self.call(actor, "POST", path, Some(body));
        (status == 201).then(|| id_of(&body))
    }

    /// Whether `actor`'s single read of `path` is allowed (200) or refused
    /// (403); anything else fails the test.
    fn may_read(&self, actor: Option<Uuid>, path: &str) -> bool {
        match self.call(actor, "GET", path, None) {
            (200, _) => true,
            (403, _) => false,
            (status, body) => panic!("GET {path} as {actor:?}: {status} {body}"),
        }
    }

    /// Every item of a listing, following `next` with pages of `limit`;
    /// `None` if the listing is refused (403).
    fn list_all(&self, actor: Option<Uuid>, path: &str, limit: usize) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let query = match &after {
                Some(after) => format!("{path}?limit={limit}&after={after}"),
                None => format!("{path}?limit={limit}"),
            };
            let (status, page) = self.call(actor, "GET", &query, None);
            if status == 403 {
                assert!(after.is_none(), "{query}: refused half way");
                return None;
            }
            assert_eq!(status, 200, "{query}: {page}");
            let page_items = page["items"].as_array().unwrap();
            assert!(
                page_items.len() <= limit,
                "{query}: more than {limit} items"
            );
            items.extend(page_items.iter().cloned());
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => return Some(items),
            }
        }
    }

    /// Whether `user` may do `action` on `resource` (type, id), as
    /// `POST /v1/authorize` answers.
    fn allowed(&self, user: Uuid, action: &str, kind: &str, id: Uuid) -> bool {
        let (status, decision) = self.call(
            None,
            "POST",
            "/v1/authorize",
            Some(json!({
                "principal": {"type": "User", "id": user},
                "action": {"type": "Action", "id": action},
                "resource": {"type": kind, "id": id},
            })),
        );
        assert_eq!(status, 200, "{decision}");
        decision["decision"] == "Allow"
    }
}

fn id_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

fn ids(items: &[Value]) -> BTreeSet<Uuid> {
    let set: BTreeSet<Uuid> = items.iter().map(id_of).collect();
    assert_eq!(set.len(), items.len(), "an item listed twice: {items:?}");
    set
}

#[derive(Clone, Debug)]
enum Kind {
    Folder,
    Flow,
    SharedCredential,
    PersonalCredential,
}

#[derive(Clone, Debug)]
struct ResourceSpec {
    org: usize,
    workspace: usize,
    kind: Kind,
    owner: Option<usize>,
    shared_with: Vec<usize>,
    /// One of the folders registered before it, if any.
    folder: Option<usize>,
}

#[derive(Clone, Debug)]
struct Population {
    /// `org_roles[org][user]`, indexes into `ORG_ROLES`; users 0 and 1
    /// created orgs 0 and 1, and org 0's users 1 to 4 have fixed roles.
    org_roles: Vec<Vec<Option<usize>>>,
    extra_workspaces: Vec<usize>,
    /// `(org, workspace, user, role)`, indexes into `WORKSPACE_ROLES`.
    workspace_members: Vec<(usize, usize, usize, usize)>,
    resources: Vec<ResourceSpec>,
    /// `(org, invitee, role)`: an invitee beyond the users is a stranger.
    invitations: Vec<(usize, usize, usize)>,
    /// `(org, workspace, requester, denied)`.
    access_requests: Vec<(usize, usize, usize, bool)>,
    /// Page size the listings are followed with.
    limit: usize,
}

fn population() -> impl Strategy<Value = Population> {
    let org_roles = prop::collection::vec(
        prop::collection::vec(prop::option::of(0..ORG_ROLES.len()), USERS),
        ORGS,
    );
    let ws = 0..=MAX_EXTRA_WORKSPACES;
    let resource = (
        0..ORGS,
        ws.clone(),
        prop_oneof![
            Just(Kind::Folder),
            Just(Kind::Flow),
            Just(Kind::SharedCredential),
            Just(Kind::PersonalCredential)
        ],
        prop::option::of(0..USERS),
        prop::collection::vec(0..USERS, 0..3),
        prop::option::of(0..4usize),
    )
        .prop_map(
            |(org, workspace, kind, owner, shared_with, folder)| ResourceSpec {
                org,
                workspace,
                kind,
                owner,
                shared_with,
                folder,
            },
        );
    (
        org_roles,
        prop::collection::vec(ws.clone(), ORGS),
        prop::collection::vec(
            (0..ORGS, ws.clone(), 0..USERS, 0..WORKSPACE_ROLES.len()),
            0..16,
        ),
        prop::collection::vec(resource, 0..16),
        prop::collection::vec((0..ORGS, 0..USERS + 2, 0..ORG_ROLES.len()), 0..5),
        prop::collection::vec((0..ORGS, ws, 0..USERS, any::<bool>()), 0..6),
        1..4usize,
    )
        .prop_map(
            |(
                org_roles,
                extra_workspaces,
                workspace_members,
                resources,
                invitations,
                access_requests,
                limit,
            )| {
                Population {
                    org_roles,
                    extra_workspaces,
                    workspace_members,
                    resources,
                    invitations,
                    access_requests,
                    limit,
                }
            },
        )
}

/// The world a population builds, with the ids of what was created.
struct World {
    api: Api,
    users: Vec<Uuid>,
    orgs: Vec<Uuid>,
    /// `workspaces[org]`, the default one first.
    workspaces: Vec<Vec<Uuid>>,
    /// `(workspace, resource)`.
    resources: Vec<(Uuid, Uuid)>,
    invitations: Vec<(Uuid, Uuid)>,
    access_requests: Vec<(Uuid, Uuid)>,
}

fn email(user: usize) -> String {
    format!("user{user}@example.com")
}

impl World {
    /// Builds `population` through the API as the system and the users;
    /// what the rules refuse (a guest in a workspace, a second open
    /// request…) is left out.
    fn build(population: &Population) -> World {
        let api = Api::new();
        let users: Vec<Uuid> = (0..USERS)
            .map(|u| api.create("/v1/users", json!({"email": email(u)})).unwrap())
            .collect();
        let mut world = World {
            api,
            users,
            orgs: Vec::new(),
            workspaces: Vec::new(),
            resources: Vec::new(),
            invitations: Vec::new(),
            access_requests: Vec::new(),
        };
        for org in 0..ORGS {
            world.build_org(population, org);
        }
        world.build_resources(population);
        let api = &world.api;
        for &(org, invitee, role) in &population.invitations {
            let invitee = if invitee < USERS {
                email(invitee)
            } else {
                format!("stranger{invitee}@example.com")
            };
            let path = format!("/v1/orgs/{}/invitations", world.orgs[org]);
            if let Some(id) = api.create(&path, json!({"email": invitee, "role": ORG_ROLES[role]}))
            {
                world.invitations.push((world.orgs[org], id));
            }
        }
        for &(org, ws, user, denied) in &population.access_requests {
            let Some(&workspace) = world.workspaces[org].get(ws) else {
                continue;
            };
            let path = format!("/v1/workspaces/{workspace}/access-requests");
            let Some(id) = api.create_as(Some(world.users[user]), &path, json!({})) else {
                continue;
            };
            if denied {
                let (status, body) = api.call(None, "POST", &format!("{path}/{id}/deny"), None);
                assert_eq!(status, 200, "{body}");
            }
            world.access_requests.push((workspace, id));
        }
        world
    }

    fn build_org(&mut self, population: &Population, org: usize) {
        let api = &self.api;
        let created = api
            .call(
                None,
                "POST",
                "/v1/orgs",
                Some(json!({"name": format!("org{org}"), "plan": "pro", "admin": self.users[org]})),
            )
            .1;
        let id = id_of(&created);
        let mut workspaces = vec![created["default_workspace"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()];
        for w in 0..population.extra_workspaces[org] {
            let path = format!("/v1/orgs/{id}/workspaces");
            workspaces.extend(api.create(&path, json!({"name": format!("ws{w}")})));
        }
        for user in 0..USERS {
            let role = match (org, user) {
                (_, u) if u == org => continue,
                (0, 1..=4) => FIXED_ORG0_ROLES[user - 1],
                _ => population.org_roles[org][user].map(|r| ORG_ROLES[r]),
            };
            if let Some(role) = role {
                let body = json!({"user": self.users[user], "role": role});
                let (status, answer) =
                    api.call(None, "POST", &format!("/v1/orgs/{id}/members"), Some(body));
                assert_eq!(status, 201, "{answer}");
            }
        }
        for &(o, ws, user, role) in &population.workspace_members {
            if o != org {
                continue;
            }
            let Some(workspace) = workspaces.get(ws) else {
                continue;
            };
            let body = json!({"user": self.users[user], "role": WORKSPACE_ROLES[role]});
            api.call(
                None,
                "POST",
                &format!("/v1/workspaces/{workspace}/members"),
                Some(body),
            );
        }
        self.orgs.push(id);
        self.workspaces.push(workspaces);
    }

    fn build_resources(&mut self, population: &Population) {
        let mut folders: Vec<(Uuid, Uuid)> = Vec::new();
        for spec in &population.resources {
            let Some(&workspace) = self.workspaces[spec.org].get(spec.workspace) else {
                continue;
            };
            let (kind, attributes) = match spec.kind {
                Kind::Folder => ("Folder", json!({})),
                Kind::Flow => ("Flow", json!({})),
                Kind::SharedCredential => ("Credential", json!({"personal": false})),
                Kind::PersonalCredential => ("Credential", json!({"personal": true})),
            };
            let mut body = json!({
                "type": kind,
                "attributes": attributes,
                "shared_with": spec.shared_with.iter().map(|&u| self.users[u]).collect::<Vec<_>>(),
            });
            if let Some(owner) = spec.owner {
                body["owner"] = json!(self.users[owner]);
            }
            let folder = spec
                .folder
                .and_then(|f| folders.iter().filter(|(ws, _)| *ws == workspace).nth(f));
            if let Some((_, folder)) = folder {
                body["folder"] = json!(folder);
            }
            let path = format!("/v1/workspaces/{workspace}/resources");
            if let Some(id) = self.api.create(&path, body) {
                if kind == "Folder" {
                    folders.push((workspace, id));
                }
                self.resources.push((workspace, id));
            }
        }
    }

    /// The system and every user.
    fn actors(&self) -> Vec<Option<Uuid>> {
        std::iter::once(None)
            .chain(self.users.iter().copied().map(Some))
            .collect()
    }

    /// The items of `candidates` whose single read (`read_path`) `actor`
    /// is allowed.
    fn readable<T: Copy>(
        &self,
        actor: Option<Uuid>,
        candidates: impl IntoIterator<Item = T>,
        read_path: impl Fn(T) -> (Uuid, String),
    ) -> BTreeSet<Uuid> {
        candidates
            .into_iter()
            .map(read_path)
            .filter(|(_, path)| self.api.may_read(actor, path))
            .map(|(id, _)| id)
            .collect()
    }

    /// A listing with per-item decisions shows exactly the readable items.
    #[track_caller]
    fn assert_lists_readable(
        &self,
        actor: Option<Uuid>,
        list: &str,
        readable: BTreeSet<Uuid>,
        limit: usize,
    ) {
        let listed = self
            .api
            .list_all(actor, list, limit)
            .unwrap_or_else(|| panic!("GET {list} as {actor:?}: refused instead of filtered"));
        assert_eq!(ids(&listed), readable, "GET {list} as {actor:?}");
    }

    /// A listing whose items have no read of their own shows all of them
    /// (as the system sees them) when `allowed`, and is refused otherwise.
    #[track_caller]
    fn assert_lists_all_or_refused(
        &self,
        actor: Option<Uuid>,
        list: &str,
        allowed: bool,
        limit: usize,
    ) {
        let all = self.api.list_all(None, list, limit).unwrap();
        let listed = self.api.list_all(actor, list, limit);
        match allowed {
            true => assert_eq!(listed, Some(all), "GET {list} as {actor:?}"),
            false => assert_eq!(listed, None, "GET {list} as {actor:?}"),
        }
    }

    fn check_every_listing(&self, limit: usize) {
        // The vendor's directory: every org, to the system alone.
        let directory = self.api.list_all(None, "/v1/orgs", limit).unwrap();
        assert_eq!(ids(&directory), self.orgs.iter().copied().collect());
        for actor in self.actors() {
            self.assert_lists_all_or_refused(actor, "/v1/orgs", actor.is_none(), limit);
            let allowed = |action: &str, kind: &str, id: Uuid| {
                actor.is_none_or(|user| self.api.allowed(user, action, kind, id))
            };
            for (o, &org) in self.orgs.iter().enumerate() {
                let workspaces = self.readable(actor, self.workspaces[o].iter().copied(), |ws| {
                    (ws, format!("/v1/workspaces/{ws}"))
                });
                self.assert_lists_readable(
                    actor,
                    &format!("/v1/orgs/{org}/workspaces"),
                    workspaces,
                    limit,
                );
                let invitations = self.readable(
                    actor,
                    self.invitations.iter().copied().filter(|(o, _)| *o == org),
                    |(org, id)| (id, format!("/v1/orgs/{org}/invitations/{id}")),
                );
                self.assert_lists_readable(
                    actor,
                    &format!("/v1/orgs/{org}/invitations"),
                    invitations,
                    limit,
                );
                for (list, action) in [
                    ("members", "ViewMembers"),
                    ("audit", "ViewAudit"),
                    ("accounts/credits/entries", "ViewBilling"),
                    ("billing-events", "ViewBilling"),
                    ("seat-charges", "ViewBilling"),
                ] {
                    let path = format!("/v1/orgs/{org}/{list}");
                    self.assert_lists_all_or_refused(
                        actor,
                        &path,
                        allowed(action, "Org", org),
                        limit,
                    );
                }
            }
            for &workspace in self.workspaces.iter().flatten() {
                let resources = self.readable(
                    actor,
                    self.resources
                        .iter()
                        .copied()
                        .filter(|(ws, _)| *ws == workspace),
                    |(_, id)| (id, format!("/v1/resources/{id}")),
                );
                self.assert_lists_readable(
                    actor,
                    &format!("/v1/workspaces/{workspace}/resources"),
                    resources,
                    limit,
                );
                let requests = self.readable(
                    actor,
                    self.access_requests
                        .iter()
                        .copied()
                        .filter(|(ws, _)| *ws == workspace),
                    |(ws, id)| (id, format!("/v1/workspaces/{ws}/access-requests/{id}")),
                );
                self.assert_lists_readable(
                    actor,
                    &format!("/v1/workspaces/{workspace}/access-requests"),
                    requests,
                    limit,
                );
                let members = format!("/v1/workspaces/{workspace}/members");
                let may_read_workspace = self
                    .api
                    .may_read(actor, &format!("/v1/workspaces/{workspace}"));
                self.assert_lists_all_or_refused(actor, &members, may_read_workspace, limit);
            }
        }
    }
}

/// The types a search may look for.
const SEARCHED_TYPES: [&str; 5] = ["Org", "Workspace", "Folder", "Flow", "Credential"];

/// Every item of a paged search: `fetch` answers one page's items and
/// the token of the next (none after the last) for a token (none first).
fn all_pages(mut fetch: impl FnMut(Option<&str>) -> (Vec<Value>, Option<String>)) -> Vec<Value> {
    let (mut items, mut next) = fetch(None);
    while let Some(token) = next {
        let (page, after) = fetch(Some(&token));
        items.extend(page);
        next = after;
    }
    items
}

impl World {
    /// Every entity a search may find, with its type: orgs, workspaces
    /// and resources.
    fn typed_entities(&self) -> Vec<(&'static str, Uuid)> {
        let orgs = self.orgs.iter().map(|&org| ("Org", org));
        let workspaces = self
            .workspaces
            .iter()
            .flatten()
            .map(|&ws| ("Workspace", ws));
        let resources = self.resources.iter().map(|&(_, id)| {
            let (_, resource) = self
                .api
                .call(None, "GET", &format!("/v1/resources/{id}"), None);
            let kind = SEARCHED_TYPES
                .into_iter()
                .find(|kind| resource["kind"] == *kind)
                .unwrap();
            (kind, id)
        });
        orgs.chain(workspaces)
            .chain(resources.collect::<Vec<_>>())
            .collect()
    }

    /// `GET /v1/users/{user}/access` as `actor`, followed to its end.
    fn access(
        &self,
        actor: Option<Uuid>,
        user: Uuid,
        action: &str,
        kind: &str,
        limit: usize,
    ) -> BTreeSet<Uuid> {
        let listed = all_pages(|token| {
            let mut path =
                format!("/v1/users/{user}/access?action={action}&type={kind}&limit={limit}");
            path.extend(token.map(|token| format!("&after={token}")));
            let (status, page) = self.api.call(actor, "GET", &path, None);
            assert_eq!(status, 200, "{path}: {page}");
            assert_eq!(page["complete"], true, "{path}: {page}");
            assert!(
                page["items"].as_array().unwrap().len() <= limit,
                "{path}: {page}"
            );
            (
                page["items"].as_array().unwrap().clone(),
                page["next"].as_str().map(String::from),
            )
        });
        assert!(listed.iter().all(|item| item["type"] == kind), "{listed:?}");
        ids(&listed)
    }

    /// An AuthZEN search of `endpoint` (`subject`, `resource`, `action`)
    /// as the system, followed to its end: the results.
    fn authzen_search(&self, endpoint: &str, body: Value, limit: usize) -> Vec<Value> {
        let path = format!("/access/v1/search/{endpoint}");
        all_pages(|token| {
            let mut body = body.clone();
            body["page"] = json!({"limit": limit, "token": token});
            let (status, answer) = self.api.call(None, "POST", &path, Some(body.clone()));
            assert_eq!(status, 200, "{path} {body}: {answer}");
            assert_eq!(answer["context"]["complete"], true, "{answer}");
            let results = answer["results"].as_array().unwrap().clone();
            assert_eq!(answer["page"]["count"], results.len(), "{answer}");
            let next = answer["page"]["next_token"].as_str().unwrap();
            (results, (!next.is_empty()).then(|| next.to_string()))
        })
    }

    /// The actions the schema in force applies to a user and `kind`.
    fn actions_on(&self, kind: &str) -> Vec<String> {
        let snapshot = self.api.app.policies.current();
        let mut actions: Vec<String> = snapshot
            .action_names()
            .into_iter()
            .filter(|action| {
                snapshot.request_kinds(action).iter().any(|request| {
                    request.principal_type() == "User" && request.resource_type() == kind
                })
            })
            .collect();
        actions.sort();
        actions
    }

    /// Each search holds exactly what single checks allow.
    fn check_every_search(&self, limit: usize) {
        let entities = self.typed_entities();
        for &user in &self.users {
            self.check_resource_searches(user, &entities, limit);
        }
        for &(kind, id) in &entities {
            self.check_subject_and_action_searches(kind, id, limit);
        }
    }

    /// What `user` may access, by action and type, is what single checks
    /// allow among `entities`; they may ask it themselves, not of another.
    fn check_resource_searches(&self, user: Uuid, entities: &[(&str, Uuid)], limit: usize) {
        for kind in SEARCHED_TYPES {
            for action in self.actions_on(kind) {
                let expected: BTreeSet<Uuid> = entities
                    .iter()
                    .filter(|&&(k, id)| k == kind && self.api.allowed(user, &action, kind, id))
                    .map(|&(_, id)| id)
                    .collect();
                let listed = self.access(None, user, &action, kind, limit);
                assert_eq!(listed, expected, "{user} {action} {kind}");
            }
        }
        let (action, kind) = ("ViewWorkspace", "Workspace");
        assert_eq!(
            self.access(Some(user), user, action, kind, limit),
            self.access(None, user, action, kind, limit)
        );
        let other = self.users.iter().find(|&&other| other != user).unwrap();
        let path = format!("/v1/users/{other}/access?action={action}&type={kind}");
        let (status, _) = self.api.call(Some(user), "GET", &path, None);
        assert_eq!(status, 403, "{path} as {user}");
        // AuthZEN's resource search is the same engine.
        let body = json!({"subject": {"type": "user", "id": user},
                          "action": {"name": "run_resource"}, "resource": {"type": "flow"}});
        let found = self.authzen_search("resource", body, limit);
        assert!(found.iter().all(|r| r["type"] == "flow"), "{found:?}");
        assert_eq!(
            ids(&found),
            self.access(None, user, "RunResource", "Flow", limit)
        );
    }

    /// Who may do each action on `id`, and what each user may do on it,
    /// are what single checks allow.
    fn check_subject_and_action_searches(&self, kind: &str, id: Uuid, limit: usize) {
        let actions = self.actions_on(kind);
        let resource = json!({"type": kind, "id": id});
        for action in &actions {
            let body = json!({"subject": {"type": "user"}, "action": {"name": action},
                              "resource": resource});
            let found = self.authzen_search("subject", body, limit);
            let expected: BTreeSet<Uuid> = self
                .users
                .iter()
                .copied()
                .filter(|&user| self.api.allowed(user, action, kind, id))
                .collect();
            assert_eq!(ids(&found), expected, "who may {action} {kind} {id}");
        }
        for &user in &self.users {
            let body = json!({"subject": {"type": "user", "id": user}, "resource": resource});
            let found = self.authzen_search("action", body, limit);
            let names: Vec<&str> = found.iter().map(|a| a["name"].as_str().unwrap()).collect();
            let expected: Vec<&str> = actions
                .iter()
                .map(String::as_str)
                .filter(|action| self.api.allowed(user, action, kind, id))
                .collect();
            assert_eq!(names, expected, "what may {user} do on {kind} {id}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn every_search_holds_exactly_what_single_checks_allow(population in population()) {
        World::build(&population).check_every_search(population.limit);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_listing_shows_exactly_what_single_reads_allow(population in population()) {
        let world = World::build(&population);
        for (o, &org) in world.orgs.iter().enumerate() {
            // Billing rows to list: a grant is an entry.
            let grant = json!({"credits": 100 + o, "source": "purchase"});
            world.api.create(&format!("/v1/orgs/{org}/credits"), grant).unwrap();
        }
        world.check_every_listing(population.limit);
    }
}

/// A listing examines at most `MAX_LISTING_EXAMINED` items per request:
/// behind that many items the actor may not read, a page comes back empty
/// with a `next`, and following it reaches the readable ones.
#[test]
fn a_listing_examines_a_bounded_number_of_items_and_continues_past_hidden_ones() {
    use warden::http::MAX_LISTING_EXAMINED;
    let api = Api::new();
    let owner = api
        .create("/v1/users", json!({"email": "owner@example.com"}))
        .unwrap();
    let reader = api
        .create("/v1/users", json!({"email": "reader@example.com"}))
        .unwrap();
    let org = api
        .call(
            None,
            "POST",
            "/v1/orgs",
            Some(json!({"name": "acme", "plan": "pro", "admin": owner})),
        )
        .1;
    let (org_id, workspace): (Uuid, Uuid) = (
        id_of(&org),
        org["default_workspace"].as_str().unwrap().parse().unwrap(),
    );
    // A Member, who joins the default workspace.
    let add = json!({"user": reader, "role": "member"});
    assert_eq!(
        api.call(
            None,
            "POST",
            &format!("/v1/orgs/{org_id}/members"),
            Some(add)
        )
        .0,
        201
    );
    // The owner's personal credentials, which the reader may not read, then
    // flows, which they may: the index lists by id, so the ids are chosen
    // in that order. Registered straight through the write path: a
    // thousand HTTP writes would each wait for a flush.
    let mut ids_in_order: Vec<Uuid> = (0..MAX_LISTING_EXAMINED + 3)
        .map(|_| Uuid::new_v4())
        .collect();
    ids_in_order.sort();
    let register = |id: Uuid, kind: &str, attributes: Value| {
        let command: RegisterResource = serde_json::from_value(json!({
            "type": kind, "owner": owner, "attributes": attributes,
        }))
        .unwrap();
        let command = RegisterResource {
            id,
            org: org_id,
            workspace,
            ..command
        };
        command::execute(&api.app, Actor::System, None, command)
            .unwrap()
            .id
    };
    let (hidden, visible) = ids_in_order.split_at(MAX_LISTING_EXAMINED);
    for &id in hidden {
        register(id, "Credential", json!({"personal": true}));
    }
    let flows: BTreeSet<Uuid> = visible
        .iter()
        .map(|&id| register(id, "Flow", json!({})))
        .collect();

    let list = format!("/v1/workspaces/{workspace}/resources");
    let (status, first) = api.call(Some(reader), "GET", &format!("{list}?limit=2"), None);
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["items"],
        json!([]),
        "nothing readable among the first {MAX_LISTING_EXAMINED}"
    );
    let next = first["next"]
        .as_str()
        .expect("a next past the examined items");
    let (_, second) = api.call(
        Some(reader),
        "GET",
        &format!("{list}?limit=2&after={next}"),
        None,
    );
    assert_eq!(second["items"].as_array().unwrap().len(), 2, "{second}");
    assert!(second["next"].is_string(), "{second}");
    let listed = api.list_all(Some(reader), &list, 2).unwrap();
    assert_eq!(ids(&listed), flows);
    // The owner reads them all, a full page at once.
    let (_, owners) = api.call(Some(owner), "GET", &format!("{list}?limit=500"), None);
    assert_eq!(owners["items"].as_array().unwrap().len(), 500);

    // A search is bounded so too: the hidden credentials fill its budget
    // (with the org and the workspace), and its token goes on to the flows.
    use warden::app::access::MAX_SEARCH_EXAMINED;
    const { assert!(MAX_SEARCH_EXAMINED <= MAX_LISTING_EXAMINED) };
    let access = format!("/v1/users/{reader}/access?action=RunResource&type=Flow&limit=2");
    let (status, first) = api.call(Some(reader), "GET", &access, None);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"], json!([]), "{first}");
    assert_eq!(first["complete"], true, "{first}");
    let next = first["next"]
        .as_str()
        .expect("a token past the examined ones");
    let found = all_pages(|token| {
        let (_, page) = api.call(
            Some(reader),
            "GET",
            &format!("{access}&after={}", token.unwrap_or(next)),
            None,
        );
        (
            page["items"].as_array().unwrap().clone(),
            page["next"].as_str().map(String::from),
        )
    });
    assert_eq!(ids(&found), flows);
}
