//! Retries that replay: an `Idempotency-Key` names the first answer to a
//! request (per actor), and a command's natural key (a usage post's run id)
//! names the record it wrote.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Command, MAX_IDEMPOTENCY_KEY_BYTES};
use crate::app::{Actor, App};
use crate::error::{Error, Result};
use crate::store::keys;

/// A client's retry token: the key and a fingerprint of the request it came with.
#[derive(Clone)]
pub struct Idempotency {
    pub(crate) key: String,
    pub(crate) fingerprint: String,
}

impl Idempotency {
    /// Validates the key and fingerprints the request (method, path, body).
    pub fn new(key: &str, method: &str, path: &str, body: &[u8]) -> Result<Idempotency> {
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_BYTES
            || !key.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(Error::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} printable ASCII characters"),
            ));
        }
        let mut hasher = Sha256::new();
        for part in [method.as_bytes(), path.as_bytes(), body] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        Ok(Idempotency {
            key: key.to_string(),
            fingerprint: hex::encode(hasher.finalize()),
        })
    }

    /// Where the answer to this key is stored: keys are the actor's own.
    pub(super) fn store_key(&self, actor: Actor) -> Vec<u8> {
        keys::idempotency(&actor.to_string(), &self.key)
    }
}

/// The first answer to a request retried with the same `Idempotency-Key` by
/// the same actor (409 if the key came with another request), or `None`
/// for a first request. Needs nothing but the key: callers look it up
/// before they look up or authorize the request's target, which may be
/// gone since the first answer (a deleted resource still answers its
/// deletion).
pub fn replayed<C: Command>(
    app: &App,
    actor: Actor,
    idempotency: Option<&Idempotency>,
) -> Result<Option<C::Output>> {
    let Some(idempotency) = idempotency else {
        return Ok(None);
    };
    match app
        .store
        .get::<IdempotencyRecord>(&idempotency.store_key(actor))?
    {
        Some(record) => replay::<C>(record, idempotency).map(Some),
        None => Ok(None),
    }
}

/// The output recorded under `command`'s natural key, read by `get` (from
/// the store before authorization, from the transaction inside it); the
/// caller checks that it answers `command` (`Command::check_recorded`).
pub(super) fn recorded<C: Command, E>(
    command: &C,
    get: impl FnOnce(&[u8]) -> std::result::Result<Option<C::Output>, E>,
) -> std::result::Result<Option<C::Output>, E> {
    match command.natural_key() {
        Some(key) => get(&key),
        None => Ok(None),
    }
}

#[derive(Serialize, Deserialize)]
/// The first answer to a request with an idempotency key.
pub(super) struct IdempotencyRecord {
    pub(super) action: String,
    pub(super) fingerprint: String,
    pub(super) output: serde_json::Value,
}

/// The first answer to a retried request, or 409 if the key came with another request.
pub(super) fn replay<C: Command>(
    record: IdempotencyRecord,
    idempotency: &Idempotency,
) -> Result<C::Output> {
    if record.fingerprint != idempotency.fingerprint || record.action != C::ACTION {
        return Err(Error::conflict(
            "idempotency_key_reused",
            format!(
                "Idempotency-Key {:?} was already used for a different request ({})",
                idempotency.key, record.action
            ),
        ));
    }
    serde_json::from_value(record.output)
        .map_err(|e| Error::Internal(format!("stored answer unreadable: {e}")))
}
