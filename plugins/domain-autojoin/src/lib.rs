//! Default `autojoin` plugin: a user whose email domain an organization has
//! verified joins that organization.
//!
//! The host only passes candidates that verified the domain, in its own
//! order, and has already refused free-mail and disposable domains. Among
//! the candidates the first one with a default workspace wins (the user
//! joins that workspace); if none has one, the user joins the first
//! candidate's organization only. The role is the winner's autojoin role.
//!
//! Config: `{"skip_domains": ["contractors.acme.com"]}` — users of these
//! domains (exact match, case-insensitive) never auto-join.

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
    if input.candidates.is_empty() {
        return none(format!("no organization has verified {domain}"));
    }

    let with_workspace = input.candidates.iter().find_map(|c| match &c.default_workspace {
        Some(ws) if !ws.is_empty() => Some((c, ws.clone())),
        _ => None,
    });
    let (org, workspace_ids, reason) = match with_workspace {
        Some((org, ws)) => {
            let reason = format!(
                "{domain} is a verified domain of org {}; joining its default workspace {ws} as {}",
                org.org_id,
                role_name(org.autojoin_role)
            );
            (org, vec![ws], reason)
        }
        None => {
            let org = &input.candidates[0];
            let reason = format!(
                "{domain} is a verified domain of org {}, which has no default workspace; joining the organization as {}",
                org.org_id,
                role_name(org.autojoin_role)
            );
            (org, Vec::new(), reason)
        }
    };
    Decision {
        join: Some(Join { org_id: org.org_id.clone(), workspace_ids, role: org.autojoin_role }),
        reason,
    }
}

fn none(reason: String) -> Decision {
    Decision { join: None, reason }
}

warden_plugin_sdk::export_autojoin!(Plugin);
