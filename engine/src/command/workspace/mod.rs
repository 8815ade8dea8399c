//! Workspaces and their members: create, rename, delete, add, change, remove.
//!
//! One file per command; the readers they share are here. Workspace
//! memberships are written by `org::add_workspace_member` and removed by
//! `org::remove_workspace_member`, which the org's commands use too.

mod add_workspace_member;
mod change_workspace_role;
mod create_workspace;
mod delete_workspace;
mod remove_workspace_member;
mod rename_workspace;

use uuid::Uuid;

use crate::error::Error;
use crate::store::{keys, Tx, TxResult, Workspace, WorkspaceMember};

pub use add_workspace_member::AddWorkspaceMember;
pub use change_workspace_role::ChangeWorkspaceRole;
pub use create_workspace::CreateWorkspace;
pub use delete_workspace::DeleteWorkspace;
pub use remove_workspace_member::RemoveWorkspaceMember;
pub use rename_workspace::RenameWorkspace;

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
