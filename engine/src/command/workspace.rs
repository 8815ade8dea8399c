//! Workspaces and their members: create, rename, delete, add, change, remove.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::org::{add_workspace_member, remove_workspace_member};
use super::{ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::fields;
use crate::store::{
    keys, AccessRequest, Org, Tx, TxResult, Workspace, WorkspaceMember, WorkspaceRole,
};

/// Creates a workspace in an org; an acting user becomes its admin.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub id: Uuid,
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub name: String,
}

impl Command for CreateWorkspace {
    const ACTION: &'static str = "CreateWorkspace";
    type Output = Workspace;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::name("name", &self.name).map(drop)
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Workspace> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        let workspace = Workspace {
            id: self.id,
            org: org.id,
            name: fields::name("name", &self.name)?,
            created_at: ctx.now,
        };
        tx.put(&keys::workspace(workspace.id), &workspace)?;
        tx.put(&keys::org_workspace(org.id, workspace.id), &())?;
        org.workspace_count += 1;
        org.default_workspace.get_or_insert(workspace.id);
        tx.put(&keys::org(org.id), &org)?;
        if let Actor::User(creator) = ctx.actor {
            add_workspace_member(tx, workspace.id, creator, WorkspaceRole::Admin, ctx)?;
        }
        Ok(workspace)
    }
}

/// Adds a member of the org to one of its workspaces, named by user id or
/// by email.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWorkspaceMember {
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    /// The member's user id; or else `email`.
    #[serde(default)]
    pub user: Option<Uuid>,
    /// The email of a member of the workspace's org.
    #[serde(default)]
    pub email: Option<String>,
    pub role: WorkspaceRole,
}

impl AddWorkspaceMember {
    /// The user the body names, by id or by (normalised) email.
    fn user(&self, tx: &Tx) -> TxResult<Uuid> {
        match (&self.user, &self.email) {
            (Some(user), None) => Ok(*user),
            (None, Some(email)) => {
                let email = fields::email("email", email)?;
                match tx.get_raw(&keys::user_by_email(&email))? {
                    Some(raw) => {
                        Ok(Uuid::from_slice(&raw).map_err(|e| Error::Storage(e.to_string()))?)
                    }
                    None => Err(not_org_member(&email, self.org).into()),
                }
            }
            _ => {
                Err(Error::invalid("user", "name the member by user or by email, not both").into())
            }
        }
    }
}

fn not_org_member(who: &str, org: Uuid) -> Error {
    Error::conflict(
        "not_org_member",
        format!("{who} is not a member of the workspace's org {org}"),
    )
}

impl Command for AddWorkspaceMember {
    const ACTION: &'static str = "ManageWorkspaceMembers";
    type Output = WorkspaceMember;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        match (&self.user, &self.email) {
            (Some(_), None) => Ok(()),
            (None, Some(email)) => fields::email("email", email).map(drop),
            (None, None) => Err(Error::invalid(
                "user",
                "name the member: user (an id) or email",
            )),
            (Some(_), Some(_)) => Err(Error::invalid(
                "email",
                "name the member by user or by email, not both",
            )),
        }
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<WorkspaceMember> {
        let workspace = require_workspace(tx, self.workspace)?;
        let user = self.user(tx)?;
        if !tx.exists(&keys::membership(workspace.org, user))? {
            return Err(not_org_member(&format!("user {user}"), workspace.org).into());
        }
        add_workspace_member(tx, workspace.id, user, self.role, ctx)
    }
}

/// Renames a workspace.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameWorkspace {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    pub name: String,
}

impl Command for RenameWorkspace {
    const ACTION: &'static str = "UpdateWorkspace";
    type Output = Workspace;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::name("name", &self.name).map(drop)
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Workspace> {
        let mut workspace = require_workspace(tx, self.workspace)?;
        workspace.name = fields::name("name", &self.name)?;
        tx.put(&keys::workspace(workspace.id), &workspace)?;
        Ok(workspace)
    }
}

/// Deletes an empty workspace that is not its org's default, with its
/// memberships and access requests.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteWorkspace {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
}

impl Command for DeleteWorkspace {
    const ACTION: &'static str = "DeleteWorkspace";
    type Output = Workspace;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }
    fn scans(&self) -> Vec<Vec<u8>> {
        vec![
            keys::resources_of_workspace(self.workspace),
            keys::members_of_workspace(self.workspace),
            keys::access_requests_of_workspace(self.workspace),
        ]
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Workspace> {
        let workspace = require_workspace(tx, self.workspace)?;
        let mut org: Org = tx.require(&keys::org(workspace.org), "org", workspace.org)?;
        if org.default_workspace == Some(workspace.id) {
            return Err(Error::conflict(
                "default_workspace",
                format!("workspace {} is the default workspace of its org; make another one the default first", workspace.id),
            )
            .into());
        }
        let resources = tx.committed_children(&keys::resources_of_workspace(workspace.id))?;
        if !resources.is_empty() {
            return Err(Error::conflict(
                "workspace_not_empty",
                format!(
                    "workspace {} still holds {} resources; move or delete them first",
                    workspace.id,
                    resources.len()
                ),
            )
            .into());
        }
        for user in tx.committed_children(&keys::members_of_workspace(workspace.id))? {
            remove_workspace_member(tx, workspace.id, user)?;
        }
        for request in tx.committed_children(&keys::access_requests_of_workspace(workspace.id))? {
            let key = keys::access_request(workspace.id, request);
            if let Some(request) = tx.get::<AccessRequest>(&key)? {
                tx.remove(&keys::open_access_request(workspace.id, request.user))?;
            }
            tx.remove(&key)?;
        }
        tx.remove(&keys::workspace(workspace.id))?;
        tx.remove(&keys::org_workspace(org.id, workspace.id))?;
        org.workspace_count = org.workspace_count.saturating_sub(1);
        tx.put(&keys::org(org.id), &org)?;
        Ok(workspace)
    }
}

/// Changes a workspace member's role.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeWorkspaceRole {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    #[serde(skip_deserializing)]
    pub user: Uuid,
    pub role: WorkspaceRole,
}

impl Command for ChangeWorkspaceRole {
    const ACTION: &'static str = "ChangeWorkspaceRole";
    const POLICY_ACTION: &'static str = "ManageWorkspaceMembers";
    type Output = WorkspaceMember;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<WorkspaceMember> {
        let mut member = require_workspace_member(tx, self.workspace, self.user)?;
        member.role = self.role;
        tx.put(&keys::workspace_member(self.workspace, self.user), &member)?;
        Ok(member)
    }
}

/// Removes a member from a workspace (they stay in the org).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveWorkspaceMember {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    #[serde(skip_deserializing)]
    pub user: Uuid,
}

impl Command for RemoveWorkspaceMember {
    const ACTION: &'static str = "RemoveWorkspaceMember";
    const POLICY_ACTION: &'static str = "ManageWorkspaceMembers";
    type Output = WorkspaceMember;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<WorkspaceMember> {
        let member = require_workspace_member(tx, self.workspace, self.user)?;
        remove_workspace_member(tx, self.workspace, self.user)?;
        Ok(member)
    }
}

pub(super) fn require_workspace(tx: &Tx, id: Uuid) -> TxResult<Workspace> {
    tx.require(&keys::workspace(id), "workspace", id)
}

fn require_workspace_member(tx: &Tx, workspace: Uuid, user: Uuid) -> TxResult<WorkspaceMember> {
    tx.get(&keys::workspace_member(workspace, user))?
        .ok_or_else(|| {
            Error::not_found(
                "workspace member",
                format!("{user} of workspace {workspace}"),
            )
            .into()
        })
}
