//! An org's email domains: claims, their proof, their removal.

use axum::extract::{RawQuery, State};
use axum::Json;

use super::common::{visible_org, PageQuery, RoutedCommand};
use super::endpoint::{self, endpoint, Body, Endpoint, Takes};
use super::extract::{path_id, ActingUser, ApiPath};
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
            Post "/v1/orgs/{id}/domains" => command ClaimDomain, 201,
            "Claim a domain: `{\"domain\"}` → a pending claim and the TXT record to publish; 409 domain_taken, domain_already_claimed, too_many_domains (UpdateOrg)",
            r#"{"domain": "acme.com"}"#,
            Body::One("DomainClaim"),
            endpoint::WRITE,
        ),
        endpoint!(
            Post "/v1/orgs/{id}/domains/{domain}/verify" => command VerifyDomain, 200,
            "Prove a claim: `{\"method\": \"dns\"}` (default; Warden looks the TXT record up) or `{\"method\": \"vendor\"}` (system actor only); 409 domain_not_proven, dns_lookup_failed, dns_unavailable, domain_taken (UpdateOrg)",
            r#"{"method": "dns"}"#,
            Body::One("DomainClaim"),
            endpoint::WRITE,
        ),
        endpoint!(
            Delete "/v1/orgs/{id}/domains/{domain}" => command RemoveDomain {}, 200,
            "Remove a claim; a verified domain stops auto-joining and is free for another org (UpdateOrg)",
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

impl RoutedCommand for ClaimDomain {
    type Path = String;

    fn fill(&mut self, _state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        Ok(())
    }
}

impl RoutedCommand for VerifyDomain {
    type Path = (String, String);

    fn fill(&mut self, state: &ApiState, (id, domain): Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        self.domain = domain;
        self.resolver = state.settings.dns_resolver;
        Ok(())
    }
}

impl RoutedCommand for RemoveDomain {
    type Path = (String, String);

    fn fill(&mut self, _state: &ApiState, (id, domain): Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        self.domain = domain;
        Ok(())
    }
}
