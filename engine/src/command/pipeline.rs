//! The write path itself: from a command to its answer, through one
//! transaction (or, for a batched command, up to its batch).

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use super::batched::AwaitingBatch;
use super::idempotency::{recorded, replay, replayed, IdempotencyRecord};
use super::{ApplyContext, AuditRecord, Command, Idempotency, MAX_CONSULT_ATTEMPTS};
use crate::app::{Actor, App};
use crate::error::{Error, Result};
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{keys, Tx, TxResult};

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
    let _serial = serial_key.as_deref().map(|key| app.lock_serial(key));
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

/// The command's output, the replayed answer of a concurrent request with
/// the same key that won the race, or the error.
pub(super) fn answer<C: Command>(
    result: Result<Written<C>>,
    idempotency: Option<&Idempotency>,
) -> Result<C::Output> {
    match result {
        Ok(Written::Output(output)) => Ok(output),
        Ok(Written::Earlier(record)) => replay::<C>(record, idempotency.expect("only with a key")),
        Err(Error::Stale(what)) => Err(Error::conflict(
            "concurrent_change",
            format!("{what}, {MAX_CONSULT_ATTEMPTS} times in a row; retry the request"),
        )),
        Err(e) => Err(e),
    }
}

/// What a command's transaction answers.
pub(super) enum Written<C: Command> {
    /// The command's output: it was applied now, or (a natural key's
    /// record) before.
    Output(C::Output),
    /// The stored record of an earlier request with the same
    /// idempotency key, a concurrent one that committed first: its
    /// answer is replayed.
    Earlier(IdempotencyRecord),
}

/// Where a command comes from — who acted, under which policies, on which
/// plugin answers, with which idempotency key — which its transaction
/// writes down next to the change (the audit and idempotency records).
pub(super) struct Provenance {
    pub(super) actor: Actor,
    pub(super) idempotency: Option<Idempotency>,
    pub(super) idempotency_key: Option<Vec<u8>>,
    /// The policy set that authorized the command.
    pub(super) policies: Arc<PolicySnapshot>,
    pub(super) plugins: Vec<PluginAnswer<serde_json::Value>>,
}

/// One transaction: the change, its audit record and its idempotency
/// record; or the stored record of a concurrent request with the same key.
fn transact<C: Command>(app: &App, provenance: &Provenance, command: &C) -> Result<Written<C>> {
    let now = OffsetDateTime::now_utc();
    let audit_id = Uuid::now_v7();
    let details = serde_json::to_value(command).expect("commands serialise");
    app.store.transact_scanning(&command.scans(), |tx| {
        write(tx, now, provenance, command, audit_id, &details)
    })
}

/// The writes of `command` on `tx`: the change, its audit record `audit_id`
/// (with the command as `details`) and its idempotency record; or the
/// stored record of a request with the same key.
pub(super) fn write<C: Command>(
    tx: &Tx,
    now: OffsetDateTime,
    provenance: &Provenance,
    command: &C,
    audit_id: Uuid,
    details: &serde_json::Value,
) -> TxResult<Written<C>> {
    if let Some(key) = &provenance.idempotency_key {
        if let Some(record) = tx.get::<IdempotencyRecord>(key)? {
            return Ok(Written::Earlier(record));
        }
    }
    if let Some(output) = recorded(command, |key| tx.get(key))? {
        command.check_recorded(&output)?;
        return Ok(Written::Output(output));
    }
    let ctx = ApplyContext {
        actor: provenance.actor,
        now,
    };
    let output = command.apply(tx, &ctx)?;
    let record = AuditRecord {
        id: audit_id,
        at: now,
        actor: provenance.actor.to_string(),
        action: C::ACTION.to_string(),
        target: command.resource(),
        result: "ok".to_string(),
        policy_revision: provenance.policies.revision,
        policy_digest: Some(provenance.policies.digest.clone()),
        details: details.clone(),
        plugins: provenance.plugins.clone(),
    };
    tx.put(&keys::audit(command.org(), audit_id), &record)?;
    if !provenance.plugins.is_empty() {
        tx.put(&keys::audit_org(audit_id), &command.org())?;
    }
    if let (Some(key), Some(idempotency)) = (&provenance.idempotency_key, &provenance.idempotency) {
        let record = IdempotencyRecord {
            action: C::ACTION.to_string(),
            fingerprint: idempotency.fingerprint.clone(),
            output: serde_json::to_value(&output).expect("outputs serialise"),
        };
        tx.put(key, &record)?;
    }
    Ok(Written::Output(output))
}
