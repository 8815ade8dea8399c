//! `SetBilling`: sets an org's billing period, seat price and overage cap.
//! Needs `ManageBilling` on the org: the vendor's terms, which no default
//! policy grants to a tenant role (a deployment may delegate them by a
//! policy).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::ledger::{self, BillingSettings, MAX_SEAT_PRICE_CENTS};
use crate::policy::PolicySnapshot;
use crate::store::{self, Org, Tx, TxResult};

/// The largest overage cap an org may have.
pub const MAX_OVERAGE_CAP_CREDITS: u64 = 1_000_000_000;
/// Billing periods last at least an hour and at most 400 days.
pub const MIN_BILLING_PERIOD: Duration = Duration::hours(1);
pub const MAX_BILLING_PERIOD: Duration = Duration::days(400);

/// Sets an org's billing period, seat price and overage cap: the vendor's
/// terms (`ManageBilling`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBilling {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) period_end: OffsetDateTime,
    pub(crate) seat_price_cents: u64,
    /// How far usage may take the credit balance below zero (paid plans only).
    #[serde(default)]
    pub(crate) overage_cap_credits: u64,
}

impl Command for SetBilling {
    const ACTION: &'static str = "ManageBilling";
    type Output = BillingSettings;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        let terms = "the billing period, seat price and overage cap";
        app.require_vendor_term(actor, Self::ACTION, self.resource(), terms)
    }

    fn validate(&self, _app: &App) -> Result<()> {
        ledger::supported_time("period_start", self.period_start)?;
        ledger::supported_time("period_end", self.period_end)?;
        let length = self.period_end - self.period_start;
        if !(MIN_BILLING_PERIOD..=MAX_BILLING_PERIOD).contains(&length) {
            return Err(Error::invalid(
                "period_end",
                format!(
                    "the period must last {MIN_BILLING_PERIOD} to {MAX_BILLING_PERIOD} after period_start"
                ),
            ));
        }
        if self.seat_price_cents > MAX_SEAT_PRICE_CENTS {
            return Err(Error::invalid(
                "seat_price_cents",
                format!("at most {MAX_SEAT_PRICE_CENTS}"),
            ));
        }
        if self.overage_cap_credits > MAX_OVERAGE_CAP_CREDITS {
            return Err(Error::invalid(
                "overage_cap_credits",
                format!("at most {MAX_OVERAGE_CAP_CREDITS}"),
            ));
        }
        Ok(())
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<BillingSettings> {
        let org: Org = tx.require(&store::keys::org(self.org), "org", self.org)?;
        if self.overage_cap_credits > 0 && org.plan == store::Plan::Free {
            return Err(Error::conflict(
                "overage_needs_paid_plan",
                "the free plan allows no overage: overage_cap_credits must be 0",
            )
            .into());
        }
        let settings = BillingSettings {
            org: self.org,
            period_start: self.period_start,
            period_end: self.period_end,
            seat_price_cents: self.seat_price_cents,
            overage_cap_credits: self.overage_cap_credits,
            updated_at: ctx.now,
        };
        ledger::set_billing(tx, &settings)?;
        Ok(settings)
    }
}
