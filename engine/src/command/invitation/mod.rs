//! Invitations: an Admin (by the default policies) invites an email address
//! with a role; the invitation expires, can be revoked or resent, and the
//! user with that address accepts it once, which makes them a member. An
//! org whose `invitation_mode` is `on_invite` admits the email at once
//! instead (its seat charged at the point of inviting).
//!
//! One file per command; what several of them read or write is here.

mod accept_invitation;
mod invite;
mod resend_invitation;
mod revoke_invitation;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::Error;
use crate::store::{keys, Invitation, InvitationStatus, Tx, TxResult};

pub use accept_invitation::{AcceptInvitation, Accepted};
pub use invite::Invite;
pub use resend_invitation::ResendInvitation;
pub use revoke_invitation::RevokeInvitation;

/// How long an invitation stays valid unless `invitation_ttl` says otherwise.
pub const DEFAULT_INVITATION_TTL: Duration = Duration::days(7);

/// Which invitation an org-scoped invitation command is about.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationRef {
    /// The org the invitation is to.
    #[serde(skip_deserializing)]
    pub org: Uuid,
    /// The invitation's id.
    #[serde(skip_deserializing)]
    pub invitation: Uuid,
}

/// Reads an invitation that is still pending or merely expired: an
/// accepted one is 409, a revoked one 410.
fn open_invitation(tx: &Tx, org: Uuid, id: Uuid, now: OffsetDateTime) -> TxResult<Invitation> {
    let invitation: Invitation = tx.require(&keys::invitation(org, id), "invitation", id)?;
    match invitation.status_at(now) {
        InvitationStatus::Accepted => Err(Error::conflict(
            "invitation_accepted",
            format!("invitation {} was already accepted", invitation.id),
        )
        .into()),
        InvitationStatus::Revoked => Err(Error::gone(
            "invitation_revoked",
            format!("invitation {} was revoked", invitation.id),
        )
        .into()),
        InvitationStatus::Pending | InvitationStatus::Expired => Ok(invitation),
    }
}

/// Refuses a second pending invitation for the same address (409), unless
/// the pending one is `id` itself or has expired.
fn refuse_second_pending(
    tx: &Tx,
    org: Uuid,
    email: &str,
    id: Uuid,
    now: OffsetDateTime,
) -> TxResult<()> {
    let Some(raw) = tx.get_raw(&keys::pending_invitation(org, email))? else {
        return Ok(());
    };
    let pending = Uuid::from_slice(&raw).map_err(|e| Error::Storage(e.to_string()))?;
    let other: Option<Invitation> = tx.get(&keys::invitation(org, pending))?;
    match other {
        Some(other) if other.id != id && other.status_at(now) == InvitationStatus::Pending => {
            Err(Error::conflict(
                "invitation_pending",
                format!(
                    "{email} already has pending invitation {} (resend or revoke it)",
                    other.id
                ),
            )
            .into())
        }
        _ => Ok(()),
    }
}

/// Drops the pending-invitation index entry if it names this invitation.
fn release_pending(tx: &Tx, invitation: &Invitation) -> TxResult<()> {
    let key = keys::pending_invitation(invitation.org, &invitation.email);
    if tx
        .get_raw(&key)?
        .is_some_and(|id| id.as_slice() == invitation.id.as_bytes())
    {
        tx.remove(&key)?;
    }
    Ok(())
}
