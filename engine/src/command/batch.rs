//! Batches: commands that name the same lane (`Command::batch_lane`: the
//! usage posts of one org) and arrive while a batch of that lane is being
//! applied wait, and are applied together in the next one: one sled
//! transaction (`Store::transact_each`), so they neither conflict with each
//! other nor pay for a transaction each. Every command of a batch is still
//! all or nothing, with its own audit and idempotency records and its own
//! answer: one that fails writes nothing and gets its own error, the
//! others commit.
//!
//! The first command to find its lane idle leads: it applies the oldest
//! waiting commands (itself first), then hands the lead to the oldest
//! command still waiting, so no caller waits for more than the batch
//! ahead of its own.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Error;
use crate::store::{BatchBody, Store, Tx, TxResult};

/// Lanes; lane keys that hash alike share one (their commands are then
/// batched together, which is harmless).
const BATCH_LANES: usize = 64;
/// The most commands one batch applies: bounds a transaction's size and
/// how long the commands in it wait for each other.
pub const MAX_BATCH_COMMANDS: usize = 128;

/// One command's part of a batch.
pub(super) trait Stage: Send + Sync {
    /// Stages the command's writes on `tx` (its own layer of the batch's
    /// transaction); may run more than once (sled retries on conflict).
    fn stage(&self, tx: &Tx, now: OffsetDateTime) -> TxResult<()>;
    /// The batch committed: `None` if this command's writes are in it,
    /// else why they are not.
    fn finish(&self, aborted: Option<Error>);
    /// Where its caller waits.
    fn turn(&self) -> &Turn;
}

/// A waiting command's turn: still waiting, asked to lead, or done.
#[derive(Default)]
pub(super) struct Turn {
    state: Mutex<TurnState>,
    wake: Condvar,
}

#[derive(Clone, Copy, Default, PartialEq)]
enum TurnState {
    #[default]
    Waiting,
    Lead,
    Done,
}

impl Turn {
    fn lock(&self) -> MutexGuard<'_, TurnState> {
        // A plain value replaced under the lock: a panic cannot tear it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, state: TurnState) {
        *self.lock() = state;
        self.wake.notify_one();
    }

    /// Waits until the command is done (`true`) or asked to lead (`false`).
    fn wait(&self) -> bool {
        let mut state = self.lock();
        while *state == TurnState::Waiting {
            state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        *state == TurnState::Done
    }
}

#[derive(Default)]
struct Lane {
    waiting: VecDeque<Arc<dyn Stage>>,
    /// A command is applying a batch of this lane (then `waiting` may fill).
    busy: bool,
}

/// The batch lanes of one `App`.
pub struct Batches {
    lanes: [Mutex<Lane>; BATCH_LANES],
}

impl Default for Batches {
    fn default() -> Self {
        Batches {
            lanes: std::array::from_fn(|_| Mutex::default()),
        }
    }
}

impl Batches {
    fn lane(&self, key: Uuid) -> MutexGuard<'_, Lane> {
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        let lane = &self.lanes[(hasher.finish() % BATCH_LANES as u64) as usize];
        // The queue is changed whole under the lock: a panic cannot tear it.
        lane.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `stage` in a batch of lane `key`; returns once it finished.
    pub(super) fn run(&self, store: &Store, key: Uuid, stage: Arc<dyn Stage>) {
        let lead = {
            let mut lane = self.lane(key);
            lane.waiting.push_back(Arc::clone(&stage));
            !std::mem::replace(&mut lane.busy, true)
        };
        if !lead && stage.turn().wait() {
            return;
        }
        // Leading: this command is the oldest waiting one (an idle lane
        // has none waiting; the lead goes to the oldest).
        let batch: Vec<Arc<dyn Stage>> = {
            let mut lane = self.lane(key);
            let size = lane.waiting.len().min(MAX_BATCH_COMMANDS);
            lane.waiting.drain(..size).collect()
        };
        let aborted = apply(store, &batch);
        {
            let mut lane = self.lane(key);
            match lane.waiting.front() {
                Some(next) => next.turn().set(TurnState::Lead),
                None => lane.busy = false,
            }
        }
        for (stage, aborted) in batch.iter().zip(aborted) {
            stage.finish(aborted);
            stage.turn().set(TurnState::Done);
        }
    }
}

/// Runs the batch in one transaction; each command's abort error (`None`:
/// committed). If the transaction itself fails, or a command panics (a
/// bug: the transaction then writes nothing), every command gets why, and
/// the lane goes on: its waiting commands must not wait forever.
fn apply(store: &Store, batch: &[Arc<dyn Stage>]) -> Vec<Option<Error>> {
    let now = OffsetDateTime::now_utc();
    let bodies: Vec<_> = batch
        .iter()
        .map(|stage| move |tx: &Tx| stage.stage(tx, now))
        .collect();
    let bodies: Vec<BatchBody> = bodies.iter().map(|b| b as _).collect();
    let failure = match std::panic::catch_unwind(AssertUnwindSafe(|| store.transact_each(&bodies)))
    {
        Ok(Ok(aborted)) => return aborted,
        Ok(Err(e)) => e,
        Err(_) => Error::Internal("a command of this batch panicked; nothing was written".into()),
    };
    batch.iter().map(|_| Some(copy(&failure))).collect()
}

/// The same failure for another command (errors are not `Clone`).
fn copy(failure: &Error) -> Error {
    match failure {
        Error::Internal(message) => Error::Internal(message.clone()),
        Error::Storage(message) => Error::Storage(message.clone()),
        other => Error::Storage(other.to_string()),
    }
}
