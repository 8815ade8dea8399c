//! The API's one registry of routes. Each route is declared once, next to
//! its handler, with what `/openapi.json` says of it: what it takes (acting
//! user, headers, body with an example), what it answers and which errors
//! it may give. The router and the document are both built from
//! `http::endpoints()`, so no route is served undocumented and no
//! documented route goes unserved.

use axum::handler::Handler;
use axum::routing::{delete, get, patch, post, put, MethodRouter};

use super::ApiState;

/// One route of the API and its handler.
pub struct Endpoint {
    pub route: Route,
    pub handler: MethodRouter<ApiState>,
    /// The handler's name and the file declaring it, for the test that
    /// holds each route's document to its handler's extractors.
    #[cfg(test)]
    pub handler_name: &'static str,
    #[cfg(test)]
    pub file: &'static str,
}

/// What `/openapi.json` says of one route.
pub struct Route {
    pub method: HttpMethod,
    pub path: &'static str,
    pub summary: &'static str,
    pub takes: Takes,
    pub status: u16,
    pub response: Body,
    /// Other statuses: a second success (below 400), or errors beyond
    /// those every `/v1` route may give (400, 401, 413, 500) and a
    /// command's 409 for a reused `Idempotency-Key`.
    pub errors: &'static [u16],
}

/// What a route takes besides its path.
#[derive(Clone, Copy)]
pub enum Takes {
    /// Nothing else.
    Nothing,
    /// The acting user (`X-Warden-Actor`; none: the system actor).
    Actor,
    /// The acting user and the query parameters a listing is filtered by
    /// (besides `after` and `limit`).
    Filtered(&'static [Filter]),
    /// A JSON body of a component schema, with an example; no acting user.
    Json(&'static str, &'static str),
    /// A check: a JSON body of a component schema, with an example, and
    /// `X-Warden-Consistency`; no acting user.
    Check(&'static str, &'static str),
    /// The acting user and a JSON body of a component schema, with an
    /// example (no `Idempotency-Key`: a search, not a write).
    ActorJson(&'static str, &'static str),
    /// A command: the acting user, an `Idempotency-Key` and a JSON body of
    /// a component schema, with an example. A command without fields
    /// (`NO_FIELDS`) takes no body or `{}`.
    Command(&'static str, &'static str),
}

/// A query parameter that filters a listing.
#[derive(Clone, Copy)]
pub struct Filter {
    /// The parameter's name.
    pub name: &'static str,
    /// What it finds.
    pub description: &'static str,
    /// A value the document shows.
    pub example: &'static str,
    /// Whether the listing needs it.
    pub required: bool,
    /// The field rule its value meets, as a body's field would.
    pub rule: FilterRule,
}

/// The field rule (`fields::…`) of a [`Filter`]'s value: its document
/// schema is that of a body field of the rule.
#[derive(Clone, Copy)]
pub enum FilterRule {
    /// `fields::name`.
    Name,
    /// `fields::email`.
    Email,
    /// `fields::domain`.
    Domain,
    /// A name of the policy schema (an action, an entity type): checked
    /// against the schema in force.
    SchemaName,
}

/// The schema of a command without fields: no body, or `{}`.
pub const NO_FIELDS: &str = "NoFields";

/// What a route answers on success.
#[derive(Clone, Copy)]
pub enum Body {
    /// A component schema by name.
    One(&'static str),
    /// `{"items": [<schema>], "next": <uuid>|null}`, paged by `after`/`limit`.
    Page(&'static str),
    /// A page of free-form rows, paged by `after`/`limit`.
    AnyPage,
    /// A free-form report whose rows are paged by `after`/`limit`.
    PagedReport,
    /// A component schema whose `next` is an opaque page token (a search),
    /// passed back as `after`.
    TokenPage(&'static str),
    /// A free-form JSON object, described in the summary.
    Any,
    /// Plain text (the Prometheus text exposition format).
    Text,
}

impl Body {
    /// Whether the route reads `after` and `limit` from its query.
    pub fn paged(self) -> bool {
        matches!(
            self,
            Body::Page(_) | Body::AnyPage | Body::PagedReport | Body::TokenPage(_)
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl HttpMethod {
    pub fn name(self) -> &'static str {
        match self {
            HttpMethod::Get => "get",
            HttpMethod::Post => "post",
            HttpMethod::Patch => "patch",
            HttpMethod::Put => "put",
            HttpMethod::Delete => "delete",
        }
    }

    /// `handler` answering this method.
    pub fn route<H: Handler<T, ApiState>, T: 'static>(self, handler: H) -> MethodRouter<ApiState> {
        match self {
            HttpMethod::Get => get(handler),
            HttpMethod::Post => post(handler),
            HttpMethod::Patch => patch(handler),
            HttpMethod::Put => put(handler),
            HttpMethod::Delete => delete(handler),
        }
    }
}

/// Whether the route at `path` needs the admin bearer token: Warden's own
/// API (`/v1…`) and the AuthZEN API (`/access/v1/…`, whose spec leaves
/// authentication to the PDP and recommends it, §"Policy Confidentiality
/// and Sender Authentication"), and `/metrics` (what the server does is
/// the operator's to see); not liveness nor the documents that describe
/// the API.
pub fn requires_token(path: &str) -> bool {
    path.starts_with("/v1") || path.starts_with("/access/") || path == "/metrics"
}

/// Statuses of a management write: denied, missing, conflicting.
pub const WRITE: &[u16] = &[403, 404, 409];
/// Statuses of a management read.
pub const READ: &[u16] = &[403, 404];
/// Statuses of a listing that leaves out the items the actor may not read
/// instead of refusing.
pub const FILTERED: &[u16] = &[404];

/// `endpoint!(Post "/v1/orgs" => create_org, summary, takes, status,
/// response, errors)`: one route, its handler and its document entry.
/// A command route names its command once, and its handler, body schema
/// and status follow: `endpoint!(Post "/v1/orgs" => command CreateOrg,
/// 201, summary, example, response, errors)`; `command DeleteWorkspace {}`
/// for a command without fields (no body, or `{}`).
macro_rules! endpoint {
    ($method:ident $path:literal => command $command:ident {}, $status:literal,
     $summary:expr, $response:expr, $errors:expr $(,)?) => {
        $crate::http::endpoint::endpoint!(
            $method $path => $crate::http::common::command_handler::<$command, $status>,
            $summary,
            $crate::http::endpoint::Takes::Command($crate::http::endpoint::NO_FIELDS, "{}"),
            $status,
            $response,
            $errors,
        )
    };
    ($method:ident $path:literal => command $command:ident, $status:literal,
     $summary:expr, $example:expr, $response:expr, $errors:expr $(,)?) => {
        $crate::http::endpoint::endpoint!(
            $method $path => $crate::http::common::command_handler::<$command, $status>,
            $summary,
            $crate::http::endpoint::Takes::Command(stringify!($command), $example),
            $status,
            $response,
            $errors,
        )
    };
    ($method:ident $path:literal => $handler:path,
     $summary:expr, $takes:expr, $status:expr, $response:expr, $errors:expr $(,)?) => {
        $crate::http::endpoint::Endpoint {
            route: $crate::http::endpoint::Route {
                method: $crate::http::endpoint::HttpMethod::$method,
                path: $path,
                summary: $summary,
                takes: $takes,
                status: $status,
                response: $response,
                errors: $errors,
            },
            handler: $crate::http::endpoint::HttpMethod::$method.route($handler),
            #[cfg(test)]
            handler_name: stringify!($handler),
            #[cfg(test)]
            file: file!(),
        }
    };
}

pub(crate) use endpoint;
