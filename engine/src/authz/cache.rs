//! The entities of recent checks, so that a repeated question (the same
//! principal and resource) skips the store reads and the entity building,
//! which are half of a check.
//!
//! Architecture invariant: a cached set is used only while both things it
//! was built from are unchanged: the policy snapshot (its revision) and the
//! records it was read from — the versions (`store::CheckVersions`) of the
//! principal, the resource and every stored entity in the set, which each
//! committed write of such a record advances. So a check never answers
//! from data older than the last write that returned, and a write in one
//! org leaves the other orgs' cached checks in use. The cache is bounded
//! by the bytes its entities hold (an estimate, see [`weight`]), so large
//! free-form attributes cannot make it grow past its bound; the store is
//! never held in memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cedar_policy::Entities;
use cedar_policy_core::ast::{self, Literal, PartialValue, ValueKind};
use uuid::Uuid;

use super::EntityRef;
use crate::error::Result;
use crate::policy::PolicySnapshot;
use crate::store::{CheckVersions, Store, Version};

/// The most bytes the cached entities may hold, as estimated from their
/// ids, attribute values and ancestors (`weight`). A member running a flow
/// of their workspace weighs about 4 KiB, so this keeps some 4 000 pairs.
pub const ENTITY_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How many entries the cache is laid out for (it holds more small ones
/// or fewer large ones, within [`ENTITY_CACHE_BYTES`]).
const EXPECTED_ENTRIES: usize = 4096;

/// What every entity costs besides its ids and values: the entity, its
/// maps and sets, the `Arc` and hash-map slots around it.
const ENTITY_OVERHEAD_BYTES: u64 = 256;
/// What every attribute, ancestor or value costs besides its text.
const SLOT_OVERHEAD_BYTES: u64 = 48;

/// The longest entity id (in bytes) a cached pair may have. Warden's own
/// ids are 36-byte uuids; a caller's free-form id could be as large as a
/// request body, and a few such entries would push out thousands of
/// ordinary ones.
const MAX_CACHED_ID_BYTES: usize = 256;

/// Recently built check entities, keyed by principal and resource.
pub struct EntityCache {
    entries: quick_cache::sync::Cache<(EntityRef, EntityRef), Arc<Cached>, ByBytes>,
    /// Checks answered from a current entry, and checks that built theirs.
    hits: AtomicU64,
    builds: AtomicU64,
}

/// One pair's entities and what they were built from.
pub(super) struct Cached {
    policy_revision: u64,
    /// The versions of the stored ids the entities were read from.
    versions: Vec<Version>,
    pub(super) entities: Entities,
    /// The entry's estimated size, from [`weight`].
    bytes: u64,
}

/// Weighs an entry by its estimated bytes.
#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<(EntityRef, EntityRef), Arc<Cached>> for ByBytes {
    fn weight(&self, key: &(EntityRef, EntityRef), cached: &Arc<Cached>) -> u64 {
        let key_bytes = [&key.0, &key.1].map(|r| (r.kind.len() + r.id.len()) as u64);
        cached.bytes + key_bytes.iter().sum::<u64>()
    }
}

/// An estimate of the bytes `entities` hold: their ids, attribute names,
/// values (strings by length, sets and records item by item) and
/// ancestors, each with a fixed overhead. Estimated, not measured: what
/// matters is that it grows with everything a caller can make large.
pub(super) fn weight(entities: &Entities) -> u64 {
    entities
        .iter()
        .map(|entity| {
            let entity: &ast::Entity = entity.as_ref();
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
    /// Checks answered from a current entry.
    pub hits: u64,
    /// Checks that built their entities from the store: there was no
    /// current entry (or the ids are too long to cache).
    pub builds: u64,
}

impl Default for EntityCache {
    fn default() -> EntityCache {
        EntityCache::holding(ENTITY_CACHE_BYTES)
    }
}

impl EntityCache {
    /// A cache whose entities hold at most `bytes` (by [`weight`]).
    pub(crate) fn holding(bytes: u64) -> EntityCache {
        EntityCache {
            entries: quick_cache::sync::Cache::with_weighter(EXPECTED_ENTRIES, bytes, ByBytes),
            hits: AtomicU64::new(0),
            builds: AtomicU64::new(0),
        }
    }

    /// The estimated bytes of what it holds now, and how many pairs.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (u64, usize) {
        (self.entries.weight(), self.entries.len())
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
    /// The entities for `principal` and `resource`: cached when still
    /// current, otherwise built by `load` and kept.
    pub(super) fn entities(
        self,
        store: &Store,
        snapshot: &PolicySnapshot,
        principal: &EntityRef,
        resource: &EntityRef,
        load: impl FnOnce() -> Result<Entities>,
    ) -> Result<Arc<Cached>> {
        let FromCache { cache, asked_at } = self;
        let versions = store.check_versions();
        let cacheable = principal.id.len().max(resource.id.len()) <= MAX_CACHED_ID_BYTES;
        let key = (principal.clone(), resource.clone());
        if let Some(cached) = cacheable.then(|| cache.entries.get(&key)).flatten() {
            store.catch_up(asked_at)?;
            if cached.policy_revision == snapshot.revision
                && cached.versions.iter().all(|v| versions.is_current(*v))
            {
                cache.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(cached);
            }
        }
        // Read before the records (see `CheckVersions::writes`).
        let writes = versions.writes();
        cache.builds.fetch_add(1, Ordering::Relaxed);
        let entities = load()?;
        let built = Arc::new(Cached {
            policy_revision: snapshot.revision,
            versions: read_from(versions, principal, resource, &entities),
            bytes: weight(&entities),
            entities,
        });
        // A write that committed while the records were read may be half
        // in them: such a set answers this check only.
        if cacheable && versions.writes() == writes {
            cache.entries.insert(key, built.clone());
        }
        Ok(built)
    }
}

/// The versions of the stored ids `entities` were read from: the
/// principal's and resource's (stored or not: a record created later must
/// reach this pair) and each stored entity's. Stored ids are uuids; a role
/// group (`<org>/admin`) is read with its org or workspace, in the set too.
fn read_from(
    versions: &CheckVersions,
    principal: &EntityRef,
    resource: &EntityRef,
    entities: &Entities,
) -> Vec<Version> {
    let named = [&principal.id, &resource.id].map(|id| Uuid::try_parse(id).ok());
    let stored = entities
        .iter()
        .map(|entity| Uuid::try_parse(entity.uid().id().unescaped()).ok());
    let mut read: Vec<Version> = named
        .into_iter()
        .chain(stored)
        .flatten()
        .map(|id| versions.version(id))
        .collect();
    read.sort_unstable();
    read.dedup();
    read
}
