//! The host's built-in rules: what serves a hook when no plugin declares it.
//! They are the default plugins' rules (`plugins/default-rules`, without the
//! plugins' config), so removing a default plugin changes nothing but the
//! answer's `plugin`.

use warden_default_rules as rules;

use super::types::{Charge, FlowRun, Join, JoinDecision, Price, SeatEvent, Signup};
use crate::store::{OrgRole, Plan};

/// Like `plugins/domain-autojoin` (the same rule, `warden_default_rules`):
/// the first candidate that verified the domain and has a default workspace
/// wins and the user joins that workspace; if none has one, the first
/// candidate's org only. The role is the winner's autojoin role.
pub fn autojoin(signup: &Signup) -> JoinDecision {
    let domain = signup.domain();
    let verified: Vec<_> = signup
        .candidates
        .iter()
        .filter(|c| c.verifies(&domain))
        .collect();
    let candidates: Vec<_> = verified
        .iter()
        .map(|c| rules::Candidate {
            org_id: c.org_id,
            default_workspace: c.default_workspace,
            role: wit_role(c.autojoin_role),
        })
        .collect();
    match rules::autojoin(&domain, &candidates) {
        Ok(joining) => {
            let org = verified[joining.candidate];
            let workspace_ids = match (joining.default_workspace, org.default_workspace) {
                (true, Some(ws)) => vec![ws],
                _ => Vec::new(),
            };
            JoinDecision {
                join: Some(Join {
                    org_id: org.org_id,
                    workspace_ids,
                    role: org.autojoin_role,
                }),
                reason: joining.reason,
            }
        }
        Err(reason) => JoinDecision { join: None, reason },
    }
}

/// Like `plugins/seat-billing` (the same rule, `warden_default_rules`): a
/// seat beyond the limit of a paid plan costs
/// `round_half_up(price × remaining ÷ period)` cents; everything else is free.
pub fn seat_charge(event: &SeatEvent) -> Charge {
    let charge = rules::seat_charge(&rules::Seat {
        plan: event.plan.as_str(),
        free_plan: event.plan == Plan::Free,
        external_guest: event.role == OrgRole::GuestExternal,
        seat_limit: event.seat_limit,
        seats_used: event.seats_used,
        seat_price_cents: event.seat_price_cents,
        period_start: event.period_start.unix_timestamp(),
        period_end: event.period_end.unix_timestamp(),
        event_time: event.event_time.unix_timestamp(),
    });
    Charge {
        amount_cents: charge.amount_cents,
        reason: charge.reason,
    }
}

/// Like `plugins/usage-pricing` without config: a run costs the credits its
/// caller requested.
pub fn price_run(run: &FlowRun) -> Price {
    Price {
        credits: run.requested_credits,
        reason: format!("{} requested credits", run.requested_credits),
    }
}

/// The WIT spelling of a role, so built-in reasons read like the plugins'.
fn wit_role(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Admin => "admin",
        OrgRole::Member => "member",
        OrgRole::GuestInternal => "guest-internal",
        OrgRole::GuestExternal => "guest-external",
    }
}
