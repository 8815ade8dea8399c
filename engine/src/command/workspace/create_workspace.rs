//! `CreateWorkspace`: creates a workspace in an org; an acting user becomes
//! its admin. Needs `CreateWorkspace` on the org.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::org::add_workspace_member;
use crate::command::{ApplyContext, Command};
use crate::error::Result;
use crate::fields;
use crate::store::{keys, Org, Tx, TxResult, Workspace, WorkspaceRole};

/// Creates a workspace in an org; an acting user becomes its admin.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    /// The new workspace's id (generated when a body is read).
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub id: Uuid,
    /// The org it is created in.
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// Its name, stored trimmed: 1 to
    /// [`MAX_NAME_CHARS`](crate::fields::MAX_NAME_CHARS) characters, no control
    /// characters.
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
