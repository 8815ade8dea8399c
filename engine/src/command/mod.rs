//! The one write path. Every state change is a [`Command`]; [`execute`]
//! walks it through: the stored answer of a retried request (by its
//! idempotency key or natural key) → validate → authorize the actor with
//! Cedar → consult the plugins → one sled transaction holding the change,
//! its audit record and its idempotency record → answer. A step that fails
//! writes nothing.
//!
//! Adding a command means one file here implementing [`Command`] and a route.

mod access;
pub mod domain;
mod invitation;
mod ledger;
mod org;
mod resource;
mod seats;
mod signup;
mod user;
mod workspace;

use std::sync::{Arc, Mutex};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;

pub use access::{ApproveAccessRequest, DenyAccessRequest, RequestAccess};
pub use domain::{ClaimDomain, RemoveDomain, VerifyDomain};
pub use invitation::{
    AcceptInvitation, Accepted, InvitationRef, Invite, ResendInvitation, RevokeInvitation,
    DEFAULT_INVITATION_TTL,
};
pub use ledger::{
    Grant, GrantCredits, GrantSource, PluginPrice, RecordUsage, ReverseTransaction, SetBilling,
    MAX_CREDITS_PER_GRANT, MAX_MEMO_BYTES, MAX_OVERAGE_CAP_CREDITS,
};
pub use org::{
    admit_member, default_workspace_role, join_default_workspace, AddMember, ChangeRole, CreateOrg,
    RemoveMember, SetDefaultWorkspace, UpdateOrg,
};
pub use resource::{
    DeleteResource, MoveResource, RegisterResource, ResourceRef, CREDENTIAL_TYPE, MAX_SHARED_WITH,
};
pub use signup::{Joined, SignUp, SignUpOutcome};
pub use user::CreateUser;
pub use workspace::{
    AddWorkspaceMember, ChangeWorkspaceRole, CreateWorkspace, DeleteWorkspace,
    RemoveWorkspaceMember, RenameWorkspace,
};

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::plugin::replay::{self, Replay};
use crate::plugin::{Hook, PluginAnswer};
use crate::policy::PolicySnapshot;
use crate::store::batch::Stage;
use crate::store::{keys, Store, Tx, TxResult};

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;
/// How many times a command whose plugin answers went stale (the state they
/// were computed from changed before the transaction) is consulted again
/// before the caller gets a 409.
pub const MAX_CONSULT_ATTEMPTS: usize = 5;

/// A state change.
pub trait Command: Serialize + Send + Sync + 'static {
    /// The audit record's action: what the command did.
    const ACTION: &'static str;
    /// The Cedar action an acting user needs, where it is broader than
    /// `ACTION` (revoking an invitation needs `InviteMember`).
    const POLICY_ACTION: &'static str = Self::ACTION;
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// The Cedar resource the action is on (also the audit record's target).
    fn resource(&self) -> EntityRef;

    /// The org whose audit log records the command; nil for system-wide ones.
    fn org(&self) -> Uuid;

    /// Whether only the system actor may run it (no Cedar action exists for it).
    fn system_only(&self) -> bool {
        false
    }

    /// Checks that need no transaction (formats, schema conformance).
    fn validate(&self, _app: &App) -> Result<()> {
        Ok(())
    }

    /// Decides whether `actor` may run the command; returns the policy set
    /// that decided (the audit record names it). By default: the system
    /// actor for system-only commands, else the policies for `ACTION` on
    /// `resource()`.
    fn authorize(&self, app: &App, actor: Actor) -> Result<Arc<PolicySnapshot>> {
        if self.system_only() {
            require_system(actor, Self::ACTION)?;
            Ok(app.policies.current())
        } else {
            app.require(actor, Self::POLICY_ACTION, self.resource())
        }
    }

    /// The index prefixes whose children `apply` reads with
    /// `Tx::committed_children` (sled transactions cannot scan).
    fn scans(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// Asks the plugins the command depends on, after authorization and
    /// before the transaction (plugins are pure: asking writes nothing).
    /// Keeps their typed answers in `self` for `apply` and returns them for
    /// the audit record. `apply` must check that what the plugins saw still
    /// holds and abort with [`Error::Stale`] if not; `execute` then asks again.
    fn consult(&mut self, _app: &App) -> Result<Vec<PluginAnswer<serde_json::Value>>> {
        Ok(Vec::new())
    }

    /// Commands whose plugin answers depend on counters others change too
    /// (an org's seats) name a key; commands with the same key run one at a
    /// time from `consult` to commit, so their answers do not go stale under
    /// contention (e.g. 64 concurrent invitations into one org).
    fn serial_key(&self) -> Option<String> {
        None
    }

    /// Batched commands (usage posts) that arrive together are applied in
    /// one sled transaction, each still all or nothing (see `batch`). Only
    /// for commands whose `apply` never fails with [`Error::Stale`]: a
    /// batched command is not consulted again.
    fn batched(&self) -> bool {
        false
    }

    /// Whether `consult` may call a plugin, which can take up to the
    /// plugin's time limit. The server begins a batched command that will
    /// not on its async worker rather than on a blocking thread.
    fn may_call_plugins(&self) -> bool {
        true
    }

    /// For commands with a natural idempotency key (a run id): the store key
    /// under which `apply` records its output. A command whose output is
    /// recorded there already is answered that output, before any
    /// authorization, and again inside the transaction (a concurrent
    /// request may have recorded it since); a replay writes nothing, not
    /// even an audit record.
    fn natural_key(&self) -> Option<Vec<u8>> {
        None
    }

    /// Whether `actor` itself wrote `recorded`, the output stored under
    /// `natural_key`: only then is it answered before authorization, so a
    /// record is never read by someone the policies have not let in.
    fn posted_by(&self, _recorded: &Self::Output, _actor: Actor) -> bool {
        false
    }

    /// Whether `recorded`, the output stored under `natural_key`, answers
    /// this command: a conflict if it was recorded with other details.
    fn check_recorded(&self, _recorded: &Self::Output) -> Result<()> {
        Ok(())
    }

    /// The writes. May run more than once (sled retries on conflict), so it
    /// must compute everything from `tx` and `self`.
    fn apply(&self, tx: &Tx, ctx: &ApplyContext) -> TxResult<Self::Output>;
}

/// What `apply` may know besides the transaction.
pub struct ApplyContext {
    pub actor: Actor,
    pub now: OffsetDateTime,
}

/// A client's retry token: the key and a fingerprint of the request it came with.
#[derive(Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
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
    fn store_key(&self, actor: Actor) -> Vec<u8> {
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
fn recorded<C: Command, E>(
    command: &C,
    get: impl FnOnce(&[u8]) -> std::result::Result<Option<C::Output>, E>,
) -> std::result::Result<Option<C::Output>, E> {
    match command.natural_key() {
        Some(key) => get(&key),
        None => Ok(None),
    }
}

/// What a command left behind, newest first in `GET /v1/orgs/{id}/audit`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: EntityRef,
    pub result: String,
    /// The revision of the policy set that decided, counted from 1 by each
    /// process: only meaningful next to `policy_digest`.
    pub policy_revision: u64,
    /// sha256 of the policy set that decided (schema and policy files, as
    /// `GET /v1/policies` shows it): names the exact rules across restarts.
    /// Absent from records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The plugin answers the command acted on: who answered (name, version,
    /// sha256), the exact input and output; what `warden plugin replay` re-runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub plugins: Vec<PluginAnswer<serde_json::Value>>,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyRecord {
    action: String,
    fingerprint: String,
    output: serde_json::Value,
}

/// Runs `command` for `actor` through the write path, blocking this thread:
/// not for async code (the server calls [`begin`] and, for a batched
/// command, awaits [`Queued::durable`]). A batched command waits for its
/// batch here; if the batch queue was idle, this thread leads it until no
/// command waits.
pub fn execute<C: Command>(
    app: &App,
    actor: Actor,
    idempotency: Option<&Idempotency>,
    command: C,
) -> Result<C::Output> {
    match begin(app, actor, idempotency, command)? {
        Begun::Done(output) => Ok(output),
        Begun::Queued(queued) => queued.wait(app),
    }
}

/// How far [`begin`] took a command.
pub enum Begun<C: Command> {
    /// Applied (or replayed): its output.
    Done(C::Output),
    /// Batched: validated, authorized and consulted; waiting to be queued
    /// for its batch.
    Queued(Queued<C>),
}

/// Walks `command` through the write path up to its transaction, and
/// through it unless the command is batched.
pub fn begin<C: Command>(
    app: &App,
    actor: Actor,
    idempotency: Option<&Idempotency>,
    mut command: C,
) -> Result<Begun<C>> {
    if let Some(output) = replayed::<C>(app, actor, idempotency)? {
        return Ok(Begun::Done(output));
    }
    // Only the same run, re-sent by whoever posted it, skips authorization
    // (its target may be gone); anyone else is authorized first, and one
    // with other details is refused (409) inside the transaction.
    let recorded = recorded(&command, |key| app.store.get(key))?;
    let replays = |output: &C::Output| {
        command.posted_by(output, actor) && command.check_recorded(output).is_ok()
    };
    if let Some(output) = recorded.filter(replays) {
        return Ok(Begun::Done(output));
    }
    let idempotency_key = idempotency.map(|i| i.store_key(actor));
    command.validate(app)?;
    let policies = command.authorize(app, actor)?;
    let serial_key = command.serial_key();
    let _serial = serial_key.as_deref().map(|key| app.serialize(key));
    let mut attempt = 1;
    loop {
        let plugins = command.consult(app)?;
        let staging = Staging {
            actor,
            idempotency: idempotency.cloned(),
            idempotency_key: idempotency_key.clone(),
            policies: Arc::clone(&policies),
            plugins,
        };
        if command.batched() {
            assert!(serial_key.is_none(), "batched commands take no serial lock");
            return Ok(Begun::Queued(Queued::new(staging, command)));
        }
        match transact(app, &staging, &command) {
            Err(Error::Stale(what)) if attempt < MAX_CONSULT_ATTEMPTS => {
                tracing::debug!(
                    action = C::ACTION,
                    attempt,
                    "plugin answers went stale: {what}"
                );
                attempt += 1;
            }
            result => return answer::<C>(result, idempotency).map(Begun::Done),
        }
    }
}

/// The command's output, the replayed answer of a concurrent request with
/// the same key that won the race, or the error.
fn answer<C: Command>(
    result: Result<Staged<C>>,
    idempotency: Option<&Idempotency>,
) -> Result<C::Output> {
    match result {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(record)) => replay::<C>(record, idempotency.expect("only with a key")),
        Err(Error::Stale(what)) => Err(Error::conflict(
            "concurrent_change",
            format!("{what}, {MAX_CONSULT_ATTEMPTS} times in a row; retry the request"),
        )),
        Err(e) => Err(e),
    }
}

/// What a command's transaction answers: its output, or the stored record
/// of a request with the same idempotency key.
type Staged<C> = std::result::Result<<C as Command>::Output, IdempotencyRecord>;

/// What a command's transaction writes besides the change itself.
struct Staging {
    actor: Actor,
    idempotency: Option<Idempotency>,
    idempotency_key: Option<Vec<u8>>,
    /// The policy set that authorized the command.
    policies: Arc<PolicySnapshot>,
    plugins: Vec<PluginAnswer<serde_json::Value>>,
}

/// One transaction: the change, its audit record and its idempotency
/// record; or the stored record of a concurrent request with the same key.
fn transact<C: Command>(app: &App, staging: &Staging, command: &C) -> Result<Staged<C>> {
    let now = OffsetDateTime::now_utc();
    let audit_id = Uuid::now_v7();
    let details = serde_json::to_value(command).expect("commands serialise");
    app.store.transact_scanning(&command.scans(), |tx| {
        stage(tx, now, staging, command, audit_id, &details)
    })
}

/// The writes of `command` on `tx`: the change, its audit record `audit_id`
/// (with the command as `details`) and its idempotency record; or the
/// stored record of a request with the same key.
fn stage<C: Command>(
    tx: &Tx,
    now: OffsetDateTime,
    staging: &Staging,
    command: &C,
    audit_id: Uuid,
    details: &serde_json::Value,
) -> TxResult<Staged<C>> {
    if let Some(key) = &staging.idempotency_key {
        if let Some(record) = tx.get::<IdempotencyRecord>(key)? {
            return Ok(Err(record));
        }
    }
    if let Some(output) = recorded(command, |key| tx.get(key))? {
        command.check_recorded(&output)?;
        return Ok(Ok(output));
    }
    let ctx = ApplyContext {
        actor: staging.actor,
        now,
    };
    let output = command.apply(tx, &ctx)?;
    let record = AuditRecord {
        id: audit_id,
        at: now,
        actor: staging.actor.to_string(),
        action: C::ACTION.to_string(),
        target: command.resource(),
        result: "ok".to_string(),
        policy_revision: staging.policies.revision,
        policy_digest: Some(staging.policies.digest.clone()),
        details: details.clone(),
        plugins: staging.plugins.clone(),
    };
    tx.put(&keys::audit(command.org(), audit_id), &record)?;
    if !staging.plugins.is_empty() {
        tx.put(&keys::audit_org(audit_id), &command.org())?;
    }
    if let (Some(key), Some(idempotency)) = (&staging.idempotency_key, &staging.idempotency) {
        let record = IdempotencyRecord {
            action: C::ACTION.to_string(),
            fingerprint: idempotency.fingerprint.clone(),
            output: serde_json::to_value(&output).expect("outputs serialise"),
        };
        tx.put(key, &record)?;
    }
    Ok(Ok(output))
}

/// A command waiting in a batch, with what its transaction writes and,
/// once staged, its answer.
struct Ticket<C: Command> {
    command: C,
    staging: Staging,
    audit_id: Uuid,
    details: serde_json::Value,
    /// The answer of the last time the command was staged (a retried batch stages it again).
    staged: Mutex<Option<Staged<C>>>,
    /// Takes the answer, or why the command failed, to its caller.
    done: Mutex<Option<oneshot::Sender<Result<Staged<C>>>>>,
}

impl<C: Command> Stage for Ticket<C> {
    fn stage(&self, tx: &Tx, now: OffsetDateTime) -> TxResult<()> {
        let staged = stage(
            tx,
            now,
            &self.staging,
            &self.command,
            self.audit_id,
            &self.details,
        )?;
        *lock(&self.staged) = Some(staged);
        Ok(())
    }

    fn finish(&self, aborted: Option<Error>) {
        let outcome = match aborted {
            Some(error) => Err(error),
            None => Ok(lock(&self.staged)
                .take()
                .expect("a committed command was staged")),
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

/// A batched command ready for its batch (see `batch`): its writes will
/// share one transaction and one flush with the other commands of its
/// batch.
pub struct Queued<C: Command> {
    ticket: Arc<Ticket<C>>,
    done: oneshot::Receiver<Result<Staged<C>>>,
    idempotency: Option<Idempotency>,
}

impl<C: Command> Queued<C> {
    fn new(staging: Staging, command: C) -> Queued<C> {
        assert!(command.scans().is_empty(), "batched commands scan nothing");
        let (send, done) = oneshot::channel();
        let idempotency = staging.idempotency.clone();
        let ticket = Arc::new(Ticket {
            details: serde_json::to_value(&command).expect("commands serialise"),
            command,
            staging,
            audit_id: Uuid::now_v7(),
            staged: Mutex::new(None),
            done: Mutex::new(Some(send)),
        });
        Queued {
            ticket,
            done,
            idempotency,
        }
    }

    /// Queues the command and waits on this thread until its batch is
    /// committed and on disk, leading the batch queue if it was idle.
    fn wait(self, app: &App) -> Result<C::Output> {
        if app.batches.enqueue(self.ticket)? {
            app.batches.lead(&app.store);
        }
        batch_answer::<C>(self.done.blocking_recv(), self.idempotency.as_ref())
    }

    /// Queues the command and waits, without holding a thread, until its
    /// batch is committed and on disk; if the batch queue was idle, a
    /// blocking task leads it.
    pub async fn durable(self, app: &Arc<App>) -> Result<C::Output> {
        if app.batches.enqueue(self.ticket)? {
            let app = Arc::clone(app);
            tokio::task::spawn_blocking(move || app.batches.lead(&app.store));
        }
        batch_answer::<C>(self.done.await, self.idempotency.as_ref())
    }
}

/// [`answer`] for a batched command, given what its batch sent back.
fn batch_answer<C: Command>(
    outcome: std::result::Result<Result<Staged<C>>, oneshot::error::RecvError>,
    idempotency: Option<&Idempotency>,
) -> Result<C::Output> {
    let outcome = outcome.unwrap_or_else(|_| {
        Err(Error::Internal(
            "the batch ended without answering this command".into(),
        ))
    });
    answer::<C>(outcome, idempotency)
}

/// The audit record `id` of a command that consulted plugins (only those
/// are indexed by id: they are what `warden plugin replay` re-runs).
fn audit_record_with_plugins(store: &Store, id: Uuid) -> Result<AuditRecord> {
    let not_found = || Error::not_found("audit record with plugin answers", id);
    let org: Uuid = store.get(&keys::audit_org(id))?.ok_or_else(not_found)?;
    store.get(&keys::audit(org, id))?.ok_or_else(not_found)
}

/// Re-runs the plugin calls recorded in audit record `id` through `call`.
pub fn replay_audit(
    store: &Store,
    id: Uuid,
    call: impl Fn(Hook, &serde_json::Value) -> Result<PluginAnswer<serde_json::Value>>,
) -> Result<Replay> {
    let record = audit_record_with_plugins(store, id)?;
    Ok(Replay {
        audit_id: record.id,
        calls: replay::replay(&record.plugins, call),
        action: record.action,
    })
}

/// Fails with 403 unless `actor` is the system (for `what` no user may do).
pub fn require_system(actor: Actor, what: &str) -> Result<()> {
    if actor == Actor::System {
        return Ok(());
    }
    Err(Error::Forbidden {
        explanation: format!(
            "only the system actor (admin token without X-Warden-Actor) may {what}"
        ),
        policies: Vec::new(),
    })
}

/// Records a read worth auditing (revealing a secret) in `org`'s audit log.
pub fn audit_read(
    app: &App,
    actor: Actor,
    org: Uuid,
    action: &str,
    target: EntityRef,
    policies: Arc<PolicySnapshot>,
) -> Result<()> {
    let record = AuditRecord {
        id: Uuid::now_v7(),
        at: OffsetDateTime::now_utc(),
        actor: actor.to_string(),
        action: action.to_string(),
        target,
        result: "ok".to_string(),
        policy_revision: policies.revision,
        policy_digest: Some(policies.digest.clone()),
        details: serde_json::Value::Null,
        plugins: Vec::new(),
    };
    app.store
        .transact(|tx| tx.put(&keys::audit(org, record.id), &record))
}

/// The acting user, for commands only a user (not the system) can run.
fn acting_user(app: &App, actor: Actor, action: &str) -> Result<Uuid> {
    match actor {
        Actor::User(user) => {
            if app.store.user(user)?.is_none() {
                return Err(Error::invalid(
                    "X-Warden-Actor",
                    format!("no user with id {user}"),
                ));
            }
            Ok(user)
        }
        Actor::System => Err(Error::invalid(
            "X-Warden-Actor",
            format!("{action} acts for a user: name them with X-Warden-Actor"),
        )),
    }
}

/// The first answer to a retried request, or 409 if the key came with another request.
fn replay<C: Command>(record: IdempotencyRecord, idempotency: &Idempotency) -> Result<C::Output> {
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
