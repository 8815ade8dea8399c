//! Seat charges for commands that add a member: the seat-billing hook
//! prices the seat before the transaction, and the charge is posted to the
//! ledger in the transaction that adds the member.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::App;
use crate::error::{Error, Result};
use crate::ledger::{self, BillingSettings, NewSeatCharge, Period, PricedBy};
use crate::plugin::types::{Charge, SeatEvent};
use crate::plugin::PluginAnswer;
use crate::store::CheckRecords;
use crate::store::{Org, OrgRole, Tx, TxError, TxResult};

/// What a new member's seat costs, as the seat-billing hook answered for
/// the org as it was then.
#[derive(Debug)]
pub(super) struct SeatQuote {
    event: SeatEvent,
    period: Period,
    answer: PluginAnswer<Charge>,
}

/// The serial key of commands that take seats in `org` (see
/// `Command::serial_key`).
pub(super) fn serial_key(org: Uuid) -> String {
    format!("seats/{org}")
}

/// Asks the seat-billing hook what `role` joining `org` costs now. `None`
/// when nothing can be charged: the role takes no seat, or the org has no
/// billing settings (no seat price).
pub(super) fn quote(app: &App, org: Uuid, role: OrgRole) -> Result<Option<SeatQuote>> {
    if !role.takes_seat() {
        return Ok(None);
    }
    let (Some(org), Some(settings)) = (app.store.org(org)?, billing_settings(app, org)?) else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    let period = ledger::period_at(Some(&settings), now);
    let event = SeatEvent {
        org_id: org.id,
        plan: org.plan,
        seat_limit: org.seat_limit,
        seats_used: org.seats_used,
        role,
        seat_price_cents: settings.seat_price_cents,
        period_start: period.start,
        period_end: period.end,
        event_time: now,
    };
    let answer = app.plugins.seat_charge(&event)?;
    Ok(Some(SeatQuote {
        event,
        period,
        answer,
    }))
}

fn billing_settings(app: &App, org: Uuid) -> Result<Option<BillingSettings>> {
    ledger::Reports {
        store: &app.store,
        org,
    }
    .settings()
}

/// The quote's record for the audit log.
pub(super) fn answers(quote: &Option<SeatQuote>) -> Vec<PluginAnswer<Value>> {
    quote.iter().map(|q| q.answer.clone().into_json()).collect()
}

/// Charges `user`'s new seat as quoted, inside the transaction that adds
/// them; `org` is the org before the member is added. A quote made for
/// another seat count, plan, limit or price is stale (the hook is asked
/// again), and so is a missing quote once the org has billing settings.
pub(super) fn charge(
    tx: &Tx,
    quote: &Option<SeatQuote>,
    org: &Org,
    user: Uuid,
    role: OrgRole,
    now: OffsetDateTime,
) -> TxResult<()> {
    if !role.takes_seat() {
        return Ok(());
    }
    let settings = ledger::billing_settings(tx, org.id)?;
    let Some(quote) = quote else {
        return match settings {
            None => Ok(()),
            Some(_) => Err(stale(org, "got billing settings")),
        };
    };
    let event = &quote.event;
    let unchanged = settings.is_some_and(|s| s.seat_price_cents == event.seat_price_cents)
        && (org.plan, org.seat_limit, org.seats_used)
            == (event.plan, event.seat_limit, event.seats_used)
        && event.role == role
        && ledger::current_period(tx, org.id, now)? == quote.period;
    if !unchanged {
        return Err(stale(org, "changed seats, plan or billing"));
    }
    let charge = &quote.answer.output;
    if charge.amount_cents == 0 {
        return Ok(());
    }
    ledger::charge_seat(
        tx,
        NewSeatCharge {
            org: org.id,
            user,
            amount_cents: charge.amount_cents,
            period: quote.period,
            reason: charge.reason.clone(),
            priced_by: PricedBy::from_answer(&quote.answer, &charge.reason),
            at: now,
        },
    )?;
    Ok(())
}

fn stale(org: &Org, what: &str) -> TxError {
    Error::Stale(format!("org {} {what} while the seat was priced", org.id)).into()
}
