//! Test plugin: a correct autojoin plugin, but built against
//! `warden:plugin@0.2.0` (see `wit/`), so it exports
//! `warden:plugin/autojoin@0.2.0`. The host must refuse to load it.

wit_bindgen::generate!({ path: "wit", world: "autojoin-plugin" });

use exports::warden::plugin::autojoin::{Decision, Guest, Signup};

struct Plugin;

impl Guest for Plugin {
    fn decide(input: Signup) -> Decision {
        Decision { join: None, reason: format!("wrong-abi plugin: {} not joined", input.domain) }
    }
}

export!(Plugin);
