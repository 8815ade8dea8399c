//! Default `usage-pricing` plugin.
//!
//! By default a run costs the credits its caller requested. With
//! `{"credits_per_step": N}` in the config a run costs `steps × N` credits
//! instead, and with `{"minimum_credits": M}` never less than `M` (the
//! minimum also applies to requested credits). Arithmetic saturates at
//! `u64::MAX`.

use warden_plugin_sdk::usage_pricing::{FlowRun, Guest, Price};
use warden_plugin_sdk::{fail, info, Config};

struct Plugin;

impl Guest for Plugin {
    fn price_run(run: FlowRun) -> Price {
        let price = price(&run);
        info(&format!("run {} of flow {}: {}", run.run_id, run.flow_id, price.reason));
        price
    }
}

fn price(run: &FlowRun) -> Price {
    let config = Config::parse_or_fail(&run.config);
    config.warn_unknown(&["credits_per_step", "minimum_credits"]);
    let per_step = config.u64("credits_per_step").unwrap_or_else(|e| fail(&e));
    let minimum = config.u64("minimum_credits").unwrap_or_else(|e| fail(&e));

    let (base, mut reason) = match per_step {
        Some(n) => {
            let c = u64::from(run.steps).saturating_mul(n);
            (c, format!("{} steps × {n} credits/step = {c} credits", run.steps))
        }
        None => (run.requested_credits, format!("{} requested credits", run.requested_credits)),
    };
    let credits = match minimum {
        Some(m) if m > base => {
            reason.push_str(&format!(", raised to the minimum of {m}"));
            m
        }
        _ => base,
    };
    Price { credits, reason }
}

warden_plugin_sdk::export_usage_pricing!(Plugin);
