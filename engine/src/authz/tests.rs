//! Checks against a real store and the default policies: no spelling of a
//! stored id lets a caller redefine it or change a decision, and no shape
//! of supplied entities costs more than linear work.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use uuid::Uuid;

use super::entities::{load, Budget};
use super::*;
use crate::app::{Actor, App};
use crate::command::{self, AddMember, CreateOrg, CreateUser, RegisterResource};
use crate::plugin::PluginHost;
use crate::policy::PolicyEngine;
use crate::policy::{self, load::SCHEMA_FILE};
use crate::store::{Org, OrgRole, Store};

pub(super) fn app(dir: &tempfile::TempDir) -> App {
    let policies = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    App::new(
        Store::open(&dir.path().join("db"), 1 << 22).unwrap(),
        PolicyEngine::open(&policies).unwrap(),
        PluginHost::builtin().unwrap(),
    )
}

fn run<C: command::Command + serde::de::DeserializeOwned>(app: &App, body: Value) -> C::Output {
    let command: C = serde_json::from_value(body).unwrap();
    command::execute(app, Actor::System, None, command).unwrap()
}

pub(super) fn user(app: &App, email: &str) -> Uuid {
    run::<CreateUser>(app, json!({"email": email})).id
}

/// An org with `admin` as its admin, and `guest` as an internal guest.
pub(super) fn org(app: &App, admin: Uuid, guest: Uuid) -> Org {
    org_with_guest(app, admin, guest, "guest_internal")
}

/// An org with `admin` as its admin, and `guest` in the guest `role`.
fn org_with_guest(app: &App, admin: Uuid, guest: Uuid, role: &str) -> Org {
    let org = run::<CreateOrg>(app, json!({"name": "org", "plan": "pro", "admin": admin}));
    let mut add: AddMember = serde_json::from_value(json!({"user": guest, "role": role})).unwrap();
    add.org = org.id;
    command::execute(app, Actor::System, None, add).unwrap();
    org
}

/// An org with an admin and an External Guest, and a flow in its default
/// workspace that is shared with nobody.
struct Tenant {
    app: App,
    org: Uuid,
    workspace: Uuid,
    guest: Uuid,
    flow: Uuid,
    _dir: tempfile::TempDir,
}

impl Tenant {
    fn new() -> Tenant {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let admin = user(&app, "admin@acme.com");
        let guest = user(&app, "guest@elsewhere.com");
        let org = org_with_guest(&app, admin, guest, "guest_external");
        let workspace = org.default_workspace.unwrap();
        let mut flow: RegisterResource =
            serde_json::from_value(json!({"type": "Flow", "shared_with": []})).unwrap();
        (flow.org, flow.workspace) = (org.id, workspace);
        let flow = command::execute(&app, Actor::User(admin), None, flow).unwrap();
        Tenant {
            app,
            org: org.id,
            workspace,
            guest,
            flow: flow.id,
            _dir: dir,
        }
    }

    /// The decision (`true` for Allow), or the field a 400 names.
    fn ask(&self, request: &CheckRequest) -> Result<bool, String> {
        match self.app.check(request) {
            Ok(decision) => Ok(decision.allowed()),
            Err(Error::Invalid { field, .. }) => Err(field),
            Err(other) => panic!("not a 400: {other}"),
        }
    }
}

/// Where a test puts a spelling of a stored id.
#[derive(Clone, Copy, Debug)]
enum Position {
    /// The exploit: the resource and a caller's entity of the stored flow,
    /// shared with the External Guest.
    Resource,
    /// The principal and a caller's entity of the stored guest, in the
    /// org's admins.
    Principal,
    /// The parent of a caller's flow: the stored workspace.
    Parent,
    /// The `shared_with` attribute of a caller's flow: the guest.
    SharedWith,
    /// The `org` attribute of a caller's flow, as an `__entity` escape.
    OrgAttribute,
    /// A caller's entity of the stored org's admins group.
    RoleGroup,
    /// The parent of a caller's new user: the stored org's admins group.
    Membership,
    /// An entity in the context.
    Context,
}

const POSITIONS: [Position; 8] = [
    Position::Resource,
    Position::Principal,
    Position::Parent,
    Position::SharedWith,
    Position::OrgAttribute,
    Position::RoleGroup,
    Position::Membership,
    Position::Context,
];

/// The ways `Uuid::parse_str` reads a uuid, each letter's case chosen by `upper`.
#[derive(Clone, Copy, Debug)]
enum Form {
    Hyphenated,
    Simple,
    Braced,
    Urn,
}

fn spell(id: Uuid, form: Form, upper: u32) -> String {
    let cased: String = id
        .simple()
        .to_string()
        .chars()
        .enumerate()
        .map(|(i, c)| match upper >> i & 1 {
            1 => c.to_ascii_uppercase(),
            _ => c,
        })
        .collect();
    let hyphenated = format!(
        "{}-{}-{}-{}-{}",
        &cased[..8],
        &cased[8..12],
        &cased[12..16],
        &cased[16..20],
        &cased[20..]
    );
    match form {
        Form::Hyphenated => hyphenated,
        Form::Simple => cased,
        Form::Braced => format!("{{{hyphenated}}}"),
        Form::Urn => format!("urn:uuid:{hyphenated}"),
    }
}

/// A check with one stored id, `spelled`, at `position`, and the field a
/// non-canonical spelling must be refused at.
fn request(
    tenant: &Tenant,
    position: Position,
    spelled: &dyn Fn(Uuid) -> String,
) -> (CheckRequest, &'static str) {
    let (org, workspace, guest, flow) = (tenant.org, tenant.workspace, tenant.guest, tenant.flow);
    let caller_flow = |id: &str, parent: String, shared: String, org: Value| {
        json!({"uid": {"type": "Flow", "id": id}, "parents": [{"type": "Workspace", "id": parent}],
               "attrs": {"org": org, "workspace": {"type": "Workspace", "id": workspace},
                         "shared_with": [{"type": "User", "id": shared}]}})
    };
    let org_ref = json!({"type": "Org", "id": org});
    let (principal, action, resource, entities, context, field) = match position {
        Position::Resource => (
            EntityRef::new("User", guest),
            "ViewResource",
            EntityRef::new("Flow", spelled(flow)),
            vec![caller_flow(
                &spelled(flow),
                workspace.to_string(),
                guest.to_string(),
                org_ref,
            )],
            json!({}),
            "resource.id",
        ),
        Position::Principal => (
            EntityRef::new("User", spelled(guest)),
            "DeleteResource",
            EntityRef::new("Flow", flow),
            vec![
                json!({"uid": {"type": "User", "id": spelled(guest)}, "attrs": {"email": "g@x.y"},
                        "parents": [{"type": "OrgRole", "id": org_role_id(org, OrgRole::Admin)}]}),
            ],
            json!({}),
            "principal.id",
        ),
        Position::Parent => (
            EntityRef::new("User", guest),
            "ViewResource",
            EntityRef::new("Flow", "app-flow"),
            vec![caller_flow(
                "app-flow",
                spelled(workspace),
                guest.to_string(),
                org_ref,
            )],
            json!({}),
            "entities[0].parents[0].id",
        ),
        Position::SharedWith => (
            EntityRef::new("User", guest),
            "ViewResource",
            EntityRef::new("Flow", "app-flow"),
            vec![caller_flow(
                "app-flow",
                workspace.to_string(),
                spelled(guest),
                org_ref,
            )],
            json!({}),
            "entities[0].attrs.shared_with[0].id",
        ),
        Position::OrgAttribute => (
            EntityRef::new("User", guest),
            "ViewResource",
            EntityRef::new("Flow", "app-flow"),
            vec![caller_flow(
                "app-flow",
                workspace.to_string(),
                guest.to_string(),
                json!({"__entity": {"type": "Org", "id": spelled(org)}}),
            )],
            json!({}),
            "entities[0].attrs.org.__entity.id",
        ),
        Position::RoleGroup => (
            EntityRef::new("User", guest),
            "UpdateOrg",
            EntityRef::new("Org", org),
            vec![
                json!({"uid": {"type": "OrgRole", "id": format!("{}/admin", spelled(org))},
                        "attrs": {}, "parents": [{"type": "Org", "id": org}]}),
            ],
            json!({}),
            "entities[0].uid.id",
        ),
        Position::Membership => (
            EntityRef::new("User", "app-user"),
            "UpdateOrg",
            EntityRef::new("Org", org),
            vec![
                json!({"uid": {"type": "User", "id": "app-user"}, "attrs": {"email": "a@x.y"},
                        "parents": [{"type": "OrgRole", "id": format!("{}/admin", spelled(org))}]}),
            ],
            json!({}),
            "entities[0].parents[0].id",
        ),
        Position::Context => (
            EntityRef::new("User", guest),
            "ViewResource",
            EntityRef::new("Flow", flow),
            Vec::new(),
            json!({"by": {"__entity": {"type": "User", "id": spelled(guest)}}}),
            "context.by.__entity.id",
        ),
    };
    let request = CheckRequest {
        principal,
        action: EntityRef::new("Action", action),
        resource,
        context: serde_json::from_value(context).unwrap(),
        entities,
    };
    (request, field)
}

#[test]
fn stored_ids_are_refused_when_forged_and_allowed_only_as_placement() {
    let tenant = Tenant::new();
    let canonical = |id: Uuid| id.to_string();
    let expected = [
        (Position::Resource, Err("entities[0]")),
        (Position::Principal, Err("entities[0]")),
        (Position::Parent, Ok(true)),
        (Position::SharedWith, Ok(true)),
        (Position::OrgAttribute, Ok(true)),
        (Position::RoleGroup, Err("entities[0]")),
        (Position::Membership, Err("entities[0].parents[0]")),
        (Position::Context, Err("context")),
    ];
    for (position, answer) in expected {
        let (request, _) = request(&tenant, position, &canonical);
        assert_eq!(
            tenant.ask(&request),
            answer.map_err(str::to_string),
            "{position:?}"
        );
    }
}

#[test]
fn no_spelling_of_a_stored_id_is_accepted_or_changes_a_decision() {
    let tenant = Tenant::new();
    let canonical = |id: Uuid| id.to_string();
    let forms = prop_oneof![
        Just(Form::Hyphenated),
        Just(Form::Simple),
        Just(Form::Braced),
        Just(Form::Urn)
    ];
    let cases = (0..POSITIONS.len(), forms, any::<u32>(), any::<bool>());
    let config = Config {
        failure_persistence: None,
        ..Config::with_cases(256)
    };
    let mut runner = TestRunner::new(config);
    runner
        .run(&cases, |(position, form, upper, all_upper)| {
            let position = POSITIONS[position];
            let upper = if all_upper { u32::MAX } else { upper };
            let spelled = |id: Uuid| spell(id, form, upper);
            let (canonical_request, _) = request(&tenant, position, &canonical);
            let (spelled_request, field) = request(&tenant, position, &spelled);
            let baseline = tenant.ask(&canonical_request);
            let answer = tenant.ask(&spelled_request);
            if serde_json::to_value(&spelled_request).unwrap()
                == serde_json::to_value(&canonical_request).unwrap()
            {
                prop_assert_eq!(answer, baseline);
            } else {
                prop_assert_eq!(answer, Err(field.to_string()), "{:?}", position);
            }
            Ok(())
        })
        .unwrap();
}

/// Builds the entities of one check of `entities` on `Folder::"e0"`: what
/// that spent of the budget, and the message of a 400.
fn spent(tenant: &Tenant, entities: &[Value]) -> (usize, Result<(), String>) {
    let snapshot = tenant.app.policies.current();
    let mut budget = Budget::default();
    let outcome = load(
        &tenant.app.store.check_reads(None),
        &snapshot,
        &EntityRef::new("User", tenant.guest),
        &EntityRef::new("Folder", "e0"),
        entities,
        &mut budget,
    );
    let outcome = match outcome {
        Ok(_) => Ok(()),
        Err(error @ Error::Invalid { .. }) => Err(error.to_string()),
        Err(other) => panic!("not a 400: {other}"),
    };
    (budget.spent, outcome)
}

/// A caller's folder `id` in the tenant's org, with these parents.
fn folder(tenant: &Tenant, id: &str, parents: Vec<Value>) -> Value {
    json!({"uid": {"type": "Folder", "id": id}, "parents": parents,
           "attrs": {"org": {"type": "Org", "id": tenant.org},
                     "workspace": {"type": "Workspace", "id": tenant.workspace}, "shared_with": []}})
}

fn folder_ref(id: &str) -> Value {
    json!({"type": "Folder", "id": id})
}

#[test]
fn supplied_entities_cost_what_they_weigh() {
    let tenant = Tenant::new();
    let workspace = json!({"type": "Workspace", "id": tenant.workspace});
    let name = |i: usize| format!("e{i}");
    let shapes: Vec<(&str, Vec<Value>)> = vec![
        // One entity whose parents are itself, 16 times.
        (
            "self-parents",
            vec![folder(&tenant, "e0", vec![folder_ref("e0"); 16])],
        ),
        // Eight levels, each naming the next 16 times and itself.
        (
            "self-parents x8 levels",
            (0..8)
                .map(|i| {
                    let mut parents = vec![folder_ref(&name(i + 1)); 16];
                    parents.push(folder_ref(&name(i)));
                    folder(&tenant, &name(i), parents)
                })
                .collect(),
        ),
        // A chain of 100 ending in the stored workspace.
        (
            "chain",
            (0..100)
                .map(|i| match i {
                    99 => folder(&tenant, &name(i), vec![workspace.clone()]),
                    _ => folder(&tenant, &name(i), vec![folder_ref(&name(i + 1))]),
                })
                .collect(),
        ),
        // A cycle through every entity.
        (
            "cycle",
            (0..100)
                .map(|i| folder(&tenant, &name(i), vec![folder_ref(&name((i + 1) % 100))]))
                .collect(),
        ),
        // Every entity names every other: 9 900 parents.
        (
            "complete graph",
            (0..100)
                .map(|i| {
                    folder(
                        &tenant,
                        &name(i),
                        (0..100)
                            .filter(|j| *j != i)
                            .map(|j| folder_ref(&name(j)))
                            .collect(),
                    )
                })
                .collect(),
        ),
        // One entity naming a thousand uuids nobody stores.
        (
            "wide fan of uuids",
            vec![folder(
                &tenant,
                "e0",
                (0..1000)
                    .map(|_| json!({"type": "Folder", "id": Uuid::now_v7()}))
                    .collect(),
            )],
        ),
        // 100 entities with uuid ids, each naming 8 unknown uuid folders.
        (
            "uuids everywhere",
            (0..100)
                .map(|i| {
                    let parents = (0..8).map(|_| json!({"type": "Folder", "id": Uuid::now_v7()}));
                    let mut parents: Vec<Value> = parents.collect();
                    parents.push(folder_ref(&name((i + 1) % 100)));
                    folder(&tenant, &name(i), parents)
                })
                .collect(),
        ),
    ];
    for (shape, entities) in shapes {
        let sent: usize = entities
            .iter()
            .map(|e| 1 + e["parents"].as_array().unwrap().len())
            .sum();
        let (spent, outcome) = spent(&tenant, &entities);
        // Each entity and parent sent is counted once as sent, at most once
        // as a reference followed and once as a store lookup; the stored
        // ancestry adds a few.
        assert!(
            spent <= 3 * sent + 16,
            "{shape}: {spent} nodes for {sent} sent"
        );
        let over_budget = outcome
            .as_ref()
            .is_err_and(|message| message.contains("MAX_ENTITY_NODES"));
        assert_eq!(
            over_budget,
            spent > MAX_ENTITY_NODES,
            "{shape}: {outcome:?}"
        );
        assert!(sent <= MAX_ENTITY_NODES || over_budget, "{shape}");
    }
}

#[test]
fn an_empty_context_is_still_validated_for_an_action_that_needs_one() {
    let policies = tempfile::tempdir().unwrap();
    let schema = "entity User; entity Doc;
        action View appliesTo { principal: User, resource: Doc };
        action Share appliesTo { principal: User, resource: Doc, context: { note: String } };";
    std::fs::write(policies.path().join(SCHEMA_FILE), schema).unwrap();
    let permit = "@id(\"all\") @reason(\"Anyone may\")\npermit (principal, action, resource);";
    std::fs::write(policies.path().join("all.cedar"), permit).unwrap();
    let snapshot = policy::build(policies.path(), 1).unwrap();
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path(), 1 << 20).unwrap();
    let check = |action: &str| {
        let request = CheckRequest {
            principal: EntityRef::new("User", "u"),
            action: EntityRef::new("Action", action),
            resource: EntityRef::new("Doc", "d"),
            context: serde_json::Map::new(),
            entities: Vec::new(),
        };
        authorize(&store, &snapshot, &request, None)
    };

    assert!(check("View").unwrap().allowed());
    match check("Share") {
        Err(Error::Invalid { field, message }) => {
            assert_eq!(field, "request");
            assert!(message.contains("context"), "{message}");
        }
        other => panic!("expected an invalid request, got {other:?}"),
    }
}
