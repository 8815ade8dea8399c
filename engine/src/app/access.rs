//! "What can this user access": the searches behind `GET
//! /v1/users/{id}/access` and AuthZEN's search endpoints, one engine for
//! all of them.
//!
//! Candidates come from the store's indexes — the principal's orgs, their
//! workspaces and the workspaces' resources; the members of the resource's
//! org; the actions the schema applies to the resource's type — and every
//! candidate is confirmed by [`App::check_against`], the decision of a
//! single check, against one policy snapshot. Whether that finds
//! everything single checks would allow is read from the policies
//! (`authz::reach`) and said in the answer ([`Found::gap`]), never left
//! to be guessed.
//!
//! A search examines at most [`MAX_SEARCH_EXAMINED`] index entries per
//! request; where it stops, it answers a page token to go on from. The
//! token is opaque to callers: the path of ids to the next candidate
//! (each id but the last names a node to walk inside, the last the
//! candidate after which to go on, or with a shorter path the walk starts
//! inside the last node named), with a fingerprint of the query, so a
//! token sent with another query is refused.

use std::ops::ControlFlow;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Actor, App};
use crate::authz::reach::{search_gap, Gap};
use crate::authz::{CheckRequest, EntityRef};
use crate::error::{Error, Result};
use crate::policy::{PolicySnapshot, RequestKind};
use crate::store::{keys, CheckRecords, MAX_PAGE_SIZE};

/// Most index entries (orgs, workspaces, resources, members) one search
/// request examines; each resource or member examined costs a check. At
/// least a page, so a page can always fill.
pub const MAX_SEARCH_EXAMINED: usize = 1_000;
const _: () = assert!(MAX_SEARCH_EXAMINED >= MAX_PAGE_SIZE);

/// Index ids read at a time.
const INDEX_CHUNK: usize = 64;

/// The type of every principal a search considers: the schema's actions
/// apply to users.
const USER: &str = "User";

/// What is searched for.
#[derive(Clone, Debug, Serialize)]
pub enum Query {
    /// The resources of type `kind` on which `principal` may do `action`.
    Resources {
        /// Who would act (a `User`).
        principal: EntityRef,
        /// An action of the schema (`RunResource`).
        action: String,
        /// The resources' entity type (`Flow`).
        kind: String,
    },
    /// The principals of type `kind` (`User`) who may do `action` on
    /// `resource`.
    Subjects {
        /// The principals' entity type.
        kind: String,
        /// An action of the schema.
        action: String,
        /// What they would act on.
        resource: EntityRef,
    },
    /// The actions `principal` may do on `resource`.
    Actions {
        /// Who would act.
        principal: EntityRef,
        /// What they would act on.
        resource: EntityRef,
    },
}

/// One search request.
#[derive(Debug)]
pub struct Search {
    /// What is searched for.
    pub query: Query,
    /// The context of every check.
    pub context: Map<String, Value>,
    /// Most results on the page, 1 to `MAX_PAGE_SIZE`.
    pub limit: usize,
    /// Where the previous page stopped: its [`Found::next`].
    pub token: Option<String>,
}

/// One page of a search's answer.
#[derive(Debug)]
pub struct Found {
    /// The allowed entities (for an action search, of type `Action`).
    pub items: Vec<EntityRef>,
    /// The token of the next page; none after the last.
    pub next: Option<String>,
    /// Why the whole answer may not be everything single checks would
    /// allow; none when it is.
    pub gap: Option<Gap>,
    /// The revision of the policies that decided.
    pub policy_revision: u64,
}

/// Answers one page of `search`, asked by `actor`: the vendor (system)
/// may ask about anyone; a user only about their own access, and who may
/// act on a resource only if they may see its org's members
/// (`ViewMembers`, as `GET /v1/orgs/{id}/members` asks).
pub fn search(app: &App, actor: Actor, search: &Search) -> Result<Found> {
    app.acting_user(actor)?;
    if !(1..=MAX_PAGE_SIZE).contains(&search.limit) {
        return Err(Error::invalid(
            "page.limit",
            format!("must be 1 to {MAX_PAGE_SIZE}"),
        ));
    }
    let snapshot = app.policies.current();
    let fingerprint = fingerprint(search)?;
    let resume = match &search.token {
        Some(token) => read_token(token, &fingerprint)?,
        None => Vec::new(),
    };
    let asked = Asked {
        app,
        actor,
        snapshot: &snapshot,
        context: &search.context,
        at: Instant::now(),
        limit: search.limit,
        resume,
    };
    let (items, stop, gap) = match &search.query {
        Query::Resources {
            principal,
            action,
            kind,
        } => resources(&asked, principal, action, kind)?,
        Query::Subjects {
            kind,
            action,
            resource,
        } => subjects(&asked, kind, action, resource)?,
        Query::Actions {
            principal,
            resource,
        } => actions(&asked, principal, resource)?,
    };
    Ok(Found {
        items,
        next: stop.map(|at| write_token(&fingerprint, &at)),
        gap,
        policy_revision: snapshot.revision,
    })
}

/// A page's results, where it stopped (none: at the end) and the gap.
type Page = (Vec<EntityRef>, Option<Vec<String>>, Option<Gap>);

/// One search request as its parts see it.
struct Asked<'a> {
    app: &'a App,
    /// Who asks.
    actor: Actor,
    /// The policies of every check.
    snapshot: &'a PolicySnapshot,
    /// The context of every check.
    context: &'a Map<String, Value>,
    /// When the search arrived, for the checks' cache.
    at: Instant,
    /// Most results on the page.
    limit: usize,
    /// Where the previous page stopped (empty: the first page).
    resume: Vec<String>,
}

impl Asked<'_> {
    /// Whether `principal` may do `action` on `resource`: the single
    /// check's decision.
    fn allowed(&self, principal: &EntityRef, action: &str, resource: &EntityRef) -> Result<bool> {
        let request = CheckRequest {
            principal: principal.clone(),
            action: EntityRef::new("Action", action),
            resource: resource.clone(),
            context: self.context.clone(),
            entities: Vec::new(),
        };
        let decision = self.app.check_against(self.snapshot, &request, self.at)?;
        Ok(decision.allowed())
    }

    /// The schema's kind of request of `action` by a `principal` on a
    /// `resource` (types); a 400 naming the field the schema refuses.
    fn kind(&self, principal: &str, action: &str, resource: &str) -> Result<&RequestKind> {
        let kinds = self.snapshot.request_kinds(action);
        let refused = |field: &str, types: Vec<String>, given: &str| {
            let mut types = types;
            types.sort_unstable();
            types.dedup();
            Error::invalid(
                field,
                format!("{action} applies to {}, not to {given:?}", types.join(", ")),
            )
        };
        if kinds.is_empty() {
            let mut known = self.snapshot.action_names();
            known.sort_unstable();
            return Err(Error::invalid(
                "action.name",
                format!(
                    "{action:?} names no action of the policy schema; it has {}",
                    known.join(", ")
                ),
            ));
        }
        let by_principal: Vec<&RequestKind> = kinds
            .iter()
            .filter(|kind| kind.principal_type() == principal)
            .collect();
        if by_principal.is_empty() {
            let types = kinds.iter().map(RequestKind::principal_type).collect();
            return Err(refused("subject.type", types, principal));
        }
        let found = by_principal
            .iter()
            .find(|kind| kind.resource_type() == resource);
        found.copied().ok_or_else(|| {
            let types = by_principal.iter().map(|k| k.resource_type()).collect();
            refused("resource.type", types, resource)
        })
    }
}

/// Refuses a user who asks about another user's access.
fn require_self(actor: Actor, principal: &EntityRef) -> Result<()> {
    match actor {
        Actor::User(user) if principal.kind != USER || principal.id != user.to_string() => {
            Err(Error::Forbidden {
                explanation: format!(
                    "Denied: {actor} may search only their own access, not that of {}::{:?}; the vendor (no X-Warden-Actor) may search anyone's.",
                    principal.kind, principal.id
                ),
                policies: Vec::new(),
            })
        }
        _ => Ok(()),
    }
}

/// The resources of type `kind` `principal` may do `action` on: those of
/// the workspaces of the orgs they belong to (an org or workspace search
/// stops at that level).
fn resources(asked: &Asked, principal: &EntityRef, action: &str, kind: &str) -> Result<Page> {
    let gap = search_gap(asked.kind(&principal.kind, action, kind)?, false);
    require_self(asked.actor, principal)?;
    let levels: &[Level] = match kind {
        "Org" => &[Level::OrgsOfUser],
        "Workspace" => &[Level::OrgsOfUser, Level::WorkspacesOfOrg],
        _ => &[
            Level::OrgsOfUser,
            Level::WorkspacesOfOrg,
            Level::ResourcesOfWorkspace,
        ],
    };
    // An id that is no uuid (an email Warden does not hold) names no one.
    let Ok(root) = Uuid::parse_str(&principal.id) else {
        return Ok((Vec::new(), None, gap));
    };
    let decide = |id: Uuid| {
        let resource = EntityRef::new(kind, id);
        let stored = match kind {
            "Org" | "Workspace" => true,
            _ => asked
                .app
                .store
                .resource(id)?
                .is_some_and(|r| r.kind == kind),
        };
        Ok((stored && asked.allowed(principal, action, &resource)?).then_some(resource))
    };
    let (items, stop) = walk(asked, levels, root, decide)?;
    Ok((items, stop, gap))
}

/// The principals of type `kind` (users) who may do `action` on
/// `resource`: the members of its org.
fn subjects(asked: &Asked, kind: &str, action: &str, resource: &EntityRef) -> Result<Page> {
    let gap = search_gap(asked.kind(kind, action, &resource.kind)?, false);
    let org = org_of(asked.app, resource)?;
    if let actor @ Actor::User(_) = asked.actor {
        let Some(org) = org else {
            // As for another org's resource: its existence stays hidden.
            return Err(Error::Forbidden {
                explanation: format!(
                    "Denied: {actor} may search who may act only on an org, workspace or resource of an org whose members they may see; {}::{:?} is none Warden stores.",
                    resource.kind, resource.id
                ),
                policies: Vec::new(),
            });
        };
        asked
            .app
            .require(actor, "ViewMembers", EntityRef::new("Org", org))?;
    }
    let Some(org) = org else {
        return Ok((Vec::new(), None, gap));
    };
    let decide = |id: Uuid| {
        let user = EntityRef::new(USER, id);
        Ok(asked.allowed(&user, action, resource)?.then_some(user))
    };
    let (items, stop) = walk(asked, &[Level::MembersOfOrg], org, decide)?;
    Ok((items, stop, gap))
}

/// The org a stored org, workspace or resource belongs to; none for
/// anything Warden does not store.
fn org_of(app: &App, entity: &EntityRef) -> Result<Option<Uuid>> {
    let Ok(id) = Uuid::parse_str(&entity.id) else {
        return Ok(None);
    };
    Ok(match entity.kind.as_str() {
        "Org" => app.store.org(id)?.map(|org| org.id),
        "Workspace" => app.store.workspace(id)?.map(|ws| ws.org),
        "User" | "OrgRole" | "WorkspaceRole" => None,
        kind => app
            .store
            .resource(id)?
            .filter(|r| r.kind == kind)
            .map(|r| r.org),
    })
}

/// The actions `principal` may do on `resource`, in name order: every
/// action the schema applies to a user and the resource's type.
fn actions(asked: &Asked, principal: &EntityRef, resource: &EntityRef) -> Result<Page> {
    require_self(asked.actor, principal)?;
    let mut names = asked.snapshot.action_names();
    names.sort_unstable();
    let mut gap = None;
    let mut applicable = Vec::new();
    for name in names {
        let kinds = asked.snapshot.request_kinds(&name);
        let kind = kinds
            .iter()
            .find(|k| k.principal_type() == principal.kind && k.resource_type() == resource.kind);
        if let Some(kind) = kind {
            gap = gap.or_else(|| search_gap(kind, true));
            applicable.push(name);
        }
    }
    let after = asked.resume.first();
    let mut items = Vec::new();
    let mut rest = applicable
        .iter()
        .filter(|name| after.is_none_or(|after| *name > after));
    let mut last = None;
    for name in rest.by_ref() {
        if asked.allowed(principal, name, resource)? {
            items.push(EntityRef::new("Action", name));
        }
        last = Some(name.clone());
        if items.len() == asked.limit {
            break;
        }
    }
    let stop = rest.next().and(last).map(|last| vec![last]);
    Ok((items, stop, gap))
}

/// One level of the index walk from a root id to the candidates.
#[derive(Clone, Copy)]
enum Level {
    /// A user's orgs.
    OrgsOfUser,
    /// An org's workspaces.
    WorkspacesOfOrg,
    /// A workspace's resources (folders' contents included).
    ResourcesOfWorkspace,
    /// An org's members.
    MembersOfOrg,
}

impl Level {
    /// The index prefix under which `parent`'s children are listed.
    fn prefix(self, parent: Uuid) -> Vec<u8> {
        match self {
            Level::OrgsOfUser => keys::orgs_of_user(parent),
            Level::WorkspacesOfOrg => keys::workspaces_of_org(parent),
            Level::ResourcesOfWorkspace => keys::resources_of_workspace(parent),
            Level::MembersOfOrg => keys::memberships_of_org(parent),
        }
    }
}

/// Walks `levels` from `root`, from where the previous page stopped (see
/// the module's text), keeping each candidate `decide` allows, until the
/// page holds its limit or `MAX_SEARCH_EXAMINED` entries were examined.
/// Answers the results and where to go on (none: the walk ended).
fn walk(
    asked: &Asked,
    levels: &[Level],
    root: Uuid,
    decide: impl FnMut(Uuid) -> Result<Option<EntityRef>>,
) -> Result<(Vec<EntityRef>, Option<Vec<String>>)> {
    let resume = asked
        .resume
        .iter()
        .map(|id| Uuid::parse_str(id).map_err(|_| bad_token()))
        .collect::<Result<Vec<Uuid>>>()?;
    if resume.len() > levels.len() {
        return Err(bad_token());
    }
    let mut walker = Walker {
        app: asked.app,
        levels,
        limit: asked.limit,
        examined: 0,
        found: Vec::new(),
        decide,
    };
    let stop = walker.walk(0, root, &mut Vec::new(), &resume)?;
    let stop = match stop {
        ControlFlow::Break(at) => Some(at.iter().map(Uuid::to_string).collect()),
        ControlFlow::Continue(()) => None,
    };
    Ok((walker.found, stop))
}

/// The state of one [`walk`].
struct Walker<'a, F> {
    app: &'a App,
    levels: &'a [Level],
    limit: usize,
    examined: usize,
    found: Vec<EntityRef>,
    decide: F,
}

impl<F: FnMut(Uuid) -> Result<Option<EntityRef>>> Walker<'_, F> {
    /// Walks the children of `parent` (at `path` below the root, on level
    /// `depth`) from `resume` on; breaks with the path to go on from.
    fn walk(
        &mut self,
        depth: usize,
        parent: Uuid,
        path: &mut Vec<Uuid>,
        resume: &[Uuid],
    ) -> Result<ControlFlow<Vec<Uuid>>> {
        let leaf = depth + 1 == self.levels.len();
        let mut after = None;
        if let Some((&first, rest)) = resume.split_first() {
            if !leaf {
                if let ControlFlow::Break(at) = self.enter(depth, first, path, rest)? {
                    return Ok(ControlFlow::Break(at));
                }
            }
            after = Some(first);
        }
        let prefix = self.levels[depth].prefix(parent);
        loop {
            let chunk = self.app.store.page_ids(&prefix, after, INDEX_CHUNK)?;
            for id in chunk.items {
                if self.found.len() == self.limit || self.examined == MAX_SEARCH_EXAMINED {
                    // Go on with `id`: after the sibling before it, or
                    // inside the node `id` is.
                    let mut at = path.clone();
                    at.extend(if leaf { after } else { Some(id) });
                    return Ok(ControlFlow::Break(at));
                }
                self.examined += 1;
                if leaf {
                    self.found.extend((self.decide)(id)?);
                } else if let ControlFlow::Break(at) = self.enter(depth, id, path, &[])? {
                    return Ok(ControlFlow::Break(at));
                }
                after = Some(id);
            }
            if chunk.next.is_none() {
                return Ok(ControlFlow::Continue(()));
            }
        }
    }

    /// Walks inside child `id` of a node on level `depth`.
    fn enter(
        &mut self,
        depth: usize,
        id: Uuid,
        path: &mut Vec<Uuid>,
        resume: &[Uuid],
    ) -> Result<ControlFlow<Vec<Uuid>>> {
        path.push(id);
        let flow = self.walk(depth + 1, id, path, resume)?;
        path.pop();
        Ok(flow)
    }
}

/// What a page token carries: the query's fingerprint and where to go on.
#[derive(Serialize, Deserialize)]
struct Token {
    query: String,
    at: Vec<String>,
}

/// A digest of everything a page token must be sent again with (§"Paginated
/// Requests" of AuthZEN: "all values from the initial request MUST remain
/// identical for subsequent pages").
fn fingerprint(search: &Search) -> Result<String> {
    let asked = serde_json::to_vec(&(&search.query, &search.context, search.limit))
        .map_err(|e| Error::Internal(format!("a search query as JSON: {e}")))?;
    Ok(hex::encode(&Sha256::digest(asked)[..8]))
}

fn write_token(fingerprint: &str, at: &[String]) -> String {
    let token = Token {
        query: fingerprint.to_string(),
        at: at.to_vec(),
    };
    hex::encode(serde_json::to_vec(&token).expect("strings serialise"))
}

/// Where a token says to go on; a 400 for a token of another query or none
/// of Warden's.
fn read_token(token: &str, fingerprint: &str) -> Result<Vec<String>> {
    let token: Token = hex::decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(bad_token)?;
    if token.query != fingerprint {
        return Err(Error::invalid(
            "page.token",
            "the token belongs to another query: send the subject, action, resource, context and limit of the first page again, with only the token changed",
        ));
    }
    Ok(token.at)
}

fn bad_token() -> Error {
    Error::invalid(
        "page.token",
        "not a page token of this search: send the next_token of the previous page as it came",
    )
}
