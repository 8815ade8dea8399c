//! Creating workspaces and adding their members.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::org::add_workspace_member;
use super::{fields, ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::store::{keys, Org, Tx, TxResult, Workspace, WorkspaceMember, WorkspaceRole};

/// Creates a workspace in an org; an acting user becomes its admin.
#[derive(Debug, Serialize, Deserialize)]
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

/// Adds a member of the org to one of its workspaces.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddWorkspaceMember {
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    pub user: Uuid,
    pub role: WorkspaceRole,
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

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<WorkspaceMember> {
        let workspace: Workspace = tx.require(
            &keys::workspace(self.workspace),
            "workspace",
            self.workspace,
        )?;
        if !tx.exists(&keys::membership(workspace.org, self.user))? {
            return Err(Error::conflict(
                "not_org_member",
                format!(
                    "user {} is not a member of the workspace's org {}",
                    self.user, workspace.org
                ),
            )
            .into());
        }
        add_workspace_member(tx, workspace.id, self.user, self.role, ctx)
    }
}
