//! The vendor's directory: finding a tenant without its id, by org name or
//! verified domain (`GET /v1/orgs`) or by a user's email (`GET /v1/users`).
//!
//! Only the system actor reads it: it spans every tenant, and a Cedar
//! decision is about one org, so no org's policies can speak for the rest
//! (as for credit grants, no policy grants it). Each request reads a
//! bounded number of records: an index lookup, or at most
//! `MAX_LISTING_EXAMINED` orgs of a page scan.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Deserialize;

use super::common::{visible_page, PageQuery};
use super::endpoint::{endpoint, Body, Endpoint, Filter, FilterRule, Takes};
use super::extract::ActingUser;
use super::ApiState;
use crate::command::require_system;
use crate::error::Error;
use crate::fields;
use crate::store::{keys, CheckRecords, Org, Page, User};

/// `GET /v1/orgs`'s filters.
const ORG_FILTERS: &[Filter] = &[
    Filter {
        name: "name",
        description: "orgs whose name starts with this, ignoring case (`acme` finds `Acme Inc.`)",
        example: "acme",
        required: false,
        rule: FilterRule::Name,
    },
    Filter {
        name: "domain",
        description: "the org that holds this domain verified (normalised as claims are)",
        example: "acme.com",
        required: false,
        rule: FilterRule::Domain,
    },
];

/// `GET /v1/users`'s filter.
const USER_FILTERS: &[Filter] = &[Filter {
    name: "email",
    description:
        "the user with this email, normalised as at creation (`Ann@ACME.com` finds `ann@acme.com`)",
    example: "ann@acme.com",
    required: true,
    rule: FilterRule::Email,
}];

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Get "/v1/orgs" => list_orgs,
            "Every org in id order, paged, or those a filter finds (system actor only): `name` a case-insensitive prefix (a page examines at most 1000 orgs; `next` continues), `domain` the one org holding it verified",
            Takes::Filtered(ORG_FILTERS),
            200,
            Body::Page("Org"),
            &[403],
        ),
        endpoint!(
            Get "/v1/users" => find_users,
            "The user with an email, as a page of 0 or 1 (system actor only)",
            Takes::Filtered(USER_FILTERS),
            200,
            Body::Page("User"),
            &[403],
        ),
    ]
}

/// `?name=&domain=`, both optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OrgFilters {
    name: Option<String>,
    domain: Option<String>,
}

/// `?email=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFilters {
    email: String,
}

/// The directory's orgs: a page scan of every org, each kept if its name
/// matches (`visible_page` bounds what one page examines), or the domain's
/// owner.
async fn list_orgs(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Org>>, Error> {
    let (page, filters) = PageQuery::parse_filtered::<OrgFilters>(query)?;
    require_system(actor, "list the orgs")?;
    let name = filters
        .name
        .map(|name| fields::name("query.name", &name).map(|name| name.to_lowercase()))
        .transpose()?;
    let named = |org: &Org| {
        name.as_ref()
            .is_none_or(|n| org.name.to_lowercase().starts_with(n))
    };
    if let Some(domain) = filters.domain {
        let domain = fields::domain("query.domain", &domain)?;
        let owner = state.app.store.domain_owner(&domain)?.filter(named);
        return Ok(Json(single_page(owner, &page, |org| org.id)));
    }
    visible_page(&state.app, actor, &page, &keys::orgs(), |id| {
        Ok(state.app.store.org(id)?.filter(named))
    })
}

/// The user with `?email=`, normalised as `POST /v1/users` does.
async fn find_users(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<User>>, Error> {
    let (page, filters) = PageQuery::parse_filtered::<UserFilters>(query)?;
    require_system(actor, "find users by email")?;
    let email = fields::email("query.email", &filters.email)?;
    let user = state.app.store.user_by_email(&email)?;
    Ok(Json(single_page(user, &page, |user| user.id)))
}

/// A page of the one item an index found, if any, as a listing in id order
/// answers it: empty when `page.after` is at or past its id.
fn single_page<T>(item: Option<T>, page: &PageQuery, id: impl Fn(&T) -> uuid::Uuid) -> Page<T> {
    let items = item
        .filter(|item| page.after.is_none_or(|after| id(item) > after))
        .into_iter()
        .collect();
    Page { items, next: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_page_parameters_are_read_apart() {
        let query = Some("name=Acme&limit=5".to_string());
        let (page, filters) = PageQuery::parse_filtered::<OrgFilters>(query).unwrap();
        assert_eq!((page.limit(), filters.name.as_deref()), (5, Some("Acme")));
        for bad in [
            "colour=red",
            "name=a&name=b",
            "limit=0",
            "after=nope",
            "limit=x",
        ] {
            let parsed = PageQuery::parse_filtered::<OrgFilters>(Some(bad.to_string()));
            assert!(matches!(parsed, Err(Error::Invalid { .. })), "{bad}");
        }
        let missing = PageQuery::parse_filtered::<UserFilters>(None);
        assert!(matches!(missing, Err(Error::Invalid { .. })));
    }
}
