//! `AddMember`: adds an existing user to an org with a role (what accepting
//! an invitation does; only Admins may, by the default policies: it needs
//! `InviteMember` on the org). The seat is priced by the seat-billing hook.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::members::{admit_member, join_default_workspace};
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::seat_pricing::{self, SeatQuote};
use crate::command::{ApplyContext, Command};
use crate::error::Result;
use crate::plugin::PluginAnswer;
use crate::store::{keys, Membership, Org, OrgRole, Tx, TxResult, User};

/// Adds an existing user to an org with a role (what accepting an
/// invitation does; only Admins may, by the default policies).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The org the user joins.
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub(crate) user: Uuid,
    pub(crate) role: OrgRole,
    /// The seat-billing hook's price for the new seat.
    #[serde(skip)]
    seat: Option<SeatQuote>,
}

impl AddMember {
    /// Adds `user` to `org` with `role`; the seat is priced when the command
    /// runs.
    pub fn new(org: Uuid, user: Uuid, role: OrgRole) -> AddMember {
        AddMember {
            org,
            user,
            role,
            seat: None,
        }
    }
}

impl Command for AddMember {
    const ACTION: &'static str = "InviteMember";
    type Output = Membership;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn serial_key(&self) -> Option<String> {
        Some(seat_pricing::serial_key(self.org))
    }

    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<Value>>> {
        self.seat = seat_pricing::quote(app, self.org, self.role)?;
        Ok(seat_pricing::answers(&self.seat))
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Membership> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        tx.require::<User>(&keys::user(self.user), "user", self.user)?;
        seat_pricing::charge(tx, &self.seat, &org, self.user, self.role, ctx.now)?;
        let membership = admit_member(tx, &mut org, self.user, self.role, ctx)?;
        join_default_workspace(tx, &org, self.user, self.role, ctx)?;
        tx.put(&keys::org(org.id), &org)?;
        Ok(membership)
    }
}
