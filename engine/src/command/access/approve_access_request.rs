//! `ApproveAccessRequest`: approves an open access request; the requester
//! joins the workspace with `role`. Needs `ManageWorkspaceMembers` on the
//! workspace (by the default policies: its admins, or the org's Admins).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::decide;
use crate::authz::EntityRef;
use crate::command::org::add_workspace_member;
use crate::command::{ApplyContext, Command};
use crate::error::Error;
use crate::store::{keys, AccessRequest, Tx, TxResult, WorkspaceRole};

/// Approves an open access request: the requester joins with `role`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveAccessRequest {
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// The workspace the request is for.
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    /// The access request approved.
    #[serde(skip_deserializing)]
    pub request: Uuid,
    /// The role the requester gets in the workspace.
    pub role: WorkspaceRole,
}

impl Command for ApproveAccessRequest {
    const ACTION: &'static str = "ApproveAccessRequest";
    const POLICY_ACTION: &'static str = "ManageWorkspaceMembers";
    type Output = AccessRequest;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<AccessRequest> {
        let request = decide(tx, self.workspace, self.request, ctx, Some(self.role))?;
        if !tx.exists(&keys::membership(request.org, request.user))? {
            return Err(Error::conflict(
                "not_org_member",
                format!(
                    "user {} is no longer a member of org {}",
                    request.user, request.org
                ),
            )
            .into());
        }
        add_workspace_member(tx, request.workspace, request.user, self.role, ctx)?;
        Ok(request)
    }
}
