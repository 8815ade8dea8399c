//! Group commit: one flush serves every write that committed before it
//! started. A writer that wants durability takes a ticket (the number of the
//! next flush to start); the first writer with no flush running becomes the
//! leader and flushes on a blocking thread until no ticket is waiting, so N
//! concurrent writers cost about two fsyncs, not N.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::error::{Error, Result};

pub(super) struct GroupCommit {
    state: Mutex<FlushState>,
    done: watch::Sender<Flushed>,
}

#[derive(Default)]
struct FlushState {
    /// Flushes started so far; flush number `started` may be running.
    started: u64,
    /// The highest flush number a writer waits for (`started` or `started + 1`).
    requested: u64,
    /// Whether a leader is flushing.
    running: bool,
}

/// The last finished flush.
#[derive(Clone, Default)]
struct Flushed {
    number: u64,
    error: Option<Arc<str>>,
}

impl GroupCommit {
    pub(super) fn new() -> GroupCommit {
        GroupCommit {
            state: Mutex::new(FlushState::default()),
            done: watch::Sender::new(Flushed::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, FlushState> {
        // The state is three integers updated atomically under the lock: a
        // panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a flush that started after this call has finished.
    pub(super) async fn flush(self: &Arc<Self>, db: &sled::Db) -> Result<()> {
        let mut done = self.done.subscribe();
        let (ticket, lead) = {
            let mut state = self.state();
            state.requested = state.started + 1;
            let lead = !state.running;
            state.running = true;
            (state.requested, lead)
        };
        if lead {
            let (group, db) = (Arc::clone(self), db.clone());
            tokio::task::spawn_blocking(move || group.lead(&db));
        }
        let flushed = done
            .wait_for(|flushed| flushed.number >= ticket)
            .await
            .map_err(|_| Error::Internal("the flusher stopped".into()))?
            .clone();
        match flushed.error {
            None => Ok(()),
            Some(error) => Err(Error::Storage(format!("flush failed: {error}"))),
        }
    }

    /// Flushes until no writer waits for a flush that has not started.
    fn lead(&self, db: &sled::Db) {
        loop {
            let number = {
                let mut state = self.state();
                if state.requested <= state.started {
                    state.running = false;
                    return;
                }
                state.started += 1;
                state.started
            };
            let error = db.flush().err().map(|e| Arc::from(e.to_string()));
            self.done.send_replace(Flushed { number, error });
        }
    }
}
