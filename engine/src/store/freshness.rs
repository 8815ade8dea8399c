//! Reading other servers' writes before a check, shared by the checks that
//! wait at the same time. A check needs a read that *started after* it
//! arrived (an earlier one may have missed a write acknowledged just
//! before); while one read runs, every check that arrives waits for the
//! next, and that one read serves them all. So under load a server makes
//! about one round trip per round trip's worth of checks, not one per
//! check.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::{Error, Result};

/// Reads of other servers' changes: numbered, one at a time.
#[derive(Default)]
pub(super) struct CatchUp {
    state: Mutex<State>,
    finished: Condvar,
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
    /// Whether a caller is running reads.
    running: bool,
    /// When the last read that succeeded started: a caller that arrived
    /// before it needs no other.
    fresh_from: Option<Instant>,
}

impl CatchUp {
    fn state(&self) -> MutexGuard<'_, State> {
        // Numbers and a message, each updated whole under the lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once a run of `read` that started after `since` has
    /// finished: at once if one has, else this caller runs one if no one
    /// is reading, or waits for the next.
    pub(super) fn run(&self, since: Instant, read: impl Fn() -> Result<()> + Sync) -> Result<()> {
        if self.state().fresh_from.is_some_and(|fresh| fresh >= since) {
            return Ok(());
        }
        super::backend::blocking(|| self.wait_or_lead(&read))
    }

    fn wait_or_lead(&self, read: &impl Fn() -> Result<()>) -> Result<()> {
        let mut state = self.state();
        state.requested = state.started + 1;
        let ticket = state.requested;
        if state.running {
            while state.finished < ticket {
                state = self.finished.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        } else {
            state.running = true;
            while state.requested > state.started {
                state.started += 1;
                let number = state.started;
                drop(state);
                let started_at = Instant::now();
                let outcome = read().err().map(|e| e.to_string());
                state = self.state();
                state.finished = number;
                if outcome.is_none() {
                    state.fresh_from = Some(started_at);
                }
                state.error = outcome;
                self.finished.notify_all();
            }
            state.running = false;
        }
        match &state.error {
            None => Ok(()),
            Some(error) => Err(Error::Unavailable {
                code: "database_unavailable",
                message: format!("cannot read other servers' changes: {error}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn every_caller_waits_for_a_read_that_started_after_it_and_reads_are_shared() {
        let catch_up = Arc::new(CatchUp::default());
        let reads = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (catch_up, reads) = (catch_up.clone(), reads.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let before = reads.load(Ordering::SeqCst);
                        let seen = AtomicU64::new(0);
                        catch_up
                            .run(std::time::Instant::now(), || {
                                std::thread::sleep(std::time::Duration::from_micros(200));
                                reads.fetch_add(1, Ordering::SeqCst);
                                Ok(())
                            })
                            .unwrap();
                        seen.store(reads.load(Ordering::SeqCst), Ordering::SeqCst);
                        assert!(
                            seen.load(Ordering::SeqCst) > before,
                            "no read ran for this call"
                        );
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
    fn a_caller_that_arrived_before_a_finished_read_needs_no_other() {
        let catch_up = CatchUp::default();
        let reads = AtomicU64::new(0);
        let read = || {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        let asked_at = std::time::Instant::now();
        catch_up.run(asked_at, read).unwrap();
        catch_up.run(asked_at, read).unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        catch_up.run(std::time::Instant::now(), read).unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
