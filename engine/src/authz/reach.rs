//! What a search by the store's indexes may miss. A search (`app::access`)
//! takes its candidates from the indexes — the principal's orgs and their
//! workspaces and resources, or the members of the resource's org — and
//! confirms each by a check. That finds every allowed pair only if no
//! policy can allow a principal outside the resource's org, and its answer
//! holds for other requests only if no policy reads the request's
//! `context`. Both are read here from the policies themselves, in Cedar's
//! JSON policy format (`Policy::to_json`), for one kind of request (the
//! policies whose scope can match it, `RequestKind::policies`).
//!
//! A permit stays inside the org when one `when` conjunct is
//! `principal in resource` or `principal in resource.a.b…` through the
//! attributes by which a stored entity names its own org, workspace or
//! their role groups ([`membership_link`]): a check gives the principal
//! parents in the resource's org alone (`entities`), so such a test holds
//! only for a member of it. A forbid with an unconstrained principal and
//! resource scope whose conditions are only `resource has <such an
//! attribute>` and `!(principal in <such a path>)` (or `unless { principal
//! in <such a path> }`) is a guard: it keeps every permit of the kind
//! inside the org (the default `no-cross-org` guards). Anything else is
//! reported, never guessed.

use cedar_policy::{Effect, Policy};
use serde_json::Value;

use crate::policy::RequestKind;
use crate::store::{OrgRole, WorkspaceRole};

/// Why a search's answer may not be everything single checks would allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gap {
    /// The policy reads the request's `context`: the answer holds for the
    /// context the search sent, and a check sending another may differ.
    ReadsContext {
        /// The policy's id.
        policy: String,
    },
    /// The permit may allow a principal outside the resource's org, whom
    /// the store's indexes do not offer as a candidate, and no guard
    /// forbids that.
    Unbounded {
        /// The permit's id.
        policy: String,
    },
}

impl Gap {
    /// The gap in words, naming the policy.
    pub fn reason(&self) -> String {
        match self {
            Gap::ReadsContext { policy } => format!(
                "policy {policy} reads the request context: these results hold for the context sent, and a check with another context may decide otherwise"
            ),
            Gap::Unbounded { policy } => format!(
                "policy {policy} may permit principals outside the resource's organization (no `when` condition ties it to membership and no guard forbids it), whom the search does not enumerate"
            ),
        }
    }
}

/// The first gap of a search over requests of `kind`. `enumerated` says
/// the candidates are every pair that could be asked (the actions of a
/// resource), so only the context matters; otherwise they are the pairs of
/// a member and a resource of one org.
pub fn search_gap(kind: &RequestKind, enumerated: bool) -> Option<Gap> {
    let policies: Vec<(String, Effect, Value)> = kind
        .policies
        .policies()
        .map(|policy| (policy.id().to_string(), policy.effect(), est(policy)))
        .collect();
    if let Some((id, ..)) = policies.iter().find(|(_, _, est)| reads_context(est)) {
        return Some(Gap::ReadsContext { policy: id.clone() });
    }
    if enumerated {
        return None;
    }
    let resource = kind.resource_type();
    let guarded = policies
        .iter()
        .any(|(_, effect, est)| *effect == Effect::Forbid && is_guard(est, &resource));
    if guarded {
        return None;
    }
    policies
        .iter()
        .find(|(_, effect, est)| *effect == Effect::Permit && !tied_to_membership(est, &resource))
        .map(|(id, ..)| Gap::Unbounded { policy: id.clone() })
}

/// The policy in Cedar's JSON format; `null` if it has none (then it reads
/// as a permit with no condition, the most open reading).
fn est(policy: &Policy) -> Value {
    policy.to_json().unwrap_or(Value::Null)
}

/// The entity type that a stored entity of type `kind` names by attribute
/// `attr`, when that is its own org, workspace or one of their role groups
/// (as `entities` builds them); `None` for any other attribute.
pub fn membership_link(kind: &str, attr: &str) -> Option<&'static str> {
    let org_role = || OrgRole::ALL.iter().any(|role| role.org_attribute() == attr);
    let workspace_role = || {
        WorkspaceRole::ALL
            .iter()
            .any(|role| role.workspace_attribute() == attr)
    };
    match (kind, attr) {
        ("Org", _) => org_role().then_some("OrgRole"),
        ("Workspace", "org") => Some("Org"),
        ("Workspace", _) => workspace_role().then_some("WorkspaceRole"),
        ("User" | "OrgRole" | "WorkspaceRole", _) => None,
        // A workspace resource (Flow, Credential, Folder…).
        (_, "org") => Some("Org"),
        (_, "workspace") => Some("Workspace"),
        _ => None,
    }
}

/// Whether `value` mentions the variable `context` anywhere.
fn reads_context(value: &Value) -> bool {
    match value {
        Value::Object(object) => {
            object.get("Var").is_some_and(|var| var == "context")
                || object.values().any(reads_context)
        }
        Value::Array(items) => items.iter().any(reads_context),
        _ => false,
    }
}

/// The `when` bodies and `unless` bodies of a policy.
fn conditions<'a>(est: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> {
    est["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |condition| condition["kind"] == kind)
        .map(|condition| &condition["body"])
}

/// The operands of an `&&` chain, or the expression itself.
fn conjuncts(expression: &Value) -> Vec<&Value> {
    match expression.get("&&") {
        Some(and) => {
            let mut all = conjuncts(&and["left"]);
            all.extend(conjuncts(&and["right"]));
            all
        }
        None => vec![expression],
    }
}

/// Whether one `when` conjunct of a permit is a membership test.
fn tied_to_membership(est: &Value, resource: &str) -> bool {
    conditions(est, "when")
        .flat_map(conjuncts)
        .any(|conjunct| is_membership(conjunct, resource))
}

/// `principal in <path from resource>` (see [`membership_link`]).
fn is_membership(expression: &Value, resource: &str) -> bool {
    let Some(test) = expression.get("in") else {
        return false;
    };
    test["left"] == serde_json::json!({"Var": "principal"})
        && path_type(&test["right"], resource).is_some()
}

/// The entity type `resource.a.b…` names through membership links.
fn path_type(path: &Value, resource: &str) -> Option<String> {
    if *path == serde_json::json!({"Var": "resource"}) {
        return Some(resource.to_string());
    }
    let step = path.get(".")?;
    let parent = path_type(&step["left"], resource)?;
    membership_link(&parent, step["attr"].as_str()?).map(str::to_string)
}

/// Whether a forbid is a guard (see the module's text): it forbids every
/// principal outside the resource's org, whatever else it forbids.
fn is_guard(est: &Value, resource: &str) -> bool {
    let unscoped = |slot: &str| {
        let scope = &est[slot];
        scope["op"] == "All" || (scope["op"] == "is" && scope.get("in").is_none())
    };
    let when_guards = conditions(est, "when")
        .flat_map(conjuncts)
        .all(|conjunct| is_link_test(conjunct, resource) || is_outsider_test(conjunct, resource));
    let unless_guards = conditions(est, "unless").all(|body| is_membership(body, resource));
    unscoped("principal") && unscoped("resource") && when_guards && unless_guards
}

/// `resource has <a membership attribute>`: true of every stored entity
/// of the type.
fn is_link_test(expression: &Value, resource: &str) -> bool {
    let Some(has) = expression.get("has") else {
        return false;
    };
    has["left"] == serde_json::json!({"Var": "resource"})
        && has["attr"]
            .as_str()
            .is_some_and(|attr| membership_link(resource, attr).is_some())
}

/// `!(principal in <path from resource>)`.
fn is_outsider_test(expression: &Value, resource: &str) -> bool {
    expression
        .get("!")
        .is_some_and(|not| is_membership(&not["arg"], resource))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::PolicyEngine;

    /// The default policies leave no gap for any action and type: the
    /// `no-cross-org` guards keep every permit inside the org.
    #[test]
    fn the_default_policies_leave_no_gap() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let snapshot = PolicyEngine::open(&dir).unwrap().current();
        for action in snapshot.action_names() {
            for kind in snapshot.request_kinds(&action) {
                assert_eq!(
                    search_gap(kind, false),
                    None,
                    "{action} on {}",
                    kind.resource_type()
                );
            }
        }
    }

    /// Without the guards, a permit not tied to membership is a gap: the
    /// owner of a personal credential need be no member of its org.
    #[test]
    fn without_the_guards_an_owner_permit_is_a_gap() {
        let defaults = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(defaults).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && !path.ends_with("guards.cedar") {
                std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        let snapshot = PolicyEngine::open(dir.path()).unwrap().current();
        let kinds = snapshot.request_kinds("RevealCredential");
        let kind = kinds
            .iter()
            .find(|kind| kind.resource_type() == "Credential")
            .unwrap();
        let owner = "owner-reveal-personal-credential".to_string();
        assert_eq!(
            search_gap(kind, false),
            Some(Gap::Unbounded { policy: owner })
        );
        assert_eq!(
            search_gap(kind, true),
            None,
            "the actions of one pair are all asked"
        );
    }

    fn parsed(text: &str) -> Value {
        let policy: Policy = text.parse().unwrap();
        est(&policy)
    }

    #[test]
    fn membership_tests_follow_links_from_the_resource() {
        let tied = |when: &str| {
            let est = parsed(&format!(
                "permit (principal, action, resource) when {{ {when} }};"
            ));
            tied_to_membership(&est, "Flow")
        };
        assert!(tied("principal in resource.org.members"));
        assert!(tied(
            "resource has workspace && principal in resource.workspace.editors"
        ));
        assert!(tied("principal in resource"));
        assert!(!tied("principal in resource.shared_with"));
        assert!(!tied("principal in resource.org.members || true"));
        assert!(!tied("resource.owner == principal"));
    }

    #[test]
    fn guards_forbid_every_outsider() {
        let guard = |text: &str, resource: &str| is_guard(&parsed(text), resource);
        let no_cross_org =
            "forbid (principal, action, resource) when { resource has org && !(principal in resource.org) };";
        assert!(guard(no_cross_org, "Flow"));
        assert!(guard(no_cross_org, "Workspace"));
        // An org has no `org`: the test is false, the forbid never fires.
        assert!(!guard(no_cross_org, "Org"));
        assert!(guard(
            "forbid (principal, action, resource is Org) unless { principal in resource };",
            "Org"
        ));
        assert!(!guard(
            "forbid (principal, action, resource in Workspace::\"w\") when { !(principal in resource.org) };",
            "Flow"
        ));
        assert!(!guard(
            "forbid (principal, action, resource) when { !(principal in resource.org) && context.strict };",
            "Flow"
        ));
    }

    #[test]
    fn context_is_found_at_any_depth() {
        assert!(reads_context(&parsed(
            "permit (principal, action, resource) when { principal in resource.org && (context has ip) };"
        )));
        assert!(!reads_context(&parsed(
            "permit (principal, action, resource) when { principal in resource.org };"
        )));
    }
}
