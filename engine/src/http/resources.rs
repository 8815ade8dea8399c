//! Workspace resources: register, list, read, delete, move, reveal a
//! credential's secret.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;
use uuid::Uuid;

use super::common::{
    resource, visible_page, workspace, workspace_and_org, PageQuery, RoutedCommand,
};
use super::endpoint::{self, endpoint, Body, Endpoint, Takes};
use super::extract::{ActingUser, ApiPath};
use super::ApiState;
use crate::app::Actor;
use crate::authz::EntityRef;
use crate::command::{
    self, DeleteResource, MoveResource, RegisterResource, ResourceRef, CREDENTIAL_TYPE,
};
use crate::error::Error;
use crate::store::CheckRecords;
use crate::store::{keys, Page, Resource};

/// The Cedar action that lets a user read a credential's secret.
pub const REVEAL_ACTION: &str = "RevealCredential";

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint!(
            Get "/v1/workspaces/{id}/resources" => list_resources,
            "The workspace's resources the actor may read one by one (ViewResource on each), paged",
            Takes::Actor,
            200,
            Body::Page("Resource"),
            endpoint::FILTERED,
        ),
        endpoint!(
            Post "/v1/workspaces/{id}/resources" => command RegisterResource, 201,
            "Register a resource; a Credential may carry a `secret`, stored sealed (CreateResource)",
            r#"{"type": "Flow", "attributes": {"name": "Nightly sync"}}"#,
            Body::One("Resource"),
            endpoint::WRITE,
        ),
        endpoint!(
            Get "/v1/resources/{id}" => get_resource,
            "Read a resource, never its secret (ViewResource)",
            Takes::Actor,
            200,
            Body::One("Resource"),
            endpoint::READ,
        ),
        endpoint!(
            Delete "/v1/resources/{id}" => command DeleteResource {}, 200,
            "Delete a resource (a folder once empty) and its secret (DeleteResource)",
            Body::One("Resource"),
            endpoint::WRITE,
        ),
        endpoint!(
            Post "/v1/resources/{id}/move" => command MoveResource, 200,
            "Move to another workspace of the same org; 409 cross_org_move (MoveResource on it, CreateResource on the destination)",
            r#"{"workspace": "0190a3c5-7d1e-7c3a-9b4e-2f6d8a1c5e02"}"#,
            Body::One("Resource"),
            endpoint::WRITE,
        ),
        endpoint!(
            Post "/v1/resources/{id}/reveal" => reveal_secret,
            "A credential's secret in the clear, audited (RevealCredential)",
            Takes::Actor,
            200,
            Body::One("Revealed"),
            endpoint::READ,
        ),
    ]
}

/// The workspace's resources (folders, flows, credentials, at any depth)
/// that the actor may read one by one: each is decided as
/// `GET /v1/resources/{id}` decides it, so a listing never shows a flow of a
/// workspace the actor is not in, nor someone else's personal credential.
async fn list_resources(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Resource>>, Error> {
    let page = PageQuery::parse(query)?;
    let workspace = workspace(&state, &id)?;
    let store = &state.app.store;
    visible_page(
        &state.app,
        actor,
        &page,
        &keys::resources_of_workspace(workspace.id),
        |id| {
            let Some(resource) = store.resource(id)? else {
                return Ok(None);
            };
            authorize_read(&state, actor, &resource)?;
            Ok(Some(resource))
        },
    )
}

impl RoutedCommand for RegisterResource {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        (self.org, self.workspace) = workspace_and_org(state, &id)?;
        self.seal_secret(&state.settings.credential_key)?;
        Ok(())
    }
}

async fn get_resource(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Resource>, Error> {
    let resource = resource(&state, &id)?;
    authorize_read(&state, actor, &resource)?;
    Ok(Json(resource))
}

/// Who may read a resource, alone or in a listing: `ViewResource` on it.
fn authorize_read(state: &ApiState, actor: Actor, resource: &Resource) -> Result<(), Error> {
    state
        .app
        .require(
            actor,
            "ViewResource",
            EntityRef::new(&resource.kind, resource.id),
        )
        .map(drop)
}

impl RoutedCommand for DeleteResource {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.target = ResourceRef::of(&resource(state, &id)?);
        Ok(())
    }
}

impl RoutedCommand for MoveResource {
    type Path = String;

    fn fill(&mut self, state: &ApiState, id: Self::Path) -> Result<(), Error> {
        self.target = ResourceRef::of(&resource(state, &id)?);
        Ok(())
    }
}

/// A credential's secret, in the clear.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Revealed {
    pub id: Uuid,
    pub secret: String,
}

/// The only way a secret leaves Warden: allowed by `RevealCredential`, and
/// recorded in the org's audit log.
async fn reveal_secret(
    State(state): State<ApiState>,
    ActingUser(actor): ActingUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Revealed>, Error> {
    let resource = resource(&state, &id)?;
    let target = EntityRef::new(&resource.kind, resource.id);
    // Any other kind of resource has no secret: no credential by that id.
    if resource.kind != CREDENTIAL_TYPE {
        return Err(Error::not_found("credential", id));
    }
    let revision = state.app.require(actor, REVEAL_ACTION, target.clone())?;
    let sealed = state
        .app
        .store
        .get_raw(&keys::credential_secret(resource.id))?
        .ok_or_else(|| Error::not_found("secret of credential", resource.id))?;
    let secret = state.settings.credential_key.open(resource.id, &sealed)?;
    command::audit_read(
        &state.app,
        actor,
        resource.org,
        REVEAL_ACTION,
        target,
        revision,
    )?;
    state.app.store.flush().await?;
    Ok(Json(Revealed {
        id: resource.id,
        secret,
    }))
}
