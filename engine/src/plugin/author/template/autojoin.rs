//! {{name}}: a Warden plugin for the `autojoin` hook, which decides whether
//! a user who signs up joins one of the orgs that verified their email's
//! domain, and how.
//!
//! The host has already turned away free-mail and disposable domains, and
//! passes only the orgs that verified the domain. It checks the answer as
//! well: a join must name one of those orgs, add the user to at most its
//! default workspace, and never as an admin.
//!
//! The example rule: join the first org with a seat left, into its default
//! workspace, in the role its admins chose for auto-joined users.

use warden_plugin_sdk::autojoin::{CandidateOrg, Decision, Guest, Join, Signup};
use warden_plugin_sdk::{info, Config};

struct Plugin;

impl Guest for Plugin {
    fn decide(input: Signup) -> Decision {
        let decision = decide(&input);
        // Log lines come back with the answer (`warden plugin test` prints them).
        info(&decision.reason);
        decision
    }
}

fn decide(input: &Signup) -> Decision {
    // plugin.toml's [config], as JSON text; warns about keys nobody reads.
    let config = Config::parse_or_fail(&input.config);
    config.warn_unknown(&[]);
    match input.candidates.iter().find(|org| has_a_seat_left(org)) {
        Some(org) => Decision {
            join: Some(Join {
                org_id: org.org_id.clone(),
                workspace_ids: org.default_workspace.iter().cloned().collect(),
                role: org.autojoin_role,
            }),
            reason: format!("{} joins org {}, which has a seat left", input.email, org.org_id),
        },
        None => Decision {
            join: None,
            reason: format!("no org that verified {} has a seat left", input.domain),
        },
    }
}

/// A seat limit of 0 means unlimited.
fn has_a_seat_left(org: &CandidateOrg) -> bool {
    org.seat_limit == 0 || org.seats_used < org.seat_limit
}

warden_plugin_sdk::export_autojoin!(Plugin);
