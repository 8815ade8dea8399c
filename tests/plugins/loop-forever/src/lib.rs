//! Test plugin: never returns (both hooks). The host must stop it with its
//! fuel budget or epoch deadline.

use warden_plugin_sdk::autojoin::{self, Decision, Signup};
use warden_plugin_sdk::seat_billing::{self, Charge, SeatEvent};

struct Plugin;

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        // black_box: the loop has an observable effect, so it is never
        // optimised away.
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

impl autojoin::Guest for Plugin {
    fn decide(_: Signup) -> Decision {
        spin()
    }
}

impl seat_billing::Guest for Plugin {
    fn seat_charge(_: SeatEvent) -> Charge {
        spin()
    }
}

warden_plugin_sdk::export_autojoin!(Plugin);
warden_plugin_sdk::export_seat_billing!(Plugin);
