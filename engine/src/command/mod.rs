//! The one write path. Every state change is a [`Command`]; [`execute`]
//! walks it through: validate → authorize the actor with Cedar → one sled
//! transaction holding the change, its audit record and its idempotency
//! record → answer. A step that fails writes nothing.
//!
//! Adding a command means one file here implementing [`Command`] and a route.

mod access;
pub mod fields;
mod invitation;
mod org;
mod resource;
mod user;
mod workspace;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

pub use access::{ApproveAccessRequest, DenyAccessRequest, RequestAccess};
pub use invitation::{
    AcceptInvitation, Accepted, InvitationRef, Invite, ResendInvitation, RevokeInvitation,
    DEFAULT_INVITATION_TTL,
};
pub use org::{
    admit_member, default_workspace_role, join_default_workspace, AddMember, ChangeRole,
    CreateOrg, RemoveMember, SetDefaultWorkspace, UpdateOrg,
};
pub use resource::{DeleteResource, MoveResource, RegisterResource, ResourceRef, CREDENTIAL_TYPE};
pub use user::CreateUser;
pub use workspace::{
    AddWorkspaceMember, ChangeWorkspaceRole, CreateWorkspace, DeleteWorkspace, RenameWorkspace,
    RemoveWorkspaceMember,
};

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::store::{keys, Tx, TxResult};

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// A state change.
pub trait Command: Serialize {
    /// The audit record's action: what the command did.
    const ACTION: &'static str;
    /// The Cedar action an acting user needs, where it is broader than
    /// `ACTION` (revoking an invitation needs `InviteMember`).
    const POLICY_ACTION: &'static str = Self::ACTION;
    type Output: Serialize + DeserializeOwned;

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

    /// Decides whether `actor` may run the command; returns the deciding
    /// policy revision. By default: the system actor for system-only
    /// commands, else the policies for `ACTION` on `resource()`.
    fn authorize(&self, app: &App, actor: Actor) -> Result<u64> {
        if self.system_only() {
            require_system(app, actor, Self::ACTION)
        } else {
            app.require(actor, Self::POLICY_ACTION, self.resource())
        }
    }

    /// The index prefixes whose children `apply` reads with
    /// `Tx::committed_children` (sled transactions cannot scan).
    fn scans(&self) -> Vec<Vec<u8>> {
        Vec::new()
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
    pub policy_revision: u64,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyRecord {
    action: String,
    fingerprint: String,
    output: serde_json::Value,
}

/// Runs `command` for `actor` through the write path.
pub fn execute<C: Command>(
    app: &App,
    actor: Actor,
    idempotency: Option<&Idempotency>,
    command: C,
) -> Result<C::Output> {
    let idempotency_key = idempotency.map(|i| keys::idempotency(&actor.to_string(), &i.key));
    if let (Some(key), Some(idempotency)) = (&idempotency_key, idempotency) {
        if let Some(record) = app.store.get::<IdempotencyRecord>(key)? {
            return replay::<C>(record, idempotency);
        }
    }
    command.validate(app)?;
    let policy_revision = command.authorize(app, actor)?;
    let ctx = ApplyContext {
        actor,
        now: OffsetDateTime::now_utc(),
    };
    let audit_id = Uuid::now_v7();
    let details = serde_json::to_value(&command).expect("commands serialise");
    let outcome = app.store.transact_scanning(&command.scans(), |tx| {
        if let Some(key) = &idempotency_key {
            if let Some(record) = tx.get::<IdempotencyRecord>(key)? {
                return Ok(Err(record));
            }
        }
        let output = command.apply(tx, &ctx)?;
        let record = AuditRecord {
            id: audit_id,
            at: ctx.now,
            actor: actor.to_string(),
            action: C::ACTION.to_string(),
            target: command.resource(),
            result: "ok".to_string(),
            policy_revision,
            details: details.clone(),
        };
        tx.put(&keys::audit(command.org(), record.id), &record)?;
        if let (Some(key), Some(idempotency)) = (&idempotency_key, idempotency) {
            let record = IdempotencyRecord {
                action: C::ACTION.to_string(),
                fingerprint: idempotency.fingerprint.clone(),
                output: serde_json::to_value(&output).expect("outputs serialise"),
            };
            tx.put(key, &record)?;
        }
        Ok(Ok(output))
    })?;
    match outcome {
        Ok(output) => Ok(output),
        // A concurrent retry with the same key won the race.
        Err(record) => replay::<C>(record, idempotency.expect("only with a key")),
    }
}

/// Records a read worth auditing (revealing a secret) in `org`'s audit log.
pub fn audit_read(
    app: &App,
    actor: Actor,
    org: Uuid,
    action: &str,
    target: EntityRef,
    policy_revision: u64,
) -> Result<()> {
    let record = AuditRecord {
        id: Uuid::now_v7(),
        at: OffsetDateTime::now_utc(),
        actor: actor.to_string(),
        action: action.to_string(),
        target,
        result: "ok".to_string(),
        policy_revision,
        details: serde_json::Value::Null,
    };
    app.store
        .transact(|tx| tx.put(&keys::audit(org, record.id), &record))
}

/// Lets only the system actor through.
fn require_system(app: &App, actor: Actor, action: &str) -> Result<u64> {
    if actor != Actor::System {
        return Err(Error::forbidden(format!(
            "only the system actor (admin token without X-Warden-Actor) may {action}"
        )));
    }
    Ok(app.policies.current().revision)
}

/// The acting user, for commands only a user (not the system) can run.
fn acting_user(app: &App, actor: Actor, action: &str) -> Result<Uuid> {
    match actor {
        Actor::User(user) => {
            if app.store.user(user)?.is_none() {
                return Err(Error::invalid("X-Warden-Actor", format!("no user with id {user}")));
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
