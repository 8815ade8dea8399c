//! `RevokeInvitation`: withdraws an invitation that was not accepted yet.
//! Needs `InviteMember` on the org.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{open_invitation, release_pending, InvitationRef};
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::store::{keys, Invitation, InvitationStatus, Tx, TxResult};

/// Withdraws an invitation that was not accepted yet.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RevokeInvitation(pub InvitationRef);

impl Command for RevokeInvitation {
    const ACTION: &'static str = "RevokeInvitation";
    const POLICY_ACTION: &'static str = "InviteMember";
    type Output = Invitation;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.0.org)
    }
    fn org(&self) -> Uuid {
        self.0.org
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Invitation> {
        let mut invitation = open_invitation(tx, self.0.org, self.0.invitation, ctx.now)?;
        release_pending(tx, &invitation)?;
        invitation.status = InvitationStatus::Revoked;
        invitation.closed_at = Some(ctx.now);
        tx.put(
            &keys::invitation(invitation.org, invitation.id),
            &invitation,
        )?;
        Ok(invitation)
    }
}
