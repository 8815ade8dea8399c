//! Test plugin: logs one line, then panics (an `unreachable` trap) in both
//! hooks. The host must report the error with the captured log line.

use warden_plugin_sdk::autojoin::{self, Decision, Signup};
use warden_plugin_sdk::seat_billing::{self, Charge, SeatEvent};
use warden_plugin_sdk::warn;

struct Plugin;

impl autojoin::Guest for Plugin {
    fn decide(_: Signup) -> Decision {
        warn("trap plugin: about to panic in autojoin");
        panic!("trap plugin")
    }
}

impl seat_billing::Guest for Plugin {
    fn seat_charge(_: SeatEvent) -> Charge {
        warn("trap plugin: about to panic in seat-billing");
        panic!("trap plugin")
    }
}

warden_plugin_sdk::export_autojoin!(Plugin);
warden_plugin_sdk::export_seat_billing!(Plugin);
