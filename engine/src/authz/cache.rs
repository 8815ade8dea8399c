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
//! by entry count; the store is never held in memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cedar_policy::Entities;
use uuid::Uuid;

use super::EntityRef;
use crate::error::Result;
use crate::policy::PolicySnapshot;
use crate::store::{CheckVersions, Store, Version};

/// The most (principal, resource) pairs kept. One entry holds a handful of
/// entities, a few KiB.
pub const MAX_CACHED_CHECKS: usize = 4096;

/// The longest entity id (in bytes) a cached pair may have. Warden's own
/// ids are 36-byte uuids; a caller's free-form id could be as large as a
/// request body, and 4 096 of those must not pin gigabytes.
const MAX_CACHED_ID_BYTES: usize = 256;

/// Recently built check entities, keyed by principal and resource.
pub struct EntityCache {
    entries: quick_cache::sync::Cache<(EntityRef, EntityRef), Arc<Cached>>,
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
        EntityCache {
            entries: quick_cache::sync::Cache::new(MAX_CACHED_CHECKS),
            hits: AtomicU64::new(0),
            builds: AtomicU64::new(0),
        }
    }
}

impl EntityCache {
    /// The counts since the cache was made.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            builds: self.builds.load(Ordering::Relaxed),
        }
    }

    /// The entities for `principal` and `resource`: cached when still
    /// current, otherwise built by `load` and kept.
    pub(super) fn entities(
        &self,
        store: &Store,
        snapshot: &PolicySnapshot,
        principal: &EntityRef,
        resource: &EntityRef,
        load: impl FnOnce() -> Result<Entities>,
    ) -> Result<Arc<Cached>> {
        let versions = store.check_versions();
        // Read before the records (see `CheckVersions::writes`).
        let writes = versions.writes();
        let cacheable = principal.id.len().max(resource.id.len()) <= MAX_CACHED_ID_BYTES;
        let key = (principal.clone(), resource.clone());
        if let Some(cached) = cacheable.then(|| self.entries.get(&key)).flatten() {
            if cached.policy_revision == snapshot.revision
                && cached.versions.iter().all(|v| versions.is_current(*v))
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(cached);
            }
        }
        self.builds.fetch_add(1, Ordering::Relaxed);
        let entities = load()?;
        let built = Arc::new(Cached {
            policy_revision: snapshot.revision,
            versions: read_from(versions, principal, resource, &entities),
            entities,
        });
        // A write that committed while the records were read may be half
        // in them: such a set answers this check only.
        if cacheable && versions.writes() == writes {
            self.entries.insert(key, built.clone());
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
