//! An org's email domains: claims, their proof, their removal.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::common::{run, visible_org, Answer, PageQuery};
use super::extract::{path_id, ActingUser, ApiPath, Write};
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
    ApiPath(id): ApiPath<String>,
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
    ApiPath(id): ApiPath<String>,
    write: Write<ClaimDomain>,
) -> Answer<DomainClaim> {
    run(&state, write, StatusCode::CREATED, |command| {
        command.org = path_id("id", &id)?;
        Ok(())
    })
    .await
}

async fn verify(
    State(state): State<ApiState>,
    ApiPath((id, domain)): ApiPath<(String, String)>,
    write: Write<VerifyDomain>,
) -> Answer<DomainClaim> {
    run(&state, write, StatusCode::OK, |command| {
        command.org = path_id("id", &id)?;
        command.domain = domain;
        command.resolver = state.settings.dns_resolver;
        Ok(())
    })
    .await
}

async fn remove(
    State(state): State<ApiState>,
    ApiPath((id, domain)): ApiPath<(String, String)>,
    write: Write<RemoveDomain>,
) -> Answer<DomainClaim> {
    run(&state, write, StatusCode::OK, |command| {
        command.org = path_id("id", &id)?;
        command.domain = domain;
        Ok(())
    })
    .await
}
