//! The embedded sled database: typed records, their secondary indexes and
//! the transaction every command writes through.
//!
//! Architecture invariant: nothing on a request path scans a whole record
//! kind; every read is a point get or a bounded prefix scan of one parent.

mod durable;
pub mod keys;
pub mod model;

use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use uuid::Uuid;

use crate::error::{Error, Result};
pub use model::*;

/// The on-disk layout version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Default size of sled's page cache: the store never holds the whole
/// database in memory, only this much of it.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// The most rows one page may hold.
pub const MAX_PAGE_SIZE: usize = 500;

/// What a transaction body returns: sled retries on conflicts, an `Error`
/// aborts the transaction and writes nothing.
pub type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

impl From<Error> for ConflictableTransactionError<Error> {
    fn from(e: Error) -> Self {
        ConflictableTransactionError::Abort(e)
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    commits: Arc<durable::GroupCommit>,
    /// Transactions hold it shared; [`Store::quiesced`] holds it alone, so a
    /// whole-database reader (ledger verify) sees no transaction half-applied.
    writers: Arc<RwLock<()>>,
}

/// One page of a listing, with the cursor for the next one.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<Uuid>,
}

impl Store {
    /// Opens (or creates) the database in `dir`. Refuses a database written
    /// with another layout version.
    pub fn open(dir: &Path, cache_bytes: u64) -> anyhow::Result<Store> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| anyhow::anyhow!("cannot open database in {}: {e}", dir.display()))?;
        let store = Store {
            db,
            commits: Arc::new(durable::GroupCommit::new()),
            writers: Arc::new(RwLock::new(())),
        };
        store.check_schema_version()?;
        Ok(store)
    }

    fn check_schema_version(&self) -> anyhow::Result<()> {
        let key = keys::schema_version();
        match self.db.get(&key)? {
            None => {
                self.db.insert(key, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| anyhow::anyhow!("database has a corrupt schema version"))?;
                anyhow::ensure!(
                    found == SCHEMA_VERSION,
                    "database schema version {found} is not supported by this build (expects {SCHEMA_VERSION})"
                );
                Ok(())
            }
        }
    }

    /// Reads and decodes one record.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.db.get(key)?.map(|bytes| decode(&bytes)).transpose()
    }

    pub fn org(&self, id: Uuid) -> Result<Option<Org>> {
        self.get(&keys::org(id))
    }
    pub fn user(&self, id: Uuid) -> Result<Option<User>> {
        self.get(&keys::user(id))
    }
    pub fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        match self.db.get(keys::user_by_email(email))? {
            Some(id) => self.user(Uuid::from_slice(&id).map_err(corrupt)?),
            None => Ok(None),
        }
    }
    /// Up to `limit` orgs that verified `domain` (normalised), by the index.
    pub fn orgs_verifying(&self, domain: &str, limit: usize) -> Result<Vec<Org>> {
        let ids = self.page_ids(&keys::orgs_of_domain(domain), None, limit)?;
        let mut orgs = Vec::with_capacity(ids.items.len());
        for id in ids.items {
            orgs.extend(self.org(id)?);
        }
        Ok(orgs)
    }
    pub fn membership(&self, org: Uuid, user: Uuid) -> Result<Option<Membership>> {
        self.get(&keys::membership(org, user))
    }
    pub fn workspace(&self, id: Uuid) -> Result<Option<Workspace>> {
        self.get(&keys::workspace(id))
    }
    pub fn workspace_member(&self, workspace: Uuid, user: Uuid) -> Result<Option<WorkspaceMember>> {
        self.get(&keys::workspace_member(workspace, user))
    }
    pub fn resource(&self, id: Uuid) -> Result<Option<Resource>> {
        self.get(&keys::resource(id))
    }

    /// One page of the records stored under `prefix | id`, in id order,
    /// starting after `after`.
    pub fn page<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Page<T>> {
        self.page_with(prefix, after, limit, |_, value| decode(value))
    }

    /// One page of the child ids of an index `prefix | child id`.
    pub fn page_ids(&self, prefix: &[u8], after: Option<Uuid>, limit: usize) -> Result<Page<Uuid>> {
        self.page_with(prefix, after, limit, |key, _| Ok(keys::trailing_uuid(key)))
    }

    fn page_with<T>(
        &self,
        prefix: &[u8],
        after: Option<Uuid>,
        limit: usize,
        item: impl Fn(&[u8], &[u8]) -> Result<T>,
    ) -> Result<Page<T>> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let mut start = prefix.to_vec();
        if let Some(after) = after {
            start.extend_from_slice(after.as_bytes());
            start.push(0); // first key strictly after `after`
        }
        let mut items = Vec::with_capacity(limit);
        let mut last = None;
        let mut more = false;
        for entry in self.db.range(start..) {
            let (key, value) = entry?;
            if !key.starts_with(prefix) {
                break;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            last = Some(keys::trailing_uuid(&key));
            items.push(item(&key, &value)?);
        }
        Ok(Page {
            items,
            next: if more { last } else { None },
        })
    }

    /// The newest `limit` records under `prefix` (keys ending in a uuid v7).
    pub fn newest<T: DeserializeOwned>(&self, prefix: &[u8], limit: usize) -> Result<Vec<T>> {
        Ok(self.newest_page(prefix, None, limit)?.items)
    }

    /// One page of the records under `prefix | uuid v7`, newest first,
    /// starting after (older than) `after`.
    pub fn newest_page<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Page<T>> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let rows: Box<dyn DoubleEndedIterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            match after {
                Some(after) => {
                    let end = [prefix, after.as_bytes()].concat();
                    Box::new(self.db.range(prefix.to_vec()..end))
                }
                None => Box::new(self.db.scan_prefix(prefix)),
            };
        let mut items = Vec::with_capacity(limit);
        let mut last = None;
        for row in rows.rev() {
            let (key, value) = row?;
            if items.len() == limit {
                return Ok(Page { items, next: last });
            }
            last = Some(keys::trailing_uuid(&key));
            items.push(decode(&value)?);
        }
        Ok(Page { items, next: None })
    }

    /// Visits every record under `prefix` in key order. A whole-kind scan:
    /// for offline checks (`warden ledger verify`), never a request path.
    pub fn for_each<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        mut visit: impl FnMut(&[u8], T) -> Result<()>,
    ) -> Result<()> {
        for row in self.db.scan_prefix(prefix) {
            let (key, value) = row?;
            visit(&key, decode(&value)?)?;
        }
        Ok(())
    }

    /// Runs `read` while no transaction commits: it sees the database
    /// between two transactions, never inside one.
    pub fn quiesced<T>(&self, read: impl FnOnce() -> T) -> T {
        let _alone = self.writers.write().unwrap_or_else(|e| e.into_inner());
        read()
    }

    /// Runs `body` as one serialisable transaction: all of its writes land
    /// together or not at all. `body` may run more than once (on conflict),
    /// so it must not have side effects outside the transaction.
    pub fn transact<T>(&self, body: impl Fn(&Tx) -> TxResult<T>) -> Result<T> {
        // The lock guards no data (`()`): a panic while holding it leaves nothing torn.
        let _shared = self.writers.read().unwrap_or_else(|e| e.into_inner());
        self.db
            .transaction(|tree| body(&Tx { tree }))
            .map_err(|e| match e {
                sled::transaction::TransactionError::Abort(e) => e,
                sled::transaction::TransactionError::Storage(e) => e.into(),
            })
    }

    /// Waits until everything written so far is on disk. Concurrent callers
    /// share flushes (group commit), so waiting writers cost few fsyncs.
    pub async fn flush(&self) -> Result<()> {
        self.commits.flush(&self.db).await
    }

    /// Blocks until everything written so far is on disk (for tools that
    /// run outside the server's runtime).
    pub fn flush_blocking(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

/// Typed access to the database inside a transaction.
pub struct Tx<'a> {
    tree: &'a TransactionalTree,
}

impl Tx<'_> {
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> TxResult<Option<T>> {
        match self.tree.get(key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    pub fn exists(&self, key: &[u8]) -> TxResult<bool> {
        Ok(self.tree.get(key)?.is_some())
    }

    /// Reads a record that must exist, or aborts with a 404.
    pub fn require<T: DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
        id: Uuid,
    ) -> TxResult<T> {
        Ok(self.get(key)?.ok_or_else(|| Error::not_found(what, id))?)
    }

    pub fn put<T: Serialize>(&self, key: &[u8], value: &T) -> TxResult<()> {
        self.tree.insert(key, encode(value))?;
        Ok(())
    }

    pub fn put_raw(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.tree.insert(key, value)?;
        Ok(())
    }

    pub fn get_raw(&self, key: &[u8]) -> TxResult<Option<sled::IVec>> {
        Ok(self.tree.get(key)?)
    }

    pub fn remove(&self, key: &[u8]) -> TxResult<()> {
        self.tree.remove(key)?;
        Ok(())
    }
}

/// Encodes a record. Serialising our own plain structs cannot fail.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise to JSON")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(corrupt)
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("corrupt record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        (dir, store)
    }

    #[test]
    fn a_database_of_another_schema_version_is_refused() {
        let (dir, store) = temp_store();
        store
            .db
            .insert(keys::schema_version(), &7u32.to_be_bytes())
            .unwrap();
        store.db.flush().unwrap();
        drop(store);
        let error = Store::open(&dir.path().join("db"), 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("schema version 7"), "{error}");
        assert!(
            error.contains(&format!("expects {SCHEMA_VERSION}")),
            "{error}"
        );
    }

    #[test]
    fn reopening_keeps_the_records() {
        let (dir, store) = temp_store();
        let id = Uuid::now_v7();
        store
            .db
            .insert(keys::org(id), encode(&serde_json::json!({"n": 1})))
            .unwrap();
        store.db.flush().unwrap();
        drop(store);
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        let value: Option<serde_json::Value> = store.get(&keys::org(id)).unwrap();
        assert_eq!(value, Some(serde_json::json!({"n": 1})));
    }

    #[test]
    fn pages_walk_one_parent_in_id_order_and_stop_at_its_end() {
        let (_dir, store) = temp_store();
        let (org, neighbour) = (Uuid::now_v7(), Uuid::now_v7());
        let mut workspaces: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        workspaces.sort();
        for ws in &workspaces {
            store.db.insert(keys::org_workspace(org, *ws), &[]).unwrap();
        }
        store
            .db
            .insert(keys::org_workspace(neighbour, Uuid::now_v7()), &[])
            .unwrap();

        let prefix = keys::workspaces_of_org(org);
        let first = store.page_ids(&prefix, None, 2).unwrap();
        assert_eq!(first.items, workspaces[..2]);
        let second = store.page_ids(&prefix, first.next, 2).unwrap();
        assert_eq!(second.items, workspaces[2..4]);
        let last = store.page_ids(&prefix, second.next, 2).unwrap();
        assert_eq!(last.items, workspaces[4..]);
        assert_eq!(
            last.next, None,
            "the neighbour org's rows are not part of this listing"
        );
    }

    #[test]
    fn an_aborted_transaction_writes_nothing() {
        let (_dir, store) = temp_store();
        let id = Uuid::now_v7();
        let result: Result<()> = store.transact(|tx| {
            tx.put(&keys::org(id), &serde_json::json!({"half": "written"}))?;
            Err(Error::conflict("test", "abort after the first write"))?
        });
        assert!(matches!(result, Err(Error::Conflict { code: "test", .. })));
        assert!(store
            .get::<serde_json::Value>(&keys::org(id))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_corrupt_record_is_a_storage_error_not_a_panic() {
        let (_dir, store) = temp_store();
        let id = Uuid::now_v7();
        store
            .db
            .insert(keys::org(id), b"not json".as_slice())
            .unwrap();
        assert!(matches!(store.org(id), Err(Error::Storage(_))));
    }
}
