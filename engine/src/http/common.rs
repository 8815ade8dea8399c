//! What the management handlers share: running a command, paging, and
//! reading records the actor may see.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponseParts, ResponseParts};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{path_id, ApiPath, Write};
use super::ApiState;
use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::command::{self, Command, Progress};
use crate::error::Error;
use crate::store::CheckRecords;
use crate::store::{Org, Page, Resource, Workspace, MAX_PAGE_SIZE};

/// Default rows per page when the caller names no `limit`.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// A write's answer: its status, the database revision it is below, and
/// its output.
pub type Answer<T> = Result<(StatusCode, Revision, Json<T>), Error>;

/// The response header of a write's revision.
pub const REVISION_HEADER: &str = "x-warden-revision";

/// A write's `X-Warden-Revision`, on a database other servers share: a
/// check sent to any of them with `X-Warden-Consistency: at_least:<it>`
/// sees the write. None on the embedded database, where every check sees
/// every write.
pub struct Revision(Option<u64>);

impl Revision {
    /// The database's revision now, once a write is acknowledged: the
    /// write is below it. A failed read leaves the header out rather than
    /// answer an error for a write that is done.
    pub fn now(state: &ApiState) -> Revision {
        match state.app.store.revision() {
            Ok(revision) => Revision(revision),
            Err(e) => {
                tracing::warn!("cannot read the revision of an acknowledged write: {e}");
                Revision(None)
            }
        }
    }
}

impl IntoResponseParts for Revision {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Infallible> {
        if let Some(revision) = self.0 {
            parts
                .headers_mut()
                .insert(REVISION_HEADER, HeaderValue::from(revision));
        }
        Ok(parts)
    }
}

/// A command a route serves, and what the route's path fills in (ids, the
/// org of a looked-up target): the one thing such a route adds to its
/// command's body. Its handler is [`command_handler`].
pub trait RoutedCommand: Command + DeserializeOwned {
    /// The route's path parameters: a `String`, a tuple of them, or `()`.
    type Path: DeserializeOwned + Send;

    fn fill(&mut self, state: &ApiState, path: Self::Path) -> Result<(), Error>;
}

/// The handler of every command route: reads the path, the acting user,
/// the `Idempotency-Key` and the body, then runs the command (see
/// [`execute_durably`]) and answers `STATUS` with its output.
pub async fn command_handler<C: RoutedCommand, const STATUS: u16>(
    State(state): State<ApiState>,
    ApiPath(path): ApiPath<C::Path>,
    write: Write<C>,
) -> Answer<C::Output> {
    let status = StatusCode::from_u16(STATUS).expect("routes name valid statuses");
    run(&state, write, status, |command| command.fill(&state, path)).await
}

/// Runs a command through the write path (see [`execute_durably`]) and
/// answers `status` with its output.
pub async fn run<C: Command>(
    state: &ApiState,
    write: Write<C>,
    status: StatusCode,
    target: impl FnOnce(&mut C) -> Result<(), Error>,
) -> Answer<C::Output> {
    let output = execute_durably(state, write, target).await?;
    Ok((status, Revision::now(state), Json(output)))
}

/// Runs a command through the write path and returns once the change is on
/// disk: an answer survives a crash.
///
/// A request retried with its `Idempotency-Key` is answered its first
/// answer before anything else; only a first request gets `target` to fill
/// in what its path names (ids, the org of a looked-up target), so a
/// retry answers the same even when the target is gone since.
///
/// The command runs on a blocking thread (it may call a plugin or wait for
/// its org's seat lock), except a batched one that calls no plugin: it is
/// begun here and waits for its batch without holding a thread, and its
/// batch's leader flushes it.
pub async fn execute_durably<C: Command>(
    state: &ApiState,
    write: Write<C>,
    target: impl FnOnce(&mut C) -> Result<(), Error>,
) -> Result<C::Output, Error> {
    let app = state.app.clone();
    let Write {
        actor,
        idempotency,
        body: mut command,
    } = write;
    if let Some(output) = command::replayed::<C>(&app, actor, idempotency.as_ref())? {
        // The first request may still be waiting for its flush.
        app.store.flush().await?;
        return Ok(output);
    }
    target(&mut command)?;
    let progress = if command.batched() && !command.may_call_plugins() {
        command::begin(&app, actor, idempotency.as_ref(), command)?
    } else {
        let app = app.clone();
        tokio::task::spawn_blocking(move || {
            command::begin(&app, actor, idempotency.as_ref(), command)
        })
        .await
        .map_err(|e| Error::Internal(format!("command task failed: {e}")))??
    };
    match progress {
        Progress::Batched(awaiting) => awaiting.durable(&app).await,
        Progress::Answered(output) => {
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

    /// The page (`after`, `limit`) and the listing's own filters `F` (a
    /// struct that denies unknown fields) of one query string: a parameter
    /// of neither, or one given twice, is a 400.
    pub fn parse_filtered<F: DeserializeOwned>(
        query: Option<String>,
    ) -> Result<(PageQuery, F), Error> {
        let invalid = |e: &dyn std::fmt::Display| Error::invalid("query", e.to_string());
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.as_deref().unwrap_or("")).map_err(|e| invalid(&e))?;
        let (page, filters): (Vec<_>, Vec<_>) = pairs
            .into_iter()
            .partition(|(name, _)| name == "after" || name == "limit");
        // Encoded again to be read by each struct's own rules.
        let encode = |pairs| serde_urlencoded::to_string(pairs).map_err(|e| invalid(&e));
        let page = PageQuery::parse(Some(encode(&page)?))?;
        let filters = serde_urlencoded::from_str(&encode(&filters)?).map_err(|e| invalid(&e))?;
        Ok((page, filters))
    }

    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_PAGE_SIZE)
    }
}

/// Most candidate items one listing request examines (loads and decides)
/// before it answers. With the page size it bounds what a listing costs: at
/// most this many single-read decisions, however few of the items the actor
/// may see. At least `MAX_PAGE_SIZE`, so a page can always fill.
pub const MAX_LISTING_EXAMINED: usize = 1_000;
const _: () = assert!(MAX_LISTING_EXAMINED >= MAX_PAGE_SIZE);

/// Fewest index keys a listing reads at a time: a listing that leaves out
/// most items reads its candidates in few range scans, not one per item.
const MIN_LISTING_CHUNK: usize = 64;

/// One page of a listing: the ids under an index `prefix | id` after
/// `query.after`, in id order, each kept only if `read` — the same decision
/// as the item's single read — allows it. `read` answers the item,
/// `Ok(None)` for one gone since it was listed, or `Error::Forbidden` for
/// one the actor may not read, which is left out; any other error fails the
/// listing.
///
/// It reads on until the page holds `query.limit()` items, the ids end, or
/// `MAX_LISTING_EXAMINED` have been examined. So a page may hold fewer
/// items than asked for, even none, and still carry a `next`: the last id
/// examined, from which the client continues past the items left out. The
/// system actor's reads are all allowed.
pub fn visible_page<T>(
    app: &App,
    actor: Actor,
    query: &PageQuery,
    prefix: &[u8],
    mut read: impl FnMut(Uuid) -> Result<Option<T>, Error>,
) -> Result<Json<Page<T>>, Error> {
    app.acting_user(actor)?;
    let limit = query.limit();
    let mut items = Vec::with_capacity(limit);
    let (mut after, mut examined) = (query.after, 0);
    loop {
        let budget = MAX_LISTING_EXAMINED - examined;
        let chunk = app.store.page_ids(
            prefix,
            after,
            (limit - items.len()).max(MIN_LISTING_CHUNK).min(budget),
        )?;
        let last = chunk.items.len().saturating_sub(1);
        for (i, id) in chunk.items.into_iter().enumerate() {
            examined += 1;
            match read(id) {
                Ok(item) => items.extend(item),
                Err(Error::Forbidden { .. }) => {}
                Err(e) => return Err(e),
            }
            if items.len() == limit || examined == MAX_LISTING_EXAMINED {
                let more = i < last || chunk.next.is_some();
                return Ok(Json(Page {
                    items,
                    next: more.then_some(id),
                }));
            }
        }
        after = chunk.next;
        if after.is_none() {
            return Ok(Json(Page { items, next: None }));
        }
    }
}

/// Reads an org (404 if missing) without checking the actor.
pub fn org(state: &ApiState, id: &str) -> Result<Org, Error> {
    let id = path_id("id", id)?;
    state
        .app
        .store
        .org(id)?
        .ok_or_else(|| Error::not_found("org", id))
}

/// Reads an org the actor may see with `action`.
pub fn visible_org(state: &ApiState, actor: Actor, id: &str, action: &str) -> Result<Org, Error> {
    let org = org(state, id)?;
    state
        .app
        .require(actor, action, EntityRef::new("Org", org.id))?;
    Ok(org)
}

/// Reads a workspace (404 if missing) without checking the actor.
pub fn workspace(state: &ApiState, id: &str) -> Result<Workspace, Error> {
    state.app.workspace(path_id("id", id)?)
}

/// The org and id of the workspace a path's `{id}` names (404 if none), for
/// a command on that workspace; the actor is the command's to authorize.
pub fn workspace_and_org(state: &ApiState, id: &str) -> Result<(Uuid, Uuid), Error> {
    let workspace = workspace(state, id)?;
    Ok((workspace.org, workspace.id))
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
