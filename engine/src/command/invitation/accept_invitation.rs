//! `AcceptInvitation`: accepts an invitation as the user it was sent to,
//! which makes them a member (the seat charged). Not a Cedar action: the
//! invitee is no member yet, so no policy can speak for them; holding the
//! invited email address is the permission.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{open_invitation, release_pending, InvitationRef};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::org::{admit_member, join_default_workspace};
use crate::command::seat_pricing::{self, SeatQuote};
use crate::command::{acting_user, ApplyContext, Command};
use crate::error::{Error, Result};
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{
    keys, Invitation, InvitationStatus, Membership, Org, Tx, TxResult, User, WorkspaceMember,
};

/// Accepts an invitation as the user it was sent to.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AcceptInvitation(
    pub InvitationRef,
    /// The seat-billing hook's price for the seat the invitee takes.
    #[serde(skip)]
    Option<SeatQuote>,
);

impl AcceptInvitation {
    /// Accepts `invitation` as the acting user, who must hold the invited
    /// email address; the seat is priced when the command runs.
    pub fn new(invitation: InvitationRef) -> AcceptInvitation {
        AcceptInvitation(invitation, None)
    }
}

/// What accepting an invitation created.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Accepted {
    pub(crate) invitation: Invitation,
    pub(crate) membership: Membership,
    /// The membership in the org's default workspace, if the role gives one.
    pub(crate) workspace_member: Option<WorkspaceMember>,
}

impl Command for AcceptInvitation {
    /// Not a Cedar action: the invitee is no member yet, so no policy can
    /// speak for them; holding the invited email address is the permission.
    const ACTION: &'static str = "AcceptInvitation";
    type Output = Accepted;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.0.org)
    }
    fn org(&self) -> Uuid {
        self.0.org
    }

    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        acting_user(app, actor, Self::ACTION)?;
        Ok(app.policies.current())
    }

    fn serial_key(&self) -> Option<String> {
        Some(seat_pricing::serial_key(self.0.org))
    }

    /// Prices the seat of the invited role; `apply` refuses an invitation
    /// that is no longer open, so a quote for one is never used.
    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<Value>>> {
        let key = keys::invitation(self.0.org, self.0.invitation);
        self.1 = match app.store.get::<Invitation>(&key)? {
            Some(invitation) => seat_pricing::quote(app, invitation.org, invitation.role)?,
            None => None,
        };
        Ok(seat_pricing::answers(&self.1))
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Accepted> {
        let Actor::User(user_id) = ctx.actor else {
            return Err(Error::forbidden("only the invited user may accept an invitation").into());
        };
        let mut invitation = open_invitation(tx, self.0.org, self.0.invitation, ctx.now)?;
        if invitation.status_at(ctx.now) == InvitationStatus::Expired {
            return Err(Error::gone(
                "invitation_expired",
                format!(
                    "invitation {} expired at {}; ask an Admin to resend it",
                    invitation.id, invitation.expires_at
                ),
            )
            .into());
        }
        let user: User = tx.require(&keys::user(user_id), "user", user_id)?;
        if user.email != invitation.email {
            return Err(Error::forbidden(format!(
                "invitation {} was sent to another email address than {}'s",
                invitation.id, user.email
            ))
            .into());
        }
        let mut org: Org = tx.require(&keys::org(invitation.org), "org", invitation.org)?;
        seat_pricing::charge(tx, &self.1, &org, user.id, invitation.role, ctx.now)?;
        let membership = admit_member(tx, &mut org, user.id, invitation.role, ctx)?;
        let workspace_member = join_default_workspace(tx, &org, user.id, invitation.role, ctx)?;
        tx.put(&keys::org(org.id), &org)?;
        release_pending(tx, &invitation)?;
        invitation.status = InvitationStatus::Accepted;
        invitation.accepted_by = Some(user.id);
        invitation.closed_at = Some(ctx.now);
        tx.put(
            &keys::invitation(invitation.org, invitation.id),
            &invitation,
        )?;
        Ok(Accepted {
            invitation,
            membership,
            workspace_member,
        })
    }
}
