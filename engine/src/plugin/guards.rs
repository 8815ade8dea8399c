//! Rules the host enforces on every hook answer, whoever produced it (a
//! plugin or the built-in default). A plugin cannot override them: an answer
//! that breaks one is refused as `invalid_output` (fail closed), and some
//! inputs never reach a plugin at all.

use super::types::{Charge, FlowRun, JoinDecision, Price, SeatEvent, Signup, MAX_CREDITS_PER_RUN};
use crate::fields::refused_domain;
use crate::store::OrgRole;

/// The answer for a signup the host refuses before any plugin runs.
pub fn autojoin_precheck(signup: &Signup) -> Option<JoinDecision> {
    let domain = signup.domain();
    refused_domain(&domain).map(|what| JoinDecision {
        join: None,
        reason: format!("{domain} is {what}: users of it never auto-join"),
    })
}

/// A join must name a candidate org that verified the email's domain, add
/// the user only to that org's default workspace (the only workspace the
/// host told the plugin about), each at most once, never as an admin (an
/// org's admins are chosen by people, not by an email domain) and never in
/// a role above the org's `autojoin_role` (its admins' choice).
pub fn check_join(signup: &Signup, decision: &JoinDecision) -> Result<(), String> {
    let Some(join) = &decision.join else {
        return Ok(());
    };
    let domain = signup.domain();
    if refused_domain(&domain).is_some() {
        return Err(format!("{domain} never auto-joins"));
    }
    let Some(org) = signup.candidates.iter().find(|c| c.org_id == join.org_id) else {
        return Err(format!(
            "join names org {}, which is not a candidate",
            join.org_id
        ));
    };
    if !org.verifies(&domain) {
        return Err(format!("org {} has not verified {domain}", org.org_id));
    }
    for (i, workspace) in join.workspace_ids.iter().enumerate() {
        if Some(*workspace) != org.default_workspace {
            return Err(format!(
                "workspace {workspace} is not the default workspace of org {}",
                org.org_id
            ));
        }
        if join.workspace_ids[..i].contains(workspace) {
            return Err(format!("workspace {workspace} is listed twice"));
        }
    }
    if join.role == OrgRole::Admin {
        return Err("auto-join never grants the admin role".to_string());
    }
    if join.role.rank() > org.autojoin_role.rank() {
        return Err(format!(
            "role {} is above org {}'s autojoin_role {}",
            join.role.as_str(),
            org.org_id,
            org.autojoin_role.as_str()
        ));
    }
    Ok(())
}

/// The answer for a seat event the host prices itself: external guests take
/// no seat and are never charged.
pub fn seat_precheck(event: &SeatEvent) -> Option<Charge> {
    (event.role == OrgRole::GuestExternal).then(|| Charge {
        amount_cents: 0,
        reason: "external guests take no seat and are never charged".to_string(),
    })
}

/// A charge is never above the seat price, and an external guest is free.
pub fn check_charge(event: &SeatEvent, charge: &Charge) -> Result<(), String> {
    if charge.amount_cents > event.seat_price_cents {
        return Err(format!(
            "charge of {} cents is above the seat price of {} cents",
            charge.amount_cents, event.seat_price_cents
        ));
    }
    if event.role == OrgRole::GuestExternal && charge.amount_cents > 0 {
        return Err("external guests are never charged".to_string());
    }
    Ok(())
}

/// A run never costs more than [`MAX_CREDITS_PER_RUN`].
pub fn check_price(_run: &FlowRun, price: &Price) -> Result<(), String> {
    if price.credits > MAX_CREDITS_PER_RUN {
        return Err(format!(
            "{} credits is above the maximum of {MAX_CREDITS_PER_RUN} per run",
            price.credits
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::plugin::types::{CandidateOrg, Join};
    use crate::store::Plan;

    const ORG: Uuid = Uuid::from_u128(1);
    const WORKSPACE: Uuid = Uuid::from_u128(2);

    fn signup(email: &str) -> Signup {
        signup_with_role(email, OrgRole::Member)
    }

    fn signup_with_role(email: &str, autojoin_role: OrgRole) -> Signup {
        Signup {
            email: email.into(),
            candidates: vec![CandidateOrg {
                org_id: ORG,
                plan: Plan::Pro,
                verified_domains: vec!["acme.com".into()],
                default_workspace: Some(WORKSPACE),
                seats_used: 0,
                seat_limit: 0,
                autojoin_role,
            }],
        }
    }

    fn join(org_id: Uuid, workspace_ids: Vec<Uuid>, role: OrgRole) -> JoinDecision {
        JoinDecision {
            join: Some(Join {
                org_id,
                workspace_ids,
                role,
            }),
            reason: String::new(),
        }
    }

    #[test]
    fn joins_are_limited_to_verified_candidates_and_their_default_workspace() {
        let ok = join(ORG, vec![WORKSPACE], OrgRole::Member);
        assert_eq!(check_join(&signup("a@acme.com"), &ok), Ok(()));
        let refused = [
            (signup("a@other.com"), ok.clone(), "has not verified"),
            (signup("a@gmail.com"), ok.clone(), "never auto-joins"),
            (
                signup("a@acme.com"),
                join(Uuid::from_u128(9), vec![], OrgRole::Member),
                "not a candidate",
            ),
            (
                signup("a@acme.com"),
                join(ORG, vec![Uuid::from_u128(9)], OrgRole::Member),
                "not the default workspace",
            ),
            (
                signup("a@acme.com"),
                join(ORG, vec![WORKSPACE, WORKSPACE], OrgRole::Member),
                "twice",
            ),
            (
                signup("a@acme.com"),
                join(ORG, vec![WORKSPACE], OrgRole::Admin),
                "admin",
            ),
            (
                signup_with_role("a@acme.com", OrgRole::GuestInternal),
                join(ORG, vec![WORKSPACE], OrgRole::Member),
                "above org 00000000-0000-0000-0000-000000000001's autojoin_role guest_internal",
            ),
            (
                signup_with_role("a@acme.com", OrgRole::GuestExternal),
                join(ORG, vec![], OrgRole::GuestInternal),
                "above",
            ),
        ];
        for (input, decision, expected) in refused {
            let error = check_join(&input, &decision).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }

    proptest::proptest! {
        /// Whatever role an org chose for auto-joined users, a plugin may
        /// give that role or a lesser one, never a greater one.
        #[test]
        fn auto_joined_roles_never_exceed_the_orgs_choice(
            chosen in proptest::sample::select(OrgRole::ALL[1..].to_vec()),
            given in proptest::sample::select(OrgRole::ALL.to_vec()),
        ) {
            let decision = join(ORG, vec![WORKSPACE], given);
            let allowed = check_join(&signup_with_role("a@acme.com", chosen), &decision).is_ok();
            proptest::prop_assert_eq!(allowed, given.rank() <= chosen.rank());
        }
    }
}
