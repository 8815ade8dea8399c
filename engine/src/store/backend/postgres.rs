//! The shared backend: one PostgreSQL database that any number of Warden
//! servers use at once. Keys and values are the sled backend's bytes, in one
//! table ordered by key (`bytea` compares bytewise, as sled does), so every
//! index and every record is the same on both.
//!
//! Every transaction is SERIALIZABLE: PostgreSQL then aborts whichever of
//! two transactions would make their outcome differ from some serial order
//! (SQLSTATE 40001), and the body runs again, as sled reruns it on a
//! conflict. That keeps each command's invariants (one charge per seat, no
//! balance below its floor, the last admin) across servers, not only within
//! one.
//!
//! Other servers' writes reach this one's caches through
//! `warden_check_changes`: every transaction that writes a record checks
//! read adds the ids its keys name, tagged with its transaction id; see
//! [`Postgres::changes_elsewhere`](Backend::changes_elsewhere).
//!
//! The driver is async (tokio-postgres, pooled by deadpool); the store is
//! synchronous (a command's body reads as it decides). The backend runs the
//! driver on a runtime of its own and blocks the calling thread on it,
//! telling the caller's runtime first when it is one (`blocking`).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};
use uuid::Uuid;

use super::{
    children, Backend, Body, Changes, Order, Pending, RawTx, Rows, Scanned, TxError, TxResult,
};
use crate::error::{Error, Result};
use crate::store::keys;

/// Connections one server keeps to the database at most.
pub const MAX_CONNECTIONS: usize = 32;
/// Connections one server keeps for serial locks (`lock_serial`), apart
/// from the others: a lock holder needs one of those for its transaction,
/// so waiting lock takers must not be able to take them all.
pub const MAX_SERIAL_CONNECTIONS: usize = 16;
/// How long a command waits for its serial key before a 503.
pub const SERIAL_WAIT: Duration = Duration::from_secs(10);
/// How long a request waits for a free connection, or for a new one to
/// open, before it is refused with a 503.
pub const CONNECTION_WAIT: Duration = Duration::from_secs(10);
/// How many times a transaction runs before a persistent conflict is given
/// up on with a 503 (each run waits a little longer).
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 200;
/// How long the rows of `warden_check_changes` are kept. A server that has
/// not read them for half this long forgets everything it cached.
pub const CHANGE_RETENTION: Duration = Duration::from_secs(600);
/// Rows one round trip of a range scan fetches.
const SCAN_CHUNK: i64 = 256;

/// The tables, created if missing (each statement is idempotent).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS warden_kv (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE IF NOT EXISTS warden_check_changes (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at timestamptz NOT NULL DEFAULT now(),
    id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS warden_check_changes_xid ON warden_check_changes (xid);
";
/// Serialises servers creating the schema at once (an arbitrary constant).
const SCHEMA_LOCK: i64 = 0x5741_5244_454e;

/// A PostgreSQL database, pooled.
pub struct Postgres {
    /// `None` only while dropping (see `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// Connections that hold serial locks (see [`MAX_SERIAL_CONNECTIONS`]).
    serial_pool: Pool,
    location: String,
    /// The oldest transaction still running when changes were last read:
    /// the next read starts there. `None` before the first read.
    changes_from: std::sync::Mutex<Option<(u64, Instant)>>,
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or a
    /// key=value string) and creates Warden's tables if they are missing.
    pub fn connect(url: &str) -> anyhow::Result<Postgres> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("{} is not a PostgreSQL URL: {e}", redacted(url)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("postgres")
            .enable_all()
            .build()?;
        let pool = |size| {
            let manager = Manager::from_config(
                config.clone(),
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(CONNECTION_WAIT))
                .create_timeout(Some(CONNECTION_WAIT))
                .build()
        };
        let backend = Postgres {
            runtime: Some(runtime),
            pool: pool(MAX_CONNECTIONS)?,
            serial_pool: pool(MAX_SERIAL_CONNECTIONS)?,
            location: redacted(url),
            changes_from: std::sync::Mutex::new(None),
        };
        backend
            .create_schema()
            .map_err(|e| anyhow::anyhow!("cannot use {}: {e}", backend.location))?;
        Ok(backend)
    }

    fn create_schema(&self) -> Result<()> {
        self.block_on(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(storage)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .await
                .map_err(storage)?;
            tx.batch_execute(SCHEMA).await.map_err(storage)?;
            tx.commit().await.map_err(storage)
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| Error::Unavailable {
            code: "database_unavailable",
            message: format!("no connection to the database: {e}"),
        })
    }

    /// Runs `future` on the backend's runtime, blocking this thread.
    fn block_on<F: Future + Send>(&self, future: F) -> F::Output
    where
        F::Output: Send,
    {
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        super::blocking(|| runtime.block_on(future))
    }

    /// One attempt at a transaction: `Ok(None)` when it must run again.
    fn attempt(&self, prefixes: &[Vec<u8>], body: Body<'_>) -> Result<Option<()>> {
        let mut client = self.block_on(self.client())?;
        let tx = self
            .block_on(
                client
                    .build_transaction()
                    .isolation_level(IsolationLevel::Serializable)
                    .start(),
            )
            .map_err(storage)?;
        let mut scanned = Scanned::with_capacity(prefixes.len());
        for prefix in prefixes {
            let end = crate::store::prefix_end(prefix);
            let limit = crate::store::MAX_CASCADE_ROWS as i64 + 1;
            let rows = self.block_on(tx.query(
                "SELECT k FROM warden_kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3",
                &[prefix, &end, &limit],
            ));
            let Some(rows) = retryable(rows)? else {
                return Ok(None);
            };
            let keys = rows.iter().map(|row| Ok(row.get::<_, Vec<u8>>(0)));
            scanned.insert(prefix.clone(), children(keys)?);
        }
        let staged = PgTx {
            backend: self,
            tx: &tx,
            writes: RefCell::default(),
        };
        match body(&staged, &scanned) {
            Ok(()) => {}
            Err(TxError::Conflict) => return Ok(None),
            Err(TxError::Abort(e)) => return Err(e),
        }
        let writes = staged.writes.into_inner();
        if retryable(self.block_on(write(&tx, writes)))?.is_none() {
            return Ok(None);
        }
        retryable(self.block_on(tx.commit()))
    }
}

/// Writes a transaction's staged rows and the ids of the check records
/// among them, in three statements.
async fn write(
    tx: &deadpool_postgres::Transaction<'_>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> std::result::Result<(), tokio_postgres::Error> {
    let (mut put_keys, mut put_values, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    let mut check_ids: Vec<Uuid> = Vec::new();
    for (key, value) in writes {
        check_ids.extend(keys::check_ids(&key));
        match value {
            Some(value) => {
                put_keys.push(key);
                put_values.push(value);
            }
            None => removed.push(key),
        }
    }
    if !put_keys.is_empty() {
        tx.execute(
            "INSERT INTO warden_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
             ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            &[&put_keys, &put_values],
        )
        .await?;
    }
    if !removed.is_empty() {
        tx.execute("DELETE FROM warden_kv WHERE k = ANY($1)", &[&removed])
            .await?;
    }
    if !check_ids.is_empty() {
        check_ids.sort();
        check_ids.dedup();
        tx.execute(
            "INSERT INTO warden_check_changes (id) SELECT unnest($1::uuid[])",
            &[&check_ids],
        )
        .await?;
    }
    Ok(())
}

impl Backend for Postgres {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.block_on(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached("SELECT v FROM warden_kv WHERE k = $1")
                .await
                .map_err(storage)?;
            let row = client
                .query_opt(&statement, &[&key])
                .await
                .map_err(storage)?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn range(&self, start: &[u8], end: &[u8], order: Order) -> Rows<'_> {
        Box::new(PgRows {
            backend: self,
            start: start.to_vec(),
            end: end.to_vec(),
            order,
            fetched: VecDeque::new(),
            exhausted: false,
        })
    }

    fn transact(&self, prefixes: &[Vec<u8>], body: Body<'_>) -> Result<()> {
        for attempt in 0..MAX_TRANSACTION_ATTEMPTS {
            if self.attempt(prefixes, body)?.is_some() {
                return Ok(());
            }
            // Conflicting transactions that rerun at once tend to meet
            // again: spread them out, a little more each time.
            let jitter = u64::from(Uuid::new_v4().as_bytes()[0]) % 4;
            std::thread::sleep(Duration::from_millis(u64::from(attempt.min(20)) + jitter));
        }
        Err(Error::Unavailable {
            code: "write_contention",
            message: format!(
                "the change conflicted with others {MAX_TRANSACTION_ATTEMPTS} times \
                 (MAX_TRANSACTION_ATTEMPTS); retry"
            ),
        })
    }

    fn write_rows(&self, rows: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.block_on(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(storage)?;
            write(&tx, rows.iter().cloned().collect())
                .await
                .map_err(storage)?;
            tx.commit().await.map_err(storage)
        })
    }

    fn quiesced(&self, read: &mut dyn FnMut()) -> Result<()> {
        // SHARE mode lets readers in and keeps every writer (INSERT,
        // UPDATE, DELETE take ROW EXCLUSIVE) out, on every server, until
        // this transaction ends.
        let mut client = self.block_on(self.client())?;
        let tx = self.block_on(client.transaction()).map_err(storage)?;
        self.block_on(tx.batch_execute("LOCK TABLE warden_kv IN SHARE MODE"))
            .map_err(storage)?;
        read();
        self.block_on(tx.commit()).map_err(storage)
    }

    fn flush(&self) -> Pending<'_, Result<()>> {
        // A commit is durable when PostgreSQL acknowledges it
        // (synchronous_commit, its default).
        Box::pin(std::future::ready(Ok(())))
    }

    fn flush_blocking(&self) -> Result<()> {
        Ok(())
    }

    /// Reads `warden_check_changes` from the oldest transaction that was
    /// still running at the last read: a transaction older than that had
    /// ended by then and was read then. The snapshot's own `xmin` is where
    /// the next read starts.
    fn lock_serial(&self, key: i64) -> Result<Option<super::SerialLock>> {
        let client = self.block_on(async {
            let client = self
                .serial_pool
                .get()
                .await
                .map_err(|e| Error::Unavailable {
                    code: "database_unavailable",
                    message: format!("no connection to the database: {e}"),
                })?;
            let wait = format!("SET lock_timeout = {}", SERIAL_WAIT.as_millis());
            client.batch_execute(&wait).await.map_err(storage)?;
            client
                .execute("SELECT pg_advisory_lock($1)", &[&key])
                .await
                .map_err(|e| match e.code() {
                    Some(&SqlState::LOCK_NOT_AVAILABLE) => Error::Unavailable {
                        code: "serial_lock_timeout",
                        message: format!(
                            "another server held this org's changes for {} s (SERIAL_WAIT); retry",
                            SERIAL_WAIT.as_secs()
                        ),
                    },
                    _ => storage(e),
                })?;
            Ok::<_, Error>(client)
        })?;
        let runtime = self.runtime.as_ref().expect("the runtime lives until drop");
        Ok(Some(Box::new(AdvisoryLock {
            client: Some(client),
            runtime: runtime.handle().clone(),
        })))
    }

    fn shared(&self) -> bool {
        true
    }

    fn changes_elsewhere(&self) -> Result<Changes> {
        let mut from = self.changes_from.lock().unwrap_or_else(|e| e.into_inner());
        let forgotten = from
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() > CHANGE_RETENTION / 2);
        let start = match from.as_ref() {
            Some((xid, _)) if !forgotten => *xid,
            _ => 0,
        };
        let read_at = Instant::now();
        let (xmin, ids) = self.block_on(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, \
                     array(SELECT id FROM warden_check_changes WHERE xid >= $1::text::xid8)",
                )
                .await
                .map_err(storage)?;
            let row = client
                .query_one(&statement, &[&start.to_string()])
                .await
                .map_err(storage)?;
            Ok::<_, Error>((row.get::<_, String>(0), row.get::<_, Vec<Uuid>>(1)))
        })?;
        let horizon = parse_xid(&xmin)?;
        let first = from.is_none();
        *from = Some((horizon, read_at));
        let ids = if first {
            Some(Vec::new())
        } else if forgotten {
            None
        } else {
            if Uuid::new_v4().as_bytes()[0] == 0 {
                self.prune_changes()?;
            }
            Some(ids)
        };
        Ok(Changes { ids, horizon })
    }

    fn revision(&self) -> Result<Option<u64>> {
        // The first transaction id not yet assigned: every transaction
        // committed before now has a lower one.
        let xmax = self.block_on(async {
            let client = self.client().await?;
            let row = client
                .query_one("SELECT pg_snapshot_xmax(pg_current_snapshot())::text", &[])
                .await
                .map_err(storage)?;
            Ok::<_, Error>(row.get::<_, String>(0))
        })?;
        parse_xid(&xmax).map(Some)
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn size_bytes(&self) -> Result<u64> {
        self.block_on(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT (pg_total_relation_size('warden_kv') \
                     + pg_total_relation_size('warden_check_changes'))::bigint",
                    &[],
                )
                .await
                .map_err(storage)?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }
}

impl Postgres {
    /// Deletes change rows older than [`CHANGE_RETENTION`] (about one read
    /// in 256 does it).
    fn prune_changes(&self) -> Result<()> {
        let seconds = CHANGE_RETENTION.as_secs_f64();
        self.block_on(async {
            let client = self.client().await?;
            client
                .execute(
                    "DELETE FROM warden_check_changes WHERE at < now() - make_interval(secs => $1)",
                    &[&seconds],
                )
                .await
                .map_err(storage)?;
            Ok(())
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which a caller's runtime forbids.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A session's advisory lock; unlocked (and its connection pooled again)
/// on drop, without blocking the dropping thread.
struct AdvisoryLock {
    client: Option<deadpool_postgres::Client>,
    runtime: tokio::runtime::Handle,
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.runtime.spawn(async move {
                if client
                    .batch_execute("SELECT pg_advisory_unlock_all()")
                    .await
                    .is_err()
                {
                    // A session that cannot unlock must not be reused.
                    drop(deadpool_postgres::Object::take(client));
                }
            });
        }
    }
}

/// A transaction's reads and its staged writes (applied at commit, in one
/// round trip each for puts and removals).
struct PgTx<'a, 't> {
    backend: &'a Postgres,
    tx: &'a deadpool_postgres::Transaction<'t>,
    writes: RefCell<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl RawTx for PgTx<'_, '_> {
    fn get(&self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        if let Some(staged) = self.writes.borrow().get(key) {
            return Ok(staged.clone());
        }
        let row = self.backend.block_on(async {
            let statement = self
                .tx
                .prepare_cached("SELECT v FROM warden_kv WHERE k = $1")
                .await?;
            self.tx.query_opt(&statement, &[&key]).await
        });
        match retryable(row)? {
            Some(row) => Ok(row.map(|row| row.get(0))),
            None => Err(TxError::Conflict),
        }
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.writes
            .borrow_mut()
            .insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> TxResult<()> {
        self.writes.borrow_mut().insert(key.to_vec(), None);
        Ok(())
    }
}

/// Rows of a range, fetched [`SCAN_CHUNK`] at a time.
struct PgRows<'a> {
    backend: &'a Postgres,
    /// What is left to read: `start <= key < end`.
    start: Vec<u8>,
    end: Vec<u8>,
    order: Order,
    fetched: VecDeque<super::Row>,
    exhausted: bool,
}

impl PgRows<'_> {
    fn fetch(&mut self) -> Result<()> {
        let query = match self.order {
            Order::Ascending => {
                "SELECT k, v FROM warden_kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3"
            }
            Order::Descending => {
                "SELECT k, v FROM warden_kv WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3"
            }
        };
        let (start, end) = (&self.start, &self.end);
        let rows = self.backend.block_on(async {
            let client = self.backend.client().await?;
            let statement = client.prepare_cached(query).await.map_err(storage)?;
            client
                .query(&statement, &[start, end, &SCAN_CHUNK])
                .await
                .map_err(storage)
        })?;
        self.exhausted = (rows.len() as i64) < SCAN_CHUNK;
        for row in rows {
            self.fetched.push_back((row.get(0), row.get(1)));
        }
        if let Some((last, _)) = self.fetched.back() {
            match self.order {
                // The smallest key after `last`.
                Order::Ascending => self.start = [last.as_slice(), &[0]].concat(),
                Order::Descending => self.end = last.clone(),
            }
        }
        Ok(())
    }
}

impl Iterator for PgRows<'_> {
    type Item = Result<super::Row>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fetched.is_empty() && !self.exhausted {
            if let Err(e) = self.fetch() {
                self.exhausted = true;
                return Some(Err(e));
            }
        }
        self.fetched.pop_front().map(Ok)
    }
}

/// A driver error as a storage error: what failed, with the server's own
/// message when it sent one.
/// A transaction id (`xid8`) as PostgreSQL writes it.
fn parse_xid(text: &str) -> Result<u64> {
    text.parse()
        .map_err(|_| Error::Storage(format!("PostgreSQL answered {text:?} for a transaction id")))
}

fn storage(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Storage(format!("PostgreSQL: {}", db.message())),
        None if e.is_closed() => Error::Unavailable {
            code: "database_unavailable",
            message: format!("the connection to the database closed: {e}"),
        },
        None => Error::Storage(format!("PostgreSQL: {e}")),
    }
}

/// `Ok(None)` for the errors after which a serialisable transaction is
/// run again: a serialisation failure or a deadlock.
fn retryable<T>(result: std::result::Result<T, tokio_postgres::Error>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e)
            if matches!(
                e.code(),
                Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(storage(e)),
    }
}

/// `url` without its password, for messages and logs.
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None if url.contains("password") => "(a PostgreSQL connection string)".to_owned(),
        None => url.to_owned(),
    }
}

/// A new, empty database on the test cluster (`WARDEN_TEST_POSTGRES`, set by
/// `tests/postgres.sh`), as a URL.
#[cfg(test)]
pub(crate) fn test_database() -> String {
    let admin = std::env::var("WARDEN_TEST_POSTGRES").expect(
        "WARDEN_TEST_POSTGRES is not set: run the tests through tests/postgres.sh \
         (it starts a throwaway PostgreSQL), e.g. tests/postgres.sh cargo test --workspace",
    );
    let name = format!("warden_unit_{}", Uuid::new_v4().simple());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&admin, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    });
    let (base, _) = admin.rsplit_once('/').expect("a URL naming a database");
    format!("{base}/{name}")
}
