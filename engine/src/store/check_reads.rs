//! The records a check reads, as of when it was asked. On a database other
//! servers share, each read is a round trip and most of a check's cost:
//! the records checks read (`keys::feeds_checks`) are kept here, each with
//! the versions of the ids its key names, and serve a check while those
//! are unchanged once the store has caught up with other servers' writes
//! (`Store::catch_up`) as of the check's arrival. So a write any server
//! acknowledged before a check arrived is never hidden from it, as with
//! the entity cache above. On sled, whose own page cache serves reads in
//! process, every read goes to the store.

use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::codec::decode;
use super::{
    keys, Membership, Org, Resource, Store, User, Version, Workspace, WorkspaceMember,
    MAX_PAGE_SIZE,
};
use crate::error::Result;

/// The most bytes the cached records may hold (keys and values).
pub const RECORD_CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// What each cached record costs besides its key and value bytes.
const RECORD_OVERHEAD_BYTES: u64 = 96;
/// How many records the cache is laid out for.
const EXPECTED_RECORDS: usize = 64 * 1024;

/// Records checks read, by key: the value (or its absence) and the
/// versions of the ids the key names when it was read.
pub(super) struct RecordCache {
    entries: quick_cache::sync::Cache<Vec<u8>, Arc<Record>, ByBytes>,
}

struct Record {
    value: Option<Vec<u8>>,
    versions: Vec<Version>,
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<Vec<u8>, Arc<Record>> for ByBytes {
    fn weight(&self, key: &Vec<u8>, record: &Arc<Record>) -> u64 {
        let value = record.value.as_ref().map_or(0, Vec::len);
        RECORD_OVERHEAD_BYTES + (key.len() + value) as u64
    }
}

impl Default for RecordCache {
    fn default() -> RecordCache {
        RecordCache {
            entries: quick_cache::sync::Cache::with_weighter(
                EXPECTED_RECORDS,
                RECORD_CACHE_BYTES,
                ByBytes,
            ),
        }
    }
}

impl RecordCache {
    /// How many records it holds.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.entries.len()
    }
}

/// Typed reads for one check (see the module doc).
pub struct CheckReads<'a> {
    store: &'a Store,
    /// When the check arrived; `None` reads the store every time.
    asked_at: Option<Instant>,
}

impl Store {
    /// Reads for a check asked at `asked_at` (`None`: uncached).
    pub fn check_reads(&self, asked_at: Option<Instant>) -> CheckReads<'_> {
        CheckReads {
            store: self,
            asked_at: asked_at.filter(|_| self.backend.shared()),
        }
    }
}

/// Typed reads of the records checks read, by id: from the store, or
/// from a check's [`CheckReads`].
pub trait CheckRecords {
    /// The record under `key`, decoded.
    fn record<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>>;

    /// The org `id`, if it exists.
    fn org(&self, id: Uuid) -> Result<Option<Org>> {
        self.record(&keys::org(id))
    }
    /// The user `id`, if it exists.
    fn user(&self, id: Uuid) -> Result<Option<User>> {
        self.record(&keys::user(id))
    }
    /// `user`'s membership of `org`, if they have one (active or not).
    fn membership(&self, org: Uuid, user: Uuid) -> Result<Option<Membership>> {
        self.record(&keys::membership(org, user))
    }
    /// The workspace `id`, if it exists.
    fn workspace(&self, id: Uuid) -> Result<Option<Workspace>> {
        self.record(&keys::workspace(id))
    }
    /// `user`'s membership of `workspace`, if they have one.
    fn workspace_member(&self, workspace: Uuid, user: Uuid) -> Result<Option<WorkspaceMember>> {
        self.record(&keys::workspace_member(workspace, user))
    }
    /// The resource `id`, if it exists.
    fn resource(&self, id: Uuid) -> Result<Option<Resource>> {
        self.record(&keys::resource(id))
    }
}

impl CheckRecords for Store {
    fn record<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.get(key)
    }
}

impl CheckRecords for CheckReads<'_> {
    fn record<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        let Some(asked_at) = self.asked_at else {
            return self.store.get(key);
        };
        let record = self.cached(key, keys::check_ids(key), asked_at, || {
            self.store.backend.get(key)
        })?;
        record.value.as_deref().map(decode).transpose()
    }

    /// A check of a user outside the resource's org (a cross-org pair, as
    /// a third of real traffic is) asks for a membership that does not
    /// exist: a key per user and org, which no cache holds for long. The
    /// user's org ids, cached as one record under the user's version
    /// (every membership write names the user), answer it without a read.
    fn membership(&self, org: Uuid, user: Uuid) -> Result<Option<Membership>> {
        if let Some(asked_at) = self.asked_at {
            if self
                .orgs_of_user(user, asked_at)?
                .is_some_and(|orgs| !orgs.contains(&org))
            {
                return Ok(None);
            }
        }
        self.record(&keys::membership(org, user))
    }
}

impl CheckReads<'_> {
    /// The record under `key`, `load`ed: cached while the versions of
    /// `ids` (those its content depends on) are unchanged, else loaded
    /// again and kept.
    fn cached(
        &self,
        key: &[u8],
        ids: impl Iterator<Item = Uuid>,
        asked_at: Instant,
        load: impl FnOnce() -> Result<Option<Vec<u8>>>,
    ) -> Result<Arc<Record>> {
        let store = self.store;
        store.catch_up(asked_at)?;
        let versions = store.check_versions();
        if let Some(record) = store.records.entries.get(key) {
            if record.versions.iter().all(|v| versions.is_current(*v)) {
                return Ok(record);
            }
        }
        // Read before the record (see `CheckVersions::writes`).
        let writes = versions.writes();
        let read_from: Vec<Version> = ids.map(|id| versions.version(id)).collect();
        let record = Arc::new(Record {
            value: load()?,
            versions: read_from,
        });
        if versions.writes() == writes {
            store.records.entries.insert(key.to_vec(), record.clone());
        }
        Ok(record)
    }

    /// The ids of `user`'s orgs, or `None` if they are more than a page
    /// (then each membership is read).
    fn orgs_of_user(&self, user: Uuid, asked_at: Instant) -> Result<Option<Vec<Uuid>>> {
        let prefix = keys::orgs_of_user(user);
        let record = self.cached(&prefix, std::iter::once(user), asked_at, || {
            let page = self.store.page_ids(&prefix, None, MAX_PAGE_SIZE)?;
            let complete = page.next.is_none();
            Ok(complete.then(|| page.items.iter().flat_map(|id| *id.as_bytes()).collect()))
        })?;
        let ids = record.value.as_deref().map(|bytes| {
            bytes
                .chunks_exact(16)
                .map(|id| Uuid::from_slice(id).expect("16 bytes"))
                .collect()
        });
        Ok(ids)
    }
}
