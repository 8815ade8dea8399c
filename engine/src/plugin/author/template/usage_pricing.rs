//! {{name}}: a Warden plugin for the `usage-pricing` hook, which prices a
//! flow run in credits.
//!
//! The host refuses a price above 1 000 000 credits per run.
//!
//! The example rule: a run costs the credits its caller requested, and at
//! least one credit per step.

use warden_plugin_sdk::usage_pricing::{FlowRun, Guest, Price};
use warden_plugin_sdk::{info, Config};

/// The most the host accepts for one run.
const MAX_CREDITS_PER_RUN: u64 = 1_000_000;

struct Plugin;

impl Guest for Plugin {
    fn price_run(run: FlowRun) -> Price {
        let price = price(&run);
        // Log lines come back with the answer (`warden plugin test` prints them).
        info(&price.reason);
        price
    }
}

fn price(run: &FlowRun) -> Price {
    // plugin.toml's [config], as JSON text; warns about keys nobody reads.
    let config = Config::parse_or_fail(&run.config);
    config.warn_unknown(&[]);
    let credits = run.requested_credits.max(u64::from(run.steps)).min(MAX_CREDITS_PER_RUN);
    Price {
        credits,
        reason: format!(
            "{} requested credits, {} steps at 1 credit each at least: {credits} credits",
            run.requested_credits, run.steps
        ),
    }
}

warden_plugin_sdk::export_usage_pricing!(Plugin);
