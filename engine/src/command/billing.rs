//! Credits, usage, billing settings and reversals: the ledger's commands.
//!
//! Who may: granting credits and reversing transactions move money and are
//! system-only (the vendor's billing runs them; no policy can grant them).
//! Billing settings need `ManageBilling` on the org and a run's own price
//! `PriceUsage` on the flow: the vendor's terms, which no default policy
//! grants to a tenant role (a deployment may delegate them by a policy).
//! Recording usage needs `RecordUsage` on the flow (by default: org members
//! who may run the workspace's flows, and admins); without `PriceUsage` the
//! run is priced by the `usage-pricing` hook.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{ApplyContext, Command};
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::ledger::{
    self, keys, AccountId, AccountKind, BillingSettings, CountedUsage, LedgerTransaction, NewGrant,
    NewSpend, PricedBy, UsageRecord, MAX_SEAT_PRICE_CENTS,
};
use crate::plugin::types::FlowRun;
use crate::plugin::types::MAX_CREDITS_PER_RUN;
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{self, Org, Resource, Tx, TxResult, Workspace};

/// The most credits one grant may add.
pub const MAX_CREDITS_PER_GRANT: u64 = 1_000_000_000_000;
/// The largest overage cap an org may have.
pub const MAX_OVERAGE_CAP_CREDITS: u64 = 1_000_000_000;
/// Billing periods last at least an hour and at most 400 days.
pub const MIN_BILLING_PERIOD: Duration = Duration::hours(1);
pub const MAX_BILLING_PERIOD: Duration = Duration::days(400);
/// The longest memo or reason.
pub const MAX_MEMO_BYTES: usize = 500;
/// How far ahead a grant's `expires_at` may be.
pub const MAX_CREDIT_LIFETIME: Duration = Duration::days(3660);

/// The Cedar action that names a run's credits instead of the usage-pricing
/// hook: a vendor's term (a tenant who chose its own price could drain the
/// org or under-report).
pub const PRICE_USAGE: &str = "PriceUsage";

/// Why credits were granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    Purchase,
    MonthlyAllowance,
    Promotional,
}

/// Grants credits to an org (system only).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCredits {
    #[serde(default = "Uuid::new_v4", skip_deserializing)]
    pub id: Uuid,
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub credits: u64,
    pub source: GrantSource,
    #[serde(default)]
    pub memo: String,
    /// When the credits left unspent expire (RFC 3339, in the future);
    /// none: they never do.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A posted grant.
#[derive(Debug, Serialize, Deserialize)]
pub struct Grant {
    pub id: Uuid,
    pub org: Uuid,
    pub credits: u64,
    pub source: GrantSource,
    pub memo: String,
    pub transaction: Uuid,
    pub balance_after: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

fn memo(field: &str, text: &str) -> Result<()> {
    if text.len() > MAX_MEMO_BYTES {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_MEMO_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl Command for GrantCredits {
    const ACTION: &'static str = "GrantCredits";
    type Output = Grant;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }
    fn system_only(&self) -> bool {
        true
    }

    fn validate(&self, _app: &App) -> Result<()> {
        if !(1..=MAX_CREDITS_PER_GRANT).contains(&self.credits) {
            return Err(Error::invalid(
                "credits",
                format!("must be 1 to {MAX_CREDITS_PER_GRANT}"),
            ));
        }
        if let Some(expires_at) = self.expires_at {
            let now = OffsetDateTime::now_utc();
            if !(now < expires_at && expires_at <= now + MAX_CREDIT_LIFETIME) {
                return Err(Error::invalid(
                    "expires_at",
                    format!("must be in the future, at most {MAX_CREDIT_LIFETIME} from now"),
                ));
            }
        }
        memo("memo", &self.memo)
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Grant> {
        tx.require::<Org>(&store::keys::org(self.org), "org", self.org)?;
        let period = ledger::current_period(tx, self.org, ctx.now)?;
        let credits = AccountId::org(self.org, AccountKind::OrgCredits);
        let posted = ledger::grant(
            tx,
            NewGrant {
                id: self.id,
                org: self.org,
                credits: self.credits,
                expires_at: self.expires_at,
                at: ctx.now,
                memo: json!({
                    "source": self.source,
                    "memo": self.memo,
                    "period_start": period.start.unix_timestamp(),
                }),
            },
        )?;
        ledger::count_grant(tx, self.org, period, self.credits)?;
        Ok(Grant {
            id: self.id,
            org: self.org,
            credits: self.credits,
            source: self.source,
            memo: self.memo.clone(),
            transaction: posted.transaction.id,
            balance_after: posted.balance(credits),
            period_start: period.start,
            expires_at: self.expires_at,
        })
    }
}

/// The usage-pricing plugin's price for a run posted without an amount.
#[derive(Debug, Serialize, Deserialize)]
pub struct PluginPrice {
    pub credits: u64,
    pub priced_by: PricedBy,
}

/// Records the credits a flow run used, debited from its org. The run id
/// is the natural idempotency key: posting it again answers the first
/// record and writes nothing.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordUsage {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub workspace: Uuid,
    pub flow: Uuid,
    pub run_id: Uuid,
    /// The run's price, for actors allowed `PriceUsage` (the vendor).
    /// Omitted: the usage-pricing plugin prices the run.
    #[serde(default)]
    pub credits: Option<u64>,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub steps: u32,
    /// Filled in by `consult` when `credits` is omitted.
    #[serde(default, skip_deserializing)]
    pub priced: Option<PluginPrice>,
}

impl RecordUsage {
    fn credits(&self) -> u64 {
        match (&self.credits, &self.priced) {
            (Some(credits), _) => *credits,
            (None, Some(price)) => price.credits,
            (None, None) => unreachable!("consult prices runs without credits"),
        }
    }

    fn run_key(&self) -> Vec<u8> {
        keys::usage_run(self.org, self.run_id)
    }

    /// The workspace must be the org's and the flow one of its flows; any
    /// other id is "not found", as an unknown one: the answer must not tell
    /// a tenant what another one holds.
    fn check_placement(&self, tx: &Tx) -> TxResult<()> {
        let workspace: Workspace = tx.require(
            &store::keys::workspace(self.workspace),
            "workspace",
            self.workspace,
        )?;
        if workspace.org != self.org {
            return Err(Error::not_found("workspace", self.workspace).into());
        }
        let flow: Resource = tx.require(&store::keys::resource(self.flow), "flow", self.flow)?;
        if flow.org != self.org || flow.kind != "Flow" || flow.workspace != self.workspace {
            return Err(Error::NotFound {
                what: "flow",
                id: format!("{} in workspace {}", self.flow, self.workspace),
            }
            .into());
        }
        Ok(())
    }

    /// Posts the run's cost (after expiring what is due: expired credits
    /// pay for nothing); returns the transaction (none for a free run) and
    /// the org's credit balance after it.
    fn post(&self, tx: &Tx, now: OffsetDateTime) -> TxResult<(Option<Uuid>, i64)> {
        if self.credits() == 0 {
            return Ok((None, ledger::balance(tx, self.org, now)?));
        }
        let posted = ledger::spend(
            tx,
            NewSpend {
                org: self.org,
                reference: self.run_id.to_string(),
                credits: self.credits(),
                at: now,
                memo: json!({"workspace": self.workspace, "flow": self.flow}),
            },
        )?;
        let credits = AccountId::org(self.org, AccountKind::OrgCredits);
        Ok((Some(posted.transaction.id), posted.balance(credits)))
    }
}

impl Command for RecordUsage {
    const ACTION: &'static str = "RecordUsage";
    type Output = UsageRecord;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Flow", self.flow)
    }
    fn org(&self) -> Uuid {
        self.org
    }

    /// Runs arriving together share a transaction, whatever their org:
    /// runs of one org all update its credit account and period counters,
    /// and every run updates the system account `credits spent`, so runs
    /// in concurrent transactions would conflict in sled and retry.
    fn batched(&self) -> bool {
        true
    }

    fn may_call_plugins(&self) -> bool {
        self.credits.is_none()
    }

    /// `RecordUsage` on the flow, and `PriceUsage` too when the body names
    /// the run's `credits`.
    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        let revision = app.require(actor, Self::ACTION, self.resource())?;
        if self.credits.is_none() {
            return Ok(revision);
        }
        app.require_vendor_term(actor, PRICE_USAGE, self.resource(), "the credits of a run")
    }

    fn validate(&self, _app: &App) -> Result<()> {
        if self.credits.is_some_and(|c| c > MAX_CREDITS_PER_RUN) {
            return Err(Error::invalid(
                "credits",
                format!("at most {MAX_CREDITS_PER_RUN} credits per run"),
            ));
        }
        Ok(())
    }

    /// Asks the usage-pricing hook for the price of a run posted without
    /// credits (not for a run already recorded: its answer stands).
    fn consult(&mut self, app: &App) -> Result<Vec<PluginAnswer<serde_json::Value>>> {
        if self.credits.is_some() || app.store.get::<UsageRecord>(&self.run_key())?.is_some() {
            return Ok(Vec::new());
        }
        let answer = app.plugins.price_run(&FlowRun {
            org_id: self.org,
            workspace_id: self.workspace,
            flow_id: self.flow,
            run_id: self.run_id,
            requested_credits: 0,
            duration_ms: self.duration_ms,
            steps: self.steps,
        })?;
        // The host guards bound every price; checked again where it is spent.
        assert!(
            answer.output.credits <= MAX_CREDITS_PER_RUN,
            "guarded price"
        );
        self.priced = Some(PluginPrice {
            credits: answer.output.credits,
            priced_by: PricedBy::from_answer(&answer, &answer.output.reason),
        });
        Ok(vec![answer.into_json()])
    }

    fn natural_key(&self) -> Option<Vec<u8>> {
        Some(self.run_key())
    }

    fn posted_by(&self, record: &UsageRecord, actor: Actor) -> bool {
        record.posted_by.as_deref() == Some(actor.to_string().as_str())
    }

    fn check_recorded(&self, record: &UsageRecord) -> Result<()> {
        let same = record.workspace == self.workspace
            && record.flow == self.flow
            && record.requested_credits == self.credits;
        if !same {
            return Err(Error::conflict(
                "run_already_recorded",
                format!(
                    "run {} was already recorded with other details (workspace {}, flow {}, credits {:?})",
                    self.run_id, record.workspace, record.flow, record.requested_credits
                ),
            ));
        }
        Ok(())
    }

    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<UsageRecord> {
        self.check_placement(tx)?;
        let period = ledger::current_period(tx, self.org, ctx.now)?;
        let (transaction, balance) = self.post(tx, ctx.now)?;
        let thresholds_crossed = ledger::count_usage(
            tx,
            &CountedUsage {
                org: self.org,
                workspace: self.workspace,
                run_id: self.run_id,
                credits: self.credits(),
                balance,
                period,
                at: ctx.now,
            },
        )?;
        let record = UsageRecord {
            org: self.org,
            workspace: self.workspace,
            flow: self.flow,
            run_id: self.run_id,
            requested_credits: self.credits,
            credits: self.credits(),
            priced_by: self.priced.as_ref().map(|p| p.priced_by.clone()),
            transaction,
            balance_after: balance,
            period_start: period.start,
            thresholds_crossed,
            at: ctx.now,
            posted_by: Some(ctx.actor.to_string()),
        };
        tx.put(&self.run_key(), &record)?;
        Ok(record)
    }
}

/// Sets an org's billing period, seat price and overage cap: the vendor's
/// terms (`ManageBilling`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBilling {
    #[serde(skip_deserializing)]
    pub org: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    pub seat_price_cents: u64,
    /// How far usage may take the credit balance below zero (paid plans only).
    #[serde(default)]
    pub overage_cap_credits: u64,
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

/// Posts the mirror image of a transaction (system only): the one way to
/// correct the ledger.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseTransaction {
    #[serde(skip_deserializing)]
    pub transaction: Uuid,
    /// The reversed transaction's org, looked up by the caller.
    #[serde(skip_deserializing)]
    pub org: Uuid,
    pub reason: String,
}

impl Command for ReverseTransaction {
    const ACTION: &'static str = "ReverseTransaction";
    type Output = LedgerTransaction;

    fn resource(&self) -> EntityRef {
        EntityRef::new("Org", self.org)
    }
    fn org(&self) -> Uuid {
        self.org
    }
    fn system_only(&self) -> bool {
        true
    }

    fn validate(&self, _app: &App) -> Result<()> {
        if self.reason.trim().is_empty() {
            return Err(Error::invalid("reason", "must not be empty"));
        }
        memo("reason", &self.reason)
    }

    /// Posts the reversal and takes the reversed run or grant out of its
    /// period's counters, so reports and low-balance signals agree.
    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<LedgerTransaction> {
        let memo = json!({"reason": self.reason});
        let posted = ledger::reverse(tx, self.transaction, ctx.now, memo)?;
        let original = tx.require(
            &keys::transaction(self.transaction),
            "transaction",
            self.transaction,
        )?;
        ledger::uncount(tx, &original)?;
        Ok(posted.transaction)
    }
}
