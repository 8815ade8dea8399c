//! Seat charges: a member who takes a seat is charged once per billing
//! period, `org seats receivable → revenue`, in cents. Re-adding a member in
//! the same period charges nothing more; removing one refunds nothing (a
//! refund is a reversal of the charge's transaction).

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys;
use super::model::{AccountId, AccountKind, Period, PricedBy, SeatCharge, TransactionKind};
use super::posting::{self, NewTransaction};
use crate::error::Error;
use crate::plugin::PluginAnswer;
use crate::store::{Tx, TxResult};

/// The most one seat may cost for one period, whatever a plugin says.
pub const MAX_SEAT_PRICE_CENTS: u64 = 100_000_000;

/// A seat to charge (from the seat-billing hook's answer).
pub struct NewSeatCharge {
    pub org: Uuid,
    pub user: Uuid,
    pub amount_cents: u64,
    pub period: Period,
    pub reason: String,
    pub priced_by: PricedBy,
    pub at: OffsetDateTime,
}

#[derive(Debug, PartialEq)]
pub enum SeatChargeOutcome {
    Charged(SeatCharge),
    /// The user was already charged in this period: nothing was written.
    AlreadyCharged(SeatCharge),
}

impl PricedBy {
    /// Who answered a hook call, for the records it priced.
    pub fn from_answer<T>(answer: &PluginAnswer<T>, reason: &str) -> PricedBy {
        PricedBy {
            plugin: answer.plugin.clone(),
            version: answer.version.clone(),
            sha256: answer.sha256.clone(),
            reason: reason.to_string(),
        }
    }
}

/// Charges `charge.user`'s seat in `charge.period`, at most once per user
/// and period (index `org | period | user`). Call it in the transaction that
/// adds the member.
pub fn charge_seat(tx: &Tx, charge: NewSeatCharge) -> TxResult<SeatChargeOutcome> {
    if charge.amount_cents > MAX_SEAT_PRICE_CENTS {
        return Err(Error::invalid(
            "amount_cents",
            format!("a seat costs at most {MAX_SEAT_PRICE_CENTS} cents per period"),
        )
        .into());
    }
    let key = keys::seat_charge(charge.org, charge.period.start, charge.user);
    if let Some(existing) = tx.get(&key)? {
        return Ok(SeatChargeOutcome::AlreadyCharged(existing));
    }
    let transaction = if charge.amount_cents == 0 {
        None
    } else {
        let postings = posting::transfer(
            AccountId::org(charge.org, AccountKind::OrgSeatsReceivable),
            AccountId::system(AccountKind::Revenue),
            charge.amount_cents,
        );
        let posted = posting::post(
            tx,
            NewTransaction {
                at: charge.at,
                org: charge.org,
                kind: TransactionKind::SeatCharge,
                reference: seat_reference(charge.org, charge.period, charge.user),
                reverses: None,
                postings,
                lots: Vec::new(),
                memo: json!({"user": charge.user, "reason": charge.reason, "priced_by": charge.priced_by}),
            },
        )?;
        Some(posted.transaction.id)
    };
    let record = SeatCharge {
        org: charge.org,
        user: charge.user,
        period: charge.period,
        amount_cents: charge.amount_cents,
        reason: charge.reason,
        priced_by: charge.priced_by,
        transaction,
        at: charge.at,
    };
    tx.put(&key, &record)?;
    Ok(SeatChargeOutcome::Charged(record))
}

/// The seat charge's reference: unique per org, period and user.
fn seat_reference(org: Uuid, period: Period, user: Uuid) -> String {
    format!("{org}/{}/{user}", period.start.unix_timestamp())
}
