//! Default `autojoin` plugin: a user whose email domain an organization has
//! verified joins that organization.
//!
//! The host only passes candidates that verified the domain, in its own
//! order, and has already refused free-mail and disposable domains. The
//! choice among them is `warden_default_rules::autojoin` (the first one with
//! a default workspace wins; else the first one, without a workspace), which
//! the host's built-in autojoin hook also runs.
//!
//! Config: `{"skip_domains": ["contractors.acme.com"]}` — users of these
//! domains (exact match, case-insensitive) never auto-join.

use warden_default_rules as rules;
use warden_plugin_sdk::autojoin::{Decision, Guest, Join, Signup};
use warden_plugin_sdk::{info, role_name, Config};

struct Plugin;

impl Guest for Plugin {
    fn decide(input: Signup) -> Decision {
        let decision = decide(input);
        info(&decision.reason);
        decision
    }
}

fn decide(input: Signup) -> Decision {
    let config = Config::parse_or_fail(&input.config);
    config.warn_unknown(&["skip_domains"]);
    let skip = config.strings("skip_domains").unwrap_or_else(|e| warden_plugin_sdk::fail(&e));
    let domain = input.domain;

    if skip.iter().any(|d| d.trim().eq_ignore_ascii_case(&domain)) {
        return none(format!("{domain} is in this plugin's skip_domains; not auto-joining"));
    }
    let candidates: Vec<_> = input
        .candidates
        .iter()
        .map(|c| rules::Candidate {
            org_id: c.org_id.as_str(),
            default_workspace: c.default_workspace.as_deref().filter(|ws| !ws.is_empty()),
            role: role_name(c.autojoin_role),
        })
        .collect();
    match rules::autojoin(&domain, &candidates) {
        Ok(joining) => {
            let org = &input.candidates[joining.candidate];
            let workspace_ids = match candidates[joining.candidate].default_workspace {
                Some(ws) if joining.default_workspace => vec![ws.to_string()],
                _ => Vec::new(),
            };
            Decision {
                join: Some(Join { org_id: org.org_id.clone(), workspace_ids, role: org.autojoin_role }),
                reason: joining.reason,
            }
        }
        Err(reason) => none(reason),
    }
}

fn none(reason: String) -> Decision {
    Decision { join: None, reason }
}

warden_plugin_sdk::export_autojoin!(Plugin);
