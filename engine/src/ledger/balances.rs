//! Billing periods, the per-period counters kept with every posting (the
//! allowance, usage by workspace, low-balance thresholds) and the reports
//! read from them. Every report is a point read or a bounded prefix scan of
//! one org and period: nothing scans the ledger.

use serde::Serialize;
use time::{Duration, Month, OffsetDateTime, Time};
use uuid::Uuid;

use super::model::{
    Account, AccountId, AccountKind, BalanceEvent, BillingSettings, LedgerTransaction, OpenLot,
    Period, PeriodSummary, TransactionKind, UsageRecord, WorkspaceUsage,
};
use super::{accounts, keys, lots};
use crate::error::{Error, Result};
use crate::store::{Page, Store, Tx, TxResult};

/// The years the ledger accepts in the times callers send (a billing
/// period's bounds, a report's date), as written. Periods last at most 400
/// days, so every period and report computed from them stays far inside
/// `time`'s own range (year ±9999), where its arithmetic would panic.
pub const EARLIEST_YEAR: i32 = 1970;
/// The last year the ledger accepts (see [`EARLIEST_YEAR`]).
pub const LATEST_YEAR: i32 = 8999;
/// The same rule as a pattern over an RFC 3339 time, for the API document.
pub const SUPPORTED_TIME_PATTERN: &str = "^(19[7-9][0-9]|[2-8][0-9]{3})-";

/// `at` in UTC, if it is written in a year from [`EARLIEST_YEAR`] to
/// [`LATEST_YEAR`]; else a 400 naming `field`.
pub fn supported_time(field: &str, at: OffsetDateTime) -> Result<OffsetDateTime> {
    if (EARLIEST_YEAR..=LATEST_YEAR).contains(&at.year()) {
        Ok(at.to_offset(time::UtcOffset::UTC))
    } else {
        Err(Error::invalid(
            field,
            format!("must be a time in the years {EARLIEST_YEAR} to {LATEST_YEAR}"),
        ))
    }
}

/// Low-balance signals: the share of the period's allowance used, in percent.
pub const LOW_BALANCE_THRESHOLDS_PERCENT: [u8; 2] = [75, 90];

/// The period containing `now`: the org's billing period rolled forward or
/// back by whole period lengths, or the calendar month (UTC) without one.
pub fn period_at(settings: Option<&BillingSettings>, now: OffsetDateTime) -> Period {
    let Some(settings) = settings else {
        return calendar_month(now);
    };
    let length = settings.period_end - settings.period_start;
    assert!(
        length.is_positive(),
        "billing periods have a positive length"
    );
    let length_s = length.whole_seconds();
    let periods = (now - settings.period_start)
        .whole_seconds()
        .div_euclid(length_s);
    let start = settings.period_start + Duration::seconds(periods * length_s);
    Period {
        start,
        end: start + length,
    }
}

fn calendar_month(now: OffsetDateTime) -> Period {
    let now = now.to_offset(time::UtcOffset::UTC);
    let start = now
        .replace_day(1)
        .expect("day 1 exists")
        .replace_time(Time::MIDNIGHT);
    let (year, month) = match now.month() {
        Month::December => (now.year() + 1, Month::January),
        month => (now.year(), month.next()),
    };
    let end = start
        .replace_year(year)
        .and_then(|t| t.replace_month(month))
        .expect("the first of a month exists in every year");
    Period { start, end }
}

/// The org's billing settings, if set.
pub fn billing_settings(tx: &Tx, org: Uuid) -> TxResult<Option<BillingSettings>> {
    tx.get(&keys::billing(org))
}

/// The org's current period (see [`period_at`]).
pub fn current_period(tx: &Tx, org: Uuid, now: OffsetDateTime) -> TxResult<Period> {
    Ok(period_at(billing_settings(tx, org)?.as_ref(), now))
}

fn summary(tx: &Tx, org: Uuid, period: Period) -> TxResult<PeriodSummary> {
    Ok(tx
        .get(&keys::period(org, period.start))?
        .unwrap_or_default())
}

fn add(total: u64, amount: u64, what: &str) -> Result<u64> {
    total.checked_add(amount).ok_or_else(|| {
        Error::conflict(
            "ledger_overflow",
            format!("the period's {what} would overflow"),
        )
    })
}

/// Counts a grant into the period's allowance.
pub fn count_grant(tx: &Tx, org: Uuid, period: Period, credits: u64) -> TxResult<()> {
    let mut summary = summary(tx, org, period)?;
    summary.allowance_credits = add(summary.allowance_credits, credits, "allowance")?;
    tx.put(&keys::period(org, period.start), &summary)
}

/// A run's usage, to be counted into its period.
pub struct CountedUsage {
    pub org: Uuid,
    pub workspace: Uuid,
    pub run_id: Uuid,
    pub credits: u64,
    pub balance: i64,
    pub period: Period,
    pub at: OffsetDateTime,
}

/// Counts a run into its period and workspace totals and records an event
/// for every low-balance threshold it crossed; returns those thresholds.
pub fn count_usage(tx: &Tx, usage: &CountedUsage) -> TxResult<Vec<u8>> {
    let (org, period) = (usage.org, usage.period);
    let mut summary = summary(tx, org, period)?;
    summary.used_credits = add(summary.used_credits, usage.credits, "usage")?;
    summary.runs = add(summary.runs, 1, "run count")?;
    let crossed = crossed_thresholds(&summary);
    for &threshold in &crossed {
        let event = BalanceEvent {
            id: Uuid::now_v7(),
            at: usage.at,
            org,
            threshold_percent: threshold,
            used_credits: summary.used_credits,
            allowance_credits: summary.allowance_credits,
            period_start: period.start,
            run_id: usage.run_id,
            balance: usage.balance,
        };
        tx.put(&keys::event(org, event.id), &event)?;
    }
    summary.thresholds_crossed.extend(&crossed);
    tx.put(&keys::period(org, period.start), &summary)?;

    let key = keys::workspace_usage(org, period.start, usage.workspace);
    let mut workspace = tx.get(&key)?.unwrap_or(WorkspaceUsage {
        workspace: usage.workspace,
        credits: 0,
        runs: 0,
    });
    workspace.credits = add(workspace.credits, usage.credits, "workspace usage")?;
    workspace.runs = add(workspace.runs, 1, "workspace run count")?;
    tx.put(&key, &workspace)?;
    Ok(crossed)
}

/// Takes a reversed run or grant out of the counters of its period: a
/// run's credits and count out of the period's and its workspace's usage
/// (thresholds it no longer reaches may signal again), a grant's credits
/// out of the allowance. Events already recorded stay: they happened.
pub fn uncount(tx: &Tx, reversed: &LedgerTransaction) -> TxResult<()> {
    let org = reversed.org;
    match reversed.kind {
        TransactionKind::Usage => {
            let run = reversed
                .reference
                .parse()
                .map_err(|_| bad_reference(reversed))?;
            let record: UsageRecord = tx.require(&keys::usage_run(org, run), "usage run", run)?;
            let key = keys::period(org, record.period_start);
            let mut summary: PeriodSummary = tx.get(&key)?.unwrap_or_default();
            summary.used_credits = sub(summary.used_credits, record.credits)?;
            summary.runs = sub(summary.runs, 1)?;
            let still_reached = reached(&summary);
            summary
                .thresholds_crossed
                .retain(|t| still_reached.contains(t));
            tx.put(&key, &summary)?;
            let key = keys::workspace_usage(org, record.period_start, record.workspace);
            let mut workspace: WorkspaceUsage =
                tx.require(&key, "workspace usage", record.workspace)?;
            workspace.credits = sub(workspace.credits, record.credits)?;
            workspace.runs = sub(workspace.runs, 1)?;
            tx.put(&key, &workspace)
        }
        TransactionKind::Grant => {
            // Grants record their period's start; older ones did not.
            let Some(start) = reversed.memo["period_start"].as_i64() else {
                return Ok(());
            };
            let start =
                OffsetDateTime::from_unix_timestamp(start).map_err(|_| bad_reference(reversed))?;
            let key = keys::period(org, start);
            let mut summary: PeriodSummary = tx.get(&key)?.unwrap_or_default();
            let granted = reversed.postings[0].amount;
            summary.allowance_credits = sub(summary.allowance_credits, granted)?;
            tx.put(&key, &summary)
        }
        _ => Ok(()),
    }
}

fn sub(total: u64, amount: u64) -> Result<u64> {
    total.checked_sub(amount).ok_or_else(|| {
        Error::Internal(format!(
            "a period counter of {total} would go below zero by {amount}"
        ))
    })
}

fn bad_reference(t: &LedgerTransaction) -> Error {
    Error::Internal(format!(
        "transaction {} has a malformed reference or memo",
        t.id
    ))
}

/// Thresholds the summary's usage has reached (signalled or not). An org
/// with no allowance in the period (credits carried over) reaches none.
fn reached(summary: &PeriodSummary) -> Vec<u8> {
    let used = u128::from(summary.used_credits) * 100;
    let allowance = u128::from(summary.allowance_credits);
    LOW_BALANCE_THRESHOLDS_PERCENT
        .into_iter()
        .filter(|t| allowance > 0 && used >= allowance * u128::from(*t))
        .collect()
}

/// Thresholds the summary has reached but not yet signalled.
fn crossed_thresholds(summary: &PeriodSummary) -> Vec<u8> {
    reached(summary)
        .into_iter()
        .filter(|t| !summary.thresholds_crossed.contains(t))
        .collect()
}

/// An org's credit balance and its current period.
#[derive(Debug, Serialize)]
pub struct BalanceReport {
    pub org: Uuid,
    /// Spendable credits left (negative while in overage): the account's
    /// balance less credits whose expiry has passed but which the next
    /// write has yet to post as expired.
    pub credits: i64,
    /// Credits in `credits` that expire, soonest first (the rest never do).
    pub expiring: Vec<OpenLot>,
    pub overage_cap_credits: u64,
    pub account: Account,
    pub period: Period,
    pub summary: PeriodSummary,
}

/// Usage of one period: the org's totals and one page of its workspaces.
#[derive(Debug, Serialize)]
pub struct UsageReport {
    pub period: Period,
    pub summary: PeriodSummary,
    pub workspaces: Page<WorkspaceUsage>,
}

/// Read side: every report takes the store and a few point reads.
pub struct Reports<'a> {
    pub store: &'a Store,
    pub org: Uuid,
}

impl Reports<'_> {
    pub fn settings(&self) -> Result<Option<BillingSettings>> {
        self.store.get(&keys::billing(self.org))
    }

    pub fn period_at(&self, at: OffsetDateTime) -> Result<Period> {
        Ok(period_at(self.settings()?.as_ref(), at))
    }

    fn summary(&self, period: Period) -> Result<PeriodSummary> {
        Ok(self
            .store
            .get(&keys::period(self.org, period.start))?
            .unwrap_or_default())
    }

    pub fn balance(&self, now: OffsetDateTime) -> Result<BalanceReport> {
        let id = AccountId::org(self.org, AccountKind::OrgCredits);
        let account = self
            .store
            .get(&keys::account(id))?
            .unwrap_or_else(|| Account::open(id));
        let period = self.period_at(now)?;
        let open: lots::OpenLots = self
            .store
            .get(&keys::open_lots(self.org))?
            .unwrap_or_default();
        let due = lots::due(&open.lots, now);
        Ok(BalanceReport {
            org: self.org,
            credits: i64::try_from(account.balance() - i128::from(due))
                .map_err(|_| Error::Storage("credit balance outside i64".into()))?,
            expiring: open
                .lots
                .into_iter()
                .filter(|l| l.expires_at > now)
                .collect(),
            overage_cap_credits: account.overdraft_limit,
            account,
            summary: self.summary(period)?,
            period,
        })
    }

    pub fn usage(
        &self,
        at: OffsetDateTime,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<UsageReport> {
        let period = self.period_at(at)?;
        let prefix = keys::workspace_usage_of(self.org, period.start);
        Ok(UsageReport {
            summary: self.summary(period)?,
            workspaces: self.store.page(&prefix, after, limit)?,
            period,
        })
    }
}

/// Sets the org's billing settings and its credit account's overage cap;
/// refuses a cap below the overage already used.
pub fn set_billing(tx: &Tx, settings: &BillingSettings) -> TxResult<()> {
    let id = AccountId::org(settings.org, AccountKind::OrgCredits);
    let mut account = accounts::account(tx, id)?;
    account.overdraft_limit = settings.overage_cap_credits;
    if !account.within_floor() {
        return Err(Error::conflict(
            "overage_in_use",
            format!(
                "the org's balance is {} credits: the overage cap cannot go below {}",
                account.balance(),
                -account.balance()
            ),
        )
        .into());
    }
    tx.put(&keys::account(id), &account)?;
    tx.put(&keys::billing(settings.org), settings)
}
