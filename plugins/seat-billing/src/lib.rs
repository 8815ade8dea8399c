//! Default `seat-billing` plugin: pro-rata charge for a member who takes a
//! seat beyond the org's limit, Stripe-style, in integer cents.
//!
//! Free plans, external guests and seats within the limit (or an unlimited
//! plan, `seat-limit = 0`) cost nothing. Otherwise the charge is the seat
//! price times the share of the billing period that remains:
//!
//! ```text
//! period    = period_end - period_start                      (> 0)
//! remaining = clamp(period_end - event_time, 0, period)
//! amount    = round_half_up(price * remaining / period)
//!           = (price * remaining * 2 + period) / (2 * period)   in u128
//! ```
//!
//! Since `remaining <= period`, the amount never exceeds the seat price.
//! No config.

use warden_plugin_sdk::seat_billing::{Charge, Guest, SeatEvent};
use warden_plugin_sdk::{info, plan_name, Plan, Role};

struct Plugin;

impl Guest for Plugin {
    fn seat_charge(event: SeatEvent) -> Charge {
        let charge = charge(&event);
        info(&format!("org {}: {} cents: {}", event.org_id, charge.amount_cents, charge.reason));
        charge
    }
}

fn charge(e: &SeatEvent) -> Charge {
    let free = |reason: String| Charge { amount_cents: 0, reason };
    if e.plan == Plan::Free {
        return free("free plan: seats are not billed".into());
    }
    if e.role == Role::GuestExternal {
        return free("external guests are free".into());
    }
    if e.seat_limit == 0 {
        return free(format!("within the seat limit ({}/unlimited)", e.seats_used));
    }
    if e.seats_used < e.seat_limit {
        return free(format!("within the seat limit ({}/{})", e.seats_used, e.seat_limit));
    }
    // i128: no i64 subtraction can overflow.
    let period = i128::from(e.period_end) - i128::from(e.period_start);
    if period <= 0 {
        return free(format!(
            "invalid billing period ({}..{}): not billed",
            e.period_start, e.period_end
        ));
    }
    let remaining = (i128::from(e.period_end) - i128::from(e.event_time)).clamp(0, period);
    let (period, remaining) = (period as u128, remaining as u128);
    let price = u128::from(e.seat_price_cents);
    // Round half up; price * remaining * 2 < 2^64 * 2^65 * 2, well inside u128.
    let amount = (price * remaining * 2 + period) / (2 * period);
    let amount = u64::try_from(amount).expect("amount <= seat price");
    Charge {
        amount_cents: amount,
        reason: format!(
            "seat {} of limit {} on plan {}: {amount} cents = {price} × {remaining}/{period} s remaining",
            u64::from(e.seats_used) + 1,
            e.seat_limit,
            plan_name(e.plan),
        ),
    }
}

warden_plugin_sdk::export_seat_billing!(Plugin);
