//! Cedar policies as files: the active set, reloads with an atomic swap, and
//! the watcher that reloads on edits.
//!
//! Architecture invariant: a check holds one `Arc<PolicySnapshot>` for its
//! whole evaluation, so it never sees half of a policy set; a failed reload
//! leaves the active snapshot untouched.

pub mod load;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use cedar_policy::{
    ActionConstraint, Context, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId,
    PolicySet, PrincipalConstraint, Request, ResourceConstraint, Schema,
};
use serde::Serialize;
use time::OffsetDateTime;

pub use load::{LoadError, PolicyFile, Problem};

/// How long the watcher waits for more events before it reloads, so that an
/// editor's write-rename-chmod burst gives one reload.
const WATCH_DEBOUNCE: Duration = Duration::from_millis(150);

/// One validated policy set, immutable once built.
pub struct PolicySnapshot {
    /// Increases by one with every successful reload that changed something.
    pub revision: u64,
    /// sha256 over the name and text of the schema and of every policy
    /// file, in name order: the same files give the same digest in every
    /// process, so audit records name the exact rules across restarts.
    pub digest: String,
    pub(crate) schema: Schema,
    /// The schema's action entities, added to every check's entities.
    pub actions: Vec<Entity>,
    pub(crate) policies: PolicySet,
    /// For each action of the schema, one [`RequestKind`] per principal
    /// type and resource type it applies to.
    kinds: HashMap<EntityUid, Vec<RequestKind>>,
    /// Each policy's id and `@reason` as a decision shows them, worked out
    /// once: looking an annotation up parses its key, which cost a check
    /// 8%, and printing a policy id another 2%.
    deciders: HashMap<PolicyId, Decider>,
    /// Its policy files, in name order.
    pub files: Vec<PolicyFile>,
    pub(crate) loaded_at: OffsetDateTime,
}

impl PolicySnapshot {
    /// How a decision shows a policy of this set.
    pub fn decider(&self, id: &PolicyId) -> Option<&Decider> {
        self.deciders.get(id)
    }

    /// What the schema says about requests of `action` by `principal` on
    /// `resource`; `None` when it does not allow them (the request then
    /// fails validation).
    pub fn request_kind(
        &self,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
    ) -> Option<&RequestKind> {
        self.kinds.get(action)?.iter().find(|kind| {
            kind.principal == *principal.type_name() && kind.resource == *resource.type_name()
        })
    }

    /// The entity types the schema declares, by name (`User`, `Flow`…).
    pub fn entity_type_names(&self) -> Vec<String> {
        self.schema
            .entity_types()
            .map(ToString::to_string)
            .collect()
    }

    /// Whether the schema declares entity type `name`.
    pub fn declares_entity_type(&self, name: &str) -> bool {
        self.schema
            .entity_types()
            .any(|kind| kind.to_string() == name)
    }

    /// The ids of the schema's actions (`ViewResource`…).
    pub fn action_names(&self) -> Vec<String> {
        self.kinds
            .keys()
            .map(|action| action.id().unescaped().to_string())
            .collect()
    }

    /// Whether the schema declares action `Action::"<id>"`.
    pub fn declares_action(&self, id: &str) -> bool {
        self.kinds
            .keys()
            .any(|action| action.id().unescaped() == id)
    }

    /// The kinds of request of action `Action::"<id>"` the schema allows
    /// (none for an action it does not declare).
    pub fn request_kinds(&self, id: &str) -> &[RequestKind] {
        self.kinds
            .iter()
            .find(|(action, _)| action.id().unescaped() == id)
            .map_or(&[], |(_, kinds)| kinds.as_slice())
    }
}

/// A policy as a decision shows it.
pub struct Decider {
    /// Its `@id`.
    pub id: String,
    /// Its `@reason` with its id: "Members may … (member-use-resources)".
    pub clause: String,
    /// Its `@reason` alone, for readers who do not know policy ids.
    pub reason: String,
}

impl Decider {
    fn of(policy: &Policy) -> Decider {
        let id = policy.id().to_string();
        let reason = policy.annotation("reason").unwrap_or_default();
        Decider {
            clause: format!("{reason} ({id})"),
            reason: reason.to_string(),
            id,
        }
    }
}

/// Requests of one action by one principal type on one resource type, as
/// the schema allows them, worked out once per policy set.
pub struct RequestKind {
    principal: EntityTypeName,
    resource: EntityTypeName,
    /// The policies whose scope can match such a request. A check evaluates
    /// only these: a policy whose scope does not match never decides and
    /// never errs (Cedar checks the scope before the conditions), and
    /// evaluating the others was a third of a check.
    pub policies: Arc<PolicySet>,
    /// Whether such a request with an empty context passes the schema's
    /// request validation; a check may then skip it (it was a tenth of a
    /// check). Entity ids do not matter to it unless a type is an
    /// enumeration, and then the probe's id is not one of its values.
    pub empty_context_valid: bool,
}

impl RequestKind {
    /// The principal's entity type (`User`).
    pub fn principal_type(&self) -> String {
        self.principal.to_string()
    }

    /// The resource's entity type (`Flow`).
    pub fn resource_type(&self) -> String {
        self.resource.to_string()
    }
}

/// The served policy set and the history of reload failures.
pub struct PolicyEngine {
    dir: PathBuf,
    active: ArcSwap<PolicySnapshot>,
    /// Serialises reloads; holds the last failure, cleared by a success.
    last_error: Mutex<Option<ReloadFailure>>,
}

/// The last reload that failed: when, and why.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ReloadFailure {
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) at: OffsetDateTime,
    pub(crate) error: LoadError,
}

/// What `GET /v1/policies` shows.
#[derive(Serialize)]
pub(crate) struct PolicyStatus {
    pub directory: String,
    pub revision: u64,
    /// The active set's [`PolicySnapshot::digest`].
    pub digest: String,
    #[serde(with = "time::serde::rfc3339")]
    pub loaded_at: OffsetDateTime,
    pub files: Vec<PolicyFile>,
    pub last_error: Option<ReloadFailure>,
}

/// The result of a reload that did not fail.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Reloaded {
    /// The files changed and the new set is active.
    Loaded {
        /// The new set's revision.
        revision: u64,
    },
    /// The files are the same as the active set's.
    Unchanged {
        /// The active set's revision, as it was.
        revision: u64,
    },
}

impl PolicyEngine {
    /// Loads `dir`; an invalid directory is an error (a server must not start
    /// without a valid policy set).
    pub fn open(dir: &Path) -> Result<PolicyEngine, LoadError> {
        let snapshot = build(dir, 1)?;
        Ok(PolicyEngine {
            dir: dir.to_path_buf(),
            active: ArcSwap::from_pointee(snapshot),
            last_error: Mutex::new(None),
        })
    }

    /// The snapshot a check should use from start to end.
    pub fn current(&self) -> Arc<PolicySnapshot> {
        self.active.load_full()
    }

    /// Re-reads the directory and swaps the new set in if it is valid.
    pub fn reload(&self) -> Result<Reloaded, LoadError> {
        let mut last_error = self.last_error.lock().expect("reload lock poisoned");
        let active = self.current();
        let outcome = load::read_sources(&self.dir).and_then(|sources| {
            if sources.digest == active.digest {
                return Ok(Reloaded::Unchanged {
                    revision: active.revision,
                });
            }
            let revision = active.revision + 1;
            let snapshot = snapshot(load::compile(&sources)?, sources.digest, revision);
            self.active.store(Arc::new(snapshot));
            Ok(Reloaded::Loaded { revision })
        });
        match &outcome {
            Ok(Reloaded::Loaded { revision }) => {
                tracing::info!(revision, dir = %self.dir.display(), "policies reloaded");
                *last_error = None;
            }
            Ok(Reloaded::Unchanged { .. }) => *last_error = None,
            Err(error) => {
                tracing::error!(dir = %self.dir.display(), "policy reload rejected, previous set keeps serving:\n{error}");
                *last_error = Some(ReloadFailure {
                    at: OffsetDateTime::now_utc(),
                    error: error.clone(),
                });
            }
        }
        outcome
    }

    /// What `GET /v1/policies` shows now.
    pub(crate) fn status(&self) -> PolicyStatus {
        let active = self.current();
        PolicyStatus {
            directory: self.dir.display().to_string(),
            revision: active.revision,
            digest: active.digest.clone(),
            loaded_at: active.loaded_at,
            files: active.files.clone(),
            last_error: self
                .last_error
                .lock()
                .expect("reload lock poisoned")
                .clone(),
        }
    }

    /// Reloads whenever a file in the directory changes. The returned watcher
    /// must be kept alive for as long as reloading should happen.
    pub fn watch(self: &Arc<Self>) -> notify::Result<notify::RecommendedWatcher> {
        use notify::Watcher;
        let (events, changes) = std::sync::mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = events.send(());
                }
            })?;
        watcher.watch(&self.dir, notify::RecursiveMode::NonRecursive)?;
        let engine = Arc::clone(self);
        std::thread::Builder::new()
            .name("policy-watch".into())
            .spawn(move || {
                while changes.recv().is_ok() {
                    while changes.recv_timeout(WATCH_DEBOUNCE).is_ok() {}
                    let _ = engine.reload();
                }
            })
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(watcher)
    }
}

/// Reads and compiles `dir` into a snapshot with the given revision.
pub fn build(dir: &Path, revision: u64) -> Result<PolicySnapshot, LoadError> {
    let sources = load::read_sources(dir)?;
    let compiled = load::compile(&sources)?;
    Ok(snapshot(compiled, sources.digest, revision))
}

fn snapshot(compiled: load::Compiled, digest: String, revision: u64) -> PolicySnapshot {
    PolicySnapshot {
        revision,
        digest,
        kinds: request_kinds(&compiled.schema, &compiled.policies),
        schema: compiled.schema,
        actions: compiled.actions,
        deciders: compiled
            .policies
            .policies()
            .map(|policy| (policy.id().clone(), Decider::of(policy)))
            .collect(),
        policies: compiled.policies,
        files: compiled.files,
        loaded_at: OffsetDateTime::now_utc(),
    }
}

/// The [`RequestKind`]s of every action of `schema`.
fn request_kinds(schema: &Schema, policies: &PolicySet) -> HashMap<EntityUid, Vec<RequestKind>> {
    let groups = schema.action_entities().ok();
    // Kinds whose policies are the same share one set: a large schema has
    // many kinds but few distinct subsets.
    let mut sets: HashMap<Vec<&PolicyId>, Arc<PolicySet>> = HashMap::new();
    let mut kinds: HashMap<EntityUid, Vec<RequestKind>> = HashMap::new();
    for action in schema.actions() {
        // An action is `in` itself and in each of its action groups.
        let mut within: Vec<&EntityUid> = vec![action];
        if let Some(ancestors) = groups.as_ref().and_then(|g| g.ancestors(action)) {
            within.extend(ancestors);
        }
        for principal in schema.principals_for_action(action).into_iter().flatten() {
            for resource in schema.resources_for_action(action).into_iter().flatten() {
                let matching: Vec<&Policy> = policies
                    .policies()
                    .filter(|policy| {
                        action_scope_matches(policy, &within)
                            && principal_scope_matches(policy, principal)
                            && resource_scope_matches(policy, resource)
                    })
                    .collect();
                let ids = matching.iter().map(|policy| policy.id()).collect();
                let set = sets.entry(ids).or_insert_with(|| {
                    let set = PolicySet::from_policies(matching.into_iter().cloned());
                    Arc::new(set.expect("a subset of a valid policy set is valid"))
                });
                kinds.entry(action.clone()).or_default().push(RequestKind {
                    policies: Arc::clone(set),
                    empty_context_valid: empty_context_valid(schema, principal, action, resource),
                    principal: principal.clone(),
                    resource: resource.clone(),
                });
            }
        }
    }
    kinds
}

/// Whether `policy`'s action scope matches an action `within` these uids
/// (the action and its groups).
fn action_scope_matches(policy: &Policy, within: &[&EntityUid]) -> bool {
    match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => *within[0] == uid,
        ActionConstraint::In(uids) => uids.iter().any(|uid| within.contains(&uid)),
    }
}

/// Whether `policy`'s principal scope can match a principal of type `kind`
/// (`in` can, whatever the type: entities of any type may be members).
fn principal_scope_matches(policy: &Policy, kind: &EntityTypeName) -> bool {
    match policy.principal_constraint() {
        PrincipalConstraint::Any | PrincipalConstraint::In(_) => true,
        PrincipalConstraint::Eq(uid) => uid.type_name() == kind,
        PrincipalConstraint::Is(is) | PrincipalConstraint::IsIn(is, _) => is == *kind,
    }
}

/// [`principal_scope_matches`] for the resource scope.
fn resource_scope_matches(policy: &Policy, kind: &EntityTypeName) -> bool {
    match policy.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::In(_) => true,
        ResourceConstraint::Eq(uid) => uid.type_name() == kind,
        ResourceConstraint::Is(is) | ResourceConstraint::IsIn(is, _) => is == *kind,
    }
}

/// Whether a request of this kind with an empty context validates (see
/// [`RequestKind::empty_context_valid`]).
fn empty_context_valid(
    schema: &Schema,
    principal: &EntityTypeName,
    action: &EntityUid,
    resource: &EntityTypeName,
) -> bool {
    let probe = |kind: &EntityTypeName| {
        EntityUid::from_type_name_and_id(kind.clone(), EntityId::new("\0warden request probe"))
    };
    Request::new(
        probe(principal),
        action.clone(),
        probe(resource),
        Context::empty(),
        Some(schema),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str =
        "entity User; entity Doc; action View appliesTo { principal: User, resource: Doc };";
    const PERMIT: &str = "@id(\"all-view\") @reason(\"Anyone may view\")\npermit (principal, action == Action::\"View\", resource);";

    fn policy_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(load::SCHEMA_FILE), SCHEMA).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn problems(files: &[(&str, &str)]) -> Vec<Problem> {
        let dir = policy_dir(files);
        build(dir.path(), 1)
            .err()
            .expect("the directory is rejected")
            .problems
    }

    #[test]
    fn policies_are_named_by_their_id_annotation() {
        let dir = policy_dir(&[("a.cedar", PERMIT)]);
        let snapshot = build(dir.path(), 1).unwrap();
        let id = PolicyId::new("all-view");
        assert!(snapshot.policies.policy(&id).is_some());
        let decider = snapshot.decider(&id).unwrap();
        assert_eq!(decider.id, "all-view");
        assert_eq!(decider.clause, "Anyone may view (all-view)");
        assert_eq!(snapshot.files[0].policies, ["all-view"]);
    }

    /// Two resource types, an action group, and an action whose context
    /// has a required attribute.
    const KINDS_SCHEMA: &str = "entity User; entity Doc; entity Folder; action Read;
        action View in [Action::\"Read\"] appliesTo { principal: User, resource: [Doc, Folder] };
        action Share appliesTo { principal: User, resource: Doc, context: { note: String } };";

    fn kinds_snapshot() -> PolicySnapshot {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(load::SCHEMA_FILE), KINDS_SCHEMA).unwrap();
        let policies = [
            ("any", "permit (principal, action, resource);"),
            ("docs", "permit (principal, action, resource is Doc);"),
            ("folders", "permit (principal, action, resource is Folder);"),
            (
                "read-docs",
                "permit (principal, action in Action::\"Read\", resource is Doc);",
            ),
            (
                "share",
                "permit (principal, action == Action::\"Share\", resource);",
            ),
        ];
        let text: String = policies
            .iter()
            .map(|(id, policy)| format!("@id(\"{id}\") @reason(\"r\")\n{policy}\n"))
            .collect();
        std::fs::write(dir.path().join("p.cedar"), text).unwrap();
        build(dir.path(), 1).unwrap()
    }

    fn kind<'a>(snapshot: &'a PolicySnapshot, action: &str, resource: &str) -> &'a RequestKind {
        let uid = |text: String| text.parse::<EntityUid>().unwrap();
        snapshot
            .request_kind(
                &uid("User::\"u\"".into()),
                &uid(format!("Action::\"{action}\"")),
                &uid(format!("{resource}::\"r\"")),
            )
            .expect("the schema allows the request")
    }

    fn policy_ids(kind: &RequestKind) -> Vec<String> {
        let mut ids: Vec<String> = kind
            .policies
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_request_kind_holds_only_the_policies_whose_scope_can_match() {
        let snapshot = kinds_snapshot();
        let view_doc = kind(&snapshot, "View", "Doc");
        assert_eq!(policy_ids(view_doc), ["any", "docs", "read-docs"]);
        let view_folder = kind(&snapshot, "View", "Folder");
        assert_eq!(policy_ids(view_folder), ["any", "folders"]);
        let share_doc = kind(&snapshot, "Share", "Doc");
        assert_eq!(policy_ids(share_doc), ["any", "docs", "share"]);
        let user = "User::\"u\"".parse::<EntityUid>().unwrap();
        let share = "Action::\"Share\"".parse::<EntityUid>().unwrap();
        let folder = "Folder::\"f\"".parse::<EntityUid>().unwrap();
        assert!(
            snapshot.request_kind(&user, &share, &folder).is_none(),
            "Share does not apply to folders"
        );
    }

    #[test]
    fn only_an_action_that_accepts_an_empty_context_skips_its_validation() {
        let snapshot = kinds_snapshot();
        assert!(kind(&snapshot, "View", "Doc").empty_context_valid);
        assert!(!kind(&snapshot, "Share", "Doc").empty_context_valid);
    }

    #[test]
    fn every_policy_needs_a_unique_id_and_a_reason() {
        let no_reason = "@id(\"x\") permit (principal, action, resource);";
        let found = problems(&[("a.cedar", no_reason)]);
        assert!(found[0].message.contains("@reason"), "{found:?}");

        let no_id = "@reason(\"r\") permit (principal, action, resource);";
        assert!(problems(&[("a.cedar", no_id)])[0].message.contains("@id"));

        let found = problems(&[("a.cedar", PERMIT), ("b.cedar", PERMIT)]);
        assert!(
            found.iter().any(|p| p.message.contains("all-view")),
            "{found:?}"
        );
    }

    #[test]
    fn a_policy_that_breaks_the_schema_is_located() {
        let bad = "@id(\"x\") @reason(\"r\")\npermit (principal, action == Action::\"View\", resource)\nwhen { resource.owner == principal };";
        let found = problems(&[("bad.cedar", bad)]);
        assert_eq!(found[0].file, "bad.cedar");
        assert!(found[0].message.contains("owner"), "{found:?}");
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let found = problems(&[
            ("ok.cedar", PERMIT),
            ("bad.cedar", "\n\npermit (principal,, action, resource);"),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].file.as_str(), found[0].line),
            ("bad.cedar", Some(3))
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_last_good_set_and_reports_why() {
        let dir = policy_dir(&[("a.cedar", PERMIT)]);
        let engine = PolicyEngine::open(dir.path()).unwrap();
        assert!(matches!(
            engine.reload(),
            Ok(Reloaded::Unchanged { revision: 1 })
        ));

        std::fs::write(dir.path().join("a.cedar"), "permit (").unwrap();
        assert!(engine.reload().is_err());
        let status = engine.status();
        assert_eq!(status.revision, 1);
        assert_eq!(status.last_error.unwrap().error.problems[0].file, "a.cedar");
        assert!(engine
            .current()
            .policies
            .policy(&PolicyId::new("all-view"))
            .is_some());

        std::fs::write(
            dir.path().join("a.cedar"),
            PERMIT.replace("all-view", "view-all"),
        )
        .unwrap();
        assert!(matches!(
            engine.reload(),
            Ok(Reloaded::Loaded { revision: 2 })
        ));
        assert!(engine.status().last_error.is_none());
        assert!(engine
            .current()
            .policies
            .policy(&PolicyId::new("view-all"))
            .is_some());
    }

    #[test]
    fn the_digest_names_the_files_whatever_the_process() {
        let dir = policy_dir(&[("a.cedar", PERMIT)]);
        let digest = || build(dir.path(), 1).unwrap().digest;
        let first = digest();
        assert_eq!(first.len(), 64, "{first}");
        assert_eq!(
            digest(),
            first,
            "a second load of the same files (as after a restart)"
        );
        assert_eq!(
            PolicyEngine::open(dir.path()).unwrap().status().digest,
            first
        );

        std::fs::write(dir.path().join("a.cedar"), format!("{PERMIT}\n")).unwrap();
        let edited = digest();
        assert_ne!(edited, first, "an edit changes it");

        std::fs::rename(dir.path().join("a.cedar"), dir.path().join("b.cedar")).unwrap();
        assert_ne!(digest(), edited, "so does a rename");

        let schema = format!("{SCHEMA} entity Folder;");
        std::fs::write(dir.path().join(load::SCHEMA_FILE), schema).unwrap();
        std::fs::rename(dir.path().join("b.cedar"), dir.path().join("a.cedar")).unwrap();
        assert_ne!(digest(), edited, "and a schema edit");
    }

    #[test]
    fn a_schema_file_is_required() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.cedar"), PERMIT).unwrap();
        let error = build(dir.path(), 1).err().unwrap();
        assert_eq!(error.problems[0].file, load::SCHEMA_FILE);
    }
}
