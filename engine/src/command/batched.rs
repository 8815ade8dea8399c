//! Batched commands (`Command::batched`): validated, authorized and
//! consulted like any other, then handed to the store's batch queue, which
//! writes each with the others of its batch in one transaction and one
//! flush.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::transaction::{answer, write, Provenance, Written};
use super::{Command, Idempotency};
use crate::app::App;
use crate::error::{Error, Result};
use crate::store::batch::BatchMember;
use crate::store::{Tx, TxResult};

/// A command waiting in a batch, with what its transaction writes and,
/// once written, its answer.
struct BatchedCommand<C: Command> {
    command: C,
    provenance: Provenance,
    audit_id: Uuid,
    details: serde_json::Value,
    /// What the command's last write answered (a retried batch writes it
    /// again).
    written: Mutex<Option<Written<C>>>,
    /// Takes the answer, or why the command failed, to its caller.
    done: Mutex<Option<oneshot::Sender<Result<Written<C>>>>>,
}

impl<C: Command> BatchMember for BatchedCommand<C> {
    fn write(&self, tx: &Tx, now: OffsetDateTime) -> TxResult<()> {
        let written = write(
            tx,
            now,
            &self.provenance,
            &self.command,
            self.audit_id,
            &self.details,
        )?;
        *lock(&self.written) = Some(written);
        Ok(())
    }

    fn finish(&self, aborted: Option<Error>) {
        let outcome = match aborted {
            Some(error) => Err(error),
            None => Ok(lock(&self.written)
                .take()
                .expect("a committed command was written")),
        };
        if let Some(done) = lock(&self.done).take() {
            // A caller that stopped waiting (its connection closed) needs
            // no answer: the command committed or failed all the same.
            let _ = done.send(outcome);
        }
    }
}

/// Locks a slot that is only ever replaced whole (a panic cannot tear it).
fn lock<T>(slot: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// A batched command ready for its batch (see `store::batch`): its writes will
/// share one transaction and one flush with the other commands of its
/// batch.
pub struct AwaitingBatch<C: Command> {
    command: Arc<BatchedCommand<C>>,
    done: oneshot::Receiver<Result<Written<C>>>,
    idempotency: Option<Idempotency>,
}

impl<C: Command> AwaitingBatch<C> {
    pub(super) fn new(provenance: Provenance, command: C) -> AwaitingBatch<C> {
        assert!(command.scans().is_empty(), "batched commands scan nothing");
        let (send, done) = oneshot::channel();
        let idempotency = provenance.idempotency.clone();
        let batched = Arc::new(BatchedCommand {
            details: serde_json::to_value(&command).expect("commands serialise"),
            command,
            provenance,
            audit_id: Uuid::now_v7(),
            written: Mutex::new(None),
            done: Mutex::new(Some(send)),
        });
        AwaitingBatch {
            command: batched,
            done,
            idempotency,
        }
    }

    /// Queues the command and waits on this thread until its batch is
    /// committed and on disk, leading the batch queue if it was idle.
    pub(super) fn wait(self, app: &App) -> Result<C::Output> {
        if app.batches.enqueue(self.command)? {
            app.batches.lead(&app.store);
        }
        batch_answer::<C>(self.done.blocking_recv(), self.idempotency.as_ref())
    }

    /// Queues the command and waits, without holding a thread, until its
    /// batch is committed and on disk; if the batch queue was idle, a
    /// blocking task leads it.
    pub async fn durable(self, app: &Arc<App>) -> Result<C::Output> {
        if app.batches.enqueue(self.command)? {
            let app = Arc::clone(app);
            tokio::task::spawn_blocking(move || app.batches.lead(&app.store));
        }
        batch_answer::<C>(self.done.await, self.idempotency.as_ref())
    }
}

/// [`answer`] for a batched command, given what its batch sent back.
fn batch_answer<C: Command>(
    outcome: std::result::Result<Result<Written<C>>, oneshot::error::RecvError>,
    idempotency: Option<&Idempotency>,
) -> Result<C::Output> {
    let outcome = outcome.unwrap_or_else(|_| {
        Err(Error::Internal(
            "the batch ended without answering this command".into(),
        ))
    });
    answer::<C>(outcome, idempotency)
}
