//! `RemoveWorkspaceMember`: removes a member from a workspace (they stay in
//! the org). Needs `ManageWorkspaceMembers` on the workspace.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::require_workspace_member;
use crate::authz::EntityRef;
use crate::command::org::remove_workspace_member;
use crate::command::{ApplyContext, Command};
use crate::store::{Tx, TxResult, WorkspaceMember};

/// Removes a member from a workspace (they stay in the org).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveWorkspaceMember {
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// The workspace the member leaves.
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    /// The member removed.
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
