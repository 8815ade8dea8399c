//! AuthZEN's words for Warden's: a Subject, Action and Resource become the
//! principal, action and resource of a [`CheckRequest`], answered by
//! [`App::check_against`] as `POST /v1/authorize` answers it, and the
//! decision becomes an AuthZEN Decision.
//!
//! - **Types.** A type of the policy schema, spelled as there (`User`,
//!   `Flow`, `WorkspaceRole`) or in the snake case AuthZEN examples use
//!   (`user`, `flow`, `workspace_role`; `-` separates words too). Any other
//!   type is a 400 naming the field and the schema's types.
//! - **Actions.** An action of the schema, as there (`RunResource`) or in
//!   snake case (`run_resource`).
//! - **Ids.** Warden's ids are uuids: any spelling `uuid` reads
//!   (upper case, braces, `urn:uuid:`) stands for the canonical one, as in
//!   paths. A `User` may also be named by email address (normalised as
//!   everywhere), which names the user with that email, if any.
//! - **Properties** of subject, action and resource are not used: Warden
//!   decides from what it stores and does not take a PEP's word for a
//!   stored entity's attributes. The answer lists them as ignored.
//! - **Context** is the check's Cedar context, validated against the
//!   action's declaration in the schema like `/v1/authorize`'s.

use uuid::Uuid;

use super::model::{
    AdminReason, AuthzenAction, AuthzenEntity, DecisionContext, Evaluated, EvaluationResponse,
    ItemError, Object,
};
use crate::app::App;
use crate::authz::{self, CheckRequest, Decision, EntityRef};
use crate::error::{Error, Result};
use crate::fields;
use crate::http::ApiState;
use crate::policy::PolicySnapshot;

/// The type a `User` has in the policy schema (the principal of every
/// action in Warden's default schema).
const USER: &str = "User";

/// One AuthZEN question, its defaults applied.
pub struct Question<'a> {
    /// Who would act.
    pub subject: &'a AuthzenEntity,
    /// What they would do.
    pub action: &'a AuthzenAction,
    /// On what.
    pub resource: &'a AuthzenEntity,
    /// In which context.
    pub context: Option<&'a Object>,
}

impl Question<'_> {
    /// Decides the question, asked at `asked_at`, against `snapshot` as
    /// `POST /v1/authorize` would decide its translation.
    pub fn decide(
        &self,
        state: &ApiState,
        snapshot: &PolicySnapshot,
        asked_at: std::time::Instant,
    ) -> Result<EvaluationResponse> {
        let check = self.check(&state.app, snapshot)?;
        let decision = crate::http::checks::decide(state, snapshot, &check, asked_at)
            .map_err(in_authzen_terms)?;
        Ok(answer(snapshot, check, decision, self.ignored()))
    }

    /// The question as a Warden check.
    fn check(&self, app: &App, snapshot: &PolicySnapshot) -> Result<CheckRequest> {
        Ok(CheckRequest {
            principal: entity(app, snapshot, self.subject, "subject")?,
            action: EntityRef::new("Action", action(snapshot, self.action)?),
            resource: entity(app, snapshot, self.resource, "resource")?,
            context: self.context.cloned().unwrap_or_default(),
            entities: Vec::new(),
        })
    }

    /// The fields of the question Warden does not use.
    fn ignored(&self) -> Vec<&'static str> {
        let given =
            |properties: &Option<Object>| properties.as_ref().is_some_and(|p| !p.is_empty());
        [
            ("subject.properties", given(&self.subject.properties)),
            ("action.properties", given(&self.action.properties)),
            ("resource.properties", given(&self.resource.properties)),
        ]
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
        .collect()
    }
}

/// The Warden entity an AuthZEN subject or resource names; `field` is
/// `subject` or `resource`, for errors.
pub(super) fn entity(
    app: &App,
    snapshot: &PolicySnapshot,
    entity: &AuthzenEntity,
    field: &str,
) -> Result<EntityRef> {
    let kind = entity_type(snapshot, &entity.kind, field)?;
    let id = if kind == USER && entity.id.contains('@') {
        user_by_email(app, &entity.id)?
    } else {
        canonical(&entity.id)
    };
    Ok(EntityRef { kind, id })
}

/// The schema's entity type an AuthZEN `type` names; `field` is `subject`
/// or `resource`, for errors.
pub(super) fn entity_type(snapshot: &PolicySnapshot, kind: &str, field: &str) -> Result<String> {
    warden_name(kind, |name| snapshot.declares_entity_type(name)).ok_or_else(|| {
        unknown(
            &format!("{field}.type"),
            kind,
            "entity type",
            snapshot.entity_type_names(),
        )
    })
}

/// The id of the user with email `email`, or `email` itself when it is not
/// an address Warden holds (it then names no one, and no policy permits
/// no one).
fn user_by_email(app: &App, email: &str) -> Result<String> {
    let Ok(normalised) = fields::email("subject.id", email) else {
        return Ok(email.to_string());
    };
    Ok(match app.store.user_by_email(&normalised)? {
        Some(user) => user.id.to_string(),
        None => email.to_string(),
    })
}

/// `id` with a uuid spelled canonically, whole or before the `/` of a role
/// group id (`<org id>/admin`); any other id as it is.
fn canonical(id: &str) -> String {
    let (head, rest) = match id.split_once('/') {
        Some((head, rest)) => (head, Some(rest)),
        None => (id, None),
    };
    match (Uuid::try_parse(head), rest) {
        (Ok(uuid), Some(rest)) => format!("{uuid}/{rest}"),
        (Ok(uuid), None) => uuid.to_string(),
        (Err(_), _) => id.to_string(),
    }
}

/// The id of the schema's action an AuthZEN action names.
pub(super) fn action(snapshot: &PolicySnapshot, action: &AuthzenAction) -> Result<String> {
    warden_name(&action.name, |name| snapshot.declares_action(name)).ok_or_else(|| {
        unknown(
            "action.name",
            &action.name,
            "action",
            snapshot.action_names(),
        )
    })
}

/// The schema's name `name` stands for: itself if `declared`, else its
/// PascalCase form if that is.
fn warden_name(name: &str, declared: impl Fn(&str) -> bool) -> Option<String> {
    if declared(name) {
        return Some(name.to_string());
    }
    let pascal = pascal_case(name);
    declared(&pascal).then_some(pascal)
}

/// `run_resource` → `RunResource`: each word (split at `_` and `-`) with
/// its first letter in upper case, the rest as written (`runResource` →
/// `RunResource`).
fn pascal_case(name: &str) -> String {
    name.split(['_', '-'])
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars))
                .into_iter()
                .flatten()
        })
        .collect()
}

/// A 400 for a name the schema lacks, listing the ones it has.
fn unknown(field: &str, name: &str, what: &str, mut known: Vec<String>) -> Error {
    known.sort_unstable();
    Error::invalid(
        field,
        format!(
            "{name:?} names no {what} of the policy schema; it has {}",
            known.join(", ")
        ),
    )
}

/// An error of the check, naming the AuthZEN field instead of Warden's
/// (`principal` is the `subject`, an action's `id` or `type` its `name`).
pub(super) fn in_authzen_terms(error: Error) -> Error {
    let Error::Invalid { field, message } = error else {
        return error;
    };
    let field = match field.split_once('.') {
        Some(("principal", rest)) => format!("subject.{rest}"),
        Some(("action", _)) => "action.name".to_string(),
        _ => field,
    };
    Error::Invalid { field, message }
}

/// The AuthZEN Decision for Warden's.
fn answer(
    snapshot: &PolicySnapshot,
    check: CheckRequest,
    decision: Decision,
    ignored: Vec<&'static str>,
) -> EvaluationResponse {
    let reason_user = authz::end_user_reason(snapshot, &decision);
    EvaluationResponse {
        decision: decision.allowed(),
        context: DecisionContext::Reasons {
            reason_user,
            reason_admin: Box::new(AdminReason {
                explanation: decision.explanation,
                policies: decision.diagnostics.reason,
                errors: decision.diagnostics.errors,
                policy_revision: decision.policy_revision,
                evaluated: Evaluated {
                    principal: check.principal,
                    action: check.action,
                    resource: check.resource,
                },
                ignored,
            }),
        },
    }
}

/// The Decision of an item that could not be evaluated: closed, with the
/// error in its context (§"Errors").
pub fn failed(error: &Error) -> EvaluationResponse {
    EvaluationResponse {
        decision: false,
        context: DecisionContext::Failed {
            error: ItemError {
                status: crate::http::status(error).as_u16(),
                code: error.code(),
                message: error.to_string(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_taken_as_written_or_from_snake_case() {
        let declared = |name: &str| ["User", "WorkspaceRole", "RunResource"].contains(&name);
        for (given, expected) in [
            ("User", Some("User")),
            ("user", Some("User")),
            ("workspace_role", Some("WorkspaceRole")),
            ("workspace-role", Some("WorkspaceRole")),
            ("workspaceRole", Some("WorkspaceRole")),
            ("run_resource", Some("RunResource")),
            ("RunResource", Some("RunResource")),
            ("USER", None),
            ("", None),
            ("_", None),
            ("flow", None),
        ] {
            assert_eq!(
                warden_name(given, declared).as_deref(),
                expected,
                "{given:?}"
            );
        }
    }

    #[test]
    fn uuids_are_spelled_canonically() {
        let id = "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e01";
        for spelling in [
            id.to_string(),
            id.to_uppercase(),
            format!("{{{id}}}"),
            format!("urn:uuid:{id}"),
            id.replace('-', ""),
        ] {
            assert_eq!(canonical(&spelling), id, "{spelling}");
            assert_eq!(
                canonical(&format!("{spelling}/admin")),
                format!("{id}/admin")
            );
        }
        assert_eq!(canonical("record-1"), "record-1");
        assert_eq!(canonical("a/b"), "a/b");
    }

    #[test]
    fn check_errors_name_authzen_fields() {
        let renamed = |field: &str| match in_authzen_terms(Error::invalid(field, "bad")) {
            Error::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(renamed("principal.id"), "subject.id");
        assert_eq!(renamed("action.type"), "action.name");
        assert_eq!(renamed("resource.id"), "resource.id");
        assert_eq!(renamed("context"), "context");
    }
}
