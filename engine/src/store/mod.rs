//! The embedded sled database: typed records, their secondary indexes and
//! the transaction every command writes through.
//!
//! Architecture invariant: nothing on a request path scans a whole record
//! kind; every read is a point get or a bounded prefix scan of one parent.

mod backend;
pub mod batch;
mod check_reads;
mod check_versions;
pub mod codec;
pub mod consistency;
mod freshness;
pub mod keys;
mod migrate;
pub mod model;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Weak};

use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
pub use backend::postgres::{
    CHANGE_RETENTION, CONNECTION_WAIT, MAX_CONNECTIONS, MAX_SERIAL_CONNECTIONS,
    MAX_TRANSACTION_ATTEMPTS, SERIAL_WAIT,
};
pub use backend::SerialLock;
use backend::{Backend, Order, RawTx, Rows, Scanned};
pub use backend::{TxError, TxResult};
pub use batch::Batches;
pub use check_reads::{CheckReads, CheckRecords, RECORD_CACHE_BYTES};
pub(crate) use check_versions::{CheckVersions, Version};
use codec::{corrupt, decode};
pub use model::*;

/// The on-disk layout version this build reads and writes. Older stores
/// are migrated when opened (`migrate`): 1 → 2 made domains claims, 2 → 3
/// made the records checks read compact (`codec`).
pub const SCHEMA_VERSION: u32 = 3;

/// Default size of sled's page cache: the store never holds the whole
/// database in memory, only this much of it.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// How many records one write of [`Store::copy_to`] carries.
const COPY_BATCH: usize = 1000;

/// The most rows one page may hold.
pub const MAX_PAGE_SIZE: usize = 500;

/// The most child rows one command may remove along with their parent
/// (a removed member's workspace memberships, a deleted workspace's members
/// and access requests).
pub const MAX_CASCADE_ROWS: usize = 10_000;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// Versions of the records checks read, per id.
    check_versions: Arc<CheckVersions>,
    /// Reads of other servers' writes, shared by concurrent checks.
    catch_up: Arc<freshness::CatchUp>,
    /// The records checks read, on a shared backend (see `check_reads`).
    records: Arc<check_reads::RecordCache>,
}

/// Where a store keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded sled database in this directory, for one process.
    Directory(std::path::PathBuf),
    /// A PostgreSQL database (a `postgres://` URL), which any number of
    /// servers may share.
    Postgres(String),
}

/// The embedded database's directory inside a data directory.
pub const DB_DIR: &str = "db";

impl StoreLocation {
    /// The embedded database of data directory `data`.
    pub fn in_data_dir(data: &Path) -> StoreLocation {
        StoreLocation::Directory(data.join(DB_DIR))
    }

    /// `postgres://…` or `postgresql://…` names a database; any other
    /// text without a scheme, a directory. An empty text, or another
    /// scheme (a typo such as `postgre://` must not become a directory of
    /// that name), is refused.
    pub fn parse(text: &str) -> anyhow::Result<StoreLocation> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(text.to_owned()));
        }
        anyhow::ensure!(
            !text.is_empty() && !text.contains("://"),
            "store {text:?} is neither a postgres:// URL nor a directory"
        );
        Ok(StoreLocation::Directory(text.into()))
    }
}

/// One page of a listing, with the cursor for the next one.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    /// This page's records (or ids), at most the limit asked for and never
    /// more than [`MAX_PAGE_SIZE`].
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next: Option<Uuid>,
}

/// One read of the check records other servers wrote, for
/// [`freshness::CatchUp`]. It holds the store's parts weakly, so that its
/// reader thread keeps no dropped store open.
fn read_changes(backend: Weak<dyn Backend>, versions: Weak<CheckVersions>) -> freshness::Read {
    Box::new(move || {
        let (Some(backend), Some(versions)) = (backend.upgrade(), versions.upgrade()) else {
            return Err(Error::Unavailable {
                code: "store_closed",
                message: "the store is closed".into(),
            });
        };
        let changes = backend.changes_elsewhere()?;
        match changes.ids {
            Some(ids) => versions.advance(&ids),
            None => versions.advance_all(),
        }
        Ok(changes.horizon)
    })
}

impl Store {
    /// Opens (or creates) the database in `dir`. Refuses a database written
    /// with another layout version.
    pub fn open(dir: &Path, cache_bytes: u64) -> anyhow::Result<Store> {
        Store::on(Arc::new(backend::sled::Sled::open(dir, cache_bytes)?))
    }

    /// Connects to the PostgreSQL database at `url`, creating Warden's
    /// tables if they are missing. Refuses a database written with another
    /// layout version.
    pub fn connect(url: &str) -> anyhow::Result<Store> {
        Store::on(Arc::new(backend::postgres::Postgres::connect(url)?))
    }

    /// Opens the store at `location`: a PostgreSQL URL, or a directory.
    pub fn at(location: &StoreLocation, cache_bytes: u64) -> anyhow::Result<Store> {
        match location {
            StoreLocation::Directory(dir) => Store::open(dir, cache_bytes),
            StoreLocation::Postgres(url) => Store::connect(url),
        }
    }

    fn on(backend: Arc<dyn Backend>) -> anyhow::Result<Store> {
        let check_versions: Arc<CheckVersions> = Arc::default();
        let read = read_changes(Arc::downgrade(&backend), Arc::downgrade(&check_versions));
        let store = Store {
            backend,
            check_versions,
            catch_up: Arc::new(freshness::CatchUp::new(read)),
            records: Arc::default(),
        };
        store.check_schema_version()?;
        Ok(store)
    }

    /// Where the data lives: a directory, or a database URL without its
    /// password.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Bytes the database takes (see [`Backend::size_bytes`]).
    pub fn size_bytes(&self) -> Result<u64> {
        self.backend.size_bytes()
    }

    fn check_schema_version(&self) -> anyhow::Result<()> {
        let key = keys::schema_version();
        let Some(bytes) = self.backend.get(&key)? else {
            self.set_schema_version(SCHEMA_VERSION)?;
            return Ok(());
        };
        let mut found = <[u8; 4]>::try_from(bytes.as_ref())
            .map(u32::from_be_bytes)
            .map_err(|_| anyhow::anyhow!("database has a corrupt schema version"))?;
        // Each step moves the store one version up, in order.
        while found < SCHEMA_VERSION {
            match found {
                1 => migrate::domain_claims(self)?,
                2 => migrate::compact_check_records(self)?,
                _ => break,
            }
            self.backend.flush_blocking()?;
            found += 1;
        }
        anyhow::ensure!(
            found == SCHEMA_VERSION,
            "database schema version {found} is not supported by this build (expects {SCHEMA_VERSION})"
        );
        Ok(())
    }

    fn set_schema_version(&self, version: u32) -> Result<()> {
        let row = (keys::schema_version(), Some(version.to_be_bytes().to_vec()));
        self.backend.write_rows(&[row])?;
        self.backend.flush_blocking()
    }

    /// Reads and decodes one record.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.backend
            .get(key)?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Reads one raw value.
    pub fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.backend.get(key)
    }

    /// The user with `email` (normalised), if there is one.
    pub fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        match self.backend.get(&keys::user_by_email(email))? {
            Some(id) => self.user(Uuid::from_slice(&id).map_err(corrupt)?),
            None => Ok(None),
        }
    }
    /// The one org that holds `domain` (normalised) verified, if any.
    pub fn domain_owner(&self, domain: &str) -> Result<Option<Org>> {
        match self.get::<Uuid>(&keys::domain_owner(domain))? {
            Some(org) => self.org(org),
            None => Ok(None),
        }
    }
    /// `org`'s claim on `domain` (normalised), if it made one.
    pub fn domain_claim(&self, org: Uuid, domain: &str) -> Result<Option<DomainClaim>> {
        match self.get::<Uuid>(&keys::org_domain(org, domain))? {
            Some(claim) => self.get(&keys::domain_claim(org, claim)),
            None => Ok(None),
        }
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
        let end = prefix_end(prefix);
        for entry in self.backend.range(&start, &end, Order::Ascending) {
            let (key, value) = entry?;
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
        let end = match after {
            Some(after) => [prefix, after.as_bytes()].concat(),
            None => prefix_end(prefix),
        };
        let mut items = Vec::with_capacity(limit);
        let mut last = None;
        for entry in self.backend.range(prefix, &end, Order::Descending) {
            let (key, value) = entry?;
            if items.len() == limit {
                return Ok(Page { items, next: last });
            }
            last = Some(keys::trailing_uuid(&key));
            items.push(decode(&value)?);
        }
        Ok(Page { items, next: None })
    }

    /// Every `(key, value)` whose key starts with `prefix`, for whole-store
    /// tools (the consistency check); never on a request path.
    pub(crate) fn scan(&self, prefix: &[u8]) -> Rows<'_> {
        self.backend
            .range(prefix, &prefix_end(prefix), Order::Ascending)
    }

    /// Visits every record under `prefix` in key order. A whole-kind scan:
    /// for offline checks (`warden ledger verify`), never a request path.
    pub fn for_each<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        mut visit: impl FnMut(&[u8], T) -> Result<()>,
    ) -> Result<()> {
        for row in self.scan(prefix) {
            let (key, value) = row?;
            visit(&key, decode(&value)?)?;
        }
        Ok(())
    }

    /// The versions of the records checks read (see [`CheckVersions`]).
    pub(crate) fn check_versions(&self) -> &CheckVersions {
        &self.check_versions
    }

    /// Runs `read` while no transaction commits: it sees the database
    /// between two transactions, never inside one.
    pub fn quiesced<T>(&self, read: impl FnOnce() -> T) -> Result<T> {
        let mut read = Some(read);
        let mut answer = None;
        self.backend.quiesced(&mut || {
            answer = read.take().map(|read| read());
        })?;
        Ok(answer.expect("the backend ran the read"))
    }

    /// Runs `body` as one serialisable transaction: all of its writes land
    /// together or not at all. `body` may run more than once (on conflict),
    /// so it must not have side effects outside the transaction.
    pub fn transact<T>(&self, body: impl Fn(&Tx) -> TxResult<T>) -> Result<T> {
        self.transact_scanning(&[], body)
    }

    /// [`transact`](Self::transact), with the child ids under each of
    /// `prefixes` listed first for `Tx::committed_children`: no write
    /// lands between that listing and this commit. At most
    /// [`MAX_CASCADE_ROWS`] children per prefix.
    pub fn transact_scanning<T>(
        &self,
        prefixes: &[Vec<u8>],
        body: impl Fn(&Tx) -> TxResult<T>,
    ) -> Result<T> {
        let check_ids = RefCell::default();
        let answer = RefCell::new(None);
        self.backend.transact(prefixes, &|raw, scanned| {
            let tx = Tx {
                raw,
                scanned,
                check_ids: &check_ids,
                layer: None,
            };
            *answer.borrow_mut() = Some(body(&tx)?);
            Ok(())
        })?;
        self.check_versions.advance(&check_ids.into_inner());
        Ok(answer.into_inner().expect("a committed body answered"))
    }

    /// Runs each of `bodies` all or nothing inside one transaction: a
    /// body's writes land only if it returns `Ok`; one that aborts leaves
    /// none of its writes and the others commit. Returns each body's abort
    /// error (`None`: its writes committed). A conflict reruns them all.
    pub fn transact_each(&self, bodies: &[BatchBody]) -> Result<Vec<Option<Error>>> {
        let check_ids = RefCell::default();
        let aborted = RefCell::new(Vec::new());
        self.backend.transact(&[], &|raw, scanned| {
            let mut outcomes = Vec::with_capacity(bodies.len());
            for body in bodies {
                let tx = Tx {
                    raw,
                    scanned,
                    check_ids: &check_ids,
                    layer: Some(RefCell::default()),
                };
                match body(&tx) {
                    Ok(()) => {
                        tx.commit_layer()?;
                        outcomes.push(None);
                    }
                    Err(TxError::Abort(e)) => outcomes.push(Some(e)),
                    Err(TxError::Conflict) => return Err(TxError::Conflict),
                }
            }
            *aborted.borrow_mut() = outcomes;
            Ok(())
        })?;
        self.check_versions.advance(&check_ids.into_inner());
        Ok(aborted.into_inner())
    }

    /// Before a check asked at `asked_at` answers from what it cached:
    /// takes in the check records other servers on this database wrote, so
    /// that a write any server acknowledged before `asked_at` is seen.
    /// Concurrent callers share one read of them; a store only this process
    /// writes has none to read.
    pub(crate) fn catch_up(&self, asked_at: std::time::Instant) -> Result<()> {
        if !self.backend.shared() {
            return Ok(());
        }
        self.catch_up.run(asked_at)
    }

    /// A revision of the database now, which every write acknowledged
    /// before the call is below; `None` when no other server writes it
    /// (then every check sees every write anyway).
    pub fn revision(&self) -> Result<Option<u64>> {
        self.backend.revision()
    }

    /// When this server last started a read of other servers' changes that
    /// took in every write below `revision`, if it has: a check asking for
    /// data at least that fresh may answer as of then.
    pub fn fresh_at(&self, revision: u64) -> Option<std::time::Instant> {
        if !self.backend.shared() {
            return Some(std::time::Instant::now());
        }
        self.catch_up.fresh_at(revision)
    }

    /// [`catch_up`](Self::catch_up) without holding a thread: a check
    /// awaits it before it answers from what it cached.
    pub async fn caught_up(&self, asked_at: std::time::Instant) -> Result<()> {
        if !self.backend.shared() {
            return Ok(());
        }
        self.catch_up.wait(asked_at).await
    }

    /// Holds serial key `key` against commands on other servers of this
    /// database (see `Command::serial_key`); `None` when no other server
    /// writes it.
    pub fn lock_serial(&self, key: &str) -> Result<Option<SerialLock>> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let hash = i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        self.backend.lock_serial(hash)
    }

    /// Copies every record into `destination`, which must hold none, and
    /// makes them durable there; returns how many were copied. For moving
    /// a database between backends while no server runs on either.
    pub fn copy_to(&self, destination: &Store) -> anyhow::Result<u64> {
        let schema_version = keys::schema_version();
        let mut existing = destination.scan(&[]);
        if let Some(row) =
            existing.find(|row| !matches!(row, Ok((key, _)) if *key == schema_version))
        {
            let (key, _) = row?;
            anyhow::bail!(
                "{} already holds records (key {}); copy into an empty database",
                destination.location(),
                hex::encode(key)
            );
        }
        drop(existing);
        let mut copied = 0;
        let mut batch = Vec::with_capacity(COPY_BATCH);
        for row in self.scan(&[]) {
            let (key, value) = row?;
            batch.push((key, Some(value)));
            if batch.len() == COPY_BATCH {
                destination.backend.write_rows(&batch)?;
                copied += batch.len() as u64;
                batch.clear();
            }
        }
        destination.backend.write_rows(&batch)?;
        copied += batch.len() as u64;
        destination.flush_blocking()?;
        Ok(copied)
    }

    /// Waits until everything written so far is on disk. Concurrent callers
    /// share flushes (group commit), so waiting writers cost few fsyncs.
    pub async fn flush(&self) -> Result<()> {
        self.backend.flush().await
    }

    /// Blocks until everything written so far is on disk (for a batch's
    /// leader, and for tools that run outside the server's runtime).
    pub fn flush_blocking(&self) -> Result<()> {
        self.backend.flush_blocking()
    }
}

/// One all-or-nothing part of a [`Store::transact_each`] transaction.
pub type BatchBody<'a> = &'a (dyn Fn(&Tx) -> TxResult<()> + Sync);

/// Writes staged on top of a transaction, see [`Store::transact_each`]
/// (`None`: a removal).
type Layer = RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>;

/// Typed access to the database inside a transaction.
pub struct Tx<'a> {
    raw: &'a dyn RawTx,
    scanned: &'a Scanned,
    /// The ids named by the check records this transaction writes (see
    /// [`CheckVersions`]); a retried attempt adds its own again, which
    /// costs at most a needless rebuild.
    check_ids: &'a RefCell<Vec<Uuid>>,
    /// In a batch: this body's writes, until it succeeds.
    layer: Option<Layer>,
}

impl Tx<'_> {
    /// Reads and decodes one record, as this transaction sees it.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> TxResult<Option<T>> {
        match self.get_raw(key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Whether a value is stored under `key`.
    pub fn exists(&self, key: &[u8]) -> TxResult<bool> {
        Ok(self.get_raw(key)?.is_some())
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

    /// Encodes and writes one record.
    pub fn put<T: Serialize>(&self, key: &[u8], value: &T) -> TxResult<()> {
        self.put_raw(key, &codec::encode(key, value))
    }

    /// Writes one raw value.
    pub fn put_raw(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.written(key);
        match &self.layer {
            Some(layer) => {
                layer
                    .borrow_mut()
                    .insert(key.to_vec(), Some(value.to_vec()));
            }
            None => self.raw.insert(key, value)?,
        }
        Ok(())
    }

    /// Reads one raw value, as this transaction sees it.
    pub fn get_raw(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        if let Some(staged) = self
            .layer
            .as_ref()
            .and_then(|l| l.borrow().get(key).cloned())
        {
            return Ok(staged);
        }
        self.raw.get(key)
    }

    /// Removes the value under `key`, if any.
    pub fn remove(&self, key: &[u8]) -> TxResult<()> {
        self.written(key);
        match &self.layer {
            Some(layer) => {
                layer.borrow_mut().insert(key.to_vec(), None);
            }
            None => self.raw.remove(key)?,
        }
        Ok(())
    }

    /// Moves the layer's writes into the transaction.
    fn commit_layer(self) -> TxResult<()> {
        for (key, value) in self.layer.map(RefCell::into_inner).unwrap_or_default() {
            match value {
                Some(value) => self.raw.insert(&key, &value)?,
                None => self.raw.remove(&key)?,
            }
        }
        Ok(())
    }

    fn written(&self, key: &[u8]) {
        self.check_ids.borrow_mut().extend(keys::check_ids(key));
    }

    /// The child ids of an index `prefix | child id`, as they are while
    /// this transaction runs: the command declared `prefix` among the
    /// indexes it scans, and [`Store::transact_scanning`] listed it under
    /// the writer lock.
    pub fn committed_children(&self, prefix: &[u8]) -> TxResult<Vec<Uuid>> {
        self.scanned.get(prefix).cloned().ok_or_else(|| {
            Error::Internal("a command read children it did not declare in Command::scans".into())
                .into()
        })
    }
}

/// The smallest key after every key that starts with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `value` under `key` outside any command, as an older build
    /// or a broken disk might have.
    fn write_raw(store: &Store, key: Vec<u8>, value: &[u8]) {
        store
            .backend
            .write_rows(&[(key, Some(value.to_vec()))])
            .unwrap();
    }

    /// A new store on each backend, with what keeps it alive.
    fn backends() -> Vec<(Option<tempfile::TempDir>, Store)> {
        let (dir, sled) = temp_store();
        let postgres = Store::connect(&backend::postgres::test_database()).unwrap();
        vec![(Some(dir), sled), (None, postgres)]
    }

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        (dir, store)
    }

    /// Opens the store of `temp_store` again.
    fn reopen(dir: &tempfile::TempDir) -> anyhow::Result<Store> {
        Store::open(&dir.path().join("db"), 1 << 20)
    }

    #[test]
    fn a_database_of_another_schema_version_is_refused() {
        let (dir, store) = temp_store();
        write_raw(&store, keys::schema_version(), &7u32.to_be_bytes());
        store.flush_blocking().unwrap();
        drop(store);
        let error = reopen(&dir).err().unwrap().to_string();
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
        write_raw(
            &store,
            keys::org(id),
            &codec::json(&serde_json::json!({"n": 1})),
        );
        store.flush_blocking().unwrap();
        drop(store);
        let store = reopen(&dir).unwrap();
        let value: Option<serde_json::Value> = store.get(&keys::org(id)).unwrap();
        assert_eq!(value, Some(serde_json::json!({"n": 1})));
    }

    #[test]
    fn pages_walk_one_parent_in_id_order_and_stop_at_its_end() {
        for (_dir, store) in backends() {
            let (org, neighbour) = (Uuid::now_v7(), Uuid::now_v7());
            let mut workspaces: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
            workspaces.sort();
            for ws in &workspaces {
                write_raw(&store, keys::org_workspace(org, *ws), &[]);
            }
            write_raw(&store, keys::org_workspace(neighbour, Uuid::now_v7()), &[]);

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
    }

    #[test]
    fn an_aborted_transaction_writes_nothing() {
        for (_dir, store) in backends() {
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
    }

    #[test]
    fn a_failed_body_of_a_batch_writes_nothing_and_the_others_commit() {
        for (_dir, store) in backends() {
            let (first, failed, last) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
            let write = |id: Uuid| move |tx: &Tx| tx.put(&keys::org(id), &id);
            let (first_body, last_body) = (write(first), write(last));
            // Reads its predecessor's write, writes, then fails.
            let failing = |tx: &Tx| {
                assert_eq!(tx.get::<Uuid>(&keys::org(first))?, Some(first));
                tx.put(&keys::org(failed), &failed)?;
                Err(Error::conflict("test", "fails after writing"))?
            };
            let aborted = store
                .transact_each(&[&first_body, &failing, &last_body])
                .unwrap();
            assert!(matches!(
                aborted.as_slice(),
                [None, Some(Error::Conflict { code: "test", .. }), None]
            ));
            assert_eq!(store.get::<Uuid>(&keys::org(first)).unwrap(), Some(first));
            assert_eq!(store.get::<Uuid>(&keys::org(failed)).unwrap(), None);
            assert_eq!(store.get::<Uuid>(&keys::org(last)).unwrap(), Some(last));
        }
    }

    #[test]
    fn no_write_lands_between_a_scan_and_its_transaction() {
        let (_dir, store) = temp_store();
        let (parent, early, late) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        store
            .transact(|tx| tx.put(&keys::org_workspace(parent, early), &()))
            .unwrap();
        let prefix = keys::workspaces_of_org(parent);
        let writer = std::sync::Mutex::new(None);
        let seen = store
            .transact_scanning(std::slice::from_ref(&prefix), |tx| {
                let other = store.clone();
                writer.lock().unwrap().get_or_insert_with(|| {
                    std::thread::spawn(move || {
                        other.transact(|tx| tx.put(&keys::org_workspace(parent, late), &()))
                    })
                });
                std::thread::sleep(std::time::Duration::from_millis(100));
                let children = tx.committed_children(&prefix)?;
                Ok((children, tx.exists(&keys::org_workspace(parent, late))?))
            })
            .unwrap();
        assert_eq!(
            seen,
            (vec![early], false),
            "a write landed during the transaction"
        );
        writer
            .into_inner()
            .unwrap()
            .unwrap()
            .join()
            .unwrap()
            .unwrap();
        assert!(store
            .get_raw(&keys::org_workspace(parent, late))
            .unwrap()
            .is_some());
        let undeclared = store.transact(|tx| tx.committed_children(&prefix));
        assert!(matches!(undeclared, Err(Error::Internal(_))));
    }

    #[test]
    fn newest_pages_walk_backwards_in_time() {
        for (_dir, store) in backends() {
            let org = Uuid::now_v7();
            let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
            for id in &ids {
                write_raw(&store, keys::audit(org, *id), &codec::json(id));
            }
            write_raw(
                &store,
                keys::audit(Uuid::max(), Uuid::now_v7()),
                &codec::json(&0),
            );
            let prefix = keys::audit_of_org(org);
            let first: Page<Uuid> = store.newest_page(&prefix, None, 2).unwrap();
            assert_eq!(first.items, [ids[4], ids[3]]);
            let second: Page<Uuid> = store.newest_page(&prefix, first.next, 2).unwrap();
            assert_eq!(second.items, [ids[2], ids[1]]);
            let last: Page<Uuid> = store.newest_page(&prefix, second.next, 2).unwrap();
            assert_eq!((last.items, last.next), (vec![ids[0]], None));
        }
    }

    #[test]
    fn a_corrupt_record_is_a_storage_error_not_a_panic() {
        for (_dir, store) in backends() {
            let id = Uuid::now_v7();
            write_raw(&store, keys::org(id), b"not json");
            assert!(matches!(store.org(id), Err(Error::Storage(_))));
        }
    }

    #[test]
    fn on_postgres_a_scan_and_its_transaction_agree_under_a_concurrent_write() {
        let store = Store::connect(&backend::postgres::test_database()).unwrap();
        let (parent, early) = (Uuid::now_v7(), Uuid::now_v7());
        store
            .transact(|tx| tx.put(&keys::org_workspace(parent, early), &()))
            .unwrap();
        let prefix = keys::workspaces_of_org(parent);
        let lates: Vec<Uuid> = (0..8).map(|_| Uuid::now_v7()).collect();
        std::thread::scope(|scope| {
            for late in &lates {
                let store = &store;
                scope.spawn(move || {
                    store.transact(|tx| tx.put(&keys::org_workspace(parent, *late), &()))
                });
            }
            for _ in 0..8 {
                let (children, present) = store
                    .transact_scanning(std::slice::from_ref(&prefix), |tx| {
                        let children = tx.committed_children(&prefix)?;
                        let mut present = Vec::new();
                        for late in &lates {
                            if tx.exists(&keys::org_workspace(parent, *late))? {
                                present.push(*late);
                            }
                        }
                        Ok((children, present))
                    })
                    .unwrap();
                let listed: Vec<Uuid> = children.into_iter().filter(|c| *c != early).collect();
                let mut present = present;
                present.sort();
                assert_eq!(
                    listed, present,
                    "the listing and the reads saw different states"
                );
            }
        });
    }

    #[test]
    fn a_write_through_one_server_reaches_the_check_versions_of_another() {
        let url = backend::postgres::test_database();
        let (writer, reader) = (Store::connect(&url).unwrap(), Store::connect(&url).unwrap());
        let (org, untouched) = (Uuid::now_v7(), Uuid::now_v7());
        reader.catch_up(std::time::Instant::now()).unwrap();
        let (before, other) = (
            reader.check_versions().version(org),
            reader.check_versions().version(untouched),
        );
        writer
            .transact(|tx| tx.put(&keys::org(org), &serde_json::json!({"n": 1})))
            .unwrap();
        assert!(reader.check_versions().is_current(before), "not read yet");
        reader.catch_up(std::time::Instant::now()).unwrap();
        assert!(!reader.check_versions().is_current(before));
        if !before.shares_counter(other) {
            assert!(reader.check_versions().is_current(other));
        }
    }

    #[test]
    fn a_copy_holds_every_record_and_refuses_a_database_in_use() {
        let (_dir, source) = temp_store();
        let ids: Vec<Uuid> = (0..2500).map(|_| Uuid::now_v7()).collect();
        for chunk in ids.chunks(500) {
            source
                .transact(|tx| {
                    for id in chunk {
                        tx.put(&keys::org(*id), id)?;
                        tx.put(&keys::audit(*id, *id), id)?;
                    }
                    Ok(())
                })
                .unwrap();
        }
        let destination = Store::connect(&backend::postgres::test_database()).unwrap();
        let copied = source.copy_to(&destination).unwrap();
        assert_eq!(copied, 2 * 2500 + 1, "every record and the schema version");
        for id in &ids {
            assert_eq!(
                destination.get::<Uuid>(&keys::audit(*id, *id)).unwrap(),
                Some(*id)
            );
        }
        let again = source.copy_to(&destination).unwrap_err().to_string();
        assert!(again.contains("already holds records"), "{again}");
    }

    #[test]
    fn a_cached_record_never_hides_a_write_another_server_acknowledged_before_the_check() {
        let url = backend::postgres::test_database();
        let (writer, reader) = (Store::connect(&url).unwrap(), Store::connect(&url).unwrap());
        let (id, other) = (Uuid::now_v7(), Uuid::now_v7());
        for n in 0..20u64 {
            writer.transact(|tx| tx.put(&keys::org(id), &n)).unwrap();
            writer.transact(|tx| tx.put(&keys::org(other), &n)).unwrap();
            // Twice per round: the second read is the cached one.
            for _ in 0..2 {
                let reads = reader.check_reads(Some(std::time::Instant::now()));
                let seen: Option<u64> = reads.record(&keys::org(id)).unwrap();
                assert_eq!(seen, Some(n), "round {n}");
            }
        }
        assert!(reader.records.held() >= 1, "the reader's reads were cached");
    }

    #[test]
    fn a_users_cached_orgs_never_hide_a_membership_another_server_wrote() {
        let url = backend::postgres::test_database();
        let (writer, reader) = (Store::connect(&url).unwrap(), Store::connect(&url).unwrap());
        let (user, orgs) = (Uuid::now_v7(), [Uuid::now_v7(), Uuid::now_v7()]);
        let member = |org: Uuid| Membership {
            org,
            user,
            role: OrgRole::Member,
            status: MembershipStatus::Active,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let seen = |org: Uuid| {
            let reads = reader.check_reads(Some(std::time::Instant::now()));
            reads.membership(org, user).unwrap().is_some()
        };
        // As the commands write them: the membership and the user's index.
        let join = |org: Uuid| {
            writer.transact(|tx| {
                tx.put(&keys::membership(org, user), &member(org))?;
                tx.put(&keys::user_org(user, org), &())
            })
        };
        join(orgs[0]).unwrap();
        // Cached: a member of the first org, not of the second.
        for _ in 0..2 {
            assert!(seen(orgs[0]) && !seen(orgs[1]));
        }
        join(orgs[1]).unwrap();
        assert!(seen(orgs[1]), "the cached org ids hid a new membership");
        writer
            .transact(|tx| {
                tx.remove(&keys::membership(orgs[0], user))?;
                tx.remove(&keys::user_org(user, orgs[0]))
            })
            .unwrap();
        assert!(!seen(orgs[0]) && seen(orgs[1]));
    }
}
