//! `GET /openapi.json`: the API described from the code. Request and
//! response schemas come from the Rust types (utoipa's `ToSchema`); the
//! route table below says, per route, which types it takes and answers and
//! which errors it may give. A test holds the table to the router.

use axum::Json;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, RefOr, Required, Schema,
};
use utoipa::ToSchema;

use crate::authz::{CheckRequest, Decision};
use crate::command::{
    Accepted, AddMember, AddWorkspaceMember, ApproveAccessRequest, AuditRecord, ChangeRole,
    ChangeWorkspaceRole, ClaimDomain, CreateOrg, CreateUser, CreateWorkspace, Invite, MoveResource,
    RegisterResource, RenameWorkspace, RequestAccess, SetDefaultWorkspace, UpdateOrg,
};
use crate::store::{
    AccessRequest, DomainClaim, Invitation, Membership, Org, Resource, User, Workspace,
    WorkspaceMember,
};

use super::resources::Revealed;
use super::workspaces::WorkspaceListing;

/// What a route answers on success.
#[derive(Clone, Copy)]
enum Body {
    /// A component schema by name.
    One(&'static str),
    /// `{"items": [<schema>], "next": <uuid>|null}`.
    Page(&'static str),
    /// Free-form JSON, described in the summary.
    Any,
}

/// One route of the API.
struct Route {
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    status: u16,
    response: Body,
    /// Error statuses beyond those every `/v1` route may give (400, 401, 413, 500).
    errors: &'static [u16],
}

const fn route(
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    status: u16,
    response: Body,
    errors: &'static [u16],
) -> Route {
    Route {
        method,
        path,
        summary,
        request,
        status,
        response,
        errors,
    }
}

use Body::{Any, One, Page};
use HttpMethod::{Delete, Get, Patch, Post, Put};

/// Statuses of a management write: denied, missing, conflicting.
const WRITE: &[u16] = &[403, 404, 409];
/// Statuses of a management read.
const READ: &[u16] = &[403, 404];
/// Statuses of a listing that leaves out the items the actor may not read
/// instead of refusing.
const FILTERED: &[u16] = &[404];

/// Every route, as `http::router` serves it.
const ROUTES: &[Route] = &[
    route(Get, "/healthz", "Liveness, the active policy revision and digest (no token)", None, 200, Any, &[]),
    route(Get, "/openapi.json", "This document (no token)", None, 200, Any, &[]),
    route(Post, "/v1/authorize", "One check: may principal do action on resource?", Some("CheckRequest"), 200, One("Decision"), &[]),
    route(Post, "/v1/authorize/batch", "Checks in order: `{\"requests\": [CheckRequest…]}` → `{\"policy_revision\", \"results\"}`", None, 200, Any, &[]),
    route(Get, "/v1/policies", "Active policy revision, digest, files and the last reload error", None, 200, Any, &[]),
    route(Post, "/v1/policies/reload", "Reload the policy directory now", None, 200, Any, &[422]),
    route(Get, "/v1/plugins", "Loaded plugins and hooks", None, 200, Any, &[]),
    route(Post, "/v1/plugins/reload", "Reload the plugin directory now", None, 200, Any, &[422]),
    route(Post, "/v1/plugins/call", "Call one plugin hook (testing aid)", None, 200, Any, &[404, 502, 503]),
    route(Post, "/v1/plugins/replay", "Re-run an audit record's plugin calls against the plugins serving now: `{\"audit_id\"}` → `{\"audit_id\", \"action\", \"calls\": [{\"hook\", \"recorded\", \"now\", \"same_output\"}]}`", None, 200, Any, &[404]),
    route(Post, "/v1/signup", "Create or find a user by email and auto-join by verified domain (system actor only): `{\"email\"}` → `{\"user\", \"created\", \"joined\", \"reason\", \"decided_by\"}`; 201 created, 200 known", None, 201, Any, &[403, 409, 502, 503]),
    route(Post, "/v1/orgs/{id}/credits", "Grant credits (system actor only): `{\"credits\", \"source\", \"memo\"?, \"expires_at\"?}`", None, 201, Any, WRITE),
    route(Get, "/v1/orgs/{id}/usage", "Usage of the current period: totals and per workspace (ViewBilling)", None, 200, Any, READ),
    route(Post, "/v1/orgs/{id}/usage", "Record a flow run's usage: `{\"workspace\", \"flow\", \"run_id\", \"credits\"?}`; the run id is its idempotency key; 402 insufficient_credits; 429 batch_queue_full when MAX_WAITING_COMMANDS posts already wait for their batch (RecordUsage; `credits` also needs PriceUsage, the vendor's, else the usage-pricing hook prices the run)", None, 201, Any, &[402, 403, 404, 409, 429, 502, 503]),
    route(Get, "/v1/orgs/{id}/usage/{at}", "Usage of the period containing an RFC 3339 time (ViewBilling)", None, 200, Any, READ),
    route(Get, "/v1/orgs/{id}/balance", "Credit balance, overage cap and the period's allowance and use (ViewBilling)", None, 200, Any, READ),
    route(Get, "/v1/orgs/{id}/accounts/{account}/entries", "An account's entries (`credits` or `seats_receivable`), newest first, paged (ViewBilling)", None, 200, Any, READ),
    route(Get, "/v1/orgs/{id}/billing-events", "Low-balance events, newest first (ViewBilling)", None, 200, Any, READ),
    route(Get, "/v1/orgs/{id}/billing", "Billing period, seat price and overage cap (ViewBilling)", None, 200, Any, READ),
    route(Put, "/v1/orgs/{id}/billing", "Set the billing period, seat price and overage cap (ManageBilling, the vendor's)", None, 201, Any, WRITE),
    route(Get, "/v1/orgs/{id}/seat-charges", "Seat charges of the current period, paged (ViewBilling)", None, 200, Any, READ),
    route(Get, "/v1/ledger/verify", "Recompute the whole ledger and report violations (system actor only)", None, 200, Any, &[403]),
    route(Post, "/v1/ledger/transactions/{id}/reversal", "Reverse a ledger transaction once: `{\"reason\"}` (system actor only)", None, 201, Any, WRITE),
    route(Post, "/v1/users", "Create a user (system actor only)", Some("CreateUser"), 201, One("User"), &[403, 409]),
    route(Get, "/v1/users/{id}", "Read a user (the system, or the user themself)", None, 200, One("User"), READ),
    route(Post, "/v1/orgs", "Create an org with its default workspace (system actor only)", Some("CreateOrg"), 201, One("Org"), &[403, 404]),
    route(Get, "/v1/orgs/{id}", "Read an org (ViewOrg); `seats_used` counts Admins, Members and Internal Guests", None, 200, One("Org"), READ),
    route(Patch, "/v1/orgs/{id}", "Change name, auto-join role or invitation mode (UpdateOrg), plan or seat limit (ManagePlan, the vendor's); `verified_domains` is refused (claim domains instead)", Some("UpdateOrg"), 200, One("Org"), WRITE),
    route(Get, "/v1/orgs/{id}/domains", "Domain claims with their TXT records, oldest first, paged (UpdateOrg)", None, 200, Page("DomainClaim"), READ),
    route(Post, "/v1/orgs/{id}/domains", "Claim a domain: `{\"domain\"}` → a pending claim and the TXT record to publish; 409 domain_taken, domain_already_claimed, too_many_domains (UpdateOrg)", Some("ClaimDomain"), 201, One("DomainClaim"), WRITE),
    route(Post, "/v1/orgs/{id}/domains/{domain}/verify", "Prove a claim: `{\"method\": \"dns\"}` (default; Warden looks the TXT record up) or `{\"method\": \"vendor\"}` (system actor only); 409 domain_not_proven, dns_lookup_failed, dns_unavailable, domain_taken (UpdateOrg)", None, 200, One("DomainClaim"), WRITE),
    route(Delete, "/v1/orgs/{id}/domains/{domain}", "Remove a claim; a verified domain stops auto-joining and is free for another org (UpdateOrg)", None, 200, One("DomainClaim"), WRITE),
    route(Put, "/v1/orgs/{id}/default-workspace", "Make one of the org's workspaces its default (SetDefaultWorkspace)", Some("SetDefaultWorkspace"), 200, One("Org"), WRITE),
    route(Get, "/v1/orgs/{id}/members", "Members with their roles, paged (ViewMembers)", None, 200, Page("Membership"), READ),
    route(Post, "/v1/orgs/{id}/members", "Add an existing user with a role (InviteMember)", Some("AddMember"), 201, One("Membership"), WRITE),
    route(Patch, "/v1/orgs/{id}/members/{user}", "Promote or demote a member; 409 last_admin for the last Admin (ChangeRole)", Some("ChangeRole"), 200, One("Membership"), WRITE),
    route(Delete, "/v1/orgs/{id}/members/{user}", "Remove a member and their workspace memberships; 409 last_admin (RemoveMember)", None, 200, One("Membership"), WRITE),
    route(Get, "/v1/orgs/{id}/invitations", "The invitations the actor may read one by one (InviteMember, or the invitee), oldest first, paged", None, 200, Page("Invitation"), FILTERED),
    route(Post, "/v1/orgs/{id}/invitations", "Invite an email address with a role; 409 invitation_pending or already_member (InviteMember)", Some("Invite"), 201, One("Invitation"), WRITE),
    route(Get, "/v1/orgs/{id}/invitations/{invitation}", "Read an invitation (InviteMember, or the invitee)", None, 200, One("Invitation"), READ),
    route(Post, "/v1/orgs/{id}/invitations/{invitation}/revoke", "Revoke; 409 invitation_accepted, 410 invitation_revoked (InviteMember)", None, 200, One("Invitation"), &[403, 404, 409, 410]),
    route(Post, "/v1/orgs/{id}/invitations/{invitation}/resend", "Pending again with a new expiry (InviteMember)", None, 200, One("Invitation"), &[403, 404, 409, 410]),
    route(Post, "/v1/orgs/{id}/invitations/{invitation}/accept", "Accept as the invited user (email must match); 409 invitation_accepted, 410 invitation_expired/invitation_revoked", None, 200, One("Accepted"), &[403, 404, 409, 410]),
    route(Get, "/v1/orgs/{id}/audit", "Audit records, newest first, paged (ViewAudit)", None, 200, Page("AuditRecord"), READ),
    route(Get, "/v1/orgs/{id}/workspaces", "The org's workspaces the actor may read one by one (ViewWorkspace on each), with the actor's membership, paged", None, 200, Page("WorkspaceListing"), FILTERED),
    route(Post, "/v1/orgs/{id}/workspaces", "Create a workspace; beyond the default one needs Pro+ (CreateWorkspace)", Some("CreateWorkspace"), 201, One("Workspace"), WRITE),
    route(Get, "/v1/workspaces/{id}", "Read a workspace (ViewWorkspace)", None, 200, One("Workspace"), READ),
    route(Patch, "/v1/workspaces/{id}", "Rename (UpdateWorkspace)", Some("RenameWorkspace"), 200, One("Workspace"), WRITE),
    route(Delete, "/v1/workspaces/{id}", "Delete an empty, non-default workspace; 409 default_workspace or workspace_not_empty (DeleteWorkspace)", None, 200, One("Workspace"), WRITE),
    route(Get, "/v1/workspaces/{id}/members", "Workspace members with their roles, paged (ViewWorkspace)", None, 200, Page("WorkspaceMember"), READ),
    route(Post, "/v1/workspaces/{id}/members", "Add an org member (ManageWorkspaceMembers)", Some("AddWorkspaceMember"), 201, One("WorkspaceMember"), WRITE),
    route(Patch, "/v1/workspaces/{id}/members/{user}", "Change a workspace role (ManageWorkspaceMembers)", Some("ChangeWorkspaceRole"), 200, One("WorkspaceMember"), WRITE),
    route(Delete, "/v1/workspaces/{id}/members/{user}", "Remove from the workspace (ManageWorkspaceMembers)", None, 200, One("WorkspaceMember"), WRITE),
    route(Get, "/v1/workspaces/{id}/access-requests", "The access requests the actor may read one by one (the requester or ManageWorkspaceMembers), oldest first, paged", None, 200, Page("AccessRequest"), FILTERED),
    route(Post, "/v1/workspaces/{id}/access-requests", "Ask to join as the acting user; 409 access_request_open or already_member (RequestAccess)", Some("RequestAccess"), 201, One("AccessRequest"), WRITE),
    route(Get, "/v1/workspaces/{id}/access-requests/{request}", "Read a request (the requester or ManageWorkspaceMembers)", None, 200, One("AccessRequest"), READ),
    route(Post, "/v1/workspaces/{id}/access-requests/{request}/approve", "Approve with a role; 409 access_request_decided (ManageWorkspaceMembers)", Some("ApproveAccessRequest"), 200, One("AccessRequest"), WRITE),
    route(Post, "/v1/workspaces/{id}/access-requests/{request}/deny", "Deny; 409 access_request_decided (ManageWorkspaceMembers)", None, 200, One("AccessRequest"), WRITE),
    route(Get, "/v1/workspaces/{id}/resources", "The workspace's resources the actor may read one by one (ViewResource on each), paged", None, 200, Page("Resource"), FILTERED),
    route(Post, "/v1/workspaces/{id}/resources", "Register a resource; a Credential may carry a `secret`, stored sealed (CreateResource)", Some("RegisterResource"), 201, One("Resource"), WRITE),
    route(Get, "/v1/resources/{id}", "Read a resource, never its secret (ViewResource)", None, 200, One("Resource"), READ),
    route(Delete, "/v1/resources/{id}", "Delete a resource (a folder once empty) and its secret (DeleteResource)", None, 200, One("Resource"), WRITE),
    route(Post, "/v1/resources/{id}/move", "Move to another workspace of the same org; 409 cross_org_move (MoveResource on it, CreateResource on the destination)", Some("MoveResource"), 200, One("Resource"), WRITE),
    route(Post, "/v1/resources/{id}/reveal", "A credential's secret in the clear, audited (RevealCredential)", None, 200, One("Revealed"), READ),
];

/// Serves the document.
pub async fn serve() -> Json<OpenApi> {
    Json(document())
}

/// The OpenAPI 3.1 document of the API.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in ROUTES {
        paths = paths.path(
            route.path,
            PathItem::new(route.method.clone(), operation(route)),
        );
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Warden")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Authorization and org lifecycle. Every /v1 route needs `Authorization: Bearer <admin token>`; \
                     management calls name the acting user with `X-Warden-Actor: <user id>` (none: the system actor); \
                     writes accept `Idempotency-Key`. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components()))
        .build()
}

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let mut operation = OperationBuilder::new().summary(Some(route.summary));
    for name in path_parameters(route.path) {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).format(
                    Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )),
                ))),
        );
    }
    if let Some(request) = route.request {
        operation = operation.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(schema_ref(request)))
                        .build(),
                )
                .required(Some(Required::True))
                .build(),
        ));
    }
    let success = ResponseBuilder::new().description("Success").content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(body_schema(route.response)))
            .build(),
    );
    operation = operation.response(route.status.to_string(), success.build());
    let common: &[u16] = if route.path.starts_with("/v1") {
        &[400, 401, 413, 500]
    } else {
        &[]
    };
    for status in common.iter().chain(route.errors) {
        let error = ResponseBuilder::new()
            .description(error_meaning(*status))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(schema_ref("Error")))
                    .build(),
            );
        operation = operation.response(status.to_string(), error.build());
    }
    operation.build()
}

/// The `{name}` segments of a path.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
}

fn error_meaning(status: u16) -> &'static str {
    match status {
        400 => "invalid_request: malformed input; `field` names it",
        401 => "unauthenticated: missing or wrong bearer token",
        403 => "forbidden: the policies deny the actor; `message` explains, `policies` lists the deciding ids",
        404 => "not_found: unknown id, or an id of another org",
        409 => "a conflict with the current state; `code` says which",
        410 => "the invitation expired or was revoked; `code` says which",
        413 => "a configured limit was exceeded",
        422 => "the reloaded files are invalid; `problems` lists them",
        500 => "a bug or a broken disk, never client input",
        502 => "plugin_failed: a plugin failed; `kind` says how",
        503 => "plugin_unavailable: no plugin can serve the hook (not loaded, gone, or two without a choice)",
        _ => "error",
    }
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn body_schema(body: Body) -> RefOr<Schema> {
    match body {
        One(name) => schema_ref(name),
        Page(name) => ObjectBuilder::new()
            .property("items", ArrayBuilder::new().items(schema_ref(name)))
            .required("items")
            .property(
                "next",
                ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                        Type::String,
                        Type::Null,
                    ]))
                    .description(Some("pass as `after` for the next page; null on the last. A page may hold fewer items than `limit`, even none, when the listing left out items the actor may not read")),
            )
            .required("next")
            .into(),
        Any => ObjectBuilder::new().into(),
    }
}

fn components() -> utoipa::openapi::Components {
    let error = ObjectBuilder::new().property(
        "error",
        ObjectBuilder::new()
            .property("code", ObjectBuilder::new().schema_type(Type::String))
            .required("code")
            .property("message", ObjectBuilder::new().schema_type(Type::String))
            .required("message")
            .property("field", ObjectBuilder::new().schema_type(Type::String)),
    );
    let mut components = ComponentsBuilder::new()
        .schema("Error", error)
        .security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    let adders: &[fn(ComponentsBuilder) -> ComponentsBuilder] = &[
        add::<CheckRequest>,
        add::<Decision>,
        add::<CreateUser>,
        add::<User>,
        add::<CreateOrg>,
        add::<Org>,
        add::<UpdateOrg>,
        add::<SetDefaultWorkspace>,
        add::<AddMember>,
        add::<ChangeRole>,
        add::<Membership>,
        add::<Invite>,
        add::<Invitation>,
        add::<Accepted>,
        add::<ClaimDomain>,
        add::<DomainClaim>,
        add::<AuditRecord>,
        add::<CreateWorkspace>,
        add::<RenameWorkspace>,
        add::<Workspace>,
        add::<WorkspaceListing>,
        add::<AddWorkspaceMember>,
        add::<ChangeWorkspaceRole>,
        add::<WorkspaceMember>,
        add::<RequestAccess>,
        add::<ApproveAccessRequest>,
        add::<AccessRequest>,
        add::<RegisterResource>,
        add::<MoveResource>,
        add::<Resource>,
        add::<Revealed>,
    ];
    for add in adders {
        components = add(components);
    }
    components.build()
}

/// Adds `T`'s schema and the schemas it refers to.
fn add<T: ToSchema>(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut referenced = Vec::new();
    T::schemas(&mut referenced);
    components.schema_from::<T>().schemas_from_iter(referenced)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The (METHOD, path) pairs `routes()` registers, read from the source
    /// of the router: every `.route("…", get(…).post(…))` call.
    fn routed() -> BTreeSet<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut found = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.ends_with("openapi.rs") {
                continue; // its comments quote `.route(`
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for call in source.split(".route(").skip(1) {
                let Some((route, rest)) = call
                    .trim_start()
                    .strip_prefix('"')
                    .and_then(|c| c.split_once('"'))
                else {
                    continue;
                };
                for method in ["get", "post", "patch", "put", "delete"] {
                    if calls(route_arguments(rest), method) {
                        found.insert((method.to_uppercase(), route.to_string()));
                    }
                }
            }
        }
        found
    }

    /// The rest of a `.route(` call's arguments: up to its closing parenthesis.
    fn route_arguments(rest: &str) -> &str {
        let mut depth = 1;
        for (at, c) in rest.char_indices() {
            depth += match c {
                '(' => 1,
                ')' => -1,
                _ => 0,
            };
            if depth == 0 {
                return &rest[..at];
            }
        }
        rest
    }

    /// Whether `text` calls the function `name` (not `name_suffix(`).
    fn calls(text: &str, name: &str) -> bool {
        text.match_indices(&format!("{name}("))
            .any(|(at, _)| !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
    }

    #[test]
    fn every_route_of_the_router_is_documented_and_nothing_else() {
        let doc = serde_json::to_value(document()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let routed = routed();
        assert!(routed.len() > 40, "the source scan found only {routed:?}");
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from /openapi.json: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
    }

    #[test]
    fn every_referenced_schema_exists() {
        let doc = serde_json::to_value(document()).unwrap();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(schemas.contains_key(name), "missing schema {name}");
        }
    }
}
