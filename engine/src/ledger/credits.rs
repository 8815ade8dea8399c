//! Granting and spending an org's credits: the postings of a grant or a
//! run, with their lot postings, after expiring what is due (see `lots`).
//! The commands call these; so do the tests, with a clock of their own.

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{AccountId, AccountKind, CreditLot, LotPosting, Side, TransactionKind};
use super::posting::{self, NewTransaction, Posted};
use super::{accounts, keys, lots};
use crate::store::{Tx, TxResult};

/// A grant to post.
pub struct NewGrant {
    /// The grant's id: its transaction's reference and its lot's id.
    pub id: Uuid,
    pub org: Uuid,
    pub credits: u64,
    /// When what is left of it expires; `None`: never.
    pub expires_at: Option<OffsetDateTime>,
    pub at: OffsetDateTime,
    pub memo: serde_json::Value,
}

/// Posts a grant `credits issued → org credits`, opening its lot if it expires.
pub fn grant(tx: &Tx, grant: NewGrant) -> TxResult<Posted> {
    sweep(tx, grant.org, grant.at)?;
    let lots = match grant.expires_at {
        Some(at) => lots::open(tx, grant.org, grant.id, grant.credits, at)?,
        None => Vec::new(),
    };
    posting::post(
        tx,
        NewTransaction {
            at: grant.at,
            org: grant.org,
            kind: TransactionKind::Grant,
            reference: grant.id.to_string(),
            reverses: None,
            postings: posting::transfer(
                AccountId::system(AccountKind::CreditsIssued),
                AccountId::org(grant.org, AccountKind::OrgCredits),
                grant.credits,
            ),
            lots,
            memo: grant.memo,
        },
    )
}

/// A run's cost to post.
pub struct NewSpend {
    pub org: Uuid,
    /// The run id.
    pub reference: String,
    /// More than zero (a free run posts nothing).
    pub credits: u64,
    pub at: OffsetDateTime,
    pub memo: serde_json::Value,
}

/// Posts a run's cost `org credits → credits spent`, soonest-expiring
/// credits first; 402 `insufficient_credits` if the spendable balance and
/// the overage cap cannot pay.
pub fn spend(tx: &Tx, spend: NewSpend) -> TxResult<Posted> {
    sweep(tx, spend.org, spend.at)?;
    let lots = lots::spend(tx, spend.org, spend.credits)?;
    posting::post(
        tx,
        NewTransaction {
            at: spend.at,
            org: spend.org,
            kind: TransactionKind::Usage,
            reference: spend.reference,
            reverses: None,
            postings: posting::transfer(
                AccountId::org(spend.org, AccountKind::OrgCredits),
                AccountId::system(AccountKind::CreditsSpent),
                spend.credits,
            ),
            lots,
            memo: spend.memo,
        },
    )
}

/// The org's credit balance after expiring what is due at `now` (for a
/// free run, which posts nothing).
pub fn balance(tx: &Tx, org: Uuid, now: OffsetDateTime) -> TxResult<i64> {
    sweep(tx, org, now)?;
    let balance = accounts::account(tx, AccountId::org(org, AccountKind::OrgCredits))?.balance();
    Ok(i64::try_from(balance).expect("posting refuses balances outside i64"))
}

/// Posts the expiry of every lot of `org` whose `expires_at` has passed at
/// `now`, one transaction per lot. Call it first in every transaction that
/// touches the org's credits.
pub fn sweep(tx: &Tx, org: Uuid, now: OffsetDateTime) -> TxResult<()> {
    let open = lots::open_lots(tx, org)?;
    for lot in open.lots.iter().filter(|l| l.expires_at <= now) {
        let record: CreditLot = tx.require(&keys::lot(org, lot.lot), "credit lot", lot.lot)?;
        posting::post(
            tx,
            NewTransaction {
                at: now,
                org,
                kind: TransactionKind::Expiry,
                reference: format!("{}/{}", lot.lot, record.expiries + 1),
                reverses: None,
                postings: posting::transfer(
                    AccountId::org(org, AccountKind::OrgCredits),
                    AccountId::system(AccountKind::CreditsExpired),
                    lot.remaining,
                ),
                lots: vec![LotPosting {
                    lot: lot.lot,
                    side: Side::Debit,
                    amount: lot.remaining,
                }],
                memo: json!({"lot": lot.lot, "expires_at": lot.expires_at.unix_timestamp()}),
            },
        )?;
    }
    Ok(())
}
