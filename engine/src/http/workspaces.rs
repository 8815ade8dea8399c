//! Workspaces, their members and access requests.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::common::{org, run, visible_page, workspace, Answer, PageQuery};
use super::endpoint::{self, endpoint, Body, Endpoint, Takes};
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

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Get "/v1/orgs/{id}/workspaces" => list_workspaces,
            "The org's workspaces the actor may read one by one (ViewWorkspace on each), with the actor's membership, paged",
            Takes::Actor,
            200,
            Body::Page("WorkspaceListing"),
            endpoint::FILTERED,
        ),
        endpoint!(
            Post "/v1/orgs/{id}/workspaces" => create_workspace,
            "Create a workspace; beyond the default one needs Pro+ (CreateWorkspace)",
            Takes::Command("CreateWorkspace", r#"{"name": "Marketing"}"#),
            201,
            Body::One("Workspace"),
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/workspaces/{id}" => get_workspace,
            "Read a workspace (ViewWorkspace)",
            Takes::Actor,
            200,
            Body::One("Workspace"),
            endpoint::READ,
        ),
        endpoint!(
            Patch "/v1/workspaces/{id}" => rename_workspace,
            "Rename (UpdateWorkspace)",
            Takes::Command("RenameWorkspace", r#"{"name": "Growth"}"#),
            200,
            Body::One("Workspace"),
            endpoint::WRITE,
        ),
        endpoint!(
            Delete "/v1/workspaces/{id}" => delete_workspace,
            "Delete an empty, non-default workspace; 409 default_workspace or workspace_not_empty (DeleteWorkspace)",
            Takes::Command(endpoint::NO_FIELDS, "{}"),
            200,
            Body::One("Workspace"),
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/workspaces/{id}/members" => list_members,
            "Workspace members with their roles, paged (ViewWorkspace)",
            Takes::Actor,
            200,
            Body::Page("WorkspaceMember"),
            endpoint::READ,
        ),
        endpoint!(
            Post "/v1/workspaces/{id}/members" => add_member,
            "Add an org member (ManageWorkspaceMembers)",
            Takes::Command("AddWorkspaceMember", r#"{"email": "bob@acme.com", "role": "editor"}"#),
            201,
            Body::One("WorkspaceMember"),
            endpoint::WRITE,
        ),
        endpoint!(
            Patch "/v1/workspaces/{id}/members/{user}" => change_member_role,
            "Change a workspace role (ManageWorkspaceMembers)",
            Takes::Command("ChangeWorkspaceRole", r#"{"role": "viewer"}"#),
            200,
            Body::One("WorkspaceMember"),
            endpoint::WRITE,
        ),
        endpoint!(
            Delete "/v1/workspaces/{id}/members/{user}" => remove_member,
            "Remove from the workspace (ManageWorkspaceMembers)",
            Takes::Command(endpoint::NO_FIELDS, "{}"),
            200,
            Body::One("WorkspaceMember"),
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/workspaces/{id}/access-requests" => list_requests,
            "The access requests the actor may read one by one (the requester or ManageWorkspaceMembers), oldest first, paged",
            Takes::Actor,
            200,
            Body::Page("AccessRequest"),
            endpoint::FILTERED,
        ),
        endpoint!(
            Post "/v1/workspaces/{id}/access-requests" => request_access,
            "Ask to join as the acting user; 409 access_request_open or already_member (RequestAccess)",
            Takes::Command("RequestAccess", r#"{"message": "I run the spring campaign"}"#),
            201,
            Body::One("AccessRequest"),
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/workspaces/{id}/access-requests/{request}" => get_request,
            "Read a request (the requester or ManageWorkspaceMembers)",
            Takes::Actor,
            200,
            Body::One("AccessRequest"),
            endpoint::READ,
        ),
        endpoint!(
            Post "/v1/workspaces/{id}/access-requests/{request}/approve" => approve_request,
            "Approve with a role; 409 access_request_decided (ManageWorkspaceMembers)",
            Takes::Command("ApproveAccessRequest", r#"{"role": "editor"}"#),
            200,
            Body::One("AccessRequest"),
            endpoint::WRITE,
        ),
        endpoint!(
            Post "/v1/workspaces/{id}/access-requests/{request}/deny" => deny_request,
            "Deny; 409 access_request_decided (ManageWorkspaceMembers)",
            Takes::Command(endpoint::NO_FIELDS, "{}"),
            200,
            Body::One("AccessRequest"),
            endpoint::WRITE,
        ),
    ]
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
