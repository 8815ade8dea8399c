//! `DenyAccessRequest`: denies an open access request. Needs
//! `ManageWorkspaceMembers` on the workspace (by the default policies: its
//! admins, or the org's Admins).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::decide;
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::store::{AccessRequest, Tx, TxResult};

/// Denies an open access request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyAccessRequest {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) workspace: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) request: Uuid,
}

impl Command for DenyAccessRequest {
    const ACTION: &'static str = "DenyAccessRequest";
    const POLICY_ACTION: &'static str = "ManageWorkspaceMembers";
    type Output = AccessRequest;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<AccessRequest> {
        decide(tx, self.workspace, self.request, ctx, None)
    }
}
