//! Invitations: an Admin (by the default policies) invites an email address
//! with a role; the invitation expires, can be revoked or resent, and the
//! user with that address accepts it once, which makes them a member. An
//! org whose `invitation_mode` is `on_invite` admits the email at once
//! instead (its seat charged at the point of inviting).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use serde_json::Value;

use super::org::{admit_member, join_default_workspace};
use super::seat_pricing::{self, SeatQuote};
use super::user::insert_user;
use super::{acting_user, ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::fields;
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{
    keys, Invitation, InvitationMode, InvitationStatus, Membership, Org, OrgRole, Tx, TxResult,
    User, WorkspaceMember,
};

/// How long an invitation stays valid unless `invitation_ttl` says otherwise.
pub const DEFAULT_INVITATION_TTL: Duration = Duration::days(7);

/// Invites an email address to an org with a role.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    #[serde(default = "Uuid::now_v7", skip_deserializing)]
    pub id: Uuid,
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub email: String,
    pub role: OrgRole,
    /// How long the invitation stays valid (the server's `invitation_ttl`).
    #[serde(skip)]
    pub ttl: Duration,
    /// The id a user created by an `on_invite` invitation gets.
    #[serde(default = "Uuid::now_v7", skip_deserializing)]
    pub new_user: Uuid,
    /// The org's invitation mode when the seat was priced.
    #[serde(skip)]
    mode: InvitationMode,
    /// The seat-billing hook's price for the seat an `on_invite`
    /// invitation takes.
    #[serde(skip)]
    seat: Option<SeatQuote>,
}

impl Invite {
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

/// Which invitation an org-scoped invitation command is about.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationRef {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub invitation: Uuid,
}

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

/// Sends an invitation again: pending (or expired) again, with a new expiry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendInvitation {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(skip_deserializing)]
    pub invitation: Uuid,
    #[serde(skip)]
    pub ttl: Duration,
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
    pub fn new(invitation: InvitationRef) -> AcceptInvitation {
        AcceptInvitation(invitation, None)
    }
}

/// What accepting an invitation created.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Accepted {
    pub invitation: Invitation,
    pub membership: Membership,
    /// The membership in the org's default workspace, if the role gives one.
    pub workspace_member: Option<WorkspaceMember>,
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
        .is_some_and(|id| id.as_ref() == invitation.id.as_bytes())
    {
        tx.remove(&key)?;
    }
    Ok(())
}
