//! The ledger's keys (tags 0x20–0x2f of the store's one tree). Accounts are
//! `owner | kind` (owner: the org, or the nil uuid for system accounts);
//! periods are their start as an order-preserving u64.

use time::OffsetDateTime;
use uuid::Uuid;

use super::model::AccountId;
use crate::store::keys::join;

/// `owner | kind` → Account.
const ACCOUNT: u8 = 0x20;
/// `transaction id (v7 of its time)` → LedgerTransaction; the commit
/// order is its `sequence`, not its id.
const TRANSACTION: u8 = 0x21;
/// `owner | kind | transaction id` → Entry; an account's history.
const ENTRY: u8 = 0x22;
/// `org | run id` → UsageRecord: the run id is the usage's natural idempotency key.
const USAGE_RUN: u8 = 0x23;
/// `org | period start | workspace` → WorkspaceUsage.
const WORKSPACE_USAGE: u8 = 0x24;
/// `org | period start` → PeriodSummary (allowance, used, thresholds crossed).
const PERIOD: u8 = 0x25;
/// `org | event id (v7)` → BalanceEvent.
const EVENT: u8 = 0x26;
/// `org` → BillingSettings.
const BILLING: u8 = 0x27;
/// `org | period start | user` → SeatCharge; at most one per user and period.
const SEAT_CHARGE: u8 = 0x28;
/// `original transaction id` → reversing transaction id.
const REVERSAL: u8 = 0x29;
/// `org | grant id` → CreditLot: every expiring grant, open or closed.
const LOT: u8 = 0x2a;
/// `org` → OpenLots: the org's lots with credits left, soonest expiry first.
const OPEN_LOTS: u8 = 0x2b;
/// `()` → u64: the sequence number of the last transaction posted.
const SEQUENCE: u8 = 0x2c;

fn account_bytes(id: AccountId) -> [u8; 17] {
    let mut bytes = [0; 17];
    bytes[..16].copy_from_slice(id.owner.as_bytes());
    bytes[16] = id.kind.tag();
    bytes
}

/// A period start as bytes that sort like the instants.
fn period_bytes(start: OffsetDateTime) -> [u8; 8] {
    ((start.unix_timestamp() as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn account(id: AccountId) -> Vec<u8> {
    join(ACCOUNT, &[&account_bytes(id)])
}
pub(crate) fn accounts() -> Vec<u8> {
    join(ACCOUNT, &[])
}
/// `id` → LedgerTransaction: the posted transaction.
pub fn transaction(id: Uuid) -> Vec<u8> {
    join(TRANSACTION, &[id.as_bytes()])
}
pub(crate) fn transactions() -> Vec<u8> {
    join(TRANSACTION, &[])
}
pub(crate) fn entry(account: AccountId, transaction: Uuid) -> Vec<u8> {
    join(ENTRY, &[&account_bytes(account), transaction.as_bytes()])
}
pub(crate) fn entries_of(account: AccountId) -> Vec<u8> {
    join(ENTRY, &[&account_bytes(account)])
}
pub(crate) fn usage_run(org: Uuid, run: Uuid) -> Vec<u8> {
    join(USAGE_RUN, &[org.as_bytes(), run.as_bytes()])
}
pub(crate) fn usage_runs() -> Vec<u8> {
    join(USAGE_RUN, &[])
}
pub(crate) fn workspace_usage(org: Uuid, period_start: OffsetDateTime, workspace: Uuid) -> Vec<u8> {
    join(
        WORKSPACE_USAGE,
        &[
            org.as_bytes(),
            &period_bytes(period_start),
            workspace.as_bytes(),
        ],
    )
}
pub(crate) fn workspace_usage_of(org: Uuid, period_start: OffsetDateTime) -> Vec<u8> {
    join(
        WORKSPACE_USAGE,
        &[org.as_bytes(), &period_bytes(period_start)],
    )
}
pub(crate) fn period(org: Uuid, start: OffsetDateTime) -> Vec<u8> {
    join(PERIOD, &[org.as_bytes(), &period_bytes(start)])
}
pub(crate) fn event(org: Uuid, id: Uuid) -> Vec<u8> {
    join(EVENT, &[org.as_bytes(), id.as_bytes()])
}
pub(crate) fn events_of(org: Uuid) -> Vec<u8> {
    join(EVENT, &[org.as_bytes()])
}
pub(crate) fn billing(org: Uuid) -> Vec<u8> {
    join(BILLING, &[org.as_bytes()])
}
pub(crate) fn seat_charge(org: Uuid, period_start: OffsetDateTime, user: Uuid) -> Vec<u8> {
    join(
        SEAT_CHARGE,
        &[org.as_bytes(), &period_bytes(period_start), user.as_bytes()],
    )
}
pub(crate) fn seat_charges_of(org: Uuid, period_start: OffsetDateTime) -> Vec<u8> {
    join(SEAT_CHARGE, &[org.as_bytes(), &period_bytes(period_start)])
}
pub(crate) fn reversal(original: Uuid) -> Vec<u8> {
    join(REVERSAL, &[original.as_bytes()])
}
pub(crate) fn lot(org: Uuid, grant: Uuid) -> Vec<u8> {
    join(LOT, &[org.as_bytes(), grant.as_bytes()])
}
pub(crate) fn lots() -> Vec<u8> {
    join(LOT, &[])
}
pub(crate) fn open_lots(org: Uuid) -> Vec<u8> {
    join(OPEN_LOTS, &[org.as_bytes()])
}
pub(crate) fn all_open_lots() -> Vec<u8> {
    join(OPEN_LOTS, &[])
}
pub(crate) fn sequence() -> Vec<u8> {
    join(SEQUENCE, &[])
}
