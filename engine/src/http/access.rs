//! "What can this user access", in Warden's words: `GET
//! /v1/users/{id}/access?action=RunResource&type=Flow`, the resources a
//! user may act on, paged. The engine is `app::access`, shared with
//! AuthZEN's search endpoints (`authzen::search`).

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::common::DEFAULT_PAGE_SIZE;
use super::endpoint::{endpoint, Body, Endpoint, Filter, FilterRule, Takes};
use super::extract::{path_id, ActingUser, ApiPath};
use super::ApiState;
use crate::app::access::{self, Found, Query, Search};
use crate::app::Actor;
use crate::authz::EntityRef;
use crate::error::Error;
use crate::store::CheckRecords;

/// `GET /v1/users/{id}/access`'s filters.
const ACCESS_FILTERS: &[Filter] = &[
    Filter {
        name: "action",
        description: "an action of the policy schema (`RunResource`)",
        example: "RunResource",
        required: true,
        rule: FilterRule::SchemaName,
    },
    Filter {
        name: "type",
        description:
            "the resources' entity type (`Flow`, `Credential`, `Folder`, `Workspace`, `Org`)",
        example: "Flow",
        required: true,
        rule: FilterRule::SchemaName,
    },
];

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![endpoint!(
        Get "/v1/users/{id}/access" => user_access,
        "The resources of `type` on which the user may do `action`, each confirmed by the single check's decision; `complete` says whether that is all of them (the system, or the user themself)",
        Takes::Filtered(ACCESS_FILTERS),
        200,
        Body::TokenPage("AccessPage"),
        &[403, 404],
    )]
}

/// The query of `GET /v1/users/{id}/access`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessQuery {
    action: String,
    #[serde(rename = "type")]
    kind: String,
    /// The `next` of the previous page.
    after: Option<String>,
    limit: Option<usize>,
}

/// One page of what a user may access.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AccessPage {
    /// The resources, `{"type", "id"}`.
    items: Vec<EntityRef>,
    /// Pass as `after` for the next page; null on the last. A page may
    /// hold fewer items than `limit`, even none: a request examines a
    /// bounded number of candidates (`MAX_SEARCH_EXAMINED`).
    next: Option<String>,
    /// Whether the pages hold every resource a single check would allow;
    /// false when a policy reads the request context or may permit outside
    /// the user's orgs (then `reason` names it).
    complete: bool,
    /// Why the answer may not be complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The revision of the policies that decided.
    policy_revision: u64,
}

async fn user_access(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<AccessPage>, Error> {
    let id = path_id("id", &id)?;
    let query: AccessQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| Error::invalid("query", e.to_string()))?;
    // The vendor learns that an id names no user; a user asking about
    // another is refused whatever the id (by the search, a 403).
    if actor == Actor::System && state.app.store.user(id)?.is_none() {
        return Err(Error::not_found("user", id));
    }
    let search = Search {
        query: Query::Resources {
            principal: EntityRef::new("User", id),
            action: query.action,
            kind: query.kind,
        },
        context: Default::default(),
        limit: query.limit.unwrap_or(DEFAULT_PAGE_SIZE),
        token: query.after,
    };
    let found = run(&state, actor, search).await.map_err(in_query_terms)?;
    Ok(Json(AccessPage {
        items: found.items,
        next: found.next,
        complete: found.gap.is_none(),
        reason: found.gap.map(|gap| gap.reason()),
        policy_revision: found.policy_revision,
    }))
}

/// Runs `search` for `actor` on a blocking thread: it may make up to
/// `MAX_SEARCH_EXAMINED` checks.
pub(super) async fn run(state: &ApiState, actor: Actor, search: Search) -> Result<Found, Error> {
    let app = state.app.clone();
    tokio::task::spawn_blocking(move || access::search(&app, actor, &search))
        .await
        .map_err(|e| Error::Internal(format!("search task failed: {e}")))?
}

/// An engine error naming the query parameter it is about.
fn in_query_terms(error: Error) -> Error {
    let Error::Invalid { field, message } = error else {
        return error;
    };
    let field = match field.as_str() {
        "action.name" => "query.action",
        "resource.type" => "query.type",
        "page.limit" => "query.limit",
        "page.token" => "query.after",
        other => other,
    };
    Error::Invalid {
        field: field.to_string(),
        message,
    }
}
