//! The write path itself: from a command to its answer, through one
//! transaction (or, for a batched command, up to its batch).

use std::sync::Arc;

use super::batched::AwaitingBatch;
use super::idempotency::{recorded, replayed};
use super::transaction::{answer, transact, Provenance};
use super::{Command, Idempotency, MAX_CONSULT_ATTEMPTS};
use crate::app::{Actor, App};
use crate::error::{Error, Result};

/// Runs `command` for `actor` through the write path, blocking this thread:
/// not for async code (the server calls [`begin`] and, for a batched
/// command, awaits [`AwaitingBatch::durable`]). A batched command waits for its
/// batch here; if the batch queue was idle, this thread leads it until no
/// command waits.
pub fn execute<C: Command>(
    app: &App,
    actor: Actor,
    idempotency: Option<&Idempotency>,
    command: C,
) -> Result<C::Output> {
    match begin(app, actor, idempotency, command)? {
        Progress::Answered(output) => Ok(output),
        Progress::Batched(awaiting) => awaiting.wait(app),
    }
}

/// How far [`begin`] took a command.
pub enum Progress<C: Command> {
    /// Applied (or replayed): its output.
    Answered(C::Output),
    /// Batched: validated, authorized and consulted; waiting to be queued
    /// for its batch.
    Batched(AwaitingBatch<C>),
}

/// Walks `command` through the write path up to its transaction, and
/// through it unless the command is batched.
pub fn begin<C: Command>(
    app: &App,
    actor: Actor,
    idempotency: Option<&Idempotency>,
    mut command: C,
) -> Result<Progress<C>> {
    if let Some(output) = replayed::<C>(app, actor, idempotency)? {
        return Ok(Progress::Answered(output));
    }
    // Only the same run, re-sent by whoever posted it, skips authorization
    // (its target may be gone); anyone else is authorized first, and one
    // with other details is refused (409) inside the transaction.
    let recorded = recorded(&command, |key| app.store.get(key))?;
    let replays = |output: &C::Output| {
        command.posted_by(output, actor) && command.check_recorded(output).is_ok()
    };
    if let Some(output) = recorded.filter(replays) {
        return Ok(Progress::Answered(output));
    }
    let idempotency_key = idempotency.map(|i| i.store_key(actor));
    command.validate(app)?;
    let policies = command.authorize(app, actor)?;
    let serial_key = command.serial_key();
    let _serial = serial_key
        .as_deref()
        .map(|key| app.lock_serial(key))
        .transpose()?;
    let mut attempt = 1;
    loop {
        let plugins = command.consult(app)?;
        let provenance = Provenance {
            actor,
            idempotency: idempotency.cloned(),
            idempotency_key: idempotency_key.clone(),
            policies: Arc::clone(&policies),
            plugins,
        };
        if command.batched() {
            assert!(serial_key.is_none(), "batched commands take no serial lock");
            return Ok(Progress::Batched(AwaitingBatch::new(provenance, command)));
        }
        match transact(app, &provenance, &command) {
            Err(Error::Stale(what)) if attempt < MAX_CONSULT_ATTEMPTS => {
                tracing::debug!(
                    action = C::ACTION,
                    attempt,
                    "plugin answers went stale: {what}"
                );
                attempt += 1;
            }
            result => return answer::<C>(result, idempotency).map(Progress::Answered),
        }
    }
}
