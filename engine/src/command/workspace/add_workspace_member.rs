//! `AddWorkspaceMember`: adds a member of the org to one of its workspaces,
//! named by user id or by email. Needs `ManageWorkspaceMembers` on the
//! workspace.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::require_workspace;
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::org::add_workspace_member;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::fields;
use crate::store::{keys, Tx, TxResult, WorkspaceMember, WorkspaceRole};

/// Adds a member of the org to one of its workspaces, named by user id or
/// by email.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWorkspaceMember {
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// The workspace the member joins.
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    /// The member's user id; or else `email`.
    #[serde(default)]
    pub user: Option<Uuid>,
    /// The email of a member of the workspace's org.
    #[serde(default)]
    pub email: Option<String>,
    /// Their role in the workspace.
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
