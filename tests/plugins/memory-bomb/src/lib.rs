//! Test plugin: allocates and touches 1 MiB chunks until it runs out of
//! memory (both hooks). The host's memory limit must stop it.

use warden_plugin_sdk::autojoin::{self, Decision, Signup};
use warden_plugin_sdk::seat_billing::{self, Charge, SeatEvent};

struct Plugin;

fn bomb() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        // vec![1; N] writes every byte, so every page is really touched.
        chunks.push(core::hint::black_box(vec![1u8; 1 << 20]));
        core::hint::black_box(&chunks);
    }
}

impl autojoin::Guest for Plugin {
    fn decide(_: Signup) -> Decision {
        bomb()
    }
}

impl seat_billing::Guest for Plugin {
    fn seat_charge(_: SeatEvent) -> Charge {
        bomb()
    }
}

warden_plugin_sdk::export_autojoin!(Plugin);
warden_plugin_sdk::export_seat_billing!(Plugin);
