//! {{name}}: a Warden plugin for the `seat-billing` hook, which prices the
//! seat of a member who joins an org, in integer cents.
//!
//! The host never calls it for external guests (they take no seat) and
//! refuses a charge above the seat price.
//!
//! The example rule: seats within the plan's limit are free, a seat beyond
//! it costs the full seat price.

use warden_plugin_sdk::seat_billing::{Charge, Guest, SeatEvent};
use warden_plugin_sdk::{info, Config};

struct Plugin;

impl Guest for Plugin {
    fn seat_charge(event: SeatEvent) -> Charge {
        let charge = charge(&event);
        // Log lines come back with the answer (`warden plugin test` prints them).
        info(&charge.reason);
        charge
    }
}

fn charge(event: &SeatEvent) -> Charge {
    // plugin.toml's [config], as JSON text; warns about keys nobody reads.
    let config = Config::parse_or_fail(&event.config);
    config.warn_unknown(&[]);
    // A seat limit of 0 means unlimited.
    let beyond_the_limit = event.seat_limit != 0 && event.seats_used >= event.seat_limit;
    if beyond_the_limit {
        Charge {
            amount_cents: event.seat_price_cents,
            reason: format!("seat {} is beyond the limit of {}: full price", event.seats_used + 1, event.seat_limit),
        }
    } else {
        Charge { amount_cents: 0, reason: "within the plan's seat limit".into() }
    }
}

warden_plugin_sdk::export_seat_billing!(Plugin);
