//! Workspaces, their members and access requests.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::common::{org, run, visible_page, workspace, Answer, PageQuery};
use super::extract::{path_id, ActingUser, ApiPath, Write};
use super::ApiState;
use crate::app::Actor;
use crate::authz::EntityRef;
use crate::command::{
    AddWorkspaceMember, ApproveAccessRequest, ChangeWorkspaceRole, CreateWorkspace,
    DeleteWorkspace, DenyAccessRequest, RemoveWorkspaceMember, RenameWorkspace, RequestAccess,
};
use crate::error::Error;
use crate::store::{keys, AccessRequest, Page, Workspace, WorkspaceMember, WorkspaceRole};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/orgs/{id}/workspaces",
            get(list_workspaces).post(create_workspace),
        )
        .route(
            "/v1/workspaces/{id}",
            get(get_workspace)
                .patch(rename_workspace)
                .delete(delete_workspace),
        )
        .route(
            "/v1/workspaces/{id}/members",
            get(list_members).post(add_member),
        )
        .route(
            "/v1/workspaces/{id}/members/{user}",
            axum::routing::patch(change_member_role).delete(remove_member),
        )
        .route(
            "/v1/workspaces/{id}/access-requests",
            get(list_requests).post(request_access),
        )
        .route(
            "/v1/workspaces/{id}/access-requests/{request}",
            get(get_request),
        )
        .route(
            "/v1/workspaces/{id}/access-requests/{request}/approve",
            post(approve_request),
        )
        .route(
            "/v1/workspaces/{id}/access-requests/{request}/deny",
            post(deny_request),
        )
}

/// A workspace as one member of its org sees it in the org's list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkspaceListing {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub is_default: bool,
    /// Whether the acting user belongs to the workspace, and with which role.
    pub member: bool,
    pub role: Option<WorkspaceRole>,
}

/// The org's workspaces that the actor may read one by one (as
/// `GET /v1/workspaces/{id}` decides: Members see them all, Internal Guests
/// those they belong to), flagged with the acting user's membership.
async fn list_workspaces(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<WorkspaceListing>>, Error> {
    let page = PageQuery::parse(query)?;
    let org = org(&state, &id)?;
    let store = &state.app.store;
    visible_page(
        &state.app,
        actor,
        &page,
        &keys::workspaces_of_org(org.id),
        |id| {
            let Some(workspace) = store.workspace(id)? else {
                return Ok(None);
            };
            authorize_read(&state, actor, &workspace)?;
            let role = match actor.user() {
                Some(user) => store.workspace_member(id, user)?.map(|m| m.role),
                None => None,
            };
            Ok(Some(WorkspaceListing {
                is_default: org.default_workspace == Some(id),
                member: role.is_some(),
                role,
                workspace,
            }))
        },
    )
}

async fn create_workspace(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<CreateWorkspace>,
) -> Answer<Workspace> {
    run(&state, write, StatusCode::CREATED, |command| {
        command.org = path_id("id", &id)?;
        Ok(())
    })
    .await
}

async fn get_workspace(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Workspace>, Error> {
    let workspace = workspace(&state, &id)?;
    authorize_read(&state, actor, &workspace)?;
    Ok(Json(workspace))
}

/// Who may read a workspace, alone or in a listing: `ViewWorkspace` on it.
fn authorize_read(state: &ApiState, actor: Actor, workspace: &Workspace) -> Result<(), Error> {
    state
        .app
        .require(
            actor,
            "ViewWorkspace",
            EntityRef::new("Workspace", workspace.id),
        )
        .map(drop)
}

async fn rename_workspace(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<RenameWorkspace>,
) -> Answer<Workspace> {
    run(&state, write, StatusCode::OK, |command| {
        let workspace = workspace(&state, &id)?;
        (command.org, command.workspace) = (workspace.org, workspace.id);
        Ok(())
    })
    .await
}

async fn delete_workspace(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<DeleteWorkspace>,
) -> Answer<Workspace> {
    run(&state, write, StatusCode::OK, |command| {
        let workspace = workspace(&state, &id)?;
        (command.org, command.workspace) = (workspace.org, workspace.id);
        Ok(())
    })
    .await
}

/// The workspace's members. A membership has no read of its own: who may
/// read the workspace (`ViewWorkspace`) may read each of them, so that one
/// decision serves for every item.
async fn list_members(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<WorkspaceMember>>, Error> {
    let page = PageQuery::parse(query)?;
    let workspace = workspace(&state, &id)?;
    authorize_read(&state, actor, &workspace)?;
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

async fn add_member(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<AddWorkspaceMember>,
) -> Answer<WorkspaceMember> {
    run(&state, write, StatusCode::CREATED, |command| {
        let workspace = workspace(&state, &id)?;
        (command.org, command.workspace) = (workspace.org, workspace.id);
        Ok(())
    })
    .await
}

async fn change_member_role(
    State(state): State<ApiState>,
    ApiPath((id, user)): ApiPath<(String, String)>,
    write: Write<ChangeWorkspaceRole>,
) -> Answer<WorkspaceMember> {
    run(&state, write, StatusCode::OK, |command| {
        let workspace = workspace(&state, &id)?;
        (command.org, command.workspace) = (workspace.org, workspace.id);
        command.user = path_id("user", &user)?;
        Ok(())
    })
    .await
}

async fn remove_member(
    State(state): State<ApiState>,
    ApiPath((id, user)): ApiPath<(String, String)>,
    write: Write<RemoveWorkspaceMember>,
) -> Answer<WorkspaceMember> {
    run(&state, write, StatusCode::OK, |command| {
        let workspace = workspace(&state, &id)?;
        (command.org, command.workspace) = (workspace.org, workspace.id);
        command.user = path_id("user", &user)?;
        Ok(())
    })
    .await
}

async fn request_access(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    write: Write<RequestAccess>,
) -> Answer<AccessRequest> {
    run(&state, write, StatusCode::CREATED, |command| {
        let workspace = workspace(&state, &id)?;
        (command.org, command.workspace) = (workspace.org, workspace.id);
        Ok(())
    })
    .await
}

/// The workspace's access requests that the actor may read one by one,
/// oldest first: all of them for whoever may approve them, their own for a
/// requester.
async fn list_requests(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<AccessRequest>>, Error> {
    let page = PageQuery::parse(query)?;
    let workspace = workspace(&state, &id)?;
    visible_page(
        &state.app,
        actor,
        &page,
        &keys::access_requests_of_workspace(workspace.id),
        |id| {
            let key = keys::access_request(workspace.id, id);
            let Some(request) = state.app.store.get::<AccessRequest>(&key)? else {
                return Ok(None);
            };
            authorize_request_read(&state, actor, &request)?;
            Ok(Some(request))
        },
    )
}

async fn get_request(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath((id, request)): ApiPath<(String, String)>,
) -> Result<Json<AccessRequest>, Error> {
    let workspace = workspace(&state, &id)?;
    let id = path_id("request", &request)?;
    let request: AccessRequest = state
        .app
        .store
        .get(&keys::access_request(workspace.id, id))?
        .ok_or_else(|| Error::not_found("access request", id))?;
    authorize_request_read(&state, actor, &request)?;
    Ok(Json(request))
}

/// Who may read an access request, alone or in a listing: the requester,
/// and whoever may approve it (`ManageWorkspaceMembers` on its workspace).
fn authorize_request_read(
    state: &ApiState,
    actor: Actor,
    request: &AccessRequest,
) -> Result<(), Error> {
    if actor.user() == Some(request.user) {
        return Ok(());
    }
    state
        .app
        .require(
            actor,
            "ManageWorkspaceMembers",
            EntityRef::new("Workspace", request.workspace),
        )
        .map(drop)
}

async fn approve_request(
    State(state): State<ApiState>,
    ApiPath((id, request)): ApiPath<(String, String)>,
    write: Write<ApproveAccessRequest>,
) -> Answer<AccessRequest> {
    run(&state, write, StatusCode::OK, |command| {
        let workspace = workspace(&state, &id)?;
        (command.org, command.workspace) = (workspace.org, workspace.id);
        command.request = path_id("request", &request)?;
        Ok(())
    })
    .await
}

async fn deny_request(
    State(state): State<ApiState>,
    ApiPath((id, request)): ApiPath<(String, String)>,
    write: Write<DenyAccessRequest>,
) -> Answer<AccessRequest> {
    run(&state, write, StatusCode::OK, |command| {
        let workspace = workspace(&state, &id)?;
        (command.org, command.workspace) = (workspace.org, workspace.id);
        command.request = path_id("request", &request)?;
        Ok(())
    })
    .await
}
