//! The Search APIs (§"Search APIs"): AuthZEN's subject, resource and
//! action searches, mapped onto Warden's terms (`mapping`) and answered by
//! the one search engine, `app::access`, whose every result is the
//! decision of a single evaluation (§"Semantics": a result "SHOULD result
//! in a `"decision": true` response").
//!
//! Pagination (§"Pagination"): every answer has a `page` with its
//! `next_token` (`""` after the last page) and `count`; a token is
//! refused with a 400 when the rest of the request changed (§"Paginated
//! Requests": the PDP "SHOULD return an error"). Whether the answer is
//! complete is said in the response's `context` (§"The Search API
//! Response").

use super::mapping::{action, entity, entity_type, in_authzen_terms};
use super::model::{
    ActionSearchRequest, Object, PageRequest, ResourceSearchRequest, SearchContext, SearchPage,
    SearchResponse, SearchResult, SubjectSearchRequest,
};
use crate::app::access::{Found, Query, Search};
use crate::app::Actor;
use crate::error::Result;
use crate::http::common::DEFAULT_PAGE_SIZE;
use crate::http::ApiState;
use crate::store::MAX_PAGE_SIZE;

/// Who may do the action on the resource: the results are subjects of the
/// type asked, spelled as asked.
pub(super) async fn subjects(
    state: &ApiState,
    actor: Actor,
    request: SubjectSearchRequest,
) -> Result<SearchResponse> {
    let snapshot = state.app.policies.current();
    let query = Query::Subjects {
        kind: entity_type(&snapshot, &request.subject.kind, "subject")?,
        action: action(&snapshot, &request.action)?,
        resource: entity(&state.app, &snapshot, &request.resource, "resource")?,
    };
    let results = Results::Entities(request.subject.kind);
    answer(state, actor, query, request.context, request.page, results).await
}

/// On which resources of the type asked the subject may do the action.
pub(super) async fn resources(
    state: &ApiState,
    actor: Actor,
    request: ResourceSearchRequest,
) -> Result<SearchResponse> {
    let snapshot = state.app.policies.current();
    let query = Query::Resources {
        principal: entity(&state.app, &snapshot, &request.subject, "subject")?,
        action: action(&snapshot, &request.action)?,
        kind: entity_type(&snapshot, &request.resource.kind, "resource")?,
    };
    let results = Results::Entities(request.resource.kind);
    answer(state, actor, query, request.context, request.page, results).await
}

/// What the subject may do on the resource.
pub(super) async fn actions(
    state: &ApiState,
    actor: Actor,
    request: ActionSearchRequest,
) -> Result<SearchResponse> {
    let snapshot = state.app.policies.current();
    let query = Query::Actions {
        principal: entity(&state.app, &snapshot, &request.subject, "subject")?,
        resource: entity(&state.app, &snapshot, &request.resource, "resource")?,
    };
    answer(
        state,
        actor,
        query,
        request.context,
        request.page,
        Results::Actions,
    )
    .await
}

/// What a search's results are.
enum Results {
    /// Subjects or resources, of the type as the request spelled it.
    Entities(String),
    /// Actions.
    Actions,
}

/// One page of `query`. A `limit` beyond a page's most is answered in
/// pages of that most (§"Paginated Requests" allows any non-negative
/// limit; 0 is a 400: it asks for nothing); an empty token is none.
async fn answer(
    state: &ApiState,
    actor: Actor,
    query: Query,
    context: Option<Object>,
    page: Option<PageRequest>,
    results: Results,
) -> Result<SearchResponse> {
    let page = page.unwrap_or_default();
    let limit = page.limit.map_or(DEFAULT_PAGE_SIZE, |limit| {
        usize::try_from(limit).map_or(MAX_PAGE_SIZE, |limit| limit.min(MAX_PAGE_SIZE))
    });
    let search = Search {
        query,
        context: context.unwrap_or_default(),
        limit,
        token: page.token.filter(|token| !token.is_empty()),
    };
    let found = crate::http::access::run(state, actor, search)
        .await
        .map_err(in_authzen_terms)?;
    Ok(respond(found, results))
}

/// The AuthZEN answer of a page.
fn respond(found: Found, results: Results) -> SearchResponse {
    let results: Vec<SearchResult> = found
        .items
        .into_iter()
        .map(|item| match &results {
            Results::Entities(kind) => SearchResult::Entity {
                kind: kind.clone(),
                id: item.id,
            },
            Results::Actions => SearchResult::Action { name: item.id },
        })
        .collect();
    SearchResponse {
        page: SearchPage {
            next_token: found.next.unwrap_or_default(),
            count: results.len(),
        },
        context: SearchContext {
            complete: found.gap.is_none(),
            reason: found.gap.map(|gap| gap.reason()),
            policy_revision: found.policy_revision,
        },
        results,
    }
}
