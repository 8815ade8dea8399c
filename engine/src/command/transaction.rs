//! A command's transaction: the change, and next to it what its
//! `Provenance` says (the audit record, the idempotency record); and what
//! the transaction answers. Both a single command (`pipeline`) and a batch
//! of them (`batched`) write through here.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use super::idempotency::{recorded, replay, IdempotencyRecord};
use super::{ApplyContext, AuditRecord, Command, Idempotency, MAX_CONSULT_ATTEMPTS};
use crate::app::{Actor, App};
use crate::error::{Error, Result};
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::{keys, Tx, TxResult};

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
pub(super) fn transact<C: Command>(
    app: &App,
    provenance: &Provenance,
    command: &C,
) -> Result<Written<C>> {
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
