//! `GET /openapi.json`: the API described from the code, complete enough
//! for a fuzzer (Schemathesis, `tests/schemathesis.sh`) to hold the server
//! to it. Request and response schemas come from the Rust types (utoipa's
//! `ToSchema`); integer bounds follow each integer's Rust type; the field
//! rules the commands enforce (`fields` and the ledger limits) are
//! laid onto those schemas from the same constants (`FIELD_RULES`). The
//! routes come from the registry (`http::endpoints()`), each declared with
//! what it takes and answers next to its handler; a test holds each
//! declaration to its handler's extractors.

use axum::extract::State;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::ComponentsBuilder;
use utoipa::ToSchema;

use super::access::AccessPage;
use super::authzen::{
    ActionSearchRequest, EvaluationRequest, EvaluationResponse, EvaluationsRequest,
    EvaluationsResponse, PdpMetadata, ResourceSearchRequest, SearchResponse, SubjectSearchRequest,
};
use super::checks::BatchRequest;
use super::common::DEFAULT_PAGE_SIZE;
use super::endpoint::{requires_token, Body, Filter, FilterRule, Route, Takes, NO_FIELDS};
use super::extract::{ACTOR_HEADER, CONSISTENCY_HEADER, IDEMPOTENCY_HEADER};
use super::plugins::{CallRequest, ReplayRequest};
use super::resources::Revealed;
use super::workspaces::WorkspaceListing;
use super::{ApiState, HttpLimits};
use crate::authz::{CheckRequest, Decision};
use crate::command::{
    Accepted, AddMember, AddWorkspaceMember, ApproveAccessRequest, AuditRecord, ChangeRole,
    ChangeWorkspaceRole, ClaimDomain, CreateOrg, CreateUser, CreateWorkspace, GrantCredits, Invite,
    MoveResource, RecordUsage, RegisterResource, RenameWorkspace, RequestAccess,
    ReverseTransaction, SetBilling, SetDefaultWorkspace, SignUp, UpdateOrg, VerifyDomain,
    MAX_CREDITS_PER_GRANT, MAX_IDEMPOTENCY_KEY_BYTES, MAX_MEMO_BYTES, MAX_OVERAGE_CAP_CREDITS,
    MAX_SHARED_WITH,
};
use crate::fields::{
    self, MAX_ADDRESS_INPUT_BYTES, MAX_DOMAINS, MAX_DOMAIN_BYTES, MAX_EMAIL_BYTES, MAX_LABEL_BYTES,
    MAX_NAME_CHARS, MAX_NOTE_CHARS,
};
use crate::ledger::MAX_SEAT_PRICE_CENTS;
use crate::plugin::types::MAX_CREDITS_PER_RUN;
use crate::store::{
    AccessRequest, DomainClaim, Invitation, Membership, Org, OrgRole, Resource, User, Workspace,
    WorkspaceMember, MAX_PAGE_SIZE,
};

/// The name of the bearer scheme every `/v1` route requires.
const SECURITY_SCHEME: &str = "admin_token";

/// The org accounts `GET /v1/orgs/{id}/accounts/{account}/entries` lists
/// (the names its handler matches).
const ORG_ACCOUNTS: [&str; 2] = ["credits", "seats_receivable"];

/// The id the examples use for a path's `{id}`-like segments.
const EXAMPLE_ID: &str = "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e00";

/// Serves the document of this server (its limits).
pub async fn serve(State(state): State<ApiState>) -> axum::Json<Value> {
    axum::Json(document(&state.limits))
}

/// The OpenAPI 3.1 document of the API served with `limits`.
pub fn document(limits: &HttpLimits) -> Value {
    let components = components(limits);
    let mut paths = Map::new();
    for endpoint in super::endpoints() {
        let route = &endpoint.route;
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.name()] = operation(route, &components["schemas"]);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Warden",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Authorization and org lifecycle. Every /v1 route, the AuthZEN Authorization API 1.0 under /access/v1 and /metrics need `Authorization: Bearer <admin token>`; \
                management calls name the acting user with `X-Warden-Actor: <user id>` (none: the system actor); \
                writes accept `Idempotency-Key`. Errors are `{\"error\": {\"code\", \"message\", \"field\"?, \"request_id\"}}`. \
                Every answer carries `X-Request-Id`: the request's own (printable ASCII, at most 128 bytes), else the trace id of its W3C `traceparent`, else a new one.",
        },
        "paths": paths,
        "components": components,
    })
}

fn operation(route: &Route, schemas: &Value) -> Value {
    let mut parameters: Vec<Value> = path_parameters(route.path).map(path_parameter).collect();
    if matches!(
        route.takes,
        Takes::Actor | Takes::Filtered(_) | Takes::Command(..) | Takes::ActorJson(..)
    ) {
        parameters.push(actor_header());
    }
    if let Takes::Filtered(filters) = route.takes {
        parameters.extend(filters.iter().map(filter_parameter));
    }
    if matches!(route.takes, Takes::Command(..)) {
        parameters.push(idempotency_header());
    }
    if matches!(route.takes, Takes::Check(..)) {
        parameters.push(consistency_header());
    }
    if route.response.paged() {
        parameters.extend(page_parameters(route.response));
    }
    let mut operation = json!({
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses(route),
    });
    if let Takes::Json(schema, example)
    | Takes::Check(schema, example)
    | Takes::Command(schema, example)
    | Takes::ActorJson(schema, example) = route.takes
    {
        operation["requestBody"] = request_body(schemas, schema, example);
    }
    if requires_token(route.path) {
        operation["security"] = json!([{ SECURITY_SCHEME: [] }]);
    }
    operation
}

/// The `{name}` segments of a path.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
}

/// A path segment: a time, an account name, a domain, or else a uuid.
fn path_parameter(name: &str) -> Value {
    let (schema, example) = match name {
        "at" => (supported_time_schema(), json!("2026-01-15T12:00:00Z")),
        "account" => (
            json!({"type": "string", "enum": ORG_ACCOUNTS}),
            json!(ORG_ACCOUNTS[0]),
        ),
        "domain" => (domain_schema(), json!("acme.com")),
        _ => (uuid_schema(), json!(EXAMPLE_ID)),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema, "example": example})
}

fn actor_header() -> Value {
    json!({
        "name": header_name(ACTOR_HEADER),
        "in": "header",
        "required": false,
        "description": "The user the call acts for; none: the system actor (the vendor). Sent at most once.",
        "schema": uuid_schema(),
    })
}

fn idempotency_header() -> Value {
    json!({
        "name": header_name(IDEMPOTENCY_HEADER),
        "in": "header",
        "required": false,
        "description": "Makes the write safe to retry: a retry with the same key and body replays the first answer; another body is a 409.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDEMPOTENCY_KEY_BYTES,
            "pattern": "^[!-~]+$",
        },
        "example": "order-1042-grant",
    })
}

fn consistency_header() -> Value {
    json!({
        "name": header_name(CONSISTENCY_HEADER),
        "in": "header",
        "required": false,
        "description": "How fresh the data must be on a shared database: `full` (default) sees every write acknowledged before the check arrived; `minimize_latency` those acknowledged 100 ms before, and seldom waits for the database; `at_least:<revision>` the writes below a write's `X-Warden-Revision`.",
        "schema": {"type": "string", "pattern": "^(full|minimize_latency|at_least:[0-9]{1,19})$"},
        "example": "minimize_latency",
    })
}

/// `x-warden-actor` as HTTP spells it in documents: `X-Warden-Actor`.
fn header_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// A listing's filter: a query string parameter, whose schema is that of
/// a body field of its rule.
fn filter_parameter(filter: &Filter) -> Value {
    let mut schema = json!({});
    match filter.rule {
        FilterRule::Name => lay_rule(&mut schema, Rule::Name),
        FilterRule::Email => lay_rule(&mut schema, Rule::Email),
        FilterRule::Domain => lay_rule(&mut schema, Rule::Domain),
        FilterRule::SchemaName => schema = json!({"type": "string", "minLength": 1}),
    }
    json!({
        "name": filter.name,
        "in": "query",
        "required": filter.required,
        "description": filter.description,
        "example": filter.example,
        "schema": schema,
    })
}

/// `after` (an id, or a search's page token) and `limit`.
fn page_parameters(body: Body) -> [Value; 2] {
    let after = match body {
        Body::TokenPage(_) => json!({"type": "string", "minLength": 1}),
        _ => uuid_schema(),
    };
    [
        json!({
            "name": "after",
            "in": "query",
            "required": false,
            "description": "the `next` of the previous page",
            "schema": after,
        }),
        json!({
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "most items on the page",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
        }),
    ]
}

/// A body of a component schema; required when the schema has required
/// fields or a body rule (a command's empty body reads as `{}`).
fn request_body(schemas: &Value, schema: &str, example: &str) -> Value {
    let schema_of = &schemas[schema];
    let required = schema_of["required"]
        .as_array()
        .is_some_and(|fields| !fields.is_empty())
        || schema_of.get("anyOf").is_some();
    let example: Value = serde_json::from_str(example).expect("route examples are JSON");
    json!({
        "required": required,
        "content": {"application/json": {"schema": schema_ref(schema), "example": example}},
    })
}

fn responses(route: &Route) -> Value {
    let mut responses = Map::new();
    let media_type = match route.response {
        Body::Text => "text/plain",
        _ => "application/json",
    };
    let success = |status: u16| {
        (
            status.to_string(),
            json!({"description": "Success", "content": {media_type: {"schema": body_schema(route.response)}}}),
        )
    };
    let (key, value) = success(route.status);
    responses.insert(key, value);
    let common: &[u16] = if requires_token(route.path) {
        &[400, 401, 413, 500]
    } else {
        &[]
    };
    // A command's `Idempotency-Key` sent again with another request is a 409.
    let reused_key: &[u16] = if matches!(route.takes, Takes::Command(..)) {
        &[409]
    } else {
        &[]
    };
    for &status in common.iter().chain(route.errors).chain(reused_key) {
        let (key, value) = if status < 400 {
            success(status)
        } else {
            (
                status.to_string(),
                json!({"description": error_meaning(status), "content": {"application/json": {"schema": schema_ref("Error")}}}),
            )
        };
        responses.insert(key, value);
    }
    Value::Object(responses)
}

fn error_meaning(status: u16) -> &'static str {
    match status {
        400 => "invalid_request: malformed input; `field` names it",
        401 => "unauthenticated: missing or wrong bearer token",
        402 => "insufficient_credits: the org's credits (and overage cap) do not cover the run",
        403 => "forbidden: the policies deny the actor; `message` explains, `policies` lists the deciding ids",
        404 => "not_found: unknown id, or an id of another org",
        409 => "a conflict with the current state; `code` says which",
        410 => "the invitation expired or was revoked; `code` says which",
        413 => "a configured limit was exceeded",
        422 => "the reloaded files are invalid; `problems` lists them",
        429 => "batch_queue_full: too many usage posts wait for their batch; retry",
        500 => "a bug or a broken disk, never client input",
        502 => "plugin_failed: a plugin failed; `kind` says how",
        503 => "plugin_unavailable: no plugin can serve the hook (not loaded, gone, or two without a choice)",
        _ => "error",
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn uuid_schema() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn body_schema(body: Body) -> Value {
    match body {
        Body::One(name) | Body::TokenPage(name) => schema_ref(name),
        Body::Page(name) => page_of(schema_ref(name)),
        Body::AnyPage => page_of(json!({"type": "object"})),
        Body::PagedReport | Body::Any => json!({"type": "object"}),
        Body::Text => json!({"type": "string"}),
    }
}

fn page_of(item: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "next": {
                "type": ["string", "null"],
                "format": "uuid",
                "description": "pass as `after` for the next page; null on the last. A page may hold fewer items than `limit`, even none, when the listing left out items the actor may not read",
            },
        },
        "required": ["items", "next"],
    })
}

/// The component schemas (from the Rust types, with the field rules laid
/// on and integers bounded) and the bearer scheme.
fn components(limits: &HttpLimits) -> Value {
    let mut builder = ComponentsBuilder::new().security_scheme(
        SECURITY_SCHEME,
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let adders: &[fn(ComponentsBuilder) -> ComponentsBuilder] = &[
        add::<CheckRequest>,
        add::<BatchRequest>,
        add::<Decision>,
        add::<EvaluationRequest>,
        add::<EvaluationsRequest>,
        add::<EvaluationResponse>,
        add::<EvaluationsResponse>,
        add::<PdpMetadata>,
        add::<AccessPage>,
        add::<SubjectSearchRequest>,
        add::<ResourceSearchRequest>,
        add::<ActionSearchRequest>,
        add::<SearchResponse>,
        add::<CallRequest>,
        add::<ReplayRequest>,
        add::<SignUp>,
        add::<GrantCredits>,
        add::<RecordUsage>,
        add::<SetBilling>,
        add::<ReverseTransaction>,
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
        add::<VerifyDomain>,
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
        builder = add(builder);
    }
    let mut components = serde_json::to_value(builder.build()).expect("components serialise");
    let schemas = &mut components["schemas"];
    schemas["Error"] = error_schema();
    schemas[NO_FIELDS] = json!({
        "type": "object",
        "additionalProperties": false,
        "description": "no fields: send no body, or `{}`",
    });
    schemas["BatchRequest"]["properties"]["requests"]["maxItems"] = json!(limits.max_batch);
    schemas["EvaluationsRequest"]["properties"]["evaluations"]["maxItems"] =
        json!(limits.max_batch);
    for &(schema, property, rule) in FIELD_RULES {
        let slot = &mut schemas[schema]["properties"][property];
        assert!(
            slot.is_object(),
            "FIELD_RULES names {schema}.{property}, which its schema lacks"
        );
        lay_rule(slot, rule);
    }
    for &(schema, rule) in OBJECT_RULES {
        let object = &mut schemas[schema];
        assert!(
            object.is_object(),
            "OBJECT_RULES names {schema}, which is not a schema"
        );
        object["anyOf"] = object_rule(rule);
    }
    bound_integers(&mut components);
    components
}

/// A rule a command enforces on its body as a whole.
#[derive(Clone, Copy)]
enum ObjectRule {
    /// Exactly one of these fields, not null.
    ExactlyOne(&'static [&'static str]),
    /// At least one of these fields, not null.
    AtLeastOne(&'static [&'static str]),
}

/// The body rules of the request bodies: (schema, rule).
const OBJECT_RULES: &[(&str, ObjectRule)] = &[
    // `AddWorkspaceMember::user`: "name the member: user (an id) or email".
    (
        "AddWorkspaceMember",
        ObjectRule::ExactlyOne(&["user", "email"]),
    ),
    // `UpdateOrg::validate`: an update changes something.
    (
        "UpdateOrg",
        ObjectRule::AtLeastOne(&[
            "name",
            "plan",
            "seat_limit",
            "autojoin_role",
            "invitation_mode",
        ]),
    ),
];

/// The `anyOf` branches that say `rule`.
fn object_rule(rule: ObjectRule) -> Value {
    let not_null = json!({"not": {"type": "null"}});
    let given = |field: &str| json!({"required": [field], "properties": {field: not_null}});
    match rule {
        ObjectRule::AtLeastOne(fields) => fields.iter().map(|f| given(f)).collect(),
        ObjectRule::ExactlyOne(fields) => fields
            .iter()
            .map(|field| {
                let mut branch = given(field);
                for other in fields.iter().filter(|o| *o != field) {
                    branch["properties"][*other] = json!({"type": "null"});
                }
                branch
            })
            .collect(),
    }
}

/// Adds `T`'s schema and the schemas it refers to.
fn add<T: ToSchema>(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut referenced = Vec::new();
    T::schemas(&mut referenced);
    components.schema_from::<T>().schemas_from_iter(referenced)
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "request_id": {"type": "string"},
                },
                "required": ["code", "message"],
            },
        },
        "required": ["error"],
    })
}

/// A rule a command enforces on a field, beyond its Rust type.
#[derive(Clone, Copy)]
enum Rule {
    /// `fields::name`.
    Name,
    /// `fields::email`.
    Email,
    /// `fields::domain`.
    Domain,
    /// `fields::verifiable_domains`: at most `MAX_DOMAINS` domains.
    Domains,
    /// `fields::note`.
    Note,
    /// A ledger memo: at most `MAX_MEMO_BYTES` bytes.
    Memo,
    /// A reversal's reason: a memo that is not blank.
    Reason,
    /// `fields::autojoin_role`.
    AutojoinRole,
    /// An integer within these bounds.
    Between(u64, u64),
    /// A list of at most this many items.
    MaxItems(usize),
    /// `ledger::supported_time`.
    SupportedTime,
}

/// An RFC 3339 time the ledger accepts (`ledger::supported_time`).
fn supported_time_schema() -> Value {
    json!({
        "type": "string",
        "format": "date-time",
        "pattern": crate::ledger::SUPPORTED_TIME_PATTERN,
        "description": format!(
            "an RFC 3339 time in the years {} to {}",
            crate::ledger::EARLIEST_YEAR,
            crate::ledger::LATEST_YEAR
        ),
    })
}

/// The field rules of the request bodies: (schema, property, rule).
const FIELD_RULES: &[(&str, &str, Rule)] = &[
    ("CreateOrg", "name", Rule::Name),
    ("CreateOrg", "verified_domains", Rule::Domains),
    ("CreateOrg", "autojoin_role", Rule::AutojoinRole),
    ("UpdateOrg", "name", Rule::Name),
    ("UpdateOrg", "autojoin_role", Rule::AutojoinRole),
    ("CreateWorkspace", "name", Rule::Name),
    ("RenameWorkspace", "name", Rule::Name),
    ("CreateUser", "email", Rule::Email),
    ("SignUp", "email", Rule::Email),
    ("Invite", "email", Rule::Email),
    ("AddWorkspaceMember", "email", Rule::Email),
    ("ClaimDomain", "domain", Rule::Domain),
    ("RequestAccess", "message", Rule::Note),
    (
        "RegisterResource",
        "shared_with",
        Rule::MaxItems(MAX_SHARED_WITH),
    ),
    (
        "GrantCredits",
        "credits",
        Rule::Between(1, MAX_CREDITS_PER_GRANT),
    ),
    ("GrantCredits", "memo", Rule::Memo),
    (
        "RecordUsage",
        "credits",
        Rule::Between(0, MAX_CREDITS_PER_RUN),
    ),
    (
        "SetBilling",
        "seat_price_cents",
        Rule::Between(0, MAX_SEAT_PRICE_CENTS),
    ),
    (
        "SetBilling",
        "overage_cap_credits",
        Rule::Between(0, MAX_OVERAGE_CAP_CREDITS),
    ),
    ("ReverseTransaction", "reason", Rule::Reason),
    ("SetBilling", "period_start", Rule::SupportedTime),
    ("SetBilling", "period_end", Rule::SupportedTime),
];

/// Lays `rule` onto a property's schema: bounds onto its own, or a string
/// schema in its place (still accepting `null` where it did).
fn lay_rule(slot: &mut Value, rule: Rule) {
    let string = match rule {
        Rule::Between(min, max) => {
            slot["minimum"] = json!(min);
            slot["maximum"] = json!(max);
            return;
        }
        Rule::MaxItems(most) => {
            slot["maxItems"] = json!(most);
            return;
        }
        Rule::Domains => {
            slot["maxItems"] = json!(MAX_DOMAINS);
            slot["items"] = domain_schema();
            return;
        }
        Rule::Name => json!({
            "type": "string",
            "pattern": name_pattern(),
            "description": format!("1 to {MAX_NAME_CHARS} characters once trimmed, no control characters"),
        }),
        Rule::Email => json!({
            "type": "string",
            "format": "email",
            "maxLength": MAX_EMAIL_BYTES,
            "description": format!("an email address, at most {MAX_EMAIL_BYTES} bytes normalised (lower case, IDNA domain); no invisible, bidi or mixed-script characters"),
        }),
        Rule::Domain => domain_schema(),
        Rule::SupportedTime => supported_time_schema(),
        Rule::Note => json!({
            "type": "string",
            "pattern": note_pattern(),
            "description": format!("at most {MAX_NOTE_CHARS} characters once trimmed; line breaks but no other control characters"),
        }),
        Rule::Memo => json!({
            "type": "string",
            "maxLength": MAX_MEMO_BYTES,
            "description": format!("at most {MAX_MEMO_BYTES} bytes of UTF-8"),
        }),
        Rule::Reason => json!({
            "type": "string",
            "maxLength": MAX_MEMO_BYTES,
            "pattern": format!("[^{WHITESPACE}]"),
            "description": format!("not blank, at most {MAX_MEMO_BYTES} bytes of UTF-8"),
        }),
        Rule::AutojoinRole => json!({
            "type": "string",
            "enum": OrgRole::ALL
                .into_iter()
                .filter(|role| fields::autojoin_role("autojoin_role", *role).is_ok())
                .collect::<Vec<_>>(),
            "description": "the role users who auto-join by a verified domain get (not admin)",
        }),
    };
    *slot = if nullable(slot) {
        json!({"anyOf": [string, {"type": "null"}]})
    } else {
        string
    };
}

/// Whether a schema accepts `null` (an `Option` field).
fn nullable(schema: &Value) -> bool {
    let null = json!("null");
    let in_types = schema["type"]
        .as_array()
        .is_some_and(|types| types.contains(&null));
    let in_branches = ["oneOf", "anyOf"].iter().any(|key| {
        schema[key]
            .as_array()
            .is_some_and(|branches| branches.iter().any(|b| b["type"] == null))
    });
    in_types || in_branches
}

/// What `str::trim` removes: Unicode's White_Space characters, as a
/// character class body both ECMA-262 and Rust regexes read.
const WHITESPACE: &str = r"\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// What `char::is_control` refuses: category Cc.
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";
/// Control characters other than the line feed, which notes may hold.
const CONTROL_BUT_LINE_FEED: &str = r"\x00-\x09\x0B-\x1F\x7F-\x9F";

/// `fields::name`: 1 to `MAX_NAME_CHARS` characters once trimmed, none of
/// them a control character.
fn name_pattern() -> String {
    let edge = format!("[^{WHITESPACE}{CONTROL}]");
    let inner = format!("[^{CONTROL}]{{0,{}}}", MAX_NAME_CHARS - 2);
    format!("^[{WHITESPACE}]*{edge}(?:{inner}{edge})?[{WHITESPACE}]*$")
}

/// `fields::note`: at most `MAX_NOTE_CHARS` characters once trimmed, line
/// breaks but no other control characters.
fn note_pattern() -> String {
    let edge = format!("[^{WHITESPACE}{CONTROL}]");
    let inner = format!("[^{CONTROL_BUT_LINE_FEED}]{{0,{}}}", MAX_NOTE_CHARS - 2);
    format!("^[{WHITESPACE}]*(?:{edge}(?:{inner}{edge})?)?[{WHITESPACE}]*$")
}

/// `fields::domain` for ASCII names: labels of letters, digits and inner
/// hyphens (not `--` as their third and fourth), at least two, at most `MAX_DOMAIN_BYTES` in all, one trailing
/// dot allowed, surrounding whitespace trimmed. (The server also takes
/// Unicode names, stored in their IDNA form.)
fn domain_schema() -> Value {
    // A label: letters, digits and inner hyphens, never `--` as its third
    // and fourth characters (IDNA reserves those: `xn--`).
    let (a, ah) = ("[A-Za-z0-9]", "[A-Za-z0-9-]");
    let label = format!(
        "{a}(?:{a}|{ah}(?:{a}(?:{ah}{{0,{}}}{a})?|-{a}(?:{ah}{{0,{}}}{a})?))?",
        MAX_LABEL_BYTES - 4,
        MAX_LABEL_BYTES - 5
    );
    json!({
        "type": "string",
        "pattern": format!("^[{WHITESPACE}]*(?:{label}\\.)+{label}\\.?[{WHITESPACE}]*$"),
        "maxLength": MAX_DOMAIN_BYTES,
        "description": format!("a DNS domain name, at most {MAX_DOMAIN_BYTES} bytes in its ASCII (IDNA) form; \
            no invisible, bidi or mixed-script characters; input of at most {MAX_ADDRESS_INPUT_BYTES} bytes"),
        "example": "acme.com",
    })
}

/// Gives every integer schema the bounds of its Rust type, named by its
/// format (`uint32`: a `u32`), so a value the type cannot hold is outside
/// the document too.
fn bound_integers(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let integer = match object.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
                _ => false,
            };
            let format = object.get("format").and_then(Value::as_str);
            // utoipa spells the unsigned formats `u-int32`; OpenAPI's
            // registry spells them `uint32`.
            let format = format.map(|f| f.replacen("u-int", "uint", 1));
            let bounds = format.as_deref().and_then(integer_bounds);
            if let (true, Some((min, max))) = (integer, bounds) {
                object.insert("format".into(), json!(format));
                object.entry("minimum").or_insert(min);
                object.entry("maximum").or_insert(max);
            }
            object.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// The range of the Rust integer type an OpenAPI integer format names.
fn integer_bounds(format: &str) -> Option<(Value, Value)> {
    Some(match format {
        "int8" => (json!(i8::MIN), json!(i8::MAX)),
        "int16" => (json!(i16::MIN), json!(i16::MAX)),
        "int32" => (json!(i32::MIN), json!(i32::MAX)),
        "int64" => (json!(i64::MIN), json!(i64::MAX)),
        "uint8" => (json!(0), json!(u8::MAX)),
        "uint16" => (json!(0), json!(u16::MAX)),
        "uint32" => (json!(0), json!(u32::MAX)),
        "uint64" => (json!(0), json!(u64::MAX)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::{DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES};

    fn limits() -> HttpLimits {
        HttpLimits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }

    /// The parameter list of `async fn name(` in `source`.
    fn signature<'a>(source: &'a str, name: &str) -> &'a str {
        let start = source
            .find(&format!("async fn {name}("))
            .unwrap_or_else(|| panic!("no handler {name}"));
        let rest = &source[start..];
        &rest[..rest.find(" -> ").unwrap_or(rest.len())]
    }

    /// Each route declares what its handler extracts: a command
    /// (`Write<T>`) its body of schema `T` (or no fields), the acting user
    /// and `Idempotency-Key`; a JSON body (`ApiJson<T>`) its schema `T`; an
    /// `ActingUser` the actor header; a `RawQuery` `after` and `limit`.
    #[test]
    fn every_body_taking_route_declares_its_body_and_headers() {
        for endpoint in crate::http::endpoints() {
            let route = &endpoint.route;
            let key = (route.method.name().to_uppercase(), route.path.to_string());
            // A command route's handler is generic: it reads `Write<C>`.
            let name = endpoint.handler_name.replace(' ', "");
            if let Some((_, command)) = name.split_once("command_handler::<") {
                let command = &command[..command.find(',').unwrap()];
                let Takes::Command(schema, _) = route.takes else {
                    panic!("{key:?} runs {command} but is not documented as a command");
                };
                assert!(
                    schema == command || schema == NO_FIELDS,
                    "{key:?}: {schema} for {command}"
                );
                assert!(!route.response.paged(), "{key:?}: a command is not paged");
                continue;
            }
            // `openapi::serve` is `serve` of openapi.rs.
            let (file, handler) = match endpoint.handler_name.rsplit_once("::") {
                Some((module, name)) => (format!("{}.rs", module.trim()), name.trim()),
                None => {
                    let file = std::path::Path::new(endpoint.file).file_name().unwrap();
                    (file.to_str().unwrap().to_string(), endpoint.handler_name)
                }
            };
            let source = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("src/http")
                    .join(&file),
            )
            .unwrap();
            let signature = signature(&source, handler);
            let extracted = |name: &str| {
                signature
                    .split(&format!("{name}<"))
                    .nth(1)
                    .map(|rest| rest[..rest.find('>').unwrap()].to_string())
            };
            let at = format!("{} {} ({handler})", key.0, key.1);
            match route.takes {
                Takes::Command(schema, _) => {
                    let body =
                        extracted("Write").unwrap_or_else(|| panic!("{at} takes no command"));
                    assert!(
                        schema == body || schema == NO_FIELDS,
                        "{at} takes {body}, documented {schema}"
                    );
                }
                Takes::Json(schema, _) => {
                    assert_eq!(extracted("ApiJson").as_deref(), Some(schema), "{at}");
                    assert!(
                        !signature.contains("Consistency"),
                        "{at} reads a consistency"
                    );
                }
                Takes::Check(schema, _) => {
                    assert_eq!(extracted("ApiJson").as_deref(), Some(schema), "{at}");
                    assert!(
                        signature.contains("Consistency"),
                        "{at} reads no consistency"
                    );
                }
                Takes::ActorJson(schema, _) => {
                    assert_eq!(extracted("ApiJson").as_deref(), Some(schema), "{at}");
                    assert!(
                        signature.contains("ActingUser"),
                        "{at} reads no acting user"
                    );
                }
                Takes::Actor | Takes::Filtered(_) => {
                    assert!(
                        extracted("Write").is_none() && extracted("ApiJson").is_none(),
                        "{at} takes a body"
                    );
                    assert!(
                        signature.contains("ActingUser"),
                        "{at} reads no acting user"
                    );
                }
                Takes::Nothing => {
                    assert!(
                        extracted("Write").is_none() && extracted("ApiJson").is_none(),
                        "{at} takes a body"
                    );
                    assert!(
                        !signature.contains("ActingUser"),
                        "{at} reads the acting user"
                    );
                }
            }
            assert_eq!(
                route.response.paged(),
                signature.contains("RawQuery"),
                "{at}: paging"
            );
        }
        let doc = document(&limits());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let endpoints = crate::http::endpoints();
                let route = &endpoints
                    .iter()
                    .find(|e| e.route.path == path && e.route.method.name() == method)
                    .unwrap()
                    .route;
                let declared = operation.get("requestBody").is_some();
                assert_eq!(
                    declared,
                    matches!(
                        route.takes,
                        Takes::Json(..)
                            | Takes::Check(..)
                            | Takes::Command(..)
                            | Takes::ActorJson(..)
                    ),
                    "{method} {path}"
                );
            }
        }
    }

    /// Every `/v1` operation requires the bearer scheme; the two open
    /// routes do not.
    #[test]
    fn every_v1_operation_requires_the_bearer_token() {
        let doc = document(&limits());
        assert_eq!(
            doc["components"]["securitySchemes"][SECURITY_SCHEME]["scheme"],
            "bearer"
        );
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let required = operation["security"] == json!([{ SECURITY_SCHEME: [] }]);
                assert_eq!(required, requires_token(path), "{method} {path}");
            }
        }
    }

    /// Every operation that takes input has an example of it, and a body's
    /// example names every required field of its schema and no field the
    /// schema lacks.
    #[test]
    fn every_input_has_an_example_that_fits_its_schema() {
        let doc = document(&limits());
        let schemas = &doc["components"]["schemas"];
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for parameter in operation["parameters"].as_array().unwrap() {
                    if parameter["required"] == true {
                        assert!(
                            parameter.get("example").is_some(),
                            "{method} {path}: {parameter}"
                        );
                    }
                }
                let Some(body) = operation.get("requestBody") else {
                    continue;
                };
                let content = &body["content"]["application/json"];
                let name = content["schema"]["$ref"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap();
                let schema = &schemas[name];
                let example = content["example"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path}: no example"));
                for field in schema["required"].as_array().into_iter().flatten() {
                    assert!(
                        example.contains_key(field.as_str().unwrap()),
                        "{method} {path}: example lacks {field}"
                    );
                }
                for field in example.keys() {
                    assert!(
                        schema["properties"].get(field).is_some(),
                        "{method} {path}: {name} has no {field}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_referenced_schema_exists() {
        let doc = document(&limits());
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(schemas.contains_key(name), "missing schema {name}");
        }
    }

    #[test]
    fn integers_are_bounded_by_their_rust_types() {
        let doc = document(&limits());
        let schemas = &doc["components"]["schemas"];
        let seat_limit = &schemas["CreateOrg"]["properties"]["seat_limit"];
        assert_eq!(seat_limit["format"], "uint32");
        assert_eq!(seat_limit["minimum"], 0);
        assert_eq!(seat_limit["maximum"], u32::MAX);
        let credits = &schemas["GrantCredits"]["properties"]["credits"];
        assert_eq!(
            (&credits["minimum"], &credits["maximum"]),
            (&json!(1), &json!(MAX_CREDITS_PER_GRANT))
        );
        let text = doc.to_string();
        assert!(
            !text.contains("\"int32\""),
            "an int32 in the document: no API integer is an i32"
        );
    }

    #[test]
    fn autojoin_role_excludes_admin() {
        let doc = document(&limits());
        let roles =
            &doc["components"]["schemas"]["CreateOrg"]["properties"]["autojoin_role"]["enum"];
        assert_eq!(
            roles,
            &json!(["member", "guest_internal", "guest_external"])
        );
    }

    /// Characters that sit on the edges of the rules: whitespace that
    /// `trim` removes, controls, the line feed, and ordinary letters.
    fn edgy_text(max_len: usize) -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            Just(' '),
            Just('\t'),
            Just('\n'),
            Just('\r'),
            Just('\u{85}'),
            Just('\u{a0}'),
            Just('\u{3000}'),
            Just('\u{1c}'),
            Just('\u{0}'),
            Just('\u{7f}'),
            Just('\u{9f}'),
            Just('\u{200b}'),
            Just('a'),
            Just('é'),
            Just('名'),
            any::<char>(),
        ];
        prop::collection::vec(pieces, 0..max_len).prop_map(|chars| chars.into_iter().collect())
    }

    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(text)
    }

    proptest! {
        /// The document's name pattern accepts exactly what `fields::name` does.
        #[test]
        fn name_pattern_is_the_name_rule(text in edgy_text(12)) {
            prop_assert_eq!(matches(&name_pattern(), &text), fields::name("name", &text).is_ok(), "{:?}", text);
        }

        #[test]
        fn note_pattern_is_the_note_rule(text in edgy_text(12)) {
            prop_assert_eq!(matches(&note_pattern(), &text), fields::note("note", &text).is_ok(), "{:?}", text);
        }

        /// Whatever the domain pattern accepts, `fields::domain` takes.
        #[test]
        fn domain_pattern_accepts_only_domains(text in "[ ]?([a-zA-Z0-9-]{1,5}\\.){0,3}[a-zA-Z0-9-]{0,5}\\.?[ ]?") {
            let pattern = domain_schema()["pattern"].as_str().unwrap().to_string();
            if matches(&pattern, &text) {
                prop_assert!(fields::domain("domain", &text).is_ok(), "{:?}", text);
            }
        }
    }

    #[test]
    fn name_pattern_bounds_the_trimmed_length() {
        let longest = "n".repeat(MAX_NAME_CHARS);
        assert!(matches(&name_pattern(), &format!("  {longest}  ")));
        assert!(!matches(&name_pattern(), &format!("{longest}n")));
        assert!(fields::name("name", &format!("{longest}n")).is_err());
    }
}
