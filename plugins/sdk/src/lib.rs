//! Guest-side SDK for Warden plugins (`warden:plugin@0.1.0`, see `../wit`).
//!
//! A plugin is a `cdylib` crate that implements the `Guest` trait of each hook
//! it provides and names its type in that hook's export macro
//! ([`export_autojoin!`], [`export_seat_billing!`], [`export_usage_pricing!`]):
//!
//! ```ignore
//! use warden_plugin_sdk::autojoin::{Decision, Guest, Signup};
//!
//! struct Plugin;
//!
//! impl Guest for Plugin {
//!     fn decide(input: Signup) -> Decision {
//!         Decision { join: None, reason: format!("{} never auto-joins", input.domain) }
//!     }
//! }
//!
//! warden_plugin_sdk::export_autojoin!(Plugin);
//! ```
//!
//! The component type describing a hook's export is emitted by its export
//! macro, so a component exports exactly the hooks whose macro it invokes.

#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[cfg(target_arch = "wasm32")]
mod arena;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: arena::BumpArena = arena::BumpArena;

/// The shared `types` and `host` interfaces, generated once and reused by
/// every hook module below.
#[doc(hidden)]
pub mod base {
    wit_bindgen::generate!({
        path: "../wit",
        inline: "package warden:sdk-base; world base { import warden:plugin/host@0.1.0; import warden:plugin/types@0.1.0; }",
        world: "warden:sdk-base/base",
        generate_unused_types: true,
        generate_all,
    });
}

pub use base::warden::plugin::host::Level;
pub use autojoin_world::export_autojoin;
pub use seat_billing_world::export_seat_billing;
pub use usage_pricing_world::export_usage_pricing;
pub use base::warden::plugin::types::{Plan, Role, Timestamp};

#[doc(hidden)]
pub mod autojoin_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "warden:plugin/autojoin-plugin",
        with: {
            "warden:plugin/types@0.1.0": crate::base::warden::plugin::types,
            "warden:plugin/host@0.1.0": crate::base::warden::plugin::host,
        },
        pub_export_macro: true,
        export_macro_name: "export_autojoin",
        default_bindings_module: "warden_plugin_sdk::autojoin_world",
    });
}

/// The `autojoin` hook: `decide(signup) -> decision`.
pub mod autojoin {
    pub use crate::autojoin_world::exports::warden::plugin::autojoin::{
        CandidateOrg, Decision, Guest, Join, Signup,
    };
}

#[doc(hidden)]
pub mod seat_billing_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "warden:plugin/seat-billing-plugin",
        with: {
            "warden:plugin/types@0.1.0": crate::base::warden::plugin::types,
            "warden:plugin/host@0.1.0": crate::base::warden::plugin::host,
        },
        pub_export_macro: true,
        export_macro_name: "export_seat_billing",
        default_bindings_module: "warden_plugin_sdk::seat_billing_world",
    });
}

/// The `seat-billing` hook: `seat-charge(event) -> charge`.
pub mod seat_billing {
    pub use crate::seat_billing_world::exports::warden::plugin::seat_billing::{
        Charge, Guest, SeatEvent,
    };
}

#[doc(hidden)]
pub mod usage_pricing_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "warden:plugin/usage-pricing-plugin",
        with: {
            "warden:plugin/host@0.1.0": crate::base::warden::plugin::host,
        },
        pub_export_macro: true,
        export_macro_name: "export_usage_pricing",
        default_bindings_module: "warden_plugin_sdk::usage_pricing_world",
    });
}

/// The `usage-pricing` hook: `price-run(run) -> price`.
pub mod usage_pricing {
    pub use crate::usage_pricing_world::exports::warden::plugin::usage_pricing::{
        FlowRun, Guest, Price,
    };
}

/// `serde_json`, for plugins that need more of the config than [`Config`] offers.
pub use serde_json as json;

/// Sends one log line to the host. Lines are captured per call and returned
/// with the result (or the error); the plugin cannot write anywhere else.
pub fn log(level: Level, message: &str) {
    base::warden::plugin::host::log(level, message);
}

/// `log(Level::Info, message)`.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// `log(Level::Warn, message)`.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at error level, then traps. The host reports the call as
/// failed, with the log line, and never uses a partial result. Use it for
/// problems a safe answer cannot paper over, such as an invalid config.
pub fn fail(message: &str) -> ! {
    log(Level::Error, message);
    // wasm32 with panic=abort: this becomes an `unreachable` trap.
    panic!("{message}")
}

/// The WIT name of a role (`guest-internal`, …), for reason strings.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Member => "member",
        Role::GuestInternal => "guest-internal",
        Role::GuestExternal => "guest-external",
    }
}

/// The WIT name of a plan (`free`, `pro`, …), for reason strings.
pub fn plan_name(plan: Plan) -> &'static str {
    match plan {
        Plan::Free => "free",
        Plan::Pro => "pro",
        Plan::Team => "team",
        Plan::Enterprise => "enterprise",
    }
}

/// The manifest's `[config]` table, which the host passes as JSON text.
/// An empty string or `null` is an empty config; anything but an object is
/// an error.
pub struct Config(json::Map<String, json::Value>);

impl Config {
    /// Parses the `config` field of a hook input.
    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config(json::Map::new()));
        }
        match json::from_str::<json::Value>(text) {
            Ok(json::Value::Object(map)) => Ok(Config(map)),
            Ok(json::Value::Null) => Ok(Config(json::Map::new())),
            Ok(_) => Err("config must be a JSON object".to_string()),
            Err(e) => Err(format!("config is not valid JSON: {e}")),
        }
    }

    /// Parses the config, or [`fail`]s with the reason.
    pub fn parse_or_fail(text: &str) -> Config {
        Config::parse(text).unwrap_or_else(|e| fail(&e))
    }

    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&json::Value> {
        self.0.get(key)
    }

    /// `key` as a non-negative integer; `Ok(None)` when absent.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.0.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("config `{key}` must be a non-negative integer, got {v}")),
        }
    }

    /// `key` as a list of strings; empty when absent.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        let Some(v) = self.0.get(key) else {
            return Ok(Vec::new());
        };
        let err = || format!("config `{key}` must be a list of strings, got {v}");
        v.as_array()
            .ok_or_else(err)?
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or_else(err))
            .collect()
    }

    /// Logs a warning for every key not in `known` (typos would otherwise be
    /// ignored silently).
    pub fn warn_unknown(&self, known: &[&str]) {
        for key in self.0.keys() {
            if !known.contains(&key.as_str()) {
                warn(&format!("ignoring unknown config key `{key}`"));
            }
        }
    }
}
