//! `RequestAccess`: a member asks, as the acting user, to join a workspace
//! they can see. Needs a user actor and `RequestAccess` on the workspace;
//! one open request per user and workspace.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::workspace::require_workspace;
use crate::command::{acting_user, ApplyContext, Command};
use crate::error::{Error, Result};
use crate::fields;
use crate::policy::PolicySnapshot;
use crate::store::{keys, AccessRequest, AccessRequestState, Tx, TxResult};

/// Asks for access to a workspace, as the acting user.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestAccess {
    /// The new request's id (generated when a body is read).
    #[serde(default = "Uuid::now_v7", skip_deserializing)]
    pub id: Uuid,
    /// The workspace's org, looked up by the caller (see `App::workspace`).
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// The workspace the acting user asks to join.
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
