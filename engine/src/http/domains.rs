//! An org's email domains: claims, their proof, their removal.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::common::{run, visible_org, Answer, PageQuery};
use super::extract::{path_id, ActingUser, Write};
use super::ApiState;
use crate::command::domain::DOMAIN_POLICY_ACTION;
use crate::command::{ClaimDomain, RemoveDomain, VerifyDomain};
use crate::error::Error;
use crate::store::{keys, DomainClaim, Page};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/orgs/{id}/domains", get(list_claims).post(claim))
        .route("/v1/orgs/{id}/domains/{domain}", delete(remove))
        .route("/v1/orgs/{id}/domains/{domain}/verify", post(verify))
}

/// The org's claims, oldest first; those who manage its domains see them.
async fn list_claims(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<DomainClaim>>, Error> {
    let page = PageQuery::parse(query)?;
    let org = visible_org(&state, actor, &id, DOMAIN_POLICY_ACTION)?;
    let claims = state.app.store.page(
        &keys::domain_claims_of_org(org.id),
        page.after,
        page.limit(),
    )?;
    Ok(Json(claims))
}

async fn claim(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    mut write: Write<ClaimDomain>,
) -> Answer<DomainClaim> {
    write.body.org = path_id("id", &id)?;
    run(&state, write, StatusCode::CREATED).await
}

async fn verify(
    State(state): State<ApiState>,
    Path((id, domain)): Path<(String, String)>,
    mut write: Write<VerifyDomain>,
) -> Answer<DomainClaim> {
    write.body.org = path_id("id", &id)?;
    write.body.domain = domain;
    write.body.resolver = state.settings.dns_resolver;
    run(&state, write, StatusCode::OK).await
}

async fn remove(
    State(state): State<ApiState>,
    Path((id, domain)): Path<(String, String)>,
    mut write: Write<RemoveDomain>,
) -> Answer<DomainClaim> {
    write.body.org = path_id("id", &id)?;
    write.body.domain = domain;
    run(&state, write, StatusCode::OK).await
}
