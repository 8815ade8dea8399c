//! Reversing a posted transaction: its mirror image, at most once, with the
//! lot postings the lots' rules give it.

use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{LedgerTransaction, Posting, TransactionKind};
use super::posting::{self, NewTransaction, Posted};
use super::{credits, keys, lots};
use crate::error::Error;
use crate::store::{Tx, TxResult};

/// Posts the mirror image of transaction `original`, at most once. Its
/// lot postings follow the rules of `lots` (credits a reversed run returns
/// go back to the lots they came from); lots whose expiry has passed are
/// swept before and after.
pub fn reverse(
    tx: &Tx,
    original: Uuid,
    at: OffsetDateTime,
    memo: serde_json::Value,
) -> TxResult<Posted> {
    let reversed: LedgerTransaction =
        tx.require(&keys::transaction(original), "transaction", original)?;
    if reversed.kind == TransactionKind::Reversal {
        return Err(Error::conflict(
            "reversal_not_reversible",
            format!("transaction {original} is a reversal; post a new transaction instead"),
        )
        .into());
    }
    if let Some(by) = tx.get::<Uuid>(&keys::reversal(original))? {
        return Err(Error::conflict(
            "already_reversed",
            format!("transaction {original} was already reversed by {by}"),
        )
        .into());
    }
    let postings = reversed
        .postings
        .iter()
        .map(|p| Posting {
            side: p.side.opposite(),
            ..p.clone()
        })
        .collect();
    credits::sweep(tx, reversed.org, at)?;
    let lots = lots::reversal(tx, &reversed)?;
    let posted = posting::post(
        tx,
        NewTransaction {
            at,
            org: reversed.org,
            kind: TransactionKind::Reversal,
            reference: original.to_string(),
            reverses: Some(original),
            postings,
            lots,
            memo,
        },
    )?;
    tx.put(&keys::reversal(original), &posted.transaction.id)?;
    credits::sweep(tx, reversed.org, at)?;
    Ok(posted)
}
