//! The embedded backend: one sled tree in one directory, written by this
//! process alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

use super::durable::GroupCommit;
use super::{children, Backend, Body, Changes, Order, Pending, RawTx, Rows, TxError, TxResult};
use crate::error::{Error, Result};

/// sled, with the writer lock that makes a scan and its transaction one.
pub struct Sled {
    db: sled::Db,
    dir: PathBuf,
    commits: Arc<GroupCommit>,
    /// Plain transactions hold it shared. A transaction that scans first
    /// and `quiesced` readers hold it alone, so nothing commits between
    /// their reads and their end.
    writers: RwLock<()>,
}

/// How long opening waits for the directory's lock to be let go.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often opening tries for the lock meanwhile.
const LOCK_RETRY: Duration = Duration::from_millis(20);

impl Sled {
    /// Opens (or creates) the database in `dir` with a page cache of
    /// `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> anyhow::Result<Sled> {
        let config = sled::Config::new().path(dir).cache_capacity(cache_bytes);
        // A handle this process just dropped holds the directory's lock
        // until its flusher thread (which sled does not join on drop) lets
        // go: wait a little for that, not for another process, which holds
        // it for good.
        let mut waited = Duration::ZERO;
        let db = loop {
            match config.open() {
                // sled words the lock's failure only in its message.
                Err(sled::Error::Io(e))
                    if e.to_string().starts_with("could not acquire lock")
                        && waited < LOCK_WAIT =>
                {
                    std::thread::sleep(LOCK_RETRY);
                    waited += LOCK_RETRY;
                }
                opened => {
                    break opened.map_err(|e| {
                        anyhow::anyhow!("cannot open database in {}: {e}", dir.display())
                    })?
                }
            }
        };
        Ok(Sled {
            db,
            dir: dir.to_path_buf(),
            commits: Arc::new(GroupCommit::new()),
            writers: RwLock::new(()),
        })
    }
}

impl Backend for Sled {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?.map(|value| value.to_vec()))
    }

    fn range(&self, start: &[u8], end: &[u8], order: Order) -> Rows<'_> {
        let rows = self.db.range(start.to_vec()..end.to_vec());
        let row = |entry: sled::Result<(sled::IVec, sled::IVec)>| {
            entry
                .map(|(key, value)| (key.to_vec(), value.to_vec()))
                .map_err(Error::from)
        };
        match order {
            Order::Ascending => Box::new(rows.map(row)),
            Order::Descending => Box::new(rows.rev().map(row)),
        }
    }

    fn transact(&self, prefixes: &[Vec<u8>], body: Body<'_>) -> Result<()> {
        // sled's transactions cannot scan (an iterator inside one deadlocks
        // on sled's global transaction lock), so the scan runs just before
        // the transaction with the writer lock held alone: no other write
        // can commit between the scan and this commit. The lock guards no
        // data (`()`): a panic while holding it leaves nothing torn.
        let (_shared, _alone);
        if prefixes.is_empty() {
            _shared = self.writers.read().unwrap_or_else(|e| e.into_inner());
        } else {
            _alone = self.writers.write().unwrap_or_else(|e| e.into_inner());
        }
        let mut scanned = HashMap::with_capacity(prefixes.len());
        for prefix in prefixes {
            let keys = self.db.scan_prefix(prefix).keys();
            let keys = keys.map(|key| Ok(key?.to_vec()));
            scanned.insert(prefix.clone(), children(keys)?);
        }
        self.db
            .transaction(|tree| {
                body(&SledTx { tree }, &scanned).map_err(|e| match e {
                    TxError::Abort(e) => ConflictableTransactionError::Abort(e),
                    TxError::Conflict => ConflictableTransactionError::Conflict,
                })
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => e.into(),
            })
    }

    fn write_rows(&self, rows: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (key, value) in rows {
            match value {
                Some(value) => batch.insert(key.as_slice(), value.as_slice()),
                None => batch.remove(key.as_slice()),
            }
        }
        Ok(self.db.apply_batch(batch)?)
    }

    fn quiesced(&self, read: &mut dyn FnMut()) -> Result<()> {
        let _alone = self.writers.write().unwrap_or_else(|e| e.into_inner());
        read();
        Ok(())
    }

    fn flush(&self) -> Pending<'_, Result<()>> {
        Box::pin(self.commits.flush(&self.db))
    }

    fn flush_blocking(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn lock_serial(&self, _key: i64) -> Result<Option<super::SerialLock>> {
        Ok(None)
    }

    fn shared(&self) -> bool {
        false
    }

    fn changes_elsewhere(&self) -> Result<Changes> {
        Ok(Changes {
            ids: Some(Vec::new()),
            horizon: 0,
        })
    }

    fn revision(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn size_bytes(&self) -> Result<u64> {
        self.db.size_on_disk().map_err(Error::from)
    }
}

struct SledTx<'a> {
    tree: &'a TransactionalTree,
}

impl RawTx for SledTx<'_> {
    fn get(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        Ok(self.tree.get(key).map_err(unabortable)?.map(|v| v.to_vec()))
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.tree.insert(key, value).map_err(unabortable)?;
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> TxResult<()> {
        self.tree.remove(key).map_err(unabortable)?;
        Ok(())
    }
}

fn unabortable(e: UnabortableTransactionError) -> TxError {
    match e {
        UnabortableTransactionError::Conflict => TxError::Conflict,
        UnabortableTransactionError::Storage(e) => TxError::Abort(e.into()),
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Storage(e.to_string())
    }
}
