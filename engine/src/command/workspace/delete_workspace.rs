//! `DeleteWorkspace`: deletes an empty workspace that is not its org's
//! default, with its memberships and access requests. Needs
//! `DeleteWorkspace` on the workspace.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::require_workspace;
use crate::authz::EntityRef;
use crate::command::org::{decrement, remove_workspace_member};
use crate::command::{ApplyContext, Command};
use crate::error::Error;
use crate::store::{keys, AccessRequest, Org, Tx, TxResult, Workspace};

/// Deletes an empty workspace that is not its org's default, with its
/// memberships and access requests.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteWorkspace {
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// The workspace deleted.
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
        org.workspace_count = decrement(org.workspace_count, 1, "workspace_count", org.id)?;
        tx.put(&keys::org(org.id), &org)?;
        Ok(workspace)
    }
}
