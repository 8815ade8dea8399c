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
    Credits,
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
    pub const ALL: [AccountKind; 6] = [
        AccountKind::OrgCredits,
        AccountKind::OrgSeatsReceivable,
        AccountKind::CreditsIssued,
        AccountKind::CreditsSpent,
        AccountKind::Revenue,
        AccountKind::CreditsExpired,
    ];

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

    pub fn unit(self) -> Unit {
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

    pub fn is_system(self) -> bool {
        !matches!(
            self,
            AccountKind::OrgCredits | AccountKind::OrgSeatsReceivable
        )
    }
}

/// An account: the org that owns it (nil for system accounts) and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId {
    pub owner: Uuid,
    pub kind: AccountKind,
}

impl AccountId {
    pub fn org(org: Uuid, kind: AccountKind) -> AccountId {
        assert!(!kind.is_system(), "{kind:?} is a system account");
        AccountId { owner: org, kind }
    }

    pub fn system(kind: AccountKind) -> AccountId {
        assert!(kind.is_system(), "{kind:?} is an org account");
        AccountId {
            owner: Uuid::nil(),
            kind,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFlags {
    /// Debits may exceed credits by at most the account's `overdraft_limit`.
    pub debits_must_not_exceed_credits: bool,
    pub credits_must_not_exceed_debits: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub unit: Unit,
    pub flags: AccountFlags,
    /// How far debits may exceed credits (an org's overage cap, in credits).
    pub overdraft_limit: u64,
    pub debits_posted: u64,
    pub credits_posted: u64,
    /// Entries written for this account, so verify can count them.
    pub entries: u64,
}

impl Account {
    pub fn open(id: AccountId) -> Account {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

/// One line of a transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Posting {
    pub account: AccountId,
    pub unit: Unit,
    pub side: Side,
    pub amount: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    Grant,
    Usage,
    SeatCharge,
    Reversal,
    /// An expiring grant's unspent remainder leaving the org's credits.
    Expiry,
}

/// A balanced set of postings, written once and never changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerTransaction {
    pub id: Uuid,
    /// Its place in the ledger's commit order: 1, 2, … across the whole
    /// ledger, taken inside its store transaction, so it holds when the
    /// clock steps back. `None` in transactions posted before sequences
    /// existed: they all precede the numbered ones, and `verify` orders
    /// them among themselves by id (their wall-clock time, as it did then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The org it concerns (its accounts are among the postings).
    pub org: Uuid,
    pub kind: TransactionKind,
    /// Unique per kind: the grant id, run id, `period/user` of a seat
    /// charge, or the reversed transaction's id.
    pub reference: String,
    pub reverses: Option<Uuid>,
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
    pub lot: Uuid,
    pub side: Side,
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
    pub org: Uuid,
    pub granted: u64,
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
    pub lot: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub remaining: u64,
}

/// One posting as seen from its account, newest first in listings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub transaction: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: TransactionKind,
    pub reference: String,
    pub side: Side,
    pub amount: u64,
    /// The account's credits minus debits after this entry.
    pub balance_after: i64,
}

/// An org's billing period and prices. Periods repeat with the same
/// length: the current one is the one of those that contains now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillingSettings {
    pub org: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    pub seat_price_cents: u64,
    /// How far usage may take the credit balance below zero.
    pub overage_cap_credits: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A billing period `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

/// One org's credits in one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodSummary {
    /// Credits granted in the period: the base of the low-balance thresholds.
    pub allowance_credits: u64,
    pub used_credits: u64,
    pub runs: u64,
    /// Thresholds (percent of the allowance) already signalled.
    pub thresholds_crossed: Vec<u8>,
}

/// One workspace's usage in one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceUsage {
    pub workspace: Uuid,
    pub credits: u64,
    pub runs: u64,
}

/// A low-balance signal, written with the usage that crossed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BalanceEvent {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub org: Uuid,
    pub threshold_percent: u8,
    pub used_credits: u64,
    pub allowance_credits: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    pub run_id: Uuid,
    pub balance: i64,
}

/// Who priced a charge: a plugin (name, version, component hash) or the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PricedBy {
    pub plugin: String,
    pub version: String,
    pub sha256: String,
    pub reason: String,
}

/// A recorded flow run: the answer to every post of its run id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub org: Uuid,
    pub workspace: Uuid,
    pub flow: Uuid,
    pub run_id: Uuid,
    /// What the caller asked for; `None`: the pricing plugin decided.
    pub requested_credits: Option<u64>,
    pub credits: u64,
    pub priced_by: Option<PricedBy>,
    /// `None` for a run that cost nothing.
    pub transaction: Option<Uuid>,
    pub balance_after: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    /// Low-balance thresholds this run crossed.
    pub thresholds_crossed: Vec<u8>,
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
    pub org: Uuid,
    pub user: Uuid,
    pub period: Period,
    pub amount_cents: u64,
    pub reason: String,
    pub priced_by: PricedBy,
    /// `None` for a free seat.
    pub transaction: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
