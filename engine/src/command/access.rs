//! Access requests: a member asks to join a workspace they can see; its
//! admins (or the org's Admins) approve with a role or deny. One open
//! request per user and workspace.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::org::add_workspace_member;
use super::workspace::require_workspace;
use super::{acting_user, ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::fields;
use crate::policy::PolicySnapshot;
use crate::store::{keys, AccessRequest, AccessRequestState, Tx, TxResult, WorkspaceRole};

/// Asks for access to a workspace, as the acting user.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestAccess {
    #[serde(default = "Uuid::now_v7", skip_deserializing)]
    pub id: Uuid,
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    /// Why they ask, for the admins who decide.
    #[serde(default)]
    pub message: Option<String>,
}

impl Command for RequestAccess {
    const ACTION: &'static str = "RequestAccess";
    type Output = AccessRequest;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Workspace", self.workspace)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        match &self.message {
            Some(message) => fields::note("message", message).map(drop),
            None => Ok(()),
        }
    }

    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        acting_user(app, actor, Self::ACTION)?;
        app.require(actor, Self::ACTION, self.resource())
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<AccessRequest> {
        let Actor::User(user) = ctx.actor else {
            return Err(Error::forbidden("only a user may request access").into());
        };
        let workspace = require_workspace(tx, self.workspace)?;
        if tx.exists(&keys::workspace_member(workspace.id, user))? {
            return Err(Error::conflict(
                "already_member",
                format!(
                    "user {user} is already a member of workspace {}",
                    workspace.id
                ),
            )
            .into());
        }
        let open = keys::open_access_request(workspace.id, user);
        if let Some(id) = tx.get_raw(&open)? {
            let id = Uuid::from_slice(&id).map_err(|e| Error::Storage(e.to_string()))?;
            return Err(Error::conflict(
                "access_request_open",
                format!(
                    "user {user} already has open access request {id} for workspace {}",
                    workspace.id
                ),
            )
            .into());
        }
        let request = AccessRequest {
            id: self.id,
            org: workspace.org,
            workspace: workspace.id,
            user,
            message: self
                .message
                .as_deref()
                .map(|m| fields::note("message", m))
                .transpose()?,
            state: AccessRequestState::Open,
            role: None,
            decided_by: None,
            decided_at: None,
            created_at: ctx.now,
        };
        tx.put(&keys::access_request(workspace.id, request.id), &request)?;
        tx.put_raw(&open, request.id.as_bytes())?;
        Ok(request)
    }
}

/// Approves an open access request: the requester joins with `role`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveAccessRequest {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    #[serde(skip_deserializing)]
    pub request: Uuid,
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

/// Denies an open access request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyAccessRequest {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub workspace: Uuid,
    #[serde(skip_deserializing)]
    pub request: Uuid,
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

/// Closes an open request: approved with `role`, or denied without one.
fn decide(
    tx: &Tx,
    workspace: Uuid,
    id: Uuid,
    ctx: &ApplyContext,
    role: Option<WorkspaceRole>,
) -> TxResult<AccessRequest> {
    let key = keys::access_request(workspace, id);
    let mut request: AccessRequest = tx.require(&key, "access request", id)?;
    if request.state != AccessRequestState::Open {
        return Err(Error::conflict(
            "access_request_decided",
            format!("access request {id} was already {:?}", request.state).to_lowercase(),
        )
        .into());
    }
    request.state = if role.is_some() {
        AccessRequestState::Approved
    } else {
        AccessRequestState::Denied
    };
    request.role = role;
    request.decided_by = ctx.actor.user();
    request.decided_at = Some(ctx.now);
    tx.put(&key, &request)?;
    tx.remove(&keys::open_access_request(workspace, request.user))?;
    Ok(request)
}
