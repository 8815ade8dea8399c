//! `ChangeWorkspaceRole`: changes a workspace member's role. Needs
//! `ManageWorkspaceMembers` on the workspace.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::require_workspace_member;
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::store::{keys, Tx, TxResult, WorkspaceMember, WorkspaceRole};

/// Changes a workspace member's role.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeWorkspaceRole {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) workspace: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) user: Uuid,
    pub(crate) role: WorkspaceRole,
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
