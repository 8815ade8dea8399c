//! The entities of recent checks, so that a repeated question (the same
//! principal and resource) skips the store reads and the entity building,
//! which are half of a check.
//!
//! Architecture invariant: a cached set is used only while both things it
//! was built from are unchanged: the policy snapshot (its revision) and
//! every record checks read (the store's check generation, which each
//! committed write of such a record advances). So a check never answers
//! from data older than the last write that returned. The cache is bounded
//! by entry count; the store is never held in memory.

use std::sync::Arc;

use cedar_policy::Entities;

use super::EntityRef;
use crate::error::Result;
use crate::policy::PolicySnapshot;
use crate::store::Store;

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
}

/// One pair's entities and what they were built from.
pub(super) struct Cached {
    policy_revision: u64,
    check_generation: u64,
    pub(super) entities: Entities,
}

impl Default for EntityCache {
    fn default() -> EntityCache {
        EntityCache {
            entries: quick_cache::sync::Cache::new(MAX_CACHED_CHECKS),
        }
    }
}

impl EntityCache {
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
        // Read before the records: a write committing meanwhile leaves the
        // new entry already stale, never wrongly current.
        let check_generation = store.check_generation();
        let built = |entities| {
            Arc::new(Cached {
                policy_revision: snapshot.revision,
                check_generation,
                entities,
            })
        };
        if principal.id.len().max(resource.id.len()) > MAX_CACHED_ID_BYTES {
            return Ok(built(load()?));
        }
        let key = (principal.clone(), resource.clone());
        if let Some(cached) = self.entries.get(&key) {
            if cached.policy_revision == snapshot.revision
                && cached.check_generation == check_generation
            {
                return Ok(cached);
            }
        }
        let built = built(load()?);
        self.entries.insert(key, built.clone());
        Ok(built)
    }
}
