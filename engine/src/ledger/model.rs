//! The ledger's records. Amounts are integers of one unit (credits or
//! cents); an account's balance is derived from its posted debits and
//! credits, both u64 and only ever added to.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What an account counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Credits: what orgs are granted and flow runs spend.
    Credits,
    /// Cents of the vendor's currency: seat charges and revenue.
    Cents,
}

/// The accounts there are: two per org, three for the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// An org's spendable credits: credited by grants, debited by usage.
    OrgCredits,
    /// What an org owes for seats: debited by seat charges.
    OrgSeatsReceivable,
    /// System: the source of every granted credit (debited by grants).
    CreditsIssued,
    /// System: credits spent on runs (credited by usage).
    CreditsSpent,
    /// System: seat revenue (credited by seat charges).
    Revenue,
    /// System: granted credits that expired unspent (credited by expiries).
    CreditsExpired,
}

impl AccountKind {
    /// The key byte; stable on disk.
    pub fn tag(self) -> u8 {
        match self {
            AccountKind::OrgCredits => 1,
            AccountKind::OrgSeatsReceivable => 2,
            AccountKind::CreditsIssued => 3,
            AccountKind::CreditsSpent => 4,
            AccountKind::Revenue => 5,
            AccountKind::CreditsExpired => 6,
        }
    }

    /// What the account counts: cents for seats and revenue, else credits.
    pub(crate) fn unit(self) -> Unit {
        match self {
            AccountKind::OrgSeatsReceivable | AccountKind::Revenue => Unit::Cents,
            _ => Unit::Credits,
        }
    }

    /// TigerBeetle-style balance flags: which side may never outgrow the other.
    pub fn flags(self) -> AccountFlags {
        let credit_normal = matches!(
            self,
            AccountKind::OrgCredits
                | AccountKind::CreditsSpent
                | AccountKind::Revenue
                | AccountKind::CreditsExpired
        );
        AccountFlags {
            debits_must_not_exceed_credits: credit_normal,
            credits_must_not_exceed_debits: !credit_normal,
        }
    }

    /// Whether it is one of the system's accounts rather than an org's.
    pub(crate) fn is_system(self) -> bool {
        !matches!(
            self,
            AccountKind::OrgCredits | AccountKind::OrgSeatsReceivable
        )
    }
}

/// An account: the org that owns it (nil for system accounts) and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId {
    /// The org that owns it; the nil uuid for a system account.
    pub owner: Uuid,
    /// Which of its owner's accounts it is.
    pub kind: AccountKind,
}

impl AccountId {
    /// `org`'s account of `kind`; panics for a system kind.
    pub(crate) fn org(org: Uuid, kind: AccountKind) -> AccountId {
        assert!(!kind.is_system(), "{kind:?} is a system account");
        AccountId { owner: org, kind }
    }

    /// The system's account of `kind`; panics for an org kind.
    pub(crate) fn system(kind: AccountKind) -> AccountId {
        assert!(kind.is_system(), "{kind:?} is an org account");
        AccountId {
            owner: Uuid::nil(),
            kind,
        }
    }
}

/// Which side of an account may not outgrow the other; exactly one is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFlags {
    /// Debits may exceed credits by at most the account's `overdraft_limit`.
    pub debits_must_not_exceed_credits: bool,
    /// Credits may never exceed debits: the balance stays at or below zero.
    pub credits_must_not_exceed_debits: bool,
}

/// An account and its running totals, updated by every posting to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Which account it is.
    pub id: AccountId,
    /// What its amounts count (its kind's unit).
    pub unit: Unit,
    /// Its balance rule (its kind's flags).
    pub flags: AccountFlags,
    /// How far debits may exceed credits (an org's overage cap, in credits).
    pub overdraft_limit: u64,
    /// The sum of the debits posted to it, in `unit`.
    pub debits_posted: u64,
    /// The sum of the credits posted to it, in `unit`.
    pub credits_posted: u64,
    /// Entries written for this account, so verify can count them.
    pub entries: u64,
}

impl Account {
    /// The account `id` with nothing posted and no overdraft allowed.
    pub(crate) fn open(id: AccountId) -> Account {
        Account {
            id,
            unit: id.kind.unit(),
            flags: id.kind.flags(),
            overdraft_limit: 0,
            debits_posted: 0,
            credits_posted: 0,
            entries: 0,
        }
    }

    /// Credits minus debits (negative for debit-normal accounts).
    pub fn balance(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }

    /// Whether the balance respects the account's flags.
    pub fn within_floor(&self) -> bool {
        let debits_ok = !self.flags.debits_must_not_exceed_credits
            || self.balance() >= -i128::from(self.overdraft_limit);
        let credits_ok = !self.flags.credits_must_not_exceed_debits || self.balance() <= 0;
        debits_ok && credits_ok
    }
}

/// The side of an account a posting counts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Counted in the account's `debits_posted`.
    Debit,
    /// Counted in the account's `credits_posted`.
    Credit,
}

impl Side {
    /// The other side: a reversal posts every amount on it.
    pub(crate) fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

/// One line of a transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Posting {
    /// The account it moves.
    pub account: AccountId,
    /// The account's unit.
    pub unit: Unit,
    /// The side of the account it counts on.
    pub side: Side,
    /// How much, in `unit`; never 0.
    pub amount: u64,
}

/// What a transaction records (see the money flows of [`crate::ledger`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// Credits granted to an org.
    Grant,
    /// The credits of a flow run.
    Usage,
    /// A member's seat for one billing period, in cents.
    SeatCharge,
    /// Undoes another transaction: its postings with the sides swapped.
    Reversal,
    /// An expiring grant's unspent remainder leaving the org's credits.
    Expiry,
}

/// A balanced set of postings, written once and never changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerTransaction {
    /// A uuid v7 of when it was posted.
    pub id: Uuid,
    /// Its place in the ledger's commit order: 1, 2, … across the whole
    /// ledger, taken inside its store transaction, so it holds when the
    /// clock steps back. `None` in transactions posted before sequences
    /// existed: they all precede the numbered ones, and `verify` orders
    /// them among themselves by id (their wall-clock time, as it did then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// When it was posted.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The org it concerns (its accounts are among the postings).
    pub org: Uuid,
    /// What it records.
    pub kind: TransactionKind,
    /// Unique per kind: the grant id, run id, `period/user` of a seat
    /// charge, or the reversed transaction's id.
    pub reference: String,
    /// The transaction a reversal undoes; none for the other kinds.
    pub reverses: Option<Uuid>,
    /// Its postings: in each unit, debits equal credits.
    pub postings: Vec<Posting>,
    /// How it changed the org's expiring credit lots (see [`CreditLot`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots: Vec<LotPosting>,
    /// What it is for (workspace and flow of a run, source of a grant…).
    pub memo: serde_json::Value,
}

/// A change to an expiring lot's spendable remainder, carried by the
/// transaction that made it: a credit opens or refills the lot (a grant, a
/// reversed run), a debit takes from it (a run, an expiry, a reversed grant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotPosting {
    /// The lot (its grant's id).
    pub lot: Uuid,
    /// Credit: the remainder grows; debit: it shrinks.
    pub side: Side,
    /// Credits moved.
    pub amount: u64,
}

/// The credits of one grant made with `expires_at`. They are part of the
/// org's credit balance until spent (runs spend the soonest-expiring lot
/// first, credits that never expire last) or until `expires_at`, when the
/// unspent remainder is posted to `credits expired`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditLot {
    /// The grant's id (its transaction's reference).
    pub id: Uuid,
    /// The org it was granted to.
    pub org: Uuid,
    /// Credits the grant gave.
    pub granted: u64,
    /// When its unspent credits expire.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Spendable credits left in the lot.
    pub remaining: u64,
    /// Credits that expired unspent.
    pub expired: u64,
    /// Expiry transactions posted for it (a reversed run can refill an
    /// expired lot, which then expires again); they are referenced `lot/n`.
    pub expiries: u32,
    /// The grant was reversed: the lot is closed for good, and credits a
    /// reversed run returns to it go to the org's non-expiring credits.
    pub reversed: bool,
}

/// One open lot in an org's index of open lots, soonest expiry first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenLot {
    /// The lot (its grant's id).
    pub lot: Uuid,
    /// When its unspent credits expire.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Spendable credits left in it.
    pub remaining: u64,
}

/// One posting as seen from its account, newest first in listings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The transaction that posted it.
    pub transaction: Uuid,
    /// When that transaction was posted.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// That transaction's kind.
    pub kind: TransactionKind,
    /// That transaction's reference.
    pub reference: String,
    /// The side of this account it counts on.
    pub side: Side,
    /// How much, in the account's unit.
    pub amount: u64,
    /// The account's credits minus debits after this entry.
    pub balance_after: i64,
}

/// An org's billing period and prices. Periods repeat with the same
/// length: the current one is the one of those that contains now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillingSettings {
    /// The org they are for.
    pub org: Uuid,
    /// The start of one period (any one: the others repeat before and
    /// after it).
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    /// The end of that period; `period_end - period_start` is every
    /// period's length.
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    /// The price of one seat for a whole period, in cents.
    pub seat_price_cents: u64,
    /// How far usage may take the credit balance below zero.
    pub overage_cap_credits: u64,
    /// When they were last set.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A billing period `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Its first instant.
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// The first instant after it: the next period's start.
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

/// One org's credits in one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodSummary {
    /// Credits granted in the period: the base of the low-balance thresholds.
    pub allowance_credits: u64,
    /// Credits the period's runs used.
    pub used_credits: u64,
    /// Runs recorded in the period.
    pub runs: u64,
    /// Thresholds (percent of the allowance) already signalled.
    pub thresholds_crossed: Vec<u8>,
}

/// One workspace's usage in one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceUsage {
    /// The workspace.
    pub workspace: Uuid,
    /// Credits its runs used in the period.
    pub credits: u64,
    /// Its runs recorded in the period.
    pub runs: u64,
}

/// A low-balance signal, written with the usage that crossed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BalanceEvent {
    /// A uuid v7, so an org's events list oldest first.
    pub id: Uuid,
    /// When the run that crossed the threshold was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The org whose credits ran low.
    pub org: Uuid,
    /// The threshold crossed, in percent of the period's allowance.
    pub threshold_percent: u8,
    /// The period's usage, that run included.
    pub used_credits: u64,
    /// The period's allowance then.
    pub allowance_credits: u64,
    /// The start of the period.
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    /// The run that crossed it.
    pub run_id: Uuid,
    /// The org's credit balance after that run.
    pub balance: i64,
}

/// Who priced a charge: a plugin (name, version, component hash) or the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PricedBy {
    /// The plugin's name, or `builtin` / `host-guard` for the host.
    pub plugin: String,
    /// The plugin's version; Warden's own for the host.
    pub version: String,
    /// The sha256 of the plugin's component, as hex; `builtin` for the host.
    pub sha256: String,
    /// Why this price, as the plugin (or the host's rule) put it.
    pub reason: String,
}

/// A recorded flow run: the answer to every post of its run id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The org charged.
    pub org: Uuid,
    /// The flow's workspace.
    pub workspace: Uuid,
    /// The flow that ran.
    pub flow: Uuid,
    /// The caller's id of the run; an org records each run id once.
    pub run_id: Uuid,
    /// What the caller asked for; `None`: the pricing plugin decided.
    pub requested_credits: Option<u64>,
    /// Credits charged for the run.
    pub credits: u64,
    /// Who priced it; `None` when the caller named the credits.
    pub priced_by: Option<PricedBy>,
    /// `None` for a run that cost nothing.
    pub transaction: Option<Uuid>,
    /// The org's credit balance after the run.
    pub balance_after: i64,
    /// The start of the billing period it counts in.
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    /// Low-balance thresholds this run crossed.
    pub thresholds_crossed: Vec<u8>,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who posted it (`system` or a user id); `None` in records written
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_by: Option<String>,
}

/// A member's seat charge for one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeatCharge {
    /// The org charged.
    pub org: Uuid,
    /// The member whose seat it is.
    pub user: Uuid,
    /// The billing period it pays for.
    pub period: Period,
    /// What the seat cost, in cents; 0 for a free seat.
    pub amount_cents: u64,
    /// Why this amount, as the pricing plugin (or the host's rule) put it.
    pub reason: String,
    /// Who priced it.
    pub priced_by: PricedBy,
    /// `None` for a free seat.
    pub transaction: Option<Uuid>,
    /// When it was charged.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
