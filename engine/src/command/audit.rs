//! The audit log: what each command (and each read worth auditing) left
//! behind, and re-running the plugin calls a record kept.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::plugin::replay::{self, Replay};
use crate::plugin::{Hook, PluginAnswer};
use crate::policy::PolicySnapshot;
use crate::store::{keys, Store};

/// What a command left behind, newest first in `GET /v1/orgs/{id}/audit`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub(crate) id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) at: OffsetDateTime,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) target: EntityRef,
    pub(crate) result: String,
    /// The revision of the policy set that decided, counted from 1 by each
    /// process: only meaningful next to `policy_digest`.
    pub(crate) policy_revision: u64,
    /// sha256 of the policy set that decided (schema and policy files, as
    /// `GET /v1/policies` shows it): names the exact rules across restarts.
    /// Absent from records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) policy_digest: Option<String>,
    #[schema(value_type = Object)]
    pub(crate) details: serde_json::Value,
    /// The plugin answers the command acted on: who answered (name, version,
    /// sha256), the exact input and output; what `warden plugin replay` re-runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub(crate) plugins: Vec<PluginAnswer<serde_json::Value>>,
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
