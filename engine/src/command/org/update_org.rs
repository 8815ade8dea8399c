//! `UpdateOrg`: changes the name, auto-join role or invitation mode of an
//! org (the tenant's settings, `UpdateOrg`) and its plan or seat limit (the
//! vendor's terms, `ManagePlan`). The actor needs the action of every field
//! sent.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::fields;
use crate::policy::PolicySnapshot;
use crate::store::{keys, InvitationMode, Org, OrgRole, Plan, Tx, TxResult};

/// The Cedar action that sets an org's plan and seat limit: the vendor's
/// terms, which no default policy grants to a tenant role.
pub const MANAGE_PLAN: &str = "ManagePlan";

/// Changes the name, auto-join role or invitation mode of an org (the
/// tenant's settings, `UpdateOrg`) and its plan or seat limit (the vendor's
/// terms, `ManagePlan`). The actor needs the action of every field sent: a
/// tenant Admin's body naming `plan` is refused whole, whatever else it
/// holds. Domains are claimed and proven instead (`command::domain`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) plan: Option<Plan>,
    /// Seats included in the plan; 0 means unlimited. Seats in use may
    /// exceed it (billing charges the difference).
    #[serde(default)]
    pub(crate) seat_limit: Option<u32>,
    /// Refused: domains are claimed and proven (`command::domain`); the
    /// field is read only to say so.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub(crate) verified_domains: Option<Value>,
    /// The role users who auto-join by a verified domain get (not admin).
    #[serde(default)]
    pub(crate) autojoin_role: Option<OrgRole>,
    /// Whether invitations admit at once (`on_invite`) or when accepted.
    #[serde(default)]
    pub(crate) invitation_mode: Option<InvitationMode>,
}

impl UpdateOrg {
    /// Whether the body changes the tenant's own settings.
    fn changes_settings(&self) -> bool {
        self.name.is_some()
            || self.verified_domains.is_some()
            || self.autojoin_role.is_some()
            || self.invitation_mode.is_some()
    }

    /// Whether the body changes the vendor's terms.
    fn changes_terms(&self) -> bool {
        self.plan.is_some() || self.seat_limit.is_some()
    }
}

impl Command for UpdateOrg {
    const ACTION: &'static str = "UpdateOrg";
    type Output = Org;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    /// `ManagePlan` for `plan` and `seat_limit`, `UpdateOrg` for the rest;
    /// both when the body holds both.
    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        if self.changes_terms() {
            let terms = "plan and seat_limit";
            let revision = app.require_vendor_term(actor, MANAGE_PLAN, self.resource(), terms)?;
            if !self.changes_settings() {
                return Ok(revision);
            }
        }
        app.require(actor, Self::ACTION, self.resource())
    }

    fn validate(&self, _app: &App) -> Result<()> {
        if self.verified_domains.is_some() {
            return Err(Error::invalid(
                "verified_domains",
                "domains are claimed with POST /v1/orgs/{id}/domains and verified by a DNS TXT record or by the vendor",
            ));
        }
        if !self.changes_settings() && !self.changes_terms() {
            return Err(Error::invalid(
                "body",
                "name, plan, seat_limit, autojoin_role or invitation_mode is needed",
            ));
        }
        if let Some(name) = &self.name {
            fields::name("name", name)?;
        }
        if let Some(role) = self.autojoin_role {
            fields::autojoin_role("autojoin_role", role)?;
        }
        Ok(())
    }

    fn apply(&self, tx: &Tx, _ctx: &ApplyContext) -> TxResult<Org> {
        let mut org: Org = tx.require(&keys::org(self.org), "org", self.org)?;
        if let Some(name) = &self.name {
            org.name = fields::name("name", name)?;
        }
        org.autojoin_role = self.autojoin_role.unwrap_or(org.autojoin_role);
        org.invitation_mode = self.invitation_mode.unwrap_or(org.invitation_mode);
        org.plan = self.plan.unwrap_or(org.plan);
        org.seat_limit = self.seat_limit.unwrap_or(org.seat_limit);
        tx.put(&keys::org(org.id), &org)?;
        Ok(org)
    }
}
