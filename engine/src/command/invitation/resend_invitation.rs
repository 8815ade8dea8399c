//! `ResendInvitation`: sends an invitation again: pending (or expired)
//! again, with a new expiry. Needs `InviteMember` on the org.

use serde::{Deserialize, Serialize};
use time::Duration;
use uuid::Uuid;

use super::{open_invitation, refuse_second_pending};
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::store::{keys, Invitation, InvitationStatus, Tx, TxResult};

/// Sends an invitation again: pending (or expired) again, with a new expiry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendInvitation {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) invitation: Uuid,
    #[serde(skip)]
    pub(crate) ttl: Duration,
}

impl Command for ResendInvitation {
    const ACTION: &'static str = "ResendInvitation";
    const POLICY_ACTION: &'static str = "InviteMember";
    type Output = Invitation;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Invitation> {
        let mut invitation = open_invitation(tx, self.org, self.invitation, ctx.now)?;
        refuse_second_pending(
            tx,
            invitation.org,
            &invitation.email,
            invitation.id,
            ctx.now,
        )?;
        invitation.status = InvitationStatus::Pending;
        invitation.expires_at = ctx.now + self.ttl;
        tx.put(
            &keys::invitation(invitation.org, invitation.id),
            &invitation,
        )?;
        tx.put_raw(
            &keys::pending_invitation(invitation.org, &invitation.email),
            invitation.id.as_bytes(),
        )?;
        Ok(invitation)
    }
}
