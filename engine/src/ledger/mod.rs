//! The double-entry ledger: org and system accounts in credits and cents,
//! balanced transactions posted inside the command's sled transaction,
//! per-period counters and the whole-ledger verifier.
//!
//! Money flows:
//! - grant:       debit `credits issued` (system) → credit `org credits`
//! - usage:       debit `org credits` → credit `credits spent` (system)
//! - seat charge: debit `org seats receivable` → credit `revenue` (system, cents)
//! - expiry:      debit `org credits` → credit `credits expired` (system):
//!   the unspent rest of a grant made with an expiry, once it has passed
//! - reversal:    the same postings with debit and credit swapped
//!
//! Architecture invariants: entries are written once and never changed;
//! amounts are u64 and every total is `checked_add`ed (an overflow is a 409,
//! never a panic); an account never passes its flags (an org's credits go
//! below zero only down to its overage cap); every report is read from
//! counters and indexes, only [`verify`] reads the whole ledger.

mod accounts;
mod balances;
mod credits;
pub mod keys;
mod lots;
pub mod model;
mod posting;
mod reversal;
mod seats;
mod verify;

#[cfg(test)]
mod tests;

pub use balances::{
    supported_time, EARLIEST_YEAR, LATEST_YEAR, LOW_BALANCE_THRESHOLDS_PERCENT,
    SUPPORTED_TIME_PATTERN,
};
pub use lots::MAX_OPEN_LOTS;
pub use model::*;
pub use posting::transactions_posted;
pub use seats::MAX_SEAT_PRICE_CENTS;
pub use verify::{verify, Totals, VerifyReport, MAX_REPORTED_VIOLATIONS};

// The write path and the reports: the commands and the HTTP layer use them.
pub(crate) use balances::{
    billing_settings, count_grant, count_usage, current_period, period_at, set_billing, uncount,
    BalanceReport, CountedUsage, Reports, UsageReport,
};
pub(crate) use credits::{balance, grant, spend, NewGrant, NewSpend};
pub(crate) use reversal::reverse;
pub(crate) use seats::{charge_seat, NewSeatCharge};
