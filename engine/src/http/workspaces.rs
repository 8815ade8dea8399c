//! Workspaces, their members and access requests.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;

use super::common::{org, visible_page, workspace, workspace_and_org, PageQuery, RoutedCommand};
use super::endpoint::{self, endpoint, Body, Endpoint, Takes};
use super::extract::{path_id, ActingUser, ApiPath};
use super::ApiState;
use crate::app::Actor;
use crate::authz::EntityRef;
use crate::command::{
    AddWorkspaceMember, ApproveAccessRequest, ChangeWorkspaceRole, CreateWorkspace,
    DeleteWorkspace, DenyAccessRequest, RemoveWorkspaceMember, RenameWorkspace, RequestAccess,
};
use crate::error::Error;
use crate::store::CheckRecords;
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
            Post "/v1/orgs/{id}/workspaces" => command CreateWorkspace, 201,
            "Create a workspace; beyond the default one needs Pro+ (CreateWorkspace)",
            r#"{"name": "Marketing"}"#,
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
            Patch "/v1/workspaces/{id}" => command RenameWorkspace, 200,
            "Rename (UpdateWorkspace)",
            r#"{"name": "Growth"}"#,
            Body::One("Workspace"),
            endpoint::WRITE,
        ),
        endpoint!(
            Delete "/v1/workspaces/{id}" => command DeleteWorkspace {}, 200,
            "Delete an empty, non-default workspace; 409 default_workspace or workspace_not_empty (DeleteWorkspace)",
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
            Post "/v1/workspaces/{id}/members" => command AddWorkspaceMember, 201,
            "Add an org member (ManageWorkspaceMembers)",
            r#"{"email": "bob@acme.com", "role": "editor"}"#,
            Body::One("WorkspaceMember"),
            endpoint::WRITE,
        ),
        endpoint!(
            Patch "/v1/workspaces/{id}/members/{user}" => command ChangeWorkspaceRole, 200,
            "Change a workspace role (ManageWorkspaceMembers)",
            r#"{"role": "viewer"}"#,
            Body::One("WorkspaceMember"),
            endpoint::WRITE,
        ),
        endpoint!(
            Delete "/v1/workspaces/{id}/members/{user}" => command RemoveWorkspaceMember {}, 200,
            "Remove from the workspace (ManageWorkspaceMembers)",
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
            Post "/v1/workspaces/{id}/access-requests" => command RequestAccess, 201,
            "Ask to join as the acting user; 409 access_request_open or already_member (RequestAccess)",
            r#"{"message": "I run the spring campaign"}"#,
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
            Post "/v1/workspaces/{id}/access-requests/{request}/approve" => command ApproveAccessRequest, 200,
            "Approve with a role; 409 access_request_decided (ManageWorkspaceMembers)",
            r#"{"role": "editor"}"#,
            Body::One("AccessRequest"),
            endpoint::WRITE,
        ),
        endpoint!(
            Post "/v1/workspaces/{id}/access-requests/{request}/deny" => command DenyAccessRequest {}, 200,
            "Deny; 409 access_request_decided (ManageWorkspaceMembers)",
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

impl RoutedCommand for CreateWorkspace {
    type Path = String;

    fn fill(&mut self, _state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.org = path_id("id", &id)?;
        Ok(())
    }
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

impl RoutedCommand for RenameWorkspace {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        Ok(())
    }
}

impl RoutedCommand for DeleteWorkspace {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        Ok(())
    }
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

impl RoutedCommand for AddWorkspaceMember {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        Ok(())
    }
}

impl RoutedCommand for ChangeWorkspaceRole {
    type Path = (String, String);

    fn fill(&mut self, state: &ApiState, (id, user): Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        self.user = path_id("user", &user)?;
        Ok(())
    }
}

impl RoutedCommand for RemoveWorkspaceMember {
    type Path = (String, String);

    fn fill(&mut self, state: &ApiState, (id, user): Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        self.user = path_id("user", &user)?;
        Ok(())
    }
}

impl RoutedCommand for RequestAccess {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        Ok(())
    }
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

impl RoutedCommand for ApproveAccessRequest {
    type Path = (String, String);

    fn fill(&mut self, state: &ApiState, (id, request): Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        self.request = path_id("request", &request)?;
        Ok(())
    }
}

impl RoutedCommand for DenyAccessRequest {
    type Path = (String, String);

    fn fill(&mut self, state: &ApiState, (id, request): Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        self.request = path_id("request", &request)?;
        Ok(())
    }
}
