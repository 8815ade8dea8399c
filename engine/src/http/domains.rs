//! An org's email domains: claims, their proof, their removal.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::common::{run, visible_org, Answer, PageQuery};
use super::endpoint::{self, endpoint, Body, Endpoint, Takes};
use super::extract::{path_id, ActingUser, ApiPath, Write};
use super::ApiState;
use crate::command::domain::DOMAIN_POLICY_ACTION;
use crate::command::{ClaimDomain, RemoveDomain, VerifyDomain};
use crate::error::Error;
use crate::store::{keys, DomainClaim, Page};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Get "/v1/orgs/{id}/domains" => list_claims,
            "Domain claims with their TXT records, oldest first, paged (UpdateOrg)",
            Takes::Actor,
            200,
            Body::Page("DomainClaim"),
            endpoint::READ,
        ),
        endpoint!(
            Post "/v1/orgs/{id}/domains" => claim,
            "Claim a domain: `{\"domain\"}` → a pending claim and the TXT record to publish; 409 domain_taken, domain_already_claimed, too_many_domains (UpdateOrg)",
            Takes::Command("ClaimDomain", r#"{"domain": "acme.com"}"#),
            201,
            Body::One("DomainClaim"),
            endpoint::WRITE,
        ),
        endpoint!(
            Post "/v1/orgs/{id}/domains/{domain}/verify" => verify,
            "Prove a claim: `{\"method\": \"dns\"}` (default; Warden looks the TXT record up) or `{\"method\": \"vendor\"}` (system actor only); 409 domain_not_proven, dns_lookup_failed, dns_unavailable, domain_taken (UpdateOrg)",
            Takes::Command("VerifyDomain", r#"{"method": "dns"}"#),
            200,
            Body::One("DomainClaim"),
            endpoint::WRITE,
        ),
        endpoint!(
            Delete "/v1/orgs/{id}/domains/{domain}" => remove,
            "Remove a claim; a verified domain stops auto-joining and is free for another org (UpdateOrg)",
            Takes::Command(endpoint::NO_FIELDS, "{}"),
            200,
            Body::One("DomainClaim"),
            endpoint::WRITE,
        ),
    ]
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
