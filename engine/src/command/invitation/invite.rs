//! `Invite`: invites an email address to an org with a role; an Admin may,
//! by the default policies (it needs `InviteMember` on the org). An org
//! whose `invitation_mode` is `on_invite` admits the email at once instead
//! (its seat charged at the point of inviting).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Duration;
use uuid::Uuid;

use super::refuse_second_pending;
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::org::{admit_member, join_default_workspace};
use crate::command::seat_pricing::{self, SeatQuote};
use crate::command::user::insert_user;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::fields;
use crate::plugin::PluginAnswer;
use crate::store::CheckRecords;
use crate::store::{
    keys, Invitation, InvitationMode, InvitationStatus, Org, OrgRole, Tx, TxResult,
};

/// Invites an email address to an org with a role.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    #[serde(default = "Uuid::now_v7", skip_deserializing)]
    pub(crate) id: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    pub(crate) email: String,
    pub(crate) role: OrgRole,
    /// How long the invitation stays valid (the server's `invitation_ttl`).
    #[serde(skip)]
    pub(crate) ttl: Duration,
    /// The id a user created by an `on_invite` invitation gets.
    #[serde(default = "Uuid::now_v7", skip_deserializing)]
    pub(crate) new_user: Uuid,
    /// The org's invitation mode when the seat was priced.
    #[serde(skip)]
    mode: InvitationMode,
    /// The seat-billing hook's price for the seat an `on_invite`
    /// invitation takes.
    #[serde(skip)]
    seat: Option<SeatQuote>,
}

impl Invite {
    /// Invites `email` to `org` with `role`, valid for `ttl`; its ids (the
    /// invitation's, and a new user's in an `on_invite` org) are generated.
    pub fn new(org: Uuid, email: String, role: OrgRole, ttl: Duration) -> Invite {
        Invite {
            id: Uuid::now_v7(),
            org,
            email,
            role,
            ttl,
            new_user: Uuid::now_v7(),
            mode: InvitationMode::default(),
            seat: None,
        }
    }
}

impl Command for Invite {
    const ACTION: &'static str = "InviteMember";
    type Output = Invitation;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn validate(&self, _app: &App) -> Result<()> {
        fields::email("email", &self.email).map(drop)
    }

    fn serial_key(&self) -> Option<String> {
        Some(seat_pricing::serial_key(self.org))
    }

    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<Value>>> {
        let org = app
            .store
            .org(self.org)?
            .ok_or_else(|| Error::not_found("org", self.org))?;
        self.mode = org.invitation_mode;
        if self.mode == InvitationMode::OnInvite {
            self.seat = seat_pricing::quote(app, self.org, self.role)?;
        }
        Ok(seat_pricing::answers(&self.seat))
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Invitation> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        if org.invitation_mode != self.mode {
            return Err(Error::Stale(format!("org {} changed its invitation mode", org.id)).into());
        }
        let email = fields::email("email", &self.email)?;
        let existing = match tx.get_raw(&keys::user_by_email(&email))? {
            Some(raw) => Some(Uuid::from_slice(&raw).map_err(|e| Error::Storage(e.to_string()))?),
            None => None,
        };
        if let Some(user) = existing {
            if tx.exists(&keys::membership(org.id, user))? {
                return Err(Error::conflict(
                    "already_member",
                    format!("{email} is already a member of org {}", org.id),
                )
                .into());
            }
        }
        refuse_second_pending(tx, org.id, &email, self.id, ctx.now)?;
        let mut invitation = Invitation {
            id: self.id,
            org: org.id,
            email,
            role: self.role,
            status: InvitationStatus::Pending,
            invited_by: ctx.actor.user(),
            created_at: ctx.now,
            expires_at: ctx.now + self.ttl,
            accepted_by: None,
            closed_at: None,
        };
        match self.mode {
            InvitationMode::OnAccept => tx.put_raw(
                &keys::pending_invitation(org.id, &invitation.email),
                invitation.id.as_bytes(),
            )?,
            InvitationMode::OnInvite => {
                let user = match existing {
                    Some(user) => user,
                    None => insert_user(tx, self.new_user, invitation.email.clone(), ctx)?.id,
                };
                seat_pricing::charge(tx, &self.seat, &org, user, self.role, ctx.now)?;
                admit_member(tx, &mut org, user, self.role, ctx)?;
                join_default_workspace(tx, &org, user, self.role, ctx)?;
                tx.put(&keys::org(org.id), &org)?;
                invitation.status = InvitationStatus::Accepted;
                invitation.accepted_by = Some(user);
                invitation.closed_at = Some(ctx.now);
            }
        }
        tx.put(&keys::invitation(org.id, invitation.id), &invitation)?;
        Ok(invitation)
    }
}
