//! Reading other servers' writes before a check, shared by the checks that
//! wait at the same time. A check needs a read that *started after* it
//! arrived (an earlier one may have missed a write acknowledged just
//! before); while one read runs, every check that arrives waits for the
//! next, and that one read serves them all. So under load a server makes
//! about one round trip per round trip's worth of checks, not one per
//! check.
//!
//! The reads run on a thread of their own, started by the first request
//! and ended after [`READER_IDLE`] without one, so a waiting check holds
//! no thread: an HTTP check awaits its read ([`CatchUp::wait`]) and its
//! worker serves other connections meanwhile. Blocking callers
//! ([`CatchUp::run`]) wait on a condition variable.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::error::{Error, Result};

/// One read of other servers' changes; answers its horizon (see
/// `backend::Changes`).
pub(super) type Read = Box<dyn Fn() -> Result<u64> + Send + Sync>;

/// How long the reader thread waits for a request before it ends (the next
/// request starts another).
const READER_IDLE: Duration = Duration::from_secs(1);

/// Reads of other servers' changes: numbered, one at a time.
pub(super) struct CatchUp {
    read: Read,
    state: Mutex<State>,
    /// Signalled when a read is requested (the reader waits for one) and
    /// when one finishes (blocking callers wait for theirs).
    changed: Condvar,
    /// The number of the last finished read, for callers that await it.
    finished: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// Reads started so far; read number `started` may be running.
    started: u64,
    /// The highest read number a caller waits for.
    requested: u64,
    /// The last finished read, and its error.
    finished: u64,
    error: Option<String>,
    /// Whether the reader thread runs.
    reader: bool,
    /// When the last read that succeeded started: a caller that arrived
    /// before it needs no other.
    fresh_from: Option<Instant>,
    /// That read's horizon: every write with a lower revision is read.
    horizon: u64,
}

impl CatchUp {
    pub(super) fn new(read: Read) -> CatchUp {
        CatchUp {
            read,
            state: Mutex::default(),
            changed: Condvar::new(),
            finished: watch::Sender::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Numbers and a message, each updated whole under the lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the last read that saw every write below `revision` started,
    /// if one has: a caller as fresh as that needs no other read.
    pub(super) fn fresh_at(&self, revision: u64) -> Option<Instant> {
        let state = self.state();
        state.fresh_from.filter(|_| state.horizon >= revision)
    }

    /// Returns once a read that started after `since` has finished,
    /// blocking the calling thread until then.
    pub(super) fn run(self: &Arc<Self>, since: Instant) -> Result<()> {
        let Some(ticket) = self.request(since)? else {
            return Ok(());
        };
        super::backend::blocking(|| {
            let mut state = self.state();
            while state.finished < ticket {
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            outcome(&state)
        })
    }

    /// Resolves once a read that started after `since` has finished.
    pub(super) async fn wait(self: &Arc<Self>, since: Instant) -> Result<()> {
        let Some(ticket) = self.request(since)? else {
            return Ok(());
        };
        let mut finished = self.finished.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = finished.wait_for(|finished| *finished >= ticket).await;
        outcome(&self.state())
    }

    /// The number of the read a caller that arrived at `since` waits for,
    /// after starting the reader if it sleeps; `None` if one that started
    /// later has already succeeded.
    fn request(self: &Arc<Self>, since: Instant) -> Result<Option<u64>> {
        let mut state = self.state();
        if state.fresh_from.is_some_and(|fresh| fresh >= since) {
            return Ok(None);
        }
        state.requested = state.started + 1;
        if state.reader {
            self.changed.notify_all();
        } else {
            let catch_up = Arc::clone(self);
            std::thread::Builder::new()
                .name("warden-catch-up".into())
                .spawn(move || catch_up.read_while_requested())
                .map_err(|e| Error::Internal(format!("cannot start the catch-up reader: {e}")))?;
            state.reader = true;
        }
        Ok(Some(state.requested))
    }

    /// The reader thread: runs reads while callers wait for them, and ends
    /// after [`READER_IDLE`] without a request.
    fn read_while_requested(&self) {
        let mut state = self.state();
        loop {
            if state.requested > state.started {
                state.started += 1;
                let number = state.started;
                drop(state);
                let started_at = Instant::now();
                let read = (self.read)();
                state = self.state();
                state.finished = number;
                if let Ok(horizon) = read {
                    state.fresh_from = Some(started_at);
                    state.horizon = horizon;
                }
                state.error = read.err().map(|e| e.to_string());
                self.changed.notify_all();
                self.finished.send_replace(number);
                continue;
            }
            let (next, waited) = self
                .changed
                .wait_timeout(state, READER_IDLE)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            if waited.timed_out() && state.requested <= state.started {
                state.reader = false;
                return;
            }
        }
    }
}

/// What a caller whose read has finished answers: the last read's error.
fn outcome(state: &State) -> Result<()> {
    match &state.error {
        None => Ok(()),
        Some(error) => Err(Error::Unavailable {
            code: "database_unavailable",
            message: format!("cannot read other servers' changes: {error}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A catch-up whose reads take `took` and are counted in the returned
    /// counter.
    fn counted(took: Duration) -> (Arc<CatchUp>, Arc<AtomicU64>) {
        let reads = Arc::new(AtomicU64::new(0));
        let counter = reads.clone();
        let read = Box::new(move || {
            std::thread::sleep(took);
            Ok(counter.fetch_add(1, Ordering::SeqCst))
        });
        (Arc::new(CatchUp::new(read)), reads)
    }

    #[test]
    fn every_caller_waits_for_a_read_that_started_after_it_and_reads_are_shared() {
        let (catch_up, reads) = counted(Duration::from_micros(200));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (catch_up, reads) = (catch_up.clone(), reads.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let before = reads.load(Ordering::SeqCst);
                        catch_up.run(Instant::now()).unwrap();
                        let after = reads.load(Ordering::SeqCst);
                        assert!(after > before, "no read ran for this call");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let reads = reads.load(Ordering::SeqCst);
        assert!(
            reads < 16 * 50,
            "{reads} reads for 800 calls: none was shared"
        );
    }

    #[test]
    fn awaiting_callers_also_wait_for_a_later_read_and_share_it() {
        let (catch_up, reads) = counted(Duration::from_micros(200));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (catch_up, reads) = (catch_up.clone(), reads.clone());
                    tokio::spawn(async move {
                        for _ in 0..50 {
                            let before = reads.load(Ordering::SeqCst);
                            catch_up.wait(Instant::now()).await.unwrap();
                            assert!(reads.load(Ordering::SeqCst) > before);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        assert!(reads.load(Ordering::SeqCst) < 16 * 50);
    }

    #[test]
    fn a_caller_that_arrived_before_a_finished_read_needs_no_other() {
        let (catch_up, reads) = counted(Duration::ZERO);
        let asked_at = Instant::now();
        catch_up.run(asked_at).unwrap();
        catch_up.run(asked_at).unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        catch_up.run(Instant::now()).unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_read_fails_its_callers_and_the_next_read_may_succeed() {
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let fail = failing.clone();
        let read = Box::new(move || match fail.load(Ordering::SeqCst) {
            true => Err(Error::Storage("down".into())),
            false => Ok(7),
        });
        let catch_up = Arc::new(CatchUp::new(read));
        let error = catch_up.run(Instant::now()).unwrap_err();
        assert!(error.to_string().contains("down"), "{error}");
        assert_eq!(catch_up.fresh_at(0), None, "no read succeeded yet");
        failing.store(false, Ordering::SeqCst);
        let before = Instant::now();
        catch_up.run(Instant::now()).unwrap();
        // That read saw everything below its horizon, 7, and no more.
        assert!(catch_up.fresh_at(7).is_some_and(|at| at >= before));
        assert_eq!(catch_up.fresh_at(8), None);
    }
}
