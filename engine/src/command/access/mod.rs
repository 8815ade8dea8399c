//! Access requests: a member asks to join a workspace they can see; its
//! admins (or the org's Admins) approve with a role or deny. One open
//! request per user and workspace.
//!
//! One file per command; closing a request, which approving and denying
//! share, is here.

mod approve_access_request;
mod deny_access_request;
mod request_access;

use uuid::Uuid;

use crate::command::ApplyContext;
use crate::error::Error;
use crate::store::{keys, AccessRequest, AccessRequestState, Tx, TxResult, WorkspaceRole};

pub use approve_access_request::ApproveAccessRequest;
pub use deny_access_request::DenyAccessRequest;
pub use request_access::RequestAccess;

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
