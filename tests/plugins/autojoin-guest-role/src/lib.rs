//! Well-behaved test plugin: always joins the first candidate (into its
//! default workspace, if any) as an internal guest, with reason
//! "test plugin". Used to prove a dropped-in plugin changes behaviour.

use warden_plugin_sdk::autojoin::{Decision, Guest, Join, Signup};
use warden_plugin_sdk::{info, Role};

struct Plugin;

impl Guest for Plugin {
    fn decide(input: Signup) -> Decision {
        info("autojoin-guest-role: joining the first candidate as guest-internal");
        let join = input.candidates.into_iter().next().map(|c| Join {
            org_id: c.org_id,
            workspace_ids: c.default_workspace.into_iter().collect(),
            role: Role::GuestInternal,
        });
        Decision { join, reason: "test plugin".into() }
    }
}

warden_plugin_sdk::export_autojoin!(Plugin);
