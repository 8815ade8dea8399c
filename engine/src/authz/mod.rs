//! Authorization checks: one request, the entities it needs from the store,
//! one Cedar evaluation, and a decision a person can read.

mod cache;
mod entities;
mod ids;
pub mod policy_tests;
pub mod reach;
#[cfg(test)]
mod tests;
mod values;

pub use cache::{CacheStats, EntityCache, FromCache, ENTITY_CACHE_BYTES};
pub use entities::{org_role_id, workspace_role_id, MAX_ENTITY_NODES};

use cedar_policy::{Authorizer, Context, Decision as CedarDecision, EntityUid, Request};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::policy::{Decider, PolicySnapshot};
use crate::store::{Resource, Store};

/// The most entities a caller may send with one check.
pub const MAX_REQUEST_ENTITIES: usize = 100;

/// An entity reference as it appears in requests: `{"type": "User", "id": "…"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, utoipa::ToSchema)]
pub struct EntityRef {
    /// The Cedar entity type, e.g. `User` or `Flow`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The entity id: a canonical uuid for what Warden stores, free-form
    /// for entities the caller brings.
    pub id: String,
}

impl EntityRef {
    /// The entity `id` of type `kind`.
    pub fn new(kind: &str, id: impl ToString) -> Self {
        EntityRef {
            kind: kind.to_string(),
            id: id.to_string(),
        }
    }

    /// The Cedar uid of a reference a caller sent, whose id must be
    /// canonical if it spells a uuid (see `ids`); `field` names the request
    /// field for errors.
    pub fn to_uid(&self, field: &str) -> Result<EntityUid> {
        ids::require_canonical(&self.kind, &self.id, || format!("{field}.id"))?;
        values::uid(&self.kind, &self.id).map_err(|e| Error::invalid(format!("{field}.type"), e))
    }
}

/// One authorization question.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Who would act, usually a `User`.
    pub principal: EntityRef,
    /// The action, of type `Action` (e.g. `ViewResource`).
    pub action: EntityRef,
    /// What the action is on.
    pub resource: EntityRef,
    /// The request context, as the schema declares it for the action.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: serde_json::Map<String, serde_json::Value>,
    /// Extra entities in Cedar's JSON entity format, for resources Warden
    /// does not store; they may sit in a stored workspace or folder. They
    /// may not be entities Warden stores (nor role groups of a stored org
    /// or workspace) nor make anything a member of a stored org or role
    /// group. Ids that spell a uuid must spell it canonically.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub entities: Vec<serde_json::Value>,
}

/// The answer to a check.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Decision {
    /// `Allow` or `Deny`.
    pub decision: String,
    /// Which policies decided, and which failed to evaluate.
    pub diagnostics: Diagnostics,
    /// A sentence built from the deciding policies' `@reason`.
    pub explanation: String,
    /// The revision of the policy set that answered.
    pub policy_revision: u64,
}

/// The policies behind a decision.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Diagnostics {
    /// Ids of the policies that decided.
    pub reason: Vec<String>,
    /// Policies that failed to evaluate (they count as not matching).
    pub errors: Vec<String>,
}

impl Decision {
    /// Whether the decision is `Allow`.
    pub fn allowed(&self) -> bool {
        self.decision == "Allow"
    }
}

/// Answers `request` against `snapshot`, reading only the entities the
/// request names and their ancestors, or taking them from `cache` when
/// nothing they were built from has changed since. Requests that bring
/// their own entities are never cached.
pub fn authorize(
    store: &Store,
    snapshot: &PolicySnapshot,
    request: &CheckRequest,
    cache: Option<FromCache>,
) -> Result<Decision> {
    let principal = request.principal.to_uid("principal")?;
    let action = request.action.to_uid("action")?;
    let resource = request.resource.to_uid("resource")?;
    for (name, value) in &request.context {
        ids::require_canonical_within(value, &mut format!("context.{name}"))?;
    }
    let context = context(snapshot, &action, &request.context)?;
    let kind = snapshot.request_kind(&principal, &action, &resource);
    let policies = kind.map_or(&snapshot.policies, |kind| &*kind.policies);
    // A request of a kind whose empty context the schema accepts is valid
    // as it is: validating it again would only repeat the answer.
    let validated = request.context.is_empty() && kind.is_some_and(|k| k.empty_context_valid);
    let schema = (!validated).then_some(&snapshot.schema);
    let reads = store.check_reads(cache.map(|cache| cache.asked_at));
    let entities = match cache {
        Some(cache) if request.entities.is_empty() => cache.entities(
            store,
            &reads,
            snapshot,
            &request.principal,
            &request.resource,
        )?,
        _ => entities::load(
            &reads,
            snapshot,
            &request.principal,
            &request.resource,
            &request.entities,
            &mut entities::Budget::default(),
        )?,
    };
    let cedar_request = Request::new(principal, action, resource, context, schema)
        .map_err(|e| Error::invalid("request", e.to_string()))?;
    let response = Authorizer::new().is_authorized(&cedar_request, policies, &entities);
    let mut deciders: Vec<&Decider> = response
        .diagnostics()
        .reason()
        .map(|id| {
            snapshot
                .decider(id)
                .expect("a deciding policy is in the set")
        })
        .collect();
    deciders.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let errors: Vec<String> = response
        .diagnostics()
        .errors()
        .map(ToString::to_string)
        .collect();
    let allowed = response.decision() == CedarDecision::Allow;
    let explanation = explain(request, allowed, &deciders, &errors);
    Ok(Decision {
        decision: if allowed { "Allow" } else { "Deny" }.to_string(),
        diagnostics: Diagnostics {
            reason: deciders.iter().map(|d| d.id.clone()).collect(),
            errors,
        },
        explanation,
        policy_revision: snapshot.revision,
    })
}

/// The request's context, typed by the action's context declaration. An
/// empty one skips the JSON conversion; whether the action accepts it is
/// the request validation's question.
fn context(
    snapshot: &PolicySnapshot,
    action: &EntityUid,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Context> {
    if fields.is_empty() {
        return Ok(Context::empty());
    }
    Context::from_json_value(
        serde_json::Value::Object(fields.clone()),
        Some((&snapshot.schema, action)),
    )
    .map_err(|e| Error::invalid("context", e.to_string()))
}

/// Checks that a workspace resource, as it would be stored, conforms to the
/// schema (its type is declared, its attributes have the declared types)
/// and that every entity its attributes name has a canonical id.
pub fn validate_resource(schema: &cedar_policy::Schema, resource: &Resource) -> Result<()> {
    for (name, value) in &resource.attributes {
        ids::require_canonical_within(value, &mut format!("attributes.{name}"))?;
    }
    let entity = entities::resource_entity(resource)?;
    cedar_policy::Entities::from_entities([entity], Some(schema))
        .map(drop)
        .map_err(|e| {
            Error::invalid(
                "attributes",
                format!(
                    "{} {} does not fit the schema: {e}",
                    resource.kind, resource.id
                ),
            )
        })
}

/// A sentence about `decision` for the person who asked, as opposed to
/// [`Decision::explanation`], which is for administrators: the deciding
/// policies' `@reason`s, without policy or entity ids. `snapshot` is the
/// policy set that decided (its revision is the decision's).
pub fn end_user_reason(snapshot: &PolicySnapshot, decision: &Decision) -> String {
    let reasons: Vec<&str> = decision
        .diagnostics
        .reason
        .iter()
        .filter_map(|id| snapshot.decider(&cedar_policy::PolicyId::new(id)))
        .map(|decider| decider.reason.as_str())
        .collect();
    match (decision.allowed(), reasons.is_empty()) {
        (true, _) => format!("Allowed: {}.", reasons.join("; ")),
        (false, false) => format!("Denied: {}.", reasons.join("; ")),
        (false, true) => "Denied: no policy permits this.".to_string(),
    }
}

/// Builds the readable sentence for a decision.
fn explain(
    request: &CheckRequest,
    allowed: bool,
    deciders: &[&Decider],
    errors: &[String],
) -> String {
    let clauses = || {
        let clauses: Vec<&str> = deciders.iter().map(|d| d.clause.as_str()).collect();
        clauses.join("; ")
    };
    let mut sentence = if allowed {
        format!("Allowed: {}.", clauses())
    } else if !deciders.is_empty() {
        format!("Denied by forbid policy: {}.", clauses())
    } else {
        format!(
            "Denied: no policy permits {}::{:?} to {} on {}::{:?}.",
            request.principal.kind,
            request.principal.id,
            request.action.id,
            request.resource.kind,
            request.resource.id
        )
    };
    if !errors.is_empty() {
        sentence.push_str(&format!(
            " {} policy evaluation error(s) were ignored.",
            errors.len()
        ));
    }
    sentence
}
