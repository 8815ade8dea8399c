//! What the management handlers share: running a command, paging, and
//! reading records the actor may see.

use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::{path_id, Write};
use super::ApiState;
use crate::app::Actor;
use crate::authz::EntityRef;
use crate::command::{self, Begun, Command};
use crate::error::Error;
use crate::store::{Org, Page, Resource, Workspace, MAX_PAGE_SIZE};

/// Default rows per page when the caller names no `limit`.
pub const DEFAULT_PAGE_SIZE: usize = 50;

pub type Answer<T> = Result<(StatusCode, Json<T>), Error>;

/// Runs a command through the write path and answers `status` with its
/// output.
pub async fn run<C: Command>(
    state: &ApiState,
    write: Write<C>,
    status: StatusCode,
) -> Answer<C::Output> {
    let output = execute_durably(state, write).await?;
    Ok((status, Json(output)))
}

/// Runs a command through the write path and returns once the change is on
/// disk: an answer survives a crash. The command runs on a blocking thread
/// (it may call a plugin or wait for its org's seat lock), except a batched
/// one that calls no plugin: it is begun here and waits for its batch
/// without holding a thread, and its batch's leader flushes it.
pub async fn execute_durably<C: Command>(
    state: &ApiState,
    write: Write<C>,
) -> Result<C::Output, Error> {
    let app = state.app.clone();
    let begun = if write.body.batched() && !write.body.may_call_plugins() {
        command::begin(&app, write.actor, write.idempotency.as_ref(), write.body)?
    } else {
        let app = app.clone();
        tokio::task::spawn_blocking(move || {
            command::begin(&app, write.actor, write.idempotency.as_ref(), write.body)
        })
        .await
        .map_err(|e| Error::Internal(format!("command task failed: {e}")))??
    };
    match begun {
        Begun::Queued(queued) => queued.durable(&app).await,
        Begun::Done(output) => {
            app.store.flush().await?;
            Ok(output)
        }
    }
}

/// `?after=<uuid>&limit=<n>`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub after: Option<Uuid>,
    limit: Option<usize>,
}

impl PageQuery {
    pub fn parse(query: Option<String>) -> Result<PageQuery, Error> {
        let query: PageQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|e| Error::invalid("query", e.to_string()))?;
        if query.limit.is_some_and(|l| l == 0 || l > MAX_PAGE_SIZE) {
            return Err(Error::invalid(
                "query.limit",
                format!("must be 1 to {MAX_PAGE_SIZE}"),
            ));
        }
        Ok(query)
    }

    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_PAGE_SIZE)
    }
}

/// Turns a page of ids into a page of records.
pub fn load_page<T: Serialize>(
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

/// Reads an org the actor may see with `action`; returns the revision that allowed it.
pub fn visible_org(state: &ApiState, actor: Actor, id: &str, action: &str) -> Result<Org, Error> {
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

/// Reads a workspace (404 if missing) without checking the actor.
pub fn workspace(state: &ApiState, id: &str) -> Result<Workspace, Error> {
    state.app.workspace(path_id("id", id)?)
}

/// Reads a workspace the actor may see with `action`.
pub fn visible_workspace(
    state: &ApiState,
    actor: Actor,
    id: &str,
    action: &str,
) -> Result<Workspace, Error> {
    let workspace = workspace(state, id)?;
    state
        .app
        .require(actor, action, EntityRef::new("Workspace", workspace.id))?;
    Ok(workspace)
}

/// Reads a resource (404 if missing) without checking the actor.
pub fn resource(state: &ApiState, id: &str) -> Result<Resource, Error> {
    let id = path_id("id", id)?;
    state
        .app
        .store
        .resource(id)?
        .ok_or_else(|| Error::not_found("resource", id))
}
