//! Expiring credits. A grant made with `expires_at` opens a [`CreditLot`];
//! its credits are part of the org's credit balance, and the org's index of
//! open lots (one record, soonest expiry first, at most [`MAX_OPEN_LOTS`])
//! says which part of the balance expires when. Every transaction that
//! changes a lot carries the change as a [`LotPosting`], so `verify` can
//! recompute the lots from the transactions.
//!
//! The rules, which keep "credits that never expire" (the balance minus the
//! lots) from going below zero while a lot has credits left:
//! - a run spends the lots that expire soonest first, credits that never
//!   expire last (and then the overage);
//! - credits coming in (a grant, a reversed run) first repay any overage;
//! - credits taken back (a reversed grant) come from that grant's lot first,
//!   then from credits that never expire, then from the lots, soonest first;
//! - when a lot's `expires_at` has passed, the next write that touches the
//!   org's credits (`credits::sweep`, first thing in the transaction) posts its
//!   remainder `org credits → credits expired`. Reads subtract what is due
//!   without writing ([`due`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{
    AccountId, AccountKind, CreditLot, LedgerTransaction, LotPosting, OpenLot, Side,
    TransactionKind,
};
use super::{accounts, keys};
use crate::error::Error;
use crate::store::{Tx, TxResult};

/// The most lots with credits left one org may have: its index is one
/// record read by every run.
pub const MAX_OPEN_LOTS: usize = 100;

/// An org's lots with credits left, ordered by `(expires_at, lot)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenLots {
    pub lots: Vec<OpenLot>,
}

impl OpenLots {
    fn total(&self) -> u128 {
        self.lots.iter().map(|l| u128::from(l.remaining)).sum()
    }

    /// Sets `lot`'s remainder, keeping the order; a lot with nothing left leaves.
    fn set(&mut self, lot: &CreditLot) {
        self.lots.retain(|open| open.lot != lot.id);
        if lot.remaining > 0 {
            let open = OpenLot {
                lot: lot.id,
                expires_at: lot.expires_at,
                remaining: lot.remaining,
            };
            let at = self
                .lots
                .partition_point(|l| (l.expires_at, l.lot) < (open.expires_at, open.lot));
            self.lots.insert(at, open);
        }
    }
}

/// The org's open lots (as this transaction sees them).
pub fn open_lots(tx: &Tx, org: Uuid) -> TxResult<OpenLots> {
    Ok(tx.get(&keys::open_lots(org))?.unwrap_or_default())
}

/// Credits of `lots` whose expiry has passed at `now` (not spendable).
pub fn due(lots: &[OpenLot], now: OffsetDateTime) -> u64 {
    lots.iter()
        .filter(|l| l.expires_at <= now)
        .map(|l| l.remaining)
        .sum()
}

/// Debits taking `amount` from `lots` in order (soonest expiry first),
/// after `spare` credits that never expire; what neither covers is overage.
pub fn draw(lots: &[OpenLot], amount: u64, spare: u64) -> Vec<LotPosting> {
    let mut wanted = amount.saturating_sub(spare);
    let mut draws = Vec::new();
    for lot in lots {
        if wanted == 0 {
            break;
        }
        let take = wanted.min(lot.remaining);
        draws.push(LotPosting {
            lot: lot.lot,
            side: Side::Debit,
            amount: take,
        });
        wanted -= take;
    }
    draws
}

/// Credits of `amount`, of which `wanted` are meant for lots: the part
/// meant for no lot repays the overage first, then the lots' parts (the
/// last ones first) repay what is left of it.
fn refill(amount: u64, overage: u64, mut wanted: Vec<LotPosting>) -> Vec<LotPosting> {
    let for_lots: u64 = wanted.iter().map(|p| p.amount).sum();
    assert!(for_lots <= amount, "lot credits within the transaction");
    let mut owed = overage.saturating_sub(amount - for_lots);
    for posting in wanted.iter_mut().rev() {
        let repaid = owed.min(posting.amount);
        posting.amount -= repaid;
        owed -= repaid;
    }
    wanted.retain(|p| p.amount > 0);
    wanted
}

/// The part of the org's credit balance that never expires (negative in
/// overage).
fn pool(tx: &Tx, org: Uuid, open: &OpenLots) -> TxResult<i128> {
    let balance = accounts::account(tx, AccountId::org(org, AccountKind::OrgCredits))?.balance();
    // At most MAX_OPEN_LOTS lots of u64 credits: far inside i128.
    Ok(balance - open.total() as i128)
}

/// The lot postings of a run spending `amount` (after `credits::sweep`).
pub fn spend(tx: &Tx, org: Uuid, amount: u64) -> TxResult<Vec<LotPosting>> {
    Ok(draw(&open_lots(tx, org)?.lots, amount, 0))
}

/// Opens the lot of grant `grant` (`credits` expiring at `expires_at`) and
/// returns the grant's lot postings: the credits left after repaying any
/// overage. Call it before posting the grant.
pub fn open(
    tx: &Tx,
    org: Uuid,
    grant: Uuid,
    credits: u64,
    expires_at: OffsetDateTime,
) -> TxResult<Vec<LotPosting>> {
    let lot = CreditLot {
        id: grant,
        org,
        granted: credits,
        expires_at,
        remaining: 0,
        expired: 0,
        expiries: 0,
        reversed: false,
    };
    tx.put(&keys::lot(org, grant), &lot)?;
    let pool = pool(tx, org, &open_lots(tx, org)?)?;
    let wanted = vec![LotPosting {
        lot: grant,
        side: Side::Credit,
        amount: credits,
    }];
    Ok(refill(credits, overage(pool), wanted))
}

fn overage(pool: i128) -> u64 {
    u64::try_from(-pool.min(0)).expect("overage within the cap")
}

/// The lot postings of reversing `original` (see the module doc); marks a
/// reversed grant's lot closed. Call it before posting the reversal.
pub fn reversal(tx: &Tx, original: &LedgerTransaction) -> TxResult<Vec<LotPosting>> {
    let org = original.org;
    let credits = AccountId::org(org, AccountKind::OrgCredits);
    let Some(posting) = original.postings.iter().find(|p| p.account == credits) else {
        return Ok(Vec::new());
    };
    let open = open_lots(tx, org)?;
    let pool = pool(tx, org, &open)?;
    match (original.kind, posting.side) {
        (TransactionKind::Expiry, _) => Err(Error::conflict(
            "expiry_not_reversible",
            format!(
                "transaction {} expired credits; grant new credits instead",
                original.id
            ),
        )
        .into()),
        // A run's credits go back to the lots they came from, unless their grant was reversed.
        (_, Side::Debit) => {
            let mut wanted = Vec::new();
            for draw in &original.lots {
                let lot: CreditLot =
                    tx.require(&keys::lot(org, draw.lot), "credit lot", draw.lot)?;
                if !lot.reversed {
                    wanted.push(LotPosting {
                        side: Side::Credit,
                        ..*draw
                    });
                }
            }
            Ok(refill(posting.amount, overage(pool), wanted))
        }
        // A grant's credits come back from its own lot first.
        (_, Side::Credit) => {
            let mut postings = Vec::new();
            let mut others = open.lots.clone();
            if let Some(lot) = close_granted_lot(tx, original)? {
                others.retain(|l| l.lot != lot.id);
                if lot.remaining > 0 {
                    postings.push(LotPosting {
                        lot: lot.id,
                        side: Side::Debit,
                        amount: lot.remaining,
                    });
                }
            }
            let from_lot: u64 = postings.iter().map(|p| p.amount).sum();
            let spare = u64::try_from(pool.max(0)).unwrap_or(u64::MAX);
            postings.extend(draw(&others, posting.amount - from_lot, spare));
            Ok(postings)
        }
    }
}

/// Marks the lot of a reversed grant (if it had one) closed; refuses one
/// whose credits have partly expired (they left the org already).
fn close_granted_lot(tx: &Tx, grant: &LedgerTransaction) -> TxResult<Option<CreditLot>> {
    let Ok(id) = grant.reference.parse::<Uuid>() else {
        return Ok(None);
    };
    let key = keys::lot(grant.org, id);
    let Some(mut lot) = tx.get::<CreditLot>(&key)? else {
        return Ok(None);
    };
    if lot.expired > 0 {
        return Err(Error::conflict(
            "grant_expired",
            format!(
                "{} credits of grant {id} expired at {}; an expired grant cannot be reversed",
                lot.expired, lot.expires_at
            ),
        )
        .into());
    }
    lot.reversed = true;
    tx.put(&key, &lot)?;
    Ok(Some(lot))
}

/// Applies a transaction's lot postings to the lots and the org's index
/// (called by `post`, which writes them into the transaction).
pub(super) fn apply(
    tx: &Tx,
    org: Uuid,
    kind: TransactionKind,
    postings: &[LotPosting],
) -> TxResult<()> {
    if postings.is_empty() {
        return Ok(());
    }
    let mut open = open_lots(tx, org)?;
    for posting in postings {
        assert!(posting.amount > 0, "lot postings move a positive amount");
        let key = keys::lot(org, posting.lot);
        let mut lot: CreditLot = tx.require(&key, "credit lot", posting.lot)?;
        lot.remaining = match posting.side {
            Side::Credit => lot.remaining.checked_add(posting.amount),
            Side::Debit => lot.remaining.checked_sub(posting.amount),
        }
        .ok_or_else(|| Error::Internal(format!("lot {} would go out of range", lot.id)))?;
        if kind == TransactionKind::Expiry {
            lot.expired += posting.amount;
            lot.expiries += 1;
        }
        tx.put(&key, &lot)?;
        open.set(&lot);
    }
    if open.lots.len() > MAX_OPEN_LOTS {
        return Err(Error::conflict(
            "too_many_open_lots",
            format!(
                "org {org} would have more than {MAX_OPEN_LOTS} grants with an expiry and credits left (MAX_OPEN_LOTS); spend or let some expire first"
            ),
        )
        .into());
    }
    if open.lots.is_empty() {
        tx.remove(&keys::open_lots(org))
    } else {
        tx.put(&keys::open_lots(org), &open)
    }
}
