//! Memberships, shared by the org's commands and the other ways in
//! (invitations, sign-up, workspaces, access requests): admitting a member
//! to an org, reading one, and writing or removing workspace memberships.

use uuid::Uuid;

use super::counters::hold_role;
use crate::command::ApplyContext;
use crate::error::Error;
use crate::store::{
    keys, Membership, MembershipStatus, Org, OrgRole, Tx, TxResult, WorkspaceMember, WorkspaceRole,
};

/// Makes `user` a member of `org` with `role`: the membership, its index and
/// the org's counters, inside the caller's transaction; the caller writes
/// `org` back. Every way into an org goes through here (creating it with an
/// admin, adding a member, an invitation, auto-join), so this is where a
/// change that follows a new member (such as a seat charge) belongs; each
/// of them then puts the member in the default workspace by
/// [`default_workspace_role`].
pub fn admit_member(
    tx: &Tx,
    org: &mut Org,
    user: Uuid,
    role: OrgRole,
    ctx: &ApplyContext,
) -> TxResult<Membership> {
    let key = keys::membership(org.id, user);
    if tx.exists(&key)? {
        return Err(Error::conflict(
            "already_member",
            format!("user {user} is already a member of org {}", org.id),
        )
        .into());
    }
    let membership = Membership {
        org: org.id,
        user,
        role,
        status: MembershipStatus::Active,
        created_at: ctx.now,
    };
    tx.put(&key, &membership)?;
    tx.put(&keys::user_org(user, org.id), &())?;
    hold_role(org, role);
    Ok(membership)
}

/// Reads a member of an org, or 404.
pub(super) fn require_member(tx: &Tx, org: Uuid, user: Uuid) -> TxResult<Membership> {
    tx.get(&keys::membership(org, user))?
        .ok_or_else(|| Error::not_found("member", format!("{user} of org {org}")).into())
}

/// Writes a new workspace membership and its index.
pub(in crate::command) fn add_workspace_member(
    tx: &Tx,
    workspace: Uuid,
    user: Uuid,
    role: WorkspaceRole,
    ctx: &ApplyContext,
) -> TxResult<WorkspaceMember> {
    let key = keys::workspace_member(workspace, user);
    if tx.exists(&key)? {
        return Err(Error::conflict(
            "already_member",
            format!("user {user} is already a member of workspace {workspace}"),
        )
        .into());
    }
    let member = WorkspaceMember {
        workspace,
        user,
        role,
        created_at: ctx.now,
    };
    tx.put(&key, &member)?;
    tx.put(&keys::user_workspace(user, workspace), &())?;
    Ok(member)
}

/// Removes a workspace membership and its index.
pub(in crate::command) fn remove_workspace_member(
    tx: &Tx,
    workspace: Uuid,
    user: Uuid,
) -> TxResult<()> {
    tx.remove(&keys::workspace_member(workspace, user))?;
    tx.remove(&keys::user_workspace(user, workspace))
}

/// The workspace role a new org member gets in the org's default
/// workspace, whichever way they joined (created the org, added, invited,
/// auto-joined): Admins administer it, Members edit, Internal Guests view;
/// External Guests see only what is shared with them and join no workspace.
pub fn default_workspace_role(role: OrgRole) -> Option<WorkspaceRole> {
    match role {
        OrgRole::Admin => Some(WorkspaceRole::Admin),
        OrgRole::Member => Some(WorkspaceRole::Editor),
        OrgRole::GuestInternal => Some(WorkspaceRole::Viewer),
        OrgRole::GuestExternal => None,
    }
}

/// Puts a new member of `org` into its default workspace with the role
/// [`default_workspace_role`] gives; nothing when there is none.
pub fn join_default_workspace(
    tx: &Tx,
    org: &Org,
    user: Uuid,
    role: OrgRole,
    ctx: &ApplyContext,
) -> TxResult<Option<WorkspaceMember>> {
    match (org.default_workspace, default_workspace_role(role)) {
        (Some(workspace), Some(role)) => {
            add_workspace_member(tx, workspace, user, role, ctx).map(Some)
        }
        _ => Ok(None),
    }
}
