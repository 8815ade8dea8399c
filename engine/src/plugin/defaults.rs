//! The host's built-in rules: what serves a hook when no plugin declares it.
//! They follow the default plugins in `plugins/` (without their config), so
//! removing a default plugin changes nothing but the answer's `plugin`.

use super::types::{Charge, FlowRun, Join, JoinDecision, Price, SeatEvent, Signup};
use crate::store::{OrgRole, Plan};

/// Like `plugins/domain-autojoin`: the first candidate (that verified the
/// domain) with a default workspace wins and the user joins that workspace;
/// if none has one, the first candidate's org only. The role is the
/// winner's autojoin role.
pub fn autojoin(signup: &Signup) -> JoinDecision {
    let domain = signup.domain();
    let candidates: Vec<_> = signup
        .candidates
        .iter()
        .filter(|c| c.verifies(&domain))
        .collect();
    let with_workspace = candidates
        .iter()
        .find_map(|c| c.default_workspace.map(|ws| (*c, ws)));
    let (org, workspace_ids, reason) = match (with_workspace, candidates.first()) {
        (Some((org, ws)), _) => (
            org,
            vec![ws],
            format!(
                "{domain} is a verified domain of org {}; joining its default workspace {ws} as {}",
                org.org_id,
                wit_role(org.autojoin_role)
            ),
        ),
        (None, Some(org)) => (
            *org,
            Vec::new(),
            format!(
                "{domain} is a verified domain of org {}, which has no default workspace; joining the organization as {}",
                org.org_id,
                wit_role(org.autojoin_role)
            ),
        ),
        (None, None) => {
            return JoinDecision {
                join: None,
                reason: format!("no organization has verified {domain}"),
            }
        }
    };
    JoinDecision {
        join: Some(Join {
            org_id: org.org_id,
            workspace_ids,
            role: org.autojoin_role,
        }),
        reason,
    }
}

/// Like `plugins/seat-billing`: a seat beyond the limit of a paid plan costs
/// `round_half_up(price × remaining ÷ period)` cents; everything else is free.
pub fn seat_charge(event: &SeatEvent) -> Charge {
    let free = |reason: String| Charge {
        amount_cents: 0,
        reason,
    };
    if event.plan == Plan::Free {
        return free("free plan: seats are not billed".into());
    }
    if event.role == OrgRole::GuestExternal {
        return free("external guests are free".into());
    }
    if event.seat_limit == 0 {
        return free(format!(
            "within the seat limit ({}/unlimited)",
            event.seats_used
        ));
    }
    if event.seats_used < event.seat_limit {
        return free(format!(
            "within the seat limit ({}/{})",
            event.seats_used, event.seat_limit
        ));
    }
    let start = i128::from(event.period_start.unix_timestamp());
    let end = i128::from(event.period_end.unix_timestamp());
    let period = end - start;
    if period <= 0 {
        return free(format!(
            "invalid billing period ({start}..{end}): not billed"
        ));
    }
    let remaining = (end - i128::from(event.event_time.unix_timestamp())).clamp(0, period);
    let (period, remaining) = (period as u128, remaining as u128);
    let price = u128::from(event.seat_price_cents);
    // Round half up; remaining <= period, so the amount is <= the price.
    let amount = (price * remaining * 2 + period) / (2 * period);
    let amount = u64::try_from(amount).expect("amount <= seat price");
    Charge {
        amount_cents: amount,
        reason: format!(
            "seat {} of limit {} on plan {}: {amount} cents = {price} × {remaining}/{period} s remaining",
            u64::from(event.seats_used) + 1,
            event.seat_limit,
            event.plan.as_str(),
        ),
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
