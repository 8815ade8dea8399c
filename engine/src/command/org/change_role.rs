//! `ChangeRole`: promotes or demotes a member to any of the four org roles.
//! Needs `ChangeRole` on the org; never takes the org's last Admin. An
//! External Guest who becomes a seat-taking role is charged the seat.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::counters::{hold_role, release_role};
use super::members::require_member;
use crate::app::App;
use crate::authz::EntityRef;
use crate::command::seat_pricing::{self, SeatQuote};
use crate::command::{ApplyContext, Command};
use crate::error::Result;
use crate::plugin::PluginAnswer;
use crate::store::CheckRecords;
use crate::store::{keys, Membership, Org, OrgRole, Tx, TxResult};

/// Promotes or demotes a member to any of the four org roles.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(skip_deserializing)]
    pub(crate) user: Uuid,
    pub(crate) role: OrgRole,
    /// The price of the seat an External Guest takes by becoming anything else.
    #[serde(skip)]
    seat: Option<SeatQuote>,
}

impl ChangeRole {
    /// Gives `user`, a member of `org`, the role `role`.
    pub fn new(org: Uuid, user: Uuid, role: OrgRole) -> ChangeRole {
        ChangeRole {
            org,
            user,
            role,
            seat: None,
        }
    }
}

impl Command for ChangeRole {
    const ACTION: &'static str = "ChangeRole";
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

    /// Prices the seat an External Guest takes by becoming a seat-taking role.
    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<Value>>> {
        let taken = app
            .store
            .membership(self.org, self.user)?
            .is_some_and(|m| !m.role.takes_seat());
        self.seat = if taken {
            seat_pricing::quote(app, self.org, self.role)?
        } else {
            None
        };
        Ok(seat_pricing::answers(&self.seat))
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Membership> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        let mut membership = require_member(tx, org.id, self.user)?;
        if membership.role == self.role {
            return Ok(membership);
        }
        if !membership.role.takes_seat() {
            seat_pricing::charge(tx, &self.seat, &org, self.user, self.role, ctx.now)?;
        }
        release_role(&mut org, membership.role, self.user)?;
        hold_role(&mut org, self.role);
        membership.role = self.role;
        tx.put(&keys::membership(org.id, self.user), &membership)?;
        tx.put(&keys::org(org.id), &org)?;
        Ok(membership)
    }
}
