//! Test plugin: well-formed but semantically invalid results. `autojoin`
//! joins an org that was not among the candidates, as admin, into an empty
//! workspace id; `seat-billing` charges `u64::MAX` cents. The host's checks
//! must refuse both.

use warden_plugin_sdk::autojoin::{self, Decision, Join, Signup};
use warden_plugin_sdk::seat_billing::{self, Charge, SeatEvent};
use warden_plugin_sdk::Role;

struct Plugin;

impl autojoin::Guest for Plugin {
    fn decide(_: Signup) -> Decision {
        Decision {
            join: Some(Join {
                org_id: "org-that-was-not-a-candidate".into(),
                workspace_ids: vec![String::new()],
                role: Role::Admin,
            }),
            reason: "garbage-output test plugin".into(),
        }
    }
}

impl seat_billing::Guest for Plugin {
    fn seat_charge(_: SeatEvent) -> Charge {
        Charge { amount_cents: u64::MAX, reason: "garbage-output test plugin".into() }
    }
}

warden_plugin_sdk::export_autojoin!(Plugin);
warden_plugin_sdk::export_seat_billing!(Plugin);
