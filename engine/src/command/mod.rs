//! The one write path. Every state change is a [`Command`]; [`execute`]
//! walks it through: the stored answer of a retried request (by its
//! idempotency key or natural key) → validate → authorize the actor with
//! Cedar → consult the plugins → one sled transaction holding the change,
//! its audit record and its idempotency record → answer. A step that fails
//! writes nothing.
//!
//! Adding a command means one file implementing [`Command`], in its
//! domain's directory (`org/`, `workspace/`…; named after the command), and
//! a route.

mod access;
mod audit;
mod batched;
mod billing;
pub mod domain;
mod idempotency;
mod invitation;
mod org;
mod pipeline;
mod resource;
mod seat_pricing;
mod signup;
mod transaction;
mod user;
mod workspace;

use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use access::{ApproveAccessRequest, DenyAccessRequest, RequestAccess};
pub use audit::{audit_read, replay_audit, AuditRecord};
pub use batched::AwaitingBatch;
pub use billing::{
    Grant, GrantCredits, PluginPrice, RecordUsage, ReverseTransaction, SetBilling,
    MAX_CREDITS_PER_GRANT, MAX_MEMO_BYTES, MAX_OVERAGE_CAP_CREDITS,
};
pub use domain::{ClaimDomain, RemoveDomain, VerifyDomain};
pub use idempotency::{replayed, Idempotency};
pub use invitation::{
    AcceptInvitation, Accepted, InvitationRef, Invite, ResendInvitation, RevokeInvitation,
    DEFAULT_INVITATION_TTL,
};
pub use org::{
    admit_member, default_workspace_role, join_default_workspace, AddMember, ChangeRole, CreateOrg,
    RemoveMember, SetDefaultWorkspace, UpdateOrg,
};
pub use pipeline::{begin, execute, Progress};
pub use resource::{
    DeleteResource, MoveResource, RegisterResource, ResourceRef, CREDENTIAL_TYPE, MAX_SHARED_WITH,
};
pub use signup::{SignUp, SignUpOutcome};
pub use user::CreateUser;
pub use workspace::{
    AddWorkspaceMember, ChangeWorkspaceRole, CreateWorkspace, DeleteWorkspace,
    RemoveWorkspaceMember, RenameWorkspace,
};

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::plugin::PluginAnswer;
use crate::policy::PolicySnapshot;
use crate::store::CheckRecords;
use crate::store::{Tx, TxResult};

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
    /// What the command answers (as a rule, the record it wrote); kept with
    /// its idempotency record, so that a retry is answered the same.
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
    pub(crate) actor: Actor,
    pub(crate) now: OffsetDateTime,
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
