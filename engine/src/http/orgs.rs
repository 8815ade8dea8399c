//! Organizations, users, workspaces, their members and resources.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::{path_id, ActingUser, Write};
use super::ApiState;
use crate::app::Actor;
use crate::authz::EntityRef;
use crate::command::{
    self, AddMember, AddWorkspaceMember, AuditRecord, Command, CreateOrg, CreateUser,
    CreateWorkspace, RegisterResource,
};
use crate::error::Error;
use crate::store::{keys, Membership, Org, Page, Resource, User, Workspace, WorkspaceMember};

/// Default rows per page when the caller names no `limit`.
const DEFAULT_PAGE_SIZE: usize = 50;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/users", axum::routing::post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/orgs", axum::routing::post(create_org))
        .route("/orgs/{id}", get(get_org))
        .route("/orgs/{id}/members", get(list_members).post(add_member))
        .route(
            "/orgs/{id}/workspaces",
            get(list_workspaces).post(create_workspace),
        )
        .route("/orgs/{id}/audit", get(list_audit))
        .route("/workspaces/{id}", get(get_workspace))
        .route(
            "/workspaces/{id}/members",
            get(list_workspace_members).post(add_workspace_member),
        )
        .route(
            "/workspaces/{id}/resources",
            get(list_resources).post(register_resource),
        )
        .route("/resources/{id}", get(get_resource))
}

pub(super) type Created<T> = Result<(StatusCode, Json<T>), Error>;

/// Runs a command through the write path and answers 201 with its output.
pub(super) async fn run<C>(state: &ApiState, write: Write<C>) -> Created<C::Output>
where
    C: Command + Send + 'static,
    C::Output: Send + 'static,
{
    let output = execute_durably(state, write).await?;
    Ok((StatusCode::CREATED, Json(output)))
}

/// Runs a command through the write path and returns once the change is on
/// disk: an answer survives a crash. The command runs on a blocking thread:
/// it may call a plugin.
pub(super) async fn execute_durably<C>(state: &ApiState, write: Write<C>) -> Result<C::Output, Error>
where
    C: Command + Send + 'static,
    C::Output: Send + 'static,
{
    let app = state.app.clone();
    let output = tokio::task::spawn_blocking(move || {
        command::execute(&app, write.actor, write.idempotency.as_ref(), write.body)
    })
    .await
    .map_err(|e| Error::Internal(format!("command task failed: {e}")))??;
    state.app.store.flush().await?;
    Ok(output)
}

async fn create_user(State(state): State<ApiState>, write: Write<CreateUser>) -> Created<User> {
    run(&state, write).await
}

async fn get_user(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
) -> Result<Json<User>, Error> {
    let id = path_id("id", &id)?;
    if actor != Actor::System && actor != Actor::User(id) {
        return Err(Error::Forbidden {
            explanation: "users may read only their own record".into(),
            policies: Vec::new(),
        });
    }
    state
        .app
        .store
        .user(id)?
        .map(Json)
        .ok_or_else(|| Error::not_found("user", id))
}

async fn create_org(State(state): State<ApiState>, write: Write<CreateOrg>) -> Created<Org> {
    run(&state, write).await
}

/// Reads an org the actor may see with `action`.
pub(super) fn visible_org(state: &ApiState, actor: Actor, id: &str, action: &str) -> Result<Org, Error> {
    let id = path_id("id", id)?;
    let org = state
        .app
        .store
        .org(id)?
        .ok_or_else(|| Error::not_found("org", id))?;
    state
        .app
        .require(actor, action, EntityRef::new("Org", id))?;
    Ok(org)
}

async fn get_org(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
) -> Result<Json<Org>, Error> {
    visible_org(&state, actor, &id, "ViewOrg").map(Json)
}

/// `?after=<uuid>&limit=<n>`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    pub(super) after: Option<Uuid>,
    limit: Option<usize>,
}

impl PageQuery {
    pub(super) fn parse(query: Option<String>) -> Result<PageQuery, Error> {
        let query: PageQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|e| Error::invalid("query", e.to_string()))?;
        if query
            .limit
            .is_some_and(|l| l == 0 || l > crate::store::MAX_PAGE_SIZE)
        {
            return Err(Error::invalid(
                "query.limit",
                format!("must be 1 to {}", crate::store::MAX_PAGE_SIZE),
            ));
        }
        Ok(query)
    }
    pub(super) fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_PAGE_SIZE)
    }
}

async fn list_members(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Membership>>, Error> {
    let page = PageQuery::parse(query)?;
    let org = visible_org(&state, actor, &id, "ViewMembers")?;
    state
        .app
        .store
        .page(&keys::memberships_of_org(org.id), page.after, page.limit())
        .map(Json)
}

async fn add_member(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    mut write: Write<AddMember>,
) -> Created<Membership> {
    write.body.org = path_id("id", &id)?;
    run(&state, write).await
}

async fn list_workspaces(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Workspace>>, Error> {
    let page = PageQuery::parse(query)?;
    let org = visible_org(&state, actor, &id, "ListWorkspaces")?;
    let ids =
        state
            .app
            .store
            .page_ids(&keys::workspaces_of_org(org.id), page.after, page.limit())?;
    load_page(ids, |id| state.app.store.workspace(id))
}

async fn create_workspace(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    mut write: Write<CreateWorkspace>,
) -> Created<Workspace> {
    write.body.org = path_id("id", &id)?;
    run(&state, write).await
}

async fn list_audit(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<AuditRecord>>, Error> {
    let page = PageQuery::parse(query)?;
    let org = visible_org(&state, actor, &id, "ViewAudit")?;
    state
        .app
        .store
        .newest(&keys::audit_of_org(org.id), page.limit())
        .map(Json)
}

/// Reads a workspace the actor may see.
fn visible_workspace(state: &ApiState, actor: Actor, id: &str) -> Result<Workspace, Error> {
    let workspace = state.app.workspace(path_id("id", id)?)?;
    state.app.require(
        actor,
        "ViewWorkspace",
        EntityRef::new("Workspace", workspace.id),
    )?;
    Ok(workspace)
}

async fn get_workspace(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
) -> Result<Json<Workspace>, Error> {
    visible_workspace(&state, actor, &id).map(Json)
}

async fn list_workspace_members(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<WorkspaceMember>>, Error> {
    let page = PageQuery::parse(query)?;
    let workspace = visible_workspace(&state, actor, &id)?;
    state
        .app
        .store
        .page(
            &keys::members_of_workspace(workspace.id),
            page.after,
            page.limit(),
        )
        .map(Json)
}

async fn add_workspace_member(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    mut write: Write<AddWorkspaceMember>,
) -> Created<WorkspaceMember> {
    let workspace = state.app.workspace(path_id("id", &id)?)?;
    (write.body.org, write.body.workspace) = (workspace.org, workspace.id);
    run(&state, write).await
}

async fn list_resources(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Resource>>, Error> {
    let page = PageQuery::parse(query)?;
    let workspace = visible_workspace(&state, actor, &id)?;
    let ids = state.app.store.page_ids(
        &keys::resources_of_workspace(workspace.id),
        page.after,
        page.limit(),
    )?;
    load_page(ids, |id| state.app.store.resource(id))
}

async fn register_resource(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    mut write: Write<RegisterResource>,
) -> Created<Resource> {
    let workspace = state.app.workspace(path_id("id", &id)?)?;
    (write.body.org, write.body.workspace) = (workspace.org, workspace.id);
    run(&state, write).await
}

async fn get_resource(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    Path(id): Path<String>,
) -> Result<Json<Resource>, Error> {
    let id = path_id("id", &id)?;
    let resource = state
        .app
        .store
        .resource(id)?
        .ok_or_else(|| Error::not_found("resource", id))?;
    state
        .app
        .require(actor, "ViewResource", EntityRef::new(&resource.kind, id))?;
    Ok(Json(resource))
}

/// Turns a page of ids into a page of records.
fn load_page<T: Serialize>(
    ids: Page<Uuid>,
    load: impl Fn(Uuid) -> Result<Option<T>, Error>,
) -> Result<Json<Page<T>>, Error> {
    let mut items = Vec::with_capacity(ids.items.len());
    for id in ids.items {
        items.extend(load(id)?);
    }
    Ok(Json(Page {
        items,
        next: ids.next,
    }))
}
