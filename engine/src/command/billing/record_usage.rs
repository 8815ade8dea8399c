//! `RecordUsage`: records the credits a flow run used, debited from its
//! org. Needs `RecordUsage` on the flow (by default: org members who may
//! run the workspace's flows, and admins); a body naming the run's credits
//! needs `PriceUsage` too (a vendor's term), else the `usage-pricing` hook
//! prices the run. The run id is the natural idempotency key.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::{ApplyContext, Command};
use crate::error::{Error, Result};
use crate::ledger::{
    self, keys, AccountId, AccountKind, CountedUsage, NewSpend, PricedBy, UsageRecord,
};
use crate::plugin::types::FlowRun;
use crate::plugin::types::MAX_CREDITS_PER_RUN;
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{self, Resource, Tx, TxResult, Workspace};

/// The Cedar action that names a run's credits instead of the usage-pricing
/// hook: a vendor's term (a tenant who chose its own price could drain the
/// org or under-report).
pub const PRICE_USAGE: &str = "PriceUsage";

/// The usage-pricing plugin's price for a run posted without an amount.
#[derive(Debug, Serialize, Deserialize)]
pub struct PluginPrice {
    pub(crate) credits: u64,
    pub(crate) priced_by: PricedBy,
}

/// Records the credits a flow run used, debited from its org. The run id
/// is the natural idempotency key: posting it again answers the first
/// record and writes nothing.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordUsage {
    #[serde(skip_deserializing)]
    pub(crate) org: Uuid,
    pub(crate) workspace: Uuid,
    pub(crate) flow: Uuid,
    pub(crate) run_id: Uuid,
    /// The run's price, for actors allowed `PriceUsage` (the vendor).
    /// Omitted: the usage-pricing plugin prices the run.
    #[serde(default)]
    pub(crate) credits: Option<u64>,
    #[serde(default)]
    pub(crate) duration_ms: u64,
    #[serde(default)]
    pub(crate) steps: u32,
    /// Filled in by `consult` when `credits` is omitted.
    #[serde(default, skip_deserializing)]
    pub(crate) priced: Option<PluginPrice>,
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
