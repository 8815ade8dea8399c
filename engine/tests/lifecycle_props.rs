//! Property tests of the lifecycle commands: whatever sequence of adds,
//! invitations, role changes, removals, moves and deletions runs, no org
//! loses its last Admin, no check lets a user act on an org they do not
//! belong to, every secondary index agrees with its records, every check
//! answered from the entity cache equals one built from the store, and no
//! input is answered with a server error.

use std::path::Path;

use proptest::prelude::*;
use time::Duration;
use uuid::Uuid;
use warden::app::{Actor, App};
use warden::authz::{CheckRequest, EntityRef};
use warden::command::{
    self, AcceptInvitation, AddMember, AddWorkspaceMember, ApproveAccessRequest, ChangeRole,
    Command, CreateOrg, CreateUser, CreateWorkspace, DeleteResource, DeleteWorkspace,
    InvitationRef, Invite, MoveResource, RegisterResource, RemoveMember, RemoveWorkspaceMember,
    RequestAccess, ResourceRef, RevokeInvitation,
};
use warden::plugin::PluginHost;
use warden::policy::PolicyEngine;
use warden::store::CheckRecords;
use warden::store::{consistency, keys, InvitationMode, OrgRole, Resource, Store, WorkspaceRole};

const USERS: usize = 6;
const ORGS: usize = 2;
/// Workspaces per org: the default one and one more.
const WORKSPACES: usize = 2;

/// A world of users, orgs (each created with one Admin) and workspaces.
struct World {
    _dir: tempfile::TempDir,
    app: App,
    users: Vec<Uuid>,
    orgs: Vec<Uuid>,
    /// `workspaces[org][i]`.
    workspaces: Vec<Vec<Uuid>>,
    resources: Vec<Uuid>,
}

#[derive(Clone, Debug)]
enum Op {
    Add {
        org: usize,
        user: usize,
        role: OrgRole,
    },
    InviteAccept {
        org: usize,
        user: usize,
        role: OrgRole,
        accept_as: usize,
    },
    InviteRevoke {
        org: usize,
        user: usize,
    },
    ChangeRole {
        org: usize,
        user: usize,
        role: OrgRole,
        actor: Option<usize>,
    },
    Remove {
        org: usize,
        user: usize,
        actor: Option<usize>,
    },
    AddToWorkspace {
        org: usize,
        ws: usize,
        user: usize,
        role: WorkspaceRole,
    },
    RemoveFromWorkspace {
        org: usize,
        ws: usize,
        user: usize,
    },
    RequestApprove {
        org: usize,
        ws: usize,
        user: usize,
    },
    Register {
        org: usize,
        ws: usize,
        actor: Option<usize>,
    },
    Move {
        resource: usize,
        org: usize,
        ws: usize,
        actor: Option<usize>,
    },
    DeleteResource {
        resource: usize,
    },
    DeleteWorkspace {
        org: usize,
        ws: usize,
    },
}

fn role() -> impl Strategy<Value = OrgRole> {
    prop::sample::select(OrgRole::ALL.to_vec())
}

fn ws_role() -> impl Strategy<Value = WorkspaceRole> {
    prop::sample::select(WorkspaceRole::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let org = 0..ORGS;
    let user = 0..USERS;
    let ws = 0..WORKSPACES;
    let actor = prop::option::of(0..USERS);
    prop_oneof![
        1 => (org.clone(), user.clone(), role()).prop_map(|(org, user, role)| Op::Add { org, user, role }),
        1 => (org.clone(), user.clone(), role(), user.clone())
            .prop_map(|(org, user, role, accept_as)| Op::InviteAccept { org, user, role, accept_as }),
        1 => (org.clone(), user.clone()).prop_map(|(org, user)| Op::InviteRevoke { org, user }),
        3 => (org.clone(), user.clone(), role(), actor.clone())
            .prop_map(|(org, user, role, actor)| Op::ChangeRole { org, user, role, actor }),
        2 => (org.clone(), user.clone(), actor.clone())
            .prop_map(|(org, user, actor)| Op::Remove { org, user, actor }),
        1 => (org.clone(), ws.clone(), user.clone(), ws_role())
            .prop_map(|(org, ws, user, role)| Op::AddToWorkspace { org, ws, user, role }),
        1 => (org.clone(), ws.clone(), user.clone())
            .prop_map(|(org, ws, user)| Op::RemoveFromWorkspace { org, ws, user }),
        1 => (org.clone(), ws.clone(), user.clone())
            .prop_map(|(org, ws, user)| Op::RequestApprove { org, ws, user }),
        1 => (org.clone(), ws.clone(), actor.clone())
            .prop_map(|(org, ws, actor)| Op::Register { org, ws, actor }),
        1 => (0..8usize, org.clone(), ws.clone(), actor)
            .prop_map(|(resource, org, ws, actor)| Op::Move { resource, org, ws, actor }),
        1 => (0..8usize).prop_map(|resource| Op::DeleteResource { resource }),
        1 => (org, ws).prop_map(|(org, ws)| Op::DeleteWorkspace { org, ws }),
    ]
}

fn actor_of(world: &World, actor: Option<usize>) -> Actor {
    actor.map_or(Actor::System, |i| Actor::User(world.users[i]))
}

/// Runs a command; a refusal is fine, a server error is not.
fn run<C: Command>(world: &World, actor: Actor, command: C) -> Option<C::Output> {
    match command::execute(&world.app, actor, None, command) {
        Ok(output) => Some(output),
        Err(e) => {
            assert!(
                !warden::http::status(&e).is_server_error(),
                "{}: server error {e}",
                C::ACTION
            );
            None
        }
    }
}

fn email(user: usize) -> String {
    format!("user{user}@example.com")
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let app = App::new(
            Store::open(&dir.path().join("db"), 1 << 22).unwrap(),
            PolicyEngine::open(&policies).unwrap(),
            PluginHost::builtin().unwrap(),
        );
        let mut world = World {
            _dir: dir,
            app,
            users: Vec::new(),
            orgs: Vec::new(),
            workspaces: Vec::new(),
            resources: Vec::new(),
        };
        for i in 0..USERS {
            let user = CreateUser {
                id: Uuid::new_v4(),
                email: email(i),
            };
            world
                .users
                .push(run(&world, Actor::System, user).unwrap().id);
        }
        for o in 0..ORGS {
            let create = CreateOrg {
                id: Uuid::new_v4(),
                default_workspace: Uuid::new_v4(),
                name: format!("org{o}"),
                plan: warden::store::Plan::Pro,
                seat_limit: 0,
                verified_domains: vec![format!("org{o}.example")],
                admin: Some(world.users[o]),
                autojoin_role: OrgRole::Member,
                // Both ways an invitation can admit, one org each.
                invitation_mode: if o % 2 == 0 {
                    InvitationMode::OnAccept
                } else {
                    InvitationMode::OnInvite
                },
            };
            let org = run(&world, Actor::System, create).unwrap();
            let extra = CreateWorkspace {
                id: Uuid::new_v4(),
                org: org.id,
                name: "extra".into(),
            };
            let extra = run(&world, Actor::System, extra).unwrap();
            world.orgs.push(org.id);
            world
                .workspaces
                .push(vec![org.default_workspace.unwrap(), extra.id]);
        }
        world
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Add { org, user, role } => {
                let add = AddMember::new(self.orgs[org], self.users[user], role);
                run(self, Actor::System, add);
            }
            Op::InviteAccept {
                org,
                user,
                role,
                accept_as,
            } => {
                let invite = Invite::new(self.orgs[org], email(user), role, Duration::days(7));
                if let Some(invitation) = run(self, Actor::System, invite) {
                    let target = InvitationRef {
                        org: self.orgs[org],
                        invitation: invitation.id,
                    };
                    run(
                        self,
                        Actor::User(self.users[accept_as]),
                        AcceptInvitation::new(target),
                    );
                }
            }
            Op::InviteRevoke { org, user } => {
                let invite = Invite::new(
                    self.orgs[org],
                    email(user),
                    OrgRole::Member,
                    Duration::days(7),
                );
                if let Some(invitation) = run(self, Actor::System, invite) {
                    let target = InvitationRef {
                        org: self.orgs[org],
                        invitation: invitation.id,
                    };
                    run(self, Actor::System, RevokeInvitation(target));
                }
            }
            Op::ChangeRole {
                org,
                user,
                role,
                actor,
            } => {
                let change = ChangeRole::new(self.orgs[org], self.users[user], role);
                run(self, actor_of(self, actor), change);
            }
            Op::Remove { org, user, actor } => {
                let remove = RemoveMember {
                    org: self.orgs[org],
                    user: self.users[user],
                };
                run(self, actor_of(self, actor), remove);
            }
            Op::AddToWorkspace {
                org,
                ws,
                user,
                role,
            } => {
                let add = AddWorkspaceMember {
                    org: self.orgs[org],
                    workspace: self.workspaces[org][ws],
                    user: Some(self.users[user]),
                    email: None,
                    role,
                };
                run(self, Actor::System, add);
            }
            Op::RemoveFromWorkspace { org, ws, user } => {
                let remove = RemoveWorkspaceMember {
                    org: self.orgs[org],
                    workspace: self.workspaces[org][ws],
                    user: self.users[user],
                };
                run(self, Actor::System, remove);
            }
            Op::RequestApprove { org, ws, user } => {
                let (org, workspace) = (self.orgs[org], self.workspaces[org][ws]);
                let request = RequestAccess {
                    id: Uuid::now_v7(),
                    org,
                    workspace,
                    message: None,
                };
                if let Some(request) = run(self, Actor::User(self.users[user]), request) {
                    let approve = ApproveAccessRequest {
                        org,
                        workspace,
                        request: request.id,
                        role: WorkspaceRole::Viewer,
                    };
                    run(self, Actor::System, approve);
                }
            }
            Op::Register { org, ws, actor } => {
                let register: RegisterResource =
                    serde_json::from_value(serde_json::json!({"type": "Flow"})).unwrap();
                let register = RegisterResource {
                    org: self.orgs[org],
                    workspace: self.workspaces[org][ws],
                    ..register
                };
                if let Some(resource) = run(self, actor_of(self, actor), register) {
                    self.resources.push(resource.id);
                }
            }
            Op::Move {
                resource,
                org,
                ws,
                actor,
            } => {
                if let Some(resource) = self.resource(resource) {
                    let workspace = self.workspaces[org][ws];
                    let target = ResourceRef::of(&resource);
                    run(
                        self,
                        actor_of(self, actor),
                        MoveResource {
                            target,
                            workspace,
                            folder: None,
                        },
                    );
                }
            }
            Op::DeleteResource { resource } => {
                if let Some(resource) = self.resource(resource) {
                    run(
                        self,
                        Actor::System,
                        DeleteResource {
                            target: ResourceRef::of(&resource),
                        },
                    );
                }
            }
            Op::DeleteWorkspace { org, ws } => {
                let delete = DeleteWorkspace {
                    org: self.orgs[org],
                    workspace: self.workspaces[org][ws],
                };
                run(self, Actor::System, delete);
            }
        }
    }

    fn resource(&self, index: usize) -> Option<Resource> {
        let id = *self.resources.get(index)?;
        self.app.store.resource(id).unwrap()
    }

    fn assert_invariants(&self) {
        let problems = consistency::check(&self.app.store).unwrap();
        assert!(problems.is_empty(), "inconsistent store: {problems:#?}");
        for &org in &self.orgs {
            let record = self.app.store.org(org).unwrap().unwrap();
            assert!(record.admin_count >= 1, "org {org} lost its last admin");
        }
        self.assert_no_cross_org_allow();
    }

    /// A user who is no member of an org is denied everything on the org,
    /// its workspaces and its resources.
    fn assert_no_cross_org_allow(&self) {
        for &user in &self.users {
            for (o, &org) in self.orgs.iter().enumerate() {
                if self.app.store.membership(org, user).unwrap().is_some() {
                    continue;
                }
                let mut targets = vec![(
                    EntityRef::new("Org", org),
                    ["ViewOrg", "InviteMember", "ChangeRole"],
                )];
                for &ws in &self.workspaces[o] {
                    targets.push((
                        EntityRef::new("Workspace", ws),
                        ["ViewWorkspace", "CreateResource", "ManageWorkspaceMembers"],
                    ));
                }
                let page = self
                    .app
                    .store
                    .page_ids(&keys::workspaces_of_org(org), None, 500)
                    .unwrap();
                for ws in page.items {
                    let resources = self
                        .app
                        .store
                        .page_ids(&keys::resources_of_workspace(ws), None, 500)
                        .unwrap();
                    for id in resources.items {
                        targets.push((
                            EntityRef::new("Flow", id),
                            ["ViewResource", "MoveResource", "DeleteResource"],
                        ));
                    }
                }
                for (resource, actions) in targets {
                    for action in actions {
                        let request = CheckRequest {
                            principal: EntityRef::new("User", user),
                            action: EntityRef::new("Action", action),
                            resource: resource.clone(),
                            context: Default::default(),
                            entities: Vec::new(),
                        };
                        let decision = self.app.check(&request).unwrap();
                        assert!(
                            !decision.allowed(),
                            "{user} outside org {org} may {action} on {resource:?}"
                        );
                    }
                }
            }
        }
    }

    /// Every user's checks on every org, workspace and resource, answered
    /// through the entity cache (which holds what earlier ops' checks
    /// built), equal those built from the store now.
    fn assert_cached_checks_are_fresh(&self, after: &Op) {
        let mut targets: Vec<(EntityRef, [&str; 2])> = Vec::new();
        for (o, &org) in self.orgs.iter().enumerate() {
            targets.push((EntityRef::new("Org", org), ["ViewOrg", "UpdateOrg"]));
            for &ws in &self.workspaces[o] {
                targets.push((
                    EntityRef::new("Workspace", ws),
                    ["ViewWorkspace", "ManageWorkspaceMembers"],
                ));
            }
        }
        for &id in &self.resources {
            targets.push((
                EntityRef::new("Flow", id),
                ["RunResource", "DeleteResource"],
            ));
        }
        let snapshot = self.app.policies.current();
        for &user in &self.users {
            for (resource, actions) in &targets {
                for action in actions {
                    let request = CheckRequest {
                        principal: EntityRef::new("User", user),
                        action: EntityRef::new("Action", *action),
                        resource: resource.clone(),
                        context: Default::default(),
                        entities: Vec::new(),
                    };
                    let cached = self.app.check(&request).unwrap();
                    let fresh =
                        warden::authz::authorize(&self.app.store, &snapshot, &request, None)
                            .unwrap();
                    assert_eq!(cached, fresh, "after {after:?}: {request:?}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn lifecycle_commands_keep_the_invariants(ops in prop::collection::vec(op(), 1..40)) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
            let problems = consistency::check(&world.app.store).unwrap();
            prop_assert!(problems.is_empty(), "after {op:?}: {problems:#?}");
            world.assert_cached_checks_are_fresh(op);
        }
        world.assert_invariants();
    }
}
