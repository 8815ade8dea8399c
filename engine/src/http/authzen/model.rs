//! The AuthZEN Authorization API 1.0 messages, as the spec names their
//! fields. No `deny_unknown_fields` here, unlike Warden's own bodies: §"JSON
//! Serialization": "receivers MUST ignore unknown fields present in request
//! or response bodies". A `null` reads as an absent field (§"JSON Payload
//! Considerations": null values SHOULD be omitted, so they mean nothing).

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::authz::EntityRef;

/// A JSON object of free-form attributes.
pub type Object = Map<String, Value>;

/// A Subject (§"Subject") or a Resource (§"Resource"): both have the same
/// three keys.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct AuthzenEntity {
    /// The entity's type: a type of Warden's policy schema, as written there
    /// (`User`, `Flow`) or in snake case (`user`, `flow`, `workspace_role`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The entity's id, scoped to its type: Warden's id (a uuid, any
    /// spelling), or for a user their email address.
    pub id: String,
    /// Attributes the PEP asserts. Warden decides from what it stores and
    /// does not take them on trust; they are accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Object>,
}

/// An Action (§"Action").
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct AuthzenAction {
    /// An action of Warden's policy schema, as written there
    /// (`RunResource`) or in snake case (`run_resource`).
    pub name: String,
    /// Attributes of the action; accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Object>,
}

/// An Access Evaluation request (§"The Access Evaluation API Request").
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EvaluationRequest {
    /// Who would act.
    #[serde(deserialize_with = "object")]
    pub subject: AuthzenEntity,
    /// What they would do.
    #[serde(deserialize_with = "object")]
    pub action: AuthzenAction,
    /// What they would do it on.
    #[serde(deserialize_with = "object")]
    pub resource: AuthzenEntity,
    /// The Cedar context, as Warden's policy schema declares it for the
    /// action (Warden's default schema declares none: send none or `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Object>,
}

/// An Access Evaluations request (§"The Access Evaluations API Request"):
/// the top-level keys are defaults for each item of `evaluations`; without
/// items it is one evaluation of the top-level keys.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EvaluationsRequest {
    /// The default subject.
    #[serde(default, deserialize_with = "optional_object")]
    pub subject: Option<AuthzenEntity>,
    /// The default action.
    #[serde(default, deserialize_with = "optional_object")]
    pub action: Option<AuthzenAction>,
    /// The default resource.
    #[serde(default, deserialize_with = "optional_object")]
    pub resource: Option<AuthzenEntity>,
    /// The default context.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Object>,
    /// The evaluations, answered in order; each key an item gives replaces
    /// the default whole (§"Default values"). At most `max_batch`.
    #[serde(default, deserialize_with = "optional_objects")]
    pub evaluations: Option<Vec<EvaluationItem>>,
    /// How to run them.
    #[serde(default, deserialize_with = "optional_object")]
    pub options: Option<EvaluationsOptions>,
}

/// One item of `evaluations`: what it does not give, the defaults give.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationItem {
    /// Replaces the default subject.
    #[serde(default, deserialize_with = "optional_object")]
    pub subject: Option<AuthzenEntity>,
    /// Replaces the default action.
    #[serde(default, deserialize_with = "optional_object")]
    pub action: Option<AuthzenAction>,
    /// Replaces the default resource.
    #[serde(default, deserialize_with = "optional_object")]
    pub resource: Option<AuthzenEntity>,
    /// Replaces the default context.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Object>,
}

/// §"Evaluations options": PEP-supplied metadata on how to run the request;
/// options Warden does not know are ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationsOptions {
    /// §"Evaluations semantics"; `execute_all` when absent.
    #[serde(default)]
    pub evaluations_semantic: Option<EvaluationsSemantic>,
}

/// §"Evaluations semantics".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationsSemantic {
    /// Every item is evaluated and answered.
    #[default]
    ExecuteAll,
    /// Items are evaluated in order up to the first denial or failure,
    /// which is the last answered (the `&&` of the items).
    DenyOnFirstDeny,
    /// Items are evaluated in order up to the first permit, which is the
    /// last answered (the `||` of the items).
    PermitOnFirstPermit,
}

/// A Decision (§"Decision").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationResponse {
    /// Whether the action may go forward.
    pub decision: bool,
    /// Why (§"Decision Context").
    pub context: DecisionContext,
}

/// An Access Evaluations response (§"The Access Evaluations API Response"):
/// one decision per item in order, or, for a request without items, the
/// one decision of the top-level keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EvaluationsResponse {
    /// The answers to the items, in order; a short-circuiting semantic
    /// answers the items up to the one that decided.
    Many {
        /// One decision per evaluated item.
        evaluations: Vec<EvaluationResponse>,
    },
    /// The answer to a request without items.
    One(Box<EvaluationResponse>),
}

/// A decision's context: its reasons, or why an item has no decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DecisionContext {
    /// Why the policies decided so, said twice (as in the spec's
    /// "Non-normative Example 1: conveying decision Reasons").
    Reasons {
        /// For the end user: the deciding policies' `@reason`s, no ids.
        reason_user: String,
        /// For administrators.
        reason_admin: Box<AdminReason>,
    },
    /// Why an item of an evaluations request could not be evaluated; its
    /// decision is `false` (§"Errors": "Decisions default to *closed*").
    Failed {
        /// The error.
        error: ItemError,
    },
}

/// What an administrator needs to see why Warden decided so.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminReason {
    /// Warden's explanation, with the policy and entity ids.
    pub explanation: String,
    /// The ids of the deciding policies.
    pub policies: Vec<String>,
    /// Policies that failed to evaluate (they count as not matching).
    pub errors: Vec<String>,
    /// The revision of the policy set that decided.
    pub policy_revision: u64,
    /// The question as Warden asked it of its policies (`POST
    /// /v1/authorize`'s principal, action and resource).
    pub evaluated: Evaluated,
    /// The request's fields Warden did not use (`subject.properties`…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<&'static str>,
}

/// An AuthZEN question in Warden's terms.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Evaluated {
    /// The principal.
    pub principal: EntityRef,
    /// The action, of type `Action`.
    pub action: EntityRef,
    /// The resource.
    pub resource: EntityRef,
}

/// An item's error, shaped as the spec's example of one (§"Errors").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemError {
    /// The HTTP status the error would have as a whole request.
    pub status: u16,
    /// Warden's stable error code (`invalid_request`…).
    pub code: &'static str,
    /// What was wrong, naming the field.
    pub message: String,
}

/// The Policy Decision Point metadata (§"Policy Decision Point Metadata"):
/// the endpoints Warden serves.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PdpMetadata {
    /// The PDP's identifier: the URL this document was fetched under,
    /// without the well-known path.
    pub policy_decision_point: String,
    /// The Access Evaluation endpoint's URL.
    pub access_evaluation_endpoint: String,
    /// The Access Evaluations endpoint's URL.
    pub access_evaluations_endpoint: String,
    /// The Subject Search endpoint's URL.
    pub search_subject_endpoint: String,
    /// The Resource Search endpoint's URL.
    pub search_resource_endpoint: String,
    /// The Action Search endpoint's URL.
    pub search_action_endpoint: String,
}

/// The entity a search looks for: its type alone. An `id`, if sent, is
/// ignored (§"The Subject Search API Request", §"The Resource Search API
/// Request": it "SHOULD be omitted, and if present, MUST be ignored"), and
/// so are `properties`, as an entity's.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct SearchedEntity {
    /// The type searched for, as a Subject's or Resource's `type`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A page request (§"Paginated Requests"). Its `properties` are
/// implementation-specific; Warden defines none and ignores them.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PageRequest {
    /// The `next_token` of the previous page; absent or empty for the
    /// first.
    #[serde(default)]
    pub token: Option<String>,
    /// Most results on the page: 1 or more (a page holds at most 500;
    /// more is answered in pages of 500). Default 50.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub limit: Option<u64>,
}

/// A Subject Search request (§"The Subject Search API Request"): who may
/// do `action` on `resource`?
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubjectSearchRequest {
    /// The type of the subjects searched for (`user`).
    #[serde(deserialize_with = "object")]
    pub subject: SearchedEntity,
    /// What they would do.
    #[serde(deserialize_with = "object")]
    pub action: AuthzenAction,
    /// On what.
    #[serde(deserialize_with = "object")]
    pub resource: AuthzenEntity,
    /// The Cedar context of every check.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Object>,
    /// Which page.
    #[serde(default, deserialize_with = "optional_object")]
    pub page: Option<PageRequest>,
}

/// A Resource Search request (§"The Resource Search API Request"): on
/// which resources of a type may `subject` do `action`?
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResourceSearchRequest {
    /// Who would act.
    #[serde(deserialize_with = "object")]
    pub subject: AuthzenEntity,
    /// What they would do.
    #[serde(deserialize_with = "object")]
    pub action: AuthzenAction,
    /// The type of the resources searched for (`flow`).
    #[serde(deserialize_with = "object")]
    pub resource: SearchedEntity,
    /// The Cedar context of every check.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Object>,
    /// Which page.
    #[serde(default, deserialize_with = "optional_object")]
    pub page: Option<PageRequest>,
}

/// An Action Search request (§"The Action Search API Request"): what may
/// `subject` do on `resource`?
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActionSearchRequest {
    /// Who would act.
    #[serde(deserialize_with = "object")]
    pub subject: AuthzenEntity,
    /// On what.
    #[serde(deserialize_with = "object")]
    pub resource: AuthzenEntity,
    /// The Cedar context of every check.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Object>,
    /// Which page.
    #[serde(default, deserialize_with = "optional_object")]
    pub page: Option<PageRequest>,
}

/// A Search API response (§"The Search API Response"), `page` first as
/// the spec recommends.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResponse {
    /// Where the answer stands.
    pub page: SearchPage,
    /// Whether the answer is complete, and the policies' revision.
    pub context: SearchContext,
    /// The entities allowed: subjects or resources `{"type", "id"}` (the
    /// type as the request spelled it), or actions `{"name"}`.
    pub results: Vec<SearchResult>,
}

/// A response's page (§"Paginated Responses"): always sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    /// The token of the next page; `""` after the last. A page may hold
    /// fewer results than `limit`, even none, and still have a next one:
    /// a request examines a bounded number of candidates.
    pub next_token: String,
    /// The results on this page.
    pub count: usize,
}

/// What Warden says of a search's answer (§"The Search API Response":
/// `context` conveys "additional information").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchContext {
    /// Whether the pages hold every entity a single evaluation would
    /// permit; false when a policy reads the request context or may permit
    /// what the search does not enumerate (`reason` says which).
    pub complete: bool,
    /// Why the answer may not be complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The revision of the policy set that decided.
    pub policy_revision: u64,
}

/// One result: an entity, or an action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SearchResult {
    /// A subject or resource.
    Entity {
        /// Its type, as the request spelled it.
        #[serde(rename = "type")]
        kind: String,
        /// Its id (a canonical uuid).
        id: String,
    },
    /// An action, named as in the schema (`RunResource`).
    Action {
        /// The action's name.
        name: String,
    },
}

/// serde reads a struct from an array of its fields' values too (`["user",
/// "alice"]`), which no client means and the spec's JSON Schema refuses:
/// these read one only from a JSON object (`ApiJson` checks the body
/// itself).
fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<T, D::Error> {
    from_object(Object::deserialize(deserializer)?)
}

/// [`object`] for an optional field (`null` reads as absent).
fn optional_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<Object>::deserialize(deserializer)?
        .map(from_object)
        .transpose()
}

/// [`object`] for an optional list; an error names the item.
fn optional_objects<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<Vec<T>>, D::Error> {
    let Some(items) = Option::<Vec<Object>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let read = items.into_iter().enumerate().map(|(i, item)| {
        from_object(item).map_err(|e: D::Error| D::Error::custom(format!("[{i}]: {e}")))
    });
    read.collect::<Result<_, _>>().map(Some)
}

/// `object` as a `T`; an error names the field within it (`name: invalid
/// type…`), which the caller's path does not reach.
fn from_object<T: DeserializeOwned, E: serde::de::Error>(object: Object) -> Result<T, E> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." => E::custom(e.into_inner()),
            _ => E::custom(format!("{path}: {}", e.into_inner())),
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A struct is read from an object only, at every depth; `null` is
    /// an absent optional key.
    #[test]
    fn structs_are_read_from_objects_only() {
        let entity = json!({"type": "user", "id": "alice"});
        let read = |body: Value| serde_json::from_value::<EvaluationsRequest>(body);
        assert!(read(json!({"subject": entity, "evaluations": [{"subject": entity}, {}]})).is_ok());
        assert!(read(json!({"subject": null, "options": null, "evaluations": null})).is_ok());
        for body in [
            json!({"subject": ["user", "alice"]}),
            json!({"action": ["read"]}),
            json!({"options": ["execute_all"]}),
            json!({"evaluations": [[null, null]]}),
            json!({"evaluations": [{"resource": ["flow", "1"]}]}),
        ] {
            assert!(read(body.clone()).is_err(), "{body}");
        }
        let single =
            json!({"subject": ["user", "alice"], "action": {"name": "read"}, "resource": entity});
        assert!(serde_json::from_value::<EvaluationRequest>(single).is_err());
    }
}
