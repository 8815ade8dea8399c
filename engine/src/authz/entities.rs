//! Builds the Cedar entities one check needs straight from the store: the
//! resource and its ancestors (folder, workspace, org), the principal and
//! its role groups in those orgs and workspaces, plus what the caller sent.
//!
//! Architecture invariant: the number of store reads is bounded by the depth
//! of the resource's ancestry and by what the caller sent (within
//! [`MAX_ENTITY_NODES`]), never by the number of orgs, users or resources.
//! A caller's entity never stands in for one of Warden's. The principal's memberships outside the resource's org are not
//! read: no default policy lets anything cross orgs, so they cannot matter.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use cedar_policy::{Entities, Entity};
use cedar_policy_core::ast::{self, PartialValue, Value as CedarValue};
use cedar_policy_core::entities::{NoEntitiesSchema, TCComputation};
use cedar_policy_core::evaluator::RestrictedEvaluator;
use cedar_policy_core::extensions::Extensions;
use serde_json::Value;
use smol_str::SmolStr;
use uuid::Uuid;

use super::{ids, values, EntityRef, MAX_REQUEST_ENTITIES};
use crate::error::{Error, Result};
use crate::policy::PolicySnapshot;
use crate::store::CheckRecords;
use crate::store::{CheckReads, Org, OrgRole, Resource, Workspace, WorkspaceRole};

/// How many ancestors (nested folders, workspace, org) a resource may have.
const MAX_ANCESTOR_DEPTH: usize = 8;
/// The most entity nodes one check may touch: each entity the caller sent,
/// each parent those name, each entity reached from the resource, and each
/// store lookup of a supplied uid or parent. The work of building a check's
/// entities is linear in this count (a reference to an entity already
/// reached costs one set lookup, and there are no more of those than
/// parents sent).
pub const MAX_ENTITY_NODES: usize = 2000;

/// What one check has spent of [`MAX_ENTITY_NODES`].
#[derive(Default)]
pub(super) struct Budget {
    pub(super) spent: usize,
}

impl Budget {
    fn spend(&mut self, nodes: usize) -> Result<()> {
        self.spent += nodes;
        if self.spent <= MAX_ENTITY_NODES {
            return Ok(());
        }
        Err(Error::invalid(
            "entities",
            format!(
                "the entities sent, the parents they name and the stored entities they lead to \
                 come to more than {MAX_ENTITY_NODES} nodes (MAX_ENTITY_NODES)"
            ),
        ))
    }
}

/// Loads the entities for a check of `principal` on `resource`, spending
/// `budget` on every node touched.
pub(super) fn load(
    store: &CheckReads,
    snapshot: &PolicySnapshot,
    principal: &EntityRef,
    resource: &EntityRef,
    supplied: &[Value],
    budget: &mut Budget,
) -> Result<Entities> {
    if supplied.len() > MAX_REQUEST_ENTITIES {
        return Err(Error::invalid(
            "entities",
            format!(
                "{} entities sent; at most {MAX_REQUEST_ENTITIES} are accepted",
                supplied.len()
            ),
        ));
    }
    let references = references(supplied, budget)?;
    let built = read(store, principal, resource, &references, budget)?;
    let stored = with_actions(close(built, &[])?, snapshot)?;
    if supplied.is_empty() {
        return Ok(stored);
    }
    let schema = &snapshot.schema;
    let supplied = supplied
        .iter()
        .enumerate()
        .map(|(index, value)| {
            Entity::from_json_value(value.clone(), Some(schema))
                .map_err(|e| Error::invalid(format!("entities[{index}]"), with_causes(&e)))
        })
        .collect::<Result<Vec<_>>>()?;
    stored
        .add_entities(supplied, Some(schema))
        .map_err(|e| Error::invalid("entities", with_causes(&e)))
}

/// Warden's entities for a check of `principal` on `resource`, read from
/// the store, having refused any of `supplied` that forges one of them.
fn read(
    store: &CheckReads,
    principal: &EntityRef,
    resource: &EntityRef,
    supplied: &[Supplied],
    budget: &mut Budget,
) -> Result<Vec<Pending>> {
    let mut loader = Loader::new(store, supplied, budget)?;
    loader.ancestry(resource)?;
    let scope = loader.scope();
    loader.principal(principal, &scope)?;
    loader.refuse_forgeries()?;
    Ok(loader.built)
}

/// The stored entities a resource reaches (itself, its folders, its
/// workspace and org), closed: the part of a check's entities that does
/// not depend on who asks, shared by every principal's checks on it.
pub(super) struct Reached {
    /// Closed: each holds all its ancestors.
    entities: Vec<Arc<ast::Entity>>,
    /// Where among them a principal's memberships may place it.
    pub(super) scope: Arc<Scope>,
}

/// The orgs and workspaces a resource reaches, in order: the role groups a
/// principal may have there are all a check needs of its memberships.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Scope {
    orgs: Vec<Uuid>,
    workspaces: Vec<Uuid>,
}

impl Scope {
    /// Its orgs, then its workspaces.
    pub(super) fn ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.orgs.iter().chain(&self.workspaces).copied()
    }
}

impl Reached {
    /// The entities, each with its ancestors.
    pub(super) fn entities(&self) -> impl Iterator<Item = &ast::Entity> {
        self.entities.iter().map(AsRef::as_ref)
    }
}

/// Reads what `resource` reaches (no entities of a caller's: a request
/// bringing some is built whole by [`load`]).
pub(super) fn reach(store: &CheckReads, resource: &EntityRef) -> Result<Reached> {
    let mut budget = Budget::default();
    let mut loader = Loader::new(store, &[], &mut budget)?;
    loader.ancestry(resource)?;
    let scope = Arc::new(loader.scope());
    Ok(Reached {
        entities: close(loader.built, &[])?,
        scope,
    })
}

/// A principal and its role groups in one scope, closed over what that
/// scope's resource reaches.
pub(super) type PrincipalEntities = Vec<Arc<ast::Entity>>;

/// `principal` (a stored user, with its role groups in `reached`'s scope)
/// read now and closed over `reached`: the part of a check's entities that
/// depends on who asks.
pub(super) fn principal(
    store: &CheckReads,
    principal: &EntityRef,
    reached: &Reached,
) -> Result<PrincipalEntities> {
    let mut budget = Budget::default();
    let mut loader = Loader::new(store, &[], &mut budget)?;
    loader.principal(principal, &reached.scope)?;
    close(loader.built, &reached.entities)
}

/// A check's entities: its `principal`'s, closed over `reached`, and
/// `reached`.
pub(super) fn assembled(
    snapshot: &PolicySnapshot,
    principal: &[Arc<ast::Entity>],
    reached: &Reached,
) -> Result<Entities> {
    let ready = principal.iter().chain(&reached.entities).cloned().collect();
    with_actions(ready, snapshot)
}

/// A Cedar error with its causes: Cedar's own message often names only the
/// kind of problem ("entity does not conform to the schema").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    message
}

/// The uid and parents of one entity the caller sent.
struct Supplied {
    uid: EntityRef,
    parents: Vec<EntityRef>,
}

/// Reads the uid and parents of each entity the caller sent (in either of
/// Cedar's JSON forms), holds every id in them, their attributes and tags
/// to its canonical spelling, and spends a node on each entity and parent.
fn references(entities: &[Value], budget: &mut Budget) -> Result<Vec<Supplied>> {
    let mut read = Vec::with_capacity(entities.len());
    for (index, entity) in entities.iter().enumerate() {
        let field = |rest: &str| format!("entities[{index}]{rest}");
        let uid = reference(entity.get("uid"), || field(".uid"))?;
        let parents = match entity.get("parents") {
            None => &Vec::new(),
            Some(Value::Array(parents)) => parents,
            Some(_) => {
                return Err(Error::invalid(
                    field(".parents"),
                    "expected an array of entity references",
                ))
            }
        };
        budget.spend(1 + parents.len())?;
        let parents = parents
            .iter()
            .enumerate()
            .map(|(at, parent)| reference(Some(parent), || field(&format!(".parents[{at}]"))))
            .collect::<Result<_>>()?;
        for key in ["attrs", "tags"] {
            if let Some(values) = entity.get(key) {
                ids::require_canonical_within(values, &mut field(&format!(".{key}")))?;
            }
        }
        read.push(Supplied { uid, parents });
    }
    Ok(read)
}

/// One entity reference of the caller's, with a canonical id.
fn reference(value: Option<&Value>, field: impl Fn() -> String) -> Result<EntityRef> {
    let (kind, id) = value.and_then(ids::reference).ok_or_else(|| {
        Error::invalid(
            field(),
            "expected an entity reference {\"type\": …, \"id\": …}",
        )
    })?;
    ids::require_canonical(kind, id, || format!("{}.id", field()))?;
    Ok(EntityRef::new(kind, id))
}

/// Where each of the caller's entities is in the request, by uid; a uid
/// sent twice is refused.
fn by_uid(supplied: &[Supplied]) -> Result<HashMap<EntityRef, usize>> {
    let mut positions = HashMap::with_capacity(supplied.len());
    for (index, entity) in supplied.iter().enumerate() {
        if let Some(first) = positions.insert(entity.uid.clone(), index) {
            return Err(Error::invalid(
                format!("entities[{index}].uid"),
                format!(
                    "{}::{:?} is sent twice (also as entities[{first}])",
                    entity.uid.kind, entity.uid.id
                ),
            ));
        }
    }
    Ok(positions)
}

/// Whether a caller's entity of type `child` may sit under one of Warden's
/// entities of type `parent`: a caller's resource may sit in a stored
/// workspace or folder. Nothing of the caller's joins a stored org or a
/// role group, and no user or role group of the caller's sits under
/// anything of Warden's: who belongs to a stored org or workspace is
/// Warden's to say.
fn may_place(child: &str, parent: &str) -> bool {
    const MEMBERSHIP_TYPES: [&str; 3] = ["User", "OrgRole", "WorkspaceRole"];
    !MEMBERSHIP_TYPES.contains(&child)
        && !matches!(parent, "Org" | "OrgRole" | "WorkspaceRole" | "User")
}

struct Loader<'a> {
    store: &'a CheckReads<'a>,
    supplied: &'a [Supplied],
    by_uid: HashMap<EntityRef, usize>,
    budget: &'a mut Budget,
    built: Vec<Pending>,
    /// The entities built so far.
    seen: HashSet<EntityRef>,
    /// Every entity reference followed, stored or the caller's.
    visited: HashSet<EntityRef>,
    /// References still to follow, with their distance from the resource.
    pending: VecDeque<(EntityRef, usize)>,
    orgs: HashMap<Uuid, Org>,
    workspaces: Vec<Uuid>,
}

impl<'a> Loader<'a> {
    fn new(
        store: &'a CheckReads<'a>,
        supplied: &'a [Supplied],
        budget: &'a mut Budget,
    ) -> Result<Loader<'a>> {
        Ok(Loader {
            store,
            by_uid: by_uid(supplied)?,
            supplied,
            budget,
            built: Vec::new(),
            seen: HashSet::new(),
            visited: HashSet::new(),
            pending: VecDeque::new(),
            orgs: HashMap::new(),
            workspaces: Vec::new(),
        })
    }

    /// The orgs and workspaces reached so far, whose role groups the
    /// principal's memberships may put it in.
    fn scope(&self) -> Scope {
        let mut orgs: Vec<Uuid> = self.orgs.keys().copied().collect();
        let mut workspaces = self.workspaces.clone();
        orgs.sort_unstable();
        workspaces.sort_unstable();
        Scope { orgs, workspaces }
    }

    /// Adds `uid` and its ancestors, from the store or from the caller's
    /// entities, nearest first; each entity is followed once.
    fn ancestry(&mut self, uid: &EntityRef) -> Result<()> {
        self.pending.push_back((uid.clone(), 0));
        while let Some((uid, depth)) = self.pending.pop_front() {
            if depth > MAX_ANCESTOR_DEPTH
                || self.seen.contains(&uid)
                || !self.visited.insert(uid.clone())
            {
                continue;
            }
            self.budget.spend(1)?;
            let stored = match Uuid::try_parse(&uid.id) {
                Ok(id) => self.stored(&uid.kind, id, depth)?,
                Err(_) => false,
            };
            if let (false, Some(&index)) = (stored, self.by_uid.get(&uid)) {
                let parents = &self.supplied[index].parents;
                let next = parents.iter().map(|parent| (parent.clone(), depth + 1));
                self.pending.extend(next);
            }
        }
        Ok(())
    }

    /// Adds the stored entity `kind::id` and its ancestors; false if the store has none.
    fn stored(&mut self, kind: &str, id: Uuid, depth: usize) -> Result<bool> {
        match kind {
            "Org" => Ok(self.org(id)?.is_some()),
            "Workspace" => match self.store.workspace(id)? {
                Some(workspace) => self.workspace(workspace).map(|()| true),
                None => Ok(false),
            },
            "User" | "OrgRole" | "WorkspaceRole" => Ok(false),
            _ => match self.store.resource(id)? {
                Some(resource) if resource.kind == kind => {
                    self.workspace_resource(resource, depth).map(|()| true)
                }
                _ => Ok(false),
            },
        }
    }

    /// Refuses a caller's entity that is one of Warden's (stored, or a role
    /// group of a stored org or workspace, whether or not this check loaded
    /// it), or that names one of Warden's entities as a parent where
    /// [`may_place`] does not allow it.
    fn refuse_forgeries(&mut self) -> Result<()> {
        let supplied = self.supplied;
        for (index, entity) in supplied.iter().enumerate() {
            let uid = &entity.uid;
            if self.is_wardens(uid)? {
                return Err(Error::invalid(
                    format!("entities[{index}]"),
                    format!(
                        "{}::{:?} is stored by Warden and cannot be sent with a request",
                        uid.kind, uid.id
                    ),
                ));
            }
            for (at, parent) in entity.parents.iter().enumerate() {
                if !may_place(&uid.kind, &parent.kind) && self.is_wardens(parent)? {
                    return Err(Error::invalid(
                        format!("entities[{index}].parents[{at}]"),
                        format!(
                            "{}::{:?} is Warden's: who belongs to a stored org or workspace \
                             comes from the store, and a {} sent with a request cannot be placed in it",
                            parent.kind, parent.id, uid.kind
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether `uid` is one of Warden's entities: built for this check, or
    /// in the store (a role group belongs to a stored org or workspace).
    fn is_wardens(&mut self, uid: &EntityRef) -> Result<bool> {
        if self.seen.contains(uid) {
            return Ok(true);
        }
        let owner = match uid.kind.as_str() {
            "OrgRole" | "WorkspaceRole" => {
                uid.id.split_once('/').map_or(&*uid.id, |(owner, _)| owner)
            }
            _ => &uid.id,
        };
        let Ok(id) = Uuid::try_parse(owner) else {
            return Ok(false);
        };
        self.budget.spend(1)?;
        Ok(match uid.kind.as_str() {
            "Org" | "OrgRole" => self.store.org(id)?.is_some(),
            "Workspace" | "WorkspaceRole" => self.store.workspace(id)?.is_some(),
            "User" => self.store.user(id)?.is_some(),
            _ => self.store.resource(id)?.is_some(),
        })
    }

    fn org(&mut self, id: Uuid) -> Result<Option<&Org>> {
        if !self.orgs.contains_key(&id) {
            let Some(org) = self.store.org(id)? else {
                return Ok(None);
            };
            let mut attrs = vec![
                ("name", PartialValue::from(org.name.as_str())),
                ("plan", PartialValue::from(org.plan.as_str())),
                (
                    "workspace_count",
                    PartialValue::from(i64::from(org.workspace_count)),
                ),
                ("seats_used", PartialValue::from(i64::from(org.seats_used))),
            ];
            attrs.extend(OrgRole::ALL.iter().map(|role| {
                (
                    role.org_attribute(),
                    entity_value("OrgRole", org_role_id(id, *role)),
                )
            }));
            self.push(EntityRef::new("Org", id), attrs, Vec::new())?;
            self.orgs.insert(id, org);
        }
        Ok(self.orgs.get(&id))
    }

    fn workspace(&mut self, workspace: Workspace) -> Result<()> {
        let uid = EntityRef::new("Workspace", workspace.id);
        if self.seen.contains(&uid) {
            return Ok(());
        }
        let is_default = self
            .org(workspace.org)?
            .is_some_and(|org| org.default_workspace == Some(workspace.id));
        let mut attrs = vec![
            ("org", entity_value("Org", workspace.org)),
            ("name", PartialValue::from(workspace.name.as_str())),
            ("is_default", PartialValue::from(is_default)),
        ];
        attrs.extend(WorkspaceRole::ALL.iter().map(|role| {
            (
                role.workspace_attribute(),
                entity_value("WorkspaceRole", workspace_role_id(workspace.id, *role)),
            )
        }));
        self.push(uid, attrs, vec![EntityRef::new("Org", workspace.org)])?;
        self.workspaces.push(workspace.id);
        Ok(())
    }

    fn workspace_resource(&mut self, resource: Resource, depth: usize) -> Result<()> {
        if let Some(workspace) = self.store.workspace(resource.workspace)? {
            self.workspace(workspace)?;
        }
        if let Some(folder) = resource.folder {
            let folder = EntityRef::new("Folder", folder);
            self.pending.push_back((folder, depth + 1));
        }
        let pending = resource_pending(&resource)?;
        self.seen.insert(pending.uid.clone());
        self.built.push(pending);
        Ok(())
    }

    /// Adds a stored user with its role groups in `scope`.
    fn principal(&mut self, uid: &EntityRef, scope: &Scope) -> Result<()> {
        if uid.kind != "User" {
            return Ok(());
        }
        let Ok(id) = Uuid::parse_str(&uid.id) else {
            return Ok(());
        };
        let Some(user) = self.store.user(id)? else {
            return Ok(());
        };
        let mut parents = Vec::new();
        for &org in &scope.orgs {
            if let Some(role) = self
                .store
                .membership(org, id)?
                .and_then(|m| m.active_role())
            {
                let group = EntityRef::new("OrgRole", org_role_id(org, role));
                self.push(group.clone(), Vec::new(), vec![EntityRef::new("Org", org)])?;
                parents.push(group);
            }
        }
        for &workspace in &scope.workspaces {
            if let Some(member) = self.store.workspace_member(workspace, id)? {
                let group =
                    EntityRef::new("WorkspaceRole", workspace_role_id(workspace, member.role));
                self.push(
                    group.clone(),
                    Vec::new(),
                    vec![EntityRef::new("Workspace", workspace)],
                )?;
                parents.push(group);
            }
        }
        let email = PartialValue::from(user.email);
        self.push(uid.clone(), vec![("email", email)], parents)
    }

    fn push(
        &mut self,
        uid: EntityRef,
        attrs: Vec<(&str, PartialValue)>,
        parents: Vec<EntityRef>,
    ) -> Result<()> {
        let attrs = attrs
            .into_iter()
            .map(|(name, value)| (SmolStr::new(name), value))
            .collect();
        self.seen.insert(uid.clone());
        self.built.push(Pending {
            uid,
            attrs,
            parents,
        });
        Ok(())
    }
}

/// One of Warden's entities for a check, before its ancestors are known:
/// its uid, attributes (as values: Warden's records have known shapes, so
/// Cedar need not evaluate expressions for them) and parents.
struct Pending {
    uid: EntityRef,
    attrs: Vec<(SmolStr, PartialValue)>,
    parents: Vec<EntityRef>,
}

impl Pending {
    /// The Cedar entity, whose ancestors beyond its parents are `indirect`.
    fn into_entity(self, mut indirect: HashSet<ast::EntityUID>) -> Result<ast::Entity> {
        let parents: HashSet<ast::EntityUID> =
            self.parents.iter().map(core_uid).collect::<Result<_>>()?;
        indirect.retain(|uid| !parents.contains(uid));
        Ok(ast::Entity::new_with_attr_partial_value(
            core_uid(&self.uid)?,
            self.attrs,
            indirect,
            parents,
            [],
        ))
    }
}

fn core_uid(reference: &EntityRef) -> Result<ast::EntityUID> {
    values::uid(&reference.kind, &reference.id)
        .map(ast::EntityUID::from)
        .map_err(|e| Error::invalid("type", e))
}

/// `built` as Cedar entities, each with all its ancestors (the transitive
/// closure): those in `built`, and a parent's in `closed` (entities closed
/// before, which `built` may sit under). Cedar would compute the closure
/// itself, generically, at a fifth of a check's cost; Warden's hierarchies
/// are a few levels deep and known to be acyclic (a cycle is refused here
/// all the same), so it is walked directly and handed to Cedar as done.
fn close(built: Vec<Pending>, closed: &[Arc<ast::Entity>]) -> Result<Vec<Arc<ast::Entity>>> {
    let at: HashMap<&EntityRef, usize> = built
        .iter()
        .enumerate()
        .map(|(index, pending)| (&pending.uid, index))
        .collect();
    let mut indirect: Vec<HashSet<ast::EntityUID>> = Vec::with_capacity(built.len());
    for index in 0..built.len() {
        let closure = ancestors_of(&built, &at, index)?;
        let mut ancestors = HashSet::with_capacity(closure.len() + 2);
        for &i in &closure {
            ancestors.insert(core_uid(&built[i].uid)?);
        }
        // Parents outside `built` are ancestors too: with their own
        // ancestors when they are closed, else not followed (as Cedar does).
        let outside = std::iter::once(index)
            .chain(closure)
            .flat_map(|i| built[i].parents.iter())
            .filter(|parent| !at.contains_key(parent));
        for parent in outside {
            let uid = core_uid(parent)?;
            if let Some(entity) = closed.iter().find(|entity| entity.uid() == &uid) {
                ancestors.extend(entity.ancestors().cloned());
            }
            ancestors.insert(uid);
        }
        indirect.push(ancestors);
    }
    drop(at);
    built
        .into_iter()
        .zip(indirect)
        .map(|(pending, indirect)| Ok(Arc::new(pending.into_entity(indirect)?)))
        .collect()
}

/// A check's entities: `ready` (closed) and the snapshot's action entities.
fn with_actions(mut ready: Vec<Arc<ast::Entity>>, snapshot: &PolicySnapshot) -> Result<Entities> {
    ready.extend(
        snapshot
            .actions
            .iter()
            .map(|action| Arc::new(action.as_ref().clone())),
    );
    // Warden's own entities fit the schema by construction (the policy
    // tests hold them to it), so only the caller's are checked for
    // conformance: validating every stored entity was 15% of a check.
    cedar_policy_core::entities::Entities::new()
        .add_entities(
            ready,
            None::<&NoEntitiesSchema>,
            TCComputation::AssumeAlreadyComputed,
            Extensions::all_available(),
        )
        .map(Entities::from)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// The indexes in `built` of the ancestors of `built[index]` that are in
/// the set; an error if it is its own ancestor.
fn ancestors_of(
    built: &[Pending],
    at: &HashMap<&EntityRef, usize>,
    index: usize,
) -> Result<Vec<usize>> {
    let mut found: Vec<usize> = Vec::new();
    let mut next: Vec<usize> = Vec::new();
    let parents_of = |i: usize| built[i].parents.iter().filter_map(|p| at.get(p).copied());
    next.extend(parents_of(index));
    while let Some(ancestor) = next.pop() {
        if ancestor == index {
            let uid = &built[index].uid;
            return Err(Error::Internal(format!(
                "{}::{:?} is its own ancestor",
                uid.kind, uid.id
            )));
        }
        if !found.contains(&ancestor) {
            found.push(ancestor);
            next.extend(parents_of(ancestor));
        }
    }
    Ok(found)
}

/// A stored workspace resource as a Cedar entity: its free-form attributes
/// plus the ones Warden keeps (org, workspace, owner, shared_with).
pub fn resource_entity(resource: &Resource) -> Result<Entity> {
    Ok(Entity::from(
        resource_pending(resource)?.into_entity(HashSet::new())?,
    ))
}

fn resource_pending(resource: &Resource) -> Result<Pending> {
    let evaluator = RestrictedEvaluator::new(Extensions::all_available());
    let mut attrs = Vec::with_capacity(resource.attributes.len() + 4);
    for (name, value) in &resource.attributes {
        let field = || format!("attributes.{name}");
        let expression = values::expression(value).map_err(|e| Error::invalid(field(), e))?;
        let value = evaluator
            .partial_interpret(expression.as_ref().as_borrowed())
            .map_err(|e| Error::invalid(field(), e.to_string()))?;
        attrs.push((SmolStr::new(name), value));
    }
    attrs.push(("org".into(), entity_value("Org", resource.org)));
    attrs.push((
        "workspace".into(),
        entity_value("Workspace", resource.workspace),
    ));
    let shared_with = resource
        .shared_with
        .iter()
        .map(|user| CedarValue::from(uid_of("User", user)));
    attrs.push((
        "shared_with".into(),
        CedarValue::set(shared_with, None).into(),
    ));
    if let Some(owner) = resource.owner {
        attrs.push(("owner".into(), entity_value("User", owner)));
    }
    let mut parents = vec![EntityRef::new("Workspace", resource.workspace)];
    parents.extend(
        resource
            .folder
            .map(|folder| EntityRef::new("Folder", folder)),
    );
    Ok(Pending {
        uid: EntityRef::new(&resource.kind, resource.id),
        attrs,
        parents,
    })
}

/// The uid of one of Warden's entities.
fn uid_of(kind: &str, id: impl ToString) -> ast::EntityUID {
    let uid = values::uid(kind, &id.to_string()).expect("Warden's entity type names are valid");
    ast::EntityUID::from(uid)
}

/// A reference to one of Warden's entities, as an attribute value.
fn entity_value(kind: &str, id: impl ToString) -> PartialValue {
    PartialValue::from(uid_of(kind, id))
}

/// Id of the Cedar group of one org role, e.g. `<org id>/admin`.
pub fn org_role_id(org: Uuid, role: OrgRole) -> String {
    format!("{org}/{}", role.as_str())
}

/// Id of the Cedar group of one workspace role, e.g. `<workspace id>/editor`.
pub fn workspace_role_id(workspace: Uuid, role: WorkspaceRole) -> String {
    format!("{workspace}/{}", role.as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::app::{Actor, App};
    use crate::authz::tests::{app, org, user};
    use crate::authz::CheckRequest;
    use crate::command::{self, AddMember, ChangeRole};

    fn loaded(app: &App, principal: Uuid, resource: &EntityRef) -> Vec<String> {
        let principal = EntityRef::new("User", principal);
        let entities = load(
            &app.store.check_reads(None),
            &app.policies.current(),
            &principal,
            resource,
            &[],
            &mut Budget::default(),
        )
        .unwrap();
        let mut uids: Vec<String> = entities.iter().map(|e| e.uid().to_string()).collect();
        uids.sort();
        uids
    }

    /// Every check's entities, with the closure walked here, equal those
    /// Cedar closes itself from the same parents: for each role, on nested
    /// folders, a flow in the deepest one, its workspace and its org.
    #[test]
    fn the_closure_handed_to_cedar_is_the_one_cedar_computes() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let (admin, guest) = (user(&app, "ann@a.com"), user(&app, "gus@g.com"));
        let target = org(&app, admin, guest);
        let workspace = target.default_workspace.unwrap();
        let member = user(&app, "meg@a.com");
        let add = AddMember::new(target.id, member, OrgRole::Member);
        command::execute(&app, Actor::System, None, add).unwrap();
        let mut folder = None;
        let mut resources = vec![
            EntityRef::new("Org", target.id),
            EntityRef::new("Workspace", workspace),
        ];
        for kind in ["Folder", "Folder", "Folder", "Flow"] {
            let register: command::RegisterResource = serde_json::from_value(json!({
                "type": kind, "folder": folder, "attributes": {"name": "x"},
            }))
            .unwrap();
            let register = command::RegisterResource {
                org: target.id,
                workspace,
                ..register
            };
            let id = command::execute(&app, Actor::System, None, register)
                .unwrap()
                .id;
            folder = (kind == "Folder").then_some(id);
            resources.push(EntityRef::new(kind, id));
        }
        let snapshot = app.policies.current();
        for principal in [admin, guest, member, Uuid::now_v7()] {
            for resource in &resources {
                let principal = EntityRef::new("User", principal);
                let mut budget = Budget::default();
                let mut read_now = || {
                    read(
                        &app.store.check_reads(None),
                        &principal,
                        resource,
                        &[],
                        &mut budget,
                    )
                };
                let ours =
                    with_actions(close(read_now().unwrap(), &[]).unwrap(), &snapshot).unwrap();
                let direct = read_now()
                    .unwrap()
                    .into_iter()
                    .map(|pending| Entity::from(pending.into_entity(HashSet::new()).unwrap()))
                    .chain(snapshot.actions.iter().cloned());
                let cedars = Entities::from_entities(direct, None).unwrap();
                assert!(
                    ours.as_ref().deep_eq(cedars.as_ref()),
                    "{principal:?} on {resource:?}:\nours {ours:?}\ncedar's {cedars:?}"
                );
                // And built in two parts, as cached checks build them.
                let reads = app.store.check_reads(None);
                let reached = reach(&reads, resource).unwrap();
                let asking = super::principal(&reads, &principal, &reached).unwrap();
                let shared = assembled(&snapshot, &asking, &reached).unwrap();
                assert!(
                    shared.as_ref().deep_eq(ours.as_ref()),
                    "{principal:?} on {resource:?}:\nin two parts {shared:?}\nwhole {ours:?}"
                );
            }
        }
    }

    #[test]
    fn a_check_reads_only_the_resource_org_whatever_else_the_principal_belongs_to() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let (alice, bob) = (user(&app, "alice@a.com"), user(&app, "bob@b.com"));
        let target = org(&app, bob, alice);
        let workspace = EntityRef::new("Workspace", target.default_workspace.unwrap());
        let before = loaded(&app, alice, &workspace);

        // Alice administers many other orgs; the check must not read them.
        let others: Vec<Org> = (0..20).map(|_| org(&app, alice, bob)).collect();
        let after = loaded(&app, alice, &workspace);
        assert_eq!(before, after);
        for other in &others {
            assert!(
                !after.iter().any(|uid| uid.contains(&other.id.to_string())),
                "{after:?}"
            );
        }
        assert!(
            after.contains(&format!(
                "OrgRole::\"{}\"",
                org_role_id(target.id, OrgRole::GuestInternal)
            )),
            "{after:?}"
        );
    }

    #[test]
    fn a_cached_answer_never_outlives_a_write_it_depends_on() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let (alice, bob) = (user(&app, "alice@a.com"), user(&app, "bob@b.com"));
        let target = org(&app, bob, alice);
        let request: CheckRequest = serde_json::from_value(json!({
            "principal": {"type": "User", "id": alice},
            "action": {"type": "Action", "id": "UpdateOrg"},
            "resource": {"type": "Org", "id": target.id},
        }))
        .unwrap();
        let allowed = |app: &App| app.check(&request).unwrap().allowed();
        // Twice each: the second answer comes from the cache.
        assert!(
            !allowed(&app) && !allowed(&app),
            "a guest may not update the org"
        );
        let promote = ChangeRole::new(target.id, alice, OrgRole::Admin);
        command::execute(&app, Actor::System, None, promote).unwrap();
        assert!(allowed(&app) && allowed(&app), "an admin may");
        let demote = ChangeRole::new(target.id, alice, OrgRole::GuestInternal);
        command::execute(&app, Actor::System, None, demote).unwrap();
        assert!(!allowed(&app), "a guest again may not");
    }

    #[test]
    fn a_write_in_one_org_leaves_the_other_orgs_cached_checks_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let (alice, bob) = (user(&app, "alice@a.com"), user(&app, "bob@b.com"));
        let (a, b) = (org(&app, bob, alice).id, org(&app, bob, alice).id);
        let may_update = |org: Uuid| {
            let request: CheckRequest = serde_json::from_value(json!({
                "principal": {"type": "User", "id": alice},
                "action": {"type": "Action", "id": "UpdateOrg"},
                "resource": {"type": "Org", "id": org},
            }))
            .unwrap();
            app.check(&request).unwrap().allowed()
        };
        assert!(
            !may_update(a) && !may_update(b),
            "a guest may update neither"
        );

        // A write in org A that names neither alice nor org B.
        let carol = user(&app, "carol@a.com");
        let add = AddMember::new(a, carol, OrgRole::Member);
        command::execute(&app, Actor::System, None, add).unwrap();
        let before = app.check_cache_stats();
        assert!(!may_update(b));
        let after = app.check_cache_stats();
        let version = |id| app.store.check_versions().version(id);
        let collides = [a, carol].iter().any(|w| {
            [alice, b]
                .iter()
                .any(|r| version(*w).shares_counter(version(*r)))
        });
        if collides {
            assert_eq!(
                after.builds,
                before.builds + 1,
                "ids sharing a counter rebuild"
            );
        } else {
            assert_eq!(after.hits, before.hits + 1, "org B's check stays cached");
            assert_eq!(after.builds, before.builds);
        }

        // And org A's checks see A's writes at once.
        let promote = ChangeRole::new(a, alice, OrgRole::Admin);
        command::execute(&app, Actor::System, None, promote).unwrap();
        assert!(
            may_update(a) && may_update(a),
            "an admin of A may, cached or not"
        );
        assert!(!may_update(b), "still a guest of B");
    }

    #[test]
    fn the_entity_cache_holds_no_more_bytes_than_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let target = org(&app, user(&app, "ann@a.com"), user(&app, "gus@g.com"));
        let bound = 16 * 1024;
        let cache = crate::authz::EntityCache::holding(bound);
        let snapshot = app.policies.current();
        for _ in 0..200 {
            let request: CheckRequest = serde_json::from_value(json!({
                "principal": {"type": "User", "id": Uuid::now_v7()},
                "action": {"type": "Action", "id": "ViewOrg"},
                "resource": {"type": "Org", "id": target.id},
            }))
            .unwrap();
            let cache = crate::authz::FromCache {
                cache: &cache,
                asked_at: std::time::Instant::now(),
            };
            let decision =
                crate::authz::authorize(&app.store, &snapshot, &request, Some(cache)).unwrap();
            assert!(!decision.allowed());
        }
        let (bytes, pairs) = cache.held();
        assert!(bytes <= bound, "{bytes} bytes held, bound {bound}");
        assert!((1..200).contains(&pairs), "{pairs} pairs held");
        assert_eq!(cache.stats().builds, 200);
    }

    #[test]
    fn a_check_with_an_id_too_long_to_cache_is_still_answered() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let request: CheckRequest = serde_json::from_value(json!({
            "principal": {"type": "User", "id": "u".repeat(4096)},
            "action": {"type": "Action", "id": "ViewOrg"},
            "resource": {"type": "Org", "id": Uuid::now_v7()},
        }))
        .unwrap();
        for _ in 0..2 {
            assert!(!app.check(&request).unwrap().allowed());
        }
    }

    #[test]
    fn a_caller_may_not_redefine_a_stored_entity() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let (alice, bob) = (user(&app, "alice@a.com"), user(&app, "bob@b.com"));
        let target = org(&app, bob, alice);
        let snapshot = app.policies.current();
        let forged = json!({"uid": {"type": "User", "id": alice.to_string()}, "attrs": {}, "parents": [
            {"type": "OrgRole", "id": org_role_id(target.id, OrgRole::Admin)}
        ]});
        let error = load(
            &app.store.check_reads(None),
            &snapshot,
            &EntityRef::new("User", alice),
            &EntityRef::new("Org", target.id),
            &[forged],
            &mut Budget::default(),
        )
        .err()
        .unwrap();
        assert!(
            matches!(error, Error::Invalid { ref field, .. } if field == "entities[0]"),
            "{error}"
        );
    }

    #[test]
    fn too_many_caller_entities_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir);
        let snapshot = app.policies.current();
        let many = vec![json!({}); MAX_REQUEST_ENTITIES + 1];
        let principal = EntityRef::new("User", Uuid::now_v7());
        let error = load(
            &app.store.check_reads(None),
            &snapshot,
            &principal,
            &principal,
            &many,
            &mut Budget::default(),
        )
        .err()
        .unwrap();
        assert!(
            matches!(error, Error::Invalid { ref field, .. } if field == "entities"),
            "{error}"
        );
    }
}
