//! The audit log: what each command (and each read worth auditing) left
//! behind, and re-running the plugin calls a record kept.

use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::{Actor, App};
use crate::authz::EntityRef;
use crate::error::{Error, Result};
use crate::plugin::replay::{self, Replay};
use crate::plugin::{Hook, PluginAnswer};
use crate::policy::PolicySnapshot;
use crate::store::codec::{self, JsonText, Timestamp};
use crate::store::{keys, Store};

/// What a command left behind, newest first in `GET /v1/orgs/{id}/audit`.
/// Stored compact (`store::codec`): every field in order, the free-form
/// ones as JSON text; in JSON, an absent digest and no plugin answers are
/// left out (see the `Serialize` below).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub(crate) id: Uuid,
    #[serde(with = "codec::timestamp")]
    #[schema(value_type = String, format = DateTime)]
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
    #[serde(default)]
    pub(crate) policy_digest: Option<String>,
    #[serde(deserialize_with = "codec::json_text::deserialize")]
    #[schema(value_type = Object)]
    pub(crate) details: serde_json::Value,
    /// The plugin answers the command acted on: who answered (name, version,
    /// sha256), the exact input and output; what `warden plugin replay` re-runs.
    #[serde(default, deserialize_with = "codec::json_text::deserialize")]
    #[schema(value_type = Vec<Object>)]
    pub(crate) plugins: Vec<PluginAnswer<serde_json::Value>>,
}

impl Serialize for AuditRecord {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        // postcard reads fields by position, so binary keeps every one.
        let all = !s.is_human_readable();
        let digest = all || self.policy_digest.is_some();
        let plugins = all || !self.plugins.is_empty();
        let mut record = s.serialize_struct("AuditRecord", 10)?;
        record.serialize_field("id", &self.id)?;
        record.serialize_field("at", &Timestamp(&self.at))?;
        record.serialize_field("actor", &self.actor)?;
        record.serialize_field("action", &self.action)?;
        record.serialize_field("target", &self.target)?;
        record.serialize_field("result", &self.result)?;
        record.serialize_field("policy_revision", &self.policy_revision)?;
        if digest {
            record.serialize_field("policy_digest", &self.policy_digest)?;
        }
        record.serialize_field("details", &JsonText(&self.details))?;
        if plugins {
            record.serialize_field("plugins", &JsonText(&self.plugins))?;
        }
        record.end()
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::codec::{decode, encode, COMPACT};

    #[test]
    fn audit_records_are_compact_and_read_back_in_both_formats() {
        let record = AuditRecord {
            id: Uuid::now_v7(),
            at: OffsetDateTime::now_utc(),
            actor: "system".into(),
            action: "CreateUser".into(),
            target: EntityRef::new("User", Uuid::now_v7()),
            result: "ok".into(),
            policy_revision: 3,
            policy_digest: None,
            details: json!({"email": "u0@org0.example", "deep": [1.5, {"n": null}]}),
            plugins: Vec::new(),
        };
        let api = serde_json::to_value(&record).unwrap();
        assert!(api.get("policy_digest").is_none() && api.get("plugins").is_none());
        let compact = encode(&keys::audit(Uuid::now_v7(), record.id), &record);
        let written_as_json = serde_json::to_vec(&record).unwrap();
        assert_eq!(compact[0], COMPACT);
        assert!(compact.len() * 3 < written_as_json.len() * 2, "{compact:?}");
        for stored in [compact, written_as_json] {
            let read: AuditRecord = decode(&stored).unwrap();
            assert_eq!(serde_json::to_value(&read).unwrap(), api);
        }
    }
}
