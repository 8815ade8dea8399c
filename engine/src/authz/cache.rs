//! The entities of recent checks, cached in the two parts every check's
//! entities are made of: what a resource reaches (itself, its folders,
//! workspace and org: `entities::Reached`), shared by everyone who asks
//! about it, and a principal with its role groups where that resource
//! sits (its `Scope`), shared by all its questions there. A check whose
//! two parts are cached reads nothing and builds nothing: it puts ready
//! Cedar entities side by side. Caching whole (principal, resource) pairs
//! instead would hold the same entities many times over, and real traffic
//! seldom repeats a pair.
//!
//! Architecture invariant: a cached entry is used only while both things
//! it was built from are unchanged: the policy snapshot (its revision) and
//! the records it was read from — the versions (`store::CheckVersions`) of
//! the ids it names (a resource; a principal and its scope's orgs and
//! workspaces) and of every stored entity in it, which each committed
//! write of such a record advances. So a check
//! never answers from data older than the last write that returned, and a
//! write in one org leaves the other orgs' cached entries in use. Each
//! level is bounded by the bytes its entities hold (an estimate, see
//! [`weight`]), so large free-form attributes cannot make it grow past its
//! bound; the store is never held in memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cedar_policy::Entities;
use cedar_policy_core::ast::{self, Literal, PartialValue, ValueKind};
use uuid::Uuid;

use super::entities::{self, PrincipalEntities, Reached, Scope};
use super::EntityRef;
use crate::error::Result;
use crate::policy::PolicySnapshot;
use crate::store::{CheckReads, Store, Version};

/// The most bytes the cached principals may hold, as estimated from their
/// ids, attribute values and ancestors (`weight`). A member with their
/// role groups in an org and a workspace weighs about 1.8 KiB, so this
/// keeps some 9 000 principals.
pub const ENTITY_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How many entries each level is laid out for (it holds more small ones
/// or fewer large ones, within its bytes).
const EXPECTED_ENTRIES: usize = 8192;

/// What every entry costs besides its entities and key: the stamp, its
/// versions, the `Arc` and the cache's slot.
const ENTRY_OVERHEAD_BYTES: u64 = 128;

/// What every entity costs besides its ids and values: the entity, its
/// maps and sets, the `Arc` and hash-map slots around it.
const ENTITY_OVERHEAD_BYTES: u64 = 256;
/// What every attribute, ancestor or value costs besides its text.
const SLOT_OVERHEAD_BYTES: u64 = 48;

/// The longest entity id (in bytes) a cached entry may be keyed by. Warden's own
/// ids are 36-byte uuids; a caller's free-form id could be as large as a
/// request body, and a few such entries would push out thousands of
/// ordinary ones.
const MAX_CACHED_ID_BYTES: usize = 256;

/// The most bytes the entities resources reach ([`Reached`]) may hold, by
/// the same estimate: a flow with its workspace and org weighs about
/// 2 KiB, so this keeps what some 4 000 resources reach.
pub const REACHED_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// Recently built check entities: what each resource reaches, which every
/// principal's checks on it share (a hot org's org, workspaces and flows
/// are built once for all its members), and each principal within the
/// scopes it asked about.
pub struct EntityCache {
    principals: Entries<(EntityRef, Arc<Scope>), PrincipalEntities>,
    reached: Entries<EntityRef, Reached>,
    /// Checks answered from current entries only, and checks that built
    /// some of their entities.
    hits: AtomicU64,
    builds: AtomicU64,
}

type Entries<K, T> = quick_cache::sync::Cache<K, Arc<Stamped<T>>, ByBytes>;

/// A cached value and what it was built from.
pub(super) struct Stamped<T> {
    policy_revision: u64,
    /// The versions of the stored ids the value was read from.
    versions: Vec<Version>,
    pub(super) value: T,
    /// The entry's estimated size, from [`weight`].
    bytes: u64,
}

/// Weighs an entry by its estimated bytes.
#[derive(Clone)]
struct ByBytes;

/// The bytes of a cache key.
trait KeyBytes {
    fn key_bytes(&self) -> u64;
}

impl KeyBytes for EntityRef {
    fn key_bytes(&self) -> u64 {
        (self.kind.len() + self.id.len()) as u64
    }
}

impl KeyBytes for (EntityRef, Arc<Scope>) {
    fn key_bytes(&self) -> u64 {
        let ids = self.1.ids().count() * std::mem::size_of::<Uuid>();
        self.0.key_bytes() + ids as u64
    }
}

impl<K: KeyBytes, T> quick_cache::Weighter<K, Arc<Stamped<T>>> for ByBytes {
    fn weight(&self, key: &K, stamped: &Arc<Stamped<T>>) -> u64 {
        ENTRY_OVERHEAD_BYTES + stamped.bytes + key.key_bytes()
    }
}

/// An estimate of the bytes `entities` hold: their ids, attribute names,
/// values (strings by length, sets and records item by item) and
/// ancestors, each with a fixed overhead. Estimated, not measured: what
/// matters is that it grows with everything a caller can make large.
pub(super) fn weight<'a>(entities: impl Iterator<Item = &'a ast::Entity>) -> u64 {
    entities
        .map(|entity| {
            let attrs: u64 = entity
                .attrs()
                .map(|(name, value)| name.len() as u64 + partial_value_bytes(value))
                .sum();
            let ancestors: u64 = entity
                .ancestors()
                .map(|uid| SLOT_OVERHEAD_BYTES + uid.eid().as_ref().len() as u64)
                .sum();
            ENTITY_OVERHEAD_BYTES + entity.uid().eid().as_ref().len() as u64 + attrs + ancestors
        })
        .sum()
}

fn partial_value_bytes(value: &PartialValue) -> u64 {
    match value {
        PartialValue::Value(value) => value_bytes(value),
        // Residuals only appear in partial evaluation, which checks never use.
        PartialValue::Residual(_) => ENTITY_OVERHEAD_BYTES,
    }
}

fn value_bytes(value: &ast::Value) -> u64 {
    SLOT_OVERHEAD_BYTES
        + match value.value_kind() {
            ValueKind::Lit(Literal::String(text)) => text.len() as u64,
            ValueKind::Lit(Literal::EntityUID(uid)) => uid.eid().as_ref().len() as u64,
            ValueKind::Lit(_) => 0,
            ValueKind::Set(set) => set.iter().map(value_bytes).sum(),
            ValueKind::Record(fields) => fields
                .iter()
                .map(|(name, value)| name.len() as u64 + value_bytes(value))
                .sum(),
            ValueKind::ExtensionValue(_) => SLOT_OVERHEAD_BYTES,
        }
}

/// How the cache has served: hits, and checks that built their entities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheStats {
    /// Checks whose two parts both came from current entries.
    pub hits: u64,
    /// Checks that built a part from the store: it had no current entry
    /// (or its id is too long to cache).
    pub builds: u64,
}

impl Default for EntityCache {
    fn default() -> EntityCache {
        EntityCache::holding(ENTITY_CACHE_BYTES)
    }
}

impl EntityCache {
    /// A cache whose principals hold at most `bytes` (by [`weight`]).
    pub(crate) fn holding(bytes: u64) -> EntityCache {
        EntityCache {
            principals: Entries::with_weighter(EXPECTED_ENTRIES, bytes, ByBytes),
            reached: Entries::with_weighter(EXPECTED_ENTRIES, REACHED_CACHE_BYTES, ByBytes),
            hits: AtomicU64::new(0),
            builds: AtomicU64::new(0),
        }
    }

    /// The estimated bytes of the principals it holds now, and how many.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (u64, usize) {
        (self.principals.weight(), self.principals.len())
    }

    /// The counts since the cache was made.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            builds: self.builds.load(Ordering::Relaxed),
        }
    }
}

/// The entity cache, used for a check asked at `asked_at`: a cached set
/// answers only once the store has caught up with what other servers wrote
/// before then (`Store::catch_up`).
#[derive(Clone, Copy)]
pub struct FromCache<'a> {
    /// The cache.
    pub cache: &'a EntityCache,
    /// When the check (or its batch) arrived.
    pub asked_at: Instant,
}

impl FromCache<'_> {
    /// The entities for a check of `principal` on `resource`, from
    /// current entries or read from `reads` (and kept).
    pub(super) fn entities(
        self,
        store: &Store,
        reads: &CheckReads,
        snapshot: &PolicySnapshot,
        principal: &EntityRef,
        resource: &EntityRef,
    ) -> Result<Entities> {
        let (reached, reached_hit) = self.reached(store, snapshot, resource, || {
            entities::reach(reads, resource)
        })?;
        let (asking, principal_hit) =
            self.principal(store, snapshot, principal, &reached.value, || {
                entities::principal(reads, principal, &reached.value)
            })?;
        let counter = if reached_hit && principal_hit {
            &self.cache.hits
        } else {
            &self.cache.builds
        };
        counter.fetch_add(1, Ordering::Relaxed);
        entities::assembled(snapshot, &asking.value, &reached.value)
    }

    /// What `resource` reaches: cached when still current, otherwise read
    /// by `reach` and kept; and whether it was cached.
    fn reached(
        self,
        store: &Store,
        snapshot: &PolicySnapshot,
        resource: &EntityRef,
        reach: impl FnOnce() -> Result<Reached>,
    ) -> Result<(Arc<Stamped<Reached>>, bool)> {
        let key = (resource.id.len() <= MAX_CACHED_ID_BYTES).then(|| resource.clone());
        self.current_or_build(&self.cache.reached, key, store, snapshot, || {
            let reached = reach()?;
            let read = read_from([resource], reached.scope.ids(), reached.entities());
            Ok((read, weight(reached.entities()), reached))
        })
    }

    /// `principal`'s entities where `reached` sits: cached when still
    /// current, otherwise read by `build` and kept; and whether they were
    /// cached.
    fn principal(
        self,
        store: &Store,
        snapshot: &PolicySnapshot,
        principal: &EntityRef,
        reached: &Reached,
        build: impl FnOnce() -> Result<PrincipalEntities>,
    ) -> Result<(Arc<Stamped<PrincipalEntities>>, bool)> {
        let scope = &reached.scope;
        let key = (principal.id.len() <= MAX_CACHED_ID_BYTES)
            .then(|| (principal.clone(), Arc::clone(scope)));
        self.current_or_build(&self.cache.principals, key, store, snapshot, || {
            let built = build()?;
            let entities = || built.iter().map(AsRef::as_ref);
            let read = read_from([principal], scope.ids(), entities());
            Ok((read, weight(entities()), built))
        })
    }

    /// The entry of `entries` under `key` if it is current, else one
    /// `build` makes (with the ids it was read from and its [`weight`]),
    /// kept under `key` (`None`: not kept); and whether it was current.
    fn current_or_build<K, T>(
        self,
        entries: &Entries<K, T>,
        key: Option<K>,
        store: &Store,
        snapshot: &PolicySnapshot,
        build: impl FnOnce() -> Result<(Vec<Uuid>, u64, T)>,
    ) -> Result<(Arc<Stamped<T>>, bool)>
    where
        K: KeyBytes + Eq + std::hash::Hash + Clone,
    {
        let versions = store.check_versions();
        if let Some(cached) = key.as_ref().and_then(|key| entries.get(key)) {
            store.catch_up(self.asked_at)?;
            if cached.policy_revision == snapshot.revision
                && cached.versions.iter().all(|v| versions.is_current(*v))
            {
                return Ok((cached, true));
            }
        }
        // Read before the records (see `CheckVersions::writes`).
        let writes = versions.writes();
        let (ids, bytes, value) = build()?;
        let mut read: Vec<Version> = ids.into_iter().map(|id| versions.version(id)).collect();
        read.sort_unstable();
        read.dedup();
        let built = Arc::new(Stamped {
            policy_revision: snapshot.revision,
            versions: read,
            value,
            bytes,
        });
        // A write that committed while the records were read may be half
        // in them: such a value answers this check only.
        if let Some(key) = key.filter(|_| versions.writes() == writes) {
            entries.insert(key, built.clone());
        }
        Ok((built, false))
    }
}

/// The stored ids `entities` were read from: the `named` ids (stored or
/// not: a record created later must reach the entry), the `scope`'s orgs
/// and workspaces (whose memberships place a principal) and each stored
/// entity's. Stored ids are uuids; a role group (`<org>/admin`) is read
/// with its org or workspace, in the scope too.
fn read_from<'a, const N: usize>(
    named: [&EntityRef; N],
    scope: impl Iterator<Item = Uuid>,
    entities: impl Iterator<Item = &'a ast::Entity>,
) -> Vec<Uuid> {
    let named = named
        .into_iter()
        .filter_map(|r| Uuid::try_parse(&r.id).ok());
    let stored = entities.filter_map(|entity| Uuid::try_parse(entity.uid().eid().as_ref()).ok());
    named.chain(scope).chain(stored).collect()
}
