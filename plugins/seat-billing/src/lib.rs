//! Default `seat-billing` plugin: pro-rata charge for a member who takes a
//! seat beyond the org's limit, Stripe-style, in integer cents.
//!
//! The rule itself is `warden_default_rules::seat_charge` (documented
//! there), which the host's built-in seat-billing hook also runs.
//! No config.

use warden_default_rules as rules;
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
    let charge = rules::seat_charge(&rules::Seat {
        plan: plan_name(e.plan),
        free_plan: e.plan == Plan::Free,
        external_guest: e.role == Role::GuestExternal,
        seat_limit: e.seat_limit,
        seats_used: e.seats_used,
        seat_price_cents: e.seat_price_cents,
        period_start: e.period_start,
        period_end: e.period_end,
        event_time: e.event_time,
    });
    Charge { amount_cents: charge.amount_cents, reason: charge.reason }
}

warden_plugin_sdk::export_seat_billing!(Plugin);
