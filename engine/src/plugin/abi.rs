//! The host side of the WIT ABI (`plugins/wit`, package
//! `warden:plugin@0.1.0`): generated bindings, the check that a component
//! implements this version, and conversions between the WIT records and the
//! host's own types.

use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::Engine;

use super::hook::Hook;
use super::sandbox::{self, CallState, CallStore};
use super::types::{Charge, FlowRun, Join, JoinDecision, Price, SeatEvent, Signup};
use crate::error::plugin::Level;
use crate::store::{OrgRole, Plan};

/// The WIT package every hook interface belongs to.
pub const PACKAGE: &str = "warden:plugin";
/// The ABI version this host implements; a component built against another
/// version is refused at load time.
pub const ABI_VERSION: &str = "0.1.0";

// `types` has no functions, so its generated linker code has unused
// parameters; the allow keeps those warnings out of our build.
#[allow(unused_variables)]
mod autojoin_world {
    wasmtime::component::bindgen!({
        path: "../plugins/wit",
        world: "warden:plugin/autojoin-plugin",
    });
}

mod seat_billing_world {
    wasmtime::component::bindgen!({
        path: "../plugins/wit",
        world: "warden:plugin/seat-billing-plugin",
        with: {
            "warden:plugin/types": super::autojoin_world::warden::plugin::types,
            "warden:plugin/host": super::autojoin_world::warden::plugin::host,
        },
    });
}

mod usage_pricing_world {
    wasmtime::component::bindgen!({
        path: "../plugins/wit",
        world: "warden:plugin/usage-pricing-plugin",
        with: {
            "warden:plugin/host": super::autojoin_world::warden::plugin::host,
        },
    });
}

use autojoin_world::exports::warden::plugin::autojoin as wit_autojoin;
use autojoin_world::warden::plugin::{host as wit_host, types as wit_types};
use seat_billing_world::exports::warden::plugin::seat_billing as wit_seat;
use usage_pricing_world::exports::warden::plugin::usage_pricing as wit_usage;

/// One plugin's component, linked and type-checked once per declared hook,
/// ready for a fresh instance per call.
pub struct Prepared {
    autojoin: Option<autojoin_world::AutojoinPluginPre<CallState>>,
    seat_billing: Option<seat_billing_world::SeatBillingPluginPre<CallState>>,
    usage_pricing: Option<usage_pricing_world::UsagePricingPluginPre<CallState>>,
}

/// What a hook export returned: the bytes of all its strings (counted
/// against the output cap before anything else) and the value in host
/// types, or why it does not convert.
pub struct Returned<T> {
    pub bytes: usize,
    pub value: Result<T, String>,
}

/// The error of calling a hook the component was not prepared for.
#[derive(Debug, thiserror::Error)]
#[error("the component was not loaded for hook {0}")]
pub struct NotPrepared(pub Hook);

/// Defines the one import plugins get: `host.log` (and the type-only
/// `types` interface).
pub fn add_imports(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    autojoin_world::AutojoinPlugin::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
}

impl wit_host::Host for CallState {
    fn log(&mut self, level: wit_host::Level, message: String) {
        let level = match level {
            wit_host::Level::Trace => Level::Trace,
            wit_host::Level::Debug => Level::Debug,
            wit_host::Level::Info => Level::Info,
            wit_host::Level::Warn => Level::Warn,
            wit_host::Level::Error => Level::Error,
        };
        self.log(level, message);
    }
}

impl wit_types::Host for CallState {}

/// Checks that the component exports exactly the declared hooks, in this
/// host's ABI version. Runs before linking so that a version mismatch is
/// reported as such, naming both versions.
pub fn check_exports(
    engine: &Engine,
    component: &Component,
    declared: &[Hook],
) -> Result<(), String> {
    let mut exported = Vec::new();
    for (name, _) in component.component_type().exports(engine) {
        let Some(interface) = name.strip_prefix(PACKAGE).and_then(|n| n.strip_prefix('/')) else {
            continue;
        };
        let (interface, version) = interface.split_once('@').unwrap_or((interface, "(none)"));
        if version != ABI_VERSION {
            return Err(format!(
                "ABI version mismatch: the component exports {name} (version {version}) but this host implements {PACKAGE}@{ABI_VERSION}; rebuild the plugin against plugins/wit ({PACKAGE}@{ABI_VERSION})"
            ));
        }
        let hook = interface
            .parse::<Hook>()
            .map_err(|e| format!("the component exports {name}: {e}"))?;
        exported.push(hook);
    }
    for hook in declared {
        if !exported.contains(hook) {
            return Err(format!(
                "plugin.toml declares hook {hook} but the component does not export {PACKAGE}/{hook}@{ABI_VERSION}"
            ));
        }
    }
    if let Some(extra) = exported.iter().find(|h| !declared.contains(h)) {
        return Err(format!(
            "the component exports hook {extra} but plugin.toml does not declare it in hooks"
        ));
    }
    Ok(())
}

/// Type-checks the linked component against each declared hook's world.
pub fn prepare(pre: InstancePre<CallState>, hooks: &[Hook]) -> wasmtime::Result<Prepared> {
    let has = |hook| hooks.contains(&hook);
    Ok(Prepared {
        autojoin: has(Hook::Autojoin)
            .then(|| autojoin_world::AutojoinPluginPre::new(pre.clone()))
            .transpose()?,
        seat_billing: has(Hook::SeatBilling)
            .then(|| seat_billing_world::SeatBillingPluginPre::new(pre.clone()))
            .transpose()?,
        usage_pricing: has(Hook::UsagePricing)
            .then(|| usage_pricing_world::UsagePricingPluginPre::new(pre))
            .transpose()?,
    })
}

/// Calls `autojoin.decide`. Only candidates that verified the domain are
/// passed, as the WIT promises.
pub fn decide(
    pre: &Prepared,
    store: &mut CallStore,
    signup: &Signup,
    config: &str,
) -> wasmtime::Result<Returned<JoinDecision>> {
    let pre = pre.autojoin.as_ref().ok_or(NotPrepared(Hook::Autojoin))?;
    let domain = signup.domain();
    let input = wit_autojoin::Signup {
        email: signup.normalized_email(),
        candidates: signup
            .candidates
            .iter()
            .filter(|c| c.verifies(&domain))
            .map(|c| wit_autojoin::CandidateOrg {
                org_id: c.org_id.to_string(),
                plan: wit_plan(c.plan),
                verified_domains: c.verified_domains.clone(),
                default_workspace: c.default_workspace.map(|w| w.to_string()),
                seats_used: c.seats_used,
                seat_limit: c.seat_limit,
                autojoin_role: wit_role(c.autojoin_role),
            })
            .collect(),
        domain,
        config: config.to_string(),
    };
    let bindings = pre.instantiate(&mut *store)?;
    sandbox::start_deadline(store);
    let decision = bindings
        .warden_plugin_autojoin()
        .call_decide(&mut *store, &input)?;
    let ids = decision.join.as_ref().map_or(0, |j| {
        j.org_id.len() + j.workspace_ids.iter().map(String::len).sum::<usize>()
    });
    Ok(Returned {
        bytes: decision.reason.len() + ids,
        value: join_decision(decision),
    })
}

/// Calls `seat-billing.seat-charge`.
pub fn seat_charge(
    pre: &Prepared,
    store: &mut CallStore,
    event: &SeatEvent,
    config: &str,
) -> wasmtime::Result<Returned<Charge>> {
    let pre = pre
        .seat_billing
        .as_ref()
        .ok_or(NotPrepared(Hook::SeatBilling))?;
    let input = wit_seat::SeatEvent {
        org_id: event.org_id.to_string(),
        plan: wit_plan(event.plan),
        seat_limit: event.seat_limit,
        seats_used: event.seats_used,
        role: wit_role(event.role),
        seat_price_cents: event.seat_price_cents,
        period_start: event.period_start.unix_timestamp(),
        period_end: event.period_end.unix_timestamp(),
        event_time: event.event_time.unix_timestamp(),
        config: config.to_string(),
    };
    let bindings = pre.instantiate(&mut *store)?;
    sandbox::start_deadline(store);
    let charge = bindings
        .warden_plugin_seat_billing()
        .call_seat_charge(&mut *store, &input)?;
    Ok(Returned {
        bytes: charge.reason.len(),
        value: Ok(Charge {
            amount_cents: charge.amount_cents,
            reason: charge.reason,
        }),
    })
}

/// Calls `usage-pricing.price-run`.
pub fn price_run(
    pre: &Prepared,
    store: &mut CallStore,
    run: &FlowRun,
    config: &str,
) -> wasmtime::Result<Returned<Price>> {
    let pre = pre
        .usage_pricing
        .as_ref()
        .ok_or(NotPrepared(Hook::UsagePricing))?;
    let input = wit_usage::FlowRun {
        org_id: run.org_id.to_string(),
        workspace_id: run.workspace_id.to_string(),
        flow_id: run.flow_id.to_string(),
        run_id: run.run_id.to_string(),
        requested_credits: run.requested_credits,
        duration_ms: run.duration_ms,
        steps: run.steps,
        config: config.to_string(),
    };
    let bindings = pre.instantiate(&mut *store)?;
    sandbox::start_deadline(store);
    let price = bindings
        .warden_plugin_usage_pricing()
        .call_price_run(&mut *store, &input)?;
    Ok(Returned {
        bytes: price.reason.len(),
        value: Ok(Price {
            credits: price.credits,
            reason: price.reason,
        }),
    })
}

/// Converts a decision; ids that are not uuids cannot name a candidate.
fn join_decision(decision: wit_autojoin::Decision) -> Result<JoinDecision, String> {
    let parse = |field: &str, id: &str| {
        uuid::Uuid::parse_str(id).map_err(|_| format!("{field} {id:?} is not an id (uuid)"))
    };
    let join = match decision.join {
        None => None,
        Some(join) => Some(Join {
            org_id: parse("join.org_id", &join.org_id)?,
            workspace_ids: join
                .workspace_ids
                .iter()
                .map(|w| parse("join.workspace_ids[]", w))
                .collect::<Result<_, _>>()?,
            role: org_role(join.role),
        }),
    };
    Ok(JoinDecision {
        join,
        reason: decision.reason,
    })
}

fn wit_role(role: OrgRole) -> wit_types::Role {
    match role {
        OrgRole::Admin => wit_types::Role::Admin,
        OrgRole::Member => wit_types::Role::Member,
        OrgRole::GuestInternal => wit_types::Role::GuestInternal,
        OrgRole::GuestExternal => wit_types::Role::GuestExternal,
    }
}

fn org_role(role: wit_types::Role) -> OrgRole {
    match role {
        wit_types::Role::Admin => OrgRole::Admin,
        wit_types::Role::Member => OrgRole::Member,
        wit_types::Role::GuestInternal => OrgRole::GuestInternal,
        wit_types::Role::GuestExternal => OrgRole::GuestExternal,
    }
}

fn wit_plan(plan: Plan) -> wit_types::Plan {
    match plan {
        Plan::Free => wit_types::Plan::Free,
        Plan::Pro => wit_types::Plan::Pro,
        Plan::Team => wit_types::Plan::Team,
        Plan::Enterprise => wit_types::Plan::Enterprise,
    }
}
