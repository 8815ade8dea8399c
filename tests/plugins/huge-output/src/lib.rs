//! Test plugin: returns a 10 MiB reason string. The host's output limit
//! (`max_output_bytes`) must refuse it.

use warden_plugin_sdk::autojoin::{Decision, Guest, Signup};

struct Plugin;

impl Guest for Plugin {
    fn decide(_: Signup) -> Decision {
        Decision { join: None, reason: "x".repeat(10 << 20) }
    }
}

warden_plugin_sdk::export_autojoin!(Plugin);
