//! Where the store's keys and values live: sled in one directory (the
//! embedded default) or PostgreSQL shared by several servers. The store
//! above is written once against [`Backend`]: ordered byte keys, point
//! reads, range scans, and serialisable transactions that a backend reruns
//! on conflict.
//!
//! Architecture invariant: a backend knows bytes, never records; every
//! typed read, every index and every rule of the domain is the store's (or
//! above), so both backends keep the same invariants by construction.

mod durable;
pub(super) mod postgres;
pub(super) mod sled;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use uuid::Uuid;

use crate::error::{Error, Result};

/// One stored `(key, value)`.
pub type Row = (Vec<u8>, Vec<u8>);
/// Rows in key order (or reversed), read lazily.
pub type Rows<'a> = Box<dyn Iterator<Item = Result<Row>> + Send + 'a>;
/// The child ids listed, before a transaction's body runs, under each
/// prefix it declared (see [`Backend::transact`]).
pub type Scanned = HashMap<Vec<u8>, Vec<Uuid>>;
/// A transaction's body, run on its reads and writes and on the children
/// listed for it; may run more than once.
pub type Body<'a> = &'a dyn Fn(&dyn RawTx, &Scanned) -> TxResult<()>;
/// A future a backend answers with.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Held while a command with a serial key runs, so that commands with the
/// same key on other servers wait; released when dropped.
pub type SerialLock = Box<dyn Send>;

/// Why a transaction's body stops.
#[derive(Debug)]
pub enum TxError {
    /// The body refused: the transaction writes nothing and the error is
    /// the command's answer.
    Abort(Error),
    /// Another transaction got in the way: the backend reruns the body.
    Conflict,
}

/// What a transaction body returns.
pub type TxResult<T> = std::result::Result<T, TxError>;

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        TxError::Abort(e)
    }
}

/// Which way a range is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Smallest key first.
    Ascending,
    /// Largest key first.
    Descending,
}

/// Reads and writes inside one transaction, as it sees the database.
pub trait RawTx {
    /// The value under `key`, with this transaction's own writes.
    fn get(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>>;
    /// Stores `value` under `key`.
    fn insert(&self, key: &[u8], value: &[u8]) -> TxResult<()>;
    /// Removes what is under `key`, if anything.
    fn remove(&self, key: &[u8]) -> TxResult<()>;
}

/// What one read of other servers' changes found.
pub struct Changes {
    /// The ids they named (`None`: more than can be told).
    pub ids: Option<Vec<Uuid>>,
    /// Every transaction whose revision is below it was finished when the
    /// read started, so it is among these changes or earlier ones.
    pub horizon: u64,
}

/// A key–value database with serialisable transactions.
pub trait Backend: Send + Sync {
    /// The value under `key`, as last committed.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// The rows with `start <= key < end`, in `order`. Rows committed while
    /// the iterator runs may or may not be seen.
    fn range(&self, start: &[u8], end: &[u8], order: Order) -> Rows<'_>;

    /// Runs `body` as one serialisable transaction, after listing the child
    /// ids under each of `prefixes` (at most
    /// [`MAX_CASCADE_ROWS`](super::MAX_CASCADE_ROWS) each) so that no write
    /// can land between that listing and the commit. Reruns the body on
    /// conflict; an abort writes nothing.
    fn transact(&self, prefixes: &[Vec<u8>], body: Body<'_>) -> Result<()>;

    /// Writes `rows` outside any transaction, in order (`None`: a removal):
    /// for migrations and copies, never for a command.
    fn write_rows(&self, rows: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()>;

    /// Runs `read` while no transaction commits, on any server of this
    /// database.
    fn quiesced(&self, read: &mut dyn FnMut()) -> Result<()>;

    /// Resolves once every transaction committed before the call is
    /// durable.
    fn flush(&self) -> Pending<'_, Result<()>>;

    /// [`flush`](Self::flush), blocking the calling thread.
    fn flush_blocking(&self) -> Result<()>;

    /// Waits until no command with serial key `key` (a stable hash) runs on
    /// another server of this database, and holds it off until the lock
    /// is dropped; `None` when no other server can write this database
    /// (the caller's own lock is then enough).
    fn lock_serial(&self, key: i64) -> Result<Option<SerialLock>>;

    /// Whether other processes may write this database (then cached reads
    /// must catch up with them, see `changes_elsewhere`).
    fn shared(&self) -> bool;

    /// The ids of check records other servers wrote since the last call
    /// (`None`: more changed than can be told, so everything is suspect),
    /// in one read that starts now: a write another server acknowledged
    /// before the call is among them. Only called when `shared`; callers
    /// share reads (`store::freshness`).
    fn changes_elsewhere(&self) -> Result<Changes>;

    /// A revision every transaction committed before the call is below:
    /// once a read's [`Changes::horizon`] reaches it, they are all read.
    /// `None` when no other server writes this database.
    fn revision(&self) -> Result<Option<u64>>;

    /// Where the data lives, for messages (a directory, or a database URL
    /// without its password).
    fn location(&self) -> String;

    /// Bytes the data takes: on disk for an embedded database, Warden's
    /// tables with their indexes on a shared one.
    fn size_bytes(&self) -> Result<u64>;
}

/// The children of `prefix` among `keys` (each key `prefix | child id`),
/// or a conflict past [`MAX_CASCADE_ROWS`](super::MAX_CASCADE_ROWS).
pub(super) fn children(keys: impl Iterator<Item = Result<Vec<u8>>>) -> Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    for key in keys {
        if ids.len() == super::MAX_CASCADE_ROWS {
            return Err(Error::conflict(
                "cascade_too_large",
                format!(
                    "the change would touch more than {} dependent records (MAX_CASCADE_ROWS)",
                    super::MAX_CASCADE_ROWS
                ),
            ));
        }
        ids.push(super::keys::trailing_uuid(&key?));
    }
    Ok(ids)
}

/// Runs `f`, which blocks its thread on I/O, without stalling the caller's
/// runtime: a worker of a multi-threaded runtime hands its other tasks on
/// first; a single-threaded runtime (as in `#[tokio::test]`) cannot, so `f`
/// runs on a thread of its own.
pub(super) fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::CurrentThread) => std::thread::scope(|scope| {
            scope
                .spawn(f)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        Ok(_) => tokio::task::block_in_place(f),
        Err(_) => f(),
    }
}
